/* Test results and compiler warnings (results.h).
 *
 * Everything here reads what code under test wrote, so every parser is linear in its input,
 * bounds what it keeps (names, outputs, cases) and never allocates in proportion to a number it
 * read.  JUnit XML is read with expat (SAX: nothing is kept but the testcase being read), `go test
 * -json` with cJSON one line at a time, and text summaries line by line, each line cleaned of
 * terminal escapes first.  */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <expat.h>

#include "validate/results.h"
#include "tars/cleanup.h"

static void
add_count(uint64_t *c, uint64_t n)
{
  *c = *c > UINT64_MAX - n ? UINT64_MAX : *c + n;
}

/* ----- text a report may show ----- */

/* The length of the valid UTF-8 sequence at S (N bytes available), or 0: no overlong forms, no
 * surrogates, nothing above U+10FFFF.  */
static size_t
utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
  unsigned char c = s[0];
  size_t len;
  uint32_t v, min;

  if (c < 0x80)
    {
      *cp = c;
      return 1;
    }
  if ((c & 0xe0) == 0xc0)
    len = 2, v = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0)
    len = 3, v = c & 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0)
    len = 4, v = c & 0x07, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      v = (v << 6) | (s[i] & 0x3f);
    }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

/* Copy SRC (N bytes) to DST (room for N bytes) with every invalid UTF-8 byte and every control
 * character (C0, DEL, C1) as '?'; MULTILINE keeps \n and \t and drops the \r of \r\n.  Returns
 * the bytes written, never more than N.  */
static size_t
clean_into(char *dst, const char *src, size_t n, bool multiline)
{
  const unsigned char *s = (const unsigned char *)src;
  size_t o = 0;

  for (size_t i = 0; i < n;)
    {
      uint32_t cp;
      size_t k = utf8_seq(s + i, n - i, &cp);
      if (k == 0)
        {
          dst[o++] = '?';
          i++;
          continue;
        }
      if (multiline && cp == '\r' && i + 1 < n && s[i + 1] == '\n')
        {
          i++;
          continue;
        }
      if ((multiline && (cp == '\n' || cp == '\t')) ||
          (cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp >= 0xa0)))
        {
          memcpy(dst + o, s + i, k);
          o += k;
        }
      else
        dst[o++] = '?';
      i += k;
    }
  return o;
}

/* At most MAX bytes of S (N bytes), not ending inside a UTF-8 sequence.  */
static size_t
cut_at_char(const char *s, size_t n, size_t max)
{
  if (n <= max)
    return n;
  size_t k = max;
  for (int i = 0; i < 3 && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80; i++)
    k--;
  return k;
}

/* The length of TEXT's first MAX_LINES lines (without the newline that ends the last), at most
 * MAX_BYTES bytes.  */
static size_t
head_span(const char *text, size_t len, size_t max_lines, size_t max_bytes)
{
  if (max_lines == 0)
    return 0;
  size_t n = cut_at_char(text, len, max_bytes), lines = 0;
  const char *nl;
  for (size_t i = 0; (nl = memchr(text + i, '\n', n - i)) != NULL; i = (size_t)(nl - text) + 1)
    if (++lines == max_lines)
      return (size_t)(nl - text);
  return n;
}

static char *
clean_dup(const char *s, size_t n, bool multiline)
{
  char *out = malloc(n + 1);
  if (out == NULL)
    return NULL;
  out[clean_into(out, s, n, multiline)] = '\0';
  return out;
}

char *
tars_trim_output(const char *text, size_t len, size_t max_lines, size_t max_bytes)
{
  size_t start = len;

  if (text == NULL)
    len = start = 0;
  if (max_lines > 0 && max_bytes > 0 && len > 0)
    {
      /* The output never grows in cleaning, so the last MAX_BYTES input bytes are enough.  */
      size_t end = text[len - 1] == '\n' ? len - 1 : len, lines = 0;
      size_t floor = len > max_bytes ? len - max_bytes : 0;
      start = 0;
      for (size_t i = end; i > floor; i--)
        if (text[i - 1] == '\n' && ++lines == max_lines)
          {
            start = i;
            break;
          }
      if (start < floor)
        {
          const char *nl =
              end > floor - 1 ? memchr(text + floor - 1, '\n', end - (floor - 1)) : NULL;
          if (nl != NULL)
            start = (size_t)(nl - text) + 1;
          else
            for (start = floor;
                 start < len && start < floor + 3 && ((unsigned char)text[start] & 0xc0) == 0x80;)
              start++;
        }
    }
  return clean_dup(text + start, len - start, true);
}

/* ----- a string-keyed hash table (keys are not copied) ----- */

struct map_slot
{
  const char *key; /* NULL: empty */
  size_t klen;
  size_t val;
};

struct map
{
  struct map_slot *slots;
  size_t cap, n;
  uint64_t seed;
};

static void
map_init(struct map *m)
{
  memset(m, 0, sizeof *m);
  /* A random seed, so that input cannot be crafted to collide (the tables hold untrusted names).
   */
  if (getrandom(&m->seed, sizeof m->seed, GRND_NONBLOCK) != sizeof m->seed)
    m->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)m;
}

