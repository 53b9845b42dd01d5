/* server.c - TCP servers (asyncio.start_server): an accept loop that runs each connection's handler as its own
 * task, caps the connections served at once, survives running out of descriptors, and on stop or cancellation
 * cancels the handlers still running and waits for them before it returns.
 *
 * The accept loop calls accept4 itself rather than corio_accept: it has to tell "no connection pending" from
 * "out of descriptors", and corio_server_stop must be able to wake it with a code of its own. On io_uring one
 * multishot accept request does the accepting instead, in the loop's one system call per turn. */
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_BACKLOG 511 /* nginx's and Redis's default; the kernel caps it at net.core.somaxconn */
#define DEFAULT_MAX_CONNS 10000
/* Accepts in a row before the acceptor yields, so a flood of connections lets their handlers start. */
#define ACCEPT_BATCH 64
/* Out of descriptors (or kernel memory) with no spare to shed with: retry accepting after this pause, doubling
 * up to the maximum, or as soon as one of our connections ends and gives a descriptor back. */
#define PAUSE_MIN_MS 10
#define PAUSE_MAX_MS 1000
#define WAKE_STOP 2 /* corio__park's result when corio_server_stop woke the runner */
/* Connections at once from which a fall to a quarter gives the heap's free pages back (trim_after_drop) */
#define TRIM_PEAK 64

struct conn {
    corio__link link; /* in srv->conns */
    corio_server *srv;
    corio_task *task;
    int fd;
    uint32_t gen; /* fd's registry generation when it was handed to the handler (corio__fd_gen) */
};

struct corio_server {
    int lfd;
    int spare; /* a descriptor held in reserve for shedding connections at EMFILE, or -1 */
    /* On io_uring: one multishot accept request (5.19) stands in for an accept4 per connection and the one that
     * finds the queue empty; its completions queue the accepted descriptors here, and the error that ends it. */
    corio__ioop acc;
    int *ready; /* accepted descriptors not served yet: a ring of ready_cap, ready_len from ready_head */
    size_t ready_head, ready_len, ready_cap;
    int acc_err;        /* the error that ended the multishot accept (-errno), 0 if none */
    bool acc_cancelled; /* its cancel is on its way: not asked twice */
    bool native;        /* accept through acc; false on epoll, on older kernels, or after the ring refused it */
    corio_conn_fn handler;
    void *arg;
    size_t max_conns, nconns;
    size_t peak;       /* most connections at once since the heap was last trimmed */
    bool trim_at_zero; /* trimmed during a drop: once more when its last connection ends */
    corio__link conns; /* connections being served */
    corio__loop *loop;
    corio_task *runner; /* the task in corio_server_run, NULL when not running */
    bool runner_parked; /* parked in this file, waiting for a connection to end (or a stop) */
    bool stopping;
    bool compact; /* handlers run as compact tasks (corio_server_opts.compact) */
};

corio_server *corio_server_new(const char *host, int port, corio_conn_fn handler, void *arg,
                               const corio_server_opts *opts) {
    if (!handler || port < 0 || port > 65535 ||
        (opts && (opts->backlog < 0 || opts->defer_accept < 0 || !CORIO__RESERVED_ZERO(opts)))) {
        errno = EINVAL;
        return NULL;
    }
    corio_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        errno = ENOMEM;
        return NULL;
    }
    int backlog = opts && opts->backlog ? opts->backlog : DEFAULT_BACKLOG;
    int fd = opts && opts->reuseport ? corio__tcp_listen_reuseport(host, port, backlog)
                                     : corio_tcp_listen(host, port, backlog);
    /* the kernel turns the seconds into SYN-ACK retransmissions: a silent client is still accepted in the end */
    if (fd >= 0 && opts && opts->defer_accept > 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &opts->defer_accept, sizeof opts->defer_accept) != 0) {
        int err = errno;
        close(fd);
        fd = -err;
    }
    if (fd < 0) {
        free(srv);
        errno = -fd;
        return NULL;
    }
    srv->lfd = fd;
    srv->spare = -1;
    srv->handler = handler;
    srv->arg = arg;
    srv->max_conns = opts && opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
    srv->compact = opts && opts->compact;
    corio__list_init(&srv->conns);
    return srv;
}

