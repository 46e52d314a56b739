#!/usr/bin/env bash
# Build tars and run the test suite through ctest, in three build trees:
#   build/       RelWithDebInfo: every test
#   build-asan/  Debug with AddressSanitizer and UndefinedBehaviorSanitizer: every test
#   build-fuzz/  clang, Debug, TARS_FUZZ: only the fuzz tests (the parsers fuzzed by libFuzzer)
# The last line is "N passed, N failed", summed over the trees; the exit status is 1 when
# anything failed (a test, a configure or a build).
#
#   scripts/test.sh            all three trees
#   scripts/test.sh --quick    only build/
# Environment: TARS_JOBS (default 2) for make and ctest; TARS_FUZZ_SECONDS (default 60) for each
# fuzzer's run.
set -uo pipefail

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
jobs=${TARS_JOBS:-2}
passed=0
failed=0

# run_tree NAME DIR [CMAKE-ARG...] [-- CTEST-ARG...]: configure, build and run ctest in DIR; add
# to the counts.
run_tree() {
  local name=$1 dir=$2
  shift 2
  local cmake_args=() ctest_args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    cmake_args+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  ctest_args=("$@")
  echo "== $name: configure and build in $dir"
  if ! cmake -S . -B "$dir" "${cmake_args[@]}" || ! cmake --build "$dir" -j "$jobs"; then
    echo "== $name: configure or build FAILED"
    failed=$((failed + 1))
    return
  fi
  echo "== $name: ctest"
  local log="$dir/ctest.log"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "${ctest_args[@]}") 2>&1 | tee "$log"
  # ctest's summary: "95% tests passed, 1 tests failed out of 20".
  local summary
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    if grep -q 'No tests were found' "$log"; then
      echo "== $name: no tests found"
    else
      echo "== $name: ctest did not finish"
      failed=$((failed + 1))
    fi
    return
  fi
  local nfail total
  nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
  echo "== $name: $((total - nfail)) passed, $nfail failed"
}

# LeakSanitizer stops the world with ptrace; where ptrace is restricted (some containers, a
# debugger attached) every test would die at exit.  Probe once and run without leak checks then.
lsan_works() {
  local tmp rc
  tmp=$(mktemp -d) || return 1
  printf 'int main (void) { return 0; }\n' >"$tmp/probe.c"
  if ! cc -fsanitize=address "$tmp/probe.c" -o "$tmp/probe" 2>/dev/null; then
    rm -rf "$tmp"
    return 1
  fi
  ASAN_OPTIONS=detect_leaks=1 "$tmp/probe" >"$tmp/out" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ] || grep -q 'LeakSanitizer has encountered a fatal error' "$tmp/out"; then
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$tmp"
  return 0
}

run_tree normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "$quick" -eq 0 ]; then
  leaks=1
  if ! lsan_works; then
    leaks=0
    echo "== notice: LeakSanitizer cannot run here (ptrace is restricted): leak checks are off"
  fi
  export ASAN_OPTIONS="detect_leaks=$leaks:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
  # The 200 random kills of integration/apply-crash run in build/; here the point is memory
  # errors along the same paths, which 50 trials per identity exercise at a quarter of the time.
  TRIALS=${TRIALS:-50} run_tree sanitizers build-asan -DCMAKE_BUILD_TYPE=Debug -DTARS_SANITIZE=ON
  # The other tests already ran in build-asan; here only the fuzzers, for TARS_FUZZ_SECONDS each.
  CC=clang run_tree fuzz build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTARS_FUZZ=ON -- -L '^fuzz$'
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
