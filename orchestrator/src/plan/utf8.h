/* UTF-8 as plans and the analyzer need it: where a text stops being valid, how many code points
 * a prefix holds (columns), and a copy safe to print or put in JSON.  Valid means RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF.  */
#ifndef TARS_UTF8_H
#define TARS_UTF8_H

#include <stddef.h>

/* Length of the valid sequence starting at S (at most LEN bytes), or 0 when S[0] starts none.  */
size_t tars_utf8_seq(const unsigned char *s, size_t len);
/* Offset of the first byte of S that is not valid UTF-8, or LEN when all of it is.  */
size_t tars_utf8_invalid_at(const char *s, size_t len);
/* Code points in S's first LEN bytes, an invalid byte counting as one.  */
size_t tars_utf8_count(const char *s, size_t len);
/* A NUL-terminated copy of S's LEN bytes with each invalid byte replaced by U+FFFD and each NUL
 * by U+FFFD too (malloc'd; NULL when out of memory).  */
char *tars_utf8_clean(const char *s, size_t len);

#endif
