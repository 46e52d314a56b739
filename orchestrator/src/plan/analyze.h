/* The analyzer: the TODO, FIXME and XXX markers in a repository's comments, with the function
 * each is in.
 *
 * Which files: in a git work tree those git would list (tracked and untracked, not ignored:
 * libgit2 applies .gitignore, info/exclude and core.excludesFile), elsewhere every file; never
 * .git/ or .tars/, never through a symlink (symlinks themselves are skipped), and not vendored
 * code (a vendor/, third_party/, node_modules/... directory at any depth), generated files (one
 * of their first lines says so: "@generated", "DO NOT EDIT", "auto-generated"...), minified
 * scripts and styles, binary files (a NUL byte in their first 8000 bytes, as git decides),
 * files larger than TARS_ANALYZE_MAX_FILE, files in no language the lexers know, or files that
 * cannot be read.  Each skip is listed with its reason.
 *
 * A marker counts inside a comment only (lexer.h), as a word of capitals ("TODO:", "(FIXME)",
 * not "TODOS" or "mastodon"), and not inside a URL; at most one per line, the first.  Its text
 * is what follows it on its line, after an optional "(who)" and ':'.  Lines count from 1,
 * columns from 1 in Unicode code points.
 *
 * The enclosing function comes from universal-ctags, run once per scan over the files with
 * findings, in a sandbox (it parses untrusted files), with --options=NONE so that nothing in the
 * repository configures it.  When ctags is missing or fails, or a file's language is one it
 * cannot delimit functions of, the finding's context is "missing" with a note saying why.  */
#ifndef TARS_ANALYZE_H
#define TARS_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "plan/lexer.h"
#include "plan/plan.h"
#include "tars/error.h"

#define TARS_ANALYZE_MAX_FILE (4u << 20) /* bytes: larger files are skipped */
#define TARS_ANALYZE_MAX_FILES 1000000   /* files listed */
#define TARS_ANALYZE_MAX_FINDINGS 100000 /* findings kept; the rest are counted */
#define TARS_ANALYZE_MAX_TEXT 500        /* bytes of a finding's text and snippet */

enum tars_context
{
  TARS_CONTEXT_FUNCTION, /* FUNCTION names the innermost function around the line */
  TARS_CONTEXT_FILE,     /* outside any function */
  TARS_CONTEXT_MISSING,  /* not known: CONTEXT_NOTE says why */
};

struct tars_finding
{
  char *file; /* repo-relative */
  uint32_t line, column;
  enum tars_marker marker;
  char *text;    /* after the marker, cleaned (valid UTF-8, no control characters) */
  char *snippet; /* the whole line, cleaned and cut to TARS_ANALYZE_MAX_TEXT */
  enum tars_lex_lang lang;
  enum tars_context context;
  char *function;      /* CONTEXT_FUNCTION: its name */
  char *function_kind; /* ctags' kind: "function", "method"... */
  uint32_t function_start, function_end;
  char *context_note; /* CONTEXT_MISSING: why */
};

enum tars_skip_reason
{
  TARS_SKIP_VENDORED,
  TARS_SKIP_GENERATED,
  TARS_SKIP_MINIFIED,
  TARS_SKIP_BINARY,
  TARS_SKIP_SYMLINK,
  TARS_SKIP_SPECIAL, /* not a regular file: a fifo, a socket, a device */
  TARS_SKIP_TOO_LARGE,
  TARS_SKIP_LANGUAGE,   /* no lexer for it */
  TARS_SKIP_UNREADABLE, /* it could not be opened or read: NOTE says why */
};

struct tars_skipped
{
  char *path;
  enum tars_skip_reason reason;
  char *note; /* UNREADABLE: the error; otherwise NULL */
};

struct tars_analysis
{
  char *root;                    /* absolute */
  bool git;                      /* git's listing (and so its ignore rules) was used */
  size_t files;                  /* files scanned */
  struct tars_finding *findings; /* by file (bytewise), line, column */
  size_t n_findings;
  size_t dropped;               /* findings beyond TARS_ANALYZE_MAX_FINDINGS */
  struct tars_skipped *skipped; /* by path */
  size_t n_skipped;
  char *ctags_version; /* "Universal Ctags 5.9.0", or NULL when it did not run */
  char *ctags_note;    /* why no finding has context from ctags, or NULL */
};

struct tars_analyze_options
{
  bool no_context;   /* do not run ctags */
  const char *ctags; /* the ctags program (NULL: "ctags" on the sandbox's PATH) */
};

/* Scan the directory ROOT.  Fails only when ROOT cannot be read as a whole (it is not a
 * directory, git's listing fails, a directory of it cannot be listed).  */
int tars_analyze(const char *root, const struct tars_analyze_options *opts,
                 struct tars_analysis *out, struct tars_error *err);
void tars_analysis_free(struct tars_analysis *a);
#define cleanup_analysis __attribute__((cleanup(tars_analysis_free)))

/* The markers in one file's TEXT as LANG (no context yet): appended to *V (*N of them, *CAP
 * allocated).  For the scan, and for tests of the lexers.  */
int tars_find_markers(const char *path, enum tars_lex_lang lang, const char *text, size_t len,
                      struct tars_finding **v, size_t *n, size_t *cap, struct tars_error *err);
void tars_finding_free(struct tars_finding *f);

/* Fill in the context of FINDINGS (sorted by file) from ctags' JSON output (one tag a line, as
 * `ctags --output-format=json --fields=+nel --extras=+f` writes it) and the files' text: used by
 * the scan; public for tests.  READ gets a file's text for the brace and keyword fallbacks.  */
typedef const char *(*tars_read_fn)(void *arg, const char *path, size_t *len);
void tars_context_apply(struct tars_finding *findings, size_t n, const char *ctags_json,
                        size_t json_len, tars_read_fn read, void *arg);
/* Give every finding context MISSING with NOTE (FILE in a language without functions).  */
void tars_context_missing(struct tars_finding *findings, size_t n, const char *note);

const char *tars_skip_reason_name(enum tars_skip_reason r); /* "vendored", ... */
const char *tars_context_name(enum tars_context c);         /* "function", "file", "missing" */

/* The analysis as JSON (docs/analyzer.md), and as SARIF 2.1.0 (sarif.c).  */
cJSON *tars_analysis_to_json(const struct tars_analysis *a);
cJSON *tars_analysis_to_sarif(const struct tars_analysis *a);
/* One finding as a plan's todo (plan.h).  */
int tars_finding_to_todo(const struct tars_finding *f, struct tars_todo *t);

#endif
