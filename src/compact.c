/* compact.c - compact tasks: copy-stack tasks (libaco's shared stacks) that all run on one stack per loop and,
 * while suspended, keep only the bytes of stack they were using: inside their own task struct
 * (CORIO__SAVE_INLINE bytes, enough for a task asleep in corio_sleep), or when there are more, in a malloc'd
 * buffer of exactly that size.
 *
 * A task's frames hold pointers to themselves, so they only work at the addresses they were built at: every
 * compact task runs on the same shared stack, and before one resumes, whichever task's frames are on it (the
 * owner) is copied out and the resuming task's bytes are copied back. The owner keeps its bytes in place until
 * another compact task needs the stack, so a compact task resumed with no other compact task run in between
 * costs no copy. The copy cannot be made from the shared stack itself: a compact task switching to another one
 * goes through the scheduler, which runs on corio_run's own stack (corio__compact_enter returns false). When memory
 * for a copy runs out, the task waiting to run waits its turn, and the owner's wait fails with -ENOMEM: nothing
 * aborts, and the owner, which runs in place, is the one to see the error.
 *
 * The price is one rule: nothing may point into a suspended compact task's stack, since those bytes are
 * elsewhere (or overwritten) until it runs again. corio's own waits keep their state in the task struct or the
 * heap; what the thread pool is handed (corio_to_thread's arg, and so corio's file calls, whose request lives on
 * the caller's stack) is refused with -EINVAL from a compact task, as is a stack pointer passed to corio_spawn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#if defined(CORIO_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CORIO_MEMCHECK 1
#endif
#endif

corio__stack *corio__compact_stack(corio__loop *l) {
    if (!l->shared_stack) l->shared_stack = corio__stack_get(&l->pool);
    if (!l->shared_stack) errno = ENOMEM;
    return l->shared_stack;
}

/* The end of what a task's frames use: the switch's first frame leaves CORIO__CTX_TOP_UNUSED bytes above it
 * that nothing reads, so they need no saving. */
static char *shared_top(const corio__loop *l) { return l->shared_stack->lo + l->pool.size - CORIO__CTX_TOP_UNUSED; }

/* How many bytes a saved task's frames take: from its saved stack pointer, which still holds the address they
 * had (and will have again) on the shared stack, up. Kept nowhere else, to keep the task struct small. */
static size_t saved_len(const corio__loop *l, const corio_task *t) {
    return (size_t)(shared_top(l) - corio__ctx_sp(&t->ctx));
}

/* Where t's saved bytes (len of them) are: its own save area, or the buffer it spilled to. */
static char *saved_bytes(corio_task *t, size_t len) {
    corio__compact_task *c = corio__container_of(t, corio__compact_task, task);
    return len <= CORIO__SAVE_INLINE ? c->save.bytes : c->save.spill;
}

/* Copies the suspended owner's live frames (from its saved stack pointer up) off the shared stack: false if there
 * was no memory for them (the owner's bytes stay in place). */
static bool save_owner(corio__loop *l, corio_task *o) {
    char *sp = corio__ctx_sp(&o->ctx), *top = shared_top(l);
    size_t len = (size_t)(top - sp);
    if (sp < l->shared_stack->lo || sp >= top) corio__stack_overflow(o, " (its saved stack pointer is off its stack)");
    corio__compact_task *c = corio__container_of(o, corio__compact_task, task);
    char *buf = c->save.bytes;
    if (len > CORIO__SAVE_INLINE) {
        if (!(buf = malloc(len))) return false;
        c->save.spill = buf;
    }
#if defined(CORIO_ASAN)
    /* the frames' redzones are poisoned: the copy reads them too */
    ASAN_UNPOISON_MEMORY_REGION(sp, len);
#endif
    memcpy(buf, sp, len);
    o->saved = true;
    return true;
}

/* The owner's bytes could not be saved, so t cannot run yet: t goes back in line, and the owner's wait, if it can
 * end, fails with -ENOMEM, so that the owner runs in place (it needs no copy) and can give memory back. */
static void no_room(corio__loop *l, corio_task *o, corio_task *t) {
    if (o->state == CORIO__WAITING && !o->shielded) corio__wake(l, o, -ENOMEM);
    corio__make_ready(l, t);
}

bool corio__compact_enter(corio__loop *l, corio_task *self, corio_task *t) {
    if (t == l->shared_owner) return true; /* its bytes are still in place */
    if (self && self->compact) {
        /* running on the shared stack: hand the copy to the scheduler, t first in line */
        t->next_ready = l->ready_head;
        l->ready_head = t;
        if (!l->ready_tail) l->ready_tail = t;
        l->nready++;
        t->state = CORIO__READY;
        l->compact_relay = true;
        return false;
    }
    corio_task *o = l->shared_owner;
    if (o && !save_owner(l, o)) {
        no_room(l, o, t);
        return false;
    }
#if defined(CORIO_ASAN)
    /* other tasks' frames left poison here; t's frames get theirs back as its functions run */
    ASAN_UNPOISON_MEMORY_REGION(l->shared_stack->lo, l->pool.size);
#endif
    if (t->saved) {
        size_t len = saved_len(l, t);
#ifdef CORIO_MEMCHECK
        /* memcheck made what lies below the last owner's stack pointer inaccessible as its frames returned */
        VALGRIND_MAKE_MEM_UNDEFINED(shared_top(l) - len, len);
#endif
        char *buf = saved_bytes(t, len);
        memcpy(shared_top(l) - len, buf, len);
        if (len > CORIO__SAVE_INLINE) free(buf);
        t->saved = false;
    }
    l->shared_owner = t;
    return true;
}

void corio__compact_release(corio__loop *l, corio_task *t) {
    if (l->shared_owner == t) l->shared_owner = NULL;
    if (t->saved) {
        size_t len = saved_len(l, t);
        if (len > CORIO__SAVE_INLINE) free(saved_bytes(t, len));
    }
    t->saved = false;
    t->stack = NULL; /* the shared stack stays with the loop's pool, which unmaps it at the end of corio_run */
}
