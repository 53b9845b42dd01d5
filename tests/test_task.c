/* test_task.c - tests of single tasks as corio.h specifies them: spawn, await, detach, cancel (and its races with
 * completion), yield and sleep ordering, names, spawn options, current/now, checkpoint, deep and wide spawning,
 * and the error-name table. Each case runs its own loop through corio_run. */
#include <limits.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

/* Most cases put their body in a main task that asserts as it goes and returns 0. */
static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* The status travels in the argument so one body serves every status a case needs. */
static int ret_status(void *arg) { return (int)(intptr_t)arg; }
#define STATUS(rc) ((void *)(intptr_t)(rc))

/* A task that sleeps ms and records what its sleep returned; ends with status unless the sleep failed. */
struct sleeper {
    int64_t ms;
    int status;
    int started, ended;
    int rc;
};
static int sleeper_fn(void *arg) {
    struct sleeper *s = arg;
    s->started = 1;
    s->rc = corio_sleep(s->ms);
    s->ended = 1;
    return s->rc < 0 ? s->rc : s->status;
}

/* A task that awaits another and records the result. */
struct awaiter {
    corio_task *target;
    int rc, rc2;
};
static int awaiter_fn(void *arg) {
    struct awaiter *w = arg;
    w->rc = corio_await(w->target);
    return w->rc;
}

/* An order log: tasks append one character each time they reach a step. */
static char order_log[256];
static size_t order_len;
static void log_step(char c) {
    ASSERT_LT(order_len, sizeof order_log - 1);
    order_log[order_len++] = c;
    order_log[order_len] = '\0';
}

/* ---- spawn and await --------------------------------------------------------------------------------------- */

static int main_spawn_await(void *arg) {
    (void)arg;
    corio_task *a = corio_spawn(ret_status, STATUS(-EIO));
    corio_task *b = corio_spawn(ret_status, STATUS(0));
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_RC(corio_await(a), -EIO);
    /* b ran to its end while we waited for a: awaiting an ended task returns at once. */
    ASSERT_EQ(corio_task_done(b), 1);
    ASSERT_RC(corio_await(b), 0);

    struct sleeper s = {.ms = 10, .status = -ENOENT};
    corio_task *c = corio_spawn(sleeper_fn, &s);
    ASSERT_NOT_NULL(c);
    ASSERT_RC(corio_await(c), -ENOENT);
    ASSERT_RC(s.rc, 0);
    return 0;
}
TEST(spawn_await_returns_status) { run_ok(main_spawn_await, NULL); }

TEST(spawn_outside_loop_is_eperm) {
    errno = 0;
    ASSERT_NULL(corio_spawn(ret_status, NULL));
    ASSERT_EQ(errno, EPERM);
    errno = 0;
    ASSERT_NULL(corio_spawn_opts(ret_status, NULL, NULL));
    ASSERT_EQ(errno, EPERM);
    /* The other calls that only make sense inside a loop fail cleanly too. */
    ASSERT_RC(corio_yield(), -EPERM);
    ASSERT_RC(corio_sleep(10), -EPERM);
    ASSERT_RC(corio_sleep(0), -EPERM);
    ASSERT_NULL(corio_current());
    ASSERT_EQ(corio_now(), 0);
}

static int main_spawn_null_fn(void *arg) {
    (void)arg;
    errno = 0;
    ASSERT_NULL(corio_spawn(NULL, NULL));
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_NULL(corio_spawn_opts(NULL, NULL, NULL));
    ASSERT_EQ(errno, EINVAL);
    corio_task_opts o = {.name = "x"};
    errno = 0;
    ASSERT_NULL(corio_spawn_opts(NULL, NULL, &o));
    ASSERT_EQ(errno, EINVAL);
    return 0;
}
TEST(spawn_null_fn_is_einval) { run_ok(main_spawn_null_fn, NULL); }

static int await_self_fn(void *arg) {
    (void)arg;
    return corio_await(corio_current());
}
static int main_await_bad(void *arg) {
    (void)arg;
    ASSERT_RC(corio_await(NULL), -EINVAL);
    ASSERT_RC(corio_await(corio_current()), -EDEADLK);
    corio_task *t = corio_spawn(await_self_fn, NULL);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_await(t), -EDEADLK);
    return 0;
}
TEST(await_null_and_self) { run_ok(main_await_bad, NULL); }

static int main_await_busy(void *arg) {
    (void)arg;
    struct sleeper s = {.ms = 30, .status = -EIO};
    corio_task *a = corio_spawn(sleeper_fn, &s);
    struct awaiter w = {.target = a};
    corio_task *wt = corio_spawn(awaiter_fn, &w);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(wt);
    ASSERT_RC(corio_yield(), 0); /* a is asleep, wt waits for it */
    ASSERT_EQ(s.started, 1);
    ASSERT_RC(corio_await(a), -EBUSY);
    ASSERT_EQ(corio_task_done(a), 0);
    ASSERT_RC(corio_await(wt), -EIO);
    ASSERT_RC(w.rc, -EIO);
    ASSERT_RC(s.rc, 0);
    return 0;
}
TEST(await_twice_is_ebusy) { run_ok(main_await_busy, NULL); }

/* ---- detach ------------------------------------------------------------------------------------------------ */

static int main_detach(void *arg) {
    (void)arg;
    struct sleeper s = {.ms = 20};
    corio_task *t = corio_spawn(sleeper_fn, &s);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_EQ(s.started, 1);
    corio_detach(t);
    /* Still asleep, so the handle is still valid memory; the API must refuse it, not join it. */
    ASSERT_EQ(s.ended, 0);
    ASSERT_RC(corio_await(t), -EINVAL);
    ASSERT_EQ(s.ended, 0);
    /* A detached task is not cancelled: it runs to its end and frees itself. */
    ASSERT_RC(corio_sleep(60), 0);
    ASSERT_EQ(s.ended, 1);
    ASSERT_RC(s.rc, 0);

    /* Detaching a task that has already ended frees it at once. */
    corio_task *u = corio_spawn(ret_status, STATUS(-EIO));
    ASSERT_NOT_NULL(u);
    while (corio_task_done(u) == 0) ASSERT_RC(corio_yield(), 0);
    corio_detach(u);

    corio_detach(NULL);
    return 0;
}
TEST(detach) { run_ok(main_detach, NULL); }

