/* test_uaf.c - tests of the stale-handle guard: with CORIO_DEBUG=1, freed task structs are quarantined rather than
 * reused, so a handle used after corio_await (or after a detached task ended) is reported on stderr by the task's
 * name and the call that used it, and the call returns -EINVAL without touching any other task. Without debug
 * mode the same calls still return -EINVAL (the struct sits in the free list) and print nothing. Each scenario
 * runs in a child process whose stderr is captured through a pipe. */
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define CHILD_CHECK(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #c);                                      \
            _exit(3);                                                                                                  \
        }                                                                                                              \
    } while (0)

struct child {
    int status;
    char err[32768];
};

/* Runs corio_run(fn, NULL) in a child with CORIO_DEBUG=debug (unset if NULL); its stderr lands in c->err. */
static void run_child(corio_fn fn, const char *debug, struct child *c) {
    c->status = test_run_corio_child(fn, debug, 50, c->err, sizeof c->err);
    if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)
        TEST_FAIL_("child ended with status 0x%x; its stderr:\n%s", c->status, c->err);
}

static void expect_in(const struct child *c, const char *needle) {
    if (!strstr(c->err, needle)) TEST_FAIL_("\"%s\" not in the child's stderr:\n%s", needle, c->err);
}

static size_t count_in(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

static corio_task *spawn_named(corio_fn fn, void *arg, const char *name) {
    corio_task_opts opts = {.name = name};
    corio_task *t = corio_spawn_opts(fn, arg, &opts);
    CHILD_CHECK(t != NULL);
    return t;
}

/* ---- scenarios ---------------------------------------------------------------------------------------------- */

static int quick(void *arg) {
    (void)arg;
    return 7;
}

static int sleeper(void *arg) {
    int *rc = arg;
    *rc = corio_sleep(50);
    return 0;
}

/* Every call taking a handle, on a handle freed by corio_await. */
static int stale_after_await_main(void *arg) {
    (void)arg;
    corio_task *t = spawn_named(quick, NULL, "worker-3");
    CHILD_CHECK(corio_await(t) == 7);
    CHILD_CHECK(corio_await(t) == -EINVAL);
    CHILD_CHECK(corio_wait_for(t, 10) == -EINVAL);
    CHILD_CHECK(corio_cancel(t) == -EINVAL);
    corio_detach(t);
    CHILD_CHECK(corio_gather(&t, 1, NULL) == -EINVAL);
    int st = 0;
    CHILD_CHECK(corio_gather(&t, 1, &st) == -EINVAL);
    CHILD_CHECK(corio_task_done(t) == -EINVAL);
    CHILD_CHECK(corio_task_name(t) == NULL);
    CHILD_CHECK(corio_task_set_name(t, "x") == -EINVAL);
    return 0;
}

/* A detached task frees itself when it ends; its handle is stale from then on. Unnamed tasks are reported too. */
static int stale_after_detach_main(void *arg) {
    (void)arg;
    corio_task *named = spawn_named(quick, NULL, "detached-7");
    corio_task *unnamed = corio_spawn(quick, NULL);
    CHILD_CHECK(unnamed != NULL);
    corio_detach(named);
    corio_detach(unnamed);
    CHILD_CHECK(corio_sleep(5) == 0);
    CHILD_CHECK(corio_cancel(named) == -EINVAL);
    CHILD_CHECK(corio_cancel(unnamed) == -EINVAL);
    return 0;
}

/* The danger the quarantine removes: without it the next spawn reuses the freed struct, and the stale handle
 * would cancel (or await) the new task. Here the new tasks must run undisturbed. */
static int stale_then_spawn_main(void *arg) {
    (void)arg;
    corio_task *old = spawn_named(quick, NULL, "old-task");
    CHILD_CHECK(corio_await(old) == 7);
    int rcs[8];
    corio_task *fresh[8];
    for (int i = 0; i < 8; i++) fresh[i] = spawn_named(sleeper, &rcs[i], "fresh");
    for (int i = 0; i < 8; i++) CHILD_CHECK(fresh[i] != old);
    CHILD_CHECK(corio_cancel(old) == -EINVAL);
    for (int i = 0; i < 8; i++) {
        CHILD_CHECK(corio_await(fresh[i]) == 0);
        CHILD_CHECK(rcs[i] == 0);
    }
    return 0;
}

/* A gather that lists a stale handle among live ones touches none of them (as for any invalid handle). */
static int stale_in_gather_main(void *arg) {
    (void)arg;
    corio_task *old = spawn_named(quick, NULL, "gathered-old");
    CHILD_CHECK(corio_await(old) == 7);
    corio_task *ts[3] = {spawn_named(quick, NULL, "a"), old, spawn_named(quick, NULL, "b")};
    CHILD_CHECK(corio_gather(ts, 3, NULL) == -EINVAL);
    CHILD_CHECK(corio_await(ts[0]) == 7);
    CHILD_CHECK(corio_await(ts[2]) == 7);
    return 0;
}

/* Far more frees than the quarantine holds: the oldest structs go back to malloc, and nothing leaks. */
static int churn_main(void *arg) {
    (void)arg;
    int n = test_small() ? 6000 : 20000;
    for (int i = 0; i < n; i++) CHILD_CHECK(corio_await(corio_spawn(quick, NULL)) == 7);
    corio_task *last = spawn_named(quick, NULL, "last-of-churn");
    CHILD_CHECK(corio_await(last) == 7);
    CHILD_CHECK(corio_cancel(last) == -EINVAL);
    corio_stats st;
    CHILD_CHECK(corio_stats_get(&st) == 0);
    CHILD_CHECK(st.tasks == 1);
    return 0;
}

/* ---- cases -------------------------------------------------------------------------------------------------- */

TEST(uaf_every_call_on_awaited_handle_is_reported_by_name) {
    struct child c;
    run_child(stale_after_await_main, "1", &c);
    const char *calls[] = {"corio_await",  "corio_wait_for",  "corio_cancel",        "corio_detach",
                           "corio_gather", "corio_task_done", "corio_task_set_name", "corio_task_name"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "corio: task \"worker-3\" used after it was freed (%s)\n", calls[i]);
        expect_in(&c, want);
    }
    /* both gathers are reported */
    ASSERT_EQ(count_in(c.err, "(corio_gather)"), 2);
}

