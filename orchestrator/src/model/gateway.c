/* The model gateway's server: the poll loop, a process per call, budgets, records (see
 * gateway.h).  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/client.h"
#include "model/frame.h"
#include "model/gateway.h"
#include "model/http.h"
#include "model/redact.h"
#include "model/replay.h"
#include "store/exchanges.h"
#include "tars/cleanup.h"

#define MAX_CONNS 64
#define MAX_STEP_SOCKETS 256
#define DEFAULT_PARALLEL 4
/* A call's process gets this long past its own time limit before it is killed.  */
#define KILL_GRACE_MS 5000

struct listener
{
  int fd;
  char *path;
  bool control;
  char *step;
  int attempt;
};

struct call;

struct conn
{
  int fd;
  bool control;
  char *step; /* a step socket's: the only step it may speak for */
  int attempt;
  struct tars_frame_reader rd;
  char *out;
  size_t out_len, out_off;
  struct call *call;
  bool close_after_write;
};

struct call
{
  struct conn *conn; /* NULL once the connection has gone */
  struct tars_chat_request req;
  pid_t pid; /* 0 while queued */
  int pipe_fd;
  char *buf;
  size_t len;
  long started_ms;
  long deadline_ms; /* 0: none */
};

struct counter
{
  char *key;
  int n;
};

struct gw
{
  const struct tars_gateway_options *o;
  struct tars_model_client *client;
  const struct tars_redactor *redactor;
  struct tars_recorder *rec;
  struct tars_budget_ledger *ledger;
  struct listener ls[MAX_STEP_SOCKETS + 1];
  size_t n_ls;
  struct conn *conns[MAX_CONNS];
  size_t n_conns;
  struct call **calls; /* in arrival order, queued and running */
  size_t n_calls;
  size_t running;
  struct counter *counters;
  size_t n_counters;
  int max_parallel;
  bool stopping;
  const char *provider;
};

static long
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3))) static void
logf_(struct gw *g, const char *fmt, ...)
{
  if (g->o->log == NULL)
    return;
  char line[TARS_ERROR_MSG_MAX + 256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  cleanup_free char *red = tars_redact(g->redactor, line);
  g->o->log(g->o->log_ctx, red ? red : "(a log line that could not be redacted)");
}

/* ----- sockets ----- */

static int
listen_at(const char *path, mode_t mode, struct tars_error *err)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path)
    return tars_error_invalid(err, "gateway socket %s: the path is longer than %zu bytes", path,
                              sizeof sa.sun_path - 1);
  if (path[0] != '/')
    return tars_error_invalid(err, "gateway socket %s: not an absolute path", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return tars_error_set(err, errno, "gateway: socket");
  /* Never replaces what is there: a stale socket is the caller's to remove.  */
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      int e = errno;
      close(fd);
      return tars_error_set(err, e, "gateway: bind %s", path);
    }
  if (chmod(path, mode) < 0 || listen(fd, 16) < 0)
    {
      int e = errno;
      close(fd);
      unlink(path);
      return tars_error_set(err, e, "gateway: listen on %s", path);
    }
  return fd;
}

static int
add_listener(struct gw *g, const char *path, bool control, const char *step, int attempt,
             struct tars_error *err)
{
  if (g->n_ls >= sizeof g->ls / sizeof g->ls[0])
    return tars_error_refused(err, "gateway: at most %d step sockets", MAX_STEP_SOCKETS);
  int fd = listen_at(path, control ? 0600 : 0666, err);
  if (fd < 0)
    return -1;
  struct listener *l = &g->ls[g->n_ls];
  memset(l, 0, sizeof *l);
  l->fd = fd;
  l->control = control;
  l->attempt = attempt;
  if ((l->path = strdup(path)) == NULL || (step && (l->step = strdup(step)) == NULL))
    {
      free(l->path);
      close(fd);
      unlink(path);
      return tars_error_set(err, ENOMEM, "gateway");
    }
  g->n_ls++;
  return 0;
}

