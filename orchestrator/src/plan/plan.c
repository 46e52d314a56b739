/* The plan model: names of the enums, freeing, equality, the checks shared by the parser and
 * the planners (ids, dependencies, cycles), and the order steps run in (see plan.h).  */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "tars/cleanup.h"

/* ----- names ----- */

static const char *const step_type_names[] = {
    [TARS_STEP_COMMAND] = "command",
    [TARS_STEP_EDIT] = "edit",
    [TARS_STEP_VALIDATION] = "validation",
    [TARS_STEP_APPROVAL] = "approval",
};
static const char *const step_status_names[] = {
    [TARS_STEP_PENDING] = "Pending",        [TARS_STEP_IN_PROGRESS] = "InProgress",
    [TARS_STEP_COMPLETED] = "Completed",    [TARS_STEP_FAILED] = "Failed",
    [TARS_STEP_SKIPPED] = "Skipped",        [TARS_STEP_CANCELLED] = "Cancelled",
    [TARS_STEP_ROLLED_BACK] = "RolledBack",
};
static const char *const plan_status_names[] = {
    [TARS_PLAN_CREATED] = "Created",        [TARS_PLAN_SCHEDULED] = "Scheduled",
    [TARS_PLAN_IN_PROGRESS] = "InProgress", [TARS_PLAN_PAUSED] = "Paused",
    [TARS_PLAN_COMPLETED] = "Completed",    [TARS_PLAN_FAILED] = "Failed",
    [TARS_PLAN_CANCELLED] = "Cancelled",
};
static const char *const rollback_names[] = {
    [TARS_ROLLBACK_REVERT] = "revert",
    [TARS_ROLLBACK_KEEP] = "keep",
};
static const char *const marker_names[] = {
    [TARS_MARKER_TODO] = "TODO",
    [TARS_MARKER_FIXME] = "FIXME",
    [TARS_MARKER_XXX] = "XXX",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *names, size_t n, unsigned v)
{
  return v < n ? names[v] : "?";
}

static int
from_name(const char *const *names, size_t n, const char *s, unsigned *out)
{
  for (size_t i = 0; s && i < n; i++)
    if (strcmp(names[i], s) == 0)
      {
        *out = (unsigned)i;
        return 0;
      }
  return -1;
}

#define NAME_FUNCS(fn_name, fn_from, enum_type, table)                                             \
  const char *fn_name(enum enum_type v)                                                            \
  {                                                                                                \
    return name_of(table, N_OF(table), (unsigned)v);                                               \
  }                                                                                                \
  int fn_from(const char *s, enum enum_type *out)                                                  \
  {                                                                                                \
    unsigned v;                                                                                    \
    if (from_name(table, N_OF(table), s, &v) < 0)                                                  \
      return -1;                                                                                   \
    *out = (enum enum_type)v;                                                                      \
    return 0;                                                                                      \
  }

NAME_FUNCS(tars_step_type_name, tars_step_type_from_name, tars_step_type, step_type_names)
NAME_FUNCS(tars_step_status_name, tars_step_status_from_name, tars_step_status, step_status_names)
NAME_FUNCS(tars_plan_status_name, tars_plan_status_from_name, tars_plan_status, plan_status_names)
NAME_FUNCS(tars_rollback_action_name, tars_rollback_action_from_name, tars_rollback_action,
           rollback_names)
NAME_FUNCS(tars_marker_name, tars_marker_from_name, tars_marker, marker_names)

/* ----- problems ----- */

void
tars_plan_problems_free(struct tars_plan_problems *p)
{
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n; i++)
    free(p->v[i]);
  free(p->v);
  p->v = NULL;
  p->n = p->dropped = 0;
}

void
tars_plan_problem(struct tars_plan_problems *p, const char *fmt, ...)
{
  if (p->n >= TARS_PLAN_MAX_PROBLEMS)
    {
      p->dropped++;
      return;
    }
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&msg, fmt, ap);
  va_end(ap);
  char **v = r < 0 ? NULL : realloc(p->v, (p->n + 1) * sizeof *v);
  if (v == NULL)
    {
      /* Out of memory: the problem is still counted, so the plan is still refused.  */
      free(r < 0 ? NULL : msg);
      p->dropped++;
      return;
    }
  p->v = v;
  p->v[p->n++] = msg;
}

