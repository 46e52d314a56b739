#include "model/answer.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/lines.h"
#include "tars/cleanup.h"

/* ----- reasoning ----- */

static const char *const reasoning_tags[][2] = {
    {"<think>", "</think>"},
    {"<thinking>", "</thinking>"},
    {"<reasoning>", "</reasoning>"},
};
#define N_TAGS (sizeof reasoning_tags / sizeof *reasoning_tags)

static const char *
find_ci(const char *s, size_t len, const char *needle)
{
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (strncasecmp(s + i, needle, n) == 0)
      return s + i;
  return NULL;
}

/* Whether S (LEN bytes) holds a line that starts a fence or a SEARCH block: an edit, not
 * reasoning.  */
static bool
holds_edit_start(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (i == 0 || s[i - 1] == '\n')
      {
        size_t j = i;
        while (j < len && (s[j] == ' ' || s[j] == '\t'))
          j++;
        if (len - j >= 3 && (memcmp(s + j, "```", 3) == 0 || memcmp(s + j, "~~~", 3) == 0 ||
                             (len - j >= 5 && memcmp(s + j, "<<<<<", 5) == 0)))
          return true;
      }
  return false;
}

size_t
tars_answer_reasoning_end(const char *answer, size_t len, bool *unclosed)
{
  *unclosed = false;
  size_t pos = 0;
  for (;;)
    {
      size_t p = pos;
      while (p < len && isspace((unsigned char)answer[p]))
        p++;
      bool found = false;
      for (size_t t = 0; t < N_TAGS && !found; t++)
        {
          size_t on = strlen(reasoning_tags[t][0]);
          if (len - p >= on && strncasecmp(answer + p, reasoning_tags[t][0], on) == 0)
            {
              const char *close = find_ci(answer + p + on, len - p - on, reasoning_tags[t][1]);
              if (close == NULL)
                {
                  *unclosed = true;
                  return len;
                }
              pos = (size_t)(close - answer) + strlen(reasoning_tags[t][1]);
              found = true;
            }
        }
      if (!found)
        break;
    }
  if (pos > 0)
    return pos;
  /* A chat template may open the section itself, so that the answer starts inside it and only
   * closes it; not when an edit comes first (a file may well hold "</think>").  */
  for (size_t t = 0; t < N_TAGS; t++)
    {
      const char *close = find_ci(answer, len, reasoning_tags[t][1]);
      if (close != NULL && !holds_edit_start(answer, (size_t)(close - answer)) &&
          find_ci(answer, (size_t)(close - answer), reasoning_tags[t][0]) == NULL)
        return (size_t)(close - answer) + strlen(reasoning_tags[t][1]);
    }
  return 0;
}

/* ----- lines ----- */

struct answer
{
  struct tars_lines l;
  unsigned base; /* answer lines before the part parsed (the reasoning) */
  const struct tars_answer_options *opts;
  struct tars_edits *out;
};

static unsigned
line_no(const struct answer *a, size_t i)
{
  return a->base + (unsigned)i + 1;
}

static void
trim(const char **s, size_t *n)
{
  while (*n > 0 && isspace((unsigned char)**s))
    (*s)++, (*n)--;
  while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
    (*n)--;
}

static bool
blank(const struct tars_line *l)
{
  const char *s = l->s;
  size_t n = l->len;
  trim(&s, &n);
  return n == 0;
}

