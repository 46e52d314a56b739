/* An analysis as SARIF 2.1.0 (OASIS), the format code-scanning tools and editors read: one run,
 * one rule per marker, one result per finding with its physical location (relative to the
 * SRCROOT base, columns in Unicode code points) and, when known, its function as a logical
 * location.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/analyze.h"
#include "tars/cleanup.h"

#define SARIF_SCHEMA                                                                               \
  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

struct out
{
  bool failed;
};

static cJSON *
obj(struct out *o, cJSON *parent, const char *key)
{
  cJSON *j = cJSON_AddObjectToObject(parent, key);
  if (j == NULL)
    o->failed = true;
  return j;
}

static void
str(struct out *o, cJSON *parent, const char *key, const char *v)
{
  if (parent == NULL || cJSON_AddStringToObject(parent, key, v) == NULL)
    o->failed = true;
}

static void
num(struct out *o, cJSON *parent, const char *key, double v)
{
  if (parent == NULL || cJSON_AddNumberToObject(parent, key, v) == NULL)
    o->failed = true;
}

static cJSON *
push(struct out *o, cJSON *array)
{
  cJSON *j = cJSON_CreateObject();
  if (j == NULL || array == NULL || !cJSON_AddItemToArray(array, j))
    {
      cJSON_Delete(j);
      o->failed = true;
      return NULL;
    }
  return j;
}

/* PATH as a URI reference: every byte but the unreserved ones and '/' percent-encoded.  */
static char *
uri_encode(const char *prefix, const char *path, const char *suffix)
{
  size_t n = strlen(path);
  char *u = malloc(strlen(prefix) + n * 3 + strlen(suffix) + 1);
  if (u == NULL)
    return NULL;
  char *p = u + sprintf(u, "%s", prefix);
  for (const unsigned char *c = (const unsigned char *)path; *c; c++)
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        strchr("-._~/", *c))
      *p++ = (char)*c;
    else
      p += sprintf(p, "%%%02X", *c);
  strcpy(p, suffix);
  return u;
}

static const struct
{
  enum tars_marker marker;
  const char *name, *text, *level;
} rules[] = {
    {TARS_MARKER_TODO, "TodoComment", "A TODO comment: work the code still needs.", "note"},
    {TARS_MARKER_FIXME, "FixmeComment", "A FIXME comment: a known defect.", "warning"},
    {TARS_MARKER_XXX, "XxxComment", "An XXX comment: something fragile or wrong.", "warning"},
};

cJSON *
tars_analysis_to_sarif(const struct tars_analysis *a)
{
  struct out o = {0};
  cJSON *log = cJSON_CreateObject();
  if (log == NULL)
    return NULL;
  str(&o, log, "$schema", SARIF_SCHEMA);
  str(&o, log, "version", "2.1.0");
  cJSON *runs = cJSON_AddArrayToObject(log, "runs");
  cJSON *run = push(&o, runs);
  cJSON *tool = obj(&o, run, "tool");
  cJSON *driver = tool ? obj(&o, tool, "driver") : NULL;
  str(&o, driver, "name", "tars");
  str(&o, driver, "version", "0.1.0");
  cJSON *rl = driver ? cJSON_AddArrayToObject(driver, "rules") : NULL;
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    {
      cJSON *r = push(&o, rl);
      str(&o, r, "id", tars_marker_name(rules[i].marker));
      str(&o, r, "name", rules[i].name);
      cJSON *sd = r ? obj(&o, r, "shortDescription") : NULL;
      str(&o, sd, "text", rules[i].text);
      cJSON *dc = r ? obj(&o, r, "defaultConfiguration") : NULL;
      str(&o, dc, "level", rules[i].level);
    }
  cleanup_free char *root_uri = a->root ? uri_encode("file://", a->root, "/") : NULL;
  cJSON *bases = run ? obj(&o, run, "originalUriBaseIds") : NULL;
  cJSON *src = bases ? obj(&o, bases, "SRCROOT") : NULL;
  str(&o, src, "uri", root_uri ? root_uri : "file:///");
  str(&o, run, "columnKind", "unicodeCodePoints");
  cJSON *inv = run ? cJSON_AddArrayToObject(run, "invocations") : NULL;
  cJSON *inv0 = push(&o, inv);
  if (inv0 == NULL || cJSON_AddBoolToObject(inv0, "executionSuccessful", true) == NULL)
    o.failed = true;
  if (a->ctags_note && inv0)
    {
      /* Why functions are missing, as a notification a reader shows once.  */
      cJSON *notes = cJSON_AddArrayToObject(inv0, "toolExecutionNotifications");
      cJSON *n = push(&o, notes);
      cJSON *m = n ? obj(&o, n, "message") : NULL;
      str(&o, m, "text", a->ctags_note);
      str(&o, n, "level", "note");
    }
  cJSON *results = run ? cJSON_AddArrayToObject(run, "results") : NULL;
  for (size_t i = 0; i < a->n_findings && !o.failed; i++)
    {
      const struct tars_finding *f = &a->findings[i];
      cJSON *r = push(&o, results);
      if (r == NULL)
        break;
      str(&o, r, "ruleId", tars_marker_name(f->marker));
      num(&o, r, "ruleIndex", (double)f->marker);
      str(&o, r, "level", rules[f->marker].level);
      cJSON *msg = obj(&o, r, "message");
      char *text = NULL;
      if (asprintf(&text, "%s%s%s", tars_marker_name(f->marker), f->text && *f->text ? ": " : "",
                   f->text ? f->text : "") < 0)
        text = NULL;
      str(&o, msg, "text", text ? text : tars_marker_name(f->marker));
      free(text);
      cJSON *locs = cJSON_AddArrayToObject(r, "locations");
      cJSON *loc = push(&o, locs);
      cJSON *phys = loc ? obj(&o, loc, "physicalLocation") : NULL;
      cJSON *art = phys ? obj(&o, phys, "artifactLocation") : NULL;
      cleanup_free char *uri = uri_encode("", f->file, "");
      str(&o, art, "uri", uri ? uri : "");
      str(&o, art, "uriBaseId", "SRCROOT");
      cJSON *region = phys ? obj(&o, phys, "region") : NULL;
      num(&o, region, "startLine", f->line);
      num(&o, region, "startColumn", f->column);
      cJSON *snip = region ? obj(&o, region, "snippet") : NULL;
      str(&o, snip, "text", f->snippet ? f->snippet : "");
      cJSON *props = obj(&o, r, "properties");
      str(&o, props, "language", tars_lang_info(f->lang)->name);
      str(&o, props, "context", tars_context_name(f->context));
      if (f->context == TARS_CONTEXT_FUNCTION && loc)
        {
          cJSON *lls = cJSON_AddArrayToObject(loc, "logicalLocations");
          cJSON *ll = push(&o, lls);
          str(&o, ll, "name", f->function);
          str(&o, ll, "kind", "function");
          num(&o, props, "functionStartLine", f->function_start);
          num(&o, props, "functionEndLine", f->function_end);
        }
      else if (f->context == TARS_CONTEXT_MISSING)
        str(&o, props, "contextNote", f->context_note ? f->context_note : "unknown");
    }
  if (o.failed || results == NULL)
    {
      cJSON_Delete(log);
      return NULL;
    }
  return log;
}
