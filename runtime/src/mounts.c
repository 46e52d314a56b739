/* The sandbox's filesystem view.
 *
 * Order matters, and follows bubblewrap's: a private tmpfs becomes a temporary root (so nothing
 * we create ever lands on the host), the host (or image) is bound recursively at /newroot, what
 * must be hidden is covered, the whole tree is made read-only, nosuid and nodev with one
 * mount_setattr call, then the writable mounts (/tmp, /dev, the workspace overlay) are added and
 * the process pivots into /newroot, detaching the old root.  */
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
#define HIDDEN "/hidden" /* empty directories that cover hidden ones */
/* One tmpfs for the sandbox's private /tmp, /var/tmp and /dev/shm, each a directory of it bound in
 * place: one superblock instead of three.  */
#define PRIVATE_TMP "/private"

/* Host paths hidden behind an empty read-only tmpfs: homes, root's home and runtime sockets (the
 * Docker socket lives in /run).  */
static const char *const hidden_dirs[] = {"/home", "/root", "/run", "/var/run", "/mnt", "/media"};
/* Host files masked by an unreadable empty file.  */
static const char *const masked_files[] = {"/etc/shadow",
                                           "/etc/gshadow",
                                           "/etc/shadow-",
                                           "/etc/gshadow-",
                                           "/etc/ssh/ssh_host_rsa_key",
                                           "/etc/ssh/ssh_host_ecdsa_key",
                                           "/etc/ssh/ssh_host_ed25519_key",
                                           "/etc/docker/key.json",
                                           "/etc/ssl/private"};
/* Credential folders and files below the caller's home, masked even when the workspace (which is
 * visible) contains the home.  */
static const char *const home_secrets[] = {".ssh",
                                           ".gnupg",
                                           ".aws",
                                           ".azure",
                                           ".kube",
                                           ".docker",
                                           ".config/gcloud",
                                           ".netrc",
                                           ".git-credentials",
                                           ".npmrc",
                                           ".pypirc",
                                           ".cargo/credentials",
                                           ".cargo/credentials.toml"};

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

/* The model gateway's socket at TARS_SANDBOX_GATEWAY_SOCKET: its directory made on the tmpfs
 * that hides /run, an empty file as the mount point, the host socket bound on it.  Read-only
 * like the rest: connecting to a socket needs no writable mount.  */
