#!/bin/bash
# `tars validate` end to end, on the fixture repositories of tests/fixtures/ (C with cmake, C with
# make, Python with pytest, Go, and a Python repository whose baseline already fails a test).
#
# Each fixture is copied, without its changes/ directory, into a fresh git repository (the c-make
# fixture also into a plain directory).  For each case, changes/<case>.sh is run in a sandbox on
# that repository (`tars sandbox run --changes-out`) to make a changeset, and
# `tars validate CS --repo R --json` must reach the expected verdict, for the expected reason and
# in the expected stage:
#   good          accepted
#   syntax        rejected by the syntax stage, naming the file
#   build         rejected by the build (a link or type error: not a syntax error)
#   test          rejected: a test that passed on the baseline fails, named
#   warning       rejected: a new compiler warning (C fixtures, "gates": {"warnings": true})
#   timeout       rejected: a hanging test, stopped by the test timeout of tars.json
#   forbidden     rejected by the gates: touches a path tars.json forbids
#   delete-tests  rejected: the change breaks code and deletes the test that catches it, or the
#                 failing test itself (fewer tests executed than on the baseline)
#   noop-build    rejected: the build is edited to do nothing and exit 0
#   write-outside rejected: the build or the tests write outside the workspace, and nothing was
#                 written on the host
#   edit-config   rejected by the gates: the change turns a gate off in tars.json
#   flaky         accepted: a new test fails on its first run and passes when run again (c-make),
#                 reported as flaky
#   good / breaks-other on python-baseline-fails: accepted despite the already failing test;
#                 rejected for breaking another one, the old failure reported as preexisting
# After every validation the repository is exactly as before, but for its .tars/ (and the
# exclusion line tars adds to .git/info/exclude); the first validation of a repository runs the
# baseline and the later ones find it cached.  Bad configuration (malformed tars.json, an unknown
# toolchain, a build command that does not exist, a misspelt key, no toolchain at all) is exit
# status 2 with the problem named on stderr.
#
# Time: every case runs for both identities, about 3 minutes on 2 cores (the baseline of each
# repository runs once, the timeout cases wait 5-20 s each).  VALIDATE_USER_CASES="fixture/case
# ..." limits the tars-test run to those cases (e.g. "c-cmake/good go/test config/malformed");
# VALIDATE_ONLY=regex runs the matching "fixture/case" names only, for both; VALIDATE_VERBOSE=1
# prints every report.
# A fixture whose toolchain is missing (as the sandboxes see it: Debian's /usr/bin/python3 and
# /usr/bin/go, not /usr/local or pyenv) is skipped by name; scripts/setup.sh installs them all.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FX=$TARS_SRC/tests/fixtures
VALIDATE_ONLY=${VALIDATE_ONLY:-}
VALIDATE_VERBOSE=${VALIDATE_VERBOSE:-0}
# Empty: the unprivileged user runs every case, as root does.
VALIDATE_USER_CASES=${VALIDATE_USER_CASES:-}
# The sandboxes' PATH (validator.c): which toolchain a sandbox finds.
SANDBOX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

for tool in jq git sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    skip "validate" "$tool is missing"
    exit 0
  fi
done
if ! "$TARS" validate --help >/dev/null 2>&1; then
  fail "validate" "$TARS validate is not available"
  exit 1
fi

