#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tars/error.h"

static void
set_appends_strerror(void **state)
{
  struct tars_error err;
  assert_int_equal(tars_error_set(&err, ENOENT, "open %s", "/x"), -1);
  assert_string_equal(err.msg, "open /x: No such file or directory");
  assert_int_equal(err.code, ENOENT);
  assert_int_equal(err.kind, TARS_ERR_SYSTEM);
}

static void
prefix_keeps_code_and_kind(void **state)
{
  struct tars_error err;
  tars_error_invalid(&err, "bad key 'x'");
  tars_error_prefix(&err, "spec %s", "a.json");
  assert_string_equal(err.msg, "spec a.json: bad key 'x'");
  assert_int_equal(err.kind, TARS_ERR_INVALID);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(set_appends_strerror),
      cmocka_unit_test(prefix_keeps_code_and_kind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
