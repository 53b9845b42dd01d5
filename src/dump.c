/* dump.c - corio_dump_tasks, a listing of every task of the loop (state, what it waits on, age, stack use), the
 * loop's counters (corio_stats_get), and debug mode's SIGQUIT, which prints that listing from the loop: the
 * handler only raises a flag and writes an eventfd the loop watches, since stdio must never run in a signal
 * handler. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static const char *state_name(const corio_task *t) {
    switch (t->state) {
    case CORIO__READY:
        return "ready";
    case CORIO__RUNNING:
        return "running";
    case CORIO__WAITING:
        return "waiting";
    default:
        return "done";
    }
}

/* ms from the loop's fresh clock until an absolute deadline (ns) */
static long long ms_until(int64_t when, int64_t now) { return (long long)((when - now) / 1000000); }

/* What a waiting task waits on, in words. */
static void describe_wait(const corio__loop *l, const corio_task *t, int64_t now, char *buf, size_t size) {
    const void *obj = t->wait_obj;
    const corio_task *other = obj;
    int n = 0;
    switch ((enum corio__wait)t->wait_kind) {
    case CORIO__WAIT_SLEEP:
        if (t->timer.index != CORIO__NOT_ARMED)
            n = snprintf(buf, size, "sleep (wakes in %lld ms)", ms_until(t->timer.when, now));
        else
            n = snprintf(buf, size, "sleep (for ever)");
        break;
    case CORIO__WAIT_TASK:
        /* the awaited task outlives the wait: await frees it only after waking */
        if (corio__task_of(l, other))
            n = snprintf(buf, size, "task \"%s\" (#%llu)", corio__task_label(other), (unsigned long long)other->id);
        else
            n = snprintf(buf, size, "task %p", obj);
        break;
    case CORIO__WAIT_GATHER:
        n = snprintf(buf, size, "gather (%zu tasks to end)", t->gather_pending);
        break;
    case CORIO__WAIT_GROUP:
        n = snprintf(buf, size, "group %p", obj);
        break;
    case CORIO__WAIT_LOCK:
        n = snprintf(buf, size, "lock %p", obj);
        break;
    case CORIO__WAIT_EVENT:
        n = snprintf(buf, size, "event %p", obj);
        break;
    case CORIO__WAIT_SEM:
        n = snprintf(buf, size, "semaphore %p", obj);
        break;
    case CORIO__WAIT_COND:
        n = snprintf(buf, size, "condition %p", obj);
        break;
    case CORIO__WAIT_QUEUE_PUT:
        n = snprintf(buf, size, "queue %p (put: full)", obj);
        break;
    case CORIO__WAIT_QUEUE_GET:
        n = snprintf(buf, size, "queue %p (get: empty)", obj);
        break;
    case CORIO__WAIT_FD_READ:
        n = snprintf(buf, size, "fd %d readable", (int)(intptr_t)obj);
        break;
    case CORIO__WAIT_FD_WRITE:
        n = snprintf(buf, size, "fd %d writable", (int)(intptr_t)obj);
        break;
    case CORIO__WAIT_SIGNAL:
        n = snprintf(buf, size, "signal %d", (int)(intptr_t)obj);
        break;
    case CORIO__WAIT_THREAD:
        n = snprintf(buf, size, "to_thread (function %p)", obj);
        break;
    case CORIO__WAIT_SERVER:
        n = snprintf(buf, size, "server %p (a connection to end)", obj);
        break;
    case CORIO__WAIT_FUTURE:
        n = snprintf(buf, size, "future %p", obj);
        break;
    case CORIO__WAIT_BARRIER:
        n = snprintf(buf, size, "barrier %p", obj);
        break;
    case CORIO__WAIT_QUEUE_JOIN:
        n = snprintf(buf, size, "queue %p (join: items not done)", obj);
        break;
    case CORIO__WAIT_ANY:
        n = snprintf(buf, size, "the first of several tasks to end");
        break;
    case CORIO__WAIT_SELECT:
        n = snprintf(buf, size, "select (%p)", obj);
        break;
    default:
        n = snprintf(buf, size, "unknown");
        break;
    }
    /* a wait_for or a timeout scope bounds the wait: say when it ends (a sleep already said so) */
    if (n >= 0 && (size_t)n < size && t->wait_kind != CORIO__WAIT_SLEEP && t->timer.index != CORIO__NOT_ARMED)
        (void)snprintf(buf + n, size - (size_t)n, ", times out in %lld ms", ms_until(t->timer.when, now));
}

