/* Changesets: capture of an overlay's upper layer, and the manifest reader and writer.
 *
 * The upper layer was written by untrusted code.  It is walked through directory file
 * descriptors only (openat with O_NOFOLLOW, fstatat with AT_SYMLINK_NOFOLLOW), one component at a
 * time, so that no symlink it holds is ever followed.  The lower layers are walked the same way.
 * Only the upper tree, and the lower subtrees that it deletes or hides, are visited: the rest of
 * the workspace is never read.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "tars/changes.h"
#include "tars/cleanup.h"

/* A manifest is read whole; a bigger one is refused rather than read.  */
#define MANIFEST_MAX_BYTES (256u << 20)
#define MANIFEST_MAX_REJECTED 100000u
#define MANIFEST_NAME "manifest.json"
#define MANIFEST_TMP_NAME ".manifest.json.tmp"
#define OBJECTS_DIR "objects"
/* cJSON keeps numbers as doubles: sizes up to 2^53 are exact.  */
#define SIZE_MAX_EXACT 9007199254740992.0

static const char *const op_names[] = {
    [TARS_CHANGE_CREATE] = "create", [TARS_CHANGE_MODIFY] = "modify",
    [TARS_CHANGE_DELETE] = "delete", [TARS_CHANGE_MKDIR] = "mkdir",
    [TARS_CHANGE_CHMOD] = "chmod",   [TARS_CHANGE_SYMLINK] = "symlink",
};
#define N_OPS (sizeof op_names / sizeof op_names[0])

static const char *const type_names[] = {
    [TARS_CHANGE_FILE] = "file",
    [TARS_CHANGE_DIR] = "dir",
    [TARS_CHANGE_LINK] = "symlink",
};
#define N_TYPES (sizeof type_names / sizeof type_names[0])

const char *
tars_change_op_name(enum tars_change_op op)
{
  return (size_t)op < N_OPS ? op_names[op] : "?";
}

const char *
tars_change_type_name(enum tars_change_type type)
{
  return (size_t)type < N_TYPES ? type_names[type] : "?";
}

/* Names and symlink targets go into JSON and onto terminals: they must be valid UTF-8 (no
 * overlong forms, no surrogates) without C0 or C1 control characters or DEL.  */
bool
tars_text_is_clean(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end)
    {
      unsigned char c = *p;
      if (c < 0x80)
        {
          if (c < 0x20 || c == 0x7f)
            return false;
          p++;
          continue;
        }
      size_t n;
      uint32_t cp, min;
      if ((c & 0xe0) == 0xc0)
        n = 1, cp = c & 0x1f, min = 0x80;
      else if ((c & 0xf0) == 0xe0)
        n = 2, cp = c & 0x0f, min = 0x800;
      else if ((c & 0xf8) == 0xf0)
        n = 3, cp = c & 0x07, min = 0x10000;
      else
        return false;
      if ((size_t)(end - p) <= n)
        return false;
      for (size_t i = 1; i <= n; i++)
        {
          if ((p[i] & 0xc0) != 0x80)
            return false;
          cp = (cp << 6) | (p[i] & 0x3f);
        }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return false;
      p += n + 1;
    }
  return true;
}

/* Append S[0..LEN) to BUF (at *O, SIZE bytes), every byte outside printable ASCII as \xNN when
 * ESCAPE.  */
static void
append_shown(char *buf, size_t size, size_t *o, const char *s, size_t len, bool escape)
{
  for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + len; p++)
    {
      if (*o + 5 >= size)
        break;
      if (!escape || (*p >= 0x20 && *p < 0x7f && *p != '\\'))
        buf[(*o)++] = (char)*p;
      else
        *o += (size_t)snprintf(buf + *o, size - *o, "\\x%02x", *p);
    }
  buf[*o] = '\0';
}

/* S as it may be shown in a message: when it is not valid text, every byte outside printable
 * ASCII becomes \xNN; a long path keeps its start and its end, so that the message still has
 * room for the reason.  */
static const char *
printable(const char *s, char *buf, size_t size)
{
  enum
  {
    HEAD = 120,
    TAIL = 200
  };
  size_t len = strlen(s), o = 0;
  bool escape = !tars_text_is_clean(s, len);
  if (len <= HEAD + TAIL + 3)
    {
      if (!escape)
        return s;
      append_shown(buf, size, &o, s, len, true);
      return buf;
    }
  /* Cut on character boundaries.  */
  size_t head = HEAD, tail = len - TAIL;
  while (head > 0 && ((unsigned char)s[head] & 0xc0) == 0x80)
    head--;
  while (tail < len && ((unsigned char)s[tail] & 0xc0) == 0x80)
    tail++;
  append_shown(buf, size, &o, s, head, escape);
  append_shown(buf, size, &o, "...", 3, false);
  append_shown(buf, size, &o, s + tail, len - tail, escape);
  return buf;
}

static bool
valid_hex64(const char *s)
{
  if (strlen(s) != 64)
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

/* A relative, normalised path: no leading or trailing '/', no empty, "." or ".." component.  */
static const char *
path_problem(const char *path)
{
  size_t len = strlen(path);
  if (len == 0)
    return "the path is empty";
  if (len >= PATH_MAX)
    return "the path is longer than PATH_MAX";
  if (path[0] == '/')
    return "the path is absolute";
  if (!tars_text_is_clean(path, len))
    return "the path is not valid UTF-8 or holds a control character";
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
        break;
      p = slash + 1;
    }
  return NULL;
}

static void
change_clear(struct tars_change *c)
{
  free(c->path);
  free(c->target);
  c->path = c->target = NULL;
}

void
tars_changeset_free(struct tars_changeset *cs)
{
  if (cs == NULL)
    return;
  for (size_t i = 0; i < cs->n_entries; i++)
    change_clear(&cs->entries[i]);
  free(cs->entries);
  cs->entries = NULL;
  cs->n_entries = 0;
  for (size_t i = 0; i < cs->n_rejected; i++)
    {
      free(cs->rejected[i].path);
      free(cs->rejected[i].reason);
    }
  free(cs->rejected);
  cs->rejected = NULL;
  cs->n_rejected = 0;
}

/* The order to apply: deletions first, deepest first; then the rest, parents first.  */
static int
change_cmp(const void *a, const void *b)
{
  const struct tars_change *x = a, *y = b;
  bool dx = x->op == TARS_CHANGE_DELETE, dy = y->op == TARS_CHANGE_DELETE;
  if (dx != dy)
    return dx ? -1 : 1;
  int c = strcmp(x->path, y->path);
  return dx ? -c : c;
}

/* Fields, as bits, so that each operation's exact set can be checked.  */
enum
{
  F_PATH = 1 << 0,
  F_OP = 1 << 1,
  F_TYPE = 1 << 2,
  F_MODE = 1 << 3,
  F_SIZE = 1 << 4,
  F_SHA = 1 << 5,
  F_BASE = 1 << 6,
  F_TARGET = 1 << 7,
};
static const char *const field_names[] = {"path", "op",     "type",        "mode",
                                          "size", "sha256", "base_sha256", "target"};
#define N_FIELDS (sizeof field_names / sizeof field_names[0])

static const unsigned int op_fields[] = {
    [TARS_CHANGE_CREATE] = F_PATH | F_OP | F_TYPE | F_MODE | F_SIZE | F_SHA | F_BASE,
    [TARS_CHANGE_MODIFY] = F_PATH | F_OP | F_TYPE | F_MODE | F_SIZE | F_SHA | F_BASE,
    [TARS_CHANGE_DELETE] = F_PATH | F_OP | F_TYPE | F_BASE,
    [TARS_CHANGE_MKDIR] = F_PATH | F_OP | F_TYPE | F_MODE,
    [TARS_CHANGE_CHMOD] = F_PATH | F_OP | F_TYPE | F_MODE | F_BASE,
    [TARS_CHANGE_SYMLINK] = F_PATH | F_OP | F_TYPE | F_TARGET,
};

