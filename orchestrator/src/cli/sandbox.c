/* tars sandbox run: run a command in a sandbox (DESIGN.md's contract).  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "tars/cleanup.h"
#include "tars/sandbox.h"

static const char usage_text[] =
    "usage: tars sandbox run [OPTIONS] -- CMD [ARG...]\n"
    "\n"
    "Run CMD in a sandbox: new user, mount, pid, network, ipc, uts, cgroup and time\n"
    "namespaces; a read-only view of the host's /usr, /bin, /sbin, /lib*, /etc (credentials\n"
    "hidden) and /opt, nothing else of it unless asked; fresh /proc, minimal /dev, private\n"
    "/tmp; seccomp, no capabilities, no_new_privs; limits.\n"
    "\n"
    "  --workspace DIR      mount DIR at its own path through an overlay: CMD may change it,\n"
    "                       the host copy never changes\n"
    "  --ro-workspace       show the workspace read-only instead (no --changes-out)\n"
    "  --layer DIR          stack DIR read-only above the workspace (repeatable, lowest first)\n"
    "  --changes-out DIR    write the workspace's changes to DIR as a changeset\n"
    "  --ro-bind SRC[:DEST] show the host directory or file SRC read-only at DEST (default\n"
    "                       SRC); sockets in it cannot be connected to (repeatable)\n"
    "  --bind-socket PATH[:DEST]  make the host Unix socket PATH reachable at DEST\n"
    "  --tmpfs DIR          an empty writable tmpfs at DIR (64M)\n"
    "  --rootfs DIR         show DIR as / instead of the default view of the host\n"
    "  --net none|loopback  network: nothing (default) or loopback only\n"
    "  --memory SIZE        memory limit (cgroup when writable), e.g. 512M; default 1G\n"
    "  --pids N             process limit; default 512\n"
    "  --cpu-seconds N      CPU time limit; default 600\n"
    "  --timeout SEC        wall-clock limit, the whole sandbox is killed; default 600\n"
    "  --env NAME=VALUE     set an environment variable (repeatable); the default environment\n"
    "                       is minimal and nothing of the caller's is passed\n"
    "  --cwd DIR            working directory inside; default the workspace, else /\n"
    "  --scratch-size SIZE  room for the workspace's changes; default 1G\n"
    "  --tmp-size SIZE      size of the private /tmp; default 256M\n"
    "  --stdio pipe|inherit how CMD gets stdin, stdout and stderr: pipe relays files and\n"
    "                       devices through pipes (the default unless all three are\n"
    "                       terminals); inherit hands them over as they are\n"
    "  --spec FILE          load a JSON sandbox spec (docs/sandbox-spec.md); options override it\n"
    "  --json               print a JSON report of the run on stdout after the command's output\n"
    "\n"
    "Without a cgroup (rootless, no delegated subtree) --memory and --cpu-seconds bind each\n"
    "process, not the sandbox as a whole: tars says so when it starts.\n"
    "\n"
    "Exit status: the command's; 128+N when a signal N ended it; 124 on timeout; 152 when the\n"
    "sandbox's CPU time passed --cpu-seconds; 126/127 when it could not be executed; 1 when\n"
    "the sandbox could not be set up; 2 on bad usage.\n";

enum
{
  OPT_WORKSPACE = 256,
  OPT_LAYER,
  OPT_CHANGES_OUT,
  OPT_ROOTFS,
  OPT_NET,
  OPT_MEMORY,
  OPT_PIDS,
  OPT_CPU_SECONDS,
  OPT_TIMEOUT,
  OPT_ENV,
  OPT_CWD,
  OPT_SCRATCH,
  OPT_TMP,
  OPT_SPEC,
  OPT_JSON,
  OPT_RO_BIND,
  OPT_BIND_SOCKET,
  OPT_TMPFS,
  OPT_RO_WORKSPACE,
  OPT_STDIO,
};

static const struct option long_options[] = {
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"layer", required_argument, NULL, OPT_LAYER},
    {"changes-out", required_argument, NULL, OPT_CHANGES_OUT},
    {"rootfs", required_argument, NULL, OPT_ROOTFS},
    {"net", required_argument, NULL, OPT_NET},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"pids", required_argument, NULL, OPT_PIDS},
    {"cpu-seconds", required_argument, NULL, OPT_CPU_SECONDS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"env", required_argument, NULL, OPT_ENV},
    {"cwd", required_argument, NULL, OPT_CWD},
    {"scratch-size", required_argument, NULL, OPT_SCRATCH},
    {"tmp-size", required_argument, NULL, OPT_TMP},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"json", no_argument, NULL, OPT_JSON},
    {"ro-bind", required_argument, NULL, OPT_RO_BIND},
    {"bind-socket", required_argument, NULL, OPT_BIND_SOCKET},
    {"tmpfs", required_argument, NULL, OPT_TMPFS},
    {"ro-workspace", no_argument, NULL, OPT_RO_WORKSPACE},
    {"stdio", required_argument, NULL, OPT_STDIO},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* An existing directory, made absolute and canonical.  */
