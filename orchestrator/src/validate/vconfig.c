/* The validator's configuration (vconfig.h).
 *
 * Everything here reads the repository (or its snapshot) and never runs anything from it: the
 * toolchain is detected from a few top-level files, the configuration is parsed with cJSON, and
 * the commands are only looked up.  The one program run here is the host's python3, to learn
 * whether pytest is installed, since that decides which runner a Python repository gets.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply/beneath.h"
#include "tars/changes.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"
#include "apply/policy.h"
#include "validate/vconfig.h"

#define DETECT_MAX_BYTES (4u << 20)
#define COMPDB_MAX_BYTES (256u << 20)
#define COMMAND_MAX_BYTES 16384
#define SCAN_MAX_ENTRIES 20000
#define MAX_TIMEOUT_S 86400

/* ----- toolchains ----- */

struct toolchain_info
{
  const char *name;
  const char *tool;  /* the program its default commands need */
  const char *build; /* default commands (make's test and yarn's build depend on the tree) */
  const char *test;
  const char *results; /* how the default test command's results are read */
  const char *runner;  /* the text runner, for a configured test command; NULL: none */
};

#define CMAKE_BUILD                                                                                \
  "cmake -S . -B .tars-build -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null && "                    \
  "cmake --build .tars-build -j2"
#define CMAKE_TEST                                                                                 \
  "ctest --test-dir .tars-build --output-on-failure --output-junit \"$TARS_RESULTS/junit.xml\""
#define PYTEST_TEST                                                                                \
  "python3 -m pytest -q -p no:cacheprovider --junitxml=\"$TARS_RESULTS/junit.xml\""

static const struct toolchain_info toolchains[] = {
    [TARS_TC_NONE] = {"none", NULL, NULL, NULL, NULL, NULL},
    [TARS_TC_CMAKE] = {"cmake", "cmake", CMAKE_BUILD, CMAKE_TEST, "junit:.tars-results/junit.xml",
                       "ctest"},
    [TARS_TC_MAKE] = {"make", "make", "make -j2", "make check", "automake", "automake"},
    [TARS_TC_MESON] = {"meson", "meson", "meson setup .tars-build && meson compile -C .tars-build",
                       "meson test -C .tars-build",
                       "junit:.tars-build/meson-logs/testlog.junit.xml", "meson"},
    [TARS_TC_CARGO] = {"cargo", "cargo", "cargo build --offline --all-targets",
                       "cargo test --offline", "cargo", "cargo"},
    [TARS_TC_GO] = {"go", "go", "go build ./... && go vet ./...", "go test -json ./...", "go-json",
                    NULL},
    [TARS_TC_NPM] = {"npm", "npm", "npm run build --if-present", "npm test", "jest", "jest"},
    [TARS_TC_YARN] = {"yarn", "yarn", "yarn build", "yarn test", "jest", "jest"},
    [TARS_TC_PYTEST] = {"pytest", "python3", NULL, PYTEST_TEST, "junit:.tars-results/junit.xml",
                        "pytest"},
    [TARS_TC_UNITTEST] = {"unittest", "python3", NULL, "python3 -m unittest discover -v",
                          "unittest", "unittest"},
    [TARS_TC_DOTNET] = {"dotnet", "dotnet", "dotnet build", "dotnet test", "dotnet", "dotnet"},
    [TARS_TC_CUSTOM] = {"custom", NULL, NULL, NULL, NULL, NULL},
};
#define N_TOOLCHAINS (sizeof toolchains / sizeof toolchains[0])

static const struct toolchain_info *
toolchain_info(enum tars_toolchain t)
{
  return (unsigned)t < N_TOOLCHAINS ? &toolchains[t] : &toolchains[TARS_TC_NONE];
}

const char *
tars_toolchain_name(enum tars_toolchain t)
{
  return toolchain_info(t)->name;
}

int
tars_toolchain_from_name(const char *name, enum tars_toolchain *out, struct tars_error *err)
{
  char known[256];
  size_t o = 0;
  for (size_t i = TARS_TC_NONE + 1; i < N_TOOLCHAINS; i++)
    {
      if (name && strcmp(name, toolchains[i].name) == 0)
        {
          *out = (enum tars_toolchain)i;
          return 0;
        }
      o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "", toolchains[i].name);
    }
  char shown_name[128];
  tars_shown(name ? name : "", shown_name, sizeof shown_name);
  return tars_error_invalid(err, "unknown toolchain '%s' (known: %s)", shown_name, known);
}

const char *
tars_stage_name(enum tars_stage_kind k)
{
  static const char *const names[] = {"syntax", "build", "test", "lint"};
  return (unsigned)k < TARS_STAGE_COUNT ? names[k] : "unknown";
}

/* ----- defaults ----- */

static const char *const default_test_files[] = {
    "tests/",    "test/",     "spec/",     "__tests__/", "testing/",   "test_*.py",
    "*_test.py", "*_test.go", "*_test.c",  "*_test.cc",  "*_test.cpp", "*.test.js",
    "*.spec.js", "*.test.ts", "*.spec.ts", "*Test.java", "*Tests.cs",
};
#define N_DEFAULT_TEST_FILES (sizeof default_test_files / sizeof default_test_files[0])

void
tars_vconfig_default(struct tars_vconfig *c)
{
  static const uint64_t timeouts_s[TARS_STAGE_COUNT] = {60, 600, 600, 300};

  memset(c, 0, sizeof *c);
  c->toolchain = TARS_TC_NONE;
  for (int i = 0; i < TARS_STAGE_COUNT; i++)
    {
      c->limits[i].timeout_ms = timeouts_s[i] * 1000;
      c->limits[i].memory_bytes = 2ull << 30;
      c->limits[i].pids = 1024;
    }
  c->gate_warnings = false;
  c->max_files = 100;
  c->max_lines = 5000;
  /* The defaults are not copied: nothing to fail, and the n_*_static counts say what to free.  */
  for (size_t i = 0; i < N_DEFAULT_TEST_FILES; i++)
    c->test_files[i] = (char *)default_test_files[i];
  c->n_test_files = c->n_test_files_static = N_DEFAULT_TEST_FILES;
  c->allow_test_drop = false;
}

void
tars_vconfig_free(struct tars_vconfig *c)
{
  free(c->detected_by);
  free(c->build);
  free(c->test);
  free(c->lint);
  free(c->results);
  c->detected_by = c->build = c->test = c->lint = c->results = NULL;
  for (size_t i = c->n_forbidden_static; i < c->n_forbidden; i++)
    free(c->forbidden[i]);
  for (size_t i = c->n_test_files_static; i < c->n_test_files; i++)
    free(c->test_files[i]);
  c->n_forbidden = c->n_forbidden_static;
  c->n_test_files = c->n_test_files_static;
}

static int
dup_opt(char **dst, const char *src)
{
  *dst = NULL;
  if (src && (*dst = strdup(src)) == NULL)
    return -1;
  return 0;
}

/* A deep copy, so that a merge can fail without touching the original.  */
static int
vconfig_copy(struct tars_vconfig *d, const struct tars_vconfig *s)
{
  *d = *s;
  d->detected_by = d->build = d->test = d->lint = d->results = NULL;
  d->n_forbidden = s->n_forbidden_static;
  d->n_test_files = s->n_test_files_static;
  if (dup_opt(&d->detected_by, s->detected_by) < 0 || dup_opt(&d->build, s->build) < 0 ||
      dup_opt(&d->test, s->test) < 0 || dup_opt(&d->lint, s->lint) < 0 ||
      dup_opt(&d->results, s->results) < 0)
    goto fail;
  for (size_t i = s->n_forbidden_static; i < s->n_forbidden; i++)
    {
      if ((d->forbidden[i] = strdup(s->forbidden[i])) == NULL)
        goto fail;
      d->n_forbidden = i + 1;
    }
  for (size_t i = s->n_test_files_static; i < s->n_test_files; i++)
    {
      if ((d->test_files[i] = strdup(s->test_files[i])) == NULL)
        goto fail;
      d->n_test_files = i + 1;
    }
  return 0;
fail:
  tars_vconfig_free(d);
  return -1;
}

/* ----- patterns ----- */

/* Test-file directory patterns ("tests/") match at any depth, since test directories sit next
 * to the code in many layouts (web/__tests__/, pkg/tests/); every other pattern follows the
 * apply policy's rules (policy.h).  */
