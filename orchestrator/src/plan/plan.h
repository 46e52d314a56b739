/* Execution plans: what the coordinator runs.  A plan is a list of steps with dependencies
 * between them; each step is of one type (a command in a sandbox, an edit, a validation, an
 * approval), with typed parameters and rules that say when it succeeded.
 *
 * Plans come from files a user or a program wrote, so they are untrusted input: the parser
 * (tars_plan_parse) checks everything the model below promises, and a plan that reaches the
 * coordinator is one where every dependency names an existing step, no cycle exists, every
 * string is valid UTF-8 within its limit and every parameter has the shape of its type.  The
 * field names are those of the original TARS system (docs/plan-format.md).
 *
 * The JSON form (tars_plan_to_json) is what --json prints and what the store keeps:
 * tars_plan_parse of it gives back an equal plan (tars_plan_equal).  */
#ifndef TARS_PLAN_H
#define TARS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "model/edits.h"
#include "tars/error.h"

/* Limits on a plan file, checked before anything else is believed.  */
#define TARS_PLAN_MAX_BYTES (8u << 20) /* the file: refused from its size, unread */
#define TARS_PLAN_MAX_VALUES 500000    /* JSON values: bounds the parser's memory */
#define TARS_PLAN_MAX_STEPS 10000
#define TARS_PLAN_MAX_ID 64                /* bytes of a plan or step id */
#define TARS_PLAN_MAX_DEPENDENCIES 256     /* per step */
#define TARS_PLAN_MAX_NAME 256             /* bytes of a name, an action */
#define TARS_PLAN_MAX_TEXT (64u << 10)     /* a description, instructions, a command, a message */
#define TARS_PLAN_MAX_EDITS 256            /* edits per step */
#define TARS_PLAN_MAX_EDIT_TEXT (4u << 20) /* bytes of one edit's text */
#define TARS_PLAN_MAX_LIST 256             /* argv words, env entries, rule entries, files, todos */
#define TARS_PLAN_MAX_TIMEOUT 86400        /* seconds */
#define TARS_PLAN_MAX_PROBLEMS 50          /* problems reported; the rest are counted */

enum tars_step_type
{
  TARS_STEP_COMMAND,    /* a shell command in a sandbox; its changes are the step's result */
  TARS_STEP_EDIT,       /* edits given in the plan, or a task for the coder */
  TARS_STEP_VALIDATION, /* build and tests with the step's own settings; changes nothing */
  TARS_STEP_APPROVAL,   /* a person's go-ahead */
};

enum tars_step_status
{
  TARS_STEP_PENDING,
  TARS_STEP_IN_PROGRESS,
  TARS_STEP_COMPLETED,
  TARS_STEP_FAILED,
  TARS_STEP_SKIPPED,
  TARS_STEP_CANCELLED,
  TARS_STEP_ROLLED_BACK,
};

enum tars_plan_status
{
  TARS_PLAN_CREATED,
  TARS_PLAN_SCHEDULED,
  TARS_PLAN_IN_PROGRESS,
  TARS_PLAN_PAUSED,
  TARS_PLAN_COMPLETED,
  TARS_PLAN_FAILED,
  TARS_PLAN_CANCELLED,
};

/* What undoing the step means when its execution is rolled back.  */
enum tars_rollback_action
{
  TARS_ROLLBACK_REVERT, /* the step's transaction is rolled back (the default) */
  TARS_ROLLBACK_KEEP,   /* what the step applied stays */
};

enum tars_marker
{
  TARS_MARKER_TODO,
  TARS_MARKER_FIXME,
  TARS_MARKER_XXX,
};

struct tars_kv
{
  char *name, *value;
};

struct tars_command_params
{
  char *shell; /* run with /bin/sh -c, or NULL when ARGV is given */
  char **argv; /* NULL-terminated, or NULL when SHELL is given */
  size_t argc;
  uint32_t timeout_s; /* 0: the sandbox's default */
  struct tars_kv *env;
  size_t n_env;
};

/* An edit a plan gives, in one of the edit formats (model/edits.h: the coder's parsers read it;
 * the plan checks its shape).  */
struct tars_plan_edit
{
  char *path; /* clean, relative; never beneath .git/ or .tars/ */
  enum tars_edit_format format;
  char *text;
};

