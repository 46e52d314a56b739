#!/bin/bash
# The hostile changeset battery: every changeset below is built by hand (manifest.json and
# objects/<sha256>, docs/changeset-format.md) and handed to `tars apply DIR --repo REPO`.  A case
# passes only when
#   - tars exits with the expected status: 2 for a malformed changeset, 1 for a policy refusal, a
#     conflict or a content that does not match its manifest;
#   - the case's whole directory (the repository but its .tars/, the changeset, and a directory
#     "outside" the repository) is exactly as before: names, types, modes, sizes, link counts,
#     symlink targets, file contents, and (except where noted) modification times, so that not
#     even a temporary file was made and removed;
#   - the refusal is in the audit trail (`tars audit --json`): "invalid", "refusal", "conflict";
#   - what the case aimed at outside (/etc, /tmp) is untouched, and the reason is printed.
# Each case gets a fresh git repository into which a harmless changeset was applied first, so
# that the store and .git/info/exclude exist before the "before" picture is taken.
#
# Environment: TARS (the tars binary).  HOSTILE_ONLY=regex runs the matching cases only;
# HOSTILE_VERBOSE=1 prints tars' output for every case.  Cases that need root (device nodes) are
# skipped otherwise.
set -u
SEC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$SEC_DIR/../lib.sh"

HOSTILE_ONLY=${HOSTILE_ONLY:-}
HOSTILE_VERBOSE=${HOSTILE_VERBOSE:-0}
ROOT=0
[ "$(id -u)" -eq 0 ] && ROOT=1

for tool in jq sha256sum timeout git; do
  if ! command -v "$tool" >/dev/null; then
    skip "hostile changesets" "$tool is missing"
    exit 0
  fi
done
if ! "$TARS" apply --help >/dev/null 2>&1; then
  fail "hostile changesets" "$TARS apply is not available"
  exit 1
fi

# ---- building repositories and changesets ---------------------------------------------------

sha_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# new_case NAME: C (the case directory), REPO, CS (the changeset), OUT (outside the repository).
new_case() {
  NAME=$1
  C=$TARS_TMP/cases/$NAME
  # Outside C: tars' output must not show up in the pictures of C.
  LOG=$TARS_TMP/logs/$NAME
  mkdir -p "$TARS_TMP/logs"
  REPO=$C/repo CS=$C/cs OUT=$C/outside
  ENTRIES=()
  mkdir -p "$REPO/src" "$REPO/dir" "$CS/objects" "$OUT" || return 1
  printf 'hello\n' >"$REPO/README"
  printf 'int a;\n' >"$REPO/src/a.c"
  printf 'in dir\n' >"$REPO/dir/file"
  printf 'secret\n' >"$OUT/secret"
  printf 'in dir\n' >"$OUT/file" # what repo/dir/file holds: a base hash that matches
  git -C "$REPO" init -q &&
    git -C "$REPO" add -A &&
    git -C "$REPO" -c user.name=t -c user.email=t@example.com commit -qm init || return 1
  # A harmless first apply: the store, .tars/ and .git/info/exclude exist from here on.
  local init=$C/init
  mkdir -p "$init/objects"
  local h
  h=$(sha_of 'init')
  printf 'init' >"$init/objects/$h"
  printf '{"version": 1, "entries": [{"path": "init.txt", "op": "create", "type": "file", "mode": "0644", "size": 4, "sha256": "%s", "base_sha256": null}]}\n' \
    "$h" >"$init/manifest.json"
  if ! "$T" apply "$init" --repo "$REPO" >"$LOG.init" 2>&1; then
    echo "setting up $NAME: the harmless apply failed:" >&2
    cat "$LOG.init" >&2
    return 1
  fi
  rm -rf "$init"
}

# .tars/config.json for the policy.
config() { printf '%s\n' "$1" >"$REPO/.tars/config.json"; }

# obj CONTENT: store an object, set SHA and SIZE.
obj() {
  local tmp=$CS/objects/.tmp
  printf '%s' "$1" >"$tmp"
  SHA=$(sha256sum <"$tmp" | cut -d' ' -f1)
  SIZE=$(stat -c %s "$tmp")
  mv -f "$tmp" "$CS/objects/$SHA"
  chmod 0644 "$CS/objects/$SHA"
}

