/* Validation configuration: which toolchain a repository uses, the commands that build, test
 * and lint it, the stage limits and the quality gates.  Detected from the repository's files and
 * overridden by the "validate" object of <repo>/.tars/config.json (or, when that file is absent,
 * <repo>/tars.json), and again per plan step.
 *
 *   {"validate": {
 *      "toolchain": "cmake",            one of tars_toolchain_name's names; default: detected
 *      "build": "make -j2",             shell commands (sh -c), run in the workspace; "" = none
 *      "test": "make check",
 *      "lint": "ruff check .",          optional; no lint stage without it
 *      "results": "junit:out/junit.xml" how to read test results: "junit:PATH" (PATH relative to
 *                                       the workspace), "go-json" (stdout), or a runner name for
 *                                       tars_results_parse_text; default: the toolchain's
 *      "timeouts": {"syntax": 60, "build": 600, "test": 600, "lint": 300},   seconds
 *      "memory": "2G", "pids": 1024,    per stage
 *      "gates": {"warnings": false,     reject new compiler warnings
 *                "max_files": 50, "max_lines": 2000,  diff size (0: no limit)
 *                "forbidden": ["vendor/", "*.lock"],  paths a change may not touch (policy.h's
 *                                                     pattern syntax), added to the defaults
 *                "test_files": ["tests/"],            what counts as a test file, added to the
 *                                                     defaults
 *                "allow_test_drop": false}}}          accept fewer tests executed than the
 *                                                     baseline
 *
 * Unknown keys, wrong types and bad values are TARS_ERR_INVALID naming the file and the key.  */
#ifndef TARS_VCONFIG_H
#define TARS_VCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tars/error.h"

enum tars_toolchain
{
  TARS_TC_NONE = 0, /* nothing detected and nothing configured */
  TARS_TC_CMAKE,    /* CMakeLists.txt: cmake configure + build, ctest */
  TARS_TC_MAKE,     /* Makefile/makefile/GNUmakefile: make, make check or make test */
  TARS_TC_MESON,    /* meson.build: meson setup/compile/test */
  TARS_TC_CARGO,    /* Cargo.toml */
  TARS_TC_GO,       /* go.mod */
  TARS_TC_NPM,      /* package.json (npm run build --if-present, npm test) */
  TARS_TC_YARN,     /* package.json with yarn.lock */
  TARS_TC_PYTEST,   /* pytest.ini, conftest.py, [tool.pytest...] in pyproject.toml/setup.cfg,
                       or test_*.py / *_test.py files with pytest installed */
  TARS_TC_UNITTEST, /* Python tests without pytest: python3 -m unittest discover */
  TARS_TC_DOTNET,   /* *.sln, *.csproj or *.fsproj at the root */
  TARS_TC_CUSTOM,   /* "toolchain": "custom": only the configured commands */
};

#define TARS_VCONFIG_MAX_PATTERNS 64

/* The PATH commands run with inside the sandbox: where tars_vconfig_check_commands and
 * tars_syntax_command look for programs by default.  */
#define TARS_VCONFIG_SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Bits of tars_vconfig.configured: the fields a configuration set (a command set to "" is set,
 * to no stage), which tars_vconfig_detect leaves alone.  */
enum
{
  TARS_VC_SET_TOOLCHAIN = 1u << 0,
  TARS_VC_SET_BUILD = 1u << 1,
  TARS_VC_SET_TEST = 1u << 2,
  TARS_VC_SET_LINT = 1u << 3,
  TARS_VC_SET_RESULTS = 1u << 4,
};

enum tars_stage_kind
{
  TARS_STAGE_SYNTAX,
  TARS_STAGE_BUILD,
  TARS_STAGE_TEST,
  TARS_STAGE_LINT,
  TARS_STAGE_COUNT,
};

struct tars_stage_limits
{
  uint64_t timeout_ms;
  uint64_t memory_bytes;
  uint64_t pids;
};

struct tars_vconfig
{
  enum tars_toolchain toolchain;
  char *detected_by;   /* the file that decided the toolchain ("CMakeLists.txt"), or "config" */
  char *build;         /* sh -c command; NULL: no build stage */
  char *test;          /* NULL: no test stage */
  char *lint;          /* NULL: no lint stage */
  char *results;       /* "junit:PATH", "go-json", or a tars_results_parse_text runner name;
                          NULL: none (only the test command's exit status counts) */
  unsigned configured; /* TARS_VC_SET_* */
  struct tars_stage_limits limits[TARS_STAGE_COUNT];
  /* gates */
  bool gate_warnings; /* default false */
  uint64_t max_files; /* default 100; 0: no limit */
  uint64_t max_lines; /* default 5000 changed lines (added + removed); 0: no limit */
  char *forbidden[TARS_VCONFIG_MAX_PATTERNS]; /* defaults first (literals), then configured */
  size_t n_forbidden;
  size_t n_forbidden_static; /* how many leading entries are literals (not freed) */
  char *test_files[TARS_VCONFIG_MAX_PATTERNS];
  size_t n_test_files;
  size_t n_test_files_static;
  bool allow_test_drop; /* default false */
};

/* Defaults: no toolchain, no commands, syntax 60 s, build 600 s, test 600 s, lint 300 s, 2 GiB and
 * 1024 processes per stage, gates as above; forbidden: none beyond the apply policy's protected
 * paths (the validator checks both); test files: tests/, test/, spec/, __tests__/, testing/,
 * test_*.py, *_test.py, *_test.go, *_test.c, *_test.cc, *_test.cpp, *.test.js, *.spec.js,
 * *.test.ts, *.spec.ts, *Test.java, *Tests.cs.  */
