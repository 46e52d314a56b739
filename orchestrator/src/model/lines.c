#include "model/lines.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
tars_lines_split(const char *text, size_t len, struct tars_lines *out, struct tars_error *err)
{
  out->v = NULL;
  out->n = 0;
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '\n')
      n++;
  if (len > 0 && text[len - 1] != '\n')
    n++;
  if (n == 0)
    return 0;
  struct tars_line *v = calloc(n, sizeof *v);
  if (v == NULL)
    return tars_error_set(err, ENOMEM, "cannot split a text of %zu bytes into lines", len);
  size_t k = 0;
  for (size_t start = 0; start < len;)
    {
      const char *nl = memchr(text + start, '\n', len - start);
      size_t end = nl ? (size_t)(nl - text) : len;
      struct tars_line *l = &v[k++];
      l->s = text + start;
      l->len = end - start;
      if (nl == NULL)
        l->eol = TARS_EOL_NONE;
      else if (l->len > 0 && l->s[l->len - 1] == '\r')
        {
          l->eol = TARS_EOL_CRLF;
          l->len--;
        }
      else
        l->eol = TARS_EOL_LF;
      start = nl ? end + 1 : len;
    }
  out->v = v;
  out->n = k;
  return 0;
}

void
tars_lines_free(struct tars_lines *l)
{
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

enum tars_eol
tars_lines_eol(const struct tars_lines *l)
{
  size_t lf = 0, crlf = 0;
  for (size_t i = 0; i < l->n; i++)
    {
      if (l->v[i].eol == TARS_EOL_LF)
        lf++;
      else if (l->v[i].eol == TARS_EOL_CRLF)
        crlf++;
    }
  return crlf > lf ? TARS_EOL_CRLF : TARS_EOL_LF;
}

bool
tars_line_blank(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t')
      return false;
  return true;
}

static bool
buf_reserve(struct tars_buf *b, size_t more)
{
  if (b->failed)
    return false;
  if (b->len + more + 1 <= b->cap)
    return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1)
    {
      if (cap > SIZE_MAX / 2)
        {
          b->failed = true;
          return false;
        }
      cap *= 2;
    }
  char *p = realloc(b->p, cap);
  if (p == NULL)
    {
      b->failed = true;
      return false;
    }
  b->p = p;
  b->cap = cap;
  return true;
}

void
tars_buf_add(struct tars_buf *b, const char *s, size_t n)
{
  if (n == 0 || !buf_reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void
tars_buf_adds(struct tars_buf *b, const char *s)
{
  tars_buf_add(b, s, strlen(s));
}

void
tars_buf_addf(struct tars_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    {
      b->failed = true;
      return;
    }
  if (!buf_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void
tars_buf_add_eol(struct tars_buf *b, enum tars_eol eol)
{
  if (eol == TARS_EOL_LF)
    tars_buf_add(b, "\n", 1);
  else if (eol == TARS_EOL_CRLF)
    tars_buf_add(b, "\r\n", 2);
}

char *
tars_buf_steal(struct tars_buf *b, size_t *len, struct tars_error *err)
{
  if (!b->failed && b->p == NULL && buf_reserve(b, 0))
    b->p[0] = '\0';
  if (b->failed)
    {
      tars_buf_free(b);
      tars_error_set(err, ENOMEM, "cannot build a text");
      return NULL;
    }
  char *p = b->p;
  if (len)
    *len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

void
tars_buf_free(struct tars_buf *b)
{
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
  b->failed = false;
}
