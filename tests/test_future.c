/* test_future.c - tests of corio_future: one outcome (a value, an error or a cancellation) set once and seen by
 * every waiter, before or after it was set; waiters cancelled or timed out leave it untouched; misuse errors. */
#include "test.h"

#define ITEM(i) ((void *)(uintptr_t)(i))
#define NUM(p) ((long)(uintptr_t)(p))

struct fw {
    corio_future *f;
    int64_t ms; /* > 0: wait inside a timeout scope of ms */
    int rc, exit_rc, next_rc, done;
    void *value;
};

static int fw_waiter(void *arg) {
    struct fw *w = arg;
    corio_timeout to;
    if (w->ms > 0) ASSERT_RC(corio_timeout_enter(&to, w->ms), 0);
    w->value = ITEM(-1);
    w->rc = corio_future_wait(w->f, &w->value);
    if (w->ms > 0) w->exit_rc = corio_timeout_exit(&to);
    w->done = 1;
    w->next_rc = corio_yield();
    return 0;
}

/* ---- outcomes ----------------------------------------------------------------------------------------------- */

static int result_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(corio_future_done(f), 0);
    struct fw w[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct fw){.f = f};
        t[i] = test_spawn(fw_waiter, &w[i]);
    }
    test_settle();
    for (int i = 0; i < 4; i++) ASSERT_EQ(w[i].done, 0);
    ASSERT_RC(corio_future_set_result(f, ITEM(42)), 0);
    ASSERT_EQ(corio_future_done(f), 1);
    ASSERT_RC(corio_future_set_result(f, ITEM(43)), -EBUSY); /* the first outcome stays */
    ASSERT_RC(corio_future_set_error(f, -EIO), -EBUSY);
    ASSERT_RC(corio_future_cancel(f), -EBUSY);
    for (int i = 0; i < 4; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc, 0);
        ASSERT_EQ(NUM(w[i].value), 42);
        ASSERT_RC(w[i].next_rc, 0);
    }
    /* done: later waits return at once, a NULL value pointer is fine, and so is a cancelled caller */
    void *v = NULL;
    ASSERT_RC(corio_future_wait(f, &v), 0);
    ASSERT_EQ(NUM(v), 42);
    ASSERT_RC(corio_future_wait(f, NULL), 0);
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_future_wait(f, &v), 0);
    ASSERT_RC(corio_future_free(f), 0);
    return 0;
}

TEST(future_result_wakes_every_waiter) { ASSERT_RC(corio_run(result_main, NULL), 0); }

static int error_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    ASSERT_RC(corio_future_set_error(f, 0), -EINVAL); /* not an error */
    ASSERT_RC(corio_future_set_error(f, EIO), -EINVAL);
    ASSERT_EQ(corio_future_done(f), 0);
    struct fw w = {.f = f};
    corio_task *t = test_spawn(fw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_future_set_error(f, -ECONNRESET), 0);
    ASSERT_RC(corio_future_set_result(f, NULL), -EBUSY);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, -ECONNRESET);
    ASSERT_EQ(NUM(w.value), -1); /* untouched on failure */
    void *v = ITEM(5);
    ASSERT_RC(corio_future_wait(f, &v), -ECONNRESET);
    ASSERT_EQ(NUM(v), 5);
    ASSERT_RC(corio_future_free(f), 0);
    return 0;
}

TEST(future_error_reaches_every_waiter) { ASSERT_RC(corio_run(error_main, NULL), 0); }

static int cancel_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    struct fw w[2] = {{.f = f}, {.f = f}};
    corio_task *t[2] = {test_spawn(fw_waiter, &w[0]), test_spawn(fw_waiter, &w[1])};
    test_settle();
    ASSERT_RC(corio_future_cancel(f), 0);
    ASSERT_EQ(corio_future_done(f), 1);
    ASSERT_RC(corio_future_cancel(f), -EBUSY);
    ASSERT_RC(corio_future_set_result(f, NULL), -EBUSY);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc, -ECANCELED);
        ASSERT_RC(w[i].next_rc, 0); /* the future was cancelled, not the waiter */
    }
    ASSERT_RC(corio_future_wait(f, NULL), -ECANCELED);
    ASSERT_RC(corio_future_free(f), 0);
    return 0;
}

TEST(future_cancelled_waiters_get_ecanceled) { ASSERT_RC(corio_run(cancel_main, NULL), 0); }

/* ---- the waiter's own cancellation and timeouts ------------------------------------------------------------- */

/* A waiter cancelled or timed out leaves the future pending for the others; one woken with the value before its
 * cancel returns the value (lifetime rule 4). */
static int waiter_cancel_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    struct fw a = {.f = f}, b = {.f = f, .ms = 10}, c = {.f = f}, d = {.f = f};
    corio_task *ta = test_spawn(fw_waiter, &a), *tb = test_spawn(fw_waiter, &b), *tc = test_spawn(fw_waiter, &c),
               *td = test_spawn(fw_waiter, &d);
    test_settle();
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.rc, -ETIMEDOUT);
    ASSERT_RC(b.exit_rc, -ETIMEDOUT);
    ASSERT_EQ(corio_future_done(f), 0);
    ASSERT_EQ(c.done + d.done, 0);
    ASSERT_RC(corio_future_set_result(f, ITEM(7)), 0);
    ASSERT_RC(corio_cancel(tc), 0); /* after the wakeup */
    ASSERT_RC(corio_await(tc), 0);
    ASSERT_RC(c.rc, 0);
    ASSERT_EQ(NUM(c.value), 7);
    ASSERT_RC(c.next_rc, -ECANCELED);
    ASSERT_RC(corio_await(td), 0);
    ASSERT_RC(d.rc, 0);
    ASSERT_EQ(NUM(d.value), 7);
    ASSERT_RC(corio_future_free(f), 0);
    return 0;
}

