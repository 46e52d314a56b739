/* The two model protocols, without a network: the URLs and request bodies tars builds, and how
 * it reads answers, whole and streamed (cut at every byte), truncated, malformed, with errors
 * inside the stream, model lists and error bodies.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/protocol.h"
#include "tars/cleanup.h"

static struct tars_model_settings
settings(enum tars_model_protocol p, const char *model, bool stream)
{
  struct tars_model_settings s;
  tars_model_settings_init(&s);
  s.protocol = p;
  s.model = (char *)model;
  s.stream = stream;
  return s;
}

static struct tars_chat_request
two_messages(void)
{
  struct tars_chat_request r;
  tars_chat_request_init(&r);
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_SYSTEM, "be brief", NULL), 0);
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, "say \"hi\"\n", NULL), 0);
  return r;
}

static void
check_urls(const struct tars_protocol *p, const char *base, const char *chat, const char *models)
{
  char *c = NULL, *m = NULL;
  assert_int_equal(p->urls(base, &c, &m, NULL), 0);
  assert_string_equal(c, chat);
  assert_string_equal(m, models);
  free(c);
  free(m);
}

static void
urls_follow_the_base_path(void **state)
{
  (void)state;
  const struct tars_protocol *o = &tars_openai_protocol, *l = &tars_ollama_protocol;
  check_urls(o, "http://h:8080", "http://h:8080/v1/chat/completions", "http://h:8080/v1/models");
  check_urls(o, "https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions",
             "https://api.openai.com/v1/models");
  check_urls(o, "http://h/x/v1/chat/completions", "http://h/x/v1/chat/completions",
             "http://h/x/v1/models");
  check_urls(o, "http://h:11434/v1", "http://h:11434/v1/chat/completions",
             "http://h:11434/v1/models");
  check_urls(l, "http://h:11434", "http://h:11434/api/chat", "http://h:11434/api/tags");
  check_urls(l, "http://h/proxy/api", "http://h/proxy/api/chat", "http://h/proxy/api/tags");
  check_urls(l, "http://h/api/chat/", "http://h/api/chat", "http://h/api/tags");
}

static void
openai_body_has_model_messages_stream_and_usage_option(void **state)
{
  (void)state;
  struct tars_model_settings s = settings(TARS_PROTO_OPENAI, "gpt-x", true);
  cleanup_chat_request struct tars_chat_request r = two_messages();
  r.max_tokens = 100;
  r.temperature = 0.5;
  cleanup_free char *body = tars_openai_protocol.body(&s, &r, NULL);
  assert_non_null(body);
  cleanup_cjson cJSON *j = cJSON_Parse(body);
  assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "gpt-x");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
  assert_true(
      cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stream_options"), "include_usage")));
  assert_int_equal(cJSON_GetObjectItem(j, "max_tokens")->valueint, 100);
  assert_true(cJSON_GetObjectItem(j, "temperature")->valuedouble == 0.5);
  cJSON *m = cJSON_GetObjectItem(j, "messages");
  assert_int_equal(cJSON_GetArraySize(m), 2);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "role")->valuestring, "system");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content")->valuestring,
                      "say \"hi\"\n");
  /* Nothing of tars' own bookkeeping goes to the server.  */
  assert_null(cJSON_GetObjectItem(j, "step"));
  assert_null(cJSON_GetObjectItem(j, "options"));

  s.stream = false;
  r.max_tokens = 0;
  r.temperature = -1;
  cleanup_free char *b2 = tars_openai_protocol.body(&s, &r, NULL);
  cleanup_cjson cJSON *j2 = cJSON_Parse(b2);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j2, "stream")));
  assert_null(cJSON_GetObjectItem(j2, "stream_options"));
  assert_null(cJSON_GetObjectItem(j2, "max_tokens"));
  assert_null(cJSON_GetObjectItem(j2, "temperature"));
}

static void
ollama_body_always_sets_num_ctx(void **state)
{
  (void)state;
  struct tars_model_settings s = settings(TARS_PROTO_OLLAMA, "qwen2.5-coder:7b", true);
  s.num_ctx = 16384;
  cleanup_chat_request struct tars_chat_request r = two_messages();
  cleanup_free char *body = tars_ollama_protocol.body(&s, &r, NULL);
  cleanup_cjson cJSON *j = cJSON_Parse(body);
  assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "qwen2.5-coder:7b");
  cJSON *o = cJSON_GetObjectItem(j, "options");
  assert_int_equal(cJSON_GetObjectItem(o, "num_ctx")->valueint, 16384);
  assert_null(cJSON_GetObjectItem(o, "num_predict"));
  assert_null(cJSON_GetObjectItem(j, "stream_options"));
  r.max_tokens = 77;
  cleanup_free char *b2 = tars_ollama_protocol.body(&s, &r, NULL);
  cleanup_cjson cJSON *j2 = cJSON_Parse(b2);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j2, "options"), "num_predict")->valueint,
                   77);
}

