/* sync.c - locks, events, semaphores and conditions. All are FIFO and hand over directly: a releaser gives the
 * lock or permit to the first waiter and wakes it with success, so a waiter cancelled after that still holds
 * what it was given (it returns 0 and its next suspension fails), and a waiter cancelled before it was chosen
 * simply leaves the list, losing nobody's wakeup. What was handed over stays reserved until its new holder runs:
 * a task that releases and at once acquires again queues behind the waiters it just served (asyncio's
 * test_acquire_fifo_order_2), and a signalled condition waiter queues for the lock at the signal, not when it
 * next runs. */
#include <limits.h>
#include <stdlib.h>

#include "internal.h"

struct corio_lock {
    corio_task *owner;
    uint32_t owner_id; /* the owner's id: its struct may be reused by a later task once it has ended */
    corio__link waiters;
};

struct corio_event {
    bool set;
    corio__link waiters;
    corio__link watchers; /* corio_select calls (corio__watch) */
};

struct corio_sem {
    unsigned value;  /* free permits, handed to nobody */
    unsigned bound;  /* value never exceeds it: the initial value of a bounded semaphore, else UINT_MAX */
    unsigned handed; /* permits handed to woken waiters that have not run yet: until they have, acquirers queue */
    corio__link waiters;
    corio__link watchers; /* corio_select calls (corio__watch) */
};

struct corio_cond {
    corio__link waiters; /* each holds in task->xfer the lock it will re-take (the condition once signalled) */
};

static void *new_with_list(size_t size, size_t list_offset) {
    void *o = calloc(1, size);
    if (!o) {
        errno = ENOMEM;
        return NULL;
    }
    corio__list_init((corio__link *)((char *)o + list_offset));
    return o;
}

static void wake_all(corio__link *q, int rc) {
    corio_task *t;
    while ((t = corio__first_waiter(q))) corio__wake_waiter(t, rc);
}

/* ---- lock ------------------------------------------------------------------------------------------------ */

corio_lock *corio_lock_new(void) { return new_with_list(sizeof(corio_lock), offsetof(corio_lock, waiters)); }

static bool holds(const corio_lock *lk, const corio_task *t) { return t && lk->owner == t && lk->owner_id == t->id; }

static void set_owner(corio_lock *lk, corio_task *t) {
    lk->owner = t;
    lk->owner_id = t ? t->id : 0;
}

static int lock_acquire(corio_lock *lk, bool shield) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!lk->owner) { /* nobody waits while it is free: release hands it straight to the first waiter */
        set_owner(lk, self);
        return 0;
    }
    if (holds(lk, self)) return -EDEADLK;
    corio__wait_on(self, CORIO__WAIT_LOCK, lk);
    return corio__park(l, &lk->waiters, CORIO__INF, shield); /* 0: the releaser made us the owner */
}

int corio_lock_acquire(corio_lock *lk) { return lk ? lock_acquire(lk, false) : -EINVAL; }

int corio_lock_try_acquire(corio_lock *lk) {
    if (!lk) return -EINVAL;
    corio_task *self = corio_current();
    if (!self) return -EPERM;
    if (lk->owner) return -EBUSY;
    set_owner(lk, self);
    return 0;
}

int corio_lock_release(corio_lock *lk) {
    if (!lk) return -EINVAL;
    if (!holds(lk, corio_current())) return -EPERM;
    set_owner(lk, corio__first_waiter(&lk->waiters));
    if (lk->owner) corio__wake_waiter(lk->owner, 0);
    return 0;
}

int corio_lock_locked(const corio_lock *lk) { return lk ? lk->owner != NULL : -EINVAL; }

int corio_lock_free(corio_lock *lk) {
    if (!lk) return 0;
    if (lk->owner || !corio__list_empty(&lk->waiters)) return -EBUSY;
    free(lk);
    return 0;
}

/* ---- event ----------------------------------------------------------------------------------------------- */

corio_event *corio_event_new(void) {
    corio_event *e = new_with_list(sizeof(corio_event), offsetof(corio_event, waiters));
    if (e) corio__list_init(&e->watchers);
    return e;
}

void corio_event_set(corio_event *e) {
    if (!e) return;
    e->set = true;
    wake_all(&e->waiters, 0);
    corio__notify_if(&e->watchers);
}

void corio_event_clear(corio_event *e) {
    if (e) e->set = false;
}

int corio_event_is_set(const corio_event *e) { return e ? e->set : -EINVAL; }

corio__link *corio__event_watchers(corio_event *e) { return &e->watchers; }

int corio_event_wait(corio_event *e) {
    if (!e) return -EINVAL;
    if (e->set) return 0;
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    corio__wait_on(l->current, CORIO__WAIT_EVENT, e);
    return corio__park(l, &e->waiters, CORIO__INF, false);
}

int corio_event_free(corio_event *e) {
    if (!e) return 0;
    if (!corio__list_empty(&e->waiters) || !corio__list_empty(&e->watchers)) return -EBUSY;
    free(e);
    return 0;
}

/* ---- semaphore ------------------------------------------------------------------------------------------- */

