/* Snapshots of a repository, and overlay layers made from changesets (see snapshot.h).  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "apply/beneath.h"
#include "apply/git.h"
#include "validate/snapshot.h"
#include "store/store.h"
#include "tars/cleanup.h"

#define SNAPSHOTS_DIR "snapshots"
/* Snapshots kept besides the one in use: the most recently used.  */
#define SNAPSHOTS_KEEP 3

struct entry
{
  char *path;
  bool link;
  unsigned mode;
  uint64_t size;
  char hash[65]; /* content, for files */
  char *target;  /* symlinks */
};

struct listing
{
  struct entry *v;
  size_t n, cap;
};

static void
listing_free(struct listing *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free(l->v[i].path);
      free(l->v[i].target);
    }
  free(l->v);
  memset(l, 0, sizeof *l);
}

static struct entry *
listing_push(struct listing *l, struct tars_error *err)
{
  if (l->n == l->cap)
    {
      size_t cap = l->cap ? l->cap * 2 : 256;
      struct entry *v = realloc(l->v, cap * sizeof *v);
      if (v == NULL)
        {
          tars_error_set(err, ENOMEM, "snapshot");
          return NULL;
        }
      l->v = v;
      l->cap = cap;
    }
  struct entry *e = &l->v[l->n++];
  memset(e, 0, sizeof *e);
  return e;
}

/* True for the paths a snapshot never holds: tars' state and git's.  */
static bool
excluded(const char *path)
{
  for (const char *c = path; c; c = strchr(c, '/'))
    {
      if (*c == '/')
        c++;
      if (strncmp(c, ".git", 4) == 0 && (c[4] == '/' || c[4] == '\0'))
        return true;
    }
  return strcmp(path, TARS_STATE_DIR) == 0 ||
         strncmp(path, TARS_STATE_DIR "/", sizeof TARS_STATE_DIR) == 0;
}

/* Every path under DFD (relative to the repository, PREFIX "" at the top), not following
 * symlinks: the listing of a repository that is not a git work tree.  */
static int
walk(int dfd, const char *prefix, char ***paths, size_t *n, size_t *cap, struct tars_error *err)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s", *prefix ? prefix : ".");
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return tars_error_set(err, errno, "read %s", *prefix ? prefix : ".");
    }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      cleanup_free char *path = NULL;
      if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) < 0)
        return tars_error_set(err, ENOMEM, "snapshot");
      if (excluded(path))
        continue;
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return tars_error_set(err, errno, "stat %s", path);
      if (S_ISDIR(st.st_mode))
        {
          cleanup_close int sub =
              openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            return tars_error_set(err, errno, "open %s", path);
          if (walk(sub, path, paths, n, cap, err) < 0)
            return -1;
          continue;
        }
      if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        continue;
      if (*n + 1 >= *cap)
        {
          size_t c = *cap ? *cap * 2 : 256;
          char **v = realloc(*paths, c * sizeof *v);
          if (v == NULL)
            return tars_error_set(err, ENOMEM, "snapshot");
          *paths = v;
          *cap = c;
        }
      (*paths)[(*n)++] = steal_pointer(&path);
      (*paths)[*n] = NULL;
    }
  return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
  return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* Copy IN to OUT (OUT may be -1: hash only), hashing what is read.  */
static int
copy_hashing(int in, int out, const char *shown, char hex[65], uint64_t *size,
             struct tars_error *err)
{
  if (tars_sha256_copy(in, out, NULL, 0, hex, size, err) < 0)
    return tars_error_prefix(err, "snapshot %s", shown);
  return 0;
}

/* Describe every listed path: kind, mode, content hash.  Paths that vanished, or that are no
 * longer regular files or symlinks, are dropped.  */
