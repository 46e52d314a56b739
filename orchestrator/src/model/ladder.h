/* The matching ladder: where an edit's search text is in a file, and the file with the edit made.
 *
 * An edit is a list of operations on lines, as a unified diff's hunk is: context lines (' '),
 * lines removed ('-') and lines added ('+').  Its search text is the context and removed lines,
 * in order; its replacement the context and added lines.  A SEARCH/REPLACE block becomes such a
 * list by diffing its two sections (tars_ladder_diff).
 *
 * The search text is matched on each rung of enum tars_edit_rung in turn (each rung also
 * tolerates what the ones before it do); the first rung where it matches decides: one place and
 * the edit is made there, several and it is refused.  The edit is made line by line: a context
 * line keeps the file's bytes, a removed line goes, an added line is written with the file's line
 * ending, re-indented by the difference the indentation rung found, its trailing whitespace
 * dropped (unless the lines around have some), and its Unicode
 * punctuation folded when that rung matched (but for the characters the file uses).  File lines
 * inside the matched region that the search text does not mention (blank lines it missed, the
 * gap of a drifted context) are kept.  */
#ifndef TARS_MODEL_LADDER_H
#define TARS_MODEL_LADDER_H

#include <stdbool.h>
#include <stddef.h>

#include "model/edits.h"
#include "model/lines.h"
#include "tars/error.h"

struct tars_ladder_op
{
  char op; /* ' ', '-' or '+' */
  const char *s;
  size_t len;
};

/* The ops turning the lines A into the lines B: a longest common subsequence of equal lines is
 * context, the rest removed then added.  *OPS is malloc'd and points into A's and B's text.  */
int tars_ladder_diff(const struct tars_lines *a, const struct tars_lines *b,
                     struct tars_ladder_op **ops, size_t *n, struct tars_error *err);

#define TARS_LADDER_MAX_PLACES 5

struct tars_ladder_result
{
  enum tars_edit_status status; /* APPLIED, NO_MATCH or AMBIGUOUS */
  enum tars_edit_rung rung;     /* the rung that matched */
  size_t lo, hi;                /* APPLIED: the file lines replaced, from 0, HI excluded */
  /* AMBIGUOUS: how many places, and the first TARS_LADDER_MAX_PLACES of them.  */
  size_t n_places;
  size_t place_lo[TARS_LADDER_MAX_PLACES], place_hi[TARS_LADDER_MAX_PLACES];
  bool extended; /* APPLIED: see tars_edit_report.extended */
  char *content; /* APPLIED: the new text, NUL-terminated, LEN bytes */
  size_t len;
};

/* Apply OPS (which must hold at least one context or removed line) to the lines FILE.  Returns
 * 0 with RES filled whatever the status, -1 when memory ran out.  */
int tars_ladder_apply(const struct tars_lines *file, const struct tars_ladder_op *ops, size_t n_ops,
                      struct tars_ladder_result *res, struct tars_error *err);

/* The region of FILE most like the search text of OPS, for "did you mean" feedback: its lines
 * (from 0, HI excluded) and the first of its lines that differs from the search text, with the
 * index (among OPS) of the op it was compared with.  FOUND is false when nothing is alike.  */
struct tars_nearest
{
  bool found;
  size_t lo, hi;
  bool differs;
  size_t line, op;
};
int tars_ladder_nearest(const struct tars_lines *file, const struct tars_ladder_op *ops,
                        size_t n_ops, struct tars_nearest *out, struct tars_error *err);

/* Fold Unicode punctuation (quotes, dashes, spaces, ellipses) in S to ASCII, into OUT (at least
 * LEN bytes: folding never lengthens).  Returns the folded length.  */
size_t tars_fold_punctuation(const char *s, size_t len, char *out);

#endif