/* "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE": 5 to 9 of CH, then WORD (or nothing).  */
static bool
is_marker(const struct tars_line *l, char ch, const char *word)
{
  const char *s = l->s;
  size_t n = l->len;
  trim(&s, &n);
  size_t k = 0;
  while (k < n && s[k] == ch)
    k++;
  if (k < 5 || k > 9)
    return false;
  s += k, n -= k;
  trim(&s, &n);
  if (word == NULL)
    return n == 0;
  return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

static bool
is_head(const struct tars_line *l)
{
  return is_marker(l, '<', "SEARCH");
}

static bool
is_divider(const struct tars_line *l)
{
  return is_marker(l, '=', NULL);
}

static bool
is_updated(const struct tars_line *l)
{
  return is_marker(l, '>', "REPLACE");
}

struct fence
{
  char ch;
  size_t len;
  const char *info;
  size_t info_len;
};

/* A line opening (or closing) a fenced block: three or more backticks or tildes, then an info
 * string.  Indentation is allowed: models nest fences in lists.  */
static bool
fence_at(const struct tars_line *l, struct fence *f)
{
  const char *s = l->s;
  size_t n = l->len;
  trim(&s, &n);
  if (n < 3 || (s[0] != '`' && s[0] != '~'))
    return false;
  size_t k = 0;
  while (k < n && s[k] == s[0])
    k++;
  if (k < 3)
    return false;
  f->ch = s[0];
  f->len = k;
  f->info = s + k;
  f->info_len = n - k;
  trim(&f->info, &f->info_len);
  if (f->ch == '`' && memchr(f->info, '`', f->info_len) != NULL)
    return false;
  return true;
}

static bool
fence_closes(const struct tars_line *l, const struct fence *open)
{
  struct fence f;
  return fence_at(l, &f) && f.ch == open->ch && f.len >= open->len && f.info_len == 0;
}

/* ----- paths ----- */

static bool
known_bare_name(const char *s, size_t n)
{
  static const char *const names[] = {
      "Makefile", "makefile",    "GNUmakefile", "Dockerfile", "Containerfile", "Rakefile",
      "Gemfile",  "Jenkinsfile", "Vagrantfile", "Procfile",   "LICENSE",       "COPYING",
      "README",   "NEWS",        "ChangeLog",   "AUTHORS",
  };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
      return true;
  return false;
}

/* Whether the word S looks like a file's path: no spaces or markup, and a directory, an
 * extension or a well-known name.  Whether it is an acceptable path is tars_path_problem's
 * business, later: "../x" and "/etc/passwd" look like paths, and are refused as such.  */
static bool
path_like(const char *s, size_t n, const char *default_path)
{
  if (n == 0 || n >= PATH_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (isspace((unsigned char)s[i]) || strchr("`*<>|\"'(),;[]{}=", s[i]) != NULL)
      return false;
  if (s[n - 1] == '.' || s[n - 1] == ':')
    return false;
  if ((n >= 5 && strncasecmp(s, "http:", 5) == 0) || (n >= 6 && strncasecmp(s, "https:", 6) == 0))
    return false;
  if (s[0] == '-' || s[0] == '+' || s[0] == '@')
    return false;
  if (default_path && strlen(default_path) == n && memcmp(default_path, s, n) == 0)
    return true;
  if (memchr(s, '/', n) != NULL)
    return true;
  const char *dot = memrchr(s, '.', n);
  if (dot != NULL && dot < s + n - 1 && isalnum((unsigned char)dot[1]))
    return true;
  return known_bare_name(s, n);
}

static char *
path_dup(const char *s, size_t n)
{
  while (n >= 2 && s[0] == '.' && s[1] == '/')
    s += 2, n -= 2;
  return strndup(s, n);
}

static bool
strip_prefix_ci(const char **s, size_t *n, const char *p)
{
  size_t k = strlen(p);
  if (*n >= k && strncasecmp(*s, p, k) == 0)
    {
      *s += k, *n -= k;
      return true;
    }
  return false;
}

/* The path a line names, as models write it before a block: "src/x.c", "`src/x.c`",
 * "**src/x.c**", "### src/x.c", "File: src/x.c", "Update `src/x.c`:", "Changes to src/x.c:".
 * NULL when the line names none (prose).  */
static char *
path_in_line(const struct tars_line *l, const char *default_path)
{
  const char *s = l->s;
  size_t n = l->len;
  trim(&s, &n);
  if (n == 0)
    return NULL;

  /* One path in backticks.  */
  const char *found = NULL;
  size_t found_n = 0, spans = 0;
  for (const char *p = s; (p = memchr(p, '`', (size_t)(s + n - p))) != NULL;)
    {
      const char *q = memchr(p + 1, '`', (size_t)(s + n - p - 1));
      if (q == NULL)
        break;
      spans++;
      if (path_like(p + 1, (size_t)(q - p - 1), default_path))
        {
          if (found)
            return NULL; /* two paths: which one? */
          found = p + 1, found_n = (size_t)(q - p - 1);
        }
      p = q + 1;
    }
  if (found)
    return path_dup(found, found_n);
  if (spans > 0 && n > 2 && s[0] == '`' && s[n - 1] == '`')
    return NULL;

  /* Decoration around a bare path.  */
  char buf[PATH_MAX + 64];
  if (n >= sizeof buf)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != '*' && s[i] != '`')
      buf[k++] = s[i];
  const char *t = buf;
  size_t m = k;
  trim(&t, &m);
  while (m > 0 && *t == '#')
    t++, m--;
  trim(&t, &m);
  if (strip_prefix_ci(&t, &m, "filename:") || strip_prefix_ci(&t, &m, "file:") ||
      strip_prefix_ci(&t, &m, "path:"))
    trim(&t, &m);
  bool colon = m > 0 && t[m - 1] == ':';
  while (m > 0 && (t[m - 1] == ':' || t[m - 1] == ' '))
    m--;
  if (m >= 2 && (t[0] == '"' || t[0] == '\'') && t[m - 1] == t[0])
    t++, m -= 2;
  if (path_like(t, m, default_path))
    return path_dup(t, m);
  /* "Changes to src/x.c:": the last word, when the line introduces what follows.  */
  if (colon)
    {
      const char *w = t + m;
      while (w > t && !isspace((unsigned char)w[-1]))
        w--;
      size_t wn = (size_t)(t + m - w);
      if (wn < m && path_like(w, wn, default_path) &&
          (memchr(w, '/', wn) != NULL || memchr(w, '.', wn) != NULL))
        return path_dup(w, wn);
    }
  return NULL;
}

/* The path in a fence's info string: "```python:src/x.py", "```src/x.py", "```c title=x.c".  */
static char *
path_in_info(const struct fence *f, const char *default_path)
{
  const char *s = f->info, *end = f->info + f->info_len;
  while (s < end)
    {
      while (s < end && isspace((unsigned char)*s))
        s++;
      const char *w = s;
      while (s < end && !isspace((unsigned char)*s))
        s++;
      const char *p = w;
      size_t n = (size_t)(s - w);
      const char *colon = memchr(p, ':', n);
      if (colon)
        n -= (size_t)(colon + 1 - p), p = colon + 1;
      const char *eq = memchr(p, '=', n);
      if (eq)
        n -= (size_t)(eq + 1 - p), p = eq + 1;
      if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0])
        p++, n -= 2;
      if (n > 0 && path_like(p, n, default_path) &&
          (memchr(p, '/', n) != NULL || memchr(p, '.', n) != NULL ||
           (default_path && strlen(default_path) == n && memcmp(p, default_path, n) == 0)))
        return path_dup(p, n);
    }
  return NULL;
}

