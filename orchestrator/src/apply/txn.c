/* Transactions: journal, prepare, apply, commit; undo (recovery and failures); rollback.
 * txn.h is the interface, docs/transactions.md the design.
 *
 * The invariant: until the transaction's row says "committed", everything it did to the tree can
 * be undone from what the journal records (each operation's pre-state, backup and temporary
 * name), and undoing is idempotent, so a crash during undo is repaired by undoing again.  Once
 * the row says "committed", the whole post-state is durable.  Nothing between the two exists.
 *
 * Crash points (tars_crash_point, TARS_CRASH_AT=LABEL[:N]), in the order an apply reaches them:
 *   journaled      the journal is committed; the tree is untouched
 *   prepare-op     before each operation's preparation (pre-image, temporary file, new directory)
 *   prepared       after the first barrier, before the state is marked prepared
 *   apply-op       before each operation's change to the tree
 *   dir-mode       before each directory's final mode is set
 *   before-commit  everything applied and made durable, before the commit point
 *   after-commit   committed, before git
 * and while undoing (recovery, or after a failure):
 *   recover-op     before each operation is undone
 *   recovered      everything undone and made durable, before the state is recorded  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "apply/beneath.h"
#include "apply/git.h"
#include "apply/policy.h"
#include "store/store.h"
#include "tars/changes.h"
#include "tars/cleanup.h"
#include "apply/txn.h"

#define TMP_PREFIX ".tars-tmp-"
#define BACKUPS_DIR "backups"
#define LOCK_NAME "lock"
#define COPY_BUF_SIZE (1u << 20)

enum pre_kind
{
  PRE_ABSENT,
  PRE_FILE,
  PRE_DIR,
  PRE_SYMLINK,
};

static const char *const pre_kind_names[] = {"absent", "file", "dir", "symlink"};

/* One operation of a transaction: a changeset entry, or a rollback's inverse step.  */
struct top
{
  unsigned seq;
  char *path;
  enum tars_change_op op;
  enum tars_change_type type;
  unsigned mode;
  uint64_t size;
  char sha256[65];
  char base_sha256[65]; /* apply: the changeset's; rollback: the current content's */
  char *target;
  /* Where a create's or modify's new content is read from.  */
  int src_dfd;
  char *src_name;
  /* What was at PATH just before this operation (journaled).  */
  enum pre_kind pre_kind;
  unsigned pre_mode;
  char pre_sha256[65];
  char *pre_target;
  bool has_backup; /* a pre-image goes to backups/<txn>/<seq> */
  /* Not journaled.  */
  bool replaces;  /* an earlier operation deletes what is at PATH */
  bool late;      /* its directory appears only while applying: prepared then */
  bool made;      /* mkdir done while preparing */
  bool pre_owner; /* pre_uid/pre_gid are PATH's owner before */
  uid_t pre_uid;
  gid_t pre_gid;
};

struct plan
{
  char id[TARS_ID_MAX];
  const char *kind; /* "apply" or "rollback" */
  const char *rollback_of;
  const char *changeset; /* the changeset directory, for the record; may be NULL */
  struct top *ops;
  size_t n;
  int backups_fd;
};

struct ctx
{
  struct tars_store *store;
  int repo_fd;
  int state_fd;
  const char *repo_path;
  bool root;
  char *buf; /* COPY_BUF_SIZE bytes */
};

/* ----- small helpers ----- */

static void
top_clear(struct top *t)
{
  free(t->path);
  free(t->target);
  free(t->src_name);
  free(t->pre_target);
}

static void
plan_free(struct plan *p)
{
  for (size_t i = 0; i < p->n; i++)
    top_clear(&p->ops[i]);
  free(p->ops);
  p->ops = NULL;
  p->n = 0;
  if (p->backups_fd >= 0)
    close(p->backups_fd);
  p->backups_fd = -1;
}

static void
ctx_free(struct ctx *c)
{
  free(c->buf);
}

#define cleanup_plan __attribute__((cleanup(plan_free)))
#define cleanup_ctx __attribute__((cleanup(ctx_free)))

static bool
absent_errno(int e)
{
  return e == ENOENT || e == ENOTDIR;
}

static void
tmp_name(char *out, size_t len, const char *txn, unsigned seq)
{
  snprintf(out, len, TMP_PREFIX "%s-%u", txn, seq);
}

static void
seq_name(char *out, size_t len, unsigned seq)
{
  snprintf(out, len, "%u", seq);
}

static char *
xstrdup(const char *s, struct tars_error *err)
{
  char *r = strdup(s ? s : "");
  if (r == NULL)
    tars_error_set(err, ENOMEM, "allocate");
  return r;
}

/* Copy IN to OUT (OUT may be -1: only hash), hashing what passes; *N gets the byte count.  */
static int
copy_hashed(int in, int out, char *buf, char hex[65], uint64_t *n, struct tars_error *err)
{
  return tars_sha256_copy(in, out, buf, COPY_BUF_SIZE, hex, n, err);
}

/* SHA-256 of DFD/NAME, a regular file.  */
static int
hash_at(struct ctx *c, int dfd, const char *name, const char *shown, char hex[65],
        struct tars_error *err)
{
  cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s", shown);
  uint64_t n;
  if (copy_hashed(fd, -1, c->buf, hex, &n, err) < 0)
    return tars_error_prefix(err, "hash %s", shown);
  return 0;
}

/* One barrier for everything written so far: the temporary files, the backups and the renames
 * are all on the repository's filesystem, and one syncfs costs far less than an fsync per file
 * (each of which would force its own journal commit).  */
static int
barrier(struct ctx *c, struct tars_error *err)
{
  struct stat a, b;
  if (syncfs(c->repo_fd) < 0)
    return tars_error_set(err, errno, "syncfs %s", c->repo_path);
  if (fstat(c->repo_fd, &a) == 0 && fstat(c->state_fd, &b) == 0 && a.st_dev != b.st_dev &&
      syncfs(c->state_fd) < 0)
    return tars_error_set(err, errno, "syncfs %s/" TARS_STATE_DIR, c->repo_path);
  return 0;
}

static int
ctx_init(struct ctx *c, struct tars_store *store, struct tars_error *err)
{
  memset(c, 0, sizeof *c);
  c->store = store;
  c->repo_fd = tars_store_repo_fd(store);
  c->state_fd = tars_store_state_fd(store);
  c->repo_path = tars_store_repo_path(store);
  c->root = geteuid() == 0;
  c->buf = malloc(COPY_BUF_SIZE);
  if (c->buf == NULL)
    return tars_error_set(err, ENOMEM, "allocate a copy buffer");
  return 0;
}

/* One tars at a time changes the tree of a repository: the lock is held from recovery to the
 * end of an apply or rollback.  A process killed while holding it releases it, which is what
 * tells recovery that a transaction it finds unfinished is abandoned rather than in progress.  */
static int
take_lock(struct ctx *c, bool wait, struct tars_error *err)
{
  int fd = openat(c->state_fd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s/" TARS_STATE_DIR "/" LOCK_NAME, c->repo_path);
  int r;
  do
    r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      int e = errno;
      close(fd);
      if (e == EWOULDBLOCK && !wait)
        return -2;
      return tars_error_set(err, e, "lock %s/" TARS_STATE_DIR "/" LOCK_NAME, c->repo_path);
    }
  return fd;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
  return v && *v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int
db_fail(struct ctx *c, const char *what, struct tars_error *err)
{
  return tars_error_set(err, 0, "%s: %s: %s", tars_store_db_path(c->store), what,
                        sqlite3_errmsg(tars_store_db(c->store)));
}

/* Run SQL with text parameters (NULL binds null); N_CHANGED (may be NULL) gets the row count.  */
static int
exec_sql(struct ctx *c, const char *sql, const char *const *args, int n_args, int *n_changed,
         struct tars_error *err)
{
  sqlite3_stmt *st;
  if (tars_store_prepare(c->store, sql, &st, err) < 0)
    return -1;
  for (int i = 0; i < n_args; i++)
    bind_text(st, i + 1, args[i]);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return db_fail(c, "update the journal", err);
  if (n_changed)
    *n_changed = sqlite3_changes(tars_store_db(c->store));
  return 0;
}

static int
audit(struct ctx *c, const char *event, const char *txn_id, const struct tars_apply_opts *o,
      const char *reason, const cJSON *paths, const cJSON *details, struct tars_error *err)
{
  struct tars_audit_event ev = {
      .event = event,
      .actor = o ? o->actor : NULL,
      .execution_id = o ? o->execution_id : NULL,
      .step_id = o ? o->step_id : NULL,
      .txn_id = txn_id,
      .reason = reason,
      .paths = paths,
      .details = details,
  };
  return tars_audit_add(c->store, &ev, err);
}

/* The paths of PLAN, each once, in order (a path appears twice only as a delete and then the
 * operation that replaces it).  */
static cJSON *
plan_paths(const struct plan *p)
{
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < p->n; i++)
    if (!p->ops[i].replaces)
      cJSON_AddItemToArray(a, cJSON_CreateString(p->ops[i].path));
  return a;
}

/* ----- the pre-state ----- */

