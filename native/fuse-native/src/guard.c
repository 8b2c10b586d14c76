#define _GNU_SOURCE
#include "guard.h"

#include <errno.h>
#include <grp.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 256

/* Whether this thread runs with a caller's ids now, and its own groups from before. */
static __thread int as_caller;
static __thread gid_t own_groups[MAX_GROUPS];
static __thread int own_count;

static void as_server(void) {
  /* Back to the process's own ids: fsuid 0 gives the fs capabilities back. */
  syscall(SYS_setfsuid, geteuid());
  syscall(SYS_setfsgid, getegid());
  syscall(SYS_setgroups, own_count, own_groups);
  as_caller = 0;
}

int guard_enter(struct fs *fs, fuse_req_t req) {
  if (!atomic_load_explicit(&fs->guard, memory_order_acquire)) {
    if (as_caller) as_server();
    return 0;
  }
  if (as_caller)
    as_server(); /* /proc/<caller> is read with the server's ids */
  else if ((own_count = getgroups(MAX_GROUPS, own_groups)) < 0)
    own_count = 0;
  const struct fuse_ctx *ctx = fuse_req_ctx(req);
  gid_t groups[MAX_GROUPS];
  int n = fuse_req_getgroups(req, MAX_GROUPS, groups);
  /* Unknown (the caller is gone) or too many: fewer groups can only refuse more. */
  if (n < 0) n = 0;
  if (n > MAX_GROUPS) n = MAX_GROUPS;
  if (syscall(SYS_setgroups, n, groups) != 0) return errno;
  syscall(SYS_setfsgid, ctx->gid);
  syscall(SYS_setfsuid, ctx->uid);
  as_caller = 1;
  /* setfsuid reports the previous id, never an error: check the new one took. */
  if ((uid_t)syscall(SYS_setfsuid, -1) != ctx->uid || (gid_t)syscall(SYS_setfsgid, -1) != ctx->gid) return EACCES;
  return 0;
}
