/* OpenAI-compatible chat completions (see protocol.h): OpenAI itself, llama.cpp's server, vLLM,
 * LM Studio, Ollama's /v1.  */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/protocol.h"
#include "tars/cleanup.h"

/* The most a whole body sent in place of a stream may hold: the longest answer, JSON-escaped.  */
#define RAW_MAX (2 * TARS_CHAT_MAX_ANSWER_BYTES + 65536)

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
  size_t m = strlen(suffix);
  return n >= m && strncmp(s + n - m, suffix, m) == 0;
}

static int
openai_urls(const char *base, char **chat, char **models, struct tars_error *err)
{
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  static const char cc[] = "/chat/completions";
  if (ends_with(base, n, cc))
    {
      *chat = tars_url_join(base, n, "");
      *models = tars_url_join(base, n - (sizeof cc - 1), "/models");
    }
  else if (ends_with(base, n, "/v1"))
    {
      *chat = tars_url_join(base, n, cc);
      *models = tars_url_join(base, n, "/models");
    }
  else
    {
      *chat = tars_url_join(base, n, "/v1/chat/completions");
      *models = tars_url_join(base, n, "/v1/models");
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
openai_body(const struct tars_model_settings *s, const struct tars_chat_request *r,
            struct tars_error *err)
{
  cleanup_cjson cJSON *o = cJSON_CreateObject();
  cJSON *msgs;
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
  if (cJSON_AddBoolToObject(o, "stream", s->stream) == NULL)
    goto oom;
  if (s->stream)
    {
      /* Without it a streamed answer carries no usage at all.  */
      cJSON *so = cJSON_AddObjectToObject(o, "stream_options");
      if (so == NULL || cJSON_AddBoolToObject(so, "include_usage", 1) == NULL)
        goto oom;
    }
  long max_tokens = r->max_tokens > 0 ? r->max_tokens : s->max_tokens;
  if (max_tokens > 0 && cJSON_AddNumberToObject(o, "max_tokens", (double)max_tokens) == NULL)
    goto oom;
  double t = r->temperature >= 0 ? r->temperature : s->temperature;
  if (t >= 0 && cJSON_AddNumberToObject(o, "temperature", t) == NULL)
    goto oom;
  char *text = cJSON_PrintUnformatted(o);
  if (text == NULL)
    goto oom;
  return text;
oom:
  tars_error_set(err, ENOMEM, "build the chat request");
  return NULL;
}

/* ----- errors ----- */

/* The server's message in an OpenAI-style error object, or a string.  */
static const char *
error_text(const cJSON *e)
{
  if (cJSON_IsString(e))
    return e->valuestring;
  if (cJSON_IsObject(e))
    {
      const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
      if (m)
        return m;
    }
  return NULL;
}

static bool
says_model_missing(const cJSON *e, long status, const char *msg)
{
  if (cJSON_IsObject(e))
    {
      const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
      if (code && strcmp(code, "model_not_found") == 0)
        return true;
    }
  /* vLLM: 404 "The model `x` does not exist."; others word it their own way.  */
  return status == 404 && msg && strcasestr(msg, "model") != NULL;
}

static bool
openai_error_message(long status, const char *body, size_t len, char *msg, size_t size)
{
  msg[0] = '\0';
  cleanup_cjson cJSON *j = cJSON_ParseWithLength(body, len);
  if (!cJSON_IsObject(j))
    {
      tars_reply_excerpt(body, len, msg, size);
      return false;
    }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const char *m = error_text(e);
  if (m == NULL)
    m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
  if (m == NULL)
    m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "detail"));
  if (m)
    tars_reply_excerpt(m, strlen(m), msg, size);
  else
    tars_reply_excerpt(body, len, msg, size);
  return says_model_missing(e, status, m);
}

/* ----- chunks and bodies ----- */

static int
read_usage(struct tars_reply *r, const cJSON *u)
{
  if (!cJSON_IsObject(u))
    return 0;
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
  if (cJSON_IsNumber(p) && cJSON_IsNumber(c) && p->valuedouble >= 0 && c->valuedouble >= 0 &&
      p->valuedouble < 1e12 && c->valuedouble < 1e12)
    {
      r->prompt_tokens = (long)p->valuedouble;
      r->completion_tokens = (long)c->valuedouble;
      r->have_usage = true;
    }
  return 0;
}

