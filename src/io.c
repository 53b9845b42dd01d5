/* io.c - waiting on file descriptors: the per-loop registry of descriptors the backend watches, the waits, and
 * the basic reads, writes and close that every other I/O file builds on; on io_uring, stream sockets' reads and
 * writes handed to the kernel as native requests.
 *
 * The registry is indexed by descriptor number in chunks of 256 entries that never move (tasks' wait-list nodes
 * and native requests point into them). A descriptor is prepared on first use (made non-blocking), armed with the
 * backend by its first wait, one time each, and forgotten by corio_close. Each forgetting bumps the entry's
 * generation: a server that handed fd to its handler, or a stream given fd, closes it afterwards only if the
 * generation has not moved, so never a number that was closed meanwhile and may now be another task's. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#define CHUNK 256

corio__fdent *corio__fd_entry(corio__loop *l, int fd, int *rc) {
    if (fd < 0) {
        *rc = -EBADF;
        return NULL;
    }
    size_t c = (size_t)fd / CHUNK;
    /* A chunk is made for a descriptor only if it is open: corio_read(INT_MAX, ...) would otherwise grow the
     * registry to 64 MiB for an -EBADF. One fcntl per new chunk, 256 descriptors apart. */
    if ((c >= l->fd_nchunks || !l->fd_chunks[c]) && fcntl(fd, F_GETFD) < 0) {
        *rc = -EBADF;
        return NULL;
    }
    if (c >= l->fd_nchunks) {
        size_t n = l->fd_nchunks ? l->fd_nchunks : 4;
        while (n <= c) n *= 2;
        /* an array of pointers: sizeof *chunks is meant (clang-tidy < 16 has no WarnOnSizeOfPointerToAggregate) */
        corio__fdent **chunks = realloc(l->fd_chunks, n * sizeof *chunks); // NOLINT(bugprone-sizeof-expression)
        if (!chunks) goto nomem;
        for (size_t i = l->fd_nchunks; i < n; i++) chunks[i] = NULL;
        l->fd_chunks = chunks;
        l->fd_nchunks = n;
    }
    if (!l->fd_chunks[c]) {
        corio__fdent *chunk = calloc(CHUNK, sizeof *chunk);
        if (!chunk) goto nomem;
        for (size_t i = 0; i < CHUNK; i++) {
            chunk[i].gen = l->fd_gen_floor;
            corio__list_init(&chunk[i].readers);
            corio__list_init(&chunk[i].writers);
            corio__list_init(&chunk[i].watchers);
        }
        l->fd_chunks[c] = chunk;
    }
    return &l->fd_chunks[c][(size_t)fd % CHUNK];
nomem:
    *rc = -ENOMEM;
    return NULL;
}

static corio__fdent *lookup(corio__loop *l, int fd) {
    if (fd < 0 || (size_t)fd / CHUNK >= l->fd_nchunks || !l->fd_chunks[(size_t)fd / CHUNK]) return NULL;
    return &l->fd_chunks[(size_t)fd / CHUNK][(size_t)fd % CHUNK];
}

/* Is e as corio__fd_entry made it, but for its generation: nothing waits on it or watches it, no request of
 * it is in flight, and corio has learnt nothing about its descriptor? */
static bool entry_unused(const corio__fdent *e) {
    return corio__list_empty(&e->readers) && corio__list_empty(&e->writers) && corio__list_empty(&e->watchers) &&
           !e->ops[0].busy && !e->ops[1].busy && !e->ops[0].task && !e->ops[1].task && !e->cb && !e->armed &&
           !e->nonblock && !e->stream && !e->drained && !e->hup && !e->fresh;
}

void corio__fd_registry_trim(corio__loop *l) {
    for (size_t c = 0; c < l->fd_nchunks; c++) {
        corio__fdent *chunk = l->fd_chunks[c];
        if (!chunk) continue;
        uint32_t top = l->fd_gen_floor;
        size_t i = 0;
        for (; i < CHUNK && entry_unused(&chunk[i]); i++)
            if (chunk[i].gen >= top) top = chunk[i].gen + 1;
        if (i < CHUNK) continue;
        /* A descriptor still open may be lent out with its generation (a stream, a server's connection): only a
         * chunk of closed numbers goes, and the generations of the one made for them again start above its own,
         * so an owner that lent a number out before can never take a later descriptor of it for its own. */
        i = 0;
        while (i < CHUNK && fcntl((int)(c * CHUNK + i), F_GETFD) < 0 && errno == EBADF) i++;
        if (i < CHUNK) continue;
        free(chunk);
        l->fd_chunks[c] = NULL;
        l->fd_gen_floor = top;
    }
}

