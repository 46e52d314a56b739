/* Model settings: precedence, the "model" objects of the configuration files, URLs and the
 * rules on keys (see settings.h).  */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/policy.h"
#include "model/settings.h"
#include "tars/cleanup.h"

#define CONFIG_MAX (1u << 20)
#define KEY_MAX 4096
#define MODEL_NAME_MAX 256

void
tars_model_settings_init(struct tars_model_settings *s)
{
  memset(s, 0, sizeof *s);
  s->protocol = TARS_PROTO_OLLAMA;
  s->connect_timeout_ms = 10000;
  s->timeout_ms = 300000;
  s->idle_timeout_ms = 120000;
  s->retries = 3;
  s->backoff_ms = 500;
  s->max_wait_ms = 60000;
  s->num_ctx = 8192;
  s->temperature = -1;
  s->stream = true;
}

static void
clear_key(char **key)
{
  if (*key)
    {
      /* Not left behind in freed memory, where a later bug could print it.  */
      explicit_bzero(*key, strlen(*key));
      free(*key);
      *key = NULL;
    }
}

void
tars_model_settings_free(struct tars_model_settings *s)
{
  free(s->url);
  free(s->model);
  clear_key(&s->api_key);
  free(s->url_origin);
  free(s->model_origin);
  free(s->key_origin);
  tars_model_settings_init(s);
}

const char *
tars_model_protocol_name(enum tars_model_protocol p)
{
  switch (p)
    {
    case TARS_PROTO_OLLAMA:
      return "ollama";
    case TARS_PROTO_OPENAI:
      return "openai";
    case TARS_PROTO_REPLAY:
      return "replay";
    }
  return "?";
}

const char *
tars_setting_source_name(enum tars_setting_source s)
{
  switch (s)
    {
    case TARS_FROM_DEFAULT:
      return "default";
    case TARS_FROM_USER:
      return "user configuration";
    case TARS_FROM_REPO:
      return "repository configuration";
    case TARS_FROM_ENV:
      return "environment";
    case TARS_FROM_CLI:
      return "command line";
    }
  return "?";
}

/* ----- URLs ----- */

/* The parts of an http(s) URL this module needs; pointers into a copy.  */
struct url_parts
{
  char scheme[8];
  char host[256];
  int port;
  const char *path; /* "" or starting with '/' (into the URL given) */
};

static bool
has_control(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= 0x20 || *p == 0x7f)
      return true;
  return false;
}

static int
split_url(const char *url, struct url_parts *u)
{
  memset(u, 0, sizeof *u);
  const char *sep = strstr(url, "://");
  if (sep == NULL || sep == url || (size_t)(sep - url) >= sizeof u->scheme)
    return -1;
  for (size_t i = 0; url + i < sep; i++)
    u->scheme[i] = (char)tolower((unsigned char)url[i]);
  if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
    return -1;
  const char *auth = sep + 3;
  size_t alen = strcspn(auth, "/?#");
  if (alen == 0 || memchr(auth, '@', alen) != NULL)
    return -1;
  const char *host_end = auth + alen, *port = NULL;
  if (auth[0] == '[')
    {
      const char *close = memchr(auth, ']', alen);
      if (close == NULL)
        return -1;
      if (close + 1 < auth + alen)
        {
          if (close[1] != ':')
            return -1;
          port = close + 2;
        }
      host_end = close + 1;
    }
  else
    {
      const char *colon = memchr(auth, ':', alen);
      if (colon)
        {
          host_end = colon;
          port = colon + 1;
        }
    }
  size_t hlen = (size_t)(host_end - auth);
  if (hlen == 0 || hlen >= sizeof u->host)
    return -1;
  for (size_t i = 0; i < hlen; i++)
    u->host[i] = (char)tolower((unsigned char)auth[i]);
  if (port)
    {
      if (port == auth + alen)
        return -1;
      long p = 0;
      for (const char *c = port; c < auth + alen; c++)
        {
          if (!isdigit((unsigned char)*c) || (p = p * 10 + (*c - '0')) > 65535)
            return -1;
        }
      if (p == 0)
        return -1;
      u->port = (int)p;
    }
  else
    u->port = strcmp(u->scheme, "https") == 0 ? 443 : 80;
  u->path = auth + alen;
  return 0;
}

int
tars_model_url_origin(const char *url, char *out, size_t size)
{
  struct url_parts u;
  if (url == NULL || split_url(url, &u) < 0)
    return -1;
  snprintf(out, size, "%s://%s:%d", u.scheme, u.host, u.port);
  return 0;
}

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
  size_t m = strlen(suffix);
  return n >= m && strncmp(s + n - m, suffix, m) == 0;
}

