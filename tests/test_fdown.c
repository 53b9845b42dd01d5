/* test_fdown.c - descriptor ownership: corio never closes a descriptor number it does not own at that moment.
 * A task keeps opening pipes and /dev/null and checks that each stays open, and the same file, until it closes
 * it itself, while 1,000 server handlers give their connection to a stream and free it, borrow it with
 * corio_stream_wrap, corio_close it themselves, or leave it to the server; a stream or a process whose
 * descriptor was already closed through corio leaves the number's next owner alone; corio_server_run returns
 * with its connections closed. Each case runs on epoll and on io_uring (which falls back to epoll where it is
 * missing), in its own process. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

static void run_on(const char *backend, corio_fn fn, void *arg) {
    ASSERT_EQ(setenv("CORIO_BACKEND", backend, 1), 0);
    ASSERT_RC(corio_run(fn, arg), 0);
}

/* ---- a task that owns descriptors and watches them -------------------------------------------------------- */

#define HELD 64

/* A descriptor the opener owns, and the file it opened under that number. */
struct held {
    int fd;
    dev_t dev;
    ino_t ino;
};

struct opener {
    bool stop;
    long opened;
    int closed_under_it; /* descriptors found closed (F_GETFD: EBADF) before the opener closed them */
    int replaced;        /* descriptors found to be another file: closed under it, and the number reused */
    struct held h[HELD];
    size_t n;
};

static void hold(struct opener *o, int fd) {
    ASSERT_GE(fd, 0);
    struct stat sb;
    ASSERT_EQ(fstat(fd, &sb), 0);
    o->h[o->n++] = (struct held){.fd = fd, .dev = sb.st_dev, .ino = sb.st_ino};
    o->opened++;
}

/* Is h still open and the same file? Counts what it finds otherwise. */
static bool intact(struct opener *o, const struct held *h) {
    struct stat sb;
    if (fcntl(h->fd, F_GETFD) < 0) {
        ASSERT_EQ(errno, EBADF);
        o->closed_under_it++;
        return false;
    }
    ASSERT_EQ(fstat(h->fd, &sb), 0);
    if (sb.st_dev != h->dev || sb.st_ino != h->ino) {
        o->replaced++;
        return false;
    }
    return true;
}

/* Checks everything held; closes (itself, with close(2): they are its own) the oldest ones that are intact. A
 * descriptor found broken is dropped without a close: its number is someone else's now. */
static void check_and_trim(struct opener *o, size_t keep) {
    size_t j = 0;
    for (size_t i = 0; i < o->n; i++)
        if (intact(o, &o->h[i])) o->h[j++] = o->h[i];
    o->n = j;
    if (o->n <= keep) return;
    size_t drop = o->n - keep;
    for (size_t i = 0; i < drop; i++) ASSERT_EQ(close(o->h[i].fd), 0);
    memmove(o->h, o->h + drop, (o->n - drop) * sizeof o->h[0]);
    o->n -= drop;
}

/* Opens a pipe (each has its own inode) or /dev/null every turn, so that it takes every number a connection
 * frees as soon as it is free; runs until told to stop, then closes what it holds. */
static int opener_fn(void *arg) {
    struct opener *o = arg;
    for (long turn = 0; !o->stop; turn++) {
        if (turn % 3 == 2) {
            hold(o, open("/dev/null", O_RDONLY | O_CLOEXEC));
        } else {
            int p[2];
            ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
            hold(o, p[0]);
            hold(o, p[1]);
        }
        check_and_trim(o, HELD - 2);
        int rc = corio_yield();
        if (rc < 0) return rc;
    }
    check_and_trim(o, 0);
    return 0;
}

/* ---- handlers ---------------------------------------------------------------------------------------------- */

enum {
    GIVE_TO_STREAM,      /* corio_stream_new, corio_stream_free, return: the natural handler */
    GIVE_THEN_SUSPEND,   /* the same, then a suspension before it returns */
    BORROW_WITH_WRAP,    /* corio_stream_wrap, corio_stream_free, return: the server closes */
    CLOSE_ITSELF,        /* corio_close(fd), a suspension, return */
    LEAVE_TO_THE_SERVER, /* plain reads and writes, return */
    NMODES
};

struct churn {
    struct opener o;
    corio_server *srv;
    int port;
    int handled, handler_errors;
    int next_mode;
};

static int reply(corio_stream *s) {
    char line[64];
    ssize_t n = corio_stream_read_line(s, line, sizeof line);
    if (n < 0) return (int)n;
    if (corio_stream_write(s, "pong\n", 5) < 0) return -EIO;
    return corio_stream_drain(s);
}

