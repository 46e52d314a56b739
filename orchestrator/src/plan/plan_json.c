/* A plan as JSON: every field, defaults included, so that what the store keeps and what --json
 * prints says everything the coordinator will act on, and reads back as the same plan.  */
#include <errno.h>
#include <stdlib.h>

#include "plan/plan.h"
#include "tars/cleanup.h"

/* cJSON's adders return NULL when out of memory; one flag per document keeps the code flat.  */
struct out
{
  bool failed;
};

static void
add_str(struct out *o, cJSON *obj, const char *key, const char *value)
{
  if (value && cJSON_AddStringToObject(obj, key, value) == NULL)
    o->failed = true;
}

static void
add_num(struct out *o, cJSON *obj, const char *key, double value)
{
  if (cJSON_AddNumberToObject(obj, key, value) == NULL)
    o->failed = true;
}

static void
add_strv(struct out *o, cJSON *obj, const char *key, char *const *v, size_t n)
{
  cJSON *a = cJSON_AddArrayToObject(obj, key);
  if (a == NULL)
    {
      o->failed = true;
      return;
    }
  for (size_t i = 0; i < n; i++)
    {
      cJSON *s = cJSON_CreateString(v[i]);
      if (s == NULL || !cJSON_AddItemToArray(a, s))
        {
          cJSON_Delete(s);
          o->failed = true;
        }
    }
}

static void
add_kv(struct out *o, cJSON *obj, const char *key, const struct tars_kv *kv, size_t n)
{
  cJSON *m = cJSON_AddObjectToObject(obj, key);
  if (m == NULL)
    {
      o->failed = true;
      return;
    }
  for (size_t i = 0; i < n; i++)
    add_str(o, m, kv[i].name, kv[i].value);
}

cJSON *
tars_todo_to_json(const struct tars_todo *t)
{
  struct out o = {0};
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    return NULL;
  add_str(&o, j, "file", t->file);
  add_num(&o, j, "line", t->line);
  add_num(&o, j, "column", t->column);
  add_str(&o, j, "marker", tars_marker_name(t->marker));
  add_str(&o, j, "text", t->text ? t->text : "");
  if (t->function)
    {
      cJSON *f = cJSON_AddObjectToObject(j, "function");
      if (f == NULL)
        o.failed = true;
      else
        {
          add_str(&o, f, "name", t->function);
          add_num(&o, f, "startLine", t->function_start);
          add_num(&o, f, "endLine", t->function_end);
        }
    }
  else if (cJSON_AddNullToObject(j, "function") == NULL)
    o.failed = true;
  if (o.failed)
    {
      cJSON_Delete(j);
      return NULL;
    }
  return j;
}

static void
add_params(struct out *o, cJSON *step, const struct tars_step *s)
{
  cJSON *p = cJSON_AddObjectToObject(step, "parameters");
  if (p == NULL)
    {
      o->failed = true;
      return;
    }
  switch (s->type)
    {
    case TARS_STEP_COMMAND:
      {
        const struct tars_command_params *c = &s->params.command;
        if (c->shell)
          add_str(o, p, "command", c->shell);
        else
          add_strv(o, p, "command", c->argv, c->argc);
        if (c->timeout_s)
          add_num(o, p, "timeout", c->timeout_s);
        if (c->n_env)
          add_kv(o, p, "env", c->env, c->n_env);
        break;
      }
    case TARS_STEP_EDIT:
      {
        const struct tars_edit_params *e = &s->params.edit;
        if (e->n_edits)
          {
            cJSON *a = cJSON_AddArrayToObject(p, "edits");
            if (a == NULL)
              {
                o->failed = true;
                break;
              }
            for (size_t i = 0; i < e->n_edits; i++)
              {
                cJSON *x = cJSON_CreateObject();
                if (x == NULL || !cJSON_AddItemToArray(a, x))
                  {
                    cJSON_Delete(x);
                    o->failed = true;
                    continue;
                  }
                add_str(o, x, "path", e->edits[i].path);
                add_str(o, x, "format", tars_edit_format_name(e->edits[i].format));
                add_str(o, x, "text", e->edits[i].text);
              }
            break;
          }
        add_str(o, p, "instructions", e->instructions);
        if (e->n_target_files)
          add_strv(o, p, "targetFiles", e->target_files, e->n_target_files);
        if (e->n_todos)
          {
            cJSON *a = cJSON_AddArrayToObject(p, "todos");
            if (a == NULL)
              {
                o->failed = true;
                break;
              }
            for (size_t i = 0; i < e->n_todos; i++)
              {
                cJSON *x = tars_todo_to_json(&e->todos[i]);
                if (x == NULL || !cJSON_AddItemToArray(a, x))
                  {
                    cJSON_Delete(x);
                    o->failed = true;
                  }
              }
          }
        break;
      }
    case TARS_STEP_VALIDATION:
      if (s->params.validation.validate)
        {
          cJSON *v = cJSON_Duplicate(s->params.validation.validate, true);
          if (v == NULL || !cJSON_AddItemToObject(p, "validate", v))
            {
              cJSON_Delete(v);
              o->failed = true;
            }
        }
      break;
    case TARS_STEP_APPROVAL:
      add_str(o, p, "message", s->params.approval.message);
      break;
    }
}

