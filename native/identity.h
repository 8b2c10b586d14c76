/*
 * What a file IS, for fdswap: inode numbers and mount ids as the kernel reports them (never a path
 * the app controls), the ChaosFS worker's backing fds indexed by inode, and the app's credentials
 * for opening its counterpart with no more power than the app itself has.
 */
#ifndef IOCHAOS_IDENTITY_H
#define IOCHAOS_IDENTITY_H

#include <sys/resource.h>
#include <sys/types.h>
#include <stdint.h>

/* A lock an open file holds, from a "lock:" line of its fdinfo. */
struct fd_lock {
	char kind;	     /* 'F' flock, 'O' OFD (F_OFD_SETLK), 'P' POSIX (F_SETLK), '?' a lease or else */
	int write;	     /* exclusive */
	long long start, end; /* bytes [start, end]; end -1: to EOF */
};
#define FDINFO_MAX_LOCKS 8

/* The fields of /proc/.../fdinfo/N fdswap uses; ino 0 = not shown. */
struct fdinfo {
	long long pos;
	int flags;
	int mnt_id;
	unsigned long long ino;
	int locked; /* how many "lock:" lines */
	struct fd_lock locks[FDINFO_MAX_LOCKS]; /* the first of them */
};

/* Parses an fdinfo text. */
void fdinfo_parse(const char *text, struct fdinfo *out);

/*
 * Opens `path` (a magic link such as /proc/PID/cwd or /proc/PID/map_files/A-B) O_PATH and reads
 * the mount id and inode of what it points to from our own fdinfo: no call reaches the file system,
 * so it works on a FUSE mount whose server is dead (where stat says ENOTCONN). Returns the O_PATH
 * fd (caller closes) or -1.
 */
int open_identity(const char *path, struct fdinfo *out);

/* The file-system credentials of a process (fsuid, fsgid, supplementary groups, and its effective
 * capabilities: an app running as root with CAP_DAC_OVERRIDE may open what it likes, one without
 * may not). */
struct creds {
	uid_t fsuid;
	gid_t fsgid;
	gid_t *groups;
	int ngroups;
	uint64_t cap_eff;
};

/* Reads them from /proc/PID/status. 0 or -1. */
int creds_of(pid_t pid, struct creds *out);
void creds_free(struct creds *c);

/* Remembers this helper's own credentials; call once in main before any thread starts. */
void creds_init(void);

/*
 * Switches the CALLING THREAD (raw syscalls: fsuid, groups and capabilities are per thread in the
 * kernel; glibc's wrappers would broadcast setgroups to every thread) to c, without
 * CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER. 0, or -1 with errno (the thread is then
 * put back as it was). CAP_SYS_PTRACE stays: it is what lets us read the target's /proc entries.
 */
int creds_become(const struct creds *c);
/* Puts the calling thread back to the helper's own credentials. 0 or -1. */
int creds_restore(void);

/* RLIMIT_NOFILE of pid from /proc/PID/limits (prlimit needs CAP_SYS_RESOURCE over another uid). */
int nofile_limit_of(pid_t pid, struct rlimit *out);

/*
 * The ChaosFS worker's open backing files on one device and mount, by inode: the files (and
 * directories) the app has open through ChaosFS, held by the worker whatever happened to their
 * names since.
 */
struct backing_file {
	unsigned long long ino;
	int fd; /* in the worker */
	unsigned mode;
};

struct backing {
	pid_t pid;
	int pidfd;
	struct backing_file *v;
	size_t n;
};

/* Lists /proc/PID/fd of the worker; keeps regular files and directories on (dev, mnt_id). */
int backing_scan(pid_t pid, dev_t dev, int mnt_id, struct backing *out, char *err, size_t errlen);
/* The backing file with this inode, or NULL. */
const struct backing_file *backing_find(const struct backing *b, unsigned long long ino);

#endif
