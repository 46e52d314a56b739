#include <stdlib.h>
#include <string.h>

#include "plan/utf8.h"

size_t
tars_utf8_seq(const unsigned char *s, size_t len)
{
  if (len == 0)
    return 0;
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned min, cp;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, min = 0x80, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, min = 0x800, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, min = 0x10000, cp = c & 0x07;
  else
    return 0;
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

size_t
tars_utf8_invalid_at(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len)
    {
      if (p[i] < 0x80)
        {
          i++;
          continue;
        }
      size_t n = tars_utf8_seq(p + i, len - i);
      if (n == 0)
        return i;
      i += n;
    }
  return len;
}

size_t
tars_utf8_count(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, count = 0;
  while (i < len)
    {
      size_t n = p[i] < 0x80 ? 1 : tars_utf8_seq(p + i, len - i);
      i += n ? n : 1;
      count++;
    }
  return count;
}

char *
tars_utf8_clean(const char *s, size_t len)
{
  static const char replacement[] = "\xef\xbf\xbd";
  const unsigned char *p = (const unsigned char *)s;
  /* At worst every byte becomes three.  */
  char *out = malloc(len * 3 + 1);
  if (out == NULL)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len;)
    {
      size_t n = p[i] == 0 ? 0 : p[i] < 0x80 ? 1 : tars_utf8_seq(p + i, len - i);
      if (n == 0)
        {
          memcpy(out + o, replacement, 3);
          o += 3;
          i++;
          continue;
        }
      memcpy(out + o, s + i, n);
      o += n;
      i += n;
    }
  out[o] = '\0';
  return out;
}
