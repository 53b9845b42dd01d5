/* barrier.c - corio_barrier (asyncio.Barrier): parties tasks wait until the last of them arrives, then all go on
 * together, each with its arrival index, and the barrier is ready for the next round at once. The last arrival
 * wakes the others with their index as the wake code, so tasks let through own their result and never read the
 * barrier again; only a waiter whose own cancellation or deadline ended its wait comes back to say it left. */
#include <limits.h>
#include <stdlib.h>

#include "internal.h"

struct corio_barrier {
    unsigned parties;
    unsigned inside; /* tasks inside corio_barrier_wait: on the list, or woken by their own cancellation or
                      * deadline and not yet run (such a task still decrements it) */
    bool broken;     /* corio_barrier_abort: every wait fails until corio_barrier_reset */
    corio__link waiters;
};

corio_barrier *corio_barrier_new(unsigned parties) {
    if (parties == 0 || parties > INT_MAX) {
        errno = EINVAL;
        return NULL;
    }
    corio_barrier *b = calloc(1, sizeof *b);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->parties = parties;
    corio__list_init(&b->waiters);
    return b;
}

static unsigned on_list(const corio_barrier *b) {
    unsigned n = 0;
    for (const corio__link *p = b->waiters.next; p != &b->waiters; p = p->next) n++;
    return n;
}

/* Wakes every waiter with its index (rc < 0: with rc instead); returns how many. */
static unsigned wake_waiters(corio_barrier *b, int rc) {
    unsigned n = 0;
    corio_task *t;
    while ((t = corio__first_waiter(&b->waiters))) {
        corio__wake_waiter(t, rc < 0 ? rc : (int)n);
        n++;
    }
    b->inside -= n;
    return n;
}

int corio_barrier_wait(corio_barrier *b) {
    if (!b) return -EINVAL;
    if (b->broken) return -EPIPE;
    /* inside over-counts only by waiters leaving after a cancel, so the walk is needed only near the last arrival */
    if (b->inside + 1 >= b->parties && on_list(b) + 1 == b->parties) {
        wake_waiters(b, 0);
        return (int)b->parties - 1;
    }
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    int rc = corio__check(l, self); /* here, so that a park's -ECANCELED means it was on the list */
    if (rc < 0) return rc;
    b->inside++;
    corio__wait_on(self, CORIO__WAIT_BARRIER, b);
    rc = corio__park(l, &b->waiters, CORIO__INF, false);
    if (rc == -ECANCELED || rc == -ETIMEDOUT || rc == -ENOMEM) b->inside--; /* left by itself (or never parked) */
    return rc;
}

int corio_barrier_reset(corio_barrier *b) {
    if (!b) return -EINVAL;
    b->broken = false;
    wake_waiters(b, -EPIPE);
    return 0;
}

int corio_barrier_abort(corio_barrier *b) {
    if (!b) return -EINVAL;
    b->broken = true;
    wake_waiters(b, -EPIPE);
    return 0;
}

int corio_barrier_parties(const corio_barrier *b) { return b ? (int)b->parties : -EINVAL; }

int corio_barrier_n_waiting(const corio_barrier *b) { return b ? (int)on_list(b) : -EINVAL; }

int corio_barrier_broken(const corio_barrier *b) { return b ? b->broken : -EINVAL; }

int corio_barrier_free(corio_barrier *b) {
    if (!b) return 0;
    if (b->inside) return -EBUSY;
    free(b);
    return 0;
}