/* The fields every chunk or body may carry: an error, the model, usage.  */
static int
read_common(struct tars_reply *r, const cJSON *j, const char *raw, size_t raw_len,
            struct tars_error *err)
{
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (e && !cJSON_IsNull(e))
    {
      const char *m = error_text(e);
      char shown[200];
      if (m)
        tars_reply_excerpt(m, strlen(m), shown, sizeof shown);
      else
        tars_reply_excerpt(raw, raw_len, shown, sizeof shown);
      if (says_model_missing(e, 0, m))
        return tars_reply_fail(r, TARS_MODEL_MISSING, err, "the server says: %s", shown);
      return tars_reply_fail(r, TARS_MODEL_SERVER_ERROR, err, "the server sent an error: %s",
                             shown);
    }
  const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model"));
  if (model && tars_reply_set(&r->model, model, err) < 0)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  return read_usage(r, cJSON_GetObjectItemCaseSensitive(j, "usage"));
}

static int
read_choice(struct tars_reply *r, const cJSON *j, bool streamed, struct tars_error *err)
{
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
  if (choices == NULL || cJSON_IsNull(choices))
    return 0;
  if (!cJSON_IsArray(choices))
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "\"choices\" is not an array");
  const cJSON *c = cJSON_GetArrayItem(choices, 0);
  if (c == NULL)
    return 0;
  if (!cJSON_IsObject(c))
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "a choice is not an object");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, streamed ? "delta" : "message");
  if (m == NULL && streamed)
    m = cJSON_GetObjectItemCaseSensitive(c, "message");
  const cJSON *content = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "content") : NULL;
  if (cJSON_IsString(content) &&
      tars_reply_append(r, content->valuestring, strlen(content->valuestring), err) < 0)
    return -1;
  if (!streamed && !cJSON_IsString(content))
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err,
                           "the answer has no text (\"choices[0].message.content\" is %s)",
                           content ? "not a string" : "missing");
  const char *fr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "finish_reason"));
  if (fr && tars_reply_set(&r->finish_reason, fr, err) < 0)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  return 0;
}

static int
read_object(struct tars_reply *r, const char *text, size_t len, bool streamed,
            struct tars_error *err)
{
  cleanup_cjson cJSON *j = cJSON_ParseWithLength(text, len);
  if (!cJSON_IsObject(j))
    {
      char shown[200];
      tars_reply_excerpt(text, len, shown, sizeof shown);
      return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "%s: \"%s\"",
                             j ? "not a JSON object" : "malformed JSON", shown);
    }
  if (read_common(r, j, text, len, err) < 0 || read_choice(r, j, streamed, err) < 0)
    return -1;
  return 0;
}

/* One Server-Sent Event's data.  */
static int
dispatch_event(struct tars_reply *r, struct tars_error *err)
{
  if (r->event == NULL)
    return 0;
  int ret = 0;
  if (r->done)
    ; /* after [DONE]: nothing counts */
  else if (strcmp(r->event, "[DONE]") == 0)
    r->done = true;
  else
    ret = read_object(r, r->event, r->event_len, true, err);
  free(r->event);
  r->event = NULL;
  r->event_len = 0;
  return ret;
}

static int
append_event(struct tars_reply *r, const char *data, size_t n, struct tars_error *err)
{
  size_t extra = r->event ? 1 : 0;
  if (r->event_len + extra + n + 1 > RAW_MAX)
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "an event longer than %u bytes",
                           RAW_MAX);
  char *e = realloc(r->event, r->event_len + extra + n + 1);
  if (e == NULL)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  if (extra)
    e[r->event_len++] = '\n';
  memcpy(e + r->event_len, data, n);
  r->event_len += n;
  e[r->event_len] = '\0';
  r->event = e;
  return 0;
}

static int
append_raw(struct tars_reply *r, const char *data, size_t n, struct tars_error *err)
{
  if (r->event_len + n + 2 > RAW_MAX)
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "an answer longer than %u bytes",
                           RAW_MAX);
  char *e = realloc(r->event, r->event_len + n + 2);
  if (e == NULL)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  memcpy(e + r->event_len, data, n);
  r->event_len += n;
  e[r->event_len++] = '\n';
  e[r->event_len] = '\0';
  r->event = e;
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
  if (f->r->raw)
    return append_raw(f->r, line, len, f->err);
  /* A server that ignores "stream": true sends one JSON body instead of events.  */
  if (!f->r->sse_seen && len > 0 && line[0] == '{')
    {
      f->r->raw = true;
      return append_raw(f->r, line, len, f->err);
    }
  f->r->sse_seen = true;
  if (len == 0)
    return dispatch_event(f->r, f->err);
  if (line[0] == ':')
    return 0;
  if (strncmp(line, "data:", 5) == 0)
    {
      size_t skip = line[5] == ' ' ? 6 : 5;
      return append_event(f->r, line + skip, len - skip, f->err);
    }
  if (strncmp(line, "event:", 6) == 0 || strncmp(line, "id:", 3) == 0 ||
      strncmp(line, "retry:", 6) == 0)
    return 0;
  char shown[200];
  tars_reply_excerpt(line, len, shown, sizeof shown);
  return tars_reply_fail(f->r, TARS_MODEL_BAD_RESPONSE, f->err,
                         "not a Server-Sent Events stream: \"%s\"", shown);
}