/* One TODO of the analyzer (analyze.h), as a TODO step carries it to the coder.  */
struct tars_todo
{
  char *file;
  uint32_t line, column;
  enum tars_marker marker;
  char *text;
  char *function;                        /* NULL: none, or not known */
  uint32_t function_start, function_end; /* lines; 0 when FUNCTION is NULL */
};

struct tars_edit_params
{
  /* Either the edits themselves (N_EDITS > 0) ... */
  struct tars_plan_edit *edits;
  size_t n_edits;
  /* ... or a task for the coder (INSTRUCTIONS set).  */
  char *instructions;
  char **target_files; /* NULL-terminated, or NULL */
  size_t n_target_files;
  struct tars_todo *todos;
  size_t n_todos;
};

struct tars_validation_params
{
  cJSON *validate; /* a "validate" object (vconfig.h), checked by tars_vconfig_merge; or NULL */
};

struct tars_approval_params
{
  char *message; /* or NULL */
};

/* When a step's result counts as a success, beyond the validator's verdict.  Lists are
 * NULL-terminated (or NULL); patterns use policy.h's syntax.  */
struct tars_validation_rules
{
  char **required_tests; /* test names or globs that must run and pass */
  size_t n_required_tests;
  char **commands; /* sh -c commands that must exit 0 over the changed tree */
  size_t n_commands;
  char **must_change; /* paths or patterns the change must touch */
  size_t n_must_change;
  char **must_not_change;
  size_t n_must_not_change;
  uint64_t max_diff_lines; /* 0: no limit of the step's own */
  uint64_t max_diff_files;
  bool may_change_tests; /* default false: a change to a test file is refused */
};

struct tars_step
{
  char *id;
  char *name; /* the id when the file gives none */
  char *description;
  enum tars_step_type type;
  int64_t order;       /* the file's "order", or the step's position */
  double priority;     /* 0 to 1, higher first among ready steps; default 0 */
  char **dependencies; /* ids, NULL-terminated (or NULL) */
  size_t n_dependencies;
  size_t *deps; /* the same, as indices into the plan's steps */
  enum tars_step_status status;
  char *action;
  union
  {
    struct tars_command_params command;
    struct tars_edit_params edit;
    struct tars_validation_params validation;
    struct tars_approval_params approval;
  } params;
  struct tars_validation_rules rules;
  enum tars_rollback_action rollback;
  struct tars_kv *metadata;
  size_t n_metadata;
};

struct tars_plan
{
  char *id;
  char *name;
  char *description;
  char *improvement_id;
  enum tars_plan_status status;
  struct tars_step *steps;
  size_t n_steps;
  struct tars_kv *metadata;
  size_t n_metadata;
};

/* Problems found in a plan, each a full sentence naming the step and the field: the CLI prints
 * them all, ERR carries the first.  */
