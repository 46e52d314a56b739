/* Running a command in a sandbox: the outer process's side (init.c has the sandbox's).
 *
 * Three processes, as in bubblewrap:
 *   outer   the caller: builds the view (view.c), writes the child's id maps, places it in its
 *           cgroup, enforces the timeout and the CPU time, relays or collects output, reports;
 *   init    pid 1 of the new pid namespace, in new user, mount, net, ipc and uts namespaces: builds
 *           the filesystem view, forks the payload, reaps, kills what is left when the payload
 *           ends, captures the workspace's changes and reports;
 *   payload the command: new session, rlimits, no capabilities, no_new_privs, seccomp, exec.
 *
 * Killing init kills the whole pid namespace, which is how a timeout, a cancel or the CPU limit
 * ends everything at once.  A started sandbox is a handle whose one descriptor (an epoll) an
 * event loop watches; tars_sandbox_run is start, its own loop, finish.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "tars/changes.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"
#include "view.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* What the epoll descriptor's events are about.  */
enum tag
{
  TAG_PID = 1,
  TAG_OUT,
  TAG_ERR,
  TAG_IN_SRC,
  TAG_IN_WR,
  TAG_CANCEL,
  TAG_TIMER,
};

/* The command's stdout or stderr: collected (capture_output) or copied to the caller's.  */
struct stream
{
  int rd;   /* our read end, non-blocking; -1 once at end of file */
  int dest; /* the caller's descriptor to copy to, or -1 to collect */
  bool dest_failed;
  char *data;
  size_t len, cap, max, dropped;
};

/* The caller's stdin fed into a pipe (TARS_STDIO_PIPE with a regular file or a device).  */
struct feed
{
  int wr;        /* the pipe's write end, non-blocking; -1 when done */
  bool pollable; /* descriptor 0 can be watched (a regular file cannot: it is always readable) */
  bool eof;
  unsigned interest_src, interest_wr; /* what epoll watches now */
  size_t len, off;
  char buf[16384];
};

struct tars_sandbox
{
  pid_t pid;
  int pidfd;
  pid_t helper;  /* the single-threaded helper that cloned init, or 0 */
  int helper_rd; /* its pipe: init's pid, then init's wait status */
  int epfd, timerfd;
  int rep_rd, changes_fd;
  int cancel_fd;
  struct tars_cgroup cg;
  struct tars_idmap idmap;
  struct tars_limits limits;
  struct stream out[2];
  struct feed in;
  bool feeding;
  bool exited, done, killed, timed_out, cancelled, cpu_exceeded;
  uint64_t deadline_ms;  /* the timeout's, or 0 */
  uint64_t next_cpu_ms;  /* the next look at the cgroup's CPU time, or 0 */
  uint64_t cpu_limit_ns; /* 0: not checked */
  uint64_t armed_ms;     /* what the timer is set to */
  bool failed;           /* process met an error: ERROR says which */
  struct tars_error error;
};

static uint64_t
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

/* Write all of BUF to the caller's FD without letting a closed reader raise SIGPIPE in the
 * caller: the signal is blocked for the call, and one it caused is taken back.  Returns false
 * when FD cannot take more.  */
static bool
write_nosigpipe(int fd, const char *buf, size_t len)
{
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE);
  bool ok = true;
  while (len > 0)
    {
      ssize_t n = write(fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd p = {.fd = fd, .events = POLLOUT};
          poll(&p, 1, -1);
          continue;
        }
      if (n <= 0)
        {
          if (n < 0 && errno == EPIPE && !was_pending)
            {
              const struct timespec zero = {0, 0};
              sigtimedwait(&pipe_set, NULL, &zero);
            }
          ok = false;
          break;
        }
      buf += n;
      len -= (size_t)n;
    }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return ok;
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

/* The caller's home directories: $HOME and the password database's (either may be set to
 * something else than the other: both are hidden).  */
