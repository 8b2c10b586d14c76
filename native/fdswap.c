/*
 * iochaos-fdswap: move a running process's open files, cwd and file mappings
 * on one mount (under PATH) to the same files on another mount, with ptrace.
 *
 *   iochaos-fdswap --path PATH --from SPEC --to SPEC --pid PID [--pid PID ...]
 *                  [--backing-of WORKERPID] [--timeout-ms N] [--max-batch N]
 *   SPEC: root:PID  PATH as PID sees it now (the top mount at PATH)
 *         dir:DIR   a directory this helper opens as given, e.g. /proc/W/fd/N
 *         mnt:ID    (--from only) the mount with this id
 *   --backing-of: the ChaosFS worker; files are first looked for among its
 *         open backing fds, by inode (see open_counterpart()).
 *
 * Files are moved by identity, never by a name the app controls: the inode
 * the app holds (fdinfo) must be the inode opened on the other side, and
 * every open is made with the app's credentials (see open_counterpart()).
 *
 * Per process, in three phases, so that only the cheap part has every thread
 * stopped:
 *  0. nothing stopped: list the fds, cwd and mappings on mount A, take our own
 *     copy of each open file (pidfd_getfd) and open its counterpart on B with
 *     the same flags (opening through FUSE is the slow part);
 *  1. one thread stopped: map a scratch page, make a socketpair in the
 *     target, take one end, and pass the new files in with SCM_RIGHTS;
 *  2. every thread stopped: check each fd is still the file we saw (kcmp),
 *     copy the offsets, then one injected blob runs dup3(new, old) for all
 *     of them and fchdir for the cwd; mappings are re-checked in smaps and
 *     mapped over with MAP_FIXED; the other threads are let go right after;
 *  3. one thread stopped: close the spare fds, the socket, the scratch page,
 *     put its registers back and let go.
 * One JSON report on stdout. See README.md for what is left alone and why.
 */
#define _GNU_SOURCE
#include "fdswap.h"
#include "arch.h"
#include "kernel.h"
#include "ptrace.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#define SENTINEL ((int64_t)0x7eadbeef7eadbeefLL)

static const char *g_path;
static size_t g_pathlen;
static int g_from_mnt, g_to_mnt, g_tofd;
static int g_max_batch = 1 << 30;
static pid_t g_backing_pid; /* --backing-of: the ChaosFS worker holding the backing fds, 0 if none */

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n ? n : 1, s);
	if (!p)
		die(EXIT_FAILED, "out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die(EXIT_FAILED, "out of memory");
	return p;
}

/* Makes room for one more element in a growing array of `n` used out of `*cap` (doubling). */
static void *grow(void *v, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : 64;
	v = realloc(v, *cap * elem);
	if (!v)
		die(EXIT_FAILED, "out of memory");
	return v;
}

static void add_skip(struct proc *p, int fd, const char *path, const char *reason, int failed,
		     unsigned long long ino)
{
	p->s = grow(p->s, p->ns, &p->scap, sizeof *p->s);
	p->s[p->ns++] = (struct skip){fd, xstrdup(path), xstrdup(reason), failed, ino};
}

static struct entry *add_entry(struct proc *p, int fd, const char *path, unsigned long long ino)
{
	p->e = grow(p->e, p->n, &p->cap, sizeof *p->e);
	struct entry *e = &p->e[p->n++];
	memset(e, 0, sizeof *e);
	e->fd = fd;
	e->path = xstrdup(path);
	e->ino = ino;
	e->held_old = e->held_new = e->spare = -1;
	e->pos = -1;
	e->share = e->moved_slot = -1;
	return e;
}

/* "PATH" or "PATH/..." as the target sees it; returns the relative part. */
static const char *under_path(const char *link)
{
	if (strncmp(link, g_path, g_pathlen) != 0)
		return NULL;
	if (link[g_pathlen] == 0)
		return ".";
	if (link[g_pathlen] == '/')
		return link + g_pathlen + 1;
	return NULL;
}

/*
 * Whether a file on the from-mount, shown as `link`, belongs to the volume: under PATH, or anywhere
 * when the from-mount is all volume (a ChaosFS mount, or one detached since: its files then show
 * relative to the mount's root).
 */
static int in_volume(const struct proc *p, const char *link)
{
	return link[0] == '/' && (under_path(link) || p->from_whole);
}

#define FAILED_WHY "not swapped: the process failed"
/*
 * File locks. A flock or OFD lock belongs to the open file: it is taken again on the new file, in the
 * stop, through the spare fd, before the dup3 that closes the old one (which lets the old lock go);
 * another holder of a conflicting lock on the new file makes the take fail, and the fd stays. A POSIX
 * (F_SETLK) lock belongs to the process and is let go by ANY close of an fd of its file, our spare's
 * included, so it cannot be carried that way: such an fd stays, and the daemon retries in a moment
 * (SQLite holds its POSIX locks only for a transaction). Leases and what cannot be parsed stay too.
 * Every reason contains "holds file locks": the daemon's retry knows them by it.
 */
#define LOCKED_WHY "holds file locks (closing the old fd would drop them)"
#define POSIX_LOCKED_WHY "holds file locks: a POSIX (F_SETLK) lock, which belongs to the process"

/* Why fi's locks cannot be carried to a new file, or NULL if they can (or there are none). */
static const char *locks_stay_why(const struct fdinfo *fi)
{
	if (fi->locked > FDINFO_MAX_LOCKS)
		return LOCKED_WHY;
	for (int i = 0; i < fi->locked; i++) {
		if (fi->locks[i].kind == 'P')
			return POSIX_LOCKED_WHY;
		if (fi->locks[i].kind == '?')
			return LOCKED_WHY;
	}
	return NULL;
}

/*
 * fd's locks now, into e (the process is stopped: they cannot change until it runs again); returns why
 * they cannot be carried, or NULL. Unreadable counts as locked. Read through a live thread (tid): a
 * zombie main thread's /proc/PID/fdinfo is empty.
 */
static const char *locks_now(pid_t pid, pid_t tid, struct entry *e)
{
	char q[96], info[8192];
	snprintf(q, sizeof q, "/proc/%d/task/%d/fdinfo/%d", pid, tid, e->fd);
	if (read_small(AT_FDCWD, q, info, sizeof info) < 0)
		return LOCKED_WHY;
	struct fdinfo fi;
	fdinfo_parse(info, &fi);
	const char *why = locks_stay_why(&fi);
	if (why)
		return why;
	e->nlocks = fi.locked;
	memcpy(e->locks, fi.locks, sizeof e->locks);
	return NULL;
}

static char task_state(pid_t pid, pid_t tid)
{
	char p[96], buf[512];
	snprintf(p, sizeof p, "/proc/%d/task/%d/stat", pid, tid);
	if (read_small(AT_FDCWD, p, buf, sizeof buf) < 0)
		return 'X';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

/* The live thread ids of pid, or -1. */
static int list_tasks(pid_t pid, pid_t **out)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/task", pid);
	DIR *d = opendir(p);
	if (!d)
		return -1;
	size_t n = 0, cap = 16;
	pid_t *v = xcalloc(cap, sizeof *v);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		v = grow(v, n, &cap, sizeof *v);
		v[n++] = atoi(de->d_name);
	}
	closedir(d);
	*out = v;
	return (int)n;
}

/* ---------- phase 0: what to swap ---------- */

static const char *kind_of(const char *link)
{
	if (!strncmp(link, "socket:", 7))
		return "socket";
	if (!strncmp(link, "pipe:", 5))
		return "pipe";
	if (!strncmp(link, "anon_inode:", 11))
		return "anon inode";
	return "not under PATH";
}

static void scan_fds(struct proc *p)
{
	char dpath[96];
	snprintf(dpath, sizeof dpath, "/proc/%d/task/%d/fd", p->pid, p->t0);
	int dfd = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(dpath, sizeof dpath, "/proc/%d/task/%d/fdinfo", p->pid, p->t0);
	int ifd = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d || ifd < 0) {
		snprintf(p->error, sizeof p->error, "cannot list /proc/%d/task/%d/fd: %s", p->pid,
			 p->t0, strerror(errno));
		if (d)
			closedir(d);
		if (ifd >= 0)
			close(ifd);
		return;
	}
	struct dirent *de;
	char link[PATH_MAX + 32], info[8192];
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		int fd = atoi(de->d_name);
		ssize_t ln = readlinkat(dfd, de->d_name, link, sizeof link - 1);
		if (ln < 0)
			continue; /* closed meanwhile */
		link[ln] = 0;
		if (link[0] != '/') {
			add_skip(p, fd, link, kind_of(link), 0, 0);
			continue;
		}
		if (read_small(ifd, de->d_name, info, sizeof info) < 0)
			continue;
		struct fdinfo fi;
		fdinfo_parse(info, &fi);
		char why[128];
		if (fi.mnt_id == g_to_mnt && under_path(link)) {
			add_skip(p, fd, link, "already on the new mount", 0, fi.ino);
			continue;
		}
		if (fi.mnt_id != g_from_mnt) {
			if (under_path(link)) {
				snprintf(why, sizeof why, "on another mount (mnt %d)", fi.mnt_id);
				add_skip(p, fd, link, why, 0, fi.ino);
			} else {
				add_skip(p, fd, link, "not under PATH", 0, fi.ino);
			}
			continue;
		}
		if (!in_volume(p, link)) {
			add_skip(p, fd, link, "not under PATH", 0, fi.ino);
			continue;
		}
		const char *locked_why = locks_stay_why(&fi);
		if (locked_why) {
			add_skip(p, fd, link, locked_why, 1, fi.ino);
			continue;
		}
		if (fi.flags & O_ASYNC) {
			add_skip(p, fd, link, "O_ASYNC (its signal owner cannot be copied)", 1, fi.ino);
			continue;
		}
		if (!fi.ino) {
			add_skip(p, fd, link, "fdinfo shows no inode number (kernel older than 6.1?)",
				 1, 0);
			continue;
		}
		struct entry *e = add_entry(p, fd, link, fi.ino);
		e->flags = fi.flags & ~O_CLOEXEC;
		e->cloexec = !!(fi.flags & O_CLOEXEC);
		e->pos = fi.pos;
	}
	closedir(d);
	close(ifd);
}