/* The protocol a plain URL implies.  */
static enum tars_model_protocol
infer_protocol(const struct url_parts *u)
{
  size_t n = strcspn(u->path, "?#");
  while (n > 0 && u->path[n - 1] == '/')
    n--;
  if (ends_with(u->path, n, "/api") || ends_with(u->path, n, "/api/chat"))
    return TARS_PROTO_OLLAMA;
  if (ends_with(u->path, n, "/v1") || ends_with(u->path, n, "/chat/completions"))
    return TARS_PROTO_OPENAI;
  if (n == 0 && u->port == 11434)
    return TARS_PROTO_OLLAMA;
  return TARS_PROTO_OPENAI;
}

static int
check_url(const char *url, const char *where, struct url_parts *u, struct tars_error *err)
{
  char shown[160];
  tars_shown(url, shown, sizeof shown);
  if (has_control(url))
    return tars_error_invalid(err, "%s: URL \"%s\" contains a space or a control character", where,
                              shown);
  if (split_url(url, u) < 0)
    {
      const char *sep = strstr(url, "://");
      const char *auth = sep ? sep + 3 : NULL;
      if (auth && memchr(auth, '@', strcspn(auth, "/?#")) != NULL)
        /* Not shown: what precedes the '@' may be a password.  */
        return tars_error_invalid(err,
                                  "%s: a URL may not hold a user name or password (put the "
                                  "key in TARS_API_KEY or the user configuration)",
                                  where);
      return tars_error_invalid(err, "%s: \"%s\" is not an http:// or https:// URL with a host",
                                where, shown);
    }
  /* Paths are appended to it (/v1/chat/completions, /api/chat).  */
  if (strpbrk(u->path, "?#") != NULL)
    return tars_error_invalid(err, "%s: \"%s\": a model URL has no query or fragment", where,
                              shown);
  return 0;
}

int
tars_model_parse_url(const char *spec, const char *where, enum tars_model_protocol *protocol,
                     char **url, struct tars_error *err)
{
  static const struct
  {
    const char *prefix;
    enum tars_model_protocol p;
  } prefixes[] = {
      {"ollama:", TARS_PROTO_OLLAMA},
      {"openai:", TARS_PROTO_OPENAI},
      {"replay:", TARS_PROTO_REPLAY},
  };
  *url = NULL;
  if (spec == NULL || spec[0] == '\0')
    return tars_error_invalid(err, "%s: empty URL", where);
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    {
      size_t n = strlen(prefixes[i].prefix);
      if (strncasecmp(spec, prefixes[i].prefix, n) != 0)
        continue;
      const char *rest = spec + n;
      if (prefixes[i].p == TARS_PROTO_REPLAY)
        {
          if (rest[0] == '\0')
            return tars_error_invalid(err, "%s: replay: needs a file (replay:FILE)", where);
        }
      else
        {
          struct url_parts u;
          if (check_url(rest, where, &u, err) < 0)
            return -1;
        }
      if ((*url = strdup(rest)) == NULL)
        return tars_error_set(err, ENOMEM, "%s", where);
      *protocol = prefixes[i].p;
      return 0;
    }
  struct url_parts u;
  if (check_url(spec, where, &u, err) < 0)
    return -1;
  if ((*url = strdup(spec)) == NULL)
    return tars_error_set(err, ENOMEM, "%s", where);
  *protocol = infer_protocol(&u);
  return 0;
}

/* OLLAMA_HOST as Ollama reads it: "host", "host:port", "scheme://host[:port]"; http and port
 * 11434 by default.  */
static int
ollama_host_url(const char *v, char **url, struct tars_error *err)
{
  cleanup_free char *full = NULL;
  if (strstr(v, "://") == NULL)
    {
      if (asprintf(&full, "http://%s", v) < 0)
        return tars_error_set(err, ENOMEM, "OLLAMA_HOST");
    }
  else if ((full = strdup(v)) == NULL)
    return tars_error_set(err, ENOMEM, "OLLAMA_HOST");
  struct url_parts u;
  if (check_url(full, "OLLAMA_HOST", &u, err) < 0)
    return -1;
  /* No port given: Ollama's, not the scheme's.  */
  const char *auth = strstr(full, "://") + 3;
  size_t alen = strcspn(auth, "/?#");
  const char *close = auth[0] == '[' ? memchr(auth, ']', alen) : auth;
  bool has_port = memchr(close, ':', alen - (size_t)(close - auth)) != NULL;
  if (!has_port && strcmp(u.scheme, "http") == 0)
    {
      if (asprintf(url, "%.*s:11434%s", (int)(auth + alen - full), full, auth + alen) < 0)
        return tars_error_set(err, ENOMEM, "OLLAMA_HOST");
      return 0;
    }
  *url = steal_pointer(&full);
  return 0;
}

