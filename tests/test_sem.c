/* test_sem.c - tests of corio_sem: permits bound concurrency, FIFO hand-off with no barging (asyncio's
 * SemaphoreTests fairness cases among them), bounded semaphores, and cancelled or timed-out waiters never losing
 * or leaking a permit. */
#include "test.h"

/* ---- concurrency bound -------------------------------------------------------------------------------------- */

struct bound {
    corio_sem *s;
    int inside, max_inside, done;
};

static int bound_worker(void *arg) {
    struct bound *b = arg;
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_sem_acquire(b->s), 0);
        b->inside++;
        if (b->inside > b->max_inside) b->max_inside = b->inside;
        ASSERT_RC(corio_sleep(2), 0);
        b->inside--;
        corio_sem_release(b->s);
        ASSERT_RC(corio_yield(), 0);
    }
    b->done++;
    return 0;
}

static int bound_main(void *arg) {
    (void)arg;
    struct bound b = {.s = corio_sem_new(3)};
    ASSERT_NOT_NULL(b.s);
    ASSERT_EQ(corio_sem_value(b.s), 3);
    corio_task *t[12];
    for (int i = 0; i < 12; i++) t[i] = test_spawn(bound_worker, &b);
    for (int i = 0; i < 12; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(b.max_inside, 3);
    ASSERT_EQ(b.done, 12);
    ASSERT_EQ(corio_sem_value(b.s), 3);
    ASSERT_RC(corio_sem_free(b.s), 0);
    return 0;
}

TEST(sem_permits_bound_concurrency) { ASSERT_RC(corio_run(bound_main, NULL), 0); }

/* ---- FIFO and values ---------------------------------------------------------------------------------------- */

struct sw {
    corio_sem *s;
    int id, rc, done, next_rc;
    int *order, *n;
};

static int sw_waiter(void *arg) {
    struct sw *w = arg;
    w->rc = corio_sem_acquire(w->s);
    w->done = 1;
    if (w->rc == 0 && w->order) w->order[(*w->n)++] = w->id;
    w->next_rc = corio_yield();
    return 0;
}

static int fifo_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    int order[5], n = 0;
    struct sw w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct sw){.s = s, .id = i, .order = order, .n = &n};
        t[i] = test_spawn(sw_waiter, &w[i]);
        test_settle();
    }
    ASSERT_EQ(corio_sem_value(s), 0);
    for (int i = 0; i < 5; i++) {
        corio_sem_release(s);
        /* The permit went to the first waiter, not into the pool. */
        ASSERT_EQ(corio_sem_value(s), 0);
        ASSERT_RC(corio_sem_try_acquire(s), -EBUSY);
        test_settle();
        ASSERT_EQ(n, i + 1);
        ASSERT_EQ(order[i], i);
    }
    for (int i = 0; i < 5; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(corio_sem_value(s), 0); /* the waiters kept their permits */
    corio_sem_release(s);
    ASSERT_EQ(corio_sem_value(s), 1);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_fifo_no_barging) { ASSERT_RC(corio_run(fifo_main, NULL), 0); }

static int try_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(2);
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(corio_sem_value(s), 2);
    ASSERT_RC(corio_sem_try_acquire(s), 0);
    ASSERT_EQ(corio_sem_value(s), 1);
    ASSERT_RC(corio_sem_acquire(s), 0);
    ASSERT_EQ(corio_sem_value(s), 0);
    ASSERT_RC(corio_sem_try_acquire(s), -EBUSY);
    ASSERT_EQ(corio_sem_value(s), 0);
    corio_sem_release(s);
    corio_sem_release(s);
    corio_sem_release(s); /* more releases than acquires simply add permits */
    ASSERT_EQ(corio_sem_value(s), 3);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_try_acquire_and_value) { ASSERT_RC(corio_run(try_main, NULL), 0); }

/* ---- fairness across a release and a re-acquire (asyncio's test_locks.py, SemaphoreTests) ------------------- */

struct fo {
    corio_sem *s;
    int order[8], n;
};

static int fo2_c1(void *arg) {
    struct fo *f = arg;
    ASSERT_RC(corio_sem_acquire(f->s), 0);
    f->order[f->n++] = 1;
    return 0;
}

static int fo2_c2(void *arg) {
    struct fo *f = arg;
    ASSERT_RC(corio_sem_acquire(f->s), 0);
    f->order[f->n++] = 2;
    ASSERT_RC(corio_sem_release(f->s), 0);
    ASSERT_RC(corio_sem_acquire(f->s), 0); /* c3 was handed a permit before us and has not run: we queue */
    f->order[f->n++] = 4;
    return 0;
}

