/* The validator's configuration (vconfig.h): toolchain detection on small trees, the
 * configuration's merge and its errors, command lookup, the test-file and forbidden patterns, and
 * the syntax checkers' commands (the Python ones are run, to check the snippets themselves).  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <cjson/cJSON.h>

#include "tars/cleanup.h"
#include "validate/vconfig.h"

/* ----- fixture ----- */

struct fx
{
  char root[256]; /* holds repo/ and bin/ */
  char repo_path[300];
  char bin_path[300]; /* an empty PATH directory, plus what a test puts there */
  int repo;
  struct tars_vconfig c;
};

#define mkdirs test_mkdirs
#define write_file(path, content, mode) test_write_file(path, content, strlen(content), mode)

/* repo/REL with CONTENT.  */
static void
put(struct fx *fx, const char *rel, const char *content)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", fx->repo_path, rel);
  write_file(p, content, 0644);
}

static void
put_mode(struct fx *fx, const char *rel, const char *content, mode_t mode)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", fx->repo_path, rel);
  write_file(p, content, mode);
}

/* Empty repo/ again, and the configuration back to its defaults.  */
static void
reset(struct fx *fx)
{
  close(fx->repo);
  test_rm_tree_at(AT_FDCWD, fx->repo_path);
  mkdirs(fx->repo_path);
  fx->repo = open(fx->repo_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fx->repo >= 0);
  tars_vconfig_free(&fx->c);
  tars_vconfig_default(&fx->c);
}

static int
fx_setup(void **state)
{
  struct fx *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof fx->root, "%s/tars-vconfig-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fx->root) == NULL)
    return -1;
  snprintf(fx->repo_path, sizeof fx->repo_path, "%s/repo", fx->root);
  snprintf(fx->bin_path, sizeof fx->bin_path, "%s/bin", fx->root);
  mkdirs(fx->repo_path);
  mkdirs(fx->bin_path);
  fx->repo = open(fx->repo_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fx->repo < 0)
    return -1;
  tars_vconfig_default(&fx->c);
  *state = fx;
  return 0;
}

static int
fx_teardown(void **state)
{
  struct fx *fx = *state;
  tars_vconfig_free(&fx->c);
  close(fx->repo);
  test_rm_tree_at(AT_FDCWD, fx->root);
  free(fx);
  return 0;
}

static void
assert_str_or_null(const char *got, const char *want)
{
  if (want == NULL && got != NULL)
    fail_msg("expected NULL, got \"%s\"", got);
  if (want != NULL && (got == NULL || strcmp(got, want) != 0))
    fail_msg("expected \"%s\", got %s%s%s", want, got ? "\"" : "", got ? got : "NULL",
             got ? "\"" : "");
}

