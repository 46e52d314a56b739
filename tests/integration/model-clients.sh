#!/usr/bin/env bash
# Both model clients (Ollama's API and the OpenAI-compatible one) against a local scripted
# server (tests/helpers/model-server.py), asserting what tars sends (path, headers, body) and
# what it makes of each answer: success, 429 with Retry-After then success, 500s until the
# retries run out, malformed JSON, a truncated stream, a slow server past the timeout, a missing
# model, an unreachable server; then tars model check.  No sandbox is involved: run once, as the
# invoking user.
. "$TARS_SRC/tests/lib.sh"

SERVER=$TARS_SRC/tests/helpers/model-server.py
W=$TARS_TMP/model
mkdir -p "$W/config/tars"
# The user configuration of these runs: short waits between retries, so that the retry cases
# take a fraction of a second.  Also proves the user configuration is read.
printf '{"model": {"backoff": 0.05}}\n' >"$W/config/tars/config.json"
export XDG_CONFIG_HOME=$W/config
unset TARS_LLM_URL TARS_MODEL TARS_API_KEY OLLAMA_HOST

python3 "$SERVER" serve --port-file "$W/port" --log "$W/requests.log" &
server_pid=$!
trap 'rc=$?; kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; (exit $rc); _tl_finish' EXIT
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
PORT=$(cat "$W/port") || exit 1

# script JSON: load a script into the server and clear its request log.
script() {
  printf '%s\n' "$1" >"$W/script.json"
  python3 "$SERVER" load "$PORT" "$W/script.json"
}
# nreq: how many requests the server received.  req N [JQ-OPTION...] FILTER: jq on request N
# (from 1).
nreq() { wc -l <"$W/requests.log"; }
req() {
  local n=$1
  shift
  sed -n "${n}p" "$W/requests.log" | jq -r "$@"
}

# chat PROTO ARGS...: tars model chat --json against the server; output in $W/out, stderr in
# $W/err, exit status in $rc.
chat() {
  local proto=$1
  shift
  "$TARS" model chat --llm "$proto:http://127.0.0.1:$PORT" --repo "$W" --json "$@" \
    >"$W/out" 2>"$W/err"
  rc=$?
}
out() { jq -r "$1" "$W/out"; }

# expect NAME CONDITION...: pass when every condition (a shell test) holds, else fail with the
# first that did not and what tars printed.
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

path_of() { [ "$1" = ollama ] && echo /api/chat || echo /v1/chat/completions; }

t_success() {
  local p=$1
  script '{"steps": [{"answer": "Hello from the server", "usage": [11, 4], "chunks": 4}]}'
  chat "$p" --model m1 --system "be brief" "say hi"
  expect "$p: an answer is read, streamed" \
    '[ "$rc" -eq 0 ]' \
    '[ "$(out .content)" = "Hello from the server" ]' \
    '[ "$(out .usage.prompt_tokens)" = 11 ] && [ "$(out .usage.completion_tokens)" = 4 ]' \
    '[ "$(out .usage.estimated)" = false ] && [ "$(out .http_attempts)" = 1 ]'
  expect "$p: the request: path, headers, body" \
    '[ "$(nreq)" -eq 1 ]' \
    '[ "$(req 1 .method)" = POST ] && [ "$(req 1 .path)" = "$(path_of "$p")" ]' \
    '[ "$(req 1 ".headers[\"content-type\"]")" = application/json ]' \
    '[ "$(req 1 ".headers.authorization")" = null ]' \
    '[ "$(req 1 .body.model)" = m1 ] && [ "$(req 1 .body.stream)" = true ]' \
    '[ "$(req 1 -c .body.messages)" = "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"say hi\"}]" ]'
  if [ "$p" = ollama ]; then
    expect "$p: num_ctx is always sent" '[ "$(req 1 .body.options.num_ctx)" = 8192 ]' \
      '[ "$(req 1 ".body.stream_options")" = null ]'
  else
    expect "$p: usage is asked for in the stream" \
      '[ "$(req 1 .body.stream_options.include_usage)" = true ]' \
      '[ "$(req 1 ".headers.accept")" = text/event-stream ]'
  fi

  script '{"steps": [{"answer": "not streamed", "usage": null}]}'
  chat "$p" --model m1 --no-stream --max-tokens 50 "x"
  expect "$p: a whole answer, usage estimated when the server gives none" \
    '[ "$rc" -eq 0 ] && [ "$(out .content)" = "not streamed" ]' \
    '[ "$(req 1 .body.stream)" = false ]' \
    '[ "$(out .usage.estimated)" = true ] && [ "$(out .usage.completion_tokens)" = 3 ]'
  if [ "$p" = ollama ]; then
    expect "$p: max_tokens is num_predict" '[ "$(req 1 .body.options.num_predict)" = 50 ]'
  else
    expect "$p: max_tokens is sent" '[ "$(req 1 .body.max_tokens)" = 50 ]'
  fi

  script '{"steps": [{"answer": "keyed"}]}'
  TARS_API_KEY=sk-test-0123456789abcdef chat "$p" --model m1 "x"
  expect "$p: the key goes in Authorization: Bearer" \
    '[ "$rc" -eq 0 ]' \
    '[ "$(req 1 .headers.authorization)" = "Bearer sk-test-0123456789abcdef" ]'
}

