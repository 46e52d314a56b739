/* tars runtime: scoped release of resources, in the manner of crun and systemd.
 *
 *   cleanup_free char *p = ...;      freed at the end of the scope
 *   cleanup_close int fd = ...;      closed at the end of the scope (when >= 0)
 *   return steal_pointer (&p);        hand the resource on, leaving NULL behind
 */
#ifndef TARS_CLEANUP_H
#define TARS_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
tars_cleanup_freep(void *p)
{
  void **pp = (void **)p;
  free(*pp);
}

static inline void
tars_cleanup_closep(int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close(*fd);
      errno = saved;
    }
}

static inline void
tars_cleanup_fclosep(FILE **f)
{
  if (*f)
    fclose(*f);
}

static inline void
tars_cleanup_closedirp(DIR **d)
{
  if (*d)
    closedir(*d);
}

/* A NULL-terminated array of strings, each freed, then the array.  */
static inline void
tars_cleanup_strvp(char ***v)
{
  if (*v)
    {
      for (char **s = *v; *s; s++)
        free(*s);
      free(*v);
    }
}

#define cleanup_free __attribute__((cleanup(tars_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(tars_cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(tars_cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(tars_cleanup_closedirp)))
#define cleanup_strv __attribute__((cleanup(tars_cleanup_strvp)))

static inline void *
tars_steal_pointer(void *pp)
{
  void **p = (void **)pp;
  void *r = *p;
  *p = NULL;
  return r;
}

static inline int
tars_steal_fd(int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#define steal_pointer(pp) tars_steal_pointer(pp)
#define steal_fd(pfd) tars_steal_fd(pfd)

#endif
