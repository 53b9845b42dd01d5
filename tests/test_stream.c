/* test_stream.c - tests of buffered streams (corio_stream_*) as corio.h specifies them: lines and delimiters that
 * arrive in small pieces (over socketpairs, a TCP pair and a pipe), read_exactly and early EOF, an endless line
 * against a bounded read_line, 8 MiB written to a slow reader, timeouts that keep buffered data, a reset peer,
 * and bad arguments; failed reads that consume nothing (at EOF, past a limit, a large read_exactly cut short) and
 * at_eof, ported from CPython's Lib/test/test_asyncio/test_streams.py (asyncio hands the bytes over in its
 * exceptions, corio leaves them buffered). Every case runs on epoll, then on io_uring. */
#include <fcntl.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h" /* the loop's spare stream buffers, to see that idle streams hold none */
#include "test.h"

/* Runs fn on the epoll backend, then on io_uring (which falls back to epoll where it is missing). */
static void run_ok(corio_fn fn, void *arg) {
    static const char *const backends[] = {"epoll", "uring"};
    for (size_t i = 0; i < 2; i++) {
        ASSERT_EQ(setenv("CORIO_BACKEND", backends[i], 1), 0);
        ASSERT_RC(corio_run(fn, arg), 0);
    }
}

static void pair(int sv[2]) { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0); }

/* A task writing pieces to fd with a pause between them, then closing fd (the reader sees EOF). */
struct feeder {
    int fd;
    const char *const *pieces; /* NULL-terminated */
    int64_t pause_ms;
    int rc;
};
static int feeder_fn(void *arg) {
    struct feeder *f = arg;
    for (const char *const *p = f->pieces; *p; p++) {
        ssize_t n = corio_write(f->fd, *p, strlen(*p));
        if (n < 0) return f->rc = (int)n;
        if (f->pause_ms >= 0 && (f->rc = corio_sleep(f->pause_ms)) < 0) return f->rc;
    }
    return f->rc = corio_close(f->fd);
}

/* ---- read_line ---------------------------------------------------------------------------------------------- */

static const char *const line_pieces[] = {"hel", "lo\nwor", "ld\n", "\n", "x", "y\nla", "st", NULL};

static void expect_lines(corio_stream *s) {
    char buf[64];
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 6);
    ASSERT_STREQ(buf, "hello\n");
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 6);
    ASSERT_STREQ(buf, "world\n");
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 1);
    ASSERT_STREQ(buf, "\n");
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 3);
    ASSERT_STREQ(buf, "xy\n");
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 4); /* the last line lacks its '\n' */
    ASSERT_STREQ(buf, "last");
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 0);
    ASSERT_STREQ(buf, "");
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 0); /* EOF stays */
}

static int main_lines(void *arg) {
    int64_t pause = (int64_t)(intptr_t)arg;
    int sv[2];
    pair(sv);
    struct feeder f = {.fd = sv[1], .pieces = line_pieces, .pause_ms = pause};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(corio_stream_fd(s), sv[0]);
    expect_lines(s);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_stream_free(s), 0);
    return 0;
}
TEST(read_line_small_pieces_with_pauses) { run_ok(main_lines, (void *)(intptr_t)5); }
TEST(read_line_small_pieces_back_to_back) { run_ok(main_lines, (void *)(intptr_t)0); }

/* A long line arriving one byte per write is assembled correctly (and, with the scan position remembered,
 * in time linear in its length). */
struct dribbler {
    int fd;
    size_t len;
};
static int dribble_fn(void *arg) {
    struct dribbler *d = arg;
    for (size_t i = 0; i < d->len; i++) {
        char c = (char)(i + 1 == d->len ? '\n' : 'a' + i % 26);
        ssize_t n = corio_write(d->fd, &c, 1);
        if (n < 0) return (int)n;
        if (i % 4 == 0 && corio_yield() < 0) return -ECANCELED;
    }
    return corio_close(d->fd);
}
static int main_dribble(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    struct dribbler d = {.fd = sv[1], .len = test_small() ? 5000 : 40000};
    corio_task *t = corio_spawn(dribble_fn, &d);
    corio_stream *s = corio_stream_new(sv[0]);
    char *buf = malloc(d.len + 1);
    ASSERT_EQ(corio_stream_read_line(s, buf, d.len + 1), (int64_t)d.len);
    for (size_t i = 0; i + 1 < d.len; i++) ASSERT_EQ(buf[i], 'a' + i % 26);
    ASSERT_EQ(buf[d.len - 1], '\n');
    ASSERT_EQ(corio_stream_read_line(s, buf, d.len + 1), 0);
    ASSERT_RC(corio_await(t), 0);
    free(buf);
    corio_stream_free(s);
    return 0;
}
TEST(read_line_one_byte_at_a_time) { run_ok(main_dribble, NULL); }

/* The same over TCP on 127.0.0.1. */
static int main_tcp_lines(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(lfd, 0);
    int port = corio_local_port(lfd);
    ASSERT_GT(port, 0);
    int cfd = corio_tcp_connect("127.0.0.1", port);
    ASSERT_GE(cfd, 0);
    int afd = corio_accept(lfd, NULL, NULL);
    ASSERT_GE(afd, 0);
    struct feeder f = {.fd = cfd, .pieces = line_pieces, .pause_ms = 2};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(afd);
    expect_lines(s);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    corio_close(lfd);
    return 0;
}
TEST(read_line_over_tcp) { run_ok(main_tcp_lines, NULL); }

