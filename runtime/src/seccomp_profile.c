/* tars runtime: the default seccomp profile, built with libseccomp.
 *
 * It is built at build time (tools/seccomp-gen.c exports it as BPF into a generated header) and
 * installed at run time by seccomp.c without libseccomp: compiling a profile of this size costs
 * about a millisecond on every sandbox start, for a result that never changes.
 *
 * Everything is allowed except the kernel's dangerous interfaces, which fail with EPERM, in the
 * spirit of Docker's default profile.  A deny list (rather than Docker's allow list) keeps
 * unknown build tools working; the namespaces, the dropped capabilities and no_new_privs do the
 * rest.
 *
 * The filter covers the three x86 ABIs: x86_64, i386 (int $0x80) and x32 (the syscall number
 * with bit 30 set).  Any of them can be entered from a 64-bit process, so a rule made for one
 * ABI only would be bypassed through another.  libseccomp resolves each rule per ABI; a syscall
 * that does not exist on an ABI is skipped there.  */
#include "internal.h"
#include "tars/cleanup.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>

/* Denied whatever their arguments.  Names rather than SCMP_SYS() so that a syscall missing from
 * the native ABI (stime, vm86, socketcall...) still gets its rule on the ABIs that have it.  */
static const char *const denied_syscalls[] = {
    /* mounts and the root directory */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    /* other processes' memory and files */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    /* large kernel attack surface */
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "fanotify_init",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    /* joining another process's namespaces */
    "setns",
    /* the kernel itself and the machine */
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vhangup",
    "iopl",
    "ioperm",
    "vm86",
    "vm86old",
    /* the clock; the *64 variants are i386's y2038 entry points to the same calls */
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
};

/* Namespace flags, refused in unshare() and clone().  CLONE_NEWTIME shares its bit with clone()'s
 * exit-signal byte, so only unshare() can ask for it that way.  */
static const unsigned long ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

/* Socket families outside this set are obscure protocols, most of them modules that would be
 * auto-loaded on first use: attack surface and nothing a build needs.  */
static const int allowed_families[] = {AF_UNIX, AF_INET, AF_INET6};

/* The personalities Docker allows: PER_LINUX, PER_LINUX32, UNAME26, both, and the query.  Others
 * turn off ASLR or make data executable.  */
#define PERSONA_QUERY 0xffffffffu
#define PERSONA_OK_BITS (PER_LINUX32 | UNAME26)

static int
rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int n,
     const struct scmp_arg_cmp *cmp, struct tars_error *err)
{
  int nr = seccomp_syscall_resolve_name(name);
  /* Unknown to this libseccomp on every ABI (it predates the syscall): skipped, as runc does.  */
  if (nr == __NR_SCMP_ERROR)
    return 0;
  int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
  if (rc < 0)
    return tars_error_set(err, -rc, "seccomp_rule_add %s", name);
  return 0;
}

static int
deny1(scmp_filter_ctx ctx, const char *name, struct scmp_arg_cmp cmp, struct tars_error *err)
{
  return rule(ctx, SCMP_ACT_ERRNO(EPERM), name, 1, &cmp, err);
}

static int
add_socket_rules(scmp_filter_ctx ctx, const char *name, struct tars_error *err)
{
  /* One comparison per argument per rule, and no ALLOW rules under an ALLOW default: the
   * complement of the allowed families is spelt out.  The GT rule also catches any value with
   * the upper 32 bits set, which the kernel would truncate to an int.  On i386, socket() and
   * socketpair() are also reachable through socketcall(), whose arguments sit behind a pointer;
   * libseccomp then denies socketcall(SYS_SOCKET) and socketcall(SYS_SOCKETPAIR) outright
   * (seccomp_export_pfc shows it), which closes the bypass.  The price: a 32-bit program built
   * against a glibc that still uses socketcall cannot create sockets at all.  */
  for (int family = 0; family <= AF_INET6; family++)
    {
      bool ok = false;
      for (size_t i = 0; i < sizeof allowed_families / sizeof allowed_families[0]; i++)
        ok = ok || allowed_families[i] == family;
      if (!ok && deny1(ctx, name, SCMP_A0(SCMP_CMP_EQ, family, 0), err) < 0)
        return -1;
    }
  return deny1(ctx, name, SCMP_A0(SCMP_CMP_GT, AF_INET6, 0), err);
}

