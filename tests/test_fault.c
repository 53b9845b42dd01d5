/* test_fault.c - fault injection: walks N over every allocation (malloc, calloc, realloc, ...) and then every mmap
 * that corio makes while running one representative program, failing exactly the Nth in a fresh child process
 * each time (tests/fault.c does the failing). Each run must end cleanly: not killed by a signal, not hung, the
 * failure reported as -ENOMEM (or absorbed, or a server connection dropped, which is what a server does when it
 * cannot start a connection's task), no allocation, mapping or descriptor left behind. The walk stops at the
 * first N past the program's last call (the run then completes untouched). Built without ASan, TSan and
 * valgrind (mk/fault.mk): each of them replaces malloc itself. */
#include <dirent.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "test.h"

#define MANY_TASKS 80   /* more than one slab of 64 stacks: a second slab is mapped */
#define QUEUE_ITEMS 200 /* grows the unbounded queue's ring several times */
#define CHILD_TIMEOUT_S 20
#define MAX_N 20000 /* a runaway walk stops here (a full walk is a few hundred runs) */

/* Child exit statuses: what the parent counts. */
enum {
    OUT_CLEAN = 0,    /* completed, no fault injected: the walk is over */
    OUT_ABSORBED = 1, /* completed although a call failed (a fallback or retry covered it) */
    OUT_ENOMEM = 2,   /* corio_run returned -ENOMEM */
    OUT_DROPPED = 3,  /* the echo server dropped the connection (it could not start the connection's task) */
    OUT_EAGAIN = 4,   /* glibc could not start a pool thread: -EAGAIN, as corio.h documents (alloc-all only) */
    OUT_WRONG = 10,   /* another error, or -ENOMEM with no fault injected */
    OUT_LEAK = 11,    /* an allocation or mapping left behind */
    OUT_FD_LEAK = 12, /* a descriptor left behind */
};

static char file_path[64];
static const char file_text[] = "corio fault file\n";

/* The first failure, for the report: the step and its code. Tasks fail concurrently: only the first counts. */
static const char *failed_step;
static int failed_rc;

static int fail(const char *step, int rc) {
    if (!failed_step) {
        failed_step = step;
        failed_rc = rc;
    }
    return rc;
}

#define CHECK(step, expr)                                                                                              \
    do {                                                                                                               \
        int rc_ = (int)(expr);                                                                                         \
        if (rc_ < 0) return fail(step, rc_);                                                                           \
    } while (0)
/* pointer-returning calls: NULL and errno */
#define CHECK_PTR(step, p)                                                                                             \
    do {                                                                                                               \
        if (!(p)) return fail(step, -errno);                                                                           \
    } while (0)

/* ---- the pieces of the representative program ----------------------------------------------------------------- */

static int sleeper(void *arg) { return corio_sleep((int64_t)(intptr_t)arg); }

static int yielder(void *arg) {
    (void)arg;
    return corio_yield();
}

static int step_tasks(void) {
    corio_task *t = corio_spawn(sleeper, (void *)(intptr_t)1);
    CHECK_PTR("spawn", t);
    CHECK("await", corio_await(t));
    /* a stack size of its own: a second stack pool, its slab mapped */
    corio_task_opts opts = {.name = "big", .stack_size = 128 * 1024};
    t = corio_spawn_opts(yielder, NULL, &opts);
    CHECK_PTR("spawn_opts", t);
    CHECK("await big", corio_await(t));
    CHECK("task_set_name", corio_task_set_name(corio_current(), "main task"));
    return 0;
}

/* Spawns n tasks running fn(arg) and gathers them; on a spawn failure the ones spawned are cancelled and gathered. */
static int spawn_gather(const char *step, size_t n, corio_fn fn, void *arg) {
    static corio_task *ts[MANY_TASKS];
    size_t got = 0;
    for (; got < n; got++)
        if (!(ts[got] = corio_spawn(fn, arg))) break;
    if (got < n) {
        int rc = -errno;
        for (size_t i = 0; i < got; i++) (void)corio_cancel(ts[i]);
        (void)corio_gather(ts, got, NULL);
        return fail(step, rc);
    }
    CHECK(step, corio_gather(ts, n, NULL));
    return 0;
}

static int step_gather(void) { return spawn_gather("gather", 3, yielder, NULL); }

static int step_many(void) { return spawn_gather("many tasks", MANY_TASKS, sleeper, (void *)(intptr_t)2); }

