/* Resource limits for the payload, set just before exec.  */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>

#include "internal.h"

static int
set_limit(int resource, const char *name, uint64_t value, struct tars_error *err)
{
  /* 0 means "the default" in a spec, and tars_spec_init has already filled the defaults in: a 0
   * here was asked for by no one, so the current limit stays.  */
  if (value == 0)
    return 0;

  struct rlimit cur;
  if (getrlimit(resource, &cur) < 0)
    return tars_error_set(err, errno, "getrlimit %s", name);

  rlim_t want = value == UINT64_MAX ? RLIM_INFINITY : (rlim_t)value;
  /* Never raise the hard limit above the current one, even when privileged: the caller's hard
   * limits are a ceiling the sandbox must stay under, and an unprivileged caller could not raise it
   * anyway (EPERM).  Lowering is always allowed.  RLIM_INFINITY is the largest rlim_t, so the
   * comparison also clamps "unlimited" to the current hard limit.  */
  if (want > cur.rlim_max)
    want = cur.rlim_max;

  struct rlimit lim = {.rlim_cur = want, .rlim_max = want};
  if (setrlimit(resource, &lim) < 0)
    {
      if (want == RLIM_INFINITY)
        return tars_error_set(err, errno, "setrlimit %s unlimited", name);
      return tars_error_set(err, errno, "setrlimit %s %llu", name, (unsigned long long)want);
    }
  return 0;
}

int
tars_rlimits_apply(const struct tars_spec *spec, struct tars_error *err)
{
  if (set_limit(RLIMIT_AS, "RLIMIT_AS", spec->as_bytes, err) < 0 ||
      set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", spec->pids, err) < 0 ||
      set_limit(RLIMIT_CPU, "RLIMIT_CPU", spec->cpu_seconds, err) < 0 ||
      set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", spec->fsize_bytes, err) < 0 ||
      set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", spec->nofile, err) < 0)
    return -1;

  /* No core dumps: they would land in the sandbox's scratch and may hold whatever the payload
   * had in memory.  */
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) < 0)
    return tars_error_set(err, errno, "setrlimit RLIMIT_CORE 0");
  return 0;
}
