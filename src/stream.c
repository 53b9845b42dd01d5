/* stream.c - buffered streams over a connected socket or a pipe (asyncio's StreamReader / StreamWriter):
 * read_line, read_until and read_exactly on a read buffer, and a write buffer flushed with one writev.
 *
 * Read buffer layout (bytes in [rstart, rend) are buffered and not yet consumed):
 *
 *     rbuf                rstart              rend                rcap
 *     |   consumed        |   buffered         |   free            |
 *
 * It starts at 16 KiB and grows only while a read_line / read_until needs more room to find its delimiter, never
 * past the max that call was given, so a peer sending an endless line costs at most max bytes of memory.
 * A delimiter search remembers how far it got, so data arriving in small pieces is scanned once, not once per
 * piece (a line of n bytes arriving one byte at a time costs O(n), not O(n^2)).
 *
 * A call that fails with -ECANCELED or -ETIMEDOUT consumes nothing it had buffered: the caller can retry. */
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
    bool eof; /* the peer has finished: sticky, so a terminal's ^D is not read twice */
    char *rbuf;
    size_t rstart, rend, rcap;
    char *wbuf;
    size_t wstart, wend; /* bytes [wstart, wend) are waiting to be written */
};

corio_stream *corio_stream_new(int fd) {
    if (fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    corio_stream *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->rbuf = malloc(RBUF_INIT);
    s->wbuf = malloc(WBUF_SIZE);
    if (!s->rbuf || !s->wbuf) goto nomem;
    s->rcap = RBUF_INIT;
    s->fd = fd;
    /* our writev waits on EAGAIN, so the descriptor must not block (corio_read makes sure of it too) */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return s;
nomem:
    if (s) {
        free(s->rbuf);
        free(s->wbuf);
        free(s);
    }
    errno = ENOMEM;
    return NULL;
}

int corio_stream_fd(const corio_stream *s) { return s ? s->fd : -EINVAL; }

static size_t buffered(const corio_stream *s) { return s->rend - s->rstart; }

static void consume(corio_stream *s, size_t n) {
    s->rstart += n;
    if (s->rstart == s->rend) s->rstart = s->rend = 0;
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
    int rc = make_room(s, want);
    if (rc < 0) return rc;
    ssize_t n = corio_read(s->fd, s->rbuf + s->rend, s->rcap - s->rend);
    if (n > 0) s->rend += (size_t)n;
    if (n == 0) s->eof = true;
    return n;
}

ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len) {
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) return 0;
    if (buffered(s) == 0) {
        if (s->eof) return 0;
        /* a large read goes straight into the caller's buffer: no copy */
        if (len >= s->rcap) {
            ssize_t n = corio_read(s->fd, buf, len);
            if (n == 0) s->eof = true;
            return n;
        }
        ssize_t n = fill(s, s->rcap);
        if (n <= 0) return n;
    }
    size_t n = buffered(s) < len ? buffered(s) : len;
    memcpy(buf, s->rbuf + s->rstart, n);
    consume(s, n);
    return (ssize_t)n;
}

int corio_stream_read_exactly(corio_stream *s, void *buf, size_t len) {
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) return 0; /* buf may be NULL, and memcpy(NULL, p, 0) is undefined */
    /* Short reads accumulate in the stream's buffer, so a cancelled call loses nothing; only a read larger than
     * the buffer goes to the caller's memory piece by piece (and then a failure loses what was read). */
    if (len <= s->rcap) {
        while (buffered(s) < len) {
            ssize_t n = fill(s, s->rcap);
            if (n < 0) return (int)n;
            if (n == 0) {
                s->rstart = s->rend = 0;
                return -EPIPE;
            }
        }
        memcpy(buf, s->rbuf + s->rstart, len);
        consume(s, len);
        return 0;
    }
    size_t got = buffered(s);
    memcpy(buf, s->rbuf + s->rstart, got);
    consume(s, got);
    while (got < len) {
        ssize_t n = s->eof ? 0 : corio_read(s->fd, (char *)buf + got, len - got);
        if (n < 0) return (int)n;
        if (n == 0) {
            s->eof = true;
            return -EPIPE;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Where the delimiter starts in the buffered bytes, searching from offset from; -1 if it is not there. */
static ssize_t find(const corio_stream *s, size_t from, const void *delim, size_t dlen) {
    const char *base = s->rbuf + s->rstart;
    size_t n = buffered(s);
    if (from >= n) return -1;
    const char *p =
        dlen == 1 ? memchr(base + from, *(const char *)delim, n - from) : memmem(base + from, n - from, delim, dlen);
    return p ? p - base : -1;
}

/* The common part of read_line and read_until: copies the bytes up to and including the delimiter into buf if
 * they fit in limit bytes. At EOF, a partial record is returned if partial_ok, else -EPIPE. */
static ssize_t read_until(corio_stream *s, const void *delim, size_t dlen, char *buf, size_t limit, bool partial_ok) {
    size_t from = 0; /* no delimiter starts before this offset: only new bytes get scanned */
    for (;;) {
        ssize_t at = find(s, from, delim, dlen);
        if (at >= 0) {
            size_t len = (size_t)at + dlen;
            if (len > limit) {
                consume(s, len); /* the record is lost, but the stream is at the next one */
                return -EMSGSIZE;
            }
            memcpy(buf, s->rbuf + s->rstart, len);
            consume(s, len);
            return (ssize_t)len;
        }
        size_t n = buffered(s);
        /* even a delimiter arriving next would not fit; but a last record of exactly limit bytes fits, so with
         * partial_ok one more byte (at most limit + 1 buffered) tells EOF from an overlong record */
        if (n > limit || (n == limit && !partial_ok)) {
            consume(s, n);
            return -EMSGSIZE;
        }
        from = n >= dlen - 1 ? n - (dlen - 1) : 0;
        ssize_t got = fill(s, partial_ok ? limit + 1 : limit);
        if (got < 0) return got;
        if (got == 0) {
            n = buffered(s);
            if (n == 0) return 0;
            if (!partial_ok) {
                consume(s, n);
                return -EPIPE;
            }
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
    s->wstart = s->wend = 0;
    return 0;
}

ssize_t corio_stream_write(corio_stream *s, const void *buf, size_t len) {
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) return 0; /* buf may be NULL, and memcpy(p, NULL, 0) is undefined */
    if (len > (size_t)SSIZE_MAX) return -EINVAL;
    if (len <= WBUF_SIZE - s->wend) {
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
    memcpy(s->wbuf, buf, len);
    s->wend = len;
    return (ssize_t)len;
}

int corio_stream_drain(corio_stream *s) {
    if (!s) return -EINVAL;
    if (s->wend == s->wstart) return 0;
    return write_out(s, NULL, 0);
}

int corio_stream_free(corio_stream *s) {
    if (!s) return -EINVAL;
    corio_close(s->fd);
    free(s->rbuf);
    free(s->wbuf);
    free(s);
    return 0;
}