/*
 * Finding the counterpart of a file on the new mount, and why it is safe.
 *
 * The app controls every name in the volume: between reading /proc/PID/fd/N and our open it can
 * rename, unlink or RENAME_EXCHANGE its file with any other (a root-only file, say). So a name only
 * says where to look; what we open must then be PROVEN to be the file the app holds:
 *  1. backing: the ChaosFS worker holds an open backing fd for every file the app has open through
 *     ChaosFS; the one with the app's inode number on the volume's device and mount is that file,
 *     whatever its names are now (renamed, unlinked: the deleted inode itself). It is reopened
 *     through our own copy of the worker's fd (/proc/self/fd/N), never by name.
 *  2. path: the name beneath the new mount's directory (no symlinks, no magic links, no other
 *     mount), and the opened file must have the app's inode number on the new mount's device, else
 *     it is dropped and reported.
 * Both opens run with the app's fsuid, fsgid and groups and without CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH and CAP_FOWNER. The inode check alone is not enough: an inode number is
 * reused once its file is gone (on a dead mount nothing holds it any more), so an app could unlink
 * its file and wait for a root-only file to get the same number at the same name. The credentials
 * alone are not enough either: they stop a file the app may not open, not one it may open but is
 * the wrong file (a file of another app of the same uid, a different file of the same name). With
 * both, the worst an app can get is a file it could have opened itself, with the inode it held.
 */
static dev_t g_todev; /* the device of --to: a counterpart must be on it */

static int to_dev_ok(const struct stat *st)
{
	return st->st_dev == g_todev;
}

static struct backing g_backing;

/* Opens e's counterpart on the new mount; on success sets e->via and returns the fd. */
static int open_counterpart(struct entry *e, const char *rel, int oflags, unsigned *mode)
{
	const struct backing_file *bf = g_backing.pidfd >= 0 ? backing_find(&g_backing, e->ino) : NULL;
	struct stat st;
	if (bf) {
		int mine = sys_pidfd_getfd(g_backing.pidfd, bf->fd);
		if (mine >= 0) {
			char q[64];
			snprintf(q, sizeof q, "/proc/self/fd/%d", mine);
			/* O_NOFOLLOW (kept in f_flags) would refuse the magic link itself. */
			int nf = open(q, oflags & ~O_NOFOLLOW);
			int err = errno;
			close(mine);
			if (nf >= 0 && fstat(nf, &st) == 0 && st.st_ino == e->ino && to_dev_ok(&st)) {
				e->via = "backing";
				*mode = st.st_mode;
				return nf;
			}
			if (nf >= 0) {
				close(nf); /* the worker reused the fd number meanwhile: try the name */
			} else {
				snprintf(e->dropped_buf, sizeof e->dropped_buf,
					 "cannot reopen the worker's backing fd %d: %s", bf->fd,
					 strerror(err));
				e->dropped = e->dropped_buf;
				return -1;
			}
		}
	}
	if (!rel) {
		e->dropped = "its name is not beneath PATH and no backing fd holds it";
		return -1;
	}
	/* A dentry unhashed by the kernel (unlinked, or a failed revalidation under a getattr fault)
	 * shows as "NAME (deleted)": look for NAME first, then the literal name. */
	char stripped[PATH_MAX];
	const char *tries[2] = {rel, NULL};
	size_t rl = strlen(rel), sl = strlen(" (deleted)");
	if (rl > sl && !strcmp(rel + rl - sl, " (deleted)") && rl - sl < sizeof stripped) {
		memcpy(stripped, rel, rl - sl);
		stripped[rl - sl] = 0;
		tries[0] = stripped;
		tries[1] = rel;
	}
	int err = 0;
	unsigned long long other = 0;
	for (int i = 0; i < 2 && tries[i]; i++) {
		int nf = sys_openat2(g_tofd, tries[i], (uint64_t)oflags, 0,
				     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
					     RESOLVE_NO_XDEV);
		if (nf < 0) {
			err = err ? err : errno;
			continue;
		}
		if (fstat(nf, &st) == 0 && st.st_ino == e->ino && to_dev_ok(&st)) {
			e->via = "path";
			*mode = st.st_mode;
			return nf;
		}
		other = st.st_ino;
		close(nf);
	}
	if (other)
		snprintf(e->dropped_buf, sizeof e->dropped_buf,
			 "not the same file on the new mount (inode %llu != %llu)", other, e->ino);
	else
		snprintf(e->dropped_buf, sizeof e->dropped_buf, "cannot open it on the new mount: %s%s",
			 strerror(err), err == ENOENT ? " (renamed or deleted, and no backing fd holds it)" : "");
	e->dropped = e->dropped_buf;
	return -1;
}

/* The relative name to look for on the new mount, or NULL (see in_volume()). */
static const char *rel_of(const struct proc *p, const char *link)
{
	const char *rel = under_path(link);
	if (!rel && p->from_whole && link[0] == '/')
		rel = link[1] ? link + 1 : ".";
	return rel;
}

