/* backend_uring.c - the io_uring backend (the default, built when liburing-dev is present): readiness
 * through one multishot poll request per descriptor, armed once like the epoll registration, with every
 * submission batched into the loop's next wait (io_uring_submit_and_wait_timeout: one system call per loop turn
 * for both) and every completion of a turn reaped before the ring is advanced once. The ring defers the posting of
 * completions to the loop's own system calls (DEFER_TASKRUN or COOP_TASKRUN where the kernel has them), so they
 * cost no interrupt of its core. A request is tagged with the descriptor and a generation, so completions of a
 * closed descriptor's request never reach a later descriptor with the same number. Stream sockets' receives and
 * sends, and a server's accepts (one multishot request), are native requests tagged with their corio__ioop. */
#ifdef CORIO_HAVE_URING
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define ENTRIES 1024
#define REMOVE_TAG UINT64_MAX /* the completions of cancel requests: nothing to do */
/* A request's tag: a poll's is its generation (31 bits) and descriptor, a native receive or send's is its
 * corio__ioop's address with this bit set. */
#define OP_BIT (UINT64_C(1) << 63)

typedef struct uring {
    struct io_uring ring;
    uint32_t *gen; /* per descriptor: the generation of its current poll request, 0 when none */
    size_t ngen;
    unsigned flags; /* the IORING_SETUP_ flags the kernel accepted */
} uring;

static uring *U(corio__loop *l) { return l->backend.impl; }

static struct io_uring_sqe *get_sqe(uring *u) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) { /* the submission queue is full: flush it and try again */
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

/* The ring's setup flags, best first. Completions of a multishot poll arrive from the client's core (loopback
 * delivers in the sender's context) and, on a plain ring, interrupt the loop's core with an IPI each to post them
 * (docs/benchmarks.md, I/O note 3). DEFER_TASKRUN (6.1) posts them only when the loop asks, at its next wait or
 * zero-timeout poll, and COOP_TASKRUN (5.19) at its next system call; TASKRUN_FLAG tells the loop that some wait,
 * so the zero-timeout poll costs nothing when none does. A kernel that lacks a flag refuses the set with EINVAL. */
static const unsigned setups[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0,
};

static int ur_init(corio__loop *l) {
    uring *u = calloc(1, sizeof *u);
    if (!u) return -ENOMEM;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof setups / sizeof *setups && rc == -EINVAL; i++) {
        struct io_uring_params p = {.flags = setups[i] | IORING_SETUP_CQSIZE, .cq_entries = 4 * ENTRIES};
        rc = io_uring_queue_init_params(ENTRIES, &u->ring, &p);
        if (rc == 0) u->flags = setups[i];
        if (rc == 0 && i > 0 && l->debug)
            (void)fprintf(stderr, "corio: io_uring: the kernel refused setup flags %#x, using %#x\n", setups[0],
                          setups[i]);
    }
    if (rc < 0) {
        free(u);
        return rc;
    }
    l->backend.impl = u;
    l->backend.fd = u->ring.ring_fd;
    return 0;
}

static void ur_close(corio__loop *l) {
    uring *u = U(l);
    if (!u) return;
    io_uring_submit(&u->ring); /* queued closes: exiting the ring would drop them, and leak their descriptors */
    io_uring_queue_exit(&u->ring);
    free(u->gen);
    free(u);
    l->backend.impl = NULL;
    l->backend.fd = -1;
}

static int submit_poll(uring *u, int fd) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EAGAIN;
    io_uring_prep_poll_multishot(sqe, fd, POLLIN | POLLOUT | POLLRDHUP);
    io_uring_sqe_set_data64(sqe, (uint64_t)u->gen[fd] << 32 | (uint32_t)fd);
    return 0;
}

