/* test_signal.c - tests of signals as corio.h specifies them: a delivery wakes every task waiting for it (sent to
 * the thread with raise or to the process with kill), waits honour timeout scopes and cancellation, signals
 * corio cannot hand over are refused, corio_signal_cancel_main turns SIGINT into a cancel of the main task, and a
 * loop leaves the signal mask as it found it. With several loops (corio_run_threads): a signal cancels every
 * loop's main task and wakes the waiters of every loop, whichever thread it is sent to, even when it started out
 * ignored; the dispositions and masks come back afterwards, in a forked child too; -EMFILE when no descriptor is
 * left. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

struct sigwaiter {
    int signo;
    int rc;
};
static int sigwaiter_fn(void *arg) {
    struct sigwaiter *w = arg;
    w->rc = corio_signal_wait(w->signo);
    return 0;
}

static int main_raise(void *arg) {
    (void)arg;
    struct sigwaiter w = {.signo = SIGUSR1};
    corio_task *t = corio_spawn(sigwaiter_fn, &w);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0); /* the waiter blocks SIGUSR1 and waits */
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, SIGUSR1);
    return 0;
}
TEST_TIMEOUT(raise_wakes_waiter, 10) { run_ok(main_raise, NULL); }

static int main_kill_two_waiters(void *arg) {
    (void)arg;
    struct sigwaiter a = {.signo = SIGUSR2}, b = {.signo = SIGUSR2}, other = {.signo = SIGHUP};
    corio_task *ta = corio_spawn(sigwaiter_fn, &a);
    corio_task *tb = corio_spawn(sigwaiter_fn, &b);
    corio_task *to = corio_spawn(sigwaiter_fn, &other);
    ASSERT_NOT_NULL(ta);
    ASSERT_NOT_NULL(tb);
    ASSERT_NOT_NULL(to);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0); /* to the process: the loop thread is the one that reads it */
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(a.rc, SIGUSR2);
    ASSERT_RC(b.rc, SIGUSR2);
    ASSERT_EQ(corio_task_done(to), 0); /* a waiter for another signal sleeps on */
    ASSERT_EQ(kill(getpid(), SIGHUP), 0);
    ASSERT_RC(corio_await(to), 0);
    ASSERT_RC(other.rc, SIGHUP); /* 1, the same value as an internal deadline code: must not be confused */
    return 0;
}
TEST_TIMEOUT(kill_wakes_every_waiter, 10) { run_ok(main_kill_two_waiters, NULL); }

/* Several deliveries in a row, with waiters coming back each time (the signalfd is drained on every edge). */
struct repeat {
    int n;
};
static int repeat_fn(void *arg) {
    struct repeat *r = arg;
    while (corio_signal_wait(SIGRTMIN + 1) == SIGRTMIN + 1) r->n++;
    return 0;
}
static int main_repeat(void *arg) {
    (void)arg;
    struct repeat r = {0};
    corio_task *t = corio_spawn(repeat_fn, &r);
    ASSERT_NOT_NULL(t);
    for (int i = 1; i <= 5; i++) {
        ASSERT_RC(corio_sleep(5), 0);
        ASSERT_EQ(kill(getpid(), SIGRTMIN + 1), 0);
        for (int j = 0; j < 100 && r.n < i; j++) ASSERT_RC(corio_sleep(1), 0);
        ASSERT_EQ(r.n, i);
    }
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    return 0;
}
TEST_TIMEOUT(repeated_deliveries, 10) { run_ok(main_repeat, NULL); }

static int main_timeout(void *arg) {
    (void)arg;
    corio_timeout scope;
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_timeout_enter(&scope, 50), 0);
    ASSERT_RC(corio_signal_wait(SIGUSR1), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    int64_t ms = test_now_ms() - t0;
    ASSERT_GE(ms, 40);
    ASSERT_LT(ms, 1000);
    /* the signal stays routed to the loop: one sent with no waiter is absorbed, not fatal */
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    ASSERT_RC(corio_sleep(20), 0);
    return 0;
}
TEST_TIMEOUT(timeout_scope, 10) { run_ok(main_timeout, NULL); }

