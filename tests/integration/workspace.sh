#!/bin/bash
# The workspace overlay end to end, as root and as the unprivileged user: what a command does to
# the workspace becomes a changeset (every operation), the host copy never changes, extra layers
# stack above it, an image can replace the host's root, unsafe results are refused by name, and
# credentials inside a workspace that contains the home stay hidden.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OUT=$TARS_TMP/out

# Fill a workspace owned by the current identity.
populate() {
  local ws=$1
  mkdir -p "$ws/src/deep" "$ws/gone/sub" "$ws/docs"
  printf 'int main(void) { return 0; }\n' >"$ws/src/main.c"
  printf 'keep\n' >"$ws/src/deep/keep.txt"
  printf 'x\n' >"$ws/gone/sub/a" && printf 'y\n' >"$ws/gone/b"
  printf 'old\n' >"$ws/docs/readme"
  printf '#!/bin/sh\n' >"$ws/run.sh" && chmod 0644 "$ws/run.sh"
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$ws"; fi
}

# The manifest's entries as "op type path" lines.
entries() {
  run_tars changes show --json "$1" | jq -r '.entries[] | "\(.op) \(.type) \(.path)"'
}

t_every_operation() {
  local ws out before after
  ws=$(mktemp_ws) && populate "$ws"
  out=$(mktemp_ws)/changes
  before=$(cd "$ws" && find . -printf '%p %m %s\n' | sort && cat src/main.c docs/readme)
  run_tars sandbox run --workspace "$ws" --changes-out "$out" -- /bin/sh -c '
    printf "int main(void) { return 1; }\n" > src/main.c
    printf "new\n" > src/new.c
    rm -r gone
    mkdir -p added/inner && printf "z\n" > added/inner/z
    chmod 0755 run.sh
    ln -s ../src/main.c docs/link
    rm docs/readme && mkdir docs/readme' >"$OUT" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ]; then fail "every operation: sandbox run" "exit $rc: $(head -c 300 "$OUT")"; return; fi
  after=$(cd "$ws" && find . -printf '%p %m %s\n' | sort && cat src/main.c docs/readme)
  if [ "$before" = "$after" ]; then pass "host workspace unchanged"; else fail "host workspace unchanged"; fi

  local got want
  got=$(entries "$out" | sort)
  want=$(sort <<'EOF'
delete dir gone
delete dir gone/sub
delete file docs/readme
delete file gone/b
delete file gone/sub/a
mkdir dir added
mkdir dir added/inner
create file added/inner/z
chmod file run.sh
create file src/new.c
modify file src/main.c
symlink symlink docs/link
mkdir dir docs/readme
EOF
)
  if [ "$got" = "$want" ]; then pass "every operation is in the manifest"; else
    fail "every operation is in the manifest" "$(diff <(echo "$want") <(echo "$got") | tr '\n' ' ')"
  fi
  # Contents and hashes: the object of src/main.c holds the new text, base_sha256 the old one's.
  local sha base
  sha=$(jq -r '.entries[] | select(.path=="src/main.c") | .sha256' "$out/manifest.json")
  base=$(jq -r '.entries[] | select(.path=="src/main.c") | .base_sha256' "$out/manifest.json")
  if [ "$(cat "$out/objects/$sha")" = "int main(void) { return 1; }" ] &&
    [ "$base" = "$(sha256sum <"$ws/src/main.c" | cut -d' ' -f1)" ]; then
    pass "object and base hash of a modified file"
  else
    fail "object and base hash of a modified file" "sha=$sha base=$base"
  fi
  [ "$(jq -r '.entries[] | select(.path=="docs/link") | .target' "$out/manifest.json")" = "../src/main.c" ] &&
    pass "symlink target recorded" || fail "symlink target recorded"
  [ "$(jq -r '.entries[] | select(.path=="run.sh") | .mode' "$out/manifest.json")" = "0755" ] &&
    pass "mode change recorded" || fail "mode change recorded"
  # Deletions come first, deepest first, so that applying in order works.
  local order
  order=$(jq -r '[.entries[] | .op] | join(" ")' "$out/manifest.json")
  case "$order" in
    "delete delete delete delete delete "*) pass "deletions first" ;;
    *) fail "deletions first" "$order" ;;
  esac
  run_tars changes show "$out" >"$OUT" 2>&1
  grep -q "13 changes" "$OUT" && pass "changes show summarises" || fail "changes show summarises" "$(tail -1 "$OUT")"
}

t_no_changes() {
  local ws out
  ws=$(mktemp_ws) && populate "$ws"
  out=$(mktemp_ws)/none
  run_tars sandbox run --workspace "$ws" --changes-out "$out" -- /bin/sh -c 'cat src/main.c >/dev/null; touch /tmp/x' >"$OUT" 2>&1
  [ "$(jq '.entries | length' "$out/manifest.json" 2>/dev/null)" = 0 ] &&
    pass "a read-only run gives an empty changeset" || fail "a read-only run gives an empty changeset" "$(cat "$OUT")"
}

