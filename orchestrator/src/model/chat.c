/* Chat requests and responses: construction, release, and their JSON forms (see chat.h).  */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/chat.h"
#include "tars/cleanup.h"

static const char *const status_names[TARS_MODEL_STATUS_COUNT] = {
    [TARS_MODEL_OK] = "ok",
    [TARS_MODEL_UNREACHABLE] = "unreachable",
    [TARS_MODEL_TIMEOUT] = "timeout",
    [TARS_MODEL_MISSING] = "model-missing",
    [TARS_MODEL_AUTH] = "auth",
    [TARS_MODEL_RATE_LIMITED] = "rate-limited",
    [TARS_MODEL_SERVER_ERROR] = "server-error",
    [TARS_MODEL_HTTP_ERROR] = "http-error",
    [TARS_MODEL_BAD_RESPONSE] = "bad-response",
    [TARS_MODEL_TRUNCATED] = "truncated",
    [TARS_MODEL_NO_RECORDING] = "no-recording",
    [TARS_MODEL_BUDGET_EXHAUSTED] = "budget-exhausted",
    [TARS_MODEL_BAD_REQUEST] = "bad-request",
    [TARS_MODEL_CANCELLED] = "cancelled",
    [TARS_MODEL_INTERNAL] = "internal",
};

static const char *const role_names[] = {
    [TARS_CHAT_SYSTEM] = "system",
    [TARS_CHAT_USER] = "user",
    [TARS_CHAT_ASSISTANT] = "assistant",
};

const char *
tars_model_status_name(enum tars_model_status s)
{
  return (unsigned)s < TARS_MODEL_STATUS_COUNT ? status_names[s] : "internal";
}

int
tars_model_status_from_name(const char *name, enum tars_model_status *out)
{
  for (int i = 0; i < TARS_MODEL_STATUS_COUNT; i++)
    if (name && strcmp(name, status_names[i]) == 0)
      {
        *out = (enum tars_model_status)i;
        return 0;
      }
  return -1;
}

const char *
tars_chat_role_name(enum tars_chat_role role)
{
  return (unsigned)role <= TARS_CHAT_ASSISTANT ? role_names[role] : "user";
}

int
tars_chat_role_from_name(const char *name, enum tars_chat_role *out)
{
  for (int i = 0; i <= TARS_CHAT_ASSISTANT; i++)
    if (name && strcmp(name, role_names[i]) == 0)
      {
        *out = (enum tars_chat_role)i;
        return 0;
      }
  return -1;
}

void
tars_chat_request_init(struct tars_chat_request *r)
{
  memset(r, 0, sizeof *r);
  r->temperature = -1;
}

void
tars_chat_request_free(struct tars_chat_request *r)
{
  for (size_t i = 0; i < r->n_messages; i++)
    free(r->messages[i].content);
  free(r->messages);
  free(r->step_id);
  free(r->role);
  tars_chat_request_init(r);
}

void
tars_chat_response_free(struct tars_chat_response *r)
{
  free(r->content);
  free(r->finish_reason);
  free(r->model);
  free(r->error);
  memset(r, 0, sizeof *r);
}

int
tars_chat_request_add(struct tars_chat_request *r, enum tars_chat_role role, const char *content,
                      struct tars_error *err)
{
  if (r->n_messages >= TARS_CHAT_MAX_MESSAGES)
    return tars_error_invalid(err, "a chat request holds at most %d messages",
                              TARS_CHAT_MAX_MESSAGES);
  struct tars_chat_message *m = realloc(r->messages, (r->n_messages + 1) * sizeof *m);
  if (m == NULL)
    return tars_error_set(err, ENOMEM, "add a chat message");
  r->messages = m;
  char *copy = strdup(content ? content : "");
  if (copy == NULL)
    return tars_error_set(err, ENOMEM, "add a chat message");
  r->messages[r->n_messages].role = role;
  r->messages[r->n_messages].content = copy;
  r->n_messages++;
  return 0;
}

