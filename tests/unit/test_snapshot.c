/* Snapshots (what is copied, what is left out, reuse by content) and layers made from
 * changesets (whiteouts, opaque directories, modes), checked on disk and through a real overlay
 * in a sandbox.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "validate/snapshot.h"
#include "store/store.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"
#include "testutil.h"

static char g_root[512];

#define sh test_sh

static const char *
at(const char *rel)
{
  static char buf[4][PATH_MAX];
  static int i;
  i = (i + 1) % 4;
  snprintf(buf[i], sizeof buf[i], "%s/%s", g_root, rel);
  return buf[i];
}

static int
setup(void **state)
{
  snprintf(g_root, sizeof g_root, "%s/tars-snapshot-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp");
  assert_non_null(mkdtemp(g_root));
  sh("mkdir -p %s/repo", g_root);
  return 0;
}

static int
teardown(void **state)
{
  cleanup_close int fd = open("/", O_RDONLY | O_DIRECTORY);
  test_rm_tree_at(fd, g_root + 1);
  return 0;
}

static struct tars_store *
open_store(void)
{
  struct tars_store *s = NULL;
  struct tars_error err = {0};
  if (tars_store_open(at("repo"), true, &s, &err) < 0)
    fail_msg("open the store: %s", err.msg);
  return s;
}

static void
plain_directory(void **state)
{
  sh("cd %s/repo && printf 'a\\n' > a && mkdir -p sub/deep && printf 'b\\n' > sub/b && "
     "chmod 755 sub/b && ln -s a link && mkfifo fifo && printf 'c\\n' > sub/deep/c",
     g_root);
  struct tars_store *s = open_store();
  struct tars_snapshot snap;
  struct tars_error err = {0};
  assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
  assert_false(snap.reused);
  assert_int_equal(snap.files, 4); /* a, sub/b, link, sub/deep/c: no fifo, nothing of .tars */
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/sub/b", snap.path);
  assert_int_equal(lstat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0755);
  snprintf(path, sizeof path, "%s/link", snap.path);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  snprintf(path, sizeof path, "%s/fifo", snap.path);
  assert_int_equal(lstat(path, &st), -1);
  snprintf(path, sizeof path, "%s/.tars", snap.path);
  assert_int_equal(lstat(path, &st), -1);
  sh("cmp %s/repo/sub/deep/c %s/sub/deep/c", g_root, snap.path);
  char id[65];
  memcpy(id, snap.id, sizeof id);
  tars_snapshot_free(&snap);

  /* Same content: the same snapshot, reused.  */
  assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
  assert_true(snap.reused);
  assert_string_equal(snap.id, id);
  tars_snapshot_free(&snap);

  /* A mode or a byte changes the id.  */
  sh("chmod 600 %s/repo/a", g_root);
  assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
  assert_false(snap.reused);
  assert_string_not_equal(snap.id, id);
  memcpy(id, snap.id, sizeof id);
  tars_snapshot_free(&snap);
  sh("printf 'C\\n' > %s/repo/sub/deep/c", g_root);
  assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
  assert_string_not_equal(snap.id, id);
  tars_snapshot_free(&snap);
  tars_store_close(s);
}

static int
count_snapshots(void)
{
  char cmd[PATH_MAX];
  snprintf(cmd, sizeof cmd, "ls %s/repo/.tars/snapshots | wc -l", g_root);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f == NULL || fscanf(f, "%d", &n) != 1)
    fail_msg("count the snapshots");
  pclose(f);
  return n;
}

/* Old snapshots are pruned (the current one and the 3 most recently used are kept), except one
 * that another process holds.  */
static void
old_snapshots_pruned(void **state)
{
  struct tars_store *s = open_store();
  struct tars_error err = {0};
  struct tars_snapshot held;
  sh("printf 0 > %s/repo/f", g_root);
  assert_int_equal(tars_snapshot_take(s, &held, &err), 0);
  for (int i = 1; i <= 6; i++)
    {
      struct tars_snapshot snap;
      sh("printf %d > %s/repo/f", i, g_root);
      assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
      tars_snapshot_free(&snap);
    }
  assert_int_equal(count_snapshots(), 5); /* 4 kept, and the held one */
  struct stat st;
  assert_int_equal(stat(held.path, &st), 0);
  tars_snapshot_free(&held);
  struct tars_snapshot snap;
  sh("printf 7 > %s/repo/f", g_root);
  assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
  tars_snapshot_free(&snap);
  assert_int_equal(count_snapshots(), 4);
  tars_store_close(s);
}

