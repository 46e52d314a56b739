/* What several unit tests share.  */
#ifndef TARS_TESTUTIL_H
#define TARS_TESTUTIL_H

/* Remove NAME (a file, or a directory and everything below it) beneath the directory DFD,
 * never following a symlink.  Errors are ignored: it cleans up after a test.  */
void test_rm_tree_at(int dfd, const char *name);

#endif
