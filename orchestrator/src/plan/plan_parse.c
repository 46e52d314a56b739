/* Reading an execution plan: the bytes (size, UTF-8, NUL, the number of JSON values) before
 * cJSON sees them, then every field of the plan and its steps against docs/plan-format.md.
 * Problems are collected rather than stopping at the first, so that a person fixing a plan sees
 * them all; each names the step (by id, or by position when the id is unusable) and the
 * field.  */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/fields.h"
#include "plan/plan.h"
#include "plan/utf8.h"
#include "tars/cleanup.h"
#include "validate/vconfig.h"

/* ----- the bytes ----- */

int
tars_plan_read_fd(int fd, const char *where, char **text, size_t *len, struct tars_error *err)
{
  struct stat st;
  *text = NULL;
  *len = 0;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "%s: stat", where);
  if (S_ISDIR(st.st_mode))
    return tars_error_invalid(err, "%s: is a directory, not a plan file", where);
  if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > TARS_PLAN_MAX_BYTES)
    return tars_error_invalid(err, "%s: %llu bytes, more than the limit of %u bytes for a plan",
                              where, (unsigned long long)st.st_size, TARS_PLAN_MAX_BYTES);
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
  cleanup_free char *buf = malloc(cap + 1);
  if (buf == NULL)
    return tars_error_set(err, ENOMEM, "%s: read", where);
  for (;;)
    {
      if (n == cap)
        {
          if (cap > TARS_PLAN_MAX_BYTES)
            return tars_error_invalid(err, "%s: more than the limit of %u bytes for a plan", where,
                                      TARS_PLAN_MAX_BYTES);
          size_t bigger =
              cap * 2 > (size_t)TARS_PLAN_MAX_BYTES + 1 ? (size_t)TARS_PLAN_MAX_BYTES + 1 : cap * 2;
          char *b = realloc(buf, bigger + 1);
          if (b == NULL)
            return tars_error_set(err, ENOMEM, "%s: read", where);
          buf = b;
          cap = bigger;
        }
      ssize_t r = read(fd, buf + n, cap - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "%s: read", where);
      if (r == 0)
        break;
      n += (size_t)r;
      if (n > TARS_PLAN_MAX_BYTES)
        return tars_error_invalid(err, "%s: more than the limit of %u bytes for a plan", where,
                                  TARS_PLAN_MAX_BYTES);
    }
  buf[n] = '\0';
  *text = steal_pointer(&buf);
  *len = n;
  return 0;
}

/* Line and column (1-based, in bytes) of OFFSET in TEXT.  */
static void
line_col(const char *text, size_t offset, size_t *line, size_t *col)
{
  size_t l = 1, c = 1;
  for (size_t i = 0; i < offset; i++)
    if (text[i] == '\n')
      l++, c = 1;
    else
      c++;
  *line = l;
  *col = c;
}

