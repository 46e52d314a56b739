#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

void
test_rm_tree_at(int dfd, const char *name)
{
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      unlinkat(dfd, name, 0);
      return;
    }
  DIR *d = fdopendir(fd);
  if (d == NULL)
    {
      close(fd);
      return;
    }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      test_rm_tree_at(dirfd(d), de->d_name);
  closedir(d);
  unlinkat(dfd, name, AT_REMOVEDIR);
}

void
test_sh(const char *fmt, ...)
{
  char cmd[4 * PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  if (rc != 0)
    fail_msg("command failed (%d): %s", rc, cmd);
}

void
test_mkdirs(const char *path)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; (s = strchr(s, '/')) != NULL; s++)
    {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  if (mkdir(p, 0755) < 0 && errno != EEXIST)
    fail_msg("mkdir %s: %s", p, strerror(errno));
}

void
test_write_file(const char *path, const char *content, size_t len, mode_t mode)
{
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    {
      *slash = '\0';
      test_mkdirs(dir);
    }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    fail_msg("create %s: %s", path, strerror(errno));
  assert_int_equal(write(fd, content, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}
