/*
 * The low-level ops: each acts on the inode's O_PATH fd (or the open file's fd) with an *at() call,
 * answers with the backing's errno, and shows the call to JavaScript first when the op mask says so.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "delay.h"
#include "guard.h"
#include "inodes.h"
#include "rules.h"

const char *const op_names[OP_COUNT] = {
    [OP_LOOKUP] = "lookup",         [OP_GETATTR] = "getattr",
    [OP_SETATTR] = "setattr",       [OP_READLINK] = "readlink",
    [OP_MKNOD] = "mknod",           [OP_MKDIR] = "mkdir",
    [OP_UNLINK] = "unlink",         [OP_RMDIR] = "rmdir",
    [OP_SYMLINK] = "symlink",       [OP_RENAME] = "rename",
    [OP_LINK] = "link",             [OP_OPEN] = "open",
    [OP_READ] = "read",             [OP_WRITE] = "write",
    [OP_FLUSH] = "flush",           [OP_RELEASE] = "release",
    [OP_FSYNC] = "fsync",           [OP_OPENDIR] = "opendir",
    [OP_READDIR] = "readdir",       [OP_RELEASEDIR] = "releasedir",
    [OP_FSYNCDIR] = "fsyncdir",     [OP_STATFS] = "statfs",
    [OP_SETXATTR] = "setxattr",     [OP_GETXATTR] = "getxattr",
    [OP_LISTXATTR] = "listxattr",   [OP_REMOVEXATTR] = "removexattr",
    [OP_CREATE] = "create",         [OP_FALLOCATE] = "fallocate",
    [OP_COPY_FILE_RANGE] = "copy_file_range", [OP_LSEEK] = "lseek",
};

#define FS(req) ((struct fs *)fuse_req_userdata(req))

/* ---- JavaScript's view of a call ---------------------------------------------------------------- */

struct hook {
  int active; /* shown to JS */
  int matched; /* a rule's ops and glob matched (its percent aside) */
  struct js_call call;
};

/* Whether a call can change the volume: its delay is waited before it runs (delay.h says why). */
static int changes_volume(enum op op) {
  switch (op) {
    case OP_LOOKUP:
    case OP_GETATTR:
    case OP_READLINK:
    case OP_READ:
    case OP_OPENDIR:
    case OP_READDIR:
    case OP_RELEASEDIR:
    case OP_STATFS:
    case OP_GETXATTR:
    case OP_LISTXATTR:
    case OP_LSEEK:
      return 0;
    default:
      return 1; /* open too: with O_TRUNC or O_CREAT it changes the volume */
  }
}

/*
 * Before the backing call: decides it against the rule set (`name` in `i` for a call on a name, else
 * `i` itself). A fired delay marks the thread, so that its reply is held back; a fired JS rule shows
 * the call to JS. Returns a positive errno if a rule fails the call.
 */
static int hook_begin(fuse_req_t req, struct fs *fs, struct hook *h, enum op op, struct inode *i, const char *name,
                      int64_t offset, uint64_t length) {
  h->active = 0;
  h->matched = 0;
  delay_mark(0);
  int err = guard_enter(fs, req);
  if (err) return err;
  if (!fs_js_wants(fs, op)) {
    atomic_fetch_add_explicit(&fs->native_calls[op], 1, memory_order_relaxed);
    return 0;
  }
  char *path = inodes_path(fs, i, name);
  if (!path) return errno ? errno : ENOMEM;
  struct decision d;
  struct ruleset *r = rules_acquire(fs);
  rules_decide(r, op, path, &d);
  ruleset_release(r);
  h->matched = d.matched != 0;
  if (d.delay_us && changes_volume(op))
    delay_sleep(fs->delays, d.delay_us);
  else
    delay_mark(d.delay_us);
  if (!d.js) {
    free(path);
    atomic_fetch_add_explicit(&fs->native_calls[op], 1, memory_order_relaxed);
    return 0;
  }
  atomic_fetch_add_explicit(&fs->js_calls[op], 1, memory_order_relaxed);
  struct js_call *c = &h->call;
  memset(c, 0, sizeof *c);
  c->op = op;
  c->id = atomic_fetch_add_explicit(&fs->next_call, 1, memory_order_relaxed);
  c->path = path;
  c->rules = d.fired;
  c->ino = name ? 0 : i->ino;
  c->offset = offset;
  c->length = length;
  c->size_before = -1;
  c->size = -1;
  h->active = 1;
  return 0;
}

