/* The scan of analyze.h: which files, which of them are skipped and why, and the markers in the
 * comments of the others.  The context (context.c) is filled in afterwards, in one ctags run.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/beneath.h"
#include "apply/git.h"
#include "plan/analyze.h"
#include "plan/context.h"
#include "plan/utf8.h"
#include "tars/cleanup.h"

static const char *const skip_names[] = {
    [TARS_SKIP_VENDORED] = "vendored",     [TARS_SKIP_GENERATED] = "generated",
    [TARS_SKIP_MINIFIED] = "minified",     [TARS_SKIP_BINARY] = "binary",
    [TARS_SKIP_SYMLINK] = "symlink",       [TARS_SKIP_SPECIAL] = "special",
    [TARS_SKIP_TOO_LARGE] = "too-large",   [TARS_SKIP_LANGUAGE] = "language",
    [TARS_SKIP_UNREADABLE] = "unreadable",
};

const char *
tars_skip_reason_name(enum tars_skip_reason r)
{
  return (unsigned)r < sizeof skip_names / sizeof skip_names[0] ? skip_names[r] : "?";
}

const char *
tars_context_name(enum tars_context c)
{
  return c == TARS_CONTEXT_FUNCTION ? "function" : c == TARS_CONTEXT_FILE ? "file" : "missing";
}

void
tars_finding_free(struct tars_finding *f)
{
  free(f->file);
  free(f->text);
  free(f->snippet);
  free(f->function);
  free(f->function_kind);
  free(f->context_note);
  memset(f, 0, sizeof *f);
}

void
tars_analysis_free(struct tars_analysis *a)
{
  if (a == NULL)
    return;
  for (size_t i = 0; i < a->n_findings; i++)
    tars_finding_free(&a->findings[i]);
  free(a->findings);
  for (size_t i = 0; i < a->n_skipped; i++)
    {
      free(a->skipped[i].path);
      free(a->skipped[i].note);
    }
  free(a->skipped);
  free(a->root);
  free(a->ctags_version);
  free(a->ctags_note);
  memset(a, 0, sizeof *a);
}

/* ----- markers ----- */

struct spans
{
  size_t (*v)[2];
  size_t n, cap;
  bool failed;
};

static void
collect_comment(void *arg, enum tars_span_kind kind, size_t start, size_t end)
{
  struct spans *s = arg;
  if (kind != TARS_SPAN_COMMENT || s->failed)
    return;
  if (s->n == s->cap)
    {
      size_t cap = s->cap ? s->cap * 2 : 64;
      void *v = realloc(s->v, cap * sizeof *s->v);
      if (v == NULL)
        {
          s->failed = true;
          return;
        }
      s->v = v;
      s->cap = cap;
    }
  s->v[s->n][0] = start;
  s->v[s->n][1] = end;
  s->n++;
}

