/* test_run.c - tests of the loop-level calls as corio.h specifies them: corio_run (status, argument checks,
 * reentry, repeated and concurrent loops, cancelling what main left running), corio_set_stack_size and
 * corio_stats_get. */
#include <pthread.h>
#include <unistd.h>

#include "test.h"

static int ret_status(void *arg) { return (int)(intptr_t)arg; }
#define STATUS(rc) ((void *)(intptr_t)(rc))

TEST(run_returns_main_status) {
    ASSERT_RC(corio_run(ret_status, STATUS(0)), 0);
    ASSERT_RC(corio_run(ret_status, STATUS(-EIO)), -EIO);
    ASSERT_RC(corio_run(ret_status, STATUS(-ETIMEDOUT)), -ETIMEDOUT);
}

static int self_cancel_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_cancel(corio_current()), 0);
    return corio_sleep(10);
}
TEST(run_main_cancelling_itself) { ASSERT_RC(corio_run(self_cancel_main, NULL), -ECANCELED); }

TEST(run_null_is_einval) {
    ASSERT_RC(corio_run(NULL, NULL), -EINVAL);
    /* The refusal left nothing behind: a loop still runs. */
    ASSERT_RC(corio_run(ret_status, STATUS(0)), 0);
}

/* A main task that exercises the loop a little: spawns, sleeps, awaits. */
static int busy_main(void *arg) {
    int *runs = arg;
    corio_task *t[10];
    for (int i = 0; i < 10; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(ret_status, STATUS(i % 2 ? -EIO : 0)));
    ASSERT_RC(corio_sleep(2), 0);
    for (int i = 0; i < 10; i++) ASSERT_RC(corio_await(t[i]), i % 2 ? -EIO : 0);
    ++*runs;
    return 0;
}
TEST(run_twice_in_a_row) {
    int runs = 0;
    ASSERT_RC(corio_run(busy_main, &runs), 0);
    ASSERT_RC(corio_run(busy_main, &runs), 0);
    for (int i = 0; i < 50; i++) ASSERT_RC(corio_run(busy_main, &runs), 0);
    ASSERT_EQ(runs, 52);
    ASSERT_NULL(corio_current());
    ASSERT_EQ(corio_now(), 0);
}

static int inner_main(void *arg) {
    *(int *)arg = 1;
    return 0;
}
static int nested_run_fn(void *arg) {
    (void)arg;
    int called = 0;
    ASSERT_RC(corio_run(inner_main, &called), -EBUSY);
    ASSERT_EQ(called, 0);
    return 0;
}
static int main_nested_run(void *arg) {
    ASSERT_RC(nested_run_fn(arg), 0);
    corio_task *t = corio_spawn(nested_run_fn, NULL);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_await(t), 0);
    /* The refused run did not disturb this loop. */
    ASSERT_RC(corio_sleep(5), 0);
    return 0;
}
TEST(run_inside_loop_is_ebusy) { ASSERT_RC(corio_run(main_nested_run, NULL), 0); }

/* ---- what main leaves behind --------------------------------------------------------------------------------- */

