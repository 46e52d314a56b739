#include "model/edits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/beneath.h"
#include "apply/policy.h"
#include "model/feedback.h"
#include "model/ladder.h"
#include "model/lines.h"
#include "tars/cleanup.h"

static const char *const format_names[] = {
    [TARS_EDIT_FORMAT_SEARCH_REPLACE] = "search-replace",
    [TARS_EDIT_FORMAT_UNIFIED_DIFF] = "unified-diff",
    [TARS_EDIT_FORMAT_WHOLE_FILE] = "whole-file",
};

const char *
tars_edit_format_name(enum tars_edit_format f)
{
  return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "unknown";
}

int
tars_edit_format_parse(const char *name, enum tars_edit_format *f, struct tars_error *err)
{
  for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
    if (strcmp(name, format_names[i]) == 0)
      {
        *f = (enum tars_edit_format)i;
        return 0;
      }
  char shown[64];
  tars_shown(name, shown, sizeof shown);
  return tars_error_invalid(err,
                            "unknown edit format \"%s\" (search-replace, unified-diff or "
                            "whole-file)",
                            shown);
}

const char *
tars_edit_rung_name(enum tars_edit_rung r)
{
  static const char *const names[] = {
      [TARS_RUNG_EXACT] = "exact",
      [TARS_RUNG_TRAILING_SPACE] = "trailing-space",
      [TARS_RUNG_BLANK_LINES] = "blank-lines",
      [TARS_RUNG_INDENT] = "indentation",
      [TARS_RUNG_PUNCTUATION] = "punctuation",
      [TARS_RUNG_DRIFT] = "drift",
  };
  return (unsigned)r < TARS_RUNG_COUNT ? names[r] : "unknown";
}

const char *
tars_edit_status_name(enum tars_edit_status s)
{
  static const char *const names[] = {
      [TARS_EDIT_APPLIED] = "applied",     [TARS_EDIT_NO_MATCH] = "no-match",
      [TARS_EDIT_AMBIGUOUS] = "ambiguous", [TARS_EDIT_BAD_PATH] = "bad-path",
      [TARS_EDIT_NO_FILE] = "no-file",     [TARS_EDIT_FILE_EXISTS] = "file-exists",
      [TARS_EDIT_ELIDED] = "elided",       [TARS_EDIT_NO_CONTEXT] = "no-context",
      [TARS_EDIT_NOT_TEXT] = "not-text",
  };
  return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

/* ----- lists of edits ----- */

void
tars_edit_free(struct tars_edit *e)
{
  free(e->path);
  free(e->search);
  free(e->replace);
  free(e->content);
  for (size_t i = 0; i < e->n_lines; i++)
    free(e->lines[i].text);
  free(e->lines);
  memset(e, 0, sizeof *e);
}

void
tars_edits_free(struct tars_edits *e)
{
  for (size_t i = 0; i < e->n; i++)
    tars_edit_free(&e->v[i]);
  free(e->v);
  e->v = NULL;
  e->n = 0;
}

static int
dup_or_null(char **dst, const char *src)
{
  *dst = src ? strdup(src) : NULL;
  return src && *dst == NULL ? -1 : 0;
}

int
tars_edits_append(struct tars_edits *list, const struct tars_edit *e, struct tars_error *err)
{
  struct tars_edit c = {.kind = e->kind, .answer_line = e->answer_line, .old_start = e->old_start};
  bool failed = dup_or_null(&c.path, e->path) < 0 || dup_or_null(&c.search, e->search) < 0 ||
                dup_or_null(&c.replace, e->replace) < 0 || dup_or_null(&c.content, e->content) < 0;
  if (!failed && e->n_lines > 0)
    {
      c.lines = calloc(e->n_lines, sizeof *c.lines);
      failed = c.lines == NULL;
      for (size_t i = 0; !failed && i < e->n_lines; i++, c.n_lines++)
        {
          c.lines[i].op = e->lines[i].op;
          failed = dup_or_null(&c.lines[i].text, e->lines[i].text) < 0;
        }
    }
  struct tars_edit *v = failed ? NULL : realloc(list->v, (list->n + 1) * sizeof *v);
  if (v == NULL)
    {
      tars_edit_free(&c);
      return tars_error_set(err, ENOMEM, "cannot add an edit");
    }
  v[list->n++] = c;
  list->v = v;
  return 0;
}

/* ----- readers ----- */

int
tars_edit_read_files(void *ctx, const char *path, char **content, size_t *len,
                     struct tars_error *err)
{
  const struct tars_edit_files *files = ctx;
  for (size_t i = 0; i < files->n; i++)
    if (strcmp(files->v[i].path, path) == 0)
      {
        char *c = malloc(files->v[i].len + 1);
        if (c == NULL)
          return tars_error_set(err, ENOMEM, "cannot copy %s", path);
        memcpy(c, files->v[i].content, files->v[i].len);
        c[files->v[i].len] = '\0';
        *content = c;
        *len = files->v[i].len;
        return 1;
      }
  return 0;
}

int
tars_edit_read_dir(void *ctx, const char *path, char **content, size_t *len, struct tars_error *err)
{
  int dfd = *(const int *)ctx;
  cleanup_close int fd = tars_open_beneath(dfd, path, O_RDONLY, 0, err);
  if (fd < 0)
    {
      if (err && err->code == ENOENT)
        return 0;
      return -1;
    }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "fstat %s", path);
  if (!S_ISREG(st.st_mode))
    return tars_error_refused(err, "%s is not a regular file", path);
  if ((uint64_t)st.st_size > TARS_EDIT_MAX_FILE)
    return tars_error_refused(err, "%s is larger than %u bytes", path, TARS_EDIT_MAX_FILE);
  struct tars_buf b = {0};
  char chunk[65536];
  for (;;)
    {
      ssize_t r = read(fd, chunk, sizeof chunk);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          tars_buf_free(&b);
          return tars_error_set(err, errno, "read %s", path);
        }
      if (r == 0)
        break;
      tars_buf_add(&b, chunk, (size_t)r);
      if (b.len > TARS_EDIT_MAX_FILE)
        {
          tars_buf_free(&b);
          return tars_error_refused(err, "%s is larger than %u bytes", path, TARS_EDIT_MAX_FILE);
        }
    }
  *content = tars_buf_steal(&b, len, err);
  return *content ? 1 : -1;
}