static uint64_t
map_hash(const struct map *m, const char *k, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull ^ m->seed;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)k[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

static struct map_slot *
map_find(struct map *m, const char *k, size_t n)
{
  if (m->cap == 0)
    return NULL;
  for (size_t i = map_hash(m, k, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
    {
      struct map_slot *s = &m->slots[i];
      if (s->key == NULL)
        return NULL;
      if (s->klen == n && memcmp(s->key, k, n) == 0)
        return s;
    }
}

static int
map_put(struct map *m, const char *k, size_t n, size_t val)
{
  if ((m->n + 1) * 2 > m->cap)
    {
      size_t cap = m->cap ? m->cap * 2 : 64;
      struct map_slot *slots = calloc(cap, sizeof *slots);
      if (slots == NULL)
        return -1;
      struct map_slot *old = m->slots;
      size_t old_cap = m->cap;
      m->slots = slots;
      m->cap = cap;
      for (size_t i = 0; i < old_cap; i++)
        if (old[i].key != NULL)
          {
            size_t j = map_hash(m, old[i].key, old[i].klen) & (cap - 1);
            while (slots[j].key != NULL)
              j = (j + 1) & (cap - 1);
            slots[j] = old[i];
          }
      free(old);
    }
  size_t i = map_hash(m, k, n) & (m->cap - 1);
  while (m->slots[i].key != NULL)
    i = (i + 1) & (m->cap - 1);
  m->slots[i] = (struct map_slot){k, n, val};
  m->n++;
  return 0;
}

static void
map_free(struct map *m)
{
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}

/* ----- bounded buffers ----- */

/* The last KEEP bytes of what was appended (the buffer holds up to twice that, so that dropping
 * the front costs one move per KEEP bytes appended).  */
struct tail
{
  char *buf;
  size_t len;
};

static int
tail_append(struct tail *t, const char *s, size_t n, size_t keep)
{
  if (n == 0)
    return 0;
  if (t->buf == NULL && (t->buf = malloc(2 * keep)) == NULL)
    return -1;
  if (n >= keep)
    {
      s += n - keep;
      n = keep;
      t->len = 0;
    }
  else if (t->len + n > 2 * keep)
    {
      memmove(t->buf, t->buf + t->len - (keep - n), keep - n);
      t->len = keep - n;
    }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  return 0;
}

/* The first MAX bytes of what was appended.  */
static int
head_append(struct tail *t, const char *s, size_t n, size_t max)
{
  if (t->len >= max || n == 0)
    return 0;
  if (t->buf == NULL && (t->buf = malloc(max)) == NULL)
    return -1;
  if (n > max - t->len)
    n = max - t->len;
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  return 0;
}

static void
tail_free(struct tail *t)
{
  free(t->buf);
  t->buf = NULL;
  t->len = 0;
}

static bool
is_blank(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r')
      return false;
  return true;
}

/* A failure's output: the head of MSG, then the tail of the PARTS (blank ones skipped), within
 * TARS_RESULTS_MAX_OUTPUT bytes and TARS_RESULTS_MAX_OUTPUT_LINES lines.  NULL when all are
 * blank; *OOM is set when memory ran out.  */
static char *
failure_output(const char *msg, size_t msg_len, const struct tail *parts, size_t n_parts, bool *oom)
{
  size_t mlen = 0, mlines = 0, total = 0;
  cleanup_free char *m = NULL, *rest = NULL, *joined = NULL;

  while (msg_len > 0 && is_blank(msg + msg_len - 1, 1))
    msg_len--;
  if (msg_len > 0)
    {
      size_t span =
          head_span(msg, msg_len, TARS_RESULTS_MAX_OUTPUT_LINES / 2, TARS_RESULTS_MAX_OUTPUT / 2);
      if ((m = clean_dup(msg, span, true)) == NULL)
        goto oom;
      mlen = strlen(m);
      mlines = 1;
      for (const char *p = m; (p = strchr(p, '\n')) != NULL; p++)
        mlines++;
    }
  for (size_t i = 0; i < n_parts; i++)
    if (!is_blank(parts[i].buf, parts[i].len))
      total += parts[i].len + 1;
  if (total > 0)
    {
      if ((joined = malloc(total)) == NULL)
        goto oom;
      size_t o = 0;
      for (size_t i = 0; i < n_parts; i++)
        if (!is_blank(parts[i].buf, parts[i].len))
          {
            if (o > 0)
              joined[o++] = '\n';
            memcpy(joined + o, parts[i].buf, parts[i].len);
            o += parts[i].len;
          }
      while (o > 0 && is_blank(joined + o - 1, 1))
        o--;
      size_t room = TARS_RESULTS_MAX_OUTPUT - (mlen ? mlen + 1 : 0);
      size_t lines = TARS_RESULTS_MAX_OUTPUT_LINES - mlines;
      if ((rest = tars_trim_output(joined, o, lines, room)) == NULL)
        goto oom;
    }
  if (m != NULL && rest != NULL && *rest != '\0')
    {
      char *out = malloc(mlen + 1 + strlen(rest) + 1);
      if (out == NULL)
        goto oom;
      sprintf(out, "%s\n%s", m, rest);
      return out;
    }
  if (m != NULL)
    return steal_pointer(&m);
  if (rest != NULL && *rest != '\0')
    return steal_pointer(&rest);
  return NULL;
oom:
  *oom = true;
  return NULL;
}

/* ----- building a result ----- */

struct builder
{
  struct tars_test_results *r;
  struct map names; /* every case's name -> the next " #N" to try for it */
  size_t alloc;
  bool dedupe; /* a name seen again is the same test reported twice: drop it */
  /* Where R stood before this parse, to leave it so on failure.  */
  size_t n0;
  uint64_t passed0, failed0, skipped0;
};

static int
builder_init(struct builder *b, struct tars_test_results *r, struct tars_error *err)
{
  memset(b, 0, sizeof *b);
  b->r = r;
  b->alloc = r->n_cases;
  b->n0 = r->n_cases;
  b->passed0 = r->passed;
  b->failed0 = r->failed;
  b->skipped0 = r->skipped;
  map_init(&b->names);
  for (size_t i = 0; i < r->n_cases; i++)
    if (map_put(&b->names, r->cases[i].name, strlen(r->cases[i].name), 2) < 0)
      {
        map_free(&b->names);
        return tars_error_set(err, ENOMEM, "test results");
      }
  return 0;
}

/* Leave R as it was before the parse (FAILED) or as it is, and free the index.  */
static void
builder_done(struct builder *b, bool failed)
{
  struct tars_test_results *r = b->r;
  if (failed)
    {
      for (size_t i = b->n0; i < r->n_cases; i++)
        {
          free(r->cases[i].name);
          free(r->cases[i].output);
        }
      r->n_cases = b->n0;
      r->passed = b->passed0;
      r->failed = b->failed0;
      r->skipped = b->skipped0;
    }
  map_free(&b->names);
}

static void
builder_count(struct builder *b, enum tars_test_status status, uint64_t n)
{
  add_count(status == TARS_TEST_PASSED   ? &b->r->passed
            : status == TARS_TEST_FAILED ? &b->r->failed
                                         : &b->r->skipped,
            n);
}

/* Add the case RAW (N bytes, untrusted) with STATUS and OUTPUT (taken, may be NULL).  Beyond
 * TARS_RESULTS_MAX_CASES cases it is dropped.  */
static int
builder_add(struct builder *b, const char *raw, size_t n, enum tars_test_status status,
            char *output, struct tars_error *err)
{
  cleanup_free char *out = output, *base = NULL, *name = NULL;
  struct tars_test_results *r = b->r;

  if (r->n_cases >= TARS_RESULTS_MAX_CASES)
    return 0;
  if (n == 0)
    raw = "(unnamed)", n = strlen(raw);
  if ((base = clean_dup(raw, cut_at_char(raw, n, TARS_RESULTS_MAX_NAME), false)) == NULL)
    return tars_error_set(err, ENOMEM, "test results");
  size_t blen = strlen(base);
  struct map_slot *seen = map_find(&b->names, base, blen);
  if (seen == NULL)
    name = steal_pointer(&base);
  else if (b->dedupe)
    return 0;
  else
    for (size_t k = seen->val;; k++)
      {
        char suffix[32];
        size_t sl = (size_t)snprintf(suffix, sizeof suffix, " #%zu", k);
        size_t keep = cut_at_char(base, blen, TARS_RESULTS_MAX_NAME - sl);
        if ((name = malloc(keep + sl + 1)) == NULL)
          return tars_error_set(err, ENOMEM, "test results");
        memcpy(name, base, keep);
        memcpy(name + keep, suffix, sl + 1);
        if (map_find(&b->names, name, keep + sl) == NULL)
          {
            seen->val = k + 1;
            break;
          }
        free(steal_pointer(&name));
      }
  if (r->n_cases == b->alloc)
    {
      size_t alloc = b->alloc ? b->alloc * 2 : 16;
      struct tars_test_case *cases = realloc(r->cases, alloc * sizeof *cases);
      if (cases == NULL)
        return tars_error_set(err, ENOMEM, "test results");
      r->cases = cases;
      b->alloc = alloc;
    }
  if (map_put(&b->names, name, strlen(name), 2) < 0)
    return tars_error_set(err, ENOMEM, "test results");
  r->cases[r->n_cases++] = (struct tars_test_case){
      steal_pointer(&name), status, status == TARS_TEST_FAILED ? steal_pointer(&out) : NULL};
  return 0;
}

void
tars_test_results_free(struct tars_test_results *r)
{
  for (size_t i = 0; i < r->n_cases; i++)
    {
      free(r->cases[i].name);
      free(r->cases[i].output);
    }
  free(r->cases);
  memset(r, 0, sizeof *r);
}

const struct tars_test_case *
tars_results_find(const struct tars_test_results *r, const char *name)
{
  for (size_t i = 0; i < r->n_cases; i++)
    if (strcmp(r->cases[i].name, name) == 0)
      return &r->cases[i];
  return NULL;
}

static void
set_source(struct tars_test_results *r, const char *source)
{
  r->parsed = true;
  snprintf(r->source, sizeof r->source, "%s", source);
}

/* ----- JUnit XML ----- */

#define JUNIT_MAX_DEPTH 64
#define JUNIT_CHUNK (1u << 20)

struct junit
{
  XML_Parser parser;
  struct builder b;
  struct tars_error *err;
  bool stopped; /* ERR is filled */
  unsigned depth, case_depth, collect_depth;
  bool in_case, failed, skipped;
  enum tars_test_status status_attr;
  bool has_status_attr;
  char *case_name;
  size_t case_name_len;
  struct tail *collect;
  struct tail msg, body, out, errout;
};

static void
junit_stop(struct junit *j, int errnum, const char *fmt, const char *arg)
{
  if (j->stopped)
    return;
  j->stopped = true;
  if (errnum)
    tars_error_set(j->err, errnum, "JUnit XML");
  else
    tars_error_invalid(j->err, fmt, arg, (unsigned long)XML_GetCurrentLineNumber(j->parser));
  XML_StopParser(j->parser, XML_FALSE);
}

static const char *
attr(const XML_Char **atts, const char *name)
{
  for (size_t i = 0; atts[i] != NULL; i += 2)
    if (strcmp(atts[i], name) == 0)
      return atts[i + 1];
  return NULL;
}

static void
junit_begin_case(struct junit *j, const XML_Char **atts)
{
  const char *name = attr(atts, "name"), *cls = attr(atts, "classname"), *status;
  size_t nl, cl;

  name = name ? name : "";
  /* ctest writes the test's name as its classname too.  */
  if (cls != NULL && strcmp(cls, name) == 0)
    cls = NULL;
  /* Only the first TARS_RESULTS_MAX_NAME bytes of the name are kept.  */
  nl = strnlen(name, TARS_RESULTS_MAX_NAME + 4);
  cl = cls ? strnlen(cls, TARS_RESULTS_MAX_NAME + 4) : 0;
  free(j->case_name);
  if ((j->case_name = malloc(cl + 2 + nl + 1)) == NULL)
    return junit_stop(j, ENOMEM, NULL, NULL);
  if (cl > 0)
    j->case_name_len = (size_t)sprintf(j->case_name, "%.*s::%.*s", (int)cl, cls, (int)nl, name);
  else
    j->case_name_len = (size_t)sprintf(j->case_name, "%.*s", (int)nl, name);
  j->in_case = true;
  j->case_depth = j->depth;
  j->failed = j->skipped = j->has_status_attr = false;
  j->msg.len = j->body.len = j->out.len = j->errout.len = 0;
  /* ctest: status="run|fail|notrun|disabled"; others write no status, or an attribute the
   * children agree with.  */
  if ((status = attr(atts, "status")) != NULL)
    {
      static const char *const failed[] = {"fail", "failed", "failure", "error"};
      static const char *const skipped[] = {"notrun", "disabled", "skipped", "skip", "ignored"};
      for (size_t i = 0; i < sizeof failed / sizeof *failed; i++)
        if (strcasecmp(status, failed[i]) == 0)
          j->has_status_attr = true, j->status_attr = TARS_TEST_FAILED;
      for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++)
        if (strcasecmp(status, skipped[i]) == 0)
          j->has_status_attr = true, j->status_attr = TARS_TEST_SKIPPED;
    }
}

static void
junit_end_case(struct junit *j)
{
  enum tars_test_status st = j->failed            ? TARS_TEST_FAILED
                             : j->skipped         ? TARS_TEST_SKIPPED
                             : j->has_status_attr ? j->status_attr
                                                  : TARS_TEST_PASSED;
  char *output = NULL;
  bool oom = false;

  j->in_case = false;
  builder_count(&j->b, st, 1);
  if (st == TARS_TEST_FAILED)
    {
      struct tail parts[] = {j->body, j->out, j->errout};
      output = failure_output(j->msg.buf, j->msg.len, parts, 3, &oom);
      if (oom)
        return junit_stop(j, ENOMEM, NULL, NULL);
    }
  if (builder_add(&j->b, j->case_name, j->case_name_len, st, output, j->err) < 0)
    {
      j->stopped = true;
      XML_StopParser(j->parser, XML_FALSE);
    }
}

static void XMLCALL
junit_start(void *data, const XML_Char *name, const XML_Char **atts)
{
  struct junit *j = data;

  if (j->stopped)
    return;
  if (++j->depth > JUNIT_MAX_DEPTH)
    return junit_stop(j, 0, "JUnit XML: elements nested deeper than %s (line %lu)", "64");
  if (j->depth == 1 && strcmp(name, "testsuites") != 0 && strcmp(name, "testsuite") != 0)
    {
      char shown[64];
      shown[clean_into(shown, name, cut_at_char(name, strlen(name), sizeof shown - 1), false)] =
          '\0';
      return junit_stop(j, 0, "JUnit XML: the root element is <%s>, not <testsuites> (line %lu)",
                        shown);
    }
  if (!j->in_case)
    {
      if (strcmp(name, "testcase") == 0)
        junit_begin_case(j, atts);
      return;
    }
  if (j->depth != j->case_depth + 1 || j->collect != NULL)
    return;
  if (strcmp(name, "failure") == 0 || strcmp(name, "error") == 0)
    {
      const char *m = attr(atts, "message");
      j->failed = true;
      if (m != NULL && *m != '\0')
        {
          if ((j->msg.len > 0 && head_append(&j->msg, "\n", 1, TARS_RESULTS_MAX_OUTPUT) < 0) ||
              head_append(&j->msg, m, strlen(m), TARS_RESULTS_MAX_OUTPUT) < 0)
            return junit_stop(j, ENOMEM, NULL, NULL);
        }
      j->collect = &j->body;
      if (j->body.len > 0 && tail_append(&j->body, "\n", 1, TARS_RESULTS_MAX_OUTPUT) < 0)
        return junit_stop(j, ENOMEM, NULL, NULL);
    }
  else if (strcmp(name, "skipped") == 0)
    j->skipped = true;
  else if (strcmp(name, "system-out") == 0)
    j->collect = &j->out;
  else if (strcmp(name, "system-err") == 0)
    j->collect = &j->errout;
  if (j->collect != NULL)
    j->collect_depth = j->depth;
}

static void XMLCALL
junit_end(void *data, const XML_Char *name)
{
  struct junit *j = data;

  if (j->stopped)
    return;
  if (j->collect != NULL && j->depth == j->collect_depth)
    j->collect = NULL;
  if (j->in_case && j->depth == j->case_depth)
    junit_end_case(j);
  j->depth--;
}

static void XMLCALL
junit_text(void *data, const XML_Char *s, int len)
{
  struct junit *j = data;

  if (!j->stopped && j->collect != NULL && len > 0 &&
      tail_append(j->collect, s, (size_t)len, TARS_RESULTS_MAX_OUTPUT) < 0)
    junit_stop(j, ENOMEM, NULL, NULL);
}

/* No DTD: JUnit needs none, and entities are how XML documents grow without bound.  */
static void XMLCALL
junit_doctype(void *data, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
              int has_internal_subset)
{
  junit_stop(data, 0, "JUnit XML: %s (line %lu)", "a DOCTYPE declaration is refused");
}

static void XMLCALL
junit_entity(void *data, const XML_Char *name, int is_param, const XML_Char *value, int len,
             const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
             const XML_Char *notation)
{
  junit_stop(data, 0, "JUnit XML: %s (line %lu)", "an entity declaration is refused");
}

int
tars_results_parse_junit(const char *xml, size_t len, struct tars_test_results *r,
                         struct tars_error *err)
{
  struct junit j = {.err = err};
  int ret = 0;

  if (builder_init(&j.b, r, err) < 0)
    return -1;
  if ((j.parser = XML_ParserCreate(NULL)) == NULL)
    {
      builder_done(&j.b, true);
      return tars_error_set(err, ENOMEM, "JUnit XML");
    }
  XML_SetUserData(j.parser, &j);
  XML_SetElementHandler(j.parser, junit_start, junit_end);
  XML_SetCharacterDataHandler(j.parser, junit_text);
  XML_SetStartDoctypeDeclHandler(j.parser, junit_doctype);
  XML_SetEntityDeclHandler(j.parser, junit_entity);
  XML_SetParamEntityParsing(j.parser, XML_PARAM_ENTITY_PARSING_NEVER);
  for (size_t off = 0;;)
    {
      size_t n = len - off < JUNIT_CHUNK ? len - off : JUNIT_CHUNK;
      bool final = off + n == len;
      if (XML_Parse(j.parser, xml + off, (int)n, final) != XML_STATUS_OK)
        {
          if (!j.stopped)
            tars_error_invalid(err, "JUnit XML: %s at line %lu, column %lu",
                               XML_ErrorString(XML_GetErrorCode(j.parser)),
                               (unsigned long)XML_GetCurrentLineNumber(j.parser),
                               (unsigned long)XML_GetCurrentColumnNumber(j.parser));
          ret = -1;
          break;
        }
      off += n;
      if (final)
        break;
    }
  XML_ParserFree(j.parser);
  free(j.case_name);
  tail_free(&j.msg);
  tail_free(&j.body);
  tail_free(&j.out);
  tail_free(&j.errout);
  builder_done(&j.b, ret < 0);
  if (ret == 0)
    set_source(r, "junit");
  return ret;
}

/* ----- lines ----- */

#define LINE_MAX_KEPT 8192

/* Call FN on each line of TEXT as a terminal shows it: escape sequences (colours, links)
 * removed, a carriage return starting the line anew, cut to LINE_MAX_KEPT bytes.  Stops at FN's
 * first negative return.  */
static int
for_each_line(const char *text, size_t len, int (*fn)(void *, char *, size_t), void *data)
{
  cleanup_free char *buf = malloc(LINE_MAX_KEPT + 1);
  if (buf == NULL)
    return -2;
  for (size_t i = 0; i < len;)
    {
      const char *nl = memchr(text + i, '\n', len - i);
      size_t end = nl ? (size_t)(nl - text) : len, o = 0;
      for (size_t k = i; k < end;)
        {
          unsigned char c = (unsigned char)text[k];
          if (c == 0x1b && k + 1 < end && text[k + 1] == '[')
            {
              for (k += 2;
                   k < end && (unsigned char)text[k] >= 0x20 && (unsigned char)text[k] < 0x40;)
                k++;
              k += k < end; /* the final byte */
            }
          else if (c == 0x1b && k + 1 < end && text[k + 1] == ']')
            {
              /* OSC (gcc's links to the warning's documentation): to BEL or ESC \.  */
              for (k += 2; k < end && text[k] != '\a' && text[k] != 0x1b;)
                k++;
              k += k < end && text[k] == '\a' ? 1 : k + 1 < end ? 2 : 1;
            }
          else if (c == 0x1b)
            k += 2;
          else if (c == '\r')
            {
              k++;
              if (k < end)
                o = 0;
            }
          else
            {
              if (o < LINE_MAX_KEPT)
                buf[o++] = (char)c;
              k++;
            }
        }
      buf[o] = '\0';
      int rc = fn(data, buf, o);
      if (rc < 0)
        return rc;
      i = end + 1;
    }
  return 0;
}

static const char *
skip_ws(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

static const char *
after(const char *s, const char *prefix)
{
  size_t n = strlen(prefix);
  return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Digits at *P as a number (saturated), *P moved past them; false when there is none.  */
static bool
parse_num(const char **p, uint64_t *v)
{
  const char *s = *p;
  uint64_t n = 0;
  if (*s < '0' || *s > '9')
    return false;
  for (; *s >= '0' && *s <= '9'; s++)
    n = n > (UINT64_MAX - 9) / 10 ? UINT64_MAX : n * 10 + (uint64_t)(*s - '0');
  *v = n;
  *p = s;
  return true;
}

/* S without trailing blanks: its length.  */
static size_t
rtrim(const char *s, size_t n)
{
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  return n;
}

/* ----- runners' text summaries ----- */

struct text
{
  struct builder b;
  struct tars_error *err;
  bool parsed;
  uint64_t passed, failed, skipped;
  /* ctest */
  int section;
  uint64_t ct_total, ct_failed, ct_notrun, ct_notrun_skipped;
  /* unittest */
  bool ut_pending;
  uint64_t ut_ran;
  /* tap */
  uint64_t tap_seen, tap_plan;
  bool tap_has_plan;
  /* jest */
  char jest_file[TARS_RESULTS_MAX_NAME + 1];
  /* dotnet, the older format: "Total tests: N" then "Passed: N"...  */
  bool dn_block;
};

static int
text_case(struct text *t, const char *name, size_t n, enum tars_test_status st, const char *msg)
{
  char *output = NULL;
  if (msg != NULL && *msg != '\0' && st == TARS_TEST_FAILED &&
      (output = tars_trim_output(msg, strlen(msg), TARS_RESULTS_MAX_OUTPUT_LINES,
                                 TARS_RESULTS_MAX_OUTPUT)) == NULL)
    return tars_error_set(t->err, ENOMEM, "test results");
  return builder_add(&t->b, name, rtrim(name, n), st, output, t->err);
}

/* "N word, N word" (SEP between items): each word's count added to the counter KEYS names
 * (NULL: ignored).  False when an item is not "N word" with a known word.  */
struct word_count
{
  const char *word;
  uint64_t *counter;
};

static bool
parse_counts(const char *s, const char *sep, const struct word_count *keys, size_t n_keys,
             bool number_first)
{
  uint64_t found[16] = {0};
  size_t seplen = strlen(sep);

  if (n_keys > 16)
    return false;
  for (const char *p = s;;)
    {
      const char *end = strstr(p, sep);
      size_t n = end ? (size_t)(end - p) : strlen(p);
      uint64_t v;
      const char *word, *q = skip_ws(p);
      size_t wlen;
      if (number_first)
        {
          if (!parse_num(&q, &v) || *q != ' ')
            return false;
          word = q + 1;
          wlen = rtrim(word, n - (size_t)(word - p));
        }
      else
        {
          /* "word: N" or "word=N" */
          const char *colon = q;
          while (colon < p + n && *colon != ':' && *colon != '=')
            colon++;
          if (colon == p + n)
            return false;
          word = q;
          wlen = (size_t)(colon - q);
          const char *num = skip_ws(colon + 1);
          if (!parse_num(&num, &v) || rtrim(num, n - (size_t)(num - p)) != 0)
            return false;
        }
      size_t k;
      for (k = 0; k < n_keys; k++)
        if (strlen(keys[k].word) == wlen && strncmp(keys[k].word, word, wlen) == 0)
          break;
      if (k == n_keys)
        return false;
      add_count(&found[k], v);
      if (end == NULL)
        break;
      p = end + seplen;
    }
  for (size_t k = 0; k < n_keys; k++)
    if (keys[k].counter != NULL)
      add_count(keys[k].counter, found[k]);
  return true;
}

/* pytest: "=== 3 failed, 3 passed, 1 skipped, 1 error in 0.03s ===" (or without the rules,
 * with -q), "FAILED node::id - message", "ERROR node::id - message".  */
static int
pytest_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p;

  if (((p = after(line, "FAILED ")) || (p = after(line, "ERROR "))) && *p != ' ' && *p != '\0')
    {
      /* The node id ends at the first " - " outside brackets (parameters may hold one).  */
      size_t depth = 0, k;
      for (k = 0; p[k] != '\0'; k++)
        if (p[k] == '[')
          depth++;
        else if (p[k] == ']' && depth > 0)
          depth--;
        else if (depth == 0 && strncmp(p + k, " - ", 3) == 0)
          break;
      return text_case(t, p, k, TARS_TEST_FAILED, p[k] ? p + k + 3 : NULL);
    }
  /* The summary: strip the rules, then "ITEMS in N.NNs[ (h:mm:ss)]".  */
  char *s = line, *e = line + n;
  while (*s == '=' || *s == ' ')
    s++;
  while (e > s && (e[-1] == '=' || e[-1] == ' '))
    e--;
  *e = '\0';
  char *in = NULL;
  for (char *q = s; (q = strstr(q, " in ")) != NULL; q++)
    in = q;
  if (in == NULL || in[4] < '0' || in[4] > '9')
    return 0;
  *in = '\0';
  uint64_t ignored = 0;
  if (strcmp(s, "no tests ran") == 0)
    {
      t->parsed = true;
      return 0;
    }
  const struct word_count keys[] = {
      {"passed", &t->passed},   {"failed", &t->failed},   {"error", &t->failed},
      {"errors", &t->failed},   {"skipped", &t->skipped}, {"xfailed", &t->skipped},
      {"xpassed", &t->passed},  {"warning", &ignored},    {"warnings", &ignored},
      {"deselected", &ignored}, {"rerun", &ignored},      {"reruns", &ignored},
  };
  if (parse_counts(s, ", ", keys, sizeof keys / sizeof *keys, true))
    t->parsed = true;
  return 0;
}

/* ctest: "75% tests passed, 1 tests failed out of 4", then the lists "The following tests
 * FAILED:" and "The following tests did not run:" of "  3 - name (Failed)".  */
static int
ctest_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p = skip_ws(line);
  uint64_t pct, failed, total;

  const char *q;
  if (parse_num(&p, &pct) && (p = after(p, "% tests passed, ")) && parse_num(&p, &failed) &&
      ((q = after(p, " tests failed out of ")) || (q = after(p, " test failed out of "))) &&
      parse_num(&q, &total))
    {
      t->parsed = true;
      add_count(&t->ct_total, total);
      add_count(&t->ct_failed, failed);
      t->section = 0;
      return 0;
    }
  if (strcmp(line, "The following tests FAILED:") == 0)
    return t->section = 1, 0;
  if (strcmp(line, "The following tests did not run:") == 0)
    return t->section = 2, 0;
  if (t->section == 0)
    return 0;
  uint64_t num;
  p = skip_ws(line);
  if (!parse_num(&p, &num) || !(p = after(p, " - ")))
    return t->section = 0, 0;
  /* The name ends at the last " (Reason)".  */
  const char *reason = NULL;
  for (const char *q = p; (q = strstr(q, " (")) != NULL; q++)
    {
      size_t k = 2;
      while (q[k] == ' ' || q[k] == '_' || (q[k] >= 'A' && q[k] <= 'Z') ||
             (q[k] >= 'a' && q[k] <= 'z'))
        k++;
      if (k > 2 && q[k] == ')')
        reason = q;
    }
  if (reason == NULL)
    return t->section = 0, 0;
  if (t->section == 2)
    {
      add_count(&t->ct_notrun, 1);
      if (strncmp(reason, " (Skipped)", 10) == 0)
        add_count(&t->ct_notrun_skipped, 1);
      return 0;
    }
  return text_case(t, p, (size_t)(reason - p), TARS_TEST_FAILED, NULL);
}

/* cargo: "test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out;
 * finished in 0.12s" (one per test binary), "test tests::bad ... FAILED".  */
static int
cargo_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p;

  if ((p = after(line, "test result: ")))
    {
      if (!(p = after(p, "ok. ")) && !(p = after(line + 13, "FAILED. ")))
        return 0;
      char *fin = strstr(p, "; finished in ");
      if (fin != NULL)
        *fin = '\0';
      uint64_t ignored = 0;
      const struct word_count keys[] = {
          {"passed", &t->passed}, {"failed", &t->failed},     {"ignored", &t->skipped},
          {"measured", &ignored}, {"filtered out", &ignored}, {"filtered out;", &ignored},
      };
      if (parse_counts(p, "; ", keys, sizeof keys / sizeof *keys, true))
        t->parsed = true;
      return 0;
    }
  if ((p = after(line, "test ")) && n >= 15 && strcmp(line + n - 11, " ... FAILED") == 0)
    {
      size_t k = (size_t)(line + n - 11 - p);
      if (k > 15 && strncmp(p + k - 15, " - should panic", 15) == 0)
        k -= 15;
      return text_case(t, p, k, TARS_TEST_FAILED, NULL);
    }
  return 0;
}

/* unittest: "FAIL: test_b (mod.Class.test_b)" (Python < 3.11: "(mod.Class)"), "ERROR: ...",
 * "Ran 5 tests in 0.001s", then "OK (skipped=1)" or "FAILED (failures=1, errors=1)".  */
static int
unittest_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p;

  if ((p = after(line, "FAIL: ")) || (p = after(line, "ERROR: ")))
    {
      const char *open = strstr(p, " ("), *close = open ? strchr(open, ')') : NULL;
      if (open == NULL || close == NULL)
        return text_case(t, p, n - (size_t)(p - line), TARS_TEST_FAILED, NULL);
      size_t mlen = (size_t)(open - p), qlen = (size_t)(close - open - 2);
      const char *q = open + 2;
      char name[2 * LINE_MAX_KEPT + 4];
      /* "mod.Class.method", whichever way the version prints it, then what follows (a
       * subtest's parameters).  */
      if (qlen > mlen && q[qlen - mlen - 1] == '.' && strncmp(q + qlen - mlen, p, mlen) == 0)
        snprintf(name, sizeof name, "%.*s%s", (int)qlen, q, close + 1);
      else
        snprintf(name, sizeof name, "%.*s.%.*s%s", (int)qlen, q, (int)mlen, p, close + 1);
      return text_case(t, name, strlen(name), TARS_TEST_FAILED, NULL);
    }
  if ((p = after(line, "Ran ")))
    {
      if (parse_num(&p, &t->ut_ran) && (after(p, " tests in ") || after(p, " test in ")))
        t->ut_pending = true;
      return 0;
    }
  if (!t->ut_pending)
    return 0;
  bool ok = (p = after(line, "OK")) != NULL;
  if (!ok && !(p = after(line, "FAILED")))
    return 0;
  uint64_t failures = 0, errors = 0, skipped = 0, xfail = 0, xpass = 0;
  if (*p == ' ' && p[1] == '(' && n > 0 && line[n - 1] == ')')
    {
      line[n - 1] = '\0';
      const struct word_count keys[] = {
          {"failures", &failures},
          {"errors", &errors},
          {"skipped", &skipped},
          {"expected failures", &xfail},
          {"unexpected successes", &xpass},
      };
      if (!parse_counts(p + 2, ", ", keys, sizeof keys / sizeof *keys, false))
        return 0;
    }
  else if (*p != '\0')
    return 0;
  t->ut_pending = false;
  t->parsed = true;
  uint64_t bad = 0, skip = 0, ran = t->ut_ran;
  add_count(&bad, failures);
  add_count(&bad, errors);
  add_count(&bad, xpass);
  add_count(&skip, skipped);
  add_count(&skip, xfail);
  add_count(&t->failed, bad);
  add_count(&t->skipped, skip);
  /* Errors in a class's set-up are counted without a test having run.  */
  ran = ran > bad ? ran - bad : 0;
  add_count(&t->passed, ran > skip ? ran - skip : 0);
  return 0;
}

