/* Chat requests in their JSON form (what the gateway reads from sandboxes), recordings and the
 * replay provider: matching by step, attempt, role and call, never a guess, recorded failures
 * replayed, bad files refused with the exchange named, and what the recorder writes read back
 * the same, redacted.  */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "model/client.h"
#include "model/replay.h"
#include "tars/cleanup.h"

static void
request_json_round_trip_and_limits(void **state)
{
  (void)state;
  cleanup_chat_request struct tars_chat_request r;
  tars_chat_request_init(&r);
  r.step_id = strdup("todo-3");
  r.attempt = 2;
  r.role = strdup("tester");
  r.call = 4;
  r.max_tokens = 500;
  r.timeout_ms = 1500;
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_SYSTEM, "sys", NULL), 0);
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, "do it", NULL), 0);
  cleanup_cjson cJSON *j = tars_chat_request_to_json(&r);
  cleanup_chat_request struct tars_chat_request back;
  struct tars_error err = {0};
  assert_int_equal(tars_chat_request_from_json(j, &back, &err), 0);
  assert_string_equal(back.step_id, "todo-3");
  assert_int_equal(back.attempt, 2);
  assert_string_equal(back.role, "tester");
  assert_int_equal(back.call, 4);
  assert_int_equal(back.max_tokens, 500);
  assert_int_equal(back.timeout_ms, 1500);
  assert_int_equal(back.n_messages, 2);
  assert_int_equal(back.messages[0].role, TARS_CHAT_SYSTEM);
  assert_string_equal(back.messages[1].content, "do it");

  struct
  {
    const char *json, *says;
  } bad[] = {
      {"{}", "\"messages\": missing"},
      {"{\"messages\": []}", "no message"},
      {"{\"messages\": [{\"role\": \"root\", \"content\": \"x\"}]}", "\"messages[0].role\""},
      {"{\"messages\": [{\"role\": \"user\"}]}", "\"messages[0].content\": missing"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": 1}]}", "expected a string"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"name\": \"y\"}]}",
       "unknown key \"messages[0].name\""},
      {"{\"step\": \"a\\nb\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
       "control character"},
      {"{\"attempt\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
       "key \"attempt\""},
      {"{\"limits\": {\"max_tokens\": -1}, \"messages\": [{\"role\": \"user\", \"content\": "
       "\"x\"}]}",
       "limits.max_tokens"},
      {"{\"budget\": 1, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
       "unknown key \"budget\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      cleanup_cjson cJSON *b = cJSON_Parse(bad[i].json);
      assert_non_null(b);
      struct tars_chat_request x;
      assert_int_equal(tars_chat_request_from_json(b, &x, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      if (strstr(err.msg, bad[i].says) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].json, err.msg, bad[i].says);
      assert_int_equal(x.n_messages, 0);
    }

  /* More messages than allowed.  */
  cleanup_cjson cJSON *many = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(many, "messages");
  for (int i = 0; i <= TARS_CHAT_MAX_MESSAGES; i++)
    {
      cJSON *m = cJSON_CreateObject();
      cJSON_AddStringToObject(m, "role", "user");
      cJSON_AddStringToObject(m, "content", "x");
      cJSON_AddItemToArray(arr, m);
    }
  struct tars_chat_request x;
  assert_int_equal(tars_chat_request_from_json(many, &x, &err), -1);
  assert_non_null(strstr(err.msg, "at most"));
}

static const char recording[] =
    "{\"tars_replay\": 1, \"description\": \"two steps\", \"exchanges\": ["
    " {\"step\": \"s1\", \"attempt\": 1, \"response\": {\"content\": \"first try\", \"model\": "
    "\"m\", \"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 2}}},"
    " {\"step\": \"s1\", \"attempt\": 2, \"response\": {\"content\": \"second try\"}},"
    " {\"step\": \"s1\", \"attempt\": 2, \"role\": \"tester\", \"response\": {\"content\": "
    "\"a test\"}},"
    " {\"step\": \"s1\", \"attempt\": 2, \"call\": 2, \"response\": {\"content\": \"again\"}},"
    " {\"step\": \"s2\", \"error\": {\"status\": \"timeout\", \"message\": \"recorded timeout\"}}"
    "]}";

static struct tars_chat_request
ask(const char *step, int attempt, const char *role, int call)
{
  struct tars_chat_request r;
  tars_chat_request_init(&r);
  r.step_id = step ? strdup(step) : NULL;
  r.attempt = attempt;
  r.role = role ? strdup(role) : NULL;
  r.call = call;
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, "anything", NULL), 0);
  return r;
}

