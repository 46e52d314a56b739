/* Applying edits (model/edits.h): every rung of the ladder, ambiguity, no match with its "did you
 * mean" feedback, all-or-nothing, new and deleted files, line endings, and the refusals that
 * keep a wrong answer out of a file.  */
#include <fcntl.h>
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

#include "model/edits.h"
#include "tars/cleanup.h"
#include "testutil.h"

/* ----- building edits ----- */

static void
add_sr(struct tars_edits *l, const char *path, const char *search, const char *replace)
{
  struct tars_edit e = {.kind = TARS_EDIT_SEARCH_REPLACE,
                        .path = (char *)path,
                        .answer_line = (unsigned)l->n + 1,
                        .search = (char *)search,
                        .replace = (char *)replace};
  assert_int_equal(tars_edits_append(l, &e, NULL), 0);
}

/* HUNK is the hunk's body as a diff writes it: one op character per line.  */
static void
add_hunk(struct tars_edits *l, enum tars_edit_kind kind, const char *path, const char *hunk,
         unsigned old_start)
{
  struct tars_hunk_line lines[64];
  char *copy = strdup(hunk);
  size_t n = 0;
  for (char *s = copy, *nl; *s && n < 64; s = nl + 1)
    {
      nl = strchr(s, '\n');
      assert_non_null(nl);
      *nl = '\0';
      lines[n].op = s[0];
      lines[n].text = s + 1;
      n++;
    }
  struct tars_edit e = {.kind = kind,
                        .path = (char *)path,
                        .answer_line = 1,
                        .lines = lines,
                        .n_lines = n,
                        .old_start = old_start};
  assert_int_equal(tars_edits_append(l, &e, NULL), 0);
  free(copy);
}

static void
add_content(struct tars_edits *l, enum tars_edit_kind kind, const char *path, const char *content)
{
  struct tars_edit e = {
      .kind = kind, .path = (char *)path, .answer_line = 1, .content = (char *)content};
  assert_int_equal(tars_edits_append(l, &e, NULL), 0);
}

static struct tars_edit_file files[8];
static size_t n_files;

static void
file(const char *path, const char *content)
{
  files[n_files++] = (struct tars_edit_file){path, content, strlen(content)};
}

static void
no_files(void)
{
  n_files = 0;
}

static int
apply(const struct tars_edits *l, struct tars_edit_result *res, struct tars_error *err)
{
  struct tars_edit_files fs = {files, n_files};
  return tars_edits_apply(l, tars_edit_read_files, &fs, res, err);
}

/* Apply L, which must work, and check that PATH's new content is WANT.  */
static void
expect(const struct tars_edits *l, const char *path, const char *want)
{
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err = {0};
  int r = apply(l, &res, &err);
  if (r < 0)
    fail_msg("apply failed: %s\n%s", err.msg, res.feedback ? res.feedback : "");
  for (size_t i = 0; i < res.n_files; i++)
    if (strcmp(res.files[i].path, path) == 0)
      {
        assert_string_equal(res.files[i].content, want);
        assert_int_equal(res.files[i].len, strlen(want));
        return;
      }
  fail_msg("%s was not changed", path);
}

/* Apply L, which must be refused; the report of edit I is returned in *REP (its message copied
 * into MSG).  */
