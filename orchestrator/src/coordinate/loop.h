/* The coordinator's event loop: one thread, one epoll set, and everything it waits for as a
 * descriptor: a child process as its pidfd, a timer as a timerfd, signals as a signalfd, an
 * HTTP server or a sandbox's pipes as their own descriptors.  Nothing waits by sleeping.
 *
 * Why one thread: sandboxes are started with a raw clone (runtime/src/sandbox.c), which is only
 * safe in a process with no other thread; so whatever would need a thread (a model call, a long
 * validation) runs in a child process that the loop waits on.
 *
 * Callbacks run from tars_loop_run, one at a time.  A callback may add and remove watches,
 * timers and children (its own included); one that returns a negative value stops the loop,
 * which returns that error.  A removed watch is never called again, even for an event already
 * collected in the same round.  */
#ifndef TARS_LOOP_H
#define TARS_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tars/error.h"

struct tars_loop;
struct tars_loop_source; /* a watch, a timer, a child or the signal set */

/* EVENTS are epoll's (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR...).  */
typedef int (*tars_loop_fd_fn)(struct tars_loop *loop, int fd, uint32_t events, void *arg,
                               struct tars_error *err);
/* WSTATUS as waitpid gives it; the child is reaped before the call.  */
typedef int (*tars_loop_child_fn)(struct tars_loop *loop, pid_t pid, int wstatus, void *arg,
                                  struct tars_error *err);
typedef int (*tars_loop_timer_fn)(struct tars_loop *loop, void *arg, struct tars_error *err);
typedef int (*tars_loop_signal_fn)(struct tars_loop *loop, int signo, void *arg,
                                   struct tars_error *err);

int tars_loop_new(struct tars_loop **out, struct tars_error *err);
/* Closes the loop's own descriptors (timerfds, pidfds it was given, the signalfd, restoring the
 * signal mask) but not the descriptors given to tars_loop_watch.  */
void tars_loop_free(struct tars_loop *loop);

/* Call FN when FD has one of EVENTS.  FD stays the caller's.  */
int tars_loop_watch(struct tars_loop *loop, int fd, uint32_t events, tars_loop_fd_fn fn, void *arg,
                    struct tars_loop_source **src, struct tars_error *err);
/* Change the events a watch waits for.  */
int tars_loop_watch_events(struct tars_loop *loop, struct tars_loop_source *src, uint32_t events,
                           struct tars_error *err);

/* Call FN once when the child PID (with its PIDFD, which the loop takes and closes) ends, after
 * reaping it.  */
int tars_loop_child(struct tars_loop *loop, pid_t pid, int pidfd, tars_loop_child_fn fn, void *arg,
                    struct tars_loop_source **src, struct tars_error *err);

/* Call FN after MS milliseconds, and every MS milliseconds after that when REPEAT.  */
int tars_loop_timer(struct tars_loop *loop, uint64_t ms, bool repeat, tars_loop_timer_fn fn,
                    void *arg, struct tars_loop_source **src, struct tars_error *err);

/* Block the N signals SIGNOS and call FN for each one received (through a signalfd).  At most
 * one signal set per loop; the previous mask comes back with tars_loop_free.  */
int tars_loop_signals(struct tars_loop *loop, const int *signos, size_t n, tars_loop_signal_fn fn,
                      void *arg, struct tars_error *err);

/* Stop watching (a watch, a timer, a child that has not ended: it is then neither reaped nor
 * reported).  NULL is allowed.  */
void tars_loop_remove(struct tars_loop *loop, struct tars_loop_source *src);

/* Run until tars_loop_quit, or until nothing is left to wait for (no watch, timer or child),
 * or a callback fails.  Returns 0, or the failing callback's value with ERR filled.  */
int tars_loop_run(struct tars_loop *loop, struct tars_error *err);
void tars_loop_quit(struct tars_loop *loop);

/* Monotonic milliseconds, the loop's clock.  */
uint64_t tars_loop_now_ms(void);

#endif
