/* Improvement plans into execution plans (see improvement.h).  */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/fields.h"
#include "plan/improvement.h"
#include "tars/cleanup.h"

const char *const tars_improvement_categories[] = {
    "Performance",   "Security",    "Maintainability", "Reliability",          "Usability",
    "Functionality", "Scalability", "Testability",     "Documentation",        "CodeQuality",
    "Architecture",  "Design",      "Accessibility",   "Internationalization", "Localization",
    "Compatibility", "Portability", "Extensibility",   "Reusability",          "Modularity",
    "Other",         NULL,
};

static const char *const improvement_keys[] = {
    "id",
    "name",
    "description",
    "category",
    "priorityScore",
    "affectedFiles",
    "instructions",
    "dependencies",
    "command",
    "timeout",
    "env",
    "validationRules",
    "metadata",
    /* The original system's fields that say nothing a step needs (the scores it combined into
     * priorityScore, its own bookkeeping): accepted so that its exports load, and not used.  */
    "impact",
    "effort",
    "risk",
    "impactScore",
    "effortScore",
    "riskScore",
    "alignmentScore",
    "createdAt",
    "updatedAt",
    "prioritizedAt",
    "status",
    "metascriptId",
    "patternMatchId",
    "dependents",
    "strategicGoals",
    "tags",
    NULL,
};

static bool
path_ok(const char *s)
{
  return tars_plan_path_valid(s);
}

static bool
push_kv(struct tars_kv **kv, size_t *n, const char *name, const char *value)
{
  struct tars_kv *v = realloc(*kv, (*n + 1) * sizeof *v);
  if (v == NULL)
    return false;
  *kv = v;
  v[*n].name = strdup(name);
  v[*n].value = strdup(value);
  if (v[*n].name == NULL || v[*n].value == NULL)
    {
      free(v[*n].name);
      free(v[*n].value);
      return false;
    }
  (*n)++;
  return true;
}

static char *
join_lines(char *const *v, size_t n)
{
  size_t len = 1;
  for (size_t i = 0; i < n; i++)
    len += strlen(v[i]) + 1;
  char *s = malloc(len), *p = s;
  if (s == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "%s%s", i ? "\n" : "", v[i]);
  *p = '\0';
  return s;
}

