/* test_dump.c - tests of corio_dump_tasks: each task is listed with its name, state and what it waits on (sleep,
 * task, lock, event, queue, fd, to_thread, gather), its stack use, NULL and no-loop calls, and debug mode's
 * SIGQUIT printing the listing from a child process. Also every other wait kind with the object it names (semaphore,
 * condition, queue put and join, group, select, future, barrier, wait_any, fd readiness), the deadline of a wait_for
 * or a timeout scope, the [cancelled] and [shielded] markers only where they belong, and tasks freed (awaited, or
 * detached and ended) missing from the listing while an ended task not yet awaited is in it. */
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

/* ---- every wait kind, and only the tasks alive ----------------------------------------------------------------- */

/* The line of the task named name (the name right after its "#id"), copied into line: 1, or 0 if there is none. */
static int find_task(const char *text, const char *name, char *line, size_t size) {
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        while (*q == ' ') q++;
        if (*q == '#') {
            q++;
            while (*q >= '0' && *q <= '9') q++;
            size_t len = strlen(name);
            if (q[0] == ' ' && q[1] == '"' && strncmp(q + 2, name, len) == 0 && q[2 + len] == '"') {
                if (n >= size) n = size - 1;
                memcpy(line, p, n);
                line[n] = '\0';
                return 1;
            }
        }
        p += end ? n + 1 : n;
    }
    return 0;
}

/* The line of name holds each of the strings in what (NULL-terminated), and none of the markers it must not have. */
static void expect_line(const char *text, const char *name, const char *const *what, const char *const *absent) {
    char line[512];
    if (!find_task(text, name, line, sizeof line)) TEST_FAIL_("no task \"%s\" in the dump:\n%s", name, text);
    for (; what && *what; what++)
        if (!strstr(line, *what)) TEST_FAIL_("task \"%s\": expected \"%s\" in: %s", name, *what, line);
    for (; absent && *absent; absent++)
        if (strstr(line, *absent)) TEST_FAIL_("task \"%s\": unexpected \"%s\" in: %s", name, *absent, line);
}
#define EXPECT_LINE(text, name, ...) expect_line(text, name, (const char *const[]){__VA_ARGS__, NULL}, plain)
static const char *const plain[] = {"[cancelled]", "[shielded]", NULL};

/* The ms after "times out in " in name's line. */
static long times_out_in(const char *text, const char *name) {
    char line[512];
    if (!find_task(text, name, line, sizeof line)) TEST_FAIL_("no task \"%s\" in the dump:\n%s", name, text);
    const char *p = strstr(line, "times out in ");
    if (!p) TEST_FAIL_("task \"%s\": no deadline in: %s", name, line);
    return strtol(p + strlen("times out in "), NULL, 10);
}

/* What the waiters wait on, and where the ones that make their own objects leave them for the checks. */
struct kinds {
    corio_lock *lock, *cond_lock;
    corio_cond *cond;
    corio_event *ev, *sel_ev, *scope_ev;
    corio_sem *sem;
    corio_queue *empty, *full, *unjoined;
    corio_future *fut;
    corio_barrier *bar;
    int pipe[2];
    corio_group *group; /* set by grouper */
    corio_sel sel[2];
    corio_task *target, *target2, *stubborn, *any[1];
};

static int k_sleeper(void *arg) {
    (void)arg;
    return corio_sleep(100000);
}
static int k_joiner(void *arg) { return corio_await(((struct kinds *)arg)->target); }
static int k_locker(void *arg) {
    struct kinds *k = arg;
    int rc = corio_lock_acquire(k->lock);
    if (rc == 0) corio_lock_release(k->lock);
    return rc;
}
static int k_condwaiter(void *arg) {
    struct kinds *k = arg;
    ASSERT_RC(corio_lock_acquire(k->cond_lock), 0);
    int rc = corio_cond_wait(k->cond, k->cond_lock);
    corio_lock_release(k->cond_lock);
    return rc;
}
static int k_evwaiter(void *arg) { return corio_event_wait(((struct kinds *)arg)->ev); }
static int k_semwaiter(void *arg) {
    struct kinds *k = arg;
    int rc = corio_sem_acquire(k->sem);
    if (rc == 0) corio_sem_release(k->sem);
    return rc;
}
static int k_getter(void *arg) {
    void *p;
    return corio_queue_get(((struct kinds *)arg)->empty, &p);
}
static int k_putter(void *arg) { return corio_queue_put(((struct kinds *)arg)->full, NULL); }
static int k_joinwaiter(void *arg) { return corio_queue_join(((struct kinds *)arg)->unjoined); }
static int k_grouper(void *arg) {
    struct kinds *k = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_spawn(g, k_sleeper, NULL), 0);
    k->group = g;
    return corio_group_wait(g);
}
static int k_reader(void *arg) { return corio_wait_readable(((struct kinds *)arg)->pipe[0]); }
static int k_selector(void *arg) {
    struct kinds *k = arg;
    return corio_select(k->sel, 2, -1);
}
static int k_futwaiter(void *arg) { return corio_future_wait(((struct kinds *)arg)->fut, NULL); }
static int k_barwaiter(void *arg) { return corio_barrier_wait(((struct kinds *)arg)->bar); }
static int k_anywaiter(void *arg) { return corio_wait_any(((struct kinds *)arg)->any, 1, -1); }
static int k_waitforer(void *arg) { return corio_wait_for(((struct kinds *)arg)->target2, 5000); }
static int k_scoped(void *arg) {
    struct kinds *k = arg;
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 3000), 0);
    int rc = corio_event_wait(k->scope_ev);
    (void)corio_timeout_exit(&to);
    return rc;
}
/* Sleeps in a shielded scope that ends after 300 ms (long past the dump), so a cancel reaches it only then. */
static int k_stubborn(void *arg) {
    (void)arg;
    corio_scope s;
    ASSERT_RC(corio_scope_enter(&s, test_bound_ms(300), CORIO_SCOPE_SHIELD), 0);
    (void)corio_sleep(100000);
    (void)corio_scope_exit(&s);
    return corio_checkpoint();
}
/* Gives its target 10 ms, then cancels it and waits for its end, shielded. */
static int k_canceller(void *arg) { return corio_wait_for(((struct kinds *)arg)->stubborn, 10); }
static int k_quick(void *arg) { return (int)(intptr_t)arg; }

