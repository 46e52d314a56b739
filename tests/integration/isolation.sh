#!/bin/bash
# Isolation properties of `tars sandbox run`, each checked from inside the sandbox, as root and as
# the unprivileged user: pid 1 and the pid namespace, hostname, network interfaces, read-only host,
# hidden paths, capabilities, seccomp, no_new_privs, descriptors, environment, /dev, /tmp, the
# workspace overlay and its changeset, exit statuses and the timeout.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OUT=$TARS_TMP/out
HOST_HOSTNAME=$(hostname)
export TARS_SECRET="isolation-secret-$RANDOM$RANDOM"

# sbx WS TARS-OPTION... -- CMD...: run a sandbox as the current identity, with the helpers shown
# read-only (the default view has nothing of the host but /usr, /etc, /opt and the like); output
# in $OUT, status in $RC.
sbx() {
  local ws=$1
  shift
  run_tars sandbox run --workspace "$ws" --ro-bind "$H" --timeout 30 "$@" >"$OUT" 2>"$OUT.err" </dev/null
  RC=$?
}

# check NAME CONDITION-STATUS DETAIL: pass or fail, showing the sandbox's output on failure.
check() {
  if [ "$2" -eq 0 ]; then
    pass "$1"
  else
    fail "$1" "$3"
    sed 's/^/    | /' "$OUT" "$OUT.err" 2>/dev/null | head -20
  fi
}

t_status() {
  local ws
  ws=$(mktemp_ws)
  sbx "$ws" -- "$H/probe" status
  local f ok
  for f in CapInh CapPrm CapEff CapBnd CapAmb; do
    grep -qx "$f:	0000000000000000" "$OUT"
    check "capabilities: $f is 0000000000000000" $? "got: $(grep "^$f:" "$OUT" | tr '\t' ' ') (exit $RC)"
  done
  grep -qx "Seccomp:	2" "$OUT"
  check "Seccomp: 2 (filter mode)" $? "got: $(grep '^Seccomp:' "$OUT" | tr '\t' ' ')"
  grep -qx "NoNewPrivs:	1" "$OUT"
  check "NoNewPrivs: 1" $? "got: $(grep '^NoNewPrivs:' "$OUT" | tr '\t' ' ')"
  grep -qx "Uid:	0	0	0	0" "$OUT"
  check "the caller is uid 0 inside" $? "got: $(grep '^Uid:' "$OUT" | tr '\t' ' ')"
}

t_pid_namespace() {
  local ws
  ws=$(mktemp_ws)
  sbx "$ws" -- /bin/sh -c "echo cmdline=\$($H/probe cmdline 1); echo self=\$\$; $H/probe pids | tr '\n' ' '"
  local cmd1 pids n
  cmd1=$(sed -n 's/^cmdline=//p' "$OUT")
  # pid 1 is tars' own init (the tars binary) or the command itself.
  case "$cmd1" in
    "$T "* | "$T" | /bin/sh*) ok=0 ;;
    *) ok=1 ;;
  esac
  check "pid 1 is the sandbox's (tars init or the command)" $ok "pid 1 cmdline: '$cmd1'"
  pids=$(tail -1 "$OUT")
  n=$(echo "$pids" | wc -w)
  [ "$RC" -eq 0 ] && [ "$n" -ge 1 ] && [ "$n" -le 5 ]
  check "/proc shows only the sandbox's processes" $? "/proc lists $n pids: $pids"
  local self
  self=$(sed -n 's/^self=//p' "$OUT")
  [ -n "$self" ] && [ "$self" -le 5 ]
  check "the command's pid is small (a new pid namespace)" $? "sh's pid inside: '$self'"
}

t_hostname() {
  local ws
  ws=$(mktemp_ws)
  sbx "$ws" -- /bin/sh -c "$H/probe hostname; cat /proc/sys/kernel/hostname"
  [ "$RC" -eq 0 ] && [ "$(sed -n 1p "$OUT")" = tars ] && [ "$(sed -n 2p "$OUT")" = tars ]
  check "hostname is tars (uname and /proc/sys/kernel/hostname)" $? "got: $(tr '\n' ' ' <"$OUT")"
  [ "$(hostname)" = "$HOST_HOSTNAME" ]
  check "the host's hostname is unchanged" $? "host hostname is now $(hostname)"
}

