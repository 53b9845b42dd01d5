/* test_select.c - tests of corio_select (Go's select) and corio_chan_try_send/recv as corio.h specifies them: each
 * kind of case, exactly one case completing and the others untouched, fair choice among ready cases, closed queues
 * and channels as completed cases, deadlines and cancellation taking nothing, a channel fed from another thread,
 * a storm of selectors cancelled at random that neither loses nor duplicates an item, and bad arguments. */
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

#define ITEM(n) ((void *)(intptr_t)(n))

struct later {
    int64_t ms;
    corio_queue *q;
    void *item;
    corio_event *e;
    corio_sem *s;
    int fd;
};
static int do_later(void *arg) {
    struct later *x = arg;
    ASSERT_RC(corio_sleep(x->ms), 0);
    if (x->q) ASSERT_RC(corio_queue_put(x->q, x->item), 0);
    if (x->e) corio_event_set(x->e);
    if (x->s) ASSERT_RC(corio_sem_release(x->s), 0);
    if (x->fd >= 0) ASSERT_EQ(write(x->fd, "x", 1), 1);
    return 0;
}

static int main_queues(void *arg) {
    (void)arg;
    corio_queue *a = corio_queue_new(0), *b = corio_queue_new(0);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    corio_sel c[2] = {{.op = CORIO_SEL_QUEUE_GET, .obj = a}, {.op = CORIO_SEL_QUEUE_GET, .obj = b}};
    struct later x = {.ms = 20, .q = b, .item = ITEM(7), .fd = -1};
    corio_task *t = test_spawn(do_later, &x);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_select(c, 2, -1), 1);
    ASSERT_GE(test_now_ms() - t0, 15);
    ASSERT_PTR_EQ(c[1].item, ITEM(7));
    ASSERT_EQ(c[1].closed, 0);
    ASSERT_RC(corio_await(t), 0);
    /* a put on a full bounded queue waits for room that a get makes */
    corio_queue *full = corio_queue_new(1);
    ASSERT_NOT_NULL(full);
    ASSERT_RC(corio_queue_put(full, ITEM(1)), 0);
    corio_sel p[2] = {{.op = CORIO_SEL_QUEUE_GET, .obj = a}, {.op = CORIO_SEL_QUEUE_PUT, .obj = full, .item = ITEM(2)}};
    ASSERT_RC(corio_select(p, 2, 10), -ETIMEDOUT);
    ASSERT_EQ(corio_queue_size(full), 1); /* nothing put by the timed-out select */
    void *got;
    ASSERT_RC(corio_queue_get(full, &got), 0);
    ASSERT_RC(corio_select(p, 2, -1), 1);
    ASSERT_RC(corio_queue_get(full, &got), 0);
    ASSERT_PTR_EQ(got, ITEM(2));
    /* closed: a completed case, with nothing got */
    corio_queue_close(a);
    ASSERT_RC(corio_select(c, 2, -1), 0);
    ASSERT_EQ(c[0].closed, 1);
    ASSERT_PTR_EQ(c[0].item, NULL);
    ASSERT_RC(corio_queue_free(a), 0);
    ASSERT_RC(corio_queue_free(b), 0);
    ASSERT_RC(corio_queue_free(full), 0);
    return 0;
}
TEST(select_queues) { run_ok(main_queues, NULL); }

static int ends_later(void *arg) { return corio_sleep((int64_t)(intptr_t)arg) < 0 ? -1 : 5; }

static int main_kinds(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    corio_sem *s = corio_sem_new(0);
    ASSERT_NOT_NULL(e);
    ASSERT_NOT_NULL(s);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    corio_task *slow = test_spawn(ends_later, ITEM(10000));
    corio_sel c[4] = {{.op = CORIO_SEL_EVENT, .obj = e},
                      {.op = CORIO_SEL_SEM, .obj = s},
                      {.op = CORIO_SEL_READABLE, .fd = sv[0]},
                      {.op = CORIO_SEL_TASK, .obj = slow}};
    struct later x = {.ms = 10, .e = e, .fd = -1};
    corio_task *t = test_spawn(do_later, &x);
    ASSERT_RC(corio_select(c, 4, -1), 0);
    ASSERT_RC(corio_await(t), 0);
    corio_event_clear(e);
    x = (struct later){.ms = 10, .s = s, .fd = -1};
    t = test_spawn(do_later, &x);
    ASSERT_RC(corio_select(c, 4, -1), 1);
    ASSERT_RC(corio_sem_value(s), 0); /* the select took the permit */
    ASSERT_RC(corio_await(t), 0);
    x = (struct later){.ms = 10, .fd = sv[1]};
    t = test_spawn(do_later, &x);
    ASSERT_RC(corio_select(c, 4, -1), 2);
    ASSERT_RC(corio_await(t), 0);
    char ch;
    ASSERT_EQ(read(sv[0], &ch, 1), 1);
    corio_task *quick = test_spawn(ends_later, ITEM(10));
    c[3].obj = quick;
    ASSERT_RC(corio_select(c, 4, -1), 3);
    ASSERT_RC(corio_task_done(quick), 1);
    ASSERT_RC(corio_await(quick), 5); /* not freed by the select */
    c[3].obj = slow;
    /* writable at once */
    corio_sel w[1] = {{.op = CORIO_SEL_WRITABLE, .fd = sv[1]}};
    ASSERT_RC(corio_select(w, 1, 0), 0);
    ASSERT_RC(corio_cancel(slow), 0);
    ASSERT_RC(corio_await(slow), -1);
    ASSERT_RC(corio_close(sv[0]), 0);
    close(sv[1]);
    ASSERT_RC(corio_event_free(e), 0);
    ASSERT_RC(corio_sem_free(s), 0);
    return 0;
}
TEST(select_events_semaphores_descriptors_tasks) { run_ok(main_kinds, NULL); }