static int
cmp_strp(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Record what is at each path just before its operation: the tree's state, except where an
 * earlier operation of the same transaction deletes the path (then: absent).  A file's content
 * hash is the one the conflict check just verified when the operation names it, else computed.  */
static int
take_prestate(struct ctx *c, struct plan *p, struct tars_error *err)
{
  cleanup_free const char **deleted = calloc(p->n ? p->n : 1, sizeof *deleted);
  size_t n_deleted = 0;
  if (deleted == NULL)
    return tars_error_set(err, ENOMEM, "allocate");
  for (size_t i = 0; i < p->n; i++)
    if (p->ops[i].op == TARS_CHANGE_DELETE)
      deleted[n_deleted++] = p->ops[i].path;
  qsort(deleted, n_deleted, sizeof *deleted, cmp_strp);

  for (size_t i = 0; i < p->n; i++)
    {
      struct top *t = &p->ops[i];
      struct stat st;
      if (t->op != TARS_CHANGE_DELETE && n_deleted > 0 &&
          bsearch(&t->path, deleted, n_deleted, sizeof *deleted, cmp_strp) != NULL)
        {
          t->replaces = true;
          t->pre_kind = PRE_ABSENT;
          continue;
        }
      if (tars_lstat_beneath(c->repo_fd, t->path, &st, err) < 0)
        {
          if (err && absent_errno(err->code))
            {
              t->pre_kind = PRE_ABSENT;
              continue;
            }
          return -1;
        }
      t->pre_mode = st.st_mode & 07777;
      t->pre_owner = true;
      t->pre_uid = st.st_uid;
      t->pre_gid = st.st_gid;
      if (S_ISREG(st.st_mode))
        {
          t->pre_kind = PRE_FILE;
          t->has_backup = true;
          if (t->base_sha256[0])
            memcpy(t->pre_sha256, t->base_sha256, sizeof t->pre_sha256);
          else
            {
              const char *base;
              cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, t->path, &base, err);
              if (pfd < 0 || hash_at(c, pfd, base, t->path, t->pre_sha256, err) < 0)
                return -1;
            }
        }
      else if (S_ISDIR(st.st_mode))
        t->pre_kind = PRE_DIR;
      else if (S_ISLNK(st.st_mode))
        {
          const char *base;
          char target[PATH_MAX];
          cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, t->path, &base, err);
          if (pfd < 0)
            return -1;
          ssize_t n = readlinkat(pfd, base, target, sizeof target - 1);
          if (n < 0)
            return tars_error_set(err, errno, "readlink %s", t->path);
          target[n] = '\0';
          t->pre_kind = PRE_SYMLINK;
          if ((t->pre_target = xstrdup(target, err)) == NULL)
            return -1;
        }
      else
        return tars_error_refused(err, "%s: not a regular file, a directory or a symlink", t->path);
    }
  return 0;
}

/* ----- the journal ----- */

static const char *
changeset_path(int dfd, char *buf, size_t len)
{
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", dfd);
  ssize_t n = readlink(proc, buf, len - 1);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  return buf;
}

static int
insert_ops(struct ctx *c, const struct plan *p, struct tars_error *err)
{
  sqlite3_stmt *st;
  if (tars_store_prepare(c->store,
                         "INSERT INTO operations (txn_id, seq, path, op, type, mode, size, sha256, "
                         "base_sha256, target, pre_kind, pre_mode, pre_sha256, pre_target, backup, "
                         "tmp, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                         &st, err) < 0)
    return -1;
  int rc = SQLITE_DONE;
  for (size_t i = 0; i < p->n && rc == SQLITE_DONE; i++)
    {
      const struct top *t = &p->ops[i];
      /* As store.h describes them: the backup's name in backups/<txn>/, the temporary file's
       * repository-relative path (recovery derives both again from the id and seq).  */
      char name[NAME_MAX + 1], backup[16];
      cleanup_free char *tmp = NULL;
      const char *slash = strrchr(t->path, '/');
      tmp_name(name, sizeof name, p->id, t->seq);
      seq_name(backup, sizeof backup, t->seq);
      if (asprintf(&tmp, "%.*s%s%s", slash ? (int)(slash - t->path) : 0, t->path, slash ? "/" : "",
                   name) < 0)
        {
          tmp = NULL;
          rc = SQLITE_NOMEM;
          break;
        }
      bool has_mode = t->op != TARS_CHANGE_DELETE && t->op != TARS_CHANGE_SYMLINK;
      bool has_content = t->op == TARS_CHANGE_CREATE || t->op == TARS_CHANGE_MODIFY;
      sqlite3_reset(st);
      bind_text(st, 1, p->id);
      sqlite3_bind_int64(st, 2, t->seq);
      bind_text(st, 3, t->path);
      bind_text(st, 4, tars_change_op_name(t->op));
      bind_text(st, 5, tars_change_type_name(t->type));
      if (has_mode)
        sqlite3_bind_int(st, 6, (int)t->mode);
      else
        sqlite3_bind_null(st, 6);
      if (has_content)
        sqlite3_bind_int64(st, 7, (sqlite3_int64)t->size);
      else
        sqlite3_bind_null(st, 7);
      bind_text(st, 8, t->sha256);
      bind_text(st, 9, t->base_sha256);
      bind_text(st, 10, t->target);
      bind_text(st, 11, pre_kind_names[t->pre_kind]);
      if (t->pre_kind != PRE_ABSENT)
        sqlite3_bind_int(st, 12, (int)t->pre_mode);
      else
        sqlite3_bind_null(st, 12);
      bind_text(st, 13, t->pre_sha256);
      bind_text(st, 14, t->pre_target);
      bind_text(st, 15, t->has_backup ? backup : NULL);
      bind_text(st, 16, tmp);
      rc = sqlite3_step(st);
    }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return db_fail(c, "journal the operations", err);
  return 0;
}

/* The intent, durable before anything touches the tree: the transaction and every operation
 * with its pre-state, and the "begin" audit entry, in one SQL transaction.  */
static int
journal(struct ctx *c, const struct plan *p, const struct tars_apply_opts *o,
        struct tars_error *err)
{
  char now[40], n_ops[24];
  tars_now_iso(now, sizeof now);
  snprintf(n_ops, sizeof n_ops, "%zu", p->n);
  if (tars_store_begin(c->store, err) < 0)
    return -1;
  const char *args[] = {p->id,    p->kind,        o->execution_id, o->step_id,
                        o->actor, p->rollback_of, p->changeset,    now};
  cleanup_cjson cJSON *paths = plan_paths(p);
  cleanup_cjson cJSON *details = cJSON_CreateObject();
  cJSON_AddStringToObject(details, "kind", p->kind);
  cJSON_AddNumberToObject(details, "operations", (double)p->n);
  if (p->rollback_of)
    cJSON_AddStringToObject(details, "rollback_of", p->rollback_of);
  if (p->changeset)
    cJSON_AddStringToObject(details, "changeset", p->changeset);
  if (exec_sql(c,
               "INSERT INTO transactions (id, kind, state, execution_id, step_id, actor, "
               "rollback_of, changeset, created_at) VALUES (?, ?, 'journaled', ?, ?, ?, ?, ?, ?)",
               args, 8, NULL, err) < 0 ||
      insert_ops(c, p, err) < 0 || audit(c, "begin", p->id, o, NULL, paths, details, err) < 0)
    {
      tars_store_rollback(c->store);
      return -1;
    }
  return tars_store_commit(c->store, err);
}

/* ----- prepare ----- */

static int
set_owner(struct ctx *c, struct top *t, int pfd, int fd, const char *name, struct tars_error *err)
{
  /* Root applying into a user's repository must not leave root-owned files behind: a new file
   * takes the owner of what it replaces, or of its directory.  */
  if (!c->root)
    return 0;
  uid_t uid;
  gid_t gid;
  struct stat st;
  if (t->pre_owner)
    uid = t->pre_uid, gid = t->pre_gid;
  else if (fstat(pfd, &st) == 0)
    uid = st.st_uid, gid = st.st_gid;
  else
    return tars_error_set(err, errno, "stat the directory of %s", t->path);
  if (uid == 0 && gid == 0)
    return 0;
  int r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0)
    return tars_error_set(err, errno, "chown %s", t->path);
  return 0;
}

/* Write T's new content to its temporary file in PFD, hashing what is written: the changeset's
 * objects are not hashed when it is loaded, and a manifest lying about a hash or a size must not
 * reach the tree.  */
static int
write_tmp(struct ctx *c, const struct plan *p, struct top *t, int pfd, struct tars_error *err)
{
  char tmp[NAME_MAX + 1];
  tmp_name(tmp, sizeof tmp, p->id, t->seq);
  cleanup_close int in =
      openat(t->src_dfd, t->src_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in < 0)
    return tars_error_set(err, errno, "%s: open its new content %s", t->path, t->src_name);
  struct stat st;
  if (fstat(in, &st) < 0)
    return tars_error_set(err, errno, "%s: stat %s", t->path, t->src_name);
  if (!S_ISREG(st.st_mode))
    return tars_error_refused(err, "%s: its new content %s is not a regular file", t->path,
                              t->src_name);
  cleanup_close int out =
      openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0 && errno == EEXIST && unlinkat(pfd, tmp, 0) == 0)
    out = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return tars_error_set(err, errno, "%s: create the temporary file %s", t->path, tmp);
  char hex[65];
  uint64_t n;
  if (copy_hashed(in, out, c->buf, hex, &n, err) < 0)
    return tars_error_prefix(err, "%s: copy %s", t->path, t->src_name);
  if (n != t->size || strcmp(hex, t->sha256) != 0)
    return tars_error_refused(err,
                              "%s: its new content %s does not match the manifest (%llu bytes, "
                              "sha256 %s; the manifest says %llu bytes, sha256 %s)",
                              t->path, t->src_name, (unsigned long long)n, hex,
                              (unsigned long long)t->size, t->sha256);
  if (set_owner(c, t, pfd, out, NULL, err) < 0)
    return -1;
  if (fchmod(out, t->mode) < 0)
    return tars_error_set(err, errno, "%s: chmod the temporary file", t->path);
  if (close(steal_fd(&out)) < 0)
    return tars_error_set(err, errno, "%s: write the temporary file", t->path);
  return 0;
}