/* ----- writing ----- */

static cJSON *
change_to_json(const struct tars_change *c)
{
  cJSON *o = cJSON_CreateObject();
  unsigned int fields = op_fields[c->op];
  char mode[16];
  bool ok = o != NULL;

  snprintf(mode, sizeof mode, "%04o", c->mode & 07777);
  ok = ok && cJSON_AddStringToObject(o, "path", c->path);
  ok = ok && cJSON_AddStringToObject(o, "op", tars_change_op_name(c->op));
  ok = ok && cJSON_AddStringToObject(o, "type", tars_change_type_name(c->type));
  if (fields & F_MODE)
    ok = ok && cJSON_AddStringToObject(o, "mode", mode);
  if (fields & F_SIZE)
    ok = ok && cJSON_AddNumberToObject(o, "size", (double)c->size);
  if (fields & F_SHA)
    ok = ok && cJSON_AddStringToObject(o, "sha256", c->sha256);
  if (fields & F_BASE)
    ok = ok && (c->base_sha256[0] ? cJSON_AddStringToObject(o, "base_sha256", c->base_sha256)
                                  : cJSON_AddNullToObject(o, "base_sha256"));
  if (fields & F_TARGET)
    ok = ok && cJSON_AddStringToObject(o, "target", c->target ? c->target : "");
  if (!ok)
    {
      cJSON_Delete(o);
      return NULL;
    }
  return o;
}

char *
tars_changeset_to_json(const struct tars_changeset *cs, struct tars_error *err)
{
  cleanup_cjson cJSON *root = cJSON_CreateObject();
  cJSON *entries = NULL;

  if (root == NULL || !cJSON_AddNumberToObject(root, "version", TARS_CHANGESET_VERSION) ||
      (entries = cJSON_AddArrayToObject(root, "entries")) == NULL)
    return tars_error_set(err, ENOMEM, "changeset: building the manifest"), NULL;
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      cJSON *e = change_to_json(&cs->entries[i]);
      if (e == NULL || !cJSON_AddItemToArray(entries, e))
        {
          cJSON_Delete(e);
          return tars_error_set(err, ENOMEM, "changeset: building the manifest"), NULL;
        }
    }
  if (cs->exit_status >= 0 && !cJSON_AddNumberToObject(root, "exit_status", cs->exit_status))
    return tars_error_set(err, ENOMEM, "changeset: building the manifest"), NULL;
  if (cs->n_rejected > 0)
    {
      cJSON *rej = cJSON_AddArrayToObject(root, "rejected");
      for (size_t i = 0; rej && i < cs->n_rejected; i++)
        {
          cJSON *o = cJSON_CreateObject();
          if (o == NULL || !cJSON_AddItemToArray(rej, o) ||
              !cJSON_AddStringToObject(o, "path", cs->rejected[i].path) ||
              !cJSON_AddStringToObject(o, "reason", cs->rejected[i].reason))
            rej = NULL;
        }
      if (rej == NULL)
        return tars_error_set(err, ENOMEM, "changeset: building the manifest"), NULL;
    }
  char *text = cJSON_Print(root);
  if (text == NULL)
    return tars_error_set(err, ENOMEM, "changeset: printing the manifest"), NULL;
  return text;
}

/* ----- reading ----- */

static void
line_col(const char *text, size_t off, size_t *line, size_t *col)
{
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off; i++)
    {
      if (text[i] == '\n')
        {
          (*line)++;
          *col = 1;
        }
      else
        (*col)++;
    }
}

/* cJSON decodes "\u0000" into a NUL that silently cuts the C string ("a\u0000/../x" would read
 * as "a"), so the escape is refused.  Runs on text cJSON accepted: tracking strings and escapes is
 * enough.  */
static long
find_nul_escape(const char *text, size_t len)
{
  bool in_string = false;
  for (size_t i = 0; i < len; i++)
    {
      if (!in_string)
        {
          if (text[i] == '"')
            in_string = true;
          continue;
        }
      if (text[i] == '"')
        in_string = false;
      else if (text[i] == '\\' && i + 1 < len)
        {
          if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
            return (long)i;
          i++;
        }
    }
  return -1;
}

