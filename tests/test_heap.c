/* test_heap.c - the timer heap on its own (src/heap.c, an internal interface): timers leave in deadline order,
 * equal deadlines in arming order even where the 32-bit arming counter wraps, and removal from the middle keeps
 * every node's index right. */
#include <stdlib.h>

#include "internal.h"
#include "test.h"

/* Pops the minimum, checking that its index was 0 and is cleared on removal. */
static corio__timer *pop(corio__heap *h) {
    corio__timer *m = corio__heap_min(h);
    if (!m) return NULL;
    ASSERT_EQ(m->index, 0);
    corio__heap_remove(h, m);
    ASSERT_EQ(m->index, CORIO__NOT_ARMED);
    return m;
}

TEST(deadline_order_then_arming_order) {
    corio__heap h = {0};
    corio__timer t[200];
    for (int i = 0; i < 200; i++) {
        t[i].when = (i * 7919) % 50; /* many equal deadlines, armed out of order */
        ASSERT_EQ(corio__heap_push(&h, &t[i]), 0);
    }
    corio__timer *prev = NULL;
    for (int i = 0; i < 200; i++) {
        corio__timer *m = pop(&h);
        ASSERT_NOT_NULL(m);
        if (prev) {
            ASSERT_TRUE(prev->when <= m->when);
            if (prev->when == m->when) ASSERT_TRUE(prev < m); /* t[] was armed in index order */
        }
        prev = m;
    }
    ASSERT_TRUE(pop(&h) == NULL);
    corio__heap_free(&h);
}

TEST(equal_deadlines_keep_arming_order_across_the_counter_wrap) {
    corio__heap h = {0};
    h.seq = UINT32_MAX - 3; /* the next arms take 2^32 - 4 .. 2^32 - 1, then 0, 1, ... */
    corio__timer t[8];
    for (int i = 0; i < 8; i++) {
        t[i].when = 1000;
        ASSERT_EQ(corio__heap_push(&h, &t[i]), 0);
    }
    ASSERT_EQ(t[3].seq, UINT32_MAX);
    ASSERT_EQ(t[4].seq, 0);
    for (int i = 0; i < 8; i++) ASSERT_TRUE(pop(&h) == &t[i]);
    corio__heap_free(&h);
}

TEST(removal_from_the_middle) {
    corio__heap h = {0};
    enum { N = 1000 };
    corio__timer *t = calloc(N, sizeof *t);
    ASSERT_NOT_NULL(t);
    uint32_t x = 7; /* a fixed xorshift sequence: the same heap shapes every run */
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        t[i].when = x % 10000;
        ASSERT_EQ(corio__heap_push(&h, &t[i]), 0);
    }
    /* every node's index points back at it */
    for (size_t i = 0; i < h.n; i++) ASSERT_TRUE(h.v[h.v[i]->index] == h.v[i]);
    for (int i = 0; i < N; i += 3) corio__heap_remove(&h, &t[i]);
    for (size_t i = 0; i < h.n; i++) ASSERT_TRUE(h.v[h.v[i]->index] == h.v[i]);
    ASSERT_EQ(h.n, N - (N + 2) / 3);
    int64_t last = -1;
    size_t left = h.n;
    for (size_t i = 0; i < left; i++) {
        corio__timer *m = pop(&h);
        ASSERT_TRUE(m->when >= last);
        ASSERT_TRUE((m - t) % 3 != 0);
        last = m->when;
    }
    corio__heap_free(&h);
    free(t);
}
