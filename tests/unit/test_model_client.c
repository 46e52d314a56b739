/* The model client's failures that need no server: libcurl missing (a clear error naming the
 * package, and the failure not remembered), no model chosen, an empty request.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/client.h"
#include "model/http.h"
#include "tars/cleanup.h"

static struct tars_model_settings
ollama(const char *model)
{
  struct tars_model_settings s;
  tars_model_settings_init(&s);
  s.url = "http://127.0.0.1:1";
  s.model = (char *)model;
  s.retries = 0;
  return s;
}

static void
a_missing_libcurl_is_named(void **state)
{
  (void)state;
  assert_int_equal(tars_http_set_library("libcurl-that-does-not-exist.so.4"), 0);
  struct tars_model_settings s = ollama("m");
  cleanup_model_client struct tars_model_client *c = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_model_client_new(&s, &c, &err), 0);
  cleanup_chat_request struct tars_chat_request r;
  tars_chat_request_init(&r);
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, "x", NULL), 0);
  cleanup_chat_response struct tars_chat_response resp;
  assert_int_equal(tars_model_chat(c, &r, NULL, NULL, &resp, &err), -1);
  assert_int_equal(resp.status, TARS_MODEL_INTERNAL);
  assert_non_null(strstr(err.msg, "the model clients need libcurl "
                                  "(libcurl-that-does-not-exist.so.4, Debian package libcurl4)"));
  /* Not remembered: with the real library, the next load works.  */
  assert_int_equal(tars_http_set_library(NULL), 0);
  assert_int_equal(tars_http_load(&err), 0);
  assert_int_equal(tars_http_set_library("other.so"), -1);
}

static void
no_model_and_no_message_are_refused_before_any_request(void **state)
{
  (void)state;
  struct tars_model_settings s = ollama(NULL);
  cleanup_model_client struct tars_model_client *c = NULL;
  struct tars_error err = {0};
  assert_int_equal(tars_model_client_new(&s, &c, &err), 0);
  assert_string_equal(tars_model_client_chat_url(c), "http://127.0.0.1:1/api/chat");
  cleanup_chat_request struct tars_chat_request r;
  tars_chat_request_init(&r);
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_model_chat(c, &r, NULL, NULL, &resp, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_BAD_REQUEST);
  }
  assert_int_equal(tars_chat_request_add(&r, TARS_CHAT_USER, "x", NULL), 0);
  {
    cleanup_chat_response struct tars_chat_response resp;
    assert_int_equal(tars_model_chat(c, &r, NULL, NULL, &resp, &err), -1);
    assert_int_equal(resp.status, TARS_MODEL_MISSING);
    assert_non_null(strstr(err.msg, "no model chosen for http://127.0.0.1:1"));
    assert_string_equal(resp.error, err.msg);
    assert_int_equal(resp.http_attempts, 0);
  }
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_missing_libcurl_is_named),
      cmocka_unit_test(no_model_and_no_message_are_refused_before_any_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
