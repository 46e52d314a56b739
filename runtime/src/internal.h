/* Internal interfaces between the runtime's modules.  */
#ifndef TARS_RUNTIME_INTERNAL_H
#define TARS_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tars/error.h"
#include "tars/sandbox.h"

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
};
/* Create the cgroup and set SPEC's limits.  Returns 0 and active=true on success; returns 0 with
 * active=false and NOTE filled (why) when the tree is not writable; negative on real errors.  */
int tars_cgroup_create(struct tars_cgroup *cg, const struct tars_spec *spec, char *note,
                       size_t note_len, struct tars_error *err);
int tars_cgroup_attach(struct tars_cgroup *cg, pid_t pid, struct tars_error *err);
/* Kill what is left and remove the directories.  */
void tars_cgroup_destroy(struct tars_cgroup *cg);

/* mounts.c / fsutil */
int tars_mkdir_p(const char *path, mode_t mode, struct tars_error *err);

/* hash.c: SHA-256 of a file descriptor's content (OpenSSL's libcrypto), as 64 hex digits + NUL.  */
int tars_sha256_fd(int fd, char hex[65], struct tars_error *err);

#endif
