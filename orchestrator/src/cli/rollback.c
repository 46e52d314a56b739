/* tars rollback TXN [--repo R] [--force] [--json]: undo a committed transaction, as a
 * transaction of its own.  */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"
#include "tars/cleanup.h"
#include "apply/txn.h"

static const char usage_text[] =
    "usage: tars rollback TXN [--repo R] [--force] [--json]\n"
    "\n"
    "Restore what the committed transaction TXN changed in the repository R to how it was\n"
    "before, from its pre-images in R/.tars/backups/.  The rollback is itself a transaction\n"
    "(crash-safe, journaled, audited, and rolled back the same way).  When TXN made a git\n"
    "commit, the rollback adds a revert commit.\n"
    "\n"
    "A path changed since TXN (content, mode or kind) is drift: the rollback is refused, each\n"
    "such path named, unless --force, which restores the pre-state over those changes.\n"
    "\n"
    "options:\n"
    "  --repo R    the repository (default: the current directory)\n"
    "  --force     roll back despite drift\n"
    "  --json      print the result as JSON\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 rolled back; 1 refused (drift, TXN not committed or already rolled back)\n"
    "or failed; 2 bad usage, an unknown transaction or a repository without a tars store.\n";

enum
{
  OPT_REPO = 256,
  OPT_JSON,
  OPT_FORCE,
};

static const struct option long_options[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"json", no_argument, NULL, OPT_JSON},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int
cli_rollback(int argc, char **argv)
{
  const char *repo = ".", *txn = NULL;
  bool json = false, force = false;
  int c;

  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1)
    switch (c)
      {
      case 'h':
        fputs(usage_text, stdout);
        return TARS_EXIT_OK;
      case OPT_REPO:
        repo = optarg;
        break;
      case OPT_JSON:
        json = true;
        break;
      case OPT_FORCE:
        force = true;
        break;
      case ':':
        return cli_usage_error("rollback: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("rollback: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    txn = argv[optind++];
  if (optind < argc)
    return cli_usage_error("rollback: unexpected argument '%s'", argv[optind]);
  if (txn == NULL || txn[0] == '\0')
    return cli_usage_error("rollback: missing TXN, the transaction id (see tars history)");
  if (repo[0] == '\0')
    return cli_usage_error("rollback: --repo needs a path");

  struct tars_error err = {0};
  cleanup_store struct tars_store *store = NULL;
  int r = cli_open_store(repo, false, &store);
  if (r != TARS_EXIT_OK)
    return r;
  if (store == NULL)
    {
      fprintf(stderr,
              "tars: rollback: no transaction %s in %s (tars never applied anything there)\n", txn,
              repo);
      return TARS_EXIT_USAGE;
    }

  char actor[300];
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_name[0])
    snprintf(actor, sizeof actor, "cli:%s", pw->pw_name);
  else
    snprintf(actor, sizeof actor, "cli:%u", (unsigned)getuid());
  struct tars_apply_opts opts = {.actor = actor, .git_commit = true};
  struct tars_txn_result res = {0};
  r = tars_txn_rollback(store, txn, force, &opts, &res, &err);
  if (r < 0 && err.kind == TARS_ERR_SYSTEM)
    tars_error_prefix(&err, "roll back %s", txn);
  int rc = cli_txn_report("rolled back", r, json, &res, &err);
  tars_txn_result_free(&res);
  return rc;
}
