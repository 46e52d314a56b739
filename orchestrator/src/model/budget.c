/* Budget ledgers for model calls (see budget.h).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/budget.h"
#include "tars/cleanup.h"

struct step_use
{
  char *step;
  struct tars_budget_use used;
};

struct tars_budget_ledger
{
  struct tars_budget per_step, per_exec;
  struct tars_budget_use exec;
  struct step_use *steps;
  size_t n_steps;
};

int
tars_budget_ledger_new(const struct tars_budget *per_step, const struct tars_budget *per_execution,
                       struct tars_budget_ledger **out, struct tars_error *err)
{
  struct tars_budget_ledger *l = calloc(1, sizeof *l);
  if (l == NULL)
    return tars_error_set(err, ENOMEM, "create a budget");
  if (per_step)
    l->per_step = *per_step;
  if (per_execution)
    l->per_exec = *per_execution;
  *out = l;
  return 0;
}

void
tars_budget_ledger_free(struct tars_budget_ledger *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n_steps; i++)
    free(l->steps[i].step);
  free(l->steps);
  free(l);
}

static struct step_use *
find_step(const struct tars_budget_ledger *l, const char *step)
{
  for (size_t i = 0; step && i < l->n_steps; i++)
    if (strcmp(l->steps[i].step, step) == 0)
      return &l->steps[i];
  return NULL;
}

static struct step_use *
get_step(struct tars_budget_ledger *l, const char *step)
{
  struct step_use *s = find_step(l, step);
  if (s || step == NULL)
    return s;
  struct step_use *v = realloc(l->steps, (l->n_steps + 1) * sizeof *v);
  if (v == NULL)
    return NULL;
  l->steps = v;
  s = &v[l->n_steps];
  memset(s, 0, sizeof *s);
  if ((s->step = strdup(step)) == NULL)
    return NULL;
  l->n_steps++;
  return s;
}

static void
add_use(struct tars_budget_use *to, const struct tars_budget_use *u)
{
  to->calls += u->calls;
  to->prompt_tokens += u->prompt_tokens;
  to->completion_tokens += u->completion_tokens;
  to->wall_ms += u->wall_ms;
}

int
tars_budget_preload(struct tars_budget_ledger *l, const char *step,
                    const struct tars_budget_use *used, struct tars_error *err)
{
  if (step)
    {
      struct step_use *s = get_step(l, step);
      if (s == NULL)
        return tars_error_set(err, ENOMEM, "budget");
      add_use(&s->used, used);
    }
  add_use(&l->exec, used);
  return 0;
}

/* Refuse when USED has reached LIMIT on one count.  WHO: "step X" or "execution".  */
static int
check_spent(const char *who, const struct tars_budget_use *used, const struct tars_budget *limit,
            struct tars_error *err)
{
  if (limit->calls > 0 && used->calls >= limit->calls)
    return tars_error_refused(err, "%s: %ld of %ld calls used", who, used->calls, limit->calls);
  if (limit->prompt_tokens > 0 && used->prompt_tokens >= limit->prompt_tokens)
    return tars_error_refused(err, "%s: %ld of %ld prompt tokens used", who, used->prompt_tokens,
                              limit->prompt_tokens);
  if (limit->completion_tokens > 0 && used->completion_tokens >= limit->completion_tokens)
    return tars_error_refused(err, "%s: %ld of %ld completion tokens used", who,
                              used->completion_tokens, limit->completion_tokens);
  if (limit->wall_ms > 0 && used->wall_ms >= limit->wall_ms)
    return tars_error_refused(err, "%s: %.1f of %.1f s of model time used", who,
                              used->wall_ms / 1000.0, limit->wall_ms / 1000.0);
  return 0;
}

static int
check_prompt(const char *who, long prompt, const struct tars_budget_use *used,
             const struct tars_budget *limit, struct tars_error *err)
{
  if (limit->prompt_tokens > 0 && used->prompt_tokens + prompt > limit->prompt_tokens)
    return tars_error_refused(err,
                              "%s: the prompt (~%ld tokens) is more than the %ld prompt "
                              "tokens left",
                              who, prompt, limit->prompt_tokens - used->prompt_tokens);
  return 0;
}

/* The smaller of A and B, where 0 means none.  */
static long
min_limit(long a, long b)
{
  if (a <= 0)
    return b;
  if (b <= 0)
    return a;
  return a < b ? a : b;
}