static bool
test_pattern_matches(const char *rule, const char *path)
{
  size_t rlen = strlen(rule);
  if (rlen > 1 && rule[rlen - 1] == '/' && memchr(rule, '/', rlen - 1) == NULL &&
      strpbrk(rule, "*?[") == NULL)
    {
      for (const char *p = path; *p;)
        {
          size_t n = strcspn(p, "/");
          if (n == rlen - 1 && memcmp(p, rule, n) == 0)
            return true;
          if (p[n] == '\0')
            break;
          p += n + 1;
        }
      return false;
    }
  return tars_path_rule_matches(rule, path);
}

bool
tars_vconfig_is_test_file(const struct tars_vconfig *c, const char *path)
{
  for (size_t i = 0; i < c->n_test_files; i++)
    if (c->test_files[i] && test_pattern_matches(c->test_files[i], path))
      return true;
  return false;
}

const char *
tars_vconfig_forbidden(const struct tars_vconfig *c, const char *path)
{
  for (size_t i = 0; i < c->n_forbidden; i++)
    if (c->forbidden[i] && tars_path_rule_matches(c->forbidden[i], path))
      return c->forbidden[i];
  return NULL;
}

/* ----- reading files beneath a directory ----- */

/* Read DFD/REL (beneath, no symlinks, a regular file of at most MAX bytes) into *TEXT
 * (NUL-terminated).  A missing file is 0 with *TEXT NULL.  */
static int
slurp_beneath(int dfd, const char *rel, size_t max, char **text, size_t *len,
              struct tars_error *err)
{
  struct stat st;
  *text = NULL;
  *len = 0;
  cleanup_close int fd = tars_open_beneath(dfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, err);
  if (fd < 0)
    return errno == ENOENT ? 0 : -1;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "%s: stat", rel);
  if (!S_ISREG(st.st_mode))
    return tars_error_invalid(err, "%s: not a regular file", rel);
  if ((uint64_t)st.st_size > max)
    return tars_error_invalid(err, "%s: larger than %zu bytes", rel, max);
  cleanup_free char *buf = malloc((size_t)st.st_size + 1);
  size_t n = 0;
  if (buf == NULL)
    return tars_error_set(err, ENOMEM, "%s", rel);
  for (;;)
    {
      ssize_t r = read(fd, buf + n, (size_t)st.st_size + 1 - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "%s: read", rel);
      if (r == 0)
        break;
      n += (size_t)r;
      if (n > (size_t)st.st_size)
        return tars_error_invalid(err, "%s: it grew while being read", rel);
    }
  buf[n] = '\0';
  *len = n;
  *text = steal_pointer(&buf);
  return 0;
}

/* ----- the configuration ----- */

struct mctx
{
  const char *where; /* "tars.json", "step 3's validationRules" */
  const char *pfx;   /* "validate." for a file, "" for a bare object */
  struct tars_error *err;
};

