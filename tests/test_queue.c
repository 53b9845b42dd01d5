/* test_queue.c - tests of corio_queue: FIFO, LIFO and priority order, bounded and unbounded capacity, try_
 * variants, close, task_done / join, cancellation safety (no item lost or duplicated; asyncio's QueueGetTests and
 * QueuePutTests races), and a randomised many-producer/consumer check. */
#include "test.h"

/* Items are small integers carried in the pointer; 0 stays free to mean "nothing". */
#define ITEM(i) ((void *)(uintptr_t)(i))
#define NUM(p) ((long)(uintptr_t)(p))

/* ---- order and capacity ------------------------------------------------------------------------------------- */

static int fifo_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(200);
    ASSERT_NOT_NULL(q);
    ASSERT_EQ(corio_queue_size(q), 0);
    for (long i = 1; i <= 100; i++) ASSERT_RC(corio_queue_put(q, ITEM(i)), 0);
    ASSERT_EQ(corio_queue_size(q), 100);
    for (long i = 1; i <= 50; i++) {
        void *p = NULL;
        ASSERT_RC(corio_queue_get(q, &p), 0);
        ASSERT_EQ(NUM(p), i);
    }
    /* Wrap around the ring: interleave puts and gets. */
    for (long i = 101; i <= 300; i++) {
        ASSERT_RC(corio_queue_put(q, ITEM(i)), 0);
        void *p = NULL;
        ASSERT_RC(corio_queue_get(q, &p), 0);
        ASSERT_EQ(NUM(p), i - 50);
    }
    ASSERT_EQ(corio_queue_size(q), 50);
    for (long i = 251; i <= 300; i++) {
        void *p = NULL;
        ASSERT_RC(corio_queue_try_get(q, &p), 0);
        ASSERT_EQ(NUM(p), i);
    }
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_fifo_order) { ASSERT_RC(corio_run(fifo_main, NULL), 0); }

static int null_item_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(2);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, NULL), 0); /* NULL is a value like any other */
    ASSERT_EQ(corio_queue_size(q), 1);
    void *p = ITEM(7);
    ASSERT_RC(corio_queue_get(q, &p), 0);
    ASSERT_NULL(p);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_null_item_is_an_item) { ASSERT_RC(corio_run(null_item_main, NULL), 0); }

struct putter {
    corio_queue *q;
    long first, count;
    int rc, done, next_rc;
    long put; /* how many puts returned 0 */
};

static int putter(void *arg) {
    struct putter *p = arg;
    for (long i = 0; i < p->count; i++) {
        p->rc = corio_queue_put(p->q, ITEM(p->first + i));
        if (p->rc != 0) break;
        p->put++;
    }
    p->done = 1;
    p->next_rc = corio_yield();
    return 0;
}

struct getter {
    corio_queue *q;
    int rc, done, next_rc;
    void *item;
};

static int getter(void *arg) {
    struct getter *g = arg;
    g->item = NULL;
    g->rc = corio_queue_get(g->q, &g->item);
    g->done = 1;
    g->next_rc = corio_yield();
    return 0;
}

static int bounded_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(2);
    ASSERT_NOT_NULL(q);
    struct putter p = {.q = q, .first = 1, .count = 5};
    corio_task *t = test_spawn(putter, &p);
    test_settle();
    ASSERT_EQ(p.put, 2); /* blocked on the third put */
    ASSERT_EQ(p.done, 0);
    ASSERT_EQ(corio_queue_size(q), 2);
    for (long i = 1; i <= 5; i++) {
        void *item = NULL;
        ASSERT_RC(corio_queue_get(q, &item), 0);
        ASSERT_EQ(NUM(item), i);
        test_settle();
        ASSERT_LE(corio_queue_size(q), 2);
    }
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(p.put, 5);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_bounded_put_waits_while_full) { ASSERT_RC(corio_run(bounded_main, NULL), 0); }

static int get_waits_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(4);
    ASSERT_NOT_NULL(q);
    struct getter g = {.q = q};
    corio_task *t = test_spawn(getter, &g);
    test_settle();
    ASSERT_RC(corio_sleep(5), 0);
    ASSERT_EQ(g.done, 0);
    ASSERT_RC(corio_queue_put(q, ITEM(42)), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(g.rc, 0);
    ASSERT_EQ(NUM(g.item), 42);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_get_waits_while_empty) { ASSERT_RC(corio_run(get_waits_main, NULL), 0); }

#define UNBOUNDED_N 100000

static int unbounded_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(0);
    ASSERT_NOT_NULL(q);
    /* A cancelled task's put fails if it would suspend, so success proves none of them blocked. */
    ASSERT_RC(corio_cancel(corio_current()), 0);
    for (long i = 1; i <= UNBOUNDED_N; i++) ASSERT_RC(corio_queue_put(q, ITEM(i)), 0);
    ASSERT_EQ(corio_queue_size(q), UNBOUNDED_N);
    ASSERT_RC(corio_queue_try_put(q, ITEM(UNBOUNDED_N + 1)), 0);
    for (long i = 1; i <= UNBOUNDED_N + 1; i++) {
        void *p = NULL;
        ASSERT_RC(corio_queue_get(q, &p), 0);
        ASSERT_EQ(NUM(p), i);
    }
    void *p = NULL;
    ASSERT_RC(corio_queue_get(q, &p), -ECANCELED); /* now it would have to suspend */
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_unbounded_never_blocks_put) { ASSERT_RC(corio_run(unbounded_main, NULL), 0); }

