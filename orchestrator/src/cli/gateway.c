/* tars gateway: the model gateway as a process (internal: the coordinator starts it).  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/gateway.h"
#include "model/settings.h"
#include "store/store.h"
#include "tars/cleanup.h"

static const char usage_text[] =
    "usage: tars gateway --socket PATH --repo R [--execution ID] [--llm URL] [--model M]\n"
    "                    [--record FILE] [--parallel N] [--step-budget B] [--execution-budget B]\n"
    "       tars gateway --config-fd N [--ready-fd N]\n"
    "\n"
    "Internal: the model gateway that `tars run` starts, documented for debugging.  It listens\n"
    "on the Unix socket PATH (mode 0600), answers chat requests from coders with the model the\n"
    "settings name (as `tars model check` resolves them), enforces the budgets, records every\n"
    "exchange in R's store and audit trail (secrets redacted) and, with --record, in a replay\n"
    "file.  It logs one line per exchange on stderr and runs until SIGTERM, SIGINT or a\n"
    "\"shutdown\" message.  The protocol is in docs/models.md.\n"
    "\n"
    "options:\n"
    "  --socket PATH          the control socket; must not exist\n"
    "  --repo R               the repository whose store records the exchanges\n"
    "  --execution ID         the execution the exchanges belong to\n"
    "  --llm URL, --model M   as for tars model check\n"
    "  --record FILE          write every exchange to FILE, in the replay format\n"
    "  --parallel N           calls at once (default 4)\n"
    "  --step-budget B        per step: calls=N,prompt_tokens=N,completion_tokens=N,time=SEC\n"
    "  --execution-budget B   the same for the whole execution\n"
    "  --config-fd N          read all of the above, and the resolved settings, as JSON from\n"
    "                         descriptor N (how tars itself starts it: the key never appears on\n"
    "                         a command line)\n"
    "  --ready-fd N           write \"ok\" (or the error) to descriptor N once listening\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 stopped, 1 it could not start or failed, 2 bad usage.\n";

enum
{
  OPT_SOCKET = 256,
  OPT_REPO,
  OPT_EXECUTION,
  OPT_LLM,
  OPT_MODEL,
  OPT_RECORD,
  OPT_PARALLEL,
  OPT_STEP_BUDGET,
  OPT_EXEC_BUDGET,
  OPT_CONFIG_FD,
  OPT_READY_FD,
};

static const struct option long_options[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"repo", required_argument, NULL, OPT_REPO},
    {"execution", required_argument, NULL, OPT_EXECUTION},
    {"llm", required_argument, NULL, OPT_LLM},
    {"model", required_argument, NULL, OPT_MODEL},
    {"record", required_argument, NULL, OPT_RECORD},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"step-budget", required_argument, NULL, OPT_STEP_BUDGET},
    {"execution-budget", required_argument, NULL, OPT_EXEC_BUDGET},
    {"config-fd", required_argument, NULL, OPT_CONFIG_FD},
    {"ready-fd", required_argument, NULL, OPT_READY_FD},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int stop_pipe[2] = {-1, -1};

static void
on_signal(int sig)
{
  (void)sig;
  int saved = errno;
  (void)!write(stop_pipe[1], "x", 1);
  errno = saved;
}

static void
log_line(void *ctx, const char *line)
{
  (void)ctx;
  fprintf(stderr, "tars: %s\n", line);
}

/* "calls=8,prompt_tokens=100000,completion_tokens=20000,time=600".  */
static int
parse_budget(const char *opt, const char *spec, struct tars_budget *b)
{
  cleanup_free char *copy = strdup(spec);
  if (copy == NULL)
    return cli_usage_error("gateway: out of memory");
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
    {
      char *eq = strchr(item, '=');
      if (eq == NULL)
        return cli_usage_error("gateway: %s: '%s' is not NAME=VALUE", opt, item);
      *eq = '\0';
      char *end = NULL;
      errno = 0;
      double v = strtod(eq + 1, &end);
      if (errno || end == eq + 1 || *end != '\0' || !isfinite(v) || v < 0 || v > 1e12)
        return cli_usage_error("gateway: %s: %s: '%s' is not a number", opt, item, eq + 1);
      if (strcmp(item, "calls") == 0)
        b->calls = (long)v;
      else if (strcmp(item, "prompt_tokens") == 0)
        b->prompt_tokens = (long)v;
      else if (strcmp(item, "completion_tokens") == 0)
        b->completion_tokens = (long)v;
      else if (strcmp(item, "time") == 0)
        b->wall_ms = (long)ceil(v * 1000);
      else
        return cli_usage_error("gateway: %s: unknown budget '%s' (calls, prompt_tokens, "
                               "completion_tokens, time)",
                               opt, item);
    }
  return TARS_EXIT_OK;
}