/* And over a pipe. */
static int main_pipe_lines(void *arg) {
    (void)arg;
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    struct feeder f = {.fd = p[1], .pieces = line_pieces, .pause_ms = 1};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(p[0]);
    expect_lines(s);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    return 0;
}
TEST(read_line_over_pipe) { run_ok(main_pipe_lines, NULL); }

/* Found by fuzz/fuzz_stream: a last line (no '\n') of exactly max - 1 bytes fits and is returned, not -EMSGSIZE,
 * whether EOF is already known or arrives after it; one byte more is -EMSGSIZE. */
static int main_last_line_fills_max(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"ab\nabc", NULL};
    for (int64_t pause = -1; pause <= 2; pause += 3) {
        int sv[2];
        pair(sv);
        struct feeder f = {.fd = sv[1], .pieces = pieces, .pause_ms = pause};
        corio_task *t = corio_spawn(feeder_fn, &f);
        corio_stream *s = corio_stream_new(sv[0]);
        char buf[4];
        ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 3);
        ASSERT_STREQ(buf, "ab\n");
        ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 3);
        ASSERT_STREQ(buf, "abc");
        ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 0);
        ASSERT_RC(corio_await(t), 0);
        corio_stream_free(s);
    }
    static const char *const longer[] = {"abcd", NULL};
    int sv[2];
    pair(sv);
    struct feeder f = {.fd = sv[1], .pieces = longer, .pause_ms = 2};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[4];
    ASSERT_RC(corio_stream_read_line(s, buf, sizeof buf), -EMSGSIZE);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    return 0;
}
TEST(read_line_last_line_of_max_minus_one_at_eof) { run_ok(main_last_line_fills_max, NULL); }

/* ---- read_until ------------------------------------------------------------------------------------------- */

static int main_until(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"HEAD\r", "\n\r", "\nBODY--E", "ND-", "-xa", "a", "ab", "tail", NULL};
    int sv[2];
    pair(sv);
    struct feeder f = {.fd = sv[1], .pieces = pieces, .pause_ms = 3};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[64];
    ASSERT_EQ(corio_stream_read_until(s, "\r\n\r\n", 4, buf, sizeof buf), 8);
    ASSERT_EQ(memcmp(buf, "HEAD\r\n\r\n", 8), 0);
    ASSERT_EQ(corio_stream_read_until(s, "--END--", 7, buf, sizeof buf), 11);
    ASSERT_EQ(memcmp(buf, "BODY--END--", 11), 0);
    /* a delimiter that overlaps itself, split over three reads: "aab" inside "xaaab" */
    ASSERT_EQ(corio_stream_read_until(s, "aab", 3, buf, sizeof buf), 5);
    ASSERT_EQ(memcmp(buf, "xaaab", 5), 0);
    /* "tail" then EOF with no delimiter: -EPIPE, and "tail" stays buffered; then 0 (nothing left) */
    ASSERT_RC(corio_stream_read_until(s, "\n", 1, buf, sizeof buf), -EPIPE);
    ASSERT_EQ(corio_stream_at_eof(s), 0);
    ASSERT_EQ(corio_stream_read(s, buf, sizeof buf), 4);
    ASSERT_EQ(memcmp(buf, "tail", 4), 0);
    ASSERT_EQ(corio_stream_at_eof(s), 1);
    ASSERT_EQ(corio_stream_read_until(s, "\n", 1, buf, sizeof buf), 0);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    return 0;
}
TEST(read_until_delimiter_split_across_reads) { run_ok(main_until, NULL); }

static int main_until_too_long(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"0123456789", "abc\r\n", NULL};
    int sv[2];
    pair(sv);
    struct feeder f = {.fd = sv[1], .pieces = pieces, .pause_ms = 2};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[16];
    /* 15 bytes with the delimiter: one more than max; they stay buffered, for a call that allows them */
    ASSERT_RC(corio_stream_read_until(s, "\r\n", 2, buf, 14), -EMSGSIZE);
    ASSERT_EQ(corio_stream_read_until(s, "\r\n", 2, buf, 15), 15);
    ASSERT_EQ(memcmp(buf, "0123456789abc\r\n", 15), 0);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    return 0;
}
TEST(read_until_longer_than_max_is_emsgsize) { run_ok(main_until_too_long, NULL); }

/* ---- read_exactly and read ---------------------------------------------------------------------------------- */

static int main_exactly(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"abc", "def", "ghij", "klmnopqrstuvwxyz", "0123", NULL};
    int sv[2];
    pair(sv);
    struct feeder f = {.fd = sv[1], .pieces = pieces, .pause_ms = 2};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[32];
    ASSERT_RC(corio_stream_read_exactly(s, buf, 5), 0);
    ASSERT_EQ(memcmp(buf, "abcde", 5), 0);
    ASSERT_RC(corio_stream_read_exactly(s, buf, 21), 0);
    ASSERT_EQ(memcmp(buf, "fghijklmnopqrstuvwxyz", 21), 0);
    ASSERT_RC(corio_stream_read_exactly(s, buf, 0), 0);
    /* 4 bytes left, 10 asked: -EPIPE at EOF, and the 4 bytes stay buffered */
    ASSERT_RC(corio_stream_read_exactly(s, buf, 10), -EPIPE);
    ASSERT_EQ(corio_stream_read(s, buf, sizeof buf), 4);
    ASSERT_EQ(memcmp(buf, "0123", 4), 0);
    ASSERT_EQ(corio_stream_read(s, buf, sizeof buf), 0);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    return 0;
}
TEST(read_exactly_and_epipe_at_early_eof) { run_ok(main_exactly, NULL); }

