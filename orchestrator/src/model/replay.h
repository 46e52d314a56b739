/* Recorded exchanges: the replay provider (`--llm replay:FILE`) answers from a recording, and the
 * recorder (the gateway's --record FILE, through which a run is recorded) writes one from a real
 * run.  With replay the whole system runs offline and its tests are deterministic.
 *
 * The file (docs/models.md):
 *
 *   {"tars_replay": 1,
 *    "description": "optional text",
 *    "exchanges": [
 *      {"step": "todo-1", "attempt": 1, "role": "coder", "call": 1,
 *       "request": {"messages": [...]},            optional: what was asked; not matched
 *       "response": {"content": "...", "finish_reason": "stop", "model": "qwen2.5-coder:7b",
 *                    "usage": {"prompt_tokens": 812, "completion_tokens": 95}}},
 *      {"step": "todo-2", "attempt": 1,
 *       "error": {"status": "timeout", "message": "..."}}]}   a recorded failure, replayed
 *
 * An exchange is matched by step, attempt, role ("coder" when absent) and call (1 when absent):
 * never by the prompt, which changes whenever the prompts do.  A request with no exchange is a
 * failure with status no-recording, naming the step, attempt, role and call: replay never
 * guesses.  Two exchanges with the same key, unknown keys, and values out of chat.h's limits
 * are refused when the file is loaded, naming the exchange.
 *
 * A recording holds what the store holds, redacted the same way (redact.h).  */
#ifndef TARS_MODEL_REPLAY_H
#define TARS_MODEL_REPLAY_H

#include <stddef.h>

#include "model/chat.h"
#include "model/redact.h"
#include "tars/error.h"

#define TARS_REPLAY_MAX_BYTES (64u << 20)
#define TARS_REPLAY_MAX_EXCHANGES 100000

struct tars_replay;

/* Load and check the recording at PATH (at most TARS_REPLAY_MAX_BYTES).  Errors name the file
 * and, for a bad exchange, its index and step.  */
int tars_replay_load(const char *path, struct tars_replay **out, struct tars_error *err);
/* The same from text (WHERE names it in errors).  */
int tars_replay_parse(const char *text, size_t len, const char *where, struct tars_replay **out,
                      struct tars_error *err);
void tars_replay_free(struct tars_replay *rp);
size_t tars_replay_count(const struct tars_replay *rp);
/* The distinct models the recorded answers name (malloc'd, NULL-terminated).  */
int tars_replay_models(const struct tars_replay *rp, char ***names, size_t *n,
                       struct tars_error *err);

/* The recorded answer to REQ, copied into RESP (duration 0, no HTTP request, usage as recorded
 * or estimated).  A recorded failure, or no recording, returns -1 with RESP->status and ERR
 * saying why.  */
int tars_replay_answer(const struct tars_replay *rp, const struct tars_chat_request *req,
                       struct tars_chat_response *resp, struct tars_error *err);

struct tars_recorder;

/* Start a recording at PATH: written at once (an empty recording), so that a bad path fails
 * before the run, and rewritten whole after each exchange, through a temporary file renamed over
 * it (a crash leaves the previous version).  Texts are redacted with R (copied; may be NULL for
 * the patterns only).  */
int tars_recorder_open(const char *path, const struct tars_redactor *r, struct tars_recorder **out,
                       struct tars_error *err);
/* Add one exchange: REQ's identity and messages, and RESP (its answer, or its failure).  */
int tars_recorder_add(struct tars_recorder *rec, const struct tars_chat_request *req,
                      const struct tars_chat_response *resp, struct tars_error *err);
void tars_recorder_close(struct tars_recorder *rec);

#endif