static int __attribute__((format(printf, 3, 4)))
bad(struct mctx *x, const char *key, const char *fmt, ...)
{
  char msg[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tars_error_invalid(x->err, "%s: %s%s: %s", x->where, x->pfx, key, msg);
}

/* "gates.max_files" for the member K of an object at PARENT ("" or "gates").  */
static void
key_name(const char *parent, const cJSON *k, char *buf, size_t size)
{
  char kb[128];
  tars_shown(k->string ? k->string : "", kb, sizeof kb);
  snprintf(buf, size, "%s%s%s", parent, *parent ? "." : "", kb);
}

static bool
key_is(const cJSON *k, const char *name)
{
  return k->string && strcmp(k->string, name) == 0;
}

static int
get_uint(struct mctx *x, const char *key, const cJSON *v, uint64_t min, uint64_t max, uint64_t *out)
{
  if (!cJSON_IsNumber(v))
    return bad(x, key, "expected a whole number");
  double d = v->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
    return bad(x, key, "expected a whole, non-negative number");
  uint64_t u = (uint64_t)d;
  if (u < min || u > max)
    return bad(x, key, "%llu is out of range (%llu to %llu)", (unsigned long long)u,
               (unsigned long long)min, (unsigned long long)max);
  *out = u;
  return 0;
}

static int
get_bool(struct mctx *x, const char *key, const cJSON *v, bool *out)
{
  if (!cJSON_IsBool(v))
    return bad(x, key, "expected true or false");
  *out = cJSON_IsTrue(v);
  return 0;
}

/* A command: a string; "" is no such stage.  */
static int
get_command(struct mctx *x, const char *key, const cJSON *v, char **field, unsigned *configured,
            unsigned bit)
{
  if (!cJSON_IsString(v))
    return bad(x, key, "expected a string (a shell command, or \"\" for none)");
  size_t len = strlen(v->valuestring);
  if (len > COMMAND_MAX_BYTES)
    return bad(x, key, "longer than %d bytes", COMMAND_MAX_BYTES);
  char *s = NULL;
  if (len && (s = strdup(v->valuestring)) == NULL)
    return tars_error_set(x->err, ENOMEM, "%s", x->where);
  free(*field);
  *field = s;
  *configured |= bit;
  return 0;
}

static const char *const text_runners[] = {
    "pytest", "ctest", "cargo", "unittest", "automake", "dotnet", "tap", "jest", "meson",
};

static const char *
results_problem(const char *s)
{
  if (strncmp(s, "junit:", 6) == 0)
    return tars_path_problem(s + 6);
  if (strcmp(s, "go-json") == 0)
    return NULL;
  for (size_t i = 0; i < sizeof text_runners / sizeof text_runners[0]; i++)
    if (strcmp(s, text_runners[i]) == 0)
      return NULL;
  return "expected \"junit:PATH\", \"go-json\" or one of pytest, ctest, cargo, unittest, automake, "
         "dotnet, tap, jest, meson";
}

static int
merge_patterns(struct mctx *x, const char *key, const cJSON *v, char **list, size_t *n)
{
  const cJSON *r;
  if (!cJSON_IsArray(v))
    return bad(x, key, "expected an array of strings");
  cJSON_ArrayForEach(r, v)
  {
    const char *why = cJSON_IsString(r) ? tars_path_rule_problem(r->valuestring) : "not a string";
    if (why)
      {
        char rb[256];
        tars_shown(cJSON_IsString(r) ? r->valuestring : "", rb, sizeof rb);
        return bad(x, key, "\"%s\": %s", rb, why);
      }
    bool dup = false;
    for (size_t i = 0; i < *n && !dup; i++)
      dup = strcmp(list[i], r->valuestring) == 0;
    if (dup)
      continue;
    if (*n >= TARS_VCONFIG_MAX_PATTERNS)
      return bad(x, key, "more than %d patterns", TARS_VCONFIG_MAX_PATTERNS);
    if ((list[*n] = strdup(r->valuestring)) == NULL)
      return tars_error_set(x->err, ENOMEM, "%s", x->where);
    (*n)++;
  }
  return 0;
}

static int
merge_timeouts(struct tars_vconfig *c, struct mctx *x, const cJSON *v)
{
  if (!cJSON_IsObject(v))
    return bad(x, "timeouts", "expected an object of seconds per stage");
  for (const cJSON *k = v->child; k; k = k->next)
    {
      char key[192];
      key_name("timeouts", k, key, sizeof key);
      int stage = -1;
      for (int i = 0; i < TARS_STAGE_COUNT; i++)
        if (key_is(k, tars_stage_name((enum tars_stage_kind)i)))
          stage = i;
      if (stage < 0)
        return bad(x, key, "unknown key (expected syntax, build, test or lint)");
      uint64_t s;
      if (get_uint(x, key, k, 1, MAX_TIMEOUT_S, &s) < 0)
        return -1;
      c->limits[stage].timeout_ms = s * 1000;
    }
  return 0;
}

static int
merge_gates(struct tars_vconfig *c, struct mctx *x, const cJSON *v)
{
  if (!cJSON_IsObject(v))
    return bad(x, "gates", "expected an object");
  for (const cJSON *k = v->child; k; k = k->next)
    {
      char key[192];
      int r;
      key_name("gates", k, key, sizeof key);
      if (key_is(k, "warnings"))
        r = get_bool(x, key, k, &c->gate_warnings);
      else if (key_is(k, "max_files"))
        r = get_uint(x, key, k, 0, UINT32_MAX, &c->max_files);
      else if (key_is(k, "max_lines"))
        r = get_uint(x, key, k, 0, UINT32_MAX, &c->max_lines);
      else if (key_is(k, "forbidden"))
        r = merge_patterns(x, key, k, c->forbidden, &c->n_forbidden);
      else if (key_is(k, "test_files"))
        r = merge_patterns(x, key, k, c->test_files, &c->n_test_files);
      else if (key_is(k, "allow_test_drop"))
        r = get_bool(x, key, k, &c->allow_test_drop);
      else
        r = bad(x, key, "unknown key");
      if (r < 0)
        return -1;
    }
  return 0;
}

/* Merge V into C, which the caller throws away on error.  */
static int
merge_into(struct tars_vconfig *c, const cJSON *v, struct mctx *x)
{
  if (!cJSON_IsObject(v))
    return tars_error_invalid(x->err, "%s: %sexpected an object", x->where,
                              *x->pfx ? "validate: " : "");
  for (const cJSON *k = v->child; k; k = k->next)
    {
      char key[192];
      int r = 0;
      key_name("", k, key, sizeof key);
      if (key_is(k, "toolchain"))
        {
          enum tars_toolchain t;
          if (!cJSON_IsString(k))
            r = bad(x, key, "expected a string");
          else if (tars_toolchain_from_name(k->valuestring, &t, x->err) < 0)
            r = tars_error_prefix(x->err, "%s: %s%s", x->where, x->pfx, key);
          else
            {
              char *by = strdup("config");
              if (by == NULL)
                return tars_error_set(x->err, ENOMEM, "%s", x->where);
              free(c->detected_by);
              c->detected_by = by;
              c->toolchain = t;
              c->configured |= TARS_VC_SET_TOOLCHAIN;
            }
        }
      else if (key_is(k, "build"))
        r = get_command(x, key, k, &c->build, &c->configured, TARS_VC_SET_BUILD);
      else if (key_is(k, "test"))
        r = get_command(x, key, k, &c->test, &c->configured, TARS_VC_SET_TEST);
      else if (key_is(k, "lint"))
        r = get_command(x, key, k, &c->lint, &c->configured, TARS_VC_SET_LINT);
      else if (key_is(k, "results"))
        {
          const char *why = NULL;
          if (!cJSON_IsString(k))
            r = bad(x, key, "expected a string");
          else if (*k->valuestring && (why = results_problem(k->valuestring)) != NULL)
            {
              char vb[256];
              tars_shown(k->valuestring, vb, sizeof vb);
              r = bad(x, key, "\"%s\": %s", vb, why);
            }
          else
            {
              char *s = NULL;
              if (*k->valuestring && (s = strdup(k->valuestring)) == NULL)
                return tars_error_set(x->err, ENOMEM, "%s", x->where);
              free(c->results);
              c->results = s;
              c->configured |= TARS_VC_SET_RESULTS;
            }
        }
      else if (key_is(k, "timeouts"))
        r = merge_timeouts(c, x, k);
      else if (key_is(k, "memory"))
        {
          uint64_t m = 0;
          if (cJSON_IsNumber(k))
            r = get_uint(x, key, k, 1, UINT64_MAX, &m);
          else if (cJSON_IsString(k))
            {
              if (tars_parse_size(k->valuestring, &m, x->err) < 0)
                r = tars_error_prefix(x->err, "%s: %s%s", x->where, x->pfx, key);
            }
          else
            r = bad(x, key, "expected a size (\"2G\") or a number of bytes");
          if (r == 0 && m < (1u << 20))
            r = bad(x, key, "%llu bytes is too little (at least 1M)", (unsigned long long)m);
          for (int i = 0; r == 0 && i < TARS_STAGE_COUNT; i++)
            c->limits[i].memory_bytes = m;
        }
      else if (key_is(k, "pids"))
        {
          uint64_t p;
          r = get_uint(x, key, k, 1, 4194304, &p);
          for (int i = 0; r == 0 && i < TARS_STAGE_COUNT; i++)
            c->limits[i].pids = p;
        }
      else if (key_is(k, "gates"))
        r = merge_gates(c, x, k);
      else
        r = bad(x, key, "unknown key");
      if (r < 0)
        return -1;
    }
  return 0;
}

static int
merge_swap(struct tars_vconfig *c, const cJSON *v, struct mctx *x)
{
  struct tars_vconfig n;
  if (vconfig_copy(&n, c) < 0)
    return tars_error_set(x->err, ENOMEM, "%s", x->where);
  if (merge_into(&n, v, x) < 0)
    {
      tars_vconfig_free(&n);
      return -1;
    }
  tars_vconfig_free(c);
  *c = n;
  return 0;
}

int
tars_vconfig_merge(struct tars_vconfig *c, const cJSON *validate, const char *where,
                   struct tars_error *err)
{
  struct mctx x = {where ? where : "validation settings", "", err};
  return merge_swap(c, validate, &x);
}

int
tars_vconfig_load(struct tars_vconfig *c, int repo_fd, struct tars_error *err)
{
  cleanup_cjson cJSON *root = NULL;
  const char *file = NULL;
  if (tars_repo_config_load(repo_fd, &root, &file, err) < 0)
    return tars_error_prefix(err, "validation configuration");
  if (root == NULL)
    return 0;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "validate");
  if (v == NULL)
    return 0;
  struct mctx x = {file, "validate.", err};
  return merge_swap(c, v, &x);
}

/* ----- detection ----- */