static void
remove_listener(struct gw *g, size_t i)
{
  struct listener *l = &g->ls[i];
  close(l->fd);
  unlink(l->path);
  free(l->path);
  free(l->step);
  g->ls[i] = g->ls[--g->n_ls];
}

/* ----- connections and replies ----- */

static void
conn_close(struct gw *g, struct conn *c)
{
  for (size_t i = 0; i < g->n_conns; i++)
    if (g->conns[i] == c)
      {
        g->conns[i] = g->conns[--g->n_conns];
        break;
      }
  if (c->call)
    c->call->conn = NULL;
  close(c->fd);
  tars_frame_reader_free(&c->rd);
  free(c->out);
  free(c->step);
  free(c);
}

/* Queue J as C's reply (taking it).  */
static void
reply(struct gw *g, struct conn *c, cJSON *j)
{
  struct tars_error err = {0};
  char *f = NULL;
  size_t len = 0;
  if (j == NULL || tars_frame_encode(j, &f, &len, &err) < 0)
    {
      logf_(g, "gateway: cannot encode a reply: %s", j ? err.msg : "out of memory");
      c->close_after_write = true;
    }
  cJSON_Delete(j);
  free(c->out);
  c->out = f;
  c->out_len = f ? len : 0;
  c->out_off = 0;
}

static cJSON *
error_reply(enum tars_model_status status, const char *message)
{
  cJSON *j = cJSON_CreateObject();
  cJSON *e;
  if (j == NULL || cJSON_AddFalseToObject(j, "ok") == NULL ||
      (e = cJSON_AddObjectToObject(j, "error")) == NULL ||
      cJSON_AddStringToObject(e, "reason", tars_model_status_name(status)) == NULL ||
      cJSON_AddStringToObject(e, "message", message) == NULL)
    {
      cJSON_Delete(j);
      return NULL;
    }
  return j;
}

static void
refuse_message(struct gw *g, struct conn *c, const char *message)
{
  logf_(g, "gateway: refused a message: %s", message);
  reply(g, c, error_reply(TARS_MODEL_BAD_REQUEST, message));
  c->close_after_write = true;
}

/* ----- calls ----- */

