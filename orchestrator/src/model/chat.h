/* Chat exchanges with a language model, as typed values: the request a worker makes, the answer,
 * and why a call failed.  One set of types for every provider (client.h: Ollama, the
 * OpenAI-compatible servers, the replay file), the gateway (gateway.h) and the store
 * (store/exchanges.h), so that nothing above the client can tell the providers apart.
 *
 * JSON forms exist for the places where these values leave the process: the gateway's socket
 * protocol, recordings (replay.h) and the store.  Reading one is reading untrusted input (the
 * gateway's requests come from sandboxes): every limit below is checked, and anything else is
 * TARS_ERR_INVALID naming the key.  */
#ifndef TARS_MODEL_CHAT_H
#define TARS_MODEL_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "tars/error.h"

/* Limits on what a request may carry, and an answer may be.  */
#define TARS_CHAT_MAX_MESSAGES 256
#define TARS_CHAT_MAX_PROMPT_BYTES (8u << 20) /* all the messages' contents together */
#define TARS_CHAT_MAX_ANSWER_BYTES (4u << 20)
#define TARS_CHAT_MAX_ID 128 /* step ids and roles */

enum tars_chat_role
{
  TARS_CHAT_SYSTEM,
  TARS_CHAT_USER,
  TARS_CHAT_ASSISTANT,
};

struct tars_chat_message
{
  enum tars_chat_role role;
  char *content; /* UTF-8, malloc'd */
};

/* A call to the model.  The step, attempt, role and call identify it for budgets, the store,
 * recordings and replay; the HTTP clients do not send them.  */
struct tars_chat_request
{
  struct tars_chat_message *messages;
  size_t n_messages;
  char *step_id;      /* the plan step asking, or NULL (tars model check/chat) */
  int attempt;        /* from 1; 0: none */
  char *role;         /* who asks within the step: "coder", "tester"; NULL means "coder" */
  int call;           /* the how-manieth call of this step, attempt and role, from 1 (the gateway
                         counts them); 0 means 1 */
  long max_tokens;    /* longest answer, in tokens; 0: the server's default */
  double temperature; /* negative: the server's default */
  long timeout_ms;    /* the whole call, retries and waits included; 0: no limit beyond the
                         settings' per-request timeouts and retries */
};

/* Why a call failed; TARS_MODEL_OK when it did not.  The names (tars_model_status_name) are
 * the contract of the gateway protocol, the store and recordings.  */
enum tars_model_status
{
  TARS_MODEL_OK = 0,
  TARS_MODEL_UNREACHABLE,      /* "unreachable": no connection (refused, no route, DNS) */
  TARS_MODEL_TIMEOUT,          /* "timeout": no complete answer within the time limits */
  TARS_MODEL_MISSING,          /* "model-missing": the server does not have the model */
  TARS_MODEL_AUTH,             /* "auth": 401 or 403, the key is missing or refused */
  TARS_MODEL_RATE_LIMITED,     /* "rate-limited": 429 until the retries ran out */
  TARS_MODEL_SERVER_ERROR,     /* "server-error": 5xx until the retries ran out */
  TARS_MODEL_HTTP_ERROR,       /* "http-error": another HTTP status the call cannot recover from */
  TARS_MODEL_BAD_RESPONSE,     /* "bad-response": an answer that is not the protocol's JSON */
  TARS_MODEL_TRUNCATED,        /* "truncated": the answer stopped before its end */
  TARS_MODEL_NO_RECORDING,     /* "no-recording": replay has no exchange for this call */
  TARS_MODEL_BUDGET_EXHAUSTED, /* "budget-exhausted": the gateway refused: a budget is spent */
  TARS_MODEL_BAD_REQUEST,      /* "bad-request": the gateway refused a malformed request */
  TARS_MODEL_CANCELLED,        /* "cancelled": the caller went away or the gateway stopped */
  TARS_MODEL_INTERNAL,         /* "internal": tars itself failed (out of memory, no libcurl) */
  TARS_MODEL_STATUS_COUNT,
};