static int entry_error(struct tars_error *err, size_t i, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
entry_error(struct tars_error *err, size_t i, const char *path, const char *fmt, ...)
{
  char what[TARS_ERROR_MSG_MAX], pbuf[TARS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (path)
    return tars_error_invalid(err, "manifest.json: entry %zu ('%s'): %s", i,
                              printable(path, pbuf, sizeof pbuf), what);
  return tars_error_invalid(err, "manifest.json: entry %zu: %s", i, what);
}

static int
parse_base(struct tars_error *err, size_t i, const char *path, const cJSON *v, bool want_hash,
           char out[65])
{
  if (!want_hash)
    {
      if (!cJSON_IsNull(v))
        return entry_error(err, i, path, "\"base_sha256\" must be null here");
      out[0] = '\0';
      return 0;
    }
  if (!cJSON_IsString(v) || !valid_hex64(v->valuestring))
    return entry_error(err, i, path, "\"base_sha256\" must be 64 lowercase hex digits");
  memcpy(out, v->valuestring, 65);
  return 0;
}

static int
parse_entry(const cJSON *e, size_t i, struct tars_change *c, struct tars_error *err)
{
  const cJSON *f[N_FIELDS] = {NULL};
  const char *path = NULL;

  if (!cJSON_IsObject(e))
    return entry_error(err, i, NULL, "not an object");
  for (const cJSON *k = e->child; k; k = k->next)
    {
      size_t j;
      for (j = 0; j < N_FIELDS; j++)
        if (strcmp(k->string, field_names[j]) == 0)
          break;
      if (j == N_FIELDS)
        {
          char kbuf[256];
          return entry_error(err, i, NULL, "unknown field \"%s\"",
                             printable(k->string, kbuf, sizeof kbuf));
        }
      if (f[j])
        return entry_error(err, i, NULL, "duplicate field \"%s\"", field_names[j]);
      f[j] = k;
    }

  if (!f[0] || !cJSON_IsString(f[0]))
    return entry_error(err, i, NULL, "\"path\" is missing or not a string");
  path = f[0]->valuestring;
  const char *problem = path_problem(path);
  if (problem)
    return entry_error(err, i, path, "%s", problem);

  if (!f[1] || !cJSON_IsString(f[1]))
    return entry_error(err, i, path, "\"op\" is missing or not a string");
  size_t op;
  for (op = 0; op < N_OPS; op++)
    if (strcmp(f[1]->valuestring, op_names[op]) == 0)
      break;
  if (op == N_OPS)
    {
      char obuf[256];
      return entry_error(err, i, path, "unknown op \"%s\"",
                         printable(f[1]->valuestring, obuf, sizeof obuf));
    }
  c->op = (enum tars_change_op)op;

  unsigned int want = op_fields[op];
  for (size_t j = 0; j < N_FIELDS; j++)
    {
      if ((want & (1u << j)) && !f[j])
        return entry_error(err, i, path, "\"%s\" is missing (op %s)", field_names[j], op_names[op]);
      if (!(want & (1u << j)) && f[j])
        return entry_error(err, i, path, "\"%s\" is not allowed with op %s", field_names[j],
                           op_names[op]);
    }

  size_t type = N_TYPES;
  if (cJSON_IsString(f[2]))
    for (type = 0; type < N_TYPES; type++)
      if (strcmp(f[2]->valuestring, type_names[type]) == 0)
        break;
  if (type == N_TYPES)
    return entry_error(err, i, path, "\"type\" must be \"file\", \"dir\" or \"symlink\"");
  c->type = (enum tars_change_type)type;
  bool type_ok;
  switch (c->op)
    {
    case TARS_CHANGE_CREATE:
    case TARS_CHANGE_MODIFY:
      type_ok = c->type == TARS_CHANGE_FILE;
      break;
    case TARS_CHANGE_MKDIR:
      type_ok = c->type == TARS_CHANGE_DIR;
      break;
    case TARS_CHANGE_CHMOD:
      type_ok = c->type != TARS_CHANGE_LINK;
      break;
    case TARS_CHANGE_SYMLINK:
      type_ok = c->type == TARS_CHANGE_LINK;
      break;
    default:
      type_ok = true;
    }
  if (!type_ok)
    return entry_error(err, i, path, "type \"%s\" does not go with op %s", type_names[type],
                       op_names[op]);

  if (want & F_MODE)
    {
      const char *m = cJSON_IsString(f[3]) ? f[3]->valuestring : "";
      if (strlen(m) != 4 || strspn(m, "01234567") != 4)
        return entry_error(err, i, path, "\"mode\" must be 4 octal digits, like \"0644\"");
      c->mode = (unsigned int)strtoul(m, NULL, 8);
      if (c->mode & 06000)
        return entry_error(err, i, path, "setuid and setgid modes are not allowed");
    }
  if (want & F_SIZE)
    {
      double d = cJSON_IsNumber(f[4]) ? f[4]->valuedouble : -1;
      if (!(d >= 0 && d <= SIZE_MAX_EXACT) || d != (double)(uint64_t)d)
        return entry_error(err, i, path, "\"size\" must be a whole number of bytes");
      c->size = (uint64_t)d;
    }
  if (want & F_SHA)
    {
      if (!cJSON_IsString(f[5]) || !valid_hex64(f[5]->valuestring))
        return entry_error(err, i, path, "\"sha256\" must be 64 lowercase hex digits");
      memcpy(c->sha256, f[5]->valuestring, 65);
    }
  if (want & F_BASE)
    {
      bool hash = c->op == TARS_CHANGE_MODIFY ||
                  (c->type == TARS_CHANGE_FILE &&
                   (c->op == TARS_CHANGE_DELETE || c->op == TARS_CHANGE_CHMOD));
      if (parse_base(err, i, path, f[6], hash, c->base_sha256) < 0)
        return -1;
    }
  if (want & F_TARGET)
    {
      const char *t = cJSON_IsString(f[7]) ? f[7]->valuestring : "";
      size_t tl = strlen(t);
      if (tl == 0 || tl >= PATH_MAX || !tars_text_is_clean(t, tl))
        return entry_error(err, i, path,
                           "\"target\" must be a non-empty UTF-8 string without control "
                           "characters, shorter than PATH_MAX");
      c->target = strdup(t);
      if (c->target == NULL)
        return tars_error_set(err, ENOMEM, "manifest.json");
    }
  c->path = strdup(path);
  if (c->path == NULL)
    return tars_error_set(err, ENOMEM, "manifest.json");
  return 0;
}

/* What the changeset does to one path: at most one deletion and one other operation.  */
struct path_ops
{
  const char *path;
  const struct tars_change *del;
  const struct tars_change *put;
};

static int
path_ops_cmp(const void *a, const void *b)
{
  return strcmp(((const struct path_ops *)a)->path, ((const struct path_ops *)b)->path);
}

static const struct path_ops *
path_ops_find(const struct path_ops *v, size_t n, const char *path)
{
  struct path_ops key = {.path = path};
  return bsearch(&key, v, n, sizeof *v, path_ops_cmp);
}

/* The entries must describe one consistent change of a tree: no path twice (except a deletion
 * followed by a create), nothing beneath a file, nothing new beneath a deleted directory unless it
 * is created again, nothing modified or deleted beneath a directory that did not exist.  */
static int
check_structure(const struct tars_changeset *cs, struct tars_error *err)
{
  cleanup_free struct path_ops *v = calloc(cs->n_entries ? cs->n_entries : 1, sizeof *v);
  cleanup_free char *buf = malloc(PATH_MAX);
  size_t n = 0;
  char pbuf[TARS_ERROR_MSG_MAX];

  if (v == NULL || buf == NULL)
    return tars_error_set(err, ENOMEM, "manifest.json");
  for (size_t i = 0; i < cs->n_entries; i++)
    v[i].path = cs->entries[i].path;
  qsort(v, cs->n_entries, sizeof *v, path_ops_cmp);
  /* Merge equal paths, then fill each with its entries.  */
  for (size_t i = 0; i < cs->n_entries; i++)
    if (n == 0 || strcmp(v[n - 1].path, v[i].path) != 0)
      v[n++].path = v[i].path;
  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      struct path_ops *p = (struct path_ops *)path_ops_find(v, n, c->path);
      const struct tars_change **slot = c->op == TARS_CHANGE_DELETE ? &p->del : &p->put;
      if (*slot)
        return tars_error_invalid(err, "manifest.json: duplicate path '%s'",
                                  printable(c->path, pbuf, sizeof pbuf));
      *slot = c;
    }
  for (size_t i = 0; i < n; i++)
    if (v[i].del && v[i].put)
      {
        enum tars_change_op op = v[i].put->op;
        if ((op != TARS_CHANGE_CREATE && op != TARS_CHANGE_MKDIR && op != TARS_CHANGE_SYMLINK) ||
            (op == TARS_CHANGE_CREATE && v[i].del->type == TARS_CHANGE_FILE) ||
            (op == TARS_CHANGE_MKDIR && v[i].del->type == TARS_CHANGE_DIR))
          return tars_error_invalid(err, "manifest.json: duplicate path '%s' (delete and %s)",
                                    printable(v[i].path, pbuf, sizeof pbuf), op_names[op]);
      }

  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      const char *why = NULL;
      strcpy(buf, c->path);
      for (char *slash; why == NULL && (slash = strrchr(buf, '/')) != NULL;)
        {
          *slash = '\0';
          const struct path_ops *a = path_ops_find(v, n, buf);
          if (a == NULL)
            continue; /* untouched: a directory before and after */
          bool dir_before = a->del ? a->del->type == TARS_CHANGE_DIR
                                   : !a->put || (a->put->op == TARS_CHANGE_CHMOD &&
                                                 a->put->type == TARS_CHANGE_DIR);
          bool dir_after = a->put ? a->put->type == TARS_CHANGE_DIR : !a->del;
          switch (c->op)
            {
            case TARS_CHANGE_DELETE:
              if (!dir_before)
                why = "is deleted but was not beneath a directory";
              break;
            case TARS_CHANGE_MODIFY:
            case TARS_CHANGE_CHMOD:
              if (!dir_before || !dir_after || a->del)
                why = "is changed in place but lies beneath a path that is replaced";
              break;
            default:
              if (!dir_after)
                why = "is created but does not lie beneath a directory";
            }
        }
      if (why)
        {
          char abuf[TARS_ERROR_MSG_MAX];
          return tars_error_invalid(err, "manifest.json: '%s' (%s) %s: '%s'",
                                    printable(c->path, pbuf, sizeof pbuf), op_names[c->op], why,
                                    printable(buf, abuf, sizeof abuf));
        }
    }
  return 0;
}

