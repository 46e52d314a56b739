/* Reading the fields of a plan's JSON, shared by the execution-plan reader (plan_parse.c) and
 * the improvement-plan reader (improvement.c): each reader checks a value's type, length and
 * characters, copies it, and on any problem adds a sentence naming the input, the item being
 * read (LABEL: "step \"fmt\"", "improvement #3") and the field, then returns false.  */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "plan/fields.h"
#include "tars/cleanup.h"

void
tars_reader_problem(struct tars_plan_reader *ps, const char *field, const char *fmt, ...)
{
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (ps->label[0])
    tars_plan_problem(ps->p, "%s: %s: %s: %s", ps->where, ps->label, field, msg);
  else
    tars_plan_problem(ps->p, "%s: %s: %s", ps->where, field, msg);
}

const char *
tars_json_type(const cJSON *v)
{
  if (cJSON_IsString(v))
    return "a string";
  if (cJSON_IsNumber(v))
    return "a number";
  if (cJSON_IsBool(v))
    return "a boolean";
  if (cJSON_IsNull(v))
    return "null";
  if (cJSON_IsArray(v))
    return "an array";
  if (cJSON_IsObject(v))
    return "an object";
  return "an invalid value";
}

/* Unknown and repeated keys of OBJ (FIELD names it: "parameters"; "" at the top).  */
void
tars_reader_check_keys(struct tars_plan_reader *ps, const cJSON *obj, const char *field,
                       const char *const *known)
{
  for (const cJSON *c = obj->child; c; c = c->next)
    {
      char name[256];
      snprintf(name, sizeof name, "%s%s%s", field, field[0] ? "." : "", c->string);
      bool ok = false;
      for (const char *const *k = known; *k && !ok; k++)
        ok = strcmp(*k, c->string) == 0;
      if (!ok)
        {
          char list[512];
          size_t off = 0;
          for (const char *const *k = known; *k && off < sizeof list; k++)
            off +=
                (size_t)snprintf(list + off, sizeof list - off, "%s%s", k == known ? "" : ", ", *k);
          tars_reader_problem(ps, name, "unknown key (known: %s)", list);
          continue;
        }
      for (const cJSON *d = obj->child; d != c; d = d->next)
        if (strcmp(d->string, c->string) == 0)
          {
            tars_reader_problem(ps, name, "the key appears more than once");
            break;
          }
    }
}

static bool
has_control(const char *s, bool multiline)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) || *p == 0x7f)
      return true;
  return false;
}

/* The string V (FIELD names it) copied into *OUT, or a problem.  */
bool
tars_reader_string(struct tars_plan_reader *ps, const cJSON *v, const char *field, size_t max,
                   unsigned flags, char **out)
{
  if (!cJSON_IsString(v))
    {
      tars_reader_problem(ps, field, "expected a string, got %s", tars_json_type(v));
      return false;
    }
  size_t n = strlen(v->valuestring);
  if (n == 0 && !(flags & TARS_STR_EMPTY))
    {
      tars_reader_problem(ps, field, "is empty");
      return false;
    }
  if (n > max)
    {
      tars_reader_problem(ps, field, "%zu bytes, more than the limit of %zu", n, max);
      return false;
    }
  if (has_control(v->valuestring, flags & TARS_STR_TEXT))
    {
      tars_reader_problem(ps, field, "holds a control character");
      return false;
    }
  free(*out);
  *out = strdup(v->valuestring);
  if (*out == NULL)
    tars_reader_problem(ps, field, "out of memory");
  return *out != NULL;
}

bool
tars_reader_optional_string(struct tars_plan_reader *ps, const cJSON *obj, const char *key,
                            const char *field, size_t max, unsigned flags, char **out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (v == NULL || cJSON_IsNull(v))
    return true;
  return tars_reader_string(ps, v, field, max, flags, out);
}

/* An integer in [MIN, MAX].  */
bool
tars_reader_int(struct tars_plan_reader *ps, const cJSON *v, const char *field, double min,
                double max, int64_t *out)
{
  if (!cJSON_IsNumber(v))
    {
      tars_reader_problem(ps, field, "expected an integer, got %s", tars_json_type(v));
      return false;
    }
  double d = v->valuedouble;
  if (!isfinite(d) || d != floor(d))
    {
      tars_reader_problem(ps, field, "expected an integer, got %g", d);
      return false;
    }
  if (d < min || d > max)
    {
      tars_reader_problem(ps, field, "%.0f is out of range (%.0f to %.0f)", d, min, max);
      return false;
    }
  *out = (int64_t)d;
  return true;
}

