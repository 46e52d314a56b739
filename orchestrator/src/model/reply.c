/* A server's reply as it is read, and what both protocols share (see protocol.h).  */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/protocol.h"

void
tars_reply_init(struct tars_reply *r, tars_delta_fn on_delta, void *ctx)
{
  memset(r, 0, sizeof *r);
  r->on_delta = on_delta;
  r->delta_ctx = ctx;
  /* A whole body (a non-streamed answer, JSON-escaped) is one line.  */
  r->lines.max = 2 * TARS_CHAT_MAX_ANSWER_BYTES + 65536;
}

void
tars_reply_free(struct tars_reply *r)
{
  free(r->content);
  free(r->finish_reason);
  free(r->model);
  free(r->event);
  tars_stream_lines_free(&r->lines);
  tars_reply_init(r, r->on_delta, r->delta_ctx);
}

int
tars_reply_fail(struct tars_reply *r, enum tars_model_status status, struct tars_error *err,
                const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->failure, sizeof r->failure, fmt, ap);
  va_end(ap);
  r->status = status;
  r->failed = true;
  return tars_error_set(err, 0, "%s", r->failure);
}

int
tars_reply_append(struct tars_reply *r, const char *text, size_t len, struct tars_error *err)
{
  if (len == 0)
    return 0;
  if (r->len + len > TARS_CHAT_MAX_ANSWER_BYTES)
    return tars_reply_fail(r, TARS_MODEL_BAD_RESPONSE, err, "the answer is longer than %u bytes",
                           TARS_CHAT_MAX_ANSWER_BYTES);
  char *c = realloc(r->content, r->len + len + 1);
  if (c == NULL)
    return tars_reply_fail(r, TARS_MODEL_INTERNAL, err, "out of memory reading the answer");
  memcpy(c + r->len, text, len);
  r->content = c;
  r->len += len;
  c[r->len] = '\0';
  if (r->on_delta)
    r->on_delta(r->delta_ctx, text, len);
  return 0;
}

int
tars_reply_set(char **field, const char *value, struct tars_error *err)
{
  char *c = strdup(value);
  if (c == NULL)
    return tars_error_set(err, ENOMEM, "read the answer");
  free(*field);
  *field = c;
  return 0;
}

void
tars_reply_excerpt(const char *s, size_t len, char *out, size_t size)
{
  size_t o = 0, i = 0;
  if (size == 0)
    return;
  for (; i < len && i < 80 && o + 5 < size; i++)
    {
      unsigned char c = (unsigned char)s[i];
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
        o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
      else
        out[o++] = (char)c;
    }
  if (i < len && o + 4 < size)
    o += (size_t)snprintf(out + o, size - o, "...");
  out[o < size ? o : size - 1] = '\0';
}

const struct tars_protocol *
tars_protocol_for(enum tars_model_protocol p)
{
  switch (p)
    {
    case TARS_PROTO_OLLAMA:
      return &tars_ollama_protocol;
    case TARS_PROTO_OPENAI:
      return &tars_openai_protocol;
    case TARS_PROTO_REPLAY:
      return NULL;
    }
  return NULL;
}

char *
tars_url_join(const char *base, size_t base_len, const char *suffix)
{
  while (base_len > 0 && base[base_len - 1] == '/')
    base_len--;
  char *out = NULL;
  if (asprintf(&out, "%.*s%s", (int)base_len, base, suffix) < 0)
    return NULL;
  return out;
}