void corio__outside_unbalanced(enum corio__outside kind) {
    (void)fprintf(stderr, "corio: internal error: more waits on the %s ended than began\n",
                  kind == CORIO__OUTSIDE_IO ? "kernel or the thread pool" : "other threads");
    abort();
}

void corio__fd_registry_free(corio__loop *l) {
    for (size_t i = 0; i < l->fd_nchunks; i++) free(l->fd_chunks[i]);
    free(l->fd_chunks);
    l->fd_chunks = NULL;
    l->fd_nchunks = 0;
}

static void wake_list(corio__loop *l, corio__link *q, int rc) {
    corio_task *t;
    while ((t = corio__first_waiter(q))) corio__wake(l, t, rc);
}

void corio__fd_ready(corio__loop *l, int fd, bool readable, bool writable, bool hup) {
    corio__fdent *e = lookup(l, fd);
    if (!e) return;
    if (e->cb) {
        if (readable) e->cb(l, fd, e->cb_data);
        return;
    }
    if (hup) e->hup = true;
    if (readable) {
        e->drained = false;
        wake_list(l, &e->readers, 0);
    }
    if (writable) wake_list(l, &e->writers, 0);
    corio__notify_if(&e->watchers);
}

/* Arms fd with the backend the first time: 0, or -errno. A regular file cannot be watched (always ready). */
static int arm(corio__loop *l, corio__fdent *e, int fd) {
    if (e->armed) return 0;
    int rc = l->backend.ops->arm(l, fd);
    if (rc < 0 && rc != -EPERM) return rc;
    e->armed = true;
    return 0;
}

int corio__fd_wait(corio__loop *l, int fd, int dir) {
    int rc;
    corio__fdent *e = corio__fd_entry(l, fd, &rc);
    /* corio__fd_entry sets rc whenever it returns NULL; clang's analyzer misses that &chunk[i] is never NULL */
    // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.UndefReturn)
    if (!e) return rc;
    if (e->cb) return -EBUSY; /* the loop itself watches it */
    if ((rc = arm(l, e, fd)) < 0) return rc;
    corio__outside_begin(l, CORIO__OUTSIDE_IO, 1);
    corio__wait_on(l->current, dir ? CORIO__WAIT_FD_WRITE : CORIO__WAIT_FD_READ, (const void *)(intptr_t)fd);
    rc = corio__park(l, dir ? &e->writers : &e->readers, CORIO__INF, false);
    corio__outside_end(l, CORIO__OUTSIDE_IO, 1);
    return rc;
}

int corio__fd_watch_add(corio__loop *l, int fd, corio__watch *w) {
    int rc;
    corio__fdent *e = corio__fd_entry(l, fd, &rc);
    // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.UndefReturn)
    if (!e) return rc;
    if (e->cb) return -EBUSY; /* the loop itself watches it */
    if ((rc = arm(l, e, fd)) < 0) return rc;
    corio__list_push(&e->watchers, &w->link);
    return 0;
}

int corio__fd_watch(corio__loop *l, int fd, corio__fd_cb cb, void *data) {
    int rc;
    corio__fdent *e = corio__fd_entry(l, fd, &rc);
    if (!e) return rc;
    if ((rc = arm(l, e, fd)) < 0) return rc;
    e->cb = cb;
    e->cb_data = data;
    return 0;
}

/* The public waits have level semantics (a C library may wait without having drained the descriptor): a poll(2)
 * with no timeout answers "ready now?", and only then does the task wait for the next edge. */
static int wait_level(int fd, short events, int dir) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (fd < 0) return -EBADF;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, 0);
    if (n < 0) return -errno;
    if (n > 0) return (p.revents & POLLNVAL) ? -EBADF : 0;
    return corio__fd_wait(l, fd, dir);
}

int corio_wait_readable(int fd) { return wait_level(fd, POLLIN, 0); }
int corio_wait_writable(int fd) { return wait_level(fd, POLLOUT, 1); }

/* Wakes fd's waiters with -EBADF and clears its entry: true if the backend may still watch it or have requests of
 * it (the caller takes them back: disarm). */