/* ----- applying ----- */

/* A file the edits name: what the reader gave, and what the edits made of it so far.  */
struct file_state
{
  char *path;
  bool orig_exists;
  char *orig;
  size_t orig_len;
  bool exists;
  char *cur; /* NULL when it does not exist */
  size_t cur_len;
  const char *not_text; /* why it cannot be edited, or NULL */
  bool deleted;         /* an edit deleted it */
};

struct files
{
  struct file_state *v;
  size_t n;
};

static void
files_free(struct files *f)
{
  for (size_t i = 0; i < f->n; i++)
    {
      free(f->v[i].path);
      if (f->v[i].cur != f->v[i].orig)
        free(f->v[i].cur);
      free(f->v[i].orig);
    }
  free(f->v);
}

static struct file_state *
file_get(struct files *fs, const char *path, tars_edit_reader read, void *ctx,
         struct tars_error *err)
{
  for (size_t i = 0; i < fs->n; i++)
    if (strcmp(fs->v[i].path, path) == 0)
      return &fs->v[i];
  struct file_state *v = realloc(fs->v, (fs->n + 1) * sizeof *v);
  if (v == NULL)
    {
      tars_error_set(err, ENOMEM, "cannot track %s", path);
      return NULL;
    }
  fs->v = v;
  struct file_state *f = &v[fs->n];
  memset(f, 0, sizeof *f);
  f->path = strdup(path);
  if (f->path == NULL)
    {
      tars_error_set(err, ENOMEM, "cannot track %s", path);
      return NULL;
    }
  int r = read(ctx, path, &f->orig, &f->orig_len, err);
  if (r < 0)
    {
      tars_error_prefix(err, "reading %s for an edit", path);
      free(f->path);
      return NULL;
    }
  fs->n++;
  f->orig_exists = f->exists = r > 0;
  f->cur = f->orig;
  f->cur_len = f->orig_len;
  if (f->exists && f->orig_len > TARS_EDIT_MAX_FILE)
    f->not_text = "is larger than 8 MiB";
  else if (f->exists && memchr(f->orig, '\0', f->orig_len) != NULL)
    f->not_text = "is not a text file (it holds NUL bytes)";
  return f;
}