/* Bytes of t's stack ever touched, approximately: from the lowest resident page up (mincore; the stacks are
 * lazily committed, so an untouched page is not resident). A pooled stack keeps the pages earlier tasks touched
 * until the pool trims it, so this is an upper bound at page granularity. 0 if unknown. */
static size_t stack_high_water(const corio_task *t) {
    if (!t->stack) return 0;
    size_t size = t->stack->pool->size, pg = corio__page_size(), npages = size / pg;
    unsigned char vec[256];
    for (size_t first = 0; first < npages; first += sizeof vec) {
        size_t n = npages - first < sizeof vec ? npages - first : sizeof vec;
        if (mincore(t->stack->lo + first * pg, n * pg, vec) < 0) return 0;
        for (size_t i = 0; i < n; i++)
            if (vec[i] & 1) return size - (first + i) * pg;
    }
    return 0;
}

/* Bytes of t's stack in use now: down to the saved stack pointer of a suspended task, to this frame for the
 * running one. 0 if unknown (not started, ended, or the ucontext switch, whose saved sp is not kept portably). */
static size_t stack_in_use(const corio__loop *l, const corio_task *t) {
    if (!t->stack || !t->started) return 0;
    const char *top = t->stack->lo + t->stack->pool->size;
    const char *sp = NULL;
    if (t == l->current) {
        sp = __builtin_frame_address(0);
    } else {
#ifndef CORIO_SWITCH_UCONTEXT
        sp = t->ctx.sp;
#endif
    }
    return sp && sp >= t->stack->lo && sp < top ? (size_t)(top - sp) : 0;
}

void corio_dump_tasks(FILE *out) {
    if (!out) out = stderr;
    const corio__loop *l = corio__cur;
    if (!l) {
        (void)fprintf(out, "corio: no loop runs in this thread\n");
        return;
    }
    int64_t now = corio__clock_ns();
    (void)fprintf(out, "corio: %zu tasks (%zu ready, %zu timers, %llu switches)\n", l->ntasks, l->nready, l->timers.n,
                  (unsigned long long)l->switches);
    for (const corio__link *n = l->tasks.next; n != &l->tasks; n = n->next) {
        const corio_task *t = corio__container_of(n, corio_task, all);
        char wait[160] = "";
        if (t->state == CORIO__WAITING) {
            char what[128];
            describe_wait(l, t, now, what, sizeof what);
            (void)snprintf(wait, sizeof wait, " on %s", what);
        } else if (t->state == CORIO__DONE) {
            (void)snprintf(wait, sizeof wait, " (status %d, %s)", t->status, corio_err_name(t->status));
        }
        (void)fprintf(out, "  #%llu \"%s\" %s%s%s%s, age %lld ms", (unsigned long long)t->id, corio__task_label(t),
                      state_name(t), wait, (t->cancelled || t->cancel_req) && t->state != CORIO__DONE ? " [cancelled]" : "",
                      t->state == CORIO__WAITING && t->shielded ? " [shielded]" : "",
                      (long long)(uint32_t)((uint32_t)((now - l->epoch_ns) / 1000000) - t->born_ms));
        if (t->stack) {
            if (t->started)
                (void)fprintf(out, ", stack %zu B now, ~%zu KiB high-water of %zu KiB", stack_in_use(l, t),
                              stack_high_water(t) / 1024, t->stack->pool->size / 1024);
            else
                (void)fprintf(out, ", not started, stack of %zu KiB", t->stack->pool->size / 1024);
        }
        (void)fputc('\n', out);
    }
    (void)fflush(out);
}

