/* test_gdb.c - tests of tools/corio-gdb.py: gdb_target sets up suspended tasks and stops at gdb_stop_here, and
 * gdb_lists_tasks_and_backtraces runs tests/gdb_test.sh, which runs gdb in batch mode on that case and checks
 * `corio tasks` and `corio bt`. Skipped, with the reason printed, without gdb, off x86-64, with the ucontext
 * switch, and under sanitizers or valgrind. */
#include <limits.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* gdb's breakpoint: every task is suspended here but main */
__attribute__((noinline)) void gdb_stop_here(void);
__attribute__((noinline)) void gdb_stop_here(void) { __asm__ volatile("" ::: "memory"); }

__attribute__((noinline)) static int alpha_body(void) {
    int rc = corio_sleep(100000);
    __asm__ volatile("" ::: "memory"); /* not a tail call: alpha_body stays in the backtrace */
    return rc;
}
static int alpha(void *arg) {
    (void)arg;
    return alpha_body();
}

__attribute__((noinline)) static int beta_body(corio_event *e) {
    int rc = corio_event_wait(e);
    __asm__ volatile("" ::: "memory");
    return rc;
}
static int beta(void *arg) { return beta_body(arg); }

static int target_main(void *arg) {
    (void)arg;
    corio_event *e = corio_event_new();
    ASSERT_NOT_NULL(e);
    corio_task_opts a = {.name = "alpha"}, b = {.name = "beta"};
    corio_task *ta = corio_spawn_opts(alpha, NULL, &a), *tb = corio_spawn_opts(beta, e, &b);
    ASSERT_NOT_NULL(ta);
    ASSERT_NOT_NULL(tb);
    test_settle();
    gdb_stop_here();
    corio_event_set(e);
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), -ECANCELED);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(corio_event_free(e), 0);
    return 0;
}

/* What gdb attaches to; as a case of its own it just runs. */
TEST(gdb_target) { ASSERT_RC(corio_run(target_main, NULL), 0); }

/* clang says it builds with a sanitizer through __has_feature, not gcc's macros */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_BY_CLANG 1
#endif
#endif
#ifndef SANITIZER_BY_CLANG
#define SANITIZER_BY_CLANG 0
#endif

static const char *skip_reason(void) {
#if !defined(__x86_64__)
    return "corio bt reads the x86-64 switch frame only";
#elif defined(CORIO_SWITCH_UCONTEXT)
    return "built with the ucontext switch (corio bt reads the assembly switch's frame)";
#elif defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || SANITIZER_BY_CLANG
    return "sanitizer build";
#else
    const char *runner = getenv("RUNNER"), *preload = getenv("LD_PRELOAD");
    if ((runner && (strstr(runner, "valgrind") || strstr(runner, "qemu"))) || (preload && strstr(preload, "vgpreload")))
        return "under valgrind or an emulator";
    if (system("command -v gdb >/dev/null 2>&1") != 0) return "gdb is not installed (Debian: apt-get install gdb)";
    if (access("tests/gdb_test.sh", R_OK) != 0) return "not run from the repository root";
    return NULL;
#endif
}

TEST_TIMEOUT(gdb_lists_tasks_and_backtraces, 120) {
    const char *why = skip_reason();
    if (why) test_skip(why);
    char exe[PATH_MAX], cmd[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ASSERT_TRUE(n > 0);
    exe[n] = 0;
    (void)snprintf(cmd, sizeof cmd, "sh tests/gdb_test.sh '%s' 2>&1", exe);
    (void)fflush(stdout);
    int st = system(cmd);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}
