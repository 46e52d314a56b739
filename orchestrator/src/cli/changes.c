/* tars changes show DIR [--json]: validate a changeset and show what it does.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tars/changes.h"
#include "tars/cleanup.h"

static void
usage(FILE *f)
{
  fputs("usage: tars changes show DIR [--json]\n"
        "\n"
        "Validate the changeset in DIR (manifest.json and objects/, as written by\n"
        "tars sandbox run --changes-out DIR) and show what it changes, in the order\n"
        "it applies: one line per entry, then a summary.\n"
        "\n"
        "  A  created file      M  modified file     D  deleted path\n"
        "  d  created directory m  mode changed      L  symlink\n"
        "\n"
        "options:\n"
        "  --json      print the normalised manifest instead\n"
        "  -h, --help  show this help\n"
        "\n"
        "Exit status: 0 shown, 2 bad usage or an invalid changeset.\n"
        "See docs/changeset-format.md for the format.\n",
        f);
}

struct counts
{
  size_t created, modified, deleted, mkdirs, chmods, symlinks;
};

static void
show_entry(const struct tars_change *c, struct counts *n)
{
  char mode[8] = "----";
  const char *slash = c->type == TARS_CHANGE_DIR ? "/" : "";

  if (c->op != TARS_CHANGE_DELETE && c->op != TARS_CHANGE_SYMLINK)
    snprintf(mode, sizeof mode, "%04o", c->mode);
  switch (c->op)
    {
    case TARS_CHANGE_CREATE:
    case TARS_CHANGE_MODIFY:
      printf("%c  %s  %s  (%llu byte%s)\n", c->op == TARS_CHANGE_CREATE ? 'A' : 'M', mode, c->path,
             (unsigned long long)c->size, c->size == 1 ? "" : "s");
      if (c->op == TARS_CHANGE_CREATE)
        n->created++;
      else
        n->modified++;
      break;
    case TARS_CHANGE_DELETE:
      printf("D  %s  %s%s\n", mode, c->path, slash);
      n->deleted++;
      break;
    case TARS_CHANGE_MKDIR:
      printf("d  %s  %s/\n", mode, c->path);
      n->mkdirs++;
      break;
    case TARS_CHANGE_CHMOD:
      printf("m  %s  %s%s\n", mode, c->path, slash);
      n->chmods++;
      break;
    case TARS_CHANGE_SYMLINK:
      printf("L  %s  %s -> %s\n", mode, c->path, c->target);
      n->symlinks++;
      break;
    }
}

static int
show(const char *dir, bool json)
{
  cleanup_changeset struct tars_changeset cs = {0};
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct tars_error err = {0};
  const char *sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";

  if (dfd < 0)
    {
      fprintf(stderr, "tars: changes show: %s: %s\n", dir, strerror(errno));
      return TARS_EXIT_USAGE;
    }
  if (tars_changeset_load(dfd, &cs, &err) < 0)
    {
      /* Every load failure means DIR is not a usable changeset: bad input.  */
      fprintf(stderr, "tars: changes show: %s%s%s\n", dir, sep, err.msg);
      return TARS_EXIT_USAGE;
    }

  if (json)
    {
      cleanup_free char *text = tars_changeset_to_json(&cs, &err);
      if (text == NULL)
        return cli_fail(&err);
      puts(text);
    }
  else
    {
      struct counts n = {0};
      for (size_t i = 0; i < cs.n_entries; i++)
        show_entry(&cs.entries[i], &n);
      printf("%zu change%s: %zu created, %zu modified, %zu deleted, %zu director%s created, "
             "%zu mode change%s, %zu symlink%s\n",
             cs.n_entries, cs.n_entries == 1 ? "" : "s", n.created, n.modified, n.deleted, n.mkdirs,
             n.mkdirs == 1 ? "y" : "ies", n.chmods, n.chmods == 1 ? "" : "s", n.symlinks,
             n.symlinks == 1 ? "" : "s");
      for (size_t i = 0; i < cs.n_rejected; i++)
        {
          printf("!  not captured: %s: ", cs.rejected[i].path);
          cli_put_escaped(cs.rejected[i].reason);
          putchar('\n');
        }
      if (cs.exit_status > 0)
        printf("made by a command that failed (exit status %d): apply and validate refuse it "
               "without --allow-failed\n",
               cs.exit_status);
      else if (cs.exit_status == 0)
        printf("made by a command that exited 0\n");
    }
  if (fflush(stdout) != 0 || ferror(stdout))
    {
      fprintf(stderr, "tars: changes show: writing the output: %s\n", strerror(errno));
      return TARS_EXIT_FAILED;
    }
  return TARS_EXIT_OK;
}

int
cli_changes(int argc, char **argv)
{
  const char *dir = NULL;
  bool json = false, options = true;

  if (argc < 2)
    {
      usage(stderr);
      return TARS_EXIT_USAGE;
    }
  if (cli_is_help(argv[1]))
    {
      usage(stdout);
      return TARS_EXIT_OK;
    }
  if (strcmp(argv[1], "show") != 0)
    return cli_usage_error("changes: unknown subcommand '%s' (expected 'show')", argv[1]);
  for (int i = 2; i < argc; i++)
    {
      const char *a = argv[i];
      if (options && cli_is_help(a))
        {
          usage(stdout);
          return TARS_EXIT_OK;
        }
      if (options && strcmp(a, "--json") == 0)
        json = true;
      else if (options && strcmp(a, "--") == 0)
        options = false;
      else if (options && a[0] == '-' && a[1] != '\0')
        return cli_usage_error("changes show: unknown option '%s'", a);
      else if (dir == NULL)
        dir = a;
      else
        return cli_usage_error("changes show: unexpected argument '%s'", a);
    }
  if (dir == NULL || dir[0] == '\0')
    return cli_usage_error("changes show: missing DIR");
  return show(dir, json);
}