/* A pattern writer for the large transfers: byte i is i % 251 (a prime, so chunk sizes never line up with it). */
static unsigned char pattern(size_t i) { return (unsigned char)(i % 251); }

struct bulk {
    int fd;
    size_t total;
    int rc;
};
static int bulk_writer_fn(void *arg) {
    struct bulk *b = arg;
    unsigned char *buf = malloc(65536);
    size_t off = 0;
    while (off < b->total) {
        size_t n = b->total - off < 65536 ? b->total - off : 65536;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(off + i);
        ssize_t w = corio_write(b->fd, buf, n);
        if (w < 0) break;
        off += n;
    }
    free(buf);
    return b->rc = corio_close(b->fd);
}

/* read_exactly larger than the buffer (straight into the caller's memory), then the rest with read. */
static int main_exactly_large(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    struct bulk b = {.fd = sv[1], .total = (1 << 20) + 1000};
    corio_task *t = corio_spawn(bulk_writer_fn, &b);
    corio_stream *s = corio_stream_new(sv[0]);
    unsigned char first[10];
    ASSERT_RC(corio_stream_read_exactly(s, first, sizeof first), 0);
    unsigned char *big = malloc(1 << 20);
    ASSERT_RC(corio_stream_read_exactly(s, big, 1 << 20), 0);
    for (size_t i = 0; i < sizeof first; i++) ASSERT_EQ(first[i], pattern(i));
    for (size_t i = 0; i < (1 << 20); i++)
        if (big[i] != pattern(i + 10)) ASSERT_EQ(big[i], pattern(i + 10));
    size_t rest = 0;
    for (;;) {
        ssize_t n = corio_stream_read(s, big, 300);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) ASSERT_EQ(big[i], pattern((1 << 20) + 10 + rest + (size_t)i));
        rest += (size_t)n;
    }
    ASSERT_EQ(rest, 990);
    ASSERT_RC(corio_await(t), 0);
    free(big);
    corio_stream_free(s);
    return 0;
}
TEST(read_exactly_larger_than_buffer) { run_ok(main_exactly_large, NULL); }

/* corio_stream_read hands out what read_line left buffered before reading more. */
static int main_read_buffered(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    ASSERT_EQ(write(sv[1], "line\nrest of it", 15), 15);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[64];
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 5);
    ASSERT_EQ(corio_stream_read(s, buf, 4), 4);
    ASSERT_EQ(memcmp(buf, "rest", 4), 0);
    ASSERT_EQ(corio_stream_read(s, buf, sizeof buf), 6);
    ASSERT_EQ(memcmp(buf, " of it", 6), 0);
    ASSERT_EQ(corio_stream_read(s, buf, 0), 0);
    corio_close(sv[1]);
    ASSERT_EQ(corio_stream_read(s, buf, sizeof buf), 0);
    corio_stream_free(s);
    return 0;
}
TEST(read_returns_buffered_bytes_first) { run_ok(main_read_buffered, NULL); }

/* ---- failed reads consume nothing (CPython's test_streams, ported) ----------------------------------------- */

#define DATA "line1\nline2\nline3\n" /* test_streams' DATA, 18 bytes */

/* A stream over a socketpair whose other end gets pieces with a pause between them, then a close (EOF). */
struct fed {
    int sv[2];
    struct feeder f;
    corio_task *t;
    corio_stream *s;
};
static void feed(struct fed *x, const char *const *pieces, int64_t pause_ms) {
    pair(x->sv);
    x->f = (struct feeder){.fd = x->sv[1], .pieces = pieces, .pause_ms = pause_ms};
    x->t = test_spawn(feeder_fn, &x->f);
    x->s = corio_stream_new(x->sv[0]);
    ASSERT_NOT_NULL(x->s);
}
static void fed_end(struct fed *x) {
    ASSERT_RC(corio_await(x->t), 0);
    ASSERT_RC(corio_stream_free(x->s), 0);
}

/* Everything left in s up to EOF, which must equal want. */
static void expect_rest(corio_stream *s, const char *want) {
    size_t len = strlen(want), got = 0;
    char *buf = malloc(len + 1);
    for (;;) {
        ssize_t n = corio_stream_read(s, buf + got, len + 1 - got);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        got += (size_t)n;
        ASSERT_LE(got, len);
    }
    ASSERT_EQ(got, len);
    ASSERT_EQ(memcmp(buf, want, len), 0);
    ASSERT_EQ(corio_stream_at_eof(s), 1);
    free(buf);
}

/* test_readline_limit_with_existing_data, test_readline_limit: asyncio's limit n is a read_line max of n + 2 here
 * (the '\n' and the NUL count). asyncio drops the overlong line; corio keeps it, and every later byte. */
