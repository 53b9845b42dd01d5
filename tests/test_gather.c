/* test_gather.c - tests of corio_gather and corio_wait_for as corio.h specifies them: results, first failure in
 * time with the rest cancelled, per-task statuses, argument checks that touch nothing, cancellation of the
 * caller, deadlines, and a 10,000-task gather. */
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* A task that sleeps ms (none at all if ms < 0), records what the sleep returned and computes out = 2 * in; ends
 * with status unless its sleep failed. */
struct job {
    int64_t ms;
    int status;
    int in, out;
    int ran, ended;
    int rc;
};
static int job_fn(void *arg) {
    struct job *j = arg;
    j->ran = 1;
    j->rc = j->ms >= 0 ? corio_sleep(j->ms) : 0;
    j->out = 2 * j->in;
    j->ended = 1;
    return j->rc < 0 ? j->rc : j->status;
}

static void spawn_jobs(corio_task **t, struct job *j, size_t n) {
    for (size_t i = 0; i < n; i++) {
        t[i] = corio_spawn(job_fn, &j[i]);
        ASSERT_NOT_NULL(t[i]);
    }
}

/* Tasks alive in this loop, the main task included: shows what gather freed. */
static size_t live_tasks(void) {
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    return st.tasks;
}

/* ---- gather ------------------------------------------------------------------------------------------------ */

static int main_all_succeed(void *arg) {
    (void)arg;
    struct job j[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) j[i] = (struct job){.ms = 5 * (5 - i), .in = i + 1};
    spawn_jobs(t, j, 5);
    ASSERT_RC(corio_gather(t, 5, NULL), 0);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(j[i].ended, 1);
        ASSERT_RC(j[i].rc, 0);
        ASSERT_EQ(j[i].out, 2 * (i + 1));
    }
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(gather_all_succeed) { run_ok(main_all_succeed, NULL); }

static int main_first_failure(void *arg) {
    (void)arg;
    /* j[0] fails first in the array but second in time; j[1] fails first in time. */
    struct job j[4] = {
        {.ms = 50, .status = -EIO},
        {.ms = 10, .status = -ENOENT},
        {.ms = 5000},
        {.ms = 5000},
    };
    corio_task *t[4];
    spawn_jobs(t, j, 4);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_gather(t, 4, NULL), -ENOENT);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_RC(j[1].rc, 0);
    ASSERT_RC(j[0].rc, -ECANCELED);
    ASSERT_RC(j[2].rc, -ECANCELED);
    ASSERT_RC(j[3].rc, -ECANCELED);
    for (int i = 0; i < 4; i++) ASSERT_EQ(j[i].ended, 1);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(gather_returns_first_failure_in_time_and_cancels_rest) { run_ok(main_first_failure, NULL); }

static int main_immediate_failure(void *arg) {
    (void)arg;
    /* j[1] fails without suspending, before j[2] has even started: j[2] is cancelled before its first run. */
    struct job j[3] = {{.ms = 1000}, {.ms = -1, .status = -EPIPE}, {.ms = 1000}};
    corio_task *t[3];
    spawn_jobs(t, j, 3);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_gather(t, 3, NULL), -EPIPE);
    ASSERT_LT(test_now_ms() - t0, 500);
    ASSERT_RC(j[0].rc, -ECANCELED);
    ASSERT_RC(j[2].rc, -ECANCELED);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(gather_immediate_failure_cancels_unstarted_tasks) { run_ok(main_immediate_failure, NULL); }

/* Tasks that ended before the gather count too: the first failure in time may predate the call. */
static int main_pre_ended(void *arg) {
    (void)arg;
    struct job j[3] = {{.ms = 10, .status = -ENOENT}, {.ms = -1, .status = -EIO}, {.ms = 5000}};
    corio_task *t[3];
    spawn_jobs(t, j, 3);
    while (corio_task_done(t[1]) == 0) ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_gather(t, 3, NULL), -EIO);
    ASSERT_RC(j[2].rc, -ECANCELED);
    ASSERT_EQ(live_tasks(), 1);

    struct job k[2] = {{.ms = -1, .status = -EPIPE}, {.ms = 10}};
    spawn_jobs(t, k, 2);
    while (corio_task_done(t[0]) == 0) ASSERT_RC(corio_yield(), 0);
    int st[2] = {12345, 12345};
    ASSERT_RC(corio_gather(t, 2, st), 0);
    ASSERT_RC(st[0], -EPIPE);
    ASSERT_RC(st[1], 0);
    ASSERT_RC(k[1].rc, 0);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(gather_counts_tasks_that_ended_before_it) { run_ok(main_pre_ended, NULL); }

