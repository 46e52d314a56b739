/* Model clients: the providers behind one interface, the HTTP call with its retries, and the
 * errors (see client.h).  */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/client.h"
#include "model/http.h"
#include "model/redact.h"
#include "model/replay.h"
#include "tars/cleanup.h"

struct tars_model_client
{
  struct tars_model_settings s;
  const struct tars_protocol *proto; /* NULL for replay */
  struct tars_replay *replay;
  char *chat_url, *models_url;
  struct tars_redactor redactor;
  void (*sleep_ms)(long ms);
};

static void
real_sleep(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static int
copy_settings(const struct tars_model_settings *from, struct tars_model_settings *to,
              struct tars_error *err)
{
  cleanup_cjson cJSON *j = tars_model_settings_to_json(from, true);
  if (j == NULL)
    return tars_error_set(err, ENOMEM, "copy the model settings");
  int r = tars_model_settings_from_json(j, to, err);
  cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "api_key");
  if (cJSON_IsString(k))
    explicit_bzero(k->valuestring, strlen(k->valuestring));
  return r;
}

int
tars_model_client_new(const struct tars_model_settings *settings, struct tars_model_client **out,
                      struct tars_error *err)
{
  *out = NULL;
  struct tars_model_client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return tars_error_set(err, ENOMEM, "create a model client");
  tars_redactor_init(&c->redactor);
  c->sleep_ms = real_sleep;
  if (copy_settings(settings, &c->s, err) < 0)
    {
      free(c);
      return -1;
    }
  if (c->s.api_key && tars_redactor_add(&c->redactor, c->s.api_key) < 0)
    {
      tars_model_client_free(c);
      return tars_error_set(err, ENOMEM, "create a model client");
    }
  if (c->s.protocol == TARS_PROTO_REPLAY)
    {
      if (tars_replay_load(c->s.url, &c->replay, err) < 0)
        {
          tars_model_client_free(c);
          return -1;
        }
    }
  else
    {
      c->proto = tars_protocol_for(c->s.protocol);
      if (c->proto->urls(c->s.url, &c->chat_url, &c->models_url, err) < 0)
        {
          tars_model_client_free(c);
          return -1;
        }
    }
  *out = c;
  return 0;
}

void
tars_model_client_free(struct tars_model_client *c)
{
  if (c == NULL)
    return;
  tars_model_settings_free(&c->s);
  tars_replay_free(c->replay);
  free(c->chat_url);
  free(c->models_url);
  tars_redactor_free(&c->redactor);
  free(c);
}

void
tars_model_client_freep(struct tars_model_client **c)
{
  tars_model_client_free(*c);
  *c = NULL;
}

const struct tars_model_settings *
tars_model_client_settings(const struct tars_model_client *c)
{
  return &c->s;
}

const char *
tars_model_client_chat_url(const struct tars_model_client *c)
{
  return c->chat_url;
}

const struct tars_redactor *
tars_model_client_redactor(const struct tars_model_client *c)
{
  return &c->redactor;
}

void
tars_model_client_set_sleep(struct tars_model_client *c, void (*sleep_ms)(long ms))
{
  c->sleep_ms = sleep_ms ? sleep_ms : real_sleep;
}

bool
tars_model_same(const struct tars_model_client *c, const char *name, const char *wanted)
{
  return c->proto ? c->proto->same_model(name, wanted) : strcmp(name, wanted) == 0;
}

/* ----- errors ----- */

/* ERR's message redacted with the client's key, in place.  */
static void
redact_error(const struct tars_model_client *c, struct tars_error *err)
{
  if (err == NULL || !tars_redact_needed(&c->redactor, err->msg))
    return;
  cleanup_free char *red = tars_redact(&c->redactor, err->msg);
  if (red)
    snprintf(err->msg, sizeof err->msg, "%s", red);
  else
    snprintf(err->msg, sizeof err->msg, "(a message that could not be redacted)");
}

static int
fail(const struct tars_model_client *c, struct tars_chat_response *resp,
     enum tars_model_status status, struct tars_error *err)
{
  redact_error(c, err);
  return tars_chat_fail(resp, status, err);
}