int
tars_plan_problems_fail(const struct tars_plan_problems *p, struct tars_error *err)
{
  size_t total = p->n + p->dropped;
  if (total == 0)
    return 0;
  if (p->n == 0)
    return tars_error_invalid(err, "%zu problems (out of memory while describing them)", total);
  if (total == 1)
    return tars_error_invalid(err, "%s", p->v[0]);
  return tars_error_invalid(err, "%s (and %zu more)", p->v[0], total - 1);
}

int
tars_plan_problems_fail_since(const struct tars_plan_problems *p, size_t before_n,
                              size_t before_total, struct tars_error *err)
{
  size_t total = p->n + p->dropped;
  if (total <= before_total)
    return 0;
  size_t added = total - before_total;
  if (p->n <= before_n)
    return tars_error_invalid(err, "%zu problems (too many to describe)", added);
  if (added == 1)
    return tars_error_invalid(err, "%s", p->v[before_n]);
  return tars_error_invalid(err, "%s (and %zu more)", p->v[before_n], added - 1);
}

/* ----- freeing ----- */

static void
strv_free(char **v)
{
  if (v == NULL)
    return;
  for (char **s = v; *s; s++)
    free(*s);
  free(v);
}

static void
kv_free(struct tars_kv *kv, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free(kv[i].name);
      free(kv[i].value);
    }
  free(kv);
}

static void
todos_free(struct tars_todo *t, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free(t[i].file);
      free(t[i].text);
      free(t[i].function);
    }
  free(t);
}

static void
step_free(struct tars_step *s)
{
  free(s->id);
  free(s->name);
  free(s->description);
  strv_free(s->dependencies);
  free(s->deps);
  free(s->action);
  switch (s->type)
    {
    case TARS_STEP_COMMAND:
      free(s->params.command.shell);
      strv_free(s->params.command.argv);
      kv_free(s->params.command.env, s->params.command.n_env);
      break;
    case TARS_STEP_EDIT:
      for (size_t i = 0; i < s->params.edit.n_edits; i++)
        {
          free(s->params.edit.edits[i].path);
          free(s->params.edit.edits[i].text);
        }
      free(s->params.edit.edits);
      free(s->params.edit.instructions);
      strv_free(s->params.edit.target_files);
      todos_free(s->params.edit.todos, s->params.edit.n_todos);
      break;
    case TARS_STEP_VALIDATION:
      cJSON_Delete(s->params.validation.validate);
      break;
    case TARS_STEP_APPROVAL:
      free(s->params.approval.message);
      break;
    }
  strv_free(s->rules.required_tests);
  strv_free(s->rules.commands);
  strv_free(s->rules.must_change);
  strv_free(s->rules.must_not_change);
  kv_free(s->metadata, s->n_metadata);
  memset(s, 0, sizeof *s);
}

void
tars_plan_free(struct tars_plan *plan)
{
  if (plan == NULL)
    return;
  free(plan->id);
  free(plan->name);
  free(plan->description);
  free(plan->improvement_id);
  for (size_t i = 0; i < plan->n_steps; i++)
    step_free(&plan->steps[i]);
  free(plan->steps);
  kv_free(plan->metadata, plan->n_metadata);
  memset(plan, 0, sizeof *plan);
}

/* ----- equality ----- */

static bool
str_eq(const char *a, const char *b)
{
  return a == b || (a && b && strcmp(a, b) == 0);
}

static bool
strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
  if (na != nb)
    return false;
  for (size_t i = 0; i < na; i++)
    if (!str_eq(a[i], b[i]))
      return false;
  return true;
}

static bool
kv_eq(const struct tars_kv *a, size_t na, const struct tars_kv *b, size_t nb)
{
  if (na != nb)
    return false;
  for (size_t i = 0; i < na; i++)
    if (!str_eq(a[i].name, b[i].name) || !str_eq(a[i].value, b[i].value))
      return false;
  return true;
}

