/* The validator (see validator.h).  */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "apply/beneath.h"
#include "apply/policy.h"
#include "validate/results.h"
#include "validate/snapshot.h"
#include "store/store.h"
#include "tars/changes.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"
#include "validate/validator.h"
#include "validate/vconfig.h"

#define SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RESULTS_DIR ".tars-results"
#define WORK_DIR "validate"
#define OUTPUT_LINES 60
#define OUTPUT_BYTES 8192
#define CAPTURE_MAX (16u << 20)

static uint64_t
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What one sandboxed command did.  */
struct run
{
  int status;
  bool timed_out;
  bool failed_setup; /* the sandbox refused what the command left (a fifo, a device...) */
  char *output;      /* stdout then stderr, untrimmed */
  size_t output_len;
  uint64_t ms;
  char note[TARS_ERROR_MSG_MAX];
};

static void
run_free(struct run *r)
{
  free(r->output);
  memset(r, 0, sizeof *r);
}

struct vctx
{
  struct tars_store *store;
  const struct tars_validate_opts *o;
  struct tars_vconfig cfg;
  struct tars_snapshot snap;
  int snap_fd;
  int work_fd; /* .tars/validate/<id> */
  char id[64];
  char *work_path;
  char *results_env;
  bool cgroup_noted;
  cJSON *notes; /* the report's "notes" */
};

static void
progress(struct vctx *v, const char *what)
{
  if (v->o->progress)
    v->o->progress(what, v->o->progress_arg);
}

/* Run ARGV in a sandbox over the snapshot and LAYERS (names under the work directory, lowest
 * first), with stage K's limits; CHANGES_OUT (a name under the work directory, or NULL) receives
 * what the command wrote in the workspace.  */
static int
run_sandboxed(struct vctx *v, enum tars_stage_kind k, char **argv, const char *cwd,
              const char *const *layers, size_t n_layers, const char *changes_out, struct run *out,
              struct tars_error *err)
{
  memset(out, 0, sizeof *out);
  struct tars_spec spec;
  tars_spec_init(&spec);
  spec.owned = false;
  char *envp[] = {
      "PATH=" SANDBOX_PATH,
      "HOME=/tmp",
      "TMPDIR=/tmp",
      "LANG=C.UTF-8",
      "CI=true",
      "PYTHONDONTWRITEBYTECODE=1",
      "GOCACHE=/tmp/go-cache",
      "GOPATH=/tmp/go",
      "GOPROXY=off",
      "GOTOOLCHAIN=local",
      "GOTELEMETRY=off",
      "CARGO_HOME=/tmp/cargo",
      "npm_config_cache=/tmp/npm",
      "DOTNET_CLI_TELEMETRY_OPTOUT=1",
      v->results_env,
      NULL,
  };
  char layer_paths[TARS_MAX_LAYERS][PATH_MAX];
  cleanup_free char *changes_path = NULL;
  spec.argv = argv;
  spec.envp = envp;
  spec.cwd = (char *)(cwd ? cwd : v->snap.path);
  spec.workspace = v->snap.path;
  for (size_t i = 0; i < n_layers && i < TARS_MAX_LAYERS; i++)
    {
      snprintf(layer_paths[i], sizeof layer_paths[i], "%s/%s", v->work_path, layers[i]);
      spec.layers[i] = layer_paths[i];
    }
  spec.n_layers = n_layers;
  if (changes_out)
    {
      if (asprintf(&changes_path, "%s/%s", v->work_path, changes_out) < 0)
        return tars_error_set(err, ENOMEM, "validate");
      spec.changes_out = changes_path;
    }
  spec.timeout_ms = v->cfg.limits[k].timeout_ms;
  spec.memory_bytes = v->cfg.limits[k].memory_bytes;
  spec.pids = v->cfg.limits[k].pids;
  spec.cpu_seconds = UINT64_MAX; /* the timeout bounds it; builds use every core */
  spec.nofile = 4096;
  spec.scratch_bytes = 4ull << 30;
  spec.tmp_bytes = 1ull << 30;
  spec.capture_output = true;
  spec.capture_max = CAPTURE_MAX;

  struct tars_result res = {0};
  uint64_t t0 = now_ms();
  int r = tars_sandbox_run(&spec, &res, err);
  out->ms = now_ms() - t0;
  if (r < 0)
    {
      tars_result_free(&res);
      if (err->kind == TARS_ERR_SYSTEM)
        return -1;
      /* The command ran but left what a changeset may not hold.  */
      out->failed_setup = true;
      out->status = -1;
      snprintf(out->note, sizeof out->note, "%s", err->msg);
      tars_error_clear(err);
      out->output = strdup("");
      return out->output ? 0 : tars_error_set(err, ENOMEM, "validate");
    }
  out->status = res.status;
  out->timed_out = res.timed_out;
  if (res.exec_failed)
    snprintf(out->note, sizeof out->note, "%s", res.exec_error);
  if (!res.cgroup_applied && !v->cgroup_noted && res.cgroup_note[0])
    {
      /* Said once per validation, in the report and by the CLI: limits that do not apply must
       * never go unmentioned.  */
      v->cgroup_noted = true;
      cJSON_AddItemToArray(v->notes, cJSON_CreateString(res.cgroup_note));
    }
  size_t n = res.out_len + res.err_len + 2;
  out->output = malloc(n);
  if (out->output == NULL)
    {
      tars_result_free(&res);
      return tars_error_set(err, ENOMEM, "validate");
    }
  out->output_len = 0;
  if (res.out_len)
    {
      memcpy(out->output, res.out, res.out_len);
      out->output_len = res.out_len;
      if (out->output[out->output_len - 1] != '\n')
        out->output[out->output_len++] = '\n';
    }
  if (res.err_len)
    {
      memcpy(out->output + out->output_len, res.err, res.err_len);
      out->output_len += res.err_len;
    }
  out->output[out->output_len] = '\0';
  tars_result_free(&res);
  return 0;
}

static int
run_shell(struct vctx *v, enum tars_stage_kind k, const char *cmd, const char *const *layers,
          size_t n_layers, const char *changes_out, struct run *out, struct tars_error *err)
{
  char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
  return run_sandboxed(v, k, argv, NULL, layers, n_layers, changes_out, out, err);
}

/* What a report shows of an output: its end, cleaned (results.h), with the snapshot's path
 * taken out of file names ("src/a.c:3: error", not ".../.tars/snapshots/<id>/src/a.c:3").  */
static char *
trimmed(const struct vctx *v, const char *s, size_t len)
{
  char *t = tars_trim_output(s ? s : "", s ? len : 0, OUTPUT_LINES, OUTPUT_BYTES);
  if (t == NULL)
    return strdup("");
  const char *prefix = v->snap.path;
  size_t plen = prefix ? strlen(prefix) : 0;
  if (plen == 0)
    return t;
  char *w = t;
  for (const char *r = t; *r;)
    {
      if (strncmp(r, prefix, plen) == 0 && r[plen] == '/')
        r += plen + 1;
      else
        *w++ = *r++;
    }
  *w = '\0';
  return t;
}

/* The first line of TEXT that holds "error" (else the first line), for a one-line reason.  */
static int
first_error_line(const char *text, const char **start)
{
  const char *l = text;
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      if (memmem(p, n, "error", 5) || memmem(p, n, "Error", 5))
        {
          l = p;
          break;
        }
    }
  *start = l;
  const char *nl = strchr(l, '\n');
  return nl ? (int)(nl - l) : (int)strlen(l);
}

static cJSON *
add_stage(cJSON *report, const char *name)
{
  cJSON *stages = cJSON_GetObjectItemCaseSensitive(report, "stages");
  cJSON *st = cJSON_CreateObject();
  cJSON_AddStringToObject(st, "name", name);
  cJSON_AddStringToObject(st, "status", "skipped");
  cJSON_AddItemToArray(stages, st);
  return st;
}

static void
set_status(cJSON *stage, const char *status, uint64_t ms)
{
  cJSON_ReplaceItemInObjectCaseSensitive(stage, "status", cJSON_CreateString(status));
  cJSON_DeleteItemFromObjectCaseSensitive(stage, "duration_ms");
  cJSON_AddNumberToObject(stage, "duration_ms", (double)ms);
}

