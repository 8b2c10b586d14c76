#define _GNU_SOURCE
#include "ptrace.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int timeout_ms = 5000;

void tr_set_timeout(int ms)
{
	timeout_ms = ms;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * waitpid() with a deadline: an interval timer whose handler is installed
 * without SA_RESTART makes a waitpid that waits too long return EINTR.
 */
static int wait_tid(pid_t tid, int *status)
{
	static int installed;
	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
		installed = 1;
	}
	struct itimerval it = {0};
	if (timeout_ms > 0) {
		it.it_value.tv_sec = timeout_ms / 1000;
		it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
		setitimer(ITIMER_REAL, &it, NULL);
	}
	int r;
	for (;;) {
		r = waitpid(tid, status, __WALL);
		if (r >= 0 || errno != EINTR)
			break;
		/* EINTR from another signal than ours: keep waiting only if time is left. */
		struct itimerval left;
		getitimer(ITIMER_REAL, &left);
		if (timeout_ms > 0 && left.it_value.tv_sec == 0 && left.it_value.tv_usec == 0)
			break;
	}
	int e = errno;
	if (timeout_ms > 0) {
		struct itimerval off = {0};
		setitimer(ITIMER_REAL, &off, NULL);
	}
	errno = e;
	return r;
}

enum stopkind { SK_GONE, SK_EVENT, SK_SIGNAL };

/* Waits for the next change of t; returns its kind, -1 (errno) on failure. */
static int next_stop(struct tracee *t, int *sig)
{
	int st;
	if (wait_tid(t->tid, &st) < 0) {
		if (errno == ECHILD) {
			t->state = T_GONE;
			return SK_GONE;
		}
		return -1;
	}
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		t->state = T_GONE;
		return SK_GONE;
	}
	t->state = T_STOPPED;
	*sig = WSTOPSIG(st);
	/* PTRACE_EVENT_STOP: our interrupt, or a group-stop (SIGSTOP & co). */
	if ((st >> 16) == PTRACE_EVENT_STOP)
		return SK_EVENT;
	if ((st >> 16) != 0)
		return SK_EVENT; /* no other events are asked for; treat as a plain stop */
	return SK_SIGNAL;
}

static void keep_signal(struct tracee *t, int sig)
{
	if (t->nsig >= MAX_PENDING_SIGS)
		return;
	siginfo_t *si = &t->sigs[t->nsig];
	if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, si) != 0) {
		memset(si, 0, sizeof *si);
		si->si_signo = sig;
	}
	t->nsig++;
}

int tr_seize(struct tracee *t)
{
	t->nsig = 0;
	t->stop_sig = 0;
	t->moved = 0;
	/* No PTRACE_O_EXITKILL, ever: if this helper dies, the target must live on. */
	if (ptrace(PTRACE_SEIZE, t->tid, 0, 0) != 0) {
		/* ESRCH: exited; EPERM on a thread we are allowed to trace: a zombie. */
		if (errno == ESRCH || errno == EPERM) {
			t->state = T_GONE;
			return TR_GONE;
		}
		return TR_ERR;
	}
	t->state = T_RUNNING;
	if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) != 0)
		return errno == ESRCH ? (t->state = T_GONE, TR_GONE) : TR_ERR;
	return 0;
}

int tr_wait_stopped(struct tracee *t)
{
	int sig = 0;
	int k = next_stop(t, &sig);
	if (k < 0)
		return errno == EINTR ? TR_TIMEOUT : TR_ERR;
	if (k == SK_GONE)
		return TR_GONE;
	/*
	 * A signal-delivery-stop before our interrupt: the thread is stopped all
	 * the same (and its registers are as good), so use this stop and deliver
	 * the signal when we let go.
	 */
	if (k == SK_SIGNAL) {
		t->stop_sig = sig;
		keep_signal(t, sig);
	}
	return 0;
}