static bool unregister(corio__loop *l, int fd) {
    corio__fdent *e = lookup(l, fd);
    if (!e) return false;
    wake_list(l, &e->readers, -EBADF);
    wake_list(l, &e->writers, -EBADF);
    corio__notify_if(&e->watchers);   /* a selector finds it closed (poll: POLLNVAL) */
    for (int dir = 0; dir < 2; dir++) /* disarm cancels their requests; they still wait for the completion */
        if (e->ops[dir].task) corio__wake(l, e->ops[dir].task, -EBADF);
    bool watched = e->armed || e->ops[0].busy || e->ops[1].busy;
    e->armed = e->nonblock = e->stream = e->drained = e->hup = e->fresh = false;
    e->cb = NULL;
    e->gen++; /* whoever lent fd out must not close the number now: it may be someone else's next */
    return watched;
}

void corio__fd_forget(corio__loop *l, int fd) {
    /* disarming takes back the readiness request; the kernel's native requests of fd are taken back by the tasks
     * waiting for them, which unregister has just woken (native_io) */
    if (unregister(l, fd)) l->backend.ops->disarm(l, fd);
}

void corio__close_owned(corio__loop *l, int fd) { l->backend.ops->close_owned(l, fd, unregister(l, fd)); }

void corio__io_flush(corio__loop *l) {
    if (l->backend.ops->flush) l->backend.ops->flush(l);
}

int corio__fd_gen(corio__loop *l, int fd, uint32_t *gen) {
    int rc;
    const corio__fdent *e = corio__fd_entry(l, fd, &rc);
    /* as in corio__fd_wait: rc is set whenever the entry is NULL */
    // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.UndefReturn)
    if (!e) return rc;
    *gen = e->gen;
    return 0;
}

int corio_close(int fd) {
    if (fd < 0) return -EBADF;
    if (corio__cur) corio__fd_forget(corio__cur, fd);
    /* Linux releases the descriptor even when close reports EINTR: never retry */
    if (close(fd) < 0 && errno != EINTR) return -errno;
    return 0;
}

/* corio__fd_prepare, handing back fd's entry: NULL (and -errno in *rc) on failure. */
static corio__fdent *prepare(corio__loop *l, int fd, int *rc) {
    corio__fdent *e = corio__fd_entry(l, fd, rc);
    if (!e) return NULL;
    if (!e->nonblock) { /* apart from armed: corio_wait_readable arms a descriptor without touching its flags */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
            *rc = -errno;
            return NULL;
        }
        int type = 0;
        socklen_t tl = sizeof type;
        e->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM;
        /* hup stays: a wait before the first read (a connect's, a corio_wait_readable) may have armed fd, and the
         * peer's EOF reported then has no later edge to announce it again */
        e->drained = false;
        e->nonblock = true;
    }
    /* Armed only by its first wait (corio__fd_wait), after an EAGAIN: registering reports readiness that is
     * already there, so no edge is missed, and a descriptor that never has to wait (a short-lived connection
     * whose request is in when it is accepted) costs no epoll_ctl at all, nor one more to take it back. On
     * io_uring a stream socket whose transfers are native requests would otherwise have a readiness request
     * woken by every segment and every ACK, for nothing. */
    return e;
}

int corio__fd_prepare(corio__loop *l, int fd) {
    int rc = 0;
    return prepare(l, fd, &rc) ? 0 : rc;
}

void corio__fd_adopt(corio__loop *l, int fd, bool stream) {
    int rc;
    corio__fdent *e = corio__fd_entry(l, fd, &rc);
    if (!e) return;
    e->nonblock = true;
    e->stream = e->fresh = stream;
    e->drained = e->hup = false;
}

bool corio__fd_is_stream(corio__loop *l, int fd) {
    const corio__fdent *e = lookup(l, fd);
    return e && e->nonblock && e->stream;
}

/* Can fd's transfer of [buf, buf+len) go to the backend as a native request? A stream socket only (what the
 * server shapes do), one request per direction at a time, and never a buffer on the compact tasks' shared stack:
 * its bytes move elsewhere whenever the task is suspended, while the kernel would write them in place. */
