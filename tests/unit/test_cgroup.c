/* The per-sandbox cgroup: as root it must be created, limit and hold its processes, and go away;
 * as an unprivileged user without a delegated subtree it must say why it is not applied.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

#define MEMORY (64ULL << 20)
#define PIDS 16

static void
test_spec(struct tars_spec *spec)
{
  tars_spec_init(spec);
  spec->memory_bytes = MEMORY;
  spec->pids = PIDS;
  spec->cpu_quota_pct = 50;
}

static bool
need_root(void)
{
  if (geteuid() == 0)
    return true;
  print_message("needs root (run as root to create cgroups): test skipped\n");
  return false;
}

/* As root, the cgroup must be created, unless the cgroup tree is mounted read-only (a
 * container): then there is nothing to test.  */
static bool
create_as_root(struct tars_cgroup *cg, const struct tars_spec *spec)
{
  char note[512] = "";
  struct tars_error err = {0};
  int r = tars_cgroup_create(cg, spec, note, sizeof note, &err);
  if (r < 0)
    fail_msg("tars_cgroup_create: %s", err.msg);
  if (!cg->active && strstr(note, "Read-only file system"))
    {
      print_message("cgroup tree is read-only here (%s): test skipped\n", note);
      return false;
    }
  if (!cg->active)
    fail_msg("tars_cgroup_create as root did not apply: %s", note);
  assert_true(cg->version == 1 || cg->version == 2);
  assert_true(cg->n_paths >= 1);
  return true;
}

/* Read DIR/FILE into BUF without the trailing newline; false when the file does not exist.  */
static bool
read_limit(const char *dir, const char *file, char *buf, size_t size)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    {
      assert_int_equal(errno, ENOENT);
      return false;
    }
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  return true;
}

static void
check_limits(const struct tars_cgroup *cg)
{
  bool memory = false, pids = false, cpu = false;
  char buf[256], want[64];
  snprintf(want, sizeof want, "%llu", MEMORY);
  for (int i = 0; i < cg->n_paths; i++)
    {
      const char *dir = cg->paths[i];
      if (read_limit(dir, "memory.limit_in_bytes", buf, sizeof buf) ||
          read_limit(dir, "memory.max", buf, sizeof buf))
        {
          assert_string_equal(buf, want);
          memory = true;
        }
      if (read_limit(dir, "memory.memsw.limit_in_bytes", buf, sizeof buf))
        assert_string_equal(buf, want);
      if (read_limit(dir, "memory.swap.max", buf, sizeof buf))
        assert_string_equal(buf, "0");
      if (read_limit(dir, "pids.max", buf, sizeof buf))
        {
          assert_string_equal(buf, "16");
          pids = true;
        }
      if (read_limit(dir, "cpu.cfs_quota_us", buf, sizeof buf))
        {
          assert_string_equal(buf, "50000");
          cpu = true;
        }
      if (read_limit(dir, "cpu.max", buf, sizeof buf))
        {
          assert_string_equal(buf, "50000 100000");
          cpu = true;
        }
    }
  assert_true(memory);
  assert_true(pids);
  assert_true(cpu);
}

