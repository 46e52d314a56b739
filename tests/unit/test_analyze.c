/* The analyzer (analyze.h): markers as words inside comments only, their text and position,
 * the enclosing function from ctags' tags and the fallbacks, which files are skipped and why,
 * and the plans made from the findings (todos.h).  */
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

#include "plan/analyze.h"
#include "plan/todos.h"
#include "tars/cleanup.h"
#include "testutil.h"

struct found
{
  struct tars_finding *v;
  size_t n, cap;
};

static void
found_free(struct found *f)
{
  for (size_t i = 0; i < f->n; i++)
    tars_finding_free(&f->v[i]);
  free(f->v);
}

static void
scan(struct found *f, const char *path, enum tars_lex_lang lang, const char *text)
{
  struct tars_error err = {0};
  memset(f, 0, sizeof *f);
  assert_int_equal(tars_find_markers(path, lang, text, strlen(text), &f->v, &f->n, &f->cap, &err),
                   0);
}

static void
test_markers_are_capital_words_in_comments_outside_urls(void **state)
{
  (void)state;
  struct found f;
  scan(&f, "a.c", TARS_LEX_C,
       "// TODOS and mastodon and XXXL and TODO_LIST are not markers\n"
       "// see https://example.com/TODO and ftp://x/FIXME/y\n"
       "char *s = \"TODO: a string\";\n"
       "/* (TODO) in parentheses */\n"
       "// todo: lower case is not a marker\n"
       "x = 1; // FIXME(ana): two markers, XXX the first wins\n"
       "/* multi\n"
       " * XXX: on a later line\n"
       " */\n");
  assert_int_equal(f.n, 3);
  assert_int_equal(f.v[0].line, 4);
  assert_int_equal(f.v[0].column, 5);
  assert_int_equal(f.v[0].marker, TARS_MARKER_TODO);
  assert_string_equal(f.v[0].text, ") in parentheses");
  assert_int_equal(f.v[1].line, 6);
  assert_int_equal(f.v[1].column, 11);
  assert_int_equal(f.v[1].marker, TARS_MARKER_FIXME);
  assert_string_equal(f.v[1].text, "two markers, XXX the first wins");
  assert_string_equal(f.v[1].snippet, "x = 1; // FIXME(ana): two markers, XXX the first wins");
  assert_int_equal(f.v[2].line, 8);
  assert_int_equal(f.v[2].column, 4);
  assert_string_equal(f.v[2].text, "on a later line");
  found_free(&f);
}

static void
test_columns_count_code_points_and_text_is_cleaned(void **state)
{
  (void)state;
  struct found f;
  scan(&f, "a.py", TARS_LEX_PYTHON, "s = 'é' # é TODO:\tcafé\xff \n");
  assert_int_equal(f.n, 1);
  assert_int_equal(f.v[0].column, 13);
  assert_string_equal(f.v[0].text, "caf\xc3\xa9\xef\xbf\xbd");
  found_free(&f);
  scan(&f, "a.c", TARS_LEX_C, "// TODO\n");
  assert_int_equal(f.n, 1);
  assert_string_equal(f.v[0].text, "");
  found_free(&f);
}

/* ctags' JSON lines for tests: a file tag, then functions.  */
static const char *
read_text(void *arg, const char *path, size_t *len)
{
  (void)path;
  *len = strlen(arg);
  return arg;
}

static void
test_the_innermost_function_around_a_line_is_its_context(void **state)
{
  (void)state;
  static const char text[] = "int outer(void)\n"          /* 1 */
                             "{\n"                        /* 2 */
                             "  int inner(void) {\n"      /* 3 */
                             "    return 0; // TODO: a\n" /* 4 */
                             "  }\n"                      /* 5 */
                             "  return 1; // TODO: b\n"   /* 6 */
                             "}\n"                        /* 7 */
                             "// TODO: c\n";              /* 8 */
  static const char tags[] =
      "{\"_type\": \"tag\", \"name\": \"outer\", \"path\": \"n.c\", \"line\": 1, \"end\": 7, "
      "\"kind\": \"function\", \"language\": \"C\"}\n"
      "{\"_type\": \"tag\", \"name\": \"inner\", \"path\": \"n.c\", \"line\": 3, \"end\": 5, "
      "\"kind\": \"function\", \"language\": \"C\"}\n"
      "not json at all\n"
      "{\"_type\": \"tag\", \"name\": \"n.c\", \"path\": \"n.c\", \"line\": 1, \"kind\": "
      "\"file\"}\n";
  struct found f;
  scan(&f, "n.c", TARS_LEX_C, text);
  assert_int_equal(f.n, 3);
  tars_context_apply(f.v, f.n, tags, strlen(tags), read_text, (void *)text);
  assert_int_equal(f.v[0].context, TARS_CONTEXT_FUNCTION);
  assert_string_equal(f.v[0].function, "inner");
  assert_int_equal(f.v[0].function_start, 3);
  assert_int_equal(f.v[0].function_end, 5);
  assert_string_equal(f.v[1].function, "outer");
  assert_int_equal(f.v[2].context, TARS_CONTEXT_FILE);
  found_free(&f);
}

