/* Changeset capture, manifest reading and writing.
 *
 * Most tests build upper and lower directories by hand, the way overlayfs lays them out; the
 * real_overlay tests mount a real overlay (in a user and mount namespace, with userxattr, or as
 * root with trusted. xattrs) in a forked child and make the changes through the merged directory,
 * so that the kernel itself writes the whiteouts and opaque directories.  */
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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <openssl/evp.h>

#include "internal.h"
#include "tars/changes.h"
#include "tars/cleanup.h"

/* ----- fixture ----- */

struct fx
{
  char root[256];
};

static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof fx->root, "%s/tars-changes-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fx->root) == NULL)
    return -1;
  chmod(fx->root, 0755);
  char p[PATH_MAX];
  const char *dirs[] = {"upper", "lower", "lower2", "out"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      snprintf(p, sizeof p, "%s/%s", fx->root, dirs[i]);
      if (mkdir(p, 0755) < 0)
        return -1;
    }
  *state = fx;
  return 0;
}

static int
fx_teardown(void **state)
{
  struct fx *fx = *state;
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

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
mk(struct fx *fx, const char *rel, mode_t mode)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", at(fx, rel));
  for (char *s = p + strlen(fx->root) + 1; (s = strchr(s, '/')) != NULL; s++)
    {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  if (mkdir(p, mode) < 0 && errno != EEXIST)
    fail_msg("mkdir %s: %s", p, strerror(errno));
  assert_int_equal(chmod(p, mode), 0);
}

static void
put(struct fx *fx, const char *rel, const char *content, mode_t mode)
{
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", rel);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir)
    {
      *slash = '\0';
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s", at(fx, dir));
      struct stat st;
      if (stat(p, &st) < 0)
        mk(fx, dir, 0755);
    }
  const char *p = at(fx, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    fail_msg("create %s: %s", p, strerror(errno));
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void
sym(struct fx *fx, const char *rel, const char *target)
{
  assert_int_equal(symlink(target, at(fx, rel)), 0);
}

/* A 0/0 character device: overlayfs's whiteout.  Creating one needs no privilege.  */
static void
whiteout(struct fx *fx, const char *rel)
{
  if (mknod(at(fx, rel), S_IFCHR | 0600, makedev(0, 0)) < 0)
    fail_msg("mknod whiteout %s: %s", rel, strerror(errno));
}

static bool
xattr(struct fx *fx, const char *rel, const char *name, const char *value)
{
  if (lsetxattr(at(fx, rel), name, value, strlen(value), 0) < 0)
    {
      if (errno == EPERM || errno == ENOTSUP)
        return false;
      fail_msg("setxattr %s %s: %s", rel, name, strerror(errno));
    }
  return true;
}

static void
sha_of(const char *s, char hex[65])
{
  unsigned char md[32];
  unsigned int n = 0;
  assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
  for (unsigned i = 0; i < 32; i++)
    sprintf(hex + 2 * i, "%02x", md[i]);
}

static int
dir_fd(struct fx *fx, const char *rel)
{
  int fd = open(at(fx, rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    fail_msg("open %s: %s", rel, strerror(errno));
  return fd;
}

/* Capture upper against LOWERS (names relative to the fixture, topmost first) into out/.  */
static int
capture_with(struct fx *fx, const char *const *lowers, size_t n_lowers, uint64_t *n,
             struct tars_error *err)
{
  int fds[4];
  int upper = dir_fd(fx, "upper"), out = dir_fd(fx, "out");
  for (size_t i = 0; i < n_lowers; i++)
    fds[i] = dir_fd(fx, lowers[i]);
  int r = tars_changes_capture(upper, fds, n_lowers, out, 0, 0, n, NULL, err);
  for (size_t i = 0; i < n_lowers; i++)
    close(fds[i]);
  close(upper);
  close(out);
  return r;
}

static void
capture_ok(struct fx *fx, uint64_t *n)
{
  static const char *const lower[] = {"lower"};
  struct tars_error err = {0};
  if (capture_with(fx, lower, 1, n, &err) < 0)
    fail_msg("capture failed: %s", err.msg);
}

static void
load_ok(struct fx *fx, struct tars_changeset *cs)
{
  struct tars_error err = {0};
  int out = dir_fd(fx, "out");
  int r = tars_changeset_load(out, cs, &err);
  close(out);
  if (r < 0)
    fail_msg("load failed: %s", err.msg);
}

/* The changeset, one line per entry: "op type path [mode] [-> target]".  */
static char *
describe(const struct tars_changeset *cs)
{
  size_t size = 1;
  for (size_t i = 0; i < cs->n_entries; i++)
    size += strlen(cs->entries[i].path) + 64 +
            (cs->entries[i].target ? strlen(cs->entries[i].target) : 0);
  char *buf = calloc(1, size), *p = buf;
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      p += sprintf(p, "%s %s %s", tars_change_op_name(c->op), tars_change_type_name(c->type),
                   c->path);
      if (c->op != TARS_CHANGE_DELETE && c->op != TARS_CHANGE_SYMLINK)
        p += sprintf(p, " %04o", c->mode);
      if (c->target)
        p += sprintf(p, " -> %s", c->target);
      *p++ = '\n';
    }
  return buf;
}

static char *
join(const char *first, va_list ap)
{
  size_t size = 1;
  va_list ap2;
  va_copy(ap2, ap);
  for (const char *s = first; s; s = va_arg(ap2, const char *))
    size += strlen(s) + 1;
  va_end(ap2);
  char *buf = calloc(1, size);
  for (const char *s = first; s; s = va_arg(ap, const char *))
    {
      strcat(buf, s);
      strcat(buf, "\n");
    }
  return buf;
}

/* Capture, load (strictly), and compare the entries with the expected lines, in order.  */
static void
expect(struct fx *fx, struct tars_changeset *cs, const char *first, ...)
{
  uint64_t n = 12345;
  va_list ap;
  capture_ok(fx, &n);
  load_ok(fx, cs);
  cleanup_free char *got = describe(cs);
  va_start(ap, first);
  cleanup_free char *want = join(first, ap);
  va_end(ap);
  assert_string_equal(got, want);
  assert_int_equal(n, cs->n_entries);
}

static const struct tars_change *
entry(const struct tars_changeset *cs, const char *path, enum tars_change_op op)
{
  for (size_t i = 0; i < cs->n_entries; i++)
    if (strcmp(cs->entries[i].path, path) == 0 && cs->entries[i].op == op)
      return &cs->entries[i];
  fail_msg("no %s entry for %s", tars_change_op_name(op), path);
  return NULL;
}

static char *
slurp(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *buf = calloc(1, 1 << 16);
  ssize_t n = read(fd, buf, (1 << 16) - 1);
  close(fd);
  assert_true(n >= 0);
  return buf;
}

static void
assert_object(struct fx *fx, const char *hex, const char *content)
{
  char rel[128];
  struct stat st;
  snprintf(rel, sizeof rel, "out/objects/%s", hex);
  cleanup_free char *got = slurp(at(fx, rel));
  if (got == NULL)
    fail_msg("object %s is missing", hex);
  assert_string_equal(got, content);
  assert_int_equal(lstat(at(fx, rel), &st), 0);
  assert_int_equal(st.st_mode & 07777, 0644);
}

static size_t
count_objects(struct fx *fx)
{
  size_t n = 0;
  DIR *d = opendir(at(fx, "out/objects"));
  assert_non_null(d);
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static bool
is_root(void)
{
  return geteuid() == 0;
}

/* ----- hash ----- */

static void
sha256_fd_hashes_from_offset(void **state)
{
  char hex[65];
  struct tars_error err = {0};
  int fd = memfd_create("t", MFD_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(tars_sha256_fd(fd, hex, &err), 0);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_int_equal(write(fd, "xabc", 4), 4);
  assert_int_equal(lseek(fd, 1, SEEK_SET), 1);
  assert_int_equal(tars_sha256_fd(fd, hex, &err), 0);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  close(fd);
  assert_int_equal(tars_sha256_fd(fd, hex, &err), -1);
  assert_int_equal(err.code, EBADF);
}

/* ----- capture: hand-made layers ----- */

static void
create_file(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];
  put(fx, "lower/keep.txt", "keep\n", 0644);
  put(fx, "upper/new.txt", "hello\n", 0640);
  expect(fx, &cs, "create file new.txt 0640", NULL);
  const struct tars_change *c = entry(&cs, "new.txt", TARS_CHANGE_CREATE);
  sha_of("hello\n", hex);
  assert_string_equal(c->sha256, hex);
  assert_string_equal(c->base_sha256, "");
  assert_int_equal(c->size, 6);
  assert_object(fx, hex, "hello\n");
  /* The manifest says base_sha256: null, pretty-printed.  */
  cleanup_free char *text = slurp(at(fx, "out/manifest.json"));
  assert_non_null(strstr(text, "\"base_sha256\":\tnull"));
  assert_non_null(strstr(text, "\"version\":\t1"));
  assert_non_null(strchr(text, '\n'));
}

static void
modify_file(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char old_hex[65], new_hex[65];
  put(fx, "lower/src/a.c", "int a;\n", 0644);
  mk(fx, "upper/src", 0755);
  put(fx, "upper/src/a.c", "int a = 1;\n", 0644);
  expect(fx, &cs, "modify file src/a.c 0644", NULL);
  const struct tars_change *c = entry(&cs, "src/a.c", TARS_CHANGE_MODIFY);
  sha_of("int a;\n", old_hex);
  sha_of("int a = 1;\n", new_hex);
  assert_string_equal(c->base_sha256, old_hex);
  assert_string_equal(c->sha256, new_hex);
  assert_int_equal(c->size, 11);
  assert_object(fx, new_hex, "int a = 1;\n");
  assert_int_equal(count_objects(fx), 1);
}

static void
unchanged_copy_up_emits_nothing(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  uint64_t n = 99;
  put(fx, "lower/same.txt", "same\n", 0644);
  put(fx, "lower/d/f", "f\n", 0600);
  sym(fx, "lower/link", "same.txt");
  put(fx, "upper/same.txt", "same\n", 0644);
  put(fx, "upper/d/f", "f\n", 0600);
  sym(fx, "upper/link", "same.txt");
  capture_ok(fx, &n);
  assert_int_equal(n, 0);
  load_ok(fx, &cs);
  assert_int_equal(cs.n_entries, 0);
  assert_int_equal(count_objects(fx), 0);
}

static void
mode_only_change_is_chmod(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];
  put(fx, "lower/run.sh", "#!/bin/sh\n", 0644);
  put(fx, "upper/run.sh", "#!/bin/sh\n", 0755);
  mk(fx, "lower/private", 0755);
  mk(fx, "upper/private", 0700);
  expect(fx, &cs, "chmod dir private 0700", "chmod file run.sh 0755", NULL);
  sha_of("#!/bin/sh\n", hex);
  assert_string_equal(entry(&cs, "run.sh", TARS_CHANGE_CHMOD)->base_sha256, hex);
  assert_int_equal(count_objects(fx), 0);
}

static void
whiteout_device_deletes(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];
  put(fx, "lower/gone.txt", "bye\n", 0644);
  sym(fx, "lower/gone-link", "gone.txt");
  whiteout(fx, "upper/gone.txt");
  whiteout(fx, "upper/gone-link");
  whiteout(fx, "upper/never-was"); /* nothing below: no entry */
  expect(fx, &cs, "delete file gone.txt", "delete symlink gone-link", NULL);
  sha_of("bye\n", hex);
  assert_string_equal(entry(&cs, "gone.txt", TARS_CHANGE_DELETE)->base_sha256, hex);
  assert_string_equal(entry(&cs, "gone-link", TARS_CHANGE_DELETE)->base_sha256, "");
}

static void
whiteout_xattr_deletes(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  put(fx, "lower/gone.txt", "bye\n", 0644);
  put(fx, "upper/gone.txt", "", 0644);
  if (!xattr(fx, "upper/gone.txt", "user.overlay.whiteout", "y"))
    skip();
  expect(fx, &cs, "delete file gone.txt", NULL);
}

static void
whiteout_of_directory_deletes_subtree(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];
  put(fx, "lower/d/x", "x\n", 0644);
  put(fx, "lower/d/sub/y", "y\n", 0644);
  mk(fx, "lower/d/empty", 0755);
  sym(fx, "lower/d/link", "x");
  put(fx, "lower/d-sibling", "s\n", 0644);
  whiteout(fx, "upper/d");
  expect(fx, &cs, "delete file d/x", "delete file d/sub/y", "delete dir d/sub",
         "delete symlink d/link", "delete dir d/empty", "delete dir d", NULL);
  sha_of("y\n", hex);
  assert_string_equal(entry(&cs, "d/sub/y", TARS_CHANGE_DELETE)->base_sha256, hex);
}

static void
opaque_dir(void **state, const char *xattr_name)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];
  put(fx, "lower/d/a", "A\n", 0644);
  put(fx, "lower/d/b", "B\n", 0644);
  put(fx, "lower/d/keep", "K\n", 0644);
  put(fx, "lower/d/sub/q", "Q\n", 0644);
  mk(fx, "upper/d", 0755);
  if (!xattr(fx, "upper/d", xattr_name, "y"))
    skip();
  put(fx, "upper/d/a", "A2\n", 0644);
  put(fx, "upper/d/c", "C\n", 0644);
  put(fx, "upper/d/keep", "K\n", 0644);
  mk(fx, "upper/d/sub", 0755); /* not opaque itself, but beneath an opaque dir */
  expect(fx, &cs, "delete file d/sub/q", "delete file d/b", "modify file d/a 0644",
         "create file d/c 0644", NULL);
  sha_of("A\n", hex);
  assert_string_equal(entry(&cs, "d/a", TARS_CHANGE_MODIFY)->base_sha256, hex);
}