static bool native_ok(const corio__loop *l, const corio__fdent *e, int dir, const void *buf, size_t len) {
    if (!l->backend.ops->submit || !e->stream || !len || e->ops[dir].busy) return false;
    const corio__stack *s = l->shared_stack;
    if (s && (const char *)buf < s->lo + l->pool.size && (const char *)buf + len > s->lo) return false;
    return true;
}

/* One native receive or send: the request goes out with the loop's next poll, batched with every other task's,
 * and the task parks until its completion. A cancellation, timeout or corio_close that wakes it first asks the
 * kernel to drop the request, but the task still waits (shielded) for the completion: the kernel owns buf until
 * then. If the transfer happened anyway, its count is returned, so no byte is lost, and a cancellation stays set
 * for the task's next wait. Returns bytes, -errno, or -EAGAIN when the request could not be queued. */
static ssize_t native_io(corio__loop *l, corio__fdent *e, int fd, int dir, void *buf, size_t len, bool empty) {
    corio_task *self = l->current;
    corio__ioop *op = &e->ops[dir];
    enum corio__wait kind = dir ? CORIO__WAIT_FD_WRITE : CORIO__WAIT_FD_READ;
    int rc = corio__check(l, self); /* a wait that would fail at once submits nothing */
    if (rc < 0) return rc;
    if ((rc = l->backend.ops->submit(l, fd, dir, buf, len, empty, op)) < 0) return rc;
    op->task = self;
    corio__outside_begin(l, CORIO__OUTSIDE_IO, 1);
    corio__wait_on(self, kind, (const void *)(intptr_t)fd);
    rc = corio__park(l, NULL, CORIO__INF, false);
    if (op->busy) {
        /* a cancel that could not be queued (a full ring) is asked again every millisecond: a receive on an
         * idle socket would otherwise never end */
        bool asked = l->backend.ops->cancel(l, op) == 0;
        while (op->busy) {
            corio__wait_on(self, kind, (const void *)(intptr_t)fd);
            if (corio__park(l, NULL, asked ? CORIO__INF : corio__deadline_after(l, 1), true) == -ENOMEM)
                asked = true; /* no room for the timer either: wait for the completion rather than spin */
            if (!asked && op->busy) asked = l->backend.ops->cancel(l, op) == 0;
        }
    }
    op->task = NULL;
    corio__outside_end(l, CORIO__OUTSIDE_IO, 1);
    /* the kernel wrote them after the system call valgrind saw: say so, or every use of them is an error there */
    if (!dir && op->res > 0) VALGRIND_MAKE_MEM_DEFINED(buf, (size_t)op->res);
    if (rc < 0 && op->res < 0) return rc; /* cancelled before any byte moved: say why */
    return op->res;
}

/* Is an accepted connection's first read likely to find nothing, so that it had better wait for readiness first
 * (as nginx does) than ask read(2) for an EAGAIN? That depends on the load: a server that keeps up accepts a
 * connection at the client's ACK, before its request (wrk's churn: 94 % of first reads found nothing, one of the
 * 6.5 system calls a connection cost), while a saturated one accepts from a backlog whose requests are in.
 * The loop keeps score of the first reads that did ask, and one in FRESH_PROBE still asks while the score says
 * wait, so the guess follows the load. The first wait arms the socket, and arming reports readiness already
 * there, so a wrong guess costs a loop turn, never a lost edge. On io_uring the kernel's receive does this
 * itself. */
#define FRESH_PROBE 16
#define FRESH_SCORE_MAX 8
static bool first_read_waits(corio__loop *l) {
    if (l->fresh_empty <= 0) return false;
    if (++l->fresh_probes < FRESH_PROBE) return true;
    l->fresh_probes = 0;
    return false;
}

static void first_read_scored(corio__loop *l, bool found_nothing) {
    if (found_nothing) {
        if (l->fresh_empty < FRESH_SCORE_MAX) l->fresh_empty++;
    } else if (l->fresh_empty > -FRESH_SCORE_MAX) {
        l->fresh_empty--;
    }
}

ssize_t corio__read_try(corio__loop *l, int fd, void *buf, size_t len) {
    int rc = 0;
    corio__fdent *e = prepare(l, fd, &rc);
    if (!e) return rc;
    if (e->stream && !e->hup) {
        /* known empty, or just accepted and the score says its request is not in yet: no read(2) for an EAGAIN */
        if (e->drained) return -EAGAIN;
        if (__builtin_expect(e->fresh, 0)) {
            e->fresh = false;
            if (first_read_waits(l)) return -EAGAIN;
            ssize_t n = read(fd, buf, len);
            first_read_scored(l, n < 0 && errno == EAGAIN);
            if (n >= 0) e->drained = n > 0 && (size_t)n < len;
            return n < 0 ? -errno : n;
        }
    }
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) {
            e->drained = e->stream && n > 0 && (size_t)n < len;
            return n;
        }
        if (errno != EINTR) return -errno;
    }
}

