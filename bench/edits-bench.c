/* The edit-robustness benchmark's driver (bench/edits.sh runs it).
 *
 *   tars-edits-bench [--edits N] [--seed N] [--verbose] FILE...
 *
 * Makes N correct edits on the FILEs (renaming a word on a line, inserting a line like its
 * neighbour, deleting a line, changing two lines), writes each as a model would in each format
 * (a SEARCH/REPLACE block with one to three lines of context, a unified diff with three, the
 * whole file), wrapped in prose, fences and sometimes a reasoning section, and then perturbs the
 * answer the way models get answers wrong:
 *
 *   none         as written
 *   indentation  the quoted lines shifted: flush left, four spaces more, or tabs as spaces
 *   trailing     trailing spaces on about half the quoted lines
 *   blank-lines  a blank line of the quoted text missing, or one added
 *   quotes       ASCII quotes written as typographic ones
 *   drift        the leading context taken one or two lines too early (and a diff's line
 *                numbers off by as much)
 *   crlf         the file has CRLF line endings, the answer LF
 *   cut-off      the answer cut short inside the edit (refusing it is the right outcome)
 *
 * Each trial goes through tars_answer_parse and tars_edits_apply, and its outcome is: applied
 * correctly (the file is exactly the edit's result), refused, or misapplied (applied, but the
 * file is anything else).  Prints the shares per perturbation, per format and in total, and
 * exits 1 when anything was misapplied.  */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/answer.h"
#include "model/edits.h"
#include "model/lines.h"
#include "tars/cleanup.h"

enum perturbation
{
  P_NONE,
  P_INDENT,
  P_TRAILING,
  P_BLANK,
  P_QUOTES,
  P_DRIFT,
  P_CRLF,
  P_CUT,
  P_COUNT,
};

static const char *const p_names[] = {"none",   "indentation", "trailing", "blank-lines",
                                      "quotes", "drift",       "crlf",     "cut-off"};

enum outcome
{
  O_APPLIED,
  O_REFUSED,
  O_MISAPPLIED,
  O_COUNT,
};

static unsigned long counts[P_COUNT][3][O_COUNT];
static unsigned long mis_whitespace; /* misapplied, but only in trailing whitespace */
static unsigned long skipped[P_COUNT][3];
static bool verbose;

/* ----- randomness: xorshift64*, seeded, so that runs are repeatable ----- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t
pick(size_t n)
{
  return n ? (size_t)(rnd() % n) : 0;
}

/* ----- text as an array of lines ----- */

struct text
{
  char **v; /* each without its line ending */
  size_t n;
};

static void
text_free(struct text *t)
{
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i]);
  free(t->v);
  t->v = NULL;
  t->n = 0;
}

static void
oom(void)
{
  fprintf(stderr, "tars-edits-bench: out of memory\n");
  exit(1);
}

static char *
xstrndup(const char *s, size_t n)
{
  char *p = strndup(s, n);
  if (p == NULL)
    oom();
  return p;
}

static void
text_push(struct text *t, const char *s, size_t n)
{
  char **v = realloc(t->v, (t->n + 1) * sizeof *v);
  if (v == NULL)
    oom();
  t->v = v;
  t->v[t->n++] = xstrndup(s, n);
}

static void
text_copy(struct text *dst, const struct text *src, size_t from, size_t to)
{
  for (size_t i = from; i < to; i++)
    text_push(dst, src->v[i], strlen(src->v[i]));
}

/* The lines joined with EOL, each ended.  */
static char *
text_join(const struct text *t, const char *eol, size_t *len)
{
  struct tars_buf b = {0};
  for (size_t i = 0; i < t->n; i++)
    {
      tars_buf_adds(&b, t->v[i]);
      tars_buf_adds(&b, eol);
    }
  char *s = tars_buf_steal(&b, len, NULL);
  if (s == NULL)
    oom();
  return s;
}

static bool
blank(const char *s)
{
  return s[strspn(s, " \t")] == '\0';
}

static size_t
alnum_count(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9');
  return n;
}

/* ----- corpus ----- */