t_network() {
  local ws
  ws=$(mktemp_ws)
  sbx "$ws" -- "$H/probe" ifaces
  [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = lo ]
  check "only lo in /proc/net/dev (--net none, the default)" $? "interfaces: $(tr '\n' ' ' <"$OUT")"
  sbx "$ws" --net loopback -- "$H/probe" ifaces
  [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = lo ]
  check "only lo in /proc/net/dev (--net loopback)" $? "interfaces: $(tr '\n' ' ' <"$OUT")"
  # /sys/class/net is what `ip link` users read; it must not describe the host's interfaces.
  sbx "$ws" -- /bin/ls /sys/class/net
  [ "$RC" -ne 0 ] || [ -z "$(grep -vx lo "$OUT")" ]
  check "/sys/class/net shows no host interface" $? "lists: $(tr '\n' ' ' <"$OUT")"
  # Loopback: lo is up with --net loopback (a listener inside is reachable), down without.
  local port=$((30000 + RANDOM % 20000))
  local script="$H/probe listen-tcp 127.0.0.1 $port /tmp/log >/tmp/ready 2>&1 & for i in 1 2 3 4 5 6 7 8 9 10; do grep -q ready /tmp/ready && break; sleep 0.1; done; $H/attack connect_tcp 127.0.0.1 $port"
  sbx "$ws" --net loopback -- /bin/sh -c "$script"
  grep -q 'ATTACK SUCCEEDED' "$OUT"
  check "--net loopback: 127.0.0.1 works inside" $? "exit $RC"
  sbx "$ws" -- /bin/sh -c "$H/attack connect_tcp 127.0.0.1 $port"
  grep -q '^blocked' "$OUT" && grep -q 'unreachable\|refused' "$OUT"
  check "--net none: 127.0.0.1 is unreachable" $? "exit $RC"
}

t_readonly_host() {
  local ws m=isolation-$IDENTITY-$$
  ws=$(mktemp_ws)
  local p
  for p in /etc/$m /usr/$m /$m "$TARS_TMP/$m"; do
    sbx "$ws" -- /bin/sh -c "touch $p 2>&1; echo status=\$?"
    grep -q 'status=[1-9]' "$OUT" && [ ! -e "$p" ]
    check "touch $p fails and nothing appears on the host" $? "exit $RC; $(head -2 "$OUT")"
    rm -f "$p"
  done
  # /tmp and /var/tmp are the sandbox's own: writable inside, nothing reaches the host's.
  for p in /tmp/$m /var/tmp/$m; do
    sbx "$ws" -- /bin/sh -c "touch $p && test -e $p; echo status=\$?"
    grep -q 'status=0' "$OUT" && [ ! -e "$p" ]
    check "$(dirname "$p") is private: writable inside, nothing on the host" $? "exit $RC; $(head -2 "$OUT")"
    rm -f "$p"
  done
  local before
  before=$(sha256sum </etc/hostname)
  sbx "$ws" -- /bin/sh -c "echo x >>/etc/hostname 2>&1; echo status=\$?"
  grep -q 'status=[1-9]' "$OUT" && [ "$(sha256sum </etc/hostname)" = "$before" ]
  check "appending to /etc/hostname fails" $? "$(head -2 "$OUT")"
  # The root is a directory of the sandbox's scratch tmpfs (its root field says so), mounted at /.
  sbx "$ws" -- /bin/cat /proc/self/mountinfo
  grep -qE '^[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ / ro,nosuid,nodev' "$OUT"
  check "/ is mounted ro,nosuid,nodev" $? "$(head -1 "$OUT")"
}

t_hidden() {
  local ws home
  ws=$(mktemp_ws)
  home=$(getent passwd "$(run_id id -u)" | cut -d: -f6)
  local d
  local -a dirs=(/home /root /run /var/run)
  case " ${dirs[*]} " in *" $home "*) ;; *) dirs+=("$home") ;; esac
  for d in "${dirs[@]}"; do
    sbx "$ws" -- /bin/sh -c "ls -A $d 2>/dev/null | wc -l"
    [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = 0 ]
    check "$d is empty inside" $? "exit $RC, entries: $(cat "$OUT")"
  done
  sbx "$ws" -- /bin/sh -c "test -e /var/run/docker.sock || test -e /run/docker.sock; echo exists=\$?"
  grep -q 'exists=1' "$OUT"
  check "the Docker socket is gone" $? "$(cat "$OUT")"
  local f
  for f in /etc/shadow /etc/gshadow; do
    sbx "$ws" -- /bin/sh -c "wc -c <$f 2>/dev/null || echo unreadable"
    grep -qx '0\|unreadable' "$OUT"
    check "$f is masked" $? "got: $(cat "$OUT")"
  done
}