int
tars_plan_json_load(const char *text, size_t len, const char *where, cJSON **root,
                    struct tars_error *err)
{
  size_t line, col;
  *root = NULL;
  if (len > TARS_PLAN_MAX_BYTES)
    return tars_error_invalid(err, "%s: %zu bytes, more than the limit of %u bytes for a plan",
                              where, len, TARS_PLAN_MAX_BYTES);
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
    return tars_error_invalid(err,
                              "%s: starts with a UTF-8 byte order mark, which JSON does not "
                              "allow; save it without one",
                              where);
  size_t bad = tars_utf8_invalid_at(text, len);
  if (bad < len)
    {
      line_col(text, bad, &line, &col);
      return tars_error_invalid(err,
                                "%s: not valid UTF-8 at byte offset %zu (line %zu, column %zu): "
                                "byte 0x%02x",
                                where, bad, line, col, (unsigned char)text[bad]);
    }
  /* cJSON would stop at a NUL byte, or decode \u0000 into a string it then cuts short: both
   * would lose what follows without saying so.  Values are counted to bound its memory.  */
  size_t values = 1;
  bool in_string = false;
  for (size_t i = 0; i < len; i++)
    {
      char c = text[i];
      if (c == '\0')
        {
          line_col(text, i, &line, &col);
          return tars_error_invalid(err, "%s: NUL byte at offset %zu (line %zu, column %zu)", where,
                                    i, line, col);
        }
      if (in_string)
        {
          if (c == '\\' && i + 1 < len)
            {
              if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
                {
                  line_col(text, i, &line, &col);
                  return tars_error_invalid(err,
                                            "%s: \\u0000 at byte offset %zu (line %zu, column "
                                            "%zu): a plan's strings cannot hold NUL",
                                            where, i, line, col);
                }
              i++;
            }
          else if (c == '"')
            in_string = false;
          continue;
        }
      if (c == '"')
        in_string = true;
      else if (c == ',' || c == '[' || c == '{')
        values++;
    }
  if (values > TARS_PLAN_MAX_VALUES)
    return tars_error_invalid(err, "%s: more than %d JSON values, the limit for a plan", where,
                              TARS_PLAN_MAX_VALUES);
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
  if (j == NULL)
    {
      size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
      line_col(text, at, &line, &col);
      return tars_error_invalid(err, "%s: not valid JSON at byte offset %zu (line %zu, column %zu)",
                                where, at, line, col);
    }
  /* Anything but whitespace after the value is an error too.  */
  for (const char *p = end; p && p < text + len; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      {
        size_t at = (size_t)(p - text);
        line_col(text, at, &line, &col);
        cJSON_Delete(j);
        return tars_error_invalid(err,
                                  "%s: text after the JSON value at byte offset %zu (line %zu, "
                                  "column %zu)",
                                  where, at, line, col);
      }
  *root = j;
  return 0;
}

/* ----- step parameters ----- */

static bool
path_valid_cb(const char *s)
{
  return tars_plan_path_valid(s);
}

static const char path_why[] = "is not a clean relative path beneath the repository (no \"..\", "
                               "\".\", empty, absolute, .git or .tars component)";

static void
parse_todo(struct tars_plan_reader *ps, const cJSON *v, const char *field, struct tars_todo *t)
{
  static const char *const known[] = {"file", "line", "column", "marker", "text", "function", NULL};
  char name[256];
  if (!cJSON_IsObject(v))
    {
      tars_reader_problem(ps, field, "expected an object, got %s", tars_json_type(v));
      return;
    }
  tars_reader_check_keys(ps, v, field, known);
  snprintf(name, sizeof name, "%s.file", field);
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "file");
  if (f == NULL)
    tars_reader_problem(ps, name, "missing");
  else if (tars_reader_string(ps, f, name, TARS_PLAN_MAX_TEXT, TARS_STR_LINE, &t->file) &&
           !tars_plan_path_valid(t->file))
    tars_reader_problem(ps, name, "\"%s\" %s", t->file, path_why);
  int64_t n;
  snprintf(name, sizeof name, "%s.line", field);
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(v, "line");
  if (l == NULL)
    tars_reader_problem(ps, name, "missing");
  else if (tars_reader_int(ps, l, name, 1, INT32_MAX, &n))
    t->line = (uint32_t)n;
  snprintf(name, sizeof name, "%s.column", field);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "column");
  if (c == NULL)
    tars_reader_problem(ps, name, "missing");
  else if (tars_reader_int(ps, c, name, 1, INT32_MAX, &n))
    t->column = (uint32_t)n;
  snprintf(name, sizeof name, "%s.marker", field);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "marker");
  if (m == NULL)
    tars_reader_problem(ps, name, "missing");
  else if (!cJSON_IsString(m) || tars_marker_from_name(m->valuestring, &t->marker) < 0)
    tars_reader_problem(ps, name, "expected \"TODO\", \"FIXME\" or \"XXX\"");
  snprintf(name, sizeof name, "%s.text", field);
  const cJSON *tx = cJSON_GetObjectItemCaseSensitive(v, "text");
  if (tx == NULL)
    tars_reader_problem(ps, name, "missing");
  else
    tars_reader_string(ps, tx, name, TARS_PLAN_MAX_TEXT, TARS_STR_LINE | TARS_STR_EMPTY, &t->text);
  snprintf(name, sizeof name, "%s.function", field);
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(v, "function");
  if (fn == NULL || cJSON_IsNull(fn))
    return;
  if (!cJSON_IsObject(fn))
    {
      tars_reader_problem(ps, name, "expected an object or null, got %s", tars_json_type(fn));
      return;
    }
  static const char *const fn_known[] = {"name", "startLine", "endLine", NULL};
  tars_reader_check_keys(ps, fn, name, fn_known);
  char sub[300];
  snprintf(sub, sizeof sub, "%s.name", name);
  const cJSON *fname = cJSON_GetObjectItemCaseSensitive(fn, "name");
  if (fname == NULL)
    tars_reader_problem(ps, sub, "missing");
  else
    tars_reader_string(ps, fname, sub, TARS_PLAN_MAX_NAME, TARS_STR_LINE, &t->function);
  snprintf(sub, sizeof sub, "%s.startLine", name);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(fn, "startLine");
  if (s == NULL)
    tars_reader_problem(ps, sub, "missing");
  else if (tars_reader_int(ps, s, sub, 1, INT32_MAX, &n))
    t->function_start = (uint32_t)n;
  snprintf(sub, sizeof sub, "%s.endLine", name);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(fn, "endLine");
  if (e == NULL)
    tars_reader_problem(ps, sub, "missing");
  else if (tars_reader_int(ps, e, sub, 1, INT32_MAX, &n))
    t->function_end = (uint32_t)n;
  if (t->function_start && t->function_end && t->function_end < t->function_start)
    tars_reader_problem(ps, name, "endLine %u is before startLine %u", t->function_end,
                        t->function_start);
  else if (t->function_start && t->line &&
           (t->line < t->function_start || (t->function_end && t->line > t->function_end)))
    tars_reader_problem(ps, name, "line %u is not within lines %u-%u", t->line, t->function_start,
                        t->function_end);
}