static int try_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(2);
    ASSERT_NOT_NULL(q);
    void *p = ITEM(99);
    ASSERT_RC(corio_queue_try_get(q, &p), -EAGAIN);
    ASSERT_EQ(NUM(p), 99); /* untouched on failure */
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_queue_try_put(q, ITEM(2)), 0);
    ASSERT_RC(corio_queue_try_put(q, ITEM(3)), -EAGAIN);
    ASSERT_EQ(corio_queue_size(q), 2);
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 1);
    ASSERT_RC(corio_queue_try_put(q, ITEM(3)), 0);
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 2);
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 3);
    ASSERT_RC(corio_queue_try_get(q, &p), -EAGAIN);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_try_put_try_get) { ASSERT_RC(corio_run(try_main, NULL), 0); }

TEST(queue_try_calls_outside_loop) {
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    void *p = NULL;
    ASSERT_RC(corio_queue_try_put(q, ITEM(5)), 0);
    ASSERT_RC(corio_queue_try_put(q, ITEM(6)), -EAGAIN);
    ASSERT_EQ(corio_queue_size(q), 1);
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 5);
    ASSERT_RC(corio_queue_try_get(q, &p), -EAGAIN);
    ASSERT_RC(corio_queue_free(q), 0);
}

/* ---- LIFO and priority queues ------------------------------------------------------------------------------ */

/* Items are key * 1000 + serial: the key decides the order, the serial shows whether equal keys kept theirs. */
static int by_key(const void *a, const void *b, void *arg) {
    long ka = NUM(a) / 1000, kb = NUM(b) / 1000;
    if (arg) ASSERT_EQ(*(int *)arg, 7); /* cmp_arg is passed through */
    return ka < kb ? -1 : ka > kb;
}

static int kinds_main(void *arg) {
    (void)arg;
    /* asyncio's LifoQueueTests.test_order and PriorityQueueTests.test_order: put 1, 3, 2 */
    corio_queue *lifo = corio_queue_new_opts(&(corio_queue_opts){.kind = CORIO_QUEUE_LIFO});
    int seven = 7;
    corio_queue *prio =
        corio_queue_new_opts(&(corio_queue_opts){.kind = CORIO_QUEUE_PRIORITY, .cmp = by_key, .cmp_arg = &seven});
    ASSERT_NOT_NULL(lifo);
    ASSERT_NOT_NULL(prio);
    static const long in[3] = {1000, 3000, 2000}, lifo_out[3] = {2000, 3000, 1000}, prio_out[3] = {1000, 2000, 3000};
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_queue_put(lifo, ITEM(in[i])), 0);
        ASSERT_RC(corio_queue_put(prio, ITEM(in[i])), 0);
    }
    for (int i = 0; i < 3; i++) {
        void *p = NULL;
        ASSERT_RC(corio_queue_get(lifo, &p), 0);
        ASSERT_EQ(NUM(p), lifo_out[i]);
        ASSERT_RC(corio_queue_try_get(prio, &p), 0);
        ASSERT_EQ(NUM(p), prio_out[i]);
    }
    ASSERT_RC(corio_queue_free(lifo), 0);
    ASSERT_RC(corio_queue_free(prio), 0);
    return 0;
}

TEST(queue_lifo_and_priority_order) { ASSERT_RC(corio_run(kinds_main, NULL), 0); }

/* Many items with few distinct keys, put and got in random interleavings: gets come out by key, equal keys in the
 * order they were put (checked against a counting pass over what was put). */
static int prio_random_main(void *arg) {
    (void)arg;
    enum { N = 3000, KEYS = 10 };
    corio_queue *q = corio_queue_new_opts(&(corio_queue_opts){.kind = CORIO_QUEUE_PRIORITY, .cmp = by_key});
    ASSERT_NOT_NULL(q);
    uint64_t rng = 7;
    long next_serial[KEYS] = {0}, want_serial[KEYS] = {0};
    int put = 0, got = 0;
    while (got < N) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(rng >> 33);
        if (put < N && (r % 3 != 0 || corio_queue_size(q) == 0)) {
            long key = (long)(r / 3 % KEYS);
            ASSERT_RC(corio_queue_put(q, ITEM(key * 1000 + next_serial[key]++)), 0);
            put++;
        } else {
            void *p = NULL;
            ASSERT_RC(corio_queue_get(q, &p), 0);
            long key = NUM(p) / 1000, serial = NUM(p) % 1000;
            /* nothing queued has a smaller key, and this key's items come out in order */
            for (long k = 0; k < key; k++) ASSERT_EQ(want_serial[k], next_serial[k]);
            ASSERT_EQ(serial, want_serial[key]++);
            got++;
        }
    }
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_priority_stable_random) { ASSERT_RC(corio_run(prio_random_main, NULL), 0); }

/* Bounded LIFO and priority queues hand a freed slot to the waiting putter, whose item then takes its place in
 * the queue's order; a waiting getter is handed the next item put directly. */