static void
opaque_dir_user(void **state)
{
  opaque_dir(state, "user.overlay.opaque");
}

static void
opaque_dir_trusted(void **state)
{
  if (!is_root())
    {
      print_message("skipped: trusted.overlay.opaque needs root\n");
      skip();
    }
  opaque_dir(state, "trusted.overlay.opaque");
}

static void
opaque_x_is_not_opaque(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  put(fx, "lower/d/a", "A\n", 0644);
  mk(fx, "upper/d", 0755);
  if (!xattr(fx, "upper/d", "user.overlay.opaque", "x"))
    skip();
  put(fx, "upper/d/new", "N\n", 0644);
  expect(fx, &cs, "create file d/new 0644", NULL);
}

static void
mkdir_and_contents(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  mk(fx, "upper/newdir", 0750);
  put(fx, "upper/newdir/f", "f\n", 0644);
  mk(fx, "upper/newdir/sub", 0755);
  whiteout(fx, "upper/newdir/stray"); /* a whiteout in a new directory hides nothing */
  expect(fx, &cs, "mkdir dir newdir 0750", "create file newdir/f 0644", "mkdir dir newdir/sub 0755",
         NULL);
}

static void
symlinks(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  sym(fx, "lower/retarget", "a");
  sym(fx, "lower/same", "a");
  sym(fx, "upper/retarget", "b");
  sym(fx, "upper/same", "a");
  sym(fx, "upper/new", "../../etc/passwd");
  expect(fx, &cs, "delete symlink retarget", "symlink symlink new -> ../../etc/passwd",
         "symlink symlink retarget -> b", NULL);
  assert_int_equal(count_objects(fx), 0);
}

