#!/usr/bin/env bash
# The model gateway as a process (tars gateway) in front of the scripted model server: coders
# asking at once are served at once, a step's budget stops it with the reason, a coder that
# goes away cancels its call, every exchange is in the store and the audit trail, the recording
# replays the run, and SIGTERM stops it cleanly.  No sandbox: run once, as the invoking user.
. "$TARS_SRC/tests/lib.sh"

SERVER=$TARS_SRC/tests/helpers/model-server.py
W=$TARS_TMP/gw
mkdir -p "$W/repo" "$W/config"
export XDG_CONFIG_HOME=$W/config
unset TARS_LLM_URL TARS_MODEL TARS_API_KEY OLLAMA_HOST

python3 "$SERVER" serve --port-file "$W/port" --log "$W/requests.log" &
server_pid=$!
gw_pid=
CTL=$(mktemp -d /tmp/tars-gw.XXXXXX) || exit 1
trap 'rc=$?; [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$CTL"; (exit $rc); _tl_finish' EXIT
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
PORT=$(cat "$W/port") || exit 1

script() {
  printf '%s\n' "$1" >"$W/script.json"
  python3 "$SERVER" load "$PORT" "$W/script.json"
}
nreq() { wc -l <"$W/requests.log"; }
# sql QUERY: one value from the repository's store.
sql() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print(r[0] if r else "")' "$W/repo/.tars/tars.db" "$1"; }

expect() {
  local name=$1
  shift
  for c in "$@"; do
    if ! eval "$c"; then
      fail "$name" "not true: $c; stderr: $(head -c 400 "$W/err" 2>/dev/null)"
      return
    fi
  done
  pass "$name"
}

start_gateway() {
  rm -f "$W/gw.sock"
  "$TARS" gateway --socket "$W/gw.sock" --repo "$W/repo" --execution exec-1 \
    --llm "ollama:http://127.0.0.1:$PORT" --model m1 "$@" 2>>"$W/gateway.log" &
  gw_pid=$!
  for _ in $(seq 200); do [ -S "$W/gw.sock" ] && return 0; sleep 0.05; done
  fail "the gateway starts" "no socket after 10 s: $(tail -n 3 "$W/gateway.log")"
  return 1
}

ask() { "$TARS" model chat --gateway "$W/gw.sock" --json "$@"; }

start_gateway --parallel 4 --step-budget calls=3 --record "$W/rec.json" || exit 1

t_concurrent() {
  script '{"steps": [{"delay": 1.5, "answer": "a"}, {"delay": 1.5, "answer": "b"}, {"delay": 1.5, "answer": "c"}, {"delay": 1.5, "answer": "d"}]}'
  local start end
  start=$(date +%s%N)
  local pids=()
  for s in c1 c2 c3 c4; do
    ask --step "$s" --attempt 1 "hello from $s" >"$W/out.$s" 2>"$W/err.$s" &
    pids+=($!)
  done
  wait "${pids[@]}"
  end=$(date +%s%N)
  local answers
  answers=$(for s in c1 c2 c3 c4; do jq -r .content "$W/out.$s"; done | sort | tr -d '\n')
  expect "four coders at once are served at once" \
    '[ "$answers" = abcd ]' '[ "$(nreq)" -eq 4 ]' \
    '[ $(( (end - start) / 1000000 )) -lt 4500 ]'
}
t_concurrent

t_budget() {
  script '{"steps": [{"answer": "1"}, {"answer": "2"}, {"answer": "3"}, {"answer": "4"}]}'
  local ok=0
  for i in 1 2 3; do ask --step s1 --attempt "$i" x >"$W/out" 2>"$W/err" && ok=$((ok + 1)); done
  ask --step s1 --attempt 4 x >"$W/out" 2>"$W/err"
  rc=$?
  expect "a step's budget stops it, with the reason" \
    '[ "$ok" -eq 3 ] && [ "$rc" -eq 1 ]' \
    'grep -q "budget-exhausted: step s1: 3 of 3 calls used" "$W/err"' \
    '[ "$(nreq)" -eq 3 ]' \
    '[ "$(sql "SELECT count(*) FROM exchanges WHERE step_id = '"'s1'"' AND status = '"'budget-exhausted'"'")" = 1 ]'
  ask --step s2 --attempt 1 x >"$W/out" 2>"$W/err"
  rc=$?
  expect "another step has its own budget" '[ "$rc" -eq 0 ] && [ "$(jq -r .content "$W/out")" = 4 ]'
}
t_budget

