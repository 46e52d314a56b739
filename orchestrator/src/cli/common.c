#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"
#include "apply/txn.h"
#include "tars/cleanup.h"

int
cli_fail(const struct tars_error *err)
{
  fprintf(stderr, "tars: %s\n", err->msg[0] ? err->msg : "unknown error");
  return err->kind == TARS_ERR_INVALID ? TARS_EXIT_USAGE : TARS_EXIT_FAILED;
}

int
cli_usage_error(const char *fmt, ...)
{
  va_list ap;
  fputs("tars: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n(see --help)\n", stderr);
  return TARS_EXIT_USAGE;
}

bool
cli_is_help(const char *arg)
{
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void
cli_put_escaped(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      printf("\\x%02x", *p);
    else
      putchar(*p);
}

const char *
cli_json_str(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
cli_open_store(const char *repo, bool create, struct tars_store **store)
{
  struct tars_error err = {0};
  int n_recovered = 0;
  *store = NULL;
  if (tars_store_open(repo, create, store, &err) < 0)
    return !create && tars_store_error_is_absent(&err) ? TARS_EXIT_OK : cli_fail(&err);
  if (tars_txn_recover(*store, &n_recovered, &err) < 0)
    {
      tars_store_close(*store);
      *store = NULL;
      return cli_fail(&err);
    }
  if (n_recovered > 0)
    fprintf(stderr, "tars: recovered %d interrupted transaction%s\n", n_recovered,
            n_recovered == 1 ? "" : "s");
  return TARS_EXIT_OK;
}

void
cli_store_closep(struct tars_store **store)
{
  if (*store)
    tars_store_close(*store);
}

/* ----- plans, for tars plan and tars run ----- */

static int
print_problems(const struct tars_plan_problems *problems, const struct tars_error *err)
{
  if (problems->n == 0)
    return cli_fail(err);
  for (size_t i = 0; i < problems->n; i++)
    {
      fputs("tars: ", stderr);
      fputs(problems->v[i], stderr);
      fputc('\n', stderr);
    }
  if (problems->dropped)
    fprintf(stderr, "tars: ... and %zu more problems\n", problems->dropped);
  return err->kind == TARS_ERR_INVALID ? TARS_EXIT_USAGE : TARS_EXIT_FAILED;
}

int
cli_read_plan(const char *cmd, const char *file, struct tars_plan *plan,
              enum tars_plan_source *source)
{
  struct tars_error err = {0};
  cleanup_close int fd = strcmp(file, "-") == 0 ? dup(0) : open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      fprintf(stderr, "tars: %s: %s: %s\n", cmd, file, strerror(errno));
      return TARS_EXIT_USAGE;
    }
  const char *where = strcmp(file, "-") == 0 ? "(stdin)" : file;
  cleanup_free char *text = NULL;
  size_t len;
  if (tars_plan_read_fd(fd, where, &text, &len, &err) < 0)
    return cli_fail(&err);
  struct tars_plan_problems problems = {0};
  int r = tars_plan_load(text, len, where, plan, source, &problems, &err);
  int status = r < 0 ? print_problems(&problems, &err) : TARS_EXIT_OK;
  tars_plan_problems_free(&problems);
  return status;
}

int
cli_todos_plan(const char *repo, enum tars_todo_group group, struct tars_plan *plan)
{
  struct tars_error err = {0};
  cleanup_analysis struct tars_analysis a = {0};
  struct tars_analyze_options opts = {0};
  if (tars_analyze(repo, &opts, &a, &err) < 0)
    return cli_fail(&err);
  if (a.ctags_note)
    fprintf(stderr, "tars: notice: %s\n", a.ctags_note);
  if (tars_plan_from_todos(&a, group, plan, &err) < 0)
    return cli_fail(&err);
  return TARS_EXIT_OK;
}
