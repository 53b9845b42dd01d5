/* select.c - corio_select (Go's select, Tokio's select!): waits until one of several cases can complete, completes
 * exactly that one and leaves the others untouched.
 *
 * A selector never joins the objects' own wait lists, so nothing is ever handed to it that it would have to give
 * back: it tries each case without waiting (try_get, try_acquire, poll...), from a random start so that ready
 * cases are chosen fairly, and when none is ready it puts a watch on every object and parks. Whatever may have made
 * an object ready (an item put or taken, a set, a release, a task's end, a readiness edge, a close) wakes it
 * (corio__notify), it takes its watches back and tries again. Only the one try that succeeds has any effect, so
 * the guarantee holds whatever cancels or times the selector out meanwhile. Channels may be touched from other
 * threads: their watches sit under the channel's mutex, and the wake comes through the loop's inbox (loops.h). */
#include <poll.h>
#include <stdlib.h>

#include "loops.h"

void corio__notify(corio__link *watchers) {
    while (!corio__list_empty(watchers)) {
        corio__watch *w = corio__container_of(watchers->next, corio__watch, link);
        corio__list_remove(&w->link);
        corio__wake_waiter(w->task, 0);
    }
}

/* One watch per case: a channel's, or another object's. */
typedef union watch {
    corio__watch obj;
    corio__chan_watch chan;
} watch;

static bool is_chan(int op) { return op == CORIO_SEL_CHAN_RECV || op == CORIO_SEL_CHAN_SEND; }
static bool is_fd(int op) { return op == CORIO_SEL_READABLE || op == CORIO_SEL_WRITABLE; }

static int check_case(const corio__loop *l, const corio_task *self, const corio_sel *c) {
    if (c->op < CORIO_SEL_QUEUE_GET || c->op > CORIO_SEL_WRITABLE || !CORIO__RESERVED_ZERO(c)) return -EINVAL;
    if (is_fd(c->op)) return c->fd < 0 ? -EBADF : 0;
    if (!c->obj) return -EINVAL;
    if (c->op == CORIO_SEL_TASK) {
        const corio_task *t = c->obj;
        if (!corio__task_of(l, t)) return corio__task_invalid(t, "corio_select");
        if (t == self) return -EDEADLK;
    }
    return 0;
}

/* Tries case c without waiting: 1 if it completed (its effect done), 0 if it is not ready, or -errno. */
static int try_case(corio_sel *c) {
    int rc;
    switch (c->op) {
    case CORIO_SEL_QUEUE_GET:
    case CORIO_SEL_CHAN_RECV:
        rc = c->op == CORIO_SEL_QUEUE_GET ? corio_queue_try_get(c->obj, &c->item)
                                          : corio_chan_try_recv(c->obj, &c->item);
        if (rc == -EPIPE) { /* closed and drained: a completed case that says so */
            c->item = NULL;
            c->closed = 1;
            return 1;
        }
        return rc == 0 ? 1 : rc == -EAGAIN ? 0 : rc;
    case CORIO_SEL_QUEUE_PUT:
    case CORIO_SEL_CHAN_SEND:
        rc = c->op == CORIO_SEL_QUEUE_PUT ? corio_queue_try_put(c->obj, c->item) : corio_chan_try_send(c->obj, c->item);
        if (rc == -EPIPE) {
            c->closed = 1;
            return 1;
        }
        return rc == 0 ? 1 : rc == -EAGAIN ? 0 : rc;
    case CORIO_SEL_EVENT:
        return corio_event_is_set(c->obj) == 1;
    case CORIO_SEL_SEM:
        rc = corio_sem_try_acquire(c->obj);
        return rc == 0 ? 1 : rc == -EBUSY ? 0 : rc;
    case CORIO_SEL_TASK:
        rc = corio_task_done(c->obj);
        return rc; /* 1, 0, or -EINVAL: freed meanwhile */
    default: {
        struct pollfd p = {.fd = c->fd, .events = c->op == CORIO_SEL_READABLE ? POLLIN : POLLOUT};
        int n = poll(&p, 1, 0);
        if (n < 0) return -errno;
        if (n > 0 && (p.revents & POLLNVAL)) return -EBADF;
        return n > 0; /* ready, or an error or a hang-up: the next call will not block */
    }
    }
}

