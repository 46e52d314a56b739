/* The store's record of model exchanges: every call the gateway made or refused, with what was
 * asked, what came back, the usage and the timing, redacted (model/redact.h) before it is
 * written.  Each exchange is also an audit entry ("model_exchange"), in the same SQL
 * transaction, holding its summary (not the texts, which are here).
 *
 * Schema version 3 (store.c's migration; docs/models.md):
 *
 *   exchanges(id TEXT PRIMARY KEY,                 -- "xch-<time>-<random>"
 *             execution_id TEXT, step_id TEXT,
 *             attempt INTEGER, role TEXT, call INTEGER,
 *             provider TEXT NOT NULL,              -- "ollama", "openai", "replay"
 *             url TEXT, model TEXT,
 *             status TEXT NOT NULL,                -- chat.h's status names: "ok", "timeout"...
 *             error TEXT,                          -- why it failed, or NULL
 *             started_at TEXT NOT NULL,            -- tars_now_iso()
 *             duration_ms INTEGER NOT NULL, http_attempts INTEGER NOT NULL,
 *             prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
 *             usage_estimated INTEGER NOT NULL,    -- 1: bytes / 4, the server said nothing
 *             request TEXT NOT NULL,               -- JSON: chat.h's request form
 *             response TEXT NOT NULL)              -- JSON: chat.h's response form (for a
 *                                                  --   failure, its status and error)
 *   INDEX exchanges_step ON exchanges(execution_id, step_id)  */
#ifndef TARS_STORE_EXCHANGES_H
#define TARS_STORE_EXCHANGES_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "model/chat.h"
#include "model/redact.h"
#include "store/store.h"
#include "tars/error.h"

struct tars_exchange
{
  const char *execution_id; /* may be NULL */
  const char *provider;     /* "ollama", "openai", "replay" */
  const char *url;          /* the server (redacted like the rest), or the replay file */
  const char *model;
  const char *actor;                         /* the audit entry's actor; NULL: "gateway" */
  const struct tars_chat_request *request;   /* step, attempt, role, call and messages */
  const struct tars_chat_response *response; /* status, answer or error, usage, timing */
};

/* Record EX (redacted with R; R may be NULL for the patterns only) and its audit entry in one
 * transaction of the store's, or inside the caller's when one is open.  ID_OUT (may be NULL)
 * gets the new exchange's id.  */
int tars_exchange_add(struct tars_store *store, const struct tars_exchange *ex,
                      const struct tars_redactor *r, char id_out[64], struct tars_error *err);

/* What a step used, summed over its exchanges.  */
struct tars_step_usage
{
  char *step_id; /* NULL: calls made outside a step */
  long calls;    /* exchanges that reached a provider (refusals not counted) */
  long failed;   /* of those, the ones that did not answer */
  long refused;  /* budget-exhausted and bad-request refusals */
  long prompt_tokens, completion_tokens;
  long duration_ms;
  bool estimated; /* some of the usage was estimated */
};

/* Usage per step of EXECUTION_ID (NULL: exchanges recorded without one), in the order each step
 * first called, into *OUT (malloc'd, *N of them).  */
int tars_exchanges_usage(struct tars_store *store, const char *execution_id,
                         struct tars_step_usage **out, size_t *n, struct tars_error *err);
void tars_step_usage_free(struct tars_step_usage *u, size_t n);

/* The exchanges of EXECUTION_ID (NULL: all), optionally of one step, oldest first, as a JSON
 * array of objects with the columns above, request and response parsed back.  */
int tars_exchanges_list(struct tars_store *store, const char *execution_id, const char *step_id,
                        cJSON **out, struct tars_error *err);

#endif
