/* tars audit [--repo R] [--execution ID] [--json]: the audit trail of a repository.  */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"
#include "tars/cleanup.h"
#include "apply/txn.h"

static const char usage_text[] =
    "usage: tars audit [--repo R] [--execution ID] [--json]\n"
    "\n"
    "Show the audit trail of the repository R, oldest first: every transaction begun,\n"
    "committed, aborted, recovered or rolled back, and every changeset refused or in conflict,\n"
    "with its time, actor, execution and step, transaction, reason, paths and details.  An\n"
    "interrupted transaction is recovered first, as by every command that opens the store.\n"
    "\n"
    "A repository where tars never applied anything has no store: that is an empty trail,\n"
    "not an error, and no store is created.\n"
    "\n"
    "options:\n"
    "  --repo R          the repository (default: the current directory)\n"
    "  --execution ID    only the entries of the execution ID\n"
    "  --json            print a JSON array of entries instead of text\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 shown, 1 the store could not be read or recovered, 2 bad usage or a bad\n"
    "repository path.\n";

/* Audited text comes from changesets that may be hostile (paths with newlines or escape
 * sequences): never pass control characters to the user's terminal.  */
static void
print_entry(const cJSON *e)
{
  const char *exec = cli_json_str(e, "execution_id"), *step = cli_json_str(e, "step_id");
  const char *txn = cli_json_str(e, "txn_id"), *reason = cli_json_str(e, "reason");
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(e, "paths");
  const cJSON *details = cJSON_GetObjectItemCaseSensitive(e, "details");

  cli_put_escaped(cli_json_str(e, "time") ? cli_json_str(e, "time") : "-");
  fputs("  ", stdout);
  cli_put_escaped(cli_json_str(e, "event") ? cli_json_str(e, "event") : "-");
  fputs("  ", stdout);
  cli_put_escaped(cli_json_str(e, "actor") ? cli_json_str(e, "actor") : "-");
  if (txn)
    {
      fputs("  ", stdout);
      cli_put_escaped(txn);
    }
  if (exec || step)
    {
      fputs("  ", stdout);
      cli_put_escaped(exec ? exec : "-");
      putchar('/');
      cli_put_escaped(step ? step : "-");
    }
  if (reason)
    {
      fputs("  ", stdout);
      cli_put_escaped(reason);
    }
  putchar('\n');
  if (cJSON_GetArraySize(paths) > 0)
    {
      const cJSON *p;
      fputs("    paths:", stdout);
      cJSON_ArrayForEach(p, paths)
      {
        putchar(' ');
        cli_put_escaped(cJSON_IsString(p) ? p->valuestring : "?");
      }
      putchar('\n');
    }
  if (cJSON_IsObject(details) && details->child)
    {
      cleanup_free char *text = cJSON_PrintUnformatted(details);
      if (text)
        {
          fputs("    details: ", stdout);
          cli_put_escaped(text);
          putchar('\n');
        }
    }
}

static int
print_list(cJSON *list, bool json)
{
  if (json)
    {
      cleanup_free char *text = cJSON_Print(list);
      if (text == NULL)
        {
          fputs("tars: audit: out of memory\n", stderr);
          return TARS_EXIT_FAILED;
        }
      puts(text);
    }
  else if (cJSON_GetArraySize(list) == 0)
    puts("no audit entries");
  else
    {
      const cJSON *e;
      cJSON_ArrayForEach(e, list) print_entry(e);
    }
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: audit: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

static int
audit(const char *repo, const char *execution, bool json)
{
  cleanup_store struct tars_store *store = NULL;
  struct tars_error err = {0};
  cJSON *list = NULL;
  int ret = cli_open_store(repo, false, &store);
  if (ret != TARS_EXIT_OK)
    return ret;
  /* No store: nothing was ever applied here, an empty list.  */
  if (store == NULL)
    list = cJSON_CreateArray();
  else if (tars_audit_list(store, execution, &list, &err) < 0)
    return cli_fail(&err);
  ret = list ? print_list(list, json) : TARS_EXIT_FAILED;
  cJSON_Delete(list);
  return ret;
}

enum
{
  OPT_REPO = 256,
  OPT_EXECUTION,
  OPT_JSON,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"repo", required_argument, NULL, OPT_REPO},
    {"execution", required_argument, NULL, OPT_EXECUTION},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

int
cli_audit(int argc, char **argv)
{
  const char *repo = ".", *execution = NULL;
  bool json = false;
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
        if (optarg[0] == '\0')
          return cli_usage_error("audit: --repo: empty path");
        repo = optarg;
        break;
      case OPT_EXECUTION:
        if (optarg[0] == '\0')
          return cli_usage_error("audit: --execution: empty id");
        execution = optarg;
        break;
      case OPT_JSON:
        json = true;
        break;
      case ':':
        return cli_usage_error("audit: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("audit: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    return cli_usage_error("audit: unexpected argument '%s'", argv[optind]);
  return audit(repo, execution, json);
}