static bool
word_byte(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

static bool
scheme_byte(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '.' || c == '-';
}

/* Whether K (in the comment A..B) is inside a URL: a scheme, "://", and what follows up to
 * whitespace or a quote or bracket.  */
static bool
in_url(const char *s, size_t a, size_t b, size_t k)
{
  /* The URL containing K starts at most at the beginning of its whitespace-delimited word.  */
  size_t w = k;
  while (w > a && !strchr(" \t\r\n\"'<>`()[]{}", s[w - 1]))
    w--;
  for (size_t p = w; p + 3 <= b && p < k; p++)
    if (s[p] == ':' && s[p + 1] == '/' && s[p + 2] == '/' && p > w && scheme_byte(s[p - 1]))
      return true;
  return false;
}

/* A copy of S's N bytes as one clean line: valid UTF-8, each control character a space, cut to
 * MAX bytes on a character boundary.  */
static char *
clean_line(const char *s, size_t n, size_t max)
{
  char *c = tars_utf8_clean(s, n);
  if (c == NULL)
    return NULL;
  for (char *p = c; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  size_t len = strlen(c);
  if (len > max)
    {
      len = max;
      while (len > 0 && ((unsigned char)c[len] & 0xc0) == 0x80)
        len--;
      c[len] = '\0';
    }
  return c;
}

static const struct
{
  const char *word;
  enum tars_marker marker;
} markers[] = {{"TODO", TARS_MARKER_TODO}, {"FIXME", TARS_MARKER_FIXME}, {"XXX", TARS_MARKER_XXX}};

int
tars_find_markers(const char *path, enum tars_lex_lang lang, const char *text, size_t len,
                  struct tars_finding **v, size_t *n, size_t *cap, struct tars_error *err)
{
  struct spans spans = {0};
  tars_lex(lang, text, len, collect_comment, &spans);
  if (spans.failed)
    {
      free(spans.v);
      return tars_error_set(err, ENOMEM, "analyze %s", path);
    }
  int r = 0;
  size_t line = 1, line_start = 0, pos = 0; /* the line of POS, counted forward */
  uint32_t last_line = 0;
  for (size_t c = 0; c < spans.n && r == 0; c++)
    {
      size_t a = spans.v[c][0], b = spans.v[c][1];
      for (size_t k = a; k < b; k++)
        {
          char ch0 = text[k];
          if (ch0 != 'T' && ch0 != 'F' && ch0 != 'X')
            continue;
          if (k > a && word_byte((unsigned char)text[k - 1]))
            continue;
          size_t m = 0, wl = 0;
          for (; m < sizeof markers / sizeof markers[0]; m++)
            {
              wl = strlen(markers[m].word);
              if (k + wl <= b && memcmp(text + k, markers[m].word, wl) == 0)
                break;
            }
          if (m == sizeof markers / sizeof markers[0])
            continue;
          if (k + wl < b && word_byte((unsigned char)text[k + wl]))
            continue;
          if (in_url(text, a, b, k))
            continue;
          for (; pos < k; pos++)
            if (text[pos] == '\n')
              line++, line_start = pos + 1;
          if (line == last_line)
            continue; /* one finding a line: the first marker */
          last_line = (uint32_t)line;

          size_t le = line_start;
          while (le < len && text[le] != '\n')
            le++;
          size_t t = k + wl, te = le < b ? le : b;
          while (t < te && (text[t] == ' ' || text[t] == '\t'))
            t++;
          if (t < te && text[t] == '(')
            {
              /* TODO(alice): the owner is not the text.  */
              size_t close = t;
              while (close < te && text[close] != ')' && close - t < 64)
                close++;
              if (close < te && text[close] == ')')
                t = close + 1;
            }
          while (t < te && (text[t] == ' ' || text[t] == '\t'))
            t++;
          if (t < te && (text[t] == ':' || text[t] == '-' || text[t] == '!'))
            t++;
          while (t < te && (text[t] == ' ' || text[t] == '\t'))
            t++;
          /* In a comment that nests, the rest of the line may close an inner one: the text is what
           * the marker's own comment says.  */
          for (size_t x = t; x + 1 < te; x++)
            if (text[x] == '*' && text[x + 1] == '/')
              {
                te = x;
                break;
              }
          while (te > t && (text[te - 1] == ' ' || text[te - 1] == '\t' || text[te - 1] == '\r'))
            te--;
          size_t se = le;
          while (se > line_start && (text[se - 1] == '\r' || text[se - 1] == ' '))
            se--;

          if (*n == *cap)
            {
              size_t nc = *cap ? *cap * 2 : 16;
              struct tars_finding *nv = realloc(*v, nc * sizeof *nv);
              if (nv == NULL)
                {
                  r = tars_error_set(err, ENOMEM, "analyze %s", path);
                  break;
                }
              *v = nv;
              *cap = nc;
            }
          struct tars_finding *f = &(*v)[*n];
          memset(f, 0, sizeof *f);
          f->file = strdup(path);
          f->line = (uint32_t)line;
          f->column = (uint32_t)tars_utf8_count(text + line_start, k - line_start) + 1;
          f->marker = markers[m].marker;
          f->text = clean_line(text + t, te - t, TARS_ANALYZE_MAX_TEXT);
          f->snippet = clean_line(text + line_start, se - line_start, TARS_ANALYZE_MAX_TEXT);
          f->lang = lang;
          f->context = TARS_CONTEXT_MISSING;
          if (f->file == NULL || f->text == NULL || f->snippet == NULL)
            {
              tars_finding_free(f);
              r = tars_error_set(err, ENOMEM, "analyze %s", path);
              break;
            }
          (*n)++;
        }
    }
  free(spans.v);
  return r;
}

/* ----- which files ----- */

static bool
vendored_dir(const char *name, size_t n)
{
  static const char *const dirs[] = {
      "vendor",        "vendors",  "third_party",  "third-party",
      "thirdparty",    "3rdparty", "node_modules", "bower_components",
      "jspm_packages", "Pods",     "Carthage",     "site-packages",
      ".venv",         NULL};
  for (const char *const *d = dirs; *d; d++)
    if (strlen(*d) == n && memcmp(*d, name, n) == 0)
      return true;
  return false;
}

/* 1: never looked at (.git, .tars); 2: vendored; 0: scanned.  */
static int
path_class(const char *path)
{
  bool vendored = false;
  for (const char *p = path;;)
    {
      const char *slash = strchr(p, '/');
      size_t n = slash ? (size_t)(slash - p) : strlen(p);
      if ((n == 4 && memcmp(p, ".git", 4) == 0) || (n == 5 && memcmp(p, ".tars", 5) == 0))
        return 1;
      if (slash && vendored_dir(p, n))
        vendored = true;
      if (slash == NULL)
        return vendored ? 2 : 0;
      p = slash + 1;
    }
}

struct paths
{
  char **v;
  size_t n, cap;
};

static int
paths_push(struct paths *p, char *path, struct tars_error *err)
{
  if (path == NULL)
    return tars_error_set(err, ENOMEM, "list the files");
  if (p->n >= TARS_ANALYZE_MAX_FILES)
    {
      free(path);
      return tars_error_invalid(err, "more than %d files: too many to analyze",
                                TARS_ANALYZE_MAX_FILES);
    }
  if (p->n == p->cap)
    {
      size_t cap = p->cap ? p->cap * 2 : 256;
      char **v = realloc(p->v, cap * sizeof *v);
      if (v == NULL)
        {
          free(path);
          return tars_error_set(err, ENOMEM, "list the files");
        }
      p->v = v;
      p->cap = cap;
    }
  p->v[p->n++] = path;
  return 0;
}

static void
paths_free(struct paths *p)
{
  for (size_t i = 0; i < p->n; i++)
    free(p->v[i]);
  free(p->v);
}

/* Every file beneath DFD (PREFIX is its path), without following symlinks; .git and .tars are
 * not entered.  Symlinks and special files are listed too: the scan says why it skips them.  */
static int
walk(int dfd, const char *prefix, int depth, struct paths *out, struct tars_error *err)
{
  if (depth > 128)
    return tars_error_invalid(err, "%s: directories nested more than 128 deep", prefix);
  int fd = dup(dfd);
  if (fd < 0)
    return tars_error_set(err, errno, "list %s", *prefix ? prefix : ".");
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return tars_error_set(err, errno, "list %s", *prefix ? prefix : ".");
    }
  for (struct dirent *e; (errno = 0, e = readdir(d)) != NULL;)
    {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      cleanup_free char *path = NULL;
      if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", e->d_name) < 0)
        return tars_error_set(err, ENOMEM, "list %s", prefix);
      struct stat st;
      if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          return tars_error_set(err, errno, "stat %s", path);
        }
      if (S_ISDIR(st.st_mode))
        {
          if (strcmp(e->d_name, ".git") == 0 || strcmp(e->d_name, ".tars") == 0)
            continue;
          cleanup_close int sub =
              openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            return tars_error_set(err, errno, "open %s", path);
          if (walk(sub, path, depth + 1, out, err) < 0)
            return -1;
          continue;
        }
      if (paths_push(out, steal_pointer(&path), err) < 0)
        return -1;
    }
  if (errno != 0)
    return tars_error_set(err, errno, "list %s", *prefix ? prefix : ".");
  return 0;
}

