#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tars/sandbox.h"

/* A scratch directory per test run: a workspace, layers and a changes_out to validate against.  */
struct dirs
{
  char root[64];
  char ws[128], layer[128], file[128], out_empty[128], out_full[128], link[128];
};

static int
setup_dirs(void **state)
{
  struct dirs *d = calloc(1, sizeof *d);
  if (d == NULL)
    return -1;
  snprintf(d->root, sizeof d->root, "/tmp/tars-test-spec-XXXXXX");
  if (mkdtemp(d->root) == NULL)
    return -1;
  snprintf(d->ws, sizeof d->ws, "%s/ws", d->root);
  snprintf(d->layer, sizeof d->layer, "%s/layer", d->root);
  snprintf(d->file, sizeof d->file, "%s/file", d->root);
  snprintf(d->out_empty, sizeof d->out_empty, "%s/out-empty", d->root);
  snprintf(d->out_full, sizeof d->out_full, "%s/out-full", d->root);
  snprintf(d->link, sizeof d->link, "%s/link", d->root);
  char inner[192];
  snprintf(inner, sizeof inner, "%s/x", d->out_full);
  FILE *f;
  if (mkdir(d->ws, 0755) < 0 || mkdir(d->layer, 0755) < 0 || mkdir(d->out_empty, 0755) < 0 ||
      mkdir(d->out_full, 0755) < 0 || symlink(d->out_empty, d->link) < 0 ||
      (f = fopen(d->file, "w")) == NULL)
    return -1;
  fclose(f);
  if ((f = fopen(inner, "w")) == NULL)
    return -1;
  fclose(f);
  *state = d;
  return 0;
}

static int
teardown_dirs(void **state)
{
  struct dirs *d = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->root);
  int r = system(cmd);
  free(d);
  return r == 0 ? 0 : -1;
}

static void
defaults(void **state)
{
  struct tars_spec s;
  tars_spec_init(&s);
  assert_null(s.argv);
  assert_null(s.envp);
  assert_null(s.workspace);
  assert_null(s.rootfs);
  assert_null(s.changes_out);
  assert_int_equal(s.n_layers, 0);
  assert_int_equal(s.n_masks, 0);
  assert_int_equal(s.net, TARS_NET_NONE);
  assert_int_equal(s.timeout_ms, 600000);
  assert_int_equal(s.memory_bytes, 1ULL << 30);
  assert_int_equal(s.as_bytes, UINT64_MAX);
  assert_int_equal(s.pids, 512);
  assert_int_equal(s.cpu_seconds, 600);
  assert_int_equal(s.fsize_bytes, 1ULL << 30);
  assert_int_equal(s.nofile, 1024);
  assert_int_equal(s.scratch_bytes, 1ULL << 30);
  assert_int_equal(s.tmp_bytes, 256ULL << 20);
  assert_int_equal(s.cpu_quota_pct, 0);
  assert_false(s.capture_output);
  assert_int_equal(s.capture_max, 1 << 20);
  assert_true(s.owned);

  /* The defaults pass validation once a command is given.  */
  char *argv[] = {"/bin/true", NULL};
  struct tars_error err;
  s.argv = argv;
  s.owned = false; /* argv is borrowed: tars_spec_free must leave it alone */
  assert_int_equal(tars_spec_validate(&s, &err), 0);
  tars_spec_free(&s);
  assert_string_equal(argv[0], "/bin/true");
  assert_null(s.argv);
  assert_true(s.owned);
}