int tr_detach(struct tracee *t)
{
	if (t->state != T_STOPPED)
		return t->state == T_GONE ? 0 : TR_ERR;
	int sig = 0, first = 0;
	if (!t->moved) {
		/* Still at its first stop: a signal-delivery-stop's siginfo is in place. */
		sig = t->stop_sig;
		first = t->nsig;
	} else if (t->nsig > 0 && ptrace(PTRACE_SETSIGINFO, t->tid, 0, &t->sigs[0]) == 0) {
		/*
		 * We are at a signal-delivery-stop of our own trap: with the kept
		 * siginfo put back, detaching with its number delivers it as it came.
		 */
		sig = t->sigs[0].si_signo;
		first = 1;
	}
	int rc = ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)sig);
	if (rc != 0 && errno == ESRCH) {
		t->state = T_GONE;
		return 0;
	}
	if (rc != 0)
		return TR_ERR;
	t->state = T_NONE;
	/* More than one signal came in while we held it (rare): send the rest again. */
	for (int i = first; i < t->nsig; i++)
		tgkill(t->tgid, t->tid, t->sigs[i].si_signo);
	return 0;
}

int tr_getregs(struct tracee *t, arch_regs_t *r)
{
	struct iovec iov = {r, sizeof *r};
	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &iov) != 0)
		return errno == ESRCH ? TR_GONE : TR_ERR;
	return 0;
}

int tr_setregs(struct tracee *t, const arch_regs_t *r)
{
	struct iovec iov = {(void *)r, sizeof *r};
	if (ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_PRSTATUS, &iov) != 0)
		return errno == ESRCH ? TR_GONE : TR_ERR;
	return 0;
}

/*
 * Resumes t (single-step or continue) until it traps at end_ip. Signals that
 * arrive meanwhile are kept for later, not delivered: the target's handlers
 * must not run on our registers.
 */
static int run_until(struct tracee *t, int step, unsigned long end_ip, unsigned long lo,
		     unsigned long hi)
{
	for (;;) {
		if (ptrace(step ? PTRACE_SINGLESTEP : PTRACE_CONT, t->tid, 0, 0) != 0)
			return errno == ESRCH ? (t->state = T_GONE, TR_GONE) : TR_ERR;
		t->state = T_RUNNING;
		t->moved = 1;
		int sig = 0;
		int k = next_stop(t, &sig);
		if (k < 0)
			return errno == EINTR ? TR_TIMEOUT : TR_ERR;
		if (k == SK_GONE)
			return TR_GONE;
		if (k == SK_EVENT)
			continue; /* a pending interrupt or group-stop; nothing ran yet, or it re-traps */
		arch_regs_t r;
		int rc = tr_getregs(t, &r);
		if (rc)
			return rc;
		unsigned long ip = arch_ip(&r);
		if (sig == SIGTRAP && ip == end_ip)
			return 0;
		if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGTRAP) && ip >= lo &&
		    ip < hi) {
			/* A fault in our own code: never hand that to the target. */
			errno = EFAULT;
			return TR_ERR;
		}
		keep_signal(t, sig);
	}
}

int tr_syscall(struct tracee *t, const arch_regs_t *base, unsigned long insn, long nr,
	       long a0, long a1, long a2, long a3, long a4, long a5, long *ret)
{
	arch_regs_t r = *base;
	const long a[6] = {a0, a1, a2, a3, a4, a5};
	arch_set_syscall(&r, insn, nr, a);
	int rc = tr_setregs(t, &r);
	if (rc)
		return rc;
	rc = run_until(t, 1, insn + ARCH_SYSCALL_INSN_LEN, insn, insn + ARCH_SYSCALL_INSN_LEN);
	if (rc)
		return rc;
	rc = tr_getregs(t, &r);
	if (rc)
		return rc;
	*ret = arch_syscall_ret(&r);
	return 0;
}

int tr_run_blob(struct tracee *t, const arch_regs_t *base, unsigned long code, size_t len,
		unsigned long table, unsigned long count)
{
	arch_regs_t r = *base;
	arch_set_blob(&r, code, table, count);
	int rc = tr_setregs(t, &r);
	if (rc)
		return rc;
	return run_until(t, 0, code + len, code, code + len);
}