/* A regular file (not a symlink) named NAME directly in DFD.  */
static bool
has_file(int dfd, const char *name)
{
  struct stat st;
  return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* The content of a top-level file, or NULL (absent, unreadable, a symlink, too large).  */
static char *
read_top(int dfd, const char *name)
{
  struct tars_error e;
  char *text = NULL;
  size_t len;
  if (slurp_beneath(dfd, name, DETECT_MAX_BYTES, &text, &len, &e) < 0)
    return NULL;
  return text;
}

static bool
file_contains(int dfd, const char *name, const char *needle)
{
  cleanup_free char *text = read_top(dfd, name);
  return text && strstr(text, needle) != NULL;
}

static bool
has_suffix(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether the makefile TEXT has a rule for TARGET ("check: all", "check test::").  */
static bool
makefile_has_target(const char *text, const char *target)
{
  size_t tlen = strlen(target);
  for (const char *line = text; line && *line;)
    {
      const char *eol = strchr(line, '\n');
      size_t n = eol ? (size_t)(eol - line) : strlen(line);
      const char *colon = memchr(line, ':', n);
      if (line[0] != '\t' && line[0] != '#' && colon && colon[1] != '=' &&
          memchr(line, '=', (size_t)(colon - line)) == NULL)
        {
          for (const char *w = line; w < colon;)
            {
              while (w < colon && (*w == ' ' || *w == '\t'))
                w++;
              const char *e = w;
              while (e < colon && *e != ' ' && *e != '\t')
                e++;
              if ((size_t)(e - w) == tlen && memcmp(w, target, tlen) == 0)
                return true;
              w = e;
            }
        }
      line = eol ? eol + 1 : NULL;
    }
  return false;
}

static const char *
makefile_name(int dfd)
{
  /* GNU make's order.  */
  static const char *const names[] = {"GNUmakefile", "makefile", "Makefile"};
  for (size_t i = 0; i < 3; i++)
    if (has_file(dfd, names[i]))
      return names[i];
  return NULL;
}

/* Whether package.json has the script NAME; HAVE_JSON is set when it parsed.  */
static bool
package_script(int dfd, const char *name, bool *have_json)
{
  cleanup_free char *text = read_top(dfd, "package.json");
  cleanup_cjson cJSON *root = text ? cJSON_Parse(text) : NULL;
  *have_json = root != NULL;
  const cJSON *scripts = cJSON_GetObjectItemCaseSensitive(root, "scripts");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(scripts, name);
  return cJSON_IsString(s);
}

/* Resolve NAME on the ':'-separated DIRS into OUT: a regular file we may execute.  */
static bool
find_program(const char *name, const char *dirs, char *out, size_t size)
{
  struct stat st;
  for (const char *d = dirs; d && *d;)
    {
      size_t n = strcspn(d, ":");
      if (n > 0 && (size_t)snprintf(out, size, "%.*s/%s", (int)n, d, name) < size &&
          stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
        return true;
      d += n;
      if (*d == ':')
        d++;
    }
  return false;
}

/* Whether PYTHON can import MODULE, asked the way the sandbox would: isolated mode, so that
 * neither the environment nor the working directory decide.  */
static bool
python_has_module(const char *python, const char *module)
{
  char code[128];
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int status;

  snprintf(code, sizeof code, "import %s", module);
  char *argv[] = {(char *)python, (char *)"-I", (char *)"-c", code, NULL};
  char *envp[] = {(char *)"PATH=" TARS_VCONFIG_SANDBOX_PATH, (char *)"HOME=/tmp",
                  (char *)"TMPDIR=/tmp", (char *)"PYTHONDONTWRITEBYTECODE=1", NULL};
  if (posix_spawn_file_actions_init(&fa) != 0)
    return false;
  bool ok = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0 &&
            posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) == 0 &&
            posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) == 0 &&
            posix_spawn(&pid, python, &fa, NULL, argv, envp) == 0;
  posix_spawn_file_actions_destroy(&fa);
  if (!ok)
    return false;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool
pytest_installed(const char *path_dirs)
{
  char python[PATH_MAX];
  return find_program("python3", path_dirs, python, sizeof python) &&
         python_has_module(python, "pytest");
}

/* Python test files at the top two levels: the first (by name) of the pytest style (test_*.py,
 * *_test.py) and of the unittest style (test*.py).  */
struct py_scan
{
  char pytest_file[2 * NAME_MAX + 2];
  char unittest_file[2 * NAME_MAX + 2];
};

static void
consider(char *best, size_t size, const char *dir, const char *name)
{
  char cand[2 * NAME_MAX + 2];
  snprintf(cand, sizeof cand, "%s%s%s", dir, *dir ? "/" : "", name);
  if (*best == '\0' || strcmp(cand, best) < 0)
    snprintf(best, size, "%s", cand);
}

static void
scan_python_dir(int dfd, const char *dir, int depth, struct py_scan *s)
{
  int fd = *dir ? openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                : openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return;
    }
  size_t count = 0;
  for (struct dirent *de; (de = readdir(d)) != NULL && count < SCAN_MAX_ENTRIES; count++)
    {
      const char *name = de->d_name;
      if (name[0] == '.')
        continue;
      struct stat st;
      if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (S_ISDIR(st.st_mode) && depth == 0 && strcmp(name, "node_modules") != 0)
        {
          scan_python_dir(dfd, name, 1, s);
          continue;
        }
      if (!S_ISREG(st.st_mode) || !has_suffix(name, ".py"))
        continue;
      if ((strncmp(name, "test_", 5) == 0 || has_suffix(name, "_test.py")))
        consider(s->pytest_file, sizeof s->pytest_file, dir, name);
      if (strncmp(name, "test", 4) == 0)
        consider(s->unittest_file, sizeof s->unittest_file, dir, name);
    }
}

/* The first top-level name ending in one of SUFFIXES (a regular file), into OUT.  */
static bool
find_top_suffix(int dfd, const char *const *suffixes, size_t n, char *out, size_t size)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return false;
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return false;
    }
  *out = '\0';
  size_t count = 0;
  for (struct dirent *de; (de = readdir(d)) != NULL && count < SCAN_MAX_ENTRIES; count++)
    for (size_t i = 0; i < n; i++)
      if (has_suffix(de->d_name, suffixes[i]) && strlen(de->d_name) > strlen(suffixes[i]) &&
          has_file(dirfd(d), de->d_name) && (*out == '\0' || strcmp(de->d_name, out) < 0))
        snprintf(out, size, "%s", de->d_name);
  return *out != '\0';
}

static enum tars_toolchain
detect_toolchain(int tree_fd, char *by, size_t size)
{
  static const struct
  {
    const char *file;
    enum tars_toolchain tc;
  } markers[] = {
      {"CMakeLists.txt", TARS_TC_CMAKE}, {"meson.build", TARS_TC_MESON},
      {"Cargo.toml", TARS_TC_CARGO},     {"go.mod", TARS_TC_GO},
      {"package.json", TARS_TC_NPM},
  };
  for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
    if (has_file(tree_fd, markers[i].file))
      {
        if (markers[i].tc == TARS_TC_NPM && has_file(tree_fd, "yarn.lock"))
          {
            snprintf(by, size, "package.json and yarn.lock");
            return TARS_TC_YARN;
          }
        snprintf(by, size, "%s", markers[i].file);
        return markers[i].tc;
      }
  const char *mk = makefile_name(tree_fd);
  if (mk)
    {
      snprintf(by, size, "%s", mk);
      return TARS_TC_MAKE;
    }

  /* Python: pytest's own configuration says pytest; test files say pytest when it is
   * installed, else unittest when unittest discover would find them.  */
  static const struct
  {
    const char *file, *needle;
  } pytest_markers[] = {
      {"pytest.ini", NULL},           {"conftest.py", NULL},   {"pyproject.toml", "[tool.pytest"},
      {"setup.cfg", "[tool:pytest]"}, {"tox.ini", "[pytest]"},
  };
  for (size_t i = 0; i < sizeof pytest_markers / sizeof pytest_markers[0]; i++)
    if (pytest_markers[i].needle
            ? file_contains(tree_fd, pytest_markers[i].file, pytest_markers[i].needle)
            : has_file(tree_fd, pytest_markers[i].file))
      {
        snprintf(by, size, "%s", pytest_markers[i].file);
        return TARS_TC_PYTEST;
      }
  struct py_scan s = {"", ""};
  scan_python_dir(tree_fd, "", 0, &s);
  if (*s.pytest_file && pytest_installed(TARS_VCONFIG_SANDBOX_PATH))
    {
      snprintf(by, size, "%s", s.pytest_file);
      return TARS_TC_PYTEST;
    }
  if (*s.unittest_file)
    {
      snprintf(by, size, "%s", s.unittest_file);
      return TARS_TC_UNITTEST;
    }

  static const char *const dotnet[] = {".sln", ".csproj", ".fsproj"};
  if (find_top_suffix(tree_fd, dotnet, 3, by, size))
    return TARS_TC_DOTNET;
  return TARS_TC_NONE;
}

/* The default commands of TC for the tree at TREE_FD.  */
static void
toolchain_defaults(enum tars_toolchain tc, int tree_fd, const char **build, const char **test)
{
  const struct toolchain_info *ti = toolchain_info(tc);
  bool have_json;
  *build = ti->build;
  *test = ti->test;
  switch (tc)
    {
    case TARS_TC_MAKE:
      {
        const char *mk = makefile_name(tree_fd);
        cleanup_free char *text = mk ? read_top(tree_fd, mk) : NULL;
        /* Without a makefile to read (one that ./configure writes), automake's convention.  */
        if (text && !makefile_has_target(text, "check"))
          *test = makefile_has_target(text, "test") ? "make test" : NULL;
      }
      break;
    case TARS_TC_YARN:
      if (!package_script(tree_fd, "build", &have_json))
        *build = NULL;
      /* fall through */
    case TARS_TC_NPM:
      /* npm and yarn fail on a missing script: no test stage rather than a certain failure.  */
      if (!package_script(tree_fd, "test", &have_json) && have_json)
        *test = NULL;
      break;
    default:
      break;
    }
}

