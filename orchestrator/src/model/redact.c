/* Redaction of secrets in text and JSON (see redact.h).  Hand-written matchers rather than
 * regular expressions: each shape is a fixed prefix and a character class, checked at every
 * offset in one pass.  */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/redact.h"

void
tars_redactor_init(struct tars_redactor *r)
{
  memset(r, 0, sizeof *r);
}

void
tars_redactor_free(struct tars_redactor *r)
{
  for (size_t i = 0; i < r->n_secrets; i++)
    {
      explicit_bzero(r->secrets[i], strlen(r->secrets[i]));
      free(r->secrets[i]);
    }
  tars_redactor_init(r);
}

int
tars_redactor_add(struct tars_redactor *r, const char *secret)
{
  if (secret == NULL || strlen(secret) < TARS_REDACT_MIN_SECRET)
    return 0;
  for (size_t i = 0; i < r->n_secrets; i++)
    if (strcmp(r->secrets[i], secret) == 0)
      return 0;
  if (r->n_secrets >= TARS_REDACT_MAX_SECRETS)
    {
      errno = E2BIG;
      return -1;
    }
  char *c = strdup(secret);
  if (c == NULL)
    return -1;
  r->secrets[r->n_secrets++] = c;
  return 0;
}

/* ----- matchers: each returns the length of the secret starting at S (0: none) ----- */

static bool
is_word(unsigned char c)
{
  return isalnum(c) || c == '_';
}

static bool
is_token_char(unsigned char c)
{
  return isalnum(c) || c == '_' || c == '-';
}

static bool
is_b64url(unsigned char c)
{
  return isalnum(c) || c == '_' || c == '-';
}

/* Characters of CLASS after PREFIX, at least MIN of them: the whole length, or 0.  */
static size_t
prefixed(const char *s, const char *prefix, bool (*class)(unsigned char), size_t min)
{
  size_t p = strlen(prefix);
  if (strncmp(s, prefix, p) != 0)
    return 0;
  size_t n = 0;
  while (s[p + n] && class((unsigned char)s[p + n]))
    n++;
  return n >= min ? p + n : 0;
}

static bool
is_alnum_char(unsigned char c)
{
  return isalnum(c) != 0;
}

static bool
is_upper_digit(unsigned char c)
{
  return isupper(c) || isdigit(c);
}

static bool
is_bearer_char(unsigned char c)
{
  return isalnum(c) || strchr("-._~+/=", c) != NULL;
}

