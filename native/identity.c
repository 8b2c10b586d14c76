#define _GNU_SOURCE
#include "identity.h"
#include "common.h"
#include "kernel.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* "\t1: FLOCK  ADVISORY  WRITE 23062 fe:00:2146657 0 EOF" (fs/locks.c, lock_get_status). Anything
 * it cannot read is kind '?', which no one carries. */
static void lock_parse(const char *l, struct fd_lock *out)
{
	char kind[16], mode[16], rw[16], end[24];
	long long start;
	*out = (struct fd_lock){.kind = '?'};
	if (sscanf(l, " %*d: %15s %15s %15s %*d %*x:%*x:%*u %lld %23s", kind, mode, rw, &start, end) != 5 ||
	    strcmp(mode, "ADVISORY") != 0 || (strcmp(rw, "READ") != 0 && strcmp(rw, "WRITE") != 0))
		return;
	out->write = !strcmp(rw, "WRITE");
	out->start = start;
	if (!strcmp(end, "EOF"))
		out->end = -1;
	else if (sscanf(end, "%lld", &out->end) != 1)
		return;
	out->kind = !strcmp(kind, "FLOCK") ? 'F' : !strcmp(kind, "OFDLCK") ? 'O' : !strcmp(kind, "POSIX") ? 'P' : '?';
}

void fdinfo_parse(const char *text, struct fdinfo *out)
{
	memset(out, 0, sizeof *out);
	out->pos = -1;
	out->mnt_id = -1;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, "pos:", 4))
			out->pos = strtoll(l + 4, NULL, 10);
		else if (!strncmp(l, "flags:", 6))
			out->flags = (int)strtol(l + 6, NULL, 8);
		else if (!strncmp(l, "mnt_id:", 7))
			out->mnt_id = atoi(l + 7);
		else if (!strncmp(l, "ino:", 4))
			out->ino = strtoull(l + 4, NULL, 10);
		else if (!strncmp(l, "lock:", 5)) {
			if (out->locked < FDINFO_MAX_LOCKS)
				lock_parse(l + 5, &out->locks[out->locked]);
			out->locked++;
		}
	}
}

int open_identity(const char *path, struct fdinfo *out)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char q[64], buf[4096];
	snprintf(q, sizeof q, "/proc/self/fdinfo/%d", fd);
	if (read_small(AT_FDCWD, q, buf, sizeof buf) < 0) {
		close(fd);
		return -1;
	}
	fdinfo_parse(buf, out);
	return fd;
}

/* The value after "Key:" in a /proc/PID/status text: field `n` (0-based) of it. */
static int status_field(const char *status, const char *key, int n, unsigned long *out)
{
	const char *l = strstr(status, key);
	if (!l)
		return -1;
	l += strlen(key);
	for (int i = 0; i <= n; i++) {
		char *end;
		unsigned long v = strtoul(l, &end, 10);
		if (end == l)
			return -1;
		*out = v;
		l = end;
	}
	return 0;
}

int creds_of(pid_t pid, struct creds *out)
{
	memset(out, 0, sizeof *out);
	char q[64];
	/* Groups can be long (up to 65536 of them): read the whole file. */
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	snprintf(q, sizeof q, "/proc/%d/status", pid);
	unsigned long uid, gid;
	if (read_small(AT_FDCWD, q, buf, cap) < 0 || status_field(buf, "\nUid:", 3, &uid) ||
	    status_field(buf, "\nGid:", 3, &gid)) {
		free(buf);
		errno = errno ? errno : EINVAL;
		return -1;
	}
	out->fsuid = (uid_t)uid;
	out->fsgid = (gid_t)gid;
	const char *ce = strstr(buf, "\nCapEff:");
	out->cap_eff = ce ? strtoull(ce + 8, NULL, 16) : 0;
	const char *g = strstr(buf, "\nGroups:");
	if (g) {
		g += 8;
		size_t n = 0, gcap = 16;
		out->groups = malloc(gcap * sizeof *out->groups);
		for (;;) {
			char *end;
			unsigned long v = strtoul(g, &end, 10);
			if (end == g || !out->groups)
				break;
			if (n == gcap) {
				gcap *= 2;
				gid_t *ng = realloc(out->groups, gcap * sizeof *ng);
				if (!ng)
					break;
				out->groups = ng;
			}
			out->groups[n++] = (gid_t)v;
			g = end;
		}
		out->ngroups = (int)n;
	}
	free(buf);
	return 0;
}

void creds_free(struct creds *c)
{
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
}

static struct {
	uid_t fsuid;
	gid_t fsgid;
	gid_t *groups;
	int ngroups;
	struct __user_cap_data_struct caps[2];
} own;

static int capget_self(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	return (int)syscall(SYS_capget, &h, d);
}

static int capset_self(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	return (int)syscall(SYS_capset, &h, d);
}