static int
cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
add_skip(struct tars_analysis *a, size_t *cap, const char *path, enum tars_skip_reason r,
         const char *note, struct tars_error *err)
{
  if (a->n_skipped == *cap)
    {
      size_t nc = *cap ? *cap * 2 : 32;
      struct tars_skipped *v = realloc(a->skipped, nc * sizeof *v);
      if (v == NULL)
        return tars_error_set(err, ENOMEM, "analyze");
      a->skipped = v;
      *cap = nc;
    }
  struct tars_skipped *s = &a->skipped[a->n_skipped];
  s->path = strdup(path);
  s->reason = r;
  s->note = note ? strdup(note) : NULL;
  if (s->path == NULL || (note && s->note == NULL))
    {
      free(s->path);
      free(s->note);
      return tars_error_set(err, ENOMEM, "analyze");
    }
  a->n_skipped++;
  return 0;
}

/* ----- what a file's content says ----- */

static bool
is_binary(const char *text, size_t len)
{
  return memchr(text, '\0', len < 8000 ? len : 8000) != NULL;
}

static bool
is_generated(const char *text, size_t len)
{
  static const char *const phrases[] = {"@generated",
                                        "do not edit",
                                        "auto-generated",
                                        "autogenerated",
                                        "automatically generated",
                                        "generated by",
                                        "code generated",
                                        NULL};
  size_t end = 0, lines = 0;
  while (end < len && end < 2048 && lines < 5)
    if (text[end++] == '\n')
      lines++;
  for (const char *const *p = phrases; *p; p++)
    {
      size_t k = strlen(*p);
      for (size_t i = 0; i + k <= end; i++)
        if (strncasecmp(text + i, *p, k) == 0)
          return true;
    }
  return false;
}

