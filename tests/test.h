/* test.h - the minimal test harness: TEST() registers a case, the ASSERT_* macros print both sides on failure.
 * Each case runs in its own forked process with a timeout (a crash or hang is one failure, not the end of the
 * run); `./test_x NAME` runs one case in-process, which is what you want under gdb. */
#ifndef CORIO_TEST_H
#define CORIO_TEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn, int timeout_s);
/* Ends the running case as skipped, saying why (name the Debian package that would let it run): counted apart
 * from passed and failed. For a case that needs a program or package that is not installed. */
__attribute__((noreturn)) void test_skip(const char *why);
int64_t test_now_ms(void); /* fresh monotonic clock, for measuring elapsed time in tests */
/* 1 where each task costs far more and heavy cases must shrink: under valgrind or ThreadSanitizer, or with
 * CORIO_TEST_SMALL set (make test-aarch64 sets it for qemu). */
int test_small(void);
/* A bound on elapsed time in ms, ten times longer where test_small: valgrind runs one thread at a time, so a pool
 * thread's busy statement starves the loop (a 100 ms SQLite timeout once returned after 4.8 s). */
int64_t test_bound_ms(int64_t ms);
/* corio_spawn that fails the case on NULL. */
corio_task *test_spawn(corio_fn fn, void *arg);
/* A few rounds of corio_yield: every spawned task runs until it blocks, whatever the ready-queue order. */
void test_settle(void);
/* Descriptors open in this process (from /proc/self/fd, not counting the listing's own): leak checks compare it
 * before and after. */
int test_open_fds(void);
/* Runs fn(arg) in a forked child (killed by SIGALRM after alarm_s seconds; it exits 0 if fn returns) with its
 * stderr captured into err (NUL-terminated, cut at size - 1 bytes); returns the child's wait status. */
int test_run_child(void (*fn)(void *), void *arg, unsigned alarm_s, char *err, size_t size);
/* test_run_child of corio_run(fn, NULL) with CORIO_DEBUG set to debug (unset if NULL); the child exits 0 if
 * corio_run returned 0, else 5. */
int test_run_corio_child(corio_fn fn, const char *debug, unsigned alarm_s, char *err, size_t size);

#define TEST_TIMEOUT(name, secs)                                                                                       \
    static void test_##name(void);                                                                                     \
    __attribute__((constructor)) static void test_reg_##name(void) { test_register(#name, test_##name, secs); }        \
    static void test_##name(void)
#define TEST(name) TEST_TIMEOUT(name, 60)

#define TEST_FAIL_(...)                                                                                                \
    do {                                                                                                               \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                                \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fputc('\n', stderr);                                                                                           \
        abort();                                                                                                       \
    } while (0)

#define ASSERT_TRUE(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c)) TEST_FAIL_("assertion failed: %s", #c);                                                              \
    } while (0)

/* Integers, compared as int64_t; both values are printed on failure. */
#define ASSERT_INT_(a, op, b)                                                                                          \
    do {                                                                                                               \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                                                  \
        if (!(a_ op b_)) TEST_FAIL_("expected %s %s %s, got %lld vs %lld", #a, #op, #b, (long long)a_, (long long)b_); \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_INT_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_INT_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_INT_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_INT_(a, >=, b)

/* corio return codes: prints the error names, e.g. "got ETIMEDOUT, want ECANCELED". */
#define ASSERT_RC(got, want)                                                                                           \
    do {                                                                                                               \
        int g_ = (int)(got), w_ = (int)(want);                                                                         \
        if (g_ != w_)                                                                                                  \
            TEST_FAIL_("%s: got %d (%s), want %d (%s)", #got, g_, corio_err_name(g_), w_, corio_err_name(w_));         \
    } while (0)

#define ASSERT_PTR_EQ(a, b)                                                                                            \
    do {                                                                                                               \
        const void *a_ = (const void *)(a), *b_ = (const void *)(b);                                                   \
        if (a_ != b_) TEST_FAIL_("expected %s == %s, got %p vs %p", #a, #b, a_, b_);                                   \
    } while (0)
#define ASSERT_NULL(a) ASSERT_PTR_EQ(a, NULL)
#define ASSERT_NOT_NULL(a)                                                                                             \
    do {                                                                                                               \
        if ((a) == NULL) TEST_FAIL_("expected %s != NULL", #a);                                                        \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                                             \
    do {                                                                                                               \
        const char *a_ = (a), *b_ = (b);                                                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                                         \
            TEST_FAIL_("expected %s == %s, got \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");     \
    } while (0)

#endif