static int fo2_c3(void *arg) {
    struct fo *f = arg;
    ASSERT_RC(corio_sem_acquire(f->s), 0);
    f->order[f->n++] = 3;
    return 0;
}

/* test_acquire_fifo_order_2: before the fix c2's re-acquire took the permit it had just released and the order
 * was 1, 2, 4, 3. */
static int fifo_order_2_main(void *arg) {
    (void)arg;
    struct fo f = {.s = corio_sem_new(1)};
    ASSERT_NOT_NULL(f.s);
    corio_task *t[3] = {test_spawn(fo2_c1, &f), test_spawn(fo2_c2, &f), test_spawn(fo2_c3, &f)};
    test_settle();
    ASSERT_EQ(f.n, 1);
    ASSERT_RC(corio_sem_release(f.s), 0); /* to c2 */
    ASSERT_RC(corio_sem_release(f.s), 0); /* to c3 */
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(f.n, 4);
    for (int i = 0; i < 4; i++) ASSERT_EQ(f.order[i], i + 1);
    ASSERT_EQ(corio_sem_value(f.s), 0); /* c1, c2 and c3 each kept one of the three permits */
    ASSERT_RC(corio_sem_free(f.s), 0);
    return 0;
}

TEST(sem_release_then_reacquire_queues_behind_handed_waiter) { ASSERT_RC(corio_run(fifo_order_2_main, NULL), 0); }

struct fo_task {
    struct fo *f;
    int tag;
};

static int fo_loop(void *arg) {
    struct fo_task *t = arg;
    for (int round = 1; round <= 2; round++) {
        ASSERT_RC(corio_sem_acquire(t->f->s), 0);
        t->f->order[t->f->n++] = t->tag * 10 + round;
        ASSERT_RC(corio_sleep(1), 0);
        ASSERT_RC(corio_sem_release(t->f->s), 0);
    }
    return 0;
}

/* test_acquire_fifo_order: three tasks take the one permit twice each, strictly in turn. */
static int fifo_order_main(void *arg) {
    (void)arg;
    struct fo f = {.s = corio_sem_new(1)};
    ASSERT_NOT_NULL(f.s);
    struct fo_task ft[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        ft[i] = (struct fo_task){&f, i + 1};
        t[i] = test_spawn(fo_loop, &ft[i]);
    }
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(t[i]), 0);
    static const int want[6] = {11, 21, 31, 12, 22, 32};
    ASSERT_EQ(f.n, 6);
    for (int i = 0; i < 6; i++) ASSERT_EQ(f.order[i], want[i]);
    ASSERT_EQ(corio_sem_value(f.s), 1);
    ASSERT_RC(corio_sem_free(f.s), 0);
    return 0;
}

TEST(sem_acquire_fifo_order_in_turns) { ASSERT_RC(corio_run(fifo_order_main, NULL), 0); }

/* test_acquire_fifo_order_3 and test_acquire_cancel_before_awoken: waiters cancelled before a release take
 * nothing, and the permits go to the next ones in order. */
static int cancel_before_awoken_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    int order[4], n = 0;
    struct sw w[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct sw){.s = s, .id = i, .order = order, .n = &n};
        t[i] = test_spawn(sw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_cancel(t[0]), 0);
    ASSERT_RC(corio_cancel(t[1]), 0);
    ASSERT_RC(corio_sem_release(s), 0);
    test_settle();
    ASSERT_EQ(w[2].done, 1);
    ASSERT_EQ(w[3].done, 0);
    ASSERT_RC(corio_sem_release(s), 0);
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_RC(w[0].rc, -ECANCELED);
    ASSERT_RC(w[1].rc, -ECANCELED);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(order[0], 2);
    ASSERT_EQ(order[1], 3);
    ASSERT_EQ(corio_sem_value(s), 0);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_cancelled_before_awoken_take_nothing) { ASSERT_RC(corio_run(cancel_before_awoken_main, NULL), 0); }

struct nh {
    corio_sem *s;
    corio_task *t2;
    int rc2, release_rc2;
};

static int nh_c1(void *arg) {
    struct nh *h = arg;
    ASSERT_RC(corio_sem_acquire(h->s), 0);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_sem_release(h->s), 0); /* handed to c2 */
    ASSERT_RC(corio_cancel(h->t2), 0);
    return 0;
}