/* Maps a mapping's protection to the open flags a new mapping of it needs. */
static int map_oflags(const struct entry *e)
{
	return (e->shared && (e->prot & PROT_WRITE) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
}

/* Whether the new file can carry the mapping: tried in our own process, so a file system that
 * refuses (ChaosFS's direct_io refuses MAP_SHARED with ENODEV) never costs the app its mapping. */
static int can_map(struct entry *e, int nf)
{
	size_t len = e->hi - e->lo;
	void *m = mmap(NULL, len, e->prot, e->shared ? MAP_SHARED : MAP_PRIVATE, nf, (off_t)e->off);
	if (m != MAP_FAILED) {
		munmap(m, len);
		return 1;
	}
	if (errno == ENODEV && e->shared)
		e->dropped = "left on the original volume: ChaosFS cannot map shared yet";
	else {
		snprintf(e->dropped_buf, sizeof e->dropped_buf, "cannot map it on the new mount: %s",
			 strerror(errno));
		e->dropped = e->dropped_buf;
	}
	return 0;
}

/*
 * Takes our own copy of the target's open file and opens its counterpart on mount B with the same
 * flags and offset. Done per batch, outside any stop (opening through FUSE is the slow part), by a
 * thread that wears the target's credentials (prepare_worker).
 */
static void prepare(struct proc *p, struct entry *e)
{
	e->prepared = 1;
	if (e->fd >= 0) {
		e->held_old = sys_pidfd_getfd(p->pidfd, e->fd);
		if (e->held_old < 0) {
			snprintf(e->dropped_buf, sizeof e->dropped_buf, "pidfd_getfd: %s",
				 strerror(errno));
			e->dropped = e->dropped_buf;
			return;
		}
	}
	/* The kind of file, when its file system answers (a FUSE mount whose server died says
	 * ENOTCONN, a getattr fault EIO): otherwise the counterpart's, which is the same inode. */
	struct stat st;
	unsigned oldmode = e->held_old >= 0 && fstat(e->held_old, &st) == 0 ? st.st_mode : 0;
	if (oldmode && !S_ISREG(oldmode) && !S_ISDIR(oldmode)) {
		e->dropped = S_ISFIFO(oldmode)	 ? "named pipe (a reopen is another pipe)"
			     : S_ISSOCK(oldmode) ? "unix socket"
			     : S_ISLNK(oldmode)	 ? "O_PATH fd of a symlink"
						 : "device node";
		return;
	}
	int oflags = e->fd == FD_CWD ? O_PATH | O_DIRECTORY | O_CLOEXEC
		     : e->fd == FD_MAP
			     ? map_oflags(e)
			     : (e->flags & ~(O_CLOEXEC | O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) |
				       O_CLOEXEC;
	unsigned mode = 0;
	int nf = open_counterpart(e, rel_of(p, e->path), oflags, &mode);
	if (nf < 0)
		return;
	if (oldmode ? (mode & S_IFMT) != (oldmode & S_IFMT) : !S_ISREG(mode) && !S_ISDIR(mode)) {
		e->dropped = "not the same kind of file on the new mount";
		close(nf);
		return;
	}
	if (e->fd == FD_MAP && !can_map(e, nf)) {
		close(nf);
		return;
	}
	e->held_new = nf;
	e->isdir = S_ISDIR(mode);
	if (e->fd < 0)
		return;
	/* Copy the offset now; the stop only redoes it for files that moved since. */
	off_t pos = lseek(e->held_old, 0, SEEK_CUR);
	e->pos = pos;
	if (pos > 0 && lseek(nf, pos, SEEK_SET) != pos && !e->isdir)
		e->pos = -2; /* retried in the stop, dropped there if it fails again */
}

/*
 * prepare() for entries [from, to) on a few threads. Each open through a FUSE mount is a round trip
 * to its server (about a millisecond through ChaosFS), and they are independent: done one by one they
 * dominated the injection at a thousand fds, while the thread we run code in waits. No ptrace here:
 * only pidfd_getfd, openat2 and lseek, on entries no other thread touches. Each thread takes the
 * target's credentials for the whole run (per thread: see creds_become) and puts its own back.
 */
#define PREPARE_THREADS 8

struct prepare_work {
	struct proc *p;
	size_t to;
	atomic_size_t next;
};

static void *prepare_worker(void *arg)
{
	struct prepare_work *w = arg;
	int as_app = creds_become(&w->p->cr) == 0;
	int err = errno;
	for (;;) {
		size_t i = atomic_fetch_add(&w->next, 1);
		if (i >= w->to)
			break;
		struct entry *e = &w->p->e[i];
		if (e->prepared || e->share >= 0 || e->moved_slot >= 0)
			continue; /* shared ones: prepare_shared(), in order, after the one they share */
		if (!as_app) {
			e->prepared = 1;
			snprintf(e->dropped_buf, sizeof e->dropped_buf,
				 "cannot take the process's credentials (fsuid %u): %s",
				 (unsigned)w->p->cr.fsuid, strerror(err));
			e->dropped = e->dropped_buf;
			continue;
		}
		prepare(w->p, e);
	}
	if (as_app && creds_restore() != 0)
		die(EXIT_FAILED, "cannot restore the helper's credentials: %s", strerror(errno));
	return NULL;
}

static void prepare_parallel(struct proc *p, size_t from, size_t to)
{
	struct prepare_work w = {.p = p, .to = to};
	atomic_init(&w.next, from);
	pthread_t th[PREPARE_THREADS];
	int started = 0;
	/* Threads only pay off with enough files; any that cannot start leave the work to the others. */
	for (int i = 0; i < PREPARE_THREADS && to - from > 16 && i < (int)((to - from) / 16); i++)
		if (pthread_create(&th[started], NULL, prepare_worker, &w) == 0)
			started++;
	prepare_worker(&w);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

static void release(struct entry *e)
{
	if (e->held_old >= 0)
		close(e->held_old);
	e->held_old = -1;
	if (e->held_new >= 0 && !e->keep_new) {
		close(e->held_new);
		e->held_new = -1;
	}
}

/*
 * Shared open files. `cmd > log 2>&1` gives fds 1 and 2 ONE open file, and a fork gives the child the
 * parent's: one offset, one set of flags, one flock. Opened anew per fd, each would write at its own
 * offset over the others' data. So an fd that shares its open file with one already prepared gets a
 * dup of that one's new file, and the new file is shared the same way. Within a process, by kcmp of
 * the two fds; across the processes of one run, by kcmp against our copies of the open files moved
 * for earlier processes (kept, up to MAX_MOVED, for the run).
 */
struct moved {
	unsigned long long ino;
	int held_old, held_new;
};
#define MAX_MOVED 4096
static struct moved *g_moved;
static size_t g_nmoved;

/* Orders fd entries by inode, then by index (qsort_r: only the same inode can be one open file). */
static int by_ino(const void *a, const void *b, void *arg)
{
	const struct entry *e = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	if (e[i].ino != e[j].ino)
		return e[i].ino < e[j].ino ? -1 : 1;
	return i < j ? -1 : i > j;
}

/*
 * Marks each fd of p that shares its open file with an earlier fd of p or a moved one. kcmp runs only
 * between fds of the same inode, found by sorting: a pairwise search was O(n^2) over 10,000 fds.
 */
static void find_shared(struct proc *p)
{
	pid_t me = getpid();
	size_t *idx = xcalloc(p->n ? p->n : 1, sizeof *idx), m = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].fd >= 0)
			idx[m++] = i;
	qsort_r(idx, m, sizeof *idx, by_ino, p->e);
	for (size_t a = 0; a < m; a++) {
		struct entry *e = &p->e[idx[a]];
		/* The earlier fds of its inode come just before it, in index order. */
		for (size_t b = a; b-- > 0 && p->e[idx[b]].ino == e->ino;) {
			struct entry *f = &p->e[idx[b]];
			if (f->share < 0 && f->moved_slot < 0 &&
			    sys_kcmp(p->t0, p->t0, KCMP_FILE, (unsigned long)f->fd, (unsigned long)e->fd) == 0) {
				e->share = (long)idx[b]; /* an open file has one leader */
				f->keep_new = 1;
				break;
			}
		}
		for (size_t k = 0; k < g_nmoved && e->share < 0 && e->moved_slot < 0; k++)
			if (g_moved[k].ino == e->ino &&
			    sys_kcmp(me, p->t0, KCMP_FILE, (unsigned long)g_moved[k].held_old,
				     (unsigned long)e->fd) == 0)
				e->moved_slot = (long)k;
	}
	free(idx);
}

/* Keeps our copies of the open files e moved (old and new), for the processes after this one. */
static void remember_moved(const struct entry *e)
{
	if (e->fd < 0 || e->dropped || e->share >= 0 || e->moved_slot >= 0 || e->held_old < 0 ||
	    e->held_new < 0 || g_nmoved >= MAX_MOVED)
		return;
	if (!g_moved && !(g_moved = calloc(MAX_MOVED, sizeof *g_moved)))
		return;
	int o = fcntl(e->held_old, F_DUPFD_CLOEXEC, 0), n = o < 0 ? -1 : fcntl(e->held_new, F_DUPFD_CLOEXEC, 0);
	if (n < 0) {
		if (o >= 0)
			close(o);
		return; /* out of fds: later processes open their own (the old behaviour) */
	}
	g_moved[g_nmoved++] = (struct moved){e->ino, o, n};
}

/* prepare() for an fd that shares its open file: our copy of it, and a dup of the shared new file. */
static void prepare_shared(struct proc *p, struct entry *e)
{
	e->prepared = 1;
	const struct entry *with = e->share >= 0 ? &p->e[e->share] : NULL;
	int src = with ? with->held_new : g_moved[e->moved_slot].held_new;
	if (with && with->dropped) {
		snprintf(e->dropped_buf, sizeof e->dropped_buf, "shares its open file with fd %d, which stays: %.90s",
			 with->fd, with->dropped);
		e->dropped = e->dropped_buf;
		return;
	}
	e->held_old = sys_pidfd_getfd(p->pidfd, e->fd);
	e->held_new = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 0) : -1;
	if (e->held_old < 0 || e->held_new < 0) {
		snprintf(e->dropped_buf, sizeof e->dropped_buf, "%s: %s",
			 e->held_old < 0 ? "pidfd_getfd" : "taking the shared new file", strerror(errno));
		e->dropped = e->dropped_buf;
		return;
	}
	struct stat st;
	e->isdir = fstat(e->held_new, &st) == 0 && S_ISDIR(st.st_mode);
	e->pos = lseek(e->held_old, 0, SEEK_CUR); /* the new file has it: it is the same open file */
}

/* The cwd: its identity read through our own O_PATH open of /proc/PID/task/T/cwd. */
static void scan_cwd_root(struct proc *p)
{
	char q[96], link[PATH_MAX + 32];
	snprintf(q, sizeof q, "/proc/%d/task/%d/cwd", p->pid, p->t0);
	ssize_t ln = readlink(q, link, sizeof link - 1);
	struct fdinfo fi;
	int held = ln > 0 ? open_identity(q, &fi) : -1;
	if (held >= 0) {
		link[ln] = 0;
		if (fi.mnt_id == g_from_mnt && in_volume(p, link)) {
			struct entry *e = add_entry(p, FD_CWD, link, fi.ino);
			e->held_old = held;
			held = -1;
		} else if (under_path(link) && fi.mnt_id != g_to_mnt) {
			add_skip(p, FD_CWD, link, "cwd on another mount", 0, fi.ino);
		}
	}
	if (held >= 0)
		close(held);
	snprintf(q, sizeof q, "/proc/%d/task/%d/root", p->pid, p->t0);
	ln = readlink(q, link, sizeof link - 1);
	held = ln > 0 ? open_identity(q, &fi) : -1;
	if (held >= 0) {
		link[ln] = 0;
		if (fi.mnt_id == g_from_mnt && in_volume(p, link))
			add_skip(p, FD_ROOT, link, "root directory (chroot) under PATH: not swapped", 1,
				 fi.ino);
		close(held);
	}
}

/*
 * The file mappings of the from-mount (one entry per VMA). Whether each can move is decided in the
 * stop (maps_check), where the process cannot change it any more.
 */
static void scan_maps(struct proc *p)
{
	char q[96];
	snprintf(q, sizeof q, "/proc/%d/task/%d/maps", p->pid, p->t0);
	FILE *f = fopen(q, "re");
	if (!f)
		return;
	char line[PATH_MAX + 256];
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off, ino;
		char perms[8];
		int pathat = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %lu %n", &lo, &hi, perms, &off, &ino, &pathat) <
			    5 ||
		    !ino || !pathat || line[pathat] != '/')
			continue;
		char *path = line + pathat;
		path[strcspn(path, "\n")] = 0;
		snprintf(q, sizeof q, "/proc/%d/map_files/%lx-%lx", p->pid, lo, hi);
		struct fdinfo fi;
		int held = open_identity(q, &fi);
		if (held < 0)
			continue; /* unmapped meanwhile */
		close(held);
		if (fi.mnt_id != g_from_mnt || !in_volume(p, path))
			continue;
		struct entry *e = add_entry(p, FD_MAP, path, fi.ino);
		e->lo = lo;
		e->hi = hi;
		e->off = off;
		e->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		e->shared = perms[3] == 's';
	}
	fclose(f);
}

