/* queue.c - corio_queue, a FIFO of pointers (asyncio.Queue): a ring buffer that grows up to its capacity, with
 * direct hand-over to a waiting getter and from a waiting putter, so an item is never lost to a cancellation:
 * a getter that was handed one returns it even if cancelled afterwards, and a cancelled putter's item was never
 * enqueued. */
#include <stdlib.h>

#include "internal.h"

struct corio_queue {
    void **buf;
    size_t cap;  /* slots in buf */
    size_t head; /* index of the oldest item */
    size_t count;
    size_t limit; /* capacity promised to the user, 0 = unbounded */
    bool closed;
    corio__link getters; /* wait only while the queue is empty */
    corio__link putters; /* wait only while it is full; each holds its item in task->xfer */
};

corio_queue *corio_queue_new(size_t capacity) {
    corio_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->limit = capacity;
    corio__list_init(&q->getters);
    corio__list_init(&q->putters);
    return q;
}

static bool full(const corio_queue *q) { return q->limit && q->count >= q->limit; }

static int push(corio_queue *q, void *item) {
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        if (q->limit && cap > q->limit) cap = q->limit;
        void **buf = malloc(cap * sizeof *buf);
        if (!buf) return -ENOMEM;
        for (size_t i = 0; i < q->count; i++) buf[i] = q->buf[(q->head + i) % q->cap];
        free(q->buf);
        q->buf = buf;
        q->cap = cap;
        q->head = 0;
    }
    q->buf[(q->head + q->count) % q->cap] = item;
    q->count++;
    return 0;
}

static void *pop(corio_queue *q) {
    void *item = q->buf[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return item;
}

/* Puts without waiting: 0, -EAGAIN when full, -EPIPE when closed, -ENOMEM. */
static int put_now(corio_queue *q, void *item) {
    if (q->closed) return -EPIPE;
    corio_task *getter = corio__first_waiter(&q->getters);
    if (getter) {
        getter->xfer = item;
        corio__wake_waiter(getter, 0);
        return 0;
    }
    if (full(q)) return -EAGAIN;
    return push(q, item);
}

/* Gets without waiting: 0, -EAGAIN when empty, -EPIPE when closed and drained. */
static int get_now(corio_queue *q, void **item) {
    if (q->count == 0) return q->closed ? -EPIPE : -EAGAIN;
    *item = pop(q);
    corio_task *putter = corio__first_waiter(&q->putters);
    if (putter) {              /* room for exactly one: the first waiting putter's item goes in and its put succeeds */
        push(q, putter->xfer); /* cannot fail: pop just freed a slot */
        corio__wake_waiter(putter, 0);
    }
    return 0;
}

int corio_queue_put(corio_queue *q, void *item) {
    if (!q) return -EINVAL;
    int rc = put_now(q, item);
    if (rc != -EAGAIN) return rc;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    self->xfer = item;
    corio__wait_on(self, CORIO__WAIT_QUEUE_PUT, q);
    return corio__park(l, &q->putters, CORIO__INF, false); /* 0: a getter moved our item in; -EPIPE: closed */
}

int corio_queue_try_put(corio_queue *q, void *item) { return q ? put_now(q, item) : -EINVAL; }

int corio_queue_get(corio_queue *q, void **item) {
    if (!q || !item) return -EINVAL;
    int rc = get_now(q, item);
    if (rc != -EAGAIN) return rc;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    corio__wait_on(self, CORIO__WAIT_QUEUE_GET, q);
    rc = corio__park(l, &q->getters, CORIO__INF, false);
    if (rc == 0) *item = self->xfer; /* handed over by a putter */
    return rc;
}

int corio_queue_try_get(corio_queue *q, void **item) { return q && item ? get_now(q, item) : -EINVAL; }

void corio_queue_close(corio_queue *q) {
    if (!q) return;
    q->closed = true;
    corio_task *t;
    while ((t = corio__first_waiter(&q->getters))) corio__wake_waiter(t, -EPIPE);
    while ((t = corio__first_waiter(&q->putters))) corio__wake_waiter(t, -EPIPE);
}

size_t corio_queue_size(const corio_queue *q) { return q ? q->count : 0; }

int corio_queue_free(corio_queue *q) {
    if (!q) return 0;
    if (!corio__list_empty(&q->getters) || !corio__list_empty(&q->putters)) return -EBUSY;
    free(q->buf);
    free(q);
    return 0;
}