static int step_group(void) {
    corio_group *g = corio_group_new();
    CHECK_PTR("group_new", g);
    for (int i = 0; i < 3; i++) {
        int rc = corio_group_spawn(g, i == 0 ? yielder : sleeper, (void *)(intptr_t)1);
        if (rc < 0) {
            (void)corio_group_cancel(g);
            (void)corio_group_wait(g);
            return fail("group_spawn", rc);
        }
    }
    CHECK("group_wait", corio_group_wait(g));
    return 0;
}

struct sync_objs {
    corio_lock *lock;
    corio_event *event;
    corio_sem *sem;
    corio_cond *cond;
    corio_queue *bounded, *unbounded;
    bool ready;
};

/* Takes the lock, waits on the condition until main says ready, then sets the event. */
static int cond_waiter(void *arg) {
    struct sync_objs *o = arg;
    CHECK("lock_acquire", corio_lock_acquire(o->lock));
    int rc = 0;
    while (!o->ready && rc == 0) rc = corio_cond_wait(o->cond, o->lock);
    CHECK("lock_release", corio_lock_release(o->lock));
    CHECK("cond_wait", rc);
    corio_event_set(o->event);
    return 0;
}

static int produce(struct sync_objs *o) {
    for (intptr_t i = 1; i <= QUEUE_ITEMS; i++) CHECK("queue_put", corio_queue_put(o->unbounded, (void *)i));
    for (intptr_t i = 1; i <= 3; i++) CHECK("queue_put bounded", corio_queue_put(o->bounded, (void *)i));
    return 0;
}

/* Closes both queues whatever happens, so the consumer never waits for items that will not come. */
static int producer(void *arg) {
    struct sync_objs *o = arg;
    int rc = produce(o);
    corio_queue_close(o->unbounded);
    corio_queue_close(o->bounded);
    return rc;
}

static int use_sync(struct sync_objs *o) {
    CHECK("sem_acquire", corio_sem_acquire(o->sem));
    corio_sem_release(o->sem);
    corio_task *w = corio_spawn(cond_waiter, o);
    CHECK_PTR("spawn", w);
    int rc = corio_yield(); /* the waiter takes the lock and waits */
    if (rc == 0) rc = corio_lock_acquire(o->lock);
    if (rc == 0) {
        o->ready = true;
        corio_cond_signal(o->cond);
        rc = corio_lock_release(o->lock);
    }
    if (rc == 0) rc = corio_event_wait(o->event);
    if (rc < 0) {
        (void)corio_cancel(w);
        (void)corio_await(w);
        return fail("lock/cond/event", rc);
    }
    CHECK("await waiter", corio_await(w));

    corio_task *p = corio_spawn(producer, o);
    CHECK_PTR("spawn", p);
    void *item;
    for (intptr_t i = 1; i <= QUEUE_ITEMS && rc == 0; i++) {
        rc = corio_queue_get(o->unbounded, &item);
        if (rc == 0 && item != (void *)i) rc = fail("queue order", -EPROTO);
    }
    intptr_t sum = 0;
    while (rc == 0 && (rc = corio_queue_get(o->bounded, &item)) == 0) sum += (intptr_t)item;
    if (rc == -EPIPE && sum == 6) rc = 0; /* closed and drained */
    if (rc < 0) {
        /* the producer's failure, if it failed, is the cause */
        (void)corio_cancel(p);
        int prc = corio_await(p);
        return fail("queue_get", prc < 0 ? prc : rc);
    }
    CHECK("await producer", corio_await(p));
    return 0;
}

static int step_sync(void) {
    struct sync_objs o = {
        .lock = corio_lock_new(),
        .event = corio_event_new(),
        .sem = corio_sem_new(1),
        .cond = corio_cond_new(),
        .bounded = corio_queue_new(2),
        .unbounded = corio_queue_new(0),
    };
    int rc = -errno;
    if (o.lock && o.event && o.sem && o.cond && o.bounded && o.unbounded)
        rc = use_sync(&o);
    else
        rc = fail("sync new", rc);
    int frees[] = {corio_lock_free(o.lock), corio_event_free(o.event),   corio_sem_free(o.sem),
                   corio_cond_free(o.cond), corio_queue_free(o.bounded), corio_queue_free(o.unbounded)};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++)
        if (frees[i] < 0 && rc == 0) rc = fail("sync free", frees[i]);
    return rc;
}

