/* tars validate DIR [--repo R] [--json] [--execution ID] [--step ID] [--step-config FILE]
 * [--no-cache]: build and test a changeset in sandboxes against the baseline, and decide.  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"
#include "tars/cleanup.h"
#include "apply/txn.h"
#include "validate/validator.h"

static const char usage_text[] =
    "usage: tars validate DIR [--repo R] [--json] [--execution ID] [--step ID]\n"
    "                         [--step-config FILE] [--no-cache] [--allow-failed]\n"
    "\n"
    "Decide whether the changeset in DIR may be applied to the repository R: R is snapshotted\n"
    "(into R/.tars/snapshots/), the changeset is stacked on the snapshot as an overlay layer, and\n"
    "in sandboxes without network the changed files' syntax is checked, the project is built\n"
    "and its tests are run.  The results are compared with the same build and tests on the\n"
    "unchanged snapshot (the baseline, cached per snapshot): a test that passed there and fails\n"
    "with the change rejects it; tests that already failed do not; a test that flips when run\n"
    "again is reported as flaky.  Quality gates: the apply policy, forbidden paths, diff size,\n"
    "fewer tests executed than the baseline, new compiler warnings (when enabled).  The report\n"
    "is stored in R's store and audit trail.  R itself is never written (only R/.tars/).\n"
    "\n"
    "The toolchain (cmake, make, meson, cargo, go, npm, yarn, pytest, unittest, dotnet) is\n"
    "detected from R's files; the \"validate\" object of R/.tars/config.json or R/tars.json\n"
    "overrides it (docs/validation.md).\n"
    "\n"
    "options:\n"
    "  --repo R             the repository (default: the current directory)\n"
    "  --json               print the report as JSON\n"
    "  --execution ID       the execution this change belongs to (recorded)\n"
    "  --step ID            the step this change belongs to (recorded)\n"
    "  --step-config FILE   a JSON \"validate\" object of the step, merged over R's config\n"
    "  --no-cache           run the baseline again even when one is cached\n"
    "  --allow-failed       validate a changeset whose command failed (refused by default)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 accepted; 1 rejected (every reason is printed); 2 bad usage, a malformed\n"
    "changeset, or a bad configuration (unknown toolchain, a command that does not exist,\n"
    "malformed JSON, no toolchain detected).\n";

enum
{
  OPT_REPO = 256,
  OPT_JSON,
  OPT_EXECUTION,
  OPT_STEP,
  OPT_STEP_CONFIG,
  OPT_NO_CACHE,
  OPT_ALLOW_FAILED,
};

static const struct option long_options[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"json", no_argument, NULL, OPT_JSON},
    {"execution", required_argument, NULL, OPT_EXECUTION},
    {"step", required_argument, NULL, OPT_STEP},
    {"step-config", required_argument, NULL, OPT_STEP_CONFIG},
    {"no-cache", no_argument, NULL, OPT_NO_CACHE},
    {"allow-failed", no_argument, NULL, OPT_ALLOW_FAILED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void
show_progress(const char *what, void *arg)
{
  (void)arg;
  fprintf(stderr, "tars: validate: %s\n", what);
}

/* Read FILE, a JSON object (the step's "validate" object).  */
static int
read_step_config(const char *file, cJSON **out)
{
  cleanup_fclose FILE *f = fopen(file, "re");
  if (f == NULL)
    {
      fprintf(stderr, "tars: validate: --step-config %s: %s\n", file, strerror(errno));
      return TARS_EXIT_USAGE;
    }
  char buf[65536];
  size_t n = fread(buf, 1, sizeof buf, f);
  if (n == sizeof buf)
    {
      fprintf(stderr, "tars: validate: --step-config %s: larger than 64 KiB\n", file);
      return TARS_EXIT_USAGE;
    }
  *out = cJSON_ParseWithLength(buf, n);
  if (*out == NULL || !cJSON_IsObject(*out))
    {
      fprintf(stderr, "tars: validate: --step-config %s: not a JSON object\n", file);
      return TARS_EXIT_USAGE;
    }
  return TARS_EXIT_OK;
}

int
cli_validate(int argc, char **argv)
{
  const char *repo = ".", *dir = NULL, *execution = NULL, *step = NULL, *step_config = NULL;
  bool json = false, no_cache = false, allow_failed = false;
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
      case OPT_STEP_CONFIG:
        step_config = optarg;
        break;
      case OPT_NO_CACHE:
        no_cache = true;
        break;
      case OPT_ALLOW_FAILED:
        allow_failed = true;
        break;
      case ':':
        return cli_usage_error("validate: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("validate: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    dir = argv[optind++];
  if (optind < argc)
    return cli_usage_error("validate: unexpected argument '%s'", argv[optind]);
  if (dir == NULL || dir[0] == '\0')
    return cli_usage_error("validate: missing DIR, the changeset directory");
  if (repo[0] == '\0')
    return cli_usage_error("validate: --repo needs a path");
  if ((execution && (execution[0] == '\0' || strlen(execution) >= TARS_ID_MAX)) ||
      (step && (step[0] == '\0' || strlen(step) >= TARS_ID_MAX)))
    return cli_usage_error("validate: --execution and --step take an id of 1 to %d characters",
                           TARS_ID_MAX - 1);
  cleanup_cjson cJSON *step_json = NULL;
  if (step_config)
    {
      int r = read_step_config(step_config, &step_json);
      if (r != TARS_EXIT_OK)
        return r;
    }

  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    {
      fprintf(stderr, "tars: validate: changeset %s: %s\n", dir, strerror(errno));
      return TARS_EXIT_USAGE;
    }
  cleanup_store struct tars_store *store = NULL;
  int r = cli_open_store(repo, true, &store);
  if (r != TARS_EXIT_OK)
    return r;

  struct tars_validate_opts o = {
      .changeset = dir,
      .execution_id = execution,
      .step_id = step,
      .step_config = step_json,
      .no_cache = no_cache,
      .allow_failed_command = allow_failed,
      .progress = isatty(STDERR_FILENO) ? show_progress : NULL,
  };
  struct tars_error err = {0};
  cleanup_cjson cJSON *report = NULL;
  bool accepted = false;
  if (tars_validate(store, dfd, &o, &report, &accepted, &err) < 0)
    {
      if (err.kind == TARS_ERR_REFUSED)
        err.kind = TARS_ERR_INVALID;
      return cli_fail(&err);
    }
  const cJSON *note;
  cJSON_ArrayForEach(note, cJSON_GetObjectItemCaseSensitive(report, "notes"))
  {
    fprintf(stderr, "tars: notice: %s\n", cJSON_GetStringValue(note));
  }
  if (json)
    {
      cleanup_free char *text = cJSON_Print(report);
      if (text == NULL)
        return TARS_EXIT_FAILED;
      puts(text);
    }
  else
    {
      cleanup_free char *text = tars_validate_report_text(report);
      /* Outputs in the report are trimmed and cleaned already; escape anything else that is a
       * control character, keeping lines and tabs.  */
      for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
          printf("\\x%02x", *p);
        else
          putchar(*p);
    }
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return accepted ? TARS_EXIT_OK : TARS_EXIT_FAILED;
}