static int
existing_dir(const char *opt, const char *arg, char **out)
{
  char buf[PATH_MAX];
  struct stat st;
  if (realpath(arg, buf) == NULL)
    return cli_usage_error("%s %s: %s", opt, arg, strerror(errno));
  if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
    return cli_usage_error("%s %s: not a directory", opt, arg);
  free(*out);
  *out = strdup(buf);
  return 0;
}

/* A path that may not exist yet, made absolute (its parent must exist).  */
static int
new_path(const char *opt, const char *arg, char **out)
{
  char parent[PATH_MAX], resolved[PATH_MAX];
  const char *slash = strrchr(arg, '/');
  const char *base = slash ? slash + 1 : arg;
  if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
    return existing_dir(opt, arg, out);
  if (slash == NULL)
    snprintf(parent, sizeof parent, ".");
  else if (slash == arg)
    snprintf(parent, sizeof parent, "/");
  else
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - arg), arg);
  if (realpath(parent, resolved) == NULL)
    return cli_usage_error("%s %s: %s: %s", opt, arg, parent, strerror(errno));
  char buf[PATH_MAX + NAME_MAX + 2];
  snprintf(buf, sizeof buf, "%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, base);
  free(*out);
  *out = strdup(buf);
  return 0;
}

/* SRC[:DEST] for --ro-bind and --bind-socket: SRC an existing host path, made canonical; DEST
 * an absolute path inside the sandbox (default SRC).  */
static int
add_bind(struct tars_spec *spec, const char *opt, enum tars_mount_type type, const char *arg)
{
  cleanup_free char *src = strdup(arg);
  if (src == NULL)
    return cli_usage_error("%s: out of memory", opt);
  char *dest = strstr(src, ":/");
  if (dest)
    *dest++ = '\0';
  else if (src[0] && src[strlen(src) - 1] == ':')
    return cli_usage_error("%s '%s': DEST must be an absolute path", opt, arg);
  char buf[PATH_MAX];
  if (realpath(src, buf) == NULL)
    return cli_usage_error("%s %s: %s", opt, src, strerror(errno));
  struct tars_error err;
  if (tars_spec_add_mount(spec, type, buf, dest, 0, &err) < 0)
    return cli_usage_error("%s: %s", opt, err.msg);
  return 0;
}

static int
parse_count(const char *opt, const char *arg, uint64_t *out)
{
  char *end;
  errno = 0;
  if (arg[0] == '-' || arg[0] == '\0')
    return cli_usage_error("%s '%s': expected a positive whole number", opt, arg);
  unsigned long long v = strtoull(arg, &end, 10);
  if (errno || *end || v == 0)
    return cli_usage_error("%s '%s': expected a positive whole number", opt, arg);
  *out = v;
  return 0;
}