/* automake (make check): "# PASS:  3", "# FAIL:  1"..., and "FAIL: name" per test.  */
static int
automake_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p;

  if ((p = after(line, "# ")))
    {
      uint64_t ignored = 0;
      const struct word_count keys[] = {
          {"TOTAL", &ignored},  {"PASS", &t->passed},  {"SKIP", &t->skipped}, {"XFAIL", &t->passed},
          {"FAIL", &t->failed}, {"XPASS", &t->failed}, {"ERROR", &t->failed},
      };
      if (parse_counts(p, "\n", keys, sizeof keys / sizeof *keys, false))
        t->parsed = true;
      return 0;
    }
  if ((p = after(line, "FAIL: ")) || (p = after(line, "ERROR: ")) || (p = after(line, "XPASS: ")))
    return text_case(t, p, n - (size_t)(p - line), TARS_TEST_FAILED, NULL);
  return 0;
}

/* dotnet test: "Failed!  - Failed:     1, Passed:     3, Skipped:     0, Total:     4,
 * Duration: 12 ms - x.dll (net8.0)" per project; older SDKs: "Total tests: 4" then "Passed: 3",
 * "Failed: 1", "Skipped: 0" lines; "  Failed Namespace.Class.Method [5 ms]" per failure.  */
static int
dotnet_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p = skip_ws(line), *q;

  if ((q = after(p, "Failed!")) || (q = after(p, "Passed!")) || (q = after(p, "Skipped!")))
    {
      q = skip_ws(q);
      if (!(q = after(q, "- ")))
        return 0;
      char *dur = strstr(q, ", Duration:");
      if (dur == NULL)
        dur = strstr(q, " - ");
      if (dur != NULL)
        *dur = '\0';
      uint64_t ignored = 0;
      const struct word_count keys[] = {
          {"Failed", &t->failed},
          {"Passed", &t->passed},
          {"Skipped", &t->skipped},
          {"Total", &ignored},
      };
      if (parse_counts(q, ", ", keys, sizeof keys / sizeof *keys, false))
        t->parsed = true;
      return 0;
    }
  if ((q = after(p, "Total tests: ")))
    {
      t->dn_block = true;
      t->parsed = true;
      return 0;
    }
  if (t->dn_block)
    {
      const struct word_count keys[] = {
          {"Passed", &t->passed}, {"Failed", &t->failed}, {"Skipped", &t->skipped}};
      if (!parse_counts(p, "\n", keys, sizeof keys / sizeof *keys, false))
        t->dn_block = false;
      else
        return 0;
    }
  if ((q = after(p, "Failed ")) && n > 0 && line[n - 1] == ']')
    {
      const char *br = strrchr(q, '[');
      if (br != NULL && br > q && br[-1] == ' ')
        return text_case(t, q, (size_t)(br - 1 - q), TARS_TEST_FAILED, NULL);
    }
  return 0;
}

