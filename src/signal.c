/* signal.c - Unix signals as events tasks wait for (asyncio's loop.add_signal_handler): corio_signal_wait and
 * corio_signal_cancel_main.
 *
 * A signal a task asks for is blocked in the loop's thread and read from one signalfd per loop, which the loop
 * watches like the pool's eventfd; so a signal never interrupts a task at an arbitrary instruction, and no code
 * runs in a signal handler. The thread pool's workers block every signal, so a signal sent to the process lands
 * in the loop thread's signalfd. The state lives in a thread-local pointer because a loop owns its thread. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "signals.h"

typedef struct sigstate {
    corio__loop *loop;
    int fd;                    /* the signalfd, -1 until a first signal is asked for */
    sigset_t mask;             /* the signals read through fd */
    sigset_t blocked;          /* those this loop blocked itself: unblocked again when the loop ends */
    sigset_t cancel;           /* those that cancel the main task */
    corio__link waiters[NSIG]; /* per signal: the tasks in corio_signal_wait */
} sigstate;

static CORIO__TLS sigstate *state;

/* Catchable and not needed by corio itself: SIGSEGV and SIGBUS report task stack overflows, and glibc keeps the
 * numbers between 31 and SIGRTMIN for its threads (pthread_sigmask silently refuses to block them). */
static bool valid(int signo) {
    if (signo < 1 || signo > SIGRTMAX || (signo > 31 && signo < SIGRTMIN)) return false;
    return signo != SIGKILL && signo != SIGSTOP && signo != SIGSEGV && signo != SIGBUS;
}

/* Reads every queued delivery (the watch is edge-triggered): each wakes its waiters, and cancels the main task
 * if asked. */
static void on_signal(corio__loop *l, int fd, void *data) {
    sigstate *s = data;
    struct signalfd_siginfo si[16];
    ssize_t n;
    while ((n = read(fd, si, sizeof si)) > 0) {
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            if (signo < 1 || signo >= NSIG) continue;
            if (sigismember(&s->cancel, signo) && l->main && l->main->state != CORIO__DONE)
                corio__task_cancel(l, l->main);
            corio_task *t;
            while ((t = corio__first_waiter(&s->waiters[signo]))) corio__wake(l, t, signo);
        }
    }
}

/* Drops deliveries still queued (they were the loop's: unblocking would let them kill the process now), closes
 * the signalfd and unblocks what the loop blocked. */
static void release(sigstate *s, bool loop_knows_fd) {
    if (s->fd >= 0) {
        struct signalfd_siginfo si[16];
        while (read(s->fd, si, sizeof si) > 0) {
        }
        if (loop_knows_fd)
            corio_close(s->fd);
        else
            close(s->fd);
    }
    pthread_sigmask(SIG_UNBLOCK, &s->blocked, NULL);
    if (state == s) state = NULL;
    free(s);
}

/* The state of loop l. A state left by an earlier loop of this thread (corio__signal_loop_free not called) is
 * recognised because l's registry does not watch its signalfd — comparing loop pointers would not do, since a
 * new loop is often allocated at the old one's address — and is released first. */
static sigstate *get_state(corio__loop *l, int *rc) {
    sigstate *s = state;
    if (s && s->loop == l) {
        if (s->fd < 0) return s;
        corio__fdent *e = corio__fd_entry(l, s->fd, rc);
        if (!e) return NULL;
        if (e->cb == on_signal && e->cb_data == s) return s;
    }
    if (s) release(s, false);
    s = calloc(1, sizeof *s);
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    s->loop = l;
    s->fd = -1;
    sigemptyset(&s->mask);
    sigemptyset(&s->blocked);
    sigemptyset(&s->cancel);
    for (int i = 0; i < NSIG; i++) corio__list_init(&s->waiters[i]);
    state = s;
    return s;
}

/* Routes signo to the signalfd: 0 or -errno. The signalfd's mask grows first and the signal is blocked second:
 * a delivery in between takes its default action, as one before the call would, whereas the other order could
 * leave it pending with no readiness edge to tell the loop. */
static int add_signal(corio__loop *l, sigstate *s, int signo) {
    if (sigismember(&s->mask, signo)) return 0;
    sigset_t mask = s->mask;
    sigaddset(&mask, signo);
    int fd = signalfd(s->fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return -errno;
    if (s->fd < 0) {
        int rc = corio__fd_watch(l, fd, on_signal, s);
        if (rc < 0) {
            corio_close(fd);
            return rc;
        }
        s->fd = fd;
    }
    s->mask = mask;
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, &old);
    if (!sigismember(&old, signo)) sigaddset(&s->blocked, signo);
    return 0;
}

int corio_signal_wait(int signo) {
    if (!valid(signo)) return -EINVAL;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    int rc = corio__check(l, self);
    if (rc < 0) return rc;
    sigstate *s = get_state(l, &rc);
    if (!s || (rc = add_signal(l, s, signo)) < 0) return rc;
    l->io_waiters++; /* a signal comes from outside: the loop must keep polling, this is no deadlock */
    corio__wait_on(self, CORIO__WAIT_SIGNAL, (const void *)(intptr_t)signo);
    rc = corio__park(l, &s->waiters[signo], CORIO__INF, false);
    l->io_waiters--;
    return rc; /* signo when delivered: the deadline is infinite, so park never means CORIO__WAKE_DEADLINE */
}

int corio_signal_cancel_main(int signo) {
    if (!valid(signo)) return -EINVAL;
    corio__loop *l = corio__cur;
    if (!l) return -EPERM;
    int rc;
    sigstate *s = get_state(l, &rc);
    if (!s || (rc = add_signal(l, s, signo)) < 0) return rc;
    sigaddset(&s->cancel, signo);
    return 0;
}

/* not const: it tears down the signal state this loop owns (cppcheck sees only the comparison) */
// cppcheck-suppress constParameter
void corio__signal_loop_free(corio__loop *l) {
    if (state && state->loop == l) release(state, true);
}
