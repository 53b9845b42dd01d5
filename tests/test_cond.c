/* test_cond.c - tests of corio_cond with corio_lock: producer/consumer, signal waking one waiter in FIFO order,
 * broadcast, a signalled waiter queueing for the lock ahead of its signaller's next acquire, and that cond_wait
 * re-takes the lock and keeps its wakeup whatever cancellation does. */
#include "test.h"

/* ---- producer / consumer ------------------------------------------------------------------------------------ */

#define PC_CAP 4
#define PC_ITEMS 1000

struct pc {
    corio_lock *l;
    corio_cond *not_empty, *not_full;
    int buf[PC_CAP];
    int head, count, done;
    long sum;
    int consumed;
};

static int pc_producer(void *arg) {
    struct pc *p = arg;
    for (int i = 1; i <= PC_ITEMS; i++) {
        ASSERT_RC(corio_lock_acquire(p->l), 0);
        while (p->count == PC_CAP) ASSERT_RC(corio_cond_wait(p->not_full, p->l), 0);
        p->buf[(p->head + p->count) % PC_CAP] = i;
        p->count++;
        corio_cond_signal(p->not_empty);
        ASSERT_RC(corio_lock_release(p->l), 0);
    }
    return 0;
}

static int pc_consumer(void *arg) {
    struct pc *p = arg;
    ASSERT_RC(corio_lock_acquire(p->l), 0);
    for (;;) {
        while (p->count == 0 && !p->done) ASSERT_RC(corio_cond_wait(p->not_empty, p->l), 0);
        if (p->count == 0) break;
        p->sum += p->buf[p->head];
        p->head = (p->head + 1) % PC_CAP;
        p->count--;
        p->consumed++;
        corio_cond_signal(p->not_full);
        /* Drop the lock now and then so producers and other consumers interleave differently. */
        if (p->consumed % 7 == 0) {
            ASSERT_RC(corio_lock_release(p->l), 0);
            ASSERT_RC(corio_yield(), 0);
            ASSERT_RC(corio_lock_acquire(p->l), 0);
        }
    }
    ASSERT_RC(corio_lock_release(p->l), 0);
    return 0;
}

static int pc_main(void *arg) {
    (void)arg;
    struct pc p = {.l = corio_lock_new(), .not_empty = corio_cond_new(), .not_full = corio_cond_new()};
    ASSERT_NOT_NULL(p.l);
    ASSERT_NOT_NULL(p.not_empty);
    ASSERT_NOT_NULL(p.not_full);
    corio_task *prod[2], *cons[3];
    for (int i = 0; i < 3; i++) cons[i] = test_spawn(pc_consumer, &p);
    for (int i = 0; i < 2; i++) prod[i] = test_spawn(pc_producer, &p);
    for (int i = 0; i < 2; i++) ASSERT_RC(corio_await(prod[i]), 0);
    ASSERT_RC(corio_lock_acquire(p.l), 0);
    p.done = 1;
    corio_cond_broadcast(p.not_empty);
    ASSERT_RC(corio_lock_release(p.l), 0);
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(cons[i]), 0);
    ASSERT_EQ(p.consumed, 2 * PC_ITEMS);
    ASSERT_EQ(p.sum, 2L * PC_ITEMS * (PC_ITEMS + 1) / 2);
    ASSERT_RC(corio_cond_free(p.not_empty), 0);
    ASSERT_RC(corio_cond_free(p.not_full), 0);
    ASSERT_RC(corio_lock_free(p.l), 0);
    return 0;
}

TEST(cond_producer_consumer) { ASSERT_RC(corio_run(pc_main, NULL), 0); }

/* ---- signal and broadcast ----------------------------------------------------------------------------------- */

struct cw {
    corio_lock *l;
    corio_cond *c;
    int id, rc, done, release_rc, next_rc;
    int *order, *n;
};

static int cw_waiter(void *arg) {
    struct cw *w = arg;
    ASSERT_RC(corio_lock_acquire(w->l), 0);
    w->rc = corio_cond_wait(w->c, w->l);
    w->done = 1;
    if (w->order) w->order[(*w->n)++] = w->id;
    /* Whatever the outcome, the lock is ours again. */
    w->release_rc = corio_lock_release(w->l);
    w->next_rc = corio_yield();
    return 0;
}