/* Symlinks in the upper layer are recorded, never followed: neither to a file nor to a directory
 * outside the layer.  */
static void
symlink_outside_is_not_followed(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char secret_hex[65], target[PATH_MAX], dir_target[PATH_MAX];
  put(fx, "secret/key", "TOP SECRET\n", 0600);
  sha_of("TOP SECRET\n", secret_hex);
  snprintf(target, sizeof target, "%s", at(fx, "secret/key"));
  snprintf(dir_target, sizeof dir_target, "%s", at(fx, "secret"));
  put(fx, "lower/d/f", "f\n", 0644);
  sym(fx, "upper/evil", target);
  sym(fx, "upper/d", dir_target); /* a lower dir replaced by a symlink to a host dir */
  mk(fx, "upper/up", 0755);
  sym(fx, "upper/up/key", "../../secret/key");
  char l1[PATH_MAX + 32], l2[PATH_MAX + 32];
  snprintf(l1, sizeof l1, "symlink symlink d -> %s", dir_target);
  snprintf(l2, sizeof l2, "symlink symlink evil -> %s", target);
  expect(fx, &cs, "delete file d/f", "delete dir d", l1, l2, "mkdir dir up 0755",
         "symlink symlink up/key -> ../../secret/key", NULL);
  assert_int_equal(count_objects(fx), 0);
  char rel[128];
  snprintf(rel, sizeof rel, "out/objects/%s", secret_hex);
  assert_int_equal(access(at(fx, rel), F_OK), -1);
}

static void
file_replaced_by_dir(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];
  put(fx, "lower/p", "P\n", 0644);
  mk(fx, "upper/p", 0755);
  put(fx, "upper/p/f", "F\n", 0644);
  expect(fx, &cs, "delete file p", "mkdir dir p 0755", "create file p/f 0644", NULL);
  sha_of("P\n", hex);
  assert_string_equal(entry(&cs, "p", TARS_CHANGE_DELETE)->base_sha256, hex);
}

static void
dir_replaced_by_file(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  put(fx, "lower/q/x", "x\n", 0644);
  put(fx, "lower/q/y/z", "z\n", 0644);
  sym(fx, "lower/s", "q");
  put(fx, "upper/q", "Q\n", 0644);
  put(fx, "upper/s", "now a file\n", 0644);
  expect(fx, &cs, "delete symlink s", "delete file q/y/z", "delete dir q/y", "delete file q/x",
         "delete dir q", "create file q 0644", "create file s 0644", NULL);
}

