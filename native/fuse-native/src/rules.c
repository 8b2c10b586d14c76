#define _GNU_SOURCE
#include "rules.h"

#include <stdlib.h>
#include <sys/random.h>

struct ruleset *ruleset_new(int n) {
  struct ruleset *r = calloc(1, sizeof *r + (size_t)n * sizeof r->r[0]);
  if (r) {
    atomic_init(&r->refs, 1);
    r->n = n;
  }
  return r;
}

void ruleset_release(struct ruleset *r) {
  if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
  for (int k = 0; k < r->n; k++) glob_free(r->r[k].glob);
  free(r);
}

/* The lock only covers loading the pointer and taking a reference (never a decision), so a swap
 * waits for at most that long. */
void rules_publish(struct fs *fs, struct ruleset *r) {
  pthread_rwlock_wrlock(&fs->rules_lock);
  struct ruleset *old = fs->rules;
  fs->rules = r;
  atomic_store_explicit(&fs->js_mask, r ? r->ops : 0, memory_order_release);
  pthread_rwlock_unlock(&fs->rules_lock);
  ruleset_release(old);
}

struct ruleset *rules_acquire(struct fs *fs) {
  pthread_rwlock_rdlock(&fs->rules_lock);
  struct ruleset *r = fs->rules;
  if (r) atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
  pthread_rwlock_unlock(&fs->rules_lock);
  return r;
}

/* xorshift64* per thread, seeded from getrandom: the percent draw takes no lock. */
static double draw(void) {
  static __thread uint64_t x;
  if (!x) {
    if (getrandom(&x, sizeof x, 0) != sizeof x || !x) x = (uint64_t)(uintptr_t)&x | 1;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

void rules_decide(struct ruleset *r, enum op op, const char *path, struct decision *d) {
  *d = (struct decision){0};
  for (int k = 0; r && k < r->n; k++) {
    struct rule *u = &r->r[k];
    if (!((u->ops >> op) & 1) || (u->glob && !glob_match(u->glob, path))) continue;
    d->matched |= 1ull << k;
    atomic_fetch_add_explicit(&u->matched, 1, memory_order_relaxed);
    if (u->percent < 100 && draw() * 100 >= u->percent) continue;
    d->fired |= 1ull << k;
    atomic_fetch_add_explicit(&u->fired, 1, memory_order_relaxed);
    d->delay_us += u->delay_us;
    if (u->js) d->js = 1;
  }
}

int rules_could_match(const struct ruleset *r, uint64_t ops, const char *path) {
  for (int k = 0; r && k < r->n; k++)
    if ((r->r[k].ops & ops) && (!r->r[k].glob || glob_match(r->r[k].glob, path))) return 1;
  return 0;
}