/* Feed TEXT cut after every STEP bytes, then finish.  */
static int
feed_in_pieces(const struct tars_protocol *p, struct tars_reply *r, const char *text, size_t step,
               struct tars_error *err)
{
  size_t n = strlen(text);
  for (size_t i = 0; i < n; i += step)
    if (p->feed(r, text + i, n - i < step ? n - i : step, err) < 0)
      return -1;
  return p->finish(r, err);
}

static const char sse[] =
    ": keep-alive comment\n"
    "data: {\"model\":\"m1\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
    "event: message\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo \\u00e9\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}\n\n"
    "data: [DONE]\n\n";

struct deltas
{
  char buf[256];
  size_t len;
};

static void
collect(void *ctx, const char *text, size_t len)
{
  struct deltas *d = ctx;
  memcpy(d->buf + d->len, text, len);
  d->len += len;
  d->buf[d->len] = '\0';
}

static void
openai_stream_read_whatever_the_cuts(void **state)
{
  (void)state;
  for (size_t step = 1; step <= sizeof sse; step++)
    {
      struct deltas d = {0};
      struct tars_reply r;
      struct tars_error err = {0};
      tars_reply_init(&r, collect, &d);
      assert_int_equal(feed_in_pieces(&tars_openai_protocol, &r, sse, step, &err), 0);
      assert_string_equal(r.content, "Hello \xc3\xa9");
      assert_string_equal(d.buf, "Hello \xc3\xa9");
      assert_string_equal(r.finish_reason, "stop");
      assert_string_equal(r.model, "m1");
      assert_true(r.have_usage);
      assert_int_equal(r.prompt_tokens, 12);
      assert_int_equal(r.completion_tokens, 3);
      tars_reply_free(&r);
    }
}

static void
openai_stream_without_done_or_finish_is_truncated(void **state)
{
  (void)state;
  static const char cut[] = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
                            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n";
  struct tars_reply r;
  struct tars_error err = {0};
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(feed_in_pieces(&tars_openai_protocol, &r, cut, 7, &err), -1);
  assert_int_equal(r.status, TARS_MODEL_TRUNCATED);
  assert_non_null(strstr(err.msg, "ended before its end"));
  tars_reply_free(&r);

  /* A finish reason without [DONE] is a whole answer (some servers stop there).  */
  static const char no_done[] =
      "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"length\"}]}\n\n";
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(feed_in_pieces(&tars_openai_protocol, &r, no_done, 5, &err), 0);
  assert_string_equal(r.content, "ok");
  assert_string_equal(r.finish_reason, "length");
  assert_false(r.have_usage);
  tars_reply_free(&r);
}

static void
openai_stream_errors_are_typed(void **state)
{
  (void)state;
  struct
  {
    const char *text;
    enum tars_model_status status;
    const char *says;
  } cases[] = {
      {"data: {\"choices\":[{\"delta\":{\"content\":\"x\"\n\n", TARS_MODEL_BAD_RESPONSE,
       "malformed JSON"},
      {"data: [1,2]\n\n", TARS_MODEL_BAD_RESPONSE, "not a JSON object"},
      {"<html>502 Bad Gateway</html>\n", TARS_MODEL_BAD_RESPONSE, "not a Server-Sent Events"},
      {"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
       TARS_MODEL_SERVER_ERROR, "overloaded"},
      {"data: {\"error\":{\"message\":\"no such model\",\"code\":\"model_not_found\"}}\n\n",
       TARS_MODEL_MISSING, "no such model"},
      {"data: {\"choices\":{}}\n\n", TARS_MODEL_BAD_RESPONSE, "not an array"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct tars_reply r;
      struct tars_error err = {0};
      tars_reply_init(&r, NULL, NULL);
      assert_int_equal(feed_in_pieces(&tars_openai_protocol, &r, cases[i].text, 3, &err), -1);
      assert_int_equal(r.status, cases[i].status);
      if (strstr(err.msg, cases[i].says) == NULL)
        fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, cases[i].says);
      tars_reply_free(&r);
    }
}

