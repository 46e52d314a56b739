/* probe: report facts about the process it runs in, for tests/integration/isolation.sh, and
 * host-side listeners for tests/security/escape.sh.
 *
 *   probe status          CapInh/CapPrm/CapEff/CapBnd/CapAmb/Seccomp/NoNewPrivs/Uid/Gid lines
 *   probe fds             "fd N -> TARGET" for every descriptor above 2 (none: no output)
 *   probe ifaces          network interface names, one a line
 *   probe pids            the numeric entries of /proc, one a line
 *   probe cmdline PID     /proc/PID/cmdline with spaces between arguments
 *   probe hostname        uname's nodename
 *   probe ids             "uid=U gid=G euid=E egid=F groups=..."
 *   probe env             the environment, one variable a line
 *   probe listen-tcp ADDR PORT LOG      accept connections forever; one line in LOG per accept
 *   probe listen-unix PATH|@NAME LOG    the same on a unix socket (@: abstract)
 *   probe listen-unix-dgram PATH LOG    a datagram unix socket; one line in LOG per datagram
 *   probe opath-exec FD PATH CMD...     open PATH with O_PATH as descriptor FD, exec CMD
 *   probe exit N          exit with status N;  probe signal N: kill itself with signal N
 *   probe sleep SECONDS
 * Listeners print "ready" on stdout once they accept connections.  */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static int
p_status(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return perror("/proc/self/status"), 1;
  char line[512];
  static const char *keys[] = {
      "Uid:",    "Gid:",    "Groups:",     "CapInh:",  "CapPrm:", "CapEff:",
      "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", NULL};
  while (fgets(line, sizeof line, f))
    for (int i = 0; keys[i]; i++)
      if (!strncmp(line, keys[i], strlen(keys[i])))
        fputs(line, stdout);
  fclose(f);
  return 0;
}

static int
p_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return perror("/proc/self/fd"), 1;
  int dfd = dirfd(d);
  struct dirent *de;
  while ((de = readdir(d)))
    {
      if (de->d_name[0] == '.')
        continue;
      int fd = atoi(de->d_name);
      if (fd <= 2 || fd == dfd)
        continue;
      char p[64], t[512] = "?";
      snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(p, t, sizeof t - 1);
      if (n >= 0)
        t[n] = 0;
      printf("fd %d -> %s\n", fd, t);
    }
  closedir(d);
  return 0;
}

/* From /proc/net/dev, which shows the reader's network namespace (if_nameindex needs a netlink
 * socket, which the sandbox's seccomp filter refuses).  */
static int
p_ifaces(void)
{
  FILE *f = fopen("/proc/net/dev", "r");
  if (!f)
    return perror("/proc/net/dev"), 1;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f))
    {
      char *colon = strchr(line, ':');
      if (++n <= 2 || !colon)
        continue;
      *colon = 0;
      char *name = line + strspn(line, " ");
      printf("%s\n", name);
    }
  fclose(f);
  return 0;
}

static int
p_pids(void)
{
  DIR *d = opendir("/proc");
  if (!d)
    return perror("/proc"), 1;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
      printf("%s\n", de->d_name);
  closedir(d);
  return 0;
}

static int
p_cmdline(const char *pid)
{
  char p[64], buf[4096];
  snprintf(p, sizeof p, "/proc/%s/cmdline", pid);
  FILE *f = fopen(p, "r");
  if (!f)
    return perror(p), 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  for (size_t i = 0; i + 1 < n; i++)
    if (!buf[i])
      buf[i] = ' ';
  buf[n] = 0;
  printf("%s\n", buf);
  return 0;
}

static int
p_ids(void)
{
  gid_t g[64];
  int n = getgroups(64, g);
  printf("uid=%d gid=%d euid=%d egid=%d groups=", getuid(), getgid(), geteuid(), getegid());
  for (int i = 0; i < n; i++)
    printf("%s%d", i ? "," : "", g[i]);
  printf("\n");
  return 0;
}