/* Copy PFD/NAME to DFD/DST (mode 0600).  */
static int
copy_file(struct ctx *c, int pfd, const char *name, int dfd, const char *dst, const char *shown,
          struct tars_error *err)
{
  cleanup_close int in = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in < 0)
    return tars_error_set(err, errno, "open %s", shown);
  unlinkat(dfd, dst, 0);
  cleanup_close int out =
      openat(dfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return tars_error_set(err, errno, "create a copy of %s", shown);
  char hex[65];
  uint64_t n;
  if (copy_hashed(in, out, c->buf, hex, &n, err) < 0)
    return tars_error_prefix(err, "copy %s", shown);
  if (close(steal_fd(&out)) < 0)
    return tars_error_set(err, errno, "copy %s", shown);
  return 0;
}

/* The pre-image of a file: a hard link (instant, and the content a rename or an unlink takes out
 * of the tree stays whole in the backup), or a copy for a chmod (which changes the inode the
 * tree keeps) or where the link is not allowed.  */
static int
make_backup(struct ctx *c, const struct plan *p, const struct top *t, int pfd, const char *base,
            struct tars_error *err)
{
  char name[16];
  seq_name(name, sizeof name, t->seq);
  if (t->op != TARS_CHANGE_CHMOD)
    {
      if (linkat(pfd, base, p->backups_fd, name, 0) == 0)
        return 0;
      if (errno == EEXIST && unlinkat(p->backups_fd, name, 0) == 0 &&
          linkat(pfd, base, p->backups_fd, name, 0) == 0)
        return 0;
      if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EACCES)
        return tars_error_set(err, errno, "%s: link its pre-image into " BACKUPS_DIR "/%s", t->path,
                              p->id);
    }
  return copy_file(c, pfd, base, p->backups_fd, name, t->path, err);
}

static int
prepare_one(struct ctx *c, struct plan *p, struct top *t, struct tars_error *err)
{
  const char *base;
  cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, t->path, &base, err);
  if (pfd < 0)
    {
      /* The directory is made later in this transaction, where a file, a symlink or a
       * directory it deletes first stands now.  */
      if (err && (absent_errno(err->code) || err->code == ELOOP) && t->pre_kind == PRE_ABSENT)
        {
          t->late = true;
          return 0;
        }
      return -1;
    }
  if (t->has_backup && make_backup(c, p, t, pfd, base, err) < 0)
    return -1;
  switch (t->op)
    {
    case TARS_CHANGE_CREATE:
    case TARS_CHANGE_MODIFY:
      return write_tmp(c, p, t, pfd, err);
    case TARS_CHANGE_MKDIR:
      if (t->replaces)
        {
          t->late = true;
          return 0;
        }
      /* Owner-writable until the end of the apply: what it will hold is prepared inside.  */
      if (mkdirat(pfd, base, 0700) < 0)
        return tars_error_set(err, errno, "mkdir %s", t->path);
      t->made = true;
      return set_owner(c, t, pfd, -1, base, err);
    default:
      return 0;
    }
}

static int
prepare(struct ctx *c, struct plan *p, struct tars_error *err)
{
  char dir[TARS_ID_MAX + 16];
  snprintf(dir, sizeof dir, BACKUPS_DIR "/%s", p->id);
  if (mkdirat(c->state_fd, dir, 0700) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "create " TARS_STATE_DIR "/%s", dir);
  p->backups_fd = openat(c->state_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (p->backups_fd < 0)
    return tars_error_set(err, errno, "open " TARS_STATE_DIR "/%s", dir);
  for (size_t i = 0; i < p->n; i++)
    {
      tars_crash_point("prepare-op");
      if (prepare_one(c, p, &p->ops[i], err) < 0)
        return -1;
    }
  return 0;
}

/* ----- apply ----- */

static int
apply_one(struct ctx *c, struct plan *p, struct top *t, struct tars_error *err)
{
  const char *base;
  char tmp[NAME_MAX + 1];
  cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, t->path, &base, err);
  if (pfd < 0)
    return -1;
  tmp_name(tmp, sizeof tmp, p->id, t->seq);
  switch (t->op)
    {
    case TARS_CHANGE_CREATE:
    case TARS_CHANGE_MODIFY:
      if (t->late && write_tmp(c, p, t, pfd, err) < 0)
        return -1;
      /* What was absent when journaled must still be: never replace what someone put there.  */
      if (t->pre_kind == PRE_ABSENT ? renameat2(pfd, tmp, pfd, base, RENAME_NOREPLACE)
                                    : renameat(pfd, tmp, pfd, base))
        return tars_error_set(err, errno, "rename the new %s into place", t->path);
      return 0;
    case TARS_CHANGE_DELETE:
      if (unlinkat(pfd, base, t->type == TARS_CHANGE_DIR ? AT_REMOVEDIR : 0) < 0)
        return tars_error_set(err, errno, "remove %s", t->path);
      return 0;
    case TARS_CHANGE_MKDIR:
      if (t->made)
        return 0;
      if (mkdirat(pfd, base, 0700) < 0)
        return tars_error_set(err, errno, "mkdir %s", t->path);
      t->made = true;
      return set_owner(c, t, pfd, -1, base, err);
    case TARS_CHANGE_CHMOD:
      /* A directory's mode is set last, once nothing more is written inside.  */
      if (t->type != TARS_CHANGE_DIR && fchmodat(pfd, base, t->mode, AT_SYMLINK_NOFOLLOW) < 0)
        return tars_error_set(err, errno, "chmod %s", t->path);
      return 0;
    case TARS_CHANGE_SYMLINK:
      if (symlinkat(t->target, pfd, base) < 0)
        return tars_error_set(err, errno, "symlink %s", t->path);
      return set_owner(c, t, pfd, -1, base, err);
    }
  return 0;
}

static int
apply_ops(struct ctx *c, struct plan *p, struct tars_error *err)
{
  for (size_t i = 0; i < p->n; i++)
    {
      tars_crash_point("apply-op");
      if (apply_one(c, p, &p->ops[i], err) < 0)
        return -1;
    }
  /* Deepest first, so that a parent losing its write or search bit comes after its children.  */
  for (size_t i = p->n; i-- > 0;)
    {
      struct top *t = &p->ops[i];
      if (t->op != TARS_CHANGE_MKDIR && !(t->op == TARS_CHANGE_CHMOD && t->type == TARS_CHANGE_DIR))
        continue;
      tars_crash_point("dir-mode");
      const char *base;
      cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, t->path, &base, err);
      if (pfd < 0)
        return -1;
      if (fchmodat(pfd, base, t->mode, AT_SYMLINK_NOFOLLOW) < 0)
        return tars_error_set(err, errno, "chmod %s", t->path);
    }
  return 0;
}

/* ----- undo ----- */

static void
note_left(cJSON *left, const char *path, const char *reason)
{
  if (left == NULL)
    return;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "path", path);
  cJSON_AddStringToObject(o, "reason", reason);
  cJSON_AddItemToArray(left, o);
}

/* Whether PFD/BASE, a regular file, holds T's new content: then this transaction made it.  */
static int
is_new_content(struct ctx *c, const struct top *t, int pfd, const char *base, const struct stat *st,
               bool *yes, struct tars_error *err)
{
  *yes = false;
  if ((uint64_t)st->st_size != t->size || !t->sha256[0])
    return 0;
  char hex[65];
  if (hash_at(c, pfd, base, t->path, hex, err) < 0)
    {
      /* A file this transaction made with no read permission (mode 0000 and not root).  */
      if (err->code != EACCES || st->st_uid != geteuid())
        return -1;
      if (fchmodat(pfd, base, 0600, 0) < 0 || hash_at(c, pfd, base, t->path, hex, err) < 0)
        return -1;
      fchmodat(pfd, base, st->st_mode & 07777, 0);
    }
  *yes = strcmp(hex, t->sha256) == 0;
  return 0;
}

/* Put the pre-image of T back at PFD/BASE: linked to the temporary name, then renamed over
 * whatever is there, so that the path always holds a whole file.  The backup keeps its link:
 * undoing again must find it.  */
static int
restore_backup(struct ctx *c, const struct top *t, int bfd, int pfd, const char *base,
               const char *tmp, struct tars_error *err)
{
  char name[16];
  seq_name(name, sizeof name, t->seq);
  unlinkat(pfd, tmp, 0);
  if (linkat(bfd, name, pfd, tmp, 0) < 0)
    {
      if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EACCES)
        return tars_error_set(err, errno, "%s: link its pre-image back", t->path);
      if (copy_file(c, bfd, name, pfd, tmp, t->path, err) < 0)
        return -1;
    }
  if (renameat(pfd, tmp, pfd, base) < 0)
    return tars_error_set(err, errno, "%s: rename its pre-image into place", t->path);
  return 0;
}

