/* Building the sandbox's view (view.h): the default allow-list, the spec's entries, the
 * workspace, and what stays hidden inside them.
 *
 * Secrets are host paths: the homes, /root, /run, /mnt, /media, the credential files and the
 * spec's masks.  Every entry that shows a host tree is checked against each of them: a secret
 * inside the tree is covered at the place where the tree shows it (after everything is mounted,
 * so that no later mount uncovers it); an entry that is a secret itself is refused when the spec
 * asked for it, and covered when the default view brought it.  The caller's home is the one
 * secret a workspace may be or contain (the usual case is a repository in it): its credential
 * folders are covered then instead.  */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tars/cleanup.h"
#include "view.h"

/* What the default view shows of the host, when there is no --rootfs: where programs and their
 * libraries and configuration live, as bubblewrap users list them.  Symlinks (merged /usr) are
 * recreated as symlinks.  */
static const char *const default_trees[] = {"/usr",   "/bin",    "/sbin", "/lib", "/lib32",
                                            "/lib64", "/libx32", "/etc",  "/opt"};

/* Host directories never shown: homes, root's home, runtime state and sockets (the Docker socket
 * lives in /run), removable and other mounts.  */
static const char *const hidden_dirs[] = {"/home", "/root", "/run", "/var/run", "/mnt", "/media"};
/* Host files never shown: password hashes, host keys, private keys.  */
static const char *const masked_files[] = {"/etc/shadow",
                                           "/etc/gshadow",
                                           "/etc/shadow-",
                                           "/etc/gshadow-",
                                           "/etc/ssh/ssh_host_rsa_key",
                                           "/etc/ssh/ssh_host_ecdsa_key",
                                           "/etc/ssh/ssh_host_ed25519_key",
                                           "/etc/docker/key.json",
                                           "/etc/ssl/private"};
/* Credential folders and files below the caller's home, covered when a workspace shows it.  */
static const char *const home_secrets[] = {".ssh",
                                           ".gnupg",
                                           ".aws",
                                           ".azure",
                                           ".kube",
                                           ".docker",
                                           ".config/gcloud",
                                           ".netrc",
                                           ".git-credentials",
                                           ".npmrc",
                                           ".pypirc",
                                           ".cargo/credentials",
                                           ".cargo/credentials.toml"};

/* File systems below a tree that are not shown: the kernel's own (the sandbox has its /proc,
 * /sys and /dev), and those an overlay cannot stack on.  */
static const char *const skipped_fstypes[] = {
    "proc",      "sysfs",   "devtmpfs",    "devpts",   "cgroup", "cgroup2",    "securityfs",
    "debugfs",   "tracefs", "bpf",         "mqueue",   "pstore", "configfs",   "fusectl",
    "hugetlbfs", "autofs",  "binfmt_misc", "efivarfs", "nsfs",   "rpc_pipefs", "nfsd"};

