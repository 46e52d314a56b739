#!/bin/bash
# The escape battery: every attack below runs inside `tars sandbox run`, as root and as an
# unprivileged user, and must fail.  An attack passes only when the attack helper reports it
# blocked (or the sandbox killed it, for the bombs) AND its side effect is absent on the host.
#
# The helpers are tests/helpers/attack.c (exit 0 only when the attack succeeded, 1 blocked,
# 77 precondition missing) and tests/helpers/probe.c (host-side listeners).
#
# Environment: TARS (the tars binary), TARS_HELPERS (the built helpers).  Must run as root: the
# unprivileged identity is made with tests/lib.sh's tars_test_user.
# ESCAPE_ONLY=regex runs only the attacks whose names match; ESCAPE_IDENTITIES="root user" picks
# the identities; ESCAPE_VERBOSE=1 prints every attack's output.
set -u
SEC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$SEC_DIR/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  skip "escape battery" "must run as root (it runs as root and as $TARS_TEST_USER)"
  exit 0
fi

ESCAPE_ONLY=${ESCAPE_ONLY:-}
ESCAPE_VERBOSE=${ESCAPE_VERBOSE:-0}

# ---- host-side state and checks -----------------------------------------------------------

declare -A BASELINE

# What a write, chmod, chown, truncate, utime or xattr would change.
fstate() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    stat -c '%F %a %u %g %s %Y %h' -- "$1"
    [ -f "$1" ] && sha256sum <"$1"
    getfattr -d -m - --absolute-names -- "$1" 2>/dev/null | grep -v '^#'
  else
    echo absent
  fi
}

# A digest of a whole tree: names, types, modes, owners, sizes, mtimes, link targets, contents.
tree_state() {
  (
    cd "$1" || exit 1
    find . -printf '%p %y %m %u %g %s %T@ %l\n' | LC_ALL=C sort
    find . -type f -exec sha256sum {} + | LC_ALL=C sort
  ) | sha256sum
}

remember() { local p; for p in "$@"; do BASELINE[$p]=$(fstate "$p"); done; }
remember_tree() { BASELINE["tree:$1"]=$(tree_state "$1"); }

# Checks: each returns 0 when the host is clean and prints what is wrong otherwise.
unchanged() {
  local p now
  for p in "$@"; do
    now=$(fstate "$p")
    if [ "$now" != "${BASELINE[$p]}" ]; then
      echo "host file $p changed: was [${BASELINE[$p]}] now [$now]"
      return 1
    fi
  done
}
tree_unchanged() {
  if [ "$(tree_state "$1")" != "${BASELINE["tree:$1"]}" ]; then
    echo "host tree $1 changed:"
    (cd "$1" && find . -newer "$SETUP_STAMP" -printf '  %p %y %m %u %s\n' | head -20)
    return 1
  fi
}
absent() {
  local p
  for p in "$@"; do
    if [ -e "$p" ] || [ -L "$p" ]; then
      echo "host path $p exists: $(stat -c '%F %a %U' -- "$p")"
      return 1
    fi
  done
}
alive() {
  if ! kill -0 "$1" 2>/dev/null; then
    echo "host process $1 is dead"
    return 1
  fi
}
log_empty() {
  if [ -s "$1" ]; then
    echo "host listener logged: $(head -3 "$1" | tr '\n' ' ')"
    return 1
  fi
}
host_hostname() {
  if [ "$(hostname)" != "$HOST_HOSTNAME" ]; then
    echo "host hostname changed to $(hostname)"
    return 1
  fi
}
no_suid_below() {
  local f
  f=$(find "$@" -perm /6000 2>/dev/null | head -5)
  if [ -n "$f" ]; then
    echo "setuid/setgid files on the host: $f"
    return 1
  fi
}
# Checks the changeset of the setuid attack: no entry, or an entry whose mode has no 6000 bits.
manifest_no_suid() {
  local m=$1/manifest.json
  [ -f "$m" ] || return 0
  python3 - "$m" <<'EOF'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:
    print("manifest.json does not parse: %s" % e); sys.exit(1)
bad = [e for e in doc.get("entries", []) if int(str(e.get("mode") or "0"), 8) & 0o6000]
if bad:
    print("manifest.json keeps setuid/setgid entries: %s" % bad); sys.exit(1)
EOF
}
# No object of a changeset holds a secret the sandbox could only have named through a symlink.
changeset_no_secrets() {
  local d=$1 secret f
  [ -d "$d" ] || return 0
  for secret in "$(head -1 /etc/shadow)" "$(cat "$ROOT_SECRET")" "$(cat "$ID_HOME/.ssh/$KEYNAME")"; do
    f=$(grep -rlF -- "$secret" "$d" 2>/dev/null | head -3)
    if [ -n "$f" ]; then
      echo "the changeset holds a host secret ($secret) in: $f"
      return 1
    fi
  done
}
no_special_files_below() {
  local f
  f=$(find "$@" \( -type p -o -type s -o -type b -o -type c \) 2>/dev/null | head -5)
  if [ -n "$f" ]; then
    echo "special files on the host: $f"
    return 1
  fi
}
# No deletion in a changeset whose command deleted nothing.
manifest_no_delete() {
  local m=$1/manifest.json
  [ -f "$m" ] || return 0
  python3 - "$m" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
bad = [e for e in doc.get("entries", []) if e.get("op") == "delete" or e.get("path", "").startswith("sub/")]
if bad:
    print("forged overlay xattrs became changes: %s" % bad); sys.exit(1)
EOF
}
# Every object of a changeset matches the sha256 and size its manifest entry gives.
changeset_consistent() {
  local m=$1/manifest.json
  [ -f "$m" ] || { echo "no manifest.json in $1"; return 1; }
  python3 - "$1" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
bad = []
for e in json.load(open(os.path.join(d, "manifest.json"))).get("entries", []):
    if e.get("sha256") and e.get("op") in ("create", "modify"):
        p = os.path.join(d, "objects", e["sha256"])
        if not os.path.isfile(p):
            bad.append("%s: no object" % e["path"]); continue
        data = open(p, "rb").read()
        if hashlib.sha256(data).hexdigest() != e["sha256"] or len(data) != e.get("size"):
            bad.append("%s: object does not match (size %d vs %s)" % (e["path"], len(data), e.get("size")))
if bad:
    print("; ".join(bad)); sys.exit(1)
EOF
}
# The fills write about 1 GiB; if it landed on the host's disk, use grows by most of it.  The
# baseline is taken just before each fill (the disk is shared with whatever else runs), and the
# threshold is well above what other work does in a few seconds.
disk_used_kb() { df -Pk "$BASE" | awk 'NR==2 {print $3}'; }
disk_not_filled() {
  local now
  now=$(disk_used_kb)
  if [ $((now - DISK_USED_KB)) -gt $((700 * 1024)) ]; then
    echo "host disk use grew by $(((now - DISK_USED_KB) / 1024)) MiB during the fill"
    return 1
  fi
}
host_forks() {
  local t0=$(date +%s%N)
  if ! timeout 5 /bin/true; then
    echo "the host could not run /bin/true within 5 s"
    return 1
  fi
  local ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$ms" -gt 2000 ]; then
    echo "the host took $ms ms to run /bin/true"
    return 1
  fi
}
all_of() {
  local c
  for c in "$@"; do
    eval "$c" || return 1
  done
}

