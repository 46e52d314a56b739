#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

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
