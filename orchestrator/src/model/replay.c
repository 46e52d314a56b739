/* Recordings of model exchanges: loading and matching them (the replay provider), and writing
 * them (the recorder).  See replay.h.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/replay.h"
#include "tars/cleanup.h"

struct exchange
{
  char *step;
  int attempt;
  char *role;
  int call;
  struct tars_chat_response resp; /* status OK with content, or a failure with error */
};

struct tars_replay
{
  struct exchange *ex;
  size_t n;
  char *where;
};

static void
free_exchange(struct exchange *e)
{
  free(e->step);
  free(e->role);
  tars_chat_response_free(&e->resp);
}

void
tars_replay_free(struct tars_replay *rp)
{
  if (rp == NULL)
    return;
  for (size_t i = 0; i < rp->n; i++)
    free_exchange(&rp->ex[i]);
  free(rp->ex);
  free(rp->where);
  free(rp);
}

size_t
tars_replay_count(const struct tars_replay *rp)
{
  return rp->n;
}

static bool
same_key(const struct exchange *e, const char *step, int attempt, const char *role, int call)
{
  return strcmp(e->step, step) == 0 && e->attempt == attempt && strcmp(e->role, role) == 0 &&
         e->call == call;
}

/* A whole number in [1, 1000000], or the default when absent.  */
static int
read_count(const cJSON *o, const char *key, int def, int *out, const char *what,
           struct tars_error *err)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (v == NULL)
    {
      *out = def;
      return 0;
    }
  if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1000000 ||
      v->valuedouble != (double)(int)v->valuedouble)
    return tars_error_invalid(err, "%s: key \"%s\": expected a whole number from 1", what, key);
  *out = (int)v->valuedouble;
  return 0;
}

static int
read_id(const cJSON *o, const char *key, const char *def, char **out, const char *what,
        struct tars_error *err)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  const char *s = def;
  if (v != NULL)
    {
      if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
          strlen(v->valuestring) > TARS_CHAT_MAX_ID)
        return tars_error_invalid(err, "%s: key \"%s\": expected a string of 1 to %d bytes", what,
                                  key, TARS_CHAT_MAX_ID);
      for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
          return tars_error_invalid(err, "%s: key \"%s\": a control character", what, key);
      s = v->valuestring;
    }
  if (s == NULL)
    return tars_error_invalid(err, "%s: key \"%s\": missing", what, key);
  if ((*out = strdup(s)) == NULL)
    return tars_error_set(err, ENOMEM, "%s", what);
  return 0;
}

static int
read_error(const cJSON *e, struct tars_chat_response *resp, const char *what,
           struct tars_error *err)
{
  if (!cJSON_IsObject(e))
    return tars_error_invalid(err, "%s: key \"error\": expected an object", what);
  const char *status = NULL, *message = NULL;
  for (const cJSON *k = e->child; k; k = k->next)
    {
      const char *name = k->string ? k->string : "";
      if ((strcmp(name, "status") == 0 || strcmp(name, "message") == 0) && cJSON_IsString(k))
        *(name[0] == 's' ? &status : &message) = k->valuestring;
      else
        {
          char shown[48];
          snprintf(shown, sizeof shown, "%.40s", name);
          return tars_error_invalid(err, "%s: key \"error.%s\": unknown, or not a string", what,
                                    shown);
        }
    }
  if (status == NULL || tars_model_status_from_name(status, &resp->status) < 0 ||
      resp->status == TARS_MODEL_OK)
    return tars_error_invalid(err,
                              "%s: key \"error.status\": expected a failure's name (\"timeout\", "
                              "\"bad-response\"...)",
                              what);
  if ((resp->error = strdup(message ? message : status)) == NULL)
    return tars_error_set(err, ENOMEM, "%s", what);
  return 0;
}

static int
read_exchange(const cJSON *o, struct exchange *e, const char *what, struct tars_error *err)
{
  if (!cJSON_IsObject(o))
    return tars_error_invalid(err, "%s: expected an object", what);
  static const char *const known[] = {"step",    "attempt",  "role",  "call",
                                      "request", "response", "error", NULL};
  for (const cJSON *k = o->child; k; k = k->next)
    {
      const char *const *n = known;
      while (*n && strcmp(*n, k->string ? k->string : "") != 0)
        n++;
      if (*n == NULL)
        {
          char shown[48];
          snprintf(shown, sizeof shown, "%.40s", k->string ? k->string : "");
          return tars_error_invalid(err, "%s: unknown key \"%s\"", what, shown);
        }
    }
  if (read_id(o, "step", NULL, &e->step, what, err) < 0 ||
      read_id(o, "role", "coder", &e->role, what, err) < 0 ||
      read_count(o, "attempt", 1, &e->attempt, what, err) < 0 ||
      read_count(o, "call", 1, &e->call, what, err) < 0)
    return -1;
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "request");
  if (req && !cJSON_IsObject(req))
    return tars_error_invalid(err, "%s: key \"request\": expected an object", what);
  const cJSON *resp = cJSON_GetObjectItemCaseSensitive(o, "response");
  const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "error");
  if ((resp == NULL) == (error == NULL))
    return tars_error_invalid(err, "%s: expected one of \"response\" and \"error\"", what);
  if (error)
    return read_error(error, &e->resp, what, err);
  if (tars_chat_response_from_json(resp, &e->resp, err) < 0)
    return tars_error_prefix(err, "%s: key \"response\"", what);
  if (e->resp.content == NULL)
    return tars_error_invalid(err, "%s: key \"response\": no \"content\"", what);
  if (e->resp.status != TARS_MODEL_OK)
    return tars_error_invalid(err, "%s: a \"response\" is an answer; a failure goes in \"error\"",
                              what);
  return 0;
}

