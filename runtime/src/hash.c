/* SHA-256 of a file's content, with nettle: small, and nothing to initialise, which matters in a
 * binary whose start-up time is measured.  */
#include <errno.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "internal.h"

void
tars_hex_encode(const uint8_t *bytes, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++)
    {
      out[2 * i] = digits[bytes[i] >> 4];
      out[2 * i + 1] = digits[bytes[i] & 0xf];
    }
  out[2 * n] = '\0';
}

int
tars_sha256_copy(int in, int out, char *buf, size_t buf_size, char hex[65], uint64_t *size,
                 struct tars_error *err)
{
  unsigned char own[65536];
  if (buf == NULL || buf_size == 0)
    {
      buf = (char *)own;
      buf_size = sizeof own;
    }
  struct sha256_ctx ctx;
  uint8_t md[SHA256_DIGEST_SIZE];
  uint64_t total = 0;
  sha256_init(&ctx);
  for (;;)
    {
      ssize_t n = read(in, buf, buf_size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return tars_error_set(err, errno, "sha256: read");
      if (n == 0)
        break;
      sha256_update(&ctx, (size_t)n, (const uint8_t *)buf);
      total += (uint64_t)n;
      for (ssize_t off = 0; out >= 0 && off < n;)
        {
          ssize_t w = write(out, buf + off, (size_t)(n - off));
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return tars_error_set(err, errno, "write");
          off += w;
        }
    }
  sha256_digest(&ctx, sizeof md, md);
  tars_hex_encode(md, sizeof md, hex);
  if (size)
    *size = total;
  return 0;
}

int
tars_sha256_fd(int fd, char hex[65], struct tars_error *err)
{
  return tars_sha256_copy(fd, -1, NULL, 0, hex, NULL, err);
}
