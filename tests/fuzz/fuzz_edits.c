/* libFuzzer target for the edit formats: a model's answer through tars_answer_parse in each
 * format, and the edits it gives through tars_edits_apply against a file the input also holds.
 *
 * The input is one byte of options (the format asked for, whether a default path is given,
 * whether the files the answer names exist), then the answer, then, after a line
 * "@@@@FILE@@@@", the content every file the answer names has.  Besides the sanitizers' findings
 * it checks what edits.h and answer.h promise: a parse gives at least one edit, each with a path
 * and the text its kind needs, or nothing; an application gives either every changed file and
 * no failure, or failures with their messages, the feedback, and no file at all; a report per
 * edit; contents NUL-terminated at their length.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/answer.h"
#include "model/edits.h"
#include "tars/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sep[] = "\n@@@@FILE@@@@\n";
static const char default_file[] = "#include <stdio.h>\n\nint\nmain(void)\n{\n  return 0;\n}\n";

struct files
{
  const char *content;
  size_t len;
  bool exist;
};

static int
reader(void *ctx, const char *path, char **content, size_t *len, struct tars_error *err)
{
  const struct files *f = ctx;
  if (!f->exist || path[0] == 'n') /* "new..." never exists: creations are exercised too */
    return 0;
  char *c = malloc(f->len + 1);
  if (c == NULL)
    abort();
  memcpy(c, f->content, f->len);
  c[f->len] = '\0';
  *content = c;
  *len = f->len;
  return 1;
}

static void
check_edits(const struct tars_edits *l)
{
  if (l->n == 0 || l->v == NULL)
    abort();
  for (size_t i = 0; i < l->n; i++)
    {
      const struct tars_edit *e = &l->v[i];
      if (e->path == NULL || e->answer_line == 0)
        abort();
      switch (e->kind)
        {
        case TARS_EDIT_SEARCH_REPLACE:
          if (e->search == NULL || e->replace == NULL)
            abort();
          break;
        case TARS_EDIT_HUNK:
          if (e->n_lines == 0)
            abort();
          /* FALLTHROUGH */
        case TARS_EDIT_DELETE:
          for (size_t k = 0; k < e->n_lines; k++)
            if (e->lines[k].text == NULL || strchr(" -+", e->lines[k].op) == NULL)
              abort();
          break;
        case TARS_EDIT_WHOLE_FILE:
        case TARS_EDIT_CREATE:
          if (e->content == NULL)
            abort();
          break;
        }
    }
}

static void
check_result(const struct tars_edits *l, int r, const struct tars_edit_result *res,
             const struct tars_error *err)
{
  if (res->n_reports != l->n)
    abort();
  if (r == 0)
    {
      if (res->n_failed != 0 || res->feedback != NULL)
        abort();
      for (size_t i = 0; i < res->n_reports; i++)
        if (res->reports[i].status != TARS_EDIT_APPLIED || res->reports[i].message != NULL)
          abort();
      for (size_t i = 0; i < res->n_files; i++)
        {
          const struct tars_file_change *c = &res->files[i];
          if (c->path == NULL)
            abort();
          if (c->op == TARS_FILE_DELETE ? c->content != NULL
                                        : c->content == NULL || c->content[c->len] != '\0')
            abort();
        }
      return;
    }
  if (err->kind != TARS_ERR_REFUSED)
    abort(); /* in memory, nothing else can fail */
  if (res->n_files != 0 || res->files != NULL || res->n_failed == 0 || res->feedback == NULL)
    abort();
  size_t failed = 0;
  for (size_t i = 0; i < res->n_reports; i++)
    if (res->reports[i].status != TARS_EDIT_APPLIED)
      {
        failed++;
        if (res->reports[i].message == NULL ||
            strstr(res->feedback, res->reports[i].message) == NULL)
          abort();
      }
  if (failed != res->n_failed)
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t opt = data[0];
  const char *answer = (const char *)data + 1;
  size_t alen = size - 1;
  struct files f = {default_file, sizeof default_file - 1, !(opt & 8)};
  const char *s = memmem(answer, alen, sep, sizeof sep - 1);
  if (s != NULL)
    {
      f.content = s + sizeof sep - 1;
      f.len = (size_t)(answer + alen - f.content);
      alen = (size_t)(s - answer);
    }

  struct tars_answer_options o = {.format = (enum tars_edit_format)(opt % 3),
                                  .default_path = (opt & 4) ? "src/main.c" : NULL};
  cleanup_edits struct tars_edits l = {0};
  struct tars_error err;
  if (tars_answer_parse(answer, alen, &o, &l, &err) < 0)
    {
      if (l.n != 0 || l.v != NULL || err.kind != TARS_ERR_INVALID || err.msg[0] == '\0')
        abort();
      return 0;
    }
  check_edits(&l);
  cleanup_edit_result struct tars_edit_result res;
  int r = tars_edits_apply(&l, reader, &f, &res, &err);
  check_result(&l, r, &res, &err);
  return 0;
}
