/* The safety policy and the conflict check (policy.h).
 *
 * Changesets are written by hand, manifest.json and objects/<sha256>, the way
 * docs/changeset-format.md lays them out, and read with tars_changeset_load; the few that the
 * loader itself refuses (setuid modes, bad names) are built in memory, to check the policy's own
 * defence.  SHA-256 comes from OpenSSL, independently of tars' nettle.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "apply/policy.h"
#include "tars/changes.h"
#include "tars/cleanup.h"

/* ----- fixture ----- */

struct fx
{
  char root[256]; /* holds repo/, outside/ and the changesets */
  int repo;
  int n_cs;
  struct tars_policy policy;
  /* The changeset being built.  */
  cJSON *entries;
  char cs_dir[PATH_MAX];
  int cs_fd;
  struct tars_changeset cs;
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

#define mkdirs test_mkdirs
#define write_file test_write_file

/* repo/REL with CONTENT.  */
static void
put(struct fx *fx, const char *rel, const char *content)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "repo/%s", rel);
  write_file(at(fx, p), content, strlen(content), 0644);
}

static void
repo_mkdir(struct fx *fx, const char *rel)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "repo/%s", rel);
  mkdirs(at(fx, p));
}

static void
repo_symlink(struct fx *fx, const char *rel, const char *target)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "repo/%s", rel);
  assert_int_equal(symlink(target, at(fx, p)), 0);
}

static void
sha_of(const char *s, size_t len, char hex[65])
{
  unsigned char md[32];
  unsigned int n = 0;
  assert_int_equal(EVP_Digest(s, len, md, &n, EVP_sha256(), NULL), 1);
  for (unsigned i = 0; i < 32; i++)
    sprintf(hex + 2 * i, "%02x", md[i]);
}

static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof fx->root, "%s/tars-policy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fx->root) == NULL)
    return -1;
  mkdirs(at(fx, "repo/.git/hooks"));
  mkdirs(at(fx, "repo/.tars"));
  mkdirs(at(fx, "repo/src"));
  mkdirs(at(fx, "outside"));
  put(fx, "src/a.c", "int a;\n");
  put(fx, "README", "hello\n");
  put(fx, ".git/config", "[core]\n");
  write_file(at(fx, "outside/secret"), "secret", 6, 0644);
  fx->repo = open(at(fx, "repo"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fx->repo < 0)
    return -1;
  fx->cs_fd = -1;
  tars_policy_default(&fx->policy);
  *state = fx;
  return 0;
}

static void
cs_reset(struct fx *fx)
{
  tars_changeset_free(&fx->cs);
  if (fx->cs_fd >= 0)
    close(fx->cs_fd);
  fx->cs_fd = -1;
  cJSON_Delete(fx->entries);
  fx->entries = NULL;
}

static int
fx_teardown(void **state)
{
  struct fx *fx = *state;
  cs_reset(fx);
  tars_policy_free(&fx->policy);
  close(fx->repo);
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

/* ----- building changesets ----- */

static void
cs_begin(struct fx *fx)
{
  cs_reset(fx);
  snprintf(fx->cs_dir, sizeof fx->cs_dir, "%s/cs%d", fx->root, fx->n_cs++);
  char objects[PATH_MAX + 16];
  snprintf(objects, sizeof objects, "%s/objects", fx->cs_dir);
  mkdirs(objects);
  fx->entries = cJSON_CreateArray();
}

static cJSON *
entry(struct fx *fx, const char *path, const char *op, const char *type)
{
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "path", path);
  cJSON_AddStringToObject(e, "op", op);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddItemToArray(fx->entries, e);
  return e;
}

static void
add_mode(cJSON *e, unsigned mode)
{
  char m[8];
  snprintf(m, sizeof m, "%04o", mode);
  cJSON_AddStringToObject(e, "mode", m);
}

static void
add_base(cJSON *e, const char *base)
{
  char hex[65];
  if (base == NULL)
    {
      cJSON_AddNullToObject(e, "base_sha256");
      return;
    }
  sha_of(base, strlen(base), hex);
  cJSON_AddStringToObject(e, "base_sha256", hex);
}

static void
add_content(struct fx *fx, cJSON *e, const char *content, size_t len)
{
  char hex[65], p[PATH_MAX + 80];
  sha_of(content, len, hex);
  snprintf(p, sizeof p, "%s/objects/%s", fx->cs_dir, hex);
  write_file(p, content, len, 0644);
  cJSON_AddNumberToObject(e, "size", (double)len);
  cJSON_AddStringToObject(e, "sha256", hex);
}

static void
e_create(struct fx *fx, const char *path, const char *content, unsigned mode)
{
  cJSON *e = entry(fx, path, "create", "file");
  add_mode(e, mode);
  add_content(fx, e, content, strlen(content));
  add_base(e, NULL);
}

/* SIZE bytes, distinct for each path: one object each.  */
static void
e_create_sized(struct fx *fx, const char *path, size_t size)
{
  char *buf = malloc(size + 1);
  memset(buf, 'x', size);
  size_t n = strlen(path);
  memcpy(buf, path, n < size ? n : size);
  cJSON *e = entry(fx, path, "create", "file");
  add_mode(e, 0644);
  add_content(fx, e, buf, size);
  add_base(e, NULL);
  free(buf);
}

