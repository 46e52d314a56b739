#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"
#include "apply/txn.h"

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