static int main_line_limit(void *arg) {
    (void)arg;
    struct fed x;
    char buf[16];
    static const char *const existing[] = {"li", "ne1\nline2\n", NULL};
    feed(&x, existing, -1);
    ASSERT_RC(corio_stream_read_line(x.s, buf, 4), -EMSGSIZE);
    ASSERT_STREQ(buf, "");
    expect_rest(x.s, "line1\nline2\n");
    fed_end(&x);

    static const char *const no_newline[] = {"li", "ne1", "li", NULL};
    feed(&x, no_newline, 2);
    ASSERT_RC(corio_stream_read_line(x.s, buf, 4), -EMSGSIZE);
    expect_rest(x.s, "line1li");
    fed_end(&x);

    static const char *const one_line[] = {"chunk1", "chunk2", "chunk3\n", NULL};
    feed(&x, one_line, 2);
    ASSERT_RC(corio_stream_read_line(x.s, buf, 9), -EMSGSIZE);
    expect_rest(x.s, "chunk1chunk2chunk3\n");
    fed_end(&x);

    static const char *const two_lines[] = {"chunk1", "chunk2\n", "chunk3\n", NULL};
    feed(&x, two_lines, 2);
    ASSERT_RC(corio_stream_read_line(x.s, buf, 9), -EMSGSIZE);
    ASSERT_EQ(corio_stream_read_line(x.s, buf, sizeof buf), 13); /* a larger max takes the same line */
    ASSERT_STREQ(buf, "chunk1chunk2\n");
    ASSERT_EQ(corio_stream_read_line(x.s, buf, 9), 7);
    ASSERT_STREQ(buf, "chunk3\n");
    ASSERT_EQ(corio_stream_read_line(x.s, buf, 9), 0);
    fed_end(&x);

    /* the limit is strict: 8 bytes with the '\n' fit in max 9, 9 do not */
    static const char *const strict[] = {"1234567\n", "12345678\n", "12345678", "9", NULL};
    feed(&x, strict, 2);
    ASSERT_EQ(corio_stream_read_line(x.s, buf, 9), 8);
    ASSERT_STREQ(buf, "1234567\n");
    ASSERT_RC(corio_stream_read_line(x.s, buf, 9), -EMSGSIZE);
    ASSERT_EQ(corio_stream_read_line(x.s, buf, 10), 9);
    ASSERT_STREQ(buf, "12345678\n");
    ASSERT_RC(corio_stream_read_line(x.s, buf, 9), -EMSGSIZE); /* 9 bytes and no '\n' */
    ASSERT_EQ(corio_stream_read_line(x.s, buf, 10), 9);        /* the last line, at EOF */
    ASSERT_STREQ(buf, "123456789");
    fed_end(&x);
    return 0;
}
TEST(read_line_over_its_limit_keeps_the_bytes) { run_ok(main_line_limit, NULL); }

/* test_readuntil_multi_chunks, test_readuntil_multi_chunks_1 */
static int main_until_chunks(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"lineAAA", "lineAAA", "lineAAAxxx", "QWEaa", "XYaa", "a", "QWEaa", "XYa",
                                         "aa",      "aaa",     "Xaaa",       "XXX",   "a",    "a", "a",     NULL};
    static const char *const records[] = {"lineAAA",    "lineAAA", "lineAAA", NULL,    "xxxQWEaaXYaaa",
                                          "QWEaaXYaaa", "aaa",     "Xaaa",    "XXXaaa"};
    struct fed x;
    feed(&x, pieces, 2);
    char buf[32];
    for (size_t i = 0; i < sizeof records / sizeof records[0]; i++) {
        if (!records[i]) continue; /* the delimiter changes: "AAA" above, "aaa" below */
        const char *delim = i < 3 ? "AAA" : "aaa";
        ssize_t n = corio_stream_read_until(x.s, delim, 3, buf, sizeof buf);
        ASSERT_EQ(n, (ssize_t)strlen(records[i]));
        ASSERT_EQ(memcmp(buf, records[i], (size_t)n), 0);
    }
    ASSERT_EQ(corio_stream_read_until(x.s, "aaa", 3, buf, sizeof buf), 0);
    fed_end(&x);
    return 0;
}
TEST(read_until_across_chunks) { run_ok(main_until_chunks, NULL); }

/* test_readuntil_eof: the partial record asyncio puts in IncompleteReadError.partial stays buffered here. */
static int main_until_eof(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"some dataAA", NULL};
    struct fed x;
    feed(&x, pieces, -1);
    char buf[32];
    ASSERT_RC(corio_stream_read_until(x.s, "AAA", 3, buf, sizeof buf), -EPIPE);
    ASSERT_RC(corio_stream_read_until(x.s, "AAA", 3, buf, sizeof buf), -EPIPE); /* and again: nothing consumed */
    ASSERT_EQ(corio_stream_at_eof(x.s), 0);
    expect_rest(x.s, "some dataAA");
    ASSERT_EQ(corio_stream_read_until(x.s, "AAA", 3, buf, sizeof buf), 0);
    fed_end(&x);
    return 0;
}
TEST(read_until_at_eof_keeps_the_bytes) { run_ok(main_until_eof, NULL); }

