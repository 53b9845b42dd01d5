/* stream.c - buffered streams over a connected socket or a pipe (asyncio's StreamReader / StreamWriter):
 * read_line, read_until and read_exactly on a read buffer, and a write buffer flushed with one writev. A stream
 * owns its descriptor (corio_stream_new) or borrows it (corio_stream_wrap).
 *
 * Read buffer layout (bytes in [rstart, rend) are buffered and not yet consumed):
 *
 *     rbuf                rstart              rend                rcap
 *     |   consumed        |   buffered         |   free            |
 *
 * A stream holds its buffers only while they hold bytes: the read buffer is taken when a read needs one and given
 * back once everything in it is consumed, the write buffer once it is written out; and a read that has to wait for
 * the peer with nothing buffered waits with no buffer (nginx's and Go's trick for idle keep-alive connections). A
 * buffer given back goes to its loop's spare slot if that is empty (else to free), and a buffer is taken from there
 * first: a wave of requests on 10,000 connections, each consumed before its task suspends, passes one buffer from
 * connection to connection instead of leaving 10,000 freed 16 KiB blocks resident in the heap.
 *
 * The read buffer starts at 16 KiB and grows only while a read_line / read_until needs more room to find its delimiter,
 * never past the max that call was given (so a peer sending an endless line costs at most max bytes of memory), or
 * while a read_exactly larger than it runs, to len bytes, given back when it succeeds. A delimiter search remembers how
 * far it got, so data arriving in small pieces is scanned once, not once per piece (a line of n bytes arriving one byte
 * at a time costs O(n), not O(n^2)).
 *
 * A read that fails consumes nothing: -ECANCELED, -ETIMEDOUT, -EPIPE at EOF, -EMSGSIZE past a limit, any error
 * leave every byte it read in the buffer, for a retry or for corio_stream_read (asyncio hands them over in
 * IncompleteReadError.partial, or leaves them buffered at LimitOverrunError). */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* 16 KiB: one read returns at most what the socket holds anyway, and asyncio's default limit is 64 KiB */
#define RBUF_INIT ((size_t)16 * 1024)
#define WBUF_SIZE ((size_t)16 * 1024)

struct corio_stream {
    int fd;
    bool eof;      /* the peer has finished: sticky, so a terminal's ^D is not read twice */
    bool borrowed; /* corio_stream_wrap: free leaves fd open */
    /* An owned fd made into a stream inside a loop: its registry generation then (corio__fd_gen) and that loop's
     * task_magic. If fd was closed through corio since, the number may be another task's now: free leaves it. */
    bool gen_known;
    uint32_t gen, loop_magic;
    char *rbuf;
    size_t rstart, rend, rcap;
    char *wbuf;
    size_t wstart, wend; /* bytes [wstart, wend) are waiting to be written */
};

