#include "tars/changes.h"
int tars_changes_capture (int upper_dfd, const int *lower_dfds, size_t n_lowers, int out_dfd, uint64_t *n_entries, struct tars_error *err) { return tars_error_set (err, 0, "changes: not built yet"); }
