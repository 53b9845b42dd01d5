/* fuzz_stream.c - libFuzzer target for the stream reader (corio_stream_read_line, _read_until, _read_exactly,
 * _read): a writer task sends bytes in fuzzed chunks through a socketpair or a pipe, a reader task runs a fuzzed
 * list of reads on a corio_stream, and every result is checked against a model of the byte sequence.
 *
 * Input encoding (reads past the end give 0 bytes, so every input is valid):
 *   flags      bit 0: a pipe instead of a socketpair; bit 1: the writer waits after each chunk until the reader has
 *              taken it from the descriptor (so chunk boundaries reach the reader; else chunks may merge);
 *              bit 2: the writer ends by cancelling the reader instead of closing (no EOF);
 *              bits 4-7: how many times the payload is repeated (1, 2, 3 ... up to 1024; at most 128 KiB in all)
 *   nchunks    (& 63) then nchunks chunk bytes, used in a cycle: 0 = just yield, else (b & 0x7f) + 1 bytes,
 *              times 128 if b & 0x80
 *   nops       (& 63) then nops operations: [op][size] and, for read_until, its delimiter bytes
 *              op bits 0-1: 0 read_line, 1 read_until, 2 read_exactly, 3 read; bit 2: inside a 0 ms timeout
 *              scope (so only what is buffered can be returned; anything else must be -ETIMEDOUT and consume
 *              nothing); bits 3-4: delimiter length - 1; bits 5-6: size scale: size, size * 16, size * 256,
 *              size + 16384 - 128 (around the stream's initial buffer size)
 *              read_line gets max = size + 2, read_until max = size + 1, read_exactly and read len = size
 *   payload    the rest
 *
 * Invariants: what every read returned is the next bytes of the sequence; read_line returns at most max - 1
 * bytes, NUL-terminated, ending at the first '\n' unless at EOF; read_until ends at the first delimiter, at most
 * max; -EMSGSIZE only when the record really is longer than allowed, after the stream has read at least that
 * many bytes of it; -EPIPE / 0 only at EOF; a failed read (-EMSGSIZE, -EPIPE, -ETIMEDOUT, -ECANCELED) consumes
 * nothing; the stream never buffers more than max(16 KiB, the largest max or read_exactly len given) bytes;
 * corio_run returns 0 and nothing leaks. */
#include <corio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_OPS 63
#define MAX_CHUNKS 63
#define MAX_DATA ((size_t)128 * 1024)
#define RBUF_INIT ((size_t)16 * 1024) /* stream.c's initial read buffer */

enum { OP_LINE, OP_UNTIL, OP_EXACTLY, OP_READ };

struct op {
    int kind;
    bool zero_timeout;
    size_t size;
    uint8_t delim[4];
    size_t dlen;
};

struct script {
    bool use_pipe, handshake, cancel_end;
    uint8_t chunks[MAX_CHUNKS];
    size_t nchunks;
    struct op ops[MAX_OPS];
    size_t nops;
    uint8_t *data; /* the whole byte sequence the writer sends */
    size_t len;
    /* run state */
    int rfd, wfd;
    size_t written; /* bytes the writer has put into the descriptor */
    bool reader_done, writer_done;
    corio_task *reader;
};

/* Bytes written but not yet taken from the descriptor by the reader. */
static size_t in_pipe(const struct script *s) {
    int n = 0;
    FUZZ_CHECK(ioctl(s->rfd, FIONREAD, &n) == 0, "FIONREAD: %s", strerror(errno));
    return (size_t)n;
}

static int writer_fn(void *arg) {
    struct script *s = arg;
    size_t any_write = 0;
    for (size_t i = 0; i < s->nchunks; i++) any_write += s->chunks[i] != 0;
    size_t ci = 0;
    while (s->written < s->len && !s->reader_done) {
        size_t n = s->len - s->written;
        if (any_write) {
            uint8_t b = s->chunks[ci++ % s->nchunks];
            if (b == 0) {
                corio_yield();
                continue;
            }
            size_t want = ((size_t)(b & 0x7f) + 1) * (b & 0x80 ? 128 : 1);
            if (want < n) n = want;
        }
        /* write(2) rather than corio_write, so that written counts every byte the moment it is in the pipe */
        ssize_t rc = write(s->wfd, s->data + s->written, n);
        if (rc < 0 && errno == EAGAIN) {
            if (corio_wait_writable(s->wfd) < 0) break;
            continue;
        }
        if (rc < 0) break; /* the reader finished and closed its end */
        s->written += (size_t)rc;
        /* bounded: the reader either reads or finishes within its next turns */
        while (s->handshake && !s->reader_done && in_pipe(s) > 0) corio_yield();
    }
    s->writer_done = true;
    if (s->cancel_end && !s->reader_done) {
        int rc = corio_cancel(s->reader);
        FUZZ_CHECK(rc == 0, "cancel of a running reader: %d", rc);
    }
    if (!s->cancel_end) {
        corio_close(s->wfd);
        s->wfd = -1;
    }
    return 0;
}

