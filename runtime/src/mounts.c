/* Carrying out the sandbox's view (view.h) in init's mount namespace.
 *
 * As in bubblewrap: a private tmpfs becomes a temporary root (so nothing we create ever lands on
 * the host) holding the new root, the scratch space and the old root; the view's operations run
 * in order, each below /newroot; the whole tree is made read-only, nosuid and nodev with one
 * mount_setattr call and the writable mounts (/tmp, /var/tmp, /dev/shm, the workspace, the
 * spec's tmpfs) are made writable again; then the process pivots into /newroot and detaches the
 * old root.  Mount points are created only on tmpfs of the sandbox's own, never on a host or
 * image directory.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "mounts.h"
#include "tars/cleanup.h"

#define BASE "/tmp"
#define NEWROOT "/newroot"
#define OLDROOT "/oldroot"
#define SCRATCH "/scratch"
#define EMPTY_FILE "/empty"
#define HIDDEN "/hidden"           /* empty directories that cover hidden ones */
#define LOWER_EMPTY "/lower-empty" /* the second, empty lower layer of read-only overlays */
/* One tmpfs for the sandbox's private /tmp, /var/tmp and /dev/shm, each a directory of it bound in
 * place: one superblock instead of three.  */
#define PRIVATE_TMP "/private"

#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif

static int
sys_mount_setattr(const char *path, unsigned flags, struct mount_attr *attr)
{
  return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, flags, attr, sizeof *attr);
}

static int
do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data,
         struct tars_error *err)
{
  if (mount(src, dst, type, flags, data) < 0)
    {
      /* Name the path as the sandbox sees it.  */
      bool inside = strncmp(dst, NEWROOT "/", strlen(NEWROOT) + 1) == 0;
      return tars_error_set(err, errno, "mount %s on %s%s", type ? type : (src ? src : "none"),
                            inside ? dst + strlen(NEWROOT) : dst,
                            inside ? " (in the sandbox's root)" : "");
    }
  return 0;
}

static int
path_join(char *out, size_t len, const char *a, const char *b, struct tars_error *err)
{
  int n = snprintf(out, len, "%s%s", a, b);
  if (n < 0 || (size_t)n >= len)
    return tars_error_invalid(err, "path too long: %s%s", a, b);
  return 0;
}