struct source
{
  const char *path; /* as given */
  const char *name; /* the path the answers use: relative, a directory per language */
  const char *lang; /* the fence's language */
  struct text lines;
  bool tabs; /* indented with tabs */
};

static void
source_free(struct source *s)
{
  free((char *)s->name);
  text_free(&s->lines);
  memset(s, 0, sizeof *s);
}

static const char *
lang_of(const char *path)
{
  const char *dot = strrchr(path, '.');
  static const char *const map[][2] = {
      {".py", "python"}, {".go", "go"},   {".c", "c"},     {".h", "c"},
      {".sh", "bash"},   {".pm", "perl"}, {".pl", "perl"},
  };
  for (size_t i = 0; dot && i < sizeof map / sizeof *map; i++)
    if (strcmp(dot, map[i][0]) == 0)
      return map[i][1];
  return "sh";
}

static bool
load(struct source *s, const char *path, size_t index)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    {
      fprintf(stderr, "tars-edits-bench: %s: %s\n", path, strerror(errno));
      return false;
    }
  struct tars_buf b = {0};
  char chunk[65536];
  size_t r;
  while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
    tars_buf_add(&b, chunk, r);
  fclose(f);
  size_t len;
  cleanup_free char *data = tars_buf_steal(&b, &len, NULL);
  if (data == NULL)
    oom();
  if (memchr(data, '\0', len) || memchr(data, '\r', len) || len > (512u << 10))
    return false;
  memset(s, 0, sizeof *s);
  s->path = path;
  s->lang = lang_of(path);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char name[512];
  snprintf(name, sizeof name, "%s/%zu-%s", s->lang, index, base);
  s->name = xstrndup(name, strlen(name));
  size_t tabs = 0, spaces = 0;
  for (const char *p = data; *p;)
    {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      text_push(&s->lines, p, n);
      tabs += p[0] == '\t';
      spaces += p[0] == ' ';
      p += n + (nl != NULL);
    }
  s->tabs = tabs > spaces;
  if (len > 0 && data[len - 1] != '\n')
    return false; /* keep the final newline question out of the comparison */
  return s->lines.n >= 20;
}

/* ----- an edit ----- */

struct edit
{
  const struct source *src;
  size_t t, k;       /* lines [t, t+k) of the file are replaced */
  struct text repl;  /* by these */
  struct text after; /* the whole file, after */
};

static void
edit_free(struct edit *e)
{
  text_free(&e->repl);
  text_free(&e->after);
}

/* LINE with one of its words (an identifier of three or more characters) renamed.  */
static char *
renamed(const char *line)
{
  size_t starts[64], lens[64], n = 0;
  for (size_t i = 0; line[i] && n < 64;)
    {
      bool id0 = (line[i] >= 'a' && line[i] <= 'z') || (line[i] >= 'A' && line[i] <= 'Z') ||
                 line[i] == '_';
      if (!id0)
        {
          i++;
          continue;
        }
      size_t j = i;
      while ((line[j] >= 'a' && line[j] <= 'z') || (line[j] >= 'A' && line[j] <= 'Z') ||
             (line[j] >= '0' && line[j] <= '9') || line[j] == '_')
        j++;
      if (j - i >= 3)
        starts[n] = i, lens[n] = j - i, n++;
      i = j;
    }
  if (n == 0)
    return NULL;
  size_t w = pick(n);
  size_t len = strlen(line);
  char *out = malloc(len + 8);
  if (out == NULL)
    oom();
  size_t e = starts[w] + lens[w];
  memcpy(out, line, e);
  memcpy(out + e, "_next", 5);
  memcpy(out + e + 5, line + e, len - e + 1);
  return out;
}

static bool
has_quote(const char *s)
{
  return strchr(s, '"') != NULL || strchr(s, '\'') != NULL;
}