static int
check_objects(int dfd, const struct tars_changeset *cs, struct tars_error *err)
{
  cleanup_close int objects = -1;
  char pbuf[TARS_ERROR_MSG_MAX];

  for (size_t i = 0; i < cs->n_entries; i++)
    {
      const struct tars_change *c = &cs->entries[i];
      struct stat st;
      if (c->op != TARS_CHANGE_CREATE && c->op != TARS_CHANGE_MODIFY)
        continue;
      const char *p = printable(c->path, pbuf, sizeof pbuf);
      if (objects < 0)
        {
          objects = openat(dfd, OBJECTS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (objects < 0)
            {
              if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
                return tars_error_invalid(err, "objects/: missing (it should hold '%s')", p);
              return tars_error_set(err, errno, "objects/: open");
            }
        }
      if (fstatat(objects, c->sha256, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            return tars_error_invalid(err, "objects/%s: missing (the content of '%s')", c->sha256,
                                      p);
          return tars_error_set(err, errno, "objects/%s: stat", c->sha256);
        }
      if (!S_ISREG(st.st_mode))
        return tars_error_invalid(err, "objects/%s: not a regular file (the content of '%s')",
                                  c->sha256, p);
      if ((uint64_t)st.st_size != c->size)
        return tars_error_invalid(
            err, "objects/%s: holds %llu bytes, the manifest says %llu for '%s'", c->sha256,
            (unsigned long long)st.st_size, (unsigned long long)c->size, p);
    }
  return 0;
}

/* "rejected": [{"path", "reason"}], both clean text (they are shown to people), no other key.  */
static int
parse_rejected(const cJSON *rejected, struct tars_changeset *cs, struct tars_error *err)
{
  if (!cJSON_IsArray(rejected))
    return tars_error_invalid(err, "manifest.json: \"rejected\" is not an array");
  size_t n = (size_t)cJSON_GetArraySize(rejected);
  if (n > MANIFEST_MAX_REJECTED)
    return tars_error_invalid(err, "manifest.json: more than %u \"rejected\" entries",
                              MANIFEST_MAX_REJECTED);
  cs->rejected = calloc(n ? n : 1, sizeof *cs->rejected);
  if (cs->rejected == NULL)
    return tars_error_set(err, ENOMEM, "manifest.json");
  size_t i = 0;
  for (const cJSON *e = rejected->child; e; e = e->next, i++)
    {
      const cJSON *path = NULL, *reason = NULL;
      if (!cJSON_IsObject(e))
        return tars_error_invalid(err, "manifest.json: rejected[%zu] is not an object", i);
      for (const cJSON *k = e->child; k; k = k->next)
        {
          const cJSON **slot = strcmp(k->string, "path") == 0     ? &path
                               : strcmp(k->string, "reason") == 0 ? &reason
                                                                  : NULL;
          char kbuf[256];
          if (slot == NULL)
            return tars_error_invalid(err, "manifest.json: rejected[%zu]: unknown field \"%s\"", i,
                                      printable(k->string, kbuf, sizeof kbuf));
          if (*slot)
            return tars_error_invalid(err, "manifest.json: rejected[%zu]: duplicate field \"%s\"",
                                      i, k->string);
          *slot = k;
        }
      if (!cJSON_IsString(path) || !cJSON_IsString(reason) ||
          !tars_text_is_clean(path->valuestring, strlen(path->valuestring)) ||
          !tars_text_is_clean(reason->valuestring, strlen(reason->valuestring)))
        return tars_error_invalid(err,
                                  "manifest.json: rejected[%zu] needs \"path\" and \"reason\", "
                                  "strings of clean text",
                                  i);
      cs->rejected[i].path = strdup(path->valuestring);
      cs->rejected[i].reason = strdup(reason->valuestring);
      cs->n_rejected = i + 1;
      if (cs->rejected[i].path == NULL || cs->rejected[i].reason == NULL)
        return tars_error_set(err, ENOMEM, "manifest.json");
    }
  return 0;
}

static int
parse_manifest(const char *text, size_t len, struct tars_changeset *cs, struct tars_error *err)
{
  cleanup_cjson cJSON *root = NULL;
  const char *end = NULL;
  size_t line, col;

  if (len == 0)
    return tars_error_invalid(err, "manifest.json: the file is empty");
  /* JSON has no byte-order mark (RFC 8259 section 8.1) and other JSON tools refuse one: a
   * manifest that only tars would read the same way is not one to trust.  */
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    return tars_error_invalid(err, "manifest.json: starts with a UTF-8 byte-order mark, which JSON "
                                   "does not allow");
  const char *nul = memchr(text, '\0', len);
  if (nul)
    {
      line_col(text, (size_t)(nul - text), &line, &col);
      return tars_error_invalid(err, "manifest.json: a NUL byte at line %zu, column %zu", line,
                                col);
    }
  root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (root == NULL)
    {
      size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
      line_col(text, off, &line, &col);
      return tars_error_invalid(err, "manifest.json: malformed JSON at line %zu, column %zu", line,
                                col);
    }
  for (size_t rest = (size_t)(end - text); rest < len; rest++)
    if (!strchr(" \t\r\n", text[rest]))
      return tars_error_invalid(err, "manifest.json: trailing data after the JSON value");
  long bad = find_nul_escape(text, len);
  if (bad >= 0)
    {
      line_col(text, (size_t)bad, &line, &col);
      return tars_error_invalid(err, "manifest.json: a \\u0000 escape at line %zu, column %zu",
                                line, col);
    }

  if (!cJSON_IsObject(root))
    return tars_error_invalid(err, "manifest.json: the top level is not an object");
  const cJSON *version = NULL, *entries = NULL, *exit_status = NULL, *rejected = NULL;
  for (const cJSON *k = root->child; k; k = k->next)
    {
      const cJSON **slot;
      if (strcmp(k->string, "version") == 0)
        slot = &version;
      else if (strcmp(k->string, "entries") == 0)
        slot = &entries;
      else if (strcmp(k->string, "exit_status") == 0)
        slot = &exit_status;
      else if (strcmp(k->string, "rejected") == 0)
        slot = &rejected;
      else
        {
          char kbuf[256];
          return tars_error_invalid(err, "manifest.json: unknown field \"%s\"",
                                    printable(k->string, kbuf, sizeof kbuf));
        }
      if (*slot)
        return tars_error_invalid(err, "manifest.json: duplicate field \"%s\"", k->string);
      *slot = k;
    }
  if (!cJSON_IsNumber(version) || version->valuedouble != TARS_CHANGESET_VERSION)
    return tars_error_invalid(err, "manifest.json: \"version\" must be %d", TARS_CHANGESET_VERSION);
  if (!cJSON_IsArray(entries))
    return tars_error_invalid(err, "manifest.json: \"entries\" is missing or not an array");

  cs->exit_status = -1;
  if (exit_status)
    {
      double d = cJSON_IsNumber(exit_status) ? exit_status->valuedouble : -1;
      if (d < 0 || d > 255 || d != (double)(int)d)
        return tars_error_invalid(err, "manifest.json: \"exit_status\" must be an integer from 0 "
                                       "to 255");
      cs->exit_status = (int)d;
    }
  if (rejected && parse_rejected(rejected, cs, err) < 0)
    return -1;

  size_t n = (size_t)cJSON_GetArraySize(entries);
  cs->version = TARS_CHANGESET_VERSION;
  cs->entries = calloc(n ? n : 1, sizeof *cs->entries);
  if (cs->entries == NULL)
    return tars_error_set(err, ENOMEM, "manifest.json");
  size_t i = 0;
  for (const cJSON *e = entries->child; e && i < n; e = e->next, i++)
    {
      cs->n_entries = i + 1;
      if (parse_entry(e, i, &cs->entries[i], err) < 0)
        return -1;
    }
  qsort(cs->entries, cs->n_entries, sizeof *cs->entries, change_cmp);
  return check_structure(cs, err);
}

int
tars_changeset_parse(const char *text, size_t len, struct tars_changeset *cs,
                     struct tars_error *err)
{
  memset(cs, 0, sizeof *cs);
  if (parse_manifest(text, len, cs, err) < 0)
    {
      tars_changeset_free(cs);
      return -1;
    }
  return 0;
}

int
tars_changeset_load(int dfd, struct tars_changeset *cs, struct tars_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *text = NULL;
  struct stat st;
  size_t len = 0;

  memset(cs, 0, sizeof *cs);
  fd = openat(dfd, MANIFEST_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT || errno == ELOOP)
        return tars_error_invalid(err, "manifest.json: %s",
                                  errno == ENOENT ? "no such file" : "is a symlink");
      return tars_error_set(err, errno, "manifest.json: open");
    }
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "manifest.json: stat");
  if (!S_ISREG(st.st_mode))
    return tars_error_invalid(err, "manifest.json: not a regular file");
  if (st.st_size > (off_t)MANIFEST_MAX_BYTES)
    return tars_error_invalid(err, "manifest.json: larger than %u bytes", MANIFEST_MAX_BYTES);
  text = malloc((size_t)st.st_size + 1);
  if (text == NULL)
    return tars_error_set(err, ENOMEM, "manifest.json");
  for (;;)
    {
      ssize_t r = read(fd, text + len, (size_t)st.st_size + 1 - len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "manifest.json: read");
      if (r == 0)
        break;
      len += (size_t)r;
      if (len > (size_t)st.st_size)
        return tars_error_invalid(err, "manifest.json: it grew while being read");
    }
  if (tars_changeset_parse(text, len, cs, err) < 0 || check_objects(dfd, cs, err) < 0)
    {
      tars_changeset_free(cs);
      return -1;
    }
  return 0;
}

