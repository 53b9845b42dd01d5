/* sched.c - the scheduler: the ready queue, the switch, a task's first and last steps, parking and waking, yield
 * and sleep.
 *
 * Tasks switch directly to the next ready task (one context switch per hand-off, as libdill does), not through
 * a scheduler context; the scheduler, running on corio_run's own stack, gets a turn when no task is ready or
 * after a batch of switches (loop.c's driver turn: the clock, timers, I/O), so a task that keeps yielding cannot
 * starve the timers or the network. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#if defined(CORIO_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(CORIO_TSAN)
#include <sanitizer/tsan_interface.h>
#define TSAN_FIBER(x) (x)
#else
#define TSAN_FIBER(x) NULL
#endif

#define DEBUG_SLOW_NS (100 * 1000000LL)

/* ---- ready queue ----------------------------------------------------------------------------------------- */

static corio_task *pop_ready(corio__loop *l) {
    corio_task *t = l->ready_head;
    if (t) {
        l->ready_head = t->next_ready;
        if (!l->ready_head) l->ready_tail = NULL;
        l->nready--;
    }
    return t;
}

/* ---- switching ------------------------------------------------------------------------------------------- */

/* Every switch goes through here so the sanitizers can follow the stacks: AddressSanitizer must be told which
 * stack it is on, or it reports the other stack's frames as errors. */
static inline void switch_ctx(corio__ctx *from, corio__ctx *to, const void *to_lo, size_t to_size, bool dying,
                              void *to_fiber) {
#if defined(CORIO_TSAN)
    /* ThreadSanitizer keeps a shadow stack and a clock per context: tell it which one runs next */
    __tsan_switch_to_fiber(to_fiber, 0);
#else
    (void)to_fiber;
#endif
#if defined(CORIO_ASAN)
    void *fake = NULL;
    __sanitizer_start_switch_fiber(dying ? NULL : &fake, to_lo, to_size);
#else
    (void)to_lo;
    (void)to_size;
#endif
#if CORIO__CTX_HAS_JUMP
    if (dying) corio__ctx_jump(to); /* an ended task is never resumed: save nothing of it */
#endif
    corio__ctx_switch(from, to);
#if defined(CORIO_ASAN)
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)dying;
#endif
}

/* The switch from context `from` to task t (t->ctx), with t's stack for the sanitizers. */
static inline __attribute__((always_inline)) void switch_to_task(corio__ctx *from, corio_task *t, bool dying) {
    switch_ctx(from, &t->ctx, t->stack->lo, t->stack->pool->size, dying, TSAN_FIBER(t->tsan_fiber));
}

/* The switch from context `from` to the scheduler, on corio_run's own stack. */
static inline __attribute__((always_inline)) void switch_to_sched(corio__loop *l, corio__ctx *from, bool dying) {
    switch_ctx(from, &l->sched_ctx, l->sched_stack_lo, l->sched_stack_size, dying, TSAN_FIBER(l->tsan_fiber));
}

static void debug_check_slow(const corio__loop *l, const corio_task *t) {
    int64_t ran = corio__clock_ns() - atomic_load_explicit(&l->ran_ns, memory_order_relaxed);
    if (ran > DEBUG_SLOW_NS)
        (void)fprintf(stderr, "corio: task \"%s\" ran %lld ms without suspending (it blocks the loop)\n",
                      corio__task_label(t), (long long)(ran / 1000000));
}

#if CORIO__CTX_ENTRY_PAIR
static corio__ctx_entry task_entry(void *arg);
#else
static void task_entry(void *arg);
#endif

/* Debug mode: t (or the scheduler, t NULL) runs from now on, for the slow-task reports and the watchdog. */
static __attribute__((noinline)) void debug_switched_in(corio__loop *l, const corio_task *t) {
    atomic_store_explicit(&l->ran_ns, corio__clock_ns(), memory_order_relaxed);
    atomic_store_explicit(&l->dbg_running, t, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->dbg_epoch, 1, memory_order_release);
}

/* Makes a started task t the loop's running one (its stack's bounds included), just before the switch to it. */
static inline void enter(corio__loop *l, corio_task *t) {
    t->state = CORIO__RUNNING;
    l->current = t;
    l->stack_limit = t->stack->guarded ? NULL : t->stack->lo + CORIO__UNGUARDED_MARGIN;
    l->switches++;
}

/* t runs next: the first time, build its initial frame (lazily, so a spawned task touches no stack page until it
 * runs); then enter it, and in debug mode stamp the clock. */