static corio_sem *sem_new(unsigned n, unsigned bound) {
    corio_sem *s = new_with_list(sizeof(corio_sem), offsetof(corio_sem, waiters));
    if (s) {
        s->value = n;
        s->bound = bound;
        corio__list_init(&s->watchers);
    }
    return s;
}

corio_sem *corio_sem_new(unsigned n) { return sem_new(n, UINT_MAX); }

corio_sem *corio_sem_new_bounded(unsigned n) { return sem_new(n, n); }

/* Can a permit be taken without queueing? Not while anyone is ahead: a waiter, or a task handed a permit that
 * has not run yet (asyncio's Semaphore.locked() counts the latter as waiters too). */
static bool sem_free_now(const corio_sem *s) {
    return s->value > 0 && s->handed == 0 && corio__list_empty(&s->waiters);
}

/* Hands free permits to the waiters at the front, in order; a permit left free is news for corio_select. */
static void sem_hand_over(corio_sem *s) {
    corio_task *t;
    while (s->value > 0 && (t = corio__first_waiter(&s->waiters))) {
        s->value--;
        s->handed++;
        corio__wake_waiter(t, 0);
    }
    if (sem_free_now(s)) corio__notify_if(&s->watchers);
}

int corio_sem_acquire(corio_sem *s) {
    if (!s) return -EINVAL;
    if (sem_free_now(s)) {
        s->value--;
        return 0;
    }
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    corio__wait_on(l->current, CORIO__WAIT_SEM, s);
    int rc = corio__park(l, &s->waiters, CORIO__INF, false);
    if (rc == 0) { /* handed a permit: those queued behind us while it was reserved may go on now */
        s->handed--;
        sem_hand_over(s);
    }
    return rc;
}

int corio_sem_try_acquire(corio_sem *s) {
    if (!s) return -EINVAL;
    if (!sem_free_now(s)) return -EBUSY;
    s->value--;
    return 0;
}

int corio_sem_release(corio_sem *s) {
    if (!s) return -EINVAL;
    if (s->value >= s->bound) return -EOVERFLOW;
    s->value++;
    sem_hand_over(s);
    return 0;
}

corio__link *corio__sem_watchers(corio_sem *s) { return &s->watchers; }

int corio_sem_value(const corio_sem *s) {
    if (!s) return -EINVAL;
    if (!sem_free_now(s)) return 0;
    return s->value > INT_MAX ? INT_MAX : (int)s->value;
}

int corio_sem_free(corio_sem *s) {
    if (!s) return 0;
    /* a handed waiter still counts: it touches s when it runs */
    if (s->handed || !corio__list_empty(&s->waiters) || !corio__list_empty(&s->watchers)) return -EBUSY;
    free(s);
    return 0;
}

/* ---- condition ------------------------------------------------------------------------------------------- */

corio_cond *corio_cond_new(void) { return new_with_list(sizeof(corio_cond), offsetof(corio_cond, waiters)); }

int corio_cond_wait(corio_cond *c, corio_lock *lk) {
    if (!c || !lk) return -EINVAL;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!holds(lk, self)) return -EPERM;
    int rc = corio__check(l, self);
    if (rc < 0) return rc; /* fails before letting go of the lock: the caller still holds it, as promised */
    corio_lock_release(lk);
    self->xfer = lk;
    corio__wait_on(self, CORIO__WAIT_COND, c);
    rc = corio__park(l, &c->waiters, CORIO__INF, false);
    if (rc == 0 && holds(lk, self)) return 0; /* signalled, and the lock was handed to us */
    bool signalled = self->xfer == c;
    /* re-taking the lock ignores cancellation: the caller's cleanup expects to hold it */
    lock_acquire(lk, true);
    return signalled ? 0 : rc; /* a signal already taken is not undone by a later cancel (lifetime rule 4) */
}

/* The signalled waiter t queues for its lock now, behind those already queued (or takes it if it is free), so
 * the signaller cannot release and re-take it ahead of t. */
static void cond_pass(corio_cond *c, corio_task *t) {
    if (!corio__task_of(corio__cur, t)) {
        corio__wake_waiter(t, 0); /* reports the misuse (another loop's task) and aborts */
        return;
    }
    corio_lock *lk = t->xfer;
    t->xfer = c;
    corio__list_remove(&t->wnode);
    if (!lk->owner) {
        set_owner(lk, t);
        corio__wake_waiter(t, 0);
        return;
    }
    /* parked still, with its deadline and cancellation: if either ends this wait, it queues again from the back */
    corio__wait_on(t, CORIO__WAIT_LOCK, lk);
    corio__list_push(&lk->waiters, &t->wnode);
}

void corio_cond_signal(corio_cond *c) {
    corio_task *t;
    if (c && (t = corio__first_waiter(&c->waiters))) cond_pass(c, t);
}

void corio_cond_broadcast(corio_cond *c) {
    if (!c) return;
    corio_task *t;
    while ((t = corio__first_waiter(&c->waiters))) cond_pass(c, t);
}

int corio_cond_free(corio_cond *c) {
    if (!c) return 0;
    if (!corio__list_empty(&c->waiters)) return -EBUSY;
    free(c);
    return 0;
}
