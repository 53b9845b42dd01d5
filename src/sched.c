/* sched.c - the loop: corio_run, the scheduler, parking and waking tasks, the clock, and debug-mode reports.
 *
 * Tasks switch directly to the next ready task (one context switch per hand-off, as libdill does), not through
 * a scheduler context; the scheduler, running on corio_run's own stack, gets a turn when no task is ready or
 * after BATCH switches, to read the clock, fire timers and poll I/O, so a task that keeps yielding cannot starve
 * the timers or the network. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "signals.h"

#if defined(CORIO_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(CORIO_TSAN)
#include <sanitizer/tsan_interface.h>
#define TSAN_FIBER(x) (x)
#else
#define TSAN_FIBER(x) NULL
#endif

/* Switches between scheduler turns. A turn costs a clock read and two context switches, so amortising it over
 * 64 switches keeps bench_switch within ~1% of a bare switch, while a timer is at most 64 task slices late. */
#define BATCH 64
#define DEBUG_SLOW_NS (100 * 1000000LL)

CORIO__TLS corio__loop *corio__cur;
CORIO__TLS uint64_t corio__next_id;

/* Never inlined: its struct timespec would otherwise sit in corio_sleep's frame, which every compact task asleep
 * keeps a copy of (16 bytes more each in bench_tasks --compact). */
__attribute__((noinline)) int64_t corio__clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t corio_now(void) {
    corio__loop *l = corio__cur;
    return l ? l->now_ns / 1000000 : 0;
}

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

/* ---- the loop -------------------------------------------------------------------------------------------- */

static void fire_timers(corio__loop *l) {
    corio__timer *m;
    while ((m = corio__heap_min(&l->timers)) && m->when <= l->now_ns) {
        corio_task *t = corio__container_of(m, corio_task, timer);
        corio__wake(l, t, t->op_timer ? CORIO__WAKE_DEADLINE : -ETIMEDOUT);
    }
}

static void cancel_all(corio__loop *l) {
    for (corio__link *n = l->tasks.next; n != &l->tasks; n = n->next) {
        corio_task *t = corio__container_of(n, corio_task, all);
        if (t->state != CORIO__DONE) corio__task_cancel(l, t);
    }
}

/* Gives idle stacks' pages back (beyond the few kept hot) while the loop is about to sleep for timeout_ms (-1: no
 * timer), a share that fits the sleep: each stack costs a madvise and its TLB flush (~4.4 us here, from perf), so
 * 1,024 of them in the 1 ms between two timers hold the next one up ~4.5 ms (bench_gather, whose wake-ups are
 * 1 ms apart, ended 3-23 ms later that way than with this share, in 5 pairs). */
#define TRIM_PER_MS 64
#define TRIM_MAX 1024
static void trim_pools(corio__loop *l, int timeout_ms) {
    size_t budget =
        timeout_ms < 0 || timeout_ms >= TRIM_MAX / TRIM_PER_MS ? TRIM_MAX : (size_t)timeout_ms * TRIM_PER_MS;
    for (corio__pool *p = &l->pool; p && budget; p = p->next) budget -= corio__pool_trim(p, budget);
}

/* Idle stacks still to give back: the loop then sleeps at most a trimming's worth (TRIM_MAX / TRIM_PER_MS ms) and
 * trims again, rather than keep them resident until some timer or descriptor wakes it (after a burst of 10,000
 * connections with no timer pending, 9,000 idle stacks stayed resident for good). */
static bool pools_trimmable(const corio__loop *l) {
    for (const corio__pool *p = &l->pool; p; p = p->next)
        if (corio__pool_trimmable(p)) return true;
    return false;
}

/* Runs until every task has ended; -EDEADLK if tasks still wait on each other and even cancelling every one of
 * them could not wake any. */
