/* The two HTTP protocols the model clients speak, behind one table of operations: how to build
 * a request and how to read what comes back (client.c does the HTTP, the retries and the
 * errors).  Everything here is pure: bytes in, typed values out, which is what the unit tests and
 * the fuzz target (tests/fuzz/fuzz_model.c) drive.
 *
 *   openai.c  OpenAI-compatible chat completions: POST <base>/v1/chat/completions, streamed as
 *             Server-Sent Events ("data: {chunk}" lines, "data: [DONE]" at the end), usage in
 *             the body or, streamed, in the last chunk (stream_options.include_usage);
 *             GET <base>/v1/models.
 *   ollama.c  Ollama's own API: POST <base>/api/chat, streamed as NDJSON (one object per line,
 *             the last with "done": true and prompt_eval_count/eval_count), options.num_ctx
 *             always set; GET <base>/api/tags.
 *
 * A server's reply is read into a struct tars_reply, streamed or whole.  Reading fails (-1, ERR
 * filled, REPLY->status saying why) on JSON that does not parse or is not the protocol's
 * (TARS_MODEL_BAD_RESPONSE), an error the server sends inside a 200 stream (TARS_MODEL_MISSING
 * when it names a missing model, else TARS_MODEL_SERVER_ERROR), an answer longer than
 * TARS_CHAT_MAX_ANSWER_BYTES or a line longer than 1 MiB (TARS_MODEL_BAD_RESPONSE), and, at the
 * end of a stream, no end marker (TARS_MODEL_TRUNCATED).  Messages quote at most 80 bytes of
 * what the server sent, control characters escaped.  */
#ifndef TARS_MODEL_PROTOCOL_H
#define TARS_MODEL_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include "model/chat.h"
#include "model/stream_lines.h"
#include "model/settings.h"
#include "tars/error.h"

/* Called with each piece of the answer as it streams in.  */
typedef void (*tars_delta_fn)(void *ctx, const char *text, size_t len);

struct tars_reply
{
  char *content; /* the answer so far (NUL-terminated), or NULL */
  size_t len;
  char *finish_reason;
  char *model;
  long prompt_tokens, completion_tokens;
  bool have_usage;
  bool done; /* the end marker ([DONE], "done": true) or a finish reason was seen */
  enum tars_model_status status; /* why reading failed; TARS_MODEL_OK before */
  tars_delta_fn on_delta;
  void *delta_ctx;
  /* Stream state.  */
  struct tars_stream_lines lines;
  char *event; /* SSE: the data lines of the event being read, joined by "\n" */
  size_t event_len;
  bool sse_seen; /* OpenAI: an event line was read */
  bool raw;      /* OpenAI: the server sent a whole JSON body instead of events */
  bool failed;   /* a feed failed: later feeds fail the same way */
  char failure[TARS_ERROR_MSG_MAX];
};

void tars_reply_init(struct tars_reply *r, tars_delta_fn on_delta, void *ctx);
void tars_reply_free(struct tars_reply *r);
/* For the protocols: append to the answer (calling on_delta), keep a string, fail.  */
int tars_reply_append(struct tars_reply *r, const char *text, size_t len, struct tars_error *err);
int tars_reply_set(char **field, const char *value, struct tars_error *err);
int tars_reply_fail(struct tars_reply *r, enum tars_model_status status, struct tars_error *err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Up to 80 bytes of S (LEN of them), control characters and quotes escaped, "..." when cut.  */
void tars_reply_excerpt(const char *s, size_t len, char *out, size_t size);

struct tars_protocol
{
  enum tars_model_protocol id;
  /* The chat and model-list URLs for the settings' base URL (malloc'd).  */
  int (*urls)(const char *base, char **chat_url, char **models_url, struct tars_error *err);
  /* The JSON body of a chat request for MODEL (streamed when S->stream).  */
  char *(*body)(const struct tars_model_settings *s, const struct tars_chat_request *r,
                struct tars_error *err);
  /* A streamed 2xx body, piece by piece, then its end.  */
  int (*feed)(struct tars_reply *r, const char *data, size_t len, struct tars_error *err);
  int (*finish)(struct tars_reply *r, struct tars_error *err);
  /* A whole 2xx body.  */
  int (*parse)(struct tars_reply *r, const char *body, size_t len, struct tars_error *err);
  /* The body of an error status: the server's message (excerpted) into MSG ("" when it has
   * none); true when it says that the model does not exist.  */
  bool (*error_message)(long status, const char *body, size_t len, char *msg, size_t size);
  /* The model-list body: the names, malloc'd, NULL-terminated.  */
  int (*models)(const char *body, size_t len, char ***names, size_t *n, struct tars_error *err);
  /* Whether NAME in the list is the model WANTED (Ollama: "llama3" is "llama3:latest").  */
  bool (*same_model)(const char *name, const char *wanted);
};

extern const struct tars_protocol tars_openai_protocol;
extern const struct tars_protocol tars_ollama_protocol;

/* The protocol's table, or NULL for replay.  */
const struct tars_protocol *tars_protocol_for(enum tars_model_protocol p);

/* Base URL BASE with its trailing '/' removed and SUFFIX appended, malloc'd.  */
char *tars_url_join(const char *base, size_t base_len, const char *suffix);

#endif