static void
parse_edit(struct tars_plan_reader *ps, const cJSON *params, struct tars_edit_params *e)
{
  static const char *const known[] = {"edits", "instructions", "targetFiles", "todos", NULL};
  if (params == NULL)
    {
      tars_reader_problem(ps, "parameters",
                          "an edit step needs parameters with \"edits\" or \"instructions\"");
      return;
    }
  tars_reader_check_keys(ps, params, "parameters", known);
  const cJSON *edits = cJSON_GetObjectItemCaseSensitive(params, "edits");
  const cJSON *instr = cJSON_GetObjectItemCaseSensitive(params, "instructions");
  const cJSON *targets = cJSON_GetObjectItemCaseSensitive(params, "targetFiles");
  const cJSON *todos = cJSON_GetObjectItemCaseSensitive(params, "todos");
  if (edits && instr)
    {
      tars_reader_problem(ps, "parameters",
                          "give either \"edits\" or \"instructions\" (a task for the "
                          "coder), not both");
      return;
    }
  if (!edits && !instr)
    {
      tars_reader_problem(ps, "parameters", "an edit step needs \"edits\" or \"instructions\"");
      return;
    }
  if (edits)
    {
      if (targets || todos)
        tars_reader_problem(ps, targets ? "parameters.targetFiles" : "parameters.todos",
                            "belongs to a task (\"instructions\"), not to given edits");
      if (!cJSON_IsArray(edits))
        {
          tars_reader_problem(ps, "parameters.edits", "expected an array of edits, got %s",
                              tars_json_type(edits));
          return;
        }
      size_t n = (size_t)cJSON_GetArraySize(edits);
      if (n == 0)
        {
          tars_reader_problem(ps, "parameters.edits", "is empty");
          return;
        }
      if (n > TARS_PLAN_MAX_EDITS)
        {
          tars_reader_problem(ps, "parameters.edits", "%zu edits, more than the limit of %d", n,
                              TARS_PLAN_MAX_EDITS);
          return;
        }
      e->edits = calloc(n, sizeof *e->edits);
      if (e->edits == NULL)
        {
          tars_reader_problem(ps, "parameters.edits", "out of memory");
          return;
        }
      e->n_edits = n;
      size_t i = 0;
      for (const cJSON *c = edits->child; c; c = c->next, i++)
        {
          static const char *const edit_known[] = {"path", "format", "text", NULL};
          char field[64], sub[96];
          snprintf(field, sizeof field, "parameters.edits[%zu]", i);
          if (!cJSON_IsObject(c))
            {
              tars_reader_problem(ps, field, "expected an object, got %s", tars_json_type(c));
              continue;
            }
          tars_reader_check_keys(ps, c, field, edit_known);
          snprintf(sub, sizeof sub, "%s.path", field);
          const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "path");
          if (p == NULL)
            tars_reader_problem(ps, sub, "missing");
          else if (tars_reader_string(ps, p, sub, TARS_PLAN_MAX_TEXT, TARS_STR_LINE,
                                      &e->edits[i].path) &&
                   !tars_plan_path_valid(e->edits[i].path))
            tars_reader_problem(ps, sub, "\"%s\" %s", e->edits[i].path, path_why);
          snprintf(sub, sizeof sub, "%s.format", field);
          const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "format");
          if (f == NULL)
            tars_reader_problem(ps, sub,
                                "missing (\"search-replace\", \"unified-diff\" or \"whole-file\")");
          else if (!cJSON_IsString(f) ||
                   tars_edit_format_parse(f->valuestring, &e->edits[i].format, NULL) < 0)
            tars_reader_problem(ps, sub,
                                "%s%s%s is not a format (\"search-replace\", \"unified-diff\" or "
                                "\"whole-file\")",
                                cJSON_IsString(f) ? "\"" : "",
                                cJSON_IsString(f) ? f->valuestring : tars_json_type(f),
                                cJSON_IsString(f) ? "\"" : "");
          snprintf(sub, sizeof sub, "%s.text", field);
          const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
          if (t == NULL)
            tars_reader_problem(ps, sub, "missing");
          else
            tars_reader_string(ps, t, sub, TARS_PLAN_MAX_EDIT_TEXT, TARS_STR_TEXT | TARS_STR_EMPTY,
                               &e->edits[i].text);
        }
      return;
    }
  tars_reader_string(ps, instr, "parameters.instructions", TARS_PLAN_MAX_TEXT, TARS_STR_TEXT,
                     &e->instructions);
  if (targets)
    tars_reader_strv(ps, targets, "parameters.targetFiles", TARS_PLAN_MAX_LIST, TARS_PLAN_MAX_TEXT,
                     TARS_STR_LINE, path_valid_cb, path_why, &e->target_files, &e->n_target_files);
  if (todos)
    {
      if (!cJSON_IsArray(todos))
        {
          tars_reader_problem(ps, "parameters.todos", "expected an array, got %s",
                              tars_json_type(todos));
          return;
        }
      size_t n = (size_t)cJSON_GetArraySize(todos);
      if (n > TARS_PLAN_MAX_LIST)
        {
          tars_reader_problem(ps, "parameters.todos", "%zu entries, more than the limit of %d", n,
                              TARS_PLAN_MAX_LIST);
          return;
        }
      e->todos = calloc(n ? n : 1, sizeof *e->todos);
      if (e->todos == NULL)
        {
          tars_reader_problem(ps, "parameters.todos", "out of memory");
          return;
        }
      e->n_todos = n;
      size_t i = 0;
      for (const cJSON *c = todos->child; c; c = c->next, i++)
        {
          char field[64];
          snprintf(field, sizeof field, "parameters.todos[%zu]", i);
          parse_todo(ps, c, field, &e->todos[i]);
        }
    }
}

