/* tars model check | chat: which model the settings reach, and one question to it.  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/check.h"
#include "model/client.h"
#include "model/gateway.h"
#include "model/settings.h"
#include "tars/cleanup.h"

static const char usage_text[] =
    "usage: tars model check [OPTIONS] [--json]\n"
    "       tars model chat [OPTIONS] [--system TEXT] [--max-tokens N] [--no-stream]\n"
    "                       [--step ID --attempt N --role R] [--gateway SOCKET] [--json] PROMPT\n"
    "\n"
    "check: say which server and model the settings resolve to (and where each came from),\n"
    "whether the server answers, whether it has the model, and ask it for a one-word answer,\n"
    "with its latency and token counts.\n"
    "chat: send PROMPT (and a system message) and print the answer as it streams in, then its\n"
    "usage on stderr.  With --llm replay:FILE, --step, --attempt and --role choose the exchange.\n"
    "With --gateway, ask through a running gateway (tars gateway) as a coder does, instead of\n"
    "calling the model: the settings are the gateway's then.\n"
    "\n"
    "Settings, highest first: --llm and --model; TARS_LLM_URL (or OLLAMA_HOST), TARS_MODEL,\n"
    "TARS_API_KEY; the \"model\" object of R/.tars/config.json or R/tars.json; the one of\n"
    "~/.config/tars/config.json; Ollama at http://127.0.0.1:11434.  See docs/models.md.\n"
    "\n"
    "options:\n"
    "  --llm URL        the server: http(s)://HOST[:PORT][/PATH], prefixed with ollama: or\n"
    "                   openai: to choose the protocol, or replay:FILE\n"
    "  --model M        the model\n"
    "  --repo R         the repository whose configuration applies (default: the current\n"
    "                   directory)\n"
    "  --timeout SEC    the limit for one HTTP request\n"
    "  --retries N      retries after a 429, a 5xx or a broken connection (0 to 10)\n"
    "  --json           print the result as JSON\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 the model answered, 1 it did not (the reason is printed), 2 bad usage or\n"
    "bad settings.\n";

enum
{
  OPT_LLM = 256,
  OPT_MODEL,
  OPT_REPO,
  OPT_TIMEOUT,
  OPT_RETRIES,
  OPT_JSON,
  OPT_SYSTEM,
  OPT_MAX_TOKENS,
  OPT_NO_STREAM,
  OPT_STEP,
  OPT_ATTEMPT,
  OPT_ROLE,
  OPT_GATEWAY,
};

static const struct option long_options[] = {
    {"llm", required_argument, NULL, OPT_LLM},
    {"model", required_argument, NULL, OPT_MODEL},
    {"repo", required_argument, NULL, OPT_REPO},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"json", no_argument, NULL, OPT_JSON},
    {"system", required_argument, NULL, OPT_SYSTEM},
    {"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
    {"step", required_argument, NULL, OPT_STEP},
    {"attempt", required_argument, NULL, OPT_ATTEMPT},
    {"role", required_argument, NULL, OPT_ROLE},
    {"gateway", required_argument, NULL, OPT_GATEWAY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct args
{
  bool check;
  const char *llm, *model, *repo, *system, *step, *role, *prompt, *gateway;
  double timeout_s;
  long retries, max_tokens, attempt;
  bool json, no_stream;
};

static int
parse_number(const char *opt, const char *s, double min, double max, double *out)
{
  char *end = NULL;
  errno = 0;
  double d = strtod(s, &end);
  if (errno || end == s || *end != '\0' || !isfinite(d) || d < min || d > max)
    return cli_usage_error("model: %s takes a number from %g to %g, not '%s'", opt, min, max, s);
  *out = d;
  return TARS_EXIT_OK;
}

static int
parse_whole(const char *opt, const char *s, long min, long max, long *out)
{
  double d;
  int r = parse_number(opt, s, (double)min, (double)max, &d);
  if (r != TARS_EXIT_OK)
    return r;
  if (d != floor(d))
    return cli_usage_error("model: %s takes a whole number, not '%s'", opt, s);
  *out = (long)d;
  return TARS_EXIT_OK;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
  int c, r;
  double d;
  optind = 2;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1)
    switch (c)
      {
      case 'h':
        fputs(usage_text, stdout);
        return -1;
      case OPT_LLM:
        a->llm = optarg;
        break;
      case OPT_MODEL:
        a->model = optarg;
        break;
      case OPT_REPO:
        a->repo = optarg;
        break;
      case OPT_TIMEOUT:
        if ((r = parse_number("--timeout", optarg, 0.001, 86400, &d)) != TARS_EXIT_OK)
          return r;
        a->timeout_s = d;
        break;
      case OPT_RETRIES:
        if ((r = parse_whole("--retries", optarg, 0, 10, &a->retries)) != TARS_EXIT_OK)
          return r;
        break;
      case OPT_JSON:
        a->json = true;
        break;
      case OPT_SYSTEM:
        a->system = optarg;
        break;
      case OPT_MAX_TOKENS:
        if ((r = parse_whole("--max-tokens", optarg, 1, 1L << 24, &a->max_tokens)) != TARS_EXIT_OK)
          return r;
        break;
      case OPT_NO_STREAM:
        a->no_stream = true;
        break;
      case OPT_STEP:
        a->step = optarg;
        break;
      case OPT_ATTEMPT:
        if ((r = parse_whole("--attempt", optarg, 1, 1000000, &a->attempt)) != TARS_EXIT_OK)
          return r;
        break;
      case OPT_ROLE:
        a->role = optarg;
        break;
      case OPT_GATEWAY:
        a->gateway = optarg;
        break;
      case ':':
        return cli_usage_error("model: option %s needs an argument", argv[optind - 1]);
      default:
        return cli_usage_error("model: unknown option '%s'", argv[optind - 1]);
      }
  if (a->check)
    {
      if (optind < argc)
        return cli_usage_error("model check: unexpected argument '%s'", argv[optind]);
      if (a->system || a->max_tokens || a->no_stream || a->step || a->attempt || a->role ||
          a->gateway)
        return cli_usage_error("model check: --system, --max-tokens, --no-stream, --step, "
                               "--attempt, --role and --gateway are chat's");
    }
  else
    {
      if (optind < argc)
        a->prompt = argv[optind++];
      if (optind < argc)
        return cli_usage_error("model chat: unexpected argument '%s' (quote the prompt)",
                               argv[optind]);
      if (a->prompt == NULL || a->prompt[0] == '\0')
        return cli_usage_error("model chat: missing PROMPT");
      if (a->gateway && (a->llm || a->model || a->timeout_s > 0 || a->retries >= 0 || a->no_stream))
        return cli_usage_error("model chat: with --gateway, the model and its settings are the "
                               "gateway's");
      if ((a->step && (a->step[0] == '\0' || strlen(a->step) > TARS_CHAT_MAX_ID)) ||
          (a->role && (a->role[0] == '\0' || strlen(a->role) > TARS_CHAT_MAX_ID)))
        return cli_usage_error("model chat: --step and --role take 1 to %d characters",
                               TARS_CHAT_MAX_ID);
    }
  if (a->repo[0] == '\0')
    return cli_usage_error("model: --repo needs a path");
  return TARS_EXIT_OK;
}

/* Resolve the settings as every command that calls a model does.  */
static int
resolve(const struct args *a, struct tars_model_settings *s)
{
  struct tars_error err = {0};
  cleanup_close int repo_fd = open(a->repo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (repo_fd < 0)
    {
      fprintf(stderr, "tars: model: repository %s: %s\n", a->repo, strerror(errno));
      return TARS_EXIT_USAGE;
    }
  struct tars_model_settings_input in = {
      .cli_url = a->llm, .cli_model = a->model, .repo_fd = repo_fd};
  if (tars_model_settings_resolve(&in, s, &err) < 0)
    {
      fprintf(stderr, "tars: model: %s\n", err.msg);
      return err.kind == TARS_ERR_SYSTEM ? TARS_EXIT_FAILED : TARS_EXIT_USAGE;
    }
  if (a->timeout_s > 0)
    s->timeout_ms = (long)ceil(a->timeout_s * 1000);
  if (a->retries >= 0)
    s->retries = (int)a->retries;
  if (a->no_stream)
    s->stream = false;
  return TARS_EXIT_OK;
}

static int
flush_stdout(void)
{
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: model: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

static void
put_line(const char *label, const char *text)
{
  printf("%-10s ", label);
  cli_put_escaped(text);
  putchar('\n');
}

static void
describe_settings(const struct tars_model_settings *s, const struct tars_model_check *c)
{
  char line[2048];
  snprintf(line, sizeof line, "%s (%s, from %s)", s->url, tars_model_protocol_name(s->protocol),
           s->url_origin);
  put_line(s->protocol == TARS_PROTO_REPLAY ? "replay" : "server", line);
  if (c->chat_url)
    put_line("chat URL", c->chat_url);
  if (s->model)
    snprintf(line, sizeof line, "%s (from %s)", s->model, s->model_origin);
  else
    snprintf(line, sizeof line, "none chosen");
  put_line("model", line);
  if (s->protocol == TARS_PROTO_REPLAY)
    return;
  if (s->api_key)
    snprintf(line, sizeof line, "set (from %s)", s->key_origin);
  else if (s->key_withheld)
    snprintf(line, sizeof line,
             "not sent: the URL comes from the repository's configuration, and the key goes only "
             "to the server your own configuration names");
  else
    snprintf(line, sizeof line, "none");
  put_line("key", line);
}

static void
print_check(const struct tars_model_settings *s, const struct tars_model_check *c)
{
  char line[2048];
  describe_settings(s, c);
  if (s->protocol == TARS_PROTO_REPLAY)
    {
      snprintf(line, sizeof line, "%zu recorded exchange%s, model%s: ", c->replay_exchanges,
               c->replay_exchanges == 1 ? "" : "s", c->n_models == 1 ? "" : "s");
      size_t o = strlen(line);
      for (size_t i = 0; i < c->n_models && o < sizeof line; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i ? ", " : "", c->models[i]);
      if (c->n_models == 0 && o < sizeof line)
        snprintf(line + o, sizeof line - o, "none named");
      put_line("recording", line);
    }
  else
    {
      if (c->listed)
        snprintf(line, sizeof line, "yes, %zu model%s listed", c->n_models,
                 c->n_models == 1 ? "" : "s");
      else if (c->asked)
        snprintf(line, sizeof line, "yes (no model list: %s)", c->list_error ? c->list_error : "");
      else
        snprintf(line, sizeof line, "no: %s", c->list_error ? c->list_error : "");
      put_line("reachable", line);
      if (c->model_found >= 0)
        put_line("found", c->model_found ? "yes" : "not listed (the question decides)");
      if (c->asked && c->answer.status == TARS_MODEL_OK)
        {
          char first[96];
          const char *a = c->answer.content ? c->answer.content : "";
          a += strspn(a, " \t\r\n");
          snprintf(first, sizeof first, "%.*s", (int)strcspn(a, "\r\n"), a);
          snprintf(line, sizeof line, "\"%s\" in %ld ms, %ld prompt + %ld completion tokens%s",
                   first, c->answer.duration_ms, c->answer.usage.prompt_tokens,
                   c->answer.usage.completion_tokens,
                   c->answer.usage.estimated ? " (estimated: the server reports no usage)" : "");
          put_line("answer", line);
        }
    }
  if (c->status == TARS_MODEL_OK)
    puts("ok");
}

static cJSON *
check_json(const struct tars_model_settings *s, const struct tars_model_check *c)
{
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    return NULL;
  cJSON_AddBoolToObject(j, "ok", c->status == TARS_MODEL_OK);
  cJSON_AddStringToObject(j, "status", tars_model_status_name(c->status));
  if (c->problem)
    cJSON_AddStringToObject(j, "problem", c->problem);
  else
    cJSON_AddNullToObject(j, "problem");
  cJSON *set = tars_model_settings_to_json(s, false);
  if (set)
    cJSON_AddItemToObject(j, "settings", set);
  if (c->chat_url)
    cJSON_AddStringToObject(j, "chat_url", c->chat_url);
  cJSON_AddBoolToObject(j, "listed", c->listed);
  cJSON *models = cJSON_AddArrayToObject(j, "models");
  for (size_t i = 0; models && i < c->n_models; i++)
    cJSON_AddItemToArray(models, cJSON_CreateString(c->models[i]));
  if (c->list_error)
    cJSON_AddStringToObject(j, "list_error", c->list_error);
  if (c->model_found < 0)
    cJSON_AddNullToObject(j, "model_found");
  else
    cJSON_AddBoolToObject(j, "model_found", c->model_found);
  if (s->protocol == TARS_PROTO_REPLAY)
    cJSON_AddNumberToObject(j, "replay_exchanges", (double)c->replay_exchanges);
  if (c->asked)
    cJSON_AddItemToObject(j, "answer", tars_chat_response_to_json(&c->answer));
  else
    cJSON_AddNullToObject(j, "answer");
  return j;
}

static int
run_check(const struct args *a)
{
  cleanup_model_settings struct tars_model_settings s;
  int r = resolve(a, &s);
  if (r != TARS_EXIT_OK)
    return r;
  cleanup_model_check struct tars_model_check c;
  struct tars_error err = {0};
  if (tars_model_check_run(&s, &c, &err) < 0)
    {
      fprintf(stderr, "tars: model check: %s\n", err.msg);
      return err.kind == TARS_ERR_INVALID ? TARS_EXIT_USAGE : TARS_EXIT_FAILED;
    }
  if (a->json)
    {
      cleanup_cjson cJSON *j = check_json(&s, &c);
      cleanup_free char *text = j ? cJSON_Print(j) : NULL;
      if (text == NULL)
        {
          fputs("tars: model check: out of memory\n", stderr);
          return TARS_EXIT_FAILED;
        }
      puts(text);
    }
  else
    print_check(&s, &c);
  if ((r = flush_stdout()) != TARS_EXIT_OK)
    return r;
  if (c.status != TARS_MODEL_OK)
    {
      fprintf(stderr, "tars: model check: %s: ", tars_model_status_name(c.status));
      fputs(c.problem ? c.problem : "failed", stderr);
      fputc('\n', stderr);
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

/* Whether the answer being streamed has printed anything, and whether that ended a line.  */
struct printed
{
  bool any, at_line_start;
};

static void
print_delta(void *ctx, const char *text, size_t len)
{
  struct printed *p = ctx;
  if (text == NULL)
    {
      /* A retry starts the answer again: say so only when some of it was shown.  */
      if (p->any)
        fputs(p->at_line_start ? "[retrying]\n" : "\n[retrying]\n", stdout);
      p->any = false;
      return;
    }
  if (len == 0)
    return;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  p->any = true;
  p->at_line_start = text[len - 1] == '\n';
}

static void
print_usage_line(const struct tars_chat_response *resp, const char *model)
{
  fprintf(stderr, "tars: %s: %ld ms, %ld prompt + %ld completion tokens%s, %d request%s\n",
          resp->model ? resp->model
          : model     ? model
                      : "model",
          resp->duration_ms, resp->usage.prompt_tokens, resp->usage.completion_tokens,
          resp->usage.estimated ? " (estimated)" : "", resp->http_attempts,
          resp->http_attempts == 1 ? "" : "s");
}

static int
print_response(const struct args *a, const struct tars_chat_response *resp, int ok,
               const struct tars_error *err, const char *model)
{
  if (a->json)
    {
      cleanup_cjson cJSON *j = tars_chat_response_to_json(resp);
      cleanup_free char *text = j ? cJSON_Print(j) : NULL;
      if (text)
        puts(text);
    }
  int r = flush_stdout();
  if (r != TARS_EXIT_OK)
    return r;
  if (ok < 0)
    {
      fprintf(stderr, "tars: model chat: %s: %s\n", tars_model_status_name(resp->status), err->msg);
      return TARS_EXIT_FAILED;
    }
  if (!a->json)
    print_usage_line(resp, model);
  return TARS_EXIT_OK;
}

/* The request from the arguments.  */
static int
build_request(const struct args *a, struct tars_chat_request *req)
{
  struct tars_error err = {0};
  tars_chat_request_init(req);
  req->max_tokens = a->max_tokens;
  req->attempt = (int)a->attempt;
  if ((a->step && (req->step_id = strdup(a->step)) == NULL) ||
      (a->role && (req->role = strdup(a->role)) == NULL) ||
      (a->system && tars_chat_request_add(req, TARS_CHAT_SYSTEM, a->system, &err) < 0) ||
      tars_chat_request_add(req, TARS_CHAT_USER, a->prompt, &err) < 0)
    {
      fputs("tars: model chat: out of memory\n", stderr);
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

static int
run_gateway_chat(const struct args *a)
{
  cleanup_chat_request struct tars_chat_request req;
  int r = build_request(a, &req);
  if (r != TARS_EXIT_OK)
    return r;
  struct tars_error err = {0};
  cleanup_close int fd = -1;
  if (tars_gateway_connect(a->gateway, &fd, &err) < 0)
    {
      fprintf(stderr, "tars: model chat: %s\n", err.msg);
      return TARS_EXIT_FAILED;
    }
  cleanup_chat_response struct tars_chat_response resp;
  int ok = tars_gateway_chat(fd, &req, &resp, NULL, NULL, &err);
  if (!a->json && ok == 0)
    {
      fputs(resp.content, stdout);
      if (resp.content[0] && resp.content[strlen(resp.content) - 1] != '\n')
        putchar('\n');
    }
  return print_response(a, &resp, ok, &err, NULL);
}

static int
run_chat(const struct args *a)
{
  if (a->gateway)
    return run_gateway_chat(a);
  cleanup_model_settings struct tars_model_settings s;
  int r = resolve(a, &s);
  if (r != TARS_EXIT_OK)
    return r;
  struct tars_error err = {0};
  cleanup_model_client struct tars_model_client *c = NULL;
  if (tars_model_client_new(&s, &c, &err) < 0)
    {
      fprintf(stderr, "tars: model chat: %s\n", err.msg);
      return err.kind == TARS_ERR_INVALID ? TARS_EXIT_USAGE : TARS_EXIT_FAILED;
    }
  cleanup_chat_request struct tars_chat_request req;
  if ((r = build_request(a, &req)) != TARS_EXIT_OK)
    return r;
  cleanup_chat_response struct tars_chat_response resp;
  struct printed printed = {false, true};
  int ok = tars_model_chat(c, &req, a->json ? NULL : print_delta, &printed, &resp, &err);
  if (!a->json && printed.any && !printed.at_line_start)
    putchar('\n');
  return print_response(a, &resp, ok, &err, s.model);
}

int
cli_model(int argc, char **argv)
{
  struct args a = {.repo = ".", .retries = -1};
  if (argc < 2)
    {
      fputs(usage_text, stderr);
      return TARS_EXIT_USAGE;
    }
  if (cli_is_help(argv[1]))
    {
      fputs(usage_text, stdout);
      return TARS_EXIT_OK;
    }
  if (strcmp(argv[1], "check") == 0)
    a.check = true;
  else if (strcmp(argv[1], "chat") != 0)
    return cli_usage_error("model: unknown subcommand '%s' (expected 'check' or 'chat')", argv[1]);
  int r = parse_args(argc, argv, &a);
  if (r < 0)
    return TARS_EXIT_OK;
  if (r != TARS_EXIT_OK)
    return r;
  return a.check ? run_check(&a) : run_chat(&a);
}
