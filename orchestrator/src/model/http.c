/* HTTP through libcurl loaded with dlopen (see http.h).  */
#define CURL_DISABLE_TYPECHECK
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "model/http.h"
#include "tars/cleanup.h"

#define DEFAULT_MAX_BODY (16u << 20)

/* Every libcurl function http.c calls.  A direct call to one not listed here fails at link time,
 * since nothing links libcurl.  */
#define TARS_CURL_FUNCTIONS(X)                                                                     \
  X(curl_global_init)                                                                              \
  X(curl_easy_init)                                                                                \
  X(curl_easy_setopt)                                                                              \
  X(curl_easy_perform)                                                                             \
  X(curl_easy_getinfo)                                                                             \
  X(curl_easy_cleanup)                                                                             \
  X(curl_easy_strerror)                                                                            \
  X(curl_slist_append)                                                                             \
  X(curl_slist_free_all)

#define DECLARE_POINTER(name) static typeof(name) *p_##name;
TARS_CURL_FUNCTIONS(DECLARE_POINTER)
#undef DECLARE_POINTER

static const struct
{
  const char *name;
  void **slot;
} curl_symbols[] = {
#define SYMBOL_ENTRY(name) {#name, (void **)&p_##name},
    TARS_CURL_FUNCTIONS(SYMBOL_ENTRY)
#undef SYMBOL_ENTRY
};

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static char lib_soname[256] = TARS_LIBCURL_SONAME;
/* Never unloaded: libcurl keeps global state (TLS) for the process.  */
static void *lib_handle;

static int
load_failed(struct tars_error *err, const char *why)
{
  return tars_error_set(err, 0, "the model clients need libcurl (%s, Debian package libcurl4): %s",
                        lib_soname, why ? why : "unknown dlopen error");
}

int
tars_http_set_library(const char *soname)
{
  pthread_mutex_lock(&lib_lock);
  if (lib_handle != NULL)
    {
      pthread_mutex_unlock(&lib_lock);
      errno = EBUSY;
      return -1;
    }
  snprintf(lib_soname, sizeof lib_soname, "%s", soname ? soname : TARS_LIBCURL_SONAME);
  pthread_mutex_unlock(&lib_lock);
  return 0;
}

static int
load_locked(struct tars_error *err)
{
  if (lib_handle != NULL)
    return 0;
  dlerror();
  void *handle = dlopen(lib_soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    return load_failed(err, dlerror());
  for (size_t i = 0; i < sizeof curl_symbols / sizeof curl_symbols[0]; i++)
    {
      dlerror();
      void *sym = dlsym(handle, curl_symbols[i].name);
      if (sym == NULL)
        {
          load_failed(err, dlerror());
          for (size_t j = 0; j < sizeof curl_symbols / sizeof curl_symbols[0]; j++)
            *curl_symbols[j].slot = NULL;
          dlclose(handle);
          return -1;
        }
      *curl_symbols[i].slot = sym;
    }
  /* Once, before any thread: curl_global_init is not thread-safe in older libcurls.  */
  CURLcode rc = p_curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    {
      tars_error_set(err, 0, "initialise libcurl: %s", p_curl_easy_strerror(rc));
      dlclose(handle);
      return -1;
    }
  lib_handle = handle;
  return 0;
}

int
tars_http_load(struct tars_error *err)
{
  pthread_mutex_lock(&lib_lock);
  int r = load_locked(err);
  pthread_mutex_unlock(&lib_lock);
  return r;
}

/* ----- one request ----- */

struct transfer
{
  const struct tars_http_request *req;
  struct tars_http_result *res;
  CURL *h;
  size_t max_body;
  bool streaming; /* the status is 2xx and on_data takes the body */
  bool decided;   /* streaming has been decided (at the first byte) */
  bool too_large;
  bool aborted;
  long last_data_ms; /* when the body last brought something; 0 before its first byte */
  bool idle;         /* ended by the idle timeout */
};

static long
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
collect(struct transfer *t, const char *data, size_t n)
{
  struct tars_http_result *res = t->res;
  if (res->body_len + n > t->max_body)
    {
      t->too_large = true;
      return false;
    }
  char *b = realloc(res->body, res->body_len + n + 1);
  if (b == NULL)
    {
      t->too_large = true;
      return false;
    }
  memcpy(b + res->body_len, data, n);
  res->body = b;
  res->body_len += n;
  b[res->body_len] = '\0';
  return true;
}

static size_t
on_write(char *data, size_t size, size_t nmemb, void *ctx)
{
  struct transfer *t = ctx;
  size_t n = size * nmemb;
  t->last_data_ms = now_ms();
  if (!t->decided)
    {
      long status = 0;
      p_curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
      t->streaming = t->req->on_data != NULL && status >= 200 && status < 300;
      t->decided = true;
    }
  if (t->streaming)
    {
      if (!t->req->on_data(t->req->ctx, data, n))
        {
          t->aborted = true;
          return 0;
        }
      return n;
    }
  return collect(t, data, n) ? n : 0;
}

/* Called by libcurl about once a second, data or not: where the idle timeout is kept.  libcurl's
 * own low-speed limit averages over several seconds, so a burst of data hides a stall for that
 * long after it.  */
static int
on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  struct transfer *t = ctx;
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  if (t->req->idle_timeout_ms > 0 && t->last_data_ms > 0 &&
      now_ms() - t->last_data_ms >= t->req->idle_timeout_ms)
    {
      t->idle = true;
      return 1;
    }
  return 0;
}

