/* Frames of the gateway protocol (see frame.h).  */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model/frame.h"
#include "tars/cleanup.h"

int
tars_frame_encode(const cJSON *j, char **out, size_t *len, struct tars_error *err)
{
  cleanup_free char *text = cJSON_PrintUnformatted(j);
  if (text == NULL)
    return tars_error_set(err, ENOMEM, "encode a gateway message");
  size_t n = strlen(text);
  if (n == 0 || n > TARS_FRAME_MAX)
    return tars_error_invalid(err, "a gateway message of %zu bytes (at most %u)", n,
                              TARS_FRAME_MAX);
  char *f = malloc(n + 4);
  if (f == NULL)
    return tars_error_set(err, ENOMEM, "encode a gateway message");
  f[0] = (char)(n >> 24);
  f[1] = (char)(n >> 16);
  f[2] = (char)(n >> 8);
  f[3] = (char)n;
  memcpy(f + 4, text, n);
  *out = f;
  *len = n + 4;
  return 0;
}

/* Whether the JSON text holds a "\u0000" escape: the scan runs on text cJSON accepted, so
 * following strings and escapes is enough.  */
static bool
has_nul_escape(const char *s, size_t len)
{
  bool in_string = false;
  for (size_t i = 0; i < len; i++)
    {
      if (!in_string)
        {
          in_string = s[i] == '"';
          continue;
        }
      if (s[i] == '"')
        in_string = false;
      else if (s[i] == '\\' && i + 1 < len)
        {
          if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
            return true;
          i++;
        }
    }
  return false;
}

int
tars_frame_decode(const char *body, size_t len, cJSON **out, struct tars_error *err)
{
  *out = NULL;
  if (memchr(body, '\0', len) != NULL)
    return tars_error_invalid(err, "a gateway message holds a NUL byte");
  const char *end = NULL;
  cleanup_cjson cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (j == NULL)
    return tars_error_invalid(err, "a gateway message is not JSON");
  for (const char *p = end; p < body + len; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      return tars_error_invalid(err, "a gateway message has text after its JSON");
  if (!cJSON_IsObject(j))
    return tars_error_invalid(err, "a gateway message must be a JSON object");
  if (has_nul_escape(body, len))
    return tars_error_invalid(err, "a gateway message holds \\u0000 in a string");
  *out = steal_pointer(&j);
  return 0;
}

static int
write_all(int fd, const char *p, size_t n, struct tars_error *err)
{
  while (n > 0)
    {
      ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return tars_error_set(err, errno, "gateway: send");
      p += w;
      n -= (size_t)w;
    }
  return 0;
}

int
tars_frame_write(int fd, const cJSON *j, struct tars_error *err)
{
  cleanup_free char *f = NULL;
  size_t len;
  if (tars_frame_encode(j, &f, &len, err) < 0)
    return -1;
  return write_all(fd, f, len, err);
}

/* Read exactly N bytes; returns the bytes read before an end of file.  */
static ssize_t
read_full(int fd, void *buf, size_t n)
{
  size_t got = 0;
  while (got < n)
    {
      ssize_t r = read(fd, (char *)buf + got, n - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -1;
      if (r == 0)
        break;
      got += (size_t)r;
    }
  return (ssize_t)got;
}

int
tars_frame_read(int fd, cJSON **out, struct tars_error *err)
{
  *out = NULL;
  unsigned char head[4];
  ssize_t r = read_full(fd, head, 4);
  if (r < 0)
    return tars_error_set(err, errno, "gateway: receive");
  if (r == 0)
    return 0;
  if (r < 4)
    return tars_error_set(err, 0, "gateway: the connection closed inside a message");
  size_t n = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
  if (n == 0 || n > TARS_FRAME_MAX)
    return tars_error_invalid(err, "gateway: a message of %zu bytes (at most %u)", n,
                              TARS_FRAME_MAX);
  cleanup_free char *body = malloc(n);
  if (body == NULL)
    return tars_error_set(err, ENOMEM, "gateway: receive");
  r = read_full(fd, body, n);
  if (r < 0)
    return tars_error_set(err, errno, "gateway: receive");
  if ((size_t)r < n)
    return tars_error_set(err, 0, "gateway: the connection closed inside a message");
  return tars_frame_decode(body, n, out, err);
}

int
tars_frame_reader_read(struct tars_frame_reader *r, int fd, char **body, size_t *len)
{
  for (;;)
    {
      ssize_t n;
      if (r->head_len < 4)
        n = read(fd, r->head + r->head_len, 4 - r->head_len);
      else
        n = read(fd, r->body + r->body_len, r->want - r->body_len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
      if (n == 0)
        {
          errno = r->head_len == 0 ? 0 : EPIPE;
          return -1;
        }
      if (r->head_len < 4)
        {
          r->head_len += (size_t)n;
          if (r->head_len < 4)
            continue;
          r->want = (size_t)r->head[0] << 24 | (size_t)r->head[1] << 16 | (size_t)r->head[2] << 8 |
                    r->head[3];
          if (r->want == 0 || r->want > TARS_FRAME_MAX)
            {
              errno = EMSGSIZE;
              return -1;
            }
          if ((r->body = malloc(r->want)) == NULL)
            return -1;
          r->body_len = 0;
          continue;
        }
      r->body_len += (size_t)n;
      if (r->body_len < r->want)
        continue;
      *body = r->body;
      *len = r->body_len;
      r->body = NULL;
      r->head_len = r->body_len = r->want = 0;
      return 1;
    }
}

void
tars_frame_reader_free(struct tars_frame_reader *r)
{
  free(r->body);
  memset(r, 0, sizeof *r);
}