/* TAP: "1..N", "ok 1 - name", "not ok 2 - name", "ok 3 # SKIP why", "not ok 4 # TODO why",
 * "Bail out!".  Every test is a case.  */
static int
tap_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p;
  bool ok;
  uint64_t num;

  if ((p = after(line, "1..")) && parse_num(&p, &t->tap_plan))
    {
      t->tap_has_plan = t->parsed = true;
      return 0;
    }
  if (after(line, "Bail out!"))
    {
      t->parsed = true;
      add_count(&t->failed, 1);
      return text_case(t, "(bail out)", 10, TARS_TEST_FAILED, line);
    }
  if ((p = after(line, "ok")))
    ok = true;
  else if ((p = after(line, "not ok")))
    ok = false;
  else
    return 0;
  if (*p != ' ' && *p != '\0')
    return 0;
  t->parsed = true;
  add_count(&t->tap_seen, 1);
  p = skip_ws(p);
  const char *numstr = p;
  bool has_num = parse_num(&p, &num);
  size_t numlen = (size_t)(p - numstr);
  p = skip_ws(p);
  if (*p == '-' && (p[1] == ' ' || p[1] == '\0'))
    p = skip_ws(p + 1);
  /* The directive: the first unescaped '#'.  */
  const char *hash = p;
  while (*hash != '\0' && !(*hash == '#' && (hash == p || hash[-1] != '\\')))
    hash++;
  enum tars_test_status st = ok ? TARS_TEST_PASSED : TARS_TEST_FAILED;
  if (*hash == '#')
    {
      const char *d = skip_ws(hash + 1);
      if (strncasecmp(d, "skip", 4) == 0)
        st = TARS_TEST_SKIPPED;
      else if (strncasecmp(d, "todo", 4) == 0)
        st = ok ? TARS_TEST_PASSED : TARS_TEST_SKIPPED;
    }
  builder_count(&t->b, st, 1);
  size_t dlen = rtrim(p, (size_t)(hash - p));
  if (dlen == 0)
    {
      char name[32];
      if (has_num)
        snprintf(name, sizeof name, "%.*s", numlen > 20 ? 20 : (int)numlen, numstr);
      else
        snprintf(name, sizeof name, "%" PRIu64, t->tap_seen);
      return text_case(t, name, strlen(name), st, NULL);
    }
  return text_case(t, p, dlen, st, NULL);
}

