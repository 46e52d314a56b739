/* The model gateway: the only process of a run that talks to the model.  Sandboxes have no
 * network and never see the key; the coder in its sandbox sends chat requests over a Unix socket
 * to the gateway, which checks them against the budgets, makes the call (client.h), records the
 * exchange in the store and the audit trail (store/exchanges.h, redacted) and in the recording
 * when there is one (replay.h), and answers.
 *
 * It is a process of its own, which the coordinator starts (tars_gateway_start runs `tars
 * gateway`): the coordinator stays single-threaded (libcurl's resolver starts threads, and
 * sandboxes are started with a raw clone), and the key lives in one small process.
 *
 * Concurrency: one poll() loop, and one short-lived process per call (forked, never exec'd: the
 * client, its settings and the loaded libcurl are inherited).  The call's process does the
 * request, its retries and its waits, and writes the response back through a pipe.  So the
 * client keeps one synchronous interface for every provider (replay included), a call waiting
 * out a Retry-After holds up no one, the loop never blocks on the network, and a crash on a
 * hostile response ends that call only.  A fork costs a millisecond; a model call, seconds.  At
 * most max_parallel calls run at once; the others wait in arrival order, and are admitted by the
 * budgets when their turn comes.
 *
 * Sockets.  The control socket (the path the gateway is given, mode 0600) is the
 * coordinator's: put it where no sandbox can see it (a sandbox can connect to any Unix socket
 * its view of the host shows).  On it the coordinator opens a socket per step attempt
 * ("open_step"), which is the one bound into that step's sandbox (mode 0666: the sandbox's user
 * may be anyone; the directory it is in is what must be private).  A connection on a step socket
 * speaks for that step and attempt only: a request naming another is refused.
 *
 * Messages are frames (frame.h) holding a JSON object with a "type":
 *
 *   {"type": "chat", "step": S, "attempt": N, "role": "coder", "messages": [...],
 *    "limits": {"max_tokens": N, "timeout": SECONDS}}     chat.h's request form; on a step
 *                                                          socket step and attempt may be left
 *                                                          out; "call" is the gateway's to count
 *   -> {"ok": true, "content": TEXT, "finish_reason": TEXT, "model": TEXT,
 *       "usage": {"prompt_tokens": N, "completion_tokens": N, "estimated": BOOL},
 *       "duration_ms": N, "http_attempts": N, "call": N, "exchange": ID, "budget": {...}}
 *   -> {"ok": false, "error": {"reason": NAME, "message": TEXT}, "call": N, "exchange": ID,
 *       "budget": {...}}                                  NAME: chat.h's status names:
 *                                                          budget-exhausted, unreachable,
 *                                                          model-missing, timeout, bad-response...
 *   {"type": "usage"} -> {"ok": true, "budget": {...}}    budget.h's JSON; on the control
 *                                                          socket "step" may name a step
 *   control socket only:
 *   {"type": "open_step", "step": S, "attempt": N, "socket": PATH} -> {"ok": true}
 *   {"type": "close_step", "socket": PATH} -> {"ok": true}
 *   {"type": "shutdown"} -> {"ok": true}, then the gateway stops
 *
 * One request at a time per connection; a connection may send many.  A malformed message is
 * answered with reason bad-request and the connection closed.  Every chat request is recorded
 * in the store, refusals included (status budget-exhausted or bad-request), and audited; the
 * log callback gets one line per exchange.  When the gateway stops (the stop descriptor, or
 * "shutdown"), calls in flight are killed and recorded as cancelled, and every socket it made
 * is removed.  */
#ifndef TARS_MODEL_GATEWAY_H
#define TARS_MODEL_GATEWAY_H

#include <stdbool.h>
#include <sys/types.h>

#include "model/budget.h"
#include "model/chat.h"
#include "model/settings.h"
#include "store/store.h"
#include "tars/error.h"

struct tars_gateway_options
{
  const char *socket_path; /* the control socket; must not exist, its directory must */
  const struct tars_model_settings *settings;
  struct tars_store *store;                         /* where exchanges go; not owned */
  const char *execution_id;                         /* NULL: exchanges recorded without one */
  struct tars_budget step_budget, execution_budget; /* 0 fields: no limit */
  const char *record_path;                          /* NULL: no recording */
  int max_parallel;                                 /* calls at once; 0: 4 */
  int stop_fd;  /* readable: stop (a pipe or eventfd); -1: none */
  int ready_fd; /* when >= 0: "ok\n" written once listening, or the error, then closed */
  void (*log)(void *ctx, const char *line); /* one line per exchange, redacted; may be NULL */
  void *log_ctx;
};

/* Serve until stopped.  Returns 0 after a stop, -1 when it could not start (the socket, the
 * recording, the client) or the loop failed.  The usage already in the store for the execution
 * counts against its budgets (a restarted gateway does not start afresh).  */
int tars_gateway_serve(const struct tars_gateway_options *o, struct tars_error *err);

/* ----- the coordinator's side ----- */

struct tars_gateway_start_options
{
  const char *tars_path;   /* the tars binary; NULL: /proc/self/exe */
  const char *socket_path; /* the control socket */
  const char *repo_path;   /* whose store the exchanges go to */
  const char *execution_id;
  const struct tars_model_settings *settings; /* handed over through a pipe, key included */
  struct tars_budget step_budget, execution_budget;
  const char *record_path;
  int max_parallel;
  int log_fd; /* the gateway's stderr (its log); -1: the caller's */
};

struct tars_gateway_process;

/* Start `tars gateway --config-fd 3 --ready-fd 4` and wait (at most 10 s) until it listens.  The
 * settings go through the pipe, never the command line or the environment (both are visible to
 * other processes of the user).  Fails with the gateway's own message when it could not start.  */
int tars_gateway_start(const struct tars_gateway_start_options *o,
                       struct tars_gateway_process **out, struct tars_error *err);
pid_t tars_gateway_pid(const struct tars_gateway_process *g);
const char *tars_gateway_socket(const struct tars_gateway_process *g);
/* Open (and close) the socket of STEP's attempt ATTEMPT at PATH, to bind into its sandbox.  */
int tars_gateway_open_step(struct tars_gateway_process *g, const char *step, int attempt,
                           const char *path, struct tars_error *err);
int tars_gateway_close_step(struct tars_gateway_process *g, const char *path,
                            struct tars_error *err);
/* Stop it ("shutdown", then SIGKILL after 5 s) and wait for it; frees G.  Returns -1 when it
 * had to be killed or did not exit 0.  */
int tars_gateway_stop(struct tars_gateway_process *g, struct tars_error *err);

/* ----- the coder's side ----- */

/* Connect to a gateway socket.  */
int tars_gateway_connect(const char *path, int *fd, struct tars_error *err);
/* Send REQ on FD and wait for the answer: 0 with RESP holding it, or -1 with RESP->status (the
 * gateway's reason, or TARS_MODEL_INTERNAL when the gateway could not be talked to) and ERR.
 * *CALL (may be NULL) gets the gateway's call number; BUDGET (may be NULL) the budget report
 * (budget.h's JSON, the caller's to free).  */
int tars_gateway_chat(int fd, const struct tars_chat_request *req, struct tars_chat_response *resp,
                      int *call, cJSON **budget, struct tars_error *err);
/* Send one message and read the answer, for the other types.  */
int tars_gateway_request(int fd, const cJSON *msg, cJSON **reply, struct tars_error *err);

#endif