/* ----- configuration files ----- */

/* What one "model" object sets.  */
struct layer
{
  const char *origin; /* the file */
  char *url;
  enum tars_model_protocol protocol;
  bool have_protocol_key;
  enum tars_model_protocol protocol_key;
  char *model;
  char *api_key;
  char *key_origin; /* the file the key came from (the config, or api_key_file) */
  long connect_timeout_ms, timeout_ms, idle_timeout_ms, backoff_ms, num_ctx, max_tokens;
  int retries;
  double temperature;
  int stream; /* -1 unset */
};

static void
layer_init(struct layer *l, const char *origin)
{
  memset(l, 0, sizeof *l);
  l->origin = origin;
  l->connect_timeout_ms = l->timeout_ms = l->idle_timeout_ms = l->backoff_ms = -1;
  l->num_ctx = l->max_tokens = -1;
  l->retries = -1;
  l->temperature = NAN;
  l->stream = -1;
}

static void
layer_free(struct layer *l)
{
  free(l->url);
  free(l->model);
  clear_key(&l->api_key);
  free(l->key_origin);
}

/* The key as read: surrounding white space dropped; nothing else but printable ASCII, since it
 * goes into an HTTP header (a CR or LF there would inject headers).  */
static int
check_key(char *key, const char *where, struct tars_error *err)
{
  size_t n = strlen(key);
  while (n > 0 && isspace((unsigned char)key[n - 1]))
    key[--n] = '\0';
  size_t lead = strspn(key, " \t\r\n");
  memmove(key, key + lead, n - lead + 1);
  n -= lead;
  if (n == 0)
    return tars_error_invalid(err, "%s: the API key is empty", where);
  if (n > KEY_MAX)
    return tars_error_invalid(err, "%s: the API key is longer than %d bytes", where, KEY_MAX);
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    if (*p < 0x21 || *p > 0x7e)
      return tars_error_invalid(err,
                                "%s: the API key holds a space, a control character or a "
                                "byte outside ASCII",
                                where);
  return 0;
}

/* A file that holds a key must be the user's own and closed to everyone else.  */
static int
check_private(int fd, const char *path, struct tars_error *err)
{
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "stat %s", path);
  if (st.st_uid != geteuid())
    return tars_error_refused(err,
                              "%s holds an API key but belongs to uid %u, not to you (uid %u): "
                              "refusing to use it",
                              path, (unsigned)st.st_uid, (unsigned)geteuid());
  if ((st.st_mode & 077) != 0)
    return tars_error_refused(err,
                              "%s holds an API key but others may read or write it (mode %04o): "
                              "chmod 600 %s",
                              path, (unsigned)(st.st_mode & 07777), path);
  return 0;
}

/* Read PATH (followed: a user's dotfiles are often symlinks) into *TEXT; a missing file leaves
 * *TEXT NULL.  *FD_OUT keeps the descriptor for check_private.  */
static int
read_user_file(const char *path, char **text, size_t *len, int *fd_out, struct tars_error *err)
{
  *text = NULL;
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return tars_error_set(err, errno, "open %s", path);
    }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tars_error_set(err, errno, "stat %s", path);
  if (!S_ISREG(st.st_mode))
    return tars_error_invalid(err, "%s is not a regular file", path);
  if ((uint64_t)st.st_size > CONFIG_MAX)
    return tars_error_invalid(err, "%s is larger than %u bytes", path, CONFIG_MAX);
  cleanup_free char *buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL)
    return tars_error_set(err, ENOMEM, "read %s", path);
  size_t n = 0;
  while (n < (size_t)st.st_size)
    {
      ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return tars_error_set(err, errno, "read %s", path);
      if (r == 0)
        break;
      n += (size_t)r;
    }
  buf[n] = '\0';
  *len = n;
  *text = steal_pointer(&buf);
  *fd_out = steal_fd(&fd);
  return 0;
}

static int
seconds_ms(const cJSON *v, const char *file, const char *key, double min, double max, long *out,
           struct tars_error *err)
{
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max))
    return tars_error_invalid(err, "%s: key \"model.%s\": expected seconds from %g to %g", file,
                              key, min, max);
  *out = (long)ceil(v->valuedouble * 1000);
  return 0;
}

static int
whole(const cJSON *v, const char *file, const char *key, long min, long max, long *out,
      struct tars_error *err)
{
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
      v->valuedouble < (double)min || v->valuedouble > (double)max)
    return tars_error_invalid(err, "%s: key \"model.%s\": expected a whole number from %ld to %ld",
                              file, key, min, max);
  *out = (long)v->valuedouble;
  return 0;
}