t_retry_after() {
  local p=$1
  script '{"steps": [{"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": "slow down"}}, {"answer": "after the wait"}]}'
  chat "$p" --model m1 "x"
  expect "$p: 429 with Retry-After, then the answer" \
    '[ "$rc" -eq 0 ] && [ "$(out .content)" = "after the wait" ]' \
    '[ "$(nreq)" -eq 2 ] && [ "$(out .http_attempts)" = 2 ]' \
    '[ "$(jq -rs ".[1].time - .[0].time >= 0.95" "$W/requests.log")" = true ]' \
    '[ "$(req 2 -c .body)" = "$(req 1 -c .body)" ]'

  script '{"steps": [{"status": 429, "headers": {"Retry-After": "3600"}}]}'
  chat "$p" --model m1 "x"
  expect "$p: a Retry-After longer than the longest wait gives up at once" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = rate-limited ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "asks to wait 3600 s, longer than the longest wait (60 s)" "$W/err"'
}

t_server_errors() {
  local p=$1
  script '{"steps": [], "then": {"status": 500, "body": {"error": "boom"}}}'
  chat "$p" --model m1 --retries 2 "x"
  expect "$p: 500s until the retries run out" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = server-error ]' \
    '[ "$(nreq)" -eq 3 ] && [ "$(out .http_attempts)" = 3 ] && [ "$(out .http_status)" = 500 ]' \
    'grep -q "http://127.0.0.1:$PORT$(path_of "$p"): server error (HTTP 500: boom) (gave up after 3 tries)" "$W/err"' \
    '[ "$(jq -rs "(.[1].time - .[0].time) >= 0.02 and (.[2].time - .[1].time) >= 0.04" "$W/requests.log")" = true ]'

  script '{"steps": [{"status": 503}, {"answer": "recovered"}]}'
  chat "$p" --model m1 "x"
  expect "$p: a 503 then the answer" '[ "$rc" -eq 0 ] && [ "$(nreq)" -eq 2 ]'

  script '{"steps": [{"status": 401, "body": {"error": {"message": "bad key"}}}]}'
  chat "$p" --model m1 "x"
  expect "$p: 401 is not retried and says why" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = auth ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "refused the request (HTTP 401: bad key): no key was sent (set TARS_API_KEY)" "$W/err"'

  script '{"steps": [{"status": 400, "body": {"error": {"message": "context too long"}}}]}'
  chat "$p" --model m1 "x"
  expect "$p: another 4xx is not retried" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = http-error ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "HTTP 400: context too long" "$W/err"'
}