static void
expect_refused(const struct tars_edits *l, size_t i, enum tars_edit_status status, char *msg,
               size_t size)
{
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err = {0};
  assert_int_equal(apply(l, &res, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_int_equal(res.n_files, 0);
  assert_non_null(res.feedback);
  assert_true(res.n_failed >= 1);
  if (res.reports[i].status != status)
    fail_msg("edit %zu: %s, not %s: %s", i, tars_edit_status_name(res.reports[i].status),
             tars_edit_status_name(status), res.reports[i].message ? res.reports[i].message : "");
  assert_non_null(res.reports[i].message);
  assert_non_null(strstr(res.feedback, res.reports[i].message));
  if (msg)
    snprintf(msg, size, "%s", res.reports[i].message);
}

static enum tars_edit_rung
rung_of(const struct tars_edits *l, size_t i)
{
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err = {0};
  assert_int_equal(apply(l, &res, &err), 0);
  assert_true(res.reports[i].searched);
  return res.reports[i].rung;
}

#define contains(hay, needle)                                                                      \
  do                                                                                               \
    {                                                                                              \
      if (strstr((hay), (needle)) == NULL)                                                         \
        fail_msg("\"%s\" not in:\n%s", (needle), (hay));                                           \
    }                                                                                              \
  while (0)

static const char c_file[] = "#include <stdio.h>\n"
                             "\n"
                             "static int\n"
                             "add(int a, int b)\n"
                             "{\n"
                             "  return a + b;\n"
                             "}\n"
                             "\n"
                             "int\n"
                             "main(void)\n"
                             "{\n"
                             "  printf(\"%d\\n\", add(1, 2));\n"
                             "  return 0;\n"
                             "}\n";

/* ----- the rungs ----- */

static void
test_an_exact_search_text_is_replaced(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "add(int a, int b)\n{\n  return a + b;\n",
         "add(int a, int b)\n{\n  return a - b;\n");
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a - b;\n}\n\nint\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n  return 0;\n}\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_EXACT);

  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&l, &res, &err), 0);
  assert_int_equal(res.n_files, 1);
  assert_int_equal(res.files[0].op, TARS_FILE_MODIFY);
  assert_int_equal(res.reports[0].first_line, 4);
  assert_int_equal(res.reports[0].last_line, 6);
  assert_null(res.feedback);
}

static void
test_trailing_whitespace_of_the_search_text_is_ignored(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  /* The model added trailing spaces to every line, the replacement's too: they are not kept. */
  add_sr(&l, "add.c", "{  \n  return a + b; \n}\t\n\nint\n", "{  \n  return a * b; \n}\t\n\nint\n");
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a * b;\n}\n\nint\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n  return 0;\n}\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_TRAILING_SPACE);

  /* The file's own trailing whitespace is the search text's missing one: kept on context.  */
  cleanup_edits struct tars_edits m = {0};
  no_files();
  file("t.py", "x = 1   \ny = 2\n");
  add_sr(&m, "t.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n");
  expect(&m, "t.py", "x = 1   \ny = 3\n");
}

static void
test_blank_lines_missing_from_the_search_text_are_kept(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "}\nint\nmain(void)\n", "}\nlong\nmain(void)\n");
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a + b;\n}\n\nlong\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n  return 0;\n}\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_BLANK_LINES);
}

static void
test_blank_lines_added_to_the_search_text_are_ignored(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "{\n\n  return a + b;\n}\n", "{\n\n  return a * b;\n}\n");
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a * b;\n}\n\nint\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n  return 0;\n}\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_BLANK_LINES);

  /* A blank line the edit deletes is deleted where the file has it.  */
  cleanup_edits struct tars_edits m = {0};
  no_files();
  file("x.txt", "one\n\ntwo\nthree\n");
  add_sr(&m, "x.txt", "one\n\n\ntwo\n", "one\ntwo\n");
  expect(&m, "x.txt", "one\ntwo\nthree\n");
}

static const char py_file[] = "class Greeter:\n"
                              "    def greet(self, name):\n"
                              "        if name:\n"
                              "            print(\"hello\", name)\n"
                              "        return name\n"
                              "\n"
                              "    def bye(self):\n"
                              "        return None\n";

static void
test_indentation_is_ignored_and_the_replacement_reindented(void **state)
{
  /* The model quoted the method body without its indentation, and wrote a new nested block.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("g.py", py_file);
  add_sr(&l, "g.py", "if name:\n    print(\"hello\", name)\nreturn name\n",
         "if name:\n    print(\"hello\", name)\nelse:\n    print(\"nobody\")\nreturn name\n");
  expect(&l, "g.py",
         "class Greeter:\n    def greet(self, name):\n        if name:\n"
         "            print(\"hello\", name)\n        else:\n            print(\"nobody\")\n"
         "        return name\n\n    def bye(self):\n        return None\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_INDENT);

  /* Indented too much: the replacement loses the extra indentation.  */
  cleanup_edits struct tars_edits m = {0};
  add_sr(&m, "g.py", "            def bye(self):\n                return None\n",
         "            def bye(self):\n                return \"bye\"\n");
  expect(&m, "g.py",
         "class Greeter:\n    def greet(self, name):\n        if name:\n"
         "            print(\"hello\", name)\n        return name\n\n    def bye(self):\n"
         "        return \"bye\"\n");
}