static long
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
seconds(long ms, char *buf, size_t size)
{
  if (ms % 1000 == 0)
    snprintf(buf, size, "%ld s", ms / 1000);
  else
    snprintf(buf, size, "%.1f s", ms / 1000.0);
  return buf;
}

/* ----- one HTTP try ----- */

struct attempt
{
  struct tars_model_client *c;
  struct tars_reply reply;
  tars_delta_fn on_delta;
  void *delta_ctx;
  struct tars_error feed_err;
  bool feed_failed;
};

static bool
on_data(void *ctx, const char *data, size_t len)
{
  struct attempt *a = ctx;
  if (a->c->proto->feed(&a->reply, data, len, &a->feed_err) < 0)
    {
      a->feed_failed = true;
      return false;
    }
  return true;
}

/* What one try came to.  */
struct outcome
{
  enum tars_model_status status; /* TARS_MODEL_OK: the answer is in the reply */
  bool retry;                    /* worth another try */
  long retry_after_ms;           /* what the server asked for, or 0 */
  int http_status;
  char msg[TARS_ERROR_MSG_MAX];
};

static void outcome_set(struct outcome *o, enum tars_model_status status, bool retry,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
outcome_set(struct outcome *o, enum tars_model_status status, bool retry, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(o->msg, sizeof o->msg, fmt, ap);
  va_end(ap);
  o->status = status;
  o->retry = retry;
}

/* A non-2xx status.  */
static void
read_status(struct tars_model_client *c, const struct tars_http_result *res, struct outcome *o)
{
  char server[256];
  const char *url = c->chat_url;
  const char *model = c->s.model;
  bool missing =
      c->proto->error_message(res->status, res->body, res->body_len, server, sizeof server);
  const char *sep = server[0] ? ": " : "";
  long st = res->status;
  if (missing)
    outcome_set(o, TARS_MODEL_MISSING, false, "model \"%s\" not found on %s (HTTP %ld%s%s)%s",
                model, c->s.url, st, sep, server,
                c->s.protocol == TARS_PROTO_OLLAMA ? "; ollama pull it, or choose another" : "");
  else if (st == 401 || st == 403)
    outcome_set(o, TARS_MODEL_AUTH, false, "%s refused the request (HTTP %ld%s%s): %s", url, st,
                sep, server,
                c->s.api_key ? "check the key (TARS_API_KEY or the user configuration)"
                : c->s.key_withheld
                    ? "the key was not sent: the URL comes from the repository's configuration"
                    : "no key was sent (set TARS_API_KEY)");
  else if (st == 429)
    {
      outcome_set(o, TARS_MODEL_RATE_LIMITED, true, "%s: rate limited (HTTP 429%s%s)", url, sep,
                  server);
      o->retry_after_ms = res->retry_after_s * 1000;
    }
  else if (st >= 500)
    {
      outcome_set(o, TARS_MODEL_SERVER_ERROR, true, "%s: server error (HTTP %ld%s%s)", url, st, sep,
                  server);
      o->retry_after_ms = res->retry_after_s * 1000;
    }
  else if (st == 404)
    outcome_set(o, TARS_MODEL_HTTP_ERROR, false,
                "%s: not found (HTTP 404%s%s): is this %s server? (prefix the URL with ollama: or "
                "openai: to choose)",
                url, sep, server,
                c->s.protocol == TARS_PROTO_OLLAMA ? "an Ollama" : "an OpenAI-compatible");
  else
    outcome_set(o, TARS_MODEL_HTTP_ERROR, false, "%s: HTTP %ld%s%s", url, st, sep, server);
}

static void
try_once(struct tars_model_client *c, const char *body, const char *const *headers, long timeout_ms,
         struct attempt *a, struct outcome *o, struct tars_error *err)
{
  char tbuf[32];
  struct tars_http_request hr = {
      .method = "POST",
      .url = c->chat_url,
      .body = body,
      .body_len = strlen(body),
      .headers = headers,
      .connect_timeout_ms =
          c->s.connect_timeout_ms < timeout_ms ? c->s.connect_timeout_ms : timeout_ms,
      .timeout_ms = timeout_ms,
      .idle_timeout_ms = c->s.idle_timeout_ms,
      .on_data = c->s.stream ? on_data : NULL,
      .ctx = a,
      .max_body = 2 * TARS_CHAT_MAX_ANSWER_BYTES + 65536,
  };
  struct tars_http_result res;
  memset(o, 0, sizeof *o);
  if (tars_http_perform(&hr, &res, err) < 0)
    {
      outcome_set(o, TARS_MODEL_INTERNAL, false, "%s", err->msg);
      return;
    }
  o->http_status = (int)res.status;
  switch (res.failure)
    {
    case TARS_HTTP_CONNECT:
      outcome_set(o, TARS_MODEL_UNREACHABLE, true, "cannot reach %s: %s", c->s.url, res.detail);
      break;
    case TARS_HTTP_TIMEOUT:
      outcome_set(o, TARS_MODEL_TIMEOUT, false, "no complete answer from %s within %s (timeout)",
                  c->s.url, seconds(timeout_ms, tbuf, sizeof tbuf));
      break;
    case TARS_HTTP_IDLE:
      outcome_set(o, TARS_MODEL_TIMEOUT, false,
                  "%s stopped sending its answer for %s (idle timeout)", c->s.url,
                  seconds(c->s.idle_timeout_ms, tbuf, sizeof tbuf));
      break;
    case TARS_HTTP_PARTIAL:
      outcome_set(o, TARS_MODEL_TRUNCATED, true,
                  "%s: the connection broke before the answer's end: %s", c->chat_url, res.detail);
      break;
    case TARS_HTTP_ABORTED:
      outcome_set(o, a->reply.status != TARS_MODEL_OK ? a->reply.status : TARS_MODEL_BAD_RESPONSE,
                  a->reply.status == TARS_MODEL_SERVER_ERROR, "%s: %s", c->chat_url,
                  a->feed_err.msg);
      break;
    case TARS_HTTP_TOO_LARGE:
      outcome_set(o, TARS_MODEL_BAD_RESPONSE, false, "%s: a response larger than %zu bytes",
                  c->chat_url, hr.max_body);
      break;
    case TARS_HTTP_OTHER:
      outcome_set(o, TARS_MODEL_BAD_RESPONSE, false, "%s: %s", c->chat_url, res.detail);
      break;
    case TARS_HTTP_OK:
      if (res.status < 200 || res.status >= 300)
        read_status(c, &res, o);
      else
        {
          struct tars_error perr = {0};
          int r = c->s.stream ? c->proto->finish(&a->reply, &perr)
                              : c->proto->parse(&a->reply, res.body, res.body_len, &perr);
          if (r < 0)
            {
              enum tars_model_status st = a->reply.status;
              if (st == TARS_MODEL_MISSING)
                outcome_set(o, st, false, "model \"%s\" not found on %s: %s", c->s.model, c->s.url,
                            perr.msg);
              else
                /* A stream cut short or an in-band server error may go better next time; an
                 * answer that does not parse will not.  */
                outcome_set(o, st, st == TARS_MODEL_TRUNCATED || st == TARS_MODEL_SERVER_ERROR,
                            "%s: %s", c->chat_url, perr.msg);
            }
          else
            o->status = TARS_MODEL_OK;
        }
      break;
    }
  tars_http_result_free(&res);
}

/* The wait before try number N (from 1): backoff doubled each time, between half and all of it;
 * or what the server asked for.  */
static long
wait_before(const struct tars_model_settings *s, int n, long retry_after_ms)
{
  if (retry_after_ms > 0)
    return retry_after_ms;
  long d = s->backoff_ms;
  for (int i = 1; i < n && d < s->max_wait_ms; i++)
    d *= 2;
  if (d > s->max_wait_ms)
    d = s->max_wait_ms;
  if (d <= 1)
    return d;
  return d / 2 + (long)arc4random_uniform((uint32_t)(d / 2 + 1));
}

static int
http_chat(struct tars_model_client *c, const struct tars_chat_request *req, tars_delta_fn on_delta,
          void *ctx, struct tars_chat_response *resp, struct tars_error *err)
{
  char tbuf[32];
  if (c->s.model == NULL)
    {
      tars_error_invalid(err,
                         "no model chosen for %s: set --model, TARS_MODEL or \"model\" in the "
                         "configuration (tars model check lists what the server has)",
                         c->s.url);
      return fail(c, resp, TARS_MODEL_MISSING, err);
    }
  cleanup_free char *body = c->proto->body(&c->s, req, err);
  if (body == NULL)
    return fail(c, resp, TARS_MODEL_INTERNAL, err);
  cleanup_free char *auth = NULL;
  const char *headers[4];
  size_t nh = 0;
  headers[nh++] = "Content-Type: application/json";
  headers[nh++] = c->s.stream && c->s.protocol == TARS_PROTO_OPENAI ? "Accept: text/event-stream"
                                                                    : "Accept: application/json";
  if (c->s.api_key)
    {
      if (asprintf(&auth, "Authorization: Bearer %s", c->s.api_key) < 0)
        {
          auth = NULL;
          tars_error_set(err, ENOMEM, "build the request headers");
          return fail(c, resp, TARS_MODEL_INTERNAL, err);
        }
      headers[nh++] = auth;
    }
  headers[nh] = NULL;

  long start = now_ms();
  long deadline = req->timeout_ms > 0 ? start + req->timeout_ms : 0;
  struct outcome o = {0};
  int tries = 0;
  for (;;)
    {
      long timeout = c->s.timeout_ms;
      if (deadline && deadline - now_ms() < timeout)
        timeout = deadline - now_ms();
      if (timeout < 1)
        timeout = 1;
      struct attempt a = {.c = c, .on_delta = on_delta, .delta_ctx = ctx};
      tars_reply_init(&a.reply, on_delta, ctx);
      if (tries > 0 && on_delta)
        on_delta(ctx, NULL, 0);
      tries++;
      try_once(c, body, headers, timeout, &a, &o, err);
      resp->http_attempts = tries;
      resp->http_status = o.http_status;
      if (o.status == TARS_MODEL_OK)
        {
          resp->status = TARS_MODEL_OK;
          resp->content = steal_pointer(&a.reply.content);
          resp->finish_reason = steal_pointer(&a.reply.finish_reason);
          resp->model = steal_pointer(&a.reply.model);
          if (a.reply.have_usage)
            {
              resp->usage.prompt_tokens = a.reply.prompt_tokens;
              resp->usage.completion_tokens = a.reply.completion_tokens;
            }
          else
            {
              resp->usage.prompt_tokens = tars_chat_estimate_tokens(tars_chat_request_bytes(req));
              resp->usage.completion_tokens = tars_chat_estimate_tokens(a.reply.len);
              resp->usage.estimated = true;
            }
          tars_reply_free(&a.reply);
          resp->duration_ms = now_ms() - start;
          if (auth)
            explicit_bzero(auth, strlen(auth));
          return 0;
        }
      tars_reply_free(&a.reply);
      if (!o.retry || tries > c->s.retries)
        break;
      long wait = wait_before(&c->s, tries, o.retry_after_ms);
      if (o.retry_after_ms > c->s.max_wait_ms)
        {
          size_t n = strlen(o.msg);
          char mbuf[32];
          snprintf(o.msg + n, sizeof o.msg - n,
                   "; the server asks to wait %s, longer than the longest wait (%s)",
                   seconds(o.retry_after_ms, tbuf, sizeof tbuf),
                   seconds(c->s.max_wait_ms, mbuf, sizeof mbuf));
          o.retry = false;
          break;
        }
      if (deadline && now_ms() + wait >= deadline)
        {
          size_t n = strlen(o.msg);
          snprintf(o.msg + n, sizeof o.msg - n,
                   "; no time left for another try (the call's "
                   "limit is %s)",
                   seconds(req->timeout_ms, tbuf, sizeof tbuf));
          o.retry = false;
          break;
        }
      c->sleep_ms(wait);
    }
  if (auth)
    explicit_bzero(auth, strlen(auth));
  resp->duration_ms = now_ms() - start;
  if (o.retry && tries > 1)
    {
      size_t n = strlen(o.msg);
      snprintf(o.msg + n, sizeof o.msg - n, " (gave up after %d tries)", tries);
    }
  tars_error_set(err, 0, "%s", o.msg);
  if (o.status == TARS_MODEL_INTERNAL && err)
    err->kind = TARS_ERR_SYSTEM;
  return fail(c, resp, o.status, err);
}

int
tars_model_chat(struct tars_model_client *c, const struct tars_chat_request *req,
                tars_delta_fn on_delta, void *ctx, struct tars_chat_response *resp,
                struct tars_error *err)
{
  memset(resp, 0, sizeof *resp);
  if (req->n_messages == 0)
    {
      tars_error_invalid(err, "a chat request needs at least one message");
      return fail(c, resp, TARS_MODEL_BAD_REQUEST, err);
    }
  if (c->replay)
    {
      int r = tars_replay_answer(c->replay, req, resp, err);
      if (r < 0)
        redact_error(c, err);
      else if (on_delta && resp->content)
        on_delta(ctx, resp->content, strlen(resp->content));
      return r;
    }
  return http_chat(c, req, on_delta, ctx, resp, err);
}

int
tars_model_list(struct tars_model_client *c, char ***names, size_t *n,
                enum tars_model_status *status, struct tars_error *err)
{
  *names = NULL;
  *n = 0;
  *status = TARS_MODEL_OK;
  if (c->replay)
    return tars_replay_models(c->replay, names, n, err);
  const char *headers[3] = {"Accept: application/json", NULL, NULL};
  cleanup_free char *auth = NULL;
  if (c->s.api_key)
    {
      if (asprintf(&auth, "Authorization: Bearer %s", c->s.api_key) < 0)
        {
          auth = NULL;
          *status = TARS_MODEL_INTERNAL;
          return tars_error_set(err, ENOMEM, "build the request headers");
        }
      headers[1] = auth;
    }
  struct tars_http_request hr = {
      .method = "GET",
      .url = c->models_url,
      .headers = headers,
      .connect_timeout_ms = c->s.connect_timeout_ms,
      .timeout_ms = c->s.connect_timeout_ms + 20000,
      .idle_timeout_ms = c->s.idle_timeout_ms,
  };
  struct tars_http_result res;
  int r = tars_http_perform(&hr, &res, err);
  if (auth)
    explicit_bzero(auth, strlen(auth));
  if (r < 0)
    {
      *status = TARS_MODEL_INTERNAL;
      return -1;
    }
  int ret = -1;
  switch (res.failure)
    {
    case TARS_HTTP_OK:
      if (res.status >= 200 && res.status < 300)
        {
          if (c->proto->models(res.body, res.body_len, names, n, err) < 0)
            {
              *status = TARS_MODEL_BAD_RESPONSE;
              tars_error_prefix(err, "%s", c->models_url);
            }
          else
            ret = 0;
        }
      else
        {
          char server[256];
          c->proto->error_message(res.status, res.body, res.body_len, server, sizeof server);
          *status = res.status == 401 || res.status == 403 ? TARS_MODEL_AUTH
                    : res.status >= 500                    ? TARS_MODEL_SERVER_ERROR
                                                           : TARS_MODEL_HTTP_ERROR;
          tars_error_set(err, 0, "%s: HTTP %ld%s%s", c->models_url, res.status,
                         server[0] ? ": " : "", server);
        }
      break;
    case TARS_HTTP_CONNECT:
      *status = TARS_MODEL_UNREACHABLE;
      tars_error_set(err, 0, "cannot reach %s: %s", c->s.url, res.detail);
      break;
    case TARS_HTTP_TIMEOUT:
    case TARS_HTTP_IDLE:
      *status = TARS_MODEL_TIMEOUT;
      tars_error_set(err, 0, "%s: no answer in time (%s)", c->models_url, res.detail);
      break;
    default:
      *status = TARS_MODEL_BAD_RESPONSE;
      tars_error_set(err, 0, "%s: %s", c->models_url, res.detail);
      break;
    }
  tars_http_result_free(&res);
  if (ret < 0)
    redact_error(c, err);
  return ret;
}
