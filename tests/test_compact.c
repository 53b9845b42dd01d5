/* test_compact.c - tests of compact tasks (corio_task_opts.compact): their locals survive suspensions while other
 * compact tasks use the shared stack, deep frames, every kind of wait (sleep, await, gather, locks, queues,
 * events, timeouts, cancellation, streams), mixing with normal tasks, 100,000 at once, and the refused cases. */
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#define VAL(i) ((void *)(uintptr_t)(i))
#define NUM(p) ((long)(uintptr_t)(p))

static const corio_task_opts compact_opts = {.name = "compact", .compact = 1};

static corio_task *spawn_compact(corio_fn fn, void *arg) {
    corio_task *t = corio_spawn_opts(fn, arg, &compact_opts);
    ASSERT_NOT_NULL(t);
    return t;
}

/* Fills a local buffer from a seed, suspends in several ways, and checks the buffer after each. */
static void check_pattern(const unsigned char *b, size_t n, long seed) {
    for (size_t i = 0; i < n; i++) ASSERT_EQ(b[i], (unsigned char)(seed * 31 + (long)i));
}

static int pattern_task(void *arg) {
    long seed = NUM(arg);
    unsigned char buf[700];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(seed * 31 + (long)i);
    volatile long here = seed;
    for (int round = 0; round < 5; round++) {
        ASSERT_RC(round % 2 ? corio_yield() : corio_sleep(1 + seed % 3), 0);
        check_pattern(buf, sizeof buf, seed);
        ASSERT_EQ(here, seed);
    }
    return (int)seed;
}

static int locals_main(void *arg) {
    (void)arg;
    enum { N = 200 };
    corio_task *t[N];
    for (long i = 0; i < N; i++)
        t[i] = i % 3 == 2 ? test_spawn(pattern_task, VAL(i)) : spawn_compact(pattern_task, VAL(i));
    for (long i = 0; i < N; i++) ASSERT_EQ(corio_await(t[i]), i);
    return 0;
}

TEST(compact_locals_survive_other_tasks) { ASSERT_RC(corio_run(locals_main, NULL), 0); }

/* A detached default-stack task that wakes a compact one and ends at once: the compact task resumes straight
 * from it, with the ended task's struct still to be freed (the suspension's path for that), and its stack must
 * come back intact. */
struct wake_pair {
    corio_event *ev;
    long seed;
    bool woke;
};

static int waker(void *arg) {
    corio_event_set(((struct wake_pair *)arg)->ev);
    return 0;
}

static int waiter(void *arg) {
    struct wake_pair *w = arg;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(w->seed * 31 + (long)i);
    ASSERT_RC(corio_event_wait(w->ev), 0);
    check_pattern(buf, sizeof buf, w->seed);
    w->woke = true;
    return 0;
}

static int zombie_main(void *arg) {
    (void)arg;
    enum { N = 50 };
    struct wake_pair w[N];
    corio_task *t[N];
    for (long i = 0; i < N; i++) {
        w[i] = (struct wake_pair){.ev = corio_event_new(), .seed = i, .woke = false};
        ASSERT_NOT_NULL(w[i].ev);
        t[i] = spawn_compact(waiter, &w[i]);
    }
    ASSERT_RC(corio_yield(), 0); /* every waiter waits */
    for (long i = 0; i < N; i++) {
        corio_detach(test_spawn(waker, &w[i]));
        /* asleep, so that the waker's end hands the loop to the waiter it woke, not back to this task */
        ASSERT_RC(corio_sleep(1), 0);
        ASSERT_TRUE(w[i].woke);
    }
    for (long i = 0; i < N; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(corio_event_free(w[i].ev), 0);
    }
    return 0;
}
TEST(compact_resumed_by_an_ended_detached_task) { ASSERT_RC(corio_run(zombie_main, NULL), 0); }

/* ---- deep frames ----------------------------------------------------------------------------------------- */