static int
string_value(const cJSON *v, const char *file, const char *key, const char **out,
             struct tars_error *err)
{
  if (!cJSON_IsString(v) || v->valuestring == NULL)
    return tars_error_invalid(err, "%s: key \"model.%s\": expected a string", file, key);
  *out = v->valuestring;
  return 0;
}

static int
check_model_name(const char *name, const char *where, struct tars_error *err)
{
  size_t n = strlen(name);
  if (n == 0 || n > MODEL_NAME_MAX)
    return tars_error_invalid(err, "%s: a model name has 1 to %d bytes", where, MODEL_NAME_MAX);
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return tars_error_invalid(err, "%s: the model name holds a control character", where);
  return 0;
}

/* api_key_file: "~/" is the home directory; a relative path is relative to the directory of the
 * configuration file that names it.  */
static int
read_key_file(const char *value, const char *config_path, const char *(*get)(const char *),
              char **key, char **origin, struct tars_error *err)
{
  cleanup_free char *path = NULL;
  if (strncmp(value, "~/", 2) == 0)
    {
      const char *home = get("HOME");
      if (home == NULL || home[0] != '/')
        return tars_error_invalid(err, "%s: key \"model.api_key_file\": \"%s\" needs $HOME",
                                  config_path, value);
      if (asprintf(&path, "%s/%s", home, value + 2) < 0)
        path = NULL;
    }
  else if (value[0] == '/')
    path = strdup(value);
  else
    {
      const char *slash = strrchr(config_path, '/');
      int dlen = slash ? (int)(slash - config_path) : 1;
      if (asprintf(&path, "%.*s/%s", dlen, slash ? config_path : ".", value) < 0)
        path = NULL;
    }
  if (path == NULL)
    return tars_error_set(err, ENOMEM, "%s", config_path);
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_close int fd = -1;
  if (read_user_file(path, &text, &len, &fd, err) < 0)
    return -1;
  if (text == NULL)
    return tars_error_invalid(err, "%s: key \"model.api_key_file\": %s does not exist", config_path,
                              path);
  if (check_private(fd, path, err) < 0)
    {
      explicit_bzero(text, len);
      return -1;
    }
  if (memchr(text, '\0', len) != NULL || check_key(text, path, err) < 0)
    {
      explicit_bzero(text, len);
      if (memchr(text, '\0', len) != NULL)
        return tars_error_invalid(err, "%s: the API key holds a NUL byte", path);
      return -1;
    }
  *key = steal_pointer(&text);
  *origin = steal_pointer(&path);
  return 0;
}

/* Read the "model" object of ROOT (from FILE) into L.  TRUSTED: the user's own file, which may
 * hold a key (KEY_FD: its descriptor, for the permission check).  */