#define LEFT 4
#define LEFT_MANY (test_small() ? 200 : 1000) /* TSan creates a fiber per task: ~10 ms each here */
static struct {
    int ran[LEFT], rc[LEFT], finished[LEFT];
    int chain_rc;
    int many_cancelled;
} lo;
static int left_sleeper(void *arg) {
    int i = (int)(intptr_t)arg;
    lo.ran[i] = 1;
    lo.rc[i] = corio_sleep(10000);
    lo.finished[i] = 1; /* cleanup that does not suspend still runs */
    return lo.rc[i];
}
static int left_chain(void *arg) {
    lo.chain_rc = corio_await(arg);
    return lo.chain_rc;
}
static int left_many(void *arg) {
    (void)arg;
    if (corio_sleep(10000) == -ECANCELED) lo.many_cancelled++;
    return 0;
}
/* Tasks blocked in the multi-task waits when main returns: each must be cancelled and cancel what it waits for. */
static struct {
    int gather_rc, wait_for_rc, group_rc;
    int child_rc[4];
} blk = {1, 1, 1, {1, 1, 1, 1}};
static int blk_child(void *arg) {
    int *rc = arg;
    *rc = corio_sleep(10000);
    return *rc;
}
static int blk_gather(void *arg) {
    (void)arg;
    corio_task *t[2];
    for (int i = 0; i < 2; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(blk_child, &blk.child_rc[i]));
    blk.gather_rc = corio_gather(t, 2, NULL);
    return blk.gather_rc;
}
static int blk_wait_for(void *arg) {
    (void)arg;
    corio_task *t = corio_spawn(blk_child, &blk.child_rc[2]);
    ASSERT_NOT_NULL(t);
    blk.wait_for_rc = corio_wait_for(t, 10000);
    return blk.wait_for_rc;
}
static int blk_group(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_spawn(g, blk_child, &blk.child_rc[3]), 0);
    blk.group_rc = corio_group_wait(g);
    return blk.group_rc;
}

static int leaving_main(void *arg) {
    (void)arg;
    corio_task *kept = corio_spawn(left_sleeper, STATUS(0)); /* never awaited */
    corio_task *detached = corio_spawn(left_sleeper, STATUS(1));
    corio_task *awaited = corio_spawn(left_sleeper, STATUS(2));
    ASSERT_NOT_NULL(kept);
    ASSERT_NOT_NULL(detached);
    ASSERT_NOT_NULL(awaited);
    corio_detach(detached);
    ASSERT_NOT_NULL(corio_spawn(left_chain, awaited)); /* awaits `awaited`; itself never awaited */
    for (int i = 0; i < LEFT_MANY; i++) ASSERT_NOT_NULL(corio_spawn(left_many, NULL));
    ASSERT_NOT_NULL(corio_spawn(blk_gather, NULL));
    ASSERT_NOT_NULL(corio_spawn(blk_wait_for, NULL));
    ASSERT_NOT_NULL(corio_spawn(blk_group, NULL));
    ASSERT_RC(corio_sleep(5), 0);                          /* everyone is now asleep or blocked */
    ASSERT_NOT_NULL(corio_spawn(left_sleeper, STATUS(3))); /* never even started */
    return -EIO;
}
TEST(run_cancels_and_waits_for_leftover_tasks) {
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_run(leaving_main, NULL), -EIO);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(2000)); /* TSan: each task's first start creates a fiber */
    for (int i = 0; i < LEFT; i++) {
        ASSERT_EQ(lo.ran[i], 1);
        ASSERT_RC(lo.rc[i], -ECANCELED);
        ASSERT_EQ(lo.finished[i], 1);
    }
    ASSERT_RC(lo.chain_rc, -ECANCELED);
    ASSERT_EQ(lo.many_cancelled, LEFT_MANY);
    ASSERT_RC(blk.gather_rc, -ECANCELED);
    ASSERT_RC(blk.wait_for_rc, -ECANCELED);
    ASSERT_RC(blk.group_rc, -ECANCELED);
    for (int i = 0; i < 4; i++) ASSERT_RC(blk.child_rc[i], -ECANCELED);
    /* And the thread is free for another loop. */
    ASSERT_RC(corio_run(ret_status, STATUS(0)), 0);
}

/* ---- two loops in two threads at once ---------------------------------------------------------------------- */