const char *
tars_chat_request_role(const struct tars_chat_request *r)
{
  return r->role && r->role[0] ? r->role : "coder";
}

size_t
tars_chat_request_bytes(const struct tars_chat_request *r)
{
  size_t n = 0;
  for (size_t i = 0; i < r->n_messages; i++)
    n += strlen(r->messages[i].content);
  return n;
}

int
tars_chat_fail(struct tars_chat_response *resp, enum tars_model_status status,
               const struct tars_error *err)
{
  resp->status = status == TARS_MODEL_OK ? TARS_MODEL_INTERNAL : status;
  free(resp->content);
  resp->content = NULL;
  free(resp->error);
  resp->error = strdup(err && err->msg[0] ? err->msg : tars_model_status_name(resp->status));
  return -1;
}

long
tars_chat_estimate_tokens(size_t bytes)
{
  return (long)((bytes + 3) / 4);
}

/* ----- JSON ----- */

static bool
add_string(cJSON *o, const char *name, const char *v)
{
  return v == NULL || cJSON_AddStringToObject(o, name, v) != NULL;
}

cJSON *
tars_chat_request_to_json(const struct tars_chat_request *r)
{
  cleanup_cjson cJSON *o = cJSON_CreateObject();
  if (o == NULL || !add_string(o, "step", r->step_id))
    return NULL;
  if (r->attempt > 0 && cJSON_AddNumberToObject(o, "attempt", r->attempt) == NULL)
    return NULL;
  if (!add_string(o, "role", tars_chat_request_role(r)))
    return NULL;
  if (cJSON_AddNumberToObject(o, "call", r->call > 0 ? r->call : 1) == NULL)
    return NULL;
  cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
  if (msgs == NULL)
    return NULL;
  for (size_t i = 0; i < r->n_messages; i++)
    {
      cJSON *m = cJSON_CreateObject();
      if (m == NULL || !cJSON_AddItemToArray(msgs, m) ||
          !add_string(m, "role", tars_chat_role_name(r->messages[i].role)) ||
          !add_string(m, "content", r->messages[i].content))
        return NULL;
    }
  if (r->max_tokens > 0 || r->temperature >= 0 || r->timeout_ms > 0)
    {
      cJSON *l = cJSON_AddObjectToObject(o, "limits");
      if (l == NULL)
        return NULL;
      if (r->max_tokens > 0 && cJSON_AddNumberToObject(l, "max_tokens", r->max_tokens) == NULL)
        return NULL;
      if (r->temperature >= 0 && cJSON_AddNumberToObject(l, "temperature", r->temperature) == NULL)
        return NULL;
      if (r->timeout_ms > 0 &&
          cJSON_AddNumberToObject(l, "timeout", r->timeout_ms / 1000.0) == NULL)
        return NULL;
    }
  return steal_pointer(&o);
}

/* A short identifier (step id, role): printable, no control characters, not empty.  */
static int
check_id(const char *key, const char *v, struct tars_error *err)
{
  size_t n = strlen(v);
  if (n == 0 || n > TARS_CHAT_MAX_ID)
    return tars_error_invalid(err, "key \"%s\": expected 1 to %d bytes", key, TARS_CHAT_MAX_ID);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return tars_error_invalid(err, "key \"%s\": control character 0x%02x", key, *p);
  return 0;
}

static int
get_string(const cJSON *v, const char *key, const char **out, struct tars_error *err)
{
  if (!cJSON_IsString(v) || v->valuestring == NULL)
    return tars_error_invalid(err, "key \"%s\": expected a string", key);
  *out = v->valuestring;
  return 0;
}

/* A whole number in [MIN, MAX].  */
static int
get_long(const cJSON *v, const char *key, long min, long max, long *out, struct tars_error *err)
{
  if (!cJSON_IsNumber(v))
    return tars_error_invalid(err, "key \"%s\": expected a number", key);
  double d = v->valuedouble;
  if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
    return tars_error_invalid(err, "key \"%s\": expected a whole number from %ld to %ld", key, min,
                              max);
  *out = (long)d;
  return 0;
}

