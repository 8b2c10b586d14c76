/*
 * iochaos-mount: put a FUSE mount over PATH inside a target's mount namespace,
 * and take it off again.
 *
 *   iochaos-mount attach --pid PID --path PATH --source DIR
 *   iochaos-mount detach --pid PID --path PATH --mnt-id ID [--lazy]
 *   iochaos-mount status --pid PID --path PATH
 *
 * attach clones the mount at DIR (a staging FUSE mount in the caller's own
 * namespace) with open_tree(OPEN_TREE_CLONE), enters the target's mount
 * namespace and root, and move_mount()s the clone on top of PATH. Nothing at
 * PATH is moved: the original stays under the new mount, reachable through any
 * fd opened before (the app's, and the ChaosFS worker's directory fd), and
 * detach is a plain umount of the top mount, which gives back the exact
 * mount table. This works whether PATH is a mount point or a plain directory.
 *
 * Detach never unmounts by name: PATH is opened beneath the target's root with
 * no symlink followed, the mount id of that fd must be the one attach printed
 * (and nothing may be mounted on or under it), and umount2 names only PATH's
 * last component, relative to the parent directory fd (as the cwd). Whatever
 * the app renames or symlinks above PATH meanwhile, the mount taken off is
 * the one that was checked; after it, that mount id must be gone.
 *
 * Single-threaded on purpose: setns(CLONE_NEWNS) refuses multi-threaded callers.
 */
#define _GNU_SOURCE
#include "common.h"
#include "kernel.h"

#include <errno.h>
#include <stdarg.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

/* ChaosFS mounts with subtype "chaosfs"; a top mount of that type is ours. */
#define CHAOSFS_FSTYPE "fuse.chaosfs"

struct args {
	const char *cmd;
	int pid;
	const char *path;
	const char *source;
	int mnt_id;
	int lazy;
};

static void usage(const char *why)
{
	die(EXIT_USAGE,
	    "%s; usage: iochaos-mount attach --pid PID --path PATH --source DIR | "
	    "detach --pid PID --path PATH --mnt-id ID [--lazy] | status --pid PID --path PATH",
	    why);
}

static int parse_int(const char *flag, const char *s)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || !*s || *end || v <= 0 || v > 0x7fffffff) {
		char why[256];
		snprintf(why, sizeof why, "%s needs a positive integer, got \"%s\"", flag,
			 s ? s : "");
		usage(why);
	}
	return (int)v;
}

static void parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof *a);
	if (argc < 2)
		usage("no command");
	a->cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(f, "--pid") == 0)
			a->pid = parse_int(f, v), i++;
		else if (strcmp(f, "--path") == 0 && v)
			a->path = v, i++;
		else if (strcmp(f, "--source") == 0 && v)
			a->source = v, i++;
		else if (strcmp(f, "--mnt-id") == 0)
			a->mnt_id = parse_int(f, v), i++;
		else if (strcmp(f, "--lazy") == 0)
			a->lazy = 1;
		else {
			char why[512];
			snprintf(why, sizeof why, "unknown or incomplete argument \"%s\"", f);
			usage(why);
		}
	}
	if (strcmp(a->cmd, "attach") && strcmp(a->cmd, "detach") && strcmp(a->cmd, "status"))
		usage("unknown command");
	if (!a->pid)
		usage("--pid is required");
	if (!a->path)
		usage("--path is required");
	const char *p = path_problem(a->path);
	if (p)
		die(EXIT_REFUSED, "%s: \"%s\"", p, a->path);
	if (!strcmp(a->cmd, "attach") && !a->source)
		usage("attach needs --source");
	if (!strcmp(a->cmd, "detach") && !a->mnt_id)
		usage("detach needs --mnt-id (the mnt_id that attach printed)");
}

/*
 * Our own /proc/self, opened before setns() and chroot(): after them "/proc" is the target's, a
 * procfs of its pid namespace (where we have no "self") or whatever the app mounted there.
 */
static int self_procfd = -1;