static int
read_model_object(const cJSON *root, const char *file, bool trusted, int key_fd,
                  const char *(*get)(const char *), struct layer *l, struct tars_error *err)
{
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
  if (m == NULL)
    return 0;
  if (!cJSON_IsObject(m))
    return tars_error_invalid(err, "%s: key \"model\": expected an object", file);
  for (const cJSON *k = m->child; k; k = k->next)
    {
      char key[64];
      tars_shown(k->string ? k->string : "", key, sizeof key);
      const char *s = NULL;
      long n = 0;
      if (strcmp(key, "url") == 0)
        {
          char where[PATH_MAX + 32];
          snprintf(where, sizeof where, "%s: key \"model.url\"", file);
          if (string_value(k, file, key, &s, err) < 0)
            return -1;
          free(l->url);
          l->url = NULL;
          if (tars_model_parse_url(s, where, &l->protocol, &l->url, err) < 0)
            return -1;
          if (!trusted && l->protocol == TARS_PROTO_REPLAY)
            return tars_error_refused(err,
                                      "%s: key \"model.url\": a repository's configuration may "
                                      "not choose a replay file (use --llm replay:FILE)",
                                      file);
        }
      else if (strcmp(key, "protocol") == 0)
        {
          if (string_value(k, file, key, &s, err) < 0)
            return -1;
          if (strcmp(s, "ollama") == 0)
            l->protocol_key = TARS_PROTO_OLLAMA;
          else if (strcmp(s, "openai") == 0)
            l->protocol_key = TARS_PROTO_OPENAI;
          else
            return tars_error_invalid(err,
                                      "%s: key \"model.protocol\": expected \"ollama\" or "
                                      "\"openai\"",
                                      file);
          l->have_protocol_key = true;
        }
      else if (strcmp(key, "model") == 0)
        {
          char where[PATH_MAX + 32];
          snprintf(where, sizeof where, "%s: key \"model.model\"", file);
          if (string_value(k, file, key, &s, err) < 0 || check_model_name(s, where, err) < 0)
            return -1;
          free(l->model);
          if ((l->model = strdup(s)) == NULL)
            return tars_error_set(err, ENOMEM, "%s", file);
        }
      else if (strcmp(key, "api_key") == 0 || strcmp(key, "api_key_file") == 0)
        {
          if (!trusted)
            return tars_error_refused(err,
                                      "%s: key \"model.%s\": a repository's configuration may not "
                                      "hold a key (it is untrusted input); set TARS_API_KEY or put "
                                      "it in your user configuration",
                                      file, key);
          if (string_value(k, file, key, &s, err) < 0)
            return -1;
          clear_key(&l->api_key);
          free(l->key_origin);
          l->key_origin = NULL;
          if (key[7] == '\0')
            {
              if (check_private(key_fd, file, err) < 0)
                return -1;
              if ((l->api_key = strdup(s)) == NULL || (l->key_origin = strdup(file)) == NULL)
                return tars_error_set(err, ENOMEM, "%s", file);
              char where[PATH_MAX + 32];
              snprintf(where, sizeof where, "%s: key \"model.api_key\"", file);
              if (check_key(l->api_key, where, err) < 0)
                return -1;
            }
          else if (read_key_file(s, file, get, &l->api_key, &l->key_origin, err) < 0)
            return -1;
        }
      else if (strcmp(key, "timeout") == 0)
        {
          if (seconds_ms(k, file, key, 0.001, 86400, &l->timeout_ms, err) < 0)
            return -1;
        }
      else if (strcmp(key, "connect_timeout") == 0)
        {
          if (seconds_ms(k, file, key, 0.001, 600, &l->connect_timeout_ms, err) < 0)
            return -1;
        }
      else if (strcmp(key, "idle_timeout") == 0)
        {
          if (seconds_ms(k, file, key, 1, 86400, &l->idle_timeout_ms, err) < 0)
            return -1;
        }
      else if (strcmp(key, "backoff") == 0)
        {
          if (seconds_ms(k, file, key, 0, 60, &l->backoff_ms, err) < 0)
            return -1;
        }
      else if (strcmp(key, "retries") == 0)
        {
          if (whole(k, file, key, 0, 10, &n, err) < 0)
            return -1;
          l->retries = (int)n;
        }
      else if (strcmp(key, "num_ctx") == 0)
        {
          if (whole(k, file, key, 256, 1L << 21, &l->num_ctx, err) < 0)
            return -1;
        }
      else if (strcmp(key, "max_tokens") == 0)
        {
          if (whole(k, file, key, 1, 1L << 24, &l->max_tokens, err) < 0)
            return -1;
        }
      else if (strcmp(key, "temperature") == 0)
        {
          if (!cJSON_IsNumber(k) || !(k->valuedouble >= 0 && k->valuedouble <= 2))
            return tars_error_invalid(err,
                                      "%s: key \"model.temperature\": expected a number from 0 "
                                      "to 2",
                                      file);
          l->temperature = k->valuedouble;
        }
      else if (strcmp(key, "stream") == 0)
        {
          if (!cJSON_IsBool(k))
            return tars_error_invalid(err, "%s: key \"model.stream\": expected true or false",
                                      file);
          l->stream = cJSON_IsTrue(k);
        }
      else
        return tars_error_invalid(err, "%s: unknown key \"model.%s\"", file, key);
    }
  if (l->have_protocol_key && l->url && l->protocol != TARS_PROTO_REPLAY)
    l->protocol = l->protocol_key;
  return 0;
}

static int
user_config_path(const struct tars_model_settings_input *in, const char *(*get)(const char *),
                 char **out, struct tars_error *err)
{
  *out = NULL;
  if (in->user_config)
    {
      if (in->user_config[0] && (*out = strdup(in->user_config)) == NULL)
        return tars_error_set(err, ENOMEM, "the user configuration");
      return 0;
    }
  const char *xdg = get("XDG_CONFIG_HOME");
  const char *home = get("HOME");
  int r = 0;
  if (xdg && xdg[0] == '/')
    r = asprintf(out, "%s/tars/config.json", xdg);
  else if (home && home[0] == '/')
    r = asprintf(out, "%s/.config/tars/config.json", home);
  if (r < 0)
    {
      *out = NULL;
      return tars_error_set(err, ENOMEM, "the user configuration");
    }
  return 0;
}

