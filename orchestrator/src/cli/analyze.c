/* tars analyze [--repo R] [--format text|json|sarif] [--json] [--no-context]: the TODO, FIXME
 * and XXX comments of a repository, with the function each is in.  */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "plan/analyze.h"
#include "tars/cleanup.h"

static const char usage_text[] =
    "usage: tars analyze [--repo R] [--format text|json|sarif] [--json] [--no-context]\n"
    "                    [--ctags PROGRAM]\n"
    "\n"
    "Find the TODO, FIXME and XXX markers in R's comments (never in strings, raw strings,\n"
    "heredocs or URLs), with the function each is in.  In a git work tree the files git would\n"
    "list (ignored files skipped); vendored directories (vendor/, third_party/, node_modules/\n"
    "...), generated and minified files, binary files and symlinks are skipped and listed.\n"
    "The enclosing function comes from universal-ctags, run once in a sandbox; when it is\n"
    "missing, the output says so for each finding.\n"
    "\n"
    "options:\n"
    "  --repo R         the directory to scan (default: the current directory)\n"
    "  --format FORMAT  text (default), json, or sarif (SARIF 2.1.0)\n"
    "  --json           the same as --format json\n"
    "  --no-context     do not run ctags (no enclosing functions)\n"
    "  --ctags PROGRAM  the universal-ctags to run (default: ctags on the sandbox's PATH)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 scanned (whether or not anything was found); 1 the scan failed;\n"
    "2 bad usage, or R is not a directory.\n"
    "See docs/analyzer.md.\n";

enum
{
  OPT_REPO = 256,
  OPT_FORMAT,
  OPT_JSON,
  OPT_NO_CONTEXT,
  OPT_CTAGS,
};

enum format
{
  FORMAT_TEXT,
  FORMAT_JSON,
  FORMAT_SARIF,
};

static void
print_text(const struct tars_analysis *a)
{
  size_t files = 0;
  for (size_t i = 0; i < a->n_findings; i++)
    {
      const struct tars_finding *f = &a->findings[i];
      if (i == 0 || strcmp(f->file, a->findings[i - 1].file) != 0)
        files++;
      cli_put_escaped(f->file);
      printf(":%u:%u: %s%s", f->line, f->column, tars_marker_name(f->marker), *f->text ? ": " : "");
      cli_put_escaped(f->text);
      if (f->context == TARS_CONTEXT_FUNCTION)
        {
          printf("  [in ");
          cli_put_escaped(f->function);
          printf(", lines %u-%u]", f->function_start, f->function_end);
        }
      else if (f->context == TARS_CONTEXT_FILE)
        printf("  [file scope]");
      else
        {
          printf("  [no context: ");
          cli_put_escaped(f->context_note ? f->context_note : "unknown");
          printf("]");
        }
      putchar('\n');
    }
  size_t counts[TARS_SKIP_UNREADABLE + 1] = {0};
  for (size_t i = 0; i < a->n_skipped; i++)
    counts[a->skipped[i].reason]++;
  printf("%zu finding%s in %zu file%s; %zu file%s scanned", a->n_findings,
         a->n_findings == 1 ? "" : "s", files, files == 1 ? "" : "s", a->files,
         a->files == 1 ? "" : "s");
  if (a->dropped)
    printf("; %zu more findings not kept", a->dropped);
  bool any = false;
  for (int r = 0; r <= TARS_SKIP_UNREADABLE; r++)
    if (counts[r])
      {
        printf("%s%zu %s", any ? ", " : "; skipped: ", counts[r],
               tars_skip_reason_name((enum tars_skip_reason)r));
        any = true;
      }
  putchar('\n');
  for (size_t i = 0; i < a->n_skipped; i++)
    if (a->skipped[i].reason == TARS_SKIP_UNREADABLE)
      {
        printf("unreadable: ");
        cli_put_escaped(a->skipped[i].note ? a->skipped[i].note : a->skipped[i].path);
        putchar('\n');
      }
}

int
cli_analyze(int argc, char **argv)
{
  static const struct option options[] = {
      {"repo", required_argument, NULL, OPT_REPO},
      {"format", required_argument, NULL, OPT_FORMAT},
      {"json", no_argument, NULL, OPT_JSON},
      {"no-context", no_argument, NULL, OPT_NO_CONTEXT},
      {"ctags", required_argument, NULL, OPT_CTAGS},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *repo = ".";
  enum format format = FORMAT_TEXT;
  struct tars_analyze_options opts = {0};

  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1)
    switch (c)
      {
      case OPT_REPO:
        repo = optarg;
        break;
      case OPT_FORMAT:
        if (strcmp(optarg, "text") == 0)
          format = FORMAT_TEXT;
        else if (strcmp(optarg, "json") == 0)
          format = FORMAT_JSON;
        else if (strcmp(optarg, "sarif") == 0)
          format = FORMAT_SARIF;
        else
          return cli_usage_error("analyze: --format: '%s' is not text, json or sarif", optarg);
        break;
      case OPT_JSON:
        format = FORMAT_JSON;
        break;
      case OPT_NO_CONTEXT:
        opts.no_context = true;
        break;
      case OPT_CTAGS:
        if (!*optarg)
          return cli_usage_error("analyze: --ctags: an empty program");
        opts.ctags = optarg;
        break;
      case 'h':
        fputs(usage_text, stdout);
        return TARS_EXIT_OK;
      default:
        return cli_usage_error("analyze: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    return cli_usage_error("analyze: unexpected argument '%s'", argv[optind]);
  if (!*repo)
    return cli_usage_error("analyze: --repo: an empty path");

  struct tars_error err = {0};
  cleanup_analysis struct tars_analysis a = {0};
  if (tars_analyze(repo, &opts, &a, &err) < 0)
    return cli_fail(&err);
  if (format == FORMAT_TEXT)
    print_text(&a);
  else
    {
      cleanup_cjson cJSON *j =
          format == FORMAT_JSON ? tars_analysis_to_json(&a) : tars_analysis_to_sarif(&a);
      cleanup_free char *text = j ? cJSON_Print(j) : NULL;
      if (text == NULL)
        {
          fprintf(stderr, "tars: analyze: out of memory writing the report\n");
          return TARS_EXIT_FAILED;
        }
      puts(text);
    }
  if (a.ctags_note && format == FORMAT_TEXT)
    fprintf(stderr, "tars: notice: %s\n", a.ctags_note);
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: analyze: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}
