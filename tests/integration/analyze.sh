#!/bin/bash
# tars analyze over the polyglot fixture (tests/fixtures/todo-polyglot/), made a git work tree:
# the exact findings (file, line, column, text, enclosing function) of markers in comments of
# every language family, none of the decoys in strings, raw strings, heredocs, template literals
# and URLs, the vendored, generated, minified, binary, git-ignored and symlinked files skipped;
# the JSON report; the SARIF report checked against the official SARIF 2.1.0 schema; ctags
# missing; exit statuses.  As root and as the unprivileged user (ctags runs in a sandbox).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FIXTURE=$TARS_SRC/tests/fixtures/todo-polyglot
EXPECTED=$TARS_SRC/tests/fixtures/todo-polyglot.expected
SCHEMA=$TARS_SRC/tests/fixtures/sarif-schema-2.1.0.json

# The fixture as a git work tree owned by the identity, with a symlink to a file outside it and
# one to a directory outside it.  Its ignore file is kept as gitignore in the source tree, so that
# it does not apply to tars' own repository.
make_repo() {
  local ws
  ws=$(mktemp_ws) || return 1
  cp -r "$FIXTURE/." "$ws/" && mv "$ws/gitignore" "$ws/.gitignore" || return 1
  mkdir -p "$ws.out" && echo '// TODO: outside the repository' >"$ws.out/x.c" || return 1
  ln -s "$ws.out/x.c" "$ws/link.c" && ln -s "$ws.out" "$ws/linkdir" || return 1
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$ws"; fi
  run_id git -C "$ws" init -q || return 1
  printf '%s\n' "$ws"
}

t_exact_findings() {
  local ws out=$TARS_TMP/analyze.out
  ws=$(make_repo) || { fail "exact findings" "cannot make the repository"; return; }
  if ! run_tars analyze --repo "$ws" >"$out" 2>"$out.err"; then
    fail "exact findings" "exit $?: $(head -c 300 "$out.err")"
    return
  fi
  if diff -u "$EXPECTED" "$out" >"$out.diff"; then
    pass "exact findings (file, line, column, text, function) and skips"
  else
    fail "exact findings" "$(head -40 "$out.diff")"
  fi
}

t_json_report() {
  local ws out=$TARS_TMP/analyze.json
  ws=$(make_repo) || { fail "json report" "cannot make the repository"; return; }
  run_tars analyze --repo "$ws" --format json >"$out" || { fail "json report" "exit $?"; return; }
  local why
  why=$(python3 - "$out" "$EXPECTED" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
problems = []
lines = [l for l in open(sys.argv[2]).read().splitlines() if not re.match(r"^\d+ findings", l)]
if len(d["findings"]) != len(lines):
    problems.append("%d findings, expected %d" % (len(d["findings"]), len(lines)))
for f, l in zip(d["findings"], lines):
    head = "%s:%d:%d: %s" % (f["file"], f["line"], f["column"], f["marker"])
    if not l.startswith(head):
        problems.append("%s does not match %s" % (head, l))
    if f["context"] == "function" and "[in %s, lines %d-%d]" % (
            f["function"]["name"], f["function"]["startLine"], f["function"]["endLine"]) not in l:
        problems.append("function of %s" % head)
    if f["context"] == "missing" and not f.get("contextNote"):
        problems.append("no contextNote for %s" % head)
skipped = {s["path"]: s["reason"] for s in d["skipped"]}
want = {"vendor/lib/dep.c": "vendored", "third_party/helper.py": "vendored",
        "node_modules/pkg/index.js": "vendored", "gen/parser.c": "generated",
        "web/app.min.js": "minified", "bin/blob.c": "binary", "link.c": "symlink",
        "linkdir": "symlink", "README.txt": "language"}
for p, r in want.items():
    if skipped.get(p) != r:
        problems.append("%s skipped as %s, expected %s" % (p, skipped.get(p), r))
if any(f["file"].startswith("ignored/") for f in d["findings"]) or "ignored/notes.c" in skipped:
    problems.append("the git-ignored file was looked at")
if not d["git"] or not (d["ctags"]["version"] or "").startswith("Universal Ctags"):
    problems.append("git %s, ctags %s" % (d["git"], d["ctags"]))
print("; ".join(problems))
PY
)
  if [ -z "$why" ]; then pass "json report: findings, functions, skips"; else fail "json report" "$why"; fi
}