int corio_server_port(const corio_server *srv) { return srv ? corio_local_port(srv->lfd) : -EINVAL; }

size_t corio_server_conns(const corio_server *srv) { return srv ? srv->nconns : 0; }

void corio_server_stop(corio_server *srv) {
    if (!srv) return;
    srv->stopping = true;
    if (srv->runner) corio__wake(srv->loop, srv->runner, WAKE_STOP);
}

int corio_server_free(corio_server *srv) {
    if (!srv) return -EINVAL;
    if (srv->runner) return -EBUSY;
    corio_close(srv->lfd);
    free(srv->ready);
    free(srv);
    return 0;
}

/* glibc keeps freed blocks for reuse and gives the kernel back only the free top of the heap: after thousands of
 * connections at once have closed, their freed memory stays resident below blocks still in use (issue 17: 62 MB
 * of an HTTP server's after 5,000 had closed). So when the connections fall to a quarter of a peak of at least
 * TRIM_PEAK, and once more when the last of such a drop ends, the free pages go back (malloc_trim releases those
 * inside the heap too), with those of the loop's task chunks and descriptor entries the ended handlers leave
 * wholly unused. A steady load, or one connection at a time, never calls it. */
static void trim_after_drop(corio_server *srv) {
    bool quarter = srv->peak >= TRIM_PEAK && srv->nconns <= srv->peak / 4;
    if (!quarter && !(srv->trim_at_zero && srv->nconns == 0)) return;
    /* the ended handlers' task structs and descriptor entries, before the heap's free pages go back */
    corio__task_trim(srv->loop);
    corio__fd_registry_trim(srv->loop);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    srv->peak = srv->nconns;
    srv->trim_at_zero = srv->nconns > 0;
}

/* One connection's task: the handler, then the close, then a word to the acceptor, which may be waiting for a
 * free slot (max_conns) or, at shutdown, for the last handler to end. Its status is always 0: a handler's error
 * concerns its connection only.
 * The handler may have closed fd through corio (corio_stream_free, corio_close), and the number may be another
 * task's descriptor by now, or by the loop's next poll, when io_uring would do this close: fd is closed only if
 * the registry has not forgotten it since it was handed over. */
static int conn_main(void *arg) {
    struct conn *c = arg;
    corio_server *srv = c->srv;
    srv->handler(c->fd, srv->arg);
    uint32_t gen;
    if (corio__fd_gen(srv->loop, c->fd, &gen) == 0 && gen == c->gen) corio__close_owned(srv->loop, c->fd);
    corio__list_remove(&c->link);
    srv->nconns--;
    if (srv->runner_parked) corio__wake(srv->loop, srv->runner, 0);
    free(c);
    trim_after_drop(srv);
    return 0;
}

/* fd has TCP_NODELAY from the listener (net.c, bind_socket): small responses go out at once, as asyncio's transports
 * send them, and a setsockopt per connection (1.6 % of the server's CPU under connection churn) is saved.
 * Known as a stream socket (stream), it is adopted as one: its first read skips fcntl and getsockopt. */
static int start_conn(corio_server *srv, corio__loop *l, int fd, bool stream) {
    corio__fd_adopt(l, fd, stream);
    uint32_t gen;
    int rc = corio__fd_gen(l, fd, &gen); /* the entry must exist now, or a corio_close would not count */
    if (rc < 0) return rc;
    struct conn *c = malloc(sizeof *c);
    if (!c) return -ENOMEM;
    c->srv = srv;
    c->fd = fd;
    c->gen = gen;
    /* a compact handler goes unnamed: a name is an allocation of its own, 48 bytes per idle connection */
    corio_task_opts opts = {.name = srv->compact ? NULL : "server conn", .compact = srv->compact};
    c->task = corio_spawn_opts(conn_main, c, &opts);
    if (!c->task) {
        free(c);
        return -errno;
    }
    corio__list_push(&srv->conns, &c->link);
    if (++srv->nconns > srv->peak) srv->peak = srv->nconns;
    /* the handle stays valid until conn_main returns, and conn_main leaves the list before that */
    corio_detach(c->task);
    return 0;
}

