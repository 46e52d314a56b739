/* The safety policy and the conflict check (policy.h).
 *
 * The changeset is untrusted and the loader has already checked its shape; the policy checks it
 * again where that is cheap (names, modes), then checks what only the policy can know: the
 * configured rules and the repository's current tree.  Every problem is collected, so that a
 * refusal lists all of them, and nothing here writes anything.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/beneath.h"
#include "apply/policy.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"

#define CONFIG_PRIMARY ".tars/config.json"
#define CONFIG_FALLBACK "tars.json"
#define CONFIG_MAX_BYTES (1u << 20)

static const char *const default_protected[] = {
    ".git/", ".tars/", ".github/workflows/", ".gitmodules", ".env*",
};
#define N_DEFAULTS (sizeof default_protected / sizeof default_protected[0])

/* ----- the policy ----- */

void
tars_policy_default(struct tars_policy *p)
{
  memset(p, 0, sizeof *p);
  /* The defaults are not copied: nothing to fail, and tars_policy_free knows them.  */
  for (size_t i = 0; i < N_DEFAULTS; i++)
    p->protected[i] = (char *)default_protected[i];
  p->n_protected = N_DEFAULTS;
  p->allow_symlinks = false;
  p->max_file_size = 64ull << 20;
  p->max_files = 10000;
  p->max_total_bytes = 1ull << 30;
}

static bool
is_default_rule(const char *rule)
{
  for (size_t i = 0; i < N_DEFAULTS; i++)
    if (rule == default_protected[i])
      return true;
  return false;
}

void
tars_policy_free(struct tars_policy *p)
{
  for (size_t i = 0; i < p->n_protected; i++)
    if (!is_default_rule(p->protected[i]))
      free(p->protected[i]);
  p->n_protected = 0;
}

/* Names and targets must be valid UTF-8 (no overlong forms, no surrogates) without C0 or C1
 * control characters or DEL; the loader checks the same.  */

/* S for a message or a JSON string: as it is when it is valid text, else with every byte outside
 * printable ASCII as \xNN.  */
void
tars_shown(const char *s, char *buf, size_t size)
{
  size_t o = 0;
  if (tars_text_is_clean(s, strlen(s)))
    {
      snprintf(buf, size, "%s", s);
      return;
    }
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < size; p++)
    {
      if (*p >= 0x20 && *p < 0x7f && *p != '\\')
        buf[o++] = (char)*p;
      else
        o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
    }
  buf[o] = '\0';
}

/* Why PATH is not a relative, normalised path, or NULL.  */
const char *
tars_path_problem(const char *path)
{
  size_t len = strlen(path);
  if (len == 0)
    return "the path is empty";
  if (len >= PATH_MAX)
    return "the path is longer than PATH_MAX";
  if (path[0] == '/')
    return "the path is absolute";
  if (!tars_text_is_clean(path, strlen(path)))
    return "the name is not valid UTF-8 or holds a control character";
  for (const char *p = path;;)
    {
      const char *slash = strchr(p, '/');
      size_t n = slash ? (size_t)(slash - p) : strlen(p);
      if (n == 0)
        return "the path has an empty component";
      if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return "the path has a '.' or '..' component";
      if (n > NAME_MAX)
        return "a component of the path is longer than NAME_MAX";
      if (!slash)
        return NULL;
      p = slash + 1;
    }
}

/* A configured rule: relative, without "." or ".." components; a trailing '/' marks a
 * directory.  */
const char *
tars_path_rule_problem(const char *rule)
{
  size_t len = strlen(rule);
  if (len == 0)
    return "empty";
  if (len >= PATH_MAX)
    return "longer than PATH_MAX";
  cleanup_free char *copy = strdup(rule);
  if (copy == NULL)
    return "out of memory";
  if (copy[len - 1] == '/' && len > 1)
    copy[len - 1] = '\0';
  const char *why = tars_path_problem(copy);
  return why;
}

static bool
is_glob(const char *s)
{
  return strpbrk(s, "*?[") != NULL;
}

/* Whether RULE protects PATH: a rule protects the path it names and everything below it; a
 * pattern without '/' is matched against every component.  */
