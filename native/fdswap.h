/*
 * fdswap's view of one target process: the fds and cwd it will move from
 * mount A to mount B, and what it leaves alone.
 */
#ifndef IOCHAOS_FDSWAP_H
#define IOCHAOS_FDSWAP_H

#include "common.h"

#include <sys/types.h>

/* Largest number of fds one SCM_RIGHTS message carries (the kernel's SCM_MAX_FD). */
#define FDS_PER_MSG 253

/* An fd (or the cwd, fd == -1) to swap. */
struct entry {
	int fd;
	char *path;	 /* as the target sees it */
	int flags;	 /* f_flags from fdinfo, O_CLOEXEC removed */
	int cloexec;	 /* FD_CLOEXEC on the target's fd */
	long long pos;	 /* offset copied during the stop, -1 if none */
	int held_old;	 /* our pidfd_getfd() copy of the target's open file */
	int held_new;	 /* the same file opened on mount B, by us */
	int spare;	 /* where held_new landed in the target, -1 before */
	int isdir;
	int prepared;	 /* prepare() has run (in parallel, before the batch loop) */
	const char *dropped; /* why it was not swapped after all (NULL: swapped) */
	char dropped_buf[96];
};

struct skip {
	int fd; /* -1: cwd, -2: root, -3: a mapping */
	char *path;
	char *reason;
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
	const char *status;
	char error[512];
};

#endif
