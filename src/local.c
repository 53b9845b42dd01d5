/* local.c - task-local values (Python's contextvars): a value per key and task, which a spawned task inherits
 * from its spawner as they were at the spawn. A task's values live in its extension (corio__task_ext) as a small
 * array of (key, value) pairs shared by reference with the tasks it spawned, and copied by the first of them to set
 * a value (copy on write): spawning costs a reference, and tasks that never use values pay nothing. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct corio__locals {
    uint32_t refs; /* tasks holding these values; one loop's tasks only, so no atomics */
    uint32_t n, cap;
    struct {
        const corio_local *key;
        void *value;
    } v[];
};

static corio__locals *locals_alloc(uint32_t cap) {
    corio__locals *x = malloc(sizeof *x + cap * sizeof x->v[0]);
    if (!x) return NULL;
    x->refs = 1;
    x->n = 0;
    x->cap = cap;
    return x;
}

int corio__locals_inherit(corio_task *t, const corio_task *parent) {
    if (!parent || !parent->name || !corio__ext(parent)->locals) return 0;
    corio__task_ext *x = corio__ext_get(t);
    if (!x) return -ENOMEM;
    x->locals = corio__ext(parent)->locals;
    x->locals->refs++;
    return 0;
}

void corio__locals_release(corio_task *t) {
    if (!t->name) return;
    corio__task_ext *x = corio__ext(t);
    if (x->locals && --x->locals->refs == 0) free(x->locals);
    x->locals = NULL;
}

int corio_local_set(corio_local *key, void *value) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!key || !CORIO__RESERVED_ZERO(key)) return -EINVAL;
    l->locals_used = true;
    corio__task_ext *x = corio__ext_get(self);
    if (!x) return -ENOMEM;
    corio__locals *v = x->locals;
    uint32_t i = 0;
    if (v)
        while (i < v->n && v->v[i].key != key) i++;
    if (!v || v->refs > 1 || (i == v->n && v->n == v->cap)) {
        /* shared with another task, or full: this task gets its own copy, with room for one more */
        uint32_t n = v ? v->n : 0;
        corio__locals *c = locals_alloc(n < 4 ? 4 : 2 * n);
        if (!c) return -ENOMEM;
        if (v) memcpy(c->v, v->v, n * sizeof v->v[0]);
        c->n = n;
        if (v && --v->refs == 0) free(v);
        x->locals = v = c;
    }
    if (i == v->n) {
        v->v[i].key = key;
        v->n++;
    }
    v->v[i].value = value;
    return 0;
}

void *corio_local_get(const corio_local *key) {
    corio__loop *l;
    const corio_task *self = corio__self(&l);
    if (!key) return NULL;
    if (self && self->name) {
        const corio__locals *v = corio__ext(self)->locals;
        if (v)
            for (uint32_t i = 0; i < v->n; i++)
                if (v->v[i].key == key) return v->v[i].value;
    }
    return key->initial;
}