bool
tars_path_rule_matches(const char *rule, const char *path)
{
  char pat[PATH_MAX], prefix[PATH_MAX];
  size_t rlen = strlen(rule);

  if (rlen == 0 || rlen >= sizeof pat)
    return false;
  memcpy(pat, rule, rlen + 1);
  if (pat[rlen - 1] == '/')
    pat[rlen - 1] = '\0';
  bool glob = is_glob(pat);
  size_t plen = strlen(path);
  if (plen >= sizeof prefix)
    return false;

  if (glob && strchr(pat, '/') == NULL)
    {
      for (const char *p = path;;)
        {
          const char *slash = strchr(p, '/');
          size_t n = slash ? (size_t)(slash - p) : strlen(p);
          memcpy(prefix, p, n);
          prefix[n] = '\0';
          if (fnmatch(pat, prefix, 0) == 0)
            return true;
          if (!slash)
            return false;
          p = slash + 1;
        }
    }
  memcpy(prefix, path, plen + 1);
  for (;;)
    {
      if (glob ? fnmatch(pat, prefix, FNM_PATHNAME) == 0 : strcmp(pat, prefix) == 0)
        return true;
      char *slash = strrchr(prefix, '/');
      if (slash == NULL)
        return false;
      *slash = '\0';
    }
}

/* What is protected whatever the configuration says: .git as any component (a nested repository
 * or a submodule's hooks run just as well), .tars at the top, and tars.json, which the policy
 * itself may be read from.  Case-insensitively: on a case-insensitive filesystem .GIT is .git.  */
static const char *
builtin_rule(const char *path)
{
  size_t first = strcspn(path, "/");
  if (first == 5 && strncasecmp(path, ".tars", 5) == 0)
    return ".tars/";
  if (strcasecmp(path, CONFIG_FALLBACK) == 0)
    return CONFIG_FALLBACK;
  for (const char *p = path;;)
    {
      size_t n = strcspn(p, "/");
      if (n == 4 && strncasecmp(p, ".git", 4) == 0)
        return ".git/";
      if (p[n] == '\0')
        return NULL;
      p += n + 1;
    }
}

/* The rule that protects PATH, or NULL.  */
static const char *
protected_by(const struct tars_policy *p, const char *path)
{
  const char *rule = builtin_rule(path);
  if (rule)
    return rule;
  for (size_t i = 0; i < p->n_protected; i++)
    if (p->protected[i] && tars_path_rule_matches(p->protected[i], path))
      return p->protected[i];
  return NULL;
}

/* ----- loading the configuration ----- */

static int
read_config(int repo_fd, const char **name, char **text, size_t *len, struct tars_error *err)
{
  const char *names[] = {CONFIG_PRIMARY, CONFIG_FALLBACK};
  cleanup_close int fd = -1;
  struct stat st;

  *text = NULL;
  for (size_t i = 0; i < 2 && fd < 0; i++)
    {
      *name = names[i];
      fd = tars_open_beneath(repo_fd, names[i], O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, err);
      if (fd < 0 && errno != ENOENT)
        return tars_error_prefix(err, "policy configuration");
    }
  if (fd < 0)
    return 0;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "%s: stat", *name);
  if (!S_ISREG(st.st_mode))
    return tars_error_invalid(err, "%s: not a regular file", *name);
  if (st.st_size > (off_t)CONFIG_MAX_BYTES)
    return tars_error_invalid(err, "%s: larger than %u bytes", *name, CONFIG_MAX_BYTES);
  cleanup_free char *buf = malloc((size_t)st.st_size + 1);
  size_t n = 0;
  if (buf == NULL)
    return tars_error_set(err, ENOMEM, "%s", *name);
  for (;;)
    {
      ssize_t r = read(fd, buf + n, (size_t)st.st_size + 1 - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "%s: read", *name);
      if (r == 0)
        break;
      n += (size_t)r;
      if (n > (size_t)st.st_size)
        return tars_error_invalid(err, "%s: it grew while being read", *name);
    }
  buf[n] = '\0';
  *len = n;
  *text = steal_pointer(&buf);
  return 0;
}

int
tars_repo_config_load(int repo_fd, cJSON **root, const char **file, struct tars_error *err)
{
  *root = NULL;
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (read_config(repo_fd, file, &text, &len, err) < 0)
    return -1;
  if (text == NULL)
    return 0;
  cJSON *r = cJSON_ParseWithLength(text, len);
  if (r == NULL)
    return tars_error_invalid(err, "%s: malformed JSON", *file);
  if (!cJSON_IsObject(r))
    {
      cJSON_Delete(r);
      return tars_error_invalid(err, "%s: the top level is not an object", *file);
    }
  *root = r;
  return 0;
}

