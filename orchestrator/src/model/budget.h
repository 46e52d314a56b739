/* Budgets for model calls, per step and per execution: how many calls, how many prompt and
 * completion tokens, how much time waiting for the model.  The gateway keeps one ledger per
 * execution and asks it before every call.
 *
 * A call may start when, for its step and for the execution, fewer calls than the limit have
 * been made (calls in flight count), fewer tokens than the limits have been used, the prompt's
 * estimated size (bytes / 4) fits in what is left of the prompt budget, and time is left.  A call
 * that starts gets what is left as its limits: its max_tokens is at most the completion tokens
 * left, its timeout at most the time left.  What a call used is counted when it ends, so the
 * last call may go past a token budget by what the server ignored of max_tokens; the next one is
 * refused.  A limit of 0 is no limit.
 *
 * "Time" is the model's: the wall-clock duration of each call, retries and waits included,
 * summed.  The time the coder spends between calls (building, testing) is not the gateway's to
 * count.  */
#ifndef TARS_MODEL_BUDGET_H
#define TARS_MODEL_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "model/chat.h"
#include "tars/error.h"

struct tars_budget
{
  long calls;
  long prompt_tokens;
  long completion_tokens;
  long wall_ms;
};

struct tars_budget_use
{
  long calls; /* started, in flight included */
  long prompt_tokens;
  long completion_tokens;
  long wall_ms;
};

struct tars_budget_ledger;

int tars_budget_ledger_new(const struct tars_budget *per_step,
                           const struct tars_budget *per_execution, struct tars_budget_ledger **out,
                           struct tars_error *err);
void tars_budget_ledger_free(struct tars_budget_ledger *l);

/* Count what was used before this ledger existed (a restarted gateway reads it from the store).
 * STEP may be NULL: calls outside a step count for the execution only.  */
int tars_budget_preload(struct tars_budget_ledger *l, const char *step,
                        const struct tars_budget_use *used, struct tars_error *err);

/* May a call of REQ's step start now?  0 and the call counted, with *MAX_TOKENS and *TIMEOUT_MS
 * set to the limits it gets (0: none; REQ's own are taken into account); or -1,
 * TARS_ERR_REFUSED, with the budget spent named: "step todo-3: 8 of 8 calls used", "execution:
 * 120000 of 120000 completion tokens used", "step todo-3: the prompt (~5000 tokens) is more than
 * the 3000 prompt tokens left".  */
int tars_budget_admit(struct tars_budget_ledger *l, const struct tars_chat_request *req,
                      long *max_tokens, long *timeout_ms, struct tars_error *err);
/* A call admitted for STEP ended, with USAGE and DURATION_MS.  */
void tars_budget_finish(struct tars_budget_ledger *l, const char *step,
                        const struct tars_chat_usage *usage, long duration_ms);

/* What STEP and the execution have used, and their limits.  */
void tars_budget_get(const struct tars_budget_ledger *l, const char *step,
                     struct tars_budget_use *step_used, struct tars_budget_use *exec_used,
                     struct tars_budget *step_limit, struct tars_budget *exec_limit);
/* The same as JSON: {"step": {"calls": {"used": N, "limit": N|null}, "prompt_tokens": ...,
 * "completion_tokens": ..., "wall_ms": ...}, "execution": {...}}, "step" left out when STEP is
 * NULL.  */
cJSON *tars_budget_to_json(const struct tars_budget_ledger *l, const char *step);

#endif
