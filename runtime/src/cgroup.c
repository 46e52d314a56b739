/* A cgroup per sandbox, with memory, pids and cpu limits, on cgroup v2 or v1.
 *
 * This runs on every sandbox start, so it does the fewest system calls it can: one read of
 * /proc/self/cgroup decides the version and the paths (no mountinfo scan, no probing), the
 * directories are created optimistically (the parent "tars" directory of v1 only when missing),
 * limits that are already the kernel's default are not written, and destroy tries rmdir first,
 * since the sandbox's processes are normally gone by then.
 *
 * v1 (legacy or hybrid): <mount>/<our own cgroup>/tars/<name> in the memory, pids and (when a cpu
 * quota is asked for) cpu hierarchies, nested under our own cgroup as runc does, so that the
 * limits we run under also bind the sandbox.
 *
 * v2 (unified): the "no internal processes" rule forbids enabling controllers for the children of
 * a cgroup that has processes, and ours has at least us.  So the sandbox's cgroup is created as a
 * sibling of ours, in our parent (which, not holding processes, can hand controllers down), or in
 * the root when we are in the root (of the hierarchy or of our cgroup namespace).  For a rootless
 * user this works in a delegated subtree (systemd's user@UID.service, or a scope started with
 * systemd-run --user --scope -p Delegate=yes).
 *
 * When the tree is not ours to write, the sandbox runs without cgroup limits (rlimits still apply)
 * and the caller gets a note saying why.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tars/cleanup.h"
#include "internal.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
/* The kernel's default CFS period for a new cgroup, in microseconds: quotas are expressed against
 * it, so the period never needs writing.  */
#define CPU_PERIOD_US 100000ULL
#define CG_PATH_MAX ((int)sizeof(((struct tars_cgroup *)0)->paths[0]))

/* Why the cgroup could not be created, for the note.  */
struct cg_fail
{
  const char *op;
  char path[CG_PATH_MAX + 128];
  int errnum;
  const char *reason; /* instead of strerror (errnum), when the errno would mislead */
  const char *hint;
};

/* Returned by the create steps besides 0 and -1: the tree is not ours to write; the name is
 * taken (left behind by a crashed process whose pid has come round again).  */
#define CG_UNAVAILABLE 1
#define CG_EXISTS 2

static unsigned int cgroup_counter;

/* Write the NUL-terminated BUF to PATH.  Returns 0 or -errno.  */
static int
write_file(const char *path, const char *buf)
{
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t len = strlen(buf);
  ssize_t n = write(fd, buf, len);
  if (n < 0)
    return -errno;
  if ((size_t)n != len)
    return -EIO;
  return 0;
}

/* Read PATH into BUF (NUL-terminated, at most SIZE - 1 bytes).  Returns the length or -errno.  */
static ssize_t
read_file(const char *path, char *buf, size_t size)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t len = 0;
  while (len < size - 1)
    {
      ssize_t n = read(fd, buf + len, size - 1 - len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        break;
      len += (size_t)n;
    }
  buf[len] = '\0';
  return (ssize_t)len;
}

/* Whether WORD is one of the items of LIST, separated by any of SEPS.  */
static bool
has_item(const char *list, const char *word, const char *seps)
{
  size_t wlen = strlen(word);
  for (const char *p = list; *p;)
    {
      size_t n = strcspn(p, seps);
      if (n == wlen && memcmp(p, word, n) == 0)
        return true;
      p += n;
      p += strspn(p, seps);
    }
  return false;
}

static bool
not_ours(int errnum)
{
  return errnum == EACCES || errnum == EPERM || errnum == EROFS;
}

static int
fail_unavailable(struct cg_fail *f, const char *op, const char *path, int errnum, const char *hint)
{
  f->op = op;
  snprintf(f->path, sizeof f->path, "%s", path);
  f->errnum = errnum;
  f->hint = hint;
  return CG_UNAVAILABLE;
}

