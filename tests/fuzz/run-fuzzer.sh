#!/usr/bin/env bash
# run-fuzzer.sh FUZZER SEEDS WORK [DICT]: run the libFuzzer program FUZZER for TARS_FUZZ_SECONDS
# (default 60) with the dictionary DICT, on WORK/corpus: a copy of the seed corpus SEEDS that
# keeps what earlier runs found, so that the source tree is never written.  Fails on any crash,
# leak, sanitizer report, hang or out-of-memory; the input that caused it is left in
# WORK/artifacts/.
set -euo pipefail

fuzzer=$1 seeds=$2 work=$3 dict=${4:-}
secs=${TARS_FUZZ_SECONDS:-60}
case "$secs" in
  '' | *[!0-9]*)
    echo "run-fuzzer.sh: TARS_FUZZ_SECONDS must be a number of seconds" >&2
    exit 2
    ;;
esac

mkdir -p "$work/corpus" "$work/artifacts"
cp -- "$seeds"/* "$work/corpus/"
extra=()
if [ -n "$dict" ]; then
  extra+=(-dict="$dict")
fi
# -timeout: one input taking 10 s is a hang.  The outer timeout is a last resort.
rc=0
timeout --signal=KILL $((secs + 300)) "$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${extra[@]}" \
  "$work/corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "run-fuzzer.sh: $(basename "$fuzzer") failed (exit $rc); inputs in $work/artifacts/:" >&2
  ls -l "$work/artifacts" >&2
fi
exit "$rc"