/* ----- capture ----- */

/* A directory as seen through a stack of layers: its file descriptor in each layer that
 * contributes to it, topmost first.  */
struct stack
{
  int *fds;
  size_t n;
};

static void
stack_free(struct stack *s)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->fds[i] >= 0)
      close(s->fds[i]);
  free(s->fds);
  s->fds = NULL;
  s->n = 0;
}

/* Takes FD.  */
static int
stack_push(struct stack *s, int fd, struct tars_error *err)
{
  int *v = realloc(s->fds, (s->n + 1) * sizeof *v);
  if (v == NULL)
    {
      close(fd);
      return tars_error_set(err, ENOMEM, "capture");
    }
  s->fds = v;
  s->fds[s->n++] = fd;
  return 0;
}

/* What the lower layers show at a path.  */
enum node_kind
{
  NODE_ABSENT,
  NODE_FILE,
  NODE_DIR,
  NODE_LINK,
  NODE_OTHER,
};

struct node
{
  enum node_kind kind;
  struct stat st;
  int fd;                /* NODE_FILE: open for reading */
  struct stack children; /* NODE_DIR */
  char *target;          /* NODE_LINK */
};

static void
node_free(struct node *n)
{
  if (n->fd >= 0)
    close(n->fd);
  n->fd = -1;
  stack_free(&n->children);
  free(n->target);
  n->target = NULL;
}
#define cleanup_node __attribute__((cleanup(node_free)))
#define NODE_INIT                                                                                  \
  {                                                                                                \
    .kind = NODE_ABSENT, .fd = -1                                                                  \
  }

/* A tree deeper than this is rejected where it passes it: each level holds two or three
 * descriptors while it is walked, and no source tree needs more.  */
#define MAX_DEPTH 256
/* Returned where an entry is rejected (recorded in the changeset's "rejected", skipped).  */
#define REJECTED 1

struct ctx
{
  struct tars_changeset cs;
  size_t cap, rejected_cap;
  int depth;
  int objects_dfd;
  uint64_t max_bytes, bytes; /* limit (0: none) and total of the new contents so far */
  struct tars_error *err;
  size_t len;
  char path[PATH_MAX];
};

static int
ctx_refuse(struct ctx *c, const char *why)
{
  char buf[TARS_ERROR_MSG_MAX];
  return tars_error_refused(c->err, "capture: refusing '%s': %s",
                            printable(c->path, buf, sizeof buf), why);
}

/* What the command made but a changeset cannot hold: recorded as rejected (the apply policy then
 * refuses the changeset, naming it) and skipped, so that the rest is still captured and nothing
 * the command does makes the whole capture fail.  Returns REJECTED, or -1 when out of memory.  */
static int
ctx_reject(struct ctx *c, const char *why)
{
  struct tars_changeset *cs = &c->cs;
  if (cs->n_rejected == c->rejected_cap)
    {
      size_t cap = c->rejected_cap ? c->rejected_cap * 2 : 8;
      struct tars_rejected *v = realloc(cs->rejected, cap * sizeof *v);
      if (v == NULL)
        return tars_error_set(c->err, ENOMEM, "capture");
      cs->rejected = v;
      c->rejected_cap = cap;
    }
  char buf[TARS_ERROR_MSG_MAX];
  struct tars_rejected *r = &cs->rejected[cs->n_rejected];
  r->path = strdup(printable(c->path, buf, sizeof buf));
  r->reason = strdup(why);
  if (r->path == NULL || r->reason == NULL)
    {
      free(r->path);
      free(r->reason);
      return tars_error_set(c->err, ENOMEM, "capture");
    }
  cs->n_rejected++;
  return REJECTED;
}

static int
ctx_syserr(struct ctx *c, int errnum, const char *what)
{
  char buf[TARS_ERROR_MSG_MAX];
  return tars_error_set(c->err, errnum, "capture: %s '%s'", what,
                        printable(c->path, buf, sizeof buf));
}

static int
ctx_changed(struct ctx *c)
{
  char buf[TARS_ERROR_MSG_MAX];
  return tars_error_set(c->err, 0, "capture: '%s' changed while being captured",
                        printable(c->path, buf, sizeof buf));
}

/* Append NAME to the current path; refuse names that cannot go into a manifest.  */
static int
path_push(struct ctx *c, const char *name, size_t *saved)
{
  size_t nl = strlen(name);
  size_t need = c->len + (c->len ? 1 : 0) + nl;
  *saved = c->len;
  if (need >= PATH_MAX)
    return ctx_reject(c, "a name beneath this path makes it longer than PATH_MAX");
  if (c->len)
    c->path[c->len++] = '/';
  memcpy(c->path + c->len, name, nl + 1);
  c->len = need;
  if (!tars_text_is_clean(name, nl))
    return ctx_reject(c, "the name is not valid UTF-8 or holds a control character");
  return 0;
}

static void
path_pop(struct ctx *c, size_t saved)
{
  c->len = saved;
  c->path[saved] = '\0';
}

static struct tars_change *
add_change(struct ctx *c, enum tars_change_op op, enum tars_change_type type)
{
  if (c->cs.n_entries == c->cap)
    {
      size_t cap = c->cap ? c->cap * 2 : 64;
      struct tars_change *v = realloc(c->cs.entries, cap * sizeof *v);
      if (v == NULL)
        return tars_error_set(c->err, ENOMEM, "capture"), NULL;
      c->cs.entries = v;
      c->cap = cap;
    }
  struct tars_change *e = &c->cs.entries[c->cs.n_entries];
  memset(e, 0, sizeof *e);
  e->path = strdup(c->path);
  if (e->path == NULL)
    return tars_error_set(c->err, ENOMEM, "capture"), NULL;
  e->op = op;
  e->type = type;
  c->cs.n_entries++;
  return e;
}

/* Whether the overlay xattr "overlay.NAME" is set, in the trusted. or the user. namespace, with
 * the value WANT (any value when NULL).  Returns 1, 0, or -1 on errors.  */
static int
ovl_xattr(struct ctx *c, int fd, const char *name, const char *want)
{
  static const char *const namespaces[] = {"trusted.overlay.", "user.overlay."};
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
    {
      char key[64], val[16];
      snprintf(key, sizeof key, "%s%s", namespaces[i], name);
      ssize_t r = fgetxattr(fd, key, val, sizeof val - 1);
      if (r < 0 && errno == ERANGE)
        r = sizeof val; /* present, too long to be WANT */
      else if (r < 0)
        {
          if (errno == ENODATA || errno == ENOTSUP)
            continue;
          return ctx_syserr(c, errno, "read the xattrs of");
        }
      if (want == NULL)
        return 1;
      if ((size_t)r == strlen(want) && memcmp(val, want, (size_t)r) == 0)
        return 1;
    }
  return 0;
}