/* ---------- phases 1-3 ---------- */

/* Scratch page layout in the target. */
#define OFF_CODE 0
#define OFF_SV 128
#define OFF_IOV 192
#define OFF_BYTE 256
#define OFF_MSG 320
#define OFF_CMSG 512
#define OFF_TABLE 4096

struct ctx {
	struct proc *p;
	struct tracee t0;
	arch_regs_t saved;
	unsigned long insn;    /* a syscall instruction in the target */
	unsigned long scratch; /* our mapping in the target */
	size_t scratch_len;
	int target_sock; /* target's socket end, -1 if none */
	int hsock;	 /* our end */
	size_t cap;	 /* table entries that fit */
	struct blob_entry *tab;
};

static int rw_target(pid_t pid, unsigned long addr, void *buf, size_t len, int write)
{
	struct iovec l = {buf, len}, r = {(void *)addr, len};
	ssize_t n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
			  : process_vm_readv(pid, &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -1;
}

/* Finds the bytes of a syscall instruction in an executable mapping, vDSO first:
 * executing it there changes no memory of the target. */
static unsigned long find_syscall_insn(pid_t pid)
{
	char q[64];
	snprintf(q, sizeof q, "/proc/%d/maps", pid);
	FILE *f = fopen(q, "re");
	if (!f)
		return 0;
	char line[PATH_MAX + 256];
	unsigned long found = 0;
	for (int pass = 0; pass < 2 && !found; pass++) {
		rewind(f);
		while (!found && fgets(line, sizeof line, f)) {
			unsigned long lo, hi;
			char perms[8];
			if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[2] != 'x')
				continue;
			int vdso = strstr(line, "[vdso]") != NULL;
			if (pass == 0 ? !vdso : vdso)
				continue;
			size_t len = hi - lo > (1 << 20) ? (1 << 20) : hi - lo;
			unsigned char *buf = malloc(len);
			if (buf && rw_target(pid, lo, buf, len, 0) == 0) {
				unsigned char *m = memmem(buf, len, arch_syscall_insn,
							  ARCH_SYSCALL_INSN_LEN);
				if (m)
					found = lo + (unsigned long)(m - buf);
			}
			free(buf);
		}
	}
	fclose(f);
	return found;
}

static int rsys(struct ctx *c, long nr, long a0, long a1, long a2, long a3, long a4, long a5,
		long *ret)
{
	return tr_syscall(&c->t0, &c->saved, c->insn, nr, a0, a1, a2, a3, a4, a5, ret);
}

static void set_err(struct proc *p, const char *what, int rc, long sysret)
{
	if (p->error[0])
		return;
	if (rc == TR_GONE)
		snprintf(p->error, sizeof p->error, "%s: the thread exited", what);
	else if (rc == TR_TIMEOUT)
		snprintf(p->error, sizeof p->error, "%s: no stop within the timeout", what);
	else if (rc)
		snprintf(p->error, sizeof p->error, "%s: %s", what, strerror(errno));
	else
		snprintf(p->error, sizeof p->error, "%s: %s", what, strerror((int)-sysret));
}

/* Passes our fds into the target; fills spare[] with the target's fd numbers. */
static int transfer(struct ctx *c, const int *fds, int *spare, size_t n)
{
	pid_t pid = c->p->t0; /* a live thread: a zombie leader has no mm */
	for (size_t off = 0; off < n; off += FDS_PER_MSG) {
		size_t k = n - off < FDS_PER_MSG ? n - off : FDS_PER_MSG;
		char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
		memset(cbuf, 0, sizeof cbuf);
		char byte = 'x';
		struct iovec iov = {&byte, 1};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				   .msg_controllen = CMSG_SPACE(k * sizeof(int))};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(cm), fds + off, k * sizeof(int));
		if (sendmsg(c->hsock, &m, MSG_NOSIGNAL) != 1) {
			set_err(c->p, "sendmsg(SCM_RIGHTS)", TR_ERR, 0);
			return -1;
		}
		/* The target's msghdr, rewritten each time: recvmsg updates it. */
		struct msghdr rm = {.msg_iov = (void *)(c->scratch + OFF_IOV), .msg_iovlen = 1,
				    .msg_control = (void *)(c->scratch + OFF_CMSG),
				    .msg_controllen = CMSG_SPACE(FDS_PER_MSG * sizeof(int))};
		struct iovec riov = {(void *)(c->scratch + OFF_BYTE), 1};
		if (rw_target(pid, c->scratch + OFF_MSG, &rm, sizeof rm, 1) ||
		    rw_target(pid, c->scratch + OFF_IOV, &riov, sizeof riov, 1)) {
			set_err(c->p, "process_vm_writev", TR_ERR, 0);
			return -1;
		}
		long ret;
		int rc = rsys(c, SYS_recvmsg, c->target_sock, (long)(c->scratch + OFF_MSG),
			      MSG_CMSG_CLOEXEC, 0, 0, 0, &ret);
		if (rc || ret != 1) {
			set_err(c->p, "recvmsg in the target", rc, ret);
			return -1;
		}
		char rbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
		if (rw_target(pid, c->scratch + OFF_MSG, &rm, sizeof rm, 0) ||
		    rw_target(pid, c->scratch + OFF_CMSG, rbuf, sizeof rbuf, 0)) {
			set_err(c->p, "process_vm_readv", TR_ERR, 0);
			return -1;
		}
		struct msghdr lm = {.msg_control = rbuf, .msg_controllen = rm.msg_controllen};
		size_t got = 0;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&lm); h; h = CMSG_NXTHDR(&lm, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t cnt = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < cnt && got < k; i++)
				memcpy(&spare[off + got++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
		}
		if (got != k || (rm.msg_flags & MSG_CTRUNC)) {
			/* Those that did land are in spare[] and get closed by the caller. */
			for (size_t i = got; i < k; i++)
				spare[off + i] = -1;
			snprintf(c->p->error, sizeof c->p->error,
				 "the target received %zu of %zu fds (RLIMIT_NOFILE?)", got, k);
			return -1;
		}
	}
	return 0;
}

/* Runs n table entries in the target; results come back in c->tab[i].ret. */
static int run_table(struct ctx *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		c->tab[i].ret = SENTINEL;
	pid_t pid = c->p->t0; /* a live thread: a zombie leader has no mm */
	size_t bytes = n * sizeof *c->tab;
	if (rw_target(pid, c->scratch + OFF_TABLE, c->tab, bytes, 1)) {
		set_err(c->p, "writing the call table", TR_ERR, 0);
		return -1;
	}
	size_t len = (size_t)(arch_blob_end - arch_blob_start);
	int rc = tr_run_blob(&c->t0, &c->saved, c->scratch + OFF_CODE, len,
			     c->scratch + OFF_TABLE, n);
	/* Read results even after a failure: they say what was done. */
	if (c->t0.state != T_GONE)
		rw_target(pid, c->scratch + OFF_TABLE, c->tab, bytes, 0);
	if (rc) {
		set_err(c->p, "running the injected code", rc, 0);
		return -1;
	}
	return 0;
}

static void close_spares(struct ctx *c, struct entry **v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i]->spare >= 0)
			c->tab[k++] = (struct blob_entry){SYS_close, v[i]->spare, 0, 0, 0};
	if (k && run_table(c, k) == 0)
		for (size_t i = 0; i < n; i++)
			v[i]->spare = -1;
}

/* Stops every other thread; keeps stopping new ones until none appear. */
static int stop_world(struct ctx *c, struct tracee **out, size_t *nout)
{
	struct proc *p = c->p;
	size_t n = 0, cap = 16;
	struct tracee *v = xcalloc(cap, sizeof *v);
	int rc = 0;
	for (int round = 0;; round++) {
		pid_t *tids;
		int nt = list_tasks(p->pid, &tids);
		if (nt < 0) {
			rc = TR_GONE;
			break;
		}
		size_t before = n;
		for (int i = 0; i < nt; i++) {
			if (tids[i] == c->t0.tid)
				continue;
			int seen = 0;
			for (size_t j = 0; j < n && !seen; j++)
				seen = v[j].tid == tids[i];
			if (seen)
				continue;
			v = grow(v, n, &cap, sizeof *v);
			struct tracee *t = &v[n];
			memset(t, 0, sizeof *t);
			t->tid = tids[i];
			t->tgid = p->pid;
			int r = tr_seize(t);
			if (r == TR_GONE)
				continue; /* exited, or a zombie: nothing to stop */
			n++;
			if (r) {
				snprintf(p->error, sizeof p->error, "PTRACE_SEIZE thread %d: %s",
					 t->tid, strerror(errno));
				rc = r;
				break;
			}
		}
		free(tids);
		for (size_t j = before; j < n && !rc; j++) {
			int r = tr_wait_stopped(&v[j]);
			if (r == TR_GONE)
				continue;
			if (r) {
				snprintf(p->error, sizeof p->error,
					 "thread %d did not stop%s (blocked in an uninterruptible "
					 "wait?)",
					 v[j].tid, r == TR_TIMEOUT ? " within the timeout" : "");
				rc = r;
			}
		}
		if (rc || n == before)
			break;
	}
	*out = v;
	*nout = n;
	return rc;
}

