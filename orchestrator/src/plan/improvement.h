/* Improvement plans: the original system's list of improvements (each with an id, a name, a
 * description, a category, a priority score, the files it affects, instructions, and the
 * improvements it depends on) turned into an execution plan of one step per improvement.  An
 * improvement with a "command" becomes a command step; any other an edit step whose task (the
 * instructions, or the description, and the affected files) the coder carries out.  Each step
 * depends on the steps of the improvements its improvement depends on; its priority is the
 * improvement's priorityScore.  Validation and apply are part of every step (plan-format.md).
 *
 * tars_plan_load tells the two kinds of input apart: an object with "steps" is an execution
 * plan; an object with "improvements", or a bare array, is an improvement plan.  */
#ifndef TARS_IMPROVEMENT_H
#define TARS_IMPROVEMENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "plan/plan.h"
#include "tars/error.h"

enum tars_plan_source
{
  TARS_PLAN_SOURCE_STEPS,        /* an execution plan */
  TARS_PLAN_SOURCE_IMPROVEMENTS, /* an improvement plan, converted */
};

/* The categories of the original system (TARS's ImprovementCategory), by name.  */
extern const char *const tars_improvement_categories[];

/* Read TEXT as either kind of plan (see above) into *PLAN, checked as tars_plan_parse checks.
 * *SOURCE (may be NULL) says which it was.  */
int tars_plan_load(const char *text, size_t len, const char *where, struct tars_plan *plan,
                   enum tars_plan_source *source, struct tars_plan_problems *problems,
                   struct tars_error *err);

/* Convert the improvement plan ROOT (an array of improvements, or an object holding one under
 * "improvements").  Problems name the improvement by id (or position) and the field.  */
int tars_improvements_to_plan(const cJSON *root, const char *where, struct tars_plan *plan,
                              struct tars_plan_problems *problems, struct tars_error *err);

#endif