static bool
todo_eq(const struct tars_todo *a, const struct tars_todo *b)
{
  return str_eq(a->file, b->file) && a->line == b->line && a->column == b->column &&
         a->marker == b->marker && str_eq(a->text, b->text) && str_eq(a->function, b->function) &&
         a->function_start == b->function_start && a->function_end == b->function_end;
}

static bool
params_eq(const struct tars_step *a, const struct tars_step *b)
{
  switch (a->type)
    {
    case TARS_STEP_COMMAND:
      {
        const struct tars_command_params *x = &a->params.command, *y = &b->params.command;
        return str_eq(x->shell, y->shell) && strv_eq(x->argv, x->argc, y->argv, y->argc) &&
               x->timeout_s == y->timeout_s && kv_eq(x->env, x->n_env, y->env, y->n_env);
      }
    case TARS_STEP_EDIT:
      {
        const struct tars_edit_params *x = &a->params.edit, *y = &b->params.edit;
        if (x->n_edits != y->n_edits || x->n_todos != y->n_todos ||
            !str_eq(x->instructions, y->instructions) ||
            !strv_eq(x->target_files, x->n_target_files, y->target_files, y->n_target_files))
          return false;
        for (size_t i = 0; i < x->n_edits; i++)
          if (!str_eq(x->edits[i].path, y->edits[i].path) ||
              x->edits[i].format != y->edits[i].format ||
              !str_eq(x->edits[i].text, y->edits[i].text))
            return false;
        for (size_t i = 0; i < x->n_todos; i++)
          if (!todo_eq(&x->todos[i], &y->todos[i]))
            return false;
        return true;
      }
    case TARS_STEP_VALIDATION:
      {
        const cJSON *x = a->params.validation.validate, *y = b->params.validation.validate;
        return x == y || (x && y && cJSON_Compare(x, y, true));
      }
    case TARS_STEP_APPROVAL:
      return str_eq(a->params.approval.message, b->params.approval.message);
    }
  return false;
}

static bool
rules_eq(const struct tars_validation_rules *a, const struct tars_validation_rules *b)
{
  return strv_eq(a->required_tests, a->n_required_tests, b->required_tests, b->n_required_tests) &&
         strv_eq(a->commands, a->n_commands, b->commands, b->n_commands) &&
         strv_eq(a->must_change, a->n_must_change, b->must_change, b->n_must_change) &&
         strv_eq(a->must_not_change, a->n_must_not_change, b->must_not_change,
                 b->n_must_not_change) &&
         a->max_diff_lines == b->max_diff_lines && a->max_diff_files == b->max_diff_files &&
         a->may_change_tests == b->may_change_tests;
}

static bool
step_eq(const struct tars_step *a, const struct tars_step *b)
{
  if (!str_eq(a->id, b->id) || !str_eq(a->name, b->name) ||
      !str_eq(a->description, b->description) || a->type != b->type || a->order != b->order ||
      a->priority != b->priority || a->status != b->status || !str_eq(a->action, b->action) ||
      a->rollback != b->rollback ||
      !strv_eq(a->dependencies, a->n_dependencies, b->dependencies, b->n_dependencies) ||
      !kv_eq(a->metadata, a->n_metadata, b->metadata, b->n_metadata))
    return false;
  for (size_t i = 0; i < a->n_dependencies; i++)
    if ((a->deps == NULL) != (b->deps == NULL) || (a->deps && a->deps[i] != b->deps[i]))
      return false;
  return params_eq(a, b) && rules_eq(&a->rules, &b->rules);
}

bool
tars_plan_equal(const struct tars_plan *a, const struct tars_plan *b)
{
  if (!str_eq(a->id, b->id) || !str_eq(a->name, b->name) ||
      !str_eq(a->description, b->description) || !str_eq(a->improvement_id, b->improvement_id) ||
      a->status != b->status || a->n_steps != b->n_steps ||
      !kv_eq(a->metadata, a->n_metadata, b->metadata, b->n_metadata))
    return false;
  for (size_t i = 0; i < a->n_steps; i++)
    if (!step_eq(&a->steps[i], &b->steps[i]))
      return false;
  return true;
}

/* ----- checks ----- */

