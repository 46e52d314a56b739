/* tars apply DIR [--repo R] [--json] [--execution ID] [--step ID] [--git-commit|--no-git-commit]:
 * write a changeset to the repository as one crash-safe transaction.  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "apply/git.h"
#include "store/store.h"
#include "tars/cleanup.h"
#include "apply/txn.h"

static const char usage_text[] =
    "usage: tars apply DIR [--repo R] [--json] [--execution ID] [--step ID]\n"
    "                      [--git-commit | --no-git-commit] [--allow-failed]\n"
    "\n"
    "Apply the changeset in DIR (as written by tars sandbox run --changes-out DIR) to the\n"
    "repository R as one transaction: the safety policy and the conflict check first (a refusal\n"
    "writes nothing), then journal, pre-images in R/.tars/backups/, new contents beside their\n"
    "targets, renames, and the commit point.  A crash or a kill at any moment leaves R exactly\n"
    "as before or exactly as after; the next tars command finishes the recovery.  In a git work\n"
    "tree the touched paths are committed (and nothing else).\n"
    "\n"
    "options:\n"
    "  --repo R          the repository (default: the current directory)\n"
    "  --json            print the result as JSON\n"
    "  --execution ID    the execution this change belongs to (recorded, named in the commit)\n"
    "  --step ID         the step this change belongs to (likewise)\n"
    "  --git-commit      commit in git (an error when R is not a git work tree)\n"
    "  --no-git-commit   do not commit in git\n"
    "                    (default: commit when R is a git work tree)\n"
    "  --allow-failed    accept a changeset whose command failed (by default its manifest's\n"
    "                    exit_status above 0 is a refusal)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 applied; 1 refused by the policy, a conflict, or a failure (every reason is\n"
    "printed, one per line, naming the path); 2 bad usage, a malformed changeset or a bad\n"
    "repository.\n";

enum
{
  OPT_REPO = 256,
  OPT_JSON,
  OPT_EXECUTION,
  OPT_STEP,
  OPT_GIT,
  OPT_NO_GIT,
  OPT_ALLOW_FAILED,
};

static const struct option long_options[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"json", no_argument, NULL, OPT_JSON},
    {"execution", required_argument, NULL, OPT_EXECUTION},
    {"step", required_argument, NULL, OPT_STEP},
    {"git-commit", no_argument, NULL, OPT_GIT},
    {"no-git-commit", no_argument, NULL, OPT_NO_GIT},
    {"allow-failed", no_argument, NULL, OPT_ALLOW_FAILED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Paths and reasons may come from a hostile changeset: no control character reaches the
 * terminal.  */
static void
put_escaped(FILE *f, const char *s)
{
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\x%02x", *p);
    else
      fputc(*p, f);
}

static const char *
field(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Every reason of a refusal, a conflict or a drift, one per line: "tars: LABEL: PATH: REASON".  */
static void
print_report(const cJSON *report)
{
  static const struct
  {
    const char *key, *label;
  } kinds[] = {{"refused", "refused"}, {"conflicts", "conflict"}, {"drift", "drift"}};
  for (size_t k = 0; report && k < sizeof kinds / sizeof kinds[0]; k++)
    {
      const cJSON *e;
      cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(report, kinds[k].key))
      {
        fprintf(stderr, "tars: %s: ", kinds[k].label);
        put_escaped(stderr, field(e, "path"));
        fputs(": ", stderr);
        put_escaped(stderr, field(e, "reason"));
        if (field(e, "expected") || field(e, "found"))
          {
            fputs(" (expected ", stderr);
            put_escaped(stderr, field(e, "expected") ? field(e, "expected") : "?");
            fputs(", found ", stderr);
            put_escaped(stderr, field(e, "found") ? field(e, "found") : "?");
            fputc(')', stderr);
          }
        fputc('\n', stderr);
      }
    }
  const char *git = report ? field(report, "git_error") : NULL;
  if (git)
    {
      fputs("tars: warning: the transaction is applied, but the git commit failed: ", stderr);
      put_escaped(stderr, git);
      fputc('\n', stderr);
    }
}

