/* Snapshots of a repository and overlay layers made from changesets: the lower layers of the
 * validator's sandboxes.
 *
 * A snapshot is a copy of the files tars would consider the repository's (in a git work tree:
 * tracked files present on disk and untracked files that are not ignored; otherwise every file;
 * never .git or .tars) under <repo>/.tars/snapshots/<id>/, where <id> is the SHA-256 of the
 * sorted list of (path, kind, mode, content hash or link target).  The same content gives the
 * same id, so a snapshot (and every result cached against it, such as the validator's baseline)
 * is reused as long as the repository has not changed.  The copy, not the live repository, is
 * what sandboxes see: a user editing files meanwhile cannot confuse a run.  Its files belong to
 * whoever runs tars, which is what decides who the sandbox's root is (docs/architecture.md).  */
#ifndef TARS_SNAPSHOT_H
#define TARS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tars/changes.h"
#include "tars/error.h"

struct tars_store;

struct tars_snapshot
{
  char id[65];
  char *path;     /* absolute path of the snapshot's tree (malloc'd) */
  bool reused;    /* an identical snapshot already existed */
  uint64_t files; /* regular files and symlinks */
  uint64_t bytes; /* of file content */
  int lock_fd;    /* a shared flock on the snapshot, held until tars_snapshot_free */
};

/* Take (or find) the snapshot of STORE's repository, and hold it (a shared lock) until
 * tars_snapshot_free.  The 3 most recently used snapshots are kept besides it; older ones that no
 * process holds are removed, as are the leftovers of processes that died while copying.  Files that
 * change while they are copied make it fail (EAGAIN, "... changed while it was copied"), never give
 * a torn copy.  Special files (fifos, sockets, devices) are skipped; setuid/setgid bits are
 * dropped.  */
int tars_snapshot_take(struct tars_store *store, struct tars_snapshot *snap,
                       struct tars_error *err);
void tars_snapshot_free(struct tars_snapshot *snap);

/* Write CS (loaded from the directory CS_DFD) into the empty directory OUT_DFD as an overlayfs
 * lower layer to stack on the tree BASE_DFD: new and modified files with their modes, new
 * directories and symlinks, deletions as whiteouts (0/0 character devices, which unprivileged
 * users may create since Linux 5.8), a directory that replaces something as an opaque directory
 * (user.overlay.opaque, as tars mounts overlays with userxattr), and a chmod as a copy of the base
 * file with its new mode.  Directories made along the way take the base tree's mode.  Every file
 * gets one time, the moment the layer is finished, so that tools comparing times (make) see the
 * layer as newer than what is below it and its files as equally old.  */
#define TARS_LAYER_MOVE_OBJECTS                                                                    \
  1u /* move objects/ files into the layer (the changeset is then                                  \
        spent: only for one about to be discarded) */
int tars_layer_from_changeset(const struct tars_changeset *cs, int cs_dfd, int base_dfd,
                              int out_dfd, unsigned flags, struct tars_error *err);

/* Remove the tree DFD/NAME (not following symlinks), including a layer's whiteouts.  A missing
 * NAME is not an error.  */
int tars_remove_tree_at(int dfd, const char *name, struct tars_error *err);

#endif
