/* The sandbox's view as data (runtime/src/view.c): what the default view shows, where the
 * secrets are covered, and what a spec may not ask for.  No namespace is entered: the view is
 * built on the host, from the spec, the homes and a mount table the test gives.  */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "view.h"

struct fx
{
  char root[64];
  char tree[128], home[128], link[128], ws[128];
};

static int
setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  snprintf(fx->root, sizeof fx->root, "/tmp/tars-test-view-XXXXXX");
  if (fx == NULL || mkdtemp(fx->root) == NULL)
    return -1;
  snprintf(fx->tree, sizeof fx->tree, "%s/tree", fx->root);
  snprintf(fx->home, sizeof fx->home, "%s/tree/people/me", fx->root);
  snprintf(fx->link, sizeof fx->link, "%s/home-link", fx->root);
  snprintf(fx->ws, sizeof fx->ws, "%s/ws", fx->root);
  char p[256];
  snprintf(p, sizeof p, "%s/.ssh", fx->home);
  test_mkdirs(p);
  test_mkdirs(fx->ws);
  snprintf(p, sizeof p, "%s/tree/sub", fx->root);
  test_mkdirs(p);
  if (symlink(fx->home, fx->link) < 0)
    return -1;
  *state = fx;
  return 0;
}

static int
teardown(void **state)
{
  struct fx *fx = *state;
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

/* The index of the first operation of KIND at DEST, or -1.  */
static int
find(const struct tars_view *v, enum tars_op_kind kind, const char *dest)
{
  for (size_t i = 0; i < v->n; i++)
    if (v->ops[i].kind == kind && strcmp(v->ops[i].dest, dest) == 0)
      return (int)i;
  return -1;
}

static void
build_ok(const struct tars_spec *spec, const struct tars_view_host *host, struct tars_view *v)
{
  struct tars_error err;
  if (tars_view_build(spec, host, v, &err) < 0)
    fail_msg("view: %s", err.msg);
}

static void
default_view_is_an_allow_list(void **state)
{
  struct tars_spec spec;
  tars_spec_init(&spec);
  struct tars_view_host host = {{NULL, NULL}, NULL};
  struct tars_view v;
  build_ok(&spec, &host, &v);
  assert_null(v.root);
  /* /usr is always there; / and the homes never are.  */
  assert_true(find(&v, TARS_OP_TREE, "/usr") >= 0);
  assert_int_equal(find(&v, TARS_OP_TREE, "/"), -1);
  assert_int_equal(find(&v, TARS_OP_TREE, "/home"), -1);
  assert_int_equal(find(&v, TARS_OP_TREE, "/var"), -1);
  struct stat st;
  if (lstat("/bin", &st) == 0 && S_ISLNK(st.st_mode))
    assert_true(find(&v, TARS_OP_SYMLINK, "/bin") >= 0);
  if (access("/etc/shadow", F_OK) == 0)
    assert_true(find(&v, TARS_OP_HIDE, "/etc/shadow") > find(&v, TARS_OP_TREE, "/etc"));
  assert_true(find(&v, TARS_OP_PRIVATE_TMP, "/tmp") >= 0);
  assert_true(find(&v, TARS_OP_PROC, "/proc") >= 0);
  assert_true(find(&v, TARS_OP_DEV, "/dev") >= 0);
  tars_view_free(&v);
}

/* --workspace /etc: the masks come after the workspace, so that it cannot uncover them.  */
static void
masks_come_after_the_workspace(void **state)
{
  if (access("/etc/shadow", F_OK) < 0)
    skip();
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  spec.workspace = (char *)"/etc";
  struct tars_view_host host = {{NULL, NULL}, NULL};
  struct tars_view v;
  build_ok(&spec, &host, &v);
  int ws = find(&v, TARS_OP_WORKSPACE, "/etc");
  assert_true(ws >= 0);
  for (size_t i = 0; i < v.n; i++)
    if (v.ops[i].kind == TARS_OP_HIDE)
      assert_true((int)i > ws);
  assert_true(find(&v, TARS_OP_HIDE, "/etc/shadow") > ws);
  tars_view_free(&v);
}

static void
a_hidden_directory_as_the_workspace_is_refused(void **state)
{
  const char *dirs[] = {"/home", "/run", "/mnt"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
    {
      if (access(dirs[i], F_OK) < 0)
        continue;
      struct tars_spec spec;
      tars_spec_init(&spec);
      spec.owned = false;
      spec.workspace = (char *)dirs[i];
      struct tars_view_host host = {{"/nonexistent/home", NULL}, NULL};
      struct tars_view v;
      struct tars_error err;
      assert_int_equal(tars_view_build(&spec, &host, &v, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      if (strstr(err.msg, "workspace") == NULL || strstr(err.msg, dirs[i]) == NULL)
        fail_msg("unexpected: %s", err.msg);
    }
}

/* The home from the password database is hidden inside a ro-bind that shows it, whatever $HOME
 * says; one reached through a symlink is hidden at its target.  */
static void
the_home_is_hidden_whatever_home_says(void **state)
{
  struct fx *fx = *state;
  const char *env_homes[] = {"/tmp", fx->link};
  for (int k = 0; k < 2; k++)
    {
      struct tars_spec spec;
      tars_spec_init(&spec);
      spec.owned = false;
      struct tars_error err;
      assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_RO_BIND, fx->tree, "/shown", 0, &err),
                       0);
      /* k == 0: $HOME lies, the database tells the truth; k == 1: $HOME is a symlink.  */
      struct tars_view_host host = {{env_homes[k], k == 0 ? fx->home : NULL}, NULL};
      struct tars_view v;
      build_ok(&spec, &host, &v);
      assert_true(find(&v, TARS_OP_HIDE, "/shown/people/me") > find(&v, TARS_OP_TREE, "/shown"));
      tars_view_free(&v);
    }
}

/* The workspace may be the home (a repository in it is the usual case): its credentials are
 * covered then, not the home.  */
static void
a_home_workspace_has_its_credentials_covered(void **state)
{
  struct fx *fx = *state;
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  spec.workspace = fx->home;
  struct tars_view_host host = {{"/tmp", fx->link}, NULL};
  struct tars_view v;
  build_ok(&spec, &host, &v);
  char ssh[256];
  snprintf(ssh, sizeof ssh, "%s/.ssh", fx->home);
  assert_true(find(&v, TARS_OP_HIDE, ssh) > find(&v, TARS_OP_WORKSPACE, fx->home));
  assert_int_equal(find(&v, TARS_OP_HIDE, fx->home), -1);
  tars_view_free(&v);
}

/* Mounts below a shown tree are shown too (an overlay shows one file system), but not the
 * kernel's own file systems; mountinfo escapes are read.  */
static void
submounts_of_a_tree_are_shown(void **state)
{
  struct fx *fx = *state;
  char mi[1024];
  snprintf(mi, sizeof mi,
           "21 1 254:0 / / rw - ext4 /dev/vda rw\n"
           "40 21 0:30 / %s/sub rw,relatime shared:1 - tmpfs tmpfs rw\n"
           "41 21 0:31 / %s/sub/proc rw - proc proc rw\n"
           "42 21 0:32 / %s/with\\040space rw - ext4 /dev/vdb rw\n"
           "43 21 0:33 / /elsewhere rw - ext4 /dev/vdc rw\n",
           fx->tree, fx->tree, fx->tree);
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  struct tars_error err;
  assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_RO_BIND, fx->tree, "/t", 0, &err), 0);
  struct tars_view_host host = {{NULL, NULL}, mi};
  struct tars_view v;
  build_ok(&spec, &host, &v);
  int tree = find(&v, TARS_OP_TREE, "/t");
  assert_true(tree >= 0);
  assert_true(find(&v, TARS_OP_SUBMOUNT, "/t/sub") > tree);
  assert_true(find(&v, TARS_OP_SUBMOUNT, "/t/with space") > tree);
  assert_int_equal(find(&v, TARS_OP_SUBMOUNT, "/t/sub/proc"), -1);
  assert_int_equal(find(&v, TARS_OP_SUBMOUNT, "/elsewhere"), -1);
  tars_view_free(&v);
}

