/* Pulling edits out of model answers (model/answer.h): the three formats among prose, fences with
 * and without a language, reasoning sections, several files, and the answers that must be
 * refused (cut off, mixed, without a file).  The answers are written the way models write them.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/answer.h"
#include "model/edits.h"
#include "tars/cleanup.h"

#define contains(hay, needle)                                                                      \
  do                                                                                               \
    {                                                                                              \
      if (strstr((hay), (needle)) == NULL)                                                         \
        fail_msg("\"%s\" not in:\n%s", (needle), (hay));                                           \
    }                                                                                              \
  while (0)

static void
parse(const char *answer, enum tars_edit_format f, const char *default_path, struct tars_edits *out)
{
  struct tars_answer_options o = {.format = f, .default_path = default_path};
  struct tars_error err = {0};
  if (tars_answer_parse(answer, strlen(answer), &o, out, &err) < 0)
    fail_msg("parse failed: %s", err.msg);
}

static void
refused(const char *answer, enum tars_edit_format f, const char *default_path, const char *why)
{
  struct tars_answer_options o = {.format = f, .default_path = default_path};
  struct tars_error err = {0};
  cleanup_edits struct tars_edits out = {0};
  assert_int_equal(tars_answer_parse(answer, strlen(answer), &o, &out, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_int_equal(out.n, 0);
  assert_null(out.v);
  contains(err.msg, why);
}

static void
sr_is(const struct tars_edits *l, size_t i, const char *path, const char *search,
      const char *replace)
{
  assert_true(i < l->n);
  assert_int_equal(l->v[i].kind, TARS_EDIT_SEARCH_REPLACE);
  assert_string_equal(l->v[i].path, path);
  assert_string_equal(l->v[i].search, search);
  assert_string_equal(l->v[i].replace, replace);
}

/* ----- search-replace ----- */