static int step_timeouts(void) {
    corio_timeout scope;
    CHECK("timeout_enter", corio_timeout_enter(&scope, 5));
    int rc = corio_sleep(10000);
    int rc2 = corio_timeout_exit(&scope);
    if (rc != -ETIMEDOUT) return fail("sleep in scope", rc < 0 ? rc : -EPROTO);
    if (rc2 != -ETIMEDOUT) return fail("timeout_exit", rc2 < 0 ? rc2 : -EPROTO);
    corio_task *t = corio_spawn(sleeper, (void *)(intptr_t)10000);
    CHECK_PTR("spawn", t);
    rc = corio_wait_for(t, 5);
    if (rc != -ETIMEDOUT) return fail("wait_for", rc < 0 ? rc : -EPROTO);
    return 0;
}

/* ---- network: an echo server on 127.0.0.1 and one client over a stream ---------------------------------------- */

static int echo(int fd, void *arg) {
    (void)arg;
    char buf[256];
    ssize_t n;
    while ((n = corio_read(fd, buf, sizeof buf)) > 0)
        if (corio_write(fd, buf, (size_t)n) < 0) return -EPIPE;
    return (int)n;
}

static int server_main(void *arg) { return corio_server_run(arg); }

/* The client's side: -EPIPE if the server dropped the connection (reported as such, see OUT_DROPPED). */
static int client(int port) {
    int fd = corio_tcp_connect("127.0.0.1", port);
    CHECK("tcp_connect", fd);
    corio_stream *s = corio_stream_new(fd);
    if (!s) {
        int rc = -errno;
        corio_close(fd);
        return fail("stream_new", rc);
    }
    static const char line[] = "hello, server\n";
    char buf[64];
    ssize_t rc = corio_stream_write(s, line, sizeof line - 1);
    if (rc >= 0) rc = corio_stream_drain(s);
    if (rc >= 0) rc = corio_stream_read_line(s, buf, sizeof buf);
    corio_stream_free(s);
    if (rc == 0 || rc == -ECONNRESET || rc == -EPIPE) return fail("tcp dropped", -EPIPE);
    CHECK("stream", rc);
    if (strcmp(buf, line) != 0) return fail("echo mismatch", -EPROTO);
    return 0;
}

static int step_tcp(void) {
    corio_server *srv = corio_server_new("127.0.0.1", 0, echo, NULL, NULL);
    CHECK_PTR("server_new", srv);
    int port = corio_server_port(srv);
    corio_task *st = port < 0 ? NULL : corio_spawn(server_main, srv);
    int rc = port < 0 ? port : st ? 0 : -errno;
    if (rc == 0)
        rc = client(port);
    else
        rc = fail(port < 0 ? "server_port" : "spawn", rc);
    if (st) {
        corio_server_stop(srv);
        int rc2 = corio_await(st);
        if (rc == 0 && rc2 < 0) rc = fail("server_run", rc2);
    }
    int rc3 = corio_server_free(srv);
    if (rc == 0 && rc3 < 0) rc = fail("server_free", rc3);
    return rc;
}

/* A line longer than the stream's first read buffer (16 KiB) makes it grow; written by a task over a socketpair. */
#define BIG_LINE (40 * 1024)
static char big_out[BIG_LINE], big_in[BIG_LINE + 1];

static int big_writer(void *arg) {
    ssize_t n = corio_write(*(int *)arg, big_out, BIG_LINE);
    if (n >= 0) return 0;
    (void)corio_shutdown(*(int *)arg, SHUT_WR); /* the reader sees the end instead of waiting forever */
    return fail("write big line", (int)n);
}

static int read_big(corio_stream *s, int wfd) {
    corio_task *w = corio_spawn(big_writer, &wfd);
    CHECK_PTR("spawn", w);
    ssize_t n = corio_stream_read_line(s, big_in, sizeof big_in);
    if (n != BIG_LINE) {
        (void)corio_cancel(w);
        int wrc = corio_await(w);
        return fail("read_line big", wrc < 0 ? wrc : n < 0 ? (int)n : -EPROTO);
    }
    CHECK("await writer", corio_await(w));
    return memcmp(big_in, big_out, BIG_LINE) == 0 ? 0 : fail("big line data", -EPROTO);
}