static int
join(char *out, const char *a, const char *b, const char *c, struct tars_error *err)
{
  int n = snprintf(out, CG_PATH_MAX, "%s%s%s", a, b, c);
  if (n < 0 || n >= CG_PATH_MAX)
    return tars_error_set(err, ENAMETOOLONG, "cgroup path %s%s%s", a, b, c);
  return 0;
}

/* Write a limit; an absent file is skipped when OPTIONAL (memsw without swap accounting,
 * memory.swap.max without swap).  */
static int
write_limit(const char *dir, const char *file, const char *value, bool optional, struct cg_fail *f,
            struct tars_error *err)
{
  char path[CG_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int r = write_file(path, value);
  if (r == 0 || (optional && r == -ENOENT))
    return 0;
  if (not_ours(-r))
    return fail_unavailable(f, NULL, path, -r, NULL);
  return tars_error_set(err, -r, "write %s to %s", value, path);
}

#define N_CTRLS 4
struct own_cgroups
{
  const char *v2;            /* the "0::" path, or NULL */
  bool has_v1;               /* one of ours is on a v1 hierarchy */
  const char *dir[N_CTRLS];  /* v1: hierarchy directory under /sys/fs/cgroup, e.g. "cpu,cpuacct" */
  const char *path[N_CTRLS]; /* v1: our cgroup in that hierarchy */
};

enum
{
  CTRL_MEMORY,
  CTRL_PIDS,
  CTRL_CPU,
  CTRL_CPUACCT, /* v1 only: the CPU time in total, which --cpu-seconds bounds */
};
static const char *const ctrl_names[] = {"memory", "pids", "cpu", "cpuacct"};

/* Parse /proc/self/cgroup ("ID:CONTROLLERS:PATH" lines) in place.  */
static void
parse_own(char *buf, struct own_cgroups *own)
{
  memset(own, 0, sizeof *own);
  for (char *line = buf; line && *line;)
    {
      char *next = strchr(line, '\n');
      if (next)
        *next++ = '\0';
      char *ctrls = strchr(line, ':');
      char *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
      if (path)
        {
          *ctrls++ = '\0';
          *path++ = '\0';
          if (*ctrls == '\0')
            own->v2 = path;
          else
            /* Only our controllers decide: a v2 host may still have a v1 hierarchy of its own
             * (name=systemd, or net_cls mounted by a VPN client).  */
            for (int i = 0; i < N_CTRLS; i++)
              if (has_item(ctrls, ctrl_names[i], ","))
                {
                  /* cpuacct alone only counts: it decides nothing.  */
                  own->has_v1 = own->has_v1 || i != CTRL_CPUACCT;
                  own->dir[i] = ctrls;
                  own->path[i] = path;
                }
        }
      line = next;
    }
}

/* mkdir OUT = BASE/tars/NAME, creating PARENT = BASE/tars when missing.  0 or -errno, with FAILED
 * set to the directory that could not be written.  */
static int
v1_mkdir(char *out, char *parent, const char *base, const char *name, const char **failed,
         struct tars_error *err)
{
  if (join(parent, base, "/tars", "", err) < 0 || join(out, parent, "/", name, err) < 0)
    return -ENAMETOOLONG;
  *failed = parent;
  if (mkdir(out, 0755) == 0)
    return 0;
  if (errno != ENOENT)
    return -errno;
  /* The shared "tars" parent is left in place on destroy: other sandboxes may be using it, and
   * removing it would race with their mkdir.  */
  *failed = base;
  if (mkdir(parent, 0755) < 0 && errno != EEXIST)
    return -errno;
  *failed = parent;
  if (mkdir(out, 0755) < 0)
    return -errno;
  return 0;
}

static int
v1_create(struct tars_cgroup *cg, const struct tars_spec *spec, const struct own_cgroups *own,
          const char *name, struct cg_fail *f, struct tars_error *err)
{
  /* The controllers are on v1 hierarchies: a v2 subtree, delegated or not, cannot have them.  */
  static const char *const hint = "no delegated cgroup v2 subtree was found";
  bool want_cpu = spec->cpu_quota_pct != 0 && spec->cpu_quota_pct != UINT64_MAX;
  bool want_cpuacct = spec->cpu_seconds != 0 && spec->cpu_seconds != UINT64_MAX;
  cg->version = 1;

  for (int i = 0; i < N_CTRLS; i++)
    {
      if (i == CTRL_CPU && !want_cpu)
        continue;
      if (i == CTRL_CPUACCT)
        {
          /* Accounting is best effort: without it --cpu-seconds stays RLIMIT_CPU, per process.
           * cpuacct is often co-mounted with cpu ("cpu,cpuacct"): the same directory then.  */
          if (!want_cpuacct || own->dir[i] == NULL)
            continue;
          if (want_cpu && own->dir[CTRL_CPU] == own->dir[i])
            {
              for (int k = 0; k < cg->n_paths; k++)
                if (strstr(cg->paths[k], own->dir[i]))
                  snprintf(cg->cpu_usage, sizeof cg->cpu_usage, "%s/cpuacct.usage", cg->paths[k]);
              continue;
            }
        }
      if (own->dir[i] == NULL)
        {
          char what[64];
          snprintf(what, sizeof what, CGROUP_ROOT "/%s", ctrl_names[i]);
          return fail_unavailable(f, "find v1 hierarchy", what, ENOENT,
                                  "it is not in /proc/self/cgroup");
        }
      char mount[CG_PATH_MAX], base[CG_PATH_MAX], parent[CG_PATH_MAX];
      if (join(mount, CGROUP_ROOT "/", own->dir[i], "", err) < 0)
        return -1;
      const char *p = own->path[i];
      if (join(base, mount, strcmp(p, "/") == 0 ? "" : p, "", err) < 0)
        return -1;

      char *dir = cg->paths[cg->n_paths];
      const char *failed = base;
      int r = v1_mkdir(dir, parent, base, name, &failed, err);
      if (r == -ENOENT && strcmp(base, mount) != 0)
        /* Our cgroup is not under the mount: a container that bind-mounts its own subtree
         * without a cgroup namespace.  The mount's root is our cgroup then.  */
        r = v1_mkdir(dir, parent, mount, name, &failed, err);
      if (r == -ENAMETOOLONG)
        return -1;
      if (r < 0)
        {
          if (not_ours(-r))
            return fail_unavailable(f, NULL, failed, -r, hint);
          if (r == -ENOENT)
            return fail_unavailable(f, "mkdir", dir, -r, "the hierarchy is not mounted");
          if (r == -EEXIST)
            return CG_EXISTS;
          return tars_error_set(err, -r, "mkdir %s", dir);
        }
      cg->n_paths++;

      char value[32];
      if (i == CTRL_MEMORY && spec->memory_bytes != 0 && spec->memory_bytes != UINT64_MAX)
        {
          snprintf(value, sizeof value, "%" PRIu64, spec->memory_bytes);
          /* memory first: memsw may never be below it.  memsw equal to memory means no swap.  */
          if ((r = write_limit(dir, "memory.limit_in_bytes", value, false, f, err)) != 0 ||
              (r = write_limit(dir, "memory.memsw.limit_in_bytes", value, true, f, err)) != 0)
            return r;
        }
      else if (i == CTRL_PIDS && spec->pids != 0 && spec->pids != UINT64_MAX)
        {
          snprintf(value, sizeof value, "%" PRIu64, spec->pids);
          if ((r = write_limit(dir, "pids.max", value, false, f, err)) != 0)
            return r;
        }
      else if (i == CTRL_CPU)
        {
          snprintf(value, sizeof value, "%llu",
                   (unsigned long long)spec->cpu_quota_pct * (CPU_PERIOD_US / 100));
          if ((r = write_limit(dir, "cpu.cfs_quota_us", value, false, f, err)) != 0)
            return r;
          if (want_cpuacct && has_item(own->dir[i], "cpuacct", ","))
            snprintf(cg->cpu_usage, sizeof cg->cpu_usage, "%s/cpuacct.usage", dir);
        }
      else if (i == CTRL_CPUACCT)
        snprintf(cg->cpu_usage, sizeof cg->cpu_usage, "%s/cpuacct.usage", dir);
    }
  return 0;
}

static int
v2_create(struct tars_cgroup *cg, const struct tars_spec *spec, const char *own, const char *name,
          struct cg_fail *f, struct tars_error *err)
{
  static const char *const hint = "no delegated cgroup v2 subtree was found (try systemd-run "
                                  "--user --scope -p Delegate=yes)";
  bool want_cpu = spec->cpu_quota_pct != 0 && spec->cpu_quota_pct != UINT64_MAX;
  cg->version = 2;