# The log of the attack being checked ($log, local to attack) holds no success.
log_clean() {
  if grep -q 'ATTACK SUCCEEDED' "$log"; then
    echo "$(grep -m1 'ATTACK SUCCEEDED' "$log")"
    return 1
  fi
}
log_has() {
  if ! grep -qF -- "$1" "$log"; then
    echo "the output does not say: $1"
    return 1
  fi
}
# A limit the attack got past must be one tars said binds each process only.
limits_honest() {
  grep -q 'ATTACK SUCCEEDED' "$log" || return 0
  if ! grep -q "bind each process" "$log"; then
    echo "the attack got past the $1 limit and tars did not say that it binds each process only"
    return 1
  fi
}
# A workspace file of another group: changed inside, or refused up front naming it; never
# EOVERFLOW from the copy-up.
group_handled() {
  if grep -q 'Value too large' "$log"; then
    echo "the copy-up failed inside: $(grep -m1 'Value too large' "$log")"
    return 1
  fi
  if grep -q 'changed it' "$log" && [ "$rc" -eq 0 ]; then return 0; fi
  if [ "${1:-}" != mapped ] && [ "$rc" -eq 2 ] && grep -q 'shared.txt has the group' "$log"; then
    return 0
  fi
  echo "neither changed nor refused by name (exit $rc)"
  return 1
}
# The capture went through: the command's status stands, the manifest lists the unrepresentable
# path as rejected (REASON) and still holds the good file.
changeset_rejects() {
  local d=$1 reason=$2 good=$3
  if [ "$rc" -ne 0 ]; then
    echo "tars exited $rc: the capture failed"
    return 1
  fi
  python3 - "$d" "$reason" "$good" <<'EOF2'
import json, os, sys
d, reason, good = sys.argv[1:]
try:
    m = json.load(open(os.path.join(d, "manifest.json")))
except Exception as e:
    print("no readable manifest.json: %s (%s)" % (e, os.listdir(d) if os.path.isdir(d) else "no dir")); sys.exit(1)
if not any(reason in r.get("reason", "") for r in m.get("rejected", [])):
    print("no rejected entry saying '%s': %s" % (reason, m.get("rejected"))); sys.exit(1)
if not any(e.get("path") == good for e in m.get("entries", [])):
    print("%s was not captured beside it" % good); sys.exit(1)
EOF2
}

# ---- running one attack -------------------------------------------------------------------