static int kinds_bounded_main(void *arg) {
    (void)arg;
    corio_queue *lifo = corio_queue_new_opts(&(corio_queue_opts){.capacity = 2, .kind = CORIO_QUEUE_LIFO});
    corio_queue *prio =
        corio_queue_new_opts(&(corio_queue_opts){.capacity = 2, .kind = CORIO_QUEUE_PRIORITY, .cmp = by_key});
    ASSERT_NOT_NULL(lifo);
    ASSERT_NOT_NULL(prio);
    corio_queue *qs[2] = {lifo, prio};
    for (int k = 0; k < 2; k++) {
        corio_queue *q = qs[k];
        ASSERT_RC(corio_queue_put(q, ITEM(5000)), 0);
        ASSERT_RC(corio_queue_put(q, ITEM(3000)), 0);
        ASSERT_RC(corio_queue_try_put(q, ITEM(1)), -EAGAIN);
        struct putter p = {.q = q, .first = 4000, .count = 1};
        corio_task *t = test_spawn(putter, &p);
        test_settle();
        ASSERT_EQ(p.put, 0);
        void *item = NULL;
        ASSERT_RC(corio_queue_get(q, &item), 0); /* LIFO: the newest, 3000; priority: the smallest, 3000 */
        ASSERT_EQ(NUM(item), 3000);
        ASSERT_EQ(corio_queue_size(q), 2); /* 4000 moved in */
        ASSERT_RC(corio_await(t), 0);
        ASSERT_EQ(p.put, 1);
        ASSERT_RC(corio_queue_get(q, &item), 0);
        ASSERT_EQ(NUM(item), 4000); /* newest (LIFO) and smallest left (priority) alike */
        ASSERT_RC(corio_queue_get(q, &item), 0);
        ASSERT_EQ(NUM(item), 5000);
        struct getter g = {.q = q};
        t = test_spawn(getter, &g);
        test_settle();
        ASSERT_RC(corio_queue_put(q, ITEM(9000)), 0);
        ASSERT_RC(corio_await(t), 0);
        ASSERT_EQ(NUM(g.item), 9000);
        ASSERT_RC(corio_queue_free(q), 0);
    }
    return 0;
}

TEST(queue_lifo_and_priority_bounded_hand_over) { ASSERT_RC(corio_run(kinds_bounded_main, NULL), 0); }

TEST(queue_new_opts_bad_arguments_are_einval) {
    corio_queue *q;
    errno = 0;
    ASSERT_NULL(corio_queue_new_opts(&(corio_queue_opts){.kind = 3}));
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_NULL(corio_queue_new_opts(&(corio_queue_opts){.kind = -1}));
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_NULL(corio_queue_new_opts(&(corio_queue_opts){.kind = CORIO_QUEUE_PRIORITY})); /* no cmp */
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_NULL(corio_queue_new_opts(&(corio_queue_opts){.kind = CORIO_QUEUE_LIFO, .cmp = by_key}));
    ASSERT_EQ(errno, EINVAL);
    q = corio_queue_new_opts(NULL); /* an unbounded FIFO */
    ASSERT_NOT_NULL(q);
    for (long i = 1; i <= 40; i++) ASSERT_RC(corio_queue_try_put(q, ITEM(i)), 0);
    void *p = NULL;
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 1);
    ASSERT_RC(corio_queue_free(q), 0);
}

/* ---- task_done and join (asyncio's _QueueJoinTestMixin) ----------------------------------------------------- */

struct pool {
    corio_queue *q;
    long sum;
    int processed;
};

static int pool_worker(void *arg) {
    struct pool *pl = arg;
    for (;;) {
        void *p = NULL;
        int rc = corio_queue_get(pl->q, &p);
        if (rc == -EPIPE) return 0;
        ASSERT_RC(rc, 0);
        ASSERT_RC(corio_sleep(0), 0);
        pl->sum += NUM(p);
        pl->processed++;
        ASSERT_RC(corio_queue_task_done(pl->q), 0);
    }
}

/* test_task_done for each kind: two workers, 100 items; join returns once every item was processed. */
static int pool_main(void *arg) {
    (void)arg;
    static const corio_queue_opts kinds[3] = {
        {.kind = CORIO_QUEUE_FIFO}, {.kind = CORIO_QUEUE_LIFO}, {.kind = CORIO_QUEUE_PRIORITY, .cmp = by_key}};
    for (int k = 0; k < 3; k++) {
        struct pool pl = {.q = corio_queue_new_opts(&kinds[k])};
        ASSERT_NOT_NULL(pl.q);
        for (long i = 0; i < 100; i++) ASSERT_RC(corio_queue_put(pl.q, ITEM(i)), 0);
        corio_task *w[2] = {test_spawn(pool_worker, &pl), test_spawn(pool_worker, &pl)};
        ASSERT_RC(corio_queue_join(pl.q), 0);
        ASSERT_EQ(pl.processed, 100);
        ASSERT_EQ(pl.sum, 99 * 100 / 2);
        ASSERT_RC(corio_queue_join(pl.q), 0); /* done already: at once */
        corio_queue_close(pl.q);
        for (int i = 0; i < 2; i++) ASSERT_RC(corio_await(w[i]), 0);
        ASSERT_RC(corio_queue_task_done(pl.q), -EINVAL); /* every item already marked */
        ASSERT_RC(corio_queue_free(pl.q), 0);
    }
    return 0;
}

TEST(queue_join_waits_for_task_done) { ASSERT_RC(corio_run(pool_main, NULL), 0); }

