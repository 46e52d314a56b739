#!/usr/bin/env bash
# A short tour of the tars sandbox: a command edits a workspace through an overlay, the host copy
# stays as it was, the edits come out as a changeset, and attacks from inside fail.
#
#   scripts/demo.sh             builds build/tars first when it is missing
# Environment: TARS, the tars binary (default build/tars).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARS=${TARS:-$root/build/tars}
if [ ! -x "$TARS" ]; then
  echo "demo: building tars in $root/build"
  cmake -S "$root" -B "$root/build" >/dev/null
  cmake --build "$root/build" -j 2 >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tars-demo.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
ws=$tmp/project
out=$tmp/changes
mkdir "$ws"
printf 'hello\n' >"$ws/greeting.txt"
printf 'to be removed\n' >"$ws/obsolete.txt"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. A workspace on the host"
show ls "$ws"
show cat "$ws/greeting.txt"

step "2. A command in the sandbox edits it (appends, adds, deletes)"
show "$TARS" sandbox run --workspace "$ws" --changes-out "$out" -- sh -c '
  echo "edited in the sandbox" >> greeting.txt
  echo "a new file" > added.txt
  rm obsolete.txt
  echo "inside, $PWD holds:"; ls
  cat greeting.txt'

step "3. The host copy has not changed"
show ls "$ws"
show cat "$ws/greeting.txt"
if [ -e "$ws/added.txt" ] || [ ! -e "$ws/obsolete.txt" ]; then
  echo "demo: UNEXPECTED: the sandbox changed the host workspace" >&2
  exit 1
fi

step "4. What changed, as a changeset"
show "$TARS" changes show "$out"

step "5. Attacks from inside fail"
unexpected=0
attack() {
  local what=$1
  shift
  printf '$ tars sandbox run -- %s\n' "$*"
  if "$TARS" sandbox run -- "$@"; then
    echo "demo: UNEXPECTED: $what succeeded" >&2
    unexpected=1
  else
    echo "   -> refused (exit $?): $what"
  fi
}
attack "mounting a file system" mount -t tmpfs none /mnt
attack "writing to the host's /etc" sh -c 'echo pwned > /etc/tars-demo'
attack "reaching the network" bash -c 'exec 3<>/dev/tcp/1.1.1.1/80'
[ "$unexpected" -eq 0 ] || exit 1

step "Done"
echo "The host workspace is untouched; the changeset above is everything the command changed."
