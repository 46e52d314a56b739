/* placeholder until the seccomp module lands */
#include "internal.h"
int tars_seccomp_apply (struct tars_error *err) { return tars_error_set (err, 0, "seccomp: not built yet"); }
