/*
 * Native delays, two ways:
 *  - A call without side effects (a read, a lookup, a getattr...) is served at once and its reply,
 *    already written by libfuse, is held here until its deadline and then written to the device by
 *    one timer thread. No FUSE worker waits, and delays of different calls overlap freely. The
 *    decision (rules.c) marks the calling thread with a deadline; the device hook (bridge.c) takes
 *    the mark when that thread writes its reply.
 *  - A call that changes the volume (a write, a create, a rename, an fsync...) waits in its worker
 *    BEFORE it runs (delay_sleep). Served first and answered late, a write would already be on the
 *    volume when the sidecar dies mid-delay: the kernel fails the call (ENOTCONN), the app writes the
 *    record again, and the volume holds it twice (the pod test that kills the sidecar found this).
 *    Waiting first, a call the app is told failed did not happen. This costs a worker per delayed
 *    call in flight (the loop starts up to maxThreads of them).
 * A rule change ends both kinds of wait at once (delay_flush).
 */
#ifndef IOCHAOS_FUSE3_DELAY_H
#define IOCHAOS_FUSE3_DELAY_H
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct delay_queue;

struct delay_queue *delay_start(void);
/* Writes whatever is still held (the connection is ending) and stops the thread. */
void delay_stop(struct delay_queue *q);
/* Marks this thread's next reply to be held until `us` µs from now (0 clears the mark). */
void delay_mark(uint32_t us);
/* The mark, cleared: a CLOCK_MONOTONIC deadline in ns, 0 when none. */
int64_t delay_take(void);
int delay_pending(void);
/* Waits `us` µs in this thread, or less if a flush or the stop comes first. */
void delay_sleep(struct delay_queue *q, uint32_t us);
/* Sends every held reply now (the rules changed: a delay of a rule that is gone must end at once). */
void delay_flush(struct delay_queue *q);
/* Holds a copy of the reply until `deadline`; returns its length, or -1 (then write it now). */
ssize_t delay_hold(struct delay_queue *q, int fd, const struct iovec *iov, int count, int64_t deadline);
#endif