/* The mount id of an open fd, from our own fdinfo: works on a dead FUSE mount. */
static int mount_id_from_fdinfo(int fd, int *mnt_id)
{
	char name[64], buf[512];
	snprintf(name, sizeof name, "fdinfo/%d", fd);
	int f = openat(self_procfd, name, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *m = strstr(buf, "mnt_id:");
	if (!m)
		return -1;
	*mnt_id = atoi(m + 7);
	return *mnt_id > 0 ? 0 : -1;
}

/* What the target sees at PATH, from inside its namespace. */
struct top {
	int parentfd; /* O_PATH fd of PATH's parent directory in the target */
	const char *name; /* PATH's last component, in parentfd */
	int pathfd; /* O_PATH fd of PATH in the target: the top mount there */
	int mnt_id;
	int mount_point; /* PATH was a mount root before anything of ours */
	struct mountinfo mi;
};

/* Why PATH could not be looked at: the exit code it deserves and the message. */
struct problem {
	int code;
	char msg[9000];
};

static int problem(struct problem *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int problem(struct problem *p, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	p->code = code;
	vsnprintf(p->msg, sizeof p->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Opens PATH's parent beneath the target's root (rootfd), then PATH in it, following no symlink on
 * the way, and says which mount is on top there. Detach unmounts PATH's last component relative to
 * that parent fd: renaming or symlinking any directory above cannot redirect it, and the last
 * component, a mount point, cannot be renamed while it is one.
 */
static int try_look_at_path(const struct args *a, int rootfd, int mountinfo_fd, struct top *t,
			    struct problem *why)
{
	const uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	static char parent[4096];
	memset(t, 0, sizeof *t);
	t->pathfd = t->parentfd = -1;
	const char *slash = strrchr(a->path, '/'); /* canonical and not "/": there is a last one */
	snprintf(parent, sizeof parent, "%.*s", (int)(slash - a->path), a->path);
	t->name = slash + 1;
	t->parentfd = sys_openat2(rootfd, parent[0] ? parent + 1 : ".",
				  O_PATH | O_DIRECTORY | O_CLOEXEC, 0, resolve);
	if (t->parentfd >= 0)
		t->pathfd = sys_openat2(t->parentfd, t->name, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0,
					resolve);
	if (t->pathfd < 0) {
		if (errno == ENOENT)
			return problem(why, EXIT_REFUSED,
				       "PATH %s does not exist in the mount namespace of pid %d",
				       a->path, a->pid);
		if (errno == ELOOP)
			return problem(why, EXIT_REFUSED,
				       "PATH %s in pid %d's namespace is or goes through a symlink; "
				       "give the resolved path",
				       a->path, a->pid);
		return problem(why, EXIT_FAILED, "cannot open PATH %s in pid %d's namespace: %s",
			       a->path, a->pid, strerror(errno));
	}
	struct stat st;
	if (fstat(t->pathfd, &st) != 0) {
		/* A FUSE mount whose worker died answers nothing (ENOTCONN), and it is exactly what
		 * recovery must take off: its mount id comes from fdinfo, which asks no file system. */
		int err = errno;
		if (err == ENOTCONN && mount_id_from_fdinfo(t->pathfd, &t->mnt_id) == 0) {
			t->mount_point = 1;
			goto find;
		}
		return problem(why, EXIT_FAILED, "fstat %s: %s", a->path, strerror(err));
	}
	if (!S_ISDIR(st.st_mode))
		return problem(why, EXIT_REFUSED, "PATH %s in pid %d's namespace is not a directory",
			       a->path, a->pid);
	if (mount_id_of(t->pathfd, "", &t->mnt_id, &t->mount_point) != 0)
		return problem(why, EXIT_FAILED, "statx(STATX_MNT_ID) on %s: %s%s", a->path,
			       strerror(errno), errno == ENOSYS ? " (Linux >= 5.8 needed)" : "");
find:
	if (mountinfo_find(mountinfo_fd, t->mnt_id, &t->mi) != 0)
		return problem(why, EXIT_FAILED, "mount %d (at %s) is not in /proc/%d/mountinfo: %s",
			       t->mnt_id, a->path, a->pid, strerror(errno));
	return 0;
}

static void look_at_path(const struct args *a, int rootfd, int mountinfo_fd, struct top *t)
{
	struct problem why;
	if (try_look_at_path(a, rootfd, mountinfo_fd, t, &why) != 0)
		die(why.code, "%s", why.msg);
}

/*
 * The app renamed or replaced PATH (or a directory above it) between our look and move_mount: our
 * mount landed on the directory we opened, wherever it is now, and PATH no longer leads to it. It is
 * taken off again through our fd of it (never by a path the app controls), unless something was
 * mounted on it meanwhile: that is someone else's, and both are left for a person to look at.
 */
static void take_back(const struct args *a, int treefd, int ours, int mifd, const char *what)
	__attribute__((noreturn));
static void take_back(const struct args *a, int treefd, int ours, int mifd, const char *what)
{
	struct mountinfo child;
	if (mountinfo_find_child(mifd, ours, &child) == 0)
		die(EXIT_FAILED, "PATH %s changed while mnt %d was moved onto it (%s), and mnt %d is "
		    "mounted on it: left as is, inspect /proc/%d/mountinfo", a->path, ours, what,
		    child.id, a->pid);
	char fdname[32];
	snprintf(fdname, sizeof fdname, "fd/%d", treefd);
	if (fchdir(self_procfd) != 0 || umount2(fdname, MNT_DETACH) != 0)
		die(EXIT_FAILED, "PATH %s changed while mnt %d was moved onto it (%s), and taking it "
		    "off again failed: %s; inspect /proc/%d/mountinfo", a->path, ours, what,
		    strerror(errno), a->pid);
	die(EXIT_REFUSED, "PATH %s changed while the mount was moved onto it (%s): the mount was "
	    "taken off again; nothing is injected", a->path, what);
}

static void print_top(struct jbuf *b, const struct top *t)
{
	jb_fmt(b, "\"mnt_id\":%d,\"fstype\":", t->mnt_id);
	jb_str(b, t->mi.fstype);
	jb_raw(b, ",\"source\":");
	jb_str(b, t->mi.source);
	jb_fmt(b, ",\"dev\":\"%u:%u\",\"mount_point\":%s", t->mi.major, t->mi.minor,
	       t->mount_point ? "true" : "false");
}

int main(int argc, char **argv)
{
	struct args a;
	parse_args(argc, argv, &a);

	/* Everything from the caller's namespace is opened before setns(). */
	char p[64];
	snprintf(p, sizeof p, "/proc/%d", a.pid);
	int procfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		die(EXIT_REFUSED, "no process %d: %s", a.pid, strerror(errno));
	int nsfd = openat(procfd, "ns/mnt", O_RDONLY | O_CLOEXEC);
	int rootfd = openat(procfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int mifd = openat(procfd, "mountinfo", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || rootfd < 0 || mifd < 0)
		die(EXIT_FAILED, "cannot open /proc/%d/{ns/mnt,root,mountinfo}: %s", a.pid,
		    strerror(errno));
	self_procfd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (self_procfd < 0)
		die(EXIT_FAILED, "cannot open /proc/self: %s", strerror(errno));

	int treefd = -1;
	struct mountinfo src = {0};
	if (!strcmp(a.cmd, "attach")) {
		struct statfs sf;
		if (statfs(a.source, &sf) != 0)
			die(EXIT_REFUSED, "--source %s: %s", a.source, strerror(errno));
		if (sf.f_type != FUSE_SUPER_MAGIC)
			die(EXIT_REFUSED, "--source %s is not a FUSE mount", a.source);
		int sid, sroot;
		if (mount_id_of(AT_FDCWD, a.source, &sid, &sroot) != 0)
			die(EXIT_FAILED, "statx %s: %s", a.source, strerror(errno));
		if (!sroot)
			die(EXIT_REFUSED, "--source %s is inside a FUSE mount, not its root", a.source);
		int selfmi = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
		if (selfmi < 0 || mountinfo_find(selfmi, sid, &src) != 0)
			die(EXIT_FAILED, "cannot find --source %s in /proc/self/mountinfo: %s",
			    a.source, strerror(errno));
		close(selfmi);
		treefd = sys_open_tree(AT_FDCWD, a.source, OPEN_TREE_CLONE | O_CLOEXEC);
		if (treefd < 0) {
			if (errno == ENOSYS)
				die(EXIT_REFUSED, "this kernel lacks open_tree(2) (Linux >= 5.2 "
				    "needed to attach a mount into another namespace)");
			die(EXIT_FAILED, "open_tree(%s, OPEN_TREE_CLONE): %s", a.source,
			    strerror(errno));
		}
	}

	if (setns(nsfd, CLONE_NEWNS) != 0)
		die(EXIT_FAILED, "setns into the mount namespace of pid %d: %s", a.pid,
		    strerror(errno));
	if (fchdir(rootfd) != 0 || chroot(".") != 0 || chdir("/") != 0)
		die(EXIT_FAILED, "cannot enter the root directory of pid %d: %s", a.pid,
		    strerror(errno));

	struct top t;
	look_at_path(&a, rootfd, mifd, &t);
	struct jbuf out = {0};

	if (!strcmp(a.cmd, "status")) {
		int ours = !strcmp(t.mi.fstype, CHAOSFS_FSTYPE);
		jb_raw(&out, "{\"ok\":true,");
		print_top(&out, &t);
		jb_fmt(&out, ",\"injected\":%s}\n", ours ? "true" : "false");
		fputs(out.s, stdout);
		return 0;
	}

	if (!strcmp(a.cmd, "attach")) {
		if (!strcmp(t.mi.fstype, CHAOSFS_FSTYPE))
			die(EXIT_REFUSED, "PATH %s in pid %d's namespace is already injected: the "
			    "mount on top (mnt %d) is %s", a.path, a.pid, t.mnt_id, t.mi.fstype);
		if (t.mi.major == src.major && t.mi.minor == src.minor)
			die(EXIT_REFUSED, "PATH %s in pid %d's namespace is already injected: the "
			    "mount on top (mnt %d) is the --source file system (%s, dev %u:%u)",
			    a.path, a.pid, t.mnt_id, src.fstype, src.major, src.minor);
		if (sys_move_mount(treefd, "", t.pathfd, "",
				   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
			if (errno == ENOSYS)
				die(EXIT_REFUSED, "this kernel lacks move_mount(2) (Linux >= 5.2 "
				    "needed)");
			die(EXIT_FAILED, "move_mount(%s -> %s in pid %d's namespace): %s", a.source,
			    a.path, a.pid, strerror(errno));
		}
		struct top now;
		struct problem why;
		int ours, root;
		if (mount_id_of(treefd, "", &ours, &root) != 0)
			die(EXIT_FAILED, "statx of the mount just moved onto %s: %s", a.path,
			    strerror(errno));
		if (try_look_at_path(&a, rootfd, mifd, &now, &why) != 0 || now.mnt_id != ours)
			take_back(&a, treefd, ours, mifd,
				  now.mnt_id ? "another mount is on top at PATH now" : why.msg);
		jb_raw(&out, "{\"ok\":true,");
		print_top(&out, &now);
		jb_fmt(&out, ",\"below_mnt_id\":%d,\"path_was_mount_point\":%s}\n", t.mnt_id,
		       t.mount_point ? "true" : "false");
		fputs(out.s, stdout);
		return 0;
	}

	/* detach: only the mount opened above, through its fd, once it is proved to be ours. */
	if (t.mnt_id != a.mnt_id) {
		struct mountinfo m;
		if (mountinfo_find(mifd, a.mnt_id, &m) != 0 && errno == ENOENT) {
			jb_raw(&out, "{\"ok\":true,\"already_detached\":true,\"top\":{");
			print_top(&out, &t);
			jb_raw(&out, "}}\n");
			fputs(out.s, stdout);
			return 0;
		}
		die(EXIT_REFUSED, "the top mount at %s in pid %d's namespace is mnt %d (%s), not "
		    "mnt %d: refusing to unmount what is not ours (mnt %d is now at %s: the path was "
		    "moved, or something was mounted over it)", a.path, a.pid, t.mnt_id, t.mi.fstype,
		    a.mnt_id, a.mnt_id, m.mountpoint);
	}
	if (strncmp(t.mi.fstype, "fuse", 4) != 0)
		die(EXIT_REFUSED, "mnt %d at %s is %s, not a FUSE mount: refusing to unmount it",
		    t.mnt_id, a.path, t.mi.fstype);
	if (!t.mount_point)
		die(EXIT_REFUSED, "%s is inside mnt %d, not its root: refusing to unmount it", a.path,
		    t.mnt_id);
	/* A lazy unmount takes every mount on or under ours with it: those are someone else's. */
	struct mountinfo child;
	if (mountinfo_find_child(mifd, a.mnt_id, &child) == 0)
		die(EXIT_REFUSED, "mnt %d (%s) is mounted on or under ours (mnt %d at %s): refusing to "
		    "unmount, it would go too", child.id, child.mountpoint, a.mnt_id, a.path);
	/* umount2 takes no fd: unmount the last component from PATH's parent as the cwd. Our fd of
	 * the mount itself is closed first, else it alone would make the mount busy. */
	close(t.pathfd);
	if (fchdir(t.parentfd) != 0)
		die(EXIT_FAILED, "fchdir to the parent of %s: %s", a.path, strerror(errno));
	int rc = umount2(t.name, UMOUNT_NOFOLLOW | (a.lazy ? MNT_DETACH : 0));
	int err = errno;
	if (chdir("/") != 0)
		die(EXIT_FAILED, "chdir / in pid %d's root: %s", a.pid, strerror(errno));
	if (rc != 0) {
		if (err == EBUSY)
			die(EXIT_FAILED, "%s in pid %d's namespace is busy: files are still open on "
			    "the injected mount (swap the fds back first, or pass --lazy)", a.path,
			    a.pid);
		die(EXIT_FAILED, "umount mnt %d at %s in pid %d's namespace: %s", a.mnt_id, a.path,
		    a.pid, strerror(err));
	}
	struct mountinfo gone;
	if (mountinfo_find(mifd, a.mnt_id, &gone) == 0)
		die(EXIT_FAILED, "umount of mnt %d returned ok but it is still in pid %d's mount table "
		    "at %s", a.mnt_id, a.pid, gone.mountpoint);
	/* Ours is gone. What PATH shows now is for information: the app may have moved it. */
	struct top after;
	struct problem why;
	jb_fmt(&out, "{\"ok\":true,\"detached_mnt_id\":%d,\"top\":", a.mnt_id);
	if (try_look_at_path(&a, rootfd, mifd, &after, &why) == 0) {
		jb_raw(&out, "{");
		print_top(&out, &after);
		jb_raw(&out, "}}\n");
	} else {
		jb_raw(&out, "null,\"top_problem\":");
		jb_str(&out, why.msg);
		jb_raw(&out, "}\n");
	}
	fputs(out.s, stdout);
	return 0;
}
