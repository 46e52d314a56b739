/* The store: <repo>/.tars/tars.db (see store.h for the schema).  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tars/cleanup.h"

#define TARS_DB_NAME "tars.db"
#define TARS_BACKUPS_DIR "backups"
/* Anything larger is not a file git wrote.  */
#define GIT_POINTER_MAX 4096

struct tars_store
{
  sqlite3 *db;
  int repo_fd;
  int state_fd;
  char *repo_path;
  char *db_path;
};

/* ----- schema ----- */

/* Each step takes the schema from VERSION - 1 to VERSION.  Append, never edit a released step:
 * a database records only its version, so a step's SQL must stay what it was.  */
static const struct
{
  int version;
  const char *sql;
} migrations[] = {
    {1, "CREATE TABLE transactions ("
        "  id TEXT PRIMARY KEY,"
        "  kind TEXT NOT NULL CHECK (kind IN ('apply', 'rollback')),"
        "  state TEXT NOT NULL CHECK (state IN ('journaled', 'prepared', 'committed', 'aborted',"
        "                                       'recovered', 'rolled_back')),"
        "  execution_id TEXT,"
        "  step_id TEXT,"
        "  actor TEXT,"
        "  rollback_of TEXT REFERENCES transactions(id),"
        "  changeset TEXT,"
        "  git_commit TEXT,"
        "  created_at TEXT NOT NULL,"
        "  finished_at TEXT,"
        "  reason TEXT);"
        "CREATE TABLE operations ("
        "  txn_id TEXT NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,"
        "  seq INTEGER NOT NULL,"
        "  path TEXT NOT NULL,"
        "  op TEXT NOT NULL,"
        "  type TEXT NOT NULL,"
        "  mode INTEGER,"
        "  size INTEGER,"
        "  sha256 TEXT,"
        "  base_sha256 TEXT,"
        "  target TEXT,"
        "  pre_kind TEXT CHECK (pre_kind IN ('absent', 'file', 'dir', 'symlink')),"
        "  pre_mode INTEGER,"
        "  pre_sha256 TEXT,"
        "  pre_target TEXT,"
        "  backup TEXT,"
        "  tmp TEXT,"
        "  done INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (txn_id, seq));"
        "CREATE TABLE audit ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  time TEXT NOT NULL,"
        "  event TEXT NOT NULL,"
        "  actor TEXT,"
        "  execution_id TEXT,"
        "  step_id TEXT,"
        "  txn_id TEXT,"
        "  reason TEXT,"
        "  paths TEXT,"
        "  details TEXT);"
        "CREATE INDEX audit_execution ON audit(execution_id);"
        "CREATE INDEX transactions_state ON transactions(state);"},
    {2, "CREATE TABLE validations ("
        "  id TEXT PRIMARY KEY,"
        "  execution_id TEXT,"
        "  step_id TEXT,"
        "  changeset TEXT,"
        "  snapshot TEXT NOT NULL,"
        "  verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'rejected')),"
        "  created_at TEXT NOT NULL,"
        "  report TEXT NOT NULL);"
        "CREATE TABLE baselines ("
        "  snapshot TEXT NOT NULL,"
        "  config TEXT NOT NULL,"
        "  created_at TEXT NOT NULL,"
        "  result TEXT NOT NULL,"
        "  PRIMARY KEY (snapshot, config));"
        "CREATE INDEX validations_step ON validations(execution_id, step_id);"},
    /* Model exchanges (store/exchanges.h).  */
    {3, "CREATE TABLE exchanges ("
        "  id TEXT PRIMARY KEY,"
        "  execution_id TEXT,"
        "  step_id TEXT,"
        "  attempt INTEGER,"
        "  role TEXT,"
        "  call INTEGER,"
        "  provider TEXT NOT NULL,"
        "  url TEXT,"
        "  model TEXT,"
        "  status TEXT NOT NULL,"
        "  error TEXT,"
        "  started_at TEXT NOT NULL,"
        "  duration_ms INTEGER NOT NULL,"
        "  http_attempts INTEGER NOT NULL,"
        "  prompt_tokens INTEGER NOT NULL,"
        "  completion_tokens INTEGER NOT NULL,"
        "  usage_estimated INTEGER NOT NULL,"
        "  request TEXT NOT NULL,"
        "  response TEXT NOT NULL);"
        "CREATE INDEX exchanges_step ON exchanges(execution_id, step_id);"},
};

