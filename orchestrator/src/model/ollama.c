/* Ollama's own chat API (see protocol.h).  options.num_ctx is always sent: Ollama's default
 * context (2048 or 4096 tokens, by version) silently drops the start of a longer prompt, which
 * for the coder is the task itself.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/protocol.h"
#include "tars/cleanup.h"

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
  size_t m = strlen(suffix);
  return n >= m && strncmp(s + n - m, suffix, m) == 0;
}

static int
ollama_urls(const char *base, char **chat, char **models, struct tars_error *err)
{
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  if (ends_with(base, n, "/api/chat"))
    {
      *chat = tars_url_join(base, n, "");
      *models = tars_url_join(base, n - 5, "/tags");
    }
  else if (ends_with(base, n, "/api"))
    {
      *chat = tars_url_join(base, n, "/chat");
      *models = tars_url_join(base, n, "/tags");
    }
  else
    {
      *chat = tars_url_join(base, n, "/api/chat");
      *models = tars_url_join(base, n, "/api/tags");
    }
  if (*chat == NULL || *models == NULL)
    {
      free(*chat);
      free(*models);
      *chat = *models = NULL;
      return tars_error_set(err, ENOMEM, "model URLs");
    }
  return 0;
}

static char *
ollama_body(const struct tars_model_settings *s, const struct tars_chat_request *r,
            struct tars_error *err)
{
  cleanup_cjson cJSON *o = cJSON_CreateObject();
  cJSON *msgs, *opts;
  if (o == NULL || cJSON_AddStringToObject(o, "model", s->model ? s->model : "") == NULL ||
      (msgs = cJSON_AddArrayToObject(o, "messages")) == NULL)
    goto oom;
  for (size_t i = 0; i < r->n_messages; i++)
    {
      cJSON *m = cJSON_CreateObject();
      if (m == NULL || !cJSON_AddItemToArray(msgs, m) ||
          cJSON_AddStringToObject(m, "role", tars_chat_role_name(r->messages[i].role)) == NULL ||
          cJSON_AddStringToObject(m, "content", r->messages[i].content) == NULL)
        goto oom;
    }
  if (cJSON_AddBoolToObject(o, "stream", s->stream) == NULL ||
      (opts = cJSON_AddObjectToObject(o, "options")) == NULL ||
      cJSON_AddNumberToObject(opts, "num_ctx", (double)s->num_ctx) == NULL)
    goto oom;
  long max_tokens = r->max_tokens > 0 ? r->max_tokens : s->max_tokens;
  if (max_tokens > 0 && cJSON_AddNumberToObject(opts, "num_predict", (double)max_tokens) == NULL)
    goto oom;
  double t = r->temperature >= 0 ? r->temperature : s->temperature;
  if (t >= 0 && cJSON_AddNumberToObject(opts, "temperature", t) == NULL)
    goto oom;
  char *text = cJSON_PrintUnformatted(o);
  if (text == NULL)
    goto oom;
  return text;
oom:
  tars_error_set(err, ENOMEM, "build the chat request");
  return NULL;
}

/* Ollama words it "model \"x\" not found, try pulling it first" or "model 'x' not found".  */
static bool
names_missing_model(const char *msg)
{
  return msg && strcasestr(msg, "model") != NULL && strcasestr(msg, "not found") != NULL;
}

static bool
ollama_error_message(long status, const char *body, size_t len, char *msg, size_t size)
{
  msg[0] = '\0';
  cleanup_cjson cJSON *j = cJSON_ParseWithLength(body, len);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const char *m = cJSON_GetStringValue(e);
  /* A proxy in front of Ollama may answer in OpenAI's shape.  */
  if (m == NULL && cJSON_IsObject(e))
    m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
  if (m)
    tars_reply_excerpt(m, strlen(m), msg, size);
  else
    tars_reply_excerpt(body, len, msg, size);
  return names_missing_model(m) || (status == 404 && m && strcasestr(m, "model") != NULL);
}

