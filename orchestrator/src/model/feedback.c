#include "model/feedback.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tars/cleanup.h"

/* Lines shown back at most, so that feedback about a huge region stays readable.  */
#define SHOW_MAX_LINES 40

/* Text from a file or an answer, for a message: control characters (but tabs) as \xNN, so that
 * nothing in it can drive a terminal when the feedback is printed.  */
static void
add_shown(struct tars_buf *b, const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char)s[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        tars_buf_addf(b, "\\x%02x", c);
      else
        tars_buf_add(b, s + i, 1);
    }
}

static void
add_path(struct tars_buf *b, const char *path)
{
  add_shown(b, path, strlen(path));
}

static const char *
what_edit(enum tars_edit_kind k)
{
  switch (k)
    {
    case TARS_EDIT_SEARCH_REPLACE:
      return "SEARCH/REPLACE block";
    case TARS_EDIT_HUNK:
      return "diff hunk";
    case TARS_EDIT_WHOLE_FILE:
      return "whole file";
    case TARS_EDIT_CREATE:
      return "new file";
    case TARS_EDIT_DELETE:
      return "deletion";
    }
  return "edit";
}

static const char *
search_name(enum tars_edit_kind k)
{
  return k == TARS_EDIT_HUNK ? "the hunk's context and removed lines" : "the SEARCH text";
}

static const char *
rung_phrase(enum tars_edit_rung r)
{
  switch (r)
    {
    case TARS_RUNG_EXACT:
      return "";
    case TARS_RUNG_TRAILING_SPACE:
      return ", ignoring trailing whitespace,";
    case TARS_RUNG_BLANK_LINES:
      return ", ignoring blank lines,";
    case TARS_RUNG_INDENT:
      return ", ignoring indentation,";
    case TARS_RUNG_PUNCTUATION:
      return ", ignoring Unicode punctuation,";
    case TARS_RUNG_DRIFT:
    case TARS_RUNG_COUNT:
      break;
    }
  return ", letting its context drift a few lines,";
}

static void
add_head(struct tars_buf *b, const struct tars_feedback *fb)
{
  tars_buf_addf(b, "Edit %zu of %zu (%s for ", fb->index + 1, fb->count, what_edit(fb->edit->kind));
  add_path(b, fb->edit->path);
  if (fb->edit->kind == TARS_EDIT_HUNK && fb->edit->old_start > 0)
    tars_buf_addf(b, ", @@ line %u", fb->edit->old_start);
  tars_buf_addf(b, ", answer line %u): ", fb->edit->answer_line);
}

/* Lines LO..HI (from 0, HI excluded) of the file, in a fence.  */
static void
add_region(struct tars_buf *b, const struct tars_lines *f, size_t lo, size_t hi)
{
  tars_buf_adds(b, "```\n");
  size_t shown = 0;
  for (size_t i = lo; i < hi && i < f->n && shown < SHOW_MAX_LINES; i++, shown++)
    {
      add_shown(b, f->v[i].s, f->v[i].len);
      tars_buf_adds(b, "\n");
    }
  tars_buf_adds(b, "```\n");
  if (hi - lo > shown)
    tars_buf_addf(b, "(and %zu more lines)\n", hi - lo - shown);
}

static void
add_lines_range(struct tars_buf *b, size_t lo, size_t hi)
{
  if (hi <= lo + 1)
    tars_buf_addf(b, "line %zu", lo + 1);
  else
    tars_buf_addf(b, "lines %zu-%zu", lo + 1, hi);
}

static void
no_match(struct tars_buf *b, const struct tars_feedback *fb)
{
  const struct tars_edit *e = fb->edit;
  const struct tars_nearest *nr = fb->nearest;
  const char *what = search_name(e->kind);
  tars_buf_addf(b, "%s matches no lines of ", what);
  add_path(b, e->path);
  if (nr == NULL || !nr->found)
    {
      tars_buf_adds(b, ", and no part of the file is like it: check that this is the file you "
                       "mean, and quote its lines as they are.\n");
    }
  else
    {
      tars_buf_adds(b, ". Did you mean ");
      add_lines_range(b, nr->lo, nr->hi);
      tars_buf_adds(b, "?\n");
      add_region(b, fb->file, nr->lo, nr->hi);
      if (nr->differs)
        {
          const struct tars_line *fl = &fb->file->v[nr->line];
          const struct tars_ladder_op *o = &fb->ops[nr->op];
          tars_buf_addf(b, "Line %zu differs: the file has\n    ", nr->line + 1);
          add_shown(b, fl->s, fl->len);
          tars_buf_addf(b, "\nwhere %s has\n    ", what);
          add_shown(b, o->s, o->len);
          tars_buf_adds(b, "\n");
        }
      else
        tars_buf_adds(b, "Those lines hold the same text, but their indentation does not differ "
                         "from yours by one constant amount, or blank lines are out of place.\n");
      tars_buf_adds(b, "Quote the file's lines exactly as they are.\n");
    }
  for (size_t k = 0; k < fb->n_ops; k++)
    if (fb->ops[k].op != '+' && tars_line_elides(fb->ops[k].s, fb->ops[k].len, NULL))
      {
        tars_buf_adds(b, "It leaves lines out (");
        add_shown(b, fb->ops[k].s, fb->ops[k].len);
        tars_buf_adds(b, "): quote every line of the region instead.\n");
        break;
      }
  if (fb->already)
    {
      tars_buf_adds(b, "The new text is already in the file (");
      add_lines_range(b, fb->already_lo, fb->already_hi);
      tars_buf_adds(b, "): this edit may have been made already; if so, leave it out.\n");
    }
}

