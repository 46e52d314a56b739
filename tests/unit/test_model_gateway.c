/* The model gateway, started as the coordinator starts it (tars_gateway_start runs the tars
 * binary beside the tests), with the replay provider: answers, records in the store and the
 * audit trail, step sockets that speak for their step only, budgets that refuse with the
 * reason, usage that survives a restart, malformed messages refused, recordings.  */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "model/gateway.h"
#include "model/replay.h"
#include "store/exchanges.h"
#include "tars/cleanup.h"

struct fx
{
  char root[200];
  char repo[260], replay[260], sock[260], log[260], record[260];
  char tars[PATH_MAX];
  struct tars_gateway_process *gw;
};

static const char recording[] =
    "{\"tars_replay\": 1, \"exchanges\": ["
    " {\"step\": \"s1\", \"response\": {\"content\": \"answer one\", \"model\": \"rec-model\", "
    "\"usage\": {\"prompt_tokens\": 100, \"completion_tokens\": 10}}},"
    " {\"step\": \"s1\", \"call\": 2, \"response\": {\"content\": \"answer two\", \"usage\": "
    "{\"prompt_tokens\": 100, \"completion_tokens\": 10}}},"
    " {\"step\": \"s1\", \"call\": 3, \"response\": {\"content\": \"answer three\"}},"
    " {\"step\": \"s2\", \"attempt\": 2, \"response\": {\"content\": \"for s2\"}},"
    " {\"step\": \"s3\", \"error\": {\"status\": \"timeout\", \"message\": \"slow server\"}}"
    "]}";

static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  snprintf(fx->root, sizeof fx->root, "/tmp/tars-gw-XXXXXX");
  if (mkdtemp(fx->root) == NULL)
    return -1;
  snprintf(fx->repo, sizeof fx->repo, "%s/repo", fx->root);
  snprintf(fx->replay, sizeof fx->replay, "%s/rec.json", fx->root);
  snprintf(fx->sock, sizeof fx->sock, "%s/gw.sock", fx->root);
  snprintf(fx->log, sizeof fx->log, "%s/gw.log", fx->root);
  snprintf(fx->record, sizeof fx->record, "%s/out.json", fx->root);
  test_mkdirs(fx->repo);
  test_write_file(fx->replay, recording, strlen(recording), 0644);
  /* The tars binary: build/tars, beside build/tests/.  */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0)
    return -1;
  self[n] = '\0';
  snprintf(fx->tars, sizeof fx->tars, "%s/../tars", dirname(self));
  *state = fx;
  return 0;
}

static int
fx_teardown(void **state)
{
  struct fx *fx = *state;
  if (fx->gw)
    tars_gateway_stop(fx->gw, NULL);
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

static void
start(struct fx *fx, const char *replay, const struct tars_budget *step,
      const struct tars_budget *exec, const char *record)
{
  struct tars_model_settings s;
  tars_model_settings_init(&s);
  s.protocol = TARS_PROTO_REPLAY;
  s.url = (char *)replay;
  s.url_origin = "--llm";
  int log = open(fx->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  assert_true(log >= 0);
  struct tars_gateway_start_options o = {
      .tars_path = fx->tars,
      .socket_path = fx->sock,
      .repo_path = fx->repo,
      .execution_id = "exec-1",
      .settings = &s,
      .record_path = record,
      .log_fd = log,
  };
  if (step)
    o.step_budget = *step;
  if (exec)
    o.execution_budget = *exec;
  struct tars_error err = {0};
  if (tars_gateway_start(&o, &fx->gw, &err) < 0)
    fail_msg("start the gateway: %s", err.msg);
  close(log);
}

static void
stop(struct fx *fx)
{
  struct tars_error err = {0};
  if (tars_gateway_stop(fx->gw, &err) < 0)
    fail_msg("stop the gateway: %s", err.msg);
  fx->gw = NULL;
}

static int
connect_to(const char *path)
{
  int fd;
  struct tars_error err = {0};
  if (tars_gateway_connect(path, &fd, &err) < 0)
    fail_msg("%s", err.msg);
  return fd;
}

static int
chat(int fd, const char *step, int attempt, const char *role, struct tars_chat_response *resp,
     int *call, struct tars_error *err)
{
  cleanup_chat_request struct tars_chat_request r;
  tars_chat_request_init(&r);
  r.step_id = step ? strdup(step) : NULL;
  r.attempt = attempt;
  r.role = role ? strdup(role) : NULL;
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, "please", NULL), 0);
  return tars_gateway_chat(fd, &r, resp, call, NULL, err);
}