#define SCHEMA_LATEST (migrations[sizeof migrations / sizeof migrations[0] - 1].version)

/* ----- errors ----- */

static int
db_error(struct tars_store *s, struct tars_error *err, const char *what)
{
  int sys = s->db ? sqlite3_system_errno(s->db) : 0;
  int rc = s->db ? sqlite3_extended_errcode(s->db) : SQLITE_NOMEM;
  int n = tars_error_set(err, 0, "%s: %s: %s", s->db_path, what,
                         s->db ? sqlite3_errmsg(s->db) : "out of memory");
  /* The errno only means something for I/O and open failures.  */
  if (err && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN))
    err->code = sys;
  return n;
}

/* The first line of SQL, shortened, to name a statement in a message.  */
static void
sql_excerpt(const char *sql, char *out, size_t len)
{
  size_t n = strcspn(sql, "\n");
  if (n > 60)
    n = 60;
  if (n >= len)
    n = len - 1;
  memcpy(out, sql, n);
  out[n] = '\0';
  if (sql[n] != '\0')
    snprintf(out + n, len - n, "...");
}

/* ----- the state directory and .git/info/exclude ----- */

/* Open DIR beneath DFD as a directory, creating it (MODE) when missing; a symlink or anything but
 * a directory there is refused.  */
static int
open_own_dir(int dfd, const char *dfd_path, const char *name, mode_t mode, bool create,
             struct tars_error *err)
{
  if (create && mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "create %s/%s", dfd_path, name);
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0)
    return fd;
  int saved = errno;
  struct stat st;
  if (saved == ENOENT)
    return tars_error_set(err, saved, "open %s/%s", dfd_path, name);
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
    return tars_error_refused(err,
                              "%s/%s is %s, not a directory: tars keeps its state there and will "
                              "not follow or replace it; move it away",
                              dfd_path, name,
                              S_ISLNK(st.st_mode) ? "a symlink" : "not a directory");
  return tars_error_set(err, saved, "open %s/%s", dfd_path, name);
}

/* Read a small file beneath DFD into a NUL-terminated buffer.  */
static char *
read_small_file(int dfd, const char *name, const char *what, struct tars_error *err)
{
  cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      tars_error_set(err, errno, "open %s", what);
      return NULL;
    }
  cleanup_free char *buf = malloc(GIT_POINTER_MAX + 1);
  if (buf == NULL)
    {
      tars_error_set(err, ENOMEM, "read %s", what);
      return NULL;
    }
  size_t n = 0;
  while (n < GIT_POINTER_MAX)
    {
      ssize_t r = read(fd, buf + n, GIT_POINTER_MAX - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          tars_error_set(err, errno, "read %s", what);
          return NULL;
        }
      if (r == 0)
        break;
      n += (size_t)r;
    }
  buf[n] = '\0';
  return steal_pointer(&buf);
}

/* The first line of BUF after PREFIX, trimmed, or NULL.  */
static char *
pointer_value(char *buf, const char *prefix)
{
  size_t plen = strlen(prefix);
  if (strncmp(buf, prefix, plen) != 0)
    return NULL;
  char *v = buf + plen;
  v += strspn(v, " \t");
  v[strcspn(v, "\r\n")] = '\0';
  size_t n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    v[--n] = '\0';
  return n ? v : NULL;
}