static int
parse_seconds(const char *opt, const char *arg, uint64_t *out_ms)
{
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end || !(v > 0) || v > 1e9)
    return cli_usage_error("%s '%s': expected a positive number of seconds", opt, arg);
  *out_ms = (uint64_t)(v * 1000.0 + 0.5);
  if (*out_ms == 0)
    *out_ms = 1;
  return 0;
}

static int
parse_size_opt(const char *opt, const char *arg, uint64_t *out)
{
  struct tars_error err;
  if (tars_parse_size(arg, out, &err) < 0)
    return cli_usage_error("%s: %s", opt, err.msg);
  return 0;
}

static int
load_spec_file(struct tars_spec *spec, const char *path)
{
  cleanup_fclose FILE *f = fopen(path, "re");
  if (f == NULL)
    return cli_usage_error("--spec %s: %s", path, strerror(errno));
  cleanup_free char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;)
    {
      if (len + 4096 > cap)
        {
          cap = cap ? cap * 2 : 8192;
          if (cap > (16 << 20))
            return cli_usage_error("--spec %s: larger than 16 MiB", path);
          char *nb = realloc(buf, cap);
          if (nb == NULL)
            return cli_usage_error("--spec %s: out of memory", path);
          buf = nb;
        }
      size_t n = fread(buf + len, 1, cap - len, f);
      len += n;
      if (n == 0)
        break;
    }
  if (ferror(f))
    return cli_usage_error("--spec %s: read error", path);
  struct tars_error err;
  if (tars_spec_load_json(spec, buf, len, &err) < 0)
    return cli_usage_error("--spec %s: %s", path, err.msg);
  return 0;
}

static int
add_env(struct tars_spec *spec, const char *arg)
{
  const char *eq = strchr(arg, '=');
  if (eq == NULL || eq == arg)
    return cli_usage_error("--env '%s': expected NAME=VALUE", arg);
  size_t n = 0;
  if (spec->envp)
    while (spec->envp[n])
      n++;
  char **nv = realloc(spec->envp, (n + 2) * sizeof *nv);
  if (nv == NULL)
    return cli_usage_error("--env: out of memory");
  nv[n] = strdup(arg);
  nv[n + 1] = NULL;
  spec->envp = nv;
  return 0;
}

static const char *
scope_name(enum tars_limit_scope s)
{
  return s == TARS_LIMIT_SANDBOX ? "sandbox" : s == TARS_LIMIT_PROCESS ? "process" : "unlimited";
}

static void
print_json_report(const struct tars_result *r, const struct tars_limits *l)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "status", r->status);
  cJSON_AddNumberToObject(o, "signal", r->signal);
  cJSON_AddBoolToObject(o, "timed_out", r->timed_out);
  cJSON_AddBoolToObject(o, "cpu_exceeded", r->cpu_exceeded);
  cJSON_AddBoolToObject(o, "exec_failed", r->exec_failed);
  cJSON_AddBoolToObject(o, "cgroup_applied", r->cgroup_applied);
  if (!r->cgroup_applied)
    cJSON_AddStringToObject(o, "cgroup_note", r->cgroup_note);
  /* Which limits bound the sandbox as a whole, and which each process.  */
  cJSON *lim = cJSON_AddObjectToObject(o, "limits");
  cJSON_AddStringToObject(lim, "memory", scope_name(l->memory));
  cJSON_AddStringToObject(lim, "cpu_seconds", scope_name(l->cpu));
  cJSON_AddStringToObject(lim, "pids", scope_name(l->pids));
  cJSON_AddNumberToObject(o, "changes", (double)r->changes);
  cJSON_AddNumberToObject(o, "rejected", (double)r->rejected);
  char *s = cJSON_PrintUnformatted(o);
  if (s)
    puts(s);
  free(s);
  cJSON_Delete(o);
}

