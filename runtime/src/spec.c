/* Sandbox specs: defaults, sizes and durations, the JSON form (docs/sandbox-spec.md) and the checks
 * run before a sandbox is built.  */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "tars/cleanup.h"
#include "tars/sandbox.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* Larger JSON numbers are not exact doubles, so they would silently lose their last digits.  */
#define MAX_JSON_INTEGER (1ULL << 53)
/* A finite timeout longer than this is almost certainly a unit mistake; "unlimited" says so
 * explicitly.  It also keeps deadline arithmetic in nanoseconds far from overflow.  */
#define MAX_TIMEOUT_MS (365ULL * 24 * 3600 * 1000)
/* Fraction digits kept in "1.5G" or "2.25s": with at most 6 the arithmetic cannot overflow.  */
#define MAX_FRACTION_DIGITS 6
#define HOSTNAME_MAX 64

/* A value quoted for an error message: control characters escaped (the value may come from an
 * untrusted file and end up on a terminal) and long values cut.  */
struct quoted
{
  char s[128];
};

static struct quoted
quote(const char *v)
{
  struct quoted q;
  size_t o = 0;

  if (v == NULL)
    {
      snprintf(q.s, sizeof q.s, "null");
      return q;
    }
  q.s[o++] = '"';
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    {
      /* Room for this character (at most 4 bytes), then "...", the quote and the NUL.  */
      if (o + 4 > sizeof q.s - 5)
        {
          memcpy(q.s + o, "...", 3);
          o += 3;
          break;
        }
      if (*p < 0x20 || *p == 0x7f)
        o += snprintf(q.s + o, 5, "\\x%02x", *p);
      else if (*p == '"' || *p == '\\')
        {
          q.s[o++] = '\\';
          q.s[o++] = (char)*p;
        }
      else
        q.s[o++] = (char)*p;
    }
  q.s[o++] = '"';
  q.s[o] = '\0';
  return q;
}

/* Bad input that was found through a system call (a missing workspace): the kind stays INVALID so
 * that the CLI exits 2, and the errno is kept.  */