static int nh_c2(void *arg) {
    struct nh *h = arg;
    h->rc2 = corio_sem_acquire(h->s);
    if (h->rc2 == 0) h->release_rc2 = corio_sem_release(h->s);
    return 0;
}

/* test_acquire_no_hang: a waiter cancelled just after it was handed the permit keeps it (lifetime rule 4) and
 * its release makes it free again; nothing is lost, so a later acquire does not hang. */
static int no_hang_main(void *arg) {
    (void)arg;
    struct nh h = {.s = corio_sem_new(1)};
    ASSERT_NOT_NULL(h.s);
    corio_task *t1 = test_spawn(nh_c1, &h);
    h.t2 = test_spawn(nh_c2, &h);
    ASSERT_RC(corio_await(t1), 0);
    ASSERT_RC(corio_await(h.t2), 0);
    ASSERT_RC(h.rc2, 0);
    ASSERT_RC(h.release_rc2, 0);
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 1000), 0);
    ASSERT_RC(corio_sem_acquire(h.s), 0);
    ASSERT_RC(corio_timeout_exit(&to), 0);
    ASSERT_RC(corio_sem_release(h.s), 0);
    ASSERT_RC(corio_sem_free(h.s), 0);
    return 0;
}

TEST(sem_handed_then_cancelled_waiter_loses_nothing) { ASSERT_RC(corio_run(no_hang_main, NULL), 0); }

/* A permit handed to a waiter that has not run is not free for anyone else, and neither is one released while
 * such a waiter is pending: try_acquire fails, value reads 0, and our own acquire queues behind the waiters. */
static int reserved_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    int order[3], n = 0;
    struct sw w[2];
    corio_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (struct sw){.s = s, .id = i, .order = order, .n = &n};
        t[i] = test_spawn(sw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_sem_release(s), 0); /* a third permit, free but behind the two handed ones */
    ASSERT_EQ(corio_sem_value(s), 0);
    ASSERT_RC(corio_sem_try_acquire(s), -EBUSY);
    ASSERT_RC(corio_sem_free(s), -EBUSY); /* the handed waiters have yet to run */
    ASSERT_RC(corio_sem_acquire(s), 0);
    order[n++] = 2;
    ASSERT_EQ(n, 3);
    for (int i = 0; i < 3; i++) ASSERT_EQ(order[i], i);
    for (int i = 0; i < 2; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(corio_sem_value(s), 0);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_handed_permit_reserved_until_waiter_runs) { ASSERT_RC(corio_run(reserved_main, NULL), 0); }

/* A task queued behind a handed waiter while a permit is free, then cancelled before that waiter runs, leaves the
 * permit free: the handed waiter finds nobody to pass it on to. The ready queue orders it: b queues, c cancels b,
 * and only then does a (woken last) run. */
struct qb {
    struct sw *b;
    corio_task *tb;
    corio_sem *s;
};

static int qb_queue(void *arg) {
    struct qb *q = arg;
    q->b->rc = corio_sem_acquire(q->s);
    q->b->done = 1;
    return 0;
}

static int qb_cancel(void *arg) {
    struct qb *q = arg;
    ASSERT_EQ(q->b->done, 0); /* b is queued although a permit is free */
    ASSERT_RC(corio_cancel(q->tb), 0);
    return 0;
}

static int queued_behind_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    struct sw a = {.s = s}, b = {.s = s};
    corio_task *ta = test_spawn(sw_waiter, &a);
    test_settle();
    struct qb q = {.b = &b, .s = s};
    q.tb = test_spawn(qb_queue, &q);
    corio_task *tc = test_spawn(qb_cancel, &q);
    ASSERT_RC(corio_sem_release(s), 0); /* handed to a, which runs after b and c */
    ASSERT_RC(corio_sem_release(s), 0); /* free, but b must queue behind a */
    ASSERT_RC(corio_await(tc), 0);
    ASSERT_RC(corio_await(q.tb), 0);
    ASSERT_RC(b.rc, -ECANCELED);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, 0);
    ASSERT_EQ(corio_sem_value(s), 1); /* a holds one permit, the other is free again */
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_cancelled_while_queued_behind_handed_waiter) { ASSERT_RC(corio_run(queued_behind_main, NULL), 0); }

/* ---- bounded semaphores ------------------------------------------------------------------------------------- */