static int
dup_into(char **dst, const char *src, struct tars_error *err)
{
  char *c = strdup(src);
  if (c == NULL)
    return tars_error_set(err, ENOMEM, "read a chat message");
  free(*dst);
  *dst = c;
  return 0;
}

static int
limits_from_json(const cJSON *l, struct tars_chat_request *r, struct tars_error *err)
{
  if (!cJSON_IsObject(l))
    return tars_error_invalid(err, "key \"limits\": expected an object");
  for (const cJSON *k = l->child; k; k = k->next)
    {
      const char *name = k->string ? k->string : "";
      if (strcmp(name, "max_tokens") == 0)
        {
          if (get_long(k, "limits.max_tokens", 1, 1L << 24, &r->max_tokens, err) < 0)
            return -1;
        }
      else if (strcmp(name, "temperature") == 0)
        {
          if (!cJSON_IsNumber(k) || !(k->valuedouble >= 0 && k->valuedouble <= 2))
            return tars_error_invalid(err, "key \"limits.temperature\": expected a number from 0 "
                                           "to 2");
          r->temperature = k->valuedouble;
        }
      else if (strcmp(name, "timeout") == 0)
        {
          if (!cJSON_IsNumber(k) || !(k->valuedouble >= 0.001 && k->valuedouble <= 86400))
            return tars_error_invalid(err, "key \"limits.timeout\": expected seconds, from 0.001 "
                                           "to 86400");
          r->timeout_ms = (long)ceil(k->valuedouble * 1000);
        }
      else
        {
          char shown[64];
          snprintf(shown, sizeof shown, "%.40s", name);
          return tars_error_invalid(err, "unknown key \"limits.%s\"", shown);
        }
    }
  return 0;
}

static int
messages_from_json(const cJSON *msgs, struct tars_chat_request *r, struct tars_error *err)
{
  if (!cJSON_IsArray(msgs))
    return tars_error_invalid(err, "key \"messages\": expected an array");
  int n = cJSON_GetArraySize(msgs);
  if (n == 0)
    return tars_error_invalid(err, "key \"messages\": no message");
  if (n > TARS_CHAT_MAX_MESSAGES)
    return tars_error_invalid(err, "key \"messages\": %d messages, at most %d", n,
                              TARS_CHAT_MAX_MESSAGES);
  size_t total = 0;
  int i = 0;
  for (const cJSON *m = msgs->child; m; m = m->next, i++)
    {
      char key[64];
      snprintf(key, sizeof key, "messages[%d]", i);
      if (!cJSON_IsObject(m))
        return tars_error_invalid(err, "key \"%s\": expected an object", key);
      const char *role = NULL, *content = NULL;
      enum tars_chat_role rv;
      for (const cJSON *k = m->child; k; k = k->next)
        {
          const char *name = k->string ? k->string : "";
          if (strcmp(name, "role") == 0)
            {
              if (get_string(k, "role", &role, err) < 0)
                return tars_error_prefix(err, "%s", key);
            }
          else if (strcmp(name, "content") == 0)
            {
              if (get_string(k, "content", &content, err) < 0)
                return tars_error_prefix(err, "%s", key);
            }
          else
            {
              char shown[64];
              snprintf(shown, sizeof shown, "%.40s", name);
              return tars_error_invalid(err, "unknown key \"%s.%s\"", key, shown);
            }
        }
      if (role == NULL || tars_chat_role_from_name(role, &rv) < 0)
        return tars_error_invalid(err,
                                  "key \"%s.role\": expected \"system\", \"user\" or "
                                  "\"assistant\"",
                                  key);
      if (content == NULL)
        return tars_error_invalid(err, "key \"%s.content\": missing", key);
      total += strlen(content);
      if (total > TARS_CHAT_MAX_PROMPT_BYTES)
        return tars_error_invalid(err, "key \"messages\": more than %u bytes of content",
                                  TARS_CHAT_MAX_PROMPT_BYTES);
      if (tars_chat_request_add(r, rv, content, err) < 0)
        return -1;
    }
  return 0;
}

