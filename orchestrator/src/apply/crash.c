/* Deterministic crash points for the fault-injection tests (see txn.h).  */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply/txn.h"

void
tars_crash_point(const char *label)
{
  static long reached;
  const char *want = getenv("TARS_CRASH_AT");
  if (want == NULL)
    return;
  size_t n = strlen(label);
  if (strncmp(want, label, n) != 0 || (want[n] != '\0' && want[n] != ':'))
    return;
  long nth = want[n] == ':' ? strtol(want + n + 1, NULL, 10) : 1;
  if (++reached >= nth)
    kill(getpid(), SIGKILL);
}
