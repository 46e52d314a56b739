/* Whom the sandbox's ids are on the host: its uid and gid maps, and the idmapped mounts of a
 * root-owned workspace.
 *
 * overlayfs copies a file up (on its first change) with the file's owner and group, which must
 * therefore be mapped in the sandbox's user namespace; a file whose group is not fails with
 * EOVERFLOW deep inside the command.  Real root writes whatever maps it likes: the sandbox's root
 * is the workspace's owner (or nobody), and every other gid is mapped to itself, which makes
 * every group representable and grants nothing (the command has no capability, no
 * supplementary group and cannot change its gid).  An ordinary user may map its own gid only,
 * and others through newgidmap where /etc/subgid allows them; the workspace is checked before
 * starting, and a file whose group can be mapped neither way is refused by name.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "tars/cleanup.h"

#define NEWGIDMAP "/usr/bin/newgidmap"
#define SUBGID "/etc/subgid"
#define NOBODY 65534

extern char **environ;

/* File systems whose mounts can be idmapped (Linux 5.12 and later; tmpfs from 6.3).  */
static bool
idmap_supported(const struct tars_spec *spec)
{
  static const long types[] = {0xEF53 /* ext2/3/4 */, 0x58465342 /* xfs */, 0x9123683E /* btrfs */,
                               0xF2F52010 /* f2fs */, 0x01021994 /* tmpfs */};
  for (size_t i = 0; i <= spec->n_layers; i++)
    {
      struct statfs sf;
      if (statfs(i == 0 ? spec->workspace : spec->layers[i - 1], &sf) < 0)
        return false;
      bool known = false;
      for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        known = known || (long)sf.f_type == types[t];
      if (!known)
        return false;
    }
  return true;
}

/* The ranges of /etc/subgid for the user NAME (or uid UID): "who:start:count" lines.  */
static bool
subgid_allows(const char *name, uid_t uid, gid_t gid)
{
  cleanup_fclose FILE *f = fopen(SUBGID, "re");
  if (f == NULL)
    return false;
  char line[512];
  while (fgets(line, sizeof line, f))
    {
      char who[256];
      unsigned long start, count;
      if (sscanf(line, "%255[^:]:%lu:%lu", who, &start, &count) != 3)
        continue;
      char *end;
      unsigned long n = strtoul(who, &end, 10);
      bool mine = (name && strcmp(who, name) == 0) || (*end == '\0' && n == (unsigned long)uid);
      if (mine && gid >= start && gid - start < count)
        return true;
    }
  return false;
}

struct scan
{
  struct tars_idmap *map;
  const char *user; /* looked up when first needed: most workspaces need no name */
  bool user_known;
  bool have_newgidmap;
  const char *top; /* the directory being scanned, for the message */
  char path[4096];
  size_t len;
  struct tars_error *err;
};

static const char *
scan_user(struct scan *s)
{
  if (!s->user_known)
    {
      struct passwd *pw = getpwuid(s->map->uid);
      s->user = pw ? pw->pw_name : NULL;
      s->user_known = true;
    }
  return s->user;
}

static int
refuse_group(struct scan *s, gid_t gid)
{
  struct group *g = getgrgid(gid);
  char name[300];
  if (g)
    snprintf(name, sizeof name, "'%s' (gid %u)", g->gr_name, (unsigned)gid);
  else
    snprintf(name, sizeof name, "gid %u", (unsigned)gid);
  const char *fix = "give it your own group (chgrp)";
  char more[400] = "";
  if (gid != 0)
    snprintf(more, sizeof more, ", or let newgidmap map it%s: add \"%s:%u:1\" to " SUBGID,
             s->have_newgidmap ? "" : " (install it: package uidmap)",
             scan_user(s) ? scan_user(s) : "?", (unsigned)gid);
  return tars_error_invalid(s->err,
                            "workspace file %s/%s has the group %s, which a sandbox run without "
                            "root cannot map (overlayfs would fail to copy it up, with EOVERFLOW, "
                            "when the command changes it): %s%s",
                            s->top, s->path, name, fix, more);
}