struct tars_plan_problems
{
  char **v;
  size_t n;
  size_t dropped; /* beyond TARS_PLAN_MAX_PROBLEMS */
};
void tars_plan_problems_free(struct tars_plan_problems *p);
/* Add a problem (beyond TARS_PLAN_MAX_PROBLEMS it is only counted).  */
void tars_plan_problem(struct tars_plan_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* When P holds problems: ERR gets the first (TARS_ERR_INVALID) and "(and N more)"; returns -1.
 * Otherwise 0.  */
int tars_plan_problems_fail(const struct tars_plan_problems *p, struct tars_error *err);
/* The same for the problems added since P held BEFORE_N listed and BEFORE_TOTAL in all (listed
 * and dropped): returns 0 when none were.  */
int tars_plan_problems_fail_since(const struct tars_plan_problems *p, size_t before_n,
                                  size_t before_total, struct tars_error *err);

/* Parse and check the execution plan in TEXT (LEN bytes).  WHERE names the input in messages
 * ("plan.json").  Problems are TARS_ERR_INVALID; every one is added to PROBLEMS (may be NULL)
 * and ERR holds the first, followed by "(and N more)".  On error *PLAN is left empty.
 *
 * Checked: the size and value limits above; UTF-8 (the byte offset of the first bad sequence),
 * no byte-order mark, no NUL; the JSON itself (the offset where it stops making sense); unknown
 * or repeated keys; at least one step; ids unique, 1 to TARS_PLAN_MAX_ID bytes of [A-Za-z0-9._-]
 * starting with a letter or digit; every dependency names another step, once; no cycle (its
 * steps named); known types, statuses and formats; each type's parameters (docs/plan-format.md);
 * lengths and counts.  */
int tars_plan_parse(const char *text, size_t len, const char *where, struct tars_plan *plan,
                    struct tars_plan_problems *problems, struct tars_error *err);

/* The two halves of tars_plan_parse, for readers that look at the JSON before deciding what it
 * is (improvement.h): the checks on the bytes and cJSON's parse into *ROOT, then the plan from
 * ROOT.  */
int tars_plan_json_load(const char *text, size_t len, const char *where, cJSON **root,
                        struct tars_error *err);
int tars_plan_from_json(const cJSON *root, const char *where, struct tars_plan *plan,
                        struct tars_plan_problems *problems, struct tars_error *err);

/* Read FD (a file, or a pipe) into *TEXT (NUL-terminated, malloc'd): a regular file larger than
 * TARS_PLAN_MAX_BYTES is refused from its size without reading it, anything else as soon as it
 * goes past the limit.  */
int tars_plan_read_fd(int fd, const char *where, char **text, size_t *len, struct tars_error *err);

void tars_plan_free(struct tars_plan *plan);
#define cleanup_plan __attribute__((cleanup(tars_plan_free)))

/* The plan as JSON, every field written (defaults included), steps in the file's order.  */
cJSON *tars_plan_to_json(const struct tars_plan *plan);
/* One TODO as the plan and the analyzer write it: {"file", "line", "column", "marker", "text",
 * "function": {"name", "startLine", "endLine"} or null}.  */
cJSON *tars_todo_to_json(const struct tars_todo *t);
/* Same, printed (malloc'd), indented when PRETTY.  */
char *tars_plan_to_string(const struct tars_plan *plan, bool pretty, struct tars_error *err);

bool tars_plan_equal(const struct tars_plan *a, const struct tars_plan *b);

/* The order the steps run in when one runs at a time: every step after its dependencies; among
 * the steps that are ready, by tars_step_cmp.  OUT gets N_STEPS step indices.  */
int tars_plan_order(const struct tars_plan *plan, size_t *out, struct tars_error *err);
/* Which of two ready steps goes first: higher priority, then lower order, then the one earlier
 * in the plan (A and B point into the same plan's steps).  Negative when A goes first.  */
int tars_step_cmp(const struct tars_step *a, const struct tars_step *b);
/* Index of the step with ID, or -1.  */
ssize_t tars_plan_find(const struct tars_plan *plan, const char *id);

const char *tars_step_type_name(enum tars_step_type t);     /* "command", "edit", ... */
const char *tars_step_status_name(enum tars_step_status s); /* "Pending", "InProgress", ... */
const char *tars_plan_status_name(enum tars_plan_status s); /* "Created", ... */
const char *tars_rollback_action_name(enum tars_rollback_action a); /* "revert", "keep" */
const char *tars_marker_name(enum tars_marker m);                   /* "TODO", ... */
int tars_step_type_from_name(const char *s, enum tars_step_type *out);
int tars_step_status_from_name(const char *s, enum tars_step_status *out);
int tars_plan_status_from_name(const char *s, enum tars_plan_status *out);
int tars_rollback_action_from_name(const char *s, enum tars_rollback_action *out);
int tars_marker_from_name(const char *s, enum tars_marker *out);

/* Checks the parser applies, for the planners that build plans in memory.  */
bool tars_plan_id_valid(const char *id);
/* A clean relative path: no "", ".", ".." component, no leading, doubled or trailing '/', no
 * control character, and no .git or .tars component.  */
bool tars_plan_path_valid(const char *path);

/* Check a plan built in memory (the planners' output) as tars_plan_parse checks a file: ids,
 * dependencies (resolving step->deps), cycles.  */
int tars_plan_check(struct tars_plan *plan, const char *where, struct tars_plan_problems *problems,
                    struct tars_error *err);
/* Same, naming the steps NOUN ("improvement") in messages.  */
int tars_plan_check_as(struct tars_plan *plan, const char *where, const char *noun,
                       struct tars_plan_problems *problems, struct tars_error *err);

#endif
