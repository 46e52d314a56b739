/* Model settings: precedence (command line, environment, repository, user, default), URLs and
 * the protocol they select, and the rules on keys: never from a repository, never from a file
 * others may read, never sent to a server the repository chose.  */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "model/settings.h"
#include "tars/cleanup.h"

struct fx
{
  char root[256];
  char repo[300], user[300], home[300];
  int repo_fd;
};

/* The environment the resolver sees.  */
static const char *env_names[8];
static const char *env_values[8];

static void
env_clear(void)
{
  memset(env_names, 0, sizeof env_names);
}

static void
env_set(const char *name, const char *value)
{
  for (int i = 0; i < 8; i++)
    if (env_names[i] == NULL || strcmp(env_names[i], name) == 0)
      {
        env_names[i] = name;
        env_values[i] = value;
        return;
      }
  fail_msg("too many variables");
}

static const char *
fake_getenv(const char *name)
{
  for (int i = 0; i < 8 && env_names[i]; i++)
    if (strcmp(env_names[i], name) == 0)
      return env_values[i];
  return NULL;
}

static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof fx->root, "%s/tars-settings-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fx->root) == NULL)
    return -1;
  snprintf(fx->repo, sizeof fx->repo, "%s/repo", fx->root);
  snprintf(fx->home, sizeof fx->home, "%s/home", fx->root);
  snprintf(fx->user, sizeof fx->user, "%s/home/.config/tars/config.json", fx->root);
  test_mkdirs(fx->repo);
  test_mkdirs(fx->home);
  fx->repo_fd = open(fx->repo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  env_clear();
  env_set("HOME", fx->home);
  *state = fx;
  return 0;
}

static int
fx_teardown(void **state)
{
  struct fx *fx = *state;
  close(fx->repo_fd);
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

static void
write_repo_config(struct fx *fx, const char *json)
{
  char p[400];
  snprintf(p, sizeof p, "%s/tars.json", fx->repo);
  test_write_file(p, json, strlen(json), 0644);
}

static void
write_user_config(struct fx *fx, const char *json, mode_t mode)
{
  test_write_file(fx->user, json, strlen(json), mode);
  chmod(fx->user, mode);
}

static int
resolve(struct fx *fx, const char *cli_url, const char *cli_model, struct tars_model_settings *s,
        struct tars_error *err)
{
  struct tars_model_settings_input in = {
      .cli_url = cli_url, .cli_model = cli_model, .repo_fd = fx->repo_fd, .getenv = fake_getenv};
  return tars_model_settings_resolve(&in, s, err);
}

static void
defaults_are_ollama_on_localhost(void **state)
{
  struct fx *fx = *state;
  cleanup_model_settings struct tars_model_settings s;
  assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
  assert_int_equal(s.protocol, TARS_PROTO_OLLAMA);
  assert_string_equal(s.url, "http://127.0.0.1:11434");
  assert_string_equal(s.url_origin, "the default");
  assert_null(s.model);
  assert_null(s.api_key);
  assert_int_equal(s.num_ctx, 8192);
  assert_int_equal(s.retries, 3);
  assert_true(s.stream);
}

static void
each_setting_comes_from_the_highest_source(void **state)
{
  struct fx *fx = *state;
  write_user_config(fx,
                    "{\"model\": {\"url\": \"http://user:1/v1\", \"model\": \"user-m\", "
                    "\"timeout\": 30, \"retries\": 1, \"num_ctx\": 4096}}",
                    0600);
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.url, "http://user:1/v1");
    assert_int_equal(s.protocol, TARS_PROTO_OPENAI);
    assert_int_equal(s.url_source, TARS_FROM_USER);
    assert_string_equal(s.model, "user-m");
    assert_int_equal(s.timeout_ms, 30000);
    assert_int_equal(s.num_ctx, 4096);
  }
  write_repo_config(fx, "{\"model\": {\"model\": \"repo-m\", \"retries\": 2}}");
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.url, "http://user:1/v1"); /* the repository did not set one */
    assert_string_equal(s.model, "repo-m");
    assert_int_equal(s.model_source, TARS_FROM_REPO);
    assert_int_equal(s.retries, 2);
    assert_int_equal(s.timeout_ms, 30000);
  }
  env_set("OLLAMA_HOST", "10.0.0.5");
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.url, "http://10.0.0.5:11434");
    assert_int_equal(s.protocol, TARS_PROTO_OLLAMA);
    assert_string_equal(s.url_origin, "OLLAMA_HOST");
  }
  env_set("TARS_LLM_URL", "openai:http://env:2");
  env_set("TARS_MODEL", "env-m");
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.url, "http://env:2");
    assert_int_equal(s.protocol, TARS_PROTO_OPENAI);
    assert_string_equal(s.url_origin, "TARS_LLM_URL");
    assert_string_equal(s.model, "env-m");
  }
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, "ollama:http://cli:3", "cli-m", &s, NULL), 0);
    assert_string_equal(s.url, "http://cli:3");
    assert_int_equal(s.protocol, TARS_PROTO_OLLAMA);
    assert_int_equal(s.url_source, TARS_FROM_CLI);
    assert_string_equal(s.model, "cli-m");
    assert_string_equal(s.model_origin, "--model");
  }
}