int
tars_replay_parse(const char *text, size_t len, const char *where, struct tars_replay **out,
                  struct tars_error *err)
{
  *out = NULL;
  cleanup_cjson cJSON *root = cJSON_ParseWithLength(text, len);
  if (root == NULL)
    return tars_error_invalid(err, "%s: malformed JSON", where);
  if (!cJSON_IsObject(root))
    return tars_error_invalid(err, "%s: the top level is not an object", where);
  const cJSON *version = NULL, *exchanges = NULL;
  for (const cJSON *k = root->child; k; k = k->next)
    {
      const char *name = k->string ? k->string : "";
      if (strcmp(name, "tars_replay") == 0)
        version = k;
      else if (strcmp(name, "exchanges") == 0)
        exchanges = k;
      else if (strcmp(name, "description") == 0 && cJSON_IsString(k))
        continue;
      else
        {
          char shown[48];
          snprintf(shown, sizeof shown, "%.40s", name);
          return tars_error_invalid(err, "%s: unknown key \"%s\"", where, shown);
        }
    }
  if (!cJSON_IsNumber(version) || version->valuedouble != 1)
    return tars_error_invalid(err, "%s: not a tars recording (expected \"tars_replay\": 1)", where);
  if (!cJSON_IsArray(exchanges))
    return tars_error_invalid(err, "%s: key \"exchanges\": expected an array", where);
  int n = cJSON_GetArraySize(exchanges);
  if (n > TARS_REPLAY_MAX_EXCHANGES)
    return tars_error_invalid(err, "%s: %d exchanges, at most %d", where, n,
                              TARS_REPLAY_MAX_EXCHANGES);

  struct tars_replay *rp = calloc(1, sizeof *rp);
  if (rp == NULL || (rp->where = strdup(where)) == NULL ||
      (n > 0 && (rp->ex = calloc((size_t)n, sizeof *rp->ex)) == NULL))
    {
      tars_replay_free(rp);
      return tars_error_set(err, ENOMEM, "%s", where);
    }
  int i = 0;
  for (const cJSON *o = exchanges->child; o; o = o->next, i++)
    {
      char what[PATH_MAX + 64];
      snprintf(what, sizeof what, "%s: exchange %d", where, i);
      struct exchange *e = &rp->ex[rp->n];
      if (read_exchange(o, e, what, err) < 0)
        {
          free_exchange(e);
          tars_replay_free(rp);
          return -1;
        }
      rp->n++;
      for (size_t j = 0; j + 1 < rp->n; j++)
        if (same_key(&rp->ex[j], e->step, e->attempt, e->role, e->call))
          {
            tars_error_invalid(err,
                               "%s: exchanges %zu and %d are both step %s, attempt %d, role %s, "
                               "call %d",
                               where, j, i, e->step, e->attempt, e->role, e->call);
            tars_replay_free(rp);
            return -1;
          }
    }
  *out = rp;
  return 0;
}

int
tars_replay_load(const char *path, struct tars_replay **out, struct tars_error *err)
{
  *out = NULL;
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int e = errno;
      tars_error_set(err, e, "replay: open %s", path);
      if (err && (e == ENOENT || e == ENOTDIR))
        err->kind = TARS_ERR_INVALID;
      return -1;
    }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "replay: stat %s", path);
  if (!S_ISREG(st.st_mode))
    return tars_error_invalid(err, "replay: %s is not a regular file", path);
  if ((uint64_t)st.st_size > TARS_REPLAY_MAX_BYTES)
    return tars_error_invalid(err, "replay: %s is larger than %u bytes", path,
                              TARS_REPLAY_MAX_BYTES);
  cleanup_free char *buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL)
    return tars_error_set(err, ENOMEM, "replay: read %s", path);
  size_t n = 0;
  while (n < (size_t)st.st_size)
    {
      ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "replay: read %s", path);
      if (r == 0)
        break;
      n += (size_t)r;
    }
  buf[n] = '\0';
  char where[PATH_MAX + 16];
  snprintf(where, sizeof where, "replay: %s", path);
  return tars_replay_parse(buf, n, where, out, err);
}

