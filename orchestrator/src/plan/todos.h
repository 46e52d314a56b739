/* Plans from TODOs: the analyzer's findings (analyze.h) as edit steps for the coder, each with
 * its task filled in: the instructions, the file, and the findings themselves.
 *
 * TARS_TODO_GROUP_TODO (the default): one step per TODO, except that the TODOs of one function
 * are one step, and TODOs of the same marker and text at a file's top level are one step.
 * TARS_TODO_GROUP_FILE: one step per file.  Steps are independent (no dependencies); their
 * order is the findings' (by file, then line), their priority FIXME 0.8, XXX 0.6, TODO 0.5 (the
 * highest of a step's findings); each must change its file (validationRules.mustChange).  */
#ifndef TARS_TODOS_H
#define TARS_TODOS_H

#include "plan/analyze.h"
#include "plan/plan.h"

enum tars_todo_group
{
  TARS_TODO_GROUP_TODO,
  TARS_TODO_GROUP_FILE,
};

/* An analysis without findings is TARS_ERR_INVALID ("no TODO ... found"): a plan needs a
 * step.  More steps than TARS_PLAN_MAX_STEPS is TARS_ERR_INVALID too (try --group file).  */
int tars_plan_from_todos(const struct tars_analysis *a, enum tars_todo_group group,
                         struct tars_plan *plan, struct tars_error *err);

#endif