static void let_go(struct tracee *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tr_detach(&v[i]);
}

/*
 * Whether each mapping among v[0..n) is still the one we saw, and whether it can move without losing
 * data: a private mapping with written pages (copy-on-write: Private_Dirty, or Anonymous pages) holds
 * the app's data only in memory, which a new mapping of the file would not have. Read from smaps
 * while every thread is stopped, so nothing changes before the mmap. Sets e->dropped for those that
 * cannot move.
 */
static void maps_check(pid_t pid, pid_t tid, struct entry **v, size_t n)
{
	char q[96], line[PATH_MAX + 256];
	snprintf(q, sizeof q, "/proc/%d/task/%d/smaps", pid, tid);
	FILE *f = fopen(q, "re");
	const char **why = xcalloc(n, sizeof *why);
	for (size_t i = 0; i < n; i++)
		why[i] = "the mapping is gone";
	struct entry *cur = NULL;
	size_t ci = 0;
	long long dirty = 0, anon = 0;
	for (int more = f != NULL; more;) {
		more = fgets(line, sizeof line, f) != NULL;
		unsigned long lo, hi, off, ino;
		char perms[8];
		int header = more && sscanf(line, "%lx-%lx %7s %lx %*s %lu", &lo, &hi, perms, &off,
					    &ino) == 5;
		if (more && !header) {
			if (!strncmp(line, "Private_Dirty:", 14))
				dirty += atoll(line + 14);
			else if (!strncmp(line, "Anonymous:", 10))
				anon += atoll(line + 10);
			continue;
		}
		if (cur && !cur->shared && (dirty || anon))
			why[ci] = "private mapping with written (copy-on-write) pages: moving it would "
				  "lose them";
		cur = NULL;
		dirty = anon = 0;
		for (size_t i = 0; header && i < n; i++) {
			struct entry *e = v[i];
			if (e->fd != FD_MAP || e->dropped || e->lo != lo)
				continue;
			if (hi != e->hi || off != e->off || ino != e->ino ||
			    (perms[3] == 's') != e->shared) {
				why[i] = "the mapping changed during the swap";
			} else {
				why[i] = NULL;
				cur = e;
				ci = i;
			}
		}
	}
	if (f)
		fclose(f);
	for (size_t i = 0; i < n; i++)
		if (v[i]->fd == FD_MAP && !v[i]->dropped)
			v[i]->dropped = why[i];
	free(why);
}

/*
 * A file moves whole or not at all. ChaosFS keeps the page cache of a file no read/write rule can
 * match, so while one fd or mapping of a file stays on the original volume and another reaches the
 * same file through ChaosFS, each can read what the other has already overwritten. bbolt (etcd) writes
 * its db with pwrite on an fd its flock holds back and reads it through a shared mapping: with the
 * mapping alone moved it read stale pages and panicked ("page already freed"). Returns why another
 * fd or mapping of e's file stays (the first one found), or NULL if none does (yet).
 * Within one process only; a file shared with another process that stays is not seen here.
 */
static const char *file_held_back(const struct proc *p, const struct entry *e, int *fd)
{
	if (e->isdir || e->fd == FD_CWD)
		return NULL; /* no page cache to disagree on */
	for (size_t i = 0; i < p->ns; i++)
		if (p->s[i].failed && p->s[i].ino == e->ino &&
		    (p->s[i].fd >= 0 || p->s[i].fd == FD_MAP)) {
			*fd = p->s[i].fd;
			return p->s[i].reason;
		}
	for (size_t i = 0; i < p->n; i++)
		if (&p->e[i] != e && p->e[i].ino == e->ino && p->e[i].dropped && !p->e[i].isdir &&
		    p->e[i].fd != FD_CWD) {
			*fd = p->e[i].fd;
			return p->e[i].dropped;
		}
	return NULL;
}

/* Whether anything of p stays behind that could hold a file back: when nothing does, the O(n) scan
 * of file_held_back() per entry (O(n^2) over 10,000 fds) is skipped. */
static int any_held(const struct proc *p)
{
	for (size_t i = 0; i < p->ns; i++)
		if (p->s[i].failed)
			return 1;
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].dropped)
			return 1;
	return 0;
}

/* Drops e if another fd or mapping of its file stays behind (see file_held_back()). */
static int hold_with_file(const struct proc *p, struct entry *e)
{
	int fd;
	const char *why = file_held_back(p, e, &fd);
	if (!why)
		return 0;
	char other[24];
	if (fd >= 0)
		snprintf(other, sizeof other, "fd %d", fd);
	else
		snprintf(other, sizeof other, "a mapping");
	snprintf(e->dropped_buf, sizeof e->dropped_buf, "stays with %s of the same file: %.100s", other,
		 why);
	e->dropped = e->dropped_buf;
	return 1;
}

/* Replaces the mappings among v[0..n) in the stopped target: msync the old one, then map the new
 * file over it at the same address with MAP_FIXED. */
static void move_maps(struct ctx *c, struct entry **v, size_t n)
{
	size_t nmaps = 0;
	for (size_t i = 0; i < n; i++)
		nmaps += v[i]->fd == FD_MAP && !v[i]->dropped;
	if (!nmaps)
		return;
	maps_check(c->p->pid, c->t0.tid, v, n);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = v[i];
		/* An fd of its file found locked in this stop stays: so does the mapping. */
		if (e->fd != FD_MAP || e->dropped || hold_with_file(c->p, e))
			continue;
		long len = (long)(e->hi - e->lo), ret;
		if (e->shared) {
			int rc = rsys(c, SYS_msync, (long)e->lo, len, MS_SYNC, 0, 0, 0, &ret);
			if (rc || ret != 0) {
				snprintf(e->dropped_buf, sizeof e->dropped_buf,
					 "msync failed (%s): not moved, its written pages would be lost",
					 strerror(rc ? errno : (int)-ret));
				e->dropped = e->dropped_buf;
				continue;
			}
		}
		int rc = rsys(c, SYS_mmap, (long)e->lo, len, e->prot,
			      (e->shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, e->spare, (long)e->off,
			      &ret);
		if (rc || ret != (long)e->lo) {
			snprintf(e->dropped_buf, sizeof e->dropped_buf, "mmap failed: %s",
				 strerror(rc ? errno : ret < 0 && ret > -4096 ? (int)-ret : EFAULT));
			e->dropped = e->dropped_buf;
		}
	}
}

/* Where the struct flocks of carry_locks() go in the scratch mapping: after the call table. */
static unsigned long flocks_at(const struct ctx *c)
{
	return c->scratch + ((OFF_TABLE + c->cap * sizeof(struct blob_entry) + 15) & ~15UL);
}

/*
 * Takes each entry's flock and OFD locks on its new file through its spare fd (the target is stopped,
 * the dup3 table is built in c->tab[0..n)). An fd whose lock cannot be taken is dropped, and its dup3
 * with it: the app keeps the old file and its lock. Non-blocking: a conflicting holder is an EAGAIN,
 * never a wait inside the stop. Returns -1 if the injected code failed (the batch is undone).
 */
