/* Opening paths beneath the repository root without following symlinks (beneath.h).
 *
 * Every test runs twice: with openat2, and with the O_NOFOLLOW walk forced through the test hook
 * tars_beneath_force_walk.  Two more tests check, under a seccomp filter in a child, that the hook
 * really selects the walk and that an openat2 answering ENOSYS falls back to it.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <seccomp.h>

#include "apply/beneath.h"
#include "tars/cleanup.h"

struct fx
{
  char root[256]; /* holds repo/ and outside/ */
  int repo;       /* repo/, O_RDONLY|O_DIRECTORY */
};

static const char *
at(struct fx *fx, const char *rel)
{
  static char buf[4][PATH_MAX];
  static int turn;
  char *p = buf[turn++ % 4];
  if (snprintf(p, PATH_MAX, "%s/%s", fx->root, rel) >= PATH_MAX)
    fail_msg("path too long: %s", rel);
  return p;
}

static void
put(struct fx *fx, const char *rel, const char *content)
{
  int fd = open(at(fx, rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail_msg("create %s: %s", rel, strerror(errno));
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
}

static char *
slurp(struct fx *fx, const char *rel)
{
  static char buf[256];
  int fd = open(at(fx, rel), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n < 0 ? 0 : n] = '\0';
  return buf;
}

static bool
exists(struct fx *fx, const char *rel)
{
  struct stat st;
  return lstat(at(fx, rel), &st) == 0;
}

/* repo/a/b/f ("file"), repo/a/link -> b, repo/a/b/lf -> f, repo/esc -> ../outside,
 * repo/top -> /, repo/plain (a file), outside/secret ("secret").  */
static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof fx->root, "%s/tars-beneath-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fx->root) == NULL)
    return -1;
  const char *dirs[] = {"repo", "repo/a", "repo/a/b", "outside"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (mkdir(at(fx, dirs[i]), 0755) < 0)
      return -1;
  put(fx, "repo/a/b/f", "file");
  put(fx, "repo/plain", "plain");
  put(fx, "outside/secret", "secret");
  if (symlink("b", at(fx, "repo/a/link")) < 0 || symlink("f", at(fx, "repo/a/b/lf")) < 0 ||
      symlink("../outside", at(fx, "repo/esc")) < 0 || symlink("/", at(fx, "repo/top")) < 0)
    return -1;
  fx->repo = open(at(fx, "repo"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fx->repo < 0)
    return -1;
  *state = fx;
  return 0;
}

static int
setup_openat2(void **state)
{
  tars_beneath_force_walk = false;
  return fx_setup(state);
}

static int
setup_walk(void **state)
{
  tars_beneath_force_walk = true;
  return fx_setup(state);
}

static int
fx_teardown(void **state)
{
  struct fx *fx = *state;
  tars_beneath_force_walk = false;
  close(fx->repo);
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

/* A failed call: -1, errno and ERR's code CODE, and the message mentions WANT.  */
static void
expect_fail(int r, int code, const struct tars_error *err, const char *want)
{
  int e = errno;
  assert_int_equal(r, -1);
  assert_int_equal(e, code);
  assert_int_equal(err->code, code);
  if (want && strstr(err->msg, want) == NULL)
    fail_msg("message \"%s\" does not mention \"%s\"", err->msg, want);
}

/* ----- tests ----- */

static void
opens_a_plain_path(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  char buf[16] = {0};

  int fd = tars_open_beneath(fx->repo, "a/b/f", O_RDONLY, 0, &err);
  assert_true(fd >= 0);
  assert_int_equal(read(fd, buf, sizeof buf - 1), 4);
  assert_string_equal(buf, "file");
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  close(fd);

  fd = tars_open_beneath(fx->repo, "a/b/new", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "n", 1), 1);
  close(fd);
  assert_string_equal(slurp(fx, "repo/a/b/new"), "n");

  fd = tars_open_beneath(fx->repo, "a/b", O_RDONLY | O_DIRECTORY, 0, &err);
  assert_true(fd >= 0);
  close(fd);

  expect_fail(tars_open_beneath(fx->repo, "a/b/missing", O_RDONLY, 0, &err), ENOENT, &err,
              "a/b/missing");
  expect_fail(tars_open_beneath(fx->repo, "plain/x", O_RDONLY, 0, &err), ENOTDIR, &err, "plain/x");
}

static void
symlink_in_the_middle_is_eloop(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};

  /* Even a symlink that stays inside the repository.  */
  expect_fail(tars_open_beneath(fx->repo, "a/link/f", O_RDONLY, 0, &err), ELOOP, &err,
              "symlink on the way");
  assert_non_null(strstr(err.msg, "a/link/f"));
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  expect_fail(tars_open_beneath(fx->repo, "esc/secret", O_WRONLY | O_TRUNC, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(fx->repo, "esc/new", O_WRONLY | O_CREAT, 0644, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(fx->repo, "top/etc/passwd", O_RDONLY, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(fx->repo, "a/link", O_RDONLY | O_DIRECTORY, 0, &err), ELOOP, &err,
              "symlink on the way");
  assert_string_equal(slurp(fx, "outside/secret"), "secret");
  assert_false(exists(fx, "outside/new"));
}

static void
symlink_at_the_end_is_eloop(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};

  expect_fail(tars_open_beneath(fx->repo, "a/b/lf", O_RDONLY, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(fx->repo, "esc", O_RDONLY | O_DIRECTORY, 0, &err), ELOOP, &err,
              "esc");
  assert_int_equal(symlink("../../outside/secret", at(fx, "repo/a/evil")), 0);
  expect_fail(tars_open_beneath(fx->repo, "a/evil", O_WRONLY | O_CREAT | O_TRUNC, 0644, &err),
              ELOOP, &err, "symlink on the way");
  assert_string_equal(slurp(fx, "outside/secret"), "secret");
  assert_string_equal(slurp(fx, "repo/a/b/f"), "file");

  /* O_PATH|O_NOFOLLOW asks for the symlink itself: both implementations give it.  */
  int fd = tars_open_beneath(fx->repo, "a/b/lf", O_PATH, 0, &err);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  close(fd);
}

static void
bad_relpaths_are_rejected(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  struct stat st;
  const char *base;
  const char *bad[] = {
      "",
      "/etc/passwd",
      "..",
      "../outside/secret",
      "a/../../outside/secret",
      "a/..",
      ".",
      "./a",
      "a/./b",
      "a//b",
      "a/",
      "/",
      "a/b/",
  };

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      expect_fail(tars_open_beneath(fx->repo, bad[i], O_RDONLY, 0, &err), EINVAL, &err,
                  "not a relative, normalised path");
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      expect_fail(tars_open_parent_beneath(fx->repo, bad[i], &base, &err), EINVAL, &err, NULL);
      expect_fail(tars_lstat_beneath(fx->repo, bad[i], &st, &err), EINVAL, &err, NULL);
      expect_fail(tars_mkdir_parents_beneath(fx->repo, bad[i], &err), EINVAL, &err, NULL);
    }
  expect_fail(tars_open_beneath(fx->repo, NULL, O_RDONLY, 0, &err), EINVAL, &err, NULL);

  /* A control character is shown escaped, not sent to a terminal as it is.  */
  expect_fail(tars_open_beneath(fx->repo, "a/\n/..", O_RDONLY, 0, &err), EINVAL, &err, "\\x0a");
  assert_null(strchr(err.msg, '\n'));

  char long_path[PATH_MAX + 8];
  memset(long_path, 'x', sizeof long_path - 1);
  long_path[sizeof long_path - 1] = '\0';
  expect_fail(tars_open_beneath(fx->repo, long_path, O_RDONLY, 0, &err), EINVAL, &err, "PATH_MAX");
  char long_name[NAME_MAX + 3];
  memset(long_name, 'y', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  expect_fail(tars_open_beneath(fx->repo, long_name, O_RDONLY, 0, &err), EINVAL, &err, "NAME_MAX");
}

/* The race the walk exists for: a directory checked, then swapped for a symlink before the
 * write.  The second resolution refuses; a descriptor opened before the swap still points into
 * the real directory.  */
static void
directory_swapped_for_a_symlink(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  struct stat st;
  const char *base;

  assert_int_equal(tars_lstat_beneath(fx->repo, "a/b", &st, &err), 0);
  assert_true(S_ISDIR(st.st_mode));
  int parent = tars_open_parent_beneath(fx->repo, "a/b/f", &base, &err);
  assert_true(parent >= 0);
  assert_string_equal(base, "f");

  assert_int_equal(rename(at(fx, "repo/a/b"), at(fx, "repo/a/b.old")), 0);
  assert_int_equal(symlink("../../outside", at(fx, "repo/a/b")), 0);

  expect_fail(tars_open_beneath(fx->repo, "a/b/secret", O_WRONLY | O_TRUNC, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(fx->repo, "a/b/f", O_WRONLY | O_CREAT, 0644, &err), ELOOP, &err,
              "symlink on the way");
  const char *base2;
  expect_fail(tars_open_parent_beneath(fx->repo, "a/b/f", &base2, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_lstat_beneath(fx->repo, "a/b/secret", &st, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_mkdir_parents_beneath(fx->repo, "a/b/sub/x", &err), ELOOP, &err,
              "symlink on the way");

  /* What was opened before the swap writes into the real directory, not outside.  */
  int fd = openat(parent, base, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "new", 3), 3);
  close(fd);
  close(parent);
  assert_string_equal(slurp(fx, "repo/a/b.old/f"), "new");
  assert_string_equal(slurp(fx, "outside/secret"), "secret");
  assert_false(exists(fx, "outside/f"));
  assert_false(exists(fx, "outside/sub"));
}

/* /proc/self/root, /proc/self/cwd and /proc/self/fd/N are magic links: following one jumps
 * anywhere, whatever the root.  */
static void
magic_links_are_refused(void **state)
{
  (void)state;
  struct tars_error err = {0};
  char fdpath[32];
  int proc = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0)
    skip();
  int victim = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
  if (victim < 0)
    victim = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
  assert_true(victim >= 0);
  snprintf(fdpath, sizeof fdpath, "fd/%d", victim);

  expect_fail(tars_open_beneath(proc, "root/etc/passwd", O_RDONLY, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(proc, "cwd/x", O_RDONLY, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(proc, fdpath, O_RDONLY, 0, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_open_beneath(proc, "root", O_RDONLY | O_DIRECTORY, 0, &err), ELOOP, &err,
              "symlink on the way");
  struct stat st;
  /* lstat of the magic link itself is harmless and allowed; going through it is not.  */
  assert_int_equal(tars_lstat_beneath(proc, "root", &st, &err), 0);
  assert_true(S_ISLNK(st.st_mode));
  expect_fail(tars_lstat_beneath(proc, "root/etc", &st, &err), ELOOP, &err, "symlink on the way");
  close(victim);
  close(proc);
}

static void
open_parent_gives_a_writable_directory(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  const char *base = NULL;
  struct stat st;

  int fd = tars_open_parent_beneath(fx->repo, "plain", &base, &err);
  assert_true(fd >= 0);
  assert_true(fd != fx->repo);
  assert_string_equal(base, "plain");
  assert_int_equal(fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(S_ISREG(st.st_mode));
  close(fd);

  const char *path = "a/b/f";
  fd = tars_open_parent_beneath(fx->repo, path, &base, &err);
  assert_true(fd >= 0);
  assert_ptr_equal(base, path + 4);
  /* A real directory descriptor: fsync works on it (it does not on O_PATH).  */
  assert_int_equal(fsync(fd), 0);
  assert_int_equal(fstat(fd, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(renameat(fd, "f", fd, "g"), 0);
  assert_true(exists(fx, "repo/a/b/g"));
  close(fd);

  expect_fail(tars_open_parent_beneath(fx->repo, "missing/x", &base, &err), ENOENT, &err,
              "missing/x");
  expect_fail(tars_open_parent_beneath(fx->repo, "plain/x", &base, &err), ENOTDIR, &err, "plain/x");
}

static void
lstat_does_not_follow(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  struct stat st;

  assert_int_equal(tars_lstat_beneath(fx->repo, "a/b/f", &st, &err), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_size, 4);
  assert_int_equal(tars_lstat_beneath(fx->repo, "esc", &st, &err), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(tars_lstat_beneath(fx->repo, "a/b/lf", &st, &err), 0);
  assert_true(S_ISLNK(st.st_mode));
  expect_fail(tars_lstat_beneath(fx->repo, "a/b/nothing", &st, &err), ENOENT, &err, "a/b/nothing");
  expect_fail(tars_lstat_beneath(fx->repo, "nothing/x", &st, &err), ENOENT, &err, "nothing/x");
  expect_fail(tars_lstat_beneath(fx->repo, "esc/secret", &st, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_lstat_beneath(fx->repo, "a/link/f", &st, &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_lstat_beneath(fx->repo, "plain/x", &st, &err), ENOTDIR, &err, "plain/x");
}

static void
mkdir_parents_beneath(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  struct stat st;

  assert_int_equal(tars_mkdir_parents_beneath(fx->repo, "x/y/z/file", &err), 0);
  assert_int_equal(lstat(at(fx, "repo/x/y/z"), &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_false(exists(fx, "repo/x/y/z/file"));
  /* Again: everything exists.  A single component has no parent to make.  */
  assert_int_equal(tars_mkdir_parents_beneath(fx->repo, "x/y/z/file", &err), 0);
  assert_int_equal(tars_mkdir_parents_beneath(fx->repo, "single", &err), 0);
  assert_false(exists(fx, "repo/single"));

  expect_fail(tars_mkdir_parents_beneath(fx->repo, "esc/made/file", &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_mkdir_parents_beneath(fx->repo, "a/link/made/file", &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_mkdir_parents_beneath(fx->repo, "top/tmp/made/file", &err), ELOOP, &err,
              "symlink on the way");
  expect_fail(tars_mkdir_parents_beneath(fx->repo, "plain/made/file", &err), ENOTDIR, &err,
              "plain/made/file");
  assert_false(exists(fx, "outside/made"));
  assert_false(exists(fx, "repo/a/b/made"));
  assert_int_equal(lstat("/tmp/made", &st), -1);
}

/* A mount inside the repository (a bind mount of / would be the worst) is not crossed.  Needs a
 * private mount namespace: a child, as root.  */
static void
mount_points_are_not_crossed(void **state)
{
  struct fx *fx = *state;
  if (geteuid() != 0)
    skip();
  assert_int_equal(mkdir(at(fx, "repo/mnt"), 0755), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      struct tars_error err = {0};
      struct stat st;
      if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        _exit(77);
      if (mount("/", at(fx, "repo/mnt"), NULL, MS_BIND, NULL) < 0)
        _exit(77);
      /* The descriptor opened before unshare is on the old namespace's mount, which does not
       * have the bind mount.  */
      close(fx->repo);
      fx->repo = open(at(fx, "repo"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (tars_open_beneath(fx->repo, "mnt/etc/passwd", O_RDONLY, 0, &err) >= 0 || errno != EXDEV ||
          !strstr(err.msg, "mount point"))
        _exit(1);
      if (tars_open_beneath(fx->repo, "mnt", O_RDONLY | O_DIRECTORY, 0, &err) >= 0 ||
          errno != EXDEV)
        _exit(2);
      if (tars_mkdir_parents_beneath(fx->repo, "mnt/tmp/x/y", &err) >= 0 || errno != EXDEV)
        _exit(3);
      if (tars_lstat_beneath(fx->repo, "mnt/etc", &st, &err) >= 0 || errno != EXDEV)
        _exit(4);
      _exit(0);
    }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    skip();
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* In a child, make openat2 fail with ERRNUM (seccomp), then run the checks: a plain open works
 * exactly when EXPECT_OPEN, and a symlink on the way is refused either way.  */
static int
child_with_openat2_failing(struct fx *fx, int errnum, bool force_walk, bool expect_open)
{
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      struct tars_error err = {0};
      scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
      if (ctx == NULL || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errnum), SCMP_SYS(openat2), 0) < 0 ||
          prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load(ctx) < 0)
        _exit(77);
      tars_beneath_force_walk = force_walk;
      int fd = tars_open_beneath(fx->repo, "a/b/f", O_RDONLY, 0, &err);
      if ((fd >= 0) != expect_open)
        _exit(1);
      if (tars_open_beneath(fx->repo, "a/link/f", O_RDONLY, 0, &err) >= 0 ||
          (expect_open && errno != ELOOP))
        _exit(2);
      if (tars_open_beneath(fx->repo, "esc/x", O_WRONLY | O_CREAT, 0644, &err) >= 0)
        _exit(3);
      _exit(0);
    }
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

static void
hook_selects_the_walk(void **state)
{
  struct fx *fx = *state;
  /* openat2 broken with EPERM (not a "missing" answer): only the walk can open.  */
  int r = child_with_openat2_failing(fx, EPERM, true, true);
  if (r == 77)
    skip();
  assert_int_equal(r, 0);
  assert_int_equal(child_with_openat2_failing(fx, EPERM, false, false), 0);
  assert_false(exists(fx, "outside/x"));
}

static void
enosys_falls_back_to_the_walk(void **state)
{
  struct fx *fx = *state;
  int r = child_with_openat2_failing(fx, ENOSYS, false, true);
  if (r == 77)
    skip();
  assert_int_equal(r, 0);
  assert_int_equal(child_with_openat2_failing(fx, E2BIG, false, true), 0);
  assert_false(exists(fx, "outside/x"));
}

#define BOTH(f)                                                                                    \
  {#f " [openat2]", f, setup_openat2, fx_teardown, NULL},                                          \
  {                                                                                                \
#f " [walk]", f, setup_walk, fx_teardown, NULL                                                 \
  }

int
main(void)
{
  const struct CMUnitTest tests[] = {
      BOTH(opens_a_plain_path),
      BOTH(symlink_in_the_middle_is_eloop),
      BOTH(symlink_at_the_end_is_eloop),
      BOTH(bad_relpaths_are_rejected),
      BOTH(directory_swapped_for_a_symlink),
      BOTH(magic_links_are_refused),
      BOTH(open_parent_gives_a_writable_directory),
      BOTH(lstat_does_not_follow),
      BOTH(mkdir_parents_beneath),
      BOTH(mount_points_are_not_crossed),
      cmocka_unit_test_setup_teardown(hook_selects_the_walk, setup_openat2, fx_teardown),
      cmocka_unit_test_setup_teardown(enosys_falls_back_to_the_walk, setup_openat2, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