static bool
is_minified(const char *path, enum tars_lex_lang lang, const char *text, size_t len)
{
  if (lang != TARS_LEX_JS && lang != TARS_LEX_TS && lang != TARS_LEX_CSS && lang != TARS_LEX_HTML)
    return false;
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  if (strstr(base, ".min.") || strstr(base, "-min."))
    return true;
  size_t run = 0, end = len < 65536 ? len : 65536;
  for (size_t i = 0; i < end; i++)
    if (text[i] == '\n')
      run = 0;
    else if (++run > 2000)
      return true;
  return false;
}

/* ----- the scan ----- */

static int
read_all(int fd, size_t size, char **out, size_t *len)
{
  char *buf = malloc(size + 1);
  if (buf == NULL)
    return -1;
  size_t n = 0;
  while (n < size)
    {
      ssize_t r = read(fd, buf + n, size - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int e = errno;
          free(buf);
          errno = e;
          return -1;
        }
      if (r == 0)
        break;
      n += (size_t)r;
    }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

static int
scan_file(struct tars_analysis *a, int root_fd, const char *path, size_t *skip_cap,
          size_t *find_cap, struct tars_error *err)
{
  int cls = path_class(path);
  if (cls == 1)
    return 0;
  if (cls == 2)
    return add_skip(a, skip_cap, path, TARS_SKIP_VENDORED, NULL, err);
  struct stat st;
  struct tars_error e = {0};
  if (tars_lstat_beneath(root_fd, path, &st, &e) < 0)
    {
      if (e.code == ENOENT)
        return 0; /* gone since it was listed */
      if (e.code == ELOOP)
        return add_skip(a, skip_cap, path, TARS_SKIP_SYMLINK, NULL, err);
      return add_skip(a, skip_cap, path, TARS_SKIP_UNREADABLE, e.msg, err);
    }
  if (S_ISLNK(st.st_mode))
    return add_skip(a, skip_cap, path, TARS_SKIP_SYMLINK, NULL, err);
  if (S_ISDIR(st.st_mode))
    return 0; /* a nested repository git lists as a directory */
  if (!S_ISREG(st.st_mode))
    return add_skip(a, skip_cap, path, TARS_SKIP_SPECIAL, NULL, err);
  if ((uint64_t)st.st_size > TARS_ANALYZE_MAX_FILE)
    return add_skip(a, skip_cap, path, TARS_SKIP_TOO_LARGE, NULL, err);
  cleanup_close int fd = tars_open_beneath(root_fd, path, O_RDONLY, 0, &e);
  if (fd < 0)
    {
      if (e.code == ENOENT)
        return 0;
      return add_skip(a, skip_cap, path, e.code == ELOOP ? TARS_SKIP_SYMLINK : TARS_SKIP_UNREADABLE,
                      e.code == ELOOP ? NULL : e.msg, err);
    }
  struct stat fst;
  if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode))
    return add_skip(a, skip_cap, path, TARS_SKIP_SPECIAL, NULL, err);
  if ((uint64_t)fst.st_size > TARS_ANALYZE_MAX_FILE)
    return add_skip(a, skip_cap, path, TARS_SKIP_TOO_LARGE, NULL, err);
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (read_all(fd, (size_t)fst.st_size, &text, &len) < 0)
    {
      char msg[300];
      snprintf(msg, sizeof msg, "read %s: %s", path, strerror(errno));
      return add_skip(a, skip_cap, path, TARS_SKIP_UNREADABLE, msg, err);
    }
  if (is_binary(text, len))
    return add_skip(a, skip_cap, path, TARS_SKIP_BINARY, NULL, err);
  enum tars_lex_lang lang = tars_lang_detect(path, text, len);
  if (lang == TARS_LEX_UNKNOWN)
    return add_skip(a, skip_cap, path, TARS_SKIP_LANGUAGE, NULL, err);
  if (is_generated(text, len))
    return add_skip(a, skip_cap, path, TARS_SKIP_GENERATED, NULL, err);
  if (is_minified(path, lang, text, len))
    return add_skip(a, skip_cap, path, TARS_SKIP_MINIFIED, NULL, err);
  a->files++;
  if (a->n_findings >= TARS_ANALYZE_MAX_FINDINGS)
    {
      /* Count what would have been kept, keep nothing more.  */
      struct tars_finding *v = NULL;
      size_t n = 0, cap = 0;
      int r = tars_find_markers(path, lang, text, len, &v, &n, &cap, err);
      for (size_t i = 0; i < n; i++)
        tars_finding_free(&v[i]);
      free(v);
      a->dropped += n;
      return r;
    }
  return tars_find_markers(path, lang, text, len, &a->findings, &a->n_findings, find_cap, err);
}