/* test_readuntil_limit_found_sep: past the limit, whether the delimiter is found or not, the bytes stay. */
static int main_until_limit(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[32];
    ASSERT_EQ(write(sv[1], "some dataAA", 11), 11);
    ASSERT_RC(corio_stream_read_until(s, "AAA", 3, buf, 6), -EMSGSIZE); /* not found, too long already */
    ASSERT_EQ(write(sv[1], "A", 1), 1);
    ASSERT_RC(corio_stream_read_until(s, "AAA", 3, buf, 6), -EMSGSIZE); /* found, too long */
    ASSERT_EQ(corio_stream_read_until(s, "AAA", 3, buf, sizeof buf), 12);
    ASSERT_EQ(memcmp(buf, "some dataAAA", 12), 0);
    ASSERT_EQ(corio_stream_at_eof(s), 0);
    ASSERT_RC(corio_stream_free(s), 0);
    close(sv[1]);
    return 0;
}
TEST(read_until_over_its_limit_keeps_the_bytes) { run_ok(main_until_limit, NULL); }

/* test_readexactly_zero_or_less, test_readexactly, test_readexactly_eof */
static int main_exactly_ported(void *arg) {
    (void)arg;
    static const char *const three[] = {DATA, DATA, DATA, NULL};
    struct fed x;
    feed(&x, three, 2);
    char buf[64];
    ASSERT_RC(corio_stream_read_exactly(x.s, buf, 0), 0);
    ASSERT_RC(corio_stream_read_exactly(x.s, buf, 36), 0);
    ASSERT_EQ(memcmp(buf, DATA DATA, 36), 0);
    expect_rest(x.s, DATA);
    fed_end(&x);

    static const char *const one[] = {DATA, NULL};
    feed(&x, one, 2);
    ASSERT_RC(corio_stream_read_exactly(x.s, buf, 36), -EPIPE);
    ASSERT_EQ(corio_stream_at_eof(x.s), 0); /* EOF was read, but DATA is still there */
    expect_rest(x.s, DATA);
    ASSERT_RC(corio_stream_read_exactly(x.s, buf, 1), -EPIPE);
    fed_end(&x);
    return 0;
}
TEST(read_exactly_at_eof_keeps_the_bytes) { run_ok(main_exactly_ported, NULL); }

/* test_at_eof. One difference: asyncio knows of EOF as soon as the transport reports it, a corio stream once a
 * read has met it, so the line before EOF leaves at_eof 0 until the next read. */
static int main_at_eof(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[32];
    ASSERT_EQ(corio_stream_at_eof(s), 0);
    ASSERT_EQ(write(sv[1], "some data\n", 10), 10);
    ASSERT_EQ(corio_stream_at_eof(s), 0);
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 10);
    ASSERT_EQ(corio_stream_at_eof(s), 0);
    ASSERT_EQ(write(sv[1], "some data\n", 10), 10);
    ASSERT_EQ(close(sv[1]), 0);
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 10);
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 0);
    ASSERT_EQ(corio_stream_at_eof(s), 1);
    ASSERT_RC(corio_stream_at_eof(NULL), -EINVAL);
    ASSERT_RC(corio_stream_free(s), 0);
    return 0;
}
TEST(at_eof) { run_ok(main_at_eof, NULL); }

/* A writer of the pattern that pauses in the middle: total bytes, the first half, pause_ms, the rest, a close. */
struct halves {
    int fd;
    size_t total;
    int64_t pause_ms;
};
static int halves_fn(void *arg) {
    struct halves *h = arg;
    unsigned char *buf = malloc(h->total);
    for (size_t i = 0; i < h->total; i++) buf[i] = (unsigned char)(i % 251);
    ssize_t n = corio_write(h->fd, buf, h->total / 2);
    int rc = n < 0 ? (int)n : corio_sleep(h->pause_ms);
    if (rc == 0 && (n = corio_write(h->fd, buf + h->total / 2, h->total - h->total / 2)) < 0) rc = (int)n;
    free(buf);
    corio_close(h->fd);
    return rc;
}

/* read_exactly larger than the stream's buffer, straight into the caller's memory, loses nothing either: cut short
 * by a timeout, it returns the bytes to the stream (and the retry gets them all); at EOF, they stay buffered. */
static int main_exactly_large_lossless(void *arg) {
    (void)arg;
    size_t total = 200 * 1024;
    int sv[2];
    pair(sv);
    struct halves h = {.fd = sv[1], .total = total, .pause_ms = 100};
    corio_task *t = test_spawn(halves_fn, &h);
    corio_stream *s = corio_stream_new(sv[0]);
    unsigned char *big = malloc(2 * total);
    ASSERT_RC(corio_stream_read_exactly(s, big, 10), 0); /* some bytes buffered ahead of the large read */
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 30), 0);
    ASSERT_RC(corio_stream_read_exactly(s, big + 10, total - 10), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_RC(corio_stream_read_exactly(s, big + 10, total / 2), 0);
    /* and at EOF: fewer left than asked */
    ASSERT_RC(corio_stream_read_exactly(s, big + 10 + total / 2, total), -EPIPE);
    ASSERT_EQ(corio_stream_at_eof(s), 0);
    size_t got = 10 + total / 2;
    for (;;) {
        ssize_t n = corio_stream_read(s, big + got, 2 * total - got);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        got += (size_t)n;
    }
    ASSERT_EQ(got, total);
    for (size_t i = 0; i < total; i++)
        if (big[i] != i % 251) ASSERT_EQ(big[i], i % 251);
    ASSERT_EQ(corio_stream_at_eof(s), 1);
    ASSERT_RC(corio_await(t), 0);
    free(big);
    ASSERT_RC(corio_stream_free(s), 0);
    return 0;
}
TEST(read_exactly_larger_than_buffer_loses_nothing) { run_ok(main_exactly_large_lossless, NULL); }