static int main_cancel_waiter(void *arg) {
    (void)arg;
    struct sigwaiter w = {.signo = SIGUSR1};
    corio_task *t = corio_spawn(sigwaiter_fn, &w);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, -ECANCELED);
    return 0;
}
TEST_TIMEOUT(cancelled_waiter, 10) { run_ok(main_cancel_waiter, NULL); }

static int main_invalid(void *arg) {
    (void)arg;
    int bad[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, 0, -1, 65, 32, 33, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_RC(corio_signal_wait(bad[i]), -EINVAL);
        ASSERT_RC(corio_signal_cancel_main(bad[i]), -EINVAL);
    }
    return 0;
}
TEST_TIMEOUT(invalid_signals, 10) { run_ok(main_invalid, NULL); }

TEST_TIMEOUT(outside_loop_is_eperm, 10) {
    ASSERT_RC(corio_signal_wait(SIGUSR1), -EPERM);
    ASSERT_RC(corio_signal_cancel_main(SIGINT), -EPERM);
}

/* ---- cancel_main ------------------------------------------------------------------------------------------ */

static int main_cancel_main(void *arg) {
    int *rc = arg;
    ASSERT_RC(corio_signal_cancel_main(SIGINT), 0);
    ASSERT_RC(corio_signal_cancel_main(SIGINT), 0); /* twice is harmless */
    ASSERT_EQ(kill(getpid(), SIGINT), 0);
    *rc = corio_sleep(5000);
    return *rc;
}
TEST_TIMEOUT(cancel_main_on_sigint, 10) {
    int rc = 0;
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_run(main_cancel_main, &rc), -ECANCELED);
    ASSERT_RC(rc, -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, 2000);
}

/* The main task's cancel reaches the other tasks through the end of corio_run, as any cancel of main does. */
static int sleeper_fn(void *arg) {
    int *rc = arg;
    *rc = corio_sleep(5000);
    return 0;
}
static int main_cancel_main_from_task(void *arg) {
    int *child_rc = arg;
    ASSERT_RC(corio_signal_cancel_main(SIGTERM), 0);
    corio_task *t = corio_spawn(sleeper_fn, child_rc);
    ASSERT_NOT_NULL(t);
    corio_detach(t);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_EQ(raise(SIGTERM), 0);
    int rc = corio_sleep(5000);
    return rc;
}
TEST_TIMEOUT(cancel_main_then_shutdown, 10) {
    int child_rc = 1;
    ASSERT_RC(corio_run(main_cancel_main_from_task, &child_rc), -ECANCELED);
    ASSERT_RC(child_rc, -ECANCELED);
}

/* ---- what the loop leaves behind --------------------------------------------------------------------------- */

static int main_wait_once(void *arg) {
    (void)arg;
    struct sigwaiter w = {.signo = SIGUSR1};
    corio_task *t = corio_spawn(sigwaiter_fn, &w);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(w.rc, SIGUSR1);
    return 0;
}

/* Two loops in a row in one thread: the second gets its own signalfd and still receives the signal. */
TEST_TIMEOUT(loops_in_a_row, 10) {
    run_ok(main_wait_once, NULL);
    run_ok(main_wait_once, NULL);
}

/* A signal this thread already blocked stays blocked after the loop. */
TEST_TIMEOUT(premasked_signal_stays_blocked, 10) {
    sigset_t s, cur;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
    run_ok(main_wait_once, NULL);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    ASSERT_EQ(sigismember(&cur, SIGUSR1), 1);
}

/* When the loop ends, the signals it blocked are unblocked and its signalfd is closed (corio_run must call
 * corio__signal_loop_free). */
TEST_TIMEOUT(loop_end_restores_mask_and_closes_fd, 10) {
    int fd = dup(0); /* the lowest free descriptor number: the signalfd would take it */
    ASSERT_GE(fd, 0);
    close(fd);
    run_ok(main_wait_once, NULL);
    sigset_t cur;
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    ASSERT_EQ(sigismember(&cur, SIGUSR1), 0);
    int again = dup(0);
    ASSERT_EQ(again, fd);
    close(again);
}

/* ---- signals reach busy loops ---------------------------------------------------------------------------------
 * A loop whose tasks never stop running (yielding to each other, or looping on corio_checkpoint) still polls every
 * few ms: Ctrl-C cancels its main task. Before, the loop polled only when a task waited on a descriptor, and the
 * signal never arrived. The kill comes from a child process, 50 ms after the spin starts. */

