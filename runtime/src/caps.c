/* tars runtime: dropping capabilities.
 *
 * The payload starts as uid 0 of a fresh user namespace, with every capability of that
 * namespace.  It keeps none of them: the bounding set is emptied so that no execve (of a setuid
 * or file-capability binary, or as uid 0) can bring one back, the securebits stop uid 0 from
 * being special, and the other four sets are cleared last, since emptying the bounding set and
 * locking the securebits both need CAP_SETPCAP.  */
#include "internal.h"
#include "tars/cleanup.h"

#include <errno.h>
#include <linux/securebits.h>
#include <sys/capability.h>

/* Locked so that nothing running later, even with CAP_SETPCAP regained somehow, can turn root's
 * privileges back on.  KEEP_CAPS is locked off: a setuid() must not keep capabilities.  */
#define TARS_SECUREBITS                                                                            \
  (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED | \
   SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

static int
has_effective(cap_value_t cap, bool *held, struct tars_error *err)
{
  cleanup_cap cap_t cur = cap_get_proc();
  if (cur == NULL)
    return tars_error_set(err, errno, "cap_get_proc");
  cap_flag_value_t value;
  if (cap_get_flag(cur, cap, CAP_EFFECTIVE, &value) < 0)
    return tars_error_set(err, errno, "cap_get_flag %d", cap);
  *held = value == CAP_SET;
  return 0;
}

static int
drop_bounding(struct tars_error *err)
{
  /* The running kernel's count, which may differ from the one libcap was built with.  */
  cap_value_t max = cap_max_bits();
  for (cap_value_t cap = 0; cap < max; cap++)
    {
      /* Only what is still there: a caller without CAP_SETPCAP may have nothing left to drop.  */
      if (cap_get_bound(cap) == 0)
        continue;
      if (cap_drop_bound(cap) < 0)
        {
          int saved = errno;
          cleanup_cap char *name = cap_to_name(cap);
          return tars_error_set(err, saved, "cap_drop_bound %s", name ? name : "?");
        }
    }
  return 0;
}

int
tars_caps_drop_all(struct tars_error *err)
{
  bool setpcap = false;
  if (has_effective(CAP_SETPCAP, &setpcap, err) < 0)
    return -1;
  if (setpcap)
    {
      unsigned bits = (cap_get_secbits() & ~SECBIT_KEEP_CAPS) | TARS_SECUREBITS;
      if (cap_set_secbits(bits) < 0)
        return tars_error_set(err, errno, "cap_set_secbits 0x%x", bits);
    }

  if (drop_bounding(err) < 0)
    return -1;

  /* Kernels before 4.3 have no ambient set, hence nothing to clear.  */
  if (cap_reset_ambient() < 0 && errno != EINVAL)
    return tars_error_set(err, errno, "cap_reset_ambient");

  cleanup_cap cap_t empty = cap_init();
  if (empty == NULL)
    return tars_error_set(err, errno, "cap_init");
  if (cap_set_proc(empty) < 0)
    return tars_error_set(err, errno, "cap_set_proc (empty set)");
  return 0;
}