static int churn_handler(int fd, void *arg) {
    struct churn *c = arg;
    int mode = c->next_mode++ % NMODES, rc = 0;
    c->handled++;
    corio_stream *s;
    char line[64];
    switch (mode) {
    case GIVE_TO_STREAM:
    case GIVE_THEN_SUSPEND:
        s = corio_stream_new(fd);
        ASSERT_NOT_NULL(s);
        rc = reply(s);
        corio_stream_free(s);
        if (mode == GIVE_THEN_SUSPEND && rc == 0) rc = corio_yield();
        break;
    case BORROW_WITH_WRAP:
        s = corio_stream_wrap(fd);
        ASSERT_NOT_NULL(s);
        rc = reply(s);
        corio_stream_free(s);
        ASSERT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC); /* still open: the server closes it */
        break;
    case CLOSE_ITSELF:
        ASSERT_RC(corio_close(fd), 0);
        rc = corio_yield();
        break;
    default:
        if (corio_read(fd, line, sizeof line) <= 0 || corio_write(fd, "pong\n", 5) < 0) rc = -EIO;
        break;
    }
    if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE) c->handler_errors++;
    return 0;
}

/* One client connection: sends a line, reads until the server closes (some handlers close without answering). */
static int client_once(int port) {
    int fd = corio_tcp_connect("127.0.0.1", port);
    if (fd < 0) return fd;
    int rc = (int)corio_write(fd, "ping\n", 5);
    char buf[64];
    ssize_t n;
    while (rc >= 0 && (n = corio_read(fd, buf, sizeof buf)) != 0)
        if (n < 0) rc = n == -ECONNRESET ? 0 : (int)n;
    corio_close(fd);
    return rc < 0 ? rc : 0;
}

#define CLIENTS 20
/* 1,000 connections; 200 where each costs far more (valgrind, ThreadSanitizer, qemu) */
static int conns_each(void) { return test_small() ? 10 : 50; }

static int client_fn(void *arg) {
    struct churn *c = arg;
    for (int i = 0; i < conns_each(); i++) {
        int rc = client_once(c->port);
        if (rc < 0) return rc;
    }
    return 0;
}

static int server_fn(void *arg) { return corio_server_run(arg); }

static int main_churn(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    struct churn c;
    memset(&c, 0, sizeof c);
    c.srv = corio_server_new("127.0.0.1", 0, churn_handler, &c, NULL);
    ASSERT_NOT_NULL(c.srv);
    c.port = corio_server_port(c.srv);
    corio_task *server = test_spawn(server_fn, c.srv);
    corio_task *opener = test_spawn(opener_fn, &c.o);
    corio_task *clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) clients[i] = test_spawn(client_fn, &c);
    int statuses[CLIENTS];
    ASSERT_RC(corio_gather(clients, CLIENTS, statuses), 0);
    for (int i = 0; i < CLIENTS; i++) ASSERT_RC(statuses[i], 0);
    corio_server_stop(c.srv);
    ASSERT_RC(corio_await(server), 0);
    c.o.stop = true;
    ASSERT_RC(corio_await(opener), 0);
    ASSERT_EQ(c.handled, CLIENTS * conns_each());
    ASSERT_EQ(c.handler_errors, 0);
    ASSERT_GT(c.o.opened, CLIENTS * conns_each()); /* it kept opening while the connections came and went */
    /* none of the opener's descriptors was closed by anyone but the opener */
    ASSERT_EQ(c.o.closed_under_it, 0);
    ASSERT_EQ(c.o.replaced, 0);
    ASSERT_RC(corio_server_free(c.srv), 0);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST(handlers_never_close_a_foreign_descriptor_epoll) { run_on("epoll", main_churn, NULL); }
TEST(handlers_never_close_a_foreign_descriptor_uring) { run_on("uring", main_churn, NULL); }

/* ---- the server's end ---------------------------------------------------------------------------------------- */

struct ending {
    int started, ended;
};

/* Reads until EOF or until the server's stop cancels it; every other one through a stream that owns fd. */
static int reading_handler(int fd, void *arg) {
    struct ending *e = arg;
    char buf[64];
    bool own = e->started++ % 2;
    corio_stream *s = own ? corio_stream_new(fd) : NULL;
    while ((own ? corio_stream_read(s, buf, sizeof buf) : corio_read(fd, buf, sizeof buf)) > 0) {
    }
    if (own) corio_stream_free(s);
    e->ended++;
    return 0;
}

#define ENDING_CONNS 100