static int signal_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    int order[5], n = 0;
    struct cw w[5];
    corio_task *t[5];
    corio_cond_signal(c); /* nobody waits: the signal is not remembered */
    for (int i = 0; i < 5; i++) {
        w[i] = (struct cw){.l = l, .c = c, .id = i, .order = order, .n = &n};
        t[i] = test_spawn(cw_waiter, &w[i]);
        test_settle();
    }
    ASSERT_EQ(n, 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_lock_acquire(l), 0);
        corio_cond_signal(c);
        ASSERT_RC(corio_lock_release(l), 0);
        test_settle();
        ASSERT_EQ(n, i + 1); /* exactly one woke */
        ASSERT_EQ(order[i], i);
    }
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_broadcast(c);
    ASSERT_RC(corio_lock_release(l), 0);
    for (int i = 0; i < 5; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(n, 5);
    int seen = 0;
    for (int i = 0; i < 5; i++) {
        ASSERT_RC(w[i].rc, 0);
        ASSERT_RC(w[i].release_rc, 0);
        seen |= 1 << order[i];
    }
    ASSERT_EQ(seen, 31);
    corio_cond_broadcast(c); /* nobody waits: harmless */
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_signal_wakes_one_fifo_broadcast_wakes_all) { ASSERT_RC(corio_run(signal_main, NULL), 0); }

/* ---- fairness: a signalled waiter queues for the lock at the signal ----------------------------------------- */

/* The signaller releases and at once acquires again: the waiters it woke get the lock first, in order. Before the
 * fix the lock was free until they ran, and the signaller took it back ahead of them. */
static int no_barge_main(void *arg) {
    int broadcast = *(int *)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    int order[4], n = 0;
    struct cw w[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct cw){.l = l, .c = c, .id = i, .order = order, .n = &n};
        t[i] = test_spawn(cw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_lock_acquire(l), 0);
    if (broadcast)
        corio_cond_broadcast(c);
    else
        for (int i = 0; i < 3; i++) corio_cond_signal(c);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_EQ(corio_lock_locked(l), 1); /* handed to the first waiter, which has not run */
    ASSERT_RC(corio_lock_try_acquire(l), -EBUSY);
    ASSERT_RC(corio_lock_acquire(l), 0);
    order[n++] = 3;
    ASSERT_EQ(n, 4);
    for (int i = 0; i < 4; i++) ASSERT_EQ(order[i], i);
    ASSERT_RC(corio_lock_release(l), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc, 0);
        ASSERT_RC(w[i].release_rc, 0);
    }
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_signaller_reacquiring_queues_behind_signalled) {
    int broadcast = 0;
    ASSERT_RC(corio_run(no_barge_main, &broadcast), 0);
}

TEST(cond_broadcaster_reacquiring_queues_behind_woken) {
    int broadcast = 1;
    ASSERT_RC(corio_run(no_barge_main, &broadcast), 0);
}

/* A signal from a task that does not hold the lock, while it is free: the waiter gets the lock at once. */
static int free_lock_signal_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct cw w = {.l = l, .c = c};
    corio_task *t = test_spawn(cw_waiter, &w);
    test_settle();
    ASSERT_EQ(corio_lock_locked(l), 0);
    corio_cond_signal(c);
    ASSERT_EQ(corio_lock_locked(l), 1);
    ASSERT_RC(corio_lock_try_acquire(l), -EBUSY);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_RC(w.release_rc, 0);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_signal_with_lock_free_hands_it_over) { ASSERT_RC(corio_run(free_lock_signal_main, NULL), 0); }

/* asyncio's test_wait: three waiters, signalled while the lock is held, each takes the lock in turn as the
 * holder lets go, and no earlier. */
static int asyncio_wait_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    int order[3], n = 0;
    struct cw w[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct cw){.l = l, .c = c, .id = i, .order = order, .n = &n};
        t[i] = test_spawn(cw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_EQ(corio_lock_locked(l), 0);
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    test_settle();
    ASSERT_EQ(n, 0); /* signalled, but the lock is ours */
    ASSERT_RC(corio_lock_release(l), 0);
    test_settle();
    ASSERT_EQ(n, 1);
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    corio_cond_signal(c);
    test_settle();
    ASSERT_EQ(n, 1);
    ASSERT_RC(corio_lock_release(l), 0);
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(n, 3);
    for (int i = 0; i < 3; i++) ASSERT_EQ(order[i], i);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_asyncio_wait_order) { ASSERT_RC(corio_run(asyncio_wait_main, NULL), 0); }

/* ---- misuse ------------------------------------------------------------------------------------------------- */

static int other_holds(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    return 0;
}

static int misuse_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    ASSERT_RC(corio_cond_wait(c, l), -EPERM); /* lock free */
    corio_task *t = test_spawn(other_holds, l);
    test_settle();
    ASSERT_RC(corio_cond_wait(c, l), -EPERM); /* lock held by another task */
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_lock_try_acquire(l), 0); /* the failed waits did not disturb the lock */
    ASSERT_RC(corio_cond_wait(NULL, l), -EINVAL);
    ASSERT_RC(corio_cond_wait(c, NULL), -EINVAL);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_cond_free(NULL), 0);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_wait_without_lock_is_eperm) { ASSERT_RC(corio_run(misuse_main, NULL), 0); }