static int bounded_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new_bounded(2);
    ASSERT_NOT_NULL(s);
    ASSERT_RC(corio_sem_release(s), -EOVERFLOW); /* asyncio.BoundedSemaphore's ValueError */
    ASSERT_EQ(corio_sem_value(s), 2);
    ASSERT_RC(corio_sem_acquire(s), 0);
    ASSERT_RC(corio_sem_acquire(s), 0);
    struct sw w = {.s = s};
    corio_task *t = test_spawn(sw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_sem_release(s), 0); /* handed to w */
    ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_EQ(corio_sem_value(s), 1);
    ASSERT_RC(corio_sem_release(s), 0); /* w's permit */
    ASSERT_RC(corio_sem_release(s), -EOVERFLOW);
    ASSERT_EQ(corio_sem_value(s), 2);
    ASSERT_RC(corio_sem_free(s), 0);

    corio_sem *zero = corio_sem_new_bounded(0);
    ASSERT_NOT_NULL(zero);
    ASSERT_RC(corio_sem_try_acquire(zero), -EBUSY);
    ASSERT_RC(corio_sem_release(zero), -EOVERFLOW);
    ASSERT_EQ(corio_sem_value(zero), 0);
    ASSERT_RC(corio_sem_free(zero), 0);

    corio_sem *max = corio_sem_new(UINT32_MAX); /* a plain semaphore overflows only at UINT_MAX */
    ASSERT_NOT_NULL(max);
    ASSERT_RC(corio_sem_release(max), -EOVERFLOW);
    ASSERT_RC(corio_sem_try_acquire(max), 0);
    ASSERT_RC(corio_sem_release(max), 0);
    ASSERT_RC(corio_sem_free(max), 0);
    return 0;
}

TEST(sem_bounded_release_past_initial_is_eoverflow) { ASSERT_RC(corio_run(bounded_main, NULL), 0); }

TEST(sem_bounded_outside_loop) {
    corio_sem *s = corio_sem_new_bounded(1);
    ASSERT_NOT_NULL(s);
    ASSERT_RC(corio_sem_try_acquire(s), 0);
    ASSERT_RC(corio_sem_acquire(s), -EPERM); /* would wait, and only a task can */
    ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_sem_release(s), -EOVERFLOW);
    ASSERT_RC(corio_sem_free(s), 0);
}

/* ---- randomised cancellation: permits are conserved --------------------------------------------------------- */

#define RS_TASKS 40
#define RS_PERMITS 3

struct rs {
    corio_sem *s;
    int inside, max_inside, entries;
    uint64_t rng;
};

static unsigned rs_next(struct rs *r) {
    r->rng = r->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(r->rng >> 33);
}

static int rs_worker(void *arg) {
    struct rs *r = arg;
    for (int i = 0; i < 20; i++) {
        int rc = corio_sem_acquire(r->s);
        if (rc < 0) {
            ASSERT_RC(rc, -ECANCELED);
            return 0;
        }
        r->inside++;
        r->entries++;
        if (r->inside > r->max_inside) r->max_inside = r->inside;
        for (unsigned k = rs_next(r) % 3; k > 0; k--) (void)corio_yield(); /* fails once cancelled: fine */
        r->inside--;
        ASSERT_RC(corio_sem_release(r->s), 0); /* bounded: a permit released twice would be -EOVERFLOW */
    }
    return 0;
}

