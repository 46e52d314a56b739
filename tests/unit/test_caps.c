/* Dropping capabilities, tested against the kernel.
 *
 * Each case forks a child that becomes uid 0 of a new user namespace, where it holds every
 * capability, as the sandbox payload does.  The child checks that it really held them before
 * the drop, so that an all-zero result means something.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/securebits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

#define TARS_SECUREBITS_WANTED                                                                     \
  (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED | \
   SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

/* In the child: report the failed check and exit 1.  cmocka's asserts belong to the parent.  */
#define CHECK(cond)                                                                                \
  do                                                                                               \
    {                                                                                              \
      if (!(cond))                                                                                 \
        {                                                                                          \
          fprintf(stderr, "child: %s:%d: %s (errno: %s)\n", __FILE__, __LINE__, #cond,             \
                  strerror(errno));                                                                \
          _exit(1);                                                                                \
        }                                                                                          \
    }                                                                                              \
  while (0)

static const char *const cap_fields[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
#define N_FIELDS (sizeof cap_fields / sizeof cap_fields[0])

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

static int
wait_status(pid_t pid)
{
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

static void
run_child(int (*fn)(void))
{
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(fn());
  assert_int_equal(wait_status(pid), 0);
}

/* Read FIELD ("CapEff") from a /proc/PID/status text.  */
static bool
status_hex(const char *status, const char *field, uint64_t *value)
{
  char key[32];
  snprintf(key, sizeof key, "\n%s:\t", field);
  const char *p = strstr(status, key);
  if (p == NULL)
    return false;
  *value = strtoull(p + strlen(key), NULL, 16);
  return true;
}

static size_t
read_all(int fd, char *buf, size_t size)
{
  size_t len = 0;
  ssize_t n;
  while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
    len += n;
  buf[len] = '\0';
  return len;
}

static bool
own_status(char *buf, size_t size)
{
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  read_all(fd, buf, size);
  close(fd);
  return true;
}

static int
drop_or_complain(void)
{
  struct tars_error err = {0};
  if (tars_caps_drop_all(&err) < 0)
    {
      fprintf(stderr, "child: tars_caps_drop_all: %s\n", err.msg);
      return -1;
    }
  return 0;
}

/* ---- children ---- */

static int
child_every_set_is_emptied(void)
{
  char status[8192];
  uint64_t v;
  CHECK(enter_userns(0) == 0);
  CHECK(own_status(status, sizeof status));
  CHECK(status_hex(status, "CapEff", &v) && v != 0);
  CHECK(status_hex(status, "CapBnd", &v) && v != 0);
  /* Something in the ambient set too, which execve would otherwise pass on.  */
  cap_t cur = cap_get_proc();
  cap_value_t bind = CAP_NET_BIND_SERVICE;
  CHECK(cur != NULL);
  CHECK(cap_set_flag(cur, CAP_INHERITABLE, 1, &bind, CAP_SET) == 0);
  CHECK(cap_set_proc(cur) == 0);
  cap_free(cur);
  CHECK(cap_set_ambient(CAP_NET_BIND_SERVICE, CAP_SET) == 0);
  CHECK(own_status(status, sizeof status));
  CHECK(status_hex(status, "CapAmb", &v) && v != 0);

  CHECK(drop_or_complain() == 0);

  CHECK(own_status(status, sizeof status));
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      CHECK(status_hex(status, cap_fields[i], &v));
      if (v != 0)
        {
          fprintf(stderr, "child: %s is %016llx\n", cap_fields[i], (unsigned long long)v);
          return 1;
        }
    }
  int bits = prctl(PR_GET_SECUREBITS);
  CHECK(bits >= 0);
  CHECK((bits & TARS_SECUREBITS_WANTED) == TARS_SECUREBITS_WANTED);
  CHECK(!(bits & SECBIT_KEEP_CAPS));
  /* Locked: cannot be undone, even by asking.  */
  CHECK(prctl(PR_SET_SECUREBITS, 0) < 0 && errno == EPERM);
  return 0;
}

/* Exec /bin/cat /proc/self/status as uid 0 of the namespace, optionally after the drop, and
 * check its capability sets: all zero when dropped, the full set otherwise.  */
static void
exec_status(bool drop, char *buf, size_t size)
{
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork_child();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      close(p[0]);
      CHECK(enter_userns(0) == 0);
      CHECK(getuid() == 0);
      if (drop)
        CHECK(drop_or_complain() == 0);
      CHECK(dup2(p[1], STDOUT_FILENO) == STDOUT_FILENO);
      execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
      _exit(127);
    }
  close(p[1]);
  read_all(p[0], buf, size);
  close(p[0]);
  assert_int_equal(wait_status(pid), 0);
  /* It ran as root of the namespace: the case in which execve grants capabilities.  */
  assert_non_null(strstr(buf, "\nUid:\t0\t0\t0\t0\n"));
}

