/* test_storm.c - cancellation storms: 10,000 tasks (600 under test_small()) blocked in every kind of wait corio
 * has (sleep, await, wait_for, gather in both modes, group wait, lock, event, semaphore, condition, queue get and
 * put, fd readiness, corio_read, stream read_line, accept, the thread pool, a process, a signal, a timeout scope)
 * are all woken at once, three ways: cancelled together, their timeout scopes expiring together, and their
 * awaiting parents cancelled so the cancellation cascades. Each wait must return what corio.h documents
 * (-ECANCELED, or -ETIMEDOUT for the scopes), and afterwards the task, timer and stack counts and the descriptor
 * count must be back at their baseline, and the loop must end cleanly (the sanitizer and valgrind runs check that
 * nothing leaks). Each round prints its size and how long the wakeup took. */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define HOUR_MS (3600 * 1000)
#define THREADS_MAX 32 /* to_thread waiters: each holds a pool job, and the pool runs 4 at a time */

enum kind {
    K_SLEEP,
    K_AWAIT,
    K_WAIT_FOR,
    K_GATHER_FAST,
    K_GATHER_ALL,
    K_GROUP,
    K_LOCK,
    K_EVENT,
    K_SEM,
    K_COND,
    K_QUEUE_GET,
    K_QUEUE_PUT,
    K_FD_WAIT,
    K_READ,
    K_READ_LINE,
    K_ACCEPT,
    K_THREAD,
    K_PROCESS,
    K_SIGNAL,
    K_SCOPE,
    NKINDS
};
static const char *const kind_names[NKINDS] = {
    "sleep", "await", "wait_for", "gather", "gather_all", "group",  "lock",   "event",   "sem",    "cond",
    "q_get", "q_put", "fd_wait",  "read",   "read_line",  "accept", "thread", "process", "signal", "scope"};

enum round { ROUND_CANCEL, ROUND_EXPIRE, ROUND_CASCADE };
static const char *const round_names[] = {"cancel", "expire", "cascade"};

struct env {
    enum round round;
    int64_t deadline_ms; /* ROUND_EXPIRE: when every scope expires (corio_now() clock) */
    corio_lock *held;    /* held by the main task the whole round */
    corio_lock *cond_lock;
    corio_cond *cond;
    corio_event *never;
    corio_event *go; /* ROUND_EXPIRE: set once every waiter has started, with deadline_ms fixed */
    corio_sem *sem;
    corio_queue *empty, *full;
    int sp_wait[2], sp_read[2];
    int lfd;
    corio_process *proc;
    size_t started, ended;
    atomic_int release;   /* lets the pool jobs of K_THREAD return */
    atomic_int jobs_done; /* of the jobs_submitted: e must outlive every one, abandoned or not */
    int jobs_submitted;
};

struct slot {
    struct env *env;
    enum kind kind;
    int rc;      /* what the blocking call returned */
    int exit_rc; /* corio_timeout_exit's, when the waiter had a scope */
    bool ended;
};

static int forever(void *arg) {
    (void)arg;
    return corio_sleep(HOUR_MS);
}

static corio_task *spawn_forever(void) { return test_spawn(forever, NULL); }

/* A pool job that blocks until the round is over (bounded, so a broken test cannot leave it spinning). */
static int blocker(void *arg) {
    struct env *e = arg;
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 60000 && !atomic_load(&e->release); i++) nanosleep(&ms, NULL);
    atomic_fetch_add(&e->jobs_done, 1);
    return 0;
}

