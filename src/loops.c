/* loops.c - several loops, one per thread (corio_run_threads), and the way threads talk to a loop: its inbox,
 * an intrusive lock-free multi-producer single-consumer queue (Vyukov's, as in his "intrusive MPSC node-based
 * queue") plus an eventfd the loop watches like the thread pool's. corio_post sends a task to a loop through it,
 * chan.c wakes a waiter on another loop through it, and a signal that cancels the main task cancels every loop's.
 *
 * Lifetimes: a sender pins an inbox (a counter) for the few instructions between pushing its message and
 * writing the eventfd, and the loop frees the inbox only once nobody pins it, so that write never hits a closed
 * (or reused) descriptor. A group slot is open for posts from its loop's start until its function returns; the
 * posters count on the slot tells the closing loop when the last poster that saw it open has pushed. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loops.h"
#include "signals.h"

#define LOOPS_MAX 256

struct corio__xloop {
    _Atomic(corio__xnode *) head; /* the newest message: producers swap themselves in here */
    corio__xnode *tail;           /* the oldest, the consumer's end */
    corio__xnode stub;            /* keeps the queue non-empty, so producers never touch tail */
    _Atomic long pins;
    int efd;
};

/* ---- the inbox ------------------------------------------------------------------------------------------- */

static void push(corio__xloop *x, corio__xnode *n) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    corio__xnode *prev = atomic_exchange_explicit(&x->head, n, memory_order_acq_rel);
    /* between the exchange and this store the queue is cut in two: pop sees the gap and leaves n for the
     * eventfd write that follows */
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* The oldest message, or NULL when there is none or a producer is halfway through push. */
static corio__xnode *pop(corio__xloop *x) {
    corio__xnode *tail = x->tail;
    corio__xnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &x->stub) {
        if (!next) return NULL;
        x->tail = tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        x->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&x->head, memory_order_acquire)) return NULL;
    push(x, &x->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (!next) return NULL;
    x->tail = next;
    return tail;
}

static void drain(corio__loop *l, corio__xloop *x) {
    corio__xnode *n;
    while ((n = pop(x))) n->run(l, n);
}

static void on_inbox(corio__loop *l, int fd, void *data) {
    uint64_t count;
    /* read first: a message pushed after this read comes with a write of its own, hence a new edge */
    while (read(fd, &count, sizeof count) > 0) {
    }
    drain(l, data);
}

corio__xloop *corio__xloop_get(corio__loop *l) {
    if (l->xloop) return l->xloop;
    corio__xloop *x = calloc(1, sizeof *x);
    if (!x) {
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&x->stub.next, NULL);
    atomic_init(&x->head, &x->stub);
    x->tail = &x->stub;
    atomic_init(&x->pins, 0);
    x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = x->efd < 0 ? -errno : corio__fd_watch(l, x->efd, on_inbox, x);
    if (rc < 0) {
        if (x->efd >= 0) corio_close(x->efd);
        free(x);
        errno = -rc;
        return NULL;
    }
    l->xloop = x;
    return x;
}

void corio__xloop_pin(corio__xloop *x) { atomic_fetch_add(&x->pins, 1); }
void corio__xloop_unpin(corio__xloop *x) { atomic_fetch_sub(&x->pins, 1); }

void corio__xloop_post(corio__xloop *x, corio__xnode *n) {
    push(x, n);
    uint64_t one = 1;
    ssize_t ignored = write(x->efd, &one, sizeof one); /* only fails when the counter is huge: already woken */
    (void)ignored;
}

void corio__xloop_poll(corio__loop *l) {
    corio__xloop *x = l->xloop;
    /* the eventfd still fires for these messages later, and on_inbox then finds nothing: harmless */
    if (x && (x->tail != &x->stub || atomic_load_explicit(&x->stub.next, memory_order_acquire))) drain(l, x);
}

