#include "tars/error.h"

#include <stdio.h>
#include <string.h>

static int
vset(struct tars_error *err, enum tars_error_kind kind, int errnum, const char *fmt, va_list ap)
{
  if (err == NULL)
    return -1;
  err->code = errnum;
  err->kind = kind;
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  if (n < 0)
    n = 0;
  if (errnum != 0 && (size_t)n < sizeof err->msg)
    snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
  return -1;
}

int
tars_error_set(struct tars_error *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vset(err, TARS_ERR_SYSTEM, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int
tars_error_invalid(struct tars_error *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vset(err, TARS_ERR_INVALID, 0, fmt, ap);
  va_end(ap);
  return -1;
}

int
tars_error_refused(struct tars_error *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vset(err, TARS_ERR_REFUSED, 0, fmt, ap);
  va_end(ap);
  return -1;
}

int
tars_error_prefix(struct tars_error *err, const char *fmt, ...)
{
  if (err == NULL)
    return -1;
  char prefix[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char old[TARS_ERROR_MSG_MAX];
  memcpy(old, err->msg, sizeof old);
  size_t n = strlen(prefix);
  if (n > sizeof err->msg - 3)
    n = sizeof err->msg - 3;
  memcpy(err->msg, prefix, n);
  memcpy(err->msg + n, ": ", 2);
  size_t room = sizeof err->msg - n - 3;
  size_t m = strnlen(old, room);
  memcpy(err->msg + n + 2, old, m);
  err->msg[n + 2 + m] = '\0';
  return -1;
}

void
tars_error_clear(struct tars_error *err)
{
  if (err)
    {
      err->code = 0;
      err->kind = TARS_ERR_SYSTEM;
      err->msg[0] = '\0';
    }
}
