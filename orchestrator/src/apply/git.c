/* Git integration: libgit2 through dlopen, and commits of a transaction's paths (see git.h).
 *
 * tarsorch does not link libgit2: it and its dependencies (libssh2, libhttp_parser, pcre...)
 * would be mapped and relocated at every start of tars, and sandbox starts are measured.  The
 * functions used are resolved once into a table of pointers typed from <git2.h>, so the
 * compiler still checks every call against the real prototypes.
 *
 * The commit is built in a fresh in-memory index loaded from HEAD's tree, never in the user's
 * index: what the user staged must neither leak into tars' commit nor be lost by it.  */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "apply/git.h"
#include "tars/cleanup.h"

/* Every libgit2 function git.c calls.  A direct call to one not listed here fails at link time,
 * since nothing links libgit2.  */
#define TARS_GIT_FUNCTIONS(X)                                                                      \
  X(git_libgit2_init)                                                                              \
  X(git_error_last)                                                                                \
  X(git_repository_open_ext)                                                                       \
  X(git_repository_free)                                                                           \
  X(git_repository_is_bare)                                                                        \
  X(git_repository_head_unborn)                                                                    \
  X(git_repository_config_snapshot)                                                                \
  X(git_repository_index)                                                                          \
  X(git_config_get_bool)                                                                           \
  X(git_config_free)                                                                               \
  X(git_reference_name_to_id)                                                                      \
  X(git_commit_lookup)                                                                             \
  X(git_commit_tree)                                                                               \
  X(git_commit_free)                                                                               \
  X(git_commit_create)                                                                             \
  X(git_tree_lookup)                                                                               \
  X(git_tree_free)                                                                                 \
  X(git_index_new)                                                                                 \
  X(git_index_free)                                                                                \
  X(git_index_read_tree)                                                                           \
  X(git_index_write_tree_to)                                                                       \
  X(git_index_write)                                                                               \
  X(git_index_get_bypath)                                                                          \
  X(git_index_get_byindex)                                                                         \
  X(git_index_entrycount)                                                                          \
  X(git_index_find_prefix)                                                                         \
  X(git_index_add)                                                                                 \
  X(git_index_remove)                                                                              \
  X(git_blob_create_from_workdir)                                                                  \
  X(git_signature_default)                                                                         \
  X(git_signature_now)                                                                             \
  X(git_signature_free)                                                                            \
  X(git_oid_tostr)                                                                                 \
  X(git_status_list_new)                                                                           \
  X(git_status_list_entrycount)                                                                    \
  X(git_status_byindex)                                                                            \
  X(git_status_list_free)

#define DECLARE_POINTER(name) static typeof(name) *p_##name;
TARS_GIT_FUNCTIONS(DECLARE_POINTER)
#undef DECLARE_POINTER

static const struct
{
  const char *name;
  void **slot;
} git_symbols[] = {
#define SYMBOL_ENTRY(name) {#name, (void **)&p_##name},
    TARS_GIT_FUNCTIONS(SYMBOL_ENTRY)
#undef SYMBOL_ENTRY
};

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static char lib_soname[256] = TARS_LIBGIT2_SONAME;
/* Set once libgit2 is loaded and initialised; never unloaded (nor shut down): libgit2 keeps
 * per-process state, and a process commits more than once.  */
static void *lib_handle;

/* The Debian package that ships the soname: "libgit2.so.1.5" is in "libgit2-1.5".  */
static void
package_name(char *buf, size_t size)
{
  static const char prefix[] = "libgit2.so.";
  const char *soname = TARS_LIBGIT2_SONAME;
  if (strncmp(soname, prefix, sizeof prefix - 1) == 0)
    snprintf(buf, size, "libgit2-%s", soname + sizeof prefix - 1);
  else
    snprintf(buf, size, "libgit2");
}

static int
load_failed(struct tars_error *err, const char *why)
{
  char pkg[64];
  package_name(pkg, sizeof pkg);
  return tars_error_set(err, 0, "git support needs libgit2 (%s): %s", pkg,
                        why ? why : "unknown dlopen error");
}