/* ---- limits ----------------------------------------------------------------------------------------------- */

/* A 1 MiB line against read_line with max 64 KiB: -EMSGSIZE without waiting for the whole line and without
 * buffering it; the caller skips it with corio_stream_read (the line stays buffered), and the next line is
 * intact. */
static int main_long_line(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    size_t len = 1 << 20;
    char *line = malloc(len + 7);
    memset(line, 'a', len);
    memcpy(line + len, "\nnext\n", 6);
    line[len + 6] = '\0';
    const char *pieces[] = {line, NULL};
    struct feeder f = {.fd = sv[1], .pieces = pieces, .pause_ms = 0};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    size_t max = 64 * 1024;
    char *buf = malloc(max);
#if !defined(__SANITIZE_ADDRESS__)
    struct mallinfo2 before = mallinfo2();
#endif
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_stream_read_line(s, buf, max), -EMSGSIZE);
    ASSERT_LT(test_now_ms() - t0, 2000);
#if !defined(__SANITIZE_ADDRESS__)
    struct mallinfo2 after = mallinfo2();
    /* the stream's buffer grew to max at most, not towards the line's 1 MiB */
    ASSERT_LT((int64_t)after.uordblks - (int64_t)before.uordblks, 2 * (int64_t)max);
#endif
    int fragments = 1;
    size_t skipped = 0;
    ssize_t n;
    for (;;) {
        ssize_t k = corio_stream_read(s, buf, max - 1); /* never past the '\n': it lies beyond max - 1 */
        ASSERT_GT(k, 0);
        for (ssize_t i = 0; i < k; i++) ASSERT_EQ(buf[i], 'a');
        skipped += (size_t)k;
        if ((n = corio_stream_read_line(s, buf, max)) != -EMSGSIZE) break;
        fragments++;
    }
    ASSERT_LE(fragments, (int)(len / (max - 1)) + 2);
    ASSERT_GT(n, 0); /* the line's last piece, ending in '\n' */
    ASSERT_EQ(buf[n - 1], '\n');
    ASSERT_EQ(skipped + (size_t)n, len + 1); /* every byte of it, once */
    ASSERT_EQ(corio_stream_read_line(s, buf, max), 5);
    ASSERT_STREQ(buf, "next\n");
    ASSERT_EQ(corio_stream_read_line(s, buf, max), 0);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    free(buf);
    free(line);
    return 0;
}
TEST_TIMEOUT(huge_line_is_emsgsize_without_hang, 20) { run_ok(main_long_line, NULL); }

/* ---- writing -------------------------------------------------------------------------------------------------- */

struct slow_reader {
    int fd;
    size_t got;
    int rc;
};
static int slow_reader_fn(void *arg) {
    struct slow_reader *r = arg;
    unsigned char buf[32768];
    size_t since_pause = 0;
    for (;;) {
        ssize_t n = corio_read(r->fd, buf, sizeof buf);
        if (n < 0) return r->rc = (int)n;
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(r->got + (size_t)i)) return r->rc = -EILSEQ;
        r->got += (size_t)n;
        since_pause += (size_t)n;
        if (since_pause >= 256 * 1024) { /* slow: the writer keeps finding the socket full */
            since_pause = 0;
            if ((r->rc = corio_sleep(2)) < 0) return r->rc;
        }
    }
    corio_close(r->fd);
    return r->rc = 0;
}

/* 8 MiB through stream_write in pieces of every size class (buffered, filling the buffer, larger than it), then
 * drain, to a reader that pauses: every byte arrives, in order. */
static int main_write_drain(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    struct slow_reader r = {.fd = sv[1]};
    corio_task *t = corio_spawn(slow_reader_fn, &r);
    corio_stream *s = corio_stream_new(sv[0]);
    size_t total = 8U << 20;
    static const size_t sizes[] = {1, 100, 5000, 16383, 16384, 20000, 70000, 3};
    unsigned char *buf = malloc(70000);
    size_t off = 0;
    for (size_t k = 0; off < total; k++) {
        size_t n = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (n > total - off) n = total - off;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(off + i);
        ASSERT_EQ(corio_stream_write(s, buf, n), (int64_t)n);
        off += n;
    }
    ASSERT_RC(corio_stream_drain(s), 0);
    ASSERT_RC(corio_stream_drain(s), 0); /* nothing left: at once */
    ASSERT_RC(corio_stream_free(s), 0);  /* closes: the reader sees EOF */
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(r.rc, 0);
    ASSERT_EQ(r.got, total);
    free(buf);
    return 0;
}
TEST_TIMEOUT(write_and_drain_8mib_to_slow_reader, 30) { run_ok(main_write_drain, NULL); }

