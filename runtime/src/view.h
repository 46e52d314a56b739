/* The sandbox's filesystem view as data: an ordered list of operations, built on the host by the
 * outer process (view.c, which may read the environment, the password database and the mount
 * table) and carried out in the sandbox's mount namespace by its init (mounts.c), in the manner
 * of bubblewrap's SetupOp list and setup_newroot.
 *
 * The default view is an allow-list: /usr, /bin, /sbin, /lib*, /etc and /opt of the host (or the
 * whole --rootfs image), a private /tmp and /var/tmp, /proc, /dev and /sys of the sandbox's own,
 * then the spec's entries, the workspace, and last what must stay hidden inside all of that.  */
#ifndef TARS_VIEW_H
#define TARS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tars/error.h"
#include "tars/sandbox.h"

enum tars_op_kind
{
  TARS_OP_TREE,         /* the host directory SRC, read-only at DEST, through an overlay */
  TARS_OP_SUBMOUNT,     /* a mount below a tree: a directory as TREE, a file as FILE, else nothing;
                           skipped when it cannot be mounted */
  TARS_OP_FILE,         /* the host file SRC bound read-only at DEST */
  TARS_OP_SOCKET,       /* the host Unix socket SRC bound at DEST, reachable */
  TARS_OP_SYMLINK,      /* a symlink at DEST whose target is SRC */
  TARS_OP_TMPFS,        /* an empty, writable tmpfs of SIZE bytes at DEST */
  TARS_OP_DIR,          /* an empty, read-only directory at DEST */
  TARS_OP_PRIVATE_TMP,  /* /tmp, /var/tmp and /dev/shm: directories of one tmpfs of SIZE bytes */
  TARS_OP_PROC,         /* a new /proc, read-only */
  TARS_OP_DEV,          /* a minimal /dev */
  TARS_OP_SYSFS,        /* the network namespace's sysfs at /sys, read-only, when /sys exists */
  TARS_OP_WORKSPACE,    /* the overlay of the spec's layers over the workspace at DEST */
  TARS_OP_RO_WORKSPACE, /* the same without an upper layer: read-only */
  TARS_OP_HIDE,         /* cover DEST (when it exists) with an empty directory or file */
};

struct tars_view_op
{
  enum tars_op_kind kind;
  char *src;  /* a host path (resolved), a symlink's target, or NULL */
  char *dest; /* inside the sandbox */
  uint64_t size;
};

struct tars_view
{
  char *root; /* host directory (resolved) shown as /, or NULL: a tmpfs of the sandbox's own */
  struct tars_view_op *ops;
  size_t n, cap;
};

/* What the view needs of the host, gathered by the caller so that building it is a pure
 * function of its inputs (tests give their own).  */
struct tars_view_host
{
  const char *homes[2];  /* the caller's home directories ($HOME, the password database's), or
                            NULL */
  const char *mountinfo; /* the text of /proc/self/mountinfo, or NULL (no submounts) */
};

/* Build SPEC's view.  Fails with TARS_ERR_INVALID when an entry of SPEC (the workspace, a
 * layer, a ro-bind) would show a path that must stay hidden, naming both.  */
int tars_view_build(const struct tars_spec *spec, const struct tars_view_host *host,
                    struct tars_view *view, struct tars_error *err);
void tars_view_free(struct tars_view *view);
const char *tars_op_kind_name(enum tars_op_kind kind);

#endif
