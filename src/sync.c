/* sync.c - locks, events, semaphores and conditions. All are FIFO and hand over directly: a releaser gives the
 * lock or permit to the first waiter and wakes it with success, so a waiter cancelled after that still holds
 * what it was given (it returns 0 and its next suspension fails), and a waiter cancelled before it was chosen
 * simply leaves the list, losing nobody's wakeup. */
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
};

struct corio_sem {
    unsigned value;
    corio__link waiters;
};

struct corio_cond {
    corio__link waiters;
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

static void wake_first(corio__link *q) {
    corio_task *t = corio__first_waiter(q);
    if (t) corio__wake_waiter(t, 0);
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
    if (!lk->owner) {
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

int corio_lock_free(corio_lock *lk) {
    if (!lk) return 0;
    if (lk->owner || !corio__list_empty(&lk->waiters)) return -EBUSY;
    free(lk);
    return 0;
}

/* ---- event ----------------------------------------------------------------------------------------------- */

corio_event *corio_event_new(void) { return new_with_list(sizeof(corio_event), offsetof(corio_event, waiters)); }

void corio_event_set(corio_event *e) {
    if (!e) return;
    e->set = true;
    wake_all(&e->waiters, 0);
}

void corio_event_clear(corio_event *e) {
    if (e) e->set = false;
}

int corio_event_is_set(const corio_event *e) { return e ? e->set : -EINVAL; }

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
    if (!corio__list_empty(&e->waiters)) return -EBUSY;
    free(e);
    return 0;
}

/* ---- semaphore ------------------------------------------------------------------------------------------- */

corio_sem *corio_sem_new(unsigned n) {
    corio_sem *s = new_with_list(sizeof(corio_sem), offsetof(corio_sem, waiters));
    if (s) s->value = n;
    return s;
}

int corio_sem_acquire(corio_sem *s) {
    if (!s) return -EINVAL;
    if (s->value > 0) { /* waiters exist only while value is 0: release hands permits over directly */
        s->value--;
        return 0;
    }
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    corio__wait_on(l->current, CORIO__WAIT_SEM, s);
    return corio__park(l, &s->waiters, CORIO__INF, false);
}

int corio_sem_try_acquire(corio_sem *s) {
    if (!s) return -EINVAL;
    if (s->value == 0) return -EBUSY;
    s->value--;
    return 0;
}

void corio_sem_release(corio_sem *s) {
    if (!s) return;
    if (!corio__list_empty(&s->waiters))
        wake_first(&s->waiters);
    else if (s->value < UINT_MAX)
        s->value++;
}

int corio_sem_value(const corio_sem *s) {
    if (!s) return -EINVAL;
    return s->value > INT_MAX ? INT_MAX : (int)s->value;
}

int corio_sem_free(corio_sem *s) {
    if (!s) return 0;
    if (!corio__list_empty(&s->waiters)) return -EBUSY;
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
    corio__wait_on(self, CORIO__WAIT_COND, c);
    rc = corio__park(l, &c->waiters, CORIO__INF, false);
    /* re-taking the lock ignores cancellation: the caller's cleanup expects to hold it */
    lock_acquire(lk, true);
    return rc;
}

void corio_cond_signal(corio_cond *c) {
    if (c) wake_first(&c->waiters);
}

void corio_cond_broadcast(corio_cond *c) {
    if (c) wake_all(&c->waiters, 0);
}

int corio_cond_free(corio_cond *c) {
    if (!c) return 0;
    if (!corio__list_empty(&c->waiters)) return -EBUSY;
    free(c);
    return 0;
}
