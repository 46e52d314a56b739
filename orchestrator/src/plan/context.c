/* Enclosing functions from universal-ctags' JSON tags (see context.h).  ctags gives a
 * function's first line always and its last line for some languages only; for the others the
 * last line is where the braces opened on the first line close (the lexer tells braces in code
 * from braces in strings and comments), or where Lua's and CMake's block keywords balance.  */
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
#include "plan/context.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"
#include "validate/vconfig.h"

#define CTAGS_LIST ".tars-analyze-files"
#define CTAGS_MAX_OUTPUT (64u << 20)

struct tag
{
  char *name, *kind;
  uint32_t line, end; /* END 0: ctags did not say */
  bool end_done;      /* END was looked for (and may still be 0) */
};

struct file_tags
{
  char *path;
  bool parsed; /* ctags read it (its "file" tag) */
  struct tag *tags;
  size_t n, cap;
};

static void
file_tags_free(struct file_tags *f, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free(f[i].path);
      for (size_t k = 0; k < f[i].n; k++)
        {
          free(f[i].tags[k].name);
          free(f[i].tags[k].kind);
        }
      free(f[i].tags);
    }
  free(f);
}

static bool
function_kind(const char *kind, const char *language)
{
  static const char *const kinds[] = {"function",   "method",          "func",        "procedure",
                                      "subroutine", "singletonMethod", "constructor", "destructor",
                                      "generator",  "getter",          "setter",      NULL};
  for (const char *const *k = kinds; *k; k++)
    if (strcmp(*k, kind) == 0)
      return true;
  /* Python's methods are "member"s; CMake's macros are functions in all but name.  */
  return (strcmp(kind, "member") == 0 && language && strcmp(language, "Python") == 0) ||
         (strcmp(kind, "macro") == 0 && language && strcmp(language, "CMake") == 0);
}

static int
cmp_file_tags(const void *a, const void *b)
{
  return strcmp(((const struct file_tags *)a)->path, ((const struct file_tags *)b)->path);
}

/* Parse ctags' output into per-file tag lists (sorted by path).  Lines that are not tags are
 * ignored: ctags' output is the sandbox's, and only what checks out is believed.  */
static struct file_tags *
parse_tags(const char *json, size_t len, size_t *n_out)
{
  struct file_tags *files = NULL;
  size_t n = 0, cap = 0;
  const char *p = json, *end = json + len;
  while (p < end)
    {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
      cleanup_cjson cJSON *t = ll ? cJSON_ParseWithLength(p, ll) : NULL;
      p += ll + (nl ? 1 : 0);
      const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "_type");
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
      const cJSON *path = cJSON_GetObjectItemCaseSensitive(t, "path");
      const cJSON *kind = cJSON_GetObjectItemCaseSensitive(t, "kind");
      const cJSON *line = cJSON_GetObjectItemCaseSensitive(t, "line");
      const cJSON *lend = cJSON_GetObjectItemCaseSensitive(t, "end");
      const cJSON *lang = cJSON_GetObjectItemCaseSensitive(t, "language");
      if (!cJSON_IsString(type) || strcmp(type->valuestring, "tag") != 0 || !cJSON_IsString(name) ||
          !cJSON_IsString(path) || !cJSON_IsString(kind) || !cJSON_IsNumber(line) ||
          line->valuedouble < 1 || line->valuedouble > UINT32_MAX)
        continue;
      bool is_file = strcmp(kind->valuestring, "file") == 0;
      if (!is_file &&
          !function_kind(kind->valuestring, cJSON_IsString(lang) ? lang->valuestring : NULL))
        continue;
      /* The same file's tags come together (--sort=no): look back first.  */
      struct file_tags *f = NULL;
      for (size_t i = n; i-- > 0 && f == NULL;)
        if (strcmp(files[i].path, path->valuestring) == 0)
          f = &files[i];
      if (f == NULL)
        {
          if (n == cap)
            {
              size_t nc = cap ? cap * 2 : 16;
              struct file_tags *v = realloc(files, nc * sizeof *v);
              if (v == NULL)
                break;
              files = v;
              cap = nc;
            }
          f = &files[n];
          memset(f, 0, sizeof *f);
          if ((f->path = strdup(path->valuestring)) == NULL)
            break;
          n++;
        }
      if (is_file)
        {
          f->parsed = true;
          continue;
        }
      if (f->n == f->cap)
        {
          size_t nc = f->cap ? f->cap * 2 : 16;
          struct tag *v = realloc(f->tags, nc * sizeof *v);
          if (v == NULL)
            break;
          f->tags = v;
          f->cap = nc;
        }
      struct tag *g = &f->tags[f->n];
      memset(g, 0, sizeof *g);
      g->name = strdup(name->valuestring);
      g->kind = strdup(kind->valuestring);
      if (g->name == NULL || g->kind == NULL)
        {
          free(g->name);
          free(g->kind);
          break;
        }
      g->line = (uint32_t)line->valuedouble;
      if (cJSON_IsNumber(lend) && lend->valuedouble >= line->valuedouble &&
          lend->valuedouble <= UINT32_MAX)
        g->end = (uint32_t)lend->valuedouble, g->end_done = true;
      f->n++;
    }
  if (n > 1)
    qsort(files, n, sizeof *files, cmp_file_tags);
  *n_out = n;
  return files;
}