/* Items handed straight to a waiting getter, and items a waiting putter gets in, count as put too. */
static int join_handed_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_join(q), 0); /* test_join_empty_queue, twice */
    ASSERT_RC(corio_queue_join(q), 0);
    ASSERT_RC(corio_queue_task_done(q), -EINVAL); /* test_task_done_underflow */
    struct getter g = {.q = q};
    corio_task *tg = test_spawn(getter, &g);
    test_settle();
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0); /* to the getter */
    ASSERT_RC(corio_await(tg), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(2)), 0);
    struct putter p = {.q = q, .first = 3, .count = 1};
    corio_task *tp = test_spawn(putter, &p);
    test_settle();
    void *item = NULL;
    ASSERT_RC(corio_queue_get(q, &item), 0); /* 3 moves in */
    ASSERT_RC(corio_await(tp), 0);
    ASSERT_RC(corio_queue_get(q, &item), 0);
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_queue_task_done(q), 0);
    ASSERT_RC(corio_queue_task_done(q), -EINVAL);
    ASSERT_RC(corio_queue_join(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_task_done_counts_every_item_put) { ASSERT_RC(corio_run(join_handed_main, NULL), 0); }

struct joiner {
    corio_queue *q;
    int64_t ms; /* >= 0: inside a timeout scope of ms */
    int rc, exit_rc, done;
};

static int joiner(void *arg) {
    struct joiner *j = arg;
    corio_timeout to;
    if (j->ms >= 0) ASSERT_RC(corio_timeout_enter(&to, j->ms), 0);
    j->rc = corio_queue_join(j->q);
    if (j->ms >= 0) j->exit_rc = corio_timeout_exit(&to);
    j->done = 1;
    return 0;
}

/* join suspends like any wait: cancellable, bounded by a timeout scope, and counted by _free. */
static int join_cancel_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(0);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    struct joiner a = {.q = q, .ms = -1}, b = {.q = q, .ms = 10}, c = {.q = q, .ms = -1};
    corio_task *ta = test_spawn(joiner, &a), *tb = test_spawn(joiner, &b), *tc = test_spawn(joiner, &c);
    test_settle();
    ASSERT_EQ(a.done + b.done + c.done, 0);
    ASSERT_RC(corio_queue_free(q), -EBUSY);
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.rc, -ETIMEDOUT);
    ASSERT_RC(b.exit_rc, -ETIMEDOUT);
    ASSERT_EQ(c.done, 0);
    void *item = NULL;
    ASSERT_RC(corio_queue_get(q, &item), 0);
    ASSERT_EQ(c.done, 0); /* got, not yet done */
    ASSERT_RC(corio_queue_task_done(q), 0);
    ASSERT_RC(corio_cancel(tc), 0); /* woken before the cancel: the join succeeded (lifetime rule 4) */
    ASSERT_RC(corio_await(tc), 0);
    ASSERT_RC(c.rc, 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_join_cancelled_and_timed_out) { ASSERT_RC(corio_run(join_cancel_main, NULL), 0); }

TEST(queue_join_and_task_done_outside_loop) {
    corio_queue *q = corio_queue_new(0);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_join(q), 0); /* nothing unfinished: completes without a task */
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_queue_join(q), -EPERM); /* would wait */
    ASSERT_RC(corio_queue_task_done(q), 0);
    ASSERT_RC(corio_queue_task_done(q), -EINVAL);
    ASSERT_RC(corio_queue_task_done(NULL), -EINVAL);
    ASSERT_RC(corio_queue_join(NULL), -EINVAL);
    ASSERT_RC(corio_queue_free(q), 0); /* the item still queued is the caller's */
}

/* ---- fairness: items and slots go to waiters in order, nobody barges in ------------------------------------- */

static int fair_get_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(4);
    ASSERT_NOT_NULL(q);
    struct getter g[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct getter){.q = q};
        t[i] = test_spawn(getter, &g[i]);
        test_settle();
    }
    for (long i = 1; i <= 3; i++) ASSERT_RC(corio_queue_put(q, ITEM(i)), 0);
    void *p = NULL;
    ASSERT_RC(corio_queue_try_get(q, &p), -EAGAIN); /* every item already belongs to a waiter */
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(g[i].rc, 0);
        ASSERT_EQ(NUM(g[i].item), i + 1);
    }
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_waiting_getters_served_fifo) { ASSERT_RC(corio_run(fair_get_main, NULL), 0); }

static int fair_put_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    struct putter p[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (struct putter){.q = q, .first = i + 2, .count = 1};
        t[i] = test_spawn(putter, &p[i]);
        test_settle();
    }
    for (long i = 1; i <= 4; i++) {
        void *item = NULL;
        ASSERT_RC(corio_queue_get(q, &item), 0);
        ASSERT_EQ(NUM(item), i);
        /* The freed slot went to the first waiting putter, so there is no room for us. */
        if (i < 4) ASSERT_RC(corio_queue_try_put(q, ITEM(100)), -EAGAIN);
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_EQ(p[i].put, 1);
    }
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_waiting_putters_served_fifo) { ASSERT_RC(corio_run(fair_put_main, NULL), 0); }

/* asyncio's test_put_cancelled_race: with a full queue of one, b and c wait to put; c is cancelled; getting a
 * lets b's item in, and c's never arrives. */
static int put_cancelled_race_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    struct putter a = {.q = q, .first = 1, .count = 1}, b = {.q = q, .first = 2, .count = 1},
                  c = {.q = q, .first = 99, .count = 1};
    corio_task *ta = test_spawn(putter, &a), *tb = test_spawn(putter, &b), *tc = test_spawn(putter, &c);
    test_settle();
    ASSERT_EQ(a.put, 1);
    ASSERT_EQ(b.done + c.done, 0);
    ASSERT_RC(corio_cancel(tc), 0);
    test_settle();
    ASSERT_EQ(c.done, 1);
    void *p = NULL;
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 1);
    ASSERT_RC(corio_queue_try_get(q, &p), 0); /* b's item went in as the slot was freed */
    ASSERT_EQ(NUM(p), 2);
    ASSERT_RC(corio_queue_try_get(q, &p), -EAGAIN);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(corio_await(tc), 0);
    ASSERT_RC(c.rc, -ECANCELED);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_put_cancelled_race) { ASSERT_RC(corio_run(put_cancelled_race_main, NULL), 0); }

/* asyncio's test_get_cancel_drop_one_pending_reader: a reader handed item 1, then cancelled before it ran,
 * still returns 1 (lifetime rule 4), so item 1 is not dropped and 2 stays queued. */
static int get_cancel_drop_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(0);
    ASSERT_NOT_NULL(q);
    struct getter g = {.q = q};
    corio_task *t = test_spawn(getter, &g);
    test_settle();
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_queue_try_put(q, ITEM(2)), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(g.rc, 0);
    ASSERT_EQ(NUM(g.item), 1);
    void *p = NULL;
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 2);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_get_cancel_drops_nothing) { ASSERT_RC(corio_run(get_cancel_drop_main, NULL), 0); }

