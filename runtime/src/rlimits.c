#include "internal.h"
int tars_rlimits_apply (const struct tars_spec *spec, struct tars_error *err) { return 0; }