static int
undo_one(struct ctx *c, const char *id, const struct top *t, int bfd, cJSON *left,
         struct tars_error *err)
{
  const char *base;
  char tmp[NAME_MAX + 1];
  cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, t->path, &base, err);
  if (pfd < 0)
    {
      if (err && (absent_errno(err->code) || err->code == ELOOP))
        {
          /* Nothing this transaction made can be there.  */
          if (t->pre_kind != PRE_ABSENT)
            note_left(left, t->path, "its directory is gone: cannot restore it");
          return 0;
        }
      return -1;
    }
  tmp_name(tmp, sizeof tmp, id, t->seq);
  if (unlinkat(pfd, tmp, 0) < 0 && errno != ENOENT)
    return tars_error_set(err, errno, "%s: remove the temporary file %s", t->path, tmp);

  struct stat st;
  bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT)
    return tars_error_set(err, errno, "lstat %s", t->path);

  switch (t->pre_kind)
    {
    case PRE_ABSENT:
      {
        if (!exists)
          return 0;
        bool ours = false;
        int flags = 0;
        if (S_ISREG(st.st_mode) && (t->op == TARS_CHANGE_CREATE || t->op == TARS_CHANGE_MODIFY))
          {
            if (is_new_content(c, t, pfd, base, &st, &ours, err) < 0)
              return -1;
          }
        else if (S_ISDIR(st.st_mode) && t->op == TARS_CHANGE_MKDIR)
          ours = true, flags = AT_REMOVEDIR;
        else if (S_ISLNK(st.st_mode) && t->op == TARS_CHANGE_SYMLINK)
          {
            char target[PATH_MAX];
            ssize_t n = readlinkat(pfd, base, target, sizeof target - 1);
            if (n >= 0)
              {
                target[n] = '\0';
                ours = strcmp(target, t->target) == 0;
              }
          }
        if (!ours)
          {
            note_left(left, t->path, "not made by this transaction: left as it is");
            return 0;
          }
        if (unlinkat(pfd, base, flags) < 0)
          {
            if (errno == ENOTEMPTY || errno == EEXIST)
              {
                note_left(left, t->path, "the directory holds files this transaction did not make");
                return 0;
              }
            return tars_error_set(err, errno, "remove %s", t->path);
          }
        return 0;
      }

    case PRE_FILE:
      {
        char name[16];
        struct stat bst;
        seq_name(name, sizeof name, t->seq);
        bool have_backup = bfd >= 0 && fstatat(bfd, name, &bst, AT_SYMLINK_NOFOLLOW) == 0;
        bool restore = !exists;
        if (exists && !S_ISREG(st.st_mode))
          {
            note_left(left, t->path,
                      "is no longer a regular file: its pre-image stays in the "
                      "backups");
            return 0;
          }
        if (exists && t->op != TARS_CHANGE_CHMOD &&
            !(have_backup && bst.st_dev == st.st_dev && bst.st_ino == st.st_ino))
          {
            if (have_backup && bst.st_size != st.st_size)
              restore = true;
            else
              {
                char hex[65];
                if (hash_at(c, pfd, base, t->path, hex, err) < 0)
                  return -1;
                restore = strcmp(hex, t->pre_sha256) != 0;
              }
          }
        if (restore)
          {
            if (!have_backup)
              {
                note_left(left, t->path, "changed, and no pre-image was taken");
                return 0;
              }
            if (restore_backup(c, t, bfd, pfd, base, tmp, err) < 0)
              return -1;
            if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
              return tars_error_set(err, errno, "lstat %s", t->path);
          }
        if ((st.st_mode & 07777) != t->pre_mode &&
            fchmodat(pfd, base, t->pre_mode, AT_SYMLINK_NOFOLLOW) < 0)
          return tars_error_set(err, errno, "chmod %s", t->path);
        return 0;
      }

    case PRE_DIR:
      if (!exists)
        {
          /* Owner-writable while what it held is restored; its mode is set last.  */
          if (mkdirat(pfd, base, 0700) < 0)
            return tars_error_set(err, errno, "mkdir %s", t->path);
        }
      else if (!S_ISDIR(st.st_mode))
        note_left(left, t->path, "is no longer a directory");
      return 0;

    case PRE_SYMLINK:
      {
        if (exists && S_ISLNK(st.st_mode))
          {
            char target[PATH_MAX];
            ssize_t n = readlinkat(pfd, base, target, sizeof target - 1);
            if (n < 0)
              return tars_error_set(err, errno, "readlink %s", t->path);
            target[n] = '\0';
            if (strcmp(target, t->pre_target) == 0)
              return 0;
          }
        else if (exists)
          {
            note_left(left, t->path, "is no longer a symlink");
            return 0;
          }
        if (symlinkat(t->pre_target, pfd, tmp) < 0)
          return tars_error_set(err, errno, "%s: recreate the symlink", t->path);
        if (renameat(pfd, tmp, pfd, base) < 0)
          return tars_error_set(err, errno, "%s: rename the symlink into place", t->path);
        return 0;
      }
    }
  return 0;
}

static int
fix_dir_mode(struct ctx *c, const char *path, unsigned mode, bool add_owner_rwx,
             struct tars_error *err)
{
  const char *base;
  struct stat st;
  cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, path, &base, err);
  if (pfd < 0)
    return err && (absent_errno(err->code) || err->code == ELOOP) ? 0 : -1;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
    return 0;
  unsigned want = add_owner_rwx ? (st.st_mode & 07777) | 0700 : mode;
  if ((st.st_mode & 07777) != want && fchmodat(pfd, base, want, AT_SYMLINK_NOFOLLOW) < 0)
    return tars_error_set(err, errno, "chmod %s", path);
  return 0;
}

/* Undo OPS, the operations of transaction ID, from whatever point it reached: remove the
 * temporary files, remove what it created, put the pre-images back, restore modes, and make
 * that durable.  Idempotent.  What cannot be undone because someone else changed it meanwhile
 * is left as it is and noted in LEFT.  */