/* ----- building edits ----- */

static int
add_edit(struct answer *a, struct tars_edit *e, struct tars_error *err)
{
  struct tars_edit *v = realloc(a->out->v, (a->out->n + 1) * sizeof *v);
  if (v == NULL)
    return tars_error_set(err, ENOMEM, "cannot keep the edits of an answer");
  a->out->v = v;
  v[a->out->n++] = *e;
  memset(e, 0, sizeof *e);
  return 0;
}

/* Lines [FROM, TO) of the answer as a text, each line ending with '\n'.  */
static char *
text_of(const struct answer *a, size_t from, size_t to, struct tars_error *err)
{
  struct tars_buf b = {0};
  for (size_t i = from; i < to; i++)
    {
      tars_buf_add(&b, a->l.v[i].s, a->l.v[i].len);
      tars_buf_add(&b, "\n", 1);
    }
  return tars_buf_steal(&b, NULL, err);
}

/* ----- search-replace ----- */

/* The path of the block whose head is line I: on the nearest line before it that is not blank
 * and not a fence (at most three lines back), or in a fence's info string.  */
static char *
block_path(const struct answer *a, size_t i)
{
  const char *dp = a->opts->default_path;
  for (size_t back = 1; back <= 3 && back <= i; back++)
    {
      const struct tars_line *l = &a->l.v[i - back];
      struct fence f;
      if (blank(l))
        continue;
      if (fence_at(l, &f))
        {
          char *p = path_in_info(&f, dp);
          if (p)
            return p;
          continue;
        }
      return path_in_line(l, dp);
    }
  return NULL;
}

/* Lines [FROM, TO) without a fence wrapped around them inside the section.  */
static void
unwrap(const struct answer *a, size_t *from, size_t *to)
{
  struct fence f;
  if (*to - *from >= 2 && fence_at(&a->l.v[*from], &f) && fence_closes(&a->l.v[*to - 1], &f))
    {
      (*from)++;
      (*to)--;
    }
}

