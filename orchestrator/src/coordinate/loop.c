/* The coordinator's event loop (loop.h): epoll over watches, pidfds, timerfds and a signalfd.  */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coordinate/loop.h"
#include "tars/cleanup.h"

enum source_kind
{
  SRC_WATCH,
  SRC_CHILD,
  SRC_TIMER,
  SRC_SIGNALS,
};

struct tars_loop_source
{
  enum source_kind kind;
  int fd;
  bool own_fd; /* the loop closes it (pidfd, timerfd, signalfd) */
  bool dead;   /* removed: freed at the end of the round, never called */
  pid_t pid;
  void *arg;
  union
  {
    tars_loop_fd_fn watch;
    tars_loop_child_fn child;
    tars_loop_timer_fn timer;
    tars_loop_signal_fn signal;
  } fn;
  struct tars_loop_source *next;
};

struct tars_loop
{
  int epfd;
  bool quit;
  struct tars_loop_source *sources; /* live and dead, in a list: a loop holds a few dozen */
  size_t n_live;                    /* watches, children and timers: what keeps the loop going */
  bool has_signals;
  sigset_t old_mask;
};

uint64_t
tars_loop_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
tars_loop_new(struct tars_loop **out, struct tars_error *err)
{
  *out = NULL;
  struct tars_loop *l = calloc(1, sizeof *l);
  if (l == NULL)
    return tars_error_set(err, ENOMEM, "event loop");
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0)
    {
      free(l);
      return tars_error_set(err, errno, "epoll_create1");
    }
  *out = l;
  return 0;
}

static void
source_release(struct tars_loop *l, struct tars_loop_source *s)
{
  if (s->fd >= 0)
    {
      epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
      if (s->own_fd)
        close(s->fd);
      s->fd = -1;
    }
}

void
tars_loop_free(struct tars_loop *l)
{
  if (l == NULL)
    return;
  for (struct tars_loop_source *s = l->sources, *next; s; s = next)
    {
      next = s->next;
      source_release(l, s);
      free(s);
    }
  if (l->has_signals)
    sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
  close(l->epfd);
  free(l);
}

static int
add_source(struct tars_loop *l, enum source_kind kind, int fd, bool own_fd, uint32_t events,
           void *arg, struct tars_loop_source **out, struct tars_error *err)
{
  struct tars_loop_source *s = calloc(1, sizeof *s);
  if (s == NULL)
    {
      if (own_fd)
        close(fd);
      return tars_error_set(err, ENOMEM, "event loop");
    }
  s->kind = kind;
  s->fd = fd;
  s->own_fd = own_fd;
  s->arg = arg;
  struct epoll_event ev = {.events = events, .data.ptr = s};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      int e = errno;
      if (own_fd)
        close(fd);
      free(s);
      return tars_error_set(err, e, "epoll_ctl add descriptor %d", fd);
    }
  s->next = l->sources;
  l->sources = s;
  if (kind != SRC_SIGNALS)
    l->n_live++;
  if (out)
    *out = s;
  return 0;
}

int
tars_loop_watch(struct tars_loop *l, int fd, uint32_t events, tars_loop_fd_fn fn, void *arg,
                struct tars_loop_source **src, struct tars_error *err)
{
  struct tars_loop_source *s;
  if (add_source(l, SRC_WATCH, fd, false, events, arg, &s, err) < 0)
    return -1;
  s->fn.watch = fn;
  if (src)
    *src = s;
  return 0;
}

int
tars_loop_watch_events(struct tars_loop *l, struct tars_loop_source *s, uint32_t events,
                       struct tars_error *err)
{
  struct epoll_event ev = {.events = events, .data.ptr = s};
  if (s->dead || epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
    return tars_error_set(err, s->dead ? EBADF : errno, "epoll_ctl modify descriptor %d", s->fd);
  return 0;
}

int
tars_loop_child(struct tars_loop *l, pid_t pid, int pidfd, tars_loop_child_fn fn, void *arg,
                struct tars_loop_source **src, struct tars_error *err)
{
  struct tars_loop_source *s;
  if (add_source(l, SRC_CHILD, pidfd, true, EPOLLIN, arg, &s, err) < 0)
    return -1;
  s->pid = pid;
  s->fn.child = fn;
  if (src)
    *src = s;
  return 0;
}

int
tars_loop_timer(struct tars_loop *l, uint64_t ms, bool repeat, tars_loop_timer_fn fn, void *arg,
                struct tars_loop_source **src, struct tars_error *err)
{
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0)
    return tars_error_set(err, errno, "timerfd_create");
  /* 0 would disarm the timer: the shortest delay there is instead.  */
  uint64_t first = ms ? ms : 1;
  struct itimerspec its = {
      .it_value = {.tv_sec = (time_t)(first / 1000), .tv_nsec = (long)(first % 1000) * 1000000},
  };
  if (repeat)
    its.it_interval = its.it_value;
  if (timerfd_settime(fd, 0, &its, NULL) < 0)
    {
      int e = errno;
      close(fd);
      return tars_error_set(err, e, "timerfd_settime");
    }
  struct tars_loop_source *s;
  if (add_source(l, SRC_TIMER, fd, true, EPOLLIN, arg, &s, err) < 0)
    return -1;
  s->fn.timer = fn;
  s->pid = repeat ? 1 : 0; /* reused as "repeats" */
  if (src)
    *src = s;
  return 0;
}

