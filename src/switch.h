/* switch.h - the context-switch contract between the scheduler and each architecture's switch (src/arch/<arch>.S)
 * or the portable ucontext fallback (src/switch_ucontext.c, built with -DCORIO_SWITCH_UCONTEXT). */
#ifndef CORIO_SWITCH_H
#define CORIO_SWITCH_H

#include <stddef.h>

#ifdef CORIO_SWITCH_UCONTEXT
#include <ucontext.h>
typedef struct corio__ctx {
    ucontext_t uc;
} corio__ctx;
#else
typedef struct corio__ctx {
    void *sp; /* the saved frame lies here, on the context's own stack */
} corio__ctx;
#endif

/* Saves the running context into from and resumes to. Returns when something switches back to from. */
void corio__ctx_switch(corio__ctx *from, corio__ctx *to);
/* Where CORIO__CTX_HAS_JUMP is 1: resumes to without saving the running context, which must never run again. */
#if !defined(CORIO_SWITCH_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__))
#define CORIO__CTX_HAS_JUMP 1
void corio__ctx_jump(corio__ctx *to) __attribute__((noreturn));
#else
#define CORIO__CTX_HAS_JUMP 0
#endif

/* Prepares ctx so that the first switch to it runs entry(arg) on the stack that ends at top (exclusive; the
 * stack grows down from there; size bytes long). entry must never return.
 * Where CORIO__CTX_ENTRY_PAIR is 1 (the x86-64 switch), entry instead returns a function and its argument, which
 * the trampoline calls in turn, passing what it returns to corio__ctx_end (defined by the scheduler; it must
 * never return): the function then runs right under the trampoline's return address. */
#if !defined(CORIO_SWITCH_UCONTEXT) && defined(__x86_64__)
#define CORIO__CTX_ENTRY_PAIR 1
typedef struct corio__ctx_entry {
    int (*fn)(void *);
    void *arg;
} corio__ctx_entry; /* returned in rax and rdx, as the System V ABI returns a pair of pointers */
void corio__ctx_end(int status) __attribute__((noreturn));
typedef corio__ctx_entry (*corio__ctx_entry_fn)(void *);
#else
#define CORIO__CTX_ENTRY_PAIR 0
typedef void (*corio__ctx_entry_fn)(void *);
#endif
#ifdef CORIO_SWITCH_UCONTEXT
void corio__ctx_make_uc(corio__ctx *ctx, void *lo, size_t size, corio__ctx_entry_fn entry, void *arg);
#define corio__ctx_make_stack(ctx, lo, size, entry, arg) corio__ctx_make_uc(ctx, lo, size, entry, arg)
#else
void corio__ctx_make(corio__ctx *ctx, void *top, corio__ctx_entry_fn entry, void *arg);
#define corio__ctx_make_stack(ctx, lo, size, entry, arg) corio__ctx_make(ctx, (char *)(lo) + (size), entry, arg)
#endif

/* The saved stack pointer of a suspended context: its live frames lie from there up (compact tasks copy them).
 * CORIO__COMPACT_SUPPORTED is 0 where it cannot be read; compact tasks then get stacks of their own. */
/* CORIO__CTX_TOP_UNUSED: bytes at the top of a stack that the first frame corio__ctx_make builds leaves unread
 * (x86-64: two zero slots above the trampoline's return address), which a compact task need not save. */
#ifndef CORIO_SWITCH_UCONTEXT
#define CORIO__COMPACT_SUPPORTED 1
#if defined(__x86_64__)
#define CORIO__CTX_TOP_UNUSED 16
#else
#define CORIO__CTX_TOP_UNUSED 0
#endif
static inline char *corio__ctx_sp(const corio__ctx *ctx) { return (char *)ctx->sp; }
#elif defined(__x86_64__)
#define CORIO__COMPACT_SUPPORTED 1
#define CORIO__CTX_TOP_UNUSED 0
static inline char *corio__ctx_sp(const corio__ctx *ctx) { return (char *)ctx->uc.uc_mcontext.gregs[REG_RSP]; }
#elif defined(__aarch64__)
#define CORIO__COMPACT_SUPPORTED 1
#define CORIO__CTX_TOP_UNUSED 0
static inline char *corio__ctx_sp(const corio__ctx *ctx) { return (char *)ctx->uc.uc_mcontext.sp; }
#else
#define CORIO__COMPACT_SUPPORTED 0
#define CORIO__CTX_TOP_UNUSED 0
static inline char *corio__ctx_sp(const corio__ctx *ctx) { return (char *)ctx; }
#endif

#endif