/* jest: "Tests:       1 failed, 1 skipped, 3 passed, 5 total", "  ● Suite › test" per failure,
 * " FAIL  path" then "  ● Test suite failed to run" for a suite that did not load.  */
static int
jest_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p = skip_ws(line), *q;

  if ((q = after(p, "Tests:")))
    {
      uint64_t ignored = 0;
      const struct word_count keys[] = {
          {"failed", &t->failed}, {"passed", &t->passed},   {"skipped", &t->skipped},
          {"todo", &t->skipped},  {"pending", &t->skipped}, {"total", &ignored},
      };
      if (parse_counts(skip_ws(q), ", ", keys, sizeof keys / sizeof *keys, true))
        t->parsed = true;
      return 0;
    }
  if ((q = after(p, "FAIL ")) && p == line + 1)
    {
      q = skip_ws(q);
      size_t k = cut_at_char(q, rtrim(q, strlen(q)), TARS_RESULTS_MAX_NAME - 16);
      memcpy(t->jest_file, q, k);
      t->jest_file[k] = '\0';
      return 0;
    }
  if ((q = after(p, "\u25cf ")))
    {
      if (strcmp(q, "Console") == 0)
        return 0;
      if (strcmp(q, "Test suite failed to run") == 0)
        {
          char name[TARS_RESULTS_MAX_NAME + 16];
          snprintf(name, sizeof name, "%s::(suite)", t->jest_file);
          add_count(&t->failed, 1);
          return text_case(t, name, strlen(name), TARS_TEST_FAILED, NULL);
        }
      return text_case(t, q, strlen(q), TARS_TEST_FAILED, NULL);
    }
  return 0;
}