/* A cond_wait that fails its up-front check (cancelled, or past its deadline) never lets go of the lock: a task
 * queued on the lock must not get it in between. */
static int queue_on_lock(void *arg) {
    corio_lock *l = arg;
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    return 0;
}

static int precheck_main(void *arg) {
    corio_lock *l = arg;
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(c);
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_detach(test_spawn(queue_on_lock, l));
    ASSERT_RC(corio_yield(), 0);
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 1), 0);
    ASSERT_RC(corio_sleep(1000), -ETIMEDOUT);
    ASSERT_RC(corio_cond_wait(c, l), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_lock_acquire(l), -EDEADLK); /* still ours */
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_cond_wait(c, l), -ECANCELED);
    ASSERT_RC(corio_lock_acquire(l), -EDEADLK);
    ASSERT_RC(corio_lock_release(l), 0); /* to the queued task, which finishes during the loop's shutdown */
    ASSERT_RC(corio_cond_free(c), 0);
    return 0;
}

TEST(cond_wait_failing_its_check_keeps_lock) {
    corio_lock *l = corio_lock_new();
    ASSERT_NOT_NULL(l);
    ASSERT_RC(corio_run(precheck_main, l), 0);
    ASSERT_RC(corio_lock_free(l), 0); /* the queued task took it and released it during the shutdown */
}

/* signal and broadcast return nothing, so the only sane answer to NULL is to ignore it. */
TEST(cond_signal_null_ignored) {
    corio_cond_signal(NULL);
    corio_cond_broadcast(NULL);
}

/* ---- cancellation and timeouts ------------------------------------------------------------------------------ */

/* A cancelled cond_wait returns only once it holds the lock again, even if that means waiting for it. */
static int cancel_relock_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct cw w = {.l = l, .c = c};
    corio_task *t = test_spawn(cw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_lock_acquire(l), 0); /* free: the waiter released it inside cond_wait */
    ASSERT_RC(corio_cancel(t), 0);
    test_settle();
    ASSERT_EQ(w.done, 0); /* cancelled, but cannot return without the lock we hold */
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, -ECANCELED);
    ASSERT_RC(w.release_rc, 0);
    ASSERT_RC(w.next_rc, -ECANCELED);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_cancelled_wait_retakes_lock) { ASSERT_RC(corio_run(cancel_relock_main, NULL), 0); }

/* A signal sent to a waiter that is cancelled before it runs is not lost: that waiter returns 0, and the next
 * waiter does not get a second wakeup. */
static int signal_then_cancel_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct cw a = {.l = l, .c = c}, b = {.l = l, .c = c};
    corio_task *ta = test_spawn(cw_waiter, &a);
    test_settle();
    corio_task *tb = test_spawn(cw_waiter, &b);
    test_settle();
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, 0);
    ASSERT_RC(a.release_rc, 0);
    ASSERT_RC(a.next_rc, -ECANCELED);
    test_settle();
    ASSERT_EQ(b.done, 0);
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.rc, 0);
    ASSERT_RC(b.release_rc, 0);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_signalled_then_cancelled_returns_success) { ASSERT_RC(corio_run(signal_then_cancel_main, NULL), 0); }

/* The opposite order: a waiter cancelled before the signal must not swallow it; the next waiter gets it. */
static int cancel_then_signal_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct cw a = {.l = l, .c = c}, b = {.l = l, .c = c};
    corio_task *ta = test_spawn(cw_waiter, &a);
    test_settle();
    corio_task *tb = test_spawn(cw_waiter, &b);
    test_settle();
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_RC(a.release_rc, 0);
    ASSERT_RC(b.rc, 0);
    ASSERT_RC(b.release_rc, 0);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_cancelled_waiter_does_not_swallow_signal) { ASSERT_RC(corio_run(cancel_then_signal_main, NULL), 0); }

struct tw {
    corio_lock *l;
    corio_cond *c;
    int rc, exit_rc, release_rc, done;
};

static int timed_waiter(void *arg) {
    struct tw *w = arg;
    corio_timeout to;
    ASSERT_RC(corio_lock_acquire(w->l), 0);
    ASSERT_RC(corio_timeout_enter(&to, 20), 0);
    w->rc = corio_cond_wait(w->c, w->l);
    w->done = 1;
    w->exit_rc = corio_timeout_exit(&to);
    w->release_rc = corio_lock_release(w->l);
    return 0;
}

static int timeout_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct tw w = {.l = l, .c = c};
    corio_task *t = test_spawn(timed_waiter, &w);
    test_settle();
    /* Hold the lock past the waiter's deadline: it must still wait for the lock before returning. */
    ASSERT_RC(corio_lock_acquire(l), 0);
    ASSERT_RC(corio_sleep(60), 0);
    ASSERT_EQ(w.done, 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, -ETIMEDOUT);
    ASSERT_RC(w.exit_rc, -ETIMEDOUT);
    ASSERT_RC(w.release_rc, 0);
    ASSERT_RC(corio_cond_free(c), 0); /* the timed-out waiter left the queue */
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_wait_times_out_holding_lock) { ASSERT_RC(corio_run(timeout_main, NULL), 0); }