bool
tars_plan_id_valid(const char *id)
{
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n > TARS_PLAN_MAX_ID)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char)id[i];
      bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
        return false;
    }
  return true;
}

bool
tars_plan_path_valid(const char *path)
{
  if (path == NULL || *path == '\0' || *path == '/')
    return false;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '\\')
      return false;
  for (const char *p = path;;)
    {
      const char *slash = strchr(p, '/');
      size_t n = slash ? (size_t)(slash - p) : strlen(p);
      if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') ||
          (n == 4 && strncmp(p, ".git", 4) == 0) || (n == 5 && strncmp(p, ".tars", 5) == 0))
        return false;
      if (slash == NULL)
        return true;
      p = slash + 1;
    }
}

ssize_t
tars_plan_find(const struct tars_plan *plan, const char *id)
{
  for (size_t i = 0; i < plan->n_steps; i++)
    if (plan->steps[i].id && strcmp(plan->steps[i].id, id) == 0)
      return (ssize_t)i;
  return -1;
}

/* Steps by id, for plans of thousands of steps: indices sorted by id.  */
static int
cmp_ids(const void *a, const void *b, void *arg)
{
  const struct tars_plan *plan = arg;
  return strcmp(plan->steps[*(const size_t *)a].id, plan->steps[*(const size_t *)b].id);
}

static ssize_t
find_sorted(const struct tars_plan *plan, const size_t *by_id, const char *id)
{
  size_t lo = 0, hi = plan->n_steps;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int c = strcmp(plan->steps[by_id[mid]].id, id);
      if (c == 0)
        return (ssize_t)by_id[mid];
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return -1;
}

/* How a step is named in messages: by id when it has a usable one, else by position.  */
static void
step_label(const struct tars_plan *plan, const char *noun, size_t i, char *buf, size_t size)
{
  const char *id = plan->steps[i].id;
  if (tars_plan_id_valid(id))
    snprintf(buf, size, "%s \"%s\"", noun, id);
  else
    snprintf(buf, size, "%s #%zu", noun, i + 1);
}

/* Tarjan's strongly connected components, without recursion (plans have thousands of steps).
 * Every component with more than one step, or a step depending on itself, is a cycle.  */
struct scc
{
  const struct tars_plan *plan;
  size_t *index, *low, *stack, *comp;
  bool *on_stack;
  size_t next_index, sp, n_comp;
};

#define UNVISITED ((size_t)-1)

static void
report_cycle(const struct tars_plan *plan, const char *noun, const size_t *comp, size_t members_of,
             struct tars_plan_problems *problems)
{
  /* The cycle through the component's first step (in plan order): breadth-first along
   * dependencies inside the component back to it.  */
  size_t n = plan->n_steps, start = SIZE_MAX;
  for (size_t i = 0; i < n && start == SIZE_MAX; i++)
    if (comp[i] == members_of)
      start = i;
  cleanup_free size_t *prev = malloc(n * sizeof *prev);
  cleanup_free size_t *queue = malloc(n * sizeof *queue);
  char label[128];
  step_label(plan, noun, start, label, sizeof label);
  if (prev == NULL || queue == NULL)
    {
      tars_plan_problem(problems, "%s: dependencies: part of a cycle", label);
      return;
    }
  for (size_t i = 0; i < n; i++)
    prev[i] = UNVISITED;
  size_t head = 0, tail = 0, last = UNVISITED;
  queue[tail++] = start;
  while (head < tail && last == UNVISITED)
    {
      size_t s = queue[head++];
      const struct tars_step *st = &plan->steps[s];
      for (size_t d = 0; d < st->n_dependencies; d++)
        {
          size_t t = st->deps[d];
          if (comp[t] != members_of)
            continue;
          if (t == start)
            {
              last = s;
              break;
            }
          if (prev[t] == UNVISITED)
            {
              prev[t] = s;
              queue[tail++] = t;
            }
        }
    }
  /* The path start -> ... -> last -> start, walked back from LAST.  */
  size_t len = 0;
  for (size_t s = last; s != start && s != UNVISITED; s = prev[s])
    queue[len++] = s;
  char text[768];
  size_t off = (size_t)snprintf(text, sizeof text, "%s", plan->steps[start].id);
  for (size_t k = len; k-- > 0 && off < sizeof text;)
    off += (size_t)snprintf(text + off, sizeof text - off, " -> %s", plan->steps[queue[k]].id);
  if (off < sizeof text)
    snprintf(text + off, sizeof text - off, " -> %s", plan->steps[start].id);
  if (len == 0 && last == start)
    tars_plan_problem(problems, "%s: dependencies: the step depends on itself", label);
  else
    tars_plan_problem(problems, "%s: dependencies: cycle %s", label, text);
}