static void
e_modify(struct fx *fx, const char *path, const char *content, unsigned mode, const char *base)
{
  cJSON *e = entry(fx, path, "modify", "file");
  add_mode(e, mode);
  add_content(fx, e, content, strlen(content));
  add_base(e, base);
}

static void
e_delete(struct fx *fx, const char *path, const char *type, const char *base)
{
  cJSON *e = entry(fx, path, "delete", type);
  add_base(e, base);
}

static void
e_mkdir(struct fx *fx, const char *path, unsigned mode)
{
  add_mode(entry(fx, path, "mkdir", "dir"), mode);
}

static void
e_chmod(struct fx *fx, const char *path, const char *type, unsigned mode, const char *base)
{
  cJSON *e = entry(fx, path, "chmod", type);
  add_mode(e, mode);
  add_base(e, base);
}

static void
e_symlink(struct fx *fx, const char *path, const char *target)
{
  cJSON *e = entry(fx, path, "symlink", "symlink");
  cJSON_AddStringToObject(e, "target", target);
}

/* Write manifest.json and load the changeset into fx->cs.  */
static void
cs_load(struct fx *fx)
{
  struct tars_error err = {0};
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNumberToObject(root, "version", 1);
  cJSON_AddItemToObject(root, "entries", fx->entries);
  fx->entries = NULL;
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  char p[PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/manifest.json", fx->cs_dir);
  write_file(p, text, strlen(text), 0644);
  free(text);
  fx->cs_fd = open(fx->cs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fx->cs_fd >= 0);
  if (tars_changeset_load(fx->cs_fd, &fx->cs, &err) < 0)
    fail_msg("tars_changeset_load: %s", err.msg);
}

/* ----- checking ----- */

/* Run the policy check: returns the number of reasons (0 when it passed) and leaves them in
 * *OUT (caller deletes) when OUT is not NULL.  */
static size_t
check(struct fx *fx, cJSON **out, struct tars_error *err)
{
  cJSON *reasons = cJSON_CreateArray();
  struct tars_error e = {0};
  if (err == NULL)
    err = &e;
  int r = tars_policy_check(&fx->policy, &fx->cs, fx->cs_fd, fx->repo, reasons, err);
  size_t n = (size_t)cJSON_GetArraySize(reasons);
  if (r == 0)
    assert_int_equal(n, 0);
  else
    {
      assert_int_equal(r, -1);
      assert_int_equal(err->kind, TARS_ERR_REFUSED);
      assert_true(n > 0);
      assert_non_null(strstr(err->msg, "changeset refused"));
    }
  if (out)
    *out = reasons;
  else
    cJSON_Delete(reasons);
  return n;
}

/* A reason for PATH mentioning WANT in REASONS.  */
static bool
has_reason(const cJSON *reasons, const char *path, const char *want)
{
  const cJSON *r;
  cJSON_ArrayForEach(r, reasons)
  {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "path");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(r, "reason");
    if (cJSON_IsString(p) && cJSON_IsString(w) && strcmp(p->valuestring, path) == 0 &&
        strstr(w->valuestring, want))
      return true;
  }
  return false;
}

static void
dump(const cJSON *reasons)
{
  char *s = cJSON_Print(reasons);
  print_message("%s\n", s);
  free(s);
}

/* Exactly one reason, for PATH, mentioning WANT.  */
static void
refused_once(struct fx *fx, const char *path, const char *want)
{
  cJSON *reasons;
  size_t n = check(fx, &reasons, NULL);
  if (n != 1 || !has_reason(reasons, path, want))
    {
      dump(reasons);
      cJSON_Delete(reasons);
      fail_msg("expected one reason for '%s' mentioning \"%s\"", path, want);
    }
  cJSON_Delete(reasons);
}

static void
passes(struct fx *fx)
{
  cJSON *reasons;
  if (check(fx, &reasons, NULL) != 0)
    {
      dump(reasons);
      cJSON_Delete(reasons);
      fail_msg("expected the changeset to pass");
    }
  cJSON_Delete(reasons);
}

static void
write_config(struct fx *fx, const char *name, const char *json)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "repo/%s", name);
  write_file(at(fx, p), json, strlen(json), 0644);
}

static void
load_config(struct fx *fx, const char *json)
{
  struct tars_error err = {0};
  write_config(fx, ".tars/config.json", json);
  tars_policy_free(&fx->policy);
  tars_policy_default(&fx->policy);
  if (tars_policy_load(&fx->policy, fx->repo, &err) < 0)
    fail_msg("tars_policy_load: %s", err.msg);
}

/* ----- policy tests ----- */

static void
defaults(void **state)
{
  struct fx *fx = *state;
  struct tars_policy p;
  tars_policy_default(&p);
  assert_false(p.allow_symlinks);
  assert_int_equal(p.max_file_size, 64ull << 20);
  assert_int_equal(p.max_files, 10000);
  assert_int_equal(p.max_total_bytes, 1ull << 30);
  assert_int_equal(p.n_protected, 5);
  tars_policy_free(&p);
  /* No configuration: the defaults stay.  */
  struct tars_error err = {0};
  assert_int_equal(tars_policy_load(&fx->policy, fx->repo, &err), 0);
  assert_int_equal(fx->policy.n_protected, 5);
}