t_layers() {
  local ws l1 l2 out
  ws=$(mktemp_ws) && populate "$ws"
  l1=$(mktemp_ws) && l2=$(mktemp_ws)
  printf 'from layer 1\n' >"$l1/docs-l1" && printf 'layer1\n' >"$l1/shadowed"
  printf 'layer2\n' >"$l2/shadowed"
  mkdir -p "$l2/src" && printf 'patched\n' >"$l2/src/main.c"
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$l1" "$l2"; fi
  out=$(mktemp_ws)/layers
  run_tars sandbox run --workspace "$ws" --layer "$l1" --layer "$l2" --changes-out "$out" -- \
    /bin/sh -c 'cat docs-l1 shadowed src/main.c; printf "edited\n" > shadowed' >"$OUT" 2>&1
  if [ "$(grep -v '^tars: ' "$OUT" | head -3 | tr '\n' '|')" = "from layer 1|layer2|patched|" ]; then
    pass "layers stack above the workspace, last on top"
  else
    fail "layers stack above the workspace, last on top" "$(head -c 300 "$OUT")"
  fi
  # The change is against the merged view: base is layer 2's content.
  local base
  base=$(jq -r '.entries[] | select(.path=="shadowed") | "\(.op) \(.base_sha256)"' "$out/manifest.json")
  [ "$base" = "modify $(printf 'layer2\n' | sha256sum | cut -d' ' -f1)" ] &&
    pass "changes are relative to the topmost layer" || fail "changes are relative to the topmost layer" "$base"
}

t_rootfs() {
  local img ws
  if [ ! -x /bin/busybox ] || ! file_is_static /bin/busybox; then
    skip "--rootfs image" "busybox-static is not installed (scripts/setup.sh installs it)"
    return
  fi
  img=$(mktemp_ws) && chmod 0755 "$img"
  mkdir -p "$img/bin" "$img/proc" "$img/dev" "$img/tmp" "$img/etc"
  cp /bin/busybox "$img/bin/busybox"
  for c in sh ls cat echo id; do ln -s busybox "$img/bin/$c"; done
  echo "image" >"$img/etc/marker"
  ws=$(mktemp_ws) && populate "$ws"
  # The workspace is mounted at its own path, which the image must have.
  run_tars sandbox run --rootfs "$img" --workspace "$ws" -- /bin/true >"$OUT" 2>&1
  grep -q "does not exist in the root file system" "$OUT" &&
    pass "--rootfs without the workspace's path: a clear error" ||
    fail "--rootfs without the workspace's path: a clear error" "$(head -c 300 "$OUT")"
  mkdir -p "$img$ws"
  run_tars sandbox run --rootfs "$img" --workspace "$ws" -- /bin/sh -c 'cat /etc/marker; ls /; cat src/deep/keep.txt; test -e /usr && echo has-usr' >"$OUT" 2>&1
  if grep -qx image "$OUT" && grep -qx keep "$OUT" && ! grep -q has-usr "$OUT"; then
    pass "--rootfs replaces the host's root, the workspace is still mounted"
  else
    fail "--rootfs replaces the host's root, the workspace is still mounted" "$(head -c 300 "$OUT")"
  fi
  run_tars sandbox run --rootfs "$img" -- /bin/sh -c 'echo x > /etc/marker' >"$OUT" 2>&1
  [ "$(cat "$img/etc/marker")" = image ] && pass "--rootfs image is read-only" || fail "--rootfs image is read-only"
}

file_is_static() {
  ! ldd "$1" >/dev/null 2>&1
}

# What a changeset cannot hold (a fifo, a setuid file, more content than the scratch) does not
# fail the capture: it is listed as rejected, the command's status stands, and apply refuses the
# changeset naming it.
t_refusals() {
  local ws out rc
  ws=$(mktemp_ws) && populate "$ws"
  rejected_ok() { # NAME OUT RC PATH REASON
    local name=$1 out=$2 rc=$3 path=$4 reason=$5 got
    got=$(jq -r --arg p "$path" '.rejected[]? | select(.path==$p) | .reason' "$out/manifest.json" 2>/dev/null)
    if [ "$rc" -eq 0 ] && [ -n "$got" ] && [[ $got == *"$reason"* ]] && grep -q "could not be captured" "$OUT"; then
      pass "$name: listed as rejected, the command's status stands"
    else
      fail "$name: listed as rejected, the command's status stands" "exit $rc, reason '$got': $(head -c 300 "$OUT")"
      return
    fi
    if ! run_tars apply "$out" --repo "$ws" >"$OUT" 2>&1 && grep -qF "$path" "$OUT"; then
      pass "$name: apply refuses the changeset, naming it"
    else
      fail "$name: apply refuses the changeset, naming it" "$(head -c 300 "$OUT")"
    fi
  }
  out=$(mktemp_ws)/fifo
  run_tars sandbox run --workspace "$ws" --changes-out "$out" -- /bin/sh -c 'mkfifo src/pipe' >"$OUT" 2>&1
  rc=$?
  rejected_ok "a fifo in the changes" "$out" "$rc" src/pipe fifo
  [ ! -e "$ws/src/pipe" ] || fail "a fifo in the changes: the host workspace is unchanged"
  out=$(mktemp_ws)/suid
  run_tars sandbox run --workspace "$ws" --changes-out "$out" -- /bin/sh -c 'cp /bin/true src/t && chmod 4755 src/t; ls -l src/t' >"$OUT" 2>&1
  rc=$?
  if grep -q "Operation not permitted" "$OUT" && [ -e "$out/manifest.json" ] &&
    ! jq -e '.entries[] | select(.path=="src/t") | select(.mode | test("^[4-7]"))' "$out/manifest.json" >/dev/null; then
    # nosuid overlays may refuse the chmod itself: then there is nothing setuid to capture.
    pass "a setuid file in the changes (chmod itself refused)"
  else
    rejected_ok "a setuid file in the changes" "$out" "$rc" src/t setuid
  fi
  out=$(mktemp_ws)/big
  run_tars sandbox run --workspace "$ws" --scratch-size 16M --changes-out "$out" -- /bin/sh -c 'truncate -s 1G sparse' >"$OUT" 2>&1
  rc=$?
  rejected_ok "a sparse file larger than the scratch" "$out" "$rc" sparse exceed
}

