/* test_loops.c - tests of several loops: corio_run in independent threads, corio_run_threads with 1..4 loops and
 * its status, the loop index, corio_post across loops (10,000 posts, none lost, none run twice, and -ESHUTDOWN
 * once a loop's function has returned), servers sharing a port with reuseport, corio_to_thread from several loops
 * at once, and the bad arguments: a task handle used on another loop, and an event set from a thread with no loop
 * while a task waits on it (reported, then abort). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- independent loops in plain threads ------------------------------------------------------------------ */

static int count_tasks(void *arg) {
    atomic_int *n = arg;
    atomic_fetch_add(n, 1);
    return corio_sleep(1);
}

static int spawner_main(void *arg) {
    corio_task *t[50];
    for (int i = 0; i < 50; i++) t[i] = test_spawn(count_tasks, arg);
    ASSERT_RC(corio_gather(t, 50, NULL), 0);
    return 0;
}

static void *plain_thread(void *arg) {
    ASSERT_RC(corio_run(spawner_main, arg), 0);
    return NULL;
}

TEST_TIMEOUT(independent_corio_run_threads, 30) {
    atomic_int n = 0;
    pthread_t th[4];
    for (int i = 0; i < 4; i++) ASSERT_EQ(pthread_create(&th[i], NULL, plain_thread, &n), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    ASSERT_EQ(atomic_load(&n), 200);
}

/* ---- corio_run_threads ----------------------------------------------------------------------------------- */

typedef struct seen {
    atomic_int calls;
    atomic_uint mask;
    atomic_int bad_count;
} seen;

static int note_loop(void *arg) {
    seen *s = arg;
    int i = corio_loop_index();
    ASSERT_GE(i, 0);
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_or(&s->mask, 1U << i);
    if (corio_loop_count() <= i) atomic_fetch_add(&s->bad_count, 1);
    ASSERT_NOT_NULL(corio_current());
    return corio_sleep(5);
}

TEST_TIMEOUT(run_threads_one_to_four, 30) {
    for (unsigned n = 1; n <= 4; n++) {
        seen s = {0};
        ASSERT_RC(corio_run_threads(n, note_loop, &s), 0);
        ASSERT_EQ(atomic_load(&s.calls), n);
        ASSERT_EQ(atomic_load(&s.mask), (1U << n) - 1);
        ASSERT_EQ(atomic_load(&s.bad_count), 0);
    }
    ASSERT_RC(corio_loop_index(), -EPERM);
    ASSERT_RC(corio_loop_count(), -EPERM);
}

static int fail_on_two(void *arg) {
    (void)arg;
    return corio_loop_index() == 2 ? -EIO : 0;
}
TEST_TIMEOUT(run_threads_returns_the_failure, 30) { ASSERT_RC(corio_run_threads(4, fail_on_two, NULL), -EIO); }

static int nothing(void *arg) {
    (void)arg;
    return 0;
}

static int nested_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_run_threads(2, nothing, NULL), -EBUSY);
    ASSERT_RC(corio_loop_index(), -EPERM);
    ASSERT_RC(corio_post(0, nothing, NULL), -EPERM);
    return 0;
}

static int bad_posts(void *arg) {
    (void)arg;
    ASSERT_RC(corio_post(2, nothing, NULL), -EINVAL);
    ASSERT_RC(corio_post(100000, nothing, NULL), -EINVAL);
    ASSERT_RC(corio_post(0, NULL, NULL), -EINVAL);
    return 0;
}

TEST_TIMEOUT(bad_arguments, 30) {
    ASSERT_RC(corio_run_threads(0, nothing, NULL), -EINVAL);
    ASSERT_RC(corio_run_threads(257, nothing, NULL), -EINVAL);
    ASSERT_RC(corio_run_threads(2, NULL, NULL), -EINVAL);
    ASSERT_RC(corio_post(0, nothing, NULL), -EPERM);
    ASSERT_RC(corio_run(nested_main, NULL), 0);
    ASSERT_RC(corio_run_threads(2, bad_posts, NULL), 0);
}

