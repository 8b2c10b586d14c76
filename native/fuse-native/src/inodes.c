/*
 * The inode table: every file the kernel holds a reference to, keyed by (st_dev, st_ino) so that two
 * names of one file (hard links) are one inode, as the kernel expects. One mutex guards it; what runs
 * under it is a hash probe and a counter, never a system call that can block on the backing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "inodes.h"

static size_t bucket_of(const struct fs *fs, dev_t dev, ino_t ino) {
  uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;
  return (size_t)(h ^ (h >> 29)) & (fs->nbuckets - 1);
}

static int grow(struct fs *fs) {
  size_t n = fs->nbuckets * 2;
  struct inode **b = calloc(n, sizeof *b);
  if (!b) return ENOMEM;
  struct inode **old = fs->buckets;
  size_t oldn = fs->nbuckets;
  fs->buckets = b;
  fs->nbuckets = n;
  for (size_t k = 0; k < oldn; k++) {
    for (struct inode *i = old[k], *next; i; i = next) {
      next = i->next;
      size_t at = bucket_of(fs, i->dev, i->ino);
      i->next = b[at];
      b[at] = i;
    }
  }
  free(old);
  return 0;
}

int inodes_init(struct fs *fs) {
  fs->nbuckets = 1024;
  fs->count = 0;
  fs->buckets = calloc(fs->nbuckets, sizeof *fs->buckets);
  return fs->buckets ? 0 : ENOMEM;
}

void inodes_destroy(struct fs *fs) {
  for (size_t k = 0; k < fs->nbuckets; k++) {
    for (struct inode *i = fs->buckets[k], *next; i; i = next) {
      next = i->next;
      if (i == &fs->root) continue;
      close(i->fd);
      free(i->name);
      free(i);
    }
  }
  free(fs->buckets);
  fs->buckets = NULL;
}

/* Under fs->lock. */
static struct inode *find(struct fs *fs, dev_t dev, ino_t ino) {
  for (struct inode *i = fs->buckets[bucket_of(fs, dev, ino)]; i; i = i->next)
    if (i->ino == ino && i->dev == dev) return i;
  return NULL;
}

/* Under fs->lock. */
static void set_name(struct inode *i, fuse_ino_t parent, const char *name) {
  if (i->parent == parent && i->name && strcmp(i->name, name) == 0) return;
  char *copy = strdup(name);
  if (!copy) return; /* only costs a dentry we cannot drop later */
  free(i->name);
  i->name = copy;
  i->parent = parent;
}

int inodes_insert_root(struct fs *fs) {
  pthread_mutex_lock(&fs->lock);
  size_t at = bucket_of(fs, fs->root.dev, fs->root.ino);
  fs->root.next = fs->buckets[at];
  fs->buckets[at] = &fs->root;
  fs->count++;
  pthread_mutex_unlock(&fs->lock);
  return 0;
}

fuse_ino_t nodeid_of(struct fs *fs, struct inode *i) {
  return i == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

int inodes_lookup(struct fs *fs, fuse_ino_t parent, struct inode *dir, const char *name, struct stat *st,
                  fuse_ino_t *nodeid) {
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return EINVAL;
  int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  pthread_mutex_lock(&fs->lock);
  struct inode *i = find(fs, st->st_dev, st->st_ino);
  if (i) {
    i->nlookup++;
    if (i != &fs->root) set_name(i, parent, name);
    pthread_mutex_unlock(&fs->lock);
    close(fd);
    *nodeid = nodeid_of(fs, i);
    return 0;
  }
  i = calloc(1, sizeof *i);
  if (!i || (fs->count >= fs->nbuckets && grow(fs) != 0)) {
    pthread_mutex_unlock(&fs->lock);
    free(i);
    close(fd);
    return ENOMEM;
  }
  i->fd = fd;
  i->dev = st->st_dev;
  i->ino = st->st_ino;
  i->type = st->st_mode & S_IFMT;
  i->nlookup = 1;
  set_name(i, parent, name);
  size_t at = bucket_of(fs, i->dev, i->ino);
  i->next = fs->buckets[at];
  fs->buckets[at] = i;
  fs->count++;
  pthread_mutex_unlock(&fs->lock);
  *nodeid = nodeid_of(fs, i);
  return 0;
}

void inodes_forget(struct fs *fs, fuse_ino_t nodeid, uint64_t n) {
  struct inode *i = inode_of(fs, nodeid);
  if (i == &fs->root) return;
  pthread_mutex_lock(&fs->lock);
  if (i->nlookup > n) {
    i->nlookup -= n;
    pthread_mutex_unlock(&fs->lock);
    return;
  }
  struct inode **p = &fs->buckets[bucket_of(fs, i->dev, i->ino)];
  while (*p && *p != i) p = &(*p)->next;
  if (*p) *p = i->next;
  fs->count--;
  pthread_mutex_unlock(&fs->lock);
  close(i->fd);
  free(i->name);
  free(i);
}

void inodes_renamed(struct fs *fs, dev_t dev, ino_t ino, fuse_ino_t parent, const char *name) {
  pthread_mutex_lock(&fs->lock);
  struct inode *i = find(fs, dev, ino);
  if (i && i != &fs->root) set_name(i, parent, name);
  pthread_mutex_unlock(&fs->lock);
}

struct known *fs_known(struct fs *fs, size_t *n) {
  pthread_mutex_lock(&fs->lock);
  struct known *k = calloc(fs->count ? fs->count : 1, sizeof *k);
  size_t got = 0;
  for (size_t b = 0; k && b < fs->nbuckets; b++) {
    for (struct inode *i = fs->buckets[b]; i && got < fs->count; i = i->next) {
      k[got].nodeid = nodeid_of(fs, i);
      k[got].parent = i->parent;
      k[got].name = i->name ? strdup(i->name) : NULL;
      got++;
    }
  }
  pthread_mutex_unlock(&fs->lock);
  *n = got;
  return k;
}

void fs_known_free(struct known *k, size_t n) {
  for (size_t i = 0; k && i < n; i++) free(k[i].name);
  free(k);
}

char *inodes_path(struct fs *fs, struct inode *i, const char *name) {
  char proc[64], buf[PATH_MAX + 1];
  const char *rel = "";
  if (i != &fs->root) {
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", i->fd);
    ssize_t n = readlink(proc, buf, PATH_MAX);
    if (n < 0) return NULL;
    buf[n] = '\0';
    size_t rl = strlen(fs->root_path);
    if (strcmp(fs->root_path, "/") == 0)
      rel = buf + 1;
    else if (strncmp(buf, fs->root_path, rl) == 0 && buf[rl] == '/')
      rel = buf + rl + 1;
    else
      rel = buf; /* not beneath the root's name any more (moved or deleted): the rules see it whole */
  }
  size_t len = strlen(rel) + (name ? strlen(name) + 1 : 0) + 1;
  char *out = malloc(len);
  if (!out) return NULL;
  if (!name)
    snprintf(out, len, "%s", rel);
  else if (*rel)
    snprintf(out, len, "%s/%s", rel, name);
  else
    snprintf(out, len, "%s", name);
  return out;
}