static void
file_set(struct file_state *f, char *content, size_t len)
{
  if (f->cur != f->orig)
    free(f->cur);
  f->cur = content;
  f->cur_len = len;
  f->exists = content != NULL;
  f->deleted = content == NULL;
}

static bool
text_blank(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
      return false;
  return true;
}

/* CONTENT (lines ending with '\n', as an answer gives them) written as the file writes its
 * lines: with its line ending, and without a final newline when it had none.  */
static char *
as_file_writes(const char *content, const struct tars_lines *orig, size_t *len,
               struct tars_error *err)
{
  enum tars_eol eol = tars_lines_eol(orig);
  bool final = orig->n == 0 || orig->v[orig->n - 1].eol != TARS_EOL_NONE;
  struct tars_buf b = {0};
  for (const char *p = content; *p;)
    {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      tars_buf_add(&b, p, n);
      if (nl)
        tars_buf_add_eol(&b, eol);
      p += n + (nl != NULL);
    }
  if (!final && b.len > 0)
    {
      if (b.len >= 2 && b.p[b.len - 2] == '\r' && b.p[b.len - 1] == '\n')
        b.len -= 2;
      else if (b.p[b.len - 1] == '\n')
        b.len--;
      b.p[b.len] = '\0';
    }
  return tars_buf_steal(&b, len, err);
}

/* Whether LINES of the original FILE hold it verbatim (trimmed): a comment saying "unchanged"
 * that the file already has is not an answer leaving code out.  */
static bool
file_has_line(const struct tars_lines *file, const char *s, size_t len)
{
  while (len > 0 && (*s == ' ' || *s == '\t'))
    s++, len--;
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  for (size_t i = 0; i < file->n; i++)
    {
      const char *t = file->v[i].s;
      size_t n = file->v[i].len;
      while (n > 0 && (*t == ' ' || *t == '\t'))
        t++, n--;
      while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
      if (n == len && memcmp(t, s, n) == 0)
        return true;
    }
  return false;
}

/* The first added line that stands for left-out code, or NULL.  */
static const struct tars_ladder_op *
elided_op(const struct tars_ladder_op *ops, size_t n, const struct tars_lines *file,
          const char *path)
{
  for (size_t k = 0; k < n; k++)
    if (ops[k].op == '+' && tars_line_elides(ops[k].s, ops[k].len, path) &&
        !file_has_line(file, ops[k].s, ops[k].len))
      return &ops[k];
  return NULL;
}

/* What one edit's application needs besides the file: its ops and where they point.  */
struct work
{
  struct tars_lines file, a, b;
  struct tars_ladder_op *ops;
  size_t n_ops;
  char *elided;
};

static void
work_free(struct work *w)
{
  tars_lines_free(&w->file);
  tars_lines_free(&w->a);
  tars_lines_free(&w->b);
  free(w->ops);
  free(w->elided);
}

static int
ops_of(const struct tars_edit *e, struct work *w, struct tars_error *err)
{
  if (e->kind == TARS_EDIT_SEARCH_REPLACE)
    {
      if (tars_lines_split(e->search, strlen(e->search), &w->a, err) < 0 ||
          tars_lines_split(e->replace, strlen(e->replace), &w->b, err) < 0)
        return -1;
      return tars_ladder_diff(&w->a, &w->b, &w->ops, &w->n_ops, err);
    }
  w->ops = calloc(e->n_lines + 1, sizeof *w->ops);
  if (w->ops == NULL)
    return tars_error_set(err, ENOMEM, "cannot apply a hunk");
  for (size_t i = 0; i < e->n_lines; i++)
    w->ops[i] = (struct tars_ladder_op){e->lines[i].op, e->lines[i].text, strlen(e->lines[i].text)};
  w->n_ops = e->n_lines;
  return 0;
}