static int hook_ask(struct fs *fs, struct hook *h) {
  if (fs->ask_js(fs, &h->call) != 0) return 0; /* JS is gone (closing): the call goes on */
  return h->call.err;
}

/* A write's bytes, before they are stored: JS may change them or fail the call. */
static int hook_before(struct fs *fs, struct hook *h, char *data, size_t len) {
  if (!h->active) return 0;
  h->call.data = data;
  h->call.data_len = len;
  return hook_ask(fs, h);
}

/* After the backing call, if JS asked for its result. */
static int hook_after(struct fs *fs, struct hook *h, struct stat *attr, char *data, size_t len, int64_t result) {
  if (!h->active || !h->call.want_after) return 0;
  h->call.after = 1;
  h->call.attr = attr;
  h->call.data = data;
  h->call.data_len = len;
  h->call.result = result;
  if (attr && !h->call.ino) h->call.ino = attr->st_ino;
  return hook_ask(fs, h);
}

/* A call JS wanted the result of but that failed first is still shown once (result -1, no data), so
 * that JS can let go of what it kept for it. */
static void hook_end(struct fs *fs, struct hook *h) {
  if (!h->active) return;
  if (h->call.want_after && !h->call.after) {
    h->call.after = 1;
    h->call.data = NULL;
    h->call.data_len = 0;
    h->call.attr = NULL;
    h->call.space = NULL;
    h->call.result = -1;
    hook_ask(fs, h);
  }
  free(h->call.path);
}

/* One op that only needs the before step. */
static int hook_gate(fuse_req_t req, struct fs *fs, enum op op, struct inode *i, const char *name) {
  struct hook h;
  int err = hook_begin(req, fs, &h, op, i, name, 0, 0);
  if (!err) err = hook_before(fs, &h, NULL, 0);
  hook_end(fs, &h);
  return err;
}

/* Nothing is cached while the guard is on: each path walk then reaches lookup, one name at a time,
 * so the backing checks search permission on every directory as the caller. */
static double attr_timeout(struct fs *fs) {
  return fs_js_wants(fs, OP_GETATTR) || atomic_load(&fs->guard) ? 0 : fs->attr_timeout;
}

