#ifndef IOCHAOS_FUSE3_INODES_H
#define IOCHAOS_FUSE3_INODES_H
#include "fs.h"

int inodes_init(struct fs *fs);
void inodes_destroy(struct fs *fs);
int inodes_insert_root(struct fs *fs);
/* Opens `name` in `dir` (O_PATH|O_NOFOLLOW), finds or adds its inode and takes one kernel reference. */
int inodes_lookup(struct fs *fs, fuse_ino_t parent, struct inode *dir, const char *name, struct stat *st,
                  fuse_ino_t *nodeid);
void inodes_forget(struct fs *fs, fuse_ino_t nodeid, uint64_t n);
/* Records that the file (dev, ino) is now `name` in `parent`. */
void inodes_renamed(struct fs *fs, dev_t dev, ino_t ino, fuse_ino_t parent, const char *name);
fuse_ino_t nodeid_of(struct fs *fs, struct inode *i);
/* The file's path relative to the root (plus "/name" when given), for the rules; malloc'ed. */
char *inodes_path(struct fs *fs, struct inode *i, const char *name);

static inline struct inode *inode_of(struct fs *fs, fuse_ino_t nodeid) {
  return nodeid == FUSE_ROOT_ID ? &fs->root : (struct inode *)(uintptr_t)nodeid;
}
#endif