int
tars_vconfig_detect(struct tars_vconfig *c, int tree_fd, struct tars_error *err)
{
  char by[2 * NAME_MAX + 64] = "config";
  enum tars_toolchain tc = c->toolchain;

  if (!(c->configured & TARS_VC_SET_TOOLCHAIN))
    tc = detect_toolchain(tree_fd, by, sizeof by);
  if (tc == TARS_TC_NONE)
    {
      if (!((c->configured & TARS_VC_SET_TEST) && c->test))
        {
          char link[64], dir[PATH_MAX] = "the tree";
          snprintf(link, sizeof link, "/proc/self/fd/%d", tree_fd);
          ssize_t n = readlink(link, dir, sizeof dir - 1);
          if (n > 0)
            dir[n] = '\0';
          return tars_error_invalid(
              err,
              "no toolchain detected in %s (looked for CMakeLists.txt, meson.build, Cargo.toml, "
              "go.mod, package.json, Makefile, pytest.ini, conftest.py, Python test files, "
              "*.sln, *.csproj); set validate.toolchain or validate.test in .tars/config.json",
              dir);
        }
      tc = TARS_TC_CUSTOM;
      snprintf(by, sizeof by, "config");
    }

  const struct toolchain_info *ti = toolchain_info(tc);
  const char *build, *test, *results;
  toolchain_defaults(tc, tree_fd, &build, &test);
  /* The default results format goes with the default test command; a configured command gets
   * the toolchain's text runner, which reads what the usual runner prints.  */
  results = (c->configured & TARS_VC_SET_TEST) ? ti->runner : test ? ti->results : NULL;

  cleanup_free char *n_by = NULL, *n_build = NULL, *n_test = NULL, *n_results = NULL;
  if (dup_opt(&n_by, by) < 0 || dup_opt(&n_build, build) < 0 || dup_opt(&n_test, test) < 0 ||
      dup_opt(&n_results, results) < 0)
    return tars_error_set(err, ENOMEM, "toolchain detection");
  c->toolchain = tc;
  free(c->detected_by);
  c->detected_by = steal_pointer(&n_by);
  if (!(c->configured & TARS_VC_SET_BUILD))
    {
      free(c->build);
      c->build = steal_pointer(&n_build);
    }
  if (!(c->configured & TARS_VC_SET_TEST))
    {
      free(c->test);
      c->test = steal_pointer(&n_test);
    }
  if (!(c->configured & TARS_VC_SET_RESULTS))
    {
      free(c->results);
      c->results = steal_pointer(&n_results);
    }
  return 0;
}

/* ----- command checks ----- */

static const char *const shell_words[] = {
    ":",     ".",        "[",        "[[",      "{",        "(",      "!",      "alias",  "bg",
    "break", "case",     "cd",       "command", "continue", "do",     "done",   "echo",   "elif",
    "else",  "esac",     "eval",     "exec",    "exit",     "export", "false",  "fg",     "fi",
    "for",   "function", "getopts",  "hash",    "if",       "jobs",   "kill",   "local",  "printf",
    "pwd",   "read",     "readonly", "return",  "select",   "set",    "shift",  "source", "test",
    "then",  "time",     "times",    "trap",    "true",     "type",   "ulimit", "umask",  "unalias",
    "unset", "until",    "wait",     "while",
};

static bool
is_shell_word(const char *w)
{
  for (size_t i = 0; i < sizeof shell_words / sizeof shell_words[0]; i++)
    if (strcmp(w, shell_words[i]) == 0)
      return true;
  return false;
}

static bool
is_assignment(const char *w)
{
  if (!((*w >= 'A' && *w <= 'Z') || (*w >= 'a' && *w <= 'z') || *w == '_'))
    return false;
  for (w++; *w && *w != '='; w++)
    if (!((*w >= 'A' && *w <= 'Z') || (*w >= 'a' && *w <= 'z') || (*w >= '0' && *w <= '9') ||
          *w == '_'))
      return false;
  return *w == '=';
}

enum first_word
{
  WORD_PROGRAM, /* OUT holds it */
  WORD_NONE,    /* nothing to run (only assignments) */
  WORD_DYNAMIC, /* an expansion, a subshell, an operator: the shell decides */
};

/* The program COMMAND starts with: its first word after any NAME=value assignments, unquoted.  */
static enum first_word
first_word(const char *cmd, char *out, size_t size)
{
  const char *p = cmd;
  for (;;)
    {
      size_t o = 0;
      bool dynamic = false;
      while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
      if (*p == '\0')
        return WORD_NONE;
      while (*p && !strchr(" \t\n;&|<>()", *p))
        {
          char ch = *p++;
          if (ch == '\'')
            {
              while (*p && *p != '\'' && o + 1 < size)
                out[o++] = *p++;
              if (*p)
                p++;
              continue;
            }
          if (ch == '"')
            {
              while (*p && *p != '"' && o + 1 < size)
                {
                  if (*p == '$' || *p == '`')
                    dynamic = true;
                  if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                    p++;
                  out[o++] = *p++;
                }
              if (*p)
                p++;
              continue;
            }
          if (ch == '$' || ch == '`' || ch == '*' || ch == '?' || ch == '~')
            dynamic = true;
          if (ch == '\\' && *p)
            ch = *p++;
          if (o + 1 < size)
            out[o++] = ch;
        }
      out[o] = '\0';
      if (o == 0)
        return WORD_DYNAMIC; /* an operator or a subshell first */
      if (is_assignment(out))
        continue;
      return dynamic ? WORD_DYNAMIC : WORD_PROGRAM;
    }
}

static const char *
by_phrase(const struct tars_vconfig *c, char *buf, size_t size)
{
  if (c->detected_by == NULL || strcmp(c->detected_by, "config") == 0)
    snprintf(buf, size, "set in the configuration");
  else
    snprintf(buf, size, "detected from %s", c->detected_by);
  return buf;
}

static bool
is_default_command(enum tars_toolchain tc, enum tars_stage_kind stage, const char *cmd)
{
  const struct toolchain_info *ti = toolchain_info(tc);
  if (cmd == NULL)
    return false;
  if (stage == TARS_STAGE_BUILD)
    return ti->build && strcmp(cmd, ti->build) == 0;
  if (stage == TARS_STAGE_TEST)
    return (ti->test && strcmp(cmd, ti->test) == 0) ||
           (tc == TARS_TC_MAKE && strcmp(cmd, "make test") == 0);
  return false;
}

static int
check_one(const char *key, const char *cmd, int tree_fd, const char *path_dirs,
          struct tars_error *err)
{
  char word[PATH_MAX], sw[PATH_MAX + 64], found[PATH_MAX];
  struct stat st;

  if (first_word(cmd, word, sizeof word) != WORD_PROGRAM || is_shell_word(word))
    return 0;
  tars_shown(word, sw, sizeof sw);
  if (word[0] == '/')
    {
      if (stat(word, &st) < 0)
        return tars_error_invalid(err, "%s: command '%s' not found", key, sw);
      if (!S_ISREG(st.st_mode) || access(word, X_OK) < 0)
        return tars_error_invalid(err, "%s: command '%s' is not an executable file", key, sw);
      return 0;
    }
  if (strchr(word, '/'))
    {
      const char *rel = word;
      while (rel[0] == '.' && rel[1] == '/')
        for (rel += 2; *rel == '/'; rel++)
          ;
      const char *why = tars_path_problem(rel);
      if (why)
        return tars_error_invalid(err, "%s: command '%s': %s (it must be inside the repository)",
                                  key, sw, why);
      struct tars_error e;
      if (tars_lstat_beneath(tree_fd, rel, &st, &e) < 0)
        {
          if (e.code == ENOENT || e.code == ENOTDIR)
            return tars_error_invalid(err, "%s: command '%s' not found in the repository", key, sw);
          *err = e;
          return tars_error_prefix(err, "%s: command '%s'", key, sw);
        }
      /* A symlink is resolved by the shell, inside the workspace; what it points at is not
       * checked here.  */
      if (S_ISLNK(st.st_mode))
        return 0;
      if (!S_ISREG(st.st_mode))
        return tars_error_invalid(err, "%s: command '%s' is not a regular file", key, sw);
      if (!(st.st_mode & 0111))
        return tars_error_invalid(err,
                                  "%s: command '%s' is not executable (mode %04o); make it "
                                  "executable or run it with sh",
                                  key, sw, (unsigned)(st.st_mode & 07777));
      return 0;
    }
  if (!find_program(word, path_dirs, found, sizeof found))
    return tars_error_invalid(err, "%s: command '%s' not found (PATH=%s)", key, sw, path_dirs);
  return 0;
}

int
tars_vconfig_check_commands(const struct tars_vconfig *c, int tree_fd, const char *path_dirs,
                            struct tars_error *err)
{
  const struct toolchain_info *ti = toolchain_info(c->toolchain);
  char found[PATH_MAX] = "", byb[2 * NAME_MAX + 64];
  if (path_dirs == NULL)
    path_dirs = TARS_VCONFIG_SANDBOX_PATH;

