/* Transactions: apply, refusal, conflicts, crash at every labelled point then recovery,
 * rollback (drift, --force, rollback of a rollback), git commits.
 *
 * A crash is a forked child that applies with TARS_CRASH_AT set and dies of SIGKILL there; the
 * parent then recovers, as the next tars command would, and compares the whole tree (every path,
 * type, mode, size, content hash, symlink target; .tars/ and .git/ left out) with the snapshot
 * taken before the transaction or after an uninterrupted one.  */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "apply/policy.h"
#include "store/store.h"
#include "tars/cleanup.h"
#include "testutil.h"
#include "apply/txn.h"

/* ----- helpers ----- */

static char g_root[512];

#define sh test_sh

/* The output of a shell command, trailing newline removed.  */
static char *
sh_out(const char *fmt, ...)
{
  char cmd[4 * PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  static char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  pclose(f);
  while (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  return strdup(buf);
}

static void
sha_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++)
    sprintf(out + 2 * i, "%02x", md[i]);
}

static void
put(const char *root, const char *rel, const char *content, unsigned mode)
{
  char p[2 * PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
  assert_int_equal(chmod(p, mode), 0);
}

static void
mkd(const char *root, const char *rel, unsigned mode)
{
  char p[2 * PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  assert_int_equal(mkdir(p, mode), 0);
  assert_int_equal(chmod(p, mode), 0);
}

/* ----- snapshots ----- */

static char **snap_lines;
static size_t snap_n, snap_cap;
static size_t snap_prefix;

static int
snap_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  const char *rel = path + snap_prefix;
  if (*rel == '/')
    rel++;
  if (*rel == '\0')
    return 0;
  if (strcmp(rel, ".tars") == 0 || strncmp(rel, ".tars/", 6) == 0 || strcmp(rel, ".git") == 0 ||
      strncmp(rel, ".git/", 5) == 0)
    return 0;
  char line[PATH_MAX + 200], extra[PATH_MAX + 80] = "";
  char type = S_ISDIR(st->st_mode)   ? 'd'
              : S_ISLNK(st->st_mode) ? 'l'
              : S_ISREG(st->st_mode) ? 'f'
                                     : '?';
  if (S_ISREG(st->st_mode))
    {
      int fd = open(path, O_RDONLY);
      char *buf = malloc((size_t)st->st_size + 1);
      ssize_t n = fd >= 0 ? read(fd, buf, (size_t)st->st_size) : -1;
      char hex[65] = "unreadable";
      if (n == st->st_size)
        sha_hex(buf, (size_t)n, hex);
      free(buf);
      if (fd >= 0)
        close(fd);
      snprintf(extra, sizeof extra, " %lld %s", (long long)st->st_size, hex);
    }
  else if (S_ISLNK(st->st_mode))
    {
      char t[PATH_MAX];
      ssize_t n = readlink(path, t, sizeof t - 1);
      t[n > 0 ? n : 0] = '\0';
      snprintf(extra, sizeof extra, " -> %s", t);
    }
  snprintf(line, sizeof line, "%s %c %04o%s", rel, type, st->st_mode & 07777, extra);
  if (snap_n == snap_cap)
    {
      snap_cap = snap_cap ? snap_cap * 2 : 64;
      snap_lines = realloc(snap_lines, snap_cap * sizeof *snap_lines);
    }
  snap_lines[snap_n++] = strdup(line);
  (void)flag;
  (void)ftw;
  return 0;
}

static int
cmp_line(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every path beneath ROOT, one line each, sorted.  */
static char *
snapshot(const char *root)
{
  snap_n = 0;
  snap_prefix = strlen(root);
  assert_int_equal(nftw(root, snap_visit, 16, FTW_PHYS), 0);
  qsort(snap_lines, snap_n, sizeof *snap_lines, cmp_line);
  size_t len = 1;
  for (size_t i = 0; i < snap_n; i++)
    len += strlen(snap_lines[i]) + 1;
  char *s = malloc(len), *p = s;
  *p = '\0';
  for (size_t i = 0; i < snap_n; i++)
    {
      p += sprintf(p, "%s\n", snap_lines[i]);
      free(snap_lines[i]);
    }
  return s;
}

static void
assert_tree(const char *root, const char *want, const char *what)
{
  char *got = snapshot(root);
  if (strcmp(got, want) != 0)
    {
      fprintf(stderr, "--- %s: want\n%s--- got\n%s", what, want, got);
      free(got);
      fail_msg("%s: the tree differs", what);
    }
  free(got);
}

/* ----- changesets ----- */

struct entry
{
  char path[256];
  const char *op, *type;
  unsigned mode;
  const char *content; /* create, modify */
  const char *base;    /* content the sandbox saw, or NULL */
  const char *target;  /* symlink */
};

struct cs
{
  struct entry e[64];
  int n;
};

static void
add(struct cs *c, const char *path, const char *op, const char *type, unsigned mode,
    const char *content, const char *base)
{
  struct entry *e = &c->e[c->n++];
  memset(e, 0, sizeof *e);
  snprintf(e->path, sizeof e->path, "%s", path);
  e->op = op;
  e->type = type;
  e->mode = mode;
  e->content = content;
  e->base = base;
}

static int
cmp_entry(const void *a, const void *b)
{
  const struct entry *x = a, *y = b;
  bool dx = strcmp(x->op, "delete") == 0, dy = strcmp(y->op, "delete") == 0;
  if (dx != dy)
    return dx ? -1 : 1;
  return dx ? strcmp(y->path, x->path) : strcmp(x->path, y->path);
}

static void
write_cs(struct cs *c, const char *dir)
{
  char p[PATH_MAX], hex[65];
  sh("rm -rf '%s' && mkdir -p '%s/objects'", dir, dir);
  qsort(c->e, (size_t)c->n, sizeof c->e[0], cmp_entry);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "version", 1);
  cJSON *arr = cJSON_AddArrayToObject(m, "entries");
  for (int i = 0; i < c->n; i++)
    {
      struct entry *e = &c->e[i];
      cJSON *o = cJSON_CreateObject();
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", e->mode);
      cJSON_AddStringToObject(o, "path", e->path);
      cJSON_AddStringToObject(o, "op", e->op);
      cJSON_AddStringToObject(o, "type", e->type);
      bool content = !strcmp(e->op, "create") || !strcmp(e->op, "modify");
      if (strcmp(e->op, "delete") != 0 && strcmp(e->op, "symlink") != 0)
        cJSON_AddStringToObject(o, "mode", mode);
      if (content)
        {
          sha_hex(e->content, strlen(e->content), hex);
          cJSON_AddNumberToObject(o, "size", (double)strlen(e->content));
          cJSON_AddStringToObject(o, "sha256", hex);
          snprintf(p, sizeof p, "%s/objects/%s", dir, hex);
          put(dir, p + strlen(dir) + 1, e->content, 0644);
        }
      bool has_base = content || !strcmp(e->op, "delete") || (!strcmp(e->op, "chmod"));
      if (has_base)
        {
          if (e->base)
            {
              sha_hex(e->base, strlen(e->base), hex);
              cJSON_AddStringToObject(o, "base_sha256", hex);
            }
          else
            cJSON_AddNullToObject(o, "base_sha256");
        }
      if (e->target)
        cJSON_AddStringToObject(o, "target", e->target);
      cJSON_AddItemToArray(arr, o);
    }
  char *text = cJSON_Print(m);
  put(dir, "manifest.json", text, 0644);
  free(text);
  cJSON_Delete(m);
}

/* ----- the standard repository and changeset ----- */

#define MAIN_OLD "int main(void) { return 0; }\n"
#define MAIN_NEW "int main(void) { return 1; }\n"

static void
populate(const char *repo)
{
  mkd(repo, "", 0755);
  mkd(repo, "src", 0755);
  mkd(repo, "src/lib", 0755);
  mkd(repo, "src/lib/deep", 0755);
  put(repo, "src/main.c", MAIN_OLD, 0644);
  put(repo, "src/lib/util.c", "util\n", 0644);
  put(repo, "src/lib/deep/x.h", "x\n", 0600);
  mkd(repo, "old", 0755);
  mkd(repo, "old/sub", 0750);
  put(repo, "old/a.txt", "a\n", 0644);
  put(repo, "old/sub/b.txt", "b\n", 0444);
  put(repo, "run.sh", "#!/bin/sh\n", 0644);
  mkd(repo, "docs", 0755);
  put(repo, "docs/readme", "old\n", 0644);
  mkd(repo, "bin", 0755);
  put(repo, "bin/tool", "tool\n", 0755);
  mkd(repo, "tc", 0755);
  put(repo, "tc/f", "f\n", 0644);
  put(repo, "ft", "a file for now\n", 0644);
}

/* Every kind of operation, in nested directories, with a type change (tc: a directory becomes
 * a file).  */
static void
standard_cs(struct cs *c)
{
  memset(c, 0, sizeof *c);
  add(c, "old/sub/b.txt", "delete", "file", 0, NULL, "b\n");
  add(c, "old/sub", "delete", "dir", 0, NULL, NULL);
  add(c, "old/a.txt", "delete", "file", 0, NULL, "a\n");
  add(c, "old", "delete", "dir", 0, NULL, NULL);
  add(c, "tc/f", "delete", "file", 0, NULL, "f\n");
  add(c, "tc", "delete", "dir", 0, NULL, NULL);
  add(c, "tc", "create", "file", 0644, "now a file\n", NULL);
  add(c, "src/main.c", "modify", "file", 0644, MAIN_NEW, MAIN_OLD);
  add(c, "docs/readme", "modify", "file", 0600, "new\n", "old\n");
  add(c, "src/lib/deep/new.c", "create", "file", 0644, "new\n", NULL);
  add(c, "added", "mkdir", "dir", 0755, NULL, NULL);
  add(c, "added/inner", "mkdir", "dir", 0550, NULL, NULL);
  add(c, "added/inner/z", "create", "file", 0640, "z\n", NULL);
  add(c, "run.sh", "chmod", "file", 0755, NULL, "#!/bin/sh\n");
  add(c, "bin", "chmod", "dir", 0700, NULL, NULL);
  add(c, "src/lib/deep/x.h", "chmod", "file", 0644, NULL, "x\n");
  /* A file becomes a directory with a file inside: both made once the file is gone.  */
  add(c, "ft", "delete", "file", 0, NULL, "a file for now\n");
  add(c, "ft", "mkdir", "dir", 0751, NULL, NULL);
  add(c, "ft/inner", "create", "file", 0644, "inside\n", NULL);
}

static char g_repo[600], g_cs[600], g_pre[600], g_post[600];

static void
store_closep(struct tars_store **s)
{
  tars_store_close(*s);
}
#define cleanup_store __attribute__((cleanup(store_closep)))

static const struct tars_policy *g_policy; /* NULL: the repository's */

static int
do_apply(const char *repo, const char *csdir, bool git, struct tars_txn_result *res,
         struct tars_error *err)
{
  cleanup_store struct tars_store *store = NULL;
  if (tars_store_open(repo, true, &store, err) < 0)
    return -1;
  int n;
  if (tars_txn_recover(store, &n, err) < 0)
    return -1;
  cleanup_close int dfd = open(csdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(dfd >= 0);
  struct tars_apply_opts o = {
      .execution_id = "exec-1", .step_id = "step-2", .git_commit = git, .policy = g_policy};
  return tars_txn_apply(store, dfd, &o, res, err);
}

static int
do_rollback(const char *repo, const char *txn, bool force, struct tars_txn_result *res,
            struct tars_error *err)
{
  cleanup_store struct tars_store *store = NULL;
  if (tars_store_open(repo, true, &store, err) < 0)
    return -1;
  int n;
  if (tars_txn_recover(store, &n, err) < 0)
    return -1;
  struct tars_apply_opts o = {.git_commit = true};
  return tars_txn_rollback(store, txn, force, &o, res, err);
}

static int
recover(const char *repo)
{
  cleanup_store struct tars_store *store = NULL;
  struct tars_error err = {0};
  int n = -1;
  if (tars_store_open(repo, true, &store, &err) < 0 || tars_txn_recover(store, &n, &err) < 0)
    fail_msg("recover: %s", err.msg);
  return n;
}

/* The audit events of REPO, space separated, and the state of transaction TXN (or "").  */
static char *
audit_events(const char *repo)
{
  cleanup_store struct tars_store *store = NULL;
  struct tars_error err = {0};
  cJSON *list = NULL;
  assert_int_equal(tars_store_open(repo, true, &store, &err), 0);
  assert_int_equal(tars_audit_list(store, NULL, &list, &err), 0);
  char *s = calloc(1, 8192);
  cJSON *e;
  cJSON_ArrayForEach(e, list)
  {
    strcat(s, cJSON_GetObjectItem(e, "event")->valuestring);
    strcat(s, " ");
  }
  cJSON_Delete(list);
  return s;
}

static char *
txn_state(const char *repo, const char *txn)
{
  cleanup_store struct tars_store *store = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_store_open(repo, true, &store, &err), 0);
  sqlite3_stmt *st;
  assert_int_equal(
      tars_store_prepare(store, "SELECT state FROM transactions WHERE id = ?", &st, &err), 0);
  sqlite3_bind_text(st, 1, txn, -1, SQLITE_TRANSIENT);
  char *r = strdup(sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "");
  sqlite3_finalize(st);
  return r;
}

static int
count_txns(const char *repo)
{
  cleanup_store struct tars_store *store = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_store_open(repo, true, &store, &err), 0);
  sqlite3_stmt *st;
  assert_int_equal(tars_store_prepare(store, "SELECT count(*) FROM transactions", &st, &err), 0);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* ----- fixture ----- */

static char *g_pre_snap, *g_post_snap;

static int
setup(void **state)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(g_root, sizeof g_root, "%s/tars-txn-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(g_root) == NULL)
    return -1;
  snprintf(g_repo, sizeof g_repo, "%s/repo", g_root);
  snprintf(g_cs, sizeof g_cs, "%s/cs", g_root);
  snprintf(g_pre, sizeof g_pre, "%s/pre", g_root);
  snprintf(g_post, sizeof g_post, "%s/post", g_root);
  populate(g_pre);
  struct cs c;
  standard_cs(&c);
  write_cs(&c, g_cs);
  /* The post-state, made by hand: what the changeset says, with plain system calls.  */
  sh("cp -a '%s' '%s'", g_pre, g_post);
  sh("cd '%s' && rm -r old tc && printf 'now a file\\n' > tc && chmod 0644 tc && "
     "printf '" MAIN_NEW "' > src/main.c && printf 'new\\n' > docs/readme && "
     "chmod 0600 docs/readme && printf 'new\\n' > src/lib/deep/new.c && "
     "chmod 0644 src/lib/deep/new.c && mkdir -p added/inner && printf 'z\\n' > added/inner/z && "
     "chmod 0640 added/inner/z && chmod 0755 added && chmod 0550 added/inner && "
     "chmod 0755 run.sh && chmod 0700 bin && chmod 0644 src/lib/deep/x.h && rm ft && "
     "mkdir ft && printf 'inside\\n' > ft/inner && chmod 0644 ft/inner && chmod 0751 ft",
     g_post);
  g_pre_snap = snapshot(g_pre);
  g_post_snap = snapshot(g_post);
  (void)state;
  return 0;
}

static int
teardown(void **state)
{
  sh("chmod -R u+rwx '%s'; rm -rf '%s'", g_root, g_root);
  free(g_pre_snap);
  free(g_post_snap);
  (void)state;
  return 0;
}

/* A fresh copy of the pristine repository at g_repo.  */
static void
fresh_repo(void)
{
  sh("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s' && cp -a '%s' '%s'", g_repo, g_repo, g_pre,
     g_repo);
}

/* ----- tests ----- */

static void
test_apply_exact(void **state)
{
  struct tars_txn_result res;
  struct tars_error err = {0};
  fresh_repo();
  if (do_apply(g_repo, g_cs, false, &res, &err) < 0)
    fail_msg("apply: %s", err.msg);
  assert_int_equal(res.n_ops, 19);
  assert_string_equal(res.git_commit, "");
  assert_tree(g_repo, g_post_snap, "after apply");
  char *st = txn_state(g_repo, res.txn_id);
  assert_string_equal(st, "committed");
  free(st);
  char *ev = audit_events(g_repo);
  assert_string_equal(ev, "begin commit ");
  free(ev);
  /* The pre-images are kept for rollback.  */
  char p[PATH_MAX];
  struct stat s;
  snprintf(p, sizeof p, "%s/.tars/backups/%s", g_repo, res.txn_id);
  assert_int_equal(stat(p, &s), 0);
  tars_txn_result_free(&res);
  (void)state;
}

static void
test_refusal_writes_nothing(void **state)
{
  struct tars_txn_result res;
  struct tars_error err = {0};
  char dir[PATH_MAX];
  struct cs c = {0};
  fresh_repo();
  snprintf(dir, sizeof dir, "%s/cs-bad", g_root);
  add(&c, "src/ok.c", "create", "file", 0644, "ok\n", NULL);
  add(&c, ".git/hooks/pre-commit", "create", "file", 0755, "evil\n", NULL);
  add(&c, "x.sh", "create", "file", 0757, "world-writable\n", NULL);
  write_cs(&c, dir);
  assert_int_equal(do_apply(g_repo, dir, false, &res, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_non_null(res.report);
  cJSON *refused = cJSON_GetObjectItem(res.report, "refused");
  assert_true(cJSON_GetArraySize(refused) >= 1);
  tars_txn_result_free(&res);
  assert_tree(g_repo, g_pre_snap, "after a refusal");
  assert_int_equal(count_txns(g_repo), 0);
  char *ev = audit_events(g_repo);
  assert_non_null(strstr(ev, "refusal"));
  free(ev);

  /* A conflict: the host file changed since the snapshot.  */
  memset(&c, 0, sizeof c);
  add(&c, "src/new.c", "create", "file", 0644, "n\n", NULL);
  add(&c, "src/main.c", "modify", "file", 0644, "y\n", "not what is there\n");
  write_cs(&c, dir);
  assert_int_equal(do_apply(g_repo, dir, false, &res, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  cJSON *conflicts = cJSON_GetObjectItem(res.report, "conflicts");
  assert_int_equal(cJSON_GetArraySize(conflicts), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(conflicts, 0), "path")->valuestring,
                      "src/main.c");
  tars_txn_result_free(&res);
  assert_tree(g_repo, g_pre_snap, "after a conflict");
  assert_int_equal(count_txns(g_repo), 0);
  ev = audit_events(g_repo);
  assert_non_null(strstr(ev, "conflict"));
  free(ev);

  /* Malformed: INVALID, audited, nothing written.  */
  put(dir, "manifest.json", "{\"version\": 1, \"entries\": [", 0644);
  assert_int_equal(do_apply(g_repo, dir, false, &res, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  tars_txn_result_free(&res);
  ev = audit_events(g_repo);
  assert_non_null(strstr(ev, "invalid"));
  free(ev);
  assert_tree(g_repo, g_pre_snap, "after a malformed changeset");

  /* A manifest lying about an object's content: caught while copying, undone.  */
  memset(&c, 0, sizeof c);
  add(&c, "src/main.c", "modify", "file", 0644, MAIN_NEW, MAIN_OLD);
  add(&c, "zz", "create", "file", 0644, "honest\n", NULL);
  write_cs(&c, dir);
  char hex[65], p[PATH_MAX];
  sha_hex("honest\n", 7, hex);
  snprintf(p, sizeof p, "objects/%s", hex);
  put(dir, p, "lying!\n", 0644);
  assert_int_equal(do_apply(g_repo, dir, false, &res, &err), -1);
  assert_non_null(strstr(err.msg, "does not match"));
  tars_txn_result_free(&res);
  assert_tree(g_repo, g_pre_snap, "after a lying manifest");
  char *st = txn_state(g_repo, res.txn_id);
  assert_string_equal(st, "aborted");
  free(st);
  (void)state;
}

/* Apply in a child that dies at LABEL; returns after checking it died of SIGKILL.  */
static void
crash_child(const char *label, void (*body)(void))
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      setenv("TARS_CRASH_AT", label, 1);
      body();
      _exit(3); /* the crash point was not reached */
    }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
    fail_msg("%s: the child did not die at the crash point (status %#x)", label, status);
}

static void
child_apply(void)
{
  struct tars_txn_result res;
  struct tars_error err = {0};
  do_apply(g_repo, g_cs, false, &res, &err);
}

static const struct
{
  const char *label;
  bool committed;
} crash_points[] = {
    {"journaled", false},     {"prepare-op", false},    {"prepare-op:4", false},
    {"prepare-op:9", false},  {"prepare-op:16", false}, {"prepared", false},
    {"apply-op", false},      {"apply-op:2", false},    {"apply-op:5", false},
    {"apply-op:7", false},    {"apply-op:8", false},    {"apply-op:12", false},
    {"apply-op:16", false},   {"apply-op:18", false},   {"apply-op:19", false},
    {"prepare-op:19", false}, {"dir-mode", false},      {"dir-mode:3", false},
    {"before-commit", false}, {"after-commit", true},
};

static void
test_crash_points(void **state)
{
  for (size_t i = 0; i < sizeof crash_points / sizeof crash_points[0]; i++)
    {
      fresh_repo();
      crash_child(crash_points[i].label, child_apply);
      int n = recover(g_repo);
      assert_int_equal(n, crash_points[i].committed ? 0 : 1);
      assert_tree(g_repo, crash_points[i].committed ? g_post_snap : g_pre_snap,
                  crash_points[i].label);
      /* Recovering again changes nothing.  */
      assert_int_equal(recover(g_repo), 0);
      assert_tree(g_repo, crash_points[i].committed ? g_post_snap : g_pre_snap,
                  crash_points[i].label);
      char *ev = audit_events(g_repo);
      if (!crash_points[i].committed)
        assert_non_null(strstr(ev, "recovery"));
      free(ev);
    }
  (void)state;
}

static void
child_recover(void)
{
  recover(g_repo);
}

/* Killed during the apply, then killed again during recovery, at every undo step: the next
 * recovery still restores the pre-state exactly.  */
static void
test_crash_during_recovery(void **state)
{
  const char *first[] = {"apply-op:9", "dir-mode:2", "before-commit"};
  for (size_t f = 0; f < sizeof first / sizeof first[0]; f++)
    for (int k = 1; k <= 21; k += 2)
      {
        char label[32];
        fresh_repo();
        crash_child(first[f], child_apply);
        snprintf(label, sizeof label, k == 21 ? "recovered" : "recover-op:%d", k);
        crash_child(label, child_recover);
        assert_int_equal(recover(g_repo), 1);
        assert_tree(g_repo, g_pre_snap, label);
      }
  (void)state;
}

static void
test_rollback(void **state)
{
  struct tars_txn_result res, rb, rb2;
  struct tars_error err = {0};
  fresh_repo();
  assert_int_equal(do_apply(g_repo, g_cs, false, &res, &err), 0);
  if (do_rollback(g_repo, res.txn_id, false, &rb, &err) < 0)
    fail_msg("rollback: %s", err.msg);
  assert_tree(g_repo, g_pre_snap, "after rollback");
  char *st = txn_state(g_repo, res.txn_id);
  assert_string_equal(st, "rolled_back");
  free(st);
  /* Rolled back once is enough.  */
  struct tars_txn_result again;
  assert_int_equal(do_rollback(g_repo, res.txn_id, false, &again, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  tars_txn_result_free(&again);
  /* The rollback of the rollback is the transaction again.  */
  if (do_rollback(g_repo, rb.txn_id, false, &rb2, &err) < 0)
    fail_msg("rollback of the rollback: %s", err.msg);
  assert_tree(g_repo, g_post_snap, "after the rollback of the rollback");
  char *ev = audit_events(g_repo);
  assert_non_null(strstr(ev, "rollback"));
  free(ev);
  /* Unknown id.  */
  assert_int_equal(do_rollback(g_repo, "txn-nope", false, &again, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_non_null(strstr(err.msg, "no transaction txn-nope in "));
  tars_txn_result_free(&again);
  tars_txn_result_free(&res);
  tars_txn_result_free(&rb);
  tars_txn_result_free(&rb2);
  (void)state;
}

static void
test_rollback_drift(void **state)
{
  struct tars_txn_result res, rb;
  struct tars_error err = {0};
  fresh_repo();
  assert_int_equal(do_apply(g_repo, g_cs, false, &res, &err), 0);
  /* The user changes a file the transaction wrote, and the mode of another.  */
  put(g_repo, "src/main.c", "edited by the user\n", 0644);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/run.sh", g_repo);
  chmod(p, 0700);
  char *before = snapshot(g_repo);
  assert_int_equal(do_rollback(g_repo, res.txn_id, false, &rb, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  cJSON *drift = cJSON_GetObjectItem(rb.report, "drift");
  assert_int_equal(cJSON_GetArraySize(drift), 2);
  char *text = cJSON_PrintUnformatted(drift);
  assert_non_null(strstr(text, "src/main.c"));
  assert_non_null(strstr(text, "run.sh"));
  free(text);
  tars_txn_result_free(&rb);
  assert_tree(g_repo, before, "after a refused rollback");
  free(before);
  char *st = txn_state(g_repo, res.txn_id);
  assert_string_equal(st, "committed");
  free(st);
  /* --force restores the pre-state over the user's changes.  */
  if (do_rollback(g_repo, res.txn_id, true, &rb, &err) < 0)
    fail_msg("forced rollback: %s", err.msg);
  assert_tree(g_repo, g_pre_snap, "after a forced rollback");
  tars_txn_result_free(&rb);
  tars_txn_result_free(&res);
  (void)state;
}

static char g_rb_txn[TARS_ID_MAX];

static void
child_rollback(void)
{
  struct tars_txn_result res;
  struct tars_error err = {0};
  do_rollback(g_repo, g_rb_txn, false, &res, &err);
}

/* A rollback killed half-way is undone like any transaction: the tree is the original's
 * post-state again, the original still committed, and the rollback can be run again.  */
static void
test_rollback_crash(void **state)
{
  const char *labels[] = {"prepare-op:3", "apply-op:4", "apply-op:10", "before-commit"};
  for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
    {
      struct tars_txn_result res, rb;
      struct tars_error err = {0};
      fresh_repo();
      assert_int_equal(do_apply(g_repo, g_cs, false, &res, &err), 0);
      snprintf(g_rb_txn, sizeof g_rb_txn, "%s", res.txn_id);
      crash_child(labels[i], child_rollback);
      assert_int_equal(recover(g_repo), 1);
      assert_tree(g_repo, g_post_snap, labels[i]);
      char *st = txn_state(g_repo, res.txn_id);
      assert_string_equal(st, "committed");
      free(st);
      if (do_rollback(g_repo, res.txn_id, false, &rb, &err) < 0)
        fail_msg("rollback after a crashed one: %s", err.msg);
      assert_tree(g_repo, g_pre_snap, "rollback after a crashed one");
      tars_txn_result_free(&res);
      tars_txn_result_free(&rb);
    }
  (void)state;
}

/* Symlinks (where the policy allows them): a new one, and one whose target changes (a delete
 * and a symlink entry); crashes anywhere, then rollback.  */
static void
test_symlinks(void **state)
{
  char pre[700], post[700], dir[700], label[32];
  struct cs c = {0};
  struct tars_policy pol;
  struct tars_txn_result res, rb;
  struct tars_error err = {0};
  tars_policy_default(&pol);
  pol.allow_symlinks = true;
  g_policy = &pol;

  fresh_repo();
  snprintf(pre, sizeof pre, "%s/link", g_repo);
  assert_int_equal(symlink("src/main.c", pre), 0);
  char *pre_snap = snapshot(g_repo);
  sh("cp -a '%s' '%s/pre-links'", g_repo, g_root);
  snprintf(pre, sizeof pre, "%s/pre-links", g_root);
  snprintf(post, sizeof post, "%s/post-links", g_root);
  sh("cp -a '%s' '%s' && cd '%s' && ln -sfn docs/readme link && ln -s src/lib/util.c src/lib/l2",
     pre, post, post);
  char *post_snap = snapshot(post);
  snprintf(dir, sizeof dir, "%s/cs-links", g_root);
  add(&c, "link", "delete", "symlink", 0, NULL, NULL);
  add(&c, "link", "symlink", "symlink", 0, NULL, NULL);
  snprintf(c.e[1].path, sizeof c.e[1].path, "link");
  c.e[1].target = "docs/readme";
  add(&c, "src/lib/l2", "symlink", "symlink", 0, NULL, NULL);
  c.e[2].target = "src/lib/util.c";
  write_cs(&c, dir);

  for (int k = 1; k <= 4; k++)
    {
      sh("rm -rf '%s' && cp -a '%s' '%s'", g_repo, pre, g_repo);
      snprintf(label, sizeof label, k == 4 ? "before-commit" : "apply-op:%d", k);
      fflush(NULL);
      pid_t pid = fork();
      if (pid == 0)
        {
          setenv("TARS_CRASH_AT", label, 1);
          do_apply(g_repo, dir, false, &res, &err);
          _exit(3);
        }
      int status;
      waitpid(pid, &status, 0);
      assert_true(WIFSIGNALED(status));
      assert_int_equal(recover(g_repo), 1);
      assert_tree(g_repo, pre_snap, label);
    }
  if (do_apply(g_repo, dir, false, &res, &err) < 0)
    fail_msg("apply: %s", err.msg);
  assert_tree(g_repo, post_snap, "symlinks applied");
  if (do_rollback(g_repo, res.txn_id, false, &rb, &err) < 0)
    fail_msg("rollback: %s", err.msg);
  assert_tree(g_repo, pre_snap, "symlinks rolled back");
  tars_txn_result_free(&res);
  tars_txn_result_free(&rb);
  free(pre_snap);
  free(post_snap);
  g_policy = NULL;
  tars_policy_free(&pol);
  (void)state;
}

static void
test_git(void **state)
{
  struct tars_txn_result res, rb;
  struct tars_error err = {0};
  char home[PATH_MAX];
  snprintf(home, sizeof home, "%s/home", g_root);
  mkdir(home, 0700);
  setenv("HOME", home, 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  fresh_repo();
  sh("cd '%s' && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm init"
     " && printf 'unrelated\\n' > wip.txt && git add wip.txt && printf 'more\\n' >> wip.txt",
     g_repo);
  if (do_apply(g_repo, g_cs, true, &res, &err) < 0)
    fail_msg("apply: %s", err.msg);
  assert_int_equal(strlen(res.git_commit), 40);
  char *head = sh_out("cd '%s' && git rev-parse HEAD", g_repo);
  assert_string_equal(head, res.git_commit);
  free(head);
  char *msg = sh_out("cd '%s' && git log -1 --format=%%B", g_repo);
  char want[256];
  snprintf(want, sizeof want,
           "tars: apply %s (execution exec-1, step step-2)\n\nTars-Transaction: %s", res.txn_id,
           res.txn_id);
  assert_string_equal(msg, want);
  free(msg);
  /* The commit holds the changeset and nothing else; the user's staged and unstaged work on
   * wip.txt is as it was.  */
  char *files = sh_out("cd '%s' && git show --name-status --format= HEAD | sort", g_repo);
  assert_null(strstr(files, "wip.txt"));
  assert_non_null(strstr(files, "M\tsrc/main.c"));
  assert_non_null(strstr(files, "D\told/a.txt"));
  assert_non_null(strstr(files, "A\tadded/inner/z"));
  free(files);
  char *status = sh_out("cd '%s' && git status --porcelain", g_repo);
  assert_string_equal(status, "AM wip.txt");
  free(status);

  if (do_rollback(g_repo, res.txn_id, false, &rb, &err) < 0)
    fail_msg("rollback: %s", err.msg);
  assert_int_equal(strlen(rb.git_commit), 40);
  msg = sh_out("cd '%s' && git log -1 --format=%%B", g_repo);
  snprintf(want, sizeof want, "tars: roll back %s\n\nTars-Transaction: %s\nTars-Reverts: %s",
           res.txn_id, rb.txn_id, res.txn_id);
  assert_string_equal(msg, want);
  free(msg);
  /* The revert commit's tree is the first commit's.  */
  char *diff = sh_out("cd '%s' && git diff --name-only HEAD~2 HEAD", g_repo);
  assert_string_equal(diff, "");
  free(diff);
  status = sh_out("cd '%s' && git status --porcelain", g_repo);
  assert_string_equal(status, "AM wip.txt");
  free(status);
  tars_txn_result_free(&res);
  tars_txn_result_free(&rb);
  (void)state;
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_apply_exact),
      cmocka_unit_test(test_refusal_writes_nothing),
      cmocka_unit_test(test_crash_points),
      cmocka_unit_test(test_crash_during_recovery),
      cmocka_unit_test(test_rollback),
      cmocka_unit_test(test_rollback_drift),
      cmocka_unit_test(test_rollback_crash),
      cmocka_unit_test(test_symlinks),
      cmocka_unit_test(test_git),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