static void
slurp(const char *path, char *buf, size_t size)
{
  FILE *f = fopen(path, "re");
  if (f == NULL)
    fail_msg("open %s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
}

/* PID's /proc/PID/cgroup must name each of the cgroup's directories, and each directory's
 * cgroup.procs must list PID.  */
static void
check_membership(const struct tars_cgroup *cg, pid_t pid)
{
  char path[64], self[4096], procs[4096];
  snprintf(path, sizeof path, "/proc/%ld/cgroup", (long)pid);
  slurp(path, self, sizeof self);

  char pidline[32];
  snprintf(pidline, sizeof pidline, "%ld\n", (long)pid);
  for (int i = 0; i < cg->n_paths; i++)
    {
      /* The path inside the hierarchy: what follows /sys/fs/cgroup (v2) or
       * /sys/fs/cgroup/<hierarchy> (v1).  */
      const char *rel = cg->paths[i] + strlen("/sys/fs/cgroup");
      if (cg->version == 1)
        rel = strchr(rel + 1, '/');
      assert_non_null(rel);
      char line[600];
      snprintf(line, sizeof line, ":%s\n", rel);
      if (strstr(self, line) == NULL)
        fail_msg("%s does not list %s:\n%s", path, rel, self);

      char file[600];
      snprintf(file, sizeof file, "%s/cgroup.procs", cg->paths[i]);
      slurp(file, procs, sizeof procs);
      if (strncmp(procs, pidline, strlen(pidline)) != 0 && strstr(procs, pidline) == NULL)
        fail_msg("%s does not list %ld", file, (long)pid);
    }
}

static void
check_removed(const struct tars_cgroup *copy)
{
  struct stat st;
  for (int i = 0; i < copy->n_paths; i++)
    if (stat(copy->paths[i], &st) == 0 || errno != ENOENT)
      fail_msg("%s still exists after destroy", copy->paths[i]);
}

/* The child: wait for "go", fork until the pids limit says no (bounded), report, then wait to be
 * killed, with all it forked.  */
static void
bomb_child(int go_rd, int report_wr)
{
  char c;
  if (read(go_rd, &c, 1) != 1)
    _exit(1);
  int report[2] = {0, 0};
  for (int i = 0; i < 200; i++)
    {
      pid_t pid = fork();
      if (pid == 0)
        {
          for (;;)
            pause();
        }
      if (pid < 0)
        {
          report[1] = errno;
          break;
        }
      report[0]++;
    }
  if (write(report_wr, report, sizeof report) != sizeof report)
    _exit(1);
  for (;;)
    pause();
}

static void
create_attach_limit_destroy(void **state)
{
  if (!need_root())
    skip();
  struct tars_spec spec;
  test_spec(&spec);
  struct tars_cgroup cg;
  if (!create_as_root(&cg, &spec))
    skip();
  struct tars_cgroup copy = cg;
  check_limits(&cg);

  int go[2], report[2];
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  assert_int_equal(pipe2(report, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      close(go[1]);
      close(report[0]);
      bomb_child(go[0], report[1]);
    }
  close(go[0]);
  close(report[1]);

  struct tars_error err = {0};
  if (tars_cgroup_attach(&cg, pid, &err) < 0)
    {
      kill(pid, SIGKILL);
      fail_msg("tars_cgroup_attach: %s", err.msg);
    }
  check_membership(&cg, pid);

  assert_int_equal(write(go[1], "g", 1), 1);
  int result[2];
  assert_int_equal(read(report[0], result, sizeof result), sizeof result);
  print_message("fork bomb: %d forks before: %s\n", result[0], strerror(result[1]));
  /* The child itself is one of the 16.  */
  assert_int_equal(result[0], PIDS - 1);
  assert_int_equal(result[1], EAGAIN);

  tars_cgroup_destroy(&cg);
  assert_false(cg.active);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
  check_removed(&copy);
  close(go[1]);
  close(report[0]);
}

static void
memory_limit_kills(void **state)
{
  if (!need_root())
    skip();
  struct tars_spec spec;
  test_spec(&spec);
  struct tars_cgroup cg;
  if (!create_as_root(&cg, &spec))
    skip();
  struct tars_cgroup copy = cg;

  int go[2];
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      char c;
      close(go[1]);
      if (read(go[0], &c, 1) != 1)
        _exit(1);
      /* Four times the limit, touched page by page.  */
      size_t len = 4 * MEMORY;
      char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED)
        _exit(2);
      for (size_t off = 0; off < len; off += 4096)
        p[off] = 1;
      _exit(0);
    }
  close(go[0]);
  struct tars_error err = {0};
  if (tars_cgroup_attach(&cg, pid, &err) < 0)
    {
      kill(pid, SIGKILL);
      fail_msg("tars_cgroup_attach: %s", err.msg);
    }
  assert_int_equal(write(go[1], "g", 1), 1);
  close(go[1]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  tars_cgroup_destroy(&cg);
  check_removed(&copy);
  /* Without swap accounting a machine with swap could page out instead: then only the
   * exit is checked.  */
  if (WIFEXITED(status))
    {
      FILE *swaps = fopen("/proc/swaps", "re");
      char line[256];
      int lines = 0;
      while (swaps && fgets(line, sizeof line, swaps))
        lines++;
      if (swaps)
        fclose(swaps);
      if (lines > 1)
        {
          print_message("swap is on and not limited: memory kill not checked\n");
          return;
        }
      fail_msg("a child touching %llu bytes under a %llu limit exited with %d", 4 * MEMORY, MEMORY,
               WEXITSTATUS(status));
    }
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void
empty_cgroups_are_removed(void **state)
{
  if (!need_root())
    skip();
  struct tars_spec spec;
  test_spec(&spec);
  spec.cpu_quota_pct = 0;
  struct tars_cgroup a, b;
  if (!create_as_root(&a, &spec))
    skip();
  assert_true(create_as_root(&b, &spec));
  /* Two sandboxes of one process get two cgroups.  */
  assert_string_not_equal(a.paths[0], b.paths[0]);
  struct tars_cgroup ca = a, cb = b;
  tars_cgroup_destroy(&b);
  tars_cgroup_destroy(&a);
  check_removed(&ca);
  check_removed(&cb);
  /* A second destroy is harmless.  */
  tars_cgroup_destroy(&a);
}

static void
unprivileged_gets_a_note(void **state)
{
  if (geteuid() == 0)
    {
      print_message("needs an unprivileged user (su tarsdev -c <this test>): test skipped\n");
      skip();
    }
  struct tars_spec spec;
  test_spec(&spec);
  struct tars_cgroup cg;
  char note[512] = "";
  struct tars_error err = {0};
  int r = tars_cgroup_create(&cg, &spec, note, sizeof note, &err);
  if (r < 0)
    fail_msg("tars_cgroup_create: %s", err.msg);
  if (cg.active)
    {
      /* A delegated cgroup v2 subtree: then it must work as for root.  */
      print_message("a delegated cgroup v2 subtree was used: %s\n", cg.paths[0]);
      assert_int_equal(cg.version, 2);
      check_limits(&cg);
      struct tars_cgroup copy = cg;
      tars_cgroup_destroy(&cg);
      check_removed(&copy);
      return;
    }
  print_message("note: %s\n", note);
  assert_true(strlen(note) > 0);
  assert_non_null(strstr(note, "not applied"));
  assert_int_equal(cg.n_paths, 0);
  /* Inactive: attach and destroy do nothing.  */
  assert_int_equal(tars_cgroup_attach(&cg, getpid(), &err), 0);
  tars_cgroup_destroy(&cg);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(create_attach_limit_destroy),
      cmocka_unit_test(memory_limit_kills),
      cmocka_unit_test(empty_cgroups_are_removed),
      cmocka_unit_test(unprivileged_gets_a_note),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
