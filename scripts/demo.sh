#!/usr/bin/env bash
# A short tour of tars: a command edits a workspace through an overlay in a sandbox, the host copy
# stays as it was, the edits come out as a changeset, attacks from inside fail; then the changeset
# is applied to the repository as a transaction (a git commit), shown in the history and the
# audit trail, and rolled back; a changeset aimed at .git/ is refused.
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
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.invalid \
  GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.invalid
git -C "$ws" init -q && git -C "$ws" add . && git -C "$ws" commit -qm "the project"

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
attack "reaching the network" bash -c 'exec 3<>/dev/tcp/127.0.0.1/22'
[ "$unexpected" -eq 0 ] || exit 1

step "6. Apply the changeset to the repository: one transaction, one git commit"
show "$TARS" apply "$out" --repo "$ws"
show cat "$ws/greeting.txt"
show git -C "$ws" log --format='%h %s%n%b' -1
txn=$("$TARS" history --repo "$ws" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

step "7. The history and the audit trail"
show "$TARS" history --repo "$ws"
show "$TARS" audit --repo "$ws"

step "8. Roll it back (a transaction too, with a revert commit)"
show "$TARS" rollback "$txn" --repo "$ws"
show ls "$ws"
show cat "$ws/greeting.txt"

step "9. A changeset aimed at .git/hooks is refused whole, nothing written"
evil=$tmp/evil
mkdir -p "$evil/objects"
printf '#!/bin/sh\necho owned\n' >"$evil/hook"
sha=$(sha256sum <"$evil/hook" | cut -d' ' -f1)
size=$(stat -c %s "$evil/hook")
mv "$evil/hook" "$evil/objects/$sha"
printf '{"version": 1, "entries": [{"path": ".git/hooks/pre-commit", "op": "create", "type": "file", "mode": "0755", "size": %s, "sha256": "%s", "base_sha256": null}]}\n' \
  "$size" "$sha" >"$evil/manifest.json"
printf '$ %s\n' "tars apply $evil --repo $ws"
if "$TARS" apply "$evil" --repo "$ws"; then
  echo "demo: UNEXPECTED: the changeset was applied" >&2
  exit 1
fi
if [ -e "$ws/.git/hooks/pre-commit" ]; then
  echo "demo: UNEXPECTED: .git/hooks/pre-commit exists" >&2
  exit 1
fi
echo "   -> refused, and .git/hooks/pre-commit does not exist"

step "Done"
echo "The sandbox never wrote to the host: only tars apply did, as a transaction, rolled back since."
