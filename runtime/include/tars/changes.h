/* tars runtime: changesets.
 *
 * A changeset is a directory: manifest.json and objects/<sha256> holding the new contents of
 * regular files (mode 0644, one object per distinct content).  manifest.json:
 *
 *   { "version": 1,
 *     "entries": [ { "path": "src/a.c",          relative, normalised, UTF-8
 *                    "op": "create" | "modify" | "delete" | "mkdir" | "chmod" | "symlink",
 *                    "type": "file" | "dir" | "symlink",   what the path is after (before, for
 *                                                          "delete")
 *                    "mode": "0644",                       permission bits (not for delete)
 *                    "size": 123,                          bytes of new content (files)
 *                    "sha256": "...",                      of the new content (files)
 *                    "base_sha256": "...",                 of the content the sandbox saw, or
 *                                                          null when the path did not exist or
 *                                                          was not a regular file
 *                    "target": "..." } ],                  symlinks only
 *     "exit_status": 0,                      optional: the exit status of the command whose
 *                                            changes these are (tars sandbox run)
 *     "rejected": [ { "path": "...",         optional: what the capture could not represent
 *                     "reason": "..." } ] }  (names shown with \xNN escapes)
 *
 * Each operation has exactly these fields (a reader refuses missing and unknown ones):
 *
 *   create   type "file", mode, size, sha256, base_sha256 null   the path does not exist
 *   modify   type "file", mode, size, sha256, base_sha256        a regular file's new content
 *   delete   type, base_sha256 (the file's, null for dir/symlink) what was there is removed
 *   mkdir    type "dir", mode                                    the path does not exist
 *   chmod    type "file" or "dir", mode, base_sha256 (files; null for dirs)  only the mode changed
 *   symlink  type "symlink", target                              the path does not exist
 *
 * A path whose type changed (a file became a directory, a symlink's target changed...) has a
 * "delete" entry (and one for everything that was beneath it) and then the create.  The order is
 * the order to apply: every "delete" first, in reverse bytewise order of path (so what is inside a
 * directory comes before it), then the other entries in bytewise order of path (so a directory
 * comes before what it holds).  docs/changeset-format.md has the details.  */
#ifndef TARS_CHANGES_H
#define TARS_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tars/error.h"

#define TARS_CHANGESET_VERSION 1

enum tars_change_op
{
  TARS_CHANGE_CREATE,
  TARS_CHANGE_MODIFY,
  TARS_CHANGE_DELETE,
  TARS_CHANGE_MKDIR,
  TARS_CHANGE_CHMOD,
  TARS_CHANGE_SYMLINK,
};

enum tars_change_type
{
  TARS_CHANGE_FILE,
  TARS_CHANGE_DIR,
  TARS_CHANGE_LINK,
};

struct tars_change
{
  char *path;
  enum tars_change_op op;
  enum tars_change_type type;
  unsigned int mode;    /* permission bits (create, modify, mkdir, chmod), else 0 */
  uint64_t size;        /* create, modify */
  char sha256[65];      /* create, modify; "" otherwise */
  char base_sha256[65]; /* "" for null */
  char *target;         /* symlink; NULL otherwise */
};

/* A path the capture found but could not put in the changeset (a name that is not valid UTF-8,
 * a path deeper than a changeset may hold...): the changeset is then incomplete, and the apply
 * policy refuses it, naming each one.  */
struct tars_rejected
{
  char *path; /* as shown: clean UTF-8, other bytes as \xNN */
  char *reason;
};

struct tars_changeset
{
  unsigned int version;
  size_t n_entries;
  struct tars_change *entries; /* in the order to apply (see above) */
  /* The exit status of the command that made it (0 to 255, as tars sandbox run reports it), or
   * -1 when the manifest does not say (made by hand, or by another tool).  */
  int exit_status;
  size_t n_rejected;
  struct tars_rejected *rejected;
};

