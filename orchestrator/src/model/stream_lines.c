/* Line splitting for streamed bodies (see stream_lines.h).  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/stream_lines.h"

#define DEFAULT_MAX (1u << 20)

static int
append(struct tars_stream_lines *l, const char *data, size_t n)
{
  size_t max = l->max ? l->max : DEFAULT_MAX;
  if (l->len + n > max)
    {
      errno = E2BIG;
      return -1;
    }
  if (l->len + n + 1 > l->cap)
    {
      size_t cap = l->cap ? l->cap : 256;
      while (cap < l->len + n + 1)
        cap *= 2;
      char *b = realloc(l->buf, cap);
      if (b == NULL)
        {
          errno = ENOMEM;
          return -1;
        }
      l->buf = b;
      l->cap = cap;
    }
  memcpy(l->buf + l->len, data, n);
  l->len += n;
  l->buf[l->len] = '\0';
  return 0;
}

static int
emit(struct tars_stream_lines *l, tars_stream_line_fn fn, void *ctx)
{
  size_t n = l->len;
  if (n > 0 && l->buf[n - 1] == '\r')
    l->buf[--n] = '\0';
  l->len = 0;
  return fn(ctx, l->buf, n);
}

int
tars_stream_lines_feed(struct tars_stream_lines *l, const char *data, size_t len, tars_stream_line_fn fn, void *ctx)
{
  while (len > 0)
    {
      const char *nl = memchr(data, '\n', len);
      size_t n = nl ? (size_t)(nl - data) : len;
      if (append(l, data, n) < 0)
        return -1;
      if (nl == NULL)
        return 0;
      int r = emit(l, fn, ctx);
      if (r < 0)
        return r;
      data += n + 1;
      len -= n + 1;
    }
  return 0;
}

int
tars_stream_lines_finish(struct tars_stream_lines *l, tars_stream_line_fn fn, void *ctx)
{
  if (l->len == 0)
    return 0;
  return emit(l, fn, ctx);
}

void
tars_stream_lines_free(struct tars_stream_lines *l)
{
  free(l->buf);
  l->buf = NULL;
  l->len = l->cap = 0;
}