static void
openai_whole_body_and_a_body_sent_for_a_stream(void **state)
{
  (void)state;
  static const char body[] =
      "{\"id\":\"c1\",\"model\":\"m2\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
      "\"assistant\",\"content\":\"Hi!\"},\"finish_reason\":\"stop\"}],\"usage\":{"
      "\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}";
  struct tars_reply r;
  struct tars_error err = {0};
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(tars_openai_protocol.parse(&r, body, strlen(body), &err), 0);
  assert_string_equal(r.content, "Hi!");
  assert_string_equal(r.model, "m2");
  assert_int_equal(r.completion_tokens, 2);
  tars_reply_free(&r);

  /* Asked to stream, some servers send the whole body anyway.  */
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(feed_in_pieces(&tars_openai_protocol, &r, body, 10, &err), 0);
  assert_string_equal(r.content, "Hi!");
  tars_reply_free(&r);

  static const char no_content[] =
      "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":"
      "\"tool_calls\"}]}";
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(tars_openai_protocol.parse(&r, no_content, strlen(no_content), &err), -1);
  assert_int_equal(r.status, TARS_MODEL_BAD_RESPONSE);
  assert_non_null(strstr(err.msg, "no text"));
  tars_reply_free(&r);

  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(tars_openai_protocol.parse(&r, "{\"choices\": [", 13, &err), -1);
  assert_int_equal(r.status, TARS_MODEL_BAD_RESPONSE);
  assert_non_null(strstr(err.msg, "malformed JSON"));
  tars_reply_free(&r);
}

static const char ndjson[] =
    "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}"
    "\n"
    "\n"
    "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"lo\"},\"done\":false}"
    "\r\n"
    "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
    "\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":2}\n";

static void
ollama_stream_read_whatever_the_cuts(void **state)
{
  (void)state;
  for (size_t step = 1; step <= sizeof ndjson; step++)
    {
      struct tars_reply r;
      struct tars_error err = {0};
      tars_reply_init(&r, NULL, NULL);
      assert_int_equal(feed_in_pieces(&tars_ollama_protocol, &r, ndjson, step, &err), 0);
      assert_string_equal(r.content, "Hello");
      assert_string_equal(r.finish_reason, "stop");
      assert_int_equal(r.prompt_tokens, 26);
      assert_int_equal(r.completion_tokens, 2);
      tars_reply_free(&r);
    }
  /* The last line without its newline still counts.  */
  struct tars_reply r;
  struct tars_error err = {0};
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(feed_in_pieces(&tars_ollama_protocol, &r, ndjson, sizeof ndjson - 2, &err), 0);
  tars_reply_free(&r);
}

static void
ollama_stream_failures(void **state)
{
  (void)state;
  struct
  {
    const char *text;
    enum tars_model_status status;
    const char *says;
  } cases[] = {
      {"{\"message\":{\"content\":\"Hel\"},\"done\":false}\n", TARS_MODEL_TRUNCATED,
       "\"done\": true"},
      {"{\"message\":{\"content\":\"x\"\n", TARS_MODEL_BAD_RESPONSE, "malformed JSON"},
      {"{\"error\":\"model \\\"q\\\" not found, try pulling it first\"}\n", TARS_MODEL_MISSING,
       "not found"},
      {"{\"error\":\"out of memory\"}\n", TARS_MODEL_SERVER_ERROR, "out of memory"},
      {"{\"message\":\"text\",\"done\":true}\n", TARS_MODEL_BAD_RESPONSE, "not an object"},
      {"{\"done\":\"yes\"}\n", TARS_MODEL_BAD_RESPONSE, "\"done\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct tars_reply r;
      struct tars_error err = {0};
      tars_reply_init(&r, NULL, NULL);
      assert_int_equal(feed_in_pieces(&tars_ollama_protocol, &r, cases[i].text, 4, &err), -1);
      assert_int_equal(r.status, cases[i].status);
      if (strstr(err.msg, cases[i].says) == NULL)
        fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, cases[i].says);
      tars_reply_free(&r);
    }
}