  /* The toolchain's own program first: "cargo is not installed" says more than "command not
   * found".  */
  bool uses_defaults = is_default_command(c->toolchain, TARS_STAGE_BUILD, c->build) ||
                       is_default_command(c->toolchain, TARS_STAGE_TEST, c->test);
  if (ti->tool && uses_defaults && !find_program(ti->tool, path_dirs, found, sizeof found))
    return tars_error_invalid(err, "toolchain %s (%s) needs '%s', which is not installed", ti->name,
                              by_phrase(c, byb, sizeof byb), ti->tool);
  if (c->toolchain == TARS_TC_PYTEST &&
      is_default_command(c->toolchain, TARS_STAGE_TEST, c->test) &&
      !python_has_module(found, "pytest"))
    return tars_error_invalid(err,
                              "toolchain pytest (%s) needs 'pytest', which is not installed (%s "
                              "cannot import it)",
                              by_phrase(c, byb, sizeof byb), found);

  const struct
  {
    const char *key, *cmd;
  } cmds[] = {{"validate.build", c->build}, {"validate.test", c->test}, {"validate.lint", c->lint}};
  for (size_t i = 0; i < 3; i++)
    if (cmds[i].cmd && check_one(cmds[i].key, cmds[i].cmd, tree_fd, path_dirs, err) < 0)
      return -1;
  return 0;
}

/* ----- syntax checks ----- */

enum tars_syntax_lang
tars_syntax_lang_of(const char *path)
{
  static const struct
  {
    const char *ext;
    enum tars_syntax_lang lang;
  } exts[] = {
      {".c", TARS_LANG_C},        {".h", TARS_LANG_C},       {".cc", TARS_LANG_CXX},
      {".cpp", TARS_LANG_CXX},    {".cxx", TARS_LANG_CXX},   {".c++", TARS_LANG_CXX},
      {".C", TARS_LANG_CXX},      {".hh", TARS_LANG_CXX},    {".hpp", TARS_LANG_CXX},
      {".hxx", TARS_LANG_CXX},    {".h++", TARS_LANG_CXX},   {".py", TARS_LANG_PYTHON},
      {".pyi", TARS_LANG_PYTHON}, {".json", TARS_LANG_JSON}, {".yaml", TARS_LANG_YAML},
      {".yml", TARS_LANG_YAML},   {".toml", TARS_LANG_TOML}, {".sh", TARS_LANG_SHELL},
      {".bash", TARS_LANG_SHELL}, {".go", TARS_LANG_GO},     {".js", TARS_LANG_JS},
      {".mjs", TARS_LANG_JS},     {".cjs", TARS_LANG_JS},
  };
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  if (dot == NULL || dot == base)
    return TARS_LANG_NONE;
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (strcmp(dot, exts[i].ext) == 0)
      return exts[i].lang;
  return TARS_LANG_NONE;
}

const char *
tars_syntax_lang_name(enum tars_syntax_lang l)
{
  static const char *const names[] = {"none", "c",    "c++",   "python", "json",
                                      "yaml", "toml", "shell", "go",     "javascript"};
  return (unsigned)l < sizeof names / sizeof names[0] ? names[l] : "none";
}

struct strv
{
  char **v;
  size_t n, cap;
};

static void
strv_free(struct strv *s)
{
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}
#define cleanup_strvec __attribute__((cleanup(strv_free)))

static int
strv_push_own(struct strv *s, char *str)
{
  if (str == NULL)
    return -1;
  if (s->n + 2 > s->cap)
    {
      size_t cap = s->cap ? s->cap * 2 : 16;
      char **v = realloc(s->v, cap * sizeof *v);
      if (v == NULL)
        {
          free(str);
          return -1;
        }
      s->v = v;
      s->cap = cap;
    }
  s->v[s->n++] = str;
  s->v[s->n] = NULL;
  return 0;
}

static int
strv_push(struct strv *s, const char *str)
{
  return strv_push_own(s, strdup(str));
}

/* Push each of the strings that follow S, up to a NULL.  */
static int __attribute__((sentinel)) strv_push_all(struct strv *s, ...)
{
  va_list ap;
  int r = 0;
  va_start(ap, s);
  for (const char *a; r == 0 && (a = va_arg(ap, const char *)) != NULL;)
    r = strv_push(s, a);
  va_end(ap);
  return r;
}

/* Hand S on as a NULL-terminated argv.  */
static char **
strv_steal(struct strv *s)
{
  char **v = s->v;
  s->v = NULL;
  s->n = s->cap = 0;
  return v;
}

/* Split a compile database "command" the way a POSIX shell splits words: blanks separate,
 * '...' is literal, "..." keeps \" \\ \$ \` escapes, and a backslash outside quotes takes the
 * next character as it is.  An unterminated quote is -1.  */
static int
split_command(const char *s, struct strv *out)
{
  size_t len = strlen(s);
  cleanup_free char *w = malloc(len + 1);
  if (w == NULL)
    return -1;
  for (const char *p = s;;)
    {
      while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
      if (*p == '\0')
        return 0;
      size_t o = 0;
      while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        {
          char ch = *p++;
          if (ch == '\'')
            {
              while (*p && *p != '\'')
                w[o++] = *p++;
              if (*p++ != '\'')
                return -1;
            }
          else if (ch == '"')
            {
              while (*p && *p != '"')
                {
                  if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                    p++;
                  w[o++] = *p++;
                }
              if (*p++ != '"')
                return -1;
            }
          else if (ch == '\\')
            {
              if (*p)
                w[o++] = *p++;
            }
          else
            w[o++] = ch;
        }
      w[o] = '\0';
      if (strv_push(out, w) < 0)
        return -1;
    }
}

/* Normalise the absolute path IN lexically ("//", ".", ".." removed) into OUT.  */
static bool
normalize_abs(const char *in, char *out, size_t size)
{
  size_t o = 0;
  if (in[0] != '/' || size < 2)
    return false;
  out[o++] = '/';
  for (const char *p = in; *p;)
    {
      while (*p == '/')
        p++;
      size_t n = strcspn(p, "/");
      if (n == 0)
        break;
      if (n == 1 && p[0] == '.')
        ;
      else if (n == 2 && p[0] == '.' && p[1] == '.')
        {
          while (o > 1 && out[o - 1] != '/')
            o--;
          if (o > 1)
            o--;
        }
      else
        {
          if (o + (o > 1) + n + 1 > size)
            return false;
          if (o > 1)
            out[o++] = '/';
          memcpy(out + o, p, n);
          o += n;
        }
      p += n;
    }
  out[o] = '\0';
  return true;
}

/* DIR/PATH (or PATH when absolute), normalised.  */
static bool
join_abs(const char *dir, const char *path, char *out, size_t size)
{
  char tmp[PATH_MAX * 2];
  if (path[0] == '/')
    snprintf(tmp, sizeof tmp, "%s", path);
  else if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s", dir, path) >= sizeof tmp)
    return false;
  return normalize_abs(tmp, out, size);
}

struct compdb_match
{
  const cJSON *entry;
  bool exact;              /* the entry names ABS_PATH itself */
  bool borrowed;           /* a header without an entry: another file's flags */
  char old_root[PATH_MAX]; /* where the database was generated, when not at WS_ROOT ("") */
};

static bool
is_header(const char *path)
{
  static const char *const exts[] = {".h", ".hh", ".hpp", ".hxx", ".h++"};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (has_suffix(path, exts[i]))
      return true;
  return false;
}

/* The entry for ABS_PATH (REL_PATH in the workspace).  A database generated elsewhere (in the
 * repository before it was snapshotted) names the file under another root: matched by its
 * repository-relative path, and the old root recorded to be rewritten.  A header has no entry of
 * its own: the flags of a file in the same directory, else of any file of the language.  */
static bool
compdb_find(const cJSON *db, const char *abs_path, const char *rel_path, enum tars_syntax_lang lang,
            struct compdb_match *m)
{
  char full[PATH_MAX], want[PATH_MAX], want_dir[PATH_MAX], rel_dir[PATH_MAX];
  const cJSON *e, *suffix = NULL, *same_dir = NULL, *same_lang = NULL, *any = NULL;
  char suffix_root[PATH_MAX] = "", same_dir_root[PATH_MAX] = "";
  size_t rlen = strlen(rel_path);

