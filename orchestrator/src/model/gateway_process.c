/* The gateway as a process the coordinator starts and stops (see gateway.h).  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/gateway.h"
#include "tars/cleanup.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000

struct tars_gateway_process
{
  pid_t pid;
  char *socket_path;
};

pid_t
tars_gateway_pid(const struct tars_gateway_process *g)
{
  return g->pid;
}

const char *
tars_gateway_socket(const struct tars_gateway_process *g)
{
  return g->socket_path;
}

static bool
add_budget(cJSON *o, const char *name, const struct tars_budget *b)
{
  cJSON *j = cJSON_AddObjectToObject(o, name);
  return j && cJSON_AddNumberToObject(j, "calls", (double)b->calls) &&
         cJSON_AddNumberToObject(j, "prompt_tokens", (double)b->prompt_tokens) &&
         cJSON_AddNumberToObject(j, "completion_tokens", (double)b->completion_tokens) &&
         cJSON_AddNumberToObject(j, "wall_ms", (double)b->wall_ms);
}

/* What `tars gateway --config-fd` reads (cli/gateway.c).  */
static char *
config_text(const struct tars_gateway_start_options *o)
{
  cleanup_cjson cJSON *j = cJSON_CreateObject();
  cJSON *settings = tars_model_settings_to_json(o->settings, true);
  if (j == NULL || settings == NULL || !cJSON_AddItemToObject(j, "settings", settings) ||
      cJSON_AddStringToObject(j, "socket", o->socket_path) == NULL ||
      cJSON_AddStringToObject(j, "repo", o->repo_path) == NULL ||
      (o->execution_id && cJSON_AddStringToObject(j, "execution", o->execution_id) == NULL) ||
      (o->record_path && cJSON_AddStringToObject(j, "record", o->record_path) == NULL) ||
      cJSON_AddNumberToObject(j, "max_parallel", o->max_parallel) == NULL ||
      !add_budget(j, "step_budget", &o->step_budget) ||
      !add_budget(j, "execution_budget", &o->execution_budget))
    {
      if (settings && cJSON_GetObjectItemCaseSensitive(j, "settings") != settings)
        cJSON_Delete(settings);
      return NULL;
    }
  char *text = cJSON_PrintUnformatted(j);
  cJSON *k = cJSON_GetObjectItemCaseSensitive(settings, "api_key");
  if (cJSON_IsString(k))
    explicit_bzero(k->valuestring, strlen(k->valuestring));
  return text;
}

static long
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to TIMEOUT_MS for PID; 1 when it exited (*STATUS), 0 when not yet.  */
static int
wait_for(pid_t pid, long timeout_ms, int *status)
{
  long end = now_ms() + timeout_ms;
  for (;;)
    {
      pid_t r = waitpid(pid, status, WNOHANG);
      if (r == pid)
        return 1;
      if (r < 0 && errno != EINTR)
        return 1;
      if (now_ms() >= end)
        return 0;
      struct timespec ts = {0, 10 * 1000000L};
      nanosleep(&ts, NULL);
    }
}

int
tars_gateway_start(const struct tars_gateway_start_options *o, struct tars_gateway_process **out,
                   struct tars_error *err)
{
  *out = NULL;
  if (o->socket_path == NULL || o->repo_path == NULL || o->settings == NULL)
    return tars_error_invalid(err, "gateway: a socket, a repository and settings are needed");
  cleanup_free char *config = config_text(o);
  if (config == NULL)
    return tars_error_set(err, ENOMEM, "gateway: its configuration");
  const char *exe = o->tars_path ? o->tars_path : "/proc/self/exe";

  int cfg[2] = {-1, -1}, rdy[2] = {-1, -1};
  if (pipe2(cfg, O_CLOEXEC) < 0 || pipe2(rdy, O_CLOEXEC) < 0)
    {
      int e = errno;
      for (int i = 0; i < 2; i++)
        {
          if (cfg[i] >= 0)
            close(cfg[i]);
          if (rdy[i] >= 0)
            close(rdy[i]);
        }
      explicit_bzero(config, strlen(config));
      return tars_error_set(err, e, "gateway: pipe");
    }
  pid_t pid = fork();
  if (pid < 0)
    {
      int e = errno;
      close(cfg[0]);
      close(cfg[1]);
      close(rdy[0]);
      close(rdy[1]);
      explicit_bzero(config, strlen(config));
      return tars_error_set(err, e, "gateway: fork");
    }
  if (pid == 0)
    {
      /* fds 3 and 4, whatever they were: the configuration and the ready pipe.  Each moved out
       * of the way first, so that none is overwritten before it is placed.  */
      int c = fcntl(cfg[0], F_DUPFD_CLOEXEC, 10), r = fcntl(rdy[1], F_DUPFD_CLOEXEC, 10);
      int l = o->log_fd >= 0 ? fcntl(o->log_fd, F_DUPFD_CLOEXEC, 10) : -1;
      if (c < 0 || r < 0 || (o->log_fd >= 0 && l < 0) || dup2(c, 3) < 0 || dup2(r, 4) < 0 ||
          (l >= 0 && dup2(l, 2) < 0))
        _exit(127);
      close_range(5, ~0U, 0);
      signal(SIGPIPE, SIG_DFL);
      execl(exe, "tars", "gateway", "--config-fd", "3", "--ready-fd", "4", (char *)NULL);
      _exit(127);
    }
  close(cfg[0]);
  close(rdy[1]);

