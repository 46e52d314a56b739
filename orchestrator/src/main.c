/* tars: the program.  Dispatches to one subcommand per source file in cli/.  */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct
{
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"sandbox", cli_sandbox, "run a command in a sandbox (tars sandbox run --help)"},
    {"changes", cli_changes, "inspect a changeset (tars changes show DIR)"},
    {"history", cli_history, "the transactions applied to a repository"},
    {"audit", cli_audit, "the audit trail of a repository"},
    {"apply", cli_apply, "apply a changeset to a repository as a transaction"},
    {"rollback", cli_rollback, "roll back a transaction (tars rollback TXN)"},
    {"validate", cli_validate, "build and test a changeset against the baseline, and decide"},
    {"plan", cli_plan, "check a plan, or make one from TODOs, and show its order"},
    {"analyze", cli_analyze, "find the TODO, FIXME and XXX comments of a repository"},

    {"model", cli_model, "check the model the settings reach, or ask it (tars model check)"},
    {"gateway", cli_gateway, "internal: the model gateway tars run starts (see --help)"},
};

static void
usage(FILE *f)
{
  fputs("usage: tars COMMAND [ARGS...]\n\ncommands:\n", f);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\nEvery command takes --help.  Exit status: 0 success, 1 the work failed, 2 bad usage "
        "or input.\n",
        f);
}

int
main(int argc, char **argv)
{
  if (argc < 2)
    {
      usage(stderr);
      return TARS_EXIT_USAGE;
    }
  if (cli_is_help(argv[1]))
    {
      usage(stdout);
      return TARS_EXIT_OK;
    }
  if (strcmp(argv[1], "--version") == 0)
    {
      puts("tars 0.1.0");
      return TARS_EXIT_OK;
    }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "tars: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return TARS_EXIT_USAGE;
}