static void
a_clean_changeset_passes(void **state)
{
  struct fx *fx = *state;
  put(fx, "old.txt", "old\n");
  repo_mkdir(fx, "emptydir");
  cs_begin(fx);
  e_modify(fx, "src/a.c", "int a = 1;\n", 0644, "int a;\n");
  e_create(fx, "src/b.c", "int b;\n", 0755);
  e_mkdir(fx, "docs", 0755);
  e_create(fx, "docs/x.md", "# x\n", 0644);
  e_delete(fx, "old.txt", "file", "old\n");
  e_delete(fx, "emptydir", "dir", NULL);
  e_chmod(fx, "README", "file", 0600, "hello\n");
  /* Near misses of the protected names.  */
  e_create(fx, ".gitignore", "*.o\n", 0644);
  e_create(fx, ".github/other.yml", "x\n", 0644);
  e_create(fx, "x.env", "x\n", 0644);
  e_create(fx, "environment", "x\n", 0644);
  e_create(fx, "src/.github/workflows/ci.yml", "x\n", 0644);
  cs_load(fx);
  passes(fx);
}

static void
protected_paths(void **state)
{
  struct fx *fx = *state;
  struct
  {
    const char *path, *rule;
  } cases[] = {
      {".git/hooks/pre-commit", ".git/"},
      {".git/config", ".git/"},
      {".tars/db", ".tars/"},
      {".tars/tars.db", ".tars/"},
      {".github/workflows/ci.yml", ".github/workflows/"},
      {".gitmodules", ".gitmodules"},
      {".env", ".env*"},
      {".env.production", ".env*"},
      {"sub/.env.local", ".env*"},
      {"sub/.env/x", ".env*"},
      {"sub/.git/hooks/post-checkout", ".git/"},
      {".GIT/config", ".git/"},
      {".Tars/x", ".tars/"},
      {"tars.json", "tars.json"},
      {"secrets/key", "secrets/"},
      {"secrets", "secrets/"},
      {"keys/deploy.pem", "*.pem"},
      {"conf/prod/db.yml", "conf/*/db.yml"},
  };
  load_config(fx, "{\"apply\": {\"protected\": [\"secrets/\", \"*.pem\", \"conf/*/db.yml\"]}}");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char want[128];
      snprintf(want, sizeof want, "protected path (rule '%s')", cases[i].rule);
      cs_begin(fx);
      e_create(fx, cases[i].path, "x\n", 0644);
      cs_load(fx);
      refused_once(fx, cases[i].path, want);
    }
  /* Modifying, deleting and changing modes are refused too, not only creating.  */
  cs_begin(fx);
  e_modify(fx, ".git/config", "[core]\n\thooksPath = /tmp\n", 0644, "[core]\n");
  cs_load(fx);
  refused_once(fx, ".git/config", "protected path");
  cs_begin(fx);
  e_delete(fx, ".git/config", "file", "[core]\n");
  cs_load(fx);
  refused_once(fx, ".git/config", "protected path");
  cs_begin(fx);
  e_chmod(fx, ".git/hooks", "dir", 0700, NULL);
  cs_load(fx);
  refused_once(fx, ".git/hooks", "protected path");
  /* Not protected: other names that merely look alike.  */
  cs_begin(fx);
  e_create(fx, "secretsX", "x\n", 0644);
  e_create(fx, "notsecrets/x", "x\n", 0644);
  e_create(fx, "conf/prod/other.yml", "x\n", 0644);
  e_create(fx, "conf/a/b/db.yml", "x\n", 0644);
  cs_load(fx);
  passes(fx);
}

static void
defaults_cannot_be_unprotected(void **state)
{
  struct fx *fx = *state;
  load_config(fx, "{\"apply\": {\"protected\": []}}");
  cs_begin(fx);
  e_create(fx, ".git/hooks/pre-push", "#!/bin/sh\n", 0755);
  e_create(fx, ".tars/x", "x\n", 0644);
  e_create(fx, ".gitmodules", "x\n", 0644);
  cs_load(fx);
  cJSON *reasons;
  assert_int_equal(check(fx, &reasons, NULL), 3);
  cJSON_Delete(reasons);

  /* Even with every rule removed by hand, .git, .tars and tars.json stay protected.  */
  tars_policy_free(&fx->policy);
  fx->policy.n_protected = 0;
  cs_begin(fx);
  e_create(fx, ".git/hooks/pre-push", "#!/bin/sh\n", 0755);
  e_create(fx, ".tars/x", "x\n", 0644);
  e_create(fx, "tars.json", "{}\n", 0644);
  e_create(fx, ".gitmodules", "x\n", 0644);
  cs_load(fx);
  assert_int_equal(check(fx, &reasons, NULL), 3);
  assert_true(has_reason(reasons, ".git/hooks/pre-push", "rule '.git/'"));
  assert_true(has_reason(reasons, ".tars/x", "rule '.tars/'"));
  assert_true(has_reason(reasons, "tars.json", "rule 'tars.json'"));
  cJSON_Delete(reasons);
}