/* Make a correct edit of S around a random line; false when the line chosen does not suit.  */
static bool
make_edit(const struct source *s, bool want_quotes, struct edit *e)
{
  memset(e, 0, sizeof *e);
  e->src = s;
  const struct text *L = &s->lines;
  size_t t = 4 + pick(L->n - 8);
  if (blank(L->v[t]) || alnum_count(L->v[t]) < 4 || strlen(L->v[t]) > 200)
    return false;
  if (want_quotes && !has_quote(L->v[t]))
    return false;
  e->t = t;
  int kind = (int)pick(4);
  if (kind == 0 || want_quotes)
    {
      cleanup_free char *r = renamed(L->v[t]);
      if (r == NULL)
        return false;
      e->k = 1;
      text_push(&e->repl, r, strlen(r));
    }
  else if (kind == 1)
    {
      /* A new line like its neighbour, written without trailing whitespace, as new lines are. */
      cleanup_free char *r = renamed(L->v[t]);
      if (r == NULL)
        return false;
      size_t n = strlen(r);
      while (n > 0 && (r[n - 1] == ' ' || r[n - 1] == '\t'))
        n--;
      e->k = 1;
      text_push(&e->repl, L->v[t], strlen(L->v[t]));
      text_push(&e->repl, r, n);
    }
  else if (kind == 2)
    e->k = 1;
  else
    {
      if (blank(L->v[t + 1]))
        return false;
      cleanup_free char *r1 = renamed(L->v[t]);
      cleanup_free char *r2 = renamed(L->v[t + 1]);
      if (r1 == NULL || r2 == NULL)
        return false;
      e->k = 2;
      text_push(&e->repl, r1, strlen(r1));
      text_push(&e->repl, r2, strlen(r2));
    }
  text_copy(&e->after, L, 0, t);
  text_copy(&e->after, &e->repl, 0, e->repl.n);
  text_copy(&e->after, L, t + e->k, L->n);
  return true;
}

/* How many places lines [FROM, TO) of L appear at (exactly).  */
static size_t
occurrences(const struct text *L, size_t from, size_t to)
{
  size_t m = to - from, n = 0;
  for (size_t p = 0; p + m <= L->n; p++)
    {
      size_t i = 0;
      while (i < m && strcmp(L->v[p + i], L->v[from + i]) == 0)
        i++;
      n += i == m;
    }
  return n;
}

/* ----- a quoted block: the edit with its context, as search and replacement ----- */

struct block
{
  size_t s, e; /* file lines [s, e) quoted: context, the lines replaced, context */
  struct text search, replace;
  /* As a diff: each line with its op, and the header's numbers.  */
  struct text hunk;
  size_t old_start, new_start;
};

static void
block_free(struct block *b)
{
  text_free(&b->search);
  text_free(&b->replace);
  text_free(&b->hunk);
}

static void
hunk_push(struct block *b, char op, const char *s)
{
  size_t n = strlen(s);
  char *l = malloc(n + 2);
  if (l == NULL)
    oom();
  l[0] = op;
  memcpy(l + 1, s, n + 1);
  char **v = realloc(b->hunk.v, (b->hunk.n + 1) * sizeof *v);
  if (v == NULL)
    oom();
  b->hunk.v = v;
  b->hunk.v[b->hunk.n++] = l;
}

/* Quote the edit with BEFORE and AFTER lines of context, more until the quoted lines are unique
 * in the file (as a careful model does); false when they cannot be made unique.  */
static bool
quote(const struct edit *e, size_t before, size_t after, struct block *b)
{
  const struct text *L = &e->src->lines;
  memset(b, 0, sizeof *b);
  size_t s = e->t >= before ? e->t - before : 0, end = e->t + e->k + after;
  if (end > L->n)
    end = L->n;
  for (int grow = 0; occurrences(L, s, end) > 1; grow++)
    {
      if (grow >= 12)
        return false;
      if (grow % 2 == 0 && s > 0)
        s--;
      else if (end < L->n)
        end++;
      else if (s > 0)
        s--;
      else
        return false;
    }
  b->s = s;
  b->e = end;
  text_copy(&b->search, L, s, end);
  text_copy(&b->replace, L, s, e->t);
  text_copy(&b->replace, &e->repl, 0, e->repl.n);
  text_copy(&b->replace, L, e->t + e->k, end);
  for (size_t i = s; i < e->t; i++)
    hunk_push(b, ' ', L->v[i]);
  for (size_t i = e->t; i < e->t + e->k; i++)
    hunk_push(b, '-', L->v[i]);
  for (size_t i = 0; i < e->repl.n; i++)
    hunk_push(b, '+', e->repl.v[i]);
  for (size_t i = e->t + e->k; i < end; i++)
    hunk_push(b, ' ', L->v[i]);
  b->old_start = s + 1;
  b->new_start = s + 1;
  return true;
}