static int step_stream_big(void) {
    memset(big_out, 'x', BIG_LINE - 1);
    big_out[BIG_LINE - 1] = '\n';
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return fail("socketpair", -errno);
    /* a descriptor far above the others: the loop's descriptor table grows to reach it */
    int high = fcntl(sv[1], F_DUPFD_CLOEXEC, 700);
    close(sv[1]);
    if (high < 0) {
        close(sv[0]);
        return fail("dup", -errno);
    }
    corio_stream *s = corio_stream_new(sv[0]);
    if (!s) {
        int rc = -errno;
        close(sv[0]);
        corio_close(high);
        return fail("stream_new", rc);
    }
    int rc = read_big(s, high);
    corio_stream_free(s);
    corio_close(high);
    return rc;
}

static int step_udp(void) {
    int fd = corio_udp_bind("127.0.0.1", 0);
    CHECK("udp_bind", fd);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int port = corio_local_port(fd);
    to.sin_port = htons((uint16_t)(port < 0 ? 0 : port));
    char buf[16];
    ssize_t n = port < 0 ? port : corio_sendto(fd, "ping", 4, (struct sockaddr *)&to, sizeof to);
    if (n >= 0) n = corio_recvfrom(fd, buf, sizeof buf, NULL, NULL);
    corio_close(fd);
    CHECK("udp", n);
    return n == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : fail("udp data", -EPROTO);
}

static char unix_path[64];

static int unix_client(void *arg) {
    (void)arg;
    int fd = corio_unix_connect(unix_path);
    CHECK("unix_connect", fd);
    ssize_t n = corio_write(fd, "u", 1);
    corio_close(fd);
    CHECK("unix write", n);
    return 0;
}

static int step_unix(void) {
    int lfd = corio_unix_listen(unix_path, 4);
    CHECK("unix_listen", lfd);
    corio_task *c = corio_spawn(unix_client, NULL);
    int rc = c ? 0 : fail("spawn", -errno);
    int fd = rc < 0 ? rc : corio_accept(lfd, NULL, NULL);
    char ch = 0;
    ssize_t n = fd < 0 ? fd : corio_read(fd, &ch, 1);
    if (fd >= 0) corio_close(fd);
    corio_close(lfd);
    unlink(unix_path);
    if (c) {
        if (n < 0) (void)corio_cancel(c);
        int crc = corio_await(c);
        if (crc < 0) return fail("unix client", crc);
    }
    CHECK("unix accept/read", n);
    return n == 1 && ch == 'u' ? 0 : fail("unix data", -EPROTO);
}

/* ---- thread pool, files, a subprocess, a signal, DNS --------------------------------------------------------- */

static int work(void *arg) { return *(int *)arg * 2; }

static int step_to_thread(void) {
    int x = 21;
    int rc = corio_to_thread(work, &x);
    CHECK("to_thread", rc);
    if (rc != 42) return fail("to_thread result", -EPROTO);
    return 0;
}

static int step_file(void) {
    int fd = corio_file_open(file_path, O_RDONLY, 0);
    CHECK("file_open", fd);
    char buf[64];
    ssize_t n = corio_file_read(fd, buf, sizeof buf, 0);
    int rc = corio_file_close(fd);
    CHECK("file_read", n);
    CHECK("file_close", rc);
    if ((size_t)n != sizeof file_text - 1 || memcmp(buf, file_text, (size_t)n) != 0) return fail("file data", -EPROTO);
    return 0;
}

