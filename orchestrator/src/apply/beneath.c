/* Resolving host paths beneath the repository root without following symlinks (beneath.h).
 *
 * openat2 does the whole resolution in the kernel, race-free.  Where it is missing (kernels before
 * 5.6, or a seccomp filter that answers ENOSYS) the walk opens one component at a time from the
 * previous component's descriptor, each with O_NOFOLLOW, so that a rename or a symlink planted
 * between two steps cannot move the walk elsewhere: each step is relative to a directory already
 * opened and checked.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "apply/beneath.h"
#include "tars/cleanup.h"

bool tars_beneath_force_walk;

/* Set once openat2 answered ENOSYS or E2BIG, so that later calls go straight to the walk.  */
static int openat2_missing;

#define RESOLVE_FLAGS                                                                              \
  (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* A path as it may appear in a message: control bytes escaped, long paths shortened.  */
struct shown
{
  char s[600];
};

static struct shown
show(const char *path)
{
  struct shown r;
  size_t o = 0, len = path ? strlen(path) : 0;
  if (path == NULL)
    path = "";
  for (size_t i = 0; i < len && o + 8 < sizeof r.s; i++)
    {
      unsigned char c = (unsigned char)path[i];
      if (len > 500 && i == 240)
        {
          memcpy(r.s + o, "...", 3);
          o += 3;
          i = len - 240;
          c = (unsigned char)path[i];
        }
      if (c < 0x20 || c == 0x7f || c == '\\')
        o += (size_t)snprintf(r.s + o, sizeof r.s - o, "\\x%02x", c);
      else
        r.s[o++] = (char)c;
    }
  r.s[o] = '\0';
  return r;
}

/* Fill ERR with KIND, CODE as its errno (without appending strerror: the message says it), set
 * errno to CODE and return -1.  */
static int __attribute__((format(printf, 4, 5)))
fail(struct tars_error *err, enum tars_error_kind kind, int code, const char *fmt, ...)
{
  char msg[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (kind == TARS_ERR_REFUSED)
    tars_error_refused(err, "%s", msg);
  else if (kind == TARS_ERR_INVALID)
    tars_error_invalid(err, "%s", msg);
  else
    tars_error_set(err, 0, "%s", msg);
  if (err)
    err->code = code;
  errno = code;
  return -1;
}

/* A system call failed with CODE: "WHAT 'PATH': strerror".  */
static int
fail_sys(struct tars_error *err, int code, const char *what, const char *path)
{
  tars_error_set(err, code, "%s '%s'", what, show(path).s);
  errno = code;
  return -1;
}

static int
fail_loop(struct tars_error *err, const char *path)
{
  return fail(err, TARS_ERR_REFUSED, ELOOP, "'%s': symlink on the way", show(path).s);
}

static int
fail_xdev(struct tars_error *err, const char *path)
{
  return fail(err, TARS_ERR_REFUSED, EXDEV, "'%s': crosses a mount point or leaves the root",
              show(path).s);
}

static int
check_relpath(const char *relpath, struct tars_error *err)
{
  const char *why = NULL;
  size_t len = relpath ? strlen(relpath) : 0;

  if (len == 0)
    why = "it is empty";
  else if (len >= PATH_MAX)
    why = "it is longer than PATH_MAX";
  else if (relpath[0] == '/')
    why = "it is absolute";
  else
    for (const char *p = relpath;;)
      {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
          why = "it has an empty component";
        else if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
          why = "it has a '.' or '..' component";
        else if (n > NAME_MAX)
          why = "a component is longer than NAME_MAX";
        if (why || !slash)
          break;
        p = slash + 1;
      }
  if (why)
    return fail(err, TARS_ERR_INVALID, EINVAL, "'%s': not a relative, normalised path: %s",
                show(relpath).s, why);
  return 0;
}

/* Which mount DIRFD/NAME (NAME "" for DIRFD itself) is on: its mount id where the kernel reports
 * one, else its device.  */
struct mnt
{
  bool has_id;
  uint64_t id;
  dev_t dev;
};

static int
mount_of(int dirfd, const char *name, struct mnt *m)
{
  struct statx stx;
  int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] ? 0 : AT_EMPTY_PATH);
  if (statx(dirfd, name, flags, STATX_MNT_ID, &stx) < 0)
    return -1;
  m->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  m->has_id = (stx.stx_mask & STATX_MNT_ID) != 0;
  m->id = 0;
  if (m->has_id)
    {
      /* stx_mnt_id follows stx_dev_minor (offset 0x90); Debian 12's glibc still calls that
       * padding.  */
      unsigned char raw[sizeof stx];
      _Static_assert(sizeof(struct statx) >= 0x98, "struct statx too small");
      memcpy(raw, &stx, sizeof raw);
      memcpy(&m->id, raw + 0x90, sizeof m->id);
    }
  return 0;
}

