#include "kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a mountinfo field, turning \ooo escapes back into bytes. */
static void unescape(char *dst, size_t size, const char *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		if (src[i] == '\\' && i + 3 < n && src[i + 1] >= '0' &&
		    src[i + 1] <= '7') {
			dst[o++] = (char)((src[i + 1] - '0') * 64 + (src[i + 2] - '0') * 8 +
					  (src[i + 3] - '0'));
			i += 3;
		} else {
			dst[o++] = src[i];
		}
	}
	dst[o] = 0;
}

static int parse_line(char *line, struct mountinfo *m)
{
	char *f[12];
	int n = 0;
	char *save = NULL;
	char *sep = strstr(line, " - ");
	if (!sep)
		return -1;
	*sep = 0;
	for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n < 5)
		return -1;
	m->id = atoi(f[0]);
	m->parent = atoi(f[1]);
	if (sscanf(f[2], "%u:%u", &m->major, &m->minor) != 2)
		return -1;
	unescape(m->root, sizeof m->root, f[3], strlen(f[3]));
	unescape(m->mountpoint, sizeof m->mountpoint, f[4], strlen(f[4]));
	char *rest = sep + 3;
	save = NULL;
	char *fs = strtok_r(rest, " ", &save);
	char *src = strtok_r(NULL, " ", &save);
	snprintf(m->fstype, sizeof m->fstype, "%s", fs ? fs : "");
	if (src)
		unescape(m->source, sizeof m->source, src, strlen(src));
	else
		m->source[0] = 0;
	return 0;
}

/* Finds the first line whose mount id (by_parent: parent id) is `id`. */
static int mountinfo_scan(int fd, int id, int by_parent, struct mountinfo *out)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	for (;;) {
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *sp = strchr(line, ' ');
		if ((by_parent ? (sp ? atoi(sp + 1) : -1) : atoi(line)) != id)
			continue;
		int rc = parse_line(line, out);
		free(buf);
		if (rc)
			errno = EINVAL;
		return rc;
	}
	free(buf);
	errno = ENOENT;
	return -1;
}

int mountinfo_find(int fd, int id, struct mountinfo *out)
{
	return mountinfo_scan(fd, id, 0, out);
}

int mountinfo_find_child(int fd, int parent, struct mountinfo *out)
{
	return mountinfo_scan(fd, parent, 1, out);
}

int mount_id_of(int dirfd, const char *path, int *mnt_id, int *is_mount_root)
{
	struct statx sx;
	int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (path[0] ? 0 : AT_EMPTY_PATH);
	if (statx(dirfd, path, flags, STATX_MNT_ID, &sx) != 0)
		return -1;
	if (!(sx.stx_mask & STATX_MNT_ID)) {
		errno = ENOSYS;
		return -1;
	}
	*mnt_id = (int)sx.stx_mnt_id;
	if (is_mount_root)
		*is_mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
				 (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	return 0;
}