/* Where the record starting at pos ends (just past the first delimiter), or 0 if no delimiter follows. */
static size_t record_end(const struct script *s, size_t pos, const uint8_t *delim, size_t dlen) {
    const uint8_t *p = memmem(s->data + pos, s->len - pos, delim, dlen);
    return p ? (size_t)(p - s->data) + dlen : 0;
}

static int reader_fn(void *arg) {
    struct script *s = arg;
    corio_stream *st = corio_stream_new(s->rfd);
    FUZZ_CHECK(st, "corio_stream_new failed");
    size_t pos = 0;             /* bytes of the sequence the reader has been given (or has skipped) */
    size_t max_buf = RBUF_INIT; /* the most the stream may hold */
    for (size_t i = 0; i < s->nops; i++) {
        const struct op *op = &s->ops[i];
        size_t fd_taken_before = s->written - in_pipe(s);
        FUZZ_CHECK(fd_taken_before >= pos, "the reader got %zu bytes but consumed %zu", fd_taken_before, pos);
        FUZZ_CHECK(fd_taken_before - pos <= max_buf, "the stream buffers %zu bytes (limit %zu)", fd_taken_before - pos,
                   max_buf);
        size_t bufsize = op->size + 2;
        uint8_t *buf = malloc(bufsize); /* exact size: ASan sees any overrun */
        FUZZ_CHECK(buf, "out of memory");
        corio_timeout scope;
        if (op->zero_timeout) corio_timeout_enter(&scope, 0);
        ssize_t n;
        size_t limit = 0;
        const uint8_t *delim = (const uint8_t *)"\n";
        size_t dlen = 1;
        switch (op->kind) {
        case OP_LINE:
            limit = op->size + 1;
            if (limit + 1 > max_buf) max_buf = limit + 1;
            n = corio_stream_read_line(st, (char *)buf, op->size + 2);
            break;
        case OP_UNTIL:
            limit = op->size + 1;
            if (limit > max_buf) max_buf = limit;
            delim = op->delim;
            dlen = op->dlen;
            n = corio_stream_read_until(st, op->delim, op->dlen, buf, op->size + 1);
            break;
        case OP_EXACTLY:
            if (op->size > max_buf) max_buf = op->size; /* a failure puts back what it read straight into buf */
            n = corio_stream_read_exactly(st, buf, op->size);
            break;
        default:
            n = corio_stream_read(st, buf, op->size);
            break;
        }
        int exit_rc = op->zero_timeout ? corio_timeout_exit(&scope) : 0;
        (void)exit_rc;
        bool eof = s->writer_done && !s->cancel_end && s->written == s->len;
        size_t fd_taken = s->written - in_pipe(s);
        size_t left = s->len - pos;
        if (n == -ETIMEDOUT || n == -ECANCELED) {
            FUZZ_CHECK(n == -ECANCELED || op->zero_timeout, "-ETIMEDOUT without a timeout scope");
            FUZZ_CHECK(n == -ETIMEDOUT || s->cancel_end, "-ECANCELED though nobody cancelled");
            goto next;
        }
        switch (op->kind) {
        case OP_LINE:
        case OP_UNTIL: {
            size_t end = record_end(s, pos, delim, dlen);
            size_t rec = end ? end - pos : left; /* the record at pos, as far as it is known */
            if (n > 0) {
                FUZZ_CHECK((size_t)n <= limit, "record of %zd bytes, limit %zu", n, limit);
                FUZZ_CHECK(memcmp(buf, s->data + pos, (size_t)n) == 0, "bytes differ at %zu", pos);
                if (end)
                    FUZZ_CHECK((size_t)n == rec, "record of %zd bytes, the delimiter ends it at %zu", n, rec);
                else
                    FUZZ_CHECK(op->kind == OP_LINE && eof && (size_t)n == left,
                               "record of %zd bytes without a delimiter, %zu left, eof %d", n, left, eof);
                if (op->kind == OP_LINE) FUZZ_CHECK(buf[n] == '\0', "line not NUL-terminated");
                pos += (size_t)n;
            } else if (n == 0) {
                FUZZ_CHECK(eof && left == 0, "0 (EOF) with %zu bytes left, eof %d", left, eof);
                if (op->kind == OP_LINE) FUZZ_CHECK(buf[0] == '\0', "empty line not NUL-terminated");
            } else if (n == -EPIPE) { /* the partial record stays buffered */
                FUZZ_CHECK(op->kind == OP_UNTIL && eof && !end && left > 0 && left < limit,
                           "-EPIPE with %zu left, record end %zu, eof %d", left, end, eof);
            } else if (n == -EMSGSIZE) { /* the record stays buffered */
                /* too long: past the delimiter, or (an unterminated record) never more than limit bytes known,
                 * and read_line may return a last line of exactly limit bytes */
                bool too_long = end ? rec > limit : op->kind == OP_LINE ? left > limit : left >= limit;
                FUZZ_CHECK(too_long, "-EMSGSIZE for a record of %zu bytes (delimited %d), limit %zu", rec, end != 0,
                           limit);
                FUZZ_CHECK(fd_taken >= pos + limit, "-EMSGSIZE after only %zu bytes", fd_taken - pos);
            } else {
                FUZZ_CHECK(false, "read_line/until: unexpected %zd (%s)", n, corio_err_name((int)n));
            }
            break;
        }
        case OP_EXACTLY:
            if (n == 0) {
                FUZZ_CHECK(left >= op->size, "read_exactly(%zu) with %zu left", op->size, left);
                FUZZ_CHECK(op->size == 0 || memcmp(buf, s->data + pos, op->size) == 0, "bytes differ at %zu", pos);
                pos += op->size;
            } else { /* what it read stays buffered */
                FUZZ_CHECK(n == -EPIPE && eof && left < op->size, "read_exactly(%zu): %zd with %zu left, eof %d",
                           op->size, n, left, eof);
            }
            break;
        default:
            if (n > 0) {
                FUZZ_CHECK((size_t)n <= op->size && (size_t)n <= left, "read(%zu) gave %zd, %zu left", op->size, n,
                           left);
                FUZZ_CHECK(memcmp(buf, s->data + pos, (size_t)n) == 0, "bytes differ at %zu", pos);
                pos += (size_t)n;
            } else {
                FUZZ_CHECK(n == 0 && (op->size == 0 || (eof && left == 0)), "read(%zu): %zd with %zu left, eof %d",
                           op->size, n, left, eof);
            }
            break;
        }
    next:
        free(buf);
    }
    s->reader_done = true;
    corio_stream_free(st);
    return 0;
}

