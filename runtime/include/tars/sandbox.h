/* tars runtime: run a command in a sandbox built from Linux namespaces, overlayfs, seccomp,
 * capabilities, rlimits and cgroups.
 *
 * Two ways to run one:
 *
 *   tars_sandbox_run (spec, &result, &err)     start, wait, finish: one blocking call.
 *
 *   tars_sandbox_start (spec, &sb, &err)       for an event loop that drives many sandboxes at
 *   ... tars_sandbox_fd (sb) turns readable:   once: watch each sandbox's one descriptor (epoll,
 *       tars_sandbox_process (sb, &err)        poll), call process when it is readable until it
 *   tars_sandbox_kill (sb)       at any time   returns 1, then finish.  Nothing blocks but finish
 *   tars_sandbox_finish (sb, &result, &err)    (and the relay of TARS_STDIO_PIPE, see there).
 *
 * Threads.  The sandbox's init is made with a raw clone(2), which does not reset the C library's
 * locks the way fork(3) does: a lock another thread held at that moment (malloc's, stdio's)
 * would stay held in init forever.  tars_sandbox_start therefore counts the caller's threads (one
 * stat of /proc/self/task): with one, it clones directly; with more, it first forks a
 * single-threaded helper through the C library, which clones init and reaps it.  Either way the
 * sandbox dies with the thread that started it (PR_SET_PDEATHSIG), and every call on one
 * sandbox must come from one thread at a time.  */
#ifndef TARS_SANDBOX_H
#define TARS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tars/error.h"

/* The PATH of the default environment, for callers that build their own.  */
#define TARS_SANDBOX_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum tars_net_mode
{
  TARS_NET_NONE = 0, /* a new network namespace with nothing up */
  TARS_NET_LOOPBACK, /* a new network namespace with lo up */
};

/* What the command's descriptors 0, 1 and 2 are (unless capture_output, which always makes 0
 * /dev/null and collects 1 and 2).  The caller's own 0-2 are checked first in both modes: a
 * directory, an O_PATH descriptor, a block device or anything but a terminal, pipe, socket,
 * character device or regular file is refused (TARS_ERR_INVALID naming the descriptor), because
 * such a descriptor of the host's mount namespace would let the command walk out of its view
 * (fchdir, openat "..").  */
enum tars_stdio
{
  /* Pipes (the default): what could reopen a host file through /proc/self/fd (a regular file, a
   * character device other than /dev/null and terminals) is relayed through a pipe by the calling
   * process: the command's stdout or stderr is a pipe whose content is copied to the caller's 1
   * or 2, its stdin a pipe fed from the caller's 0 (read ahead as the pipe has room).  Terminals,
   * pipes, sockets and /dev/null are handed over as they are (reopening them gives nothing more);
   * a closed descriptor becomes /dev/null.  The copies are blocking writes to the caller's
   * descriptors: meant for a process that runs one sandbox (tars sandbox run); a coordinator
   * captures instead.  */
  TARS_STDIO_PIPE = 0,
  /* The caller's 0, 1 and 2 as they are (after the check above): for interactive use, where they
   * are terminals.  A regular file among them stays reachable through /proc/self/fd, to reopen
   * for reading or (if its permissions allow) writing.  */
  TARS_STDIO_INHERIT,
};

/* Entries a spec adds to the sandbox's view, after the default view (see docs/sandbox-spec.md)
 * and before the workspace, in spec order.  DEST is a path inside the sandbox (NULL: SOURCE).
 * The host's secrets (homes, /root, /run, the credential files and the spec's masks) stay hidden
 * inside what an entry shows; an entry whose SOURCE is one of them is refused.  */
enum tars_mount_type
{
  /* SOURCE (a host directory or file) at DEST, read-only, nosuid, nodev; with the mounts below
   * it.  Directories are shown through a read-only overlay, whose inodes are not the host's: a
   * Unix socket inside cannot be connected to, and inotify sees nothing the host does there.  */
  TARS_MOUNT_RO_BIND = 0,
  /* The Unix socket SOURCE, reachable at DEST (a bind of that one inode): how a caller lets a
   * sandbox talk to one service it runs (the model gateway) and to nothing else.  */
  TARS_MOUNT_BIND_SOCKET,
  /* An empty, writable tmpfs of SIZE bytes (0: 64 MiB) at DEST; SOURCE unused.  */
  TARS_MOUNT_TMPFS,
  /* An empty, read-only directory at DEST; SOURCE unused.  */
  TARS_MOUNT_DIR,
};

struct tars_mount
{
  enum tars_mount_type type;
  char *source;
  char *dest;
  uint64_t size;
};

#define TARS_MAX_LAYERS 16
#define TARS_MAX_MASKS 64
#define TARS_MAX_MOUNTS 64