t_home_inside_workspace() {
  # A workspace that contains the caller's home: its credential folders stay hidden.
  local home ws
  ws=$(mktemp_ws)
  home=$ws/home
  mkdir -p "$home/.ssh" "$home/project"
  echo "PRIVATE KEY" >"$home/.ssh/id_ed25519"
  echo "code" >"$home/project/file"
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$ws"; fi
  run_id env HOME="$home" "$T" sandbox run --workspace "$ws" -- /bin/sh -c "cat '$home/project/file'; cat '$home/.ssh/id_ed25519'; ls -A '$home/.ssh'" >"$OUT" 2>&1
  if grep -qx code "$OUT" && ! grep -q "PRIVATE KEY" "$OUT" && ! grep -qx id_ed25519 "$OUT"; then
    pass "credentials in a home inside the workspace stay hidden"
  else
    fail "credentials in a home inside the workspace stay hidden" "$(head -c 300 "$OUT")"
  fi
}

# A failed `sed ... > file` empties the file: the changeset says its command failed, and apply
# refuses it unless told otherwise.
t_failed_command() {
  local ws out repo
  repo=$(mktemp_ws)
  printf 'int x = 1;\n' >"$repo/a.c"
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$repo"; fi
  out=$(mktemp_ws)/changes
  run_tars sandbox run --workspace "$repo" --changes-out "$out" -- \
    /bin/sh -c 'sed -e "s/1/2/" no-such-file > a.c' >"$OUT" 2>&1
  local rc=$?
  local st
  st=$(run_tars changes show --json "$out" | jq -r '.exit_status')
  if [ "$rc" -eq 2 ] && [ "$st" = 2 ]; then
    pass "a changeset records its command's exit status"
  else
    fail "a changeset records its command's exit status" "run exit $rc, manifest exit_status $st"
  fi
  run_tars apply "$out" --repo "$repo" >"$OUT" 2>&1
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q 'made by a command that failed (exit status 2)' "$OUT" &&
    [ "$(cat "$repo/a.c")" = "int x = 1;" ]; then
    pass "apply refuses a changeset whose command failed"
  else
    fail "apply refuses a changeset whose command failed" "exit $rc: $(head -c 300 "$OUT")"
  fi
  if run_tars apply "$out" --repo "$repo" --allow-failed >"$OUT" 2>&1 && [ ! -s "$repo/a.c" ]; then
    pass "apply --allow-failed takes it"
  else
    fail "apply --allow-failed takes it" "$(head -c 300 "$OUT")"
  fi
}

t_library_as_identity() {
  # The library's own tests (captured output, statuses, timeouts, leftovers, changes) for this
  # identity: the root run is ctest's unit/test_sandbox.
  [ "$IDENTITY" = user ] || { pass "library tests as root run as unit/test_sandbox"; return; }
  local bin=$TARS_BUILD/tests/test_sandbox
  if [ ! -x "$bin" ]; then skip "library tests as the user" "no $bin"; return; fi
  cp "$bin" "$TARS_TMP/test_sandbox" && chmod 0755 "$TARS_TMP/test_sandbox"
  if run_id "$TARS_TMP/test_sandbox" >"$OUT" 2>&1; then
    pass "library tests (unit/test_sandbox) as the user"
  else
    fail "library tests (unit/test_sandbox) as the user" "$(grep -E 'FAILED|ERROR' "$OUT" | head -5 | tr '\n' ' ')"
  fi
}

for_each_identity t_every_operation
for_each_identity t_no_changes
for_each_identity t_layers
for_each_identity t_rootfs
for_each_identity t_refusals
for_each_identity t_home_inside_workspace
for_each_identity t_failed_command
for_each_identity t_library_as_identity