TEST_TIMEOUT(run_threads_256_loops, 60) {
    if (test_small()) return;
    ASSERT_RC(corio_run_threads(256, nothing, NULL), 0);
}

/* ---- posting ------------------------------------------------------------------------------------------------ */

typedef struct post_state {
    unsigned nloops;
    int posts;               /* per posting loop */
    corio_chan *results;     /* every posted task sends its number here */
    corio_chan *quit;        /* closed when loop 0 has every result: the other loops may end */
    atomic_int ran_on_wrong; /* a posted task ran on another loop than the one it was posted to */
} post_state;

static post_state *g_post;

static int posted(void *arg) {
    intptr_t v = (intptr_t)arg;
    unsigned want = (unsigned)(v % g_post->nloops);
    if ((unsigned)corio_loop_index() != want) atomic_fetch_add(&g_post->ran_on_wrong, 1);
    return corio_chan_send(g_post->results, arg);
}

static int post_main(void *arg) {
    post_state *ps = arg;
    int me = corio_loop_index();
    /* every loop posts its share, round-robin over all loops (itself included) */
    for (int i = 0; i < ps->posts; i++) {
        intptr_t v = (intptr_t)me * ps->posts + i + 1;
        ASSERT_RC(corio_post((unsigned)(v % ps->nloops), posted, (void *)v), 0);
        if (i % 64 == 0) ASSERT_RC(corio_yield(), 0);
    }
    if (me != 0) {
        void *item;
        ASSERT_RC(corio_chan_recv(ps->quit, &item), -EPIPE);
        return 0;
    }
    int64_t total = (int64_t)ps->posts * ps->nloops;
    char *got = calloc((size_t)total + 1, 1);
    ASSERT_NOT_NULL(got);
    for (int64_t i = 0; i < total; i++) {
        void *item;
        ASSERT_RC(corio_chan_recv(ps->results, &item), 0);
        intptr_t v = (intptr_t)item;
        ASSERT_TRUE(v >= 1 && v <= total);
        ASSERT_EQ(got[v], 0); /* no task ran twice */
        got[v] = 1;
    }
    free(got);
    corio_chan_close(ps->quit);
    return 0;
}

TEST_TIMEOUT(post_ten_thousand, 60) {
    for (unsigned n = 2; n <= 4; n++) {
        post_state ps = {.nloops = n, .posts = (test_small() ? 300 : 10000) / (int)n};
        ps.results = corio_chan_new(64);
        ps.quit = corio_chan_new(0);
        g_post = &ps;
        ASSERT_RC(corio_run_threads(n, post_main, &ps), 0);
        ASSERT_EQ(atomic_load(&ps.ran_on_wrong), 0);
        ASSERT_RC(corio_chan_free(ps.results), 0);
        ASSERT_RC(corio_chan_free(ps.quit), 0);
    }
}

/* Posts race with loop 1's end: each post either fails with -ESHUTDOWN or its task runs exactly once (cancelled
 * if it comes after the end). */
static atomic_int accepted, started, loop1_done;

static int long_posted(void *arg) {
    (void)arg;
    atomic_fetch_add(&started, 1);
    return corio_sleep(100000) == -ECANCELED ? 0 : -EIO;
}

static int shutdown_main(void *arg) {
    (void)arg;
    if (corio_loop_index() == 1) {
        ASSERT_RC(corio_sleep(20), 0);
        atomic_store(&loop1_done, 1);
        return 0;
    }
    for (;;) {
        int rc = corio_post(1, long_posted, NULL);
        if (rc == -ESHUTDOWN) break;
        ASSERT_RC(rc, 0);
        atomic_fetch_add(&accepted, 1);
        ASSERT_RC(corio_sleep(1), 0); /* a slow loop 1 (ThreadSanitizer) must not drown in posts */
    }
    ASSERT_EQ(atomic_load(&loop1_done), 1);
    ASSERT_RC(corio_post(1, long_posted, NULL), -ESHUTDOWN);
    return 0;
}