void corio__xloop_free(corio__loop *l) {
    corio__xloop *x = l->xloop;
    if (!x) return;
    /* every task has ended, so no waiter expects a message; a sender may still be between push and write */
    while (atomic_load(&x->pins) != 0) sched_yield();
    drain(NULL, x);
    corio_close(x->efd);
    free(x);
    l->xloop = NULL;
}

/* ---- posting a task -------------------------------------------------------------------------------------- */

typedef struct post_msg {
    corio__xnode node;
    corio_fn fn;
    void *arg;
} post_msg;

static void post_run(corio__loop *l, corio__xnode *n) {
    post_msg *m = corio__container_of(n, post_msg, node);
    if (l) {
        corio_task *t = corio__task_new(l, m->fn, m->arg, NULL);
        if (t) {
            t->detached = true;
            corio__make_ready(l, t);
        } else {
            (void)fprintf(stderr, "corio: a task posted to this loop could not be started: out of memory\n");
        }
    }
    free(m);
}

/* ---- groups of loops ------------------------------------------------------------------------------------- */

typedef struct group group;

typedef struct slot {
    group *g;
    unsigned index;
    corio__xloop *x;     /* set before the start barrier opens */
    _Atomic int posters; /* posters between their check of closed and their push */
    _Atomic bool closed; /* the loop's function has returned: no more posts */
    bool resolved;       /* started (or failed to): under g->mu */
    pthread_t thread;
    bool has_thread;
    corio__xnode cancel;         /* corio__loops_cancel_mains's message to this loop: nothing to allocate */
    _Atomic bool cancel_pending; /* cancel is posted and not yet run */
} slot;

struct group {
    corio_fn fn;
    void *arg;
    unsigned n;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned resolved;
    int start_err;                   /* the first loop that could not start, under mu */
    int status;                      /* the first failure in time, under mu */
    unsigned long long signals_held; /* signal.c's, under its lock: the handlers the group keeps until its end */
};

static CORIO__TLS group *cur_group;
static CORIO__TLS unsigned cur_index;