static int __attribute__((format(printf, 3, 4)))
invalid_errno(struct tars_error *err, int errnum, const char *fmt, ...)
{
  char msg[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tars_error_invalid(err, "%s: %s", msg, strerror(errnum));
  if (err)
    err->code = errnum;
  return -1;
}

void
tars_spec_init(struct tars_spec *spec)
{
  memset(spec, 0, sizeof *spec);
  spec->net = TARS_NET_NONE;
  spec->timeout_ms = 600 * 1000;
  spec->memory_bytes = 1 * GIB;
  spec->as_bytes = UINT64_MAX;
  spec->pids = 512;
  spec->cpu_seconds = 600;
  spec->fsize_bytes = 1 * GIB;
  spec->nofile = 1024;
  spec->scratch_bytes = 1 * GIB;
  spec->tmp_bytes = 256 * MIB;
  spec->cpu_quota_pct = 0;
  spec->capture_max = 1 * MIB;
  spec->owned = true;
}

static void
free_strv(char **v)
{
  tars_cleanup_strvp(&v);
}

static size_t
clamp(size_t n, size_t max)
{
  return n < max ? n : max;
}

/* Free every pointer of A that B does not share in the same place: A's values that a merge into
 * B replaced, or (the other way round) the new values of a merge that failed.  */
static void
free_unshared(struct tars_spec *a, const struct tars_spec *b)
{
  if (a->argv != b->argv)
    free_strv(a->argv);
  if (a->envp != b->envp)
    free_strv(a->envp);
  char **mine[] = {&a->cwd, &a->workspace, &a->rootfs, &a->changes_out, &a->hostname};
  char *const theirs[] = {b->cwd, b->workspace, b->rootfs, b->changes_out, b->hostname};
  for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
    if (*mine[i] != theirs[i])
      free(*mine[i]);
  size_t na = clamp(a->n_layers, TARS_MAX_LAYERS), nb = clamp(b->n_layers, TARS_MAX_LAYERS);
  for (size_t i = 0; i < na; i++)
    if (i >= nb || a->layers[i] != b->layers[i])
      free(a->layers[i]);
  na = clamp(a->n_masks, TARS_MAX_MASKS);
  nb = clamp(b->n_masks, TARS_MAX_MASKS);
  for (size_t i = 0; i < na; i++)
    if (i >= nb || a->masks[i] != b->masks[i])
      free(a->masks[i]);
  na = clamp(a->n_mounts, TARS_MAX_MOUNTS);
  nb = clamp(b->n_mounts, TARS_MAX_MOUNTS);
  for (size_t i = 0; i < na; i++)
    {
      if (i >= nb || a->mounts[i].source != b->mounts[i].source)
        free(a->mounts[i].source);
      if (i >= nb || a->mounts[i].dest != b->mounts[i].dest)
        free(a->mounts[i].dest);
    }
}

void
tars_spec_free(struct tars_spec *spec)
{
  if (spec == NULL)
    return;
  if (spec->owned)
    {
      struct tars_spec none;
      memset(&none, 0, sizeof none);
      free_unshared(spec, &none);
    }
  /* The fields may point into what was just freed: leave nothing dangling.  */
  tars_spec_init(spec);
}

static char *
xstrdup(const char *s, struct tars_error *err)
{
  char *d = strdup(s);
  if (d == NULL)
    tars_error_set(err, ENOMEM, "spec: allocate");
  return d;
}

static char **
strv_dup(char *const *v, struct tars_error *err)
{
  size_t n = 0;
  while (v[n])
    n++;
  cleanup_strv char **d = calloc(n + 1, sizeof *d);
  if (d == NULL)
    {
      tars_error_set(err, ENOMEM, "spec: allocate");
      return NULL;
    }
  for (size_t i = 0; i < n; i++)
    if ((d[i] = xstrdup(v[i], err)) == NULL)
      return NULL;
  return steal_pointer(&d);
}

/* Make S own copies of the fields it borrowed, so that a merge can free what it replaces.  On
 * failure the copies made so far are freed and S is as it was.  */
static int
own_borrowed(struct tars_spec *s, struct tars_error *err)
{
  struct tars_spec copy = *s;
  struct tars_spec none;
  memset(&none, 0, sizeof none);
  memset(copy.layers, 0, sizeof copy.layers);
  memset(copy.masks, 0, sizeof copy.masks);
  memset(copy.mounts, 0, sizeof copy.mounts);
  copy.argv = copy.envp = NULL;
  copy.cwd = copy.workspace = copy.rootfs = copy.changes_out = copy.hostname = NULL;
  copy.n_layers = copy.n_masks = copy.n_mounts = 0;

  if ((s->argv && (copy.argv = strv_dup(s->argv, err)) == NULL) ||
      (s->envp && (copy.envp = strv_dup(s->envp, err)) == NULL) ||
      (s->cwd && (copy.cwd = xstrdup(s->cwd, err)) == NULL) ||
      (s->workspace && (copy.workspace = xstrdup(s->workspace, err)) == NULL) ||
      (s->rootfs && (copy.rootfs = xstrdup(s->rootfs, err)) == NULL) ||
      (s->changes_out && (copy.changes_out = xstrdup(s->changes_out, err)) == NULL) ||
      (s->hostname && (copy.hostname = xstrdup(s->hostname, err)) == NULL))
    goto fail;
  for (; copy.n_layers < clamp(s->n_layers, TARS_MAX_LAYERS); copy.n_layers++)
    if (s->layers[copy.n_layers] &&
        (copy.layers[copy.n_layers] = xstrdup(s->layers[copy.n_layers], err)) == NULL)
      goto fail;
  for (; copy.n_masks < clamp(s->n_masks, TARS_MAX_MASKS); copy.n_masks++)
    if (s->masks[copy.n_masks] &&
        (copy.masks[copy.n_masks] = xstrdup(s->masks[copy.n_masks], err)) == NULL)
      goto fail;
  for (; copy.n_mounts < clamp(s->n_mounts, TARS_MAX_MOUNTS); copy.n_mounts++)
    {
      const struct tars_mount *m = &s->mounts[copy.n_mounts];
      struct tars_mount *c = &copy.mounts[copy.n_mounts];
      c->type = m->type;
      c->size = m->size;
      if ((m->source && (c->source = xstrdup(m->source, err)) == NULL) ||
          (m->dest && (c->dest = xstrdup(m->dest, err)) == NULL))
        {
          copy.n_mounts++;
          goto fail;
        }
    }
  copy.n_layers = s->n_layers;
  copy.n_masks = s->n_masks;
  copy.n_mounts = s->n_mounts;
  copy.owned = true;
  *s = copy;
  return 0;

fail:
  free_unshared(&copy, &none);
  return -1;
}

/* Numbers with units.  */

/* Parse DIGITS[.DIGITS] at S into VALUE * MULT, rounded down, with integer arithmetic only (a
 * double would round "9007199254740993").  *END is left after the number.  Returns 0, or -1 with
 * a reason in *WHY.  */
static int
parse_scaled(const char *s, const char **end, uint64_t mult, uint64_t *out, const char **why)
{
  const char *p = s;
  uint64_t whole = 0;

  if (*p < '0' || *p > '9')
    {
      *why = "expected a number";
      return -1;
    }
  for (; *p >= '0' && *p <= '9'; p++)
    {
      unsigned d = (unsigned)(*p - '0');
      if (whole > (UINT64_MAX - d) / 10)
        {
          *why = "too large";
          return -1;
        }
      whole = whole * 10 + d;
    }

  uint64_t frac = 0, scale = 1;
  if (*p == '.')
    {
      p++;
      if (*p < '0' || *p > '9')
        {
          *why = "expected digits after the decimal point";
          return -1;
        }
      for (int n = 0; *p >= '0' && *p <= '9'; p++, n++)
        {
          if (n == MAX_FRACTION_DIGITS)
            {
              *why = "too many decimal places (at most 6)";
              return -1;
            }
          frac = frac * 10 + (uint64_t)(*p - '0');
          scale *= 10;
        }
    }
  *end = p;

  if (mult != 0 && whole > UINT64_MAX / mult)
    {
      *why = "too large";
      return -1;
    }
  uint64_t v = whole * mult;
  /* frac < 10^6 < 2^20 and every MULT used here is at most 2^40, so this cannot overflow.  */
  uint64_t f = frac * mult / scale;
  if (v > UINT64_MAX - f)
    {
      *why = "too large";
      return -1;
    }
  *out = v + f;
  return 0;
}

int
tars_parse_size(const char *s, uint64_t *out, struct tars_error *err)
{
  const char *why = NULL, *end = NULL;
  uint64_t mult = 1, v;

  if (s == NULL || *s == '\0')
    return tars_error_invalid(err,
                              "size \"\": empty (expected bytes or a number with K, M, G or T)");
  if (*s == '-')
    return tars_error_invalid(err, "size %s: must not be negative", quote(s).s);

  /* Find the unit first: it scales the fraction.  */
  const char *u = s;
  while ((*u >= '0' && *u <= '9') || *u == '.')
    u++;
  const char *unit = u;
  switch (*u)
    {
    case 'k':
    case 'K':
      mult = KIB;
      break;
    case 'm':
    case 'M':
      mult = MIB;
      break;
    case 'g':
    case 'G':
      mult = GIB;
      break;
    case 't':
    case 'T':
      mult = 1ULL << 40;
      break;
    default:
      break;
    }
  if (mult != 1)
    {
      u++;
      if (*u == 'i')
        u++;
    }
  if (*u == 'B' || *u == 'b')
    u++;
  if (*u != '\0')
    {
      if (u == s)
        return tars_error_invalid(
            err, "size %s: not a size (expected bytes or a number with K, M, G or T)", quote(s).s);
      return tars_error_invalid(err, "size %s: unknown unit %s (use K, M, G or T, powers of 1024)",
                                quote(s).s, quote(unit).s);
    }

  if (parse_scaled(s, &end, mult, &v, &why) < 0)
    return tars_error_invalid(err, "size %s: %s", quote(s).s, why);
  if (end != unit)
    return tars_error_invalid(err, "size %s: not a size", quote(s).s);
  if (mult == 1 && memchr(s, '.', (size_t)(unit - s)))
    return tars_error_invalid(
        err, "size %s: a fraction of a byte (a fraction needs a unit, as in \"1.5G\")", quote(s).s);
  /* UINT64_MAX means "no limit" in a spec: a size cannot say it by accident.  */
  if (v == UINT64_MAX)
    return tars_error_invalid(err, "size %s: too large", quote(s).s);
  *out = v;
  return 0;
}

/* "30s", "5m", "1h", "500ms", "1.5s" or a plain number of seconds, in milliseconds.  */
static int
parse_duration_ms(const char *s, uint64_t *out, const char **why)
{
  const char *end = NULL;
  uint64_t mult = 1000;

  if (*s == '-')
    {
      *why = "must not be negative";
      return -1;
    }
  const char *u = s;
  while ((*u >= '0' && *u <= '9') || *u == '.')
    u++;
  if (*u == '\0' || strcmp(u, "s") == 0)
    mult = 1000;
  else if (strcmp(u, "ms") == 0)
    mult = 1;
  else if (strcmp(u, "m") == 0)
    mult = 60 * 1000;
  else if (strcmp(u, "h") == 0)
    mult = 3600 * 1000;
  else
    {
      *why = u == s ? "not a duration (expected seconds, or a number with ms, s, m or h)"
                    : "unknown unit (use ms, s, m or h)";
      return -1;
    }
  if (parse_scaled(s, &end, mult, out, why) < 0)
    return -1;
  if (end != u)
    {
      *why = "not a duration";
      return -1;
    }
  return 0;
}

/* Limits, shared by the JSON loader and the validator so that both say the same.  */

enum limit_kind
{
  LIMIT_SIZE,
  LIMIT_COUNT,
  LIMIT_DURATION,
};

struct limit_rule
{
  const char *key; /* the JSON key, also the name used in errors */
  size_t offset;
  enum limit_kind kind;
  uint64_t min, max;
  bool unlimited_ok; /* may be UINT64_MAX ("unlimited") */
  bool zero_ok;      /* 0 means "none" for this limit */
};

static const struct limit_rule limit_rules[] = {
    {"timeout", offsetof(struct tars_spec, timeout_ms), LIMIT_DURATION, 1, MAX_TIMEOUT_MS, true,
     false},
    /* Below 1 MiB nothing runs: "memory": 512 was surely meant as megabytes.  */
    {"memory", offsetof(struct tars_spec, memory_bytes), LIMIT_SIZE, 1 * MIB, UINT64_MAX - 1, true,
     false},
    {"address_space", offsetof(struct tars_spec, as_bytes), LIMIT_SIZE, 1 * MIB, UINT64_MAX - 1,
     true, false},
    /* The kernel's PID_MAX_LIMIT.  */
    {"pids", offsetof(struct tars_spec, pids), LIMIT_COUNT, 1, 4194304, true, false},
    {"cpu_seconds", offsetof(struct tars_spec, cpu_seconds), LIMIT_COUNT, 1, MAX_JSON_INTEGER, true,
     false},
    {"file_size", offsetof(struct tars_spec, fsize_bytes), LIMIT_SIZE, 1, UINT64_MAX - 1, true,
     false},
    /* RLIMIT_NOFILE cannot be infinite, and above fs.nr_open (1048576 by default) setrlimit fails.
     */
    {"nofile", offsetof(struct tars_spec, nofile), LIMIT_COUNT, 1, 1048576, false, false},
    /* tmpfs reads size=0 as "no limit": these must stay finite.  */
    {"scratch_size", offsetof(struct tars_spec, scratch_bytes), LIMIT_SIZE, 4 * KIB, UINT64_MAX - 1,
     false, false},
    {"tmp_size", offsetof(struct tars_spec, tmp_bytes), LIMIT_SIZE, 4 * KIB, UINT64_MAX - 1, false,
     false},
    /* Percent of one CPU: up to 1024 CPUs.  */
    {"cpu_percent", offsetof(struct tars_spec, cpu_quota_pct), LIMIT_COUNT, 1, 102400, false, true},
};

static uint64_t *
limit_field(struct tars_spec *spec, const struct limit_rule *r)
{
  return (uint64_t *)((char *)spec + r->offset);
}

static uint64_t
limit_value(const struct tars_spec *spec, const struct limit_rule *r)
{
  return *(const uint64_t *)((const char *)spec + r->offset);
}

static const char *
limit_unit(const struct limit_rule *r)
{
  switch (r->kind)
    {
    case LIMIT_SIZE:
      return " bytes";
    case LIMIT_DURATION:
      return " ms";
    default:
      return "";
    }
}

/* NAME is how the error names the limit: the key, or "key \"memory\"" from the loader.  */
static int
check_limit(const char *name, const struct limit_rule *r, uint64_t v, struct tars_error *err)
{
  if (v == 0 && r->zero_ok)
    return 0;
  if (v == UINT64_MAX)
    {
      if (r->unlimited_ok)
        return 0;
      return tars_error_invalid(err, "%s: cannot be unlimited", name);
    }
  if (v == 0)
    return tars_error_invalid(err, "%s: must not be 0%s", name,
                              r->unlimited_ok ? " (use \"unlimited\" for no limit)" : "");
  if (v < r->min)
    return tars_error_invalid(err, "%s: %" PRIu64 "%s is too small (at least %" PRIu64 "%s)", name,
                              v, limit_unit(r), r->min, limit_unit(r));
  if (v > r->max)
    return tars_error_invalid(err, "%s: %" PRIu64 "%s is too large (at most %" PRIu64 "%s)", name,
                              v, limit_unit(r), r->max, limit_unit(r));
  return 0;
}

/* Syntax checks, shared by the loader (early, with the key's name) and the validator.  */

/* Absolute, no empty (a "//" or a trailing "/"), "." or ".." component, within PATH_MAX: the
 * sandbox mounts these at their own path inside a new root, where the host's resolution of
 * "a/../b" would not be the sandbox's.  */
static int
check_path_syntax(const char *field, const char *path, struct tars_error *err)
{
  if (path[0] == '\0')
    return tars_error_invalid(err, "%s: must not be empty", field);
  if (path[0] != '/')
    return tars_error_invalid(err, "%s %s: must be an absolute path", field, quote(path).s);
  size_t len = strlen(path);
  if (len >= PATH_MAX)
    return tars_error_invalid(err, "%s %s: too long (%zu bytes, at most %d)", field, quote(path).s,
                              len, PATH_MAX - 1);
  if (len == 1)
    return 0;
  for (const char *p = path + 1;;)
    {
      const char *slash = strchr(p, '/');
      size_t n = slash ? (size_t)(slash - p) : strlen(p);
      if (n == 0)
        return tars_error_invalid(err,
                                  "%s %s: has an empty component (a \"//\" or a trailing \"/\")",
                                  field, quote(path).s);
      if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return tars_error_invalid(err, "%s %s: has a \".\" or \"..\" component", field,
                                  quote(path).s);
      if (n > NAME_MAX)
        return tars_error_invalid(err, "%s %s: a component is longer than %d bytes", field,
                                  quote(path).s, NAME_MAX);
      if (slash == NULL)
        break;
      p = slash + 1;
    }
  return 0;
}

/* RFC 1123 host names, as sethostname and the tools reading it expect.  */
static int
check_hostname(const char *field, const char *h, struct tars_error *err)
{
  size_t len = strlen(h);
  if (len == 0)
    return tars_error_invalid(err, "%s: must not be empty", field);
  if (len > HOSTNAME_MAX)
    return tars_error_invalid(err, "%s %s: too long (%zu characters, at most %d)", field,
                              quote(h).s, len, HOSTNAME_MAX);
  size_t label = 0;
  for (size_t i = 0; i <= len; i++)
    {
      char c = h[i];
      if (c == '.' || c == '\0')
        {
          if (label == 0)
            return tars_error_invalid(err, "%s %s: has an empty label", field, quote(h).s);
          if (label > 63)
            return tars_error_invalid(err, "%s %s: a label is longer than 63 characters", field,
                                      quote(h).s);
          if (h[i - 1] == '-')
            return tars_error_invalid(err, "%s %s: a label ends with \"-\"", field, quote(h).s);
          label = 0;
          continue;
        }
      bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-')
        return tars_error_invalid(err,
                                  "%s %s: invalid character (letters, digits, \"-\" and "
                                  "\".\" only)",
                                  field, quote(h).s);
      if (c == '-' && label == 0)
        return tars_error_invalid(err, "%s %s: a label starts with \"-\"", field, quote(h).s);
      label++;
    }
  return 0;
}

static int
check_env_entry(const char *field, const char *e, struct tars_error *err)
{
  const char *eq = strchr(e, '=');
  if (eq == NULL)
    return tars_error_invalid(err, "%s %s: expected \"NAME=VALUE\"", field, quote(e).s);
  if (eq == e)
    return tars_error_invalid(err, "%s %s: the name is empty", field, quote(e).s);
  return 0;
}

static int
check_mask(const char *field, const char *path, struct tars_error *err)
{
  if (check_path_syntax(field, path, err) < 0)
    return -1;
  if (strcmp(path, "/") == 0)
    return tars_error_invalid(err, "%s \"/\": cannot hide the root", field);
  return 0;
}

/* The JSON form.  */

enum key_type
{
  KEY_ARGV,
  KEY_ENV,
  KEY_PATH,  /* an absolute path */
  KEY_PATHS, /* an array of absolute paths */
  KEY_HOSTNAME,
  KEY_NET,
  KEY_LIMIT,
  KEY_BOOL,
  KEY_STDIO,
  KEY_MOUNTS,
};

struct key_desc
{
  const char *key;
  enum key_type type;
  size_t offset;       /* of the field; for KEY_PATHS, of the array */
  size_t count_offset; /* KEY_PATHS: of the count */
  size_t max;          /* KEY_PATHS: entries */
};

#define F(field) offsetof(struct tars_spec, field)
static const struct key_desc keys[] = {
    {"argv", KEY_ARGV, F(argv), 0, 0},
    {"env", KEY_ENV, F(envp), 0, 0},
    {"cwd", KEY_PATH, F(cwd), 0, 0},
    {"workspace", KEY_PATH, F(workspace), 0, 0},
    {"layers", KEY_PATHS, F(layers), F(n_layers), TARS_MAX_LAYERS},
    {"rootfs", KEY_PATH, F(rootfs), 0, 0},
    {"changes_out", KEY_PATH, F(changes_out), 0, 0},
    {"masks", KEY_PATHS, F(masks), F(n_masks), TARS_MAX_MASKS},
    {"hostname", KEY_HOSTNAME, F(hostname), 0, 0},
    {"net", KEY_NET, F(net), 0, 0},
    {"timeout", KEY_LIMIT, 0, 0, 0},
    {"memory", KEY_LIMIT, 0, 0, 0},
    {"address_space", KEY_LIMIT, 0, 0, 0},
    {"pids", KEY_LIMIT, 0, 0, 0},
    {"cpu_seconds", KEY_LIMIT, 0, 0, 0},
    {"file_size", KEY_LIMIT, 0, 0, 0},
    {"nofile", KEY_LIMIT, 0, 0, 0},
    {"scratch_size", KEY_LIMIT, 0, 0, 0},
    {"tmp_size", KEY_LIMIT, 0, 0, 0},
    {"cpu_percent", KEY_LIMIT, 0, 0, 0},
    {"capture_output", KEY_BOOL, F(capture_output), 0, 0},
    {"ro_workspace", KEY_BOOL, F(ro_workspace), 0, 0},
    {"stdio", KEY_STDIO, F(stdio), 0, 0},
    {"mounts", KEY_MOUNTS, F(mounts), F(n_mounts), TARS_MAX_MOUNTS},
};
#undef F

#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *
json_type_name(const cJSON *v)
{
  if (cJSON_IsString(v))
    return "a string";
  if (cJSON_IsNumber(v))
    return "a number";
  if (cJSON_IsBool(v))
    return "a boolean";
  if (cJSON_IsNull(v))
    return "null";
  if (cJSON_IsArray(v))
    return "an array";
  if (cJSON_IsObject(v))
    return "an object";
  return "an invalid value";
}

static int
wrong_type(const char *key, const char *expected, const cJSON *v, struct tars_error *err)
{
  return tars_error_invalid(err, "key \"%s\": expected %s, got %s", key, expected,
                            json_type_name(v));
}

/* A JSON array of strings as a new NULL-terminated vector.  */
static int
load_strv(const char *key, const cJSON *v, bool is_env, char ***out, struct tars_error *err)
{
  if (!cJSON_IsArray(v))
    return wrong_type(key, "an array of strings", v, err);
  int n = cJSON_GetArraySize(v);
  if (n == 0 && !is_env)
    return tars_error_invalid(err, "key \"%s\": must not be empty", key);
  cleanup_strv char **vec = calloc((size_t)n + 1, sizeof *vec);
  if (vec == NULL)
    return tars_error_set(err, ENOMEM, "spec: allocate");
  int i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, v)
  {
    if (!cJSON_IsString(item))
      return tars_error_invalid(err, "key \"%s\": entry %d: expected a string, got %s", key, i,
                                json_type_name(item));
    char field[64];
    snprintf(field, sizeof field, "key \"%s\": entry %d", key, i);
    if (is_env && check_env_entry(field, item->valuestring, err) < 0)
      return -1;
    if (!is_env && i == 0 && item->valuestring[0] == '\0')
      return tars_error_invalid(err, "key \"%s\": the command (entry 0) is empty", key);
    vec[i] = xstrdup(item->valuestring, err);
    if (vec[i] == NULL)
      return -1;
    i++;
  }
  *out = steal_pointer(&vec);
  return 0;
}