static int
parse_search_replace(struct answer *a, bool *consumed, struct tars_error *err)
{
  const struct tars_lines *L = &a->l;
  cleanup_free char *cur = NULL;
  for (size_t i = 0; i < L->n; i++)
    {
      if (!is_head(&L->v[i]))
        continue;
      size_t head = i;
      char *p = block_path(a, head);
      if (p == NULL && cur)
        p = strdup(cur);
      if (p == NULL && a->opts->default_path)
        p = strdup(a->opts->default_path);
      if (p == NULL)
        return tars_error_invalid(err,
                                  "answer line %u: the SEARCH/REPLACE block names no file: put "
                                  "the file's path alone on the line before it",
                                  line_no(a, head));
      free(cur);
      cur = p;

      size_t j = head + 1;
      while (j < L->n && !is_divider(&L->v[j]))
        {
          if (is_head(&L->v[j]) || is_updated(&L->v[j]))
            return tars_error_invalid(err,
                                      "answer line %u: the SEARCH/REPLACE block has no "
                                      "\"=======\" line between its SEARCH and REPLACE sections",
                                      line_no(a, head));
          j++;
        }
      if (j == L->n)
        return tars_error_invalid(err,
                                  "answer line %u: the SEARCH/REPLACE block is not finished (no "
                                  "\"=======\" line): the answer seems cut off",
                                  line_no(a, head));
      size_t div = j++;
      while (j < L->n && !is_updated(&L->v[j]))
        {
          if (is_head(&L->v[j]))
            return tars_error_invalid(err,
                                      "answer line %u: the SEARCH/REPLACE block is not finished "
                                      "(no \">>>>>>> REPLACE\" line before the next block)",
                                      line_no(a, head));
          j++;
        }
      if (j == L->n)
        return tars_error_invalid(err,
                                  "answer line %u: the SEARCH/REPLACE block is not finished (no "
                                  "\">>>>>>> REPLACE\" line): the answer seems cut off",
                                  line_no(a, head));
      size_t s0 = head + 1, s1 = div, r0 = div + 1, r1 = j;
      unwrap(a, &s0, &s1);
      unwrap(a, &r0, &r1);
      struct tars_edit e = {.kind = TARS_EDIT_SEARCH_REPLACE, .answer_line = line_no(a, head)};
      e.path = strdup(cur);
      e.search = text_of(a, s0, s1, err);
      e.replace = text_of(a, r0, r1, err);
      if (e.path == NULL || e.search == NULL || e.replace == NULL)
        {
          tars_edit_free(&e);
          return tars_error_set(err, ENOMEM, "cannot keep a SEARCH/REPLACE block");
        }
      if (add_edit(a, &e, err) < 0)
        {
          tars_edit_free(&e);
          return -1;
        }
      for (size_t k = head; k <= j; k++)
        consumed[k] = true;
      i = j;
    }
  return 0;
}

/* ----- unified diff ----- */

static bool
starts(const struct tars_line *l, const char *p)
{
  size_t n = strlen(p);
  return l->len >= n && memcmp(l->s, p, n) == 0;
}

static bool
file_header_at(const struct tars_lines *L, size_t i)
{
  return i + 1 < L->n && starts(&L->v[i], "--- ") && starts(&L->v[i + 1], "+++ ");
}

/* The path of a "--- " or "+++ " line: up to a tab (diff's timestamp), unquoted.  */
static char *
diff_path(const struct tars_line *l)
{
  const char *s = l->s + 4;
  size_t n = l->len - 4;
  const char *tab = memchr(s, '\t', n);
  if (tab)
    n = (size_t)(tab - s);
  trim(&s, &n);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
    s++, n -= 2;
  return path_dup(s, n);
}

static bool
is_dev_null(const char *p)
{
  return strcmp(p, "/dev/null") == 0;
}

/* The number at S (up to END), its end in *AFTER; lines point into the answer, which need not be
 * NUL-terminated, so no strtoul.  */
static unsigned long
number_at(const char *s, const char *end, const char **after)
{
  unsigned long v = 0;
  for (; s < end && isdigit((unsigned char)*s); s++)
    v = v > (ULONG_MAX - 9) / 10 ? ULONG_MAX : v * 10 + (unsigned long)(*s - '0');
  *after = s;
  return v;
}

static unsigned
hunk_old_start(const struct tars_line *l)
{
  const char *s = l->s, *end = l->s + l->len;
  for (; s < end; s++)
    if (*s == '-' && s + 1 < end && isdigit((unsigned char)s[1]))
      {
        unsigned long v = number_at(s + 1, end, &s);
        return v > UINT_MAX ? 0 : (unsigned)v;
      }
  return 0;
}

struct diff_file
{
  char *path;
  bool create, remove;
  unsigned line;
  struct tars_buf content;      /* create: the added lines */
  struct tars_hunk_line *lines; /* remove: the removed lines */
  size_t n_lines;
  bool any;
};

static void
diff_file_free(struct diff_file *d)
{
  free(d->path);
  tars_buf_free(&d->content);
  for (size_t i = 0; i < d->n_lines; i++)
    free(d->lines[i].text);
  free(d->lines);
  memset(d, 0, sizeof *d);
}

static int
hunk_lines_add(struct tars_hunk_line **v, size_t *n, char op, const struct tars_line *l,
               size_t skip)
{
  struct tars_hunk_line *nv = realloc(*v, (*n + 1) * sizeof *nv);
  if (nv == NULL)
    return -1;
  *v = nv;
  nv[*n].op = op;
  nv[*n].text = strndup(l->s + skip, l->len - skip);
  if (nv[*n].text == NULL)
    return -1;
  (*n)++;
  return 0;
}

