/* test_scale.c - scale and whole-loop behaviour: a million concurrent sleeping tasks on the default settings
 * (fewer under the sanitizers, valgrind and qemu, where each costs far more), timers at that scale firing in
 * deadline order, and a loop whose tasks deadlock ending instead of hanging. */
#include <stdlib.h>
#include <time.h>

#include "test.h"

static size_t scale(size_t full) {
    if (test_small()) return full / 200; /* valgrind's table of mappings fills near 15,000 guarded stacks */
#if defined(__SANITIZE_ADDRESS__)
    return full / 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return full / 10;
#endif
#endif
    return full;
}

struct sleeper {
    int64_t ms;
    corio_event *go; /* if set, wait for it before the timed sleep */
    int64_t *order;  /* where to record the wake order */
    size_t *next;
};

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Records the task's deadline (in us) in the order the tasks wake. When s->go is set, it first sleeps 1 ms
 * and waits for go: that grows the timer heap to full size and touches every stack before any deadline is
 * recorded, so no page fault falls between the recorded deadline and the one corio_sleep computes. */
static int sleep_and_record(void *arg) {
    struct sleeper *s = arg;
    if (s->go) {
        ASSERT_RC(corio_sleep(1), 0);
        ASSERT_RC(corio_event_wait(s->go), 0);
    }
    int64_t deadline = now_us() + s->ms * 1000;
    int rc = corio_sleep(s->ms);
    if (rc == 0 && s->order) {
        if (now_us() < deadline) return -EINTR; /* woke early */
        s->order[(*s->next)++] = deadline;
    }
    return rc;
}

static size_t million_n;

static int million_main(void *arg) {
    (void)arg;
    size_t n = million_n;
    corio_task **ts = malloc(n * sizeof *ts);
    struct sleeper s = {.ms = 1000};
    ASSERT_NOT_NULL(ts);
    for (size_t i = 0; i < n; i++) {
        ts[i] = corio_spawn(sleep_and_record, &s);
        ASSERT_NOT_NULL(ts[i]);
    }
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.tasks, n + 1);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_gather(ts, n, NULL), 0); /* every sleep returned 0 */
    ASSERT_GE(test_now_ms() - t0, 1000);
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.tasks, 1);
    ASSERT_EQ(st.timers, 0);
    free(ts);
    return 0;
}

TEST_TIMEOUT(million_sleeping_tasks, 120) {
    million_n = scale(1000000);
    ASSERT_RC(corio_run(million_main, NULL), 0);
}

/* 200,000 timers with shuffled deadlines fire in deadline order, never early. The deadline each task records is
 * read just before corio_sleep reads the loop's clock, so two deadlines that close may swap; the slack (5 ms)
 * covers the process being descheduled between the two reads on a busy machine. */
static int timers_main(void *arg) {
    (void)arg;
    size_t n = scale(200000);
    struct sleeper *s = malloc(n * sizeof *s);
    int64_t *order = malloc(n * sizeof *order);
    corio_task **ts = malloc(n * sizeof *ts);
    size_t next = 0;
    ASSERT_TRUE(s && order && ts);
    corio_event *go = corio_event_new();
    ASSERT_NOT_NULL(go);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245U + 12345U;
        s[i] = (struct sleeper){.ms = 1 + (x >> 16) % 500, .go = go, .order = order, .next = &next};
        ts[i] = corio_spawn(sleep_and_record, &s[i]);
        ASSERT_NOT_NULL(ts[i]);
    }
    ASSERT_RC(corio_sleep(100), 0); /* every task is now waiting for go */
    corio_event_set(go);
    ASSERT_RC(corio_gather(ts, n, NULL), 0);
    ASSERT_EQ(next, n);
    /* a stall between two tasks' starts shifts their deadlines: 6.2 ms once on a loaded machine, 50x under valgrind */
    int64_t slack = test_small() ? 50000 : 20000;
    for (size_t i = 1; i < n; i++) ASSERT_LE(order[i - 1], order[i] + slack);
    ASSERT_RC(corio_event_free(go), 0);
    free(s);
    free(order);
    free(ts);
    return 0;
}

TEST_TIMEOUT(timers_fire_in_deadline_order, 120) { ASSERT_RC(corio_run(timers_main, NULL), 0); }

/* Two tasks each wait for an event only the other would set: nothing can wake them, so corio_run cancels them
 * rather than hang, and the main task sees -ECANCELED. */
static corio_event *ev_a, *ev_b;

static int wait_a_then_set_b(void *arg) {
    (void)arg;
    int rc = corio_event_wait(ev_a);
    if (rc == 0) corio_event_set(ev_b);
    return rc;
}

static int deadlock_main(void *arg) {
    (void)arg;
    ev_a = corio_event_new();
    ev_b = corio_event_new();
    corio_task *t = corio_spawn(wait_a_then_set_b, NULL);
    int rc = corio_event_wait(ev_b); /* never set */
    ASSERT_RC(rc, -ECANCELED);
    ASSERT_RC(corio_await(t), -ECANCELED); /* completes at once: t has ended */
    ASSERT_RC(corio_event_free(ev_a), 0);
    ASSERT_RC(corio_event_free(ev_b), 0);
    return 7;
}

TEST_TIMEOUT(deadlock_is_cancelled_not_hung, 10) { ASSERT_EQ(corio_run(deadlock_main, NULL), 7); }

/* Spawning, running and awaiting 200,000 tasks one after another reuses a handful of stacks and task structs. */
static int empty(void *arg) {
    (void)arg;
    return 0;
}

static int churn_main(void *arg) {
    (void)arg;
    int n = test_small() ? 5000 : 200000;
    for (int i = 0; i < n; i++) ASSERT_RC(corio_await(corio_spawn(empty, NULL)), 0);
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_LE(st.stacks_in_use + st.stacks_cached, 256);
    ASSERT_EQ(st.tasks, 1);
    return 0;
}

TEST(spawn_await_churn_reuses_stacks) { ASSERT_RC(corio_run(churn_main, NULL), 0); }
