#include "internal.h"
int tars_caps_drop_all (struct tars_error *err) { return tars_error_set (err, 0, "caps: not built yet"); }
