/* test_barrier.c - tests of corio_barrier, after asyncio's BarrierTests: every party goes on once the last
 * arrives, with its arrival index, round after round; waiters cancelled or timed out no longer count; reset and
 * abort fail the waiters with -EPIPE; misuse errors. */
#include "test.h"

#define N 5

struct bw {
    corio_barrier *b;
    int rounds;         /* waits to make, 1 if 0 */
    int64_t ms;         /* > 0: the first wait inside a timeout scope of ms */
    int rc[3], exit_rc; /* each wait's result */
    int done, next_rc;
    int *order, *n; /* if set: appended after each successful wait, as id */
    int id;
};

static int bw_waiter(void *arg) {
    struct bw *w = arg;
    int rounds = w->rounds ? w->rounds : 1;
    for (int r = 0; r < rounds; r++) {
        corio_timeout to;
        if (r == 0 && w->ms > 0) ASSERT_RC(corio_timeout_enter(&to, w->ms), 0);
        w->rc[r] = corio_barrier_wait(w->b);
        if (r == 0 && w->ms > 0) w->exit_rc = corio_timeout_exit(&to);
        if (w->rc[r] < 0) break;
        if (w->order) w->order[(*w->n)++] = w->id;
    }
    w->done = 1;
    w->next_rc = corio_yield();
    return 0;
}

/* ---- filling and passing ------------------------------------------------------------------------------------ */

/* test_barrier / test_filling_task_by_task: tasks arriving one at a time all wait until the last; each gets its
 * arrival index, the last one parties - 1 without suspending. */
static int fill_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(N);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(corio_barrier_parties(b), N);
    struct bw w[N - 1];
    corio_task *t[N - 1];
    for (int i = 0; i < N - 1; i++) {
        w[i] = (struct bw){.b = b};
        t[i] = test_spawn(bw_waiter, &w[i]);
        test_settle();
        ASSERT_EQ(corio_barrier_n_waiting(b), i + 1);
        ASSERT_EQ(w[i].done, 0);
    }
    ASSERT_RC(corio_barrier_free(b), -EBUSY);
    ASSERT_EQ(corio_barrier_wait(b), N - 1); /* the last arrival */
    ASSERT_EQ(corio_barrier_n_waiting(b), 0);
    for (int i = 0; i < N - 1; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_EQ(w[i].rc[0], i);
    }
    ASSERT_EQ(corio_barrier_broken(b), 0);
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_all_pass_with_arrival_index) { ASSERT_RC(corio_run(fill_main, NULL), 0); }

/* test_filling_tasks_wait_twice: the barrier is ready for the next round at once, and a round's waiters go on
 * only when every party has arrived again. */
static int twice_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(N);
    ASSERT_NOT_NULL(b);
    int order[2 * N], n = 0;
    struct bw w[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct bw){.b = b, .rounds = 2, .order = order, .n = &n, .id = i};
        t[i] = test_spawn(bw_waiter, &w[i]);
    }
    for (int i = 0; i < N; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_EQ(n, 2 * N);
    int seen[2] = {0, 0};
    for (int i = 0; i < 2 * N; i++) seen[i / N] |= 1 << order[i]; /* nobody went round twice before all went once */
    ASSERT_EQ(seen[0], (1 << N) - 1);
    ASSERT_EQ(seen[1], (1 << N) - 1);
    for (int i = 0; i < N; i++) {
        ASSERT_GE(w[i].rc[0], 0);
        ASSERT_GE(w[i].rc[1], 0);
    }
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_reused_round_after_round) { ASSERT_RC(corio_run(twice_main, NULL), 0); }

/* test_filling_one_task(_twice): a barrier of one never waits, even outside a task or for a cancelled caller. */
static int one_main(void *arg) {
    corio_barrier *b = arg;
    ASSERT_EQ(corio_barrier_wait(b), 0);
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_EQ(corio_barrier_wait(b), 0);
    return 0;
}

TEST(barrier_of_one_never_waits) {
    corio_barrier *b = corio_barrier_new(1);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(corio_barrier_wait(b), 0);
    ASSERT_RC(corio_run(one_main, b), 0);
    ASSERT_RC(corio_barrier_free(b), 0);
}

/* The last arrival completes the barrier even if it was cancelled: it need not suspend. */
static int cancelled_arrival(void *arg) {
    corio_barrier *b = arg;
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_EQ(corio_barrier_wait(b), 1);
    ASSERT_RC(corio_barrier_wait(b), -ECANCELED); /* the next round would wait */
    return 0;
}

