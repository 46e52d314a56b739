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

/* Library resources.  Each section is there when its library's header can be found, so that a
 * module includes this one header for every resource type it holds, and no module declares a
 * cleanup helper of its own.  */
#if __has_include(<cjson/cJSON.h>)
#include <cjson/cJSON.h>
static inline void
tars_cleanup_cjsonp(cJSON **j)
{
  if (*j)
    cJSON_Delete(*j);
}
#define cleanup_cjson __attribute__((cleanup(tars_cleanup_cjsonp)))
#endif

#if __has_include(<sqlite3.h>)
#include <sqlite3.h>
/* A prepared statement: finalized at the end of the scope.  */
static inline void
tars_cleanup_stmtp(sqlite3_stmt **st)
{
  if (*st)
    sqlite3_finalize(*st);
}
#define cleanup_stmt __attribute__((cleanup(tars_cleanup_stmtp)))
#endif

#if __has_include(<seccomp.h>)
#include <seccomp.h>
static inline void
tars_cleanup_seccompp(scmp_filter_ctx *ctx)
{
  if (*ctx)
    seccomp_release(*ctx);
}
#define cleanup_seccomp __attribute__((cleanup(tars_cleanup_seccompp)))
#endif

#if __has_include(<sys/capability.h>)
#include <sys/capability.h>
/* cap_t, or the strings libcap returns (cap_to_name): both go back through cap_free.  */
static inline void
tars_cleanup_capp(void *p)
{
  void **pp = (void **)p;
  if (*pp)
    cap_free(*pp);
}
#define cleanup_cap __attribute__((cleanup(tars_cleanup_capp)))
#endif

#if __has_include(<netlink/route/link.h>)
#include <netlink/netlink.h>
#include <netlink/route/link.h>
static inline void
tars_cleanup_nl_sockp(struct nl_sock **s)
{
  if (*s)
    nl_socket_free(*s);
}
static inline void
tars_cleanup_rtnl_linkp(struct rtnl_link **l)
{
  if (*l)
    rtnl_link_put(*l);
}
#define cleanup_nl_sock __attribute__((cleanup(tars_cleanup_nl_sockp)))
#define cleanup_rtnl_link __attribute__((cleanup(tars_cleanup_rtnl_linkp)))
#endif

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