/* Two lowers: the topmost that has a path decides, whiteouts and opaque dirs in a lower hide what
 * is beneath, directories merge.  */
static void
multiple_lowers(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  static const char *const lowers[] = {"lower", "lower2"};
  struct tars_error err = {0};
  uint64_t n;
  char hex[65];
  /* lower2 is the bottom layer, lower the top one.  */
  put(fx, "lower2/a.txt", "bottom\n", 0644);
  put(fx, "lower/a.txt", "top\n", 0644);
  put(fx, "lower2/x", "X\n", 0644);
  whiteout(fx, "lower/x");
  put(fx, "lower2/m/one", "1\n", 0644);
  put(fx, "lower/m/two", "2\n", 0644);
  put(fx, "lower2/o/hidden", "h\n", 0644);
  put(fx, "lower/o/shown", "s\n", 0644);
  if (!xattr(fx, "lower/o", "user.overlay.opaque", "y"))
    skip();
  put(fx, "upper/a.txt", "changed\n", 0644);
  put(fx, "upper/x", "new\n", 0644);
  whiteout(fx, "upper/m");
  whiteout(fx, "upper/o");
  assert_int_equal(capture_with(fx, lowers, 2, &n, &err), 0);
  load_ok(fx, &cs);
  cleanup_free char *got = describe(&cs);
  assert_string_equal(got, "delete file o/shown\n"
                           "delete dir o\n"
                           "delete file m/two\n"
                           "delete file m/one\n"
                           "delete dir m\n"
                           "modify file a.txt 0644\n"
                           "create file x 0644\n");
  sha_of("top\n", hex);
  assert_string_equal(entry(&cs, "a.txt", TARS_CHANGE_MODIFY)->base_sha256, hex);
}

static void
identical_contents_share_an_object(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  put(fx, "upper/one", "dup\n", 0644);
  put(fx, "upper/two", "dup\n", 0600);
  put(fx, "upper/empty", "", 0644);
  expect(fx, &cs, "create file empty 0644", "create file one 0644", "create file two 0600", NULL);
  assert_string_equal(entry(&cs, "one", TARS_CHANGE_CREATE)->sha256,
                      entry(&cs, "two", TARS_CHANGE_CREATE)->sha256);
  assert_int_equal(entry(&cs, "empty", TARS_CHANGE_CREATE)->size, 0);
  assert_int_equal(count_objects(fx), 2);
}

/* ----- rejections: what a changeset cannot hold is named, the rest still captured ----- */

/* The capture succeeds, its manifest names PATH (as shown, exactly, or containing it when
 * CONTAINS) among the rejected with a reason containing REASON, no entry has that path, and
 * "ok.txt", when the fixture has one, is captured all the same.  */
static void
expect_rejected_as(struct fx *fx, const char *path, bool contains, const char *reason)
{
  static const char *const lower[] = {"lower"};
  struct tars_error err = {0};
  uint64_t n = 0;
  if (capture_with(fx, lower, 1, &n, &err) < 0)
    fail_msg("the capture failed instead of rejecting %s: %s", path, err.msg);
  cleanup_changeset struct tars_changeset cs = {0};
  load_ok(fx, &cs);
  bool found = false;
  for (size_t i = 0; i < cs.n_rejected; i++)
    if ((contains ? strstr(cs.rejected[i].path, path) != NULL
                  : strcmp(cs.rejected[i].path, path) == 0) &&
        strstr(cs.rejected[i].reason, reason))
      found = true;
  if (!found)
    fail_msg("no rejected entry '%s' (%s); %zu rejected, first: %s: %s", path, reason,
             cs.n_rejected, cs.n_rejected ? cs.rejected[0].path : "-",
             cs.n_rejected ? cs.rejected[0].reason : "-");
  bool ok_txt = access(at(fx, "upper/ok.txt"), F_OK) == 0, ok_seen = false;
  for (size_t i = 0; i < cs.n_entries; i++)
    {
      if (!contains && strcmp(cs.entries[i].path, path) == 0)
        fail_msg("'%s' is both rejected and an entry", path);
      ok_seen = ok_seen || strcmp(cs.entries[i].path, "ok.txt") == 0;
    }
  if (ok_txt && !ok_seen)
    fail_msg("ok.txt was not captured beside the rejected '%s'", path);
  assert_int_equal(n, cs.n_entries);
}

static void
expect_rejected(struct fx *fx, const char *path, const char *reason)
{
  expect_rejected_as(fx, path, false, reason);
}

static void
rejects_fifo(void **state)
{
  struct fx *fx = *state;
  put(fx, "upper/ok.txt", "fine\n", 0644);
  mk(fx, "upper/d", 0755);
  assert_int_equal(mkfifo(at(fx, "upper/d/pipe"), 0644), 0);
  expect_rejected(fx, "d/pipe", "fifo");
}

static void
rejects_socket(void **state)
{
  struct fx *fx = *state;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at(fx, "upper/sock"));
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
  put(fx, "upper/ok.txt", "fine\n", 0644);
  expect_rejected(fx, "sock", "socket");
}

static void
rejects_setuid_and_setgid(void **state)
{
  struct fx *fx = *state;
  put(fx, "upper/suid", "x", 0644);
  assert_int_equal(chmod(at(fx, "upper/suid"), 04755), 0);
  expect_rejected(fx, "suid", "setuid");
  test_rm_tree_at(AT_FDCWD, at(fx, "out"));
  mk(fx, "out", 0755);
  assert_int_equal(unlink(at(fx, "upper/suid")), 0);
  put(fx, "upper/sgid", "x", 0644);
  if (chmod(at(fx, "upper/sgid"), 02755) < 0)
    skip();
  struct stat st;
  assert_int_equal(stat(at(fx, "upper/sgid"), &st), 0);
  if (!(st.st_mode & S_ISGID))
    skip(); /* not in the file's group: the kernel dropped the bit */
  expect_rejected(fx, "sgid", "setgid");
}

