/* test_server.c - tests of corio_server_* and corio_serve as corio.h specifies them, with an echo server run
 * in-process on 127.0.0.1 and driven by real clients: nc (netcat-openbsd) and tests/client.py started as child
 * processes from a pool thread (corio_to_thread, so no fork happens on a task's stack), and in-process client
 * tasks by the thousand. Also: peers resetting in the middle of a read and of a large write, running out of
 * descriptors (RLIMIT_NOFILE 256) without dying or spinning, stop and cancellation waiting for the handlers,
 * max_conns, bad arguments, the guess whether a connection's first read will find its request, and
 * examples/echo_server as a separate process. */
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* ---- child processes ---------------------------------------------------------------------------------------- */

/* A command to run to its end: its stdin is fed input, its stdout and stderr are collected in out. */
struct cmd {
    char *argv[16];
    const char *input;
    size_t inlen;
    int timeout_ms;
    int *reserve; /* descriptors to close just before the pipes are made (out of descriptors), or NULL */
    size_t nreserve;
    char *out; /* NUL-terminated, malloc'd */
    size_t len;
    int status; /* wait status; killed with SIGKILL past timeout_ms */
};

/* Runs c to its end; meant for corio_to_thread (so the loop goes on), or to be called outside any loop. */
static int run_cmd(void *arg) {
    struct cmd *c = arg;
    for (size_t i = 0; i < c->nreserve; i++) close(c->reserve[i]);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) return -errno;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return -errno;
    }
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that dies takes its clients along */
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execvp(c->argv[0], c->argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    int wfd = in[1];
    fcntl(wfd, F_SETFL, O_NONBLOCK);
    size_t sent = 0, cap = 4096;
    c->out = malloc(cap);
    c->len = 0;
    if (c->inlen == 0) {
        close(wfd);
        wfd = -1;
    }
    int64_t deadline = test_now_ms() + c->timeout_ms;
    for (;;) {
        int64_t left = deadline - test_now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p[2] = {{.fd = out[0], .events = POLLIN}, {.fd = wfd, .events = POLLOUT}};
        if (poll(p, wfd >= 0 ? 2 : 1, (int)left) < 0) continue;
        if (wfd >= 0 && p[1].revents) {
            ssize_t n = write(wfd, c->input + sent, c->inlen - sent);
            if (n > 0) sent += (size_t)n;
            if ((n < 0 && errno != EAGAIN) || sent == c->inlen) {
                close(wfd);
                wfd = -1;
            }
        }
        if (p[0].revents) {
            if (cap - c->len < 4096) c->out = realloc(c->out, cap *= 2);
            ssize_t n = read(out[0], c->out + c->len, cap - c->len - 1);
            if (n <= 0) break;
            c->len += (size_t)n;
        }
    }
    c->out[c->len] = '\0';
    close(out[0]);
    if (wfd >= 0) close(wfd);
    while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR) {
    }
    return 0;
}

/* A file next to the sources: from the current directory (make test runs at the top of the tree) or from where
 * this binary lives (build/<config>/tests/). */
static const char *source_path(const char *rel, char *buf, size_t len) {
    if (access(rel, R_OK) == 0) return rel;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ASSERT_GT(n, 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    if (snprintf(buf, len, "%s/../../../%s", exe, rel) >= (int)len) TEST_FAIL_("path too long");
    return buf;
}

/* The build directory's examples: $BUILD (make test sets it), else next to this binary. */
static void example_path(const char *name, char *buf, size_t len) {
    const char *build = getenv("BUILD");
    if (build && *build) {
        snprintf(buf, len, "%s/examples/%s", build, name);
        if (access(buf, X_OK) == 0) return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ASSERT_GT(n, 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    if (snprintf(buf, len, "%s/../examples/%s", exe, name) >= (int)len) TEST_FAIL_("path too long");
    if (access(buf, X_OK) != 0) snprintf(buf, len, "build/x86_64-gcc-asm/examples/%s", name);
}

static void expect_exit_ok(const struct cmd *c) {
    if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
        if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 127) TEST_FAIL_("%s is not installed", c->argv[0]);
        TEST_FAIL_("%s %s failed (status %#x): %s", c->argv[0], c->argv[1], c->status, c->out);
    }
}

/* ---- the server under test ---------------------------------------------------------------------------------- */

/* What the handlers saw. */
struct stats {
    int started, ended, active, max_active;
    int resets; /* handlers that ended with -ECONNRESET or -EPIPE */
    int cancelled;
    int last_rc;
    size_t echoed;
    bool in_write;
    size_t max_server_conns;
    int without_nodelay; /* connections handed to a handler without TCP_NODELAY */
    corio_server *srv;
};
static struct stats st;

static void handler_begin(void) {
    st.started++;
    if (++st.active > st.max_active) st.max_active = st.active;
    size_t c = corio_server_conns(st.srv);
    if (c > st.max_server_conns) st.max_server_conns = c;
}

static int handler_end(int rc) {
    st.active--;
    st.ended++;
    st.last_rc = rc;
    if (rc == -ECONNRESET || rc == -EPIPE) st.resets++;
    if (rc == -ECANCELED) st.cancelled++;
    return rc;
}

#ifdef SERVER_COMPACT
/* The compact handler's echo, written as one should be: the bytes in a stream (its buffer exists only while it
 * holds some, and is never on the shared stack), written straight from there. */
static int echo_stream(int fd) {
    corio_stream *s = corio_stream_wrap(fd);
    if (!s) return -ENOMEM;
    const void *data;
    ssize_t n;
    while ((n = corio_stream_peek(s, &data)) > 0) {
        st.in_write = true;
        ssize_t w = corio_write(fd, data, (size_t)n);
        st.in_write = false;
        if (w < 0) {
            n = w;
            break;
        }
        st.echoed += (size_t)n;
        ASSERT_RC(corio_stream_consume(s, (size_t)n), 0);
    }
    ASSERT_RC(corio_stream_free(s), 0);
    return (int)n;
}
#endif

static int echo_handler(int fd, void *arg) {
    int64_t delay_ms = (int64_t)(intptr_t)arg;
    handler_begin();
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) != 0 || !nodelay) st.without_nodelay++;
    int rc = delay_ms ? corio_sleep(delay_ms) : 0;