/* asyncio's test_wait_cancel_after_notify (bpo-32841): the waiter is signalled, has run far enough to queue for
 * the lock, and is then cancelled. It was handed its wakeup, so it returns 0 holding the lock (lifetime rule 4);
 * the cancel shows at its next suspension. */
static int cancel_after_notify_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct cw w = {.l = l, .c = c};
    corio_task *t = test_spawn(cw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    test_settle(); /* the waiter now waits for the lock */
    char *dump = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&dump, &len);
    ASSERT_NOT_NULL(out);
    corio_dump_tasks(out);
    ASSERT_RC(fclose(out), 0);
    ASSERT_NOT_NULL(strstr(dump, "lock 0x")); /* and the dump says so, not "condition" */
    ASSERT_NULL(strstr(dump, "condition 0x"));
    free(dump);
    ASSERT_RC(corio_cancel(t), 0);
    test_settle();
    ASSERT_EQ(w.done, 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_RC(w.release_rc, 0);
    ASSERT_RC(w.next_rc, -ECANCELED);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_cancelled_after_signal_while_queued_for_lock) { ASSERT_RC(corio_run(cancel_after_notify_main, NULL), 0); }

/* The same with the waiter's timeout scope expiring while it waits for the lock it was signalled for. */
static int timeout_after_notify_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct tw w = {.l = l, .c = c};
    corio_task *t = test_spawn(timed_waiter, &w);
    test_settle();
    ASSERT_RC(corio_lock_acquire(l), 0);
    corio_cond_signal(c);
    ASSERT_RC(corio_sleep(40), 0); /* past the waiter's 20 ms, holding the lock */
    ASSERT_EQ(w.done, 0);
    ASSERT_RC(corio_lock_release(l), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_RC(w.exit_rc, -ETIMEDOUT);
    ASSERT_RC(w.release_rc, 0);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_timed_out_after_signal_while_queued_for_lock) { ASSERT_RC(corio_run(timeout_after_notify_main, NULL), 0); }

/* ---- lifetime ----------------------------------------------------------------------------------------------- */

static int free_busy_main(void *arg) {
    (void)arg;
    corio_lock *l = corio_lock_new();
    corio_cond *c = corio_cond_new();
    ASSERT_NOT_NULL(l);
    ASSERT_NOT_NULL(c);
    struct cw w = {.l = l, .c = c};
    corio_task *t = test_spawn(cw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_cond_free(c), -EBUSY);
    corio_cond_signal(c);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_RC(corio_cond_free(c), 0);
    ASSERT_RC(corio_lock_free(l), 0);
    return 0;
}

TEST(cond_free_with_waiters_is_ebusy) { ASSERT_RC(corio_run(free_busy_main, NULL), 0); }

static int outside_main(void *arg) {
    void **objs = arg;
    struct cw w = {.l = objs[0], .c = objs[1]};
    corio_task *t = test_spawn(cw_waiter, &w);
    test_settle();
    corio_cond_broadcast(w.c);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    return 0;
}

TEST(cond_created_outside_loop) {
    void *objs[2] = {corio_lock_new(), corio_cond_new()};
    ASSERT_NOT_NULL(objs[0]);
    ASSERT_NOT_NULL(objs[1]);
    ASSERT_RC(corio_run(outside_main, objs), 0);
    ASSERT_RC(corio_run(outside_main, objs), 0);
    ASSERT_RC(corio_cond_free(objs[1]), 0);
    ASSERT_RC(corio_lock_free(objs[0]), 0);
}

/* Tasks still in cond_wait when the main task returns are cancelled, re-take the lock, and release it. */
static int cond_forever(void *arg) {
    void **objs = arg;
    ASSERT_RC(corio_lock_acquire(objs[0]), 0);
    ASSERT_RC(corio_cond_wait(objs[1], objs[0]), -ECANCELED);
    ASSERT_RC(corio_lock_release(objs[0]), 0);
    return 0;
}

static int loop_end_main(void *arg) {
    for (int i = 0; i < 3; i++) corio_detach(test_spawn(cond_forever, arg));
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(cond_waiters_cancelled_at_loop_end) {
    void *objs[2] = {corio_lock_new(), corio_cond_new()};
    ASSERT_NOT_NULL(objs[0]);
    ASSERT_NOT_NULL(objs[1]);
    ASSERT_RC(corio_run(loop_end_main, objs), 0);
    ASSERT_RC(corio_cond_free(objs[1]), 0);
    ASSERT_RC(corio_lock_free(objs[0]), 0);
}
