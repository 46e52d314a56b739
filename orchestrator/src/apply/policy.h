/* The safety policy a changeset must pass before it may touch the repository, and the conflict
 * check against the repository's current content.  */
#ifndef TARS_POLICY_H
#define TARS_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tars/changes.h"
#include "tars/error.h"

#define TARS_POLICY_MAX_PROTECTED 64

struct tars_policy
{
  /* Protected paths: "dir/" protects a directory and everything below it, "name" an exact path,
   * and a pattern with '*' is matched with fnmatch(FNM_PATHNAME) against the path and, when it
   * has no '/', against every component's basename (".env*").  A rule protects what it names
   * and everything below it.  Defaults: .git/, .tars/, .github/workflows/, .gitmodules, .env*
   * (string literals: tars_policy_free frees only the rules a load added).  Always protected,
   * whatever the configuration says (even with no rule at all): ".git" as any component, ".tars"
   * at the top (both case-insensitively, for case-insensitive filesystems), and tars.json, which
   * the policy may be read from.  */
  char *protected[TARS_POLICY_MAX_PROTECTED];
  size_t n_protected;
  bool allow_symlinks;      /* default false: no new symlinks */
  uint64_t max_file_size;   /* default 64 MiB */
  uint64_t max_files;       /* default 10000 entries */
  uint64_t max_total_bytes; /* default 1 GiB of new content */
  /* Not from the configuration: the caller's explicit choice (--allow-failed) to accept a
   * changeset whose manifest says the command that made it failed (exit_status > 0).  A
   * changeset with rejected entries is incomplete and is refused whatever this says.  */
  bool allow_failed_command;
};

void tars_policy_default(struct tars_policy *p);
void tars_policy_free(struct tars_policy *p);
/* Merge the "apply" object of <repo>/.tars/config.json or, if absent, <repo>/tars.json:
 *   {"apply": {"protected": [...], "allow_symlinks": false, "max_file_size": "64M",
 *              "max_files": 10000, "max_total_bytes": "1G"}}
 * ("protected" extends the defaults; sizes are numbers of bytes or tars_parse_size strings).  A
 * missing file is not an error; a malformed one is (TARS_ERR_INVALID naming the file and the
 * key), and so is an unknown key in "apply": a misspelt limit would silently not apply.  Other
 * top-level keys are left to their readers.  The file is opened beneath REPO_FD (a symlink is an
 * error).  On error P is unchanged.  */
int tars_policy_load(struct tars_policy *p, int repo_fd, struct tars_error *err);

/* Check every entry of CS (loaded from the directory CS_DFD) against P and against the repo's
 * current tree at REPO_FD (symlinks or non-directories on the way to a target, a target that is
 * a device/fifo/socket, hardlinked targets (st_nlink > 1) that a write would change elsewhere...).
 * Returns 0 when the changeset may be applied; otherwise -1 with ERR kind TARS_ERR_REFUSED
 * ("changeset refused: N problems: PATH: REASON; ..."), and every reason appended to REASONS (a
 * JSON array of {"path": ..., "reason": ...}; may be NULL).  Reasons about the whole changeset
 * (entry count, total size) have the path ".".  CS_DFD may be -1 to skip the checks on objects/
 * (regular file of the stated size, one link); their content is not hashed here: the apply step
 * hashes what it copies.  Nothing is written.  TARS_ERR_SYSTEM: the check itself failed.  */
int tars_policy_check(const struct tars_policy *p, const struct tars_changeset *cs, int cs_dfd,
                      int repo_fd, cJSON *reasons, struct tars_error *err);

/* Compare each touched path's current content with the changeset's base: a file to modify,
 * chmod or delete must still hash to base_sha256; a path to create or mkdir must not exist; a
 * directory to delete must exist and hold only what the changeset deletes; the directory a new
 * path goes into must exist unless the changeset makes it.  Returns 0 when there is no conflict,
 * else -1 (kind TARS_ERR_REFUSED, "conflict: N paths changed since the snapshot: ...") with every
 * conflicting path appended to CONFLICTS (may be NULL) as {"path", "reason", "expected",
 * "found"}: a hash, "absent", or the kind of thing ("directory", "symlink"...).  */
int tars_conflicts_check(const struct tars_changeset *cs, int repo_fd, cJSON *conflicts,
                         struct tars_error *err);

/* The repository's own configuration: <repo>/.tars/config.json or, when that does not exist,
 * <repo>/tars.json, opened beneath REPO_FD (a symlink is an error), at most 1 MiB, parsed.  *ROOT
 * is NULL (and 0 returned) when neither exists; *FILE names the file.  Malformed JSON or a top
 * level that is not an object: TARS_ERR_INVALID naming the file.  Each reader takes its own key
 * ("apply", "validate").  */
int tars_repo_config_load(int repo_fd, cJSON **root, const char **file, struct tars_error *err);

/* Path rules, as "protected" above and the validator's forbidden and test-file patterns use
 * them: whether RULE covers PATH (the path it names and everything below it; a glob without '/'
 * against every component).  */
bool tars_path_rule_matches(const char *rule, const char *path);
/* Why RULE is not a valid rule (relative, no "." or ".." component; a trailing '/' marks a
 * directory), or NULL.  */
const char *tars_path_rule_problem(const char *rule);
/* Why PATH is not a relative, normalised, clean path, or NULL.  */
const char *tars_path_problem(const char *path);
/* S for a message: as it is when it is clean text, else with bytes outside printable ASCII as
 * \xNN, cut to SIZE.  */
void tars_shown(const char *s, char *buf, size_t size);

#endif