TEST(uaf_detached_task_handle_after_it_ended) {
    struct child c;
    run_child(stale_after_detach_main, "1", &c);
    expect_in(&c, "corio: task \"detached-7\" used after it was freed (corio_cancel)");
    expect_in(&c, "corio: task \"(unnamed)\" used after it was freed (corio_cancel)");
}

TEST(uaf_stale_handle_does_not_touch_a_new_task) {
    struct child c;
    run_child(stale_then_spawn_main, "1", &c);
    expect_in(&c, "corio: task \"old-task\" used after it was freed (corio_cancel)");
}

TEST(uaf_stale_handle_in_gather_touches_no_task) {
    struct child c;
    run_child(stale_in_gather_main, "1", &c);
    expect_in(&c, "corio: task \"gathered-old\" used after it was freed (corio_gather)");
}

TEST(uaf_quarantine_is_bounded_and_freed) {
    struct child c;
    run_child(churn_main, "1", &c);
    expect_in(&c, "corio: task \"last-of-churn\" used after it was freed (corio_cancel)");
    ASSERT_EQ(count_in(c.err, "used after it was freed"), 1);
}

/* Without debug mode a freed struct waits in the free list with its dead magic: -EINVAL, and silence. */
TEST(uaf_without_debug_returns_einval_quietly) {
    struct child c;
    run_child(stale_after_await_main, NULL, &c);
    if (c.err[0]) TEST_FAIL_("unexpected stderr without CORIO_DEBUG:\n%s", c.err);
    run_child(stale_after_detach_main, "0", &c);
    if (c.err[0]) TEST_FAIL_("unexpected stderr with CORIO_DEBUG=0:\n%s", c.err);
}

/* Task structs stay with the loop (type-stable memory): a stale handle to one of thousands of freed tasks is checked
 * without reading freed memory (under SANITIZE=1, AddressSanitizer watches every read). Before, the structs beyond
 * the first 1,024 freed went back to malloc, and checking such a handle was a heap-use-after-free. */
static int ends_at_once(void *arg) {
    (void)arg;
    return 0;
}
static int main_many_stale(void *arg) {
    (void)arg;
    static corio_task *t[3000];
    int n = test_small() ? 1500 : 3000; /* beyond the 1,024 structs the free list used to keep, either way */
    for (int i = 0; i < n; i++) t[i] = test_spawn(ends_at_once, NULL);
    ASSERT_RC(corio_gather(t, (size_t)n, NULL), 0);
    for (int i = 0; i < n; i++) {
        ASSERT_RC(corio_await(t[i]), -EINVAL);
        ASSERT_RC(corio_cancel(t[i]), -EINVAL);
        ASSERT_RC(corio_task_done(t[i]), -EINVAL);
        ASSERT_TRUE(corio_task_name(t[i]) == NULL);
        corio_detach(t[i]);
    }
    ASSERT_RC(corio_gather(t, 2, NULL), -EINVAL);
    return 0;
}
TEST(uaf_stale_handles_beyond_the_free_list_read_no_freed_memory) { ASSERT_RC(corio_run(main_many_stale, NULL), 0); }

/* After a drop from a peak of tasks (a server's connections closing), corio__task_trim gives the pages of wholly
 * free task chunks back: stale handles into them still return -EINVAL (they read zeros, never freed memory), and
 * the chunks serve the next tasks, compact and not. */
#include "internal.h"
static int main_trim(void *arg) {
    (void)arg;
    static corio_task *t[3000];
    int n = test_small() ? 1500 : 3000;
    corio_task_opts compact = {.compact = 1};
    for (int i = 0; i < n; i++)
        t[i] = i % 2 ? corio_spawn_opts(ends_at_once, NULL, &compact) : test_spawn(ends_at_once, NULL);
    for (int i = 0; i < n; i++) ASSERT_NOT_NULL(t[i]);
    ASSERT_RC(corio_gather(t, (size_t)n, NULL), 0);
    corio__loop *l = corio__cur;
    size_t free_before = l->nfree_tasks + l->nfree_compact;
    corio__task_trim(l);
    ASSERT_NOT_NULL(l->task_spare); /* some chunks were wholly free */
    ASSERT_LT(l->nfree_tasks + l->nfree_compact, free_before);
    for (int i = 0; i < n; i++) {
        ASSERT_RC(corio_await(t[i]), -EINVAL);
        ASSERT_RC(corio_cancel(t[i]), -EINVAL);
    }
    for (int i = 0; i < n; i++)
        t[i] = i % 2 ? corio_spawn_opts(ends_at_once, NULL, &compact) : test_spawn(ends_at_once, NULL);
    for (int i = 0; i < n; i++) ASSERT_NOT_NULL(t[i]);
    ASSERT_RC(corio_gather(t, (size_t)n, NULL), 0);
    ASSERT_NULL(l->task_spare); /* taken again before any new chunk */
    corio__task_trim(l);
    return 0;
}
TEST(trimmed_task_chunks_keep_stale_handles_safe) { ASSERT_RC(corio_run(main_trim, NULL), 0); }