raw() { ENTRIES+=("$1"); }

e_create() { # PATH CONTENT [MODE]
  obj "$2"
  raw "$(jq -cn --arg p "$1" --arg m "${3:-0644}" --argjson s "$SIZE" --arg h "$SHA" \
    '{path: $p, op: "create", type: "file", mode: $m, size: $s, sha256: $h, base_sha256: null}')"
}
e_modify() { # PATH CONTENT BASE-CONTENT [MODE]
  obj "$2"
  raw "$(jq -cn --arg p "$1" --arg m "${4:-0644}" --argjson s "$SIZE" --arg h "$SHA" \
    --arg b "$(sha_of "$3")" \
    '{path: $p, op: "modify", type: "file", mode: $m, size: $s, sha256: $h, base_sha256: $b}')"
}
e_delete() { # PATH TYPE [BASE-CONTENT]
  if [ $# -ge 3 ]; then
    raw "$(jq -cn --arg p "$1" --arg t "$2" --arg b "$(sha_of "$3")" \
      '{path: $p, op: "delete", type: $t, base_sha256: $b}')"
  else
    raw "$(jq -cn --arg p "$1" --arg t "$2" '{path: $p, op: "delete", type: $t, base_sha256: null}')"
  fi
}
e_mkdir() { raw "$(jq -cn --arg p "$1" --arg m "$2" '{path: $p, op: "mkdir", type: "dir", mode: $m}')"; }
e_symlink() {
  raw "$(jq -cn --arg p "$1" --arg t "$2" '{path: $p, op: "symlink", type: "symlink", target: $t}')"
}

manifest() {
  local IFS=,
  printf '{"version": 1, "entries": [%s]}\n' "${ENTRIES[*]}" >"$CS/manifest.json"
}

# ---- the before and after pictures ----------------------------------------------------------

# picture DIR MTIMES: everything below DIR but the repository's .tars/.
picture() {
  local fmt='%p %y %m %s %n %l'
  [ "$2" = mtimes ] && fmt="$fmt %T@"
  (
    cd "$1" || exit 1
    find . -path ./repo/.tars -prune -o -printf "$fmt\n" | LC_ALL=C sort
    find . -path ./repo/.tars -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
  )
}

# What cases aim at outside the case directory.
host_picture() {
  sha256sum /etc/passwd /etc/shadow 2>/dev/null
  ls -d /tmp/pwned* /etc/tars-pwned* /pwned* 2>/dev/null
}

audit_count() { # EVENT...
  local events
  events=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
  "$T" audit --repo "$REPO" --json 2>/dev/null |
    jq --argjson e "$events" '[.[] | select(.event as $x | $e | index($x))] | length' 2>/dev/null ||
    echo 0
}

# expect CODE EVENT[|EVENT...] WANT [MTIMES]: run tars apply on $CS and check everything.
# WANT: a text the output must hold (the reason), or "".  MTIMES: "mtimes" (default) or
# "contents" when a transaction may have begun and been undone (temporary files made, removed).
expect() {
  local want_rc=$1 events=$2 want=$3 mode=${4:-mtimes}
  local -a evs
  IFS='|' read -r -a evs <<<"$events"
  local before host_before audits_before rc after host_after audits_after problems=""
  before=$(picture "$C" "$mode")
  host_before=$(host_picture)
  audits_before=$(audit_count "${evs[@]}")
  timeout -k 5 120 "$T" apply "$CS" --repo "$REPO" >"$LOG.stdout" 2>"$LOG.stderr"
  rc=$?
  after=$(picture "$C" "$mode")
  host_after=$(host_picture)
  audits_after=$(audit_count "${evs[@]}")

  [ "$rc" -eq "$want_rc" ] || problems+="exit $rc, expected $want_rc; "
  if [ "$before" != "$after" ]; then
    problems+="the tree changed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' |
      head -5 | tr '\n' ' '); "
  fi
  [ "$host_before" = "$host_after" ] || problems+="something changed outside: $host_after; "
  [ "$audits_after" -gt "$audits_before" ] ||
    problems+="no new audit entry ($events): $audits_before before, $audits_after after; "
  if [ -n "$want" ] && ! grep -qF -- "$want" "$LOG.stdout" "$LOG.stderr"; then
    problems+="the output does not say \"$want\"; "
  fi
  if [ -z "$problems" ]; then
    pass "$NAME"
  else
    fail "$NAME" "$problems"
  fi
  if [ -n "$problems" ] || [ "$HOSTILE_VERBOSE" = 1 ]; then
    sed "s/^/    [$NAME] /" "$LOG.stdout" "$LOG.stderr"
  fi
}