/* ----- ends ctags does not give ----- */

struct text_spans
{
  size_t (*v)[2];
  size_t n, cap;
  bool failed;
};

static void
collect_all(void *arg, enum tars_span_kind kind, size_t start, size_t end)
{
  struct text_spans *s = arg;
  (void)kind;
  if (s->failed)
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
  /* A comment's span is its text: widen it by the delimiters it cannot be missing anyway.  */
  s->v[s->n][0] = start;
  s->v[s->n][1] = end;
  s->n++;
}

/* One file's text as the fallbacks need it: the spans to skip and where lines start.  */
struct source
{
  const char *text;
  size_t len;
  enum tars_lex_lang lang;
  struct text_spans spans;
  size_t *lines; /* offset of each line's start; lines[0] is line 1 */
  size_t n_lines;
};

static void
source_free(struct source *s)
{
  free(s->spans.v);
  free(s->lines);
  memset(s, 0, sizeof *s);
}

static bool
source_load(struct source *s, const char *text, size_t len, enum tars_lex_lang lang)
{
  memset(s, 0, sizeof *s);
  s->text = text;
  s->len = len;
  s->lang = lang;
  tars_lex(lang, text, len, collect_all, &s->spans);
  size_t n = 1;
  for (size_t i = 0; i < len; i++)
    n += text[i] == '\n';
  s->lines = malloc(n * sizeof *s->lines);
  if (s->lines == NULL || s->spans.failed)
    {
      source_free(s);
      return false;
    }
  s->lines[0] = 0;
  s->n_lines = 1;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '\n')
      s->lines[s->n_lines++] = i + 1;
  return true;
}

static uint32_t
line_of(const struct source *s, size_t off)
{
  size_t lo = 0, hi = s->n_lines;
  while (hi - lo > 1)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (s->lines[mid] <= off)
        lo = mid;
      else
        hi = mid;
    }
  return (uint32_t)(lo + 1);
}

/* Walk the code of S from OFF: STEP sees each byte outside its strings and comments' texts, until
 * it returns false.  (A comment's delimiters are walked as code; they hold no brace and no
 * keyword.)  */
typedef bool (*code_step)(void *arg, const char *text, size_t i, size_t len);

static void
walk_code(const struct source *s, size_t off, code_step step, void *arg)
{
  size_t sp = 0;
  while (sp < s->spans.n && s->spans.v[sp][1] <= off)
    sp++;
  for (size_t i = off; i < s->len;)
    {
      if (sp < s->spans.n && i >= s->spans.v[sp][0])
        {
          if (i < s->spans.v[sp][1])
            i = s->spans.v[sp][1];
          sp++;
          continue;
        }
      if (!step(arg, s->text, i, s->len))
        return;
      i++;
    }
}