static void
add_rules(struct out *o, cJSON *step, const struct tars_validation_rules *r)
{
  cJSON *j = cJSON_AddObjectToObject(step, "validationRules");
  if (j == NULL)
    {
      o->failed = true;
      return;
    }
  if (r->n_required_tests)
    add_strv(o, j, "requiredTests", r->required_tests, r->n_required_tests);
  if (r->n_commands)
    add_strv(o, j, "commands", r->commands, r->n_commands);
  if (r->n_must_change)
    add_strv(o, j, "mustChange", r->must_change, r->n_must_change);
  if (r->n_must_not_change)
    add_strv(o, j, "mustNotChange", r->must_not_change, r->n_must_not_change);
  if (r->max_diff_lines)
    add_num(o, j, "maxDiffLines", (double)r->max_diff_lines);
  if (r->max_diff_files)
    add_num(o, j, "maxDiffFiles", (double)r->max_diff_files);
  if (cJSON_AddBoolToObject(j, "mayChangeTests", r->may_change_tests) == NULL)
    o->failed = true;
}

static cJSON *
step_to_json(struct out *o, const struct tars_step *s)
{
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    {
      o->failed = true;
      return NULL;
    }
  add_str(o, j, "id", s->id);
  add_str(o, j, "name", s->name);
  add_str(o, j, "description", s->description);
  add_str(o, j, "type", tars_step_type_name(s->type));
  add_num(o, j, "order", (double)s->order);
  add_num(o, j, "priority", s->priority);
  add_strv(o, j, "dependencies", s->dependencies, s->n_dependencies);
  add_str(o, j, "status", tars_step_status_name(s->status));
  add_str(o, j, "action", s->action);
  add_params(o, j, s);
  if (s->type != TARS_STEP_APPROVAL)
    add_rules(o, j, &s->rules);
  add_str(o, j, "rollbackAction", tars_rollback_action_name(s->rollback));
  if (s->n_metadata)
    add_kv(o, j, "metadata", s->metadata, s->n_metadata);
  return j;
}

cJSON *
tars_plan_to_json(const struct tars_plan *plan)
{
  struct out o = {0};
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    return NULL;
  add_str(&o, j, "id", plan->id);
  add_str(&o, j, "name", plan->name);
  add_str(&o, j, "description", plan->description);
  add_str(&o, j, "improvementId", plan->improvement_id);
  add_str(&o, j, "status", tars_plan_status_name(plan->status));
  add_kv(&o, j, "metadata", plan->metadata, plan->n_metadata);
  cJSON *steps = cJSON_AddArrayToObject(j, "steps");
  if (steps == NULL)
    o.failed = true;
  for (size_t i = 0; steps && i < plan->n_steps; i++)
    {
      cJSON *s = step_to_json(&o, &plan->steps[i]);
      if (s && !cJSON_AddItemToArray(steps, s))
        {
          cJSON_Delete(s);
          o.failed = true;
        }
    }
  if (o.failed)
    {
      cJSON_Delete(j);
      return NULL;
    }
  return j;
}

char *
tars_plan_to_string(const struct tars_plan *plan, bool pretty, struct tars_error *err)
{
  cleanup_cjson cJSON *j = tars_plan_to_json(plan);
  char *text = j == NULL ? NULL : pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
  if (text == NULL)
    tars_error_set(err, ENOMEM, "plan %s: write as JSON", plan->id ? plan->id : "?");
  return text;
}