static pid_t kill_parent_after(int ms) {
    pid_t parent = getpid(), pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        usleep((useconds_t)ms * 1000);
        kill(parent, SIGINT);
        _exit(0);
    }
    return pid;
}

static int spin_yield(void *arg) {
    long *n = arg;
    while (corio_yield() == 0) ++*n;
    return 0;
}

static int main_busy(void *arg) {
    int use_checkpoint = *(int *)arg;
    ASSERT_RC(corio_signal_cancel_main(SIGINT), 0);
    long spins = 0;
    corio_task *spinner = use_checkpoint ? NULL : test_spawn(spin_yield, &spins);
    int64_t t0 = test_now_ms();
    pid_t pid = kill_parent_after(50);
    int rc;
    while ((rc = use_checkpoint ? corio_checkpoint() : corio_yield()) == 0)
        ASSERT_LT(test_now_ms() - t0, test_bound_ms(3000));
    int64_t took = test_now_ms() - t0;
    ASSERT_RC(rc, -ECANCELED);
    ASSERT_GE(took, 45);
    ASSERT_LT(took, test_bound_ms(1000));
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    if (spinner) {
        ASSERT_GT(spins, 0);
        corio_scope shield; /* the main task is cancelled: awaiting its spinner needs a shield */
        ASSERT_RC(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
        ASSERT_RC(corio_cancel(spinner), 0);
        ASSERT_RC(corio_await(spinner), 0);
        ASSERT_RC(corio_scope_exit(&shield), 0);
    }
    return rc;
}
TEST_TIMEOUT(sigint_reaches_tasks_that_keep_yielding, 20) {
    int use_checkpoint = 0;
    ASSERT_RC(corio_run(main_busy, &use_checkpoint), -ECANCELED);
}
TEST_TIMEOUT(sigint_reaches_a_main_task_looping_on_checkpoint, 20) {
    int use_checkpoint = 1;
    ASSERT_RC(corio_run(main_busy, &use_checkpoint), -ECANCELED);
}

/* ---- several loops, and threads that are not loops (issue 17, item 8) -----------------------------------------
 * Each case runs in a child process of its own (test_run_child), so a signal that takes its default action shows
 * as that child's status instead of ending the case; the signal comes from a killer process forked before any
 * loop (forking from a process with loop threads running is not needed), released through a pipe once every loop
 * is ready. */

#define LOOPS_MAX_HERE 4

typedef struct killer {
    pid_t pid;
    int go; /* write end: one byte releases the signal */
} killer;

/* Forks the killer: it sends signo to this process once released, or exits quietly if the pipe closes first. */
static killer killer_start(int signo) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t target = getpid();
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(fds[1]);
        char c;
        ssize_t n;
        while ((n = read(fds[0], &c, 1)) < 0 && errno == EINTR) {
        }
        if (n == 1) kill(target, signo);
        _exit(0);
    }
    close(fds[0]);
    return (killer){pid, fds[1]};
}
static void killer_go(const killer *k) { ASSERT_EQ(write(k->go, "x", 1), 1); }
static void killer_end(const killer *k) {
    close(k->go);
    int st;
    ASSERT_EQ(waitpid(k->pid, &st, 0), k->pid);
}

/* The child must have exited 0; if not, what it wrote on stderr says why. */
static void expect_clean_exit(int status, const char *err) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    if (WIFSIGNALED(status))
        fprintf(stderr, "child killed by signal %d (%s); its stderr:\n%s\n", WTERMSIG(status),
                strsignal(WTERMSIG(status)), err);
    else
        fprintf(stderr, "child exit status %d; its stderr:\n%s\n", WEXITSTATUS(status), err);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int this_loop(void) { return corio_loop_index() < 0 ? 0 : corio_loop_index(); }
static int loops_here(void) { return corio_loop_count() < 0 ? 1 : corio_loop_count(); }

/* Loop 0 waits (bounded) until every loop has counted itself in ready. */
static void wait_ready(atomic_int *ready) {
    int64_t t0 = test_now_ms();
    while (atomic_load(ready) < loops_here()) {
        ASSERT_RC(corio_sleep(1), 0);
        ASSERT_LT(test_now_ms() - t0, test_bound_ms(3000));
    }
}