static inline void switch_in(corio__loop *l, corio_task *t) {
    if (!t->started) {
        t->started = true;
        corio__ctx_make_stack(&t->ctx, t->stack->lo, t->stack->pool->size, task_entry, t);
#if defined(CORIO_TSAN)
        t->tsan_fiber = __tsan_create_fiber(0);
#endif
    }
    enter(l, t);
    if (l->debug) debug_switched_in(l, t);
}

static inline void after_switch(corio__loop *l) {
    if (l->zombie) {
        corio__task_free(l, l->zombie);
        l->zombie = NULL;
    }
}

/* Picks the next task and switches to it (or to the scheduler). Inlined into the yield and wait paths so that a
 * suspended task has one frame fewer; a compact task's waits mostly take suspend_inline's shorter path. */
static inline __attribute__((always_inline)) void schedule_inline(corio__loop *l) {
    corio_task *self = l->current;
    /* past the guard budget a stack has no guard page: catch the overflow at least when the task switches out */
    if (__builtin_expect((char *)__builtin_frame_address(0) < l->stack_limit, 0))
        corio__stack_overflow(self, " (seen at a switch; it has no guard page)");
    if (__builtin_expect(l->debug, 0)) debug_check_slow(l, self);
    bool dying = self->state == CORIO__DONE;
    corio_task *next = __builtin_expect(l->budget > 0, 1) ? pop_ready(l) : NULL;
    if (__builtin_expect(next != NULL && next->compact, 0) && !corio__compact_enter(l, self, next)) next = NULL;
    if (__builtin_expect(next != NULL, 1)) {
        l->budget--;
        if (next == self) { /* yielded, and nothing else was ready */
            self->state = CORIO__RUNNING;
            if (l->debug) debug_switched_in(l, self);
            return;
        }
        switch_in(l, next);
        switch_to_task(&self->ctx, next, dying);
    } else {
        l->current = NULL;
        if (__builtin_expect(l->debug, 0)) debug_switched_in(l, NULL);
        switch_to_sched(l, &self->ctx, dying);
    }
    after_switch(l);
}

void corio__schedule(corio__loop *l) { schedule_inline(l); }

void corio__dispatch(corio__loop *l) {
    for (;;) {
        corio_task *next = pop_ready(l);
        if (__builtin_expect(next->compact, 0) && !corio__compact_enter(l, NULL, next)) break;
        switch_in(l, next);
        switch_to_task(&l->sched_ctx, next, false);
        after_switch(l);
        if (__builtin_expect(!l->compact_relay, 1) || l->budget <= 0) break;
        /* a compact task handed off to another through here only because the copy needs a stack other than the
         * shared one: the batch goes on with the head, the compact task corio__compact_enter put first */
        l->compact_relay = false;
        l->budget--;
    }
    l->compact_relay = false;
}

/* The general case of corio_yield, and its rare step after the switch, out of line so that the fast path makes no
 * call but the switch. */
static __attribute__((noinline)) void yield_free_zombie(void) { after_switch(corio__cur); }

static __attribute__((noinline)) int yield_general(corio__loop *l, corio_task *self) {
    corio__make_ready(l, self);
    corio__schedule(l);
    return 0;
}

/* The hot path of bench_switch: the yielder goes to the back of the ready queue and the head (a task already
 * started) runs, with no detour through corio__schedule's general case. Nothing in it lives across the switch
 * (the loop is read back afterwards), so it saves no callee-saved register of its own: the switch saves them. */
int corio_yield(void) {
    corio__loop *l = corio__cur;
    corio_task *self;
    if (!l || !(self = l->current)) return -EPERM;
    int rc = corio__check(l, self);
    if (rc < 0) return rc;
    corio_task *next = l->ready_head;
    if (__builtin_expect(!next || l->budget <= 0 || l->debug || l->shared_stack || !next->started ||
                             (char *)__builtin_frame_address(0) < l->stack_limit,
                         0))
        return yield_general(l, self);
    l->budget--;
    self->state = CORIO__READY;
    self->next_ready = NULL;
    l->ready_tail->next_ready = self;
    l->ready_tail = self;
    l->ready_head = next->next_ready; /* never NULL: self is behind next */
    enter(l, next); /* switch_in() with nothing to build and no debug clock: no call before the switch */
    switch_to_task(&self->ctx, next, false);
    if (__builtin_expect(corio__cur_reload()->zombie != NULL, 0)) yield_free_zombie();
    return 0;
}

