#include "cli/cli.h"
int cli_changes (int argc, char **argv) { return cli_usage_error ("changes: not built yet"); }
