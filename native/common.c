#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void jb_grow(struct jbuf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		/* Out of memory while reporting: nothing sensible left to print. */
		fputs("{\"ok\":false,\"error\":\"out of memory\"}\n", stdout);
		_exit(EXIT_FAILED);
	}
	b->s = s;
	b->cap = cap;
}

void jb_raw(struct jbuf *b, const char *s)
{
	size_t n = strlen(s);
	jb_grow(b, n);
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

void jb_fmt(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	jb_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void jb_strn(struct jbuf *b, const char *s, size_t n)
{
	jb_grow(b, n * 6 + 2);
	b->s[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			b->s[b->len++] = '\\';
			b->s[b->len++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			b->len += (size_t)sprintf(b->s + b->len, "\\u%04x", c);
		} else if (c >= 0x80) {
			/*
			 * File names are bytes, not UTF-8. Escaping high bytes as
			 * \u00XX keeps the output valid JSON; a reader maps them back
			 * with latin1 (the wrapper does).
			 */
			b->len += (size_t)sprintf(b->s + b->len, "\\u%04x", c);
		} else {
			b->s[b->len++] = (char)c;
		}
	}
	b->s[b->len++] = '"';
	b->s[b->len] = 0;
}

void jb_str(struct jbuf *b, const char *s)
{
	jb_strn(b, s, strlen(s));
}

void die(int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct jbuf b = {0};
	jb_raw(&b, "{\"ok\":false,\"error\":");
	jb_str(&b, msg);
	jb_raw(&b, "}\n");
	fputs(b.s, stdout);
	fflush(stdout);
	fprintf(stderr, "%s\n", msg);
	exit(code);
}

const char *path_problem(const char *path)
{
	if (!path || path[0] != '/')
		return "PATH must be absolute";
	if (strcmp(path, "/") == 0)
		return "PATH is /: refusing to put a file system over the whole root";
	const char *p = path;
	while (*p) {
		/* p points at a '/' */
		const char *c = p + 1;
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0)
			return "PATH must be canonical (no \"//\" and no trailing \"/\")";
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "PATH must be canonical (no \".\" or \"..\" components)";
		p = c + n;
	}
	if (strlen(path) >= 4000)
		return "PATH is too long";
	return NULL;
}

ssize_t read_small(int dirfd, const char *path, char *buf, size_t size)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off + 1 < size) {
		ssize_t n = read(fd, buf + off, size - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = 0;
	close(fd);
	return (ssize_t)off;
}