static int main_detach_twice(void *arg) {
    (void)arg;
    struct sleeper s = {.ms = 20};
    corio_task *t = corio_spawn(sleeper_fn, &s);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0);
    corio_detach(t);
    corio_detach(t); /* a detached handle is invalid for the API; detach ignores invalid handles */
    ASSERT_RC(corio_sleep(60), 0);
    ASSERT_EQ(s.ended, 1);
    return 0;
}
TEST(detach_twice_is_ignored) { run_ok(main_detach_twice, NULL); }

/* ---- cancel ------------------------------------------------------------------------------------------------ */

/* A waiter that is cancelled tries again while the target still runs: cancel is sticky, so both fail. */
static int twice_awaiter_fn(void *arg) {
    struct awaiter *w = arg;
    w->rc = corio_await(w->target);
    w->rc2 = corio_await(w->target);
    return w->rc;
}
static int main_cancelled_waiter(void *arg) {
    (void)arg;
    struct sleeper s = {.ms = 50, .status = -EIO};
    corio_task *a = corio_spawn(sleeper_fn, &s);
    struct awaiter w = {.target = a};
    corio_task *wt = corio_spawn(twice_awaiter_fn, &w);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(wt);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_cancel(wt), 0);
    ASSERT_RC(corio_await(wt), -ECANCELED);
    ASSERT_RC(w.rc, -ECANCELED);
    ASSERT_RC(w.rc2, -ECANCELED);
    /* The target was left alone and can still be awaited by someone else. */
    ASSERT_EQ(corio_task_done(a), 0);
    ASSERT_EQ(s.ended, 0);
    ASSERT_RC(corio_await(a), -EIO);
    ASSERT_RC(s.rc, 0);
    return 0;
}
TEST(cancelled_waiter_leaves_target_awaitable) { run_ok(main_cancelled_waiter, NULL); }

/* Awaiting a task that has already ended does not suspend, so it completes even for a cancelled caller. */
static int cancelled_then_await_fn(void *arg) {
    struct awaiter *w = arg;
    ASSERT_RC(corio_cancel(corio_current()), 0);
    w->rc = corio_await(w->target);
    return 0;
}
static int main_cancelled_awaits_done(void *arg) {
    (void)arg;
    corio_task *a = corio_spawn(ret_status, STATUS(-EIO));
    ASSERT_NOT_NULL(a);
    while (corio_task_done(a) == 0) ASSERT_RC(corio_yield(), 0);
    struct awaiter w = {.target = a};
    corio_task *wt = corio_spawn(cancelled_then_await_fn, &w);
    ASSERT_NOT_NULL(wt);
    ASSERT_RC(corio_await(wt), 0);
    ASSERT_RC(w.rc, -EIO);
    return 0;
}
TEST(cancelled_task_can_await_ended_task) { run_ok(main_cancelled_awaits_done, NULL); }

struct sticky {
    int rc_sleep1, rc_sleep2, rc_yield, rc_sleep0, rc_check;
};
static int sticky_fn(void *arg) {
    struct sticky *c = arg;
    c->rc_sleep1 = corio_sleep(10000);
    c->rc_sleep2 = corio_sleep(10);
    c->rc_yield = corio_yield();
    c->rc_sleep0 = corio_sleep(0);
    c->rc_check = corio_checkpoint();
    return c->rc_sleep1;
}
static int main_cancel_sleeping(void *arg) {
    (void)arg;
    struct sticky c = {0};
    corio_task *t = corio_spawn(sticky_fn, &c);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_cancel(t), 0); /* still running: delivered again, harmlessly */
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_RC(c.rc_sleep1, -ECANCELED);
    ASSERT_RC(c.rc_sleep2, -ECANCELED);
    ASSERT_RC(c.rc_yield, -ECANCELED);
    ASSERT_RC(c.rc_sleep0, -ECANCELED);
    ASSERT_RC(c.rc_check, -ECANCELED);
    return 0;
}
TEST(cancel_sleeping_task_is_sticky) { run_ok(main_cancel_sleeping, NULL); }

