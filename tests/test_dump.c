/* test_dump.c - tests of corio_dump_tasks: each task is listed with its name, state and what it waits on (sleep,
 * task, lock, event, queue, fd, to_thread, gather), its stack use, NULL and no-loop calls, and debug mode's
 * SIGQUIT printing the listing from a child process. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

struct objs {
    corio_lock *lock;
    corio_event *ev;
    corio_queue *q;
    int pipe_r;
    int thread_pipe[2];
    corio_task *target;
};

static int sleeper(void *arg) {
    (void)arg;
    return corio_sleep(100000);
}
static int joiner(void *arg) { return corio_await(((struct objs *)arg)->target); }
static int locker(void *arg) {
    int rc = corio_lock_acquire(((struct objs *)arg)->lock);
    if (rc == 0) corio_lock_release(((struct objs *)arg)->lock);
    return rc;
}
static int ev_waiter(void *arg) { return corio_event_wait(((struct objs *)arg)->ev); }
static int q_getter(void *arg) {
    void *item;
    return corio_queue_get(((struct objs *)arg)->q, &item);
}
static int reader(void *arg) {
    char c;
    return (int)corio_read(((struct objs *)arg)->pipe_r, &c, 1);
}
/* blocks its worker thread until the test writes to the pipe */
static int blocking_read(void *arg) {
    char c;
    return read(*(int *)arg, &c, 1) == 1 ? 0 : -EIO;
}
static int threader(void *arg) {
    struct objs *o = arg;
    return corio_to_thread(blocking_read, &o->thread_pipe[0]);
}
/* touches about 24 KiB of its stack, then waits: the high-water mark must show it */
static int deep(void *arg) {
    volatile char buf[24 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 512) buf[i] = 1;
    (void)buf[0];
    return corio_event_wait(((struct objs *)arg)->ev);
}
static int gatherer(void *arg) {
    (void)arg;
    corio_task *t[2] = {test_spawn(sleeper, NULL), test_spawn(sleeper, NULL)};
    return corio_gather(t, 2, NULL);
}

static corio_task *spawn_named(corio_fn fn, void *arg, const char *name) {
    corio_task_opts opts = {.name = name};
    corio_task *t = corio_spawn_opts(fn, arg, &opts);
    ASSERT_NOT_NULL(t);
    return t;
}

/* The line of the task named name in text, copied into line (ASSERTs it is there). */
static void task_line(const char *text, const char *name, char *line, size_t size) {
    char key[64];
    (void)snprintf(key, sizeof key, "\"%s\" ", name);
    const char *p = strstr(text, key);
    if (!p) TEST_FAIL_("no task \"%s\" in the dump:\n%s", name, text);
    while (p > text && p[-1] != '\n') p--;
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= size) n = size - 1;
    memcpy(line, p, n);
    line[n] = 0;
}

#define ASSERT_LINE_HAS(text, name, what)                                                                              \
    do {                                                                                                               \
        char line_[512];                                                                                               \
        task_line(text, name, line_, sizeof line_);                                                                    \
        if (!strstr(line_, what)) TEST_FAIL_("task \"%s\": expected \"%s\" in: %s", name, what, line_);                \
    } while (0)

