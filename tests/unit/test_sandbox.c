/* The library's sandbox call, as its callers (the validator, the workers) use it: captured
 * output, exit statuses, timeouts, changes, and nothing left behind.  Runs as root and, through
 * tests/integration/unit-as-user.sh, as an unprivileged user.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

static int
open_fds(void)
{
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  while (d && readdir(d))
    n++;
  if (d)
    closedir(d);
  return n;
}

/* One single-threaded loop drives six sandboxes at once through their descriptors: three end by
 * themselves, three are killed in the middle of their run, and nothing is left of any.  */
static void
one_loop_drives_many_sandboxes_and_kills_some(void **state)
{
  enum
  {
    N = 6
  };
  struct tars_sandbox *sb[N];
  struct tars_spec spec;
  struct tars_error err;
  int fds_before = open_fds();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  assert_true(ep >= 0);
  for (int i = 0; i < N; i++)
    {
      char *script =
          i % 2 ? "echo ready; sleep 0.3; echo done; exit 7" : "echo ready; exec sleep 3711";
      spec_sh(&spec, script);
      if (tars_sandbox_start(&spec, &sb[i], &err) < 0)
        fail_msg("start %d: %s", i, err.msg);
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, tars_sandbox_fd(sb[i]), &ev), 0);
    }
  bool ended[N] = {false};
  int left = N;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  bool killed = false;
  while (left > 0)
    {
      struct epoll_event ev[N];
      int n = epoll_wait(ep, ev, N, 100);
      assert_true(n >= 0 || errno == EINTR);
      for (int k = 0; k < n; k++)
        {
          int i = (int)ev[k].data.u32;
          int r = tars_sandbox_process(sb[i], &err);
          assert_true(r >= 0);
          if (r == 1 && !ended[i])
            {
              ended[i] = true;
              left--;
              epoll_ctl(ep, EPOLL_CTL_DEL, tars_sandbox_fd(sb[i]), NULL);
            }
        }
      clock_gettime(CLOCK_MONOTONIC, &now);
      double t = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
      if (!killed && t > 1.0)
        {
          for (int i = 0; i < N; i += 2)
            tars_sandbox_kill(sb[i]);
          killed = true;
        }
      assert_true(t < 20);
    }
  for (int i = 0; i < N; i++)
    {
      struct tars_result res;
      if (tars_sandbox_finish(sb[i], &res, &err) < 0)
        fail_msg("finish %d: %s", i, err.msg);
      if (i % 2)
        {
          assert_int_equal(res.status, 7);
          assert_string_equal(res.out, "ready\ndone\n");
          assert_false(res.cancelled);
        }
      else
        {
          assert_true(res.cancelled);
          assert_int_equal(res.status, 130);
        }
      tars_result_free(&res);
    }
  close(ep);
  usleep(100000);
  assert_false(process_with_token("sleep 3711"));
  assert_int_equal(open_fds(), fds_before);
}

static volatile bool churning;

static void *
churn(void *arg)
{
  while (churning)
    {
      void *p = malloc(1 + (size_t)(rand() % 200000));
      FILE *f = fopen("/proc/self/stat", "r");
      if (f)
        fclose(f);
      free(p);
    }
  return arg;
}

/* With other threads in the caller, init comes from a single-threaded helper (its parent is not
 * us), and sandboxes work while the threads keep the C library's locks busy.  */