struct unstarted {
    int ran, rc_check, rc_sleep;
};
static int unstarted_fn(void *arg) {
    struct unstarted *u = arg;
    u->ran = 1;
    u->rc_check = corio_checkpoint();
    u->rc_sleep = corio_sleep(10);
    return u->rc_sleep;
}
static int main_cancel_unstarted(void *arg) {
    (void)arg;
    struct unstarted u = {0};
    corio_task *t = corio_spawn(unstarted_fn, &u);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_EQ(u.ran, 0);
    ASSERT_EQ(corio_task_done(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_EQ(u.ran, 1);
    ASSERT_RC(u.rc_check, -ECANCELED);
    ASSERT_RC(u.rc_sleep, -ECANCELED);
    return 0;
}
TEST(cancel_ready_task_before_it_starts) { run_ok(main_cancel_unstarted, NULL); }

static int main_cancel_finished(void *arg) {
    (void)arg;
    corio_task *t = corio_spawn(ret_status, STATUS(-EIO));
    ASSERT_NOT_NULL(t);
    while (corio_task_done(t) == 0) ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_cancel(t), -ESRCH);
    ASSERT_RC(corio_await(t), -EIO);
    return 0;
}
TEST(cancel_finished_task_is_esrch) { run_ok(main_cancel_finished, NULL); }

struct selfcancel {
    int rc_cancel, rc_check, rc_sleep, rc_yield, child_status;
};
static int self_cancel_fn(void *arg) {
    struct selfcancel *c = arg;
    c->rc_cancel = corio_cancel(corio_current());
    c->rc_check = corio_checkpoint();
    c->rc_sleep = corio_sleep(10);
    c->rc_yield = corio_yield();
    /* Calls that need not suspend still work in a cancelled task. */
    corio_task *child = corio_spawn(ret_status, STATUS(-ENOENT));
    ASSERT_NOT_NULL(child);
    ASSERT_EQ(corio_task_done(child), 0);
    corio_detach(child);
    return 0;
}
static int main_cancel_self(void *arg) {
    (void)arg;
    struct selfcancel c = {0};
    corio_task *t = corio_spawn(self_cancel_fn, &c);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(c.rc_cancel, 0);
    ASSERT_RC(c.rc_check, -ECANCELED);
    ASSERT_RC(c.rc_sleep, -ECANCELED);
    ASSERT_RC(c.rc_yield, -ECANCELED);
    return 0;
}
TEST(cancel_self) { run_ok(main_cancel_self, NULL); }

static int main_cancel_null(void *arg) {
    (void)arg;
    ASSERT_RC(corio_cancel(NULL), -EINVAL);
    ASSERT_RC(corio_task_done(NULL), -EINVAL);
    return 0;
}
TEST(cancel_null_is_einval) {
    ASSERT_RC(corio_cancel(NULL), -EINVAL);
    run_ok(main_cancel_null, NULL);
}

/* Cancellation racing completion. A sleeps 5 ms then ends with A_DONE; W awaits A; C sleeps 5 ms too, yields
 * `yields` times and then cancels A or W. Depending on the order the timers fire and the tasks run, C's cancel may
 * land before A ran, after A was woken but before it ran, or after A ended. Whatever the order, the outcome must
 * be consistent and nothing may hang or crash. Handles must stay valid for C: main awaits W only after C, and C
 * leaves A alone once W's await has returned (and so freed A); RACE_SKIPPED records that. */
#define A_DONE (-EIO)
#define RACE_SKIPPED 1000
struct race {
    corio_task *a, *w;
    int cancel_w, yields;
    int w_returned;
    int a_rc, w_rc, cancel_rc;
};
static int race_a(void *arg) {
    struct race *r = arg;
    r->a_rc = corio_sleep(5);
    return r->a_rc == 0 ? A_DONE : r->a_rc;
}
static int race_w(void *arg) {
    struct race *r = arg;
    r->w_rc = corio_await(r->a);
    r->w_returned = 1;
    return r->w_rc;
}
static int race_c(void *arg) {
    struct race *r = arg;
    ASSERT_RC(corio_sleep(5), 0);
    for (int i = 0; i < r->yields; i++) ASSERT_RC(corio_yield(), 0);
    if (!r->cancel_w && r->w_returned)
        r->cancel_rc = RACE_SKIPPED;
    else
        r->cancel_rc = corio_cancel(r->cancel_w ? r->w : r->a);
    return 0;
}
static int main_cancel_race(void *arg) {
    (void)arg;
    for (int cancel_w = 0; cancel_w < 2; cancel_w++)
        for (int c_first = 0; c_first < 2; c_first++)
            for (int yields = 0; yields < 4; yields++) {
                struct race r = {.cancel_w = cancel_w, .yields = yields, .a_rc = 1, .w_rc = 1, .cancel_rc = 1};
                corio_task *c = c_first ? corio_spawn(race_c, &r) : NULL;
                r.a = corio_spawn(race_a, &r);
                r.w = corio_spawn(race_w, &r);
                if (!c_first) c = corio_spawn(race_c, &r);
                ASSERT_NOT_NULL(c);
                ASSERT_NOT_NULL(r.a);
                ASSERT_NOT_NULL(r.w);
                ASSERT_RC(corio_await(c), 0);
                ASSERT_RC(corio_await(r.w), r.w_rc);
                ASSERT_TRUE(r.cancel_rc == 0 || r.cancel_rc == -ESRCH || r.cancel_rc == RACE_SKIPPED);
                if (!cancel_w) {
                    /* W was never cancelled, so it saw A's real end, whichever it was. */
                    ASSERT_TRUE(r.a_rc == 0 || r.a_rc == -ECANCELED);
                    if (r.cancel_rc != 0) ASSERT_RC(r.a_rc, 0);
                    ASSERT_RC(r.w_rc, r.a_rc == 0 ? A_DONE : r.a_rc);
                } else {
                    /* A was never cancelled. W either got A's status (and A is freed) or was cancelled first
                     * (and A must still be awaitable). */
                    ASSERT_TRUE(r.cancel_rc != RACE_SKIPPED);
                    ASSERT_TRUE(r.w_rc == A_DONE || r.w_rc == -ECANCELED);
                    if (r.cancel_rc == -ESRCH) ASSERT_RC(r.w_rc, A_DONE);
                    if (r.w_rc == -ECANCELED) ASSERT_RC(corio_await(r.a), A_DONE);
                    ASSERT_RC(r.a_rc, 0);
                }
            }
    return 0;
}
TEST(cancel_racing_completion_is_consistent) { run_ok(main_cancel_race, NULL); }

/* ---- yield and sleep --------------------------------------------------------------------------------------- */

static int yielder_fn(void *arg) {
    char id = (char)(intptr_t)arg;
    for (int step = 0; step < 3; step++) {
        log_step(id);
        if (step < 2) ASSERT_RC(corio_yield(), 0);
    }
    return 0;
}
static int main_yield_order(void *arg) {
    (void)arg;
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = corio_spawn(yielder_fn, STATUS('a' + i));
        ASSERT_NOT_NULL(t[i]);
    }
    for (int step = 0; step < 3; step++) {
        log_step('M');
        ASSERT_RC(corio_yield(), 0);
    }
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_STREQ(order_log, "MabcMabcMabc");
    return 0;
}
TEST(yield_runs_every_other_ready_task_once) { run_ok(main_yield_order, NULL); }

static int sleep0_fn(void *arg) {
    char id = (char)(intptr_t)arg;
    log_step(id);
    ASSERT_RC(corio_sleep(0), 0);
    log_step((char)(id - 'a' + 'A'));
    return 0;
}
static int main_sleep0(void *arg) {
    (void)arg;
    corio_task *a = corio_spawn(sleep0_fn, STATUS('a'));
    corio_task *b = corio_spawn(sleep0_fn, STATUS('b'));
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    log_step('M');
    ASSERT_RC(corio_sleep(0), 0);
    log_step('m');
    ASSERT_RC(corio_await(a), 0);
    ASSERT_RC(corio_await(b), 0);
    ASSERT_STREQ(order_log, "MabmAB");
    return 0;
}
TEST(sleep_zero_is_yield) { run_ok(main_sleep0, NULL); }

struct timed {
    char id;
    int64_t ms;
};
static int timed_fn(void *arg) {
    struct timed *t = arg;
    ASSERT_RC(corio_sleep(t->ms), 0);
    log_step(t->id);
    return 0;
}
static int main_sleep_order(void *arg) {
    (void)arg;
    /* Each sleep counts from its own start, so the steps must outlast the gap between the starts: under TSan a
     * task's first start creates its fiber, which once took 10 ms on this VM */
    int64_t step = test_bound_ms(10);
    struct timed spec[3] = {{'3', 3 * step}, {'1', step}, {'2', 2 * step}};
    corio_task *t[3];
    for (int i = 0; i < 3; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(timed_fn, &spec[i]));
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_STREQ(order_log, "123");

    /* Equal deadlines wake in the order the sleeps began, which is spawn order. */
    order_len = 0;
    order_log[0] = '\0';
    struct timed eq[5];
    corio_task *u[5];
    for (int i = 0; i < 5; i++) {
        eq[i] = (struct timed){(char)('a' + i), 20};
        ASSERT_NOT_NULL(u[i] = corio_spawn(timed_fn, &eq[i]));
    }
    for (int i = 4; i >= 0; i--) ASSERT_RC(corio_await(u[i]), 0);
    ASSERT_STREQ(order_log, "abcde");
    return 0;
}
TEST(sleep_wakes_in_deadline_order_then_fifo) { run_ok(main_sleep_order, NULL); }