__attribute__((format(printf, 2, 3))) static void
add_reason(cJSON *report, const char *fmt, ...)
{
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(report, "reasons"),
                       cJSON_CreateString(buf));
}

static cJSON *
add_check(cJSON *checks, const char *gate, const char *status)
{
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "gate", gate);
  cJSON_AddStringToObject(c, "status", status);
  cJSON_AddItemToArray(checks, c);
  return c;
}

/* ---- line counting for the diff-size gate ---- */

struct line_set
{
  uint64_t *h;
  size_t n, cap;
};

static uint64_t
fnv(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static int
cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Hashes of the lines of the file DFD/NAME (at most 8 MiB read), sorted.  */
static void
read_lines(int dfd, const char *name, struct line_set *ls)
{
  memset(ls, 0, sizeof *ls);
  if (dfd < 0 || name == NULL)
    return;
  struct tars_error ignored;
  cleanup_close int fd = tars_open_beneath(dfd, name, O_RDONLY, 0, &ignored);
  if (fd < 0)
    return;
  size_t cap = 8u << 20;
  cleanup_free char *buf = malloc(cap);
  if (buf == NULL)
    return;
  size_t len = 0;
  ssize_t r;
  while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
    len += (size_t)r;
  for (size_t i = 0; i < len;)
    {
      size_t j = i;
      while (j < len && buf[j] != '\n')
        j++;
      if (ls->n == ls->cap)
        {
          size_t c = ls->cap ? ls->cap * 2 : 256;
          uint64_t *h = realloc(ls->h, c * sizeof *h);
          if (h == NULL)
            break;
          ls->h = h;
          ls->cap = c;
        }
      ls->h[ls->n++] = fnv(buf + i, j - i);
      i = j + 1;
    }
  if (ls->n > 1)
    qsort(ls->h, ls->n, sizeof *ls->h, cmp_u64);
}

/* Lines added plus lines removed, counting lines as a multiset: a close upper bound of what a
 * diff shows, without a diff's cost.  */
static uint64_t
changed_lines(const struct line_set *a, const struct line_set *b)
{
  size_t i = 0, j = 0;
  uint64_t d = 0;
  while (i < a->n && j < b->n)
    {
      if (a->h[i] == b->h[j])
        i++, j++;
      else if (a->h[i] < b->h[j])
        i++, d++;
      else
        j++, d++;
    }
  return d + (a->n - i) + (b->n - j);
}

/* ---- the gates that need nothing run ---- */

static int
pre_gates(struct vctx *v, const struct tars_changeset *cs, int cs_dfd, cJSON *report,
          struct tars_error *err)
{
  uint64_t t0 = now_ms();
  cJSON *stage = add_stage(report, "gates");
  cJSON *checks = cJSON_AddArrayToObject(stage, "checks");
  bool failed = false;

  /* The apply policy: what apply would refuse, validation refuses too.  */
  struct tars_policy pol;
  tars_policy_default(&pol);
  if (tars_policy_load(&pol, tars_store_repo_fd(v->store), err) < 0)
    {
      tars_policy_free(&pol);
      return -1;
    }
  pol.allow_failed_command = v->o->allow_failed_command;
  cJSON *reasons = cJSON_CreateArray();
  struct tars_error perr = {0};
  int pr = tars_policy_check(&pol, cs, cs_dfd, v->snap_fd, reasons, &perr);
  tars_policy_free(&pol);
  if (pr < 0 && perr.kind == TARS_ERR_SYSTEM)
    {
      cJSON_Delete(reasons);
      *err = perr;
      return -1;
    }
  cJSON *c = add_check(checks, "policy", pr < 0 ? "failed" : "passed");
  cJSON_AddItemToObject(c, "detail", reasons);
  if (pr < 0)
    {
      failed = true;
      cJSON *first;
      cJSON_ArrayForEach(first, reasons)
      {
        add_reason(report, "gates: refused by the apply policy: %s: %s",
                   cJSON_GetStringValue(cJSON_GetObjectItem(first, "path")),
                   cJSON_GetStringValue(cJSON_GetObjectItem(first, "reason")));
      }
    }

  cJSON *conflicts = cJSON_CreateArray();
  struct tars_error cerr = {0};
  int cr = tars_conflicts_check(cs, v->snap_fd, conflicts, &cerr);
  if (cr < 0 && cerr.kind == TARS_ERR_SYSTEM)
    {
      cJSON_Delete(conflicts);
      *err = cerr;
      return -1;
    }
  c = add_check(checks, "conflicts", cr < 0 ? "failed" : "passed");
  cJSON_AddItemToObject(c, "detail", conflicts);
  if (cr < 0)
    {
      failed = true;
      add_reason(report, "gates: %s", cerr.msg);
    }

  cJSON *forbidden = cJSON_CreateArray();
  cJSON *tests = cJSON_CreateArray();
  uint64_t files = 0, lines = 0;
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *e = &cs->entries[i];
      const char *pat = tars_vconfig_forbidden(&v->cfg, e->path);
      if (pat)
        {
          cJSON *f = cJSON_CreateObject();
          cJSON_AddStringToObject(f, "path", e->path);
          cJSON_AddStringToObject(f, "pattern", pat);
          cJSON_AddItemToArray(forbidden, f);
          add_reason(report, "gates: forbidden path %s (pattern %s)", e->path, pat);
        }
      if (tars_vconfig_is_test_file(&v->cfg, e->path))
        cJSON_AddItemToArray(tests, cJSON_CreateString(e->path));
      if (e->type == TARS_CHANGE_DIR)
        continue;
      files++;
      if (e->type != TARS_CHANGE_FILE || e->op == TARS_CHANGE_CHMOD)
        continue;
      struct line_set before = {0}, after = {0};
      if (e->op == TARS_CHANGE_MODIFY || e->op == TARS_CHANGE_DELETE)
        read_lines(v->snap_fd, e->path, &before);
      if (e->op != TARS_CHANGE_DELETE)
        {
          char obj[80];
          snprintf(obj, sizeof obj, "objects/%s", e->sha256);
          read_lines(cs_dfd, obj, &after);
        }
      lines += changed_lines(&before, &after);
      free(before.h);
      free(after.h);
    }
  c = add_check(checks, "forbidden_paths", cJSON_GetArraySize(forbidden) ? "failed" : "passed");
  cJSON_AddItemToObject(c, "detail", forbidden);
  failed |= cJSON_GetArraySize(forbidden) > 0;

  bool too_big = (v->cfg.max_files && files > v->cfg.max_files) ||
                 (v->cfg.max_lines && lines > v->cfg.max_lines);
  c = add_check(checks, "diff_size", too_big ? "failed" : "passed");
  cJSON *d = cJSON_AddObjectToObject(c, "detail");
  cJSON_AddNumberToObject(d, "files", (double)files);
  cJSON_AddNumberToObject(d, "lines", (double)lines);
  cJSON_AddNumberToObject(d, "max_files", (double)v->cfg.max_files);
  cJSON_AddNumberToObject(d, "max_lines", (double)v->cfg.max_lines);
  if (too_big)
    {
      failed = true;
      add_reason(report,
                 "gates: the change is too big: %llu files and %llu changed lines (limits: %llu "
                 "files, %llu lines)",
                 (unsigned long long)files, (unsigned long long)lines,
                 (unsigned long long)v->cfg.max_files, (unsigned long long)v->cfg.max_lines);
    }
  c = add_check(checks, "test_files", "passed");
  cJSON_AddItemToObject(c, "detail", tests);
  set_status(stage, failed ? "failed" : "passed", now_ms() - t0);
  return failed ? 1 : 0;
}

/* ---- syntax ---- */

/* For a check run with guessed flags: does the output hold an error other than a missing
 * header?  */
static bool
real_c_error(const char *out)
{
  for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    {
      const char *nl = strchr(l, '\n');
      size_t n = nl ? (size_t)(nl - l) : strlen(l);
      const char *e = memmem(l, n, "error:", 6);
      if (e == NULL)
        continue;
      if (memmem(l, n, "No such file or directory", 25) && memmem(l, n, "fatal error:", 12))
        continue;
      return true;
    }
  return false;
}

