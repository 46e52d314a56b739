/* Transactions: the only way a change reaches the user's repository.
 *
 * Apply: load the changeset, check the policy and conflicts (refused: nothing is written, the
 * refusal is audited), then journal the intent (the transaction and its operations, committed
 * to the store), write pre-images to .tars/backups/<txn>/ and new contents to temporary files
 * beside their targets, make them durable, mark the transaction prepared, rename into place,
 * remove deletions, apply modes, make the directories durable, mark it committed, and (in git,
 * when asked) commit the touched paths.  Every host path is opened beneath the repository root
 * (beneath.h).  Recovery, run by every command that opens the store, finishes nothing: a
 * transaction that is not committed is undone from its backups, so after a crash the tree is
 * exactly as before the transaction or exactly as after it, with no temporary file left.
 *
 * Rollback restores a committed transaction's pre-images, as a transaction of its own, refusing
 * when a touched path changed since (unless FORCE); in git it adds a revert commit when the
 * transaction had a commit.  */
#ifndef TARS_TXN_H
#define TARS_TXN_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "apply/policy.h"
#include "store/store.h"
#include "tars/error.h"

#define TARS_ID_MAX 64

struct tars_apply_opts
{
  const char *execution_id; /* may be NULL */
  const char *step_id;      /* may be NULL */
  const char *actor;        /* may be NULL: "cli:<user>" */
  const struct tars_policy *policy;
  bool git_commit; /* commit in git when the repo is a git work tree */
  /* Accept a changeset made by a command that failed (see tars_policy.allow_failed_command).  */
  bool allow_failed_command;
};

struct tars_txn_result
{
  char txn_id[TARS_ID_MAX];
  char git_commit[48]; /* hex id of the commit made, or "" */
  unsigned n_ops;
  /* For refusals and conflicts: {"refused": [{path, reason}...]} or {"conflicts": [...]};
   * for rollback drift: {"drift": [...]} (also on a --force rollback that went ahead); when
   * the transaction committed but its git commit failed: {"git_error": "..."} (the return value
   * is still 0).  NULL when there is nothing to report.  Caller frees (tars_txn_result_free).  */
  cJSON *report;
};

/* Returns 0 when applied; -1 with ERR kind TARS_ERR_REFUSED (policy, conflict: RESULT->report
 * lists every reason), TARS_ERR_INVALID (malformed changeset) or TARS_ERR_SYSTEM.  */
int tars_txn_apply(struct tars_store *store, int changeset_dfd, const struct tars_apply_opts *opts,
                   struct tars_txn_result *result, struct tars_error *err);
int tars_txn_rollback(struct tars_store *store, const char *txn_id, bool force,
                      const struct tars_apply_opts *opts, struct tars_txn_result *result,
                      struct tars_error *err);
/* Undo every transaction left unfinished by a crash; *N_RECOVERED gets how many.  Audited.
 * Returns at once (0 recovered) while another process holds the repository's transaction lock:
 * its transaction is in progress, not abandoned.  */
int tars_txn_recover(struct tars_store *store, int *n_recovered, struct tars_error *err);
void tars_txn_result_free(struct tars_txn_result *result);

/* Deterministic crash points for the fault-injection tests: when the environment variable
 * TARS_CRASH_AT is "LABEL" or "LABEL:N", the process kills itself with SIGKILL the first (or
 * Nth) time it reaches the point LABEL.  Labels: see txn.c and docs/transactions.md.  Costs one
 * getenv per call.  */
void tars_crash_point(const char *label);

#endif