/* ----- perturbations of the quoted text ----- */

static size_t
indent_of(const char *s)
{
  return strspn(s, " \t");
}

/* Apply F to every line the model wrote (search, replacement, and the hunk's text).  */
static void
each_line(struct block *b, void (*f)(char **line, void *ctx), void *ctx)
{
  for (size_t i = 0; i < b->search.n; i++)
    f(&b->search.v[i], ctx);
  for (size_t i = 0; i < b->replace.n; i++)
    f(&b->replace.v[i], ctx);
  for (size_t i = 0; i < b->hunk.n; i++)
    {
      char *t = xstrndup(b->hunk.v[i] + 1, strlen(b->hunk.v[i] + 1));
      f(&t, ctx);
      size_t n = strlen(t);
      char *l = malloc(n + 2);
      if (l == NULL)
        oom();
      l[0] = b->hunk.v[i][0];
      memcpy(l + 1, t, n + 1);
      free(t);
      free(b->hunk.v[i]);
      b->hunk.v[i] = l;
    }
}

struct indent_ctx
{
  int mode; /* 0 flush left by MIN, 1 four spaces more, 2 tabs as four spaces */
  size_t min;
};

static void
reindent(char **line, void *ctx)
{
  struct indent_ctx *c = ctx;
  char *s = *line;
  if (blank(s))
    return;
  struct tars_buf b = {0};
  if (c->mode == 0)
    tars_buf_adds(&b, s + (indent_of(s) >= c->min ? c->min : indent_of(s)));
  else if (c->mode == 1)
    {
      tars_buf_adds(&b, "    ");
      tars_buf_adds(&b, s);
    }
  else
    {
      size_t i = 0;
      for (; s[i] == '\t' || s[i] == ' '; i++)
        tars_buf_adds(&b, s[i] == '\t' ? "    " : " ");
      tars_buf_adds(&b, s + i);
    }
  free(*line);
  *line = tars_buf_steal(&b, NULL, NULL);
  if (*line == NULL)
    oom();
}

static void
add_trailing(char **line, void *ctx)
{
  if (pick(2) == 0)
    return;
  size_t n = strlen(*line);
  char *l = realloc(*line, n + 4);
  if (l == NULL)
    oom();
  size_t k = 1 + pick(3);
  memset(l + n, ' ', k);
  l[n + k] = '\0';
  *line = l;
}

static void
smart_quotes(char **line, void *ctx)
{
  struct tars_buf b = {0};
  bool open_d = true, open_s = true;
  for (const char *p = *line; *p; p++)
    {
      if (*p == '"')
        {
          tars_buf_adds(&b, open_d ? "\xe2\x80\x9c" : "\xe2\x80\x9d");
          open_d = !open_d;
        }
      else if (*p == '\'')
        {
          tars_buf_adds(&b, open_s ? "\xe2\x80\x98" : "\xe2\x80\x99");
          open_s = !open_s;
        }
      else
        tars_buf_add(&b, p, 1);
    }
  free(*line);
  *line = tars_buf_steal(&b, NULL, NULL);
  if (*line == NULL)
    oom();
}

static void
text_remove(struct text *t, size_t i)
{
  free(t->v[i]);
  memmove(t->v + i, t->v + i + 1, (t->n - i - 1) * sizeof *t->v);
  t->n--;
}

static void
text_insert(struct text *t, size_t i, const char *s)
{
  text_push(t, s, strlen(s));
  char *last = t->v[t->n - 1];
  memmove(t->v + i + 1, t->v + i, (t->n - 1 - i) * sizeof *t->v);
  t->v[i] = last;
}

/* A blank context line of the block removed from the three forms, or an extra one added to a
 * context position: the leading context when there is one.  */
