/* Model settings: which server, which protocol, which model, which key, and the time limits,
 * from where the user set them (docs/models.md).  Each setting comes from the first of these that
 * sets it:
 *
 *   1. the command line: --llm URL, --model M
 *   2. the environment: TARS_LLM_URL, then OLLAMA_HOST (Ollama's own variable, which selects
 *      Ollama's API); TARS_MODEL; TARS_API_KEY
 *   3. the repository's configuration: the "model" object of <repo>/.tars/config.json, or of
 *      <repo>/tars.json when that does not exist
 *   4. the user's configuration: the "model" object of $XDG_CONFIG_HOME/tars/config.json, or of
 *      ~/.config/tars/config.json
 *   5. the default: Ollama at http://127.0.0.1:11434
 *
 *   {"model": {"url": "http://127.0.0.1:11434",   a URL as below
 *              "protocol": "ollama",              or "openai": overrides what the URL implies
 *              "model": "qwen2.5-coder:7b",
 *              "api_key": "...",                  user configuration only
 *              "api_key_file": "~/.config/tars/key",  user configuration only
 *              "timeout": 300,                    seconds for one HTTP request
 *              "connect_timeout": 10, "idle_timeout": 120,   seconds
 *              "retries": 3, "backoff": 0.5,      retries after the first request; first wait (s)
 *              "num_ctx": 8192,                   Ollama's context window, always sent
 *              "max_tokens": 4096, "temperature": 0.2, "stream": true}}
 *
 * A URL selects the protocol: a prefix "ollama:" or "openai:" says it outright ("openai:
 * http://host:8080"); "replay:FILE" answers from a recording (replay.h).  Without a prefix: a
 * path ending in /v1 or /chat/completions is OpenAI-compatible, one ending in /api or /api/chat
 * is Ollama's; with no path, port 11434 is Ollama and anything else OpenAI-compatible.  Only
 * http and https, no user name or password in the URL (the key goes in TARS_API_KEY).
 *
 * A repository is untrusted input: its configuration may choose a URL and a model but never a
 * key (refused, naming the file), nor a replay file.  And the key is not sent to a URL that the
 * repository chose, unless it is the server (scheme, host and port) the user's own
 * configuration names: otherwise a repository could send the user's key anywhere.  Then
 * key_withheld is set, and tars model check says why.  A key in a file (the user's
 * configuration, or api_key_file) is refused unless the file belongs to the user and no one else
 * may read or write it (mode 0600 or stricter), naming the file.  */
#ifndef TARS_MODEL_SETTINGS_H
#define TARS_MODEL_SETTINGS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "tars/error.h"

enum tars_model_protocol
{
  TARS_PROTO_OLLAMA,
  TARS_PROTO_OPENAI,
  TARS_PROTO_REPLAY,
};

/* Where a setting came from, lowest first.  */
enum tars_setting_source
{
  TARS_FROM_DEFAULT,
  TARS_FROM_USER,
  TARS_FROM_REPO,
  TARS_FROM_ENV,
  TARS_FROM_CLI,
};

#define TARS_OLLAMA_DEFAULT_URL "http://127.0.0.1:11434"

struct tars_model_settings
{
  enum tars_model_protocol protocol;
  char *url;     /* the server's base URL as given (no protocol prefix), or the replay file */
  char *model;   /* NULL: none chosen */
  char *api_key; /* NULL: none, or withheld */
  /* What set each of them, for messages: "--llm", "TARS_LLM_URL", "OLLAMA_HOST", a file's path,
   * "the default".  */
  enum tars_setting_source url_source, model_source, key_source;
  char *url_origin, *model_origin, *key_origin;
  bool key_withheld; /* a key is configured but not sent to this URL (see above) */

  long connect_timeout_ms; /* default 10 s */
  long timeout_ms;         /* one HTTP request; default 300 s */
  long idle_timeout_ms;    /* an answer that stops coming for this long ends a request (the
                              wait for its first byte is timeout_ms's); default 120 s */
  int retries;             /* after the first request; default 3 */
  long backoff_ms;         /* the first wait between retries, doubled each time; default 500 */
  long max_wait_ms;        /* the longest wait between retries (Retry-After included); 60 s */
  long num_ctx;            /* Ollama's options.num_ctx; default 8192 */
  long max_tokens;         /* 0: the server's default */
  double temperature;      /* negative: the server's default (the default) */
  bool stream;             /* default true */
};

struct tars_model_settings_input
{
  const char *cli_url;     /* --llm, or NULL */
  const char *cli_model;   /* --model, or NULL */
  int repo_fd;             /* the repository's root, or -1 for none */
  const char *user_config; /* NULL: $XDG_CONFIG_HOME/tars/config.json or
                              $HOME/.config/tars/config.json; "" for none */
  /* The environment; NULL: getenv.  For tests.  */
  const char *(*getenv)(const char *name);
};

/* Defaults for every field (Ollama at TARS_OLLAMA_DEFAULT_URL, no model, no key).  */
void tars_model_settings_init(struct tars_model_settings *s);
void tars_model_settings_free(struct tars_model_settings *s);
#define cleanup_model_settings __attribute__((cleanup(tars_model_settings_free)))

/* Resolve the settings from IN as described above.  Errors (TARS_ERR_INVALID unless a file
 * could not be read): a URL that is not one, naming where it came from; a key in the
 * repository's configuration; a key file others may read; unknown keys and bad values in a
 * "model" object, naming the file and the key; malformed JSON.  On error OUT is left with the
 * defaults.  */
int tars_model_settings_resolve(const struct tars_model_settings_input *in,
                                struct tars_model_settings *out, struct tars_error *err);

/* Split a URL as --llm takes it: "ollama:URL", "openai:URL", "replay:FILE", or a plain URL
 * whose protocol is inferred (see above).  *URL gets the URL without its prefix (malloc'd).
 * WHERE names the setting in errors ("--llm", a file).  */
int tars_model_parse_url(const char *spec, const char *where, enum tars_model_protocol *protocol,
                         char **url, struct tars_error *err);

/* "scheme://host:port" of URL (the port filled in from the scheme when absent), lower-cased,
 * into OUT; -1 when URL is not an http or https URL.  */
int tars_model_url_origin(const char *url, char *out, size_t size);

const char *tars_model_protocol_name(enum tars_model_protocol p); /* "ollama", "openai", "replay" */
const char *tars_setting_source_name(enum tars_setting_source s); /* "command line", ... */

/* The settings as JSON, with the key only when WITH_KEY, and back: how the coordinator hands
 * them to the gateway process (through a pipe, never its command line or environment).  */
cJSON *tars_model_settings_to_json(const struct tars_model_settings *s, bool with_key);
int tars_model_settings_from_json(const cJSON *j, struct tars_model_settings *s,
                                  struct tars_error *err);

#endif
