/* test_stack.c - tests of task stacks: an overflow ends the process with a message naming the task and its stack
 * size (never silent corruption), even from one frame larger than the guard, tasks may use most of their stack,
 * tens of thousands of stacks coexist past the guard-page budget, and stacks are reused. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define KIB 1024

/* ---- running a child and capturing its stderr --------------------------------------------------------------- */

/* Inside the child an ASSERT would abort, which is exactly what the overflow tests expect to see; so the child
 * reports its own failures with a distinct exit status instead. */
#define CHILD_CHECK(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #c);                                      \
            _exit(3);                                                                                                  \
        }                                                                                                              \
    } while (0)

struct child {
    int status;
    char err[16384];
};

static void run_child(void (*fn)(void *), void *arg, struct child *c) {
    c->status = test_run_child(fn, arg, 30, c->err, sizeof c->err);
}

/* ---- overflow ----------------------------------------------------------------------------------------------- */

static volatile int never;      /* stays 0; keeps the recursion from being provably endless */
static volatile int *max_depth; /* shared with the parent, so it survives the child's death */

/* Each frame holds a 1 KiB array touched at both ends, so the recursion walks down the stack at least 1 KiB at a
 * time and cannot step over a 4 KiB guard page. */
static int recurse(int depth) {
    volatile char buf[KIB];
    buf[0] = (char)depth;
    buf[sizeof buf - 1] = (char)depth;
    /* the array's address escapes: without that clang 14 keeps just the two bytes touched, a 48-byte frame */
    __asm__ volatile("" : : "r"(buf) : "memory");
    if (max_depth) *max_depth = depth;
    if (never) return buf[0];
    return recurse(depth + 1) + buf[sizeof buf - 1];
}

static int overflow_task(void *arg) {
    (void)arg;
    return recurse(1);
}

struct overflow {
    const char *name;
    size_t opts_stack;    /* for corio_spawn_opts; 0 = the loop's default */
    size_t global_stack;  /* for corio_set_stack_size; 0 = leave the default */
    int name_after_spawn; /* name the task with corio_task_set_name instead of the options */
    int unguarded;        /* first use up the guard-page budget, so the task gets a stack without a guard */
    int crowd;            /* first start this many sleeping tasks (the mprotect budget is ~15,000 stacks) */
};

static int sleeper(void *arg) {
    (void)arg;
    corio_sleep(1000000);
    return 0;
}

/* Starts sleeping tasks until the last 100 stacks handed out have no guard page. */
static void exhaust_guard_budget(void) {
    for (int n = 0; n < 100000; n += 256) {
        for (int i = 0; i < 256; i++) CHILD_CHECK(corio_spawn(sleeper, NULL) != NULL);
        CHILD_CHECK(corio_yield() == 0);
        corio_stats st;
        CHILD_CHECK(corio_stats_get(&st) == 0);
        if (st.stacks_in_use > st.stacks_guarded + 100) return;
    }
    CHILD_CHECK(!"every stack got a guard page: no budget to exhaust");
}

static int overflow_main(void *arg) {
    struct overflow *o = arg;
    if (o->unguarded) exhaust_guard_budget();
    if (o->crowd) {
        for (int i = 0; i < o->crowd; i++) CHILD_CHECK(corio_spawn(sleeper, NULL) != NULL);
        CHILD_CHECK(corio_yield() == 0);
        corio_stats st;
        CHILD_CHECK(corio_stats_get(&st) == 0);
        /* guard markers (Linux 6.13) guard every stack; with mprotect'd guards the crowd used up the budget */
        max_depth[1] = st.stacks_guarded == st.stacks_in_use + st.stacks_cached;
    }
    corio_task_opts opts = {.name = o->name_after_spawn ? NULL : o->name, .stack_size = o->opts_stack};
    corio_task *t = corio_spawn_opts(overflow_task, NULL, &opts);
    CHILD_CHECK(t != NULL);
    if (o->name_after_spawn) CHILD_CHECK(corio_task_set_name(t, o->name) == 0);
    corio_await(t);
    return 0;
}

static void overflow_child(void *arg) {
    struct overflow *o = arg;
    /* a small guard budget (the child's own), so exhausting it is quick, even under valgrind */
    if (o->unguarded) CHILD_CHECK(setenv("CORIO_GUARD_STACKS", "64", 1) == 0);
    if (o->global_stack) CHILD_CHECK(corio_set_stack_size(o->global_stack) == 0);
    corio_run(overflow_main, o);
    fprintf(stderr, "child survived the overflow\n");
    _exit(4);
}

