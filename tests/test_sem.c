/* test_sem.c - tests of corio_sem: permits bound concurrency, FIFO hand-off with no barging, and cancelled or
 * timed-out waiters never losing or leaking a permit. */
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

/* release returns nothing, so the only sane answer to NULL is to ignore it. */
TEST(sem_release_null_ignored) { corio_sem_release(NULL); }

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