static int
request_from_json(const cJSON *j, struct tars_chat_request *r, struct tars_error *err)
{
  if (!cJSON_IsObject(j))
    return tars_error_invalid(err, "a chat request must be a JSON object");
  bool have_messages = false;
  for (const cJSON *k = j->child; k; k = k->next)
    {
      const char *name = k->string ? k->string : "";
      const char *s = NULL;
      long n = 0;
      if (strcmp(name, "type") == 0)
        continue;
      if (strcmp(name, "step") == 0 || strcmp(name, "role") == 0)
        {
          if (cJSON_IsNull(k))
            continue;
          if (get_string(k, name, &s, err) < 0 || check_id(name, s, err) < 0 ||
              dup_into(name[0] == 's' ? &r->step_id : &r->role, s, err) < 0)
            return -1;
        }
      else if (strcmp(name, "attempt") == 0 || strcmp(name, "call") == 0)
        {
          if (get_long(k, name, 1, 1000000, &n, err) < 0)
            return -1;
          if (name[0] == 'a')
            r->attempt = (int)n;
          else
            r->call = (int)n;
        }
      else if (strcmp(name, "messages") == 0)
        {
          if (messages_from_json(k, r, err) < 0)
            return -1;
          have_messages = true;
        }
      else if (strcmp(name, "limits") == 0)
        {
          if (limits_from_json(k, r, err) < 0)
            return -1;
        }
      else
        {
          char shown[64];
          snprintf(shown, sizeof shown, "%.40s", name);
          return tars_error_invalid(err, "unknown key \"%s\"", shown);
        }
    }
  if (!have_messages)
    return tars_error_invalid(err, "key \"messages\": missing");
  return 0;
}

int
tars_chat_request_from_json(const cJSON *j, struct tars_chat_request *r, struct tars_error *err)
{
  tars_chat_request_init(r);
  if (request_from_json(j, r, err) < 0)
    {
      tars_chat_request_free(r);
      return -1;
    }
  return 0;
}

cJSON *
tars_chat_response_to_json(const struct tars_chat_response *r)
{
  cleanup_cjson cJSON *o = cJSON_CreateObject();
  if (o == NULL || !add_string(o, "status", tars_model_status_name(r->status)) ||
      !add_string(o, "content", r->content) || !add_string(o, "finish_reason", r->finish_reason) ||
      !add_string(o, "model", r->model))
    return NULL;
  cJSON *u = cJSON_AddObjectToObject(o, "usage");
  if (u == NULL || cJSON_AddNumberToObject(u, "prompt_tokens", r->usage.prompt_tokens) == NULL ||
      cJSON_AddNumberToObject(u, "completion_tokens", r->usage.completion_tokens) == NULL ||
      cJSON_AddBoolToObject(u, "estimated", r->usage.estimated) == NULL)
    return NULL;
  if (cJSON_AddNumberToObject(o, "duration_ms", r->duration_ms) == NULL ||
      cJSON_AddNumberToObject(o, "http_attempts", r->http_attempts) == NULL ||
      cJSON_AddNumberToObject(o, "http_status", r->http_status) == NULL ||
      !add_string(o, "error", r->error))
    return NULL;
  return steal_pointer(&o);
}