static void
test_without_end_lines_braces_or_keywords_delimit_the_function(void **state)
{
  (void)state;
  static const char js[] = "function f(a) {\n"                /* 1 */
                           "  const s = \"} not the end\";\n" /* 2 */
                           "  // TODO: inside\n"              /* 3 */
                           "}\n"                              /* 4 */
                           "// TODO: after\n";                /* 5 */
  static const char js_tags[] =
      "{\"_type\": \"tag\", \"name\": \"f\", \"path\": \"a.js\", \"line\": 1, \"kind\": "
      "\"function\"}\n"
      "{\"_type\": \"tag\", \"name\": \"a.js\", \"path\": \"a.js\", \"line\": 1, \"kind\": "
      "\"file\"}\n";
  struct found f;
  scan(&f, "a.js", TARS_LEX_JS, js);
  tars_context_apply(f.v, f.n, js_tags, strlen(js_tags), read_text, (void *)js);
  assert_int_equal(f.n, 2);
  assert_string_equal(f.v[0].function, "f");
  assert_int_equal(f.v[0].function_end, 4);
  assert_int_equal(f.v[1].context, TARS_CONTEXT_FILE);
  found_free(&f);

  static const char lua[] = "function g(x)\n"             /* 1 */
                            "  if x then\n"               /* 2 */
                            "    for i = 1, 2 do end\n"   /* 3 */
                            "    local s = \"end end\"\n" /* 4 */
                            "  end\n"                     /* 5 */
                            "  -- TODO: inside\n"         /* 6 */
                            "end\n"                       /* 7 */
                            "-- TODO: after\n";           /* 8 */
  static const char lua_tags[] =
      "{\"_type\": \"tag\", \"name\": \"g\", \"path\": \"a.lua\", \"line\": 1, \"kind\": "
      "\"function\"}\n"
      "{\"_type\": \"tag\", \"name\": \"a.lua\", \"path\": \"a.lua\", \"line\": 1, \"kind\": "
      "\"file\"}\n";
  scan(&f, "a.lua", TARS_LEX_LUA, lua);
  tars_context_apply(f.v, f.n, lua_tags, strlen(lua_tags), read_text, (void *)lua);
  assert_int_equal(f.n, 2);
  assert_string_equal(f.v[0].function, "g");
  assert_int_equal(f.v[0].function_start, 1);
  assert_int_equal(f.v[0].function_end, 7);
  assert_int_equal(f.v[1].context, TARS_CONTEXT_FILE);
  found_free(&f);
}

static void
test_a_missing_context_says_why(void **state)
{
  (void)state;
  struct found f;
  /* ctags did not read the file.  */
  scan(&f, "a.c", TARS_LEX_C, "// TODO: x\n");
  tars_context_apply(f.v, f.n, "", 0, NULL, NULL);
  assert_int_equal(f.v[0].context, TARS_CONTEXT_MISSING);
  assert_non_null(strstr(f.v[0].context_note, "ctags did not read a.c"));
  found_free(&f);
  /* A language whose functions ctags does not delimit.  */
  static const char hs_tags[] =
      "{\"_type\": \"tag\", \"name\": \"M.hs\", \"path\": \"M.hs\", \"line\": 1, \"kind\": "
      "\"file\"}\n";
  scan(&f, "M.hs", TARS_LEX_HASKELL, "f x = x -- TODO: y\n");
  tars_context_apply(f.v, f.n, hs_tags, strlen(hs_tags), NULL, NULL);
  assert_int_equal(f.v[0].context, TARS_CONTEXT_MISSING);
  assert_non_null(strstr(f.v[0].context_note, "haskell"));
  found_free(&f);
  /* A language without functions needs no ctags at all.  */
  scan(&f, "a.yaml", TARS_LEX_YAML, "a: 1 # TODO: z\n");
  tars_context_missing(f.v, f.n, "ctags is not installed");
  assert_int_equal(f.v[0].context, TARS_CONTEXT_FILE);
  found_free(&f);
  scan(&f, "a.py", TARS_LEX_PYTHON, "# TODO: z\n");
  tars_context_missing(f.v, f.n, "ctags is not installed");
  assert_int_equal(f.v[0].context, TARS_CONTEXT_MISSING);
  assert_string_equal(f.v[0].context_note, "ctags is not installed");
  found_free(&f);
}