static int last_cancelled_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(2);
    ASSERT_NOT_NULL(b);
    struct bw w = {.b = b};
    corio_task *t = test_spawn(bw_waiter, &w);
    test_settle();
    ASSERT_RC(corio_await(test_spawn(cancelled_arrival, b)), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(w.rc[0], 0);
    ASSERT_EQ(corio_barrier_n_waiting(b), 0);
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_last_arrival_completes_even_if_cancelled) { ASSERT_RC(corio_run(last_cancelled_main, NULL), 0); }

/* ---- cancellation and timeouts ------------------------------------------------------------------------------ */

/* test_filling_tasks_cancel_one: a waiter cancelled (or timed out) while the barrier fills no longer counts; it
 * takes another arrival to fill it, and indices stay 0..parties-1. */
static int cancel_one_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(3);
    ASSERT_NOT_NULL(b);
    struct bw w[4] = {{.b = b}, {.b = b}, {.b = b, .ms = 10}, {.b = b}};
    corio_task *t[4];
    for (int i = 0; i < 2; i++) t[i] = test_spawn(bw_waiter, &w[i]);
    test_settle();
    ASSERT_EQ(corio_barrier_n_waiting(b), 2);
    ASSERT_RC(corio_cancel(t[0]), 0);
    ASSERT_RC(corio_barrier_free(b), -EBUSY); /* t[0] was woken but has not run: it is still inside */
    ASSERT_RC(corio_await(t[0]), 0);
    ASSERT_RC(w[0].rc[0], -ECANCELED);
    ASSERT_EQ(corio_barrier_n_waiting(b), 1);
    t[2] = test_spawn(bw_waiter, &w[2]);
    ASSERT_RC(corio_await(t[2]), 0);
    ASSERT_RC(w[2].rc[0], -ETIMEDOUT);
    ASSERT_RC(w[2].exit_rc, -ETIMEDOUT);
    ASSERT_EQ(corio_barrier_n_waiting(b), 1);
    t[3] = test_spawn(bw_waiter, &w[3]);
    test_settle();
    ASSERT_EQ(w[1].done + w[3].done, 0);
    ASSERT_EQ(corio_barrier_wait(b), 2);
    ASSERT_RC(corio_await(t[1]), 0);
    ASSERT_RC(corio_await(t[3]), 0);
    ASSERT_EQ(w[1].rc[0], 0);
    ASSERT_EQ(w[3].rc[0], 1);
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_cancelled_waiter_no_longer_counts) { ASSERT_RC(corio_run(cancel_one_main, NULL), 0); }

/* A waiter let through and then cancelled before it runs keeps its index (lifetime rule 4), and an abort after
 * the round passed does not reach it either. */
static int let_through_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(3);
    ASSERT_NOT_NULL(b);
    struct bw w[2] = {{.b = b}, {.b = b}};
    corio_task *t[2];
    for (int i = 0; i < 2; i++) t[i] = test_spawn(bw_waiter, &w[i]);
    test_settle();
    ASSERT_EQ(corio_barrier_wait(b), 2);
    ASSERT_RC(corio_cancel(t[0]), 0);
    ASSERT_RC(corio_barrier_abort(b), 0);
    ASSERT_RC(corio_barrier_free(b), 0); /* the tasks let through never read it again */
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_EQ(w[i].rc[0], i);
    }
    ASSERT_RC(w[0].next_rc, -ECANCELED);
    return 0;
}

TEST(barrier_let_through_then_cancelled_keeps_index) { ASSERT_RC(corio_run(let_through_main, NULL), 0); }

/* A waiter woken by its cancel that has not run yet when the next arrival comes is not counted by it: that
 * arrival waits, and the one after fills the barrier. */
static int leaving_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(3);
    ASSERT_NOT_NULL(b);
    struct bw w[3] = {{.b = b}, {.b = b}, {.b = b}};
    corio_task *t[3];
    for (int i = 0; i < 2; i++) t[i] = test_spawn(bw_waiter, &w[i]);
    test_settle();
    ASSERT_RC(corio_cancel(t[0]), 0); /* runs only after we have arrived */
    t[2] = test_spawn(bw_waiter, &w[2]);
    ASSERT_EQ(corio_barrier_wait(b), 1); /* w[1] came first, then us, then w[2] */
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_RC(w[0].rc[0], -ECANCELED);
    ASSERT_EQ(w[1].rc[0], 0);
    ASSERT_EQ(w[2].rc[0], 2);
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_leaving_waiter_not_counted_by_next_arrival) { ASSERT_RC(corio_run(leaving_main, NULL), 0); }

