/* SHA-256 of a file's content, with nettle: small, and nothing to initialise, which matters in a
 * binary whose start-up time is measured.  */
#include <errno.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "internal.h"

int
tars_sha256_fd(int fd, char hex[65], struct tars_error *err)
{
  static const char digits[] = "0123456789abcdef";
  struct sha256_ctx ctx;
  uint8_t md[SHA256_DIGEST_SIZE];
  unsigned char buf[65536];

  sha256_init(&ctx);
  for (;;)
    {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return tars_error_set(err, errno, "sha256: read");
        }
      if (n == 0)
        break;
      sha256_update(&ctx, (size_t)n, buf);
    }
  sha256_digest(&ctx, sizeof md, md);
  for (unsigned int i = 0; i < sizeof md; i++)
    {
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 0xf];
    }
  hex[64] = '\0';
  return 0;
}