static int ur_arm(corio__loop *l, int fd) {
    uring *u = U(l);
    if ((size_t)fd >= u->ngen) {
        size_t n = u->ngen ? u->ngen : 256;
        while (n <= (size_t)fd) n *= 2;
        uint32_t *gen = realloc(u->gen, n * sizeof *gen);
        if (!gen) return -ENOMEM;
        for (size_t i = u->ngen; i < n; i++) gen[i] = 0;
        u->gen = gen;
        u->ngen = n;
    }
    static _Thread_local uint32_t next_gen; /* one loop per thread */
    if (++next_gen >= OP_BIT >> 32) next_gen = 1;
    u->gen[fd] = next_gen;
    return submit_poll(u, fd);
}

static void ur_disarm(corio__loop *l, int fd) {
    uring *u = U(l);
    /* only the poll request is cancelled here: a native receive or send of fd is cancelled by the task waiting
     * for it, which the registry wakes as it forgets fd (io.c, native_io) */
    uint64_t tag = (size_t)fd < u->ngen && u->gen[fd] ? (uint64_t)u->gen[fd] << 32 | (uint32_t)fd : 0;
    if (!tag) return;
    u->gen[fd] = 0;
    /* The poll request holds a reference to the file: until it is gone, close(2) does not really close it (a
     * listening port stays bound, the peer sees no EOF). An asynchronous poll-remove can miss a request that
     * is completing (-EALREADY), so cancel synchronously, after submitting any queued request of fd (one more
     * system call per close only when something is queued). By its tag, not by descriptor: the kernel finds a
     * tag in a hash table, but a descriptor only by walking every poll request of the ring, which made closing
     * 10,000 idle connections take 2.5 s of CPU, quadratic in their number. */
    if (io_uring_sq_ready(&u->ring)) io_uring_submit(&u->ring);
    struct io_uring_sync_cancel_reg reg = {.addr = tag, .timeout = {-1, -1}};
    int rc = io_uring_register_sync_cancel(&u->ring, &reg);
    /* With DEFER_TASKRUN the cancelled request lets go of the file only when the loop runs its task work */
    if (rc >= 0 && (u->flags & IORING_SETUP_DEFER_TASKRUN)) io_uring_get_events(&u->ring);
    if (rc == -EINVAL || rc == -EOPNOTSUPP) { /* kernels before 6.0: cancel asynchronously */
        struct io_uring_sqe *sqe = get_sqe(u);
        if (sqe) {
            io_uring_prep_cancel64(sqe, tag, 0);
            io_uring_sqe_set_data64(sqe, REMOVE_TAG);
            io_uring_submit(&u->ring);
        }
    }
}

static int ur_submit(corio__loop *l, int fd, int dir, void *buf, size_t len, bool empty, corio__ioop *op) {
    struct io_uring_sqe *sqe = get_sqe(U(l));
    if (!sqe) return -EAGAIN;
    if (len > INT32_MAX) len = INT32_MAX; /* a request's length is 32 bits; a transfer may be short anyway */
    if (dir) {
        io_uring_prep_send(sqe, fd, buf, len, 0);
    } else {
        io_uring_prep_recv(sqe, fd, buf, len, 0);
        /* a socket known empty (its last read was short): wait for data before the first attempt. 5.19 has it,
         * as it has the setup flags; an older kernel refuses it. */
        if (empty && U(l)->flags) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    }
    io_uring_sqe_set_data64(sqe, OP_BIT | (uint64_t)(uintptr_t)op);
    op->busy = true;
    op->res = 0;
    return 0;
}

/* 5.19 brought multishot accept with the setup flags that u->flags records (setups above): a kernel that has
 * none of them has no multishot accept either, and would refuse the request. */
static int ur_accept(corio__loop *l, int lfd, corio__ioop *op) {
    uring *u = U(l);
    if (!u->flags) return -EOPNOTSUPP;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EAGAIN;
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, OP_BIT | (uint64_t)(uintptr_t)op);
    op->busy = true;
    op->res = 0;
    return 0;
}

static void ur_close_owned(corio__loop *l, int fd, bool watched) {
    uring *u = U(l);
    if (watched) ur_disarm(l, fd);
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) {
        close(fd);
        return;
    }
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, REMOVE_TAG);
    if (u->flags) io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS); /* 5.17: no completion to reap */
}

