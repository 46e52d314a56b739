#!/bin/bash
# tars plan: valid execution and improvement plans print their order and read back from their
# own JSON; bad plans (cycles, missing dependencies, unknown types, wrong parameter types, empty
# plans, duplicate ids, a 100 MB plan, non-UTF-8) exit 2 with a message naming the step and the
# field, print nothing on stdout and run nothing; --todos makes a plan from the polyglot fixture.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

EX=$TARS_SRC/examples/plans
D=$TARS_TMP/plans
mkdir -p "$D"
MARK=$TARS_TMP/ran

t_valid_plans() {
  local out=$D/out why=""
  "$T" plan --plan "$EX/tidy-calculator.json" >"$out" || why="exit $?"
  grep -q '^plan tidy-calculator: Tidy the calculator (5 steps)$' "$out" || why="$why; header"
  [ "$(awk 'NR>2 {print $2}' "$out" | tr '\n' ' ')" = "fmt fix-add overflow check ship " ] ||
    why="$why; order: $(awk 'NR>2 {print $2}' "$out" | tr '\n' ' ')"
  "$T" plan --plan "$EX/improvements.json" >"$out" || why="$why; improvements: exit $?"
  grep -q '(3 steps, from an improvement plan)' "$out" || why="$why; improvements header"
  [ "$(awk 'NR>2 {print $2}' "$out" | tr '\n' ' ')" = "fix-add document-add format " ] ||
    why="$why; improvements order"
  if [ -z "$why" ]; then pass "valid plans print their order"; else fail "valid plans" "$why"; fi
}

t_json_round_trip() {
  local why=""
  "$T" plan --plan "$EX/tidy-calculator.json" --json >"$D/a.json" || why="exit $?"
  "$T" plan --plan - --json <"$D/a.json" >"$D/b.json" || why="$why; stdin: exit $?"
  cmp -s "$D/a.json" "$D/b.json" || why="$why; the JSON does not read back as itself"
  "$T" plan --plan "$EX/improvements.json" --out "$D/c.json" >/dev/null || why="$why; --out: exit $?"
  "$T" plan --plan "$D/c.json" --json >"$D/d.json" || why="$why; converted: exit $?"
  cmp -s "$D/c.json" "$D/d.json" || why="$why; --out differs from --json"
  jq -e '.steps[0].type == "edit" and .steps[2].parameters.command[0] == "clang-format" and
         .metadata.source == "improvements"' "$D/c.json" >/dev/null || why="$why; converted content"
  if [ -z "$why" ]; then pass "--json and --out read back as the same plan"; else fail "json round trip" "$why"; fi
}

# bad NAME 'PATTERN|...' FILE: tars plan --plan FILE exits 2, stderr holds every PATTERN (fixed
# strings), stdout nothing, and nothing ran.
bad() {
  local name=$1 patterns=$2 file=$3 p why=""
  rm -f "$MARK"
  "$T" plan --plan "$file" >"$D/bad.out" 2>"$D/bad.err"
  local rc=$?
  [ $rc -eq 2 ] || why="exit $rc, expected 2"
  local IFS='|'
  for p in $patterns; do grep -qF -- "$p" "$D/bad.err" || why="${why:+$why; }stderr lacks '$p'"; done
  unset IFS
  [ -s "$D/bad.out" ] && why="${why:+$why; }stdout: $(head -c 200 "$D/bad.out")"
  [ -e "$MARK" ] && why="${why:+$why; }a step ran"
  if [ -z "$why" ]; then pass "bad plan: $name"; else fail "bad plan: $name" "$why: $(head -c 400 "$D/bad.err")"; fi
}

step() { # step ID TYPE [DEPS-JSON]
  printf '{"id": "%s", "type": "%s", "dependencies": %s, "parameters": {"command": "touch %s"}}' \
    "$1" "${2:-command}" "${3:-[]}" "$MARK"
}

