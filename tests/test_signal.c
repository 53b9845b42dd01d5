/* test_signal.c - tests of signals as corio.h specifies them: a delivery wakes every task waiting for it (sent to
 * the thread with raise or to the process with kill), waits honour timeout scopes and cancellation, signals
 * corio cannot hand over are refused, corio_signal_cancel_main turns SIGINT into a cancel of the main task, and a
 * loop leaves the signal mask as it found it. */
#include <pthread.h>
#include <signal.h>
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
#include <sys/wait.h>
#include <unistd.h>

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