TEST(future_waiter_cancelled_or_timed_out) { ASSERT_RC(corio_run(waiter_cancel_main, NULL), 0); }

static int precancelled_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 1), 0);
    ASSERT_RC(corio_sleep(1000), -ETIMEDOUT);
    ASSERT_RC(corio_future_wait(f, NULL), -ETIMEDOUT); /* would suspend: fails at once */
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_future_wait(f, NULL), -ECANCELED);
    ASSERT_EQ(corio_future_done(f), 0);
    ASSERT_RC(corio_future_free(f), 0); /* a pending future with no waiter may be freed */
    return 0;
}

TEST(future_wait_by_cancelled_task_fails_at_once) { ASSERT_RC(corio_run(precancelled_main, NULL), 0); }

/* ---- lifetime and misuse ------------------------------------------------------------------------------------ */

/* Freed right after it was set, before the woken waiters ran: they must not read it again (ASan/valgrind). */
static int free_after_set_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    struct fw w[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct fw){.f = f};
        t[i] = test_spawn(fw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_RC(corio_future_free(f), -EBUSY);
    ASSERT_RC(corio_future_set_result(f, ITEM(9)), 0);
    ASSERT_RC(corio_future_free(f), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc, 0);
        ASSERT_EQ(NUM(w[i].value), 9);
    }
    return 0;
}

TEST(future_freed_once_set_before_waiters_run) { ASSERT_RC(corio_run(free_after_set_main, NULL), 0); }

/* Set by another task while the main task and a helper wait; a waiter shows in a dump as an event wait (no wait
 * kind of its own yet). */
static int setter(void *arg) {
    ASSERT_RC(corio_sleep(1), 0);
    ASSERT_RC(corio_future_set_result(arg, ITEM(3)), 0);
    return 0;
}

static int setter_task_main(void *arg) {
    (void)arg;
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    struct fw w = {.f = f};
    corio_task *tw = test_spawn(fw_waiter, &w);
    test_settle();
    char *dump = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&dump, &len);
    ASSERT_NOT_NULL(out);
    corio_dump_tasks(out);
    ASSERT_RC(fclose(out), 0);
    ASSERT_NOT_NULL(strstr(dump, "future 0x"));
    free(dump);
    corio_task *ts = test_spawn(setter, f);
    void *v = NULL;
    ASSERT_RC(corio_future_wait(f, &v), 0);
    ASSERT_EQ(NUM(v), 3);
    ASSERT_RC(corio_await(ts), 0);
    ASSERT_RC(corio_await(tw), 0);
    ASSERT_EQ(NUM(w.value), 3);
    ASSERT_RC(corio_future_free(f), 0);
    return 0;
}

TEST(future_set_by_another_task) { ASSERT_RC(corio_run(setter_task_main, NULL), 0); }

static int null_main(void *arg) {
    (void)arg;
    void *v = NULL;
    ASSERT_RC(corio_future_set_result(NULL, NULL), -EINVAL);
    ASSERT_RC(corio_future_set_error(NULL, -EIO), -EINVAL);
    ASSERT_RC(corio_future_cancel(NULL), -EINVAL);
    ASSERT_RC(corio_future_done(NULL), -EINVAL);
    ASSERT_RC(corio_future_wait(NULL, &v), -EINVAL);
    ASSERT_RC(corio_future_free(NULL), 0);
    return 0;
}

TEST(future_null_is_einval) { ASSERT_RC(corio_run(null_main, NULL), 0); }

TEST(future_outside_loop) {
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    ASSERT_RC(corio_future_wait(f, NULL), -EPERM); /* pending: only a task can wait */
    ASSERT_RC(corio_future_set_result(f, ITEM(1)), 0);
    void *v = NULL;
    ASSERT_RC(corio_future_wait(f, &v), 0); /* done: no wait needed */
    ASSERT_EQ(NUM(v), 1);
    ASSERT_RC(corio_future_free(f), 0);
    ASSERT_RC(corio_future_done(NULL), -EINVAL);
}

/* Tasks still waiting when the main task returns are cancelled and leave the future, which can then be freed. */
static int waits_forever(void *arg) {
    ASSERT_RC(corio_future_wait(arg, NULL), -ECANCELED);
    return 0;
}

static int loop_end_main(void *arg) {
    for (int i = 0; i < 3; i++) corio_detach(test_spawn(waits_forever, arg));
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(future_waiters_cancelled_at_loop_end) {
    corio_future *f = corio_future_new();
    ASSERT_NOT_NULL(f);
    ASSERT_RC(corio_run(loop_end_main, f), 0);
    ASSERT_EQ(corio_future_done(f), 0);
    ASSERT_RC(corio_future_free(f), 0);
}