static void
test_search_replace_in_a_fence_with_a_language_among_prose(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("I'll fix the off-by-one in the loop.\n"
        "\n"
        "src/count.py\n"
        "```python\n"
        "<<<<<<< SEARCH\n"
        "for i in range(1, n):\n"
        "=======\n"
        "for i in range(n):\n"
        ">>>>>>> REPLACE\n"
        "```\n"
        "\n"
        "This makes the loop start at zero.\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.format, TARS_EDIT_FORMAT_SEARCH_REPLACE);
  sr_is(&l, 0, "src/count.py", "for i in range(1, n):\n", "for i in range(n):\n");
  assert_int_equal(l.v[0].answer_line, 5);
}

static void
test_search_replace_in_a_bare_fence_or_none(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("a.c\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n"
        "b.c\n<<<<<<< SEARCH\nu\n=======\nv\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  assert_int_equal(l.n, 2);
  sr_is(&l, 0, "a.c", "x\n", "y\n");
  sr_is(&l, 1, "b.c", "u\n", "v\n");
}

static void
test_paths_are_read_through_their_decoration(void **state)
{
  static const char *const lines[] = {
      "src/x.c",           "`src/x.c`",           "**src/x.c**",
      "### src/x.c",       "File: src/x.c",       "**File:** `src/x.c`",
      "Update `src/x.c`:", "Changes to src/x.c:", "./src/x.c",
      "src/x.c:",
  };
  for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
    {
      char answer[512];
      snprintf(answer, sizeof answer,
               "%s\n```c\n<<<<<<< SEARCH\nint a;\n=======\nint b;\n>>>>>>> REPLACE\n```\n",
               lines[i]);
      cleanup_edits struct tars_edits l = {0};
      parse(answer, TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
      if (strcmp(l.v[0].path, "src/x.c") != 0)
        fail_msg("\"%s\" gave the path \"%s\"", lines[i], l.v[0].path);
    }
  /* In the fence's info string.  */
  cleanup_edits struct tars_edits l = {0};
  parse("```c:src/y.c\n<<<<<<< SEARCH\nint a;\n=======\nint b;\n>>>>>>> REPLACE\n```\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  assert_string_equal(l.v[0].path, "src/y.c");
  /* The path in a fence of its own, before the block's fence.  */
  cleanup_edits struct tars_edits m = {0};
  parse("```python\nword_count.py\n```\n```python\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> "
        "REPLACE\n```\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &m);
  assert_string_equal(m.v[0].path, "word_count.py");
  /* Paths that are not acceptable are still paths: refused when applied, not taken as prose. */
  cleanup_edits struct tars_edits n = {0};
  parse("../../etc/passwd\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &n);
  assert_string_equal(n.v[0].path, "../../etc/passwd");
}

static void
test_a_block_without_a_path_takes_the_previous_one_or_the_default(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("lib/m.go\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n\nAnd also:\n\n"
        "<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[1].path, "lib/m.go");

  cleanup_edits struct tars_edits m = {0};
  parse("Here is the change:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, "step/file.c", &m);
  assert_string_equal(m.v[0].path, "step/file.c");

  refused("Here is the change:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
          TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL,
          "answer line 2: the SEARCH/REPLACE block names no file");
}

static void
test_markers_vary_the_way_models_write_them(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("x.txt\n  <<<<<<<< SEARCH  \nold\n  =========\nnew\n>>>>> replace\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  sr_is(&l, 0, "x.txt", "old\n", "new\n");

  /* A fence wrapped around a section inside the block is not part of it; an empty SEARCH is a
   * new file.  */
  cleanup_edits struct tars_edits m = {0};
  parse("new.py\n<<<<<<< SEARCH\n=======\n```python\nprint(1)\n```\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &m);
  sr_is(&m, 0, "new.py", "", "print(1)\n");
}

static void
test_several_files_in_one_answer(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("Two files change.\n\n"
        "`include/util.h`\n```c\n<<<<<<< SEARCH\nint f(void);\n=======\nint f(int);\n>>>>>>> "
        "REPLACE\n```\n\n"
        "`src/util.c`\n```c\n<<<<<<< SEARCH\nint f(void)\n=======\nint f(int x)\n>>>>>>> "
        "REPLACE\n```\n\n"
        "`src/util.c`\n```c\n<<<<<<< SEARCH\n  return 0;\n=======\n  return x;\n>>>>>>> "
        "REPLACE\n```\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  assert_int_equal(l.n, 3);
  sr_is(&l, 0, "include/util.h", "int f(void);\n", "int f(int);\n");
  sr_is(&l, 1, "src/util.c", "int f(void)\n", "int f(int x)\n");
  sr_is(&l, 2, "src/util.c", "  return 0;\n", "  return x;\n");
}

static void
test_an_unfinished_block_is_refused_as_cut_off(void **state)
{
  refused("a.c\n<<<<<<< SEARCH\nint a;\n=======\nint b;\n", TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL,
          "answer line 2: the SEARCH/REPLACE block is not finished (no \">>>>>>> REPLACE\" "
          "line): the answer seems cut off");
  refused("a.c\n<<<<<<< SEARCH\nint a;\n", TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL,
          "the answer seems cut off");
  refused("a.c\n<<<<<<< SEARCH\nint a;\n>>>>>>> REPLACE\n", TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL,
          "no \"=======\" line between");
  /* The first block complete, the second cut: nothing at all.  */
  refused("a.c\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
          "a.c\n<<<<<<< SEARCH\nc\n=======\nd\n",
          TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, "answer line 8");
}

/* ----- reasoning ----- */

static void
test_reasoning_sections_are_dropped(void **state)
{
  /* The reasoning drafts a block of its own: only the answer's block counts.  */
  cleanup_edits struct tars_edits l = {0};
  parse("<think>\nThe user wants b. Maybe:\na.c\n<<<<<<< SEARCH\na\n=======\nWRONG\n>>>>>>> "
        "REPLACE\nNo, better keep it simple.\n</think>\n\n"
        "a.c\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  assert_int_equal(l.n, 1);
  sr_is(&l, 0, "a.c", "a\n", "b\n");
  assert_int_equal(l.v[0].answer_line, 13);

  /* <thinking>, and an answer whose template opened the section: only its end is there.  */
  cleanup_edits struct tars_edits m = {0};
  parse("  <Thinking>x</Thinking>a.c\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &m);
  assert_int_equal(m.n, 1);
  cleanup_edits struct tars_edits n = {0};
  parse("so the fix is to rename it\n</think>\na.c\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> "
        "REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &n);
  assert_int_equal(n.n, 1);

  /* A "</think>" inside an edit is the file's text.  */
  cleanup_edits struct tars_edits o = {0};
  parse("t.html\n<<<<<<< SEARCH\n<p>a</p>\n=======\n<p></think></p>\n>>>>>>> REPLACE\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &o);
  sr_is(&o, 0, "t.html", "<p>a</p>\n", "<p></think></p>\n");

  bool unclosed;
  assert_int_equal(tars_answer_reasoning_end("no reasoning", 12, &unclosed), 0);
  assert_false(unclosed);
}

static void
test_an_unclosed_reasoning_section_is_refused(void **state)
{
  refused("<think>\nLet me write the block.\na.c\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> "
          "REPLACE\n",
          TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL,
          "the answer's reasoning section (<think>) is not closed");
}

/* ----- unified diff ----- */

static void
hunk_is(const struct tars_edits *l, size_t i, const char *path, const char *ops, unsigned old_start)
{
  assert_true(i < l->n);
  assert_int_equal(l->v[i].kind, TARS_EDIT_HUNK);
  assert_string_equal(l->v[i].path, path);
  assert_int_equal(l->v[i].n_lines, strlen(ops));
  for (size_t k = 0; k < l->v[i].n_lines; k++)
    assert_int_equal(l->v[i].lines[k].op, ops[k]);
  assert_int_equal(l->v[i].old_start, old_start);
}

static void
test_a_diff_with_line_numbers_and_wrong_counts(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("Here is the patch:\n\n```diff\n"
        "diff --git a/src/m.c b/src/m.c\n"
        "index 83db48f..bf269f4 100644\n"
        "--- a/src/m.c\n"
        "+++ b/src/m.c\n"
        "@@ -10,3 +10,3 @@ int main(void)\n"
        " {\n"
        "-  return 0;\n"
        "+  return 1;\n"
        "\n"
        " }\n"
        "@@ -40,9 +40,2 @@\n"
        " a\n"
        "+b\n"
        "```\n"
        "It returns 1 now.\n",
        TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL, &l);
  assert_int_equal(l.format, TARS_EDIT_FORMAT_UNIFIED_DIFF);
  assert_int_equal(l.n, 2);
  hunk_is(&l, 0, "src/m.c", " -+  ", 10);
  assert_string_equal(l.v[0].lines[1].text, "  return 0;");
  assert_string_equal(l.v[0].lines[3].text, ""); /* a blank line written without its space */
  hunk_is(&l, 1, "src/m.c", " +", 40);
}

static void
test_a_diff_without_line_numbers_or_headers(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("--- mathweb/flask/app.py\n+++ mathweb/flask/app.py\n@@ ... @@\n-class MathWeb:\n"
        "+import sympy\n+\n+class MathWeb:\n\nThat adds the import.\n",
        TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL, &l);
  assert_int_equal(l.n, 1);
  hunk_is(&l, 0, "mathweb/flask/app.py", "-+++", 0);

  /* The "@@" forgotten after the headers.  */
  cleanup_edits struct tars_edits m = {0};
  parse("--- a/x.txt\n+++ b/x.txt\n a\n-b\n+c\n", TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &m);
  hunk_is(&m, 0, "x.txt", " -+", 0);

  /* Hunks with no file: the default path, or refused.  */
  cleanup_edits struct tars_edits n = {0};
  parse("@@ -1 +1 @@\n-a\n+b\n", TARS_EDIT_FORMAT_UNIFIED_DIFF, "only.txt", &n);
  hunk_is(&n, 0, "only.txt", "-+", 1);
  refused("@@ -1 +1 @@\n-a\n+b\n", TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL,
          "answer line 1: the hunk comes before any \"--- a/PATH\"");
}

static void
test_a_diff_creates_and_deletes_files(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("--- /dev/null\n+++ b/docs/new.md\n@@ -0,0 +1,2 @@\n+# New\n+text\n"
        "--- a/old.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-one\n-two\n",
        TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL, &l);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.v[0].kind, TARS_EDIT_CREATE);
  assert_string_equal(l.v[0].path, "docs/new.md");
  assert_string_equal(l.v[0].content, "# New\ntext\n");
  assert_int_equal(l.v[1].kind, TARS_EDIT_DELETE);
  assert_string_equal(l.v[1].path, "old.txt");
  assert_int_equal(l.v[1].n_lines, 2);

  refused("--- a/x\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n", TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL,
          "renames x to y");
  refused("--- /dev/null\n+++ b/n.txt\n@@ -1 +1 @@\n-a\n+b\n", TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL,
          "creates n.txt (from /dev/null) but removes lines");
}

static void
test_a_cut_off_diff_is_refused(void **state)
{
  /* Ending inside its fence, or short of the counts its header gives.  */
  refused("```diff\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n a\n-b\n", TARS_EDIT_FORMAT_UNIFIED_DIFF,
          NULL, "answer line 4: the hunk is in a code block that is not closed");
  refused("--- a/x.c\n+++ b/x.c\n@@ -1,4 +1,4 @@\n a\n-b\n+c\n", TARS_EDIT_FORMAT_UNIFIED_DIFF,
          NULL, "fewer lines than its header counts");
  /* Wrong counts on a hunk that is followed by more are only wrong counts.  */
  cleanup_edits struct tars_edits l = {0};
  parse("--- a/x.c\n+++ b/x.c\n@@ -1,4 +1,4 @@\n a\n-b\n+c\n\nDone.\n",
        TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL, &l);
  assert_int_equal(l.n, 1);
}

/* ----- whole files ----- */

static void
test_whole_files_after_their_path(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("Here are the files.\n\nsrc/a.py\n```python\nprint('a')\n```\n\n"
        "```js src/b.js\nconsole.log('b')\n```\n"
        "Run it with:\n```sh\npython3 src/a.py\n```\n",
        TARS_EDIT_FORMAT_WHOLE_FILE, NULL, &l);
  assert_int_equal(l.format, TARS_EDIT_FORMAT_WHOLE_FILE);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.v[0].kind, TARS_EDIT_WHOLE_FILE);
  assert_string_equal(l.v[0].path, "src/a.py");
  assert_string_equal(l.v[0].content, "print('a')\n");
  assert_string_equal(l.v[1].path, "src/b.js");
  assert_string_equal(l.v[1].content, "console.log('b')\n");
}

static void
test_a_whole_file_may_hold_fences_of_its_own(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("README.md\n```markdown\n# Title\n\n```sh\nmake\n```\n\nEnd.\n```\n",
        TARS_EDIT_FORMAT_WHOLE_FILE, NULL, &l);
  assert_string_equal(l.v[0].content, "# Title\n\n```sh\nmake\n```\n\nEnd.\n");
  cleanup_edits struct tars_edits m = {0};
  parse("README.md\n````\n```\nx\n```\n````\n", TARS_EDIT_FORMAT_WHOLE_FILE, NULL, &m);
  assert_string_equal(m.v[0].content, "```\nx\n```\n");
}

static void
test_whole_file_answers_that_must_be_refused(void **state)
{
  refused("a.py\n```python\nprint(1)\n", TARS_EDIT_FORMAT_WHOLE_FILE, NULL,
          "answer line 2: the code block is not closed: the answer seems cut off");
  refused("a.py\n```\nx\n```\na.py\n```\ny\n```\n", TARS_EDIT_FORMAT_WHOLE_FILE, NULL,
          "a.py is given twice");
  refused("Here it is:\n```python\nprint(1)\n```\n", TARS_EDIT_FORMAT_WHOLE_FILE, NULL,
          "answer line 2: the code block is not preceded by the path");
  refused("I could not find a way to do that.\n", TARS_EDIT_FORMAT_WHOLE_FILE, NULL,
          "the answer holds no file in a code block: write the file's path");
  /* A plan step names its file: a single code block without a path is that file.  */
  cleanup_edits struct tars_edits l = {0};
  parse("Here it is:\n```python\nprint(1)\n```\nTry it:\n```sh\npython3 x.py\n```\n",
        TARS_EDIT_FORMAT_WHOLE_FILE, "x.py", &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0].path, "x.py");
  assert_string_equal(l.v[0].content, "print(1)\n");
}

/* ----- the answer as a whole ----- */

static void
test_markers_are_read_whatever_format_was_asked(void **state)
{
  cleanup_edits struct tars_edits l = {0};
  parse("a.c\n```c\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n",
        TARS_EDIT_FORMAT_WHOLE_FILE, NULL, &l);
  assert_int_equal(l.format, TARS_EDIT_FORMAT_SEARCH_REPLACE);
  assert_int_equal(l.v[0].kind, TARS_EDIT_SEARCH_REPLACE);
  cleanup_edits struct tars_edits m = {0};
  parse("```diff\n--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-x\n+y\n```\n", TARS_EDIT_FORMAT_WHOLE_FILE,
        NULL, &m);
  assert_int_equal(m.format, TARS_EDIT_FORMAT_UNIFIED_DIFF);

  refused("a.c\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n--- a/b.c\n+++ b/b.c\n@@ -1 +1 "
          "@@\n-x\n+y\n",
          TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, "mixes SEARCH/REPLACE blocks and a unified diff");
}

static void
test_answers_without_edits_say_what_to_write(void **state)
{
  refused("Sure! The function looks fine to me.", TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL,
          "the answer holds no SEARCH/REPLACE block: write each change as the file's path");
  refused("a.c\n```c\nint x;\n```\n", TARS_EDIT_FORMAT_UNIFIED_DIFF, NULL,
          "the answer holds no unified diff");
  refused("", TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, "holds no SEARCH/REPLACE block");
  static const char nul[] = "a.c\n<<<<<<< SEARCH\n\0\n=======\n>>>>>>> REPLACE\n";
  struct tars_answer_options o = {.format = TARS_EDIT_FORMAT_SEARCH_REPLACE};
  struct tars_error err;
  cleanup_edits struct tars_edits l = {0};
  assert_int_equal(tars_answer_parse(nul, sizeof nul - 1, &o, &l, &err), -1);
  contains(err.msg, "NUL byte");
}

/* ----- end to end: parse, then apply ----- */

static void
test_an_answer_parsed_and_applied(void **state)
{
  static const char file[] = "def area(w, h):\r\n    return w * h\r\n\r\n\r\ndef main():\r\n"
                             "    print(area(2, 3))\r\n";
  struct tars_edit_file files[] = {{"geo.py", file, sizeof file - 1}};
  struct tars_edit_files fs = {files, 1};
  cleanup_edits struct tars_edits l = {0};
  parse("<think>small change</think>\nI'll validate the arguments.\n\ngeo.py\n```python\n"
        "<<<<<<< SEARCH\ndef area(w, h):\n    return w * h\n=======\ndef area(w, h):\n"
        "    if w < 0 or h < 0:\n        raise ValueError(\xe2\x80\x9cnegative\xe2\x80\x9d)\n"
        "    return w * h\n>>>>>>> REPLACE\n```\n",
        TARS_EDIT_FORMAT_SEARCH_REPLACE, NULL, &l);
  cleanup_edit_result struct tars_edit_result res;
  struct tars_error err;
  assert_int_equal(tars_edits_apply(&l, tars_edit_read_files, &fs, &res, &err), 0);
  assert_int_equal(res.n_files, 1);
  assert_string_equal(res.files[0].content,
                      "def area(w, h):\r\n    if w < 0 or h < 0:\r\n        raise "
                      "ValueError(\xe2\x80\x9cnegative\xe2\x80\x9d)\r\n    return w * h\r\n\r\n\r\n"
                      "def main():\r\n    print(area(2, 3))\r\n");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_search_replace_in_a_fence_with_a_language_among_prose),
      cmocka_unit_test(test_search_replace_in_a_bare_fence_or_none),
      cmocka_unit_test(test_paths_are_read_through_their_decoration),
      cmocka_unit_test(test_a_block_without_a_path_takes_the_previous_one_or_the_default),
      cmocka_unit_test(test_markers_vary_the_way_models_write_them),
      cmocka_unit_test(test_several_files_in_one_answer),
      cmocka_unit_test(test_an_unfinished_block_is_refused_as_cut_off),
      cmocka_unit_test(test_reasoning_sections_are_dropped),
      cmocka_unit_test(test_an_unclosed_reasoning_section_is_refused),
      cmocka_unit_test(test_a_diff_with_line_numbers_and_wrong_counts),
      cmocka_unit_test(test_a_diff_without_line_numbers_or_headers),
      cmocka_unit_test(test_a_diff_creates_and_deletes_files),
      cmocka_unit_test(test_a_cut_off_diff_is_refused),
      cmocka_unit_test(test_whole_files_after_their_path),
      cmocka_unit_test(test_a_whole_file_may_hold_fences_of_its_own),
      cmocka_unit_test(test_whole_file_answers_that_must_be_refused),
      cmocka_unit_test(test_markers_are_read_whatever_format_was_asked),
      cmocka_unit_test(test_answers_without_edits_say_what_to_write),
      cmocka_unit_test(test_an_answer_parsed_and_applied),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