static void
test_tabs_written_as_spaces_are_reindented_with_tabs(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("m.go",
       "package m\n\nfunc f(x int) int {\n\tif x > 0 {\n\t\treturn x\n\t}\n\treturn 0\n}\n");
  add_sr(&l, "m.go", "    if x > 0 {\n        return x\n    }\n",
         "    if x > 0 {\n        x++\n        return x\n    }\n");
  expect(&l, "m.go",
         "package m\n\nfunc f(x int) int {\n\tif x > 0 {\n\t\tx++\n\t\treturn x\n\t}\n\treturn 0\n}"
         "\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_INDENT);
}

static void
test_indentation_that_does_not_shift_by_one_amount_is_not_matched(void **state)
{
  /* In Python the indentation is the program: lines shifted by different amounts are a
   * different program, never re-indented by guess.  */
  cleanup_edits struct tars_edits l = {0};
  char msg[4096];
  no_files();
  file("g.py", py_file);
  add_sr(&l, "g.py", "if name:\nprint(\"hello\", name)\n", "if name:\nprint(\"hi\", name)\n");
  expect_refused(&l, 0, TARS_EDIT_NO_MATCH, msg, sizeof msg);
  contains(msg, "lines 3-4");
  contains(msg, "indentation");
}

static void
test_unicode_punctuation_is_folded_to_ascii(void **state)
{
  /* Smart quotes, an en dash and a no-break space where the file has ASCII; the replacement's
   * are folded back, since the file has none of them.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("q.py", "def f(x):\n    return x - 1  # 'one' less\n\nprint(\"done\")\n");
  add_sr(&l, "q.py", "    return x \xe2\x80\x93 1  # \xe2\x80\x98one\xe2\x80\x99 less\n",
         "    return x \xe2\x80\x93 2  # \xe2\x80\x98two\xe2\x80\x99\xc2\xa0less\n");
  expect(&l, "q.py", "def f(x):\n    return x - 2  # 'two' less\n\nprint(\"done\")\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_PUNCTUATION);

  /* The file's own typographic quotes stay where it has them, on context and in new text.  */
  cleanup_edits struct tars_edits m = {0};
  no_files();
  file("d.md", "Say \xe2\x80\x9chello\xe2\x80\x9d.\nThen leave.\n");
  add_sr(&m, "d.md", "Say \"hello\".\nThen leave.\n",
         "Say \"hello\".\nThen \xe2\x80\x9cleave\xe2\x80\x9d.\n");
  expect(&m, "d.md", "Say \xe2\x80\x9chello\xe2\x80\x9d.\nThen \xe2\x80\x9cleave\xe2\x80\x9d.\n");
}

static void
test_a_hunk_whose_context_drifted_applies_and_keeps_the_lines_between(void **state)
{
  /* The hunk's leading context is two lines too early: the two lines between it and the change
   * are in the file, not in the hunk, and stay.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  add_hunk(&l, TARS_EDIT_HUNK, "add.c", " int\n main(void)\n-  return 0;\n+  return 1;\n }\n", 9);
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a + b;\n}\n\nint\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n  return 1;\n}\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_DRIFT);

  /* More than TARS_EDIT_DRIFT_LINES away is no match.  */
  cleanup_edits struct tars_edits m = {0};
  add_hunk(&m, TARS_EDIT_HUNK, "add.c", " static int\n-  return 0;\n+  return 1;\n", 3);
  expect_refused(&m, 0, TARS_EDIT_NO_MATCH, NULL, 0);

  /* Lines added at the edge of a drifted context have no place: refused.  */
  cleanup_edits struct tars_edits n = {0};
  add_hunk(&n, TARS_EDIT_HUNK, "add.c", " int\n main(void)\n+  int x;\n-  return 0;\n }\n", 9);
  expect_refused(&n, 0, TARS_EDIT_NO_MATCH, NULL, 0);
}

static void
test_a_search_text_whose_leading_lines_drifted_applies_in_two_pieces(void **state)
{
  /* The block quotes the two lines above "{" instead of the two next to the change: it matches
   * in two pieces, and the lines between them stay.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "\nint\n  printf(\"%d\\n\", add(1, 2));\n  return 0;\n",
         "\nint\n  printf(\"%d\\n\", add(1, 2));\n  return 2;\n");
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a + b;\n}\n\nint\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n  return 2;\n}\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_DRIFT);

  /* Two removed lines with the file's lines between them: those lines were never seen.  */
  cleanup_edits struct tars_edits m = {0};
  add_hunk(&m, TARS_EDIT_HUNK, "add.c", "-static int\n-{\n", 3);
  expect_refused(&m, 0, TARS_EDIT_NO_MATCH, NULL, 0);
}

static void
test_a_changed_line_keeps_the_trailing_whitespace_it_had(void **state)
{
  /* A file with trailing whitespace of its own, a search text with more: the model's is noise,
   * the file's stays on the lines the edit rewrites.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("pod.pm", "=item [0] \n\nText here.\n");
  add_sr(&l, "pod.pm", "=item [0]   \n\nText here.  \n", "=item [0]    \n\nText there.   \n");
  expect(&l, "pod.pm", "=item [0] \n\nText there.\n");
}

static void
test_the_first_rung_that_matches_decides(void **state)
{
  /* Exactly one exact match, two once trailing whitespace is ignored: the exact one.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("x.txt", "a = 1  \nb\na = 1\nc\n");
  add_sr(&l, "x.txt", "a = 1\n", "a = 2\n");
  expect(&l, "x.txt", "a = 1  \nb\na = 2\nc\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_EXACT);
}

static void
test_a_search_text_matching_several_places_is_refused_naming_them(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  char msg[4096];
  no_files();
  file("x.c", "int f(void)\n{\n  return 0;\n}\nint g(void)\n{\n  return 0;\n}\n");
  add_sr(&l, "x.c", "{\n  return 0;\n", "{\n  return 1;\n");
  expect_refused(&l, 0, TARS_EDIT_AMBIGUOUS, msg, sizeof msg);
  contains(msg, "matches 2 places in x.c (lines 2-3 and 6-7)");
  contains(msg, "not applied anywhere");

  /* Found first on a looser rung, and there twice: refused too, never the first one taken.  */
  cleanup_edits struct tars_edits m = {0};
  no_files();
  file("y.py", "if a:\n    x = 1\nif b:\n        x = 1\n");
  add_sr(&m, "y.py", "  x = 1\n", "  x = 2\n");
  expect_refused(&m, 0, TARS_EDIT_AMBIGUOUS, msg, sizeof msg);
  contains(msg, "ignoring indentation");
  contains(msg, "line 2 and line 4");
}

static void
test_a_search_text_matching_nothing_gets_the_closest_region(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  char msg[4096];
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "main(void)\n{\n  printf(\"%d\\n\", add(1, 3));\n  return 0;\n",
         "main(void)\n{\n  return 0;\n");
  expect_refused(&l, 0, TARS_EDIT_NO_MATCH, msg, sizeof msg);
  contains(msg, "Edit 1 of 1 (SEARCH/REPLACE block for add.c");
  contains(msg, "the SEARCH text matches no lines of add.c");
  contains(msg, "Did you mean lines 10-13?\n```\nmain(void)\n{\n  printf(\"%d\\n\", add(1, 2));\n"
                "  return 0;\n```\n");
  contains(msg, "Line 12 differs: the file has\n      printf(\"%d\\n\", add(1, 2));\nwhere the "
                "SEARCH text has\n      printf(\"%d\\n\", add(1, 3));\n");

  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&l, &res, &err), -1);
  assert_int_equal(res.reports[0].first_line, 10);
  assert_int_equal(res.reports[0].last_line, 13);
  contains(res.feedback, "The edit could not be applied.");

  /* Nothing alike at all.  */
  cleanup_edits struct tars_edits m = {0};
  add_sr(&m, "add.c", "SELECT name FROM users WHERE id = 7;\n", "SELECT 1;\n");
  expect_refused(&m, 0, TARS_EDIT_NO_MATCH, msg, sizeof msg);
  contains(msg, "no part of the file is like it");

  /* A search text that leaves lines out with "..." is told so.  */
  cleanup_edits struct tars_edits n = {0};
  add_sr(&n, "add.c", "main(void)\n{\n  // ...\n  return 0;\n", "main(void)\n{\n  return 1;\n");
  expect_refused(&n, 0, TARS_EDIT_NO_MATCH, msg, sizeof msg);
  contains(msg, "It leaves lines out");
}