static void
caller_homes(char bufs[2][4096], const char *homes[2])
{
  homes[0] = homes[1] = NULL;
  const char *h = getenv("HOME");
  if (h && h[0] == '/' && strlen(h) < 4096)
    {
      snprintf(bufs[0], 4096, "%s", h);
      homes[0] = bufs[0];
    }
  /* /etc/passwd first, without NSS's configuration and daemons (a fifth of a start-up's time
   * before the clone); the other databases only for a user it does not list.  */
  uid_t uid = getuid();
  struct passwd *pw = NULL;
  cleanup_fclose FILE *f = fopen("/etc/passwd", "re");
  while (f && (pw = fgetpwent(f)) != NULL && pw->pw_uid != uid)
    ;
  if (pw == NULL)
    pw = getpwuid(uid);
  if (pw && pw->pw_dir && pw->pw_dir[0] == '/' && strlen(pw->pw_dir) < 4096)
    {
      snprintf(bufs[1], 4096, "%s", pw->pw_dir);
      homes[1] = bufs[1];
    }
}

/* /proc/self/mountinfo, whole, NUL-terminated (malloc'd), or NULL.  */
static char *
read_mountinfo(void)
{
  cleanup_close int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap);
  while (buf)
    {
      ssize_t n = read(fd, buf + len, cap - len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (size_t)n;
      if (cap - len < 4096)
        {
          char *nb = realloc(buf, cap * 2);
          if (nb == NULL)
            break;
          buf = nb;
          cap *= 2;
        }
    }
  if (buf)
    buf[len] = '\0';
  return buf;
}