/* The tree the syntax checks run on: the changeset as a layer, plus the compile database of the
 * baseline's build where it had one, so that C and C++ files are checked with their own flags.
 * It is also what tars_syntax_command reads (the database, a new script's first line).  */
static int
syntax_tree(struct vctx *v, const struct tars_changeset *cs, int cs_dfd, const cJSON *base,
            struct tars_error *err)
{
  if (mkdirat(v->work_fd, "syntax", 0755) < 0)
    return tars_error_set(err, errno, "validate: create the syntax layer");
  cleanup_close int fd = openat(v->work_fd, "syntax", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "validate: open the syntax layer");
  if (tars_layer_from_changeset(cs, cs_dfd, v->snap_fd, fd, 0, err) < 0)
    return -1;
  const cJSON *db = cJSON_GetObjectItem(cJSON_GetObjectItem(base, "build"), "compile_db");
  const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(db, "path"));
  const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(db, "text"));
  if (path == NULL || text == NULL)
    return 0;
  struct tars_error ignored;
  if (tars_mkdir_parents_beneath(fd, path, &ignored) < 0)
    return 0;
  cleanup_close int out = tars_open_beneath(fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &ignored);
  if (out < 0)
    return 0;
  size_t len = strlen(text);
  if (write(out, text, len) != (ssize_t)len)
    return tars_error_set(err, errno, "validate: write the compile database");
  return 0;
}

static int
syntax_stage(struct vctx *v, const struct tars_changeset *cs, int cs_dfd, cJSON *report,
             struct tars_error *err)
{
  uint64_t t0 = now_ms();
  cJSON *stage = add_stage(report, "syntax");
  cJSON *files = cJSON_AddArrayToObject(stage, "files");
  bool failed = false, timed_out = false;
  const char *layers[] = {"syntax"};
  cleanup_close int tree_fd = openat(v->work_fd, "syntax", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (tree_fd < 0)
    return tars_error_set(err, errno, "validate: open the syntax layer");
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *e = &cs->entries[i];
      if (e->type != TARS_CHANGE_FILE ||
          (e->op != TARS_CHANGE_CREATE && e->op != TARS_CHANGE_MODIFY))
        continue;
      enum tars_syntax_lang lang = tars_syntax_lang_of(e->path);
      if (lang == TARS_LANG_NONE)
        continue;
      cJSON *f = cJSON_CreateObject();
      cJSON_AddStringToObject(f, "path", e->path);
      cJSON_AddStringToObject(f, "language", tars_syntax_lang_name(lang));
      cJSON_AddItemToArray(files, f);
      if (lang == TARS_LANG_JSON)
        {
          char obj[80];
          snprintf(obj, sizeof obj, "objects/%s", e->sha256);
          cleanup_close int fd = tars_open_beneath(cs_dfd, obj, O_RDONLY, 0, err);
          if (fd < 0)
            return -1;
          size_t cap = e->size + 1;
          cleanup_free char *text = malloc(cap);
          size_t len = 0;
          ssize_t r;
          while (text && len < e->size && (r = read(fd, text + len, cap - 1 - len)) > 0)
            len += (size_t)r;
          if (text == NULL)
            return tars_error_set(err, ENOMEM, "validate");
          text[len] = '\0';
          const char *end = NULL;
          cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, true);
          if (j)
            {
              cJSON_Delete(j);
              cJSON_AddStringToObject(f, "status", "passed");
            }
          else
            {
              size_t off = end ? (size_t)(end - text) : 0;
              unsigned line = 1;
              for (size_t k = 0; k < off && k < len; k++)
                line += text[k] == '\n';
              char msg[128];
              snprintf(msg, sizeof msg, "invalid JSON at line %u", line);
              cJSON_AddStringToObject(f, "status", "failed");
              cJSON_AddStringToObject(f, "output", msg);
              add_reason(report, "syntax: %s: %s", e->path, msg);
              failed = true;
            }
          continue;
        }
      cleanup_free char *abs = NULL;
      if (asprintf(&abs, "%s/%s", v->snap.path, e->path) < 0)
        return tars_error_set(err, ENOMEM, "validate");
      cleanup_strv char **argv = NULL;
      cleanup_free char *cwd = NULL;
      bool guessed = false;
      if (tars_syntax_command(lang, abs, v->snap.path, tree_fd, e->path, &argv, &cwd, &guessed,
                              err) < 0)
        return -1;
      if (argv == NULL)
        {
          cJSON_AddStringToObject(f, "status", "skipped");
          cJSON_AddStringToObject(f, "output", "no checker installed: left to the build");
          continue;
        }
      progress(v, "syntax");
      struct run run;
      if (run_sandboxed(v, TARS_STAGE_SYNTAX, argv, cwd, layers, 1, NULL, &run, err) < 0)
        return -1;
      cleanup_free char *out = trimmed(v, run.output, run.output_len);
      const char *status = "passed";
      if (run.timed_out)
        {
          status = "timeout";
          timed_out = true;
          add_reason(report, "syntax: %s: the check timed out after %llu s", e->path,
                     (unsigned long long)(v->cfg.limits[TARS_STAGE_SYNTAX].timeout_ms / 1000));
        }
      else if (run.status != 0 && (!guessed || real_c_error(run.output)))
        {
          status = "failed";
          failed = true;
          const char *first;
          int n = first_error_line(out, &first);
          add_reason(report, "syntax: %s: %.*s", e->path, n, first);
        }
      else if (run.status != 0)
        status = "skipped"; /* guessed flags, only missing headers: left to the build */
      cJSON_AddStringToObject(f, "status", status);
      cJSON_AddStringToObject(f, "output", out);
      if (guessed)
        cJSON_AddBoolToObject(f, "guessed_flags", true);
      run_free(&run);
    }
  set_status(stage,
             timed_out                   ? "timeout"
             : failed                    ? "failed"
             : cJSON_GetArraySize(files) ? "passed"
                                         : "skipped",
             now_ms() - t0);
  return failed || timed_out ? 1 : 0;
}

/* ---- build and tests (shared by the change and the baseline) ---- */

/* The file DFD/NAME of SIZE bytes (at most 64 MiB), NUL-terminated, or NULL.  */
static char *
read_small(int dfd, const char *name, uint64_t size)
{
  if (size > (64u << 20))
    return NULL;
  struct tars_error ignored;
  cleanup_close int fd = tars_open_beneath(dfd, name, O_RDONLY, 0, &ignored);
  if (fd < 0)
    return NULL;
  char *buf = malloc(size + 1);
  size_t len = 0;
  ssize_t k;
  while (buf && len < size && (k = read(fd, buf + len, size - len)) > 0)
    len += (size_t)k;
  if (buf)
    buf[len] = '\0';
  return buf;
}

struct outcome
{
  const char *status; /* passed, failed, timeout, skipped */
  int exit_status;
  uint64_t ms;
  char *output; /* trimmed */
  char note[TARS_ERROR_MSG_MAX];
  struct tars_warning *warnings;
  size_t n_warnings;
  struct tars_test_results results;
  char *compile_db_path, *compile_db; /* builds: compile_commands.json, when one was written */
};

static void
outcome_free(struct outcome *o)
{
  free(o->output);
  free(o->compile_db_path);
  free(o->compile_db);
  tars_warnings_free(o->warnings, o->n_warnings);
  tars_test_results_free(&o->results);
  memset(o, 0, sizeof *o);
}

/* Build: run the build command over the snapshot and LAYERS, and turn what it wrote into the
 * layer OUT_LAYER for the next stages.  */