t_malformed() {
  local p=$1
  script '{"steps": [{"malformed": true}, {"answer": "never asked"}]}'
  chat "$p" --model m1 "x"
  expect "$p: malformed JSON in the stream is a bad response, not retried" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = bad-response ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "malformed JSON" "$W/err"'
  script '{"steps": [{"malformed": true}]}'
  chat "$p" --model m1 --no-stream "x"
  expect "$p: malformed JSON in a whole body" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = bad-response ]' 'grep -q "malformed JSON" "$W/err"'
}

t_truncated() {
  local p=$1
  script '{"steps": [{"truncate": true, "answer": "a long answer cut short"}], "then": {"truncate": true, "answer": "again cut short"}}'
  chat "$p" --model m1 --retries 1 "x"
  expect "$p: a truncated stream, retried, then given up" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = truncated ] && [ "$(nreq)" -eq 2 ]' \
    'grep -q "before the answer.s end" "$W/err"'
  script '{"steps": [{"truncate": true, "answer": "a long answer cut short"}, {"answer": "whole"}]}'
  chat "$p" --model m1 "x"
  expect "$p: a truncated stream, then the whole answer" \
    '[ "$rc" -eq 0 ] && [ "$(out .content)" = whole ] && [ "$(nreq)" -eq 2 ]'
  script '{"steps": [{"truncate": true, "answer": "a long answer cut short"}]}'
  chat "$p" --model m1 --no-stream --retries 0 "x"
  expect "$p: a truncated body" '[ "$rc" -eq 1 ] && [ "$(out .status)" = truncated ]'
}

t_timeout() {
  local p=$1
  script '{"steps": [{"delay": 4, "answer": "too late"}]}'
  local start end
  start=$(date +%s%N)
  chat "$p" --model m1 --timeout 1 "x"
  end=$(date +%s%N)
  expect "$p: a slow server past the timeout" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = timeout ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "no complete answer from http://127.0.0.1:$PORT within 1 s (timeout)" "$W/err"' \
    '[ $(( (end - start) / 1000000 )) -lt 3000 ]'
}

t_idle() {
  local p=$1
  mkdir -p "$W/idle"
  printf '{"model": {"idle_timeout": 1}}\n' >"$W/idle/tars.json"
  script '{"steps": [{"stall": 3, "answer": "first piece, then nothing", "chunks": 2}]}'
  "$TARS" model chat --llm "$p:http://127.0.0.1:$PORT" --model m1 --repo "$W/idle" --json x \
    >"$W/out" 2>"$W/err"
  rc=$?
  expect "$p: a stream that stops is ended by the idle timeout" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = timeout ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "http://127.0.0.1:$PORT stopped sending its answer for 1 s (idle timeout)" "$W/err"'
  script '{"steps": [{"stall": 0.4, "answer": "slow but steady words", "chunks": 4}]}'
  "$TARS" model chat --llm "$p:http://127.0.0.1:$PORT" --model m1 --repo "$W/idle" --timeout 5 \
    --json x >"$W/out" 2>"$W/err"
  rc=$?
  expect "$p: a slow stream that keeps coming is not cut" \
    '[ "$rc" -eq 0 ] && [ "$(out .content)" = "slow but steady words" ]'
}

t_missing_model() {
  local p=$1
  script '{"steps": [{"missing": true}]}'
  chat "$p" --model no-such-model "x"
  expect "$p: a missing model is named" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = model-missing ] && [ "$(nreq)" -eq 1 ]' \
    'grep -q "model \"no-such-model\" not found on http://127.0.0.1:$PORT" "$W/err"'
}

t_unreachable() {
  local p=$1
  # A port nothing listens on: bound, then closed.
  local dead
  dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$TARS" model chat --llm "$p:http://127.0.0.1:$dead" --model m1 --retries 1 --repo "$W" --json x \
    >"$W/out" 2>"$W/err"
  rc=$?
  expect "$p: an unreachable server is named, after the retries" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = unreachable ] && [ "$(out .http_attempts)" = 2 ]' \
    'grep -q "cannot reach http://127.0.0.1:$dead" "$W/err"'
}

