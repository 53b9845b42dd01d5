/* test_debug.c - tests of CORIO_DEBUG=1: tasks never awaited nor detached, and tasks that run over 100 ms without
 * suspending, are reported by name on stderr; without CORIO_DEBUG nothing is printed. Each scenario runs in a
 * child process whose stderr is captured through a pipe. */
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
    char err[16384];
};

/* Runs corio_run(fn, NULL) in a child with CORIO_DEBUG set to debug (or unset if NULL), capturing stderr. */
static void run_child(corio_fn fn, const char *debug, struct child *c) {
    c->status = test_run_corio_child(fn, debug, 30, c->err, sizeof c->err);
    if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)
        TEST_FAIL_("child ended with status 0x%x; its stderr:\n%s", c->status, c->err);
}

static void expect_in(const struct child *c, const char *needle) {
    if (!strstr(c->err, needle)) TEST_FAIL_("\"%s\" not in the child's stderr:\n%s", needle, c->err);
}

static corio_task *spawn_named(corio_fn fn, const char *name) {
    corio_task_opts opts = {.name = name};
    corio_task *t = corio_spawn_opts(fn, NULL, &opts);
    CHILD_CHECK(t != NULL);
    return t;
}

/* ---- scenarios ---------------------------------------------------------------------------------------------- */

static int quick(void *arg) {
    (void)arg;
    return 0;
}

static int sleepy(void *arg) {
    (void)arg;
    corio_sleep(10000); /* cancelled when the main task returns */
    return 0;
}

/* One forgotten task ends on its own, one is still sleeping when main returns; neither is awaited. */
static int forgotten_main(void *arg) {
    (void)arg;
    spawn_named(quick, "forgotten-quick");
    spawn_named(sleepy, "forgotten-sleepy");
    corio_detach(spawn_named(quick, "detached-quick"));
    CHILD_CHECK(corio_await(spawn_named(quick, "awaited-quick")) == 0);
    CHILD_CHECK(corio_sleep(5) == 0);
    return 0;
}

static int hog(void *arg) {
    (void)arg;
    int64_t t0 = test_now_ms();
    while (test_now_ms() - t0 < 150) {
    }
    CHILD_CHECK(corio_yield() == 0);
    return 0;
}

static int hog_main(void *arg) {
    (void)arg;
    CHILD_CHECK(corio_await(spawn_named(hog, "busy-hog")) == 0);
    return 0;
}

/* Task names set after spawning count too. */
static int renamed_main(void *arg) {
    (void)arg;
    corio_task *t = corio_spawn(sleepy, NULL);
    CHILD_CHECK(t != NULL);
    CHILD_CHECK(corio_task_set_name(t, "renamed-orphan") == 0);
    CHILD_CHECK(corio_yield() == 0);
    return 0;
}

/* ---- cases -------------------------------------------------------------------------------------------------- */

TEST(debug_reports_tasks_never_awaited) {
    struct child c;
    run_child(forgotten_main, "1", &c);
    expect_in(&c, "forgotten-quick");
    expect_in(&c, "forgotten-sleepy");
}

TEST(debug_reports_renamed_task_never_awaited) {
    struct child c;
    run_child(renamed_main, "1", &c);
    expect_in(&c, "renamed-orphan");
}

TEST(debug_reports_task_running_150ms_without_suspending) {
    struct child c;
    run_child(hog_main, "1", &c);
    expect_in(&c, "busy-hog");
}

TEST(debug_off_prints_nothing) {
    struct child c;
    run_child(forgotten_main, NULL, &c);
    if (c.err[0]) TEST_FAIL_("unexpected stderr without CORIO_DEBUG:\n%s", c.err);
    run_child(hog_main, NULL, &c);
    if (c.err[0]) TEST_FAIL_("unexpected stderr without CORIO_DEBUG:\n%s", c.err);
    run_child(renamed_main, NULL, &c);
    if (c.err[0]) TEST_FAIL_("unexpected stderr without CORIO_DEBUG:\n%s", c.err);
}

/* The watchdog names a task while it still runs without suspending: the report comes before the task's own line,
 * which it prints once it has run 400 ms (before, a task was reported only when it suspended at last). */
