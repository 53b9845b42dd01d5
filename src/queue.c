/* queue.c - corio_queue, a queue of pointers (asyncio.Queue, LifoQueue and PriorityQueue): a ring buffer, a stack
 * or a binary heap that grows up to its capacity, with direct hand-over to a waiting getter and from a waiting
 * putter, so an item is never lost to a cancellation: a getter that was handed one returns it even if cancelled
 * afterwards, and a cancelled putter's item was never enqueued. Also the count of unfinished items that
 * corio_queue_join waits on (asyncio's task_done / join). */
#include <stdlib.h>

#include "internal.h"

/* A priority queue's slot: the sequence number breaks ties between equal items, so they come out in the order
 * they were put (a heap alone is not stable). */
struct pq_ent {
    void *item;
    uint64_t seq;
};

struct corio_queue {
    union {
        void **buf;          /* FIFO: a ring from head; LIFO: a stack, newest at count - 1 */
        struct pq_ent *heap; /* PRIORITY: a binary min-heap */
    };
    size_t cap;  /* slots allocated */
    size_t head; /* FIFO: index of the oldest item */
    size_t count;
    size_t limit;      /* capacity promised to the user, 0 = unbounded */
    size_t unfinished; /* items put and not yet marked done (corio_queue_task_done) */
    uint64_t seq;      /* PRIORITY: puts so far */
    int kind;
    bool closed;
    int (*cmp)(const void *a, const void *b, void *arg);
    void *cmp_arg;
    corio__link getters; /* wait only while the queue is empty */
    corio__link putters; /* wait only while it is full; each holds its item in task->xfer */
    corio__link joiners; /* wait until unfinished is 0 */
    corio__link watchers; /* corio_select calls waiting for an item or room (corio__watch) */
};

corio_queue *corio_queue_new_opts(const corio_queue_opts *opts) {
    corio_queue_opts o = opts ? *opts : (corio_queue_opts){0};
    bool priority = o.kind == CORIO_QUEUE_PRIORITY;
    if ((o.kind != CORIO_QUEUE_FIFO && o.kind != CORIO_QUEUE_LIFO && !priority) || priority != (o.cmp != NULL) ||
        !CORIO__RESERVED_ZERO(&o)) {
        errno = EINVAL;
        return NULL;
    }
    corio_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->limit = o.capacity;
    q->kind = o.kind;
    q->cmp = o.cmp;
    q->cmp_arg = o.cmp_arg;
    corio__list_init(&q->getters);
    corio__list_init(&q->putters);
    corio__list_init(&q->joiners);
    corio__list_init(&q->watchers);
    return q;
}

corio_queue *corio_queue_new(size_t capacity) {
    return corio_queue_new_opts(&(corio_queue_opts){.capacity = capacity});
}

static bool full(const corio_queue *q) { return q->limit && q->count >= q->limit; }

/* Makes room for one more item: 0 or -ENOMEM. */
static int reserve(corio_queue *q) {
    if (q->count != q->cap) return 0;
    size_t cap = q->cap ? q->cap * 2 : 16;
    if (q->limit && cap > q->limit) cap = q->limit;
    if (q->kind == CORIO_QUEUE_PRIORITY) {
        struct pq_ent *heap = realloc(q->heap, cap * sizeof *heap);
        if (!heap) return -ENOMEM;
        q->heap = heap;
    } else {
        void **buf = malloc(cap * sizeof *buf);
        if (!buf) return -ENOMEM;
        for (size_t i = 0; i < q->count; i++) buf[i] = q->buf[(q->head + i) % q->cap];
        free(q->buf);
        q->buf = buf;
        q->head = 0;
    }
    q->cap = cap;
    return 0;
}