/* A size: a whole number of bytes, or a string for tars_parse_size ("64M").  */
static int
parse_size_value(const cJSON *v, const char *file, const char *key, uint64_t *out,
                 struct tars_error *err)
{
  if (cJSON_IsNumber(v))
    {
      double d = v->valuedouble;
      if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
        return tars_error_invalid(
            err, "%s: key \"apply.%s\": expected a whole, non-negative number", file, key);
      *out = (uint64_t)d;
      return 0;
    }
  if (cJSON_IsString(v))
    {
      if (tars_parse_size(v->valuestring, out, err) < 0)
        return tars_error_prefix(err, "%s: key \"apply.%s\"", file, key);
      return 0;
    }
  return tars_error_invalid(err, "%s: key \"apply.%s\": expected a number or a size string", file,
                            key);
}

int
tars_policy_load(struct tars_policy *p, int repo_fd, struct tars_error *err)
{
  cleanup_cjson cJSON *root = NULL;
  const char *file = NULL;
  /* Parsed into these first, so that a bad file leaves P as it was.  */
  struct tars_policy n = *p;
  char *added[TARS_POLICY_MAX_PROTECTED];
  size_t n_added = 0;
  int ret = -1;

  if (tars_repo_config_load(repo_fd, &root, &file, err) < 0)
    return -1;
  if (root == NULL)
    return 0;
  const cJSON *apply = cJSON_GetObjectItemCaseSensitive(root, "apply");
  if (apply == NULL)
    return 0;
  if (!cJSON_IsObject(apply))
    return tars_error_invalid(err, "%s: key \"apply\": expected an object", file);

  for (const cJSON *k = apply->child; k; k = k->next)
    {
      char kbuf[128];
      tars_shown(k->string ? k->string : "", kbuf, sizeof kbuf);
      if (strcmp(kbuf, "protected") == 0)
        {
          const cJSON *r;
          if (!cJSON_IsArray(k))
            {
              tars_error_invalid(err, "%s: key \"apply.protected\": expected an array of strings",
                                 file);
              goto out;
            }
          cJSON_ArrayForEach(r, k)
          {
            const char *why =
                cJSON_IsString(r) ? tars_path_rule_problem(r->valuestring) : "not a string";
            if (why)
              {
                char rbuf[256];
                tars_shown(cJSON_IsString(r) ? r->valuestring : "", rbuf, sizeof rbuf);
                tars_error_invalid(err, "%s: key \"apply.protected\": \"%s\": %s", file, rbuf, why);
                goto out;
              }
            if (n.n_protected + n_added >= TARS_POLICY_MAX_PROTECTED)
              {
                tars_error_invalid(err, "%s: key \"apply.protected\": more than %d rules", file,
                                   TARS_POLICY_MAX_PROTECTED);
                goto out;
              }
            added[n_added] = strdup(r->valuestring);
            if (added[n_added] == NULL)
              {
                tars_error_set(err, ENOMEM, "%s", file);
                goto out;
              }
            n_added++;
          }
        }
      else if (strcmp(kbuf, "allow_symlinks") == 0)
        {
          if (!cJSON_IsBool(k))
            {
              tars_error_invalid(err, "%s: key \"apply.allow_symlinks\": expected true or false",
                                 file);
              goto out;
            }
          n.allow_symlinks = cJSON_IsTrue(k);
        }
      else if (strcmp(kbuf, "max_file_size") == 0)
        {
          if (parse_size_value(k, file, kbuf, &n.max_file_size, err) < 0)
            goto out;
        }
      else if (strcmp(kbuf, "max_files") == 0)
        {
          if (parse_size_value(k, file, kbuf, &n.max_files, err) < 0)
            goto out;
        }
      else if (strcmp(kbuf, "max_total_bytes") == 0)
        {
          if (parse_size_value(k, file, kbuf, &n.max_total_bytes, err) < 0)
            goto out;
        }
      else
        {
          /* A misspelt limit silently ignored would be a limit not enforced.  */
          tars_error_invalid(err, "%s: key \"apply.%s\": unknown", file, kbuf);
          goto out;
        }
    }

  for (size_t i = 0; i < n_added; i++)
    n.protected[n.n_protected++] = added[i];
  n_added = 0;
  *p = n;
  ret = 0;
out:
  for (size_t i = 0; i < n_added; i++)
    free(added[i]);
  return ret;
}

/* ----- collecting reasons ----- */

struct collect
{
  cJSON *arr;
  size_t n;
  bool oom;
  size_t o;
  char list[TARS_ERROR_MSG_MAX];
};

static void
summary_add(struct collect *c, const char *path, const char *reason)
{
  if (c->o + 1 >= sizeof c->list)
    return;
  int w = snprintf(c->list + c->o, sizeof c->list - c->o, "%s%s: %s", c->n > 1 ? "; " : "", path,
                   reason);
  if (w < 0)
    return;
  c->o += (size_t)w;
  if (c->o >= sizeof c->list)
    c->o = sizeof c->list - 1;
}