/* meson test: "Ok:                 3", "Expected Fail:      1", "Fail:               1",
 * "Unexpected Pass:    0", "Skipped:            1", "Timeout:            0"; per test
 * " 3/6 name  FAIL            0.01s   exit status 1".  */
static int
meson_line(void *data, char *line, size_t n)
{
  struct text *t = data;
  const char *p = skip_ws(line);
  uint64_t a, b;

  const struct word_count keys[] = {
      {"Ok", &t->passed},       {"Expected Fail", &t->passed},
      {"Fail", &t->failed},     {"Unexpected Pass", &t->failed},
      {"Skipped", &t->skipped}, {"Timeout", &t->failed},
  };
  if (parse_counts(p, "\n", keys, sizeof keys / sizeof *keys, false))
    {
      if (after(p, "Ok:"))
        t->parsed = true;
      return 0;
    }
  if (!parse_num(&p, &a) || *p++ != '/' || !parse_num(&p, &b) || *p != ' ')
    return 0;
  p = skip_ws(p);
  static const char *const bad[] = {" FAIL ", " TIMEOUT ", " UNEXPECTEDPASS ", " ERROR "};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      const char *hit = NULL;
      for (const char *q = p; (q = strstr(q, bad[i])) != NULL; q++)
        {
          const char *r = skip_ws(q + strlen(bad[i]));
          if (*r >= '0' && *r <= '9')
            hit = q;
        }
      if (hit != NULL)
        return text_case(t, p, (size_t)(hit - p), TARS_TEST_FAILED, NULL);
    }
  return 0;
}

static const struct
{
  const char *name;
  int (*line)(void *, char *, size_t);
  bool every_case; /* names repeat only when tests do: keep each, made unique */
} runners[] = {
    {"pytest", pytest_line, false},
    {"ctest", ctest_line, false},
    {"cargo", cargo_line, false},
    {"unittest", unittest_line, false},
    {"automake", automake_line, false},
    {"dotnet", dotnet_line, false},
    {"tap", tap_line, true},
    {"jest", jest_line, false},
    {"meson", meson_line, false},
};

int
tars_results_parse_text(const char *runner, const char *text, size_t len,
                        struct tars_test_results *r, struct tars_error *err)
{
  size_t i;
  for (i = 0; i < sizeof runners / sizeof *runners; i++)
    if (strcmp(runner, runners[i].name) == 0)
      break;
  if (i == sizeof runners / sizeof *runners)
    return tars_error_invalid(err, "unknown test runner '%.64s'", runner);

  struct text *t = calloc(1, sizeof *t);
  if (t == NULL)
    return tars_error_set(err, ENOMEM, "test results");
  t->err = err;
  if (builder_init(&t->b, r, err) < 0)
    {
      free(t);
      return -1;
    }
  t->b.dedupe = !runners[i].every_case;
  int rc = for_each_line(text, len, runners[i].line, t);
  if (rc == -2)
    tars_error_set(err, ENOMEM, "test results");
  if (rc == 0 && t->parsed)
    {
      if (strcmp(runner, "ctest") == 0)
        {
          uint64_t pass = t->ct_total;
          pass = pass > t->ct_failed ? pass - t->ct_failed : 0;
          pass = pass > t->ct_notrun_skipped ? pass - t->ct_notrun_skipped : 0;
          add_count(&t->passed, pass);
          add_count(&t->failed, t->ct_failed);
          add_count(&t->skipped, t->ct_notrun);
        }
      if (strcmp(runner, "tap") == 0 && t->tap_has_plan && t->tap_plan > t->tap_seen)
        {
          char msg[96];
          snprintf(msg, sizeof msg, "planned %" PRIu64 " tests, %" PRIu64 " ran", t->tap_plan,
                   t->tap_seen);
          add_count(&t->failed, 1);
          rc = text_case(t, "(plan)", 6, TARS_TEST_FAILED, msg);
        }
      add_count(&r->passed, t->passed);
      add_count(&r->failed, t->failed);
      add_count(&r->skipped, t->skipped);
    }
  /* Without a summary, the names found are not kept either: the caller goes by the exit
   * status.  */
  builder_done(&t->b, rc < 0 || !t->parsed);
  if (rc == 0 && t->parsed)
    set_source(r, runner);
  free(t);
  return rc < 0 ? -1 : 0;
}