/* ----- the scan of a directory ----- */

static char root[PATH_MAX];

static void
put(const char *rel, const char *content, size_t len)
{
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  test_write_file(p, content, len, 0644);
}

static const struct tars_skipped *
skipped(const struct tars_analysis *a, const char *path)
{
  for (size_t i = 0; i < a->n_skipped; i++)
    if (strcmp(a->skipped[i].path, path) == 0)
      return &a->skipped[i];
  return NULL;
}

static void
test_a_scan_skips_vendored_generated_minified_binary_and_linked_files(void **state)
{
  (void)state;
  snprintf(root, sizeof root, "%s/tars-analyze-XXXXXX", P_tmpdir);
  assert_non_null(mkdtemp(root));
  put("src/a.c", "// TODO: one\n", 13);
  put("src/vendor/dep.c", "// TODO: vendored\n", 18);
  put("node_modules/x/i.js", "// TODO: vendored\n", 18);
  put("gen/p.c", "/* @generated */\n// TODO: generated\n", 36);
  put("web/app.min.js", "// TODO: minified\n", 18);
  put("bin/x.c", "\0\0// TODO: binary\n", 18);
  put("notes.txt", "TODO: no language\n", 18);
  put("sub/.git/HEAD.c", "// TODO: never\n", 15);
  put(".tars/x.c", "// TODO: never\n", 15);
  put("s.sh", "#!/bin/sh\n# TODO: by its #! line\n", 33);
  char outside[PATH_MAX + 64], link[PATH_MAX + 64];
  snprintf(outside, sizeof outside, "%s.outside.c", root);
  test_write_file(outside, "// TODO: outside\n", 17, 0644);
  snprintf(link, sizeof link, "%s/link.c", root);
  assert_int_equal(symlink(outside, link), 0);
  snprintf(link, sizeof link, "%s/linkdir", root);
  assert_int_equal(symlink(P_tmpdir, link), 0);

  struct tars_analyze_options o = {.no_context = true};
  cleanup_analysis struct tars_analysis a = {0};
  struct tars_error err = {0};
  assert_int_equal(tars_analyze(root, &o, &a, &err), 0);
  assert_false(a.git);
  assert_int_equal(a.n_findings, 2);
  assert_string_equal(a.findings[0].file, "s.sh");
  assert_string_equal(a.findings[1].file, "src/a.c");
  assert_int_equal(a.files, 2);
  assert_int_equal(skipped(&a, "src/vendor/dep.c")->reason, TARS_SKIP_VENDORED);
  assert_int_equal(skipped(&a, "node_modules/x/i.js")->reason, TARS_SKIP_VENDORED);
  assert_int_equal(skipped(&a, "gen/p.c")->reason, TARS_SKIP_GENERATED);
  assert_int_equal(skipped(&a, "web/app.min.js")->reason, TARS_SKIP_MINIFIED);
  assert_int_equal(skipped(&a, "bin/x.c")->reason, TARS_SKIP_BINARY);
  assert_int_equal(skipped(&a, "notes.txt")->reason, TARS_SKIP_LANGUAGE);
  assert_int_equal(skipped(&a, "link.c")->reason, TARS_SKIP_SYMLINK);
  assert_int_equal(skipped(&a, "linkdir")->reason, TARS_SKIP_SYMLINK);
  assert_null(skipped(&a, "sub/.git/HEAD.c"));
  assert_null(skipped(&a, ".tars/x.c"));
  assert_int_equal(a.findings[1].context, TARS_CONTEXT_MISSING);

  cleanup_cjson cJSON *sarif = tars_analysis_to_sarif(&a);
  assert_non_null(sarif);
  const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(sarif, "runs"), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(run, "results")), 2);

  unlink(outside);
  int dfd = open(P_tmpdir, O_RDONLY | O_DIRECTORY);
  test_rm_tree_at(dfd, root + strlen(P_tmpdir) + 1);
  close(dfd);
}

/* ----- plans from findings ----- */