static void
logline(const char *log, const char *what)
{
  FILE *f = fopen(log, "a");
  if (f)
    {
      fprintf(f, "%s\n", what);
      fclose(f);
    }
}

static int
serve(int s, const char *log)
{
  if (listen(s, 16) < 0)
    return perror("listen"), 1;
  printf("ready\n");
  fflush(stdout);
  for (;;)
    {
      int c = accept(s, NULL, NULL);
      if (c < 0)
        continue;
      logline(log, "connected");
      close(c);
    }
}

static int
p_listen_tcp(const char *addr, const char *port, const char *log)
{
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
  inet_pton(AF_INET, addr, &a.sin_addr);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
    return perror("bind"), 1;
  return serve(s, log);
}

static int
p_listen_unix(const char *path, const char *log)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  socklen_t len;
  if (path[0] == '@')
    {
      strncpy(a.sun_path + 1, path + 1, sizeof a.sun_path - 2);
      len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path + 1);
    }
  else
    {
      strncpy(a.sun_path, path, sizeof a.sun_path - 1);
      unlink(path);
      len = sizeof a;
    }
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(s, (struct sockaddr *)&a, len) < 0)
    return perror("bind"), 1;
  return serve(s, log);
}

static int
p_listen_unix_dgram(const char *path, const char *log)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  unlink(path);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
    return perror("bind"), 1;
  printf("ready\n");
  fflush(stdout);
  for (;;)
    {
      char buf[256];
      if (recv(s, buf, sizeof buf, 0) >= 0)
        logline(log, "received");
    }
}

static int
p_opath_exec(const char *fd, const char *path, char **cmd)
{
  int o = open(path, O_PATH | O_CLOEXEC);
  if (o < 0)
    return perror(path), 1;
  if (dup2(o, atoi(fd)) < 0)
    return perror("dup2"), 1;
  execv(cmd[0], cmd);
  perror(cmd[0]);
  return 127;
}

int
main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *w = argc > 1 ? argv[1] : "";
  if (!strcmp(w, "status"))
    return p_status();
  if (!strcmp(w, "fds"))
    return p_fds();
  if (!strcmp(w, "ifaces"))
    return p_ifaces();
  if (!strcmp(w, "pids"))
    return p_pids();
  if (!strcmp(w, "cmdline") && argc > 2)
    return p_cmdline(argv[2]);
  if (!strcmp(w, "ids"))
    return p_ids();
  if (!strcmp(w, "hostname"))
    {
      struct utsname u;
      uname(&u);
      printf("%s\n", u.nodename);
      return 0;
    }
  if (!strcmp(w, "env"))
    {
      for (char **e = environ; *e; e++)
        printf("%s\n", *e);
      return 0;
    }
  if (!strcmp(w, "listen-tcp") && argc > 4)
    return p_listen_tcp(argv[2], argv[3], argv[4]);
  if (!strcmp(w, "listen-unix-dgram") && argc > 3)
    return p_listen_unix_dgram(argv[2], argv[3]);
  if (!strcmp(w, "opath-exec") && argc > 4)
    return p_opath_exec(argv[2], argv[3], argv + 4);
  if (!strcmp(w, "listen-unix") && argc > 3)
    return p_listen_unix(argv[2], argv[3]);
  if (!strcmp(w, "exit") && argc > 2)
    return atoi(argv[2]);
  if (!strcmp(w, "signal") && argc > 2)
    {
      int sig = atoi(argv[2]);
      signal(sig, SIG_DFL);
      kill(getpid(), sig);
      pause();
      return 99;
    }
  if (!strcmp(w, "sleep") && argc > 2)
    {
      sleep(atoi(argv[2]));
      return 0;
    }
  fprintf(stderr, "usage: probe status|fds|ifaces|pids|cmdline PID|ids|hostname|env|"
                  "listen-tcp ADDR PORT LOG|listen-unix PATH LOG|exit N|signal N|sleep S\n");
  return 3;
}
