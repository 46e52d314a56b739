/* Resolving host paths beneath the repository root, one component at a time, never following a
 * symlink: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
 * where the kernel has it, else a walk with O_NOFOLLOW on every component.  RELPATH is relative,
 * normalised ("a/b/c"; no "", ".", "..", leading or doubled "/").  A symlink anywhere on the way
 * is an error (ELOOP, message naming the path), so a symlink planted in the repository cannot
 * redirect a write.  */
#ifndef TARS_BENEATH_H
#define TARS_BENEATH_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "tars/error.h"

/* For tests: use the O_NOFOLLOW walk even where openat2 exists, so that both are exercised.  */
extern bool tars_beneath_force_walk;

/* Errors: an invalid RELPATH is TARS_ERR_INVALID (errno EINVAL); a symlink on the way ("symlink on
 * the way", ELOOP) or a mount point crossed (EXDEV) is TARS_ERR_REFUSED; anything else is the
 * system call's errno (ENOENT, ENOTDIR...).  errno is left set to ERR's code.  */

/* open(2) of ROOT_FD/RELPATH with FLAGS (O_NOFOLLOW and O_CLOEXEC are added) and MODE.  */
int tars_open_beneath(int root_fd, const char *relpath, int flags, mode_t mode,
                      struct tars_error *err);
/* Open the directory holding RELPATH's last component (O_DIRECTORY|O_PATH is not enough for
 * *at calls that write: a real O_RDONLY directory descriptor), and point *BASE at that component
 * inside RELPATH.  For "a" the parent is ROOT_FD itself, dup'd.  */
int tars_open_parent_beneath(int root_fd, const char *relpath, const char **base,
                             struct tars_error *err);
/* lstat of ROOT_FD/RELPATH without following symlinks on the way or at the end.  Returns 0, or
 * -1 with errno ENOENT (and ERR filled) when it does not exist.  */
int tars_lstat_beneath(int root_fd, const char *relpath, struct stat *st, struct tars_error *err);
/* Create the directories of RELPATH's parent that are missing (mode 0755), beneath ROOT_FD.  */
int tars_mkdir_parents_beneath(int root_fd, const char *relpath, struct tars_error *err);

#endif