static void
symlinks_refused_by_default(void **state)
{
  struct fx *fx = *state;
  cs_begin(fx);
  e_symlink(fx, "link", "src/a.c");
  cs_load(fx);
  refused_once(fx, "link", "symlinks are not allowed");
}

static void
symlink_targets(void **state)
{
  struct fx *fx = *state;
  load_config(fx, "{\"apply\": {\"allow_symlinks\": true}}");
  repo_symlink(fx, "rl", "/etc");
  repo_mkdir(fx, "d/e");
  struct
  {
    const char *path, *target, *want;
  } bad[] = {
      {"l1", "/etc/passwd", "is absolute"},
      {"l2", "../../etc", "leaves the repository"},
      {"l3", "a/../../x", "leaves the repository"},
      {"d/l4", "../../x", "leaves the repository"},
      {"d/e/l5", "../../../outside/secret", "leaves the repository"},
      {"l6", ".git/hooks", "protected path (rule '.git/')"},
      {"d/l7", "../.git/config", "protected path"},
      {"l8", "src/../.tars", "protected path (rule '.tars/')"},
      {"l9", "rl/passwd", "goes through the symlink 'rl'"},
      {"l10", "rl", "goes through the symlink 'rl'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      cs_begin(fx);
      e_symlink(fx, bad[i].path, bad[i].target);
      cs_load(fx);
      refused_once(fx, bad[i].path, bad[i].want);
    }
  /* Chains through symlinks of the same changeset: "up" resolves to the root, so "d/l/../.."
   * lexically stays inside but really leaves.  */
  cs_begin(fx);
  e_symlink(fx, "d/up", "..");
  e_symlink(fx, "d/chain", "up/../..");
  cs_load(fx);
  refused_once(fx, "d/chain", "goes through the symlink 'd/up'");

  cs_begin(fx);
  e_symlink(fx, "ok1", "src/a.c");
  e_symlink(fx, "d/e/ok2", "../../README");
  e_symlink(fx, "d/ok3", "e");
  e_symlink(fx, "ok4", "./src/./a.c");
  e_symlink(fx, "ok5", "does-not-exist-yet");
  cs_load(fx);
  passes(fx);
}

static void
modes(void **state)
{
  struct fx *fx = *state;
  cs_begin(fx);
  e_create(fx, "sticky", "x\n", 01644);
  cs_load(fx);
  refused_once(fx, "sticky", "sticky bit");

  cs_begin(fx);
  e_create(fx, "ww", "x\n", 0666);
  cs_load(fx);
  refused_once(fx, "ww", "world-writable");

  cs_begin(fx);
  e_mkdir(fx, "wwdir", 0777);
  cs_load(fx);
  refused_once(fx, "wwdir", "world-writable");

  cs_begin(fx);
  e_chmod(fx, "README", "file", 0646, "hello\n");
  cs_load(fx);
  refused_once(fx, "README", "world-writable");

  cs_begin(fx);
  e_chmod(fx, "src", "dir", 01777, NULL);
  cs_load(fx);
  cJSON *reasons;
  assert_int_equal(check(fx, &reasons, NULL), 2);
  assert_true(has_reason(reasons, "src", "sticky bit"));
  assert_true(has_reason(reasons, "src", "world-writable"));
  cJSON_Delete(reasons);
}

/* What the loader already refuses, checked again by the policy (defence in depth): changesets
 * built in memory.  */
static void
what_the_loader_refuses_is_refused_again(void **state)
{
  struct fx *fx = *state;
  struct tars_change entries[] = {
      {.path = "suid", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 04755},
      {.path = "sgid", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 02755},
      {.path = "a\nb", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 0755},
      {.path = "bad\xff", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 0755},
      {.path = "../up", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 0755},
      {.path = "/abs", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 0755},
      {.path = "a//b", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 0755},
      {.path = "c1\xc2\x85", .op = TARS_CHANGE_MKDIR, .type = TARS_CHANGE_DIR, .mode = 0755},
  };
  struct tars_changeset cs = {.version = 1, .n_entries = 8, .entries = entries};
  cJSON *reasons = cJSON_CreateArray();
  struct tars_error err = {0};
  assert_int_equal(tars_policy_check(&fx->policy, &cs, -1, fx->repo, reasons, &err), -1);
  assert_int_equal(cJSON_GetArraySize(reasons), 8);
  assert_true(has_reason(reasons, "suid", "setuid bit"));
  assert_true(has_reason(reasons, "sgid", "setgid bit"));
  assert_true(has_reason(reasons, "a\\x0ab", "control character"));
  assert_true(has_reason(reasons, "bad\\xff", "not valid UTF-8"));
  assert_true(has_reason(reasons, "../up", "'..'"));
  assert_true(has_reason(reasons, "/abs", "absolute"));
  assert_true(has_reason(reasons, "a//b", "empty component"));
  assert_true(has_reason(reasons, "c1\\xc2\\x85", "control character"));
  /* The message and the JSON carry no raw control bytes.  */
  assert_null(strchr(err.msg, '\n'));
  char *text = cJSON_PrintUnformatted(reasons);
  assert_null(strchr(text, '\n'));
  free(text);
  cJSON_Delete(reasons);
}

static void
limits_from_config(void **state)
{
  struct fx *fx = *state;
  /* Sizes as strings and as numbers.  */
  load_config(fx, "{\"apply\": {\"max_file_size\": \"1K\", \"max_files\": 4, "
                  "\"max_total_bytes\": 2500}}");
  assert_int_equal(fx->policy.max_file_size, 1024);
  assert_int_equal(fx->policy.max_files, 4);
  assert_int_equal(fx->policy.max_total_bytes, 2500);

  cs_begin(fx);
  e_create_sized(fx, "big", 1025);
  cs_load(fx);
  refused_once(fx, "big", "file too large: 1025 bytes (limit 1024)");

  cs_begin(fx);
  e_create_sized(fx, "edge", 1024);
  cs_load(fx);
  passes(fx);

  cs_begin(fx);
  for (int i = 0; i < 5; i++)
    {
      char name[16];
      snprintf(name, sizeof name, "f%d", i);
      e_create_sized(fx, name, 10);
    }
  cs_load(fx);
  refused_once(fx, ".", "too many entries: 5 (limit 4)");

  cs_begin(fx);
  e_create_sized(fx, "t1", 1000);
  e_create_sized(fx, "t2", 1000);
  e_create_sized(fx, "t3", 1000);
  cs_load(fx);
  refused_once(fx, ".", "new content too large: 3000 bytes");

  load_config(fx, "{\"apply\": {\"max_file_size\": 100, \"max_total_bytes\": \"1M\", "
                  "\"max_files\": \"2\"}}");
  assert_int_equal(fx->policy.max_file_size, 100);
  assert_int_equal(fx->policy.max_total_bytes, 1 << 20);
  assert_int_equal(fx->policy.max_files, 2);
  cs_begin(fx);
  e_create_sized(fx, "big", 101);
  e_modify(fx, "README", "hello\n", 0644, "hello\n");
  cs_load(fx);
  refused_once(fx, "big", "file too large: 101 bytes (limit 100)");
}

static void
config_fallback_and_errors(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};

  /* tars.json at the top, when .tars/config.json is absent.  */
  write_config(fx, "tars.json", "{\"other\": 1, \"apply\": {\"max_files\": 7}}");
  assert_int_equal(tars_policy_load(&fx->policy, fx->repo, &err), 0);
  assert_int_equal(fx->policy.max_files, 7);
  /* .tars/config.json wins.  */
  write_config(fx, ".tars/config.json", "{\"apply\": {\"max_files\": 9}}");
  assert_int_equal(tars_policy_load(&fx->policy, fx->repo, &err), 0);
  assert_int_equal(fx->policy.max_files, 9);

  struct
  {
    const char *json, *want;
  } bad[] = {
      {"{\"apply\": {\"max_files\": 3", "malformed JSON"},
      {"[1]", "not an object"},
      {"{\"apply\": 3}", "\"apply\""},
      {"{\"apply\": {\"max_file_sise\": 3}}", "\"apply.max_file_sise\": unknown"},
      {"{\"apply\": {\"max_file_size\": -1}}", "\"apply.max_file_size\""},
      {"{\"apply\": {\"max_file_size\": 1.5}}", "\"apply.max_file_size\""},
      {"{\"apply\": {\"max_total_bytes\": \"lots\"}}", "\"apply.max_total_bytes\""},
      {"{\"apply\": {\"max_files\": true}}", "\"apply.max_files\""},
      {"{\"apply\": {\"allow_symlinks\": \"yes\"}}", "\"apply.allow_symlinks\""},
      {"{\"apply\": {\"protected\": \"secrets/\"}}", "\"apply.protected\""},
      {"{\"apply\": {\"protected\": [3]}}", "\"apply.protected\""},
      {"{\"apply\": {\"protected\": [\"/etc/\"]}}", "absolute"},
      {"{\"apply\": {\"protected\": [\"a/../b\"]}}", "'..'"},
      {"{\"apply\": {\"protected\": [\"\"]}}", "empty"},
      {"{\"apply\": {\"protected\": [\"ok/\"], \"max_files\": \"x\"}}", "\"apply.max_files\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      write_config(fx, ".tars/config.json", bad[i].json);
      struct tars_policy before = fx->policy;
      memset(&err, 0, sizeof err);
      assert_int_equal(tars_policy_load(&fx->policy, fx->repo, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      if (!strstr(err.msg, ".tars/config.json") || !strstr(err.msg, bad[i].want))
        fail_msg("config %s: message \"%s\" should name the file and \"%s\"", bad[i].json, err.msg,
                 bad[i].want);
      /* Left unchanged.  */
      assert_memory_equal(&before, &fx->policy, sizeof before);
    }

  /* More rules than fit.  */
  char big[8192] = "{\"apply\": {\"protected\": [";
  for (int i = 0; i < TARS_POLICY_MAX_PROTECTED; i++)
    snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"r%d/\"", i ? "," : "", i);
  strcat(big, "]}}");
  write_config(fx, ".tars/config.json", big);
  assert_int_equal(tars_policy_load(&fx->policy, fx->repo, &err), -1);
  assert_non_null(strstr(err.msg, "more than"));

  /* A symlinked configuration is not followed.  */
  assert_int_equal(unlink(at(fx, "repo/.tars/config.json")), 0);
  write_file(at(fx, "outside/config.json"), "{\"apply\": {\"allow_symlinks\": true}}", 35, 0644);
  assert_int_equal(symlink("../../outside/config.json", at(fx, "repo/.tars/config.json")), 0);
  assert_int_equal(tars_policy_load(&fx->policy, fx->repo, &err), -1);
  assert_non_null(strstr(err.msg, "symlink on the way"));
  assert_false(fx->policy.allow_symlinks);
}

static void
hardlinked_target(void **state)
{
  struct fx *fx = *state;
  put(fx, "h1", "shared\n");
  assert_int_equal(link(at(fx, "repo/h1"), at(fx, "repo/h2")), 0);
  /* The other name may be outside the repository: a write through it would change that file.  */
  assert_int_equal(link(at(fx, "outside/secret"), at(fx, "repo/h3")), 0);

  cs_begin(fx);
  e_modify(fx, "h1", "changed\n", 0644, "shared\n");
  cs_load(fx);
  refused_once(fx, "h1", "2 hard links");
  cs_begin(fx);
  e_chmod(fx, "h3", "file", 0600, "secret");
  cs_load(fx);
  refused_once(fx, "h3", "hard links");
}

static void
special_targets(void **state)
{
  struct fx *fx = *state;
  assert_int_equal(mkfifo(at(fx, "repo/fifo"), 0644), 0);
  cs_begin(fx);
  e_modify(fx, "fifo", "x\n", 0644, "");
  cs_load(fx);
  refused_once(fx, "fifo", "the target is a fifo");

  cs_begin(fx);
  e_delete(fx, "fifo", "file", "");
  cs_load(fx);
  refused_once(fx, "fifo", "the target is a fifo");

  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at(fx, "repo/sock")) <
      (int)sizeof sa.sun_path)
    {
      assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
      cs_begin(fx);
      e_modify(fx, "sock", "x\n", 0644, "");
      cs_load(fx);
      refused_once(fx, "sock", "the target is a socket");
    }
  close(s);

  /* A device node (and an overlay whiteout, 0/0) as a target.  */
  if (mknod(at(fx, "repo/null"), S_IFCHR | 0666, makedev(1, 3)) == 0)
    {
      cs_begin(fx);
      e_modify(fx, "null", "x\n", 0644, "");
      cs_load(fx);
      refused_once(fx, "null", "the target is a device node");
    }
  if (mknod(at(fx, "repo/wh"), S_IFCHR | 0600, makedev(0, 0)) == 0)
    {
      cs_begin(fx);
      e_delete(fx, "wh", "file", "");
      cs_load(fx);
      refused_once(fx, "wh", "the target is a device node");
    }
}