static int
load_user_layer(const char *path, const char *(*get)(const char *), struct layer *l,
                struct tars_error *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_close int fd = -1;
  if (read_user_file(path, &text, &len, &fd, err) < 0)
    return -1;
  if (text == NULL)
    return 0;
  cleanup_cjson cJSON *root = cJSON_ParseWithLength(text, len);
  explicit_bzero(text, len); /* it may hold the key */
  if (root == NULL)
    return tars_error_invalid(err, "%s: malformed JSON", path);
  if (!cJSON_IsObject(root))
    return tars_error_invalid(err, "%s: the top level is not an object", path);
  int r = read_model_object(root, path, true, fd, get, l, err);
  cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
  cJSON *k = m ? cJSON_GetObjectItemCaseSensitive(m, "api_key") : NULL;
  if (cJSON_IsString(k) && k->valuestring)
    explicit_bzero(k->valuestring, strlen(k->valuestring));
  return r;
}

static int
set_string(char **dst, const char *v, struct tars_error *err)
{
  char *c = v ? strdup(v) : NULL;
  if (v && c == NULL)
    return tars_error_set(err, ENOMEM, "model settings");
  free(*dst);
  *dst = c;
  return 0;
}

static const char *
plain_getenv(const char *name)
{
  return getenv(name);
}

static const char *
env_value(const char *(*get)(const char *), const char *name)
{
  const char *v = get(name);
  return v && v[0] ? v : NULL;
}

/* Fill the numeric settings from the layers, highest first.  */
static void
merge_numbers(struct tars_model_settings *s, struct layer *const *layers, size_t n)
{
#define TAKE(field)                                                                                \
  for (size_t i = 0; i < n; i++)                                                                   \
    if (layers[i]->field >= 0)                                                                     \
      {                                                                                            \
        s->field = layers[i]->field;                                                               \
        break;                                                                                     \
      }
  TAKE(connect_timeout_ms)
  TAKE(timeout_ms)
  TAKE(idle_timeout_ms)
  TAKE(backoff_ms)
  TAKE(num_ctx)
  TAKE(max_tokens)
  TAKE(retries)
  TAKE(stream)
#undef TAKE
  for (size_t i = 0; i < n; i++)
    if (!isnan(layers[i]->temperature))
      {
        s->temperature = layers[i]->temperature;
        break;
      }
}

static int
resolve(const struct tars_model_settings_input *in, struct tars_model_settings *s,
        struct tars_error *err)
{
  const char *(*get)(const char *) = in->getenv ? in->getenv : plain_getenv;
  struct layer repo, user;
  cleanup_free char *user_path = NULL;
  cleanup_cjson cJSON *repo_root = NULL;
  const char *repo_file = NULL;
  cleanup_free char *repo_origin = NULL;
  int ret = -1;

  layer_init(&repo, NULL);
  layer_init(&user, NULL);
  if (user_config_path(in, get, &user_path, err) < 0)
    goto out;
  user.origin = user_path;
  if (user_path && load_user_layer(user_path, get, &user, err) < 0)
    goto out;
  if (in->repo_fd >= 0)
    {
      if (tars_repo_config_load(in->repo_fd, &repo_root, &repo_file, err) < 0)
        goto out;
      repo.origin = repo_file;
      if (repo_root && read_model_object(repo_root, repo_file, false, -1, get, &repo, err) < 0)
        goto out;
    }

  /* The URL.  */
  const char *env_url = env_value(get, "TARS_LLM_URL");
  const char *ollama_host = env_value(get, "OLLAMA_HOST");
  if (in->cli_url)
    {
      if (tars_model_parse_url(in->cli_url, "--llm", &s->protocol, &s->url, err) < 0 ||
          set_string(&s->url_origin, "--llm", err) < 0)
        goto out;
      s->url_source = TARS_FROM_CLI;
    }
  else if (env_url)
    {
      if (tars_model_parse_url(env_url, "TARS_LLM_URL", &s->protocol, &s->url, err) < 0 ||
          set_string(&s->url_origin, "TARS_LLM_URL", err) < 0)
        goto out;
      s->url_source = TARS_FROM_ENV;
    }
  else if (ollama_host)
    {
      if (ollama_host_url(ollama_host, &s->url, err) < 0 ||
          set_string(&s->url_origin, "OLLAMA_HOST", err) < 0)
        goto out;
      s->protocol = TARS_PROTO_OLLAMA;
      s->url_source = TARS_FROM_ENV;
    }
  else if (repo.url || user.url)
    {
      struct layer *l = repo.url ? &repo : &user;
      if (set_string(&s->url, l->url, err) < 0 || set_string(&s->url_origin, l->origin, err) < 0)
        goto out;
      s->protocol = l->protocol;
      s->url_source = repo.url ? TARS_FROM_REPO : TARS_FROM_USER;
    }
  else
    {
      if (set_string(&s->url, TARS_OLLAMA_DEFAULT_URL, err) < 0 ||
          set_string(&s->url_origin, "the default", err) < 0)
        goto out;
      s->protocol = TARS_PROTO_OLLAMA;
      s->url_source = TARS_FROM_DEFAULT;
    }