static void
urls_select_the_protocol(void **state)
{
  (void)state;
  struct
  {
    const char *spec;
    enum tars_model_protocol p;
    const char *url;
  } ok[] = {
      {"http://localhost:11434", TARS_PROTO_OLLAMA, "http://localhost:11434"},
      {"http://localhost:11434/v1", TARS_PROTO_OPENAI, "http://localhost:11434/v1"},
      {"http://localhost:8080", TARS_PROTO_OPENAI, "http://localhost:8080"},
      {"https://api.openai.com/v1/", TARS_PROTO_OPENAI, "https://api.openai.com/v1/"},
      {"http://gpu/ollama/api", TARS_PROTO_OLLAMA, "http://gpu/ollama/api"},
      {"http://gpu/api/chat", TARS_PROTO_OLLAMA, "http://gpu/api/chat"},
      {"ollama:http://gpu:8000", TARS_PROTO_OLLAMA, "http://gpu:8000"},
      {"OpenAI:http://[::1]:11434", TARS_PROTO_OPENAI, "http://[::1]:11434"},
      {"replay:rec.json", TARS_PROTO_REPLAY, "rec.json"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    {
      enum tars_model_protocol p;
      cleanup_free char *url = NULL;
      struct tars_error err = {0};
      if (tars_model_parse_url(ok[i].spec, "--llm", &p, &url, &err) < 0)
        fail_msg("%s: %s", ok[i].spec, err.msg);
      assert_int_equal(p, ok[i].p);
      assert_string_equal(url, ok[i].url);
    }
  struct
  {
    const char *spec, *says;
  } bad[] = {
      {"localhost:11434", "not an http:// or https:// URL"},
      {"ftp://host/", "not an http://"},
      {"http://", "not an http://"},
      {"http://host:99999", "not an http://"},
      {"http://user:secret@host/", "user name or password"},
      {"http://host/a b", "space or a control character"},
      {"replay:", "needs a file"},
      {"openai:file:///etc/passwd", "not an http://"},
      {"http://host/v1?api-version=1", "no query or fragment"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      enum tars_model_protocol p;
      char *url = NULL;
      struct tars_error err = {0};
      assert_int_equal(tars_model_parse_url(bad[i].spec, "--llm", &p, &url, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      if (strstr(err.msg, bad[i].says) == NULL || strncmp(err.msg, "--llm: ", 7) != 0)
        fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].spec, err.msg, bad[i].says);
      /* A password is never repeated in the message.  */
      assert_null(strstr(err.msg, "secret"));
    }
  char origin[64];
  assert_int_equal(tars_model_url_origin("HTTPS://Example.COM/v1", origin, sizeof origin), 0);
  assert_string_equal(origin, "https://example.com:443");
}

static void
a_repository_may_not_hold_a_key(void **state)
{
  struct fx *fx = *state;
  static const char *const configs[] = {
      "{\"model\": {\"api_key\": \"sk-from-the-repository-0000\"}}",
      "{\"model\": {\"api_key_file\": \"/etc/hostname\"}}",
  };
  for (size_t i = 0; i < 2; i++)
    {
      write_repo_config(fx, configs[i]);
      cleanup_model_settings struct tars_model_settings s;
      struct tars_error err = {0};
      assert_int_equal(resolve(fx, NULL, NULL, &s, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_REFUSED);
      assert_non_null(strstr(err.msg, "tars.json: key \"model.api_key"));
      assert_non_null(strstr(err.msg, "may not hold a key"));
      assert_null(strstr(err.msg, "sk-from"));
    }
  write_repo_config(fx, "{\"model\": {\"url\": \"replay:/etc/passwd\"}}");
  cleanup_model_settings struct tars_model_settings s;
  struct tars_error err = {0};
  assert_int_equal(resolve(fx, NULL, NULL, &s, &err), -1);
  assert_non_null(strstr(err.msg, "may not choose a replay file"));
}

static void
a_key_file_others_can_read_is_refused(void **state)
{
  struct fx *fx = *state;
  write_user_config(fx, "{\"model\": {\"api_key\": \"sk-user-config-key-123456\"}}", 0644);
  {
    cleanup_model_settings struct tars_model_settings s;
    struct tars_error err = {0};
    assert_int_equal(resolve(fx, NULL, NULL, &s, &err), -1);
    assert_int_equal(err.kind, TARS_ERR_REFUSED);
    assert_non_null(strstr(err.msg, fx->user));
    assert_non_null(strstr(err.msg, "mode 0644"));
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_null(strstr(err.msg, "sk-user"));
  }
  chmod(fx->user, 0600);
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.api_key, "sk-user-config-key-123456");
    assert_string_equal(s.key_origin, fx->user);
  }
  /* A key file beside the configuration, relative to it.  */
  char keyfile[400];
  snprintf(keyfile, sizeof keyfile, "%s/home/.config/tars/key", fx->root);
  test_write_file(keyfile, "  sk-in-a-key-file-99999\n", 25, 0640);
  chmod(keyfile, 0640);
  write_user_config(fx, "{\"model\": {\"api_key_file\": \"key\"}}", 0644);
  {
    cleanup_model_settings struct tars_model_settings s;
    struct tars_error err = {0};
    assert_int_equal(resolve(fx, NULL, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, keyfile));
    assert_non_null(strstr(err.msg, "mode 0640"));
  }
  chmod(keyfile, 0400);
  {
    cleanup_model_settings struct tars_model_settings s;
    struct tars_error err = {0};
    if (resolve(fx, NULL, NULL, &s, &err) < 0)
      fail_msg("%s", err.msg);
    assert_string_equal(s.api_key, "sk-in-a-key-file-99999");
    assert_string_equal(s.key_origin, keyfile);
  }
  /* A key that would inject a header.  */
  env_set("TARS_API_KEY", "sk-abc\r\nX-Evil: 1");
  {
    cleanup_model_settings struct tars_model_settings s;
    struct tars_error err = {0};
    assert_int_equal(resolve(fx, NULL, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "TARS_API_KEY"));
    assert_non_null(strstr(err.msg, "control character"));
  }
}

static void
the_key_is_not_sent_where_the_repository_points(void **state)
{
  struct fx *fx = *state;
  env_set("TARS_API_KEY", "sk-environment-key-000000");
  write_repo_config(fx, "{\"model\": {\"url\": \"https://attacker.example/v1\"}}");
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.url, "https://attacker.example/v1");
    assert_int_equal(s.url_source, TARS_FROM_REPO);
    assert_null(s.api_key);
    assert_true(s.key_withheld);
  }
  /* The same server as the user's own configuration names: the key goes.  */
  write_user_config(fx, "{\"model\": {\"url\": \"https://ATTACKER.example:443/other\"}}", 0644);
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
    assert_string_equal(s.api_key, "sk-environment-key-000000");
    assert_false(s.key_withheld);
  }
  /* A URL the user chose: the key goes.  */
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, "https://elsewhere.example/v1", NULL, &s, NULL), 0);
    assert_string_equal(s.api_key, "sk-environment-key-000000");
  }
  /* Replay needs no key and holds none.  */
  {
    cleanup_model_settings struct tars_model_settings s;
    assert_int_equal(resolve(fx, "replay:/x.json", NULL, &s, NULL), 0);
    assert_null(s.api_key);
  }
}