static bool
perturb_blank(const struct edit *e, struct block *b)
{
  size_t lead = e->t - b->s;
  for (size_t i = 0; i < lead; i++)
    if (blank(b->search.v[i]))
      {
        text_remove(&b->search, i);
        text_remove(&b->replace, i);
        text_remove(&b->hunk, i);
        return true;
      }
  size_t tail = b->e - (e->t + e->k);
  for (size_t j = 0; j < tail; j++)
    {
      size_t si = b->search.n - 1 - j, ri = b->replace.n - 1 - j, hi = b->hunk.n - 1 - j;
      if (blank(b->search.v[si]))
        {
          text_remove(&b->search, si);
          text_remove(&b->replace, ri);
          text_remove(&b->hunk, hi);
          return true;
        }
    }
  if (lead == 0)
    return false;
  size_t at = pick(lead) + 1;
  if (at > lead)
    at = lead;
  text_insert(&b->search, at, "");
  text_insert(&b->replace, at, "");
  text_insert(&b->hunk, at, " ");
  return true;
}

/* The leading context taken SHIFT lines too early: the lines next to the change are missing
 * from the block, which quotes lines further up instead.  */
static bool
perturb_drift(const struct edit *e, struct block *b, size_t shift)
{
  const struct text *L = &e->src->lines;
  size_t lead = e->t - b->s;
  if (lead == 0 || b->s < shift)
    return false;
  for (size_t i = 0; i < lead; i++)
    {
      const char *l = L->v[b->s - shift + i];
      free(b->search.v[i]);
      b->search.v[i] = xstrndup(l, strlen(l));
      free(b->replace.v[i]);
      b->replace.v[i] = xstrndup(l, strlen(l));
      free(b->hunk.v[i]);
      b->hunk.v[i] = NULL;
      char *h = malloc(strlen(l) + 2);
      if (h == NULL)
        oom();
      h[0] = ' ';
      strcpy(h + 1, l);
      b->hunk.v[i] = h;
    }
  b->old_start -= shift;
  b->new_start -= shift;
  return true;
}

/* ----- answers ----- */

static void
add_lines(struct tars_buf *a, const struct text *t)
{
  for (size_t i = 0; i < t->n; i++)
    {
      tars_buf_adds(a, t->v[i]);
      tars_buf_adds(a, "\n");
    }
}

static void
open_wrapper(struct tars_buf *a, const struct edit *e, int style, const char *lang)
{
  if (style == 3)
    tars_buf_adds(a, "<think>\nThe change is small; I will quote a few lines around it.\n"
                     "</think>\n");
  tars_buf_adds(a, "Here is the change.\n\n");
  if (style == 1)
    tars_buf_addf(a, "`%s`\n", e->src->name);
  else if (style == 2)
    tars_buf_addf(a, "**%s**\n", e->src->name);
  else
    tars_buf_addf(a, "%s\n", e->src->name);
  if (style != 4)
    tars_buf_addf(a, "```%s\n", style == 1 ? "" : lang);
}

/* The answer in FORMAT; *CUT_FROM and *CUT_TO bound where a cut falls inside the edit.  */
static char *
answer(const struct edit *e, const struct block *b, enum tars_edit_format format, size_t *cut_from,
       size_t *cut_to)
{
  struct tars_buf a = {0};
  int style = (int)pick(5);
  if (format == TARS_EDIT_FORMAT_WHOLE_FILE && style == 4)
    style = 0;
  if (format == TARS_EDIT_FORMAT_UNIFIED_DIFF)
    {
      if (style == 3)
        tars_buf_adds(&a, "<think>\nA small diff will do.\n</think>\n");
      tars_buf_adds(&a, "Here is the diff.\n\n");
      if (style != 4)
        tars_buf_adds(&a, "```diff\n");
      tars_buf_addf(&a, "--- a/%s\n+++ b/%s\n", e->src->name, e->src->name);
      size_t old_n = 0, new_n = 0;
      for (size_t i = 0; i < b->hunk.n; i++)
        {
          old_n += b->hunk.v[i][0] != '+';
          new_n += b->hunk.v[i][0] != '-';
        }
      *cut_from = a.len;
      if (style == 2)
        tars_buf_adds(&a, "@@ ... @@\n");
      else
        tars_buf_addf(&a, "@@ -%zu,%zu +%zu,%zu @@\n", b->old_start, old_n, b->new_start, new_n);
      add_lines(&a, &b->hunk);
      *cut_to = a.len - 1;
      if (style != 4)
        tars_buf_adds(&a, "```\n");
    }
  else if (format == TARS_EDIT_FORMAT_SEARCH_REPLACE)
    {
      open_wrapper(&a, e, style, e->src->lang);
      *cut_from = a.len;
      tars_buf_adds(&a, "<<<<<<< SEARCH\n");
      add_lines(&a, &b->search);
      tars_buf_adds(&a, "=======\n");
      add_lines(&a, &b->replace);
      *cut_to = a.len;
      tars_buf_adds(&a, ">>>>>>> REPLACE\n");
      if (style != 4)
        tars_buf_adds(&a, "```\n");
    }
  else
    {
      open_wrapper(&a, e, style, e->src->lang);
      *cut_from = a.len;
      add_lines(&a, &e->after);
      *cut_to = a.len;
      tars_buf_adds(&a, "```\n");
    }
  tars_buf_adds(&a, "\nThat should do it.\n");
  char *s = tars_buf_steal(&a, NULL, NULL);
  if (s == NULL)
    oom();
  return s;
}