/* ---- cancel_main under corio_run_threads */

typedef struct cancel_case {
    unsigned loops; /* 0: corio_run */
    int signo;
    bool loop0_only; /* only loop 0 asks for the cancel */
    bool ignored;    /* the child starts with signo at SIG_IGN, as a background shell leaves SIGINT */
} cancel_case;

static struct {
    const cancel_case *c;
    killer k;
    atomic_int ready;
    atomic_int rc[LOOPS_MAX_HERE];
} g_cancel;

static int cancel_loops_main(void *arg) {
    (void)arg;
    const cancel_case *c = g_cancel.c;
    int me = this_loop();
    if (!c->loop0_only || me == 0) ASSERT_RC(corio_signal_cancel_main(c->signo), 0);
    atomic_fetch_add(&g_cancel.ready, 1);
    if (me == 0) {
        wait_ready(&g_cancel.ready);
        killer_go(&g_cancel.k);
    }
    int rc = corio_sleep(test_bound_ms(3000));
    atomic_store(&g_cancel.rc[me], rc);
    return rc;
}

static void cancel_child(void *arg) {
    const cancel_case *c = arg;
    struct sigaction before, after;
    if (c->ignored) ASSERT_TRUE(signal(c->signo, SIG_IGN) != SIG_ERR);
    ASSERT_EQ(sigaction(c->signo, NULL, &before), 0);
    g_cancel.c = c;
    g_cancel.k = killer_start(c->signo);
    int rc = c->loops ? corio_run_threads(c->loops, cancel_loops_main, NULL) : corio_run(cancel_loops_main, NULL);
    ASSERT_RC(rc, -ECANCELED);
    for (unsigned i = 0; i < (c->loops ? c->loops : 1); i++) ASSERT_RC(atomic_load(&g_cancel.rc[i]), -ECANCELED);
    killer_end(&g_cancel.k);
    ASSERT_EQ(sigaction(c->signo, NULL, &after), 0);
    ASSERT_PTR_EQ(after.sa_handler, before.sa_handler); /* SIG_DFL or SIG_IGN again */
    if (c->ignored) ASSERT_EQ(raise(c->signo), 0);      /* and ignored again: the child lives on */
}

static void run_cancel_case(const cancel_case *c) {
    char err[4096];
    int status = test_run_child(cancel_child, (void *)c, 20, err, sizeof err);
    expect_clean_exit(status, err);
}

/* Before: the kernel gave SIGTERM to whichever thread had it unblocked, or to one loop's signalfd only, so the
 * child was killed (143) or the other loops slept on. */
TEST_TIMEOUT(run_threads_sigterm_cancels_every_loop, 120) {
    for (unsigned loops = 2; loops <= 4; loops += 2)
        for (int rep = 0; rep < 10; rep++) {
            cancel_case c = {.loops = loops, .signo = SIGTERM};
            run_cancel_case(&c);
        }
}

/* corio_signal_cancel_main in one loop of a group cancels the main task of every loop. */
TEST_TIMEOUT(run_threads_cancel_main_in_one_loop_cancels_all, 60) {
    for (int rep = 0; rep < 3; rep++) {
        cancel_case c = {.loops = 3, .signo = SIGTERM, .loop0_only = true};
        run_cancel_case(&c);
    }
}

/* A program started in the background by a shell inherits SIGINT ignored: asking corio for it installs corio's
 * handler regardless (as asyncio's add_signal_handler does), and SIG_IGN is back once the loops end. */
TEST_TIMEOUT(sigint_ignored_when_inherited_is_delivered, 60) {
    cancel_case one = {.loops = 0, .signo = SIGINT, .ignored = true};
    run_cancel_case(&one);
    cancel_case two = {.loops = 2, .signo = SIGINT, .ignored = true};
    run_cancel_case(&two);
}

/* ---- a signal sent to a thread that runs no loop */

static struct {
    pthread_t plain;
    atomic_int ready;
    atomic_int got_usr1;
    atomic_int rc[2];
} g_plain;

/* Waits for the pipe to close; the signals land here, which is the point. In poll, not read: ThreadSanitizer runs
 * a handler at once only in a call it knows may block (gcc 12's read is not one), else at the thread's next call
 * it intercepts, which would never come. */
