/* test_chan.c - tests of corio_chan: FIFO order and capacity in one loop, unbuffered hand-over, close semantics,
 * bad arguments, many producers and consumers over 2-4 loops (every item received exactly once: count and
 * checksum), waiters cancelled or timed out while other loops send (no item lost or duplicated), and channels
 * shared by loops that plain threads run with corio_run. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"

static void *P(intptr_t v) { return (void *)v; }

/* ---- one loop ------------------------------------------------------------------------------------------------ */

static int sender(void *arg) {
    corio_chan *ch = arg;
    for (intptr_t i = 1; i <= 10; i++) ASSERT_RC(corio_chan_send(ch, P(i)), 0);
    return 0;
}

static int fifo_main(void *arg) {
    (void)arg;
    corio_chan *ch = corio_chan_new(3);
    ASSERT_NOT_NULL(ch);
    corio_task *t = test_spawn(sender, ch);
    test_settle(); /* the sender fills the channel and waits */
    void *item;
    for (intptr_t i = 1; i <= 10; i++) {
        ASSERT_RC(corio_chan_recv(ch, &item), 0);
        ASSERT_PTR_EQ(item, P(i));
    }
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_chan_free(ch), 0);
    return 0;
}
TEST(fifo_and_capacity) { ASSERT_RC(corio_run(fifo_main, NULL), 0); }

static int unbuffered_main(void *arg) {
    (void)arg;
    corio_chan *ch = corio_chan_new(0);
    ASSERT_NOT_NULL(ch);
    corio_task *t = test_spawn(sender, ch);
    void *item;
    for (intptr_t i = 1; i <= 10; i++) {
        ASSERT_RC(corio_chan_recv(ch, &item), 0);
        ASSERT_PTR_EQ(item, P(i));
    }
    ASSERT_RC(corio_await(t), 0);
    /* nobody receives: a send would wait, so a timed-out one fails and sends nothing */
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 5), 0);
    ASSERT_RC(corio_chan_send(ch, P(1)), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_chan_free(ch), 0);
    return 0;
}
TEST(unbuffered) { ASSERT_RC(corio_run(unbuffered_main, NULL), 0); }

static int recv_expect(void *arg) {
    void *item;
    return corio_chan_recv(arg, &item);
}
static int send_expect(void *arg) { return corio_chan_send(arg, P(99)); }

static int close_main(void *arg) {
    (void)arg;
    corio_chan *ch = corio_chan_new(1);
    corio_task *r = test_spawn(recv_expect, ch);
    test_settle();
    ASSERT_RC(corio_chan_free(ch), -EBUSY);
    corio_chan_close(ch);
    ASSERT_RC(corio_await(r), -EPIPE);
    ASSERT_RC(corio_chan_send(ch, P(1)), -EPIPE);
    ASSERT_RC(corio_chan_free(ch), 0);

    ch = corio_chan_new(1);
    ASSERT_RC(corio_chan_send(ch, P(7)), 0);
    corio_task *s = test_spawn(send_expect, ch);
    test_settle(); /* waits: full */
    corio_chan_close(ch);
    ASSERT_RC(corio_await(s), -EPIPE);
    void *item;
    ASSERT_RC(corio_chan_recv(ch, &item), 0); /* drains what was queued before the close */
    ASSERT_PTR_EQ(item, P(7));
    ASSERT_RC(corio_chan_recv(ch, &item), -EPIPE);
    ASSERT_RC(corio_chan_free(ch), 0);
    return 0;
}
TEST(close_semantics) { ASSERT_RC(corio_run(close_main, NULL), 0); }

static int cancel_main(void *arg) {
    (void)arg;
    corio_chan *ch = corio_chan_new(1);
    corio_task *r = test_spawn(recv_expect, ch);
    test_settle();
    ASSERT_RC(corio_cancel(r), 0);
    ASSERT_RC(corio_await(r), -ECANCELED);
    /* a receiver handed an item and then cancelled before it ran still returns the item */
    r = test_spawn(recv_expect, ch);
    test_settle();
    ASSERT_RC(corio_chan_send(ch, P(5)), 0);
    ASSERT_RC(corio_cancel(r), 0);
    ASSERT_RC(corio_await(r), 0);
    void *item;
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 5), 0);
    ASSERT_RC(corio_chan_recv(ch, &item), -ETIMEDOUT); /* the item went to the cancelled receiver */
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_chan_free(ch), 0);
    return 0;
}
TEST(cancelled_waiters) { ASSERT_RC(corio_run(cancel_main, NULL), 0); }

