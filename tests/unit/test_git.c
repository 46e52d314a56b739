/* Git commits of a transaction's paths, checked with the git CLI as an independent oracle.
 *
 * git and libgit2 see only the test's own configuration: GIT_CONFIG_NOSYSTEM for git, an empty
 * HOME (and XDG_CONFIG_HOME) for both, and user.name/user.email in each repository.  The test
 * of a missing libgit2 runs first: once loaded, libgit2 stays loaded.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "apply/git.h"
#include "tars/cleanup.h"

static char home_dir[] = "/tmp/tars-git-home-XXXXXX";

/* ----- helpers ----- */

struct fx
{
  char dir[64];
};

static void
vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
  int n = vsnprintf(buf, size, fmt, ap);
  assert_true(n >= 0 && (size_t)n < size);
}

/* Run a shell command in DIR; returns its exit status.  */
__attribute__((format(printf, 2, 3))) static int
sh(const char *dir, const char *fmt, ...)
{
  char cmd[4096], full[4200];
  va_list ap;
  va_start(ap, fmt);
  vformat(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "cd '%s' && { %s; } >/dev/null 2>&1", dir, cmd);
  int st = system(full);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#define SH(dir, ...) assert_int_equal(sh(dir, __VA_ARGS__), 0)

/* A shell command's standard output, run in DIR; the caller frees it.  */
__attribute__((format(printf, 2, 3))) static char *
out(const char *dir, const char *fmt, ...)
{
  char cmd[4096], full[4200];
  va_list ap;
  va_start(ap, fmt);
  vformat(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "cd '%s' && { %s; } 2>/dev/null", dir, cmd);
  FILE *p = popen(full, "r");
  assert_non_null(p);
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
    {
      len += n;
      if (cap - len == 1)
        {
          cap *= 2;
          buf = realloc(buf, cap);
          assert_non_null(buf);
        }
    }
  buf[len] = '\0';
  pclose(p);
  return buf;
}

#define ASSERT_OUT(expected, dir, ...)                                                             \
  do                                                                                               \
    {                                                                                              \
      cleanup_free char *got_ = out(dir, __VA_ARGS__);                                             \
      assert_string_equal(got_, expected);                                                         \
    }                                                                                              \
  while (0)

static void
write_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static int
setup_dir(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  snprintf(fx->dir, sizeof fx->dir, "/tmp/tars-git-XXXXXX");
  if (mkdtemp(fx->dir) == NULL)
    return -1;
  *state = fx;
  return 0;
}

/* A repository with a configured user and one commit on main.  */
static int
setup_repo(void **state)
{
  if (setup_dir(state) < 0)
    return -1;
  struct fx *fx = *state;
  return sh(fx->dir, "git init -q -b main && git config user.name 'Test User' && "
                     "git config user.email test@example.com && "
                     "printf 'one\\n' > mod.txt && printf 'gone\\n' > del.txt && "
                     "printf '#!/bin/sh\\n' > exec.sh && printf 's0\\n' > staged.txt && "
                     "printf 'u0\\n' > unstaged.txt && mkdir olddir && printf 'x\\n' > "
                     "olddir/x.txt && printf 'y\\n' > olddir/y.txt && git add -A && "
                     "git commit -q -m initial") == 0
             ? 0
             : -1;
}

static int
teardown(void **state)
{
  struct fx *fx = *state;
  if (fx)
    {
      char cmd[128];
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
      if (system(cmd) != 0)
        return -1;
      free(fx);
    }
  return 0;
}

static const char message[] = "tars: apply txn-1 (execution E1, step S1)\n\n"
                              "Tars-Transaction: txn-1\n";

static void
commit_ok(const char *dir, const char *const *paths, size_t n, char id[48])
{
  struct tars_error err = {0};
  int r = tars_git_commit_paths(dir, paths, n, message, id, &err);
  if (r < 0)
    fail_msg("commit: %s", err.msg);
  assert_int_equal(strlen(id), 40);
}

/* ----- tests ----- */

static void
missing_library_is_a_clear_error(void **state)
{
  struct fx *fx = *state;
  assert_int_equal(tars_git_set_library("libgit2-bogus.so.0"), 0);
  struct tars_error err = {0};
  char id[48] = "x";
  const char *paths[] = {"mod.txt"};
  assert_int_equal(tars_git_commit_paths(fx->dir, paths, 1, message, id, &err), -1);
  assert_string_equal(id, "");
  static const char expected[] = "git support needs libgit2 (libgit2-";
  if (strncmp(err.msg, expected, strlen(expected)) != 0 ||
      strstr(err.msg, "): libgit2-bogus.so.0: cannot open shared object file") == NULL)
    fail_msg("unexpected message: %s", err.msg);
  /* A failed load is not remembered.  */
  assert_int_equal(tars_git_set_library(NULL), 0);
}

static void
load_once_and_time_it(void **state)
{
  struct tars_error err = {0};
  struct timespec a, b, c;
  clock_gettime(CLOCK_MONOTONIC, &a);
  if (tars_git_load(&err) < 0)
    fail_msg("load: %s", err.msg);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_int_equal(tars_git_load(&err), 0);
  clock_gettime(CLOCK_MONOTONIC, &c);
  double first = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  double again = (c.tv_sec - b.tv_sec) * 1e3 + (c.tv_nsec - b.tv_nsec) / 1e6;
  print_message("libgit2 dlopen + init: %.3f ms (second call %.4f ms)\n", first, again);
  /* Loaded: the library can no longer be switched.  */
  assert_int_equal(tars_git_set_library("libgit2-other.so.0"), -1);
  assert_int_equal(errno, EBUSY);
}

static void
commits_exactly_the_paths(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  cleanup_free char *old_head = out(d, "git rev-parse HEAD");

  /* What a transaction wrote.  */
  write_file(d, "mod.txt", "two\n", 0644);
  write_file(d, "new.txt", "new\n", 0644);
  SH(d, "rm del.txt && chmod +x exec.sh && ln -s mod.txt link && mkdir -p new/nested/dir");
  write_file(d, "new/nested/dir/f.txt", "nested\n", 0644);
  /* The user's own work: one staged change, one unstaged, one untracked file.  */
  SH(d, "printf 's1\\n' > staged.txt && git add staged.txt && printf 'u1\\n' > unstaged.txt");
  write_file(d, "untracked.txt", "mine\n", 0644);

  const char *paths[] = {"mod.txt", "new.txt", "del.txt",
                         "exec.sh", "link",    "new/nested/dir/f.txt"};
  char id[48];
  commit_ok(d, paths, sizeof paths / sizeof paths[0], id);

  cleanup_free char *head = out(d, "git rev-parse HEAD");
  assert_int_equal(strncmp(head, id, 40), 0);
  ASSERT_OUT(old_head, d, "git rev-parse HEAD^");
  ASSERT_OUT("refs/heads/main\n", d, "git symbolic-ref HEAD");
  ASSERT_OUT(head, d, "git rev-parse refs/heads/main");
  ASSERT_OUT(message, d, "git cat-file commit HEAD | sed '1,/^$/d'");
  ASSERT_OUT("Test User <test@example.com>\nTest User <test@example.com>\n", d,
             "git log -1 --format='%%an <%%ae>%%n%%cn <%%ce>'");
  ASSERT_OUT("D\tdel.txt\nM\texec.sh\nA\tlink\nM\tmod.txt\nA\tnew.txt\n"
             "A\tnew/nested/dir/f.txt\n",
             d, "git show --no-renames --name-status --format= HEAD");
  ASSERT_OUT("100755\n", d, "git ls-tree HEAD exec.sh | cut -c1-6");
  ASSERT_OUT("120000\n", d, "git ls-tree HEAD link | cut -c1-6");
  ASSERT_OUT("mod.txt", d, "git cat-file -p HEAD:link");
  ASSERT_OUT("two\n", d, "git cat-file -p HEAD:mod.txt");
  ASSERT_OUT("nested\n", d, "git cat-file -p HEAD:new/nested/dir/f.txt");
  /* The user's work is as it was: staged still staged (and not committed), unstaged still
   * unstaged, and the committed paths clean.  */
  ASSERT_OUT("s0\n", d, "git cat-file -p HEAD:staged.txt");
  ASSERT_OUT("u0\n", d, "git cat-file -p HEAD:unstaged.txt");
  ASSERT_OUT("staged.txt\n", d, "git diff --cached --name-only");
  ASSERT_OUT("unstaged.txt\n", d, "git diff --name-only");
  ASSERT_OUT("M  staged.txt\n M unstaged.txt\n?? untracked.txt\n", d, "git status --porcelain");
  ASSERT_OUT("u1\n", d, "cat unstaged.txt");
  /* The index entries carry the files' stat data: nothing needs re-hashing.  */
  ASSERT_OUT("unstaged.txt\n", d, "git diff-files --name-only");
}

static void
deleted_directory_and_file_over_directory(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  /* olddir goes entirely; a file "mod.txt/..."-style swap: exec.sh becomes a directory.  */
  SH(d, "rm -r olddir && rm exec.sh && mkdir exec.sh && printf 'in\\n' > exec.sh/in.txt");
  const char *paths[] = {"olddir", "exec.sh", "exec.sh/in.txt"};
  char id[48];
  commit_ok(d, paths, 3, id);
  ASSERT_OUT("D\texec.sh\nA\texec.sh/in.txt\nD\tolddir/x.txt\nD\tolddir/y.txt\n", d,
             "git show --no-renames --name-status --format= HEAD");
  ASSERT_OUT("", d, "git status --porcelain");

  /* And back: a file where a directory was, named alone.  */
  SH(d, "rm -r exec.sh && printf 'f\\n' > exec.sh");
  const char *back[] = {"exec.sh"};
  commit_ok(d, back, 1, id);
  ASSERT_OUT("A\texec.sh\nD\texec.sh/in.txt\n", d,
             "git show --no-renames --name-status --format= HEAD");
  ASSERT_OUT("", d, "git status --porcelain");
}

static void
user_staged_version_of_a_committed_path_is_kept(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  SH(d, "printf 'staged by user\\n' > mod.txt && git add mod.txt");
  write_file(d, "mod.txt", "from tars\n", 0644);
  const char *paths[] = {"mod.txt"};
  char id[48];
  commit_ok(d, paths, 1, id);
  ASSERT_OUT("from tars\n", d, "git cat-file -p HEAD:mod.txt");
  ASSERT_OUT("staged by user\n", d, "git cat-file -p :mod.txt");
  ASSERT_OUT("MM mod.txt\n", d, "git status --porcelain");
}

static void
unborn_branch_gets_a_root_commit(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  SH(d, "git init -q -b trunk && git config user.name 'Test User' && "
        "git config user.email test@example.com && mkdir -p a/b");
  write_file(d, "a/b/c.txt", "c\n", 0644);
  write_file(d, "other.txt", "o\n", 0644);
  const char *paths[] = {"a/b/c.txt"};
  char id[48];
  commit_ok(d, paths, 1, id);
  ASSERT_OUT("1\n", d, "git rev-list --count HEAD");
  ASSERT_OUT("", d, "git rev-parse -q --verify HEAD^");
  cleanup_free char *head = out(d, "git rev-parse refs/heads/trunk");
  assert_int_equal(strncmp(head, id, 40), 0);
  ASSERT_OUT("a/b/c.txt\n", d, "git ls-tree -r --name-only HEAD");
  ASSERT_OUT("?? other.txt\n", d, "git status --porcelain");
}

static void
detached_head_commits_on_head(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  SH(d, "git checkout -q --detach");
  cleanup_free char *old_head = out(d, "git rev-parse HEAD");
  write_file(d, "mod.txt", "detached\n", 0644);
  const char *paths[] = {"mod.txt"};
  char id[48];
  commit_ok(d, paths, 1, id);
  ASSERT_OUT("", d, "git symbolic-ref -q HEAD");
  ASSERT_OUT(old_head, d, "git rev-parse HEAD^");
  ASSERT_OUT(old_head, d, "git rev-parse refs/heads/main");
  cleanup_free char *head = out(d, "git rev-parse HEAD");
  assert_int_equal(strncmp(head, id, 40), 0);
  ASSERT_OUT("", d, "git status --porcelain");
}

static void
unconfigured_user_signs_as_tars(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  SH(d, "git config --unset user.name && git config --unset user.email");
  write_file(d, "mod.txt", "anon\n", 0644);
  const char *paths[] = {"mod.txt"};
  char id[48];
  commit_ok(d, paths, 1, id);
  ASSERT_OUT("tars <tars@localhost>\ntars <tars@localhost>\n", d,
             "git log -1 --format='%%an <%%ae>%%n%%cn <%%ce>'");
}

static void
bad_paths_are_refused(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  cleanup_free char *old_head = out(d, "git rev-parse HEAD");
  const char *bad[] = {"",       "/etc/passwd", "../x",
                       "a/../b", "./a",         "a//b",
                       "a/",     ".git/config", "sub/.GIT/hooks/pre-commit"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      struct tars_error err = {0};
      char id[48];
      const char *paths[] = {"mod.txt", bad[i]};
      assert_int_equal(tars_git_commit_paths(d, paths, 2, message, id, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
    }
  /* A fifo is neither a file nor a symlink.  */
  SH(d, "mkfifo pipe");
  struct tars_error err = {0};
  char id[48];
  const char *paths[] = {"pipe"};
  assert_int_equal(tars_git_commit_paths(d, paths, 1, message, id, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  ASSERT_OUT(old_head, d, "git rev-parse HEAD");
}

static void
path_beneath_a_symlink_is_not_followed(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  /* olddir becomes a symlink to a directory outside: olddir/x.txt is gone for git, and what
   * the symlink points at must not be committed.  */
  SH(d, "mkdir -p outside && printf 'secret\\n' > outside/x.txt && rm -r olddir && "
        "ln -s outside olddir");
  const char *paths[] = {"olddir/x.txt"};
  char id[48];
  commit_ok(d, paths, 1, id);
  ASSERT_OUT("D\tolddir/x.txt\n", d, "git show --no-renames --name-status --format= HEAD");
}

static void
is_repo(void **state)
{
  struct fx *fx = *state;
  const char *d = fx->dir;
  struct tars_error err = {0};
  assert_int_equal(tars_git_is_repo(d, &err), 0);
  SH(d, "git init -q repo && git -C repo -c user.name=t -c user.email=t@t commit "
        "-q --allow-empty -m x && git -C repo worktree add -q ../wt");
  assert_int_equal(tars_git_is_repo(d, &err), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/repo", d);
  assert_int_equal(tars_git_is_repo(path, &err), 1);
  snprintf(path, sizeof path, "%s/wt", d);
  assert_int_equal(tars_git_is_repo(path, &err), 1);
  /* Not the top of the work tree.  */
  SH(d, "mkdir repo/inner");
  snprintf(path, sizeof path, "%s/repo/inner", d);
  assert_int_equal(tars_git_is_repo(path, &err), 0);
  snprintf(path, sizeof path, "%s/missing", d);
  assert_int_equal(tars_git_is_repo(path, &err), -1);
  assert_int_equal(err.code, ENOENT);
}

static void
not_a_repo_commit_fails(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  char id[48];
  const char *paths[] = {"a"};
  assert_int_equal(tars_git_commit_paths(fx->dir, paths, 1, message, id, &err), -1);
  if (strncmp(err.msg, "git: open the repository", 24) != 0)
    fail_msg("unexpected message: %s", err.msg);
}

int
main(void)
{
  if (mkdtemp(home_dir) == NULL)
    return 1;
  setenv("HOME", home_dir, 1);
  setenv("XDG_CONFIG_HOME", home_dir, 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  unsetenv("GIT_DIR");
  unsetenv("GIT_WORK_TREE");
  unsetenv("GIT_INDEX_FILE");

  const struct CMUnitTest tests[] = {
      /* First: libgit2 is not loaded yet.  */
      cmocka_unit_test_setup_teardown(missing_library_is_a_clear_error, setup_repo, teardown),
      cmocka_unit_test(load_once_and_time_it),
      cmocka_unit_test_setup_teardown(commits_exactly_the_paths, setup_repo, teardown),
      cmocka_unit_test_setup_teardown(deleted_directory_and_file_over_directory, setup_repo,
                                      teardown),
      cmocka_unit_test_setup_teardown(user_staged_version_of_a_committed_path_is_kept, setup_repo,
                                      teardown),
      cmocka_unit_test_setup_teardown(unborn_branch_gets_a_root_commit, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(detached_head_commits_on_head, setup_repo, teardown),
      cmocka_unit_test_setup_teardown(unconfigured_user_signs_as_tars, setup_repo, teardown),
      cmocka_unit_test_setup_teardown(bad_paths_are_refused, setup_repo, teardown),
      cmocka_unit_test_setup_teardown(path_beneath_a_symlink_is_not_followed, setup_repo, teardown),
      cmocka_unit_test_setup_teardown(is_repo, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(not_a_repo_commit_fails, setup_dir, teardown),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home_dir);
  if (system(cmd) != 0)
    r = 1;
  return r;
}