static double entry_timeout(struct fs *fs) {
  return fs_js_wants(fs, OP_LOOKUP) || atomic_load(&fs->guard) ? 0 : fs->entry_timeout;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

static void proc_path(char *buf, size_t len, int fd) {
  snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/*
 * Files are made with mode bits exactly as the kernel sent them (it applied the caller's umask): each
 * FUSE thread gets its own fs_struct (CLONE_FS) with umask 0, leaving the process's umask alone.
 */
static void thread_umask_zero(void) {
  static __thread int done;
  if (done) return;
  if (unshare(CLONE_FS) == 0) umask(0);
  done = 1;
}

/* New files belong to the caller, not to the privileged server; a setgid parent keeps its group. */
static int give_to_caller(fuse_req_t req, struct inode *dir, const char *name, int fd) {
  const struct fuse_ctx *ctx = fuse_req_ctx(req);
  if (ctx->uid == 0 && ctx->gid == 0) return 0;
  struct stat pst;
  gid_t gid = ctx->gid;
  if (fstatat(dir->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID)) gid = (gid_t)-1;
  int res = fd >= 0 ? fchown(fd, ctx->uid, gid) : fchownat(dir->fd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW);
  return res < 0 ? errno : 0;
}

static void fill_entry(struct fs *fs, struct fuse_entry_param *e, fuse_ino_t nodeid, const struct stat *st) {
  memset(e, 0, sizeof *e);
  e->ino = nodeid;
  e->attr = *st;
  e->attr_timeout = attr_timeout(fs);
  e->entry_timeout = entry_timeout(fs);
}

/* Per-open caching: the page cache is kept while no read/write rule can match the file. */
static void open_caching(struct fs *fs, struct inode *i, const char *name, struct fuse_file_info *fi) {
  uint64_t rw = (1ull << OP_READ) | (1ull << OP_WRITE);
  int direct = 0;
  if (atomic_load_explicit(&fs->js_mask, memory_order_acquire) & rw) {
    char *path = inodes_path(fs, i, name);
    struct ruleset *r = rules_acquire(fs);
    direct = !path || rules_could_match(r, rw, path);
    ruleset_release(r);
    free(path);
  }
  if (direct) {
    fi->direct_io = 1;
    fi->keep_cache = 0;
  } else {
    fi->direct_io = 0;
    fi->keep_cache = 1;
    fi->fh |= FH_CACHED;
  }
}

/* ---- ops ---------------------------------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  (void)userdata;
  /* The kernel clears setuid bits itself (with a SETATTR) when we do not claim to. */
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct fs *fs = FS(req);
  struct inode *dir = inode_of(fs, parent);
  struct hook h;
  struct fuse_entry_param e;
  struct stat st;
  fuse_ino_t nodeid = 0;
  int err = hook_begin(req, fs, &h, OP_LOOKUP, dir, name, 0, 0);
  if (!err) err = hook_before(fs, &h, NULL, 0);
  if (!err) err = inodes_lookup(fs, parent, dir, name, &st, &nodeid);
  if (!err) {
    err = hook_after(fs, &h, &st, NULL, 0, 0);
    if (err) inodes_forget(fs, nodeid, 1);
  }
  hook_end(fs, &h);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  fill_entry(fs, &e, nodeid, &st);
  fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  inodes_forget(FS(req), ino, nlookup);
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  for (size_t k = 0; k < count; k++) inodes_forget(FS(req), forgets[k].ino, forgets[k].nlookup);
  fuse_reply_none(req);
}

static int stat_of(struct inode *i, struct fuse_file_info *fi, struct stat *st) {
  int res = fi ? fstat((int)fi->fh, st) : fstatat(i->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  return res < 0 ? errno : 0;
}

static void reply_attr(fuse_req_t req, struct fs *fs, struct hook *h, int err, struct stat *st) {
  if (!err) err = hook_after(fs, h, st, NULL, 0, 0);
  hook_end(fs, h);
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_attr(req, st, attr_timeout(fs));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  struct hook h;
  struct stat st;
  int err = hook_begin(req, fs, &h, OP_GETATTR, i, NULL, 0, 0);
  if (!err) err = hook_before(fs, &h, NULL, 0);
  if (!err) err = stat_of(i, fi, &st);
  reply_attr(req, fs, &h, err, &st);
}

static int set_attributes(struct inode *i, struct stat *attr, int valid, struct fuse_file_info *fi) {
  char proc[64];
  proc_path(proc, sizeof proc, i->fd);
  int fd = fi ? (int)fi->fh : -1;
  if (valid & FUSE_SET_ATTR_MODE) {
    int res = fd >= 0 ? fchmod(fd, attr->st_mode) : (i->type == S_IFLNK ? (errno = EOPNOTSUPP, -1) : chmod(proc, attr->st_mode));
    if (res < 0) return errno;
  }
  if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
    gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
    if (fchownat(i->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return errno;
  }
  if (valid & FUSE_SET_ATTR_SIZE) {
    int res = fd >= 0 ? ftruncate(fd, attr->st_size) : truncate(proc, attr->st_size);
    if (res < 0) return errno;
  }
  if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
    if (valid & FUSE_SET_ATTR_ATIME_NOW)
      tv[0].tv_nsec = UTIME_NOW;
    else if (valid & FUSE_SET_ATTR_ATIME)
      tv[0] = attr->st_atim;
    if (valid & FUSE_SET_ATTR_MTIME_NOW)
      tv[1].tv_nsec = UTIME_NOW;
    else if (valid & FUSE_SET_ATTR_MTIME)
      tv[1] = attr->st_mtim;
    int res = fd >= 0 ? futimens(fd, tv) : utimensat(i->fd, "", tv, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    if (res < 0) return errno;
  }
  return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  struct hook h;
  struct stat st;
  int err = hook_begin(req, fs, &h, OP_SETATTR, i, NULL, 0, 0);
  if (!err && h.active && (valid & FUSE_SET_ATTR_SIZE)) {
    /* A truncate: the rules see the size it sets and the size before (a full disk accounts growth). */
    h.call.size = attr->st_size;
    h.call.size_before = stat_of(i, fi, &st) == 0 ? st.st_size : -1;
  }
  if (!err) err = hook_before(fs, &h, NULL, 0);
  if (!err) err = set_attributes(i, attr, valid, fi);
  if (!err) err = stat_of(i, fi, &st);
  reply_attr(req, fs, &h, err, &st);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  char buf[PATH_MAX + 1];
  int err = hook_gate(req, fs, OP_READLINK, i, NULL);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  ssize_t n = readlinkat(i->fd, "", buf, sizeof buf);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  if ((size_t)n == sizeof buf) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  buf[n] = '\0';
  fuse_reply_readlink(req, buf);
}

/* Looks up what was just made and answers with its entry; on failure removes it again. */
static void reply_made(fuse_req_t req, struct fs *fs, fuse_ino_t parent, struct inode *dir, const char *name,
                       int is_dir) {
  struct fuse_entry_param e;
  struct stat st;
  fuse_ino_t nodeid;
  int err = give_to_caller(req, dir, name, -1);
  if (!err) err = inodes_lookup(fs, parent, dir, name, &st, &nodeid);
  if (err) {
    unlinkat(dir->fd, name, is_dir ? AT_REMOVEDIR : 0);
    fuse_reply_err(req, err);
    return;
  }
  fill_entry(fs, &e, nodeid, &st);
  fuse_reply_entry(req, &e);
}

static void make_node(fuse_req_t req, enum op op, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
                      const char *link) {
  struct fs *fs = FS(req);
  struct inode *dir = inode_of(fs, parent);
  int err = hook_gate(req, fs, op, dir, name);
  if (!err) {
    thread_umask_zero();
    int res = op == OP_MKDIR     ? mkdirat(dir->fd, name, mode)
              : op == OP_SYMLINK ? symlinkat(link, dir->fd, name)
                                 : mknodat(dir->fd, name, mode, rdev);
    if (res < 0) err = errno;
  }
  if (err)
    fuse_reply_err(req, err);
  else
    reply_made(req, fs, parent, dir, name, op == OP_MKDIR);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  make_node(req, OP_MKNOD, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  make_node(req, OP_MKDIR, parent, name, mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  make_node(req, OP_SYMLINK, parent, name, 0, 0, link);
}

static void remove_name(fuse_req_t req, enum op op, fuse_ino_t parent, const char *name) {
  struct fs *fs = FS(req);
  struct inode *dir = inode_of(fs, parent);
  int err = hook_gate(req, fs, op, dir, name);
  if (!err && unlinkat(dir->fd, name, op == OP_RMDIR ? AT_REMOVEDIR : 0) < 0) err = errno;
  fuse_reply_err(req, err);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  remove_name(req, OP_UNLINK, parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  remove_name(req, OP_RMDIR, parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  struct fs *fs = FS(req);
  struct inode *dir = inode_of(fs, parent), *newdir = inode_of(fs, newparent);
  struct stat st;
  int err = hook_gate(req, fs, OP_RENAME, dir, name);
  int known = !err && fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!err && renameat2(dir->fd, name, newdir->fd, newname, flags) < 0) err = errno;
  if (!err && known) {
    inodes_renamed(fs, st.st_dev, st.st_ino, newparent, newname);
    if (flags & RENAME_EXCHANGE) {
      struct stat other;
      if (fstatat(dir->fd, name, &other, AT_SYMLINK_NOFOLLOW) == 0)
        inodes_renamed(fs, other.st_dev, other.st_ino, parent, name);
    }
  }
  fuse_reply_err(req, err);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino), *newdir = inode_of(fs, newparent);
  char proc[64];
  int err = hook_gate(req, fs, OP_LINK, newdir, newname);
  /* Through the fd's /proc link, not AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH, gone while the
   * guard runs the call as the caller); the kernel's protected_hardlinks check then applies too. */
  proc_path(proc, sizeof proc, i->fd);
  if (!err && linkat(AT_FDCWD, proc, newdir->fd, newname, AT_SYMLINK_FOLLOW) < 0) err = errno;
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  struct fuse_entry_param e;
  struct stat st;
  fuse_ino_t nodeid;
  err = inodes_lookup(fs, newparent, newdir, newname, &st, &nodeid);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  fill_entry(fs, &e, nodeid, &st);
  fuse_reply_entry(req, &e);
}

/* O_DIRECT is dropped: FUSE's buffers are not aligned for it, and the kernel caches per open anyway. */
static int backing_flags(int flags) {
  return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT | O_NOFOLLOW)) | O_CLOEXEC;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  char proc[64];
  int err = hook_gate(req, fs, OP_OPEN, i, NULL);
  /* The kernel serves devices, fifos and sockets itself; an open of one arrives only when an override
   * reported it as a regular file. Opening the real one would bypass nodev, or block on a fifo. */
  if (!err && i->type != S_IFREG && i->type != S_IFDIR) err = (i->type == S_IFCHR || i->type == S_IFBLK) ? EACCES : ENXIO;
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  proc_path(proc, sizeof proc, i->fd);
  int fd = open(proc, backing_flags(fi->flags));
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fi->fh = (uint64_t)fd;
  open_caching(fs, i, NULL, fi);
  if (fuse_reply_open(req, fi) != 0) close(fd); /* the request was interrupted */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct inode *dir = inode_of(fs, parent);
  int err = hook_gate(req, fs, OP_CREATE, dir, name);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  thread_umask_zero();
  int fd = openat(dir->fd, name, backing_flags(fi->flags) | O_CREAT | O_NOFOLLOW, mode);
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  struct fuse_entry_param e;
  struct stat st;
  fuse_ino_t nodeid = 0;
  err = give_to_caller(req, dir, name, fd);
  if (!err) err = inodes_lookup(fs, parent, dir, name, &st, &nodeid);
  if (err) {
    close(fd);
    fuse_reply_err(req, err);
    return;
  }
  fill_entry(fs, &e, nodeid, &st);
  fi->fh = (uint64_t)fd;
  open_caching(fs, dir, name, fi);
  if (fuse_reply_create(req, &e, fi) != 0) {
    close(fd);
    inodes_forget(fs, nodeid, 1);
  }
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct hook h;
  int err = hook_begin(req, fs, &h, OP_READ, inode_of(fs, ino), NULL, off, size);
  if (!err && !h.active && !h.matched) {
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = (int)fi->fh;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
    return;
  }
  char *data = NULL;
  ssize_t n = 0;
  if (!err) err = hook_before(fs, &h, NULL, 0);
  if (!err && !(data = malloc(size ? size : 1))) err = ENOMEM;
  if (!err && (n = pread((int)fi->fh, data, size, off)) < 0) err = errno;
  if (!err) err = hook_after(fs, &h, NULL, data, (size_t)n, n);
  hook_end(fs, &h);
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_buf(req, data, (size_t)n);
  free(data);
  /* An open from before a read rule existed keeps its pages cached: drop the ones this read filled,
   * so the next read() of them reaches the rules too (queued: the kernel holds them locked until the
   * reply is in). */
  if (fi->fh & FH_CACHED) inval_push(fs->inval, ino, off, (off_t)size);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
                         struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  size_t size = fuse_buf_size(in);
  struct hook h;
  int err = hook_begin(req, fs, &h, OP_WRITE, inode_of(fs, ino), NULL, off, size);
  if (!err && !h.active) {
    struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    out.buf[0].fd = (int)fi->fh;
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in, 0);
    if (n < 0)
      fuse_reply_err(req, (int)-n);
    else
      fuse_reply_write(req, (size_t)n);
    return;
  }
  char *data = NULL;
  ssize_t n = 0;
  if (!err && !(data = malloc(size ? size : 1))) err = ENOMEM;
  if (!err) {
    struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
    mem.buf[0].mem = data;
    n = fuse_buf_copy(&mem, in, 0);
    if (n < 0) err = (int)-n;
  }
  if (!err && h.active) {
    /* The size before, for rules that account growth (a full disk). */
    struct stat st;
    h.call.size_before = fstat((int)fi->fh, &st) == 0 ? st.st_size : -1;
  }
  if (!err) err = hook_before(fs, &h, data, (size_t)n);
  if (!err && (n = pwrite((int)fi->fh, data, (size_t)n, off)) < 0) err = errno;
  if (!err) err = hook_after(fs, &h, NULL, NULL, 0, n);
  hook_end(fs, &h);
  free(data);
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  int err = hook_gate(req, fs, OP_FLUSH, inode_of(fs, ino), NULL);
  /* A close of a dup: the backing file system sees a close (NFS writes back on it), the fd stays. */
  if (!err && close(dup((int)fi->fh)) < 0) err = errno;
  fuse_reply_err(req, err);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  /* Shown to the rules, but the fd is closed whatever they say: a leak would outlive the app. */
  hook_gate(req, fs, OP_RELEASE, inode_of(fs, ino), NULL);
  close((int)fi->fh);
  fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  int err = hook_gate(req, fs, OP_FSYNC, inode_of(fs, ino), NULL);
  if (!err && (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) < 0) err = errno;
  fuse_reply_err(req, err);
}

struct dir_handle {
  DIR *dp;
  struct dirent *entry;
  off_t offset;
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  int err = hook_gate(req, fs, OP_OPENDIR, i, NULL);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  struct dir_handle *d = calloc(1, sizeof *d);
  int fd = d ? openat(i->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (fd < 0 || !(d->dp = fdopendir(fd))) {
    err = d ? errno : ENOMEM;
    if (fd >= 0) close(fd);
    free(d);
    fuse_reply_err(req, err);
    return;
  }
  fi->fh = (uint64_t)(uintptr_t)d;
  if (fuse_reply_open(req, fi) != 0) {
    closedir(d->dp);
    free(d);
  }
}

static int is_dot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void read_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi,
                     int plus) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
  int err = hook_gate(req, fs, OP_READDIR, i, NULL);
  char *buf = err ? NULL : calloc(1, size);
  if (!err && !buf) err = ENOMEM;
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  if (offset != d->offset) {
    seekdir(d->dp, offset);
    d->entry = NULL;
    d->offset = offset;
  }
  char *p = buf;
  size_t rem = size;
  for (;;) {
    if (!d->entry) {
      errno = 0;
      d->entry = readdir(d->dp);
      if (!d->entry) {
        if (errno && p == buf) err = errno;
        break;
      }
    }
    const char *name = d->entry->d_name;
    off_t next = d->entry->d_off;
    size_t used;
    if (plus) {
      struct fuse_entry_param e;
      struct stat st = {.st_ino = d->entry->d_ino, .st_mode = (mode_t)d->entry->d_type << 12};
      fuse_ino_t nodeid = 0;
      if (is_dot(name)) {
        memset(&e, 0, sizeof e);
        e.attr = st;
      } else {
        int lerr = inodes_lookup(fs, ino, i, name, &st, &nodeid);
        if (lerr) {
          if (lerr == ENOENT) { /* gone since readdir saw it */
            d->entry = NULL;
            d->offset = next;
            continue;
          }
          if (p == buf) err = lerr;
          break;
        }
        fill_entry(fs, &e, nodeid, &st);
      }
      used = fuse_add_direntry_plus(req, p, rem, name, &e, next);
      if (used > rem) {
        if (nodeid) inodes_forget(fs, nodeid, 1);
        break;
      }
    } else {
      struct stat st = {.st_ino = d->entry->d_ino, .st_mode = (mode_t)d->entry->d_type << 12};
      used = fuse_add_direntry(req, p, rem, name, &st, next);
      if (used > rem) break;
    }
    p += used;
    rem -= used;
    d->entry = NULL;
    d->offset = next;
  }
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_buf(req, buf, size - rem);
  free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  read_dir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  read_dir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
  hook_gate(req, fs, OP_RELEASEDIR, inode_of(fs, ino), NULL);
  closedir(d->dp);
  free(d);
  fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
  int err = hook_gate(req, fs, OP_FSYNCDIR, inode_of(fs, ino), NULL);
  int fd = dirfd(d->dp);
  if (!err && (datasync ? fdatasync(fd) : fsync(fd)) < 0) err = errno;
  fuse_reply_err(req, err);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  struct statvfs sv;
  struct hook h;
  int err = hook_begin(req, fs, &h, OP_STATFS, i, NULL, 0, 0);
  if (!err) err = hook_before(fs, &h, NULL, 0);
  if (!err && fstatvfs(i->fd, &sv) < 0) err = errno;
  if (!err && h.active) {
    h.call.space = &sv; /* a rule may lower the free space (a full disk) */
    err = hook_after(fs, &h, NULL, NULL, 0, 0);
  }
  hook_end(fs, &h);
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_statfs(req, &sv);
}

/*
 * xattrs have no *at() call before Linux 6.13: through the fd's /proc/self/fd link, which names the
 * inode itself (a symlink's own inode too), never a path walked again.
 */
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  char proc[64];
  int err = hook_gate(req, fs, OP_SETXATTR, i, NULL);
  proc_path(proc, sizeof proc, i->fd);
  if (!err && setxattr(proc, name, value, size, flags) < 0) err = errno;
  fuse_reply_err(req, err);
}

