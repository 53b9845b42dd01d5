/* scope.c - cancel scopes (Trio's CancelScope) and timeout scopes (asyncio.timeout): which waits of a task fail,
 * and with what, as scopes open, close, get cancelled and move their deadlines.
 *
 * A task's open scopes form a chain from its innermost (task.scope) outwards, each on the task's stack (or inside
 * a task group, for the scope a group opens in its owner). The chain is cut at the innermost shielded scope: only
 * the scopes from the innermost up to and including that one, and corio_cancel's "outermost scope" when no shield
 * is open, reach the task's waits. A wait reads two things only, both kept up to date when they can change:
 *
 *   task.cancelled                 some scope that reaches the waits is cancelled (or the task, with no shield open)
 *   task.scope->eff_deadline_ns    the earliest deadline that reaches them (each scope folds in its outer one's)
 *
 * so the wait path costs what the timeout scopes alone cost before. Another task that cancels a scope learns
 * whether that reaches the owner's waits from the scope alone (shields_inside: shielded scopes open inside it),
 * without walking the owner's stack, which a compact owner has moved away while it waits. */
#include "internal.h"

/* A scope's deadline as seen from inside it: its own, and its outer scope's unless it is shielded. */
static int64_t effective_deadline(const corio_scope *s) {
    if ((s->flags & CORIO_SCOPE_SHIELD) || !s->outer) return s->deadline_ns;
    return s->deadline_ns < s->outer->eff_deadline_ns ? s->deadline_ns : s->outer->eff_deadline_ns;
}

void corio__scope_recompute(corio_task *t) {
    bool cancelled = false, shield = false;
    for (const corio_scope *s = t->scope; s; s = s->outer) {
        if (s->cancelled) cancelled = true;
        if (s->flags & CORIO_SCOPE_SHIELD) {
            shield = true;
            break;
        }
    }
    t->shield_open = shield;
    t->cancelled = cancelled || (!shield && t->cancel_req);
}

/* Refreshes the effective deadlines of the scopes from x outwards up to stop (exclusive), outermost first, each
 * from its outer one's: a walk per scope, since the chain only links outwards (chains are a few scopes deep). */
static void refresh(corio_scope *x, const corio_scope *stop) {
    const corio_scope *done = stop; /* every scope from here outwards is up to date */
    while (done != x) {
        corio_scope *s = x;
        while (s->outer != done) s = s->outer;
        s->eff_deadline_ns = effective_deadline(s);
        done = s;
    }
}

static void count_shield(corio_scope *s, int by) {
    for (corio_scope *o = s->outer; o; o = o->outer) o->shields_inside = (uint32_t)((int)o->shields_inside + by);
}

void corio__scope_open(corio_task *t, corio_scope *s, int64_t deadline, unsigned flags) {
    s->deadline_ns = deadline;
    s->wait_deadline_ns = CORIO__INF;
    s->outer = t->scope;
    s->owner = t;
    s->shields_inside = 0;
    s->flags = (uint16_t)flags;
    s->cancelled = 0;
    s->eff_deadline_ns = effective_deadline(s);
    t->scope = s;
    if (flags & CORIO_SCOPE_SHIELD) {
        count_shield(s, 1);
        t->shield_open = true;
        t->cancelled = false; /* only s reaches the waits now, and it is new */
    }
}

void corio__scope_close(corio_task *t, corio_scope *s) {
    if (t->scope == s) {
        t->scope = s->outer;
    } else { /* a group's scope closed under scopes opened after it (corio_group_wait): unlink it */
        corio_scope *inner = t->scope;
        while (inner && inner->outer != s) inner = inner->outer;
        if (!inner) return;
        inner->outer = s->outer;
        refresh(t->scope, s->outer);
    }
    if (s->flags & CORIO_SCOPE_SHIELD) count_shield(s, -1);
    s->owner = NULL;
    corio__scope_recompute(t);
}