static int
add_personality_rules(scmp_filter_ctx ctx, struct tars_error *err)
{
  /* Denying "anything but five values" has to be written as a union of single comparisons that
   * each avoid all five.  Let F be the 30 bits outside PERSONA_OK_BITS.  A 32-bit value is
   * denied exactly when it has some bit of F set and is not the query (all ones).
   * - When F's bits are neither all clear nor all set, going round F in a circle there is a set
   *   bit followed by a clear one: one masked rule per neighbouring pair (30 rules).
   * - When they are all set, one of the two other bits is clear: two rules.
   * - Values beyond 32 bits: one rule (the kernel would truncate them).  */
  uint32_t f[32];
  int n = 0;
  for (int bit = 0; bit < 32; bit++)
    if (!(PERSONA_OK_BITS & (1u << bit)))
      f[n++] = 1u << bit;
  for (int i = 0; i < n; i++)
    {
      uint32_t set = f[i], clear = f[(i + 1) % n];
      if (deny1(ctx, "personality", SCMP_A0(SCMP_CMP_MASKED_EQ, set | clear, set), err) < 0)
        return -1;
    }
  for (uint32_t other = 1; other <= PERSONA_OK_BITS; other <<= 1)
    if ((PERSONA_OK_BITS & other) &&
        deny1(ctx, "personality", SCMP_A0(SCMP_CMP_MASKED_EQ, f[0] | other, f[0]), err) < 0)
      return -1;
  return deny1(ctx, "personality", SCMP_A0(SCMP_CMP_GT, PERSONA_QUERY, 0), err);
}

static int
build_profile(scmp_filter_ctx ctx, struct tars_error *err)
{
  static const uint32_t arches[] = {SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32};
  int rc;

  /* Architectures first: rules added later are then generated for each of them.  */
  for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
    {
      rc = seccomp_arch_add(ctx, arches[i]);
      if (rc < 0 && rc != -EEXIST)
        return tars_error_set(err, -rc, "seccomp_arch_add 0x%x", arches[i]);
    }
  rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  if (rc < 0)
    return tars_error_set(err, -rc, "seccomp_attr_set CTL_NNP");
  /* Without it seccomp_load reports every kernel error as ECANCELED.  */
  rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
  if (rc < 0)
    return tars_error_set(err, -rc, "seccomp_attr_set API_SYSRAWRC");

  for (size_t i = 0; i < sizeof denied_syscalls / sizeof denied_syscalls[0]; i++)
    if (rule(ctx, SCMP_ACT_ERRNO(EPERM), denied_syscalls[i], 0, NULL, err) < 0)
      return -1;

  /* clone3 takes its flags behind a pointer, which seccomp cannot read.  ENOSYS rather than
   * EPERM makes glibc fall back to clone(), whose flags are checked below.  */
  if (rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err) < 0)
    return -1;

  /* A new namespace would give the payload a full set of capabilities again inside it.  clone()
   * takes the flags as its first argument on all three ABIs.  */
  for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
    {
      struct scmp_arg_cmp has_flag = SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
      if (deny1(ctx, "unshare", has_flag, err) < 0)
        return -1;
      if (ns_flags[i] != CLONE_NEWTIME && deny1(ctx, "clone", has_flag, err) < 0)
        return -1;
    }

  /* TIOCSTI pushes input into the controlling terminal, outside the sandbox; TIOCLINUX can too
   * on a virtual console.  The kernel reads the request as a 32-bit int: the mask makes set
   * upper bits irrelevant instead of a way around the rule.  */
  static const unsigned long tty_requests[] = {TIOCSTI, TIOCLINUX};
  for (size_t i = 0; i < sizeof tty_requests / sizeof tty_requests[0]; i++)
    if (deny1(ctx, "ioctl", SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, tty_requests[i]), err) < 0)
      return -1;

  if (add_socket_rules(ctx, "socket", err) < 0 || add_socket_rules(ctx, "socketpair", err) < 0)
    return -1;
  return add_personality_rules(ctx, err);
}

int
tars_seccomp_profile_export(int fd, struct tars_error *err)
{
  cleanup_seccomp scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL)
    return tars_error_set(err, ENOMEM, "seccomp_init");
  if (build_profile(ctx, err) < 0)
    return tars_error_prefix(err, "seccomp profile");
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0)
    return tars_error_set(err, -rc, "seccomp_export_bpf");
  return 0;
}
