#include "internal.h"
int tars_net_loopback_up (struct tars_error *err) { return tars_error_set (err, 0, "net: not built yet"); }
