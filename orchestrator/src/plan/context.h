/* The functions around the analyzer's findings (analyze.h): universal-ctags run once per scan,
 * inside a sandbox whose workspace is the repository (ctags parses untrusted files; the
 * sandbox's changes are thrown away), over the files that have findings.  */
#ifndef TARS_CONTEXT_H
#define TARS_CONTEXT_H

#include "plan/analyze.h"

/* Fill in the context of A's findings.  CTAGS: the program (NULL: ctags on the sandbox's PATH).
 * When ctags is missing, is not universal-ctags, or cannot run, every finding gets context
 * MISSING and A->ctags_note says why: that is not an error.  Errors are system failures (memory,
 * a temporary directory).  */
int tars_context_run(struct tars_analysis *a, int root_fd, const char *ctags,
                     struct tars_error *err);

#endif
