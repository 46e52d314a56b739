#!/usr/bin/env bash
# Edit robustness: correct edits on real source files, written in each edit format as a model
# writes them, perturbed the way models get them wrong (indentation, trailing spaces, blank
# lines, typographic quotes, context a line or two off, CRLF files, answers cut off), parsed and
# applied by tars.  Prints the share applied correctly, refused and misapplied per perturbation,
# per format and in total (targets: applied correctly >= 95%, misapplied 0); exits 1 when anything
# was misapplied.  The driver is build/bench/tars-edits-bench (docs/edit-formats.md).
#
#   bench/edits.sh [--edits N] [--seed N] [--verbose]
#     --edits N   how many edits (default 300; at least 200 for the targets to mean anything)
#     --seed N    another set of edits, locations and perturbations (default: the same each run)
#     --verbose   print every answer refused or misapplied, and why
# Environment: TARS_BUILD, the build tree (default build/).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TARS_BUILD:-$root/build}
driver=$build/bench/tars-edits-bench
args=()

while [ $# -gt 0 ]; do
  case "$1" in
    --edits) args+=(--edits "${2:?--edits needs a number}"); shift 2 ;;
    --seed) args+=(--seed "${2:?--seed needs a number}"); shift 2 ;;
    --verbose) args+=(--verbose); shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "edits bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$driver" ]; then
  echo "edits bench: $driver not found: build it first (cmake -S . -B build && cmake --build build)" >&2
  exit 1
fi

# The corpus: files a fresh Debian 12 has after scripts/setup.sh, picked the same way every run
# (every Nth of a sorted list), and the project's own sources.
files=()
# pick N STEP FILE...: every STEP-th of the files, at most N.
pick() {
  local n=$1 step=$2 i=0 taken=0
  shift 2
  for f in "$@"; do
    case "$f" in *_test.go) continue ;; esac
    if [ -f "$f" ] && [ $((i % step)) -eq 0 ] && [ "$taken" -lt "$n" ]; then
      files+=("$f")
      taken=$((taken + 1))
    fi
    i=$((i + 1))
  done
}
shopt -s nullglob
pick 10 15 /usr/lib/python3.11/*.py
pick 10 2 /usr/lib/go/src/strings/*.go /usr/lib/go/src/bufio/*.go /usr/lib/go/src/sort/*.go
pick 8 20 /usr/include/*.h
pick 8 8 /usr/share/perl/5.36/*.pm
pick 4 1 /usr/bin/ldd /usr/bin/zgrep /usr/bin/gzexe /usr/bin/zdiff
pick 8 3 "$root"/orchestrator/src/*/*.c
pick 6 1 "$root"/scripts/*.sh "$root"/bench/*.sh
langs=$(printf '%s\n' "${files[@]}" | sed -n 's/.*\.\(py\|go\|h\|c\|pm\|sh\)$/\1/p' | sort -u | wc -l)
if [ "$langs" -lt 3 ]; then
  echo "edits bench: fewer than 3 languages of source files found (run scripts/setup.sh)" >&2
  exit 1
fi

"$driver" "${args[@]}" "${files[@]}"
