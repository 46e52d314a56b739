#!/bin/bash
# Bad arguments and bad specs for `tars sandbox run`, as root and as the unprivileged user: each
# must exit 2 with an error on stderr that names the problem (the offending option, value, key or
# path), must not run the command, and must leave nothing mounted and nothing running.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OUT=$TARS_TMP/out
SPECS=$TARS_TMP/specs
mkdir -p "$SPECS"
N=0

# Cgroup directories left by the tars process PID (tars names them tars-PID-N).
tars_cgroups_of() {
  find /sys/fs/cgroup -maxdepth 8 -type d -name "tars-$1-*" 2>/dev/null
}
PIDS=$TARS_TMP/pids
mkdir -p "$PIDS"
chmod 1777 "$PIDS"

# bad NAME 'PATTERN[|PATTERN...]' ARG...: `tars sandbox run ARG...` must exit 2 with every
# PATTERN (fixed strings, case-insensitive) on stderr.  @CMD in ARG is replaced by a short,
# recognisable command (so a wrongly accepted run neither hangs the test nor goes unnoticed).
bad() {
  local name=$1 patterns=$2
  shift 2
  N=$((N + 1))
  local mark="4$$$N"
  local -a args=()
  local a
  for a in "$@"; do
    if [ "$a" = @CMD ]; then
      args+=("$H/probe" sleep 2 "$mark")
    else
      args+=("$a")
    fi
  done
  local mounts_before
  # Network namespaces other tests create (ip netns add) are mounts too: not ours to count.
  mounts_before=$(grep -vc " /run/netns/" /proc/self/mountinfo)
  # tars runs as the identity, exec'd by a shell that records its pid; timeout(1) only guards
  # against a hung test.
  local -a as=()
  [ "$IDENTITY" = user ] && as=(runuser -u "$TARS_TEST_USER" --)
  local pidfile=$PIDS/$N
  (cd / && timeout -s KILL 30 "${as[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
    "$T" sandbox run "${args[@]}") >"$OUT" 2>"$OUT.err" </dev/null
  local rc=$?
  local why="" p
  if [ "$rc" -ne 2 ]; then
    why="exit $rc, expected 2"
  elif ! [ -s "$OUT.err" ]; then
    why="nothing on stderr"
  else
    local IFS='|'
    for p in $patterns; do
      grep -qiF -- "$p" "$OUT.err" || why="${why:+$why; }stderr does not name '$p'"
    done
    unset IFS
  fi
  sleep 0.1
  local left
  left=$(pgrep -f "probe sleep 2 $mark\$")
  if [ -n "$left" ]; then
    why="${why:+$why; }the command is running: $left"
    kill -9 $left
  fi
  if [ -s "$OUT" ]; then
    why="${why:+$why; }stdout is not empty: $(head -c 200 "$OUT")"
  fi
  local mounts_after cg
  mounts_after=$(grep -vc " /run/netns/" /proc/self/mountinfo)
  [ "$mounts_after" = "$mounts_before" ] ||
    why="${why:+$why; }host mounts: $mounts_before lines before, $mounts_after after"
  if [ -s "$pidfile" ]; then
    cg=$(tars_cgroups_of "$(cat "$pidfile")")
    [ -z "$cg" ] || why="${why:+$why; }cgroups left behind: $(echo $cg)"
  fi
  if [ -z "$why" ]; then
    pass "$name"
  else
    fail "$name" "$why"
    sed 's/^/    | /' "$OUT.err" | head -5
  fi
}

spec() { # spec NAME JSON: write a spec file readable by both identities, print its path
  printf '%s\n' "$2" >"$SPECS/$1.json"
  chmod 0644 "$SPECS/$1.json"
  printf '%s\n' "$SPECS/$1.json"
}

