/* Running a command in a sandbox.
 *
 * Three processes, as in bubblewrap:
 *   outer   the caller: writes the child's id maps, places it in its cgroup, enforces the
 *           timeout, collects output and the report;
 *   init    pid 1 of the new pid namespace, in new user, mount, net, ipc and uts namespaces: builds
 *           the filesystem view, forks the payload, reaps, kills what is left when the payload
 *           ends, captures the workspace's changes and reports;
 *   payload the command: new session, rlimits, no capabilities, no_new_privs, seccomp, exec.
 *
 * Killing init kills the whole pid namespace, which is how a timeout ends everything at once.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mounts.h"
#include "tars/changes.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

extern char **environ;

/* What init tells the outer process, once, at the end.  */
struct report
{
  int ok;          /* 1: the command ran (status valid); 0: setup or capture failed (error valid) */
  int status;      /* wait status of the command */
  int exec_failed; /* the command could not be executed */
  uint64_t changes;
  uint64_t rejected;
  struct tars_error error;
};

/* What the payload tells init when it cannot exec.  */
struct exec_failure
{
  int code;
  char msg[TARS_ERROR_MSG_MAX];
};

struct child_ctx
{
  const struct tars_spec *spec;
  const char *home;
  bool root_caller;
  int sync_rd;    /* outer -> init: "g" ids mapped, then "c" cgroup joined or "n" none */
  bool no_cgroup; /* set by init from that: memory is then limited with RLIMIT_AS */
  int idmapped[TARS_MAX_LAYERS + 1]; /* received with "g": see tars_mount_plan */
  int report_wr;                     /* init -> outer */
  int out_wr, err_wr;                /* captured output, or -1 */
  int changes_fd;                    /* --changes-out directory, or -1 */
};

static void
write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t n = write(fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      p += n;
      len -= (size_t)n;
    }
}

static ssize_t
read_all(int fd, void *buf, size_t len)
{
  char *p = buf;
  size_t got = 0;
  while (got < len)
    {
      ssize_t n = read(fd, p + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      got += (size_t)n;
    }
  return (ssize_t)got;
}

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/tmp",
    "LANG=C.UTF-8",
    "TERM=dumb",
    NULL,
};

/* The payload: runs as uid 0 of the sandbox's user namespace until exec, then holds nothing.  */
static void __attribute__((noreturn)) payload(const struct child_ctx *ctx, int fail_fd)
{
  const struct tars_spec *spec = ctx->spec;
  struct tars_error err = {0};
  struct exec_failure fail = {0};

  /* A new session: no controlling terminal to push input into (TIOCSTI), no signals from the
   * caller's terminal.  */
  setsid();
  if (ctx->out_wr >= 0)
    {
      int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null >= 0)
        dup2(null, 0);
      dup2(ctx->out_wr, 1);
      dup2(ctx->err_wr, 2);
    }
  /* Keep only stdio and the failure pipe (at 3, close-on-exec): nothing of the host leaks.  */
  if (dup3(fail_fd, 3, O_CLOEXEC) < 0)
    _exit(127);
  syscall(SYS_close_range, 4U, ~0U, 0U);

  const char *cwd = spec->cwd ? spec->cwd : (spec->workspace ? spec->workspace : "/");
  if (chdir(cwd) < 0)
    {
      tars_error_set(&err, errno, "chdir %s", cwd);
      goto fail;
    }
  /* Without a cgroup, --memory can only be an address-space limit (it counts what is reserved,
   * not just what is used, so it is the cruder of the two).  */
  struct tars_spec limits = *spec;
  if (ctx->no_cgroup && limits.as_bytes == UINT64_MAX)
    limits.as_bytes = spec->memory_bytes;
  if (tars_rlimits_apply(&limits, &err) < 0 || tars_caps_drop_all(&err) < 0 ||
      tars_seccomp_apply(&err) < 0)
    goto fail;

  environ = spec->envp ? spec->envp : (char **)default_env;
  execvp(spec->argv[0], spec->argv);
  fail.code = errno;
  snprintf(fail.msg, sizeof fail.msg, "cannot execute '%s': %s", spec->argv[0], strerror(errno));
  write_all(3, &fail, sizeof fail);
  _exit(errno == ENOENT ? 127 : 126);

