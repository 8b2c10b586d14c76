/*
 * Dropping pages from the kernel's cache after the fact, on a thread of its own: a notification sent
 * from a FUSE thread while the kernel waits for that thread's reply (it holds the pages locked) would
 * deadlock, so ops only queue what to drop.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "fs.h"

struct inval_item {
  fuse_ino_t nodeid;
  off_t off, len;
  struct inval_item *next;
};

struct inval_queue {
  struct fuse_session *se;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct inval_item *head, *tail;
  int stop;
  pthread_t thread;
};

static void *inval_main(void *arg) {
  struct inval_queue *q = arg;
  pthread_mutex_lock(&q->lock);
  for (;;) {
    while (!q->head && !q->stop) pthread_cond_wait(&q->cond, &q->lock);
    if (!q->head) break;
    struct inval_item *it = q->head;
    q->head = it->next;
    if (!q->head) q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    fuse_lowlevel_notify_inval_inode(q->se, it->nodeid, it->off, it->len);
    free(it);
    pthread_mutex_lock(&q->lock);
  }
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

struct inval_queue *inval_start(struct fuse_session *se) {
  struct inval_queue *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->se = se;
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->cond, NULL);
  if (pthread_create(&q->thread, NULL, inval_main, q) != 0) {
    free(q);
    return NULL;
  }
  return q;
}

void inval_push(struct inval_queue *q, fuse_ino_t nodeid, off_t off, off_t len) {
  struct inval_item *it = q ? malloc(sizeof *it) : NULL;
  if (!it) return;
  it->nodeid = nodeid;
  it->off = off;
  it->len = len;
  it->next = NULL;
  pthread_mutex_lock(&q->lock);
  if (q->stop) {
    pthread_mutex_unlock(&q->lock);
    free(it);
    return;
  }
  if (q->tail)
    q->tail->next = it;
  else
    q->head = it;
  q->tail = it;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

/* After the session's loop ended: what is still queued is dropped with the connection. */
void inval_stop(struct inval_queue *q) {
  if (!q) return;
  pthread_mutex_lock(&q->lock);
  q->stop = 1;
  for (struct inval_item *it = q->head, *next; it; it = next) {
    next = it->next;
    free(it);
  }
  q->head = q->tail = NULL;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
  pthread_join(q->thread, NULL);
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->cond);
  free(q);
}