static void overflow_case(struct overflow *o, size_t kib) {
    /* shared with the child: [0] the depth reached, [1] whether every stack had a guard page (o->crowd) */
    max_depth = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(max_depth != MAP_FAILED);
    max_depth[0] = max_depth[1] = 0;
    struct child c;
    run_child(overflow_child, o, &c);
    int unguarded = o->unguarded || (o->crowd && !max_depth[1]);
    int check_depth = !unguarded; /* without a guard page the overflow cannot be caught at its first byte */
    if (o->crowd && max_depth[1] && strstr(c.err, "no guard page"))
        TEST_FAIL_("every stack had a guard page, yet the report says otherwise:\n%s", c.err);
    char want[128];
    snprintf(want, sizeof want, "corio: task \"%s\" overflowed its %zu KiB stack", o->name, kib);
#if defined(__SANITIZE_ADDRESS__)
    /* Running through the neighbours' stacks, the task meets their poisoned redzones first: AddressSanitizer
     * stops it with its own report, which is just as loud. */
    if (unguarded && strstr(c.err, "ERROR: AddressSanitizer") && !(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0)) {
        munmap((void *)max_depth, 4096);
        return;
    }
#endif
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT || !strstr(c.err, want))
        TEST_FAIL_("child %s %d after %d KiB of recursion, wanted SIGABRT and \"%s\"; its stderr:\n%s",
                   WIFSIGNALED(c.status) ? "killed by signal" : "exited with status",
                   WIFSIGNALED(c.status) ? WTERMSIG(c.status) : WEXITSTATUS(c.status), *max_depth, want, c.err);
    /* Every frame is over 1 KiB, so the depth reached bounds the stack actually used: it must have had most of
     * its stack, and cannot have run past it. */
    int depth = *max_depth;
    ASSERT_GE(depth, (int)kib / 2);
    if (check_depth) ASSERT_LE(depth, (int)kib);
    munmap((void *)max_depth, 4096);
}

TEST(stack_overflow_default_64k_aborts_with_name) {
    struct overflow o = {.name = "deep"};
    overflow_case(&o, 64);
}

TEST(stack_overflow_128k_from_spawn_opts) {
    struct overflow o = {.name = "deeper", .opts_stack = 128 * KIB};
    overflow_case(&o, 128);
}

TEST(stack_overflow_32k_from_set_stack_size) {
    struct overflow o = {.name = "small-stack", .global_stack = 32 * KIB, .name_after_spawn = 1};
    overflow_case(&o, 32);
}

/* Beyond the guard-page budget stacks come without a guard page; an overflow there still must not go unnoticed. */
TEST(stack_overflow_unguarded_stack_still_reported) {
    struct overflow o = {.name = "unguarded", .unguarded = 1};
    overflow_case(&o, 64);
}

/* Where the kernel has guard markers, the stacks past the mprotect budget get a guard page too, and an overflow on
 * one is caught at its first byte. */
TEST(stack_overflow_past_16000_tasks_hits_a_guard) {
    struct overflow o = {.name = "crowded", .crowd = test_small() ? 1000 : 16000};
    overflow_case(&o, 64);
}

/* ---- frames larger than the guard region --------------------------------------------------------------------- */

/* One frame larger than the stack left to it: a function with a big local array that writes only the array's
 * lowest bytes, as code that declares a large buffer and fills its start does. Its neighbour, spawned just before
 * it (so its stack lies just below), paints an array of its own with canary words, yields to let the big frame
 * run, and counts the words that changed. Built with -fstack-clash-protection (as the Makefile builds the tests,
 * and as pkg-config and the CMake target build user code), the frame's allocation touches every page on its way
 * down, so the first touch below the stack is in the guard region and corio names the task; without it nothing
 * touches the pages in between, and a frame larger than the guard region writes into the neighbour silently. */

enum { CLASH_PAINTED, CLASH_OVERWRITTEN, CLASH_WROTE, CLASH_CANARY_LO, CLASH_CANARY_HI, CLASH_LANDS, CLASH_SLOTS };
static volatile uintptr_t *clash; /* shared with the parent, so it survives the child's death */

#define CANARY(i) (UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(i))