static cJSON *
add_item(struct collect *c, const char *path, const char *reason)
{
  char pbuf[PATH_MAX * 4 + 1];
  tars_shown(path, pbuf, sizeof pbuf);
  c->n++;
  summary_add(c, pbuf, reason);
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddStringToObject(o, "path", pbuf) ||
      !cJSON_AddStringToObject(o, "reason", reason) || !cJSON_AddItemToArray(c->arr, o))
    {
      cJSON_Delete(o);
      c->oom = true;
      return NULL;
    }
  return o;
}

static void __attribute__((format(printf, 3, 4)))
add_reason(struct collect *c, const char *path, const char *fmt, ...)
{
  char reason[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  add_item(c, path, reason);
}

static void
add_conflict(struct collect *c, const char *path, const char *reason, const char *expected,
             const char *found)
{
  cJSON *o = add_item(c, path, reason);
  if (o && (!cJSON_AddStringToObject(o, "expected", expected) ||
            !cJSON_AddStringToObject(o, "found", found)))
    c->oom = true;
}

/* Finish: 0 when nothing was collected, else -1 with "HEAD: N problems: a: why; b: why".  */
static int
collect_finish(struct collect *c, const char *head, const char *one, const char *many,
               struct tars_error *err)
{
  if (c->oom)
    return tars_error_set(err, ENOMEM, "%s", head);
  if (c->n == 0)
    return 0;
  bool cut = c->o >= sizeof c->list - 1;
  return tars_error_refused(err, "%s: %zu %s: %s%s", head, c->n, c->n == 1 ? one : many, c->list,
                            cut ? "..." : "");
}

/* ----- the changeset, by path ----- */

struct by_path
{
  const char *path;
  const struct tars_change *del; /* the deletion of what was there */
  const struct tars_change *put; /* what is there afterwards */
};

static int
by_path_cmp(const void *a, const void *b)
{
  return strcmp(((const struct by_path *)a)->path, ((const struct by_path *)b)->path);
}

static struct by_path *
index_changeset(const struct tars_changeset *cs, size_t *n_out)
{
  struct by_path *v = calloc(cs->n_entries ? cs->n_entries : 1, sizeof *v);
  size_t n = 0;
  if (v == NULL)
    return NULL;
  for (size_t i = 0; i < cs->n_entries; i++)
    v[i].path = cs->entries[i].path;
  qsort(v, cs->n_entries, sizeof *v, by_path_cmp);
  for (size_t i = 0; i < cs->n_entries; i++)
    if (n == 0 || strcmp(v[n - 1].path, v[i].path) != 0)
      v[n++].path = v[i].path;
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      struct by_path key = {.path = c->path};
      struct by_path *slot = bsearch(&key, v, n, sizeof *v, by_path_cmp);
      if (c->op == TARS_CHANGE_DELETE)
        slot->del = c;
      else
        slot->put = c;
    }
  *n_out = n;
  return v;
}

static const struct by_path *
lookup(const struct by_path *v, size_t n, const char *path)
{
  struct by_path key = {.path = path};
  return bsearch(&key, v, n, sizeof *v, by_path_cmp);
}

static const char *
kind_of(mode_t m)
{
  if (S_ISREG(m))
    return "regular file";
  if (S_ISDIR(m))
    return "directory";
  if (S_ISLNK(m))
    return "symlink";
  if (S_ISCHR(m) || S_ISBLK(m))
    return "device node";
  if (S_ISFIFO(m))
    return "fifo";
  if (S_ISSOCK(m))
    return "socket";
  return "special file";
}

/* ----- the policy check ----- */

struct check
{
  const struct tars_policy *p;
  const struct tars_changeset *cs;
  int repo_fd;
  int objects_fd;
  struct by_path *idx;
  size_t n_idx;
  struct collect col;
  /* The last directory whose every prefix was found to be a directory in the repository.  */
  char verified[PATH_MAX];
};

/* Whether PREFIX is VERIFIED or one of its ancestors.  */
static bool
within_verified(const struct check *k, const char *prefix)
{
  size_t n = strlen(prefix);
  return strncmp(k->verified, prefix, n) == 0 && (k->verified[n] == '\0' || k->verified[n] == '/');
}

enum parents
{
  PARENTS_BAD,   /* a problem was recorded */
  PARENTS_NEW,   /* the path lies beneath something the changeset makes, or that is missing */
  PARENTS_EXIST, /* every directory on the way exists in the repository */
};