/* May the running code read s, and is it an open scope of a task of loop l? 0, or why not. */
static int reachable(const corio__loop *l, const corio_scope *s) {
    if (!s) return -EINVAL;
    if (!l) return -EPERM;
    const corio__stack *shared = l->shared_stack;
    if (shared && (const char *)s >= shared->lo && (const char *)s < shared->lo + l->pool.size) {
        /* the shared stack holds the running compact task's bytes: another compact task's scope is elsewhere */
        const corio_task *self = l->current;
        if (!self || !self->compact) return -EPERM;
        for (const corio_scope *o = self->scope; o; o = o->outer)
            if (o == s) return 0;
        return -EPERM;
    }
    if (!s->owner) return -EINVAL;
    if (!corio__task_of(l, s->owner)) return -EPERM;
    return 0;
}

/* s (open, owned by t) was cancelled: does that reach t's waits now? Then its current wait ends. */
void corio__scope_cancelled(corio__loop *l, corio_scope *s) {
    corio_task *t = s->owner;
    s->cancelled = 1;
    if (s->shields_inside) return; /* a shield inside keeps it out until that closes (corio__scope_recompute) */
    t->cancelled = true;
    if (t->state == CORIO__WAITING && !t->shielded) corio__wake(l, t, -ECANCELED);
}

/* corio_scope_enter and corio_timeout_enter: checks, then opens s in the calling task with the deadline ms from
 * now; a negative ms means none, or (past_expired: asyncio.timeout's reading) one already past. */
static int enter(corio_scope *s, int64_t ms, unsigned flags, bool past_expired) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!s || (flags & ~CORIO_SCOPE_SHIELD)) return -EINVAL;
    for (const corio_scope *open = self->scope; open; open = open->outer)
        if (open == s) return -EINVAL; /* already open: it would become its own outer scope */
    int64_t deadline = ms >= 0 ? corio__deadline_after(l, ms) : past_expired ? corio__update_now(l) : CORIO__INF;
    corio__scope_open(self, s, deadline, flags);
    return 0;
}

int corio_scope_enter(corio_scope *s, int64_t ms, unsigned flags) { return enter(s, ms, flags, false); }

int corio_scope_exit(corio_scope *s) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!s || self->scope != s || s->owner != self) return -EINVAL;
    corio__scope_close(self, s);
    if (s->cancelled) return -ECANCELED;
    return corio__update_now(l) >= s->deadline_ns ? -ETIMEDOUT : 0;
}

int corio_scope_cancel(corio_scope *s) {
    corio__loop *l = corio__cur;
    int rc = reachable(l, s);
    if (rc < 0) return rc;
    if (!s->cancelled) corio__scope_cancelled(l, s);
    return 0;
}

int corio_scope_set_deadline(corio_scope *s, int64_t ms) {
    corio__loop *l = corio__cur;
    int rc = reachable(l, s);
    if (rc < 0) return rc;
    corio_task *t = s->owner;
    if (t->compact && t != l->current) return -EPERM; /* its inner scopes are off the shared stack */
    int64_t now = corio__update_now(l);
    if (s->deadline_ns > now) s->deadline_ns = ms < 0 ? CORIO__INF : corio__deadline_after(l, ms);
    refresh(t->scope, s->outer);
    /* the owner's current wait follows: its timer is the earlier of the wait's own deadline and the scope's */
    if (t->state != CORIO__WAITING || t->shielded) return 0;
    int64_t eff = corio__scope_deadline(t), op = t->scope->wait_deadline_ns;
    if (eff <= now) {
        corio__wake(l, t, -ETIMEDOUT);
        return 0;
    }
    int64_t when = op < eff ? op : eff;
    if (t->timer.index != CORIO__NOT_ARMED) {
        if (t->timer.when == when) return 0;
        corio__heap_remove(&l->timers, &t->timer);
    }
    t->op_timer = when == op;
    if (when == CORIO__INF) return 0;
    t->timer.when = when;
    /* no room for the timer: end the wait as its deadline would, rather than let it outlive the deadline */
    if (corio__heap_push(&l->timers, &t->timer) < 0) corio__wake(l, t, -ETIMEDOUT);
    return 0;
}

int corio_scope_cancelled(const corio_scope *s) {
    corio__loop *l = corio__cur;
    int rc = reachable(l, s);
    if (rc < 0) return rc;
    return s->cancelled || corio__update_now(l) >= s->deadline_ns;
}

int corio_timeout_enter(corio_timeout *scope, int64_t ms) { return enter(scope, ms, 0, true); }

int corio_timeout_exit(corio_timeout *scope) { return corio_scope_exit(scope); }