static int kinds_main(void *arg) {
    (void)arg;
    struct kinds k = {.lock = corio_lock_new(),
                      .cond_lock = corio_lock_new(),
                      .cond = corio_cond_new(),
                      .ev = corio_event_new(),
                      .sel_ev = corio_event_new(),
                      .scope_ev = corio_event_new(),
                      .sem = corio_sem_new(0),
                      .empty = corio_queue_new(1),
                      .full = corio_queue_new(1),
                      .unjoined = corio_queue_new(0),
                      .fut = corio_future_new(),
                      .bar = corio_barrier_new(2)};
    ASSERT_TRUE(k.lock && k.cond_lock && k.cond && k.ev && k.sel_ev && k.scope_ev && k.sem && k.empty && k.full &&
                k.unjoined && k.fut && k.bar);
    ASSERT_EQ(pipe(k.pipe), 0);
    ASSERT_RC(corio_lock_acquire(k.lock), 0);
    ASSERT_RC(corio_queue_put(k.full, NULL), 0);
    ASSERT_RC(corio_queue_put(k.unjoined, NULL), 0);
    k.sel[0] = (corio_sel){.op = CORIO_SEL_EVENT, .obj = k.sel_ev};
    k.sel[1] = (corio_sel){.op = CORIO_SEL_QUEUE_GET, .obj = k.empty};

    /* freed before the dump: awaited, detached and ended; then one ended and not yet awaited */
    ASSERT_RC(corio_await(spawn_named(k_quick, NULL, "awaited")), 0);
    corio_detach(spawn_named(k_quick, NULL, "detached"));
    corio_task *ended = spawn_named(k_quick, (void *)(intptr_t)-EIO, "ended");

    k.target = spawn_named(k_sleeper, NULL, "target");
    k.target2 = spawn_named(k_sleeper, NULL, "target2");
    k.any[0] = spawn_named(k_sleeper, NULL, "anytarget");
    k.stubborn = spawn_named(k_stubborn, NULL, "stubborn");
    struct {
        corio_fn fn;
        const char *name;
    } w[] = {
        {k_sleeper, "sleeper"},       {k_joiner, "joiner"},       {k_locker, "locker"},
        {k_condwaiter, "condwaiter"}, {k_evwaiter, "evwaiter"},   {k_semwaiter, "semwaiter"},
        {k_getter, "getter"},         {k_putter, "putter"},       {k_joinwaiter, "joinwaiter"},
        {k_grouper, "grouper"},       {k_reader, "reader"},       {k_selector, "selector"},
        {k_futwaiter, "futwaiter"},   {k_barwaiter, "barwaiter"}, {k_anywaiter, "anywaiter"},
        {k_waitforer, "waitforer"},   {k_scoped, "scoped"},       {k_canceller, "canceller"},
    };
    enum { NW = sizeof w / sizeof w[0] };
    corio_task *t[NW];
    for (size_t i = 0; i < NW; i++) t[i] = spawn_named(w[i].fn, &k, w[i].name);
    test_settle();
    ASSERT_RC(corio_sleep(40), 0); /* the canceller's 10 ms are over: it has cancelled stubborn, which is shielded */
    ASSERT_NOT_NULL(k.group);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_NOT_NULL(f);
    corio_dump_tasks(f);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_NOT_NULL(text);

    /* the header counts what is listed: main, ended, 4 targets, the waiters and the group's child */
    char head[64];
    (void)snprintf(head, sizeof head, "corio: %d tasks (", 1 + 1 + 4 + NW + 1);
    if (strncmp(text, head, strlen(head)) != 0) TEST_FAIL_("expected \"%s\" at the start of:\n%s", head, text);
    size_t lines = 0;
    for (const char *p = strstr(text, "\n  #"); p; p = strstr(p + 1, "\n  #")) lines++;
    ASSERT_EQ(lines, (size_t)(1 + 1 + 4 + NW + 1));
    char line[512];
    ASSERT_EQ(find_task(text, "awaited", line, sizeof line), 0);
    ASSERT_EQ(find_task(text, "detached", line, sizeof line), 0);
    EXPECT_LINE(text, "ended", "done (status -5, EIO)");
    EXPECT_LINE(text, "main", "running");

    char want[26][96];
    int n = 0;
#define OBJ(fmt, p) (snprintf(want[n], sizeof want[n], fmt, (void *)(p)), want[n++])
    EXPECT_LINE(text, "sleeper", "waiting on sleep (wakes in ");
    EXPECT_LINE(text, "joiner", "waiting on task \"target\" (#");
    EXPECT_LINE(text, "locker", OBJ("waiting on lock %p", k.lock));
    EXPECT_LINE(text, "condwaiter", OBJ("waiting on condition %p", k.cond));
    EXPECT_LINE(text, "evwaiter", OBJ("waiting on event %p", k.ev));
    EXPECT_LINE(text, "semwaiter", OBJ("waiting on semaphore %p", k.sem));
    EXPECT_LINE(text, "getter", OBJ("waiting on queue %p (get: empty)", k.empty));
    EXPECT_LINE(text, "putter", OBJ("waiting on queue %p (put: full)", k.full));
    EXPECT_LINE(text, "joinwaiter", OBJ("waiting on queue %p (join: items not done)", k.unjoined));
    EXPECT_LINE(text, "grouper", OBJ("waiting on group %p", k.group));
    (void)snprintf(want[n], sizeof want[n], "waiting on fd %d readable", k.pipe[0]);
    EXPECT_LINE(text, "reader", want[n++]);
    EXPECT_LINE(text, "selector", OBJ("waiting on select (%p)", k.sel));
    EXPECT_LINE(text, "futwaiter", OBJ("waiting on future %p", k.fut));
    EXPECT_LINE(text, "barwaiter", OBJ("waiting on barrier %p", k.bar));
    EXPECT_LINE(text, "anywaiter", "waiting on the first of several tasks to end");
    EXPECT_LINE(text, "waitforer", "waiting on task \"target2\" (#", ", times out in ");
    EXPECT_LINE(text, "scoped", OBJ("waiting on event %p, times out in ", k.scope_ev));
#undef OBJ
    /* wait_for(5000) and a 3000 ms scope, begun ~40 ms ago: deadlines counted from their start, not halved */
    long ms = times_out_in(text, "waitforer");
    ASSERT_TRUE(ms > 2500 && ms <= 5000);
    ms = times_out_in(text, "scoped");
    ASSERT_TRUE(ms > 1500 && ms <= 3000);
    /* the markers, where they belong: stubborn was cancelled but sleeps on in its shield; the canceller waits for
     * its end shielded (its own cancellation cannot leave stubborn behind) */
    expect_line(text, "stubborn", (const char *const[]){"waiting on sleep", "[cancelled]", NULL},
                (const char *const[]){"[shielded]", NULL});
    expect_line(text, "canceller", (const char *const[]){"waiting on task \"stubborn\" (#", "[shielded]", NULL},
                (const char *const[]){"[cancelled]", NULL});
    EXPECT_LINE(text, "target", "waiting on sleep");
    free(text);

    /* end everything: waiters first (the joiner lets go of target before target ends), then the targets main owns */
    for (size_t i = 0; i < NW; i++) corio_cancel(t[i]);
    for (size_t i = 0; i < NW; i++) ASSERT_LE(corio_await(t[i]), 0);
    corio_cancel(k.target);
    corio_cancel(k.any[0]);
    ASSERT_RC(corio_await(k.target), -ECANCELED);
    ASSERT_RC(corio_await(k.any[0]), -ECANCELED);
    ASSERT_RC(corio_await(ended), -EIO);
    ASSERT_RC(corio_lock_release(k.lock), 0);
    ASSERT_RC(corio_lock_free(k.lock), 0);
    ASSERT_RC(corio_lock_free(k.cond_lock), 0);
    ASSERT_RC(corio_cond_free(k.cond), 0);
    ASSERT_RC(corio_event_free(k.ev), 0);
    ASSERT_RC(corio_event_free(k.sel_ev), 0);
    ASSERT_RC(corio_event_free(k.scope_ev), 0);
    ASSERT_RC(corio_sem_free(k.sem), 0);
    ASSERT_RC(corio_queue_free(k.empty), 0);
    ASSERT_RC(corio_queue_free(k.full), 0);
    ASSERT_RC(corio_queue_free(k.unjoined), 0);
    ASSERT_RC(corio_future_free(k.fut), 0);
    ASSERT_RC(corio_barrier_free(k.bar), 0);
    corio_close(k.pipe[0]);
    close(k.pipe[1]);
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_EQ(st.tasks, 1);
    return 0;
}
TEST(dump_names_every_wait_kind_and_only_live_tasks) { ASSERT_RC(corio_run(kinds_main, NULL), 0); }