static int
undo(struct ctx *c, const char *id, const struct top *ops, size_t n, cJSON *left,
     struct tars_error *err)
{
  char dir[TARS_ID_MAX + 16];
  snprintf(dir, sizeof dir, BACKUPS_DIR "/%s", id);
  cleanup_close int bfd = openat(c->state_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (bfd < 0 && errno != ENOENT)
    return tars_error_set(err, errno, "open " TARS_STATE_DIR "/%s", dir);

  /* The directories involved writable first (a mode the transaction set, or a pre-state
   * without the owner's write bit, would stop the undo inside them), parents first.  */
  for (size_t i = 0; i < n; i++)
    if ((ops[i].op == TARS_CHANGE_MKDIR || ops[i].pre_kind == PRE_DIR) &&
        fix_dir_mode(c, ops[i].path, 0, true, err) < 0)
      return -1;
  for (size_t i = n; i-- > 0;)
    {
      tars_crash_point("recover-op");
      if (undo_one(c, id, &ops[i], bfd, left, err) < 0)
        return -1;
    }
  for (size_t i = n; i-- > 0;)
    if (ops[i].pre_kind == PRE_DIR && fix_dir_mode(c, ops[i].path, ops[i].pre_mode, false, err) < 0)
      return -1;
  return barrier(c, err);
}

static void
remove_backups(struct ctx *c, const char *id)
{
  char dir[TARS_ID_MAX + 16];
  snprintf(dir, sizeof dir, BACKUPS_DIR "/%s", id);
  int fd = openat(c->state_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return;
    }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      unlinkat(dirfd(d), de->d_name, 0);
  unlinkat(c->state_fd, dir, AT_REMOVEDIR);
}

/* ----- loading a journaled transaction ----- */

static int
parse_op(const char *s, enum tars_change_op *op)
{
  for (int i = TARS_CHANGE_CREATE; i <= TARS_CHANGE_SYMLINK; i++)
    if (s && strcmp(s, tars_change_op_name((enum tars_change_op)i)) == 0)
      {
        *op = (enum tars_change_op)i;
        return 0;
      }
  return -1;
}

static int
parse_type(const char *s, enum tars_change_type *type)
{
  for (int i = TARS_CHANGE_FILE; i <= TARS_CHANGE_LINK; i++)
    if (s && strcmp(s, tars_change_type_name((enum tars_change_type)i)) == 0)
      {
        *type = (enum tars_change_type)i;
        return 0;
      }
  return -1;
}

static void
copy_hex(char out[65], const unsigned char *v)
{
  out[0] = '\0';
  if (v && strlen((const char *)v) == 64)
    memcpy(out, v, 65);
}

static int
load_ops(struct ctx *c, const char *id, struct top **out, size_t *n_out, struct tars_error *err)
{
  sqlite3_stmt *st;
  *out = NULL;
  *n_out = 0;
  if (tars_store_prepare(c->store,
                         "SELECT seq, path, op, type, mode, size, sha256, base_sha256, target, "
                         "pre_kind, pre_mode, pre_sha256, pre_target, backup FROM operations "
                         "WHERE txn_id = ? ORDER BY seq",
                         &st, err) < 0)
    return -1;
  bind_text(st, 1, id);
  struct top *v = NULL;
  size_t n = 0, cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    {
      if (n == cap)
        {
          cap = cap ? cap * 2 : 64;
          struct top *nv = reallocarray(v, cap, sizeof *v);
          if (nv == NULL)
            {
              rc = SQLITE_NOMEM;
              break;
            }
          v = nv;
        }
      struct top *t = &v[n++];
      memset(t, 0, sizeof *t);
      t->src_dfd = -1;
      t->seq = (unsigned)sqlite3_column_int64(st, 0);
      const char *pre = (const char *)sqlite3_column_text(st, 9);
      t->path = strdup((const char *)sqlite3_column_text(st, 1));
      if (t->path == NULL || parse_op((const char *)sqlite3_column_text(st, 2), &t->op) < 0 ||
          parse_type((const char *)sqlite3_column_text(st, 3), &t->type) < 0 || pre == NULL)
        {
          rc = SQLITE_CORRUPT;
          break;
        }
      t->mode = (unsigned)sqlite3_column_int(st, 4);
      t->size = (uint64_t)sqlite3_column_int64(st, 5);
      copy_hex(t->sha256, sqlite3_column_text(st, 6));
      copy_hex(t->base_sha256, sqlite3_column_text(st, 7));
      if (sqlite3_column_text(st, 8))
        t->target = strdup((const char *)sqlite3_column_text(st, 8));
      for (int k = PRE_ABSENT; k <= PRE_SYMLINK; k++)
        if (strcmp(pre, pre_kind_names[k]) == 0)
          t->pre_kind = (enum pre_kind)k;
      t->pre_mode = (unsigned)sqlite3_column_int(st, 10);
      copy_hex(t->pre_sha256, sqlite3_column_text(st, 11));
      if (sqlite3_column_text(st, 12))
        t->pre_target = strdup((const char *)sqlite3_column_text(st, 12));
      t->has_backup = sqlite3_column_type(st, 13) != SQLITE_NULL;
      if ((t->op == TARS_CHANGE_SYMLINK && t->target == NULL) ||
          (t->pre_kind == PRE_SYMLINK && t->pre_target == NULL))
        {
          rc = SQLITE_CORRUPT;
          break;
        }
    }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    {
      for (size_t i = 0; i < n; i++)
        top_clear(&v[i]);
      free(v);
      return rc == SQLITE_CORRUPT ? tars_error_set(err, 0, "%s: the journal of %s is damaged",
                                                   tars_store_db_path(c->store), id)
                                  : db_fail(c, "read the journal", err);
    }
  *out = v;
  *n_out = n;
  return 0;
}

/* ----- recovery ----- */

struct pending
{
  char id[TARS_ID_MAX];
  bool prepared;
  char *execution_id, *step_id;
};

/* Undo transaction ID and record it as aborted (nothing was applied yet: journaled) or
 * recovered, with the "recovery" (or EVENT) audit entry in the same SQL transaction.  */
static int
undo_and_record(struct ctx *c, const char *id, bool prepared, const char *event, const char *reason,
                const struct tars_apply_opts *o, struct tars_error *err)
{
  struct top *ops;
  size_t n;
  if (load_ops(c, id, &ops, &n, err) < 0)
    return -1;
  cleanup_cjson cJSON *left = cJSON_CreateArray();
  cleanup_cjson cJSON *paths = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++)
    if (i == 0 || strcmp(ops[i].path, ops[i - 1].path) != 0)
      cJSON_AddItemToArray(paths, cJSON_CreateString(ops[i].path));
  int r = undo(c, id, ops, n, left, err);
  for (size_t i = 0; i < n; i++)
    top_clear(&ops[i]);
  free(ops);
  if (r < 0)
    return -1;
  tars_crash_point("recovered");

  char now[40];
  tars_now_iso(now, sizeof now);
  const char *state = prepared ? "recovered" : "aborted";
  const char *args[] = {state, now, reason, id};
  cleanup_cjson cJSON *details = cJSON_CreateObject();
  cJSON_AddStringToObject(details, "state", state);
  cJSON_AddNumberToObject(details, "operations", (double)n);
  if (cJSON_GetArraySize(left) > 0)
    cJSON_AddItemToObject(details, "left", cJSON_Duplicate(left, true));
  if (tars_store_begin(c->store, err) < 0)
    return -1;
  if (exec_sql(c,
               "UPDATE transactions SET state = ?, finished_at = ?, reason = ? WHERE id = ? AND "
               "state IN ('journaled', 'prepared')",
               args, 4, NULL, err) < 0 ||
      audit(c, event, id, o, reason, paths, details, err) < 0)
    {
      tars_store_rollback(c->store);
      return -1;
    }
  if (tars_store_commit(c->store, err) < 0)
    return -1;
  remove_backups(c, id);
  return 0;
}

static int
recover_locked(struct ctx *c, int *n_recovered, struct tars_error *err)
{
  sqlite3_stmt *st;
  struct pending *v = NULL;
  size_t n = 0, cap = 0;
  int rc, r = 0;
  *n_recovered = 0;
  if (tars_store_prepare(c->store,
                         "SELECT id, state, execution_id, step_id FROM transactions WHERE state "
                         "IN ('journaled', 'prepared') ORDER BY created_at DESC, rowid DESC",
                         &st, err) < 0)
    return -1;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    {
      if (n == cap)
        {
          cap = cap ? cap * 2 : 4;
          struct pending *nv = reallocarray(v, cap, sizeof *v);
          if (nv == NULL)
            break;
          v = nv;
        }
      struct pending *p = &v[n++];
      memset(p, 0, sizeof *p);
      snprintf(p->id, sizeof p->id, "%s", (const char *)sqlite3_column_text(st, 0));
      p->prepared = strcmp((const char *)sqlite3_column_text(st, 1), "prepared") == 0;
      if (sqlite3_column_text(st, 2))
        p->execution_id = strdup((const char *)sqlite3_column_text(st, 2));
      if (sqlite3_column_text(st, 3))
        p->step_id = strdup((const char *)sqlite3_column_text(st, 3));
    }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    r = db_fail(c, "find unfinished transactions", err);
  /* Newest first: should an older one be unfinished too, its post-state came before.  */
  for (size_t i = 0; r == 0 && i < n; i++)
    {
      struct tars_apply_opts o = {.execution_id = v[i].execution_id, .step_id = v[i].step_id};
      if (undo_and_record(c, v[i].id, v[i].prepared, "recovery", "interrupted: undone by recovery",
                          &o, err) < 0)
        r = tars_error_prefix(err, "recover transaction %s", v[i].id);
      else
        ++*n_recovered;
    }
  for (size_t i = 0; i < n; i++)
    {
      free(v[i].execution_id);
      free(v[i].step_id);
    }
  free(v);
  return r;
}

int
tars_txn_recover(struct tars_store *store, int *n_recovered, struct tars_error *err)
{
  cleanup_ctx struct ctx c;
  int dummy;
  if (n_recovered == NULL)
    n_recovered = &dummy;
  *n_recovered = 0;
  if (ctx_init(&c, store, err) < 0)
    return -1;
  /* The common case, nothing unfinished, needs neither the lock nor write access.  */
  sqlite3_stmt *st;
  if (tars_store_prepare(store,
                         "SELECT 1 FROM transactions WHERE state IN ('journaled', 'prepared') "
                         "LIMIT 1",
                         &st, err) < 0)
    return -1;
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return db_fail(&c, "find unfinished transactions", err);
  cleanup_close int lock = take_lock(&c, false, err);
  if (lock == -2)
    {
      /* Another tars holds the lock: its transaction is in progress, not abandoned.  */
      lock = -1;
      return 0;
    }
  if (lock < 0)
    return -1;
  return recover_locked(&c, n_recovered, err);
}

/* ----- running a plan: journal, prepare, apply, commit ----- */

/* A failure before the commit point: undo what was done and record the transaction as aborted.
 * ERR keeps the failure; should the undo fail too, the transaction stays unfinished for the next
 * command's recovery, and ERR says so.  */
static void
abort_txn(struct ctx *c, const struct plan *p, bool prepared, const struct tars_apply_opts *o,
          struct tars_error *err)
{
  struct tars_error uerr = {0};
  char reason[TARS_ERROR_MSG_MAX];
  snprintf(reason, sizeof reason, "%s", err->msg);
  if (undo_and_record(c, p->id, prepared, "abort", reason, o, &uerr) < 0)
    tars_error_prefix(err, "(undoing it failed too: %s; the next tars command will retry)",
                      uerr.msg);
}

static cJSON *
commit_details(const struct plan *p)
{
  cJSON *d = cJSON_CreateObject();
  cJSON *ops = cJSON_AddArrayToObject(d, "operations");
  cJSON_AddStringToObject(d, "kind", p->kind);
  if (p->rollback_of)
    cJSON_AddStringToObject(d, "rollback_of", p->rollback_of);
  for (size_t i = 0; i < p->n; i++)
    {
      const struct top *t = &p->ops[i];
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "path", t->path);
      cJSON_AddStringToObject(o, "op", tars_change_op_name(t->op));
      if (t->sha256[0])
        cJSON_AddStringToObject(o, "sha256", t->sha256);
      if (t->pre_sha256[0])
        cJSON_AddStringToObject(o, "pre_sha256", t->pre_sha256);
      cJSON_AddItemToArray(ops, o);
    }
  return d;
}