static long
ms_since(const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static enum tars_http_failure
classify(CURLcode rc, const struct transfer *t, long elapsed_ms)
{
  switch (rc)
    {
    case CURLE_OK:
      return TARS_HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return TARS_HTTP_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
      {
        curl_off_t connected = 0;
        p_curl_easy_getinfo(t->h, CURLINFO_CONNECT_TIME_T, &connected);
        (void)elapsed_ms;
        return connected == 0 ? TARS_HTTP_CONNECT : TARS_HTTP_TIMEOUT;
      }
    case CURLE_ABORTED_BY_CALLBACK:
      return t->idle ? TARS_HTTP_IDLE : TARS_HTTP_OTHER;
    case CURLE_WRITE_ERROR:
      return t->aborted ? TARS_HTTP_ABORTED : t->too_large ? TARS_HTTP_TOO_LARGE : TARS_HTTP_OTHER;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      return TARS_HTTP_PARTIAL;
    default:
      return TARS_HTTP_OTHER;
    }
}

#define SETOPT(h, opt, val)                                                                        \
  do                                                                                               \
    {                                                                                              \
      CURLcode rc_ = p_curl_easy_setopt(h, opt, val);                                              \
      if (rc_ != CURLE_OK)                                                                         \
        {                                                                                          \
          tars_error_set(err, 0, "libcurl: set %s: %s", #opt, p_curl_easy_strerror(rc_));          \
          goto out;                                                                                \
        }                                                                                          \
    }                                                                                              \
  while (0)

int
tars_http_perform(const struct tars_http_request *req, struct tars_http_result *res,
                  struct tars_error *err)
{
  memset(res, 0, sizeof *res);
  if (tars_http_load(err) < 0)
    return -1;

  int ret = -1;
  struct curl_slist *headers = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  struct transfer t = {.req = req, .res = res};
  t.max_body = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
  CURL *h = t.h = p_curl_easy_init();
  if (h == NULL)
    return tars_error_set(err, ENOMEM, "libcurl: create a request");

  /* "Expect:" with no value: no 100-continue round trip before large bodies.  */
  struct curl_slist *nh = p_curl_slist_append(NULL, "Expect:");
  if (nh == NULL)
    {
      tars_error_set(err, ENOMEM, "libcurl: headers");
      goto out;
    }
  headers = nh;
  for (const char *const *hd = req->headers; hd && *hd; hd++)
    {
      if ((nh = p_curl_slist_append(headers, *hd)) == NULL)
        {
          tars_error_set(err, ENOMEM, "libcurl: headers");
          goto out;
        }
      headers = nh;
    }

  SETOPT(h, CURLOPT_URL, req->url);
  SETOPT(h, CURLOPT_NOSIGNAL, 1L);
  SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
  SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(h, CURLOPT_USERAGENT, "tars/0.1");
  SETOPT(h, CURLOPT_HTTPHEADER, headers);
  SETOPT(h, CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(h, CURLOPT_WRITEDATA, &t);
  if (p_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
    {
      /* A libcurl before 7.85 does not know the option; the URL was checked to be http(s).  */
    }
  if (req->connect_timeout_ms > 0)
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
  if (req->timeout_ms > 0)
    SETOPT(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  if (req->idle_timeout_ms > 0)
    {
      SETOPT(h, CURLOPT_XFERINFOFUNCTION, on_progress);
      SETOPT(h, CURLOPT_XFERINFODATA, &t);
      SETOPT(h, CURLOPT_NOPROGRESS, 0L);
    }
  if (req->method && strcmp(req->method, "POST") == 0)
    {
      SETOPT(h, CURLOPT_POST, 1L);
      SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
      SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
  else
    SETOPT(h, CURLOPT_HTTPGET, 1L);

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CURLcode rc = p_curl_easy_perform(h);
  res->elapsed_ms = ms_since(&t0);
  p_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
  curl_off_t wait = 0;
  if (p_curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &wait) == CURLE_OK && wait > 0)
    res->retry_after_s = wait > 86400 ? 86400 : (long)wait;
  res->failure = classify(rc, &t, res->elapsed_ms);
  if (rc != CURLE_OK)
    snprintf(res->detail, sizeof res->detail, "%s", errbuf[0] ? errbuf : p_curl_easy_strerror(rc));
  if (res->body == NULL && (res->body = calloc(1, 1)) == NULL)
    {
      tars_error_set(err, ENOMEM, "libcurl: response");
      goto out;
    }
  ret = 0;

out:
  p_curl_easy_cleanup(h);
  if (headers)
    p_curl_slist_free_all(headers);
  if (ret < 0)
    tars_http_result_free(res);
  return ret;
}

void
tars_http_result_free(struct tars_http_result *res)
{
  free(res->body);
  res->body = NULL;
  res->body_len = 0;
}
