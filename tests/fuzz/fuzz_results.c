/* libFuzzer target for the test result and warning parsers (results.h): the same untrusted
 * bytes as JUnit XML, `go test -json` output, every runner's text summary and compiler output,
 * and through tars_trim_output.
 *
 * Besides the sanitizers' findings it checks what results.h promises: at most
 * TARS_RESULTS_MAX_CASES cases with unique names of at most TARS_RESULTS_MAX_NAME bytes, no
 * control characters in names, outputs within TARS_RESULTS_MAX_OUTPUT bytes and
 * TARS_RESULTS_MAX_OUTPUT_LINES lines, only failures with outputs, and a result left as it was
 * when a parse fails.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "validate/results.h"
#include "tars/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct tars_test_results *r)
{
  if (r->n_cases > TARS_RESULTS_MAX_CASES || (!r->parsed && r->n_cases > 0))
    abort();
  for (size_t i = 0; i < r->n_cases; i++)
    {
      const struct tars_test_case *c = &r->cases[i];
      size_t n = strlen(c->name);
      if (n == 0 || n > TARS_RESULTS_MAX_NAME)
        abort();
      for (const unsigned char *p = (const unsigned char *)c->name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
          abort();
      if (c->output != NULL)
        {
          if (c->status != TARS_TEST_FAILED || strlen(c->output) > TARS_RESULTS_MAX_OUTPUT)
            abort();
          size_t lines = 1;
          for (const char *p = c->output; (p = strchr(p, '\n')) != NULL; p++)
            lines++;
          if (lines > TARS_RESULTS_MAX_OUTPUT_LINES)
            abort();
        }
      /* Names are unique (quadratic, but the fuzzer's inputs are small).  */
      if (r->n_cases < 2000)
        for (size_t j = 0; j < i; j++)
          if (strcmp(r->cases[j].name, c->name) == 0)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const runners[] = {"pytest", "ctest", "cargo", "unittest", "automake",
                                        "dotnet", "tap",   "jest",  "meson"};
  const char *text = (const char *)data;
  struct tars_error err;
  struct tars_test_results r = {0};

  /* JUnit, into a result that already holds a case of the same name as the input may hold:
   * a failed parse leaves it as it was.  */
  static const char seed[] = "<testsuite><testcase name=\"a\"/></testsuite>";
  if (tars_results_parse_junit(seed, sizeof seed - 1, &r, &err) < 0 || r.n_cases != 1)
    abort();
  if (tars_results_parse_junit(text, size, &r, &err) < 0 &&
      (r.n_cases != 1 || r.passed != 1 || r.failed != 0 || r.skipped != 0))
    abort();
  check(&r);
  tars_test_results_free(&r);

  if (tars_results_parse_go_json(text, size, &r, &err) < 0)
    abort();
  check(&r);
  tars_test_results_free(&r);

  for (size_t i = 0; i < sizeof runners / sizeof *runners; i++)
    {
      if (tars_results_parse_text(runners[i], text, size, &r, &err) < 0)
        abort();
      check(&r);
      tars_test_results_free(&r);
    }

  struct tars_warning *w;
  size_t n;
  if (tars_warnings_parse(text, size, &w, &n, &err) < 0 || n > 10000)
    abort();
  for (size_t i = 0; i < n; i++)
    if (w[i].file == NULL || w[i].message == NULL || *w[i].file == '\0')
      abort();
  tars_warnings_free(w, n);

  size_t max_bytes = size > 0 ? data[0] : 0, max_lines = size > 1 ? data[1] % 8 : 0;
  cleanup_free char *t = tars_trim_output(text, size, max_lines, max_bytes);
  if (t == NULL || strlen(t) > max_bytes)
    abort();
  size_t lines = 0;
  for (const char *p = t; (p = strchr(p, '\n')) != NULL; p++)
    lines++;
  if (*t != '\0' && lines > max_lines)
    abort();
  return 0;
}