/* ----- go test -json ----- */

#define GO_MAX_LINE (1u << 20)
/* Output is kept per test while it runs (the last TARS_RESULTS_MAX_OUTPUT bytes, in a buffer of
 * twice that) and dropped when it passes: at most this many buffers at once.  */
#define GO_MAX_BUFFERS 4096

enum go_state
{
  GO_NONE,
  GO_RUNNING,
  GO_PASS,
  GO_FAIL,
  GO_SKIP,
};

struct go_entry
{
  char *key;  /* a test: "package\ntest"; a package or a build: its name */
  size_t sep; /* a test: the length of its package */
  enum go_state state;
  bool test_failed; /* a package: one of its tests failed */
  char *failed_build;
  struct tail out;
};

struct go_table
{
  struct map map;
  struct go_entry *v;
  size_t n, alloc;
};

struct go
{
  struct go_table tests, packages, builds;
  size_t buffers;
  uint64_t extra[5]; /* terminal actions of the tests beyond TARS_RESULTS_MAX_CASES */
};

/* The entry KEY (N bytes) of T, created when CREATE; NULL when absent, when T is full, or when
 * out of memory (*OOM).  */
static struct go_entry *
go_get(struct go_table *t, const char *key, size_t n, size_t sep, bool create, bool *oom)
{
  struct map_slot *s = map_find(&t->map, key, n);
  if (s != NULL)
    return &t->v[s->val];
  if (!create || t->n >= TARS_RESULTS_MAX_CASES)
    return NULL;
  if (t->n == t->alloc)
    {
      size_t alloc = t->alloc ? t->alloc * 2 : 64;
      struct go_entry *v = realloc(t->v, alloc * sizeof *v);
      if (v == NULL)
        goto oom;
      t->v = v;
      t->alloc = alloc;
    }
  struct go_entry *e = &t->v[t->n];
  memset(e, 0, sizeof *e);
  if ((e->key = malloc(n + 1)) == NULL)
    goto oom;
  memcpy(e->key, key, n);
  e->key[n] = '\0';
  e->sep = sep;
  if (map_put(&t->map, e->key, n, t->n) < 0)
    {
      free(e->key);
      goto oom;
    }
  t->n++;
  return e;
oom:
  *oom = true;
  return NULL;
}

static void
go_table_free(struct go_table *t)
{
  for (size_t i = 0; i < t->n; i++)
    {
      free(t->v[i].key);
      free(t->v[i].failed_build);
      tail_free(&t->v[i].out);
    }
  free(t->v);
  map_free(&t->map);
}

static int
go_keep_output(struct go *g, struct go_entry *e, const char *s)
{
  if (e->out.buf == NULL)
    {
      if (g->buffers >= GO_MAX_BUFFERS)
        return 0;
      g->buffers++;
    }
  return tail_append(&e->out, s, strlen(s), TARS_RESULTS_MAX_OUTPUT);
}

static void
go_drop_output(struct go *g, struct go_entry *e)
{
  if (e->out.buf != NULL)
    g->buffers--;
  tail_free(&e->out);
}