struct tars_spec
{
  /* The command and its environment (NULL: PATH=TARS_SANDBOX_DEFAULT_PATH, HOME=/tmp, LANG, TERM).
   */
  char **argv;
  char **envp;
  char *cwd; /* inside the sandbox; default: the workspace, else "/" */

  char *workspace;               /* host directory, mounted at its own path through an overlay */
  char *layers[TARS_MAX_LAYERS]; /* extra read-only layers stacked above the workspace, lowest first
                                  */
  size_t n_layers;
  bool ro_workspace; /* the workspace and its layers read-only, no upper layer (no changes_out) */
  char *rootfs;      /* image directory shown as /; NULL: the default view of the host */
  char *changes_out; /* write the workspace's changes here as a changeset */
  char *masks[TARS_MAX_MASKS]; /* extra host paths to hide wherever they are visible */
  size_t n_masks;
  struct tars_mount mounts[TARS_MAX_MOUNTS]; /* added to the view, in order */
  size_t n_mounts;
  char *hostname; /* default "tars" */

  enum tars_net_mode net;
  enum tars_stdio stdio;

  /* Limits; 0 means the default (see tars_spec_init), UINT64_MAX means none.  Which of them bind
   * the sandbox as a whole and which each process depends on the cgroup: see struct
   * tars_limits.  */
  uint64_t timeout_ms;
  uint64_t memory_bytes;  /* cgroup memory limit; RLIMIT_AS when no cgroup (and always as_bytes) */
  uint64_t as_bytes;      /* RLIMIT_AS */
  uint64_t pids;          /* cgroup pids.max and RLIMIT_NPROC */
  uint64_t cpu_seconds;   /* the cgroup's CPU time in total when there is one, and RLIMIT_CPU */
  uint64_t fsize_bytes;   /* RLIMIT_FSIZE */
  uint64_t nofile;        /* RLIMIT_NOFILE */
  uint64_t scratch_bytes; /* size of the tmpfs holding the overlay's upper layer */
  uint64_t tmp_bytes;     /* size of the private /tmp, /var/tmp and /dev/shm together */
  uint64_t cpu_quota_pct; /* cgroup cpu limit in percent of one CPU; 0 = none */

  /* When true, the command's stdout and stderr are collected into the result instead of passing
   * through; stdin is /dev/null.  */
  bool capture_output;
  size_t capture_max; /* per stream; default 1 MiB; the rest is dropped and counted */

  /* A descriptor (an eventfd, a pipe's read end) that becomes readable when the caller wants the
   * run stopped: the whole sandbox is killed at once and the result says "cancelled".  0 (as a
   * zeroed spec has it; stdin is never a cancel descriptor) or negative: none.  Not owned.  */
  int cancel_fd;

  /* True (as tars_spec_init sets it): every non-NULL string and string array above is malloc'd
   * and the spec's own; tars_spec_free frees them, and whoever replaces one frees the old value.
   * A caller that points fields at memory it keeps (literals, main's argv) clears it, and
   * tars_spec_load_json then copies those fields before merging.  Never free two copies of an
   * owning spec.  */
  bool owned;
};

/* Whether a limit binds the sandbox as a whole or each of its processes on its own.  */
enum tars_limit_scope
{
  TARS_LIMIT_UNLIMITED = 0,
  TARS_LIMIT_SANDBOX, /* a total: the cgroup's memory.max, pids.max, CPU time */
  TARS_LIMIT_PROCESS, /* per process: RLIMIT_AS, RLIMIT_CPU */
};

/* The limits a started sandbox runs under.  Rootless callers without a delegated cgroup get
 * per-process memory and CPU limits only: four children may each use the whole --memory, and
 * memory that is not address space (memfd and tmpfs pages, pipe buffers) is bounded only by
 * tmp_size and scratch_size.  pids is a total either way (RLIMIT_NPROC is counted per user
 * namespace).  */
struct tars_limits
{
  bool cgroup;                  /* a per-sandbox cgroup holds the sandbox */
  enum tars_limit_scope memory; /* memory_bytes */
  enum tars_limit_scope cpu;    /* cpu_seconds */
  enum tars_limit_scope pids;   /* pids */
  char note[512];               /* why there is no cgroup, and what that means; "" with one */
};

