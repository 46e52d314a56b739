/* The model check (see check.h).  */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/check.h"
#include "model/client.h"
#include "model/replay.h"
#include "tars/cleanup.h"

void
tars_model_check_free(struct tars_model_check *c)
{
  free(c->chat_url);
  for (size_t i = 0; c->models && i < c->n_models; i++)
    free(c->models[i]);
  free(c->models);
  free(c->list_error);
  tars_chat_response_free(&c->answer);
  free(c->problem);
  memset(c, 0, sizeof *c);
}

__attribute__((format(printf, 3, 4))) static int
found_problem(struct tars_model_check *c, enum tars_model_status status, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  free(c->problem);
  if (vasprintf(&c->problem, fmt, ap) < 0)
    c->problem = NULL;
  va_end(ap);
  c->status = status;
  return 0;
}

/* "a, b, c" (at most 10 of them) for a message.  */
static void
list_models(const struct tars_model_check *c, char *out, size_t size)
{
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < c->n_models && i < 10 && o < size; i++)
    o += (size_t)snprintf(out + o, size - o, "%s%s", i ? ", " : "", c->models[i]);
  if (c->n_models > 10 && o < size)
    snprintf(out + o, size - o, ", and %zu more", c->n_models - 10);
  if (c->n_models == 0)
    snprintf(out, size, "none");
}

int
tars_model_check_run(const struct tars_model_settings *s, struct tars_model_check *out,
                     struct tars_error *err)
{
  memset(out, 0, sizeof *out);
  out->model_found = -1;
  cleanup_model_client struct tars_model_client *c = NULL;
  if (tars_model_client_new(s, &c, err) < 0)
    return -1;
  const char *chat_url = tars_model_client_chat_url(c);
  if (chat_url && (out->chat_url = strdup(chat_url)) == NULL)
    return tars_error_set(err, ENOMEM, "model check");

  struct tars_error lerr = {0};
  enum tars_model_status lstatus;
  if (tars_model_list(c, &out->models, &out->n_models, &lstatus, &lerr) == 0)
    out->listed = true;
  else
    {
      out->list_error = strdup(lerr.msg);
      if (lstatus == TARS_MODEL_UNREACHABLE || lstatus == TARS_MODEL_AUTH ||
          lstatus == TARS_MODEL_TIMEOUT || lstatus == TARS_MODEL_INTERNAL)
        return found_problem(out, lstatus, "%s", lerr.msg);
    }
  if (s->protocol == TARS_PROTO_REPLAY)
    {
      struct tars_replay *rp = NULL;
      if (tars_replay_load(s->url, &rp, err) < 0)
        return -1;
      out->replay_exchanges = tars_replay_count(rp);
      tars_replay_free(rp);
      return 0;
    }

  char names[1024];
  list_models(out, names, sizeof names);
  if (s->model == NULL)
    return found_problem(out, TARS_MODEL_MISSING,
                         "no model chosen: set --model, TARS_MODEL or \"model\" in the "
                         "configuration (%s has: %s)",
                         s->url, out->listed ? names : "no list");
  if (out->listed)
    {
      out->model_found = 0;
      for (size_t i = 0; i < out->n_models; i++)
        if (tars_model_same(c, out->models[i], s->model))
          out->model_found = 1;
      /* Ollama lists every model it can run; an OpenAI-compatible server may list only the one
       * it has loaded and answer to any name, so there the question decides.  */
      if (out->model_found == 0 && s->protocol == TARS_PROTO_OLLAMA)
        return found_problem(out, TARS_MODEL_MISSING,
                             "model \"%s\" not found on %s (it has: %s); ollama pull %s", s->model,
                             s->url, names, s->model);
    }

  cleanup_chat_request struct tars_chat_request req;
  tars_chat_request_init(&req);
  req.max_tokens = 64;
  if (tars_chat_request_add(&req, TARS_CHAT_SYSTEM, "You answer health checks tersely.", err) < 0 ||
      tars_chat_request_add(&req, TARS_CHAT_USER, "Reply with the single word: ok", err) < 0)
    return -1;
  struct tars_error cerr = {0};
  out->asked = true;
  if (tars_model_chat(c, &req, NULL, NULL, &out->answer, &cerr) < 0)
    return found_problem(out, out->answer.status, "%s", cerr.msg);
  return 0;
}
