/* gather.c - corio_gather: await many tasks at once, either failing fast (asyncio.gather) or collecting every
 * status (return_exceptions=True); corio_wait_any: wait for the first of many to end (asyncio.wait's
 * FIRST_COMPLETED). The gatherer is each task's "watcher"; a task that ends counts itself off
 * and wakes the gatherer only when the gather can finish, so gathering n tasks costs O(n) wakeups at most. */
#include "internal.h"

/* Marks each task so a repeat shows in O(n); returns 0, or the error and leaves every task unmarked. */
static int check_all(corio__loop *l, const corio_task *self, corio_task **ts, size_t n) {
    int rc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        corio_task *t = ts[i];
        if (t == self) {
            rc = -EDEADLK;
            break;
        }
        if (!corio__task_of(l, t)) {
            rc = corio__task_invalid(t, "corio_gather");
            break;
        }
        if (t->detached || t->end_by == CORIO__END_GROUP || t == l->main || t->gather_mark) {
            rc = -EINVAL;
            break;
        }
        if (t->end_by != CORIO__END_NONE) {
            rc = -EBUSY;
            break;
        }
        t->gather_mark = true;
    }
    for (size_t j = 0; j < i; j++) ts[j]->gather_mark = false;
    return rc;
}

int corio_gather(corio_task **ts, size_t n, int *statuses) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (n == 0) return 0;
    if (!ts) return -EINVAL;
    int rc = check_all(l, self, ts, n);
    if (rc < 0) return rc;

    self->gather_pending = 0;
    self->gather_failed = false;
    self->gather_stop_on_failure = statuses == NULL;
    for (size_t i = 0; i < n; i++) {
        if (ts[i]->state == CORIO__DONE) {
            if (ts[i]->status < 0) self->gather_failed = true;
        } else {
            ts[i]->watcher = self;
            ts[i]->end_by = CORIO__END_WATCHER;
            self->gather_pending++;
        }
    }
    while (self->gather_pending > 0 && !(self->gather_failed && self->gather_stop_on_failure)) {
        corio__wait_on(self, CORIO__WAIT_GATHER, NULL);
        int r = corio__park(l, NULL, CORIO__INF, false);
        if (r < 0) {
            rc = r;
            break;
        }
    }
    if (self->gather_pending > 0) {
        /* failed fast, or the gatherer was cancelled: the rest are cancelled and waited for, never left behind */
        for (size_t i = 0; i < n; i++)
            if (ts[i]->state != CORIO__DONE) corio__task_cancel(l, ts[i]);
        self->gather_stop_on_failure = false;
        while (self->gather_pending > 0) {
            corio__wait_on(self, CORIO__WAIT_GATHER, NULL);
            corio__park(l, NULL, CORIO__INF, true);
        }
    }

    if (statuses) {
        for (size_t i = 0; i < n; i++) statuses[i] = ts[i]->status;
    } else if (rc == 0 && self->gather_failed) {
        /* the first failure in time: the one that ended first */
        corio_task *first = NULL;
        for (size_t i = 0; i < n; i++)
            if (ts[i]->status < 0 && (!first || ts[i]->end_seq < first->end_seq)) first = ts[i];
        /* gather_failed means one of these n tasks ended with status < 0, so first is set */
        // cppcheck-suppress nullPointer
        rc = first->status;
    }
    for (size_t i = 0; i < n; i++) {
        ts[i]->end_by = CORIO__END_NONE;
        corio__task_free(l, ts[i]);
    }
    return rc;
}

/* The lowest index of a task of ts that has ended, or -1. */
static int first_done(corio_task **ts, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ts[i]->state == CORIO__DONE) return (int)i;
    return -1;
}

int corio_wait_any(corio_task **ts, size_t n, int64_t ms) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!ts || n == 0 || n > INT32_MAX) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        corio_task *t = ts[i];
        if (!corio__task_of(l, t)) return corio__task_invalid(t, "corio_wait_any");
        if (t == self) return -EDEADLK;
        if (t->detached || t->end_by == CORIO__END_GROUP || t == l->main) return -EINVAL;
        if (t->end_by != CORIO__END_NONE && t->watcher != self) return -EBUSY;
    }
    int i = first_done(ts, n);
    if (i >= 0) return i;
    /* each task is watched by this one until it returns; the first to end counts gather_pending down to 0 and
     * wakes it (task_ended in sched.c) */
    self->gather_pending = 1;
    self->gather_stop_on_failure = false;
    for (size_t k = 0; k < n; k++) {
        ts[k]->watcher = self;
        ts[k]->end_by = CORIO__END_WATCHER;
    }
    corio__wait_on(self, CORIO__WAIT_ANY, NULL);
    int rc = corio__park(l, NULL, ms < 0 ? CORIO__INF : corio__deadline_after(l, ms), false);
    for (size_t k = 0; k < n; k++) ts[k]->end_by = CORIO__END_NONE;
    self->gather_pending = 0;
    /* a task that ended is reported even when the deadline or a cancellation came in the same turn */
    if ((i = first_done(ts, n)) >= 0) return i;
    return rc == CORIO__WAKE_DEADLINE ? -ETIMEDOUT : (rc < 0 ? rc : -ECANCELED);
}