int
tars_git_set_library(const char *soname)
{
  pthread_mutex_lock(&lib_lock);
  if (lib_handle != NULL)
    {
      pthread_mutex_unlock(&lib_lock);
      errno = EBUSY;
      return -1;
    }
  snprintf(lib_soname, sizeof lib_soname, "%s", soname ? soname : TARS_LIBGIT2_SONAME);
  pthread_mutex_unlock(&lib_lock);
  return 0;
}

static int
load_locked(struct tars_error *err)
{
  if (lib_handle != NULL)
    return 0;
  dlerror();
  void *handle = dlopen(lib_soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    return load_failed(err, dlerror());
  for (size_t i = 0; i < sizeof git_symbols / sizeof git_symbols[0]; i++)
    {
      dlerror();
      void *sym = dlsym(handle, git_symbols[i].name);
      if (sym == NULL)
        {
          load_failed(err, dlerror());
          for (size_t j = 0; j < sizeof git_symbols / sizeof git_symbols[0]; j++)
            *git_symbols[j].slot = NULL;
          dlclose(handle);
          return -1;
        }
      *git_symbols[i].slot = sym;
    }
  if (p_git_libgit2_init() < 0)
    {
      const git_error *e = p_git_error_last();
      tars_error_set(err, 0, "git: initialise libgit2: %s", e && e->message ? e->message : "?");
      dlclose(handle);
      return -1;
    }
  lib_handle = handle;
  return 0;
}

int
tars_git_load(struct tars_error *err)
{
  pthread_mutex_lock(&lib_lock);
  int r = load_locked(err);
  pthread_mutex_unlock(&lib_lock);
  return r;
}

/* Fill ERR with "git: <what>: <libgit2's last error>" and return -1.  */
__attribute__((format(printf, 2, 3))) static int
git_failed(struct tars_error *err, const char *fmt, ...)
{
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  const git_error *e = p_git_error_last();
  return tars_error_set(err, 0, "git: %s: %s", what,
                        e && e->message ? e->message : "unknown libgit2 error");
}

int
tars_git_is_repo(const char *repo_path, struct tars_error *err)
{
  cleanup_close int dfd = open(repo_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return tars_error_set(err, errno, "open %s", repo_path);
  struct stat st;
  /* Followed, as git follows it: a .git symlink to a git directory is a repository.  */
  if (fstatat(dfd, ".git", &st, 0) < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
        return 0;
      return tars_error_set(err, errno, "stat %s/.git", repo_path);
    }
  if (S_ISDIR(st.st_mode))
    return 1;
  if (!S_ISREG(st.st_mode))
    return 0;
  cleanup_close int fd = openat(dfd, ".git", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "open %s/.git", repo_path);
  char head[8];
  ssize_t n;
  do
    n = read(fd, head, sizeof head);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return tars_error_set(err, errno, "read %s/.git", repo_path);
  return n == (ssize_t)sizeof head && memcmp(head, "gitdir: ", sizeof head) == 0;
}

/* ----- committing ----- */

static bool
valid_path(const char *path)
{
  if (path == NULL || *path == '\0' || *path == '/')
    return false;
  for (const char *p = path;;)
    {
      const char *slash = strchr(p, '/');
      size_t n = slash ? (size_t)(slash - p) : strlen(p);
      if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
          (n == 2 && p[0] == '.' && p[1] == '.') || (n == 4 && strncasecmp(p, ".git", 4) == 0))
        return false;
      if (slash == NULL)
        return true;
      p = slash + 1;
    }
}

/* lstat of ROOT_FD/RELPATH as git sees the work tree: a path beneath a symlink or a non-directory
 * is not there (git does not look through symlinks).  Returns 0, 1 when absent, -1 on error.  */
static int
lstat_worktree(int root_fd, const char *relpath, struct stat *st, struct tars_error *err)
{
  cleanup_close int dfd = -1;
  int cur = root_fd;
  const char *p = relpath;
  for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1)
    {
      char name[NAME_MAX + 1];
      memcpy(name, p, (size_t)(slash - p));
      name[slash - p] = '\0';
      int fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        {
          if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            return 1;
          return tars_error_set(err, errno, "open %.*s", (int)(slash - relpath), relpath);
        }
      if (dfd >= 0)
        close(dfd);
      cur = dfd = fd;
    }
  if (fstatat(cur, p, st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return 1;
      return tars_error_set(err, errno, "lstat %s", relpath);
    }
  return 0;
}

/* One path's move from HEAD's tree to the new commit.  */
struct change
{
  char *path;
  bool had_old, has_new;
  git_oid old_id, new_id;
  uint32_t old_mode, new_mode;
  struct stat st; /* of the work tree file, taken before it was hashed */
};

struct changes
{
  struct change *v;
  size_t n, cap;
};

static void
changes_free(struct changes *c)
{
  for (size_t i = 0; i < c->n; i++)
    free(c->v[i].path);
  free(c->v);
}

static struct change *
changes_push(struct changes *c, const char *path, struct tars_error *err)
{
  if (c->n == c->cap)
    {
      size_t cap = c->cap ? c->cap * 2 : 16;
      struct change *v = reallocarray(c->v, cap, sizeof *v);
      if (v == NULL)
        {
          tars_error_set(err, errno, "git: allocate changes");
          return NULL;
        }
      c->v = v;
      c->cap = cap;
    }
  struct change *ch = &c->v[c->n];
  memset(ch, 0, sizeof *ch);
  ch->path = strdup(path);
  if (ch->path == NULL)
    {
      tars_error_set(err, errno, "git: allocate changes");
      return NULL;
    }
  c->n++;
  return ch;
}

static void
set_old(struct change *ch, const git_index_entry *e)
{
  if (e)
    {
      ch->had_old = true;
      ch->old_id = e->id;
      ch->old_mode = e->mode;
    }
}

static bool
oid_equal(const git_oid *a, const git_oid *b)
{
  return memcmp(a->id, b->id, sizeof a->id) == 0;
}

static struct change *
push_removal(struct changes *c, const char *path, const git_index_entry *old,
             struct tars_error *err)
{
  struct change *ch = changes_push(c, path, err);
  if (ch)
    set_old(ch, old);
  return ch;
}

/* Removal of every entry HEAD had beneath PATH/: PATH is gone, or no longer a directory.  */
static int
push_removals_beneath(struct changes *c, git_index *head_index, const char *path,
                      struct tars_error *err)
{
  size_t len = strlen(path);
  cleanup_free char *prefix = malloc(len + 2);
  if (prefix == NULL)
    return tars_error_set(err, errno, "git: allocate");
  memcpy(prefix, path, len);
  memcpy(prefix + len, "/", 2);
  size_t pos;
  if (p_git_index_find_prefix(&pos, head_index, prefix) < 0)
    return 0;
  for (size_t n = p_git_index_entrycount(head_index); pos < n; pos++)
    {
      const git_index_entry *e = p_git_index_get_byindex(head_index, pos);
      if (e == NULL || strncmp(e->path, prefix, len + 1) != 0)
        break;
      if (push_removal(c, e->path, e, err) == NULL)
        return -1;
    }
  return 0;
}

/* Removal of the files HEAD had where PATH's parent directories now are.  */
static int
push_removals_above(struct changes *c, git_index *head_index, const char *path,
                    struct tars_error *err)
{
  cleanup_free char *parent = strdup(path);
  if (parent == NULL)
    return tars_error_set(err, errno, "git: allocate");
  for (char *slash = strchr(parent, '/'); slash; slash = strchr(slash + 1, '/'))
    {
      *slash = '\0';
      const git_index_entry *e = p_git_index_get_bypath(head_index, parent, 0);
      if (e && push_removal(c, parent, e, err) == NULL)
        return -1;
      *slash = '/';
    }
  return 0;
}

static int
collect_changes(git_repository *repo, int root_fd, git_index *head_index, bool filemode,
                const char *const *paths, size_t n_paths, struct changes *c, struct tars_error *err)
{
  for (size_t i = 0; i < n_paths; i++)
    {
      const char *path = paths[i];
      struct stat st;
      int r = lstat_worktree(root_fd, path, &st, err);
      if (r < 0)
        return -1;
      const git_index_entry *old = p_git_index_get_bypath(head_index, path, 0);
      if (r > 0)
        {
          if (push_removal(c, path, old, err) == NULL ||
              push_removals_beneath(c, head_index, path, err) < 0)
            return -1;
          continue;
        }
      if (S_ISDIR(st.st_mode))
        {
          /* A directory replaced a file: the file goes; what the directory holds is
           * committed only through paths of its own.  A submodule stays as it was.  */
          if (old && old->mode != GIT_FILEMODE_COMMIT && push_removal(c, path, old, err) == NULL)
            return -1;
          continue;
        }
      if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return tars_error_invalid(err, "git: commit %s: not a regular file or a symlink", path);
      if (push_removals_beneath(c, head_index, path, err) < 0 ||
          push_removals_above(c, head_index, path, err) < 0)
        return -1;

      struct change *ch = changes_push(c, path, err);
      if (ch == NULL)
        return -1;
      set_old(ch, old);
      ch->st = st;
      ch->has_new = true;
      if (S_ISLNK(st.st_mode))
        ch->new_mode = GIT_FILEMODE_LINK;
      else if (!filemode)
        /* As git does with core.fileMode off: the executable bit comes from what is known.  */
        ch->new_mode = old && old->mode == GIT_FILEMODE_BLOB_EXECUTABLE
                           ? GIT_FILEMODE_BLOB_EXECUTABLE
                           : GIT_FILEMODE_BLOB;
      else
        ch->new_mode = (st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
      /* Through the repository's filters (eol, ident...) and, for a symlink, its target, as
       * `git add` stores them.  */
      if (p_git_blob_create_from_workdir(&ch->new_id, repo, path) < 0)
        return git_failed(err, "hash %s", path);
    }
  return 0;
}

static void
fill_entry(git_index_entry *e, const struct change *ch, bool with_stat)
{
  memset(e, 0, sizeof *e);
  e->path = ch->path;
  e->mode = ch->new_mode;
  e->id = ch->new_id;
  if (!with_stat)
    return;
  /* The index's on-disk fields are 32 bits wide; git truncates the same way.  */
  e->ctime.seconds = (int32_t)ch->st.st_ctim.tv_sec;
  e->ctime.nanoseconds = (uint32_t)ch->st.st_ctim.tv_nsec;
  e->mtime.seconds = (int32_t)ch->st.st_mtim.tv_sec;
  e->mtime.nanoseconds = (uint32_t)ch->st.st_mtim.tv_nsec;
  e->dev = (uint32_t)ch->st.st_dev;
  e->ino = (uint32_t)ch->st.st_ino;
  e->uid = (uint32_t)ch->st.st_uid;
  e->gid = (uint32_t)ch->st.st_gid;
  e->file_size = (uint32_t)ch->st.st_size;
}

/* The commit's tree: removals first, so that a file replacing a directory (or the reverse)
 * does not collide with what it replaces.  */
static int
apply_to_tree_index(git_index *index, const struct changes *c, struct tars_error *err)
{
  for (size_t i = 0; i < c->n; i++)
    if (!c->v[i].has_new && c->v[i].had_old)
      {
        /* Not found: already removed, the path was named twice.  */
        int r = p_git_index_remove(index, c->v[i].path, 0);
        if (r < 0 && r != GIT_ENOTFOUND)
          return git_failed(err, "remove %s from the new tree", c->v[i].path);
      }
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i].has_new)
      {
        git_index_entry e;
        fill_entry(&e, &c->v[i], false);
        if (p_git_index_add(index, &e) < 0)
          return git_failed(err, "add %s to the new tree", c->v[i].path);
      }
  return 0;
}