TEST_TIMEOUT(post_after_shutdown, 60) {
    ASSERT_RC(corio_run_threads(2, shutdown_main, NULL), 0);
    ASSERT_GT(atomic_load(&accepted), 0);
    ASSERT_EQ(atomic_load(&started), atomic_load(&accepted));
}

/* ---- reuseport servers ------------------------------------------------------------------------------------ */

typedef struct rp_state {
    atomic_int port;
    atomic_int served[2];
    corio_chan *quit;
} rp_state;

static rp_state *g_rp;

static int rp_handler(int fd, void *arg) {
    (void)arg;
    int me = corio_loop_index();
    atomic_fetch_add(&g_rp->served[me], 1);
    char c = (char)('0' + me);
    return corio_write(fd, &c, 1) == 1 ? 0 : -EIO;
}

static int rp_run(void *arg) { return corio_server_run(arg); }

static int rp_client(void *arg) {
    (void)arg;
    int fd = corio_tcp_connect("127.0.0.1", atomic_load(&g_rp->port));
    ASSERT_GE(fd, 0);
    char c = 0;
    ASSERT_RC(corio_read(fd, &c, 1), 1);
    ASSERT_TRUE(c == '0' || c == '1');
    ASSERT_RC(corio_close(fd), 0);
    return 0;
}

static int rp_main(void *arg) {
    rp_state *rs = arg;
    int me = corio_loop_index();
    corio_server_opts opts = {.backlog = 0, .max_conns = 0, .reuseport = 1};
    if (me == 1)
        while (atomic_load(&rs->port) == 0) ASSERT_RC(corio_sleep(1), 0);
    corio_server *srv = corio_server_new("127.0.0.1", atomic_load(&rs->port), rp_handler, NULL, &opts);
    ASSERT_NOT_NULL(srv);
    if (me == 0) atomic_store(&rs->port, corio_server_port(srv));
    corio_task *runner = test_spawn(rp_run, srv);
    void *item;
    if (me == 0) {
        while (atomic_load(&rs->served[1]) == 0 && atomic_load(&rs->port) != 0) {
            /* wait until loop 1 listens too, then connect: the kernel hashes each connection to one of them */
            corio_task *c[20];
            for (int i = 0; i < 20; i++) c[i] = test_spawn(rp_client, NULL);
            ASSERT_RC(corio_gather(c, 20, NULL), 0);
        }
        corio_chan_close(rs->quit);
    } else {
        ASSERT_RC(corio_chan_recv(rs->quit, &item), -EPIPE);
    }
    corio_server_stop(srv);
    ASSERT_RC(corio_await(runner), 0);
    ASSERT_RC(corio_server_free(srv), 0);
    return 0;
}

TEST_TIMEOUT(reuseport_servers_on_two_loops, 60) {
    rp_state rs = {0};
    rs.quit = corio_chan_new(0);
    g_rp = &rs;
    ASSERT_RC(corio_run_threads(2, rp_main, &rs), 0);
    ASSERT_GT(atomic_load(&rs.served[0]), 0);
    ASSERT_GT(atomic_load(&rs.served[1]), 0);
    ASSERT_RC(corio_chan_free(rs.quit), 0);
}

/* ---- the thread pool from several loops -------------------------------------------------------------------- */

static int twice(void *arg) { return 2 * (int)(intptr_t)arg; }

static int pool_user(void *arg) {
    intptr_t base = (intptr_t)arg;
    for (int i = 0; i < 20; i++) ASSERT_RC(corio_to_thread(twice, (void *)(base + i)), 2 * (base + i));
    return 0;
}

