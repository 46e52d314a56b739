#!/bin/bash
# The README's demo must keep working: run it end to end with the built tars.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

if TARS="$TARS" TMPDIR="$TARS_TMP" bash "$TARS_SRC/scripts/demo.sh" >"$TARS_TMP/demo.out" 2>&1; then
  pass "scripts/demo.sh runs end to end"
else
  fail "scripts/demo.sh runs end to end" "$(tail -5 "$TARS_TMP/demo.out" | tr '\n' ' ')"
fi
grep -q "refused, and .git/hooks/pre-commit does not exist" "$TARS_TMP/demo.out" &&
  pass "the demo shows the hostile changeset refused" ||
  fail "the demo shows the hostile changeset refused"
