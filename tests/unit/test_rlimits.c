/* tars_rlimits_apply, each case in a child so that the runner keeps its own limits.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

#define CHILD_SKIP 77

/* In the child, cmocka's asserts would longjmp into the parent's copy of the runner: report by
 * exit status instead, with the reason on stderr.  */
#define CHECK(cond)                                                                                \
  do                                                                                               \
    {                                                                                              \
      if (!(cond))                                                                                 \
        {                                                                                          \
          fprintf(stderr, "child: %s:%d: check failed: %s (errno: %s)\n", __FILE__, __LINE__,      \
                  #cond, strerror(errno));                                                         \
          _exit(1);                                                                                \
        }                                                                                          \
    }                                                                                              \
  while (0)

static void
apply_or_die(const struct tars_spec *spec)
{
  struct tars_error err = {0};
  if (tars_rlimits_apply(spec, &err) < 0)
    {
      fprintf(stderr, "child: tars_rlimits_apply: %s\n", err.msg);
      _exit(1);
    }
}

static void
check_limit(int resource, rlim_t want)
{
  struct rlimit r;
  CHECK(getrlimit(resource, &r) == 0);
  if (r.rlim_cur != want || r.rlim_max != want)
    {
      fprintf(stderr, "child: resource %d: got %llu/%llu, want %llu\n", resource,
              (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max,
              (unsigned long long)want);
      _exit(1);
    }
}

/* A spec that leaves RLIMIT_AS alone: the sanitizers' runtime needs its address space.  */
static void
base_spec(struct tars_spec *spec)
{
  tars_spec_init(spec);
  spec->as_bytes = UINT64_MAX;
}

static void
child_read_back(void)
{
  struct tars_spec spec;
  base_spec(&spec);
  spec.pids = 100;
  spec.cpu_seconds = 30;
  spec.fsize_bytes = 1 << 20;
  spec.nofile = 64;
  struct rlimit as;
  CHECK(getrlimit(RLIMIT_AS, &as) == 0);
  apply_or_die(&spec);
  check_limit(RLIMIT_NPROC, 100);
  check_limit(RLIMIT_CPU, 30);
  check_limit(RLIMIT_FSIZE, 1 << 20);
  check_limit(RLIMIT_NOFILE, 64);
  check_limit(RLIMIT_CORE, 0);
  /* Unlimited: as much as the hard limit allows.  */
  check_limit(RLIMIT_AS, as.rlim_max);
  _exit(0);
}

static void
child_as_read_back(void)
{
  struct tars_spec spec;
  base_spec(&spec);
  spec.as_bytes = 1ULL << 40;
  apply_or_die(&spec);
  check_limit(RLIMIT_AS, 1ULL << 40);
  _exit(0);
}

static void
child_never_raises_hard(void)
{
  /* Lower the hard limits first: applying larger values, or "unlimited", must keep them, even
   * as root, who could raise them.  */
  struct rlimit low = {200, 200};
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
  struct rlimit cpu = {50, 50};
  CHECK(setrlimit(RLIMIT_CPU, &cpu) == 0);
  struct rlimit fsize = {1 << 20, 1 << 20};
  CHECK(setrlimit(RLIMIT_FSIZE, &fsize) == 0);

  struct tars_spec spec;
  base_spec(&spec);
  spec.nofile = 4096;
  spec.cpu_seconds = UINT64_MAX;
  spec.fsize_bytes = 100;
  apply_or_die(&spec);
  check_limit(RLIMIT_NOFILE, 200);
  check_limit(RLIMIT_CPU, 50);
  check_limit(RLIMIT_FSIZE, 100); /* lowering is fine */
  _exit(0);
}

static void
child_fsize_efbig(void)
{
  signal(SIGXFSZ, SIG_IGN);
  char path[] = "/tmp/tars-test-rlimits-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);

  struct tars_spec spec;
  base_spec(&spec);
  spec.fsize_bytes = 4096;
  apply_or_die(&spec);

  static char block[4096];
  CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
  errno = 0;
  CHECK(write(fd, block, 1) == -1);
  CHECK(errno == EFBIG);
  _exit(0);
}

static void
child_cpu_kills(void)
{
  struct tars_spec spec;
  base_spec(&spec);
  spec.cpu_seconds = 1;
  apply_or_die(&spec);
  /* Spin; SIGXCPU at one second of CPU time ends this.  The bound only guards a broken limit.  */
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (volatile unsigned long i = 0;; i++)
    {
      if ((i & 0xfffff) == 0)
        {
          clock_gettime(CLOCK_MONOTONIC, &now);
          if (now.tv_sec - start.tv_sec > 20)
            _exit(1);
        }
    }
}

static int
write_proc(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* RLIMIT_NPROC counts the processes of the real user (in the current user namespace), and root
 * is exempt: run as a user that has no other process.  As root, a uid nobody uses; otherwise, our
 * own uid in a new user namespace, whose count starts at this process.  */
static void
become_fresh_user(void)
{
  if (geteuid() == 0)
    {
      uid_t id = 3999000 + (getpid() % 900);
      CHECK(setgroups(0, NULL) == 0);
      CHECK(setresgid(id, id, id) == 0);
      CHECK(setresuid(id, id, id) == 0);
      return;
    }
  char map[64];
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER) < 0)
    {
      fprintf(stderr, "child: unshare(CLONE_NEWUSER): %s\n", strerror(errno));
      _exit(CHILD_SKIP);
    }
  CHECK(write_proc("/proc/self/setgroups", "deny") == 0);
  snprintf(map, sizeof map, "0 %ld 1", (long)uid);
  CHECK(write_proc("/proc/self/uid_map", map) == 0);
  snprintf(map, sizeof map, "0 %ld 1", (long)gid);
  CHECK(write_proc("/proc/self/gid_map", map) == 0);
}

static void
child_nproc(void)
{
  become_fresh_user();
  struct tars_spec spec;
  base_spec(&spec);
  spec.pids = 4;
  apply_or_die(&spec);

  int hold[2];
  CHECK(pipe(hold) == 0);
  int forked = 0, err = 0;
  for (int i = 0; i < 20; i++)
    {
      pid_t pid = fork();
      if (pid == 0)
        {
          char c;
          close(hold[1]);
          (void)!read(hold[0], &c, 1);
          _exit(0);
        }
      if (pid < 0)
        {
          err = errno;
          break;
        }
      forked++;
    }
  close(hold[1]);
  while (wait(NULL) > 0)
    ;
  if (forked != 3 || err != EAGAIN)
    {
      fprintf(stderr, "child: with RLIMIT_NPROC 4, %d forks succeeded (want 3), then: %s\n", forked,
              strerror(err));
      _exit(1);
    }
  _exit(0);
}

static int
run_child(void (*fn)(void))
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    fn();
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIP)
    {
      print_message("user namespaces are not available here: test skipped\n");
      skip();
    }
  return status;
}

static void
read_back(void **state)
{
  int status = run_child(child_read_back);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void
as_read_back(void **state)
{
  int status = run_child(child_as_read_back);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void
never_raises_hard(void **state)
{
  int status = run_child(child_never_raises_hard);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void
fsize_gives_efbig(void **state)
{
  int status = run_child(child_fsize_efbig);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void
cpu_limit_ends_process(void **state)
{
  int status = run_child(child_cpu_kills);
  assert_true(WIFSIGNALED(status));
  /* Soft and hard are equal: the kernel sends SIGKILL for the hard limit (SIGXCPU where it
   * checks the soft one first).  */
  assert_true(WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGXCPU);
}

static void
nproc_stops_forks(void **state)
{
  int status = run_child(child_nproc);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(read_back),
      cmocka_unit_test(as_read_back),
      cmocka_unit_test(never_raises_hard),
      cmocka_unit_test(fsize_gives_efbig),
      cmocka_unit_test(cpu_limit_ends_process),
      cmocka_unit_test(nproc_stops_forks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
