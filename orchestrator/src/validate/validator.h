/* The validator: decides whether a changeset may reach the repository, by building and testing
 * it in sandboxes against the unchanged snapshot (the baseline).
 *
 * Stages, in order; the first that fails ends the run and the rest are "skipped":
 *   gates (before anything runs): the apply policy, conflicts with the snapshot, forbidden
 *          paths, diff size; changed test files are listed
 *   syntax: each new or modified file, by language (vconfig.h), in a sandbox
 *   build:  the build command in a sandbox whose workspace is the snapshot with the changeset
 *           stacked on it as an overlay layer; what the build writes is captured and becomes a
 *           layer of its own for the next stages
 *   test:   the test command on top of that; results from JUnit XML, go test -json or the
 *           runner's summary (results.h), compared with the baseline's: a test that passed on the
 *           baseline (or is new) and fails is the change's fault unless it passes when run again
 *           (then it is flaky); tests that already failed on the baseline are not held against it
 *   gates (after): fewer tests executed than the baseline, new compiler warnings (when on)
 *   lint:   when configured, must pass where it passed on the baseline
 * The baseline (build and tests of the snapshot alone) runs once per snapshot and configuration
 * and is cached in the store.  Each stage has its own time, memory and process limits; hitting
 * one is a rejection that says so.  Nothing runs outside a sandbox, and the sandboxes have no
 * network.
 *
 * The report, a JSON object:
 *   {"id", "verdict": "accepted"|"rejected", "reasons": [...], "repo", "changeset", "snapshot",
 *    "toolchain", "detected_by", "baseline_cached", "duration_ms",
 *    "stages": [{"name": "gates"|"syntax"|"build"|"test"|"lint", "status": "passed"|"failed"|
 *                "skipped"|"timeout", "duration_ms", ...}]}
 * docs/validation.md describes every field.  */
#ifndef TARS_VALIDATOR_H
#define TARS_VALIDATOR_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "tars/error.h"

struct tars_store;

struct tars_validate_opts
{
  const char *changeset;     /* the changeset's path, for the record */
  const char *execution_id;  /* may be NULL */
  const char *step_id;       /* may be NULL */
  const char *actor;         /* may be NULL: as tars_audit_add */
  const cJSON *step_config;  /* a step's "validate" overrides, or NULL */
  bool no_cache;             /* run the baseline even when one is cached */
  bool allow_failed_command; /* accept a changeset whose command failed (--allow-failed) */
  /* Called at the start of each stage (may be NULL): "baseline build", "build"...  */
  void (*progress)(const char *what, void *arg);
  void *progress_arg;
};

/* Validate the changeset in the directory CS_DFD against STORE's repository.  Returns 0 when a
 * verdict was reached (*REPORT set, *ACCEPTED true or false), having recorded the report in the
 * store (validations table) and the audit trail ("validate" event).  Returns -1 when the
 * validation could not run: bad configuration or a bad changeset (TARS_ERR_INVALID), or a system
 * failure.  The repository itself is never written, except under .tars/.  */
int tars_validate(struct tars_store *store, int cs_dfd, const struct tars_validate_opts *o,
                  cJSON **report, bool *accepted, struct tars_error *err);

/* The report as human text: "accepted" or "rejected: <first reason>", then one line per stage
 * and the evidence of what failed.  Malloc'd.  */
char *tars_validate_report_text(const cJSON *report);

#endif
