/* The store: one SQLite database per repository, <repo>/.tars/tars.db, holding transactions,
 * their operations (the journal) and the audit trail.  WAL mode, foreign keys on, synchronous
 * FULL (a committed row survives a crash), busy_timeout 5000 ms, schema versioned with PRAGMA
 * user_version and migrated on open (all missing steps in one transaction); a database from a
 * newer tars is refused (TARS_ERR_INVALID) before anything is written to it.
 *
 * Schema version 1 (store.c holds the SQL; docs/store.md explains the states):
 *
 *   transactions(id TEXT PRIMARY KEY,
 *                kind TEXT NOT NULL CHECK (kind IN ('apply','rollback')),
 *                state TEXT NOT NULL CHECK (state IN ('journaled','prepared','committed',
 *                                                     'aborted','recovered','rolled_back')),
 *                execution_id TEXT, step_id TEXT, actor TEXT,
 *                rollback_of TEXT REFERENCES transactions(id),  -- kind 'rollback': the undone one
 *                changeset TEXT,                 -- the changeset's path as given
 *                git_commit TEXT,                -- hex id, or NULL
 *                created_at TEXT NOT NULL,       -- tars_now_iso()
 *                finished_at TEXT, reason TEXT)
 *   operations(txn_id TEXT NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,
 *              seq INTEGER NOT NULL,             -- order of application
 *              path TEXT NOT NULL, op TEXT NOT NULL, type TEXT NOT NULL,  -- as in the manifest
 *              mode INTEGER, size INTEGER, sha256 TEXT, base_sha256 TEXT, target TEXT,
 *              pre_kind TEXT CHECK (pre_kind IN ('absent','file','dir','symlink')),
 *              pre_mode INTEGER, pre_sha256 TEXT, pre_target TEXT,  -- the pre-image
 *              backup TEXT,   -- relative to .tars/backups/<txn>/, or NULL
 *              tmp TEXT,      -- temporary file beside the target (repo-relative), or NULL
 *              done INTEGER NOT NULL DEFAULT 0,
 *              PRIMARY KEY (txn_id, seq))
 *   audit(id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, event TEXT NOT NULL,
 *         actor TEXT, execution_id TEXT, step_id TEXT, txn_id TEXT, reason TEXT,
 *         paths TEXT,    -- JSON array of strings
 *         details TEXT)  -- JSON object
 *   INDEX audit_execution ON audit(execution_id); INDEX transactions_state ON transactions(state)
 *
 * Schema version 2 adds the validator's records:
 *
 *   validations(id TEXT PRIMARY KEY, execution_id TEXT, step_id TEXT,
 *               changeset TEXT,                  -- the changeset's path as given
 *               snapshot TEXT NOT NULL,          -- the snapshot's id (snapshot.h)
 *               verdict TEXT NOT NULL CHECK (verdict IN ('accepted','rejected')),
 *               created_at TEXT NOT NULL,
 *               report TEXT NOT NULL)            -- the JSON report (validator.h)
 *   baselines(snapshot TEXT NOT NULL,            -- the snapshot's id
 *             config TEXT NOT NULL,              -- hash of the validation configuration
 *             created_at TEXT NOT NULL,
 *             result TEXT NOT NULL,              -- JSON: the baseline's build and tests
 *             PRIMARY KEY (snapshot, config))
 *   INDEX validations_step ON validations(execution_id, step_id)
 *
 * audit.txn_id is deliberately not a foreign key: a refusal is audited with the id of a
 * transaction that was never journaled.  */
#ifndef TARS_STORE_H
#define TARS_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
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
 * it.
 *
 * Errors: REPO_PATH missing or not a directory: TARS_ERR_INVALID naming it.  .tars a symlink or
 * not a directory: TARS_ERR_REFUSED.  When CREATE is false and there is no store (no .tars/ or
 * no tars.db in it): TARS_ERR_INVALID with code ENOENT ("no tars store in REPO (nothing was
 * applied here)"), and nothing is created; see tars_store_error_is_absent.  A database from a
 * newer tars: TARS_ERR_INVALID, the database untouched.
 *
 * A git work tree is a .git directory, or a .git file "gitdir: PATH" (linked worktree,
 * submodule): the exclude goes to that git directory's info/, or to its common directory's
 * when it has a "commondir" file, and nothing else in it is written.  */
int tars_store_open(const char *repo_path, bool create, struct tars_store **out,
                    struct tars_error *err);
void tars_store_close(struct tars_store *store);
/* True when ERR is tars_store_open's "no store here" (CREATE false).  */
static inline bool
tars_store_error_is_absent(const struct tars_error *err)
{
  return err->kind == TARS_ERR_INVALID && err->code == ENOENT;
}

sqlite3 *tars_store_db(struct tars_store *store);
int tars_store_repo_fd(struct tars_store *store); /* O_DIRECTORY descriptor of the repo root */
const char *tars_store_repo_path(struct tars_store *store); /* absolute, canonical */
int tars_store_state_fd(struct tars_store *store);          /* O_DIRECTORY descriptor of .tars/ */
const char *tars_store_db_path(struct tars_store *store);   /* <repo>/.tars/tars.db, for messages */

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  BEGIN IMMEDIATE takes the write lock at once, waiting
 * up to the busy timeout for another tars process, so a transaction never fails half-way for
 * want of it.  A failed COMMIT rolls back.  ROLLBACK does nothing outside a transaction.  */
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
  const char *actor; /* "cli:<user>", "coordinator", "worker:<id>"; default "cli:<login name>"
                        ("cli:<uid>" when the uid has no name) */
  const char *execution_id;
  const char *step_id;
  const char *txn_id;
  const char *reason;
  const cJSON *paths;
  const cJSON *details;
};
/* Inside the caller's transaction when one is open, so an entry commits or rolls back with the
 * change it describes.  PATHS not an array or DETAILS not an object: TARS_ERR_INVALID.  */
int tars_audit_add(struct tars_store *store, const struct tars_audit_event *ev,
                   struct tars_error *err);
/* All audit entries, oldest first, optionally of one execution, as a JSON array of objects
 * {id, time, event, actor, execution_id, step_id, txn_id, reason, paths, details}.  */
int tars_audit_list(struct tars_store *store, const char *execution_id, cJSON **out,
                    struct tars_error *err);

/* The transactions, newest first, at most LIMIT of them (LIMIT <= 0: all), as a JSON array of
 * objects {id, kind, state, execution_id, step_id, actor, rollback_of, changeset, git_commit,
 * created_at, finished_at, reason, operations (how many)}.  */
int tars_history_list(struct tars_store *store, long limit, cJSON **out, struct tars_error *err);

#endif