void creds_init(void)
{
	own.fsuid = (uid_t)syscall(SYS_setfsuid, -1);
	own.fsgid = (gid_t)syscall(SYS_setfsgid, -1);
	int n = getgroups(0, NULL);
	own.groups = calloc(n > 0 ? (size_t)n : 1, sizeof *own.groups);
	own.ngroups = own.groups && n > 0 ? getgroups(n, own.groups) : 0;
	if (own.ngroups < 0)
		own.ngroups = 0;
	if (capget_self(own.caps) != 0)
		die(EXIT_FAILED, "capget: %s", strerror(errno));
}

/* Sets fsuid/fsgid (they have no error return: read back to check). */
static int set_fs_ids(uid_t uid, gid_t gid)
{
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
	if ((gid_t)syscall(SYS_setfsgid, -1) != gid || (uid_t)syscall(SYS_setfsuid, -1) != uid) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

#define CAPBIT(c) (1u << ((c) & 31))

int creds_become(const struct creds *c)
{
	if (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) != 0)
		return -1;
	if (set_fs_ids(c->fsuid, c->fsgid) != 0) {
		int e = errno;
		creds_restore();
		errno = e;
		return -1;
	}
	/* The kernel drops the file capabilities itself when fsuid leaves 0, not for an app that runs
	 * as root: keep each only where the app itself has it in its effective set. */
	struct __user_cap_data_struct d[2];
	memcpy(d, own.caps, sizeof d);
	static const int file_caps[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER};
	for (size_t i = 0; i < sizeof file_caps / sizeof *file_caps; i++)
		if (!(c->cap_eff & (1ull << file_caps[i])))
			d[0].effective &= ~CAPBIT(file_caps[i]);
	if (capset_self(d) != 0) {
		int e = errno;
		creds_restore();
		errno = e;
		return -1;
	}
	return 0;
}

int creds_restore(void)
{
	int rc = 0;
	if (syscall(SYS_setgroups, (size_t)own.ngroups, own.groups) != 0)
		rc = -1;
	if (set_fs_ids(own.fsuid, own.fsgid) != 0)
		rc = -1;
	if (capset_self(own.caps) != 0)
		rc = -1;
	return rc;
}

int nofile_limit_of(pid_t pid, struct rlimit *out)
{
	char q[64], buf[4096];
	snprintf(q, sizeof q, "/proc/%d/limits", pid);
	if (read_small(AT_FDCWD, q, buf, sizeof buf) < 0)
		return -1;
	const char *l = strstr(buf, "Max open files");
	if (!l) {
		errno = EINVAL;
		return -1;
	}
	l += strlen("Max open files");
	rlim_t v[2];
	for (int i = 0; i < 2; i++) {
		while (*l == ' ')
			l++;
		if (!strncmp(l, "unlimited", 9)) {
			v[i] = RLIM_INFINITY;
			l += 9;
			continue;
		}
		char *end;
		v[i] = (rlim_t)strtoull(l, &end, 10);
		if (end == l) {
			errno = EINVAL;
			return -1;
		}
		l = end;
	}
	out->rlim_cur = v[0];
	out->rlim_max = v[1];
	return 0;
}

static int by_ino(const void *a, const void *b)
{
	unsigned long long x = ((const struct backing_file *)a)->ino;
	unsigned long long y = ((const struct backing_file *)b)->ino;
	return x < y ? -1 : x > y;
}

int backing_scan(pid_t pid, dev_t dev, int mnt_id, struct backing *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->pid = pid;
	out->pidfd = sys_pidfd_open(pid, 0);
	char q[64];
	snprintf(q, sizeof q, "/proc/%d/fd", pid);
	DIR *d = out->pidfd >= 0 ? opendir(q) : NULL;
	if (!d) {
		snprintf(err, errlen, "--backing-of %d: %s", pid, strerror(errno));
		if (out->pidfd >= 0)
			close(out->pidfd);
		out->pidfd = -1;
		return -1;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char p[64];
		snprintf(p, sizeof p, "/proc/%d/fd/%d", pid, atoi(de->d_name));
		struct statx sx;
		/* Follows the magic link: the worker's backing files are on the original volume, not on
		 * a FUSE mount, so this never waits for a file-system server. */
		if (statx(AT_FDCWD, p, AT_NO_AUTOMOUNT, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) != 0)
			continue;
		if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev || (int)sx.stx_mnt_id != mnt_id ||
		    (!S_ISREG(sx.stx_mode) && !S_ISDIR(sx.stx_mode)))
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 256;
			struct backing_file *nv = realloc(out->v, cap * sizeof *nv);
			if (!nv)
				die(EXIT_FAILED, "out of memory");
			out->v = nv;
		}
		out->v[out->n++] = (struct backing_file){sx.stx_ino, atoi(de->d_name), sx.stx_mode};
	}
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, by_ino);
	return 0;
}

const struct backing_file *backing_find(const struct backing *b, unsigned long long ino)
{
	struct backing_file key = {.ino = ino};
	return b->n ? bsearch(&key, b->v, b->n, sizeof *b->v, by_ino) : NULL;
}
