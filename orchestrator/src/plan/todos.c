/* Plans from TODOs (see todos.h).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "plan/todos.h"
#include "tars/cleanup.h"

/* The findings of one step: indices into the analysis.  */
struct group
{
  size_t *v, n, cap;
};

static double
marker_priority(enum tars_marker m)
{
  return m == TARS_MARKER_FIXME ? 0.8 : m == TARS_MARKER_XXX ? 0.6 : 0.5;
}

/* Whether finding J goes into the group that holds finding I (same file, both given).  */
static bool
same_group(const struct tars_finding *a, const struct tars_finding *b, enum tars_todo_group g)
{
  if (g == TARS_TODO_GROUP_FILE)
    return true;
  if (a->context == TARS_CONTEXT_FUNCTION || b->context == TARS_CONTEXT_FUNCTION)
    return a->context == b->context && a->function_start == b->function_start &&
           a->function_end == b->function_end && strcmp(a->function, b->function) == 0;
  /* At a file's top level (or without context): the same TODO written twice is one task.  */
  return a->context == b->context && a->marker == b->marker && strcmp(a->text, b->text) == 0;
}

static int
group_push(struct group *g, size_t i)
{
  if (g->n == g->cap)
    {
      size_t cap = g->cap ? g->cap * 2 : 4;
      size_t *v = realloc(g->v, cap * sizeof *v);
      if (v == NULL)
        return -1;
      g->v = v;
      g->cap = cap;
    }
  g->v[g->n++] = i;
  return 0;
}

/* "todo-" and a readable name of the group: the file's name and the function, the line, or the
 * whole path; characters an id cannot hold become '-'.  */
static void
make_id(const struct tars_finding *f, enum tars_todo_group g, char out[TARS_PLAN_MAX_ID + 1])
{
  char raw[512];
  const char *base = strrchr(f->file, '/') ? strrchr(f->file, '/') + 1 : f->file;
  if (g == TARS_TODO_GROUP_FILE)
    snprintf(raw, sizeof raw, "todo-%s", f->file);
  else if (f->context == TARS_CONTEXT_FUNCTION)
    snprintf(raw, sizeof raw, "todo-%s-%s", base, f->function);
  else
    snprintf(raw, sizeof raw, "todo-%s-L%u", base, f->line);
  size_t n = 0;
  for (const char *p = raw; *p && n < TARS_PLAN_MAX_ID - 8; p++)
    {
      char c = *p;
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
      char put = ok ? c : '-';
      if (put == '-' && n > 0 && out[n - 1] == '-')
        continue;
      out[n++] = put;
    }
  while (n > 0 && out[n - 1] == '-')
    n--;
  out[n] = '\0';
}

static char *
cut(const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n <= max)
    return strdup(s);
  while (n > max || (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80))
    n--;
  return strndup(s, n);
}

static int
fill_step(struct tars_step *s, const struct tars_analysis *a, const struct group *g,
          enum tars_todo_group mode, size_t order, struct tars_plan *plan)
{
  const struct tars_finding *first = &a->findings[g->v[0]];
  char id[TARS_PLAN_MAX_ID + 1];
  make_id(first, mode, id);
  /* Unique: a suffix when two groups would share a name (make_id leaves room for it: at most
   * TARS_PLAN_MAX_ID - 8 bytes, and there are at most TARS_PLAN_MAX_STEPS groups).  */
  char unique[TARS_PLAN_MAX_ID + 16];
  snprintf(unique, sizeof unique, "%s", id);
  for (int k = 2; tars_plan_find(plan, unique) >= 0; k++)
    snprintf(unique, sizeof unique, "%s-%d", id, k);
  s->id = strdup(unique);
  s->type = TARS_STEP_EDIT;
  s->order = (int64_t)order;
  s->action = strdup("resolve-todo");

  struct tars_edit_params *e = &s->params.edit;
  e->todos = calloc(g->n, sizeof *e->todos);
  e->target_files = calloc(2, sizeof *e->target_files);
  if (s->id == NULL || s->action == NULL || e->todos == NULL || e->target_files == NULL)
    return -1;
  e->target_files[0] = strdup(first->file);
  if (e->target_files[0] == NULL)
    return -1;
  e->n_target_files = 1;