int
tars_analyze(const char *root, const struct tars_analyze_options *opts, struct tars_analysis *out,
             struct tars_error *err)
{
  static const struct tars_analyze_options defaults = {0};
  const struct tars_analyze_options *o = opts ? opts : &defaults;
  memset(out, 0, sizeof *out);
  cleanup_free char *abs = realpath(root, NULL);
  if (abs == NULL && (errno == ENOENT || errno == ENOTDIR))
    return tars_error_invalid(err, "analyze %s: no such directory", root);
  if (abs == NULL)
    return tars_error_set(err, errno, "analyze %s", root);
  cleanup_close int root_fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0 && errno == ENOTDIR)
    return tars_error_invalid(err, "analyze %s: not a directory", root);
  if (root_fd < 0)
    return tars_error_set(err, errno, "analyze %s", abs);

  struct paths paths = {0};
  int is_git = tars_git_is_repo(abs, err);
  if (is_git < 0)
    return -1;
  if (is_git)
    {
      char **list;
      size_t n;
      if (tars_git_list_files(abs, &list, &n, err) < 0)
        return tars_error_prefix(err, "analyze %s", abs);
      paths.v = list;
      paths.n = paths.cap = n;
    }
  else if (walk(root_fd, "", 0, &paths, err) < 0)
    {
      paths_free(&paths);
      return tars_error_prefix(err, "analyze %s", abs);
    }
  if (paths.n > 0)
    qsort(paths.v, paths.n, sizeof *paths.v, cmp_str);

  out->root = steal_pointer(&abs);
  out->git = is_git > 0;
  size_t skip_cap = 0, find_cap = 0;
  int r = 0;
  for (size_t i = 0; i < paths.n && r == 0; i++)
    r = scan_file(out, root_fd, paths.v[i], &skip_cap, &find_cap, err);
  paths_free(&paths);
  if (r == 0 && !o->no_context)
    r = tars_context_run(out, root_fd, o->ctags, err);
  else if (r == 0)
    {
      out->ctags_note = strdup("ctags was not run (--no-context)");
      tars_context_missing(out->findings, out->n_findings, "ctags was not run (--no-context)");
    }
  if (r < 0)
    tars_analysis_free(out);
  return r;
}