static int
do_build(struct vctx *v, const char *const *layers, size_t n_layers, const char *out_layer,
         struct outcome *o, struct tars_error *err)
{
  memset(o, 0, sizeof *o);
  char cs_name[64];
  snprintf(cs_name, sizeof cs_name, "%s-cs", out_layer);
  if (mkdirat(v->work_fd, out_layer, 0755) < 0)
    return tars_error_set(err, errno, "validate: create %s", out_layer);
  if (v->cfg.build == NULL)
    {
      o->status = "skipped";
      return 0;
    }
  if (mkdirat(v->work_fd, cs_name, 0700) < 0)
    return tars_error_set(err, errno, "validate: create %s", cs_name);
  struct run run;
  if (run_shell(v, TARS_STAGE_BUILD, v->cfg.build, layers, n_layers, cs_name, &run, err) < 0)
    return -1;
  o->ms = run.ms;
  o->exit_status = run.status;
  o->output = trimmed(v, run.output, run.output_len);
  if (tars_warnings_parse(run.output, run.output_len, &o->warnings, &o->n_warnings, err) < 0)
    {
      run_free(&run);
      return -1;
    }
  /* Paths relative to the workspace: the snapshot's path means nothing to a reader.  */
  size_t plen = strlen(v->snap.path);
  for (size_t i = 0; i < o->n_warnings; i++)
    {
      char *f = o->warnings[i].file;
      if (strncmp(f, v->snap.path, plen) == 0 && f[plen] == '/')
        memmove(f, f + plen + 1, strlen(f + plen + 1) + 1);
    }
  snprintf(o->note, sizeof o->note, "%s", run.note);
  bool ok = !run.timed_out && !run.failed_setup && run.status == 0;
  o->status = run.timed_out ? "timeout" : ok ? "passed" : "failed";
  run_free(&run);
  if (!ok)
    return 0;
  /* What the build wrote becomes a layer.  */
  cleanup_close int cs_fd = openat(v->work_fd, cs_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int out_fd = openat(v->work_fd, out_layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cs_fd < 0 || out_fd < 0)
    return tars_error_set(err, errno, "validate: open the build's changes");
  struct tars_changeset cs = {0};
  if (tars_changeset_load(cs_fd, &cs, err) < 0)
    return tars_error_prefix(err, "validate: read what the build wrote");
  int r = tars_layer_from_changeset(&cs, cs_fd, v->snap_fd, out_fd, TARS_LAYER_MOVE_OBJECTS, err);
  /* The compile database the build wrote (the shallowest), for the syntax checks of changes.  */
  const struct tars_change *db = NULL;
  for (size_t i = 0; r == 0 && i < cs.n_entries; i++)
    {
      const struct tars_change *e = &cs.entries[i];
      const char *base = strrchr(e->path, '/');
      base = base ? base + 1 : e->path;
      if (e->type == TARS_CHANGE_FILE && e->op != TARS_CHANGE_DELETE &&
          e->op != TARS_CHANGE_CHMOD && strcmp(base, "compile_commands.json") == 0 &&
          e->size <= (16u << 20) && (db == NULL || strlen(e->path) < strlen(db->path)))
        db = e;
    }
  if (db)
    {
      o->compile_db_path = strdup(db->path);
      o->compile_db = read_small(out_fd, db->path, db->size); /* the object was moved there */
    }
  tars_changeset_free(&cs);
  return r;
}

/* Read the test results of a run: from the JUnit file captured in CS_NAME, go test -json on
 * stdout, or the runner's summary; when none can be read, the exit status stands for one test.  */
static int
read_results(struct vctx *v, const struct run *run, const char *cs_name,
             struct tars_test_results *r, struct tars_error *err)
{
  const char *fmt = v->cfg.results ? v->cfg.results : "";
  if (strncmp(fmt, "junit:", 6) == 0)
    {
      const char *want = fmt + 6;
      cleanup_close int cs_fd = openat(v->work_fd, cs_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      struct tars_changeset cs = {0};
      struct tars_error lerr = {0};
      if (cs_fd >= 0 && tars_changeset_load(cs_fd, &cs, &lerr) == 0)
        {
          for (size_t i = 0; i < cs.n_entries; i++)
            {
              const struct tars_change *e = &cs.entries[i];
              if (e->type != TARS_CHANGE_FILE || e->op == TARS_CHANGE_DELETE ||
                  e->op == TARS_CHANGE_CHMOD || strcmp(e->path, want) != 0)
                continue;
              char obj[80];
              snprintf(obj, sizeof obj, "objects/%s", e->sha256);
              cleanup_free char *xml = read_small(cs_fd, obj, e->size);
              struct tars_error perr = {0};
              if (xml && tars_results_parse_junit(xml, strlen(xml), r, &perr) < 0)
                {
                  char note[TARS_ERROR_MSG_MAX + 128];
                  snprintf(note, sizeof note, "test results: %s: %s; the exit status decides", want,
                           perr.msg);
                  cJSON_AddItemToArray(v->notes, cJSON_CreateString(note));
                }
              break;
            }
          tars_changeset_free(&cs);
        }
    }
  else if (strcmp(fmt, "go-json") == 0)
    {
      struct tars_error perr = {0};
      tars_results_parse_go_json(run->output, run->output_len, r, &perr);
    }
  else if (*fmt)
    {
      struct tars_error perr = {0};
      if (tars_results_parse_text(fmt, run->output, run->output_len, r, &perr) < 0 &&
          perr.kind != TARS_ERR_INVALID)
        {
          *err = perr;
          return -1;
        }
    }
  /* A failing command that reports no failed test is a failure all the same (a crash, a build
   * step of the test target, a runner that could not start).  */
  bool failed_run = run->status != 0 || run->failed_setup;
  if (!r->parsed || (failed_run && r->failed == 0))
    {
      struct tars_test_case *c = realloc(r->cases, (r->n_cases + 1) * sizeof *c);
      if (c == NULL)
        return tars_error_set(err, ENOMEM, "validate");
      r->cases = c;
      c = &r->cases[r->n_cases++];
      c->name = strdup("(test command)");
      c->status = failed_run ? TARS_TEST_FAILED : TARS_TEST_PASSED;
      c->output = failed_run ? trimmed(v, run->output, run->output_len) : NULL;
      if (failed_run)
        r->failed++;
      else
        r->passed++;
      if (!r->parsed)
        snprintf(r->source, sizeof r->source, "exit-status");
      r->parsed = true;
    }
  return 0;
}

static int
do_tests(struct vctx *v, const char *const *layers, size_t n_layers, const char *cs_name,
         struct outcome *o, struct tars_error *err)
{
  memset(o, 0, sizeof *o);
  if (v->cfg.test == NULL)
    {
      o->status = "skipped";
      return 0;
    }
  tars_remove_tree_at(v->work_fd, cs_name, err);
  if (mkdirat(v->work_fd, cs_name, 0700) < 0)
    return tars_error_set(err, errno, "validate: create %s", cs_name);
  struct run run;
  if (run_shell(v, TARS_STAGE_TEST, v->cfg.test, layers, n_layers, cs_name, &run, err) < 0)
    return -1;
  o->ms = run.ms;
  o->exit_status = run.status;
  o->output = trimmed(v, run.output, run.output_len);
  snprintf(o->note, sizeof o->note, "%s", run.note);
  if (run.timed_out)
    {
      o->status = "timeout";
      run_free(&run);
      return 0;
    }
  int r = read_results(v, &run, cs_name, &o->results, err);
  run_free(&run);
  if (r < 0)
    return -1;
  o->status = o->results.failed ? "failed" : "passed";
  return 0;
}

static cJSON *
counts_json(const struct tars_test_results *r)
{
  cJSON *c = cJSON_CreateObject();
  cJSON_AddNumberToObject(c, "passed", (double)r->passed);
  cJSON_AddNumberToObject(c, "failed", (double)r->failed);
  cJSON_AddNumberToObject(c, "skipped", (double)r->skipped);
  return c;
}

static cJSON *
warning_json(const struct tars_warning *w)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "file", w->file);
  cJSON_AddNumberToObject(o, "line", (double)w->line);
  cJSON_AddStringToObject(o, "message", w->message);
  if (w->flag)
    cJSON_AddStringToObject(o, "flag", w->flag);
  else
    cJSON_AddNullToObject(o, "flag");
  return o;
}

static cJSON *
warnings_json(const struct tars_warning *w, size_t n)
{
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(a, warning_json(&w[i]));
  return a;
}

/* ---- the baseline ---- */