static void
rejects_device_node(void **state)
{
  struct fx *fx = *state;
  if (mknod(at(fx, "upper/null"), S_IFCHR | 0666, makedev(1, 3)) < 0)
    {
      print_message("skipped: creating a device node needs CAP_MKNOD (%s)\n", strerror(errno));
      skip();
    }
  expect_rejected(fx, "null", "device node");
}

static void
rejects_bad_utf8_name(void **state)
{
  struct fx *fx = *state;
  put(fx, "upper/bad\xff\xfename", "x", 0644);
  put(fx, "upper/ok.txt", "fine\n", 0644);
  expect_rejected(fx, "bad\\xff\\xfename", "not valid UTF-8");
}

static void
rejects_a_directory_with_a_bad_name_and_what_it_holds(void **state)
{
  struct fx *fx = *state;
  mk(fx, "upper/d\xff", 0755);
  put(fx, "upper/d\xff/inner.txt", "x", 0644);
  put(fx, "upper/ok.txt", "fine\n", 0644);
  expect_rejected(fx, "d\\xff", "not valid UTF-8");
  cleanup_changeset struct tars_changeset cs = {0};
  load_ok(fx, &cs);
  assert_int_equal(cs.n_rejected, 1);
  assert_int_equal(cs.n_entries, 1);
}

static void
rejects_overlong_utf8_name(void **state)
{
  struct fx *fx = *state;
  put(fx, "upper/slash\xc0\xaf", "x", 0644); /* an overlong '/' */
  expect_rejected_as(fx, "slash", true, "not valid UTF-8");
}

static void
rejects_newline_in_name(void **state)
{
  struct fx *fx = *state;
  mk(fx, "upper/dir", 0755);
  put(fx, "upper/dir/a\nb", "x", 0644);
  expect_rejected(fx, "dir/a\\x0ab", "control character");
}

static void
rejects_bad_name_in_deleted_lower_tree(void **state)
{
  struct fx *fx = *state;
  put(fx, "lower/d/tab\tname", "x", 0644);
  whiteout(fx, "upper/d");
  expect_rejected(fx, "d/tab\\x09name", "control character");
}

static void
rejects_redirect(void **state)
{
  struct fx *fx = *state;
  put(fx, "lower/old/f", "f\n", 0644);
  mk(fx, "upper/new", 0755);
  if (!xattr(fx, "upper/new", "user.overlay.redirect", "/old"))
    skip();
  expect_rejected(fx, "new", "renamed directory");
}

static void
rejects_metacopy(void **state)
{
  struct fx *fx = *state;
  put(fx, "lower/f", "content\n", 0644);
  put(fx, "upper/f", "", 0644);
  if (!xattr(fx, "upper/f", "user.overlay.metacopy", ""))
    skip();
  expect_rejected(fx, "f", "metacopy");
}

static void
rejects_path_longer_than_path_max(void **state)
{
  struct fx *fx = *state;
  char name[201];
  memset(name, 'n', 200);
  name[200] = '\0';
  put(fx, "upper/ok.txt", "fine\n", 0644);
  int fd = dir_fd(fx, "upper");
  for (int i = 0; i < 21; i++)
    {
      assert_int_equal(mkdirat(fd, name, 0755), 0);
      int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      assert_true(next >= 0);
      close(fd);
      fd = next;
    }
  close(fd);
  expect_rejected_as(fx, "nnnn", true, "PATH_MAX");
}

/* A tree of 300 one-letter levels: the capture names where it stops, the rest is captured.  */
static void
rejects_a_tree_deeper_than_the_limit(void **state)
{
  struct fx *fx = *state;
  put(fx, "upper/ok.txt", "fine\n", 0644);
  int fd = dir_fd(fx, "upper");
  for (int i = 0; i < 300; i++)
    {
      assert_int_equal(mkdirat(fd, "a", 0755), 0);
      int next = openat(fd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      assert_true(next >= 0);
      close(fd);
      fd = next;
    }
  close(fd);
  expect_rejected_as(fx, "a/a/a", true, "deeper than 256 levels");
  cleanup_changeset struct tars_changeset cs = {0};
  load_ok(fx, &cs);
  /* ok.txt and the directories above the cut.  */
  assert_int_equal(cs.n_entries, 1 + 256);
}

/* ----- a real overlay ----- */ /* ----- a real overlay ----- */

static void
child_die(const char *what)
{
  fprintf(stderr, "child: %s: %s\n", what, strerror(errno));
  _exit(1);
}

#define CHILD_SKIP 77

static void
write_file(const char *path, const char *s)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
    child_die(path);
  close(fd);
}

static void
child_put(const char *dir, const char *rel, const char *content, mode_t mode)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
    child_die(p);
  close(fd);
}

#define M(rel) (snprintf(p, sizeof p, "%s/%s", merged, rel), p)

/* In a forked child: mount an overlay over lower/ and change it through the merged directory,
 * then capture the upper layer into out/.  USERNS: rootless (user namespace, userxattr);
 * otherwise as root with trusted. xattrs.  */