/* The multishot accept's completions: the descriptor of a connection, or the error that ended the request */
static void on_accept(corio__loop *l, corio__ioop *op, int res, bool more) {
    (void)more;
    corio_server *srv = corio__container_of(op, corio_server, acc);
    if (res >= 0) {
        if (srv->ready_len == srv->ready_cap) {
            size_t cap = srv->ready_cap ? 2 * srv->ready_cap : 64;
            int *r = malloc(cap * sizeof *r);
            if (!r) { /* no room to keep it: this client sees a close, as when no task can be made for it */
                close(res);
                return;
            }
            for (size_t i = 0; i < srv->ready_len; i++) r[i] = srv->ready[(srv->ready_head + i) % srv->ready_cap];
            free(srv->ready);
            srv->ready = r;
            srv->ready_head = 0;
            srv->ready_cap = cap;
        }
        srv->ready[(srv->ready_head + srv->ready_len++) % srv->ready_cap] = res;
    } else if (res != -ECANCELED) {
        srv->acc_err = res;
    }
    if (srv->runner_parked) corio__wake(l, srv->runner, 0);
}

/* The next connection's descriptor, or -errno as accept4 would report it (-EAGAIN: none yet, wait for one). */
static int next_conn(corio_server *srv, corio__loop *l) {
    if (srv->native) {
        if (srv->ready_len) {
            int fd = srv->ready[srv->ready_head];
            srv->ready_head = (srv->ready_head + 1) % srv->ready_cap;
            srv->ready_len--;
            return fd;
        }
        if (srv->acc_err) {
            int err = srv->acc_err;
            srv->acc_err = 0;
            return err;
        }
        if (srv->acc.busy) return -EAGAIN;
        int rc = l->backend.ops->accept(l, srv->lfd, &srv->acc);
        srv->acc_cancelled = false;
        if (rc == 0) return -EAGAIN;
        srv->native = false; /* the kernel has no multishot accept, or the ring is full: accept4 from now on */
    }
    int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

/* Parks the runner until a connection ends, a stop, or the deadline (ns; CORIO__INF for none): 0 or -errno. */
static int wait_conn_end(corio_server *srv, corio__loop *l, int64_t deadline, bool shield) {
    /* a multishot accept in flight comes from outside the loop: waiting for it is no deadlock */
    bool io = srv->acc.busy;
    corio__outside_begin(l, CORIO__OUTSIDE_IO, io);
    srv->runner_parked = true;
    corio__wait_on(l->current, CORIO__WAIT_SERVER, srv);
    int rc = corio__park(l, NULL, deadline, shield);
    srv->runner_parked = false;
    corio__outside_end(l, CORIO__OUTSIDE_IO, io);
    return rc < 0 ? rc : 0;
}

/* libuv's EMFILE trick: give the spare descriptor back, accept each pending connection into it and close it at
 * once, so those clients see a clean close instead of hanging in the backlog, then reserve the spare again.
 * true if the backlog was emptied (the next readiness edge will bring a new connection). */
static bool shed(corio_server *srv) {
    if (srv->spare < 0) return false;
    close(srv->spare);
    srv->spare = -1;
    int err;
    for (;;) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        err = errno;
        if (err != EINTR && err != ECONNABORTED) break;
    }
    srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* Stops the multishot accept while the server cannot take connections (at max_conns, out of descriptors): the
 * clients then wait in the listener's backlog, as with accept4. Its last completion comes later. */
static void pause_accepting(corio_server *srv, corio__loop *l) {
    /* with a full ring it goes on, and the queue holds what it accepts */
    if (srv->acc.busy && !srv->acc_cancelled) srv->acc_cancelled = l->backend.ops->cancel(l, &srv->acc) == 0;
}

static int accept_loop(corio_server *srv, corio__loop *l, corio_task *self) {
    int64_t pause_ms = PAUSE_MIN_MS;
    int batch = 0;
    /* known as a stream socket, its connections are adopted as ones (corio__fd_adopt) */
    int rc0 = corio__fd_prepare(l, srv->lfd);
    if (rc0 < 0) return rc0;
    bool stream = corio__fd_is_stream(l, srv->lfd);
    while (!srv->stopping) {
        int rc = corio__check(l, self); /* accepting never suspends while connections keep coming */
        if (rc < 0) return rc;
        if (srv->nconns >= srv->max_conns) {
            pause_accepting(srv, l);
            if ((rc = wait_conn_end(srv, l, CORIO__INF, false)) < 0) return rc;
            continue;
        }
        if (++batch == ACCEPT_BATCH) {
            batch = 0;
            if ((rc = corio_yield()) < 0) return rc;
            continue;
        }
        int fd = next_conn(srv, l);
        if (fd >= 0) {
            /* the connection's task closes it (corio__close_owned), so the registry never outlives it */
            pause_ms = PAUSE_MIN_MS;
            if (start_conn(srv, l, fd, stream) < 0) {
                corio_close(fd); /* no memory for a task: this client sees a close; pause as for ENOMEM */
                pause_accepting(srv, l);
                corio__update_now(l);
                if ((rc = wait_conn_end(srv, l, l->now_ns + pause_ms * 1000000, false)) < 0) return rc;
            }
            continue;
        }
        int err = -fd;
        switch (err) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            batch = 0;
            /* natively, the multishot accept's next completion wakes the runner */
            rc = srv->native ? wait_conn_end(srv, l, CORIO__INF, false) : corio__fd_wait(l, srv->lfd, 0);
            if (rc < 0) return rc;
            break;
        /* the connection died in the queue, a network error was pending on it (accept(2) lists these), or a
         * firewall rule refused it: not the listener's fault, take the next one */
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case ENETUNREACH:
            break;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* Linux takes a descriptor before it looks at the queue, so at EMFILE accept4 (or the multishot
             * accept, which then ends) fails even with no connection pending: after shedding, wait for the next
             * one rather than ask again (that would spin) */
            if ((err == EMFILE || err == ENFILE) && shed(srv)) {
                batch = 0;
                if ((rc = corio__fd_wait(l, srv->lfd, 0)) < 0) return rc;
                break;
            }
            /* Nothing to shed with: stop accepting for a while (the pending clients wait in the backlog), and
             * try again when one of our connections ends or the pause is over, whichever comes first. */
            if (srv->spare < 0) srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
            corio__update_now(l);
            if ((rc = wait_conn_end(srv, l, l->now_ns + pause_ms * 1000000, false)) < 0) return rc;
            if (pause_ms < PAUSE_MAX_MS) pause_ms *= 2;
            break;
        default:
            return -err;
        }
    }
    return 0;
}