/* The commit point: the operations done, the transaction committed (and, for a rollback, the
 * original rolled back) and the audit entry, in one SQL transaction.  */
static int
commit_txn(struct ctx *c, const struct plan *p, const struct tars_apply_opts *o,
           struct tars_error *err)
{
  char now[40], reason[TARS_ID_MAX + 32];
  tars_now_iso(now, sizeof now);
  const char *id_arg[] = {p->id};
  const char *args[] = {now, p->id};
  cleanup_cjson cJSON *paths = plan_paths(p);
  cleanup_cjson cJSON *details = commit_details(p);
  if (tars_store_begin(c->store, err) < 0)
    return -1;
  if (exec_sql(c, "UPDATE operations SET done = 1 WHERE txn_id = ?", id_arg, 1, NULL, err) < 0 ||
      exec_sql(c,
               "UPDATE transactions SET state = 'committed', finished_at = ? WHERE id = ? AND "
               "state = 'prepared'",
               args, 2, NULL, err) < 0)
    goto fail;
  if (p->rollback_of)
    {
      int changed = 0;
      snprintf(reason, sizeof reason, "rolled back by %s", p->id);
      const char *rargs[] = {reason, p->rollback_of};
      if (exec_sql(c,
                   "UPDATE transactions SET state = 'rolled_back', reason = ? WHERE id = ? AND "
                   "state = 'committed'",
                   rargs, 2, &changed, err) < 0)
        goto fail;
      if (changed != 1)
        {
          tars_error_refused(err, "transaction %s is no longer committed", p->rollback_of);
          goto fail;
        }
    }
  if (audit(c, p->rollback_of ? "rollback" : "commit", p->id, o, NULL, paths, details, err) < 0)
    goto fail;
  tars_crash_point("before-commit");
  return tars_store_commit(c->store, err);
fail:
  tars_store_rollback(c->store);
  return -1;
}

/* In git, commit the touched paths.  After the commit point: a failure is reported in
 * RESULT->report and audited, and the transaction stays committed.  */
static void
git_commit(struct ctx *c, const struct plan *p, const struct tars_apply_opts *o,
           const char *message, struct tars_txn_result *result)
{
  struct tars_error gerr = {0};
  int is_repo = tars_git_is_repo(c->repo_path, &gerr);
  if (is_repo == 0)
    return;
  cleanup_free const char **paths = calloc(p->n ? p->n : 1, sizeof *paths);
  size_t n = 0;
  if (paths == NULL)
    {
      tars_error_set(&gerr, ENOMEM, "allocate");
      is_repo = -1;
    }
  for (size_t i = 0; paths && i < p->n; i++)
    if (!p->ops[i].replaces)
      paths[n++] = p->ops[i].path;
  char id[48] = "";
  if (is_repo < 0 || tars_git_commit_paths(c->repo_path, paths, n, message, id, &gerr) < 0)
    {
      struct tars_error aerr;
      cleanup_cjson cJSON *details = cJSON_CreateObject();
      cJSON_AddStringToObject(details, "error", gerr.msg);
      audit(c, "git-error", p->id, o, gerr.msg, NULL, details, &aerr);
      if (result->report == NULL)
        result->report = cJSON_CreateObject();
      cJSON_AddStringToObject(result->report, "git_error", gerr.msg);
      return;
    }
  snprintf(result->git_commit, sizeof result->git_commit, "%s", id);
  const char *args[] = {id, p->id};
  struct tars_error aerr;
  cleanup_cjson cJSON *details = cJSON_CreateObject();
  cJSON_AddStringToObject(details, "commit", id);
  if (tars_store_begin(c->store, &aerr) < 0)
    return;
  if (exec_sql(c, "UPDATE transactions SET git_commit = ? WHERE id = ?", args, 2, NULL, &aerr) <
          0 ||
      audit(c, "git-commit", p->id, o, NULL, NULL, details, &aerr) < 0)
    tars_store_rollback(c->store);
  else
    tars_store_commit(c->store, &aerr);
}

static void
git_message(char *out, size_t len, const struct plan *p, const struct tars_apply_opts *o)
{
  char ctx[2 * TARS_ID_MAX + 64] = "";
  if (p->rollback_of)
    {
      snprintf(out, len, "tars: roll back %s\n\nTars-Transaction: %s\nTars-Reverts: %s\n",
               p->rollback_of, p->id, p->rollback_of);
      return;
    }
  if (o->execution_id && o->step_id)
    snprintf(ctx, sizeof ctx, " (execution %s, step %s)", o->execution_id, o->step_id);
  else if (o->execution_id)
    snprintf(ctx, sizeof ctx, " (execution %s)", o->execution_id);
  else if (o->step_id)
    snprintf(ctx, sizeof ctx, " (step %s)", o->step_id);
  snprintf(out, len, "tars: apply %s%s\n\nTars-Transaction: %s\n", p->id, ctx, p->id);
}

static int
run_plan(struct ctx *c, struct plan *p, const struct tars_apply_opts *o, bool do_git,
         struct tars_txn_result *result, struct tars_error *err)
{
  tars_new_id("txn", p->id, sizeof p->id);
  snprintf(result->txn_id, sizeof result->txn_id, "%s", p->id);
  result->n_ops = (unsigned)p->n;
  for (size_t i = 0; i < p->n; i++)
    p->ops[i].seq = (unsigned)i + 1;
  if (take_prestate(c, p, err) < 0 || journal(c, p, o, err) < 0)
    return -1;
  tars_crash_point("journaled");

  if (prepare(c, p, err) < 0 || barrier(c, err) < 0)
    {
      abort_txn(c, p, false, o, err);
      return -1;
    }
  tars_crash_point("prepared");
  /* Not flushed on its own (synchronous=NORMAL): "prepared" only tells recovery to call the
   * outcome "recovered" rather than "aborted"; undo is the same either way, and the commit's
   * flush makes it durable with everything else.  */
  const char *args[] = {p->id};
  if (tars_store_exec(c->store, "PRAGMA synchronous=NORMAL", err) < 0 ||
      exec_sql(c, "UPDATE transactions SET state = 'prepared' WHERE id = ?", args, 1, NULL, err) <
          0 ||
      tars_store_exec(c->store, "PRAGMA synchronous=FULL", err) < 0)
    {
      tars_store_exec(c->store, "PRAGMA synchronous=FULL", NULL);
      abort_txn(c, p, false, o, err);
      return -1;
    }
  if (apply_ops(c, p, err) < 0 || barrier(c, err) < 0 || commit_txn(c, p, o, err) < 0)
    {
      abort_txn(c, p, true, o, err);
      return -1;
    }
  tars_crash_point("after-commit");
  if (do_git && p->n > 0)
    {
      char msg[4 * TARS_ID_MAX + 128];
      git_message(msg, sizeof msg, p, o);
      git_commit(c, p, o, msg, result);
    }
  return 0;
}

/* ----- apply ----- */

static int
refuse(struct ctx *c, const struct tars_apply_opts *o, const char *event, const char *key,
       cJSON *reasons, struct tars_txn_result *result, struct tars_error *err)
{
  cleanup_cjson cJSON *paths = cJSON_CreateArray();
  cJSON *r;
  cJSON_ArrayForEach(r, reasons)
  {
    cJSON *path = cJSON_GetObjectItemCaseSensitive(r, "path");
    if (cJSON_IsString(path))
      cJSON_AddItemToArray(paths, cJSON_CreateString(path->valuestring));
  }
  int n = cJSON_GetArraySize(reasons);
  cleanup_cjson cJSON *details = cJSON_CreateObject();
  cJSON_AddItemToObject(details, key, cJSON_Duplicate(reasons, true));
  char reason[TARS_ERROR_MSG_MAX];
  if (n > 0)
    {
      cJSON *first = cJSON_GetArrayItem(reasons, 0);
      cJSON *p = cJSON_GetObjectItemCaseSensitive(first, "path");
      cJSON *why = cJSON_GetObjectItemCaseSensitive(first, "reason");
      snprintf(reason, sizeof reason, "%s: %s%s", cJSON_IsString(p) ? p->valuestring : "?",
               cJSON_IsString(why) ? why->valuestring : "refused", n > 1 ? " (and more)" : "");
    }
  else
    snprintf(reason, sizeof reason, "%s", err->msg);
  struct tars_error aerr;
  if (audit(c, event, NULL, o, reason, paths, details, &aerr) < 0)
    {
      *err = aerr;
      return -1;
    }
  result->report = cJSON_CreateObject();
  cJSON_AddItemToObject(result->report, key, cJSON_Duplicate(reasons, true));
  if (n > 0)
    tars_error_refused(err, "%s: %d %s%s, nothing was written",
                       strcmp(key, "conflicts") == 0 ? "conflict" : "changeset refused", n,
                       strcmp(key, "conflicts") == 0 ? "path" : "reason", n == 1 ? "" : "s");
  else
    err->kind = TARS_ERR_REFUSED;
  return -1;
}

