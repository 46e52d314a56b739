/* SHA-256 of a file's content, through OpenSSL's libcrypto EVP interface.  */
#include <errno.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "internal.h"

static inline void
cleanup_md_ctxp(EVP_MD_CTX **ctx)
{
  EVP_MD_CTX_free(*ctx);
}
#define cleanup_md_ctx __attribute__((cleanup(cleanup_md_ctxp)))

int
tars_sha256_fd(int fd, char hex[65], struct tars_error *err)
{
  static const char digits[] = "0123456789abcdef";
  cleanup_md_ctx EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  unsigned char buf[65536];

  if (ctx == NULL)
    return tars_error_set(err, ENOMEM, "sha256: cannot allocate a digest context");
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
    return tars_error_set(err, 0, "sha256: cannot initialise the digest");
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
      if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
        return tars_error_set(err, 0, "sha256: digest update failed");
    }
  if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32)
    return tars_error_set(err, 0, "sha256: digest finalisation failed");
  for (unsigned int i = 0; i < md_len; i++)
    {
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 0xf];
    }
  hex[64] = '\0';
  return 0;
}
