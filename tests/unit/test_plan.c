/* Execution plans (plan.h) and improvement plans (improvement.h): what a valid plan becomes,
 * the order its steps run in, the JSON round trip, and every kind of bad plan, each refused
 * with a message naming the step and the field.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "plan/improvement.h"
#include "plan/plan.h"
#include "tars/cleanup.h"

/* Parse TEXT; assert_true on success.  */
static void
parse_ok(const char *text, struct tars_plan *plan)
{
  struct tars_error err = {0};
  struct tars_plan_problems pr = {0};
  int r = tars_plan_load(text, strlen(text), "plan.json", plan, NULL, &pr, &err);
  if (r < 0)
    fail_msg("expected a valid plan, got: %s", err.msg);
  tars_plan_problems_free(&pr);
}

/* Parse TEXT, expect it refused, and every NEEDLE (NULL-terminated) in one of its problems.  */
static void
parse_bad(const char *text, size_t len, ...)
{
  struct tars_error err = {0};
  struct tars_plan_problems pr = {0};
  struct tars_plan plan;
  int r = tars_plan_load(text, len, "plan.json", &plan, NULL, &pr, &err);
  assert_int_equal(r, -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_true(pr.n > 0);
  assert_null(plan.steps);
  va_list ap;
  va_start(ap, len);
  for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
    {
      bool found = false;
      for (size_t i = 0; i < pr.n && !found; i++)
        found = strstr(pr.v[i], needle) != NULL;
      if (!found)
        {
          for (size_t i = 0; i < pr.n; i++)
            print_message("problem: %s\n", pr.v[i]);
          fail_msg("no problem mentions \"%s\"", needle);
        }
    }
  va_end(ap);
  tars_plan_problems_free(&pr);
}
#define BAD(text, ...) parse_bad(text, strlen(text), __VA_ARGS__, NULL)

static const char good_plan[] =
    "{\"id\": \"tidy\", \"name\": \"Tidy the calculator\", \"improvementId\": \"imp-1\",\n"
    " \"metadata\": {\"owner\": \"ci\"},\n"
    " \"steps\": [\n"
    "  {\"id\": \"fmt\", \"type\": \"command\",\n"
    "   \"parameters\": {\"command\": \"clang-format -i src/*.c\", \"timeout\": 60,\n"
    "                  \"env\": {\"LC_ALL\": \"C\"}}},\n"
    "  {\"id\": \"fix-add\", \"name\": \"Fix add\", \"type\": \"edit\", \"dependencies\": "
    "[\"fmt\"],\n"
    "   \"priority\": 0.9,\n"
    "   \"parameters\": {\"edits\": [{\"path\": \"src/calc.c\", \"format\": \"search-replace\",\n"
    "                              \"text\": \"<<<<<<< SEARCH\\na-b\\n=======\\na+b\\n>>>>>>> "
    "REPLACE\\n\"}]},\n"
    "   \"validationRules\": {\"requiredTests\": [\"calc::*\"], \"mustChange\": [\"src/calc.c\"],\n"
    "                       \"maxDiffLines\": 20}},\n"
    "  {\"id\": \"todo\", \"type\": \"edit\", \"dependencies\": [\"fmt\"],\n"
    "   \"parameters\": {\"instructions\": \"Handle overflow\", \"targetFiles\": "
    "[\"src/calc.c\"],\n"
    "     \"todos\": [{\"file\": \"src/calc.c\", \"line\": 12, \"column\": 5, \"marker\": "
    "\"TODO\",\n"
    "                \"text\": \"overflow\", \"function\": {\"name\": \"add\", \"startLine\": 10,\n"
    "                \"endLine\": 14}}]}},\n"
    "  {\"id\": \"check\", \"type\": \"validation\", \"dependencies\": [\"fix-add\", \"todo\"],\n"
    "   \"parameters\": {\"validate\": {\"test\": \"make check\", \"timeouts\": {\"test\": "
    "60}}}},\n"
    "  {\"id\": \"ok\", \"type\": \"approval\", \"dependencies\": [\"check\"],\n"
    "   \"parameters\": {\"message\": \"Ship it?\"}, \"rollbackAction\": \"keep\"}\n"
    " ]}\n";

static void
test_a_valid_plan_becomes_typed_steps_with_resolved_dependencies(void **state)
{
  (void)state;
  cleanup_plan struct tars_plan p = {0};
  parse_ok(good_plan, &p);
  assert_string_equal(p.id, "tidy");
  assert_string_equal(p.name, "Tidy the calculator");
  assert_string_equal(p.improvement_id, "imp-1");
  assert_int_equal(p.status, TARS_PLAN_CREATED);
  assert_int_equal(p.n_steps, 5);
  const struct tars_step *fmt = &p.steps[0], *fix = &p.steps[1], *todo = &p.steps[2],
                         *check = &p.steps[3], *ok = &p.steps[4];
  assert_int_equal(fmt->type, TARS_STEP_COMMAND);
  assert_string_equal(fmt->name, "fmt");
  assert_string_equal(fmt->params.command.shell, "clang-format -i src/*.c");
  assert_int_equal(fmt->params.command.timeout_s, 60);
  assert_int_equal(fmt->params.command.n_env, 1);
  assert_string_equal(fmt->params.command.env[0].name, "LC_ALL");
  assert_int_equal(fmt->status, TARS_STEP_PENDING);
  assert_int_equal(fmt->order, 0);
  assert_int_equal(fix->type, TARS_STEP_EDIT);
  assert_int_equal(fix->params.edit.n_edits, 1);
  assert_int_equal(fix->params.edit.edits[0].format, TARS_EDIT_FORMAT_SEARCH_REPLACE);
  assert_int_equal(fix->n_dependencies, 1);
  assert_int_equal(fix->deps[0], 0);
  assert_int_equal(fix->rules.max_diff_lines, 20);
  assert_string_equal(fix->rules.required_tests[0], "calc::*");
  assert_true(fix->priority == 0.9);
  assert_string_equal(todo->params.edit.instructions, "Handle overflow");
  assert_int_equal(todo->params.edit.n_todos, 1);
  assert_string_equal(todo->params.edit.todos[0].function, "add");
  assert_int_equal(todo->params.edit.todos[0].function_end, 14);
  assert_int_equal(check->type, TARS_STEP_VALIDATION);
  assert_non_null(check->params.validation.validate);
  assert_int_equal(check->deps[0], 1);
  assert_int_equal(check->deps[1], 2);
  assert_int_equal(ok->type, TARS_STEP_APPROVAL);
  assert_string_equal(ok->params.approval.message, "Ship it?");
  assert_int_equal(ok->rollback, TARS_ROLLBACK_KEEP);
}

static void
test_the_json_form_reads_back_as_the_same_plan(void **state)
{
  (void)state;
  cleanup_plan struct tars_plan p = {0};
  parse_ok(good_plan, &p);
  struct tars_error err = {0};
  cleanup_free char *text = tars_plan_to_string(&p, true, &err);
  assert_non_null(text);
  cleanup_plan struct tars_plan q = {0};
  parse_ok(text, &q);
  assert_true(tars_plan_equal(&p, &q));
  /* And once more: the printed form is a fixed point.  */
  cleanup_free char *again = tars_plan_to_string(&q, true, &err);
  assert_string_equal(text, again);
  /* Equality sees a difference.  */
  q.steps[1].priority = 0.5;
  assert_false(tars_plan_equal(&p, &q));
}

static void
order_of(const char *text, const char *expected)
{
  cleanup_plan struct tars_plan p = {0};
  parse_ok(text, &p);
  size_t order[16];
  struct tars_error err = {0};
  assert_int_equal(tars_plan_order(&p, order, &err), 0);
  char got[256] = "";
  for (size_t i = 0; i < p.n_steps; i++)
    {
      strcat(got, i ? " " : "");
      strcat(got, p.steps[order[i]].id);
    }
  assert_string_equal(got, expected);
}

static void
test_steps_run_after_their_dependencies_then_by_priority_order_and_position(void **state)
{
  (void)state;
  order_of(good_plan, "fmt fix-add todo check ok");
  /* Dependencies first, whatever the file's order.  */
  order_of("{\"steps\": [{\"id\": \"b\", \"type\": \"approval\", \"dependencies\": [\"a\"]},"
           "{\"id\": \"a\", \"type\": \"approval\"}]}",
           "a b");
  /* Among ready steps: priority (higher first), then order, then position.  */
  order_of("{\"steps\": [{\"id\": \"p1\", \"type\": \"approval\"},"
           "{\"id\": \"p2\", \"type\": \"approval\", \"priority\": 0.7},"
           "{\"id\": \"o1\", \"type\": \"approval\", \"order\": -5},"
           "{\"id\": \"o2\", \"type\": \"approval\", \"order\": -5},"
           "{\"id\": \"late\", \"type\": \"approval\", \"priority\": 1, \"dependencies\": "
           "[\"p1\"]}]}",
           "p2 o1 o2 p1 late");
}

static void
test_improvements_become_one_step_each_depending_as_their_improvements_do(void **state)
{
  (void)state;
  static const char text[] =
      "{\"id\": \"imps\", \"improvements\": [\n"
      " {\"id\": \"docs\", \"name\": \"Document add\", \"category\": \"Documentation\",\n"
      "  \"priorityScore\": 0.2, \"affectedFiles\": [\"src/calc.c\"],\n"
      "  \"instructions\": \"Write a comment for add\", \"dependencies\": [\"fix\"]},\n"
      " {\"id\": \"fix\", \"description\": \"add subtracts\", \"category\": \"Reliability\",\n"
      "  \"priorityScore\": 0.9, \"affectedFiles\": [\"src/calc.c\"], \"impactScore\": 0.8,\n"
      "  \"tags\": [\"bug\"]},\n"
      " {\"id\": \"fmt\", \"command\": [\"clang-format\", \"-i\", \"src/calc.c\"],\n"
      "  \"affectedFiles\": [\"src/calc.c\"]}]}";
  cleanup_plan struct tars_plan p = {0};
  enum tars_plan_source source;
  struct tars_error err = {0};
  assert_int_equal(tars_plan_load(text, strlen(text), "imps.json", &p, &source, NULL, &err), 0);
  assert_int_equal(source, TARS_PLAN_SOURCE_IMPROVEMENTS);
  assert_string_equal(p.id, "imps");
  assert_null(p.improvement_id);
  assert_int_equal(p.n_steps, 3);
  const struct tars_step *docs = &p.steps[0], *fix = &p.steps[1], *fmt = &p.steps[2];
  assert_int_equal(docs->type, TARS_STEP_EDIT);
  assert_string_equal(docs->name, "Document add");
  assert_string_equal(docs->params.edit.instructions, "Write a comment for add");
  assert_string_equal(docs->params.edit.target_files[0], "src/calc.c");
  assert_int_equal(docs->deps[0], 1);
  assert_true(docs->priority == 0.2);
  /* Without instructions the description is the coder's task.  */
  assert_string_equal(fix->params.edit.instructions, "add subtracts");
  assert_string_equal(fix->metadata[0].name, "category");
  assert_string_equal(fix->metadata[0].value, "Reliability");
  assert_int_equal(fmt->type, TARS_STEP_COMMAND);
  assert_int_equal(fmt->params.command.argc, 3);
  size_t order[3];
  assert_int_equal(tars_plan_order(&p, order, &err), 0);
  /* fix (0.9) first; then docs (0.2), ready once fix is done, before fmt (0).  */
  assert_string_equal(p.steps[order[0]].id, "fix");
  assert_string_equal(p.steps[order[1]].id, "docs");
  assert_string_equal(p.steps[order[2]].id, "fmt");
  /* A bare array is an improvement plan too, and one improvement names the plan.  */
  static const char one[] = "[{\"id\": \"only\", \"instructions\": \"do it\"}]";
  cleanup_plan struct tars_plan q = {0};
  assert_int_equal(tars_plan_load(one, strlen(one), "one.json", &q, &source, NULL, &err), 0);
  assert_string_equal(q.improvement_id, "only");
}

static void
test_bad_improvements_are_named_by_id_and_field(void **state)
{
  (void)state;
  BAD("{\"improvements\": [{\"id\": \"a\", \"instructions\": \"x\", \"dependencies\": [\"b\"]},"
      "{\"id\": \"b\", \"instructions\": \"y\", \"dependencies\": [\"a\"]}]}",
      "improvement \"a\": dependencies: cycle a -> b -> a");
  BAD("{\"improvements\": [{\"id\": \"a\", \"category\": \"Speed\", \"instructions\": \"x\"}]}",
      "improvement \"a\": category: not a category");
  BAD("{\"improvements\": [{\"id\": \"a\"}]}", "improvement \"a\": instructions: missing");
  BAD("{\"improvements\": [{\"id\": \"a\", \"instructions\": \"x\", \"priorityScore\": 3}]}",
      "improvement \"a\": priorityScore: expected a number from 0 to 1");
  BAD("{\"improvements\": [{\"id\": \"a\", \"instructions\": \"x\", \"affectedFiles\": "
      "[\"../etc/passwd\"]}]}",
      "improvement \"a\": affectedFiles[0]: \"../etc/passwd\" is not a clean relative path");
  BAD("{\"improvements\": [{\"id\": \"a\", \"instructions\": \"x\", \"colour\": 1}]}",
      "improvement \"a\": colour: unknown key");
  BAD("{\"improvements\": []}", "improvements: the plan has no improvement");
  BAD("{\"improvements\": [], \"steps\": []}", "both \"steps\" and \"improvements\"");
}

static void
test_bad_plans_are_refused_naming_the_step_and_the_field(void **state)
{
  (void)state;
  BAD("{\"steps\": []}", "plan.json: steps: the plan has no step");
  BAD("{\"id\": \"x\"}", "steps: missing");
  BAD("[1]", "improvement #1: improvement: expected an object");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\"}, {\"id\": \"a\", \"type\": "
      "\"approval\"}]}",
      "step #2: id: \"a\" is already the id of step #1");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"dependencies\": [\"zz\"]}]}",
      "step \"a\": dependencies[0]: no step has the id \"zz\"");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"dependencies\": [\"c\"]},"
      "{\"id\": \"b\", \"type\": \"approval\", \"dependencies\": [\"a\"]},"
      "{\"id\": \"c\", \"type\": \"approval\", \"dependencies\": [\"b\"]},"
      "{\"id\": \"d\", \"type\": \"approval\", \"dependencies\": [\"d\"]}]}",
      "step \"a\": dependencies: cycle a -> c -> b -> a",
      "step \"d\": dependencies: the step depends on itself");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"deploy\"}]}",
      "step \"a\": type: \"deploy\" is not a step type");
  BAD("{\"steps\": [{\"id\": \"a\"}]}", "step \"a\": type: missing");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"command\", \"parameters\": {\"command\": 42}}]}",
      "step \"a\": parameters.command: expected a string or an array of strings, got a number");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"command\", \"parameters\": {\"command\": \"x\", "
      "\"timeout\": \"10\"}}]}",
      "step \"a\": parameters.timeout: expected an integer, got a string");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"command\", \"parameters\": {\"command\": \"x\", "
      "\"cwd\": \"/\"}}]}",
      "step \"a\": parameters.cwd: unknown key");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"command\"}]}",
      "step \"a\": parameters: a command step needs parameters");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"edit\", \"parameters\": {\"edits\": [{\"path\": "
      "\"/etc/passwd\", \"format\": \"sed\", \"text\": 1}]}}]}",
      "step \"a\": parameters.edits[0].path: \"/etc/passwd\" is not a clean relative path",
      "step \"a\": parameters.edits[0].format: \"sed\" is not a format",
      "step \"a\": parameters.edits[0].text: expected a string, got a number");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"edit\", \"parameters\": {\"edits\": [{\"path\": "
      "\".git/hooks/pre-commit\", \"format\": \"whole-file\", \"text\": \"\"}]}}]}",
      "parameters.edits[0].path: \".git/hooks/pre-commit\" is not a clean relative path");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"edit\", \"parameters\": {}}]}",
      "step \"a\": parameters: an edit step needs \"edits\" or \"instructions\"");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"validation\", \"parameters\": {\"validate\": "
      "{\"toolchain\": \"ant\"}}}]}",
      "step \"a\": parameters.validate: ");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"validationRules\": {\"commands\": "
      "[\"true\"]}}]}",
      "step \"a\": validationRules: an approval step changes nothing");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"command\", \"parameters\": {\"command\": \"x\"}, "
      "\"validationRules\": {\"maxDiffLines\": -1, \"mayChangeTests\": \"yes\"}}]}",
      "step \"a\": validationRules.maxDiffLines: -1 is out of range",
      "step \"a\": validationRules.mayChangeTests: expected a boolean");
  BAD("{\"steps\": [{\"id\": \"bad id\", \"type\": \"approval\"}]}",
      "step #1: id: \"bad id\" is not a valid id");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"status\": \"Done\"}]}",
      "step \"a\": status: not a step status");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"id\": \"b\"}]}",
      "step \"a\": id: the key appears more than once");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"dependencies\": [\"b\", \"b\"]},"
      "{\"id\": \"b\", \"type\": \"approval\"}]}",
      "step \"a\": dependencies[1]: \"b\" is listed twice");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\", \"priority\": 2}]}",
      "step \"a\": priority: expected a number from 0 to 1");
  BAD("{\"colour\": 1, \"steps\": [{\"id\": \"a\", \"type\": \"approval\"}]}",
      "plan.json: colour: unknown key");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"command\", \"parameters\": {\"command\": \"x\", "
      "\"env\": {\"1BAD\": \"v\"}}}]}",
      "step \"a\": parameters.env.1BAD: not a valid environment variable name");
}