t_fds_env() {
  local ws
  ws=$(mktemp_ws)
  run_id bash -c 'exec 7</etc/hostname 8</ 9>/dev/null; exec "$@"' _ \
    "$T" sandbox run --workspace "$ws" --ro-bind "$H" -- "$H/probe" fds >"$OUT" 2>"$OUT.err" </dev/null
  RC=$?
  [ "$RC" -eq 0 ] && [ ! -s "$OUT" ]
  check "no descriptor above 2 inside (the caller had 7, 8, 9 open)" $? "exit $RC: $(tr '\n' ';' <"$OUT")"
  sbx "$ws" -- "$H/probe" env
  ! grep -q TARS_SECRET "$OUT" && [ "$RC" -eq 0 ]
  check "the caller's environment does not leak in (TARS_SECRET)" $? "$(grep TARS_SECRET "$OUT")"
  grep -q '^PATH=' "$OUT"
  check "the environment has a PATH" $? "$(tr '\n' ' ' <"$OUT")"
}

t_dev_tmp() {
  local ws
  ws=$(mktemp_ws)
  sbx "$ws" -- /bin/ls -A /dev
  local extra
  extra=$(grep -vxE 'null|zero|full|random|urandom|tty|pts|shm|ptmx|fd|stdin|stdout|stderr|core|mqueue|console' "$OUT" | tr '\n' ' ')
  [ "$RC" -eq 0 ] && [ -z "$extra" ] && grep -qx null "$OUT" && grep -qx urandom "$OUT"
  check "/dev is minimal" $? "exit $RC, unexpected: $extra"
  local m=isolation-tmp-$IDENTITY-$$
  sbx "$ws" -- /bin/sh -c "ls -A /tmp | wc -l; echo x >/tmp/$m && echo wrote"
  [ "$(sed -n 1p "$OUT")" = 0 ] && grep -qx wrote "$OUT" && [ ! -e "/tmp/$m" ]
  check "/tmp is private, empty and writable" $? "$(tr '\n' ' ' <"$OUT")"
}

# Workspace writes land in the changeset, never on the host.
t_changeset() {
  local ws ch
  ws=$(mktemp_ws)
  ch=$TARS_TMP/changes-$IDENTITY-$RANDOM
  printf 'old a\n' >"$ws/a.txt"
  printf 'bee\n' >"$ws/b.txt"
  mkdir "$ws/d"
  printf 'mode\n' >"$ws/d/m.sh"
  chmod 0644 "$ws/d/m.sh"
  [ "$IDENTITY" = user ] && chown -R "$TARS_TEST_USER:" "$ws"
  # The changes-out directory's parent must be writable by the identity.
  mkdir -p "$ch.parent"
  [ "$IDENTITY" = user ] && chown "$TARS_TEST_USER:" "$ch.parent"
  ch=$ch.parent/out
  local before
  before=$(cd "$ws" && find . -printf '%p %y %m %s %T@\n' | sort; find . -type f -exec sha256sum {} + | sort)
  sbx "$ws" --changes-out "$ch" -- /bin/sh -c "cd '$ws' && printf 'new a\n' >a.txt && rm b.txt &&
    printf 'see\n' >c.txt && mkdir e && chmod 0755 d/m.sh && ln -s a.txt l"
  check "the command ran (exit 0)" "$RC" "exit $RC: $(cat "$OUT.err")"
  local after
  after=$(cd "$ws" && find . -printf '%p %y %m %s %T@\n' | sort; find . -type f -exec sha256sum {} + | sort)
  [ "$before" = "$after" ]
  check "the host workspace is unchanged" $? "before/after differ: $(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' ')"
  if [ ! -f "$ch/manifest.json" ]; then
    fail "the changeset has a manifest.json" "$(ls -la "$ch" 2>&1 | head -5 | tr '\n' ' ')"
    return
  fi
  local res
  res=$(python3 - "$ch" "$(printf 'old a\n' | sha256sum | cut -d' ' -f1)" \
    "$(printf 'new a\n' | sha256sum | cut -d' ' -f1)" "$(printf 'see\n' | sha256sum | cut -d' ' -f1)" <<'EOF'
import json, os, sys
ch, old_a, new_a, c = sys.argv[1:]
m = json.load(open(os.path.join(ch, "manifest.json")))
e = {x["path"]: x for x in m["entries"]}
def want(label, cond):
    print(("ok " if cond else "BAD ") + label)
a = e.get("a.txt", {})
want("a.txt modify", a.get("op") == "modify" and a.get("sha256") == new_a and a.get("base_sha256") == old_a)
want("b.txt delete", e.get("b.txt", {}).get("op") == "delete")
cc = e.get("c.txt", {})
want("c.txt create", cc.get("op") == "create" and cc.get("sha256") == c and cc.get("base_sha256") is None
     and cc.get("size") == 4)
obj = os.path.join(ch, "objects", c)
want("objects/<sha256 of c.txt> holds its content", os.path.isfile(obj) and open(obj).read() == "see\n")
want("e mkdir", e.get("e", {}).get("op") == "mkdir")
want("d/m.sh chmod 0755", e.get("d/m.sh", {}).get("op") == "chmod" and e["d/m.sh"].get("mode") == "0755")
want("l symlink -> a.txt", e.get("l", {}).get("op") == "symlink" and e["l"].get("target") == "a.txt")
want("nothing else", set(e) <= {"a.txt", "b.txt", "c.txt", "e", "d/m.sh", "l", "d"})
EOF
  )
  local line
  while IFS= read -r line; do
    case $line in
      ok\ *) pass "changeset: ${line#ok }" ;;
      *) fail "changeset: ${line#BAD }" "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["entries"]))' "$ch/manifest.json" | head -c 800)" ;;
    esac
  done <<<"$res"
  [ -n "$res" ] || fail "changeset: manifest.json parses" "$(head -c 300 "$ch/manifest.json")"
}

