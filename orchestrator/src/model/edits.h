/* Edits a model asks for, and applying them to the files they name: all or nothing.
 *
 * An answer (answer.h) becomes a list of edits in one of three formats: SEARCH/REPLACE blocks,
 * unified-diff hunks, or whole files.  tars_edits_apply takes the original content of each file
 * the edits name through a reader the caller gives (a snapshot held in memory, or a workspace
 * directory), applies every edit in memory, in order, and returns either every touched file's new
 * content or, when any edit fails, no content at all and a report per edit: what did not match,
 * and the closest region of the file with its line numbers, phrased so that it can be sent back
 * to the model as it is.  Nothing is written anywhere.
 *
 * A search text (a SEARCH section, or a hunk's context and removed lines) is looked for on a
 * ladder of rungs, each more tolerant than the one before, stopping at the first rung where it
 * matches: exact; trailing whitespace ignored; blank lines ignored; indentation ignored (the new
 * lines re-indented by the difference found); Unicode punctuation folded to ASCII; the context
 * allowed to drift: the search text matching in two pieces a few lines apart.  A search
 * text that matches more than one place on the rung that first finds it is refused, naming the
 * places: it is never guessed.  Lines an edit does not change keep their bytes, line endings
 * included; the lines it adds take the file's line ending (CRLF files stay CRLF), and a file
 * without a final newline keeps it that way.  See docs/edit-formats.md.  */
#ifndef TARS_MODEL_EDITS_H
#define TARS_MODEL_EDITS_H

#include <stdbool.h>
#include <stddef.h>

#include "tars/error.h"

/* Files larger than this are not edited (TARS_EDIT_NOT_TEXT): models are not given them whole. */
#define TARS_EDIT_MAX_FILE (8u << 20)
/* How far apart, in non-blank lines, the two pieces of a drifted search text may be.  */
#define TARS_EDIT_DRIFT_LINES 3

/* The formats, by the names configuration and plans use ("search-replace", "unified-diff",
 * "whole-file").  */
enum tars_edit_format
{
  TARS_EDIT_FORMAT_SEARCH_REPLACE,
  TARS_EDIT_FORMAT_UNIFIED_DIFF,
  TARS_EDIT_FORMAT_WHOLE_FILE,
};

const char *tars_edit_format_name(enum tars_edit_format f);
/* Parse NAME; -1 (TARS_ERR_INVALID, naming the three formats) when it is none of them.  */
int tars_edit_format_parse(const char *name, enum tars_edit_format *f, struct tars_error *err);

enum tars_edit_kind
{
  TARS_EDIT_SEARCH_REPLACE, /* replace SEARCH with REPLACE; an empty SEARCH makes a new file */
  TARS_EDIT_HUNK,           /* a unified diff's hunk */
  TARS_EDIT_WHOLE_FILE,     /* the complete new content of a file, new or not */
  TARS_EDIT_CREATE,         /* a diff from /dev/null: a new file, which must not exist */
  TARS_EDIT_DELETE,         /* a diff to /dev/null */
};

/* A line of a hunk: OP is ' ' (context), '-' (removed) or '+' (added); TEXT has no line ending. */
struct tars_hunk_line
{
  char op;
  char *text;
};

struct tars_edit
{
  enum tars_edit_kind kind;
  char *path;           /* as the answer names it; checked when applied */
  unsigned answer_line; /* where the edit starts in the answer, from 1 */
  /* SEARCH_REPLACE: the two sections, each line ending with '\n' ("" when empty).  */
  char *search, *replace;
  /* WHOLE_FILE, CREATE: the content, each line ending with '\n'.  */
  char *content;
  /* HUNK: its lines; DELETE: the removed lines, when the diff gives them (checked against the
   * file).  */
  struct tars_hunk_line *lines;
  size_t n_lines;
  unsigned old_start; /* HUNK: the first old line its @@ header gives, 0 when it gives none */
};

struct tars_edits
{
  enum tars_edit_format format; /* the format the edits were written in */
  struct tars_edit *v;
  size_t n;
};

/* Free what E holds, leaving it empty.  */
void tars_edit_free(struct tars_edit *e);
void tars_edits_free(struct tars_edits *e);
#define cleanup_edits __attribute__((cleanup(tars_edits_free)))
/* Append a copy of E to LIST (to build a list by hand, or to join the edits of two answers).  */
int tars_edits_append(struct tars_edits *list, const struct tars_edit *e, struct tars_error *err);

/* How the original content of PATH is read: return 1 with *CONTENT (malloc'd, which the caller of
 * the reader frees) and *LEN set, 0 when PATH does not exist, -1 on error (ERR filled).  PATH has
 * passed tars_path_problem.  */
typedef int (*tars_edit_reader)(void *ctx, const char *path, char **content, size_t *len,
                                struct tars_error *err);