struct loop_thread {
    pthread_barrier_t *both_running;
    int id;
    int rc;
    int count;
    corio_task *main;
};
static int count_fn(void *arg) {
    struct loop_thread *lt = arg;
    ASSERT_RC(corio_sleep(5), 0);
    lt->count++;
    return 0;
}
static int thread_main(void *arg) {
    struct loop_thread *lt = arg;
    lt->main = corio_current();
    ASSERT_NOT_NULL(lt->main);
    /* Blocks this thread (and so its whole loop) until the other loop also runs: proves they coexist. */
    pthread_barrier_wait(lt->both_running);
    corio_task *t[50];
    for (int i = 0; i < 50; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(count_fn, lt));
    for (int i = 0; i < 50; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_PTR_EQ(corio_current(), lt->main);
    int called = 0;
    ASSERT_RC(corio_run(inner_main, &called), -EBUSY);
    return lt->id ? -EIO : 0;
}
static void *thread_fn(void *arg) {
    struct loop_thread *lt = arg;
    for (int i = 0; i < 5; i++) {
        lt->rc = corio_run(thread_main, lt);
        if (i < 4) pthread_barrier_wait(lt->both_running); /* keep the next round in step */
    }
    return NULL;
}
TEST(run_in_two_threads_at_once) {
    pthread_barrier_t bar;
    ASSERT_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
    struct loop_thread lt[2] = {{.both_running = &bar, .id = 0, .rc = 1}, {.both_running = &bar, .id = 1, .rc = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&th[i], NULL, thread_fn, &lt[i]), 0);
    for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_join(th[i], NULL), 0);
    ASSERT_RC(lt[0].rc, 0);
    ASSERT_RC(lt[1].rc, -EIO);
    ASSERT_EQ(lt[0].count, 250);
    ASSERT_EQ(lt[1].count, 250);
    ASSERT_TRUE(lt[0].main != lt[1].main || lt[0].main == NULL);
    pthread_barrier_destroy(&bar);
}

/* ---- stack size --------------------------------------------------------------------------------------------- */

/* Touches n bytes of its own stack, every page of it, so a stack smaller than configured would fault. */
static int use_stack_fn(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    volatile char buf[n];
    for (size_t i = 0; i < n; i += 256) buf[i] = (char)i;
    int sum = 0;
    for (size_t i = 0; i < n; i += 256) sum += buf[i];
    return sum == -1 ? -EIO : 0; /* keeps the reads alive */
}
static size_t loop_stack_size(void) {
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    return st.stack_size;
}
static int stack_main(void *arg) {
    size_t want = *(size_t *)arg;
    ASSERT_EQ(loop_stack_size(), want);
    ASSERT_RC(corio_set_stack_size(64 * 1024), -EBUSY);
    ASSERT_RC(corio_set_stack_size(want), -EBUSY);
    if (want >= 256 * 1024) {
        corio_task *t = corio_spawn(use_stack_fn, (void *)(uintptr_t)(200 * 1024));
        ASSERT_NOT_NULL(t);
        ASSERT_RC(corio_await(t), 0);
        ASSERT_RC(use_stack_fn((void *)(uintptr_t)(200 * 1024)), 0); /* the main task too */
    } else {
        corio_task *t = corio_spawn(ret_status, STATUS(0));
        ASSERT_NOT_NULL(t);
        ASSERT_RC(corio_await(t), 0);
    }
    return 0;
}
TEST(set_stack_size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bad[] = {0, 1, 1024, 16 * 1024 - 1, ((size_t)1 << 30) + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) ASSERT_RC(corio_set_stack_size(bad[i]), -EINVAL);

    size_t want = 64 * 1024; /* the refusals kept the default */
    ASSERT_RC(corio_run(stack_main, &want), 0);

    want = 16 * 1024;
    ASSERT_RC(corio_set_stack_size(want), 0);
    ASSERT_RC(corio_run(stack_main, &want), 0);

    want = 256 * 1024;
    ASSERT_RC(corio_set_stack_size(want), 0);
    ASSERT_RC(corio_run(stack_main, &want), 0);

    ASSERT_RC(corio_set_stack_size(100000), 0);
    want = (100000 + page - 1) / page * page;
    ASSERT_RC(corio_run(stack_main, &want), 0);

    ASSERT_RC(corio_set_stack_size((size_t)1 << 30), 0);
    ASSERT_RC(corio_set_stack_size(64 * 1024), 0);
    want = 64 * 1024;
    ASSERT_RC(corio_run(stack_main, &want), 0);
}

