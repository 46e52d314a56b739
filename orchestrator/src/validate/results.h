/* Test results and compiler diagnostics, parsed from what a build or a test runner wrote inside
 * a sandbox.  Everything parsed here is untrusted (the code under test wrote or influenced it):
 * every parser bounds what it keeps, never trusts a count it cannot check, and fails with
 * TARS_ERR_INVALID naming the problem on malformed input rather than guessing.  */
#ifndef TARS_RESULTS_H
#define TARS_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tars/error.h"

enum tars_test_status
{
  TARS_TEST_PASSED,
  TARS_TEST_FAILED, /* failures and errors alike */
  TARS_TEST_SKIPPED,
};

/* Limits on what is kept, whatever the input holds.  */
#define TARS_RESULTS_MAX_CASES 100000
#define TARS_RESULTS_MAX_NAME 512    /* bytes of a test's name (longer names are cut) */
#define TARS_RESULTS_MAX_OUTPUT 4096 /* bytes of one failure's output: its last lines */
#define TARS_RESULTS_MAX_OUTPUT_LINES 40

struct tars_test_case
{
  char *name; /* unique within the run: "suite::name" (JUnit classname::name, or name alone when
                 the classname is empty or the name again as ctest writes it; go package::Test;
                 pytest node id...), cleaned of control characters and invalid UTF-8 ('?'), cut
                 to TARS_RESULTS_MAX_NAME bytes; a repeated name gets " #2", " #3"... */
  enum tars_test_status status;
  char *output; /* failures only: the trimmed message and output (see tars_trim_output), or NULL */
};

struct tars_test_results
{
  bool parsed;     /* false: nothing recognisable was found (counts are 0) */
  char source[32]; /* "junit", "go-json", "pytest", "ctest", "cargo", "unittest", "automake",
                      "dotnet", "tap", "jest", "meson" */
  uint64_t passed, failed, skipped;
  struct tars_test_case *cases; /* per-test outcomes when the source names tests; for text
                                   summaries at least the failures whose names are printed */
  size_t n_cases;
};

/* Parse one JUnit XML document (the <testsuites> or <testsuite> root as written by pytest,
 * ctest --output-junit, meson, cargo2junit, gotestsum...; <testcase> with <failure>, <error> or
 * <skipped> children, else ctest's status="fail|notrun|disabled").  Counts are those of the
 * testcases found, not the attributes; every testcase counts, the first TARS_RESULTS_MAX_CASES
 * of R are kept.  A failure's output is its message, then the end of its text, <system-out> and
 * <system-err>.  Appends to R (several files may be parsed into one result); sets R->parsed and
 * R->source ("junit").  A malformed document, a DOCTYPE (so any entity declaration), another
 * root or elements nested deeper than 64 are TARS_ERR_INVALID, with the line, and leave R as it
 * was.  */
int tars_results_parse_junit(const char *xml, size_t len, struct tars_test_results *r,
                             struct tars_error *err);

/* Parse `go test -json` output (one JSON event per line: Action run|pass|fail|skip|output, with
 * Package, Test, Output).  Subtests are cases of their own ("pkg::TestA/sub"); a test run
 * several times (-count) fails if one run failed; a test that never ended (a -timeout panic,
 * output cut short) failed unless its package passed.  Package-level pass/fail lines without a
 * Test count only when a package fails without any test failing: one failed case named
 * "<package>::(build)" when the test binary did not build (its compiler output as the output),
 * else "<package>::(package)" (TestMain or init panicked).  Non-JSON lines are ignored; without
 * any event R->parsed stays false.  */
int tars_results_parse_go_json(const char *text, size_t len, struct tars_test_results *r,
                               struct tars_error *err);

/* Parse a runner's own printed summary: RUNNER is one of "pytest", "ctest", "cargo", "unittest",
 * "automake" (make check), "dotnet", "tap", "jest" (npm scripts), "meson".  When the text has no
 * summary this runner prints, R->parsed stays false, nothing is added and 0 is returned: the
 * caller falls back on the exit status.  An unknown RUNNER is TARS_ERR_INVALID.  Several
 * summaries (cargo's test binaries, dotnet's projects, make's directories) are added up; errors
 * count as failures, expected failures as skipped for pytest and unittest (as their JUnit has
 * it) and as passed for automake and meson.  The names of failed tests are collected where the
 * runner prints them (pytest "FAILED node::id" with its message as output, ctest "NN - name
 * (Failed)", cargo "test path ... FAILED", unittest "FAIL: test (mod.Class)" as
 * "mod.Class.test", automake "FAIL: name", dotnet "Failed Name [1 ms]", jest "● Suite › test",
 * meson "N/M name FAIL"), each once; TAP's every test is a case ("1..N" with fewer tests adds a
 * failed "(plan)", "Bail out!" a failed "(bail out)").  Terminal escapes are ignored.  */
int tars_results_parse_text(const char *runner, const char *text, size_t len,
                            struct tars_test_results *r, struct tars_error *err);

void tars_test_results_free(struct tars_test_results *r);
#define cleanup_test_results __attribute__((cleanup(tars_test_results_free)))

/* The case named NAME in R, or NULL.  */
const struct tars_test_case *tars_results_find(const struct tars_test_results *r, const char *name);

/* A compiler diagnostic, as gcc and clang print them: "FILE:LINE[:COL]: warning: MESSAGE [-Wflag]".
 */
struct tars_warning
{
  char *file; /* as printed (relative or absolute) */
  unsigned long line;
  char *message; /* without the trailing " [-Wflag]" */
  char *flag;    /* "-Wunused-variable", or NULL when none is printed */
};

/* Every warning in TEXT (gcc/clang style, also "FILE:LINE: warning:" without a column, coloured
 * or not), at most 10000, duplicates (same file, line, message) dropped; notes, errors, context
 * lines ("In function", "In file included from") and diagnostics without a line are not
 * warnings.  Files are cut to 4096 bytes, messages to 1024, cleaned as names are.  *OUT is
 * malloc'd (may be NULL with *N 0).  */
int tars_warnings_parse(const char *text, size_t len, struct tars_warning **out, size_t *n,
                        struct tars_error *err);
void tars_warnings_free(struct tars_warning *w, size_t n);

/* The last MAX_LINES lines of TEXT (LEN bytes), at most MAX_BYTES bytes (cut at a line start when
 * possible, never inside a character), with control characters other than \n and \t replaced by
 * '?' (the \r of \r\n dropped) and invalid UTF-8 replaced by '?': what a report may show of
 * untrusted output.  Never NULL (malloc'd, "" for empty input); NULL only when out of memory.  */
char *tars_trim_output(const char *text, size_t len, size_t max_lines, size_t max_bytes);

#endif