/* One NDJSON object.  */
static int
read_line(struct tars_reply *r, const char *line, size_t len, struct tars_error *err)
{
  char shown[200];
  if (r->done)
    return 0;
  cleanup_cjson cJSON *j = cJSON_ParseWithLength(line, len);
  if (!cJSON_IsObject(j))
    {
      tars_reply_excerpt(line, len, shown, sizeof shown);
      return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "%s: \"%s\"",
                             j ? "not a JSON object" : "malformed JSON", shown);
    }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (e && !cJSON_IsNull(e))
    {
      const char *m = cJSON_GetStringValue(e);
      if (m)
        tars_reply_excerpt(m, strlen(m), shown, sizeof shown);
      else
        tars_reply_excerpt(line, len, shown, sizeof shown);
      return tars_reply_fail(r,
                             names_missing_model(m) ? TARS_MODEL_MISSING : TARS_MODEL_SERVER_ERROR,
                             err, "the server sent an error: %s", shown);
    }
  const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model"));
  if (model && tars_reply_set(&r->model, model, err) < 0)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  const cJSON *content = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "content") : NULL;
  if (m && !cJSON_IsObject(m))
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "\"message\" is not an object");
  if (cJSON_IsString(content) &&
      tars_reply_append(r, content->valuestring, strlen(content->valuestring), err) < 0)
    return -1;
  const cJSON *done = cJSON_GetObjectItemCaseSensitive(j, "done");
  if (done && !cJSON_IsBool(done))
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "\"done\" is not true or false");
  if (cJSON_IsTrue(done))
    {
      r->done = true;
      const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "done_reason"));
      if (reason && tars_reply_set(&r->finish_reason, reason, err) < 0)
        return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt_eval_count");
      const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "eval_count");
      if (cJSON_IsNumber(p) && cJSON_IsNumber(c) && p->valuedouble >= 0 && c->valuedouble >= 0 &&
          p->valuedouble < 1e12 && c->valuedouble < 1e12)
        {
          r->prompt_tokens = (long)p->valuedouble;
          r->completion_tokens = (long)c->valuedouble;
          r->have_usage = true;
        }
    }
  return 0;
}

struct feed_ctx
{
  struct tars_reply *r;
  struct tars_error *err;
};

static int
on_line(void *ctx, char *line, size_t len)
{
  struct feed_ctx *f = ctx;
  size_t lead = strspn(line, " \t");
  if (lead == len)
    return 0;
  return read_line(f->r, line, len, f->err);
}

static int
ollama_feed(struct tars_reply *r, const char *data, size_t len, struct tars_error *err)
{
  if (r->failed)
    return tars_error_set(err, 0, "%s", r->failure);
  struct feed_ctx f = {r, err};
  int n = tars_stream_lines_feed(&r->lines, data, len, on_line, &f);
  if (n < 0 && !r->failed)
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "%s",
                           errno == E2BIG ? "a line longer than the longest answer"
                                          : "out of memory");
  return n < 0 ? -1 : 0;
}

static int
ollama_finish(struct tars_reply *r, struct tars_error *err)
{
  if (r->failed)
    return tars_error_set(err, 0, "%s", r->failure);
  struct feed_ctx f = {r, err};
  if (tars_stream_lines_finish(&r->lines, on_line, &f) < 0)
    return -1;
  if (!r->done)
    return tars_reply_fail(r, TARS_MODEL_TRUNCATED, err,
                           "the stream ended before its last message (\"done\": true) after %zu "
                           "bytes of answer",
                           r->len);
  if (r->content == NULL && (r->content = strdup("")) == NULL)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  return 0;
}

static int
ollama_parse(struct tars_reply *r, const char *body, size_t len, struct tars_error *err)
{
  /* A whole answer is the stream's last object; reading it as a stream of one also accepts a
   * server that streamed anyway.  */
  if (ollama_feed(r, body, len, err) < 0)
    return -1;
  return ollama_finish(r, err);
}

static int
ollama_models(const char *body, size_t len, char ***names, size_t *n, struct tars_error *err)
{
  *names = NULL;
  *n = 0;
  cleanup_cjson cJSON *j = cJSON_ParseWithLength(body, len);
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
  if (!cJSON_IsArray(models))
    {
      char shown[200];
      tars_reply_excerpt(body, len, shown, sizeof shown);
      return tars_error_set(err, 0, "not a model list (no \"models\" array): \"%s\"", shown);
    }
  char **v = calloc((size_t)cJSON_GetArraySize(models) + 1, sizeof *v);
  if (v == NULL)
    return tars_error_set(err, ENOMEM, "read the model list");
  const cJSON *m;
  size_t k = 0;
  cJSON_ArrayForEach(m, models)
  {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "name"));
    if (name == NULL)
      name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "model"));
    if (name == NULL)
      continue;
    if ((v[k] = strdup(name)) == NULL)
      {
        for (size_t i = 0; i < k; i++)
          free(v[i]);
        free(v);
        return tars_error_set(err, ENOMEM, "read the model list");
      }
    k++;
  }
  *names = v;
  *n = k;
  return 0;
}

static bool
ollama_same_model(const char *name, const char *wanted)
{
  if (strcmp(name, wanted) == 0)
    return true;
  /* No tag means ":latest", both ways.  */
  size_t w = strlen(wanted), nl = strlen(name);
  if (strchr(wanted, ':') == NULL)
    return nl == w + 7 && strncmp(name, wanted, w) == 0 && strcmp(name + w, ":latest") == 0;
  if (strchr(name, ':') == NULL)
    return w == nl + 7 && strncmp(wanted, name, nl) == 0 && strcmp(wanted + nl, ":latest") == 0;
  return false;
}

const struct tars_protocol tars_ollama_protocol = {
    .id = TARS_PROTO_OLLAMA,
    .urls = ollama_urls,
    .body = ollama_body,
    .feed = ollama_feed,
    .finish = ollama_finish,
    .parse = ollama_parse,
    .error_message = ollama_error_message,
    .models = ollama_models,
    .same_model = ollama_same_model,
};