static int talk_to_cat(corio_process *p) {
    static const char msg[] = "meow\n";
    char buf[64];
    size_t got = 0;
    ssize_t n = corio_write(corio_process_fd(p, 0), msg, sizeof msg - 1);
    CHECK("write to cat", n);
    CHECK("close cat stdin", corio_process_close_fd(p, 0));
    while ((n = corio_read(corio_process_fd(p, 1), buf + got, sizeof buf - got)) > 0) got += (size_t)n;
    CHECK("read from cat", n);
    int status;
    CHECK("process_wait", corio_process_wait(p, &status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != sizeof msg - 1 || memcmp(buf, msg, got) != 0)
        return fail("cat output", -EPROTO);
    return 0;
}

static int step_process(void) {
    char *argv[] = {"cat", NULL};
    corio_process_opts o = {.stdin_mode = CORIO_STDIO_PIPE, .stdout_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("cat", argv, &o);
    CHECK_PTR("process_spawn", p);
    int rc = talk_to_cat(p);
    int rc2 = corio_process_free(p);
    if (rc == 0 && rc2 < 0) rc = fail("process_free", rc2);
    return rc;
}

static int signal_waiter(void *arg) {
    (void)arg;
    int rc = corio_signal_wait(SIGUSR1);
    CHECK("signal_wait", rc);
    return rc == SIGUSR1 ? 0 : fail("signal number", -EPROTO);
}

static int step_signal(void) {
    corio_task *t = corio_spawn(signal_waiter, NULL);
    CHECK_PTR("spawn", t);
    for (int i = 0; i < 3; i++) CHECK("yield", corio_yield()); /* the waiter waits (or has failed) */
    if (kill(getpid(), SIGUSR1) != 0) return fail("kill", -errno);
    CHECK("await signal waiter", corio_await(t));
    return 0;
}

static int step_resolve(void) {
    struct addrinfo *res = NULL;
    CHECK("resolve", corio_resolve("localhost", "80", SOCK_STREAM, &res));
    freeaddrinfo(res);
    return 0;
}

/* Compact tasks whose frames are deeper than their inline save area: switching between them spills each one's
 * bytes to a malloc'd buffer, and when that malloc fails the owner's wait fails with -ENOMEM (never an abort). */
static __attribute__((noinline)) int deep_sleep(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    int rc = depth > 0 ? deep_sleep(depth - 1) : corio_sleep(1);
    return rc < 0 ? rc : pad[0] - (char)depth;
}
static int deep_compact(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) CHECK("compact sleep", deep_sleep(4));
    return 0;
}
static int step_compact(void) {
    corio_task_opts o = {.compact = 1};
    corio_task *t[2] = {corio_spawn_opts(deep_compact, NULL, &o), NULL};
    CHECK_PTR("spawn compact", t[0]);
    if (!(t[1] = corio_spawn_opts(deep_compact, NULL, &o))) {
        int rc = -errno;
        (void)corio_cancel(t[0]);
        (void)corio_await(t[0]);
        return fail("spawn compact", rc);
    }
    CHECK("gather compact", corio_gather(t, 2, NULL));
    return 0;
}

static int program(void *arg) {
    (void)arg;
    int (*steps[])(void) = {step_tasks,      step_gather,    step_group,  step_sync,    step_timeouts, step_many,
                            step_compact,    step_tcp,       step_stream_big, step_udp, step_unix,     step_to_thread,
                            step_file,       step_process,   step_signal, step_resolve};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int rc = steps[i]();
        if (rc < 0) return failed_step ? rc : fail("(unnamed step)", rc);
    }
    return 0;
}

/* ---- the child: one run with the Nth call failing ------------------------------------------------------------ */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static void on_usr1(int sig) { (void)sig; } /* a SIGUSR1 no waiter took (its wait failed) must not kill the run */

static int child_run(int kind, long n) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    int fds = count_fds();
    fault_arm(kind, n);
    int rc = corio_run(program, NULL);
    fault_disarm();
    long injected = fault_injected();
    /* an abandoned pool job is freed by its worker when its function returns: give it time */
    long live = fault_live();
    for (int i = 0; i < 300 && live != 0; i++) {
        usleep(10000);
        live = fault_live();
    }
    int fds_after = count_fds();
    const char *what = kind == FAULT_ALLOC ? "alloc" : kind == FAULT_MMAP ? "mmap" : "alloc-all";
    if (live != 0) {
        fprintf(stderr, "fault: %s #%ld: %ld allocations/mappings left behind (corio_run: %s, first failure: %s %s)\n",
                what, n, live, corio_err_name(rc), failed_step ? failed_step : "-", corio_err_name(failed_rc));
        fault_live_dump(stderr);
        return OUT_LEAK;
    }
    if (fds_after != fds) {
        fprintf(stderr, "fault: %s #%ld: %d descriptors before, %d after (corio_run: %s at %s)\n", what, n, fds,
                fds_after, corio_err_name(rc), failed_step ? failed_step : "-");
        return OUT_FD_LEAK;
    }
    if (rc == 0) return injected ? OUT_ABSORBED : OUT_CLEAN;
    if (injected && rc == -ENOMEM) return OUT_ENOMEM;
    if (injected && rc == -EAGAIN && kind == FAULT_ALLOC_ALL) return OUT_EAGAIN;
    if (injected && rc == -EPIPE && failed_step && strcmp(failed_step, "tcp dropped") == 0) return OUT_DROPPED;
    fprintf(stderr, "fault: %s #%ld: corio_run returned %s, first failure at \"%s\": %s (%ld fault injected)\n", what,
            n, corio_err_name(rc), failed_step ? failed_step : "-", corio_err_name(failed_rc), injected);
    return OUT_WRONG;
}