/* A reader over files held in memory: CTX is a struct tars_edit_files.  */
struct tars_edit_file
{
  const char *path;
  const char *content;
  size_t len;
};
struct tars_edit_files
{
  const struct tars_edit_file *v;
  size_t n;
};
int tars_edit_read_files(void *ctx, const char *path, char **content, size_t *len,
                         struct tars_error *err);
/* A reader over a directory: CTX points to its descriptor (an int).  Paths are resolved beneath
 * it without following symlinks (apply/beneath.h); a symlink or a special file on the way is an
 * error (TARS_ERR_REFUSED), and so is a file larger than TARS_EDIT_MAX_FILE.  */
int tars_edit_read_dir(void *ctx, const char *path, char **content, size_t *len,
                       struct tars_error *err);

/* The rungs of the ladder, in the order they are tried.  */
enum tars_edit_rung
{
  TARS_RUNG_EXACT,
  TARS_RUNG_TRAILING_SPACE, /* trailing spaces and tabs ignored */
  TARS_RUNG_BLANK_LINES,    /* ... and blank lines missing or added */
  TARS_RUNG_INDENT,         /* ... and indentation, the new lines re-indented */
  TARS_RUNG_PUNCTUATION,    /* ... and Unicode quotes, dashes, spaces and ellipses as ASCII */
  TARS_RUNG_DRIFT,          /* ... and two pieces up to TARS_EDIT_DRIFT_LINES lines apart */
  TARS_RUNG_COUNT,
};

const char *tars_edit_rung_name(enum tars_edit_rung r);

enum tars_edit_status
{
  TARS_EDIT_APPLIED,
  TARS_EDIT_NO_MATCH,    /* the search text matches nowhere; the closest region is named */
  TARS_EDIT_AMBIGUOUS,   /* it matches several places, which are named */
  TARS_EDIT_BAD_PATH,    /* absolute, "..", not normalised... */
  TARS_EDIT_NO_FILE,     /* the file to edit or delete does not exist */
  TARS_EDIT_FILE_EXISTS, /* the file to create exists */
  TARS_EDIT_ELIDED,      /* the new text stands for code it leaves out ("... rest unchanged") */
  TARS_EDIT_NO_CONTEXT,  /* lines to add to a file with no line saying where */
  TARS_EDIT_NOT_TEXT,    /* the file holds NUL bytes or is larger than TARS_EDIT_MAX_FILE */
};

const char *tars_edit_status_name(enum tars_edit_status s);

/* What became of one edit.  */
struct tars_edit_report
{
  enum tars_edit_status status;
  /* Edits that search (SEARCH_REPLACE with a SEARCH text, HUNK): the rung that matched.  */
  bool searched;
  enum tars_edit_rung rung;
  /* The lines (from 1, inclusive) the edit replaced, in the file as the edits before it left it;
   * for NO_MATCH the closest region, for AMBIGUOUS the first place; 0 when there are none.  */
  size_t first_line, last_line;
  /* The search text stopped short of lines its replacement repeats unchanged just beyond the
   * lines it matched, and was taken to include them rather than write them twice.  */
  bool extended;
  /* Why it failed, for the model: names the edit, the file and the lines.  NULL when applied.  */
  char *message;
};

enum tars_file_op
{
  TARS_FILE_MODIFY,
  TARS_FILE_CREATE,
  TARS_FILE_DELETE,
};

struct tars_file_change
{
  char *path;
  enum tars_file_op op;
  char *content; /* MODIFY, CREATE: the new content (NUL-terminated too); NULL for DELETE */
  size_t len;
};

struct tars_edit_result
{
  /* Every file whose content the edits change, in the order they are first named; only when
   * every edit applied.  A file an edit leaves as it was is not listed.  */
  struct tars_file_change *files;
  size_t n_files;
  struct tars_edit_report *reports; /* one per edit, in order */
  size_t n_reports;
  size_t n_failed;
  /* When an edit failed: every failed edit's message, after a line saying that none was
   * applied, ready to send back to the model.  */
  char *feedback;
};

/* Apply EDITS, reading each file they name once through READ.  Returns 0 when every edit applied
 * (RES->files holds the new contents); -1 with ERR of kind TARS_ERR_REFUSED when one or more did
 * not (RES->files empty, RES->reports and RES->feedback say why, ERR's message is the feedback's
 * first line); -1 with ERR's kind from the reader or TARS_ERR_SYSTEM (out of memory) when the
 * work could not be done.  RES is filled in every case and must be freed.  */
int tars_edits_apply(const struct tars_edits *edits, tars_edit_reader read, void *ctx,
                     struct tars_edit_result *res, struct tars_error *err);
void tars_edit_result_free(struct tars_edit_result *res);
#define cleanup_edit_result __attribute__((cleanup(tars_edit_result_free)))

#endif
