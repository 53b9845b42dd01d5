/* signal.c - Unix signals as events tasks wait for (asyncio's loop.add_signal_handler): corio_signal_wait and
 * corio_signal_cancel_main, in any number of loops, whatever thread the kernel delivers a signal to.
 *
 * Two ways in, one way on. A loop blocks the signals it asks for in its own thread and reads them from a signalfd,
 * so a delivery never interrupts its tasks: one sent to its thread, or to the process while every thread blocks
 * it, waits there. Any other thread the kernel may pick (a loop that did not ask, a thread the program made; the
 * pool's workers block everything) runs a handler for the whole process, installed while some loop asks for the
 * signal whatever the disposition was (SIG_IGN too, as asyncio's add_signal_handler does), since the default
 * action would end the process there. Whichever takes a delivery passes it on as libuv's src/unix/signal.c does:
 * it sets the signal's bit in every loop that asked and write(2)s to that loop's eventfd, which the loop watches
 * like the pool's. The handler does nothing but those atomic operations and the write. A signalfd alone cannot do
 * it: it sees only signals blocked in its own thread, corio cannot block them in threads it did not make, and one
 * loop's read would take the delivery from all the others.
 *
 * The old disposition comes back when the last loop that asked ends; for the loops of corio_run_threads, when
 * corio_run_threads returns, so a signal one of them asked for never takes its old action while another runs. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "loops.h"
#include "signals.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics: only those are async-signal-safe");

#define BIT(signo) (1ULL << ((signo)-1))

/* A loop that asked for signals, as the handler sees it. The list only grows (a node is reused, never freed), so
 * the handler walks it with no lock at any moment. */
typedef struct sub {
    _Atomic unsigned long long want;    /* BIT(signo) for each signal the loop asked for */
    _Atomic unsigned long long pending; /* delivered, not yet seen by the loop */
    _Atomic int fd;                     /* the loop's eventfd, -1 while the node is free */
    _Atomic int busy;                   /* handlers between reading fd and their write: the owner closes only at 0 */
    bool owned;                         /* under mu */
    struct sub *next;                   /* set before the node is published, never changed */
} sub;

static _Atomic(sub *) subs;
/* The first nodes come from here, so the list (kept for the process's life: the handler may walk it any time)
 * costs no heap allocation unless more loops than this ask for signals at once; nothing is left behind on the
 * heap when corio_run returns (test_fault counts what is). Under mu. */
#define SUB_POOL 8
static sub sub_pool[SUB_POOL];
static size_t sub_pool_used;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int users[NSIG];              /* under mu: loops and groups holding corio's handler of each signal */
static struct sigaction saved[NSIG]; /* under mu: what the handler replaced, put back when users drops to 0 */
static atomic_uint generation;       /* bumped in a forked child, which forgets the parent's loops */

typedef struct sigstate {
    corio__loop *loop;
    unsigned generation;
    sub *sub;                  /* NULL until the first signal is asked for */
    int efd, sfd;              /* the eventfd in sub and the signalfd, -1 until then */
    unsigned long long asked;  /* BIT(signo) of each signal asked for */
    unsigned long long held;   /* those whose handler this loop holds (none in a group: the group holds them) */
    unsigned long long *group; /* the group's held set (loops.c, under mu), or NULL */
    sigset_t mask;             /* the signalfd's */
    sigset_t blocked;          /* signals this loop blocked in its thread: unblocked again when it ends */
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

/* Passes a delivery of signo on to every loop that asked for it but skip; async-signal-safe. A node released
 * meanwhile is passed over: its owner clears fd before it waits for busy to drop, so a write never reaches a
 * closed (or reused) descriptor. */
static void notify(int signo, const sub *skip) {
    unsigned long long bit = BIT(signo);
    for (sub *n = atomic_load(&subs); n; n = n->next) {
        if (n == skip || !(atomic_load(&n->want) & bit)) continue;
        atomic_fetch_add(&n->busy, 1);
        int fd = atomic_load(&n->fd);
        if (fd >= 0 && (atomic_load(&n->want) & bit)) {
            atomic_fetch_or(&n->pending, bit);
            uint64_t one = 1;
            ssize_t ignored = write(fd, &one, sizeof one); /* fails only with the counter huge: already woken */
            (void)ignored;
        }
        atomic_fetch_sub(&n->busy, 1);
    }
}

/* The handler, on a thread that does not block signo, whichever the kernel chose. */
static void on_signal(int signo) {
    int saved_errno = errno;
    notify(signo, NULL);
    errno = saved_errno;
}

/* Under mu. SA_ONSTACK: a loop thread that did not ask for signo has an alternate stack (stack.c), so the frame
 * never lands on a task's stack, which may be one without a guard page; SA_RESTART: its blocking calls go on. */
static int hold(int signo) {
    if (users[signo]++ > 0) return 0;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, &saved[signo]) == 0) return 0;
    users[signo]--;
    return -errno;
}