static int carry_locks(struct ctx *c, struct entry **v, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (!v[i]->dropped && v[i]->fd >= 0)
			total += (size_t)v[i]->nlocks;
	if (!total)
		return 0;
	struct blob_entry *dups = xcalloc(n, sizeof *dups);
	memcpy(dups, c->tab, n * sizeof *dups);
	struct flock *fl = xcalloc(c->cap, sizeof *fl);
	size_t *owner = xcalloc(c->cap, sizeof *owner);
	int rc = 0;
	size_t i = 0;
	while (i < n && !rc) {
		/* One table run per c->cap locks; an entry's locks never straddle two runs. */
		size_t k = 0;
		for (; i < n; i++) {
			struct entry *e = v[i];
			if (e->dropped || e->fd < 0 || !e->nlocks)
				continue;
			if (k + (size_t)e->nlocks > c->cap)
				break;
			for (size_t j = 0; j < (size_t)e->nlocks; j++) {
				const struct fd_lock *l = &e->locks[j];
				owner[k] = i;
				if (l->kind == 'F') {
					c->tab[k++] = (struct blob_entry){SYS_flock, e->spare,
									  (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB, 0, 0};
				} else {
					fl[k] = (struct flock){.l_type = l->write ? F_WRLCK : F_RDLCK,
							       .l_whence = SEEK_SET,
							       .l_start = l->start,
							       .l_len = l->end < 0 ? 0 : l->end - l->start + 1};
					c->tab[k] = (struct blob_entry){SYS_fcntl, e->spare, F_OFD_SETLK,
									(int64_t)(flocks_at(c) + k * sizeof *fl), 0};
					k++;
				}
			}
		}
		if (!k)
			break;
		if (rw_target(c->p->t0, flocks_at(c), fl, k * sizeof *fl, 1) || run_table(c, k) != 0) {
			rc = -1;
			break;
		}
		for (size_t m = 0; m < k; m++) {
			struct entry *e = v[owner[m]];
			if (c->tab[m].ret < 0 && !e->dropped) {
				snprintf(e->dropped_buf, sizeof e->dropped_buf,
					 "holds file locks, and cannot take them on the new file: %s",
					 strerror((int)-c->tab[m].ret));
				e->dropped = e->dropped_buf;
				dups[owner[m]] = (struct blob_entry){-1, 0, 0, 0, 0};
			}
		}
	}
	memcpy(c->tab, dups, n * sizeof *dups);
	free(dups);
	free(fl);
	free(owner);
	return rc;
}

/* Phase 2 for one batch. */
static int swap_batch(struct ctx *c, struct entry **v, size_t n, int *undone)
{
	struct proc *p = c->p;
	struct tracee *others = NULL;
	size_t nothers = 0;
	long long t_start = now_us();
	int rc = stop_world(c, &others, &nothers);
	if ((size_t)p->nthreads < nothers + 1)
		p->nthreads = (int)nothers + 1;
	if (rc) {
		let_go(others, nothers);
		free(others);
		for (size_t i = 0; i < n; i++)
			v[i]->dropped = FAILED_WHY;
		return -1;
	}
	long long t_stopped = now_us();
	p->stop_us += t_stopped - t_start;
	/* Everything stopped: is each fd still the open file we prepared for? */
	size_t k = 0;
	pid_t me = getpid();
	for (size_t i = 0; i < n; i++) {
		struct entry *e = v[i];
		if (e->fd >= 0) {
			int same_old = sys_kcmp(c->t0.tid, me, KCMP_FILE, (unsigned long)e->fd,
						(unsigned long)e->held_old);
			int same_new = sys_kcmp(c->t0.tid, me, KCMP_FILE, (unsigned long)e->spare,
						(unsigned long)e->held_new);
			if (same_old != 0 || same_new != 0) {
				e->dropped = "the fd changed during the swap";
				c->tab[k++] = (struct blob_entry){-1, 0, 0, 0, 0};
				continue;
			}
			/* The locks as they are now (SQLite takes one per transaction): carried by
			 * carry_locks() below, or the fd stays. */
			const char *locked_why = locks_now(p->pid, p->t0, e);
			if (locked_why) {
				e->dropped = locked_why;
				c->tab[k++] = (struct blob_entry){-1, 0, 0, 0, 0};
				continue;
			}
			off_t pos = lseek(e->held_old, 0, SEEK_CUR);
			if (pos >= 0 && pos != e->pos) {
				e->pos = pos;
				if (lseek(e->held_new, pos, SEEK_SET) != pos && !e->isdir) {
					e->dropped = "cannot set the same offset on the new file";
					c->tab[k++] = (struct blob_entry){-1, 0, 0, 0, 0};
					continue;
				}
			}
			c->tab[k++] = (struct blob_entry){SYS_dup3, e->spare, e->fd,
							  e->cloexec ? O_CLOEXEC : 0, 0};
		} else if (e->fd == FD_CWD) {
			/* kcmp cannot compare a cwd: read its identity again, now that it cannot change. */
			char q[96];
			struct fdinfo fi;
			snprintf(q, sizeof q, "/proc/%d/task/%d/cwd", p->pid, c->t0.tid);
			int h = open_identity(q, &fi);
			if (h >= 0)
				close(h);
			if (h < 0 || fi.ino != e->ino || fi.mnt_id != g_from_mnt) {
				e->dropped = "the cwd changed during the swap";
				c->tab[k++] = (struct blob_entry){-1, 0, 0, 0, 0};
				continue;
			}
			c->tab[k++] = (struct blob_entry){SYS_fchdir, e->spare, 0, 0, 0};
		} else {
			c->tab[k++] = (struct blob_entry){-1, 0, 0, 0, 0}; /* move_maps() */
		}
	}
	/* A file moves whole: an fd found locked in this stop keeps the others of its file where they
	 * are (closing any fd of a file lets the process's POSIX locks on it go). tab[i] is v[i]'s.
	 * Only when the check above dropped something: the target is stopped meanwhile. */
	size_t dropped_now = 0;
	for (size_t i = 0; i < n; i++)
		dropped_now += v[i]->dropped != NULL;
	for (size_t i = 0; i < n && dropped_now; i++)
		if (v[i]->fd >= 0 && !v[i]->dropped && hold_with_file(p, v[i]))
			c->tab[i] = (struct blob_entry){-1, 0, 0, 0, 0};
	if (carry_locks(c, v, n) != 0) {
		let_go(others, nothers);
		free(others);
		*undone = 1;
		return -1;
	}
	long long t_checked = now_us();
	p->check_us += t_checked - t_stopped;
	int brc = run_table(c, k);
	p->dup_us += now_us() - t_checked;
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct entry *e = v[i];
		int64_t r = c->tab[i].ret;
		if (e->dropped || e->fd == FD_MAP)
			continue;
		if (r == SENTINEL) {
			e->dropped = "not reached";
			failed = 1;
		} else if (r < 0) {
			snprintf(e->dropped_buf, sizeof e->dropped_buf, "%s failed: %s",
				 e->fd >= 0 ? "dup3" : "fchdir", strerror((int)-r));
			e->dropped = e->dropped_buf;
		}
	}
	*undone = brc != 0 || failed;
	if (!*undone)
		move_maps(c, v, n);
	let_go(others, nothers);
	free(others);
	long long d = now_us() - t_start;
	p->pause_us += d;
	if (d > p->pause_max_us)
		p->pause_max_us = d;
	return brc;
}

/* Whether any fd of p was dropped because the process failed under us. */
static int failed_any(const struct proc *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].dropped && !strcmp(p->e[i].dropped, FAILED_WHY))
			return 1;
	return 0;
}

/*
 * Whether the process has exited, waiting up to ms for it. A process that fails under ptrace is
 * usually one on its way out (a shell's short-lived child): it dies after the stop failed, but may not
 * be a zombie yet when we look. Its fds are gone with it, which is no failure of the swap.
 */
static int exited_within(const struct proc *p, int ms)
{
	if (kill(p->pid, 0) != 0)
		return 1;
	char st = task_state(p->pid, p->t0 ? p->t0 : p->pid);
	if (st == 'Z' || st == 'X')
		return 1;
	if (p->pidfd < 0 || ms <= 0)
		return 0;
	struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
	return poll(&pf, 1, ms) == 1;
}

