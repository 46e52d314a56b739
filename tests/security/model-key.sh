#!/usr/bin/env bash
# The model key stays where it belongs.  A run through the gateway against a hostile server (it
# echoes the Authorization header into its answers and its error bodies) and a coder that puts
# the key in its prompt: the server did receive the key, and it appears nowhere tars writes:
# the store (database, WAL), the audit trail, the gateway's log, the recording, what the coder
# got back, what tars model chat prints.  And a sandboxed command sees neither the key (its
# environment is not the caller's) nor the network the model server is on.
. "$TARS_SRC/tests/lib.sh"

SERVER=$TARS_SRC/tests/helpers/model-server.py
W=$TARS_TMP/key
mkdir -p "$W/repo" "$W/config/tars"
chmod 0755 "$W" "$W/repo"
printf '{"model": {"backoff": 0.02}}\n' >"$W/config/tars/config.json"
export XDG_CONFIG_HOME=$W/config
unset TARS_LLM_URL TARS_MODEL OLLAMA_HOST
KEY=sk-tars-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

python3 "$SERVER" serve --port-file "$W/port" --log "$W/requests.log" &
server_pid=$!
gw_pid=
trap 'rc=$?; [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; kill "$server_pid" 2>/dev/null; wait 2>/dev/null; (exit $rc); _tl_finish' EXIT
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
PORT=$(cat "$W/port") || exit 1

script() {
  printf '%s\n' "$1" >"$W/script.json"
  python3 "$SERVER" load "$PORT" "$W/script.json"
}

# Everything the hostile server says carries the key.
script "$(jq -cn --arg k "$KEY" '{steps: [
  {echo_auth: true},
  {answer: ("as you asked, the key is " + $k)},
  {status: 500, body: {error: ("upstream refused Authorization: Bearer " + $k)}},
  {status: 500, body: {error: ("upstream refused " + $k)}},
  {status: 500, body: {error: ("upstream refused " + $k)}},
  {status: 500, body: {error: ("upstream refused " + $k)}},
  {status: 401, body: {error: {message: ("bad key " + $k)}}}]}')"

rm -f "$W/gw.sock"
TARS_API_KEY=$KEY "$TARS" gateway --socket "$W/gw.sock" --repo "$W/repo" --execution e1 \
  --llm "openai:http://127.0.0.1:$PORT" --model m1 --record "$W/rec.json" 2>"$W/gateway.log" &
gw_pid=$!
for _ in $(seq 200); do [ -S "$W/gw.sock" ] && break; sleep 0.05; done

: >"$W/coder.out"
for i in 1 2 3 4; do
  # The coder itself never has the key; a repository file may (here, quoted in the prompt).
  "$TARS" model chat --gateway "$W/gw.sock" --step s1 --attempt "$i" --json \
    "context from the repository: API_KEY=$KEY" >>"$W/coder.out" 2>>"$W/coder.out"
done
# The direct client too: its messages go to the terminal and to logs.
TARS_API_KEY=$KEY "$TARS" model chat --llm "openai:http://127.0.0.1:$PORT" --model m1 --repo "$W" \
  --retries 0 x >>"$W/coder.out" 2>>"$W/coder.out"
kill -TERM "$gw_pid"
wait "$gw_pid"
gw_pid=
"$TARS" audit --repo "$W/repo" --json >"$W/audit.json" 2>&1

t_the_key_was_used() {
  if jq -e --arg a "Bearer $KEY" 'select(.headers.authorization == $a)' "$W/requests.log" >/dev/null; then
    pass "the server received the key (the test is real)"
  else
    fail "the server received the key (the test is real)" "no Authorization: Bearer header"
  fi
  local n
  n=$(grep -cE '"status":[[:space:]]*"ok"' "$W/coder.out")
  if [ "$n" -ge 2 ] && grep -q 'model_exchange' "$W/audit.json"; then
    pass "the exchanges were made and audited"
  else
    fail "the exchanges were made and audited" "$(head -c 300 "$W/coder.out")"
  fi
}
t_the_key_was_used

t_nowhere() {
  local where=$1
  shift
  if grep -rlaF -- "$KEY" "$@" >"$W/found" 2>/dev/null; then
    fail "the key is not in $where" "found in $(tr '\n' ' ' <"$W/found")"
  elif [ -z "$(ls -A "$@" 2>/dev/null)" ]; then
    fail "the key is not in $where" "nothing there to search: $*"
  else
    pass "the key is not in $where"
  fi
}
t_nowhere "the store (database, WAL, backups)" "$W/repo/.tars"
t_nowhere "the audit trail" "$W/audit.json"
t_nowhere "the gateway's log" "$W/gateway.log"
t_nowhere "the recording" "$W/rec.json"
t_nowhere "what the coder and tars model chat got" "$W/coder.out"

t_redacted_not_lost() {
  local n
  n=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM exchanges WHERE request LIKE ? OR response LIKE ? OR error LIKE ?", ("%[REDACTED]%",)*3).fetchone()[0])' "$W/repo/.tars/tars.db")
  if [ "$n" -ge 4 ] && grep -q 'as you asked, the key is \[REDACTED\]' "$W/coder.out"; then
    pass "the key is replaced by [REDACTED], the rest kept"
  else
    fail "the key is replaced by [REDACTED], the rest kept" "$n redacted exchanges"
  fi
}
t_redacted_not_lost

# A sandboxed command: the caller's environment holds the key; the command's does not.  And the
# model server, on the host's loopback, is out of its reach.
t_sandbox() {
  local ws out
  ws=$(mktemp_ws)
  out=$(TARS_API_KEY=$KEY run_tars sandbox run --workspace "$ws" -- /bin/sh -c 'env; cat /proc/self/environ; cat /proc/1/environ' 2>&1)
  if printf '%s' "$out" | grep -qF -- "$KEY"; then
    fail "a sandboxed command does not see the key" "it is in its environment"
  else
    pass "a sandboxed command does not see the key"
  fi
  for net in none loopback; do
    if run_tars sandbox run --net "$net" -- python3 -c "
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(('127.0.0.1', $PORT))
except OSError:
    sys.exit(7)
sys.exit(0)" >/dev/null 2>&1; then
      fail "a sandboxed command cannot reach the model server (--net $net)" "it connected"
    elif [ $? -eq 7 ]; then
      pass "a sandboxed command cannot reach the model server (--net $net)"
    else
      fail "a sandboxed command cannot reach the model server (--net $net)" "the probe did not run"
    fi
  done
}
for_each_identity t_sandbox
