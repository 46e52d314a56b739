/* The coordinator's event loop: descriptors, children through pidfds, timers and signals are all
 * waited for in one epoll set, and the loop ends when nothing is left to wait for.  */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinate/loop.h"

struct counts
{
  int reads, timer, repeats, child, signals;
  int wstatus;
  int last_signal;
  struct tars_loop_source *remove_me;
};

static int
on_read(struct tars_loop *l, int fd, uint32_t events, void *arg, struct tars_error *err)
{
  struct counts *c = arg;
  char buf[16];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0)
    c->reads++;
  if (n == 0 || (events & EPOLLHUP))
    tars_loop_remove(l, c->remove_me);
  return 0;
}

static int
on_timer(struct tars_loop *l, void *arg, struct tars_error *err)
{
  ((struct counts *)arg)->timer++;
  return 0;
}

static int
on_repeat(struct tars_loop *l, void *arg, struct tars_error *err)
{
  struct counts *c = arg;
  if (++c->repeats == 3)
    tars_loop_remove(l, c->remove_me);
  return 0;
}

static int
on_child(struct tars_loop *l, pid_t pid, int wstatus, void *arg, struct tars_error *err)
{
  struct counts *c = arg;
  c->child++;
  c->wstatus = wstatus;
  return 0;
}

static pid_t
spawn_exit(int code, int delay_ms, int *pidfd)
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    {
      usleep((useconds_t)delay_ms * 1000);
      _exit(code);
    }
  *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  assert_true(*pidfd >= 0);
  return pid;
}

static void
runs_until_nothing_is_left(void **state)
{
  struct tars_loop *l;
  struct tars_error err = {0};
  struct counts c = {0};
  assert_int_equal(tars_loop_new(&l, &err), 0);

  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], "ab", 2), 2);
  close(p[1]); /* data, then end of file: the watch removes itself */
  assert_int_equal(tars_loop_watch(l, p[0], EPOLLIN, on_read, &c, &c.remove_me, &err), 0);

  assert_int_equal(tars_loop_timer(l, 20, false, on_timer, &c, NULL, &err), 0);
  struct counts r = {0};
  assert_int_equal(tars_loop_timer(l, 5, true, on_repeat, &r, &r.remove_me, &err), 0);

  int pidfd;
  pid_t pid = spawn_exit(7, 30, &pidfd);
  assert_int_equal(tars_loop_child(l, pid, pidfd, on_child, &c, NULL, &err), 0);

  uint64_t t0 = tars_loop_now_ms();
  assert_int_equal(tars_loop_run(l, &err), 0);
  assert_true(tars_loop_now_ms() - t0 >= 30);
  assert_int_equal(c.reads, 1);
  assert_int_equal(c.timer, 1);
  assert_int_equal(r.repeats, 3);
  assert_int_equal(c.child, 1);
  assert_true(WIFEXITED(c.wstatus));
  assert_int_equal(WEXITSTATUS(c.wstatus), 7);
  /* Reaped by the loop.  */
  assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
  close(p[0]);
  tars_loop_free(l);
}

static int
on_signal(struct tars_loop *l, int signo, void *arg, struct tars_error *err)
{
  struct counts *c = arg;
  c->signals++;
  c->last_signal = signo;
  tars_loop_quit(l);
  return 0;
}

static int
send_usr1(struct tars_loop *l, void *arg, struct tars_error *err)
{
  kill(getpid(), SIGUSR1);
  return 0;
}

static void
signals_arrive_as_events_and_the_mask_is_restored(void **state)
{
  struct tars_loop *l;
  struct tars_error err = {0};
  struct counts c = {0};
  assert_int_equal(tars_loop_new(&l, &err), 0);
  int sigs[] = {SIGUSR1, SIGUSR2};
  assert_int_equal(tars_loop_signals(l, sigs, 2, on_signal, &c, &err), 0);
  assert_int_equal(tars_loop_timer(l, 10, false, send_usr1, NULL, NULL, &err), 0);
  /* Something to wait for besides the signals, which alone do not keep the loop running.  */
  struct counts idle = {0};
  assert_int_equal(tars_loop_timer(l, 60000, false, on_timer, &idle, NULL, &err), 0);
  assert_int_equal(tars_loop_run(l, &err), 0);
  assert_int_equal(c.signals, 1);
  assert_int_equal(c.last_signal, SIGUSR1);
  tars_loop_free(l);
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  assert_false(sigismember(&now, SIGUSR1));
}

static int
quit_now(struct tars_loop *l, void *arg, struct tars_error *err)
{
  tars_loop_quit(l);
  return 0;
}

static int
fail_now(struct tars_loop *l, void *arg, struct tars_error *err)
{
  return tars_error_invalid(err, "stop here");
}

static void
a_failing_callback_stops_the_loop_with_its_error(void **state)
{
  struct tars_loop *l;
  struct tars_error err = {0};
  struct counts c = {0};
  assert_int_equal(tars_loop_new(&l, &err), 0);
  assert_int_equal(tars_loop_timer(l, 1, false, fail_now, NULL, NULL, &err), 0);
  assert_int_equal(tars_loop_timer(l, 60000, false, on_timer, &c, NULL, &err), 0);
  assert_int_equal(tars_loop_run(l, &err), -1);
  assert_string_equal(err.msg, "stop here");
  assert_int_equal(c.timer, 0);
  tars_loop_free(l);
}

struct pair
{
  struct tars_loop_source *other;
  int calls;
};

static int
remove_other(struct tars_loop *l, int fd, uint32_t events, void *arg, struct tars_error *err)
{
  struct pair *p = arg;
  p->calls++;
  tars_loop_remove(l, p->other);
  p->other = NULL;
  char b;
  if (read(fd, &b, 1) <= 0 || p->calls > 1)
    tars_loop_quit(l);
  return 0;
}

/* Two descriptors ready in the same round: whichever is called first removes the other, which
 * must then not be called.  */
static void
a_removed_watch_is_never_called(void **state)
{
  struct tars_loop *l;
  struct tars_error err = {0};
  assert_int_equal(tars_loop_new(&l, &err), 0);
  int a[2], b[2];
  assert_int_equal(pipe(a), 0);
  assert_int_equal(pipe(b), 0);
  assert_int_equal(write(a[1], "x", 1), 1);
  assert_int_equal(write(b[1], "x", 1), 1);
  struct pair pa = {0}, pb = {0};
  struct tars_loop_source *sa, *sb;
  assert_int_equal(tars_loop_watch(l, a[0], EPOLLIN, remove_other, &pa, &sa, &err), 0);
  assert_int_equal(tars_loop_watch(l, b[0], EPOLLIN, remove_other, &pb, &sb, &err), 0);
  pa.other = sb;
  pb.other = sa;
  assert_int_equal(tars_loop_timer(l, 200, false, quit_now, NULL, NULL, &err), 0);
  assert_int_equal(tars_loop_run(l, &err), 0);
  assert_int_equal(pa.calls + pb.calls, 1);
  tars_loop_free(l);
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(runs_until_nothing_is_left),
      cmocka_unit_test(signals_arrive_as_events_and_the_mask_is_restored),
      cmocka_unit_test(a_failing_callback_stops_the_loop_with_its_error),
      cmocka_unit_test(a_removed_watch_is_never_called),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
