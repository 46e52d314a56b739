/* tars_net_loopback_up, in a child that owns a new user and network namespace.  */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

#define CHILD_SKIP 77

/* In the child, cmocka's asserts would longjmp into the parent's copy of the runner: report by
 * exit status instead, with the reason on stderr.  */
#define CHECK(cond)                                                                                \
  do                                                                                               \
    {                                                                                              \
      if (!(cond))                                                                                 \
        {                                                                                          \
          fprintf(stderr, "child: %s:%d: check failed: %s (errno: %s)\n", __FILE__, __LINE__,      \
                  #cond, strerror(errno));                                                         \
          _exit(1);                                                                                \
        }                                                                                          \
    }                                                                                              \
  while (0)

static int
write_proc(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* What an unprivileged user can do: a user namespace mapping only itself, as root inside.  */
static void
enter_user_and_net_ns(void)
{
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
    {
      fprintf(stderr, "child: unshare(CLONE_NEWUSER|CLONE_NEWNET): %s\n", strerror(errno));
      _exit(CHILD_SKIP);
    }
  char map[64];
  CHECK(write_proc("/proc/self/setgroups", "deny") == 0);
  snprintf(map, sizeof map, "0 %ld 1", (long)uid);
  CHECK(write_proc("/proc/self/uid_map", map) == 0);
  snprintf(map, sizeof map, "0 %ld 1", (long)gid);
  CHECK(write_proc("/proc/self/gid_map", map) == 0);
}

static short
lo_flags(void)
{
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
  close(fd);
  return ifr.ifr_flags;
}

/* Connect to a listener on 127.0.0.1; returns 0 or the connect's errno.  */
static int
loopback_connect(void)
{
  int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(srv >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      int e = errno;
      close(srv);
      return e;
    }
  socklen_t len = sizeof addr;
  CHECK(getsockname(srv, (struct sockaddr *)&addr, &len) == 0);
  CHECK(listen(srv, 1) == 0);

  int cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(cli >= 0);
  int r = connect(cli, (struct sockaddr *)&addr, sizeof addr) == 0 ? 0 : errno;
  if (r == 0)
    {
      int conn = accept(srv, NULL, NULL);
      CHECK(conn >= 0);
      CHECK(write(cli, "x", 1) == 1);
      char c = 0;
      CHECK(read(conn, &c, 1) == 1 && c == 'x');
      close(conn);
    }
  close(cli);
  close(srv);
  return r;
}

static void
child_loopback_up(void)
{
  enter_user_and_net_ns();

  CHECK((lo_flags() & IFF_UP) == 0);
  CHECK(loopback_connect() != 0);

  struct tars_error err = {0};
  if (tars_net_loopback_up(&err) < 0)
    {
      fprintf(stderr, "child: tars_net_loopback_up: %s\n", err.msg);
      _exit(1);
    }
  CHECK(lo_flags() & IFF_UP);
  CHECK(loopback_connect() == 0);

  /* Already up: still succeeds.  */
  CHECK(tars_net_loopback_up(&err) == 0);
  _exit(0);
}

static void
child_error_names_operation(void)
{
  enter_user_and_net_ns();
  /* A nested user namespace does not own the network namespace: no CAP_NET_ADMIN over it, so the
   * change must fail, with an error naming it.  */
  CHECK(unshare(CLONE_NEWUSER) == 0);
  struct tars_error err = {0};
  int r = tars_net_loopback_up(&err);
  CHECK(r < 0);
  CHECK(strstr(err.msg, "lo") != NULL);
  CHECK(err.code == EPERM || err.code == EACCES);
  CHECK((lo_flags() & IFF_UP) == 0);
  _exit(0);
}

static void
run_child(void (*fn)(void))
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    fn();
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == CHILD_SKIP)
    {
      print_message("user namespaces are not available here: test skipped\n");
      skip();
    }
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void
loopback_up_in_new_netns(void **state)
{
  run_child(child_loopback_up);
}

static void
error_names_operation(void **state)
{
  run_child(child_error_names_operation);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(loopback_up_in_new_netns),
      cmocka_unit_test(error_names_operation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