static void *plain_thread_fn(void *arg) {
    struct pollfd p = {.fd = *(int *)arg, .events = POLLIN};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    return NULL;
}

static int plain_loops_main(void *arg) {
    (void)arg;
    int me = this_loop();
    ASSERT_RC(corio_signal_cancel_main(SIGUSR2), 0);
    if (me == 1) {
        struct sigwaiter w = {.signo = SIGUSR1};
        corio_task *t = test_spawn(sigwaiter_fn, &w);
        test_settle();
        atomic_fetch_add(&g_plain.ready, 1);
        ASSERT_RC(corio_wait_for(t, test_bound_ms(3000)), 0);
        ASSERT_RC(w.rc, SIGUSR1);
        atomic_store(&g_plain.got_usr1, 1);
    } else {
        atomic_fetch_add(&g_plain.ready, 1);
        wait_ready(&g_plain.ready);
        ASSERT_EQ(pthread_kill(g_plain.plain, SIGUSR1), 0);
        int64_t t0 = test_now_ms();
        while (!atomic_load(&g_plain.got_usr1)) {
            ASSERT_RC(corio_sleep(1), 0);
            ASSERT_LT(test_now_ms() - t0, test_bound_ms(3000));
        }
        ASSERT_EQ(pthread_kill(g_plain.plain, SIGUSR2), 0);
    }
    int rc = corio_sleep(test_bound_ms(3000));
    atomic_store(&g_plain.rc[me], rc);
    return rc;
}

static void plain_thread_child(void *arg) {
    (void)arg;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(pthread_create(&g_plain.plain, NULL, plain_thread_fn, &fds[0]), 0);
    ASSERT_RC(corio_run_threads(2, plain_loops_main, NULL), -ECANCELED);
    ASSERT_RC(atomic_load(&g_plain.rc[0]), -ECANCELED);
    ASSERT_RC(atomic_load(&g_plain.rc[1]), -ECANCELED);
    close(fds[1]);
    pthread_join(g_plain.plain, NULL);
}

/* pthread_kill to a plain thread created before the loops: before, SIGUSR1 took its default action there. */
TEST_TIMEOUT(signal_to_a_plain_thread_reaches_the_loops, 30) {
    char err[4096];
    int status = test_run_child(plain_thread_child, NULL, 20, err, sizeof err);
    expect_clean_exit(status, err);
}

/* ---- corio_signal_wait in two loops at once */

static struct {
    killer k;
    atomic_int ready;
} g_two;

static int two_waits_main(void *arg) {
    (void)arg;
    struct sigwaiter w = {.signo = SIGUSR2};
    corio_task *t = test_spawn(sigwaiter_fn, &w);
    test_settle();
    atomic_fetch_add(&g_two.ready, 1);
    if (this_loop() == 0) {
        wait_ready(&g_two.ready);
        killer_go(&g_two.k);
    }
    ASSERT_RC(corio_wait_for(t, test_bound_ms(3000)), 0);
    ASSERT_RC(w.rc, SIGUSR2);
    return 0;
}

static void two_waits_child(void *arg) {
    (void)arg;
    g_two.k = killer_start(SIGUSR2);
    ASSERT_RC(corio_run_threads(2, two_waits_main, NULL), 0);
    killer_end(&g_two.k);
}

/* One kill wakes the waiters of both loops (before: one loop's signalfd took it, the other waited on). */
TEST_TIMEOUT(signal_wait_in_two_loops, 30) {
    char err[4096];
    int status = test_run_child(two_waits_child, NULL, 20, err, sizeof err);
    expect_clean_exit(status, err);
}

/* ---- what the loops leave behind */

static atomic_int usr1_handled;
static void count_usr1(int signo) {
    (void)signo;
    atomic_fetch_add(&usr1_handled, 1);
}

typedef struct snapshot {
    struct sigaction act[4];
    sigset_t mask;
} snapshot;
static const int snap_signals[4] = {SIGUSR1, SIGUSR2, SIGHUP, SIGTERM};

static void take_snapshot(snapshot *s) {
    for (int i = 0; i < 4; i++) ASSERT_EQ(sigaction(snap_signals[i], NULL, &s->act[i]), 0);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &s->mask), 0);
}