static void
replay_matches_step_attempt_role_and_call(void **state)
{
  (void)state;
  struct tars_replay *rp = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_replay_parse(recording, strlen(recording), "rec.json", &rp, &err), 0);
  assert_int_equal(tars_replay_count(rp), 5);
  struct
  {
    const char *step;
    int attempt;
    const char *role;
    int call;
    const char *content;
  } hits[] = {
      {"s1", 1, NULL, 0, "first try"},  {"s1", 0, "coder", 1, "first try"},
      {"s1", 2, NULL, 1, "second try"}, {"s1", 2, "tester", 1, "a test"},
      {"s1", 2, "coder", 2, "again"},
  };
  for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++)
    {
      cleanup_chat_request struct tars_chat_request r =
          ask(hits[i].step, hits[i].attempt, hits[i].role, hits[i].call);
      cleanup_chat_response struct tars_chat_response resp;
      assert_int_equal(tars_replay_answer(rp, &r, &resp, &err), 0);
      assert_int_equal(resp.status, TARS_MODEL_OK);
      assert_string_equal(resp.content, hits[i].content);
      assert_int_equal(resp.http_attempts, 0);
    }
  {
    cleanup_chat_request struct tars_chat_request r = ask("s1", 1, NULL, 0);
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_replay_answer(rp, &r, &resp, &err), 0);
    assert_int_equal(resp.usage.prompt_tokens, 10);
    assert_false(resp.usage.estimated);
    assert_string_equal(resp.model, "m");
  }
  {
    /* No usage recorded: estimated.  */
    cleanup_chat_request struct tars_chat_request r = ask("s1", 2, NULL, 1);
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_replay_answer(rp, &r, &resp, &err), 0);
    assert_true(resp.usage.estimated);
    assert_int_equal(resp.usage.completion_tokens, 3); /* "second try": 10 bytes */
  }
  {
    cleanup_chat_request struct tars_chat_request r = ask("s2", 1, NULL, 1);
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_replay_answer(rp, &r, &resp, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_TIMEOUT);
    assert_string_equal(resp.error, "recorded timeout");
  }
  struct
  {
    const char *step;
    int attempt;
    const char *role;
    int call;
  } misses[] = {{"s1", 3, NULL, 1}, {"s1", 1, "tester", 1}, {"s1", 1, NULL, 2}, {"s3", 1, NULL, 1}};
  for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
    {
      cleanup_chat_request struct tars_chat_request r =
          ask(misses[i].step, misses[i].attempt, misses[i].role, misses[i].call);
      cleanup_chat_response struct tars_chat_response resp;
      assert_int_equal(tars_replay_answer(rp, &r, &resp, &err), -1);
      assert_int_equal(resp.status, TARS_MODEL_NO_RECORDING);
      char want[200];
      snprintf(want, sizeof want, "no recorded exchange for step %s, attempt %d (role %s, call %d)",
               misses[i].step, misses[i].attempt, misses[i].role ? misses[i].role : "coder",
               misses[i].call);
      if (strstr(err.msg, want) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", err.msg, want);
      assert_null(resp.content);
    }
  tars_replay_free(rp);
}

static void
bad_recordings_are_refused_naming_the_exchange(void **state)
{
  (void)state;
  struct
  {
    const char *json, *says;
  } bad[] = {
      {"[]", "the top level is not an object"},
      {"{\"exchanges\": []}", "\"tars_replay\": 1"},
      {"{\"tars_replay\": 2, \"exchanges\": []}", "\"tars_replay\": 1"},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"attempt\": 1, \"response\": {\"content\": "
       "\"x\"}}]}",
       "exchange 0: key \"step\": missing"},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"step\": \"a\", \"response\": {\"content\": "
       "\"x\"}}, "
       "{\"step\": \"a\", \"attempt\": 1, \"call\": 1, \"response\": {\"content\": \"y\"}}]}",
       "exchanges 0 and 1 are both step a, attempt 1, role coder, call 1"},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"step\": \"a\"}]}", "one of \"response\" and "
                                                                   "\"error\""},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"step\": \"a\", \"error\": {\"status\": \"ok\"}}]}",
       "a failure's name"},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"step\": \"a\", \"answer\": \"x\"}]}",
       "exchange 0: unknown key \"answer\""},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"step\": \"a\", \"response\": {}}]}",
       "exchange 0: key \"response\""},
      {"{\"tars_replay\": 1, \"exchanges\": [{\"step\": \"a\", \"attempt\": 1.5, \"response\": "
       "{\"content\": \"x\"}}]}",
       "key \"attempt\""},
      {"{\"tars_replay\": 1, \"exchanges\": ", "malformed JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      struct tars_replay *rp = NULL;
      struct tars_error err = {0};
      assert_int_equal(tars_replay_parse(bad[i].json, strlen(bad[i].json), "f.json", &rp, &err),
                       -1);
      assert_null(rp);
      if (strstr(err.msg, "f.json") == NULL || strstr(err.msg, bad[i].says) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].json, err.msg, bad[i].says);
    }
}