static void
test_a_replacement_already_in_the_file_is_pointed_out(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  char msg[4096];
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "  return a + b + 0;\n", "  return a + b;\n");
  expect_refused(&l, 0, TARS_EDIT_NO_MATCH, msg, sizeof msg);
  contains(msg, "already in the file (line 6)");
}

/* ----- all or nothing ----- */

static void
test_one_failing_edit_leaves_every_file_unchanged(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("a.txt", "alpha\nbeta\n");
  file("b.txt", "gamma\ndelta\n");
  add_sr(&l, "a.txt", "alpha\n", "ALPHA\n");
  add_sr(&l, "new.txt", "", "fresh\n");
  add_sr(&l, "b.txt", "epsilon\n", "EPSILON\n");
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&l, &res, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);
  assert_int_equal(res.n_files, 0);
  assert_null(res.files);
  assert_int_equal(res.n_reports, 3);
  assert_int_equal(res.n_failed, 1);
  assert_int_equal(res.reports[0].status, TARS_EDIT_APPLIED);
  assert_int_equal(res.reports[1].status, TARS_EDIT_APPLIED);
  assert_int_equal(res.reports[2].status, TARS_EDIT_NO_MATCH);
  assert_null(res.reports[0].message);
  contains(res.feedback, "1 of 3 edits could not be applied, so none was");
  contains(res.feedback, "Edit 3 of 3 (SEARCH/REPLACE block for b.txt");
  assert_null(strstr(res.feedback, "Edit 1 of 3"));
  contains(err.msg, "1 of 3 edits could not be applied");
  /* The reader's files are what they were: the library only ever works on copies.  */
  assert_string_equal(files[0].content, "alpha\nbeta\n");
}