/* Whether A and B differ at most in the trailing whitespace of their lines.  */
static bool
same_but_trailing(const char *a, const char *b)
{
  for (;;)
    {
      size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
      size_t ta = na, tb = nb;
      while (ta > 0 && (a[ta - 1] == ' ' || a[ta - 1] == '\t' || a[ta - 1] == '\r'))
        ta--;
      while (tb > 0 && (b[tb - 1] == ' ' || b[tb - 1] == '\t' || b[tb - 1] == '\r'))
        tb--;
      if (ta != tb || memcmp(a, b, ta) != 0)
        return false;
      if (a[na] == '\0' || b[nb] == '\0')
        return a[na] == b[nb];
      a += na + 1;
      b += nb + 1;
    }
}

/* ----- one trial ----- */

static enum outcome
trial(const struct edit *e, const struct block *b0, enum tars_edit_format format,
      enum perturbation p, bool *skip)
{
  struct block b = *b0;
  memset(&b.search, 0, sizeof b.search);
  memset(&b.replace, 0, sizeof b.replace);
  memset(&b.hunk, 0, sizeof b.hunk);
  text_copy(&b.search, &b0->search, 0, b0->search.n);
  text_copy(&b.replace, &b0->replace, 0, b0->replace.n);
  text_copy(&b.hunk, &b0->hunk, 0, b0->hunk.n);
  *skip = false;

  bool whole = format == TARS_EDIT_FORMAT_WHOLE_FILE;
  switch (p)
    {
    case P_INDENT:
    case P_TRAILING:
    case P_BLANK:
    case P_QUOTES:
    case P_DRIFT:
      if (whole)
        *skip = true; /* a whole file has nothing to match: these change its content */
      break;
    default:
      break;
    }
  if (!*skip && p == P_INDENT)
    {
      struct indent_ctx c = {.min = SIZE_MAX};
      for (size_t i = 0; i < b.search.n; i++)
        if (!blank(b.search.v[i]) && indent_of(b.search.v[i]) < c.min)
          c.min = indent_of(b.search.v[i]);
      for (size_t i = 0; i < b.replace.n; i++)
        if (!blank(b.replace.v[i]) && indent_of(b.replace.v[i]) < c.min)
          c.min = indent_of(b.replace.v[i]);
      int modes[3], n = 0;
      if (c.min > 0 && c.min != SIZE_MAX)
        modes[n++] = 0;
      modes[n++] = 1;
      if (e->src->tabs)
        modes[n++] = 2;
      c.mode = modes[pick((size_t)n)];
      each_line(&b, reindent, &c);
    }
  else if (!*skip && p == P_TRAILING)
    each_line(&b, add_trailing, NULL);
  else if (!*skip && p == P_QUOTES)
    each_line(&b, smart_quotes, NULL);
  else if (!*skip && p == P_BLANK)
    *skip = !perturb_blank(e, &b);
  else if (!*skip && p == P_DRIFT)
    *skip = !perturb_drift(e, &b, 1 + pick(2));
  if (*skip)
    {
      block_free(&b);
      return O_REFUSED;
    }