static int pool_main(void *arg) {
    (void)arg;
    corio_task *t[16];
    for (int i = 0; i < 16; i++) t[i] = test_spawn(pool_user, (void *)(intptr_t)(corio_loop_index() * 1000 + i * 20));
    ASSERT_RC(corio_gather(t, 16, NULL), 0);
    return 0;
}

TEST_TIMEOUT(to_thread_from_several_loops, 60) { ASSERT_RC(corio_run_threads(4, pool_main, NULL), 0); }

/* ---- a task handle belongs to its loop ------------------------------------------------------------------------ */

typedef struct foreign_state {
    _Atomic(corio_task *) handle; /* loop 0's task, published once spawned */
    atomic_int checked;           /* loop 1 has tried every call on it */
    corio_event *release;         /* loop 0's: set once it has checked the task is still running */
} foreign_state;

static int held(void *arg) { return corio_event_wait(arg); }

static int foreign_main(void *arg) {
    foreign_state *fs = arg;
    if (corio_loop_index() == 0) {
        fs->release = corio_event_new();
        ASSERT_NOT_NULL(fs->release);
        corio_task *t = test_spawn(held, fs->release);
        atomic_store(&fs->handle, t);
        while (!atomic_load(&fs->checked)) ASSERT_RC(corio_sleep(1), 0);
        /* loop 1's attempts left it alone: not cancelled, not renamed, still waiting, and awaited once here */
        ASSERT_EQ(corio_task_done(t), 0);
        ASSERT_STREQ(corio_task_name(t), "");
        corio_event_set(fs->release);
        ASSERT_RC(corio_await(t), 0);
        ASSERT_RC(corio_event_free(fs->release), 0);
        return 0;
    }
    corio_task *t;
    while (!(t = atomic_load(&fs->handle))) ASSERT_RC(corio_sleep(1), 0);
    /* a live task, but of the other loop: every call refuses it as it refuses a bad handle */
    ASSERT_RC(corio_cancel(t), -EINVAL);
    ASSERT_RC(corio_await(t), -EINVAL);
    ASSERT_RC(corio_wait_for(t, 10), -EINVAL);
    ASSERT_RC(corio_gather(&t, 1, NULL), -EINVAL);
    ASSERT_RC(corio_task_done(t), -EINVAL);
    ASSERT_RC(corio_task_set_name(t, "taken"), -EINVAL);
    ASSERT_NULL(corio_task_name(t));
    corio_detach(t); /* ignored */
    atomic_store(&fs->checked, 1);
    return 0;
}

TEST_TIMEOUT(task_of_another_loop_is_refused, 30) {
    foreign_state fs;
    atomic_init(&fs.handle, NULL);
    atomic_init(&fs.checked, 0);
    fs.release = NULL;
    ASSERT_RC(corio_run_threads(2, foreign_main, &fs), 0);
}

/* ---- an object used from outside its loop --------------------------------------------------------------------- */

static void *set_from_plain_thread(void *arg) {
    corio_event_set(arg);
    return NULL;
}

static int wait_event(void *arg) { return corio_event_wait(arg); }

static int misuse_main(void *arg) {
    corio_event *e = arg;
    corio_task *w = test_spawn(wait_event, e);
    ASSERT_RC(corio_yield(), 0); /* w now waits on e */
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, set_from_plain_thread, e), 0);
    pthread_join(th, NULL); /* never returns: the set aborts */
    return corio_await(w);
}

/* Setting an event from a thread that runs no loop while a task waits on it would wake that task on the wrong
 * thread: it is reported on stderr and the process aborts, rather than corrupting the loop. */
static void misuse_child(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    if (!e) _exit(3);
    (void)corio_run(misuse_main, e);
    _exit(4); /* not reached */
}

TEST_TIMEOUT(object_used_outside_its_loop_aborts, 30) {
    char err[4096];
    int status = test_run_child(misuse_child, NULL, 20, err, sizeof err);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
    ASSERT_NOT_NULL(strstr(err, "used outside the loop of the task waiting on it"));
}