static void
parse_validation(struct tars_plan_reader *ps, const cJSON *params, struct tars_validation_params *v)
{
  static const char *const known[] = {"validate", NULL};
  if (params == NULL)
    return;
  tars_reader_check_keys(ps, params, "parameters", known);
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(params, "validate");
  if (val == NULL)
    return;
  if (!cJSON_IsObject(val))
    {
      tars_reader_problem(ps, "parameters.validate",
                          "expected an object (as .tars/config.json's "
                          "\"validate\"), got %s",
                          tars_json_type(val));
      return;
    }
  /* The validator's own reader decides the shape: merged into defaults, then thrown away.  */
  struct tars_vconfig c;
  struct tars_error err = {0};
  tars_vconfig_default(&c);
  if (tars_vconfig_merge(&c, val, "parameters.validate", &err) < 0)
    tars_reader_problem(ps, "parameters.validate", "%s", err.msg);
  tars_vconfig_free(&c);
  v->validate = cJSON_Duplicate(val, true);
  if (v->validate == NULL)
    tars_reader_problem(ps, "parameters.validate", "out of memory");
}

static void
parse_approval(struct tars_plan_reader *ps, const cJSON *params, struct tars_approval_params *a)
{
  static const char *const known[] = {"message", NULL};
  if (params == NULL)
    return;
  tars_reader_check_keys(ps, params, "parameters", known);
  tars_reader_optional_string(ps, params, "message", "parameters.message", TARS_PLAN_MAX_TEXT,
                              TARS_STR_TEXT, &a->message);
}