static void
assert_contains(const char *haystack, const char *needle)
{
  if (strstr(haystack, needle) == NULL)
    fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static bool
pytest_installed(void)
{
  return system("/usr/bin/python3 -I -c 'import pytest' >/dev/null 2>&1") == 0;
}

/* ----- names and defaults ----- */

static void
defaults(void **state)
{
  struct fx *fx = *state;
  struct tars_vconfig *c = &fx->c;
  assert_int_equal(c->toolchain, TARS_TC_NONE);
  assert_null(c->build);
  assert_null(c->test);
  assert_null(c->lint);
  assert_null(c->results);
  assert_int_equal(c->limits[TARS_STAGE_SYNTAX].timeout_ms, 60000);
  assert_int_equal(c->limits[TARS_STAGE_BUILD].timeout_ms, 600000);
  assert_int_equal(c->limits[TARS_STAGE_TEST].timeout_ms, 600000);
  assert_int_equal(c->limits[TARS_STAGE_LINT].timeout_ms, 300000);
  for (int i = 0; i < TARS_STAGE_COUNT; i++)
    {
      assert_int_equal(c->limits[i].memory_bytes, 2ull << 30);
      assert_int_equal(c->limits[i].pids, 1024);
    }
  assert_false(c->gate_warnings);
  assert_int_equal(c->max_files, 100);
  assert_int_equal(c->max_lines, 5000);
  assert_int_equal(c->n_forbidden, 0);
  assert_int_equal(c->n_test_files, c->n_test_files_static);
  assert_int_equal(c->n_test_files, 17);
  assert_false(c->allow_test_drop);

  assert_string_equal(tars_toolchain_name(TARS_TC_CMAKE), "cmake");
  assert_string_equal(tars_toolchain_name(TARS_TC_CUSTOM), "custom");
  assert_string_equal(tars_toolchain_name(TARS_TC_NONE), "none");
  assert_string_equal(tars_stage_name(TARS_STAGE_LINT), "lint");
  for (int t = TARS_TC_CMAKE; t <= TARS_TC_CUSTOM; t++)
    {
      enum tars_toolchain back;
      struct tars_error err;
      assert_int_equal(tars_toolchain_from_name(tars_toolchain_name(t), &back, &err), 0);
      assert_int_equal(back, t);
    }
  enum tars_toolchain t;
  struct tars_error err;
  assert_int_equal(tars_toolchain_from_name("scons", &t, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_contains(err.msg, "unknown toolchain 'scons'");
  assert_contains(err.msg, "cmake, make, meson, cargo, go, npm, yarn, pytest, unittest, dotnet");
}

/* ----- detection ----- */

struct detect_case
{
  const char *files[4]; /* "name=content"; a name ending in '/' is a directory */
  enum tars_toolchain tc;
  const char *by, *build, *test, *results;
};

static void
populate(struct fx *fx, const char *const *files, size_t n)
{
  for (size_t i = 0; i < n && files[i]; i++)
    {
      char name[256];
      const char *eq = strchr(files[i], '=');
      snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - files[i]) : (int)strlen(files[i]),
               files[i]);
      put(fx, name, eq ? eq + 1 : "");
    }
}

static void
detect_each_toolchain(void **state)
{
  struct fx *fx = *state;
  static const struct detect_case cases[] = {
      {{"CMakeLists.txt=project(x)\n"},
       TARS_TC_CMAKE,
       "CMakeLists.txt",
       "cmake -S . -B .tars-build -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null && cmake --build "
       ".tars-build -j2",
       "ctest --test-dir .tars-build --output-on-failure --output-junit "
       "\"$TARS_RESULTS/junit.xml\"",
       "junit:.tars-results/junit.xml"},
      {{"meson.build=project('x', 'c')\n"},
       TARS_TC_MESON,
       "meson.build",
       "meson setup .tars-build && meson compile -C .tars-build",
       "meson test -C .tars-build",
       "junit:.tars-build/meson-logs/testlog.junit.xml"},
      {{"Cargo.toml=[package]\nname = \"x\"\n"},
       TARS_TC_CARGO,
       "Cargo.toml",
       "cargo build --offline --all-targets",
       "cargo test --offline",
       "cargo"},
      {{"go.mod=module x\n"},
       TARS_TC_GO,
       "go.mod",
       "go build ./... && go vet ./...",
       "go test -json ./...",
       "go-json"},
      {{"package.json={\"scripts\": {\"test\": \"jest\"}}"},
       TARS_TC_NPM,
       "package.json",
       "npm run build --if-present",
       "npm test",
       "jest"},
      /* No test script: npm would fail on it.  */
      {{"package.json={\"name\": \"x\"}"},
       TARS_TC_NPM,
       "package.json",
       "npm run build --if-present",
       NULL,
       NULL},
      {{"package.json={\"scripts\": {\"build\": \"tsc\", \"test\": \"jest\"}}", "yarn.lock="},
       TARS_TC_YARN,
       "package.json and yarn.lock",
       "yarn build",
       "yarn test",
       "jest"},
      {{"package.json={\"scripts\": {\"test\": \"jest\"}}", "yarn.lock="},
       TARS_TC_YARN,
       "package.json and yarn.lock",
       NULL,
       "yarn test",
       "jest"},
      {{"Makefile=all:\n\tcc x.c\ncheck: all\n\t./t\n"},
       TARS_TC_MAKE,
       "Makefile",
       "make -j2",
       "make check",
       "automake"},
      {{"makefile=CHECK := 1\nall:\n\ttrue\n.PHONY: check\ntest all2: all\n\ttrue\n"},
       TARS_TC_MAKE,
       "makefile",
       "make -j2",
       "make test",
       "automake"},
      {{"GNUmakefile=all:\n\ttrue\n# check: not a rule\n\tcheck: recipe\n"},
       TARS_TC_MAKE,
       "GNUmakefile",
       "make -j2",
       NULL,
       NULL},
      {{"pytest.ini=[pytest]\n"},
       TARS_TC_PYTEST,
       "pytest.ini",
       NULL,
       "python3 -m pytest -q -p no:cacheprovider --junitxml=\"$TARS_RESULTS/junit.xml\"",
       "junit:.tars-results/junit.xml"},
      {{"conftest.py="}, TARS_TC_PYTEST, "conftest.py", NULL, NULL, NULL},
      {{"pyproject.toml=[project]\nname='x'\n[tool.pytest.ini_options]\n"},
       TARS_TC_PYTEST,
       "pyproject.toml",
       NULL,
       NULL,
       NULL},
      {{"setup.cfg=[tool:pytest]\n"}, TARS_TC_PYTEST, "setup.cfg", NULL, NULL, NULL},
      /* tests.py: unittest's pattern (test*.py), not pytest's.  */
      {{"tests.py=import unittest\n", "pyproject.toml=[project]\n"},
       TARS_TC_UNITTEST,
       "tests.py",
       NULL,
       "python3 -m unittest discover -v",
       "unittest"},
      {{"App.sln="}, TARS_TC_DOTNET, "App.sln", "dotnet build", "dotnet test", "dotnet"},
      {{"src/", "Lib.csproj=<Project/>"},
       TARS_TC_DOTNET,
       "Lib.csproj",
       "dotnet build",
       "dotnet test",
       "dotnet"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      const struct detect_case *k = &cases[i];
      struct tars_error err;
      reset(fx);
      for (size_t j = 0; j < 4 && k->files[j]; j++)
        {
          size_t l = strlen(k->files[j]);
          if (k->files[j][l - 1] == '/')
            {
              char p[PATH_MAX];
              snprintf(p, sizeof p, "%s/%s", fx->repo_path, k->files[j]);
              mkdirs(p);
            }
          else
            populate(fx, &k->files[j], 1);
        }
      if (tars_vconfig_detect(&fx->c, fx->repo, &err) < 0)
        fail_msg("case %zu: %s", i, err.msg);
      assert_int_equal(fx->c.toolchain, k->tc);
      assert_string_equal(fx->c.detected_by, k->by);
      if (k->tc == TARS_TC_PYTEST && k->test == NULL)
        continue; /* only the detection itself */
      assert_str_or_null(fx->c.build, k->build);
      assert_str_or_null(fx->c.test, k->test);
      assert_str_or_null(fx->c.results, k->results);
      assert_null(fx->c.lint);
    }
}

static void
detect_python_test_files(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;

  /* Test files two levels down: pytest when /usr/bin/python3 has it, else unittest (test*.py).  */
  put(fx, "pkg/__init__.py", "");
  put(fx, "tests/test_pkg.py", "def test_x(): pass\n");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  if (pytest_installed())
    {
      assert_int_equal(fx->c.toolchain, TARS_TC_PYTEST);
      assert_string_equal(fx->c.test, "python3 -m pytest -q -p no:cacheprovider "
                                      "--junitxml=\"$TARS_RESULTS/junit.xml\"");
    }
  else
    assert_int_equal(fx->c.toolchain, TARS_TC_UNITTEST);
  assert_string_equal(fx->c.detected_by, "tests/test_pkg.py");

  /* Three levels down is not looked at.  */
  reset(fx);
  put(fx, "a/b/test_deep.py", "");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), -1);

  /* Hidden directories are not looked at either.  */
  reset(fx);
  put(fx, ".venv/test_x.py", "");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), -1);
}

static void
detect_priority(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  static const struct
  {
    const char *files[6];
    enum tars_toolchain tc;
  } cases[] = {
      {{"Makefile=check:\n", "package.json={}", "CMakeLists.txt=", "go.mod=", "pytest.ini="},
       TARS_TC_CMAKE},
      {{"Cargo.toml=", "meson.build=", "Makefile="}, TARS_TC_MESON},
      {{"go.mod=", "Cargo.toml=", "package.json={}"}, TARS_TC_CARGO},
      {{"package.json={}", "go.mod="}, TARS_TC_GO},
      {{"Makefile=", "package.json={}"}, TARS_TC_NPM},
      {{"Makefile=", "pytest.ini=", "x.sln="}, TARS_TC_MAKE},
      {{"x.sln=", "conftest.py="}, TARS_TC_PYTEST},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      reset(fx);
      populate(fx, cases[i].files, 6);
      if (tars_vconfig_detect(&fx->c, fx->repo, &err) < 0)
        fail_msg("case %zu: %s", i, err.msg);
      if (fx->c.toolchain != cases[i].tc)
        fail_msg("case %zu: detected %s, expected %s", i, tars_toolchain_name(fx->c.toolchain),
                 tars_toolchain_name(cases[i].tc));
    }

  /* A symlink is not followed, nor counted: the Makefile decides.  */
  reset(fx);
  put(fx, "Makefile", "all:\n");
  put(fx, "real/CMakeLists.txt", "");
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/CMakeLists.txt", fx->repo_path);
  assert_int_equal(symlink("real/CMakeLists.txt", p), 0);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_MAKE);

  /* A directory named like a marker is not one.  */
  reset(fx);
  snprintf(p, sizeof p, "%s/go.mod", fx->repo_path);
  mkdirs(p);
  put(fx, "x.csproj", "");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_DOTNET);
}

