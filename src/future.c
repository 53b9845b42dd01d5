/* future.c - corio_future, a one-shot result (asyncio's loop.create_future()): one task sets a value or an error,
 * or cancels it, and every task waiting on it wakes with that outcome. The value travels in each waiter's
 * task->xfer, so a waiter woken before it runs never reads the future again: it may be freed meanwhile. */
#include <stdlib.h>

#include "internal.h"

struct corio_future {
    bool done;
    int status; /* once done: 0, the error set, or -ECANCELED */
    void *value;
    corio__link waiters;
};

corio_future *corio_future_new(void) {
    corio_future *f = calloc(1, sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    corio__list_init(&f->waiters);
    return f;
}

static int finish(corio_future *f, int status, void *value) {
    if (!f) return -EINVAL;
    if (f->done) return -EBUSY;
    f->done = true;
    f->status = status;
    f->value = value;
    corio_task *t;
    while ((t = corio__first_waiter(&f->waiters))) {
        t->xfer = value;
        corio__wake_waiter(t, status);
    }
    return 0;
}

int corio_future_set_result(corio_future *f, void *value) { return finish(f, 0, value); }

int corio_future_set_error(corio_future *f, int err) {
    if (err >= 0) return -EINVAL;
    return finish(f, err, NULL);
}

int corio_future_cancel(corio_future *f) { return finish(f, -ECANCELED, NULL); }

int corio_future_done(const corio_future *f) { return f ? f->done : -EINVAL; }

int corio_future_wait(corio_future *f, void **value) {
    if (!f) return -EINVAL;
    if (f->done) {
        if (value && f->status == 0) *value = f->value;
        return f->status;
    }
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    corio__wait_on(self, CORIO__WAIT_FUTURE, f);
    int rc = corio__park(l, &f->waiters, CORIO__INF, false);
    if (rc == 0 && value) *value = self->xfer;
    return rc;
}

int corio_future_free(corio_future *f) {
    if (!f) return 0;
    if (!corio__list_empty(&f->waiters)) return -EBUSY;
    free(f);
    return 0;
}