/* A list of strings: an array of 1..MAX_N strings, or with SINGLE a lone string as well.  */
bool
tars_reader_strv(struct tars_plan_reader *ps, const cJSON *v, const char *field, size_t max_n,
                 size_t max_len, unsigned flags, bool (*valid)(const char *),
                 const char *invalid_why, char ***out, size_t *n_out)
{
  if (!cJSON_IsArray(v))
    {
      tars_reader_problem(ps, field, "expected an array of strings, got %s", tars_json_type(v));
      return false;
    }
  size_t n = (size_t)cJSON_GetArraySize(v);
  if (n > max_n)
    {
      tars_reader_problem(ps, field, "%zu entries, more than the limit of %zu", n, max_n);
      return false;
    }
  char **list = calloc(n + 1, sizeof *list);
  if (list == NULL)
    {
      tars_reader_problem(ps, field, "out of memory");
      return false;
    }
  bool ok = true;
  size_t i = 0;
  for (const cJSON *c = v->child; c; c = c->next, i++)
    {
      char name[256];
      snprintf(name, sizeof name, "%s[%zu]", field, i);
      if (!tars_reader_string(ps, c, name, max_len, flags, &list[i]))
        ok = false;
      else if (valid && !valid(list[i]))
        {
          tars_reader_problem(ps, name, "\"%s\" %s", list[i], invalid_why);
          ok = false;
        }
    }
  if (!ok)
    {
      for (size_t k = 0; k < n; k++)
        free(list[k]);
      free(list);
      return false;
    }
  *out = list;
  *n_out = n;
  return true;
}

static bool
env_name_valid(const char *s)
{
  if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
    return false;
  for (s++; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return false;
  return true;
}

/* An object of strings (metadata, env).  */
bool
tars_reader_kv(struct tars_plan_reader *ps, const cJSON *v, const char *field, bool names_are_env,
               struct tars_kv **out, size_t *n_out)
{
  if (!cJSON_IsObject(v))
    {
      tars_reader_problem(ps, field, "expected an object of strings, got %s", tars_json_type(v));
      return false;
    }
  size_t n = (size_t)cJSON_GetArraySize(v);
  if (n > TARS_PLAN_MAX_LIST)
    {
      tars_reader_problem(ps, field, "%zu entries, more than the limit of %d", n,
                          TARS_PLAN_MAX_LIST);
      return false;
    }
  struct tars_kv *kv = calloc(n ? n : 1, sizeof *kv);
  if (kv == NULL)
    {
      tars_reader_problem(ps, field, "out of memory");
      return false;
    }
  bool ok = true;
  size_t i = 0;
  for (const cJSON *c = v->child; c; c = c->next, i++)
    {
      char name[320];
      snprintf(name, sizeof name, "%s.%s", field, c->string);
      if (strlen(c->string) == 0 || strlen(c->string) > TARS_PLAN_MAX_NAME ||
          has_control(c->string, false) || (names_are_env && !env_name_valid(c->string)))
        {
          tars_reader_problem(ps, name,
                              names_are_env ? "not a valid environment variable name"
                                            : "not a valid key (1 to 256 bytes, no control "
                                              "characters)");
          ok = false;
          continue;
        }
      for (const cJSON *d = v->child; d != c; d = d->next)
        if (strcmp(d->string, c->string) == 0)
          {
            tars_reader_problem(ps, name, "the key appears more than once");
            ok = false;
          }
      kv[i].name = strdup(c->string);
      if (kv[i].name == NULL || !tars_reader_string(ps, c, name, TARS_PLAN_MAX_TEXT,
                                                    TARS_STR_TEXT | TARS_STR_EMPTY, &kv[i].value))
        ok = false;
    }
  if (!ok)
    {
      for (size_t k = 0; k < n; k++)
        {
          free(kv[k].name);
          free(kv[k].value);
        }
      free(kv);
      return false;
    }
  *out = kv;
  *n_out = n;
  return true;
}

void
tars_reader_command(struct tars_plan_reader *ps, const cJSON *obj, const char *prefix,
                    struct tars_command_params *c)
{
  char field[96], sub[112];
  snprintf(field, sizeof field, "%s%scommand", prefix, prefix[0] ? "." : "");
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(obj, "command");
  if (cmd == NULL)
    tars_reader_problem(ps, field, "missing: a shell command (a string) or an argv array");
  else if (cJSON_IsString(cmd))
    tars_reader_string(ps, cmd, field, TARS_PLAN_MAX_TEXT, TARS_STR_TEXT, &c->shell);
  else if (cJSON_IsArray(cmd))
    {
      snprintf(sub, sizeof sub, "%s[0]", field);
      if (cJSON_GetArraySize(cmd) == 0)
        tars_reader_problem(ps, field, "an empty argv array");
      else if (tars_reader_strv(ps, cmd, field, TARS_PLAN_MAX_LIST, TARS_PLAN_MAX_TEXT,
                                TARS_STR_TEXT | TARS_STR_EMPTY, NULL, NULL, &c->argv, &c->argc) &&
               c->argv[0][0] == '\0')
        tars_reader_problem(ps, sub, "the program to run is empty");
    }
  else
    tars_reader_problem(ps, field, "expected a string or an array of strings, got %s",
                        tars_json_type(cmd));
  snprintf(field, sizeof field, "%s%stimeout", prefix, prefix[0] ? "." : "");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "timeout");
  int64_t secs;
  if (t && tars_reader_int(ps, t, field, 1, TARS_PLAN_MAX_TIMEOUT, &secs))
    c->timeout_s = (uint32_t)secs;
  snprintf(field, sizeof field, "%s%senv", prefix, prefix[0] ? "." : "");
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(obj, "env");
  if (env)
    tars_reader_kv(ps, env, field, true, &c->env, &c->n_env);
}