/* getxattr and listxattr: a size-0 query is answered with the size, else the value (ERANGE if small). */
static void reply_sized(fuse_req_t req, size_t size, ssize_t (*get)(const char *, const char *, char *, size_t),
                        const char *proc, const char *name) {
  char *buf = size ? malloc(size) : NULL;
  if (size && !buf) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  ssize_t n = get(proc, name, buf, size);
  if (n < 0)
    fuse_reply_err(req, errno);
  else if (size == 0)
    fuse_reply_xattr(req, (size_t)n);
  else
    fuse_reply_buf(req, buf, (size_t)n);
  free(buf);
}

static ssize_t get_one(const char *proc, const char *name, char *buf, size_t size) {
  return getxattr(proc, name, buf, size);
}

static ssize_t get_list(const char *proc, const char *name, char *buf, size_t size) {
  (void)name;
  return listxattr(proc, buf, size);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  char proc[64];
  int err = hook_gate(req, fs, OP_GETXATTR, i, NULL);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  proc_path(proc, sizeof proc, i->fd);
  reply_sized(req, size, get_one, proc, name);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  char proc[64];
  int err = hook_gate(req, fs, OP_LISTXATTR, i, NULL);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  proc_path(proc, sizeof proc, i->fd);
  reply_sized(req, size, get_list, proc, NULL);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  struct fs *fs = FS(req);
  struct inode *i = inode_of(fs, ino);
  char proc[64];
  int err = hook_gate(req, fs, OP_REMOVEXATTR, i, NULL);
  proc_path(proc, sizeof proc, i->fd);
  if (!err && removexattr(proc, name) < 0) err = errno;
  fuse_reply_err(req, err);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  int err = hook_gate(req, fs, OP_FALLOCATE, inode_of(fs, ino), NULL);
  if (!err && fallocate((int)fi->fh, mode, off, len) < 0) err = errno;
  fuse_reply_err(req, err);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
                               int flags) {
  struct fs *fs = FS(req);
  (void)ino_in;
  int err = hook_gate(req, fs, OP_COPY_FILE_RANGE, inode_of(fs, ino_out), NULL);
  ssize_t n = 0;
  if (!err) {
    loff_t in = off_in, out = off_out;
    n = copy_file_range((int)fi_in->fh, &in, (int)fi_out->fh, &out, len, (unsigned int)flags);
    if (n < 0) err = errno;
  }
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_write(req, (size_t)n);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  struct fs *fs = FS(req);
  int err = hook_gate(req, fs, OP_LSEEK, inode_of(fs, ino), NULL);
  off_t res = err ? -1 : lseek((int)fi->fh, off, whence);
  if (!err && res < 0) err = errno;
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_lseek(req, res);
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write_buf = op_write_buf,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .create = op_create,
    .fallocate = op_fallocate,
    .copy_file_range = op_copy_file_range,
    .lseek = op_lseek,
};