  /* The model.  */
  const char *env_model = env_value(get, "TARS_MODEL");
  if (in->cli_model || env_model)
    {
      const char *where = in->cli_model ? "--model" : "TARS_MODEL";
      const char *v = in->cli_model ? in->cli_model : env_model;
      if (check_model_name(v, where, err) < 0 || set_string(&s->model, v, err) < 0 ||
          set_string(&s->model_origin, where, err) < 0)
        goto out;
      s->model_source = in->cli_model ? TARS_FROM_CLI : TARS_FROM_ENV;
    }
  else if (repo.model || user.model)
    {
      struct layer *l = repo.model ? &repo : &user;
      if (set_string(&s->model, l->model, err) < 0 ||
          set_string(&s->model_origin, l->origin, err) < 0)
        goto out;
      s->model_source = repo.model ? TARS_FROM_REPO : TARS_FROM_USER;
    }

  /* The key.  */
  const char *env_key = env_value(get, "TARS_API_KEY");
  if (env_key)
    {
      if (set_string(&s->api_key, env_key, err) < 0 ||
          set_string(&s->key_origin, "TARS_API_KEY", err) < 0)
        goto out;
      if (check_key(s->api_key, "TARS_API_KEY", err) < 0)
        goto out;
      s->key_source = TARS_FROM_ENV;
    }
  else if (user.api_key)
    {
      if (set_string(&s->api_key, user.api_key, err) < 0 ||
          set_string(&s->key_origin, user.key_origin, err) < 0)
        goto out;
      s->key_source = TARS_FROM_USER;
    }
  if (s->api_key && s->url_source == TARS_FROM_REPO)
    {
      /* The repository chose the server: the key goes only where the user's own configuration
       * would have sent it.  */
      char a[320], b[320];
      bool same = user.url && tars_model_url_origin(s->url, a, sizeof a) == 0 &&
                  tars_model_url_origin(user.url, b, sizeof b) == 0 && strcmp(a, b) == 0;
      if (!same)
        {
          clear_key(&s->api_key);
          s->key_withheld = true;
        }
    }
  if (s->protocol == TARS_PROTO_REPLAY)
    clear_key(&s->api_key);

  struct layer *layers[] = {&repo, &user};
  merge_numbers(s, layers, 2);
  ret = 0;

out:
  (void)repo_origin;
  layer_free(&repo);
  layer_free(&user);
  return ret;
}

int
tars_model_settings_resolve(const struct tars_model_settings_input *in,
                            struct tars_model_settings *out, struct tars_error *err)
{
  tars_model_settings_init(out);
  if (resolve(in, out, err) < 0)
    {
      tars_model_settings_free(out);
      return -1;
    }
  return 0;
}

/* ----- JSON (coordinator to gateway) ----- */

static bool
add_opt_string(cJSON *o, const char *name, const char *v)
{
  return (v ? cJSON_AddStringToObject(o, name, v) : cJSON_AddNullToObject(o, name)) != NULL;
}

cJSON *
tars_model_settings_to_json(const struct tars_model_settings *s, bool with_key)
{
  cleanup_cjson cJSON *o = cJSON_CreateObject();
  if (o == NULL ||
      cJSON_AddStringToObject(o, "protocol", tars_model_protocol_name(s->protocol)) == NULL ||
      !add_opt_string(o, "url", s->url) || !add_opt_string(o, "model", s->model) ||
      !add_opt_string(o, "url_origin", s->url_origin) ||
      !add_opt_string(o, "model_origin", s->model_origin) ||
      !add_opt_string(o, "key_origin", s->key_origin) ||
      cJSON_AddNumberToObject(o, "url_source", s->url_source) == NULL ||
      cJSON_AddNumberToObject(o, "model_source", s->model_source) == NULL ||
      cJSON_AddNumberToObject(o, "key_source", s->key_source) == NULL ||
      cJSON_AddBoolToObject(o, "key_withheld", s->key_withheld) == NULL ||
      cJSON_AddBoolToObject(o, "has_key", s->api_key != NULL) == NULL ||
      cJSON_AddNumberToObject(o, "connect_timeout_ms", s->connect_timeout_ms) == NULL ||
      cJSON_AddNumberToObject(o, "timeout_ms", s->timeout_ms) == NULL ||
      cJSON_AddNumberToObject(o, "idle_timeout_ms", s->idle_timeout_ms) == NULL ||
      cJSON_AddNumberToObject(o, "retries", s->retries) == NULL ||
      cJSON_AddNumberToObject(o, "backoff_ms", s->backoff_ms) == NULL ||
      cJSON_AddNumberToObject(o, "max_wait_ms", s->max_wait_ms) == NULL ||
      cJSON_AddNumberToObject(o, "num_ctx", s->num_ctx) == NULL ||
      cJSON_AddNumberToObject(o, "max_tokens", s->max_tokens) == NULL ||
      cJSON_AddNumberToObject(o, "temperature", s->temperature) == NULL ||
      cJSON_AddBoolToObject(o, "stream", s->stream) == NULL)
    return NULL;
  if (with_key && s->api_key && cJSON_AddStringToObject(o, "api_key", s->api_key) == NULL)
    return NULL;
  return steal_pointer(&o);
}

