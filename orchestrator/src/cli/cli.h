/* The tars command line: one source file per subcommand in this directory.  */
#ifndef TARS_CLI_H
#define TARS_CLI_H

#include <stdbool.h>

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

/* Print "tars: <message>" to stderr and return the exit code ERR's kind calls for
 * (INVALID -> 2, otherwise 1).  */
int cli_fail(const struct tars_error *err);
/* Print "tars: <message>" and a hint to run --help; return 2.  */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True when ARG is -h or --help.  */
bool cli_is_help(const char *arg);

#endif
