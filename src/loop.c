/* loop.c - the event loop around the scheduler: corio_run's setup and teardown, the choice of backend, the loop's
 * clock, and the driver turn the scheduler takes between batches of task switches (timers, the shutdown, the poll
 * or the inbox, deadlock detection, giving idle stacks back), one step after another as libuv's uv_run reads: the
 * clock, the timers, then I/O. Which task runs, and the switches, parks and wake-ups, are sched.c's. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "signals.h"

#if defined(CORIO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* Switches between driver turns. A turn costs a clock read and two context switches, so amortising it over
 * 64 switches keeps bench_switch within ~1% of a bare switch, while a timer is at most 64 task slices late. */
#define BATCH 64

CORIO__TLS corio__loop *corio__cur;
CORIO__TLS uint64_t corio__next_id;

/* ---- the clock ------------------------------------------------------------------------------------------- */

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

/* ---- the driver turn's steps ------------------------------------------------------------------------------ */

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

/* Once the main task has returned, every other task is cancelled; the ones that still run get reported. */
static void shutdown_step(corio__loop *l) {
    if (l->main->state == CORIO__DONE && !l->shutting_down) {
        l->shutting_down = true;
        corio__shutdown_started(l);
        cancel_all(l);
    }
    if (__builtin_expect(l->shutting_down, 0)) corio__shutdown_check(l);
}

/* Gives idle stacks' pages back (beyond the few kept hot) while the loop is about to sleep for timeout_ms (-1: no
 * timer), a share that fits the sleep: each stack costs a madvise and its TLB flush (~4.4 us here, from perf), so
 * 1,024 of them in the 1 ms between two timers hold the next one up ~4.5 ms (bench_gather, whose wake-ups are
 * 1 ms apart, ended 3-23 ms later that way than with this share, in 5 pairs). */
#define TRIM_PER_MS 64
#define TRIM_MAX 1024
static void trim_stacks(corio__loop *l, int timeout_ms) {
    size_t budget =
        timeout_ms < 0 || timeout_ms >= TRIM_MAX / TRIM_PER_MS ? TRIM_MAX : (size_t)timeout_ms * TRIM_PER_MS;
    for (corio__pool *p = &l->pool; p && budget; p = p->next) budget -= corio__pool_trim(p, budget);
}

/* Idle stacks still to give back: the loop then sleeps at most a trimming's worth (TRIM_MAX / TRIM_PER_MS ms) and
 * trims again, rather than keep them resident until some timer or descriptor wakes it (after a burst of 10,000
 * connections with no timer pending, 9,000 idle stacks stayed resident for good). */
static bool stacks_trimmable(const corio__loop *l) {
    for (const corio__pool *p = &l->pool; p; p = p->next)
        if (corio__pool_trimmable(p)) return true;
    return false;
}

/* What the driver keeps from one turn to the next. */
typedef struct driver {
    bool just_polled;   /* the last turn slept in the backend: the tasks it woke need no second poll */
    bool cancelled_all; /* a deadlock had every task cancelled, and no task has been ready since */
} driver;

/* Tasks are ready: between two batches of them, I/O gets its turn, unless the loop has just come back from
 * polling: a second epoll_wait right after the one that woke these tasks would find nothing (bench/io.sh profile:
 * 2 epoll_wait per echo round trip at 1 connection, 1 with this). With nothing waiting on a descriptor, a poll
 * every CORIO__POLL_GAP_NS still lets a signal or a post in. */
static void poll_between_batches(corio__loop *l, driver *d) {
    if ((l->io_waiters && !d->just_polled) || l->now_ns - l->polled_ns >= CORIO__POLL_GAP_NS) {
        l->polled_ns = l->now_ns;
        l->backend.ops->poll(l, 0);
    } else if (l->inbox_waiters)
        corio__xloop_poll(l); /* other threads' messages, without a system call (loops.c) */
    d->just_polled = false;
}

void corio__poll_if_due(corio__loop *l) {
    if (l->now_ns - l->polled_ns < CORIO__POLL_GAP_NS) return;
    l->polled_ns = l->now_ns;
    l->backend.ops->poll(l, 0);
}

/* No task is ready and none can ever be woken from outside (no timer, descriptor or inbox wait): every task waits
 * on another task. Rather than hang, cancel them all (their waits return -ECANCELED); if even that wakes nobody,
 * give up: false. */
