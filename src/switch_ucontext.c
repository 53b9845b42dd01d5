/* switch_ucontext.c - the portable context switch (build with SWITCH=ucontext): makecontext/swapcontext. It is
 * ~200x slower than the assembly (swapcontext sets the signal mask with a system call each time) but runs
 * wherever libc has ucontext, and CI runs the whole suite on it to keep the assembly honest. */
#include "internal.h"

#ifdef CORIO_SWITCH_UCONTEXT
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

/* makecontext passes int arguments only: a pointer travels as two halves. */
static void trampoline(unsigned hi, unsigned lo, unsigned fhi, unsigned flo) {
    void *arg = (void *)(((uintptr_t)hi << 32) | lo);
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)fhi << 32) | flo);
    entry(arg);
    abort(); /* entry never returns */
}

void corio__ctx_make_uc(corio__ctx *ctx, void *lo, size_t size, corio__ctx_entry_fn entry, void *arg) {
    /* ucontext is obsolescent in POSIX but still in glibc and musl, and this file exists to be the portable
     * fallback (cppcheck's portability note suggests threads instead) */
    // cppcheck-suppress getcontextCalled
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    uintptr_t a = (uintptr_t)arg, f = (uintptr_t)entry;
    makecontext(&ctx->uc, (void (*)(void))trampoline, 4, (unsigned)(a >> 32), (unsigned)a, (unsigned)(f >> 32),
                (unsigned)f);
}

void corio__ctx_switch(corio__ctx *from, corio__ctx *to) {
    /* the signal mask belongs to the thread, not to a task: swapcontext would reinstate the mask `to` was saved
     * with and undo any pthread_sigmask since (corio_signal_wait blocks signals), so give it the current one */
    pthread_sigmask(SIG_SETMASK, NULL, &to->uc.uc_sigmask);
    // cppcheck-suppress swapcontextCalled
    swapcontext(&from->uc, &to->uc);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int corio__switch_ucontext_unused;
#endif