const char *
tars_op_kind_name(enum tars_op_kind kind)
{
  static const char *const names[] = {
      [TARS_OP_TREE] = "tree",
      [TARS_OP_SUBMOUNT] = "submount",
      [TARS_OP_FILE] = "file",
      [TARS_OP_SOCKET] = "socket",
      [TARS_OP_SYMLINK] = "symlink",
      [TARS_OP_TMPFS] = "tmpfs",
      [TARS_OP_DIR] = "dir",
      [TARS_OP_PRIVATE_TMP] = "private-tmp",
      [TARS_OP_PROC] = "proc",
      [TARS_OP_DEV] = "dev",
      [TARS_OP_SYSFS] = "sysfs",
      [TARS_OP_WORKSPACE] = "workspace",
      [TARS_OP_RO_WORKSPACE] = "ro-workspace",
      [TARS_OP_HIDE] = "hide",
  };
  return (size_t)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

void
tars_view_free(struct tars_view *v)
{
  for (size_t i = 0; i < v->n; i++)
    {
      free(v->ops[i].src);
      free(v->ops[i].dest);
    }
  free(v->ops);
  free(v->root);
  memset(v, 0, sizeof *v);
}

static int
add_op(struct tars_view *v, enum tars_op_kind kind, const char *src, const char *dest,
       uint64_t size, struct tars_error *err)
{
  if (v->n == v->cap)
    {
      size_t cap = v->cap ? v->cap * 2 : 32;
      struct tars_view_op *ops = realloc(v->ops, cap * sizeof *ops);
      if (ops == NULL)
        return tars_error_set(err, ENOMEM, "view");
      v->ops = ops;
      v->cap = cap;
    }
  struct tars_view_op *op = &v->ops[v->n];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->size = size;
  if ((src && (op->src = strdup(src)) == NULL) || (dest && (op->dest = strdup(dest)) == NULL))
    {
      free(op->src);
      return tars_error_set(err, ENOMEM, "view");
    }
  v->n++;
  return 0;
}

/* PATH is DIR or below it ("/" holds everything).  */
static bool
within(const char *path, const char *dir)
{
  size_t n = strlen(dir);
  if (n == 1)
    return path[0] == '/';
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* DEST + (PATH - SRC): where the tree SRC mounted at DEST shows the host path PATH (within SRC).
 */
static int
shown_at(char *out, size_t len, const char *dest, const char *src, const char *path,
         struct tars_error *err)
{
  const char *rel = path + (strcmp(src, "/") == 0 ? 0 : strlen(src));
  int n = snprintf(out, len, "%s%s", strcmp(dest, "/") == 0 ? "" : dest, rel);
  if (n < 0 || (size_t)n >= len)
    return tars_error_invalid(err, "path too long: %s%s", dest, rel);
  if (out[0] == '\0')
    snprintf(out, len, "/");
  return 0;
}

/* A host path resolved through its symlinks when it exists, as given otherwise.  */
static char *
resolved(const char *path)
{
  char *r = realpath(path, NULL);
  return r ? r : strdup(path);
}

/* The mounts below DIR in the host's mount table (mountinfo lines, mount points escaped in
 * octal), as SUBMOUNT operations at DEST: an overlay shows one file system only.  */
static int
add_submounts(struct tars_view *v, const char *mountinfo, const char *dir, const char *dest,
              struct tars_error *err)
{
  if (mountinfo == NULL)
    return 0;
  for (const char *line = mountinfo; *line;)
    {
      const char *end = strchr(line, '\n');
      size_t len = end ? (size_t)(end - line) : strlen(line);
      char buf[PATH_MAX + 512];
      if (len < sizeof buf)
        {
          memcpy(buf, line, len);
          buf[len] = '\0';
          /* id parent maj:min root MOUNTPOINT options [optional...] - FSTYPE source super  */
          char *f[5] = {0};
          char *save = NULL, *p = buf;
          for (int i = 0; i < 5 && (f[i] = strtok_r(p, " ", &save)) != NULL; i++)
            p = NULL;
          const char *sep = strstr(save ? save : "", " - ");
          char fstype[64] = "";
          if (sep)
            sscanf(sep + 3, "%63s", fstype);
          else if (save && strncmp(save, "- ", 2) == 0)
            sscanf(save + 2, "%63s", fstype);
          if (f[4] && fstype[0])
            {
              char mp[PATH_MAX];
              size_t o = 0;
              for (const char *s = f[4]; *s && o < sizeof mp - 1; s++)
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7')
                  {
                    mp[o++] = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                    s += 3;
                  }
                else
                  mp[o++] = *s;
              mp[o] = '\0';
              bool skip = !within(mp, dir) || strcmp(mp, dir) == 0;
              for (size_t t = 0; !skip && t < sizeof skipped_fstypes / sizeof *skipped_fstypes; t++)
                skip = strcmp(fstype, skipped_fstypes[t]) == 0;
              char at[PATH_MAX];
              if (!skip && (shown_at(at, sizeof at, dest, dir, mp, err) < 0 ||
                            add_op(v, TARS_OP_SUBMOUNT, mp, at, 0, err) < 0))
                return -1;
            }
        }
      line += len + (end ? 1 : 0);
    }
  return 0;
}

/* What an entry showing a host tree is, for the secrets' rules.  */
enum origin
{
  ORIGIN_DEFAULT,   /* the default view brought it */
  ORIGIN_ASKED,     /* the spec asked for it: a ro-bind, the rootfs, a layer */
  ORIGIN_WORKSPACE, /* the workspace */
};

struct shown
{
  char *src; /* resolved */
  const char *dest;
  enum origin origin;
  char what[40]; /* for errors: "workspace", "mounts[2] (ro-bind)"... */
};

struct secret
{
  char *path; /* resolved */
  bool home;
  const char *why;
};

/* Add the secret PATH, resolved; one that does not exist cannot be shown, and costs nothing
 * (most of the fixed list is absent on a given host: one lstat instead of a realpath).  */
static int
add_secret(struct secret *v, size_t *n, const char *path, bool home, const char *why,
           struct tars_error *err)
{
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  char *r = resolved(path);
  if (r == NULL)
    return tars_error_set(err, ENOMEM, "view");
  for (size_t i = 0; i < *n; i++)
    if (strcmp(v[i].path, r) == 0)
      {
        /* root's home is also one of the hidden directories: it is a home first.  */
        if (home)
          {
            v[i].home = true;
            v[i].why = why;
          }
        free(r);
        return 0;
      }
  v[(*n)++] = (struct secret){r, home, why};
  return 0;
}

static int
hide_in(struct tars_view *v, const struct shown *e, const char *path, struct tars_error *err)
{
  char at[PATH_MAX];
  if (shown_at(at, sizeof at, e->dest, e->src, path, err) < 0)
    return -1;
  for (size_t i = 0; i < v->n; i++)
    if (v->ops[i].kind == TARS_OP_HIDE && strcmp(v->ops[i].dest, at) == 0)
      return 0;
  return add_op(v, TARS_OP_HIDE, NULL, at, 0, err);
}

static int
hide_home_secrets(struct tars_view *v, const struct shown *e, const char *home,
                  struct tars_error *err)
{
  for (size_t i = 0; i < sizeof home_secrets / sizeof *home_secrets; i++)
    {
      char p[PATH_MAX];
      if (snprintf(p, sizeof p, "%s/%s", home, home_secrets[i]) >= (int)sizeof p)
        continue;
      if (hide_in(v, e, p, err) < 0)
        return -1;
    }
  return 0;
}

static int
apply_secret(struct tars_view *v, const struct shown *e, const struct secret *s,
             struct tars_error *err)
{
  if (strcmp(s->path, e->src) == 0)
    {
      if (s->home && e->origin != ORIGIN_DEFAULT)
        return hide_home_secrets(v, e, s->path, err);
      if (e->origin == ORIGIN_DEFAULT)
        return hide_in(v, e, s->path, err);
      return tars_error_invalid(err,
                                "%s %s: tars hides %s in every sandbox (%s); show a directory "
                                "below it instead",
                                e->what, e->src, s->path, s->why);
    }
  if (!within(s->path, e->src))
    return 0;
  if (s->home && e->origin == ORIGIN_WORKSPACE)
    return hide_home_secrets(v, e, s->path, err);
  return hide_in(v, e, s->path, err);
}

static void
shown_free(struct shown *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i].src);
}