static bool deadlock_step(corio__loop *l, driver *d) {
    if (d->cancelled_all) {
        (void)fprintf(stderr, "corio: deadlock: %zu tasks wait forever, even after cancellation\n", l->nrunning);
        return false;
    }
    if (l->debug)
        (void)fprintf(stderr,
                      "corio: deadlock: %zu tasks wait on each other and nothing can wake them; cancelling them\n",
                      l->nrunning);
    d->cancelled_all = true;
    cancel_all(l);
    return true;
}

/* No task is ready: sleeps in the backend until the next timer (next, or NULL with none), giving idle stacks back
 * first; no longer than a report of the tasks that hold up the shutdown is due. */
static void sleep_in_backend(corio__loop *l, const corio__timer *next) {
    int timeout = -1;
    if (next) {
        int64_t ns = next->when - l->now_ns;
        int64_t ms = (ns + 999999) / 1000000; /* round up: waking early would just spin */
        timeout = ms > 1000000 ? 1000000 : (int)ms;
    }
    trim_stacks(l, timeout);
    if ((timeout < 0 || timeout > TRIM_MAX / TRIM_PER_MS) && stacks_trimmable(l)) timeout = TRIM_MAX / TRIM_PER_MS;
    if (__builtin_expect(l->shutting_down, 0)) {
        /* the tasks still running may wait on something nothing ends: wake for the report of them */
        int64_t until = (l->report_ns - l->now_ns + 999999) / 1000000;
        if (until < 1) until = 1;
        if (timeout < 0 || timeout > until) timeout = until > 1000000 ? 1000000 : (int)until;
    }
    l->backend.ops->poll(l, timeout);
    l->polled_ns = l->now_ns;
}

/* ---- the driver turn, and the loop ------------------------------------------------------------------------- */

enum turn {
    TURN_RUN,      /* tasks are ready: run a batch of them */
    TURN_AGAIN,    /* take another turn */
    TURN_ENDED,    /* every task has ended */
    TURN_DEADLOCK, /* tasks wait forever */
};

/* One turn of the driver, its steps in this order:
 *   1. the clock, and the timers that are due;
 *   2. debug mode's SIGQUIT (its handler only raised a flag);
 *   3. the shutdown, once the main task has returned;
 *   4. no task left running: the loop ends;
 *   5. tasks ready: a poll without waiting or a look at the inbox, then they run;
 *   6. nothing ready and nothing to wait for outside: a deadlock;
 *   7. else a sleep in the backend (signals, descriptors, the thread pool and the inbox wake it) until the next
 *      timer, idle stacks given back first. */
static enum turn driver_turn(corio__loop *l, driver *d) {
    corio__update_now(l);
    fire_timers(l);
    if (__builtin_expect(l->debug, 0)) corio__debug_quit_poll(l);
    shutdown_step(l);
    if (l->nrunning == 0) return TURN_ENDED;
    if (l->ready_head) {
        d->cancelled_all = false;
        poll_between_batches(l, d);
        return TURN_RUN;
    }
    corio__timer *next = corio__heap_min(&l->timers);
    if (!next && !l->io_waiters && !l->inbox_waiters) return deadlock_step(l, d) ? TURN_AGAIN : TURN_DEADLOCK;
    sleep_in_backend(l, next);
    d->just_polled = true;
    return TURN_AGAIN;
}

/* Runs until every task has ended; -EDEADLK if tasks still wait on each other and even cancelling every one of
 * them could not wake any. */
static int run_loop(corio__loop *l) {
    driver d = {.just_polled = false, .cancelled_all = false};
    for (;;) {
        switch (driver_turn(l, &d)) {
        case TURN_RUN:
            l->budget = BATCH - 1;
            corio__dispatch(l);
            break;
        case TURN_AGAIN:
            break;
        case TURN_ENDED:
            return 0;
        case TURN_DEADLOCK:
            return -EDEADLK;
        }
    }
}

/* ---- setup ----------------------------------------------------------------------------------------------- */

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

/* A new loop, made this thread's: NULL and *rc (-ENOMEM, or the backend's error) on failure, with nothing left
 * to undo. */
static corio__loop *loop_open(int *rc) {
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&fork_once, register_fork_handler);
    corio__loop *l = calloc(1, sizeof *l);
    if (!l) {
        *rc = -ENOMEM;
        return NULL;
    }
    l->task_magic = new_task_magic();
    corio__list_init(&l->tasks);
    corio__list_init(&l->groups);
    corio__list_init(&l->quarantine);
    corio__list_init(&l->task_watchers);
    corio__pool_init(&l->pool, corio__default_stack_size());
    const char *dbg = getenv("CORIO_DEBUG");
    l->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    *rc = backend_init(l);
    if (*rc < 0) {
        free(l);
        return NULL;
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
    return l;
}

