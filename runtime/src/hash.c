#include "internal.h"
int tars_sha256_fd (int fd, char hex[65], struct tars_error *err) { return tars_error_set (err, 0, "hash: not built yet"); }