/* Turn the file D was collecting (a creation or a deletion) into its edit.  */
static int
diff_file_flush(struct answer *a, struct diff_file *d, struct tars_error *err)
{
  if (d->path == NULL || !(d->create || d->remove))
    {
      diff_file_free(d);
      return 0;
    }
  struct tars_edit e = {.answer_line = d->line};
  e.path = steal_pointer(&d->path);
  if (d->create)
    {
      e.kind = TARS_EDIT_CREATE;
      e.content = tars_buf_steal(&d->content, NULL, err);
      if (e.content == NULL)
        {
          tars_edit_free(&e);
          diff_file_free(d);
          return -1;
        }
    }
  else
    {
      e.kind = TARS_EDIT_DELETE;
      e.lines = steal_pointer(&d->lines);
      e.n_lines = d->n_lines;
      d->n_lines = 0;
    }
  diff_file_free(d);
  if (add_edit(a, &e, err) < 0)
    {
      tars_edit_free(&e);
      return -1;
    }
  return 0;
}

/* The end of the hunk body starting at line I: the next header, a fence, a line that is not a
 * diff line; trailing empty lines (the blank line before prose) are not part of it.  */
static size_t
hunk_end(const struct tars_lines *L, size_t i)
{
  size_t j = i;
  struct fence f;
  for (; j < L->n; j++)
    {
      const struct tars_line *l = &L->v[j];
      if (starts(l, "@@") || file_header_at(L, j) || starts(l, "diff --git ") ||
          starts(l, "index ") || fence_at(l, &f))
        break;
      if (l->len == 0 || l->s[0] == ' ' || l->s[0] == '-' || l->s[0] == '+' || l->s[0] == '\\')
        continue;
      break;
    }
  while (j > i && L->v[j - 1].len == 0)
    j--;
  return j;
}

/* "@@ -A,B +C,D @@": the counts B and D (1 when a side gives none); false when the header has
 * no line numbers.  */
static bool
hunk_counts(const struct tars_line *l, unsigned long *old_n, unsigned long *new_n)
{
  const char *s = l->s, *end = l->s + l->len;
  const char *minus = NULL, *plus = NULL;
  for (const char *p = s + 2; p < end; p++)
    {
      if (*p == '-' && !minus && p + 1 < end && isdigit((unsigned char)p[1]))
        minus = p;
      else if (*p == '+' && minus && !plus && p + 1 < end && isdigit((unsigned char)p[1]))
        plus = p;
    }
  if (!minus || !plus)
    return false;
  const char *q;
  number_at(minus + 1, end, &q);
  *old_n = q < end && *q == ',' ? number_at(q + 1, end, &q) : 1;
  number_at(plus + 1, end, &q);
  *new_n = q < end && *q == ',' ? number_at(q + 1, end, &q) : 1;
  return true;
}

/* A hunk that ends the answer inside an open code block, or short of both the counts its header
 * gives, was cut off: applying what is left would make half the change.  Counts are not trusted
 * otherwise (models get them wrong), so a hunk followed by anything is taken as it is.  */
static bool
truncated(const struct answer *a, const struct tars_line *hdr, size_t from, size_t end,
          bool in_fence)
{
  const struct tars_lines *L = &a->l;
  for (size_t j = end; j < L->n; j++)
    if (!blank(&L->v[j]))
      return false;
  if (in_fence)
    return true;
  unsigned long old_n, new_n, old_b = 0, new_b = 0;
  if (hdr == NULL || !hunk_counts(hdr, &old_n, &new_n))
    return false;
  for (size_t j = from; j < end; j++)
    {
      char op = L->v[j].len ? L->v[j].s[0] : ' ';
      old_b += op == ' ' || op == '-';
      new_b += op == ' ' || op == '+';
    }
  return old_b < old_n && new_b < new_n;
}

/* The hunk whose body starts at line FROM, after the header HDR (NULL when it is missing, and
 * HEADER the first body line's number), for the file CUR or the creation or deletion D
 * collects.  *NEXT is set to the line after it.  */