/* ----- steps and the plan ----- */

static void
parse_step(struct tars_plan_reader *ps, const cJSON *v, size_t index, struct tars_step *s)
{
  static const char *const known[] = {"id",       "name",       "description",     "type",
                                      "order",    "priority",   "dependencies",    "status",
                                      "action",   "parameters", "validationRules", "rollbackAction",
                                      "metadata", NULL};
  snprintf(ps->label, sizeof ps->label, "step #%zu", index + 1);
  s->order = (int64_t)index;
  if (!cJSON_IsObject(v))
    {
      tars_reader_problem(ps, "step", "expected an object, got %s", tars_json_type(v));
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
    snprintf(ps->label, sizeof ps->label, "step \"%s\"", s->id);
  tars_reader_check_keys(ps, v, "", known);

  const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
  bool typed = false;
  if (type == NULL)
    tars_reader_problem(ps, "type",
                        "missing (\"command\", \"edit\", \"validation\" or \"approval\")");
  else if (!cJSON_IsString(type) || tars_step_type_from_name(type->valuestring, &s->type) < 0)
    tars_reader_problem(ps, "type",
                        "%s%s%s is not a step type (\"command\", \"edit\", \"validation\" or "
                        "\"approval\")",
                        cJSON_IsString(type) ? "\"" : "",
                        cJSON_IsString(type) ? type->valuestring : tars_json_type(type),
                        cJSON_IsString(type) ? "\"" : "");
  else
    typed = true;

  tars_reader_optional_string(ps, v, "name", "name", TARS_PLAN_MAX_NAME, TARS_STR_LINE, &s->name);
  if (s->name == NULL && s->id)
    s->name = strdup(s->id);
  tars_reader_optional_string(ps, v, "description", "description", TARS_PLAN_MAX_TEXT,
                              TARS_STR_TEXT | TARS_STR_EMPTY, &s->description);
  tars_reader_optional_string(ps, v, "action", "action", TARS_PLAN_MAX_NAME, TARS_STR_LINE,
                              &s->action);

  const cJSON *x;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "order")))
    tars_reader_int(ps, x, "order", -2147483647.0, 2147483647.0, &s->order);
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "priority")))
    {
      if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < 0 ||
          x->valuedouble > 1)
        tars_reader_problem(ps, "priority", "expected a number from 0 to 1 (higher runs first)");
      else
        s->priority = x->valuedouble;
    }
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "dependencies")))
    {
      if (cJSON_IsArray(x) && (size_t)cJSON_GetArraySize(x) > TARS_PLAN_MAX_DEPENDENCIES)
        tars_reader_problem(ps, "dependencies", "%d entries, more than the limit of %d",
                            cJSON_GetArraySize(x), TARS_PLAN_MAX_DEPENDENCIES);
      else
        tars_reader_strv(ps, x, "dependencies", TARS_PLAN_MAX_DEPENDENCIES, TARS_PLAN_MAX_ID * 4,
                         TARS_STR_LINE, NULL, NULL, &s->dependencies, &s->n_dependencies);
    }
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "status")) &&
      (!cJSON_IsString(x) || tars_step_status_from_name(x->valuestring, &s->status) < 0))
    tars_reader_problem(ps, "status",
                        "not a step status (Pending, InProgress, Completed, Failed, Skipped, "
                        "Cancelled, RolledBack)");
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "rollbackAction")) &&
      (!cJSON_IsString(x) || tars_rollback_action_from_name(x->valuestring, &s->rollback) < 0))
    tars_reader_problem(ps, "rollbackAction", "expected \"revert\" or \"keep\"");
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "metadata")))
    tars_reader_kv(ps, x, "metadata", false, &s->metadata, &s->n_metadata);

  if (!typed)
    {
      /* Parameters mean nothing without a type: nothing is kept, the union stays empty.  */
      s->type = TARS_STEP_APPROVAL;
      return;
    }
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(v, "parameters");
  if (params && cJSON_IsNull(params))
    params = NULL;
  if (params && !cJSON_IsObject(params))
    {
      tars_reader_problem(ps, "parameters", "expected an object, got %s", tars_json_type(params));
      params = NULL;
    }
  else
    switch (s->type)
      {
      case TARS_STEP_COMMAND:
        if (params == NULL)
          tars_reader_problem(ps, "parameters", "a command step needs parameters with \"command\"");
        else
          {
            static const char *const known[] = {"command", "timeout", "env", NULL};
            tars_reader_check_keys(ps, params, "parameters", known);
            tars_reader_command(ps, params, "parameters", &s->params.command);
          }
        break;
      case TARS_STEP_EDIT:
        parse_edit(ps, params, &s->params.edit);
        break;
      case TARS_STEP_VALIDATION:
        parse_validation(ps, params, &s->params.validation);
        break;
      case TARS_STEP_APPROVAL:
        parse_approval(ps, params, &s->params.approval);
        break;
      }
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "validationRules")) && !cJSON_IsNull(x))
    tars_reader_rules(ps, x, s->type, &s->rules);
}

