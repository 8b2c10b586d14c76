/*
 * The tracer side of fdswap: stopping threads, running system calls and code
 * inside a stopped thread, and letting go with nothing changed.
 */
#ifndef IOCHAOS_PTRACE_H
#define IOCHAOS_PTRACE_H

#include "arch.h"

#include <signal.h>
#include <sys/types.h>

#define MAX_PENDING_SIGS 8

enum tstate { T_NONE, T_RUNNING, T_STOPPED, T_GONE };

struct tracee {
	pid_t tid, tgid;
	enum tstate state;
	/* It ran since its first stop (we injected code), so that stop is gone. */
	int moved;
	/* Signals that arrived while we held the thread; given back at detach. */
	int nsig;
	siginfo_t sigs[MAX_PENDING_SIGS];
	/* The first stop was a signal-delivery-stop: detach delivers that signal. */
	int stop_sig;
};

/* Result codes: 0 ok, TR_GONE the thread exited, TR_TIMEOUT it did not stop,
 * TR_ERR a ptrace call failed (errno set). */
#define TR_GONE 1
#define TR_TIMEOUT 2
#define TR_ERR 3

/* Waits up to timeout_ms for every wait; 0 means no limit. */
void tr_set_timeout(int timeout_ms);

/* PTRACE_SEIZE + PTRACE_INTERRUPT; TR_GONE for an exited or zombie thread. */
int tr_seize(struct tracee *t);
/* Waits for the stop asked for by tr_seize. */
int tr_wait_stopped(struct tracee *t);
/* Detaches, giving back any signal that arrived meanwhile. */
int tr_detach(struct tracee *t);

int tr_getregs(struct tracee *t, arch_regs_t *r);
int tr_setregs(struct tracee *t, const arch_regs_t *r);

/* Runs one system call in t through the syscall instruction at insn, starting
 * from registers base. *ret gets the raw return (-errno on failure). */
int tr_syscall(struct tracee *t, const arch_regs_t *base, unsigned long insn, long nr,
	       long a0, long a1, long a2, long a3, long a4, long a5, long *ret);

/* Runs the injected blob at code (of len bytes) over count entries at table. */
int tr_run_blob(struct tracee *t, const arch_regs_t *base, unsigned long code, size_t len,
		unsigned long table, unsigned long count);

#endif