/* Ready cases are chosen fairly: two queues full of items, each gets picked about half the time. */
static int main_fair(void *arg) {
    (void)arg;
    corio_queue *q[2] = {corio_queue_new(0), corio_queue_new(0)};
    for (int i = 0; i < 2000; i++) {
        ASSERT_RC(corio_queue_put(q[0], ITEM(1)), 0);
        ASSERT_RC(corio_queue_put(q[1], ITEM(2)), 0);
    }
    corio_sel c[2] = {{.op = CORIO_SEL_QUEUE_GET, .obj = q[0]}, {.op = CORIO_SEL_QUEUE_GET, .obj = q[1]}};
    int count[2] = {0, 0};
    for (int i = 0; i < 2000; i++) {
        int k = corio_select(c, 2, -1);
        ASSERT_TRUE(k == 0 || k == 1);
        ASSERT_PTR_EQ(c[k].item, ITEM(k + 1));
        count[k]++;
    }
    ASSERT_GT(count[0], 700);
    ASSERT_GT(count[1], 700);
    ASSERT_EQ(corio_queue_size(q[0]) + corio_queue_size(q[1]), 2000);
    void *item;
    for (int i = 0; i < 2; i++) {
        while (corio_queue_try_get(q[i], &item) == 0) {
        }
        ASSERT_RC(corio_queue_free(q[i]), 0);
    }
    return 0;
}
TEST(select_chooses_fairly) { run_ok(main_fair, NULL); }

/* Cancelled while waiting: it returns -ECANCELED and takes nothing; the item goes to the next get. */
static int cancelled_selector(void *arg) {
    corio_queue *q = arg;
    corio_sel c[1] = {{.op = CORIO_SEL_QUEUE_GET, .obj = q}};
    return corio_select(c, 1, -1);
}
static int main_cancel(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(0);
    corio_task *t = test_spawn(cancelled_selector, q);
    test_settle();
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_queue_put(q, ITEM(3)), 0); /* in the same turn as the cancel */
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_EQ(corio_queue_size(q), 1);
    void *item;
    ASSERT_RC(corio_queue_get(q, &item), 0);
    ASSERT_PTR_EQ(item, ITEM(3));
    ASSERT_RC(corio_queue_free(q), 0); /* no watch left behind */
    return 0;
}
TEST(select_cancelled_takes_nothing) { run_ok(main_cancel, NULL); }

/* A channel fed by a plain thread: the wake crosses threads through the loop's inbox. */
static void *feeder(void *arg) {
    usleep(20000);
    ASSERT_RC(corio_chan_try_send(arg, ITEM(9)), 0);
    return NULL;
}
static int main_chan(void *arg) {
    (void)arg;
    corio_chan *ch = corio_chan_new(1), *other = corio_chan_new(0);
    ASSERT_NOT_NULL(ch);
    ASSERT_NOT_NULL(other);
    void *item;
    ASSERT_RC(corio_chan_try_recv(ch, &item), -EAGAIN);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, feeder, ch), 0);
    corio_sel c[2] = {{.op = CORIO_SEL_CHAN_RECV, .obj = other}, {.op = CORIO_SEL_CHAN_RECV, .obj = ch}};
    ASSERT_RC(corio_select(c, 2, 5000), 1);
    ASSERT_PTR_EQ(c[1].item, ITEM(9));
    ASSERT_EQ(pthread_join(th, NULL), 0);
    /* a send case completes on a buffered channel with room, not on an unbuffered one with no receiver */
    corio_sel s[2] = {{.op = CORIO_SEL_CHAN_SEND, .obj = other, .item = ITEM(1)},
                      {.op = CORIO_SEL_CHAN_SEND, .obj = ch, .item = ITEM(2)}};
    ASSERT_RC(corio_select(s, 2, -1), 1);
    ASSERT_RC(corio_chan_try_recv(ch, &item), 0);
    ASSERT_PTR_EQ(item, ITEM(2));
    corio_chan_close(other);
    ASSERT_RC(corio_select(s, 2, -1) >= 0, 1);
    ASSERT_RC(corio_chan_try_send(other, ITEM(1)), -EPIPE);
    ASSERT_RC(corio_chan_try_send(NULL, ITEM(1)), -EINVAL);
    ASSERT_RC(corio_chan_try_recv(ch, NULL), -EINVAL);
    ASSERT_RC(corio_chan_free(ch), 0);
    ASSERT_RC(corio_chan_free(other), 0);
    return 0;
}
TEST(select_channels_across_threads) { run_ok(main_chan, NULL); }