static void
config_key(const struct tars_vconfig *c, char out[65])
{
  struct sha256_ctx h;
  sha256_init(&h);
  char buf[512];
  int n = snprintf(buf, sizeof buf, "tars 0.1.0 validate 1|%s|", tars_toolchain_name(c->toolchain));
  sha256_update(&h, (size_t)n, (const uint8_t *)buf);
  const char *parts[] = {c->build, c->test, c->lint, c->results};
  for (size_t i = 0; i < 4; i++)
    sha256_update(&h, parts[i] ? strlen(parts[i]) + 1 : 1,
                  (const uint8_t *)(parts[i] ? parts[i] : ""));
  for (int k = 0; k < TARS_STAGE_COUNT; k++)
    {
      n = snprintf(buf, sizeof buf, "|%llu,%llu,%llu", (unsigned long long)c->limits[k].timeout_ms,
                   (unsigned long long)c->limits[k].memory_bytes,
                   (unsigned long long)c->limits[k].pids);
      sha256_update(&h, (size_t)n, (const uint8_t *)buf);
    }
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_digest(&h, sizeof d, d);
  tars_hex_encode(d, sizeof d, out);
}

static cJSON *
cases_json(const struct tars_test_results *r)
{
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < r->n_cases; i++)
    {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", r->cases[i].name);
      cJSON_AddStringToObject(o, "status",
                              r->cases[i].status == TARS_TEST_PASSED   ? "passed"
                              : r->cases[i].status == TARS_TEST_FAILED ? "failed"
                                                                       : "skipped");
      cJSON_AddItemToArray(a, o);
    }
  return a;
}

/* Mark as flaky (in FLAKY, a JSON array) and as passed every failed case of R that passes in
 * AGAIN.  A runner's summary names only the failures (results.h): there, a test not named among
 * AGAIN's failures passed, when AGAIN was read from the runner (not from its exit status alone)
 * and ran no fewer tests.  */
static void
settle_flaky(struct tars_test_results *r, const struct tars_test_results *again, cJSON *flaky)
{
  bool summary = again->parsed && strcmp(again->source, "exit-status") != 0 &&
                 again->passed + again->failed >= r->passed + r->failed;
  for (size_t i = 0; i < r->n_cases; i++)
    {
      struct tars_test_case *c = &r->cases[i];
      if (c->status != TARS_TEST_FAILED)
        continue;
      const struct tars_test_case *a = tars_results_find(again, c->name);
      if ((a && a->status == TARS_TEST_PASSED) ||
          (a == NULL && summary && strcmp(c->name, "(test command)") != 0))
        {
          cJSON_AddItemToArray(flaky, cJSON_CreateString(c->name));
          c->status = TARS_TEST_PASSED;
          if (r->failed)
            r->failed--;
          r->passed++;
        }
    }
}

static int
run_lint(struct vctx *v, const char *const *layers, size_t n, struct outcome *o,
         struct tars_error *err)
{
  memset(o, 0, sizeof *o);
  if (v->cfg.lint == NULL)
    {
      o->status = "skipped";
      return 0;
    }
  struct run run;
  if (run_shell(v, TARS_STAGE_LINT, v->cfg.lint, layers, n, NULL, &run, err) < 0)
    return -1;
  o->ms = run.ms;
  o->exit_status = run.status;
  o->output = trimmed(v, run.output, run.output_len);
  o->status = run.timed_out ? "timeout" : run.status == 0 ? "passed" : "failed";
  run_free(&run);
  return 0;
}

/* The baseline's result as JSON: {"build": {...}, "test": {...}, "lint": {...}}.  */
static int
baseline(struct vctx *v, cJSON **out, bool *cached, struct tars_error *err)
{
  char key[65];
  config_key(&v->cfg, key);
  *cached = false;
  sqlite3_stmt *st = NULL;
  if (!v->o->no_cache)
    {
      if (tars_store_prepare(v->store,
                             "SELECT result FROM baselines WHERE snapshot = ? AND config = ?", &st,
                             err) < 0)
        return -1;
      sqlite3_bind_text(st, 1, v->snap.id, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW)
        {
          *out = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
          *cached = *out != NULL;
        }
      sqlite3_finalize(st);
      if (*cached)
        return 0;
    }
  cJSON *b = cJSON_CreateObject();
  const char *base_layers[] = {"base-build"};
  struct outcome bo, to, lo;
  progress(v, "baseline build");
  if (do_build(v, NULL, 0, "base-build", &bo, err) < 0)
    {
      cJSON_Delete(b);
      return -1;
    }
  cJSON *bj = cJSON_AddObjectToObject(b, "build");
  cJSON_AddStringToObject(bj, "status", bo.status);
  cJSON_AddNumberToObject(bj, "exit_status", bo.exit_status);
  cJSON_AddItemToObject(bj, "warnings", warnings_json(bo.warnings, bo.n_warnings));
  cJSON_AddStringToObject(bj, "output", bo.output ? bo.output : "");
  if (bo.compile_db && bo.compile_db_path)
    {
      cJSON *db = cJSON_AddObjectToObject(bj, "compile_db");
      cJSON_AddStringToObject(db, "path", bo.compile_db_path);
      cJSON_AddStringToObject(db, "text", bo.compile_db);
    }
  bool built = strcmp(bo.status, "failed") != 0 && strcmp(bo.status, "timeout") != 0;
  outcome_free(&bo);
  cJSON *tj = cJSON_AddObjectToObject(b, "test");
  if (built)
    {
      progress(v, "baseline tests");
      if (do_tests(v, base_layers, 1, "base-test-cs", &to, err) < 0)
        {
          cJSON_Delete(b);
          return -1;
        }
      cJSON *flaky = cJSON_CreateArray();
      if (strcmp(to.status, "failed") == 0)
        {
          /* Failures on the baseline are run again: those that flip are flaky, not the
           * baseline's state.  */
          struct outcome again;
          progress(v, "baseline tests, again");
          if (do_tests(v, base_layers, 1, "base-test-cs", &again, err) < 0)
            {
              cJSON_Delete(flaky);
              cJSON_Delete(b);
              outcome_free(&to);
              return -1;
            }
          settle_flaky(&to.results, &again.results, flaky);
          outcome_free(&again);
        }
      cJSON_AddStringToObject(tj, "status", to.status);
      cJSON_AddNumberToObject(tj, "exit_status", to.exit_status);
      cJSON_AddStringToObject(tj, "source", to.results.source);
      cJSON_AddItemToObject(tj, "counts", counts_json(&to.results));
      cJSON_AddItemToObject(tj, "cases", cases_json(&to.results));
      cJSON_AddItemToObject(tj, "flaky", flaky);
      outcome_free(&to);
      if (run_lint(v, base_layers, 1, &lo, err) < 0)
        {
          cJSON_Delete(b);
          return -1;
        }
      cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "lint"), "status", lo.status);
      outcome_free(&lo);
    }
  else
    cJSON_AddStringToObject(tj, "status", "skipped");
  tars_remove_tree_at(v->work_fd, "base-build", err);
  tars_remove_tree_at(v->work_fd, "base-build-cs", err);
  tars_remove_tree_at(v->work_fd, "base-test-cs", err);

  cleanup_free char *text = cJSON_PrintUnformatted(b);
  char now[40];
  tars_now_iso(now, sizeof now);
  if (text == NULL ||
      tars_store_prepare(v->store,
                         "INSERT OR REPLACE INTO baselines(snapshot, config, created_at, result) "
                         "VALUES (?, ?, ?, ?)",
                         &st, err) < 0)
    {
      cJSON_Delete(b);
      return text == NULL ? tars_error_set(err, ENOMEM, "validate") : -1;
    }
  sqlite3_bind_text(st, 1, v->snap.id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    {
      cJSON_Delete(b);
      return tars_error_set(err, 0, "validate: record the baseline: %s",
                            sqlite3_errmsg(tars_store_db(v->store)));
    }
  *out = b;
  return 0;
}

/* The baseline's status of test NAME: "passed", "failed", "skipped", or NULL (not run there).  */
static const char *
baseline_case(const cJSON *base, const char *name)
{
  const cJSON *cases = cJSON_GetObjectItem(cJSON_GetObjectItem(base, "test"), "cases");
  const cJSON *c;
  cJSON_ArrayForEach(c, cases)
  {
    const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
    if (n && strcmp(n, name) == 0)
      return cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));
  }
  return NULL;
}

static bool
in_string_array(const cJSON *a, const char *s)
{
  const cJSON *x;
  cJSON_ArrayForEach(x, a)
  {
    if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0)
      return true;
  }
  return false;
}