int corio_stats_get(corio_stats *st) {
    corio__loop *l = corio__cur;
    if (!l) return -EPERM;
    if (!st) return -EINVAL;
    memset(st, 0, sizeof *st);
    st->tasks = l->ntasks;
    st->ready = l->nready;
    st->timers = l->timers.n;
    for (corio__pool *p = &l->pool; p; p = p->next) {
        st->stacks_in_use += p->in_use;
        st->stacks_cached += p->nhot + p->ncold;
        st->stacks_guarded += p->guarded;
    }
    st->stack_size = l->pool.size;
    st->switches = l->switches;
    return 0;
}

/* ---- debug mode: SIGQUIT ---------------------------------------------------------------------------------------
 * One process-wide handler and eventfd, shared by the debug loops of all threads (counted in quit_users); each
 * loop watches its own dup of the eventfd, so it can corio_close it without closing the others'. */

static pthread_mutex_t quit_mu = PTHREAD_MUTEX_INITIALIZER;
static int quit_users;
static bool quit_installed; /* the handler is ours: the process had SIGQUIT at its default */
static struct sigaction quit_old;
static atomic_int quit_efd = -1;     /* written by the handler; set before it is installed, closed after removal */
static atomic_int quit_requested;    /* lock-free, so async-signal-safe */
static CORIO__TLS int loop_efd = -1; /* this thread's loop's dup of quit_efd */

static void on_sigquit(int signo) {
    (void)signo;
    int saved = errno;
    atomic_store(&quit_requested, 1);
    uint64_t one = 1;
    int fd = atomic_load(&quit_efd);
    if (fd >= 0) {
        ssize_t r = write(fd, &one, sizeof one);
        (void)r; /* a full counter already wakes the loop */
    }
    errno = saved;
}

void corio__debug_quit_poll(corio__loop *l) {
    (void)l;
    if (atomic_load_explicit(&quit_requested, memory_order_relaxed) && atomic_exchange(&quit_requested, 0))
        corio_dump_tasks(stderr);
}

static void on_quit_fd(corio__loop *l, int fd, void *data) {
    (void)data;
    uint64_t v;
    while (read(fd, &v, sizeof v) > 0) {
    }
    corio__debug_quit_poll(l);
}

void corio__debug_quit_install(corio__loop *l) {
    pthread_mutex_lock(&quit_mu);
    if (quit_users++ == 0) {
        struct sigaction cur;
        if (sigaction(SIGQUIT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL && !(cur.sa_flags & SA_SIGINFO)) {
            quit_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (quit_efd >= 0) {
                struct sigaction sa = {.sa_handler = on_sigquit, .sa_flags = SA_RESTART};
                sigemptyset(&sa.sa_mask);
                quit_installed = sigaction(SIGQUIT, &sa, &quit_old) == 0;
                if (!quit_installed) {
                    close(quit_efd);
                    quit_efd = -1;
                }
            }
        }
    }
    int efd = quit_efd >= 0 ? fcntl(quit_efd, F_DUPFD_CLOEXEC, 0) : -1;
    pthread_mutex_unlock(&quit_mu);
    /* without the watch the loop still sees the flag at its next turn, just not while idle */
    if (efd >= 0 && corio__fd_watch(l, efd, on_quit_fd, NULL) < 0) {
        corio_close(efd);
        efd = -1;
    }
    loop_efd = efd;
}

void corio__debug_quit_uninstall(corio__loop *l) {
    (void)l;
    if (loop_efd >= 0) corio_close(loop_efd);
    loop_efd = -1;
    pthread_mutex_lock(&quit_mu);
    if (--quit_users == 0 && quit_installed) {
        (void)sigaction(SIGQUIT, &quit_old, NULL);
        quit_installed = false;
        close(quit_efd);
        quit_efd = -1;
    }
    pthread_mutex_unlock(&quit_mu);
}