  size_t cut_from = 0, cut_to = 0;
  cleanup_free char *ans = answer(e, &b, format, &cut_from, &cut_to);
  block_free(&b);
  size_t alen = strlen(ans);
  if (p == P_CUT)
    {
      if (cut_to <= cut_from + 1)
        {
          *skip = true;
          return O_REFUSED;
        }
      alen = cut_from + 1 + pick(cut_to - cut_from - 1);
      ans[alen] = '\0';
    }

  const char *eol = p == P_CRLF ? "\r\n" : "\n";
  size_t flen, wlen;
  cleanup_free char *content = text_join(&e->src->lines, eol, &flen);
  cleanup_free char *want = text_join(&e->after, eol, &wlen);
  struct tars_edit_file files[] = {{e->src->name, content, flen}};
  struct tars_edit_files fs = {files, 1};
  struct tars_answer_options opts = {.format = format};
  cleanup_edits struct tars_edits edits = {0};
  struct tars_error err = {0};
  enum outcome o;
  const char *why = NULL;
  cleanup_edit_result struct tars_edit_result res = {0};
  if (tars_answer_parse(ans, alen, &opts, &edits, &err) < 0)
    {
      o = O_REFUSED;
      why = err.msg;
    }
  else if (tars_edits_apply(&edits, tars_edit_read_files, &fs, &res, &err) < 0)
    {
      o = O_REFUSED;
      why = res.feedback ? res.feedback : err.msg;
    }
  else if (res.n_files == 1 && res.files[0].len == wlen &&
           memcmp(res.files[0].content, want, wlen) == 0)
    o = O_APPLIED;
  else
    {
      o = O_MISAPPLIED;
      if (res.n_files == 1 && same_but_trailing(res.files[0].content, want))
        mis_whitespace++;
    }

  if (verbose && (o == O_MISAPPLIED || (o == O_REFUSED && p != P_CUT)))
    {
      printf("==== %s, %s, %s: %s:%zu (%s)\n", o == O_MISAPPLIED ? "MISAPPLIED" : "refused",
             tars_edit_format_name(format), p_names[p], e->src->path, e->t + 1, e->src->name);
      printf("%s\n", ans);
      if (why)
        printf("---- why:\n%s\n", why);
      if (o == O_MISAPPLIED && res.n_files == 1)
        printf("---- got:\n%s\n---- want:\n%s\n", res.files[0].content, want);
    }
  return o;
}

static int
usage(FILE *f, int status)
{
  fprintf(f, "usage: tars-edits-bench [--edits N] [--seed N] [--verbose] FILE...\n");
  return status;
}

