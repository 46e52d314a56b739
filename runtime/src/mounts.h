/* Carrying out the sandbox's filesystem view (view.h) in its init.  */
#ifndef TARS_MOUNTS_H
#define TARS_MOUNTS_H

#include <stddef.h>

#include "tars/error.h"
#include "tars/sandbox.h"
#include "view.h"

struct tars_mounts
{
  int upper_dfd;                       /* the overlay's upper layer, for change capture */
  int lower_dfds[TARS_MAX_LAYERS + 1]; /* its lower layers, topmost first */
  size_t n_lowers;
};

/* What the outer process prepared before entering the namespaces (it may read passwd, the
 * environment and the mount table; the sandbox's init should not).  */
struct tars_mount_plan
{
  const struct tars_spec *spec;
  const struct tars_view *view;
  /* Idmapped copies of the overlay's lower layers (detached mounts from open_tree, index 0 the
   * workspace, then the layers in spec order), or -1: used instead of the host paths when real
   * root runs a sandbox on a root-owned workspace (see sandbox.c).  */
  int idmapped[TARS_MAX_LAYERS + 1];
};

/* Build the view and pivot into it.  Runs in the sandbox's init, in its own user and mount
 * namespaces, with every capability of that user namespace.  On success the process's root is the
 * new root and M holds descriptors to the overlay's layers (or -1 when there is no workspace).  */
int tars_mounts_setup(const struct tars_mount_plan *plan, struct tars_mounts *m,
                      struct tars_error *err);

#endif