static void paint_and_check(volatile uint64_t *w, size_t n) {
    for (size_t i = 0; i < n; i++) w[i] = CANARY(i);
    clash[CLASH_CANARY_LO] = (uintptr_t)w;
    clash[CLASH_CANARY_HI] = (uintptr_t)(w + n);
    clash[CLASH_PAINTED] = n;
    CHILD_CHECK(corio_yield() == 0); /* the big frame runs now */
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += w[i] != CANARY(i);
    clash[CLASH_OVERWRITTEN] = bad;
}

static int canaries_48k(void *arg) {
    (void)arg;
    volatile uint64_t w[48 * KIB / 8];
    paint_and_check(w, sizeof w / sizeof w[0]);
    return 0;
}

static int canaries_512k(void *arg) {
    (void)arg;
    volatile uint64_t w[512 * KIB / 8];
    paint_and_check(w, sizeof w / sizeof w[0]);
    return 0;
}

/* noinline: each array is a frame of its own, below the task function's */
static __attribute__((noinline)) int frame_70k(void) {
    volatile char buf[70 * KIB];
    for (size_t i = 0; i < 256; i++) buf[i] = 0x5a;
    clash[CLASH_WROTE] = 1;
    return buf[0];
}

static __attribute__((noinline)) int frame_1m(void) {
    volatile char buf[1024 * KIB];
    for (size_t i = 0; i < 256; i++) buf[i] = 0x5a;
    clash[CLASH_WROTE] = 1;
    return buf[0];
}

struct big {
    const char *name;
    size_t stack;        /* both tasks' corio_task_opts.stack_size; 0 = the default 64 KiB */
    size_t frame;        /* bytes of fn's array */
    int (*fn)(void);     /* the big frame */
    corio_fn neighbour;  /* paints the canaries */
    int lands_in_canary; /* the geometry puts the frame's lowest bytes on the neighbour's canaries */
};

static int big_task(void *arg) {
    const struct big *b = arg;
    /* where the array's lowest bytes will be: checked against the canaries, so the case cannot pass by missing */
    uintptr_t lands = (uintptr_t)__builtin_frame_address(0) - b->frame;
    clash[CLASH_LANDS] = lands >= clash[CLASH_CANARY_LO] && lands < clash[CLASH_CANARY_HI];
    return b->fn() == 0x5a ? 0 : -EIO;
}

static int big_main(void *arg) {
    const struct big *b = arg;
    corio_task_opts nopts = {.name = "neighbour", .stack_size = b->stack};
    corio_task_opts opts = {.name = b->name, .stack_size = b->stack};
    corio_task *n = corio_spawn_opts(b->neighbour, NULL, &nopts); /* first: the lower of two fresh stacks */
    corio_task *t = corio_spawn_opts(big_task, (void *)b, &opts);
    CHILD_CHECK(n != NULL && t != NULL);
    CHILD_CHECK(corio_await(t) == 0);
    CHILD_CHECK(corio_await(n) == 0);
    return 0;
}

static void big_child(void *arg) {
    corio_run(big_main, arg);
    fprintf(stderr, "child survived the big frame\n");
    _exit(4);
}

static void big_frame_case(const struct big *b, size_t canary_words) {
    clash = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(clash != MAP_FAILED);
    for (int i = 0; i < CLASH_SLOTS; i++) clash[i] = 0;
    struct child c;
    run_child(big_child, (void *)b, &c);
    char want[128];
    snprintf(want, sizeof want, "corio: task \"%s\" overflowed its %zu KiB stack", b->name,
             b->stack ? b->stack / KIB : 64);
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT || !strstr(c.err, want) || clash[CLASH_WROTE] ||
        clash[CLASH_OVERWRITTEN])
        TEST_FAIL_("child %s %d, wanted SIGABRT and \"%s\"; the frame %s its bytes, the neighbour found %zu of %zu "
                   "canary words overwritten; its stderr:\n%s",
                   WIFSIGNALED(c.status) ? "killed by signal" : "exited with status",
                   WIFSIGNALED(c.status) ? WTERMSIG(c.status) : WEXITSTATUS(c.status), want,
                   clash[CLASH_WROTE] ? "wrote" : "never wrote", (size_t)clash[CLASH_OVERWRITTEN],
                   (size_t)clash[CLASH_PAINTED], c.err);
    ASSERT_EQ(clash[CLASH_PAINTED], canary_words); /* the neighbour ran first, as the case needs */
    if (b->lands_in_canary) ASSERT_EQ(clash[CLASH_LANDS], 1);
    munmap((void *)clash, 4096);
}