int
main(int argc, char **argv)
{
  size_t n_edits = 300;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (strcmp(argv[i], "--edits") == 0 && i + 1 < argc)
        n_edits = strtoul(argv[++i], NULL, 10);
      else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
        rng_state ^= strtoull(argv[++i], NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
      else if (strcmp(argv[i], "--verbose") == 0)
        verbose = true;
      else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
        return usage(stdout, 0);
      else
        return usage(stderr, 2);
    }
  if (i == argc || n_edits == 0)
    return usage(stderr, 2);

  size_t n_src = 0;
  struct source *src = calloc((size_t)(argc - i), sizeof *src);
  if (src == NULL)
    oom();
  for (; i < argc; i++)
    if (load(&src[n_src], argv[i], n_src))
      n_src++;
    else
      source_free(&src[n_src]);
  if (n_src == 0)
    {
      fprintf(stderr, "tars-edits-bench: no usable file (text, 20 lines or more, LF endings)\n");
      return 2;
    }

  size_t made = 0, attempts = 0;
  while (made < n_edits)
    {
      if (++attempts > n_edits * 1000)
        {
          fprintf(stderr, "tars-edits-bench: could only make %zu edits\n", made);
          break;
        }
      const struct source *s = &src[made % n_src];
      struct edit e;
      bool quotes = (made % 3) == 0;
      if (!make_edit(s, quotes, &e))
        {
          edit_free(&e);
          if (!quotes || attempts % 50 != 0)
            continue;
          if (!make_edit(s, false, &e))
            {
              edit_free(&e);
              continue;
            }
        }
      struct block b;
      if (!quote(&e, 1 + pick(3), 1 + pick(3), &b))
        {
          block_free(&b);
          edit_free(&e);
          continue;
        }
      /* The diff's hunk has three lines of context, unique as well.  */
      struct block h;
      if (!quote(&e, 3, 3, &h))
        {
          block_free(&h);
          block_free(&b);
          edit_free(&e);
          continue;
        }
      made++;
      for (int p = 0; p < P_COUNT; p++)
        for (int f = 0; f < 3; f++)
          {
            bool skip;
            const struct block *q = f == TARS_EDIT_FORMAT_UNIFIED_DIFF ? &h : &b;
            if (p == P_QUOTES && !has_quote(e.src->lines.v[e.t]))
              {
                skipped[p][f]++;
                continue;
              }
            enum outcome o = trial(&e, q, (enum tars_edit_format)f, (enum perturbation)p, &skip);
            if (skip)
              skipped[p][f]++;
            else
              counts[p][f][o]++;
          }
      block_free(&h);
      block_free(&b);
      edit_free(&e);
    }

  printf("edit robustness: %zu edits on %zu files, each in 3 formats and %d ways of getting it "
         "wrong\n\n",
         made, n_src, P_COUNT - 1);
  printf("%-13s %-15s %7s %9s %9s %11s\n", "perturbation", "format", "trials", "applied", "refused",
         "misapplied");
  unsigned long tot[O_COUNT] = {0}, cut[O_COUNT] = {0}, fmt[3][O_COUNT] = {{0}};
  for (int p = 0; p < P_COUNT; p++)
    for (int f = 0; f < 3; f++)
      {
        unsigned long *c = counts[p][f], n = c[0] + c[1] + c[2];
        if (n == 0)
          continue;
        printf("%-13s %-15s %7lu %8.1f%% %8.1f%% %10.1f%%\n", f == 0 ? p_names[p] : "",
               tars_edit_format_name((enum tars_edit_format)f), n, 100.0 * c[0] / n,
               100.0 * c[1] / n, 100.0 * c[2] / n);
        for (int o = 0; o < O_COUNT; o++)
          {
            if (p == P_CUT)
              cut[o] += c[o];
            else
              {
                tot[o] += c[o];
                fmt[f][o] += c[o];
              }
          }
      }
  printf("\n");
  for (int f = 0; f < 3; f++)
    {
      unsigned long *c = fmt[f], n = c[0] + c[1] + c[2];
      if (n)
        printf("%-13s %-15s %7lu %8.1f%% %8.1f%% %10.1f%%\n", f == 0 ? "all but cut" : "",
               tars_edit_format_name((enum tars_edit_format)f), n, 100.0 * c[0] / n,
               100.0 * c[1] / n, 100.0 * c[2] / n);
    }
  unsigned long n = tot[0] + tot[1] + tot[2], nc = cut[0] + cut[1] + cut[2];
  double applied = n ? 100.0 * tot[0] / n : 0, misapplied = n ? 100.0 * tot[2] / n : 0;
  printf("\ntotal: %lu trials: %.1f%% applied correctly, %.1f%% refused, %.2f%% misapplied "
         "(%lu",
         n, applied, n ? 100.0 * tot[1] / n : 0, misapplied, tot[2]);
  if (mis_whitespace)
    printf(", %lu of them only in trailing whitespace", mis_whitespace);
  printf(")\n");
  if (nc)
    printf("cut-off answers: %lu trials: %.1f%% refused (right), %.1f%% misapplied (%lu)\n", nc,
           100.0 * (cut[1] + cut[0]) / nc, 100.0 * cut[2] / nc, cut[2]);
  for (size_t k = 0; k < n_src; k++)
    source_free(&src[k]);
  free(src);
  bool met = applied >= 95.0 && tot[2] == 0 && cut[2] == 0;
  printf("%s (applied correctly >= 95%%, misapplied 0)\n", met ? "target met" : "target missed");
  return tot[2] + cut[2] > 0 ? 1 : 0;
}