TEST(bad_arguments) {
    void *item;
    ASSERT_RC(corio_chan_send(NULL, NULL), -EINVAL);
    ASSERT_RC(corio_chan_recv(NULL, &item), -EINVAL);
    corio_chan *ch = corio_chan_new(1);
    ASSERT_NOT_NULL(ch);
    ASSERT_RC(corio_chan_recv(ch, NULL), -EINVAL);
    ASSERT_RC(corio_chan_recv(ch, &item), -EPERM); /* empty: would wait, outside a task */
    ASSERT_RC(corio_chan_send(ch, P(1)), 0);       /* room: no wait needed, works from any thread */
    ASSERT_RC(corio_chan_send(ch, P(2)), -EPERM);
    ASSERT_RC(corio_chan_recv(ch, &item), 0);
    ASSERT_PTR_EQ(item, P(1));
    corio_chan_close(NULL);
    ASSERT_RC(corio_chan_free(NULL), 0);
    ASSERT_RC(corio_chan_free(ch), 0);
    errno = 0;
    ASSERT_NULL(corio_chan_new(SIZE_MAX));
    ASSERT_EQ(errno, ENOMEM);
}

/* ---- many producers and consumers over several loops --------------------------------------------------------- */

typedef struct mp {
    corio_chan *ch;
    int producers_per_loop, consumers_per_loop;
    int64_t items_per_producer;
    int cancel_mode; /* consumers and producers use short timeouts and get cancelled */
    atomic_int producers_left;
    atomic_llong count, sum, xsum;
} mp;

static mp *g_mp;

static uint64_t mix(uint64_t v) { return v * 0x9e3779b97f4a7c15ULL ^ (v >> 7); }

static void got(intptr_t v) {
    atomic_fetch_add(&g_mp->count, 1);
    atomic_fetch_add(&g_mp->sum, v);
    atomic_fetch_xor(&g_mp->xsum, (long long)mix((uint64_t)v));
}

static int producer(void *arg) {
    intptr_t base = (intptr_t)arg;
    mp *m = g_mp;
    unsigned seed = (unsigned)base;
    for (int64_t i = 1; i <= m->items_per_producer; i++) {
        intptr_t v = base + i;
        for (;;) {
            int rc;
            if (m->cancel_mode) { /* a send that times out sent nothing: send it again */
                corio_timeout to;
                ASSERT_RC(corio_timeout_enter(&to, rand_r(&seed) % 3), 0);
                rc = corio_chan_send(m->ch, P(v));
                (void)corio_timeout_exit(&to);
            } else {
                rc = corio_chan_send(m->ch, P(v));
            }
            if (rc == 0) break;
            ASSERT_RC(rc, -ETIMEDOUT);
        }
    }
    if (atomic_fetch_sub(&m->producers_left, 1) == 1) corio_chan_close(m->ch);
    return 0;
}

/* Receives until the channel is closed and drained; in cancel mode its waits also time out, and the supervisor
 * may cancel it at any moment: an item it was handed is counted all the same. */
static int consumer(void *arg) {
    (void)arg;
    mp *m = g_mp;
    unsigned seed = (unsigned)(uintptr_t)corio_current();
    for (;;) {
        void *item;
        int rc;
        if (m->cancel_mode && rand_r(&seed) % 2) {
            corio_timeout to;
            ASSERT_RC(corio_timeout_enter(&to, rand_r(&seed) % 2), 0);
            rc = corio_chan_recv(m->ch, &item);
            (void)corio_timeout_exit(&to);
        } else {
            rc = corio_chan_recv(m->ch, &item);
        }
        if (rc == 0) {
            got((intptr_t)item);
            continue;
        }
        if (rc == -ETIMEDOUT) continue;
        if (rc == -EPIPE) return 0;
        ASSERT_RC(rc, -ECANCELED);
        return rc;
    }
}

/* In cancel mode: keeps a consumer running, cancelling and replacing it every millisecond or so. */
static int supervisor(void *arg) {
    (void)arg;
    unsigned seed = 1234;
    for (;;) {
        corio_task *c = test_spawn(consumer, NULL);
        int rc = corio_sleep(rand_r(&seed) % 2);
        if (rc < 0) return rc;
        corio_cancel(c);
        rc = corio_await(c);
        if (rc == 0) return 0; /* saw the end of the stream */
        ASSERT_RC(rc, -ECANCELED);
    }
}

static int mp_main(void *arg) {
    mp *m = arg;
    int me = corio_loop_index();
    int np = m->producers_per_loop, nc = m->consumers_per_loop;
    corio_task **t = calloc((size_t)np + (size_t)nc + 1, sizeof *t);
    int n = 0;
    for (int i = 0; i < np; i++) t[n++] = test_spawn(producer, P((intptr_t)(me * np + i) * m->items_per_producer));
    for (int i = 0; i < nc; i++) t[n++] = test_spawn(consumer, NULL);
    if (m->cancel_mode) t[n++] = test_spawn(supervisor, NULL);
    ASSERT_GT(n, 0);
    int *st = calloc((size_t)n, sizeof *st);
    ASSERT_RC(corio_gather(t, (size_t)n, st), 0);
    for (int i = 0; i < n; i++) ASSERT_TRUE(st[i] == 0);
    free(st);
    free(t);
    return 0;
}