static void
real_overlay_child(struct fx *fx, bool userns)
{
  char p[PATH_MAX], t[512], merged[600], opts[2048];
  uid_t uid = getuid();
  gid_t gid = getgid();

  if (unshare(CLONE_NEWNS | (userns ? CLONE_NEWUSER : 0)) < 0)
    {
      fprintf(stderr, "child: unshare: %s\n", strerror(errno));
      _exit(CHILD_SKIP);
    }
  if (userns)
    {
      char map[64];
      write_file("/proc/self/setgroups", "deny");
      snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
      write_file("/proc/self/uid_map", map);
      snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
      write_file("/proc/self/gid_map", map);
    }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    child_die("make / private");
  snprintf(t, sizeof t, "%s/t", fx->root);
  if (mkdir(t, 0755) < 0 || mount("tmpfs", t, "tmpfs", 0, "mode=0755") < 0)
    {
      fprintf(stderr, "child: tmpfs: %s\n", strerror(errno));
      _exit(CHILD_SKIP);
    }
  snprintf(merged, sizeof merged, "%s/merged", t);
  const char *dirs[] = {"upper", "work", "merged"};
  for (int i = 0; i < 3; i++)
    {
      snprintf(p, sizeof p, "%s/%s", t, dirs[i]);
      if (mkdir(p, 0755) < 0)
        child_die(p);
    }
  snprintf(opts, sizeof opts, "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work%s", fx->root, t,
           t, userns ? ",userxattr" : "");
  if (mount("overlay", merged, "overlay", 0, opts) < 0)
    {
      fprintf(stderr, "child: mount overlay: %s\n", strerror(errno));
      _exit(CHILD_SKIP);
    }

  /* The command's work, through the merged view.  */
  child_put(merged, "mod.txt", "changed\n", 0644);
  child_put(merged, "new.txt", "new\n", 0644);
  if (unlink(M("gone.txt")) < 0)
    child_die("unlink gone.txt");
  if (unlink(M("olddir/b/c")) < 0 || rmdir(M("olddir/b")) < 0 || unlink(M("olddir/a")) < 0 ||
      rmdir(M("olddir")) < 0)
    child_die("rm -r olddir");
  /* rm -r then mkdir: the kernel makes redo/ an opaque directory.  */
  if (unlink(M("redo/x")) < 0 || unlink(M("redo/y")) < 0 || rmdir(M("redo")) < 0 ||
      mkdir(M("redo"), 0755) < 0)
    child_die("redo");
  child_put(merged, "redo/x", "x2\n", 0644);
  if (mkdir(M("newdir"), 0755) < 0)
    child_die("mkdir newdir");
  child_put(merged, "newdir/f", "f\n", 0644);
  if (chmod(M("cdir"), 0700) < 0)
    child_die("chmod cdir");
  if (symlink("../outside", M("ln")) < 0)
    child_die("symlink");
  if (utimensat(AT_FDCWD, M("same.txt"), NULL, 0) < 0) /* copied up, unchanged */
    child_die("touch same.txt");
  if (chmod(M("sub/deep.txt"), 0644) < 0) /* copies sub/ up too */
    child_die("chmod sub/deep.txt");
  if (unlink(M("f2d")) < 0 || mkdir(M("f2d"), 0755) < 0)
    child_die("f2d");
  child_put(merged, "f2d/inner", "inner\n", 0644);
  char from[PATH_MAX];
  snprintf(from, sizeof from, "%s/ren_a", merged);
  if (rename(from, M("ren_b")) < 0)
    child_die("rename");

  /* Every process is done: capture, as the sandbox's init does.  */
  int upper, lower, out;
  struct tars_error err = {0};
  uint64_t n;
  snprintf(p, sizeof p, "%s/upper", t);
  upper = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  snprintf(p, sizeof p, "%s/lower", fx->root);
  lower = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  snprintf(p, sizeof p, "%s/out", fx->root);
  out = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (upper < 0 || lower < 0 || out < 0)
    child_die("open layers");
  if (tars_changes_capture(upper, &lower, 1, out, 0, 0, &n, NULL, &err) < 0)
    {
      fprintf(stderr, "child: capture: %s\n", err.msg);
      _exit(1);
    }
  _exit(0);
}

static void
real_overlay(void **state, bool userns)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  char hex[65];

  put(fx, "lower/mod.txt", "orig\n", 0644);
  put(fx, "lower/gone.txt", "gone\n", 0644);
  put(fx, "lower/olddir/a", "a\n", 0644);
  put(fx, "lower/olddir/b/c", "c\n", 0644);
  put(fx, "lower/redo/x", "x\n", 0644);
  put(fx, "lower/redo/y", "y\n", 0644);
  mk(fx, "lower/cdir", 0755);
  put(fx, "lower/same.txt", "same\n", 0644);
  put(fx, "lower/sub/deep.txt", "deep\n", 0644);
  put(fx, "lower/f2d", "file\n", 0644);
  put(fx, "lower/ren_a", "moved\n", 0644);

  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      umask(022);
      real_overlay_child(fx, userns);
    }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == CHILD_SKIP)
    {
      print_message("skipped: cannot mount an overlay here (see the child's message)\n");
      skip();
    }
  assert_int_equal(WEXITSTATUS(status), 0);

  load_ok(fx, &cs);
  cleanup_free char *got = describe(&cs);
  assert_string_equal(got, "delete file ren_a\n"
                           "delete file redo/y\n"
                           "delete file olddir/b/c\n"
                           "delete dir olddir/b\n"
                           "delete file olddir/a\n"
                           "delete dir olddir\n"
                           "delete file gone.txt\n"
                           "delete file f2d\n"
                           "chmod dir cdir 0700\n"
                           "mkdir dir f2d 0755\n"
                           "create file f2d/inner 0644\n"
                           "symlink symlink ln -> ../outside\n"
                           "modify file mod.txt 0644\n"
                           "create file new.txt 0644\n"
                           "mkdir dir newdir 0755\n"
                           "create file newdir/f 0644\n"
                           "modify file redo/x 0644\n"
                           "create file ren_b 0644\n");
  sha_of("orig\n", hex);
  assert_string_equal(entry(&cs, "mod.txt", TARS_CHANGE_MODIFY)->base_sha256, hex);
  sha_of("changed\n", hex);
  assert_object(fx, hex, "changed\n");
  sha_of("x\n", hex);
  assert_string_equal(entry(&cs, "redo/x", TARS_CHANGE_MODIFY)->base_sha256, hex);
}

static void
real_overlay_userns(void **state)
{
  real_overlay(state, true);
}

static void
real_overlay_trusted(void **state)
{
  if (!is_root())
    {
      print_message("skipped: an overlay with trusted. xattrs needs real root\n");
      skip();
    }
  real_overlay(state, false);
}

/* ----- the manifest reader ----- */

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int
load_text(struct fx *fx, const char *manifest, struct tars_changeset *cs, struct tars_error *err)
{
  put(fx, "out/manifest.json", manifest, 0644);
  mk(fx, "out/objects", 0755);
  put(fx, "out/objects/" HEX_A, "abc", 0644);
  int out = dir_fd(fx, "out");
  int r = tars_changeset_load(out, cs, err);
  close(out);
  return r;
}