/* ---- teardown -------------------------------------------------------------------------------------------- */

/* Tasks never awaited, and after a deadlock, tasks that never ended. */
static void free_tasks(corio__loop *l) {
    while (!corio__list_empty(&l->tasks)) {
        corio_task *t = corio__container_of(l->tasks.next, corio_task, all);
        if (t->timer.index != CORIO__NOT_ARMED) corio__heap_remove(&l->timers, &t->timer);
        if (t->wnode.next != &t->wnode) corio__list_remove(&t->wnode);
        t->end_by = CORIO__END_NONE;
        corio__task_free(l, t);
    }
}

static void free_stacks(corio__loop *l) {
    corio__pool *p = l->pool.next;
    while (p) {
        corio__pool *next = p->next;
        corio__pool_destroy(p);
        free(p);
        p = next;
    }
    corio__pool_destroy(&l->pool);
}

static void free_timers(corio__loop *l) { corio__heap_free(&l->timers); }

static void uninstall_quit(corio__loop *l) {
    if (l->debug) corio__debug_quit_uninstall(l);
}

static void close_backend(corio__loop *l) { l->backend.ops->close(l); }

static void uninstall_stack_guard(corio__loop *l) {
    (void)l;
    corio__stack_guard_uninstall();
}

/* corio_run's teardown, one step a line, run top to bottom once the loop has stopped (every task ended, or a
 * deadlock). The order obeys these rules, and nothing else constrains it:
 *   - the tasks go first: a task left over still holds a timer, a place on a wait list (a group's list of kept
 *     tasks among them) and a stack, which the steps below free;
 *   - the watchdog thread stops before the quarantine and the chunks free tasks' names and structs: it may be
 *     reading a task's name;
 *   - the quarantine (debug mode's names of freed tasks) goes before the chunks that hold every task struct;
 *   - the stacks go once every task has given its own back;
 *   - whatever owns a descriptor the loop watches (the thread pool's and the inbox's eventfds, the signalfd,
 *     SIGQUIT's eventfd) closes it with corio_close, which needs the fd registry and the backend: before them;
 *   - the stack guard (the alternate signal stack of the SIGSEGV handler that names an overflowing task),
 *     installed before any task ran, goes last. */
static void (*const teardown[])(corio__loop *l) = {
    free_tasks,
    corio__group_free_all,
    corio__watchdog_stop,
    corio__task_quarantine_free, /* debug mode's freed tasks, kept from reuse: their names */
    corio__task_chunks_free,     /* every task struct, free or quarantined */
    free_stacks,
    free_timers,
    corio__pool_loop_free, /* the thread pool's completion queue for this loop */
    corio__xloop_free,     /* the inbox other threads post to */
    corio__signal_loop_free,
    uninstall_quit,
    corio__fd_registry_free,
    corio__stream_loop_free, /* the spare stream buffers: plain memory */
    close_backend,
    uninstall_stack_guard,
};

static void loop_close(corio__loop *l) {
    for (size_t i = 0; i < sizeof teardown / sizeof teardown[0]; i++) teardown[i](l);
    corio__cur = NULL;
    free(l);
}

/* ---- corio_run ------------------------------------------------------------------------------------------- */

static void report_unjoined(corio__loop *l) {
    for (corio__link *n = l->tasks.next; n != &l->tasks; n = n->next) {
        corio_task *t = corio__container_of(n, corio_task, all);
        if (t == l->main) continue;
        (void)fprintf(stderr, "corio: task \"%s\" was never awaited nor detached (status %d, %s)\n",
                      corio__task_label(t), t->status, corio_err_name(t->status));
    }
}

int corio_run(corio_fn fn, void *arg) {
    if (!fn) return -EINVAL;
    if (corio__cur) return -EBUSY;
    int rc;
    corio__loop *l = loop_open(&rc);
    if (!l) return rc;
    corio_task_opts opts = {.name = "main", .stack_size = 0};
    l->main = corio__task_new(l, fn, arg, &opts);
    int status = -ENOMEM;
    if (l->main) {
        corio__make_ready(l, l->main);
        rc = run_loop(l);
        status = l->main->state == CORIO__DONE ? l->main->status : rc;
        if (l->debug) report_unjoined(l);
    }
    loop_close(l);
    return status;
}