static void
ambiguous(struct tars_buf *b, const struct tars_feedback *fb)
{
  const struct tars_ladder_result *m = fb->match;
  const char *what = search_name(fb->edit->kind);
  tars_buf_addf(b, "%s%s matches %zu places in ", what, rung_phrase(m->rung), m->n_places);
  add_path(b, fb->edit->path);
  tars_buf_adds(b, " (");
  size_t shown = m->n_places < TARS_LADDER_MAX_PLACES ? m->n_places : TARS_LADDER_MAX_PLACES;
  for (size_t i = 0; i < shown; i++)
    {
      if (i > 0)
        tars_buf_adds(b, i + 1 == shown && shown == m->n_places ? " and " : ", ");
      if (i > 0 && m->place_hi[i] > m->place_lo[i] + 1)
        tars_buf_addf(b, "%zu-%zu", m->place_lo[i] + 1, m->place_hi[i]);
      else
        add_lines_range(b, m->place_lo[i], m->place_hi[i]);
    }
  if (shown < m->n_places)
    tars_buf_addf(b, " and %zu more", m->n_places - shown);
  tars_buf_adds(b, "), so it was not applied anywhere: include lines around the change that only "
                   "the place you mean has.\n");
}

char *
tars_feedback_message(enum tars_edit_status status, const struct tars_feedback *fb)
{
  struct tars_buf b = {0};
  const struct tars_edit *e = fb->edit;
  add_head(&b, fb);
  switch (status)
    {
    case TARS_EDIT_APPLIED:
      tars_buf_adds(&b, "applied.\n");
      break;
    case TARS_EDIT_NO_MATCH:
      if (e->kind == TARS_EDIT_DELETE)
        {
          tars_buf_adds(&b, "the diff deletes ");
          add_path(&b, e->path);
          tars_buf_adds(&b, ", but the lines it removes are not the file's content: give them as "
                            "they are, or leave the hunk out.\n");
        }
      else
        no_match(&b, fb);
      break;
    case TARS_EDIT_AMBIGUOUS:
      ambiguous(&b, fb);
      break;
    case TARS_EDIT_BAD_PATH:
      tars_buf_adds(&b, "the path `");
      add_path(&b, e->path);
      tars_buf_addf(&b,
                    "` is not allowed (%s): name each file by its path from the root of the "
                    "repository, like src/main.c.\n",
                    fb->why ? fb->why : "not a relative path");
      break;
    case TARS_EDIT_NO_FILE:
      add_path(&b, e->path);
      tars_buf_adds(&b, fb->deleted_before ? " was deleted by an earlier edit of this answer.\n"
                                           : " does not exist.");
      if (!fb->deleted_before)
        tars_buf_adds(&b, e->kind == TARS_EDIT_SEARCH_REPLACE
                              ? " To create it, leave the SEARCH section empty and put the whole "
                                "file in REPLACE.\n"
                          : e->kind == TARS_EDIT_HUNK
                              ? " To create it, write the diff from --- /dev/null.\n"
                              : "\n");
      break;
    case TARS_EDIT_FILE_EXISTS:
      add_path(&b, e->path);
      tars_buf_adds(&b, e->kind == TARS_EDIT_SEARCH_REPLACE
                            ? " exists, and the SEARCH section is empty, which creates a file: "
                              "quote the lines to change in SEARCH.\n"
                            : " exists, and the diff creates it (from /dev/null): write a diff "
                              "of the existing file.\n");
      break;
    case TARS_EDIT_ELIDED:
      tars_buf_adds(&b, "the new text leaves code out (");
      add_shown(&b, fb->elided ? fb->elided : "...", fb->elided ? strlen(fb->elided) : 3);
      tars_buf_adds(&b, "), which would replace that code with the comment: write out every "
                        "line; nothing is filled in from the file.\n");
      break;
    case TARS_EDIT_NO_CONTEXT:
      tars_buf_adds(&b, "it only adds lines, and ");
      add_path(&b, e->path);
      tars_buf_adds(&b, " is not empty: include a few unchanged lines around the addition, so "
                        "that it has a place.\n");
      break;
    case TARS_EDIT_NOT_TEXT:
      add_path(&b, e->path);
      tars_buf_addf(&b, " %s: it cannot be edited this way.\n",
                    fb->why ? fb->why : "is not a text file");
      break;
    }
  return tars_buf_steal(&b, NULL, NULL);
}