struct brace_walk
{
  size_t depth, found_at; /* FOUND_AT: the closing brace's offset, or SIZE_MAX */
  bool opened;
  size_t limit; /* no '{' past this offset: the tag is no braced function */
};

static bool
brace_step(void *arg, const char *text, size_t i, size_t len)
{
  struct brace_walk *b = arg;
  (void)len;
  char c = text[i];
  if (!b->opened)
    {
      if (i > b->limit || c == ';')
        return false;
      if (c == '{')
        {
          b->opened = true;
          b->depth = 1;
        }
      return true;
    }
  if (c == '{')
    b->depth++;
  else if (c == '}' && --b->depth == 0)
    {
      b->found_at = i;
      return false;
    }
  return true;
}

struct keyword_walk
{
  const struct source *s;
  bool cmake;
  long depth;
  bool opened;
  size_t found_at, prev_end;
};

static bool
kw_is(const char *w, size_t n, const char *k, bool ci)
{
  return strlen(k) == n && (ci ? strncasecmp(w, k, n) == 0 : memcmp(w, k, n) == 0);
}

static bool
keyword_step(void *arg, const char *text, size_t i, size_t len)
{
  struct keyword_walk *k = arg;
  bool ident =
      (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') || text[i] == '_';
  if (!ident || (i > 0 && i < k->prev_end))
    return true;
  if (i > 0 &&
      ((text[i - 1] >= 'a' && text[i - 1] <= 'z') || (text[i - 1] >= 'A' && text[i - 1] <= 'Z') ||
       text[i - 1] == '_' || (text[i - 1] >= '0' && text[i - 1] <= '9') || text[i - 1] == '.' ||
       text[i - 1] == ':'))
    return true;
  size_t e = i;
  while (e < len && ((text[e] >= 'a' && text[e] <= 'z') || (text[e] >= 'A' && text[e] <= 'Z') ||
                     text[e] == '_' || (text[e] >= '0' && text[e] <= '9')))
    e++;
  k->prev_end = e;
  const char *w = text + i;
  size_t n = e - i;
  int delta = 0;
  if (k->cmake)
    {
      if (kw_is(w, n, "function", true) || kw_is(w, n, "macro", true))
        delta = 1;
      else if (kw_is(w, n, "endfunction", true) || kw_is(w, n, "endmacro", true))
        delta = -1;
    }
  else if (kw_is(w, n, "function", false) || kw_is(w, n, "do", false) || kw_is(w, n, "if", false) ||
           kw_is(w, n, "repeat", false))
    delta = 1;
  else if (kw_is(w, n, "end", false) || kw_is(w, n, "until", false))
    delta = -1;
  if (!k->opened)
    {
      /* The function's own keyword opens the count.  */
      if (delta == 1 && (kw_is(w, n, "function", !k->cmake ? false : true) ||
                         (k->cmake && kw_is(w, n, "macro", true))))
        {
          k->opened = true;
          k->depth = 1;
        }
      return true;
    }
  k->depth += delta;
  if (k->depth == 0)
    {
      k->found_at = i;
      return false;
    }
  return true;
}

static bool
braces_lang(enum tars_lex_lang l)
{
  return strcmp(tars_lang_info(l)->family, "c") == 0 || l == TARS_LEX_SHELL || l == TARS_LEX_PERL;
}

/* The last line of the function at TAG, when ctags gave none.  */
static uint32_t
fallback_end(const struct source *s, const struct tag *tag)
{
  if (tag->line == 0 || tag->line > s->n_lines)
    return 0;
  size_t off = s->lines[tag->line - 1];
  if (braces_lang(s->lang))
    {
      /* The body's brace opens on the tag's line or within the next few (a signature split over
       * lines).  */
      size_t limit_line = tag->line + 5 < s->n_lines ? tag->line + 5 : s->n_lines;
      struct brace_walk b = {.found_at = SIZE_MAX,
                             .limit = limit_line < s->n_lines ? s->lines[limit_line] : s->len};
      walk_code(s, off, brace_step, &b);
      return b.found_at == SIZE_MAX ? 0 : line_of(s, b.found_at);
    }
  if (s->lang == TARS_LEX_LUA || s->lang == TARS_LEX_CMAKE)
    {
      struct keyword_walk k = {.s = s, .cmake = s->lang == TARS_LEX_CMAKE, .found_at = SIZE_MAX};
      walk_code(s, off, keyword_step, &k);
      return k.found_at == SIZE_MAX ? 0 : line_of(s, k.found_at);
    }
  return 0;
}

/* ----- applying tags to findings ----- */

static void
set_missing(struct tars_finding *f, const char *fmt, const char *arg)
{
  free(f->context_note);
  f->context_note = NULL;
  f->context = TARS_CONTEXT_MISSING;
  if (asprintf(&f->context_note, fmt, arg) < 0)
    f->context_note = NULL;
}

void
tars_context_missing(struct tars_finding *findings, size_t n, const char *note)
{
  for (size_t i = 0; i < n; i++)
    if (tars_lang_info(findings[i].lang)->fn_ranges == TARS_FN_NONE)
      {
        findings[i].context = TARS_CONTEXT_FILE;
        free(findings[i].context_note);
        findings[i].context_note = NULL;
      }
    else
      set_missing(&findings[i], "%s", note);
}

static void
apply_one(struct tars_finding *f, struct file_tags *ft, struct source *src, bool have_src)
{
  const struct tars_lang_info *info = tars_lang_info(f->lang);
  free(f->function);
  free(f->function_kind);
  f->function = f->function_kind = NULL;
  f->function_start = f->function_end = 0;
  if (info->fn_ranges == TARS_FN_NONE)
    {
      f->context = TARS_CONTEXT_FILE;
      free(f->context_note);
      f->context_note = NULL;
      return;
    }
  if (ft == NULL || !ft->parsed)
    {
      set_missing(f, "ctags did not read %s as a language it knows", f->file);
      return;
    }
  if (info->fn_ranges == TARS_FN_UNKNOWN)
    {
      set_missing(f, "ctags does not give the extent of %s functions", info->name);
      return;
    }
  const struct tag *best = NULL;
  const struct tag *open_ended = NULL;
  for (size_t i = 0; i < ft->n; i++)
    {
      struct tag *t = &ft->tags[i];
      if (t->line > f->line)
        continue;
      if (!t->end_done)
        {
          t->end = have_src ? fallback_end(src, t) : 0;
          t->end_done = true;
        }
      if (t->end == 0)
        {
          if (open_ended == NULL || t->line > open_ended->line)
            open_ended = t;
          continue;
        }
      if (f->line > t->end)
        continue;
      if (best == NULL || t->line > best->line || (t->line == best->line && t->end < best->end))
        best = t;
    }
  if (best && !(open_ended && open_ended->line > best->line))
    {
      f->context = TARS_CONTEXT_FUNCTION;
      f->function = strdup(best->name);
      f->function_kind = strdup(best->kind);
      f->function_start = best->line;
      f->function_end = best->end;
      free(f->context_note);
      f->context_note = NULL;
      if (f->function == NULL || f->function_kind == NULL)
        set_missing(f, "%s", "out of memory");
      return;
    }
  if (open_ended)
    {
      char note[400];
      snprintf(note, sizeof note, "%s: no end line for the %s \"%s\" at line %u", info->name,
               open_ended->kind, open_ended->name, open_ended->line);
      set_missing(f, "%s", note);
      return;
    }
  f->context = TARS_CONTEXT_FILE;
  free(f->context_note);
  f->context_note = NULL;
}

void
tars_context_apply(struct tars_finding *findings, size_t n, const char *ctags_json, size_t json_len,
                   tars_read_fn read, void *arg)
{
  size_t n_files = 0;
  struct file_tags *files = parse_tags(ctags_json, json_len, &n_files);
  for (size_t i = 0; i < n;)
    {
      size_t j = i;
      while (j < n && strcmp(findings[j].file, findings[i].file) == 0)
        j++;
      struct file_tags key = {.path = findings[i].file};
      struct file_tags *ft =
          n_files ? bsearch(&key, files, n_files, sizeof *files, cmp_file_tags) : NULL;
      struct source src;
      bool have_src = false;
      if (ft && read)
        {
          size_t len = 0;
          const char *text = read(arg, findings[i].file, &len);
          have_src = text && source_load(&src, text, len, findings[i].lang);
        }
      for (size_t k = i; k < j; k++)
        apply_one(&findings[k], ft, &src, have_src);
      if (have_src)
        source_free(&src);
      i = j;
    }
  file_tags_free(files, n_files);
}

/* ----- running ctags ----- */

struct reader
{
  int root_fd;
  char *text;
};

static const char *
read_file(void *arg, const char *path, size_t *len)
{
  struct reader *r = arg;
  free(r->text);
  r->text = NULL;
  struct tars_error err;
  cleanup_close int fd = tars_open_beneath(r->root_fd, path, O_RDONLY, 0, &err);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size > TARS_ANALYZE_MAX_FILE)
    return NULL;
  char *buf = malloc((size_t)st.st_size + 1);
  size_t n = 0;
  while (buf && n < (size_t)st.st_size)
    {
      ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        break;
      n += (size_t)k;
    }
  if (buf)
    buf[n] = '\0';
  r->text = buf;
  *len = n;
  return buf;
}