static int
parse_fd(const char *opt, const char *s, int *fd)
{
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < 0 || v > 65535)
    return cli_usage_error("gateway: %s takes a descriptor number, not '%s'", opt, s);
  *fd = (int)v;
  return TARS_EXIT_OK;
}

struct config
{
  char *socket, *repo, *execution, *record;
  int parallel;
  struct tars_budget step, exec;
  struct tars_model_settings settings;
};

static void
config_free(struct config *c)
{
  free(c->socket);
  free(c->repo);
  free(c->execution);
  free(c->record);
  tars_model_settings_free(&c->settings);
}

static long
budget_field(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 ? (long)v->valuedouble
                                                                           : 0;
}

static void
read_budget(const cJSON *o, struct tars_budget *b)
{
  b->calls = budget_field(o, "calls");
  b->prompt_tokens = budget_field(o, "prompt_tokens");
  b->completion_tokens = budget_field(o, "completion_tokens");
  b->wall_ms = budget_field(o, "wall_ms");
}

static int
dup_json_string(const cJSON *o, const char *name, char **out)
{
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
  if (v && (*out = strdup(v)) == NULL)
    return -1;
  return 0;
}

/* The JSON tars_gateway_start writes: settings, socket, repo, execution, record, max_parallel,
 * step_budget, execution_budget.  */
static int
read_config_fd(int fd, struct config *c)
{
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;)
    {
      if (len + 4096 > cap)
        {
          char *b = realloc(buf, cap = cap ? cap * 2 : 8192);
          if (b == NULL || cap > (1u << 20))
            {
              free(b ? b : buf);
              fputs("tars: gateway: the configuration is too large\n", stderr);
              return TARS_EXIT_USAGE;
            }
          buf = b;
        }
      ssize_t n = read(fd, buf + len, cap - len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          fprintf(stderr, "tars: gateway: read the configuration: %s\n", strerror(errno));
          free(buf);
          return TARS_EXIT_USAGE;
        }
      if (n == 0)
        break;
      len += (size_t)n;
    }
  close(fd);
  cleanup_cjson cJSON *j = buf ? cJSON_ParseWithLength(buf, len) : NULL;
  if (buf)
    explicit_bzero(buf, len);
  free(buf);
  struct tars_error err = {0};
  if (!cJSON_IsObject(j))
    {
      fputs("tars: gateway: the configuration is not a JSON object\n", stderr);
      return TARS_EXIT_USAGE;
    }
  cJSON *set = cJSON_GetObjectItemCaseSensitive(j, "settings");
  int r = tars_model_settings_from_json(set, &c->settings, &err);
  cJSON *k = cJSON_GetObjectItemCaseSensitive(set, "api_key");
  if (cJSON_IsString(k))
    explicit_bzero(k->valuestring, strlen(k->valuestring));
  if (r < 0)
    {
      fprintf(stderr, "tars: gateway: %s\n", err.msg);
      return TARS_EXIT_USAGE;
    }
  if (dup_json_string(j, "socket", &c->socket) < 0 || dup_json_string(j, "repo", &c->repo) < 0 ||
      dup_json_string(j, "execution", &c->execution) < 0 ||
      dup_json_string(j, "record", &c->record) < 0)
    {
      fputs("tars: gateway: out of memory\n", stderr);
      return TARS_EXIT_FAILED;
    }
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "max_parallel");
  if (cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble <= 64)
    c->parallel = (int)p->valuedouble;
  read_budget(cJSON_GetObjectItemCaseSensitive(j, "step_budget"), &c->step);
  read_budget(cJSON_GetObjectItemCaseSensitive(j, "execution_budget"), &c->exec);
  return TARS_EXIT_OK;
}