char *
tars_feedback_compose(const struct tars_edit_report *reports, size_t n_edits, size_t n_failed)
{
  struct tars_buf b = {0};
  if (n_edits == 1)
    tars_buf_adds(&b, "The edit could not be applied. Answer again with it fixed.\n");
  else if (n_failed == n_edits)
    tars_buf_addf(&b,
                  "None of the %zu edits could be applied. Answer again with all of them "
                  "fixed.\n",
                  n_edits);
  else
    tars_buf_addf(&b,
                  "%zu of %zu edits could not be applied, so none was: the edits of an answer "
                  "are applied together or not at all. Answer again with all %zu edits, %s "
                  "fixed.\n",
                  n_failed, n_edits, n_edits, n_failed == 1 ? "this one" : "these");
  for (size_t i = 0; i < n_edits; i++)
    if (reports[i].status != TARS_EDIT_APPLIED && reports[i].message)
      {
        tars_buf_adds(&b, "\n");
        tars_buf_adds(&b, reports[i].message);
      }
  return tars_buf_steal(&b, NULL, NULL);
}

/* ----- lines standing for left-out code ----- */

static bool
has_word(const char *s, const char *w)
{
  size_t n = strlen(w);
  for (const char *p = s; (p = strcasestr(p, w)) != NULL; p++)
    {
      bool start = p == s || !isalpha((unsigned char)p[-1]);
      bool end = !isalpha((unsigned char)p[n]);
      if (start && end)
        return true;
    }
  return false;
}

bool
tars_line_elides(const char *line, size_t len, const char *path)
{
  char buf[256];
  while (len > 0 && (*line == ' ' || *line == '\t'))
    line++, len--;
  while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
    len--;
  if (len == 0 || len >= sizeof buf)
    return false;
  memcpy(buf, line, len);
  buf[len] = '\0';

  /* The comment marker, if any, and its closing.  */
  static const char *const openers[] = {"<!--", "//", "/*", "{/*", "#", "--", ";", "%", "*", "'"};
  char *s = buf;
  bool comment = false;
  for (size_t i = 0; i < sizeof openers / sizeof *openers; i++)
    {
      size_t k = strlen(openers[i]);
      /* "#define", "--flag", "*p = 0": an opener followed by a word is code, not a comment.  */
      if (strncmp(s, openers[i], k) == 0 && (s[k] == '\0' || s[k] == ' ' || s[k] == '\t' ||
                                             s[k] == '.' || (unsigned char)s[k] >= 0x80))
        {
          s += k;
          comment = true;
          break;
        }
    }
  size_t n = strlen(s);
  static const char *const closers[] = {"*/}", "-->", "*/"};
  for (size_t i = 0; i < sizeof closers / sizeof *closers; i++)
    {
      size_t k = strlen(closers[i]);
      if (n >= k && strcmp(s + n - k, closers[i]) == 0)
        {
          s[n - k] = '\0';
          n -= k;
          break;
        }
    }
  while (*s == ' ' || *s == '\t')
    s++, n--;
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';

  bool dots = strstr(s, "...") != NULL || strstr(s, "\xe2\x80\xa6") != NULL;
  /* Only dots: "..." alone is Python's Ellipsis, a real statement in a .py file.  */
  size_t only = strspn(s, ".");
  if (n > 0 && (only == n || strcmp(s, "\xe2\x80\xa6") == 0))
    {
      if (comment)
        return true;
      const char *dot = path ? strrchr(path, '.') : NULL;
      bool python = dot && (strcmp(dot, ".py") == 0 || strcmp(dot, ".pyi") == 0);
      return !python && path != NULL;
    }
  static const char *const phrases[] = {
      "existing code",
      "existing implementation",
      "existing methods",
      "existing functions",
      "existing imports",
      "keep existing",
      "rest of",
      "unchanged",
      "remain the same",
      "remains the same",
      "remaining code",
      "omitted",
      "as before",
      "same as before",
      "code here",
      "for brevity",
      "snip",
      "previous code",
      "other code",
      "other methods",
      "other functions",
      "elided",
      "no changes",
      "not changed",
  };
  bool phrase = false;
  for (size_t i = 0; i < sizeof phrases / sizeof *phrases && !phrase; i++)
    phrase = has_word(s, phrases[i]);
  if (!phrase)
    return false;
  if (dots && (comment || s[0] == '.' || strncmp(s, "\xe2\x80\xa6", 3) == 0))
    return true;
  /* A short comment that is nothing but the phrase ("// rest of code unchanged"); a longer one
   * is a real comment that happens to use the words.  */
  if (!comment)
    return false;
  size_t words = 0;
  for (const char *p = s; *p;)
    {
      while (*p && !isalnum((unsigned char)*p))
        p++;
      if (*p)
        words++;
      while (*p && isalnum((unsigned char)*p))
        p++;
    }
  return words <= 5;
}