struct tars_result
{
  int status; /* exit code as DESIGN.md: the command's, 128+N for a signal, 124 for timeout */
  int signal; /* the signal that ended the command, or 0 */
  bool timed_out;
  bool cancelled;        /* stopped through cancel_fd or tars_sandbox_kill: status 130, no
                            changes captured */
  bool cpu_exceeded;     /* the sandbox's CPU time in total passed cpu_seconds: killed, status
                            152 (128 + SIGXCPU, as RLIMIT_CPU ends a process), signal SIGXCPU */
  bool cgroup_applied;   /* false when the cgroup tree was not writable */
  char cgroup_note[512]; /* why cgroup limits were not applied, for a one-time notice */
  char *out, *err;       /* captured output (capture_output), NUL-terminated, malloc'd */
  size_t out_len, err_len;
  size_t out_dropped, err_dropped;
  uint64_t changes;                    /* number of entries written to changes_out */
  uint64_t rejected;                   /* paths the capture could not represent (the manifest's
                                          "rejected": the changeset is then refused by apply) */
  bool exec_failed;                    /* the command could not be executed (status 126 or 127) */
  char exec_error[TARS_ERROR_MSG_MAX]; /* why, naming the command */
};

/* Fill SPEC with defaults: no workspace, the default view, no network, stdio through pipes, 10
 * minute timeout, 1 GiB memory, 512 processes, 600 CPU seconds, 1 GiB file size, 1024 files,
 * 1 GiB scratch, 256 MiB /tmp.  */
void tars_spec_init(struct tars_spec *spec);
/* Free what the spec owns (see `owned`) and reset it to the defaults.  */
void tars_spec_free(struct tars_spec *spec);
/* Merge a JSON sandbox spec (see docs/sandbox-spec.md) into SPEC: the keys present replace the
 * fields (freeing the old values), the others are kept.  Unknown keys, wrong types and
 * out-of-range values are errors naming the key; on any error SPEC is left unchanged.  */
int tars_spec_load_json(struct tars_spec *spec, const char *json, size_t len,
                        struct tars_error *err);
/* Check a spec before running it: paths absolute and existing, argv present, limits sane, view
 * entries of the right type.  */
int tars_spec_validate(const struct tars_spec *spec, struct tars_error *err);
/* Add a view entry to SPEC (copies of SOURCE and DEST when SPEC owns its fields; DEST may be
 * NULL).  Refuses a full list.  */
int tars_spec_add_mount(struct tars_spec *spec, enum tars_mount_type type, const char *source,
                        const char *dest, uint64_t size, struct tars_error *err);

/* Parse sizes like "512M", "2G", "100k" and plain bytes.  */
int tars_parse_size(const char *s, uint64_t *out, struct tars_error *err);

/* Run SPEC's command in a sandbox and wait for it.  Returns 0 when the command ran (whatever its
 * exit status, which is in RESULT), negative when the sandbox could not be set up or the changes
 * could not be captured.  */
int tars_sandbox_run(const struct tars_spec *spec, struct tars_result *result,
                     struct tars_error *err);
void tars_result_free(struct tars_result *result);

/* A started sandbox.  */
struct tars_sandbox;

/* Check SPEC, build the view, start the sandbox's processes and place them in their cgroup.
 * Returns 0 with *SB set; on failure nothing is left running or mounted.  SPEC is not used once
 * this returns.  */
int tars_sandbox_start(const struct tars_spec *spec, struct tars_sandbox **sb,
                       struct tars_error *err);
/* The one descriptor to watch for readability: an epoll descriptor over the sandbox's pidfd, its
 * output pipes, the cancel descriptor and a timer for its deadlines.  Owned by SB.  */
int tars_sandbox_fd(const struct tars_sandbox *sb);
/* The pid (in the caller's pid namespace) of the sandbox's init, and a pidfd for it (owned by
 * SB).  */
pid_t tars_sandbox_pid(const struct tars_sandbox *sb);
int tars_sandbox_pidfd(const struct tars_sandbox *sb);
/* When the sandbox next needs tars_sandbox_process even if nothing else happens (its timeout, its
 * next check of the CPU time), in CLOCK_MONOTONIC milliseconds; 0 when never.  The descriptor
 * turns readable then anyway.  */
uint64_t tars_sandbox_deadline(const struct tars_sandbox *sb);
/* The limits it runs under, known once started.  */
const struct tars_limits *tars_sandbox_limits(const struct tars_sandbox *sb);
/* Handle whatever is ready, without waiting: read output, enforce the timeout, the cancel
 * descriptor and the CPU time.  Returns 1 when the sandbox has ended (call finish), 0 when it
 * runs on, -1 on an error (the sandbox is killed; finish still frees it).  */
int tars_sandbox_process(struct tars_sandbox *sb, struct tars_error *err);
/* Kill the whole sandbox now (its result says cancelled, status 130, unless it had ended
 * already).  Safe at any moment between start and finish, any number of times.  */
void tars_sandbox_kill(struct tars_sandbox *sb);
/* Wait for the sandbox to end (immediately after process returned 1), reap it, remove its
 * cgroup, fill RESULT, and free SB.  Returns as tars_sandbox_run does.  */
int tars_sandbox_finish(struct tars_sandbox *sb, struct tars_result *result,
                        struct tars_error *err);

#endif
