/* group.c - task groups with nursery semantics (Trio's nursery, asyncio.TaskGroup): a group owns its tasks, and
 * the first failure cancels the others and the group's body, the moment it happens. corio_group_new opens a cancel
 * scope in the calling task (the body) that corio_group_wait closes, so the owner's waits between the two fail
 * with -ECANCELED as soon as a child fails, and corio_group_wait then returns the child's error. A child cancelled
 * on purpose (through its handle, or corio_group_cancel) is not a failure. Every failure is kept, in the order the
 * children ended, for corio_group_wait_errors. Tasks of a group free themselves when they end, except those whose
 * handle was given out (corio_group_spawn_opts), which corio_group_wait frees. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct corio_group {
    corio_task **children; /* tasks still running (each knows its index: corio_task.group_index) */
    size_t nchildren, cap;
    corio__link in_loop; /* in loop->groups, so corio_run can free a group nobody waited for */
    corio__loop *loop;   /* bound at creation in a task, or at the first spawn */
    size_t pending;
    corio_task *waiter;
    corio_task *owner; /* the task whose body scope this is, NULL if made outside a task */
    uint32_t owner_id; /* tells the owner from a later task reusing its struct */
    corio_scope body;
    bool body_open;
    int first_err;
    bool failed;
    bool stopping;
    corio_group_error *errs; /* every failure, in the order the children ended (nerrs counts even unstored ones) */
    size_t nerrs, errs_cap;
    corio__link kept;  /* ended children with a handle given out, through wnode: corio_group_wait frees them */
    size_t limit;      /* children running at once, 0 for no limit */
    corio__link room;  /* spawners waiting for a child to end (limit) */
};

static void bind_loop(corio_group *g, corio__loop *l) {
    if (g->loop) return;
    g->loop = l;
    corio__list_push(&l->groups, &g->in_loop);
}

corio_group *corio_group_new(void) {
    corio_group *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    corio__list_init(&g->in_loop);
    corio__list_init(&g->kept);
    corio__list_init(&g->room);
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (self) {
        bind_loop(g, l);
        g->owner = self;
        g->owner_id = self->id;
        corio__scope_open(self, &g->body, CORIO__INF, 0);
        g->body_open = true;
    }
    return g;
}

int corio_group_set_limit(corio_group *g, size_t n) {
    if (!g) return -EINVAL;
    g->limit = n;
    if (g->loop) /* a larger limit makes room now */
        while (!corio__list_empty(&g->room) && (!n || g->nchildren < n))
            corio__wake(g->loop, corio__first_waiter(&g->room), 0);
    return 0;
}

/* Waits for room under the group's limit: 0, -ECANCELED (or the group stopped), -ETIMEDOUT, -EPERM. */
static int wait_room(corio_group *g, corio__loop *l) {
    while (g->limit && g->nchildren >= g->limit) {
        corio_task *self = l ? l->current : NULL;
        if (!self) return -EPERM;
        corio__wait_on(self, CORIO__WAIT_GROUP, g);
        int rc = corio__park(l, &g->room, CORIO__INF, false);
        if (rc < 0) return rc;
        if (g->stopping) return -ECANCELED;
    }
    return 0;
}

static corio_task *spawn(corio_group *g, corio_fn fn, void *arg, const corio_task_opts *opts, bool keep) {
    int rc = -EINVAL;
    corio__loop *l = corio__cur;
    if (!g || !fn) goto fail;
    rc = -EPERM;
    if (!l) goto fail;
    rc = -EINVAL;
    if (g->loop && g->loop != l) goto fail;
    rc = -ECANCELED;
    if (g->stopping) goto fail;
    if ((rc = wait_room(g, l)) < 0) goto fail;
    if (g->nchildren == g->cap) {
        rc = -ENOMEM;
        /* an array rather than a list through the tasks: a 4-byte index in each task struct, not a 16-byte link */
        if (g->cap >= UINT32_MAX / 2) goto fail; /* the index is 32 bits */
        size_t cap = g->cap ? g->cap * 2 : 8;
        /* an array of pointers: sizeof *v is meant (clang-tidy < 16 has no WarnOnSizeOfPointerToAggregate) */
        corio_task **v = realloc(g->children, cap * sizeof *v); // NOLINT(bugprone-sizeof-expression)
        if (!v) goto fail;
        g->children = v;
        g->cap = cap;
    }
    corio_task *t = corio__task_new(l, fn, arg, opts);
    if (!t) {
        rc = -errno;
        goto fail;
    }
    bind_loop(g, l);
    t->group = g;
    t->group_index = (uint32_t)g->nchildren;
    t->end_by = CORIO__END_GROUP;
    t->group_keep = keep;
    g->children[g->nchildren++] = t;
    g->pending++;
    corio__make_ready(l, t);
    return t;
fail:
    errno = -rc;
    return NULL;
}

int corio_group_spawn(corio_group *g, corio_fn fn, void *arg) { return spawn(g, fn, arg, NULL, false) ? 0 : -errno; }

corio_task *corio_group_spawn_opts(corio_group *g, corio_fn fn, void *arg, const corio_task_opts *opts) {
    return spawn(g, fn, arg, opts, true);
}

