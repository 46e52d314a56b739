/* The store: creation, migration and refusal of newer schemas, .git/info/exclude, the audit
 * trail, transactions, two processes writing at once, identifiers.  */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "store/store.h"
#include "tars/cleanup.h"

/* ----- fixture ----- */

struct fx
{
  char root[256]; /* the repository */
};

static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof fx->root, "%s/tars-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fx->root) == NULL)
    return -1;
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
put(const char *path, const char *content)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail_msg("create %s: %s", path, strerror(errno));
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
}

/* The whole file, or NULL when it does not exist.  */
static char *
slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int c;
  while ((c = fgetc(f)) != EOF)
    {
      if (n + 2 > cap)
        buf = realloc(buf, cap = cap ? cap * 2 : 256);
      buf[n++] = (char)c;
    }
  fclose(f);
  if (buf == NULL)
    buf = calloc(1, 1);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

static size_t
count_lines(const char *text, const char *line)
{
  size_t n = 0, len = strlen(line);
  for (const char *p = text; *p;)
    {
      size_t l = strcspn(p, "\n");
      if (l == len && memcmp(p, line, len) == 0)
        n++;
      p += l;
      if (*p)
        p++;
    }
  return n;
}

static struct tars_store *
open_ok(struct fx *fx, bool create)
{
  struct tars_store *s = NULL;
  struct tars_error err = {0};
  if (tars_store_open(fx->root, create, &s, &err) < 0)
    fail_msg("tars_store_open: %s", err.msg);
  return s;
}