int
tars_budget_admit(struct tars_budget_ledger *l, const struct tars_chat_request *req,
                  long *max_tokens, long *timeout_ms, struct tars_error *err)
{
  const char *step = req->step_id;
  char who[TARS_CHAT_MAX_ID + 8];
  snprintf(who, sizeof who, "step %s", step ? step : "");
  struct step_use *s = step ? get_step(l, step) : NULL;
  if (step && s == NULL)
    return tars_error_set(err, ENOMEM, "budget");
  long prompt = tars_chat_estimate_tokens(tars_chat_request_bytes(req));
  if ((s && check_spent(who, &s->used, &l->per_step, err) < 0) ||
      check_spent("execution", &l->exec, &l->per_exec, err) < 0 ||
      (s && check_prompt(who, prompt, &s->used, &l->per_step, err) < 0) ||
      check_prompt("execution", prompt, &l->exec, &l->per_exec, err) < 0)
    return -1;

  long tokens = req->max_tokens, time = req->timeout_ms;
  if (s && l->per_step.completion_tokens > 0)
    tokens = min_limit(tokens, l->per_step.completion_tokens - s->used.completion_tokens);
  if (l->per_exec.completion_tokens > 0)
    tokens = min_limit(tokens, l->per_exec.completion_tokens - l->exec.completion_tokens);
  if (s && l->per_step.wall_ms > 0)
    time = min_limit(time, l->per_step.wall_ms - s->used.wall_ms);
  if (l->per_exec.wall_ms > 0)
    time = min_limit(time, l->per_exec.wall_ms - l->exec.wall_ms);
  *max_tokens = tokens;
  *timeout_ms = time;
  if (s)
    s->used.calls++;
  l->exec.calls++;
  return 0;
}

void
tars_budget_finish(struct tars_budget_ledger *l, const char *step,
                   const struct tars_chat_usage *usage, long duration_ms)
{
  struct tars_budget_use u = {0, usage ? usage->prompt_tokens : 0,
                              usage ? usage->completion_tokens : 0, duration_ms};
  struct step_use *s = find_step(l, step);
  if (s)
    add_use(&s->used, &u);
  add_use(&l->exec, &u);
}

void
tars_budget_get(const struct tars_budget_ledger *l, const char *step,
                struct tars_budget_use *step_used, struct tars_budget_use *exec_used,
                struct tars_budget *step_limit, struct tars_budget *exec_limit)
{
  const struct step_use *s = find_step(l, step);
  if (step_used)
    {
      memset(step_used, 0, sizeof *step_used);
      if (s)
        *step_used = s->used;
    }
  if (exec_used)
    *exec_used = l->exec;
  if (step_limit)
    *step_limit = l->per_step;
  if (exec_limit)
    *exec_limit = l->per_exec;
}

static bool
add_count(cJSON *o, const char *name, long used, long limit)
{
  cJSON *c = cJSON_AddObjectToObject(o, name);
  return c && cJSON_AddNumberToObject(c, "used", (double)used) &&
         (limit > 0 ? cJSON_AddNumberToObject(c, "limit", (double)limit)
                    : cJSON_AddNullToObject(c, "limit")) != NULL;
}

static bool
add_budget(cJSON *o, const char *name, const struct tars_budget_use *u, const struct tars_budget *b)
{
  cJSON *c = cJSON_AddObjectToObject(o, name);
  return c && add_count(c, "calls", u->calls, b->calls) &&
         add_count(c, "prompt_tokens", u->prompt_tokens, b->prompt_tokens) &&
         add_count(c, "completion_tokens", u->completion_tokens, b->completion_tokens) &&
         add_count(c, "wall_ms", u->wall_ms, b->wall_ms);
}

cJSON *
tars_budget_to_json(const struct tars_budget_ledger *l, const char *step)
{
  cleanup_cjson cJSON *o = cJSON_CreateObject();
  struct tars_budget_use su, eu;
  struct tars_budget sl, el;
  tars_budget_get(l, step, &su, &eu, &sl, &el);
  if (o == NULL || (step && !add_budget(o, "step", &su, &sl)) ||
      !add_budget(o, "execution", &eu, &el))
    return NULL;
  return steal_pointer(&o);
}