/* A storm: selectors over two queues, cancelled and timed out at random while producers put numbered items. Every
 * item is got exactly once, and a select that failed got nothing. */
enum { STORM_ITEMS = 3000, STORM_SELECTORS = 40 };
static struct storm {
    corio_queue *q[2];
    unsigned char seen[STORM_ITEMS + 1];
    int got, done;
} sm;
static int storm_selector(void *arg) {
    (void)arg;
    corio_sel c[2] = {{.op = CORIO_SEL_QUEUE_GET, .obj = sm.q[0]}, {.op = CORIO_SEL_QUEUE_GET, .obj = sm.q[1]}};
    for (;;) {
        corio_timeout to;
        ASSERT_RC(corio_timeout_enter(&to, (int64_t)(test_now_ms() % 3)), 0);
        c[0].item = c[1].item = ITEM(-1);
        int k = corio_select(c, 2, -1);
        (void)corio_timeout_exit(&to);
        if (k == -ETIMEDOUT) {
            ASSERT_PTR_EQ(c[0].item, ITEM(-1));
            ASSERT_PTR_EQ(c[1].item, ITEM(-1));
            continue;
        }
        if (k < 0) {
            ASSERT_RC(k, -ECANCELED);
            return 0;
        }
        if (c[k].closed) return 0;
        intptr_t id = (intptr_t)c[k].item;
        ASSERT_TRUE(id >= 1 && id <= STORM_ITEMS);
        ASSERT_EQ(sm.seen[id], 0);
        sm.seen[id] = 1;
        sm.got++;
    }
}
static int main_storm(void *arg) {
    (void)arg;
    sm.q[0] = corio_queue_new(4);
    sm.q[1] = corio_queue_new(0);
    corio_task *t[STORM_SELECTORS];
    for (int i = 0; i < STORM_SELECTORS; i++) t[i] = test_spawn(storm_selector, NULL);
    for (intptr_t id = 1; id <= STORM_ITEMS; id++) {
        ASSERT_RC(corio_queue_put(sm.q[id % 2], ITEM(id)), 0);
        if (id % 97 == 0) {
            int k = (int)(id / 97) % STORM_SELECTORS;
            if (!corio_task_done(t[k])) (void)corio_cancel(t[k]);
        }
        if (id % 7 == 0) ASSERT_RC(corio_yield(), 0);
    }
    corio_queue_close(sm.q[0]);
    corio_queue_close(sm.q[1]);
    ASSERT_RC(corio_gather(t, STORM_SELECTORS, NULL), 0);
    /* what the cancelled selectors left is still queued, exactly once */
    void *item;
    for (int i = 0; i < 2; i++)
        while (corio_queue_try_get(sm.q[i], &item) == 0) {
            intptr_t id = (intptr_t)item;
            ASSERT_EQ(sm.seen[id], 0);
            sm.seen[id] = 1;
            sm.got++;
        }
    ASSERT_EQ(sm.got, STORM_ITEMS);
    ASSERT_RC(corio_queue_free(sm.q[0]), 0);
    ASSERT_RC(corio_queue_free(sm.q[1]), 0);
    return 0;
}
TEST(select_storm_loses_and_duplicates_nothing) { run_ok(main_storm, NULL); }

static int main_bad(void *arg) {
    (void)arg;
    corio_queue *q = corio_queue_new(0);
    corio_sel c[2] = {{.op = CORIO_SEL_QUEUE_GET, .obj = q}, {.op = 99, .obj = q}};
    ASSERT_RC(corio_select(NULL, 1, -1), -EINVAL);
    ASSERT_RC(corio_select(c, 0, -1), -EINVAL);
    ASSERT_RC(corio_select(c, 2, -1), -EINVAL);
    c[1] = (corio_sel){.op = CORIO_SEL_EVENT, .obj = NULL};
    ASSERT_RC(corio_select(c, 2, -1), -EINVAL);
    c[1] = (corio_sel){.op = CORIO_SEL_READABLE, .fd = -1};
    ASSERT_RC(corio_select(c, 2, -1), -EBADF);
    c[1] = (corio_sel){.op = CORIO_SEL_TASK, .obj = corio_current()};
    ASSERT_RC(corio_select(c, 2, -1), -EDEADLK);
    int fd = dup(0);
    ASSERT_GE(fd, 0);
    close(fd); /* a number that is not open */
    c[1] = (corio_sel){.op = CORIO_SEL_READABLE, .fd = fd};
    ASSERT_RC(corio_select(c, 2, 10), -EBADF);
    ASSERT_EQ(corio_queue_size(q), 0);
    ASSERT_RC(corio_queue_free(q), 0);
    return 0;
}
TEST(select_bad_arguments) {
    corio_sel c = {.op = CORIO_SEL_EVENT};
    ASSERT_RC(corio_select(&c, 1, 0), -EPERM);
    run_ok(main_bad, NULL);
}