static size_t
match_shapes(const char *s)
{
  static const char *const gh[] = {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"};
  static const char *const slack[] = {"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"};
  size_t n;
  switch (s[0])
    {
    case 's':
      return prefixed(s, "sk-", is_token_char, 16);
    case 'g':
      for (size_t i = 0; i < sizeof gh / sizeof gh[0]; i++)
        if ((n = prefixed(s, gh[i], is_alnum_char, 30)) > 0)
          return n;
      if ((n = prefixed(s, "github_pat_", is_token_char, 30)) > 0)
        return n;
      return prefixed(s, "glpat-", is_token_char, 20);
    case 'x':
      for (size_t i = 0; i < sizeof slack / sizeof slack[0]; i++)
        if ((n = prefixed(s, slack[i], is_token_char, 10)) > 0)
          return n;
      return 0;
    case 'A':
      if (strncmp(s, "AKIA", 4) == 0 || strncmp(s, "ASIA", 4) == 0)
        {
          for (n = 4; n < 20; n++)
            if (!is_upper_digit((unsigned char)s[n]))
              return 0;
          return 20;
        }
      return prefixed(s, "AIza", is_token_char, 30);
    case 'h':
      return prefixed(s, "hf_", is_alnum_char, 30);
    case 'e':
      {
        /* header.payload.signature, both JSON objects ("eyJ" is base64 for '{"').  */
        size_t a = prefixed(s, "eyJ", is_b64url, 8);
        if (a == 0 || s[a] != '.')
          return 0;
        size_t b = prefixed(s + a + 1, "eyJ", is_b64url, 8);
        if (b == 0 || s[a + 1 + b] != '.')
          return 0;
        size_t c = 0;
        const char *sig = s + a + 1 + b + 1;
        while (sig[c] && is_b64url((unsigned char)sig[c]))
          c++;
        return c >= 8 ? a + 1 + b + 1 + c : 0;
      }
    }
  return 0;
}

/* "-----BEGIN [A-Z ]*PRIVATE KEY-----" to the matching END line, or the end of the text.  */
static size_t
match_pem(const char *s)
{
  static const char begin[] = "-----BEGIN ";
  if (strncmp(s, begin, sizeof begin - 1) != 0)
    return 0;
  const char *label = s + sizeof begin - 1, *p = label;
  while (*p && (isupper((unsigned char)*p) || *p == ' '))
    p++;
  if (p - label < 11 || strncmp(p - 11, "PRIVATE KEY", 11) != 0 || strncmp(p, "-----", 5) != 0)
    return 0;
  const char *end = strstr(p, "-----END ");
  if (end == NULL)
    return strlen(s);
  const char *close = strstr(end + 9, "-----");
  return close ? (size_t)(close + 5 - s) : strlen(s);
}

/* After "Authorization" (any case, the header name or a JSON key): the separator, then the
 * value to the end of the line or the closing quote.  Returns the offset of the value's start in
 * *VSTART and its length; 0 when S is not such a header.  */
static size_t
match_auth_header(const char *s, size_t *vstart)
{
  size_t name;
  if (strncasecmp(s, "proxy-authorization", 19) == 0)
    name = 19;
  else if (strncasecmp(s, "authorization", 13) == 0)
    name = 13;
  else
    return 0;
  size_t i = name;
  bool quoted = false;
  if (s[i] == '"')
    i++, quoted = true;
  while (s[i] == ' ' || s[i] == '\t')
    i++;
  if (s[i] != ':' && s[i] != '=')
    return 0;
  i++;
  while (s[i] == ' ' || s[i] == '\t')
    i++;
  if (quoted || s[i] == '"')
    {
      if (s[i] == '"')
        i++;
      quoted = true;
    }
  size_t v = i;
  while (s[i] && s[i] != '\n' && s[i] != '\r' && !(quoted && s[i] == '"'))
    {
      if (quoted && s[i] == '\\' && s[i + 1])
        i++;
      i++;
    }
  if (i == v)
    return 0;
  *vstart = v;
  return i - v;
}

static size_t
match_bearer(const char *s, size_t *vstart)
{
  if (strncasecmp(s, "bearer ", 7) != 0)
    return 0;
  size_t i = 7;
  while (s[i] == ' ')
    i++;
  size_t n = 0;
  while (s[i + n] && is_bearer_char((unsigned char)s[i + n]))
    n++;
  if (n < 8)
    return 0;
  *vstart = i;
  return n;
}

/* ----- the scan ----- */

struct buf
{
  char *p;
  size_t len, cap;
  bool failed;
};

static void
put(struct buf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 64;
      while (cap < b->len + n + 1)
        cap *= 2;
      char *p = realloc(b->p, cap);
      if (p == NULL)
        {
          b->failed = true;
          return;
        }
      b->p = p;
      b->cap = cap;
    }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static size_t
given_secret_at(const struct tars_redactor *r, const char *s)
{
  if (r)
    for (size_t k = 0; k < r->n_secrets; k++)
      {
        size_t n = strlen(r->secrets[k]);
        if (strncmp(s, r->secrets[k], n) == 0)
          return n;
      }
  return 0;
}

/* One step of the scan at TEXT + I: when a secret starts there, the bytes to keep before the
 * redaction mark (*KEEP), and the length to skip after them; 0 when none starts there.  */
static size_t
secret_at(const struct tars_redactor *r, const char *text, size_t i, size_t *keep)
{
  const char *s = text + i;
  *keep = 0;
  size_t given = given_secret_at(r, s);
  if (given > 0)
    return given;
  size_t v, n;
  if ((n = match_auth_header(s, &v)) > 0)
    {
      *keep = v;
      return n;
    }
  if ((n = match_bearer(s, &v)) > 0)
    {
      *keep = v;
      return n;
    }
  if ((n = match_pem(s)) > 0)
    return n;
  if (i > 0 && is_word((unsigned char)text[i - 1]))
    return 0;
  return match_shapes(s);
}

bool
tars_redact_needed(const struct tars_redactor *r, const char *text)
{
  if (text == NULL)
    return false;
  for (size_t i = 0; text[i]; i++)
    {
      size_t keep;
      if (secret_at(r, text, i, &keep) > 0)
        return true;
    }
  return false;
}

static char *
scan(const struct tars_redactor *r, const char *text, bool patterns)
{
  struct buf b = {0};
  if (text == NULL)
    text = "";
  size_t i = 0, plain = 0;
  while (text[i])
    {
      size_t keep = 0, n = patterns ? secret_at(r, text, i, &keep) : given_secret_at(r, text + i);
      if (n == 0)
        {
          i++;
          continue;
        }
      put(&b, text + plain, i - plain + keep);
      put(&b, TARS_REDACTED, sizeof TARS_REDACTED - 1);
      i += keep + n;
      plain = i;
    }
  put(&b, text + plain, i - plain);
  if (b.p == NULL && !b.failed)
    put(&b, "", 0);
  if (b.failed)
    {
      free(b.p);
      return NULL;
    }
  return b.p;
}

char *
tars_redact(const struct tars_redactor *r, const char *text)
{
  return scan(r, text, true);
}

char *
tars_redact_secrets(const struct tars_redactor *r, const char *text)
{
  return scan(r, text, false);
}

static int
redact_string(const struct tars_redactor *r, char **s)
{
  if (*s == NULL || !tars_redact_needed(r, *s))
    return 0;
  char *red = tars_redact(r, *s);
  if (red == NULL)
    return -1;
  /* cJSON allocates with malloc unless hooks say otherwise; tars sets none.  */
  explicit_bzero(*s, strlen(*s));
  free(*s);
  *s = red;
  return 0;
}

static int
redact_item(const struct tars_redactor *r, cJSON *j)
{
  int ret = 0;
  if ((j->type & cJSON_StringIsConst) == 0 && redact_string(r, &j->string) < 0)
    ret = -1;
  if (cJSON_IsString(j) && (j->type & cJSON_IsReference) == 0 &&
      redact_string(r, &j->valuestring) < 0)
    ret = -1;
  for (cJSON *c = j->child; c; c = c->next)
    if (redact_item(r, c) < 0)
      ret = -1;
  return ret;
}

int
tars_redact_json(const struct tars_redactor *r, cJSON *j)
{
  return j ? redact_item(r, j) : 0;
}
