/* watchdog.c - reports of a loop that does not move on: after the main task has returned, the tasks that still
 * hold corio_run (cancelled, yet not ended) are listed on stderr after a grace period and every 10 s after that,
 * always; and in debug mode a watchdog thread names a task while it runs over 100 ms without suspending, rather
 * than only once it suspends at last (a task that never suspends again would never be reported).
 *
 * The shutdown report runs in the loop's thread, from the places a stuck loop still passes through: a scheduler
 * turn (tasks that wait on something nothing ends, in a shield), a wait refused at once (a cancelled task looping on
 * corio_sleep) and corio_checkpoint. A task that never calls corio at all is seen only by the debug watchdog. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define GRACE_NS (1000 * 1000000LL)        /* after the main task returned, before the first report */
#define REPORT_EVERY_NS (10000 * 1000000LL) /* between later reports */
#define SLOW_NS (100 * 1000000LL)          /* debug mode: a task running this long without suspending is reported */
#define WATCH_EVERY_NS (20 * 1000000LL)    /* the debug watchdog's period */

void corio__shutdown_started(corio__loop *l) {
    l->shutdown_ns = l->now_ns;
    l->report_ns = l->now_ns + GRACE_NS;
}

void corio__shutdown_check(corio__loop *l) {
    int64_t now = corio__update_now(l);
    if (now < l->report_ns || l->nrunning == 0) return;
    l->report_ns = now + REPORT_EVERY_NS;
    (void)fprintf(stderr,
                  "corio: %lld ms after the main task returned, %zu tasks still keep corio_run from returning "
                  "(cancelled, they have not ended):\n",
                  (long long)((now - l->shutdown_ns) / 1000000), l->nrunning);
    corio_dump_tasks(stderr);
}

/* ---- debug mode's watchdog thread ---------------------------------------------------------------------------- */

struct corio__watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    corio__loop *loop;
};

static void *watch(void *arg) {
    corio__watchdog *w = arg;
    corio__loop *l = w->loop;
    uint64_t reported = UINT64_MAX; /* the switch whose run was reported already */
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_EVERY_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stop) break;
        uint64_t epoch = atomic_load_explicit(&l->dbg_epoch, memory_order_acquire);
        const corio_task *t = atomic_load_explicit(&l->dbg_running, memory_order_acquire);
        int64_t ran = corio__clock_ns() - atomic_load_explicit(&l->ran_ns, memory_order_relaxed);
        if (!t || ran < SLOW_NS || epoch == reported) continue;
        /* the loop is stuck in t, so t stays alive while its label is read */
        reported = epoch;
        (void)fprintf(stderr, "corio: task \"%s\" (#%lu) has been running %lld ms without suspending (it blocks the loop)\n",
                      corio__task_label(t), (unsigned long)t->id, (long long)(ran / 1000000));
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void corio__watchdog_start(corio__loop *l) {
    corio__watchdog *w = calloc(1, sizeof *w);
    if (!w) return; /* the report at the next switch still comes (debug_check_slow) */
    w->loop = l;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    /* the thread must not take the loop's signals (signalfd, Ctrl-C cancelling the main task) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, watch, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return;
    }
    l->watchdog = w;
}

void corio__watchdog_stop(corio__loop *l) {
    corio__watchdog *w = l->watchdog;
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    l->watchdog = NULL;
}