static void
fake(struct tars_finding *f, const char *file, uint32_t line, enum tars_marker m, const char *text,
     const char *fn, uint32_t start, uint32_t end)
{
  memset(f, 0, sizeof *f);
  f->file = strdup(file);
  f->line = line;
  f->column = 3;
  f->marker = m;
  f->text = strdup(text);
  f->snippet = strdup(text);
  f->lang = TARS_LEX_C;
  f->context = fn ? TARS_CONTEXT_FUNCTION : TARS_CONTEXT_FILE;
  f->function = fn ? strdup(fn) : NULL;
  f->function_kind = fn ? strdup("function") : NULL;
  f->function_start = start;
  f->function_end = end;
}

static void
test_todos_become_steps_one_per_todo_function_or_file(void **state)
{
  (void)state;
  struct tars_analysis a = {.root = strdup("/src/calc")};
  a.findings = calloc(5, sizeof *a.findings);
  a.n_findings = 5;
  fake(&a.findings[0], "src/calc.c", 3, TARS_MARKER_TODO, "remove", NULL, 0, 0);
  fake(&a.findings[1], "src/calc.c", 9, TARS_MARKER_TODO, "overflow", "add", 7, 12);
  fake(&a.findings[2], "src/calc.c", 11, TARS_MARKER_FIXME, "signs", "add", 7, 12);
  fake(&a.findings[3], "src/calc.c", 20, TARS_MARKER_TODO, "remove", NULL, 0, 0);
  fake(&a.findings[4], "src/io.c", 2, TARS_MARKER_XXX, "flush", NULL, 0, 0);

  struct tars_error err = {0};
  cleanup_plan struct tars_plan p = {0};
  assert_int_equal(tars_plan_from_todos(&a, TARS_TODO_GROUP_TODO, &p, &err), 0);
  assert_int_equal(p.n_steps, 3);
  /* The same text at the top level twice is one task; a function's TODOs are one step.  */
  assert_string_equal(p.steps[0].id, "todo-calc.c-L3");
  assert_int_equal(p.steps[0].params.edit.n_todos, 2);
  assert_string_equal(p.steps[1].id, "todo-calc.c-add");
  assert_int_equal(p.steps[1].params.edit.n_todos, 2);
  assert_string_equal(p.steps[1].params.edit.todos[0].function, "add");
  assert_true(p.steps[1].priority == 0.8);
  assert_string_equal(p.steps[1].rules.must_change[0], "src/calc.c");
  assert_non_null(strstr(p.steps[1].params.edit.instructions, "(in add, lines 7-12)"));
  assert_string_equal(p.steps[2].id, "todo-io.c-L2");
  assert_true(p.steps[2].priority == 0.6);
  assert_int_equal(strncmp(p.id, "todos-", 6), 0);
  assert_string_equal(p.name, "TODOs in calc");

  /* The plan reads back as itself.  */
  cleanup_free char *text = tars_plan_to_string(&p, false, &err);
  cleanup_plan struct tars_plan q = {0};
  assert_int_equal(tars_plan_parse(text, strlen(text), "todos", &q, NULL, &err), 0);
  assert_true(tars_plan_equal(&p, &q));

  cleanup_plan struct tars_plan by_file = {0};
  assert_int_equal(tars_plan_from_todos(&a, TARS_TODO_GROUP_FILE, &by_file, &err), 0);
  assert_int_equal(by_file.n_steps, 2);
  assert_string_equal(by_file.steps[0].id, "todo-src-calc.c");
  assert_int_equal(by_file.steps[0].params.edit.n_todos, 4);
  assert_string_not_equal(by_file.id, p.id);

  struct tars_analysis none = {.root = (char *)"/x"};
  cleanup_plan struct tars_plan empty = {0};
  assert_int_equal(tars_plan_from_todos(&none, TARS_TODO_GROUP_TODO, &empty, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  tars_analysis_free(&a);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_markers_are_capital_words_in_comments_outside_urls),
      cmocka_unit_test(test_columns_count_code_points_and_text_is_cleaned),
      cmocka_unit_test(test_the_innermost_function_around_a_line_is_its_context),
      cmocka_unit_test(test_without_end_lines_braces_or_keywords_delimit_the_function),
      cmocka_unit_test(test_a_missing_context_says_why),
      cmocka_unit_test(test_a_scan_skips_vendored_generated_minified_binary_and_linked_files),
      cmocka_unit_test(test_todos_become_steps_one_per_todo_function_or_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
