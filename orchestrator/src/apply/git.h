/* Git integration through libgit2, loaded on demand with dlopen: only the commands that commit
 * pay for it (libgit2 and its dependencies cost milliseconds at every start of the tars binary,
 * and `tars sandbox run` starts are measured).
 *
 * Commits touch only the given paths: the new tree is HEAD's tree with those paths replaced by
 * the working tree's content (or removed), the user's index is updated for those paths only, and
 * any other staged or unstaged work is left exactly as it was.  */
#ifndef TARS_GIT_H
#define TARS_GIT_H

#include <stdbool.h>
#include <stddef.h>

#include "tars/error.h"

/* 1 when REPO_PATH is the top of a git work tree (has .git: a directory, or a "gitdir:" file as
 * in linked worktrees and submodules), 0 when not, -1 on error.  Does not load libgit2.  */
int tars_git_is_repo(const char *repo_path, struct tars_error *err);

/* Commit PATHS (relative, as in the changeset; deleted paths are removed from the tree) on top
 * of HEAD (or as the root commit on an unborn branch) with MESSAGE, updating the current
 * branch.  The author/committer is the repository's configured user, or "tars <tars@localhost>".
 * OUT_ID gets the commit's hex id.  The commit is made even when the paths already match HEAD,
 * so that every transaction has its commit.
 *
 * A path is taken as git sees the work tree: a regular file or a symlink is committed with its
 * content (through the repository's filters, as `git add` does) and mode (0100644, 0100755 when
 * executable and core.fileMode is on, 0120000); a missing path, or one under a symlink or a
 * file, is removed, with everything HEAD had beneath it when it was a directory; a directory
 * removes only a file HEAD had at that path.  Anything else (a fifo, a device) is refused.
 *
 * The user's index: for each path whose index entry still equals HEAD's (same id and mode, or
 * absent in both), the entry becomes the committed one (with the file's stat data, so `git
 * status` shows the path clean).  When the user had staged something else for a path, or it is
 * in conflict, that entry is left as it was: their staged version stays staged (it now shows as
 * a change against the new commit).  Every other entry is untouched.
 *
 * Paths with "", ".", ".." or ".git" components, absolute paths, or doubled or trailing "/" are
 * refused (TARS_ERR_INVALID).  When the commit was made but the index could not be written,
 * -1 is returned with OUT_ID already set.  */
int tars_git_commit_paths(const char *repo_path, const char *const *paths, size_t n_paths,
                          const char *message, char out_id[48], struct tars_error *err);

/* The files git would snapshot at REPO_PATH: every tracked file present in the work tree and
 * every untracked file that is not ignored (.gitignore, info/exclude, core.excludesFile),
 * submodules excluded, as repo-relative paths in *OUT (malloc'd, NULL-terminated; *N_OUT of
 * them), in no particular order.  Loads libgit2.  */
int tars_git_list_files(const char *repo_path, char ***out, size_t *n_out, struct tars_error *err);

/* Load libgit2 and initialise it, once per process (later calls return at once).  The commit
 * function calls it; it is public so that a command may fail early and tests may time it.  A
 * missing library or symbol: "git support needs libgit2 (libgit2-1.5): <dlerror>".  A failed
 * load is not remembered: the next call tries again.  */
int tars_git_load(struct tars_error *err);

/* For tests: the soname tars_git_load asks dlopen for (NULL: the one found at build time).
 * Returns -1 with errno EBUSY once libgit2 is loaded.  */
int tars_git_set_library(const char *soname);

#endif