MALFORMED=2
REFUSED=1

# ---- malformed changesets: exit 2, audited "invalid" ----------------------------------------

h_absolute_path() {
  e_create /etc/tars-pwned 'x'
  manifest
  expect $MALFORMED invalid "absolute"
}
h_dotdot() {
  e_create ../outside/pwned 'x'
  manifest
  expect $MALFORMED invalid ".."
}
h_dotdot_in_the_middle() {
  e_create src/../../outside/pwned 'x'
  manifest
  expect $MALFORMED invalid ".."
}
h_dot_component() {
  e_create ./src/x 'x'
  manifest
  expect $MALFORMED invalid "'.'"
}
h_empty_component() {
  e_create src//x 'x'
  manifest
  expect $MALFORMED invalid "empty component"
}
h_trailing_slash() {
  e_create src/x/ 'x'
  manifest
  expect $MALFORMED invalid "empty component"
}
h_newline_in_name() {
  e_create $'evil\nname' 'x'
  manifest
  expect $MALFORMED invalid "control character"
}
h_escape_sequence_in_name() {
  e_create $'evil\e[2Jname' 'x'
  manifest
  expect $MALFORMED invalid "control character"
}
h_invalid_utf8_name() {
  obj 'x'
  printf '{"version": 1, "entries": [{"path": "bad\xff\xfename", "op": "create", "type": "file", "mode": "0644", "size": 1, "sha256": "%s", "base_sha256": null}]}\n' \
    "$SHA" >"$CS/manifest.json"
  expect $MALFORMED invalid "UTF-8"
}
h_overlong_utf8_slash() {
  # "/" encoded as an overlong C0 AF: a decoder that accepts it sees "../x".
  obj 'x'
  printf '{"version": 1, "entries": [{"path": "..\xc0\xafoutside", "op": "create", "type": "file", "mode": "0644", "size": 1, "sha256": "%s", "base_sha256": null}]}\n' \
    "$SHA" >"$CS/manifest.json"
  expect $MALFORMED invalid "UTF-8"
}
h_nul_escape_in_name() {
  obj 'x'
  printf '{"version": 1, "entries": [{"path": "README\\u0000.evil", "op": "create", "type": "file", "mode": "0644", "size": 1, "sha256": "%s", "base_sha256": null}]}\n' \
    "$SHA" >"$CS/manifest.json"
  expect $MALFORMED invalid "u0000"
}
h_lying_about_size() {
  e_create src/new.c 'int new;'
  manifest
  printf 'int new; /* and a lot more than the manifest admits */' >"$CS/objects/$SHA"
  expect $MALFORMED invalid "bytes"
}
h_truncated_manifest() {
  e_create src/new.c 'int new;'
  manifest
  head -c 60 "$CS/manifest.json" >"$CS/m" && mv "$CS/m" "$CS/manifest.json"
  expect $MALFORMED invalid "malformed JSON"
}
h_unknown_op() {
  raw '{"path": "README", "op": "chown", "type": "file", "base_sha256": null}'
  manifest
  expect $MALFORMED invalid "unknown op"
}
h_unknown_field() {
  obj 'x'
  raw "{\"path\": \"x\", \"op\": \"create\", \"type\": \"file\", \"mode\": \"0644\", \"size\": 1, \"sha256\": \"$SHA\", \"base_sha256\": null, \"owner\": \"root\"}"
  manifest
  expect $MALFORMED invalid "unknown field"
}
h_missing_field() {
  raw '{"path": "x", "op": "create", "type": "file", "mode": "0644", "size": 1, "base_sha256": null}'
  manifest
  expect $MALFORMED invalid "missing"
}
h_duplicate_entries() {
  e_create src/new.c 'one'
  e_create src/new.c 'two'
  manifest
  expect $MALFORMED invalid "duplicate"
}
h_duplicate_key() {
  obj 'x'
  raw "{\"path\": \"x\", \"path\": \".git/config\", \"op\": \"create\", \"type\": \"file\", \"mode\": \"0644\", \"size\": 1, \"sha256\": \"$SHA\", \"base_sha256\": null}"
  manifest
  expect $MALFORMED invalid "duplicate"
}
h_wrong_version() {
  e_create x 'x'
  local IFS=,
  printf '{"version": 2, "entries": [%s]}\n' "${ENTRIES[*]}" >"$CS/manifest.json"
  expect $MALFORMED invalid "version"
}
h_no_manifest() {
  e_create x 'x'
  expect $MALFORMED invalid "manifest.json"
}
h_object_missing() {
  e_create src/new.c 'int new;'
  manifest
  rm -f "$CS/objects/$SHA"
  expect $MALFORMED invalid "missing"
}
h_object_is_a_symlink_to_shadow() {
  local target=/etc/shadow
  [ -r "$target" ] || target=/etc/passwd
  # The hash and size of the real file, so that only the symlink itself can give it away.
  local h s
  h=$(sha256sum <"$target" | cut -d' ' -f1)
  s=$(stat -L -c %s "$target")
  ln -s "$target" "$CS/objects/$h"
  raw "{\"path\": \"leak.txt\", \"op\": \"create\", \"type\": \"file\", \"mode\": \"0644\", \"size\": $s, \"sha256\": \"$h\", \"base_sha256\": null}"
  manifest
  expect $MALFORMED invalid "not a regular file"
  [ -e "$REPO/leak.txt" ] && fail "$NAME: leak.txt" "the file was written"
}
h_objects_dir_is_a_symlink() {
  e_create src/new.c 'int new;'
  manifest
  mv "$CS/objects" "$C/elsewhere"
  ln -s "$C/elsewhere" "$CS/objects"
  expect $MALFORMED invalid "objects"
}
h_manifest_is_a_symlink() {
  e_create src/new.c 'int new;'
  manifest
  mv "$CS/manifest.json" "$C/manifest.json"
  ln -s "$C/manifest.json" "$CS/manifest.json"
  expect $MALFORMED invalid "symlink"
}
h_huge_manifest() {
  # Sparse: 300 MB that cost nothing on disk; it must be refused before it is read.
  truncate -s 300M "$CS/manifest.json"
  expect $MALFORMED invalid "larger than"
}
h_setuid_mode() {
  e_create tools/su 'x' 4755
  manifest
  expect $MALFORMED invalid "setuid"
}
h_setgid_dir() {
  e_mkdir shared 2775
  manifest
  expect $MALFORMED invalid "setgid"
}
h_object_is_a_fifo() {
  e_create src/new.c 'int new;'
  manifest
  rm -f "$CS/objects/$SHA"
  mkfifo "$CS/objects/$SHA"
  expect $MALFORMED invalid "not a regular file"
}
h_object_is_a_whiteout() {
  [ "$ROOT" = 1 ] || {
    skip "$NAME" "needs root"
    return
  }
  raw "{\"path\": \"src/new.c\", \"op\": \"create\", \"type\": \"file\", \"mode\": \"0644\", \"size\": 0, \"sha256\": \"$(sha_of '')\", \"base_sha256\": null}"
  manifest
  mknod "$CS/objects/$(sha_of '')" c 0 0
  expect $MALFORMED invalid "not a regular file"
}

