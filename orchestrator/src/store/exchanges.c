/* Model exchanges in the store (see exchanges.h).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/exchanges.h"
#include "tars/cleanup.h"

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
  return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int
db_failed(struct tars_store *s, struct tars_error *err, const char *what)
{
  return tars_error_set(err, 0, "%s: %s: %s", tars_store_db_path(s), what,
                        sqlite3_errmsg(tars_store_db(s)));
}

/* J printed after redaction; J is changed.  */
static char *
redacted_json(cJSON *j, const struct tars_redactor *r)
{
  if (j == NULL || tars_redact_json(r, j) < 0)
    return NULL;
  return cJSON_PrintUnformatted(j);
}

static int
insert(struct tars_store *s, const struct tars_exchange *ex, const struct tars_redactor *r,
       const char *id, const char *now, struct tars_error *err)
{
  const struct tars_chat_request *rq = ex->request;
  const struct tars_chat_response *rs = ex->response;
  cleanup_cjson cJSON *rqj = tars_chat_request_to_json(rq);
  cleanup_cjson cJSON *rsj = tars_chat_response_to_json(rs);
  cleanup_free char *rq_text = redacted_json(rqj, r);
  cleanup_free char *rs_text = redacted_json(rsj, r);
  cleanup_free char *url = ex->url ? tars_redact(r, ex->url) : NULL;
  cleanup_free char *error = rs->error ? tars_redact(r, rs->error) : NULL;
  cleanup_free char *model = ex->model ? tars_redact(r, ex->model) : NULL;
  if (rq_text == NULL || rs_text == NULL || (ex->url && url == NULL) ||
      (rs->error && error == NULL) || (ex->model && model == NULL))
    return tars_error_set(err, ENOMEM, "record a model exchange");

  cleanup_stmt sqlite3_stmt *st = NULL;
  if (tars_store_prepare(s,
                         "INSERT INTO exchanges (id, execution_id, step_id, attempt, role, call, "
                         "provider, url, model, status, error, started_at, duration_ms, "
                         "http_attempts, prompt_tokens, completion_tokens, usage_estimated, "
                         "request, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                         "?, ?, ?, ?)",
                         &st, err) < 0)
    return -1;
  bind_text(st, 1, id);
  bind_text(st, 2, ex->execution_id);
  bind_text(st, 3, rq->step_id);
  sqlite3_bind_int(st, 4, rq->attempt > 0 ? rq->attempt : 1);
  bind_text(st, 5, tars_chat_request_role(rq));
  sqlite3_bind_int(st, 6, rq->call > 0 ? rq->call : 1);
  bind_text(st, 7, ex->provider);
  bind_text(st, 8, url);
  bind_text(st, 9, model);
  bind_text(st, 10, tars_model_status_name(rs->status));
  bind_text(st, 11, error);
  bind_text(st, 12, now);
  sqlite3_bind_int64(st, 13, rs->duration_ms);
  sqlite3_bind_int(st, 14, rs->http_attempts);
  sqlite3_bind_int64(st, 15, rs->usage.prompt_tokens);
  sqlite3_bind_int64(st, 16, rs->usage.completion_tokens);
  sqlite3_bind_int(st, 17, rs->usage.estimated);
  bind_text(st, 18, rq_text);
  bind_text(st, 19, rs_text);
  if (sqlite3_step(st) != SQLITE_DONE)
    return db_failed(s, err, "record a model exchange");

  cleanup_cjson cJSON *details = cJSON_CreateObject();
  if (details == NULL || cJSON_AddStringToObject(details, "exchange", id) == NULL ||
      cJSON_AddNumberToObject(details, "attempt", rq->attempt > 0 ? rq->attempt : 1) == NULL ||
      cJSON_AddStringToObject(details, "role", tars_chat_request_role(rq)) == NULL ||
      cJSON_AddNumberToObject(details, "call", rq->call > 0 ? rq->call : 1) == NULL ||
      cJSON_AddStringToObject(details, "status", tars_model_status_name(rs->status)) == NULL ||
      cJSON_AddStringToObject(details, "provider", ex->provider ? ex->provider : "") == NULL ||
      (model && cJSON_AddStringToObject(details, "model", model) == NULL) ||
      cJSON_AddNumberToObject(details, "prompt_tokens", (double)rs->usage.prompt_tokens) == NULL ||
      cJSON_AddNumberToObject(details, "completion_tokens", (double)rs->usage.completion_tokens) ==
          NULL ||
      cJSON_AddNumberToObject(details, "duration_ms", (double)rs->duration_ms) == NULL)
    return tars_error_set(err, ENOMEM, "record a model exchange");
  struct tars_audit_event ev = {
      .event = "model_exchange",
      .actor = ex->actor ? ex->actor : "gateway",
      .execution_id = ex->execution_id,
      .step_id = rq->step_id,
      .reason = error,
      .details = details,
  };
  return tars_audit_add(s, &ev, err);
}

int
tars_exchange_add(struct tars_store *s, const struct tars_exchange *ex,
                  const struct tars_redactor *r, char id_out[64], struct tars_error *err)
{
  char id[64], now[40];
  tars_new_id("xch", id, sizeof id);
  tars_now_iso(now, sizeof now);
  bool own = sqlite3_get_autocommit(tars_store_db(s)) != 0;
  if (own && tars_store_begin(s, err) < 0)
    return -1;
  if (insert(s, ex, r, id, now, err) < 0)
    {
      if (own)
        tars_store_rollback(s);
      return -1;
    }
  if (own && tars_store_commit(s, err) < 0)
    return -1;
  if (id_out)
    snprintf(id_out, 64, "%s", id);
  return 0;
}