static void
test_bytes_that_are_not_a_plan_are_refused_before_parsing(void **state)
{
  (void)state;
  static const char latin1[] = "{\"steps\": [{\"id\": \"caf\xe9\", \"type\": \"approval\"}]}";
  parse_bad(latin1, sizeof latin1 - 1, "not valid UTF-8 at byte offset 22 (line 1, column 23)",
            NULL);
  static const char bom[] = "\xef\xbb\xbf{\"steps\": []}";
  parse_bad(bom, sizeof bom - 1, "byte order mark", NULL);
  static const char nul[] = "{\"steps\": [\0]}";
  parse_bad(nul, sizeof nul - 1, "NUL byte at offset 11", NULL);
  BAD("{\"steps\": [{\"id\": \"a\\u0000b\", \"type\": \"approval\"}]}", "\\u0000 at byte offset");
  BAD("{\"steps\": [", "not valid JSON at byte offset");
  BAD("{\"steps\": [{\"id\": \"a\", \"type\": \"approval\"}]} trailing",
      "text after the JSON value at byte offset 45");

  /* Past the size limit: refused from the length alone.  */
  size_t big = TARS_PLAN_MAX_BYTES + 1;
  char *huge = malloc(big);
  assert_non_null(huge);
  memset(huge, ' ', big);
  parse_bad(huge, big, "more than the limit of", NULL);
  /* Many values in few bytes: refused before cJSON allocates them.  */
  size_t n = 2 * TARS_PLAN_MAX_VALUES + 16;
  memset(huge, ',', n);
  huge[0] = '[';
  parse_bad(huge, n, "JSON values", NULL);
  free(huge);
}

