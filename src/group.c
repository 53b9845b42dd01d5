/* group.c - task groups (asyncio.TaskGroup, Trio's nursery): a group owns its tasks, the first failure cancels
 * the others the moment it happens, and corio_group_wait returns once every task has ended. Tasks of a group
 * free themselves when they end; the group keeps only a count and the list of those still running. */
#include <stdlib.h>

#include "internal.h"

struct corio_group {
    corio_task **children; /* tasks still running (each knows its index: corio_task.group_index) */
    size_t nchildren, cap;
    corio__link in_loop; /* in loop->groups, so corio_run can free a group nobody waited for */
    corio__loop *loop;   /* bound at the first spawn */
    size_t pending;
    corio_task *waiter;
    int first_err;
    bool failed;
    bool stopping;
};

corio_group *corio_group_new(void) {
    corio_group *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    corio__list_init(&g->in_loop);
    return g;
}

int corio_group_spawn(corio_group *g, corio_fn fn, void *arg) {
    if (!g || !fn) return -EINVAL;
    corio__loop *l = corio__cur;
    if (!l) return -EPERM;
    if (g->loop && g->loop != l) return -EINVAL;
    if (g->stopping) return -ECANCELED;
    if (g->nchildren == g->cap) {
        /* an array rather than a list through the tasks: a 4-byte index in each task struct, not a 16-byte link */
        if (g->cap >= UINT32_MAX / 2) return -ENOMEM; /* the index is 32 bits */
        size_t cap = g->cap ? g->cap * 2 : 8;
        /* an array of pointers: sizeof *v is meant (clang-tidy < 16 has no WarnOnSizeOfPointerToAggregate) */
        corio_task **v = realloc(g->children, cap * sizeof *v); // NOLINT(bugprone-sizeof-expression)
        if (!v) return -ENOMEM;
        g->children = v;
        g->cap = cap;
    }
    corio_task *t = corio__task_new(l, fn, arg, NULL);
    if (!t) return -errno;
    if (!g->loop) {
        g->loop = l;
        corio__list_push(&l->groups, &g->in_loop);
    }
    t->group = g;
    t->group_index = (uint32_t)g->nchildren;
    t->end_by = CORIO__END_GROUP;
    g->children[g->nchildren++] = t;
    g->pending++;
    corio__make_ready(l, t);
    return 0;
}

int corio_group_cancel(corio_group *g) {
    if (!g) return -EINVAL;
    g->stopping = true;
    /* cancelling only wakes a task: none ends (and leaves the array) before this returns */
    for (size_t i = 0; i < g->nchildren; i++) corio__task_cancel(g->loop, g->children[i]);
    return 0;
}

void corio__group_child_ended(corio__loop *l, corio_task *t) {
    corio_group *g = t->group;
    corio_task *last = g->children[--g->nchildren];
    g->children[t->group_index] = last;
    last->group_index = t->group_index;
    g->pending--;
    if (t->status < 0 && !g->failed) {
        g->failed = true;
        g->first_err = t->status;
        if (!g->stopping) corio_group_cancel(g);
    }
    if (g->pending == 0 && g->waiter) corio__wake(l, g->waiter, 0);
}

static void group_free(corio_group *g) {
    corio__list_remove(&g->in_loop);
    free(g->children);
    free(g);
}

int corio_group_wait(corio_group *g) {
    if (!g) return -EINVAL;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (g->pending == 0 && !g->waiter) { /* nothing to wait for: works outside a loop too */
        int rc = g->failed ? g->first_err : 0;
        group_free(g);
        return rc;
    }
    if (!self) return -EPERM;
    if (g->loop != l) return -EINVAL;
    if (g->waiter) return -EBUSY;
    g->waiter = self;
    int rc = 0;
    while (g->pending > 0) {
        /* once the group is stopping, the wait is shielded: its tasks are cancelled and must be waited for */
        corio__wait_on(self, CORIO__WAIT_GROUP, g);
        int r = corio__park(l, NULL, CORIO__INF, g->stopping);
        if (r < 0 && rc == 0) {
            rc = r;
            corio_group_cancel(g);
        }
    }
    if (rc == 0 && g->failed) rc = g->first_err;
    group_free(g);
    return rc;
}

void corio__group_free_all(corio__loop *l) {
    /* next is read before group_free: clang's analyzer cannot tell that removing the first node updates the
     * head, and re-reading l->groups.next looked to it like a use after free */
    for (corio__link *n = l->groups.next, *next; n != &l->groups; n = next) {
        next = n->next;
        if (l->debug) (void)fprintf(stderr, "corio: a task group was never waited for\n");
        group_free(corio__container_of(n, corio_group, in_loop));
    }
}
