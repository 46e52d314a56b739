/* tars runtime: error reporting.
 *
 * Every function that can fail returns a negative value and fills a struct tars_error with the
 * errno (0 when the failure is not a system error) and a message naming the operation and the
 * path.  The library never prints and never exits.  */
#ifndef TARS_ERROR_H
#define TARS_ERROR_H

#include <stdarg.h>

#define TARS_ERROR_MSG_MAX 1024

/* Kinds of failure, so that the CLI can map them to exit codes: bad input (2) or failed work
 * (1).  */
enum tars_error_kind
{
  TARS_ERR_SYSTEM = 0, /* a system call failed */
  TARS_ERR_INVALID,    /* bad input: a spec, an argument, a file's content */
  TARS_ERR_REFUSED,    /* the input is well-formed but breaks a rule (unsafe content) */
};

struct tars_error
{
  int code; /* errno, or 0 */
  enum tars_error_kind kind;
  char msg[TARS_ERROR_MSG_MAX];
};

/* Fill ERR (if not NULL) and return -1.  When ERRNUM is not 0, ": strerror(ERRNUM)" is appended. */
int tars_error_set(struct tars_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with the kind TARS_ERR_INVALID.  */
int tars_error_invalid(struct tars_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, with the kind TARS_ERR_REFUSED.  */
int tars_error_refused(struct tars_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepend "PREFIX: " to ERR's message, keeping code and kind.  Returns -1.  */
int tars_error_prefix(struct tars_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tars_error_clear(struct tars_error *err);

#endif