/* The git directory whose info/exclude covers the work tree at REPO_FD: .git itself, or, when .git
 * is a file ("gitdir: PATH", a linked worktree or a submodule), the directory it names, and then
 * that directory's common directory when it has one (a linked worktree's excludes live in the
 * main repository's info/).  Returns the descriptor and its path for messages in *SHOWN, -2 when
 * the repo is not a git work tree, or -1 with ERR.  */
static int
open_git_dir(int repo_fd, const char *repo_path, char **shown, struct tars_error *err)
{
  struct stat st;
  *shown = NULL;
  if (fstatat(repo_fd, ".git", &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return -2;
      return tars_error_set(err, errno, "stat %s/.git", repo_path);
    }
  cleanup_free char *dotgit = NULL;
  if (asprintf(&dotgit, "%s/.git", repo_path) < 0)
    return tars_error_set(err, ENOMEM, "open %s/.git", repo_path);
  if (S_ISDIR(st.st_mode))
    {
      int fd = openat(repo_fd, ".git", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return tars_error_set(err, errno, "open %s", dotgit);
      *shown = steal_pointer(&dotgit);
      return fd;
    }
  if (!S_ISREG(st.st_mode))
    return -2; /* a symlink or something odd: not a layout git writes, leave it alone */

  cleanup_free char *buf = read_small_file(repo_fd, ".git", dotgit, err);
  if (buf == NULL)
    return -1;
  const char *gitdir = pointer_value(buf, "gitdir:");
  if (gitdir == NULL)
    return tars_error_invalid(err, "%s: a .git file without a \"gitdir: PATH\" line", dotgit);
  /* A relative gitdir is relative to the work tree (openat ignores the descriptor for an
   * absolute path).  */
  cleanup_close int git_fd = openat(repo_fd, gitdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (git_fd < 0)
    return tars_error_set(err, errno, "open the git directory %s named by %s", gitdir, dotgit);
  cleanup_free char *git_path = NULL;
  if (asprintf(&git_path, "%s%s%s", gitdir[0] == '/' ? "" : repo_path, gitdir[0] == '/' ? "" : "/",
               gitdir) < 0)
    return tars_error_set(err, ENOMEM, "open %s", gitdir);

  if (fstatat(git_fd, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
    {
      cleanup_free char *what = NULL;
      if (asprintf(&what, "%s/commondir", git_path) < 0)
        return tars_error_set(err, ENOMEM, "open %s/commondir", git_path);
      cleanup_free char *cbuf = read_small_file(git_fd, "commondir", what, err);
      if (cbuf == NULL)
        return -1;
      cbuf[strcspn(cbuf, "\r\n")] = '\0';
      if (cbuf[0] == '\0')
        return tars_error_invalid(err, "%s is empty", what);
      cleanup_close int common_fd = openat(git_fd, cbuf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (common_fd < 0)
        return tars_error_set(err, errno, "open the common git directory %s named by %s", cbuf,
                              what);
      if (asprintf(shown, "%s%s%s", cbuf[0] == '/' ? "" : git_path, cbuf[0] == '/' ? "" : "/",
                   cbuf) < 0)
        {
          *shown = NULL;
          return tars_error_set(err, ENOMEM, "open %s", cbuf);
        }
      return steal_fd(&common_fd);
    }
  *shown = steal_pointer(&git_path);
  return steal_fd(&git_fd);
}

static bool
excludes_state_dir(const char *text)
{
  for (const char *line = text; *line;)
    {
      size_t n = strcspn(line, "\n");
      size_t m = n;
      while (m > 0 && (line[m - 1] == ' ' || line[m - 1] == '\t' || line[m - 1] == '\r'))
        m--;
      const char *l = line;
      if (m > 0 && l[0] == '/')
        l++, m--;
      if ((m == 5 && memcmp(l, ".tars", 5) == 0) || (m == 6 && memcmp(l, ".tars/", 6) == 0))
        return true;
      line += n;
      if (*line == '\n')
        line++;
    }
  return false;
}

/* Add ".tars/" to info/exclude once.  The only things written in the git directory are info/
 * (when missing) and that file, both opened without following symlinks.  */
static int
add_git_exclude(int repo_fd, const char *repo_path, struct tars_error *err)
{
  cleanup_free char *git_shown = NULL;
  cleanup_close int git_fd = open_git_dir(repo_fd, repo_path, &git_shown, err);
  if (git_fd == -2)
    return 0;
  if (git_fd < 0)
    return -1;

  cleanup_close int info_fd = open_own_dir(git_fd, git_shown, "info", 0755, true, err);
  if (info_fd < 0)
    return -1;
  cleanup_free char *shown = NULL;
  if (asprintf(&shown, "%s/info/exclude", git_shown) < 0)
    return tars_error_set(err, ENOMEM, "open %s/info/exclude", git_shown);
  cleanup_close int fd =
      openat(info_fd, "exclude", O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s", shown);
  /* Two tars starting at once must not both append.  */
  if (flock(fd, LOCK_EX) < 0)
    return tars_error_set(err, errno, "lock %s", shown);

  struct stat st;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "stat %s", shown);
  if (!S_ISREG(st.st_mode))
    return tars_error_refused(err, "%s is not a regular file", shown);
  if (st.st_size > 16 * 1024 * 1024)
    return tars_error_invalid(err, "%s is implausibly large (%lld bytes)", shown,
                              (long long)st.st_size);
  size_t size = (size_t)st.st_size;
  cleanup_free char *text = malloc(size + 1);
  if (text == NULL)
    return tars_error_set(err, ENOMEM, "read %s", shown);
  size_t n = 0;
  while (n < size)
    {
      ssize_t r = pread(fd, text + n, size - n, (off_t)n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "read %s", shown);
      if (r == 0)
        break;
      n += (size_t)r;
    }
  text[n] = '\0';
  if (excludes_state_dir(text))
    return 0;

  const char *line = n > 0 && text[n - 1] != '\n' ? "\n.tars/\n" : ".tars/\n";
  size_t len = strlen(line);
  ssize_t w;
  do
    w = write(fd, line, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return tars_error_set(err, errno, "write %s", shown);
  if ((size_t)w != len)
    return tars_error_set(err, EIO, "write %s: short write", shown);
  return 0;
}

/* ----- opening ----- */

static int
pragma_int(struct tars_store *s, const char *sql, int *value, struct tars_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_error(s, err, sql);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *value = sqlite3_column_int(st, 0);
  if (rc != SQLITE_ROW)
    return db_error(s, err, sql);
  return 0;
}

static int
check_not_newer(struct tars_store *s, int version, struct tars_error *err)
{
  if (version > SCHEMA_LATEST)
    return tars_error_invalid(err,
                              "%s has schema version %d, newer than this tars (%d): upgrade tars",
                              s->db_path, version, SCHEMA_LATEST);
  return 0;
}

static int
set_journal_wal(struct tars_store *s, struct tars_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
    return db_error(s, err, "PRAGMA journal_mode=WAL");
  int rc = sqlite3_step(st);
  bool wal = rc == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  if (rc != SQLITE_ROW)
    return db_error(s, err, "PRAGMA journal_mode=WAL");
  if (!wal)
    return tars_error_set(err, 0, "%s: the database cannot use write-ahead logging here",
                          s->db_path);
  return 0;
}

/* Apply the missing migration steps, all in one transaction: a crash leaves the old version.  */
static int
migrate(struct tars_store *s, struct tars_error *err)
{
  if (tars_store_begin(s, err) < 0)
    return tars_error_prefix(err, "migrate the schema");
  int version;
  /* Read again under the write lock: another tars may have migrated since.  */
  if (pragma_int(s, "PRAGMA user_version", &version, err) < 0 ||
      check_not_newer(s, version, err) < 0)
    goto fail;
  for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++)
    {
      if (migrations[i].version <= version)
        continue;
      char what[64];
      snprintf(what, sizeof what, "migrate the schema to version %d", migrations[i].version);
      if (sqlite3_exec(s->db, migrations[i].sql, NULL, NULL, NULL) != SQLITE_OK)
        {
          db_error(s, err, what);
          goto fail;
        }
    }
  if (version < SCHEMA_LATEST)
    {
      char sql[48];
      snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_LATEST);
      if (tars_store_exec(s, sql, err) < 0)
        goto fail;
    }
  return tars_store_commit(s, err);

fail:
  tars_store_rollback(s);
  return -1;
}

static int
open_db(struct tars_store *s, bool create, struct tars_error *err)
{
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE;
  if (create)
    flags |= SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(s->db_path, &s->db, flags, NULL) != SQLITE_OK)
    return db_error(s, err, "open");
  if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK)
    return db_error(s, err, "set the busy timeout");

  /* Refuse a newer schema before anything writes, not even the journal mode.  */
  int version;
  if (pragma_int(s, "PRAGMA user_version", &version, err) < 0 ||
      check_not_newer(s, version, err) < 0)
    return -1;

  if (set_journal_wal(s, err) < 0 || tars_store_exec(s, "PRAGMA synchronous=FULL", err) < 0 ||
      tars_store_exec(s, "PRAGMA foreign_keys=ON", err) < 0)
    return -1;
  if (version < SCHEMA_LATEST && migrate(s, err) < 0)
    return -1;
  return 0;
}

static int
no_store(const char *repo_path, struct tars_error *err)
{
  tars_error_invalid(err, "no tars store in %s (nothing was applied here)", repo_path);
  if (err)
    err->code = ENOENT;
  return -1;
}

int
tars_store_open(const char *repo_path, bool create, struct tars_store **out, struct tars_error *err)
{
  struct stat st;
  int backups_fd = -1;

  *out = NULL;
  struct tars_store *s = calloc(1, sizeof *s);
  if (s == NULL)
    return tars_error_set(err, ENOMEM, "open the store of %s", repo_path);
  s->repo_fd = s->state_fd = -1;

  s->repo_path = realpath(repo_path, NULL);
  if (s->repo_path == NULL)
    {
      tars_error_invalid(err, "repository %s: %s", repo_path, strerror(errno));
      goto fail;
    }
  s->repo_fd = open(s->repo_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->repo_fd < 0)
    {
      if (errno == ENOTDIR)
        tars_error_invalid(err, "repository %s is not a directory", repo_path);
      else
        tars_error_set(err, errno, "open the repository %s", repo_path);
      goto fail;
    }

  if (!create && fstatat(s->repo_fd, TARS_STATE_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
      errno == ENOENT)
    {
      no_store(s->repo_path, err);
      goto fail;
    }
  s->state_fd = open_own_dir(s->repo_fd, s->repo_path, TARS_STATE_DIR, 0700, create, err);
  if (s->state_fd < 0)
    goto fail;
  /* The umask may have taken bits we want, or an older tars may have left it wider: the
   * backups hold pre-images of the user's files.  */
  if (fstat(s->state_fd, &st) < 0)
    {
      tars_error_set(err, errno, "stat %s/" TARS_STATE_DIR, s->repo_path);
      goto fail;
    }
  if ((st.st_mode & 07777) != 0700 && fchmod(s->state_fd, 0700) < 0)
    {
      tars_error_set(err, errno, "chmod %s/" TARS_STATE_DIR, s->repo_path);
      goto fail;
    }

  if (asprintf(&s->db_path, "%s/" TARS_STATE_DIR "/" TARS_DB_NAME, s->repo_path) < 0)
    {
      s->db_path = NULL;
      tars_error_set(err, ENOMEM, "open the store of %s", s->repo_path);
      goto fail;
    }
  if (!create && fstatat(s->state_fd, TARS_DB_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
      errno == ENOENT)
    {
      no_store(s->repo_path, err);
      goto fail;
    }

  if (open_db(s, create, err) < 0)
    goto fail;

  {
    /* Named .tars, not .tars/tars.db, in its messages.  */
    char state_path[PATH_MAX + 8];
    snprintf(state_path, sizeof state_path, "%.*s",
             (int)(strlen(s->db_path) - strlen(TARS_DB_NAME) - 1), s->db_path);
    backups_fd = open_own_dir(s->state_fd, state_path, TARS_BACKUPS_DIR, 0700, true, err);
  }
  if (backups_fd < 0)
    goto fail;
  close(backups_fd);
  if (add_git_exclude(s->repo_fd, s->repo_path, err) < 0)
    {
      tars_error_prefix(err, "add " TARS_STATE_DIR "/ to the git excludes");
      goto fail;
    }
  *out = s;
  return 0;

fail:
  tars_store_close(s);
  return -1;
}

void
tars_store_close(struct tars_store *s)
{
  if (s == NULL)
    return;
  if (s->db)
    sqlite3_close_v2(s->db);
  if (s->state_fd >= 0)
    close(s->state_fd);
  if (s->repo_fd >= 0)
    close(s->repo_fd);
  free(s->repo_path);
  free(s->db_path);
  free(s);
}

sqlite3 *
tars_store_db(struct tars_store *s)
{
  return s->db;
}

int
tars_store_repo_fd(struct tars_store *s)
{
  return s->repo_fd;
}

const char *
tars_store_repo_path(struct tars_store *s)
{
  return s->repo_path;
}

int
tars_store_state_fd(struct tars_store *s)
{
  return s->state_fd;
}

const char *
tars_store_db_path(struct tars_store *s)
{
  return s->db_path;
}

/* ----- transactions and statements ----- */

int
tars_store_begin(struct tars_store *s, struct tars_error *err)
{
  /* IMMEDIATE takes the write lock now (waiting up to the busy timeout), so that a transaction
   * never fails half-way for want of it once it has read.  */
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return db_error(s, err, "begin a transaction");
  return 0;
}

int
tars_store_commit(struct tars_store *s, struct tars_error *err)
{
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    {
      db_error(s, err, "commit");
      tars_store_rollback(s);
      return -1;
    }
  return 0;
}

void
tars_store_rollback(struct tars_store *s)
{
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int
tars_store_exec(struct tars_store *s, const char *sql, struct tars_error *err)
{
  if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      char what[80];
      sql_excerpt(sql, what, sizeof what);
      return db_error(s, err, what);
    }
  return 0;
}

int
tars_store_prepare(struct tars_store *s, const char *sql, sqlite3_stmt **stmt,
                   struct tars_error *err)
{
  *stmt = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL) != SQLITE_OK)
    {
      char what[80];
      sql_excerpt(sql, what, sizeof what);
      return db_error(s, err, what);
    }
  return 0;
}

/* ----- identifiers and time ----- */

static uint32_t
mix32(uint32_t x)
{
  /* A bijection on 32 bits (murmur3's finaliser): distinct inputs give distinct outputs.  */
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

static void
random_bytes(void *buf, size_t len)
{
  size_t n = 0;
  while (n < len)
    {
      ssize_t r = getrandom((char *)buf + n, len - n, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      n += (size_t)r;
    }
  if (n < len)
    {
      /* No getrandom (a very old kernel or a seccomp filter): time and pid still make the ids
       * of distinct processes differ, which is all the ids need.  */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      uint32_t x = mix32((uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^ (uint32_t)ts.tv_sec);
      for (; n < len; n++, x = mix32(x + 1))
        ((unsigned char *)buf)[n] = (unsigned char)x;
    }
}

void
tars_new_id(const char *prefix, char *out, size_t len)
{
  /* The random part is a random per-process start plus a counter, scrambled by a bijection:
   * random across processes, and never the same twice within one (independent 32-bit draws
   * would collide once in ~10^4 runs of a thousand ids).  Reseeded after fork.  */
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static pid_t seeded_pid;
  static uint32_t base, counter;

  pthread_mutex_lock(&lock);
  if (seeded_pid != getpid())
    {
      random_bytes(&base, sizeof base);
      counter = 0;
      seeded_pid = getpid();
    }
  uint32_t r = mix32(base + counter++);
  pthread_mutex_unlock(&lock);

  struct timespec ts;
  struct tm tm;
  char stamp[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  snprintf(out, len, "%s-%s-%08x", prefix, stamp, r);
}

void
tars_now_iso(char *out, size_t len)
{
  struct timespec ts;
  struct tm tm;
  char stamp[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, len, "%s.%03ldZ", stamp, ts.tv_nsec / 1000000);
}

/* ----- the audit trail ----- */

static void
default_actor(char *out, size_t len)
{
  uid_t uid = getuid();
  struct passwd pw, *res = NULL;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name[0])
    snprintf(out, len, "cli:%s", res->pw_name);
  else
    snprintf(out, len, "cli:%u", (unsigned)uid);
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
  return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int
tars_audit_add(struct tars_store *s, const struct tars_audit_event *ev, struct tars_error *err)
{
  if (ev->event == NULL || ev->event[0] == '\0')
    return tars_error_invalid(err, "%s: add an audit entry: no event", s->db_path);
  if (ev->paths && !cJSON_IsArray(ev->paths))
    return tars_error_invalid(err, "%s: audit %s: paths must be a JSON array", s->db_path,
                              ev->event);
  if (ev->details && !cJSON_IsObject(ev->details))
    return tars_error_invalid(err, "%s: audit %s: details must be a JSON object", s->db_path,
                              ev->event);

  cleanup_free char *paths = ev->paths ? cJSON_PrintUnformatted(ev->paths) : NULL;
  cleanup_free char *details = ev->details ? cJSON_PrintUnformatted(ev->details) : NULL;
  if ((ev->paths && paths == NULL) || (ev->details && details == NULL))
    return tars_error_set(err, ENOMEM, "%s: audit %s", s->db_path, ev->event);

  char now[40], actor[300];
  tars_now_iso(now, sizeof now);
  if (ev->actor == NULL)
    default_actor(actor, sizeof actor);

  cleanup_stmt sqlite3_stmt *st = NULL;
  if (tars_store_prepare(s,
                         "INSERT INTO audit (time, event, actor, execution_id, step_id, txn_id, "
                         "reason, paths, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err) < 0)
    return -1;
  bind_text(st, 1, now);
  bind_text(st, 2, ev->event);
  bind_text(st, 3, ev->actor ? ev->actor : actor);
  bind_text(st, 4, ev->execution_id);
  bind_text(st, 5, ev->step_id);
  bind_text(st, 6, ev->txn_id);
  bind_text(st, 7, ev->reason);
  bind_text(st, 8, paths);
  bind_text(st, 9, details);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    {
      char what[80];
      snprintf(what, sizeof what, "audit %.60s", ev->event);
      return db_error(s, err, what);
    }
  return 0;
}

/* Column I of ST into OBJ as a string, or null.  */
static bool
add_text_column(cJSON *obj, const char *name, sqlite3_stmt *st, int i)
{
  const unsigned char *v = sqlite3_column_text(st, i);
  return (v ? cJSON_AddStringToObject(obj, name, (const char *)v)
            : cJSON_AddNullToObject(obj, name)) != NULL;
}

/* Column I, stored JSON, parsed back; stored text that does not parse (it was not written by
 * tars_audit_add) is kept as a string rather than lost.  */
static bool
add_json_column(cJSON *obj, const char *name, sqlite3_stmt *st, int i)
{
  const char *v = (const char *)sqlite3_column_text(st, i);
  if (v == NULL)
    return cJSON_AddNullToObject(obj, name) != NULL;
  cJSON *j = cJSON_Parse(v);
  if (j == NULL)
    return cJSON_AddStringToObject(obj, name, v) != NULL;
  return cJSON_AddItemToObject(obj, name, j);
}

static int
rows_to_json(struct tars_store *s, sqlite3_stmt *st, const char *const *names, const bool *json,
             const bool *integer, int n, cJSON **out, const char *what, struct tars_error *err)
{
  cJSON *arr = cJSON_CreateArray();
  int rc;
  if (arr == NULL)
    return tars_error_set(err, ENOMEM, "%s: %s", s->db_path, what);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    {
      cJSON *o = cJSON_CreateObject();
      bool ok = o != NULL && cJSON_AddItemToArray(arr, o);
      for (int i = 0; ok && i < n; i++)
        {
          if (integer[i])
            ok = (sqlite3_column_type(st, i) == SQLITE_NULL
                      ? cJSON_AddNullToObject(o, names[i])
                      : cJSON_AddNumberToObject(o, names[i],
                                                (double)sqlite3_column_int64(st, i))) != NULL;
          else if (json[i])
            ok = add_json_column(o, names[i], st, i);
          else
            ok = add_text_column(o, names[i], st, i);
        }
      if (!ok)
        {
          cJSON_Delete(arr);
          return tars_error_set(err, ENOMEM, "%s: %s", s->db_path, what);
        }
    }
  if (rc != SQLITE_DONE)
    {
      cJSON_Delete(arr);
      return db_error(s, err, what);
    }
  *out = arr;
  return 0;
}

int
tars_audit_list(struct tars_store *s, const char *execution_id, cJSON **out, struct tars_error *err)
{
  static const char *const names[] = {"id",      "time",   "event",  "actor", "execution_id",
                                      "step_id", "txn_id", "reason", "paths", "details"};
  static const bool json[] = {false, false, false, false, false, false, false, false, true, true};
  static const bool integer[] = {true,  false, false, false, false,
                                 false, false, false, false, false};
  *out = NULL;
  cleanup_stmt sqlite3_stmt *st = NULL;
  if (tars_store_prepare(s,
                         "SELECT id, time, event, actor, execution_id, step_id, txn_id, reason, "
                         "paths, details FROM audit WHERE ?1 IS NULL OR execution_id = ?1 "
                         "ORDER BY id",
                         &st, err) < 0)
    return -1;
  bind_text(st, 1, execution_id);
  return rows_to_json(s, st, names, json, integer, 10, out, "list the audit trail", err);
}

int
tars_history_list(struct tars_store *s, long limit, cJSON **out, struct tars_error *err)
{
  static const char *const names[] = {"id",         "kind",       "state",       "execution_id",
                                      "step_id",    "actor",      "rollback_of", "changeset",
                                      "git_commit", "created_at", "finished_at", "reason",
                                      "operations"};
  static const bool json[13] = {false};
  static const bool integer[13] = {[12] = true};
  *out = NULL;
  cleanup_stmt sqlite3_stmt *st = NULL;
  /* rowid breaks ties between transactions created in the same millisecond.  */
  if (tars_store_prepare(s,
                         "SELECT t.id, t.kind, t.state, t.execution_id, t.step_id, t.actor, "
                         "t.rollback_of, t.changeset, t.git_commit, t.created_at, t.finished_at, "
                         "t.reason, (SELECT count(*) FROM operations o WHERE o.txn_id = t.id) "
                         "FROM transactions t ORDER BY t.created_at DESC, t.rowid DESC LIMIT ?",
                         &st, err) < 0)
    return -1;
  sqlite3_bind_int64(st, 1, limit > 0 ? limit : -1);
  return rows_to_json(s, st, names, json, integer, 13, out, "list the transactions", err);
}
