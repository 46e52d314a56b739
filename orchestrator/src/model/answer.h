/* Pulling the edits out of a model's answer.
 *
 * Strict about what is an edit, tolerant about what is around it.  Reasoning sections at the
 * start of an answer (<think>...</think>, as reasoning models write them, <thinking> and
 * <reasoning> too, or a lone </think> when the template opened the section) are dropped, and one
 * that is not closed means the answer was cut off: refused.  Prose, headings and code fences with
 * or without a language around the edits are ignored.  What is an edit:
 *
 *   search-replace  the file's path on a line of its own (bare, in backticks or bold, after a
 *                   "File:" label, or in the fence's info string) before the block or its fence,
 *                   then "<<<<<<< SEARCH", the lines to find, "=======", the new lines,
 *                   ">>>>>>> REPLACE" (5 to 9 marker characters); a block that names no file
 *                   edits the file of the block before it, or the default path;
 *   unified-diff    "--- a/PATH" and "+++ b/PATH" (a/ and b/ dropped, /dev/null for a new or
 *                   deleted file), then "@@" hunks, with or without line numbers in the header,
 *                   whose counts are not trusted: a hunk ends at the next header, a fence, or a
 *                   line that is not a diff line; blank lines in a hunk are context;
 *   whole-file      the file's path on the line before a fenced block (or in its info string),
 *                   and in the block the complete new content.
 *
 * The format asked for decides how a fenced block without markers is read; SEARCH/REPLACE markers
 * and diff headers are read as such whatever was asked (a model told to send whole files may
 * still send a diff), but an answer mixing the two is refused.  Nothing is applied here: paths are
 * checked, and edits matched, by tars_edits_apply.  */
#ifndef TARS_MODEL_ANSWER_H
#define TARS_MODEL_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "model/edits.h"
#include "tars/error.h"

/* Longer answers are refused: no model answer needs to be this big.  */
#define TARS_ANSWER_MAX (4u << 20)

struct tars_answer_options
{
  enum tars_edit_format format; /* what the model was asked to write */
  /* The file a block that names none edits (a plan's edit step has one), or NULL.  */
  const char *default_path;
};

/* Parse ANSWER (LEN bytes) into OUT.  Returns 0 with at least one edit; -1 with ERR of kind
 * TARS_ERR_INVALID when the answer holds no edit or a malformed one (a block not finished, a
 * fence not closed, a hunk before any file...): the message names the answer line and says what
 * to write instead, so that it can be sent back to the model.  OUT is empty on error.  */
int tars_answer_parse(const char *answer, size_t len, const struct tars_answer_options *opts,
                      struct tars_edits *out, struct tars_error *err);

/* Where the answer's leading reasoning sections end (0 when it has none); *UNCLOSED is set when
 * one is not closed, and LEN returned.  */
size_t tars_answer_reasoning_end(const char *answer, size_t len, bool *unclosed);

#endif