/* The directories on the way to C's path, as they are in the repository now: a symlink or
 * something other than a directory there would redirect or break the write.  Prefixes that the
 * changeset deletes or creates are new from there on, and not looked at.  */
static enum parents
check_parents(struct check *k, const struct tars_change *c)
{
  char prefix[PATH_MAX];
  const char *path = c->path;
  struct tars_error e;

  for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/'))
    {
      size_t n = (size_t)(slash - path);
      memcpy(prefix, path, n);
      prefix[n] = '\0';
      const struct by_path *b = lookup(k->idx, k->n_idx, prefix);
      if (b && (b->del || b->put) &&
          !(b->put && b->put->op == TARS_CHANGE_CHMOD && b->put->type == TARS_CHANGE_DIR))
        return PARENTS_NEW;
      if (within_verified(k, prefix))
        continue;
      struct stat st;
      if (tars_lstat_beneath(k->repo_fd, prefix, &st, &e) < 0)
        {
          if (e.code == ENOENT)
            return PARENTS_NEW; /* the conflict check reports a missing parent */
          add_reason(&k->col, path, "cannot check the directory '%s' on the way: %s", prefix,
                     e.msg);
          return PARENTS_BAD;
        }
      if (S_ISLNK(st.st_mode))
        {
          add_reason(&k->col, path,
                     "'%s' is a symlink in the repository: a write beneath it could land "
                     "anywhere",
                     prefix);
          return PARENTS_BAD;
        }
      if (!S_ISDIR(st.st_mode))
        {
          add_reason(&k->col, path, "'%s' is a %s in the repository, not a directory", prefix,
                     kind_of(st.st_mode));
          return PARENTS_BAD;
        }
      memcpy(k->verified, prefix, n + 1);
    }
  return PARENTS_EXIST;
}

/* What is at C's path in the repository now.  */
static void
check_target(struct check *k, const struct tars_change *c)
{
  struct stat st;
  struct tars_error e;
  const struct by_path *b = lookup(k->idx, k->n_idx, c->path);

  /* A create after a deletion of the same path: the deletion's entry looks at what is there.  */
  if (c->op != TARS_CHANGE_DELETE && b && b->del)
    return;
  if (tars_lstat_beneath(k->repo_fd, c->path, &st, &e) < 0)
    {
      if (e.code != ENOENT)
        add_reason(&k->col, c->path, "cannot check the target: %s", e.msg);
      return;
    }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
    add_reason(&k->col, c->path, "the target is a %s in the repository", kind_of(st.st_mode));
  else if (S_ISLNK(st.st_mode) && c->op != TARS_CHANGE_DELETE)
    add_reason(&k->col, c->path, "the target is a symlink in the repository");
  else if (S_ISREG(st.st_mode) && st.st_nlink > 1)
    add_reason(&k->col, c->path,
               "the target has %lu hard links: the change would show through another name",
               (unsigned long)st.st_nlink);
}

/* Whether PATH is a symlink once the changeset is applied.  */
static bool
symlink_after(struct check *k, const char *path)
{
  const struct by_path *b = lookup(k->idx, k->n_idx, path);
  struct stat st;
  struct tars_error e;
  if (b && b->put)
    return b->put->op == TARS_CHANGE_SYMLINK;
  if (b && b->del)
    return false;
  if (tars_lstat_beneath(k->repo_fd, path, &st, &e) < 0)
    return e.code == ELOOP;
  return S_ISLNK(st.st_mode);
}

/* A new symlink's target, resolved lexically from the link's directory: it must stay inside the
 * repository, outside protected paths, and not go through another symlink (whose own target
 * would make the lexical answer wrong: "l/../.." where l points to "..").  */
