/* The store: one SQLite database per repository, <repo>/.tars/tars.db, holding transactions,
 * their operations (the journal) and the audit trail.  WAL mode, foreign keys on, synchronous
 * FULL (a committed row survives a crash), schema versioned with PRAGMA user_version and migrated
 * on open; a database from a newer tars is refused (TARS_ERR_INVALID).  */
#ifndef TARS_STORE_H
#define TARS_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "tars/error.h"

#define TARS_STATE_DIR ".tars"

struct tars_store;

/* Open (creating when CREATE is true) the store of the repository at REPO_PATH: creates .tars/
 * (mode 0700) and .tars/backups/, adds ".tars/" to .git/info/exclude when the repository is a
 * git work tree, opens and migrates the database.  The repository root is resolved once
 * (realpath) and held open as a directory descriptor: every later host path is resolved beneath
 * it.  When CREATE is false and there is no store, fails with TARS_ERR_INVALID ("no tars store in
 * REPO").  */
int tars_store_open(const char *repo_path, bool create, struct tars_store **out,
                    struct tars_error *err);
void tars_store_close(struct tars_store *store);

sqlite3 *tars_store_db(struct tars_store *store);
int tars_store_repo_fd(struct tars_store *store); /* O_DIRECTORY descriptor of the repo root */
const char *tars_store_repo_path(struct tars_store *store); /* absolute, canonical */
int tars_store_state_fd(struct tars_store *store);          /* O_DIRECTORY descriptor of .tars/ */

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  */
int tars_store_begin(struct tars_store *store, struct tars_error *err);
int tars_store_commit(struct tars_store *store, struct tars_error *err);
void tars_store_rollback(struct tars_store *store);

/* Run SQL with no result rows (schema, simple updates); names the statement on error.  */
int tars_store_exec(struct tars_store *store, const char *sql, struct tars_error *err);
/* Prepare a statement; on error fills ERR with sqlite3_errmsg.  */
int tars_store_prepare(struct tars_store *store, const char *sql, sqlite3_stmt **stmt,
                       struct tars_error *err);

/* A new identifier: "<prefix>-<yyyymmddThhmmss>-<8 hex random>", e.g.
 * "txn-20261125T160501-1a2b3c4d".  */
void tars_new_id(const char *prefix, char *out, size_t len);
/* Now as an ISO-8601 UTC string with milliseconds: "2026-11-25T16:05:01.123Z".  */
void tars_now_iso(char *out, size_t len);

/* The audit trail.  Every field but EVENT may be NULL.  PATHS: a JSON array of strings;
 * DETAILS: a JSON object (hashes, counts, reasons list...).  Both are copied.  */
struct tars_audit_event
{
  const char *event; /* begin, commit, rollback, refusal, conflict, recovery, abort... */
  const char *actor; /* "cli:<user>", "coordinator", "worker:<id>"; default "cli:<uid>" */
  const char *execution_id;
  const char *step_id;
  const char *txn_id;
  const char *reason;
  const cJSON *paths;
  const cJSON *details;
};
int tars_audit_add(struct tars_store *store, const struct tars_audit_event *ev,
                   struct tars_error *err);
/* All audit entries, oldest first, optionally of one execution, as a JSON array of objects
 * {id, time, event, actor, execution_id, step_id, txn_id, reason, paths, details}.  */
int tars_audit_list(struct tars_store *store, const char *execution_id, cJSON **out,
                    struct tars_error *err);

#endif