  memset(m, 0, sizeof *m);
  if (!normalize_abs(abs_path, want, sizeof want))
    return false;
  snprintf(want_dir, sizeof want_dir, "%.*s", (int)(strrchr(want, '/') - want), want);
  const char *rslash = strrchr(rel_path, '/');
  snprintf(rel_dir, sizeof rel_dir, "%.*s", rslash ? (int)(rslash - rel_path) : 0, rel_path);
  size_t rdl = strlen(rel_dir);
  bool header = is_header(want);

  cJSON_ArrayForEach(e, db)
  {
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(e, "directory");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(e, "file");
    if (!cJSON_IsString(dir) || !cJSON_IsString(file) || dir->valuestring[0] != '/' ||
        !join_abs(dir->valuestring, file->valuestring, full, sizeof full))
      continue;
    if (strcmp(full, want) == 0)
      {
        m->entry = e;
        m->exact = true;
        return true;
      }
    size_t flen = strlen(full);
    if (suffix == NULL && rlen && flen > rlen && full[flen - rlen - 1] == '/' &&
        strcmp(full + flen - rlen, rel_path) == 0)
      {
        suffix = e;
        snprintf(suffix_root, sizeof suffix_root, "%.*s", (int)(flen - rlen - 1), full);
      }
    enum tars_syntax_lang fl = tars_syntax_lang_of(full);
    if (!header || (fl != TARS_LANG_C && fl != TARS_LANG_CXX) || is_header(full))
      continue;
    /* The same directory: the header's own, or "<another root>/<its relative directory>".  */
    size_t fdl = (size_t)(strrchr(full, '/') - full);
    if (same_dir == NULL && fl == lang)
      {
        if (fdl == strlen(want_dir) && strncmp(full, want_dir, fdl) == 0)
          same_dir = e;
        else if (rdl && fdl > rdl && full[fdl - rdl - 1] == '/' &&
                 strncmp(full + fdl - rdl, rel_dir, rdl) == 0)
          {
            same_dir = e;
            snprintf(same_dir_root, sizeof same_dir_root, "%.*s", (int)(fdl - rdl - 1), full);
          }
      }
    if (same_lang == NULL && fl == lang)
      same_lang = e;
    if (any == NULL)
      any = e;
  }
  if (suffix)
    {
      m->entry = suffix;
      snprintf(m->old_root, sizeof m->old_root, "%s", *suffix_root ? suffix_root : "/");
      return true;
    }
  if (same_dir)
    snprintf(m->old_root, sizeof m->old_root, "%s", same_dir_root);
  m->entry = same_dir ? same_dir : same_lang ? same_lang : any;
  m->borrowed = m->entry != NULL;
  return m->entry != NULL;
}

/* ARG with OLD_ROOT (at its start, or after an option's letters: "-I/old/inc") replaced by
 * NEW_ROOT.  */
static char *
rewrite_root(const char *arg, const char *old_root, const char *new_root)
{
  size_t ol = strlen(old_root);
  if (*old_root == '\0' || strcmp(old_root, new_root) == 0)
    return strdup(arg);
  const char *at = arg;
  if (arg[0] == '-')
    at = strchr(arg, '/');
  if (at && strncmp(at, old_root, ol) == 0 && (at[ol] == '/' || at[ol] == '\0'))
    {
      char *r;
      if (asprintf(&r, "%.*s%s%s", (int)(at - arg), arg, new_root, at + ol) < 0)
        return NULL;
      return r;
    }
  return strdup(arg);
}

/* Options whose (separate or joined) value is a path that the compiler resolves against its
 * working directory.  */
static const char *const path_options[] = {"-isystem", "-iquote",  "-idirafter",
                                           "-include", "-imacros", "-I"};

static int
compdb_argv(const cJSON *entry, const struct compdb_match *m, const char *abs_path,
            const char *ws_root, enum tars_syntax_lang lang, struct strv *out, char *cwd,
            size_t cwd_size)
{
  cleanup_strvec struct strv args = {0};
  const cJSON *dir = cJSON_GetObjectItemCaseSensitive(entry, "directory");
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(entry, "file");
  const cJSON *arguments = cJSON_GetObjectItemCaseSensitive(entry, "arguments");
  const cJSON *command = cJSON_GetObjectItemCaseSensitive(entry, "command");
  char entry_file[PATH_MAX];

  if (cJSON_IsArray(arguments))
    {
      const cJSON *a;
      cJSON_ArrayForEach(a, arguments)
      {
        if (!cJSON_IsString(a) || strv_push(&args, a->valuestring) < 0)
          return -1;
      }
    }
  else if (!cJSON_IsString(command) || split_command(command->valuestring, &args) < 0)
    return -1;
  if (args.n == 0)
    return -1;
  if (!join_abs(dir->valuestring, file->valuestring, entry_file, sizeof entry_file))
    return -1;

  cleanup_free char *newdir = rewrite_root(dir->valuestring, m->old_root, ws_root);
  if (newdir == NULL)
    return -1;
  snprintf(cwd, cwd_size, "%s", newdir);

  for (size_t i = 0; i < args.n; i++)
    {
      const char *a = args.v[i];
      char full[PATH_MAX];
      if (i > 0)
        {
          if (strcmp(a, "-o") == 0 || strcmp(a, "-MF") == 0 || strcmp(a, "-MT") == 0 ||
              strcmp(a, "-MQ") == 0 || strcmp(a, "-MJ") == 0)
            {
              i++;
              continue;
            }
          if (strncmp(a, "-o", 2) == 0 || strcmp(a, "-c") == 0 || strncmp(a, "-M", 2) == 0 ||
              strncmp(a, "-Wp,-M", 6) == 0 || strcmp(a, "-fsyntax-only") == 0 ||
              strcmp(a, "--") == 0)
            continue;
          if (a[0] != '-' &&
              (strcmp(a, file->valuestring) == 0 ||
               (join_abs(dir->valuestring, a, full, sizeof full) && strcmp(full, entry_file) == 0)))
            continue;
          /* A path option: made absolute, so that the command does not depend on running in a
           * build directory that the workspace may not have.  */
          bool done = false;
          for (size_t k = 0; k < sizeof path_options / sizeof path_options[0] && !done; k++)
            {
              size_t ol = strlen(path_options[k]);
              if (strncmp(a, path_options[k], ol) != 0)
                continue;
              const char *val = a[ol] ? a + ol : (i + 1 < args.n ? args.v[i + 1] : NULL);
              if (val == NULL || !join_abs(dir->valuestring, val, full, sizeof full))
                break;
              cleanup_free char *nv = rewrite_root(full, m->old_root, ws_root);
              if (nv == NULL)
                return -1;
              if (a[ol] == '\0')
                {
                  if (strv_push(out, path_options[k]) < 0 || strv_push(out, nv) < 0)
                    return -1;
                  i++;
                }
              else
                {
                  char *joined;
                  if (asprintf(&joined, "%s%s", path_options[k], nv) < 0)
                    return -1;
                  if (strv_push_own(out, joined) < 0)
                    return -1;
                }
              done = true;
            }
          if (done)
            continue;
        }
      if (strv_push_own(out, rewrite_root(a, m->old_root, ws_root)) < 0)
        return -1;
    }
  /* A borrowed command may be of the other language (a C++ project's .h).  */
  if (m->borrowed && lang == TARS_LANG_C && tars_syntax_lang_of(entry_file) == TARS_LANG_CXX)
    {
      if (strv_push(out, "-x") < 0 || strv_push(out, "c++-header") < 0)
        return -1;
    }
  if (strv_push(out, "-fsyntax-only") < 0 || strv_push(out, abs_path) < 0)
    return -1;
  return 0;
}

static cJSON *
load_compdb(int tree_fd)
{
  static const char *const places[] = {"compile_commands.json", "build/compile_commands.json",
                                       ".tars-build/compile_commands.json"};
  for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
    {
      struct tars_error e;
      cleanup_free char *text = NULL;
      size_t len;
      if (slurp_beneath(tree_fd, places[i], COMPDB_MAX_BYTES, &text, &len, &e) < 0 || !text)
        continue;
      cJSON *db = cJSON_ParseWithLength(text, len);
      if (cJSON_IsArray(db))
        return db;
      cJSON_Delete(db);
    }
  return NULL;
}