static int main_sleep_bad(void *arg) {
    (void)arg;
    ASSERT_RC(corio_sleep(-1), -EINVAL);
    ASSERT_RC(corio_sleep(INT64_MIN), -EINVAL);
    return 0;
}
TEST(sleep_negative_is_einval) { run_ok(main_sleep_bad, NULL); }

/* The longest sleep must neither overflow into "already due" nor break the timer structure. */
static int long_sleep_fn(void *arg) {
    int *rc = arg;
    *rc = corio_sleep(INT64_MAX);
    return 0;
}
static int main_sleep_huge(void *arg) {
    (void)arg;
    int rc = 1;
    corio_task *t = corio_spawn(long_sleep_fn, &rc);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_EQ(rc, 1); /* still asleep */
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(rc, -ECANCELED);
    return 0;
}
TEST(sleep_int64_max_does_not_overflow) { run_ok(main_sleep_huge, NULL); }

static int main_sleep_1s(void *arg) {
    (void)arg;
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_sleep(1000), 0);
    int64_t dt = test_now_ms() - t0;
    /* 1 ms of slack: the loop's clock is read once per iteration, so a deadline may start from a reading taken
     * just before t0. */
    ASSERT_GE(dt, 999);
    ASSERT_LT(dt, 3000);
    return 0;
}
TEST(sleep_one_second_takes_about_one_second) { run_ok(main_sleep_1s, NULL); }

/* The loop must fire timers even while other tasks never stop yielding: a busy task cannot starve sleepers. */
static int spin_until_fn(void *arg) {
    volatile int *flag = arg;
    while (!*flag) ASSERT_RC(corio_yield(), 0);
    return 0;
}
static int set_after_sleep_fn(void *arg) {
    ASSERT_RC(corio_sleep(10), 0);
    *(volatile int *)arg = 1;
    return 0;
}
static int main_no_starvation(void *arg) {
    (void)arg;
    volatile int flag = 0;
    corio_task *spin[3];
    for (int i = 0; i < 3; i++) ASSERT_NOT_NULL(spin[i] = corio_spawn(spin_until_fn, (void *)&flag));
    corio_task *setter = corio_spawn(set_after_sleep_fn, (void *)&flag);
    ASSERT_NOT_NULL(setter);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_await(setter), 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_await(spin[i]), 0);
    return 0;
}
TEST(timers_fire_while_tasks_keep_yielding) { run_ok(main_no_starvation, NULL); }

static int main_yield_alone(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) ASSERT_RC(corio_yield(), 0);
    for (int i = 0; i < 1000; i++) ASSERT_RC(corio_sleep(0), 0);
    return 0;
}
TEST(yield_with_nothing_else_ready) { run_ok(main_yield_alone, NULL); }

/* ---- current, now, names, options ------------------------------------------------------------------------------ */

struct who {
    corio_task *self_seen, *handle, *main;
};
static int who_fn(void *arg) {
    struct who *w = arg;
    w->self_seen = corio_current();
    return 0;
}
static int main_current_now(void *arg) {
    (void)arg;
    struct who w = {0};
    w.main = corio_current();
    ASSERT_NOT_NULL(w.main);
    ASSERT_EQ(corio_task_done(w.main), 0);
    w.handle = corio_spawn(who_fn, &w);
    ASSERT_NOT_NULL(w.handle);
    corio_task *h = w.handle;
    ASSERT_RC(corio_await(h), 0);
    ASSERT_PTR_EQ(w.self_seen, h);
    ASSERT_PTR_EQ(corio_current(), w.main);

    int64_t n0 = corio_now();
    ASSERT_GE(n0, 0);
    /* Read once per iteration: without a suspension it does not move, however long we spin. */
    int64_t spin = test_now_ms();
    while (test_now_ms() - spin < 3) {
    }
    ASSERT_EQ(corio_now(), n0);
    ASSERT_RC(corio_sleep(20), 0);
    int64_t n1 = corio_now();
    ASSERT_GE(n1 - n0, 20);
    ASSERT_LT(n1 - n0, 2000);
    return 0;
}
TEST(current_and_now) {
    ASSERT_NULL(corio_current());
    ASSERT_EQ(corio_now(), 0);
    run_ok(main_current_now, NULL);
    ASSERT_NULL(corio_current());
    ASSERT_EQ(corio_now(), 0);
}

static int own_name_fn(void *arg) {
    const char **seen = arg;
    *seen = corio_task_name(corio_current());
    ASSERT_NOT_NULL(*seen);
    ASSERT_STREQ(*seen, "opt-name");
    return 0;
}
static int main_names(void *arg) {
    (void)arg;
    corio_task *t = corio_spawn(ret_status, STATUS(0));
    ASSERT_NOT_NULL(t);
    ASSERT_STREQ(corio_task_name(t), "");
    ASSERT_RC(corio_task_set_name(t, "worker"), 0);
    ASSERT_STREQ(corio_task_name(t), "worker");

    /* The name is copied. */
    char buf[64];
    strcpy(buf, "copied");
    ASSERT_RC(corio_task_set_name(t, buf), 0);
    strcpy(buf, "changed");
    ASSERT_STREQ(corio_task_name(t), "copied");

    /* At most 31 bytes are kept. */
    const char *n31 = "abcdefghijklmnopqrstuvwxyz01234";
    ASSERT_EQ(strlen(n31), 31);
    ASSERT_RC(corio_task_set_name(t, n31), 0);
    ASSERT_STREQ(corio_task_name(t), n31);
    const char *n40 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789wxyz";
    ASSERT_RC(corio_task_set_name(t, n40), 0);
    ASSERT_EQ(strlen(corio_task_name(t)), 31);
    ASSERT_EQ(memcmp(corio_task_name(t), n40, 31), 0);

    ASSERT_RC(corio_task_set_name(t, NULL), 0);
    ASSERT_STREQ(corio_task_name(t), "");

    ASSERT_RC(corio_task_set_name(NULL, "x"), -EINVAL);
    ASSERT_NULL(corio_task_name(NULL));

    /* The current task can be named too. */
    ASSERT_RC(corio_task_set_name(corio_current(), "main"), 0);
    ASSERT_STREQ(corio_task_name(corio_current()), "main");
    ASSERT_RC(corio_await(t), 0);

    const char *seen = NULL;
    corio_task_opts o = {.name = "opt-name"};
    corio_task *u = corio_spawn_opts(own_name_fn, &seen, &o);
    ASSERT_NOT_NULL(u);
    ASSERT_STREQ(corio_task_name(u), "opt-name");
    ASSERT_RC(corio_await(u), 0);

    corio_task_opts longo = {.name = n40};
    corio_task *v = corio_spawn_opts(ret_status, STATUS(0), &longo);
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(strlen(corio_task_name(v)), 31);
    ASSERT_RC(corio_await(v), 0);
    return 0;
}
TEST(task_names) { run_ok(main_names, NULL); }