static int block_in(struct env *e, enum kind k) {
    int rc;
    switch (k) {
    case K_SLEEP:
        return corio_sleep(HOUR_MS);
    case K_AWAIT: {
        corio_task *c = spawn_forever();
        rc = corio_await(c);
        if (rc < 0) { /* the child runs on, still ours: stop it and let it free itself */
            ASSERT_RC(corio_cancel(c), 0);
            corio_detach(c);
        }
        return rc;
    }
    case K_WAIT_FOR:
        return corio_wait_for(spawn_forever(), HOUR_MS);
    case K_GATHER_FAST:
    case K_GATHER_ALL: {
        corio_task *c[2] = {spawn_forever(), spawn_forever()};
        int st[2] = {1, 1};
        rc = corio_gather(c, 2, k == K_GATHER_ALL ? st : NULL);
        /* the children were cancelled by the gather, so their statuses are in */
        if (k == K_GATHER_ALL) ASSERT_TRUE(st[0] == -ECANCELED && st[1] == -ECANCELED);
        return rc;
    }
    case K_GROUP: {
        corio_group *g = corio_group_new();
        ASSERT_NOT_NULL(g);
        ASSERT_RC(corio_group_spawn(g, forever, NULL), 0);
        ASSERT_RC(corio_group_spawn(g, forever, NULL), 0);
        return corio_group_wait(g);
    }
    case K_LOCK:
        rc = corio_lock_acquire(e->held);
        if (rc == 0) corio_lock_release(e->held);
        return rc;
    case K_EVENT:
    case K_SCOPE:
        return corio_event_wait(e->never);
    case K_SEM:
        return corio_sem_acquire(e->sem);
    case K_COND:
        if ((rc = corio_lock_acquire(e->cond_lock)) < 0) return rc;
        rc = corio_cond_wait(e->cond, e->cond_lock);
        ASSERT_RC(corio_lock_release(e->cond_lock), 0); /* re-taken whatever the outcome */
        return rc;
    case K_QUEUE_GET: {
        void *item = NULL;
        return corio_queue_get(e->empty, &item);
    }
    case K_QUEUE_PUT:
        return corio_queue_put(e->full, e);
    case K_FD_WAIT:
        return corio_wait_readable(e->sp_wait[0]);
    case K_READ: {
        char c;
        return (int)corio_read(e->sp_read[0], &c, 1);
    }
    case K_READ_LINE: {
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        corio_stream *s = corio_stream_new(sv[0]);
        ASSERT_NOT_NULL(s);
        char line[64];
        rc = (int)corio_stream_read_line(s, line, sizeof line);
        ASSERT_RC(corio_stream_free(s), 0);
        ASSERT_RC(corio_close(sv[1]), 0);
        return rc;
    }
    case K_ACCEPT:
        return corio_accept(e->lfd, NULL, NULL);
    case K_THREAD:
        /* the same check corio_to_thread makes before it queues the job (same cached clock) */
        if ((rc = corio_checkpoint()) < 0) return rc;
        e->jobs_submitted++;
        return corio_to_thread(blocker, e);
    case K_PROCESS: {
        int st;
        return corio_process_wait(e->proc, &st);
    }
    case K_SIGNAL:
        return corio_signal_wait(SIGUSR2);
    case NKINDS:
        break;
    }
    return -EINVAL;
}

static int waiter(void *arg) {
    struct slot *s = arg;
    struct env *e = s->env;
    e->started++;
    corio_timeout scope;
    bool scoped = e->round == ROUND_EXPIRE || s->kind == K_SCOPE;
    /* the shared deadline is fixed only once all have started: spawning 10,000 tasks takes unknown time (TSan) */
    if (e->round == ROUND_EXPIRE) ASSERT_RC(corio_event_wait(e->go), 0);
    if (scoped) {
        int64_t ms = e->round == ROUND_EXPIRE ? e->deadline_ms - corio_now() : HOUR_MS;
        ASSERT_RC(corio_timeout_enter(&scope, ms > 0 ? ms : 0), 0);
    }
    s->rc = block_in(e, s->kind);
    if (scoped) s->exit_rc = corio_timeout_exit(&scope);
    s->ended = true;
    e->ended++;
    return 0;
}

/* ---- the cascade round's parents ---------------------------------------------------------------------------- */

struct parent {
    struct slot *slots;
    size_t n;
};

static int gather_parent(void *arg) {
    struct parent *p = arg;
    corio_task **ts = calloc(p->n, sizeof *ts);
    int *st = calloc(p->n, sizeof *st);
    ASSERT_TRUE(ts && st);
    for (size_t i = 0; i < p->n; i++) ts[i] = test_spawn(waiter, &p->slots[i]);
    int rc = corio_gather(ts, p->n, st);
    for (size_t i = 0; i < p->n; i++) ASSERT_RC(st[i], 0); /* the waiters record their rc, then end with 0 */
    free(ts);
    free(st);
    return rc;
}

static int group_parent(void *arg) {
    struct parent *p = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    for (size_t i = 0; i < p->n; i++) ASSERT_RC(corio_group_spawn(g, waiter, &p->slots[i]), 0);
    return corio_group_wait(g);
}

