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

/* 1 when REPO_PATH is the top of a git work tree (has .git), 0 when not, -1 on error.  */
int tars_git_is_repo(const char *repo_path, struct tars_error *err);

/* Commit PATHS (relative, as in the changeset; deleted paths are removed from the tree) on top
 * of HEAD (or as the root commit on an unborn branch) with MESSAGE, updating the current
 * branch.  The author/committer is the repository's configured user, or "tars <tars@localhost>".
 * OUT_ID gets the commit's hex id.  */
int tars_git_commit_paths(const char *repo_path, const char *const *paths, size_t n_paths,
                          const char *message, char out_id[48], struct tars_error *err);

#endif