t_sarif_validates() {
  local ws out=$TARS_TMP/analyze.sarif
  ws=$(make_repo) || { fail "sarif" "cannot make the repository"; return; }
  run_tars analyze --repo "$ws" --format sarif >"$out" || { fail "sarif" "exit $?"; return; }
  local why
  why=$(python3 - "$out" "$SCHEMA" <<'PY' 2>&1
import json, sys
import jsonschema
log = json.load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema, format_checker=jsonschema.FormatChecker()).iter_errors(log),
                key=lambda e: list(e.path))
out = ["%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errors[:5]]
results = log["runs"][0]["results"]
if len(results) != 27:
    out.append("%d results, expected 27" % len(results))
r = [x for x in results
     if x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/calc.c"]
if not r or r[0]["locations"][0]["logicalLocations"][0]["name"] != "add" \
        or r[0]["locations"][0]["physicalLocation"]["region"]["startColumn"] != 6:
    out.append("src/calc.c's first result: %s" % (r[:1],))
print("; ".join(out))
PY
)
  if [ -z "$why" ]; then pass "sarif: valid against the SARIF 2.1.0 schema"; else fail "sarif" "$why"; fi
  # The check itself fails on a log the schema refuses (a run whose tool has no driver).
  local verdict
  verdict=$(python3 - "$SCHEMA" <<'PY' 2>&1
import json, sys, jsonschema
try:
    jsonschema.validate({"version": "2.1.0", "runs": [{"tool": {}}]}, json.load(open(sys.argv[1])))
    print("accepted")
except jsonschema.ValidationError:
    print("refused")
PY
)
  if [ "$verdict" = refused ]; then pass "sarif: the schema check refuses a bad log"; else fail "sarif: the schema check refuses a bad log" "$verdict"; fi
}

t_without_ctags() {
  local ws out=$TARS_TMP/analyze.noctags
  ws=$(make_repo) || { fail "without ctags" "cannot make the repository"; return; }
  if ! run_tars analyze --repo "$ws" --ctags "$TARS_TMP/no-ctags/ctags" >"$out" 2>"$out.err"; then
    fail "without ctags" "exit $?"
    return
  fi
  local missing inside
  missing=$(grep -cF "no context: $TARS_TMP/no-ctags/ctags is not installed" "$out")
  inside=$(grep -c '\[in ' "$out")
  if [ "$missing" -gt 15 ] && [ "$inside" -eq 0 ] && grep -qF "notice: $TARS_TMP/no-ctags/ctags is not installed" "$out.err" &&
    grep -q '^config/app.yaml:7:14: TODO: make it configurable  \[file scope\]$' "$out"; then
    pass "without ctags: every finding says its function is unknown, and why"
  else
    fail "without ctags" "missing=$missing inside=$inside $(head -c 300 "$out.err")"
  fi
}

t_exit_statuses() {
  local ok=1 why=""
  run_tars analyze --help >/dev/null || { ok=0; why="--help: exit $?"; }
  run_tars analyze --format xml >/dev/null 2>&1
  [ $? -eq 2 ] || { ok=0; why="$why; --format xml not 2"; }
  run_tars analyze --repo "$TARS_TMP/no-such-dir" >/dev/null 2>"$TARS_TMP/ne.err"
  [ $? -eq 2 ] && grep -q "no such directory" "$TARS_TMP/ne.err" || { ok=0; why="$why; a missing repo"; }
  local empty
  empty=$(mktemp_ws)
  run_tars analyze --repo "$empty" >"$TARS_TMP/empty.out" || { ok=0; why="$why; an empty repo: exit $?"; }
  grep -q '^0 findings in 0 files; 0 files scanned$' "$TARS_TMP/empty.out" || { ok=0; why="$why; $(cat "$TARS_TMP/empty.out")"; }
  if [ $ok = 1 ]; then pass "exit statuses"; else fail "exit statuses" "$why"; fi
}

for_each_identity t_exact_findings
for_each_identity t_json_report
for_each_identity t_sarif_validates
for_each_identity t_without_ctags
t_exit_statuses