static bool
same_mount(const struct mnt *a, const struct mnt *b)
{
  if (a->has_id && b->has_id)
    return a->id == b->id;
  return a->dev == b->dev;
}

static int
open_openat2(int dirfd, const char *relpath, int flags, mode_t mode)
{
  struct open_how how = {
      .flags = (uint64_t)(unsigned int)flags,
      .mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0,
      .resolve = RESOLVE_FLAGS,
  };
  int fd;
  /* EAGAIN: a concurrent rename made the kernel give up on a lookup it could not prove safe.  */
  for (int tries = 0;; tries++)
    {
      fd = (int)syscall(SYS_openat2, dirfd, relpath, &how, sizeof how);
      if (fd >= 0 || (errno != EINTR && errno != EAGAIN) || tries >= 16)
        break;
    }
  return fd;
}

/* The walk: every component but the last opened O_PATH|O_DIRECTORY|O_NOFOLLOW from the previous
 * one and checked to be on the root's mount; the last opened with FLAGS (which hold
 * O_NOFOLLOW).  */
static int
open_walk(int root_fd, const char *relpath, int flags, mode_t mode, const char *display,
          struct tars_error *err)
{
  struct mnt root_m, m;
  cleanup_close int cur = -1;
  char comp[NAME_MAX + 1];
  const char *p = relpath;

  if (mount_of(root_fd, "", &root_m) < 0)
    return fail_sys(err, errno, "stat the root of", display);
  for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1)
    {
      size_t n = (size_t)(slash - p);
      int dfd = cur >= 0 ? cur : root_fd;
      memcpy(comp, p, n);
      comp[n] = '\0';
      int fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        {
          int e = errno;
          struct stat st;
          /* O_PATH|O_NOFOLLOW opens a symlink itself, which O_DIRECTORY then rejects.  */
          if (e == ELOOP || (e == ENOTDIR && fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                             S_ISLNK(st.st_mode)))
            return fail_loop(err, display);
          return fail_sys(err, e, "open", display);
        }
      if (cur >= 0)
        close(cur);
      cur = fd;
      if (mount_of(cur, "", &m) < 0)
        return fail_sys(err, errno, "stat", display);
      if (!same_mount(&m, &root_m))
        return fail_xdev(err, display);
    }

  int dfd = cur >= 0 ? cur : root_fd;
  /* A mount point as the last component: refuse it before an O_TRUNC or a write goes through.  */
  if (mount_of(dfd, p, &m) == 0 && !same_mount(&m, &root_m))
    return fail_xdev(err, display);
  cleanup_close int fd = openat(dfd, p, flags, mode);
  if (fd < 0)
    {
      if (errno == ELOOP)
        return fail_loop(err, display);
      return fail_sys(err, errno, "open", display);
    }
  if (mount_of(fd, "", &m) < 0)
    return fail_sys(err, errno, "stat", display);
  if (!same_mount(&m, &root_m))
    return fail_xdev(err, display);
  return steal_fd(&fd);
}

/* ENOTDIR from an O_PATH|O_DIRECTORY|O_NOFOLLOW open whose last component is a symlink (opened
 * as such, then rejected as not a directory) is a symlink on the way for the caller, who asked for
 * a directory to go through.  The stat only chooses the message.  */
static int
fail_notdir(int dirfd, const char *relpath, int flags, const char *display, struct tars_error *err)
{
  struct stat st;
  if ((flags & O_DIRECTORY) && fstatat(dirfd, relpath, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode))
    return fail_loop(err, display);
  return fail_sys(err, ENOTDIR, "open", display);
}