static int fail_ready(int ready_fd, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail_ready(int ready_fd, int status, const char *fmt, ...)
{
  char msg[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "tars: gateway: %s\n", msg);
  if (ready_fd >= 0)
    {
      dprintf(ready_fd, "%s\n", msg);
      close(ready_fd);
    }
  return status;
}

int
cli_gateway(int argc, char **argv)
{
  const char *socket = NULL, *repo = NULL, *execution = NULL, *llm = NULL, *model = NULL,
             *record = NULL;
  int config_fd = -1, ready_fd = -1, c, r;
  long parallel = 0;
  struct tars_budget step = {0}, exec = {0};

  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1)
    switch (c)
      {
      case 'h':
        fputs(usage_text, stdout);
        return TARS_EXIT_OK;
      case OPT_SOCKET:
        socket = optarg;
        break;
      case OPT_REPO:
        repo = optarg;
        break;
      case OPT_EXECUTION:
        execution = optarg;
        break;
      case OPT_LLM:
        llm = optarg;
        break;
      case OPT_MODEL:
        model = optarg;
        break;
      case OPT_RECORD:
        record = optarg;
        break;
      case OPT_PARALLEL:
        {
          char *end = NULL;
          parallel = strtol(optarg, &end, 10);
          if (end == optarg || *end != '\0' || parallel < 1 || parallel > 64)
            return cli_usage_error("gateway: --parallel takes 1 to 64, not '%s'", optarg);
          break;
        }
      case OPT_STEP_BUDGET:
        if ((r = parse_budget("--step-budget", optarg, &step)) != TARS_EXIT_OK)
          return r;
        break;
      case OPT_EXEC_BUDGET:
        if ((r = parse_budget("--execution-budget", optarg, &exec)) != TARS_EXIT_OK)
          return r;
        break;
      case OPT_CONFIG_FD:
        if ((r = parse_fd("--config-fd", optarg, &config_fd)) != TARS_EXIT_OK)
          return r;
        break;
      case OPT_READY_FD:
        if ((r = parse_fd("--ready-fd", optarg, &ready_fd)) != TARS_EXIT_OK)
          return r;
        break;
      case ':':
        return cli_usage_error("gateway: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("gateway: unknown option '%s'", argv[optind - 1]);
      }
  if (optind < argc)
    return cli_usage_error("gateway: unexpected argument '%s'", argv[optind]);

  struct config cfg = {0};
  tars_model_settings_init(&cfg.settings);
  if (config_fd >= 0)
    {
      if (socket || repo || execution || llm || model || record || parallel)
        return cli_usage_error("gateway: --config-fd takes everything from the descriptor");
      if ((r = read_config_fd(config_fd, &cfg)) != TARS_EXIT_OK)
        {
          config_free(&cfg);
          return fail_ready(ready_fd, r, "bad configuration on descriptor %d", config_fd);
        }
    }
  else
    {
      if (socket == NULL || repo == NULL)
        return cli_usage_error("gateway: --socket and --repo are needed");
      struct tars_error err = {0};
      cleanup_close int repo_fd = open(repo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (repo_fd < 0)
        return fail_ready(ready_fd, TARS_EXIT_USAGE, "repository %s: %s", repo, strerror(errno));
      struct tars_model_settings_input in = {
          .cli_url = llm, .cli_model = model, .repo_fd = repo_fd};
      if (tars_model_settings_resolve(&in, &cfg.settings, &err) < 0)
        return fail_ready(ready_fd,
                          err.kind == TARS_ERR_SYSTEM ? TARS_EXIT_FAILED : TARS_EXIT_USAGE, "%s",
                          err.msg);
      if ((cfg.socket = strdup(socket)) == NULL || (cfg.repo = strdup(repo)) == NULL ||
          (execution && (cfg.execution = strdup(execution)) == NULL) ||
          (record && (cfg.record = strdup(record)) == NULL))
        {
          config_free(&cfg);
          return fail_ready(ready_fd, TARS_EXIT_FAILED, "out of memory");
        }
      cfg.parallel = (int)parallel;
      cfg.step = step;
      cfg.exec = exec;
    }
  if (cfg.socket == NULL || cfg.repo == NULL)
    {
      config_free(&cfg);
      return fail_ready(ready_fd, TARS_EXIT_USAGE, "the configuration needs a socket and a repo");
    }

  cleanup_store struct tars_store *store = NULL;
  if ((r = cli_open_store(cfg.repo, true, &store)) != TARS_EXIT_OK)
    {
      config_free(&cfg);
      return fail_ready(ready_fd, r, "cannot open the store of %s", cfg.repo);
    }

  if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      config_free(&cfg);
      return fail_ready(ready_fd, TARS_EXIT_FAILED, "pipe: %s", strerror(errno));
    }
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct tars_gateway_options o = {
      .socket_path = cfg.socket,
      .settings = &cfg.settings,
      .store = store,
      .execution_id = cfg.execution,
      .step_budget = cfg.step,
      .execution_budget = cfg.exec,
      .record_path = cfg.record,
      .max_parallel = cfg.parallel,
      .stop_fd = stop_pipe[0],
      .ready_fd = ready_fd,
      .log = log_line,
  };
  struct tars_error err = {0};
  r = tars_gateway_serve(&o, &err);
  config_free(&cfg);
  close(stop_pipe[0]);
  close(stop_pipe[1]);
  if (r < 0)
    {
      fprintf(stderr, "tars: gateway: %s\n", err.msg);
      return err.kind == TARS_ERR_INVALID ? TARS_EXIT_USAGE : TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}
