/* test_io.c - corio_read and corio_write on stream sockets, each case on both backends (io_uring, where it is
 * built and the kernel allows it, hands the kernel the buffer itself: src/io.c native_io): a cancelled or
 * timed-out read loses no byte, corio_close wakes a reader and the number can be reused at once, a large write
 * goes through a slow reader whole, a write stuck on a full socket can be cancelled, timed out or closed, and a
 * compact task's buffers on its stack still work. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#define NUM(p) ((int)(intptr_t)(p))
#define VAL(i) ((void *)(intptr_t)(i))

/* Runs fn on the epoll backend, then on io_uring (which falls back to epoll where it is missing). */
static void on_both_backends(corio_fn fn) {
    static const char *const backends[] = {"epoll", "uring"};
    for (size_t i = 0; i < 2; i++) {
        ASSERT_EQ(setenv("CORIO_BACKEND", backends[i], 1), 0);
        ASSERT_RC(corio_run(fn, NULL), 0);
    }
}

static void pair(int sv[2]) { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0); }

/* A short first read leaves the socket drained: the next read is the one that waits in the kernel. */
static void read_short(int fd, int peer) {
    char buf[64];
    ASSERT_EQ(write(peer, "x", 1), 1);
    ASSERT_EQ(corio_read(fd, buf, sizeof buf), 1);
    ASSERT_EQ(buf[0], 'x');
}

static void read_exact(int fd, const char *want) {
    char buf[64] = {0};
    ssize_t n = corio_read(fd, buf, sizeof buf - 1);
    ASSERT_EQ(n, (ssize_t)strlen(want));
    ASSERT_STREQ(buf, want);
}

static int main_timeout(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    read_short(sv[0], sv[1]);
    for (int round = 0; round < 3; round++) { /* the same descriptor again: no request of it stays behind */
        corio_timeout scope;
        ASSERT_RC(corio_timeout_enter(&scope, 20), 0);
        char buf[64];
        ASSERT_RC(corio_read(sv[0], buf, sizeof buf), -ETIMEDOUT);
        ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
        ASSERT_EQ(write(sv[1], "after", 5), 5);
        read_exact(sv[0], "after");
    }
    ASSERT_RC(corio_close(sv[0]), 0);
    ASSERT_RC(corio_close(sv[1]), 0);
    return 0;
}

TEST(read_timed_out_loses_no_byte) { on_both_backends(main_timeout); }

static int reader(void *arg) {
    char buf[64];
    return (int)corio_read(NUM(arg), buf, sizeof buf);
}

static int main_cancel(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    read_short(sv[0], sv[1]);
    corio_task *t = test_spawn(reader, VAL(sv[0]));
    test_settle();
    ASSERT_RC(corio_task_done(t), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_EQ(write(sv[1], "kept", 4), 4);
    read_exact(sv[0], "kept");
    /* bytes that arrive just before the cancellation: either the reader returns them or they stay to be read */
    for (int round = 0; round < 20; round++) {
        t = test_spawn(reader, VAL(sv[0]));
        test_settle();
        ASSERT_EQ(write(sv[1], "race", 4), 4);
        ASSERT_RC(corio_cancel(t), 0);
        int rc = corio_await(t);
        if (rc == -ECANCELED)
            read_exact(sv[0], "race");
        else
            ASSERT_RC(rc, 4);
        read_short(sv[0], sv[1]);
    }
    ASSERT_RC(corio_close(sv[0]), 0);
    ASSERT_RC(corio_close(sv[1]), 0);
    return 0;
}

TEST(read_cancelled_loses_no_byte) { on_both_backends(main_cancel); }

static int main_close(void *arg) {
    (void)arg;
    for (int round = 0; round < 3; round++) {
        int sv[2];
        pair(sv);
        read_short(sv[0], sv[1]);
        corio_task *t = test_spawn(reader, VAL(sv[0]));
        test_settle();
        ASSERT_RC(corio_close(sv[0]), 0);
        ASSERT_RC(corio_await(t), -EBADF);
        ASSERT_RC(corio_close(sv[1]), 0);
        /* the numbers come back at once, while the kernel may still be ending the closed one's request */
        int sw[2];
        pair(sw);
        read_short(sw[0], sw[1]);
        ASSERT_EQ(write(sw[1], "next", 4), 4);
        read_exact(sw[0], "next");
        ASSERT_RC(corio_write(sw[0], "back", 4), 4);
        char buf[8] = {0};
        ASSERT_EQ(read(sw[1], buf, sizeof buf), 4);
        ASSERT_STREQ(buf, "back");
        ASSERT_RC(corio_close(sw[0]), 0);
        ASSERT_RC(corio_close(sw[1]), 0);
    }
    return 0;
}

TEST(close_wakes_a_reader_and_the_number_is_reused) { on_both_backends(main_close); }

#define BIG (8 << 20)

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + (i >> 12)); }

