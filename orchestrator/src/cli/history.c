/* tars history [--repo R] [--json] [--limit N]: the transactions applied to a repository.  */
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
    "usage: tars history [--repo R] [--json] [--limit N]\n"
    "\n"
    "Show the transactions tars applied to (or rolled back in) the repository R, newest first:\n"
    "id, kind (apply or rollback), state, execution and step, when it was created and finished,\n"
    "how many operations, the git commit made and the reason it ended as it did.  An interrupted\n"
    "transaction is recovered first, as by every command that opens the store.\n"
    "\n"
    "A repository where tars never applied anything has no store: that is an empty history,\n"
    "not an error, and no store is created.\n"
    "\n"
    "options:\n"
    "  --repo R    the repository (default: the current directory)\n"
    "  --json      print a JSON array of transactions instead of a table\n"
    "  --limit N   show at most the N newest transactions\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 shown, 1 the store could not be read or recovered, 2 bad usage or a bad\n"
    "repository path.\n";

/* Text from the store may come from a hostile changeset (a path, a reason): never let it move
 * the cursor or start an escape sequence on the user's terminal.  */
static void
put_field(const char *s, int width)
{
  const char *v = s && s[0] ? s : "-";
  cli_put_escaped(v);
  for (int n = (int)strlen(v); n < width; n++)
    putchar(' ');
  putchar(' ');
}

static void
print_table(const cJSON *list)
{
  if (cJSON_GetArraySize(list) == 0)
    {
      puts("no transactions");
      return;
    }
  printf("%-28s %-8s %-11s %4s %-24s %-24s %-12s %-24s %s\n", "TRANSACTION", "KIND", "STATE", "OPS",
         "CREATED", "FINISHED", "COMMIT", "EXECUTION/STEP", "REASON");
  const cJSON *t;
  cJSON_ArrayForEach(t, list)
  {
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(t, "operations");
    const char *exec = cli_json_str(t, "execution_id"), *step = cli_json_str(t, "step_id");
    const char *commit = cli_json_str(t, "git_commit");
    char short_commit[13] = "";
    char exec_step[256] = "";

    if (commit)
      snprintf(short_commit, sizeof short_commit, "%s", commit);
    if (exec || step)
      snprintf(exec_step, sizeof exec_step, "%s/%s", exec ? exec : "-", step ? step : "-");
    put_field(cli_json_str(t, "id"), 28);
    put_field(cli_json_str(t, "kind"), 8);
    put_field(cli_json_str(t, "state"), 11);
    printf("%4d ", cJSON_IsNumber(ops) ? ops->valueint : 0);
    put_field(cli_json_str(t, "created_at"), 24);
    put_field(cli_json_str(t, "finished_at"), 24);
    put_field(short_commit, 12);
    put_field(exec_step, 24);
    cli_put_escaped(cli_json_str(t, "reason") ? cli_json_str(t, "reason") : "");
    if (cli_json_str(t, "rollback_of"))
      {
        fputs(cli_json_str(t, "reason") ? " " : "", stdout);
        fputs("(rolls back ", stdout);
        cli_put_escaped(cli_json_str(t, "rollback_of"));
        putchar(')');
      }
    putchar('\n');
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
          fputs("tars: history: out of memory\n", stderr);
          return TARS_EXIT_FAILED;
        }
      puts(text);
    }
  else
    print_table(list);
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: history: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

static int
history(const char *repo, bool json, long limit)
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
  else if (tars_history_list(store, limit, &list, &err) < 0)
    return cli_fail(&err);
  ret = list ? print_list(list, json) : TARS_EXIT_FAILED;
  cJSON_Delete(list);
  return ret;
}

enum
{
  OPT_REPO = 256,
  OPT_JSON,
  OPT_LIMIT,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"repo", required_argument, NULL, OPT_REPO},
    {"json", no_argument, NULL, OPT_JSON},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {NULL, 0, NULL, 0},
};

int
cli_history(int argc, char **argv)
{
  const char *repo = ".";
  bool json = false;
  long limit = 0;
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
          return cli_usage_error("history: --repo: empty path");
        repo = optarg;
        break;
      case OPT_JSON:
        json = true;
        break;
      case OPT_LIMIT:
        {
          char *end;
          errno = 0;
          limit = strtol(optarg, &end, 10);
          if (errno || end == optarg || *end != '\0' || limit < 1)
            return cli_usage_error("history: --limit '%s': expected a positive number", optarg);
          break;
        }
      case ':':
        return cli_usage_error("history: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("history: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    return cli_usage_error("history: unexpected argument '%s'", argv[optind]);
  return history(repo, json, limit);
}