static void
parent_is_a_symlink_or_not_a_directory(void **state)
{
  struct fx *fx = *state;
  repo_symlink(fx, "dir", "../outside");
  repo_mkdir(fx, "deep/er");
  repo_symlink(fx, "deep/er/link", "/tmp");
  put(fx, "plain", "plain\n");

  cs_begin(fx);
  e_create(fx, "dir/file", "x\n", 0644);
  cs_load(fx);
  refused_once(fx, "dir/file", "'dir' is a symlink");

  cs_begin(fx);
  e_modify(fx, "dir/secret", "x\n", 0644, "secret");
  cs_load(fx);
  refused_once(fx, "dir/secret", "'dir' is a symlink");

  cs_begin(fx);
  e_create(fx, "deep/er/link/a/b", "x\n", 0644);
  cs_load(fx);
  refused_once(fx, "deep/er/link/a/b", "'deep/er/link' is a symlink");

  cs_begin(fx);
  e_create(fx, "plain/x", "x\n", 0644);
  cs_load(fx);
  refused_once(fx, "plain/x", "'plain' is a regular file in the repository, not a directory");

  /* Replacing the symlink or the file with a directory is fine: the deletion comes first.  */
  cs_begin(fx);
  e_delete(fx, "dir", "symlink", NULL);
  e_mkdir(fx, "dir", 0755);
  e_create(fx, "dir/file", "x\n", 0644);
  e_delete(fx, "plain", "file", "plain\n");
  e_mkdir(fx, "plain", 0755);
  e_create(fx, "plain/x", "x\n", 0644);
  cs_load(fx);
  passes(fx);

  /* A symlink as the target itself.  */
  repo_symlink(fx, "tl", "../outside/secret");
  cs_begin(fx);
  e_modify(fx, "tl", "x\n", 0644, "secret");
  cs_load(fx);
  refused_once(fx, "tl", "the target is a symlink");
}