/* The user's index, for the committed paths whose entries still say what HEAD said.  */
static int
update_user_index(git_repository *repo, const struct changes *c, struct tars_error *err)
{
  git_index *index = NULL;
  if (p_git_repository_index(&index, repo) < 0)
    return git_failed(err, "read the index");
  int ret = -1;
  for (size_t i = 0; i < c->n; i++)
    {
      const struct change *ch = &c->v[i];
      if (p_git_index_get_bypath(index, ch->path, 1) ||
          p_git_index_get_bypath(index, ch->path, 2) || p_git_index_get_bypath(index, ch->path, 3))
        continue; /* in conflict: the user's to resolve */
      const git_index_entry *cur = p_git_index_get_bypath(index, ch->path, 0);
      bool unchanged = cur ? ch->had_old && cur->mode == ch->old_mode &&
                                 oid_equal(&cur->id, &ch->old_id) &&
                                 !(cur->flags_extended & GIT_INDEX_ENTRY_INTENT_TO_ADD)
                           : !ch->had_old;
      if (!unchanged)
        continue;
      if (ch->has_new)
        {
          git_index_entry e;
          fill_entry(&e, ch, true);
          if (p_git_index_add(index, &e) < 0)
            {
              git_failed(err, "update %s in the index", ch->path);
              goto out;
            }
        }
      else if (cur && p_git_index_remove(index, ch->path, 0) < 0)
        {
          git_failed(err, "remove %s from the index", ch->path);
          goto out;
        }
    }
  if (p_git_index_write(index) < 0)
    {
      git_failed(err, "write the index");
      goto out;
    }
  ret = 0;
out:
  p_git_index_free(index);
  return ret;
}