/* Touches n bytes of its own stack, every page of it, so a stack smaller than asked for would fault. */
static int use_stack_fn(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    volatile char buf[n];
    for (size_t i = 0; i < n; i += 256) buf[i] = (char)i;
    int sum = 0;
    for (size_t i = 0; i < n; i += 256) sum += buf[i];
    return sum == INT_MIN ? -EIO : 0; /* keeps the reads alive */
}
static int main_spawn_opts(void *arg) {
    (void)arg;
    size_t bad[] = {1, 1024, 16 * 1024 - 1, ((size_t)1 << 30) + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        corio_task_opts o = {.stack_size = bad[i]};
        errno = 0;
        ASSERT_NULL(corio_spawn_opts(ret_status, NULL, &o));
        ASSERT_EQ(errno, EINVAL);
    }
    corio_task *t = corio_spawn_opts(ret_status, STATUS(-EIO), NULL);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_await(t), -EIO);
    corio_task_opts dflt = {0};
    ASSERT_NOT_NULL(t = corio_spawn_opts(ret_status, STATUS(0), &dflt));
    ASSERT_RC(corio_await(t), 0);
    corio_task_opts small = {.stack_size = 16 * 1024};
    ASSERT_NOT_NULL(t = corio_spawn_opts(ret_status, STATUS(0), &small));
    ASSERT_RC(corio_await(t), 0);
    corio_task_opts odd = {.stack_size = 20000}; /* rounded up to pages */
    ASSERT_NOT_NULL(t = corio_spawn_opts(ret_status, STATUS(0), &odd));
    ASSERT_RC(corio_await(t), 0);
    corio_task_opts big = {.stack_size = 1024 * 1024};
    ASSERT_NOT_NULL(t = corio_spawn_opts(use_stack_fn, (void *)(uintptr_t)(512 * 1024), &big));
    ASSERT_RC(corio_await(t), 0);
    corio_task_opts max = {.stack_size = (size_t)1 << 30};
    ASSERT_NOT_NULL(t = corio_spawn_opts(ret_status, STATUS(0), &max));
    ASSERT_RC(corio_await(t), 0);
    return 0;
}
TEST(spawn_opts_stack_size) { run_ok(main_spawn_opts, NULL); }

/* ---- done, checkpoint ---------------------------------------------------------------------------------------- */

static int main_task_done(void *arg) {
    (void)arg;
    struct sleeper s = {.ms = 10, .status = -EIO};
    corio_task *t = corio_spawn(sleeper_fn, &s);
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(corio_task_done(t), 0);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_EQ(corio_task_done(t), 0);
    ASSERT_RC(corio_sleep(40), 0);
    ASSERT_EQ(corio_task_done(t), 1);
    ASSERT_EQ(corio_task_done(t), 1);
    ASSERT_RC(corio_await(t), -EIO);
    ASSERT_RC(corio_task_done(NULL), -EINVAL);
    return 0;
}
TEST(task_done) { run_ok(main_task_done, NULL); }

static int set_flag_fn(void *arg) {
    *(int *)arg = 1;
    return 0;
}
static int main_checkpoint(void *arg) {
    (void)arg;
    int flag = 0;
    corio_task *t = corio_spawn(set_flag_fn, &flag);
    ASSERT_NOT_NULL(t);
    for (int i = 0; i < 100; i++) ASSERT_RC(corio_checkpoint(), 0);
    ASSERT_EQ(flag, 0); /* it never suspended, so t never ran */
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(flag, 1);
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_checkpoint(), -ECANCELED);
    ASSERT_RC(corio_checkpoint(), -ECANCELED);
    return 0;
}
TEST(checkpoint) { run_ok(main_checkpoint, NULL); }

/* ---- many tasks -------------------------------------------------------------------------------------------- */

static int chain_count;
static int chain_fn(void *arg) {
    intptr_t depth = (intptr_t)arg;
    chain_count++;
    if (depth == 1) return -EIO;
    corio_task *t = corio_spawn(chain_fn, (void *)(depth - 1));
    ASSERT_NOT_NULL(t);
    return corio_await(t);
}
static int tree_count;
static int tree_fn(void *arg) {
    intptr_t depth = (intptr_t)arg;
    tree_count++;
    if (depth == 0) return corio_sleep(1);
    corio_task *t[4];
    for (int i = 0; i < 4; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(tree_fn, (void *)(depth - 1)));
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_await(t[i]), 0);
    return 0;
}
static int main_nested(void *arg) {
    (void)arg;
    corio_task *t = corio_spawn(chain_fn, (void *)(intptr_t)100);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_await(t), -EIO);
    ASSERT_EQ(chain_count, 100);

    t = corio_spawn(tree_fn, (void *)(intptr_t)4);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(tree_count, 1 + 4 + 16 + 64 + 256);
    return 0;
}
TEST(nested_spawns_chain_and_tree) { run_ok(main_nested, NULL); }

/* Stacks and task structs are recycled: many short tasks one after another, each writing deep into its stack,
 * then a burst large enough to overflow the pool's hot cache, an idle pause (when the loop trims the cache) and
 * another burst on the trimmed stacks. */