static void
test_edits_of_one_file_apply_in_turn(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("a.txt", "one\ntwo\nthree\n");
  add_sr(&l, "a.txt", "one\n", "one\none and a half\n");
  add_sr(&l, "a.txt", "one and a half\ntwo\n", "1.5\n2\n");
  expect(&l, "a.txt", "one\n1.5\n2\nthree\n");

  /* A file an edit leaves as it was is not listed.  */
  cleanup_edits struct tars_edits m = {0};
  add_sr(&m, "a.txt", "two\n", "2\n");
  add_sr(&m, "a.txt", "2\n", "two\n");
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&m, &res, &err), 0);
  assert_int_equal(res.n_files, 0);
}

/* ----- new, deleted, empty files ----- */

static void
test_new_files_come_from_an_empty_search_or_dev_null(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("old.c", "int x;\n");
  add_sr(&l, "src/new.c", "", "int y;\n");
  add_hunk(&l, TARS_EDIT_HUNK, "src/other.c", "+int z;\n+int w;\n", 0);
  add_content(&l, TARS_EDIT_CREATE, "src/third.c", "int v;\n");
  add_content(&l, TARS_EDIT_WHOLE_FILE, "src/fourth.c", "int u;\n");
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&l, &res, &err), 0);
  assert_int_equal(res.n_files, 4);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(res.files[i].op, TARS_FILE_CREATE);
  assert_string_equal(res.files[0].path, "src/new.c");
  assert_string_equal(res.files[0].content, "int y;\n");
  assert_string_equal(res.files[1].content, "int z;\nint w;\n");
  assert_string_equal(res.files[2].content, "int v;\n");
  assert_string_equal(res.files[3].content, "int u;\n");

  /* Creating a file that exists is refused; filling an empty one is not.  */
  cleanup_edits struct tars_edits m = {0};
  char msg[4096];
  add_sr(&m, "old.c", "", "int y;\n");
  expect_refused(&m, 0, TARS_EDIT_FILE_EXISTS, msg, sizeof msg);
  contains(msg, "quote the lines to change");
  cleanup_edits struct tars_edits n = {0};
  add_content(&n, TARS_EDIT_CREATE, "old.c", "int y;\n");
  expect_refused(&n, 0, TARS_EDIT_FILE_EXISTS, msg, sizeof msg);
  cleanup_edits struct tars_edits o = {0};
  add_hunk(&o, TARS_EDIT_HUNK, "old.c", "+int y;\n", 1);
  expect_refused(&o, 0, TARS_EDIT_NO_CONTEXT, msg, sizeof msg);
  no_files();
  file("empty.c", "");
  cleanup_edits struct tars_edits p = {0};
  add_sr(&p, "empty.c", "", "int y;\n");
  expect(&p, "empty.c", "int y;\n");
}