/* Open RELPATH (already checked) beneath DIRFD; messages name DISPLAY.  */
static int
open_at(int dirfd, const char *relpath, int flags, mode_t mode, const char *display,
        struct tars_error *err)
{
  flags |= O_NOFOLLOW | O_CLOEXEC;
  if (!tars_beneath_force_walk && !__atomic_load_n(&openat2_missing, __ATOMIC_RELAXED))
    {
      int fd = open_openat2(dirfd, relpath, flags, mode);
      if (fd >= 0)
        return fd;
      switch (errno)
        {
        case ENOSYS:
        case E2BIG:
          __atomic_store_n(&openat2_missing, 1, __ATOMIC_RELAXED);
          break;
        case ELOOP:
          return fail_loop(err, display);
        case EXDEV:
          return fail_xdev(err, display);
        case ENOTDIR:
          return fail_notdir(dirfd, relpath, flags, display, err);
        default:
          return fail_sys(err, errno, "open", display);
        }
    }
  int fd = open_walk(dirfd, relpath, flags, mode, display, err);
  if (fd < 0 && errno == ENOTDIR)
    return fail_notdir(dirfd, relpath, flags, display, err);
  return fd;
}

int
tars_open_beneath(int root_fd, const char *relpath, int flags, mode_t mode, struct tars_error *err)
{
  if (check_relpath(relpath, err) < 0)
    return -1;
  return open_at(root_fd, relpath, flags, mode, relpath, err);
}

/* The parent of RELPATH opened with FLAGS, *BASE pointed at the last component.  */
static int
open_parent(int root_fd, const char *relpath, int flags, const char **base, struct tars_error *err)
{
  if (check_relpath(relpath, err) < 0)
    return -1;
  const char *slash = strrchr(relpath, '/');
  if (slash == NULL)
    {
      int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
      if (fd < 0)
        return fail_sys(err, errno, "dup the root for", relpath);
      *base = relpath;
      return fd;
    }
  cleanup_free char *dir = strndup(relpath, (size_t)(slash - relpath));
  if (dir == NULL)
    return fail_sys(err, ENOMEM, "open the parent of", relpath);
  int fd = open_at(root_fd, dir, flags | O_DIRECTORY, 0, relpath, err);
  if (fd < 0)
    return -1;
  *base = slash + 1;
  return fd;
}

int
tars_open_parent_beneath(int root_fd, const char *relpath, const char **base,
                         struct tars_error *err)
{
  return open_parent(root_fd, relpath, O_RDONLY, base, err);
}

int
tars_lstat_beneath(int root_fd, const char *relpath, struct stat *st, struct tars_error *err)
{
  const char *base;
  /* O_PATH: a stat needs search permission on the way, not read permission on the parent.  */
  cleanup_close int dfd = open_parent(root_fd, relpath, O_PATH, &base, err);
  if (dfd < 0)
    return -1;
  if (fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW) < 0)
    return fail_sys(err, errno, "lstat", relpath);
  return 0;
}

int
tars_mkdir_parents_beneath(int root_fd, const char *relpath, struct tars_error *err)
{
  cleanup_close int cur = -1;
  char comp[NAME_MAX + 1];

  if (check_relpath(relpath, err) < 0)
    return -1;
  const char *last = strrchr(relpath, '/');
  for (const char *p = relpath; last && p < last;)
    {
      const char *slash = strchr(p, '/');
      size_t n = (size_t)(slash - p);
      int dfd = cur >= 0 ? cur : root_fd;
      memcpy(comp, p, n);
      comp[n] = '\0';
      int fd = open_at(dfd, comp, O_PATH | O_DIRECTORY, 0, relpath, err);
      if (fd < 0 && errno == ENOENT)
        {
          if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST)
            {
              char prefix[PATH_MAX];
              snprintf(prefix, sizeof prefix, "%.*s", (int)(slash - relpath), relpath);
              return fail_sys(err, errno, "mkdir", prefix);
            }
          fd = open_at(dfd, comp, O_PATH | O_DIRECTORY, 0, relpath, err);
        }
      if (fd < 0)
        return -1;
      if (cur >= 0)
        close(cur);
      cur = fd;
      p = slash + 1;
    }
  return 0;
}