static bool
same_warning(const struct tars_warning *a, const cJSON *b)
{
  const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(b, "file"));
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(b, "message"));
  const char *flag = cJSON_GetStringValue(cJSON_GetObjectItem(b, "flag"));
  /* Line numbers move when code is added above: file, message and flag identify a warning.  */
  return file && msg && strcmp(a->file, file) == 0 && strcmp(a->message, msg) == 0 &&
         ((a->flag == NULL && flag == NULL) || (a->flag && flag && strcmp(a->flag, flag) == 0));
}

static uint64_t
json_u64(const cJSON *o, const char *k)
{
  const cJSON *n = cJSON_GetObjectItem(o, k);
  return cJSON_IsNumber(n) && n->valuedouble > 0 ? (uint64_t)n->valuedouble : 0;
}

/* ---- the whole run ---- */

/* Cached baselines of snapshots that were pruned are of no more use.  Best effort.  */
static void
forget_pruned_baselines(struct vctx *v)
{
  sqlite3_stmt *st;
  struct tars_error ignored;
  if (tars_store_prepare(v->store, "SELECT DISTINCT snapshot FROM baselines", &st, &ignored) < 0)
    return;
  cJSON *gone = cJSON_CreateArray();
  cleanup_close int snaps =
      openat(tars_store_state_fd(v->store), "snapshots", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  while (snaps >= 0 && sqlite3_step(st) == SQLITE_ROW)
    {
      const char *id = (const char *)sqlite3_column_text(st, 0);
      struct stat sb;
      if (id && strchr(id, '/') == NULL && fstatat(snaps, id, &sb, AT_SYMLINK_NOFOLLOW) < 0 &&
          errno == ENOENT)
        cJSON_AddItemToArray(gone, cJSON_CreateString(id));
    }
  sqlite3_finalize(st);
  const cJSON *id;
  cJSON_ArrayForEach(id, gone)
  {
    if (tars_store_prepare(v->store, "DELETE FROM baselines WHERE snapshot = ?", &st, &ignored) < 0)
      break;
    sqlite3_bind_text(st, 1, id->valuestring, -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_finalize(st);
  }
  cJSON_Delete(gone);
}

/* The stages a run did not reach, listed as skipped, so that every report names them all.  */
static void
add_skipped_stages(struct vctx *v, cJSON *report)
{
  const char *names[] = {"gates", "syntax", "build", "test", "lint"};
  const cJSON *stages = cJSON_GetObjectItem(report, "stages");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
      if (strcmp(names[i], "lint") == 0 && v->cfg.lint == NULL)
        continue;
      bool found = false;
      const cJSON *st;
      cJSON_ArrayForEach(st, stages)
      {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(st, "name"));
        if (n && strcmp(n, names[i]) == 0)
          found = true;
      }
      if (!found)
        add_stage(report, names[i]);
    }
}

