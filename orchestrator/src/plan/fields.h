/* Readers of a plan's JSON fields (plan files and improvement plans), private to plan/.  Each
 * checks a value's type, length and characters and copies it; on any problem it adds a sentence
 * to the reader's problems, "WHERE: LABEL: FIELD: what is wrong", and returns false.  */
#ifndef TARS_PLAN_FIELDS_H
#define TARS_PLAN_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "plan/plan.h"

struct tars_plan_reader
{
  const char *where;            /* the input: "plan.json" */
  struct tars_plan_problems *p; /* where problems go */
  char label[160];              /* the item being read, "" for the top level */
};

/* How a string may look.  */
enum
{
  TARS_STR_LINE = 0,       /* one line: no control characters, not empty */
  TARS_STR_TEXT = 1u << 0, /* newlines, tabs and carriage returns allowed */
  TARS_STR_EMPTY = 1u << 1,
};

void tars_reader_problem(struct tars_plan_reader *ps, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "a string", "an object"...: what V is, for messages.  */
const char *tars_json_type(const cJSON *v);
/* Unknown keys of OBJ (KNOWN: NULL-terminated) and keys given twice.  FIELD prefixes the keys'
 * names ("parameters" gives "parameters.command"; "" none).  */
void tars_reader_check_keys(struct tars_plan_reader *ps, const cJSON *obj, const char *field,
                            const char *const *known);
/* V, a string of at most MAX bytes shaped as FLAGS says, into *OUT (freeing what was there).  */
bool tars_reader_string(struct tars_plan_reader *ps, const cJSON *v, const char *field, size_t max,
                        unsigned flags, char **out);
/* OBJ's KEY when present and not null, as tars_reader_string; absent is fine.  */
bool tars_reader_optional_string(struct tars_plan_reader *ps, const cJSON *obj, const char *key,
                                 const char *field, size_t max, unsigned flags, char **out);
/* An integer in [MIN, MAX].  */
bool tars_reader_int(struct tars_plan_reader *ps, const cJSON *v, const char *field, double min,
                     double max, int64_t *out);
/* An array of at most MAX_N strings (each as tars_reader_string, then VALID when not NULL,
 * INVALID_WHY completing "\"<value>\" ..." when it fails) into a NULL-terminated *OUT.  */
bool tars_reader_strv(struct tars_plan_reader *ps, const cJSON *v, const char *field, size_t max_n,
                      size_t max_len, unsigned flags, bool (*valid)(const char *),
                      const char *invalid_why, char ***out, size_t *n_out);
/* An object of strings (metadata; with ENV_NAMES, environment variables).  */
bool tars_reader_kv(struct tars_plan_reader *ps, const cJSON *v, const char *field, bool env_names,
                    struct tars_kv **out, size_t *n_out);
/* A command's "command" (a string for sh -c, or an argv array), "timeout" and "env", members of
 * OBJ, named PREFIX.command and so on.  */
void tars_reader_command(struct tars_plan_reader *ps, const cJSON *obj, const char *prefix,
                         struct tars_command_params *c);
/* A step's "validationRules" object V, for a step of TYPE.  */
void tars_reader_rules(struct tars_plan_reader *ps, const cJSON *v, enum tars_step_type type,
                       struct tars_validation_rules *r);
/* PREFIX and 12 hex digits of the SHA-256 of ROOT printed: the same input, the same id; for plans
 * whose file gives none.  malloc'd, NULL when out of memory.  */
char *tars_reader_derived_id(const cJSON *root, const char *prefix);

#endif