static int
plan_from_changeset(const struct tars_changeset *cs, int dfd, struct plan *p,
                    struct tars_error *err)
{
  p->ops = calloc(cs->n_entries ? cs->n_entries : 1, sizeof *p->ops);
  if (p->ops == NULL)
    return tars_error_set(err, ENOMEM, "allocate");
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *e = &cs->entries[i];
      struct top *t = &p->ops[p->n++];
      t->src_dfd = dfd;
      t->op = e->op;
      t->type = e->type;
      t->mode = e->mode;
      t->size = e->size;
      memcpy(t->sha256, e->sha256, sizeof t->sha256);
      memcpy(t->base_sha256, e->base_sha256, sizeof t->base_sha256);
      if ((t->path = xstrdup(e->path, err)) == NULL ||
          (e->target && (t->target = xstrdup(e->target, err)) == NULL))
        return -1;
      if ((e->op == TARS_CHANGE_CREATE || e->op == TARS_CHANGE_MODIFY) &&
          asprintf(&t->src_name, "objects/%s", e->sha256) < 0)
        {
          t->src_name = NULL;
          return tars_error_set(err, ENOMEM, "allocate");
        }
    }
  return 0;
}

int
tars_txn_apply(struct tars_store *store, int changeset_dfd, const struct tars_apply_opts *opts,
               struct tars_txn_result *result, struct tars_error *err)
{
  cleanup_ctx struct ctx c;
  cleanup_plan struct plan p = {.kind = "apply", .backups_fd = -1};
  cleanup_changeset struct tars_changeset cs = {0};
  cleanup_cjson cJSON *reasons = NULL;
  cleanup_cjson cJSON *conflicts = NULL;
  struct tars_policy own_policy;
  bool own = false;
  int n_recovered, r = -1;
  char cs_path[PATH_MAX];

  memset(result, 0, sizeof *result);
  if (ctx_init(&c, store, err) < 0)
    return -1;
  cleanup_close int lock = take_lock(&c, true, err);
  if (lock < 0 || recover_locked(&c, &n_recovered, err) < 0)
    return -1;

  p.changeset = changeset_path(changeset_dfd, cs_path, sizeof cs_path);
  if (tars_changeset_load(changeset_dfd, &cs, err) < 0)
    {
      struct tars_error aerr;
      cleanup_cjson cJSON *details = cJSON_CreateObject();
      if (p.changeset)
        cJSON_AddStringToObject(details, "changeset", p.changeset);
      if (audit(&c, "invalid", NULL, opts, err->msg, NULL, details, &aerr) < 0)
        *err = aerr;
      else
        err->kind = TARS_ERR_INVALID;
      return -1;
    }

  const struct tars_policy *policy = opts->policy;
  if (policy == NULL)
    {
      tars_policy_default(&own_policy);
      own = true;
      if (tars_policy_load(&own_policy, c.repo_fd, err) < 0)
        goto out;
      own_policy.allow_failed_command = opts->allow_failed_command;
      policy = &own_policy;
    }

  reasons = cJSON_CreateArray();
  if (tars_policy_check(policy, &cs, changeset_dfd, c.repo_fd, reasons, err) < 0)
    {
      if (err->kind == TARS_ERR_REFUSED || cJSON_GetArraySize(reasons) > 0)
        r = refuse(&c, opts, "refusal", "refused", reasons, result, err);
      goto out;
    }
  conflicts = cJSON_CreateArray();
  if (tars_conflicts_check(&cs, c.repo_fd, conflicts, err) < 0)
    {
      if (err->kind == TARS_ERR_REFUSED || cJSON_GetArraySize(conflicts) > 0)
        r = refuse(&c, opts, "conflict", "conflicts", conflicts, result, err);
      goto out;
    }

  if (plan_from_changeset(&cs, changeset_dfd, &p, err) < 0)
    goto out;
  r = run_plan(&c, &p, opts, opts->git_commit, result, err);
out:
  if (own)
    tars_policy_free(&own_policy);
  return r;
}

/* ----- rollback ----- */

/* What a path holds: its kind, and its mode, content hash or target.  */
struct pstate
{
  enum pre_kind kind;
  unsigned mode;
  char sha[65];
  char target[PATH_MAX];
};

static void
pstate_reset(struct pstate *s)
{
  s->kind = PRE_ABSENT;
  s->mode = 0;
  s->sha[0] = '\0';
  s->target[0] = '\0';
}

static void
pre_state_of(const struct top *t, struct pstate *s)
{
  pstate_reset(s);
  s->kind = t->pre_kind;
  s->mode = t->pre_mode;
  memcpy(s->sha, t->pre_sha256, sizeof s->sha);
  snprintf(s->target, sizeof s->target, "%s", t->pre_target ? t->pre_target : "");
}

static void
post_state_of(const struct top *t, struct pstate *s)
{
  pstate_reset(s);
  s->mode = t->mode;
  switch (t->op)
    {
    case TARS_CHANGE_CREATE:
    case TARS_CHANGE_MODIFY:
      s->kind = PRE_FILE;
      memcpy(s->sha, t->sha256, sizeof s->sha);
      break;
    case TARS_CHANGE_DELETE:
      s->kind = PRE_ABSENT;
      break;
    case TARS_CHANGE_MKDIR:
      s->kind = PRE_DIR;
      break;
    case TARS_CHANGE_CHMOD:
      s->kind = t->type == TARS_CHANGE_DIR ? PRE_DIR : PRE_FILE;
      memcpy(s->sha, t->pre_sha256, sizeof s->sha);
      break;
    case TARS_CHANGE_SYMLINK:
      s->kind = PRE_SYMLINK;
      snprintf(s->target, sizeof s->target, "%s", t->target ? t->target : "");
      break;
    }
}

static int
current_state(struct ctx *c, const char *path, struct pstate *s, struct tars_error *err)
{
  struct stat st;
  pstate_reset(s);
  if (tars_lstat_beneath(c->repo_fd, path, &st, err) < 0)
    {
      if (err && absent_errno(err->code))
        {
          s->kind = PRE_ABSENT;
          return 0;
        }
      return -1;
    }
  s->mode = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode))
    s->kind = PRE_DIR;
  else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
    {
      const char *base;
      cleanup_close int pfd = tars_open_parent_beneath(c->repo_fd, path, &base, err);
      if (pfd < 0)
        return -1;
      if (S_ISREG(st.st_mode))
        {
          s->kind = PRE_FILE;
          return hash_at(c, pfd, base, path, s->sha, err);
        }
      s->kind = PRE_SYMLINK;
      ssize_t n = readlinkat(pfd, base, s->target, sizeof s->target - 1);
      if (n < 0)
        return tars_error_set(err, errno, "readlink %s", path);
      s->target[n] = '\0';
    }
  else
    return tars_error_refused(err, "%s: not a regular file, a directory or a symlink", path);
  return 0;
}

static bool
same_state(const struct pstate *a, const struct pstate *b)
{
  if (a->kind != b->kind)
    return false;
  switch (a->kind)
    {
    case PRE_ABSENT:
      return true;
    case PRE_FILE:
      return a->mode == b->mode && strcmp(a->sha, b->sha) == 0;
    case PRE_DIR:
      return a->mode == b->mode;
    case PRE_SYMLINK:
      return strcmp(a->target, b->target) == 0;
    }
  return false;
}

static void
describe(const struct pstate *s, char *out, size_t len)
{
  switch (s->kind)
    {
    case PRE_ABSENT:
      snprintf(out, len, "absent");
      break;
    case PRE_FILE:
      snprintf(out, len, "file %04o sha256 %s", s->mode, s->sha);
      break;
    case PRE_DIR:
      snprintf(out, len, "directory %04o", s->mode);
      break;
    case PRE_SYMLINK:
      snprintf(out, len, "symlink -> %.*s", (int)(len > 20 ? len - 20 : 1), s->target);
      break;
    }
}

static struct top *
push_op(struct plan *p, const char *path, enum tars_change_op op, enum tars_change_type type,
        struct tars_error *err)
{
  struct top *t = &p->ops[p->n];
  memset(t, 0, sizeof *t);
  t->src_dfd = -1;
  t->op = op;
  t->type = type;
  if ((t->path = xstrdup(path, err)) == NULL)
    return NULL;
  p->n++;
  return t;
}

static enum tars_change_type
kind_type(enum pre_kind k)
{
  return k == PRE_DIR ? TARS_CHANGE_DIR : k == PRE_SYMLINK ? TARS_CHANGE_LINK : TARS_CHANGE_FILE;
}

/* The operations that take PATH from CUR to WANT, WANT being the pre-state of FIRST, an operation
 * of the transaction ORIG whose pre-image (if a file) is in its backups.  */