int
tars_loop_signals(struct tars_loop *l, const int *signos, size_t n, tars_loop_signal_fn fn,
                  void *arg, struct tars_error *err)
{
  if (l->has_signals)
    return tars_error_invalid(err, "event loop: signals are already handled");
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < n; i++)
    sigaddset(&set, signos[i]);
  if (sigprocmask(SIG_BLOCK, &set, &l->old_mask) < 0)
    return tars_error_set(err, errno, "sigprocmask");
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
      return tars_error_set(err, e, "signalfd");
    }
  l->has_signals = true;
  struct tars_loop_source *s;
  if (add_source(l, SRC_SIGNALS, fd, true, EPOLLIN, arg, &s, err) < 0)
    return -1;
  s->fn.signal = fn;
  return 0;
}

void
tars_loop_remove(struct tars_loop *l, struct tars_loop_source *s)
{
  if (s == NULL || s->dead)
    return;
  s->dead = true;
  if (s->kind != SRC_SIGNALS)
    l->n_live--;
  source_release(l, s);
}

void
tars_loop_quit(struct tars_loop *l)
{
  l->quit = true;
}

static void
sweep(struct tars_loop *l)
{
  for (struct tars_loop_source **p = &l->sources; *p;)
    if ((*p)->dead)
      {
        struct tars_loop_source *d = *p;
        *p = d->next;
        free(d);
      }
    else
      p = &(*p)->next;
}

static int
dispatch(struct tars_loop *l, struct tars_loop_source *s, uint32_t events, struct tars_error *err)
{
  switch (s->kind)
    {
    case SRC_WATCH:
      return s->fn.watch(l, s->fd, events, s->arg, err);
    case SRC_CHILD:
      {
        int st = 0;
        pid_t pid = s->pid;
        pid_t r;
        while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR)
          ;
        if (r == 0)
          return 0; /* readable before the exit is visible to waitpid: wait for the next round */
        tars_loop_remove(l, s);
        if (r < 0)
          return tars_error_set(err, errno, "waitpid %d", (int)pid);
        return s->fn.child(l, pid, st, s->arg, err);
      }
    case SRC_TIMER:
      {
        uint64_t n;
        if (read(s->fd, &n, sizeof n) != (ssize_t)sizeof n)
          return 0;
        tars_loop_timer_fn fn = s->fn.timer;
        void *arg = s->arg;
        if (!s->pid)
          tars_loop_remove(l, s);
        return fn(l, arg, err);
      }
    case SRC_SIGNALS:
      {
        struct signalfd_siginfo si;
        while (read(s->fd, &si, sizeof si) == (ssize_t)sizeof si)
          {
            int r = s->fn.signal(l, (int)si.ssi_signo, s->arg, err);
            if (r < 0 || s->dead)
              return r;
          }
        return 0;
      }
    }
  return 0;
}

int
tars_loop_run(struct tars_loop *l, struct tars_error *err)
{
  l->quit = false;
  while (!l->quit && l->n_live > 0)
    {
      struct epoll_event evs[32];
      int n = epoll_wait(l->epfd, evs, 32, -1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return tars_error_set(err, errno, "epoll_wait");
      for (int i = 0; i < n && !l->quit; i++)
        {
          struct tars_loop_source *s = evs[i].data.ptr;
          if (s->dead)
            continue;
          int r = dispatch(l, s, evs[i].events, err);
          if (r < 0)
            {
              sweep(l);
              return r;
            }
        }
      sweep(l);
    }
  return 0;
}
