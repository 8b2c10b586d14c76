/*
 * x86_64: everything fdswap needs to know about registers and instructions.
 * An aarch64 port provides the same functions (regs in NT_PRSTATUS, `svc #0`,
 * syscall number in x8 and changed through NT_ARM_SYSTEM_CALL, `brk #0`).
 */
#ifndef IOCHAOS_ARCH_X86_64_H
#define IOCHAOS_ARCH_X86_64_H

#include <stddef.h>
#include <sys/user.h>

typedef struct user_regs_struct arch_regs_t;

/* The `syscall` instruction, found in the target's vDSO and executed there. */
static const unsigned char arch_syscall_insn[] = {0x0f, 0x05};
#define ARCH_SYSCALL_INSN_LEN 2

static inline unsigned long arch_ip(const arch_regs_t *r)
{
	return r->rip;
}

static inline long arch_syscall_ret(const arch_regs_t *r)
{
	return (long)r->rax;
}

/*
 * orig_rax = -1 tells the kernel this stop was not inside a system call, so
 * that resuming from it does not apply the "restart the interrupted call"
 * fix-up (rip -= 2, rax = orig_rax) to our injected registers. The real
 * orig_rax comes back with the saved registers, and with it the restart.
 */
static inline void arch_set_syscall(arch_regs_t *r, unsigned long insn_addr, long nr,
				    const long a[6])
{
	r->rip = insn_addr;
	r->rax = (unsigned long)nr;
	r->rdi = (unsigned long)a[0];
	r->rsi = (unsigned long)a[1];
	r->rdx = (unsigned long)a[2];
	r->r10 = (unsigned long)a[3];
	r->r8 = (unsigned long)a[4];
	r->r9 = (unsigned long)a[5];
	r->orig_rax = (unsigned long)-1;
}

/* The blob reads its table from r12 and the entry count from r13. */
static inline void arch_set_blob(arch_regs_t *r, unsigned long code, unsigned long table,
				 unsigned long count)
{
	r->rip = code;
	r->r12 = table;
	r->r13 = count;
	r->orig_rax = (unsigned long)-1;
}

#endif
