/*
 * Shared by the iochaos native helpers: JSON output and error reporting.
 *
 * Every helper prints exactly one JSON object on stdout. On failure it is
 * {"ok":false,"error":"..."} and the exit code is non-zero, so the TypeScript
 * wrapper can always parse stdout and turn a failure into NativeHelperError.
 */
#ifndef IOCHAOS_COMMON_H
#define IOCHAOS_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit codes shared by all helpers (documented in README.md). */
#define EXIT_USAGE 2    /* bad command line */
#define EXIT_REFUSED 3  /* the request is refused: nothing was changed */
#define EXIT_FAILED 4   /* a system call failed: nothing was left changed */
#define EXIT_PARTIAL 5  /* fdswap only: some processes failed, see the report */

/* Buffered JSON writer on top of a growing string. */
struct jbuf {
	char *s;
	size_t len, cap;
};

void jb_raw(struct jbuf *b, const char *s);
void jb_fmt(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, escaping everything JSON requires. */
void jb_str(struct jbuf *b, const char *s);
void jb_strn(struct jbuf *b, const char *s, size_t n);

/* Prints {"ok":false,"error":msg} on stdout, msg on stderr, and exits with code. */
void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

/*
 * Checks PATH is absolute and canonical ("/a/b": no ".", "..", "//" or trailing
 * slash) and not "/". Returns NULL if fine, else why not.
 */
const char *path_problem(const char *path);

/* Reads a small file into buf (NUL-terminated). Returns bytes read or -1. */
ssize_t read_small(int dirfd, const char *path, char *buf, size_t size);

#endif
