#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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