/* Open NAME in DFD, never following a symlink, and check it is still what fstatat saw.  */
static int
open_checked(struct ctx *c, int dfd, const char *name, const struct stat *seen, bool dir)
{
  int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  struct stat st;
  cleanup_close int fd = openat(dfd, name, flags | (dir ? O_DIRECTORY : 0));
  if (fd < 0)
    return ctx_syserr(c, errno, "open");
  if (fstat(fd, &st) < 0)
    return ctx_syserr(c, errno, "stat");
  if (st.st_dev != seen->st_dev || st.st_ino != seen->st_ino ||
      (st.st_mode & S_IFMT) != (seen->st_mode & S_IFMT))
    return ctx_changed(c);
  return steal_fd(&fd);
}

static int
cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory DFD, sorted, NULL-terminated.  Appends to *NAMES (N entries).  */
static int
list_names(struct ctx *c, int dfd, char ***names, size_t *n)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return ctx_syserr(c, errno, "open directory");
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return ctx_syserr(c, errno, "open directory");
    }
  if (*names == NULL)
    {
      *names = calloc(1, sizeof **names);
      if (*names == NULL)
        return tars_error_set(c->err, ENOMEM, "capture");
    }
  for (;;)
    {
      errno = 0;
      struct dirent *de = readdir(d);
      if (de == NULL)
        {
          if (errno)
            return ctx_syserr(c, errno, "read directory");
          break;
        }
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      char **v = realloc(*names, (*n + 2) * sizeof *v);
      if (v == NULL)
        return tars_error_set(c->err, ENOMEM, "capture");
      *names = v;
      v[*n] = strdup(de->d_name);
      v[*n + 1] = NULL;
      if (v[*n] == NULL)
        return tars_error_set(c->err, ENOMEM, "capture");
      (*n)++;
    }
  qsort(*names, *n, sizeof **names, cmp_names);
  return 0;
}

/* The names in a merged directory, sorted and unique (whited-out names included: lookup sorts
 * them out).  */
static int
list_merged(struct ctx *c, const struct stack *st, char ***names, size_t *n)
{
  *names = NULL;
  *n = 0;
  for (size_t i = 0; i < st->n; i++)
    if (list_names(c, st->fds[i], names, n) < 0)
      return -1;
  size_t o = 0;
  for (size_t i = 0; i < *n; i++)
    {
      if (o > 0 && strcmp((*names)[o - 1], (*names)[i]) == 0)
        {
          free((*names)[i]);
          continue;
        }
      (*names)[o++] = (*names)[i];
    }
  if (*names)
    (*names)[o] = NULL;
  *n = o;
  return 0;
}