  /* Our parent, or the root when we are in it: see the top of the file.  */
  char base[CG_PATH_MAX];
  const char *slash = strrchr(own, '/');
  if (slash == NULL || slash == own)
    snprintf(base, sizeof base, "%s", CGROUP_ROOT);
  else
    {
      int n = snprintf(base, sizeof base, CGROUP_ROOT "%.*s", (int)(slash - own), own);
      if (n < 0 || n >= (int)sizeof base)
        return tars_error_set(err, ENAMETOOLONG, "cgroup path " CGROUP_ROOT "%s", own);
    }

  char path[CG_PATH_MAX + 32], ctl[256];
  snprintf(path, sizeof path, "%s/cgroup.subtree_control", base);
  ssize_t len = read_file(path, ctl, sizeof ctl);
  if (len < 0)
    {
      if (not_ours((int)-len) || len == -ENOENT)
        return fail_unavailable(f, "read", path, (int)-len, hint);
      return tars_error_set(err, (int)-len, "read %s", path);
    }
  char enable[64] = "";
  for (int i = 0; i < 3; i++)
    if ((i != CTRL_CPU || want_cpu) && !has_item(ctl, ctrl_names[i], " \n"))
      {
        strcat(enable, enable[0] ? " +" : "+");
        strcat(enable, ctrl_names[i]);
      }
  if (enable[0])
    {
      int r = write_file(path, enable);
      /* ENOENT: not offered by our parent; EBUSY: the cgroup holds processes.  */
      if (not_ours(-r))
        return fail_unavailable(f, NULL, path, -r, hint);
      if (r == -ENOENT || r == -EBUSY || r == -EOPNOTSUPP)
        {
          fail_unavailable(f, "enable", path, -r, hint);
          snprintf(f->path, sizeof f->path, "%s in %s", enable, base);
          f->reason = r == -EBUSY ? "the cgroup holds processes" : "not offered by its parent";
          return CG_UNAVAILABLE;
        }
      if (r < 0)
        return tars_error_set(err, -r, "write %s to %s", enable, path);
    }