static int
openai_feed(struct tars_reply *r, const char *data, size_t len, struct tars_error *err)
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

static int openai_parse(struct tars_reply *r, const char *body, size_t len, struct tars_error *err);

static int
openai_finish(struct tars_reply *r, struct tars_error *err)
{
  if (r->failed)
    return tars_error_set(err, 0, "%s", r->failure);
  struct feed_ctx f = {r, err};
  if (tars_stream_lines_finish(&r->lines, on_line, &f) < 0)
    return -1;
  if (r->raw)
    {
      cleanup_free char *body = steal_pointer(&r->event);
      size_t n = r->event_len;
      r->event_len = 0;
      return openai_parse(r, body, n, err);
    }
  if (dispatch_event(r, err) < 0)
    return -1;
  /* A server that ends with a finish reason but no [DONE] has still said all it had.  */
  if (!r->done && r->finish_reason)
    r->done = true;
  if (!r->done)
    return tars_reply_fail(r, TARS_MODEL_TRUNCATED, err,
                           "the stream ended before its end (no finish reason, no [DONE]) after "
                           "%zu bytes of answer",
                           r->len);
  if (r->content == NULL && (r->content = strdup("")) == NULL)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  return 0;
}

static int
openai_parse(struct tars_reply *r, const char *body, size_t len, struct tars_error *err)
{
  if (read_object(r, body, len, false, err) < 0)
    return -1;
  r->done = true;
  if (r->content == NULL && (r->content = strdup("")) == NULL)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory");
  return 0;
}

/* ----- model lists ----- */

static int
add_name(char ***names, size_t *n, const char *name, struct tars_error *err)
{
  char **v = realloc(*names, (*n + 2) * sizeof *v);
  if (v == NULL)
    return tars_error_set(err, ENOMEM, "read the model list");
  *names = v;
  if ((v[*n] = strdup(name)) == NULL)
    return tars_error_set(err, ENOMEM, "read the model list");
  v[++*n] = NULL;
  return 0;
}

static int
list_names(const cJSON *arr, const char *const *keys, char ***names, size_t *n,
           struct tars_error *err)
{
  const cJSON *m;
  cJSON_ArrayForEach(m, arr)
  {
    for (const char *const *k = keys; *k; k++)
      {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, *k));
        if (name)
          {
            if (add_name(names, n, name, err) < 0)
              return -1;
            break;
          }
      }
  }
  return 0;
}

static int
openai_models(const char *body, size_t len, char ***names, size_t *n, struct tars_error *err)
{
  static const char *const id_keys[] = {"id", NULL};
  static const char *const name_keys[] = {"name", "model", NULL};
  *names = NULL;
  *n = 0;
  cleanup_cjson cJSON *j = cJSON_ParseWithLength(body, len);
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
  if (!cJSON_IsArray(data) && !cJSON_IsArray(models))
    {
      char shown[200];
      tars_reply_excerpt(body, len, shown, sizeof shown);
      return tars_error_set(err, 0, "not a model list (no \"data\" array): \"%s\"", shown);
    }
  int r = cJSON_IsArray(data) ? list_names(data, id_keys, names, n, err)
                              : list_names(models, name_keys, names, n, err);
  if (r == 0 && *names == NULL && (*names = calloc(1, sizeof **names)) == NULL)
    r = tars_error_set(err, ENOMEM, "read the model list");
  if (r < 0)
    {
      for (size_t i = 0; *names && i < *n; i++)
        free((*names)[i]);
      free(*names);
      *names = NULL;
      *n = 0;
    }
  return r;
}

static bool
openai_same_model(const char *name, const char *wanted)
{
  return strcmp(name, wanted) == 0;
}

const struct tars_protocol tars_openai_protocol = {
    .id = TARS_PROTO_OPENAI,
    .urls = openai_urls,
    .body = openai_body,
    .feed = openai_feed,
    .finish = openai_finish,
    .parse = openai_parse,
    .error_message = openai_error_message,
    .models = openai_models,
    .same_model = openai_same_model,
};