# ---- policy refusals: exit 1, audited "refusal" ---------------------------------------------

h_symlink_to_etc() {
  e_symlink etc /etc
  manifest
  expect $REFUSED refusal "symlinks are not allowed"
}
h_symlink_escaping_when_allowed() {
  config '{"apply": {"allow_symlinks": true}}'
  e_symlink src/passwd ../../../../etc/passwd
  manifest
  expect $REFUSED refusal "leaves the repository"
}
h_symlink_absolute_when_allowed() {
  config '{"apply": {"allow_symlinks": true}}'
  e_symlink passwd /etc/passwd
  manifest
  expect $REFUSED refusal "absolute"
}
h_symlink_lexical_escape_when_allowed() {
  config '{"apply": {"allow_symlinks": true}}'
  e_symlink x 'src/../../outside/secret'
  manifest
  expect $REFUSED refusal "leaves the repository"
}
h_symlink_into_git_when_allowed() {
  config '{"apply": {"allow_symlinks": true}}'
  e_symlink hooks .git/hooks
  manifest
  expect $REFUSED refusal "protected path"
}
h_symlink_chain_when_allowed() {
  # "up" points to the root: "up/../.." is inside lexically, outside once "up" is followed.
  config '{"apply": {"allow_symlinks": true}}'
  e_symlink src/up ..
  e_symlink src/chain up/../..
  manifest
  expect $REFUSED refusal "goes through the symlink"
}
h_parent_swapped_for_a_symlink() {
  # The sandbox saw dir/ as a directory; on the host it is now a symlink to outside.
  rm -rf "$REPO/dir" && ln -s "$OUT" "$REPO/dir"
  e_create dir/pwned 'x'
  manifest
  expect $REFUSED refusal "is a symlink"
}
h_parent_swapped_modify() {
  # Same, and outside/file holds what dir/file held: the base hash matches through the link.
  rm -rf "$REPO/dir" && ln -s "$OUT" "$REPO/dir"
  e_modify dir/file 'overwritten' $'in dir\n'
  manifest
  expect $REFUSED refusal "is a symlink"
}
h_deep_parent_symlink_to_tmp() {
  mkdir -p "$REPO/deep" && ln -s /tmp "$REPO/deep/er"
  e_create deep/er/pwned-by-tars 'x'
  manifest
  expect $REFUSED refusal "is a symlink"
  [ -e /tmp/pwned-by-tars ] && fail "$NAME: /tmp" "/tmp/pwned-by-tars exists"
}
h_target_is_a_symlink() {
  ln -s "$OUT/secret" "$REPO/cfg"
  e_modify cfg 'overwritten' $'secret\n'
  manifest
  expect $REFUSED refusal "the target is a symlink"
}
h_hardlink_in_repo() {
  ln "$REPO/README" "$REPO/README.copy"
  e_modify README 'changed' $'hello\n'
  manifest
  expect $REFUSED refusal "hard links"
}
h_hardlink_to_outside() {
  ln "$OUT/secret" "$REPO/notes"
  e_modify notes 'changed' $'secret\n'
  manifest
  expect $REFUSED refusal "hard links"
}
h_git_hooks_pre_commit() {
  e_create .git/hooks/pre-commit $'#!/bin/sh\ntouch /tmp/pwned\n' 0755
  manifest
  expect $REFUSED refusal "protected path"
}
h_git_config() {
  e_modify .git/config $'[core]\n\tfsmonitor = touch /tmp/pwned\n' "$(cat "$REPO/.git/config")"$'\n'
  manifest
  expect $REFUSED refusal "protected path"
}
h_tars_db() {
  e_create .tars/tars.db 'not a database'
  e_create .tars/evil 'x'
  manifest
  expect $REFUSED refusal "protected path"
  [ -e "$REPO/.tars/evil" ] && fail "$NAME: .tars/evil" "the file was written"
}
h_github_workflows() {
  e_mkdir .github 0755
  e_mkdir .github/workflows 0755
  e_create .github/workflows/ci.yml 'on: push'
  manifest
  expect $REFUSED refusal "protected path"
}
h_gitmodules() {
  e_create .gitmodules $'[submodule "x"]\n\turl = ../../evil\n'
  manifest
  expect $REFUSED refusal "protected path"
}
h_dotenv() {
  e_create .env 'KEY=stolen'
  e_mkdir sub 0755
  e_create sub/.env.local 'KEY=stolen'
  manifest
  expect $REFUSED refusal "sub/.env.local"
}
h_nested_git_dir() {
  e_mkdir vendor 0755
  e_mkdir vendor/.git 0755
  e_mkdir vendor/.git/hooks 0755
  e_create vendor/.git/hooks/post-checkout 'x' 0755
  manifest
  expect $REFUSED refusal "protected path"
}
h_git_case_variant() {
  e_mkdir .GIT 0755
  e_create .GIT/config 'x'
  manifest
  expect $REFUSED refusal "protected path"
}
h_policy_file() {
  # tars.json is where the policy may be read from: a changeset must not loosen it.
  e_create tars.json '{"apply": {"allow_symlinks": true, "max_file_size": "1T"}}'
  manifest
  expect $REFUSED refusal "protected path"
}
h_device_node_target() {
  [ "$ROOT" = 1 ] || {
    skip "$NAME" "needs root"
    return
  }
  mknod "$REPO/null" c 1 3
  e_modify null 'x' ''
  manifest
  expect $REFUSED refusal "device node"
}
h_whiteout_target() {
  [ "$ROOT" = 1 ] || {
    skip "$NAME" "needs root"
    return
  }
  mknod "$REPO/wh" c 0 0
  e_delete wh file ''
  manifest
  expect $REFUSED refusal "device node"
}
h_fifo_target() {
  mkfifo "$REPO/pipe"
  e_modify pipe 'x' ''
  manifest
  expect $REFUSED refusal "fifo"
}
h_sticky_mode() {
  e_create tmpdir-file 'x' 1644
  manifest
  expect $REFUSED refusal "sticky"
}
h_world_writable() {
  e_create public 'x' 0666
  e_mkdir drop 0777
  manifest
  expect $REFUSED refusal "world-writable"
}
h_huge_file() {
  config '{"apply": {"max_file_size": "1K"}}'
  e_create big "$(head -c 4096 /dev/zero | tr '\0' x)"
  manifest
  expect $REFUSED refusal "file too large"
}
h_too_many_files() {
  config '{"apply": {"max_files": 5}}'
  for i in 1 2 3 4 5 6; do e_create "many/f$i" "file $i"; done
  e_mkdir many 0755
  manifest
  expect $REFUSED refusal "too many entries"
}
h_total_too_large() {
  config '{"apply": {"max_total_bytes": "10K"}}'
  for i in 1 2 3; do e_create "part$i" "$i$(head -c 4000 /dev/zero | tr '\0' x)"; done
  manifest
  expect $REFUSED refusal "new content too large"
}
h_every_reason_listed() {
  e_modify .git/config 'x' "$(cat "$REPO/.git/config")"$'\n'
  e_create public 'x' 0666
  e_symlink link /etc
  manifest
  expect $REFUSED refusal "world-writable"
  local n
  n=$(grep -c '^tars: refused: ' "$LOG.stderr")
  [ "$n" -ge 3 ] || fail "$NAME: every reason" "$n reasons printed, expected 3"
  n=$("$T" apply "$CS" --repo "$REPO" --json 2>/dev/null | jq '.refused | length')
  [ "$n" = 3 ] || fail "$NAME: --json" "$n reasons, expected 3"
}