static int main_recycle(void *arg) {
    (void)arg;
    for (int i = 0; i < 5000; i++) {
        corio_task *t = corio_spawn(use_stack_fn, (void *)(uintptr_t)(16 * 1024));
        ASSERT_NOT_NULL(t);
        ASSERT_RC(corio_await(t), 0);
    }
    corio_task *t[300];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 300; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(use_stack_fn, (void *)(uintptr_t)(32 * 1024)));
        for (int i = 0; i < 300; i++) ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(corio_sleep(5), 0);
    }
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.tasks, 1);
    ASSERT_LE(st.stacks_in_use, 1);
    ASSERT_LE(st.stacks_in_use + st.stacks_cached, 1000); /* reused, not one per spawn */
    return 0;
}
TEST(stacks_and_tasks_are_recycled) { run_ok(main_recycle, NULL); }

/* Touches 48 KiB of its stack and notes the lowest page it touched in *arg. */
static int touch_and_note(void *arg) {
    volatile char buf[48 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 256) buf[i] = (char)i;
    *(uintptr_t *)arg = (uintptr_t)&buf[0];
    return buf[256] == 1 ? -EIO : 0;
}

/* How many of the pages at addr[0..n) are resident (mincore, which sanitizers' shadow memory does not skew). */
static int resident_pages(const uintptr_t *addr, int n) {
    long pg = sysconf(_SC_PAGESIZE);
    int count = 0;
    for (int i = 0; i < n; i++) {
        unsigned char v = 0;
        ASSERT_EQ(mincore((void *)(addr[i] & ~(uintptr_t)(pg - 1)), 1, &v), 0);
        count += v & 1;
    }
    return count;
}

/* The loop gives idle stacks back to the kernel a share at a time that fits its sleep, so a loop that never sleeps
 * longer than a millisecond still gets there: 1,000 tasks touch 48 KiB each and end, then 1 ms sleeps follow. */
static int main_trim_between_timers(void *arg) {
    (void)arg;
    enum { N = 1000 };
    corio_task **t = malloc(N * sizeof *t);
    uintptr_t *low = calloc(N, sizeof *low);
    ASSERT_NOT_NULL(t);
    ASSERT_NOT_NULL(low);
    for (int i = 0; i < N; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(touch_and_note, &low[i]));
    for (int i = 0; i < N; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_GT(resident_pages(low, N), N * 3 / 4); /* the stacks are cached with their pages */
    int left = N;
    for (int i = 0; i < 500 && left > N / 10; i++) {
        ASSERT_RC(corio_sleep(1), 0);
        left = resident_pages(low, N);
    }
    ASSERT_LE(left, N / 10); /* all but the few kept hot (64) went back */
    free(t);
    free(low);
    return 0;
}
TEST(idle_stacks_are_trimmed_between_short_timers) { run_ok(main_trim_between_timers, NULL); }

#define MANY (test_small() ? 5000 : 100000) /* valgrind and qemu: each task costs 50x more */
static int many_fn(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    int rc = corio_sleep(10);
    if (rc < 0) return rc;
    return i % 7 == 0 ? -EIO : 0;
}
static int main_many(void *arg) {
    (void)arg;
    corio_task **t = malloc(MANY * sizeof *t);
    ASSERT_NOT_NULL(t);
    for (uintptr_t i = 0; i < MANY; i++) {
        t[i] = corio_spawn(many_fn, (void *)i);
        if (!t[i]) TEST_FAIL_("spawn %lu of %d failed: %s", (unsigned long)i, (int)MANY, strerror(errno));
    }
    for (uintptr_t i = 0; i < MANY; i++) ASSERT_RC(corio_await(t[i]), i % 7 == 0 ? -EIO : 0);
    free(t);
    return 0;
}
TEST_TIMEOUT(hundred_thousand_sleeping_tasks, 120) { run_ok(main_many, NULL); }

/* ---- error names ------------------------------------------------------------------------------------------- */

static int contains_ci(const char *s, const char *w) {
    size_t n = strlen(w);
    for (; *s; s++)
        if (strncasecmp(s, w, n) == 0) return 1;
    return 0;
}
TEST(strerror_and_err_name) {
    ASSERT_STREQ(corio_err_name(0), "OK");
    ASSERT_STREQ(corio_err_name(-ECANCELED), "ECANCELED");
    ASSERT_STREQ(corio_err_name(-ETIMEDOUT), "ETIMEDOUT");
    /* Every code the API itself returns has a name. */
    ASSERT_STREQ(corio_err_name(-EPERM), "EPERM");
    ASSERT_STREQ(corio_err_name(-EINVAL), "EINVAL");
    ASSERT_STREQ(corio_err_name(-EBUSY), "EBUSY");
    ASSERT_STREQ(corio_err_name(-EDEADLK), "EDEADLK");
    ASSERT_STREQ(corio_err_name(-ESRCH), "ESRCH");
    ASSERT_STREQ(corio_err_name(-ENOMEM), "ENOMEM");
    ASSERT_STREQ(corio_err_name(-EPIPE), "EPIPE");
    ASSERT_STREQ(corio_err_name(-EAGAIN), "EAGAIN");
    ASSERT_STREQ(corio_err_name(-999999), "UNKNOWN");
    ASSERT_STREQ(corio_err_name(INT_MIN), "UNKNOWN");

    int codes[] = {0, -ECANCELED, -ETIMEDOUT, -EINVAL, -999999, INT_MIN, INT_MAX, 12345};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = corio_strerror(codes[i]);
        ASSERT_NOT_NULL(s);
        ASSERT_NOT_NULL(corio_err_name(codes[i]));
        if (codes[i] != INT_MAX && codes[i] != 12345) ASSERT_GT(strlen(s), 0);
    }
    ASSERT_TRUE(contains_ci(corio_strerror(-ECANCELED), "cancel"));
    ASSERT_TRUE(contains_ci(corio_strerror(-ETIMEDOUT), "timed out"));
    ASSERT_TRUE(strcmp(corio_strerror(-ECANCELED), corio_strerror(-ETIMEDOUT)) != 0);
    ASSERT_TRUE(strcmp(corio_strerror(0), corio_strerror(-ECANCELED)) != 0);
}

/* ---- results are never lost to a deadline (asyncio's test_waitfor) ------------------------------------------- */