  char *dir = cg->paths[0];
  if (join(dir, base, "/", name, err) < 0)
    return -1;
  if (mkdir(dir, 0755) < 0)
    {
      if (not_ours(errno))
        return fail_unavailable(f, NULL, base, errno, hint);
      if (errno == EEXIST)
        return CG_EXISTS;
      return tars_error_set(err, errno, "mkdir %s", dir);
    }
  cg->n_paths = 1;
  /* Every v2 cgroup counts its CPU time, whatever its controllers.  */
  snprintf(cg->cpu_usage, sizeof cg->cpu_usage, "%s/cpu.stat", dir);

  int r;
  char value[48];
  if (spec->memory_bytes != 0 && spec->memory_bytes != UINT64_MAX)
    {
      snprintf(value, sizeof value, "%" PRIu64, spec->memory_bytes);
      if ((r = write_limit(dir, "memory.max", value, false, f, err)) != 0 ||
          (r = write_limit(dir, "memory.swap.max", "0", true, f, err)) != 0)
        return r;
    }
  if (spec->pids != 0 && spec->pids != UINT64_MAX)
    {
      snprintf(value, sizeof value, "%" PRIu64, spec->pids);
      if ((r = write_limit(dir, "pids.max", value, false, f, err)) != 0)
        return r;
    }
  if (want_cpu)
    {
      snprintf(value, sizeof value, "%llu %llu",
               (unsigned long long)spec->cpu_quota_pct * (CPU_PERIOD_US / 100), CPU_PERIOD_US);
      if ((r = write_limit(dir, "cpu.max", value, false, f, err)) != 0)
        return r;
    }
  return 0;
}

static void
remove_empty(struct tars_cgroup *cg)
{
  for (int i = cg->n_paths - 1; i >= 0; i--)
    rmdir(cg->paths[i]);
  cg->n_paths = 0;
  cg->cpu_usage[0] = '\0';
}

int
tars_cgroup_cpu_ns(const struct tars_cgroup *cg, uint64_t *ns, struct tars_error *err)
{
  char buf[1024];
  if (!cg->active || cg->cpu_usage[0] == '\0')
    return tars_error_set(err, ENOENT, "the sandbox's cgroup counts no CPU time");
  ssize_t len = read_file(cg->cpu_usage, buf, sizeof buf);
  if (len < 0)
    return tars_error_set(err, (int)-len, "read %s", cg->cpu_usage);
  if (cg->version == 1)
    {
      *ns = strtoull(buf, NULL, 10);
      return 0;
    }
  const char *u = strstr(buf, "usage_usec ");
  if (u == NULL)
    return tars_error_set(err, 0, "%s: no usage_usec", cg->cpu_usage);
  *ns = strtoull(u + strlen("usage_usec "), NULL, 10) * 1000;
  return 0;
}

int
tars_cgroup_create(struct tars_cgroup *cg, const struct tars_spec *spec, char *note,
                   size_t note_len, struct tars_error *err)
{
  memset(cg, 0, sizeof *cg);
  if (note_len > 0)
    note[0] = '\0';

  char buf[8192];
  ssize_t len = read_file("/proc/self/cgroup", buf, sizeof buf);
  if (len < 0)
    return tars_error_set(err, (int)-len, "read /proc/self/cgroup");
  struct own_cgroups own;
  parse_own(buf, &own);

  struct cg_fail f = {0};
  int r = CG_EXISTS;
  for (int tries = 0; r == CG_EXISTS && tries < 16; tries++)
    {
      char name[64];
      snprintf(name, sizeof name, "tars-%ld-%u", (long)getpid(),
               __atomic_fetch_add(&cgroup_counter, 1, __ATOMIC_RELAXED));
      if (own.has_v1)
        r = v1_create(cg, spec, &own, name, &f, err);
      else if (own.v2)
        r = v2_create(cg, spec, own.v2, name, &f, err);
      else
        {
          r = fail_unavailable(&f, "read", "/proc/self/cgroup", ENOENT, "is cgroup mounted?");
          f.reason = "it lists no hierarchy";
        }
      if (r == 0)
        {
          cg->active = true;
          return 0;
        }
      /* Nothing was attached yet: the directories are empty.  */
      remove_empty(cg);
    }
  if (r == CG_EXISTS)
    return tars_error_set(err, EEXIST, "create cgroup: every name tried is taken");
  if (r < 0)
    return tars_error_prefix(err, "create cgroup");

  bool want_cpu = spec->cpu_quota_pct != 0 && spec->cpu_quota_pct != UINT64_MAX;
  const char *what = want_cpu ? "memory, pids, cpu" : "memory, pids";
  if (f.op == NULL)
    snprintf(note, note_len,
             "cgroup limits (%s) not applied: %s is not writable by uid %ld (%s) and %s", what,
             f.path, (long)geteuid(), strerror(f.errnum),
             f.hint ? f.hint : "no other cgroup was tried");
  else
    snprintf(note, note_len, "cgroup limits (%s) not applied: %s %s: %s; %s", what, f.op, f.path,
             f.reason ? f.reason : strerror(f.errnum), f.hint);
  return 0;
}

int
tars_cgroup_attach(struct tars_cgroup *cg, pid_t pid, struct tars_error *err)
{
  if (!cg->active)
    return 0;
  char value[24];
  snprintf(value, sizeof value, "%ld", (long)pid);
  for (int i = 0; i < cg->n_paths; i++)
    {
      char path[CG_PATH_MAX + 32];
      snprintf(path, sizeof path, "%s/cgroup.procs", cg->paths[i]);
      int r = write_file(path, value);
      if (r < 0)
        return tars_error_set(err, -r, "attach pid %ld: write %s", (long)pid, path);
    }
  return 0;
}

/* Whether writes to a cgroup v1 "tasks" file are checked against the credentials the file was
 * opened with (Linux 5.16): then the sandbox's init can move itself with descriptors we opened.
 */
static bool
open_time_credentials(void)
{
  static int known = -1;
  if (known < 0)
    {
      struct utsname u;
      int major = 0, minor = 0;
      known = uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
              (major > 5 || (major == 5 && minor >= 16));
    }
  return known;
}

int
tars_cgroup_open_join(const struct tars_cgroup *cg, int *fds, size_t *n, struct tars_error *err)
{
  *n = 0;
  if (!cg->active || cg->version != 1 || !open_time_credentials())
    return 0;
  for (int i = 0; i < cg->n_paths; i++)
    {
      char path[CG_PATH_MAX + 32];
      snprintf(path, sizeof path, "%s/tasks", cg->paths[i]);
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        {
          for (size_t k = 0; k < *n; k++)
            close(fds[k]);
          *n = 0;
          return tars_error_set(err, errno, "open %s", path);
        }
      fds[(*n)++] = fd;
    }
  return 0;
}

/* SIGKILL every process listed in DIR/cgroup.procs.  A pid may be recycled between the read and
 * the kill; the window is the same as runc's and crun's fallback when cgroup.kill is missing.  */
static void
kill_listed(const char *dir)
{
  char path[CG_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  char buf[4096];
  size_t keep = 0;
  for (;;)
    {
      ssize_t n = read(fd, buf + keep, sizeof buf - 1 - keep);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      size_t end = keep + (size_t)n;
      buf[end] = '\0';
      char *p = buf;
      for (char *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
        {
          long pid = strtol(p, NULL, 10);
          if (pid > 0)
            kill((pid_t)pid, SIGKILL);
        }
      /* A pid cut by the read's end waits for the next read.  */
      keep = end - (size_t)(p - buf);
      memmove(buf, p, keep);
    }
}

static void
kill_cgroup(const struct tars_cgroup *cg, const char *dir)
{
  char path[CG_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/cgroup.kill", dir);
  /* cgroup.kill (v2, Linux 5.14) kills atomically, new forks included.  */
  if (cg->version == 2 && write_file(path, "1") == 0)
    return;
  kill_listed(dir);
}

void
tars_cgroup_destroy(struct tars_cgroup *cg)
{
  if (!cg->active)
    return;
  cg->active = false;

  /* Normally the sandbox's processes are all gone (the pid namespace's init has been reaped), so
   * rmdir comes first and killing only when it says EBUSY.  Killed processes leave asynchronously:
   * retry with a growing pause, about two seconds at most.  */
  long pause_ns = 20000;
  for (int attempt = 0; attempt < 110; attempt++)
    {
      bool busy = false;
      for (int i = cg->n_paths - 1; i >= 0; i--)
        {
          if (cg->paths[i][0] == '\0')
            continue;
          if (rmdir(cg->paths[i]) == 0 || errno != EBUSY)
            {
              cg->paths[i][0] = '\0';
              continue;
            }
          busy = true;
          kill_cgroup(cg, cg->paths[i]);
        }
      if (!busy)
        break;
      struct timespec ts = {0, pause_ns};
      nanosleep(&ts, NULL);
      if (pause_ns < 20000000)
        pause_ns *= 2;
    }
  cg->n_paths = 0;
}