  /* The configuration is small (the settings and the key): the pipe buffer holds it.  */
  size_t len = strlen(config), off = 0;
  while (off < len)
    {
      ssize_t w = write(cfg[1], config + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break;
      off += (size_t)w;
    }
  explicit_bzero(config, len);
  close(cfg[1]);

  char msg[TARS_ERROR_MSG_MAX + 2] = "";
  size_t got = 0;
  long end = now_ms() + START_TIMEOUT_MS;
  for (;;)
    {
      long left = end - now_ms();
      struct pollfd p = {.fd = rdy[0], .events = POLLIN};
      int r = left > 0 ? poll(&p, 1, (int)left) : 0;
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      ssize_t n = read(rdy[0], msg + got, sizeof msg - 1 - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t)n;
      if (got == sizeof msg - 1)
        break;
    }
  close(rdy[0]);
  msg[got] = '\0';
  if (strcmp(msg, "ok\n") != 0)
    {
      int status = 0;
      kill(pid, SIGKILL);
      wait_for(pid, STOP_TIMEOUT_MS, &status);
      msg[strcspn(msg, "\n")] = '\0';
      if (msg[0])
        return tars_error_set(err, 0, "gateway: %s", msg);
      if (got == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return tars_error_set(err, 0, "gateway: cannot run %s", exe);
      return tars_error_set(err, 0, "gateway: it did not start within %d s",
                            START_TIMEOUT_MS / 1000);
    }
  struct tars_gateway_process *g = calloc(1, sizeof *g);
  if (g == NULL || (g->socket_path = strdup(o->socket_path)) == NULL)
    {
      free(g);
      kill(pid, SIGKILL);
      int status;
      wait_for(pid, STOP_TIMEOUT_MS, &status);
      return tars_error_set(err, ENOMEM, "gateway");
    }
  g->pid = pid;
  *out = g;
  return 0;
}

static int
control(struct tars_gateway_process *g, cJSON *msg, struct tars_error *err)
{
  cleanup_close int fd = -1;
  cleanup_cjson cJSON *reply = NULL;
  if (msg == NULL)
    return tars_error_set(err, ENOMEM, "gateway");
  int r = tars_gateway_connect(g->socket_path, &fd, err);
  if (r == 0)
    r = tars_gateway_request(fd, msg, &reply, err);
  cJSON_Delete(msg);
  if (r < 0)
    return -1;
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
    {
      const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
      const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
      return tars_error_set(err, 0, "gateway: %s", m ? m : "refused");
    }
  return 0;
}

int
tars_gateway_open_step(struct tars_gateway_process *g, const char *step, int attempt,
                       const char *path, struct tars_error *err)
{
  cJSON *m = cJSON_CreateObject();
  if (m && (cJSON_AddStringToObject(m, "type", "open_step") == NULL ||
            cJSON_AddStringToObject(m, "step", step) == NULL ||
            cJSON_AddNumberToObject(m, "attempt", attempt) == NULL ||
            cJSON_AddStringToObject(m, "socket", path) == NULL))
    {
      cJSON_Delete(m);
      m = NULL;
    }
  return control(g, m, err);
}

int
tars_gateway_close_step(struct tars_gateway_process *g, const char *path, struct tars_error *err)
{
  cJSON *m = cJSON_CreateObject();
  if (m && (cJSON_AddStringToObject(m, "type", "close_step") == NULL ||
            cJSON_AddStringToObject(m, "socket", path) == NULL))
    {
      cJSON_Delete(m);
      m = NULL;
    }
  return control(g, m, err);
}

int
tars_gateway_stop(struct tars_gateway_process *g, struct tars_error *err)
{
  if (g == NULL)
    return 0;
  struct tars_error cerr = {0};
  cJSON *m = cJSON_CreateObject();
  if (m && cJSON_AddStringToObject(m, "type", "shutdown") == NULL)
    {
      cJSON_Delete(m);
      m = NULL;
    }
  int asked = control(g, m, &cerr);
  int status = 0, ret = 0;
  if (asked < 0)
    kill(g->pid, SIGTERM);
  if (!wait_for(g->pid, STOP_TIMEOUT_MS, &status))
    {
      kill(g->pid, SIGKILL);
      wait_for(g->pid, STOP_TIMEOUT_MS, &status);
      ret = tars_error_set(err, 0, "gateway: it did not stop within %d s and was killed",
                           STOP_TIMEOUT_MS / 1000);
    }
  else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    ret = tars_error_set(err, 0, "gateway: it ended with %s %d",
                         WIFSIGNALED(status) ? "signal" : "status",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  free(g->socket_path);
  free(g);
  return ret;
}