fail:
  fail.code = -1;
  snprintf(fail.msg, sizeof fail.msg, "%s", err.msg);
  write_all(3, &fail, sizeof fail);
  _exit(127);
}

/* The changeset was written as nobody: hand it back to root, so that no other process running as
 * nobody can change it before it is applied.  */
static int
give_back_changes(int dfd, struct tars_error *err)
{
  if (fchown(dfd, 0, 0) < 0)
    return tars_error_set(err, errno, "chown the changeset");
  if (fchownat(dfd, "manifest.json", 0, 0, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
    return tars_error_set(err, errno, "chown the changeset's manifest.json");
  int ofd = openat(dfd, "objects", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ofd < 0)
    return errno == ENOENT ? 0 : tars_error_set(err, errno, "open the changeset's objects/");
  cleanup_dir DIR *d = fdopendir(ofd);
  if (d == NULL)
    {
      close(ofd);
      return tars_error_set(err, errno, "read the changeset's objects/");
    }
  if (fchown(ofd, 0, 0) < 0)
    return tars_error_set(err, errno, "chown the changeset's objects/");
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.' && fchownat(ofd, e->d_name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
      return tars_error_set(err, errno, "chown objects/%s", e->d_name);
  return 0;
}

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

/* Detached copies of the overlay's lower layers, idmapped through the sandbox's user namespace:
 * the root-owned files show as owned by the sandbox's root, which is nobody on the host, so
 * overlayfs can copy them up while the sandbox holds nothing over the host's root files.  */
static int
idmapped_trees(const struct tars_spec *spec, pid_t pid, int *trees, size_t *n,
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

/* One byte and, with it, descriptors (SCM_RIGHTS).  */
static int
send_with_fds(int sock, char byte, const int *fds, size_t n)
{
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union
  {
    char buf[CMSG_SPACE(sizeof(int) * (TARS_MAX_LAYERS + 1))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (n > 0)
    {
      msg.msg_control = u.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * n);
      memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    }
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Receive one byte and up to MAX descriptors into FDS, the rest of FDS set to -1.  */
static int
recv_with_fds(int sock, int *fds, size_t max)
{
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union
  {
    char buf[CMSG_SPACE(sizeof(int) * (TARS_MAX_LAYERS + 1))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  for (size_t i = 0; i < max; i++)
    fds[i] = -1;
  ssize_t r;
  while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
    ;
  if (r != 1)
    return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(fds, CMSG_DATA(c), sizeof(int) * (n < max ? n : max));
      }
  return 0;
}

static int
enter_ids(const struct child_ctx *ctx, struct tars_error *err)
{
  /* Root's supplementary groups would still grant access to host files: drop them while the
   * outer process left setgroups allowed for us.  */
  if (ctx->root_caller && setgroups(0, NULL) < 0)
    return tars_error_set(err, errno, "setgroups");
  if (setresgid(0, 0, 0) < 0)
    return tars_error_set(err, errno, "setresgid 0");
  if (setresuid(0, 0, 0) < 0)
    return tars_error_set(err, errno, "setresuid 0");
  return 0;
}

/* Init's work after the ids are mapped.  Returns the report to send.  */
static void
init_main(struct child_ctx *ctx, struct report *rep)
{
  const struct tars_spec *spec = ctx->spec;
  struct tars_error *err = &rep->error;
  struct tars_mounts m = {.upper_dfd = -1};

  if (enter_ids(ctx, err) < 0)
    return;
  const char *hostname = spec->hostname ? spec->hostname : "tars";
  if (sethostname(hostname, strlen(hostname)) < 0)
    {
      tars_error_set(err, errno, "sethostname");
      return;
    }
  if (spec->net == TARS_NET_LOOPBACK && tars_net_loopback_up(err) < 0)
    return;
  struct tars_mount_plan plan = {.spec = spec, .home = ctx->home};
  memcpy(plan.idmapped, ctx->idmapped, sizeof plan.idmapped);
  if (tars_mounts_setup(&plan, &m, err) < 0)
    return;

  /* The outer process has placed us in the sandbox's cgroup by now (or found it cannot): it
   * becomes the cgroup namespace's root.  The time namespace applies to children only, which the
   * command is.  */
  char joined;
  if (read_all(ctx->sync_rd, &joined, 1) != 1)
    _exit(1);
  ctx->no_cgroup = joined == 'n';
  close(ctx->sync_rd);
  if (unshare(CLONE_NEWCGROUP) < 0)
    {
      tars_error_set(err, errno, "unshare the cgroup namespace");
      return;
    }
  if (unshare(CLONE_NEWTIME) < 0 && errno != EINVAL)
    {
      tars_error_set(err, errno, "unshare the time namespace");
      return;
    }

  int failpipe[2];
  if (pipe2(failpipe, O_CLOEXEC) < 0)
    {
      tars_error_set(err, errno, "pipe");
      return;
    }
  pid_t child = fork();
  if (child < 0)
    {
      tars_error_set(err, errno, "fork the command");
      return;
    }
  if (child == 0)
    {
      close(failpipe[0]);
      payload(ctx, failpipe[1]);
    }
  close(failpipe[1]);
  if (ctx->out_wr >= 0)
    {
      close(ctx->out_wr);
      close(ctx->err_wr);
    }

  struct exec_failure fail;
  ssize_t n = read_all(failpipe[0], &fail, sizeof fail);
  close(failpipe[0]);

  int status = 0;
  for (;;)
    {
      int st;
      pid_t p = waitpid(-1, &st, 0);
      if (p < 0 && errno == EINTR)
        continue;
      if (p < 0)
        break;
      if (p == child)
        {
          status = st;
          break;
        }
    }
  /* The command is done: whatever it left behind goes with it, before its changes are read.  */
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
    ;

  if (n == (ssize_t)sizeof fail)
    {
      if (fail.code == -1)
        {
          tars_error_set(err, 0, "%s", fail.msg);
          return;
        }
      rep->exec_failed = 1;
      snprintf(err->msg, sizeof err->msg, "%s", fail.msg);
    }
  rep->status = status;

  if (ctx->changes_fd >= 0 && m.upper_dfd >= 0 && !rep->exec_failed)
    {
      int code = WIFEXITED(status)     ? WEXITSTATUS(status)
                 : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                       : -1;
      if (tars_changes_capture(m.upper_dfd, m.lower_dfds, m.n_lowers, ctx->changes_fd,
                               spec->scratch_bytes, code, &rep->changes, &rep->rejected,
                               err) < 0)
        {
          tars_error_prefix(err, "capture the workspace's changes");
          return;
        }
    }
  rep->ok = 1;
}

static void __attribute__((noreturn)) init_process(struct child_ctx *ctx, pid_t outer)
{
  struct report rep = {0};
  /* Die with the caller, whatever kills it.  */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  (void)outer; /* getppid () is 0 here: the parent is outside the pid namespace.  If it died
                  before the line above, the read below sees end of file.  */
  if (recv_with_fds(ctx->sync_rd, ctx->idmapped, TARS_MAX_LAYERS + 1) < 0)
    _exit(1);
  /* Not dumpable: the command cannot open /proc/1/exe (the tars binary on the host's writable
   * mount), /proc/1/mem or /proc/1/root.  Only now: the outer process had to write our id maps,
   * and /proc/PID of a process that is not dumpable belongs to root.  */
  prctl(PR_SET_DUMPABLE, 0);
  init_main(ctx, &rep);
  write_all(ctx->report_wr, &rep, sizeof rep);
  _exit(0);
}

static int
write_file(const char *path, const char *content, struct tars_error *err)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s", path);
  ssize_t len = (ssize_t)strlen(content);
  ssize_t n = write(fd, content, (size_t)len);
  int saved = errno;
  close(fd);
  if (n != len)
    return tars_error_set(err, n < 0 ? saved : EIO, "write %s", path);
  return 0;
}

static int
write_id_maps(pid_t pid, uid_t uid, gid_t gid, bool root_caller, struct tars_error *err)
{
  char path[64], map[64];
  if (!root_caller)
    {
      snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
      if (write_file(path, "deny", err) < 0)
        return -1;
    }
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
  if (write_file(path, map, err) < 0)
    return -1;
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
  return write_file(path, map, err);
}

struct capture_buf
{
  int fd;
  char *data;
  size_t len, cap, max, dropped;
};

/* Read what is there; returns false at EOF.  */
static bool
capture_read(struct capture_buf *b)
{
  char tmp[16384];
  ssize_t n = read(b->fd, tmp, sizeof tmp);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    return false;
  size_t keep = (size_t)n;
  if (b->len + keep > b->max)
    keep = b->max > b->len ? b->max - b->len : 0;
  b->dropped += (size_t)n - keep;
  if (keep > 0)
    {
      if (b->len + keep + 1 > b->cap)
        {
          size_t ncap = b->cap ? b->cap * 2 : 65536;
          while (ncap < b->len + keep + 1)
            ncap *= 2;
          char *nd = realloc(b->data, ncap);
          if (nd == NULL)
            {
              b->dropped += keep;
              return true;
            }
          b->data = nd;
          b->cap = ncap;
        }
      memcpy(b->data + b->len, tmp, keep);
      b->len += keep;
      b->data[b->len] = '\0';
    }
  return true;
}

static uint64_t
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The caller's home directory, from the environment or the password database.  */
static const char *
caller_home(char *buf, size_t len)
{
  const char *h = getenv("HOME");
  if (h && h[0] == '/')
    return h;
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
    {
      snprintf(buf, len, "%s", pw->pw_dir);
      return buf;
    }
  return NULL;
}

static int
open_changes_out(const struct tars_spec *spec, uid_t uid, gid_t gid, bool root_caller,
                 struct tars_error *err)
{
  if (mkdir(spec->changes_out, 0755) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "create --changes-out %s", spec->changes_out);
  int fd = open(spec->changes_out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open --changes-out %s", spec->changes_out);
  /* The changeset is written from inside, as the mapped user.  */
  if (root_caller && uid != 0 && fchown(fd, uid, gid) < 0)
    {
      tars_error_set(err, errno, "chown --changes-out %s", spec->changes_out);
      close(fd);
      return -1;
    }
  return fd;
}

int
tars_sandbox_run(const struct tars_spec *spec, struct tars_result *result, struct tars_error *err)
{
  memset(result, 0, sizeof *result);
  if (tars_spec_validate(spec, err) < 0)
    return -1;

  bool root_caller = geteuid() == 0;
  uid_t map_uid = geteuid();
  gid_t map_gid = getegid();
  /* Real root maps the sandbox's root to an unprivileged user, so that it holds no more than
   * that user on host files: the workspace's owner (overlayfs must be able to copy its files up
   * with their owner), or nobody.  A root-owned workspace is given to nobody through idmapped
   * mounts of its layers, where its file system supports them; elsewhere root stays mapped, and
   * the read-only view and the masks are what protect the host.  */
  bool idmap = false;
  if (root_caller && spec->workspace)
    {
      struct stat st;
      if (stat(spec->workspace, &st) < 0)
        return tars_error_set(err, errno, "stat workspace %s", spec->workspace);
      map_uid = st.st_uid;
      map_gid = st.st_gid;
      if (map_uid == 0 && idmap_supported(spec))
        {
          idmap = true;
          map_uid = map_gid = 65534;
        }
    }
  else if (root_caller)
    map_uid = map_gid = 65534;
  char homebuf[4096];
  const char *home = caller_home(homebuf, sizeof homebuf);

  struct tars_cgroup cg = {0};
  int ret = -1;
  int sync[2] = {-1, -1}, rep[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
  int pidfd = -1, changes_fd = -1;
  pid_t pid = -1;
  struct capture_buf cout = {.fd = -1}, cerr = {.fd = -1};

  if (spec->changes_out)
    {
      changes_fd = open_changes_out(spec, map_uid, map_gid, root_caller, err);
      if (changes_fd < 0)
        goto out;
    }
  /* A socket, so that telling a dead child to go is EPIPE, not SIGPIPE.  */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0 || pipe2(rep, O_CLOEXEC) < 0)
    {
      tars_error_set(err, errno, "pipe");
      goto out;
    }
  if (spec->capture_output && (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0))
    {
      tars_error_set(err, errno, "pipe");
      goto out;
    }

  struct child_ctx ctx = {
      .spec = spec,
      .home = home,
      .root_caller = root_caller,
      .sync_rd = sync[0],
      .report_wr = rep[1],
      .out_wr = out[1],
      .err_wr = errp[1],
      .changes_fd = changes_fd,
  };
  pid_t outer = getpid();
  unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                        CLONE_NEWUTS | CLONE_PIDFD | SIGCHLD;
  uint64_t start = now_ms();
  pid = (pid_t)syscall(SYS_clone, flags, NULL, &pidfd, NULL, 0);
  if (pid < 0)
    {
      tars_error_set(err, errno, "clone the sandbox's namespaces");
      if (errno == EPERM || errno == ENOSPC || errno == EUSERS)
        tars_error_prefix(err,
                          "user namespaces are not available to uid %u (see "
                          "/proc/sys/user/max_user_namespaces and your distribution's "
                          "unprivileged user namespace setting)",
                          (unsigned)geteuid());
      goto out;
    }
  if (pid == 0)
    init_process(&ctx, outer);

  close(sync[0]);
  sync[0] = -1;
  close(rep[1]);
  rep[1] = -1;
  if (out[1] >= 0)
    {
      close(out[1]);
      close(errp[1]);
      out[1] = errp[1] = -1;
    }

  /* Two steps: the id maps let init build the filesystem view, and meanwhile the cgroup is made
   * and init placed in it, which must be done before init forks the command.  */
  int r = write_id_maps(pid, map_uid, map_gid, root_caller, err);
  int trees[TARS_MAX_LAYERS + 1];
  size_t n_trees = 0;
  if (r == 0 && idmap)
    r = idmapped_trees(spec, pid, trees, &n_trees, err);
  if (r == 0 && send_with_fds(sync[1], 'g', trees, n_trees) < 0)
    r = tars_error_set(err, errno, "start the sandbox's init");
  for (size_t i = 0; i < n_trees; i++)
    close(trees[i]);
  if (r == 0)
    r = tars_cgroup_create(&cg, spec, result->cgroup_note, sizeof result->cgroup_note, err);
  if (r == 0 && cg.active)
    r = tars_cgroup_attach(&cg, pid, err);
  if (r == 0 && send(sync[1], cg.active ? "c" : "n", 1, MSG_NOSIGNAL) != 1)
    r = tars_error_set(err, errno, "start the sandbox's init");
  /* Init builds the view while we make the cgroup: when that failed, init has ended and its
   * report says why, which is the error to give, not the broken pipe it left us.  */
  siginfo_t si = {0};
  if (r < 0 && waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
      si.si_pid != 0)
    r = 0;
  if (r < 0)
    {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      goto out;
    }
  result->cgroup_applied = cg.active;
  if (!cg.active && spec->as_bytes == UINT64_MAX && spec->memory_bytes != UINT64_MAX)
    {
      size_t n = strlen(result->cgroup_note);
      snprintf(result->cgroup_note + n, sizeof result->cgroup_note - n,
               "; the memory limit is applied as an address-space limit (RLIMIT_AS) instead");
    }
  close(sync[1]);
  sync[1] = -1;

  /* Wait for init to end, the timeout, and output.  */
  cout.fd = steal_fd(&out[0]);
  cout.max = spec->capture_max ? spec->capture_max : (1 << 20);
  cerr.fd = steal_fd(&errp[0]);
  cerr.max = cout.max;
  bool exited = false;
  uint64_t deadline =
      spec->timeout_ms && spec->timeout_ms != UINT64_MAX ? start + spec->timeout_ms : 0;
  while (!exited || cout.fd >= 0 || cerr.fd >= 0)
    {
      struct pollfd pfd[4];
      int nfds = 0;
      pfd[nfds++] = (struct pollfd){.fd = exited ? -1 : pidfd, .events = POLLIN};
      pfd[nfds++] = (struct pollfd){.fd = cout.fd, .events = POLLIN};
      pfd[nfds++] = (struct pollfd){.fd = cerr.fd, .events = POLLIN};
      pfd[nfds++] = (struct pollfd){.fd = exited || spec->cancel_fd <= 0 ? -1 : spec->cancel_fd,
                                    .events = POLLIN};
      int wait_ms = -1;
      if (deadline && !exited)
        {
          uint64_t now = now_ms();
          wait_ms = now >= deadline ? 0 : (int)(deadline - now);
        }
      int r = poll(pfd, (nfds_t)nfds, wait_ms);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          tars_error_set(err, errno, "poll");
          kill(pid, SIGKILL);
          waitpid(pid, NULL, 0);
          goto out;
        }
      if (r == 0 && !exited)
        {
          /* Killing init kills the whole pid namespace.  */
          result->timed_out = true;
          kill(pid, SIGKILL);
          exited = true;
          continue;
        }
      if (pfd[3].revents && !exited)
        {
          result->cancelled = true;
          kill(pid, SIGKILL);
          exited = true;
          continue;
        }
      if (pfd[0].revents)
        exited = true;
      for (int i = 1; i < 3; i++)
        if (pfd[i].revents)
          {
            struct capture_buf *b = i == 1 ? &cout : &cerr;
            if (!capture_read(b))
              {
                close(b->fd);
                b->fd = -1;
              }
          }
      if (exited && pfd[1].fd < 0 && pfd[2].fd < 0)
        break;
    }
  int wst;
  while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
    ;
  struct report report;
  ssize_t n = read_all(rep[0], &report, sizeof report);

  result->out = cout.data;
  result->out_len = cout.len;
  result->out_dropped = cout.dropped;
  result->err = cerr.data;
  result->err_len = cerr.len;
  result->err_dropped = cerr.dropped;
  cout.data = cerr.data = NULL;

  if (result->cancelled)
    {
      result->status = 130;
      result->signal = SIGKILL;
      ret = 0;
      goto out;
    }
  if (result->timed_out)
    {
      result->status = 124;
      result->signal = SIGKILL;
      ret = 0;
      goto out;
    }
  if (n != (ssize_t)sizeof report)
    {
      if (WIFSIGNALED(wst))
        tars_error_set(err, 0, "the sandbox's init was killed by signal %d", WTERMSIG(wst));
      else
        tars_error_set(err, 0, "the sandbox's init ended without a report");
      goto out;
    }
  if (!report.ok)
    {
      *err = report.error;
      goto out;
    }
  if (report.exec_failed)
    {
      result->exec_failed = true;
      snprintf(result->exec_error, sizeof result->exec_error, "%s", report.error.msg);
    }
  result->changes = report.changes;
  result->rejected = report.rejected;
  if (idmap && changes_fd >= 0 && give_back_changes(changes_fd, err) < 0)
    goto out;
  if (WIFEXITED(report.status))
    result->status = WEXITSTATUS(report.status);
  else if (WIFSIGNALED(report.status))
    {
      result->signal = WTERMSIG(report.status);
      result->status = 128 + result->signal;
    }
  ret = 0;

out:
  for (int *fd = (int[]){sync[0], sync[1], rep[0], rep[1], out[0], out[1], errp[0], errp[1], pidfd,
                         changes_fd, cout.fd, cerr.fd, -2};
       *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  free(cout.data);
  free(cerr.data);
  tars_cgroup_destroy(&cg);
  if (ret < 0)
    tars_result_free(result);
  return ret;
}

void
tars_result_free(struct tars_result *result)
{
  free(result->out);
  free(result->err);
  result->out = result->err = NULL;
}