static void
check_symlink_target(struct check *k, const struct tars_change *c)
{
  const char *t = c->target ? c->target : "";
  char res[PATH_MAX], tbuf[PATH_MAX * 4 + 1];
  size_t rl = 0;

  tars_shown(t, tbuf, sizeof tbuf);
  if (!tars_text_is_clean(t, strlen(t)) || t[0] == '\0')
    {
      add_reason(&k->col, c->path,
                 "the symlink target is empty, not valid UTF-8 or holds a "
                 "control character");
      return;
    }
  if (t[0] == '/')
    {
      add_reason(&k->col, c->path, "the symlink target '%s' is absolute", tbuf);
      return;
    }
  const char *slash = strrchr(c->path, '/');
  if (slash)
    {
      rl = (size_t)(slash - c->path);
      memcpy(res, c->path, rl);
    }
  res[rl] = '\0';
  for (const char *p = t; *p;)
    {
      size_t n = strcspn(p, "/");
      if (n == 2 && p[0] == '.' && p[1] == '.')
        {
          if (rl == 0)
            {
              add_reason(&k->col, c->path, "the symlink target '%s' leaves the repository", tbuf);
              return;
            }
          char *s = strrchr(res, '/');
          rl = s ? (size_t)(s - res) : 0;
          res[rl] = '\0';
        }
      else if (n > 0 && !(n == 1 && p[0] == '.'))
        {
          if (rl + 1 + n >= sizeof res)
            {
              add_reason(&k->col, c->path, "the symlink target '%s' is too long", tbuf);
              return;
            }
          if (rl)
            res[rl++] = '/';
          memcpy(res + rl, p, n);
          rl += n;
          res[rl] = '\0';
          if (symlink_after(k, res))
            {
              add_reason(&k->col, c->path, "the symlink target '%s' goes through the symlink '%s'",
                         tbuf, res);
              return;
            }
        }
      p += n;
      if (*p == '/')
        p++;
    }
  const char *rule = rl ? protected_by(k->p, res) : NULL;
  if (rule)
    add_reason(&k->col, c->path, "the symlink target '%s' points into a protected path (rule '%s')",
               tbuf, rule);
}