int fs_init(struct fs *fs, int root_fd, char *err, size_t errlen) {
  struct stat st;
  char proc[64], buf[PATH_MAX + 1];
  if (fstat(root_fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "rootFd %d is not an open directory", root_fd);
    return -1;
  }
  fs->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
  if (fs->root_fd < 0) {
    snprintf(err, errlen, "cannot dup rootFd: %s", strerror(errno));
    return -1;
  }
  proc_path(proc, sizeof proc, fs->root_fd);
  ssize_t n = readlink(proc, buf, PATH_MAX);
  buf[n < 0 ? 0 : n] = '\0';
  fs->root_path = strdup(buf);
  fs->root.fd = fs->root_fd;
  fs->root.dev = st.st_dev;
  fs->root.ino = st.st_ino;
  fs->root.type = S_IFDIR;
  fs->root.nlookup = 1;
  pthread_mutex_init(&fs->lock, NULL);
  pthread_rwlock_init(&fs->rules_lock, NULL);
  if (!fs->root_path || inodes_init(fs) != 0) {
    snprintf(err, errlen, "out of memory");
    close(fs->root_fd);
    free(fs->root_path);
    return -1;
  }
  inodes_insert_root(fs);
  return 0;
}

void fs_destroy(struct fs *fs) {
  rules_publish(fs, NULL);
  pthread_rwlock_destroy(&fs->rules_lock);
  inodes_destroy(fs);
  close(fs->root_fd);
  free(fs->root_path);
  pthread_mutex_destroy(&fs->lock);
}