static void unhold_all(unsigned long long set) {
    for (; set; set &= set - 1) {
        int signo = __builtin_ctzll(set) + 1;
        if (--users[signo] == 0) (void)sigaction(signo, &saved[signo], NULL);
    }
}

/* fork: the child has one thread and none of the parent's loops (loop.c makes it forget them), so it gets the
 * dispositions and mask the program had before: a SIGTERM kills it, and does not wake the parent through the
 * eventfds they share. The lock is held across fork so the child never inherits it taken. */
static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
static void fork_child(void) {
    for (sub *n = atomic_load(&subs); n; n = n->next) {
        atomic_store(&n->want, 0);
        atomic_store(&n->fd, -1);
        atomic_store(&n->pending, 0);
        atomic_store(&n->busy, 0); /* a handler of another thread was mid-way: that thread is not in the child */
        n->owned = false;
    }
    for (int signo = 1; signo < NSIG; signo++)
        if (users[signo]) {
            users[signo] = 0;
            (void)sigaction(signo, &saved[signo], NULL);
        }
    if (state) pthread_sigmask(SIG_UNBLOCK, &state->blocked, NULL);
    atomic_fetch_add(&generation, 1);
    pthread_mutex_unlock(&mu);
}
static void register_fork_handlers(void) { (void)pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* Both descriptors are edge-triggered: each is read to EAGAIN. What the signalfd holds is passed on to the other
 * loops and taken here; then the bits, read after the eventfd, so a bit set after that comes with a write of its
 * own, hence a new edge. Each signal delivered wakes its waiters, and cancels the main task (of every loop of a
 * group) if asked. */
static void on_ready(corio__loop *l, int fd, void *data) {
    (void)fd;
    sigstate *s = data;
    uint64_t count;
    while (read(s->efd, &count, sizeof count) > 0) {
    }
    struct signalfd_siginfo si[16];
    ssize_t n;
    while ((n = read(s->sfd, si, sizeof si)) > 0)
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            if (signo < 1 || signo >= NSIG) continue;
            notify(signo, s->sub);
            atomic_fetch_or(&s->sub->pending, BIT(signo));
        }
    unsigned long long bits = atomic_exchange(&s->sub->pending, 0);
    for (; bits; bits &= bits - 1) {
        int signo = __builtin_ctzll(bits) + 1;
        if (sigismember(&s->cancel, signo)) {
            if (l->main && l->main->state != CORIO__DONE) corio__task_cancel(l, l->main);
            corio__loops_cancel_mains();
        }
        corio_task *t;
        while ((t = corio__first_waiter(&s->waiters[signo]))) corio__wake(l, t, signo);
    }
}

/* Gives up s's signals. Once no handler writes to its eventfd, what is still queued in its signalfd goes to the
 * other loops that asked (a signal sent to the process can sit there while another loop waits for it; if none
 * does, the ending loop absorbs it, as it would a moment earlier). The signals it blocked are unblocked before its
 * hold on the handlers is dropped, so one arriving in between reaches the others through the handler, never the
 * old disposition while some loop still wants it. Deliveries this loop had not seen yet are dropped. */
static void release(sigstate *s, bool loop_knows_fds) {
    bool current = s->generation == atomic_load(&generation);
    if (s->sub && current) {
        pthread_mutex_lock(&mu);
        atomic_store(&s->sub->want, 0);
        atomic_store(&s->sub->fd, -1);
        while (atomic_load(&s->sub->busy) != 0) sched_yield(); /* a handler on another thread, mid-write */
        s->sub->owned = false;
        pthread_mutex_unlock(&mu);
        struct signalfd_siginfo si[16];
        ssize_t n;
        while ((n = read(s->sfd, si, sizeof si)) > 0)
            for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
                if (si[i].ssi_signo >= 1 && si[i].ssi_signo < NSIG) notify((int)si[i].ssi_signo, NULL);
    }
    for (int k = 0; k < 2; k++) {
        int fd = k ? s->sfd : s->efd;
        if (fd < 0) continue;
        if (loop_knows_fds)
            corio_close(fd);
        else
            close(fd);
    }
    pthread_sigmask(SIG_UNBLOCK, &s->blocked, NULL);
    if (current) {
        pthread_mutex_lock(&mu);
        unhold_all(s->held);
        pthread_mutex_unlock(&mu);
    }
    if (state == s) state = NULL;
    free(s);
}

/* The state of loop l. A state left by an earlier loop of this thread (in a forked child, whose loop was never
 * freed) is recognised because l's registry does not watch its eventfd — comparing loop pointers would not do,
 * since a new loop is often allocated at the old one's address — and is released first. */