static corio_stream *make(int fd, bool borrowed) {
    if (fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    corio_stream *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->fd = fd;
    s->borrowed = borrowed;
    corio__loop *l = corio__cur;
    if (l && !borrowed) {
        if (corio__fd_gen(l, fd, &s->gen) < 0) goto nomem; /* fd >= 0: the only failure is ENOMEM */
        s->loop_magic = l->task_magic;
        s->gen_known = true;
    }
    /* our writev waits on EAGAIN, so the descriptor must not block (corio_read makes sure of it too); a server's
     * connection is known to be non-blocking already, which saves a system call per connection */
    if (!l || !corio__fd_is_stream(l, fd)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return s;
nomem:
    free(s);
    errno = ENOMEM;
    return NULL;
}

corio_stream *corio_stream_new(int fd) { return make(fd, false); }
corio_stream *corio_stream_wrap(int fd) { return make(fd, true); }

int corio_stream_fd(const corio_stream *s) { return s ? s->fd : -EINVAL; }

static size_t buffered(const corio_stream *s) { return s->rend - s->rstart; }

enum { RBUF, WBUF };
static const size_t kind_size[2] = {RBUF_INIT, WBUF_SIZE};

/* A buffer of kind RBUF (RBUF_INIT bytes) or WBUF (WBUF_SIZE): the loop's spare, or a new one (NULL: no memory). */
static char *buf_take(int kind) {
    corio__loop *l = corio__cur;
    char *b = l ? l->stream_spare[kind] : NULL;
    if (b) {
        l->stream_spare[kind] = NULL;
        return b;
    }
    return malloc(kind_size[kind]);
}

/* Gives a buffer of that kind and size back: to the loop's spare slot if it is empty, else to free. */
static void buf_give(int kind, char *b, size_t size) {
    corio__loop *l = corio__cur;
    if (l && !l->stream_spare[kind] && size == kind_size[kind]) {
        l->stream_spare[kind] = b;
        return;
    }
    free(b);
}

void corio__stream_loop_free(corio__loop *l) {
    free(l->stream_spare[RBUF]);
    free(l->stream_spare[WBUF]);
    l->stream_spare[RBUF] = l->stream_spare[WBUF] = NULL;
}

/* The read buffer's size when it is taken (a stream has none while nothing is buffered). */
static size_t rsize(const corio_stream *s) { return s->rbuf ? s->rcap : RBUF_INIT; }

/* Gives the read buffer back: nothing is buffered. */
static void release_read(corio_stream *s) {
    if (s->rbuf) buf_give(RBUF, s->rbuf, s->rcap);
    s->rbuf = NULL;
    s->rcap = s->rstart = s->rend = 0;
}

/* Gives the write buffer back: everything in it is written. */
static void release_write(corio_stream *s) {
    if (s->wbuf) buf_give(WBUF, s->wbuf, WBUF_SIZE);
    s->wbuf = NULL;
    s->wstart = s->wend = 0;
}

static void consume(corio_stream *s, size_t n) {
    s->rstart += n;
    if (s->rstart == s->rend) release_read(s);
}

/* Makes room for at least one more byte after rend without letting the buffer exceed want bytes (want > what is
 * buffered): slides the data down first, grows only if that is not enough. 0 or -ENOMEM. */
static int make_room(corio_stream *s, size_t want) {
    if (s->rend < s->rcap) return 0;
    if (s->rstart > 0) {
        memmove(s->rbuf, s->rbuf + s->rstart, buffered(s));
        s->rend -= s->rstart;
        s->rstart = 0;
        return 0;
    }
    size_t cap = s->rcap * 2;
    if (cap > want) cap = want;
    if (cap <= s->rcap) return -EMSGSIZE; /* callers never ask this (want > what is buffered) */
    char *b = realloc(s->rbuf, cap);
    if (!b) return -ENOMEM;
    s->rbuf = b;
    s->rcap = cap;
    return 0;
}

/* Reads what arrives next into the free end of the buffer (making room up to want bytes in all): the count, 0 at
 * EOF, or -errno. */
static ssize_t fill(corio_stream *s, size_t want) {
    if (s->eof) return 0;
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    ssize_t n;
    if (!s->rbuf) {
        /* nothing buffered, so no buffer held: take one to read into, and should nothing be there, give it back
         * and wait for the peer without one */
        for (;;) {
            if (!(s->rbuf = buf_take(RBUF))) return -ENOMEM;
            s->rcap = RBUF_INIT;
            if ((n = corio__read_try(l, s->fd, s->rbuf, s->rcap)) != -EAGAIN) break;
            release_read(s);
            int rc = corio__fd_wait(l, s->fd, 0);
            if (rc < 0) return rc;
        }
    } else {
        int rc = make_room(s, want);
        if (rc < 0) return rc;
        n = corio_read(s->fd, s->rbuf + s->rend, s->rcap - s->rend);
    }
    if (n > 0) s->rend += (size_t)n;
    if (buffered(s) == 0) release_read(s); /* nothing came: no buffer is held across the next wait */
    if (n == 0) s->eof = true;
    return n;
}

ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len) {
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) return 0;
    if (buffered(s) == 0) {
        if (s->eof) return 0;
        /* a large read goes straight into the caller's buffer: no copy */
        if (len >= rsize(s)) {
            ssize_t n = corio_read(s->fd, buf, len);
            if (n == 0) s->eof = true;
            return n;
        }
        ssize_t n = fill(s, rsize(s));
        if (n <= 0) return n;
    }
    size_t n = buffered(s) < len ? buffered(s) : len;
    memcpy(buf, s->rbuf + s->rstart, n);
    consume(s, n);
    return (ssize_t)n;
}

ssize_t corio_stream_peek(corio_stream *s, const void **data) {
    if (!s || !data) return -EINVAL;
    if (buffered(s) == 0) {
        ssize_t n = fill(s, rsize(s));
        if (n <= 0) {
            *data = NULL;
            return n;
        }
    }
    *data = s->rbuf + s->rstart;
    return (ssize_t)buffered(s);
}