t_check() {
  local p=$1
  script '{"models": ["m1", "other:7b"], "steps": [{"answer": "ok", "usage": [20, 1]}]}'
  "$TARS" model check --llm "$p:http://127.0.0.1:$PORT" --model m1 --repo "$W" >"$W/out" 2>"$W/err"
  rc=$?
  local models_path=/api/tags
  [ "$p" = openai ] && models_path=/v1/models
  expect "$p: model check finds the server, the model and an answer" \
    '[ "$rc" -eq 0 ]' \
    'grep -q "^server  *http://127.0.0.1:$PORT ($p, from --llm)" "$W/out"' \
    'grep -q "^reachable  *yes, 2 models listed" "$W/out"' \
    'grep -q "^found  *yes" "$W/out"' \
    'grep -q "^answer  *\"ok\" in [0-9]* ms, 20 prompt + 1 completion tokens" "$W/out"' \
    '[ "$(req 1 .method)" = GET ] && [ "$(req 1 .path)" = "$models_path" ]' \
    '[ "$(req 2 .body.model)" = m1 ]'
  script '{"models": ["m1"], "steps": [{"missing": true}]}'
  "$TARS" model check --llm "$p:http://127.0.0.1:$PORT" --model m2 --repo "$W" --json >"$W/out" 2>"$W/err"
  rc=$?
  expect "$p: model check says the model is missing" \
    '[ "$rc" -eq 1 ] && [ "$(out .status)" = model-missing ] && [ "$(out .model_found)" = false ]' \
    'grep -q "m2" "$W/err"'
}

for p in ollama openai; do
  t_success "$p"
  t_retry_after "$p"
  t_server_errors "$p"
  t_malformed "$p"
  t_truncated "$p"
  t_timeout "$p"
  t_idle "$p"
  t_missing_model "$p"
  t_unreachable "$p"
  t_check "$p"
done

# Settings from the repository's configuration, with the protocol inferred from the URL.
t_repo_config() {
  script '{"models": ["repo-model"], "steps": [{"answer": "from the repo config"}]}'
  mkdir -p "$W/repo"
  printf '{"model": {"url": "http://127.0.0.1:%s/v1", "model": "repo-model"}}\n' "$PORT" >"$W/repo/tars.json"
  TARS_API_KEY=sk-should-not-leave-0000 "$TARS" model chat --repo "$W/repo" --json x >"$W/out" 2>"$W/err"
  rc=$?
  expect "settings from the repository; the key is not sent to the server it chose" \
    '[ "$rc" -eq 0 ] && [ "$(out .content)" = "from the repo config" ]' \
    '[ "$(req 1 .path)" = /v1/chat/completions ] && [ "$(req 1 .body.model)" = repo-model ]' \
    '[ "$(req 1 .headers.authorization)" = null ]'
  printf '{"model": {"api_key": "sk-in-the-repo-0000000"}}\n' >"$W/repo/tars.json"
  "$TARS" model check --repo "$W/repo" >"$W/out" 2>"$W/err"
  rc=$?
  expect "a key in the repository's configuration is refused (exit 2)" \
    '[ "$rc" -eq 2 ]' 'grep -q "may not hold a key" "$W/err"' '! grep -q sk-in-the-repo "$W/err"'
}
t_repo_config

t_usage() {
  "$TARS" model --help >"$W/out" 2>&1
  rc=$?
  expect "tars model --help" '[ "$rc" -eq 0 ]' 'grep -q "tars model check" "$W/out"'
  "$TARS" model frob >"$W/out" 2>"$W/err"
  rc=$?
  expect "an unknown subcommand is bad usage" '[ "$rc" -eq 2 ]'
  "$TARS" model chat --llm "gopher://x" x >"$W/out" 2>"$W/err"
  rc=$?
  expect "a bad URL is bad input, named" '[ "$rc" -eq 2 ]' 'grep -q -- "--llm: \"gopher://x\" is not an http" "$W/err"'
}
t_usage
