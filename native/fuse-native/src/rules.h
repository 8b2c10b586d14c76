/*
 * The rule set the FUSE threads decide with, pushed from JS (setRules): per rule an op mask, a path
 * glob (glob.h), a percent, a native delay and whether JS sees the calls it fires on. Only a call some
 * rule fires on leaves the native path; a rule that only delays never reaches JS at all.
 *
 * The set is immutable once published and swapped as a refcounted pointer: a FUSE thread holds a
 * reference for one decision, so a new set takes effect for the next call without waiting for calls
 * in flight, and the old one is freed by whoever drops its last reference.
 */
#ifndef IOCHAOS_FUSE3_RULES_H
#define IOCHAOS_FUSE3_RULES_H
#include "fs.h"
#include "glob.h"

#define MAX_RULES 64

struct rule {
  uint64_t ops;
  struct glob *glob; /* NULL: every path */
  double percent; /* 0..100 */
  uint32_t delay_us;
  int js;
  /* Calls whose op and glob matched, and calls it fired on: how JS counts a rule it never sees. */
  _Atomic uint64_t matched, fired;
};

struct ruleset {
  _Atomic int refs;
  uint64_t ops; /* the union of the rules' op masks */
  int n;
  struct rule r[];
};

struct decision {
  uint64_t fired; /* bit k: rule k fires on this call */
  uint64_t matched; /* bit k: rule k's ops and glob match (before the percent draw) */
  uint32_t delay_us; /* the sum of the fired rules' delays */
  int js; /* a fired rule wants JS to see the call */
};

struct ruleset *ruleset_new(int n);
void ruleset_release(struct ruleset *r);
/* Publishes `r` (the caller's reference passes to fs) and drops the old set. */
void rules_publish(struct fs *fs, struct ruleset *r);
/* A reference to the current set, NULL when there is none. */
struct ruleset *rules_acquire(struct fs *fs);
void rules_decide(struct ruleset *r, enum op op, const char *path, struct decision *d);
/* Could a rule on one of `ops` match `path` (percent aside)? */
int rules_could_match(const struct ruleset *r, uint64_t ops, const char *path);
#endif