static bool
is_whiteout_dev(const struct stat *st)
{
  return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

static int
read_target(struct ctx *c, int dfd, const char *name, char **out)
{
  cleanup_free char *buf = malloc(PATH_MAX);
  if (buf == NULL)
    return tars_error_set(c->err, ENOMEM, "capture");
  ssize_t r = readlinkat(dfd, name, buf, PATH_MAX);
  if (r < 0)
    return ctx_syserr(c, errno, "read the symlink");
  if (r >= PATH_MAX)
    return ctx_refuse(c, "the symlink's target is longer than PATH_MAX");
  buf[r] = '\0';
  *out = steal_pointer(&buf);
  return 0;
}

/* What the lower layers ST show as NAME, the overlay way: the topmost layer that has the name
 * decides; a whiteout hides it; directories merge down to the first opaque one.  */
static int
lookup(struct ctx *c, const struct stack *st, const char *name, struct node *out)
{
  for (size_t i = 0; i < st->n; i++)
    {
      struct stat sb;
      if (fstatat(st->fds[i], name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          return ctx_syserr(c, errno, "stat (in a lower layer)");
        }
      if (out->kind == NODE_DIR && !S_ISDIR(sb.st_mode))
        break;
      if (S_ISDIR(sb.st_mode))
        {
          int fd = open_checked(c, st->fds[i], name, &sb, true);
          if (fd < 0)
            return -1;
          if (out->kind == NODE_ABSENT)
            out->st = sb;
          out->kind = NODE_DIR;
          if (stack_push(&out->children, fd, c->err) < 0)
            return -1;
          int opaque = ovl_xattr(c, fd, "opaque", "y");
          if (opaque < 0)
            return -1;
          if (opaque)
            break;
          continue;
        }
      if (is_whiteout_dev(&sb))
        break;
      out->st = sb;
      if (S_ISREG(sb.st_mode))
        {
          out->fd = open_checked(c, st->fds[i], name, &sb, false);
          if (out->fd < 0)
            return -1;
          int w = ovl_xattr(c, out->fd, "whiteout", NULL);
          if (w < 0)
            return -1;
          if (w)
            {
              close(out->fd);
              out->fd = -1;
              break;
            }
          out->kind = NODE_FILE;
        }
      else if (S_ISLNK(sb.st_mode))
        {
          if (read_target(c, st->fds[i], name, &out->target) < 0)
            return -1;
          out->kind = NODE_LINK;
        }
      else
        out->kind = NODE_OTHER;
      break;
    }
  return 0;
}

static int
hash_fd(struct ctx *c, int fd, char hex[65])
{
  char buf[TARS_ERROR_MSG_MAX];
  if (lseek(fd, 0, SEEK_SET) < 0)
    return ctx_syserr(c, errno, "seek");
  if (tars_sha256_fd(fd, hex, c->err) < 0)
    return tars_error_prefix(c->err, "capture: '%s'", printable(c->path, buf, sizeof buf));
  return 0;
}

/* An entry for the lower node N (at the current path) and everything beneath it, deepest first.
 */
static int
delete_tree(struct ctx *c, struct node *n)
{
  struct tars_change *e;
  switch (n->kind)
    {
    case NODE_ABSENT:
      return 0;
    case NODE_FILE:
      {
        char hex[65];
        if (hash_fd(c, n->fd, hex) < 0 ||
            (e = add_change(c, TARS_CHANGE_DELETE, TARS_CHANGE_FILE)) == NULL)
          return -1;
        memcpy(e->base_sha256, hex, sizeof hex);
        return 0;
      }
    case NODE_LINK:
      return add_change(c, TARS_CHANGE_DELETE, TARS_CHANGE_LINK) ? 0 : -1;
    case NODE_OTHER:
      return ctx_reject(c, "it would delete a special file (device, fifo or socket) of the "
                           "lower layer, which a changeset cannot describe");
    case NODE_DIR:
      break;
    }

  cleanup_strv char **names = NULL;
  size_t n_names = 0;
  if (list_merged(c, &n->children, &names, &n_names) < 0)
    return -1;
  for (size_t i = 0; i < n_names; i++)
    {
      cleanup_node struct node child = NODE_INIT;
      size_t saved;
      int r = path_push(c, names[i], &saved);
      if (r == 0)
        r = lookup(c, &n->children, names[i], &child);
      if (r == 0)
        r = delete_tree(c, &child);
      path_pop(c, saved);
      if (r < 0)
        return r;
    }
  return add_change(c, TARS_CHANGE_DELETE, TARS_CHANGE_DIR) ? 0 : -1;
}

/* Copy the upper file FD into objects/HEX, unless an earlier file had the same content.  The copy
 * is hashed again: content that changed between the two reads is an error, not a wrong object.  */
static int
store_object(struct ctx *c, int fd, const char hex[65], uint64_t *size)
{
  struct stat st;
  char tmp[80], check[65];

  if (fstatat(c->objects_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      *size = (uint64_t)st.st_size;
      return 0;
    }
  if (errno != ENOENT)
    return tars_error_set(c->err, errno, "capture: stat objects/%s", hex);
  snprintf(tmp, sizeof tmp, ".tmp-%s", hex);
  cleanup_close int out =
      openat(c->objects_dfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (out < 0)
    return tars_error_set(c->err, errno, "capture: create objects/%s", tmp);
  if (lseek(fd, 0, SEEK_SET) < 0)
    return ctx_syserr(c, errno, "seek");

  uint64_t total = 0;
  bool fallback = false;
  for (;;)
    {
      ssize_t r;
      if (!fallback)
        {
          r = copy_file_range(fd, NULL, out, NULL, 1 << 30, 0);
          if (r < 0 &&
              (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
               errno == EBADF) &&
              total == 0)
            {
              fallback = true;
              continue;
            }
        }
      else
        r = sendfile(out, fd, NULL, 1 << 30);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return ctx_syserr(c, errno, "copy");
      if (r == 0)
        break;
      total += (uint64_t)r;
    }
  if (lseek(out, 0, SEEK_SET) < 0)
    return tars_error_set(c->err, errno, "capture: seek objects/%s", tmp);
  if (tars_sha256_fd(out, check, c->err) < 0)
    return tars_error_prefix(c->err, "capture: objects/%s", tmp);
  if (strcmp(check, hex) != 0)
    return ctx_changed(c);
  if (fchmod(out, 0644) < 0 || fsync(out) < 0)
    return tars_error_set(c->err, errno, "capture: write objects/%s", tmp);
  if (renameat(c->objects_dfd, tmp, c->objects_dfd, hex) < 0)
    return tars_error_set(c->err, errno, "capture: rename objects/%s", tmp);
  *size = total;
  return 0;
}

static int walk_dir(struct ctx *c, int upper_dfd, const struct stack *base, bool hidden);

static int
upper_whiteout(struct ctx *c, const struct stack *base, const char *name)
{
  cleanup_node struct node b = NODE_INIT;
  if (lookup(c, base, name, &b) < 0)
    return -1;
  return delete_tree(c, &b);
}

static int
upper_file(struct ctx *c, int dfd, const char *name, const struct stat *sb,
           const struct stack *base)
{
  cleanup_node struct node b = NODE_INIT;
  cleanup_close int fd = open_checked(c, dfd, name, sb, false);
  char hex[65], base_hex[65];
  unsigned int mode = sb->st_mode & 07777;
  int r;

  if (fd < 0)
    return -1;
  if ((r = ovl_xattr(c, fd, "whiteout", NULL)) != 0)
    return r < 0 ? r : upper_whiteout(c, base, name);
  if (sb->st_mode & (S_ISUID | S_ISGID))
    return ctx_reject(c, "setuid and setgid files are not allowed");
  if ((r = ovl_xattr(c, fd, "metacopy", NULL)) != 0)
    return r < 0 ? r : ctx_reject(c, "metacopy files (overlay.metacopy) are not supported");
  if (hash_fd(c, fd, hex) < 0 || lookup(c, base, name, &b) < 0)
    return -1;

  struct tars_change *e;
  if (b.kind == NODE_FILE)
    {
      if (hash_fd(c, b.fd, base_hex) < 0)
        return -1;
      if (strcmp(hex, base_hex) == 0)
        {
          if (mode == (b.st.st_mode & 07777))
            return 0; /* copied up, unchanged */
          if ((e = add_change(c, TARS_CHANGE_CHMOD, TARS_CHANGE_FILE)) == NULL)
            return -1;
          e->mode = mode;
          memcpy(e->base_sha256, base_hex, sizeof base_hex);
          return 0;
        }
    }
  else if ((r = delete_tree(c, &b)) != 0)
    return r;

  uint64_t size = 0;
  if (c->max_bytes && (uint64_t)sb->st_size > c->max_bytes - c->bytes)
    {
      char why[128];
      snprintf(why, sizeof why, "the changes exceed the limit of %llu bytes",
               (unsigned long long)c->max_bytes);
      return ctx_reject(c, why);
    }
  if (store_object(c, fd, hex, &size) < 0)
    return -1;
  c->bytes += size;
  e = add_change(c, b.kind == NODE_FILE ? TARS_CHANGE_MODIFY : TARS_CHANGE_CREATE,
                 TARS_CHANGE_FILE);
  if (e == NULL)
    return -1;
  e->mode = mode;
  e->size = size;
  memcpy(e->sha256, hex, sizeof hex);
  if (b.kind == NODE_FILE)
    memcpy(e->base_sha256, base_hex, sizeof base_hex);
  return 0;
}

static int
upper_symlink(struct ctx *c, int dfd, const char *name, const struct stack *base)
{
  cleanup_node struct node b = NODE_INIT;
  cleanup_free char *target = NULL;

  if (read_target(c, dfd, name, &target) < 0)
    return -1;
  if (target[0] == '\0' || !tars_text_is_clean(target, strlen(target)))
    return ctx_reject(c, "the symlink's target is not valid UTF-8 or holds a control character");
  if (lookup(c, base, name, &b) < 0)
    return -1;
  if (b.kind == NODE_LINK && strcmp(b.target, target) == 0)
    return 0;
  int r = delete_tree(c, &b);
  if (r != 0)
    return r;
  struct tars_change *e = add_change(c, TARS_CHANGE_SYMLINK, TARS_CHANGE_LINK);
  if (e == NULL)
    return -1;
  e->target = steal_pointer(&target);
  return 0;
}

static int
upper_dir(struct ctx *c, int dfd, const char *name, const struct stat *sb, const struct stack *base,
          bool hidden)
{
  cleanup_node struct node b = NODE_INIT;
  cleanup_close int fd = open_checked(c, dfd, name, sb, true);
  /* The set-group-ID bit of a directory only steers new files' group: it is not kept.  */
  unsigned int mode = sb->st_mode & 01777;
  int r, opaque;

  if (fd < 0)
    return -1;
  if ((r = ovl_xattr(c, fd, "redirect", NULL)) != 0)
    return r < 0 ? r : ctx_reject(c, "renamed directory (overlay.redirect) is not supported");
  if ((r = ovl_xattr(c, fd, "metacopy", NULL)) != 0)
    return r < 0 ? r : ctx_reject(c, "overlay.metacopy is not supported");
  if (c->depth >= MAX_DEPTH)
    {
      char why[96];
      snprintf(why, sizeof why, "the tree is deeper than %d levels here", MAX_DEPTH);
      return ctx_reject(c, why);
    }
  if ((opaque = ovl_xattr(c, fd, "opaque", "y")) < 0)
    return -1;
  if (lookup(c, base, name, &b) < 0)
    return -1;

  if (b.kind == NODE_DIR)
    {
      if (mode != (b.st.st_mode & 01777))
        {
          struct tars_change *e = add_change(c, TARS_CHANGE_CHMOD, TARS_CHANGE_DIR);
          if (e == NULL)
            return -1;
          e->mode = mode;
        }
      c->depth++;
      r = walk_dir(c, fd, &b.children, hidden || opaque);
      c->depth--;
      return r;
    }
  if ((r = delete_tree(c, &b)) != 0)
    return r;
  struct tars_change *e = add_change(c, TARS_CHANGE_MKDIR, TARS_CHANGE_DIR);
  if (e == NULL)
    return -1;
  e->mode = mode;
  struct stack none = {NULL, 0};
  c->depth++;
  r = walk_dir(c, fd, &none, true);
  c->depth--;
  return r;
}

static int
upper_entry(struct ctx *c, int dfd, const char *name, const struct stack *base, bool hidden)
{
  struct stat sb;
  if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    return ctx_syserr(c, errno, "stat");
  switch (sb.st_mode & S_IFMT)
    {
    case S_IFREG:
      return upper_file(c, dfd, name, &sb, base);
    case S_IFDIR:
      return upper_dir(c, dfd, name, &sb, base, hidden);
    case S_IFLNK:
      return upper_symlink(c, dfd, name, base);
    case S_IFCHR:
      if (is_whiteout_dev(&sb))
        return upper_whiteout(c, base, name);
      return ctx_reject(c, "device nodes are not allowed");
    case S_IFBLK:
      return ctx_reject(c, "device nodes are not allowed");
    case S_IFIFO:
      return ctx_reject(c, "fifos are not allowed");
    case S_IFSOCK:
      return ctx_reject(c, "sockets are not allowed");
    default:
      return ctx_reject(c, "unknown file type");
    }
}

/* Compare the upper directory UPPER_DFD (at the current path) with what the lower layers BASE
 * show there.  HIDDEN: the lower directory is not part of the final view (an opaque or new
 * directory here or above), so what only the lower has was deleted.  */
static int
walk_dir(struct ctx *c, int upper_dfd, const struct stack *base, bool hidden)
{
  cleanup_strv char **names = NULL;
  size_t n = 0;

  if (list_names(c, upper_dfd, &names, &n) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      size_t saved;
      int r = path_push(c, names[i], &saved);
      if (r == 0)
        r = upper_entry(c, upper_dfd, names[i], base, hidden);
      path_pop(c, saved);
      if (r < 0)
        return r;
    }
  if (!hidden || base->n == 0)
    return 0;

  cleanup_strv char **lower = NULL;
  size_t n_lower = 0;
  if (list_merged(c, base, &lower, &n_lower) < 0)
    return -1;
  for (size_t i = 0; i < n_lower; i++)
    {
      if (n && bsearch(&lower[i], names, n, sizeof *names, cmp_names))
        continue;
      cleanup_node struct node b = NODE_INIT;
      size_t saved;
      int r = path_push(c, lower[i], &saved);
      if (r == 0)
        r = lookup(c, base, lower[i], &b);
      if (r == 0)
        r = delete_tree(c, &b);
      path_pop(c, saved);
      if (r < 0)
        return r;
    }
  return 0;
}

static int
write_manifest(int out_dfd, const char *text, struct tars_error *err)
{
  size_t len = strlen(text);
  int ret = -1;

  if (unlinkat(out_dfd, MANIFEST_TMP_NAME, 0) < 0 && errno != ENOENT)
    return tars_error_set(err, errno, "capture: remove %s", MANIFEST_TMP_NAME);
  int fd = openat(out_dfd, MANIFEST_TMP_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0644);
  if (fd < 0)
    return tars_error_set(err, errno, "capture: create %s", MANIFEST_TMP_NAME);
  for (size_t off = 0; off <= len;)
    {
      /* The text, then a final newline.  */
      const char *p = off < len ? text + off : "\n";
      size_t n = off < len ? len - off : 1;
      ssize_t w = write(fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          tars_error_set(err, errno, "capture: write %s", MANIFEST_TMP_NAME);
          goto out;
        }
      off += (size_t)w;
    }
  if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
    {
      tars_error_set(err, errno, "capture: sync %s", MANIFEST_TMP_NAME);
      goto out;
    }
  if (close(fd) < 0)
    {
      fd = -1;
      tars_error_set(err, errno, "capture: close %s", MANIFEST_TMP_NAME);
      goto out;
    }
  fd = -1;
  if (renameat(out_dfd, MANIFEST_TMP_NAME, out_dfd, MANIFEST_NAME) < 0)
    {
      tars_error_set(err, errno, "capture: rename %s to %s", MANIFEST_TMP_NAME, MANIFEST_NAME);
      goto out;
    }
  if (fsync(out_dfd) < 0)
    return tars_error_set(err, errno, "capture: sync the changeset directory");
  return 0;
out:
  if (fd >= 0)
    close(fd);
  unlinkat(out_dfd, MANIFEST_TMP_NAME, 0);
  return ret;
}

static void
ctx_free(struct ctx **pc)
{
  struct ctx *c = *pc;
  if (c == NULL)
    return;
  tars_changeset_free(&c->cs);
  if (c->objects_dfd >= 0)
    close(c->objects_dfd);
  free(c);
}

/* After a failed capture, the objects/ it made go too: a failure leaves the output directory as
 * it found it (empty), not half a changeset.  */
static void
discard_objects(int out_dfd, int objects_dfd)
{
  int fd = fcntl(objects_dfd, F_DUPFD_CLOEXEC, 3);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (d == NULL)
    {
      if (fd >= 0)
        close(fd);
      return;
    }
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      unlinkat(dirfd(d), e->d_name, 0);
  unlinkat(out_dfd, OBJECTS_DIR, AT_REMOVEDIR);
}

static int
capture(struct ctx *c, int upper_dfd, const struct stack *base, int out_dfd, int exit_status,
        struct tars_error *err)
{
  /* The root's own mode and xattrs are the mount point's, not the workspace's: not compared.  */
  if (walk_dir(c, upper_dfd, base, false) < 0)
    return -1;

  c->cs.version = TARS_CHANGESET_VERSION;
  c->cs.exit_status = exit_status;
  if (c->cs.n_entries > 1)
    qsort(c->cs.entries, c->cs.n_entries, sizeof *c->cs.entries, change_cmp);
  if (check_structure(&c->cs, err) < 0)
    return tars_error_prefix(err, "capture: internal error");
  cleanup_free char *text = tars_changeset_to_json(&c->cs, err);
  if (text == NULL)
    return -1;
  if (fsync(c->objects_dfd) < 0)
    return tars_error_set(err, errno, "capture: sync objects/");
  return write_manifest(out_dfd, text, err);
}

int
tars_changes_capture(int upper_dfd, const int *lower_dfds, size_t n_lowers, int out_dfd,
                     uint64_t max_bytes, int exit_status, uint64_t *n_entries, uint64_t *n_rejected,
                     struct tars_error *err)
{
  __attribute__((cleanup(ctx_free))) struct ctx *c = calloc(1, sizeof *c);
  __attribute__((cleanup(stack_free))) struct stack base = {NULL, 0};
  struct stat st;

  if (n_entries)
    *n_entries = 0;
  if (n_rejected)
    *n_rejected = 0;
  if (c == NULL)
    return tars_error_set(err, ENOMEM, "capture");
  c->objects_dfd = -1;
  c->max_bytes = max_bytes;
  c->err = err;

  if (fstat(upper_dfd, &st) < 0 || !S_ISDIR(st.st_mode))
    return tars_error_set(err, errno, "capture: the upper layer is not a directory");
  for (size_t i = 0; i < n_lowers; i++)
    {
      if (fstat(lower_dfds[i], &st) < 0 || !S_ISDIR(st.st_mode))
        return tars_error_set(err, errno, "capture: lower layer %zu is not a directory", i);
      int fd = fcntl(lower_dfds[i], F_DUPFD_CLOEXEC, 3);
      if (fd < 0)
        return tars_error_set(err, errno, "capture: dup");
      if (stack_push(&base, fd, err) < 0)
        return -1;
    }
  if (fstatat(out_dfd, MANIFEST_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return tars_error_invalid(err, "capture: the output directory already holds a manifest.json");
  bool made = mkdirat(out_dfd, OBJECTS_DIR, 0755) == 0;
  if (!made && errno != EEXIST)
    return tars_error_set(err, errno, "capture: create objects/");
  c->objects_dfd = openat(out_dfd, OBJECTS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (c->objects_dfd < 0)
    return tars_error_set(err, errno, "capture: open objects/");

  if (capture(c, upper_dfd, &base, out_dfd, exit_status, err) < 0)
    {
      if (made)
        discard_objects(out_dfd, c->objects_dfd);
      return -1;
    }
  if (n_entries)
    *n_entries = c->cs.n_entries;
  if (n_rejected)
    *n_rejected = c->cs.n_rejected;
  return 0;
}
