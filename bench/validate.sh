#!/usr/bin/env bash
# Per-change overhead of validation, for a small C project (cmake, ctest): hyperfine compares, in
# one run,
#   validate  `tars validate CS --repo R` with the baseline already cached: snapshot, gates, syntax
#             check of the changed file, build and tests in sandboxes, comparison with the baseline
#   direct    the same build and tests on the host, without tars: a fresh copy of the changed
#             tree, cmake configure + build into a fresh directory, ctest (the commands that tars'
#             cmake toolchain runs, vconfig.c)
# and prints the medians and the ratio validate/direct (target <= 1.15).
#
#   bench/validate.sh [--modules N] [--runs N] [--warmup N]
#     --modules N   source files in the generated project (default 20; each has its test program)
# Environment: TARS, the tars binary (default build/tars); BENCH_KEEP=1 keeps the generated
# repository and changeset (the path is printed) for profiling one validation by hand.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARS=${TARS:-$root/build/tars}
modules=20
runs=10
warmup=2

while [ $# -gt 0 ]; do
  case "$1" in
    --modules) modules=${2:?--modules needs a number}; shift 2 ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a number}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-validate: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

for tool in hyperfine cmake ctest cc git python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench-validate: $tool is missing (scripts/setup.sh installs it)" >&2
    exit 1
  fi
done
if [ ! -x "$TARS" ]; then
  echo "bench-validate: $TARS not found: build it first (cmake -S . -B build && cmake --build build)" >&2
  exit 1
fi
if ! "$TARS" validate --help >/dev/null 2>&1; then
  echo "bench-validate: $TARS has no validate command" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tars-bench.XXXXXX")
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf --one-file-system "$tmp"' EXIT
[ -z "${BENCH_KEEP:-}" ] || echo "bench-validate: keeping $tmp" >&2
chmod 0755 "$tmp"
repo=$tmp/repo

# ---- the project: N modules of a few functions each, one test program per module --------------
mkdir -p "$repo/src" "$repo/include" "$repo/tests"
{
  echo 'cmake_minimum_required(VERSION 3.13)'
  echo 'project(benchproj C)'
  echo 'set(CMAKE_C_STANDARD 99)'
  echo 'add_compile_options(-Wall)'
  echo 'enable_testing()'
  printf 'add_library(benchproj'
  for i in $(seq -w 1 "$modules"); do printf ' src/mod%s.c' "$i"; done
  echo ')'
  echo 'target_include_directories(benchproj PUBLIC include)'
  for i in $(seq -w 1 "$modules"); do
    echo "add_executable(test_mod$i tests/test_mod$i.c)"
    echo "target_link_libraries(test_mod$i benchproj)"
    echo "add_test(NAME mod$i COMMAND test_mod$i)"
  done
} >"$repo/CMakeLists.txt"
for i in $(seq -w 1 "$modules"); do
  {
    echo "#ifndef MOD${i}_H"
    echo "#define MOD${i}_H"
    echo '#include <stddef.h>'
    echo "long mod${i}_sum(const long *v, size_t n);"
    echo "void mod${i}_sort(long *v, size_t n);"
    echo "size_t mod${i}_find(const long *v, size_t n, long x);"
    echo "unsigned long mod${i}_hash(const char *s);"
    echo "int mod${i}_parse(const char *s, long *out);"
    echo '#endif'
  } >"$repo/include/mod$i.h"
  cat >"$repo/src/mod$i.c" <<EOF
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mod$i.h"

