/*
 * fdswap's view of one target process: the fds and cwd it will move from
 * mount A to mount B, and what it leaves alone.
 */
#ifndef IOCHAOS_FDSWAP_H
#define IOCHAOS_FDSWAP_H

#include "common.h"
#include "identity.h"

#include <sys/types.h>

/* Largest number of fds one SCM_RIGHTS message carries (the kernel's SCM_MAX_FD). */
#define FDS_PER_MSG 253

/* What an entry or skip is when it is not an fd (the report's "fd" field). */
#define FD_CWD (-1)
#define FD_ROOT (-2)
#define FD_MAP (-3)

/* An fd (or the cwd, or a file mapping) to swap. */
struct entry {
	int fd;		 /* >= 0, FD_CWD or FD_MAP */
	char *path;	 /* as the target sees it */
	unsigned long long ino; /* of the file the target holds (fdinfo), the identity to find */
	const char *via; /* "backing" or "path": how its counterpart was found */
	int flags;	 /* f_flags from fdinfo, O_CLOEXEC removed */
	int cloexec;	 /* FD_CLOEXEC on the target's fd */
	long long pos;	 /* offset copied during the stop, -1 if none */
	int held_old;	 /* our pidfd_getfd() copy of the target's open file */
	int held_new;	 /* the same file opened on mount B, by us */
	int spare;	 /* where held_new landed in the target, -1 before */
	int isdir;
	int prepared;	 /* prepare() has run (in parallel, before the batch loop) */
	/* FD_MAP: the mapping [lo, hi) at file offset off, its protection and MAP_SHARED or not */
	unsigned long lo, hi, off;
	int prot, shared;
	/* An fd that shares its open file (offset, flags, flock) with another: that one's index in
	 * this process (-1 if none), or its slot among the files moved for earlier processes (-1). */
	long share, moved_slot;
	int keep_new;	 /* held_new stays open past its batch: later fds share it */
	int nlocks;	 /* flock and OFD locks to take on the new file, read in the stop */
	struct fd_lock locks[FDINFO_MAX_LOCKS];
	const char *dropped; /* why it was not swapped after all (NULL: swapped); a failure */
	char dropped_buf[160];
};

struct skip {
	int fd; /* FD_CWD, FD_ROOT, FD_MAP */
	char *path;
	char *reason;
	int failed; /* it is on the from-mount and stays there */
	unsigned long long ino;
};

struct proc {
	pid_t pid;
	pid_t t0; /* the thread we run code in */
	int pidfd; /* of t0, for pidfd_getfd */
	struct entry *e;
	size_t n, cap;
	struct skip *s;
	size_t ns, scap;
	int nthreads;
	long long pause_us, pause_max_us, hijack_us;
	/* where the pause went: stopping threads, checking fds + offsets, dup3s */
	long long stop_us, check_us, dup_us;
	int batches;
	struct creds cr;	/* the target's, for every open made on its behalf */
	int from_whole;		/* everything on the from-mount is the volume (mounted at PATH, or detached) */
	const char *status;
	char error[512];
};

#endif