static void
read_improvement(struct tars_plan_reader *ps, const cJSON *v, size_t index, struct tars_step *s)
{
  snprintf(ps->label, sizeof ps->label, "improvement #%zu", index + 1);
  s->order = (int64_t)index;
  s->type = TARS_STEP_APPROVAL; /* an empty union until the type is known */
  if (!cJSON_IsObject(v))
    {
      tars_reader_problem(ps, "improvement", "expected an object, got %s", tars_json_type(v));
      return;
    }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
  if (id == NULL)
    tars_reader_problem(ps, "id", "missing");
  else if (tars_reader_string(ps, id, "id", TARS_PLAN_MAX_ID * 4, TARS_STR_LINE, &s->id) &&
           !tars_plan_id_valid(s->id))
    {
      tars_reader_problem(ps, "id",
                          "\"%s\" is not a valid id (1 to %d characters of A-Z a-z 0-9 . _ -, "
                          "starting with a letter or digit)",
                          s->id, TARS_PLAN_MAX_ID);
      free(s->id);
      s->id = NULL;
    }
  if (s->id)
    snprintf(ps->label, sizeof ps->label, "improvement \"%s\"", s->id);
  tars_reader_check_keys(ps, v, "", improvement_keys);

  tars_reader_optional_string(ps, v, "name", "name", TARS_PLAN_MAX_NAME, TARS_STR_LINE, &s->name);
  if (s->name == NULL && s->id)
    s->name = strdup(s->id);
  tars_reader_optional_string(ps, v, "description", "description", TARS_PLAN_MAX_TEXT,
                              TARS_STR_TEXT | TARS_STR_EMPTY, &s->description);

  const cJSON *x;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "metadata")))
    tars_reader_kv(ps, x, "metadata", false, &s->metadata, &s->n_metadata);
  const char *category = "Other";
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "category")) && !cJSON_IsNull(x))
    {
      const char *const *c = tars_improvement_categories;
      while (*c && !(cJSON_IsString(x) && strcmp(*c, x->valuestring) == 0))
        c++;
      if (*c)
        category = *c;
      else
        tars_reader_problem(ps, "category",
                            "not a category (Performance, Security, Maintainability, "
                            "Reliability, Usability, Functionality, Scalability, Testability, "
                            "Documentation, CodeQuality, Architecture, Design, Accessibility, "
                            "Internationalization, Localization, Compatibility, Portability, "
                            "Extensibility, Reusability, Modularity, Other)");
    }
  for (size_t i = 0; i < s->n_metadata; i++)
    if (strcmp(s->metadata[i].name, "category") == 0 ||
        strcmp(s->metadata[i].name, "affectedFiles") == 0)
      tars_reader_problem(ps, "metadata", "\"%s\" is set from the improvement's own field",
                          s->metadata[i].name);
  if (!push_kv(&s->metadata, &s->n_metadata, "category", category))
    tars_reader_problem(ps, "category", "out of memory");
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "priorityScore")))
    {
      if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < 0 ||
          x->valuedouble > 1)
        tars_reader_problem(ps, "priorityScore", "expected a number from 0 to 1");
      else
        s->priority = x->valuedouble;
    }
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "dependencies")))
    tars_reader_strv(ps, x, "dependencies", TARS_PLAN_MAX_DEPENDENCIES, TARS_PLAN_MAX_ID * 4,
                     TARS_STR_LINE, NULL, NULL, &s->dependencies, &s->n_dependencies);

  char **files = NULL;
  size_t n_files = 0;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "affectedFiles")))
    tars_reader_strv(ps, x, "affectedFiles", TARS_PLAN_MAX_LIST, TARS_PLAN_MAX_TEXT, TARS_STR_LINE,
                     path_ok,
                     "is not a clean relative path beneath the repository (no \"..\", \".\", "
                     "empty, absolute, .git or .tars component)",
                     &files, &n_files);

  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(v, "command");
  const cJSON *instr = cJSON_GetObjectItemCaseSensitive(v, "instructions");
  if (cmd)
    {
      s->type = TARS_STEP_COMMAND;
      memset(&s->params, 0, sizeof s->params);
      if (instr)
        tars_reader_problem(ps, "instructions",
                            "an improvement is either a command or instructions for the coder, "
                            "not both");
      tars_reader_command(ps, v, "", &s->params.command);
      /* A command names no files to give the coder; the list is kept with the step.  */
      if (n_files)
        {
          cleanup_free char *joined = join_lines(files, n_files);
          if (joined == NULL || !push_kv(&s->metadata, &s->n_metadata, "affectedFiles", joined))
            tars_reader_problem(ps, "affectedFiles", "out of memory");
        }
      for (size_t i = 0; i < n_files; i++)
        free(files[i]);
      free(files);
    }
  else
    {
      s->type = TARS_STEP_EDIT;
      memset(&s->params, 0, sizeof s->params);
      if (cJSON_GetObjectItemCaseSensitive(v, "timeout") ||
          cJSON_GetObjectItemCaseSensitive(v, "env"))
        tars_reader_problem(ps, cJSON_GetObjectItemCaseSensitive(v, "timeout") ? "timeout" : "env",
                            "belongs to a \"command\", and the improvement has none");
      struct tars_edit_params *e = &s->params.edit;
      e->target_files = files;
      e->n_target_files = n_files;
      if (instr)
        tars_reader_string(ps, instr, "instructions", TARS_PLAN_MAX_TEXT, TARS_STR_TEXT,
                           &e->instructions);
      else if (s->description && s->description[0])
        e->instructions = strdup(s->description);
      else
        tars_reader_problem(ps, "instructions",
                            "missing: an improvement needs \"instructions\" (or a description) "
                            "for the coder, or a \"command\"");
    }
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "validationRules")) && !cJSON_IsNull(x))
    tars_reader_rules(ps, x, s->type, &s->rules);
}

int
tars_improvements_to_plan(const cJSON *root, const char *where, struct tars_plan *plan,
                          struct tars_plan_problems *problems, struct tars_error *err)
{
  static const char *const container_keys[] = {"id",           "name",     "description",
                                               "improvements", "metadata", NULL};
  struct tars_plan_problems own = {0};
  struct tars_plan_reader ps = {.where = where ? where : "improvements",
                                .p = problems ? problems : &own};
  size_t before = ps.p->n + ps.p->dropped, before_n = ps.p->n;
  memset(plan, 0, sizeof *plan);