/* ---- stats -------------------------------------------------------------------------------------------------- */

static int sleep_fn(void *arg) {
    (void)arg;
    return corio_sleep(20);
}
static int stats_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_stats_get(NULL), -EINVAL);
    corio_stats a, b, c, d;
    ASSERT_RC(corio_stats_get(&a), 0);
    ASSERT_EQ(a.tasks, 1);
    ASSERT_EQ(a.stack_size, 64 * 1024);

    corio_task *t[10];
    for (int i = 0; i < 10; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(sleep_fn, NULL));
    ASSERT_RC(corio_stats_get(&b), 0);
    ASSERT_EQ(b.tasks, 11);
    ASSERT_GE(b.ready, 10);

    ASSERT_RC(corio_yield(), 0); /* all ten start and go to sleep */
    ASSERT_RC(corio_stats_get(&c), 0);
    ASSERT_EQ(c.tasks, 11);
    ASSERT_GE(c.timers, a.timers + 10);
    ASSERT_GE(c.stacks_in_use, 10);
    ASSERT_LE(c.stacks_guarded, c.stacks_in_use + c.stacks_cached);
    ASSERT_GT(c.switches, a.switches);

    for (int i = 0; i < 10; i++) ASSERT_RC(corio_await(t[i]), 0);
    ASSERT_RC(corio_stats_get(&d), 0);
    ASSERT_EQ(d.tasks, 1);
    ASSERT_EQ(d.timers, a.timers);
    ASSERT_LE(d.stacks_in_use, 1); /* the main task's, if it has one */
    ASSERT_LE(d.stacks_guarded, d.stacks_in_use + d.stacks_cached);
    ASSERT_GE(d.switches, c.switches + 10);
    return 0;
}
TEST(stats) {
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), -EPERM);
    ASSERT_RC(corio_run(stats_main, NULL), 0);
    ASSERT_RC(corio_stats_get(&st), -EPERM);
}

/* ---- fork --------------------------------------------------------------------------------------------------
 * A child forked from a task cannot use the parent's loop (asyncio's rule): every corio call there acts as outside
 * a loop, and the parent's loop, whose epoll or io_uring instance the child shares, is untouched. Before, the
 * child's corio_sleep ran the loop in the child and took the parent's edge-triggered events. */
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct forked {
    int fd;
    ssize_t got;
    char buf[8];
};
static int fork_reader(void *arg) {
    struct forked *f = arg;
    f->got = corio_read(f->fd, f->buf, sizeof f->buf);
    return 0;
}
static int child_returns(void *arg) {
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) return 0; /* in the child: the task returns, and that ends the child with status 0 */
    return (int)pid;
}
static int main_fork(void *arg) {
    (void)arg;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct forked f = {.fd = sv[0], .got = -1};
    corio_task *r = test_spawn(fork_reader, &f);
    test_settle(); /* the reader waits on sv[0], watched by the loop's backend */
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        char c;
        int ok = corio_sleep(1) == -EPERM && corio_yield() == -EPERM && corio_read(sv[0], &c, 1) == -EPERM &&
                 corio_current() == NULL && corio_spawn(fork_reader, &f) == NULL && errno == EPERM;
        if (ok && write(sv[1], "x", 1) != 1) ok = 0; /* the parent's reader must get this, not the child */
        _exit(ok ? 0 : 3);
    }
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    ASSERT_RC(corio_await(r), 0);
    ASSERT_EQ(f.got, 1);
    ASSERT_EQ(f.buf[0], 'x');
    /* a task function that returns in the child ends the child */
    int child = corio_await(test_spawn(child_returns, NULL));
    ASSERT_GT(child, 0);
    ASSERT_EQ(waitpid(child, &st, 0), child);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    ASSERT_RC(corio_sleep(1), 0); /* the parent's loop goes on */
    corio_close(sv[0]);
    close(sv[1]);
    return 0;
}
TEST(fork_child_cannot_touch_the_parents_loop) { ASSERT_RC(corio_run(main_fork, NULL), 0); }