ssize_t corio_read(int fd, void *buf, size_t len) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (!buf && len) return -EINVAL;
    int rc = 0;
    corio__fdent *e = prepare(l, fd, &rc);
    if (!e) return rc;
    /* A stream socket whose last read came back short has an empty receive queue, and edge-triggered
     * registration raises a new edge for anything that arrives: wait for that edge instead of asking read(2)
     * for an EAGAIN first (tokio, nginx and libuv do the same; bench/io.sh: one system call in three per echo
     * round trip). Any other descriptor (a terminal returns one line per read) is always asked first. */
    bool empty = e->stream && e->drained && !e->hup && len > 0;
    /* On io_uring the kernel receives, in the loop's one system call per turn: no read(2) that finds nothing
     * (a caller reading exactly the bytes it expects never sees a short read), no readiness round trip. */
    bool native = native_ok(l, e, 0, buf, len);
    bool scored = false;
    if (__builtin_expect(e->fresh, 0)) {
        e->fresh = false;
        if (!native && !empty && len > 0) {
            empty = first_read_waits(l);
            scored = !empty;
        }
    }
    for (;;) {
        ssize_t n = -EAGAIN;
        if (native) {
            n = native_io(l, e, fd, 0, buf, len, empty);
        } else if (!empty) {
            n = read(fd, buf, len);
            if (n < 0) n = -errno;
            if (scored) {
                first_read_scored(l, n == -EAGAIN);
                scored = false;
            }
        }
        if (n >= 0) {
            e->drained = n > 0 && (size_t)n < len; /* 0 is EOF, which stays readable */
            return n;
        }
        if (n == -EINTR) continue;
        if (n != -EAGAIN) return n;
        if ((rc = corio__fd_wait(l, fd, 0)) < 0) return rc;
        native = empty = false;
    }
}

ssize_t corio_write(int fd, const void *buf, size_t len) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (!buf && len) return -EINVAL;
    int rc = 0;
    corio__fdent *e = prepare(l, fd, &rc);
    if (!e) return rc;
    size_t done = 0;
    while (done < len) {
        /* What the kernel takes at once is written at once, on both backends: a native send would make the task
         * wait a loop turn for its completion, however empty the socket's buffer (a stream of 64-byte writes ran
         * at a third of epoll's rate on io_uring that way) */
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        /* full: on io_uring the kernel sends the rest as room comes, the request batched with the other tasks' */
        if (native_ok(l, e, 1, (const char *)buf + done, len - done)) {
            n = native_io(l, e, fd, 1, (char *)buf + done, len - done, false);
            if (n >= 0) {
                done += (size_t)n;
                continue;
            }
            if (n != -EAGAIN) return n;
        }
        if ((rc = corio__fd_wait(l, fd, 1)) < 0) return rc;
    }
    return (ssize_t)len;
}

ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt)) return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len) return -EINVAL;
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total) return -EINVAL;
        total += iov[i].iov_len;
    }
    int rc = 0;
    if (!prepare(l, fd, &rc)) return rc;
    int i = 0;
    size_t off = 0; /* bytes of iov[i] already written */
    while (i < iovcnt) {
        if (iov[i].iov_len == off) {
            i++;
            off = 0;
            continue;
        }
        /* a buffer begun by a short write is finished on its own, the rest go out together */
        ssize_t n = off ? write(fd, (const char *)iov[i].iov_base + off, iov[i].iov_len - off)
                        : writev(fd, iov + i, iovcnt - i > IOV_MAX ? IOV_MAX : iovcnt - i);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return -errno;
            if ((rc = corio__fd_wait(l, fd, 1)) < 0) return rc;
            continue;
        }
        size_t left = (size_t)n;
        while (left && i < iovcnt) {
            size_t take = iov[i].iov_len - off < left ? iov[i].iov_len - off : left;
            off += take;
            left -= take;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
    }
    return (ssize_t)total;
}