static int
inverse_ops(struct ctx *c, struct plan *p, const char *orig, const struct top *first,
            const struct pstate *cur, const struct pstate *want, struct tars_error *err)
{
  struct top *t;
  if (same_state(cur, want))
    return 0;
  if (cur->kind != PRE_ABSENT && cur->kind != want->kind)
    {
      if ((t = push_op(p, first->path, TARS_CHANGE_DELETE, kind_type(cur->kind), err)) == NULL)
        return -1;
      if (cur->kind == PRE_FILE)
        memcpy(t->base_sha256, cur->sha, sizeof t->base_sha256);
    }
  else if (cur->kind == PRE_SYMLINK)
    {
      /* Another target: a symlink is replaced, never changed.  */
      if (push_op(p, first->path, TARS_CHANGE_DELETE, TARS_CHANGE_LINK, err) == NULL)
        return -1;
    }
  bool same_kind = cur->kind == want->kind && cur->kind != PRE_SYMLINK;
  switch (want->kind)
    {
    case PRE_ABSENT:
      return 0;
    case PRE_DIR:
      t = push_op(p, first->path, same_kind ? TARS_CHANGE_CHMOD : TARS_CHANGE_MKDIR,
                  TARS_CHANGE_DIR, err);
      if (t == NULL)
        return -1;
      t->mode = want->mode;
      return 0;
    case PRE_SYMLINK:
      if ((t = push_op(p, first->path, TARS_CHANGE_SYMLINK, TARS_CHANGE_LINK, err)) == NULL ||
          (t->target = xstrdup(want->target, err)) == NULL)
        return -1;
      return 0;
    case PRE_FILE:
      break;
    }
  if (same_kind && strcmp(cur->sha, want->sha) == 0)
    {
      if ((t = push_op(p, first->path, TARS_CHANGE_CHMOD, TARS_CHANGE_FILE, err)) == NULL)
        return -1;
      t->mode = want->mode;
      memcpy(t->base_sha256, cur->sha, sizeof t->base_sha256);
      return 0;
    }
  t = push_op(p, first->path, same_kind ? TARS_CHANGE_MODIFY : TARS_CHANGE_CREATE, TARS_CHANGE_FILE,
              err);
  if (t == NULL)
    return -1;
  t->mode = want->mode;
  memcpy(t->sha256, want->sha, sizeof t->sha256);
  if (same_kind)
    memcpy(t->base_sha256, cur->sha, sizeof t->base_sha256);
  if (!first->has_backup || asprintf(&t->src_name, BACKUPS_DIR "/%s/%u", orig, first->seq) < 0)
    {
      t->src_name = NULL;
      return tars_error_set(err, first->has_backup ? ENOMEM : 0,
                            "%s: transaction %s kept no pre-image of it", first->path, orig);
    }
  /* Copied, not linked: the backups of ORIG stay as they are, whatever happens next.  */
  t->src_dfd = c->state_fd;
  struct stat st;
  if (fstatat(c->state_fd, t->src_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return tars_error_set(err, errno, "%s: its pre-image " TARS_STATE_DIR "/%s", first->path,
                          t->src_name);
  t->size = (uint64_t)st.st_size;
  return 0;
}

static int
cmp_top_path_seq(const void *a, const void *b)
{
  const struct top *x = *(const struct top *const *)a, *y = *(const struct top *const *)b;
  int r = strcmp(x->path, y->path);
  return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The changeset order: deletes first, deepest first (reverse bytewise), then the rest in
 * bytewise order (a directory before what it holds).  */
static int
cmp_apply_order(const void *a, const void *b)
{
  const struct top *x = a, *y = b;
  bool dx = x->op == TARS_CHANGE_DELETE, dy = y->op == TARS_CHANGE_DELETE;
  if (dx != dy)
    return dx ? -1 : 1;
  return dx ? strcmp(y->path, x->path) : strcmp(x->path, y->path);
}

static int
load_committed(struct ctx *c, const char *txn_id, char *git_id, size_t git_len,
               struct tars_error *err)
{
  sqlite3_stmt *st;
  if (tars_store_prepare(c->store,
                         "SELECT state, git_commit, reason FROM transactions WHERE id = ?", &st,
                         err) < 0)
    return -1;
  bind_text(st, 1, txn_id);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    {
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE)
        return db_fail(c, "find the transaction", err);
      return tars_error_invalid(err, "no transaction %s in %s", txn_id, c->repo_path);
    }
  const char *state = (const char *)sqlite3_column_text(st, 0);
  const char *git = (const char *)sqlite3_column_text(st, 1);
  const char *reason = (const char *)sqlite3_column_text(st, 2);
  int r = 0;
  snprintf(git_id, git_len, "%s", git ? git : "");
  if (strcmp(state, "rolled_back") == 0)
    r = tars_error_refused(err, "transaction %s was already rolled back%s%s", txn_id,
                           reason ? ": " : "", reason ? reason : "");
  else if (strcmp(state, "committed") != 0)
    r = tars_error_refused(err,
                           "transaction %s is %s: only a committed transaction can be "
                           "rolled back",
                           txn_id, state);
  sqlite3_finalize(st);
  return r;
}

int
tars_txn_rollback(struct tars_store *store, const char *txn_id, bool force,
                  const struct tars_apply_opts *opts, struct tars_txn_result *result,
                  struct tars_error *err)
{
  static const struct tars_apply_opts no_opts = {.git_commit = true};
  cleanup_ctx struct ctx c;
  cleanup_plan struct plan p = {.kind = "rollback", .rollback_of = txn_id, .backups_fd = -1};
  char git_id[48];
  int n_recovered;

  memset(result, 0, sizeof *result);
  if (opts == NULL)
    opts = &no_opts;
  if (ctx_init(&c, store, err) < 0)
    return -1;
  cleanup_close int lock = take_lock(&c, true, err);
  if (lock < 0 || recover_locked(&c, &n_recovered, err) < 0)
    return -1;
  if (load_committed(&c, txn_id, git_id, sizeof git_id, err) < 0)
    {
      if (err->kind == TARS_ERR_REFUSED)
        {
          struct tars_error aerr;
          audit(&c, "refusal", txn_id, opts, err->msg, NULL, NULL, &aerr);
        }
      return -1;
    }

  struct top *ops;
  size_t n;
  if (load_ops(&c, txn_id, &ops, &n, err) < 0)
    return -1;
  cleanup_plan struct plan orig = {.ops = ops, .n = n, .backups_fd = -1};
  cleanup_free struct top **by_path = calloc(n ? n : 1, sizeof *by_path);
  p.ops = calloc(2 * n + 1, sizeof *p.ops);
  cleanup_cjson cJSON *drift = cJSON_CreateArray();
  cleanup_free struct pstate *cur = malloc(sizeof *cur);
  cleanup_free struct pstate *want = malloc(sizeof *want);
  cleanup_free struct pstate *post = malloc(sizeof *post);
  if (by_path == NULL || p.ops == NULL || drift == NULL || cur == NULL || want == NULL ||
      post == NULL)
    return tars_error_set(err, ENOMEM, "allocate");
  for (size_t i = 0; i < n; i++)
    by_path[i] = &orig.ops[i];
  qsort(by_path, n, sizeof *by_path, cmp_top_path_seq);

  /* Per path: its state after the transaction (its last operation's), now, and before (its
   * first operation's pre-state).  */
  for (size_t i = 0; i < n;)
    {
      size_t j = i;
      while (j + 1 < n && strcmp(by_path[j + 1]->path, by_path[i]->path) == 0)
        j++;
      const struct top *first = by_path[i], *last = by_path[j];
      post_state_of(last, post);
      pre_state_of(first, want);
      if (current_state(&c, first->path, cur, err) < 0)
        return -1;
      if (!same_state(cur, post))
        {
          char expected[PATH_MAX + 32], found[PATH_MAX + 32], reason[TARS_ID_MAX + 64];
          describe(post, expected, sizeof expected);
          describe(cur, found, sizeof found);
          snprintf(reason, sizeof reason, "changed since transaction %s", txn_id);
          cJSON *o = cJSON_CreateObject();
          cJSON_AddStringToObject(o, "path", first->path);
          cJSON_AddStringToObject(o, "reason", reason);
          cJSON_AddStringToObject(o, "expected", expected);
          cJSON_AddStringToObject(o, "found", found);
          cJSON_AddItemToArray(drift, o);
        }
      if (inverse_ops(&c, &p, txn_id, first, cur, want, err) < 0)
        return -1;
      i = j + 1;
    }

  int n_drift = cJSON_GetArraySize(drift);
  if (n_drift > 0 && !force)
    {
      cleanup_cjson cJSON *paths = cJSON_CreateArray();
      cJSON *d;
      cJSON_ArrayForEach(d, drift)
      {
        cJSON_AddItemToArray(paths,
                             cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "path"), true));
      }
      cleanup_cjson cJSON *details = cJSON_CreateObject();
      cJSON_AddItemToObject(details, "drift", cJSON_Duplicate(drift, true));
      char reason[TARS_ERROR_MSG_MAX];
      snprintf(reason, sizeof reason, "rollback refused: %d path%s changed since the transaction",
               n_drift, n_drift == 1 ? "" : "s");
      struct tars_error aerr;
      if (audit(&c, "refusal", txn_id, opts, reason, paths, details, &aerr) < 0)
        {
          *err = aerr;
          return -1;
        }
      result->report = cJSON_CreateObject();
      cJSON_AddItemToObject(result->report, "drift", cJSON_Duplicate(drift, true));
      return tars_error_refused(err, "transaction %s: %s (--force rolls back anyway)", txn_id,
                                reason);
    }
  if (n_drift > 0)
    {
      result->report = cJSON_CreateObject();
      cJSON_AddItemToObject(result->report, "drift", cJSON_Duplicate(drift, true));
    }
  qsort(p.ops, p.n, sizeof *p.ops, cmp_apply_order);
  return run_plan(&c, &p, opts, opts->git_commit && git_id[0] != '\0', result, err);
}

void
tars_txn_result_free(struct tars_txn_result *result)
{
  if (result == NULL)
    return;
  cJSON_Delete(result->report);
  result->report = NULL;
}