static int
describe(int repo_fd, char **paths, size_t n, struct listing *l, struct tars_error *err)
{
  for (size_t i = 0; i < n; i++)
    {
      if (excluded(paths[i]))
        continue;
      struct stat st;
      struct tars_error e2 = {0};
      if (tars_lstat_beneath(repo_fd, paths[i], &st, &e2) < 0)
        {
          if (errno == ENOENT || errno == ENOTDIR || e2.kind == TARS_ERR_REFUSED)
            continue; /* gone, or behind a symlink: not a file of the tree */
          *err = e2;
          return -1;
        }
      if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        continue;
      struct entry *e = listing_push(l, err);
      if (e == NULL)
        return -1;
      if ((e->path = strdup(paths[i])) == NULL)
        return tars_error_set(err, ENOMEM, "snapshot");
      e->mode = st.st_mode & 0777;
      if (S_ISLNK(st.st_mode))
        {
          e->link = true;
          cleanup_free char *target = calloc(1, PATH_MAX + 1);
          const char *base;
          cleanup_close int pfd = tars_open_parent_beneath(repo_fd, paths[i], &base, err);
          if (target == NULL || pfd < 0)
            return target == NULL ? tars_error_set(err, ENOMEM, "snapshot") : -1;
          ssize_t len = readlinkat(pfd, base, target, PATH_MAX);
          if (len < 0)
            return tars_error_set(err, errno, "readlink %s", paths[i]);
          target[len] = '\0';
          e->target = steal_pointer(&target);
          continue;
        }
      cleanup_close int fd = tars_open_beneath(repo_fd, paths[i], O_RDONLY, 0, err);
      if (fd < 0)
        return -1;
      if (copy_hashing(fd, -1, paths[i], e->hash, &e->size, err) < 0)
        return -1;
    }
  if (l->n > 1)
    qsort(l->v, l->n, sizeof *l->v, cmp_entry);
  return 0;
}

static void
snapshot_id(const struct listing *l, char out[65])
{
  struct sha256_ctx h;
  sha256_init(&h);
  for (size_t i = 0; i < l->n; i++)
    {
      const struct entry *e = &l->v[i];
      char head[96];
      int k = snprintf(head, sizeof head, "%c %o ", e->link ? 'l' : 'f', e->mode);
      sha256_update(&h, (size_t)k, (const uint8_t *)head);
      sha256_update(&h, strlen(e->path) + 1, (const uint8_t *)e->path);
      const char *v = e->link ? e->target : e->hash;
      sha256_update(&h, strlen(v) + 1, (const uint8_t *)v);
    }
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_digest(&h, sizeof d, d);
  tars_hex_encode(d, sizeof d, out);
}

/* mkdir -p of PATH's parent beneath DFD, each new directory taking the mode of the repository's
 * directory at the same path (0755 when it cannot be read).  */
static int
make_parents(int dfd, int repo_fd, const char *path, struct tars_error *err)
{
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return tars_error_set(err, ENAMETOOLONG, "snapshot %s", path);
  for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/'))
    {
      *s = '\0';
      struct stat st;
      mode_t mode = 0755;
      struct tars_error ignored;
      if (repo_fd >= 0 && tars_lstat_beneath(repo_fd, buf, &st, &ignored) == 0 &&
          S_ISDIR(st.st_mode))
        mode = (st.st_mode & 0777) | 0700;
      if (mkdirat(dfd, buf, mode) < 0 && errno != EEXIST)
        return tars_error_set(err, errno, "create the directory %s", buf);
      if (repo_fd >= 0)
        fchmodat(dfd, buf, mode, 0);
      *s = '/';
    }
  return 0;
}

static int
copy_tree(int repo_fd, int out_fd, const struct listing *l, struct tars_error *err)
{
  for (size_t i = 0; i < l->n; i++)
    {
      const struct entry *e = &l->v[i];
      if (make_parents(out_fd, repo_fd, e->path, err) < 0)
        return -1;
      if (e->link)
        {
          if (symlinkat(e->target, out_fd, e->path) < 0)
            return tars_error_set(err, errno, "snapshot the symlink %s", e->path);
          continue;
        }
      cleanup_close int in = tars_open_beneath(repo_fd, e->path, O_RDONLY, 0, err);
      if (in < 0)
        return -1;
      cleanup_close int out =
          openat(out_fd, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (out < 0)
        return tars_error_set(err, errno, "create the snapshot's copy of %s", e->path);
      char hex[65];
      uint64_t size;
      if (copy_hashing(in, out, e->path, hex, &size, err) < 0)
        return -1;
      if (strcmp(hex, e->hash) != 0)
        return tars_error_set(err, EAGAIN, "snapshot: %s changed while it was copied", e->path);
      if (fchmod(out, e->mode & 0777) < 0)
        return tars_error_set(err, errno, "chmod the snapshot's copy of %s", e->path);
    }
  return 0;
}

int
tars_remove_tree_at(int dfd, const char *name, struct tars_error *err)
{
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : tars_error_set(err, errno, "stat %s", name);
  if (!S_ISDIR(st.st_mode))
    {
      if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
        return tars_error_set(err, errno, "remove %s", name);
      return 0;
    }
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s", name);
  fchmod(fd, 0700); /* a build may leave read-only directories behind */
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return tars_error_set(err, errno, "read %s", name);
    }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      if (tars_remove_tree_at(dirfd(d), de->d_name, err) < 0)
        return -1;
    }
  if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return tars_error_set(err, errno, "remove %s", name);
  return 0;
}