static int
usage_from_json(const cJSON *u, struct tars_chat_usage *out, struct tars_error *err)
{
  if (!cJSON_IsObject(u))
    return tars_error_invalid(err, "key \"usage\": expected an object");
  for (const cJSON *k = u->child; k; k = k->next)
    {
      const char *name = k->string ? k->string : "";
      if (strcmp(name, "prompt_tokens") == 0)
        {
          if (get_long(k, "usage.prompt_tokens", 0, 1L << 40, &out->prompt_tokens, err) < 0)
            return -1;
        }
      else if (strcmp(name, "completion_tokens") == 0)
        {
          if (get_long(k, "usage.completion_tokens", 0, 1L << 40, &out->completion_tokens, err) < 0)
            return -1;
        }
      else if (strcmp(name, "estimated") == 0)
        {
          if (!cJSON_IsBool(k))
            return tars_error_invalid(err, "key \"usage.estimated\": expected true or false");
          out->estimated = cJSON_IsTrue(k);
        }
      else
        {
          char shown[64];
          snprintf(shown, sizeof shown, "%.40s", name);
          return tars_error_invalid(err, "unknown key \"usage.%s\"", shown);
        }
    }
  return 0;
}

static int
response_from_json(const cJSON *j, struct tars_chat_response *r, struct tars_error *err)
{
  if (!cJSON_IsObject(j))
    return tars_error_invalid(err, "a chat response must be a JSON object");
  bool have_status = false;
  for (const cJSON *k = j->child; k; k = k->next)
    {
      const char *name = k->string ? k->string : "";
      const char *s = NULL;
      long n = 0;
      if (cJSON_IsNull(k))
        continue;
      if (strcmp(name, "status") == 0)
        {
          if (get_string(k, name, &s, err) < 0)
            return -1;
          if (tars_model_status_from_name(s, &r->status) < 0)
            {
              char shown[64];
              snprintf(shown, sizeof shown, "%.40s", s);
              return tars_error_invalid(err, "key \"status\": unknown status \"%s\"", shown);
            }
          have_status = true;
        }
      else if (strcmp(name, "content") == 0 || strcmp(name, "finish_reason") == 0 ||
               strcmp(name, "model") == 0 || strcmp(name, "error") == 0)
        {
          if (get_string(k, name, &s, err) < 0)
            return -1;
          if (name[0] == 'c' && strlen(s) > TARS_CHAT_MAX_ANSWER_BYTES)
            return tars_error_invalid(err, "key \"content\": more than %u bytes",
                                      TARS_CHAT_MAX_ANSWER_BYTES);
          char **dst = name[0] == 'c'   ? &r->content
                       : name[0] == 'f' ? &r->finish_reason
                       : name[0] == 'm' ? &r->model
                                        : &r->error;
          if (dup_into(dst, s, err) < 0)
            return -1;
        }
      else if (strcmp(name, "usage") == 0)
        {
          if (usage_from_json(k, &r->usage, err) < 0)
            return -1;
        }
      else if (strcmp(name, "duration_ms") == 0)
        {
          if (get_long(k, name, 0, 1L << 40, &r->duration_ms, err) < 0)
            return -1;
        }
      else if (strcmp(name, "http_attempts") == 0 || strcmp(name, "http_status") == 0)
        {
          if (get_long(k, name, 0, 1000000, &n, err) < 0)
            return -1;
          if (name[5] == 'a')
            r->http_attempts = (int)n;
          else
            r->http_status = (int)n;
        }
      else
        {
          char shown[64];
          snprintf(shown, sizeof shown, "%.40s", name);
          return tars_error_invalid(err, "unknown key \"%s\"", shown);
        }
    }
  if (!have_status)
    r->status = r->content ? TARS_MODEL_OK : TARS_MODEL_INTERNAL;
  if (r->status == TARS_MODEL_OK && r->content == NULL)
    return tars_error_invalid(err, "key \"content\": missing from an answer whose status is ok");
  return 0;
}

int
tars_chat_response_from_json(const cJSON *j, struct tars_chat_response *r, struct tars_error *err)
{
  memset(r, 0, sizeof *r);
  if (response_from_json(j, r, err) < 0)
    {
      tars_chat_response_free(r);
      return -1;
    }
  return 0;
}