static const char *
json_str(const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
go_event(struct go *g, const cJSON *ev)
{
  const char *action = json_str(ev, "Action"), *pkg = json_str(ev, "Package");
  const char *test = json_str(ev, "Test"), *output = json_str(ev, "Output");
  bool oom = false;
  struct go_entry *e;

  if (action == NULL)
    return 0;
  if (strcmp(action, "build-output") == 0)
    {
      const char *path = json_str(ev, "ImportPath");
      if (path != NULL && output != NULL &&
          (e = go_get(&g->builds, path, strlen(path), 0, true, &oom)) != NULL &&
          go_keep_output(g, e, output) < 0)
        return -1;
      return oom ? -1 : 0;
    }
  if (pkg == NULL)
    return 0;
  enum go_state st = strcmp(action, "pass") == 0   ? GO_PASS
                     : strcmp(action, "fail") == 0 ? GO_FAIL
                     : strcmp(action, "skip") == 0 ? GO_SKIP
                     : strcmp(action, "run") == 0  ? GO_RUNNING
                                                   : GO_NONE;
  bool is_output = strcmp(action, "output") == 0;
  if (st == GO_NONE && !is_output)
    return 0;
  size_t plen = strlen(pkg);
  struct go_entry *p = go_get(&g->packages, pkg, plen, 0, true, &oom);
  if (oom)
    return -1;
  if (test == NULL)
    {
      if (p == NULL)
        return 0;
      if (is_output && output != NULL)
        return go_keep_output(g, p, output);
      if (st == GO_PASS || st == GO_FAIL)
        p->state = st == GO_FAIL || p->state == GO_FAIL ? GO_FAIL : GO_PASS;
      const char *fb = json_str(ev, "FailedBuild");
      if (st == GO_FAIL && fb != NULL && p->failed_build == NULL &&
          (p->failed_build = strdup(fb)) == NULL)
        return -1;
      return 0;
    }
  size_t tlen = strlen(test);
  cleanup_free char *key = malloc(plen + 1 + tlen + 1);
  if (key == NULL)
    return -1;
  sprintf(key, "%s\n%s", pkg, test);
  e = go_get(&g->tests, key, plen + 1 + tlen, plen, true, &oom);
  if (oom)
    return -1;
  if (e == NULL)
    {
      if (st != GO_RUNNING && !is_output)
        add_count(&g->extra[st], 1);
      if (st == GO_FAIL && p != NULL)
        p->test_failed = true;
      return 0;
    }
  if (is_output)
    {
      if (e->state == GO_NONE)
        e->state = GO_RUNNING;
      return output != NULL ? go_keep_output(g, e, output) : 0;
    }
  if (st == GO_RUNNING)
    {
      /* Again with -count=N, after a pass.  */
      if (e->state != GO_FAIL)
        e->state = GO_RUNNING;
      return 0;
    }
  /* -count=N runs a test N times: one failure fails it.  */
  if (e->state != GO_FAIL)
    e->state = st;
  if (st == GO_FAIL && p != NULL)
    p->test_failed = true;
  if (e->state != GO_FAIL)
    go_drop_output(g, e);
  return 0;
}

static bool
go_build_failed(const struct go_entry *p)
{
  return p->failed_build != NULL ||
         (p->out.buf != NULL && (memmem(p->out.buf, p->out.len, " [build failed]", 15) != NULL ||
                                 memmem(p->out.buf, p->out.len, " [setup failed]", 15) != NULL));
}

static int
go_finish(struct go *g, struct builder *b, struct tars_error *err)
{
  bool oom = false;

  for (size_t i = 0; i < g->tests.n; i++)
    {
      struct go_entry *e = &g->tests.v[i];
      struct go_entry *p = go_get(&g->packages, e->key, e->sep, 0, false, &oom);
      /* A test still running when its package ended (a timeout, a panic) or when the output
       * ended has failed.  */
      if (e->state == GO_RUNNING || e->state == GO_NONE)
        {
          e->state = p != NULL && p->state == GO_PASS ? GO_PASS : GO_FAIL;
          if (e->state == GO_FAIL && p != NULL)
            p->test_failed = true;
        }
    }
  for (size_t i = 0; i < g->tests.n; i++)
    {
      struct go_entry *e = &g->tests.v[i];
      enum tars_test_status st = e->state == GO_PASS   ? TARS_TEST_PASSED
                                 : e->state == GO_SKIP ? TARS_TEST_SKIPPED
                                                       : TARS_TEST_FAILED;
      char *output = NULL;
      builder_count(b, st, 1);
      if (st == TARS_TEST_FAILED)
        {
          output = failure_output(NULL, 0, &e->out, 1, &oom);
          if (oom)
            return tars_error_set(err, ENOMEM, "go test output");
        }
      e->key[e->sep] = '\0';
      char name[2 * TARS_RESULTS_MAX_NAME + 8];
      int k = snprintf(name, sizeof name, "%.*s::%.*s", TARS_RESULTS_MAX_NAME, e->key,
                       TARS_RESULTS_MAX_NAME, e->key + e->sep + 1);
      if (builder_add(b, name, (size_t)k, st, output, err) < 0)
        return -1;
    }
  builder_count(b, TARS_TEST_PASSED, g->extra[GO_PASS]);
  builder_count(b, TARS_TEST_FAILED, g->extra[GO_FAIL]);
  builder_count(b, TARS_TEST_SKIPPED, g->extra[GO_SKIP]);
  for (size_t i = 0; i < g->packages.n; i++)
    {
      struct go_entry *p = &g->packages.v[i];
      if (p->state != GO_FAIL || p->test_failed)
        continue;
      bool build = go_build_failed(p);
      struct go_entry *bo = p->failed_build ? go_get(&g->builds, p->failed_build,
                                                     strlen(p->failed_build), 0, false, &oom)
                                            : NULL;
      char *output = failure_output(NULL, 0, bo && bo->out.buf ? &bo->out : &p->out, 1, &oom);
      if (oom)
        return tars_error_set(err, ENOMEM, "go test output");
      char name[TARS_RESULTS_MAX_NAME + 16];
      int k = snprintf(name, sizeof name, "%.*s::%s", TARS_RESULTS_MAX_NAME, p->key,
                       build ? "(build)" : "(package)");
      builder_count(b, TARS_TEST_FAILED, 1);
      if (builder_add(b, name, (size_t)k, TARS_TEST_FAILED, output, err) < 0)
        return -1;
    }
  return 0;
}

int
tars_results_parse_go_json(const char *text, size_t len, struct tars_test_results *r,
                           struct tars_error *err)
{
  struct builder b;
  struct go g = {0};
  bool any = false;
  int ret = 0;

  if (builder_init(&b, r, err) < 0)
    return -1;
  map_init(&g.tests.map);
  map_init(&g.packages.map);
  map_init(&g.builds.map);
  for (size_t i = 0; i < len;)
    {
      const char *nl = memchr(text + i, '\n', len - i);
      size_t end = nl ? (size_t)(nl - text) : len, k = i;
      while (k < end && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r'))
        k++;
      if (k < end && text[k] == '{' && end - k <= GO_MAX_LINE)
        {
          cJSON *ev = cJSON_ParseWithLength(text + k, end - k);
          if (ev != NULL)
            {
              if (cJSON_IsObject(ev) && json_str(ev, "Action") != NULL)
                any = true;
              int rc = go_event(&g, ev);
              cJSON_Delete(ev);
              if (rc < 0)
                {
                  ret = tars_error_set(err, ENOMEM, "go test output");
                  break;
                }
            }
        }
      i = end + 1;
    }
  if (ret == 0 && any)
    ret = go_finish(&g, &b, err);
  go_table_free(&g.tests);
  go_table_free(&g.packages);
  go_table_free(&g.builds);
  builder_done(&b, ret < 0);
  if (ret == 0 && any)
    set_source(r, "go-json");
  return ret;
}

/* ----- compiler warnings ----- */

#define WARNINGS_MAX 10000
#define WARNING_FILE_MAX 4096
#define WARNING_MESSAGE_MAX 1024

struct warnings
{
  struct tars_warning *v;
  size_t n, alloc;
  struct map seen; /* "file\0line\0message" -> index */
  char **keys;
  struct tars_error *err;
};

/* The digits ending just before END (after START): their start, or NULL when there are none.
 * *V is their value, or ULONG_MAX when it does not fit.  */
static const char *
digits_before(const char *start, const char *end, unsigned long *v)
{
  const char *d = end;
  while (d > start && d[-1] >= '0' && d[-1] <= '9')
    d--;
  if (d == end)
    return NULL;
  *v = 0;
  if (end - d > 18)
    *v = ULONG_MAX;
  else
    for (const char *p = d; p < end; p++)
      *v = *v * 10 + (unsigned long)(*p - '0');
  return d;
}

static int
warning_line(void *data, char *line, size_t n)
{
  struct warnings *w = data;
  char *tag = strstr(line, ": warning: ");
  unsigned long a, b, lineno;
  const char *d, *file_end;

  if (tag == NULL || w->n >= WARNINGS_MAX)
    return 0;
  /* FILE:LINE:COL or FILE:LINE before the tag.  */
  if ((d = digits_before(line, tag, &a)) == NULL || d == line || d[-1] != ':')
    return 0;
  file_end = d - 1;
  lineno = a;
  const char *d2 = digits_before(line, file_end, &b);
  if (d2 != NULL && d2 > line + 1 && d2[-1] == ':')
    {
      lineno = b;
      file_end = d2 - 1;
    }
  /* A line number that does not fit is not one a compiler printed.  */
  if (file_end == line || a == ULONG_MAX || lineno == ULONG_MAX)
    return 0;
  char *msg = tag + 11, *flag = NULL;
  size_t mlen = strlen(msg), flen = 0;
  if (mlen > 0 && msg[mlen - 1] == ']')
    {
      char *open = strrchr(msg, '[');
      if (open != NULL && open > msg && open[-1] == ' ' && strncmp(open + 1, "-W", 2) == 0)
        {
          flag = open + 1;
          flen = (size_t)(msg + mlen - 1 - flag);
          mlen = (size_t)(open - 1 - msg);
        }
    }
  size_t flen_file = cut_at_char(line, (size_t)(file_end - line), WARNING_FILE_MAX);
  mlen = cut_at_char(msg, mlen, WARNING_MESSAGE_MAX);
  cleanup_free char *file_c = clean_dup(line, flen_file, false);
  cleanup_free char *msg_c = clean_dup(msg, mlen, false);
  cleanup_free char *flag_c = flag ? clean_dup(flag, cut_at_char(flag, flen, 256), false) : NULL;
  if (file_c == NULL || msg_c == NULL || (flag != NULL && flag_c == NULL))
    return -3;
  cleanup_free char *key = NULL;
  int klen = asprintf(&key, "%s%c%lu%c%s", file_c, 0, lineno, 0, msg_c);
  if (klen < 0)
    {
      key = NULL;
      return -3;
    }
  if (map_find(&w->seen, key, (size_t)klen) != NULL)
    return 0;
  if (w->n == w->alloc)
    {
      size_t alloc = w->alloc ? w->alloc * 2 : 16;
      struct tars_warning *v = realloc(w->v, alloc * sizeof *v);
      char **keys = realloc(w->keys, alloc * sizeof *keys);
      if (v != NULL)
        w->v = v;
      if (keys != NULL)
        w->keys = keys;
      if (v == NULL || keys == NULL)
        return -3;
      w->alloc = alloc;
    }
  if (map_put(&w->seen, key, (size_t)klen, w->n) < 0)
    return -3;
  w->keys[w->n] = steal_pointer(&key);
  w->v[w->n++] = (struct tars_warning){steal_pointer(&file_c), lineno, steal_pointer(&msg_c),
                                       steal_pointer(&flag_c)};
  return 0;
}

int
tars_warnings_parse(const char *text, size_t len, struct tars_warning **out, size_t *n,
                    struct tars_error *err)
{
  struct warnings w = {.err = err};
  map_init(&w.seen);
  int rc = for_each_line(text, len, warning_line, &w);
  map_free(&w.seen);
  for (size_t i = 0; i < w.n; i++)
    free(w.keys[i]);
  free(w.keys);
  if (rc < 0)
    {
      tars_warnings_free(w.v, w.n);
      *out = NULL;
      *n = 0;
      return tars_error_set(err, ENOMEM, "compiler warnings");
    }
  *out = w.v;
  *n = w.n;
  return 0;
}

void
tars_warnings_free(struct tars_warning *w, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free(w[i].file);
      free(w[i].message);
      free(w[i].flag);
    }
  free(w);
}