static void
detect_nothing(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  put(fx, "README.md", "hello\n");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_contains(err.msg, "no toolchain detected in ");
  assert_contains(err.msg, fx->repo_path);
  assert_contains(err.msg, "set validate.toolchain or validate.test in .tars/config.json");
  assert_int_equal(fx->c.toolchain, TARS_TC_NONE);

  /* A configured test command alone is enough: a custom toolchain.  */
  cJSON *v = cJSON_Parse("{\"test\": \"./run-tests\", \"build\": \"./build.sh\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "test", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_CUSTOM);
  assert_string_equal(fx->c.detected_by, "config");
  assert_string_equal(fx->c.test, "./run-tests");
  assert_string_equal(fx->c.build, "./build.sh");
  assert_null(fx->c.results);
}

static void
detect_respects_configuration(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  put(fx, "CMakeLists.txt", "");
  put(fx, "Makefile", "test:\n\ttrue\n");

  /* The configured toolchain is not second-guessed, and only its defaults are used.  */
  cJSON *v = cJSON_Parse("{\"toolchain\": \"make\", \"build\": \"\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "step 1", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_MAKE);
  assert_string_equal(fx->c.detected_by, "config");
  assert_null(fx->c.build); /* "" is no build stage, not "fill in the default" */
  assert_string_equal(fx->c.test, "make test");
  assert_string_equal(fx->c.results, "automake");

  /* A configured test command gets the toolchain's text runner, not its junit file.  */
  reset(fx);
  put(fx, "CMakeLists.txt", "");
  v = cJSON_Parse("{\"test\": \"ctest --test-dir b\", \"lint\": \"clang-tidy x.c\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "step 1", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_CMAKE);
  assert_string_equal(fx->c.detected_by, "CMakeLists.txt");
  assert_string_equal(fx->c.test, "ctest --test-dir b");
  assert_string_equal(fx->c.results, "ctest");
  assert_string_equal(fx->c.lint, "clang-tidy x.c");
  assert_non_null(strstr(fx->c.build, "cmake --build"));

  /* Detection again (after a step's merge changed the toolchain) replaces what it filled in.  */
  v = cJSON_Parse("{\"toolchain\": \"cargo\", \"results\": \"tap\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "step 2", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_CARGO);
  assert_string_equal(fx->c.build, "cargo build --offline --all-targets");
  assert_string_equal(fx->c.test, "ctest --test-dir b");
  assert_string_equal(fx->c.results, "tap");

  /* A custom toolchain has no defaults at all.  */
  reset(fx);
  put(fx, "CMakeLists.txt", "");
  v = cJSON_Parse("{\"toolchain\": \"custom\", \"build\": \"./b\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "x", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.toolchain, TARS_TC_CUSTOM);
  assert_string_equal(fx->c.build, "./b");
  assert_null(fx->c.test);
  assert_null(fx->c.results);
}

/* ----- the configuration ----- */

static int
load_text(struct fx *fx, const char *file, const char *json, struct tars_error *err)
{
  put(fx, file, json);
  int r = tars_vconfig_load(&fx->c, fx->repo, err);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", fx->repo_path, file);
  unlink(p);
  return r;
}

static void
config_every_key(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  const char *json =
      "{\"apply\": {\"whatever\": 1}, \"other\": [1, 2],\n"
      " \"validate\": {\"toolchain\": \"go\", \"build\": \"go build ./cmd/...\",\n"
      "   \"test\": \"go test ./...\", \"lint\": \"golangci-lint run\",\n"
      "   \"results\": \"junit:out/report.xml\",\n"
      "   \"timeouts\": {\"syntax\": 5, \"build\": 1200, \"test\": 86400, \"lint\": 1},\n"
      "   \"memory\": \"4G\", \"pids\": 4096,\n"
      "   \"gates\": {\"warnings\": true, \"max_files\": 7, \"max_lines\": 0,\n"
      "             \"forbidden\": [\"vendor/\", \"*.lock\", \"docs/*.md\"],\n"
      "             \"test_files\": [\"it/\", \"*_spec.rb\"], \"allow_test_drop\": true}}}";
  if (load_text(fx, ".tars/config.json", json, &err) < 0)
    fail_msg("%s", err.msg);
  struct tars_vconfig *c = &fx->c;
  assert_int_equal(c->toolchain, TARS_TC_GO);
  assert_string_equal(c->detected_by, "config");
  assert_string_equal(c->build, "go build ./cmd/...");
  assert_string_equal(c->test, "go test ./...");
  assert_string_equal(c->lint, "golangci-lint run");
  assert_string_equal(c->results, "junit:out/report.xml");
  assert_int_equal(c->configured, TARS_VC_SET_TOOLCHAIN | TARS_VC_SET_BUILD | TARS_VC_SET_TEST |
                                      TARS_VC_SET_LINT | TARS_VC_SET_RESULTS);
  assert_int_equal(c->limits[TARS_STAGE_SYNTAX].timeout_ms, 5000);
  assert_int_equal(c->limits[TARS_STAGE_BUILD].timeout_ms, 1200000);
  assert_int_equal(c->limits[TARS_STAGE_TEST].timeout_ms, 86400000);
  assert_int_equal(c->limits[TARS_STAGE_LINT].timeout_ms, 1000);
  for (int i = 0; i < TARS_STAGE_COUNT; i++)
    {
      assert_int_equal(c->limits[i].memory_bytes, 4ull << 30);
      assert_int_equal(c->limits[i].pids, 4096);
    }
  assert_true(c->gate_warnings);
  assert_int_equal(c->max_files, 7);
  assert_int_equal(c->max_lines, 0);
  assert_int_equal(c->n_forbidden, 3);
  assert_string_equal(c->forbidden[0], "vendor/");
  assert_int_equal(c->n_test_files, 19);
  assert_string_equal(c->test_files[17], "it/");
  assert_true(c->allow_test_drop);

  /* A step's merge adds patterns (without duplicates) and overrides the rest.  */
  cJSON *v = cJSON_Parse("{\"gates\": {\"forbidden\": [\"*.lock\", \"secrets/\"]}, "
                         "\"memory\": 268435456, \"results\": \"go-json\", \"lint\": \"\"}");
  assert_int_equal(tars_vconfig_merge(c, v, "step 2's validationRules", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(c->n_forbidden, 4);
  assert_string_equal(c->forbidden[3], "secrets/");
  assert_int_equal(c->limits[TARS_STAGE_TEST].memory_bytes, 256u << 20);
  assert_string_equal(c->results, "go-json");
  assert_null(c->lint);
  assert_true(c->configured & TARS_VC_SET_LINT);

  /* tars.json is read only when .tars/config.json is absent.  */
  reset(fx);
  put(fx, "tars.json", "{\"validate\": {\"pids\": 10}}");
  assert_int_equal(load_text(fx, ".tars/config.json", "{\"validate\": {\"pids\": 20}}", &err), 0);
  assert_int_equal(fx->c.limits[TARS_STAGE_BUILD].pids, 20);
  assert_int_equal(tars_vconfig_load(&fx->c, fx->repo, &err), 0);
  assert_int_equal(fx->c.limits[TARS_STAGE_BUILD].pids, 10);

  /* No file, or no "validate": nothing changes.  */
  reset(fx);
  assert_int_equal(tars_vconfig_load(&fx->c, fx->repo, &err), 0);
  assert_int_equal(load_text(fx, "tars.json", "{\"apply\": {}}", &err), 0);
  assert_int_equal(fx->c.configured, 0);
}

static void
config_errors(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  static const struct
  {
    const char *json, *msg;
  } cases[] = {
      {"{\"validate\": {\"gates\": {\"max_file\": 3}}}",
       "tars.json: validate.gates.max_file: unknown key"},
      {"{\"validate\": {\"tests\": \"make check\"}}", "tars.json: validate.tests: unknown key"},
      {"{\"validate\": {\"timeouts\": {\"compile\": 3}}}",
       "tars.json: validate.timeouts.compile: unknown key"},
      {"{\"validate\": {\"build\": 1}}", "tars.json: validate.build: expected a string"},
      {"{\"validate\": {\"test\": null}}", "tars.json: validate.test: expected a string"},
      {"{\"validate\": {\"gates\": {\"warnings\": \"yes\"}}}",
       "tars.json: validate.gates.warnings: expected true or false"},
      {"{\"validate\": {\"gates\": {\"max_lines\": -1}}}", "validate.gates.max_lines: expected a"},
      {"{\"validate\": {\"gates\": {\"forbidden\": \"vendor/\"}}}",
       "validate.gates.forbidden: expected an array of strings"},
      {"{\"validate\": {\"gates\": {\"test_files\": [\"../x\"]}}}",
       "validate.gates.test_files: \"../x\": the path has a '.' or '..' component"},
      {"{\"validate\": {\"gates\": {\"forbidden\": [\"/etc/\"]}}}", "the path is absolute"},
      {"{\"validate\": {\"gates\": {\"forbidden\": [3]}}}", "not a string"},
      {"{\"validate\": {\"gates\": []}}", "validate.gates: expected an object"},
      {"{\"validate\": {\"timeouts\": {\"build\": 0}}}",
       "tars.json: validate.timeouts.build: 0 is out of range (1 to 86400)"},
      {"{\"validate\": {\"timeouts\": {\"test\": 86401}}}", "out of range"},
      {"{\"validate\": {\"timeouts\": {\"test\": 1.5}}}",
       "validate.timeouts.test: expected a whole"},
      {"{\"validate\": {\"timeouts\": {\"test\": \"60\"}}}",
       "validate.timeouts.test: expected a whole number"},
      {"{\"validate\": {\"timeouts\": 60}}", "validate.timeouts: expected an object"},
      {"{\"validate\": {\"results\": \"junit:../out.xml\"}}",
       "validate.results: \"junit:../out.xml\": the path has a '.' or '..' component"},
      {"{\"validate\": {\"results\": \"junit:/tmp/x.xml\"}}", "the path is absolute"},
      {"{\"validate\": {\"results\": \"junit:\"}}", "the path is empty"},
      {"{\"validate\": {\"results\": \"xunit\"}}",
       "validate.results: \"xunit\": expected \"junit:PATH\""},
      {"{\"validate\": {\"toolchain\": \"scons\"}}",
       "tars.json: validate.toolchain: unknown toolchain 'scons' (known: cmake, make, meson, "
       "cargo, go, npm, yarn, pytest, unittest, dotnet, custom)"},
      {"{\"validate\": {\"toolchain\": \"none\"}}", "unknown toolchain 'none'"},
      {"{\"validate\": {\"memory\": \"lots\"}}", "tars.json: validate.memory: "},
      {"{\"validate\": {\"memory\": 1024}}", "validate.memory: 1024 bytes is too little"},
      {"{\"validate\": {\"memory\": true}}", "validate.memory: expected a size"},
      {"{\"validate\": {\"pids\": 0}}", "validate.pids: 0 is out of range"},
      {"{\"validate\": []}", "tars.json: validate: expected an object"},
      {"[1]", "tars.json: the top level is not an object"},
      {"{\"validate\": {\"build\": \"make\",}", "tars.json: malformed JSON"},
      {"", "tars.json: malformed JSON"},
  };
  /* Something to see unchanged after each failure.  */
  cJSON *v = cJSON_Parse("{\"build\": \"make -k\", \"gates\": {\"forbidden\": [\"a/\"]}}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "setup", &err), 0);
  cJSON_Delete(v);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      /* Each error comes after a valid key, which must not have been applied either.  */
      char json[1024];
      snprintf(json, sizeof json, "%s", cases[i].json);
      char *open = strstr(json, "\"validate\": {");
      if (open)
        {
          char rest[1024];
          snprintf(rest, sizeof rest, "%s", open + 13);
          snprintf(open + 13, sizeof json - (size_t)(open + 13 - json),
                   "\"pids\": 7, \"gates\": {\"test_files\": [\"x/\"]}, %s", rest);
          /* The case's own "gates" must still be seen: cJSON keeps both, in order.  */
        }
      if (load_text(fx, "tars.json", json, &err) == 0)
        fail_msg("case %zu: accepted %s", i, json);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      if (strstr(err.msg, cases[i].msg) == NULL)
        fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err.msg, cases[i].msg);
      assert_int_equal(fx->c.limits[TARS_STAGE_BUILD].pids, 1024);
      assert_string_equal(fx->c.build, "make -k");
      assert_int_equal(fx->c.n_forbidden, 1);
      assert_int_equal(fx->c.n_test_files, fx->c.n_test_files_static);
      assert_int_equal(fx->c.configured, TARS_VC_SET_BUILD);
    }

  /* The same errors through tars_vconfig_merge name WHERE and the bare key.  */
  v = cJSON_Parse("{\"gates\": {\"max_file\": 3}}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "step 3's validationRules", &err), -1);
  cJSON_Delete(v);
  assert_string_equal(err.msg, "step 3's validationRules: gates.max_file: unknown key");

  /* Too many patterns.  */
  cJSON *many = cJSON_CreateObject(), *gates = cJSON_AddObjectToObject(many, "gates");
  cJSON *arr = cJSON_AddArrayToObject(gates, "forbidden");
  for (int i = 0; i < TARS_VCONFIG_MAX_PATTERNS + 1; i++)
    {
      char p[32];
      snprintf(p, sizeof p, "dir%d/", i);
      cJSON_AddItemToArray(arr, cJSON_CreateString(p));
    }
  assert_int_equal(tars_vconfig_merge(&fx->c, many, "x", &err), -1);
  cJSON_Delete(many);
  assert_contains(err.msg, "more than 64 patterns");
  assert_int_equal(fx->c.n_forbidden, 1);
}

static void
config_symlink_refused(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  char p[PATH_MAX];

  put(fx, "elsewhere.json", "{\"validate\": {\"build\": \"evil\"}}");
  snprintf(p, sizeof p, "%s/tars.json", fx->repo_path);
  assert_int_equal(symlink("elsewhere.json", p), 0);
  assert_int_equal(tars_vconfig_load(&fx->c, fx->repo, &err), -1);
  assert_null(fx->c.build);
  unlink(p);

  /* And through a symlinked .tars directory.  */
  snprintf(p, sizeof p, "%s/realtars", fx->repo_path);
  mkdirs(p);
  put(fx, "realtars/config.json", "{\"validate\": {\"build\": \"evil\"}}");
  snprintf(p, sizeof p, "%s/.tars", fx->repo_path);
  assert_int_equal(symlink("realtars", p), 0);
  assert_int_equal(tars_vconfig_load(&fx->c, fx->repo, &err), -1);
  assert_null(fx->c.build);

  /* A directory where the file should be.  */
  reset(fx);
  snprintf(p, sizeof p, "%s/tars.json", fx->repo_path);
  mkdirs(p);
  assert_int_equal(tars_vconfig_load(&fx->c, fx->repo, &err), -1);
  assert_contains(err.msg, "not a regular file");
}

/* ----- commands ----- */

static int
check(struct fx *fx, const char *build, const char *test, const char *lint, struct tars_error *err)
{
  free(fx->c.build);
  free(fx->c.test);
  free(fx->c.lint);
  fx->c.build = build ? strdup(build) : NULL;
  fx->c.test = test ? strdup(test) : NULL;
  fx->c.lint = lint ? strdup(lint) : NULL;
  return tars_vconfig_check_commands(&fx->c, fx->repo, fx->bin_path, err);
}

static void
add_tool(struct fx *fx, const char *name)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", fx->bin_path, name);
  write_file(p, "#!/bin/sh\n", 0755);
}

static void
check_commands(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;

  /* Builtins, keywords and what the shell decides are accepted without a lookup.  */
  static const char *const ok[] = {
      "cd sub && nosuch",
      "  exec nosuch",
      "set -e; nosuch",
      "true",
      "[ -f x ] && nosuch",
      "test -d build",
      "echo hi",
      "if nosuch; then :; fi",
      "for f in *; do nosuch; done",
      "{ nosuch; }",
      "(cd x && nosuch)",
      ". ./env.sh && nosuch",
      ": nothing",
      "export A=1; nosuch",
      "$MAKE check",
      "\"$HOME/bin/x\"",
      "A=1 B=2",
      "   ",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (check(fx, ok[i], NULL, NULL, &err) < 0)
      fail_msg("\"%s\": %s", ok[i], err.msg);

  /* A program: looked up on the PATH given.  */
  assert_int_equal(check(fx, "nosuch --flag", NULL, NULL, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "validate.build: command 'nosuch' not found (PATH=%s)", fx->bin_path);
  assert_string_equal(err.msg, want);
  add_tool(fx, "mytool");
  assert_int_equal(check(fx, "mytool --flag", "mytool", NULL, &err), 0);
  assert_int_equal(check(fx, NULL, NULL, "other", &err), -1);
  assert_contains(err.msg, "validate.lint: command 'other' not found");
  /* Not executable: not found.  */
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/plain", fx->bin_path);
  write_file(p, "", 0644);
  assert_int_equal(check(fx, NULL, "plain", NULL, &err), -1);
  assert_contains(err.msg, "validate.test: command 'plain' not found");

  /* Environment assignments first, quoted or not.  */
  assert_int_equal(check(fx, "CC=clang CFLAGS='-O2 -g' X=\"a b\" mytool all", NULL, NULL, &err), 0);
  assert_int_equal(check(fx, "CC=clang nosuch2 all", NULL, NULL, &err), -1);
  assert_contains(err.msg, "command 'nosuch2' not found");
  /* Quoted program names are unquoted.  */
  assert_int_equal(check(fx, "'mytool' x", NULL, NULL, &err), 0);

  /* Relative paths: beneath the tree.  */
  put_mode(fx, "scripts/run.sh", "#!/bin/sh\n", 0755);
  put_mode(fx, "scripts/noexec.sh", "#!/bin/sh\n", 0644);
  assert_int_equal(check(fx, "./scripts/run.sh -v", "scripts/run.sh", NULL, &err), 0);
  assert_int_equal(check(fx, "sh scripts/noexec.sh", NULL, NULL, &err), -1); /* no sh in bin/ */
  add_tool(fx, "sh");
  assert_int_equal(check(fx, "sh scripts/noexec.sh", NULL, NULL, &err), 0);
  assert_int_equal(check(fx, "./scripts/noexec.sh", NULL, NULL, &err), -1);
  assert_contains(err.msg, "validate.build: command './scripts/noexec.sh' is not executable");
  assert_int_equal(check(fx, NULL, "./scripts/missing.sh", NULL, &err), -1);
  assert_string_equal(err.msg,
                      "validate.test: command './scripts/missing.sh' not found in the repository");
  assert_int_equal(check(fx, "../outside/x", NULL, NULL, &err), -1);
  assert_contains(err.msg, "inside the repository");
  assert_int_equal(check(fx, "./scripts", NULL, NULL, &err), -1);
  assert_contains(err.msg, "not a regular file");

  /* Absolute paths: on the host.  */
  assert_int_equal(check(fx, "/bin/sh -c true", NULL, NULL, &err), 0);
  assert_int_equal(check(fx, "/nonexistent/tool", NULL, NULL, &err), -1);
  assert_contains(err.msg, "command '/nonexistent/tool' not found");
}

static void
check_toolchain_tool(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;

  put(fx, "Cargo.toml", "[package]\n");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(tars_vconfig_check_commands(&fx->c, fx->repo, fx->bin_path, &err), -1);
  assert_string_equal(
      err.msg, "toolchain cargo (detected from Cargo.toml) needs 'cargo', which is not installed");
  add_tool(fx, "cargo");
  assert_int_equal(tars_vconfig_check_commands(&fx->c, fx->repo, fx->bin_path, &err), 0);

  /* Configured commands of its own: the toolchain's program is not needed.  */
  reset(fx);
  put(fx, "go.mod", "module x\n");
  cJSON *v = cJSON_Parse("{\"build\": \"\", \"test\": \"\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "x", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(tars_vconfig_check_commands(&fx->c, fx->repo, fx->bin_path, &err), 0);

  reset(fx);
  v = cJSON_Parse("{\"toolchain\": \"dotnet\"}");
  assert_int_equal(tars_vconfig_merge(&fx->c, v, "x", &err), 0);
  cJSON_Delete(v);
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  assert_int_equal(tars_vconfig_check_commands(&fx->c, fx->repo, fx->bin_path, &err), -1);
  assert_string_equal(
      err.msg,
      "toolchain dotnet (set in the configuration) needs 'dotnet', which is not installed");

  /* pytest: python3 is there, and pytest must be importable by it.  */
  reset(fx);
  put(fx, "pytest.ini", "[pytest]\n");
  assert_int_equal(tars_vconfig_detect(&fx->c, fx->repo, &err), 0);
  int r = tars_vconfig_check_commands(&fx->c, fx->repo, "/usr/bin", &err);
  if (pytest_installed())
    assert_int_equal(r, 0);
  else
    {
      assert_int_equal(r, -1);
      assert_contains(err.msg, "toolchain pytest (detected from pytest.ini) needs 'pytest'");
    }
  /* A python3 that has no pytest.  */
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/python3", fx->bin_path);
  write_file(p, "#!/bin/sh\nexit 1\n", 0755);
  assert_int_equal(tars_vconfig_check_commands(&fx->c, fx->repo, fx->bin_path, &err), -1);
  assert_contains(err.msg, "toolchain pytest (detected from pytest.ini) needs 'pytest', which is "
                           "not installed");
}

/* ----- patterns ----- */

static void
patterns(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  struct tars_vconfig *c = &fx->c;

  static const char *const tests[] = {
      "tests/unit/test_x.c",
      "test/a.py",
      "spec/models/user_spec.rb",
      "__tests__/a.js",
      "testing",
      "pkg/test_mod.py",
      "pkg/mod_test.py",
      "cmd/x/main_test.go",
      "src/a_test.cc",
      "ui/button.test.js",
      "ui/button.spec.ts",
      "src/main/java/FooTest.java",
      "App/FooTests.cs",
      /* Test directories count at any depth.  */
      "pkg/tests/helpers.py",
      "web/__tests__/util.js",
  };
  static const char *const not_tests[] = {
      "src/tests.c", "src/test.c",   "README.md",      "test_x.pyc",         "src/latest/x.c",
      "contest.py",  "src/a_test.h", "testsuite/a.sh", "pkg/testsuite/b.py",
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (!tars_vconfig_is_test_file(c, tests[i]))
      fail_msg("%s should be a test file", tests[i]);
  for (size_t i = 0; i < sizeof not_tests / sizeof not_tests[0]; i++)
    if (tars_vconfig_is_test_file(c, not_tests[i]))
      fail_msg("%s should not be a test file", not_tests[i]);

  assert_null(tars_vconfig_forbidden(c, "vendor/x.c"));
  cJSON *v = cJSON_Parse("{\"gates\": {\"forbidden\": [\"vendor/\", \"*.lock\", \"docs/*.md\", "
                         "\"LICENSE\", \"gen/*/out\"], \"test_files\": [\"*_spec.rb\"]}}");
  assert_int_equal(tars_vconfig_merge(c, v, "x", &err), 0);
  cJSON_Delete(v);
  static const struct
  {
    const char *path, *rule;
  } forb[] = {
      {"vendor/lib/x.c", "vendor/"},
      {"vendor", "vendor/"},
      {"Cargo.lock", "*.lock"},
      {"web/yarn.lock", "*.lock"},
      {"a.lock/inside", "*.lock"},
      {"docs/intro.md", "docs/*.md"},
      {"docs/intro.md/x", "docs/*.md"},
      {"LICENSE", "LICENSE"},
      {"gen/a/out/f", "gen/*/out"},
      {"src/vendor/x.c", NULL},
      {"docs/sub/intro.md", NULL},
      {"LICENSE.txt", NULL},
      {"sub/LICENSE", NULL},
      {"gen/a/b/out", NULL},
      {"vendored.c", NULL},
  };
  for (size_t i = 0; i < sizeof forb / sizeof forb[0]; i++)
    {
      const char *got = tars_vconfig_forbidden(c, forb[i].path);
      if ((got == NULL) != (forb[i].rule == NULL) || (got && strcmp(got, forb[i].rule) != 0))
        fail_msg("%s: matched %s, expected %s", forb[i].path, got ? got : "nothing",
                 forb[i].rule ? forb[i].rule : "nothing");
    }
  assert_true(tars_vconfig_is_test_file(c, "spec2/models/user_spec.rb"));
}

/* ----- syntax checks ----- */

static void
lang_of(void **state)
{
  static const struct
  {
    const char *path;
    enum tars_syntax_lang lang;
  } cases[] = {
      {"src/a.c", TARS_LANG_C},         {"include/a.h", TARS_LANG_C},
      {"a.cc", TARS_LANG_CXX},          {"a.cpp", TARS_LANG_CXX},
      {"a.cxx", TARS_LANG_CXX},         {"a.hpp", TARS_LANG_CXX},
      {"a.hh", TARS_LANG_CXX},          {"a.C", TARS_LANG_CXX},
      {"x/setup.py", TARS_LANG_PYTHON}, {"stubs/a.pyi", TARS_LANG_PYTHON},
      {"package.json", TARS_LANG_JSON}, {".github/ci.yml", TARS_LANG_YAML},
      {"conf.yaml", TARS_LANG_YAML},    {"Cargo.toml", TARS_LANG_TOML},
      {"run.sh", TARS_LANG_SHELL},      {"lib.bash", TARS_LANG_SHELL},
      {"main.go", TARS_LANG_GO},        {"web/a.js", TARS_LANG_JS},
      {"web/a.mjs", TARS_LANG_JS},      {"web/a.cjs", TARS_LANG_JS},
      {"Makefile", TARS_LANG_NONE},     {"README.md", TARS_LANG_NONE},
      {".bashrc", TARS_LANG_NONE},      {"dir.c/file", TARS_LANG_NONE},
      {"a.ts", TARS_LANG_NONE},         {"x.json5", TARS_LANG_NONE},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (tars_syntax_lang_of(cases[i].path) != cases[i].lang)
      fail_msg("%s: %s, expected %s", cases[i].path,
               tars_syntax_lang_name(tars_syntax_lang_of(cases[i].path)),
               tars_syntax_lang_name(cases[i].lang));
  assert_string_equal(tars_syntax_lang_name(TARS_LANG_PYTHON), "python");
  assert_string_equal(tars_syntax_lang_name(TARS_LANG_C), "c");
}

static size_t
argc(char **argv)
{
  size_t n = 0;
  while (argv[n])
    n++;
  return n;
}

/* ARGV joined with spaces.  */
static char *
joined(char **argv)
{
  static char buf[8192];
  size_t o = 0;
  buf[0] = '\0';
  for (char **a = argv; a && *a; a++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", o ? " " : "", *a);
  return buf;
}

static void
syntax_c_compile_db(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  char json[4096], abs[512], want[4096];
  const char *ws = fx->repo_path;
  bool guessed = true;

  put(fx, "src/a.c", "int a;\n");
  put(fx, "src/b.c", "int b;\n");
  put(fx, "include/x.h", "int x;\n");
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/build", fx->repo_path);
  mkdirs(p);
  /* "command" strings, split the way the shell would; "arguments" arrays as they are.  */
  snprintf(json, sizeof json,
           "[{\"directory\": \"%s/build\", \"file\": \"../src/a.c\",\n"
           "  \"command\": \"/usr/bin/cc -DNAME=\\\"\\\\\\\"quoted value\\\\\\\"\\\" "
           "'-DSINGLE=a b' -I../include -isystem /usr/include/x -Werror -std=gnu11 -MD -MT "
           "obj.o -MF obj.d -o obj.o -c ../src/a.c\"},\n"
           " {\"directory\": \"%s\", \"file\": \"%s/src/b.c\",\n"
           "  \"arguments\": [\"cc\", \"-Iinclude\", \"-O2\", \"-c\", \"-o\", \"b.o\", "
           "\"-MMD\", \"%s/src/b.c\"]}]",
           ws, ws, ws, ws);
  put(fx, "build/compile_commands.json", json);

  char **argv = NULL, *cwd = NULL;
  snprintf(abs, sizeof abs, "%s/src/a.c", ws);
  assert_int_equal(
      tars_syntax_command(TARS_LANG_C, abs, ws, fx->repo, "src/a.c", &argv, &cwd, &guessed, &err),
      0);
  assert_non_null(argv);
  /* -I../include comes back absolute and joined.  */
  snprintf(want, sizeof want,
           "/usr/bin/cc -DNAME=\"quoted value\" -DSINGLE=a b -I%s/include -isystem "
           "/usr/include/x -Werror -std=gnu11 -fsyntax-only %s",
           ws, abs);
  assert_string_equal(joined(argv), want);
  assert_string_equal(argv[1], "-DNAME=\"quoted value\"");
  assert_string_equal(argv[2], "-DSINGLE=a b");
  snprintf(want, sizeof want, "%s/build", ws);
  assert_string_equal(cwd, want);
  assert_false(guessed);
  tars_cleanup_strvp(&argv);
  free(cwd);

  snprintf(abs, sizeof abs, "%s/src/b.c", ws);
  assert_int_equal(
      tars_syntax_command(TARS_LANG_C, abs, ws, fx->repo, "src/b.c", &argv, &cwd, &guessed, &err),
      0);
  snprintf(want, sizeof want, "cc -I%s/include -O2 -fsyntax-only %s", ws, abs);
  assert_string_equal(joined(argv), want);
  assert_string_equal(cwd, ws);
  assert_false(guessed);
  tars_cleanup_strvp(&argv);
  free(cwd);

  /* A header has no entry: another file's flags, and the result counts as guessed.  */
  snprintf(abs, sizeof abs, "%s/include/x.h", ws);
  assert_int_equal(tars_syntax_command(TARS_LANG_C, abs, ws, fx->repo, "include/x.h", &argv, &cwd,
                                       &guessed, &err),
                   0);
  assert_non_null(argv);
  assert_true(guessed);
  assert_string_equal(argv[0], "/usr/bin/cc");
  assert_string_equal(argv[argc(argv) - 1], abs);
  assert_string_equal(argv[argc(argv) - 2], "-fsyntax-only");
  tars_cleanup_strvp(&argv);
  free(cwd);
}

static void
syntax_c_relocated_db(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  char abs[PATH_MAX], want[4096];
  char **argv = NULL, *cwd = NULL;
  bool guessed = true;

  /* Generated in the repository before the snapshot: another root, rewritten to the workspace.
   * The build directory is not in the tree: the command runs at the workspace root.  */
  put(fx, "lib/c.cpp", "int c;\n");
  put(fx, "compile_commands.json",
      "[{\"directory\": \"/home/u/proj/out\", \"file\": \"/home/u/proj/lib/c.cpp\",\n"
      "  \"command\": \"c++ -I/home/u/proj/include -Igen -DX=/home/u/proj/y -o c.o -c "
      "/home/u/proj/lib/c.cpp\"}]");
  snprintf(abs, sizeof abs, "/ws/lib/c.cpp");
  assert_int_equal(tars_syntax_command(TARS_LANG_CXX, abs, "/ws", fx->repo, "lib/c.cpp", &argv,
                                       &cwd, &guessed, &err),
                   0);
  assert_non_null(argv);
  assert_string_equal(joined(argv),
                      "c++ -I/ws/include -I/ws/out/gen -DX=/ws/y -fsyntax-only /ws/lib/c.cpp");
  assert_string_equal(cwd, "/ws");
  assert_false(guessed);
  tars_cleanup_strvp(&argv);
  free(cwd);

  /* No entry and not a header, or no database at all: a guess.  */
  snprintf(abs, sizeof abs, "/ws/lib/d.c");
  assert_int_equal(tars_syntax_command(TARS_LANG_C, abs, "/ws", fx->repo, "lib/d.c", &argv, &cwd,
                                       &guessed, &err),
                   0);
  assert_string_equal(joined(argv), "cc -fsyntax-only -I/ws/lib -I/ws/include /ws/lib/d.c");
  assert_string_equal(cwd, "/ws");
  assert_true(guessed);
  tars_cleanup_strvp(&argv);
  free(cwd);

  /* A malformed database, or a "command" with an unterminated quote: a guess too.  */
  put(fx, "compile_commands.json",
      "[{\"directory\": \"/ws\", \"file\": \"lib/c.cpp\", \"command\": \"c++ '-I\"}]");
  assert_int_equal(tars_syntax_command(TARS_LANG_CXX, "/ws/lib/c.cpp", "/ws", fx->repo, "lib/c.cpp",
                                       &argv, &cwd, &guessed, &err),
                   0);
  snprintf(want, sizeof want, "c++ -fsyntax-only -I/ws/lib -I/ws/include /ws/lib/c.cpp");
  assert_string_equal(joined(argv), want);
  assert_true(guessed);
  tars_cleanup_strvp(&argv);
  free(cwd);

  /* A symlinked database is not followed.  */
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/compile_commands.json", fx->repo_path);
  unlink(p);
  put(fx, "elsewhere.json",
      "[{\"directory\": \"/ws\", \"file\": \"lib/c.cpp\", \"command\": \"evil -c x\"}]");
  assert_int_equal(symlink("elsewhere.json", p), 0);
  assert_int_equal(tars_syntax_command(TARS_LANG_CXX, "/ws/lib/c.cpp", "/ws", fx->repo, "lib/c.cpp",
                                       &argv, &cwd, &guessed, &err),
                   0);
  assert_string_equal(argv[0], "c++");
  assert_true(guessed);
  tars_cleanup_strvp(&argv);
  free(cwd);
}

/* Run ARGV in CWD; its exit status.  */
static int
run(char **argv, const char *cwd)
{
  pid_t pid = fork();
  if (pid == 0)
    {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      if (chdir(cwd) < 0)
        _exit(126);
      char *envp[] = {"PATH=" TARS_VCONFIG_SANDBOX_PATH, "HOME=/tmp", NULL};
      execvpe(argv[0], argv, envp);
      _exit(127);
    }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Whether the checker for LANG accepts the file REL (CONTENT); -1 when there is no checker.  */
static int
check_syntax(struct fx *fx, enum tars_syntax_lang lang, const char *rel, const char *content)
{
  struct tars_error err;
  char abs[PATH_MAX], **argv = NULL, *cwd = NULL;
  bool guessed = true;
  put(fx, rel, content);
  snprintf(abs, sizeof abs, "%s/%s", fx->repo_path, rel);
  assert_int_equal(
      tars_syntax_command(lang, abs, fx->repo_path, fx->repo, rel, &argv, &cwd, &guessed, &err), 0);
  if (argv == NULL)
    return -1;
  assert_false(guessed);
  assert_string_equal(cwd, fx->repo_path);
  int r = run(argv, cwd);
  tars_cleanup_strvp(&argv);
  free(cwd);
  return r;
}

static bool
have(const char *prog)
{
  char cmd[256];
  snprintf(cmd, sizeof cmd, "PATH=%s command -v %s >/dev/null", TARS_VCONFIG_SANDBOX_PATH, prog);
  return system(cmd) == 0;
}

static void
syntax_other_languages(void **state)
{
  struct fx *fx = *state;
  struct tars_error err;
  char **argv = NULL, *cwd = NULL;
  bool guessed;

  /* JSON is checked by tars itself; no language, no checker.  */
  assert_int_equal(tars_syntax_command(TARS_LANG_JSON, "/ws/a.json", "/ws", fx->repo, "a.json",
                                       &argv, &cwd, &guessed, &err),
                   0);
  assert_null(argv);
  assert_null(cwd);
  assert_int_equal(tars_syntax_command(TARS_LANG_NONE, "/ws/a.md", "/ws", fx->repo, "a.md", &argv,
                                       &cwd, &guessed, &err),
                   0);
  assert_null(argv);

  if (have("python3"))
    {
      assert_int_equal(check_syntax(fx, TARS_LANG_PYTHON, "ok.py", "def f():\n    return 1\n"), 0);
      assert_int_not_equal(check_syntax(fx, TARS_LANG_PYTHON, "bad.py", "def f(:\n"), 0);
      /* ast.parse compiles nothing and writes nothing; a module named ast in the tree is not
       * imported (isolated mode).  */
      put(fx, "ast.py", "raise SystemExit(0)\n");
      assert_int_not_equal(check_syntax(fx, TARS_LANG_PYTHON, "bad2.py", "x = (\n"), 0);
      assert_int_equal(
          check_syntax(fx, TARS_LANG_YAML, "ok.yml", "a: 1\nb: [1, 2]\n---\nc: !Ref Thing\n"), 0);
      if (system("python3 -I -c 'import yaml' 2>/dev/null") == 0)
        assert_int_not_equal(check_syntax(fx, TARS_LANG_YAML, "bad.yml", "a: [1, 2\nb: c\n"), 0);
      assert_int_equal(check_syntax(fx, TARS_LANG_TOML, "ok.toml", "[a]\nb = 1\n"), 0);
      if (system("python3 -I -c 'import tomllib' 2>/dev/null") == 0)
        assert_int_not_equal(check_syntax(fx, TARS_LANG_TOML, "bad.toml", "[a\nb = \n"), 0);
    }
  assert_int_equal(check_syntax(fx, TARS_LANG_SHELL, "ok.sh", "#!/bin/sh\nif true; then :; fi\n"),
                   0);
  assert_int_not_equal(check_syntax(fx, TARS_LANG_SHELL, "bad.sh", "if true; then\n"), 0);
  if (have("go") && have("gofmt"))
    {
      assert_int_equal(check_syntax(fx, TARS_LANG_GO, "ok.go", "package x\n"), 0);
      assert_int_not_equal(check_syntax(fx, TARS_LANG_GO, "bad.go", "package x\nfunc {\n"), 0);
    }
  if (have("node"))
    {
      assert_int_equal(check_syntax(fx, TARS_LANG_JS, "ok.js", "const a = 1;\n"), 0);
      assert_int_not_equal(check_syntax(fx, TARS_LANG_JS, "bad.js", "const = ;\n"), 0);
    }

  /* The shell by shebang, else by extension; another interpreter: no checker.  */
  static const struct
  {
    const char *rel, *content, *shell;
  } shells[] = {
      {"a.sh", "#!/bin/bash\necho\n", "bash"},
      {"b.sh", "#!/usr/bin/env bash\n", "bash"},
      {"c.sh", "#!/usr/bin/env -S bash -e\n", "bash"},
      {"d.bash", "echo\n", "bash"},
      {"e.bash", "#!/bin/sh\n", "sh"},
      {"f.sh", "#! /bin/dash\n", "sh"},
      {"g.sh", "echo\n", "sh"},
      {"h.sh", "#!/bin/zsh\n", NULL},
      {"i.sh", "#!/usr/bin/env python3\n", NULL},
  };
  for (size_t i = 0; i < sizeof shells / sizeof shells[0]; i++)
    {
      char abs[PATH_MAX];
      put(fx, shells[i].rel, shells[i].content);
      snprintf(abs, sizeof abs, "/ws/%s", shells[i].rel);
      assert_int_equal(tars_syntax_command(TARS_LANG_SHELL, abs, "/ws", fx->repo, shells[i].rel,
                                           &argv, &cwd, &guessed, &err),
                       0);
      if (shells[i].shell == NULL)
        {
          if (argv)
            fail_msg("%s: %s", shells[i].rel, joined(argv));
          continue;
        }
      assert_non_null(argv);
      assert_string_equal(argv[0], shells[i].shell);
      assert_string_equal(argv[1], "-n");
      assert_string_equal(argv[2], abs);
      assert_null(argv[3]);
      tars_cleanup_strvp(&argv);
      free(cwd);
    }
  /* A new file (not in the tree): by extension.  */
  assert_int_equal(tars_syntax_command(TARS_LANG_SHELL, "/ws/new.bash", "/ws", fx->repo, "new.bash",
                                       &argv, &cwd, &guessed, &err),
                   0);
  assert_string_equal(argv[0], "bash");
  tars_cleanup_strvp(&argv);
  free(cwd);
  assert_int_equal(tars_syntax_command(TARS_LANG_SHELL, "/ws/sub/new.sh", "/ws", fx->repo,
                                       "sub/new.sh", &argv, &cwd, &guessed, &err),
                   0);
  assert_string_equal(argv[0], "sh");
  tars_cleanup_strvp(&argv);
  free(cwd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
  const struct CMUnitTest tests[] = {
      T(defaults),
      T(detect_each_toolchain),
      T(detect_python_test_files),
      T(detect_priority),
      T(detect_nothing),
      T(detect_respects_configuration),
      T(config_every_key),
      T(config_errors),
      T(config_symlink_refused),
      T(check_commands),
      T(check_toolchain_tool),
      T(patterns),
      T(lang_of),
      T(syntax_c_compile_db),
      T(syntax_c_relocated_db),
      T(syntax_other_languages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