/* When corio_server_run returns, every connection it accepted is closed: those whose handlers ended on their own
 * (their clients closed first) and those cancelled by the stop, whose closes io_uring would otherwise do only at
 * the loop's next poll. */
static int main_run_end(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    struct ending e = {0};
    corio_server *srv = corio_server_new("127.0.0.1", 0, reading_handler, &e, NULL);
    ASSERT_NOT_NULL(srv);
    corio_task *server = test_spawn(server_fn, srv);
    int port = corio_server_port(srv), fds[ENDING_CONNS];
    for (int i = 0; i < ENDING_CONNS; i++) ASSERT_GE(fds[i] = corio_tcp_connect("127.0.0.1", port), 0);
    while (e.started < ENDING_CONNS) ASSERT_RC(corio_sleep(1), 0);
    for (int i = 0; i < ENDING_CONNS / 2; i++) ASSERT_RC(corio_close(fds[i]), 0);
    while (e.ended < ENDING_CONNS / 2) ASSERT_RC(corio_sleep(1), 0);
    corio_server_stop(srv);
    ASSERT_RC(corio_await(server), 0);
    ASSERT_EQ(e.ended, ENDING_CONNS);
    /* the listening socket and the clients still open, nothing else */
    ASSERT_EQ(test_open_fds(), fds0 + 1 + ENDING_CONNS / 2);
    for (int i = ENDING_CONNS / 2; i < ENDING_CONNS; i++) ASSERT_RC(corio_close(fds[i]), 0);
    ASSERT_RC(corio_server_free(srv), 0);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST(server_run_returns_with_its_connections_closed_epoll) { run_on("epoll", main_run_end, NULL); }
TEST(server_run_returns_with_its_connections_closed_uring) { run_on("uring", main_run_end, NULL); }

/* ---- streams and processes ------------------------------------------------------------------------------------ */

/* corio_stream_wrap borrows: free leaves fd open and usable, and nothing is left behind once its owner closes it. */
static int main_wrap(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int round = 0; round < 3; round++) { /* one descriptor, wrapped again and again */
        corio_stream *s = corio_stream_wrap(sv[0]);
        ASSERT_NOT_NULL(s);
        ASSERT_EQ(corio_stream_fd(s), sv[0]);
        ASSERT_EQ(write(sv[1], "ping\n", 5), 5);
        char line[16];
        ASSERT_EQ(corio_stream_read_line(s, line, sizeof line), 5);
        ASSERT_EQ(corio_stream_write(s, "pong\n", 5), 5);
        ASSERT_RC(corio_stream_drain(s), 0);
        ASSERT_RC(corio_stream_free(s), 0);
        ASSERT_EQ(fcntl(sv[0], F_GETFD), FD_CLOEXEC);
        ASSERT_EQ(read(sv[1], line, sizeof line), 5);
        ASSERT_EQ(memcmp(line, "pong\n", 5), 0);
    }
    ASSERT_EQ(test_open_fds(), fds0 + 2);
    ASSERT_RC(corio_close(sv[0]), 0);
    ASSERT_RC(corio_close(sv[1]), 0);
    ASSERT_EQ(test_open_fds(), fds0);
    errno = 0;
    ASSERT_NULL(corio_stream_wrap(-1));
    ASSERT_EQ(errno, EINVAL);
    return 0;
}
TEST(stream_wrap_leaves_fd_open_epoll) { run_on("epoll", main_wrap, NULL); }
TEST(stream_wrap_leaves_fd_open_uring) { run_on("uring", main_wrap, NULL); }

/* A stream whose descriptor its user already closed with corio_close does not close the number again when freed:
 * by then it is the descriptor opened next. */
