/*
 * The code fdswap injects into a stopped target: it runs a table of system
 * calls (struct blob_entry, 40 bytes each) so that thousands of dup3()s cost
 * one ptrace round trip, not thousands. Position independent, no stack use
 * (the target's stack and red zone stay untouched), ends with int3 so the
 * tracer gets control back. Kept in .rodata: fdswap copies the bytes, it
 * never runs them itself.
 */
__asm__(".pushsection .rodata\n"
	".globl arch_blob_start\n"
	".globl arch_blob_end\n"
	"arch_blob_start:\n"
	"1:	test %r13, %r13\n"
	"	jz 2f\n"
	"	mov 0(%r12), %rax\n"
	"	mov 8(%r12), %rdi\n"
	"	mov 16(%r12), %rsi\n"
	"	mov 24(%r12), %rdx\n"
	"	syscall\n"
	"	mov %rax, 32(%r12)\n"
	"	add $40, %r12\n"
	"	dec %r13\n"
	"	jmp 1b\n"
	"2:	int3\n"
	"arch_blob_end:\n"
	".popsection\n");