static int
sandbox_run(int argc, char **argv)
{
  struct tars_spec spec;
  tars_spec_init(&spec);
  int ret = TARS_EXIT_USAGE;
  bool json = false;
  bool have_env = false;
  char **cmd = NULL;
  const char *spec_file = NULL;

  /* Interactive use hands the terminal over; anything else goes through pipes, so that no host
   * file the caller redirected to is reachable from inside.  The spec and --stdio may say
   * otherwise.  */
  spec.stdio = isatty(0) && isatty(1) && isatty(2) ? TARS_STDIO_INHERIT : TARS_STDIO_PIPE;
  /* --spec first, so that the other options override it wherever they stand.  */
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc)
      spec_file = argv[i + 1];
    else if (strncmp(argv[i], "--spec=", 7) == 0)
      spec_file = argv[i] + 7;
  if (spec_file && load_spec_file(&spec, spec_file) != 0)
    goto out;

  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "+:h", long_options, NULL)) != -1)
    {
      int r = 0;
      switch (c)
        {
        case 'h':
          fputs(usage_text, stdout);
          ret = TARS_EXIT_OK;
          goto out;
        case OPT_WORKSPACE:
          r = existing_dir("--workspace", optarg, &spec.workspace);
          break;
        case OPT_LAYER:
          if (spec.n_layers >= TARS_MAX_LAYERS)
            r = cli_usage_error("--layer: at most %d layers", TARS_MAX_LAYERS);
          else
            r = existing_dir("--layer", optarg, &spec.layers[spec.n_layers++]);
          break;
        case OPT_CHANGES_OUT:
          r = new_path("--changes-out", optarg, &spec.changes_out);
          break;
        case OPT_ROOTFS:
          r = existing_dir("--rootfs", optarg, &spec.rootfs);
          break;
        case OPT_NET:
          if (strcmp(optarg, "none") == 0)
            spec.net = TARS_NET_NONE;
          else if (strcmp(optarg, "loopback") == 0)
            spec.net = TARS_NET_LOOPBACK;
          else
            r = cli_usage_error("--net '%s': expected none or loopback", optarg);
          break;
        case OPT_MEMORY:
          r = parse_size_opt("--memory", optarg, &spec.memory_bytes);
          break;
        case OPT_PIDS:
          r = parse_count("--pids", optarg, &spec.pids);
          break;
        case OPT_CPU_SECONDS:
          r = parse_count("--cpu-seconds", optarg, &spec.cpu_seconds);
          break;
        case OPT_TIMEOUT:
          r = parse_seconds("--timeout", optarg, &spec.timeout_ms);
          break;
        case OPT_ENV:
          if (!have_env && spec.envp == NULL)
            r = add_env(&spec, "PATH=" TARS_SANDBOX_DEFAULT_PATH);
          have_env = true;
          if (r == 0)
            r = add_env(&spec, optarg);
          break;
        case OPT_CWD:
          if (optarg[0] != '/')
            r = cli_usage_error("--cwd '%s': must be an absolute path inside the sandbox", optarg);
          else
            {
              free(spec.cwd);
              spec.cwd = strdup(optarg);
            }
          break;
        case OPT_SCRATCH:
          r = parse_size_opt("--scratch-size", optarg, &spec.scratch_bytes);
          break;
        case OPT_TMP:
          r = parse_size_opt("--tmp-size", optarg, &spec.tmp_bytes);
          break;
        case OPT_RO_BIND:
          r = add_bind(&spec, "--ro-bind", TARS_MOUNT_RO_BIND, optarg);
          break;
        case OPT_BIND_SOCKET:
          r = add_bind(&spec, "--bind-socket", TARS_MOUNT_BIND_SOCKET, optarg);
          break;
        case OPT_TMPFS:
          {
            struct tars_error e;
            if (optarg[0] != '/')
              r = cli_usage_error("--tmpfs '%s': must be an absolute path inside the sandbox",
                                  optarg);
            else if (tars_spec_add_mount(&spec, TARS_MOUNT_TMPFS, NULL, optarg, 0, &e) < 0)
              r = cli_usage_error("--tmpfs: %s", e.msg);
          }
          break;
        case OPT_RO_WORKSPACE:
          spec.ro_workspace = true;
          break;
        case OPT_STDIO:
          if (strcmp(optarg, "pipe") == 0)
            spec.stdio = TARS_STDIO_PIPE;
          else if (strcmp(optarg, "inherit") == 0)
            spec.stdio = TARS_STDIO_INHERIT;
          else
            r = cli_usage_error("--stdio '%s': expected pipe or inherit", optarg);
          break;
        case OPT_SPEC:
          break; /* loaded above */
        case OPT_JSON:
          json = true;
          break;
        case ':':
          r = cli_usage_error("option %s needs an argument", argv[optind - 1]);
          break;
        default:
          r = cli_usage_error("unknown option '%s'", argv[optind - 1]);
          break;
        }
      if (r != 0)
        goto out;
    }
  if (optind < argc)
    {
      if (strcmp(argv[optind - 1], "--") != 0)
        {
          cli_usage_error("'%s': put the command after '--'", argv[optind]);
          goto out;
        }
      cmd = argv + optind;
    }
  if (cmd)
    {
      tars_cleanup_strvp(&spec.argv);
      size_t n = (size_t)(argc - optind);
      spec.argv = calloc(n + 1, sizeof *spec.argv);
      for (size_t i = 0; i < n; i++)
        spec.argv[i] = strdup(cmd[i]);
    }
  if (spec.argv == NULL || spec.argv[0] == NULL)
    {
      cli_usage_error("no command: tars sandbox run [OPTIONS] -- CMD [ARG...]");
      goto out;
    }

  struct tars_error err;
  if (tars_spec_validate(&spec, &err) < 0)
    {
      ret = cli_fail(&err);
      goto out;
    }
  struct tars_result res;
  struct tars_sandbox *sb;
  fflush(NULL);
  if (tars_sandbox_start(&spec, &sb, &err) < 0)
    {
      ret = cli_fail(&err);
      goto out;
    }
  /* Said before the command's output: which limits do not bind the sandbox as a whole.  */
  struct tars_limits limits = *tars_sandbox_limits(sb);
  if (limits.note[0])
    fprintf(stderr, "tars: notice: %s\n", limits.note);
  fflush(stderr);
  if (tars_sandbox_finish(sb, &res, &err) < 0)
    {
      ret = cli_fail(&err);
      goto out;
    }
  if (res.exec_failed)
    fprintf(stderr, "tars: %s\n", res.exec_error);
  if (res.timed_out)
    fprintf(stderr, "tars: the command timed out and was killed\n");
  if (res.cpu_exceeded)
    fprintf(stderr, "tars: the sandbox used more than %llu CPU seconds in total and was killed\n",
            (unsigned long long)spec.cpu_seconds);
  if (res.rejected)
    fprintf(stderr,
            "tars: %llu path%s in the workspace could not be captured (tars changes show %s "
            "lists them): the changeset will be refused by tars apply\n",
            (unsigned long long)res.rejected, res.rejected == 1 ? "" : "s", spec.changes_out);
  if (json)
    print_json_report(&res, &limits);
  ret = res.status;
  tars_result_free(&res);

out:
  tars_spec_free(&spec);
  return ret;
}

int
cli_sandbox(int argc, char **argv)
{
  if (argc < 2 || cli_is_help(argv[1]))
    {
      fputs(usage_text, argc < 2 ? stderr : stdout);
      return argc < 2 ? TARS_EXIT_USAGE : TARS_EXIT_OK;
    }
  if (strcmp(argv[1], "run") == 0)
    return sandbox_run(argc - 1, argv + 1);
  return cli_usage_error("sandbox: unknown subcommand '%s' (expected 'run')", argv[1]);
}