static void
exec_as_root_regains_nothing(void **state)
{
  char buf[8192];
  uint64_t v;

  exec_status(false, buf, sizeof buf);
  assert_true(status_hex(buf, "CapEff", &v));
  assert_true(v != 0); /* without the drop, root's execve gets everything */

  exec_status(true, buf, sizeof buf);
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      assert_true(status_hex(buf, cap_fields[i], &v));
      if (v != 0)
        fail_msg("after execve %s is %016llx", cap_fields[i], (unsigned long long)v);
    }
}

static int
child_privileged_operations_fail(void)
{
  char path[] = "/tmp/tars-caps-XXXXXX";
  CHECK(enter_userns(CLONE_NEWUTS | CLONE_NEWNS) == 0);
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  CHECK(chmod(path, 0) == 0);

  /* Each of these works before the drop: CAP_DAC_OVERRIDE, CAP_SYS_ADMIN of the namespace.  */
  fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  close(fd);
  CHECK(sethostname("before", 6) == 0);

  int dropped = drop_or_complain();
  int open_errno = open(path, O_RDONLY | O_CLOEXEC) < 0 ? errno : 0;
  unlink(path);
  CHECK(dropped == 0);

  CHECK(open_errno == EACCES);
  CHECK(sethostname("after", 5) < 0 && errno == EPERM);
  CHECK(mount("none", "/tmp", "tmpfs", 0, NULL) < 0 && errno == EPERM);
  CHECK(unshare(CLONE_NEWNS) < 0 && errno == EPERM);
  CHECK(chroot("/") < 0 && errno == EPERM);

  /* Nothing can be raised again: not permitted, not ambient, not via the bounding set.  */
  cap_t all = cap_init();
  cap_value_t admin = CAP_SYS_ADMIN;
  CHECK(all != NULL);
  CHECK(cap_set_flag(all, CAP_PERMITTED, 1, &admin, CAP_SET) == 0);
  CHECK(cap_set_flag(all, CAP_EFFECTIVE, 1, &admin, CAP_SET) == 0);
  CHECK(cap_set_proc(all) < 0 && errno == EPERM);
  cap_free(all);
  CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0) < 0);
  CHECK(cap_get_bound(CAP_SYS_ADMIN) == 0);

  /* Still uid 0, which no longer means anything.  */
  CHECK(setresuid(0, 0, 0) == 0);
  return 0;
}

static int
child_fails_cleanly_without_setpcap(void)
{
  CHECK(enter_userns(0) == 0);
  /* Give up CAP_SETPCAP only: the bounding set stays full and cannot be emptied.  */
  cap_t cur = cap_get_proc();
  cap_value_t setpcap = CAP_SETPCAP;
  CHECK(cur != NULL);
  CHECK(cap_set_flag(cur, CAP_EFFECTIVE, 1, &setpcap, CAP_CLEAR) == 0);
  CHECK(cap_set_flag(cur, CAP_PERMITTED, 1, &setpcap, CAP_CLEAR) == 0);
  CHECK(cap_set_proc(cur) == 0);
  cap_free(cur);

  struct tars_error err = {0};
  CHECK(tars_caps_drop_all(&err) == -1);
  CHECK(err.code == EPERM);
  CHECK(strstr(err.msg, "cap_drop_bound") != NULL);
  /* The securebits step was skipped, not attempted and failed.  */
  CHECK(prctl(PR_GET_SECUREBITS) == 0);
  return 0;
}

static int
child_second_call_succeeds(void)
{
  CHECK(enter_userns(0) == 0);
  CHECK(drop_or_complain() == 0);
  /* Without CAP_SETPCAP now, but with nothing left to drop.  */
  CHECK(drop_or_complain() == 0);
  return 0;
}

/* ---- cases ---- */

static void
every_set_is_emptied_and_securebits_locked(void **state)
{
  run_child(child_every_set_is_emptied);
}

static void
privileged_operations_fail_after_drop(void **state)
{
  run_child(child_privileged_operations_fail);
}

static void
fails_cleanly_without_setpcap(void **state)
{
  run_child(child_fails_cleanly_without_setpcap);
}

static void
second_call_succeeds(void **state)
{
  run_child(child_second_call_succeeds);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_set_is_emptied_and_securebits_locked),
      cmocka_unit_test(exec_as_root_regains_nothing),
      cmocka_unit_test(privileged_operations_fail_after_drop),
      cmocka_unit_test(fails_cleanly_without_setpcap),
      cmocka_unit_test(second_call_succeeds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