static int
print_json(const char *status, const struct tars_txn_result *res, const struct tars_error *err)
{
  cleanup_free char *text = NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", status);
  if (res->txn_id[0])
    cJSON_AddStringToObject(o, "transaction", res->txn_id);
  if (err == NULL)
    {
      cJSON_AddNumberToObject(o, "operations", res->n_ops);
      if (res->git_commit[0])
        cJSON_AddStringToObject(o, "git_commit", res->git_commit);
      else
        cJSON_AddNullToObject(o, "git_commit");
    }
  else
    cJSON_AddStringToObject(o, "error", err->msg);
  const cJSON *e;
  cJSON_ArrayForEach(e, res->report)
  {
    cJSON_AddItemToObject(o, e->string, cJSON_Duplicate(e, true));
  }
  text = cJSON_Print(o);
  cJSON_Delete(o);
  if (text == NULL)
    return -1;
  puts(text);
  return 0;
}

static void
cli_actor(char *out, size_t len)
{
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_name[0])
    snprintf(out, len, "cli:%s", pw->pw_name);
  else
    snprintf(out, len, "cli:%u", (unsigned)getuid());
}

int
cli_txn_report(const char *verb, int r, bool json, const struct tars_txn_result *res,
               const struct tars_error *err)
{
  print_report(res->report);
  if (r < 0)
    {
      const char *status = err->kind == TARS_ERR_INVALID   ? "invalid"
                           : err->kind == TARS_ERR_REFUSED ? "refused"
                                                           : "failed";
      if (json)
        print_json(status, res, err);
      return cli_fail(err);
    }
  if (json)
    print_json(verb, res, NULL);
  else
    {
      printf("%s %s: %u operation%s", verb, res->txn_id, res->n_ops, res->n_ops == 1 ? "" : "s");
      if (res->git_commit[0])
        printf(", git commit %.12s", res->git_commit);
      putchar('\n');
    }
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

int
cli_apply(int argc, char **argv)
{
  const char *repo = ".", *dir = NULL, *execution = NULL, *step = NULL;
  bool json = false, allow_failed = false;
  int git = -1; /* -1: when the repo is a git work tree */
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
      case OPT_EXECUTION:
        execution = optarg;
        break;
      case OPT_STEP:
        step = optarg;
        break;
      case OPT_GIT:
        git = 1;
        break;
      case OPT_NO_GIT:
        git = 0;
        break;
      case OPT_ALLOW_FAILED:
        allow_failed = true;
        break;
      case ':':
        return cli_usage_error("apply: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("apply: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    dir = argv[optind++];
  if (optind < argc)
    return cli_usage_error("apply: unexpected argument '%s'", argv[optind]);
  if (dir == NULL || dir[0] == '\0')
    return cli_usage_error("apply: missing DIR, the changeset directory");
  if (repo[0] == '\0')
    return cli_usage_error("apply: --repo needs a path");
  if ((execution && (execution[0] == '\0' || strlen(execution) >= TARS_ID_MAX)) ||
      (step && (step[0] == '\0' || strlen(step) >= TARS_ID_MAX)))
    return cli_usage_error("apply: --execution and --step take an id of 1 to %d characters",
                           TARS_ID_MAX - 1);

  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    {
      fprintf(stderr, "tars: apply: changeset %s: %s\n", dir, strerror(errno));
      return TARS_EXIT_USAGE;
    }

  struct tars_error err = {0};
  cleanup_store struct tars_store *store = NULL;
  int r = cli_open_store(repo, true, &store);
  if (r != TARS_EXIT_OK)
    return r;
  if (git == 1)
    {
      int is = tars_git_is_repo(tars_store_repo_path(store), &err);
      if (is < 0)
        return cli_fail(&err);
      if (is == 0)
        return cli_usage_error("apply: --git-commit: %s is not a git work tree",
                               tars_store_repo_path(store));
    }

  char actor[300];
  cli_actor(actor, sizeof actor);
  struct tars_apply_opts opts = {
      .execution_id = execution,
      .step_id = step,
      .actor = actor,
      .policy = NULL,
      .git_commit = git != 0,
      .allow_failed_command = allow_failed,
  };
  struct tars_txn_result res = {0};
  r = tars_txn_apply(store, dfd, &opts, &res, &err);
  if (r < 0 && err.kind != TARS_ERR_REFUSED && err.kind != TARS_ERR_INVALID)
    tars_error_prefix(&err, "apply %s", dir);
  int rc = cli_txn_report("applied", r, json, &res, &err);
  tars_txn_result_free(&res);
  return rc;
}