static bool
is_plain_dir(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
is_tmpfs_dir(const char *path)
{
  struct statfs sf;
  return statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* Create the directory PATH (inside /newroot) and its missing parents, but only on file systems
 * the sandbox itself mounted (tmpfs): a missing component on a host mount is an error, so that
 * setting up a sandbox never creates anything on the host.  A directory on the way that the
 * sandbox's root cannot search (a host directory of mode 0700 whose owner is not mapped) is
 * covered by an empty tmpfs: the sandbox could not see into it anyway, and the mount point can
 * then be made inside.  */
static int
ensure_dir_on_tmpfs(const char *path, struct tars_error *err)
{
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return tars_error_invalid(err, "path too long: %s", path);
  char *slash = strrchr(buf, '/');
  if (slash == NULL || slash == buf)
    return 0; /* NEWROOT itself */
  *slash = '\0';
  if (ensure_dir_on_tmpfs(buf, err) < 0)
    return -1;
  bool parent_is_tmpfs = is_tmpfs_dir(buf);
  *slash = '/';
  struct stat st;
  if (stat(buf, &st) == 0)
    {
      if (!S_ISDIR(st.st_mode))
        return tars_error_invalid(err, "%s is not a directory", path + strlen(NEWROOT));
      if (faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) < 0 && errno == EACCES)
        return do_mount("tmpfs", buf, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "size=64k,nr_inodes=256,mode=0755", err);
      return 0;
    }
  if (errno != ENOENT)
    return tars_error_set(err, errno, "stat %s", path + strlen(NEWROOT));
  if (!parent_is_tmpfs)
    return tars_error_invalid(err,
                              "%s does not exist in the root file system (tars creates mount "
                              "points only on its own tmpfs, never on a host or image directory)",
                              path + strlen(NEWROOT));
  if (mkdir(buf, 0755) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "mkdir %s", buf);
  return 0;
}

/* Cover DIR (a host path) with an empty directory of the sandbox's scratch tmpfs, a directory of
 * its own (a workspace's mount point may be made in it); a missing path or a symlink is left
 * alone (what a symlink points to is covered in its own right, or is not there).  A bind mount
 * rather than a tmpfs each: a new tmpfs is a new superblock, and start-up time counts.  The
 * bind shows that directory and nothing else of the scratch tmpfs.  */
static int
hide_dir(const char *dir, struct tars_error *err)
{
  static unsigned n_hidden;
  char target[PATH_MAX];
  if (path_join(target, sizeof target, NEWROOT, dir, err) < 0)
    return -1;
  struct stat st;
  if (lstat(target, &st) < 0 || !S_ISDIR(st.st_mode))
    return 0;
  char empty[64];
  snprintf(empty, sizeof empty, HIDDEN "/%u", n_hidden++);
  if (mkdir(empty, 0755) < 0)
    return tars_error_set(err, errno, "mkdir %s", empty);
  return do_mount(empty, target, NULL, MS_BIND, NULL, err);
}

static int
mask_file(const char *file, struct tars_error *err)
{
  char target[PATH_MAX];
  if (path_join(target, sizeof target, NEWROOT, file, err) < 0)
    return -1;
  struct stat st;
  if (lstat(target, &st) < 0 || S_ISLNK(st.st_mode))
    return 0;
  if (S_ISDIR(st.st_mode))
    return hide_dir(file, err);
  return do_mount(EMPTY_FILE, target, NULL, MS_BIND, NULL, err);
}

/* Without mount_setattr (Linux < 5.12), remount every mount below /newroot one at a time, keeping
 * the flags that are locked in a user namespace.  */
static int
make_tree_readonly_fallback(struct tars_error *err)
{
  cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL)
    f = fopen(OLDROOT "/proc/self/mountinfo", "re");
  if (f == NULL)
    return tars_error_set(err, errno, "open /proc/self/mountinfo");
  cleanup_free char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0)
    {
      char mnt[PATH_MAX];
      if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
        continue;
      if (strncmp(mnt, NEWROOT, strlen(NEWROOT)) != 0 ||
          (mnt[strlen(NEWROOT)] != '\0' && mnt[strlen(NEWROOT)] != '/'))
        continue;
      struct statvfs sv;
      if (statvfs(mnt, &sv) < 0)
        continue;
      unsigned long keep = sv.f_flag & (ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
      /* /dev's nodes must stay usable.  */
      bool dev = strncmp(mnt, NEWROOT "/dev", strlen(NEWROOT "/dev")) == 0;
      if (mount(NULL, mnt, NULL,
                MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (dev ? 0 : MS_NODEV) | keep,
                NULL) < 0)
        return tars_error_set(err, errno, "remount %s read-only", mnt);
    }
  return 0;
}

static int
make_tree_readonly(struct tars_error *err)
{
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
  if (sys_mount_setattr(NEWROOT, AT_RECURSIVE, &attr) == 0)
    return 0;
  if (errno != ENOSYS)
    return tars_error_set(err, errno, "mount_setattr %s read-only", NEWROOT);
  return make_tree_readonly_fallback(err);
}

static int
bind_dev_node(const char *name, struct tars_error *err)
{
  char src[64], dst[64];
  snprintf(src, sizeof src, OLDROOT "/dev/%s", name);
  snprintf(dst, sizeof dst, NEWROOT "/dev/%s", name);
  int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0)
    return tars_error_set(err, errno, "create %s", dst);
  close(fd);
  return do_mount(src, dst, NULL, MS_BIND, NULL, err);
}