/* 70 KiB on a 64 KiB stack: 6 KiB past its bottom, over a 4 KiB guard page into the neighbour's top. */
TEST(stack_frame_70k_hits_the_guard_not_the_neighbour) {
    struct big b = {.name = "frame-70k", .frame = 70 * KIB, .fn = frame_70k, .neighbour = canaries_48k};
    big_frame_case(&b, 48 * KIB / 8);
}

/* 1 MiB on a 640 KiB stack: 384 KiB past its bottom, far beyond any guard region, in the middle of the
 * neighbour's stack, where its canaries are. */
TEST(stack_frame_1m_hits_the_guard_not_the_neighbour) {
    struct big b = {.name = "frame-1m",
                    .stack = 640 * KIB,
                    .frame = 1024 * KIB,
                    .fn = frame_1m,
                    .neighbour = canaries_512k,
                    .lands_in_canary = 1};
    big_frame_case(&b, 512 * KIB / 8);
}

/* ---- using the stack ---------------------------------------------------------------------------------------- */

static int use_40k(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    volatile unsigned char buf[40 * KIB];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 31 + seed);
    /* Other tasks fill their stacks meanwhile; ours must come back intact. */
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_sleep(1), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != (unsigned char)(i * 31 + seed)) TEST_FAIL_("task %u: byte %zu changed", seed, i);
    return 0;
}

static int use_40k_main(void *arg) {
    (void)arg;
    corio_task *t[4];
    for (uintptr_t i = 0; i < 4; i++) t[i] = test_spawn(use_40k, (void *)i);
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_await(t[i]), 0);
    return 0;
}

TEST(stack_task_uses_40k_of_64k) { ASSERT_RC(corio_run(use_40k_main, NULL), 0); }

/* Recursion of 1 KiB frames to a fixed depth, suspending at the bottom; returns a checksum of every frame. */
static long recurse_to(int depth, int seed) {
    volatile char buf[KIB];
    for (size_t i = 0; i < sizeof buf; i += 128) buf[i] = (char)(depth + seed + (int)i);
    long below = 0;
    if (depth > 1)
        below = recurse_to(depth - 1, seed);
    else
        ASSERT_RC(corio_yield(), 0);
    long sum = below;
    for (size_t i = 0; i < sizeof buf; i += 128) sum += buf[i];
    return sum;
}

static long recurse_expect(int depth, int seed) {
    long sum = 0;
    for (int d = depth; d >= 1; d--)
        for (size_t i = 0; i < KIB; i += 128) sum += (char)(d + seed + (int)i);
    return sum;
}

#define DEEP_TASKS 16
#define DEEP_DEPTH 32

static long deep_results[DEEP_TASKS];

static int deep_task(void *arg) {
    int seed = (int)(uintptr_t)arg;
    deep_results[seed] = recurse_to(DEEP_DEPTH, seed);
    return 0;
}

static int deep_main(void *arg) {
    (void)arg;
    corio_task *t[DEEP_TASKS];
    for (uintptr_t i = 0; i < DEEP_TASKS; i++) t[i] = test_spawn(deep_task, (void *)i);
    for (int i = 0; i < DEEP_TASKS; i++) ASSERT_RC(corio_await(t[i]), 0);
    for (int i = 0; i < DEEP_TASKS; i++) ASSERT_EQ(deep_results[i], recurse_expect(DEEP_DEPTH, i));
    return 0;
}

TEST(stack_deep_recursion_within_limits) { ASSERT_RC(corio_run(deep_main, NULL), 0); }

/* ---- many stacks and reuse ---------------------------------------------------------------------------------- */

#define MANY_FULL 50000
#define MANY_SMALL 3000 /* under valgrind or qemu, with a guard budget of 1000 (set below) */

static uint32_t *many_results;
static uint32_t MANY;

static int many_task(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    volatile uint32_t buf[768]; /* 3 KiB */
    for (uint32_t i = 0; i < 768; i++) buf[i] = id * 2654435761U + i;
    ASSERT_RC(corio_yield(), 0); /* all MANY tasks are alive at this point */
    uint32_t sum = 0;
    for (uint32_t i = 0; i < 768; i++) {
        if (buf[i] != id * 2654435761U + i) TEST_FAIL_("task %u: word %u changed", id, i);
        sum += buf[i];
    }
    many_results[id] = sum;
    return 0;
}

