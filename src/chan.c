/* chan.c - corio_chan, a FIFO of pointers that tasks on different loops (threads) share: a ring buffer under a
 * mutex, with waiting senders and receivers on lists, each waiter a struct on its own task's stack.
 *
 * The hand-off protocol, so no item is lost or duplicated when a wait is cancelled or times out:
 *  - A waker decides a waiter's outcome under the mutex (it stores the item or the result in the waiter and
 *    takes it off its list), then sends it a wake message: directly when both run on the same loop, else
 *    through the waiter's loop inbox (loops.c).
 *  - A waiter woken by anything else (cancellation, a deadline) takes the mutex: still on its list, it leaves
 *    with nothing sent or taken; already decided, it waits (shielded) for the wake message and returns success,
 *    as lifetime rule 4 says. Its struct lives on its stack, so it never returns before that message arrived. */
#include <pthread.h>
#include <stdlib.h>

#include "loops.h"

enum { PENDING = 1 }; /* a waiter's result until a waker decides it (0 or -EPIPE) */

typedef struct waiter {
    corio__link link; /* in recvq or sendq, under the mutex */
    corio__xnode wake;
    corio__loop *loop;
    corio__xloop *inbox;
    corio_task *task;
    void *item;     /* a sender's item, or what a receiver was handed */
    int result;     /* PENDING, then the outcome: under the mutex */
    bool delivered; /* the wake message arrived: the waker is done with this struct (loop thread only) */
} waiter;

struct corio_chan {
    pthread_mutex_t mu;
    void **buf;
    size_t cap, head, count;
    bool closed;
    corio__link recvq;  /* wait only while the channel is empty */
    corio__link sendq;  /* wait only while it is full; each holds its item */
    corio__link watchq; /* corio_select calls (corio__chan_watch) */
};

corio_chan *corio_chan_new(size_t capacity) {
    corio_chan *ch = calloc(1, sizeof *ch);
    if (!ch) {
        errno = ENOMEM;
        return NULL;
    }
    if (capacity && (capacity > SIZE_MAX / sizeof(void *) || !(ch->buf = malloc(capacity * sizeof(void *))))) {
        free(ch);
        errno = ENOMEM;
        return NULL;
    }
    ch->cap = capacity;
    pthread_mutex_init(&ch->mu, NULL);
    corio__list_init(&ch->recvq);
    corio__list_init(&ch->sendq);
    corio__list_init(&ch->watchq);
    return ch;
}

static void on_wake(corio__loop *l, corio__xnode *n) {
    waiter *w = corio__container_of(n, waiter, wake);
    if (!l) return; /* cannot happen: the waiter's loop lives until it got this */
    w->delivered = true;
    corio__wake(l, w->task, 0);
}

/* Wakes task of loop: directly on the same loop (hence the same thread: *delivered is set now), else through the
 * loop's inbox with message n, whose run sets *delivered on the loop's thread. The waiter's struct stays alive
 * until the message arrives; the inbox, until the unpin. Under the channel's mutex. */
static void send_wake(corio__loop *loop, corio__xloop *inbox, corio_task *task, corio__xnode *n, bool *delivered) {
    if (loop == corio__cur) {
        *delivered = true;
        corio__wake(loop, task, 0);
        return;
    }
    corio__xloop_pin(inbox);
    corio__xloop_post(inbox, n);
    corio__xloop_unpin(inbox);
}

/* Decides w's outcome and wakes it; under the mutex. */
static void hand(waiter *w, int result) {
    corio__list_remove(&w->link);
    w->result = result;
    send_wake(w->loop, w->inbox, w->task, &w->wake, &w->delivered);
}

static void on_watch_wake(corio__loop *l, corio__xnode *n) {
    corio__chan_watch *w = corio__container_of(n, corio__chan_watch, wake);
    if (!l) return; /* cannot happen: the selector's loop lives until it got this */
    w->delivered = true;
    corio__wake(l, w->task, 0);
}

/* Under the mutex: something changed that may make ch ready for a selector; every watch leaves the list. */
static void notify(corio_chan *ch) {
    while (!corio__list_empty(&ch->watchq)) {
        corio__chan_watch *w = corio__container_of(ch->watchq.next, corio__chan_watch, link);
        corio__list_remove(&w->link);
        w->notified = true;
        send_wake(w->loop, w->inbox, w->task, &w->wake, &w->delivered);
    }
}

