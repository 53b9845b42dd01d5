/* aarch64.S - the context switch for AArch64 Linux (AAPCS64).
 *
 * corio__ctx_switch(from, to) saves what AAPCS64 says a callee must preserve on the current stack, stores the
 * stack pointer in from->sp, loads to->sp and restores the same frame from there. Nothing else is saved:
 * caller-saved registers (x0-x18, the rest of v0-v31, FPSR's sticky flags) are dead across a call, and the
 * signal mask is left alone (that is what makes swapcontext cost a system call per switch). sp moves before
 * anything is stored below it and always points into a stack, so a signal can arrive at any instruction; it
 * stays 16-byte aligned throughout, as the hardware's stack-alignment check demands of every sp-based access.
 *
 * A saved context, at sp (176 bytes, a multiple of 16; lowest address first):
 *
 *   +0    x19           (a new context: the entry's argument)
 *   +8    x20           (a new context: the entry function)
 *   +16   x21 .. +72 x28
 *   +80   x29 (fp)      (a new context: 0, so backtraces end here)
 *   +88   x30 (lr)      resume address (a new context: corio__ctx_trampoline)
 *   +96   d8  .. +152 d15   only the low 64 bits of v8-v15 are callee-saved
 *   +160  FPCR          rounding mode, flush-to-zero, default NaN, trap enables (ABI: preserved across calls)
 *   +168  pad           keeps the frame a multiple of 16
 *
 * corio__ctx_make(ctx, top, entry, arg) writes such a frame below top so that the first switch to ctx enters
 * the trampoline, which calls entry(arg) with sp = top rounded down to 16. entry must never return; if it
 * does, the trampoline's brk traps instead of running off into nowhere.
 *
 * corio__ctx_jump(to) is the second half alone, for a context that never runs again (an ended task).
 *
 * Unlike x86_64.S this file ends each switch with ret, not an indirect branch. The return-address predictor
 * guesses wrong here just as it does on x86-64, but with branch protection (BTI) enforced a br may only land on
 * a bti instruction, and the code after a call carries none; ret is exempt. Boost.Context's arm64 jump_fcontext
 * also resumes with ret.
 */