static void
check_object(struct check *k, const struct tars_change *c)
{
  struct stat st;
  if (k->objects_fd < 0)
    return;
  if (fstatat(k->objects_fd, c->sha256, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      add_reason(&k->col, c->path, "objects/%s: %s", c->sha256, strerror(errno));
      return;
    }
  if (!S_ISREG(st.st_mode))
    add_reason(&k->col, c->path, "objects/%s is a %s, not a regular file", c->sha256,
               kind_of(st.st_mode));
  else if ((uint64_t)st.st_size != c->size)
    add_reason(&k->col, c->path, "objects/%s holds %llu bytes, the manifest says %llu", c->sha256,
               (unsigned long long)st.st_size, (unsigned long long)c->size);
  else if (st.st_nlink > 1)
    add_reason(&k->col, c->path, "objects/%s has %lu hard links", c->sha256,
               (unsigned long)st.st_nlink);
}

static void
check_mode(struct check *k, const struct tars_change *c)
{
  unsigned int m = c->mode;
  if (m & 07000)
    {
      const char *names[3];
      size_t n = 0;
      if (m & 04000)
        names[n++] = "setuid";
      if (m & 02000)
        names[n++] = "setgid";
      if (m & 01000)
        names[n++] = "sticky";
      add_reason(&k->col, c->path, "mode %04o has the %s%s%s%s%s bit%s", m, names[0],
                 n > 1 ? (n > 2 ? ", " : " and ") : "", n > 1 ? names[1] : "", n > 2 ? " and " : "",
                 n > 2 ? names[2] : "", n > 1 ? "s" : "");
    }
  if (m & 0002)
    add_reason(&k->col, c->path, "mode %04o is world-writable", m);
}

int
tars_policy_check(const struct tars_policy *p, const struct tars_changeset *cs, int cs_dfd,
                  int repo_fd, cJSON *reasons, struct tars_error *err)
{
  cleanup_cjson cJSON *own = NULL;
  cleanup_free struct by_path *idx = NULL;
  cleanup_close int objects_fd = -1;
  cleanup_free struct check *k = calloc(1, sizeof *k);
  uint64_t total = 0;

  if (k == NULL)
    return tars_error_set(err, ENOMEM, "policy check");
  if (reasons == NULL)
    {
      own = reasons = cJSON_CreateArray();
      if (own == NULL)
        return tars_error_set(err, ENOMEM, "policy check");
    }
  idx = index_changeset(cs, &k->n_idx);
  if (idx == NULL)
    return tars_error_set(err, ENOMEM, "policy check");
  if (cs_dfd >= 0)
    {
      objects_fd = openat(cs_dfd, "objects", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (objects_fd < 0 && errno != ENOENT)
        return tars_error_set(err, errno, "policy check: objects/");
    }
  k->p = p;
  k->cs = cs;
  k->repo_fd = repo_fd;
  k->objects_fd = objects_fd;
  k->idx = idx;
  k->col.arr = reasons;

  /* A failed `sed ... > file` leaves an emptied file behind: what a failed command changed is
   * not a change anyone meant.  */
  if (cs->exit_status > 0 && !p->allow_failed_command)
    add_reason(&k->col, ".",
               "made by a command that failed (exit status %d); pass --allow-failed to accept "
               "it anyway",
               cs->exit_status);
  for (size_t i = 0; i < cs->n_rejected; i++)
    add_reason(&k->col, cs->rejected[i].path, "not captured: %s (the changeset is incomplete)",
               cs->rejected[i].reason);

  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      const char *why = tars_path_problem(c->path);
      if (why)
        {
          add_reason(&k->col, c->path, "%s", why);
          continue;
        }
      const char *rule = protected_by(p, c->path);
      if (rule)
        add_reason(&k->col, c->path, "protected path (rule '%s')", rule);

      switch (c->op)
        {
        case TARS_CHANGE_CREATE:
        case TARS_CHANGE_MODIFY:
          if (c->size > p->max_file_size)
            add_reason(&k->col, c->path, "file too large: %llu bytes (limit %llu)",
                       (unsigned long long)c->size, (unsigned long long)p->max_file_size);
          total = total + c->size < total ? UINT64_MAX : total + c->size;
          check_object(k, c);
          check_mode(k, c);
          break;
        case TARS_CHANGE_MKDIR:
        case TARS_CHANGE_CHMOD:
          check_mode(k, c);
          break;
        case TARS_CHANGE_SYMLINK:
          if (!p->allow_symlinks)
            add_reason(&k->col, c->path, "new symlinks are not allowed by the policy");
          else
            check_symlink_target(k, c);
          break;
        case TARS_CHANGE_DELETE:
          break;
        }
      if (check_parents(k, c) == PARENTS_EXIST)
        check_target(k, c);
    }
  if ((uint64_t)cs->n_entries > p->max_files)
    add_reason(&k->col, ".", "too many entries: %zu (limit %llu)", cs->n_entries,
               (unsigned long long)p->max_files);
  if (total > p->max_total_bytes)
    add_reason(&k->col, ".", "new content too large: %llu bytes in all (limit %llu)",
               (unsigned long long)total, (unsigned long long)p->max_total_bytes);
  return collect_finish(&k->col, "changeset refused", "problem", "problems", err);
}

/* ----- the conflict check ----- */

/* What is at PATH now, for a report: FOUND gets the content's hash for a regular file, else
 * "absent" or the kind of thing.  *MODE gets its type (0: absent).  */
static int
current(int repo_fd, const char *path, char found[65], mode_t *mode, struct tars_error *err)
{
  struct stat st, st2;
  struct tars_error e;

  *mode = 0;
  if (tars_lstat_beneath(repo_fd, path, &st, &e) < 0)
    {
      if (e.code == ENOENT || e.code == ENOTDIR)
        {
          strcpy(found, "absent");
          return 0;
        }
      if (e.code == ELOOP)
        {
          strcpy(found, "symlink on the way");
          *mode = S_IFLNK;
          return 0;
        }
      *err = e;
      return -1;
    }
  *mode = st.st_mode & S_IFMT;
  if (!S_ISREG(st.st_mode))
    {
      snprintf(found, 65, "%s", kind_of(st.st_mode));
      return 0;
    }
  /* O_NONBLOCK: should a fifo be swapped in after the lstat, the open must not hang.  */
  cleanup_close int fd = tars_open_beneath(repo_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, err);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st2) < 0)
    return tars_error_set(err, errno, "conflict check: stat '%s'", path);
  if (!S_ISREG(st2.st_mode))
    {
      *mode = st2.st_mode & S_IFMT;
      snprintf(found, 65, "%s", kind_of(st2.st_mode));
      return 0;
    }
  if (tars_sha256_fd(fd, found, err) < 0)
    return tars_error_prefix(err, "conflict check: '%s'", path);
  return 0;
}

/* A directory to delete must hold nothing that the changeset does not delete too: what is there
 * was created since the snapshot, and would be lost (or make the deletion fail).  */
static int
check_dir_contents(int repo_fd, const struct by_path *idx, size_t n_idx, const char *path,
                   struct collect *col, struct tars_error *err)
{
  char child[PATH_MAX];
  size_t extra = 0;
  char first[NAME_MAX + 1] = "";