static void run_mp(unsigned loops, size_t cap, int cancel_mode) {
    mp m = {.producers_per_loop = 3, .consumers_per_loop = 3, .cancel_mode = cancel_mode};
    m.items_per_producer = test_small() ? 300 : 3000;
    m.ch = corio_chan_new(cap);
    ASSERT_NOT_NULL(m.ch);
    atomic_init(&m.producers_left, (int)loops * m.producers_per_loop);
    g_mp = &m;
    ASSERT_RC(corio_run_threads(loops, mp_main, &m), 0);
    int64_t total = (int64_t)loops * m.producers_per_loop * m.items_per_producer;
    long long xsum = 0;
    for (int64_t v = 1; v <= total; v++) xsum ^= (long long)mix((uint64_t)v);
    ASSERT_EQ(atomic_load(&m.count), total);
    ASSERT_EQ(atomic_load(&m.sum), total * (total + 1) / 2);
    ASSERT_EQ(atomic_load(&m.xsum), xsum);
    ASSERT_RC(corio_chan_free(m.ch), 0);
}

TEST_TIMEOUT(many_producers_consumers_2_to_4_loops, 120) {
    for (unsigned loops = 2; loops <= 4; loops++) {
        run_mp(loops, 16, 0);
        run_mp(loops, 0, 0);
    }
}

TEST_TIMEOUT(cancel_and_timeouts_race_with_sends, 120) {
    for (unsigned loops = 2; loops <= 4; loops++) {
        run_mp(loops, 4, 1);
        run_mp(loops, 0, 1);
    }
}

/* ---- loops in plain threads, and a close from a thread outside any loop --------------------------------------- */

static int plain_recv(void *arg) {
    void *item;
    int n = 0, rc;
    while ((rc = corio_chan_recv(arg, &item)) == 0) n++;
    ASSERT_RC(rc, -EPIPE);
    return n;
}

static void *plain_loop(void *arg) {
    int rc = corio_run(plain_recv, arg);
    return (void *)(intptr_t)rc;
}

static int plain_send(void *arg) {
    for (int i = 0; i < 1000; i++) ASSERT_RC(corio_chan_send(arg, P(i + 1)), 0);
    return 0;
}

static void *plain_sender(void *arg) {
    ASSERT_RC(corio_run(plain_send, arg), 0);
    return NULL;
}

TEST_TIMEOUT(plain_threads_and_foreign_close, 60) {
    corio_chan *ch = corio_chan_new(2);
    pthread_t r[3], s[2];
    for (int i = 0; i < 3; i++) ASSERT_EQ(pthread_create(&r[i], NULL, plain_loop, ch), 0);
    for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&s[i], NULL, plain_sender, ch), 0);
    for (int i = 0; i < 2; i++) pthread_join(s[i], NULL);
    usleep(20000);
    corio_chan_close(ch); /* from this thread, which runs no loop: wakes the waiters through their inboxes */
    int total = 0;
    for (int i = 0; i < 3; i++) {
        void *ret;
        pthread_join(r[i], &ret);
        ASSERT_GE((intptr_t)ret, 0);
        total += (int)(intptr_t)ret;
    }
    ASSERT_EQ(total, 2000);
    ASSERT_RC(corio_chan_free(ch), 0);
}

/* ---- the narrow race, made deterministic: a receiver is handed an item by another loop, then cancelled before
 * its own loop has read the wake message; it must return the item (lifetime rule 4), not lose it. -------------- */

static corio_chan *g_race_ch;
static atomic_int race_waiting, race_sent;

static int race_recv(void *arg) {
    void **out = arg;
    return corio_chan_recv(g_race_ch, out);
}

static int race_main(void *arg) {
    (void)arg;
    if (corio_loop_index() == 0) {
        while (!atomic_load(&race_waiting)) ASSERT_RC(corio_sleep(1), 0);
        ASSERT_RC(corio_chan_send(g_race_ch, P(42)), 0); /* handed to the receiver on loop 1 */
        atomic_store(&race_sent, 1);
        return 0;
    }
    void *item = NULL;
    corio_task *r = test_spawn(race_recv, &item);
    test_settle();
    atomic_store(&race_waiting, 1);
    while (!atomic_load(&race_sent)) usleep(100); /* block this loop: its inbox is not read meanwhile */
    ASSERT_RC(corio_cancel(r), 0);
    ASSERT_RC(corio_await(r), 0);
    ASSERT_PTR_EQ(item, P(42));
    return 0;
}

TEST_TIMEOUT(handed_then_cancelled_across_loops, 30) {
    for (int i = 0; i < 20; i++) {
        g_race_ch = corio_chan_new(0);
        atomic_store(&race_waiting, 0);
        atomic_store(&race_sent, 0);
        ASSERT_RC(corio_run_threads(2, race_main, NULL), 0);
        ASSERT_RC(corio_chan_free(g_race_ch), 0);
    }
}