static void swap_process(struct proc *p)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.p = p;
	c.target_sock = -1;
	c.hsock = -1;
	c.t0.tid = p->t0;
	c.t0.tgid = p->pid;
	long long t_hijack = 0;
	int regs_saved = 0, rc;
	long ret;
	struct rlimit old_lim = {0};
	int lim_changed = 0;

	/* fd slots: the target needs room for the spares next to its own fds. Read from
	 * /proc/PID/limits: prlimit() on a process of another uid needs CAP_SYS_RESOURCE, which a
	 * sidecar need not have. Raising the soft limit below stays best effort for the same reason
	 * (without it, smaller batches). */
	struct rlimit lim;
	if (nofile_limit_of(p->pid, &lim) != 0) {
		set_err(p, "reading /proc/PID/limits", TR_ERR, 0);
		goto out;
	}
	size_t nopen = p->n + p->ns + 8;
	size_t want = nopen + p->n + 8;
	if (lim.rlim_cur < want && lim.rlim_cur < lim.rlim_max) {
		old_lim = lim;
		struct rlimit nl = {want < lim.rlim_max ? want : lim.rlim_max, lim.rlim_max};
		if (prlimit(p->pid, RLIMIT_NOFILE, &nl, NULL) == 0) {
			lim_changed = 1;
			lim = nl;
		}
	}
	size_t room = lim.rlim_cur > nopen ? lim.rlim_cur - nopen : 0;
	size_t batch = p->n < room ? p->n : room;
	/* We hold two fds per entry of a batch (our copy of the old file, the new one). */
	struct rlimit own;
	getrlimit(RLIMIT_NOFILE, &own);
	size_t own_room = own.rlim_cur > 128 ? (own.rlim_cur - 128) / 2 : 1;
	if (batch > own_room)
		batch = own_room;
	if (batch > (size_t)g_max_batch)
		batch = (size_t)g_max_batch;
	if (batch == 0) {
		snprintf(p->error, sizeof p->error,
			 "no free fd slots in the target (RLIMIT_NOFILE %llu)",
			 (unsigned long long)lim.rlim_cur);
		goto out;
	}

	/* Phase 1: one thread. */
	t_hijack = now_us();
	rc = tr_seize(&c.t0);
	if (!rc)
		rc = tr_wait_stopped(&c.t0);
	if (rc) {
		set_err(p, "stopping thread", rc, 0);
		goto out;
	}
	rc = tr_getregs(&c.t0, &c.saved);
	if (rc) {
		set_err(p, "PTRACE_GETREGSET", rc, 0);
		goto out;
	}
	regs_saved = 1;
	c.insn = find_syscall_insn(p->t0);
	if (!c.insn) {
		snprintf(p->error, sizeof p->error, "no syscall instruction found in the target");
		goto out;
	}
	c.cap = batch + 2;
	/* The call table, then room for as many struct flocks (carry_locks). */
	c.scratch_len = (OFF_TABLE + c.cap * (sizeof(struct blob_entry) + sizeof(struct flock)) + 16 + 4095) &
			~4095UL;
	rc = rsys(&c, SYS_mmap, 0, (long)c.scratch_len, PROT_READ | PROT_WRITE | PROT_EXEC,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &ret);
	if (rc || (ret < 0 && ret > -4096)) {
		set_err(p, "mmap in the target", rc, ret);
		goto out;
	}
	c.scratch = (unsigned long)ret;
	c.tab = xcalloc(c.cap, sizeof *c.tab);
	size_t codelen = (size_t)(arch_blob_end - arch_blob_start);
	if (rw_target(p->t0, c.scratch + OFF_CODE, (void *)arch_blob_start, codelen, 1)) {
		set_err(p, "writing the injected code", TR_ERR, 0);
		goto out;
	}
	rc = rsys(&c, SYS_socketpair, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		  (long)(c.scratch + OFF_SV), 0, 0, &ret);
	if (rc || ret != 0) {
		set_err(p, "socketpair in the target", rc, ret);
		goto out;
	}
	int sv[2];
	if (rw_target(p->t0, c.scratch + OFF_SV, sv, sizeof sv, 0)) {
		set_err(p, "reading the socketpair", TR_ERR, 0);
		goto out;
	}
	c.target_sock = sv[0];
	{
		int pfd = sys_pidfd_open(p->t0, p->t0 == p->pid ? 0 : PIDFD_THREAD);
		c.hsock = pfd >= 0 ? sys_pidfd_getfd(pfd, sv[1]) : -1;
		if (pfd >= 0)
			close(pfd);
		rsys(&c, SYS_close, sv[1], 0, 0, 0, 0, 0, &ret);
		if (c.hsock < 0) {
			set_err(p, "taking the socket end (pidfd_getfd)", TR_ERR, 0);
			goto out;
		}
	}

	/* Batches: all of them at once unless the target's fd limit says otherwise. */
	struct entry **v = xcalloc(batch, sizeof *v);
	int *fds = xcalloc(batch, sizeof *fds), *spare = xcalloc(batch, sizeof *spare);
	/* Mappings are prepared first, so an fd learns before it moves that its file's mapping
	 * cannot (they come last, after the fds and the cwd). */
	size_t first_map = p->n;
	while (first_map > 0 && p->e[first_map - 1].fd == FD_MAP)
		first_map--;
	if (first_map < p->n)
		prepare_parallel(p, first_map, p->n);
	for (size_t off = 0, next = 0; off < p->n; off = next) {
		size_t k = 0;
		prepare_parallel(p, off, off + batch < p->n ? off + batch : p->n);
		int held = any_held(p);
		for (next = off; next < p->n && k < batch; next++) {
			struct entry *e = &p->e[next];
			if (!e->prepared && (e->share >= 0 || e->moved_slot >= 0))
				prepare_shared(p, e);
			else if (!e->prepared)
				prepare_parallel(p, next, next + 1);
			held |= e->dropped != NULL;
			if (e->dropped || (held && hold_with_file(p, e))) {
				release(e);
				continue;
			}
			v[k] = e;
			fds[k++] = e->held_new;
		}
		if (k == 0)
			continue;
		if (transfer(&c, fds, spare, k) != 0) {
			for (size_t i = 0; i < k; i++)
				v[i]->spare = spare[i];
			close_spares(&c, v, k);
			for (size_t i = next; i < p->n; i++)
				p->e[i].dropped = FAILED_WHY;
			for (size_t i = 0; i < k; i++)
				release(v[i]);
			break;
		}
		for (size_t i = 0; i < k; i++)
			v[i]->spare = spare[i];
		int undone = 0;
		int brc = swap_batch(&c, v, k, &undone);
		p->batches++;
		close_spares(&c, v, k);
		for (size_t i = 0; i < k; i++) {
			if (!brc && !undone)
				remember_moved(v[i]);
			release(v[i]);
		}
		if (brc || undone) {
			for (size_t i = next; i < p->n; i++)
				p->e[i].dropped = FAILED_WHY;
			if (!p->error[0])
				snprintf(p->error, sizeof p->error, "the injected code did not finish");
			break;
		}
	}
	free(v);
	free(fds);
	free(spare);

out:
	if (c.t0.state == T_STOPPED) {
		if (c.target_sock >= 0)
			rsys(&c, SYS_close, c.target_sock, 0, 0, 0, 0, 0, &ret);
		if (c.scratch)
			rsys(&c, SYS_munmap, (long)c.scratch, (long)c.scratch_len, 0, 0, 0, 0, &ret);
		if (regs_saved && tr_setregs(&c.t0, &c.saved) != 0 && !p->error[0])
			set_err(p, "restoring registers", TR_ERR, 0);
		tr_detach(&c.t0);
	}
	if (t_hijack)
		p->hijack_us = now_us() - t_hijack;
	if (lim_changed)
		prlimit(p->pid, RLIMIT_NOFILE, &old_lim, NULL);
	if (c.hsock >= 0)
		close(c.hsock);
	free(c.tab);
	if (c.t0.state == T_GONE || exited_within(p, failed_any(p) ? 250 : 0))
		p->status = "exited";
	for (size_t i = 0; i < p->n; i++)
		if (!p->e[i].dropped && p->error[0] && !p->batches)
			p->e[i].dropped = FAILED_WHY;
}

static void report_fd(struct jbuf *b, int fd)
{
	if (fd >= 0)
		jb_fmt(b, "%d", fd);
	else
		jb_str(b, fd == FD_CWD ? "cwd" : fd == FD_ROOT ? "root" : "mmap");
}

static void report_process(struct jbuf *b, struct proc *p)
{
	jb_fmt(b, "{\"pid\":%d,\"status\":", p->pid);
	jb_str(b, p->status);
	if (p->error[0]) {
		jb_raw(b, ",\"error\":");
		jb_str(b, p->error);
	}
	jb_fmt(b, ",\"threads\":%d,\"pause_us\":%lld,\"pause_max_us\":%lld,\"hijack_us\":%lld,"
		  "\"batches\":%d,\"stop_us\":%lld,\"check_us\":%lld,\"dup_us\":%lld,\"swapped\":[",
	       p->nthreads, p->pause_us, p->pause_max_us, p->hijack_us, p->batches, p->stop_us,
	       p->check_us, p->dup_us);
	int first = 1;
	for (size_t i = 0; i < p->n; i++) {
		struct entry *e = &p->e[i];
		if (e->dropped)
			continue;
		jb_raw(b, first ? "{\"fd\":" : ",{\"fd\":");
		first = 0;
		report_fd(b, e->fd);
		jb_raw(b, ",\"path\":");
		jb_str(b, e->path);
		if (e->fd >= 0)
			jb_fmt(b, ",\"flags\":\"0%o\",\"cloexec\":%s,\"pos\":%lld", e->flags,
			       e->cloexec ? "true" : "false", e->pos);
		if (e->fd == FD_MAP)
			jb_fmt(b, ",\"addr\":\"%lx-%lx\",\"shared\":%s", e->lo, e->hi,
			       e->shared ? "true" : "false");
		jb_fmt(b, ",\"ino\":%llu,\"via\":", e->ino);
		jb_str(b, e->via ? e->via : "path");
		jb_raw(b, "}");
	}
	jb_raw(b, "],\"skipped\":[");
	first = 1;
	int failed = 0;
	for (size_t i = 0; i < p->n + p->ns; i++) {
		struct skip s;
		if (i < p->n) {
			struct entry *e = &p->e[i];
			if (!e->dropped)
				continue;
			/* Fds of a process that exited went with it: listed, not failed. */
			s = (struct skip){e->fd, e->path, (char *)e->dropped,
					  strcmp(p->status, "exited") != 0, e->ino};
		} else {
			s = p->s[i - p->n];
		}
		failed += s.failed;
		jb_raw(b, first ? "{\"fd\":" : ",{\"fd\":");
		first = 0;
		report_fd(b, s.fd);
		jb_raw(b, ",\"path\":");
		jb_str(b, s.path);
		jb_raw(b, ",\"reason\":");
		jb_str(b, s.reason);
		if (i < p->n && p->e[i].fd == FD_MAP)
			jb_fmt(b, ",\"addr\":\"%lx-%lx\"", p->e[i].lo, p->e[i].hi);
		if (s.ino)
			jb_fmt(b, ",\"ino\":%llu", s.ino);
		if (s.failed)
			jb_raw(b, ",\"failed\":true");
		jb_raw(b, "}");
	}
	jb_fmt(b, "],\"failed_fds\":%d}", failed);
}

/* Whether every file on the from-mount is the volume, for this process (see in_volume()). */
static int from_is_whole(struct proc *p)
{
	char q[96];
	snprintf(q, sizeof q, "/proc/%d/task/%d/mountinfo", p->pid, p->t0);
	int fd = open(q, O_RDONLY | O_CLOEXEC);
	struct mountinfo *mi = xcalloc(1, sizeof *mi);
	int whole = 0;
	if (fd >= 0 && mountinfo_find(fd, g_from_mnt, mi) == 0)
		whole = !strcmp(mi->mountpoint, g_path);
	else if (fd >= 0 && errno == ENOENT)
		whole = 1; /* detached: reachable only through what processes still hold */
	if (fd >= 0)
		close(fd);
	free(mi);
	return whole;
}