# The change scripts, where every identity can read them (the fixtures may sit below directories
# the test user cannot enter), and a directory both identities could write to on the host: what
# the write-outside cases aim at.
CH=$TARS_TMP/changes
mkdir -p "$CH" "$TARS_TMP/logs" "$TARS_TMP/outside"
for d in "$FX"/*/changes; do
  f=$(basename "$(dirname "$d")")
  cp -r "$d" "$CH/$f"
done
chmod -R a+rX "$CH"
chmod 1777 "$TARS_TMP/outside"

# toolchain_missing FIXTURE: print what is missing for FIXTURE in the sandboxes' PATH.
toolchain_missing() {
  local p=$SANDBOX_PATH
  case "$1" in
    c-cmake) for t in cmake ctest cc; do PATH=$p command -v "$t" >/dev/null || echo "$t"; done ;;
    c-make) for t in make cc; do PATH=$p command -v "$t" >/dev/null || echo "$t"; done ;;
    python | python-baseline-fails)
      PATH=$p python3 -c 'import pytest' >/dev/null 2>&1 || echo "python3 with pytest (python3-pytest)" ;;
    go) PATH=$p go version >/dev/null 2>&1 || echo "go (golang-go)" ;;
  esac
}

# wanted FIXTURE/CASE: whether this identity runs that case.
wanted() {
  if [ -n "$VALIDATE_ONLY" ] && ! [[ $1 =~ $VALIDATE_ONLY ]]; then return 1; fi
  [ "$IDENTITY" = root ] || [ -z "$VALIDATE_USER_CASES" ] && return 0
  case " $VALIDATE_USER_CASES " in *" $1 "*) return 0 ;; esac
  return 1
}

# new_repo FIXTURE [plain]: a copy of the fixture (without changes/) owned by the current
# identity, committed to a new git repository unless "plain"; prints its path.  The repository is
# <dir>/repo, so that its parent is a directory of the identity's own (a write-outside target).
new_repo() {
  local d repo
  d=$(mktemp_ws) || return 1
  repo=$d/repo
  mkdir "$repo" && tar -C "$FX/$1" --exclude=./changes -cf - . | tar -C "$repo" -xf - || return 1
  if [ "${2:-}" != plain ]; then
    git -C "$repo" init -q &&
      git -C "$repo" add -A &&
      git -C "$repo" -c user.name=t -c user.email=t@example.com commit -qm "$1" || return 1
  fi
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$d" || return 1; fi
  printf '%s\n' "$repo"
}

# picture REPO: everything in the repository but .tars/ and .git/info/exclude: names, types,
# modes, sizes and contents, and the modification times of the work tree's files.
picture() {
  (
    cd "$1" || exit 1
    find . \( -path ./.tars -o -path ./.git/info/exclude \) -prune -o \( -path . -o -path ./.git \) -printf '%p %y %m\n' -o \
      -path './.git/*' -printf '%p %y %m %s\n' -o -printf '%p %y %m %s %T@\n' | LC_ALL=C sort
    find . \( -path ./.tars -o -path ./.git/info/exclude \) -prune -o -type f -print0 |
      LC_ALL=C sort -z | xargs -0 -r sha256sum
  )
}

# make_cs REPO FIXTURE CASE [ARG...]: run changes/CASE.sh of FIXTURE in a sandbox on REPO; CS is
# the changeset made.  On failure, 1 and the reason in CS_ERR.
make_cs() {
  local repo=$1 fx=$2 case=$3
  shift 3
  CS=$(mktemp_ws)/cs || return 1
  CS_ERR=""
  if ! run_tars sandbox run --workspace "$repo" --ro-bind "$CH" --changes-out "$CS" -- sh "$CH/$fx/$case.sh" "$@" \
    >"$TARS_TMP/logs/cs.out" 2>&1 || [ ! -f "$CS/manifest.json" ]; then
    CS_ERR=$(head -c 400 "$TARS_TMP/logs/cs.out")
    return 1
  fi
  if [ "$(jq '.entries | length' "$CS/manifest.json")" = 0 ]; then
    CS_ERR="the change script changed nothing"
    return 1
  fi
}

# validate REPO CS [--json]: run tars validate; RC its status, R its stdout, E its stderr.
validate() {
  local repo=$1 cs=$2
  shift 2
  R=$TARS_TMP/logs/report.json E=$TARS_TMP/logs/stderr
  run_tars validate "$cs" --repo "$repo" "$@" >"$R" 2>"$E"
  RC=$?
}

# q JQ-FILTER: query the report.
q() { jq -r "$1" "$R" 2>/dev/null; }

# The report in brief, for failure messages.
excerpt() {
  local s
  s=$(jq -c '{verdict, reasons, baseline_cached, stages: [.stages[]? | {name, status} +
    (if .checks then {checks: [.checks[] | select(.status != "passed") | {gate, status, detail}]} else {} end) +
    (if .new_failures then {new_failures: [.new_failures[].name], counts, baseline} else {} end) +
    (if .files then {files: [.files[] | select(.status != "passed") | {path, status}]} else {} end) +
    (if .warnings then {warnings: [.warnings.new[]? | "\(.file):\(.line) \(.flag)"]} else {} end)]}' "$R" 2>/dev/null)
  [ -n "$s" ] || s="stdout: $(head -c 300 "$R")"
  printf 'exit %s: %s; stderr: %s' "$RC" "${s:0:900}" "$(head -c 300 "$E" | tr '\n' ' ')"
}

stage_status() { q ".stages[] | select(.name == \"$1\") | .status"; }
# ran STAGE: whether the report has STAGE, not skipped (stages after the one that failed are
# either left out or "skipped").
ran() { case "$(stage_status "$1")" in "" | skipped) return 1 ;; esac; }
first_reason() { q '.reasons[0] // ""'; }

# expect_rejected NAME STAGE REASON-REGEX: exit 1, "rejected", and the first reason names STAGE
# and matches REASON-REGEX.
expect_rejected() {
  local name=$1 stage=$2 re=$3 reason
  reason=$(first_reason)
  if [ "$RC" -eq 1 ] && [ "$(q .verdict)" = rejected ] && [[ $reason =~ ^$stage:\ .*$re ]]; then
    pass "$name: rejected ($reason)"
    return 0
  fi
  fail "$name: rejected by $stage (/$re/)" "$(excerpt)"
  return 1
}

# run_case REPO FIXTURE CASE [ARG...]: make the changeset and validate it, checking that the
# repository did not change; 1 when either could not run (reported).
run_case() {
  local repo=$1 fx=$2 case=$3 before after
  shift 3
  if ! make_cs "$repo" "$fx" "$case" "$@"; then
    fail "$fx/$case: making the changeset" "$CS_ERR"
    return 1
  fi
  before=$(picture "$repo")
  validate "$repo" "$CS" --json
  after=$(picture "$repo")
  if [ "$before" != "$after" ]; then
    fail "$fx/$case: the repository is unchanged by validation" \
      "$(diff <(echo "$before") <(echo "$after") | head -8 | tr '\n' ' ')"
  fi
  if [ "$VALIDATE_VERBOSE" = 1 ]; then
    echo "---- $fx/$case [$IDENTITY]: exit $RC"
    cat "$R" "$E"
  fi
  if ! jq -e . "$R" >/dev/null 2>&1; then
    fail "$fx/$case: a JSON report" "$(excerpt)"
    return 1
  fi
}

# ---- the cases, by kind ------------------------------------------------------------------------

c_good() {
  local n="$1/good"
  if [ "$RC" -eq 0 ] && [ "$(q .verdict)" = accepted ] && [ "$(q '.reasons | length')" = 0 ] &&
    [ -z "$(q '.stages[] | select(.status == "failed" or .status == "timeout") | .name')" ]; then
    pass "$n: accepted"
  else
    fail "$n: accepted" "$(excerpt)"
    return
  fi
  # One more test ran than on the baseline (the change adds one), all passed.
  local counts
  counts=$(q '.stages[] | select(.name == "test") | "\(.counts.passed) \(.counts.failed) \(.baseline.passed) \(.baseline.failed)"')
  read -r p f bp bf <<<"$counts"
  if [ "${p:-x}" = "$((${bp:-0} + 1))" ] && [ "$f" = "$bf" ]; then
    pass "$n: the new test is counted ($bp -> $p passed)"
  else
    fail "$n: the new test is counted" "counts passed failed, baseline passed failed: $counts"
  fi
  if [ "$1" = python-baseline-fails ]; then
    local pre
    pre=$(q '.stages[] | select(.name == "test") | .preexisting_failures | join(" ")')
    [[ $pre =~ test_names_skip_empty ]] && pass "$n: the baseline's failure is reported as preexisting" ||
      fail "$n: the baseline's failure is reported as preexisting" "$(excerpt)"
  fi
}

c_syntax() { # FIXTURE FILE
  local n="$1/syntax"
  expect_rejected "$n" syntax "$2" || return
  [ "$(stage_status syntax)" = failed ] &&
    [ "$(q ".stages[] | select(.name == \"syntax\") | .files[] | select(.path == \"$2\") | .status")" = failed ] &&
    ! ran build &&
    pass "$n: $2 failed the syntax stage, the build did not run" ||
    fail "$n: $2 failed the syntax stage, the build did not run" "$(excerpt)"
}

c_build() {
  local n="$1/build"
  expect_rejected "$n" build "" || return
  # Not a syntax error: the syntax stage passed (or had nothing to say), the build failed.
  local syn
  syn=$(stage_status syntax)
  if [ "$(stage_status build)" = failed ] && [ "$syn" != failed ] &&
    [ "$(q '.stages[] | select(.name == "build") | .exit_status')" != 0 ] &&
    [ -n "$(q '.stages[] | select(.name == "build") | .output')" ]; then
    pass "$n: the build stage failed with its output (syntax: $syn)"
  else
    fail "$n: the build stage failed with its output" "$(excerpt)"
  fi
}

c_test() { # FIXTURE TEST-NAME [CASE]
  local n="$1/${3:-test}"
  expect_rejected "$n" test "$2" || return
  local names
  names=$(q '.stages[] | select(.name == "test") | [.new_failures[].name] | join(" ")')
  # The evidence: the failure's own output where the results name it (JUnit, go test -json),
  # else the test command's output (a runner's text summary, such as make check's).
  if [ "$(stage_status test)" = failed ] && [[ $names =~ $2 ]] &&
    [ "$(q '.stages[] | select(.name == "test") | .new_failures | length')" = 1 ] &&
    [ -n "$(q '.stages[] | select(.name == "test") | (.new_failures[0].output // "") + (.output // "")')" ]; then
    pass "$n: one new failure, $names, with its output"
  else
    fail "$n: one new failure, $2, with its output" "$(excerpt)"
  fi
}

c_warning() {
  local n="$1/warning"
  expect_rejected "$n" "(gates|build)" "warning" || return
  local w
  w=$(q '[.stages[] | select(.name == "build") | .warnings.new[]? | "\(.file):\(.line) \(.flag)"] | join(", ")')
  if [[ $w == *-Wunused-variable* ]] &&
    [ "$(q '.stages[] | select(.name == "gates") | .checks[] | select(.gate == "warnings") | .status')" = failed ]; then
    pass "$n: the new warning is named ($w), the warnings gate failed"
  else
    fail "$n: the new warning is named, the warnings gate failed" "$(excerpt)"
  fi
  # Named as in the repository, not by the snapshot's path below .tars/.
  w=$(q '[.stages[] | select(.name == "build") | .warnings.new[]?.file] | join(" ")')
  [ "$w" = "$2" ] && pass "$n: the warning's file is $2" ||
    fail "$n: the warning's file is $2, relative to the repository" "file: $w"
}

c_timeout() { # FIXTURE SECONDS
  local n="$1/timeout"
  expect_rejected "$n" test "timed out" || return
  local ms
  ms=$(q '.stages[] | select(.name == "test") | .duration_ms')
  if [ "$(stage_status test)" = timeout ] && [ "${ms%.*}" -lt $(($2 * 1000 + 30000)) ]; then
    pass "$n: the test stage timed out after ${ms} ms (limit $2 s)"
  else
    fail "$n: the test stage timed out (limit $2 s)" "$(excerpt)"
  fi
}

c_forbidden() { # FIXTURE PATH PATTERN
  local n="$1/forbidden"
  expect_rejected "$n" gates "forbidden path $2 \\(pattern $3\\)" || return
  if [ "$(q '.stages[] | select(.name == "gates") | .checks[] | select(.gate == "forbidden_paths") | .status')" = failed ] &&
    ! ran build && ! ran test; then
    pass "$n: the forbidden_paths gate failed before anything ran"
  else
    fail "$n: the forbidden_paths gate failed before anything ran" "$(excerpt)"
  fi
}

c_delete_tests() { # FIXTURE BASELINE-COUNT CHANGE-COUNT
  local n="$1/delete-tests"
  expect_rejected "$n" gates "fewer tests executed than the baseline \\($2 -> $3\\)" || return
  if [ "$(q '.stages[] | select(.name == "gates") | .checks[] | select(.gate == "test_count") | .status')" = failed ]; then
    pass "$n: the test_count gate failed"
  else
    fail "$n: the test_count gate failed" "$(excerpt)"
  fi
}

c_noop_build() {
  local n="$1/noop-build"
  # Nothing was built and no test ran: the test stage or the test count must say so.
  if [ "$RC" -eq 1 ] && [ "$(q .verdict)" = rejected ] && [[ $(first_reason) =~ ^(gates|test):\  ]]; then
    pass "$n: rejected ($(first_reason))"
  else
    fail "$n: rejected by the tests or the test count" "$(excerpt)"
  fi
}

c_write_outside() { # FIXTURE REPO TARGET...
  local n="$1/write-outside" repo=$2 left
  shift 2
  if [ "$RC" -eq 1 ] && [ "$(q .verdict)" = rejected ] && [[ $(first_reason) =~ ^(build|test):\  ]]; then
    pass "$n: rejected ($(first_reason))"
  else
    fail "$n: rejected" "$(excerpt)"
  fi
  # The escapes aimed at the given paths and at the workspace's parent, whatever path the
  # workspace had inside the sandbox: look everywhere below $TARS_TMP (the repository, its .tars/
  # and its parent included).
  left=$(
    for t in "$@"; do [ -e "$t" ] && echo "$t"; done
    find "$TARS_TMP" -name 'ESCAPED-*' 2>/dev/null
  )
  if [ -z "$left" ]; then pass "$n: nothing was written on the host"; else
    fail "$n: nothing was written on the host" "$(echo "$left" | tr '\n' ' ')"
    rm -f $left
  fi
}

# ---- per fixture -------------------------------------------------------------------------------

# fixture FIXTURE CASE...: one repository of FIXTURE; each case (its name, then "," and the
# arguments of its check, separated by ",") is validated in turn.
fixture() {
  local fx=$1 repo missing first=1 c case args
  shift
  missing=$(toolchain_missing "$fx" | tr '\n' ' ')
  if [ -n "$missing" ]; then
    skip "$fx" "the sandboxes find no ${missing% } (scripts/setup.sh installs it)"
    return
  fi
  local any=0
  for c in "$@"; do wanted "$fx/${c%%,*}" && any=1; done
  [ "$any" = 1 ] || return
  repo=$(new_repo "$fx") || { fail "$fx: making the repository"; return; }
  for c in "$@"; do
    case=${c%%,*}
    wanted "$fx/$case" || continue
    IFS=, read -r -a args <<<"${c#*,}"
    [ "$c" = "$case" ] && args=()
    if [ "$case" = write-outside ]; then
      local targets=("$TARS_TMP/outside/ESCAPED-$IDENTITY-$fx" "$(dirname "$repo")/ESCAPED-abs-$fx")
      run_case "$repo" "$fx" "$case" "${targets[@]}" || continue
    else
      run_case "$repo" "$fx" "$case" || continue
    fi
    # The first validation of this repository runs its baseline; every later one that gets as far
    # as the build finds it cached (a change the gates or the syntax check reject needs none).
    local cached
    cached=$(q .baseline_cached)
    if ! ran build && ! ran test; then
      :
    elif [ "$first" = 1 ]; then
      [ "$cached" = false ] && pass "$fx/$case: the first validation runs the baseline" ||
        fail "$fx/$case: the first validation runs the baseline" "baseline_cached: $cached"
    else
      [ "$cached" = true ] && pass "$fx/$case: the baseline is cached" ||
        fail "$fx/$case: the baseline is cached" "baseline_cached: $cached"
    fi
    first=0
    case "$case" in
      good) c_good "$fx" ;;
      syntax) c_syntax "$fx" "${args[@]}" ;;
      build) c_build "$fx" ;;
      test) c_test "$fx" "${args[@]}" ;;
      warning) c_warning "$fx" "${args[@]}" ;;
      timeout) c_timeout "$fx" "${args[@]}" ;;
      forbidden) c_forbidden "$fx" "${args[@]}" ;;
      delete-tests) c_delete_tests "$fx" "${args[@]}" ;;
      noop-build) c_noop_build "$fx" ;;
      write-outside) c_write_outside "$fx" "$repo" "${targets[@]}" ;;
      breaks-other) c_breaks_other "$fx" ;;
      edit-config) c_edit_config "$fx" ;;
      flaky) c_flaky "$fx" ;;
    esac
  done
}

c_breaks_other() {
  local n="$1/breaks-other" pre
  c_test "$1" test_total breaks-other
  pre=$(q '.stages[] | select(.name == "test") | .preexisting_failures | join(" ")')
  if [[ $pre =~ test_names_skip_empty ]] &&
    ! q '.stages[] | select(.name == "test") | .new_failures[].name' | grep -q test_names_skip_empty; then
    pass "$n: the baseline's failure is preexisting, not new"
  else
    fail "$n: the baseline's failure is preexisting, not new" "$(excerpt)"
  fi
}

c_flaky() {
  local n="$1/flaky" flaky
  flaky=$(q '.stages[] | select(.name == "test") | .flaky | join(" ")')
  if [ "$RC" -eq 0 ] && [ "$(q .verdict)" = accepted ] && [ "$flaky" = "flaky:once" ] &&
    [ "$(q '.stages[] | select(.name == "test") | .new_failures | length')" = 0 ]; then
    pass "$n: accepted, the test that flips is reported as flaky"
  else
    fail "$n: accepted, the test that flips is reported as flaky" "$(excerpt)"
  fi
}

c_edit_config() {
  local n="$1/edit-config"
  expect_rejected "$n" gates "tars\\.json" || return
  if [ "$(q '.stages[] | select(.name == "gates") | .checks[] | select(.gate == "policy") | .status')" = failed ]; then
    pass "$n: the policy gate refuses the change to tars.json"
  else
    fail "$n: the policy gate refuses the change to tars.json" "$(excerpt)"
  fi
}

t_c_cmake() {
  fixture c-cmake good syntax,src/calc.c build test,calc_clamp warning,src/calc.c timeout,5 \
    forbidden,vendor/minmax.h,vendor/ delete-tests,5,4 noop-build write-outside
}

t_c_make() {
  fixture c-make good syntax,src/stack.c build test,stack:full warning,src/words.c timeout,5 \
    forbidden,vendor/bits.h,vendor/ delete-tests,5,4 noop-build write-outside edit-config flaky
}

t_python() {
  fixture python good syntax,mathy/text.py build test,test_clamp timeout,5 \
    forbidden,vendor/six_compat.py,vendor/ delete-tests,6,4 write-outside
}

t_go() {
  fixture go good syntax,textutil/textutil.go build test,TestLargest timeout,20 \
    forbidden,third_party/NOTICE.txt,third_party/ delete-tests,6,4 noop-build write-outside
}

t_python_baseline_fails() {
  fixture python-baseline-fails good breaks-other delete-tests,6,5
}

# The c-make fixture in a plain directory (no git): every file is snapshotted.
t_plain_dir() {
  wanted "c-make-plain/good" || wanted "c-make-plain/test" || return
  local fx=c-make repo
  [ -z "$(toolchain_missing $fx)" ] || { skip "c-make-plain" "no make or cc"; return; }
  repo=$(new_repo $fx plain) || { fail "c-make-plain: making the directory"; return; }
  if make_cs "$repo" $fx test; then
    validate "$repo" "$CS"
    # Text output: the first line is "rejected: <first reason>".
    local line
    line=$(head -1 "$R")
    if [ "$RC" -eq 1 ] && [[ $line =~ ^rejected:\ test:\ .*stack:full ]]; then
      pass "c-make-plain/test: rejected, in text ($line)"
    else
      fail "c-make-plain/test: rejected, in text" "exit $RC: $(head -c 300 "$R") $(head -c 300 "$E")"
    fi
  else
    fail "c-make-plain/test: making the changeset" "$CS_ERR"
  fi
  if make_cs "$repo" $fx good; then
    validate "$repo" "$CS"
    if [ "$RC" -eq 0 ] && [ "$(head -1 "$R")" = accepted ]; then
      pass "c-make-plain/good: accepted, in text"
    else
      fail "c-make-plain/good: accepted, in text" "exit $RC: $(head -c 300 "$R") $(head -c 300 "$E")"
    fi
    validate "$repo" "$CS" --json
    [ "$(q .baseline_cached)" = true ] && pass "c-make-plain: the baseline is cached" ||
      fail "c-make-plain: the baseline is cached" "$(excerpt)"
  else
    fail "c-make-plain/good: making the changeset" "$CS_ERR"
  fi
}

# ---- bad configuration: exit 2, the problem named ----------------------------------------------

# bad_config NAME REGEX SETUP-COMMAND: a c-make repository changed by SETUP-COMMAND (run in it,
# before the commit), and a harmless changeset; validate exits 2 and names REGEX on stderr.
bad_config() {
  local name=$1 re=$2 setup=$3 d repo
  wanted "config/$name" || return
  d=$(mktemp_ws) && repo=$d/repo && mkdir "$repo" || return
  if [ "$name" = no-toolchain ]; then
    printf 'Just some notes.\n' >"$repo/NOTES.txt"
  else
    tar -C "$FX/c-make" --exclude=./changes -cf - . | tar -C "$repo" -xf -
  fi
  (cd "$repo" && eval "$setup") || { fail "config/$name: setting up"; return; }
  git -C "$repo" init -q && git -C "$repo" add -A &&
    git -C "$repo" -c user.name=t -c user.email=t@example.com commit -qm "$name" || return
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$d"; fi
  CS=$(mktemp_ws)/cs
  if ! run_tars sandbox run --workspace "$repo" --changes-out "$CS" -- sh -c 'echo more >>NOTES.txt' \
    >"$TARS_TMP/logs/cs.out" 2>&1; then
    fail "config/$name: making the changeset" "$(head -c 300 "$TARS_TMP/logs/cs.out")"
    return
  fi
  local before after
  before=$(picture "$repo")
  validate "$repo" "$CS" --json
  after=$(picture "$repo")
  if [ "$RC" -eq 2 ] && grep -Eq -- "$re" "$E"; then
    pass "config/$name: exit 2, named ($(head -1 "$E" | cut -c1-150))"
  else
    fail "config/$name: exit 2, /$re/ on stderr" "exit $RC: stderr: $(head -c 300 "$E") stdout: $(head -c 200 "$R")"
  fi
  [ "$before" = "$after" ] || fail "config/$name: the repository is unchanged" \
    "$(diff <(echo "$before") <(echo "$after") | head -8 | tr '\n' ' ')"
}

t_bad_config() {
  bad_config malformed 'tars\.json' 'printf "{\"validate\": {\"gates\": \n" >tars.json'
  bad_config unknown-toolchain 'bazel' 'printf "{\"validate\": {\"toolchain\": \"bazel\"}}\n" >tars.json'
  bad_config no-such-command 'nosuch-build-tool' \
    'printf "{\"validate\": {\"build\": \"nosuch-build-tool --all\"}}\n" >tars.json'
  bad_config misspelt-key 'warnigns' 'printf "{\"validate\": {\"gates\": {\"warnigns\": true}}}\n" >tars.json'
  bad_config no-toolchain 'toolchain' 'true'
}

for_each_identity t_bad_config
for_each_identity t_c_cmake
for_each_identity t_c_make
for_each_identity t_plain_dir
for_each_identity t_python
for_each_identity t_python_baseline_fails
for_each_identity t_go