#ifdef SERVER_COMPACT
    if (rc == 0) rc = echo_stream(fd);
    return handler_end(rc);
#endif
    char buf[16384];
    while (rc == 0) {
        ssize_t n = corio_read(fd, buf, sizeof buf);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        st.in_write = true;
        ssize_t w = corio_write(fd, buf, (size_t)n);
        st.in_write = false;
        if (w < 0)
            rc = (int)w;
        else
            st.echoed += (size_t)n;
    }
    return handler_end(rc);
}

/* A server on 127.0.0.1, a free port, run by its own task. */
struct env {
    corio_server *srv;
    corio_task *runner;
    int port;
    int run_rc;
};

static int runner_fn(void *arg) {
    struct env *e = arg;
    e->run_rc = corio_server_run(e->srv);
    return 0;
}

static void env_start(struct env *e, corio_conn_fn handler, void *arg, const corio_server_opts *opts) {
    memset(&st, 0, sizeof st);
#ifdef SERVER_COMPACT
    corio_server_opts copt = opts ? *opts : (corio_server_opts){0};
    copt.compact = 1;
    opts = &copt;
#endif
    e->srv = corio_server_new("127.0.0.1", 0, handler, arg, opts);
    ASSERT_NOT_NULL(e->srv);
    st.srv = e->srv;
    e->port = corio_server_port(e->srv);
    ASSERT_GT(e->port, 0);
    e->runner = corio_spawn(runner_fn, e);
    ASSERT_NOT_NULL(e->runner);
}

/* Stops the server: run returns 0 once every handler has ended. */
static void env_stop(struct env *e) {
    corio_server_stop(e->srv);
    ASSERT_RC(corio_await(e->runner), 0);
    ASSERT_RC(e->run_rc, 0);
    ASSERT_EQ(corio_server_conns(e->srv), 0);
    ASSERT_EQ(st.active, 0);
    ASSERT_EQ(st.without_nodelay, 0);
    ASSERT_RC(corio_server_free(e->srv), 0);
}

/* Waits (polling, up to ms) until *flag reaches want. */
static void wait_until(const int *value, int want, int64_t ms) {
    int64_t end = test_now_ms() + ms;
    while (*value < want) {
        if (test_now_ms() > end) TEST_FAIL_("waited %lld ms for %d, have %d", (long long)ms, want, *value);
        ASSERT_RC(corio_sleep(2), 0);
    }
}

/* ---- in-process clients ------------------------------------------------------------------------------------- */

static unsigned char pattern(unsigned seed, size_t i) { return (unsigned char)((seed * 31 + i) % 251); }

/* Fills msg with seed's pattern. */
static void fill(void *msg, size_t len, unsigned seed) {
    for (size_t j = 0; j < len; j++) ((unsigned char *)msg)[j] = pattern(seed, j);
}

/* Connects, waits delay_ms (the loop runs the server meanwhile: it accepts and starts reading), sends len bytes
 * and reads them back: 0 or -errno. */
static int echo_after(int port, size_t len, unsigned seed, int64_t delay_ms) {
    int fd = corio_tcp_connect("127.0.0.1", port);
    if (fd < 0) return fd;
    unsigned char *buf = malloc(len ? len : 1);
    fill(buf, len, seed);
    int rc = delay_ms ? corio_sleep(delay_ms) : 0;
    if (rc == 0) rc = (int)corio_write(fd, buf, len);
    size_t got = 0;
    unsigned char in[4096];
    while (rc >= 0 && got < len) {
        ssize_t n = corio_read(fd, in, sizeof in);
        if (n <= 0) {
            rc = n == 0 ? -EPIPE : (int)n;
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != buf[got + (size_t)i]) rc = -EILSEQ;
        got += (size_t)n;
    }
    free(buf);
    corio_close(fd);
    return rc < 0 ? rc : 0;
}

/* Connects, sends len bytes and reads them back: 0 or -errno. */
static int echo_once(int port, size_t len, unsigned seed) { return echo_after(port, len, seed, 0); }

struct client {
    int port;
    size_t len;
    unsigned seed;
};
static int client_fn(void *arg) {
    struct client *c = arg;
    return echo_once(c->port, c->len, c->seed);
}

/* ---- real clients: nc and python ------------------------------------------------------------------------------ */

/* A real client from the image (python3): sends its standard input to 127.0.0.1:PORT, shuts its side and writes
 * what it reads back until EOF, as `nc -N` does. */
#define PY_CLIENT                                                                                                      \
    "import socket,sys\n"                                                                                              \
    "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])),10)\n"                                                  \
    "s.sendall(sys.stdin.buffer.read())\n"                                                                             \
    "s.shutdown(socket.SHUT_WR)\n"                                                                                     \
    "while True:\n"                                                                                                    \
    "    d=s.recv(65536)\n"                                                                                            \
    "    if not d: break\n"                                                                                            \
    "    sys.stdout.buffer.write(d)\n"