static void expect_same(const snapshot *a, const snapshot *b) {
    for (int i = 0; i < 4; i++) {
        ASSERT_PTR_EQ(a->act[i].sa_handler, b->act[i].sa_handler);
        /* the flags a program sets (glibc adds SA_RESTORER to whatever it passes to the kernel) */
        int flags = SA_RESTART | SA_ONSTACK | SA_SIGINFO | SA_NODEFER | SA_RESETHAND;
        ASSERT_EQ(a->act[i].sa_flags & flags, b->act[i].sa_flags & flags);
    }
    for (int signo = 1; signo < NSIG; signo++) ASSERT_EQ(sigismember(&a->mask, signo), sigismember(&b->mask, signo));
}

static atomic_int restore_ready;

/* Every loop asks for all four (SIGTERM only to cancel), and a SIGHUP to the process wakes each loop's waiter. */
static int restore_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_signal_cancel_main(SIGTERM), 0);
    struct sigwaiter w[3] = {{.signo = SIGUSR1}, {.signo = SIGUSR2}, {.signo = SIGHUP}};
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = test_spawn(sigwaiter_fn, &w[i]);
    test_settle();
    atomic_fetch_add(&restore_ready, 1);
    if (this_loop() == 0) {
        wait_ready(&restore_ready);
        ASSERT_EQ(kill(getpid(), SIGHUP), 0);
    }
    ASSERT_RC(corio_wait_for(t[2], test_bound_ms(3000)), 0);
    ASSERT_RC(w[2].rc, SIGHUP);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_cancel(t[i]), 0);
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(w[i].rc, -ECANCELED);
    }
    return 0;
}

static void restore_child(void *arg) {
    (void)arg;
    struct sigaction sa = {.sa_handler = count_usr1};
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    ASSERT_TRUE(signal(SIGUSR2, SIG_IGN) != SIG_ERR);
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &hup, NULL), 0); /* the loop unblocks it while it waits, then re-blocks */
    snapshot before, after;
    take_snapshot(&before);
    ASSERT_RC(corio_run(restore_main, NULL), 0);
    take_snapshot(&after);
    expect_same(&before, &after);
    atomic_store(&restore_ready, 0);
    ASSERT_RC(corio_run_threads(3, restore_main, NULL), 0);
    take_snapshot(&after);
    expect_same(&before, &after);
    ASSERT_EQ(raise(SIGUSR1), 0); /* the program's own handler is back */
    ASSERT_EQ(atomic_load(&usr1_handled), 1);
}

TEST_TIMEOUT(masks_and_dispositions_restored, 30) {
    char err[4096];
    int status = test_run_child(restore_child, NULL, 20, err, sizeof err);
    expect_clean_exit(status, err);
}

/* ---- a process forked from a loop's thread */

static int fork_main(void *arg) {
    (void)arg;
    ASSERT_RC(corio_signal_cancel_main(SIGTERM), 0);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        raise(SIGTERM); /* the child is not the loop: SIGTERM has its default action there again */
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) ASSERT_EQ(errno, EINTR);
    ASSERT_TRUE(WIFSIGNALED(st));
    ASSERT_EQ(WTERMSIG(st), SIGTERM);
    return 0;
}
TEST_TIMEOUT(forked_child_has_the_old_dispositions, 10) { run_ok(fork_main, NULL); }

/* ---- failures (issue 17, item 10) */

/* With no descriptor left, the loop's first signal call fails with -EMFILE (documented); it works once one is. */
static int emfile_main(void *arg) {
    (void)arg;
    int fds[64], n = 0;
    while (n < 64 && (fds[n] = dup(0)) >= 0) n++;
    ASSERT_LT(n, 64);
    ASSERT_RC(corio_signal_wait(SIGUSR1), -EMFILE);
    ASSERT_RC(corio_signal_cancel_main(SIGUSR1), -EMFILE);
    while (n > 0) close(fds[--n]);
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 10), 0);
    ASSERT_RC(corio_signal_wait(SIGUSR1), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    return 0;
}
TEST_TIMEOUT(no_descriptor_is_emfile, 10) {
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = (rlim_t)test_open_fds() + 40; /* the loop's own descriptors fit, 64 more do not */
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    run_ok(emfile_main, NULL);
}