/* ---- reset and abort ---------------------------------------------------------------------------------------- */

/* test_reset_barrier_while_tasks_waiting: the waiters fail with -EPIPE and the barrier is ready for a new round. */
static int reset_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(3);
    ASSERT_NOT_NULL(b);
    ASSERT_RC(corio_barrier_reset(b), 0); /* test_reset_barrier: harmless when empty */
    struct bw w[2] = {{.b = b}, {.b = b}};
    corio_task *t[2] = {test_spawn(bw_waiter, &w[0]), test_spawn(bw_waiter, &w[1])};
    test_settle();
    ASSERT_RC(corio_barrier_reset(b), 0);
    ASSERT_EQ(corio_barrier_n_waiting(b), 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc[0], -EPIPE);
    }
    ASSERT_EQ(corio_barrier_broken(b), 0);
    /* a full new round works */
    for (int i = 0; i < 2; i++) {
        w[i] = (struct bw){.b = b};
        t[i] = test_spawn(bw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_EQ(corio_barrier_wait(b), 2);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_EQ(w[i].rc[0], i);
    }
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_reset_fails_waiters_with_epipe) { ASSERT_RC(corio_run(reset_main, NULL), 0); }

/* test_abort_barrier(_when_exception_then_resetting): waiters and later waits fail with -EPIPE until reset. */
static int abort_main(void *arg) {
    (void)arg;
    corio_barrier *b = corio_barrier_new(3);
    ASSERT_NOT_NULL(b);
    struct bw w[2] = {{.b = b}, {.b = b}};
    corio_task *t[2] = {test_spawn(bw_waiter, &w[0]), test_spawn(bw_waiter, &w[1])};
    test_settle();
    ASSERT_RC(corio_barrier_abort(b), 0);
    ASSERT_EQ(corio_barrier_broken(b), 1);
    ASSERT_RC(corio_barrier_wait(b), -EPIPE);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc[0], -EPIPE);
    }
    ASSERT_RC(corio_barrier_wait(b), -EPIPE); /* still broken */
    ASSERT_RC(corio_barrier_reset(b), 0);
    ASSERT_EQ(corio_barrier_broken(b), 0);
    for (int i = 0; i < 2; i++) {
        w[i] = (struct bw){.b = b};
        t[i] = test_spawn(bw_waiter, &w[i]);
    }
    test_settle();
    ASSERT_EQ(corio_barrier_wait(b), 2);
    for (int i = 0; i < 2; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_RC(corio_barrier_free(b), 0);
    return 0;
}

TEST(barrier_abort_breaks_until_reset) { ASSERT_RC(corio_run(abort_main, NULL), 0); }

/* ---- misuse and lifetime ------------------------------------------------------------------------------------ */

TEST(barrier_bad_arguments) {
    errno = 0;
    ASSERT_NULL(corio_barrier_new(0));
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_NULL(corio_barrier_new((unsigned)INT32_MAX + 1U));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_RC(corio_barrier_wait(NULL), -EINVAL);
    ASSERT_RC(corio_barrier_reset(NULL), -EINVAL);
    ASSERT_RC(corio_barrier_abort(NULL), -EINVAL);
    ASSERT_RC(corio_barrier_parties(NULL), -EINVAL);
    ASSERT_RC(corio_barrier_n_waiting(NULL), -EINVAL);
    ASSERT_RC(corio_barrier_broken(NULL), -EINVAL);
    ASSERT_RC(corio_barrier_free(NULL), 0);
    corio_barrier *b = corio_barrier_new(2);
    ASSERT_NOT_NULL(b);
    ASSERT_RC(corio_barrier_wait(b), -EPERM); /* would wait, outside a task */
    ASSERT_EQ(corio_barrier_n_waiting(b), 0);
    ASSERT_RC(corio_barrier_free(b), 0);
}

/* Tasks still waiting when the main task returns are cancelled and leave the barrier, which can then be freed. */
static int loop_end_main(void *arg) {
    static struct bw w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct bw){.b = arg};
        corio_detach(test_spawn(bw_waiter, &w[i]));
    }
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(barrier_waiters_cancelled_at_loop_end) {
    corio_barrier *b = corio_barrier_new(5);
    ASSERT_NOT_NULL(b);
    ASSERT_RC(corio_run(loop_end_main, b), 0);
    ASSERT_EQ(corio_barrier_n_waiting(b), 0);
    ASSERT_RC(corio_barrier_free(b), 0);
}
