/* test_lock.c - tests of corio_lock: mutual exclusion, FIFO hand-off with no barging, corio_lock_locked, misuse
 * errors, and what a cancelled or timed-out acquire leaves behind (corio.h lifetime rule 4), asyncio's
 * LockTests races among them. */
#include "test.h"

/* ---- mutual exclusion --------------------------------------------------------------------------------------- */

struct mx {
    corio_lock *l;
    int inside, max_inside, entries;
};

static int mx_worker(void *arg) {
    struct mx *m = arg;
    for (int i = 0; i < 5; i++) {
        ASSERT_RC(corio_lock_acquire(m->l), 0);
        m->inside++;
        if (m->inside > m->max_inside) m->max_inside = m->inside;
        /* Suspend twice while holding, so the other workers get every chance to break in. */
        ASSERT_RC(corio_sleep(1), 0);
        ASSERT_RC(corio_yield(), 0);
        m->inside--;
        m->entries++;
        ASSERT_RC(corio_lock_release(m->l), 0);
    }
    return 0;
}

static int mx_main(void *arg) {
    (void)arg;
    struct mx m = {.l = corio_lock_new()};
    ASSERT_NOT_NULL(m.l);
    corio_task *t[8];
    for (int i = 0; i < 8; i++) t[i] = test_spawn(mx_worker, &m);
    for (int i = 0; i < 8; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(m.max_inside, 1);
    ASSERT_EQ(m.entries, 40);
    ASSERT_RC(corio_lock_free(m.l), 0);
    return 0;
}

TEST(lock_mutual_exclusion) { ASSERT_RC(corio_run(mx_main, NULL), 0); }

/* ---- FIFO fairness ------------------------------------------------------------------------------------------ */

#define FIFO_N 6

struct fifo {
    corio_lock *l;
    int order[FIFO_N + 1];
    int n;
};
struct fifo_waiter {
    struct fifo *f;
    int id;
};

static int fifo_waiter(void *arg) {
    struct fifo_waiter *w = arg;
    ASSERT_RC(corio_lock_acquire(w->f->l), 0);
    w->f->order[w->f->n++] = w->id;
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_lock_release(w->f->l), 0);
    return 0;
}

static int fifo_main(void *arg) {
    (void)arg;
    struct fifo f = {.l = corio_lock_new()};
    ASSERT_NOT_NULL(f.l);
    struct fifo_waiter w[FIFO_N];
    corio_task *t[FIFO_N];
    ASSERT_RC(corio_lock_acquire(f.l), 0);
    /* Queue the waiters one at a time so the queueing order is known. */
    for (int i = 0; i < FIFO_N; i++) {
        w[i] = (struct fifo_waiter){&f, i};
        t[i] = test_spawn(fifo_waiter, &w[i]);
        test_settle();
    }
    ASSERT_EQ(f.n, 0);
    ASSERT_RC(corio_lock_release(f.l), 0);
    /* The lock now belongs to waiter 0 even though it has not run: nobody may barge in. */
    ASSERT_RC(corio_lock_try_acquire(f.l), -EBUSY);
    ASSERT_RC(corio_lock_release(f.l), -EPERM);
    /* Our own acquire queues behind all of them. */
    ASSERT_RC(corio_lock_acquire(f.l), 0);
    ASSERT_EQ(f.n, FIFO_N);
    for (int i = 0; i < FIFO_N; i++) ASSERT_EQ(f.order[i], i);
    ASSERT_RC(corio_lock_release(f.l), 0);
    for (int i = 0; i < FIFO_N; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_RC(corio_lock_free(f.l), 0);
    return 0;
}

TEST(lock_fifo_no_barging) { ASSERT_RC(corio_run(fifo_main, NULL), 0); }

/* ---- misuse ------------------------------------------------------------------------------------------------- */

static int acquire_release_locked(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_EQ(corio_lock_locked(l), 1);
    ASSERT_RC(corio_lock_release(l), 0);
    return 0;
}

static int self_deadlock_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_lock_release(l), -EPERM); /* not held by anyone */
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_lock_acquire(l), -EDEADLK);
    ASSERT_RC(corio_lock_try_acquire(l), -EBUSY);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_lock_release(l), -EPERM);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_acquire_held_by_self_is_edeadlk) { ASSERT_RC(corio_run(self_deadlock_main, NULL), 0); }