t_cancel() {
  script '{"steps": [{"delay": 3, "answer": "nobody waits"}]}'
  timeout 0.7 "$TARS" model chat --gateway "$W/gw.sock" --step gone --attempt 1 x >/dev/null 2>&1
  local status=""
  for _ in $(seq 50); do
    status=$(sql "SELECT status FROM exchanges WHERE step_id = 'gone'")
    [ -n "$status" ] && break
    sleep 0.1
  done
  expect "a coder that goes away cancels its call" '[ "$status" = cancelled ]' \
    'grep -q "step gone attempt 1 call 1 (coder): cancelled" "$W/gateway.log"'
}
t_cancel

t_records() {
  local n_ex n_audit
  n_ex=$(sql "SELECT count(*) FROM exchanges WHERE execution_id = 'exec-1'")
  n_audit=$(sql "SELECT count(*) FROM audit WHERE event = 'model_exchange' AND execution_id = 'exec-1'")
  "$TARS" audit --repo "$W/repo" --execution exec-1 --json >"$W/audit.json" 2>"$W/err"
  expect "every exchange is in the store and the audit trail" \
    '[ "$n_ex" -eq 10 ] && [ "$n_audit" -eq 10 ]' \
    '[ "$(jq "[.[] | select(.event == \"model_exchange\")] | length" "$W/audit.json")" = 10 ]' \
    '[ "$(sql "SELECT json_extract(request, '"'\$.messages[0].content'"') FROM exchanges WHERE step_id = '"'c2'"'")" = "hello from c2" ]' \
    '[ "$(sql "SELECT prompt_tokens FROM exchanges WHERE step_id = '"'c1'"'")" -gt 0 ]'
}
t_records

t_stop() {
  kill -TERM "$gw_pid"
  wait "$gw_pid"
  local rc=$?
  gw_pid=
  expect "SIGTERM stops the gateway, its socket removed" '[ "$rc" -eq 0 ]' '[ ! -e "$W/gw.sock" ]'
}
t_stop

t_replay() {
  "$TARS" model chat --llm "replay:$W/rec.json" --step c3 --attempt 1 --json x >"$W/out" 2>"$W/err"
  rc=$?
  local c3
  c3=$(jq -r '.exchanges[] | select(.step == "c3") | .response.content' "$W/rec.json")
  expect "the recording replays the run" '[ "$rc" -eq 0 ]' \
    '[ "$(jq -r .content "$W/out")" = "$c3" ]' \
    '[ "$(jq "[.exchanges[] | select(.step == \"s1\")] | length" "$W/rec.json")" = 3 ]' \
    '[ "$(jq "[.exchanges[] | select(.step == \"gone\")] | length" "$W/rec.json")" = 0 ]'
  "$TARS" model chat --llm "replay:$W/rec.json" --step c3 --attempt 2 x >"$W/out" 2>"$W/err"
  rc=$?
  expect "replay never guesses" '[ "$rc" -eq 1 ]' \
    'grep -q "no-recording: replay: $W/rec.json: no recorded exchange for step c3, attempt 2 (role coder, call 1)" "$W/err"'
}
t_replay

t_usage() {
  "$TARS" gateway --help >"$W/out" 2>&1
  rc=$?
  expect "tars gateway --help" '[ "$rc" -eq 0 ]' 'grep -q "Internal: the model gateway" "$W/out"'
  "$TARS" gateway --socket "$W/x.sock" >"$W/out" 2>"$W/err"
  rc=$?
  expect "tars gateway without --repo is bad usage" '[ "$rc" -eq 2 ]'
  "$TARS" gateway --socket "$W/x.sock" --repo "$W/repo" --step-budget calls=x >"$W/out" 2>"$W/err"
  rc=$?
  expect "a bad budget is bad usage" '[ "$rc" -eq 2 ]' 'grep -q "calls: .x. is not a number" "$W/err"'
}
t_usage

# ----- a sandboxed coder -----