static int
open_changes_out(const struct tars_spec *spec, const struct tars_idmap *map, struct tars_error *err)
{
  if (mkdir(spec->changes_out, 0755) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "create --changes-out %s", spec->changes_out);
  int fd = open(spec->changes_out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open --changes-out %s", spec->changes_out);
  /* The changeset is written from inside, as the mapped user.  */
  if (map->root_caller && map->uid != 0 && fchown(fd, map->uid, map->gid) < 0)
    {
      tars_error_set(err, errno, "chown --changes-out %s", spec->changes_out);
      close(fd);
      return -1;
    }
  return fd;
}

/* Threads of the calling process: /proc/self/task has one link per thread besides "." and "..".
 */
static long
thread_count(void)
{
  struct stat st;
  if (stat("/proc/self/task", &st) < 0)
    return -1;
  return (long)st.st_nlink - 2;
}

/* A pipe whose ends are above 2, so that no end is mistaken for a standard descriptor when the
 * caller has one of them closed.  */
static int
pipe_high(int p[2], struct tars_error *err)
{
  if (pipe2(p, O_CLOEXEC) < 0)
    return tars_error_set(err, errno, "pipe");
  for (int i = 0; i < 2; i++)
    if (p[i] < 3)
      {
        int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
          return tars_error_set(err, errno, "dup a pipe");
        close(p[i]);
        p[i] = fd;
      }
  return 0;
}

static void
close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

static int
set_nonblock(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
watch(struct tars_sandbox *sb, int op, int fd, enum tag tag, unsigned events)
{
  struct epoll_event ev = {.events = events, .data.u32 = tag};
  return epoll_ctl(sb->epfd, op, fd, &ev);
}

static void
unwatch(struct tars_sandbox *sb, int fd)
{
  if (fd >= 0)
    epoll_ctl(sb->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void
kill_init(struct tars_sandbox *sb)
{
  if (sb->exited || sb->killed)
    return;
  sb->killed = true;
  if (syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0) < 0 && errno == ENOSYS)
    kill(sb->pid, SIGKILL);
}

/* The clone of init.  With other threads in the caller, a raw clone would copy locks they hold
 * (malloc's, stdio's) into init for ever: a helper forked through the C library (which resets
 * them) clones init instead, reports its pid and, when it ends, its wait status.  */
static int
clone_init(struct tars_sandbox *sb, struct tars_child *child, struct tars_error *err)
{
  unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                        CLONE_NEWUTS | SIGCHLD;
  long threads = thread_count();
  if (threads == 1)
    {
      pid_t pid = (pid_t)syscall(SYS_clone, flags | CLONE_PIDFD, NULL, &sb->pidfd, NULL, 0);
      if (pid == 0)
        tars_init_process(child);
      if (pid < 0)
        return -1;
      sb->pid = pid;
      return 0;
    }

  int p[2];
  if (pipe_high(p, err) < 0)
    return -2;
  pid_t helper = fork();
  if (helper < 0)
    {
      close(p[0]);
      close(p[1]);
      return -1;
    }
  if (helper == 0)
    {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(p[0]);
      pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
      if (pid == 0)
        {
          close(p[1]);
          tars_init_process(child);
        }
      int e = errno;
      if (pid < 0)
        {
          int neg = -e;
          (void)!write(p[1], &neg, sizeof neg);
          _exit(1);
        }
      (void)!write(p[1], &pid, sizeof pid);
      /* Nothing of the caller's is ours to hold: init's pipes must see their ends close.  */
      if (p[1] > 3)
        syscall(SYS_close_range, 3U, (unsigned)p[1] - 1, 0U);
      syscall(SYS_close_range, (unsigned)p[1] + 1, ~0U, 0U);
      int st = 0;
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
      (void)!write(p[1], &st, sizeof st);
      _exit(0);
    }
  close(p[1]);
  sb->helper = helper;
  sb->helper_rd = p[0];
  int got;
  if (read_all(p[0], &got, sizeof got) != (ssize_t)sizeof got)
    {
      errno = EIO;
      return -1;
    }
  if (got < 0)
    {
      errno = -got;
      return -1;
    }
  sb->pid = got;
  sb->pidfd = (int)syscall(SYS_pidfd_open, sb->pid, 0);
  if (sb->pidfd < 0)
    return tars_error_set(err, errno, "pidfd_open the sandbox's init"), -2;
  fcntl(sb->pidfd, F_SETFD, FD_CLOEXEC);
  return 0;
}

static void
describe_limits(struct tars_sandbox *sb, const struct tars_spec *spec)
{
  struct tars_limits *l = &sb->limits;
  bool cg = sb->cg.active;
  l->cgroup = cg;
  l->memory = spec->memory_bytes == UINT64_MAX ? TARS_LIMIT_UNLIMITED
              : cg                             ? TARS_LIMIT_SANDBOX
                                               : TARS_LIMIT_PROCESS;
  l->cpu = spec->cpu_seconds == UINT64_MAX ? TARS_LIMIT_UNLIMITED
           : cg && sb->cg.cpu_usage[0]     ? TARS_LIMIT_SANDBOX
                                           : TARS_LIMIT_PROCESS;
  /* RLIMIT_NPROC counts the processes of a user in a user namespace: the sandbox's, in total.  */
  l->pids = spec->pids == UINT64_MAX ? TARS_LIMIT_UNLIMITED : TARS_LIMIT_SANDBOX;
}

/* Free everything of SB (its processes are gone or killed).  */
static void
sandbox_free(struct tars_sandbox *sb)
{
  if (sb == NULL)
    return;
  for (int i = 0; i < 2; i++)
    {
      close_fd(&sb->out[i].rd);
      free(sb->out[i].data);
    }
  close_fd(&sb->in.wr);
  int *fds[] = {&sb->pidfd, &sb->helper_rd, &sb->epfd, &sb->timerfd, &sb->rep_rd, &sb->changes_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    close_fd(fds[i]);
  tars_cgroup_destroy(&sb->cg);
  free(sb);
}

/* Kill and reap what start made, when start fails half-way.  */
static void
abort_start(struct tars_sandbox *sb)
{
  if (sb->pid > 0)
    {
      kill(sb->pid, SIGKILL);
      if (sb->helper > 0)
        waitpid(sb->helper, NULL, 0);
      else
        waitpid(sb->pid, NULL, 0);
    }
  sandbox_free(sb);
}

static void
arm_timer(struct tars_sandbox *sb)
{
  uint64_t next = 0;
  if (!sb->exited)
    {
      if (sb->deadline_ms)
        next = sb->deadline_ms;
      if (sb->next_cpu_ms && (next == 0 || sb->next_cpu_ms < next))
        next = sb->next_cpu_ms;
    }
  if (next == sb->armed_ms)
    return;
  sb->armed_ms = next;
  struct itimerspec its = {0};
  its.it_value.tv_sec = (time_t)(next / 1000);
  its.it_value.tv_nsec = (long)(next % 1000) * 1000000;
  timerfd_settime(sb->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int
sandbox_start(const struct tars_spec *spec, struct tars_sandbox *sb, struct tars_error *err)
{
  enum tars_stdio_use use[3] = {TARS_STDIO_PASS, TARS_STDIO_PASS, TARS_STDIO_PASS};
  if (!spec->capture_output && tars_stdio_plan(spec->stdio, use, err) < 0)
    return -1;
  char home_bufs[2][4096];
  struct tars_view_host host = {{NULL, NULL}, NULL};
  caller_homes(home_bufs, host.homes);
  cleanup_free char *mountinfo = read_mountinfo();
  host.mountinfo = mountinfo;
  struct tars_view view;
  if (tars_view_build(spec, &host, &view, err) < 0)
    return -1;
  int ret = -1;
  int sync[2] = {-1, -1}, rep[2] = {-1, -1}, outp[2][2] = {{-1, -1}, {-1, -1}};
  int inp[2] = {-1, -1};
  /* After the view: a workspace it refuses is not scanned.  */
  if (tars_idmap_plan(spec, &sb->idmap, err) < 0)
    goto out;

  if (spec->changes_out && (sb->changes_fd = open_changes_out(spec, &sb->idmap, err)) < 0)
    goto out;
  /* A socket, so that telling a dead child to go is EPIPE, not SIGPIPE.  */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0)
    {
      tars_error_set(err, errno, "socketpair");
      goto out;
    }
  if (pipe_high(rep, err) < 0)
    goto out;

  struct tars_child child = {
      .spec = spec,
      .view = &view,
      .root_caller = sb->idmap.root_caller,
      .sync_rd = sync[0],
      .report_wr = rep[1],
      .stdio = {TARS_FD_KEEP, TARS_FD_KEEP, TARS_FD_KEEP},
      .changes_fd = sb->changes_fd,
  };
  for (int i = 0; i < 2; i++)
    {
      bool collect = spec->capture_output;
      if (!collect && use[i + 1] == TARS_STDIO_NULL)
        child.stdio[i + 1] = TARS_FD_NULL;
      if (!collect && use[i + 1] != TARS_STDIO_RELAY)
        continue;
      if (pipe_high(outp[i], err) < 0 || set_nonblock(outp[i][0]) < 0)
        goto out;
      child.stdio[i + 1] = outp[i][1];
      sb->out[i].dest = collect ? -1 : i + 1;
      sb->out[i].max = spec->capture_max ? spec->capture_max : (1 << 20);
    }
  if (spec->capture_output || use[0] == TARS_STDIO_NULL)
    child.stdio[0] = TARS_FD_NULL;
  else if (use[0] == TARS_STDIO_RELAY)
    {
      if (pipe_high(inp, err) < 0 || set_nonblock(inp[1]) < 0)
        goto out;
      child.stdio[0] = inp[0];
      sb->feeding = true;
    }

  uint64_t start = now_ms();
  int r = clone_init(sb, &child, err);
  if (r < 0)
    {
      if (r == -1)
        {
          tars_error_set(err, errno, "clone the sandbox's namespaces");
          if (errno == EPERM || errno == ENOSPC || errno == EUSERS)
            tars_error_prefix(err,
                              "user namespaces are not available to uid %u (see "
                              "/proc/sys/user/max_user_namespaces and your distribution's "
                              "unprivileged user namespace setting)",
                              (unsigned)geteuid());
        }
      goto out;
    }
  close_fd(&sync[0]);
  close_fd(&rep[1]);
  close_fd(&inp[0]);
  for (int i = 0; i < 2; i++)
    {
      close_fd(&outp[i][1]);
      sb->out[i].rd = outp[i][0];
      outp[i][0] = -1;
    }
  sb->in.wr = inp[1];
  inp[1] = -1;
  sb->rep_rd = rep[0];
  rep[0] = -1;

  /* Two steps: the id maps let init build the filesystem view, and meanwhile the cgroup is made
   * and init placed in it, which must be done before init forks the command.  */
  r = tars_idmap_write(&sb->idmap, sb->pid, err);
  int trees[TARS_MAX_LAYERS + 1];
  size_t n_trees = 0;
  if (r == 0 && sb->idmap.idmap_layers)
    r = tars_idmap_trees(spec, sb->pid, trees, &n_trees, err);
  if (r == 0 && send_with_fds(sync[1], 'g', trees, n_trees) < 0)
    r = tars_error_set(err, errno, "start the sandbox's init");
  for (size_t i = 0; i < n_trees; i++)
    close(trees[i]);
  char note[sizeof sb->limits.note];
  if (r == 0)
    r = tars_cgroup_create(&sb->cg, spec, note, sizeof note, err);
  int join[4];
  size_t n_join = 0;
  if (r == 0)
    r = tars_cgroup_open_join(&sb->cg, join, &n_join, err);
  if (r == 0 && sb->cg.active && n_join == 0)
    r = tars_cgroup_attach(&sb->cg, sb->pid, err);
  if (r == 0 && send_with_fds(sync[1], sb->cg.active ? 'c' : 'n', join, n_join) < 0)
    r = tars_error_set(err, errno, "start the sandbox's init");
  for (size_t i = 0; i < n_join; i++)
    close(join[i]);
  /* Init builds the view while we make the cgroup: when that failed, init has ended and its
   * report says why, which is the error to give, not the broken pipe it left us.  */
  if (r < 0)
    {
      struct pollfd p = {.fd = sb->pidfd, .events = POLLIN};
      if (poll(&p, 1, 0) == 1)
        r = 0;
    }
  if (r < 0)
    goto out;
  describe_limits(sb, spec);
  if (!sb->cg.active)
    {
      /* Without a cgroup, say what the limits still are.  */
      size_t n = (size_t)snprintf(sb->limits.note, sizeof sb->limits.note, "%s", note);
      if (n < sizeof sb->limits.note &&
          (sb->limits.memory == TARS_LIMIT_PROCESS || sb->limits.cpu == TARS_LIMIT_PROCESS))
        snprintf(sb->limits.note + n, sizeof sb->limits.note - n,
                 "; so --memory (RLIMIT_AS) and --cpu-seconds (RLIMIT_CPU) bind each process, "
                 "not the sandbox: each of its processes may use that much, and memfd and "
                 "tmpfs pages are not counted; --pids is a total");
    }

  /* The loop's descriptors.  */
  sb->epfd = epoll_create1(EPOLL_CLOEXEC);
  sb->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (sb->epfd < 0 || sb->timerfd < 0 || watch(sb, EPOLL_CTL_ADD, sb->pidfd, TAG_PID, EPOLLIN) ||
      watch(sb, EPOLL_CTL_ADD, sb->timerfd, TAG_TIMER, EPOLLIN) < 0)
    {
      tars_error_set(err, errno, "epoll");
      goto out;
    }
  for (int i = 0; i < 2; i++)
    if (sb->out[i].rd >= 0 &&
        watch(sb, EPOLL_CTL_ADD, sb->out[i].rd, i == 0 ? TAG_OUT : TAG_ERR, EPOLLIN) < 0)
      {
        tars_error_set(err, errno, "epoll");
        goto out;
      }
  if (spec->cancel_fd > 0)
    {
      sb->cancel_fd = spec->cancel_fd;
      if (watch(sb, EPOLL_CTL_ADD, sb->cancel_fd, TAG_CANCEL, EPOLLIN) < 0)
        {
          tars_error_set(err, errno, "epoll the cancel descriptor %d", sb->cancel_fd);
          goto out;
        }
    }
  if (sb->feeding)
    {
      sb->in.pollable = watch(sb, EPOLL_CTL_ADD, 0, TAG_IN_SRC, EPOLLIN) == 0;
      sb->in.interest_src = sb->in.pollable ? EPOLLIN : 0;
      sb->in.interest_wr = sb->in.pollable ? 0 : EPOLLOUT;
      if (watch(sb, EPOLL_CTL_ADD, sb->in.wr, TAG_IN_WR, sb->in.interest_wr) < 0)
        {
          tars_error_set(err, errno, "epoll");
          goto out;
        }
    }
  if (spec->timeout_ms && spec->timeout_ms != UINT64_MAX)
    sb->deadline_ms = start + spec->timeout_ms;
  if (sb->limits.cpu == TARS_LIMIT_SANDBOX)
    {
      sb->cpu_limit_ns = spec->cpu_seconds * 1000000000ULL;
      sb->next_cpu_ms = now_ms() + 50;
    }
  arm_timer(sb);
  ret = 0;

out:
  for (int *fd = (int[]){sync[0], sync[1], rep[0], rep[1], inp[0], inp[1], outp[0][0], outp[0][1],
                         outp[1][0], outp[1][1], -2};
       *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  tars_view_free(&view);
  return ret;
}

int
tars_sandbox_start(const struct tars_spec *spec, struct tars_sandbox **sbp, struct tars_error *err)
{
  *sbp = NULL;
  if (tars_spec_validate(spec, err) < 0)
    return -1;
  struct tars_sandbox *sb = calloc(1, sizeof *sb);
  if (sb == NULL)
    return tars_error_set(err, ENOMEM, "sandbox");
  int *fds[] = {&sb->pidfd,      &sb->helper_rd, &sb->epfd,      &sb->timerfd, &sb->rep_rd,
                &sb->changes_fd, &sb->out[0].rd, &sb->out[1].rd, &sb->in.wr};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    *fds[i] = -1;
  sb->out[0].dest = sb->out[1].dest = -1;
  if (sandbox_start(spec, sb, err) < 0)
    {
      abort_start(sb);
      return -1;
    }
  *sbp = sb;
  return 0;
}

int
tars_sandbox_fd(const struct tars_sandbox *sb)
{
  return sb->epfd;
}

pid_t
tars_sandbox_pid(const struct tars_sandbox *sb)
{
  return sb->pid;
}

int
tars_sandbox_pidfd(const struct tars_sandbox *sb)
{
  return sb->pidfd;
}

uint64_t
tars_sandbox_deadline(const struct tars_sandbox *sb)
{
  return sb->armed_ms;
}

const struct tars_limits *
tars_sandbox_limits(const struct tars_sandbox *sb)
{
  return &sb->limits;
}

void
tars_sandbox_kill(struct tars_sandbox *sb)
{
  if (sb->exited || sb->killed)
    return;
  sb->cancelled = true;
  kill_init(sb);
}

/* Read what a stream has; at end of file, stop watching it.  */
static void
drain(struct tars_sandbox *sb, struct stream *s)
{
  char tmp[65536];
  for (int rounds = 0; rounds < 16 && s->rd >= 0; rounds++)
    {
      ssize_t n = read(s->rd, tmp, sizeof tmp);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          unwatch(sb, s->rd);
          close_fd(&s->rd);
          return;
        }
      if (s->dest >= 0)
        {
          /* A caller's descriptor that takes no more: the rest is dropped, and still read, so
           * that the command never blocks on it.  */
          if (!s->dest_failed && !write_nosigpipe(s->dest, tmp, (size_t)n))
            s->dest_failed = true;
          continue;
        }
      size_t keep = (size_t)n;
      if (s->len + keep > s->max)
        keep = s->max > s->len ? s->max - s->len : 0;
      s->dropped += (size_t)n - keep;
      if (keep == 0)
        continue;
      if (s->len + keep + 1 > s->cap)
        {
          size_t ncap = s->cap ? s->cap * 2 : 65536;
          while (ncap < s->len + keep + 1)
            ncap *= 2;
          char *nd = realloc(s->data, ncap);
          if (nd == NULL)
            {
              s->dropped += keep;
              continue;
            }
          s->data = nd;
          s->cap = ncap;
        }
      memcpy(s->data + s->len, tmp, keep);
      s->len += keep;
      s->data[s->len] = '\0';
    }
}

static void
feed_stop(struct tars_sandbox *sb)
{
  if (!sb->feeding)
    return;
  sb->feeding = false;
  if (sb->in.pollable)
    unwatch(sb, 0);
  unwatch(sb, sb->in.wr);
  close_fd(&sb->in.wr);
}

/* Move the caller's stdin into the command's pipe as far as both allow, then watch for what
 * lets it go on: stdin readable (an empty buffer) or the pipe writable (a full one, or stdin a
 * regular file, which is always readable).  */
static void
feed(struct tars_sandbox *sb, bool src_ready)
{
  struct feed *f = &sb->in;
  for (;;)
    {
      if (f->off == f->len)
        {
          f->off = f->len = 0;
          if (f->eof)
            {
              feed_stop(sb);
              return;
            }
          if (f->pollable && !src_ready)
            break;
          ssize_t n = read(0, f->buf, sizeof f->buf);
          if (n < 0 && (errno == EINTR || errno == EAGAIN))
            break;
          if (n <= 0)
            {
              f->eof = true;
              continue;
            }
          f->len = (size_t)n;
          src_ready = false;
        }
      ssize_t n = write(f->wr, f->buf + f->off, f->len - f->off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        {
          /* The command closed its stdin.  */
          feed_stop(sb);
          return;
        }
      f->off += (size_t)n;
    }
  unsigned want_src = f->pollable && f->off == f->len ? EPOLLIN : 0;
  unsigned want_wr = f->off < f->len || !f->pollable ? EPOLLOUT : 0;
  if (f->pollable && want_src != f->interest_src)
    watch(sb, EPOLL_CTL_MOD, 0, TAG_IN_SRC, want_src);
  if (want_wr != f->interest_wr)
    watch(sb, EPOLL_CTL_MOD, f->wr, TAG_IN_WR, want_wr);
  f->interest_src = want_src;
  f->interest_wr = want_wr;
}

/* The timeout and the cgroup's CPU time.  */
static void
check_deadlines(struct tars_sandbox *sb)
{
  if (sb->exited || sb->killed)
    return;
  uint64_t now = now_ms();
  if (sb->deadline_ms && now >= sb->deadline_ms)
    {
      sb->timed_out = true;
      kill_init(sb);
      return;
    }
  if (sb->next_cpu_ms && now >= sb->next_cpu_ms)
    {
      uint64_t used = 0;
      struct tars_error ignored;
      if (tars_cgroup_cpu_ns(&sb->cg, &used, &ignored) < 0)
        {
          sb->next_cpu_ms = now + 1000;
          return;
        }
      if (used >= sb->cpu_limit_ns)
        {
          sb->cpu_exceeded = true;
          kill_init(sb);
          return;
        }
      /* Not before the limit could be reached with every CPU busy, between 20 ms and 1 s.  */
      static long cpus;
      if (cpus <= 0)
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
      uint64_t wait = (sb->cpu_limit_ns - used) / 1000000 / (uint64_t)(cpus > 0 ? cpus : 1);
      sb->next_cpu_ms = now + (wait < 20 ? 20 : wait > 1000 ? 1000 : wait);
    }
}

int
tars_sandbox_process(struct tars_sandbox *sb, struct tars_error *err)
{
  if (sb->done)
    return 1;
  struct epoll_event ev[8];
  int n = epoll_wait(sb->epfd, ev, 8, 0);
  if (n < 0 && errno != EINTR)
    {
      tars_error_set(err, errno, "epoll_wait");
      sb->failed = true;
      sb->error = *err;
      kill_init(sb);
      return -1;
    }
  bool src_ready = false, wr_ready = false;
  for (int i = 0; i < n; i++)
    switch ((enum tag)ev[i].data.u32)
      {
      case TAG_PID:
        sb->exited = true;
        unwatch(sb, sb->pidfd);
        break;
      case TAG_OUT:
        drain(sb, &sb->out[0]);
        break;
      case TAG_ERR:
        drain(sb, &sb->out[1]);
        break;
      case TAG_IN_SRC:
        src_ready = true;
        break;
      case TAG_IN_WR:
        wr_ready = true;
        break;
      case TAG_CANCEL:
        unwatch(sb, sb->cancel_fd);
        if (!sb->exited && !sb->killed)
          {
            sb->cancelled = true;
            kill_init(sb);
          }
        break;
      case TAG_TIMER:
        {
          uint64_t ticks;
          (void)!read(sb->timerfd, &ticks, sizeof ticks);
          sb->armed_ms = 0;
        }
        break;
      }
  if (sb->feeding && (src_ready || wr_ready))
    feed(sb, src_ready);
  check_deadlines(sb);
  if (sb->exited)
    {
      feed_stop(sb);
      /* What is left in the pipes is there to read now: init and the command are gone.  */
      drain(sb, &sb->out[0]);
      drain(sb, &sb->out[1]);
    }
  arm_timer(sb);
  if (sb->exited && sb->out[0].rd < 0 && sb->out[1].rd < 0)
    sb->done = true;
  if (sb->failed)
    {
      *err = sb->error;
      return -1;
    }
  return sb->done ? 1 : 0;
}

static void
wait_done(struct tars_sandbox *sb)
{
  struct tars_error ignored;
  while (!sb->done)
    {
      struct pollfd p = {.fd = sb->epfd, .events = POLLIN};
      if (poll(&p, 1, -1) < 0 && errno != EINTR)
        {
          /* No way to wait: the sandbox goes, and its end is read below.  */
          kill_init(sb);
          sb->exited = true;
        }
      tars_sandbox_process(sb, &ignored);
      if (sb->exited && !sb->done)
        {
          /* Nothing but output is left: take it as it comes, blocking.  */
          for (int i = 0; i < 2; i++)
            if (sb->out[i].rd >= 0)
              {
                int fl = fcntl(sb->out[i].rd, F_GETFL);
                fcntl(sb->out[i].rd, F_SETFL, fl & ~O_NONBLOCK);
              }
        }
    }
}

int
tars_sandbox_finish(struct tars_sandbox *sb, struct tars_result *result, struct tars_error *err)
{
  memset(result, 0, sizeof *result);
  int ret = -1;
  wait_done(sb);

  int wst = 0;
  if (sb->helper > 0)
    {
      while (waitpid(sb->helper, NULL, 0) < 0 && errno == EINTR)
        ;
      if (read_all(sb->helper_rd, &wst, sizeof wst) != (ssize_t)sizeof wst)
        wst = 0;
    }
  else
    {
      siginfo_t si = {0};
      while (waitid(P_PIDFD, (id_t)sb->pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
      wst = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status & 0x7f;
    }
  struct tars_report report;
  ssize_t n = read_all(sb->rep_rd, &report, sizeof report);

  result->out = sb->out[0].data;
  result->out_len = sb->out[0].len;
  result->out_dropped = sb->out[0].dropped;
  result->err = sb->out[1].data;
  result->err_len = sb->out[1].len;
  result->err_dropped = sb->out[1].dropped;
  sb->out[0].data = sb->out[1].data = NULL;
  result->cgroup_applied = sb->cg.active;
  snprintf(result->cgroup_note, sizeof result->cgroup_note, "%s", sb->limits.note);

  if (sb->failed)
    {
      *err = sb->error;
      goto out;
    }
  if (sb->cancelled || sb->timed_out || sb->cpu_exceeded)
    {
      result->cancelled = sb->cancelled;
      result->timed_out = sb->timed_out;
      result->cpu_exceeded = sb->cpu_exceeded;
      result->signal = sb->cpu_exceeded ? SIGXCPU : SIGKILL;
      result->status = sb->cancelled ? 130 : sb->timed_out ? 124 : 128 + SIGXCPU;
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
  if (sb->idmap.idmap_layers && sb->changes_fd >= 0 && give_back_changes(sb->changes_fd, err) < 0)
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
  sandbox_free(sb);
  if (ret < 0)
    tars_result_free(result);
  return ret;
}

int
tars_sandbox_run(const struct tars_spec *spec, struct tars_result *result, struct tars_error *err)
{
  struct tars_sandbox *sb;
  memset(result, 0, sizeof *result);
  if (tars_sandbox_start(spec, &sb, err) < 0)
    return -1;
  return tars_sandbox_finish(sb, result, err);
}

void
tars_result_free(struct tars_result *result)
{
  free(result->out);
  free(result->err);
  result->out = result->err = NULL;
}