static bool
searches(const struct tars_ladder_op *ops, size_t n)
{
  for (size_t k = 0; k < n; k++)
    if (ops[k].op != '+')
      return true;
  return false;
}

/* The added lines of OPS as a text, for a file that had nothing.  */
static char *
added_text(const struct tars_ladder_op *ops, size_t n, size_t *len, struct tars_error *err)
{
  struct tars_buf b = {0};
  for (size_t k = 0; k < n; k++)
    if (ops[k].op == '+')
      {
        tars_buf_add(&b, ops[k].s, ops[k].len);
        tars_buf_add(&b, "\n", 1);
      }
  return tars_buf_steal(&b, len, err);
}

/* Where the replacement is already in the file, for a hint when the search text is not.  */
static int
replacement_present(const struct work *w, struct tars_feedback *fb, struct tars_error *err)
{
  size_t n = 0;
  for (size_t k = 0; k < w->n_ops; k++)
    n += w->ops[k].op != '-';
  bool changes = false;
  for (size_t k = 0; k < w->n_ops; k++)
    changes |= w->ops[k].op == '+' && !tars_line_blank(w->ops[k].s, w->ops[k].len);
  if (!changes)
    return 0;
  cleanup_free struct tars_ladder_op *ctx = calloc(n + 1, sizeof *ctx);
  if (ctx == NULL)
    return tars_error_set(err, ENOMEM, "cannot look for the replacement");
  size_t j = 0;
  for (size_t k = 0; k < w->n_ops; k++)
    if (w->ops[k].op != '-')
      ctx[j++] = (struct tars_ladder_op){' ', w->ops[k].s, w->ops[k].len};
  struct tars_ladder_result r;
  if (tars_ladder_apply(&w->file, ctx, j, &r, err) < 0)
    return -1;
  free(r.content);
  if (r.status == TARS_EDIT_APPLIED || r.status == TARS_EDIT_AMBIGUOUS)
    {
      fb->already = true;
      fb->already_lo = r.status == TARS_EDIT_APPLIED ? r.lo : r.place_lo[0];
      fb->already_hi = r.status == TARS_EDIT_APPLIED ? r.hi : r.place_hi[0];
    }
  return 0;
}

/* Apply edit E to F, filling REP; 0 whether it applied or not, -1 when the work failed.  */
static int
apply_one(const struct tars_edit *e, size_t index, size_t count, struct file_state *f,
          struct tars_edit_report *rep, struct tars_error *err)
{
  __attribute__((cleanup(work_free))) struct work w = {0};
  struct tars_feedback fb = {.edit = e, .index = index, .count = count};
  struct tars_ladder_result match = {0};
  struct tars_nearest nearest = {0};
  enum tars_edit_status st = TARS_EDIT_APPLIED;
  char *content = NULL;
  size_t len = 0;
  bool set = false, remove = false;

  if (f->exists && tars_lines_split(f->cur, f->cur_len, &w.file, err) < 0)
    return -1;
  fb.file = &w.file;
  fb.deleted_before = f->deleted;