static void
the_recorder_writes_what_replay_reads_redacted(void **state)
{
  (void)state;
  char dir[] = "/tmp/tars-replay-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/rec.json", dir);

  struct tars_redactor red;
  tars_redactor_init(&red);
  assert_int_equal(tars_redactor_add(&red, "sk-the-users-key-0001"), 0);
  struct tars_recorder *rec = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_recorder_open(path, &red, &rec, &err), 0);
  tars_redactor_free(&red);
  /* Written at once: a bad path fails before the run, and an empty recording loads.  */
  struct tars_replay *rp = NULL;
  assert_int_equal(tars_replay_load(path, &rp, &err), 0);
  assert_int_equal(tars_replay_count(rp), 0);
  tars_replay_free(rp);

  cleanup_chat_request struct tars_chat_request r = ask("s1", 1, NULL, 1);
  struct tars_chat_response ok = {.status = TARS_MODEL_OK,
                                  .content = "the key is sk-the-users-key-0001",
                                  .model = "m",
                                  .usage = {3, 4, false}};
  assert_int_equal(tars_recorder_add(rec, &r, &ok, &err), 0);
  cleanup_chat_request struct tars_chat_request r2 = ask("s1", 2, "tester", 1);
  struct tars_chat_response bad = {.status = TARS_MODEL_BAD_RESPONSE, .error = "garbage"};
  assert_int_equal(tars_recorder_add(rec, &r2, &bad, &err), 0);
  tars_recorder_close(rec);

  assert_int_equal(tars_replay_load(path, &rp, &err), 0);
  assert_int_equal(tars_replay_count(rp), 2);
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_replay_answer(rp, &r, &resp, &err), 0);
    assert_string_equal(resp.content, "the key is [REDACTED]");
    assert_int_equal(resp.usage.completion_tokens, 4);
  }
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_replay_answer(rp, &r2, &resp, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_BAD_RESPONSE);
  }
  tars_replay_free(rp);
  size_t n = 0;
  FILE *f = fopen(path, "r");
  char buf[8192];
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  assert_null(strstr(buf, "sk-the-users-key"));
  assert_non_null(strstr(buf, "\"messages\""));

  assert_int_equal(tars_recorder_open("/nonexistent-dir/rec.json", NULL, &rec, &err), -1);
  assert_non_null(strstr(err.msg, "/nonexistent-dir/rec.json"));
  test_rm_tree_at(AT_FDCWD, dir);
}

static void
the_client_answers_from_a_replay_file(void **state)
{
  (void)state;
  char dir[] = "/tmp/tars-replay-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/rec.json", dir);
  test_write_file(path, recording, strlen(recording), 0644);
  struct tars_model_settings s;
  tars_model_settings_init(&s);
  s.protocol = TARS_PROTO_REPLAY;
  s.url = path;
  cleanup_model_client struct tars_model_client *c = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_model_client_new(&s, &c, &err), 0);
  cleanup_chat_request struct tars_chat_request r = ask("s1", 2, "tester", 1);
  cleanup_chat_response struct tars_chat_response resp;
  assert_int_equal(tars_model_chat(c, &r, NULL, NULL, &resp, &err), 0);
  assert_string_equal(resp.content, "a test");
  char **names = NULL;
  size_t n = 0;
  enum tars_model_status st;
  assert_int_equal(tars_model_list(c, &names, &n, &st, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "m");
  free(names[0]);
  free(names);

  s.url = "/nonexistent/rec.json";
  struct tars_model_client *c2 = NULL;
  assert_int_equal(tars_model_client_new(&s, &c2, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_non_null(strstr(err.msg, "replay: open /nonexistent/rec.json"));
  test_rm_tree_at(AT_FDCWD, dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(request_json_round_trip_and_limits),
      cmocka_unit_test(replay_matches_step_attempt_role_and_call),
      cmocka_unit_test(bad_recordings_are_refused_naming_the_exchange),
      cmocka_unit_test(the_recorder_writes_what_replay_reads_redacted),
      cmocka_unit_test(the_client_answers_from_a_replay_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
