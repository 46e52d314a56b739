/* The default seccomp profile, tested against the kernel.
 *
 * Each case forks: a filter cannot be removed once loaded.  The child enters a user namespace
 * with new mount, network and UTS namespaces, where it holds every capability, so that most
 * denied calls would succeed without the filter: EPERM then comes from the filter, not from a
 * missing privilege.  The "unfiltered" case checks exactly that, running the same probes without
 * the filter.  Each probe runs in its own grandchild, so that one probe's effect (a new namespace,
 * a personality) cannot change the next one's outcome.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

/* ---- processes and namespaces ---- */

static int
write_file(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Become uid 0 of a new user namespace (mapped to the caller's ids), then unshare EXTRA.  */
static int
enter_userns(int extra)
{
  uid_t uid = geteuid();
  gid_t gid = getegid();
  char map[64];
  if (unshare(CLONE_NEWUSER) < 0)
    return -1;
  if (write_file("/proc/self/setgroups", "deny") < 0)
    return -1;
  snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
  if (write_file("/proc/self/uid_map", map) < 0)
    return -1;
  snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
  if (write_file("/proc/self/gid_map", map) < 0)
    return -1;
  return extra ? unshare(extra) : 0;
}

/* cmocka catches SIGSEGV and friends to report a failed test; a child that inherited that handler
 * would carry on running the remaining tests.  */
static pid_t
fork_child(void)
{
  pid_t pid = fork();
  if (pid == 0)
    {
      const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
      for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    }
  return pid;
}

/* Exit status of a finished child, or 1000 + the signal that killed it.  */
static int
wait_status(pid_t pid)
{
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

static int
apply_or_complain(void)
{
  struct tars_error err = {0};
  if (tars_seccomp_apply(&err) < 0)
    {
      fprintf(stderr, "tars_seccomp_apply: %s\n", err.msg);
      return -1;
    }
  return 0;
}

/* ---- probes: each returns 0 on success or the errno ---- */

#define RESULT(expr) ((expr) < 0 ? errno : 0)

static int
probe_mount(long arg)
{
  return RESULT(mount("none", "/tmp", "tmpfs", 0, NULL));
}

static int
probe_umount(long arg)
{
  return RESULT(umount2("/tars-no-such-dir", MNT_DETACH));
}

static int
probe_pivot_root(long arg)
{
  return RESULT(syscall(SYS_pivot_root, "/tars-no-such-dir", "/tars-no-such-dir/old"));
}

static int
probe_chroot(long arg)
{
  return RESULT(chroot("/"));
}

static int
probe_ptrace(long arg)
{
  pid_t pid = fork();
  if (pid == 0)
    {
      pause();
      _exit(0);
    }
  int r = RESULT(ptrace(PTRACE_ATTACH, pid, NULL, NULL));
  kill(pid, SIGKILL);
  wait_status(pid);
  return r;
}

static int
probe_process_vm_readv(long arg)
{
  char src[8] = "tars", dst[8];
  struct iovec local = {dst, sizeof dst}, remote = {src, sizeof src};
  return RESULT(process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
}

static int
probe_kcmp(long arg)
{
  return RESULT(syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM, 0, 0));
}

static int
probe_pidfd_getfd(long arg)
{
  int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
  if (pidfd < 0)
    return errno;
  return RESULT(syscall(SYS_pidfd_getfd, pidfd, 0, 0));
}

static int
probe_bpf(long arg)
{
  /* An unknown command: EINVAL, past the unprivileged check on current kernels.  */
  return RESULT(syscall(SYS_bpf, 0x7fff, NULL, 0));
}

static int
probe_perf_event_open(long arg)
{
  return RESULT(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
}

static int
probe_userfaultfd(long arg)
{
  return RESULT(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
}

static int
probe_io_uring_setup(long arg)
{
  return RESULT(syscall(SYS_io_uring_setup, 0, NULL));
}

static int
probe_io_uring_enter(long arg)
{
  return RESULT(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
}

static int
probe_keyctl(long arg)
{
  return RESULT(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -2 /* process */, 0));
}

static int
probe_add_key(long arg)
{
  return RESULT(syscall(SYS_add_key, "tars-no-such-type", "x", "y", 1, -2));
}

static int
probe_name_to_handle_at(long arg)
{
  struct
  {
    unsigned int bytes;
    int type;
  } fh = {0, 0};
  int mount_id;
  return RESULT(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mount_id, 0));
}

static int
probe_setns(long arg)
{
  int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  return RESULT(setns(fd, CLONE_NEWUTS));
}

static int
probe_fsopen(long arg)
{
  return RESULT(syscall(SYS_fsopen, "tmpfs", 0));
}

static int
probe_open_tree(long arg)
{
  return RESULT(syscall(SYS_open_tree, AT_FDCWD, "/", 0));
}

static int
probe_clock_settime(long arg)
{
  struct timespec ts = {1, 0};
  /* CLOCK_MONOTONIC cannot be set: EINVAL, before any privilege check.  */
  return RESULT(clock_settime(CLOCK_MONOTONIC, &ts));
}

static int
probe_clock_adjtime(long arg)
{
  struct timex tx = {0};
  return RESULT(syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx));
}

static int
probe_adjtimex(long arg)
{
  struct timex tx = {0}; /* modes 0: a read */
  return RESULT(adjtimex(&tx));
}

static int
probe_nfsservctl(long arg)
{
  return RESULT(syscall(SYS_nfsservctl, 0, NULL, NULL));
}

static int
probe_sysfs(long arg)
{
  return RESULT(syscall(SYS_sysfs, 3));
}

static int
probe_iopl(long arg)
{
  return RESULT(syscall(SYS_iopl, 0));
}

static int
probe_syslog(long arg)
{
  return RESULT(syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
}

static int
probe_ioctl(long request)
{
  int p[2];
  char c = 'x';
  if (pipe(p) < 0)
    return errno;
  return RESULT(syscall(SYS_ioctl, p[0], request, &c));
}

static int
probe_fionread(long arg)
{
  int p[2], n;
  if (pipe(p) < 0)
    return errno;
  return RESULT(ioctl(p[0], FIONREAD, &n));
}

/* ARG: the family in the low byte, the type above it.  */
static int
probe_socket(long arg)
{
  return RESULT(socket(arg & 0xff, (arg >> 8) | SOCK_CLOEXEC, 0));
}

static int
probe_socket_inet_high_bits(long arg)
{
  /* The kernel would see AF_INET; the filter must not let the upper bits slip through.  */
  return RESULT(syscall(SYS_socket, (1ul << 32) | AF_INET, SOCK_STREAM, 0));
}

static int
probe_socketpair_netlink(long arg)
{
  int sv[2];
  return RESULT(socketpair(AF_NETLINK, SOCK_RAW, 0, sv));
}

static int
probe_socketpair_unix(long arg)
{
  int sv[2];
  return RESULT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
}

static int
probe_unshare(long flags)
{
  return RESULT(unshare(flags));
}

static int
probe_clone(long flags)
{
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
  if (pid == 0)
    _exit(0);
  if (pid < 0)
    return errno;
  return wait_status(pid);
}

static int
probe_clone3(long arg)
{
  uint64_t args[8] = {0}; /* struct clone_args, version 0 */
  args[4] = SIGCHLD;      /* exit_signal */
  long pid = syscall(SYS_clone3, args, sizeof args);
  if (pid == 0)
    _exit(0);
  if (pid < 0)
    return errno;
  return wait_status(pid);
}

static int
probe_personality(long persona)
{
  return RESULT(personality(persona));
}

static int
probe_fork(long arg)
{
  pid_t pid = fork();
  if (pid == 0)
    _exit(0);
  return pid < 0 ? errno : wait_status(pid);
}

static void *
thread_main(void *arg)
{
  return arg;
}

static int
probe_pthread(long arg)
{
  pthread_t t;
  int r = pthread_create(&t, NULL, thread_main, NULL);
  if (r != 0)
    return r;
  return pthread_join(t, NULL);
}

static int
probe_files(long arg)
{
  char buf[256];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
    return errno;
  close(fd);
  fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno;
  if (write(fd, "tars", 4) != 4 || pread(fd, buf, 4, 0) != 4 || memcmp(buf, "tars", 4) != 0)
    return errno ? errno : EIO;
  return 0;
}

static int
probe_execve(long arg)
{
  pid_t pid = fork();
  if (pid == 0)
    {
      execl("/bin/true", "true", (char *)NULL);
      _exit(127);
    }
  return pid < 0 ? errno : wait_status(pid);
}

/* ---- the probe table ---- */

enum want
{
  DENIED,        /* EPERM with the filter */
  DENIED_ENOSYS, /* ENOSYS with the filter */
  ALLOWED,       /* succeeds with and without the filter */
  NOT_DENIED,    /* anything but EPERM (IPv6 may be off) */
};

enum
{
  /* Without the filter, the call fails with EPERM anyway on some hosts (a sysctl): the
   * unfiltered case does not count it.  */
  HOST_DEPENDENT = 1,
  /* Not run without the filter: the call would ask the kernel to load a module.  */
  NO_CONTROL = 2,
};

struct probe
{
  const char *name;
  int (*fn)(long arg);
  long arg;
  enum want want;
  unsigned flags;
};

#define SOCK(family, type) ((family) | ((type) << 8))

static const struct probe probes[] = {
    {"mount", probe_mount, 0, DENIED, 0},
    {"umount2", probe_umount, 0, DENIED, 0},
    {"pivot_root", probe_pivot_root, 0, DENIED, 0},
    {"chroot", probe_chroot, 0, DENIED, 0},
    {"ptrace(PTRACE_ATTACH)", probe_ptrace, 0, DENIED, 0},
    {"process_vm_readv", probe_process_vm_readv, 0, DENIED, 0},
    {"kcmp", probe_kcmp, 0, DENIED, 0},
    {"pidfd_getfd", probe_pidfd_getfd, 0, DENIED, 0},
    {"bpf", probe_bpf, 0, DENIED, HOST_DEPENDENT},
    {"perf_event_open", probe_perf_event_open, 0, DENIED, 0},
    {"userfaultfd", probe_userfaultfd, 0, DENIED, 0},
    {"io_uring_setup", probe_io_uring_setup, 0, DENIED, HOST_DEPENDENT},
    {"io_uring_enter", probe_io_uring_enter, 0, DENIED, HOST_DEPENDENT},
    {"keyctl", probe_keyctl, 0, DENIED, 0},
    {"add_key", probe_add_key, 0, DENIED, 0},
    {"name_to_handle_at", probe_name_to_handle_at, 0, DENIED, 0},
    {"setns", probe_setns, 0, DENIED, 0},
    {"fsopen", probe_fsopen, 0, DENIED, 0},
    {"open_tree", probe_open_tree, 0, DENIED, 0},
    {"clock_settime", probe_clock_settime, 0, DENIED, 0},
    {"clock_adjtime", probe_clock_adjtime, 0, DENIED, 0},
    {"adjtimex", probe_adjtimex, 0, DENIED, 0},
    {"nfsservctl", probe_nfsservctl, 0, DENIED, 0},
    {"sysfs", probe_sysfs, 0, DENIED, 0},
    {"iopl", probe_iopl, 0, DENIED, 0},
    {"syslog", probe_syslog, 0, DENIED, HOST_DEPENDENT},
    {"ioctl(TIOCSTI)", probe_ioctl, TIOCSTI, DENIED, 0},
    /* The kernel truncates the request to 32 bits: still TIOCSTI.  */
    {"ioctl(TIOCSTI | 1<<32)", probe_ioctl, (1l << 32) | TIOCSTI, DENIED, 0},
    {"ioctl(TIOCLINUX)", probe_ioctl, TIOCLINUX, DENIED, 0},
    {"socket(AF_NETLINK)", probe_socket, SOCK(AF_NETLINK, SOCK_RAW), DENIED, 0},
    {"socket(AF_PACKET)", probe_socket, SOCK(AF_PACKET, SOCK_RAW), DENIED, 0},
    {"socket(AF_UNSPEC)", probe_socket, SOCK(AF_UNSPEC, SOCK_STREAM), DENIED, NO_CONTROL},
    {"socket(AF_X25)", probe_socket, SOCK(AF_X25, SOCK_SEQPACKET), DENIED, NO_CONTROL},
    {"socket(AF_VSOCK)", probe_socket, SOCK(AF_VSOCK, SOCK_STREAM), DENIED, NO_CONTROL},
    {"socket(AF_ALG)", probe_socket, SOCK(AF_ALG, SOCK_SEQPACKET), DENIED, NO_CONTROL},
    {"socket(1<<32 | AF_INET)", probe_socket_inet_high_bits, 0, DENIED, 0},
    {"socketpair(AF_NETLINK)", probe_socketpair_netlink, 0, DENIED, 0},
    {"unshare(CLONE_NEWUSER)", probe_unshare, CLONE_NEWUSER, DENIED, 0},
    {"unshare(CLONE_NEWNS)", probe_unshare, CLONE_NEWNS, DENIED, 0},
    {"unshare(CLONE_NEWNET)", probe_unshare, CLONE_NEWNET, DENIED, 0},
    {"unshare(CLONE_NEWUTS)", probe_unshare, CLONE_NEWUTS, DENIED, 0},
    {"unshare(CLONE_NEWIPC)", probe_unshare, CLONE_NEWIPC, DENIED, 0},
    {"unshare(CLONE_NEWPID)", probe_unshare, CLONE_NEWPID, DENIED, 0},
    {"unshare(CLONE_NEWCGROUP)", probe_unshare, CLONE_NEWCGROUP, DENIED, 0},
    {"unshare(CLONE_NEWTIME)", probe_unshare, CLONE_NEWTIME, DENIED, 0},
    {"unshare(CLONE_FILES | CLONE_NEWNS)", probe_unshare, CLONE_FILES | CLONE_NEWNS, DENIED, 0},
    {"clone(CLONE_NEWNS)", probe_clone, CLONE_NEWNS, DENIED, 0},
    {"clone(CLONE_NEWUSER)", probe_clone, CLONE_NEWUSER, DENIED, 0},
    {"clone(CLONE_NEWNET)", probe_clone, CLONE_NEWNET, DENIED, 0},
    {"clone(CLONE_NEWPID)", probe_clone, CLONE_NEWPID, DENIED, 0},
    {"clone3", probe_clone3, 0, DENIED_ENOSYS, 0},
    {"personality(ADDR_NO_RANDOMIZE)", probe_personality, ADDR_NO_RANDOMIZE, DENIED, 0},
    {"personality(READ_IMPLIES_EXEC)", probe_personality, READ_IMPLIES_EXEC, DENIED, 0},
    {"personality(0xffff0000)", probe_personality, 0xffff0000, DENIED, 0},
    /* What must keep working.  */
    {"socket(AF_INET)", probe_socket, SOCK(AF_INET, SOCK_STREAM), ALLOWED, 0},
    {"socket(AF_INET6)", probe_socket, SOCK(AF_INET6, SOCK_DGRAM), NOT_DENIED, 0},
    {"socket(AF_UNIX)", probe_socket, SOCK(AF_UNIX, SOCK_STREAM), ALLOWED, 0},
    {"socketpair(AF_UNIX)", probe_socketpair_unix, 0, ALLOWED, 0},
    {"ioctl(FIONREAD)", probe_fionread, 0, ALLOWED, 0},
    {"unshare(CLONE_FILES)", probe_unshare, CLONE_FILES, ALLOWED, 0},
    {"clone(SIGCHLD)", probe_clone, 0, ALLOWED, 0},
    {"fork", probe_fork, 0, ALLOWED, 0},
    {"pthread_create (clone3 falls back to clone)", probe_pthread, 0, ALLOWED, 0},
    {"open, read, write", probe_files, 0, ALLOWED, 0},
    {"execve /bin/true", probe_execve, 0, ALLOWED, 0},
    {"personality(0xffffffff)", probe_personality, 0xffffffff, ALLOWED, 0},
    {"personality(PER_LINUX32)", probe_personality, PER_LINUX32, ALLOWED, 0},
};
#define N_PROBES (sizeof probes / sizeof probes[0])

#define NOT_RUN (-1)
#define SETUP_FAILED (-2)

static int
run_in_grandchild(int (*fn)(long arg), long arg)
{
  pid_t pid = fork_child();
  if (pid < 0)
    return errno;
  if (pid == 0)
    _exit(fn(arg));
  return wait_status(pid);
}

/* Run the probes in a child, with or without the filter, and collect the results.  */
static void
run_probes(bool filtered, int results[N_PROBES])
{
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      int r[N_PROBES];
      close(p[0]);
      if (enter_userns(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS) < 0)
        {
          perror("enter_userns");
          _exit(2);
        }
      if (filtered && apply_or_complain() < 0)
        _exit(3);
      for (size_t i = 0; i < N_PROBES; i++)
        r[i] = !filtered && (probes[i].flags & NO_CONTROL)
                   ? NOT_RUN
                   : run_in_grandchild(probes[i].fn, probes[i].arg);
      _exit(write(p[1], r, sizeof r) == (ssize_t)sizeof r ? 0 : 4);
    }
  close(p[1]);
  ssize_t n = read(p[0], results, sizeof(int) * N_PROBES);
  close(p[0]);
  assert_int_equal(wait_status(pid), 0);
  assert_int_equal(n, sizeof(int) * N_PROBES);
}

static const char *
describe(int r)
{
  static char buf[64];
  if (r == 0)
    return "success";
  if (r >= 1000)
    snprintf(buf, sizeof buf, "killed by signal %d", r - 1000);
  else
    snprintf(buf, sizeof buf, "%s", strerror(r));
  return buf;
}

/* ---- the cases ---- */

static void
apply_sets_filter_mode_and_no_new_privs(void **state)
{
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      /* No user namespace: no_new_privs must make it work for an unprivileged caller too; and
       * the filter must survive execve.  */
      if (apply_or_complain() < 0)
        _exit(3);
      dup2(p[1], STDOUT_FILENO);
      execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
      _exit(127);
    }
  close(p[1]);
  char buf[8192];
  size_t len = 0;
  ssize_t n;
  while ((n = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += n;
  buf[len] = '\0';
  close(p[0]);
  assert_int_equal(wait_status(pid), 0);
  assert_non_null(strstr(buf, "\nSeccomp:\t2\n"));
  assert_non_null(strstr(buf, "\nNoNewPrivs:\t1\n"));
  assert_non_null(strstr(buf, "\nSeccomp_filters:\t1\n"));
}

static void
filtered_calls_are_denied_and_others_work(void **state)
{
  int results[N_PROBES];
  run_probes(true, results);
  int failures = 0;
  for (size_t i = 0; i < N_PROBES; i++)
    {
      int r = results[i];
      bool ok;
      switch (probes[i].want)
        {
        case DENIED:
          ok = r == EPERM;
          break;
        case DENIED_ENOSYS:
          ok = r == ENOSYS;
          break;
        case ALLOWED:
          ok = r == 0;
          break;
        default:
          ok = r != EPERM && r < 1000;
          break;
        }
      if (!ok)
        {
          print_error("filtered %s: got %s\n", probes[i].name, describe(r));
          failures++;
        }
    }
  assert_int_equal(failures, 0);
}

static void
denied_calls_are_not_eperm_without_filter(void **state)
{
  int results[N_PROBES];
  run_probes(false, results);
  int failures = 0;
  for (size_t i = 0; i < N_PROBES; i++)
    {
      int r = results[i];
      if (r == NOT_RUN)
        continue;
      bool denied = probes[i].want == DENIED || probes[i].want == DENIED_ENOSYS;
      bool ok = r < 1000 && (denied ? r != EPERM : probes[i].want == NOT_DENIED || r == 0);
      if (probes[i].want == DENIED_ENOSYS)
        ok = ok && r != ENOSYS;
      if (!ok && (probes[i].flags & HOST_DEPENDENT))
        {
          print_message("note: unfiltered %s fails with %s on this host\n", probes[i].name,
                        describe(r));
          continue;
        }
      if (!ok)
        {
          print_error("unfiltered %s: got %s, so the filtered case proves nothing\n",
                      probes[i].name, describe(r));
          failures++;
        }
    }
  assert_int_equal(failures, 0);
}

static bool
personality_ok(uint32_t v)
{
  return v == 0 || v == PER_LINUX32 || v == UNAME26 || v == (PER_LINUX32 | UNAME26) ||
         v == 0xffffffff;
}

/* Only Docker's five values pass: the profile spells "not one of these" as a cover of masked
 * comparisons, so walk the edges of that cover and a large random sample.  */
static int
check_personalities(void)
{
  uint32_t edge[2048];
  size_t n = 0;
  for (int i = 0; i < 32; i++)
    {
      edge[n++] = 1u << i;
      edge[n++] = ~(1u << i);
      edge[n++] = (1u << i) | PER_LINUX32 | UNAME26;
      for (int j = i + 1; j < 32; j++)
        edge[n++] = ~((1u << i) | (1u << j));
    }
  int bad = 0;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t k = 0; k < n + 200000; k++)
    {
      uint32_t v;
      if (k < n)
        v = edge[k];
      else
        {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          v = (uint32_t)x;
        }
      if (personality_ok(v))
        continue;
      if (personality(v) != -1 || errno != EPERM)
        {
          if (bad++ < 5)
            fprintf(stderr, "personality(0x%x) was not denied\n", v);
          personality(0);
        }
    }
  /* The kernel would read this as 0, which is allowed: refusing it is the safe side.  */
  if (syscall(SYS_personality, (1ul << 32) | PER_LINUX32) != -1 || errno != EPERM)
    bad++, fprintf(stderr, "personality with upper bits was not denied\n");
  const uint32_t allowed[] = {0xffffffff, PER_LINUX32, UNAME26, PER_LINUX32 | UNAME26, 0};
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (personality(allowed[i]) < 0)
      bad++, fprintf(stderr, "personality(0x%x): %s\n", allowed[i], strerror(errno));
  return bad ? 1 : 0;
}

static void
personality_allows_only_docker_values(void **state)
{
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(apply_or_complain() < 0 ? 3 : check_personalities());
  assert_int_equal(wait_status(pid), 0);
}

/* ---- the other ABIs ---- */

struct raw_probe
{
  const char *name;
  long args[3];
  int want; /* EPERM or ENOSYS */
  /* libseccomp names i386's direct socket calls by their socketcall multiplexing: the numbers
   * of the direct entry points (Linux 4.3) are given here.  */
  int nr_i386;
};

static const struct raw_probe raw_probes[] = {
    {"mount", {0, 0, 0}, EPERM, 0},
    {"umount2", {0, 0, 0}, EPERM, 0},
    {"chroot", {0, 0, 0}, EPERM, 0},
    {"ptrace", {PTRACE_ATTACH, 1, 0}, EPERM, 0},
    {"bpf", {0x7fff, 0, 0}, EPERM, 0},
    {"keyctl", {0, -2, 0}, EPERM, 0},
    {"userfaultfd", {UFFD_USER_MODE_ONLY, 0, 0}, EPERM, 0},
    {"io_uring_setup", {0, 0, 0}, EPERM, 0},
    {"setns", {-1, 0, 0}, EPERM, 0},
    {"unshare", {CLONE_NEWUSER, 0, 0}, EPERM, 0},
    {"unshare", {CLONE_NEWNS, 0, 0}, EPERM, 0},
    {"clone", {CLONE_NEWNS | SIGCHLD, 0, 0}, EPERM, 0},
    {"clone3", {0, 0, 0}, ENOSYS, 0},
    {"ioctl", {0, TIOCSTI, 0}, EPERM, 0},
    {"socket", {AF_NETLINK, SOCK_RAW, 0}, EPERM, 359},
    {"socket", {AF_PACKET, SOCK_RAW, 0}, EPERM, 359},
    {"socketpair", {AF_NETLINK, SOCK_RAW, 0}, EPERM, 360},
    {"personality", {ADDR_NO_RANDOMIZE, 0, 0}, EPERM, 0},
    {"clock_settime", {CLOCK_MONOTONIC, 0, 0}, EPERM, 0},
    /* i386 only: its y2038 variant and the old multiplexer's socket() */
    {"clock_settime64", {CLOCK_MONOTONIC, 0, 0}, EPERM, 0},
    {"socketcall", {1 /* SYS_SOCKET */, 0, 0}, EPERM, 0},
};
#define N_RAW (sizeof raw_probes / sizeof raw_probes[0])

/* A system call through the i386 entry point, from this 64-bit process: seccomp sees
 * AUDIT_ARCH_I386.  Arguments must fit in 32 bits.  */
static long
syscall_i386(long nr, long a, long b, long c)
{
  long r;
  __asm__ volatile("int $0x80"
                   : "=a"(r)
                   : "a"(nr), "b"(a), "c"(b), "d"(c)
                   : "r8", "r9", "r10", "r11", "memory", "cc");
  return r;
}

static int
probe_i386_getpid(long arg)
{
  return syscall_i386(20 /* getpid */, 0, 0, 0) == getpid() ? 0 : 1;
}

/* Run each raw probe of ARCH in a grandchild; exit non-zero on the first surprise.  */
static int
check_raw_probes(uint32_t arch)
{
  int bad = 0;
  for (size_t i = 0; i < N_RAW; i++)
    {
      int nr = seccomp_syscall_resolve_name_arch(arch, raw_probes[i].name);
      if (nr < 0 && arch == SCMP_ARCH_X86)
        nr = raw_probes[i].nr_i386;
      if (nr <= 0)
        continue; /* not on this ABI */
      const long *a = raw_probes[i].args;
      pid_t pid = fork();
      if (pid == 0)
        {
          if (arch != SCMP_ARCH_X86)
            _exit(syscall(nr, a[0], a[1], a[2], 0, 0, 0) < 0 ? errno : 0);
          long r = syscall_i386(nr, a[0], a[1], a[2]);
          _exit(r < 0 && r > -4096 ? (int)-r : 0);
        }
      int r = wait_status(pid);
      if (r != raw_probes[i].want)
        {
          fprintf(stderr, "%s(0x%lx) (nr %d): got %s\n", raw_probes[i].name, a[0], nr, describe(r));
          bad++;
        }
    }
  return bad ? 1 : 0;
}

static void
x32_abi_is_filtered(void **state)
{
  /* This kernel may not run x32 programs at all (ENOSYS), but seccomp sees the call before the
   * kernel refuses it, so the filter is tested either way.  */
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      if (enter_userns(CLONE_NEWNS | CLONE_NEWNET) < 0 || apply_or_complain() < 0)
        _exit(3);
      _exit(check_raw_probes(SCMP_ARCH_X32));
    }
  assert_int_equal(wait_status(pid), 0);
}

static void
i386_abi_is_filtered(void **state)
{
  /* Without IA32 emulation, int $0x80 kills the process: nothing to test then.  */
  if (run_in_grandchild(probe_i386_getpid, 0) != 0)
    skip();
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      if (enter_userns(CLONE_NEWNS | CLONE_NEWNET) < 0 || apply_or_complain() < 0)
        _exit(3);
      _exit(check_raw_probes(SCMP_ARCH_X86));
    }
  assert_int_equal(wait_status(pid), 0);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(apply_sets_filter_mode_and_no_new_privs),
      cmocka_unit_test(filtered_calls_are_denied_and_others_work),
      cmocka_unit_test(denied_calls_are_not_eperm_without_filter),
      cmocka_unit_test(personality_allows_only_docker_values),
      cmocka_unit_test(x32_abi_is_filtered),
      cmocka_unit_test(i386_abi_is_filtered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