/* Tries every case once, from start on: the index of the one that completed, -1 if none could, or -errno. */
static int try_all(corio_sel *cases, size_t n, size_t start) {
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        int rc = try_case(&cases[i]);
        if (rc < 0) return rc;
        if (rc > 0) return (int)i;
    }
    return -1;
}

/* Takes back the watches of cases [0, n). */
static void unwatch(corio_sel *cases, watch *w, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (is_chan(cases[i].op))
            corio__chan_watch_remove(cases[i].obj, &w[i].chan);
        else if (w[i].obj.link.next != &w[i].obj.link)
            corio__list_remove(&w[i].obj.link);
    }
}

/* Puts a watch on every case's object: 0, 1 if a channel turned out to be ready meanwhile (nothing watched then),
 * or -errno (nothing watched). */
static int watch_all(corio__loop *l, corio_task *self, corio__xloop *inbox, corio_sel *cases, watch *w, size_t n) {
    for (size_t i = 0; i < n; i++) {
        corio_sel *c = &cases[i];
        int rc = 0;
        if (is_chan(c->op)) {
            w[i].chan.loop = l;
            w[i].chan.inbox = inbox;
            w[i].chan.task = self;
            rc = corio__chan_watch_add(c->obj, c->op == CORIO_SEL_CHAN_SEND, &w[i].chan);
        } else {
            corio__watch *o = &w[i].obj;
            o->task = self;
            corio__list_init(&o->link);
            switch (c->op) {
            case CORIO_SEL_TASK:
                corio__list_push(&l->task_watchers, &o->link);
                break;
            case CORIO_SEL_READABLE:
            case CORIO_SEL_WRITABLE:
                rc = corio__fd_watch_add(l, c->fd, o);
                break;
            default:
                corio__list_push(c->op == CORIO_SEL_EVENT ? corio__event_watchers(c->obj)
                                 : c->op == CORIO_SEL_SEM ? corio__sem_watchers(c->obj)
                                                          : corio__queue_watchers(c->obj),
                                 &o->link);
                break;
            }
        }
        if (rc != 0) {
            unwatch(cases, w, i);
            return rc;
        }
    }
    return 0;
}

/* A fair start: xorshift, per thread. */
static size_t pick(size_t n) {
    static CORIO__TLS uint32_t x = 2463534242U;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x % n;
}

int corio_select(corio_sel *cases, size_t n, int64_t ms) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!cases || n == 0 || n > INT32_MAX) return -EINVAL;
    bool chans = false, fds = false;
    for (size_t i = 0; i < n; i++) {
        int rc = check_case(l, self, &cases[i]);
        if (rc < 0) return rc;
        cases[i].closed = 0;
        chans |= is_chan(cases[i].op);
        fds |= is_fd(cases[i].op);
    }
    int64_t deadline = ms < 0 ? CORIO__INF : corio__deadline_after(l, ms);
    int rc = try_all(cases, n, pick(n));
    if (rc != -1) return rc;
    corio__xloop *inbox = NULL;
    if (chans && !(inbox = corio__xloop_get(l))) return -errno;
    watch *w = malloc(n * sizeof *w);
    if (!w) return -ENOMEM;
    /* waiting on what other threads (channels) or the kernel (descriptors) do: no deadlock, and poll for it */
    corio__outside_begin(l, CORIO__OUTSIDE_INBOX, chans);
    corio__outside_begin(l, CORIO__OUTSIDE_IO, fds);
    for (;;) {
        int wrc = watch_all(l, self, inbox, cases, w, n);
        if (wrc < 0) {
            rc = wrc;
            break;
        }
        int prc = 0;
        if (wrc == 0) {
            corio__wait_on(self, CORIO__WAIT_SELECT, cases);
            prc = corio__park(l, NULL, deadline, false);
            unwatch(cases, w, n);
        }
        /* woken by a change (a notify came first, so a deadline or cancellation after it could not end the wait:
         * nothing that was ready is lost to them), or by the deadline or a cancellation, which take nothing, as a
         * plain corio_queue_get's would not */
        if (prc == CORIO__WAKE_DEADLINE) {
            rc = -ETIMEDOUT;
            break;
        }
        if (prc < 0) {
            rc = prc;
            break;
        }
        if ((rc = try_all(cases, n, pick(n))) != -1) break;
    }
    corio__outside_end(l, CORIO__OUTSIDE_INBOX, chans);
    corio__outside_end(l, CORIO__OUTSIDE_IO, fds);
    free(w);
    return rc;
}