  int fd = tars_open_beneath(repo_fd, path, O_RDONLY | O_DIRECTORY, 0, err);
  if (fd < 0)
    return -1;
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return tars_error_set(err, errno, "conflict check: '%s'", path);
    }
  for (struct dirent *de; (errno = 0, de = readdir(d)) != NULL;)
    {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      if ((size_t)snprintf(child, sizeof child, "%s/%s", path, de->d_name) >= sizeof child)
        continue;
      const struct by_path *b = lookup(idx, n_idx, child);
      if (b && b->del)
        continue;
      if (extra++ == 0)
        snprintf(first, sizeof first, "%s", de->d_name);
    }
  if (errno)
    return tars_error_set(err, errno, "conflict check: read '%s'", path);
  if (extra)
    {
      char reason[NAME_MAX * 4 + 128], fbuf[NAME_MAX * 4 + 1];
      tars_shown(first, fbuf, sizeof fbuf);
      snprintf(reason, sizeof reason,
               "the directory to delete holds '%s'%s, which the changeset does not delete "
               "(created since the snapshot)",
               fbuf, extra > 1 ? " and more" : "");
      add_conflict(col, path, reason, "directory", "directory with other entries");
    }
  return 0;
}

int
tars_conflicts_check(const struct tars_changeset *cs, int repo_fd, cJSON *conflicts,
                     struct tars_error *err)
{
  cleanup_cjson cJSON *own = NULL;
  cleanup_free struct by_path *idx = NULL;
  cleanup_free struct collect *col = calloc(1, sizeof *col);
  size_t n_idx = 0;
  char found[65], parent[PATH_MAX];
  mode_t mode;

  if (col == NULL)
    return tars_error_set(err, ENOMEM, "conflict check");
  if (conflicts == NULL)
    {
      own = conflicts = cJSON_CreateArray();
      if (own == NULL)
        return tars_error_set(err, ENOMEM, "conflict check");
    }
  col->arr = conflicts;
  idx = index_changeset(cs, &n_idx);
  if (idx == NULL)
    return tars_error_set(err, ENOMEM, "conflict check");

  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      const struct by_path *self = lookup(idx, n_idx, c->path);
      bool is_file = c->type == TARS_CHANGE_FILE;

      switch (c->op)
        {
        case TARS_CHANGE_MODIFY:
        case TARS_CHANGE_CHMOD:
        case TARS_CHANGE_DELETE:
          if (current(repo_fd, c->path, found, &mode, err) < 0)
            return -1;
          if (is_file)
            {
              if (mode == 0)
                add_conflict(col, c->path, "deleted since the snapshot", c->base_sha256, found);
              else if (!S_ISREG(mode))
                add_conflict(col, c->path, "no longer a regular file", c->base_sha256, found);
              else if (strcmp(found, c->base_sha256) != 0)
                add_conflict(col, c->path, "modified since the snapshot", c->base_sha256, found);
            }
          else if (c->type == TARS_CHANGE_DIR)
            {
              if (mode == 0)
                add_conflict(col, c->path, "the directory is missing", "directory", found);
              else if (!S_ISDIR(mode))
                add_conflict(col, c->path, "no longer a directory", "directory", found);
              else if (c->op == TARS_CHANGE_DELETE &&
                       check_dir_contents(repo_fd, idx, n_idx, c->path, col, err) < 0)
                return -1;
            }
          else
            {
              if (mode == 0)
                add_conflict(col, c->path, "the symlink is missing", "symlink", found);
              else if (!S_ISLNK(mode))
                add_conflict(col, c->path, "no longer a symlink", "symlink", found);
            }
          break;
        case TARS_CHANGE_CREATE:
        case TARS_CHANGE_MKDIR:
        case TARS_CHANGE_SYMLINK:
          {
            /* After a deletion of the same path, the deletion's entry looks at what is there.  */
            if (self && self->del)
              break;
            const char *slash = strrchr(c->path, '/');
            if (slash)
              {
                size_t n = (size_t)(slash - c->path);
                memcpy(parent, c->path, n);
                parent[n] = '\0';
                const struct by_path *pb = lookup(idx, n_idx, parent);
                if (!(pb && pb->put && pb->put->type == TARS_CHANGE_DIR &&
                      pb->put->op != TARS_CHANGE_CHMOD))
                  {
                    if (current(repo_fd, parent, found, &mode, err) < 0)
                      return -1;
                    if (!S_ISDIR(mode))
                      {
                        char reason[PATH_MAX + 64];
                        snprintf(reason, sizeof reason, "the directory '%s' %s", parent,
                                 mode == 0 ? "is missing" : "is no longer a directory");
                        add_conflict(col, c->path, reason, "directory", found);
                        break;
                      }
                  }
                else
                  break; /* created by the changeset: nothing there yet */
              }
            if (current(repo_fd, c->path, found, &mode, err) < 0)
              return -1;
            if (mode != 0)
              add_conflict(col, c->path, "created since the snapshot", "absent", found);
          }
          break;
        }
    }
  return collect_finish(col, "conflict", "path changed since the snapshot",
                        "paths changed since the snapshot", err);
}