static void
find_cycles(const struct tars_plan *plan, const char *noun, struct tars_plan_problems *problems)
{
  size_t n = plan->n_steps;
  struct scc s = {.plan = plan};
  s.index = malloc(n * sizeof *s.index);
  s.low = malloc(n * sizeof *s.low);
  s.stack = malloc(n * sizeof *s.stack);
  s.comp = malloc(n * sizeof *s.comp);
  s.on_stack = calloc(n, sizeof *s.on_stack);
  /* The DFS's own stack: (step, next dependency to look at).  */
  size_t *call = malloc(n * sizeof *call), *edge = malloc(n * sizeof *edge);
  if (!s.index || !s.low || !s.stack || !s.comp || !s.on_stack || !call || !edge)
    {
      tars_plan_problem(problems, "steps: out of memory while looking for cycles");
      goto out;
    }
  for (size_t i = 0; i < n; i++)
    s.index[i] = s.comp[i] = UNVISITED;
  for (size_t root = 0; root < n; root++)
    {
      if (s.index[root] != UNVISITED)
        continue;
      size_t depth = 0;
      call[depth] = root;
      edge[depth] = 0;
      s.index[root] = s.low[root] = s.next_index++;
      s.stack[s.sp++] = root;
      s.on_stack[root] = true;
      while (true)
        {
          size_t v = call[depth];
          const struct tars_step *st = &plan->steps[v];
          if (edge[depth] < st->n_dependencies)
            {
              size_t w = st->deps[edge[depth]++];
              if (s.index[w] == UNVISITED)
                {
                  s.index[w] = s.low[w] = s.next_index++;
                  s.stack[s.sp++] = w;
                  s.on_stack[w] = true;
                  call[++depth] = w;
                  edge[depth] = 0;
                }
              else if (s.on_stack[w] && s.index[w] < s.low[v])
                s.low[v] = s.index[w];
              continue;
            }
          if (s.low[v] == s.index[v])
            {
              size_t members = 0, w;
              do
                {
                  w = s.stack[--s.sp];
                  s.on_stack[w] = false;
                  s.comp[w] = s.n_comp;
                  members++;
                }
              while (w != v);
              bool self = false;
              for (size_t d = 0; d < st->n_dependencies; d++)
                self |= st->deps[d] == v;
              if (members > 1 || self)
                report_cycle(plan, noun, s.comp, s.n_comp, problems);
              s.n_comp++;
            }
          if (depth == 0)
            break;
          depth--;
          size_t parent = call[depth];
          if (s.low[v] < s.low[parent])
            s.low[parent] = s.low[v];
        }
    }
out:
  free(s.index);
  free(s.low);
  free(s.stack);
  free(s.comp);
  free(s.on_stack);
  free(call);
  free(edge);
}

int
tars_plan_check(struct tars_plan *plan, const char *where, struct tars_plan_problems *problems,
                struct tars_error *err)
{
  return tars_plan_check_as(plan, where, "step", problems, err);
}

int
tars_plan_check_as(struct tars_plan *plan, const char *where, const char *noun,
                   struct tars_plan_problems *problems, struct tars_error *err)
{
  struct tars_plan_problems own = {0};
  struct tars_plan_problems *p = problems ? problems : &own;
  size_t before = p->n + p->dropped, before_n = p->n;
  const char *w = where ? where : "plan";
  char label[128];
  cleanup_free size_t *by_id = NULL;