static int other_release(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_release(l), -EPERM);
    ASSERT_RC(corio_lock_try_acquire(l), -EBUSY);
    return 0;
}

static int non_holder_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_await(test_spawn(other_release, l)), 0);
    /* The failed release must not have taken the lock away from us. */
    ASSERT_RC(corio_lock_acquire(l), -EDEADLK);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_release_by_non_holder_is_eperm) { ASSERT_RC(corio_run(non_holder_main, NULL), 0); }

static int try_other(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_try_acquire(l), -EBUSY);
    return 0;
}

static int try_other_takes(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_try_acquire(l), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    return 0;
}

static int try_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_lock_try_acquire(l), 0);
    ASSERT_RC(corio_await(test_spawn(try_other, l)), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(test_spawn(try_other_takes, l)), 0);
    ASSERT_RC(corio_lock_try_acquire(l), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_try_acquire) { ASSERT_RC(corio_run(try_main, NULL), 0); }

static int null_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_lock_acquire(NULL), -EINVAL);
    ASSERT_RC(corio_lock_try_acquire(NULL), -EINVAL);
    ASSERT_RC(corio_lock_release(NULL), -EINVAL);
    ASSERT_RC(corio_lock_free(NULL), 0);
    return 0;
}

TEST(lock_null_is_einval) {
    ASSERT_RC(corio_run(null_main, NULL), 0);
    ASSERT_RC(corio_lock_try_acquire(NULL), -EINVAL);
    ASSERT_RC(corio_lock_release(NULL), -EINVAL);
    ASSERT_RC(corio_lock_locked(NULL), -EINVAL);
    ASSERT_RC(corio_lock_free(NULL), 0);
}

/* ---- corio_lock_locked -------------------------------------------------------------------------------------- */

static int locked_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_EQ(corio_lock_locked(l), 0);
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_EQ(corio_lock_locked(l), 1);
    corio_task *t = test_spawn(acquire_release_locked, l);
    test_settle();
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_EQ(corio_lock_locked(l), 1); /* handed to the waiter, which has not run yet */
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(corio_lock_locked(l), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_locked) {
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_EQ(corio_lock_locked(l), 0); /* outside a loop too */
    ASSERT_RC(corio_lock_free(l), 0);
    ASSERT_RC(corio_run(locked_main, NULL), 0);
}

/* ---- cancellation ------------------------------------------------------------------------------------------- */

struct cw {
    corio_lock *l;
    int acquire_rc, release_rc, next_rc;
    int ran;
};

static int cw_waiter(void *arg) {
    struct cw *c = arg;
    c->acquire_rc = corio_lock_acquire(c->l);
    c->ran = 1;
    /* Whether or not it got the lock, release tells us whether it holds it. */
    c->release_rc = corio_lock_release(c->l);
    c->next_rc = corio_yield();
    return 0;
}

/* Cancels waiter a, then releases the lock; when settle_between is set the cancelled task has run first. */
static void cancel_waiter_case(int settle_between) {
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    struct cw a = {.l = l}, b = {.l = l};
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_task *ta = test_spawn(cw_waiter, &a);
    test_settle();
    corio_task *tb = test_spawn(cw_waiter, &b);
    test_settle();
    ASSERT_EQ(a.ran + b.ran, 0);
    ASSERT_RC(corio_cancel(ta), 0);
    if (settle_between) {
        test_settle();
        ASSERT_EQ(a.ran, 1);
        ASSERT_RC(a.acquire_rc, -ECANCELED);
        ASSERT_EQ(b.ran, 0);
    }
    /* a's cancellation came first, so the hand-off must skip it and reach b. */
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(a.acquire_rc, -ECANCELED);
    ASSERT_RC(a.release_rc, -EPERM);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_RC(b.acquire_rc, 0);
    ASSERT_RC(b.release_rc, 0);
    ASSERT_RC(b.next_rc, 0);
    ASSERT_RC(corio_lock_try_acquire(l), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_lock_free(l), 0);
}

