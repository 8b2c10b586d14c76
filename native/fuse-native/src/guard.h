/*
 * The access guard: while an attribute override could have misled the kernel's permission check
 * (default_permissions reads the attributes ChaosFS reports), each FUSE thread does the backing call
 * with the caller's fs ids and supplementary groups, so the backing checks the REAL attributes. Ids are
 * per thread (raw setfsuid/setfsgid/setgroups syscalls: glibc's setgroups would change every thread),
 * and the kernel drops the fs capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, ...) while fsuid is not 0.
 */
#ifndef IOCHAOS_FUSE3_GUARD_H
#define IOCHAOS_FUSE3_GUARD_H
#include "fs.h"

/* At the start of every op: the caller's ids while fs->guard is set, else the server's own. */
int guard_enter(struct fs *fs, fuse_req_t req);
#endif