  if (plan->n_steps == 0)
    tars_plan_problem(p, "%s: steps: the plan has no step", w);
  if (plan->n_steps > TARS_PLAN_MAX_STEPS)
    tars_plan_problem(p, "%s: steps: %zu steps, more than the limit of %d", w, plan->n_steps,
                      TARS_PLAN_MAX_STEPS);
  if (plan->id != NULL && !tars_plan_id_valid(plan->id))
    tars_plan_problem(p,
                      "%s: id: not a valid id (1 to %d characters of A-Z a-z 0-9 . _ -, "
                      "starting with a letter or digit)",
                      w, TARS_PLAN_MAX_ID);
  bool ids_ok = true;
  for (size_t i = 0; i < plan->n_steps; i++)
    if (!tars_plan_id_valid(plan->steps[i].id))
      {
        ids_ok = false;
        tars_plan_problem(p,
                          "%s: %s #%zu: id: %s (1 to %d characters of A-Z a-z 0-9 . _ -, "
                          "starting with a letter or digit)",
                          w, noun, i + 1, plan->steps[i].id ? "not a valid id" : "missing",
                          TARS_PLAN_MAX_ID);
      }
  if (!ids_ok || plan->n_steps == 0 || plan->n_steps > TARS_PLAN_MAX_STEPS)
    goto done;

  by_id = malloc(plan->n_steps * sizeof *by_id);
  if (by_id == NULL)
    {
      tars_plan_problems_free(&own);
      return tars_error_set(err, ENOMEM, "%s: check the steps", w);
    }
  for (size_t i = 0; i < plan->n_steps; i++)
    by_id[i] = i;
  qsort_r(by_id, plan->n_steps, sizeof *by_id, cmp_ids, plan);
  bool unique = true;
  for (size_t i = 1; i < plan->n_steps; i++)
    {
      size_t a = by_id[i - 1], b = by_id[i];
      if (strcmp(plan->steps[a].id, plan->steps[b].id) == 0)
        {
          unique = false;
          tars_plan_problem(p, "%s: %s #%zu: id: \"%s\" is already the id of %s #%zu", w, noun,
                            (a > b ? a : b) + 1, plan->steps[b].id, noun, (a < b ? a : b) + 1);
        }
    }
  if (!unique)
    goto done;

  bool deps_ok = true;
  for (size_t i = 0; i < plan->n_steps; i++)
    {
      struct tars_step *st = &plan->steps[i];
      step_label(plan, noun, i, label, sizeof label);
      free(st->deps);
      st->deps = NULL;
      if (st->n_dependencies == 0)
        continue;
      if (st->n_dependencies > TARS_PLAN_MAX_DEPENDENCIES)
        {
          tars_plan_problem(p, "%s: %s: dependencies: %zu entries, more than the limit of %d", w,
                            label, st->n_dependencies, TARS_PLAN_MAX_DEPENDENCIES);
          deps_ok = false;
          continue;
        }
      st->deps = malloc(st->n_dependencies * sizeof *st->deps);
      if (st->deps == NULL)
        {
          tars_plan_problems_free(&own);
          return tars_error_set(err, ENOMEM, "%s: check the dependencies", w);
        }
      for (size_t d = 0; d < st->n_dependencies; d++)
        {
          const char *dep = st->dependencies[d];
          ssize_t k = tars_plan_id_valid(dep) ? find_sorted(plan, by_id, dep) : -1;
          st->deps[d] = k < 0 ? 0 : (size_t)k;
          if (k < 0)
            {
              deps_ok = false;
              tars_plan_problem(p, "%s: %s: dependencies[%zu]: no step has the id \"%s\"", w, label,
                                d, dep);
              continue;
            }
          for (size_t e = 0; e < d; e++)
            if (strcmp(st->dependencies[e], dep) == 0)
              {
                deps_ok = false;
                tars_plan_problem(p, "%s: %s: dependencies[%zu]: \"%s\" is listed twice", w, label,
                                  d, dep);
                break;
              }
        }
    }
  if (deps_ok)
    {
      struct tars_plan_problems cycles = {0};
      find_cycles(plan, noun, &cycles);
      for (size_t i = 0; i < cycles.n; i++)
        tars_plan_problem(p, "%s: %s", w, cycles.v[i]);
      p->dropped += cycles.dropped;
      tars_plan_problems_free(&cycles);
    }
  else
    for (size_t i = 0; i < plan->n_steps; i++)
      {
        /* Unresolved: no index must be believed.  */
        free(plan->steps[i].deps);
        plan->steps[i].deps = NULL;
      }

done:;
  int r = tars_plan_problems_fail_since(p, before_n, before, err);
  tars_plan_problems_free(&own);
  return r;
}