static int
record(struct vctx *v, cJSON *report, bool accepted, struct tars_error *err)
{
  cleanup_free char *text = cJSON_PrintUnformatted(report);
  if (text == NULL)
    return tars_error_set(err, ENOMEM, "validate");
  char now[40];
  tars_now_iso(now, sizeof now);
  if (tars_store_begin(v->store, err) < 0)
    return -1;
  sqlite3_stmt *st;
  if (tars_store_prepare(v->store,
                         "INSERT INTO validations(id, execution_id, step_id, changeset, snapshot, "
                         "verdict, created_at, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err) < 0)
    {
      tars_store_rollback(v->store);
      return -1;
    }
  sqlite3_bind_text(st, 1, v->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, v->o->execution_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, v->o->step_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, v->o->changeset, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, v->snap.id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, accepted ? "accepted" : "rejected", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, text, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    {
      tars_error_set(err, 0, "validate: record the report: %s",
                     sqlite3_errmsg(tars_store_db(v->store)));
      tars_store_rollback(v->store);
      return -1;
    }
  cJSON *details = cJSON_CreateObject();
  cJSON_AddStringToObject(details, "validation", v->id);
  cJSON_AddStringToObject(details, "verdict", accepted ? "accepted" : "rejected");
  cJSON_AddStringToObject(details, "snapshot", v->snap.id);
  cJSON_AddItemToObject(details, "reasons",
                        cJSON_Duplicate(cJSON_GetObjectItem(report, "reasons"), true));
  const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(report, "reasons"), 0);
  struct tars_audit_event ev = {
      .event = "validate",
      .actor = v->o->actor,
      .execution_id = v->o->execution_id,
      .step_id = v->o->step_id,
      .reason = accepted ? "accepted" : cJSON_GetStringValue(first),
      .details = details,
  };
  int r = tars_audit_add(v->store, &ev, err);
  cJSON_Delete(details);
  if (r < 0)
    {
      tars_store_rollback(v->store);
      return -1;
    }
  return tars_store_commit(v->store, err);
}

static int
validate(struct vctx *v, int cs_dfd, cJSON *report, struct tars_error *err)
{
  struct tars_changeset cs cleanup_changeset = {0};
  if (tars_changeset_load(cs_dfd, &cs, err) < 0)
    return tars_error_prefix(err, "validate");

  /* Gates that need nothing run.  */
  int g = pre_gates(v, &cs, cs_dfd, report, err);
  if (g < 0)
    return -1;
  if (g > 0)
    return 0;

  /* The changeset as a layer, and the results directory the test commands write into.  */
  if (mkdirat(v->work_fd, "changes", 0755) < 0)
    return tars_error_set(err, errno, "validate: create the changeset's layer");
  cleanup_close int layer_fd = openat(v->work_fd, "changes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (layer_fd < 0 || tars_layer_from_changeset(&cs, cs_dfd, v->snap_fd, layer_fd, 0, err) < 0)
    return layer_fd < 0 ? tars_error_set(err, errno, "validate: open the layer") : -1;
  if (mkdirat(layer_fd, RESULTS_DIR, 0755) < 0 && errno != EEXIST)
    return tars_error_set(err, errno, "validate: create " RESULTS_DIR);

  /* The baseline first: its build's compile database serves the syntax checks.  */
  bool cached;
  cleanup_cjson cJSON *base = NULL;
  if (baseline(v, &base, &cached, err) < 0)
    return -1;
  cJSON_AddBoolToObject(report, "baseline_cached", cached);

  if (syntax_tree(v, &cs, cs_dfd, base, err) < 0)
    return -1;
  int sr = syntax_stage(v, &cs, cs_dfd, report, err);
  if (sr != 0)
    return sr < 0 ? -1 : 0;
  const cJSON *bbuild = cJSON_GetObjectItem(base, "build");
  const cJSON *btest = cJSON_GetObjectItem(base, "test");

  /* Build.  */
  progress(v, "build");
  cJSON *stage = add_stage(report, "build");
  if (v->cfg.build)
    cJSON_AddStringToObject(stage, "command", v->cfg.build);
  const char *layers1[] = {"changes"};
  struct outcome bo;
  if (do_build(v, layers1, 1, "build", &bo, err) < 0)
    return -1;
  cJSON_AddNumberToObject(stage, "exit_status", bo.exit_status);
  cJSON_AddStringToObject(stage, "output", bo.output ? bo.output : "");
  set_status(stage, bo.status, bo.ms);
  cJSON *new_warnings = cJSON_CreateArray();
  const cJSON *bwarn = cJSON_GetObjectItem(bbuild, "warnings");
  for (size_t i = 0; i < bo.n_warnings; i++)
    {
      bool old = false;
      const cJSON *w;
      cJSON_ArrayForEach(w, bwarn)
      {
        if (same_warning(&bo.warnings[i], w))
          old = true;
      }
      if (!old)
        cJSON_AddItemToArray(new_warnings, warning_json(&bo.warnings[i]));
    }
  cJSON_AddItemToObject(cJSON_AddObjectToObject(stage, "warnings"), "new", new_warnings);
  const char *bstatus = bo.status;
  if (strcmp(bstatus, "timeout") == 0)
    add_reason(report, "build: timed out after %llu s",
               (unsigned long long)(v->cfg.limits[TARS_STAGE_BUILD].timeout_ms / 1000));
  else if (strcmp(bstatus, "failed") == 0)
    {
      const char *was = cJSON_GetStringValue(cJSON_GetObjectItem(bbuild, "status"));
      if (bo.note[0])
        add_reason(report, "build: %s", bo.note);
      else
        {
          const char *line;
          int n = first_error_line(bo.output ? bo.output : "", &line);
          add_reason(report, "build: exit status %d%s: %.*s", bo.exit_status,
                     was && strcmp(was, "failed") == 0 ? " (the baseline does not build either)"
                                                       : "",
                     n, line);
        }
    }
  outcome_free(&bo);
  if (strcmp(bstatus, "failed") == 0 || strcmp(bstatus, "timeout") == 0)
    return 0;

  /* Tests.  */
  progress(v, "tests");
  stage = add_stage(report, "test");
  if (v->cfg.test)
    cJSON_AddStringToObject(stage, "command", v->cfg.test);
  const char *layers2[] = {"changes", "build"};
  struct outcome to;
  if (do_tests(v, layers2, 2, "test-cs", &to, err) < 0)
    return -1;
  cJSON *flaky = cJSON_CreateArray();
  const cJSON *bflaky = cJSON_GetObjectItem(btest, "flaky");
  cJSON *new_failures = cJSON_CreateArray();
  cJSON *pre = cJSON_CreateArray();
  if (strcmp(to.status, "failed") == 0)
    {
      /* Anything the change would be blamed for is run once more: a test that flips is flaky.  */
      bool blame = false;
      for (size_t i = 0; i < to.results.n_cases; i++)
        {
          const char *b = baseline_case(base, to.results.cases[i].name);
          if (to.results.cases[i].status == TARS_TEST_FAILED && (b == NULL || strcmp(b, "failed")))
            blame = true;
        }
      if (blame)
        {
          progress(v, "tests, again");
          struct outcome again;
          if (do_tests(v, layers2, 2, "test-cs", &again, err) < 0)
            {
              cJSON_Delete(flaky), cJSON_Delete(new_failures), cJSON_Delete(pre);
              outcome_free(&to);
              return -1;
            }
          if (strcmp(again.status, "timeout") != 0)
            settle_flaky(&to.results, &again.results, flaky);
          outcome_free(&again);
        }
    }
  for (size_t i = 0; i < to.results.n_cases; i++)
    {
      const struct tars_test_case *c = &to.results.cases[i];
      if (c->status != TARS_TEST_FAILED)
        continue;
      const char *b = baseline_case(base, c->name);
      if ((b && strcmp(b, "failed") == 0) || in_string_array(bflaky, c->name))
        {
          cJSON_AddItemToArray(pre, cJSON_CreateString(c->name));
          continue;
        }
      cJSON *f = cJSON_CreateObject();
      cJSON_AddStringToObject(f, "name", c->name);
      /* A runner's summary names the failure but not its output: the end of the whole run's is
       * the evidence then.  */
      cleanup_free char *own =
          c->output && *c->output ? trimmed(v, c->output, strlen(c->output)) : NULL;
      cJSON_AddStringToObject(f, "output", own ? own : to.output ? to.output : "");
      cJSON_AddItemToArray(new_failures, f);
    }
  cJSON_AddStringToObject(stage, "source", to.results.source);
  cJSON_AddItemToObject(stage, "counts", counts_json(&to.results));
  cJSON_AddItemToObject(stage, "baseline",
                        cJSON_Duplicate(cJSON_GetObjectItem(btest, "counts"), true));
  cJSON_AddNumberToObject(stage, "exit_status", to.exit_status);
  cJSON_AddItemToObject(stage, "new_failures", new_failures);
  cJSON_AddItemToObject(stage, "preexisting_failures", pre);
  cJSON_AddItemToObject(stage, "flaky", flaky);
  const char *tstatus = strcmp(to.status, "timeout") == 0   ? "timeout"
                        : strcmp(to.status, "skipped") == 0 ? "skipped"
                        : cJSON_GetArraySize(new_failures)  ? "failed"
                                                            : "passed";
  set_status(stage, tstatus, to.ms);
  if (strcmp(tstatus, "timeout") == 0)
    {
      cJSON_AddStringToObject(stage, "output", to.output ? to.output : "");
      add_reason(report, "test: timed out after %llu s",
                 (unsigned long long)(v->cfg.limits[TARS_STAGE_TEST].timeout_ms / 1000));
      outcome_free(&to);
      return 0;
    }
  if (cJSON_GetArraySize(new_failures))
    {
      char names[1024] = "";
      size_t off = 0;
      const cJSON *f;
      cJSON_ArrayForEach(f, new_failures)
      {
        off +=
            (size_t)snprintf(names + off, off < sizeof names ? sizeof names - off : 0, "%s%s",
                             off ? ", " : "", cJSON_GetStringValue(cJSON_GetObjectItem(f, "name")));
        if (off >= sizeof names)
          break;
      }
      int n = cJSON_GetArraySize(new_failures);
      add_reason(
          report,
          "test: %d test%s that passed on the baseline (or %s new) fail%s with the change: %s", n,
          n == 1 ? "" : "s", n == 1 ? "is" : "are", n == 1 ? "s" : "", names);
    }

  /* Gates after the run: tests executed, new warnings.  */
  cJSON *gates = cJSON_GetArrayItem(cJSON_GetObjectItem(report, "stages"), 0);
  cJSON *checks = cJSON_GetObjectItem(gates, "checks");
  bool gate_failed = false;
  uint64_t ran = to.results.passed + to.results.failed;
  const cJSON *bcounts = cJSON_GetObjectItem(btest, "counts");
  uint64_t bran = json_u64(bcounts, "passed") + json_u64(bcounts, "failed");
  cJSON *c = add_check(checks, "test_count", "passed");
  cJSON *d = cJSON_AddObjectToObject(c, "detail");
  cJSON_AddNumberToObject(d, "baseline", (double)bran);
  cJSON_AddNumberToObject(d, "change", (double)ran);
  if (v->cfg.test && bcounts && ran < bran && !v->cfg.allow_test_drop)
    {
      cJSON_ReplaceItemInObject(c, "status", cJSON_CreateString("failed"));
      gate_failed = true;
      add_reason(report, "gates: %llu fewer tests executed than the baseline (%llu -> %llu)",
                 (unsigned long long)(bran - ran), (unsigned long long)bran,
                 (unsigned long long)ran);
    }
  outcome_free(&to);
  c = add_check(checks, "warnings", v->cfg.gate_warnings ? "passed" : "skipped");
  cJSON_AddItemToObject(c, "detail", cJSON_Duplicate(new_warnings, true));
  if (v->cfg.gate_warnings && cJSON_GetArraySize(new_warnings))
    {
      cJSON_ReplaceItemInObject(c, "status", cJSON_CreateString("failed"));
      gate_failed = true;
      const cJSON *w = cJSON_GetArrayItem(new_warnings, 0);
      add_reason(report, "gates: %d new compiler warning%s: %s:%d: %s",
                 cJSON_GetArraySize(new_warnings), cJSON_GetArraySize(new_warnings) == 1 ? "" : "s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(w, "file")), (int)json_u64(w, "line"),
                 cJSON_GetStringValue(cJSON_GetObjectItem(w, "message")));
    }
  if (gate_failed)
    cJSON_ReplaceItemInObject(gates, "status", cJSON_CreateString("failed"));
  if (strcmp(tstatus, "failed") == 0 || gate_failed)
    return 0;

  /* Lint, held against the change only where the baseline passes it.  */
  if (v->cfg.lint)
    {
      progress(v, "lint");
      stage = add_stage(report, "lint");
      cJSON_AddStringToObject(stage, "command", v->cfg.lint);
      struct outcome lo;
      if (run_lint(v, layers2, 2, &lo, err) < 0)
        return -1;
      const char *was =
          cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(base, "lint"), "status"));
      const char *ls = lo.status;
      if (strcmp(ls, "failed") == 0 && was && strcmp(was, "failed") == 0)
        ls = "passed", cJSON_AddStringToObject(stage, "note", "lint fails on the baseline too");
      set_status(stage, ls, lo.ms);
      cJSON_AddNumberToObject(stage, "exit_status", lo.exit_status);
      cJSON_AddStringToObject(stage, "output", lo.output ? lo.output : "");
      if (strcmp(ls, "passed") != 0)
        add_reason(report, "lint: %s",
                   strcmp(ls, "timeout") == 0 ? "timed out" : "exit status non-zero");
      outcome_free(&lo);
    }
  return 0;
}

int
tars_validate(struct tars_store *store, int cs_dfd, const struct tars_validate_opts *o,
              cJSON **report_out, bool *accepted, struct tars_error *err)
{
  *report_out = NULL;
  *accepted = false;
  uint64_t t0 = now_ms();
  struct vctx v = {.store = store, .o = o, .snap_fd = -1, .work_fd = -1};
  tars_vconfig_default(&v.cfg);
  cleanup_cjson cJSON *report = NULL;
  int r = -1;
  int state_fd = tars_store_state_fd(store);

  if (tars_vconfig_load(&v.cfg, tars_store_repo_fd(store), err) < 0)
    goto out;
  if (o->step_config && tars_vconfig_merge(&v.cfg, o->step_config, "the step's validate", err) < 0)
    goto out;
  progress(&v, "snapshot");
  if (tars_snapshot_take(store, &v.snap, err) < 0)
    goto out;
  v.snap_fd = open(v.snap.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (v.snap_fd < 0)
    {
      tars_error_set(err, errno, "open the snapshot %s", v.snap.path);
      goto out;
    }
  if (tars_vconfig_detect(&v.cfg, v.snap_fd, err) < 0 ||
      tars_vconfig_check_commands(&v.cfg, v.snap_fd, SANDBOX_PATH, err) < 0)
    {
      /* Name the repository, not its snapshot.  */
      char *at = strstr(err->msg, v.snap.path);
      const char *repo = tars_store_repo_path(store);
      size_t plen = strlen(v.snap.path), rlen = strlen(repo);
      if (at && rlen <= plen)
        {
          memcpy(at, repo, rlen);
          memmove(at + rlen, at + plen, strlen(at + plen) + 1);
        }
      goto out;
    }
  forget_pruned_baselines(&v);

  tars_new_id("val", v.id, sizeof v.id);
  if (mkdirat(state_fd, WORK_DIR, 0700) < 0 && errno != EEXIST)
    {
      tars_error_set(err, errno, "create .tars/" WORK_DIR);
      goto out;
    }
  if (asprintf(&v.work_path, "%s/" TARS_STATE_DIR "/" WORK_DIR "/%s", tars_store_repo_path(store),
               v.id) < 0 ||
      asprintf(&v.results_env, "TARS_RESULTS=%s/" RESULTS_DIR, v.snap.path) < 0)
    {
      tars_error_set(err, ENOMEM, "validate");
      goto out;
    }
  if (mkdir(v.work_path, 0755) < 0 ||
      (v.work_fd = open(v.work_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      tars_error_set(err, errno, "create %s", v.work_path);
      goto out;
    }

  report = cJSON_CreateObject();
  cJSON_AddStringToObject(report, "id", v.id);
  cJSON_AddStringToObject(report, "verdict", "rejected");
  cJSON_AddArrayToObject(report, "reasons");
  cJSON_AddStringToObject(report, "repo", tars_store_repo_path(store));
  if (o->changeset)
    cJSON_AddStringToObject(report, "changeset", o->changeset);
  cJSON_AddStringToObject(report, "snapshot", v.snap.id);
  cJSON_AddBoolToObject(report, "snapshot_reused", v.snap.reused);
  cJSON_AddStringToObject(report, "toolchain", tars_toolchain_name(v.cfg.toolchain));
  if (v.cfg.detected_by)
    cJSON_AddStringToObject(report, "detected_by", v.cfg.detected_by);
  v.notes = cJSON_AddArrayToObject(report, "notes");
  cJSON_AddArrayToObject(report, "stages");
  tars_error_clear(err);
  if (validate(&v, cs_dfd, report, err) < 0)
    goto out;
  add_skipped_stages(&v, report);
  bool ok = cJSON_GetArraySize(cJSON_GetObjectItem(report, "reasons")) == 0;
  cJSON_ReplaceItemInObject(report, "verdict", cJSON_CreateString(ok ? "accepted" : "rejected"));
  if (!cJSON_GetObjectItem(report, "baseline_cached"))
    cJSON_AddBoolToObject(report, "baseline_cached", false);
  cJSON_AddNumberToObject(report, "duration_ms", (double)(now_ms() - t0));
  if (record(&v, report, ok, err) < 0)
    goto out;
  *accepted = ok;
  *report_out = steal_pointer(&report);
  r = 0;
out:
  if (v.work_fd >= 0)
    {
      struct tars_error ignored;
      cleanup_close int vd = openat(state_fd, WORK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (vd >= 0)
        tars_remove_tree_at(vd, v.id, &ignored);
      close(v.work_fd);
    }
  if (v.snap_fd >= 0)
    close(v.snap_fd);
  free(v.work_path);
  free(v.results_env);
  tars_snapshot_free(&v.snap);
  tars_vconfig_free(&v.cfg);
  return r;
}

/* ---- text ---- */

char *
tars_validate_report_text(const cJSON *report)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  const char *verdict = cJSON_GetStringValue(cJSON_GetObjectItem(report, "verdict"));
  const cJSON *reasons = cJSON_GetObjectItem(report, "reasons");
  const char *first = cJSON_GetStringValue(cJSON_GetArrayItem(reasons, 0));
  if (verdict && strcmp(verdict, "accepted") == 0)
    fputs("accepted\n", f);
  else
    fprintf(f, "rejected: %s\n", first ? first : "(no reason recorded)");
  const cJSON *r;
  int i = 0;
  cJSON_ArrayForEach(r, reasons)
  {
    if (i++ > 0)
      fprintf(f, "  also: %s\n", cJSON_GetStringValue(r));
  }
  fprintf(f, "toolchain: %s", cJSON_GetStringValue(cJSON_GetObjectItem(report, "toolchain")));
  const char *by = cJSON_GetStringValue(cJSON_GetObjectItem(report, "detected_by"));
  fprintf(f, "%s%s%s\n", by ? " (" : "", by ? by : "", by ? ")" : "");
  const cJSON *st;
  cJSON_ArrayForEach(st, cJSON_GetObjectItem(report, "stages"))
  {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(st, "name"));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(st, "status"));
    fprintf(f, "  %-7s %-8s %6.0f ms", name, status,
            cJSON_GetNumberValue(cJSON_GetObjectItem(st, "duration_ms")) > 0
                ? cJSON_GetNumberValue(cJSON_GetObjectItem(st, "duration_ms"))
                : 0.0);
    const cJSON *counts = cJSON_GetObjectItem(st, "counts");
    if (counts)
      fprintf(f, "  %d passed, %d failed, %d skipped (baseline: %d passed, %d failed)",
              (int)json_u64(counts, "passed"), (int)json_u64(counts, "failed"),
              (int)json_u64(counts, "skipped"),
              (int)json_u64(cJSON_GetObjectItem(st, "baseline"), "passed"),
              (int)json_u64(cJSON_GetObjectItem(st, "baseline"), "failed"));
    fputc('\n', f);
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(st, "new_failures"))
    {
      fprintf(f, "    FAILED %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(x, "name")));
      const char *out = cJSON_GetStringValue(cJSON_GetObjectItem(x, "output"));
      if (out && *out)
        fprintf(f, "%s%s", out, out[strlen(out) - 1] == '\n' ? "" : "\n");
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(st, "flaky"))
        fprintf(f, "    flaky  %s\n", cJSON_GetStringValue(x));
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(st, "files"))
    {
      const char *fs = cJSON_GetStringValue(cJSON_GetObjectItem(x, "status"));
      if (fs && strcmp(fs, "failed") == 0)
        fprintf(f, "    %s:\n%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(x, "path")),
                cJSON_GetStringValue(cJSON_GetObjectItem(x, "output")));
    }
    if (status && (strcmp(status, "failed") == 0 || strcmp(status, "timeout") == 0) &&
        (strcmp(name, "build") == 0 || strcmp(name, "lint") == 0))
      {
        const char *out = cJSON_GetStringValue(cJSON_GetObjectItem(st, "output"));
        if (out && *out)
          fprintf(f, "%s%s", out, out[strlen(out) - 1] == '\n' ? "" : "\n");
      }
  }
  fclose(f);
  return buf;
}