t_bad_arguments() {
  local ws file nonempty rel
  ws=$(mktemp_ws)
  file=$TARS_TMP/a-file-$IDENTITY
  : >"$file"
  nonempty=$TARS_TMP/nonempty-$IDENTITY
  mkdir -p "$nonempty"
  : >"$nonempty/x"
  # A relative path that exists from / (where the command runs).
  rel=${ws#/}

  bad "unknown option" "--bogus-opt" --bogus-opt -- @CMD
  bad "unknown short option" "-Z" -Z -- @CMD
  bad "command without --" "--" --workspace "$ws" @CMD
  bad "-- without a command" "command" --workspace "$ws" --
  bad "no arguments at all" "command"
  bad "--workspace without its value" "--workspace" --workspace
  bad "--workspace that does not exist" "/var/tmp/tars-no-such-ws-$$" \
    --workspace /var/tmp/tars-no-such-ws-$$ -- @CMD
  bad "--workspace relative (missing)" "rel/ws-$$" --workspace rel/ws-$$ -- @CMD
  # An existing relative path is not bad input: like any command-line tool, tars resolves it
  # against the current directory (a JSON spec, which has no current directory, must be absolute).
  if (cd / && run_tars sandbox run --workspace "$rel" -- /bin/sh -c "test \"\$PWD\" = /$rel") \
    >"$TARS_TMP/rel.out" 2>&1; then
    pass "--workspace relative (existing from the cwd) is resolved"
  else
    fail "--workspace relative (existing from the cwd) is resolved" "$(head -c 300 "$TARS_TMP/rel.out")"
  fi
  bad "--workspace a file" "$file" --workspace "$file" -- @CMD
  bad "--workspace empty" "--workspace" --workspace "" -- @CMD
  bad "--rootfs that does not exist" "/var/tmp/tars-no-such-root-$$" \
    --rootfs /var/tmp/tars-no-such-root-$$ -- @CMD
  bad "--net bogus" "bogus" --net bogus -- @CMD
  bad "--net empty" "--net" --net "" -- @CMD
  bad "--memory 12Q" "12Q" --memory 12Q -- @CMD
  bad "--memory negative" "-5M" --memory -5M -- @CMD
  bad "--memory empty" "--memory" --memory "" -- @CMD
  bad "--pids 0" "pids|0" --pids 0 -- @CMD
  bad "--pids too large" "99999999999999" --pids 99999999999999 -- @CMD
  bad "--pids not a number" "lots" --pids lots -- @CMD
  bad "--timeout -1" "timeout|-1" --timeout -1 -- @CMD
  bad "--timeout not a number" "soon" --timeout soon -- @CMD
  bad "--cpu-seconds abc" "abc" --cpu-seconds abc -- @CMD
  bad "--changes-out an existing non-empty directory" "$nonempty" \
    --workspace "$ws" --changes-out "$nonempty" -- @CMD
  bad "--changes-out a file" "$file" --workspace "$ws" --changes-out "$file" -- @CMD
}

t_bad_specs() {
  local ws
  ws=$(mktemp_ws)
  local s
  bad "--spec that does not exist" "$SPECS/none.json" --spec "$SPECS/none.json" -- @CMD
  bad "--spec a directory" "$SPECS" --spec "$SPECS" -- @CMD
  s=$(spec malformed '{"memory": "1G",')
  bad "--spec malformed JSON" "$s|json" --spec "$s" -- @CMD
  s=$(spec empty-file '')
  bad "--spec empty file" "$s" --spec "$s" -- @CMD
  s=$(spec not-object '[1, 2]')
  bad "--spec not an object" "$s" --spec "$s" -- @CMD
  s=$(spec unknown-key '{"bogus_key": 1}')
  bad "--spec unknown key" "bogus_key" --spec "$s" -- @CMD
  s=$(spec wrong-type-pids '{"pids": "many"}')
  bad "--spec wrong type (pids a string)" "pids|many" --spec "$s" -- @CMD
  s=$(spec wrong-type-net '{"net": 1}')
  bad "--spec wrong type (net a number)" "net" --spec "$s" -- @CMD
  s=$(spec wrong-type-argv '{"argv": "ls -l"}')
  bad "--spec wrong type (argv a string)" "argv" --spec "$s" -- @CMD
  s=$(spec bad-size '{"memory": "12Q"}')
  bad "--spec bad size" "memory|12Q" --spec "$s" -- @CMD
  s=$(spec bad-net '{"net": "host"}')
  bad "--spec net host" "net|host" --spec "$s" -- @CMD
  s=$(spec rel-ws '{"workspace": "relative/ws"}')
  bad "--spec relative workspace" "workspace|relative/ws" --spec "$s" -- @CMD
  s=$(spec dotdot-ws "{\"workspace\": \"$ws/../..\"}")
  bad "--spec workspace with .." "workspace" --spec "$s" -- @CMD
  s=$(spec missing-ws '{"workspace": "/var/tmp/tars-no-such-ws"}')
  bad "--spec workspace that does not exist" "/var/tmp/tars-no-such-ws" --spec "$s" -- @CMD
  s=$(spec empty-argv '{"argv": []}')
  bad "--spec empty argv and no command" "argv" --spec "$s"
  s=$(spec bad-hostname '{"hostname": "bad host!"}')
  bad "--spec bad hostname" "hostname" --spec "$s" -- @CMD
  s=$(spec mask-root '{"masks": ["/"]}')
  bad "--spec masks /" "masks" --spec "$s" -- @CMD
  s=$(spec bad-env '{"env": ["NOEQUALS"]}')
  bad "--spec env entry without =" "NOEQUALS" --spec "$s" -- @CMD
  s=$(spec zero-pids '{"pids": 0}')
  bad "--spec pids 0" "pids" --spec "$s" -- @CMD
  s=$(spec negative-timeout '{"timeout": -1}')
  bad "--spec negative timeout" "timeout" --spec "$s" -- @CMD
}

for_each_identity t_bad_arguments
for_each_identity t_bad_specs