static int
query_int(struct tars_store *s, const char *sql)
{
  sqlite3_stmt *st;
  struct tars_error err = {0};
  if (tars_store_prepare(s, sql, &st, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

static char *
query_text(struct tars_store *s, const char *sql)
{
  sqlite3_stmt *st;
  struct tars_error err = {0};
  if (tars_store_prepare(s, sql, &st, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char *v = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

static void
insert_txn(struct tars_store *s, const char *id)
{
  char sql[256];
  struct tars_error err = {0};
  snprintf(sql, sizeof sql,
           "INSERT INTO transactions (id, kind, state, created_at) VALUES ('%s', 'apply', "
           "'journaled', '2026-01-01T00:00:00.000Z')",
           id);
  if (tars_store_exec(s, sql, &err) < 0)
    fail_msg("%s", err.msg);
}

/* ----- creation and migration ----- */

static void
open_creates_the_store(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = open_ok(fx, true);
  struct stat st;

  assert_int_equal(lstat(at(fx, ".tars"), &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(lstat(at(fx, ".tars/backups"), &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(lstat(at(fx, ".tars/tars.db"), &st), 0);
  assert_true(S_ISREG(st.st_mode));

  cleanup_free char *mode = query_text(s, "PRAGMA journal_mode");
  assert_string_equal(mode, "wal");
  assert_int_equal(query_int(s, "PRAGMA user_version"), 3);
  assert_int_equal(query_int(s, "PRAGMA foreign_keys"), 1);
  assert_int_equal(query_int(s, "PRAGMA synchronous"), 2); /* FULL */
  assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('transactions', 'operations', 'audit', 'validations', "
                                "'baselines')"),
                   5);
  assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                "name IN ('audit_execution', 'transactions_state')"),
                   2);

  char real[PATH_MAX];
  assert_non_null(realpath(fx->root, real));
  assert_string_equal(tars_store_repo_path(s), real);
  struct stat a, b;
  assert_int_equal(fstat(tars_store_repo_fd(s), &a), 0);
  assert_int_equal(stat(fx->root, &b), 0);
  assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
  assert_int_equal(fstat(tars_store_state_fd(s), &a), 0);
  assert_int_equal(stat(at(fx, ".tars"), &b), 0);
  assert_true(a.st_ino == b.st_ino);
  assert_true(fcntl(tars_store_repo_fd(s), F_GETFD) & FD_CLOEXEC);
  tars_store_close(s);

  /* Not a git work tree: nothing git-like appears.  */
  assert_int_equal(lstat(at(fx, ".git"), &st), -1);
}

static void
reopen_is_idempotent(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = open_ok(fx, true);
  struct tars_error err = {0};
  struct tars_audit_event ev = {.event = "begin", .txn_id = "txn-1"};
  assert_int_equal(tars_audit_add(s, &ev, &err), 0);
  tars_store_close(s);

  /* A wider mode left by hand is tightened again.  */
  assert_int_equal(chmod(at(fx, ".tars"), 0755), 0);
  for (int i = 0; i < 2; i++)
    {
      s = open_ok(fx, i == 0);
      assert_int_equal(query_int(s, "PRAGMA user_version"), 3);
      assert_int_equal(query_int(s, "SELECT count(*) FROM audit"), 1);
      tars_store_close(s);
    }
  struct stat st;
  assert_int_equal(lstat(at(fx, ".tars"), &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);
}

static void
open_without_create_needs_a_store(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = (struct tars_store *)1;
  struct tars_error err = {0};
  struct stat st;

  assert_int_equal(tars_store_open(fx->root, false, &s, &err), -1);
  assert_null(s);
  assert_true(tars_store_error_is_absent(&err));
  assert_non_null(strstr(err.msg, "no tars store in"));
  assert_non_null(strstr(err.msg, "nothing was applied here"));
  assert_int_equal(lstat(at(fx, ".tars"), &st), -1);

  /* .tars without a database is no store either, and stays as it is.  */
  assert_int_equal(mkdir(at(fx, ".tars"), 0700), 0);
  assert_int_equal(tars_store_open(fx->root, false, &s, &err), -1);
  assert_true(tars_store_error_is_absent(&err));
  assert_int_equal(lstat(at(fx, ".tars/tars.db"), &st), -1);
  assert_int_equal(lstat(at(fx, ".tars/backups"), &st), -1);
}

static void
bad_repo_paths_are_invalid(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = NULL;
  struct tars_error err = {0};

  assert_int_equal(tars_store_open(at(fx, "missing"), true, &s, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_false(tars_store_error_is_absent(&err));
  assert_non_null(strstr(err.msg, "missing"));

  put(at(fx, "file"), "x");
  assert_int_equal(tars_store_open(at(fx, "file"), true, &s, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_non_null(strstr(err.msg, "file"));
  assert_non_null(strstr(err.msg, "not a directory"));
}

static void
newer_schema_is_refused_untouched(void **state)
{
  struct fx *fx = *state;
  tars_store_close(open_ok(fx, true));

  sqlite3 *db;
  assert_int_equal(sqlite3_open(at(fx, ".tars/tars.db"), &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);

  /* In rollback-journal mode too, so that even the switch to WAL would show.  */
  for (int pass = 0; pass < 2; pass++)
    {
      if (pass == 1)
        {
          assert_int_equal(sqlite3_open(at(fx, ".tars/tars.db"), &db), SQLITE_OK);
          assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL),
                           SQLITE_OK);
          assert_int_equal(sqlite3_close(db), SQLITE_OK);
        }
      size_t before_len, after_len;
      cleanup_free char *before = slurp(at(fx, ".tars/tars.db"), &before_len);
      assert_non_null(before);

      struct tars_store *s = NULL;
      struct tars_error err = {0};
      assert_int_equal(tars_store_open(fx->root, pass == 0, &s, &err), -1);
      assert_null(s);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      assert_non_null(strstr(err.msg, "/.tars/tars.db has schema version 99, newer than this "
                                      "tars (3): upgrade tars"));

      cleanup_free char *after = slurp(at(fx, ".tars/tars.db"), &after_len);
      assert_non_null(after);
      assert_int_equal(before_len, after_len);
      assert_memory_equal(before, after, before_len);
    }
}

/* A version 1 database (as the first tars wrote it) is migrated to the latest version in place:
 * its rows kept, the later tables added.  */
static void
version_1_is_migrated(void **state)
{
  struct fx *fx = *state;
  tars_store_close(open_ok(fx, true));
  sqlite3 *db;
  assert_int_equal(sqlite3_open(at(fx, ".tars/tars.db"), &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "DROP TABLE validations; DROP TABLE baselines; "
                                "DROP TABLE exchanges; "
                                "INSERT INTO audit(time, event) VALUES ('t', 'kept'); "
                                "PRAGMA user_version = 1",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);

  struct tars_store *s = open_ok(fx, false);
  assert_int_equal(query_int(s, "PRAGMA user_version"), 3);
  assert_int_equal(query_int(s, "SELECT count(*) FROM audit WHERE event = 'kept'"), 1);
  assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('validations', 'baselines', 'exchanges')"),
                   3);
  assert_int_equal(query_int(s, "SELECT count(*) FROM validations"), 0);
  tars_store_close(s);
}

/* ----- .git/info/exclude ----- */

static void
exclude_added_once(void **state)
{
  struct fx *fx = *state;
  assert_int_equal(mkdir(at(fx, ".git"), 0755), 0);
  for (int i = 0; i < 2; i++)
    tars_store_close(open_ok(fx, true));
  cleanup_free char *text = slurp(at(fx, ".git/info/exclude"), NULL);
  assert_non_null(text);
  assert_string_equal(text, ".tars/\n");

  /* Existing content is kept, a missing final newline supplied; an existing "/.tars" suffices.  */
  put(at(fx, ".git/info/exclude"), "# mine\n*.o");
  tars_store_close(open_ok(fx, false));
  cleanup_free char *text2 = slurp(at(fx, ".git/info/exclude"), NULL);
  assert_string_equal(text2, "# mine\n*.o\n.tars/\n");
  put(at(fx, ".git/info/exclude"), "/.tars\n");
  tars_store_close(open_ok(fx, true));
  cleanup_free char *text3 = slurp(at(fx, ".git/info/exclude"), NULL);
  assert_string_equal(text3, "/.tars\n");
}

static void
exclude_follows_gitdir_files(void **state)
{
  struct fx *fx = *state;
  /* A submodule-like layout: the work tree's .git is a file naming the git directory.  */
  assert_int_equal(mkdir(at(fx, "main"), 0755), 0);
  assert_int_equal(mkdir(at(fx, "main/.git"), 0755), 0);
  assert_int_equal(mkdir(at(fx, "main/.git/modules"), 0755), 0);
  assert_int_equal(mkdir(at(fx, "main/.git/modules/sub"), 0755), 0);
  assert_int_equal(mkdir(at(fx, "main/sub"), 0755), 0);
  put(at(fx, "main/sub/.git"), "gitdir: ../.git/modules/sub\n");
  struct tars_store *s = NULL;
  struct tars_error err = {0};
  if (tars_store_open(at(fx, "main/sub"), true, &s, &err) < 0)
    fail_msg("%s", err.msg);
  tars_store_close(s);
  cleanup_free char *text = slurp(at(fx, "main/.git/modules/sub/info/exclude"), NULL);
  assert_non_null(text);
  assert_int_equal(count_lines(text, ".tars/"), 1);
  struct stat st;
  assert_int_equal(lstat(at(fx, "main/.git/info"), &st), -1);

  /* A linked worktree: gitdir is .git/worktrees/wt, whose commondir points back at .git; git
   * reads the excludes from the common directory.  */
  assert_int_equal(mkdir(at(fx, "main/.git/worktrees"), 0755), 0);
  assert_int_equal(mkdir(at(fx, "main/.git/worktrees/wt"), 0755), 0);
  put(at(fx, "main/.git/worktrees/wt/commondir"), "../..\n");
  assert_int_equal(mkdir(at(fx, "wt"), 0755), 0);
  char line[PATH_MAX + 16];
  snprintf(line, sizeof line, "gitdir: %s\n", at(fx, "main/.git/worktrees/wt"));
  put(at(fx, "wt/.git"), line);
  for (int i = 0; i < 2; i++)
    {
      if (tars_store_open(at(fx, "wt"), true, &s, &err) < 0)
        fail_msg("%s", err.msg);
      tars_store_close(s);
    }
  cleanup_free char *text2 = slurp(at(fx, "main/.git/info/exclude"), NULL);
  assert_non_null(text2);
  assert_int_equal(count_lines(text2, ".tars/"), 1);
  assert_int_equal(lstat(at(fx, "main/.git/worktrees/wt/info"), &st), -1);

  /* A .git file that names nothing usable is an error naming it.  */
  assert_int_equal(mkdir(at(fx, "broken"), 0755), 0);
  put(at(fx, "broken/.git"), "nonsense\n");
  assert_int_equal(tars_store_open(at(fx, "broken"), true, &s, &err), -1);
  assert_non_null(strstr(err.msg, "broken/.git"));
}

/* ----- refusals ----- */

static void
state_dir_symlink_refused(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = NULL;
  struct tars_error err = {0};
  struct stat st;

  assert_int_equal(mkdir(at(fx, "elsewhere"), 0755), 0);
  assert_int_equal(symlink("elsewhere", at(fx, ".tars")), 0);
  for (int create = 0; create < 2; create++)
    {
      assert_int_equal(tars_store_open(fx->root, create, &s, &err), -1);
      assert_null(s);
      assert_int_equal(err.kind, TARS_ERR_REFUSED);
      assert_non_null(strstr(err.msg, ".tars"));
      assert_non_null(strstr(err.msg, "symlink"));
    }
  assert_int_equal(lstat(at(fx, "elsewhere/tars.db"), &st), -1);
  assert_int_equal(lstat(at(fx, "elsewhere/backups"), &st), -1);

  /* A dangling one too, and a regular file.  */
  assert_int_equal(unlink(at(fx, ".tars")), 0);
  assert_int_equal(symlink("nowhere", at(fx, ".tars")), 0);
  assert_int_equal(tars_store_open(fx->root, true, &s, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_int_equal(lstat(at(fx, "nowhere"), &st), -1);
  assert_int_equal(unlink(at(fx, ".tars")), 0);
  put(at(fx, ".tars"), "not a directory");
  assert_int_equal(tars_store_open(fx->root, true, &s, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_non_null(strstr(err.msg, "not a directory"));
}

/* ----- audit ----- */

static void
audit_round_trip(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = open_ok(fx, true);
  struct tars_error err = {0};

  cJSON *paths = cJSON_CreateArray();
  cJSON_AddItemToArray(paths, cJSON_CreateString("src/a.c"));
  cJSON_AddItemToArray(paths, cJSON_CreateString("odd\nname"));
  cJSON *details = cJSON_CreateObject();
  cJSON_AddStringToObject(details, "sha256", "2c26b4");
  cJSON_AddNumberToObject(details, "count", 2);
  struct tars_audit_event ev = {.event = "commit",
                                .actor = "coordinator",
                                .execution_id = "exec-1",
                                .step_id = "step-1",
                                .txn_id = "txn-1",
                                .reason = "applied",
                                .paths = paths,
                                .details = details};
  assert_int_equal(tars_audit_add(s, &ev, &err), 0);
  cJSON_Delete(paths);
  cJSON_Delete(details);
  struct tars_audit_event ev2 = {.event = "refusal", .execution_id = "exec-2"};
  assert_int_equal(tars_audit_add(s, &ev2, &err), 0);
  struct tars_audit_event ev3 = {.event = "recovery"};
  assert_int_equal(tars_audit_add(s, &ev3, &err), 0);

  cJSON *list = NULL;
  assert_int_equal(tars_audit_list(s, NULL, &list, &err), 0);
  assert_int_equal(cJSON_GetArraySize(list), 3);
  cJSON *e = cJSON_GetArrayItem(list, 0);
  assert_string_equal(cJSON_GetObjectItem(e, "event")->valuestring, "commit");
  assert_string_equal(cJSON_GetObjectItem(e, "actor")->valuestring, "coordinator");
  assert_string_equal(cJSON_GetObjectItem(e, "execution_id")->valuestring, "exec-1");
  assert_string_equal(cJSON_GetObjectItem(e, "step_id")->valuestring, "step-1");
  assert_string_equal(cJSON_GetObjectItem(e, "txn_id")->valuestring, "txn-1");
  assert_string_equal(cJSON_GetObjectItem(e, "reason")->valuestring, "applied");
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(e, "id")));
  const char *time = cJSON_GetObjectItem(e, "time")->valuestring;
  assert_int_equal(strlen(time), 24);
  assert_int_equal(time[23], 'Z');
  cJSON *p = cJSON_GetObjectItem(e, "paths");
  assert_true(cJSON_IsArray(p));
  assert_int_equal(cJSON_GetArraySize(p), 2);
  assert_string_equal(cJSON_GetArrayItem(p, 1)->valuestring, "odd\nname");
  cJSON *d = cJSON_GetObjectItem(e, "details");
  assert_true(cJSON_IsObject(d));
  assert_string_equal(cJSON_GetObjectItem(d, "sha256")->valuestring, "2c26b4");
  assert_int_equal(cJSON_GetObjectItem(d, "count")->valueint, 2);

  e = cJSON_GetArrayItem(list, 1);
  assert_string_equal(cJSON_GetObjectItem(e, "event")->valuestring, "refusal");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "paths")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "reason")));
  /* The default actor names the user.  */
  assert_memory_equal(cJSON_GetObjectItem(e, "actor")->valuestring, "cli:", 4);
  assert_true(cJSON_GetArrayItem(list, 0)->child->valuedouble <
              cJSON_GetArrayItem(list, 1)->child->valuedouble);
  cJSON_Delete(list);

  assert_int_equal(tars_audit_list(s, "exec-2", &list, &err), 0);
  assert_int_equal(cJSON_GetArraySize(list), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "event")->valuestring,
                      "refusal");
  cJSON_Delete(list);
  assert_int_equal(tars_audit_list(s, "exec-none", &list, &err), 0);
  assert_int_equal(cJSON_GetArraySize(list), 0);
  cJSON_Delete(list);

  /* Malformed events.  */
  struct tars_audit_event bad = {.event = NULL};
  assert_int_equal(tars_audit_add(s, &bad, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  cJSON *obj = cJSON_CreateObject();
  struct tars_audit_event bad2 = {.event = "x", .paths = obj};
  assert_int_equal(tars_audit_add(s, &bad2, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  cJSON_Delete(obj);
  tars_store_close(s);
}

/* ----- transactions ----- */

static void
begin_commit_rollback(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = open_ok(fx, true);
  struct tars_error err = {0};

  assert_int_equal(tars_store_begin(s, &err), 0);
  insert_txn(s, "txn-a");
  struct tars_audit_event ev = {.event = "begin", .txn_id = "txn-a"};
  assert_int_equal(tars_audit_add(s, &ev, &err), 0);
  tars_store_rollback(s);
  assert_int_equal(query_int(s, "SELECT count(*) FROM transactions"), 0);
  assert_int_equal(query_int(s, "SELECT count(*) FROM audit"), 0);
  tars_store_rollback(s); /* outside a transaction: nothing */

  assert_int_equal(tars_store_begin(s, &err), 0);
  /* Not nested.  */
  assert_int_equal(tars_store_begin(s, &err), -1);
  assert_non_null(strstr(err.msg, "tars.db"));
  insert_txn(s, "txn-b");
  assert_int_equal(tars_store_exec(s,
                                   "INSERT INTO operations (txn_id, seq, path, op, type, pre_kind) "
                                   "VALUES ('txn-b', 0, 'a', 'create', 'file', 'absent')",
                                   &err),
                   0);
  assert_int_equal(tars_store_commit(s, &err), 0);
  tars_store_close(s);

  s = open_ok(fx, false);
  assert_int_equal(query_int(s, "SELECT count(*) FROM transactions WHERE id = 'txn-b'"), 1);
  assert_int_equal(query_int(s, "SELECT count(*) FROM operations"), 1);

  /* Foreign keys and checks hold.  */
  assert_int_equal(tars_store_exec(s,
                                   "INSERT INTO operations (txn_id, seq, path, op, type) "
                                   "VALUES ('txn-none', 0, 'a', 'create', 'file')",
                                   &err),
                   -1);
  assert_non_null(strstr(err.msg, "FOREIGN KEY"));
  assert_non_null(strstr(err.msg, "/.tars/tars.db"));
  assert_int_equal(tars_store_exec(s,
                                   "INSERT INTO transactions (id, kind, state, created_at) "
                                   "VALUES ('t', 'apply', 'bogus', 'now')",
                                   &err),
                   -1);
  assert_int_equal(tars_store_exec(s, "DELETE FROM transactions WHERE id = 'txn-b'", &err), 0);
  assert_int_equal(query_int(s, "SELECT count(*) FROM operations"), 0); /* cascaded */

  /* Errors name the statement and the database.  */
  sqlite3_stmt *st;
  assert_int_equal(tars_store_prepare(s, "SELECT * FROM nothing_here", &st, &err), -1);
  assert_null(st);
  assert_non_null(strstr(err.msg, "no such table"));
  assert_non_null(strstr(err.msg, "SELECT * FROM nothing_here"));
  assert_non_null(strstr(err.msg, "/.tars/tars.db"));
  tars_store_close(s);
}

static void
history_lists_newest_first(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = open_ok(fx, true);
  struct tars_error err = {0};
  insert_txn(s, "txn-old");
  insert_txn(s, "txn-new"); /* same created_at: insertion order decides */
  assert_int_equal(tars_store_exec(s,
                                   "INSERT INTO operations (txn_id, seq, path, op, type) VALUES "
                                   "('txn-new', 0, 'a', 'create', 'file'),"
                                   "('txn-new', 1, 'b', 'delete', 'file')",
                                   &err),
                   0);
  cJSON *list = NULL;
  assert_int_equal(tars_history_list(s, 0, &list, &err), 0);
  assert_int_equal(cJSON_GetArraySize(list), 2);
  cJSON *t = cJSON_GetArrayItem(list, 0);
  assert_string_equal(cJSON_GetObjectItem(t, "id")->valuestring, "txn-new");
  assert_int_equal(cJSON_GetObjectItem(t, "operations")->valueint, 2);
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(t, "git_commit")));
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "operations")->valueint, 0);
  cJSON_Delete(list);
  assert_int_equal(tars_history_list(s, 1, &list, &err), 0);
  assert_int_equal(cJSON_GetArraySize(list), 1);
  cJSON_Delete(list);
  tars_store_close(s);
}

/* ----- two processes ----- */

static void
two_writers_wait_for_each_other(void **state)
{
  struct fx *fx = *state;
  struct tars_store *s = open_ok(fx, true);
  struct tars_error err = {0};
  int ready[2];
  assert_int_equal(pipe(ready), 0);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      /* The child holds the write lock for a while, as a slow tars would.  */
      struct tars_store *c = NULL;
      struct tars_error cerr = {0};
      if (tars_store_open(fx->root, true, &c, &cerr) < 0 || tars_store_begin(c, &cerr) < 0)
        _exit(10);
      insert_txn(c, "txn-child");
      if (write(ready[1], "x", 1) != 1)
        _exit(11);
      usleep(300 * 1000);
      if (tars_store_commit(c, &cerr) < 0)
        _exit(12);
      tars_store_close(c);
      _exit(0);
    }
  close(ready[1]);
  char x;
  assert_int_equal(read(ready[0], &x, 1), 1);
  close(ready[0]);

  /* Blocks on the busy timeout until the child commits, then proceeds.  */
  if (tars_store_begin(s, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(query_int(s, "SELECT count(*) FROM transactions WHERE id = 'txn-child'"), 1);
  insert_txn(s, "txn-parent");
  assert_int_equal(tars_store_commit(s, &err), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  /* Many small autocommitted writes from two processes at once: none lost.  */
  enum
  {
    N = 150
  };
  pid_t kids[2];
  for (int k = 0; k < 2; k++)
    {
      kids[k] = fork();
      assert_true(kids[k] >= 0);
      if (kids[k] == 0)
        {
          struct tars_store *c = NULL;
          struct tars_error cerr = {0};
          if (tars_store_open(fx->root, true, &c, &cerr) < 0)
            _exit(10);
          for (int i = 0; i < N; i++)
            {
              struct tars_audit_event ev = {.event = k ? "b" : "a"};
              if (tars_audit_add(c, &ev, &cerr) < 0)
                _exit(11);
            }
          tars_store_close(c);
          _exit(0);
        }
    }
  for (int k = 0; k < 2; k++)
    {
      assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
      assert_true(WIFEXITED(status));
      assert_int_equal(WEXITSTATUS(status), 0);
    }
  assert_int_equal(query_int(s, "SELECT count(*) FROM audit"), 2 * N);
  cleanup_free char *ok = query_text(s, "PRAGMA integrity_check");
  assert_string_equal(ok, "ok");
  tars_store_close(s);
}

/* ----- identifiers ----- */

static bool
well_formed_id(const char *id)
{
  /* txn-YYYYMMDDTHHMMSS-xxxxxxxx */
  if (strlen(id) != 28 || strncmp(id, "txn-", 4) != 0 || id[12] != 'T' || id[19] != '-')
    return false;
  for (int i = 4; i < 28; i++)
    {
      char c = id[i];
      if (i == 12 || i == 19)
        continue;
      if (i < 19 ? !(c >= '0' && c <= '9') : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
        return false;
    }
  return true;
}

static int
cmp_str(const void *a, const void *b)
{
  return strcmp((const char *)a, (const char *)b);
}

static void
ids_unique_and_well_formed(void **state)
{
  enum
  {
    N = 1000
  };
  static char ids[N][64];
  for (int i = 0; i < N; i++)
    {
      tars_new_id("txn", ids[i], sizeof ids[i]);
      if (!well_formed_id(ids[i]))
        fail_msg("malformed id '%s'", ids[i]);
    }
  /* Compare the random parts: the timestamps may differ across a second boundary.  */
  static char tails[N][16];
  for (int i = 0; i < N; i++)
    snprintf(tails[i], sizeof tails[i], "%s", ids[i] + 20);
  qsort(tails, N, sizeof tails[0], cmp_str);
  for (int i = 1; i < N; i++)
    if (strcmp(tails[i - 1], tails[i]) == 0)
      fail_msg("duplicate id part %s", tails[i]);

  /* A forked child does not repeat its parent's ids.  */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  char parent_next[64], child_next[64] = "";
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      char id[64];
      tars_new_id("txn", id, sizeof id);
      _exit(write(fds[1], id, strlen(id) + 1) > 0 ? 0 : 1);
    }
  close(fds[1]);
  tars_new_id("txn", parent_next, sizeof parent_next);
  assert_true(read(fds[0], child_next, sizeof child_next) > 0);
  close(fds[0]);
  waitpid(pid, NULL, 0);
  assert_true(well_formed_id(child_next));
  assert_string_not_equal(parent_next + 20, child_next + 20);

  char now[40];
  tars_now_iso(now, sizeof now);
  assert_int_equal(strlen(now), 24);
  assert_true(now[4] == '-' && now[10] == 'T' && now[19] == '.' && now[23] == 'Z');
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(open_creates_the_store, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(version_1_is_migrated, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(reopen_is_idempotent, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(open_without_create_needs_a_store, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(bad_repo_paths_are_invalid, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(newer_schema_is_refused_untouched, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(exclude_added_once, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(exclude_follows_gitdir_files, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(state_dir_symlink_refused, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(audit_round_trip, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(begin_commit_rollback, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(history_lists_newest_first, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(two_writers_wait_for_each_other, fx_setup, fx_teardown),
      cmocka_unit_test(ids_unique_and_well_formed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