  switch (e->kind)
    {
    case TARS_EDIT_SEARCH_REPLACE:
    case TARS_EDIT_HUNK:
      if (ops_of(e, &w, err) < 0)
        return -1;
      fb.ops = w.ops;
      fb.n_ops = w.n_ops;
      bool empty_search = e->kind == TARS_EDIT_SEARCH_REPLACE
                              ? text_blank(e->search, strlen(e->search))
                              : !searches(w.ops, w.n_ops);
      const struct tars_ladder_op *el = elided_op(w.ops, w.n_ops, &w.file, e->path);
      if (el != NULL)
        {
          st = TARS_EDIT_ELIDED;
          w.elided = strndup(el->s, el->len);
          fb.elided = w.elided;
          break;
        }
      if (f->exists && f->not_text)
        {
          st = TARS_EDIT_NOT_TEXT;
          fb.why = f->not_text;
          break;
        }
      if (empty_search)
        {
          if (f->exists && !text_blank(f->cur, f->cur_len))
            {
              st = e->kind == TARS_EDIT_HUNK ? TARS_EDIT_NO_CONTEXT : TARS_EDIT_FILE_EXISTS;
              break;
            }
          if (!f->exists && e->kind == TARS_EDIT_HUNK && f->deleted)
            {
              st = TARS_EDIT_NO_FILE;
              break;
            }
          if (e->kind == TARS_EDIT_SEARCH_REPLACE)
            content = as_file_writes(e->replace, &w.file, &len, err);
          else
            {
              cleanup_free char *t = added_text(w.ops, w.n_ops, &len, err);
              content = t ? as_file_writes(t, &w.file, &len, err) : NULL;
            }
          if (content == NULL)
            return -1;
          set = true;
          break;
        }
      if (!f->exists)
        {
          st = TARS_EDIT_NO_FILE;
          break;
        }
      if (tars_ladder_apply(&w.file, w.ops, w.n_ops, &match, err) < 0)
        return -1;
      st = match.status;
      rep->searched = true;
      rep->rung = match.rung;
      if (st == TARS_EDIT_APPLIED)
        {
          content = match.content;
          len = match.len;
          rep->first_line = match.lo + 1;
          rep->last_line = match.hi;
          rep->extended = match.extended;
          set = true;
        }
      else if (st == TARS_EDIT_AMBIGUOUS)
        {
          rep->first_line = match.place_lo[0] + 1;
          rep->last_line = match.place_hi[0];
        }
      else if (st == TARS_EDIT_NO_MATCH)
        {
          if (tars_ladder_nearest(&w.file, w.ops, w.n_ops, &nearest, err) < 0 ||
              replacement_present(&w, &fb, err) < 0)
            return -1;
          if (nearest.found)
            {
              rep->first_line = nearest.lo + 1;
              rep->last_line = nearest.hi;
            }
        }
      fb.match = &match;
      fb.nearest = &nearest;
      break;

    case TARS_EDIT_WHOLE_FILE:
    case TARS_EDIT_CREATE:
      {
        if (tars_lines_split(e->content, strlen(e->content), &w.b, err) < 0)
          return -1;
        for (size_t i = 0; i < w.b.n && w.elided == NULL; i++)
          if (tars_line_elides(w.b.v[i].s, w.b.v[i].len, e->path) &&
              !file_has_line(&w.file, w.b.v[i].s, w.b.v[i].len))
            w.elided = strndup(w.b.v[i].s, w.b.v[i].len);
        if (w.elided)
          {
            st = TARS_EDIT_ELIDED;
            fb.elided = w.elided;
            break;
          }
        if (f->exists && e->kind == TARS_EDIT_CREATE && !text_blank(f->cur, f->cur_len))
          {
            st = TARS_EDIT_FILE_EXISTS;
            break;
          }
        if (f->exists && f->not_text)
          {
            st = TARS_EDIT_NOT_TEXT;
            fb.why = f->not_text;
            break;
          }
        content = as_file_writes(e->content, &w.file, &len, err);
        if (content == NULL)
          return -1;
        set = true;
        break;
      }

    case TARS_EDIT_DELETE:
      if (!f->exists)
        {
          st = TARS_EDIT_NO_FILE;
          break;
        }
      if (e->n_lines > 0 && !f->not_text)
        {
          /* The lines the diff removes must be the whole file (on any rung).  */
          if (ops_of(e, &w, err) < 0)
            return -1;
          for (size_t k = 0; k < w.n_ops; k++)
            w.ops[k].op = '-';
          if (tars_ladder_apply(&w.file, w.ops, w.n_ops, &match, err) < 0)
            return -1;
          bool whole = match.status == TARS_EDIT_APPLIED && text_blank(match.content, match.len);
          free(match.content);
          match.content = NULL;
          if (!whole)
            {
              st = TARS_EDIT_NO_MATCH;
              break;
            }
        }
      remove = true;
      break;
    }

  rep->status = st;
  if (st != TARS_EDIT_APPLIED)
    {
      free(match.content);
      rep->message = tars_feedback_message(st, &fb);
      if (rep->message == NULL)
        return tars_error_set(err, ENOMEM, "cannot write the feedback of an edit");
      return 0;
    }
  if (set)
    file_set(f, content, len);
  else if (remove)
    file_set(f, NULL, 0);
  return 0;
}