  const cJSON *list = root;
  if (cJSON_IsObject(root))
    {
      tars_reader_check_keys(&ps, root, "", container_keys);
      list = cJSON_GetObjectItemCaseSensitive(root, "improvements");
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
      if (id && tars_reader_string(&ps, id, "id", TARS_PLAN_MAX_ID * 4, TARS_STR_LINE, &plan->id) &&
          !tars_plan_id_valid(plan->id))
        tars_reader_problem(&ps, "id", "\"%s\" is not a valid id", plan->id);
      tars_reader_optional_string(&ps, root, "name", "name", TARS_PLAN_MAX_NAME, TARS_STR_LINE,
                                  &plan->name);
      tars_reader_optional_string(&ps, root, "description", "description", TARS_PLAN_MAX_TEXT,
                                  TARS_STR_TEXT | TARS_STR_EMPTY, &plan->description);
      const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metadata");
      if (m)
        tars_reader_kv(&ps, m, "metadata", false, &plan->metadata, &plan->n_metadata);
    }
  if (!cJSON_IsArray(list))
    {
      tars_reader_problem(&ps, "improvements", "expected an array of improvements, got %s",
                          list ? tars_json_type(list) : "nothing");
      goto out;
    }
  size_t n = (size_t)cJSON_GetArraySize(list);
  if (n == 0)
    {
      tars_reader_problem(&ps, "improvements", "the plan has no improvement");
      goto out;
    }
  if (n > TARS_PLAN_MAX_STEPS)
    {
      tars_reader_problem(&ps, "improvements", "%zu improvements, more than the limit of %d", n,
                          TARS_PLAN_MAX_STEPS);
      goto out;
    }
  plan->steps = calloc(n, sizeof *plan->steps);
  if (plan->steps == NULL)
    {
      tars_plan_problems_free(&own);
      return tars_error_set(err, ENOMEM, "%s: read the improvements", ps.where);
    }
  plan->n_steps = n;
  size_t i = 0;
  for (const cJSON *c = list->child; c; c = c->next, i++)
    read_improvement(&ps, c, i, &plan->steps[i]);
  ps.label[0] = '\0';

  if (plan->id == NULL && (plan->id = tars_reader_derived_id(root, "plan-")) == NULL)
    tars_reader_problem(&ps, "id", "out of memory");
  if (plan->name == NULL && plan->id)
    plan->name = strdup(n == 1 && plan->steps[0].name ? plan->steps[0].name : plan->id);
  if (n == 1 && plan->steps[0].id)
    plan->improvement_id = strdup(plan->steps[0].id);
  for (size_t k = 0; k < plan->n_metadata; k++)
    if (strcmp(plan->metadata[k].name, "source") == 0)
      tars_reader_problem(&ps, "metadata.source", "is set by tars (\"improvements\")");
  if (!push_kv(&plan->metadata, &plan->n_metadata, "source", "improvements"))
    tars_reader_problem(&ps, "metadata", "out of memory");

  if (ps.p->n + ps.p->dropped == before)
    tars_plan_check_as(plan, ps.where, "improvement", ps.p, NULL);

out:;
  int r = tars_plan_problems_fail_since(ps.p, before_n, before, err);
  if (r < 0)
    tars_plan_free(plan);
  tars_plan_problems_free(&own);
  return r;
}

int
tars_plan_load(const char *text, size_t len, const char *where, struct tars_plan *plan,
               enum tars_plan_source *source, struct tars_plan_problems *problems,
               struct tars_error *err)
{
  memset(plan, 0, sizeof *plan);
  cleanup_cjson cJSON *root = NULL;
  if (tars_plan_json_load(text, len, where ? where : "plan", &root, err) < 0)
    {
      if (problems)
        tars_plan_problem(problems, "%s", err->msg);
      return -1;
    }
  bool improvements =
      cJSON_IsArray(root) ||
      (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "improvements") &&
       !cJSON_GetObjectItemCaseSensitive(root, "steps"));
  if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "improvements") &&
      cJSON_GetObjectItemCaseSensitive(root, "steps"))
    {
      tars_error_invalid(err,
                         "%s: both \"steps\" and \"improvements\": a file is an execution plan "
                         "or an improvement plan, not both",
                         where ? where : "plan");
      if (problems)
        tars_plan_problem(problems, "%s", err->msg);
      return -1;
    }
  if (source)
    *source = improvements ? TARS_PLAN_SOURCE_IMPROVEMENTS : TARS_PLAN_SOURCE_STEPS;
  if (improvements)
    return tars_improvements_to_plan(root, where, plan, problems, err);
  return tars_plan_from_json(root, where, plan, problems, err);
}