long mod${i}_sum(const long *v, size_t n)
{
  long s = 0;
  for (size_t k = 0; k < n; k++)
    s += v[k] * ${i#0};
  return s;
}

static int cmp(const void *a, const void *b)
{
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

void mod${i}_sort(long *v, size_t n)
{
  qsort(v, n, sizeof *v, cmp);
}

size_t mod${i}_find(const long *v, size_t n, long x)
{
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && v[lo] == x ? lo : n;
}

unsigned long mod${i}_hash(const char *s)
{
  unsigned long h = 5381 + ${i#0};
  for (; *s; s++)
    h = h * 33 ^ (unsigned char)*s;
  return h;
}

int mod${i}_parse(const char *s, long *out)
{
  long v = 0;
  int neg = 0;
  while (isspace((unsigned char)*s))
    s++;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (!isdigit((unsigned char)*s))
    return -1;
  for (; isdigit((unsigned char)*s); s++)
    v = v * 10 + (*s - '0');
  *out = neg ? -v : v;
  return *s == '\0' ? 0 : -1;
}
EOF
  cat >"$repo/tests/test_mod$i.c" <<EOF
#include <stdio.h>
#include <stdlib.h>

#include "mod$i.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s\n", #c); return 1; } } while (0)

int main(void)
{
  long v[] = {5, 3, 9, 1, 7};
  long x = 0;
  CHECK(mod${i}_sum(v, 5) == 25L * ${i#0});
  mod${i}_sort(v, 5);
  CHECK(v[0] == 1 && v[4] == 9);
  CHECK(mod${i}_find(v, 5, 7) == 3 && mod${i}_find(v, 5, 4) == 5);
  CHECK(mod${i}_hash("abc") != mod${i}_hash("abd"));
  CHECK(mod${i}_parse(" -42", &x) == 0 && x == -42 && mod${i}_parse("4x", &x) == -1);
  return 0;
}
EOF
done
printf '/.tars-build/\n' >"$repo/.gitignore"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -qm "bench project"

# ---- the change: one module gains a function and its test checks it --------------------------
change='set -e
printf "\nlong mod01_max(const long *v, size_t n)\n{\n  long m = v[0];\n  for (size_t k = 1; k < n; k++)\n    if (v[k] > m)\n      m = v[k];\n  return m;\n}\n" >>src/mod01.c
sed -i "s|^int mod01_parse(const char \*s, long \*out);|&\nlong mod01_max(const long *v, size_t n);|" include/mod01.h
sed -i "s|^  return 0;|  CHECK(mod01_max(v, 5) == 9);\n&|" tests/test_mod01.c'
cs=$tmp/cs
"$TARS" sandbox run --workspace "$repo" --changes-out "$cs" -- /bin/sh -c "$change" >/dev/null
# The changed tree, for the direct run: the same change, applied to a copy.
cp -r "$repo" "$tmp/changed"
rm -rf "$tmp/changed/.git"
(cd "$tmp/changed" && /bin/sh -c "$change")

direct="rm -rf $tmp/direct && cp -r $tmp/changed $tmp/direct && cd $tmp/direct &&
cmake -S . -B .tars-build -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null &&
cmake --build .tars-build -j2 >/dev/null &&
ctest --test-dir .tars-build --output-on-failure --output-junit $tmp/junit.xml >/dev/null"
validate="$TARS validate $cs --repo $repo"

# Each command must work before it is timed; the first validation also caches the baseline.
if ! out=$($validate --json 2>&1); then
  echo "bench-validate: the validation does not accept the change:" >&2
  echo "$out" | head -c 2000 >&2
  exit 1
fi
if ! /bin/sh -c "$direct"; then
  echo "bench-validate: the direct build and test fail" >&2
  exit 1
fi
cached=$($validate --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["baseline_cached"])')
if [ "$cached" != True ]; then
  echo "bench-validate: note: the second validation did not find its baseline cached" >&2
fi

hyperfine --warmup "$warmup" --runs "$runs" --export-json "$tmp/results.json" \
  -n validate "$validate" \
  -n direct "$direct"

# Where a validation's time goes (one more run, outside the timing).
$validate --json >"$tmp/report.json" || true

python3 - "$tmp/results.json" "$modules" "$tmp/report.json" <<'EOF'
import json, sys

results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
median = {name: results[name]["median"] for name in ("validate", "direct")}
print()
print(f"validation of one change, {sys.argv[2]} modules: median of {len(results['validate']['times'])} runs")
for name, m in median.items():
    print(f"  {name:9} {m * 1000:9.1f} ms")
ratio = median["validate"] / median["direct"]
print(f"  validate/direct {ratio:.2f}")
print("target met (validate/direct <= 1.15)" if ratio <= 1.15 else "target missed (validate/direct > 1.15)")
try:
    report = json.load(open(sys.argv[3]))
    stages = ", ".join(f"{s['name']} {s.get('duration_ms', 0):.0f}" for s in report.get("stages", []))
    print(f"one validation: {report.get('duration_ms', 0):.0f} ms ({stages} ms), "
          f"baseline cached: {report.get('baseline_cached')}")
except (OSError, ValueError, KeyError):
    pass
EOF