static int
take_hunk(struct answer *a, struct diff_file *d, const char *cur, size_t from,
          const struct tars_line *hdr, unsigned header, bool in_fence, size_t *next,
          struct tars_error *err)
{
  const struct tars_lines *L = &a->l;
  size_t end = hunk_end(L, from);
  *next = end;
  if (truncated(a, hdr, from, end, in_fence))
    return tars_error_invalid(err,
                              "answer line %u: the hunk %s: the answer seems cut off; send the "
                              "whole diff again",
                              header,
                              in_fence ? "is in a code block that is not closed"
                                       : "has fewer lines than its header counts");
  unsigned old_start = hdr ? hunk_old_start(hdr) : 0;
  if (d->create || d->remove)
    {
      for (size_t j = from; j < end; j++)
        {
          const struct tars_line *l = &L->v[j];
          char op = l->len ? l->s[0] : ' ';
          if (d->create && op == '+')
            {
              tars_buf_add(&d->content, l->s + 1, l->len - 1);
              tars_buf_add(&d->content, "\n", 1);
            }
          else if (d->create && op == '-')
            return tars_error_invalid(err,
                                      "answer line %u: the diff creates %s (from /dev/null) but "
                                      "removes lines from it",
                                      header, d->path);
          else if (d->remove && op == '-' && hunk_lines_add(&d->lines, &d->n_lines, '-', l, 1) < 0)
            return tars_error_set(err, ENOMEM, "cannot read a diff");
          else if (d->remove && op == '+')
            return tars_error_invalid(err,
                                      "answer line %u: the diff deletes %s (to /dev/null) but adds "
                                      "lines to it",
                                      header, d->path);
        }
      return 0;
    }
  struct tars_edit e = {.kind = TARS_EDIT_HUNK, .answer_line = header, .old_start = old_start};
  bool changes = false;
  for (size_t j = from; j < end; j++)
    {
      const struct tars_line *l = &L->v[j];
      if (l->len > 0 && l->s[0] == '\\')
        continue; /* "\ No newline at end of file": the file's own ending is kept */
      char op = l->len ? l->s[0] : ' ';
      changes |= op != ' ';
      if (hunk_lines_add(&e.lines, &e.n_lines, op, l, l->len ? 1 : 0) < 0)
        {
          tars_edit_free(&e);
          return tars_error_set(err, ENOMEM, "cannot read a diff");
        }
    }
  if (!changes)
    {
      tars_edit_free(&e);
      return 0;
    }
  e.path = strdup(cur);
  if (e.path == NULL || add_edit(a, &e, err) < 0)
    {
      tars_edit_free(&e);
      return tars_error_set(err, ENOMEM, "cannot read a diff");
    }
  return 0;
}

/* The file header at line I: sets CUR and D, *NEXT to the line after it.  */
static int
take_header(struct answer *a, struct diff_file *d, char **cur, size_t i, struct tars_error *err)
{
  const struct tars_lines *L = &a->l;
  if (diff_file_flush(a, d, err) < 0)
    return -1;
  cleanup_free char *old = diff_path(&L->v[i]);
  cleanup_free char *new = diff_path(&L->v[i + 1]);
  if (old == NULL || new == NULL)
    return tars_error_set(err, ENOMEM, "cannot read a diff");
  /* git's a/ and b/ prefixes, when both sides have them (or /dev/null is one side).  */
  bool on = is_dev_null(old), nn = is_dev_null(new);
  bool pa = strncmp(old, "a/", 2) == 0, pb = strncmp(new, "b/", 2) == 0;
  if ((pa || on) && (pb || nn) && (pa || pb))
    {
      if (pa)
        memmove(old, old + 2, strlen(old) - 1);
      if (pb)
        memmove(new, new + 2, strlen(new) - 1);
    }
  if (on && nn)
    return tars_error_invalid(err, "answer line %u: the diff goes from /dev/null to /dev/null",
                              line_no(a, i));
  if (!on && !nn && strcmp(old, new) != 0)
    return tars_error_invalid(err,
                              "answer line %u: the diff renames %s to %s, which is not "
                              "supported: delete the old file and create the new one",
                              line_no(a, i), old, new);
  free(*cur);
  *cur = strdup(nn ? old : new);
  if (*cur == NULL)
    return tars_error_set(err, ENOMEM, "cannot read a diff");
  d->line = line_no(a, i);
  d->create = on;
  d->remove = nn;
  if ((on || nn) && (d->path = strdup(*cur)) == NULL)
    return tars_error_set(err, ENOMEM, "cannot read a diff");
  return 0;
}

