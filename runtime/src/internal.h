/* Internal interfaces between the runtime's modules.  */
#ifndef TARS_RUNTIME_INTERNAL_H
#define TARS_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tars/error.h"
#include "tars/sandbox.h"
#include "view.h"

/* seccomp.c: set no_new_privs and install the default profile (built at build time from
 * seccomp_profile.c) into the calling thread.  */
int tars_seccomp_apply(struct tars_error *err);
/* seccomp_profile.c: build the default profile with libseccomp for x86_64, x86 and x32 and write
 * it to FD as raw BPF.  */
int tars_seccomp_profile_export(int fd, struct tars_error *err);

/* caps.c: lock securebits (noroot, no setuid fixup), drop every capability from the bounding,
 * ambient, inheritable, permitted and effective sets.  */
int tars_caps_drop_all(struct tars_error *err);

/* net.c: bring the loopback interface of the current network namespace up (libnl-route).  */
int tars_net_loopback_up(struct tars_error *err);

/* rlimits.c: set RLIMIT_AS, NPROC, CPU, FSIZE, NOFILE and CORE=0 from SPEC.  */
int tars_rlimits_apply(const struct tars_spec *spec, struct tars_error *err);

/* cgroup.c: a per-sandbox cgroup with memory, pids and cpu limits, on v2 or v1.  */
struct tars_cgroup
{
  bool active;
  int version;        /* 1 or 2 */
  char paths[4][512]; /* created directories (v1: one per controller) */
  int n_paths;
  char cpu_usage[560]; /* v2 cpu.stat, v1 cpuacct.usage: its CPU time in total; "" when none */
};
/* Create the cgroup and set SPEC's limits.  Returns 0 and active=true on success; returns 0 with
 * active=false and NOTE filled (why) when the tree is not writable; negative on real errors.  */
int tars_cgroup_create(struct tars_cgroup *cg, const struct tars_spec *spec, char *note,
                       size_t note_len, struct tars_error *err);
int tars_cgroup_attach(struct tars_cgroup *cg, pid_t pid, struct tars_error *err);
/* Moving a process into a v1 cgroup from outside takes a global lock whose first taking waits for
 * an RCU grace period (tens of milliseconds on a busy machine); a thread that moves itself, by
 * writing 0 to "tasks", takes none.  So on v1 (and Linux 5.16 or later, which checks such a write
 * against the opener's credentials) the outer process opens each "tasks" file (FDS, *N of them,
 * at most 4) for init to write 0 to; *N is 0 when the outer process must attach init itself.  */
int tars_cgroup_open_join(const struct tars_cgroup *cg, int *fds, size_t *n,
                          struct tars_error *err);
/* Kill what is left and remove the directories.  */
void tars_cgroup_destroy(struct tars_cgroup *cg);
/* The CPU time the cgroup's processes have used, in total (those that ended included), in
 * nanoseconds.  */
int tars_cgroup_cpu_ns(const struct tars_cgroup *cg, uint64_t *ns, struct tars_error *err);

/* idmap.c: whom the sandbox's root and groups are on the host.  */
#define TARS_MAX_EXTRA_GIDS 32
struct tars_idmap
{
  bool root_caller;
  uid_t uid; /* the host uid and gid of the sandbox's root */
  gid_t gid;
  bool idmap_layers; /* the workspace's layers are idmapped mounts (root, root-owned) */
  bool gid_identity; /* root: every other gid maps to itself (see idmap.c) */
  gid_t extra[TARS_MAX_EXTRA_GIDS]; /* rootless: groups newgidmap maps to themselves */
  size_t n_extra;
};
/* Decide the maps for SPEC; rootless, check the workspace's groups (refused with the file and its
 * group named when one cannot be mapped).  */
int tars_idmap_plan(const struct tars_spec *spec, struct tars_idmap *map, struct tars_error *err);
/* Write the maps of the process PID (uid_map, setgroups, gid_map, or newgidmap).  */
int tars_idmap_write(const struct tars_idmap *map, pid_t pid, struct tars_error *err);
/* Detached, idmapped copies of the workspace and its layers (TREES, *N of them), made through
 * the user namespace of PID.  */
int tars_idmap_trees(const struct tars_spec *spec, pid_t pid, int *trees, size_t *n,
                     struct tars_error *err);

/* stdio.c: the command's descriptors 0-2.  */
#define TARS_FD_KEEP (-1) /* the inherited descriptor, as it is */
#define TARS_FD_NULL (-2) /* /dev/null */
enum tars_stdio_use
{
  TARS_STDIO_PASS,  /* hand the caller's descriptor over */
  TARS_STDIO_RELAY, /* relay through a pipe */
  TARS_STDIO_NULL,  /* /dev/null (the caller's is closed) */
};
/* How each of the caller's descriptors 0-2 is to be used under MODE; refuses (TARS_ERR_INVALID,
 * naming the descriptor and what it is) a directory, an O_PATH descriptor or anything but a
 * terminal, pipe, socket, character device or regular file.  */
int tars_stdio_plan(enum tars_stdio mode, enum tars_stdio_use use[3], struct tars_error *err);

/* init.c: the sandbox's init, cloned by sandbox.c.  */
struct tars_child
{
  const struct tars_spec *spec;
  const struct tars_view *view;
  bool root_caller;
  int sync_rd;    /* outer -> init: "g" ids mapped (with the idmapped trees), then "c" cgroup
                     joined or "n" none */
  bool no_cgroup; /* set by init from that: memory is then limited with RLIMIT_AS */
  int idmapped[TARS_MAX_LAYERS + 1];
  int report_wr;  /* init -> outer */
  int stdio[3];   /* what the command gets as 0, 1, 2: a descriptor, TARS_FD_KEEP or TARS_FD_NULL */
  int changes_fd; /* --changes-out directory, or -1 */
};
/* What init tells the outer process, once, at the end.  */
struct tars_report
{
  int ok;          /* 1: the command ran (status valid); 0: setup or capture failed (error valid) */
  int status;      /* wait status of the command */
  int exec_failed; /* the command could not be executed */
  uint64_t changes;
  uint64_t rejected;
  struct tars_error error;
};
void tars_init_process(struct tars_child *child) __attribute__((noreturn));

/* mounts.c / fsutil */
int tars_mkdir_p(const char *path, mode_t mode, struct tars_error *err);

/* hash.c: SHA-256 of a file descriptor's content (OpenSSL's libcrypto), as 64 hex digits + NUL.  */
int tars_sha256_fd(int fd, char hex[65], struct tars_error *err);

#endif