void
tars_step_usage_free(struct tars_step_usage *u, size_t n)
{
  for (size_t i = 0; u && i < n; i++)
    free(u[i].step_id);
  free(u);
}

int
tars_exchanges_usage(struct tars_store *s, const char *execution_id, struct tars_step_usage **out,
                     size_t *n, struct tars_error *err)
{
  *out = NULL;
  *n = 0;
  cleanup_stmt sqlite3_stmt *st = NULL;
  if (tars_store_prepare(
          s,
          "SELECT step_id, "
          "  sum(status NOT IN ('budget-exhausted', 'bad-request')), "
          "  sum(status NOT IN ('ok', 'budget-exhausted', 'bad-request')), "
          "  sum(status IN ('budget-exhausted', 'bad-request')), "
          "  sum(prompt_tokens), sum(completion_tokens), sum(duration_ms), max(usage_estimated), "
          "  min(rowid) AS first "
          "FROM exchanges WHERE execution_id IS ?1 GROUP BY step_id ORDER BY first",
          &st, err) < 0)
    return -1;
  bind_text(st, 1, execution_id);
  struct tars_step_usage *v = NULL;
  size_t k = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    {
      struct tars_step_usage *nv = realloc(v, (k + 1) * sizeof *v);
      if (nv == NULL)
        {
          tars_step_usage_free(v, k);
          return tars_error_set(err, ENOMEM, "sum the model usage");
        }
      v = nv;
      struct tars_step_usage *u = &v[k];
      memset(u, 0, sizeof *u);
      const char *step = (const char *)sqlite3_column_text(st, 0);
      if (step && (u->step_id = strdup(step)) == NULL)
        {
          tars_step_usage_free(v, k);
          return tars_error_set(err, ENOMEM, "sum the model usage");
        }
      k++;
      u->calls = sqlite3_column_int64(st, 1);
      u->failed = sqlite3_column_int64(st, 2);
      u->refused = sqlite3_column_int64(st, 3);
      u->prompt_tokens = sqlite3_column_int64(st, 4);
      u->completion_tokens = sqlite3_column_int64(st, 5);
      u->duration_ms = sqlite3_column_int64(st, 6);
      u->estimated = sqlite3_column_int(st, 7) != 0;
    }
  if (rc != SQLITE_DONE)
    {
      tars_step_usage_free(v, k);
      return db_failed(s, err, "sum the model usage");
    }
  *out = v;
  *n = k;
  return 0;
}

int
tars_exchanges_list(struct tars_store *s, const char *execution_id, const char *step_id,
                    cJSON **out, struct tars_error *err)
{
  static const char *const names[] = {"id",
                                      "execution_id",
                                      "step_id",
                                      "attempt",
                                      "role",
                                      "call",
                                      "provider",
                                      "url",
                                      "model",
                                      "status",
                                      "error",
                                      "started_at",
                                      "duration_ms",
                                      "http_attempts",
                                      "prompt_tokens",
                                      "completion_tokens",
                                      "usage_estimated",
                                      "request",
                                      "response"};
  enum
  {
    TEXT,
    INT,
    JSON
  };
  static const int kinds[] = {TEXT, TEXT, TEXT, INT, TEXT, INT, TEXT, TEXT, TEXT, TEXT,
                              TEXT, TEXT, INT,  INT, INT,  INT, INT,  JSON, JSON};
  *out = NULL;
  cleanup_stmt sqlite3_stmt *st = NULL;
  if (tars_store_prepare(s,
                         "SELECT id, execution_id, step_id, attempt, role, call, provider, url, "
                         "model, status, error, started_at, duration_ms, http_attempts, "
                         "prompt_tokens, completion_tokens, usage_estimated, request, response "
                         "FROM exchanges WHERE (?1 IS NULL OR execution_id = ?1) "
                         "AND (?2 IS NULL OR step_id = ?2) ORDER BY rowid",
                         &st, err) < 0)
    return -1;
  bind_text(st, 1, execution_id);
  bind_text(st, 2, step_id);
  cleanup_cjson cJSON *arr = cJSON_CreateArray();
  if (arr == NULL)
    return tars_error_set(err, ENOMEM, "list the model exchanges");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    {
      cJSON *o = cJSON_CreateObject();
      if (o == NULL || !cJSON_AddItemToArray(arr, o))
        {
          cJSON_Delete(o);
          return tars_error_set(err, ENOMEM, "list the model exchanges");
        }
      for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        {
          bool ok;
          const char *v = (const char *)sqlite3_column_text(st, i);
          if (sqlite3_column_type(st, i) == SQLITE_NULL)
            ok = cJSON_AddNullToObject(o, names[i]) != NULL;
          else if (kinds[i] == INT)
            ok = cJSON_AddNumberToObject(o, names[i], (double)sqlite3_column_int64(st, i)) != NULL;
          else if (kinds[i] == JSON)
            {
              cJSON *j = cJSON_Parse(v);
              ok = j ? cJSON_AddItemToObject(o, names[i], j)
                     : cJSON_AddStringToObject(o, names[i], v) != NULL;
            }
          else
            ok = cJSON_AddStringToObject(o, names[i], v) != NULL;
          if (!ok)
            return tars_error_set(err, ENOMEM, "list the model exchanges");
        }
    }
  if (rc != SQLITE_DONE)
    return db_failed(s, err, "list the model exchanges");
  *out = steal_pointer(&arr);
  return 0;
}