static int
parse_diff(struct answer *a, struct tars_error *err)
{
  const struct tars_lines *L = &a->l;
  __attribute__((cleanup(diff_file_free))) struct diff_file d = {0};
  cleanup_free char *cur = NULL;
  struct fence open = {0};
  bool in_fence = false;
  for (size_t i = 0; i < L->n;)
    {
      struct fence f;
      if (fence_at(&L->v[i], &f))
        {
          if (!in_fence)
            in_fence = true, open = f;
          else if (fence_closes(&L->v[i], &open))
            in_fence = false;
          i++;
          continue;
        }
      if (file_header_at(L, i))
        {
          if (take_header(a, &d, &cur, i, err) < 0)
            return -1;
          i += 2;
          /* A body without its "@@" header: models forget it.  */
          if (i < L->n && L->v[i].len > 0 &&
              (L->v[i].s[0] == ' ' || L->v[i].s[0] == '-' || L->v[i].s[0] == '+') &&
              !file_header_at(L, i) &&
              take_hunk(a, &d, cur, i, NULL, line_no(a, i), in_fence, &i, err) < 0)
            return -1;
          continue;
        }
      if (!starts(&L->v[i], "@@"))
        {
          i++;
          continue;
        }
      unsigned header = line_no(a, i);
      if (cur == NULL && a->opts->default_path && (cur = strdup(a->opts->default_path)) == NULL)
        return tars_error_set(err, ENOMEM, "cannot read a diff");
      if (cur == NULL)
        return tars_error_invalid(err,
                                  "answer line %u: the hunk comes before any \"--- a/PATH\" and "
                                  "\"+++ b/PATH\" lines naming its file",
                                  header);
      if (take_hunk(a, &d, cur, i + 1, &L->v[i], header, in_fence, &i, err) < 0)
        return -1;
    }
  return diff_file_flush(a, &d, err);
}

static bool
has_diff(const struct answer *a, const bool *consumed)
{
  const struct tars_lines *L = &a->l;
  for (size_t i = 0; i < L->n; i++)
    {
      if (consumed && consumed[i])
        continue;
      if (file_header_at(L, i))
        return true;
      if (a->opts->format == TARS_EDIT_FORMAT_UNIFIED_DIFF && starts(&L->v[i], "@@"))
        return true;
    }
  return false;
}

/* ----- whole files ----- */

static bool
shell_info(const struct fence *f)
{
  static const char *const shells[] = {"sh",   "bash",   "shell", "console",    "zsh",
                                       "text", "output", "cmd",   "powershell", "terminal"};
  for (size_t i = 0; i < sizeof shells / sizeof *shells; i++)
    if (strlen(shells[i]) == f->info_len && strncasecmp(f->info, shells[i], f->info_len) == 0)
      return true;
  return false;
}

/* The line closing the block opened at line I, or L->n.  A fence with an info string inside
 * opens a nested block (a file may hold fenced examples), which a bare fence closes first.  */
static size_t
block_end(const struct tars_lines *L, size_t i, const struct fence *open)
{
  size_t depth = 0;
  for (size_t j = i + 1; j < L->n; j++)
    {
      struct fence f;
      if (!fence_at(&L->v[j], &f) || f.ch != open->ch || f.len < open->len)
        continue;
      if (f.info_len > 0)
        depth++;
      else if (depth > 0)
        depth--;
      else
        return j;
    }
  return L->n;
}

static int
parse_whole(struct answer *a, struct tars_error *err)
{
  const struct tars_lines *L = &a->l;
  size_t pathless = 0, pathless_code = 0, first_pathless = 0, code_from = 0, code_to = 0;
  unsigned code_line = 0;
  for (size_t i = 0; i < L->n; i++)
    {
      struct fence f;
      if (!fence_at(&L->v[i], &f))
        continue;
      size_t end = block_end(L, i, &f);
      if (end == L->n)
        return tars_error_invalid(err,
                                  "answer line %u: the code block is not closed: the answer "
                                  "seems cut off",
                                  line_no(a, i));
      char *path = path_in_info(&f, a->opts->default_path);
      for (size_t back = 1; path == NULL && back <= 2 && back <= i; back++)
        {
          const struct tars_line *l = &L->v[i - back];
          struct fence g;
          if (blank(l))
            continue;
          if (!fence_at(l, &g))
            path = path_in_line(l, a->opts->default_path);
          break;
        }
      if (path == NULL)
        {
          if (pathless++ == 0)
            first_pathless = i;
          if (!shell_info(&f) && pathless_code++ == 0)
            code_from = i + 1, code_to = end, code_line = line_no(a, i);
          i = end;
          continue;
        }
      for (size_t k = 0; k < a->out->n; k++)
        if (strcmp(a->out->v[k].path, path) == 0)
          {
            int r = tars_error_invalid(err,
                                       "answer line %u: %s is given twice; give each file once, "
                                       "with its complete new content",
                                       line_no(a, i), a->out->v[k].path);
            free(path);
            return r;
          }
      struct tars_edit e = {.kind = TARS_EDIT_WHOLE_FILE, .answer_line = line_no(a, i)};
      e.path = path;
      e.content = text_of(a, i + 1, end, err);
      if (e.content == NULL || add_edit(a, &e, err) < 0)
        {
          tars_edit_free(&e);
          return -1;
        }
      i = end;
    }
  if (a->out->n > 0)
    return 0;
  if (pathless_code == 1 && a->opts->default_path)
    {
      struct tars_edit e = {.kind = TARS_EDIT_WHOLE_FILE, .answer_line = code_line};
      e.path = strdup(a->opts->default_path);
      e.content = text_of(a, code_from, code_to, err);
      if (e.path == NULL || e.content == NULL || add_edit(a, &e, err) < 0)
        {
          tars_edit_free(&e);
          return tars_error_set(err, ENOMEM, "cannot keep a file of the answer");
        }
      return 0;
    }
  if (pathless > 0)
    return tars_error_invalid(err,
                              "answer line %u: the code block is not preceded by the path of "
                              "the file it holds: put the path alone on the line before it",
                              line_no(a, first_pathless));
  return 0;
}