/* Small writes stay buffered until drain: the peer sees nothing before. */
static int main_write_buffers(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    corio_stream *s = corio_stream_new(sv[0]);
    ASSERT_EQ(corio_stream_write(s, "hello ", 6), 6);
    ASSERT_EQ(corio_stream_write(s, "world", 5), 5);
    char buf[16];
    ASSERT_EQ(read(sv[1], buf, sizeof buf), -1);
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_RC(corio_stream_drain(s), 0);
    ASSERT_EQ(read(sv[1], buf, sizeof buf), 11);
    ASSERT_EQ(memcmp(buf, "hello world", 11), 0);
    /* dropped unwritten data on free, as documented */
    ASSERT_EQ(corio_stream_write(s, "lost", 4), 4);
    ASSERT_RC(corio_stream_free(s), 0);
    ASSERT_EQ(read(sv[1], buf, sizeof buf), 0);
    close(sv[1]);
    return 0;
}
TEST(small_writes_wait_for_drain) { run_ok(main_write_buffers, NULL); }

/* Writing to a peer that has gone: -EPIPE (or -ECONNRESET), no SIGPIPE. */
static int main_write_closed(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    close(sv[1]);
    corio_stream *s = corio_stream_new(sv[0]);
    ASSERT_EQ(corio_stream_write(s, "x", 1), 1);
    int rc = corio_stream_drain(s);
    ASSERT_TRUE(rc == -EPIPE || rc == -ECONNRESET);
    corio_stream_free(s);
    return 0;
}
TEST(drain_to_closed_peer_fails) { run_ok(main_write_closed, NULL); }

/* ---- timeouts, cancellation, errors --------------------------------------------------------------------------- */