static int
load_limit(struct tars_spec *spec, const char *key, const cJSON *v, struct tars_error *err)
{
  const struct limit_rule *r = NULL;
  for (size_t i = 0; i < sizeof limit_rules / sizeof limit_rules[0]; i++)
    if (strcmp(limit_rules[i].key, key) == 0)
      r = &limit_rules[i];
  if (r == NULL)
    return tars_error_set(err, 0, "spec: no rule for key \"%s\"", key); /* cannot happen */

  uint64_t value;
  if (cJSON_IsString(v))
    {
      const char *s = v->valuestring;
      const char *why = NULL;
      if (strcmp(s, "unlimited") == 0)
        value = UINT64_MAX;
      else if (r->kind == LIMIT_SIZE)
        {
          if (tars_parse_size(s, &value, err) < 0)
            return tars_error_prefix(err, "key \"%s\"", key);
        }
      else if (r->kind == LIMIT_DURATION)
        {
          if (parse_duration_ms(s, &value, &why) < 0)
            return tars_error_invalid(err, "key \"%s\": duration %s: %s", key, quote(s).s, why);
        }
      else
        return tars_error_invalid(err, "key \"%s\": expected a number%s, got the string %s", key,
                                  r->unlimited_ok ? " or \"unlimited\"" : "", quote(s).s);
    }
  else if (cJSON_IsNumber(v))
    {
      double d = v->valuedouble;
      if (d < 0)
        return tars_error_invalid(err, "key \"%s\": %g: must not be negative", key, d);
      if (r->kind == LIMIT_DURATION)
        {
          /* Seconds, fractions allowed.  NaN and infinity cannot come out of cJSON.  */
          double ms = d * 1000.0 + 0.5;
          if (ms >= (double)MAX_TIMEOUT_MS + 1.0)
            return tars_error_invalid(err,
                                      "key \"%s\": %g seconds is too long (at most %" PRIu64
                                      " seconds, or \"unlimited\")",
                                      key, d, (uint64_t)(MAX_TIMEOUT_MS / 1000));
          value = (uint64_t)ms;
          if (value == 0 && d > 0)
            return tars_error_invalid(err, "key \"%s\": %g seconds is shorter than 1 ms", key, d);
        }
      else
        {
          if (d >= (double)MAX_JSON_INTEGER)
            return tars_error_invalid(err,
                                      "key \"%s\": %g is too large for a JSON number (use a "
                                      "string such as \"16T\")",
                                      key, d);
          value = (uint64_t)d;
          if ((double)value != d)
            return tars_error_invalid(err, "key \"%s\": %g is not a whole number", key, d);
        }
    }
  else
    return wrong_type(key,
                      r->kind == LIMIT_SIZE       ? "a number of bytes or a size string"
                      : r->kind == LIMIT_DURATION ? "a number of seconds or a duration string"
                                                  : "a number",
                      v, err);

  char name[64];
  snprintf(name, sizeof name, "key \"%s\"", key);
  if (check_limit(name, r, value, err) < 0)
    return -1;
  *limit_field(spec, r) = value;
  return 0;
}