t_exit_status() {
  local ws
  ws=$(mktemp_ws)
  local n
  for n in 0 1 42; do
    sbx "$ws" -- "$H/probe" exit $n
    [ "$RC" -eq "$n" ]
    check "exit status $n is propagated" $? "got $RC"
  done
  for n in 9 15; do
    sbx "$ws" -- "$H/probe" signal $n
    [ "$RC" -eq $((128 + n)) ]
    check "death by signal $n is 128+$n" $? "got $RC"
  done
  local t0=$SECONDS
  run_tars sandbox run --workspace "$ws" --ro-bind "$H" --timeout 2 -- /bin/sh -c \
    "$H/probe sleep 301 & $H/probe sleep 302" >"$OUT" 2>"$OUT.err" </dev/null
  RC=$?
  local took=$((SECONDS - t0))
  [ "$RC" -eq 124 ] && [ "$took" -le 8 ]
  check "--timeout 2 ends a sleeping command with 124" $? "exit $RC after ${took}s"
  sleep 0.5
  local left
  left=$(pgrep -f "^$H/probe sleep 30[12]")
  [ -z "$left" ]
  check "the timeout kills the whole pid namespace (background child too)" $? "left: $left"
  [ -n "$left" ] && kill -9 $left
}

# The default view is an allow-list; entries add to it: a read-only directory or file, one
# reachable socket, a writable tmpfs, a read-only workspace.
t_view() {
  local ws d
  ws=$(mktemp_ws)
  d=$(mktemp_ws)
  chmod 0755 "$d"
  echo shown >"$d/file.txt"
  [ "$IDENTITY" = user ] && chown -R "$TARS_TEST_USER:" "$d"
  sbx "$ws" -- /bin/ls /
  local extra
  extra=$(grep -vxE 'bin|sbin|lib|lib32|lib64|libx32|usr|etc|opt|tmp|var|proc|dev|sys' "$OUT" | tr '\n' ' ')
  [ "$RC" -eq 0 ] && [ -z "$extra" ] && grep -qx usr "$OUT"
  check "/ holds the allow-list and nothing else of the host's" $? "exit $RC, also: $extra"
  sbx "$ws" --ro-bind "$d/file.txt:/srv/tars-file.txt" --tmpfs /scratch-space -- /bin/sh -c \
    "cat /srv/tars-file.txt; echo x >/srv/tars-file.txt 2>/dev/null && echo wrote-file;
     echo y >/scratch-space/y && cat /scratch-space/y"
  [ "$(tr '\n' ' ' <"$OUT")" = "shown y " ]
  check "--ro-bind FILE:DEST is read-only, --tmpfs is writable" $? "exit $RC: $(tr '\n' ' ' <"$OUT")"
  echo ws-content >"$ws/f"
  [ "$IDENTITY" = user ] && chown "$TARS_TEST_USER:" "$ws/f"
  sbx "$ws" --ro-workspace -- /bin/sh -c "cat f; (echo x >f) 2>/dev/null && echo wrote; (: >g) 2>/dev/null && echo made; true"
  [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = ws-content ]
  check "--ro-workspace shows the workspace and lets nothing change it" $? "$(tr '\n' ' ' <"$OUT")"
  # One socket made reachable; another beside it, in a directory shown read-only, is not.
  local port_log=$d/gw.log
  "$TARS_HELPERS/probe" listen-unix "$d/gw.sock" "$port_log" >"$d/ready" 2>&1 &
  local lp=$!
  "$TARS_HELPERS/probe" listen-unix "$d/other.sock" "$d/other.log" >"$d/ready2" 2>&1 &
  local lp2=$!
  for _ in $(seq 50); do grep -q ready "$d/ready" && grep -q ready "$d/ready2" && break; sleep 0.05; done
  chmod 777 "$d/gw.sock" "$d/other.sock"
  sbx "$ws" --ro-bind "$d" --bind-socket "$d/gw.sock:/run/tars/gw.sock" -- /bin/sh -c \
    "$H/attack connect_unix /run/tars/gw.sock; $H/attack connect_unix $d/other.sock"
  grep -q 'SUCCEEDED \[connect_unix\]: connected to unix socket /run/tars/gw.sock' "$OUT" &&
    grep -q "^blocked \[connect_unix\]: connect unix $d/other.sock" "$OUT" && [ -s "$port_log" ] &&
    [ ! -s "$d/other.log" ]
  check "--bind-socket: that socket is reachable, no other" $? "$(tr '\n' ' ' <"$OUT")"
  kill "$lp" "$lp2" 2>/dev/null
}