static void
objects_are_checked(void **state)
{
  struct fx *fx = *state;
  cs_begin(fx);
  e_create(fx, "a", "aaa\n", 0644);
  e_create(fx, "b", "bbb\n", 0644);
  cs_load(fx);
  passes(fx);
  char hex[65], p[PATH_MAX + 80], q[PATH_MAX + 80];
  /* Swapped after the load: one for a symlink, one hardlinked.  */
  sha_of("aaa\n", 4, hex);
  snprintf(p, sizeof p, "%s/objects/%s", fx->cs_dir, hex);
  assert_int_equal(unlink(p), 0);
  assert_int_equal(symlink("/etc/passwd", p), 0);
  sha_of("bbb\n", 4, hex);
  snprintf(p, sizeof p, "%s/objects/%s", fx->cs_dir, hex);
  snprintf(q, sizeof q, "%s/elsewhere", fx->cs_dir);
  assert_int_equal(link(p, q), 0);
  cJSON *reasons;
  assert_int_equal(check(fx, &reasons, NULL), 2);
  assert_true(has_reason(reasons, "a", "not a regular file"));
  assert_true(has_reason(reasons, "b", "hard links"));
  cJSON_Delete(reasons);
}

static void
all_reasons_are_collected(void **state)
{
  struct fx *fx = *state;
  struct tars_error err = {0};
  load_config(fx, "{\"apply\": {\"max_file_size\": 10}}");
  cs_begin(fx);
  e_create(fx, ".git/hooks/post-merge", "#!/bin/sh\n", 0755);
  e_create(fx, "public", "x\n", 0666);
  e_create(fx, "big", "this is more than ten bytes\n", 0644);
  cs_load(fx);
  cJSON *reasons;
  assert_int_equal(check(fx, &reasons, &err), 3);
  assert_true(has_reason(reasons, ".git/hooks/post-merge", "protected path"));
  assert_true(has_reason(reasons, "public", "world-writable"));
  assert_true(has_reason(reasons, "big", "file too large"));
  cJSON_Delete(reasons);
  if (strncmp(err.msg, "changeset refused: 3 problems: ", 31) != 0 ||
      !strstr(err.msg, ".git/hooks/post-merge") || !strstr(err.msg, "public") ||
      !strstr(err.msg, "big"))
    fail_msg("summary: %s", err.msg);

  /* REASONS may be NULL; the refusal and its summary stay.  */
  assert_int_equal(tars_policy_check(&fx->policy, &fx->cs, fx->cs_fd, fx->repo, NULL, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_non_null(strstr(err.msg, "3 problems"));

  /* One problem per entry and kind, many entries: every one is listed, the summary is cut.  */
  load_config(fx, "{}");
  cs_begin(fx);
  for (int i = 0; i < 200; i++)
    {
      char name[32];
      snprintf(name, sizeof name, "ww/file-with-a-long-name-%03d", i);
      e_create(fx, name, name, 0666);
    }
  cs_load(fx);
  assert_int_equal(check(fx, &reasons, &err), 200);
  cJSON_Delete(reasons);
  assert_non_null(strstr(err.msg, "200 problems"));
  assert_true(strlen(err.msg) < sizeof err.msg);
}

/* ----- conflict tests ----- */

static size_t
conflicts(struct fx *fx, cJSON **out, struct tars_error *err)
{
  cJSON *c = cJSON_CreateArray();
  struct tars_error e = {0};
  if (err == NULL)
    err = &e;
  int r = tars_conflicts_check(&fx->cs, fx->repo, c, err);
  size_t n = (size_t)cJSON_GetArraySize(c);
  if (r == 0)
    assert_int_equal(n, 0);
  else
    {
      assert_int_equal(r, -1);
      assert_int_equal(err->kind, TARS_ERR_REFUSED);
      assert_true(n > 0);
    }
  if (out)
    *out = c;
  else
    cJSON_Delete(c);
  return n;
}

/* The conflict for PATH: reason mentions WANT, expected/found as given (NULL: not checked).  */
static void
expect_conflict(const cJSON *c, const char *path, const char *want, const char *expected,
                const char *found)
{
  const cJSON *r;
  cJSON_ArrayForEach(r, c)
  {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "path");
    if (!cJSON_IsString(p) || strcmp(p->valuestring, path) != 0)
      continue;
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "reason"));
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "expected"));
    const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "found"));
    assert_non_null(reason);
    assert_non_null(e);
    assert_non_null(f);
    if (!strstr(reason, want))
      fail_msg("conflict for %s: \"%s\" does not mention \"%s\"", path, reason, want);
    if (expected)
      assert_string_equal(e, expected);
    if (found)
      assert_string_equal(f, found);
    return;
  }
  dump(c);
  fail_msg("no conflict for %s", path);
}