static int cancel_then_release_main(void *arg) {
    (void)arg;
    cancel_waiter_case(0);
    return 0;
}

static int cancel_settle_release_main(void *arg) {
    (void)arg;
    cancel_waiter_case(1);
    return 0;
}

TEST(lock_cancel_waiter_then_release_reaches_next) { ASSERT_RC(corio_run(cancel_then_release_main, NULL), 0); }
TEST(lock_cancelled_waiter_leaves_queue) { ASSERT_RC(corio_run(cancel_settle_release_main, NULL), 0); }

static int handoff_cancel_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    struct cw a = {.l = l}, b = {.l = l};
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_task *ta = test_spawn(cw_waiter, &a);
    test_settle();
    corio_task *tb = test_spawn(cw_waiter, &b);
    test_settle();
    ASSERT_RC(corio_lock_release(l), 0); /* handed to a, which has not run yet */
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    /* a was handed the lock before the cancel: it returns success, holds it, and the cancel shows later. */
    ASSERT_RC(a.acquire_rc, 0);
    ASSERT_RC(a.release_rc, 0);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.acquire_rc, 0);
    ASSERT_RC(b.release_rc, 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_handed_then_cancelled_still_holds) { ASSERT_RC(corio_run(handoff_cancel_main, NULL), 0); }

/* asyncio's test_cancel_race: A holds the lock, B and C wait; B is cancelled and A releases in the same step
 * (nothing runs in between). The release must skip B and hand the lock to C. */
struct race {
    corio_lock *l;
    corio_event *go;
    int holders, max_holders, taken;
};

static int race_holder(void *arg) {
    struct race *r = arg;
    ASSERT_RC(corio_lock_acquire(r->l), 0);
    ASSERT_RC(corio_event_wait(r->go), 0);
    ASSERT_RC(corio_lock_release(r->l), 0);
    return 0;
}

static int race_taker(void *arg) {
    struct race *r = arg;
    int rc = corio_lock_acquire(r->l);
    if (rc < 0) return rc;
    r->taken++;
    if (++r->holders > r->max_holders) r->max_holders = r->holders;
    (void)corio_yield(); /* hold it across a switch; fails if cancelled meanwhile, which is fine */
    r->holders--;
    ASSERT_RC(corio_lock_release(r->l), 0);
    return 0;
}

static int cancel_race_main(void *arg) {
    (void)arg;
    struct race r = {.l = corio_lock_new(), .go = corio_event_new()};
    ASSERT_NOT_NULL(r.l);
    ASSERT_NOT_NULL(r.go);
    corio_task *ta = test_spawn(race_holder, &r);
    test_settle();
    corio_task *tb = test_spawn(race_taker, &r);
    test_settle();
    corio_task *tc = test_spawn(race_taker, &r);
    test_settle();
    corio_event_set(r.go); /* A will release when it runs */
    ASSERT_RC(corio_cancel(tb), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), -ECANCELED);
    ASSERT_RC(corio_await(tc), 0);
    ASSERT_EQ(r.taken, 1);
    ASSERT_EQ(corio_lock_locked(r.l), 0);
    ASSERT_RC(corio_lock_free(r.l), 0);
    ASSERT_RC(corio_event_free(r.go), 0);
    return 0;
}

TEST(lock_cancel_race_reaches_next_waiter) { ASSERT_RC(corio_run(cancel_race_main, NULL), 0); }

/* asyncio's test_cancel_release_race and test_finished_waiter_cancelled: with three waiters, cancelling the first
 * and releasing in the same step hands the lock to the second, and the cancelled one never holds it. */
