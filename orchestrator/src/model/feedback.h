/* What an edit that failed is told: messages that name the edit, the file and its lines, written
 * to be sent back to the model as they are, so that its next answer fixes that edit.  */
#ifndef TARS_MODEL_FEEDBACK_H
#define TARS_MODEL_FEEDBACK_H

#include "model/edits.h"
#include "model/ladder.h"
#include "model/lines.h"

/* The facts a message is made from.  */
struct tars_feedback
{
  const struct tars_edit *edit;
  size_t index, count;              /* edit INDEX (from 0) of COUNT */
  const struct tars_lines *file;    /* the file as the edits before left it, or NULL */
  const struct tars_ladder_op *ops; /* the edit's lines, for NO_MATCH */
  size_t n_ops;
  const struct tars_ladder_result *match; /* NO_MATCH, AMBIGUOUS */
  const struct tars_nearest *nearest;     /* NO_MATCH */
  /* NO_MATCH: the replacement is already in the file, at these lines (from 0), when HAVE.  */
  bool already;
  size_t already_lo, already_hi;
  const char *why;     /* BAD_PATH: tars_path_problem's reason; NOT_TEXT: what the file is */
  const char *elided;  /* ELIDED: the line that stands for left-out code */
  bool deleted_before; /* NO_FILE: an earlier edit of the answer deleted it */
};

/* The message for an edit that failed with STATUS (NULL when memory ran out).  */
char *tars_feedback_message(enum tars_edit_status status, const struct tars_feedback *fb);

/* The feedback of a whole answer: a line saying how many of N_EDITS failed and that none was
 * applied, then each failed report's message.  */
char *tars_feedback_compose(const struct tars_edit_report *reports, size_t n_edits,
                            size_t n_failed);

/* Whether LINE stands for code an answer left out ("// ... existing code ...", "# rest of the
 * file unchanged"): never true of a line the original file holds.  Python's "..." statement is
 * only taken as one outside Python files.  */
bool tars_line_elides(const char *line, size_t len, const char *path);

#endif