static void
no_conflict_when_untouched(void **state)
{
  struct fx *fx = *state;
  put(fx, "gone.txt", "bye\n");
  repo_mkdir(fx, "olddir/sub");
  put(fx, "olddir/sub/f", "f\n");
  repo_symlink(fx, "oldlink", "README");
  put(fx, "was-file", "wf\n");
  cs_begin(fx);
  e_modify(fx, "src/a.c", "int a = 2;\n", 0644, "int a;\n");
  e_chmod(fx, "README", "file", 0600, "hello\n");
  e_chmod(fx, "src", "dir", 0700, NULL);
  e_delete(fx, "gone.txt", "file", "bye\n");
  e_delete(fx, "olddir/sub/f", "file", "f\n");
  e_delete(fx, "olddir/sub", "dir", NULL);
  e_delete(fx, "olddir", "dir", NULL);
  e_delete(fx, "oldlink", "symlink", NULL);
  e_create(fx, "new.txt", "new\n", 0644);
  e_mkdir(fx, "newdir", 0755);
  e_create(fx, "newdir/x", "x\n", 0644);
  e_delete(fx, "was-file", "file", "wf\n");
  e_mkdir(fx, "was-file", 0755);
  e_create(fx, "was-file/inner", "i\n", 0644);
  cs_load(fx);
  struct tars_error err = {0};
  cJSON *c;
  if (conflicts(fx, &c, &err) != 0)
    {
      dump(c);
      fail_msg("unexpected conflicts: %s", err.msg);
    }
  cJSON_Delete(c);
  /* CONFLICTS may be NULL.  */
  assert_int_equal(tars_conflicts_check(&fx->cs, fx->repo, NULL, &err), 0);
}