static void
test_a_deletion_checks_the_lines_it_removes(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("gone.txt", "a\nb  \n");
  add_hunk(&l, TARS_EDIT_DELETE, "gone.txt", "-a\n-b\n", 0);
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&l, &res, &err), 0);
  assert_int_equal(res.n_files, 1);
  assert_int_equal(res.files[0].op, TARS_FILE_DELETE);
  assert_null(res.files[0].content);

  cleanup_edits struct tars_edits m = {0};
  add_hunk(&m, TARS_EDIT_DELETE, "gone.txt", "-a\n", 0);
  expect_refused(&m, 0, TARS_EDIT_NO_MATCH, NULL, 0);

  /* After a deletion, the file is gone for the edits that follow.  */
  cleanup_edits struct tars_edits n = {0};
  char msg[4096];
  add_hunk(&n, TARS_EDIT_DELETE, "gone.txt", "-a\n-b\n", 0);
  add_sr(&n, "gone.txt", "a\n", "A\n");
  expect_refused(&n, 1, TARS_EDIT_NO_FILE, msg, sizeof msg);
  contains(msg, "deleted by an earlier edit");

  cleanup_edits struct tars_edits o = {0};
  add_sr(&o, "missing.txt", "a\n", "A\n");
  expect_refused(&o, 0, TARS_EDIT_NO_FILE, msg, sizeof msg);
  contains(msg, "missing.txt does not exist. To create it, leave the SEARCH section empty");
}

static void
test_an_empty_file_gives_no_match_not_a_crash(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("empty.txt", "");
  add_sr(&l, "empty.txt", "x\n", "y\n");
  expect_refused(&l, 0, TARS_EDIT_NO_MATCH, NULL, 0);
}

/* ----- line endings ----- */

static void
test_crlf_files_keep_crlf(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("w.bat", "@echo off\r\nset A=1\r\necho %A%\r\n");
  add_sr(&l, "w.bat", "set A=1\necho %A%\n", "set A=2\nset B=3\necho %A%\n");
  expect(&l, "w.bat", "@echo off\r\nset A=2\r\nset B=3\r\necho %A%\r\n");
  assert_int_equal(rung_of(&l, 0), TARS_RUNG_EXACT);

  cleanup_edits struct tars_edits m = {0};
  add_content(&m, TARS_EDIT_WHOLE_FILE, "w.bat", "@echo on\necho hi\n");
  expect(&m, "w.bat", "@echo on\r\necho hi\r\n");
}

static void
test_a_missing_final_newline_stays_missing(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("n.txt", "first\nlast");
  add_sr(&l, "n.txt", "last\n", "LAST\n");
  expect(&l, "n.txt", "first\nLAST");

  cleanup_edits struct tars_edits m = {0};
  add_sr(&m, "n.txt", "first\n", "FIRST\n");
  expect(&m, "n.txt", "FIRST\nlast");

  /* Lines added after a last line without a newline start on a line of their own.  */
  cleanup_edits struct tars_edits n = {0};
  add_sr(&n, "n.txt", "last\n", "last\nafter\n");
  expect(&n, "n.txt", "first\nlast\nafter");

  cleanup_edits struct tars_edits o = {0};
  add_content(&o, TARS_EDIT_WHOLE_FILE, "n.txt", "one\ntwo\n");
  expect(&o, "n.txt", "one\ntwo");
}

/* ----- refusals ----- */