static int long_hog(void *arg) {
    (void)arg;
    int64_t t0 = test_now_ms();
    while (test_now_ms() - t0 < 400) {
    }
    fprintf(stderr, "hog-done\n");
    return 0;
}
static int long_hog_main(void *arg) {
    (void)arg;
    CHILD_CHECK(corio_await(spawn_named(long_hog, "never-suspends")) == 0);
    return 0;
}
TEST(debug_watchdog_reports_a_task_while_it_runs) {
    struct child c;
    run_child(long_hog_main, "1", &c);
    const char *report = strstr(c.err, "\"never-suspends\"");
    const char *done = strstr(c.err, "hog-done");
    ASSERT_TRUE(done != NULL);
    if (!report || report > done) TEST_FAIL_("no report while the task ran:\n%s", c.err);
    expect_in(&c, "has been running");
}

/* After the main task returns, a task that ignores its cancellation (its waits fail at once, it loops on them) is
 * reported with what holds the loop after the 1 s grace, even without debug mode. Before, corio_run spun silently. */
static int stubborn(void *arg) {
    (void)arg;
    int64_t t0 = test_now_ms();
    while (test_now_ms() - t0 < 1600)
        if (corio_sleep(10) == 0) t0 = test_now_ms(); /* not cancelled yet: start counting again */
    return 0;
}
static int stubborn_main(void *arg) {
    (void)arg;
    corio_detach(spawn_named(stubborn, "ignores-cancel"));
    CHILD_CHECK(corio_sleep(20) == 0);
    return 0;
}
TEST(shutdown_reports_tasks_that_keep_the_loop) {
    struct child c;
    run_child(stubborn_main, NULL, &c);
    expect_in(&c, "after the main task returned");
    expect_in(&c, "\"ignores-cancel\" running");
}

/* Only tasks never awaited nor detached are reported, each once: not an awaited task (by await, wait_for or gather),
 * not a detached one (ended before main returned, or cancelled then), not a group's child, not main. */
static int mixed_main(void *arg) {
    (void)arg;
    spawn_named(quick, "forgotten-quick");
    spawn_named(sleepy, "forgotten-sleepy");
    corio_detach(spawn_named(quick, "detached-quick"));
    corio_detach(spawn_named(sleepy, "detached-sleepy"));
    CHILD_CHECK(corio_await(spawn_named(quick, "awaited-quick")) == 0);
    /* cancelled at the deadline, sleepy still ends with 0, which wait_for returns */
    CHILD_CHECK(corio_wait_for(spawn_named(sleepy, "awaited-wait-for"), 5) == 0);
    corio_task *g[2] = {spawn_named(quick, "awaited-gather"), spawn_named(sleepy, "awaited-gather")};
    CHILD_CHECK(corio_cancel(g[1]) == 0);
    int st[2];
    CHILD_CHECK(corio_gather(g, 2, st) == 0);
    corio_group *grp = corio_group_new();
    CHILD_CHECK(grp != NULL);
    corio_task_opts opts = {.name = "group-child"};
    CHILD_CHECK(corio_group_spawn_opts(grp, quick, NULL, &opts) != NULL);
    CHILD_CHECK(corio_group_wait(grp) == 0);
    CHILD_CHECK(corio_sleep(5) == 0);
    return 0;
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

TEST(debug_reports_only_tasks_never_awaited) {
    struct child c;
    run_child(mixed_main, "1", &c);
    expect_in(&c, "\"forgotten-quick\" was never awaited nor detached (status 0, OK)");
    /* sleepy ignores its sleep's -ECANCELED */
    expect_in(&c, "\"forgotten-sleepy\" was never awaited nor detached (status 0, OK)");
    const char *never[] = {"detached-quick", "detached-sleepy", "awaited-quick", "awaited-wait-for",
                           "awaited-gather", "group-child",     "\"main\""};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(c.err, never[i])) TEST_FAIL_("\"%s\" reported:\n%s", never[i], c.err);
    ASSERT_EQ(count_of(c.err, "was never awaited"), 2);
}