static int
make_signature(git_repository *repo, git_signature **sig, struct tars_error *err)
{
  if (p_git_signature_default(sig, repo) == 0)
    return 0;
  /* No user.name/user.email (or an unusable one): tars signs itself.  */
  if (p_git_signature_now(sig, "tars", "tars@localhost") < 0)
    return git_failed(err, "make a signature");
  return 0;
}

static bool
config_bool(git_repository *repo, const char *name, bool dflt)
{
  git_config *cfg = NULL;
  int value = dflt;
  if (p_git_repository_config_snapshot(&cfg, repo) == 0)
    {
      if (p_git_config_get_bool(&value, cfg, name) < 0)
        value = dflt;
      p_git_config_free(cfg);
    }
  return value != 0;
}

struct commit_state
{
  git_repository *repo;
  git_commit *head;
  git_tree *head_tree, *new_tree;
  git_index *tree_index;
  git_signature *sig;
  struct changes changes;
};

static void
commit_state_free(struct commit_state *s)
{
  changes_free(&s->changes);
  if (s->sig)
    p_git_signature_free(s->sig);
  if (s->tree_index)
    p_git_index_free(s->tree_index);
  if (s->new_tree)
    p_git_tree_free(s->new_tree);
  if (s->head_tree)
    p_git_tree_free(s->head_tree);
  if (s->head)
    p_git_commit_free(s->head);
  if (s->repo)
    p_git_repository_free(s->repo);
}

