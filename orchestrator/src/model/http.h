/* One HTTP request to a model server, through libcurl.
 *
 * libcurl is loaded with dlopen on first use (tars_http_load), as apply/git.c loads libgit2: it
 * and the TLS, compression and IDN libraries it brings would be mapped and relocated at every
 * start of tars, and sandbox start-up is measured.  The functions used are resolved once into a
 * table typed from <curl/curl.h>.
 *
 * What is set on every request: only http and https, no redirects followed (a redirect would
 * carry the key elsewhere), CURLOPT_NOSIGNAL (libcurl must not use signals, so timeouts work
 * without SIGALRM and the caller's handlers are left alone; SIGPIPE is the caller's to ignore),
 * the three time limits, no "Expect: 100-continue".  Proxies are libcurl's usual environment
 * variables.  */
#ifndef TARS_MODEL_HTTP_H
#define TARS_MODEL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "tars/error.h"

struct tars_http_request
{
  const char *method; /* "GET" or "POST" */
  const char *url;
  const char *body; /* POST */
  size_t body_len;
  const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
  long connect_timeout_ms;    /* establishing the connection */
  long timeout_ms;            /* the whole request */
  long idle_timeout_ms;       /* once the body has started, nothing more for this long; the
                                 time before its first byte (a model reading a long prompt)
                                 is timeout_ms's alone.  Checked about once a second */
  /* The body of a 2xx response, as it arrives; returning false stops the transfer
   * (TARS_HTTP_ABORTED).  NULL: the body is collected into the result.  The body of any other
   * status is always collected.  */
  bool (*on_data)(void *ctx, const char *data, size_t len);
  void *ctx;
  size_t max_body; /* the most collected; more is TARS_HTTP_TOO_LARGE; 0: 16 MiB */
};

enum tars_http_failure
{
  TARS_HTTP_OK = 0,    /* a response arrived whole (whatever its status) */
  TARS_HTTP_CONNECT,   /* no connection: refused, unreachable, name not resolved, timed out */
  TARS_HTTP_TIMEOUT,   /* timeout_ms passed */
  TARS_HTTP_IDLE,      /* the body stopped coming for idle_timeout_ms */
  TARS_HTTP_PARTIAL,   /* the connection broke or closed before the response's end */
  TARS_HTTP_ABORTED,   /* on_data asked to stop */
  TARS_HTTP_TOO_LARGE, /* a collected body was larger than max_body */
  TARS_HTTP_OTHER,     /* anything else libcurl reports (TLS, a malformed response...) */
};

struct tars_http_result
{
  enum tars_http_failure failure;
  long status;        /* the HTTP status, 0 when none arrived */
  long retry_after_s; /* the Retry-After header in seconds (libcurl reads both forms), or 0 */
  char *body;         /* collected body, NUL-terminated (also when empty), or NULL */
  size_t body_len;
  long elapsed_ms;
  char detail[256]; /* libcurl's message for a failure */
};

/* Perform REQ.  Returns 0 when the request was made, whatever became of it (RES->failure and
 * RES->status say); -1 when it could not be made: libcurl missing ("the model clients need
 * libcurl (libcurl.so.4, Debian package libcurl4): <dlerror>"), out of memory, an option
 * libcurl refused.  */
int tars_http_perform(const struct tars_http_request *req, struct tars_http_result *res,
                      struct tars_error *err);
void tars_http_result_free(struct tars_http_result *res);

/* Load and initialise libcurl, once per process; a failed load is not remembered.  Called by
 * tars_http_perform; public so that a process that forks per request (the gateway) loads it once
 * before forking, and so that a command can fail early.  Starts no thread.  */
int tars_http_load(struct tars_error *err);
/* For tests: the soname to load (NULL: the one found at build time).  Returns -1 with errno
 * EBUSY once loaded.  */
int tars_http_set_library(const char *soname);

#endif
