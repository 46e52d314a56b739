/* tars runtime: run a command in a sandbox built from Linux namespaces, overlayfs, seccomp,
 * capabilities, rlimits and cgroups.  */
#ifndef TARS_SANDBOX_H
#define TARS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tars/error.h"

enum tars_net_mode
{
  TARS_NET_NONE = 0, /* a new network namespace with nothing up */
  TARS_NET_LOOPBACK, /* a new network namespace with lo up */
};

#define TARS_MAX_LAYERS 16
#define TARS_MAX_MASKS 64

struct tars_spec
{
  /* The command and its environment (NULL: a minimal PATH/HOME/TERM environment).  */
  char **argv;
  char **envp;
  char *cwd; /* inside the sandbox; default: the workspace, else "/" */

  char *workspace;               /* host directory, mounted at its own path through an overlay */
  char *layers[TARS_MAX_LAYERS]; /* extra read-only layers stacked above the workspace, lowest first
                                  */
  size_t n_layers;
  char *rootfs;                /* image directory; NULL: the host's / read-only */
  char *changes_out;           /* write the workspace's changes here as a changeset */
  char *masks[TARS_MAX_MASKS]; /* extra host paths to hide */
  size_t n_masks;
  char *hostname; /* default "tars" */

  enum tars_net_mode net;

  /* Limits; 0 means the default (see tars_spec_init), UINT64_MAX means none.  */
  uint64_t timeout_ms;
  uint64_t memory_bytes;  /* cgroup memory limit; RLIMIT_AS when no cgroup (and always as_bytes) */
  uint64_t as_bytes;      /* RLIMIT_AS */
  uint64_t pids;          /* cgroup pids.max and RLIMIT_NPROC */
  uint64_t cpu_seconds;   /* RLIMIT_CPU */
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

struct tars_result
{
  int status; /* exit code as DESIGN.md: the command's, 128+N for a signal, 124 for timeout */
  int signal; /* the signal that ended the command, or 0 */
  bool timed_out;
  bool cancelled;        /* stopped through cancel_fd: status 130, no changes captured */
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

/* Fill SPEC with defaults: no workspace, host root, no network, 10 minute timeout, 1 GiB memory,
 * 512 processes, 600 CPU seconds, 1 GiB file size, 1024 files, 1 GiB scratch, 256 MiB /tmp.  */
void tars_spec_init(struct tars_spec *spec);
/* Free what the spec owns (see `owned`) and reset it to the defaults.  */
void tars_spec_free(struct tars_spec *spec);
/* Merge a JSON sandbox spec (see docs/sandbox-spec.md) into SPEC: the keys present replace the
 * fields (freeing the old values), the others are kept.  Unknown keys, wrong types and
 * out-of-range values are errors naming the key; on any error SPEC is left unchanged.  */
int tars_spec_load_json(struct tars_spec *spec, const char *json, size_t len,
                        struct tars_error *err);
/* Check a spec before running it: paths absolute and existing, argv present, limits sane.  */
int tars_spec_validate(const struct tars_spec *spec, struct tars_error *err);

/* Parse sizes like "512M", "2G", "100k" and plain bytes.  */
int tars_parse_size(const char *s, uint64_t *out, struct tars_error *err);

/* Run SPEC's command in a sandbox and wait for it.  Returns 0 when the command ran (whatever its
 * exit status, which is in RESULT), negative when the sandbox could not be set up or the changes
 * could not be captured.  */
int tars_sandbox_run(const struct tars_spec *spec, struct tars_result *result,
                     struct tars_error *err);
void tars_result_free(struct tars_result *result);

#endif