/* The ctags to run: NAME when it holds a '/', else the first executable NAME on the sandbox's
 * PATH (the sandbox sees the host's root).  */
static char *
find_program(const char *name)
{
  if (strchr(name, '/'))
    return access(name, X_OK) == 0 ? strdup(name) : NULL;
  char path[] = TARS_VCONFIG_SANDBOX_PATH;
  char *save = NULL;
  for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
    {
      char *p = NULL;
      if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
      if (access(p, X_OK) == 0)
        return p;
      free(p);
    }
  return NULL;
}

static int
write_list(const char *dir, const struct tars_analysis *a, struct tars_error *err)
{
  cleanup_free char *p = NULL;
  if (asprintf(&p, "%s/%s", dir, CTAGS_LIST) < 0)
    return tars_error_set(err, ENOMEM, "analyze: the file list for ctags");
  cleanup_fclose FILE *f = fopen(p, "we");
  if (f == NULL)
    return tars_error_set(err, errno, "analyze: create %s", p);
  for (size_t i = 0; i < a->n_findings; i++)
    {
      const char *file = a->findings[i].file;
      if (i > 0 && strcmp(file, a->findings[i - 1].file) == 0)
        continue;
      /* ctags reads one name a line: a name with a newline cannot be given (its findings get
       * no context, as ctags says nothing about it).  */
      if (strchr(file, '\n') || file[0] == '-')
        continue;
      fprintf(f, "%s\n", file);
    }
  if (fflush(f) != 0 || ferror(f))
    return tars_error_set(err, errno, "analyze: write %s", p);
  return 0;
}