static struct tars_store *
open_store(struct fx *fx)
{
  struct tars_store *s = NULL;
  struct tars_error err = {0};
  if (tars_store_open(fx->repo, false, &s, &err) < 0)
    fail_msg("%s", err.msg);
  return s;
}

static void
a_chat_is_answered_recorded_and_audited(void **state)
{
  struct fx *fx = *state;
  start(fx, fx->replay, NULL, NULL, NULL);
  cleanup_close int fd = connect_to(fx->sock);
  int call = 0;
  struct tars_error err = {0};
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s1", 1, NULL, &resp, &call, &err), 0);
    assert_string_equal(resp.content, "answer one");
    assert_string_equal(resp.model, "rec-model");
    assert_int_equal(resp.usage.prompt_tokens, 100);
    assert_int_equal(call, 1);
  }
  {
    /* The same connection, the next call: the gateway counts.  */
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s1", 1, NULL, &resp, &call, &err), 0);
    assert_string_equal(resp.content, "answer two");
    assert_int_equal(call, 2);
  }
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s3", 1, NULL, &resp, &call, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_TIMEOUT);
    assert_string_equal(err.msg, "slow server");
  }
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s9", 4, NULL, &resp, &call, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_NO_RECORDING);
    assert_non_null(strstr(err.msg, "step s9, attempt 4"));
  }
  stop(fx);

  struct tars_store *s = open_store(fx);
  cleanup_cjson cJSON *list = NULL;
  assert_int_equal(tars_exchanges_list(s, "exec-1", NULL, &list, &err), 0);
  assert_int_equal(cJSON_GetArraySize(list), 4);
  cJSON *first = cJSON_GetArrayItem(list, 0);
  assert_string_equal(cJSON_GetObjectItem(first, "status")->valuestring, "ok");
  assert_string_equal(cJSON_GetObjectItem(first, "provider")->valuestring, "replay");
  assert_string_equal(cJSON_GetObjectItem(first, "step_id")->valuestring, "s1");
  assert_int_equal(cJSON_GetObjectItem(first, "call")->valueint, 1);
  cJSON *req = cJSON_GetObjectItem(first, "request");
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(req, "messages"), 0), "content")
          ->valuestring,
      "please");
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(first, "response"), "content")->valuestring,
      "answer one");
  cJSON *third = cJSON_GetArrayItem(list, 2);
  assert_string_equal(cJSON_GetObjectItem(third, "status")->valuestring, "timeout");
  assert_string_equal(cJSON_GetObjectItem(third, "error")->valuestring, "slow server");

  cleanup_cjson cJSON *audit = NULL;
  assert_int_equal(tars_audit_list(s, "exec-1", &audit, &err), 0);
  int n = 0;
  cJSON *e;
  cJSON_ArrayForEach(e, audit)
  {
    if (strcmp(cJSON_GetObjectItem(e, "event")->valuestring, "model_exchange") != 0)
      continue;
    n++;
    assert_string_equal(cJSON_GetObjectItem(e, "actor")->valuestring, "gateway");
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "details"), "exchange"));
  }
  assert_int_equal(n, 4);

  struct tars_step_usage *u = NULL;
  size_t nu = 0;
  assert_int_equal(tars_exchanges_usage(s, "exec-1", &u, &nu, &err), 0);
  assert_int_equal(nu, 3);
  assert_string_equal(u[0].step_id, "s1");
  assert_int_equal(u[0].calls, 2);
  assert_int_equal(u[0].prompt_tokens, 200);
  assert_int_equal(u[0].completion_tokens, 20);
  assert_string_equal(u[1].step_id, "s3");
  assert_int_equal(u[1].failed, 1);
  tars_step_usage_free(u, nu);
  tars_store_close(s);
}

