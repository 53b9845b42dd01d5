/* test_event.c - tests of corio_event: waiting until set, set waking every waiter, clear, and what cancellation,
 * timeouts and misuse do to waiters. */
#include "test.h"

struct ew {
    corio_event *e;
    int rc, done, next_rc;
};

static int ew_waiter(void *arg) {
    struct ew *w = arg;
    w->rc = corio_event_wait(w->e);
    w->done = 1;
    w->next_rc = corio_yield();
    return 0;
}

/* ---- waiting and setting ------------------------------------------------------------------------------------ */

static int wakes_all_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    ASSERT_EQ(corio_event_is_set(e), 0);
    struct ew w[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct ew){.e = e};
        t[i] = test_spawn(ew_waiter, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_sleep(5), 0);
    for (int i = 0; i < 4; i++) ASSERT_EQ(w[i].done, 0);
    corio_event_set(e);
    ASSERT_EQ(corio_event_is_set(e), 1);
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_await(t[i]), 0);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(w[i].done, 1);
        ASSERT_RC(w[i].rc, 0);
        ASSERT_RC(w[i].next_rc, 0);
    }
    ASSERT_EQ(corio_event_is_set(e), 1); /* setting is not consumed by the waiters */
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_set_wakes_every_waiter) { ASSERT_RC(corio_run(wakes_all_main, NULL), 0); }

static int set_at_once_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    corio_event_set(e);
    corio_event_set(e); /* setting twice is harmless */
    ASSERT_EQ(corio_event_is_set(e), 1);
    ASSERT_RC(corio_event_wait(e), 0);
    /* Waiting on a set event does not suspend, so it succeeds even for a cancelled task. */
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_event_wait(e), 0);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_wait_on_set_event_returns_at_once) { ASSERT_RC(corio_run(set_at_once_main, NULL), 0); }

static int clear_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    corio_event_set(e);
    corio_event_clear(e);
    ASSERT_EQ(corio_event_is_set(e), 0);
    corio_event_clear(e);
    ASSERT_EQ(corio_event_is_set(e), 0);
    struct ew w = {.e = e};
    corio_task *t = test_spawn(ew_waiter, &w);
    test_settle();
    ASSERT_EQ(w.done, 0); /* cleared: waits again */
    corio_event_set(e);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_clear_makes_waiters_wait) { ASSERT_RC(corio_run(clear_main, NULL), 0); }

/* set wakes the waiters of that moment; a clear before they run does not take the wakeup back. */
static int set_clear_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    struct ew w[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct ew){.e = e};
        t[i] = test_spawn(ew_waiter, &w[i]);
    }
    test_settle();
    corio_event_set(e);
    corio_event_clear(e);
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc, 0);
    }
    ASSERT_EQ(corio_event_is_set(e), 0);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_set_then_clear_still_wakes_waiters) { ASSERT_RC(corio_run(set_clear_main, NULL), 0); }

/* ---- cancellation and timeouts ------------------------------------------------------------------------------ */

static int cancel_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    struct ew a = {.e = e}, b = {.e = e};
    corio_task *ta = test_spawn(ew_waiter, &a);
    corio_task *tb = test_spawn(ew_waiter, &b);
    test_settle();
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_EQ(b.done, 0);
    ASSERT_EQ(corio_event_is_set(e), 0);
    ASSERT_RC(corio_event_free(e), -EBUSY); /* b still waits; the cancelled a must not */
    corio_event_set(e);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.rc, 0);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_cancelled_waiter) { ASSERT_RC(corio_run(cancel_main, NULL), 0); }

static int set_then_cancel_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    struct ew a = {.e = e};
    corio_task *ta = test_spawn(ew_waiter, &a);
    test_settle();
    corio_event_set(e);
    ASSERT_RC(corio_cancel(ta), 0); /* after the wakeup was handed over */
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, 0);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_woken_then_cancelled_returns_success) { ASSERT_RC(corio_run(set_then_cancel_main, NULL), 0); }

static int timed_waiter(void *arg) {
    corio_event *e = arg;
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 20), 0);
    ASSERT_RC(corio_event_wait(e), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    return 0;
}

static int timeout_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_await(test_spawn(timed_waiter, e)), 0);
    ASSERT_GE(test_now_ms() - t0, 15);
    ASSERT_RC(corio_event_free(e), 0); /* the timed-out waiter left nothing behind */
    return 0;
}

TEST(event_wait_times_out) { ASSERT_RC(corio_run(timeout_main, NULL), 0); }

/* ---- misuse and lifetime ------------------------------------------------------------------------------------ */

static int free_busy_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    struct ew w = {.e = e};
    corio_task *t = test_spawn(ew_waiter, &w);
    test_settle();
    ASSERT_RC(corio_event_free(e), -EBUSY);
    ASSERT_EQ(corio_event_is_set(e), 0); /* still usable: nothing was freed */
    corio_event_set(e);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

TEST(event_free_with_waiters_is_ebusy) { ASSERT_RC(corio_run(free_busy_main, NULL), 0); }

