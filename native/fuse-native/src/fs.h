/*
 * The pass-through file system beneath one root directory fd, on libfuse3's low-level API.
 *
 * Every inode the kernel knows is an O_PATH fd opened beneath the root (one `openat` of one name in
 * its parent's fd), so no path is ever walked twice and nothing outside the root can be reached
 * through a symlink: names are single components, opened with O_NOFOLLOW. The kernel's node id is the
 * inode's address (1 for the root); the st_ino it shows is the backing file's own.
 *
 * Each call is decided in C against the rule set JS pushed (rules.h: op mask, path glob, percent). A
 * call no rule fires on is served here, on libfuse's worker threads; a fired rule's delay holds the
 * reply back (delay.h); only a call a JS rule fires on is shown to JavaScript (bridge.c) before it
 * reaches the backing, and with its result after if JS asks.
 */
#ifndef IOCHAOS_FUSE3_FS_H
#define IOCHAOS_FUSE3_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* The ops JS can act on; a rule's method names are these names (ops.c's op_names). */
enum op {
  OP_LOOKUP,
  OP_GETATTR,
  OP_SETATTR,
  OP_READLINK,
  OP_MKNOD,
  OP_MKDIR,
  OP_UNLINK,
  OP_RMDIR,
  OP_SYMLINK,
  OP_RENAME,
  OP_LINK,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_OPENDIR,
  OP_READDIR,
  OP_RELEASEDIR,
  OP_FSYNCDIR,
  OP_STATFS,
  OP_SETXATTR,
  OP_GETXATTR,
  OP_LISTXATTR,
  OP_REMOVEXATTR,
  OP_CREATE,
  OP_FALLOCATE,
  OP_COPY_FILE_RANGE,
  OP_LSEEK,
  OP_COUNT
};

extern const char *const op_names[OP_COUNT];

struct inode {
  int fd; /* O_PATH | O_NOFOLLOW, beneath the root */
  dev_t dev;
  ino_t ino;
  mode_t type; /* S_IFMT bits */
  uint64_t nlookup; /* the kernel's references; under fs.lock */
  /* The name it was last found under, for dropping the kernel's dentry (fs_invalidate_all). */
  fuse_ino_t parent;
  char *name;
  struct inode *next; /* hash chain */
};

/* A call shown to JavaScript: filled by the FUSE thread, answered by the JS thread (bridge.c). */
struct js_call {
  enum op op;
  int after; /* 0: before the backing call; 1: its result */
  uint64_t id;
  char *path; /* relative to the root, no leading '/'; "" for the root */
  uint64_t ino; /* backing st_ino, 0 when the file does not exist yet */
  int64_t offset;
  uint64_t length;
  char *data; /* write (before): the bytes to store; read (after): the bytes read. Rules may change them. */
  size_t data_len;
  struct stat *attr; /* after getattr / lookup / setattr: may be changed */
  int64_t size_before; /* write, setattr with a size: the file's size before the call (-1 when unknown) */
  int64_t size; /* setattr: the size it sets (-1 when it sets none) */
  struct statvfs *space; /* after statfs: the free space reported; may be lowered */
  int64_t result; /* after: bytes read or written, or 0 */
  uint64_t rules; /* bit k: rule k of the set fired on this call (rules.h) */
  /* The answer */
  int err; /* a positive errno fails the call */
  int want_after;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int answered;
};

struct fs {
  int root_fd;
  char *root_path; /* readlink of /proc/self/fd/root_fd, to name files for the rules */
  struct inode root;
  pthread_mutex_t lock;
  struct inode **buckets;
  size_t nbuckets, count;
  struct fuse_session *se;
  double attr_timeout, entry_timeout;
  /*
   * While set, every op runs with the caller's fs credentials (guard.c): the kernel's permission check
   * may have been misled by attributes a rule changed, so the backing checks them again.
   */
  _Atomic int guard;
  /* The union of the rule set's op masks: a call of any other op takes no lock and no path. */
  _Atomic uint64_t js_mask;
  pthread_rwlock_t rules_lock; /* covers loading `rules` and taking a reference (rules.c) */
  struct ruleset *rules;
  struct delay_queue *delays; /* replies held back by a native delay (delay.c) */
  _Atomic uint64_t next_call;
  _Atomic int init_answered;
  /* Counters per op: answered natively, shown to JS. */
  _Atomic uint64_t native_calls[OP_COUNT], js_calls[OP_COUNT];
  /* Asks JS (bridge.c); returns 0 when JS answered, -1 when JS is gone (then the call goes on). */
  int (*ask_js)(struct fs *fs, struct js_call *call);
  void *bridge;
  /* Page ranges to drop from the kernel's cache, off the FUSE threads (inval.c). */
  struct inval_queue *inval;
};

/* An open served through the page cache carries this bit in its file handle (the fd is the low 32). */
#define FH_CACHED (1ull << 32)

struct inval_queue *inval_start(struct fuse_session *se);
/* Queues dropping [off, off+len) of `nodeid`'s pages; never blocks on the kernel. */
void inval_push(struct inval_queue *q, fuse_ino_t nodeid, off_t off, off_t len);
void inval_stop(struct inval_queue *q);

int fs_init(struct fs *fs, int root_fd, char *err, size_t errlen);
void fs_destroy(struct fs *fs);
extern const struct fuse_lowlevel_ops fs_ops;

static inline int fs_js_wants(struct fs *fs, enum op op) {
  return (atomic_load_explicit(&fs->js_mask, memory_order_acquire) >> op) & 1;
}

/* What the kernel should forget so that calls reach the file system again. One entry per inode. */
struct known {
  fuse_ino_t nodeid, parent;
  char *name;
};
/* A snapshot of every inode the kernel holds (caller frees with fs_known_free). */
struct known *fs_known(struct fs *fs, size_t *n);
void fs_known_free(struct known *k, size_t n);

#endif