/* Stops g: refuses new tasks, cancels its running children and the spawners waiting for room. */
static void stop(corio_group *g) {
    g->stopping = true;
    /* cancelling only wakes a task: none ends (and leaves the array) before this returns */
    for (size_t i = 0; i < g->nchildren; i++) corio__task_cancel(g->loop, g->children[i]);
    while (!corio__list_empty(&g->room)) corio__wake(g->loop, corio__first_waiter(&g->room), -ECANCELED);
}

int corio_group_cancel(corio_group *g) {
    if (!g) return -EINVAL;
    if (g->loop) stop(g);
    g->stopping = true;
    if (g->body_open && !g->body.cancelled) corio__scope_cancelled(g->loop, &g->body);
    return 0;
}

static void record_failure(corio_group *g, const corio_task *t) {
    if (g->nerrs == g->errs_cap) {
        size_t cap = g->errs_cap ? 2 * g->errs_cap : 4;
        corio_group_error *e = realloc(g->errs, cap * sizeof *e);
        if (!e) { /* counted, not stored: corio_group_wait_errors says how many there were */
            g->nerrs++;
            return;
        }
        g->errs = e;
        g->errs_cap = cap;
    }
    corio_group_error *e = &g->errs[g->nerrs++];
    *e = (corio_group_error){.status = t->status};
    const char *name = t->name ? t->name : "";
    size_t n = strnlen(name, sizeof e->name - 1);
    memcpy(e->name, name, n);
    e->name[n] = '\0';
}

void corio__group_child_ended(corio__loop *l, corio_task *t) {
    corio_group *g = t->group;
    corio_task *last = g->children[--g->nchildren];
    g->children[t->group_index] = last;
    last->group_index = t->group_index;
    g->pending--;
    if (t->group_keep) corio__list_push(&g->kept, &t->wnode);
    /* a child that was cancelled on purpose (or by the group stopping) and says so did not fail */
    if (t->status < 0 && !(t->status == -ECANCELED && t->cancel_req)) {
        record_failure(g, t);
        if (!g->failed) {
            g->failed = true;
            g->first_err = t->status;
            stop(g);
            if (g->body_open && !g->body.cancelled) corio__scope_cancelled(l, &g->body);
        }
    }
    if (!corio__list_empty(&g->room)) corio__wake(l, corio__first_waiter(&g->room), 0);
    if (g->pending == 0 && g->waiter) corio__wake(l, g->waiter, 0);
}

static void group_free(corio__loop *l, corio_group *g) {
    while (!corio__list_empty(&g->kept)) {
        corio_task *t = corio__container_of(g->kept.next, corio_task, wnode);
        corio__list_remove(&t->wnode);
        t->end_by = CORIO__END_NONE;
        corio__task_free(l, t);
    }
    corio__list_remove(&g->in_loop);
    free(g->children);
    free(g->errs);
    free(g);
}

int corio_group_wait_errors(corio_group *g, corio_group_error *errs, size_t cap, size_t *nerrs) {
    if (!g || (cap && !errs)) return -EINVAL;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (g->body_open) {
        const corio_task *o = g->owner;
        bool alive = corio__task_of(g->loop, o) && o->id == g->owner_id && o->state != CORIO__DONE;
        /* closing the body from another task walks the maker's scopes, which a compact maker has moved away */
        bool unreadable = o->compact && (o->scope != &g->body || g->body.outer);
        if (alive && o != self && (!self || unreadable)) return self ? -EINVAL : -EPERM;
        if (!alive) g->body_open = false; /* the maker ended: its chain is gone */
    }
    if (g->pending > 0 || g->waiter) {
        if (!self) return -EPERM;
        if (g->loop != l) return -EINVAL;
        if (g->waiter) return -EBUSY;
    }
    /* the body ends here: the owner's own waits no longer belong to the group */
    if (g->body_open) {
        corio__scope_close(g->owner, &g->body);
        g->body_open = false;
    }
    int rc = 0;
    if (g->pending > 0) {
        g->waiter = self;
        while (g->pending > 0) {
            /* once the group is stopping, the wait is shielded: its tasks are cancelled and must be waited for */
            corio__wait_on(self, CORIO__WAIT_GROUP, g);
            int r = corio__park(l, NULL, CORIO__INF, g->stopping);
            if (r < 0 && rc == 0) {
                rc = r;
                stop(g);
            }
        }
    }
    /* a child's failure wins over the waiter's own cancellation, as asyncio's ExceptionGroup and Trio's nursery
     * report the child's exception rather than the Cancelled */
    if (g->failed) rc = g->first_err;
    if (nerrs) *nerrs = g->nerrs;
    size_t n = g->nerrs < cap ? g->nerrs : cap;
    if (n) memcpy(errs, g->errs, n * sizeof *errs);
    group_free(l, g);
    return rc;
}

int corio_group_wait(corio_group *g) { return corio_group_wait_errors(g, NULL, 0, NULL); }

void corio__group_free_all(corio__loop *l) {
    /* next is read before group_free: clang's analyzer cannot tell that removing the first node updates the
     * head, and re-reading l->groups.next looked to it like a use after free */
    for (corio__link *n = l->groups.next, *next; n != &l->groups; n = next) {
        next = n->next;
        if (l->debug) (void)fprintf(stderr, "corio: a task group was never waited for\n");
        group_free(l, corio__container_of(n, corio_group, in_loop));
    }
}