static int rs_main(void *arg) {
    (void)arg;
    struct rs r = {.s = corio_sem_new_bounded(RS_PERMITS), .rng = 42};
    ASSERT_NOT_NULL(r.s);
    corio_task *t[RS_TASKS];
    for (int i = 0; i < RS_TASKS; i++) t[i] = test_spawn(rs_worker, &r);
    for (int round = 0; round < 60; round++) {
        ASSERT_RC(corio_yield(), 0);
        int rc = corio_cancel(t[rs_next(&r) % RS_TASKS]);
        ASSERT_TRUE(rc == 0 || rc == -ESRCH);
    }
    for (int i = 0; i < RS_TASKS; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_LE(r.max_inside, RS_PERMITS);
    ASSERT_GT(r.entries, 0);
    ASSERT_EQ(corio_sem_value(r.s), RS_PERMITS);
    ASSERT_RC(corio_sem_free(r.s), 0);
    return 0;
}

TEST(sem_random_cancellation_conserves_permits) { ASSERT_RC(corio_run(rs_main, NULL), 0); }

/* ---- cancellation and timeouts ------------------------------------------------------------------------------ */

static void cancel_case(int settle_between) {
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    struct sw a = {.s = s}, b = {.s = s};
    corio_task *ta = test_spawn(sw_waiter, &a);
    test_settle();
    corio_task *tb = test_spawn(sw_waiter, &b);
    test_settle();
    ASSERT_RC(corio_cancel(ta), 0);
    if (settle_between) {
        test_settle();
        ASSERT_EQ(a.done, 1);
        ASSERT_RC(a.rc, -ECANCELED);
        ASSERT_EQ(corio_sem_value(s), 0);
    }
    corio_sem_release(s); /* must reach b: a's cancellation came first */
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_RC(b.rc, 0);
    ASSERT_RC(b.next_rc, 0);
    ASSERT_EQ(corio_sem_value(s), 0); /* b holds the only permit */
    corio_sem_release(s);
    ASSERT_EQ(corio_sem_value(s), 1);
    ASSERT_RC(corio_sem_free(s), 0);
}

static int cancel_then_release_main(void *arg) {
    (void)arg;
    cancel_case(0);
    return 0;
}

static int cancel_settle_release_main(void *arg) {
    (void)arg;
    cancel_case(1);
    return 0;
}

TEST(sem_cancel_waiter_then_release_reaches_next) { ASSERT_RC(corio_run(cancel_then_release_main, NULL), 0); }
TEST(sem_cancelled_waiter_leaves_queue) { ASSERT_RC(corio_run(cancel_settle_release_main, NULL), 0); }

static int handoff_cancel_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    struct sw a = {.s = s}, b = {.s = s};
    corio_task *ta = test_spawn(sw_waiter, &a);
    test_settle();
    corio_task *tb = test_spawn(sw_waiter, &b);
    test_settle();
    corio_sem_release(s); /* handed to a */
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, 0); /* a keeps the permit it was handed */
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_EQ(b.done, 0);
    ASSERT_EQ(corio_sem_value(s), 0);
    corio_sem_release(s); /* a's permit comes back and goes to b */
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.rc, 0);
    ASSERT_EQ(corio_sem_value(s), 0);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_handed_then_cancelled_keeps_permit) { ASSERT_RC(corio_run(handoff_cancel_main, NULL), 0); }

static int cancelled_taker(void *arg) {
    corio_sem *s = arg;
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_sem_acquire(s), 0); /* a free permit is taken without suspending */
    ASSERT_RC(corio_sem_acquire(s), -ECANCELED);
    ASSERT_EQ(corio_sem_value(s), 0);
    corio_sem_release(s);
    return 0;
}

static int timed_taker(void *arg) {
    corio_sem *s = arg;
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 20), 0);
    ASSERT_RC(corio_sem_acquire(s), 0);
    ASSERT_RC(corio_sem_acquire(s), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_EQ(corio_sem_value(s), 0);
    corio_sem_release(s);
    return 0;
}

static int cancel_timeout_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(1);
    ASSERT_NOT_NULL(s);
    ASSERT_RC(corio_await(test_spawn(cancelled_taker, s)), 0);
    ASSERT_EQ(corio_sem_value(s), 1);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_await(test_spawn(timed_taker, s)), 0);
    ASSERT_GE(test_now_ms() - t0, 15);
    ASSERT_EQ(corio_sem_value(s), 1);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_cancelled_and_timed_out_acquire) { ASSERT_RC(corio_run(cancel_timeout_main, NULL), 0); }

/* ---- misuse and lifetime ------------------------------------------------------------------------------------ */

static int free_busy_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    struct sw w = {.s = s};
    corio_task *t = test_spawn(sw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_sem_free(s), -EBUSY);
    corio_sem_release(s);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}

TEST(sem_free_with_waiters_is_ebusy) { ASSERT_RC(corio_run(free_busy_main, NULL), 0); }

static int null_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_sem_acquire(NULL), -EINVAL);
    ASSERT_RC(corio_sem_try_acquire(NULL), -EINVAL);
    ASSERT_RC(corio_sem_value(NULL), -EINVAL);
    ASSERT_RC(corio_sem_free(NULL), 0);
    return 0;
}

TEST(sem_null_is_einval) {
    ASSERT_RC(corio_run(null_main, NULL), 0);
    ASSERT_RC(corio_sem_value(NULL), -EINVAL);
    ASSERT_RC(corio_sem_try_acquire(NULL), -EINVAL);
}

TEST(sem_release_null_is_einval) { ASSERT_RC(corio_sem_release(NULL), -EINVAL); }