static void
test_text_standing_for_left_out_code_is_refused(void **state)
{
  char msg[4096];
  no_files();
  file("add.c", c_file);
  file("keep.py", "def f():\n    # rest of the file unchanged\n    return 1\n");
  cleanup_edits struct tars_edits l = {0};
  add_content(&l, TARS_EDIT_WHOLE_FILE, "add.c",
              "#include <stdio.h>\n// ... existing code ...\nint\nmain(void)\n{\n  return 0;\n}\n");
  expect_refused(&l, 0, TARS_EDIT_ELIDED, msg, sizeof msg);
  contains(msg, "leaves code out (// ... existing code ...)");

  cleanup_edits struct tars_edits m = {0};
  add_sr(&m, "add.c", "{\n  return a + b;\n}\n", "{\n  /* ... */\n}\n");
  expect_refused(&m, 0, TARS_EDIT_ELIDED, NULL, 0);

  cleanup_edits struct tars_edits n = {0};
  add_hunk(&n, TARS_EDIT_HUNK, "add.c", " {\n-  return a + b;\n+  # rest of code unchanged\n", 5);
  expect_refused(&n, 0, TARS_EDIT_ELIDED, NULL, 0);

  /* A line the file already has is its own, not an elision; nor are real comments, "..." in
   * Python, or preprocessor lines.  */
  cleanup_edits struct tars_edits o = {0};
  add_sr(&o, "keep.py", "    return 1\n", "    return 2\n");
  expect(&o, "keep.py", "def f():\n    # rest of the file unchanged\n    return 2\n");
  cleanup_edits struct tars_edits p = {0};
  add_content(&p, TARS_EDIT_WHOLE_FILE, "keep.py",
              "class P:\n    def f(self):\n        ...\n\n# Keep the existing code path for old "
              "kernels too.\n#define OTHER 1\n");
  expect(&p, "keep.py",
         "class P:\n    def f(self):\n        ...\n\n# Keep the existing code path for old "
         "kernels too.\n#define OTHER 1\n");
}

static void
test_a_search_text_cut_short_of_lines_its_replacement_repeats_is_extended(void **state)
{
  /* SEARCH stops before "return 0;", which REPLACE rewrites unchanged: taken as context, so
   * that it is not written twice.  */
  cleanup_edits struct tars_edits l = {0};
  no_files();
  file("add.c", c_file);
  add_sr(&l, "add.c", "  printf(\"%d\\n\", add(1, 2));\n",
         "  printf(\"%d\\n\", add(2, 2));\n  return 0;\n");
  expect(&l, "add.c",
         "#include <stdio.h>\n\nstatic int\nadd(int a, int b)\n{\n  return a + b;\n}\n\nint\n"
         "main(void)\n{\n  printf(\"%d\\n\", add(2, 2));\n  return 0;\n}\n");
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(apply(&l, &res, &err), 0);
  assert_true(res.reports[0].extended);

  /* A new case like the next one is an insertion, not a search text cut short.  */
  cleanup_edits struct tars_edits m = {0};
  no_files();
  file("s.c", "switch (x) {\ncase 1:\n  f(1);\n  break;\ncase 3:\n  f(3);\n  break;\n}\n");
  add_sr(&m, "s.c", "case 1:\n  f(1);\n  break;\n",
         "case 1:\n  f(1);\n  break;\ncase 2:\n  f(2);\n  break;\n");
  expect(&m, "s.c",
         "switch (x) {\ncase 1:\n  f(1);\n  break;\ncase 2:\n  f(2);\n  break;\ncase 3:\n"
         "  f(3);\n  break;\n}\n");

  /* A closing brace proves nothing: inserting one is an ordinary edit.  */
  cleanup_edits struct tars_edits n = {0};
  no_files();
  file("b.c", "void f(void)\n{\n  g();\n}\n");
  add_sr(&n, "b.c", "  g();\n", "  g();\n  if (x) {\n    h();\n  }\n");
  expect(&n, "b.c", "void f(void)\n{\n  g();\n  if (x) {\n    h();\n  }\n}\n");
}

static void
test_bad_paths_are_refused(void **state)
{
  char msg[4096];
  no_files();
  static const char *const bad[] = {"../etc/passwd", "/etc/passwd", "a//b", "a/./b", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      cleanup_edits struct tars_edits l = {0};
      add_content(&l, TARS_EDIT_WHOLE_FILE, bad[i], "x\n");
      expect_refused(&l, 0, TARS_EDIT_BAD_PATH, msg, sizeof msg);
      contains(msg, "is not allowed");
    }
}

static void
test_binary_files_are_not_edited(void **state)
{
  no_files();
  static const char bin[] = "ab\0cd\n";
  files[n_files++] = (struct tars_edit_file){"b.bin", bin, sizeof bin - 1};
  cleanup_edits struct tars_edits l = {0};
  char msg[4096];
  add_sr(&l, "b.bin", "ab\n", "xy\n");
  expect_refused(&l, 0, TARS_EDIT_NOT_TEXT, msg, sizeof msg);
  contains(msg, "NUL bytes");
}

/* ----- readers and names ----- */