  char where[600];
  if (mode == TARS_TODO_GROUP_FILE)
    snprintf(where, sizeof where, "%s", first->file);
  else if (first->context == TARS_CONTEXT_FUNCTION)
    snprintf(where, sizeof where, "%s() in %s", first->function, first->file);
  else
    snprintf(where, sizeof where, "%s:%u", first->file, first->line);

  cleanup_free char *desc = NULL, *instr = NULL;
  size_t dl = 0, il = 0;
  FILE *d = open_memstream(&desc, &dl);
  FILE *in = open_memstream(&instr, &il);
  if (d == NULL || in == NULL)
    {
      if (d)
        fclose(d);
      if (in)
        fclose(in);
      return -1;
    }
  fprintf(in, "Resolve %s in %s:\n", g->n == 1 ? "this comment" : "these comments", where);
  for (size_t k = 0; k < g->n; k++)
    {
      const struct tars_finding *f = &a->findings[g->v[k]];
      if (tars_finding_to_todo(f, &e->todos[k]) < 0)
        {
          fclose(d);
          fclose(in);
          return -1;
        }
      e->n_todos++;
      if (marker_priority(f->marker) > s->priority)
        s->priority = marker_priority(f->marker);
      fprintf(d, "%s%s:%u:%u: %s%s%s", k ? "\n" : "", f->file, f->line, f->column,
              tars_marker_name(f->marker), *f->text ? ": " : "", f->text);
      fprintf(in, "- %s:%u: %s%s%s", f->file, f->line, tars_marker_name(f->marker),
              *f->text ? ": " : "", f->text);
      if (f->context == TARS_CONTEXT_FUNCTION)
        fprintf(in, " (in %s, lines %u-%u)", f->function, f->function_start, f->function_end);
      fputc('\n', in);
    }
  fputs("Make the change each comment asks for, then remove the comment, or reword it when only "
        "part of it is done.  Keep the rest of the code as it is.",
        in);
  if (fclose(d) != 0 || fclose(in) != 0)
    return -1;
  s->description = cut(desc, TARS_PLAN_MAX_TEXT);
  e->instructions = cut(instr, TARS_PLAN_MAX_TEXT);

  cleanup_free char *name = NULL;
  int nr = g->n == 1 ? asprintf(&name, "%s in %s%s%s", tars_marker_name(first->marker), where,
                                *first->text ? ": " : "", first->text)
                     : asprintf(&name, "%zu TODOs in %s", g->n, where);
  if (nr < 0)
    return -1;
  s->name = cut(name, TARS_PLAN_MAX_NAME);

  s->rules.must_change = calloc(2, sizeof *s->rules.must_change);
  if (s->rules.must_change == NULL || (s->rules.must_change[0] = strdup(first->file)) == NULL)
    return -1;
  s->rules.n_must_change = 1;
  return s->description && e->instructions && s->name ? 0 : -1;
}

static bool
add_meta(struct tars_plan *plan, const char *name, const char *value)
{
  struct tars_kv *kv = realloc(plan->metadata, (plan->n_metadata + 1) * sizeof *kv);
  if (kv == NULL)
    return false;
  plan->metadata = kv;
  kv[plan->n_metadata].name = strdup(name);
  kv[plan->n_metadata].value = strdup(value);
  if (!kv[plan->n_metadata].name || !kv[plan->n_metadata].value)
    {
      free(kv[plan->n_metadata].name);
      free(kv[plan->n_metadata].value);
      return false;
    }
  plan->n_metadata++;
  return true;
}