static void resolve(slot *s, int err) {
    group *g = s->g;
    pthread_mutex_lock(&g->mu);
    if (!s->resolved) {
        s->resolved = true;
        g->resolved++;
        if (err < 0 && g->start_err == 0) g->start_err = err;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
}

/* No post gets past the closed flag once this returns, and every one that did is in the inbox: run them now
 * (they are spawned, then cancelled with the rest of the loop's tasks as lifetime rule 3 says). */
static void close_slot(corio__loop *l, slot *s) {
    atomic_store(&s->closed, true);
    while (atomic_load(&s->posters) != 0) sched_yield();
    drain(l, s->x);
}

static int slot_main(void *arg) {
    slot *s = arg;
    group *g = s->g;
    corio__loop *l = corio__cur;
    corio__xloop *x = corio__xloop_get(l);
    s->x = x;
    resolve(s, x ? 0 : -errno);
    /* every loop must have its inbox before any function runs and posts: wait for the others to start. Nothing
     * else runs on this loop yet, so blocking the thread here costs nothing. */
    pthread_mutex_lock(&g->mu);
    while (g->resolved < g->n) pthread_cond_wait(&g->cv, &g->mu);
    int err = g->start_err;
    pthread_mutex_unlock(&g->mu);
    if (err < 0) {
        atomic_store(&s->closed, true);
        return err;
    }
    corio__outside_begin(l, CORIO__OUTSIDE_INBOX, 1); /* posts can come: an idle loop waits for them */
    int status = g->fn(g->arg);
    close_slot(l, s);
    corio__outside_end(l, CORIO__OUTSIDE_INBOX, 1);
    return status;
}

static void cancel_run(corio__loop *l, corio__xnode *n) {
    slot *s = corio__container_of(n, slot, cancel);
    /* cleared first: the node is off the queue, and a later signal may post it again */
    atomic_store(&s->cancel_pending, false);
    if (l && l->main && l->main->state != CORIO__DONE) corio__task_cancel(l, l->main);
}

void corio__loops_cancel_mains(void) {
    group *g = cur_group;
    if (!g) return;
    for (unsigned i = 0; i < g->n; i++) {
        slot *s = &g->slots[i];
        if (i == cur_index || atomic_exchange(&s->cancel_pending, true)) continue;
        /* as corio_post: past the closed flag, the loop keeps its inbox until this poster is done; a closed slot
         * keeps cancel_pending set, so nothing is posted to it again */
        atomic_fetch_add(&s->posters, 1);
        if (!atomic_load(&s->closed)) corio__xloop_post(s->x, &s->cancel);
        atomic_fetch_sub(&s->posters, 1);
    }
}

unsigned long long *corio__loops_signals_held(void) { return cur_group ? &cur_group->signals_held : NULL; }

static void run_slot(slot *s) {
    group *g = s->g;
    cur_group = g;
    cur_index = s->index;
    int rc = corio_run(slot_main, s);
    resolve(s, rc < 0 ? rc : -ENOMEM); /* a no-op unless corio_run failed before slot_main ran */
    cur_group = NULL;
    pthread_mutex_lock(&g->mu);
    if (rc < 0 && g->status == 0) g->status = rc;
    pthread_mutex_unlock(&g->mu);
}

static void *thread_main(void *arg) {
    run_slot(arg);
    return NULL;
}

int corio_run_threads(unsigned n, corio_fn fn, void *arg) {
    if (n == 0 || n > LOOPS_MAX || !fn) return -EINVAL;
    if (corio__cur) return -EBUSY;
    group g = {.fn = fn, .arg = arg, .n = n};
    g.slots = calloc(n, sizeof *g.slots);
    if (!g.slots) return -ENOMEM;
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    for (unsigned i = 0; i < n; i++) {
        g.slots[i].g = &g;
        g.slots[i].index = i;
        atomic_init(&g.slots[i].posters, 0);
        atomic_init(&g.slots[i].closed, false);
        g.slots[i].cancel.run = cancel_run;
        atomic_init(&g.slots[i].cancel_pending, false);
    }
    for (unsigned i = 1; i < n; i++) {
        slot *s = &g.slots[i];
        if (pthread_create(&s->thread, NULL, thread_main, s) == 0) {
            s->has_thread = true;
        } else {
            resolve(s, -EAGAIN);
            pthread_mutex_lock(&g.mu);
            if (g.status == 0) g.status = -EAGAIN;
            pthread_mutex_unlock(&g.mu);
        }
    }
    run_slot(&g.slots[0]);
    for (unsigned i = 1; i < n; i++)
        if (g.slots[i].has_thread) pthread_join(g.slots[i].thread, NULL);
    corio__signal_group_end(g.signals_held); /* no loop of the group runs: the old dispositions come back */
    int status = g.status;
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    free(g.slots);
    return status;
}

int corio_loop_index(void) { return cur_group ? (int)cur_index : -EPERM; }

int corio_loop_count(void) { return cur_group ? (int)cur_group->n : -EPERM; }

int corio_post(unsigned loop, corio_fn fn, void *arg) {
    group *g = cur_group;
    if (!g) return -EPERM;
    if (!fn || loop >= g->n) return -EINVAL;
    /* the task runs on another loop while this one's compact stack holds someone else's bytes */
    if (corio__cur && corio__compact_on_stack(corio__cur, arg)) return -EINVAL;
    slot *s = &g->slots[loop];
    post_msg *m = malloc(sizeof *m);
    if (!m) return -ENOMEM;
    m->node.run = post_run;
    m->fn = fn;
    m->arg = arg;
    atomic_fetch_add(&s->posters, 1);
    if (atomic_load(&s->closed)) {
        atomic_fetch_sub(&s->posters, 1);
        free(m);
        return -ESHUTDOWN;
    }
    /* the slot is open, and its loop will not close it (nor free the inbox) until this poster is done */
    corio__xloop_post(s->x, &m->node);
    atomic_fetch_sub(&s->posters, 1);
    return 0;
}