static void
test_a_plan_file_larger_than_the_limit_is_not_read(void **state)
{
  (void)state;
  char path[] = "/tmp/tars-test-plan-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  /* A sparse file: its size says enough.  */
  assert_int_equal(ftruncate(fd, 100 << 20), 0);
  char *text = NULL;
  size_t len = 0;
  struct tars_error err = {0};
  assert_int_equal(tars_plan_read_fd(fd, "huge.json", &text, &len, &err), -1);
  assert_null(text);
  assert_non_null(strstr(err.msg, "huge.json: 104857600 bytes, more than the limit"));
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
  close(fd);
}

static void
test_ids_and_paths_have_a_shape(void **state)
{
  (void)state;
  assert_true(tars_plan_id_valid("a"));
  assert_true(tars_plan_id_valid("todo-calc.c-add_2"));
  assert_false(tars_plan_id_valid(""));
  assert_false(tars_plan_id_valid("-a"));
  assert_false(tars_plan_id_valid("a b"));
  char long_id[TARS_PLAN_MAX_ID + 2];
  memset(long_id, 'a', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  assert_false(tars_plan_id_valid(long_id));
  assert_true(tars_plan_path_valid("src/a.c"));
  assert_true(tars_plan_path_valid(".github/x.yml"));
  assert_false(tars_plan_path_valid("src//a.c"));
  assert_false(tars_plan_path_valid("src/"));
  assert_false(tars_plan_path_valid("./a"));
  assert_false(tars_plan_path_valid("a/../b"));
  assert_false(tars_plan_path_valid(".tars/tars.db"));
  assert_false(tars_plan_path_valid("sub/.git/config"));
  assert_false(tars_plan_path_valid("a\nb"));
}

static void
test_a_plan_without_an_id_gets_one_from_its_content(void **state)
{
  (void)state;
  static const char a[] = "{\"steps\": [{\"id\": \"a\", \"type\": \"approval\"}]}";
  static const char b[] = "{\"steps\": [{\"id\": \"b\", \"type\": \"approval\"}]}";
  cleanup_plan struct tars_plan p = {0}, q = {0}, r = {0};
  parse_ok(a, &p);
  parse_ok(a, &q);
  parse_ok(b, &r);
  assert_int_equal(strncmp(p.id, "plan-", 5), 0);
  assert_int_equal(strlen(p.id), 17);
  assert_string_equal(p.id, q.id);
  assert_string_not_equal(p.id, r.id);
  assert_string_equal(p.name, p.id);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_valid_plan_becomes_typed_steps_with_resolved_dependencies),
      cmocka_unit_test(test_the_json_form_reads_back_as_the_same_plan),
      cmocka_unit_test(test_steps_run_after_their_dependencies_then_by_priority_order_and_position),
      cmocka_unit_test(test_improvements_become_one_step_each_depending_as_their_improvements_do),
      cmocka_unit_test(test_bad_improvements_are_named_by_id_and_field),
      cmocka_unit_test(test_bad_plans_are_refused_naming_the_step_and_the_field),
      cmocka_unit_test(test_bytes_that_are_not_a_plan_are_refused_before_parsing),
      cmocka_unit_test(test_a_plan_file_larger_than_the_limit_is_not_read),
      cmocka_unit_test(test_ids_and_paths_have_a_shape),
      cmocka_unit_test(test_a_plan_without_an_id_gets_one_from_its_content),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