static void task_ended(corio__loop *l, corio_task *t, int status);

/* A task's first and last steps, each a function of its own (the first hands t back, the last finds it through
 * the loop) so that nothing under the task's function keeps a value across it: every frame below the function is
 * under every frame a compact task saves. */
static __attribute__((noinline)) corio_task *task_begin(corio_task *t) {
#if defined(CORIO_ASAN)
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    after_switch(corio__cur);
    return t;
}

static __attribute__((noinline, noreturn)) void task_finish(int status) {
    corio__loop *l = corio__cur;
    if (__builtin_expect(!l, 0)) _exit(status < 0 ? 1 : 0); /* a task returning in a child forked from the loop */
    task_ended(l, l->current, status);
    corio__schedule(l);
    abort(); /* unreachable: an ended task is never switched to again */
}

#if CORIO__CTX_ENTRY_PAIR
/* The x86-64 trampoline calls the task's function itself, with nothing of its own between it and the top of the
 * stack (16 bytes fewer for a compact task to save than a C entry's frame): this hands it the function and its
 * argument, and it hands the status to corio__ctx_end. */
static corio__ctx_entry task_entry(void *arg) {
    corio_task *t = task_begin(arg);
    return (corio__ctx_entry){t->start_fn, t->start_arg};
}

void corio__ctx_end(int status) { task_finish(status); }
#else
static void task_entry(void *arg) {
    corio_task *t = task_begin(arg);
    task_finish(t->start_fn(t->start_arg));
}
#endif

/* ---- parking and waking ---------------------------------------------------------------------------------- */

/* A wait in two halves: arming (a deadline, the wait list) here, inlined into its caller, and the suspension in a
 * function of its own that the caller tail-calls, so the caller's frame is gone before the task switches out. */
static inline __attribute__((always_inline)) int arm_inline(corio__loop *l, corio__link *q, int64_t deadline,
                                                            bool shield) {
    corio_task *t = l->current;
    int64_t when = deadline;
    if (!shield) {
        int rc = corio__check(l, t);
        if (rc < 0) {
            t->wait_kind = CORIO__WAIT_NONE;
            /* a cancelled task looping on waits that fail at once never lets the loop turn: report from here */
            if (__builtin_expect(l->shutting_down, 0)) corio__shutdown_check(l);
            return rc;
        }
        if (__builtin_expect(t->scope != NULL, 0)) {
            int64_t scope = corio__scope_deadline(t);
            if (scope < when) when = scope;
            t->scope->wait_deadline_ns = deadline; /* corio_scope_set_deadline re-arms from it (scope.c) */
        }
    }
    t->op_timer = when == deadline;
    if (when != CORIO__INF) {
        t->timer.when = when;
        if (corio__heap_push(&l->timers, &t->timer) < 0) {
            t->wait_kind = CORIO__WAIT_NONE;
            return -ENOMEM;
        }
    }
    if (q) corio__list_push(q, &t->wnode);
    t->shielded = shield;
    t->state = CORIO__WAITING;
    t->wake_rc = 0;
    return 0;
}

/* The end of every wait, once the task runs again. */
static inline __attribute__((always_inline)) int woken(corio_task *t) {
    t->wait_kind = CORIO__WAIT_NONE;
    return t->wake_rc;
}

static __attribute__((noinline)) int suspend_general(void) {
    corio__loop *l = corio__cur;
    schedule_inline(l);
    return woken(l->current);
}

static __attribute__((noinline)) int resumed_with_zombie(void) {
    corio__loop *l = corio__cur;
    after_switch(l);
    return woken(l->current);
}

/* Suspends the current task, armed by arm_inline, until it is woken; returns its wake code. What a compact task
 * saves is every frame under the switch, and this one is the last (bench_tasks --compact: a million of them), so
 * for the common case, a compact task whose next in line is compact too or who has none, the frame holds nothing
 * but its return address and frame pointer: no value lives across the switch (the loop and the task are read
 * back from the thread's loop after it) and every call but the switch is a tail call to the general path. */