static void
sizes(void **state)
{
  static const struct
  {
    const char *text;
    uint64_t value;
  } good[] = {
      {"0", 0},
      {"1024", 1024},
      {"100k", 100 * 1024},
      {"100K", 100 * 1024},
      {"100KiB", 100 * 1024},
      {"100kb", 100 * 1024},
      {"512M", 512ULL << 20},
      {"512MB", 512ULL << 20},
      {"2G", 2ULL << 30},
      {"2g", 2ULL << 30},
      {"1.5G", 3ULL << 29},
      {"0.5k", 512},
      {"0.3k", 307}, /* rounded down to a whole byte */
      {"1T", 1ULL << 40},
      {"64B", 64},
      {"16777215T", 16777215ULL << 40},
      {"18446744073709551614", UINT64_MAX - 1},
  };
  static const struct
  {
    const char *text;
    const char *why;
  } bad[] = {
      {"", "empty"},
      {"-1", "negative"},
      {"-5M", "negative"},
      {"abc", "not a size"},
      {"12x", "unknown unit"},
      {"12 M", "unknown unit"},
      {"5MM", "unknown unit"},
      {"1e3", "unknown unit"},
      {"+5", "not a size"},
      {" 5", "not a size"},
      {"M", "expected a number"},
      {"1.", "digits after the decimal point"},
      {"1.2.3G", "not a size"},
      {"1.5", "fraction of a byte"},
      {"1.1234567G", "decimal places"},
      {"16777216T", "too large"},
      {"18446744073709551615", "too large"},
      {"99999999999999999999", "too large"},
      {"20000000000000000000K", "too large"},
  };
  struct tars_error err;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    {
      uint64_t v = 42;
      int r = tars_parse_size(good[i].text, &v, &err);
      if (r != 0)
        fail_msg("%s: %s", good[i].text, err.msg);
      if (v != good[i].value)
        fail_msg("%s: got %llu, want %llu", good[i].text, (unsigned long long)v,
                 (unsigned long long)good[i].value);
    }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      uint64_t v = 42;
      tars_error_clear(&err);
      if (tars_parse_size(bad[i].text, &v, &err) == 0)
        fail_msg("%s: accepted as %llu", bad[i].text, (unsigned long long)v);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      assert_int_equal(v, 42);
      char quoted[64];
      snprintf(quoted, sizeof quoted, "\"%s\"", bad[i].text);
      if (strstr(err.msg, quoted) == NULL || strstr(err.msg, bad[i].why) == NULL)
        fail_msg("%s: message \"%s\" lacks %s or \"%s\"", bad[i].text, err.msg, quoted, bad[i].why);
    }
  /* Control characters in the offending text are escaped, not echoed.  */
  assert_int_equal(tars_parse_size("1\033[2J", NULL, &err), -1);
  assert_null(strchr(err.msg, '\033'));
  assert_non_null(strstr(err.msg, "\\x1b"));
}