static int
json_long(const cJSON *o, const char *name, long min, long max, long *out, struct tars_error *err)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (v == NULL)
    return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max)
    return tars_error_invalid(err, "model settings: key \"%s\": out of range", name);
  *out = (long)v->valuedouble;
  return 0;
}

static int
json_string(const cJSON *o, const char *name, char **out, struct tars_error *err)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (v == NULL || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsString(v))
    return tars_error_invalid(err, "model settings: key \"%s\": expected a string", name);
  return set_string(out, v->valuestring, err);
}

static int
settings_from_json(const cJSON *j, struct tars_model_settings *s, struct tars_error *err)
{
  if (!cJSON_IsObject(j))
    return tars_error_invalid(err, "model settings: expected a JSON object");
  const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "protocol"));
  if (p == NULL)
    return tars_error_invalid(err, "model settings: key \"protocol\": missing");
  if (strcmp(p, "ollama") == 0)
    s->protocol = TARS_PROTO_OLLAMA;
  else if (strcmp(p, "openai") == 0)
    s->protocol = TARS_PROTO_OPENAI;
  else if (strcmp(p, "replay") == 0)
    s->protocol = TARS_PROTO_REPLAY;
  else
    return tars_error_invalid(err, "model settings: unknown protocol \"%.20s\"", p);
  if (json_string(j, "url", &s->url, err) < 0 || json_string(j, "model", &s->model, err) < 0 ||
      json_string(j, "url_origin", &s->url_origin, err) < 0 ||
      json_string(j, "model_origin", &s->model_origin, err) < 0 ||
      json_string(j, "key_origin", &s->key_origin, err) < 0 ||
      json_string(j, "api_key", &s->api_key, err) < 0)
    return -1;
  if (s->url == NULL)
    return tars_error_invalid(err, "model settings: key \"url\": missing");
  if (s->api_key && check_key(s->api_key, "model settings", err) < 0)
    return -1;
  long v;
  v = s->url_source;
  if (json_long(j, "url_source", 0, TARS_FROM_CLI, &v, err) < 0)
    return -1;
  s->url_source = (enum tars_setting_source)v;
  v = s->model_source;
  if (json_long(j, "model_source", 0, TARS_FROM_CLI, &v, err) < 0)
    return -1;
  s->model_source = (enum tars_setting_source)v;
  v = s->key_source;
  if (json_long(j, "key_source", 0, TARS_FROM_CLI, &v, err) < 0)
    return -1;
  s->key_source = (enum tars_setting_source)v;
  s->key_withheld = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "key_withheld"));
  long retries = s->retries, stream = s->stream;
  if (json_long(j, "connect_timeout_ms", 1, 600000, &s->connect_timeout_ms, err) < 0 ||
      json_long(j, "timeout_ms", 1, 86400000, &s->timeout_ms, err) < 0 ||
      json_long(j, "idle_timeout_ms", 1000, 86400000, &s->idle_timeout_ms, err) < 0 ||
      json_long(j, "retries", 0, 10, &retries, err) < 0 ||
      json_long(j, "backoff_ms", 0, 60000, &s->backoff_ms, err) < 0 ||
      json_long(j, "max_wait_ms", 0, 3600000, &s->max_wait_ms, err) < 0 ||
      json_long(j, "num_ctx", 256, 1L << 21, &s->num_ctx, err) < 0 ||
      json_long(j, "max_tokens", 0, 1L << 24, &s->max_tokens, err) < 0)
    return -1;
  s->retries = (int)retries;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "temperature");
  if (cJSON_IsNumber(t))
    s->temperature = t->valuedouble <= 2 ? t->valuedouble : -1;
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stream");
  if (st)
    stream = cJSON_IsTrue(st);
  s->stream = stream;
  return 0;
}

int
tars_model_settings_from_json(const cJSON *j, struct tars_model_settings *s, struct tars_error *err)
{
  tars_model_settings_init(s);
  if (settings_from_json(j, s, err) < 0)
    {
      tars_model_settings_free(s);
      return -1;
    }
  return 0;
}
