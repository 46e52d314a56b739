/* An analysis as the JSON of `tars analyze --format json` (docs/analyzer.md), and a finding as a
 * plan's todo.  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan/analyze.h"
#include "tars/cleanup.h"

struct out
{
  bool failed;
};

static void
str(struct out *o, cJSON *obj, const char *key, const char *v)
{
  if (cJSON_AddStringToObject(obj, key, v ? v : "") == NULL)
    o->failed = true;
}

static void
num(struct out *o, cJSON *obj, const char *key, double v)
{
  if (cJSON_AddNumberToObject(obj, key, v) == NULL)
    o->failed = true;
}

static cJSON *
finding_json(struct out *o, const struct tars_finding *f)
{
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    {
      o->failed = true;
      return NULL;
    }
  str(o, j, "file", f->file);
  num(o, j, "line", f->line);
  num(o, j, "column", f->column);
  str(o, j, "marker", tars_marker_name(f->marker));
  str(o, j, "text", f->text);
  str(o, j, "language", tars_lang_info(f->lang)->name);
  str(o, j, "context", tars_context_name(f->context));
  if (f->context == TARS_CONTEXT_FUNCTION)
    {
      cJSON *fn = cJSON_AddObjectToObject(j, "function");
      if (fn == NULL)
        o->failed = true;
      else
        {
          str(o, fn, "name", f->function);
          str(o, fn, "kind", f->function_kind);
          num(o, fn, "startLine", f->function_start);
          num(o, fn, "endLine", f->function_end);
        }
    }
  else if (cJSON_AddNullToObject(j, "function") == NULL)
    o->failed = true;
  if (f->context == TARS_CONTEXT_MISSING)
    str(o, j, "contextNote", f->context_note ? f->context_note : "unknown");
  str(o, j, "snippet", f->snippet);
  return j;
}

cJSON *
tars_analysis_to_json(const struct tars_analysis *a)
{
  struct out o = {0};
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    return NULL;
  str(&o, j, "root", a->root);
  if (cJSON_AddBoolToObject(j, "git", a->git) == NULL)
    o.failed = true;
  num(&o, j, "filesScanned", (double)a->files);
  cJSON *fs = cJSON_AddArrayToObject(j, "findings");
  for (size_t i = 0; fs && i < a->n_findings; i++)
    {
      cJSON *f = finding_json(&o, &a->findings[i]);
      if (f && !cJSON_AddItemToArray(fs, f))
        {
          cJSON_Delete(f);
          o.failed = true;
        }
    }
  num(&o, j, "findingsDropped", (double)a->dropped);
  cJSON *sk = cJSON_AddArrayToObject(j, "skipped");
  for (size_t i = 0; sk && i < a->n_skipped; i++)
    {
      cJSON *s = cJSON_CreateObject();
      if (s == NULL || !cJSON_AddItemToArray(sk, s))
        {
          cJSON_Delete(s);
          o.failed = true;
          continue;
        }
      str(&o, s, "path", a->skipped[i].path);
      str(&o, s, "reason", tars_skip_reason_name(a->skipped[i].reason));
      if (a->skipped[i].note)
        str(&o, s, "note", a->skipped[i].note);
    }
  cJSON *ct = cJSON_AddObjectToObject(j, "ctags");
  if (ct == NULL)
    o.failed = true;
  else
    {
      if (a->ctags_version)
        str(&o, ct, "version", a->ctags_version);
      else if (cJSON_AddNullToObject(ct, "version") == NULL)
        o.failed = true;
      if (a->ctags_note)
        str(&o, ct, "note", a->ctags_note);
      else if (cJSON_AddNullToObject(ct, "note") == NULL)
        o.failed = true;
    }
  if (fs == NULL || sk == NULL || o.failed)
    {
      cJSON_Delete(j);
      return NULL;
    }
  return j;
}

int
tars_finding_to_todo(const struct tars_finding *f, struct tars_todo *t)
{
  memset(t, 0, sizeof *t);
  t->file = strdup(f->file);
  t->text = strdup(f->text ? f->text : "");
  t->line = f->line;
  t->column = f->column;
  t->marker = f->marker;
  if (f->context == TARS_CONTEXT_FUNCTION && f->function)
    {
      t->function = strdup(f->function);
      t->function_start = f->function_start;
      t->function_end = f->function_end;
      if (t->function == NULL)
        goto fail;
    }
  if (t->file && t->text)
    return 0;
fail:
  free(t->file);
  free(t->text);
  free(t->function);
  memset(t, 0, sizeof *t);
  errno = ENOMEM;
  return -1;
}