static int null_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_event_wait(NULL), -EINVAL);
    ASSERT_RC(corio_event_is_set(NULL), -EINVAL);
    ASSERT_RC(corio_event_free(NULL), 0);
    return 0;
}

TEST(event_null_is_einval) {
    ASSERT_RC(corio_run(null_main, NULL), 0);
    ASSERT_RC(corio_event_is_set(NULL), -EINVAL);
}

/* set and clear return nothing, so the only sane answer to NULL is to ignore it. */
TEST(event_set_clear_null_ignored) {
    corio_event_set(NULL);
    corio_event_clear(NULL);
}

static int outside_main(void *arg) {
    corio_event *e = arg;
    ASSERT_EQ(corio_event_is_set(e), 1);
    ASSERT_RC(corio_event_wait(e), 0);
    corio_event_clear(e);
    struct ew w = {.e = e};
    corio_task *t = test_spawn(ew_waiter, &w);
    test_settle();
    corio_event_set(e);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, 0);
    return 0;
}

TEST(event_created_outside_loop) {
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    corio_event_set(e); /* usable outside a loop for calls that never suspend */
    ASSERT_RC(corio_run(outside_main, e), 0);
    ASSERT_RC(corio_run(outside_main, e), 0);
    ASSERT_RC(corio_event_free(e), 0);
}

/* Tasks still waiting when the main task returns are cancelled and leave the event, so it can be freed. */
static int waits_forever(void *arg) {
    ASSERT_RC(corio_event_wait(arg), -ECANCELED);
    return 0;
}

static int loop_end_main(void *arg) {
    for (int i = 0; i < 3; i++) corio_detach(test_spawn(waits_forever, arg));
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(event_waiters_cancelled_at_loop_end) {
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    ASSERT_RC(corio_run(loop_end_main, e), 0);
    ASSERT_RC(corio_event_free(e), 0);
}

/* ---- wake-up order ---------------------------------------------------------------------------------------------
 * A set wakes every waiter, and they run in the order they began to wait. */

static char ord_log[32];
static size_t ord_len;
static void ord_step(char c) {
    ASSERT_LT(ord_len, sizeof ord_log - 1);
    ord_log[ord_len++] = c;
    ord_log[ord_len] = '\0';
}

struct ord_waiter {
    corio_event *e;
    char id;
};
/* Waits, then logs its id; a failed wait logs the id in capitals. */
static int ord_waiter(void *arg) {
    const struct ord_waiter *w = arg;
    char id = w->id;
    if (corio_event_wait(w->e) < 0) id = (char)(id - 'a' + 'A');
    ord_step(id);
    return 0;
}

/* Six waiters spawned in one go wait in spawn order (the ready queue's), and run in that order once set. */
static int ord_together_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    ord_len = 0;
    struct ord_waiter w[6];
    corio_task *t[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct ord_waiter){e, (char)('a' + i)};
        t[i] = test_spawn(ord_waiter, &w[i]);
    }
    test_settle();
    ASSERT_EQ(ord_len, 0);
    corio_event_set(e);
    ASSERT_RC(corio_gather(t, 6, NULL), 0);
    ASSERT_STREQ(ord_log, "abcdef");
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}
TEST(event_set_wakes_waiters_in_arrival_order) { ASSERT_RC(corio_run(ord_together_main, NULL), 0); }

/* Waiters begin out of spawn order (d, b, then a c e together), one is cancelled; after a set and a clear, a second
 * round waits again, and its order is its own. */
static int ord_rounds_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    ord_len = 0;
    struct ord_waiter w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) w[i] = (struct ord_waiter){e, (char)('a' + i)};
    t[3] = test_spawn(ord_waiter, &w[3]);
    test_settle();
    t[1] = test_spawn(ord_waiter, &w[1]);
    test_settle();
    t[0] = test_spawn(ord_waiter, &w[0]);
    t[2] = test_spawn(ord_waiter, &w[2]);
    t[4] = test_spawn(ord_waiter, &w[4]);
    test_settle();
    ASSERT_RC(corio_cancel(t[0]), 0);
    corio_event_set(e);
    ASSERT_RC(corio_gather(t, 5, NULL), 0);
    ASSERT_STREQ(ord_log, "Adbce"); /* a was cancelled before the set, so it ran first */

    corio_event_clear(e);
    ord_len = 0;
    t[4] = test_spawn(ord_waiter, &w[4]);
    t[2] = test_spawn(ord_waiter, &w[2]);
    t[0] = test_spawn(ord_waiter, &w[0]);
    test_settle();
    corio_event_set(e);
    corio_task *again[3] = {t[4], t[2], t[0]};
    ASSERT_RC(corio_gather(again, 3, NULL), 0);
    ASSERT_STREQ(ord_log, "eca");
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}
TEST(event_waiters_run_in_the_order_they_began_waiting) { ASSERT_RC(corio_run(ord_rounds_main, NULL), 0); }