static int waits_main(void *arg) {
    (void)arg;
    struct objs o = {0};
    o.lock = corio_lock_new();
    o.ev = corio_event_new();
    o.q = corio_queue_new(1);
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(pipe(o.thread_pipe), 0);
    o.pipe_r = p[0];
    ASSERT_RC(corio_lock_acquire(o.lock), 0);
    o.target = spawn_named(sleeper, NULL, "target");
    corio_task *t[] = {
        spawn_named(sleeper, NULL, "sleeper"),   spawn_named(joiner, &o, "joiner"),
        spawn_named(locker, &o, "locker"),       spawn_named(ev_waiter, &o, "evwaiter"),
        spawn_named(q_getter, &o, "qgetter"),    spawn_named(reader, &o, "reader"),
        spawn_named(threader, &o, "threader"),   spawn_named(deep, &o, "deep"),
        spawn_named(gatherer, NULL, "gatherer"),
    };
    size_t n = sizeof t / sizeof t[0];
    test_settle();
    corio_task *fresh = spawn_named(sleeper, NULL, "fresh"); /* spawned, not yet run: ready */

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_NOT_NULL(f);
    corio_dump_tasks(f);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_NOT_NULL(text);
    ASSERT_TRUE(strstr(text, "corio: 14 tasks") != NULL); /* main, target, 9, gatherer's 2, fresh */
    ASSERT_LINE_HAS(text, "main", "running");
    ASSERT_LINE_HAS(text, "fresh", "ready");
    ASSERT_LINE_HAS(text, "fresh", "not started");
    ASSERT_LINE_HAS(text, "sleeper", "waiting on sleep (wakes in ");
    ASSERT_LINE_HAS(text, "target", "waiting on sleep");
    ASSERT_LINE_HAS(text, "joiner", "waiting on task \"target\"");
    ASSERT_LINE_HAS(text, "locker", "waiting on lock 0x");
    ASSERT_LINE_HAS(text, "evwaiter", "waiting on event 0x");
    ASSERT_LINE_HAS(text, "qgetter", "waiting on queue 0x");
    ASSERT_LINE_HAS(text, "qgetter", "(get: empty)");
    char want[64];
    (void)snprintf(want, sizeof want, "waiting on fd %d readable", p[0]);
    ASSERT_LINE_HAS(text, "reader", want);
    ASSERT_LINE_HAS(text, "threader", "waiting on to_thread");
    ASSERT_LINE_HAS(text, "gatherer", "waiting on gather (2 tasks to end)");
    ASSERT_LINE_HAS(text, "sleeper", "age ");
    ASSERT_LINE_HAS(text, "sleeper", "KiB high-water of 64 KiB");
#if !defined(__SANITIZE_ADDRESS__)
    /* (AddressSanitizer may move the array to its fake stack) */
    char line[512];
    task_line(text, "deep", line, sizeof line);
    const char *hw = strstr(line, "~");
    ASSERT_NOT_NULL(hw);
    ASSERT_GE(atoi(hw + 1), 24);
#endif
    free(text);

    /* wake or cancel everyone, and check the waits still end as usual */
    ASSERT_EQ(write(o.thread_pipe[1], "x", 1), 1);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    ASSERT_RC(corio_lock_release(o.lock), 0);
    corio_event_set(o.ev);
    ASSERT_RC(corio_queue_put(o.q, NULL), 0);
    ASSERT_RC(corio_cancel(t[0]), 0);
    ASSERT_RC(corio_cancel(o.target), 0);
    ASSERT_RC(corio_cancel(t[8]), 0);
    ASSERT_RC(corio_cancel(fresh), 0);
    int want_rc[] = {-ECANCELED, -ECANCELED, 0, 0, 0, 1, 0, 0, -ECANCELED};
    for (size_t i = 0; i < n; i++) ASSERT_RC(corio_await(t[i]), want_rc[i]);
    ASSERT_RC(corio_await(fresh), -ECANCELED);
    ASSERT_RC(corio_lock_free(o.lock), 0);
    ASSERT_RC(corio_event_free(o.ev), 0);
    corio_queue_free(o.q);
    corio_close(p[0]);
    close(p[1]);
    close(o.thread_pipe[0]);
    close(o.thread_pipe[1]);
    return 0;
}

TEST(dump_names_each_wait) { ASSERT_RC(corio_run(waits_main, NULL), 0); }

static int null_main(void *arg) {
    (void)arg;
    corio_task *t = spawn_named(sleeper, NULL, "napper");
    test_settle();
    corio_dump_tasks(NULL); /* stderr */
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    return 0;
}

TEST(dump_null_and_outside_a_loop) {
    ASSERT_RC(corio_run(null_main, NULL), 0);
    corio_dump_tasks(NULL);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_NOT_NULL(f);
    corio_dump_tasks(f);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_TRUE(strstr(text, "no loop") != NULL);
    free(text);
}

/* the child: a debug loop that sends itself SIGQUIT and keeps running */
static int quit_main(void *arg) {
    (void)arg;
    corio_task *t = spawn_named(sleeper, NULL, "napper");
    test_settle();
    if (kill(getpid(), SIGQUIT) != 0) return -errno;
    /* the dump comes at the loop's next turn; the process must survive the signal */
    for (int i = 0; i < 50; i++) corio_sleep(10);
    corio_cancel(t);
    return corio_await(t) == -ECANCELED ? 0 : -EIO;
}

TEST(sigquit_dumps_in_debug_mode) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        setenv("CORIO_DEBUG", "1", 1);
        /* corio takes SIGQUIT only while it is at its default; a test runner started in the background by a
         * shell without job control inherits it ignored */
        signal(SIGQUIT, SIG_DFL);
        _exit(corio_run(quit_main, NULL) == 0 ? 0 : 1);
    }
    close(p[1]);
    char buf[8192];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) TEST_FAIL_("child status %#x, stderr:\n%s", status, buf);
    if (!strstr(buf, "corio: 2 tasks")) TEST_FAIL_("no dump on stderr:\n%s", buf);
    ASSERT_LINE_HAS(buf, "napper", "waiting on sleep");
    ASSERT_LINE_HAS(buf, "main", "waiting on sleep");
}