/* Ends the multishot accept and waits (shielded: the runner may be cancelled) for its last completion, which
 * points into srv; then closes the connections accepted and not served: those clients see a close. */
static void end_accepting(corio_server *srv, corio__loop *l) {
    while (srv->acc.busy) {
        /* a cancel that could not be queued (a full ring) is asked again every millisecond */
        pause_accepting(srv, l);
        wait_conn_end(srv, l, srv->acc_cancelled ? CORIO__INF : corio__deadline_after(l, 1), true);
    }
    for (; srv->ready_len; srv->ready_len--) {
        close(srv->ready[srv->ready_head]);
        srv->ready_head = (srv->ready_head + 1) % srv->ready_cap;
    }
    srv->acc_err = 0;
}

int corio_server_run(corio_server *srv) {
    if (!srv) return -EINVAL;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (srv->runner) return -EBUSY;
    srv->runner = self;
    srv->loop = l;
    srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);

    srv->native = l->backend.ops->accept != NULL;
    srv->acc.on_cqe = on_accept;

    int rc = accept_loop(srv, l, self);

    /* Shut down: stop accepting, cancel every handler and wait, shielded (the runner may itself be cancelled),
     * until the last has ended; each leaves the list as it ends. */
    end_accepting(srv, l);
    for (corio__link *n = srv->conns.next; n != &srv->conns; n = n->next)
        corio_cancel(corio__container_of(n, struct conn, link)->task);
    while (srv->nconns > 0) wait_conn_end(srv, l, CORIO__INF, true);
    if (srv->spare >= 0) close(srv->spare);
    srv->spare = -1;
    /* the handlers' connections are closed when run returns, not at the loop's next poll (io_uring) */
    corio__io_flush(l);
    srv->runner = NULL;
    srv->stopping = false;
    return rc;
}

int corio_serve(const char *host, int port, corio_conn_fn handler, void *arg) {
    corio_server *srv = corio_server_new(host, port, handler, arg, NULL);
    if (!srv) return -errno;
    int rc = corio_server_run(srv);
    corio_server_free(srv);
    return rc;
}