static long deep(int depth, long seed) {
    volatile char frame[512];
    for (size_t i = 0; i < sizeof frame; i++) frame[i] = (char)(seed + depth + (long)i);
    long sum;
    if (depth == 0) {
        ASSERT_RC(corio_sleep(2), 0);
        ASSERT_RC(corio_yield(), 0);
        sum = seed;
    } else {
        sum = deep(depth - 1, seed) + depth;
    }
    for (size_t i = 0; i < sizeof frame; i++) ASSERT_EQ(frame[i], (char)(seed + depth + (long)i));
    return sum;
}

static int deep_task(void *arg) {
    long seed = NUM(arg);
    /* ~80 frames of >512 bytes: some 45 KiB of the 64 KiB shared stack, all saved and restored */
    long sum = deep(80, seed);
    ASSERT_EQ(sum, seed + 80 * 81 / 2);
    return 0;
}

static int deep_main(void *arg) {
    (void)arg;
    corio_task *t[8];
    for (long i = 0; i < 8; i++) t[i] = spawn_compact(deep_task, VAL(i * 1000));
    for (int i = 0; i < 8; i++) ASSERT_RC(corio_await(t[i]), 0);
    return 0;
}

TEST(compact_deep_recursion) { ASSERT_RC(corio_run(deep_main, NULL), 0); }

/* ---- await, gather, groups of waits ---------------------------------------------------------------------- */

static int child(void *arg) {
    int rc = corio_sleep(1); /* cancelled when a sibling fails a fail-fast gather */
    return rc < 0 ? rc : (int)NUM(arg);
}

static int failing(void *arg) {
    (void)arg;
    ASSERT_RC(corio_yield(), 0);
    return -EIO;
}

/* A compact task gathering compact children: the array of handles lives on its own stack. */
static int gatherer(void *arg) {
    (void)arg;
    corio_task *ts[20];
    int st[20];
    for (long i = 0; i < 20; i++) ts[i] = i % 2 ? spawn_compact(child, VAL(i)) : test_spawn(child, VAL(i));
    ASSERT_RC(corio_gather(ts, 20, st), 0);
    for (int i = 0; i < 20; i++) ASSERT_EQ(st[i], i);
    corio_task *a = spawn_compact(child, VAL(7));
    ASSERT_EQ(corio_await(a), 7);
    corio_task *b = spawn_compact(child, VAL(8));
    ASSERT_EQ(corio_wait_for(b, 10000), 8);
    corio_task *f[3] = {spawn_compact(failing, NULL), spawn_compact(child, VAL(1)), spawn_compact(failing, NULL)};
    ASSERT_RC(corio_gather(f, 3, NULL), -EIO);
    return 42;
}

static int gather_main(void *arg) {
    (void)arg;
    corio_task *g[4];
    for (int i = 0; i < 4; i++) g[i] = spawn_compact(gatherer, NULL);
    int st[4];
    ASSERT_RC(corio_gather(g, 4, st), 0);
    for (int i = 0; i < 4; i++) ASSERT_EQ(st[i], 42);
    return 0;
}

TEST(compact_await_and_gather) { ASSERT_RC(corio_run(gather_main, NULL), 0); }

/* ---- locks, queues, events ------------------------------------------------------------------------------- */

struct shared {
    corio_lock *lock;
    corio_queue *q;
    corio_event *go;
    long counter;
};

static int locker(void *arg) {
    struct shared *s = arg;
    ASSERT_RC(corio_event_wait(s->go), 0);
    for (int i = 0; i < 50; i++) {
        ASSERT_RC(corio_lock_acquire(s->lock), 0);
        long v = s->counter;
        ASSERT_RC(corio_yield(), 0); /* others queue on the lock meanwhile */
        s->counter = v + 1;
        ASSERT_RC(corio_lock_release(s->lock), 0);
    }
    return 0;
}

static int producer(void *arg) {
    struct shared *s = arg;
    for (long i = 1; i <= 300; i++) ASSERT_RC(corio_queue_put(s->q, VAL(i)), 0);
    return 0;
}