static void
error_bodies_name_missing_models(void **state)
{
  (void)state;
  char msg[256];
  static const char ollama404[] =
      "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}";
  assert_true(
      tars_ollama_protocol.error_message(404, ollama404, strlen(ollama404), msg, sizeof msg));
  assert_non_null(strstr(msg, "llama9"));
  static const char openai404[] =
      "{\"error\":{\"message\":\"The model `gpt-9` does not exist\","
      "\"type\":\"invalid_request_error\",\"code\":\"model_not_found\"}}";
  assert_true(
      tars_openai_protocol.error_message(404, openai404, strlen(openai404), msg, sizeof msg));
  assert_non_null(strstr(msg, "gpt-9"));
  static const char code400[] = "{\"error\":{\"message\":\"nope\",\"code\":\"model_not_found\"}}";
  assert_true(tars_openai_protocol.error_message(400, code400, strlen(code400), msg, sizeof msg));
  static const char ctx400[] = "{\"error\":{\"message\":\"context length exceeded\"}}";
  assert_false(tars_openai_protocol.error_message(400, ctx400, strlen(ctx400), msg, sizeof msg));
  assert_string_equal(msg, "context length exceeded");
  /* Not JSON: an excerpt, control characters escaped.  */
  static const char html[] = "<html>\n<b>Bad Gateway</b></html>";
  assert_false(tars_openai_protocol.error_message(502, html, strlen(html), msg, sizeof msg));
  assert_non_null(strstr(msg, "<html>\\x0a<b>"));
}

static void
model_lists_and_names(void **state)
{
  (void)state;
  char **names = NULL;
  size_t n = 0;
  static const char tags[] = "{\"models\":[{\"name\":\"llama3:latest\"},{\"model\":\"qwen:7b\"},"
                             "{\"size\":1}]}";
  assert_int_equal(tars_ollama_protocol.models(tags, strlen(tags), &names, &n, NULL), 0);
  assert_int_equal(n, 2);
  assert_string_equal(names[0], "llama3:latest");
  assert_string_equal(names[1], "qwen:7b");
  assert_null(names[2]);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  static const char models[] = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\"}]}";
  assert_int_equal(tars_openai_protocol.models(models, strlen(models), &names, &n, NULL), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "gpt-4o");
  free(names[0]);
  free(names);
  struct tars_error err = {0};
  assert_int_equal(tars_openai_protocol.models("[]", 2, &names, &n, &err), -1);

  assert_true(tars_ollama_protocol.same_model("llama3:latest", "llama3"));
  assert_true(tars_ollama_protocol.same_model("llama3", "llama3:latest"));
  assert_false(tars_ollama_protocol.same_model("llama3:8b", "llama3"));
  assert_false(tars_ollama_protocol.same_model("llama3.1:latest", "llama3"));
  assert_false(tars_openai_protocol.same_model("gpt-4o-mini", "gpt-4o"));
}

static void
answers_are_bounded(void **state)
{
  (void)state;
  size_t big = TARS_CHAT_MAX_ANSWER_BYTES / 2 + 10;
  char *piece = malloc(big + 1);
  memset(piece, 'a', big);
  piece[big] = '\0';
  cleanup_free char *line = NULL;
  assert_true(asprintf(&line, "{\"message\":{\"content\":\"%s\"},\"done\":false}\n", piece) > 0);
  struct tars_reply r;
  struct tars_error err = {0};
  tars_reply_init(&r, NULL, NULL);
  assert_int_equal(tars_ollama_protocol.feed(&r, line, strlen(line), &err), 0);
  assert_int_equal(tars_ollama_protocol.feed(&r, line, strlen(line), &err), -1);
  assert_int_equal(r.status, TARS_MODEL_BAD_RESPONSE);
  assert_non_null(strstr(err.msg, "longer than"));
  /* Once failed, it stays failed.  */
  assert_int_equal(tars_ollama_protocol.finish(&r, &err), -1);
  tars_reply_free(&r);
  free(piece);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(urls_follow_the_base_path),
      cmocka_unit_test(openai_body_has_model_messages_stream_and_usage_option),
      cmocka_unit_test(ollama_body_always_sets_num_ctx),
      cmocka_unit_test(openai_stream_read_whatever_the_cuts),
      cmocka_unit_test(openai_stream_without_done_or_finish_is_truncated),
      cmocka_unit_test(openai_stream_errors_are_typed),
      cmocka_unit_test(openai_whole_body_and_a_body_sent_for_a_stream),
      cmocka_unit_test(ollama_stream_read_whatever_the_cuts),
      cmocka_unit_test(ollama_stream_failures),
      cmocka_unit_test(error_bodies_name_missing_models),
      cmocka_unit_test(model_lists_and_names),
      cmocka_unit_test(answers_are_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