/* asyncio's test_why_are_getters_waiting / test_why_are_putters_waiting: a producer and a consumer through a
 * queue of one, and four putters against a getter that drains what is there, all finish. */
static int drain_getter(void *arg) {
    corio_queue *q = arg;
    ASSERT_RC(corio_yield(), 0);
    for (size_t n = corio_queue_size(q); n > 0; n--) {
        void *p = NULL;
        ASSERT_RC(corio_queue_try_get(q, &p), 0);
    }
    return 0;
}

static int why_waiting_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    struct putter p = {.q = q, .first = 1, .count = 5};
    corio_task *tp = test_spawn(putter, &p);
    for (long i = 1; i <= 5; i++) {
        void *item = NULL;
        ASSERT_RC(corio_queue_get(q, &item), 0);
        ASSERT_EQ(NUM(item), i);
    }
    ASSERT_RC(corio_await(tp), 0);
    ASSERT_EQ(p.put, 5);
    ASSERT_RC(corio_queue_free(q), 0);

    q = corio_queue_new(2);
    ASSERT_NOT_NULL(q);
    corio_task *tg = test_spawn(drain_getter, q);
    struct putter ps[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        ps[i] = (struct putter){.q = q, .first = i, .count = 1};
        t[i] = test_spawn(putter, &ps[i]);
    }
    ASSERT_RC(corio_await(tg), 0);
    for (int i = 0; i < 4; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_EQ(ps[i].put, 1);
    }
    ASSERT_EQ(corio_queue_size(q), 2);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_producer_consumer_never_stuck) { ASSERT_RC(corio_run(why_waiting_main, NULL), 0); }

/* ---- close -------------------------------------------------------------------------------------------------- */

static int close_getters_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(4);
    ASSERT_NOT_NULL(q);
    struct getter g[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct getter){.q = q};
        t[i] = test_spawn(getter, &g[i]);
    }
    test_settle();
    corio_queue_close(q);
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(g[i].rc, -EPIPE);
        ASSERT_RC(g[i].next_rc, 0); /* closing is not a cancellation */
    }
    void *p = NULL;
    ASSERT_RC(corio_queue_get(q, &p), -EPIPE);
    ASSERT_RC(corio_queue_try_get(q, &p), -EPIPE);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), -EPIPE);
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), -EPIPE);
    corio_queue_close(q); /* closing twice is harmless */
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_close_wakes_getters_with_epipe) { ASSERT_RC(corio_run(close_getters_main, NULL), 0); }

static int close_putters_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(2);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(2)), 0);
    struct putter p[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (struct putter){.q = q, .first = 10 + i, .count = 1};
        t[i] = test_spawn(putter, &p[i]);
    }
    test_settle();
    corio_queue_close(q);
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(p[i].rc, -EPIPE);
        ASSERT_EQ(p[i].put, 0);
    }
    ASSERT_EQ(corio_queue_size(q), 2); /* the blocked putters' items were not enqueued */
    ASSERT_RC(corio_queue_put(q, ITEM(3)), -EPIPE);
    ASSERT_RC(corio_queue_try_put(q, ITEM(3)), -EPIPE);
    /* Gets drain what was queued, then fail. */
    void *item = NULL;
    ASSERT_RC(corio_queue_get(q, &item), 0);
    ASSERT_EQ(NUM(item), 1);
    ASSERT_RC(corio_queue_try_get(q, &item), 0);
    ASSERT_EQ(NUM(item), 2);
    ASSERT_RC(corio_queue_get(q, &item), -EPIPE);
    ASSERT_RC(corio_queue_try_get(q, &item), -EPIPE);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_close_fails_waiting_putters) { ASSERT_RC(corio_run(close_putters_main, NULL), 0); }

TEST(queue_close_outside_loop) {
    corio_queue *q = corio_queue_new(0);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), 0);
    corio_queue_close(q);
    void *p = NULL;
    ASSERT_RC(corio_queue_try_put(q, ITEM(2)), -EPIPE);
    ASSERT_RC(corio_queue_try_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 1);
    ASSERT_RC(corio_queue_try_get(q, &p), -EPIPE);
    ASSERT_RC(corio_queue_free(q), 0);
}

/* ---- cancellation and timeouts ------------------------------------------------------------------------------ */

static int cancel_getter_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(4);
    ASSERT_NOT_NULL(q);
    struct getter a = {.q = q}, b = {.q = q};
    corio_task *ta = test_spawn(getter, &a);
    test_settle();
    corio_task *tb = test_spawn(getter, &b);
    test_settle();
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0); /* must go to b: a was cancelled first */
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_NULL(a.item);
    ASSERT_RC(b.rc, 0);
    ASSERT_EQ(NUM(b.item), 1);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_cancelled_getter_takes_nothing) { ASSERT_RC(corio_run(cancel_getter_main, NULL), 0); }

static int handed_getter_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(4);
    ASSERT_NOT_NULL(q);
    struct getter a = {.q = q}, b = {.q = q};
    corio_task *ta = test_spawn(getter, &a);
    test_settle();
    corio_task *tb = test_spawn(getter, &b);
    test_settle();
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0); /* handed straight to a */
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, 0);
    ASSERT_EQ(NUM(a.item), 1);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_EQ(b.done, 0);
    ASSERT_RC(corio_queue_put(q, ITEM(2)), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(b.rc, 0);
    ASSERT_EQ(NUM(b.item), 2);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_item_handed_to_cancelled_getter_is_returned) { ASSERT_RC(corio_run(handed_getter_main, NULL), 0); }