static int consumer(void *arg) {
    struct shared *s = arg;
    long sum = 0;
    for (int i = 0; i < 300; i++) {
        void *p = NULL;
        ASSERT_RC(corio_queue_get(s->q, &p), 0);
        sum += NUM(p);
    }
    ASSERT_EQ(sum, 300 * 301 / 2);
    return 0;
}

static int sync_main(void *arg) {
    (void)arg;
    struct shared *s = calloc(1, sizeof *s);
    ASSERT_NOT_NULL(s);
    ASSERT_NOT_NULL(s->lock = corio_lock_new());
    ASSERT_NOT_NULL(s->q = corio_queue_new(4));
    ASSERT_NOT_NULL(s->go = corio_event_new());
    corio_task *t[10];
    for (int i = 0; i < 8; i++) t[i] = i % 4 == 3 ? test_spawn(locker, s) : spawn_compact(locker, s);
    t[8] = spawn_compact(producer, s);
    t[9] = spawn_compact(consumer, s);
    test_settle();
    corio_event_set(s->go);
    int st[10];
    ASSERT_RC(corio_gather(t, 10, st), 0);
    for (int i = 0; i < 10; i++) ASSERT_RC(st[i], 0);
    ASSERT_EQ(s->counter, 8 * 50);
    ASSERT_RC(corio_lock_free(s->lock), 0);
    ASSERT_RC(corio_queue_free(s->q), 0);
    ASSERT_RC(corio_event_free(s->go), 0);
    free(s);
    return 0;
}

TEST(compact_locks_queues_events) { ASSERT_RC(corio_run(sync_main, NULL), 0); }

/* ---- timeouts and cancellation --------------------------------------------------------------------------- */

static int scoped(void *arg) {
    (void)arg;
    corio_timeout outer, inner; /* on the compact task's own stack: only it reads them */
    ASSERT_RC(corio_timeout_enter(&outer, 10000), 0);
    ASSERT_RC(corio_timeout_enter(&inner, 20), 0);
    ASSERT_RC(corio_sleep(10000), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&inner), -ETIMEDOUT);
    ASSERT_RC(corio_sleep(1), 0);
    ASSERT_RC(corio_timeout_exit(&outer), 0);
    return 0;
}

static int sleeper(void *arg) {
    (void)arg;
    int rc = corio_sleep(100000);
    return rc == -ECANCELED ? 1 : rc;
}

static int timeout_main(void *arg) {
    (void)arg;
    corio_task *t[6];
    for (int i = 0; i < 6; i++) t[i] = spawn_compact(scoped, NULL);
    for (int i = 0; i < 6; i++) ASSERT_RC(corio_await(t[i]), 0);
    /* cancelled asleep, and cancelled before ever running (it holds no stack yet) */
    corio_task *a = spawn_compact(sleeper, NULL);
    test_settle();
    corio_task *b = spawn_compact(sleeper, NULL);
    ASSERT_RC(corio_cancel(a), 0);
    ASSERT_RC(corio_cancel(b), 0);
    ASSERT_EQ(corio_await(a), 1);
    ASSERT_EQ(corio_await(b), 1); /* it still runs, and its first wait fails */
    corio_task *c = spawn_compact(sleeper, NULL);
    ASSERT_RC(corio_wait_for(c, 20), 1); /* cancelled at the deadline, it ended with a status of its own: kept */
    return 0;
}

TEST(compact_timeouts_and_cancellation) { ASSERT_RC(corio_run(timeout_main, NULL), 0); }

/* ---- streams --------------------------------------------------------------------------------------------- */

static int stream_writer(void *arg) {
    corio_stream *s = corio_stream_new((int)NUM(arg));
    ASSERT_NOT_NULL(s);
    char line[64]; /* the buffer on the compact stack: written out by the task itself */
    for (int i = 0; i < 200; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        ASSERT_EQ(corio_stream_write(s, line, (size_t)n), n);
        if (i % 16 == 0) ASSERT_RC(corio_yield(), 0);
    }
    ASSERT_RC(corio_stream_drain(s), 0);
    ASSERT_RC(corio_stream_free(s), 0);
    return 0;
}