/* A spec's masks are host paths: hidden wherever an entry shows them.  */
static void
masks_are_hidden_where_an_entry_shows_them(void **state)
{
  struct fx *fx = *state;
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  char mask[192];
  snprintf(mask, sizeof mask, "%s/sub", fx->tree);
  spec.masks[0] = mask;
  spec.n_masks = 1;
  struct tars_error err;
  assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_RO_BIND, fx->tree, "/t", 0, &err), 0);
  struct tars_view_host host = {{NULL, NULL}, NULL};
  struct tars_view v;
  build_ok(&spec, &host, &v);
  assert_true(find(&v, TARS_OP_HIDE, "/t/sub") >= 0);
  tars_view_free(&v);
  /* Asking to show a masked path itself is a contradiction: refused, naming both.  */
  tars_spec_init(&spec);
  spec.owned = false;
  spec.masks[0] = mask;
  spec.n_masks = 1;
  assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_RO_BIND, mask, "/s", 0, &err), 0);
  assert_int_equal(tars_view_build(&spec, &host, &v, &err), -1);
  assert_non_null(strstr(err.msg, "mounts[0] (ro-bind)"));
}

static void
entries_come_in_spec_order_before_the_workspace(void **state)
{
  struct fx *fx = *state;
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  spec.workspace = fx->ws;
  struct tars_error err;
  assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_TMPFS, NULL, "/cache", 0, &err), 0);
  assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_DIR, NULL, "/srv", 0, &err), 0);
  struct tars_view_host host = {{NULL, NULL}, NULL};
  struct tars_view v;
  build_ok(&spec, &host, &v);
  int tmpfs = find(&v, TARS_OP_TMPFS, "/cache"), dir = find(&v, TARS_OP_DIR, "/srv");
  assert_true(tmpfs >= 0 && dir > tmpfs);
  assert_true(find(&v, TARS_OP_WORKSPACE, fx->ws) > dir);
  assert_int_equal(v.ops[tmpfs].size, 64ULL << 20);
  tars_view_free(&v);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(default_view_is_an_allow_list),
      cmocka_unit_test(masks_come_after_the_workspace),
      cmocka_unit_test(a_hidden_directory_as_the_workspace_is_refused),
      cmocka_unit_test_setup_teardown(the_home_is_hidden_whatever_home_says, setup, teardown),
      cmocka_unit_test_setup_teardown(a_home_workspace_has_its_credentials_covered, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(submounts_of_a_tree_are_shown, setup, teardown),
      cmocka_unit_test_setup_teardown(masks_are_hidden_where_an_entry_shows_them, setup, teardown),
      cmocka_unit_test_setup_teardown(entries_come_in_spec_order_before_the_workspace, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