static const char *const mount_type_names[] = {
    [TARS_MOUNT_RO_BIND] = "ro-bind",
    [TARS_MOUNT_BIND_SOCKET] = "bind-socket",
    [TARS_MOUNT_TMPFS] = "tmpfs",
    [TARS_MOUNT_DIR] = "dir",
};
#define N_MOUNT_TYPES (sizeof mount_type_names / sizeof mount_type_names[0])

/* A size given in a JSON value: a number of bytes or a size string.  */
static int
json_size(const char *field, const cJSON *v, uint64_t *out, struct tars_error *err)
{
  if (cJSON_IsString(v))
    {
      if (tars_parse_size(v->valuestring, out, err) < 0)
        return tars_error_prefix(err, "%s", field);
      return 0;
    }
  if (!cJSON_IsNumber(v))
    return tars_error_invalid(err, "%s: expected a number of bytes or a size string, got %s", field,
                              json_type_name(v));
  double d = v->valuedouble;
  if (d < 0 || d >= (double)MAX_JSON_INTEGER || (double)(uint64_t)d != d)
    return tars_error_invalid(err, "%s: %g is not a whole number of bytes below 2^53", field, d);
  *out = (uint64_t)d;
  return 0;
}

/* One entry of "mounts": {"type", "source", "dest", "size"}, into M (strings malloc'd).  */
static int
load_mount(int i, const cJSON *o, struct tars_mount *m, struct tars_error *err)
{
  char field[96];
  if (!cJSON_IsObject(o))
    return tars_error_invalid(err, "key \"mounts\": entry %d: expected an object, got %s", i,
                              json_type_name(o));
  const cJSON *type = NULL, *source = NULL, *dest = NULL, *size = NULL;
  const cJSON *f;
  cJSON_ArrayForEach(f, o)
  {
    const cJSON **slot = strcmp(f->string, "type") == 0     ? &type
                         : strcmp(f->string, "source") == 0 ? &source
                         : strcmp(f->string, "dest") == 0   ? &dest
                         : strcmp(f->string, "size") == 0   ? &size
                                                            : NULL;
    if (slot == NULL)
      return tars_error_invalid(err,
                                "key \"mounts\": entry %d: unknown key %s (expected \"type\", "
                                "\"source\", \"dest\" or \"size\")",
                                i, quote(f->string).s);
    if (*slot)
      return tars_error_invalid(err, "key \"mounts\": entry %d: key \"%s\" given twice", i,
                                f->string);
    *slot = f;
  }
  if (type == NULL)
    return tars_error_invalid(err, "key \"mounts\": entry %d: no \"type\"", i);
  if (!cJSON_IsString(type))
    return tars_error_invalid(err, "key \"mounts\": entry %d: \"type\": expected a string, got %s",
                              i, json_type_name(type));
  size_t t = 0;
  while (t < N_MOUNT_TYPES && strcmp(mount_type_names[t], type->valuestring) != 0)
    t++;
  if (t == N_MOUNT_TYPES)
    return tars_error_invalid(err,
                              "key \"mounts\": entry %d: \"type\" %s: expected \"ro-bind\", "
                              "\"bind-socket\", \"tmpfs\" or \"dir\"",
                              i, quote(type->valuestring).s);
  m->type = (enum tars_mount_type)t;
  bool takes_source = m->type == TARS_MOUNT_RO_BIND || m->type == TARS_MOUNT_BIND_SOCKET;
  if (takes_source && source == NULL)
    return tars_error_invalid(err, "key \"mounts\": entry %d (%s): no \"source\"", i,
                              mount_type_names[t]);
  if (!takes_source && source)
    return tars_error_invalid(err, "key \"mounts\": entry %d (%s): takes no \"source\"", i,
                              mount_type_names[t]);
  if (!takes_source && dest == NULL)
    return tars_error_invalid(err, "key \"mounts\": entry %d (%s): no \"dest\"", i,
                              mount_type_names[t]);
  if (size && m->type != TARS_MOUNT_TMPFS)
    return tars_error_invalid(err, "key \"mounts\": entry %d (%s): takes no \"size\"", i,
                              mount_type_names[t]);
  const cJSON *paths[2] = {source, dest};
  char **outs[2] = {&m->source, &m->dest};
  for (int p = 0; p < 2; p++)
    {
      if (paths[p] == NULL)
        continue;
      snprintf(field, sizeof field, "key \"mounts\": entry %d: \"%s\"", i,
               p == 0 ? "source" : "dest");
      if (!cJSON_IsString(paths[p]))
        return tars_error_invalid(err, "%s: expected a string (an absolute path), got %s", field,
                                  json_type_name(paths[p]));
      if (check_path_syntax(field, paths[p]->valuestring, err) < 0)
        return -1;
      if ((*outs[p] = xstrdup(paths[p]->valuestring, err)) == NULL)
        return -1;
    }
  if (size)
    {
      snprintf(field, sizeof field, "key \"mounts\": entry %d: \"size\"", i);
      if (json_size(field, size, &m->size, err) < 0)
        return -1;
    }
  return 0;
}