static int cancel_putter_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    struct putter a = {.q = q, .first = 2, .count = 1}, b = {.q = q, .first = 3, .count = 1};
    corio_task *ta = test_spawn(putter, &a);
    test_settle();
    corio_task *tb = test_spawn(putter, &b);
    test_settle();
    ASSERT_RC(corio_cancel(ta), 0);
    void *item = NULL;
    ASSERT_RC(corio_queue_get(q, &item), 0); /* frees a slot, which must go to b */
    ASSERT_EQ(NUM(item), 1);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    ASSERT_EQ(a.put, 0);
    ASSERT_EQ(b.put, 1);
    ASSERT_EQ(corio_queue_size(q), 1);
    ASSERT_RC(corio_queue_try_get(q, &item), 0);
    ASSERT_EQ(NUM(item), 3);
    ASSERT_RC(corio_queue_try_get(q, &item), -EAGAIN); /* a's item never got in */
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_cancelled_putter_enqueues_nothing) { ASSERT_RC(corio_run(cancel_putter_main, NULL), 0); }

static int handed_putter_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    struct putter a = {.q = q, .first = 2, .count = 1};
    corio_task *ta = test_spawn(putter, &a);
    test_settle();
    void *item = NULL;
    ASSERT_RC(corio_queue_get(q, &item), 0); /* a's item moves into the freed slot */
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, 0);
    ASSERT_EQ(a.put, 1);
    ASSERT_RC(a.next_rc, -ECANCELED);
    ASSERT_EQ(corio_queue_size(q), 1);
    ASSERT_RC(corio_queue_try_get(q, &item), 0);
    ASSERT_EQ(NUM(item), 2);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_putter_accepted_then_cancelled_returns_success) { ASSERT_RC(corio_run(handed_putter_main, NULL), 0); }

static int cancelled_ops(void *arg) {
    corio_queue *q = arg; /* capacity 1, holding one item */
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(2)), -ECANCELED); /* full: would suspend */
    void *p = NULL;
    ASSERT_RC(corio_queue_get(q, &p), 0); /* an item is there: completes */
    ASSERT_EQ(NUM(p), 1);
    ASSERT_RC(corio_queue_put(q, ITEM(3)), 0); /* room now: completes */
    ASSERT_RC(corio_queue_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 3);
    ASSERT_RC(corio_queue_get(q, &p), -ECANCELED);
    return 0;
}

static int timed_ops(void *arg) {
    corio_queue *q = arg; /* capacity 1, holding one item */
    corio_timeout to;
    void *p = NULL;
    ASSERT_RC(corio_timeout_enter(&to, 20), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(2)), -ETIMEDOUT);
    ASSERT_RC(corio_queue_get(q, &p), 0);
    ASSERT_EQ(NUM(p), 1);
    ASSERT_RC(corio_queue_get(q, &p), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    return 0;
}

static int cancel_timeout_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_await(test_spawn(cancelled_ops, q)), 0);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_await(test_spawn(timed_ops, q)), 0);
    ASSERT_GE(test_now_ms() - t0, 15);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0); /* no waiter was left behind */
    return 0;
}

TEST(queue_cancelled_and_timed_out_calls) { ASSERT_RC(corio_run(cancel_timeout_main, NULL), 0); }

/* ---- randomised cancellation: every item put is got exactly once -------------------------------------------- */

#define ST_ITEMS 20000
#define ST_MAX_TASKS 8192

struct stress {
    corio_queue *q;
    unsigned char put_ok[ST_ITEMS];
    unsigned char got[ST_ITEMS];
    int next_item;
    uint64_t rng;
    int cancelled_puts, cancelled_gets, closed_puts, consumed;
    corio_task *tasks[ST_MAX_TASKS];
    int ntasks;
};

/* xorshift64: a fixed seed makes every run schedule and cancel the same way. */
static uint32_t st_rand(struct stress *s) {
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (uint32_t)(s->rng >> 32);
}

static int st_producer(void *arg) {
    struct stress *s = arg;
    for (int k = 0; k < 40 && s->next_item < ST_ITEMS; k++) {
        int item = s->next_item++;
        int rc = corio_queue_put(s->q, ITEM(item + 1));
        if (rc == -ECANCELED) {
            s->cancelled_puts++;
            return 0;
        }
        if (rc == -EPIPE) {
            s->closed_puts++;
            return 0;
        }
        ASSERT_RC(rc, 0);
        s->put_ok[item] = 1;
        if (st_rand(s) % 4 == 0 && corio_yield() != 0) return 0;
    }
    return 0;
}

static void st_record(struct stress *s, void *p) {
    long item = NUM(p) - 1;
    ASSERT_GE(item, 0);
    ASSERT_LT(item, ST_ITEMS);
    ASSERT_EQ(s->got[item], 0); /* never twice */
    s->got[item] = 1;
    s->consumed++;
}

static int st_consumer(void *arg) {
    struct stress *s = arg;
    for (;;) {
        void *p = NULL;
        int rc = corio_queue_get(s->q, &p);
        if (rc == -ECANCELED) {
            s->cancelled_gets++;
            return 0;
        }
        if (rc == -EPIPE) return 0;
        ASSERT_RC(rc, 0);
        st_record(s, p);
        if (st_rand(s) % 3 == 0 && corio_yield() != 0) return 0;
    }
}

static void st_spawn(struct stress *s, corio_fn fn) {
    ASSERT_LT(s->ntasks, ST_MAX_TASKS);
    s->tasks[s->ntasks++] = test_spawn(fn, s);
}

