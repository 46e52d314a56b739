/* libFuzzer target for the plan readers (plan.h, improvement.h): the same untrusted bytes as an
 * execution plan or an improvement plan.
 *
 * Besides the sanitizers' findings it checks what plan.h promises of an accepted plan: at least
 * one step and no more than the limit, valid and unique ids, every dependency resolved to another
 * step, an order that puts each step after its dependencies, and a JSON form that reads back as
 * an equal plan; and of a refused one: TARS_ERR_INVALID, at least one problem, nothing kept.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan/improvement.h"
#include "plan/plan.h"
#include "tars/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_plan(struct tars_plan *p)
{
  if (p->n_steps == 0 || p->n_steps > TARS_PLAN_MAX_STEPS || !tars_plan_id_valid(p->id))
    abort();
  for (size_t i = 0; i < p->n_steps; i++)
    {
      const struct tars_step *s = &p->steps[i];
      if (!tars_plan_id_valid(s->id) || tars_plan_find(p, s->id) != (ssize_t)i)
        abort();
      for (size_t d = 0; d < s->n_dependencies; d++)
        if (s->deps == NULL || s->deps[d] >= p->n_steps || s->deps[d] == i ||
            strcmp(p->steps[s->deps[d]].id, s->dependencies[d]) != 0)
          abort();
    }
  size_t *order = malloc(p->n_steps * sizeof *order);
  size_t *pos = malloc(p->n_steps * sizeof *pos);
  struct tars_error err;
  if (order == NULL || pos == NULL || tars_plan_order(p, order, &err) < 0)
    abort();
  for (size_t k = 0; k < p->n_steps; k++)
    pos[order[k]] = k;
  for (size_t i = 0; i < p->n_steps; i++)
    for (size_t d = 0; d < p->steps[i].n_dependencies; d++)
      if (pos[p->steps[i].deps[d]] >= pos[i])
        abort();
  free(order);
  free(pos);
  cleanup_free char *text = tars_plan_to_string(p, false, &err);
  if (text == NULL)
    abort();
  cleanup_plan struct tars_plan q = {0};
  if (tars_plan_parse(text, strlen(text), "again", &q, NULL, &err) < 0 || !tars_plan_equal(p, &q))
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct tars_error err;
  struct tars_plan_problems problems = {0};
  struct tars_plan p;
  if (tars_plan_load((const char *)data, size, "fuzz", &p, NULL, &problems, &err) == 0)
    {
      if (problems.n != 0)
        abort();
      check_plan(&p);
      tars_plan_free(&p);
    }
  else if (err.kind != TARS_ERR_INVALID || problems.n == 0 || p.steps != NULL)
    abort();
  tars_plan_problems_free(&problems);
  return 0;
}