static void
secrets_free(struct secret *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i].path);
}

#define MAX_SHOWN (16 + TARS_MAX_MOUNTS + TARS_MAX_LAYERS + 2)
#define MAX_SECRETS (16 + 2 + TARS_MAX_MASKS)

/* The view proper; SHOWN and SECRETS are filled for the caller to free.  */
static int
build(const struct tars_spec *spec, const struct tars_view_host *host, struct tars_view *v,
      struct shown *shown, size_t *n_shown, struct secret *secrets, size_t *n_secrets,
      struct tars_error *err)
{
  if (spec->rootfs)
    {
      if ((v->root = resolved(spec->rootfs)) == NULL)
        return tars_error_set(err, ENOMEM, "view");
      shown[(*n_shown)++] = (struct shown){strdup(v->root), "/", ORIGIN_ASKED, "rootfs"};
      if (add_submounts(v, host->mountinfo, v->root, "/", err) < 0)
        return -1;
    }
  else
    for (size_t i = 0; i < sizeof default_trees / sizeof *default_trees; i++)
      {
        const char *t = default_trees[i];
        struct stat st;
        if (lstat(t, &st) < 0)
          continue;
        if (S_ISLNK(st.st_mode))
          {
            char target[PATH_MAX];
            ssize_t n = readlink(t, target, sizeof target - 1);
            if (n <= 0)
              continue;
            target[n] = '\0';
            if (add_op(v, TARS_OP_SYMLINK, target, t, 0, err) < 0)
              return -1;
          }
        else if (S_ISDIR(st.st_mode))
          {
            if (add_op(v, TARS_OP_TREE, t, t, 0, err) < 0 ||
                add_submounts(v, host->mountinfo, t, t, err) < 0)
              return -1;
            shown[(*n_shown)++] = (struct shown){strdup(t), t, ORIGIN_DEFAULT, "the default view"};
          }
      }

  if (add_op(v, TARS_OP_PRIVATE_TMP, NULL, "/tmp", spec->tmp_bytes, err) < 0)
    return -1;