static void
git_work_tree(void **state)
{
  sh("cd %s/repo && git init -q . && printf 'build/\\n*.o\\n' > .gitignore && "
     "printf 'x\\n' > tracked && printf 'y\\n' > gone && mkdir build && printf 'o' > build/out && "
     "printf 'o' > a.o && git add -A && git -c user.name=t -c user.email=t@t commit -qm init && "
     "printf 'u\\n' > untracked && rm gone",
     g_root);
  struct tars_store *s = open_store();
  struct tars_snapshot snap;
  struct tars_error err = {0};
  assert_int_equal(tars_snapshot_take(s, &snap, &err), 0);
  char path[PATH_MAX];
  struct stat st;
  const char *present[] = {".gitignore", "tracked", "untracked"};
  const char *absent[] = {"gone", "build", "a.o", ".git", ".tars"};
  for (size_t i = 0; i < sizeof present / sizeof *present; i++)
    {
      snprintf(path, sizeof path, "%s/%s", snap.path, present[i]);
      if (lstat(path, &st) != 0)
        fail_msg("%s missing from the snapshot", present[i]);
    }
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
    {
      snprintf(path, sizeof path, "%s/%s", snap.path, absent[i]);
      if (lstat(path, &st) == 0)
        fail_msg("%s should not be in the snapshot", absent[i]);
    }
  assert_int_equal(snap.files, 3);
  tars_snapshot_free(&snap);
  tars_store_close(s);
}

/* A changeset written by hand: every kind of entry a layer must express.  */
static void
write_changeset(const char *dir)
{
  sh("mkdir -p %s/objects && cd %s && printf 'new\\n' > objects/n && printf 'mod\\n' > objects/m "
     "&& for f in n m; do h=$(sha256sum objects/$f | cut -c1-64); mv objects/$f objects/$h; "
     "echo $h > $f.h; done",
     dir, dir);
  sh("cd %s && base_old=$(sha256sum %s/repo/old | cut -c1-64) && "
     "base_a=$(sha256sum %s/repo/a | cut -c1-64) && base_x=$(sha256sum %s/repo/x | cut -c1-64) "
     "&& base_g=$(sha256sum %s/repo/gone/f | cut -c1-64) && "
     "cat > manifest.json <<EOF\n"
     "{\"version\": 1, \"entries\": [\n"
     " {\"path\": \"x\", \"op\": \"delete\", \"type\": \"file\", \"base_sha256\": \"$base_x\"},\n"
     " {\"path\": \"old\", \"op\": \"delete\", \"type\": \"file\", \"base_sha256\": "
     "\"$base_old\"},\n"
     " {\"path\": \"gone/f\", \"op\": \"delete\", \"type\": \"file\", \"base_sha256\": "
     "\"$base_g\"},\n"
     " {\"path\": \"gone\", \"op\": \"delete\", \"type\": \"dir\", \"base_sha256\": null},\n"
     " {\"path\": \"a\", \"op\": \"modify\", \"type\": \"file\", \"mode\": \"0755\", \"size\": 4, "
     "\"sha256\": \"$(cat m.h)\", \"base_sha256\": \"$base_a\"},\n"
     " {\"path\": \"d\", \"op\": \"mkdir\", \"type\": \"dir\", \"mode\": \"0750\"},\n"
     " {\"path\": \"d/n\", \"op\": \"create\", \"type\": \"file\", \"mode\": \"0644\", \"size\": "
     "4, "
     "\"sha256\": \"$(cat n.h)\", \"base_sha256\": null},\n"
     " {\"path\": \"l\", \"op\": \"symlink\", \"type\": \"symlink\", \"target\": \"a\"},\n"
     " {\"path\": \"ro\", \"op\": \"chmod\", \"type\": \"file\", \"mode\": \"0600\", "
     "\"base_sha256\": \"$(sha256sum %s/repo/ro | cut -c1-64)\"},\n"
     " {\"path\": \"x\", \"op\": \"mkdir\", \"type\": \"dir\", \"mode\": \"0755\"}\n"
     "]}\n"
     "EOF\n"
     "rm -f n.h m.h",
     dir, g_root, g_root, g_root, g_root, g_root);
}