static void
conflicts_are_found(void **state)
{
  struct fx *fx = *state;
  char hex[65];
  put(fx, "modified", "now\n");
  /* "deleted" is not in the repository.  */
  put(fx, "created", "someone else's\n");
  put(fx, "chmodded", "changed\n");
  repo_mkdir(fx, "extra");
  put(fx, "extra/new-since", "n\n");
  put(fx, "typed", "t\n");
  cs_begin(fx);
  e_modify(fx, "modified", "mine\n", 0644, "then\n");
  e_modify(fx, "deleted", "mine\n", 0644, "then\n");
  e_create(fx, "created", "mine\n", 0644);
  e_delete(fx, "missingdir", "dir", NULL);
  e_chmod(fx, "chmodded", "file", 0600, "original\n");
  e_delete(fx, "extra", "dir", NULL);
  e_delete(fx, "nolink", "symlink", NULL);
  e_mkdir(fx, "src/a.c", 0755);            /* exists, as a file */
  e_create(fx, "nodir/file", "x\n", 0644); /* its directory is gone */
  e_delete(fx, "typed", "dir", NULL);      /* a file now */
  cs_load(fx);
  struct tars_error err = {0};
  cJSON *c;
  assert_int_equal(conflicts(fx, &c, &err), 10);
  sha_of("then\n", 5, hex);
  char now[65];
  sha_of("now\n", 4, now);
  expect_conflict(c, "modified", "modified since the snapshot", hex, now);
  expect_conflict(c, "deleted", "deleted since the snapshot", hex, "absent");
  sha_of("someone else's\n", 15, now);
  expect_conflict(c, "created", "created since the snapshot", "absent", now);
  expect_conflict(c, "missingdir", "the directory is missing", "directory", "absent");
  expect_conflict(c, "chmodded", "modified since", NULL, NULL);
  expect_conflict(c, "extra", "holds 'new-since'", "directory", NULL);
  expect_conflict(c, "nolink", "the symlink is missing", "symlink", "absent");
  expect_conflict(c, "src/a.c", "created since the snapshot", "absent", NULL);
  expect_conflict(c, "nodir/file", "the directory 'nodir' is missing", "directory", "absent");
  expect_conflict(c, "typed", "no longer a directory", "directory", NULL);
  cJSON_Delete(c);
  if (strncmp(err.msg, "conflict: 10 paths changed since the snapshot: ", 46) != 0)
    fail_msg("summary: %s", err.msg);
}

static void
conflict_through_a_symlink_is_not_followed(void **state)
{
  struct fx *fx = *state;
  /* The repository's file became a symlink to a file with the very content the sandbox saw: it
   * must not be hashed through the link.  */
  repo_symlink(fx, "cfg", "../outside/secret");
  repo_symlink(fx, "sub", "../outside");
  cs_begin(fx);
  e_modify(fx, "cfg", "x\n", 0644, "secret");
  e_modify(fx, "sub/secret", "x\n", 0644, "secret");
  cs_load(fx);
  cJSON *c;
  assert_int_equal(conflicts(fx, &c, NULL), 2);
  expect_conflict(c, "cfg", "no longer a regular file", NULL, "symlink");
  expect_conflict(c, "sub/secret", "no longer a regular file", NULL, "symlink on the way");
  cJSON_Delete(c);
}

static void
conflict_check_does_not_block_on_a_fifo(void **state)
{
  struct fx *fx = *state;
  assert_int_equal(mkfifo(at(fx, "repo/pipe"), 0644), 0);
  cs_begin(fx);
  e_modify(fx, "pipe", "x\n", 0644, "");
  cs_load(fx);
  cJSON *c;
  alarm(10);
  assert_int_equal(conflicts(fx, &c, NULL), 1);
  alarm(0);
  expect_conflict(c, "pipe", "no longer a regular file", NULL, "fifo");
  cJSON_Delete(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
  const struct CMUnitTest tests[] = {
      T(defaults),
      T(a_clean_changeset_passes),
      T(protected_paths),
      T(defaults_cannot_be_unprotected),
      T(symlinks_refused_by_default),
      T(symlink_targets),
      T(modes),
      T(what_the_loader_refuses_is_refused_again),
      T(limits_from_config),
      T(config_fallback_and_errors),
      T(hardlinked_target),
      T(special_targets),
      T(parent_is_a_symlink_or_not_a_directory),
      T(objects_are_checked),
      T(all_reasons_are_collected),
      T(no_conflict_when_untouched),
      T(conflicts_are_found),
      T(conflict_through_a_symlink_is_not_followed),
      T(conflict_check_does_not_block_on_a_fifo),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