/* A task that, cancelled, still finishes with its own status: a result (42), or its own error. */
static int stubborn(void *arg) {
    int status = (int)(intptr_t)arg;
    (void)corio_sleep(10000);
    return status;
}
static int main_wait_for_result_wins(void *arg) {
    (void)arg;
    ASSERT_RC(corio_wait_for(test_spawn(stubborn, (void *)(intptr_t)42), 20), 42);
    ASSERT_RC(corio_wait_for(test_spawn(stubborn, (void *)(intptr_t)-EIO), 20), -EIO);
    ASSERT_RC(corio_wait_for(test_spawn(stubborn, (void *)(intptr_t)0), 20), 0);
    ASSERT_RC(corio_wait_for(test_spawn(stubborn, (void *)(intptr_t)-ECANCELED), 20), -ETIMEDOUT);
    return 0;
}
TEST(wait_for_keeps_a_status_that_arrived_at_the_deadline) { run_ok(main_wait_for_result_wins, NULL); }

/* ---- corio_wait_any (asyncio.wait FIRST_COMPLETED) -------------------------------------------------------------- */

static int sleep_then(void *arg) {
    int ms = (int)(intptr_t)arg;
    int rc = corio_sleep(ms);
    return rc < 0 ? rc : ms;
}
static int main_wait_any(void *arg) {
    (void)arg;
    corio_task *t[3] = {test_spawn(sleep_then, (void *)(intptr_t)200), test_spawn(sleep_then, (void *)(intptr_t)20),
                        test_spawn(sleep_then, (void *)(intptr_t)100)};
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_wait_any(t, 3, -1), 1);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(150));
    ASSERT_RC(corio_task_done(t[1]), 1);
    ASSERT_RC(corio_task_done(t[0]), 0); /* neither cancelled nor freed */
    ASSERT_RC(corio_wait_any(t, 3, -1), 1); /* an ended one is reported at once */
    ASSERT_RC(corio_await(t[1]), 20);
    corio_task *rest[2] = {t[0], t[2]};
    ASSERT_RC(corio_wait_any(rest, 2, 10), -ETIMEDOUT);
    ASSERT_RC(corio_wait_any(rest, 2, -1), 1);
    ASSERT_RC(corio_await(t[2]), 100);
    /* cancelled while waiting: the tasks run on */
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 10), 0);
    ASSERT_RC(corio_wait_any(rest, 1, -1), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_task_done(t[0]), 0);
    ASSERT_RC(corio_await(t[0]), 200);
    /* bad arguments touch nothing */
    corio_task *u = test_spawn(sleep_then, (void *)(intptr_t)1);
    corio_task *bad[2] = {u, NULL};
    ASSERT_RC(corio_wait_any(NULL, 1, -1), -EINVAL);
    ASSERT_RC(corio_wait_any(bad, 0, -1), -EINVAL);
    ASSERT_RC(corio_wait_any(bad, 2, -1), -EINVAL);
    corio_task *me[1] = {corio_current()};
    ASSERT_RC(corio_wait_any(me, 1, -1), -EDEADLK);
    ASSERT_RC(corio_await(u), 1);
    return 0;
}
TEST(wait_any_returns_the_first_to_end) { run_ok(main_wait_any, NULL); }
TEST(wait_any_outside_a_task_is_eperm) {
    corio_task *t = NULL;
    ASSERT_RC(corio_wait_any(&t, 1, -1), -EPERM);
}

/* ---- wake-up order: the ready queue is FIFO ----------------------------------------------------------------------
 * Spawned, woken and cancelled tasks join the back of the ready queue, so they run in the order that happened. Each
 * case checks one of those paths with its own order log, so a reordered queue fails several of them. */

static void log_reset(void) {
    order_len = 0;
    order_log[0] = '\0';
}

/* Logs its id, yields, logs its id in capitals. */
static int twice_fn(void *arg) {
    char id = (char)(intptr_t)arg;
    log_step(id);
    ASSERT_RC(corio_yield(), 0);
    log_step((char)(id - 'a' + 'A'));
    return 0;
}
static int main_spawn_order(void *arg) {
    (void)arg;
    log_reset();
    corio_task *t[6];
    for (int i = 0; i < 6; i++) t[i] = test_spawn(twice_fn, STATUS('a' + i));
    ASSERT_RC(corio_gather(t, 6, NULL), 0);
    ASSERT_STREQ(order_log, "abcdefABCDEF");
    return 0;
}
TEST(spawned_tasks_start_in_spawn_order) { run_ok(main_spawn_order, NULL); }

/* Waits on its event, then logs its id. */
struct woken {
    char id;
    corio_event *e;
};
static int woken_fn(void *arg) {
    const struct woken *w = arg;
    int rc = corio_event_wait(w->e);
    log_step(w->id);
    return rc;
}
static int main_wake_order(void *arg) {
    (void)arg;
    log_reset();
    struct woken w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct woken){(char)('a' + i), corio_event_new()};
        ASSERT_NOT_NULL(w[i].e);
        t[i] = test_spawn(woken_fn, &w[i]);
    }
    test_settle();
    /* woken out of their arrival order, all in one go: they run in the order they were woken */
    const char *order = "caebd";
    for (const char *p = order; *p; p++) corio_event_set(w[*p - 'a'].e);
    ASSERT_RC(corio_gather(t, 5, NULL), 0);
    ASSERT_STREQ(order_log, order);
    for (int i = 0; i < 5; i++) ASSERT_RC(corio_event_free(w[i].e), 0);
    return 0;
}
TEST(woken_tasks_run_in_wake_order) { run_ok(main_wake_order, NULL); }

/* Sleeps (until cancelled), then logs its id. */
static int cancelled_fn(void *arg) {
    int rc = corio_sleep(100000);
    log_step((char)(intptr_t)arg);
    return rc;
}
static int main_cancel_order(void *arg) {
    (void)arg;
    log_reset();
    corio_task *t[5];
    for (int i = 0; i < 5; i++) t[i] = test_spawn(cancelled_fn, STATUS('a' + i));
    test_settle();
    const char *order = "dbaec";
    for (const char *p = order; *p; p++) ASSERT_RC(corio_cancel(t[*p - 'a']), 0);
    int st[5];
    ASSERT_RC(corio_gather(t, 5, st), 0);
    for (int i = 0; i < 5; i++) ASSERT_RC(st[i], -ECANCELED);
    ASSERT_STREQ(order_log, order);
    return 0;
}
TEST(cancelled_tasks_run_in_cancel_order) { run_ok(main_cancel_order, NULL); }