const char *tars_model_status_name(enum tars_model_status s);
/* The status named NAME; -1 when there is none.  */
int tars_model_status_from_name(const char *name, enum tars_model_status *out);

struct tars_chat_usage
{
  long prompt_tokens;
  long completion_tokens;
  bool estimated; /* the server reported no usage: both counted as bytes / 4, rounded up */
};

struct tars_chat_response
{
  enum tars_model_status status;
  char *content;       /* the answer; NULL when the call failed */
  char *finish_reason; /* "stop", "length", ... as the server said, or NULL */
  char *model;         /* the model the server says answered, or NULL */
  struct tars_chat_usage usage;
  long duration_ms;  /* from the first request to the last byte, retries and waits included */
  int http_attempts; /* requests sent (0 for replay) */
  int http_status;   /* the last HTTP status, 0 when none was received */
  char *error;       /* why it failed (as the tars_error said), NULL on success; never holds
                        the key (tars_model_chat never puts it there) */
};

void tars_chat_request_init(struct tars_chat_request *r);
void tars_chat_request_free(struct tars_chat_request *r);
void tars_chat_response_free(struct tars_chat_response *r);
#define cleanup_chat_request __attribute__((cleanup(tars_chat_request_free)))
#define cleanup_chat_response __attribute__((cleanup(tars_chat_response_free)))

/* Append a message (CONTENT copied).  */
int tars_chat_request_add(struct tars_chat_request *r, enum tars_chat_role role,
                          const char *content, struct tars_error *err);
const char *tars_chat_role_name(enum tars_chat_role role); /* "system", "user", "assistant" */
int tars_chat_role_from_name(const char *name, enum tars_chat_role *out);
/* The request's role, "coder" when unset.  */
const char *tars_chat_request_role(const struct tars_chat_request *r);
/* Total bytes of the messages' contents.  */
size_t tars_chat_request_bytes(const struct tars_chat_request *r);
/* Fill RESP's failure: STATUS, and ERR's message copied into RESP->error.  Returns -1, so that
 * a provider can `return tars_chat_fail (resp, status, err)` after filling ERR.  */
int tars_chat_fail(struct tars_chat_response *resp, enum tars_model_status status,
                   const struct tars_error *err);

/* JSON forms.
 *
 * A request: {"step": S, "attempt": N, "role": R, "call": N,
 *             "messages": [{"role": "system"|"user"|"assistant", "content": TEXT}, ...],
 *             "limits": {"max_tokens": N, "temperature": X, "timeout": SECONDS}}
 * every key but "messages" optional.  Reading one (from_json) ignores "type" (the gateway's)
 * and refuses any other unknown key, more than TARS_CHAT_MAX_MESSAGES messages or
 * TARS_CHAT_MAX_PROMPT_BYTES of content, a step or role longer than TARS_CHAT_MAX_ID or with
 * control characters, strings holding NUL, and numbers out of range.  On error R is left
 * empty.  */
cJSON *tars_chat_request_to_json(const struct tars_chat_request *r);
int tars_chat_request_from_json(const cJSON *j, struct tars_chat_request *r,
                                struct tars_error *err);

/* A response: {"status": NAME, "content": TEXT, "finish_reason": TEXT, "model": TEXT,
 *              "usage": {"prompt_tokens": N, "completion_tokens": N, "estimated": BOOL},
 *              "duration_ms": N, "http_attempts": N, "http_status": N, "error": TEXT}
 * absent fields read as empty; content longer than TARS_CHAT_MAX_ANSWER_BYTES is refused; a
 * status other than "ok" needs no content.  */
cJSON *tars_chat_response_to_json(const struct tars_chat_response *r);
int tars_chat_response_from_json(const cJSON *j, struct tars_chat_response *r,
                                 struct tars_error *err);

/* The estimate used when a server reports no usage: BYTES / 4, rounded up.  */
long tars_chat_estimate_tokens(size_t bytes);

#endif