/* ----- the answer ----- */

static const char *
how_to_write(enum tars_edit_format f)
{
  switch (f)
    {
    case TARS_EDIT_FORMAT_SEARCH_REPLACE:
      return "write each change as the file's path on a line of its own, then \"<<<<<<< "
             "SEARCH\", the lines to find, \"=======\", the new lines, and \">>>>>>> REPLACE\"";
    case TARS_EDIT_FORMAT_UNIFIED_DIFF:
      return "write a unified diff: \"--- a/PATH\", \"+++ b/PATH\", then \"@@\" hunks with a few "
             "unchanged lines around each change";
    case TARS_EDIT_FORMAT_WHOLE_FILE:
      break;
    }
  return "write the file's path on a line of its own, then its complete new content in a fenced "
         "code block";
}

static const char *
format_what(enum tars_edit_format f)
{
  switch (f)
    {
    case TARS_EDIT_FORMAT_SEARCH_REPLACE:
      return "SEARCH/REPLACE block";
    case TARS_EDIT_FORMAT_UNIFIED_DIFF:
      return "unified diff";
    case TARS_EDIT_FORMAT_WHOLE_FILE:
      break;
    }
  return "file in a code block";
}

int
tars_answer_parse(const char *answer, size_t len, const struct tars_answer_options *opts,
                  struct tars_edits *out, struct tars_error *err)
{
  memset(out, 0, sizeof *out);
  out->format = opts->format;
  if (len > TARS_ANSWER_MAX)
    return tars_error_invalid(err, "the answer is %zu bytes long, more than the %u accepted", len,
                              TARS_ANSWER_MAX);
  if (memchr(answer, '\0', len) != NULL)
    return tars_error_invalid(err, "the answer holds a NUL byte");
  bool unclosed;
  size_t start = tars_answer_reasoning_end(answer, len, &unclosed);
  if (unclosed)
    return tars_error_invalid(err,
                              "the answer's reasoning section (<think>) is not closed: the "
                              "answer was cut off before any edit; %s",
                              how_to_write(opts->format));
  struct answer a = {.opts = opts, .out = out};
  for (size_t i = 0; i < start; i++)
    a.base += answer[i] == '\n';
  if (tars_lines_split(answer + start, len - start, &a.l, err) < 0)
    return -1;
  cleanup_free bool *consumed = calloc(a.l.n + 1, sizeof *consumed);
  if (consumed == NULL)
    {
      tars_lines_free(&a.l);
      return tars_error_set(err, ENOMEM, "cannot parse an answer");
    }

  bool sr = false;
  for (size_t i = 0; i < a.l.n && !sr; i++)
    sr = is_head(&a.l.v[i]);
  int r = 0;
  if (sr)
    {
      out->format = TARS_EDIT_FORMAT_SEARCH_REPLACE;
      r = parse_search_replace(&a, consumed, err);
      if (r == 0 && has_diff(&a, consumed))
        r = tars_error_invalid(err, "the answer mixes SEARCH/REPLACE blocks and a unified diff: "
                                    "use SEARCH/REPLACE blocks only");
    }
  else if (has_diff(&a, NULL))
    {
      out->format = TARS_EDIT_FORMAT_UNIFIED_DIFF;
      r = parse_diff(&a, err);
    }
  else if (opts->format == TARS_EDIT_FORMAT_WHOLE_FILE)
    r = parse_whole(&a, err);
  if (r == 0 && out->n == 0)
    r = tars_error_invalid(err, "the answer holds no %s: %s", format_what(opts->format),
                           how_to_write(opts->format));
  tars_lines_free(&a.l);
  if (r < 0)
    tars_edits_free(out);
  return r;
}
