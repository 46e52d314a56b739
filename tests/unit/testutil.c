#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