static int main_closed_under_stream(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    corio_stream *s = corio_stream_new(sv[0]);
    ASSERT_NOT_NULL(s);
    ASSERT_RC(corio_close(sv[0]), 0);
    struct opener o = {0};
    hold(&o, open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(o.h[0].fd, sv[0]); /* the lowest free number */
    ASSERT_RC(corio_stream_free(s), 0);
    check_and_trim(&o, 0);
    ASSERT_EQ(o.closed_under_it + o.replaced, 0);
    ASSERT_RC(corio_close(sv[1]), 0);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST(stream_free_leaves_a_reused_number_alone_epoll) { run_on("epoll", main_closed_under_stream, NULL); }
TEST(stream_free_leaves_a_reused_number_alone_uring) { run_on("uring", main_closed_under_stream, NULL); }

/* A pipe lent by corio_process_fd and given to a stream that closes it: corio_process_close_fd and
 * corio_process_free must not close its number again, by then someone else's. */
static int main_process_pipe(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    corio_process_opts opts = {.stdin_mode = CORIO_STDIO_PIPE, .stdout_mode = CORIO_STDIO_PIPE};
    char *argv[] = {"cat", NULL};
    corio_process *p = corio_process_spawn("cat", argv, &opts);
    ASSERT_NOT_NULL(p);
    corio_stream *in = corio_stream_new(corio_process_fd(p, 0));
    corio_stream *out = corio_stream_new(corio_process_fd(p, 1));
    ASSERT_EQ(corio_stream_write(in, "hello\n", 6), 6);
    ASSERT_RC(corio_stream_drain(in), 0);
    ASSERT_RC(corio_stream_free(in), 0); /* closes stdin: cat sees EOF */
    char line[16];
    ASSERT_EQ(corio_stream_read_line(out, line, sizeof line), 6);
    ASSERT_STREQ(line, "hello\n");
    ASSERT_RC(corio_stream_free(out), 0);
    struct opener o = {0};
    for (int i = 0; i < 2; i++) { /* two pipes take the two numbers just freed, and more */
        int pp[2];
        ASSERT_EQ(pipe2(pp, O_CLOEXEC), 0);
        hold(&o, pp[0]);
        hold(&o, pp[1]);
    }
    ASSERT_RC(corio_process_close_fd(p, 0), -EBADF);
    int status;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_RC(corio_process_free(p), 0);
    check_and_trim(&o, 0);
    ASSERT_EQ(o.closed_under_it + o.replaced, 0);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST(process_pipe_closed_by_its_stream_is_not_closed_again_epoll) { run_on("epoll", main_process_pipe, NULL); }
TEST(process_pipe_closed_by_its_stream_is_not_closed_again_uring) { run_on("uring", main_process_pipe, NULL); }

/* The registry gives back a chunk of entries once its descriptors are all closed (a server's drop from a peak),
 * and the generations of the chunk made again start above the old ones: a stream that was lent a number before
 * the trim never takes the later descriptor of that number for its own. An open descriptor's chunk stays. */
#include "internal.h"
static int main_registry_trim(void *arg) {
    (void)arg;
    enum { N = 600 };
    static int fds[N];
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; i < N; i++) ASSERT_GE(fds[i] = fcntl(sv[0], F_DUPFD_CLOEXEC, 300), 0);
    corio__loop *l = corio__cur;
    int hi = fds[N - 1];
    ASSERT_GE(hi, 512); /* some chunk holds our numbers only */
    /* each number registered (a zero-length read prepares it), a stream owning the highest */
    char b;
    for (int i = 0; i < N - 1; i++) ASSERT_EQ(corio_read(fds[i], &b, 0), 0);
    corio_stream *s = corio_stream_new(hi);
    ASSERT_NOT_NULL(s);
    for (int i = 0; i < N - 1; i++) ASSERT_RC(corio_close(fds[i]), 0);
    size_t c = (size_t)hi / 256, c0 = (size_t)fds[0] / 256 + 1;
    corio__fd_registry_trim(l);
    ASSERT_NOT_NULL(l->fd_chunks[c]); /* hi is open: its chunk stays */
    ASSERT_NULL(l->fd_chunks[c0]);    /* every number of this one is closed */
    uint32_t floor = l->fd_gen_floor;
    ASSERT_GT(floor, 0);
    /* the stream's number closed through corio and reused: the stream leaves the new descriptor alone */
    ASSERT_RC(corio_close(hi), 0);
    int again = fcntl(sv[1], F_DUPFD_CLOEXEC, hi);
    ASSERT_EQ(again, hi);
    ASSERT_RC(corio_stream_free(s), 0);
    ASSERT_EQ(fcntl(again, F_GETFD) >= 0, 1);
    /* a number of the trimmed chunk, registered again: a generation above the old ones */
    int x = fcntl(sv[1], F_DUPFD_CLOEXEC, (int)(c0 * 256));
    ASSERT_EQ((size_t)x / 256, c0);
    uint32_t gen;
    ASSERT_RC(corio__fd_gen(l, x, &gen), 0);
    ASSERT_GE(gen, floor);
    ASSERT_RC(corio_close(x), 0);
    ASSERT_RC(corio_close(again), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
TEST(registry_trim_keeps_ownership_epoll) { run_on("epoll", main_registry_trim, NULL); }
TEST(registry_trim_keeps_ownership_uring) { run_on("uring", main_registry_trim, NULL); }