int corio_stream_consume(corio_stream *s, size_t n) {
    if (!s || n > buffered(s)) return -EINVAL;
    if (n) consume(s, n);
    return 0;
}

/* Slides the buffered bytes to the start of the buffer and grows it to hold want bytes: 0 or -ENOMEM. */
static int reserve(corio_stream *s, size_t want) {
    if (s->rstart > 0) {
        memmove(s->rbuf, s->rbuf + s->rstart, buffered(s));
        s->rend -= s->rstart;
        s->rstart = 0;
    }
    if (want <= s->rcap) return 0;
    char *b = realloc(s->rbuf, want);
    if (!b) return -ENOMEM;
    s->rbuf = b;
    s->rcap = want;
    return 0;
}

/* read_exactly of more than the buffer holds. The bytes go straight into buf (no copy, and the grown buffer's
 * pages are never touched), but the buffer is grown to len first, so that a failure can put back everything it
 * read without allocating (it has read less than len); a success gives that room back. */
static int read_exactly_large(corio_stream *s, char *buf, size_t len) {
    size_t cap0 = s->rcap;
    int rc = reserve(s, len);
    if (rc < 0) return rc;
    size_t have = buffered(s); /* at most cap0 < len, now at the start of the buffer */
    memcpy(buf, s->rbuf, have);
    size_t got = have;
    while (got < len) {
        ssize_t n = s->eof ? 0 : corio_read(s->fd, buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) s->eof = true;
        memcpy(s->rbuf + s->rend, buf + have, got - have); /* behind the bytes that were buffered */
        s->rend += got - have;
        return n == 0 ? -EPIPE : (int)n;
    }
    if (cap0 == 0) { /* it had none: it has none again */
        release_read(s);
        return 0;
    }
    s->rstart = s->rend = 0;
    char *b = realloc(s->rbuf, cap0); /* a shrink: should it fail, the larger buffer serves as well */
    if (b) {
        s->rbuf = b;
        s->rcap = cap0;
    }
    return 0;
}

int corio_stream_read_exactly(corio_stream *s, void *buf, size_t len) {
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) return 0; /* buf may be NULL, and memcpy(NULL, p, 0) is undefined */
    if (len > rsize(s)) return read_exactly_large(s, buf, len);
    /* short reads accumulate in the buffer, which is where a failure leaves them */
    while (buffered(s) < len) {
        ssize_t n = fill(s, rsize(s));
        if (n < 0) return (int)n;
        if (n == 0) return -EPIPE;
    }
    memcpy(buf, s->rbuf + s->rstart, len);
    consume(s, len);
    return 0;
}

/* Where the delimiter starts in the buffered bytes, searching from offset from; -1 if it is not there. */
static ssize_t find(const corio_stream *s, size_t from, const void *delim, size_t dlen) {
    size_t n = buffered(s);
    if (from >= n) return -1;
    const char *base = s->rbuf + s->rstart;
    const char *p =
        dlen == 1 ? memchr(base + from, *(const char *)delim, n - from) : memmem(base + from, n - from, delim, dlen);
    return p ? p - base : -1;
}

/* The common part of read_line and read_until: copies the bytes up to and including the delimiter into buf if
 * they fit in limit bytes. At EOF, a partial record is returned if partial_ok, else -EPIPE. A failure consumes
 * nothing: what was read of the record stays buffered. */
static ssize_t read_until(corio_stream *s, const void *delim, size_t dlen, char *buf, size_t limit, bool partial_ok) {
    size_t from = 0; /* no delimiter starts before this offset: only new bytes get scanned */
    for (;;) {
        ssize_t at = find(s, from, delim, dlen);
        if (at >= 0) {
            size_t len = (size_t)at + dlen;
            if (len > limit) return -EMSGSIZE;
            memcpy(buf, s->rbuf + s->rstart, len);
            consume(s, len);
            return (ssize_t)len;
        }
        size_t n = buffered(s);
        /* even a delimiter arriving next would not fit; but a last record of exactly limit bytes fits, so with
         * partial_ok one more byte (at most limit + 1 buffered) tells EOF from an overlong record */
        if (n > limit || (n == limit && !partial_ok)) return -EMSGSIZE;
        from = n >= dlen - 1 ? n - (dlen - 1) : 0;
        ssize_t got = fill(s, partial_ok ? limit + 1 : limit);
        if (got < 0) return got;
        if (got == 0) {
            n = buffered(s);
            if (n == 0) return 0;
            if (!partial_ok) return -EPIPE;
            memcpy(buf, s->rbuf + s->rstart, n);
            consume(s, n);
            return (ssize_t)n;
        }
    }
}

