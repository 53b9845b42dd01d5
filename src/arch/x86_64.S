/* x86_64.S - the context switch for the x86-64 System V ABI.
 *
 * corio__ctx_switch(from, to) saves what the ABI says a callee must preserve on the current stack, stores the
 * stack pointer in from->sp, loads to->sp and restores the same frame from there. Nothing else is saved:
 * caller-saved registers are dead across a call, and the signal mask is left alone (that is what makes
 * swapcontext cost a system call per switch). The stack pointer always points into a stack, so a signal can
 * arrive at any instruction.
 *
 * A saved context, at sp (8-byte slots, lowest address first):
 *
 *   +0   MXCSR (4 bytes), x87 control word (2 bytes), pad   floating-point control state (ABI: callee-saved)
 *   +8   r12            (a new context: the entry's argument)
 *   +16  r13            (a new context: the entry function)
 *   +24  r14
 *   +32  r15
 *   +40  rbx
 *   +48  rbp            (a new context: 0, so backtraces end here)
 *   +56  resume address (a new context: corio__ctx_trampoline)
 *
 * corio__ctx_make(ctx, top, entry, arg) writes such a frame below top so that the first switch to ctx enters
 * the trampoline, which calls entry(arg) with the stack aligned as the ABI requires; entry returns a function and
 * its argument (rax, rdx), which the trampoline calls next, and hands that function's int result to
 * corio__ctx_end, which never returns; if it did, the trampoline's ud2 traps instead of running off into nowhere.
 */
    .text

    .globl corio__ctx_switch
    .hidden corio__ctx_switch
    .type corio__ctx_switch, @function
    .p2align 4
corio__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r15
    pushq   %r14
    pushq   %r13
    pushq   %r12
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
.Lresume:
    movq    (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r12
    popq    %r13
    popq    %r14
    popq    %r15
    popq    %rbx
    popq    %rbp
    /* ret, not pop + jmp: every switch in corio leaves from the same call site in the scheduler, so the return
     * stack buffer's guess is right; a jmp would leave it out of step and every later return up the task's
     * chain would mispredict (bench_switch: 16 ns with ret against 23 ns with pop + jmp, same run). */
    ret
    .cfi_endproc
    .size corio__ctx_switch, .-corio__ctx_switch

    /* corio__ctx_jump(to): the second half of a switch alone, for a context that will never run again (a task
     * that has ended): nothing of it needs saving, and the control words' store (stmxcsr, fnstcw) is the dearest
     * part of the first half. */
    .globl corio__ctx_jump
    .hidden corio__ctx_jump
    .type corio__ctx_jump, @function
    .p2align 4
corio__ctx_jump:
    .cfi_startproc
    movq    %rdi, %rsi
    jmp     .Lresume
    .cfi_endproc
    .size corio__ctx_jump, .-corio__ctx_jump

    .globl corio__ctx_make
    .hidden corio__ctx_make
    .type corio__ctx_make, @function
    .p2align 4
corio__ctx_make:
    /* rdi = ctx, rsi = top, rdx = entry, rcx = arg */
    .cfi_startproc
    andq    $-16, %rsi
    /* resume address at top-24: after the switch pops it, rsp = top-16, 16-byte aligned, so the trampoline's
     * call leaves the entry function with rsp = 8 (mod 16) as after any call. top-16 and top-8 stay zero. */
    movq    $0, -8(%rsi)
    movq    $0, -16(%rsi)
    leaq    corio__ctx_trampoline(%rip), %rax
    movq    %rax, -24(%rsi)
    movq    $0, -32(%rsi)       /* rbp */
    movq    $0, -40(%rsi)       /* rbx */
    movq    $0, -48(%rsi)       /* r15 */
    movq    $0, -56(%rsi)       /* r14 */
    movq    %rdx, -64(%rsi)     /* r13 = entry */
    movq    %rcx, -72(%rsi)     /* r12 = arg */
    movq    $0, -80(%rsi)
    stmxcsr -80(%rsi)           /* a new task starts with its creator's floating-point control state */
    fnstcw  -76(%rsi)
    leaq    -80(%rsi), %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size corio__ctx_make, .-corio__ctx_make

    .type corio__ctx_trampoline, @function
    .p2align 4
corio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip          /* the outermost frame of a task: unwinders stop here */
    movq    %r12, %rdi
    callq   *%r13               /* entry(arg) returns a function in rax and its argument in rdx */
    movq    %rdx, %rdi
    callq   *%rax               /* its frame starts right here: nothing of ours is kept under it */
    movl    %eax, %edi
    callq   corio__ctx_end
    ud2
    .cfi_endproc
    .size corio__ctx_trampoline, .-corio__ctx_trampoline

    .section .note.GNU-stack, "", @progbits