void
tars_edit_result_free(struct tars_edit_result *res)
{
  for (size_t i = 0; i < res->n_files; i++)
    {
      free(res->files[i].path);
      free(res->files[i].content);
    }
  free(res->files);
  for (size_t i = 0; i < res->n_reports; i++)
    free(res->reports[i].message);
  free(res->reports);
  free(res->feedback);
  memset(res, 0, sizeof *res);
}

static int
collect(struct files *fs, struct tars_edit_result *res, struct tars_error *err)
{
  res->files = calloc(fs->n + 1, sizeof *res->files);
  if (res->files == NULL)
    return tars_error_set(err, ENOMEM, "cannot collect the edited files");
  for (size_t i = 0; i < fs->n; i++)
    {
      struct file_state *f = &fs->v[i];
      struct tars_file_change c = {0};
      if (f->orig_exists && !f->exists)
        c.op = TARS_FILE_DELETE;
      else if (!f->orig_exists && f->exists)
        c.op = TARS_FILE_CREATE;
      else if (f->exists && (f->cur_len != f->orig_len || memcmp(f->cur, f->orig, f->cur_len) != 0))
        c.op = TARS_FILE_MODIFY;
      else
        continue;
      c.path = strdup(f->path);
      if (c.path == NULL)
        return tars_error_set(err, ENOMEM, "cannot collect the edited files");
      if (c.op != TARS_FILE_DELETE)
        {
          c.len = f->cur_len;
          if (f->cur == f->orig)
            {
              c.content = malloc(c.len + 1);
              if (c.content)
                {
                  memcpy(c.content, f->cur, c.len);
                  c.content[c.len] = '\0';
                }
            }
          else
            {
              c.content = f->cur;
              f->cur = NULL;
            }
          if (c.content == NULL)
            {
              free(c.path);
              return tars_error_set(err, ENOMEM, "cannot collect the edited files");
            }
        }
      res->files[res->n_files++] = c;
    }
  return 0;
}

int
tars_edits_apply(const struct tars_edits *edits, tars_edit_reader read, void *ctx,
                 struct tars_edit_result *res, struct tars_error *err)
{
  memset(res, 0, sizeof *res);
  __attribute__((cleanup(files_free))) struct files fs = {0};
  res->reports = calloc(edits->n + 1, sizeof *res->reports);
  if (res->reports == NULL)
    return tars_error_set(err, ENOMEM, "cannot apply %zu edits", edits->n);
  res->n_reports = edits->n;
  if (edits->n == 0)
    return 0;

  for (size_t i = 0; i < edits->n; i++)
    {
      const struct tars_edit *e = &edits->v[i];
      struct tars_edit_report *rep = &res->reports[i];
      const char *why = e->path ? tars_path_problem(e->path) : "no path";
      if (why != NULL)
        {
          struct tars_feedback fb = {.edit = e, .index = i, .count = edits->n, .why = why};
          struct tars_edit bad = *e;
          bad.path = e->path ? e->path : (char *)"";
          fb.edit = &bad;
          rep->status = TARS_EDIT_BAD_PATH;
          rep->message = tars_feedback_message(TARS_EDIT_BAD_PATH, &fb);
          if (rep->message == NULL)
            return tars_error_set(err, ENOMEM, "cannot write the feedback of an edit");
          res->n_failed++;
          continue;
        }
      struct file_state *f = file_get(&fs, e->path, read, ctx, err);
      if (f == NULL)
        return -1;
      if (apply_one(e, i, edits->n, f, rep, err) < 0)
        return -1;
      if (rep->status != TARS_EDIT_APPLIED)
        res->n_failed++;
    }

  if (res->n_failed > 0)
    {
      res->feedback = tars_feedback_compose(res->reports, res->n_reports, res->n_failed);
      if (res->feedback == NULL)
        return tars_error_set(err, ENOMEM, "cannot write the feedback of the edits");
      const char *nl = strchr(res->feedback, '\n');
      int n = nl ? (int)(nl - res->feedback) : (int)strlen(res->feedback);
      return tars_error_refused(err, "%.*s", n, res->feedback);
    }
  return collect(&fs, res, err);
}