static bool before(const corio_queue *q, const struct pq_ent *a, const struct pq_ent *b) {
    int c = q->cmp(a->item, b->item, q->cmp_arg);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int push(corio_queue *q, void *item) {
    int rc = reserve(q);
    if (rc < 0) return rc;
    switch (q->kind) {
    case CORIO_QUEUE_FIFO:
        q->buf[(q->head + q->count) % q->cap] = item;
        break;
    case CORIO_QUEUE_LIFO:
        q->buf[q->count] = item;
        break;
    default: { /* sift up */
        struct pq_ent e = {item, q->seq++};
        size_t i = q->count;
        while (i > 0 && before(q, &e, &q->heap[(i - 1) / 2])) {
            q->heap[i] = q->heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        q->heap[i] = e;
    }
    }
    q->count++;
    return 0;
}

static void *pop(corio_queue *q) {
    void *item;
    q->count--;
    switch (q->kind) {
    case CORIO_QUEUE_FIFO:
        item = q->buf[q->head];
        q->head = (q->head + 1) % q->cap;
        break;
    case CORIO_QUEUE_LIFO:
        item = q->buf[q->count];
        break;
    default: { /* the last entry sifts down from the root */
        item = q->heap[0].item;
        struct pq_ent e = q->heap[q->count];
        size_t i = 0, n = q->count;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && before(q, &q->heap[c + 1], &q->heap[c])) c++;
            if (!before(q, &q->heap[c], &e)) break;
            q->heap[i] = q->heap[c];
            i = c;
        }
        if (n) q->heap[i] = e;
    }
    }
    return item;
}

/* Puts without waiting: 0, -EAGAIN when full, -EPIPE when closed, -ENOMEM. */
static int put_now(corio_queue *q, void *item) {
    if (q->closed) return -EPIPE;
    corio_task *getter = corio__first_waiter(&q->getters);
    if (getter) {
        getter->xfer = item;
        corio__wake_waiter(getter, 0);
    } else {
        if (full(q)) return -EAGAIN;
        int rc = push(q, item);
        if (rc < 0) return rc;
        corio__notify_if(&q->watchers); /* an item to get */
    }
    q->unfinished++;
    return 0;
}

/* Gets without waiting: 0, -EAGAIN when empty, -EPIPE when closed and drained. */
static int get_now(corio_queue *q, void **item) {
    if (q->count == 0) return q->closed ? -EPIPE : -EAGAIN;
    *item = pop(q);
    corio_task *putter = corio__first_waiter(&q->putters);
    if (putter) {              /* room for exactly one: the first waiting putter's item goes in and its put succeeds */
        push(q, putter->xfer); /* cannot fail: pop just freed a slot */
        q->unfinished++;
        corio__wake_waiter(putter, 0);
    } else {
        corio__notify_if(&q->watchers); /* room to put */
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

int corio_queue_task_done(corio_queue *q) {
    if (!q || q->unfinished == 0) return -EINVAL;
    if (--q->unfinished == 0) {
        corio_task *t;
        while ((t = corio__first_waiter(&q->joiners))) corio__wake_waiter(t, 0);
    }
    return 0;
}

int corio_queue_join(corio_queue *q) {
    if (!q) return -EINVAL;
    if (q->unfinished == 0) return 0;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    corio__wait_on(self, CORIO__WAIT_QUEUE_JOIN, q);
    return corio__park(l, &q->joiners, CORIO__INF, false);
}

void corio_queue_close(corio_queue *q) {
    if (!q) return;
    q->closed = true;
    corio_task *t;
    while ((t = corio__first_waiter(&q->getters))) corio__wake_waiter(t, -EPIPE);
    while ((t = corio__first_waiter(&q->putters))) corio__wake_waiter(t, -EPIPE);
    corio__notify_if(&q->watchers);
}

size_t corio_queue_size(const corio_queue *q) { return q ? q->count : 0; }

corio__link *corio__queue_watchers(corio_queue *q) { return &q->watchers; }

int corio_queue_free(corio_queue *q) {
    if (!q) return 0;
    if (!corio__list_empty(&q->getters) || !corio__list_empty(&q->putters) || !corio__list_empty(&q->joiners) ||
        !corio__list_empty(&q->watchers))
        return -EBUSY;
    free(q->buf);
    free(q);
    return 0;
}