/* ---- a round ------------------------------------------------------------------------------------------------ */

static void setup(struct env *e) {
    ASSERT_TRUE((e->held = corio_lock_new()) && (e->cond_lock = corio_lock_new()) && (e->cond = corio_cond_new()));
    ASSERT_TRUE((e->never = corio_event_new()) && (e->go = corio_event_new()) && (e->sem = corio_sem_new(0)));
    ASSERT_TRUE((e->empty = corio_queue_new(1)) && (e->full = corio_queue_new(1)));
    ASSERT_RC(corio_queue_try_put(e->full, e), 0);
    ASSERT_RC(corio_lock_try_acquire(e->held), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->sp_wait), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->sp_read), 0);
    e->lfd = corio_tcp_listen("127.0.0.1", 0, 16);
    ASSERT_GE(e->lfd, 0);
    char *argv[] = {"sleep", "60", NULL};
    corio_process_opts o = {
        .stdin_mode = CORIO_STDIO_DEVNULL, .stdout_mode = CORIO_STDIO_DEVNULL, .stderr_mode = CORIO_STDIO_DEVNULL};
    e->proc = corio_process_spawn("sleep", argv, &o);
    ASSERT_NOT_NULL(e->proc);
}

static void teardown(struct env *e) {
    ASSERT_RC(corio_lock_release(e->held), 0);
    ASSERT_RC(corio_lock_free(e->held), 0);
    ASSERT_RC(corio_lock_free(e->cond_lock), 0);
    ASSERT_RC(corio_cond_free(e->cond), 0);
    ASSERT_RC(corio_event_free(e->never), 0);
    ASSERT_RC(corio_event_free(e->go), 0);
    ASSERT_RC(corio_sem_free(e->sem), 0);
    ASSERT_RC(corio_queue_free(e->empty), 0);
    ASSERT_RC(corio_queue_free(e->full), 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_close(e->sp_wait[i]), 0);
        ASSERT_RC(corio_close(e->sp_read[i]), 0);
    }
    ASSERT_RC(corio_close(e->lfd), 0);
    ASSERT_RC(corio_process_free(e->proc), 0);
}

/* warmup: a first round, which opens the loop's own descriptors (pool eventfd, signalfd) for good and prints
 * nothing */