static inline __attribute__((always_inline)) int suspend_inline(void) {
    corio__loop *l = corio__cur;
    corio_task *self = l->current, *next = l->ready_head;
    bool relay = l->budget > 0 && next;
    if (__builtin_expect(!self->compact || l->debug || (relay && !next->compact) ||
                             (char *)__builtin_frame_address(0) < l->stack_limit,
                         0))
        return suspend_general();
    /* as schedule_inline does through corio__compact_enter: the copy onto the shared stack is the scheduler's */
    l->compact_relay = relay;
    l->current = NULL;
    switch_to_sched(l, &self->ctx, false);
    l = corio__cur_reload();
    if (__builtin_expect(l->zombie != NULL, 0)) return resumed_with_zombie();
    return woken(l->current);
}

static __attribute__((noinline)) int suspend(void) { return suspend_inline(); }

int corio__park(corio__loop *l, corio__link *q, int64_t deadline, bool shield) {
    int rc = arm_inline(l, q, deadline, shield);
    if (rc < 0) return rc;
    return suspend();
}

static __attribute__((noinline)) int suspend_sleep(void) {
    int rc = suspend_inline();
    return rc == CORIO__WAKE_DEADLINE ? 0 : rc;
}

/* Here rather than with the other task calls in task.c: it is the wait a million compact tasks sit in
 * (bench_tasks --compact). */
int corio_sleep(int64_t ms) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (ms < 0) return -EINVAL;
    if (ms == 0) return corio_yield();
    corio__wait_on(self, CORIO__WAIT_SLEEP, NULL);
    int rc = arm_inline(l, NULL, corio__deadline_after(l, ms), false);
    if (rc < 0) return rc;
    return suspend_sleep();
}

void corio__wake(corio__loop *l, corio_task *t, int rc) {
    if (t->state != CORIO__WAITING) return;
    if (t->wnode.next != &t->wnode) corio__list_remove(&t->wnode);
    if (t->timer.index != CORIO__NOT_ARMED) corio__heap_remove(&l->timers, &t->timer);
    t->wake_rc = rc;
    corio__make_ready(l, t);
}

void corio__wake_waiter(corio_task *t, int rc) {
    corio__loop *l = corio__cur;
    if (__builtin_expect(!corio__task_of(l, t), 0)) {
        /* waking it from here would run another thread's task on this one, or touch a loop that is not ours */
        (void)fprintf(stderr, "corio: a lock, event, semaphore, condition or queue was used outside the loop of the "
                              "task waiting on it (objects belong to one loop's tasks; corio_chan crosses loops)\n");
        abort();
    }
    corio__wake(l, t, rc);
}

void corio__task_cancel(corio__loop *l, corio_task *t) {
    t->cancel_req = true;
    if (t->shield_open) return; /* it shows when the shield closes (corio__scope_recompute) */
    t->cancelled = true;
    if (t->state == CORIO__WAITING && !t->shielded) corio__wake(l, t, -ECANCELED);
}

void corio__wait_ended(corio__loop *l, corio_task *self, corio_task *t) {
    t->joiner = self;
    t->end_by = CORIO__END_JOINER;
    while (t->state != CORIO__DONE) {
        corio__wait_on(self, CORIO__WAIT_TASK, t);
        corio__park(l, NULL, CORIO__INF, true);
    }
    t->end_by = CORIO__END_NONE;
}

/* ---- the end of a task ----------------------------------------------------------------------------------- */

static void task_ended(corio__loop *l, corio_task *t, int status) {
    t->status = status;
    t->state = CORIO__DONE;
    t->end_seq = ++l->end_seq;
    l->nrunning--;
    if (t->end_by == CORIO__END_JOINER) corio__wake(l, t->joiner, 0);
    corio__notify_if(&l->task_watchers);
    corio_task *w = t->end_by == CORIO__END_WATCHER ? t->watcher : NULL;
    if (w) {
        if (w->gather_pending) w->gather_pending--; /* corio_wait_any watches many with a count of 1 */
        if (status < 0) w->gather_failed = true;
        if (w->gather_pending == 0 || (status < 0 && w->gather_stop_on_failure)) corio__wake(l, w, 0);
    }
    /* the stack goes back now: nothing runs on it after the switch away, and nothing is allocated before */
    if (__builtin_expect(t->compact, 0))
        corio__compact_release(l, t);
    else
        corio__stack_put(t->stack->pool, t->stack);
    t->stack = NULL;
    l->stack_limit = NULL;
    if (t->end_by == CORIO__END_GROUP) {
        corio__group_child_ended(l, t);
        if (!t->group_keep) l->zombie = t; /* else its handle lives until corio_group_wait frees it */
    } else if (t->detached) {
        l->zombie = t;
    }
}
