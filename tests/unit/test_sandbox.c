/* The library's sandbox call, as its callers (the validator, the workers) use it: captured
 * output, exit statuses, timeouts, changes, and nothing left behind.  Runs as root and, through
 * tests/integration/unit-as-user.sh, as an unprivileged user.  */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tars/sandbox.h"

static char *argv_sh[4];

static void
spec_sh(struct tars_spec *spec, const char *script)
{
  tars_spec_init(spec);
  argv_sh[0] = (char *)"/bin/sh";
  argv_sh[1] = (char *)"-c";
  argv_sh[2] = (char *)script;
  argv_sh[3] = NULL;
  spec->argv = argv_sh;
  spec->capture_output = true;
  spec->timeout_ms = 30000;
}

/* True when a process whose command line contains TOKEN exists on the host.  */
static bool
process_with_token(const char *token)
{
  DIR *d = opendir("/proc");
  struct dirent *e;
  bool found = false;
  while (d && (e = readdir(d)) != NULL && !found)
    {
      char path[300], buf[4096];
      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
      FILE *f = fopen(path, "r");
      if (f == NULL)
        continue;
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
          buf[i] = ' ';
      buf[n] = '\0';
      if (strstr(buf, token))
        found = true;
    }
  if (d)
    closedir(d);
  return found;
}

static void
captures_output_and_status(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "echo out; echo err >&2; exit 42");
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_int_equal(res.status, 42);
  assert_int_equal(res.signal, 0);
  assert_false(res.timed_out);
  assert_string_equal(res.out, "out\n");
  assert_string_equal(res.err, "err\n");
  tars_result_free(&res);
}

static void
signal_gives_128_plus_n(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "kill -TERM $$");
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_int_equal(res.signal, 15);
  assert_int_equal(res.status, 128 + 15);
  tars_result_free(&res);
}

static void
timeout_kills_everything(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  /* A background child that would outlive its parent, and a parent that never ends.  */
  spec_sh(&spec, "sleep 3600 & exec sleep 3601");
  spec.timeout_ms = 500;
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_true(res.timed_out);
  assert_int_equal(res.status, 124);
  tars_result_free(&res);
  usleep(100000);
  assert_false(process_with_token("sleep 3600"));
  assert_false(process_with_token("sleep 3601"));
}

/* A cancel descriptor that turns readable stops everything at once, long before the timeout.  */
static void
cancel_fd_kills_everything(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  int p[2];
  assert_int_equal(pipe(p), 0);
  spec_sh(&spec, "sleep 3603 & exec sleep 3604");
  spec.cancel_fd = p[0];
  pid_t writer = fork();
  assert_true(writer >= 0);
  if (writer == 0)
    {
      usleep(300000);
      _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
    }
  time_t t0 = time(NULL);
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_true(res.cancelled);
  assert_false(res.timed_out);
  assert_int_equal(res.status, 130);
  assert_true(time(NULL) - t0 < 10);
  tars_result_free(&res);
  waitpid(writer, NULL, 0);
  close(p[0]);
  close(p[1]);
  usleep(100000);
  assert_false(process_with_token("sleep 3603"));
  assert_false(process_with_token("sleep 3604"));
}

static void
leftovers_are_killed_when_the_command_ends(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "(sleep 3602 >/dev/null 2>&1 &) ; exit 0");
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_int_equal(res.status, 0);
  tars_result_free(&res);
  usleep(100000);
  assert_false(process_with_token("sleep 3602"));
}

static void
exec_failure_is_reported(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  char *argv[] = {(char *)"/no/such/program", NULL};
  tars_spec_init(&spec);
  spec.argv = argv;
  spec.capture_output = true;
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_true(res.exec_failed);
  assert_int_equal(res.status, 127);
  assert_non_null(strstr(res.exec_error, "/no/such/program"));
  tars_result_free(&res);
}

static void
bad_spec_is_invalid(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  tars_spec_init(&spec);
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_non_null(strstr(err.msg, "argv"));
}

static void
output_beyond_the_cap_is_counted(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "head -c 100000 /dev/zero");
  spec.capture_max = 1000;
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_int_equal(res.out_len, 1000);
  assert_int_equal(res.out_dropped, 99000);
  tars_result_free(&res);
}

static void
workspace_changes_are_captured_not_applied(void **state)
{
  char ws[] = "/tmp/tars-unit-ws-XXXXXX";
  char out[] = "/tmp/tars-unit-out-XXXXXX";
  assert_non_null(mkdtemp(ws));
  assert_non_null(mkdtemp(out));
  rmdir(out);
  char path[256];
  snprintf(path, sizeof path, "%s/keep.txt", ws);
  FILE *f = fopen(path, "w");
  fputs("original\n", f);
  fclose(f);

  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "echo changed > keep.txt && echo new > new.txt && cat keep.txt");
  spec.workspace = ws;
  spec.changes_out = out;
  int r = tars_sandbox_run(&spec, &res, &err);
  if (r < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(res.status, 0);
  assert_string_equal(res.out, "changed\n");
  assert_int_equal(res.changes, 2);
  tars_result_free(&res);

  f = fopen(path, "r");
  char buf[64] = "";
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "original\n");
  snprintf(path, sizeof path, "%s/new.txt", ws);
  assert_int_equal(access(path, F_OK), -1);
  snprintf(path, sizeof path, "%s/manifest.json", out);
  assert_int_equal(access(path, F_OK), 0);

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", ws, out);
  assert_int_equal(system(cmd), 0);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(captures_output_and_status),
      cmocka_unit_test(signal_gives_128_plus_n),
      cmocka_unit_test(timeout_kills_everything),
      cmocka_unit_test(cancel_fd_kills_everything),
      cmocka_unit_test(leftovers_are_killed_when_the_command_ends),
      cmocka_unit_test(exec_failure_is_reported),
      cmocka_unit_test(bad_spec_is_invalid),
      cmocka_unit_test(output_beyond_the_cap_is_counted),
      cmocka_unit_test(workspace_changes_are_captured_not_applied),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