/* ---- the walk ---------------------------------------------------------------------------------------------- */

struct walk {
    long runs, injected, enomem, absorbed, dropped, eagain, bad;
};

/* Runs the program in a child with the nth call of kind failing: the child's OUT_* status, or -1 if it was killed
 * (a crash, an abort, or the timeout's SIGALRM). */
static int run_child(int kind, long n) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        alarm(CHILD_TIMEOUT_S);
        int out = child_run(kind, n);
        fflush(stdout);
        fflush(stderr);
        _exit(out);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    printf("fault: %s #%ld: killed by signal %d (%s)%s\n",
           kind == FAULT_ALLOC  ? "alloc"
           : kind == FAULT_MMAP ? "mmap"
                                : "alloc-all",
           n, WTERMSIG(st), strsignal(WTERMSIG(st)), WTERMSIG(st) == SIGALRM ? ": hung" : "");
    return -1;
}

static void make_file(void) {
    snprintf(unix_path, sizeof unix_path, "/tmp/corio-fault-%d.sock", (int)getpid());
    snprintf(file_path, sizeof file_path, "/tmp/corio-fault-%d", (int)getpid());
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, file_text, sizeof file_text - 1), (ssize_t)(sizeof file_text - 1));
    close(fd);
}

static void walk(int kind, const char *name) {
    make_file();
    /* CORIO_FAULT_N=n: just the run with call n failing, in this process (for gdb) */
    const char *one = getenv("CORIO_FAULT_N");
    if (one) {
        int out = child_run(kind, strtol(one, NULL, 10));
        unlink(file_path);
        printf("fault: %s #%s: outcome %d, %ld calls counted\n", name, one, out, fault_calls());
        return;
    }
    int64_t t0 = test_now_ms();
    /* the untouched program must pass first, or every failure below means nothing */
    ASSERT_EQ(run_child(kind, 0), OUT_CLEAN);
    struct walk w = {0};
    long n = 1;
    for (; n <= MAX_N; n++) {
        int out = run_child(kind, n);
        w.runs++;
        if (out == OUT_CLEAN) break; /* n is past the last call */
        w.injected++;
        if (out == OUT_ENOMEM)
            w.enomem++;
        else if (out == OUT_ABSORBED)
            w.absorbed++;
        else if (out == OUT_DROPPED)
            w.dropped++;
        else if (out == OUT_EAGAIN)
            w.eagain++;
        else
            w.bad++;
    }
    unlink(file_path);
    printf("fault: %s walk: %ld calls failed one at a time (%ld runs): %ld -ENOMEM, %ld absorbed, %ld dropped "
           "connections, %ld -EAGAIN, %ld bad; %lld ms\n",
           name, w.injected, w.runs, w.enomem, w.absorbed, w.dropped, w.eagain, w.bad, (long long)(test_now_ms() - t0));
    fflush(stdout);
    ASSERT_TRUE(n <= MAX_N);
    ASSERT_EQ(w.bad, 0);
    ASSERT_GT(w.injected, 0);
}

TEST_TIMEOUT(alloc_walk, 600) { walk(FAULT_ALLOC, "alloc"); }

TEST_TIMEOUT(mmap_walk, 120) { walk(FAULT_MMAP, "mmap"); }

TEST_TIMEOUT(alloc_all_walk, 600) { walk(FAULT_ALLOC_ALL, "alloc-all"); }

/* The shim itself: the Nth call fails, the others do not, and what is left allocated is seen. */
TEST(shim_counts_and_tracks) {
    /* volatile: the compiler knows these functions, and clang would otherwise drop or reorder the calls */
    fault_arm(FAULT_ALLOC, 2);
    void *volatile a = malloc(16);
    void *volatile b = calloc(1, 16); /* (errno is not checked: clang assumes allocators leave it alone) */
    char *volatile c = strdup("x");
    fault_disarm();
    ASSERT_NOT_NULL(a);
    ASSERT_NULL(b);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(fault_calls(), 3);
    ASSERT_EQ(fault_injected(), 1);
    ASSERT_EQ(fault_live(), 2);
    free(a);
    free(c);
    ASSERT_EQ(fault_live(), 0);
}