t_bad_plans() {
  printf '{"steps": [%s, %s, %s]}' "$(step a command '["c"]')" "$(step b command '["a"]')" \
    "$(step c command '["b"]')" >"$D/cycle.json"
  bad cycle 'cycle.json: step "a": dependencies: cycle a -> c -> b -> a' "$D/cycle.json"
  printf '{"steps": [%s]}' "$(step a command '["nope"]')" >"$D/missing.json"
  bad "missing dependency" 'step "a": dependencies[0]: no step has the id "nope"' "$D/missing.json"
  printf '{"steps": [{"id": "a", "type": "deploy"}]}' >"$D/type.json"
  bad "unknown type" 'step "a": type: "deploy" is not a step type' "$D/type.json"
  printf '{"steps": [{"id": "a", "type": "command", "parameters": {"command": "touch %s", "timeout": "soon"}}]}' \
    "$MARK" >"$D/param.json"
  bad "wrong parameter type" 'step "a": parameters.timeout: expected an integer, got a string' "$D/param.json"
  printf '{"steps": [{"id": "a", "type": "edit", "parameters": {"edits": [{"path": "../x", "format": "ed", "text": "x"}]}}]}' >"$D/edit.json"
  bad "bad edit" 'step "a": parameters.edits[0].path|step "a": parameters.edits[0].format: "ed" is not a format' "$D/edit.json"
  printf '{"id": "empty", "steps": []}' >"$D/empty.json"
  bad "empty plan" 'empty.json: steps: the plan has no step' "$D/empty.json"
  printf '{"steps": [%s, %s]}' "$(step a)" "$(step a)" >"$D/dup.json"
  bad "duplicate ids" 'step #2: id: "a" is already the id of step #1' "$D/dup.json"
  printf '{"steps": [{"id": "caf\xe9", "type": "approval"}]}' >"$D/latin1.json"
  bad "non-UTF-8" 'latin1.json: not valid UTF-8 at byte offset 22 (line 1, column 23)' "$D/latin1.json"
  printf '{"steps": [{"id": "a", "type": "approval"}, {"id": "b"}, {"id": "c", "type": "command"}]}' >"$D/many.json"
  bad "every problem at once" 'step "b": type: missing|step "c": parameters: a command step needs parameters' "$D/many.json"
  printf '[{"id": "x", "instructions": "do", "dependencies": ["y"]}]' >"$D/imp.json"
  bad "improvement with a missing dependency" 'improvement "x": dependencies[0]: no step has the id "y"' "$D/imp.json"
  bad "not a file" 'is a directory' "$D"

  # 100 MB: a real file, refused from its size, fast and in little memory.
  head -c 100000000 /dev/zero | tr '\0' ' ' >"$D/huge.json"
  local t0 t1 rss
  t0=$(date +%s%N)
  /usr/bin/time -f %M -o "$D/huge.rss" "$T" plan --plan "$D/huge.json" >"$D/bad.out" 2>"$D/bad.err"
  local rc=$?
  t1=$(date +%s%N)
  rss=$(tail -1 "$D/huge.rss")
  if [ $rc -eq 2 ] && grep -qF 'huge.json: 100000000 bytes, more than the limit of 8388608 bytes' "$D/bad.err" &&
    [ $(((t1 - t0) / 1000000)) -lt 2000 ] && [ "$rss" -lt 30000 ]; then
    pass "bad plan: 100 MB file refused in $(((t1 - t0) / 1000000)) ms and ${rss} KiB"
  else
    fail "bad plan: 100 MB file" "exit $rc, $(((t1 - t0) / 1000000)) ms, ${rss} KiB: $(cat "$D/bad.err")"
  fi
  # Through a pipe: refused once past the limit, without reading the rest.
  t0=$(date +%s%N)
  head -c 100000000 /dev/zero | "$T" plan --plan - >"$D/bad.out" 2>"$D/bad.err"
  rc=${PIPESTATUS[1]}
  t1=$(date +%s%N)
  if [ "$rc" -eq 2 ] && grep -qF '(stdin): more than the limit of 8388608 bytes' "$D/bad.err"; then
    pass "bad plan: 100 MB on a pipe refused at the limit"
  else
    fail "bad plan: 100 MB on a pipe" "exit $rc: $(cat "$D/bad.err")"
  fi
  rm -f "$D/huge.json"
}

t_usage() {
  local why="" rc
  "$T" plan --help >/dev/null || why="--help: exit $?"
  "$T" plan >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || why="$why; no argument: $rc"
  "$T" plan --plan x --todos >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || why="$why; both: $rc"
  "$T" plan --todos --group line >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || why="$why; --group line: $rc"
  "$T" plan --plan "$TARS_TMP/no-such.json" >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || why="$why; missing file: $rc"
  if [ -z "$why" ]; then pass "usage errors exit 2"; else fail "usage" "$why"; fi
}

t_todos() {
  local ws why=""
  ws=$(mktemp_ws) && cp -r "$TARS_SRC/tests/fixtures/todo-polyglot/." "$ws/"
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$ws"; fi
  run_tars plan --todos --repo "$ws" --json >"$D/todos.json" 2>"$D/todos.err" || why="exit $?"
  jq -e '(.steps | length) == 27 and .metadata.source == "todos" and
         ([.steps[] | select(.id == "todo-calc.c-add")][0].parameters.todos[0].function.name == "add") and
         ([.steps[] | select(.id == "todo-calc.c-add")][0].validationRules.mustChange == ["src/calc.c"]) and
         (.steps[0].priority != null)' "$D/todos.json" >/dev/null || why="$why; content: $(jq -c '.steps | length' "$D/todos.json")"
  run_tars plan --plan "$D/todos.json" --json >"$D/todos2.json" || why="$why; reread: exit $?"
  cmp -s "$D/todos.json" "$D/todos2.json" || why="$why; the TODO plan does not read back as itself"
  run_tars plan --todos --repo "$ws" --group file >"$D/byfile.out" || why="$why; --group file: exit $?"
  grep -q '(22 steps, from TODOs)' "$D/byfile.out" || why="$why; $(head -1 "$D/byfile.out")"
  local empty rc
  empty=$(mktemp_ws)
  run_tars plan --todos --repo "$empty" >/dev/null 2>"$D/none.err"; rc=$?
  [ $rc -eq 2 ] && grep -q 'no TODO, FIXME or XXX comment found' "$D/none.err" || why="$why; no TODOs: exit $rc"
  if [ -z "$why" ]; then pass "--todos makes a plan of the fixture's TODOs"; else fail "--todos" "$why"; fi
}

t_valid_plans
t_json_round_trip
t_bad_plans
t_usage
for_each_identity t_todos