void tars_vconfig_default(struct tars_vconfig *c);
void tars_vconfig_free(struct tars_vconfig *c);
#define cleanup_vconfig __attribute__((cleanup(tars_vconfig_free)))

/* Detect the toolchain of the tree at TREE_FD (the snapshot) and fill in its default commands
 * and results format, for every field the configuration has not set (C->configured); lint is
 * never filled in.  When the toolchain is configured, only its defaults are used.  Nothing
 * detected and no test command configured: TARS_ERR_INVALID ("no toolchain detected in DIR
 * (looked for ...); set validate.toolchain or validate.test in .tars/config.json"); nothing
 * detected but a test command configured: TARS_TC_CUSTOM.  The results format defaults to the
 * toolchain's with its default test command, and to its text runner (or NULL) with a configured
 * one.  Detection reads only top-level regular files (Python test files: the top two levels),
 * never through a symlink.  It may run again after a later merge: what it filled in is
 * replaced.  */
int tars_vconfig_detect(struct tars_vconfig *c, int tree_fd, struct tars_error *err);

/* Merge the "validate" object of <repo>/.tars/config.json, or of <repo>/tars.json when the
 * former does not exist, opened beneath REPO_FD without following symlinks.  A missing file is
 * not an error.  On error C is unchanged.  */
int tars_vconfig_load(struct tars_vconfig *c, int repo_fd, struct tars_error *err);
/* Merge a "validate" object (the value itself, not its parent) from WHERE (named in errors:
 * "step 3's validationRules").  On error C is unchanged.  */
int tars_vconfig_merge(struct tars_vconfig *c, const cJSON *validate, const char *where,
                       struct tars_error *err);

/* Check that each configured or detected command can run: its first word (after NAME=value
 * assignments) is a shell builtin or keyword, an expansion the shell decides, an executable
 * found on PATH_DIRS (a ':'-separated list, the sandbox's PATH; NULL: TARS_VCONFIG_SANDBOX_PATH),
 * or, when it holds a '/', an executable beneath TREE_FD (relative) or on the host (absolute).
 * Errors are TARS_ERR_INVALID: "validate.build: command 'nosuch' not found (PATH=...)", or, when
 * a default command's toolchain program is missing, "toolchain cargo (detected from Cargo.toml)
 * needs 'cargo', which is not installed" (for pytest: python3 must import pytest).  */
int tars_vconfig_check_commands(const struct tars_vconfig *c, int tree_fd, const char *path_dirs,
                                struct tars_error *err);

/* True when PATH (repo-relative) is a test file under C's test_files patterns (policy.h's syntax,
 * except that a plain directory pattern such as "tests/" matches a directory of that name at any
 * depth; "test_*.py" any file so named, at any depth).  */
bool tars_vconfig_is_test_file(const struct tars_vconfig *c, const char *path);
/* The first forbidden pattern of C matching PATH, or NULL.  */
const char *tars_vconfig_forbidden(const struct tars_vconfig *c, const char *path);

const char *tars_toolchain_name(enum tars_toolchain t); /* "cmake", ..., "custom", "none" */
int tars_toolchain_from_name(const char *name, enum tars_toolchain *out, struct tars_error *err);
const char *tars_stage_name(enum tars_stage_kind k); /* "syntax", "build", "test", "lint" */

/* Syntax checking of one changed file, by language.  */
enum tars_syntax_lang
{
  TARS_LANG_NONE = 0, /* no checker: left to the build */
  TARS_LANG_C,
  TARS_LANG_CXX,
  TARS_LANG_PYTHON,
  TARS_LANG_JSON, /* parsed by tars itself (cJSON), outside the sandbox */
  TARS_LANG_YAML,
  TARS_LANG_TOML,
  TARS_LANG_SHELL,
  TARS_LANG_GO,
  TARS_LANG_JS,
};
enum tars_syntax_lang tars_syntax_lang_of(const char *path); /* by extension (and a .sh/.bash) */
const char *tars_syntax_lang_name(enum tars_syntax_lang l);  /* "c", "python", ... */

/* The argv (malloc'd, NULL-terminated, each string malloc'd) that checks the syntax of the file
 * at ABS_PATH (inside the sandbox) for LANG, and the directory to run it in (*CWD, malloc'd).
 * For C and C++: the compile database at TREE_FD (compile_commands.json at the root, or in
 * build/ or .tars-build/) gives the file's own command (its -I, -D, -std..., with -o and -c
 * dropped and -fsyntax-only added), else "cc -fsyntax-only -I<dir> -I<root>/include" and
 * *GUESSED is set (an error then only counts when it is not a missing header).  WS_ROOT is the
 * workspace root inside the sandbox.  Python: python3 -c with ast.parse (writes nothing); YAML:
 * python3 yaml.safe_load; TOML: python3 tomllib; shell: sh -n, or bash -n for a bash shebang or
 * .bash; Go: gofmt -e -l; JS: node --check.  LANG_JSON and LANG_NONE: *ARGV NULL.  A checker
 * that is not installed: *ARGV NULL and 0 (left to the build).  */
int tars_syntax_command(enum tars_syntax_lang lang, const char *abs_path, const char *ws_root,
                        int tree_fd, const char *rel_path, char ***argv, char **cwd, bool *guessed,
                        struct tars_error *err);

#endif