static sigstate *get_state(corio__loop *l, int *rc) {
    sigstate *s = state;
    if (s && s->loop == l && s->generation == atomic_load(&generation)) {
        if (s->efd < 0) return s;
        corio__fdent *e = corio__fd_entry(l, s->efd, rc);
        if (!e) return NULL;
        if (e->cb == on_ready && e->cb_data == s) return s;
    }
    if (s) release(s, false);
    s = calloc(1, sizeof *s);
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    s->loop = l;
    s->generation = atomic_load(&generation);
    s->efd = s->sfd = -1;
    s->group = corio__loops_signals_held();
    sigemptyset(&s->mask);
    sigemptyset(&s->blocked);
    sigemptyset(&s->cancel);
    for (int i = 0; i < NSIG; i++) corio__list_init(&s->waiters[i]);
    state = s;
    return s;
}

/* The loop's eventfd and signalfd (no signal in it yet), watched, and a node of the handler's list pointing to
 * the eventfd: 0 or -errno. */
static int subscribe(corio__loop *l, sigstate *s) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, register_fork_handlers);
    sigset_t none;
    sigemptyset(&none);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) return -errno;
    int sfd = signalfd(-1, &none, SFD_NONBLOCK | SFD_CLOEXEC);
    int rc = sfd < 0 ? -errno : corio__fd_watch(l, efd, on_ready, s);
    if (rc == 0) rc = corio__fd_watch(l, sfd, on_ready, s);
    sub *n = NULL;
    if (rc == 0) {
        pthread_mutex_lock(&mu);
        n = atomic_load(&subs);
        while (n && n->owned) n = n->next;
        if (!n && (n = sub_pool_used < SUB_POOL ? &sub_pool[sub_pool_used++] : calloc(1, sizeof *n))) {
            atomic_init(&n->want, 0);
            atomic_init(&n->pending, 0);
            atomic_init(&n->fd, -1);
            atomic_init(&n->busy, 0);
            n->next = atomic_load(&subs);
            atomic_store(&subs, n); /* published: the handler may walk into it from here on */
        }
        if (n) {
            n->owned = true;
            atomic_store(&n->pending, 0);
            atomic_store(&n->fd, efd);
        }
        pthread_mutex_unlock(&mu);
        if (!n) rc = -ENOMEM;
    }
    if (rc < 0) {
        corio_close(efd);
        if (sfd >= 0) corio_close(sfd);
        return rc;
    }
    s->sub = n;
    s->efd = efd;
    s->sfd = sfd;
    return 0;
}

/* Routes signo to this loop: 0 or -errno. The signalfd's mask grows first, then the loop's bit is set and the
 * handler installed, and the signal is blocked in this thread last: a delivery before the handler takes the old
 * action, as one before the call would; one to this thread before the block goes through the handler; and none is
 * left pending with no readiness edge to tell the loop (as blocking first could). One already pending here (the
 * program had blocked it) is read at once: the eventfd's poke makes the loop look. */
static int add_signal(corio__loop *l, sigstate *s, int signo) {
    unsigned long long bit = BIT(signo);
    if (s->asked & bit) return 0;
    int rc = s->sub ? 0 : subscribe(l, s);
    if (rc < 0) return rc;
    sigset_t mask = s->mask;
    sigaddset(&mask, signo);
    if (signalfd(s->sfd, &mask, 0) < 0) return -errno;
    s->mask = mask;
    atomic_fetch_or(&s->sub->want, bit);
    pthread_mutex_lock(&mu);
    unsigned long long *held = s->group ? s->group : &s->held;
    if (!(*held & bit) && (rc = hold(signo)) == 0) *held |= bit;
    pthread_mutex_unlock(&mu);
    if (rc < 0) {
        atomic_fetch_and(&s->sub->want, ~bit); /* in the signalfd's mask but not blocked: it never shows there */
        return rc;
    }
    s->asked |= bit;
    sigset_t one, old, pending;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, &old);
    if (!sigismember(&old, signo)) sigaddset(&s->blocked, signo);
    if (sigpending(&pending) == 0 && sigismember(&pending, signo)) {
        uint64_t poke = 1;
        ssize_t ignored = write(s->efd, &poke, sizeof poke);
        (void)ignored;
    }
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
    corio__outside_begin(l, CORIO__OUTSIDE_IO, 1); /* a signal comes from outside: no deadlock */
    corio__wait_on(self, CORIO__WAIT_SIGNAL, (const void *)(intptr_t)signo);
    rc = corio__park(l, &s->waiters[signo], CORIO__INF, false);
    corio__outside_end(l, CORIO__OUTSIDE_IO, 1);
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

void corio__signal_group_end(unsigned long long held) {
    pthread_mutex_lock(&mu);
    unhold_all(held);
    pthread_mutex_unlock(&mu);
}
