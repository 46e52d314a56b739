/* Text as lines, for the edit formats: a file's content or a model's answer split into lines
 * that point into the text, each with the line ending it had, and a growing buffer to build new
 * text in.
 *
 * Line endings are not content: a line's bytes never include its "\n" or "\r\n", so that a CRLF
 * file and an answer written with LF compare equal line by line, and the ending of each line can
 * be written back as it was.  A lone "\r" is content.  */
#ifndef TARS_MODEL_LINES_H
#define TARS_MODEL_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "tars/error.h"

enum tars_eol
{
  TARS_EOL_NONE, /* the last line of a text that does not end with a newline */
  TARS_EOL_LF,
  TARS_EOL_CRLF,
};

struct tars_line
{
  const char *s; /* into the text; not NUL-terminated */
  size_t len;    /* without the line ending */
  enum tars_eol eol;
};

struct tars_lines
{
  struct tars_line *v;
  size_t n;
};

/* Split TEXT (LEN bytes) into lines.  An empty text has no line; a text ending with a newline
 * has no empty last line.  The lines point into TEXT, which must outlive them.  */
int tars_lines_split(const char *text, size_t len, struct tars_lines *out, struct tars_error *err);
void tars_lines_free(struct tars_lines *l);
#define cleanup_lines __attribute__((cleanup(tars_lines_free)))

/* The ending most of L's lines have (CRLF only when strictly more lines end with CRLF than with
 * LF), for the lines an edit adds; LF for a text without any.  */
enum tars_eol tars_lines_eol(const struct tars_lines *l);
/* Whether a line holds nothing but spaces and tabs.  */
bool tars_line_blank(const char *s, size_t len);

/* A buffer text is built in.  On allocation failure it stops growing and remembers it, so that
 * the writer checks once, at the end (tars_buf_steal).  */
struct tars_buf
{
  char *p;
  size_t len, cap;
  bool failed;
};

void tars_buf_add(struct tars_buf *b, const char *s, size_t n);
void tars_buf_adds(struct tars_buf *b, const char *s);
void tars_buf_addf(struct tars_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tars_buf_add_eol(struct tars_buf *b, enum tars_eol eol);
/* The text built, NUL-terminated (its length in *LEN when LEN is not NULL), or NULL when memory
 * ran out (ERR filled); the buffer is left empty either way.  */
char *tars_buf_steal(struct tars_buf *b, size_t *len, struct tars_error *err);
void tars_buf_free(struct tars_buf *b);
#define cleanup_buf __attribute__((cleanup(tars_buf_free)))

#endif
