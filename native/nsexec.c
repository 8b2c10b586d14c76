/*
 * nsexec.so: LD_PRELOAD this to run a program in another process's namespaces.
 *
 * Node (and so the sidecar) is multi-threaded from its first instruction, and
 * setns(CLONE_NEWNS) refuses multi-threaded callers. A constructor in a
 * preloaded library runs before main and before the program can start threads,
 * so it can still enter the mount namespace.
 *
 * Environment:
 *   IOCHAOS_NSEXEC_PID=1234        enter pid 1234's mount namespace (and root)
 *   IOCHAOS_NSEXEC_MNTNS=/path     or: enter the mount namespace of this ns file
 *   IOCHAOS_NSEXEC_NS=net,uts,...  also enter these namespaces of that pid;
 *                                  an entry may be name=/path/to/ns/file
 * On any failure it prints "nsexec: ..." to stderr and _exit(125)s before main:
 * the program never runs in the wrong namespace.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSEXEC_EXIT 125
#define MAX_NS 8

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof msg - 2)
		n = sizeof msg - 2;
	msg[n++] = '\n';
	/* write(2), not stdio: stdio may not be set up the way the program expects. */
	if (write(2, "nsexec: ", 8) < 0 || write(2, msg, (size_t)n) < 0) {
		/* Nothing left to report to; the exit code still says it failed. */
	}
	_exit(NSEXEC_EXIT);
}

struct ns_kind {
	const char *name;
	int flag;
};

/*
 * Order of entry: mnt after the others so /proc of the original view is still
 * what the paths above were resolved against; user last, since entering a user
 * namespace first would drop the capabilities the other setns() calls need.
 */
static const struct ns_kind kinds[] = {
	{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
	{"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID}, {"time", 0x00000080 /* CLONE_NEWTIME */},
	{"mnt", CLONE_NEWNS},        {"user", CLONE_NEWUSER},
};

static int kind_index(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strlen(kinds[i].name) == len && strncmp(kinds[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Drops this library from LD_PRELOAD so the program's children run normally. */
static void unpreload_self(void)
{
	const char *pre = getenv("LD_PRELOAD");
	if (!pre)
		return;
	Dl_info info;
	const char *self = NULL;
	if (dladdr((void *)unpreload_self, &info) && info.dli_fname)
		self = info.dli_fname;
	size_t n = strlen(pre);
	char *out = malloc(n + 1);
	char *tmp = strdup(pre);
	if (!out || !tmp)
		fail("out of memory");
	out[0] = 0;
	char *save = NULL;
	for (char *tok = strtok_r(tmp, ": \t", &save); tok; tok = strtok_r(NULL, ": \t", &save)) {
		const char *base = strrchr(tok, '/');
		base = base ? base + 1 : tok;
		if ((self && strcmp(tok, self) == 0) || strcmp(base, "nsexec.so") == 0)
			continue;
		if (out[0])
			strcat(out, ":");
		strcat(out, tok);
	}
	if (out[0])
		setenv("LD_PRELOAD", out, 1);
	else
		unsetenv("LD_PRELOAD");
	free(out);
	free(tmp);
}

static int parse_pid(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == 0 || *end != 0 || v <= 0 || v > 0x3fffffff)
		fail("IOCHAOS_NSEXEC_PID=%s is not a process id", s);
	return (int)v;
}

__attribute__((constructor(101))) static void nsexec_enter(void)
{
	const char *pid_s = getenv("IOCHAOS_NSEXEC_PID");
	const char *mntns = getenv("IOCHAOS_NSEXEC_MNTNS");
	const char *extra = getenv("IOCHAOS_NSEXEC_NS");
	if (pid_s && !*pid_s)
		pid_s = NULL;
	if (mntns && !*mntns)
		mntns = NULL;
	if (!pid_s && !mntns)
		fail("loaded without IOCHAOS_NSEXEC_PID or IOCHAOS_NSEXEC_MNTNS: refusing to run "
		     "the program in the current namespace");
	if (pid_s && mntns)
		fail("both IOCHAOS_NSEXEC_PID and IOCHAOS_NSEXEC_MNTNS are set: give one");
	int pid = pid_s ? parse_pid(pid_s) : 0;

	/* Open every ns file (and the target's root) first, while /proc still is ours. */
	int fds[MAX_NS];
	static char paths[MAX_NS][4200];
	for (int i = 0; i < MAX_NS; i++)
		fds[i] = -1;
	char path[4200];
	int mnt = kind_index("mnt", 3);
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/ns/mnt", pid);
	else
		snprintf(path, sizeof path, "%s", mntns);
	fds[mnt] = open(path, O_RDONLY | O_CLOEXEC);
	memcpy(paths[mnt], path, sizeof path);
	if (fds[mnt] < 0)
		fail("cannot enter the mount namespace%s%s: open %s: %s", pid ? " of pid " : "",
		     pid ? pid_s : "", path, strerror(errno));

	if (extra && *extra) {
		char *list = strdup(extra);
		if (!list)
			fail("out of memory");
		char *save = NULL;
		for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');
			size_t len = eq ? (size_t)(eq - tok) : strlen(tok);
			int k = kind_index(tok, len);
			if (k < 0)
				fail("IOCHAOS_NSEXEC_NS: unknown namespace \"%.*s\" (known: cgroup, ipc, "
				     "uts, net, pid, time, mnt, user)",
				     (int)len, tok);
			if (k == mnt)
				continue;
			if (eq)
				snprintf(path, sizeof path, "%s", eq + 1);
			else if (pid)
				snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, kinds[k].name);
			else
				fail("IOCHAOS_NSEXEC_NS: \"%s\" needs a file (name=/path) without "
				     "IOCHAOS_NSEXEC_PID",
				     tok);
			if (fds[k] >= 0)
				close(fds[k]);
			fds[k] = open(path, O_RDONLY | O_CLOEXEC);
			memcpy(paths[k], path, sizeof path);
			if (fds[k] < 0)
				fail("cannot enter the %s namespace: open %s: %s", kinds[k].name, path,
				     strerror(errno));
		}
		free(list);
	}

	/*
	 * setns(mnt) leaves us at the namespace's root mount. A container may be
	 * chroot'ed below it, so in pid mode we also take the target's own root.
	 */
	int rootfd = -1;
	if (pid) {
		snprintf(path, sizeof path, "/proc/%d/root", pid);
		rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			fail("cannot open the root of pid %d: %s: %s", pid, path, strerror(errno));
	}

	for (int k = 0; k < MAX_NS; k++) {
		if (fds[k] < 0)
			continue;
		if (setns(fds[k], kinds[k].flag) != 0) {
			int e = errno;
			fail("cannot enter the %s namespace: setns(%s): %s%s", kinds[k].name, paths[k],
			     strerror(e),
			     e == EINVAL && k == mnt ? " (is the program already multi-threaded?)" : "");
		}
		close(fds[k]);
	}
	if (rootfd >= 0) {
		if (fchdir(rootfd) != 0 || chroot(".") != 0)
			fail("cannot enter the root directory of pid %d: %s", pid, strerror(errno));
		close(rootfd);
	}
	if (chdir("/") != 0)
		fail("chdir(\"/\") in the target namespace failed: %s", strerror(errno));

	unpreload_self();
	unsetenv("IOCHAOS_NSEXEC_PID");
	unsetenv("IOCHAOS_NSEXEC_MNTNS");
	unsetenv("IOCHAOS_NSEXEC_NS");
}