static int stress_main(void *arg) {
    (void)arg;
    struct stress *s = calloc(1, sizeof *s);
    ASSERT_NOT_NULL(s);
    s->rng = 0x9e3779b97f4a7c15U;
    s->q = corio_queue_new(2);
    ASSERT_NOT_NULL(s->q);
    while (s->next_item < ST_ITEMS) {
        uint32_t r = st_rand(s);
        if (r % 3 == 0) st_spawn(s, st_producer);
        if (r % 7 == 0) st_spawn(s, st_consumer);
        for (uint32_t y = st_rand(s) % 4; y > 0; y--) ASSERT_RC(corio_yield(), 0);
        /* Sometimes move an item ourselves first, so that a waiting getter has just been handed an item or a
         * waiting putter's item has just been let in when the cancellation below hits it. */
        uint32_t what = st_rand(s) % 4;
        if (what == 1 && s->next_item < ST_ITEMS) {
            int item = s->next_item++;
            int rc = corio_queue_try_put(s->q, ITEM(item + 1));
            if (rc == 0)
                s->put_ok[item] = 1;
            else
                ASSERT_RC(rc, -EAGAIN);
        } else if (what == 2) {
            void *p = NULL;
            int rc = corio_queue_try_get(s->q, &p);
            if (rc == 0)
                st_record(s, p);
            else
                ASSERT_RC(rc, -EAGAIN);
        }
        /* Cancel one of the recent tasks, blocked or not. */
        if (what != 3) {
            int back = (int)(st_rand(s) % 16);
            if (back < s->ntasks) {
                int rc = corio_cancel(s->tasks[s->ntasks - 1 - back]);
                if (rc != -ESRCH) ASSERT_RC(rc, 0);
            }
        }
    }
    corio_queue_close(s->q);
    st_spawn(s, st_consumer); /* in case every consumer was cancelled */
    for (int i = 0; i < s->ntasks; i++) ASSERT_RC(corio_await(s->tasks[i]), 0);
    void *p = NULL;
    int rc;
    while ((rc = corio_queue_try_get(s->q, &p)) == 0) st_record(s, p);
    ASSERT_RC(rc, -EPIPE);
    long put = 0;
    for (int i = 0; i < ST_ITEMS; i++) {
        if (s->put_ok[i] != s->got[i])
            TEST_FAIL_("item %d: put returned %s but it was got %d times", i, s->put_ok[i] ? "0" : "an error",
                       s->got[i]);
        put += s->put_ok[i];
    }
    ASSERT_EQ(s->consumed, put);
    /* The run must really have exercised the interesting paths. */
    ASSERT_GT(put, ST_ITEMS / 2);
    ASSERT_GT(s->cancelled_puts, 0);
    ASSERT_GT(s->cancelled_gets, 0);
    ASSERT_RC(corio_queue_free(s->q), 0);
    free(s);
    return 0;
}

TEST(queue_random_cancellation_loses_nothing) { ASSERT_RC(corio_run(stress_main, NULL), 0); }

/* ---- misuse and lifetime ------------------------------------------------------------------------------------ */

static int free_busy_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    struct getter g = {.q = q};
    corio_task *tg = test_spawn(getter, &g);
    test_settle();
    ASSERT_RC(corio_queue_free(q), -EBUSY); /* a getter waits */
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_await(tg), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(2)), 0);
    struct putter p = {.q = q, .first = 3, .count = 1};
    corio_task *tp = test_spawn(putter, &p);
    test_settle();
    ASSERT_RC(corio_queue_free(q), -EBUSY); /* a putter waits */
    corio_queue_close(q);
    ASSERT_RC(corio_await(tp), 0);
    ASSERT_RC(p.rc, -EPIPE);
    ASSERT_RC(corio_queue_free(q), 0); /* items still queued are the caller's business */
    return 0;
}

TEST(queue_free_with_waiters_is_ebusy) { ASSERT_RC(corio_run(free_busy_main, NULL), 0); }

static int null_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    void *p = NULL;
    ASSERT_RC(corio_queue_put(NULL, ITEM(1)), -EINVAL);
    ASSERT_RC(corio_queue_try_put(NULL, ITEM(1)), -EINVAL);
    ASSERT_RC(corio_queue_get(NULL, &p), -EINVAL);
    ASSERT_RC(corio_queue_try_get(NULL, &p), -EINVAL);
    ASSERT_RC(corio_queue_get(q, NULL), -EINVAL);
    ASSERT_RC(corio_queue_try_get(q, NULL), -EINVAL);
    ASSERT_RC(corio_queue_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_queue_get(q, NULL), -EINVAL); /* even with an item ready, and it stays queued */
    ASSERT_RC(corio_queue_try_get(q, NULL), -EINVAL);
    ASSERT_EQ(corio_queue_size(q), 1);
    ASSERT_EQ(corio_queue_size(NULL), 0);
    corio_queue_close(NULL);
    ASSERT_RC(corio_queue_free(NULL), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_null_is_einval) { ASSERT_RC(corio_run(null_main, NULL), 0); }

static int outside_main(void *arg) {
    corio_queue *q = arg;
    struct getter g = {.q = q};
    corio_task *t = test_spawn(getter, &g);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(g.rc, 0);
    ASSERT_EQ(NUM(g.item), 1);
    return 0;
}

TEST(queue_created_outside_loop) {
    corio_queue *q = corio_queue_new(4);
    ASSERT_NOT_NULL(q);
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_run(outside_main, q), 0);
    ASSERT_RC(corio_queue_try_put(q, ITEM(1)), 0);
    ASSERT_RC(corio_run(outside_main, q), 0);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
}

/* Tasks still blocked on a queue when the main task returns are cancelled and leave it, so it can be freed. */
static int blocked_forever(void *arg) {
    corio_queue *q = arg;
    void *p = NULL;
    if (corio_queue_size(q) == 0)
        ASSERT_RC(corio_queue_get(q, &p), -ECANCELED);
    else
        ASSERT_RC(corio_queue_put(q, ITEM(2)), -ECANCELED);
    return 0;
}