static void
load_normalises_order(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  struct tars_error err = {0};
  const char *m =
      "{\"version\":1,\"entries\":["
      "{\"path\":\"d/new\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":3,"
      "\"sha256\":\"" HEX_A "\",\"base_sha256\":null},"
      "{\"path\":\"old\",\"op\":\"delete\",\"type\":\"dir\",\"base_sha256\":null},"
      "{\"path\":\"d\",\"op\":\"mkdir\",\"type\":\"dir\",\"mode\":\"0755\"},"
      "{\"path\":\"old/f\",\"op\":\"delete\",\"type\":\"file\",\"base_sha256\":\"" HEX_B "\"},"
      "{\"path\":\"l\",\"op\":\"symlink\",\"type\":\"symlink\",\"target\":\"d/new\"},"
      "{\"path\":\"m\",\"op\":\"modify\",\"type\":\"file\",\"mode\":\"0600\",\"size\":3,"
      "\"sha256\":\"" HEX_A "\",\"base_sha256\":\"" HEX_B "\"}]}";
  if (load_text(fx, m, &cs, &err) < 0)
    fail_msg("%s", err.msg);
  cleanup_free char *got = describe(&cs);
  assert_string_equal(got, "delete file old/f\n"
                           "delete dir old\n"
                           "mkdir dir d 0755\n"
                           "create file d/new 0644\n"
                           "symlink symlink l -> d/new\n"
                           "modify file m 0600\n");
  /* The normalised manifest reads back the same.  */
  cleanup_free char *text = tars_changeset_to_json(&cs, &err);
  assert_non_null(text);
  cleanup_changeset struct tars_changeset again = {0};
  assert_int_equal(load_text(fx, text, &again, &err), 0);
  cleanup_free char *got2 = describe(&again);
  assert_string_equal(got, got2);
  assert_string_equal(again.entries[5].base_sha256, HEX_B);
}