static int cancel_release_race_main(void *arg) {
    (void)arg;
    struct race r = {.l = corio_lock_new()};
    ASSERT_NOT_NULL(r.l);
    ASSERT_RC(corio_lock_acquire(r.l), 0);
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = test_spawn(race_taker, &r);
    test_settle();
    ASSERT_RC(corio_cancel(t[0]), 0);
    ASSERT_RC(corio_lock_release(r.l), 0);
    ASSERT_EQ(corio_lock_locked(r.l), 1); /* t[1]'s now */
    ASSERT_RC(corio_await(t[0]), -ECANCELED);
    ASSERT_RC(corio_await(t[1]), 0);
    ASSERT_RC(corio_await(t[2]), 0);
    ASSERT_EQ(r.taken, 2);
    ASSERT_EQ(r.max_holders, 1);
    ASSERT_EQ(corio_lock_locked(r.l), 0);
    ASSERT_RC(corio_lock_free(r.l), 0);
    return 0;
}

TEST(lock_cancel_release_race_one_holder) { ASSERT_RC(corio_run(cancel_release_race_main, NULL), 0); }

/* A cancelled task (or one past its deadline) can still take a free lock, so its cleanup can run; only an
 * acquire that would have to suspend fails. */
struct two_locks {
    corio_lock *free_lock, *held_lock;
};

static int cancelled_taker(void *arg) {
    struct two_locks *tl = arg;
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_lock_acquire(tl->free_lock), 0);
    ASSERT_RC(corio_lock_release(tl->free_lock), 0);
    ASSERT_RC(corio_lock_try_acquire(tl->free_lock), 0);
    ASSERT_RC(corio_lock_release(tl->free_lock), 0);
    ASSERT_RC(corio_lock_acquire(tl->held_lock), -ECANCELED);
    ASSERT_RC(corio_lock_release(tl->held_lock), -EPERM);
    return 0;
}

static int expired_taker(void *arg) {
    struct two_locks *tl = arg;
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 1), 0);
    ASSERT_RC(corio_sleep(1000), -ETIMEDOUT);
    ASSERT_RC(corio_lock_acquire(tl->free_lock), 0);
    ASSERT_RC(corio_lock_release(tl->free_lock), 0);
    ASSERT_RC(corio_lock_acquire(tl->held_lock), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    return 0;
}

static int free_lock_main(void *arg) {
    (void)arg;
    struct two_locks tl = {corio_lock_new(), corio_lock_new()};
    ASSERT_NOT_NULL(tl.free_lock);
    ASSERT_NOT_NULL(tl.held_lock);
    ASSERT_RC(corio_lock_acquire(tl.held_lock), 0);
    ASSERT_RC(corio_await(test_spawn(cancelled_taker, &tl)), 0);
    ASSERT_RC(corio_await(test_spawn(expired_taker, &tl)), 0);
    ASSERT_RC(corio_lock_release(tl.held_lock), 0);
    ASSERT_RC(corio_lock_free(tl.free_lock), 0);
    ASSERT_RC(corio_lock_free(tl.held_lock), 0);
    return 0;
}

TEST(lock_free_lock_taken_even_when_cancelled) { ASSERT_RC(corio_run(free_lock_main, NULL), 0); }

/* ---- timeouts ----------------------------------------------------------------------------------------------- */

struct tw {
    corio_lock *l;
    int64_t ms; /* < 0: no timeout scope */
    int acquire_rc, exit_rc, release_rc;
    int *order, *n, id;
};

static int tw_waiter(void *arg) {
    struct tw *w = arg;
    corio_timeout to;
    if (w->ms >= 0) ASSERT_RC(corio_timeout_enter(&to, w->ms), 0);
    w->acquire_rc = corio_lock_acquire(w->l);
    if (w->acquire_rc == 0) w->order[(*w->n)++] = w->id;
    if (w->ms >= 0) w->exit_rc = corio_timeout_exit(&to);
    w->release_rc = corio_lock_release(w->l);
    return 0;
}