static int big_writer(void *arg) {
    unsigned char *buf = malloc(BIG);
    ASSERT_NOT_NULL(buf);
    for (size_t i = 0; i < BIG; i++) buf[i] = pattern(i);
    ssize_t n = corio_write(NUM(arg), buf, BIG);
    free(buf);
    ASSERT_RC(corio_close(NUM(arg)), 0);
    return n == BIG ? 0 : (int)n;
}

static int main_big(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    corio_task *t = test_spawn(big_writer, VAL(sv[1]));
    size_t got = 0;
    char buf[3000]; /* odd-sized reads, with a pause now and then: the writer fills the socket and waits */
    for (;;) {
        ssize_t n = corio_read(sv[0], buf, sizeof buf);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] != pattern(got + (size_t)i)) TEST_FAIL_("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
        if (got % 7 == 0) ASSERT_RC(corio_sleep(1), 0);
    }
    ASSERT_EQ(got, BIG);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_close(sv[0]), 0);
    return 0;
}

TEST(large_write_to_a_slow_reader) { on_both_backends(main_big); }

static int stuck_writer(void *arg) {
    char *buf = calloc(1, BIG);
    ASSERT_NOT_NULL(buf);
    ssize_t n = corio_write(NUM(arg), buf, BIG); /* nobody reads: it fills the socket and waits */
    free(buf);                                   /* the kernel must be done with it by now */
    return (int)n;
}

static int main_write_stuck(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    /* cancelled */
    corio_task *t = test_spawn(stuck_writer, VAL(sv[0]));
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_RC(corio_task_done(t), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    /* timed out */
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 20), 0);
    char *buf = calloc(1, BIG);
    ASSERT_NOT_NULL(buf);
    ASSERT_RC(corio_write(sv[0], buf, BIG), -ETIMEDOUT);
    free(buf);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    /* closed under it by another task */
    t = test_spawn(stuck_writer, VAL(sv[0]));
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_RC(corio_close(sv[0]), 0);
    ASSERT_RC(corio_await(t), -EBADF);
    ASSERT_RC(corio_close(sv[1]), 0);
    return 0;
}

TEST(write_to_a_full_socket_cancelled_timed_out_closed) { on_both_backends(main_write_stuck); }

/* Echoes with its buffer on the shared stack: those bytes move while it is suspended, so they are never handed
 * to the kernel. */
static int compact_echo(void *arg) {
    char buf[100];
    for (;;) {
        ssize_t n = corio_read(NUM(arg), buf, sizeof buf);
        if (n <= 0) return (int)n;
        if (corio_write(NUM(arg), buf, (size_t)n) != n) return -EIO;
    }
}

static int main_compact(void *arg) {
    (void)arg;
    enum { N = 8 };
    int sv[N][2];
    corio_task *t[N];
    corio_task_opts opts = {.compact = 1};
    for (int i = 0; i < N; i++) {
        pair(sv[i]);
        t[i] = corio_spawn_opts(compact_echo, VAL(sv[i][0]), &opts);
        ASSERT_NOT_NULL(t[i]);
    }
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < N; i++) {
            char msg[32], back[32] = {0};
            int len = snprintf(msg, sizeof msg, "message %d to %d", round, i);
            ASSERT_RC(corio_write(sv[i][1], msg, (size_t)len), len);
            ssize_t got = 0;
            while (got < len) {
                ssize_t n = corio_read(sv[i][1], back + got, sizeof back - 1 - (size_t)got);
                ASSERT_GT(n, 0);
                got += n;
            }
            ASSERT_STREQ(back, msg);
        }
    for (int i = 0; i < N; i++) {
        ASSERT_RC(corio_close(sv[i][1]), 0);
        ASSERT_RC(corio_await(t[i]), 0);
        ASSERT_RC(corio_close(sv[i][0]), 0);
    }
    return 0;
}

TEST(compact_tasks_read_into_their_stack) { on_both_backends(main_compact); }

/* A descriptor number that cannot be open costs nothing: corio_read(INT_MAX) grew the fd registry to fit it
 * (64 MiB until corio_run returned) before answering -EBADF. The heap's size must not move. */
#include <limits.h>
#include <malloc.h>
static int main_huge_fd(void *arg) {
    (void)arg;
    char b;
    size_t before = mallinfo2().arena + mallinfo2().hblkhd;
    int fds[] = {INT_MAX, INT_MAX - 1, 1 << 24, 1 << 20, 99999};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        ASSERT_RC(corio_read(fds[i], &b, 1), -EBADF);
        ASSERT_RC(corio_write(fds[i], &b, 1), -EBADF);
        ASSERT_RC(corio_wait_readable(fds[i]), -EBADF);
        ASSERT_RC(corio_close(fds[i]), -EBADF);
    }
    size_t after = mallinfo2().arena + mallinfo2().hblkhd;
    ASSERT_LT(after, before + 256 * 1024);
    return 0;
}
TEST(huge_bad_descriptor_costs_no_memory) { on_both_backends(main_huge_fd); }