static void
load_rejects(void **state)
{
  struct fx *fx = *state;
#define E_CREATE(path)                                                                             \
  "{\"path\":\"" path "\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":3,"       \
  "\"sha256\":\"" HEX_A "\",\"base_sha256\":null}"
#define WRAP(entries) "{\"version\":1,\"entries\":[" entries "]}"
  static const struct
  {
    const char *manifest, *why;
  } cases[] = {
      {"", "empty"},
      {"{\"version\":1,", "malformed JSON at line 1"},
      {"[]", "not an object"},
      {"\xEF\xBB\xBF{\"version\":1,\"entries\":[]}", "byte-order mark"},
      {"{\"version\":1,\"entries\":[],\"exit_status\":-1}", "\"exit_status\" must be"},
      {"{\"version\":1,\"entries\":[],\"exit_status\":256}", "\"exit_status\" must be"},
      {"{\"version\":1,\"entries\":[],\"exit_status\":1.5}", "\"exit_status\" must be"},
      {"{\"version\":1,\"entries\":[],\"exit_status\":\"0\"}", "\"exit_status\" must be"},
      {"{\"version\":1,\"entries\":[],\"rejected\":{}}", "\"rejected\" is not an array"},
      {"{\"version\":1,\"entries\":[],\"rejected\":[{\"path\":\"a\"}]}", "rejected[0] needs"},
      {"{\"version\":1,\"entries\":[],\"rejected\":[{\"path\":\"a\",\"reason\":\"b\",\"x\":1}]}",
       "rejected[0]: unknown field \"x\""},
      {"{\"version\":1,\"entries\":[],\"rejected\":[{\"path\":\"a\\n\",\"reason\":\"b\"}]}",
       "rejected[0] needs"},
      {WRAP(E_CREATE("a")) " x", "trailing"},
      {"{\"version\":2,\"entries\":[]}", "\"version\" must be 1"},
      {"{\"entries\":[]}", "\"version\" must be 1"},
      {"{\"version\":1}", "\"entries\""},
      {"{\"version\":1,\"entries\":[],\"extra\":0}", "unknown field \"extra\""},
      {"{\"version\":1,\"version\":1,\"entries\":[]}", "duplicate field"},
      {WRAP("{\"path\":\"a\",\"op\":\"frob\",\"type\":\"file\"}"), "unknown op \"frob\""},
      {WRAP("{\"path\":\"a\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":3,"
            "\"base_sha256\":null}"),
       "\"sha256\" is missing"},
      {WRAP("{\"op\":\"mkdir\",\"type\":\"dir\",\"mode\":\"0755\"}"), "\"path\" is missing"},
      {WRAP("{\"path\":\"a\",\"op\":\"mkdir\",\"type\":\"dir\",\"mode\":\"0755\",\"size\":1}"),
       "\"size\" is not allowed"},
      {WRAP("{\"path\":\"a\",\"op\":\"mkdir\",\"type\":\"dir\",\"mode\":\"0755\",\"x\":1}"),
       "unknown field \"x\""},
      {WRAP("{\"path\":\"a\",\"op\":\"mkdir\",\"type\":\"dir\",\"mode\":\"755\"}"),
       "4 octal digits"},
      {WRAP("{\"path\":\"a\",\"op\":\"mkdir\",\"type\":\"file\",\"mode\":\"0755\"}"),
       "does not go with"},
      {WRAP("{\"path\":\"a\",\"op\":\"chmod\",\"type\":\"file\",\"mode\":\"4755\","
            "\"base_sha256\":\"" HEX_B "\"}"),
       "setuid"},
      {WRAP(E_CREATE("a") "," E_CREATE("a")), "duplicate path 'a'"},
      {WRAP(E_CREATE("/etc/passwd")), "absolute"},
      {WRAP(E_CREATE("a/../../x")), "'..'"},
      {WRAP(E_CREATE("./a")), "'.'"},
      {WRAP(E_CREATE("a//b")), "empty component"},
      {WRAP(E_CREATE("a/")), "empty component"},
      {WRAP(E_CREATE("a\\nb")), "control character"},
      {WRAP(E_CREATE("a\\u0000/../x")), "\\u0000"},
      {WRAP("{\"path\":\"a\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":3,"
            "\"sha256\":\"" HEX_A "\",\"base_sha256\":\"" HEX_B "\"}"),
       "must be null"},
      {WRAP("{\"path\":\"a\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":3,"
            "\"sha256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
            "\"base_sha256\":null}"),
       "64 lowercase hex"},
      {WRAP("{\"path\":\"a\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":1.5,"
            "\"sha256\":\"" HEX_A "\",\"base_sha256\":null}"),
       "whole number"},
      {WRAP("{\"path\":\"a\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":4,"
            "\"sha256\":\"" HEX_A "\",\"base_sha256\":null}"),
       "holds 3 bytes, the manifest says 4 for 'a'"},
      {WRAP("{\"path\":\"a\",\"op\":\"create\",\"type\":\"file\",\"mode\":\"0644\",\"size\":3,"
            "\"sha256\":\"" HEX_B "\",\"base_sha256\":null}"),
       "objects/" HEX_B ": missing (the content of 'a')"},
      {WRAP(E_CREATE("f") "," E_CREATE("f/g")), "does not lie beneath a directory"},
      {WRAP("{\"path\":\"d\",\"op\":\"delete\",\"type\":\"dir\",\"base_sha256\":null}," E_CREATE(
           "d/x")),
       "does not lie beneath a directory"},
      {WRAP("{\"path\":\"n\",\"op\":\"mkdir\",\"type\":\"dir\",\"mode\":\"0755\"},"
            "{\"path\":\"n/x\",\"op\":\"delete\",\"type\":\"file\",\"base_sha256\":\"" HEX_B "\"}"),
       "was not beneath a directory"},
      {WRAP("{\"path\":\"a\",\"op\":\"delete\",\"type\":\"file\",\"base_sha256\":\"" HEX_B
            "\"}," E_CREATE("a")),
       "delete and create"},
      {WRAP("{\"path\":\"l\",\"op\":\"symlink\",\"type\":\"symlink\",\"target\":\"\"}"),
       "\"target\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      cleanup_changeset struct tars_changeset cs = {0};
      struct tars_error err = {0};
      if (load_text(fx, cases[i].manifest, &cs, &err) == 0)
        fail_msg("case %zu accepted: %s", i, cases[i].manifest);
      if (strstr(err.msg, cases[i].why) == NULL)
        fail_msg("case %zu: wanted '%s' in: %s", i, cases[i].why, err.msg);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      assert_int_equal(cs.n_entries, 0);
      assert_null(cs.entries);
    }
}

/* The command's exit status and what the capture could not hold survive a round trip; a
 * manifest that says neither is "exit status unknown".  */
static void
load_keeps_exit_status_and_rejected(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  struct tars_error err = {0};
  if (load_text(fx,
                "{\"version\":1,\"entries\":[],\"exit_status\":3,\"rejected\":[{\"path\":"
                "\"a/\\\\xff\",\"reason\":\"the name is not valid UTF-8\"}]}",
                &cs, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(cs.exit_status, 3);
  assert_int_equal(cs.n_rejected, 1);
  assert_string_equal(cs.rejected[0].path, "a/\\xff");
  cleanup_free char *text = tars_changeset_to_json(&cs, &err);
  assert_non_null(text);
  cleanup_changeset struct tars_changeset again = {0};
  assert_int_equal(load_text(fx, text, &again, &err), 0);
  assert_int_equal(again.exit_status, 3);
  assert_int_equal(again.n_rejected, 1);
  assert_string_equal(again.rejected[0].reason, "the name is not valid UTF-8");

  cleanup_changeset struct tars_changeset plain = {0};
  assert_int_equal(load_text(fx, "{\"version\":1,\"entries\":[]}", &plain, &err), 0);
  assert_int_equal(plain.exit_status, -1);
  assert_int_equal(plain.n_rejected, 0);
}

static void
load_missing_manifest(void **state)
{
  struct fx *fx = *state;
  cleanup_changeset struct tars_changeset cs = {0};
  struct tars_error err = {0};
  int out = dir_fd(fx, "out");
  assert_int_equal(tars_changeset_load(out, &cs, &err), -1);
  close(out);
  assert_string_equal(err.msg, "manifest.json: no such file");
  assert_int_equal(err.kind, TARS_ERR_INVALID);
}

static void
capture_refuses_used_output(void **state)
{
  struct fx *fx = *state;
  static const char *const lower[] = {"lower"};
  struct tars_error err = {0};
  put(fx, "out/manifest.json", "{}", 0644);
  assert_int_equal(capture_with(fx, lower, 1, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "already holds a manifest.json"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
  umask(022);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sha256_fd_hashes_from_offset),
      T(create_file),
      T(modify_file),
      T(unchanged_copy_up_emits_nothing),
      T(mode_only_change_is_chmod),
      T(whiteout_device_deletes),
      T(whiteout_xattr_deletes),
      T(whiteout_of_directory_deletes_subtree),
      T(opaque_dir_user),
      T(opaque_dir_trusted),
      T(opaque_x_is_not_opaque),
      T(mkdir_and_contents),
      T(symlinks),
      T(symlink_outside_is_not_followed),
      T(file_replaced_by_dir),
      T(dir_replaced_by_file),
      T(multiple_lowers),
      T(identical_contents_share_an_object),
      T(rejects_fifo),
      T(rejects_socket),
      T(rejects_setuid_and_setgid),
      T(rejects_device_node),
      T(rejects_bad_utf8_name),
      T(rejects_overlong_utf8_name),
      T(rejects_newline_in_name),
      T(rejects_bad_name_in_deleted_lower_tree),
      T(rejects_redirect),
      T(rejects_metacopy),
      T(rejects_path_longer_than_path_max),
      T(rejects_a_directory_with_a_bad_name_and_what_it_holds),
      T(rejects_a_tree_deeper_than_the_limit),
      T(real_overlay_userns),
      T(real_overlay_trusted),
      T(load_normalises_order),
      T(load_rejects),
      T(load_keeps_exit_status_and_rejected),
      T(load_missing_manifest),
      T(capture_refuses_used_output),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