static int timeout_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    int order[3] = {-1, -1, -1}, n = 0;
    struct tw w[3] = {
        {.l = l, .ms = -1, .order = order, .n = &n, .id = 0},
        {.l = l, .ms = 20, .order = order, .n = &n, .id = 1},
        {.l = l, .ms = -1, .order = order, .n = &n, .id = 2},
    };
    corio_task *t[3];
    ASSERT_RC(corio_lock_acquire(l), 0);
    int64_t t0 = test_now_ms(); /* before the waiter opens its 20 ms scope: a slow settle must not eat into it */
    for (int i = 0; i < 3; i++) {
        t[i] = test_spawn(tw_waiter, &w[i]);
        test_settle();
    }
    ASSERT_RC(corio_await(t[1]), 0); /* the middle waiter gives up while we still hold the lock */
    ASSERT_GE(test_now_ms() - t0, 15);
    ASSERT_RC(w[1].acquire_rc, -ETIMEDOUT);
    ASSERT_RC(w[1].exit_rc, -ETIMEDOUT);
    ASSERT_RC(w[1].release_rc, -EPERM);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(t[0]), 0);
    ASSERT_RC(corio_await(t[2]), 0);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(order[0], 0);
    ASSERT_EQ(order[1], 2);
    ASSERT_RC(w[0].release_rc, 0);
    ASSERT_RC(w[2].release_rc, 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_acquire_times_out) { ASSERT_RC(corio_run(timeout_main, NULL), 0); }

/* ---- free and lifetime -------------------------------------------------------------------------------------- */

static int acquire_release(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    return 0;
}

static int free_busy_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_lock_free(l), -EBUSY); /* held */
    corio_task *t = test_spawn(acquire_release, l);
    test_settle();
    ASSERT_RC(corio_lock_free(l), -EBUSY); /* held and waited on */
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_lock_free(l), -EBUSY); /* handed to the waiter, which has not run yet */
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(lock_free_busy) { ASSERT_RC(corio_run(free_busy_main, NULL), 0); }

static int outside_main(void *arg) {
    corio_lock *l = arg;
    corio_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = test_spawn(acquire_release, l);
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_await(t[i]), 0);
    return 0;
}

TEST(lock_created_outside_loop_used_by_two_loops) {
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_run(outside_main, l), 0);
    ASSERT_RC(corio_run(outside_main, l), 0);
    ASSERT_RC(corio_lock_free(l), 0);
}

/* A task that ends while holding the lock keeps it held; a later task, which never took it, may not release it
 * (even if it happens to reuse the ended task's memory). */
static int take_and_end(void *arg) {
    ASSERT_RC(corio_lock_acquire(arg), 0);
    return 0;
}

static int stranger(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_try_acquire(l), -EBUSY);
    ASSERT_RC(corio_lock_release(l), -EPERM);
    return 0;
}

static corio_lock *volatile forever_held; /* can never be freed; a global so LeakSanitizer does not count it */

static int ended_holder_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    forever_held = l;
    ASSERT_RC(corio_await(test_spawn(take_and_end, l)), 0);
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_await(test_spawn(stranger, l)), 0);
    ASSERT_RC(corio_lock_release(l), -EPERM);
    ASSERT_RC(corio_lock_free(l), -EBUSY);
    return 0;
}

TEST(lock_held_by_ended_task_not_released_by_another) { ASSERT_RC(corio_run(ended_holder_main, NULL), 0); }

/* When the main task returns, the holder and the waiter are cancelled; the holder's cleanup releases the lock
 * and the cancelled waiter leaves the queue, so the lock can be freed once corio_run has returned. */
static int holder_cleans_up(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_sleep(100000), -ECANCELED);
    ASSERT_RC(corio_lock_release(l), 0);
    return 0;
}

static int waits_forever(void *arg) {
    ASSERT_RC(corio_lock_acquire(arg), -ECANCELED);
    return 0;
}

static int loop_end_main(void *arg) {
    corio_lock *l = arg;
    corio_detach(test_spawn(holder_cleans_up, l));
    ASSERT_RC(corio_yield(), 0);
    corio_detach(test_spawn(waits_forever, l));
    corio_detach(test_spawn(waits_forever, l));
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(lock_waiters_cancelled_at_loop_end) {
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_run(loop_end_main, l), 0);
    ASSERT_RC(corio_lock_free(l), 0);
}