static void
note(struct tars_analysis *a, const char *fmt, const char *arg)
{
  free(a->ctags_note);
  if (asprintf(&a->ctags_note, fmt, arg) < 0)
    a->ctags_note = NULL;
  tars_context_missing(a->findings, a->n_findings, a->ctags_note ? a->ctags_note : "ctags failed");
}

int
tars_context_run(struct tars_analysis *a, int root_fd, const char *ctags, struct tars_error *err)
{
  if (a->n_findings == 0)
    return 0;
  /* Languages without functions need no ctags.  */
  bool needed = false;
  for (size_t i = 0; i < a->n_findings && !needed; i++)
    needed = tars_lang_info(a->findings[i].lang)->fn_ranges != TARS_FN_NONE;
  if (!needed)
    {
      tars_context_apply(a->findings, a->n_findings, "", 0, NULL, NULL);
      return 0;
    }
  cleanup_free char *prog = find_program(ctags ? ctags : "ctags");
  if (prog == NULL)
    {
      note(a,
           "%s is not installed (Debian: apt-get install universal-ctags): no function is "
           "known for any finding",
           ctags ? ctags : "universal-ctags");
      return 0;
    }

  const char *tmp = getenv("TMPDIR");
  cleanup_free char *dir = NULL;
  if (asprintf(&dir, "%s/tars-ctags-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp") < 0)
    return tars_error_set(err, ENOMEM, "analyze");
  if (mkdtemp(dir) == NULL)
    return tars_error_set(err, errno, "analyze: create %s", dir);
  int r = write_list(dir, a, err);
  if (r < 0)
    goto out;

  struct tars_spec spec;
  tars_spec_init(&spec);
  struct tars_result res = {0};
  struct tars_error serr = {0};
  char *list = NULL;
  static const char script[] =
      "\"$0\" --version | sed -n 1p && exec \"$0\" --options=NONE --sort=no "
      "--output-format=json --fields=+nel --extras=+f -f - -L \"$1\"";
  if (asprintf(&list, "%s/%s", a->root, CTAGS_LIST) < 0)
    list = NULL;
  spec.argv = calloc(6, sizeof *spec.argv);
  if (spec.argv)
    {
      spec.argv[0] = strdup("/bin/sh");
      spec.argv[1] = strdup("-c");
      spec.argv[2] = strdup(script);
      spec.argv[3] = strdup(prog);
      spec.argv[4] = list;
      list = NULL;
    }
  spec.workspace = strdup(a->root);
  spec.cwd = strdup(a->root);
  spec.layers[0] = strdup(dir);
  spec.n_layers = 1;
  spec.capture_output = true;
  spec.capture_max = CTAGS_MAX_OUTPUT;
  spec.timeout_ms = 300000;
  free(list);
  if (!spec.argv || !spec.argv[0] || !spec.argv[1] || !spec.argv[2] || !spec.argv[3] ||
      !spec.argv[4] || !spec.workspace || !spec.cwd || !spec.layers[0])
    {
      tars_spec_free(&spec);
      r = tars_error_set(err, ENOMEM, "analyze");
      goto out;
    }
  if (tars_sandbox_run(&spec, &res, &serr) < 0)
    note(a, "ctags could not run in a sandbox: %s", serr.msg);
  else if (res.status != 0 || res.out == NULL)
    {
      char first[300] = "";
      if (res.err)
        {
          /* Its first line that is not the notice --options=NONE prints.  */
          for (const char *p = res.err; *p && !first[0];)
            {
              const char *nl = strchr(p, '\n');
              size_t n = nl ? (size_t)(nl - p) : strlen(p);
              if (n && !memmem(p, n, "No options will be read", 23))
                snprintf(first, sizeof first, ": %.*s", (int)(n < 250 ? n : 250), p);
              p += n + (nl ? 1 : 0);
            }
        }
      char why[400];
      snprintf(why, sizeof why, "ctags failed (exit status %d)%s", res.status, first);
      note(a, "%s", why);
    }
  else
    {
      const char *nl = strchr(res.out, '\n');
      size_t vl = nl ? (size_t)(nl - res.out) : strlen(res.out);
      if (vl < 15 || strncmp(res.out, "Universal Ctags", 15) != 0)
        note(a, "%s is not universal-ctags, whose JSON output the analyzer reads", prog);
      else
        {
          a->ctags_version = strndup(res.out, vl);
          struct reader rd = {.root_fd = root_fd};
          const char *json = res.out + vl + (nl ? 1 : 0);
          tars_context_apply(a->findings, a->n_findings, json,
                             res.out_len - (size_t)(json - res.out), read_file, &rd);
          free(rd.text);
          if (res.out_dropped)
            {
              /* Tags were lost: what depends on them cannot be trusted.  */
              note(a, "%s", "ctags wrote more than the 64 MiB the analyzer reads");
            }
        }
    }
  tars_result_free(&res);
  tars_spec_free(&spec);
out:;
  cleanup_free char *lp = NULL;
  if (asprintf(&lp, "%s/%s", dir, CTAGS_LIST) >= 0)
    unlink(lp);
  rmdir(dir);
  return r;
}