static int run_loop(corio__loop *l) {
    bool cancelled_all_for_deadlock = false;
    bool just_polled = false;
    for (;;) {
        if (__builtin_expect(l->compact_relay, 0) && l->budget > 0) {
            /* not a scheduler turn: the hand-off only needed a stack other than the shared one for the copy */
            l->compact_relay = false;
            l->budget--;
            corio_task *next = pop_ready(l); /* put first by corio__compact_enter */
            if (!corio__compact_enter(l, NULL, next)) continue; /* no memory for the copy: it waits its turn */
            switch_in(l, next);
            switch_to_task(&l->sched_ctx, next, false);
            after_switch(l);
            continue;
        }
        l->compact_relay = false;
        corio__update_now(l);
        fire_timers(l);
        if (__builtin_expect(l->debug, 0)) corio__debug_quit_poll(l);
        if (l->main->state == CORIO__DONE && !l->shutting_down) {
            l->shutting_down = true;
            corio__shutdown_started(l);
            cancel_all(l);
        }
        if (__builtin_expect(l->shutting_down, 0)) corio__shutdown_check(l);
        if (l->nrunning == 0) return 0;
        if (l->ready_head) {
            cancelled_all_for_deadlock = false;
            /* I/O gets its turn between batches, unless the loop has just come back from polling: a second
             * epoll_wait right after the one that woke these tasks would find nothing (bench/io.sh profile:
             * 2 epoll_wait per echo round trip at 1 connection, 1 with this) */
            /* with nothing waiting on a descriptor, a poll every CORIO__POLL_GAP_NS still lets a signal or a
             * post in */
            if ((l->io_waiters && !just_polled) || l->now_ns - l->polled_ns >= CORIO__POLL_GAP_NS) {
                l->polled_ns = l->now_ns;
                l->backend.ops->poll(l, 0);
            } else if (l->inbox_waiters)
                corio__xloop_poll(l); /* other threads' messages, without a system call (loops.c) */
            just_polled = false;
            l->budget = BATCH - 1;
            corio_task *next = pop_ready(l);
            if (__builtin_expect(next->compact, 0) && !corio__compact_enter(l, NULL, next)) continue;
            switch_in(l, next);
            switch_to_task(&l->sched_ctx, next, false);
            after_switch(l);
            continue;
        }
        corio__timer *m = corio__heap_min(&l->timers);
        if (!m && !l->io_waiters && !l->inbox_waiters) {
            /* every task waits on another task: nothing outside can ever wake them. Rather than hang, cancel
             * them all (their waits return -ECANCELED); if even that wakes nobody, give up. */
            if (cancelled_all_for_deadlock) {
                (void)fprintf(stderr, "corio: deadlock: %zu tasks wait forever, even after cancellation\n",
                              l->nrunning);
                return -EDEADLK;
            }
            if (l->debug)
                (void)fprintf(stderr,
                              "corio: deadlock: %zu tasks wait on each other and nothing can wake them; "
                              "cancelling them\n",
                              l->nrunning);
            cancelled_all_for_deadlock = true;
            cancel_all(l);
            continue;
        }
        int timeout = -1;
        if (m) {
            int64_t ns = m->when - l->now_ns;
            int64_t ms = (ns + 999999) / 1000000; /* round up: waking early would just spin */
            timeout = ms > 1000000 ? 1000000 : (int)ms;
        }
        trim_pools(l, timeout);
        if ((timeout < 0 || timeout > TRIM_MAX / TRIM_PER_MS) && pools_trimmable(l)) timeout = TRIM_MAX / TRIM_PER_MS;
        if (__builtin_expect(l->shutting_down, 0)) {
            /* the tasks still running may wait on something nothing ends: wake for the report of them */
            int64_t until = (l->report_ns - l->now_ns + 999999) / 1000000;
            if (until < 1) until = 1;
            if (timeout < 0 || timeout > until) timeout = until > 1000000 ? 1000000 : (int)until;
        }
        l->backend.ops->poll(l, timeout);
        l->polled_ns = l->now_ns;
        just_polled = true;
    }
}

void corio__poll_if_due(corio__loop *l) {
    if (l->now_ns - l->polled_ns < CORIO__POLL_GAP_NS) return;
    l->polled_ns = l->now_ns;
    l->backend.ops->poll(l, 0);
}

static void report_unjoined(corio__loop *l) {
    for (corio__link *n = l->tasks.next; n != &l->tasks; n = n->next) {
        corio_task *t = corio__container_of(n, corio_task, all);
        if (t == l->main) continue;
        (void)fprintf(stderr, "corio: task \"%s\" was never awaited nor detached (status %d, %s)\n",
                      corio__task_label(t), t->status, corio_err_name(t->status));
    }
}

static void sched_stack_bounds(corio__loop *l) {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        /* cannot fail on an attr pthread_getattr_np filled; if it did, the bounds stay 0 (the loop is calloc'd)
         * and only the sanitizers' view of the scheduler stack is less precise */
        (void)pthread_attr_getstack(&attr, &l->sched_stack_lo, &l->sched_stack_size);
        pthread_attr_destroy(&attr);
    }
}

/* io_uring where it was built and the kernel allows it (its batched receives and sends served 1.6x libuv's echo
 * round trips at 50 connections, where epoll is level with libuv: docs/benchmarks.md), else epoll;
 * CORIO_BACKEND=epoll|uring chooses. Under valgrind the default is epoll: valgrind runs one thread at a time and a loop
 * thread blocked in io_uring_enter kept the others from running (test_chan's multi-loop case hung). */
