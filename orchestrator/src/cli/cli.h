/* The tars command line: one source file per subcommand in this directory.  */
#ifndef TARS_CLI_H
#define TARS_CLI_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "plan/improvement.h"
#include "plan/todos.h"
#include "tars/error.h"

/* Exit codes, the contract of DESIGN.md.  */
enum
{
  TARS_EXIT_OK = 0,
  TARS_EXIT_FAILED = 1, /* the work failed: a validation, a conflict, a refusal */
  TARS_EXIT_USAGE = 2,  /* bad usage or bad input */
};

/* Each subcommand: ARGV[0] is the subcommand's own name.  */
int cli_sandbox(int argc, char **argv);
int cli_changes(int argc, char **argv);
int cli_history(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_apply(int argc, char **argv);
int cli_rollback(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_analyze(int argc, char **argv);

int cli_model(int argc, char **argv);
int cli_gateway(int argc, char **argv);

/* apply.c: print the outcome of an apply or a rollback (VERB "applied", "rolled back"; R its
 * return value): every reason of a refusal, conflict or drift one per line, then the result
 * (JSON when asked).  Returns the exit status.  */
struct tars_txn_result;
int cli_txn_report(const char *verb, int r, bool json, const struct tars_txn_result *res,
                   const struct tars_error *err);

/* Print "tars: <message>" to stderr and return the exit code ERR's kind calls for
 * (INVALID -> 2, otherwise 1).  */
int cli_fail(const struct tars_error *err);
/* Print "tars: <message>" and a hint to run --help; return 2.  */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Open the store of REPO (creating it when CREATE), then recover interrupted transactions, saying
 * so on stderr, as every command that opens the store must.  Returns TARS_EXIT_OK with *STORE
 * set, or with *STORE NULL when REPO has no store and CREATE is false; otherwise prints the error
 * and returns the exit status.  */
struct tars_store;
int cli_open_store(const char *repo, bool create, struct tars_store **store);
void cli_store_closep(struct tars_store **store);
#define cleanup_store __attribute__((cleanup(cli_store_closep)))

/* Print S to stdout with control characters escaped (\xNN): text from the store may come from
 * hostile changesets.  */
void cli_put_escaped(const char *s);
/* The string member NAME of the JSON object O, or NULL.  */
const char *cli_json_str(const cJSON *o, const char *name);
/* Read the plan in FILE ("-": stdin), an execution plan or an improvement plan, printing every
 * problem on stderr (CMD names the subcommand).  Returns the exit status.  */
int cli_read_plan(const char *cmd, const char *file, struct tars_plan *plan,
                  enum tars_plan_source *source);
/* The plan of REPO's TODOs (as tars analyze finds them), grouped by GROUP (plan/todos.h), with
 * a notice when the functions around them are not known.  Returns the exit status.  */
int cli_todos_plan(const char *repo, enum tars_todo_group group, struct tars_plan *plan);

/* True when ARG is -h or --help.  */
bool cli_is_help(const char *arg);

#endif