# ---- a conflict: exit 1, audited "conflict" -------------------------------------------------

h_changed_since_the_snapshot() {
  e_modify README 'mine' $'what the sandbox saw\n'
  manifest
  expect $REFUSED conflict "modified since"
}

# ---- lying about a hash: found while copying; the transaction is undone ---------------------

h_lying_about_hash() {
  e_create src/new.c 'int good;'
  manifest
  printf 'int evil;' >"$CS/objects/$SHA" # same size, other content
  expect $REFUSED 'refusal|abort|invalid' "does not match" contents
}

# ---- the control: a harmless changeset is applied (the harness can tell) --------------------

t_control() {
  new_case control || {
    fail control "setup"
    return
  }
  e_modify README 'changed' $'hello\n'
  e_create src/b.c 'int b;'
  manifest
  if "$T" apply "$CS" --repo "$REPO" >"$LOG.stdout" 2>&1 &&
    [ "$(cat "$REPO/README")" = changed ] && [ "$(cat "$REPO/src/b.c")" = 'int b;' ] &&
    [ "$(audit_count commit)" -ge 2 ]; then
    pass control
  else
    fail control "a harmless changeset was not applied (or not audited): $(cat "$LOG.stdout")"
  fi
}

t_control
for fn in $(declare -F | awk '{print $3}' | grep '^h_'); do
  name=${fn#h_}
  if [ -n "$HOSTILE_ONLY" ] && ! [[ $name =~ $HOSTILE_ONLY ]]; then
    continue
  fi
  if ! new_case "$name"; then
    fail "$name" "could not set the case up"
    continue
  fi
  "$fn"
done
exit 0