/* Capture the changes an overlay's upper layer holds relative to its lower layers.
 * UPPER_DFD: the upper directory; LOWER_DFDS: the lower layers, topmost first (as overlayfs
 * orders them); OUT_DFD: an empty directory to write the changeset into.
 * Whiteouts (0/0 character devices, or files with an overlay.whiteout xattr) are deletions;
 * directories with overlay.opaque="y" replace the lower tree; both the trusted. and the user.
 * xattr namespaces are read.
 * What a changeset cannot hold is rejected, not captured: device nodes, fifos, sockets, setuid
 * and setgid files, renamed directories (overlay.redirect), metacopy files, names that are not
 * valid UTF-8 or hold control characters, paths of PATH_MAX bytes or more or trees deeper than
 * 256 levels, and new contents past MAX_BYTES (0: no limit) in total (a sparse file costs nothing
 * in the sandbox's scratch but its full size here).  Each goes into the manifest's "rejected"
 * with the reason (what is beneath a rejected directory is not looked at), the rest is captured,
 * and the apply policy refuses the changeset naming them: whatever the command leaves, the
 * capture does not fail because of it.  N_ENTRIES and N_REJECTED (either may be NULL) get the
 * counts.
 * The upper layer is untrusted: it is walked through file descriptors only and symlinks are never
 * followed.  The manifest is written last (temporary name, fsync, rename); a capture that fails
 * (out of memory, an I/O error) removes the objects/ it made, leaving OUT_DFD as it was.
 * EXIT_STATUS (-1: unknown) is recorded in the manifest: a changeset made by a command that failed
 * is refused by the apply policy unless the caller asks for it.  */
int tars_changes_capture(int upper_dfd, const int *lower_dfds, size_t n_lowers, int out_dfd,
                         uint64_t max_bytes, int exit_status, uint64_t *n_entries,
                         uint64_t *n_rejected, struct tars_error *err);

/* Read and validate the changeset in the directory DFD: manifest.json must follow the format
 * above strictly (version, fields per operation, normalised relative paths without "." or "..",
 * no duplicate path except a delete followed by a create, parents that exist), and every object
 * it names must exist as a regular file of the stated size.  Entries come back in the order to
 * apply.  On failure CS is left empty; the error's kind is TARS_ERR_INVALID for a bad changeset.
 */
int tars_changeset_load(int dfd, struct tars_changeset *cs, struct tars_error *err);

/* Parse and check a manifest held in memory (TEXT, LEN bytes, not necessarily NUL-terminated):
 * every check tars_changeset_load makes except those on objects/.  On failure CS is left empty.
 */
int tars_changeset_parse(const char *text, size_t len, struct tars_changeset *cs,
                         struct tars_error *err);

/* The manifest of CS as pretty-printed JSON (malloc'd), entries in CS's order.  */
char *tars_changeset_to_json(const struct tars_changeset *cs, struct tars_error *err);

/* True when S (LEN bytes) is valid UTF-8 (no overlong forms, no surrogates) without C0 or C1
 * control characters or DEL: what a path or a symlink target in a changeset must be, since it
 * goes into JSON and onto terminals.  */
bool tars_text_is_clean(const char *s, size_t len);

/* SHA-256 of what is left to read from FD, as 64 lowercase hex digits and a NUL
 * (runtime/src/hash.c): for the orchestrator's conflict check and copies.  */
int tars_sha256_fd(int fd, char hex[65], struct tars_error *err);
/* Copy what is left to read from IN to OUT (-1: only hash), hashing it: HEX gets its SHA-256 and
 * *SIZE (may be NULL) the byte count.  BUF (BUF_SIZE bytes) is the caller's buffer, or NULL for
 * one on the stack.  Errors say "sha256: read" or "write": the caller names the file.  */
int tars_sha256_copy(int in, int out, char *buf, size_t buf_size, char hex[65], uint64_t *size,
                     struct tars_error *err);
/* BYTES (N of them) as 2N lowercase hex digits and a NUL, into OUT.  */
void tars_hex_encode(const uint8_t *bytes, size_t n, char *out);

void tars_changeset_free(struct tars_changeset *cs);
#define cleanup_changeset __attribute__((cleanup(tars_changeset_free)))

const char *tars_change_op_name(enum tars_change_op op);
const char *tars_change_type_name(enum tars_change_type type);

#endif