static void
mounts_free(struct tars_mount *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free(v[i].source);
      free(v[i].dest);
    }
}

static int
load_mounts(struct tars_spec *spec, const cJSON *v, struct tars_error *err)
{
  if (!cJSON_IsArray(v))
    return wrong_type("mounts", "an array of objects", v, err);
  int n = cJSON_GetArraySize(v);
  if (n > TARS_MAX_MOUNTS)
    return tars_error_invalid(err, "key \"mounts\": %d entries, at most %d", n, TARS_MAX_MOUNTS);
  struct tars_mount tmp[TARS_MAX_MOUNTS];
  memset(tmp, 0, sizeof tmp);
  int i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, v)
  {
    if (load_mount(i, item, &tmp[i], err) < 0)
      {
        mounts_free(tmp, (size_t)i + 1);
        return -1;
      }
    i++;
  }
  /* The old entries stay referenced by the loader's copy of the spec, which frees them.  */
  memcpy(spec->mounts, tmp, sizeof tmp);
  spec->n_mounts = (size_t)i;
  return 0;
}

static int
load_key(struct tars_spec *spec, const struct key_desc *k, const cJSON *v, struct tars_error *err)
{
  char *base = (char *)spec;
  char field[64];

  switch (k->type)
    {
    case KEY_ARGV:
    case KEY_ENV:
      return load_strv(k->key, v, k->type == KEY_ENV, (char ***)(base + k->offset), err);

    case KEY_PATH:
    case KEY_HOSTNAME:
      if (!cJSON_IsString(v))
        return wrong_type(k->key, k->type == KEY_PATH ? "a string (an absolute path)" : "a string",
                          v, err);
      snprintf(field, sizeof field, "key \"%s\"", k->key);
      if (k->type == KEY_PATH && check_path_syntax(field, v->valuestring, err) < 0)
        return -1;
      if (k->type == KEY_HOSTNAME && check_hostname(field, v->valuestring, err) < 0)
        return -1;
      {
        char *s = xstrdup(v->valuestring, err);
        if (s == NULL)
          return -1;
        *(char **)(base + k->offset) = s;
      }
      return 0;

    case KEY_PATHS:
      {
        if (!cJSON_IsArray(v))
          return wrong_type(k->key, "an array of absolute paths", v, err);
        int n = cJSON_GetArraySize(v);
        if ((size_t)n > k->max)
          return tars_error_invalid(err, "key \"%s\": %d entries, at most %zu", k->key, n, k->max);
        char **arr = (char **)(base + k->offset);
        /* NULL-terminated, so that cleanup_strv frees the entries made before an error.  */
        cleanup_strv char **tmp = calloc(k->max + 1, sizeof *tmp);
        if (tmp == NULL)
          return tars_error_set(err, ENOMEM, "spec: allocate");
        int i = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, v)
        {
          if (!cJSON_IsString(item))
            return tars_error_invalid(err, "key \"%s\": entry %d: expected a string, got %s",
                                      k->key, i, json_type_name(item));
          snprintf(field, sizeof field, "key \"%s\": entry %d", k->key, i);
          if (strcmp(k->key, "masks") == 0 ? check_mask(field, item->valuestring, err) < 0
                                           : check_path_syntax(field, item->valuestring, err) < 0)
            return -1;
          tmp[i] = xstrdup(item->valuestring, err);
          if (tmp[i] == NULL)
            return -1;
          i++;
        }
        for (int j = 0; j < i; j++)
          arr[j] = steal_pointer(&tmp[j]);
        for (size_t j = (size_t)i; j < k->max; j++)
          arr[j] = NULL;
        *(size_t *)(base + k->count_offset) = (size_t)i;
        return 0;
      }

    case KEY_NET:
      if (!cJSON_IsString(v))
        return wrong_type(k->key, "\"none\" or \"loopback\"", v, err);
      if (strcmp(v->valuestring, "none") == 0)
        spec->net = TARS_NET_NONE;
      else if (strcmp(v->valuestring, "loopback") == 0)
        spec->net = TARS_NET_LOOPBACK;
      else
        return tars_error_invalid(err, "key \"net\": %s: expected \"none\" or \"loopback\"",
                                  quote(v->valuestring).s);
      return 0;

    case KEY_LIMIT:
      return load_limit(spec, k->key, v, err);

    case KEY_BOOL:
      if (!cJSON_IsBool(v))
        return wrong_type(k->key, "true or false", v, err);
      *(bool *)(base + k->offset) = cJSON_IsTrue(v);
      return 0;

    case KEY_STDIO:
      if (!cJSON_IsString(v))
        return wrong_type(k->key, "\"pipe\" or \"inherit\"", v, err);
      if (strcmp(v->valuestring, "pipe") == 0)
        spec->stdio = TARS_STDIO_PIPE;
      else if (strcmp(v->valuestring, "inherit") == 0)
        spec->stdio = TARS_STDIO_INHERIT;
      else
        return tars_error_invalid(err, "key \"stdio\": %s: expected \"pipe\" or \"inherit\"",
                                  quote(v->valuestring).s);
      return 0;

    case KEY_MOUNTS:
      return load_mounts(spec, v, err);
    }
  return 0;
}