/* With -mbranch-protection=bti|pac-ret|standard the compiler marks every C object as BTI/PAC compatible; the
 * linker marks its output only if every object says so, so this one has to as well, or one unmarked .S file
 * would quietly turn BTI off for the whole library. pac-ret needs nothing from us: the switch never signs or
 * authenticates lr, it only carries each context's lr as its caller left it. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define CORIO_BTI_C bti c
#define CORIO_FEATURE_BTI 1
#else
#define CORIO_BTI_C
#define CORIO_FEATURE_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define CORIO_FEATURE_PAC 2
#else
#define CORIO_FEATURE_PAC 0
#endif

    .text

    .globl corio__ctx_switch
    .hidden corio__ctx_switch
    .type corio__ctx_switch, @function
    .p2align 4
corio__ctx_switch:
    /* x0 = from, x1 = to */
    .cfi_startproc
    CORIO_BTI_C
    /* pre-index: sp drops and the first pair lands in one instruction, so nothing is ever stored below sp */
    stp     x19, x20, [sp, #-176]!
    /* The frame has one layout for every context, so these rules stay true after sp moves to the other
     * stack: a debugger stopped anywhere in here sees a proper caller, from's before the move, to's after. */
    .cfi_def_cfa_offset 176
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    stp     x21, x22, [sp, #16]
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    stp     x23, x24, [sp, #32]
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    stp     x25, x26, [sp, #48]
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    stp     x27, x28, [sp, #64]
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    stp     x29, x30, [sp, #80]
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp     d8, d9, [sp, #96]
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    stp     d10, d11, [sp, #112]
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    stp     d12, d13, [sp, #128]
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    stp     d14, d15, [sp, #144]
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x10, sp             /* str cannot take sp as its source register */
    str     x10, [x0]
    ldr     x10, [x1]
    mov     sp, x10
.Lresume:
    /* Writing FPCR can stall the pipeline on some cores while reading it is cheap, and nearly every switch
     * finds the same value on both sides; glibc's aarch64 fenv_private.h skips the write the same way. */
    ldr     x11, [sp, #160]
    cmp     x9, x11
    b.eq    1f
    msr     fpcr, x11
1:
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    /* post-index: the last pair is read before sp rises past it */
    ldp     x19, x20, [sp], #176
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    ret
    .cfi_endproc
    .size corio__ctx_switch, .-corio__ctx_switch

    /* corio__ctx_jump(to): the second half of a switch alone, for a context that will never run again (a task
     * that has ended): nothing of it is stored. FPCR is read all the same, for the second half's compare. */
    .globl corio__ctx_jump
    .hidden corio__ctx_jump
    .type corio__ctx_jump, @function
    .p2align 4
corio__ctx_jump:
    /* x0 = to */
    .cfi_startproc
    CORIO_BTI_C
    mrs     x9, fpcr
    ldr     x10, [x0]
    mov     sp, x10
    b       .Lresume
    .cfi_endproc
    .size corio__ctx_jump, .-corio__ctx_jump

    .globl corio__ctx_make
    .hidden corio__ctx_make
    .type corio__ctx_make, @function
    .p2align 4
corio__ctx_make:
    /* x0 = ctx, x1 = top, x2 = entry, x3 = arg */
    .cfi_startproc
    CORIO_BTI_C
    and     x1, x1, #-16
    /* The frame sits directly below top: the switch's final ldp leaves sp = top, 16-byte aligned, and the
     * trampoline's blr needs nothing pushed (the return address goes to lr, not the stack). */
    sub     x9, x1, #176
    stp     x3, x2, [x9, #0]    /* x19 = arg, x20 = entry */
    stp     xzr, xzr, [x9, #16]
    stp     xzr, xzr, [x9, #32]
    stp     xzr, xzr, [x9, #48]
    stp     xzr, xzr, [x9, #64]
    adr     x10, corio__ctx_trampoline
    stp     xzr, x10, [x9, #80] /* x29 = 0, x30 = the trampoline */
    stp     xzr, xzr, [x9, #96] /* d8-d15 */
    stp     xzr, xzr, [x9, #112]
    stp     xzr, xzr, [x9, #128]
    stp     xzr, xzr, [x9, #144]
    mrs     x10, fpcr           /* a new task starts with its creator's floating-point control state */
    stp     x10, xzr, [x9, #160]
    str     x9, [x0]
    ret
    .cfi_endproc
    .size corio__ctx_make, .-corio__ctx_make

    .type corio__ctx_trampoline, @function
    .p2align 4
    .cfi_startproc
    .cfi_undefined x30          /* the outermost frame of a task: unwinders stop here */
    /* Never executed. Unwinders look up the FDE of (return address - 1); while the first switch into a new
     * context is restoring, its lr is the trampoline's first instruction, and this nop puts lr - 1 inside the
     * trampoline's FDE rather than in the padding before it. */
    nop
corio__ctx_trampoline:
    /* Reached only by the switch's ret, which needs no BTI landing pad. */
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size corio__ctx_trampoline, .-corio__ctx_trampoline

#if CORIO_FEATURE_BTI || CORIO_FEATURE_PAC
    /* GNU_PROPERTY_AARCH64_FEATURE_1_AND, the note the linker reads to decide whether the output is BTI/PAC */
    .section .note.gnu.property, "a"
    .p2align 3
    .word   4                   /* name size: "GNU\0" */
    .word   16                  /* descriptor size */
    .word   5                   /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .word   0xc0000000          /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .word   4
    .word   CORIO_FEATURE_BTI | CORIO_FEATURE_PAC
    .word   0                   /* pad to 8 bytes */
#endif

    .section .note.GNU-stack, "", @progbits