/* Three rounds of: log its id, yield. */
static int rounds_fn(void *arg) {
    char id = (char)(intptr_t)arg;
    for (int step = 0; step < 3; step++) {
        log_step(id);
        if (step < 2) ASSERT_RC(corio_yield(), 0);
    }
    return 0;
}
static int main_yield_rounds(void *arg) {
    (void)arg;
    log_reset();
    corio_task *a = test_spawn(rounds_fn, STATUS('a'));
    corio_task *b = test_spawn(rounds_fn, STATUS('b'));
    ASSERT_RC(corio_yield(), 0); /* a and b take one turn each */
    /* c joins behind a and b, which are queued behind this task: rounds go on a b c */
    corio_task *c = test_spawn(rounds_fn, STATUS('c'));
    ASSERT_RC(corio_await(a), 0); /* a's end wakes this task behind b and c */
    log_step('M');
    ASSERT_RC(corio_await(b), 0);
    ASSERT_RC(corio_await(c), 0);
    ASSERT_STREQ(order_log, "ababcabcMc");
    return 0;
}
TEST(yield_rounds_stay_fifo_as_tasks_join) { run_ok(main_yield_rounds, NULL); }

/* Sleeps ms, then logs its id. */
struct nap {
    char id;
    int64_t ms;
};
static int nap_fn(void *arg) {
    const struct nap *n = arg;
    ASSERT_RC(corio_sleep(n->ms), 0);
    log_step(n->id);
    return 0;
}
static int main_sleep_arming_order(void *arg) {
    (void)arg;
    log_reset();
    /* equal sleeps begun in the order c a e b d, one spawn and one turn at a time: they end in that order */
    const char *order = "caebd";
    struct nap n[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        n[i] = (struct nap){order[i], 30};
        t[i] = test_spawn(nap_fn, &n[i]);
        ASSERT_RC(corio_yield(), 0);
    }
    ASSERT_RC(corio_gather(t, 5, NULL), 0);
    ASSERT_STREQ(order_log, order);
    return 0;
}
TEST(equal_sleeps_end_in_the_order_they_began) { run_ok(main_sleep_arming_order, NULL); }

/* ---- corio_wait_for's deadline --------------------------------------------------------------------------------- */

/* Sleeps ms, noting what the sleep returned; ends with status unless it was cancelled. */
struct late {
    int64_t ms;
    int status;
    int sleep_rc;
};
static int late_fn(void *arg) {
    struct late *x = arg;
    x->sleep_rc = corio_sleep(x->ms);
    return x->sleep_rc < 0 ? x->sleep_rc : x->status;
}

static int main_wait_for_expires(void *arg) {
    (void)arg;
    struct late x = {.ms = 300, .status = 7, .sleep_rc = 1};
    corio_task *t = test_spawn(late_fn, &x);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_wait_for(t, 30), -ETIMEDOUT);
    ASSERT_GE(test_now_ms() - t0, 29);
    ASSERT_RC(x.sleep_rc, -ECANCELED); /* cancelled at the deadline (not ended at 300 ms), and waited for */
    return 0;
}
TEST(wait_for_expires_at_its_deadline_and_cancels_the_task) { run_ok(main_wait_for_expires, NULL); }

static int main_wait_for_lengths(void *arg) {
    (void)arg;
    const int64_t ms[3] = {10, 40, 80};
    for (int i = 0; i < 3; i++) {
        /* a task that needs far longer times out after ms, not before */
        struct late slow = {.ms = 2000, .status = 5, .sleep_rc = 1};
        int64_t t0 = test_now_ms();
        ASSERT_RC(corio_wait_for(test_spawn(late_fn, &slow), ms[i]), -ETIMEDOUT);
        ASSERT_GE(test_now_ms() - t0, ms[i] - 1);
        ASSERT_RC(slow.sleep_rc, -ECANCELED);
        /* one that ends in time returns its own status (its first start may be slow: under TSan it makes a fiber) */
        struct late quick = {.ms = 1, .status = 3, .sleep_rc = 1};
        ASSERT_RC(corio_wait_for(test_spawn(late_fn, &quick), test_bound_ms(1000)), 3);
        ASSERT_RC(quick.sleep_rc, 0);
    }
    return 0;
}
TEST(wait_for_deadlines_of_several_lengths) { run_ok(main_wait_for_lengths, NULL); }

/* Inside a timeout scope of 2 s, the 20 ms of wait_for are what ends the wait; the scope goes on unexpired. */
static int main_wait_for_in_scope(void *arg) {
    (void)arg;
    corio_timeout s;
    ASSERT_RC(corio_timeout_enter(&s, 2000), 0);
    struct late x = {.ms = 5000, .status = 5, .sleep_rc = 1};
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_wait_for(test_spawn(late_fn, &x), 20), -ETIMEDOUT);
    int64_t dt = test_now_ms() - t0;
    ASSERT_GE(dt, 19);
    ASSERT_LT(dt, test_bound_ms(1500));
    ASSERT_RC(x.sleep_rc, -ECANCELED);
    ASSERT_RC(corio_sleep(1), 0);
    ASSERT_RC(corio_timeout_exit(&s), 0);
    return 0;
}
TEST(wait_for_deadline_ends_the_wait_inside_a_longer_scope) { run_ok(main_wait_for_in_scope, NULL); }

/* With no timer pending, the loop still gives idle stacks back: 3,000 tasks touch 48 KiB each and end, then the
 * main task waits on the thread pool only (no timer): before, the loop trimmed 1,024 and slept with the rest
 * resident until something woke it. */
static int sleep_2s(void *arg) {
    (void)arg;
    usleep(2000000);
    return 0;
}
static int main_trim_without_timers(void *arg) {
    (void)arg;
    /* more than two trimming rounds of 1,024 beyond the hot 64 (1,500 where each task costs far more) */
    const int N = test_small() ? 1500 : 3000;
    corio_task **t = malloc(N * sizeof *t);
    uintptr_t *low = calloc(N, sizeof *low);
    ASSERT_NOT_NULL(t);
    ASSERT_NOT_NULL(low);
    for (int i = 0; i < N; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(touch_and_note, &low[i]));
    for (int i = 0; i < N; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_GT(resident_pages(low, N), N * 3 / 4);
    /* one long wait, on the pool's eventfd only: three trimming rounds of 1,024 fit in it many times over (a
     * madvise costs ~4 us, some 100 us on a busy machine), and only the loop's own re-polls can run them */
    ASSERT_RC(corio_to_thread(sleep_2s, NULL), 0);
    ASSERT_LE(resident_pages(low, N), N / 10);
    free(t);
    free(low);
    return 0;
}
TEST(idle_stacks_are_trimmed_with_no_timer_pending) { run_ok(main_trim_without_timers, NULL); }