static int main_nc(void *arg) {
    (void)arg;
    if (system("command -v nc >/dev/null 2>&1") != 0)
        test_skip("nc is not installed (Debian: apt-get install netcat-openbsd); echo_server_example uses python3");
    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    size_t len = 200 * 1024;
    char *input = malloc(len);
    for (size_t i = 0; i < len; i++) input[i] = (char)(i % 64 == 63 ? '\n' : 'a' + i % 26);
    char port[16];
    snprintf(port, sizeof port, "%d", e.port);
    struct cmd c = {
        .argv = {"nc", "-N", "-w", "10", "127.0.0.1", port, NULL}, .input = input, .inlen = len, .timeout_ms = 20000};
    ASSERT_RC(corio_to_thread(run_cmd, &c), 0);
    expect_exit_ok(&c);
    ASSERT_EQ(c.len, len);
    ASSERT_EQ(memcmp(c.out, input, len), 0);
    wait_until(&st.ended, 1, 5000);
    ASSERT_RC(st.last_rc, 0); /* nc shut down its side: the handler saw EOF */
    env_stop(&e);
    free(c.out);
    free(input);
    return 0;
}
TEST(echo_with_nc) { run_ok(main_nc, NULL); }

static int main_python(void *arg) {
    (void)arg;
    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    char port[16], script[PATH_MAX];
    snprintf(port, sizeof port, "%d", e.port);
    struct cmd c = {.argv = {"python3", (char *)source_path("tests/client.py", script, sizeof script), "echo", port,
                             test_small() ? "4" : "20", "5", NULL},
                    .timeout_ms = 30000};
    ASSERT_RC(corio_to_thread(run_cmd, &c), 0);
    expect_exit_ok(&c);
    ASSERT_EQ(strncmp(c.out, "echo ok ", 8), 0);
    ASSERT_EQ((int64_t)strtoll(c.out + 8, NULL, 10), (int64_t)st.echoed);
    wait_until(&st.ended, st.started, 5000);
    env_stop(&e);
    free(c.out);
    return 0;
}
TEST(echo_with_python_clients) { run_ok(main_python, NULL); }

/* ---- many in-process clients ---------------------------------------------------------------------------------- */

static void raise_nofile(rlim_t want) {
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

static int main_thousand(void *arg) {
    (void)arg;
    size_t n = test_small() ? 100 : 1000;
    corio_server_opts opts = {.backlog = 2048, .max_conns = 0};
    struct env e;
    env_start(&e, echo_handler, NULL, &opts);
    struct client *cl = calloc(n, sizeof *cl);
    corio_task **t = calloc(n, sizeof *t);
    int *statuses = calloc(n, sizeof *statuses);
    for (size_t i = 0; i < n; i++) {
        cl[i] = (struct client){.port = e.port, .len = 1 + (i * 7919) % 6000, .seed = (unsigned)i};
        t[i] = corio_spawn(client_fn, &cl[i]);
        ASSERT_NOT_NULL(t[i]);
    }
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 30000), 0);
    ASSERT_RC(corio_gather(t, n, statuses), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    for (size_t i = 0; i < n; i++) ASSERT_RC(statuses[i], 0);
    wait_until(&st.ended, (int)n, 5000);
    ASSERT_EQ(st.started, (int)n);
    ASSERT_GT(st.max_active, 1); /* they were served at once, not one after another */
    env_stop(&e);
    free(statuses);
    free(t);
    free(cl);
    return 0;
}
TEST(thousand_concurrent_client_tasks) {
    raise_nofile(4096);
    run_ok(main_thousand, NULL);
}

/* ---- a connection's first read --------------------------------------------------------------------------------- */

/* Connects n clients with blocking calls and sends each one's message before the server may run (the kernel
 * completes a loopback connect from the listener's backlog), so each first read finds its request already in;
 * then reads every echo back. */
static void early_echoes(int port, int n, unsigned seed) {
    int fd[64];
    char msg[64], in[64];
    ASSERT_LE(n, 64);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd[i], 0);
        ASSERT_EQ(connect(fd[i], (struct sockaddr *)&a, sizeof a), 0);
        fill(msg, sizeof msg, seed + (unsigned)i);
        ASSERT_EQ(write(fd[i], msg, sizeof msg), (ssize_t)sizeof msg);
    }
    for (int i = 0; i < n; i++) {
        fill(msg, sizeof msg, seed + (unsigned)i);
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t r = corio_read(fd[i], in + got, sizeof in - got);
            ASSERT_GT(r, 0);
            got += (size_t)r;
        }
        ASSERT_EQ(memcmp(in, msg, sizeof msg), 0);
        ASSERT_RC(corio_close(fd[i]), 0);
    }
}

/* On epoll an accepted connection's first read waits for readiness first while the loop's recent first reads
 * found nothing, and reads first once they find the requests in (io.c, first_read_waits): every client is
 * served right either way, and the guess follows the load both ways. io_uring's receives keep no score; a
 * stream's reads (the compact variant's handler) do, on both backends. */
static int main_first_read(void *arg) {
    (void)arg;
    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    const corio__loop *l = corio__cur;
    bool scored = l->backend.ops->submit == NULL;
#ifdef SERVER_COMPACT
    scored = true; /* a stream reads with read(2) on io_uring too, to wait with no buffer: the score is kept */
#endif
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 30000), 0);
    for (unsigned i = 0; i < 24; i++) ASSERT_RC(echo_after(e.port, 64, i, 5), 0);
    if (scored) ASSERT_GT(l->fresh_empty, 0);
    for (int b = 0; b < 5; b++) early_echoes(e.port, 40, 1000 + 40 * (unsigned)b);
    if (scored) ASSERT_LT(l->fresh_empty, 0);
    for (unsigned i = 0; i < 24; i++) ASSERT_RC(echo_after(e.port, 64, 2000 + i, 5), 0);
    if (scored) ASSERT_GT(l->fresh_empty, 0);
    if (!scored) ASSERT_EQ(l->fresh_empty, 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    wait_until(&st.ended, 24 + 200 + 24, 5000);
    ASSERT_EQ(st.started, 24 + 200 + 24);
    env_stop(&e);
    return 0;
}
TEST(first_read_guess_follows_the_load) { run_ok(main_first_read, NULL); }