/* ---- arrival order ----------------------------------------------------------------------------------------------
 * Waiters that arrive together (spawned in one go, so they queue in the order the ready queue runs them) get the
 * lock in that order, and so do a releaser that acquires again and a waiter arriving after it. */

static char ord_log[32];
static size_t ord_len;
static void ord_step(char c) {
    ASSERT_LT(ord_len, sizeof ord_log - 1);
    ord_log[ord_len++] = c;
    ord_log[ord_len] = '\0';
}

struct ord_waiter {
    corio_lock *l;
    char id;
};
static char ord_arrived[16]; /* the ids in the order their acquires began */
static size_t ord_narrived;

/* Acquires, logs its id, yields holding the lock, releases; a failed acquire is its status. */
static int ord_taker(void *arg) {
    const struct ord_waiter *w = arg;
    ASSERT_LT(ord_narrived, sizeof ord_arrived - 1);
    ord_arrived[ord_narrived++] = w->id;
    int rc = corio_lock_acquire(w->l);
    if (rc < 0) return rc;
    ord_step(w->id);
    ASSERT_RC(corio_yield(), 0); /* the others stay queued meanwhile */
    ASSERT_RC(corio_lock_release(w->l), 0);
    return 0;
}

static int ord_together_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ord_len = ord_narrived = 0;
    ASSERT_RC(corio_lock_acquire(l), 0);
    struct ord_waiter w[6];
    corio_task *t[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct ord_waiter){.l = l, .id = (char)('a' + i)};
        t[i] = test_spawn(ord_taker, &w[i]);
    }
    test_settle();
    ord_arrived[ord_narrived] = '\0';
    ASSERT_STREQ(ord_arrived, "abcdef"); /* the ready queue ran them in spawn order */
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_gather(t, 6, NULL), 0);
    ASSERT_STREQ(ord_log, "abcdef");
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}
TEST(lock_waiters_arriving_together_served_in_arrival_order) { ASSERT_RC(corio_run(ord_together_main, NULL), 0); }

/* Main holds the lock, a b c queue; main releases (a is handed it) and acquires again, queueing behind b and c;
 * d arrives after that, behind main. */
static int ord_requeue_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ord_len = ord_narrived = 0;
    ASSERT_RC(corio_lock_acquire(l), 0);
    struct ord_waiter w[4];
    corio_task *t[4];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct ord_waiter){.l = l, .id = (char)('a' + i)};
        t[i] = test_spawn(ord_taker, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_lock_release(l), 0);
    w[3] = (struct ord_waiter){.l = l, .id = 'd'};
    t[3] = test_spawn(ord_taker, &w[3]);
    ASSERT_RC(corio_lock_acquire(l), 0);
    ord_step('M');
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_gather(t, 4, NULL), 0);
    ASSERT_STREQ(ord_log, "abcMd");
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}
TEST(lock_releaser_acquiring_again_queues_behind_waiters) { ASSERT_RC(corio_run(ord_requeue_main, NULL), 0); }

/* A waiter cancelled in the middle of the queue leaves it; the others keep their order. */
static int ord_cancel_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ord_len = ord_narrived = 0;
    ASSERT_RC(corio_lock_acquire(l), 0);
    struct ord_waiter w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct ord_waiter){.l = l, .id = (char)('a' + i)};
        t[i] = test_spawn(ord_taker, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_cancel(t[2]), 0);
    ASSERT_RC(corio_await(t[2]), -ECANCELED);
    ASSERT_RC(corio_lock_release(l), 0);
    corio_task *rest[4] = {t[0], t[1], t[3], t[4]};
    ASSERT_RC(corio_gather(rest, 4, NULL), 0);
    ASSERT_STREQ(ord_log, "abde");
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}
TEST(lock_cancelled_waiter_leaves_the_others_in_order) { ASSERT_RC(corio_run(ord_cancel_main, NULL), 0); }
