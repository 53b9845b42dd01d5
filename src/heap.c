/* heap.c - the timer queue: a 4-ary min-heap of intrusive nodes ordered by (deadline, arming order).
 * Four children per node halve the depth of a binary heap and keep siblings in one cache line, which is what
 * pays with a million pending sleeps (bench_tasks); each node stores its index, so cancelling a sleep is
 * O(log n) without a search. */
#include <stdlib.h>

#include "internal.h"

static inline bool before(const corio__timer *a, const corio__timer *b) {
    return a->when < b->when || (a->when == b->when && (int32_t)(a->seq - b->seq) < 0);
}

static inline void place(corio__heap *h, size_t i, corio__timer *t) {
    h->v[i] = t;
    t->index = (uint32_t)i;
}

static void sift_up(corio__heap *h, size_t i, corio__timer *t) {
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (!before(t, h->v[parent])) break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(corio__heap *h, size_t i, corio__timer *t) {
    for (;;) {
        size_t first = 4 * i + 1;
        if (first >= h->n) break;
        size_t last = first + 4 < h->n ? first + 4 : h->n;
        size_t best = first;
        for (size_t c = first + 1; c < last; c++)
            if (before(h->v[c], h->v[best])) best = c;
        if (!before(h->v[best], t)) break;
        place(h, i, h->v[best]);
        i = best;
    }
    place(h, i, t);
}

#define SLOT sizeof(corio__timer *) /* the array holds pointers */

static int grow(corio__heap *h) {
    if (h->cap >= CORIO__HEAP_MAX) return -ENOMEM;
    size_t cap = h->cap ? h->cap * 2 : 64;
    if (cap > CORIO__HEAP_MAX) cap = CORIO__HEAP_MAX;
    corio__timer **v = realloc(h->v, cap * SLOT);
    if (!v) return -ENOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

int corio__heap_push(corio__heap *h, corio__timer *t) {
    if (h->n == h->cap && grow(h) < 0) return -ENOMEM;
    t->seq = h->seq++;
    h->n++;
    sift_up(h, h->n - 1, t);
    return 0;
}

void corio__heap_remove(corio__heap *h, corio__timer *t) {
    size_t i = t->index;
    t->index = CORIO__NOT_ARMED;
    corio__timer *last = h->v[--h->n];
    if (i == h->n) return;
    if (i > 0 && before(last, h->v[(i - 1) / 4]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

void corio__heap_free(corio__heap *h) {
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