# sec_sandbox TARS-OPTION... -- COMMAND...: tars sandbox run as the current identity, with the
# host's secret in its environment.  The battery's host files ($BASE: the victims, the outside
# directory, the root-only secret), the helpers and tars are shown read-only: the default view
# holds nothing of the host but /usr, /etc, /opt and the like, and an attack on a file it cannot
# see proves nothing.  timeout(1) is only a guard against a hung battery.
# WRAP=tty runs tars under script(1) with a pty; WRAP=fds opens host descriptors first;
# WRAP=stdin-dir, stdin-opath and stdin-file give it a host directory, an O_PATH descriptor of
# one, or a host file as stdin; WRAP=stdout-file appends its output to a host file that holds a
# secret.  HOME_ENV=PATH sets $HOME.
sec_sandbox() {
  local -a ws=(--workspace "$WS")
  case " $* " in *" --workspace "*) ws=() ;; esac
  local -a view=(--ro-bind "$BASE" --ro-bind "$T")
  case $H in "$BASE"/*) ;; *) view+=(--ro-bind "$H") ;; esac
  local -a cmd=(env "TARS_SECRET=$TARS_SECRET" ${HOME_ENV:+"HOME=$HOME_ENV"} timeout --foreground
    -s KILL 120 "$T" sandbox run "${ws[@]}" "${view[@]}" "$@")
  case ${WRAP:-} in
    tty) run_id script -qec "$(printf '%q ' "${cmd[@]}")" /dev/null </dev/null ;;
    fds)
      run_id bash -c 'exec 7</etc/hostname 8<"$1" 9>>"$1/fd-leak"; shift; exec "$@"' _ \
        "$OUTSIDE" "${cmd[@]}" </dev/null
      ;;
    stdin-dir) run_id "${cmd[@]}" <"$OPEN_DIR" ;;
    stdin-opath) run_id "$H/probe" opath-exec 0 "$OPEN_DIR" "$(command -v env)" "${cmd[@]:1}" ;;
    stdin-file) run_id "${cmd[@]}" <"$OUTSIDE/victim.txt" ;;
    stdout-file)
      # What the host file held before must not be readable from inside; the verdict lines the
      # attack appended are copied to the log.
      printf 'OLD LOG %s\n' "$LOG_SECRET" >"$OUTSIDE/out.log"
      chown "$ID_UID:$ID_GID" "$OUTSIDE/out.log"
      local rc
      run_id "${cmd[@]}" </dev/null >>"$OUTSIDE/out.log"
      rc=$?
      grep -v "^OLD LOG" "$OUTSIDE/out.log"
      return $rc
      ;;
    *) run_id "${cmd[@]}" </dev/null ;;
  esac
}

# Helper processes still running once tars has returned (given a moment to be reaped), killed.
sec_leftovers() {
  local pids i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(pgrep -f -- "^($H/attack|$H/probe sleep 300)" | tr '\n' ' ')
    [ -z "$pids" ] && return 0
    sleep 0.3
  done
  echo "$pids: $(ps -o pid=,user=,args= -p "${pids// /,}" 2>/dev/null | head -5 | tr '\n' ';')"
  kill -9 $pids 2>/dev/null
}

# attack NAME EXPECT CHECK DESCRIPTION [TARS-OPTION...] -- COMMAND...
#   EXPECT  blocked: the helper must say "blocked" (77: SKIP);
#           side:    the helper only has to have run; CHECK decides;
#           killed:  the sandbox must end the command (status != 0, not "ATTACK SUCCEEDED")
#                    within MAX_SECONDS (set by the caller, default 30);
#           refused: tars must refuse (status != 0), or the helper must say "blocked"; CHECK.
#   CHECK   shell code run on the host afterwards (0: clean), "" for none.
# Options: WRAP=tty runs tars under script(1) with a pty; WRAP=fds opens host descriptors first.
attack() {
  local name=$1 expect=$2 check=$3 desc=$4
  shift 4
  local -a opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  shift
  if [ -n "$ESCAPE_ONLY" ] && ! [[ $name =~ $ESCAPE_ONLY ]]; then
    return 0
  fi
  local label="$name: $desc"
  local log=$LOGDIR/$IDENTITY.$name.log
  case " ${opts[*]} " in *" --timeout "*) ;; *) opts+=(--timeout 20) ;; esac
  local t0=$SECONDS rc
  sec_sandbox "${opts[@]}" -- "$@" >"$log" 2>&1
  rc=$?
  local took=$((SECONDS - t0))
  echo "(exit $rc after ${took}s)" >>"$log"
  [ "$ESCAPE_VERBOSE" = 1 ] && sed "s/^/    /" "$log"

  local why=""
  local ran=0
  grep -q -e '^started \[' -e '^blocked \[' -e 'ATTACK SUCCEEDED' -e '^skip \[' "$log" && ran=1
  case $expect in
    blocked)
      if grep -q 'ATTACK SUCCEEDED' "$log"; then
        why="the attack succeeded"
      elif grep -q '^skip \[' "$log"; then
        skip "$label" "($(grep -m1 '^skip \[' "$log" | sed 's/^skip \[[^]]*\]: //'))"
        return 0
      elif [ $ran = 0 ]; then
        why="the attack did not run (tars exit $rc)"
      elif ! grep -q '^blocked \[' "$log" && [ "$rc" -lt 128 ]; then
        # No verdict and not killed by a signal (a seccomp kill would be one): unexplained.
        why="the helper gave no verdict (exit $rc)"
      fi
      ;;
    side)
      [ $ran = 0 ] && why="the attack did not run (tars exit $rc)"
      ;;
    refused)
      if [ $ran = 0 ] && [ $rc = 0 ]; then
        why="the attack did not run (tars exit 0)"
      elif [ "$took" -gt "${MAX_SECONDS:-30}" ]; then
        why="tars needed ${took}s (limit ${MAX_SECONDS:-30}s)"
      fi
      ;;
    killed)
      if grep -q 'ATTACK SUCCEEDED' "$log"; then
        why="the attack succeeded"
      elif [ $rc = 0 ]; then
        why="the command ended with status 0"
      elif [ "$took" -gt "${MAX_SECONDS:-30}" ]; then
        why="the sandbox needed ${took}s to end it (limit ${MAX_SECONDS:-30}s)"
      elif [ $ran = 0 ]; then
        why="the attack did not run (tars exit $rc)"
      fi
      ;;
  esac
  if [ -z "$why" ] && [ -n "$check" ]; then
    local out
    out=$(eval "$check" 2>&1) || why="side effect on the host: $out"
  fi
  if [ -z "$why" ]; then
    local left
    left=$(sec_leftovers)
    [ -n "$left" ] && why="processes left running after the sandbox ended: $left"
  fi
  if [ -z "$why" ]; then
    pass "$label"
  else
    fail "$label" "$why"
    sed 's/^/    | /' "$log" | tail -15
  fi
}

# ---- the battery ----------------------------------------------------------------------------

battery() {
  local A=$H/attack P=$H/probe
  local W=$WS O=$OUTSIDE V=$OUTSIDE/victim.txt V2=$OUTSIDE/victim2.txt
  local M=tars-escape-$IDENTITY-$$
  local W_REL_V=../outside/victim.txt

  # -- host files: write, create, delete, metadata
  attack etc-passwd-write blocked "unchanged /etc/passwd" \
    "open /etc/passwd for writing" -- $A openw /etc/passwd
  attack root-create blocked "absent /$M" \
    "create a file in /" -- $A create /$M
  attack host-file-write blocked "unchanged $V" \
    "append to a host file the caller may write (mode 0666)" -- $A write $V
  attack host-dir-create blocked "absent $O/$M" \
    "create a file in a host directory the caller owns" -- $A create $O/$M
  attack host-dir-mkdir blocked "absent $O/$M.d" \
    "mkdir in a host directory the caller owns" -- $A mkdir $O/$M.d
  attack host-unlink blocked "unchanged $V" \
    "delete a host file" -- $A unlink $V
  attack host-rename-out blocked "all_of 'absent $O/$M.ren' 'unchanged $W/keep.txt'" \
    "rename a workspace file out to the host" -- $A rename $W/keep.txt $O/$M.ren
  attack host-truncate blocked "unchanged $V" \
    "truncate a host file" -- $A truncate $V
  attack host-utime blocked "unchanged $V" \
    "set a host file's times" -- $A utime $V
  attack host-setxattr blocked "unchanged $V" \
    "set an xattr on a host file" -- $A setxattr $V
  attack host-chmod-suid blocked "unchanged $V" \
    "chmod u+s a host file" -- $A chmod_suid $V
  attack host-chown blocked "unchanged $V" \
    "chown a host file to root" -- $A chown $V
  attack host-fd-reopen blocked "unchanged $V" \
    "reopen a read-only fd of a host file for writing via /proc/self/fd" -- $A fd_reopen $V
  attack host-tmpfile-link blocked "absent $O/$M.tmpfile" \
    "O_TMPFILE in a host dir, then linkat it in" -- $A tmpfile_link $O $O/$M.tmpfile
  attack host-fifo blocked "absent $O/$M.fifo" \
    "mknod a fifo at a host path" -- $A mknod $O/$M.fifo p

  # -- links and ..
  attack symlink-write blocked "unchanged $V" \
    "symlink in the workspace to a host file, write through it" -- $A symlink_write $V $W/evil-symlink
  attack symlink-preexisting blocked "unchanged $V" \
    "write through a symlink the workspace already had (-> host file)" -- $A write $W/pre-symlink
  attack hardlink-write blocked "unchanged $V" \
    "hard link a host file into the workspace, write through it" -- $A hardlink_write $V $W/evil-hardlink
  attack hardlink-root-file blocked "unchanged /etc/passwd" \
    "hard link /etc/passwd into the workspace, write through it" -- $A hardlink_write /etc/passwd $W/evil-passwd
  attack hardlink-preexisting side "all_of 'unchanged $V2' 'tree_unchanged $W'" \
    "write through a hard link the workspace already had (-> host file)" -- $A write $W/pre-hardlink
  attack dotdot-write blocked "unchanged $V" \
    "write ../outside/victim.txt from the workspace" -- $A write $W_REL_V
  attack dotdot-create blocked "absent /var/lib/$M.dotdot" \
    "create ../../../../../../var/lib/x from the workspace" -- $A create ../../../../../../../../var/lib/$M.dotdot
  attack proc-root-write blocked "unchanged $V" \
    "write /proc/1/root/../../..$V" -- $A write /proc/1/root/../../..$V
  attack proc-self-root-create blocked "absent $O/$M.procroot" \
    "create via /proc/self/root/../..$O" -- $A create /proc/self/root/../..$O/$M.procroot

  # -- the workspace itself
  attack workspace-direct side "tree_unchanged $W" \
    "modify, delete, chmod, rename and add in the workspace: the host copy must not change" -- \
    /bin/sh -c "echo pwned >$W/keep.txt; rm -f $W/other.txt; mkdir $W/newdir; echo new >$W/new.txt;
                chmod 700 $W/sub; mv $W/sub/file $W/moved; ln -s /etc/passwd $W/newlink;
                rm -rf $W/deldir; $A create $W/created"
  attack workspace-setuid refused "all_of 'absent $W/suid.sh' 'no_suid_below $W $CHANGES/suid' 'manifest_no_suid $CHANGES/suid'" \
    "create a setuid file in the workspace: the changeset must refuse or strip it" \
    --changes-out $CHANGES/suid -- $A setuid_file $W/suid.sh
  attack changeset-symlink-exfil side \
    "all_of 'changeset_no_secrets $CHANGES/symlinks' 'tree_unchanged $W'" \
    "symlinks to /etc/shadow, a root-only file and the caller's key: the changeset must not copy them" \
    --changes-out $CHANGES/symlinks -- /bin/sh -c "ln -s /etc/shadow $W/s1; ln -s $ROOT_SECRET $W/s2;
      ln -s $ID_HOME/.ssh/$KEYNAME $W/s3; mkdir $W/sd; ln -s /etc $W/sd/etc;
      echo 'blocked [symlinks]: made; the changeset check decides'"
  attack changeset-race side "all_of 'changeset_consistent $CHANGES/race' 'tree_unchanged $W'" \
    "a background writer still appending when the command exits: the changeset must be consistent" \
    --changes-out $CHANGES/race -- /bin/sh -c "(while :; do echo xxxxxxxxxxxxxxxxxxxxxxxx >>$W/grow; done) &
      sleep 0.3; echo 'started [race]'; exit 0"
  attack changeset-fifo refused "all_of 'no_special_files_below $W $CHANGES/fifo' 'tree_unchanged $W'" \
    "a fifo in the workspace: capturing the changes must not hang or copy it" \
    --changes-out $CHANGES/fifo -- $A mknod $W/fifo p
  attack changeset-socket refused "all_of 'no_special_files_below $W $CHANGES/socket' 'tree_unchanged $W'" \
    "a unix socket in the workspace: the changeset must refuse it" \
    --changes-out $CHANGES/socket -- $A bind_unix $W/sock
  # Since Linux 6.7 overlayfs escapes its own xattr names set through the mount, so the forgery
  # itself may work; what matters is that neither the overlay nor the capture honours it.
  attack overlay-xattr-forge side "all_of 'manifest_no_delete $CHANGES/xattr' 'tree_unchanged $W'" \
    "forge user.overlay.opaque/whiteout/redirect: the changeset must not turn them into deletions" \
    --changes-out $CHANGES/xattr -- /bin/sh -c "$A setxattr $W/sub user.overlay.opaque y;
      : >$W/wh; $A setxattr $W/wh user.overlay.whiteout y; $A setxattr $W/deldir user.overlay.redirect /etc;
      test -f $W/sub/file || echo 'ATTACK SUCCEEDED [overlay]: sub/file vanished inside'"
  attack overlay-xattr-trusted blocked "tree_unchanged $W" \
    "forge trusted.overlay.redirect through the overlay" -- \
    $A setxattr $W/sub trusted.overlay.redirect /etc
  attack mknod-char blocked "tree_unchanged $W" \
    "mknod a character device (1,1 = /dev/mem) in the workspace" -- $A mknod $W/mem c
  attack mknod-block blocked "" \
    "mknod a block device (8,0) in /tmp" -- $A mknod /tmp/sda b
  attack overlay-dirs blocked "tree_unchanged $W" \
    "write into overlay lowerdir/upperdir paths read from /proc/self/mountinfo" -- $A overlay_dirs
  attack rw-mount-scan blocked "" \
    "create a file at the root of every read-write mount but the sandbox's own" -- $A rw_mounts $W
  attack host-tmp side "absent /tmp/$M" \
    "create a file in /tmp: it must not reach the host's /tmp" -- $A create /tmp/$M
  attack host-devshm side "absent /dev/shm/$M" \
    "create a file in /dev/shm: it must not reach the host's" -- $A create /dev/shm/$M

  # -- secrets
  attack etc-shadow blocked "" "read /etc/shadow" -- $A read /etc/shadow
  attack etc-gshadow blocked "" "read /etc/gshadow" -- $A read /etc/gshadow
  attack user-ssh-key blocked "" \
    "read the caller's key $ID_HOME/.ssh/$KEYNAME" -- $A read $ID_HOME/.ssh/$KEYNAME
  attack root-ssh-key blocked "" \
    "read root's key /root/.ssh/$KEYNAME" -- $A read /root/.ssh/$KEYNAME
  attack home-list blocked "" "list /home" -- $A list /home
  # The usual case: the workspace is a repository inside the caller's home.
  attack ws-in-home-key blocked "" \
    "workspace inside the caller's home: read $ID_HOME/.ssh/$KEYNAME" --workspace $HOME_WS -- \
    $A read $ID_HOME/.ssh/$KEYNAME
  attack ws-in-home-dotdot blocked "" \
    "workspace inside the caller's home: read ../.ssh/$KEYNAME" --workspace $HOME_WS -- \
    $A read ../.ssh/$KEYNAME
  attack ws-in-home-list blocked "" \
    "workspace inside the caller's home: list the home" --workspace $HOME_WS -- \
    /bin/sh -c "cd $HOME_WS && $A list .. ${HOME_WS##*/}"
  attack ws-is-home-key blocked "" \
    "workspace is the caller's home: read .ssh/$KEYNAME" --workspace $ID_HOME -- \
    $A read $ID_HOME/.ssh/$KEYNAME
  attack ws-is-home-ssh-list blocked "" \
    "workspace is the caller's home: list .ssh" --workspace $ID_HOME -- $A list $ID_HOME/.ssh
  attack ws-is-home-git-credentials blocked "" \
    "workspace is the caller's home: read .git-credentials" --workspace $ID_HOME -- \
    $A read $ID_HOME/.git-credentials
  attack caller-home-list blocked "" "list the caller's home $ID_HOME" -- $A list $ID_HOME
  attack docker-sock-stat blocked "" "stat /var/run/docker.sock" -- $A stat /var/run/docker.sock
  attack docker-sock-connect blocked "" "connect to /run/docker.sock" -- $A connect_unix /run/docker.sock
  attack docker-sock-proc-root blocked "" \
    "connect to /proc/1/root/var/run/docker.sock" -- $A connect_unix /proc/1/root/var/run/docker.sock
  # Files only root may read: the sandbox runs as root's uid when root runs it on a root-owned
  # workspace, without capabilities, but the owner's permission bits still apply.
  if [ -e /etc/ssl/private/ssl-cert-snakeoil.key ]; then
    attack ssl-private-key blocked "" "read /etc/ssl/private/ssl-cert-snakeoil.key (root-only)" -- \
      $A read /etc/ssl/private/ssl-cert-snakeoil.key
  else
    skip "ssl-private-key" "no /etc/ssl/private/ssl-cert-snakeoil.key on this host"
  fi
  if [ -d /var/lib/docker ]; then
    attack docker-state blocked "" "list /var/lib/docker (root-only: container configs)" -- \
      $A list /var/lib/docker
  else
    skip "docker-state" "no /var/lib/docker on this host"
  fi
  attack root-only-file blocked "" "read a host file of mode 0600 owned by root ($ROOT_SECRET)" -- \
    $A read $ROOT_SECRET
  attack env-secret blocked "" \
    "find the host's TARS_SECRET in any visible environment" -- $A env_scan TARS_SECRET

  # -- mounts and namespaces
  attack mount-tmpfs blocked "" "mount a tmpfs" -- $A mount_tmpfs $W
  attack remount-root-rw blocked "" "remount / read-write" -- $A remount_rw /
  attack remount-etc-rw blocked "" "remount /etc read-write" -- $A remount_rw /etc
  attack bind-mount blocked "" "bind-mount /etc over the workspace" -- $A bind /etc $W
  attack umount-home blocked "" "unmount the mask on /home to reveal it" -- $A umount /home
  attack umount-shadow blocked "" "unmount the mask on /etc/shadow" -- $A umount /etc/shadow
  attack pivot-root blocked "" "pivot_root" -- $A pivot_root
  attack fsopen blocked "" "new mount API: fsopen+fsmount a tmpfs" -- $A fsopen
  attack open-tree blocked "" "new mount API: open_tree(CLONE)+move_mount" -- $A open_tree $W
  attack mount-setattr blocked "" "mount_setattr: clear read-only on /" -- $A mount_setattr /
  attack unshare-user-mnt blocked "" \
    "nested user+mount namespace, then mount" -- $A unshare user mnt
  attack unshare-mnt blocked "" "unshare a mount namespace" -- $A unshare mnt
  attack unshare-net blocked "" "unshare a network namespace" -- $A unshare net
  attack clone-newuser blocked "" "clone(CLONE_NEWUSER)" -- $A clone_ns user
  attack clone3 blocked "" "clone3 with namespace flags" -- $A clone3
  attack setns-pid1 blocked "" "setns into /proc/1/ns/mnt" -- /bin/sh -c "$A setns /proc/1/ns/mnt; exit \$?"
  attack setns-user blocked "" "setns into /proc/self/ns/user" -- $A setns /proc/self/ns/user
  attack chroot-escape blocked "" "mkdir + chroot + cd .. + chroot ." -- $A chroot_escape
  attack compat-i386 blocked "" "unshare/mount through the i386 syscall ABI (int \$0x80)" -- \
    $A compat_abi i386
  attack compat-x32 blocked "" "unshare/mount through the x32 syscall ABI" -- $A compat_abi x32
  attack setuid-mount blocked "" "run the host's setuid mount(8) to mount a tmpfs" -- \
    $A run /usr/bin/mount -t tmpfs none $W
  attack nested-sandbox blocked "" "run tars sandbox run inside the sandbox" -- \
    $A run $T sandbox run -- /bin/true

  # -- other processes
  attack ptrace-child blocked "" "ptrace a child (ATTACH and TRACEME)" -- $A ptrace_child
  attack ptrace-pid1 blocked "" "ptrace the sandbox's pid 1" -- /bin/sh -c "$A ptrace_pid 1; exit \$?"
  attack ptrace-host blocked "alive $HOSTPID" \
    "ptrace a host process by its pid ($HOSTPID)" -- $A ptrace_pid $HOSTPID
  attack vm-read-pid1 blocked "" \
    "process_vm_readv of the sandbox's pid 1" -- /bin/sh -c "$A vm_read 1; exit \$?"
  attack vm-read-host blocked "alive $HOSTPID" \
    "process_vm_readv of a host process" -- $A vm_read $HOSTPID
  attack host-proc-visible blocked "" \
    "see the host process in /proc" -- $A stat /proc/$HOSTPID/cmdline
  attack kill-host blocked "alive $HOSTPID" \
    "SIGKILL a host process by its pid" -- $A kill $HOSTPID
  attack kill-all side "alive $HOSTPID" "kill(-1, SIGKILL)" -- $A kill_all
  attack proc-exe-pid1 blocked "unchanged $T" \
    "open /proc/1/exe (tars?) for writing" -- /bin/sh -c "$A proc_exe_write 1; exit \$?"
  attack proc-exe-self blocked "unchanged $A" \
    "open /proc/self/exe for writing" -- $A proc_exe_write self
  attack proc-fds blocked "" \
    "reach the host through other processes' /proc/PID/fd, cwd and root" -- /bin/sh -c "$A proc_fds; exit \$?"
  WRAP=fds attack leaked-fds blocked "" \
    "descriptors the caller had open (7: a host file, 8: a host dir, 9: a host file for writing)" -- $A fds
  attack daemon-outlives blocked "" \
    "a setsid, SIGTERM-ignoring child must not outlive the sandbox" -- \
    /bin/sh -c "(trap '' TERM HUP INT; exec setsid $P sleep 300) >/dev/null 2>&1 & echo 'blocked [daemon]: started; the leftover check decides'"

  # -- terminals
  WRAP=tty attack tiocsti blocked "" "TIOCSTI on the terminal" -- $A tiocsti "id #"
  attack tiocsti-filter blocked "" "seccomp refuses TIOCSTI on any descriptor" -- $A ioctl_filter TIOCSTI
  attack tioclinux-filter blocked "" "seccomp refuses TIOCLINUX" -- $A ioctl_filter TIOCLINUX

  # -- network
  local s
  for s in raw raw6 packet netlink netlink_audit vsock alg key; do
    attack socket-$s blocked "" "socket($s)" -- $A socket $s
  done
  attack connect-host-lo blocked "log_empty $LISTEN_LOG_LO" \
    "connect to a host listener on 127.0.0.1:$PORT_LO (--net none)" -- $A connect_tcp 127.0.0.1 $PORT_LO
  attack connect-host-lo-loopback blocked "log_empty $LISTEN_LOG_LO" \
    "connect to a host listener on 127.0.0.1:$PORT_LO (--net loopback)" --net loopback -- \
    $A connect_tcp 127.0.0.1 $PORT_LO
  if [ -n "$TEST_HOST" ]; then
    attack connect-out blocked "log_empty $LISTEN_LOG_ANY" \
      "connect out to a listening test host ($TEST_HOST:$PORT_ANY, reachable from the host)" -- \
      $A connect_tcp $TEST_HOST $PORT_ANY
    attack connect-out-loopback blocked "log_empty $LISTEN_LOG_ANY" \
      "connect out to the test host with --net loopback" --net loopback -- \
      $A connect_tcp $TEST_HOST $PORT_ANY
    attack udp-out blocked "" "send a UDP datagram to the test host $TEST_HOST:53" -- \
      $A udp_send $TEST_HOST 53
  else
    skip "connect-out" "no test host: making a network namespace needs root"
  fi
  if [ -n "$SHM_KEY" ]; then
    attack sysv-shm blocked "" "find the host's System V shared memory (key $SHM_KEY, id $SHM_ID)" -- \
      $A sysv_ipc $SHM_KEY $SHM_ID
  else
    skip "sysv-shm" "could not make a System V segment on the host"
  fi
  attack abstract-unix blocked "log_empty $LISTEN_LOG_ABS" \
    "connect to a host abstract unix socket @$ABSTRACT" -- $A connect_unix @$ABSTRACT
  for p in "${SOCK_PATHS[@]}"; do
    attack "host-unix-socket-$(basename "$(dirname "$p")")" blocked "log_empty $LISTEN_LOG_PATH" \
      "connect to a host daemon's unix socket at $p" -- $A connect_unix "$p"
  done

  # -- kernel interfaces and privileges
  for s in bpf perf keyctl userfaultfd io_uring kexec module open_by_handle setids raise_rlimit \
    cgroup_escape; do
    attack ${s//_/-} blocked "" "$s" -- $A $s
  done
  for s in reboot swapon iopl ioperm settime sethostname setdomainname nice acct quotactl syslog; do
    attack cap-$s blocked "host_hostname" "capability check: $s" -- $A capcheck $s
  done
  attack cgroup-mkdir blocked "absent /sys/fs/cgroup/pids/$M" \
    "mkdir a cgroup" -- $A mkdir /sys/fs/cgroup/pids/$M
  attack proc-sys-hostname blocked "host_hostname" \
    "open /proc/sys/kernel/hostname for writing" -- $A openw /proc/sys/kernel/hostname
  attack core-pattern blocked "" "open /proc/sys/kernel/core_pattern for writing" -- \
    $A openw /proc/sys/kernel/core_pattern
  attack modprobe-path blocked "" "open /proc/sys/kernel/modprobe for writing" -- \
    $A openw /proc/sys/kernel/modprobe
  attack sysrq-trigger blocked "" "open /proc/sysrq-trigger for writing" -- $A openw /proc/sysrq-trigger
  attack binfmt-register blocked "" "open binfmt_misc/register for writing" -- \
    $A openw /proc/sys/fs/binfmt_misc/register
  attack uevent-helper blocked "" "open /sys/kernel/uevent_helper for writing" -- \
    $A openw /sys/kernel/uevent_helper
  attack dev-mem blocked "" "read /dev/mem" -- $A read /dev/mem
  attack dev-kmsg blocked "" "read /dev/kmsg" -- $A read /dev/kmsg
  attack dev-disk blocked "" "read the host disk $HOST_DISK" -- $A read $HOST_DISK
  attack dev-port blocked "" "open /dev/port for writing" -- $A openw /dev/port

  # -- ways out that an earlier version left open, each with the host-side effect checked
  # The standard descriptors: a host directory as stdin walks to the host's root (fchdir, ..);
  # a host file as stdin or stdout reopens through /proc/self/fd.
  WRAP=stdin-dir attack stdin-directory refused \
    "all_of log_clean 'absent $OPEN_DIR/$M.stdin' 'log_has \"stdin (descriptor 0) is a directory\"'" \
    "stdin is a host directory: fchdir(0), .. to the host's root, create a file" -- \
    $A fchdir_escape 0 $OPEN_DIR/$M.stdin
  WRAP=stdin-dir attack stdin-directory-inherit refused \
    "all_of log_clean 'absent $OPEN_DIR/$M.stdin2'" \
    "the same with --stdio inherit" --stdio inherit -- $A fchdir_escape 0 $OPEN_DIR/$M.stdin2
  WRAP=stdin-opath attack stdin-opath refused \
    "all_of log_clean 'absent $OPEN_DIR/$M.opath' 'log_has \"is an O_PATH descriptor\"'" \
    "stdin is an O_PATH descriptor of a host directory" -- $A fchdir_escape 0 $OPEN_DIR/$M.opath
  WRAP=stdin-file attack stdin-file-reopen blocked "unchanged $V" \
    "stdin is a host file (mode 0666): reopen /proc/self/fd/0 for writing" -- $A reopen_fd 0 w
  WRAP=stdout-file attack stdout-file-reopen blocked "" \
    "stdout appends to a host log: reopen /proc/self/fd/1 and read what it held" -- \
    $A reopen_fd 1 r "$LOG_SECRET"
  # The caller's home, whatever $HOME says.
  HOME_ENV=/tmp attack home-env-tmp blocked "" \
    "HOME=/tmp, the workspace is the real home: read .ssh/$KEYNAME" --workspace $ID_HOME -- \
    $A read $ID_HOME/.ssh/$KEYNAME
  HOME_ENV=$HOME_LINK attack home-env-symlink blocked "" \
    "HOME is a symlink to the real home, the workspace: read .ssh/$KEYNAME" --workspace $ID_HOME -- \
    $A read $HOME_LINK/.ssh/$KEYNAME
  HOME_ENV=$HOME_LINK attack home-env-symlink-list blocked "" \
    "HOME is a symlink to the real home, the workspace: list .ssh" --workspace $ID_HOME -- \
    $A list $ID_HOME/.ssh
  # Masks stay on top of the workspace.
  attack ws-etc-shadow blocked "" "--workspace /etc: read /etc/shadow" --workspace /etc -- \
    $A read /etc/shadow
  attack ws-etc-ssl-private blocked "" "--workspace /etc: list /etc/ssl/private" --workspace /etc -- \
    $A list /etc/ssl/private
  attack ws-home-others refused "all_of log_clean 'log_has \"tars hides /home\"'" \
    "--workspace /home: read another user's file ($OTHER_FILE)" --workspace /home -- \
    $A read $OTHER_FILE
  # Host sockets and host activity in what is visible.
  attack host-unix-socket-opt blocked "log_empty $LISTEN_LOG_OPT" \
    "connect to a host daemon's socket under /opt (in the default view)" -- \
    $A connect_unix $OPT_DIR/stream.sock
  attack host-unix-dgram-opt blocked "log_empty $LISTEN_LOG_DGRAM" \
    "send a datagram to a host daemon's socket under /opt" -- $A sendto_unix $OPT_DIR/dgram.sock
  attack host-unix-socket-robind blocked "log_empty $LISTEN_LOG_BASE" \
    "connect to a host socket in a --ro-bind directory" -- $A connect_unix $BASE/robind.sock
  attack host-unix-socket-workspace blocked "log_empty $LISTEN_LOG_WS" \
    "connect to a host socket in the workspace" --workspace ${WS_SOCK%/*} -- $A connect_unix $WS_SOCK
  attack bind-socket-other blocked "log_empty $LISTEN_LOG_BASE" \
    "with --bind-socket of one socket, connect to another beside it" \
    --bind-socket $BASE/gateway.sock:/run/tars/gateway.sock -- $A connect_unix $BASE/robind.sock
  attack inotify-opt blocked "" "inotify on a host directory under /opt while the host works in it" \
    -- $A inotify $OPT_DIR 3
  attack inotify-robind blocked "" "inotify on a --ro-bind directory while the host works in it" \
    -- $A inotify $BASE/activity 3
  # The syscall routes past the filter the earlier battery also tried.
  attack compat-i386-socketcall blocked "" "socket(AF_NETLINK) through i386 socketcall and socket" \
    -- $A compat_route i386-socketcall
  attack compat-x32-ioctl blocked "" "TIOCSTI through the x32 ioctl" -- $A compat_route x32-ioctl
  attack personality blocked "" "personality(ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...)" -- $A personality
  # Limits: got past only where tars said they bind each process.
  MAX_SECONDS=40 attack limits-memory-children side "limits_honest memory" \
    "4 children hold 100 MiB each under --memory 128M" --memory 128M --timeout 30 -- \
    $A mem_children 4 100
  MAX_SECONDS=40 attack limits-memfd side "limits_honest memory" \
    "200 MiB of memfd pages under --memory 64M" --memory 64M --timeout 30 -- $A memfd 200
  MAX_SECONDS=40 attack limits-cpu-children side "limits_honest CPU" \
    "4 children spin 1.5 CPU seconds each under --cpu-seconds 2" --cpu-seconds 2 --timeout 30 -- \
    $A cpu_children 4 1.5
  # A workspace file of another group than the caller's.
  attack ws-foreign-group refused "group_handled" \
    "a workspace file of a group no sandbox of this caller maps: changed, or refused by name" \
    --workspace $GWS_OTHER -- /bin/sh -c 'echo more >>shared.txt && echo "blocked [group]: changed it"'
  if [ -x /usr/bin/newgidmap ]; then
    attack ws-subgid-group refused "group_handled mapped" \
      "a workspace file of a group /etc/subgid gives the caller: changed inside" \
      --workspace $GWS_SUBGID -- /bin/sh -c 'echo more >>shared.txt && echo "blocked [group]: changed it"'
  else
    skip "ws-subgid-group" "no newgidmap (package uidmap)"
  fi
  # The command cannot sabotage its own changeset.
  attack changeset-bad-name side \
    "all_of 'changeset_rejects $CHANGES/badname \"not valid UTF-8\" ok.txt' 'tree_unchanged $W'" \
    "a name that is not valid UTF-8: rejected by name, the rest captured" \
    --changes-out $CHANGES/badname -- /bin/sh -c \
    'echo ok >"$1/ok.txt" && : >"$2" && echo "started [badname]"' sh "$W" "$W/bad"$'\xff\xfe'
  attack changeset-deep-tree side \
    "all_of 'changeset_rejects $CHANGES/deep \"deeper than\" ok.txt' 'tree_unchanged $W'" \
    "a tree deeper than PATH_MAX: rejected where it goes too deep, the rest captured" \
    --changes-out $CHANGES/deep -- /bin/sh -c 'echo ok >"$1/ok.txt" && { "$2" deep_tree "$1/deep" 2100; exit 0; }' \
    sh "$W" "$A"

  # -- exhaustion
  MAX_SECONDS=25 attack fork-capped blocked "host_forks" \
    "fork 2000 processes under --pids 64" --pids 64 --timeout 20 -- $A forkbomb 2000
  MAX_SECONDS=15 attack fork-bomb killed "host_forks" \
    "while(1) fork() under --pids 64 --timeout 5" --pids 64 --timeout 5 -- $A forkbomb_real
  MAX_SECONDS=20 attack memory-bomb killed "" \
    "touch 1 GiB under --memory 64M" --memory 64M --timeout 15 -- $A membomb 1024
  DISK_USED_KB=$(disk_used_kb)
  MAX_SECONDS=40 attack fill-tmp blocked "all_of disk_not_filled 'absent /tmp/tars-fill-0'" \
    "fill /tmp past its size (1100 MiB)" --timeout 35 -- $A fill /tmp 1100
  DISK_USED_KB=$(disk_used_kb)
  MAX_SECONDS=40 attack fill-workspace killed "all_of disk_not_filled 'tree_unchanged $W'" \
    "fill the workspace scratch past its size (1100 MiB)" --timeout 35 -- $A fill $W 1100
  MAX_SECONDS=12 attack cpu-seconds killed "" \
    "spin 60 CPU seconds under --cpu-seconds 2" --cpu-seconds 2 --timeout 30 -- $A spin 60
  MAX_SECONDS=10 attack cpu-timeout killed "" \
    "spin 60 CPU seconds under --timeout 3" --timeout 3 -- $A spin 60
}

# ---- per identity ---------------------------------------------------------------------------

run_identity() {
  local d=$BASE/$IDENTITY
  # Root's helpers from a path of our own: the leftover check matches processes by path, and
  # other tests may run the build tree's helpers at the same time.
  if [ "$IDENTITY" = root ]; then
    mkdir -p "$BASE/helpers-root"
    cp "$H/attack" "$H/probe" "$BASE/helpers-root/"
    H=$BASE/helpers-root
  fi
  ID_UID=$(id -u "$([ "$IDENTITY" = user ] && echo "$TARS_TEST_USER" || echo root)")
  ID_GID=$(id -g "$ID_UID")
  ID_HOME=$(getent passwd "$ID_UID" | cut -d: -f6)
  mkdir -p "$d/ws/sub" "$d/ws/deldir" "$d/outside" "$d/changes"
  WS=$d/ws OUTSIDE=$d/outside CHANGES=$d/changes
  echo keep >"$WS/keep.txt"
  echo other >"$WS/other.txt"
  echo file >"$WS/sub/file"
  echo gone >"$WS/deldir/x"
  echo victim >"$OUTSIDE/victim.txt"
  echo victim2 >"$OUTSIDE/victim2.txt"
  chmod 0666 "$OUTSIDE/victim.txt" "$OUTSIDE/victim2.txt"
  ln -s "$OUTSIDE/victim.txt" "$WS/pre-symlink"
  ln "$OUTSIDE/victim2.txt" "$WS/pre-hardlink"
  # A world-writable host directory (a way out must not be stopped by permissions alone), a
  # symlink to the caller's home, and workspaces whose file has a group the caller's sandbox
  # cannot map / one that /etc/subgid gives it.
  OPEN_DIR=$d/open
  mkdir -p "$OPEN_DIR" && chmod 1777 "$OPEN_DIR"
  HOME_LINK=$d/home-link
  ln -sfn "$ID_HOME" "$HOME_LINK"
  GWS_OTHER=$d/ws-group-other GWS_SUBGID=$d/ws-group-subgid
  mkdir -p "$GWS_OTHER" "$GWS_SUBGID"
  echo shared >"$GWS_OTHER/shared.txt"
  echo shared >"$GWS_SUBGID/shared.txt"
  mkdir -p "$d/ws-sock"
  WS_SOCK=$d/ws-sock/host.sock
  start_listener "$LISTEN_LOG_WS" listen-unix "$WS_SOCK" && chmod 777 "$WS_SOCK"

  chown -hR "$ID_UID:$ID_GID" "$d"
  chgrp "$GROUP_OTHER" "$GWS_OTHER/shared.txt"
  chgrp "$GROUP_SUBGID" "$GWS_SUBGID/shared.txt"

  # The caller's key, and root's.
  local k
  for k in "$ID_HOME" /root; do
    if [ ! -d "$k/.ssh" ]; then
      mkdir -p "$k/.ssh"
      CLEANUP_DIRS+=("$k/.ssh")
    fi
    if [ ! -e "$k/.ssh/$KEYNAME" ]; then
      echo "FAKE PRIVATE KEY $RANDOM" >"$k/.ssh/$KEYNAME"
      CLEANUP_FILES+=("$k/.ssh/$KEYNAME")
    fi
  done
  if [ ! -e "$ID_HOME/.git-credentials" ]; then
    echo "https://tars:FAKE-TOKEN-$RANDOM@example.invalid" >"$ID_HOME/.git-credentials"
    CLEANUP_FILES+=("$ID_HOME/.git-credentials")
    chown "$ID_UID:$ID_GID" "$ID_HOME/.git-credentials"
    chmod 600 "$ID_HOME/.git-credentials"
  fi
  HOME_WS=$ID_HOME/tars-escape-ws.$$
  mkdir -p "$HOME_WS"
  echo repo >"$HOME_WS/README"
  chown -R "$ID_UID:$ID_GID" "$HOME_WS"
  CLEANUP_TREES+=("$HOME_WS")
  chown "$ID_UID:$ID_GID" "$ID_HOME/.ssh" "$ID_HOME/.ssh/$KEYNAME"
  chmod 700 "$ID_HOME/.ssh"
  chmod 600 "$ID_HOME/.ssh/$KEYNAME"

  # A host process of the same user, to be attacked.
  run_id "$H/probe" sleep 600 </dev/null >/dev/null 2>&1 &
  local launcher=$!
  HOST_PIDS+=("$launcher")
  HOSTPID=""
  for k in $(seq 40); do
    HOSTPID=$(pgrep -n -u "$ID_UID" -f "^$H/probe sleep 600") && break
    sleep 0.05
  done
  if [ -z "$HOSTPID" ]; then
    fail "set-up" "could not start a host process as $IDENTITY"
    return
  fi
  HOST_PIDS+=("$HOSTPID")

  # A System V shared memory segment of the same user on the host.
  SHM_ID=$(run_id ipcmk -M 4096 2>/dev/null | awk '{print $NF}')
  SHM_KEY=""
  if [ -n "$SHM_ID" ]; then
    SHM_KEY=$(ipcs -m | awk -v id="$SHM_ID" '$2 == id {print $1}')
    SHM_IDS+=("$SHM_ID")
  fi

  SETUP_STAMP=$d/.stamp
  touch "$SETUP_STAMP"
  remember /etc/passwd "$OUTSIDE/victim.txt" "$OUTSIDE/victim2.txt" "$WS/keep.txt" "$T" "$H/attack"
  remember_tree "$WS"
  local mounts_before mounts_after
  # Network namespaces tests create (ip netns add, here and elsewhere) are mounts too: not a
  # sandbox's doing.
  mounts_before=$(grep -vc " /run/netns/" /proc/self/mountinfo)

  echo "== escape battery as $IDENTITY (uid $ID_UID), workspace $WS"
  battery

  mounts_after=$(grep -vc " /run/netns/" /proc/self/mountinfo)
  if [ "$mounts_after" != "$mounts_before" ]; then
    fail "host mount table" "$mounts_before lines before the battery, $mounts_after after"
  fi
  kill "$HOSTPID" "$launcher" 2>/dev/null
}

# ---- main -----------------------------------------------------------------------------------

BASE=$TARS_TMP/escape
mkdir -p "$BASE"
chmod 755 "$BASE"
LOGDIR=$BASE/logs
mkdir -p "$LOGDIR"
KEYNAME=id_ed25519_tars_escape_test
HOST_HOSTNAME=$(hostname)
CLEANUP_FILES=() CLEANUP_DIRS=() HOST_PIDS=() SHM_IDS=() CLEANUP_TREES=()
ROOT_SECRET=$BASE/root-secret
echo "ROOT ONLY SECRET $RANDOM" >"$ROOT_SECRET"
chmod 0600 "$ROOT_SECRET"
export TARS_SECRET="tars-secret-$RANDOM$RANDOM"

# A test host of our own, in a network namespace joined to the host by a veth pair: a listener
# there is reachable from the host, and must not be from a sandbox.  Traffic goes nowhere else.
NETNS=tarsesc$$
TEST_HOST=""
if [ "$(id -u)" -eq 0 ] && ip netns add "$NETNS" 2>/dev/null; then
  sub=$((RANDOM % 250 + 1))
  if ip link add "te$$a" type veth peer name "te$$b" &&
    ip link set "te$$b" netns "$NETNS" &&
    ip addr add "198.18.$sub.1/30" dev "te$$a" && ip link set "te$$a" up &&
    ip netns exec "$NETNS" ip addr add "198.18.$sub.2/30" dev "te$$b" &&
    ip netns exec "$NETNS" ip link set "te$$b" up &&
    ip netns exec "$NETNS" ip link set lo up; then
    TEST_HOST=198.18.$sub.2
  fi
fi
HOST_DISK=$(findmnt -no SOURCE / 2>/dev/null)
HOST_DISK=${HOST_DISK:-/dev/vda}

# Host listeners: TCP on 127.0.0.1 and on every address, an abstract and a path unix socket.
start_listener() { # LOG ARGS...
  local log=$1
  shift
  : >"$log"
  "$TARS_HELPERS/probe" "$@" "$log" >"$log.ready" 2>&1 &
  HOST_PIDS+=($!)
  local i
  for i in $(seq 50); do
    grep -q ready "$log.ready" && return 0
    sleep 0.05
  done
  echo "listener $* did not start: $(cat "$log.ready")"
  return 1
}
PORT_LO=$((20000 + RANDOM % 20000))
PORT_ANY=$((PORT_LO + 1))
LISTEN_LOG_LO=$BASE/listen-lo.log LISTEN_LOG_ANY=$BASE/listen-any.log
LISTEN_LOG_ABS=$BASE/listen-abs.log LISTEN_LOG_PATH=$BASE/listen-path.log
ABSTRACT=tars-escape-$$
start_listener "$LISTEN_LOG_LO" listen-tcp 127.0.0.1 $PORT_LO
if [ -n "$TEST_HOST" ]; then
  start_listener_in_netns() { # LOG ARGS...
    local log=$1
    shift
    : >"$log"
    ip netns exec "$NETNS" "$TARS_HELPERS/probe" "$@" "$log" >"$log.ready" 2>&1 &
    HOST_PIDS+=($!)
    local i
    for i in $(seq 50); do
      grep -q ready "$log.ready" && return 0
      sleep 0.05
    done
    echo "listener $* did not start: $(cat "$log.ready")"
    return 1
  }
  start_listener_in_netns "$LISTEN_LOG_ANY" listen-tcp "$TEST_HOST" $PORT_ANY
fi
start_listener "$LISTEN_LOG_ABS" listen-unix @$ABSTRACT
# Where host daemons keep their sockets: /run (the Docker socket's home), /tmp and /var/tmp.  A
# socket elsewhere on a visible path stays reachable (docs/threat-model.md).
SOCK_PATHS=(/run/tars-escape-$$.sock /tmp/tars-escape-$$.sock /var/tmp/tars-escape-$$.sock)
for p in "${SOCK_PATHS[@]}"; do
  start_listener "$LISTEN_LOG_PATH" listen-unix "$p" && chmod 777 "$p"
  CLEANUP_FILES+=("$p")
done

# Sockets of host daemons where the default view or a --ro-bind shows them (under /opt, in the
# battery's own directory) and in the workspace, stream and datagram: none may be reachable.  A
# host process keeps working in two visible directories, for the inotify attacks.
OPT_DIR=/opt/tars-escape-$$
mkdir -p "$OPT_DIR" "$BASE/activity"
CLEANUP_TREES+=("$OPT_DIR")
LISTEN_LOG_OPT=$BASE/listen-opt.log LISTEN_LOG_DGRAM=$BASE/listen-dgram.log
LISTEN_LOG_BASE=$BASE/listen-base.log LISTEN_LOG_WS=$BASE/listen-ws.log
start_listener "$LISTEN_LOG_OPT" listen-unix "$OPT_DIR/stream.sock" && chmod 777 "$OPT_DIR/stream.sock"
start_listener "$LISTEN_LOG_DGRAM" listen-unix-dgram "$OPT_DIR/dgram.sock" && chmod 777 "$OPT_DIR/dgram.sock"
start_listener "$LISTEN_LOG_BASE" listen-unix "$BASE/robind.sock" && chmod 777 "$BASE/robind.sock"
start_listener "$BASE/listen-gateway.log" listen-unix "$BASE/gateway.sock" && chmod 777 "$BASE/gateway.sock"
(while :; do
  for dir in "$OPT_DIR" "$BASE/activity"; do
    touch "$dir/tick" && cat "$dir/tick"
  done
  sleep 0.1
done) >/dev/null 2>&1 &
HOST_PIDS+=($!)
LOG_SECRET="log-secret-$RANDOM$RANDOM"
# Another user's readable file, which --workspace /home would show.
OTHER_FILE=/home/tars-escape-other-$$/readable.txt
mkdir -p "${OTHER_FILE%/*}" && echo "another user's notes" >"$OTHER_FILE" && chmod 0644 "$OTHER_FILE"
CLEANUP_TREES+=("${OTHER_FILE%/*}")
# Two groups for the workspace files: one outside every /etc/subgid range of the test user, one
# inside it (its first subordinate gid that is free).
GROUP_OTHER=tars-esc-o$$ GROUP_SUBGID=tars-esc-s$$
CLEANUP_GROUPS=()
groupadd -r "$GROUP_OTHER" && CLEANUP_GROUPS+=("$GROUP_OTHER")
sub=$(awk -F: -v u="$TARS_TEST_USER" '$1 == u {print $2; exit}' /etc/subgid 2>/dev/null)
for g in $(seq "${sub:-100000}" $((${sub:-100000} + 50))); do
  getent group "$g" >/dev/null || { groupadd -g "$g" "$GROUP_SUBGID" && CLEANUP_GROUPS+=("$GROUP_SUBGID"); break; }
done

cleanup() {
  local p
  for p in "${CLEANUP_GROUPS[@]}"; do groupdel "$p" 2>/dev/null; done
  for p in "${HOST_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "${NETNS:-}" ]; then
    ip link del "te$$a" 2>/dev/null
    ip netns del "$NETNS" 2>/dev/null
  fi
  for p in "${CLEANUP_FILES[@]}"; do rm -f "$p"; done
  for p in "${SHM_IDS[@]}"; do ipcrm -m "$p" 2>/dev/null; done
  for p in "${CLEANUP_TREES[@]}"; do rm -rf --one-file-system "$p"; done
  for p in "${CLEANUP_DIRS[@]}"; do rmdir "$p" 2>/dev/null; done
  # What a successful attack may have left on the host.
  rm -rf /tars-escape-*-$$* /var/tmp/tars-escape-*-$$* /var/lib/tars-escape-*-$$* /tmp/tars-escape-*-$$ \
    /dev/shm/tars-escape-*-$$ /sys/fs/cgroup/pids/tars-escape-*-$$ 2>/dev/null
  if [ "${ESCAPE_KEEP:-0}" = 1 ]; then
    cp -r "$LOGDIR" /var/tmp/tars-escape-logs.$$ && echo "logs kept in /var/tmp/tars-escape-logs.$$"
  fi
}
trap 'rc=$?; cleanup; (exit $rc); _tl_finish' EXIT

if [ "${ESCAPE_IDENTITIES:-root user}" = "root user" ]; then
  for_each_identity run_identity
else
  for identity in $ESCAPE_IDENTITIES; do
    if [ "$identity" = user ]; then
      tars_test_user || { fail "set-up" "no test user"; continue; }
      IDENTITY=user T=$_tl_user_bin/tars H=$_tl_user_bin/helpers run_identity
    else
      IDENTITY=root T=$TARS H=$_tl_user_bin/helpers run_identity
    fi
  done
fi