/* A task that another task already awaits cannot be gathered too (corio.h lists no error for it; any refusal
 * that touches nothing will do). */
struct await_one {
    corio_task *t;
    int rc;
};
static int await_one_fn(void *arg) {
    struct await_one *a = arg;
    a->rc = corio_await(a->t);
    return 0;
}
static int main_gather_awaited(void *arg) {
    (void)arg;
    struct job j[2] = {{.ms = 20, .status = -EIO}, {.ms = 20}};
    corio_task *t[2];
    spawn_jobs(t, j, 2);
    struct await_one a = {.t = t[0], .rc = 1};
    corio_task *w = corio_spawn(await_one_fn, &a);
    ASSERT_NOT_NULL(w);
    ASSERT_RC(corio_yield(), 0);
    int rc = corio_gather(t, 2, NULL);
    ASSERT_TRUE(rc == -EBUSY || rc == -EINVAL);
    ASSERT_RC(corio_await(w), 0);
    ASSERT_RC(a.rc, -EIO);
    ASSERT_RC(corio_await(t[1]), 0);
    ASSERT_RC(j[1].rc, 0);
    return 0;
}
TEST(gather_task_awaited_elsewhere_is_refused) { run_ok(main_gather_awaited, NULL); }

static int main_statuses(void *arg) {
    (void)arg;
    struct job j[4] = {
        {.ms = 20, .status = 0},
        {.ms = 10, .status = -EIO},
        {.ms = -1, .status = -ENOENT},
        {.ms = 30, .status = 0},
    };
    corio_task *t[4];
    int st[4] = {12345, 12345, 12345, 12345};
    spawn_jobs(t, j, 4);
    ASSERT_RC(corio_gather(t, 4, st), 0);
    ASSERT_RC(st[0], 0);
    ASSERT_RC(st[1], -EIO);
    ASSERT_RC(st[2], -ENOENT);
    ASSERT_RC(st[3], 0);
    /* Failures do not cancel anyone in this mode. */
    ASSERT_RC(j[0].rc, 0);
    ASSERT_RC(j[3].rc, 0);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(gather_with_statuses_waits_for_all) { run_ok(main_statuses, NULL); }

static int main_gather_empty_and_null(void *arg) {
    (void)arg;
    corio_task *t[1] = {NULL};
    int st[1] = {12345};
    ASSERT_RC(corio_gather(NULL, 0, NULL), 0);
    ASSERT_RC(corio_gather(NULL, 0, st), 0);
    ASSERT_RC(corio_gather(t, 0, NULL), 0);
    ASSERT_RC(corio_gather(t, 0, st), 0);
    ASSERT_EQ(st[0], 12345);
    ASSERT_RC(corio_gather(NULL, 2, NULL), -EINVAL);
    ASSERT_RC(corio_gather(NULL, 2, st), -EINVAL);
    ASSERT_RC(corio_gather(t, 1, NULL), -EINVAL); /* a NULL task is invalid */
    return 0;
}
TEST(gather_empty_and_null) { run_ok(main_gather_empty_and_null, NULL); }

static int main_gather_repeated(void *arg) {
    (void)arg;
    struct job j[2] = {{.ms = 20, .status = -EIO}, {.ms = 20, .status = 0}};
    corio_task *t[2];
    spawn_jobs(t, j, 2);
    ASSERT_RC(corio_yield(), 0);
    int st[3] = {12345, 12345, 12345};
    corio_task *rep[3] = {t[0], t[1], t[0]};
    ASSERT_RC(corio_gather(rep, 3, NULL), -EINVAL);
    ASSERT_RC(corio_gather(rep, 3, st), -EINVAL);
    corio_task *withnull[3] = {t[0], NULL, t[1]};
    ASSERT_RC(corio_gather(withnull, 3, st), -EINVAL);
    ASSERT_EQ(st[0], 12345);
    ASSERT_EQ(st[1], 12345);
    ASSERT_EQ(st[2], 12345);

    /* Nothing was touched: neither was cancelled, both can be awaited as usual. */
    ASSERT_RC(corio_await(t[0]), -EIO);
    ASSERT_RC(corio_await(t[1]), 0);
    ASSERT_RC(j[0].rc, 0);
    ASSERT_RC(j[1].rc, 0);
    return 0;
}
TEST(gather_repeated_or_null_task_touches_nothing) { run_ok(main_gather_repeated, NULL); }

static int main_gather_detached(void *arg) {
    (void)arg;
    struct job j[2] = {{.ms = 20, .status = -EIO}, {.ms = 20}};
    corio_task *t[2];
    spawn_jobs(t, j, 2);
    ASSERT_RC(corio_yield(), 0);
    corio_detach(t[1]);
    ASSERT_EQ(j[1].ended, 0); /* still running, so the handle is still valid memory */
    ASSERT_RC(corio_gather(t, 2, NULL), -EINVAL);
    ASSERT_RC(corio_await(t[0]), -EIO);
    ASSERT_RC(j[0].rc, 0);
    ASSERT_RC(corio_sleep(40), 0);
    ASSERT_RC(j[1].rc, 0);
    return 0;
}
TEST(gather_detached_task_is_einval) { run_ok(main_gather_detached, NULL); }

struct self_gather {
    corio_task *other;
    int rc;
};
static int self_gather_fn(void *arg) {
    struct self_gather *s = arg;
    corio_task *t[2] = {s->other, corio_current()};
    s->rc = corio_gather(t, 2, NULL);
    return s->rc;
}
static int main_gather_self(void *arg) {
    (void)arg;
    corio_task *me[1] = {corio_current()};
    ASSERT_RC(corio_gather(me, 1, NULL), -EDEADLK);

    struct job j = {.ms = 20, .status = -EIO};
    struct self_gather s = {0};
    ASSERT_NOT_NULL(s.other = corio_spawn(job_fn, &j));
    corio_task *w = corio_spawn(self_gather_fn, &s);
    ASSERT_NOT_NULL(w);
    ASSERT_RC(corio_await(w), -EDEADLK);
    /* The other task was not touched. */
    ASSERT_RC(corio_await(s.other), -EIO);
    ASSERT_RC(j.rc, 0);
    return 0;
}
TEST(gather_including_caller_is_edeadlk) { run_ok(main_gather_self, NULL); }

struct gatherer {
    struct job j[2];
    corio_task *t[2];
    int use_statuses;
    int st[2];
};
static int gatherer_fn(void *arg) {
    struct gatherer *g = arg;
    spawn_jobs(g->t, g->j, 2);
    return corio_gather(g->t, 2, g->use_statuses ? g->st : NULL);
}
static int main_gatherer_cancelled(void *arg) {
    (void)arg;
    for (int use = 0; use < 2; use++) {
        struct gatherer g = {.j = {{.ms = 5000}, {.ms = 5000}}, .use_statuses = use};
        corio_task *w = corio_spawn(gatherer_fn, &g);
        ASSERT_NOT_NULL(w);
        ASSERT_RC(corio_sleep(10), 0); /* w is in gather, its children asleep */
        ASSERT_EQ(g.j[0].ran, 1);
        ASSERT_EQ(g.j[1].ran, 1);
        int64_t t0 = test_now_ms();
        ASSERT_RC(corio_cancel(w), 0);
        ASSERT_RC(corio_await(w), -ECANCELED);
        ASSERT_LT(test_now_ms() - t0, 1000);
        ASSERT_RC(g.j[0].rc, -ECANCELED);
        ASSERT_RC(g.j[1].rc, -ECANCELED);
        ASSERT_EQ(g.j[0].ended, 1);
        ASSERT_EQ(g.j[1].ended, 1);
        ASSERT_EQ(live_tasks(), 1);
    }
    return 0;
}
TEST(cancelled_gatherer_cancels_children) { run_ok(main_gatherer_cancelled, NULL); }

#define GATHER_MANY (test_small() ? 1000 : 10000) /* valgrind and qemu: each task costs 50x more */
static int main_gather_many(void *arg) {
    (void)arg;
    struct job *j = calloc(GATHER_MANY, sizeof *j);
    corio_task **t = calloc(GATHER_MANY, sizeof *t);
    int *st = calloc(GATHER_MANY, sizeof *st);
    ASSERT_NOT_NULL(j);
    ASSERT_NOT_NULL(t);
    ASSERT_NOT_NULL(st);
    for (int i = 0; i < GATHER_MANY; i++) j[i] = (struct job){.ms = 1000, .status = i % 5 ? 0 : -EIO, .in = i};
    int64_t t0 = test_now_ms();
    spawn_jobs(t, j, GATHER_MANY);
    ASSERT_RC(corio_gather(t, GATHER_MANY, st), 0);
    int64_t dt = test_now_ms() - t0;
    ASSERT_GE(dt, 999);
    /* loaded machines: 3.0 s (gcc), 11.6 s (TSan); a serial run, 10,000 s */
    ASSERT_LT(dt, test_small() ? 20000 : 5000);
    for (int i = 0; i < GATHER_MANY; i++) {
        ASSERT_RC(st[i], i % 5 ? 0 : -EIO);
        ASSERT_EQ(j[i].out, 2 * i);
    }
    ASSERT_EQ(live_tasks(), 1);
    free(j);
    free(t);
    free(st);
    return 0;
}
TEST_TIMEOUT(gather_ten_thousand_one_second_sleepers, 60) { run_ok(main_gather_many, NULL); }

/* ---- wait_for ---------------------------------------------------------------------------------------------- */

static int main_wait_for_on_time(void *arg) {
    (void)arg;
    struct job j[2] = {{.ms = 10, .status = -EIO}, {.ms = 10, .status = 0}};
    corio_task *t[2];
    spawn_jobs(t, j, 2);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_wait_for(t[0], 2000), -EIO);
    ASSERT_RC(corio_wait_for(t[1], 2000), 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_RC(j[0].rc, 0);
    ASSERT_RC(j[1].rc, 0);

    /* A task that has already ended is not late, even with no time at all. */
    struct job k = {.ms = -1, .status = -ENOENT};
    corio_task *u = corio_spawn(job_fn, &k);
    ASSERT_NOT_NULL(u);
    while (corio_task_done(u) == 0) ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_wait_for(u, 0), -ENOENT);

    /* The largest deadline must not overflow into "already passed". */
    struct job h = {.ms = 10, .status = -EIO};
    ASSERT_NOT_NULL(u = corio_spawn(job_fn, &h));
    ASSERT_RC(corio_wait_for(u, INT64_MAX), -EIO);
    ASSERT_RC(h.rc, 0);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(wait_for_on_time_returns_status) { run_ok(main_wait_for_on_time, NULL); }

static int main_wait_for_late(void *arg) {
    (void)arg;
    struct job j = {.ms = 5000};
    corio_task *t = corio_spawn(job_fn, &j);
    ASSERT_NOT_NULL(t);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_wait_for(t, 50), -ETIMEDOUT);
    int64_t dt = test_now_ms() - t0;
    ASSERT_GE(dt, 49);
    ASSERT_LT(dt, 1000);
    ASSERT_RC(j.rc, -ECANCELED);
    ASSERT_EQ(j.ended, 1);
    ASSERT_EQ(live_tasks(), 1);

    /* With no time at all, a task that has not ended is cancelled at once. */
    struct job k = {.ms = 5000};
    ASSERT_NOT_NULL(t = corio_spawn(job_fn, &k));
    ASSERT_RC(corio_wait_for(t, 0), -ETIMEDOUT);
    ASSERT_EQ(k.ended, 1);
    ASSERT_RC(k.rc, -ECANCELED);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(wait_for_late_cancels_and_frees_task) { run_ok(main_wait_for_late, NULL); }

static int wait_for_self_fn(void *arg) {
    (void)arg;
    return corio_wait_for(corio_current(), 10);
}
static int main_wait_for_bad(void *arg) {
    (void)arg;
    struct job j = {.ms = 20, .status = -EIO};
    corio_task *t = corio_spawn(job_fn, &j);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_wait_for(t, -1), -EINVAL);
    ASSERT_RC(corio_wait_for(t, INT64_MIN), -EINVAL);
    ASSERT_RC(corio_wait_for(NULL, 10), -EINVAL);
    ASSERT_RC(corio_wait_for(corio_current(), 10), -EDEADLK);
    corio_task *s = corio_spawn(wait_for_self_fn, NULL);
    ASSERT_NOT_NULL(s);
    ASSERT_RC(corio_await(s), -EDEADLK);
    /* t was not touched by the refused calls. */
    ASSERT_RC(corio_await(t), -EIO);
    ASSERT_RC(j.rc, 0);
    return 0;
}
TEST(wait_for_bad_arguments) { run_ok(main_wait_for_bad, NULL); }

struct wf_waiter {
    struct job j;
    int rc;
};
static int wf_waiter_fn(void *arg) {
    struct wf_waiter *w = arg;
    corio_task *t = corio_spawn(job_fn, &w->j);
    ASSERT_NOT_NULL(t);
    w->rc = corio_wait_for(t, 5000);
    return w->rc;
}
static int main_wait_for_cancelled(void *arg) {
    (void)arg;
    struct wf_waiter w = {.j = {.ms = 5000}, .rc = 1};
    corio_task *wt = corio_spawn(wf_waiter_fn, &w);
    ASSERT_NOT_NULL(wt);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_EQ(w.j.ran, 1);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_cancel(wt), 0);
    ASSERT_RC(corio_await(wt), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_RC(w.rc, -ECANCELED);
    ASSERT_RC(w.j.rc, -ECANCELED);
    ASSERT_EQ(w.j.ended, 1);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(wait_for_cancelled_waiter_cancels_task) { run_ok(main_wait_for_cancelled, NULL); }
