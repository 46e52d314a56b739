/* What several unit tests share.  */
#ifndef TARS_TESTUTIL_H
#define TARS_TESTUTIL_H

/* Remove NAME (a file, or a directory and everything below it) beneath the directory DFD,
 * never following a symlink.  Errors are ignored: it cleans up after a test.  */
void test_rm_tree_at(int dfd, const char *name);

/* Run the shell command made from FMT; the test fails (cmocka's fail_msg) when it does not exit 0.
 */
void test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