/* A file of ours (the caller owns it) with a group other than ours.  */
static int
foreign_group(struct scan *s, gid_t gid)
{
  struct tars_idmap *m = s->map;
  for (size_t i = 0; i < m->n_extra; i++)
    if (m->extra[i] == gid)
      return 0;
  if (!s->have_newgidmap || gid == 0 || m->n_extra == TARS_MAX_EXTRA_GIDS ||
      !subgid_allows(scan_user(s), m->uid, gid))
    return refuse_group(s, gid);
  m->extra[m->n_extra++] = gid;
  return 0;
}

/* Every entry below the directory DFD, through descriptors, never following a symlink.  */
static int
scan_dir(struct scan *s, int dfd, int depth)
{
  cleanup_dir DIR *d = fdopendir(dfd);
  if (d == NULL)
    {
      close(dfd);
      return 0;
    }
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      size_t saved = s->len;
      int n =
          snprintf(s->path + s->len, sizeof s->path - s->len, "%s%s", s->len ? "/" : "", e->d_name);
      if (n < 0 || (size_t)n >= sizeof s->path - s->len)
        continue;
      s->len += (size_t)n;
      int r = 0;
      if (st.st_uid == s->map->uid && st.st_gid != s->map->gid)
        r = foreign_group(s, st.st_gid);
      if (r == 0 && S_ISDIR(st.st_mode) && depth < 256)
        {
          int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub >= 0)
            r = scan_dir(s, sub, depth + 1);
        }
      s->len = saved;
      s->path[saved] = '\0';
      if (r < 0)
        return -1;
    }
  return 0;
}

int
tars_idmap_plan(const struct tars_spec *spec, struct tars_idmap *map, struct tars_error *err)
{
  memset(map, 0, sizeof *map);
  map->root_caller = geteuid() == 0;
  map->uid = geteuid();
  map->gid = getegid();
  if (map->root_caller)
    {
      /* Root maps the sandbox's root to an unprivileged user, so that it holds no more than that
       * user on host files: the workspace's owner (overlayfs must be able to copy its files up
       * with their owner), or nobody.  A root-owned workspace is given to nobody through
       * idmapped mounts of its layers, where its file system supports them; elsewhere root stays
       * mapped, and the read-only view and the masks are what protect the host.  */
      map->uid = map->gid = NOBODY;
      if (spec->workspace)
        {
          struct stat st;
          if (stat(spec->workspace, &st) < 0)
            return tars_error_set(err, errno, "stat workspace %s", spec->workspace);
          map->uid = st.st_uid;
          map->gid = st.st_gid;
          if (map->uid == 0 && idmap_supported(spec))
            {
              map->idmap_layers = true;
              map->uid = map->gid = NOBODY;
            }
          map->gid_identity = true;
        }
      return 0;
    }
  if (spec->workspace == NULL || spec->ro_workspace)
    return 0;

  struct scan s = {
      .map = map,
      .have_newgidmap = access(NEWGIDMAP, X_OK) == 0,
      .err = err,
  };
  for (size_t i = 0; i <= spec->n_layers; i++)
    {
      s.top = i == 0 ? spec->workspace : spec->layers[i - 1];
      s.len = 0;
      s.path[0] = '\0';
      int fd = open(s.top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd >= 0 && scan_dir(&s, fd, 0) < 0)
        return -1;
    }
  return 0;
}

static int
write_file(const char *path, const char *content, struct tars_error *err)
{
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s", path);
  ssize_t len = (ssize_t)strlen(content);
  ssize_t n = write(fd, content, (size_t)len);
  if (n != len)
    return tars_error_set(err, n < 0 ? errno : EIO, "write %s", path);
  return 0;
}

