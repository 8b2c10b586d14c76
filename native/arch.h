/*
 * Picks the architecture-specific part of fdswap: registers, the system call
 * instruction and the injected code. Only x86_64 exists; an aarch64 port adds
 * arch_aarch64.{h,c} with the same names (see README.md).
 */
#ifndef IOCHAOS_ARCH_H
#define IOCHAOS_ARCH_H

#if defined(__x86_64__)
#include "arch_x86_64.h"
#else
#error "fdswap supports x86_64 only for now: add arch_<arch>.h/.c (see native/README.md)"
#endif

#include <stdint.h>

/*
 * One system call for the injected code to make. It runs the entries in order,
 * stores each result (or -errno) in ret, and ends with a breakpoint. An entry
 * with nr = -1 is skipped by the kernel (-ENOSYS), which is how the tracer
 * cancels an entry without rewriting the table's shape.
 */
struct blob_entry {
	int64_t nr, a0, a1, a2, ret;
};

/* The injected code, position independent, and its length. */
extern const unsigned char arch_blob_start[], arch_blob_end[];

#endif