static void
line_col(const char *json, size_t off, size_t *line, size_t *col)
{
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off; i++)
    {
      if (json[i] == '\n')
        {
          (*line)++;
          *col = 1;
        }
      else
        (*col)++;
    }
}

/* cJSON decodes "\u0000" into a NUL that silently cuts the C string: "/ws\u0000/../etc" would be
 * read as "/ws".  Such a spec is refused instead.  This scan runs on text cJSON has accepted, so
 * tracking strings and escapes is enough.  Returns the escape's offset, or -1.  */
static long
find_nul_escape(const char *json, size_t len)
{
  bool in_string = false;
  for (size_t i = 0; i < len; i++)
    {
      if (!in_string)
        {
          if (json[i] == '"')
            in_string = true;
          continue;
        }
      if (json[i] == '"')
        in_string = false;
      else if (json[i] == '\\' && i + 1 < len)
        {
          if (json[i + 1] == 'u' && i + 5 < len && memcmp(json + i + 2, "0000", 4) == 0)
            return (long)i;
          i++;
        }
    }
  return -1;
}

int
tars_spec_load_json(struct tars_spec *spec, const char *json, size_t len, struct tars_error *err)
{
  cleanup_cjson cJSON *root = NULL;
  const char *end = NULL;
  size_t line, col;

  if (len == 0)
    return tars_error_invalid(err, "malformed JSON: empty input");
  const char *nul = memchr(json, '\0', len);
  if (nul)
    {
      line_col(json, (size_t)(nul - json), &line, &col);
      return tars_error_invalid(err, "malformed JSON at line %zu, column %zu: a NUL byte", line,
                                col);
    }

  root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (root == NULL)
    {
      size_t off = end && end >= json ? (size_t)(end - json) : 0;
      if (off > len)
        off = len;
      line_col(json, off, &line, &col);
      if (off >= len)
        return tars_error_invalid(err, "malformed JSON at line %zu, column %zu: unexpected end",
                                  line, col);
      char near[24] = {0};
      memcpy(near, json + off, len - off < sizeof near - 1 ? len - off : sizeof near - 1);
      return tars_error_invalid(err, "malformed JSON at line %zu, column %zu, near %s", line, col,
                                quote(near).s);
    }
  for (size_t off = (size_t)(end - json); off < len; off++)
    if (json[off] != ' ' && json[off] != '\t' && json[off] != '\n' && json[off] != '\r')
      {
        line_col(json, off, &line, &col);
        return tars_error_invalid(
            err, "malformed JSON at line %zu, column %zu: text after the spec", line, col);
      }
  long nul_at = find_nul_escape(json, len);
  if (nul_at >= 0)
    {
      line_col(json, (size_t)nul_at, &line, &col);
      return tars_error_invalid(err, "spec at line %zu, column %zu: a string contains \\u0000",
                                line, col);
    }
  if (!cJSON_IsObject(root))
    return tars_error_invalid(err, "the spec must be a JSON object, got %s", json_type_name(root));

  /* Load into a copy so that a spec with an error changes nothing: on an error the copy's new
   * values are freed, on success the values they replaced.  */
  struct tars_spec tmp = *spec;
  if (!tmp.owned && own_borrowed(&tmp, err) < 0)
    return -1;
  /* What TMP held before the merge: SPEC's values, or the copies of a borrowing SPEC's, which are
   * the merge's to free when it replaces them.  */
  struct tars_spec before = tmp;
  bool seen[N_KEYS] = {false};
  int ret = 0;

  const cJSON *item;
  cJSON_ArrayForEach(item, root)
  {
    const struct key_desc *k = NULL;
    for (size_t i = 0; i < N_KEYS && k == NULL; i++)
      if (strcmp(keys[i].key, item->string) == 0)
        {
          k = &keys[i];
          if (seen[i])
            ret = tars_error_invalid(err, "key \"%s\": given twice", k->key);
          seen[i] = true;
        }
    if (ret == 0 && k == NULL)
      ret = tars_error_invalid(err, "unknown key %s", quote(item->string).s);
    if (ret == 0)
      ret = load_key(&tmp, k, item, err);
    if (ret < 0)
      {
        free_unshared(&tmp, &before);
        free_unshared(&before, spec); /* the copies of a borrowing SPEC; nothing otherwise */
        return -1;
      }
  }

  free_unshared(&before, &tmp);
  *spec = tmp;
  return 0;
}