static void
bad_values_name_the_file_and_the_key(void **state)
{
  struct fx *fx = *state;
  struct
  {
    const char *json, *says;
  } cases[] = {
      {"{\"model\": {\"retries\": 11}}", "key \"model.retries\": expected a whole number from 0"},
      {"{\"model\": {\"timeout\": \"5m\"}}", "key \"model.timeout\": expected seconds"},
      {"{\"model\": {\"num_ctx\": 100}}", "key \"model.num_ctx\""},
      {"{\"model\": {\"url\": \"nope\"}}", "key \"model.url\""},
      {"{\"model\": {\"protocol\": \"grpc\"}}", "\"model.protocol\": expected \"ollama\""},
      {"{\"model\": {\"modle\": \"x\"}}", "unknown key \"model.modle\""},
      {"{\"model\": [1]}", "key \"model\": expected an object"},
      {"{\"model\": {\"stream\": 1}}", "\"model.stream\": expected true or false"},
      {"{\"model\": ", "malformed JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      write_repo_config(fx, cases[i].json);
      cleanup_model_settings struct tars_model_settings s;
      struct tars_error err = {0};
      assert_int_equal(resolve(fx, NULL, NULL, &s, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      if (strstr(err.msg, "tars.json") == NULL || strstr(err.msg, cases[i].says) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].json, err.msg, cases[i].says);
    }
  write_repo_config(fx, "{}");
  cleanup_model_settings struct tars_model_settings s;
  struct tars_error err = {0};
  assert_int_equal(resolve(fx, NULL, "bad\nname", &s, &err), -1);
  assert_non_null(strstr(err.msg, "--model"));
}

static void
protocol_key_overrides_what_the_url_implies(void **state)
{
  struct fx *fx = *state;
  write_repo_config(fx, "{\"model\": {\"url\": \"http://box:8000\", \"protocol\": \"ollama\"}}");
  cleanup_model_settings struct tars_model_settings s;
  assert_int_equal(resolve(fx, NULL, NULL, &s, NULL), 0);
  assert_int_equal(s.protocol, TARS_PROTO_OLLAMA);
}

static void
settings_cross_to_the_gateway_as_json(void **state)
{
  struct fx *fx = *state;
  env_set("TARS_API_KEY", "sk-crossing-the-pipe-0000");
  cleanup_model_settings struct tars_model_settings s;
  assert_int_equal(resolve(fx, "openai:http://h:1/v1", "m", &s, NULL), 0);
  s.retries = 5;
  s.temperature = 0.25;
  cleanup_cjson cJSON *without = tars_model_settings_to_json(&s, false);
  cleanup_free char *text = cJSON_PrintUnformatted(without);
  assert_null(strstr(text, "sk-crossing"));
  cleanup_cjson cJSON *with = tars_model_settings_to_json(&s, true);
  cleanup_model_settings struct tars_model_settings t;
  assert_int_equal(tars_model_settings_from_json(with, &t, NULL), 0);
  assert_int_equal(t.protocol, TARS_PROTO_OPENAI);
  assert_string_equal(t.url, "http://h:1/v1");
  assert_string_equal(t.model, "m");
  assert_string_equal(t.api_key, "sk-crossing-the-pipe-0000");
  assert_int_equal(t.retries, 5);
  assert_true(t.temperature == 0.25);
  assert_int_equal(t.url_source, TARS_FROM_CLI);
  assert_string_equal(t.key_origin, "TARS_API_KEY");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(defaults_are_ollama_on_localhost, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(each_setting_comes_from_the_highest_source, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(urls_select_the_protocol, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(a_repository_may_not_hold_a_key, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(a_key_file_others_can_read_is_refused, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(the_key_is_not_sent_where_the_repository_points, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(bad_values_name_the_file_and_the_key, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(protocol_key_overrides_what_the_url_implies, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(settings_cross_to_the_gateway_as_json, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