static int loop_end_main(void *arg) {
    corio_queue **qs = arg;
    corio_detach(test_spawn(blocked_forever, qs[0]));
    corio_detach(test_spawn(blocked_forever, qs[1]));
    ASSERT_RC(corio_yield(), 0);
    return 0;
}

TEST(queue_waiters_cancelled_at_loop_end) {
    corio_queue *qs[2] = {corio_queue_new(1), corio_queue_new(1)};
    ASSERT_NOT_NULL(qs[0]);
    ASSERT_NOT_NULL(qs[1]);
    ASSERT_RC(corio_queue_try_put(qs[1], ITEM(1)), 0);
    ASSERT_RC(corio_run(loop_end_main, qs), 0);
    ASSERT_EQ(corio_queue_size(qs[0]), 0);
    ASSERT_EQ(corio_queue_size(qs[1]), 1);
    ASSERT_RC(corio_queue_free(qs[0]), 0);
    ASSERT_RC(corio_queue_free(qs[1]), 0);
}

/* ---- wake-up order ---------------------------------------------------------------------------------------------
 * Items put (or slots made) one after another without a suspension in between go to the waiting getters (putters)
 * in the order they arrived, and those run in that order too; a close wakes them all, in that order. Waiters are
 * spawned in one go, so they arrive in the order the ready queue runs them: spawn order. */

static char ord_log[64];
static size_t ord_len;
static void ord_step(char c) {
    ASSERT_LT(ord_len, sizeof ord_log - 1);
    ord_log[ord_len++] = c;
    ord_log[ord_len] = '\0';
}

struct ord_waiter {
    corio_queue *q;
    char id;
    long item; /* a putter's item */
    int want;  /* the status its call must return */
};
/* Gets an item and logs its id and the item's digit (or just its id if the call failed as wanted). */
static int ord_getter(void *arg) {
    const struct ord_waiter *w = arg;
    void *p = NULL;
    ASSERT_RC(corio_queue_get(w->q, &p), w->want);
    ord_step(w->id);
    if (w->want == 0) ord_step((char)('0' + NUM(p)));
    return 0;
}
/* Puts its item and logs its id. */
static int ord_putter(void *arg) {
    const struct ord_waiter *w = arg;
    ASSERT_RC(corio_queue_put(w->q, ITEM(w->item)), w->want);
    ord_step(w->id);
    return 0;
}

static int ord_getters_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(0);
    ASSERT_NOT_NULL(q);
    ord_len = 0;
    struct ord_waiter w[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct ord_waiter){.q = q, .id = (char)('a' + i)};
        t[i] = test_spawn(ord_getter, &w[i]);
    }
    test_settle();
    for (long i = 1; i <= 4; i++) ASSERT_RC(corio_queue_put(q, ITEM(i)), 0);
    ASSERT_RC(corio_gather(t, 4, NULL), 0);
    ASSERT_STREQ(ord_log, "a1b2c3d4");
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}
TEST(queue_getters_woken_together_run_in_arrival_order) { ASSERT_RC(corio_run(ord_getters_main, NULL), 0); }

static int ord_putters_main(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(1);
    ASSERT_NOT_NULL(q);
    ord_len = 0;
    ASSERT_RC(corio_queue_put(q, ITEM(9)), 0);
    struct ord_waiter w[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct ord_waiter){.q = q, .id = (char)('a' + i), .item = i + 1};
        t[i] = test_spawn(ord_putter, &w[i]);
    }
    test_settle();
    /* each get makes room for the first putter waiting: its item goes in, in arrival order */
    long want[5] = {9, 1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        void *p;
        ASSERT_RC(corio_queue_get(q, &p), 0);
        ASSERT_EQ(NUM(p), want[i]);
    }
    ASSERT_RC(corio_gather(t, 4, NULL), 0);
    ASSERT_STREQ(ord_log, "abcd");
    void *p;
    ASSERT_RC(corio_queue_get(q, &p), 0);
    ASSERT_EQ(NUM(p), want[4]);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}
TEST(queue_putters_woken_together_run_in_arrival_order) { ASSERT_RC(corio_run(ord_putters_main, NULL), 0); }

/* A close wakes the waiting getters of one queue and the waiting putters of another with -EPIPE, in arrival order. */
static int ord_close_main(void *arg) {
    (void)arg;
    corio_queue *empty = corio_queue_new(0), *full = corio_queue_new(1);
    ASSERT_NOT_NULL(empty);
    ASSERT_NOT_NULL(full);
    ASSERT_RC(corio_queue_put(full, ITEM(9)), 0);
    ord_len = 0;
    struct ord_waiter w[6];
    corio_task *t[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct ord_waiter){.q = i < 3 ? empty : full, .id = (char)('a' + i), .item = i, .want = -EPIPE};
        t[i] = test_spawn(i < 3 ? ord_getter : ord_putter, &w[i]);
    }
    test_settle();
    ASSERT_EQ(ord_len, 0);
    corio_queue_close(full);
    corio_queue_close(empty);
    ASSERT_RC(corio_gather(t, 6, NULL), 0);
    ASSERT_STREQ(ord_log, "defabc");
    ASSERT_EQ(corio_queue_size(full), 1); /* the putters enqueued nothing */
    ASSERT_RC(corio_queue_free(empty), 0);
    ASSERT_RC(corio_queue_free(full), 0);
    return 0;
}
TEST(queue_close_wakes_waiters_in_arrival_order) { ASSERT_RC(corio_run(ord_close_main, NULL), 0); }