/* ----- order ----- */

int
tars_step_cmp(const struct tars_step *a, const struct tars_step *b)
{
  if (a->priority != b->priority)
    return a->priority > b->priority ? -1 : 1;
  if (a->order != b->order)
    return a->order < b->order ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/* A binary heap of ready step indices, smallest by tars_step_cmp on top.  */
struct heap
{
  const struct tars_step *steps;
  size_t *v, n;
};

static bool
heap_less(const struct heap *h, size_t i, size_t j)
{
  return tars_step_cmp(&h->steps[h->v[i]], &h->steps[h->v[j]]) < 0;
}

static void
heap_swap(struct heap *h, size_t i, size_t j)
{
  size_t t = h->v[i];
  h->v[i] = h->v[j];
  h->v[j] = t;
}

static void
heap_push(struct heap *h, size_t step)
{
  size_t i = h->n++;
  h->v[i] = step;
  while (i > 0 && heap_less(h, i, (i - 1) / 2))
    {
      heap_swap(h, i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
}

static size_t
heap_pop(struct heap *h)
{
  size_t top = h->v[0];
  h->v[0] = h->v[--h->n];
  for (size_t i = 0;;)
    {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < h->n && heap_less(h, l, m))
        m = l;
      if (r < h->n && heap_less(h, r, m))
        m = r;
      if (m == i)
        break;
      heap_swap(h, i, m);
      i = m;
    }
  return top;
}

int
tars_plan_order(const struct tars_plan *plan, size_t *out, struct tars_error *err)
{
  size_t n = plan->n_steps;
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (plan->steps[i].n_dependencies > 0 && plan->steps[i].deps == NULL)
      return tars_error_invalid(err, "plan order: step \"%s\" has unresolved dependencies",
                                plan->steps[i].id);
  /* Dependents of each step, as one array of edges counted first (CSR).  */
  cleanup_free size_t *waiting = calloc(n, sizeof *waiting);
  cleanup_free size_t *first = calloc(n + 1, sizeof *first);
  cleanup_free size_t *heapv = malloc(n * sizeof *heapv);
  size_t n_edges = 0;
  for (size_t i = 0; i < n; i++)
    n_edges += plan->steps[i].n_dependencies;
  cleanup_free size_t *dependents = malloc((n_edges ? n_edges : 1) * sizeof *dependents);
  if (!waiting || !first || !heapv || !dependents)
    return tars_error_set(err, ENOMEM, "plan order");
  for (size_t i = 0; i < n; i++)
    for (size_t d = 0; d < plan->steps[i].n_dependencies; d++)
      first[plan->steps[i].deps[d] + 1]++;
  for (size_t i = 0; i < n; i++)
    first[i + 1] += first[i];
  cleanup_free size_t *fill = malloc(n * sizeof *fill);
  if (fill == NULL)
    return tars_error_set(err, ENOMEM, "plan order");
  memcpy(fill, first, n * sizeof *fill);
  for (size_t i = 0; i < n; i++)
    {
      waiting[i] = plan->steps[i].n_dependencies;
      for (size_t d = 0; d < plan->steps[i].n_dependencies; d++)
        dependents[fill[plan->steps[i].deps[d]]++] = i;
    }

  struct heap h = {.steps = plan->steps, .v = heapv};
  for (size_t i = 0; i < n; i++)
    if (waiting[i] == 0)
      heap_push(&h, i);
  size_t k = 0;
  while (h.n > 0)
    {
      size_t s = heap_pop(&h);
      out[k++] = s;
      for (size_t e = first[s]; e < first[s + 1]; e++)
        if (--waiting[dependents[e]] == 0)
          heap_push(&h, dependents[e]);
    }
  if (k != n)
    return tars_error_invalid(err, "plan order: the steps' dependencies form a cycle");
  return 0;
}