/* A read_line that times out consumes nothing: the retry returns the whole line. The same for read_exactly. */
static int main_timeout_keeps_data(void *arg) {
    (void)arg;
    static const char *const pieces[] = {"partial", " line\n12345", "67890", NULL};
    int sv[2];
    pair(sv);
    struct feeder f = {.fd = sv[1], .pieces = pieces, .pause_ms = 100};
    corio_task *t = corio_spawn(feeder_fn, &f);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[64];
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 30), 0);
    ASSERT_RC(corio_stream_read_line(s, buf, sizeof buf), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_EQ(corio_stream_read_line(s, buf, sizeof buf), 13);
    ASSERT_STREQ(buf, "partial line\n");
    ASSERT_RC(corio_timeout_enter(&scope, 30), 0);
    ASSERT_RC(corio_stream_read_exactly(s, buf, 10), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_RC(corio_stream_read_exactly(s, buf, 10), 0);
    ASSERT_EQ(memcmp(buf, "1234567890", 10), 0);
    ASSERT_RC(corio_await(t), 0);
    corio_stream_free(s);
    return 0;
}
TEST(timeout_keeps_buffered_data) { run_ok(main_timeout_keeps_data, NULL); }

struct line_reader {
    corio_stream *s;
    ssize_t rc;
};
static int line_reader_fn(void *arg) {
    struct line_reader *r = arg;
    char buf[64];
    r->rc = corio_stream_read_line(r->s, buf, sizeof buf);
    return 0;
}
static int main_cancel_read(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    struct line_reader r = {.s = corio_stream_new(sv[0])};
    corio_task *t = corio_spawn(line_reader_fn, &r);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(r.rc, -ECANCELED);
    corio_stream_free(r.s);
    close(sv[1]);
    return 0;
}
TEST(cancelled_read_line_returns_ecanceled) { run_ok(main_cancel_read, NULL); }

/* A peer that resets the TCP connection: read_line reports -ECONNRESET. */
static int main_reset(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    int cfd = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    ASSERT_GE(cfd, 0);
    int afd = corio_accept(lfd, NULL, NULL);
    ASSERT_GE(afd, 0);
    ASSERT_EQ(corio_write(cfd, "no newline", 10), 10);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    corio_close(cfd);
    corio_stream *s = corio_stream_new(afd);
    char buf[64];
    ASSERT_RC(corio_stream_read_line(s, buf, sizeof buf), -ECONNRESET);
    corio_stream_free(s);
    corio_close(lfd);
    return 0;
}
TEST(reset_peer_is_econnreset) { run_ok(main_reset, NULL); }

/* ---- peek and consume, and buffers held only while they hold bytes ------------------------------------------- */

static int main_peek(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    ASSERT_EQ(write(sv[1], "hello world\n", 12), 12);
    corio_stream *s = corio_stream_wrap(sv[0]);
    ASSERT_NOT_NULL(s);
    const void *p;
    ASSERT_EQ(corio_stream_peek(s, &p), 12);
    ASSERT_EQ(memcmp(p, "hello world\n", 12), 0);
    ASSERT_EQ(corio_stream_peek(s, &p), 12); /* a peek consumes nothing */
    ASSERT_RC(corio_stream_consume(s, 6), 0);
    ASSERT_EQ(corio_stream_peek(s, &p), 6);
    ASSERT_EQ(memcmp(p, "world\n", 6), 0);
    ASSERT_RC(corio_stream_consume(s, 7), -EINVAL); /* more than is buffered: nothing consumed */
    char line[16];
    ASSERT_EQ(corio_stream_read_line(s, line, sizeof line), 6); /* the other reads see the same bytes */
    ASSERT_STREQ(line, "world\n");
    ASSERT_RC(corio_stream_consume(s, 0), 0);
    /* all consumed: the buffer went back to the loop's spare slot, for the next stream that needs one */
    ASSERT_NOT_NULL(corio__cur->stream_spare[0]);
    close(sv[1]);
    ASSERT_EQ(corio_stream_peek(s, &p), 0); /* EOF */
    ASSERT_NULL(p);
    ASSERT_RC(corio_stream_peek(NULL, &p), -EINVAL);
    ASSERT_RC(corio_stream_peek(s, NULL), -EINVAL);
    ASSERT_RC(corio_stream_consume(NULL, 0), -EINVAL);
    ASSERT_RC(corio_stream_free(s), 0);
    close(sv[0]);
    return 0;
}
TEST(peek_and_consume) { run_ok(main_peek, NULL); }

struct idle_reader {
    corio_stream *s;
    char line[32];
    ssize_t n;
};
static int idle_reader_fn(void *arg) {
    struct idle_reader *r = arg;
    r->n = corio_stream_read_line(r->s, r->line, sizeof r->line);
    return 0;
}

/* Streams waiting for their peers with nothing buffered hold no buffer: a hundred of them leave the one spare
 * buffer in the loop's slot (each took it to try a read and gave it back), and each still gets its line. */
static int main_idle_streams(void *arg) {
    (void)arg;
    enum { N = 100 };
    static int sv[N][2];
    static struct idle_reader r[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++) {
        pair(sv[i]);
        r[i].s = corio_stream_wrap(sv[i][0]);
        ASSERT_NOT_NULL(r[i].s);
        ASSERT_NOT_NULL(t[i] = corio_spawn(idle_reader_fn, &r[i]));
    }
    for (int k = 0; k < 3; k++) ASSERT_RC(corio_yield(), 0);
    char *spare = corio__cur->stream_spare[0];
    ASSERT_NOT_NULL(spare);
    for (int i = 0; i < N; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "line %d\n", i);
        ASSERT_EQ(write(sv[i][1], msg, (size_t)len), len);
    }
    for (int i = 0; i < N; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        char want[32];
        snprintf(want, sizeof want, "line %d\n", i);
        ASSERT_EQ(r[i].n, (ssize_t)strlen(want));
        ASSERT_STREQ(r[i].line, want);
        ASSERT_RC(corio_stream_free(r[i].s), 0);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    ASSERT_TRUE(corio__cur->stream_spare[0] == spare); /* one buffer served all hundred, one after another */
    return 0;
}
TEST(idle_streams_hold_no_buffer) { run_ok(main_idle_streams, NULL); }

static int main_bad_args(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    corio_stream *s = corio_stream_new(sv[0]);
    char buf[8];
    ASSERT_RC(corio_stream_read(NULL, buf, 1), -EINVAL);
    ASSERT_RC(corio_stream_read(s, NULL, 1), -EINVAL);
    ASSERT_RC(corio_stream_read_exactly(NULL, buf, 1), -EINVAL);
    ASSERT_RC(corio_stream_read_exactly(s, NULL, 1), -EINVAL);
    ASSERT_RC(corio_stream_read_line(NULL, buf, sizeof buf), -EINVAL);
    ASSERT_RC(corio_stream_read_line(s, NULL, sizeof buf), -EINVAL);
    ASSERT_RC(corio_stream_read_line(s, buf, 0), -EINVAL);
    ASSERT_RC(corio_stream_read_line(s, buf, 1), -EINVAL); /* no room for a byte and the NUL */
    ASSERT_RC(corio_stream_read_until(s, "x", 0, buf, sizeof buf), -EINVAL);
    ASSERT_RC(corio_stream_read_until(s, NULL, 1, buf, sizeof buf), -EINVAL);
    ASSERT_RC(corio_stream_read_until(s, "x", 1, NULL, sizeof buf), -EINVAL);
    ASSERT_RC(corio_stream_read_until(s, "x", 1, buf, 0), -EINVAL);
    ASSERT_RC(corio_stream_write(NULL, "x", 1), -EINVAL);
    ASSERT_RC(corio_stream_write(s, NULL, 1), -EINVAL);
    ASSERT_RC(corio_stream_drain(NULL), -EINVAL);
    ASSERT_RC(corio_stream_fd(NULL), -EINVAL);
    ASSERT_RC(corio_stream_free(NULL), -EINVAL);
    corio_stream_free(s);
    close(sv[1]);
    return 0;
}
TEST(bad_arguments) {
    errno = 0;
    ASSERT_NULL(corio_stream_new(-1));
    ASSERT_EQ(errno, EINVAL);
    run_ok(main_bad_args, NULL);
}

TEST(outside_a_loop_is_eperm) {
    int sv[2];
    pair(sv);
    ASSERT_EQ(write(sv[1], "abc\n", 4), 4);
    corio_stream *s = corio_stream_new(sv[0]); /* creating one needs no loop */
    ASSERT_NOT_NULL(s);
    char buf[8];
    ASSERT_RC(corio_stream_read(s, buf, sizeof buf), -EPERM);
    ASSERT_RC(corio_stream_read_line(s, buf, sizeof buf), -EPERM);
    ASSERT_EQ(corio_stream_write(s, "x", 1), 1); /* buffering alone needs no loop either */
    ASSERT_RC(corio_stream_drain(s), -EPERM);
    ASSERT_RC(corio_stream_free(s), 0);
    close(sv[1]);
}