static void
start_is_safe_with_other_threads(void **state)
{
  pthread_t t[4];
  churning = true;
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, churn, NULL), 0);
  for (int round = 0; round < 10; round++)
    {
      struct tars_spec spec;
      struct tars_error err;
      struct tars_sandbox *sb;
      spec_sh(&spec, "echo ok");
      if (tars_sandbox_start(&spec, &sb, &err) < 0)
        fail_msg("start: %s", err.msg);
      if (round == 0)
        {
          char path[64], line[256];
          snprintf(path, sizeof path, "/proc/%d/status", (int)tars_sandbox_pid(sb));
          FILE *f = fopen(path, "r");
          assert_non_null(f);
          long ppid = -1;
          while (fgets(line, sizeof line, f))
            sscanf(line, "PPid: %ld", &ppid);
          fclose(f);
          assert_true(ppid > 0);
          assert_int_not_equal(ppid, (long)getpid());
        }
      struct tars_result res;
      if (tars_sandbox_finish(sb, &res, &err) < 0)
        fail_msg("finish: %s", err.msg);
      assert_int_equal(res.status, 0);
      assert_string_equal(res.out, "ok\n");
      tars_result_free(&res);
    }
  churning = false;
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
}

/* A directory or an O_PATH descriptor as stdin would lead out of the view: refused.  */
static void
stdin_that_leads_outside_is_refused(void **state)
{
  int saved = dup(0);
  const int flags[] = {O_RDONLY | O_DIRECTORY, O_PATH};
  const char *want[] = {"stdin (descriptor 0) is a directory", "is an O_PATH descriptor"};
  for (int k = 0; k < 2; k++)
    {
      int d = open("/tmp", flags[k] | O_CLOEXEC);
      assert_true(d >= 0);
      assert_int_equal(dup2(d, 0), 0);
      close(d);
      struct tars_spec spec;
      struct tars_result res;
      struct tars_error err;
      spec_sh(&spec, "true");
      spec.capture_output = false;
      for (int mode = 0; mode < 2; mode++)
        {
          spec.stdio = mode ? TARS_STDIO_INHERIT : TARS_STDIO_PIPE;
          assert_int_equal(tars_sandbox_run(&spec, &res, &err), -1);
          assert_int_equal(err.kind, TARS_ERR_INVALID);
          if (strstr(err.msg, want[k]) == NULL)
            fail_msg("unexpected: %s", err.msg);
        }
    }
  dup2(saved, 0);
  close(saved);
}

/* With stdio through pipes a host file given as stdin is relayed, not handed over: the command
 * reads it, and cannot reopen it for writing.  */
static void
stdin_file_is_relayed(void **state)
{
  char path[] = "/tmp/tars-unit-stdin-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "from the host\n", 14), 14);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  fchmod(fd, 0666);
  int saved = dup(0), out[2];
  assert_int_equal(dup2(fd, 0), 0);
  assert_int_equal(pipe(out), 0);
  int saved_out = dup(1);
  dup2(out[1], 1);
  close(out[1]);
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "cat; echo pwned 2>/dev/null >>/proc/self/fd/0; test -p /proc/self/fd/0 && "
                 "echo pipe");
  spec.capture_output = false;
  int r = tars_sandbox_run(&spec, &res, &err);
  dup2(saved_out, 1);
  close(saved_out);
  dup2(saved, 0);
  close(saved);
  if (r < 0)
    fail_msg("%s", err.msg);
  char buf[256] = "";
  ssize_t n = read(out[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  close(out[0]);
  assert_string_equal(buf, "from the host\npipe\n");
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  assert_int_equal(st.st_size, 14);
  close(fd);
  unlink(path);
  tars_result_free(&res);
}

static void
default_environment_has_the_exported_path(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "echo \"$PATH\"");
  assert_int_equal(tars_sandbox_run(&spec, &res, &err), 0);
  assert_string_equal(res.out, TARS_SANDBOX_DEFAULT_PATH "\n");
  tars_result_free(&res);
}

static void
ro_workspace_is_readable_not_writable(void **state)
{
  char ws[] = "/tmp/tars-unit-ro-XXXXXX";
  assert_non_null(mkdtemp(ws));
  char path[256];
  snprintf(path, sizeof path, "%s/f", ws);
  FILE *f = fopen(path, "w");
  fputs("content\n", f);
  fclose(f);
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, "cat f; echo x >f 2>/dev/null && echo wrote; touch g 2>/dev/null && echo made");
  spec.workspace = ws;
  spec.ro_workspace = true;
  if (tars_sandbox_run(&spec, &res, &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(res.out, "content\n");
  tars_result_free(&res);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", ws);
  assert_int_equal(system(cmd), 0);
}

static int
listen_unix(const char *path)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  assert_true(s >= 0);
  assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  chmod(path, 0777);
  assert_int_equal(listen(s, 4), 0);
  return s;
}