static void
step_sockets_speak_for_their_step_only(void **state)
{
  struct fx *fx = *state;
  start(fx, fx->replay, NULL, NULL, NULL);
  char step_sock[300];
  snprintf(step_sock, sizeof step_sock, "%s/s2-2.sock", fx->root);
  struct tars_error err = {0};
  assert_int_equal(tars_gateway_open_step(fx->gw, "s2", 2, step_sock, &err), 0);
  struct stat st;
  assert_int_equal(stat(step_sock, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(stat(fx->sock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  {
    cleanup_close int fd = connect_to(step_sock);
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, NULL, 0, NULL, &resp, NULL, &err), 0);
    assert_string_equal(resp.content, "for s2");
  }
  {
    /* Claiming another step's answers: refused, and the connection closed.  */
    cleanup_close int fd = connect_to(step_sock);
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s1", 1, NULL, &resp, NULL, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_BAD_REQUEST);
    assert_non_null(strstr(err.msg, "this socket is step s2 attempt 2's"));
    char c;
    assert_int_equal(read(fd, &c, 1), 0);
  }
  {
    /* Control messages are the coordinator's.  */
    cleanup_close int fd = connect_to(step_sock);
    cleanup_cjson cJSON *m = cJSON_Parse("{\"type\": \"shutdown\"}");
    cleanup_cjson cJSON *r = NULL;
    assert_int_equal(tars_gateway_request(fd, m, &r, &err), 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r, "ok")));
    assert_non_null(
        strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "message")->valuestring,
               "not allowed on a step's socket"));
  }
  assert_int_equal(tars_gateway_close_step(fx->gw, step_sock, &err), 0);
  assert_int_equal(stat(step_sock, &st), -1);
  assert_int_equal(tars_gateway_close_step(fx->gw, step_sock, &err), -1);
  assert_non_null(strstr(err.msg, "no such step socket"));
  /* An existing path is never replaced.  */
  assert_int_equal(tars_gateway_open_step(fx->gw, "s2", 3, fx->replay, &err), -1);
  assert_non_null(strstr(err.msg, "bind"));
  stop(fx);
  assert_int_equal(stat(fx->sock, &st), -1);
}

static void
budgets_stop_calls_with_the_reason(void **state)
{
  struct fx *fx = *state;
  struct tars_budget step = {.calls = 2}, exec = {.completion_tokens = 25};
  start(fx, fx->replay, &step, &exec, NULL);
  cleanup_close int fd = connect_to(fx->sock);
  struct tars_error err = {0};
  for (int i = 0; i < 2; i++)
    {
      cleanup_chat_response struct tars_chat_response resp;
      assert_int_equal(chat(fd, "s1", 1, NULL, &resp, NULL, &err), 0);
    }
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s1", 1, NULL, &resp, NULL, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_BUDGET_EXHAUSTED);
    assert_int_equal(err.kind, TARS_ERR_REFUSED);
    assert_string_equal(err.msg, "step s1: 2 of 2 calls used");
  }
  {
    /* Another step has its own calls; the execution's 25 completion tokens are shared (20 used
     * by s1, 2 estimated for this answer).  */
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(chat(fd, "s2", 2, NULL, &resp, NULL, &err), 0);
  }
  cleanup_cjson cJSON *m = cJSON_Parse("{\"type\": \"usage\", \"step\": \"s1\"}");
  cleanup_cjson cJSON *r = NULL;
  assert_int_equal(tars_gateway_request(fd, m, &r, &err), 0);
  cJSON *b = cJSON_GetObjectItem(r, "budget");
  cJSON *calls = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "step"), "calls");
  assert_int_equal(cJSON_GetObjectItem(calls, "used")->valueint, 2);
  assert_int_equal(cJSON_GetObjectItem(calls, "limit")->valueint, 2);
  cJSON *ct = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "execution"), "completion_tokens");
  assert_int_equal(cJSON_GetObjectItem(ct, "used")->valueint, 22);
  stop(fx);

  struct tars_store *s = open_store(fx);
  struct tars_step_usage *u = NULL;
  size_t nu = 0;
  assert_int_equal(tars_exchanges_usage(s, "exec-1", &u, &nu, &err), 0);
  assert_int_equal(u[0].calls, 2);
  assert_int_equal(u[0].refused, 1);
  tars_step_usage_free(u, nu);
  tars_store_close(s);

  /* Restarted, the gateway counts what the store holds: s1 has no call left.  */
  start(fx, fx->replay, &step, NULL, NULL);
  cleanup_close int fd2 = connect_to(fx->sock);
  cleanup_chat_response struct tars_chat_response resp;
  assert_int_equal(chat(fd2, "s1", 1, NULL, &resp, NULL, &err), -1);
  assert_string_equal(err.msg, "step s1: 2 of 2 calls used");
  stop(fx);
}

