#!/usr/bin/env bash
# Sandbox start-up time: tars (full isolation, overlay workspace) against bubblewrap and unshare,
# each starting /bin/true.  Prints the medians and the ratios tars/bwrap (target <= 1.0) and
# tars/unshare.  The runs are split into rounds, each timing the three commands one after the
# other (in turn reversed), and the medians are taken over all rounds: on a shared machine the
# load drifts, and one long block per command would compare them under different loads.
#
#   bench/sandbox-startup.sh [--user NAME] [--runs N] [--warmup N] [--rounds N]
#     --user NAME   run the benchmark as NAME (rootless), e.g. tars-test
#     --rounds N    split the runs into N rounds (default 10)
# Environment: TARS, the tars binary (default build/tars).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARS=${TARS:-$root/build/tars}
user=""
runs=200
warmup=20
rounds=10

while [ $# -gt 0 ]; do
  case "$1" in
    --user) user=${2:?--user needs a name}; shift 2 ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a number}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sandbox-startup: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$runs" -lt 200 ]; then
  echo "sandbox-startup: note: $runs runs, fewer than the 200 the comparison calls for" >&2
fi

for tool in hyperfine bwrap unshare python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "sandbox-startup: $tool is missing (scripts/setup.sh installs it)" >&2
    exit 1
  fi
done
if [ ! -x "$TARS" ]; then
  echo "sandbox-startup: $TARS not found: build it first (cmake -S . -B build && cmake --build build)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tars-bench.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir "$tmp/ws"
printf 'x\n' >"$tmp/ws/file"
tars=$TARS
as=()
if [ -n "$user" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "sandbox-startup: --user needs root" >&2
    exit 2
  fi
  id -u "$user" >/dev/null 2>&1 || { echo "sandbox-startup: no user $user" >&2; exit 2; }
  # A copy the user can reach, wherever the build tree is.
  cp "$TARS" "$tmp/tars"
  chmod 0755 "$tmp/tars"
  tars=$tmp/tars
  chown -R "$user:" "$tmp/ws"
  chown "$user:" "$tmp"
  as=(runuser -u "$user" --)
fi

# Each command must work before it is timed: a failure is reported as such, not as a time.
for cmd in "$tars sandbox run --workspace $tmp/ws -- /bin/true" \
  "bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev /bin/true" \
  "unshare -Urmpinuf /bin/true"; do
  # shellcheck disable=SC2086 # word splitting is wanted: hyperfine -N splits the same way
  if ! (cd / && "${as[@]}" $cmd); then
    echo "sandbox-startup: this command fails${user:+ as $user}: $cmd" >&2
    exit 1
  fi
done

tars_cmd="$tars sandbox run --workspace $tmp/ws -- /bin/true"
bwrap_cmd="bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev /bin/true"
unshare_cmd="unshare -Urmpinuf /bin/true"
per_round=$(((runs + rounds - 1) / rounds))
[ "$per_round" -ge 2 ] || per_round=2
for r in $(seq "$rounds"); do
  order=(tars bwrap unshare)
  [ $((r % 2)) -eq 0 ] && order=(unshare bwrap tars)
  args=()
  for name in "${order[@]}"; do
    cmd_var=${name}_cmd
    args+=(-n "$name" "${!cmd_var}")
  done
  # shellcheck disable=SC2086 # word splitting is wanted: hyperfine -N splits the same way
  (cd / && "${as[@]}" hyperfine -N --style none --warmup "$([ "$r" -eq 1 ] && echo "$warmup" || echo 2)" \
    --runs "$per_round" --export-json "$tmp/round-$r.json" "${args[@]}") >/dev/null
done

python3 - "$tmp" "$rounds" "${user:-$(id -un)}" <<'EOF'
import json, statistics, sys

tmp, rounds, who = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {"tars": [], "bwrap": [], "unshare": []}
for r in range(1, rounds + 1):
    for res in json.load(open(f"{tmp}/round-{r}.json"))["results"]:
        times[res["command"]].extend(res["times"])
median = {name: statistics.median(t) for name, t in times.items()}
print(f"sandbox start-up, as {who}: median of {len(times['tars'])} runs in {rounds} rounds")
for name, m in median.items():
    print(f"  {name:8} {m * 1000:8.2f} ms")
vs_bwrap = median["tars"] / median["bwrap"]
vs_unshare = median["tars"] / median["unshare"]
print(f"  tars/bwrap   {vs_bwrap:.2f}")
print(f"  tars/unshare {vs_unshare:.2f}")
print("target met (tars/bwrap <= 1.0)" if vs_bwrap <= 1.0 else "target missed (tars/bwrap > 1.0)")
EOF