/* Closes take effect in the submitting system call (a socket has no flush to wait for), so after this the
 * descriptors closed by ur_close_owned are gone from the process. */
static void ur_flush(corio__loop *l) {
    uring *u = U(l);
    if (io_uring_sq_ready(&u->ring)) io_uring_submit(&u->ring);
}

static int ur_cancel(corio__loop *l, corio__ioop *op) {
    struct io_uring_sqe *sqe = get_sqe(U(l));
    if (!sqe) return -EAGAIN; /* the ring is full even after a flush */
    io_uring_prep_cancel64(sqe, OP_BIT | (uint64_t)(uintptr_t)op, 0);
    io_uring_sqe_set_data64(sqe, REMOVE_TAG);
    return 0;
}

static int ur_poll(corio__loop *l, int timeout_ms) {
    uring *u = U(l);
    struct io_uring_cqe *cqe;
    int rc;
    if (timeout_ms == 0) {
        /* Between batches of ready tasks: enter the kernel only if it has something (a queued submission, a
         * completion waiting to be posted, an overflow); with TASKRUN_FLAG a quiet ring costs no system call. */
        unsigned pending = IO_URING_READ_ONCE(*u->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
        if (io_uring_sq_ready(&u->ring) || pending || !(u->flags & IORING_SETUP_TASKRUN_FLAG))
            rc = io_uring_submit_and_get_events(&u->ring);
        else
            rc = 0;
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000LL};
        rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, timeout_ms < 0 ? NULL : &ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) return rc;
    corio__update_now(l);
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        n++;
        uint64_t tag = io_uring_cqe_get_data64(cqe);
        if (tag == REMOVE_TAG) continue;
        if (tag & OP_BIT) { /* a native request: its task reads the result, or its handler takes it */
            corio__ioop *op = (corio__ioop *)(uintptr_t)(tag & ~OP_BIT);
            bool more = cqe->flags & IORING_CQE_F_MORE;
            op->res = cqe->res;
            op->busy = more;
            if (op->on_cqe)
                op->on_cqe(l, op, cqe->res, more);
            else if (op->task)
                corio__wake(l, op->task, 0);
            continue;
        }
        int fd = (int)(uint32_t)tag;
        uint32_t gen = (uint32_t)(tag >> 32);
        if ((size_t)fd >= u->ngen || u->gen[fd] != gen) continue; /* a closed descriptor's request */
        int res = cqe->res;
        bool more = cqe->flags & IORING_CQE_F_MORE;
        if (res < 0) /* the request failed (e.g. the descriptor went bad): let the waiters find out */
            corio__fd_ready(l, fd, true, true, true);
        else
            corio__fd_ready(l, fd, res & (POLLIN | POLLRDHUP | POLLERR | POLLHUP), res & (POLLOUT | POLLERR | POLLHUP),
                            res & (POLLRDHUP | POLLERR | POLLHUP));
        /* the kernel ended the multishot request (overflow, or an error): arm a new one if fd is still ours.
         * Asked again after corio__fd_ready because a watcher's callback runs inside it and could close fd; the
         * two watchers today (pool, signals) never do, so cppcheck rightly finds it always true: insurance. */
        // cppcheck-suppress knownConditionTrueFalse
        if (!more && res != -ECANCELED && (size_t)fd < u->ngen && u->gen[fd] == gen) submit_poll(u, fd);
    }
    io_uring_cq_advance(&u->ring, n);
    return (int)n;
}

const corio__backend_ops corio__uring_ops = {
    .init = ur_init,
    .close = ur_close,
    .poll = ur_poll,
    .arm = ur_arm,
    .disarm = ur_disarm,
    .submit = ur_submit,
    .cancel = ur_cancel,
    .accept = ur_accept,
    .close_owned = ur_close_owned,
    .flush = ur_flush,
};
#else
/* ISO C forbids an empty translation unit. */
typedef int corio__backend_uring_unused;
#endif