static char *
fmt(const char *f, ...)
{
  static char buf[4096];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

static void
good_spec_loads_and_validates(void **state)
{
  struct dirs *d = *state;
  const char *json = fmt("{\n"
                         "  \"argv\": [\"/bin/sh\", \"-c\", \"echo hi\"],\n"
                         "  \"env\": [\"PATH=/usr/bin:/bin\", \"LANG=C.UTF-8\", \"EMPTY=\"],\n"
                         "  \"cwd\": \"%s\",\n"
                         "  \"workspace\": \"%s\",\n"
                         "  \"layers\": [\"%s\"],\n"
                         "  \"rootfs\": \"/\",\n"
                         "  \"changes_out\": \"%s/new\",\n"
                         "  \"masks\": [\"/root\", \"/home\"],\n"
                         "  \"hostname\": \"build-1.tars\",\n"
                         "  \"net\": \"loopback\",\n"
                         "  \"timeout\": \"5m\",\n"
                         "  \"memory\": \"512M\",\n"
                         "  \"address_space\": \"unlimited\",\n"
                         "  \"pids\": 256,\n"
                         "  \"cpu_seconds\": 120,\n"
                         "  \"file_size\": 1048576,\n"
                         "  \"nofile\": 4096,\n"
                         "  \"scratch_size\": \"2G\",\n"
                         "  \"tmp_size\": \"64M\",\n"
                         "  \"cpu_percent\": 150,\n"
                         "  \"capture_output\": true\n"
                         "}\n",
                         d->ws, d->ws, d->layer, d->root);
  struct tars_spec s;
  struct tars_error err;
  tars_spec_init(&s);
  if (tars_spec_load_json(&s, json, strlen(json), &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(s.argv[0], "/bin/sh");
  assert_string_equal(s.argv[1], "-c");
  assert_string_equal(s.argv[2], "echo hi");
  assert_null(s.argv[3]);
  assert_string_equal(s.envp[0], "PATH=/usr/bin:/bin");
  assert_string_equal(s.envp[2], "EMPTY=");
  assert_null(s.envp[3]);
  assert_string_equal(s.cwd, d->ws);
  assert_string_equal(s.workspace, d->ws);
  assert_int_equal(s.n_layers, 1);
  assert_string_equal(s.layers[0], d->layer);
  assert_string_equal(s.rootfs, "/");
  assert_string_equal(s.changes_out, fmt("%s/new", d->root));
  assert_int_equal(s.n_masks, 2);
  assert_string_equal(s.masks[1], "/home");
  assert_string_equal(s.hostname, "build-1.tars");
  assert_int_equal(s.net, TARS_NET_LOOPBACK);
  assert_int_equal(s.timeout_ms, 300000);
  assert_int_equal(s.memory_bytes, 512ULL << 20);
  assert_int_equal(s.as_bytes, UINT64_MAX);
  assert_int_equal(s.pids, 256);
  assert_int_equal(s.cpu_seconds, 120);
  assert_int_equal(s.fsize_bytes, 1048576);
  assert_int_equal(s.nofile, 4096);
  assert_int_equal(s.scratch_bytes, 2ULL << 30);
  assert_int_equal(s.tmp_bytes, 64ULL << 20);
  assert_int_equal(s.cpu_quota_pct, 150);
  assert_true(s.capture_output);
  if (tars_spec_validate(&s, &err) < 0)
    fail_msg("%s", err.msg);
  tars_spec_free(&s);
  /* Freed specs are back to the defaults, with nothing dangling.  */
  assert_null(s.argv);
  assert_null(s.workspace);
  assert_int_equal(s.n_layers, 0);
  assert_int_equal(s.timeout_ms, 600000);
}

static void
merge_and_ownership(void **state)
{
  struct tars_spec s;
  struct tars_error err;
  const char *a = "{\"argv\": [\"/bin/true\"], \"timeout\": 30, \"hostname\": \"a\","
                  " \"layers\": [\"/a\", \"/b\"], \"workspace\": \"/w\"}";
  const char *b = "{\"timeout\": 1.5, \"memory\": 2097152, \"hostname\": \"b\","
                  " \"layers\": [\"/c\"]}";
  tars_spec_init(&s);
  assert_int_equal(tars_spec_load_json(&s, a, strlen(a), &err), 0);
  assert_int_equal(tars_spec_load_json(&s, b, strlen(b), &err), 0);
  assert_string_equal(s.argv[0], "/bin/true"); /* kept from the first */
  assert_int_equal(s.timeout_ms, 1500);        /* replaced by the second */
  assert_int_equal(s.memory_bytes, 2ULL << 20);
  assert_string_equal(s.hostname, "b"); /* "a" was freed (LeakSanitizer checks) */
  assert_int_equal(s.n_layers, 1);
  assert_string_equal(s.layers[0], "/c");
  assert_null(s.layers[1]);

  /* The command line replaces fields as the owner: free the old value, store a copy.  */
  free(s.workspace);
  s.workspace = strdup("/tmp");

  /* A spec with an error changes nothing.  */
  const char *bad = "{\"timeout\": 99, \"hostname\": \"c\", \"memory\": \"lots\"}";
  char *ws = s.workspace;
  assert_int_equal(tars_spec_load_json(&s, bad, strlen(bad), &err), -1);
  assert_int_equal(s.timeout_ms, 1500);
  assert_int_equal(s.memory_bytes, 2ULL << 20);
  assert_string_equal(s.hostname, "b");
  assert_ptr_equal(s.workspace, ws);
  tars_spec_free(&s);

  /* A borrowing spec: its fields are copied before the merge, the caller's memory is untouched
   * and the result owns everything.  */
  char *argv[] = {"/bin/echo", "hi", NULL};
  char mine[] = "/srv";
  tars_spec_init(&s);
  s.owned = false;
  s.argv = argv;
  s.workspace = mine;
  s.masks[0] = mine;
  s.n_masks = 1;
  assert_int_equal(tars_spec_load_json(&s, bad, strlen(bad), &err), -1);
  assert_ptr_equal(s.argv, argv);
  assert_false(s.owned);
  const char *c = "{\"hostname\": \"c\"}";
  assert_int_equal(tars_spec_load_json(&s, c, strlen(c), &err), 0);
  assert_true(s.owned);
  assert_ptr_not_equal(s.argv, argv);
  assert_string_equal(s.argv[1], "hi");
  assert_ptr_not_equal(s.workspace, mine);
  assert_string_equal(s.workspace, "/srv");
  assert_string_equal(s.masks[0], "/srv");
  assert_string_equal(s.hostname, "c");
  tars_spec_free(&s);
  assert_string_equal(mine, "/srv");
  assert_string_equal(argv[0], "/bin/echo");
}

static void
bad_json_names_the_key(void **state)
{
  static const struct
  {
    const char *json;
    const char *want[3]; /* substrings of the message */
  } cases[] = {
      /* malformed */
      {"", {"malformed JSON", "empty"}},
      {"{\"argv\": [\"/bin/true\"],\n  \"net\": }", {"malformed JSON", "line 2", "column 10"}},
      {"{\"argv\": [\"/bin/true\"]", {"malformed JSON", "line 1"}},
      {"{\"argv\": [\"/bin/true\"]} {}", {"malformed JSON", "column 25", "after"}},
      {"[\"/bin/true\"]", {"JSON object", "an array"}},
      {"{\"argv\": [\"/bin/true\"], \"workspace\": \"/tmp\\u0000/x\"}", {"\\u0000", "column"}},
      /* keys */
      {"{\"argvv\": [\"/bin/true\"]}", {"unknown key", "\"argvv\""}},
      {"{\"net\": \"none\", \"net\": \"none\"}", {"\"net\"", "twice"}},
      /* types */
      {"{\"argv\": \"/bin/true\"}", {"\"argv\"", "array of strings", "a string"}},
      {"{\"argv\": []}", {"\"argv\"", "empty"}},
      {"{\"argv\": [\"\"]}", {"\"argv\"", "empty"}},
      {"{\"argv\": [\"/bin/echo\", 3]}", {"\"argv\"", "entry 1", "a number"}},
      {"{\"env\": [\"NOEQUALS\"]}", {"\"env\"", "NAME=VALUE", "NOEQUALS"}},
      {"{\"env\": [\"=x\"]}", {"\"env\"", "name is empty"}},
      {"{\"env\": {\"A\": \"b\"}}", {"\"env\"", "an object"}},
      {"{\"cwd\": 7}", {"\"cwd\"", "a number"}},
      {"{\"workspace\": \"relative/dir\"}", {"\"workspace\"", "absolute", "relative/dir"}},
      {"{\"workspace\": \"/a//b\"}", {"\"workspace\"", "empty component"}},
      {"{\"workspace\": \"/a/b/\"}", {"\"workspace\"", "trailing"}},
      {"{\"workspace\": \"/a/../etc\"}", {"\"workspace\"", "\"..\""}},
      {"{\"workspace\": \"\"}", {"\"workspace\"", "empty"}},
      {"{\"rootfs\": null}", {"\"rootfs\"", "null"}},
      {"{\"changes_out\": \"out\"}", {"\"changes_out\"", "absolute"}},
      {"{\"layers\": \"/a\"}", {"\"layers\"", "array"}},
      {"{\"layers\": [\"/a\", \"b\"]}", {"\"layers\"", "entry 1", "absolute"}},
      {"{\"layers\": "
       "[\"/1\",\"/2\",\"/3\",\"/4\",\"/5\",\"/6\",\"/7\",\"/8\",\"/9\",\"/10\",\"/11\","
       "\"/12\",\"/13\",\"/14\",\"/15\",\"/16\",\"/17\"]}",
       {"\"layers\"", "17 entries", "at most 16"}},
      {"{\"masks\": [\"/\"]}", {"\"masks\"", "root"}},
      {"{\"hostname\": \"bad_name\"}", {"\"hostname\"", "invalid character", "bad_name"}},
      {"{\"hostname\": \"-x\"}", {"\"hostname\"", "starts with"}},
      {"{\"hostname\": "
       "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
       {"\"hostname\"", "too long"}},
      {"{\"net\": \"host\"}", {"\"net\"", "\"host\"", "none"}},
      {"{\"net\": true}", {"\"net\"", "a boolean"}},
      {"{\"capture_output\": \"yes\"}", {"\"capture_output\"", "true or false"}},
      /* limits */
      {"{\"timeout\": -1}", {"\"timeout\"", "negative"}},
      {"{\"timeout\": 0}", {"\"timeout\"", "must not be 0"}},
      {"{\"timeout\": \"10y\"}", {"\"timeout\"", "\"10y\"", "unit"}},
      {"{\"timeout\": \"soon\"}", {"\"timeout\"", "\"soon\"", "not a duration"}},
      {"{\"timeout\": 0.0001}", {"\"timeout\"", "shorter than 1 ms"}},
      {"{\"timeout\": 1e12}", {"\"timeout\"", "too long"}},
      {"{\"timeout\": [30]}", {"\"timeout\"", "an array"}},
      {"{\"memory\": \"lots\"}", {"\"memory\"", "\"lots\"", "not a size"}},
      {"{\"memory\": 512}", {"\"memory\"", "too small"}},
      {"{\"memory\": -5}", {"\"memory\"", "negative"}},
      {"{\"memory\": 1.5}", {"\"memory\"", "whole number"}},
      {"{\"memory\": 1e300}", {"\"memory\"", "too large"}},
      {"{\"memory\": \"99999999999T\"}", {"\"memory\"", "too large"}},
      {"{\"memory\": false}", {"\"memory\"", "a boolean"}},
      {"{\"address_space\": 0}", {"\"address_space\"", "must not be 0"}},
      {"{\"pids\": 0}", {"\"pids\"", "must not be 0"}},
      {"{\"pids\": 5000000}", {"\"pids\"", "too large"}},
      {"{\"pids\": \"512\"}", {"\"pids\"", "expected a number"}},
      {"{\"pids\": 2.5}", {"\"pids\"", "whole number"}},
      {"{\"cpu_seconds\": -3}", {"\"cpu_seconds\"", "negative"}},
      {"{\"file_size\": \"1x\"}", {"\"file_size\"", "unit"}},
      {"{\"nofile\": \"unlimited\"}", {"\"nofile\"", "cannot be unlimited"}},
      {"{\"nofile\": 99999999}", {"\"nofile\"", "too large"}},
      {"{\"scratch_size\": \"unlimited\"}", {"\"scratch_size\"", "cannot be unlimited"}},
      {"{\"tmp_size\": 100}", {"\"tmp_size\"", "too small"}},
      {"{\"cpu_percent\": 1000000}", {"\"cpu_percent\"", "too large"}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct tars_spec s;
      struct tars_error err;
      tars_spec_init(&s);
      tars_error_clear(&err);
      int r = tars_spec_load_json(&s, cases[i].json, strlen(cases[i].json), &err);
      if (r == 0)
        fail_msg("accepted: %s", cases[i].json);
      if (err.kind != TARS_ERR_INVALID)
        fail_msg("%s: kind %d: %s", cases[i].json, err.kind, err.msg);
      for (int j = 0; j < 3 && cases[i].want[j]; j++)
        if (strstr(err.msg, cases[i].want[j]) == NULL)
          fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].json, err.msg, cases[i].want[j]);
      /* Nothing was kept from a failed load.  */
      assert_null(s.argv);
      assert_null(s.workspace);
      assert_int_equal(s.n_layers, 0);
      tars_spec_free(&s);
    }
}

static void
limit_forms(void **state)
{
  static const struct
  {
    const char *json;
    size_t offset;
    uint64_t value;
  } cases[] = {
      {"{\"timeout\": 30}", offsetof(struct tars_spec, timeout_ms), 30000},
      {"{\"timeout\": 0.25}", offsetof(struct tars_spec, timeout_ms), 250},
      {"{\"timeout\": \"30s\"}", offsetof(struct tars_spec, timeout_ms), 30000},
      {"{\"timeout\": \"30\"}", offsetof(struct tars_spec, timeout_ms), 30000},
      {"{\"timeout\": \"500ms\"}", offsetof(struct tars_spec, timeout_ms), 500},
      {"{\"timeout\": \"1.5m\"}", offsetof(struct tars_spec, timeout_ms), 90000},
      {"{\"timeout\": \"2h\"}", offsetof(struct tars_spec, timeout_ms), 7200000},
      {"{\"timeout\": \"unlimited\"}", offsetof(struct tars_spec, timeout_ms), UINT64_MAX},
      {"{\"memory\": \"1G\"}", offsetof(struct tars_spec, memory_bytes), 1ULL << 30},
      {"{\"memory\": \"unlimited\"}", offsetof(struct tars_spec, memory_bytes), UINT64_MAX},
      {"{\"pids\": \"unlimited\"}", offsetof(struct tars_spec, pids), UINT64_MAX},
      {"{\"cpu_seconds\": 1}", offsetof(struct tars_spec, cpu_seconds), 1},
      {"{\"file_size\": \"100k\"}", offsetof(struct tars_spec, fsize_bytes), 102400},
      {"{\"cpu_percent\": 0}", offsetof(struct tars_spec, cpu_quota_pct), 0},
      {"{\"tmp_size\": 4096}", offsetof(struct tars_spec, tmp_bytes), 4096},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct tars_spec s;
      struct tars_error err;
      tars_spec_init(&s);
      if (tars_spec_load_json(&s, cases[i].json, strlen(cases[i].json), &err) < 0)
        fail_msg("%s: %s", cases[i].json, err.msg);
      uint64_t got = *(uint64_t *)((char *)&s + cases[i].offset);
      if (got != cases[i].value)
        fail_msg("%s: got %llu", cases[i].json, (unsigned long long)got);
      tars_spec_free(&s);
    }
}

/* Validation of specs built in C, as the CLI builds them from options.  */
static void
validate_errors_name_field_and_value(void **state)
{
  struct dirs *d = *state;
  char *argv[] = {"/bin/true", NULL};
  char *empty_argv[] = {NULL};
  char *blank_argv[] = {"", NULL};
  char *bad_env[] = {"PATH", NULL};
  char nonexist[160], nested[160];
  snprintf(nonexist, sizeof nonexist, "%s/nope", d->root);
  snprintf(nested, sizeof nested, "%s/nope/deeper", d->root);

  struct tars_spec s;
  struct tars_error err;

#define EXPECT(setup, w1, w2)                                                                      \
  do                                                                                               \
    {                                                                                              \
      tars_spec_init(&s);                                                                          \
      s.argv = argv;                                                                               \
      setup;                                                                                       \
      tars_error_clear(&err);                                                                      \
      if (tars_spec_validate(&s, &err) == 0)                                                       \
        fail_msg("accepted: %s", #setup);                                                          \
      if (err.kind != TARS_ERR_INVALID || strstr(err.msg, w1) == NULL ||                           \
          strstr(err.msg, w2) == NULL)                                                             \
        fail_msg("%s: message \"%s\" (kind %d) lacks \"%s\" or \"%s\"", #setup, err.msg, err.kind, \
                 w1, w2);                                                                          \
    }                                                                                              \
  while (0)

  EXPECT(s.argv = NULL, "argv", "no command");
  EXPECT(s.argv = empty_argv, "argv", "no command");
  EXPECT(s.argv = blank_argv, "argv", "empty");
  EXPECT(s.envp = bad_env, "env[0]", "\"PATH\"");
  EXPECT(s.cwd = "work", "cwd", "\"work\"");
  EXPECT(s.workspace = "ws", "workspace", "absolute");
  EXPECT(s.workspace = nonexist, "workspace", "No such file or directory");
  assert_int_equal(err.code, ENOENT);
  assert_non_null(strstr(err.msg, nonexist));
  EXPECT(s.workspace = d->file, "workspace", "not a directory");
  EXPECT(s.workspace = "/", "workspace \"/\"", "host root");
  EXPECT(s.workspace = fmt("%s/", d->ws), "workspace", "trailing");
  EXPECT(s.rootfs = nonexist, "rootfs", "No such file");
  EXPECT((s.workspace = d->ws, s.layers[0] = d->file, s.n_layers = 1), "layers[0]",
         "not a directory");
  EXPECT((s.layers[0] = d->layer, s.n_layers = 1), "layers", "no workspace");
  EXPECT((s.workspace = d->ws, s.n_layers = TARS_MAX_LAYERS + 1), "layers", "at most 16");
  EXPECT((s.workspace = d->ws, s.changes_out = d->out_full), "changes_out", "not empty");
  EXPECT((s.workspace = d->ws, s.changes_out = d->file), "changes_out", "not a directory");
  EXPECT((s.workspace = d->ws, s.changes_out = d->link), "changes_out", "not a directory");
  EXPECT((s.workspace = d->ws, s.changes_out = nested), "changes_out", "No such file");
  EXPECT(s.changes_out = nonexist, "changes_out", "needs a workspace");
  EXPECT((s.masks[0] = "etc", s.n_masks = 1), "masks[0]", "absolute");
  EXPECT(s.n_masks = TARS_MAX_MASKS + 1, "masks", "at most 64");
  EXPECT(s.hostname = "a b", "hostname", "\"a b\"");
  EXPECT(s.hostname = "", "hostname", "empty");
  EXPECT(s.net = (enum tars_net_mode)7, "net", "7");
  EXPECT(s.timeout_ms = 0, "timeout", "must not be 0");
  EXPECT(s.memory_bytes = 0, "memory", "must not be 0");
  EXPECT(s.memory_bytes = 100, "memory", "100 bytes is too small");
  EXPECT(s.pids = 0, "pids", "must not be 0");
  EXPECT(s.cpu_seconds = 0, "cpu_seconds", "must not be 0");
  EXPECT(s.fsize_bytes = 0, "file_size", "must not be 0");
  EXPECT(s.nofile = 0, "nofile", "must not be 0");
  EXPECT(s.nofile = UINT64_MAX, "nofile", "unlimited");
  EXPECT(s.scratch_bytes = 0, "scratch_size", "must not be 0");
  EXPECT(s.tmp_bytes = UINT64_MAX, "tmp_size", "unlimited");
#undef EXPECT

  /* What may pass: an empty or absent changes_out, "unlimited" where it is allowed.  */
  tars_spec_init(&s);
  s.argv = argv;
  s.workspace = d->ws;
  s.changes_out = d->out_empty;
  s.timeout_ms = UINT64_MAX;
  s.memory_bytes = UINT64_MAX;
  s.pids = UINT64_MAX;
  if (tars_spec_validate(&s, &err) < 0)
    fail_msg("%s", err.msg);
  s.changes_out = nonexist;
  if (tars_spec_validate(&s, &err) < 0)
    fail_msg("%s", err.msg);
}

/* The view entries, stdio and ro_workspace keys: loaded, merged (the old entries freed), owned
 * when borrowed, and strictly checked, each error naming the entry and the key.  */
static void
view_keys(void **state)
{
  struct dirs *d = *state;
  struct tars_spec s;
  struct tars_error err;
  char json[1024];
  snprintf(json, sizeof json,
           "{\"argv\": [\"/bin/true\"], \"stdio\": \"inherit\", \"ro_workspace\": true,"
           " \"workspace\": \"%s\", \"mounts\": ["
           "{\"type\": \"ro-bind\", \"source\": \"%s\"},"
           "{\"type\": \"ro-bind\", \"source\": \"%s\", \"dest\": \"/opt/f\"},"
           "{\"type\": \"tmpfs\", \"dest\": \"/cache\", \"size\": \"8M\"},"
           "{\"type\": \"dir\", \"dest\": \"/srv\"}]}",
           d->ws, d->layer, d->file);
  tars_spec_init(&s);
  if (tars_spec_load_json(&s, json, strlen(json), &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(s.stdio, TARS_STDIO_INHERIT);
  assert_true(s.ro_workspace);
  assert_int_equal(s.n_mounts, 4);
  assert_int_equal(s.mounts[0].type, TARS_MOUNT_RO_BIND);
  assert_string_equal(s.mounts[0].source, d->layer);
  assert_null(s.mounts[0].dest);
  assert_string_equal(s.mounts[1].dest, "/opt/f");
  assert_int_equal(s.mounts[2].type, TARS_MOUNT_TMPFS);
  assert_int_equal(s.mounts[2].size, 8ULL << 20);
  assert_int_equal(s.mounts[3].type, TARS_MOUNT_DIR);
  if (tars_spec_validate(&s, &err) < 0)
    fail_msg("%s", err.msg);
  /* A second "mounts" replaces the list; the old entries are freed (LeakSanitizer checks).  */
  const char *again = "{\"mounts\": [{\"type\": \"dir\", \"dest\": \"/x\"}], \"stdio\": \"pipe\"}";
  assert_int_equal(tars_spec_load_json(&s, again, strlen(again), &err), 0);
  assert_int_equal(s.n_mounts, 1);
  assert_string_equal(s.mounts[0].dest, "/x");
  assert_int_equal(s.stdio, TARS_STDIO_PIPE);
  /* A read-only workspace has no changes to write.  */
  s.changes_out = strdup(d->out_empty);
  assert_int_equal(tars_spec_validate(&s, &err), -1);
  assert_non_null(strstr(err.msg, "read-only workspace"));
  tars_spec_free(&s);

  /* A borrowing spec's entries are copied before a merge.  */
  char src[] = "/srv/borrowed";
  tars_spec_init(&s);
  s.owned = false;
  assert_int_equal(tars_spec_add_mount(&s, TARS_MOUNT_RO_BIND, src, NULL, 0, &err), 0);
  assert_ptr_equal(s.mounts[0].source, src);
  const char *h = "{\"hostname\": \"h\"}";
  assert_int_equal(tars_spec_load_json(&s, h, strlen(h), &err), 0);
  assert_true(s.owned);
  assert_ptr_not_equal(s.mounts[0].source, src);
  assert_string_equal(s.mounts[0].source, src);
  tars_spec_free(&s);

  static const struct
  {
    const char *json, *want;
  } bad[] = {
      {"{\"mounts\": {}}", "key \"mounts\": expected an array of objects"},
      {"{\"mounts\": [1]}", "key \"mounts\": entry 0: expected an object"},
      {"{\"mounts\": [{\"source\": \"/a\"}]}", "entry 0: no \"type\""},
      {"{\"mounts\": [{\"type\": \"bind\", \"source\": \"/a\"}]}", "\"type\" \"bind\": expected"},
      {"{\"mounts\": [{\"type\": \"ro-bind\"}]}", "entry 0 (ro-bind): no \"source\""},
      {"{\"mounts\": [{\"type\": \"tmpfs\", \"source\": \"/a\", \"dest\": \"/b\"}]}",
       "entry 0 (tmpfs): takes no \"source\""},
      {"{\"mounts\": [{\"type\": \"dir\"}]}", "entry 0 (dir): no \"dest\""},
      {"{\"mounts\": [{\"type\": \"dir\", \"dest\": \"/a\", \"size\": 4096}]}",
       "entry 0 (dir): takes no \"size\""},
      {"{\"mounts\": [{\"type\": \"dir\", \"dest\": \"/a\", \"sauce\": 1}]}",
       "entry 0: unknown key \"sauce\""},
      {"{\"mounts\": [{\"type\": \"dir\", \"dest\": \"/a\", \"dest\": \"/b\"}]}",
       "key \"dest\" given twice"},
      {"{\"mounts\": [{\"type\": \"ro-bind\", \"source\": \"rel\"}]}",
       "entry 0: \"source\" \"rel\": must be an absolute path"},
      {"{\"mounts\": [{\"type\": \"dir\", \"dest\": \"/a/../b\"}]}", "\"..\" component"},
      {"{\"mounts\": [{\"type\": \"tmpfs\", \"dest\": \"/a\", \"size\": \"1Q\"}]}",
       "entry 0: \"size\": size \"1Q\": unknown unit"},
      {"{\"stdio\": \"tty\"}", "key \"stdio\": \"tty\": expected \"pipe\" or \"inherit\""},
      {"{\"stdio\": 1}", "key \"stdio\": expected"},
      {"{\"ro_workspace\": \"yes\"}", "key \"ro_workspace\": expected true or false"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      tars_spec_init(&s);
      if (tars_spec_load_json(&s, bad[i].json, strlen(bad[i].json), &err) == 0)
        fail_msg("accepted %s", bad[i].json);
      if (err.kind != TARS_ERR_INVALID || strstr(err.msg, bad[i].want) == NULL)
        fail_msg("%s: got '%s', wanted '%s'", bad[i].json, err.msg, bad[i].want);
      assert_int_equal(s.n_mounts, 0);
      tars_spec_free(&s);
    }

  /* What validation checks on the host: the source's type, where DEST may go.  */
  char *argv[] = {"/bin/true", NULL};
  static const struct
  {
    enum tars_mount_type type;
    int source; /* 0: none, 1: the directory, 2: the file, 3: missing */
    const char *dest, *want;
  } vbad[] = {
      {TARS_MOUNT_BIND_SOCKET, 2, "/run/s", "not a Unix socket"},
      {TARS_MOUNT_RO_BIND, 3, NULL, "No such file or directory"},
      {TARS_MOUNT_DIR, 0, "/proc/x", "inside /proc, which tars mounts itself"},
      {TARS_MOUNT_TMPFS, 0, "/", "cannot replace the root"},
      {TARS_MOUNT_DIR, 0, "WS/sub", "inside the workspace"},
  };
  for (size_t i = 0; i < sizeof vbad / sizeof vbad[0]; i++)
    {
      char dest[256] = "";
      if (vbad[i].dest && strncmp(vbad[i].dest, "WS", 2) == 0)
        snprintf(dest, sizeof dest, "%s%s", d->ws, vbad[i].dest + 2);
      else if (vbad[i].dest)
        snprintf(dest, sizeof dest, "%s", vbad[i].dest);
      const char *sources[] = {NULL, d->layer, d->file, "/nonexistent/source"};
      tars_spec_init(&s);
      s.owned = false;
      s.argv = argv;
      s.workspace = d->ws;
      assert_int_equal(tars_spec_add_mount(&s, vbad[i].type, sources[vbad[i].source],
                                           dest[0] ? dest : NULL, 0, &err),
                       0);
      assert_int_equal(tars_spec_validate(&s, &err), -1);
      if (strstr(err.msg, "mounts[0]") == NULL || strstr(err.msg, vbad[i].want) == NULL)
        fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, vbad[i].want);
    }
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults),
      cmocka_unit_test(sizes),
      cmocka_unit_test(limit_forms),
      cmocka_unit_test(merge_and_ownership),
      cmocka_unit_test(bad_json_names_the_key),
      cmocka_unit_test_setup_teardown(good_spec_loads_and_validates, setup_dirs, teardown_dirs),
      cmocka_unit_test_setup_teardown(validate_errors_name_field_and_value, setup_dirs,
                                      teardown_dirs),
      cmocka_unit_test_setup_teardown(view_keys, setup_dirs, teardown_dirs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