static bool ready_for(const corio_chan *ch, bool send) {
    if (ch->closed) return true;
    return send ? !corio__list_empty(&ch->recvq) || ch->count < ch->cap
                : ch->count > 0 || !corio__list_empty(&ch->sendq);
}

int corio__chan_watch_add(corio_chan *ch, bool send, corio__chan_watch *w) {
    w->notified = w->delivered = false;
    w->wake.run = on_watch_wake;
    pthread_mutex_lock(&ch->mu);
    bool ready = ready_for(ch, send);
    if (!ready) corio__list_push(&ch->watchq, &w->link);
    pthread_mutex_unlock(&ch->mu);
    return ready;
}

void corio__chan_watch_remove(corio_chan *ch, corio__chan_watch *w) {
    pthread_mutex_lock(&ch->mu);
    bool notified = w->notified;
    if (!notified) corio__list_remove(&w->link);
    pthread_mutex_unlock(&ch->mu);
    while (notified && !w->delivered) {
        corio__wait_on(w->task, CORIO__WAIT_SELECT, ch);
        (void)corio__park(w->loop, NULL, CORIO__INF, true);
    }
}

static waiter *first(corio__link *q) {
    return corio__list_empty(q) ? NULL : corio__container_of(q->next, waiter, link);
}

static void ring_push(corio_chan *ch, void *item) {
    ch->buf[(ch->head + ch->count) % ch->cap] = item;
    ch->count++;
}

/* Under the mutex: 0, -EPIPE, or -EAGAIN when the caller has to wait. */
static int send_now(corio_chan *ch, void *item) {
    if (ch->closed) return -EPIPE;
    waiter *r = first(&ch->recvq);
    if (r) {
        r->item = item;
        hand(r, 0);
        return 0;
    }
    if (ch->count >= ch->cap) return -EAGAIN;
    ring_push(ch, item);
    notify(ch);
    return 0;
}

static int recv_now(corio_chan *ch, void **item) {
    waiter *s = first(&ch->sendq);
    if (ch->count) {
        *item = ch->buf[ch->head];
        ch->head = (ch->head + 1) % ch->cap;
        ch->count--;
        if (s) { /* room for exactly one: the first waiting sender's item goes in and its send succeeds */
            ring_push(ch, s->item);
            hand(s, 0);
        } else {
            notify(ch); /* room to send */
        }
        return 0;
    }
    if (s) { /* unbuffered: straight from the sender */
        *item = s->item;
        hand(s, 0);
        return 0;
    }
    return ch->closed ? -EPIPE : -EAGAIN;
}

/* Called with the mutex held and w filled in: queues w on q, unlocks, and waits for the outcome. */
static int wait(corio_chan *ch, corio__loop *l, corio_task *self, corio__link *q, waiter *w, enum corio__wait kind) {
    w->loop = l;
    w->task = self;
    w->result = PENDING;
    w->delivered = false;
    w->wake.run = on_wake;
    corio__list_push(q, &w->link);
    notify(ch); /* a waiting sender (receiver) makes a receive (send) possible on an unbuffered channel */
    pthread_mutex_unlock(&ch->mu);
    corio__outside_begin(l, CORIO__OUTSIDE_INBOX, 1); /* another thread may wake it */
    int rc;
    for (;;) {
        corio__wait_on(self, kind, ch);
        rc = corio__park(l, NULL, CORIO__INF, false);
        if (w->delivered) {
            rc = w->result;
            break;
        }
        if (rc >= 0) continue; /* not ours */
        pthread_mutex_lock(&ch->mu);
        bool decided = w->result != PENDING;
        if (!decided) corio__list_remove(&w->link);
        pthread_mutex_unlock(&ch->mu);
        if (!decided) break; /* rc: -ECANCELED, -ETIMEDOUT, -ENOMEM; nothing was sent or taken */
        while (!w->delivered) {
            corio__wait_on(self, kind, ch);
            (void)corio__park(l, NULL, CORIO__INF, true);
        }
        rc = w->result;
        break;
    }
    corio__outside_end(l, CORIO__OUTSIDE_INBOX, 1);
    return rc;
}