int
tars_plan_from_todos(const struct tars_analysis *a, enum tars_todo_group mode,
                     struct tars_plan *plan, struct tars_error *err)
{
  memset(plan, 0, sizeof *plan);
  if (a->n_findings == 0)
    return tars_error_invalid(err, "no TODO, FIXME or XXX comment found in %s: no plan to make",
                              a->root ? a->root : "the repository");
  /* Groups, in the order of their first finding (the findings are by file and line).  */
  struct group *groups = NULL;
  size_t n_groups = 0, cap = 0, file_first = 0;
  int r = 0;
  for (size_t i = 0; i < a->n_findings && r == 0; i++)
    {
      if (i > 0 && strcmp(a->findings[i].file, a->findings[i - 1].file) != 0)
        file_first = n_groups;
      size_t g = n_groups;
      for (size_t k = file_first; k < n_groups && g == n_groups; k++)
        if (same_group(&a->findings[groups[k].v[0]], &a->findings[i], mode))
          g = k;
      if (g == n_groups)
        {
          if (n_groups == cap)
            {
              size_t nc = cap ? cap * 2 : 16;
              struct group *v = realloc(groups, nc * sizeof *v);
              if (v == NULL)
                {
                  r = -1;
                  break;
                }
              groups = v;
              cap = nc;
            }
          memset(&groups[n_groups++], 0, sizeof *groups);
        }
      if (group_push(&groups[g], i) < 0)
        r = -1;
    }
  if (r == 0 && n_groups > TARS_PLAN_MAX_STEPS)
    {
      tars_error_invalid(err,
                         "%zu TODO steps, more than the limit of %d for a plan (--group file "
                         "makes one step per file)",
                         n_groups, TARS_PLAN_MAX_STEPS);
      r = -2;
    }
  if (r == 0 && (plan->steps = calloc(n_groups, sizeof *plan->steps)) == NULL)
    r = -1;
  for (size_t k = 0; r == 0 && k < n_groups; k++)
    {
      plan->n_steps = k + 1;
      if (fill_step(&plan->steps[k], a, &groups[k], mode, k, plan) < 0)
        r = -1;
    }
  for (size_t k = 0; k < n_groups; k++)
    free(groups[k].v);
  free(groups);

  if (r == 0)
    {
      /* The same findings, the same plan id.  */
      struct sha256_ctx ctx;
      uint8_t digest[SHA256_DIGEST_SIZE];
      sha256_init(&ctx);
      sha256_update(&ctx, 1, (const uint8_t *)(mode == TARS_TODO_GROUP_FILE ? "f" : "t"));
      for (size_t i = 0; i < a->n_findings; i++)
        {
          const struct tars_finding *f = &a->findings[i];
          char pos[32];
          int pn = snprintf(pos, sizeof pos, "\n%u:%u:%d:", f->line, f->column, (int)f->marker);
          sha256_update(&ctx, strlen(f->file), (const uint8_t *)f->file);
          sha256_update(&ctx, (size_t)pn, (const uint8_t *)pos);
          sha256_update(&ctx, strlen(f->text), (const uint8_t *)f->text);
        }
      sha256_digest(&ctx, sizeof digest, digest);
      char id[32] = "todos-";
      for (int i = 0; i < 6; i++)
        snprintf(id + 6 + 2 * i, 3, "%02x", digest[i]);
      const char *base = a->root && strrchr(a->root, '/') ? strrchr(a->root, '/') + 1 : "";
      char name[TARS_PLAN_MAX_NAME];
      snprintf(name, sizeof name, "TODOs in %s", *base ? base : "/");
      char desc[512];
      snprintf(desc, sizeof desc, "%zu TODO, FIXME and XXX comment%s found in %s, as %zu step%s",
               a->n_findings, a->n_findings == 1 ? "" : "s", a->root ? a->root : "?", plan->n_steps,
               plan->n_steps == 1 ? "" : "s");
      plan->id = strdup(id);
      plan->name = cut(name, TARS_PLAN_MAX_NAME);
      plan->description = strdup(desc);
      if (!plan->id || !plan->name || !plan->description || !add_meta(plan, "source", "todos") ||
          !add_meta(plan, "repo", a->root ? a->root : "") ||
          !add_meta(plan, "group", mode == TARS_TODO_GROUP_FILE ? "file" : "todo"))
        r = -1;
    }
  if (r == 0 && tars_plan_check(plan, "the TODO plan", NULL, err) < 0)
    r = -2;
  if (r < 0)
    {
      if (r == -1)
        tars_error_set(err, ENOMEM, "make a plan from the TODOs of %s", a->root ? a->root : "?");
      tars_plan_free(plan);
      return -1;
    }
  return 0;
}