static int backend_init(corio__loop *l) {
    const char *want = getenv("CORIO_BACKEND");
    bool epoll = want && strcmp(want, "epoll") == 0, uring = want && strcmp(want, "uring") == 0;
    if (want && *want && !epoll && !uring && l->debug)
        (void)fprintf(stderr, "corio: CORIO_BACKEND=%s is neither epoll nor uring, using the default\n", want);
#ifdef CORIO_HAVE_URING
    if (uring || (!epoll && !corio__valgrind())) {
        l->backend.ops = &corio__uring_ops;
        int rc = l->backend.ops->init(l);
        if (rc == 0) return 0;
        if (l->debug) (void)fprintf(stderr, "corio: io_uring refused (%s), using epoll\n", corio_strerror(rc));
    }
#else
    if (uring && l->debug) (void)fprintf(stderr, "corio: built without io_uring (liburing-dev), using epoll\n");
#endif
    l->backend.ops = &corio__epoll_ops;
    return l->backend.ops->init(l);
}

/* A value no other loop of this process has had (before 2^32 loops), for its tasks' magic: a handle from another loop,
 * or from an earlier corio_run of this thread, then fails the one compare every public call makes. */
static uint32_t new_task_magic(void) {
    static atomic_uint serial;
    uint32_t m;
    do /* the golden ratio spreads consecutive serials over all the bits */
        m = CORIO__TASK_MAGIC ^ (atomic_fetch_add(&serial, 1) * 0x9e3779b9U);
    while (m == CORIO__TASK_DEAD || m == 0);
    return m;
}

/* In a child forked from a loop's thread the loop is not usable (asyncio's rule): its epoll or io_uring instance is
 * the parent's, and a child using it would take the parent's edge-triggered events (epoll) or complete requests
 * on its ring (io_uring). So the child forgets the loop: every corio call there acts as outside a loop (-EPERM),
 * and a task function returning there ends the child process. */
static void forget_loop_in_child(void) { corio__cur = NULL; }
static void register_fork_handler(void) { (void)pthread_atfork(NULL, NULL, forget_loop_in_child); }

int corio_run(corio_fn fn, void *arg) {
    if (!fn) return -EINVAL;
    if (corio__cur) return -EBUSY;
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&fork_once, register_fork_handler);
    corio__loop *l = calloc(1, sizeof *l);
    if (!l) return -ENOMEM;
    l->task_magic = new_task_magic();
    corio__list_init(&l->tasks);
    corio__list_init(&l->groups);
    corio__list_init(&l->quarantine);
    corio__list_init(&l->task_watchers);
    corio__pool_init(&l->pool, corio__default_stack_size());
    const char *dbg = getenv("CORIO_DEBUG");
    l->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    int rc = backend_init(l);
    if (rc < 0) {
        free(l);
        return rc;
    }
    sched_stack_bounds(l);
#if defined(CORIO_TSAN)
    l->tsan_fiber = __tsan_get_current_fiber();
#endif
    /* as Go does: a write to a closed socket or pipe returns -EPIPE rather than killing the process */
    struct sigaction pipe_action;
    if (sigaction(SIGPIPE, NULL, &pipe_action) == 0 && pipe_action.sa_handler == SIG_DFL)
        (void)signal(SIGPIPE, SIG_IGN);
    corio__cur = l;
    corio__stack_guard_install();
    if (l->debug) {
        corio__debug_quit_install(l);
        corio__watchdog_start(l);
    }
    l->epoch_ns = corio__update_now(l);

    corio_task_opts opts = {.name = "main", .stack_size = 0};
    l->main = corio__task_new(l, fn, arg, &opts);
    int status = -ENOMEM;
    if (l->main) {
        corio__make_ready(l, l->main);
        rc = run_loop(l);
        status = l->main->state == CORIO__DONE ? l->main->status : rc;
        if (l->debug) report_unjoined(l);
    }

    /* free what is left: tasks never awaited, and after a deadlock, tasks that never ended */
    while (!corio__list_empty(&l->tasks)) {
        corio_task *t = corio__container_of(l->tasks.next, corio_task, all);
        if (t->timer.index != CORIO__NOT_ARMED) corio__heap_remove(&l->timers, &t->timer);
        if (t->wnode.next != &t->wnode) corio__list_remove(&t->wnode);
        t->end_by = CORIO__END_NONE;
        corio__task_free(l, t);
    }
    corio__group_free_all(l);
    corio__watchdog_stop(l); /* before the tasks go: it may be reading the running one's name */
    corio__task_quarantine_free(l);
    corio__task_chunks_free(l); /* every task struct, free or quarantined */
    corio__pool *p = l->pool.next;
    while (p) {
        corio__pool *next = p->next;
        corio__pool_destroy(p);
        free(p);
        p = next;
    }
    corio__pool_destroy(&l->pool);
    corio__heap_free(&l->timers);
    corio__pool_loop_free(l);
    corio__xloop_free(l);
    corio__signal_loop_free(l);
    if (l->debug) corio__debug_quit_uninstall(l);
    corio__fd_registry_free(l);
    l->backend.ops->close(l);
    corio__stack_guard_uninstall();
    corio__cur = NULL;
    free(l);
    return status;
}
