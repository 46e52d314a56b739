/* What several unit tests share.  */
#ifndef TARS_TESTUTIL_H
#define TARS_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Remove NAME (a file, or a directory and everything below it) beneath the directory DFD,
 * never following a symlink.  Errors are ignored: it cleans up after a test.  */
void test_rm_tree_at(int dfd, const char *name);

/* Run the shell command made from FMT; the test fails (cmocka's fail_msg) when it does not exit 0.
 */
void test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mkdir -p PATH (mode 0755); the test fails when it cannot be made.  */
void test_mkdirs(const char *path);
/* Write LEN bytes of CONTENT to PATH (its directories made first) with MODE.  */
void test_write_file(const char *path, const char *content, size_t len, mode_t mode);

#endif
