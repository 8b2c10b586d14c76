#define _GNU_SOURCE
#include "delay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct held {
  int64_t deadline;
  int fd;
  size_t len;
  char *buf;
};

/* A binary min-heap on deadlines under one lock; the thread sleeps until the earliest. */
struct delay_queue {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct held *heap;
  size_t n, cap;
  int stop;
  pthread_t thread;
  /* Calls that wait before they run (delay_sleep): woken early by a flush or the stop. */
  pthread_cond_t wake;
  uint64_t flushes;
  int sleepers;
};

static __thread int64_t mark;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void delay_mark(uint32_t us) {
  mark = us ? now_ns() + (int64_t)us * 1000 : 0;
}

int64_t delay_take(void) {
  int64_t d = mark;
  mark = 0;
  return d;
}

int delay_pending(void) {
  return mark != 0;
}

static void sift_up(struct held *h, size_t k) {
  while (k > 0) {
    size_t p = (k - 1) / 2;
    if (h[p].deadline <= h[k].deadline) break;
    struct held t = h[p];
    h[p] = h[k];
    h[k] = t;
    k = p;
  }
}

static void sift_down(struct held *h, size_t n, size_t k) {
  for (;;) {
    size_t l = 2 * k + 1, r = l + 1, m = k;
    if (l < n && h[l].deadline < h[m].deadline) m = l;
    if (r < n && h[r].deadline < h[m].deadline) m = r;
    if (m == k) break;
    struct held t = h[m];
    h[m] = h[k];
    h[k] = t;
    k = m;
  }
}

static void send_held(struct held *h) {
  /* A reply the kernel no longer wants (interrupted, connection gone) fails here harmlessly. */
  if (write(h->fd, h->buf, h->len) < 0) {
  }
  free(h->buf);
}

static void *delay_main(void *arg) {
  struct delay_queue *q = arg;
  pthread_mutex_lock(&q->lock);
  for (;;) {
    if (q->n == 0) {
      if (q->stop) break;
      pthread_cond_wait(&q->cond, &q->lock);
      continue;
    }
    int64_t t = now_ns();
    if (!q->stop && q->heap[0].deadline > t) {
      struct timespec ts = {.tv_sec = q->heap[0].deadline / 1000000000, .tv_nsec = q->heap[0].deadline % 1000000000};
      pthread_cond_timedwait(&q->cond, &q->lock, &ts);
      continue;
    }
    struct held h = q->heap[0];
    q->heap[0] = q->heap[--q->n];
    sift_down(q->heap, q->n, 0);
    pthread_mutex_unlock(&q->lock);
    send_held(&h);
    pthread_mutex_lock(&q->lock);
  }
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

struct delay_queue *delay_start(void) {
  struct delay_queue *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&q->cond, &ca);
  pthread_cond_init(&q->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&q->lock, NULL);
  if (pthread_create(&q->thread, NULL, delay_main, q) != 0) {
    pthread_cond_destroy(&q->cond);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q);
    return NULL;
  }
  return q;
}

void delay_stop(struct delay_queue *q) {
  if (!q) return;
  pthread_mutex_lock(&q->lock);
  q->stop = 1;
  pthread_cond_signal(&q->cond);
  pthread_cond_broadcast(&q->wake);
  while (q->sleepers > 0) {
    pthread_mutex_unlock(&q->lock);
    usleep(1000);
    pthread_mutex_lock(&q->lock);
  }
  pthread_mutex_unlock(&q->lock);
  pthread_join(q->thread, NULL);
  free(q->heap);
  pthread_cond_destroy(&q->cond);
  pthread_cond_destroy(&q->wake);
  pthread_mutex_destroy(&q->lock);
  free(q);
}

void delay_flush(struct delay_queue *q) {
  if (!q) return;
  pthread_mutex_lock(&q->lock);
  /* Every deadline 0: still a heap, in the order they were held. */
  for (size_t k = 0; k < q->n; k++) q->heap[k].deadline = 0;
  q->flushes++;
  pthread_cond_signal(&q->cond);
  pthread_cond_broadcast(&q->wake);
  pthread_mutex_unlock(&q->lock);
}

void delay_sleep(struct delay_queue *q, uint32_t us) {
  int64_t deadline = now_ns() + (int64_t)us * 1000;
  struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
  if (!q) {
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    return;
  }
  pthread_mutex_lock(&q->lock);
  uint64_t gen = q->flushes;
  q->sleepers++;
  while (!q->stop && q->flushes == gen && now_ns() < deadline)
    pthread_cond_timedwait(&q->wake, &q->lock, &ts);
  q->sleepers--;
  pthread_mutex_unlock(&q->lock);
}

ssize_t delay_hold(struct delay_queue *q, int fd, const struct iovec *iov, int count, int64_t deadline) {
  size_t len = 0;
  for (int k = 0; k < count; k++) len += iov[k].iov_len;
  char *buf = malloc(len ? len : 1);
  if (!buf) return -1;
  size_t off = 0;
  for (int k = 0; k < count; k++) {
    memcpy(buf + off, iov[k].iov_base, iov[k].iov_len);
    off += iov[k].iov_len;
  }
  pthread_mutex_lock(&q->lock);
  if (q->n == q->cap) {
    size_t cap = q->cap ? 2 * q->cap : 64;
    struct held *h = realloc(q->heap, cap * sizeof *h);
    if (!h) {
      pthread_mutex_unlock(&q->lock);
      free(buf);
      return -1;
    }
    q->heap = h;
    q->cap = cap;
  }
  q->heap[q->n] = (struct held){.deadline = deadline, .fd = fd, .len = len, .buf = buf};
  sift_up(q->heap, q->n++);
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
  return (ssize_t)len;
}
