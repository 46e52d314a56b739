/* libFuzzer target for what model servers and sandboxed coders send tars (model/protocol.h,
 * frame.h, chat.h, replay.h): the same untrusted bytes as an OpenAI Server-Sent Events stream
 * and an Ollama NDJSON stream (cut where the first byte says), as whole bodies, as error
 * bodies and model lists of both protocols, as a gateway message and as a recording.
 *
 * Besides the sanitizers' findings it checks what the headers promise: a reply read whole has
 * content within TARS_CHAT_MAX_ANSWER_BYTES, a failed one has a status saying why, and a request
 * that parses is within the limits of chat.h.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/frame.h"
#include "model/protocol.h"
#include "model/replay.h"
#include "tars/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const struct tars_reply *r, int ret)
{
  if (ret == 0)
    {
      if (r->content == NULL || strlen(r->content) != r->len ||
          r->len > TARS_CHAT_MAX_ANSWER_BYTES || !r->done)
        abort();
    }
  else if (r->status == TARS_MODEL_OK)
    abort();
}

static void
stream(const struct tars_protocol *p, const char *text, size_t len, size_t step)
{
  struct tars_reply r;
  struct tars_error err;
  tars_reply_init(&r, NULL, NULL);
  int ret = 0;
  for (size_t i = 0; ret == 0 && i < len; i += step)
    ret = p->feed(&r, text + i, len - i < step ? len - i : step, &err);
  if (ret == 0)
    ret = p->finish(&r, &err);
  check_reply(&r, ret);
  tars_reply_free(&r);
}

static void
whole(const struct tars_protocol *p, const char *text, size_t len)
{
  struct tars_reply r;
  struct tars_error err;
  tars_reply_init(&r, NULL, NULL);
  check_reply(&r, p->parse(&r, text, len, &err));
  tars_reply_free(&r);

  char msg[256];
  p->error_message(500, text, len, msg, sizeof msg);
  if (strlen(msg) >= sizeof msg)
    abort();
  char **names = NULL;
  size_t n = 0;
  if (p->models(text, len, &names, &n, &err) == 0)
    {
      for (size_t i = 0; i < n; i++)
        free(names[i]);
      if (names[n] != NULL)
        abort();
      free(names);
    }
}

static void
gateway_message(const char *text, size_t len)
{
  struct tars_error err;
  cJSON *j = NULL;
  if (tars_frame_decode(text, len, &j, &err) < 0)
    return;
  struct tars_chat_request req;
  if (tars_chat_request_from_json(j, &req, &err) == 0)
    {
      if (req.n_messages == 0 || req.n_messages > TARS_CHAT_MAX_MESSAGES ||
          tars_chat_request_bytes(&req) > TARS_CHAT_MAX_PROMPT_BYTES ||
          (req.step_id && strlen(req.step_id) > TARS_CHAT_MAX_ID))
        abort();
      tars_chat_request_free(&req);
    }
  struct tars_chat_response resp;
  if (tars_chat_response_from_json(j, &resp, &err) == 0)
    {
      if (resp.status == TARS_MODEL_OK && resp.content == NULL)
        abort();
      tars_chat_response_free(&resp);
    }
  cJSON_Delete(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  size_t step = (size_t)data[0] % 64 + 1;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;

  stream(&tars_openai_protocol, text, len, step);
  stream(&tars_ollama_protocol, text, len, step);
  whole(&tars_openai_protocol, text, len);
  whole(&tars_ollama_protocol, text, len);
  gateway_message(text, len);
  struct tars_replay *rp = NULL;
  struct tars_error err;
  if (tars_replay_parse(text, len, "fuzz", &rp, &err) == 0)
    tars_replay_free(rp);
  return 0;
}
