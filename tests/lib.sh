# tests/lib.sh: what the integration and security tests share.  Source it, write test functions,
# run them with for_each_identity (as root, then as the unprivileged user tars-test):
#
#   . "$TARS_SRC/tests/lib.sh"
#   t_true () {
#     local ws; ws=$(mktemp_ws)
#     if run_tars sandbox run --workspace "$ws" -- /bin/true; then pass true; else fail true "exit $?"; fi
#   }
#   for_each_identity t_true
#
# ctest sets TARS (the binary), TARS_BUILD, TARS_SRC and TARS_HELPERS.  Inside a test function
# $IDENTITY is root or user, $T is the tars binary and $H the helpers directory that identity can
# run, run_id runs a command as that identity and run_tars runs $T as it.  At exit the temporary
# files are removed, "N passed, N failed, N skipped" is printed, and the status is 1 when a test
# failed (or the script itself did).

: "${TARS_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${TARS_BUILD:=$TARS_SRC/build}"
: "${TARS:=$TARS_BUILD/tars}"
: "${TARS_HELPERS:=$TARS_BUILD/tests/helpers}"
TARS_TEST_USER=tars-test

IDENTITY=""
T=$TARS
H=""
_tl_passed=0
_tl_failed=0
_tl_skipped=0
_tl_user_bin=""

# Everything a test makes goes below one directory, removed at exit.  Mode 0755 so that the test
# user can reach what is made for it below.  Not below /tmp or /var/tmp: sandboxes have their own,
# and must see the helpers and workspaces made here.  As root, a directory of its own in /var/lib;
# otherwise the build tree.
if [ -z "${TARS_TEST_BASE:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then TARS_TEST_BASE=/var/lib/tars-test; else TARS_TEST_BASE=$TARS_BUILD/test-tmp; fi
fi
mkdir -p "$TARS_TEST_BASE" && chmod 0755 "$TARS_TEST_BASE" || exit 1
TARS_TMP=$(mktemp -d "$TARS_TEST_BASE/tars-test.XXXXXX") || exit 1
chmod 0755 "$TARS_TMP"

_tl_label() {
  if [ -n "$IDENTITY" ]; then printf '%s [%s]' "$1" "$IDENTITY"; else printf '%s' "$1"; fi
}
pass() {
  _tl_passed=$((_tl_passed + 1))
  echo "PASS: $(_tl_label "$1")"
}
fail() {
  _tl_failed=$((_tl_failed + 1))
  echo "FAIL: $(_tl_label "$1")${2:+: $2}"
}
skip() {
  _tl_skipped=$((_tl_skipped + 1))
  echo "SKIP: $(_tl_label "$1")${2:+: $2}"
}

_tl_finish() {
  local rc=$?
  # --one-file-system: should a sandbox ever leave a mount behind, do not delete through it.
  rm -rf --one-file-system "$TARS_TMP" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$_tl_failed" -eq 0 ]; then
    IDENTITY="" fail "the test script" "exited with status $rc"
  fi
  echo "$_tl_passed passed, $_tl_failed failed, $_tl_skipped skipped"
  if [ "$_tl_failed" -gt 0 ]; then exit 1; fi
  exit "$rc"
}
trap _tl_finish EXIT

# Create the unprivileged user (when root) and copies of tars and the helpers it can run: the
# build tree may sit below directories it cannot enter, and opening those up is not ours to do
# on a developer's machine.  Returns 1 when not root.
tars_test_user() {
  [ "$(id -u)" -eq 0 ] || return 1
  if ! id -u "$TARS_TEST_USER" >/dev/null 2>&1; then
    # Tests run in parallel: one useradd at a time.  The lock is taken on /etc/passwd itself
    # (read-only, which useradd's own locking ignores) rather than on a file in a shared /tmp.
    (
      flock 9
      id -u "$TARS_TEST_USER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$TARS_TEST_USER"
    ) 9</etc/passwd || return 1
  fi
  _tl_copy_bins
}

# Copies of tars and the helpers below $TARS_TMP, for every identity: the build tree may sit
# below directories the test user cannot enter, or below /tmp, which sandboxes do not see.
_tl_copy_bins() {
  if [ -z "$_tl_user_bin" ]; then
    local d=$TARS_TMP/bin
    mkdir -p "$d/helpers" || return 1
    cp "$TARS" "$d/tars" || return 1
    if [ -d "$TARS_HELPERS" ]; then
      find "$TARS_HELPERS" -maxdepth 1 -type f -perm -u+x -exec cp {} "$d/helpers/" \; || return 1
    fi
    chmod -R a+rX "$d" || return 1
    _tl_user_bin=$d
  fi
}
_tl_copy_bins || exit 1
H=$_tl_user_bin/helpers

# run_as_user CMD [ARG...]: run CMD as tars-test, from /, with the caller's environment.
run_as_user() {
  if command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$TARS_TEST_USER" -- "$@")
  else
    (cd / && setpriv --reuid="$TARS_TEST_USER" --regid="$TARS_TEST_USER" --init-groups -- "$@")
  fi
}

# run_id CMD [ARG...]: run CMD as the current test identity.
run_id() {
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then run_as_user "$@"; else "$@"; fi
}

# run_tars ARG...: run tars as the current test identity.
run_tars() {
  run_id "$T" "$@"
}

# mktemp_ws: print the path of a new, empty workspace directory, owned by the current identity.
mktemp_ws() {
  local d
  d=$(mktemp -d "$TARS_TMP/ws.XXXXXX") || return 1
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then
    chown "$TARS_TEST_USER:" "$d" || return 1
  fi
  printf '%s\n' "$d"
}

# for_each_identity FUNC [ARG...]: run FUNC as root and again as tars-test.  Not root: run it
# once as the current (unprivileged) user, and report the root run as skipped.
for_each_identity() {
  local fn=$1
  shift
  if [ "$(id -u)" -eq 0 ]; then
    IDENTITY=root T=$TARS H=$_tl_user_bin/helpers
    "$fn" "$@"
    if tars_test_user; then
      IDENTITY=user T=$_tl_user_bin/tars H=$_tl_user_bin/helpers
      "$fn" "$@"
    else
      IDENTITY=user
      skip "$fn" "could not set up the user $TARS_TEST_USER"
    fi
  else
    IDENTITY=user T=$TARS H=$_tl_user_bin/helpers
    "$fn" "$@"
    IDENTITY=root
    skip "$fn" "not running as root"
  fi
  IDENTITY="" T=$TARS H=$_tl_user_bin/helpers
}
