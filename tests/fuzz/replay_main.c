/* A stand-in for libFuzzer's main, for compilers without it: runs LLVMFuzzerTestOneInput once on
 * every regular file of the directories (or files) given as arguments, so that the seed corpus
 * and the crashes added to it replay as regression tests in every build tree.  */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    {
      fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
      return -1;
    }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  for (size_t r; buf != NULL && (r = fread(buf + len, 1, cap - len, f)) > 0;)
    {
      len += r;
      if (len == cap)
        {
          uint8_t *bigger = realloc(buf, cap *= 2);
          if (bigger == NULL)
            free(buf);
          buf = bigger;
        }
    }
  int failed = buf == NULL || ferror(f);
  fclose(f);
  if (failed)
    {
      fprintf(stderr, "replay: %s: cannot read\n", path);
      free(buf);
      return -1;
    }
  /* An exact-size copy, so that AddressSanitizer sees a read past the end of the input.  */
  uint8_t *data = malloc(len ? len : 1);
  if (data == NULL)
    {
      free(buf);
      return -1;
    }
  memcpy(data, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(data, len);
  free(data);
  return 0;
}

int
main(int argc, char **argv)
{
  size_t runs = 0;
  int failed = 0;

  for (int i = 1; i < argc; i++)
    {
      struct stat st;
      if (stat(argv[i], &st) < 0)
        {
          fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
          failed = 1;
          continue;
        }
      if (!S_ISDIR(st.st_mode))
        {
          failed |= run_file(argv[i]) < 0;
          runs++;
          continue;
        }
      struct dirent **names;
      int n = scandir(argv[i], &names, NULL, alphasort);
      if (n < 0)
        {
          fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
          failed = 1;
          continue;
        }
      for (int j = 0; j < n; j++)
        {
          char path[4096];
          snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
          if (names[j]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            {
              failed |= run_file(path) < 0;
              runs++;
            }
          free(names[j]);
        }
      free(names);
    }
  printf("replay: %zu inputs%s\n", runs, failed ? ", some could not be read" : "");
  return failed || runs == 0;
}