static int
next_call_number(struct gw *g, const struct tars_chat_request *req)
{
  char key[3 * TARS_CHAT_MAX_ID + 32];
  snprintf(key, sizeof key, "%s\n%d\n%s", req->step_id ? req->step_id : "", req->attempt,
           tars_chat_request_role(req));
  for (size_t i = 0; i < g->n_counters; i++)
    if (strcmp(g->counters[i].key, key) == 0)
      return ++g->counters[i].n;
  struct counter *v = realloc(g->counters, (g->n_counters + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  g->counters = v;
  if ((v[g->n_counters].key = strdup(key)) == NULL)
    return -1;
  v[g->n_counters].n = 1;
  g->n_counters++;
  return 1;
}

static void
call_free(struct call *k)
{
  tars_chat_request_free(&k->req);
  if (k->pipe_fd >= 0)
    close(k->pipe_fd);
  free(k->buf);
  free(k);
}

static void
remove_call(struct gw *g, struct call *k)
{
  for (size_t i = 0; i < g->n_calls; i++)
    if (g->calls[i] == k)
      {
        memmove(&g->calls[i], &g->calls[i + 1], (g->n_calls - i - 1) * sizeof *g->calls);
        g->n_calls--;
        break;
      }
  if (k->pid > 0)
    g->running--;
  if (k->conn)
    k->conn->call = NULL;
  call_free(k);
}

static void
log_exchange(struct gw *g, const struct tars_chat_request *req,
             const struct tars_chat_response *resp)
{
  char who[3 * TARS_CHAT_MAX_ID + 64];
  snprintf(who, sizeof who, "step %s attempt %d call %d (%s)", req->step_id ? req->step_id : "-",
           req->attempt > 0 ? req->attempt : 1, req->call, tars_chat_request_role(req));
  if (resp->status == TARS_MODEL_OK)
    logf_(g, "model: %s: ok in %.1f s, %ld + %ld tokens%s", who, resp->duration_ms / 1000.0,
          resp->usage.prompt_tokens, resp->usage.completion_tokens,
          resp->usage.estimated ? " (estimated)" : "");
  else
    logf_(g, "model: %s: %s: %s", who, tars_model_status_name(resp->status),
          resp->error ? resp->error : "");
}

/* The exchange is over: count it, record it, answer.  */
static void
conclude(struct gw *g, struct call *k, struct tars_chat_response *resp, bool admitted)
{
  struct tars_error err = {0};
  char id[64] = "";
  if (admitted)
    tars_budget_finish(g->ledger, k->req.step_id, &resp->usage, resp->duration_ms);
  const struct tars_model_settings *s = tars_model_client_settings(g->client);
  struct tars_exchange ex = {
      .execution_id = g->o->execution_id,
      .provider = g->provider,
      .url = s->url,
      .model = resp->model ? resp->model : s->model,
      .request = &k->req,
      .response = resp,
  };
  if (g->o->store && tars_exchange_add(g->o->store, &ex, g->redactor, id, &err) < 0)
    logf_(g, "gateway: could not record the exchange in the store: %s", err.msg);
  if (g->rec && admitted && resp->status != TARS_MODEL_CANCELLED &&
      tars_recorder_add(g->rec, &k->req, resp, &err) < 0)
    logf_(g, "gateway: could not record the exchange in %s: %s", g->o->record_path, err.msg);
  log_exchange(g, &k->req, resp);

  if (k->conn == NULL)
    return;
  /* A server that echoes the key (a proxy's error page, a model repeating its headers) must not
   * hand it to the sandbox: the key itself goes, the rest of the answer stays as it is.  */
  if (resp->content)
    {
      char *clean = tars_redact_secrets(g->redactor, resp->content);
      if (clean == NULL)
        {
          reply(g, k->conn, error_reply(TARS_MODEL_INTERNAL, "gateway: out of memory"));
          return;
        }
      free(resp->content);
      resp->content = clean;
    }
  if (resp->error)
    {
      char *clean = tars_redact(g->redactor, resp->error);
      if (clean)
        {
          free(resp->error);
          resp->error = clean;
        }
    }
  cJSON *j;
  if (resp->status == TARS_MODEL_OK)
    {
      j = tars_chat_response_to_json(resp);
      if (j)
        {
          cJSON_DeleteItemFromObjectCaseSensitive(j, "status");
          cJSON_DeleteItemFromObjectCaseSensitive(j, "error");
          cJSON_AddTrueToObject(j, "ok");
        }
    }
  else
    j = error_reply(resp->status, resp->error ? resp->error : tars_model_status_name(resp->status));
  if (j && (cJSON_AddNumberToObject(j, "call", k->req.call) == NULL ||
            (id[0] && cJSON_AddStringToObject(j, "exchange", id) == NULL) ||
            !cJSON_AddItemToObject(j, "budget", tars_budget_to_json(g->ledger, k->req.step_id))))
    {
      cJSON_Delete(j);
      j = NULL;
    }
  reply(g, k->conn, j);
}

static void fail_call(struct gw *g, struct call *k, enum tars_model_status status, bool admitted,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
fail_call(struct gw *g, struct call *k, enum tars_model_status status, bool admitted,
          const char *fmt, ...)
{
  struct tars_chat_response resp = {0};
  char msg[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  resp.status = status;
  resp.error = strdup(msg);
  if (k->pid > 0)
    resp.duration_ms = now_ms() - k->started_ms;
  conclude(g, k, &resp, admitted);
  tars_chat_response_free(&resp);
  remove_call(g, k);
}

/* In the call's process: ask, write the response to FD, exit.  */
__attribute__((noreturn)) static void
run_call(struct gw *g, struct call *k, int fd)
{
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  /* Nothing of the gateway's but the pipe: a connection must see its end when the gateway
   * closes it, whatever this process is doing.  */
  if (fd > 3)
    close_range(3, (unsigned)fd - 1, 0);
  close_range((unsigned)fd + 1, ~0U, 0);
  struct tars_chat_response resp;
  struct tars_error err = {0};
  tars_model_chat(g->client, &k->req, NULL, NULL, &resp, &err);
  cJSON *j = tars_chat_response_to_json(&resp);
  char *text = j ? cJSON_PrintUnformatted(j) : NULL;
  if (text == NULL)
    _exit(3);
  size_t n = strlen(text), off = 0;
  while (off < n)
    {
      ssize_t w = write(fd, text + off, n - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        _exit(4);
      off += (size_t)w;
    }
  _exit(0);
}

static void
start_call(struct gw *g, struct call *k)
{
  struct tars_error err = {0};
  long max_tokens = 0, timeout = 0;
  if (tars_budget_admit(g->ledger, &k->req, &max_tokens, &timeout, &err) < 0)
    {
      fail_call(g, k,
                err.kind == TARS_ERR_REFUSED ? TARS_MODEL_BUDGET_EXHAUSTED : TARS_MODEL_INTERNAL,
                false, "%s", err.msg);
      return;
    }
  k->req.max_tokens = max_tokens;
  k->req.timeout_ms = timeout;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    {
      fail_call(g, k, TARS_MODEL_INTERNAL, true, "gateway: pipe: %s", strerror(errno));
      return;
    }
  pid_t pid = fork();
  if (pid < 0)
    {
      int e = errno;
      close(p[0]);
      close(p[1]);
      fail_call(g, k, TARS_MODEL_INTERNAL, true, "gateway: fork: %s", strerror(e));
      return;
    }
  if (pid == 0)
    {
      close(p[0]);
      run_call(g, k, p[1]);
    }
  close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  k->pid = pid;
  k->pipe_fd = p[0];
  k->started_ms = now_ms();
  k->deadline_ms = timeout > 0 ? k->started_ms + timeout + KILL_GRACE_MS : 0;
  g->running++;
}

/* Kill a call's process and wait for it.  */
static int
reap(struct call *k, bool kill_it)
{
  int status = 0;
  if (k->pid <= 0)
    return 0;
  if (kill_it)
    kill(k->pid, SIGKILL);
  while (waitpid(k->pid, &status, 0) < 0 && errno == EINTR)
    ;
  return status;
}

static void
end_call(struct gw *g, struct call *k)
{
  int status = reap(k, false);
  struct tars_chat_response resp;
  struct tars_error err = {0};
  cleanup_cjson cJSON *j = k->buf ? cJSON_ParseWithLength(k->buf, k->len) : NULL;
  if (j == NULL || tars_chat_response_from_json(j, &resp, &err) < 0)
    {
      if (WIFSIGNALED(status))
        fail_call(g, k, TARS_MODEL_INTERNAL, true,
                  "gateway: the call's process was killed by signal %d", WTERMSIG(status));
      else
        fail_call(g, k, TARS_MODEL_INTERNAL, true,
                  "gateway: the call's process exited with status %d and no answer%s%s",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, j ? ": " : "", j ? err.msg : "");
      return;
    }
  conclude(g, k, &resp, true);
  tars_chat_response_free(&resp);
  remove_call(g, k);
}

static void
read_call(struct gw *g, struct call *k)
{
  char chunk[65536];
  for (;;)
    {
      ssize_t n = read(k->pipe_fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (n <= 0)
        {
          end_call(g, k);
          return;
        }
      if (k->len + (size_t)n > TARS_FRAME_MAX)
        {
          reap(k, true);
          fail_call(g, k, TARS_MODEL_INTERNAL, true, "gateway: a response larger than %u bytes",
                    TARS_FRAME_MAX);
          return;
        }
      char *b = realloc(k->buf, k->len + (size_t)n + 1);
      if (b == NULL)
        {
          reap(k, true);
          fail_call(g, k, TARS_MODEL_INTERNAL, true, "gateway: out of memory");
          return;
        }
      memcpy(b + k->len, chunk, (size_t)n);
      k->buf = b;
      k->len += (size_t)n;
      b[k->len] = '\0';
    }
}

static void
cancel_call(struct gw *g, struct call *k, const char *why)
{
  bool admitted = k->pid > 0;
  reap(k, true);
  fail_call(g, k, TARS_MODEL_CANCELLED, admitted, "%s", why);
}

/* ----- messages ----- */

static bool
valid_id(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > TARS_CHAT_MAX_ID)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

static void
handle_chat(struct gw *g, struct conn *c, const cJSON *msg)
{
  struct tars_error err = {0};
  struct call *k = calloc(1, sizeof *k);
  if (k == NULL)
    {
      refuse_message(g, c, "gateway: out of memory");
      return;
    }
  k->pipe_fd = -1;
  if (tars_chat_request_from_json(msg, &k->req, &err) < 0)
    {
      call_free(k);
      refuse_message(g, c, err.msg);
      return;
    }
  if (c->step)
    {
      /* A step's socket speaks for that step only, whatever the request says.  */
      if ((k->req.step_id && strcmp(k->req.step_id, c->step) != 0) ||
          (k->req.attempt && k->req.attempt != c->attempt))
        {
          char msg2[TARS_ERROR_MSG_MAX];
          snprintf(msg2, sizeof msg2,
                   "this socket is step %s attempt %d's: a request for another step or attempt is "
                   "refused",
                   c->step, c->attempt);
          call_free(k);
          refuse_message(g, c, msg2);
          return;
        }
      free(k->req.step_id);
      if ((k->req.step_id = strdup(c->step)) == NULL)
        {
          call_free(k);
          refuse_message(g, c, "gateway: out of memory");
          return;
        }
      k->req.attempt = c->attempt;
    }
  /* The gateway counts the calls; a request cannot claim another's answer.  */
  int n = next_call_number(g, &k->req);
  struct call **v = n < 0 ? NULL : realloc(g->calls, (g->n_calls + 1) * sizeof *v);
  if (v == NULL)
    {
      call_free(k);
      refuse_message(g, c, "gateway: out of memory");
      return;
    }
  k->req.call = n;
  if (k->req.attempt == 0)
    k->req.attempt = 1;
  g->calls = v;
  g->calls[g->n_calls++] = k;
  k->conn = c;
  c->call = k;
}

static void
handle_usage(struct gw *g, struct conn *c, const cJSON *msg)
{
  const char *step = c->step;
  if (step == NULL)
    {
      const cJSON *s = cJSON_GetObjectItemCaseSensitive(msg, "step");
      if (cJSON_IsString(s) && valid_id(s->valuestring))
        step = s->valuestring;
    }
  cJSON *j = cJSON_CreateObject();
  if (j && (cJSON_AddTrueToObject(j, "ok") == NULL ||
            !cJSON_AddItemToObject(j, "budget", tars_budget_to_json(g->ledger, step))))
    {
      cJSON_Delete(j);
      j = NULL;
    }
  reply(g, c, j);
}

static void
handle_control(struct gw *g, struct conn *c, const char *type, const cJSON *msg)
{
  struct tars_error err = {0};
  const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "socket"));
  if (strcmp(type, "shutdown") == 0)
    {
      cJSON *j = cJSON_CreateObject();
      cleanup_free char *f = NULL;
      size_t len;
      if (j && cJSON_AddTrueToObject(j, "ok") && tars_frame_encode(j, &f, &len, &err) == 0)
        (void)!send(c->fd, f, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      cJSON_Delete(j);
      logf_(g, "gateway: shutting down");
      g->stopping = true;
      return;
    }
  if (strcmp(type, "open_step") == 0)
    {
      const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "step"));
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(msg, "attempt");
      if (step == NULL || !valid_id(step) || !cJSON_IsNumber(a) || a->valuedouble < 1 ||
          a->valuedouble > 1000000 || path == NULL)
        {
          refuse_message(g, c, "open_step needs \"step\", \"attempt\" (from 1) and \"socket\"");
          return;
        }
      if (add_listener(g, path, false, step, (int)a->valuedouble, &err) < 0)
        {
          reply(g, c, error_reply(TARS_MODEL_BAD_REQUEST, err.msg));
          return;
        }
      logf_(g, "gateway: step %s attempt %d: listening on %s", step, (int)a->valuedouble, path);
    }
  else if (strcmp(type, "close_step") == 0)
    {
      size_t i = 0;
      while (i < g->n_ls && (g->ls[i].control || path == NULL || strcmp(g->ls[i].path, path) != 0))
        i++;
      if (i == g->n_ls)
        {
          reply(g, c, error_reply(TARS_MODEL_BAD_REQUEST, "close_step: no such step socket"));
          return;
        }
      remove_listener(g, i);
    }
  else
    {
      char shown[64];
      snprintf(shown, sizeof shown, "unknown message type \"%.40s\"", type);
      refuse_message(g, c, shown);
      return;
    }
  cJSON *j = cJSON_CreateObject();
  if (j && cJSON_AddTrueToObject(j, "ok") == NULL)
    {
      cJSON_Delete(j);
      j = NULL;
    }
  reply(g, c, j);
}

static void
handle_message(struct gw *g, struct conn *c, char *body, size_t len)
{
  struct tars_error err = {0};
  cleanup_cjson cJSON *msg = NULL;
  if (tars_frame_decode(body, len, &msg, &err) < 0)
    {
      refuse_message(g, c, err.msg);
      return;
    }
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
  if (type == NULL)
    refuse_message(g, c, "a gateway message needs a \"type\"");
  else if (strcmp(type, "chat") == 0)
    handle_chat(g, c, msg);
  else if (strcmp(type, "usage") == 0)
    handle_usage(g, c, msg);
  else if (c->control)
    handle_control(g, c, type, msg);
  else
    {
      char shown[96];
      snprintf(shown, sizeof shown, "\"%.40s\" is not allowed on a step's socket", type);
      refuse_message(g, c, shown);
    }
}

/* ----- the loop ----- */

static void
accept_on(struct gw *g, const struct listener *l)
{
  int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  if (g->n_conns >= MAX_CONNS)
    {
      logf_(g, "gateway: refusing a connection: %d are open already", MAX_CONNS);
      close(fd);
      return;
    }
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL || (l->step && (c->step = strdup(l->step)) == NULL))
    {
      free(c);
      close(fd);
      return;
    }
  c->fd = fd;
  c->control = l->control;
  c->attempt = l->attempt;
  g->conns[g->n_conns++] = c;
}

static void
conn_write(struct gw *g, struct conn *c)
{
  while (c->out && c->out_off < c->out_len)
    {
      ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (w < 0)
        {
          conn_close(g, c);
          return;
        }
      c->out_off += (size_t)w;
    }
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  if (c->close_after_write)
    conn_close(g, c);
}

static void
conn_read(struct gw *g, struct conn *c)
{
  char *body = NULL;
  size_t len = 0;
  int r = tars_frame_reader_read(&c->rd, c->fd, &body, &len);
  if (r < 0)
    {
      if (errno == EMSGSIZE)
        refuse_message(g, c, "a gateway message longer than 16 MiB, or empty");
      else
        conn_close(g, c);
      return;
    }
  if (r == 1)
    {
      handle_message(g, c, body, len);
      free(body);
    }
}

static void
dispatch(struct gw *g)
{
  for (size_t i = 0; i < g->n_calls && g->running < (size_t)g->max_parallel;)
    {
      struct call *k = g->calls[i];
      if (k->pid > 0)
        {
          i++;
          continue;
        }
      size_t before = g->n_calls;
      start_call(g, k);
      /* A refused call is gone from the list; a started one stays.  */
      if (g->n_calls == before)
        i++;
    }
}

static int
poll_timeout(struct gw *g)
{
  long soonest = 0, now = now_ms();
  for (size_t i = 0; i < g->n_calls; i++)
    if (g->calls[i]->pid > 0 && g->calls[i]->deadline_ms &&
        (soonest == 0 || g->calls[i]->deadline_ms < soonest))
      soonest = g->calls[i]->deadline_ms;
  if (soonest == 0)
    return -1;
  return soonest <= now ? 0 : (int)(soonest - now > 60000 ? 60000 : soonest - now);
}

static int
loop(struct gw *g, struct tars_error *err)
{
  struct pollfd fds[1 + MAX_STEP_SOCKETS + 1 + MAX_CONNS + MAX_CONNS];
  void *what[sizeof fds / sizeof fds[0]];
  enum
  {
    STOP,
    LISTENER,
    CONN,
    CALL
  } kinds[sizeof fds / sizeof fds[0]];

  while (!g->stopping)
    {
      dispatch(g);
      size_t n = 0;
      if (g->o->stop_fd >= 0)
        {
          fds[n] = (struct pollfd){.fd = g->o->stop_fd, .events = POLLIN};
          kinds[n] = STOP;
          what[n++] = NULL;
        }
      for (size_t i = 0; i < g->n_ls; i++)
        {
          fds[n] = (struct pollfd){.fd = g->ls[i].fd, .events = POLLIN};
          kinds[n] = LISTENER;
          what[n++] = &g->ls[i];
        }
      for (size_t i = 0; i < g->n_conns; i++)
        {
          struct conn *c = g->conns[i];
          short ev = POLLRDHUP;
          if (c->out)
            ev |= POLLOUT;
          else if (c->call == NULL)
            ev |= POLLIN;
          fds[n] = (struct pollfd){.fd = c->fd, .events = ev};
          kinds[n] = CONN;
          what[n++] = c;
        }
      for (size_t i = 0; i < g->n_calls; i++)
        if (g->calls[i]->pid > 0)
          {
            fds[n] = (struct pollfd){.fd = g->calls[i]->pipe_fd, .events = POLLIN};
            kinds[n] = CALL;
            what[n++] = g->calls[i];
          }

      int r = poll(fds, n, poll_timeout(g));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "gateway: poll");

      /* Handled in order; an entry whose object went away meanwhile is skipped by checking it
       * is still listed with the same descriptor (a connection or call freed by an earlier entry
       * may have its memory reused by one made since, which has another descriptor, or none
       * yet).  */
      for (size_t i = 0; i < n && !g->stopping; i++)
        {
          if (fds[i].revents == 0)
            continue;
          switch (kinds[i])
            {
            case STOP:
              g->stopping = true;
              break;
            case LISTENER:
              for (size_t j = 0; j < g->n_ls; j++)
                if (&g->ls[j] == what[i] && g->ls[j].fd == fds[i].fd)
                  accept_on(g, &g->ls[j]);
              break;
            case CONN:
              {
                struct conn *c = NULL;
                for (size_t j = 0; j < g->n_conns; j++)
                  if (g->conns[j] == what[i] && g->conns[j]->fd == fds[i].fd)
                    c = g->conns[j];
                if (c == NULL)
                  break;
                if (fds[i].revents & POLLOUT)
                  {
                    conn_write(g, c);
                    break;
                  }
                if ((fds[i].revents & POLLIN) && c->call == NULL && c->out == NULL)
                  {
                    conn_read(g, c);
                    break;
                  }
                if (fds[i].revents & (POLLHUP | POLLRDHUP | POLLERR))
                  {
                    struct call *k = c->call;
                    conn_close(g, c);
                    if (k)
                      cancel_call(g, k, "the coder closed its connection before the answer");
                  }
                break;
              }
            case CALL:
              for (size_t j = 0; j < g->n_calls; j++)
                if (g->calls[j] == what[i] && g->calls[j]->pid > 0 &&
                    g->calls[j]->pipe_fd == fds[i].fd)
                  {
                    read_call(g, g->calls[j]);
                    break;
                  }
              break;
            }
        }

      long now = now_ms();
      for (size_t i = 0; i < g->n_calls;)
        {
          struct call *k = g->calls[i];
          if (k->pid > 0 && k->deadline_ms && now >= k->deadline_ms)
            {
              reap(k, true);
              fail_call(g, k, TARS_MODEL_TIMEOUT, true,
                        "the call went past its time limit (%.1f s) and was stopped",
                        (k->deadline_ms - k->started_ms - KILL_GRACE_MS) / 1000.0);
              continue;
            }
          i++;
        }
    }
  return 0;
}

/* ----- start and stop ----- */

static int
preload_usage(struct gw *g, struct tars_error *err)
{
  struct tars_step_usage *u = NULL;
  size_t n = 0;
  if (g->o->store == NULL)
    return 0;
  if (tars_exchanges_usage(g->o->store, g->o->execution_id, &u, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      struct tars_budget_use used = {u[i].calls, u[i].prompt_tokens, u[i].completion_tokens,
                                     u[i].duration_ms};
      if (tars_budget_preload(g->ledger, u[i].step_id, &used, err) < 0)
        {
          tars_step_usage_free(u, n);
          return -1;
        }
    }
  tars_step_usage_free(u, n);
  return 0;
}

/* Say once, on the ready descriptor, whether the gateway is serving.  */
static void
ready(int *fd, const char *msg)
{
  if (*fd < 0)
    return;
  size_t n = strlen(msg);
  (void)!write(*fd, msg, n);
  close(*fd);
  *fd = -1;
}

int
tars_gateway_serve(const struct tars_gateway_options *o, struct tars_error *err)
{
  struct gw g = {.o = o, .max_parallel = o->max_parallel > 0 ? o->max_parallel : DEFAULT_PARALLEL};
  int ret = -1, ready_fd = o->ready_fd;
  g.provider = tars_model_protocol_name(o->settings->protocol);

  if (tars_model_client_new(o->settings, &g.client, err) < 0)
    goto out;
  g.redactor = tars_model_client_redactor(g.client);
  /* Loaded once here, inherited by every call's process.  */
  if (o->settings->protocol != TARS_PROTO_REPLAY && tars_http_load(err) < 0)
    goto out;
  if (tars_budget_ledger_new(&o->step_budget, &o->execution_budget, &g.ledger, err) < 0 ||
      preload_usage(&g, err) < 0)
    goto out;
  if (o->record_path && tars_recorder_open(o->record_path, g.redactor, &g.rec, err) < 0)
    goto out;
  if (add_listener(&g, o->socket_path, true, NULL, 0, err) < 0)
    goto out;
  logf_(&g, "gateway: listening on %s (%s %s, model %s)", o->socket_path, g.provider,
        o->settings->url, o->settings->model ? o->settings->model : "none");
  ready(&ready_fd, "ok\n");
  ret = loop(&g, err);

out:
  if (ret < 0)
    {
      char msg[TARS_ERROR_MSG_MAX + 2];
      snprintf(msg, sizeof msg, "%s\n", err && err->msg[0] ? err->msg : "gateway failed");
      ready(&ready_fd, msg);
    }
  while (g.n_calls > 0)
    cancel_call(&g, g.calls[0], "the gateway stopped");
  while (g.n_conns > 0)
    conn_close(&g, g.conns[0]);
  while (g.n_ls > 0)
    remove_listener(&g, 0);
  for (size_t i = 0; i < g.n_counters; i++)
    free(g.counters[i].key);
  free(g.counters);
  free(g.calls);
  tars_recorder_close(g.rec);
  tars_budget_ledger_free(g.ledger);
  tars_model_client_free(g.client);
  return ret;
}