# Output through pipes when the caller's descriptors are files; the limits said at start.
t_stdio_limits() {
  local ws f
  ws=$(mktemp_ws)
  f=$TARS_TMP/stdio-$IDENTITY
  printf 'line one\nline two\n' >"$f.in"
  [ "$IDENTITY" = user ] && chown "$TARS_TEST_USER:" "$f.in"
  run_tars sandbox run --workspace "$ws" -- /bin/sh -c \
    'cat; echo to-err >&2; test -p /proc/self/fd/1 && echo out-is-a-pipe' <"$f.in" >"$f.out" 2>"$f.err"
  RC=$?
  [ "$RC" -eq 0 ] && [ "$(cat "$f.out")" = "$(printf 'line one\nline two\nout-is-a-pipe')" ] &&
    grep -qx to-err "$f.err"
  check "stdin, stdout and stderr of files are relayed through pipes" $? \
    "exit $RC: out $(tr '\n' ' ' <"$f.out"), err $(tr '\n' ' ' <"$f.err")"
  run_tars sandbox run --workspace "$ws" --stdio inherit -- /bin/sh -c 'test -f /proc/self/fd/1 && echo out-is-the-file' \
    </dev/null >"$f.out" 2>/dev/null
  grep -qx out-is-the-file "$f.out"
  check "--stdio inherit hands them over" $? "$(cat "$f.out")"
  sbx "$ws" --json -- /bin/true
  local lim
  lim=$(tail -1 "$OUT" | jq -r '.limits.memory + " " + .limits.cpu_seconds + " " + .limits.pids')
  if grep -q '"cgroup_applied":true' "$OUT"; then
    [ "$lim" = "sandbox sandbox sandbox" ] && [ ! -s "$OUT.err" ]
    check "with a cgroup the limits are totals, and nothing is said" $? "$lim; $(cat "$OUT.err")"
  else
    [ "$lim" = "process process sandbox" ] && grep -q "bind each process" "$OUT.err"
    check "without a cgroup tars says at start which limits bind each process" $? "$lim; $(head -c 300 "$OUT.err")"
  fi
}

for_each_identity t_status
for_each_identity t_pid_namespace
for_each_identity t_hostname
for_each_identity t_network
for_each_identity t_readonly_host
for_each_identity t_hidden
for_each_identity t_fds_env
for_each_identity t_dev_tmp
for_each_identity t_changeset
for_each_identity t_exit_status
for_each_identity t_view
for_each_identity t_stdio_limits