ssize_t corio_stream_read_line(corio_stream *s, char *buf, size_t max) {
    if (!s || !buf || max < 2) return -EINVAL;
    ssize_t n = read_until(s, "\n", 1, buf, max - 1, true);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

ssize_t corio_stream_read_until(corio_stream *s, const void *delim, size_t dlen, void *buf, size_t max) {
    if (!s || !delim || dlen == 0 || !buf || max == 0) return -EINVAL;
    return read_until(s, delim, dlen, buf, max, false);
}

/* Writes the buffered bytes, then extra (may be NULL), in as few system calls as the socket allows: 0 or -errno.
 * What is left of the buffer after a failure stays buffered (a retry of drain resumes it). */
static int write_out(corio_stream *s, const void *extra, size_t elen) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    for (;;) {
        size_t blen = s->wend - s->wstart;
        if (blen == 0 && elen == 0) break;
        struct iovec iov[2];
        int cnt = 0;
        if (blen) iov[cnt++] = (struct iovec){s->wbuf + s->wstart, blen};
        if (elen) iov[cnt++] = (struct iovec){(void *)extra, elen};
        ssize_t n = writev(s->fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return -errno;
            int rc = corio__fd_wait(l, s->fd, 1);
            if (rc < 0) return rc;
            continue;
        }
        size_t done = (size_t)n;
        size_t from_buf = done < blen ? done : blen;
        s->wstart += from_buf;
        done -= from_buf;
        if (done) {
            extra = (const char *)extra + done;
            elen -= done;
        }
    }
    release_write(s); /* all written: the buffer goes back until the next write needs one */
    return 0;
}

ssize_t corio_stream_write(corio_stream *s, const void *buf, size_t len) {
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) return 0; /* buf may be NULL, and memcpy(p, NULL, 0) is undefined */
    if (len > (size_t)SSIZE_MAX) return -EINVAL;
    if (!s->wbuf && len < WBUF_SIZE && !(s->wbuf = buf_take(WBUF))) return -ENOMEM;
    if (s->wbuf && len <= WBUF_SIZE - s->wend) {
        memcpy(s->wbuf + s->wend, buf, len);
        s->wend += len;
        return (ssize_t)len;
    }
    /* it does not fit: a large write goes out together with the buffer (one writev), a small one after it */
    if (len >= WBUF_SIZE) {
        int rc = write_out(s, buf, len);
        return rc < 0 ? rc : (ssize_t)len;
    }
    int rc = write_out(s, NULL, 0);
    if (rc < 0) return rc;
    if (!(s->wbuf = buf_take(WBUF))) return -ENOMEM;
    memcpy(s->wbuf, buf, len);
    s->wend = len;
    return (ssize_t)len;
}

int corio_stream_drain(corio_stream *s) {
    if (!s) return -EINVAL;
    if (s->wend == s->wstart) return 0;
    return write_out(s, NULL, 0);
}

int corio_stream_at_eof(const corio_stream *s) {
    if (!s) return -EINVAL;
    return s->eof && buffered(s) == 0;
}

/* Is s->fd still the descriptor s was given? Not if it was closed through corio meanwhile in the loop that knows
 * (its generation moved): the number may be someone else's now. Elsewhere no corio close could have counted. */
static bool still_owned(const corio_stream *s) {
    corio__loop *l = corio__cur;
    uint32_t gen;
    if (!s->gen_known || !l || l->task_magic != s->loop_magic) return true;
    return corio__fd_gen(l, s->fd, &gen) < 0 || gen == s->gen;
}

int corio_stream_free(corio_stream *s) {
    if (!s) return -EINVAL;
    if (!s->borrowed && still_owned(s)) corio_close(s->fd);
    release_read(s);
    release_write(s);
    free(s);
    return 0;
}

ssize_t corio_stream_writev(corio_stream *s, const struct iovec *iov, int iovcnt) {
    if (!s || iovcnt < 0 || (!iov && iovcnt)) return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if ((!iov[i].iov_base && iov[i].iov_len) || iov[i].iov_len > (size_t)SSIZE_MAX - total) return -EINVAL;
        total += iov[i].iov_len;
    }
    for (int i = 0; i < iovcnt; i++) {
        ssize_t n = corio_stream_write(s, iov[i].iov_base, iov[i].iov_len);
        if (n < 0) return n;
    }
    return (ssize_t)total;
}