static int
bind_gateway_socket(const char *host_path, struct tars_error *err)
{
  char src[PATH_MAX], target[PATH_MAX];
  if (path_join(src, sizeof src, OLDROOT, host_path, err) < 0 ||
      path_join(target, sizeof target, NEWROOT, TARS_SANDBOX_GATEWAY_SOCKET, err) < 0)
    return -1;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", target);
  *strrchr(dir, '/') = '\0';
  if (ensure_dir_on_tmpfs(dir, err) < 0)
    return tars_error_prefix(err, "gateway socket");
  int fd = open(target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return tars_error_set(err, errno, "gateway socket: create %s", TARS_SANDBOX_GATEWAY_SOCKET);
  close(fd);
  if (do_mount(src, target, NULL, MS_BIND, NULL, err) < 0)
    return tars_error_prefix(err, "gateway socket %s", host_path);
  return 0;
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
      if (mount(NULL, mnt, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | keep,
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

/* overlayfs splits its options on ',' and its lower layers on ':'.  */
static int
check_overlay_path(const char *path, struct tars_error *err)
{
  if (strpbrk(path, ",:\\\n") != NULL)
    return tars_error_invalid(err,
                              "the path %s cannot be an overlay layer: it contains ',', ':', "
                              "'\\' or a newline",
                              path);
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

static int
setup_workspace(const struct tars_mount_plan *plan, struct tars_mounts *m, struct tars_error *err)
{
  const struct tars_spec *spec = plan->spec;
  char target[PATH_MAX];
  if (path_join(target, sizeof target, NEWROOT, spec->workspace, err) < 0)
    return -1;
  if (ensure_dir_on_tmpfs(target, err) < 0)
    return tars_error_prefix(err, "workspace %s", spec->workspace);

  /* Layers are given lowest first; overlayfs wants the topmost first.  */
  char opts[3 * PATH_MAX + 4096];
  size_t off = (size_t)snprintf(opts, sizeof opts, "lowerdir=");
  m->n_lowers = 0;
  for (size_t i = spec->n_layers + 1; i-- > 0;)
    {
      const char *layer = i == 0 ? spec->workspace : spec->layers[i - 1];
      if (check_overlay_path(layer, err) < 0)
        return -1;
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
      int n = snprintf(opts + off, sizeof opts - off, "%s%s", m->n_lowers > 1 ? ":" : "", host);
      if (n < 0 || (size_t)n >= sizeof opts - off)
        return tars_error_invalid(err, "too many or too long overlay layers");
      off += (size_t)n;
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

/* When the workspace contains the caller's home (or is it), its credential folders are visible
 * through the overlay: cover them too.  */
static int
mask_home_secrets_in_workspace(const struct tars_mount_plan *plan, struct tars_error *err)
{
  const char *home = plan->home;
  const char *ws = plan->spec->workspace;
  if (home == NULL || ws == NULL)
    return 0;
  size_t wl = strlen(ws);
  if (strncmp(home, ws, wl) != 0 || (home[wl] != '\0' && home[wl] != '/'))
    return 0;
  for (size_t i = 0; i < sizeof home_secrets / sizeof home_secrets[0]; i++)
    {
      char p[PATH_MAX];
      if (snprintf(p, sizeof p, "%s/%s", home, home_secrets[i]) >= (int)sizeof p)
        continue;
      if (mask_file(p, err) < 0)
        return -1;
    }
  return 0;
}

int
tars_mounts_setup(const struct tars_mount_plan *plan, struct tars_mounts *m, struct tars_error *err)
{
  const struct tars_spec *spec = plan->spec;
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
      mkdir("hidden", 0755) < 0)
    return tars_error_set(err, errno, "mkdir in the sandbox's scratch tmpfs");
  int efd = open("empty", O_CREAT | O_WRONLY | O_CLOEXEC, 0);
  if (efd < 0)
    return tars_error_set(err, errno, "create the mask file");
  close(efd);
  if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
    return tars_error_set(err, errno, "pivot_root into the scratch tmpfs");
  if (chdir("/") < 0)
    return tars_error_set(err, errno, "chdir /");

  char src[PATH_MAX];
  if (path_join(src, sizeof src, OLDROOT, spec->rootfs ? spec->rootfs : "", err) < 0)
    return -1;
  if (do_mount(src, NEWROOT, NULL, MS_BIND | MS_REC, NULL, err) < 0)
    return tars_error_prefix(err, "root file system");

  for (size_t i = 0; i < sizeof hidden_dirs / sizeof hidden_dirs[0]; i++)
    if (hide_dir(hidden_dirs[i], err) < 0)
      return -1;
  if (plan->home && plan->home[0] == '/' && strcmp(plan->home, "/") != 0 &&
      hide_dir(plan->home, err) < 0)
    return -1;
  for (size_t i = 0; i < spec->n_masks; i++)
    if (mask_file(spec->masks[i], err) < 0)
      return -1;
  for (size_t i = 0; i < sizeof masked_files / sizeof masked_files[0]; i++)
    if (mask_file(masked_files[i], err) < 0)
      return -1;

  /* Private /tmp and /var/tmp, as systemd's PrivateTmp: besides scratch space, they are where
   * host daemons leave unix sockets, which a read-only mount does not stop anyone from
   * connecting to.  */
  char tmp_opts[64];
  snprintf(tmp_opts, sizeof tmp_opts, "size=%llu,mode=1777",
           (unsigned long long)(spec->tmp_bytes ? spec->tmp_bytes : (256ULL << 20)));
  bool var_tmp = is_plain_dir(NEWROOT "/var/tmp");
  if (mkdir(PRIVATE_TMP, 0755) < 0)
    return tars_error_set(err, errno, "mkdir " PRIVATE_TMP);
  if (do_mount("tmpfs", PRIVATE_TMP, "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts, err) < 0)
    return -1;
  static const char *const private_dirs[] = {PRIVATE_TMP "/tmp", PRIVATE_TMP "/var-tmp",
                                             PRIVATE_TMP "/shm"};
  for (size_t i = 0; i < sizeof private_dirs / sizeof private_dirs[0]; i++)
    if (mkdir(private_dirs[i], 0755) < 0 || chmod(private_dirs[i], 01777) < 0)
      return tars_error_set(err, errno, "mkdir %s", private_dirs[i]);
  if (do_mount(PRIVATE_TMP "/tmp", NEWROOT "/tmp", NULL, MS_BIND, NULL, err) < 0 ||
      (var_tmp &&
       do_mount(PRIVATE_TMP "/var-tmp", NEWROOT "/var/tmp", NULL, MS_BIND, NULL, err) < 0))
    return -1;
  /* The workspace's mount point may lie in a hidden directory (a home): create it before the
   * hiding tmpfs becomes read-only.  */
  char wsdir[PATH_MAX];
  if (spec->workspace)
    {
      if (path_join(wsdir, sizeof wsdir, NEWROOT, spec->workspace, err) < 0)
        return -1;
      if (ensure_dir_on_tmpfs(wsdir, err) < 0)
        return tars_error_prefix(err, "workspace %s", spec->workspace);
    }

  if (spec->gateway_socket && bind_gateway_socket(spec->gateway_socket, err) < 0)
    return -1;

  if (make_tree_readonly(err) < 0)
    return -1;
  /* ... except the private /tmp and /var/tmp.  */
  struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
  if ((sys_mount_setattr(NEWROOT "/tmp", 0, &rw) < 0 &&
       do_mount(NULL, NEWROOT "/tmp", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL,
                err) < 0) ||
      (var_tmp && sys_mount_setattr(NEWROOT "/var/tmp", 0, &rw) < 0 &&
       do_mount(NULL, NEWROOT "/var/tmp", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL,
                err) < 0))
    return -1;
  /* A sysfs of the sandbox's own network namespace: the host's lists the host's interfaces and
   * their addresses.  Kept read-only; if the kernel refuses, the host's stays, read-only.  */
  if (is_plain_dir(NEWROOT "/sys"))
    mount("sysfs", NEWROOT "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

  if (do_mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL,
               err) < 0)
    return -1;
  if (setup_dev(err) < 0)
    return -1;

  if (spec->workspace)
    {
      if (setup_workspace(plan, m, err) < 0)
        return -1;
      if (mask_home_secrets_in_workspace(plan, err) < 0)
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
