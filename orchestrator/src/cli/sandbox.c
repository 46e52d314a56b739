#include "cli/cli.h"
int cli_sandbox (int argc, char **argv) { return cli_usage_error ("sandbox: not built yet"); }