static int stream_reader(void *arg) {
    corio_stream *s = corio_stream_new((int)NUM(arg));
    ASSERT_NOT_NULL(s);
    char line[64], want[64];
    for (int i = 0; i < 200; i++) {
        ssize_t n = corio_stream_read_line(s, line, sizeof line);
        int w = snprintf(want, sizeof want, "line %d\n", i);
        ASSERT_EQ(n, w);
        ASSERT_TRUE(memcmp(line, want, (size_t)w) == 0);
    }
    ASSERT_RC(corio_stream_free(s), 0);
    return 0;
}

static int stream_main(void *arg) {
    (void)arg;
    corio_task *t[8];
    for (int k = 0; k < 4; k++) {
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        t[2 * k] = spawn_compact(stream_reader, VAL(sv[0]));
        t[2 * k + 1] = k == 3 ? test_spawn(stream_writer, VAL(sv[1])) : spawn_compact(stream_writer, VAL(sv[1]));
    }
    int st[8];
    ASSERT_RC(corio_gather(t, 8, st), 0);
    for (int i = 0; i < 8; i++) ASSERT_RC(st[i], 0);
    return 0;
}

TEST(compact_streams) { ASSERT_RC(corio_run(stream_main, NULL), 0); }

/* ---- many ------------------------------------------------------------------------------------------------ */

static int nap(void *arg) {
    long i = NUM(arg);
    volatile long mine = i * 7;
    ASSERT_RC(corio_sleep(50), 0);
    ASSERT_EQ(mine, i * 7);
    return 0;
}

static int many_main(void *arg) {
    (void)arg;
    /* ThreadSanitizer's fiber per task costs milliseconds to create, valgrind's switches are slow */
    size_t n = test_small() ? 500 : 100000;
    corio_task **t = malloc(n * sizeof *t);
    ASSERT_NOT_NULL(t);
    for (size_t i = 0; i < n; i++) t[i] = spawn_compact(nap, VAL(i));
    ASSERT_RC(corio_yield(), 0);
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.tasks, n + 1);
    ASSERT_LE(st.stacks_in_use, 2); /* main's and the shared one */
    ASSERT_RC(corio_gather(t, n, NULL), 0);
    free(t);
    return 0;
}

TEST_TIMEOUT(compact_100k_tasks, 120) { ASSERT_RC(corio_run(many_main, NULL), 0); }

/* ---- refused ----------------------------------------------------------------------------------------------- */

static int nothing(void *arg) {
    (void)arg;
    return 0;
}

static int add_one(void *arg) {
    ++*(int *)arg;
    return 0;
}

static int refusing(void *arg) {
    (void)arg;
    int local = 0;
    /* another task, or a pool thread, would use it while this task's bytes are off the shared stack */
    errno = 0;
    ASSERT_NULL(corio_spawn_opts(nothing, &local, NULL));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_RC(corio_to_thread(add_one, &local), -EINVAL);
    int *heap = calloc(1, sizeof *heap);
    ASSERT_NOT_NULL(heap);
    ASSERT_RC(corio_to_thread(add_one, heap), 0);
    ASSERT_EQ(*heap, 1);
    free(heap);
    corio_task *ok = corio_spawn_opts(nothing, VAL(1), NULL); /* a value, not a pointer into the stack */
    ASSERT_NOT_NULL(ok);
    ASSERT_RC(corio_await(ok), 0);
    return 0;
}