cat >"$W/sandbox-rec.json" <<'EOF2'
{"tars_replay": 1, "exchanges": [
  {"step": "sbx-root", "attempt": 1, "response": {"content": "answer for root's sandbox"}},
  {"step": "sbx-user", "attempt": 1, "response": {"content": "answer for user's sandbox"}}]}
EOF2
# A control socket where sandboxes cannot see it: they have a /tmp of their own.
"$TARS" gateway --socket "$CTL/gw.sock" --repo "$W/repo" --execution exec-2 \
  --llm "replay:$W/sandbox-rec.json" 2>>"$W/gateway.log" &
gw_pid=$!
for _ in $(seq 200); do [ -S "$CTL/gw.sock" ] && break; sleep 0.05; done

# open_step STEP ATTEMPT PATH: the coordinator's control message.
open_step() {
  python3 - "$CTL/gw.sock" "$1" "$2" "$3" <<'EOF2'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
m = json.dumps({"type": "open_step", "step": sys.argv[2], "attempt": int(sys.argv[3]),
                "socket": sys.argv[4]}).encode()
s.sendall(struct.pack(">I", len(m)) + m)
n = struct.unpack(">I", s.recv(4))[0]
r = json.loads(s.recv(n))
sys.exit(0 if r.get("ok") else 1)
EOF2
}

t_sandboxed_coder() {
  local step=sbx-$IDENTITY sock=$W/step-$IDENTITY.sock spec=$W/spec-$IDENTITY.json out rc
  if ! open_step "$step" 1 "$sock"; then
    fail "a sandboxed coder asks through its step's socket" "open_step failed"
    return
  fi
  # For the sanitizer tree's tars: LeakSanitizer cannot run in a sandbox (no ptrace), and
  # AddressSanitizer's shadow memory does not fit in the address-space limit that stands in for
  # the memory limit where no cgroup can be made (rootless).
  # The step's socket at the gateway's place inside, and the tars binary (below the test
  # directory, which the default view does not show) read-only.
  printf '{"mounts": [{"type": "bind-socket", "source": "%s", "dest": "/run/tars/gateway.sock"},
                      {"type": "ro-bind", "source": "%s"}],
           "memory": "unlimited",
           "env": ["PATH=/usr/bin:/bin", "ASAN_OPTIONS=detect_leaks=0"]}\n' "$sock" \
    "$(dirname "$T")" >"$spec"
  chmod 0644 "$spec"
  out=$(run_tars sandbox run --spec "$spec" -- "$T" model chat --gateway /run/tars/gateway.sock x 2>&1)
  rc=$?
  printf '%s\n' "$out" >"$W/err"
  expect "a sandboxed coder asks through its step's socket" '[ "$rc" -eq 0 ]' \
    'printf "%s" "$out" | grep -q "answer for $IDENTITY.s sandbox"'
  out=$(run_tars sandbox run --spec "$spec" -- "$T" model chat --gateway /run/tars/gateway.sock --step sbx-other x 2>&1)
  rc=$?
  printf '%s\n' "$out" >"$W/err"
  expect "its socket speaks for its step only" '[ "$rc" -eq 1 ]' \
    'printf "%s" "$out" | grep -q "bad-request: this socket is step $step attempt 1.s"'
  out=$(run_tars sandbox run --spec "$spec" -- "$T" model chat --gateway "$CTL/gw.sock" x 2>&1)
  rc=$?
  printf '%s\n' "$out" >"$W/err"
  expect "it cannot reach the control socket" '[ "$rc" -eq 1 ]' \
    'printf "%s" "$out" | grep -q "connect to $CTL/gw.sock: No such file or directory"'
}
for_each_identity t_sandboxed_coder

t_spec_checks_the_socket() {
  printf '{"mounts": [{"type": "bind-socket", "source": "%s"}]}\n' "$W/sandbox-rec.json" \
    >"$W/spec-bad.json"
  "$TARS" sandbox run --spec "$W/spec-bad.json" -- /bin/true >"$W/out" 2>"$W/err"
  rc=$?
  expect "a bind-socket that is not a socket is bad input" '[ "$rc" -eq 2 ]' \
    'grep -q "mounts\[0\].* not a Unix socket" "$W/err"'
}
t_spec_checks_the_socket
