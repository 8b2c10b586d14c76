/*
 * Path globs in C with the meaning of sidecar/faults/glob.ts (picomatch's, `dot: true`), matched in
 * linear time by a Thompson NFA, so the rules' path test runs on the FUSE threads without JS.
 * test/fuse3/glob.test.ts checks both matchers agree on a table of globs and paths.
 *
 * One difference: the POSIX classes [[:alpha:]], [[:alnum:]], [[:lower:]], [[:upper:]] and [[:word:]]
 * test non-ASCII characters with glibc's C.UTF-8 classes, not with Unicode's \p{L} / \p{N}.
 */
#ifndef IOCHAOS_FUSE3_GLOB_H
#define IOCHAOS_FUSE3_GLOB_H
#include <stddef.h>

struct glob;

/* Compiles `pattern`; NULL with a message naming what is wrong in `err`. */
struct glob *glob_compile(const char *pattern, char *err, size_t errlen);
int glob_match(const struct glob *g, const char *path);
void glob_free(struct glob *g);
#endif