static void storm(enum round round, size_t n, bool warmup) {
    struct env e = {.round = round};
    corio_stats base, after;
    ASSERT_RC(corio_stats_get(&base), 0);
    int fds0 = test_open_fds();
    setup(&e);

    struct slot *slots = calloc(n, sizeof *slots);
    corio_task **hs = calloc(n, sizeof *hs);
    ASSERT_TRUE(slots && hs);
    size_t threads = 0;
    for (size_t i = 0; i < n; i++) {
        enum kind k = (enum kind)(i % NKINDS);
        if (k == K_THREAD && threads++ >= THREADS_MAX) k = K_SLEEP;
        slots[i] = (struct slot){.env = &e, .kind = k, .rc = 1, .exit_rc = 1};
    }
    struct parent halves[2] = {{slots, n / 2}, {slots + n / 2, n - n / 2}};
    corio_task *parents[2] = {NULL, NULL};
    if (round == ROUND_CASCADE) {
        parents[0] = test_spawn(gather_parent, &halves[0]);
        parents[1] = test_spawn(group_parent, &halves[1]);
    } else {
        for (size_t i = 0; i < n; i++) hs[i] = test_spawn(waiter, &slots[i]);
    }
    /* let every waiter start and block: cond waiters take the cond lock in turn, which takes a few rounds */
    while (e.started < n) ASSERT_RC(corio_sleep(1), 0);
    if (round == ROUND_EXPIRE) {
        /* released, each waiter only enters its scope and blocks: n task switches, far within the lead */
        e.deadline_ms = corio_now() + (test_small() ? 3000 : 2000);
        corio_event_set(e.go);
    }
    ASSERT_RC(corio_sleep(50), 0);
    /* (an expiry round on a loaded machine may see a few scopes expire before they block: the same -ETIMEDOUT) */
    if (round != ROUND_EXPIRE) ASSERT_EQ(e.ended, 0);

    int64_t t0 = test_now_ms();
    if (round == ROUND_CANCEL) {
        for (size_t i = 0; i < n; i++) ASSERT_RC(corio_cancel(hs[i]), 0);
        for (size_t i = 0; i < n; i++) ASSERT_RC(corio_await(hs[i]), 0);
    } else if (round == ROUND_EXPIRE) {
        for (size_t i = 0; i < n; i++) ASSERT_RC(corio_await(hs[i]), 0);
        t0 = e.deadline_ms; /* corio_now() and test_now_ms() read the same monotonic clock */
    } else {
        ASSERT_RC(corio_cancel(parents[0]), 0);
        ASSERT_RC(corio_cancel(parents[1]), 0);
        ASSERT_RC(corio_await(parents[0]), -ECANCELED);
        ASSERT_RC(corio_await(parents[1]), -ECANCELED);
    }
    int64_t took = test_now_ms() - t0;
    ASSERT_EQ(e.ended, n);

    int want = round == ROUND_EXPIRE ? -ETIMEDOUT : -ECANCELED;
    size_t per_kind[NKINDS] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct slot *s = &slots[i];
        per_kind[s->kind]++;
        if (s->rc != want || !s->ended)
            TEST_FAIL_("round %s: waiter %zu (%s) got %d (%s), want %s", round_names[round], i, kind_names[s->kind],
                       s->rc, corio_err_name(s->rc), corio_err_name(want));
        if (round == ROUND_EXPIRE) ASSERT_RC(s->exit_rc, -ETIMEDOUT);
        if (round != ROUND_EXPIRE && s->kind == K_SCOPE) ASSERT_RC(s->exit_rc, 0);
    }
    for (int k = 0; k < NKINDS; k++) ASSERT_GT(per_kind[k], 0);

    /* the abandoned pool jobs end once released; then nothing of the round may be left */
    atomic_store(&e.release, 1);
    while (atomic_load(&e.jobs_done) < e.jobs_submitted) ASSERT_RC(corio_sleep(1), 0);
    teardown(&e);
    ASSERT_RC(corio_stats_get(&after), 0);
    ASSERT_EQ(after.tasks, base.tasks);
    ASSERT_EQ(after.timers, base.timers);
    ASSERT_EQ(after.stacks_in_use, base.stacks_in_use);
    ASSERT_EQ(after.ready, 0);
    if (!warmup) ASSERT_EQ(test_open_fds(), fds0);
    if (!warmup)
        printf("storm %-7s: %zu waiters (%d kinds) woken in %lld ms; tasks %zu, timers %zu, stacks in use %zu, "
               "fds %d after\n",
               round_names[round], n, NKINDS, (long long)took, after.tasks, after.timers, after.stacks_in_use,
               test_open_fds());
    free(slots);
    free(hs);
}

static size_t storm_size(void) { return test_small() ? 600 : 10000; }

static int storm_main(void *arg) {
    enum round round = *(enum round *)arg;
    /* a first small round makes the loop's lazily opened descriptors (pool eventfd, signalfd) exist before the
     * baseline is taken */
    storm(round, NKINDS, true);
    storm(round, storm_size(), false);
    return 0;
}

static void run_storm(enum round round) {
    int fds = test_open_fds();
    ASSERT_RC(corio_run(storm_main, &round), 0);
    ASSERT_EQ(test_open_fds(), fds); /* and the loop's own descriptors are gone with it */
    fflush(stdout);
}

TEST_TIMEOUT(storm_cancel_all_at_once, 120) { run_storm(ROUND_CANCEL); }
TEST_TIMEOUT(storm_timeout_scopes_expire_at_once, 120) { run_storm(ROUND_EXPIRE); }
TEST_TIMEOUT(storm_parent_cancel_cascades, 120) { run_storm(ROUND_CASCADE); }

/* All three rounds in one loop, one after another: what one storm leaves behind must not trouble the next. */
static int all_rounds_main(void *arg) {
    (void)arg;
    size_t n = test_small() ? 200 : 2000;
    for (int r = ROUND_CANCEL; r <= ROUND_CASCADE; r++) storm((enum round)r, NKINDS, true);
    for (int r = ROUND_CANCEL; r <= ROUND_CASCADE; r++) storm((enum round)r, n, true);
    return 0;
}

TEST_TIMEOUT(storm_rounds_back_to_back_in_one_loop, 120) {
    int fds = test_open_fds();
    ASSERT_RC(corio_run(all_rounds_main, NULL), 0);
    ASSERT_EQ(test_open_fds(), fds);
}
