/* Talking to the gateway from outside it: the coder's chat call (see gateway.h).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "model/frame.h"
#include "model/gateway.h"
#include "tars/cleanup.h"

int
tars_gateway_connect(const char *path, int *fd_out, struct tars_error *err)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  *fd_out = -1;
  if (strlen(path) >= sizeof sa.sun_path)
    return tars_error_invalid(err, "gateway socket %s: the path is too long", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return tars_error_set(err, errno, "gateway: socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      int e = errno;
      close(fd);
      return tars_error_set(err, e, "gateway: connect to %s", path);
    }
  *fd_out = fd;
  return 0;
}

int
tars_gateway_request(int fd, const cJSON *msg, cJSON **reply, struct tars_error *err)
{
  *reply = NULL;
  if (tars_frame_write(fd, msg, err) < 0)
    return -1;
  if (tars_frame_read(fd, reply, err) < 0)
    return -1;
  if (*reply == NULL)
    return tars_error_set(err, 0, "gateway: the connection closed before the answer");
  return 0;
}

int
tars_gateway_chat(int fd, const struct tars_chat_request *req, struct tars_chat_response *resp,
                  int *call, cJSON **budget, struct tars_error *err)
{
  memset(resp, 0, sizeof *resp);
  if (call)
    *call = 0;
  if (budget)
    *budget = NULL;
  cleanup_cjson cJSON *msg = tars_chat_request_to_json(req);
  if (msg == NULL || cJSON_AddStringToObject(msg, "type", "chat") == NULL)
    {
      tars_error_set(err, ENOMEM, "gateway: build the request");
      return tars_chat_fail(resp, TARS_MODEL_INTERNAL, err);
    }
  /* The call number is the gateway's to give.  */
  cJSON_DeleteItemFromObjectCaseSensitive(msg, "call");
  cleanup_cjson cJSON *r = NULL;
  if (tars_gateway_request(fd, msg, &r, err) < 0)
    return tars_chat_fail(resp, TARS_MODEL_INTERNAL, err);
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "call");
  if (call && cJSON_IsNumber(n))
    *call = (int)n->valuedouble;
  if (budget)
    *budget = cJSON_DetachItemFromObjectCaseSensitive(r, "budget");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")))
    {
      static const char *const extra[] = {"ok", "call", "exchange", "budget"};
      for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(r, extra[i]);
      if (tars_chat_response_from_json(r, resp, err) < 0)
        {
          tars_error_prefix(err, "gateway: a malformed answer");
          return tars_chat_fail(resp, TARS_MODEL_INTERNAL, err);
        }
      return 0;
    }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
  const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "reason"));
  const char *message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
  enum tars_model_status status = TARS_MODEL_INTERNAL;
  if (reason == NULL || tars_model_status_from_name(reason, &status) < 0 || status == TARS_MODEL_OK)
    status = TARS_MODEL_INTERNAL;
  tars_error_set(err, 0, "%s", message ? message : "the gateway refused the request");
  if (status == TARS_MODEL_BUDGET_EXHAUSTED && err)
    err->kind = TARS_ERR_REFUSED;
  return tars_chat_fail(resp, status, err);
}