/* ---- peers that reset ----------------------------------------------------------------------------------------- */

static void reset_close(int fd) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST, not FIN */
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    corio_close(fd);
}

static int main_reset_mid_read(void *arg) {
    (void)arg;
    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    int fd = corio_tcp_connect("127.0.0.1", e.port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(corio_write(fd, "hello", 5), 5);
    char buf[8];
    ASSERT_EQ(corio_read(fd, buf, sizeof buf), 5); /* the echo came: the handler is back in its read */
    ASSERT_RC(corio_sleep(5), 0);
    reset_close(fd);
    wait_until(&st.ended, 1, 5000);
    ASSERT_RC(st.last_rc, -ECONNRESET);
    /* the server goes on */
    ASSERT_RC(echo_once(e.port, 1000, 7), 0);
    ASSERT_RC(echo_once(e.port, 100000, 8), 0);
    env_stop(&e);
    return 0;
}
TEST(reset_in_the_middle_of_a_read) { run_ok(main_reset_mid_read, NULL); }

/* Sends without ever reading, until its descriptor is closed under it. */
struct flooder {
    int fd;
    size_t sent;
    int rc;
};
static int flooder_fn(void *arg) {
    struct flooder *f = arg;
    static char chunk[65536];
    for (;;) {
        ssize_t n = corio_write(f->fd, chunk, sizeof chunk);
        if (n < 0) return f->rc = (int)n;
        f->sent += (size_t)n;
    }
}

static int main_reset_mid_write(void *arg) {
    (void)arg;
    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    int fd = corio_tcp_connect("127.0.0.1", e.port);
    ASSERT_GE(fd, 0);
    struct flooder f = {.fd = fd};
    corio_task *t = corio_spawn(flooder_fn, &f);
    /* wait until the handler is stuck in its write: the client reads nothing, so the echo backs up */
    int64_t end = test_now_ms() + 10000;
    for (;;) {
        size_t before = st.echoed;
        ASSERT_RC(corio_sleep(50), 0);
        if (st.in_write && st.echoed == before && st.echoed > 0) break;
        if (test_now_ms() > end) TEST_FAIL_("the handler never blocked in its write");
    }
    reset_close(fd); /* also wakes the flooder with -EBADF */
    ASSERT_RC(corio_await(t), -EBADF);
    ASSERT_RC(f.rc, -EBADF);
    wait_until(&st.ended, 1, 5000);
    ASSERT_EQ(st.resets, 1); /* the write failed with -ECONNRESET or -EPIPE */
    ASSERT_RC(echo_once(e.port, 300000, 9), 0);
    env_stop(&e);
    return 0;
}
TEST(reset_in_the_middle_of_a_large_write) { run_ok(main_reset_mid_write, NULL); }

/* ---- out of descriptors ----------------------------------------------------------------------------------------- */

/* A client of the descriptor storm: failures to connect or to be served are counted, not fatal. One that is
 * served holds its connection until released, then checks it is still served. */
struct storm {
    int port;
    int done, connect_failed, rejected, served, served_again;
    corio_event *release;
};
static struct storm storm;

static int echo_on(int fd, const char *msg) {
    size_t len = strlen(msg);
    if (corio_write(fd, msg, len) < 0) return -EIO;
    char buf[64];
    size_t got = 0;
    while (got < len) {
        ssize_t n = corio_read(fd, buf + got, sizeof buf - got);
        if (n <= 0) return n == 0 ? -EPIPE : (int)n;
        got += (size_t)n;
    }
    return memcmp(buf, msg, len) == 0 ? 0 : -EILSEQ;
}

static int storm_client(void *arg) {
    int k = (int)(intptr_t)arg;
    int fd = corio_tcp_connect("127.0.0.1", storm.port);
    if (fd < 0) {
        storm.connect_failed++;
        storm.done++;
        return 0;
    }
    char msg[32];
    snprintf(msg, sizeof msg, "client %d\n", k);
    corio_timeout scope;
    corio_timeout_enter(&scope, 5000);
    int rc = echo_on(fd, msg);
    corio_timeout_exit(&scope);
    if (rc < 0) { /* shed by the server (a clean close) or never accepted */
        storm.rejected++;
        storm.done++;
        corio_close(fd);
        return 0;
    }
    storm.served++;
    storm.done++;
    rc = corio_event_wait(storm.release);
    if (rc == 0 && echo_on(fd, msg) == 0) storm.served_again++;
    corio_close(fd);
    return 0;
}

static int64_t cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static int noop(void *arg) { return (int)(intptr_t)arg; }

static int main_emfile(void *arg) {
    (void)arg;
    int n = 1000;
    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    memset(&storm, 0, sizeof storm);
    storm.port = e.port;
    storm.release = corio_event_new();
    ASSERT_RC(corio_to_thread(noop, NULL), 0); /* the pool's eventfd and thread exist before the storm */
    int reserve[4];
    for (int i = 0; i < 4; i++) ASSERT_GE(reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);

    corio_task **t = calloc((size_t)n, sizeof *t);
    int *statuses = calloc((size_t)n, sizeof *statuses);
    /* In waves of 25, each settled before the next, so the server gets its turns however slow this machine is
     * (timers would bunch up under load and turn the storm into one burst of client sockets). */
    for (int i = 0; i < n; i += 25) {
        for (int k = i; k < i + 25 && k < n; k++)
            ASSERT_NOT_NULL(t[k] = corio_spawn(storm_client, (void *)(intptr_t)k));
        wait_until(&storm.done, i + 25 < n ? i + 25 : n, 30000);
    }
    ASSERT_EQ(storm.served + storm.rejected + storm.connect_failed, n);
    ASSERT_GT(storm.connect_failed + storm.rejected, 0); /* the limit was really hit */
    if (storm.served < 20)                               /* the server served what it could */
        TEST_FAIL_("served %d, shed or unanswered %d, could not connect %d", storm.served, storm.rejected,
                   storm.connect_failed);
    ASSERT_EQ(corio_server_conns(e.srv), (size_t)storm.served);

    /* Out of descriptors with clients knocking (an outside process, whose connections wait in our backlog):
     * the server must neither spin nor die. The clients that were turned away have closed theirs, so ballast
     * takes every descriptor left; the pool thread gives back the 4 reserved ones for the command's pipes. */
    int ballast[256], nballast = 0;
    while (nballast < 256 && (ballast[nballast] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) nballast++;
    ASSERT_EQ(errno, EMFILE);
    char port[16], script[PATH_MAX];
    snprintf(port, sizeof port, "%d", e.port);
    struct cmd c = {.argv = {"python3", (char *)source_path("tests/client.py", script, sizeof script), "hold", port,
                             "20", "1.0", NULL},
                    .timeout_ms = 20000,
                    .reserve = reserve,
                    .nreserve = 4};
    int started = st.started;
    int64_t cpu0 = cpu_ms(), wall0 = test_now_ms();
    ASSERT_RC(corio_to_thread(run_cmd, &c), 0);
    int64_t cpu = cpu_ms() - cpu0, wall = test_now_ms() - wall0;
    expect_exit_ok(&c);
    ASSERT_GE(wall, 1000);
    ASSERT_LT(cpu, wall / 3); /* a spinning acceptor would burn the whole second */
    int opened = 0, closed = 0;
    ASSERT_EQ(sscanf(c.out, "hold opened %d closed_by_server %d", &opened, &closed), 2);
    ASSERT_EQ(opened, 20);
    /* Each was either refused cleanly (accepted with the spare descriptor and closed at once) or served: none was
     * left hanging in the backlog. Only the 3 descriptors run_cmd closed after the fork were free to serve. */
    ASSERT_EQ(closed + (st.started - started), 20);
    ASSERT_GE(closed, 17);
    for (int64_t end = test_now_ms() + 5000; st.active > storm.served;) {
        ASSERT_LT(test_now_ms(), end);
        ASSERT_RC(corio_sleep(2), 0);
    }
    ASSERT_EQ(corio_server_conns(e.srv), (size_t)storm.served);
    free(c.out);
    for (int i = 0; i < nballast; i++) close(ballast[i]);

    /* the connections it had are still served */
    corio_event_set(storm.release);
    ASSERT_RC(corio_gather(t, (size_t)n, statuses), 0);
    ASSERT_EQ(storm.served_again, storm.served);
    /* descriptors are free again: it accepts again */
    for (int i = 0; i < 20; i++) ASSERT_RC(echo_once(e.port, 100, (unsigned)i), 0);
    env_stop(&e);
    corio_event_free(storm.release);
    free(statuses);
    free(t);
    return 0;
}
TEST_TIMEOUT(out_of_descriptors_keeps_serving, 90) {
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    run_ok(main_emfile, NULL);
}

/* ---- stop, cancel, max_conns ------------------------------------------------------------------------------------ */

/* A handler that waits "forever": only a cancellation ends it. */
static int sleepy_handler(int fd, void *arg) {
    (void)fd;
    (void)arg;
    handler_begin();
    return handler_end(corio_sleep(600000));
}

/* Connects and reads until the connection ends: 0 on the server's close, -errno (a reset, a failed connect), or
 * -EPROTO if a byte came instead. */
static int connect_until_end(int port) {
    int fd = corio_tcp_connect("127.0.0.1", port);
    if (fd < 0) return fd;
    char c;
    ssize_t n = corio_read(fd, &c, 1);
    corio_close(fd);
    return n == 0 ? 0 : n < 0 ? (int)n : -EPROTO;
}

/* Connects and waits for the server to close the connection. */
static int waiting_client(void *arg) { return connect_until_end((int)(intptr_t)arg); }

static int main_stop(void *arg) {
    bool by_cancel = arg != NULL;
    struct env e;
    env_start(&e, sleepy_handler, NULL, NULL);
    corio_task *t[5];
    for (int i = 0; i < 5; i++) t[i] = corio_spawn(waiting_client, (void *)(intptr_t)e.port);
    wait_until(&st.started, 5, 5000);
    ASSERT_EQ(corio_server_conns(e.srv), 5);
    ASSERT_RC(corio_server_free(e.srv), -EBUSY);
    if (by_cancel) {
        ASSERT_RC(corio_cancel(e.runner), 0);
        ASSERT_RC(corio_await(e.runner), 0);
        ASSERT_RC(e.run_rc, -ECANCELED);
    } else {
        corio_server_stop(e.srv);
        ASSERT_RC(corio_await(e.runner), 0);
        ASSERT_RC(e.run_rc, 0);
    }
    /* run returned only after every handler had ended */
    ASSERT_EQ(st.ended, 5);
    ASSERT_EQ(st.cancelled, 5);
    ASSERT_EQ(corio_server_conns(e.srv), 0);
    ASSERT_RC(corio_gather(t, 5, NULL), 0); /* and each client saw its connection closed */
    /* stopped, the server can run again */
    e.runner = corio_spawn(runner_fn, &e);
    ASSERT_RC(corio_yield(), 0);
    int fd = corio_tcp_connect("127.0.0.1", e.port);
    ASSERT_GE(fd, 0);
    wait_until(&st.started, 6, 5000);
    corio_server_stop(e.srv);
    ASSERT_RC(corio_await(e.runner), 0);
    ASSERT_RC(e.run_rc, 0);
    ASSERT_EQ(st.ended, 6);
    corio_close(fd);
    ASSERT_RC(corio_server_free(e.srv), 0);
    return 0;
}
TEST(stop_cancels_and_waits_for_handlers) { run_ok(main_stop, NULL); }
TEST(cancel_of_run_cancels_and_waits_for_handlers) { run_ok(main_stop, (void *)1); }

/* When the main task returns, corio_run cancels the server's task, which still waits for its handlers. */
static int main_return_while_serving(void *arg) {
    struct env *e = arg;
    env_start(e, sleepy_handler, NULL, NULL);
    corio_detach(e->runner);
    corio_detach(corio_spawn(waiting_client, (void *)(intptr_t)e->port));
    wait_until(&st.started, 1, 5000);
    return 0;
}
TEST(loop_end_cancels_a_running_server) {
    struct env e;
    run_ok(main_return_while_serving, &e);
    ASSERT_RC(e.run_rc, -ECANCELED);
    ASSERT_EQ(st.ended, 1);
    ASSERT_RC(corio_server_free(e.srv), 0);
}

static int main_max_conns(void *arg) {
    (void)arg;
    corio_server_opts opts = {.backlog = 0, .max_conns = 3};
    struct env e;
    env_start(&e, echo_handler, (void *)(intptr_t)30, &opts); /* each handler waits 30 ms first */
    struct client cl[12];
    corio_task *t[12];
    for (int i = 0; i < 12; i++) {
        cl[i] = (struct client){.port = e.port, .len = 10, .seed = (unsigned)i};
        t[i] = corio_spawn(client_fn, &cl[i]);
    }
    ASSERT_RC(corio_gather(t, 12, NULL), 0);
    wait_until(&st.ended, 12, 5000);
    ASSERT_EQ(st.max_active, 3);
    ASSERT_EQ(st.max_server_conns, 3);
    env_stop(&e);
    return 0;
}
TEST(max_conns_is_respected) { run_ok(main_max_conns, NULL); }

/* Connects and waits for the end of the connection, a clean close or a reset (a listener closed with it still in
 * the backlog). */
static int closing_client(void *arg) {
    int rc = connect_until_end((int)(intptr_t)arg);
    return rc == -ECONNRESET ? 0 : rc;
}

/* Four clients connect at once to a server that serves one at a time: on io_uring the multishot accept takes
 * more than one before the server finds itself full, and a stop must close those (and leak nothing); elsewhere
 * they wait in the backlog and are reset when the listener closes. */
static int main_stop_while_full(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    corio_server_opts opts = {.max_conns = 1};
    struct env e;
    env_start(&e, sleepy_handler, NULL, &opts);
    ASSERT_RC(corio_yield(), 0); /* the server is waiting for connections */
    corio_task *t[4];
    for (int i = 0; i < 4; i++) ASSERT_NOT_NULL(t[i] = corio_spawn(closing_client, (void *)(intptr_t)e.port));
    wait_until(&st.started, 1, 5000);
    ASSERT_RC(corio_sleep(20), 0); /* room for more to start if max_conns were not kept */
    ASSERT_EQ(st.started, 1);
    ASSERT_EQ(corio_server_conns(e.srv), 1);
    corio_server_stop(e.srv);
    ASSERT_RC(corio_await(e.runner), 0);
    ASSERT_RC(e.run_rc, 0);
    ASSERT_EQ(st.ended, 1);
    ASSERT_RC(corio_server_free(e.srv), 0);
    int statuses[4];
    ASSERT_RC(corio_gather(t, 4, statuses), 0); /* every client saw its connection end: none hangs */
    for (int i = 0; i < 4; i++) ASSERT_RC(statuses[i], 0);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST(stop_while_full_closes_what_was_accepted) { run_ok(main_stop_while_full, NULL); }

/* ---- defer_accept ------------------------------------------------------------------------------------------- */

/* The clients' first bytes, in the order their handlers read them. */
static char named[4];
static int nnamed;

static int naming_handler(int fd, void *arg) {
    (void)arg;
    handler_begin();
    char c;
    ssize_t n = corio_read(fd, &c, 1);
    if (n == 1 && nnamed < (int)sizeof named) named[nnamed++] = c;
    return handler_end(n == 1 ? 0 : (int)n);
}

/* With defer_accept the kernel keeps a silent client from the server, and a client that spoke after it is served
 * first; once the silent one speaks it is served too. Without it, the silent client is accepted at once. */
static int main_defer_accept(void *arg) {
    int defer = (int)(intptr_t)arg;
    corio_server_opts opts = {.defer_accept = defer};
    struct env e;
    env_start(&e, naming_handler, NULL, &opts);
    nnamed = 0;
    int quiet = corio_tcp_connect("127.0.0.1", e.port);
    ASSERT_GE(quiet, 0);
    if (!defer) {
        wait_until(&st.started, 1, 5000); /* accepted with nothing to read */
    } else {
        /* the first retransmitted SYN-ACK, which could end the deferral, is a second away; 30 s allows many */
        ASSERT_RC(corio_sleep(300), 0);
        ASSERT_EQ(st.started, 0);
        ASSERT_EQ(corio_server_conns(e.srv), 0);
        int talker = corio_tcp_connect("127.0.0.1", e.port);
        ASSERT_GE(talker, 0);
        ASSERT_EQ(corio_write(talker, "t", 1), 1);
        wait_until(&st.ended, 1, 5000);
        ASSERT_EQ(nnamed, 1);
        ASSERT_EQ(named[0], 't');
        ASSERT_RC(corio_close(talker), 0);
    }
    ASSERT_EQ(corio_write(quiet, "q", 1), 1);
    wait_until(&st.ended, defer ? 2 : 1, 5000);
    ASSERT_EQ(named[nnamed - 1], 'q');
    ASSERT_EQ(st.last_rc, 0);
    ASSERT_RC(corio_close(quiet), 0);
    env_stop(&e);
    return 0;
}
TEST(defer_accept_serves_talkers_first) { run_ok(main_defer_accept, (void *)(intptr_t)30); }

/* The deferral ends: after about defer_accept seconds (one SYN-ACK retransmission for 1 s) the kernel hands the
 * silent client over anyway, and its handler waits for its bytes as any other. */
static int main_defer_ends(void *arg) {
    (void)arg;
    corio_server_opts opts = {.defer_accept = 1};
    struct env e;
    env_start(&e, naming_handler, NULL, &opts);
    nnamed = 0;
    int64_t t0 = test_now_ms(); /* before the SYN, so the retransmission's 1 s is all in what follows */
    int quiet = corio_tcp_connect("127.0.0.1", e.port);
    ASSERT_GE(quiet, 0);
    wait_until(&st.started, 1, 20000);
    ASSERT_GE(test_now_ms() - t0, 900); /* not at once */
    ASSERT_EQ(corio_write(quiet, "q", 1), 1);
    wait_until(&st.ended, 1, 5000);
    ASSERT_EQ(named[0], 'q');
    ASSERT_RC(corio_close(quiet), 0);
    env_stop(&e);
    return 0;
}
TEST(defer_accept_takes_a_silent_client_in_the_end) { run_ok(main_defer_ends, NULL); }
TEST(without_defer_accept_a_silent_client_is_accepted) { run_ok(main_defer_accept, (void *)(intptr_t)0); }

/* ---- corio_serve, arguments, errors ------------------------------------------------------------------------------ */

static int free_port(void) {
    int fd = corio_tcp_listen("127.0.0.1", 0, 1);
    ASSERT_GE(fd, 0);
    int port = corio_local_port(fd);
    corio_close(fd);
    return port;
}

static int serve_fn(void *arg) { return corio_serve("127.0.0.1", (int)(intptr_t)arg, echo_handler, NULL); }

static int main_serve(void *arg) {
    (void)arg;
    memset(&st, 0, sizeof st);
    int port = free_port();
    corio_task *t = corio_spawn(serve_fn, (void *)(intptr_t)port);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(echo_once(port, 5000, 1), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    /* freed: the port is free again */
    int fd = corio_tcp_listen("127.0.0.1", port, 1);
    ASSERT_GE(fd, 0);
    corio_close(fd);
    ASSERT_RC(corio_serve("127.0.0.1", -1, echo_handler, NULL), -EINVAL);
    return 0;
}
TEST(serve_until_cancelled) { run_ok(main_serve, NULL); }

static int main_bad_args(void *arg) {
    (void)arg;
    memset(&st, 0, sizeof st);
    ASSERT_RC(corio_server_run(NULL), -EINVAL);
    ASSERT_RC(corio_server_port(NULL), -EINVAL);
    ASSERT_EQ(corio_server_conns(NULL), 0);
    ASSERT_RC(corio_server_free(NULL), -EINVAL);
    corio_server_stop(NULL);
    errno = 0;
    ASSERT_NULL(corio_server_new("127.0.0.1", 0, NULL, NULL, NULL));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_server_new("127.0.0.1", 70000, echo_handler, NULL, NULL));
    ASSERT_EQ(errno, EINVAL);
    corio_server_opts bad = {.backlog = -1, .max_conns = 0};
    ASSERT_NULL(corio_server_new("127.0.0.1", 0, echo_handler, NULL, &bad));
    ASSERT_EQ(errno, EINVAL);
    bad = (corio_server_opts){.defer_accept = -1};
    errno = 0;
    ASSERT_NULL(corio_server_new("127.0.0.1", 0, echo_handler, NULL, &bad));
    ASSERT_EQ(errno, EINVAL);

    struct env e;
    env_start(&e, echo_handler, NULL, NULL);
    errno = 0;
    ASSERT_NULL(corio_server_new("127.0.0.1", e.port, echo_handler, NULL, NULL));
    ASSERT_EQ(errno, EADDRINUSE);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_server_run(e.srv), -EBUSY); /* already run by e.runner */
    ASSERT_RC(corio_server_free(e.srv), -EBUSY);
    env_stop(&e);
    return 0;
}
TEST(bad_arguments) { run_ok(main_bad_args, NULL); }

TEST(outside_a_loop) {
    /* a server can be made (and its port known) before corio_run, and freed after */
    corio_server *srv = corio_server_new("127.0.0.1", 0, echo_handler, NULL, NULL);
    ASSERT_NOT_NULL(srv);
    ASSERT_GT(corio_server_port(srv), 0);
    ASSERT_RC(corio_server_run(srv), -EPERM);
    ASSERT_RC(corio_server_free(srv), 0);
}

/* A stop that comes before run makes run return at once. */
static int main_stop_before_run(void *arg) {
    (void)arg;
    corio_server *srv = corio_server_new("127.0.0.1", 0, echo_handler, NULL, NULL);
    corio_server_stop(srv);
    ASSERT_RC(corio_server_run(srv), 0);
    ASSERT_RC(corio_server_free(srv), 0);
    return 0;
}
TEST(stop_before_run) { run_ok(main_stop_before_run, NULL); }

/* ---- examples/echo_server as its own process ----------------------------------------------------------------------
 */

TEST(echo_server_example) {
    char path[PATH_MAX];
    example_path("echo_server", path, sizeof path);
    int out[2];
    ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        /* under qemu-user (make test-aarch64) the example is a foreign binary: run it through the emulator */
        const char *wrapper = getenv("CORIO_TEST_EXEC_WRAPPER");
        if (wrapper && *wrapper)
            execlp(wrapper, wrapper, path, "0", (char *)NULL);
        else
            execl(path, path, "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[64] = {0};
    size_t len = 0;
    while (len < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    int port = 0;
    if (sscanf(line, "listening on port %d", &port) != 1) {
        kill(pid, SIGKILL);
        TEST_FAIL_("%s printed \"%s\"", path, line);
    }
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    struct cmd c = {
        .argv = {"python3", "-c", PY_CLIENT, ports, NULL}, .input = "one\ntwo\n", .inlen = 8, .timeout_ms = 10000};
    ASSERT_RC(run_cmd(&c), 0);
    int status;
    kill(pid, SIGTERM); /* cancels its main task: it stops serving and exits 0 */
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    expect_exit_ok(&c);
    ASSERT_STREQ(c.out, "one\ntwo\n");
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(out[0]);
    free(c.out);
}

/* ---- max_conns, more shapes ------------------------------------------------------------------------------------ */

static char conn_log[64];
static size_t conn_len;
static void conn_step(char c) {
    ASSERT_LT(conn_len, sizeof conn_log - 1);
    conn_log[conn_len++] = c;
    conn_log[conn_len] = '\0';
}

/* An echo handler that logs S when it starts and E when it ends, and first waits 20 ms: long enough for another
 * connection to start meanwhile if the limit let it. */
static int logging_handler(int fd, void *arg) {
    (void)arg;
    handler_begin();
    conn_step('S');
    int rc = corio_sleep(20);
    char buf[256];
    while (rc == 0) {
        ssize_t n = corio_read(fd, buf, sizeof buf);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        ssize_t w = corio_write(fd, buf, (size_t)n);
        if (w < 0) rc = (int)w;
    }
    conn_step('E');
    return handler_end(rc);
}

/* With max_conns 1, four clients that connect at once are served one after another, each to its end. */
static int main_one_at_a_time(void *arg) {
    (void)arg;
    corio_server_opts opts = {.max_conns = 1};
    struct env e;
    env_start(&e, logging_handler, NULL, &opts);
    conn_len = 0;
    conn_log[0] = '\0';
    struct client cl[4];
    corio_task *t[4];
    for (int i = 0; i < 4; i++) {
        cl[i] = (struct client){.port = e.port, .len = 100, .seed = (unsigned)i};
        t[i] = corio_spawn(client_fn, &cl[i]);
        ASSERT_NOT_NULL(t[i]);
    }
    ASSERT_RC(corio_gather(t, 4, NULL), 0);
    wait_until(&st.ended, 4, 5000);
    ASSERT_STREQ(conn_log, "SESESESE");
    ASSERT_EQ(st.max_active, 1);
    ASSERT_EQ(st.max_server_conns, 1);
    env_stop(&e);
    return 0;
}
TEST(max_conns_one_serves_clients_one_after_another) { run_ok(main_one_at_a_time, NULL); }

/* With max_conns 2 and three clients that stay connected, the third is served only once one of the first two has
 * left, and then at once. */
static int main_resumes(void *arg) {
    (void)arg;
    corio_server_opts opts = {.max_conns = 2};
    struct env e;
    env_start(&e, echo_handler, NULL, &opts); /* echoes until the client closes */
    int fd[3];
    for (int i = 0; i < 3; i++) ASSERT_GE(fd[i] = corio_tcp_connect("127.0.0.1", e.port), 0);
    wait_until(&st.started, 2, 5000);
    ASSERT_RC(corio_sleep(50), 0); /* room for the third to start if the limit did not hold */
    ASSERT_EQ(st.started, 2);
    ASSERT_EQ(corio_server_conns(e.srv), 2);
    ASSERT_RC(corio_close(fd[0]), 0);
    wait_until(&st.started, 3, 5000);
    ASSERT_EQ(st.ended, 1);
    ASSERT_EQ(st.max_active, 2);
    ASSERT_EQ(st.max_server_conns, 2);
    /* the third connection is served: an echo goes through */
    ASSERT_EQ(corio_write(fd[2], "ping", 4), 4);
    char buf[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = corio_read(fd[2], buf + got, 4 - got);
        ASSERT_GT(n, 0);
        got += (size_t)n;
    }
    ASSERT_EQ(memcmp(buf, "ping", 4), 0);
    ASSERT_RC(corio_close(fd[1]), 0);
    ASSERT_RC(corio_close(fd[2]), 0);
    wait_until(&st.ended, 3, 5000);
    env_stop(&e);
    return 0;
}
TEST(max_conns_full_server_resumes_when_a_connection_ends) { run_ok(main_resumes, NULL); }