void
tars_reader_rules(struct tars_plan_reader *ps, const cJSON *v, enum tars_step_type type,
                  struct tars_validation_rules *r)
{
  static const char *const known[] = {
      "requiredTests", "commands",     "mustChange",     "mustNotChange",
      "maxDiffLines",  "maxDiffFiles", "mayChangeTests", NULL};
  if (!cJSON_IsObject(v))
    {
      tars_reader_problem(ps, "validationRules", "expected an object, got %s", tars_json_type(v));
      return;
    }
  if (type == TARS_STEP_APPROVAL && v->child)
    {
      tars_reader_problem(ps, "validationRules",
                          "an approval step changes nothing: it has no rules");
      return;
    }
  tars_reader_check_keys(ps, v, "validationRules", known);
  const cJSON *x;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "requiredTests")))
    tars_reader_strv(ps, x, "validationRules.requiredTests", TARS_PLAN_MAX_LIST,
                     TARS_PLAN_MAX_NAME * 4, TARS_STR_LINE, NULL, NULL, &r->required_tests,
                     &r->n_required_tests);
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "commands")))
    tars_reader_strv(ps, x, "validationRules.commands", TARS_PLAN_MAX_LIST, TARS_PLAN_MAX_TEXT,
                     TARS_STR_TEXT, NULL, NULL, &r->commands, &r->n_commands);
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "mustChange")))
    tars_reader_strv(ps, x, "validationRules.mustChange", TARS_PLAN_MAX_LIST, TARS_PLAN_MAX_TEXT,
                     TARS_STR_LINE, NULL, NULL, &r->must_change, &r->n_must_change);
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "mustNotChange")))
    tars_reader_strv(ps, x, "validationRules.mustNotChange", TARS_PLAN_MAX_LIST, TARS_PLAN_MAX_TEXT,
                     TARS_STR_LINE, NULL, NULL, &r->must_not_change, &r->n_must_not_change);
  int64_t n;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "maxDiffLines")) &&
      tars_reader_int(ps, x, "validationRules.maxDiffLines", 1, 1e9, &n))
    r->max_diff_lines = (uint64_t)n;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "maxDiffFiles")) &&
      tars_reader_int(ps, x, "validationRules.maxDiffFiles", 1, 1e9, &n))
    r->max_diff_files = (uint64_t)n;
  if ((x = cJSON_GetObjectItemCaseSensitive(v, "mayChangeTests")))
    {
      if (!cJSON_IsBool(x))
        tars_reader_problem(ps, "validationRules.mayChangeTests", "expected a boolean, got %s",
                            tars_json_type(x));
      else
        r->may_change_tests = cJSON_IsTrue(x);
    }
}

char *
tars_reader_derived_id(const cJSON *root, const char *prefix)
{
  cleanup_free char *text = cJSON_PrintUnformatted(root);
  if (text == NULL)
    return NULL;
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, strlen(text), (const uint8_t *)text);
  sha256_digest(&ctx, sizeof digest, digest);
  size_t n = strlen(prefix);
  char *id = malloc(n + 12 + 1);
  if (id == NULL)
    return NULL;
  memcpy(id, prefix, n);
  for (int i = 0; i < 6; i++)
    snprintf(id + n + 2 * i, 3, "%02x", digest[i]);
  return id;
}