static void
test_the_directory_reader_reads_beneath_without_symlinks(void **state)
{
  char dir[] = "/tmp/tars-test-edits-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[4096];
  snprintf(path, sizeof path, "%s/src/a.txt", dir);
  test_write_file(path, "hello\n", 6, 0644);
  snprintf(path, sizeof path, "%s/link", dir);
  assert_int_equal(symlink("src", path), 0);
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  assert_true(dfd >= 0);

  char *c = NULL;
  size_t len = 0;
  struct tars_error err;
  assert_int_equal(tars_edit_read_dir(&dfd, "src/a.txt", &c, &len, &err), 1);
  assert_string_equal(c, "hello\n");
  free(c);
  assert_int_equal(tars_edit_read_dir(&dfd, "src/none.txt", &c, &len, &err), 0);
  assert_int_equal(tars_edit_read_dir(&dfd, "link/a.txt", &c, &len, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_REFUSED);

  cleanup_edits struct tars_edits l = {0};
  add_sr(&l, "src/a.txt", "hello\n", "bye\n");
  cleanup_edit_result struct tars_edit_result res;
  assert_int_equal(tars_edits_apply(&l, tars_edit_read_dir, &dfd, &res, &err), 0);
  assert_string_equal(res.files[0].content, "bye\n");
  test_rm_tree_at(AT_FDCWD, dir);
}

static void
test_format_names_parse_both_ways(void **state)
{
  enum tars_edit_format f;
  struct tars_error err;
  for (int i = TARS_EDIT_FORMAT_SEARCH_REPLACE; i <= TARS_EDIT_FORMAT_WHOLE_FILE; i++)
    {
      assert_int_equal(tars_edit_format_parse(tars_edit_format_name(i), &f, &err), 0);
      assert_int_equal(f, i);
    }
  assert_int_equal(tars_edit_format_parse("diff", &f, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  contains(err.msg, "search-replace, unified-diff or whole-file");
  assert_string_equal(tars_edit_rung_name(TARS_RUNG_DRIFT), "drift");
  assert_string_equal(tars_edit_status_name(TARS_EDIT_ELIDED), "elided");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_an_exact_search_text_is_replaced),
      cmocka_unit_test(test_trailing_whitespace_of_the_search_text_is_ignored),
      cmocka_unit_test(test_blank_lines_missing_from_the_search_text_are_kept),
      cmocka_unit_test(test_blank_lines_added_to_the_search_text_are_ignored),
      cmocka_unit_test(test_indentation_is_ignored_and_the_replacement_reindented),
      cmocka_unit_test(test_tabs_written_as_spaces_are_reindented_with_tabs),
      cmocka_unit_test(test_indentation_that_does_not_shift_by_one_amount_is_not_matched),
      cmocka_unit_test(test_unicode_punctuation_is_folded_to_ascii),
      cmocka_unit_test(test_a_hunk_whose_context_drifted_applies_and_keeps_the_lines_between),
      cmocka_unit_test(test_a_search_text_whose_leading_lines_drifted_applies_in_two_pieces),
      cmocka_unit_test(test_a_changed_line_keeps_the_trailing_whitespace_it_had),
      cmocka_unit_test(test_the_first_rung_that_matches_decides),
      cmocka_unit_test(test_a_search_text_matching_several_places_is_refused_naming_them),
      cmocka_unit_test(test_a_search_text_matching_nothing_gets_the_closest_region),
      cmocka_unit_test(test_a_replacement_already_in_the_file_is_pointed_out),
      cmocka_unit_test(test_one_failing_edit_leaves_every_file_unchanged),
      cmocka_unit_test(test_edits_of_one_file_apply_in_turn),
      cmocka_unit_test(test_new_files_come_from_an_empty_search_or_dev_null),
      cmocka_unit_test(test_a_deletion_checks_the_lines_it_removes),
      cmocka_unit_test(test_an_empty_file_gives_no_match_not_a_crash),
      cmocka_unit_test(test_crlf_files_keep_crlf),
      cmocka_unit_test(test_a_missing_final_newline_stays_missing),
      cmocka_unit_test(test_text_standing_for_left_out_code_is_refused),
      cmocka_unit_test(test_a_search_text_cut_short_of_lines_its_replacement_repeats_is_extended),
      cmocka_unit_test(test_bad_paths_are_refused),
      cmocka_unit_test(test_binary_files_are_not_edited),
      cmocka_unit_test(test_the_directory_reader_reads_beneath_without_symlinks),
      cmocka_unit_test(test_format_names_parse_both_ways),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