/* newgidmap PID 0 GID 1 G G 1 ...: the setuid helper checks each range against /etc/subgid.  */
static int
run_newgidmap(const struct tars_idmap *m, pid_t pid, struct tars_error *err)
{
  char args[2 + 3 * (TARS_MAX_EXTRA_GIDS + 1)][24];
  char *argv[sizeof args / sizeof args[0] + 1];
  size_t n = 0;
  snprintf(args[n++], sizeof args[0], "newgidmap");
  snprintf(args[n++], sizeof args[0], "%ld", (long)pid);
  snprintf(args[n++], sizeof args[0], "0");
  snprintf(args[n++], sizeof args[0], "%u", (unsigned)m->gid);
  snprintf(args[n++], sizeof args[0], "1");
  for (size_t i = 0; i < m->n_extra; i++)
    {
      snprintf(args[n++], sizeof args[0], "%u", (unsigned)m->extra[i]);
      snprintf(args[n++], sizeof args[0], "%u", (unsigned)m->extra[i]);
      snprintf(args[n++], sizeof args[0], "1");
    }
  for (size_t i = 0; i < n; i++)
    argv[i] = args[i];
  argv[n] = NULL;
  pid_t child;
  int r = posix_spawn(&child, NEWGIDMAP, NULL, NULL, argv, environ);
  if (r != 0)
    return tars_error_set(err, r, "run " NEWGIDMAP);
  int st;
  while (waitpid(child, &st, 0) < 0)
    if (errno != EINTR)
      return tars_error_set(err, errno, "wait for " NEWGIDMAP);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return tars_error_set(err, 0, NEWGIDMAP " %s 0 %u 1 ... failed (status %d)", args[1],
                          (unsigned)m->gid, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}

int
tars_idmap_write(const struct tars_idmap *m, pid_t pid, struct tars_error *err)
{
  char path[64], map[160];
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)m->uid);
  if (write_file(path, map, err) < 0)
    return -1;
  if (!m->root_caller && m->n_extra > 0)
    return run_newgidmap(m, pid, err);
  if (!m->root_caller)
    {
      snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
      if (write_file(path, "deny", err) < 0)
        return -1;
    }
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  size_t off = (size_t)snprintf(map, sizeof map, "0 %u 1\n", (unsigned)m->gid);
  if (m->gid_identity)
    {
      /* Every gid but 0 and the sandbox's own maps to itself; host 0 and the sandbox's gid are
       * mapped once each (as 0), so the ranges overlap on neither side.  */
      const unsigned top = 4294967294U; /* (gid_t)-1 is never a gid */
      unsigned g = (unsigned)m->gid;
      if (g > 1)
        off += (size_t)snprintf(map + off, sizeof map - off, "1 1 %u\n", g - 1);
      if (g >= 1 && g < top)
        off += (size_t)snprintf(map + off, sizeof map - off, "%u %u %u\n", g + 1, g + 1, top - g);
      else if (g == 0)
        off += (size_t)snprintf(map + off, sizeof map - off, "1 1 %u\n", top);
    }
  return write_file(path, map, err);
}

int
tars_idmap_trees(const struct tars_spec *spec, pid_t pid, int *trees, size_t *n,
                 struct tars_error *err)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
  cleanup_close int userns = open(path, O_RDONLY | O_CLOEXEC);
  if (userns < 0)
    return tars_error_set(err, errno, "open %s", path);
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
  for (size_t i = 0; i <= spec->n_layers; i++)
    {
      const char *layer = i == 0 ? spec->workspace : spec->layers[i - 1];
      int fd = (int)syscall(SYS_open_tree, AT_FDCWD, layer, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (fd < 0)
        return tars_error_set(err, errno, "open_tree %s", layer);
      trees[(*n)++] = fd;
      if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
        return tars_error_set(err, errno, "idmap a mount of %s", layer);
    }
  return 0;
}
