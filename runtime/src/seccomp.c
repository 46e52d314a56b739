/* tars runtime: installing the default seccomp profile.
 *
 * The profile is compiled by libseccomp at build time (seccomp_profile.c, tools/seccomp-gen.c)
 * into the BPF program of the generated header below; here it is only handed to the kernel.  */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "seccomp_bpf.h" /* generated: tars_seccomp_bpf[] */

int
tars_seccomp_apply(struct tars_error *err)
{
  struct sock_fprog prog = {
      .len = (unsigned short)(sizeof tars_seccomp_bpf / sizeof tars_seccomp_bpf[0]),
      .filter = (struct sock_filter *)tars_seccomp_bpf,
  };
  /* Required for an unprivileged filter, and wanted anyway: nothing the command executes may
   * gain privileges.  */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return tars_error_set(err, errno, "prctl PR_SET_NO_NEW_PRIVS");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    return tars_error_set(err, errno, "install the seccomp filter");
  return 0;
}