/* corio_writev writes every buffer in order, across short writes and a full socket, on both backends; the stream's
 * writev buffers them in order too; bad arguments write nothing. */
#include <sys/uio.h>
struct wv {
    int fd;
    size_t got;
    unsigned char sum;
};
static int wv_reader(void *arg) {
    struct wv *r = arg;
    unsigned char buf[4096];
    for (;;) {
        ssize_t n = corio_read(r->fd, buf, sizeof buf);
        if (n <= 0) return (int)n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != (unsigned char)(r->got % 251)) return -EPROTO; /* out of order or lost */
            r->got++;
        }
    }
}
static int main_writev(void *arg) {
    (void)arg;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    enum { PARTS = 5, PART = 300 * 1000 };
    unsigned char *data = malloc((size_t)PARTS * PART);
    ASSERT_NOT_NULL(data);
    for (size_t i = 0; i < (size_t)PARTS * PART; i++) data[i] = (unsigned char)(i % 251);
    struct iovec iov[PARTS + 1];
    for (int i = 0; i < PARTS; i++) iov[i] = (struct iovec){data + (size_t)i * PART, PART};
    iov[PARTS] = (struct iovec){NULL, 0}; /* an empty buffer is fine */
    struct wv r = {.fd = sv[1]};
    corio_task *t = corio_spawn(wv_reader, &r);
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(corio_writev(sv[0], iov, PARTS + 1), (ssize_t)PARTS * PART);
    corio_stream *s = corio_stream_wrap(sv[0]);
    ASSERT_NOT_NULL(s);
    unsigned char tail[3] = {(unsigned char)((PARTS * PART) % 251), (unsigned char)((PARTS * PART + 1) % 251),
                             (unsigned char)((PARTS * PART + 2) % 251)};
    struct iovec small[2] = {{tail, 1}, {tail + 1, 2}};
    ASSERT_EQ(corio_stream_writev(s, small, 2), 3);
    ASSERT_RC(corio_stream_drain(s), 0);
    ASSERT_RC(corio_stream_free(s), 0);
    ASSERT_RC(corio_shutdown(sv[0], SHUT_WR), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(r.got, (size_t)PARTS * PART + 3);
    /* bad arguments */
    struct iovec bad = {NULL, 5};
    ASSERT_RC(corio_writev(sv[0], NULL, 1), -EINVAL);
    ASSERT_RC(corio_writev(sv[0], iov, -1), -EINVAL);
    ASSERT_RC(corio_writev(sv[0], &bad, 1), -EINVAL);
    ASSERT_RC(corio_writev(sv[0], iov, 0), 0);
    ASSERT_RC(corio_writev(-1, iov, 1), -EBADF);
    ASSERT_RC(corio_stream_writev(NULL, iov, 1), -EINVAL);
    free(data);
    ASSERT_RC(corio_close(sv[0]), 0);
    ASSERT_RC(corio_close(sv[1]), 0);
    return 0;
}
TEST(writev_in_order_across_a_full_socket) { on_both_backends(main_writev); }
TEST(writev_outside_a_task_is_eperm) {
    struct iovec v = {"x", 1};
    ASSERT_RC(corio_writev(1, &v, 1), -EPERM);
}

/* The peer's EOF reported before the socket's first read (the loop saw it while the task slept): the first read
 * returns the bytes, short, and the second must still see the EOF, though no further edge will announce it. It
 * was lost on epoll: the first read's preparation cleared what the readiness report had set. */
#include <netinet/in.h>
static int main_eof_before_first_read(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 4);
    ASSERT_GE(lfd, 0);
    int fd = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    ASSERT_GE(fd, 0);
    int peer = accept(lfd, NULL, NULL);
    ASSERT_GE(peer, 0);
    ASSERT_EQ(write(peer, "hello", 5), 5);
    ASSERT_EQ(shutdown(peer, SHUT_WR), 0);
    ASSERT_RC(corio_sleep(10), 0); /* the loop polls: data and the hang-up are reported now */
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 5000), 0);
    char buf[64];
    ASSERT_EQ(corio_read(fd, buf, sizeof buf), 5);
    ASSERT_EQ(corio_read(fd, buf, sizeof buf), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    ASSERT_RC(corio_close(fd), 0);
    close(peer);
    ASSERT_RC(corio_close(lfd), 0);
    return 0;
}
TEST(eof_seen_before_the_first_read_is_kept) { on_both_backends(main_eof_before_first_read); }