/* Validation.  */

/* PATH is DIR or below it.  */
static bool
path_within(const char *path, const char *dir)
{
  size_t n = strlen(dir);
  if (strcmp(dir, "/") == 0)
    return true;
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int
check_mount(size_t i, const struct tars_mount *m, const char *workspace, struct tars_error *err)
{
  char field[48];
  struct stat st;
  if ((size_t)m->type >= N_MOUNT_TYPES)
    return tars_error_invalid(err, "mounts[%zu]: unknown type %d", i, (int)m->type);
  const char *name = mount_type_names[m->type];
  bool takes_source = m->type == TARS_MOUNT_RO_BIND || m->type == TARS_MOUNT_BIND_SOCKET;
  if (takes_source && m->source == NULL)
    return tars_error_invalid(err, "mounts[%zu] (%s): no source", i, name);
  if (!takes_source && m->source)
    return tars_error_invalid(err, "mounts[%zu] (%s): takes no source", i, name);
  const char *dest = m->dest ? m->dest : m->source;
  if (dest == NULL)
    return tars_error_invalid(err, "mounts[%zu] (%s): no dest", i, name);
  if (m->type != TARS_MOUNT_TMPFS && m->size != 0)
    return tars_error_invalid(err, "mounts[%zu] (%s): takes no size", i, name);
  if (m->type == TARS_MOUNT_TMPFS && m->size != 0 && (m->size < 4 * KIB || m->size == UINT64_MAX))
    return tars_error_invalid(err, "mounts[%zu] (tmpfs): size %" PRIu64 ": at least 4K, finite", i,
                              m->size);

  if (takes_source)
    {
      snprintf(field, sizeof field, "mounts[%zu] (%s) source", i, name);
      if (check_path_syntax(field, m->source, err) < 0)
        return -1;
      if (stat(m->source, &st) < 0)
        return invalid_errno(err, errno, "%s %s", field, quote(m->source).s);
      if (m->type == TARS_MOUNT_RO_BIND && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return tars_error_invalid(err, "%s %s: not a directory or a regular file", field,
                                  quote(m->source).s);
      if (m->type == TARS_MOUNT_BIND_SOCKET && !S_ISSOCK(st.st_mode))
        return tars_error_invalid(err, "%s %s: not a Unix socket", field, quote(m->source).s);
    }
  snprintf(field, sizeof field, "mounts[%zu] (%s) dest", i, name);
  if (check_path_syntax(field, dest, err) < 0)
    return -1;
  if (strcmp(dest, "/") == 0)
    return tars_error_invalid(err, "%s \"/\": cannot replace the root", field);
  static const char *const reserved[] = {"/proc", "/dev", "/sys"};
  for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
    if (path_within(dest, reserved[r]))
      return tars_error_invalid(err, "%s %s: inside %s, which tars mounts itself", field,
                                quote(dest).s, reserved[r]);
  /* The workspace is mounted after the entries: one below it would be hidden, or would create
   * its mount point in the overlay's upper layer, which is captured as a change.  */
  if (workspace && path_within(dest, workspace))
    return tars_error_invalid(err, "%s %s: inside the workspace %s", field, quote(dest).s,
                              quote(workspace).s);
  return 0;
}

int
tars_spec_add_mount(struct tars_spec *spec, enum tars_mount_type type, const char *source,
                    const char *dest, uint64_t size, struct tars_error *err)
{
  if (spec->n_mounts >= TARS_MAX_MOUNTS)
    return tars_error_invalid(err, "mounts: at most %d entries", TARS_MAX_MOUNTS);
  struct tars_mount m = {.type = type, .size = size};
  if (spec->owned)
    {
      if ((source && (m.source = xstrdup(source, err)) == NULL) ||
          (dest && (m.dest = xstrdup(dest, err)) == NULL))
        {
          free(m.source);
          return -1;
        }
    }
  else
    {
      m.source = (char *)source;
      m.dest = (char *)dest;
    }
  spec->mounts[spec->n_mounts++] = m;
  return 0;
}

static int
check_dir(const char *field, const char *path, struct tars_error *err)
{
  struct stat st;
  if (check_path_syntax(field, path, err) < 0)
    return -1;
  if (stat(path, &st) < 0)
    return invalid_errno(err, errno, "%s %s", field, quote(path).s);
  if (!S_ISDIR(st.st_mode))
    return tars_error_invalid(err, "%s %s: not a directory", field, quote(path).s);
  return 0;
}

/* The changeset is written there: refusing a non-empty directory keeps tars from mixing a new
 * changeset with old files, or writing through a symlink.  */
static int
check_changes_out(const char *path, struct tars_error *err)
{
  struct stat st;
  if (check_path_syntax("changes_out", path, err) < 0)
    return -1;
  if (lstat(path, &st) < 0)
    {
      if (errno != ENOENT)
        return invalid_errno(err, errno, "changes_out %s", quote(path).s);
      /* It will be created, but only as the last component: a typo in a parent is an error
       * now rather than after the command ran.  */
      cleanup_free char *parent = strdup(path);
      if (parent == NULL)
        return tars_error_set(err, ENOMEM, "changes_out: allocate");
      char *slash = strrchr(parent, '/');
      slash[slash == parent ? 1 : 0] = '\0';
      if (stat(parent, &st) < 0)
        return invalid_errno(err, errno, "changes_out %s: parent %s", quote(path).s,
                             quote(parent).s);
      if (!S_ISDIR(st.st_mode))
        return tars_error_invalid(err, "changes_out %s: parent %s is not a directory",
                                  quote(path).s, quote(parent).s);
      return 0;
    }
  if (!S_ISDIR(st.st_mode))
    return tars_error_invalid(err, "changes_out %s: exists and is not a directory", quote(path).s);
  cleanup_dir DIR *d = opendir(path);
  if (d == NULL)
    return invalid_errno(err, errno, "changes_out %s", quote(path).s);
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      return tars_error_invalid(err, "changes_out %s: exists and is not empty", quote(path).s);
  return 0;
}

int
tars_spec_validate(const struct tars_spec *spec, struct tars_error *err)
{
  char field[32];

  if (spec->argv == NULL || spec->argv[0] == NULL)
    return tars_error_invalid(err, "argv: no command given");
  if (spec->argv[0][0] == '\0')
    return tars_error_invalid(err, "argv: the command is an empty string");
  if (spec->envp)
    for (size_t i = 0; spec->envp[i]; i++)
      {
        snprintf(field, sizeof field, "env[%zu]", i);
        if (check_env_entry(field, spec->envp[i], err) < 0)
          return -1;
      }

  if (spec->cwd && check_path_syntax("cwd", spec->cwd, err) < 0)
    return -1;

  if (spec->workspace)
    {
      if (check_dir("workspace", spec->workspace, err) < 0)
        return -1;
      if (strcmp(spec->workspace, "/") == 0)
        return tars_error_invalid(err, "workspace \"/\": the host root cannot be a workspace");
    }

  if (spec->n_layers > TARS_MAX_LAYERS)
    return tars_error_invalid(err, "layers: %zu given, at most %d", spec->n_layers,
                              TARS_MAX_LAYERS);
  if (spec->n_layers > 0 && spec->workspace == NULL)
    return tars_error_invalid(err,
                              "layers: stacked above the workspace, but no workspace is given");
  for (size_t i = 0; i < spec->n_layers; i++)
    {
      snprintf(field, sizeof field, "layers[%zu]", i);
      if (spec->layers[i] == NULL)
        return tars_error_invalid(err, "%s: missing", field);
      if (check_dir(field, spec->layers[i], err) < 0)
        return -1;
    }

  if (spec->rootfs && check_dir("rootfs", spec->rootfs, err) < 0)
    return -1;

  if (spec->changes_out)
    {
      if (spec->workspace == NULL)
        return tars_error_invalid(err, "changes_out %s: needs a workspace to capture changes from",
                                  quote(spec->changes_out).s);
      if (check_changes_out(spec->changes_out, err) < 0)
        return -1;
    }

  if (spec->n_masks > TARS_MAX_MASKS)
    return tars_error_invalid(err, "masks: %zu given, at most %d", spec->n_masks, TARS_MAX_MASKS);
  for (size_t i = 0; i < spec->n_masks; i++)
    {
      snprintf(field, sizeof field, "masks[%zu]", i);
      if (spec->masks[i] == NULL)
        return tars_error_invalid(err, "%s: missing", field);
      if (check_mask(field, spec->masks[i], err) < 0)
        return -1;
    }

  if (spec->ro_workspace && spec->workspace == NULL)
    return tars_error_invalid(err, "ro_workspace: there is no workspace to show read-only");
  if (spec->ro_workspace && spec->changes_out)
    return tars_error_invalid(err, "changes_out %s: a read-only workspace has no changes",
                              quote(spec->changes_out).s);
  if (spec->stdio != TARS_STDIO_PIPE && spec->stdio != TARS_STDIO_INHERIT)
    return tars_error_invalid(err, "stdio: unknown mode %d (expected pipe or inherit)",
                              (int)spec->stdio);

  if (spec->n_mounts > TARS_MAX_MOUNTS)
    return tars_error_invalid(err, "mounts: %zu given, at most %d", spec->n_mounts,
                              TARS_MAX_MOUNTS);
  for (size_t i = 0; i < spec->n_mounts; i++)
    if (check_mount(i, &spec->mounts[i], spec->workspace, err) < 0)
      return -1;

  if (spec->hostname && check_hostname("hostname", spec->hostname, err) < 0)
    return -1;

  if (spec->net != TARS_NET_NONE && spec->net != TARS_NET_LOOPBACK)
    return tars_error_invalid(err, "net: unknown mode %d (expected none or loopback)",
                              (int)spec->net);

  for (size_t i = 0; i < sizeof limit_rules / sizeof limit_rules[0]; i++)
    if (check_limit(limit_rules[i].key, &limit_rules[i], limit_value(spec, &limit_rules[i]), err) <
        0)
      return -1;

  return 0;
}