static void one_pid(struct jbuf *b, pid_t pid)
{
	struct proc p;
	memset(&p, 0, sizeof p);
	p.pid = pid;
	p.pidfd = -1;
	p.status = "failed";
	char q[64], buf[4096];
	snprintf(q, sizeof q, "/proc/%d/status", pid);
	if (read_small(AT_FDCWD, q, buf, sizeof buf) < 0) {
		p.status = "exited";
		snprintf(p.error, sizeof p.error, "no process %d", pid);
		goto done;
	}
	char *tg = strstr(buf, "\nTgid:");
	if (tg && atoi(tg + 6) != pid) {
		snprintf(p.error, sizeof p.error, "%d is a thread of process %d: give the process id",
			 pid, atoi(tg + 6));
		goto done;
	}
	char *tr = strstr(buf, "\nTracerPid:");
	if (tr && atoi(tr + 11) != 0) {
		snprintf(p.error, sizeof p.error, "already traced by pid %d", atoi(tr + 11));
		goto done;
	}
	char st = task_state(pid, pid);
	if (st == 'T' || st == 't') {
		snprintf(p.error, sizeof p.error,
			 "stopped (job control or a debugger): not touching a stopped process");
		goto done;
	}
	/* A zombie main thread has no fd table in /proc: work through a live thread. */
	pid_t *tids;
	int nt = list_tasks(pid, &tids);
	p.t0 = 0;
	for (int i = 0; i < nt; i++) {
		char s = task_state(pid, tids[i]);
		if (s == 'Z' || s == 'X')
			continue;
		if (!p.t0 || tids[i] == pid)
			p.t0 = tids[i];
	}
	if (nt > 0)
		free(tids);
	if (!p.t0) {
		p.status = "exited";
		snprintf(p.error, sizeof p.error, "no live thread left");
		goto done;
	}
	int pidfd = sys_pidfd_open(p.t0, p.t0 == pid ? 0 : PIDFD_THREAD);
	if (pidfd < 0) {
		snprintf(p.error, sizeof p.error, "pidfd_open(%d): %s", p.t0, strerror(errno));
		goto done;
	}
	p.pidfd = pidfd;
	if (creds_of(pid, &p.cr) != 0) {
		snprintf(p.error, sizeof p.error, "cannot read the credentials of %d: %s", pid,
			 strerror(errno));
		goto done;
	}
	p.from_whole = from_is_whole(&p);
	scan_fds(&p);
	if (!p.error[0]) {
		scan_cwd_root(&p);
		scan_maps(&p);
	}
	if (p.error[0])
		goto done;
	if (p.n == 0) {
		p.status = "nothing to swap";
		goto done;
	}
	find_shared(&p);
	swap_process(&p);
	if (!p.error[0])
		p.status = "swapped";
	else if (strcmp(p.status, "exited") != 0)
		p.status = "failed";
done:
	report_process(b, &p);
	if (p.pidfd > 0)
		close(p.pidfd);
	for (size_t i = 0; i < p.n; i++) {
		if (p.e[i].held_old >= 0)
			close(p.e[i].held_old);
		if (p.e[i].held_new >= 0)
			close(p.e[i].held_new);
		free(p.e[i].path);
	}
	for (size_t i = 0; i < p.ns; i++) {
		free(p.s[i].path);
		free(p.s[i].reason);
	}
	free(p.e);
	free(p.s);
	creds_free(&p.cr);
}

static void usage(const char *why)
{
	die(EXIT_USAGE,
	    "%s; usage: iochaos-fdswap --path PATH --from root:PID|dir:DIR|mnt:ID --to "
	    "root:PID|dir:DIR --pid PID [--pid PID ...] [--backing-of WORKERPID] [--timeout-ms N] "
	    "[--max-batch N]",
	    why);
}

/* Opens the directory a SPEC names; *mnt gets its mount id. mnt:ID gives fd -1. */
static int open_spec(const char *flag, const char *spec, int *mnt)
{
	int fd = -1;
	if (!strncmp(spec, "mnt:", 4)) {
		*mnt = atoi(spec + 4);
		if (*mnt <= 0)
			usage("mnt:ID needs a mount id");
		return -1;
	} else if (!strncmp(spec, "root:", 5)) {
		int pid = atoi(spec + 5);
		char q[96];
		snprintf(q, sizeof q, "/proc/%d/root", pid);
		int root = open(q, O_PATH | O_DIRECTORY | O_CLOEXEC);
		/* A zombie main thread has no root any more; a live thread still does. */
		pid_t *tids;
		int nt = root < 0 ? list_tasks(pid, &tids) : -1;
		for (int i = 0; i < nt && root < 0; i++) {
			snprintf(q, sizeof q, "/proc/%d/task/%d/root", pid, tids[i]);
			root = open(q, O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
		if (nt > 0)
			free(tids);
		if (root < 0)
			die(EXIT_REFUSED, "%s %s: cannot open %s: %s", flag, spec, q, strerror(errno));
		/* Walk PATH inside the target's root: its symlinks must not lead into ours. */
		fd = sys_openat2(root, g_path + 1, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
				 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
		close(root);
		if (fd < 0)
			die(EXIT_REFUSED, "%s %s: PATH %s in pid %d's root: %s", flag, spec, g_path, pid,
			    strerror(errno));
	} else if (!strncmp(spec, "dir:", 4)) {
		fd = open(spec + 4, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			die(EXIT_REFUSED, "%s %s: %s", flag, spec, strerror(errno));
	} else {
		usage("a SPEC is root:PID, dir:DIR or mnt:ID");
	}
	if (mount_id_of(fd, "", mnt, NULL) != 0)
		die(EXIT_FAILED, "statx(STATX_MNT_ID) on %s: %s", spec, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	const char *from = NULL, *to = NULL;
	pid_t *pids = xcalloc((size_t)argc, sizeof *pids);
	int npids = 0;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage("missing value");
		if (!strcmp(f, "--path"))
			g_path = v;
		else if (!strcmp(f, "--from"))
			from = v;
		else if (!strcmp(f, "--to"))
			to = v;
		else if (!strcmp(f, "--pid")) {
			char *end;
			long pv = strtol(v, &end, 10);
			if (*end || pv <= 0 || pv > INT_MAX)
				usage("--pid needs a process id");
			pids[npids++] = (pid_t)pv;
		} else if (!strcmp(f, "--timeout-ms"))
			tr_set_timeout(atoi(v));
		else if (!strcmp(f, "--backing-of")) {
			char *end;
			long pv = strtol(v, &end, 10);
			if (*end || pv <= 0 || pv > INT_MAX)
				usage("--backing-of needs the process id of the ChaosFS worker");
			g_backing_pid = (pid_t)pv;
		} else if (!strcmp(f, "--max-batch"))
			g_max_batch = atoi(v) > 0 ? atoi(v) : 1;
		else
			usage("unknown argument");
		i++;
	}
	if (!g_path || !from || !to || !npids)
		usage("--path, --from, --to and at least one --pid are required");
	const char *why = path_problem(g_path);
	if (why)
		die(EXIT_REFUSED, "%s: \"%s\"", why, g_path);
	g_pathlen = strlen(g_path);
	int fromfd = open_spec("--from", from, &g_from_mnt);
	if (fromfd >= 0)
		close(fromfd);
	if (!strncmp(to, "mnt:", 4))
		usage("--to needs a directory (root:PID or dir:DIR)");
	g_tofd = open_spec("--to", to, &g_to_mnt);
	if (g_from_mnt == g_to_mnt)
		die(EXIT_REFUSED, "--from and --to are the same mount (%d): nothing would change",
		    g_from_mnt);
	struct stat tst;
	if (fstat(g_tofd, &tst) != 0)
		die(EXIT_FAILED, "fstat --to %s: %s", to, strerror(errno));
	g_todev = tst.st_dev;
	g_backing.pidfd = -1;
	if (g_backing_pid) {
		char err[256];
		if (backing_scan(g_backing_pid, g_todev, g_to_mnt, &g_backing, err, sizeof err))
			die(EXIT_REFUSED, "%s", err);
	}
	creds_init();
	if (sys_kcmp(getpid(), getpid(), KCMP_FILE, 0, 0) < 0 && errno == ENOSYS)
		die(EXIT_REFUSED, "this kernel lacks kcmp(2) (CONFIG_KCMP), needed to check each fd "
				  "is still the same file while the target is stopped");

	/*
	 * A SIGTERM or ^C mid-swap must not leave a target in the middle of our
	 * injected code: hold them until the report is out. (SIGKILL cannot be held;
	 * the kernel then detaches the target, see README.md.)
	 */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, NULL);

	/* Room for two fds per swapped fd of a batch: take the whole soft limit we may. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct jbuf b = {0};
	jb_raw(&b, "{\"ok\":true,\"path\":");
	jb_str(&b, g_path);
	jb_fmt(&b, ",\"from_mnt_id\":%d,\"to_mnt_id\":%d,\"processes\":[", g_from_mnt, g_to_mnt);
	int bad = 0;
	for (int i = 0; i < npids; i++) {
		if (i)
			jb_raw(&b, ",");
		size_t mark = b.len;
		one_pid(&b, pids[i]);
		if (strstr(b.s + mark, "\"status\":\"failed\""))
			bad = 1;
	}
	jb_raw(&b, "]}\n");
	fputs(b.s, stdout);
	fflush(stdout);
	return bad ? EXIT_PARTIAL : 0;
}