int
tars_replay_models(const struct tars_replay *rp, char ***names, size_t *n, struct tars_error *err)
{
  char **v = calloc(rp->n + 1, sizeof *v);
  size_t k = 0;
  if (v == NULL)
    return tars_error_set(err, ENOMEM, "list the recorded models");
  for (size_t i = 0; i < rp->n; i++)
    {
      const char *m = rp->ex[i].resp.model;
      bool seen = m == NULL;
      for (size_t j = 0; !seen && j < k; j++)
        seen = strcmp(v[j], m) == 0;
      if (!seen && (v[k++] = strdup(m)) == NULL)
        {
          for (size_t j = 0; j < k; j++)
            free(v[j]);
          free(v);
          return tars_error_set(err, ENOMEM, "list the recorded models");
        }
    }
  *names = v;
  *n = k;
  return 0;
}

static char *
dup_or_null(const char *s, bool *failed)
{
  if (s == NULL)
    return NULL;
  char *c = strdup(s);
  if (c == NULL)
    *failed = true;
  return c;
}

int
tars_replay_answer(const struct tars_replay *rp, const struct tars_chat_request *req,
                   struct tars_chat_response *resp, struct tars_error *err)
{
  memset(resp, 0, sizeof *resp);
  const char *role = tars_chat_request_role(req);
  int call = req->call > 0 ? req->call : 1;
  int attempt = req->attempt > 0 ? req->attempt : 1;
  if (req->step_id == NULL)
    {
      tars_error_invalid(err, "%s: a replayed request needs a step (none given)", rp->where);
      return tars_chat_fail(resp, TARS_MODEL_NO_RECORDING, err);
    }
  for (size_t i = 0; i < rp->n; i++)
    {
      const struct exchange *e = &rp->ex[i];
      if (!same_key(e, req->step_id, attempt, role, call))
        continue;
      if (e->resp.status != TARS_MODEL_OK)
        {
          tars_error_set(err, 0, "%s", e->resp.error ? e->resp.error : "recorded failure");
          return tars_chat_fail(resp, e->resp.status, err);
        }
      bool failed = false;
      resp->status = TARS_MODEL_OK;
      resp->content = dup_or_null(e->resp.content, &failed);
      resp->finish_reason = dup_or_null(e->resp.finish_reason, &failed);
      resp->model = dup_or_null(e->resp.model, &failed);
      resp->usage = e->resp.usage;
      if (resp->usage.prompt_tokens == 0 && resp->usage.completion_tokens == 0)
        {
          resp->usage.prompt_tokens = tars_chat_estimate_tokens(tars_chat_request_bytes(req));
          resp->usage.completion_tokens =
              tars_chat_estimate_tokens(e->resp.content ? strlen(e->resp.content) : 0);
          resp->usage.estimated = true;
        }
      if (failed)
        {
          tars_error_set(err, ENOMEM, "replay an answer");
          return tars_chat_fail(resp, TARS_MODEL_INTERNAL, err);
        }
      return 0;
    }
  tars_error_set(err, 0, "%s: no recorded exchange for step %s, attempt %d (role %s, call %d)",
                 rp->where, req->step_id, attempt, role, call);
  return tars_chat_fail(resp, TARS_MODEL_NO_RECORDING, err);
}

/* ----- the recorder ----- */

struct tars_recorder
{
  char *path;
  struct tars_redactor redactor;
  cJSON *root; /* the recording so far */
  cJSON *exchanges;
};

static int
write_file(struct tars_recorder *rec, struct tars_error *err)
{
  cleanup_free char *text = cJSON_Print(rec->root);
  if (text == NULL)
    return tars_error_set(err, ENOMEM, "record %s", rec->path);
  cleanup_free char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp-%d", rec->path, (int)getpid()) < 0)
    {
      tmp = NULL;
      return tars_error_set(err, ENOMEM, "record %s", rec->path);
    }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return tars_error_set(err, errno, "record: create %s", tmp);
  size_t len = strlen(text), off = 0;
  while (off < len)
    {
      ssize_t w = write(fd, text + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          int e = errno;
          close(fd);
          unlink(tmp);
          return tars_error_set(err, e, "record: write %s", tmp);
        }
      off += (size_t)w;
    }
  if (write(fd, "\n", 1) != 1 || fsync(fd) < 0)
    {
      int e = errno;
      close(fd);
      unlink(tmp);
      return tars_error_set(err, e, "record: write %s", tmp);
    }
  if (close(fd) < 0 || rename(tmp, rec->path) < 0)
    {
      int e = errno;
      unlink(tmp);
      return tars_error_set(err, e, "record: rename %s to %s", tmp, rec->path);
    }
  return 0;
}

