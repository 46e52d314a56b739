/* The caller's descriptors 0-2 and what the command may be given of them.
 *
 * A descriptor is an open file of the host's mount namespace, outside the sandbox's view: a
 * directory lets the command fchdir to it and walk ".." up to the host's real root (runc's
 * CVE-2024-21626 is this); an O_PATH descriptor reaches its file the same way; a regular file or
 * a device can be reopened through /proc/self/fd with other access modes than the descriptor
 * has.  So the first two are refused, and the others, in TARS_STDIO_PIPE mode, are relayed
 * through pipes.  Terminals, pipes, sockets and /dev/null give nothing more when reopened.  */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

static const char *const names[] = {"stdin (descriptor 0)", "stdout (descriptor 1)",
                                    "stderr (descriptor 2)"};

int
tars_stdio_plan(enum tars_stdio mode, enum tars_stdio_use use[3], struct tars_error *err)
{
  for (int fd = 0; fd < 3; fd++)
    {
      int fl = fcntl(fd, F_GETFL);
      if (fl < 0)
        {
          use[fd] = TARS_STDIO_NULL;
          continue;
        }
      struct stat st;
      if (fstat(fd, &st) < 0)
        return tars_error_set(err, errno, "fstat %s", names[fd]);
      const char *what = NULL;
      if (fl & O_PATH)
        what = "an O_PATH descriptor";
      else
        switch (st.st_mode & S_IFMT)
          {
          case S_IFDIR:
            what = "a directory";
            break;
          case S_IFBLK:
            what = "a block device";
            break;
          case S_IFREG:
          case S_IFCHR:
          case S_IFIFO:
          case S_IFSOCK:
            break;
          default:
            what = "neither a terminal, pipe, socket, character device nor regular file";
            break;
          }
      if (what)
        return tars_error_invalid(err,
                                  "%s is %s: handed to the command it would reach the host's "
                                  "files outside the sandbox; redirect it from a file or "
                                  "/dev/null",
                                  names[fd], what);
      bool reopenable = S_ISREG(st.st_mode) ||
                        (S_ISCHR(st.st_mode) && !isatty(fd) && st.st_rdev != makedev(1, 3));
      use[fd] = mode == TARS_STDIO_PIPE && reopenable ? TARS_STDIO_RELAY : TARS_STDIO_PASS;
    }
  return 0;
}
