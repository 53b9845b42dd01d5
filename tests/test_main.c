/* test_main.c - the runner linked into every test binary: forks one process per registered case, enforces its
 * timeout, and prints "N passed, N failed" (", N skipped" when a case skipped itself with test_skip: a program or
 * package it needs is missing). With a case name as argument it runs just that case in-process. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define MAX_TESTS 512

static struct {
    const char *name;
    test_fn fn;
    int timeout_s;
} tests[MAX_TESTS];
static int ntests;

void test_register(const char *name, test_fn fn, int timeout_s) {
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "test_main: more than %d tests in one file\n", MAX_TESTS);
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    tests[ntests].timeout_s = timeout_s;
    ntests++;
}

int test_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT_NOT_NULL(d);
    int n = 0;
    const struct dirent *ent;
    while ((ent = readdir(d)))
        if (ent->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

int test_run_child(void (*fn)(void *), void *arg, unsigned alarm_s, char *err, size_t size) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        alarm(alarm_s);
        fn(arg);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char tmp[4096];
        ssize_t n = read(fds[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t keep = (size_t)n;
        if (keep > size - 1 - len) keep = size - 1 - len;
        memcpy(err + len, tmp, keep);
        len += keep;
    }
    err[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) ASSERT_EQ(errno, EINTR);
    return status;
}

struct corio_child {
    corio_fn fn;
    const char *debug;
};

static void corio_child(void *arg) {
    const struct corio_child *c = arg;
    if (c->debug)
        setenv("CORIO_DEBUG", c->debug, 1);
    else
        unsetenv("CORIO_DEBUG");
    int rc = corio_run(c->fn, NULL);
    fflush(stderr);
    _exit(rc == 0 ? 0 : 5);
}

int test_run_corio_child(corio_fn fn, const char *debug, unsigned alarm_s, char *err, size_t size) {
    struct corio_child c = {fn, debug};
    return test_run_child(corio_child, &c, alarm_s, err, size);
}

int64_t test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1 /* ThreadSanitizer tracks at most 8128 threads and fibers: every task is a fiber */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

int test_small(void) { return RUNNING_ON_VALGRIND || UNDER_TSAN || getenv("CORIO_TEST_SMALL") != NULL; }

int64_t test_bound_ms(int64_t ms) { return test_small() ? 10 * ms : ms; }

corio_task *test_spawn(corio_fn fn, void *arg) {
    corio_task *t = corio_spawn(fn, arg);
    ASSERT_NOT_NULL(t);
    return t;
}

void test_settle(void) {
    for (int i = 0; i < 5; i++) ASSERT_RC(corio_yield(), 0);
}

/* A case that skipped itself (test_skip) exits with this: counted apart, neither passed nor failed. */
#define SKIP_STATUS 77
static const char *current_name = "";

void test_skip(const char *why) {
    printf("SKIP %s: %s\n", current_name, why);
    fflush(stdout);
    _exit(SKIP_STATUS);
}

/* 1 passed, 0 failed, 2 skipped */
static int run_one(int i) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm((unsigned)tests[i].timeout_s);
        current_name = tests[i].name;
        tests[i].fn();
        fflush(stdout);
        _exit(0);
    }
    int st;
    int64_t t0 = test_now_ms();
    while (waitpid(pid, &st, 0) < 0) {
    }
    int64_t ms = test_now_ms() - t0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("PASS %s (%lld ms)\n", tests[i].name, (long long)ms);
        return 1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS) return 2; /* it said why */
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        printf("FAIL %s: timed out after %d s\n", tests[i].name, tests[i].timeout_s);
    else if (WIFSIGNALED(st))
        printf("FAIL %s: killed by signal %d (%s)\n", tests[i].name, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        printf("FAIL %s: exit status %d\n", tests[i].name, WEXITSTATUS(st));
    return 0;
}

int main(int argc, char **argv) {
    /* I/O tests open thousands of descriptors: lift the soft limit (often 1024) to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (argc > 1) {
        for (int i = 0; i < ntests; i++)
            if (strcmp(tests[i].name, argv[1]) == 0) {
                current_name = tests[i].name;
                tests[i].fn();
                printf("PASS %s\n", tests[i].name);
                return 0;
            }
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    int passed = 0, skipped = 0;
    for (int i = 0; i < ntests; i++) {
        int r = run_one(i);
        passed += r == 1;
        skipped += r == 2;
    }
    int failed = ntests - passed - skipped;
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