static int outside_main(void *arg) {
    struct bound *b = arg;
    corio_task *t[6];
    for (int i = 0; i < 6; i++) t[i] = test_spawn(bound_worker, b);
    for (int i = 0; i < 6; i++) ASSERT_RC(corio_await(t[i]), 0);
    return 0;
}

TEST(sem_created_outside_loop) {
    struct bound b = {.s = corio_sem_new(2)};
    ASSERT_NOT_NULL(b.s);
    ASSERT_RC(corio_sem_try_acquire(b.s), 0); /* never suspends, so it works outside a loop */
    corio_sem_release(b.s);
    ASSERT_RC(corio_run(outside_main, &b), 0);
    ASSERT_RC(corio_run(outside_main, &b), 0);
    ASSERT_EQ(b.max_inside, 2);
    ASSERT_EQ(b.done, 12);
    ASSERT_EQ(corio_sem_value(b.s), 2);
    ASSERT_RC(corio_sem_free(b.s), 0);
}

/* Tasks still waiting when the main task returns are cancelled, take no permit, and leave the semaphore. */
static int waits_forever(void *arg) {
    ASSERT_RC(corio_sem_acquire(arg), -ECANCELED);
    return 0;
}

static int loop_end_main(void *arg) {
    for (int i = 0; i < 3; i++) corio_detach(test_spawn(waits_forever, arg));
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(sem_waiters_cancelled_at_loop_end) {
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    ASSERT_RC(corio_run(loop_end_main, s), 0);
    ASSERT_EQ(corio_sem_value(s), 0);
    corio_sem_release(s);
    ASSERT_EQ(corio_sem_value(s), 1);
    ASSERT_RC(corio_sem_free(s), 0);
}

/* ---- wake-up order ---------------------------------------------------------------------------------------------
 * Permits released one after another without a suspension in between go to the waiters at the front, and those
 * waiters run in the order they were handed a permit, which is the order they arrived in (spawned in one go, the
 * order the ready queue ran them). */

static char ord_log[32];
static size_t ord_len;
static void ord_step(char c) {
    ASSERT_LT(ord_len, sizeof ord_log - 1);
    ord_log[ord_len++] = c;
    ord_log[ord_len] = '\0';
}

struct ord_waiter {
    corio_sem *s;
    char id;
    int64_t timeout_ms; /* > 0: the acquire runs in a timeout scope this long, and logs its id in capitals if it
                         * expires */
};
static int ord_acquirer(void *arg) {
    const struct ord_waiter *w = arg;
    corio_timeout to;
    if (w->timeout_ms > 0) ASSERT_RC(corio_timeout_enter(&to, w->timeout_ms), 0);
    int rc = corio_sem_acquire(w->s);
    if (w->timeout_ms > 0) (void)corio_timeout_exit(&to);
    if (rc == -ETIMEDOUT) {
        ord_step((char)(w->id - 'a' + 'A'));
        return 0;
    }
    ASSERT_RC(rc, 0);
    ord_step(w->id);
    return 0;
}

static int ord_burst_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    ord_len = 0;
    struct ord_waiter w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct ord_waiter){.s = s, .id = (char)('a' + i)};
        t[i] = test_spawn(ord_acquirer, &w[i]);
    }
    test_settle();
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_sem_release(s), 0);
    test_settle();
    ASSERT_STREQ(ord_log, "abc");
    ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_gather(t, 5, NULL), 0);
    ASSERT_STREQ(ord_log, "abcde");
    ASSERT_EQ(corio_sem_value(s), 0);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}
TEST(sem_releases_in_a_row_wake_waiters_in_arrival_order) { ASSERT_RC(corio_run(ord_burst_main, NULL), 0); }

/* b's acquire expires while it waits in the middle of the queue: a, c, d still come in order. */
static int ord_expiry_main(void *arg) {
    (void)arg;
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(s);
    ord_len = 0;
    struct ord_waiter w[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct ord_waiter){.s = s, .id = (char)('a' + i), .timeout_ms = i == 1 ? 10 : 0};
        t[i] = test_spawn(ord_acquirer, &w[i]);
    }
    ASSERT_RC(corio_sleep(40), 0);
    ASSERT_STREQ(ord_log, "B");
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_sem_release(s), 0);
    ASSERT_RC(corio_gather(t, 4, NULL), 0);
    ASSERT_STREQ(ord_log, "Bacd");
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}
TEST(sem_expired_waiter_leaves_the_others_in_order) { ASSERT_RC(corio_run(ord_expiry_main, NULL), 0); }
