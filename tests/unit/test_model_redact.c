/* Redaction: the key wherever it appears, Authorization headers, bearer tokens and the common
 * token shapes, in text and in every string of a JSON tree; ordinary text left alone.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/redact.h"
#include "tars/cleanup.h"

static void
expect(const struct tars_redactor *r, const char *in, const char *out)
{
  cleanup_free char *got = tars_redact(r, in);
  assert_non_null(got);
  if (strcmp(got, out) != 0)
    fail_msg("redact(\"%s\")\n  got      \"%s\"\n  expected \"%s\"", in, got, out);
  assert_int_equal(tars_redact_needed(r, in), strcmp(in, out) != 0);
}

static void
the_key_goes_wherever_it_is(void **state)
{
  (void)state;
  struct tars_redactor r;
  tars_redactor_init(&r);
  assert_int_equal(tars_redactor_add(&r, "k3y-Of-Mine_42"), 0);
  expect(&r, "k3y-Of-Mine_42", "[REDACTED]");
  expect(&r, "the key is k3y-Of-Mine_42.", "the key is [REDACTED].");
  expect(&r, "twicek3y-Of-Mine_42k3y-Of-Mine_42", "twice[REDACTED][REDACTED]");
  expect(&r, "k3y-Of-Mine_4 is not it", "k3y-Of-Mine_4 is not it");
  /* Too short to be told from ordinary words: not a secret to the redactor.  */
  assert_int_equal(tars_redactor_add(&r, "abc"), 0);
  assert_int_equal(r.n_secrets, 1);
  expect(&r, "abc", "abc");
  tars_redactor_free(&r);
}

static void
headers_and_bearer_tokens(void **state)
{
  (void)state;
  expect(NULL, "Authorization: Bearer abc.def-ghi\nnext line",
         "Authorization: [REDACTED]\nnext line");
  expect(NULL, "authorization:Basic dXNlcjpwYXNz", "authorization:[REDACTED]");
  expect(NULL, "Proxy-Authorization: Basic xyz\r\n", "Proxy-Authorization: [REDACTED]\r\n");
  expect(NULL, "{\"Authorization\": \"Bearer q1w2e3r4t5\", \"x\": 1}",
         "{\"Authorization\": \"[REDACTED]\", \"x\": 1}");
  expect(NULL, "curl -H 'bearer 0123456789abcdef' url", "curl -H 'bearer [REDACTED]' url");
  expect(NULL, "Bearer short", "Bearer short");
  expect(NULL, "no authorization needed", "no authorization needed");
}

static void
token_shapes(void **state)
{
  (void)state;
  expect(NULL, "OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUv", "OPENAI_API_KEY=[REDACTED]");
  expect(NULL, "sk-ant-api03-0123456789abcdefXYZ", "[REDACTED]");
  expect(NULL, "token ghp_0123456789abcdefghijABCDEFGHIJ0123 ok", "token [REDACTED] ok");
  expect(NULL, "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu", "[REDACTED]");
  expect(NULL, "xoxb-123456789012-abcdefABCDEF", "[REDACTED]");
  expect(NULL, "aws AKIAIOSFODNN7EXAMPLE key", "aws [REDACTED] key");
  expect(NULL, "AIzaSyA-1234567890abcdefghijklmnopqrst", "[REDACTED]");
  expect(NULL, "glpat-abcdefghij0123456789", "[REDACTED]");
  expect(NULL, "hf_abcdefghijklmnopqrstuvwxyz012345", "[REDACTED]");
  expect(NULL,
         "jwt "
         "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
         "XgL0n3I9PlFUP0THsR8U "
         "end",
         "jwt [REDACTED] end");
  /* Inside a word, or too short: not a token.  */
  expect(NULL, "task-0123456789abcdefgh", "task-0123456789abcdefgh");
  expect(NULL, "sk-short", "sk-short");
  expect(NULL, "AKIA-not-a-key", "AKIA-not-a-key");
  expect(NULL, "eyJhbGciOiJIUzI1NiJ9 alone", "eyJhbGciOiJIUzI1NiJ9 alone");
}

static void
pem_private_keys(void **state)
{
  (void)state;
  expect(NULL,
         "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\n"
         "after",
         "before\n[REDACTED]\nafter");
  expect(NULL, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "[REDACTED]");
  expect(NULL, "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----", "[REDACTED]");
  expect(NULL, "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
         "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----");
}

static void
ordinary_text_is_left_alone(void **state)
{
  (void)state;
  static const char *const texts[] = {
      "",
      "int main(void) { return 0; }",
      "def test_sk(): assert skip(1)",
      "The function `authorize` checks the user.",
      "A -----BEGIN marker without the rest",
      "utf-8 \xc3\xa9\xe2\x80\x99 quotes",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    expect(NULL, texts[i], texts[i]);
}

static void
every_string_of_a_json_tree(void **state)
{
  (void)state;
  struct tars_redactor r;
  tars_redactor_init(&r);
  assert_int_equal(tars_redactor_add(&r, "the-secret-key"), 0);
  cleanup_cjson cJSON *j =
      cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"use the-secret-key please\"}],"
                  "\"headers\":{\"the-secret-key\":\"Authorization: Bearer abcdefghijkl\"},"
                  "\"n\":5,\"nested\":[[\"ghp_0123456789abcdefghijABCDEFGHIJ0123\"]]}");
  assert_non_null(j);
  assert_int_equal(tars_redact_json(&r, j), 0);
  cleanup_free char *text = cJSON_PrintUnformatted(j);
  assert_string_equal(text, "{\"messages\":[{\"role\":\"user\",\"content\":\"use [REDACTED] "
                            "please\"}],\"headers\":{\"[REDACTED]\":\"Authorization: "
                            "[REDACTED]\"},\"n\":5,\"nested\":[[\"[REDACTED]\"]]}");
  tars_redactor_free(&r);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_key_goes_wherever_it_is),
      cmocka_unit_test(headers_and_bearer_tokens),
      cmocka_unit_test(token_shapes),
      cmocka_unit_test(pem_private_keys),
      cmocka_unit_test(ordinary_text_is_left_alone),
      cmocka_unit_test(every_string_of_a_json_tree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
