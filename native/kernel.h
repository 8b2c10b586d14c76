/*
 * Raw system calls the helpers need that Debian 12's glibc does not wrap
 * (open_tree, move_mount, openat2, pidfd_*, kcmp), and mountinfo parsing.
 * Called through syscall(2) so the helpers build against any libc.
 */
#ifndef IOCHAOS_KERNEL_H
#define IOCHAOS_KERNEL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

static inline int sys_open_tree(int dfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static inline int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to,
				 unsigned flags)
{
	return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

static inline int sys_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode,
			      uint64_t resolve)
{
	struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
}

static inline int sys_pidfd_open(int pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static inline int sys_pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

static inline int sys_kcmp(int pid1, int pid2, int type, unsigned long a, unsigned long b)
{
	return (int)syscall(SYS_kcmp, pid1, pid2, type, a, b);
}

/* One line of /proc/PID/mountinfo, with the mount point unescaped. */
struct mountinfo {
	int id, parent;
	unsigned major, minor;
	char root[4096];
	char mountpoint[4096];
	char fstype[128];
	char source[1024];
};

/*
 * Finds the mount with id `id` in the mountinfo file open as `fd` (rewound
 * first). Returns 0 and fills *out, or -1 (errno ENOENT if no such mount).
 */
int mountinfo_find(int fd, int id, struct mountinfo *out);

/* The first mount whose parent is `parent` (something mounted on or under it); as mountinfo_find. */
int mountinfo_find_child(int fd, int parent, struct mountinfo *out);

/* statx mount id (and whether path is a mount root) of dirfd+path, no follow. */
int mount_id_of(int dirfd, const char *path, int *mnt_id, int *is_mount_root);

#endif