static int refuse_main(void *arg) {
    (void)arg;
    errno = 0;
    ASSERT_NULL(corio_spawn_opts(nothing, NULL, &(corio_task_opts){.compact = 1, .stack_size = 128 * 1024}));
    ASSERT_EQ(errno, EINVAL);
    int local = 0; /* main is a normal task: its stack stays put */
    corio_task *t = spawn_compact(add_one, &local);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(local, 1);
    ASSERT_RC(corio_await(spawn_compact(refusing, NULL)), 0);
    return 0;
}

TEST(compact_refused_stack_pointers) { ASSERT_RC(corio_run(refuse_main, NULL), 0); }

/* a compact main-like tree: compact tasks spawning compact tasks that outlive them, detached */
static int leaves_done;

static int detached_leaf(void *arg) {
    (void)arg;
    ASSERT_RC(corio_sleep(2), 0);
    leaves_done++;
    return 0;
}

static int spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) corio_detach(spawn_compact(detached_leaf, NULL));
    return 0;
}

static int detach_main(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) corio_detach(spawn_compact(spawner, NULL));
    for (int i = 0; i < 6000 && leaves_done < 100; i++) ASSERT_RC(corio_sleep(10), 0);
    ASSERT_EQ(leaves_done, 100);
    return 0;
}

TEST(compact_detached_tree) { ASSERT_RC(corio_run(detach_main, NULL), 0); }

/* debug mode: the same refusals (with a message naming the task), and its slow-task and quarantine paths */
TEST(compact_refused_in_debug_mode) {
    setenv("CORIO_DEBUG", "1", 1);
    ASSERT_RC(corio_run(refuse_main, NULL), 0);
}

/* corio_dump_tasks reads every task's saved stack pointer: compact ones' lie on the shared stack */
static int dump_main(void *arg) {
    (void)arg;
    corio_task *t[5];
    for (long i = 0; i < 5; i++) t[i] = spawn_compact(nap, VAL(i));
    test_settle();
    FILE *out = fopen("/dev/null", "w");
    ASSERT_NOT_NULL(out);
    corio_dump_tasks(out);
    ASSERT_EQ(fclose(out), 0);
    ASSERT_RC(corio_gather(t, 5, NULL), 0);
    return 0;
}

TEST(compact_dump_tasks) { ASSERT_RC(corio_run(dump_main, NULL), 0); }

/* Channel waiters are written by senders while the receiver is suspended: a compact receiver's must not be on
 * the shared stack, which other compact tasks use meanwhile. */
struct chan_rx {
    corio_chan *ch;
    intptr_t got;
};

static int chan_receiver(void *arg) {
    struct chan_rx *rx = arg;
    void *item;
    int rc = corio_chan_recv(rx->ch, &item);
    if (rc == 0) rx->got = (intptr_t)item;
    return rc;
}

static int busy_compact(void *arg) {
    (void)arg;
    volatile char scratch[2048];
    for (size_t i = 0; i < sizeof scratch; i++) scratch[i] = (char)i; /* overwrite the shared stack */
    return corio_yield();
}

static int main_chan(void *arg) {
    (void)arg;
    enum { N = 4 };
    corio_chan *ch = corio_chan_new(0);
    ASSERT_NOT_NULL(ch);
    struct chan_rx rx[N];
    corio_task *t[2 * N];
    for (int i = 0; i < N; i++) {
        rx[i] = (struct chan_rx){.ch = ch, .got = -1};
        t[i] = spawn_compact(chan_receiver, &rx[i]);
        t[N + i] = spawn_compact(busy_compact, NULL);
    }
    test_settle();
    for (intptr_t i = 0; i < N; i++) ASSERT_RC(corio_chan_send(ch, (void *)(i + 100)), 0);
    ASSERT_RC(corio_gather(t, 2 * N, NULL), 0);
    intptr_t sum = 0;
    for (int i = 0; i < N; i++) sum += rx[i].got;
    ASSERT_EQ(sum, 100 + 101 + 102 + 103);
    corio_chan_free(ch);
    return 0;
}

TEST(compact_task_waits_on_a_channel) { ASSERT_RC(corio_run(main_chan, NULL), 0); }