/* The socket a spec binds is reachable at its DEST; another one beside it, in a directory the
 * spec shows read-only, is not.  */
static void
bound_socket_is_reachable_and_no_other(void **state)
{
  char dir[] = "/tmp/tars-unit-sock-XXXXXX";
  assert_non_null(mkdtemp(dir));
  chmod(dir, 0755);
  char gw[128], other[128];
  snprintf(gw, sizeof gw, "%s/gw.sock", dir);
  snprintf(other, sizeof other, "%s/other.sock", dir);
  int s1 = listen_unix(gw), s2 = listen_unix(other);
  char script[512];
  snprintf(script, sizeof script,
           "for p in /run/tars/gw.sock %s; do python3 -c 'import socket,sys\n"
           "s=socket.socket(socket.AF_UNIX)\n"
           "try:\n s.connect(sys.argv[1]); print(\"connected\", sys.argv[1])\n"
           "except OSError as e: print(\"refused\", sys.argv[1])' $p; done",
           other);
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  spec_sh(&spec, script);
  spec.owned = false;
  assert_int_equal(
      tars_spec_add_mount(&spec, TARS_MOUNT_BIND_SOCKET, gw, "/run/tars/gw.sock", 0, &err), 0);
  assert_int_equal(tars_spec_add_mount(&spec, TARS_MOUNT_RO_BIND, dir, NULL, 0, &err), 0);
  if (tars_sandbox_run(&spec, &res, &err) < 0)
    fail_msg("%s", err.msg);
  char want[300];
  snprintf(want, sizeof want, "connected /run/tars/gw.sock\nrefused %s\n", other);
  assert_string_equal(res.out, want);
  tars_result_free(&res);
  close(s1);
  close(s2);
  unlink(gw);
  unlink(other);
  rmdir(dir);
}

/* With a cgroup the CPU time is a total: two spinning children end the sandbox once they have
 * used a second together (status 152), where RLIMIT_CPU alone would let each use one.  */
static void
cpu_time_is_a_total_with_a_cgroup(void **state)
{
  struct tars_spec spec;
  struct tars_result res;
  struct tars_error err;
  struct tars_sandbox *sb;
  spec_sh(&spec, "(while :; do :; done) & (while :; do :; done) & (while :; do :; done) & wait");
  spec.cpu_seconds = 1;
  spec.timeout_ms = 20000;
  if (tars_sandbox_start(&spec, &sb, &err) < 0)
    fail_msg("%s", err.msg);
  bool total = tars_sandbox_limits(sb)->cpu == TARS_LIMIT_SANDBOX;
  if (!total)
    tars_sandbox_kill(sb);
  time_t t0 = time(NULL);
  assert_int_equal(tars_sandbox_finish(sb, &res, &err), 0);
  tars_result_free(&res);
  if (!total)
    {
      print_message("skipped: no cgroup counts this caller's CPU time\n");
      skip();
    }
  assert_true(res.cpu_exceeded);
  assert_int_equal(res.status, 152);
  assert_true(time(NULL) - t0 < 10);
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
      cmocka_unit_test(one_loop_drives_many_sandboxes_and_kills_some),
      cmocka_unit_test(start_is_safe_with_other_threads),
      cmocka_unit_test(stdin_that_leads_outside_is_refused),
      cmocka_unit_test(stdin_file_is_relayed),
      cmocka_unit_test(default_environment_has_the_exported_path),
      cmocka_unit_test(ro_workspace_is_readable_not_writable),
      cmocka_unit_test(bound_socket_is_reachable_and_no_other),
      cmocka_unit_test(cpu_time_is_a_total_with_a_cgroup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
