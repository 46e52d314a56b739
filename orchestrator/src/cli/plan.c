/* tars plan (--plan FILE | --todos) [--repo R] [--group todo|file] [--json] [--out FILE]: read
 * and check an execution plan or an improvement plan, or make one from the repository's TODOs,
 * and print it with the order its steps run in.  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plan/analyze.h"
#include "plan/improvement.h"
#include "plan/plan.h"
#include "plan/todos.h"
#include "tars/cleanup.h"

static const char usage_text[] =
    "usage: tars plan --plan FILE [--json] [--out FILE]\n"
    "       tars plan --todos [--repo R] [--group todo|file] [--json] [--out FILE]\n"
    "\n"
    "Check a plan and print it with the order its steps run in.\n"
    "\n"
    "--plan FILE reads an execution plan (a JSON object with \"steps\") or an improvement\n"
    "plan (an object with \"improvements\", or an array of improvements), which becomes an\n"
    "execution plan of one step per improvement.  FILE \"-\" is standard input.  Every problem\n"
    "is printed, each naming the step and the field; nothing is run.\n"
    "\n"
    "--todos scans R for TODO, FIXME and XXX comments (as tars analyze does) and makes a plan\n"
    "of edit steps for the coder: one step per TODO, TODOs in one function together; with\n"
    "--group file, one step per file.\n"
    "\n"
    "options:\n"
    "  --plan FILE         the plan to read\n"
    "  --todos             make a plan from R's TODOs\n"
    "  --repo R            the repository (--todos; default: the current directory)\n"
    "  --group todo|file   how TODOs are grouped into steps (default: todo)\n"
    "  --json              print the plan as JSON instead of its order\n"
    "  --out FILE          also write the plan as JSON to FILE\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit status: 0 the plan is valid; 1 it could not be made or written (the scan failed);\n"
    "2 bad usage or a bad plan.\n"
    "See docs/plan-format.md for the format.\n";

enum
{
  OPT_PLAN = 256,
  OPT_TODOS,
  OPT_REPO,
  OPT_GROUP,
  OPT_JSON,
  OPT_OUT,
};

static void
put_cell(const char *s, int width)
{
  size_t n = strlen(s);
  cli_put_escaped(s);
  for (int i = (int)n; i < width; i++)
    putchar(' ');
}

static void
print_order(const struct tars_plan *plan, const size_t *order, const char *source)
{
  printf("plan %s: ", plan->id);
  cli_put_escaped(plan->name);
  printf(" (%zu step%s%s)\n", plan->n_steps, plan->n_steps == 1 ? "" : "s", source);
  int id_w = 2, type_w = 4;
  for (size_t i = 0; i < plan->n_steps; i++)
    {
      int n = (int)strlen(plan->steps[i].id);
      if (n > id_w)
        id_w = n;
      n = (int)strlen(tars_step_type_name(plan->steps[i].type));
      if (n > type_w)
        type_w = n;
    }
  if (id_w > 40)
    id_w = 40;
  printf("%5s  ", "#");
  put_cell("id", id_w);
  printf("  ");
  put_cell("type", type_w);
  printf("  priority  depends on / name\n");
  for (size_t k = 0; k < plan->n_steps; k++)
    {
      const struct tars_step *s = &plan->steps[order[k]];
      printf("%5zu  ", k + 1);
      put_cell(s->id, id_w);
      printf("  ");
      put_cell(tars_step_type_name(s->type), type_w);
      printf("  %-8g  ", s->priority);
      if (s->n_dependencies == 0)
        printf("-");
      for (size_t d = 0; d < s->n_dependencies; d++)
        {
          printf("%s", d ? "," : "");
          cli_put_escaped(s->dependencies[d]);
        }
      printf(" / ");
      cli_put_escaped(s->name);
      if (s->status != TARS_STEP_PENDING)
        printf(" [%s]", tars_step_status_name(s->status));
      putchar('\n');
    }
}

static int
write_out(const char *path, const char *text)
{
  cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fprintf(stderr, "tars: plan: %s: %s\n", path, strerror(errno));
      return TARS_EXIT_FAILED;
    }
  size_t len = strlen(text), off = 0;
  while (off < len)
    {
      ssize_t w = write(fd, text + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          fprintf(stderr, "tars: plan: write %s: %s\n", path, strerror(errno));
          return TARS_EXIT_FAILED;
        }
      off += (size_t)w;
    }
  if (write(fd, "\n", 1) != 1 || close(steal_fd(&fd)) < 0)
    {
      fprintf(stderr, "tars: plan: write %s: %s\n", path, strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

int
cli_plan(int argc, char **argv)
{
  static const struct option options[] = {
      {"plan", required_argument, NULL, OPT_PLAN},
      {"todos", no_argument, NULL, OPT_TODOS},
      {"repo", required_argument, NULL, OPT_REPO},
      {"group", required_argument, NULL, OPT_GROUP},
      {"json", no_argument, NULL, OPT_JSON},
      {"out", required_argument, NULL, OPT_OUT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *file = NULL, *repo = NULL, *out = NULL;
  bool todos = false, json = false, group_given = false;
  enum tars_todo_group group = TARS_TODO_GROUP_TODO;

  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1)
    switch (c)
      {
      case OPT_PLAN:
        file = optarg;
        break;
      case OPT_TODOS:
        todos = true;
        break;
      case OPT_REPO:
        repo = optarg;
        break;
      case OPT_GROUP:
        group_given = true;
        if (strcmp(optarg, "todo") == 0)
          group = TARS_TODO_GROUP_TODO;
        else if (strcmp(optarg, "file") == 0)
          group = TARS_TODO_GROUP_FILE;
        else
          return cli_usage_error("plan: --group: '%s' is not todo or file", optarg);
        break;
      case OPT_JSON:
        json = true;
        break;
      case OPT_OUT:
        out = optarg;
        break;
      case 'h':
        fputs(usage_text, stdout);
        return TARS_EXIT_OK;
      default:
        return cli_usage_error("plan: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    return cli_usage_error("plan: unexpected argument '%s'", argv[optind]);
  if ((file != NULL) == todos)
    return cli_usage_error("plan: give either --plan FILE or --todos");
  if (file && (repo || group_given))
    return cli_usage_error("plan: %s goes with --todos, not --plan", repo ? "--repo" : "--group");
  if ((file && !*file) || (repo && !*repo) || (out && !*out))
    return cli_usage_error("plan: an empty path");

  cleanup_plan struct tars_plan plan = {0};
  enum tars_plan_source source = TARS_PLAN_SOURCE_STEPS;
  int status = file ? cli_read_plan("plan", file, &plan, &source)
                    : cli_todos_plan(repo ? repo : ".", group, &plan);
  if (status != TARS_EXIT_OK)
    return status;

  struct tars_error err = {0};
  cleanup_free size_t *order = malloc(plan.n_steps * sizeof *order);
  if (order == NULL)
    return cli_fail(&(struct tars_error){.code = ENOMEM, .msg = "out of memory"});
  if (tars_plan_order(&plan, order, &err) < 0)
    return cli_fail(&err);
  cleanup_free char *text = NULL;
  if (json || out)
    {
      text = tars_plan_to_string(&plan, true, &err);
      if (text == NULL)
        return cli_fail(&err);
    }
  if (out && (status = write_out(out, text)) != TARS_EXIT_OK)
    return status;
  if (json)
    puts(text);
  else
    print_order(&plan, order,
                source == TARS_PLAN_SOURCE_IMPROVEMENTS ? ", from an improvement plan"
                : todos                                 ? ", from TODOs"
                                                        : "");
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: plan: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}