static int
setup_dev(struct tars_error *err)
{
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  static const char *const links[][2] = {
      {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
  };
  if (do_mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
               "size=64k,nr_inodes=64,mode=0755", err) < 0)
    return -1;
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
    if (bind_dev_node(nodes[i], err) < 0)
      return -1;
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    {
      char dst[64];
      snprintf(dst, sizeof dst, NEWROOT "/dev/%s", links[i][1]);
      if (symlink(links[i][0], dst) < 0)
        return tars_error_set(err, errno, "symlink %s", dst);
    }
  if (mkdir(NEWROOT "/dev/pts", 0755) < 0 || mkdir(NEWROOT "/dev/shm", 01777) < 0)
    return tars_error_set(err, errno, "mkdir %s/dev/{pts,shm}", NEWROOT);
  if (do_mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620", err) < 0)
    return -1;
  if (do_mount(PRIVATE_TMP "/shm", NEWROOT "/dev/shm", NULL, MS_BIND, NULL, err) < 0)
    return -1;
  /* The device binds come from devtmpfs, which is not nosuid: add it, and noexec, to them all in
   * one call; then freeze /dev itself so that nothing can be created in it.  */
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC};
  if (sys_mount_setattr(NEWROOT "/dev", AT_RECURSIVE, &attr) < 0 && errno != ENOSYS)
    return tars_error_set(err, errno, "mount_setattr %s/dev", NEWROOT);
  return do_mount(NULL, NEWROOT "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                  "size=64k,nr_inodes=64,mode=0755", err);
}

/* Append PATH to an overlay option at OUT+*OFF, escaping what overlayfs splits on (',' between
 * options, ':' between layers) with the backslash it unescapes.  */
static int
append_escaped(char *out, size_t len, size_t *off, const char *path, struct tars_error *err)
{
  for (const char *p = path; *p; p++)
    {
      if (*off + 3 >= len)
        return tars_error_invalid(err, "overlay options too long at %s", path);
      if (*p == ',' || *p == ':' || *p == '\\')
        out[(*off)++] = '\\';
      out[(*off)++] = *p;
    }
  out[*off] = '\0';
  return 0;
}

/* Attach the detached, idmapped copy of layer I where overlayfs can name it.  */
static int
attach_idmapped(int tree_fd, size_t i, char *path, size_t len, struct tars_error *err)
{
  snprintf(path, len, SCRATCH "/lower%zu", i);
  if (mkdir(path, 0755) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "mkdir %s", path);
  if (syscall(SYS_move_mount, tree_fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return tars_error_set(err, errno, "attach the idmapped layer at %s", path);
  return 0;
}

/* The host directory SRC, read-only at TARGET, through an overlay with an empty second layer
 * (overlayfs wants two lower layers when it has no upper one): its inodes are the overlay's, not
 * the host's, so a socket in it cannot be connected to (connect looks the socket up by inode)
 * and inotify sees nothing the host does in it.  redirect_dir=nofollow: a directory's redirect
 * xattr is not followed; in a user namespace the trusted.overlay ones are not even readable, so
 * the host tree is shown as it is.  */
static int
mount_tree(const char *src, const char *target, struct tars_error *err)
{
  char opts[2 * PATH_MAX + 128];
  size_t off = (size_t)snprintf(opts, sizeof opts, "lowerdir=");
  if (append_escaped(opts, sizeof opts, &off, OLDROOT, err) < 0 ||
      append_escaped(opts, sizeof opts, &off, strcmp(src, "/") == 0 ? "" : src, err) < 0)
    return -1;
  snprintf(opts + off, sizeof opts - off, ":" LOWER_EMPTY ",redirect_dir=nofollow");
  return do_mount("overlay", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts, err);
}

static int
setup_workspace(const struct tars_mount_plan *plan, bool ro, struct tars_mounts *m,
                struct tars_error *err)
{
  const struct tars_spec *spec = plan->spec;
  char target[PATH_MAX];
  if (path_join(target, sizeof target, NEWROOT, spec->workspace, err) < 0)
    return -1;
  if (ensure_dir_on_tmpfs(target, err) < 0)
    return tars_error_prefix(err, "workspace %s", spec->workspace);

  /* Layers are given lowest first; overlayfs wants the topmost first.  */
  char opts[(TARS_MAX_LAYERS + 1) * 2 * PATH_MAX + 256];
  size_t off = (size_t)snprintf(opts, sizeof opts, "lowerdir=");
  m->n_lowers = 0;
  for (size_t i = spec->n_layers + 1; i-- > 0;)
    {
      const char *layer = i == 0 ? spec->workspace : spec->layers[i - 1];
      char host[PATH_MAX];
      if (plan->idmapped[i] >= 0)
        {
          if (attach_idmapped(plan->idmapped[i], i, host, sizeof host, err) < 0)
            return tars_error_prefix(err, "layer %s", layer);
        }
      else if (path_join(host, sizeof host, OLDROOT, layer, err) < 0)
        return -1;
      int fd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return tars_error_set(err, errno, "open layer %s", layer);
      m->lower_dfds[m->n_lowers++] = fd;
      if (m->n_lowers > 1)
        opts[off++] = ':';
      if (append_escaped(opts, sizeof opts, &off, host, err) < 0)
        return -1;
    }
  if (ro)
    {
      /* No upper layer: read-only, and overlayfs then wants two lower ones.  */
      if (m->n_lowers == 1)
        snprintf(opts + off, sizeof opts - off, ":" LOWER_EMPTY);
      if (do_mount("overlay", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts, err) < 0)
        return tars_error_prefix(err, "workspace %s", spec->workspace);
      return 0;
    }
  int n = snprintf(opts + off, sizeof opts - off,
                   ",upperdir=" SCRATCH "/upper,workdir=" SCRATCH "/work,userxattr");
  if (n < 0 || (size_t)n >= sizeof opts - off)
    return tars_error_invalid(err, "too many or too long overlay layers");
  if (do_mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV, opts, err) < 0)
    return tars_error_prefix(err, "workspace %s", spec->workspace);
  m->upper_dfd = open(SCRATCH "/upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (m->upper_dfd < 0)
    return tars_error_set(err, errno, "open %s/upper", SCRATCH);
  return 0;
}

/* An empty file at TARGET to bind a file on: made on the sandbox's own tmpfs when missing.  */
static int
ensure_file(const char *target, struct tars_error *err)
{
  struct stat st;
  if (stat(target, &st) == 0)
    {
      if (S_ISDIR(st.st_mode))
        return tars_error_invalid(err, "%s is a directory", target + strlen(NEWROOT));
      return 0;
    }
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", target);
  char *slash = strrchr(parent, '/');
  *slash = '\0';
  if (ensure_dir_on_tmpfs(parent, err) < 0)
    return -1;
  if (!is_tmpfs_dir(parent))
    return tars_error_invalid(err,
                              "%s does not exist in the root file system (tars creates mount "
                              "points only on its own tmpfs)",
                              target + strlen(NEWROOT));
  int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return tars_error_set(err, errno, "create %s", target + strlen(NEWROOT));
  close(fd);
  return 0;
}

/* /tmp, /var/tmp and /dev/shm, as systemd's PrivateTmp: besides scratch space, /tmp and /var/tmp
 * are where host daemons leave sockets.  /var/tmp is made when the root is tars' own tmpfs, and
 * used when an image has it.  */
static int
setup_private_tmp(const struct tars_view *view, uint64_t size, struct tars_error *err)
{
  char tmp_opts[64];
  snprintf(tmp_opts, sizeof tmp_opts, "size=%llu,mode=1777",
           (unsigned long long)(size ? size : (256ULL << 20)));
  if (mkdir(PRIVATE_TMP, 0755) < 0)
    return tars_error_set(err, errno, "mkdir " PRIVATE_TMP);
  if (do_mount("tmpfs", PRIVATE_TMP, "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts, err) < 0)
    return -1;
  static const char *const private_dirs[] = {PRIVATE_TMP "/tmp", PRIVATE_TMP "/var-tmp",
                                             PRIVATE_TMP "/shm"};
  for (size_t i = 0; i < sizeof private_dirs / sizeof private_dirs[0]; i++)
    if (mkdir(private_dirs[i], 0755) < 0 || chmod(private_dirs[i], 01777) < 0)
      return tars_error_set(err, errno, "mkdir %s", private_dirs[i]);
  if (ensure_dir_on_tmpfs(NEWROOT "/tmp", err) < 0 ||
      do_mount(PRIVATE_TMP "/tmp", NEWROOT "/tmp", NULL, MS_BIND, NULL, err) < 0)
    return -1;
  if (view->root == NULL && ensure_dir_on_tmpfs(NEWROOT "/var/tmp", err) < 0)
    return -1;
  if (is_plain_dir(NEWROOT "/var/tmp") &&
      do_mount(PRIVATE_TMP "/var-tmp", NEWROOT "/var/tmp", NULL, MS_BIND, NULL, err) < 0)
    return -1;
  return 0;
}

static int
run_op(const struct tars_mount_plan *plan, const struct tars_view_op *op, struct tars_mounts *m,
       struct tars_error *err)
{
  char target[PATH_MAX], host[PATH_MAX];
  if (path_join(target, sizeof target, NEWROOT, strcmp(op->dest, "/") == 0 ? "" : op->dest, err) <
      0)
    return -1;
  if (op->src && path_join(host, sizeof host, OLDROOT, op->src, err) < 0)
    return -1;
  struct stat st;
  switch (op->kind)
    {
    case TARS_OP_TREE:
      if (ensure_dir_on_tmpfs(target, err) < 0 || mount_tree(op->src, target, err) < 0)
        return tars_error_prefix(err, "show %s", op->src);
      return 0;
    case TARS_OP_SUBMOUNT:
      /* Best effort: what cannot be shown stays the empty directory (or file) beneath.  */
      if (stat(host, &st) < 0 || lstat(target, &st) < 0)
        return 0;
      if (S_ISDIR(st.st_mode))
        mount_tree(op->src, target, err);
      else if (S_ISREG(st.st_mode))
        mount(host, target, NULL, MS_BIND, NULL);
      tars_error_clear(err);
      return 0;
    case TARS_OP_FILE:
    case TARS_OP_SOCKET:
      if (ensure_file(target, err) < 0 || do_mount(host, target, NULL, MS_BIND, NULL, err) < 0)
        return tars_error_prefix(err, "show %s", op->src);
      return 0;
    case TARS_OP_SYMLINK:
      if (lstat(target, &st) == 0)
        return 0;
      if (symlink(op->src, target) < 0)
        return tars_error_set(err, errno, "symlink %s -> %s", op->dest, op->src);
      return 0;
    case TARS_OP_TMPFS:
      {
        char opts[64];
        snprintf(opts, sizeof opts, "size=%llu,mode=0755", (unsigned long long)op->size);
        if (ensure_dir_on_tmpfs(target, err) < 0 ||
            do_mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts, err) < 0)
          return tars_error_prefix(err, "tmpfs %s", op->dest);
        return 0;
      }
    case TARS_OP_DIR:
      if (ensure_dir_on_tmpfs(target, err) < 0)
        return tars_error_prefix(err, "dir %s", op->dest);
      return 0;
    case TARS_OP_PRIVATE_TMP:
      return setup_private_tmp(plan->view, op->size, err);
    case TARS_OP_PROC:
      if (ensure_dir_on_tmpfs(target, err) < 0)
        return -1;
      return do_mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL,
                      err);
    case TARS_OP_DEV:
      if (ensure_dir_on_tmpfs(target, err) < 0)
        return -1;
      return setup_dev(err);
    case TARS_OP_SYSFS:
      /* A sysfs of the sandbox's own network namespace: the host's lists the host's interfaces
       * and their addresses.  Where the kernel refuses, there is none.  */
      if (plan->view->root == NULL && ensure_dir_on_tmpfs(target, err) < 0)
        return -1;
      if (is_plain_dir(target))
        mount("sysfs", target, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
      return 0;
    case TARS_OP_WORKSPACE:
    case TARS_OP_RO_WORKSPACE:
      return setup_workspace(plan, op->kind == TARS_OP_RO_WORKSPACE, m, err);
    case TARS_OP_HIDE:
      return mask_file(op->dest, err);
    }
  return 0;
}

/* The mounts that stay writable once the whole tree is made read-only.  */
static int
make_writable(const char *path, struct tars_error *err)
{
  struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
  if (sys_mount_setattr(path, 0, &rw) == 0)
    return 0;
  if (errno != ENOSYS)
    return tars_error_set(err, errno, "mount_setattr %s read-write", path);
  return do_mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL, err);
}

int
tars_mounts_setup(const struct tars_mount_plan *plan, struct tars_mounts *m, struct tars_error *err)
{
  const struct tars_spec *spec = plan->spec;
  const struct tars_view *view = plan->view;
  m->upper_dfd = -1;
  m->n_lowers = 0;

  /* Nothing we do may propagate back to the host.  */
  if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err) < 0)
    return -1;

  char base_opts[64];
  snprintf(base_opts, sizeof base_opts, "size=%llu,mode=0755",
           (unsigned long long)(spec->scratch_bytes ? spec->scratch_bytes : (1ULL << 30)));
  if (do_mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, base_opts, err) < 0)
    return -1;
  if (chdir(BASE) < 0)
    return tars_error_set(err, errno, "chdir %s", BASE);
  if (mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0 || mkdir("scratch", 0755) < 0 ||
      mkdir("scratch/upper", 0755) < 0 || mkdir("scratch/work", 0755) < 0 ||
      mkdir("hidden", 0755) < 0 || mkdir("lower-empty", 0755) < 0)
    return tars_error_set(err, errno, "mkdir in the sandbox's scratch tmpfs");
  int efd = open("empty", O_CREAT | O_WRONLY | O_CLOEXEC, 0);
  if (efd < 0)
    return tars_error_set(err, errno, "create the mask file");
  close(efd);
  if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
    return tars_error_set(err, errno, "pivot_root into the scratch tmpfs");
  if (chdir("/") < 0)
    return tars_error_set(err, errno, "chdir /");

  /* The root: the image, or a directory of the scratch tmpfs (bound on itself to be a mount)
   * that holds nothing but the mount points made below.  */
  if (view->root)
    {
      if (mount_tree(view->root, NEWROOT, err) < 0)
        return tars_error_prefix(err, "root file system");
    }
  else if (do_mount(NEWROOT, NEWROOT, NULL, MS_BIND, NULL, err) < 0)
    return -1;

  for (size_t i = 0; i < view->n; i++)
    if (run_op(plan, &view->ops[i], m, err) < 0)
      return -1;

  /* Everything read-only, nosuid and nodev in one call, then the writable ones again, and /dev's
   * device nodes usable.  */
  if (make_tree_readonly(err) < 0)
    return -1;
  struct mount_attr dev = {.attr_clr = MOUNT_ATTR_NODEV};
  if (sys_mount_setattr(NEWROOT "/dev", AT_RECURSIVE, &dev) < 0 && errno != ENOSYS)
    return tars_error_set(err, errno, "mount_setattr %s/dev", NEWROOT);
  if (make_writable(NEWROOT "/tmp", err) < 0 || make_writable(NEWROOT "/dev/shm", err) < 0 ||
      make_writable(NEWROOT "/dev/pts", err) < 0 ||
      (is_plain_dir(NEWROOT "/var/tmp") && make_writable(NEWROOT "/var/tmp", err) < 0))
    return -1;
  for (size_t i = 0; i < view->n; i++)
    {
      const struct tars_view_op *op = &view->ops[i];
      char target[PATH_MAX];
      if ((op->kind == TARS_OP_TMPFS || op->kind == TARS_OP_WORKSPACE) &&
          (path_join(target, sizeof target, NEWROOT, op->dest, err) < 0 ||
           make_writable(target, err) < 0))
        return -1;
    }

  if (umount2(OLDROOT, MNT_DETACH) < 0)
    return tars_error_set(err, errno, "detach the host's root");
  if (chdir(NEWROOT) < 0)
    return tars_error_set(err, errno, "chdir %s", NEWROOT);
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return tars_error_set(err, errno, "pivot_root into the sandbox's root");
  if (umount2(".", MNT_DETACH) < 0)
    return tars_error_set(err, errno, "detach the scratch root");
  if (chdir("/") < 0)
    return tars_error_set(err, errno, "chdir /");
  return 0;
}