int
tars_recorder_open(const char *path, const struct tars_redactor *r, struct tars_recorder **out,
                   struct tars_error *err)
{
  *out = NULL;
  struct tars_recorder *rec = calloc(1, sizeof *rec);
  if (rec == NULL || (rec->path = strdup(path)) == NULL)
    {
      free(rec);
      return tars_error_set(err, ENOMEM, "record %s", path);
    }
  tars_redactor_init(&rec->redactor);
  for (size_t i = 0; r && i < r->n_secrets; i++)
    if (tars_redactor_add(&rec->redactor, r->secrets[i]) < 0)
      {
        tars_recorder_close(rec);
        return tars_error_set(err, ENOMEM, "record %s", path);
      }
  rec->root = cJSON_CreateObject();
  if (rec->root == NULL || cJSON_AddNumberToObject(rec->root, "tars_replay", 1) == NULL ||
      (rec->exchanges = cJSON_AddArrayToObject(rec->root, "exchanges")) == NULL)
    {
      tars_recorder_close(rec);
      return tars_error_set(err, ENOMEM, "record %s", path);
    }
  if (write_file(rec, err) < 0)
    {
      tars_recorder_close(rec);
      return -1;
    }
  *out = rec;
  return 0;
}

int
tars_recorder_add(struct tars_recorder *rec, const struct tars_chat_request *req,
                  const struct tars_chat_response *resp, struct tars_error *err)
{
  cleanup_cjson cJSON *e = cJSON_CreateObject();
  cleanup_cjson cJSON *rq = tars_chat_request_to_json(req);
  if (e == NULL || rq == NULL)
    return tars_error_set(err, ENOMEM, "record %s", rec->path);
  if (cJSON_AddStringToObject(e, "step", req->step_id ? req->step_id : "none") == NULL ||
      cJSON_AddNumberToObject(e, "attempt", req->attempt > 0 ? req->attempt : 1) == NULL ||
      cJSON_AddStringToObject(e, "role", tars_chat_request_role(req)) == NULL ||
      cJSON_AddNumberToObject(e, "call", req->call > 0 ? req->call : 1) == NULL)
    return tars_error_set(err, ENOMEM, "record %s", rec->path);
  /* The request's identity is already the exchange's: keep the messages and limits only.  */
  cJSON_DeleteItemFromObjectCaseSensitive(rq, "step");
  cJSON_DeleteItemFromObjectCaseSensitive(rq, "attempt");
  cJSON_DeleteItemFromObjectCaseSensitive(rq, "role");
  cJSON_DeleteItemFromObjectCaseSensitive(rq, "call");
  cJSON_AddItemToObject(e, "request", steal_pointer(&rq));
  if (resp->status == TARS_MODEL_OK)
    {
      cJSON *o = cJSON_AddObjectToObject(e, "response");
      cJSON *u;
      if (o == NULL ||
          cJSON_AddStringToObject(o, "content", resp->content ? resp->content : "") == NULL ||
          (resp->finish_reason &&
           cJSON_AddStringToObject(o, "finish_reason", resp->finish_reason) == NULL) ||
          (resp->model && cJSON_AddStringToObject(o, "model", resp->model) == NULL) ||
          (u = cJSON_AddObjectToObject(o, "usage")) == NULL ||
          cJSON_AddNumberToObject(u, "prompt_tokens", resp->usage.prompt_tokens) == NULL ||
          cJSON_AddNumberToObject(u, "completion_tokens", resp->usage.completion_tokens) == NULL ||
          (resp->usage.estimated && cJSON_AddBoolToObject(u, "estimated", 1) == NULL))
        return tars_error_set(err, ENOMEM, "record %s", rec->path);
    }
  else
    {
      cJSON *o = cJSON_AddObjectToObject(e, "error");
      if (o == NULL ||
          cJSON_AddStringToObject(o, "status", tars_model_status_name(resp->status)) == NULL ||
          cJSON_AddStringToObject(o, "message", resp->error ? resp->error : "") == NULL)
        return tars_error_set(err, ENOMEM, "record %s", rec->path);
    }
  if (tars_redact_json(&rec->redactor, e) < 0)
    return tars_error_set(err, ENOMEM, "record %s", rec->path);
  cJSON_AddItemToArray(rec->exchanges, steal_pointer(&e));
  return write_file(rec, err);
}

void
tars_recorder_close(struct tars_recorder *rec)
{
  if (rec == NULL)
    return;
  free(rec->path);
  tars_redactor_free(&rec->redactor);
  cJSON_Delete(rec->root);
  free(rec);
}
