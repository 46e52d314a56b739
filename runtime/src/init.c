/* The sandbox's side: init (pid 1 of the new pid namespace) and the payload it forks.
 *
 *   init     in new user, mount, pid, network, ipc and uts namespaces: waits for its id maps,
 *            builds the view (mounts.c), enters its cgroup and time namespaces, forks the
 *            payload, reaps, kills what is left when the payload ends, captures the workspace's
 *            changes and reports to the outer process (sandbox.c);
 *   payload  the command: new session, its descriptors 0-2, rlimits, no capabilities,
 *            no_new_privs, seccomp, exec.
 *
 * Init is cloned from a single-threaded process only (sandbox.c forks a helper first when the
 * caller has threads), so it may allocate and use stdio like any forked child.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "mounts.h"
#include "tars/changes.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

extern char **environ;

static const char *const default_env[] = {
    "PATH=" TARS_SANDBOX_DEFAULT_PATH, "HOME=/tmp", "LANG=C.UTF-8", "TERM=dumb", NULL,
};

/* What the payload tells init when it cannot exec.  */
struct exec_failure
{
  int code;
  char msg[TARS_ERROR_MSG_MAX];
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

/* Receive one byte (into *BYTE) and up to MAX descriptors into FDS, the rest of FDS set to -1.  */
static int
recv_with_fds(int sock, char *byte, int *fds, size_t max)
{
  struct iovec iov = {.iov_base = byte, .iov_len = 1};
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

/* The command's descriptors 0-2 from CHILD->stdio (TARS_FD_KEEP: as inherited, TARS_FD_NULL:
 * /dev/null), and the failure pipe at 3; nothing else.  The sources are moved above 9 first, so
 * that no dup2 overwrites one still to be used.  */
static int
set_descriptors(const struct tars_child *child, int fail_fd)
{
  int src[3];
  for (int i = 0; i < 3; i++)
    {
      src[i] = child->stdio[i];
      if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
        return -1;
    }
  if ((fail_fd = fcntl(fail_fd, F_DUPFD_CLOEXEC, 10)) < 0)
    return -1;
  for (int i = 0; i < 3; i++)
    {
      if (src[i] == TARS_FD_NULL &&
          (src[i] = open("/dev/null", i == 0 ? O_RDONLY | O_CLOEXEC : O_WRONLY | O_CLOEXEC)) < 0)
        return -1;
      if (src[i] >= 0 && dup2(src[i], i) < 0)
        return -1;
    }
  if (dup3(fail_fd, 3, O_CLOEXEC) < 0)
    return -1;
  syscall(SYS_close_range, 4U, ~0U, 0U);
  return 0;
}

/* The payload: runs as uid 0 of the sandbox's user namespace until exec, then holds nothing.  */
static void __attribute__((noreturn)) payload(const struct tars_child *child, int fail_fd)
{
  const struct tars_spec *spec = child->spec;
  struct tars_error err = {0};
  struct exec_failure fail = {0};

  /* A new session: no controlling terminal to push input into (TIOCSTI), no signals from the
   * caller's terminal.  */
  setsid();
  if (set_descriptors(child, fail_fd) < 0)
    _exit(127);

  const char *cwd = spec->cwd ? spec->cwd : (spec->workspace ? spec->workspace : "/");
  if (chdir(cwd) < 0)
    {
      tars_error_set(&err, errno, "chdir %s", cwd);
      goto fail;
    }
  /* Without a cgroup, --memory can only be an address-space limit (it counts what is reserved,
   * not just what is used, so it is the cruder of the two).  */
  struct tars_spec limits = *spec;
  if (child->no_cgroup && limits.as_bytes == UINT64_MAX)
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

static int
enter_ids(const struct tars_child *child, struct tars_error *err)
{
  /* Root's supplementary groups would still grant access to host files: drop them while the
   * outer process left setgroups allowed for us.  */
  if (child->root_caller && setgroups(0, NULL) < 0)
    return tars_error_set(err, errno, "setgroups");
  if (setresgid(0, 0, 0) < 0)
    return tars_error_set(err, errno, "setresgid 0");
  if (setresuid(0, 0, 0) < 0)
    return tars_error_set(err, errno, "setresuid 0");
  return 0;
}

/* The capture walks a tree through descriptors, two or three per level: its depth limit
 * (changes.c) needs more than the caller's soft limit may allow.  */
static void
raise_nofile(void)
{
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max)
    {
      r.rlim_cur = r.rlim_max;
      setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* Init's work after the ids are mapped.  */
static void
init_main(struct tars_child *child, struct tars_report *rep)
{
  const struct tars_spec *spec = child->spec;
  struct tars_error *err = &rep->error;
  struct tars_mounts m = {.upper_dfd = -1};

  if (enter_ids(child, err) < 0)
    return;
  const char *hostname = spec->hostname ? spec->hostname : "tars";
  if (sethostname(hostname, strlen(hostname)) < 0)
    {
      tars_error_set(err, errno, "sethostname");
      return;
    }
  if (spec->net == TARS_NET_LOOPBACK && tars_net_loopback_up(err) < 0)
    return;
  struct tars_mount_plan plan = {.spec = spec, .view = child->view};
  memcpy(plan.idmapped, child->idmapped, sizeof plan.idmapped);
  if (tars_mounts_setup(&plan, &m, err) < 0)
    return;

  /* The outer process has placed us in the sandbox's cgroup by now (or found it cannot): it
   * becomes the cgroup namespace's root.  The time namespace applies to children only, which the
   * command is.  */
  char joined;
  int join[TARS_MAX_LAYERS + 1];
  if (recv_with_fds(child->sync_rd, &joined, join, TARS_MAX_LAYERS + 1) < 0)
    _exit(1);
  child->no_cgroup = joined == 'n';
  close(child->sync_rd);
  /* Descriptors of the cgroup's "tasks" files, when the outer process leaves the move to us (see
   * tars_cgroup_open_join).  */
  for (size_t i = 0; i < TARS_MAX_LAYERS + 1 && join[i] >= 0; i++)
    {
      ssize_t w = write(join[i], "0", 1);
      int e = errno;
      close(join[i]);
      if (w != 1)
        {
          tars_error_set(err, w < 0 ? e : EIO, "join the sandbox's cgroup");
          return;
        }
    }
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
  /* vfork: the command borrows init's memory until it execs, instead of a copy of its page tables
   * that exec throws away at once (half a millisecond of every start).  payload never returns,
   * and what it changes in that memory (environ, libcap's allocations) init does not use.  */
  pid_t cmd = vfork();
  if (cmd < 0)
    {
      tars_error_set(err, errno, "fork the command");
      return;
    }
  if (cmd == 0)
    {
      close(failpipe[0]);
      payload(child, failpipe[1]);
    }
  close(failpipe[1]);
  for (int i = 0; i < 3; i++)
    if (child->stdio[i] >= 0)
      close(child->stdio[i]);

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
      if (p == cmd)
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

  if (child->changes_fd >= 0 && m.upper_dfd >= 0 && !rep->exec_failed)
    {
      int code = WIFEXITED(status)     ? WEXITSTATUS(status)
                 : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                       : -1;
      raise_nofile();
      if (tars_changes_capture(m.upper_dfd, m.lower_dfds, m.n_lowers, child->changes_fd,
                               spec->scratch_bytes, code, &rep->changes, &rep->rejected, err) < 0)
        {
          tars_error_prefix(err, "capture the workspace's changes");
          return;
        }
    }
  rep->ok = 1;
}

static int
cmp_int(const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}

/* Close every descriptor init inherited but its own and the caller's 0-2: a caller running
 * several sandboxes holds the ends of the others' pipes, and an end held here would keep the
 * reader there from ever seeing end of file.  */
static void
close_inherited(const struct tars_child *child)
{
  int keep[8] = {2,
                 child->sync_rd,
                 child->report_wr,
                 child->changes_fd,
                 child->stdio[0],
                 child->stdio[1],
                 child->stdio[2],
                 -1};
  qsort(keep, 8, sizeof keep[0], cmp_int);
  unsigned next = 3;
  for (int i = 0; i < 8; i++)
    {
      if (keep[i] < (int)next)
        continue;
      if ((unsigned)keep[i] > next)
        syscall(SYS_close_range, next, (unsigned)keep[i] - 1, 0U);
      next = (unsigned)keep[i] + 1;
    }
  syscall(SYS_close_range, next, ~0U, 0U);
}

void
tars_init_process(struct tars_child *child)
{
  struct tars_report rep = {0};
  close_inherited(child);
  /* Die with the caller, whatever kills it.  If it died before this line, the read below sees
   * end of file.  */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  char go;
  if (recv_with_fds(child->sync_rd, &go, child->idmapped, TARS_MAX_LAYERS + 1) < 0)
    _exit(1);
  /* Not dumpable: the command cannot open /proc/1/exe (the tars binary on the host's writable
   * mount), /proc/1/mem or /proc/1/root.  Only now: the outer process had to write our id maps,
   * and /proc/PID of a process that is not dumpable belongs to root.  */
  prctl(PR_SET_DUMPABLE, 0);
  init_main(child, &rep);
  write_all(child->report_wr, &rep, sizeof rep);
  _exit(0);
}