/* The running task and its loop's inbox before it waits: 0, -EPERM, -ECANCELED, -ETIMEDOUT or -ENOMEM. */
static int may_wait(corio__loop **lp, corio_task **self, corio__xloop **x) {
    *self = corio__self(lp);
    if (!*self) return -EPERM;
    int rc = corio__check(*lp, *self);
    if (rc < 0) return rc;
    *x = corio__xloop_get(*lp);
    return *x ? 0 : -errno;
}

/* A compact task's stack is copied away while it waits, and other tasks and threads write into its waiter: its
 * waiter lives on the heap. NULL (ENOMEM) if that fails. */
static waiter *waiter_for(const corio_task *self, waiter *on_stack) {
    return self->compact ? malloc(sizeof(waiter)) : on_stack;
}

int corio_chan_send(corio_chan *ch, void *item) {
    if (!ch) return -EINVAL;
    pthread_mutex_lock(&ch->mu);
    int rc = send_now(ch, item);
    pthread_mutex_unlock(&ch->mu);
    if (rc != -EAGAIN) return rc;
    corio__loop *l;
    corio_task *self;
    corio__xloop *x;
    if ((rc = may_wait(&l, &self, &x)) < 0) return rc;
    waiter on_stack, *w = waiter_for(self, &on_stack);
    if (!w) return -ENOMEM;
    w->inbox = x;
    pthread_mutex_lock(&ch->mu);
    if ((rc = send_now(ch, item)) != -EAGAIN) { /* things changed while the mutex was free */
        pthread_mutex_unlock(&ch->mu);
    } else {
        w->item = item;
        rc = wait(ch, l, self, &ch->sendq, w, CORIO__WAIT_QUEUE_PUT);
    }
    if (w != &on_stack) free(w);
    return rc;
}

int corio_chan_recv(corio_chan *ch, void **item) {
    if (!ch || !item) return -EINVAL;
    pthread_mutex_lock(&ch->mu);
    int rc = recv_now(ch, item);
    pthread_mutex_unlock(&ch->mu);
    if (rc != -EAGAIN) return rc;
    corio__loop *l;
    corio_task *self;
    corio__xloop *x;
    if ((rc = may_wait(&l, &self, &x)) < 0) return rc;
    waiter on_stack, *w = waiter_for(self, &on_stack);
    if (!w) return -ENOMEM;
    w->inbox = x;
    pthread_mutex_lock(&ch->mu);
    if ((rc = recv_now(ch, item)) != -EAGAIN) {
        pthread_mutex_unlock(&ch->mu);
    } else {
        w->item = NULL;
        rc = wait(ch, l, self, &ch->recvq, w, CORIO__WAIT_QUEUE_GET);
        if (rc == 0) *item = w->item;
    }
    if (w != &on_stack) free(w);
    return rc;
}

void corio_chan_close(corio_chan *ch) {
    if (!ch) return;
    pthread_mutex_lock(&ch->mu);
    ch->closed = true;
    waiter *w;
    while ((w = first(&ch->recvq))) hand(w, -EPIPE);
    while ((w = first(&ch->sendq))) hand(w, -EPIPE);
    notify(ch);
    pthread_mutex_unlock(&ch->mu);
}

int corio_chan_try_send(corio_chan *ch, void *item) {
    if (!ch) return -EINVAL;
    pthread_mutex_lock(&ch->mu);
    int rc = send_now(ch, item);
    pthread_mutex_unlock(&ch->mu);
    return rc;
}

int corio_chan_try_recv(corio_chan *ch, void **item) {
    if (!ch || !item) return -EINVAL;
    pthread_mutex_lock(&ch->mu);
    int rc = recv_now(ch, item);
    pthread_mutex_unlock(&ch->mu);
    return rc;
}

int corio_chan_free(corio_chan *ch) {
    if (!ch) return 0;
    pthread_mutex_lock(&ch->mu);
    bool busy = !corio__list_empty(&ch->recvq) || !corio__list_empty(&ch->sendq) || !corio__list_empty(&ch->watchq);
    pthread_mutex_unlock(&ch->mu);
    if (busy) return -EBUSY;
    pthread_mutex_destroy(&ch->mu);
    free(ch->buf);
    free(ch);
    return 0;
}
