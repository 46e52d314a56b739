/* tars runtime: changesets.
 *
 * A changeset is a directory: manifest.json and objects/<sha256> holding the new contents of
 * regular files.  manifest.json:
 *
 *   { "version": 1,
 *     "entries": [ { "path": "src/a.c",          relative, normalised, UTF-8
 *                    "op": "create" | "modify" | "delete" | "mkdir" | "chmod" | "symlink",
 *                    "type": "file" | "dir" | "symlink",   what the path is after (before, for
 *                                                          "delete")
 *                    "mode": "0644",                       permission bits (not for delete)
 *                    "size": 123,                          bytes of new content (files)
 *                    "sha256": "...",                      of the new content (files), or null
 *                    "base_sha256": "...",                 of the content the sandbox saw, or
 *                                                          null when the path did not exist or
 *                                                          was not a regular file
 *                    "target": "..." } ] }                 symlinks only
 *
 * Entries are sorted by path, except that deletions come deepest first.  */
#ifndef TARS_CHANGES_H
#define TARS_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "tars/error.h"

/* Capture the changes an overlay's upper layer holds relative to its lower layers.
 * UPPER_DFD: the upper directory; LOWER_DFDS: the lower layers, topmost first (as overlayfs
 * orders them); OUT_DFD: an empty directory to write the changeset into.
 * Whiteouts (0/0 character devices, or files with an overlay.whiteout xattr) are deletions;
 * directories with overlay.opaque="y" replace the lower tree; both the trusted. and the user.
 * xattr namespaces are read.  Device nodes, fifos, sockets, setuid and setgid files, renamed
 * directories (overlay.redirect) and names that are not valid UTF-8 or hold control characters are
 * refused with an error naming the path.  */
int tars_changes_capture (int upper_dfd, const int *lower_dfds, size_t n_lowers, int out_dfd,
                          uint64_t *n_entries, struct tars_error *err);

#endif