/* Whether ABS_DIR, a directory in the sandbox, is there: inside WS_ROOT, it is looked up in
 * TREE_FD; outside, on the host.  */
static bool
sandbox_dir_exists(const char *abs_dir, const char *ws_root, int tree_fd)
{
  struct stat st;
  struct tars_error e;
  size_t wl = strlen(ws_root);
  while (wl > 1 && ws_root[wl - 1] == '/')
    wl--;
  if (strncmp(abs_dir, ws_root, wl) == 0 && (abs_dir[wl] == '/' || abs_dir[wl] == '\0'))
    {
      const char *rel = abs_dir + wl;
      while (*rel == '/')
        rel++;
      if (*rel == '\0')
        return true;
      return tars_lstat_beneath(tree_fd, rel, &st, &e) == 0 && S_ISDIR(st.st_mode);
    }
  return false;
}

static int
c_command(enum tars_syntax_lang lang, const char *abs_path, const char *ws_root, int tree_fd,
          const char *rel_path, struct strv *out, char *cwd, size_t cwd_size, bool *guessed)
{
  cleanup_cjson cJSON *db = load_compdb(tree_fd);
  struct compdb_match m;

  if (db && compdb_find(db, abs_path, rel_path, lang, &m))
    {
      cleanup_strvec struct strv v = {0};
      if (compdb_argv(m.entry, &m, abs_path, ws_root, lang, &v, cwd, cwd_size) == 0)
        {
          if (!sandbox_dir_exists(cwd, ws_root, tree_fd))
            snprintf(cwd, cwd_size, "%s", ws_root);
          *guessed = m.borrowed;
          *out = v;
          v = (struct strv){0};
          return 0;
        }
      strv_free(&v);
    }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", abs_path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  char *inc_dir, *inc_root;
  if (asprintf(&inc_dir, "-I%s", dir) < 0)
    return -1;
  if (asprintf(&inc_root, "-I%s/include", ws_root) < 0)
    {
      free(inc_dir);
      return -1;
    }
  if (strv_push(out, lang == TARS_LANG_CXX ? "c++" : "cc") < 0 ||
      strv_push(out, "-fsyntax-only") < 0 || strv_push_own(out, inc_dir) < 0 ||
      strv_push_own(out, inc_root) < 0 || strv_push(out, abs_path) < 0)
    return -1;
  snprintf(cwd, cwd_size, "%s", ws_root);
  *guessed = true;
  return 0;
}

/* The shell of a script: "bash" for a bash shebang, "sh" for an sh one, NULL for another
 * interpreter (zsh -n is not sh -n), or by extension when there is no shebang or no file.  */
static const char *
shell_of(int tree_fd, const char *rel_path)
{
  struct tars_error e;
  char line[256];
  ssize_t n = -1;
  if (rel_path && tars_path_problem(rel_path) == NULL)
    {
      cleanup_close int fd =
          tars_open_beneath(tree_fd, rel_path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, &e);
      struct stat st;
      if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, line, sizeof line - 1);
    }
  const char *ext_shell = rel_path && has_suffix(rel_path, ".bash") ? "bash" : "sh";
  if (n < 2 || line[0] != '#' || line[1] != '!')
    return ext_shell;
  line[n] = '\0';
  line[strcspn(line, "\n")] = '\0';
  char *p = line + 2;
  p += strspn(p, " \t");
  char *prog = p;
  p += strcspn(p, " \t");
  char *base = memrchr(prog, '/', (size_t)(p - prog));
  base = base ? base + 1 : prog;
  size_t bl = (size_t)(p - base);
  if (bl == 3 && strncmp(base, "env", 3) == 0)
    {
      /* "#!/usr/bin/env bash", "#!/usr/bin/env -S bash -e"  */
      for (;;)
        {
          p += strspn(p, " \t");
          if (*p != '-')
            break;
          p += strcspn(p, " \t");
        }
      base = p;
      bl = strcspn(p, " \t");
    }
  if (bl == 4 && strncmp(base, "bash", 4) == 0)
    return "bash";
  if ((bl == 2 && strncmp(base, "sh", 2) == 0) || (bl == 4 && strncmp(base, "dash", 4) == 0))
    return "sh";
  return NULL;
}

#define PY_AST "import ast,sys; ast.parse(open(sys.argv[1],'rb').read(), sys.argv[1])"
/* Any tag is accepted (CloudFormation's !Ref...), and every document of the stream is read: the
 * check is of the syntax.  A missing module leaves the file to the build.  */
#define PY_YAML                                                                                    \
  "import sys\n"                                                                                   \
  "try:\n"                                                                                         \
  "    import yaml\n"                                                                              \
  "except ImportError:\n"                                                                          \
  "    sys.exit(0)\n"                                                                              \
  "class L(yaml.SafeLoader):\n"                                                                    \
  "    pass\n"                                                                                     \
  "L.add_multi_constructor('', lambda l, s, n: None)\n"                                            \
  "with open(sys.argv[1], 'rb') as f:\n"                                                           \
  "    for _ in yaml.load_all(f, Loader=L):\n"                                                     \
  "        pass\n"
#define PY_TOML                                                                                    \
  "import sys\n"                                                                                   \
  "try:\n"                                                                                         \
  "    import tomllib\n"                                                                           \
  "except ImportError:\n"                                                                          \
  "    try:\n"                                                                                     \
  "        import tomli as tomllib\n"                                                              \
  "    except ImportError:\n"                                                                      \
  "        sys.exit(0)\n"                                                                          \
  "with open(sys.argv[1], 'rb') as f:\n"                                                           \
  "    tomllib.load(f)\n"

int
tars_syntax_command(enum tars_syntax_lang lang, const char *abs_path, const char *ws_root,
                    int tree_fd, const char *rel_path, char ***argv, char **cwd, bool *guessed,
                    struct tars_error *err)
{
  cleanup_strvec struct strv v = {0};
  char dir[PATH_MAX], found[PATH_MAX];
  bool g = false;

  *argv = NULL;
  *cwd = NULL;
  if (guessed)
    *guessed = false;
  if (abs_path == NULL || abs_path[0] != '/' || ws_root == NULL || ws_root[0] != '/')
    return tars_error_invalid(err, "syntax check: the paths must be absolute");
  snprintf(dir, sizeof dir, "%s", ws_root);

  int r = 0;
  switch (lang)
    {
    case TARS_LANG_NONE:
    case TARS_LANG_JSON:
      return 0;
    case TARS_LANG_C:
    case TARS_LANG_CXX:
      r = c_command(lang, abs_path, ws_root, tree_fd, rel_path ? rel_path : "", &v, dir, sizeof dir,
                    &g);
      break;
    case TARS_LANG_PYTHON:
      r = strv_push_all(&v, "python3", "-I", "-c", PY_AST, abs_path, NULL);
      break;
    case TARS_LANG_YAML:
      r = strv_push_all(&v, "python3", "-I", "-c", PY_YAML, abs_path, NULL);
      break;
    case TARS_LANG_TOML:
      r = strv_push_all(&v, "python3", "-I", "-c", PY_TOML, abs_path, NULL);
      break;
    case TARS_LANG_SHELL:
      {
        const char *sh = shell_of(tree_fd, rel_path);
        if (sh == NULL)
          return 0;
        r = strv_push_all(&v, sh, "-n", abs_path, NULL);
      }
      break;
    case TARS_LANG_GO:
      r = strv_push_all(&v, "gofmt", "-e", "-l", abs_path, NULL);
      break;
    case TARS_LANG_JS:
      r = strv_push_all(&v, "node", "--check", abs_path, NULL);
      break;
    default:
      return 0;
    }
  if (r < 0)
    return tars_error_set(err, ENOMEM, "syntax check of %s", abs_path);

  /* A checker that is not installed leaves the file to the build.  */
  const char *prog = v.v[0];
  if (prog[0] == '/' ? access(prog, X_OK) < 0
                     : strchr(prog, '/') == NULL &&
                           !find_program(prog, TARS_VCONFIG_SANDBOX_PATH, found, sizeof found))
    return 0;

  if ((*cwd = strdup(dir)) == NULL)
    return tars_error_set(err, ENOMEM, "syntax check of %s", abs_path);
  *argv = strv_steal(&v);
  if (guessed)
    *guessed = g;
  return 0;
}