int
tars_plan_from_json(const cJSON *root, const char *where, struct tars_plan *plan,
                    struct tars_plan_problems *problems, struct tars_error *err)
{
  static const char *const known[] = {"id",    "name",   "description", "improvementId",
                                      "steps", "status", "metadata",    NULL};
  struct tars_plan_problems own = {0};
  struct tars_plan_reader ps = {.where = where ? where : "plan", .p = problems ? problems : &own};
  size_t before = ps.p->n + ps.p->dropped, before_n = ps.p->n;
  memset(plan, 0, sizeof *plan);

  if (!cJSON_IsObject(root))
    {
      tars_reader_problem(&ps, "plan", "expected a JSON object with \"steps\", got %s",
                          tars_json_type(root));
      goto out;
    }
  tars_reader_check_keys(&ps, root, "", known);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
  if (id && !cJSON_IsNull(id))
    {
      if (tars_reader_string(&ps, id, "id", TARS_PLAN_MAX_ID * 4, TARS_STR_LINE, &plan->id) &&
          !tars_plan_id_valid(plan->id))
        tars_reader_problem(&ps, "id",
                            "\"%s\" is not a valid id (1 to %d characters of A-Z a-z 0-9 . _ -, "
                            "starting with a letter or digit)",
                            plan->id, TARS_PLAN_MAX_ID);
    }
  else if ((plan->id = tars_reader_derived_id(root, "plan-")) == NULL)
    tars_reader_problem(&ps, "id", "out of memory");
  tars_reader_optional_string(&ps, root, "name", "name", TARS_PLAN_MAX_NAME, TARS_STR_LINE,
                              &plan->name);
  if (plan->name == NULL && plan->id)
    plan->name = strdup(plan->id);
  tars_reader_optional_string(&ps, root, "description", "description", TARS_PLAN_MAX_TEXT,
                              TARS_STR_TEXT | TARS_STR_EMPTY, &plan->description);
  tars_reader_optional_string(&ps, root, "improvementId", "improvementId", TARS_PLAN_MAX_NAME,
                              TARS_STR_LINE, &plan->improvement_id);
  const cJSON *x;
  if ((x = cJSON_GetObjectItemCaseSensitive(root, "status")) &&
      (!cJSON_IsString(x) || tars_plan_status_from_name(x->valuestring, &plan->status) < 0))
    tars_reader_problem(&ps, "status",
                        "not a plan status (Created, Scheduled, InProgress, Paused, Completed, "
                        "Failed, Cancelled)");
  if ((x = cJSON_GetObjectItemCaseSensitive(root, "metadata")))
    tars_reader_kv(&ps, x, "metadata", false, &plan->metadata, &plan->n_metadata);

  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
  if (steps == NULL)
    {
      tars_reader_problem(&ps, "steps", "missing: a plan needs at least one step");
      goto out;
    }
  if (!cJSON_IsArray(steps))
    {
      tars_reader_problem(&ps, "steps", "expected an array of steps, got %s",
                          tars_json_type(steps));
      goto out;
    }
  size_t n = (size_t)cJSON_GetArraySize(steps);
  if (n == 0)
    {
      tars_reader_problem(&ps, "steps", "the plan has no step");
      goto out;
    }
  if (n > TARS_PLAN_MAX_STEPS)
    {
      tars_reader_problem(&ps, "steps", "%zu steps, more than the limit of %d", n,
                          TARS_PLAN_MAX_STEPS);
      goto out;
    }
  plan->steps = calloc(n, sizeof *plan->steps);
  if (plan->steps == NULL)
    {
      tars_plan_problems_free(&own);
      return tars_error_set(err, ENOMEM, "%s: read the steps", ps.where);
    }
  plan->n_steps = n;
  size_t i = 0;
  for (const cJSON *c = steps->child; c; c = c->next, i++)
    parse_step(&ps, c, i, &plan->steps[i]);
  ps.label[0] = '\0';
  /* Ids, dependencies and cycles only once every step could be read: a step whose id is bad
   * would make every dependency on it look missing.  */
  if (ps.p->n + ps.p->dropped == before)
    tars_plan_check(plan, ps.where, ps.p, NULL);

out:;
  int r = tars_plan_problems_fail_since(ps.p, before_n, before, err);
  if (r < 0)
    tars_plan_free(plan);
  tars_plan_problems_free(&own);
  return r;
}

int
tars_plan_parse(const char *text, size_t len, const char *where, struct tars_plan *plan,
                struct tars_plan_problems *problems, struct tars_error *err)
{
  memset(plan, 0, sizeof *plan);
  cleanup_cjson cJSON *root = NULL;
  if (tars_plan_json_load(text, len, where ? where : "plan", &root, err) < 0)
    {
      if (problems)
        tars_plan_problem(problems, "%s", err->msg);
      return -1;
    }
  return tars_plan_from_json(root, where, plan, problems, err);
}