  for (size_t i = 0; i < spec->n_mounts; i++)
    {
      const struct tars_mount *m = &spec->mounts[i];
      const char *dest = m->dest ? m->dest : m->source;
      static const char *const names[] = {"ro-bind", "bind-socket", "tmpfs", "dir"};
      cleanup_free char *src = m->source ? resolved(m->source) : NULL;
      if (m->source && src == NULL)
        return tars_error_set(err, ENOMEM, "view");
      struct stat st;
      switch (m->type)
        {
        case TARS_MOUNT_RO_BIND:
          if (stat(src, &st) < 0)
            return tars_error_invalid(err, "mounts[%zu] (%s) %s: %s", i, names[m->type], m->source,
                                      strerror(errno));
          if (S_ISDIR(st.st_mode))
            {
              if (add_op(v, TARS_OP_TREE, src, dest, 0, err) < 0 ||
                  add_submounts(v, host->mountinfo, src, dest, err) < 0)
                return -1;
            }
          else if (add_op(v, TARS_OP_FILE, src, dest, 0, err) < 0)
            return -1;
          shown[*n_shown] = (struct shown){steal_pointer(&src), dest, ORIGIN_ASKED, ""};
          snprintf(shown[*n_shown].what, sizeof shown[*n_shown].what, "mounts[%zu] (%s)", i,
                   names[m->type]);
          (*n_shown)++;
          break;
        case TARS_MOUNT_BIND_SOCKET:
          if (add_op(v, TARS_OP_SOCKET, src, dest, 0, err) < 0)
            return -1;
          break;
        case TARS_MOUNT_TMPFS:
          if (add_op(v, TARS_OP_TMPFS, NULL, dest, m->size ? m->size : 64ULL << 20, err) < 0)
            return -1;
          break;
        case TARS_MOUNT_DIR:
          if (add_op(v, TARS_OP_DIR, NULL, dest, 0, err) < 0)
            return -1;
          break;
        }
    }

  if (add_op(v, TARS_OP_PROC, NULL, "/proc", 0, err) < 0 ||
      add_op(v, TARS_OP_DEV, NULL, "/dev", 0, err) < 0 ||
      add_op(v, TARS_OP_SYSFS, NULL, "/sys", 0, err) < 0)
    return -1;

  if (spec->workspace)
    {
      if (add_op(v, spec->ro_workspace ? TARS_OP_RO_WORKSPACE : TARS_OP_WORKSPACE, spec->workspace,
                 spec->workspace, 0, err) < 0)
        return -1;
      char *ws = resolved(spec->workspace);
      if (ws == NULL)
        return tars_error_set(err, ENOMEM, "view");
      shown[(*n_shown)++] = (struct shown){ws, spec->workspace, ORIGIN_WORKSPACE, "workspace"};
      for (size_t i = 0; i < spec->n_layers; i++)
        {
          char *l = resolved(spec->layers[i]);
          if (l == NULL)
            return tars_error_set(err, ENOMEM, "view");
          shown[*n_shown] = (struct shown){l, spec->workspace, ORIGIN_ASKED, ""};
          snprintf(shown[*n_shown].what, sizeof shown[*n_shown].what, "layers[%zu]", i);
          (*n_shown)++;
        }
    }

  /* The secrets, resolved: a home that is a symlink is hidden at its target.  */
  for (size_t i = 0; i < sizeof hidden_dirs / sizeof *hidden_dirs; i++)
    if (add_secret(secrets, n_secrets, hidden_dirs[i], false, "homes, runtime state and mounts",
                   err) < 0)
      return -1;
  for (size_t i = 0; i < 2; i++)
    if (host->homes[i] && host->homes[i][0] == '/' && strcmp(host->homes[i], "/") != 0 &&
        add_secret(secrets, n_secrets, host->homes[i], true, "your home", err) < 0)
      return -1;
  for (size_t i = 0; i < sizeof masked_files / sizeof *masked_files; i++)
    if (add_secret(secrets, n_secrets, masked_files[i], false, "credentials", err) < 0)
      return -1;
  for (size_t i = 0; i < spec->n_masks; i++)
    if (add_secret(secrets, n_secrets, spec->masks[i], false, "the spec's masks", err) < 0)
      return -1;

  for (size_t e = 0; e < *n_shown; e++)
    {
      if (shown[e].src == NULL)
        return tars_error_set(err, ENOMEM, "view");
      for (size_t s = 0; s < *n_secrets; s++)
        if (apply_secret(v, &shown[e], &secrets[s], err) < 0)
          return -1;
    }
  return 0;
}

int
tars_view_build(const struct tars_spec *spec, const struct tars_view_host *host,
                struct tars_view *view, struct tars_error *err)
{
  struct shown shown[MAX_SHOWN];
  struct secret secrets[MAX_SECRETS];
  size_t n_shown = 0, n_secrets = 0;

  memset(view, 0, sizeof *view);
  int r = build(spec, host, view, shown, &n_shown, secrets, &n_secrets, err);
  shown_free(shown, n_shown);
  secrets_free(secrets, n_secrets);
  if (r < 0)
    tars_view_free(view);
  return r;
}