static void
malformed_messages_are_refused(void **state)
{
  struct fx *fx = *state;
  start(fx, fx->replay, NULL, NULL, NULL);
  static const char *const bodies[] = {
      "not json",
      "[1]",
      "{\"type\": 3}",
      "{\"type\": \"chat\"}",
      "{\"type\": \"fly\"}",
      "{\"type\": \"chat\", \"step\": \"s\\u0000x\", \"messages\": []}",
  };
  static const char *const says[] = {
      /* As the JSON reply has them, quotes escaped.  */
      "not JSON",
      "must be a JSON object",
      "needs a \\\"type\\\"",
      "messages\\\": missing",
      "unknown message type",
      "\\\\u0000",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    {
      cleanup_close int fd = connect_to(fx->sock);
      size_t n = strlen(bodies[i]);
      unsigned char head[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                               (unsigned char)(n >> 8), (unsigned char)n};
      assert_int_equal(write(fd, head, 4), 4);
      assert_int_equal(write(fd, bodies[i], n), (ssize_t)n);
      char buf[4096];
      ssize_t got = 0, r;
      while ((r = read(fd, buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += r;
      assert_true(got > 4);
      buf[got] = '\0';
      if (strstr(buf + 4, "bad-request") == NULL || strstr(buf + 4, says[i]) == NULL)
        fail_msg("%s: the reply \"%s\" does not say \"%s\"", bodies[i], buf + 4, says[i]);
    }
  {
    /* A length beyond the limit.  */
    cleanup_close int fd = connect_to(fx->sock);
    unsigned char head[4] = {0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(write(fd, head, 4), 4);
    char buf[512];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    assert_true(got > 4);
    buf[got] = '\0';
    assert_non_null(strstr(buf + 4, "longer than 16 MiB"));
  }
  /* The gateway is still serving.  */
  cleanup_close int fd = connect_to(fx->sock);
  cleanup_chat_response struct tars_chat_response resp;
  struct tars_error err = {0};
  assert_int_equal(chat(fd, "s1", 1, NULL, &resp, NULL, &err), 0);
  stop(fx);
}

static void
the_recording_holds_every_answer(void **state)
{
  struct fx *fx = *state;
  start(fx, fx->replay, NULL, NULL, fx->record);
  cleanup_close int fd = connect_to(fx->sock);
  struct tars_error err = {0};
  for (int i = 0; i < 3; i++)
    {
      cleanup_chat_response struct tars_chat_response resp;
      assert_int_equal(chat(fd, "s1", 1, NULL, &resp, NULL, &err), 0);
    }
  stop(fx);
  /* What was recorded replays the same run.  */
  start(fx, fx->record, NULL, NULL, NULL);
  cleanup_close int fd2 = connect_to(fx->sock);
  static const char *const answers[] = {"answer one", "answer two", "answer three"};
  for (int i = 0; i < 3; i++)
    {
      cleanup_chat_response struct tars_chat_response resp;
      assert_int_equal(chat(fd2, "s1", 1, NULL, &resp, NULL, &err), 0);
      assert_string_equal(resp.content, answers[i]);
    }
  stop(fx);
}

static void
a_gateway_that_cannot_start_says_why(void **state)
{
  struct fx *fx = *state;
  struct tars_model_settings s;
  tars_model_settings_init(&s);
  s.protocol = TARS_PROTO_REPLAY;
  s.url = "/nonexistent/rec.json";
  struct tars_gateway_start_options o = {
      .tars_path = fx->tars,
      .socket_path = fx->sock,
      .repo_path = fx->repo,
      .settings = &s,
      .log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC),
  };
  struct tars_error err = {0};
  struct tars_gateway_process *g = NULL;
  assert_int_equal(tars_gateway_start(&o, &g, &err), -1);
  assert_null(g);
  assert_non_null(strstr(err.msg, "gateway: replay: open /nonexistent/rec.json"));
  close(o.log_fd);
  struct stat st;
  assert_int_equal(stat(fx->sock, &st), -1);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_chat_is_answered_recorded_and_audited, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(step_sockets_speak_for_their_step_only, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(budgets_stop_calls_with_the_reason, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(malformed_messages_are_refused, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(the_recording_holds_every_answer, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(a_gateway_that_cannot_start_says_why, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