static void
layer_from_changeset(void **state)
{
  sh("cd %s/repo && printf 'a\\n' > a && printf 'o\\n' > old && printf 'x\\n' > x && "
     "mkdir gone && printf 'f\\n' > gone/f && printf 'r\\n' > ro",
     g_root);
  write_changeset(at("cs"));
  cleanup_close int cs_fd = open(at("cs"), O_RDONLY | O_DIRECTORY);
  cleanup_close int base_fd = open(at("repo"), O_RDONLY | O_DIRECTORY);
  sh("mkdir %s/layer", g_root);
  cleanup_close int out_fd = open(at("layer"), O_RDONLY | O_DIRECTORY);
  struct tars_changeset cs = {0};
  struct tars_error err = {0};
  if (tars_changeset_load(cs_fd, &cs, &err) < 0)
    fail_msg("load: %s", err.msg);
  if (tars_layer_from_changeset(&cs, cs_fd, base_fd, out_fd, 0, &err) < 0)
    fail_msg("layer: %s", err.msg);
  tars_changeset_free(&cs);

  struct stat st;
  assert_int_equal(lstat(at("layer/old"), &st), 0);
  assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
  assert_int_equal(lstat(at("layer/gone"), &st), 0); /* one whiteout for the directory */
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(lstat(at("layer/a"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0755);
  assert_int_equal(lstat(at("layer/d"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0750);
  assert_int_equal(lstat(at("layer/ro"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  sh("cmp %s/repo/ro %s/layer/ro", g_root, g_root);
  assert_int_equal(lstat(at("layer/x"), &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  char v[4] = "";
  assert_int_equal(lgetxattr(at("layer/x"), "user.overlay.opaque", v, sizeof v), 1);
  assert_int_equal(v[0], 'y');

  /* Moving the objects instead of copying them gives the same layer, and spends the changeset. */
  sh("cp -a %s/cs %s/cs2 && mkdir %s/layer2", g_root, g_root, g_root);
  cleanup_close int cs2_fd = open(at("cs2"), O_RDONLY | O_DIRECTORY);
  cleanup_close int out2_fd = open(at("layer2"), O_RDONLY | O_DIRECTORY);
  if (tars_changeset_load(cs2_fd, &cs, &err) < 0)
    fail_msg("load: %s", err.msg);
  if (tars_layer_from_changeset(&cs, cs2_fd, base_fd, out2_fd, TARS_LAYER_MOVE_OBJECTS, &err) < 0)
    fail_msg("layer: %s", err.msg);
  tars_changeset_free(&cs);
  sh("cd %s && cmp layer/a layer2/a && cmp layer/d/n layer2/d/n && cmp layer/ro layer2/ro && "
     "test -c layer2/old && test -c layer2/gone && test \"$(stat -c %%a layer2/a)\" = 755 && "
     "test -z \"$(ls cs2/objects)\"",
     g_root);

  /* Through a real overlay: the merged view is the repository with the changeset applied.  */
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  char layer[PATH_MAX];
  snprintf(layer, sizeof layer, "%s", at("layer"));
  char script[PATH_MAX * 2];
  snprintf(script, sizeof script,
           "cd %s/repo && test ! -e old && test ! -e gone && test \"$(cat a)\" = mod && "
           "test -x a && test \"$(cat d/n)\" = new && test -d x && test \"$(readlink l)\" = a && "
           "test \"$(cat ro)\" = r",
           g_root);
  char *argv[] = {"/bin/sh", "-c", script, NULL};
  spec.argv = argv;
  spec.workspace = (char *)at("repo");
  spec.layers[0] = layer;
  spec.n_layers = 1;
  spec.capture_output = true;
  struct tars_result res = {0};
  if (tars_sandbox_run(&spec, &res, &err) < 0)
    fail_msg("sandbox: %s", err.msg);
  if (res.status != 0)
    fail_msg("the merged view is wrong (status %d): %s%s", res.status, res.out ? res.out : "",
             res.err ? res.err : "");
  tars_result_free(&res);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(plain_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(old_snapshots_pruned, setup, teardown),
      cmocka_unit_test_setup_teardown(git_work_tree, setup, teardown),
      cmocka_unit_test_setup_teardown(layer_from_changeset, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