static int many_main(void *arg) {
    (void)arg;
    corio_task **t = calloc(MANY, sizeof *t);
    many_results = calloc(MANY, sizeof *many_results);
    ASSERT_NOT_NULL(t);
    ASSERT_NOT_NULL(many_results);
    for (uintptr_t i = 0; i < MANY; i++) t[i] = test_spawn(many_task, (void *)i);
    ASSERT_RC(corio_yield(), 0);
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_GE(st.tasks, MANY);
    ASSERT_GE(st.stacks_in_use, MANY);
    ASSERT_LE(st.stacks_guarded, st.stacks_in_use + st.stacks_cached);
    ASSERT_GT(st.stacks_guarded, 0);
    for (uint32_t i = 0; i < MANY; i++) ASSERT_RC(corio_await(t[i]), 0);
    for (uint32_t id = 0; id < MANY; id++) {
        uint32_t sum = 0;
        for (uint32_t i = 0; i < 768; i++) sum += id * 2654435761U + i;
        ASSERT_EQ(many_results[id], sum);
    }
    free(t);
    free(many_results);
    return 0;
}

TEST_TIMEOUT(stack_50000_live_tasks_beyond_guard_budget, 180) {
    MANY = MANY_FULL;
    if (test_small()) {
        MANY = MANY_SMALL;
        ASSERT_EQ(setenv("CORIO_GUARD_STACKS", "1000", 1), 0);
    }
    ASSERT_RC(corio_run(many_main, NULL), 0);
}

static int small_task(void *arg) {
    volatile char buf[2 * KIB];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(uintptr_t)arg;
    return buf[100] == (char)(uintptr_t)arg ? 0 : -EIO;
}

static int reuse_main(void *arg) {
    (void)arg;
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.stack_size, 64 * KIB);
    size_t mapped = 0; /* stacks in the loop's slabs once the first task ran: later tasks must map no more */
    for (uintptr_t i = 0; i < 1000; i++) {
        ASSERT_RC(corio_await(test_spawn(small_task, (void *)i)), 0);
        ASSERT_RC(corio_stats_get(&st), 0);
        if (i == 0) mapped = st.stacks_in_use + st.stacks_cached;
        ASSERT_GT(mapped, 0);
        ASSERT_LE(mapped, 256);
        ASSERT_EQ(st.stacks_in_use + st.stacks_cached, mapped);
    }
    return 0;
}

TEST(stack_reused_across_sequential_tasks) { ASSERT_RC(corio_run(reuse_main, NULL), 0); }

/* ---- stack size settings ------------------------------------------------------------------------------------ */

static int size_main(void *arg) {
    size_t want = *(size_t *)arg;
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.stack_size, want);
    ASSERT_RC(corio_set_stack_size(256 * KIB), -EBUSY);
    errno = 0;
    corio_task_opts opts = {.stack_size = 4 * KIB};
    ASSERT_NULL(corio_spawn_opts(small_task, NULL, &opts));
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    opts.stack_size = (size_t)2 << 30;
    ASSERT_NULL(corio_spawn_opts(small_task, NULL, &opts));
    ASSERT_EQ(errno, EINVAL);
    opts.stack_size = 20000; /* rounded up to whole pages */
    ASSERT_RC(corio_await(corio_spawn_opts(small_task, NULL, &opts)), 0);
    ASSERT_RC(corio_await(corio_spawn_opts(small_task, NULL, NULL)), 0);
    return 0;
}

TEST(stack_size_settings) {
    ASSERT_RC(corio_set_stack_size(0), -EINVAL);
    ASSERT_RC(corio_set_stack_size(8 * KIB), -EINVAL);
    ASSERT_RC(corio_set_stack_size((size_t)2 << 30), -EINVAL);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ASSERT_RC(corio_set_stack_size(100000), 0);
    size_t want = (100000 + page - 1) / page * page;
    ASSERT_RC(corio_run(size_main, &want), 0);
    ASSERT_RC(corio_set_stack_size(16 * KIB), 0);
    want = 16 * KIB;
    ASSERT_RC(corio_run(size_main, &want), 0);
}
