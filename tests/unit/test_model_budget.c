/* Budget ledgers: calls, prompt and completion tokens and model time, per step and per
 * execution; what an admitted call gets as its limits; refusals that name the budget spent.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/budget.h"
#include "tars/cleanup.h"

static struct tars_chat_request
request(const char *step, size_t prompt_bytes)
{
  struct tars_chat_request r;
  tars_chat_request_init(&r);
  r.step_id = step ? strdup(step) : NULL;
  char *text = malloc(prompt_bytes + 1);
  memset(text, 'x', prompt_bytes);
  text[prompt_bytes] = '\0';
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, text, NULL), 0);
  free(text);
  return r;
}

static void
calls_are_counted_per_step_and_per_execution(void **state)
{
  (void)state;
  struct tars_budget step = {.calls = 2}, exec = {.calls = 3};
  struct tars_budget_ledger *l = NULL;
  assert_int_equal(tars_budget_ledger_new(&step, &exec, &l, NULL), 0);
  long mt, to;
  struct tars_error err = {0};
  cleanup_chat_request struct tars_chat_request a = request("a", 4);
  cleanup_chat_request struct tars_chat_request b = request("b", 4);
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), 0);
  /* In flight counts: the second call of a is admitted, the third refused before either ends.  */
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), 0);
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_string_equal(err.msg, "step a: 2 of 2 calls used");
  assert_int_equal(tars_budget_admit(l, &b, &mt, &to, &err), 0);
  assert_int_equal(tars_budget_admit(l, &b, &mt, &to, &err), -1);
  assert_string_equal(err.msg, "execution: 3 of 3 calls used");
  struct tars_budget_use su, eu;
  tars_budget_get(l, "a", &su, &eu, NULL, NULL);
  assert_int_equal(su.calls, 2);
  assert_int_equal(eu.calls, 3);
  tars_budget_ledger_free(l);
}

static void
tokens_and_time_cap_what_a_call_gets(void **state)
{
  (void)state;
  struct tars_budget step = {.completion_tokens = 100, .wall_ms = 10000},
                     exec = {.prompt_tokens = 1000, .completion_tokens = 150};
  struct tars_budget_ledger *l = NULL;
  assert_int_equal(tars_budget_ledger_new(&step, &exec, &l, NULL), 0);
  long mt, to;
  struct tars_error err = {0};
  cleanup_chat_request struct tars_chat_request a = request("a", 400); /* ~100 tokens */
  a.max_tokens = 500;
  a.timeout_ms = 60000;
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), 0);
  assert_int_equal(mt, 100);
  assert_int_equal(to, 10000);
  struct tars_chat_usage u = {120, 70, false};
  tars_budget_finish(l, "a", &u, 4000);
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), 0);
  assert_int_equal(mt, 30);
  assert_int_equal(to, 6000);
  tars_budget_finish(l, "a", &u, 1000);
  /* The step's completion tokens are spent (140 of 100: the server ignored max_tokens).  */
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), -1);
  assert_string_equal(err.msg, "step a: 140 of 100 completion tokens used");
  /* Another step: the execution has 10 completion tokens left, which is what it gets.  */
  cleanup_chat_request struct tars_chat_request b = request("b", 40);
  assert_int_equal(tars_budget_admit(l, &b, &mt, &to, &err), 0);
  assert_int_equal(mt, 10);
  struct tars_chat_usage ub = {10, 10, false};
  tars_budget_finish(l, "b", &ub, 100);
  assert_int_equal(tars_budget_admit(l, &b, &mt, &to, &err), -1);
  assert_string_equal(err.msg, "execution: 150 of 150 completion tokens used");
  tars_budget_ledger_free(l);
}

static void
a_prompt_larger_than_what_is_left_is_refused(void **state)
{
  (void)state;
  struct tars_budget exec = {.prompt_tokens = 1000};
  struct tars_budget_ledger *l = NULL;
  assert_int_equal(tars_budget_ledger_new(NULL, &exec, &l, NULL), 0);
  long mt, to;
  struct tars_error err = {0};
  cleanup_chat_request struct tars_chat_request big = request("a", 4400);
  assert_int_equal(tars_budget_admit(l, &big, &mt, &to, &err), -1);
  assert_string_equal(err.msg,
                      "execution: the prompt (~1100 tokens) is more than the 1000 prompt tokens "
                      "left");
  cleanup_chat_request struct tars_chat_request small = request(NULL, 40);
  assert_int_equal(tars_budget_admit(l, &small, &mt, &to, &err), 0);
  assert_int_equal(mt, 0);
  assert_int_equal(to, 0);
  tars_budget_ledger_free(l);
}

static void
time_runs_out(void **state)
{
  (void)state;
  struct tars_budget step = {.wall_ms = 1000};
  struct tars_budget_ledger *l = NULL;
  assert_int_equal(tars_budget_ledger_new(&step, NULL, &l, NULL), 0);
  struct tars_budget_use before = {.calls = 1, .wall_ms = 1500};
  assert_int_equal(tars_budget_preload(l, "a", &before, NULL), 0);
  long mt, to;
  struct tars_error err = {0};
  cleanup_chat_request struct tars_chat_request a = request("a", 4);
  assert_int_equal(tars_budget_admit(l, &a, &mt, &to, &err), -1);
  assert_string_equal(err.msg, "step a: 1.5 of 1.0 s of model time used");
  cleanup_cjson cJSON *j = tars_budget_to_json(l, "a");
  cleanup_free char *text = cJSON_PrintUnformatted(j);
  assert_string_equal(text, "{\"step\":{\"calls\":{\"used\":1,\"limit\":null},\"prompt_tokens\":"
                            "{\"used\":0,\"limit\":null},\"completion_tokens\":{\"used\":0,"
                            "\"limit\":null},\"wall_ms\":{\"used\":1500,\"limit\":1000}},"
                            "\"execution\":{\"calls\":{\"used\":1,\"limit\":null},"
                            "\"prompt_tokens\":{\"used\":0,\"limit\":null},"
                            "\"completion_tokens\":{\"used\":0,\"limit\":null},\"wall_ms\":{"
                            "\"used\":1500,\"limit\":null}}}");
  tars_budget_ledger_free(l);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(calls_are_counted_per_step_and_per_execution),
      cmocka_unit_test(tokens_and_time_cap_what_a_call_gets),
      cmocka_unit_test(a_prompt_larger_than_what_is_left_is_refused),
      cmocka_unit_test(time_runs_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