static int main_fn(void *arg) {
    struct script *s = arg;
    corio_stats before;
    FUZZ_CHECK(corio_stats_get(&before) == 0, "stats");
    int sv[2];
    if (s->use_pipe)
        FUZZ_CHECK(pipe2(sv, O_NONBLOCK | O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    else
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
                   strerror(errno));
    s->rfd = sv[0];
    s->wfd = sv[1];
    s->reader = corio_spawn(reader_fn, s);
    corio_task *w = corio_spawn(writer_fn, s);
    FUZZ_CHECK(s->reader && w, "spawn failed");
    int rc = corio_await(w);
    FUZZ_CHECK(rc == 0, "writer: %d", rc);
    rc = corio_await(s->reader);
    FUZZ_CHECK(rc == 0, "reader: %d", rc);
    if (s->wfd >= 0) corio_close(s->wfd);
    corio_stats after;
    FUZZ_CHECK(corio_stats_get(&after) == 0 && after.tasks == before.tasks, "tasks %zu, before %zu", after.tasks,
               before.tasks);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const unsigned reps[16] = {1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 8, 16, 64, 256, 1024};
    static const size_t scale[4] = {1, 16, 256, 1};
    fuzz_in in = {data, size};
    struct script s = {0};
    uint8_t flags = fuzz_byte(&in);
    s.use_pipe = flags & 1;
    s.handshake = flags & 2;
    s.cancel_end = flags & 4;
    s.nchunks = fuzz_byte(&in) & 63;
    for (size_t i = 0; i < s.nchunks; i++) s.chunks[i] = fuzz_byte(&in);
    s.nops = fuzz_byte(&in) & 63;
    for (size_t i = 0; i < s.nops; i++) {
        struct op *op = &s.ops[i];
        uint8_t b = fuzz_byte(&in);
        op->kind = b & 3;
        op->zero_timeout = b & 4;
        op->dlen = ((b >> 3) & 3) + 1;
        int sc = (b >> 5) & 3;
        op->size = fuzz_byte(&in) * scale[sc] + (sc == 3 ? RBUF_INIT - 128 : 0);
        if (op->kind == OP_UNTIL)
            for (size_t j = 0; j < op->dlen; j++) op->delim[j] = fuzz_byte(&in);
    }
    size_t plen = in.left;
    size_t rep = reps[flags >> 4];
    if (plen && rep > MAX_DATA / plen) rep = MAX_DATA / plen ? MAX_DATA / plen : 1;
    s.len = plen * rep;
    s.data = malloc(s.len + 1);
    FUZZ_CHECK(s.data, "out of memory");
    for (size_t r = 0; plen && r < rep; r++) memcpy(s.data + r * plen, in.p, plen);
    int rc = corio_run(main_fn, &s);
    FUZZ_CHECK(rc == 0, "corio_run: %d", rc);
    free(s.data);
    return 0;
}