/* Take a shared lock on the snapshot ID for as long as SNAP is held, so that no other tars prunes
 * it meanwhile, and mark it as just used.  Returns -1 with errno ENOENT when it is gone (pruned
 * since it was found).  */
static int
lock_snapshot(int snaps_fd, struct tars_snapshot *snap)
{
  int fd = openat(snaps_fd, snap->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  if (flock(fd, LOCK_SH) < 0 || fstat(fd, &st) < 0)
    {
      close(fd);
      return -1;
    }
  /* A pruner renames a snapshot away before removing it: the name must still be this one.  */
  struct stat named;
  if (fstatat(snaps_fd, snap->id, &named, AT_SYMLINK_NOFOLLOW) < 0 || named.st_ino != st.st_ino)
    {
      close(fd);
      errno = ENOENT;
      return -1;
    }
  futimens(fd, NULL);
  snap->lock_fd = fd;
  return 0;
}

static bool
is_snapshot_id(const char *name)
{
  size_t n = strspn(name, "0123456789abcdef");
  return n == 64 && name[n] == '\0';
}

/* A leftover of a process that is gone: "tmp-<id16>-<pid>" or "del-<id16>-<pid>".  */
static bool
is_orphan(const char *name)
{
  if (strncmp(name, "tmp-", 4) != 0 && strncmp(name, "del-", 4) != 0)
    return false;
  const char *dash = strrchr(name, '-');
  long pid = dash ? strtol(dash + 1, NULL, 10) : 0;
  return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

struct aged
{
  char name[256];
  struct timespec mtime;
};

static int
cmp_newest_first(const void *a, const void *b)
{
  const struct timespec *x = &((const struct aged *)a)->mtime,
                        *y = &((const struct aged *)b)->mtime;
  if (x->tv_sec != y->tv_sec)
    return x->tv_sec < y->tv_sec ? 1 : -1;
  return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

/* Remove the snapshots beyond the SNAPSHOTS_KEEP most recently used (never KEEP_ID, nor one in
 * use: those hold a shared lock), and what dead processes left behind.  Best effort.  */
static void
prune(int snaps_fd, const char *keep_id)
{
  int fd = openat(snaps_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return;
    }
  struct aged *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  struct tars_error ignored;
  while ((de = readdir(d)) != NULL)
    {
      if (is_orphan(de->d_name))
        {
          tars_remove_tree_at(snaps_fd, de->d_name, &ignored);
          continue;
        }
      struct stat st;
      if (!is_snapshot_id(de->d_name) || strcmp(de->d_name, keep_id) == 0 ||
          fstatat(snaps_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (n == cap)
        {
          cap = cap ? cap * 2 : 16;
          struct aged *nv = realloc(v, cap * sizeof *v);
          if (nv == NULL)
            break;
          v = nv;
        }
      snprintf(v[n].name, sizeof v[n].name, "%s", de->d_name);
      v[n++].mtime = st.st_mtim;
    }
  if (n > 1)
    qsort(v, n, sizeof *v, cmp_newest_first);
  for (size_t i = SNAPSHOTS_KEEP; i < n; i++)
    {
      cleanup_close int sfd =
          openat(snaps_fd, v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sfd < 0 || flock(sfd, LOCK_EX | LOCK_NB) < 0)
        continue; /* in use */
      char gone[96];
      snprintf(gone, sizeof gone, "del-%.16s-%d", v[i].name, (int)getpid());
      if (renameat(snaps_fd, v[i].name, snaps_fd, gone) == 0)
        tars_remove_tree_at(snaps_fd, gone, &ignored);
    }
  free(v);
}

int
tars_snapshot_take(struct tars_store *store, struct tars_snapshot *snap, struct tars_error *err)
{
  memset(snap, 0, sizeof *snap);
  snap->lock_fd = -1;
  const char *repo = tars_store_repo_path(store);
  int repo_fd = tars_store_repo_fd(store);
  int state_fd = tars_store_state_fd(store);

  cleanup_strv char **paths = NULL;
  size_t n = 0;
  int is_git = tars_git_is_repo(repo, err);
  if (is_git < 0)
    return -1;
  if (is_git)
    {
      if (tars_git_list_files(repo, &paths, &n, err) < 0)
        return tars_error_prefix(err, "snapshot %s", repo);
    }
  else
    {
      size_t cap = 0;
      if (walk(repo_fd, "", &paths, &n, &cap, err) < 0)
        return tars_error_prefix(err, "snapshot %s", repo);
    }

  struct listing l = {0};
  if (describe(repo_fd, paths, n, &l, err) < 0)
    {
      listing_free(&l);
      return tars_error_prefix(err, "snapshot %s", repo);
    }
  snapshot_id(&l, snap->id);
  for (size_t i = 0; i < l.n; i++)
    {
      snap->files++;
      snap->bytes += l.v[i].size;
    }
  if (asprintf(&snap->path, "%s/" TARS_STATE_DIR "/" SNAPSHOTS_DIR "/%s", repo, snap->id) < 0)
    {
      snap->path = NULL;
      listing_free(&l);
      return tars_error_set(err, ENOMEM, "snapshot");
    }
  if (mkdirat(state_fd, SNAPSHOTS_DIR, 0700) < 0 && errno != EEXIST)
    {
      listing_free(&l);
      return tars_error_set(err, errno, "create %s/" TARS_STATE_DIR "/" SNAPSHOTS_DIR, repo);
    }
  cleanup_close int snaps_fd =
      openat(state_fd, SNAPSHOTS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (snaps_fd < 0)
    {
      listing_free(&l);
      return tars_error_set(err, errno, "open %s/" TARS_STATE_DIR "/" SNAPSHOTS_DIR, repo);
    }
  /* A finished snapshot is renamed into place: one under its id is complete.  */
  struct stat st;
  if (fstatat(snaps_fd, snap->id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
      lock_snapshot(snaps_fd, snap) == 0)
    {
      snap->reused = true;
      listing_free(&l);
      prune(snaps_fd, snap->id);
      return 0;
    }
  char tmp[96];
  snprintf(tmp, sizeof tmp, "tmp-%.16s-%d", snap->id, (int)getpid());
  tars_remove_tree_at(snaps_fd, tmp, err);
  if (mkdirat(snaps_fd, tmp, 0755) < 0)
    {
      listing_free(&l);
      return tars_error_set(err, errno, "create the snapshot directory %s", tmp);
    }
  cleanup_close int out_fd = openat(snaps_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int r =
      out_fd < 0 ? tars_error_set(err, errno, "open %s", tmp) : copy_tree(repo_fd, out_fd, &l, err);
  listing_free(&l);
  if (r == 0 && fsync(out_fd) < 0)
    r = tars_error_set(err, errno, "sync the snapshot");
  if (r == 0 && renameat(snaps_fd, tmp, snaps_fd, snap->id) < 0)
    {
      if (errno == EEXIST || errno == ENOTEMPTY) /* another tars made the same one meanwhile */
        snap->reused = true;
      else
        r = tars_error_set(err, errno, "rename the snapshot into place");
    }
  if (r < 0 || snap->reused)
    {
      struct tars_error ignored;
      tars_remove_tree_at(snaps_fd, tmp, &ignored);
    }
  if (r == 0 && lock_snapshot(snaps_fd, snap) < 0)
    r = tars_error_set(err, errno, "lock the snapshot %s", snap->id);
  if (r == 0)
    prune(snaps_fd, snap->id);
  return r < 0 ? tars_error_prefix(err, "snapshot %s", repo) : 0;
}

void
tars_snapshot_free(struct tars_snapshot *snap)
{
  free(snap->path);
  snap->path = NULL;
  if (snap->lock_fd >= 0)
    close(snap->lock_fd);
  snap->lock_fd = -1;
}

/* ---- Layers from changesets ---- */

static int
mode_of_base_dir(int base_dfd, const char *path, mode_t *mode)
{
  struct stat st;
  struct tars_error ignored;
  if (tars_lstat_beneath(base_dfd, path, &st, &ignored) == 0 && S_ISDIR(st.st_mode))
    {
      *mode = st.st_mode & 07777;
      return 0;
    }
  *mode = 0755;
  return -1;
}

/* Create the directories leading to PATH in the layer, with the base tree's modes.  */
static int
layer_parents(int out_dfd, int base_dfd, const char *path, struct tars_error *err)
{
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return tars_error_set(err, ENAMETOOLONG, "layer %s", path);
  for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/'))
    {
      *s = '\0';
      struct stat st;
      if (fstatat(out_dfd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          mode_t mode;
          mode_of_base_dir(base_dfd, buf, &mode);
          if (mkdirat(out_dfd, buf, mode | 0700) < 0)
            return tars_error_set(err, errno, "layer: create the directory %s", buf);
        }
      else if (!S_ISDIR(st.st_mode))
        return tars_error_set(err, ENOTDIR, "layer: %s is not a directory", buf);
      *s = '/';
    }
  return 0;
}

/* When the layer holds a whiteout at PATH (the changeset deleted what was there and now makes
 * something new), remove it and say so: a new directory must then hide the old one's content.  */
static bool
replace_whiteout(int out_dfd, const char *path)
{
  struct stat st;
  if (fstatat(out_dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
      st.st_rdev == makedev(0, 0))
    {
      unlinkat(out_dfd, path, 0);
      return true;
    }
  return false;
}

/* True when an ancestor of PATH is a whiteout in the layer: what is beneath is gone already.  */
static bool
under_whiteout(int out_dfd, const char *path)
{
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/'))
    {
      *s = '\0';
      struct stat st;
      bool wh = fstatat(out_dfd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode);
      *s = '/';
      if (wh)
        return true;
    }
  return false;
}

/* Copy SRC_DFD/SRC to OUT_DFD/PATH with MODE.  */
static int
write_file(int out_dfd, const char *path, int src_dfd, const char *src, unsigned mode,
           struct tars_error *err)
{
  cleanup_close int in = tars_open_beneath(src_dfd, src, O_RDONLY, 0, err);
  if (in < 0)
    return tars_error_prefix(err, "layer %s", path);
  unlinkat(out_dfd, path, 0);
  cleanup_close int out =
      openat(out_dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return tars_error_set(err, errno, "layer: create %s", path);
  for (;;)
    {
      ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
      if (n == 0)
        break;
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
        {
          char hex[65];
          uint64_t size;
          if (copy_hashing(in, out, path, hex, &size, err) < 0)
            return -1;
          break;
        }
      if (n < 0 && errno != EINTR)
        return tars_error_set(err, errno, "layer: copy %s", path);
    }
  if (fchmod(out, mode & 0777) < 0)
    return tars_error_set(err, errno, "layer: chmod %s", path);
  return 0;
}

struct moved;
static int layer_entries(const struct tars_changeset *cs, int cs_dfd, int base_dfd, int out_dfd,
                         struct moved *moved, struct tars_error *err);

/* Objects already moved into the layer: content hash -> the path that holds it.  */
struct moved
{
  const char **sha, **path;
  size_t cap;
};

static size_t
moved_slot(const struct moved *m, const char *sha)
{
  size_t h =
      strtoull((char[17]){sha[0], sha[1], sha[2], sha[3], sha[4], sha[5], sha[6], sha[7], sha[8],
                          sha[9], sha[10], sha[11], sha[12], sha[13], sha[14], sha[15], 0},
               NULL, 16);
  size_t i = h & (m->cap - 1);
  while (m->sha[i] && strcmp(m->sha[i], sha) != 0)
    i = (i + 1) & (m->cap - 1);
  return i;
}

/* Put the object SHA at PATH with MODE: moved out of the changeset the first time (the caller
 * discards the changeset), copied from where it went after that.  */
static int
move_object(struct moved *m, int objects, int out_dfd, const char *path, const char *sha,
            unsigned mode, struct tars_error *err)
{
  size_t i = moved_slot(m, sha);
  if (m->sha[i])
    return write_file(out_dfd, path, out_dfd, m->path[i], mode, err);
  unlinkat(out_dfd, path, 0);
  if (renameat(objects, sha, out_dfd, path) < 0)
    return write_file(out_dfd, path, objects, sha, mode, err);
  if (fchmodat(out_dfd, path, mode & 0777, 0) < 0)
    return tars_error_set(err, errno, "layer: chmod %s", path);
  m->sha[i] = sha;
  m->path[i] = path;
  return 0;
}

static int
set_times(int dfd, const struct timespec *ts, struct tars_error *err)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "layer: open a directory");
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return tars_error_set(err, errno, "layer: read a directory");
    }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return tars_error_set(err, errno, "layer: stat %s", de->d_name);
      if (S_ISDIR(st.st_mode))
        {
          cleanup_close int sub =
              openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0 || set_times(sub, ts, err) < 0)
            return sub < 0 ? tars_error_set(err, errno, "layer: open %s", de->d_name) : -1;
        }
      else if (S_ISCHR(st.st_mode))
        continue;
      utimensat(dirfd(d), de->d_name, ts, AT_SYMLINK_NOFOLLOW);
    }
  return 0;
}

int
tars_layer_from_changeset(const struct tars_changeset *cs, int cs_dfd, int base_dfd, int out_dfd,
                          unsigned flags, struct tars_error *err)
{
  struct moved moved = {0};
  if (flags & TARS_LAYER_MOVE_OBJECTS)
    {
      moved.cap = 16;
      while (moved.cap < 2 * cs->n_entries + 2)
        moved.cap *= 2;
      moved.sha = calloc(moved.cap, sizeof *moved.sha);
      moved.path = calloc(moved.cap, sizeof *moved.path);
      if (moved.sha == NULL || moved.path == NULL)
        {
          free(moved.sha);
          free(moved.path);
          return tars_error_set(err, ENOMEM, "layer");
        }
    }
  int r = layer_entries(cs, cs_dfd, base_dfd, out_dfd, moved.cap ? &moved : NULL, err);
  free(moved.sha);
  free(moved.path);
  return r;
}

static int
layer_entries(const struct tars_changeset *cs, int cs_dfd, int base_dfd, int out_dfd,
              struct moved *moved, struct tars_error *err)
{
  cleanup_close int objects =
      openat(cs_dfd, "objects", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      if (c->op != TARS_CHANGE_DELETE && layer_parents(out_dfd, base_dfd, c->path, err) < 0)
        return -1;
      switch (c->op)
        {
        case TARS_CHANGE_DELETE:
          if (under_whiteout(out_dfd, c->path))
            break;
          if (layer_parents(out_dfd, base_dfd, c->path, err) < 0)
            return -1;
          /* What is beneath was deleted first (deletes come deepest first): a directory of the
           * layer at PATH holds only those whiteouts, and one whiteout replaces them all.  */
          if (tars_remove_tree_at(out_dfd, c->path, err) < 0)
            return -1;
          if (mknodat(out_dfd, c->path, S_IFCHR | 0000, makedev(0, 0)) < 0)
            return tars_error_set(err, errno,
                                  "layer: make a whiteout for %s (overlay whiteouts need "
                                  "Linux 5.8 or later when not root)",
                                  c->path);
          break;
        case TARS_CHANGE_CREATE:
        case TARS_CHANGE_MODIFY:
          replace_whiteout(out_dfd, c->path);
          if (objects < 0)
            return tars_error_set(err, errno, "layer: open the changeset's objects/");
          if ((moved ? move_object(moved, objects, out_dfd, c->path, c->sha256, c->mode, err)
                     : write_file(out_dfd, c->path, objects, c->sha256, c->mode, err)) < 0)
            return -1;
          break;
        case TARS_CHANGE_MKDIR:
          {
            bool opaque = replace_whiteout(out_dfd, c->path);
            if (mkdirat(out_dfd, c->path, c->mode) < 0 && errno != EEXIST)
              return tars_error_set(err, errno, "layer: create the directory %s", c->path);
            fchmodat(out_dfd, c->path, c->mode, 0);
            if (opaque)
              {
                cleanup_close int fd =
                    openat(out_dfd, c->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || fsetxattr(fd, "user.overlay.opaque", "y", 1, 0) < 0)
                  return tars_error_set(err, errno, "layer: make %s opaque", c->path);
              }
            break;
          }
        case TARS_CHANGE_CHMOD:
          if (c->type == TARS_CHANGE_DIR)
            {
              if (mkdirat(out_dfd, c->path, c->mode) < 0 && errno != EEXIST)
                return tars_error_set(err, errno, "layer: create the directory %s", c->path);
              fchmodat(out_dfd, c->path, c->mode, 0);
            }
          else if (write_file(out_dfd, c->path, base_dfd, c->path, c->mode, err) < 0)
            return -1;
          break;
        case TARS_CHANGE_SYMLINK:
          replace_whiteout(out_dfd, c->path);
          if (symlinkat(c->target, out_dfd, c->path) < 0)
            return tars_error_set(err, errno, "layer: create the symlink %s", c->path);
          break;
        }
    }
  struct timespec now[2];
  clock_gettime(CLOCK_REALTIME, &now[0]);
  now[1] = now[0];
  return set_times(out_dfd, now, err);
}