static int
commit_paths(struct commit_state *s, const char *repo_path, const char *const *paths,
             size_t n_paths, const char *message, char out_id[48], struct tars_error *err)
{
  cleanup_close int root_fd = open(repo_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return tars_error_set(err, errno, "open %s", repo_path);

  if (p_git_repository_open_ext(&s->repo, repo_path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
    return git_failed(err, "open the repository %s", repo_path);
  if (p_git_repository_is_bare(s->repo))
    return tars_error_invalid(err, "git: %s is a bare repository", repo_path);

  int unborn = p_git_repository_head_unborn(s->repo);
  if (unborn < 0)
    return git_failed(err, "read HEAD in %s", repo_path);
  if (!unborn)
    {
      git_oid head_id;
      if (p_git_reference_name_to_id(&head_id, s->repo, "HEAD") < 0)
        return git_failed(err, "resolve HEAD in %s", repo_path);
      if (p_git_commit_lookup(&s->head, s->repo, &head_id) < 0)
        return git_failed(err, "read the HEAD commit in %s", repo_path);
      if (p_git_commit_tree(&s->head_tree, s->head) < 0)
        return git_failed(err, "read the HEAD tree in %s", repo_path);
    }

  if (p_git_index_new(&s->tree_index) < 0)
    return git_failed(err, "make an in-memory index");
  if (s->head_tree && p_git_index_read_tree(s->tree_index, s->head_tree) < 0)
    return git_failed(err, "load the HEAD tree");

  bool filemode = config_bool(s->repo, "core.filemode", true);
  if (collect_changes(s->repo, root_fd, s->tree_index, filemode, paths, n_paths, &s->changes, err) <
      0)
    return -1;
  if (apply_to_tree_index(s->tree_index, &s->changes, err) < 0)
    return -1;

  git_oid tree_id, commit_id;
  if (p_git_index_write_tree_to(&tree_id, s->tree_index, s->repo) < 0)
    return git_failed(err, "write the new tree");
  if (p_git_tree_lookup(&s->new_tree, s->repo, &tree_id) < 0)
    return git_failed(err, "read the new tree");
  if (make_signature(s->repo, &s->sig, err) < 0)
    return -1;
  /* "HEAD" moves the branch HEAD names (creating it on an unborn branch), or HEAD itself when
   * detached; libgit2 refuses when HEAD moved since it was read.  */
  const git_commit *parents[1] = {s->head};
  if (p_git_commit_create(&commit_id, s->repo, "HEAD", s->sig, s->sig, NULL, message, s->new_tree,
                          s->head ? 1 : 0, parents) < 0)
    return git_failed(err, "commit in %s", repo_path);
  p_git_oid_tostr(out_id, 48, &commit_id);

  if (update_user_index(s->repo, &s->changes, err) < 0)
    return tars_error_prefix(err, "committed %s, but the index was not updated", out_id);
  return 0;
}

int
tars_git_commit_paths(const char *repo_path, const char *const *paths, size_t n_paths,
                      const char *message, char out_id[48], struct tars_error *err)
{
  out_id[0] = '\0';
  if (message == NULL)
    return tars_error_invalid(err, "git: commit without a message");
  for (size_t i = 0; i < n_paths; i++)
    if (!valid_path(paths[i]))
      return tars_error_invalid(err, "git: cannot commit the path '%s'",
                                paths[i] ? paths[i] : "(null)");
  if (tars_git_load(err) < 0)
    return -1;

  struct commit_state s = {0};
  int r = commit_paths(&s, repo_path, paths, n_paths, message, out_id, err);
  commit_state_free(&s);
  return r;
}

int
tars_git_list_files(const char *repo_path, char ***out, size_t *n_out, struct tars_error *err)
{
  *out = NULL;
  *n_out = 0;
  if (tars_git_load(err) < 0)
    return -1;
  git_repository *repo = NULL;
  if (p_git_repository_open_ext(&repo, repo_path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
    return git_failed(err, "open the repository %s", repo_path);
  git_status_options opts;
  memset(&opts, 0, sizeof opts);
  opts.version = GIT_STATUS_OPTIONS_VERSION;
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
               GIT_STATUS_OPT_INCLUDE_UNMODIFIED | GIT_STATUS_OPT_EXCLUDE_SUBMODULES |
               GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH;
  git_status_list *list = NULL;
  if (p_git_status_list_new(&list, repo, &opts) < 0)
    {
      git_failed(err, "list the files of %s", repo_path);
      p_git_repository_free(repo);
      return -1;
    }
  size_t n = p_git_status_list_entrycount(list);
  char **paths = calloc(n + 1, sizeof *paths);
  size_t k = 0;
  int r = 0;
  if (paths == NULL)
    r = tars_error_set(err, ENOMEM, "list the files of %s", repo_path);
  for (size_t i = 0; r == 0 && i < n; i++)
    {
      const git_status_entry *e = p_git_status_byindex(list, i);
      if (e == NULL || (e->status & (GIT_STATUS_WT_DELETED | GIT_STATUS_IGNORED)) ||
          e->status == GIT_STATUS_INDEX_DELETED)
        continue;
      const char *path = NULL;
      if (e->index_to_workdir != NULL)
        path = e->index_to_workdir->new_file.path;
      else if (e->head_to_index != NULL)
        path = e->head_to_index->new_file.path;
      if (path == NULL || *path == '\0')
        continue;
      if ((paths[k] = strdup(path)) == NULL)
        r = tars_error_set(err, ENOMEM, "list the files of %s", repo_path);
      else
        k++;
    }
  p_git_status_list_free(list);
  p_git_repository_free(repo);
  if (r < 0)
    {
      for (size_t i = 0; i < k; i++)
        free(paths[i]);
      free(paths);
      return -1;
    }
  *out = paths;
  *n_out = k;
  return 0;
}
