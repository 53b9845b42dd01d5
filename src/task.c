/* task.c - tasks: spawning, awaiting (with and without a deadline), detaching, cancelling, names. The waiting
 * itself is corio__park/corio__wake in sched.c, the scopes a wait honours are scope.c's. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#if defined(CORIO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#define DEFAULT_STACK ((size_t)64 * 1024)
#define MIN_STACK ((size_t)16 * 1024)
#define MAX_STACK ((size_t)1 << 30)
/* debug mode: freed task structs held back from reuse (~160 bytes each), so a stale handle meets a "dead" magic
 * and the task's name rather than a new task (ASan's quarantine, for corio's own pool) */
#define QUARANTINE_MAX 4096

/* process-wide, read by each corio_run: atomic, since loops may start in several threads */
static _Atomic size_t default_stack = DEFAULT_STACK;

static size_t round_to_pages(size_t n) {
    size_t pg = corio__page_size();
    return (n + pg - 1) / pg * pg;
}

size_t corio__default_stack_size(void) { return atomic_load_explicit(&default_stack, memory_order_relaxed); }

int corio_set_stack_size(size_t bytes) {
    if (corio__cur) return -EBUSY;
    if (bytes < MIN_STACK || bytes > MAX_STACK) return -EINVAL;
    atomic_store_explicit(&default_stack, round_to_pages(bytes), memory_order_relaxed);
    return 0;
}

static corio__pool *pool_for(corio__loop *l, size_t size) {
    /* the first pool is part of the loop, never NULL (a for loop testing it made clang's analyzer think l could be) */
    corio__pool *p = &l->pool;
    do {
        if (p->size == size) return p;
    } while ((p = p->next));
    p = malloc(sizeof *p);
    if (!p) return NULL;
    corio__pool_init(p, size);
    p->next = l->pool.next;
    l->pool.next = p;
    return p;
}

corio__task_ext *corio__ext_get(corio_task *t) {
    if (!t->name) {
        corio__task_ext *x = malloc(sizeof *x);
        if (!x) return NULL;
        x->name[0] = 0;
        x->locals = NULL;
        t->name = (char *)x; /* its first member: the name */
    }
    return corio__ext(t);
}

/* The name buffer is allocated on first use and kept for later renames, so only naming a task for the first
 * time can fail (-ENOMEM); most tasks are never named and pay 8 bytes for the pointer, not 32 for the text. */
static int set_name(corio_task *t, const char *name) {
    if (!name) {
        if (t->name) t->name[0] = 0;
        return 0;
    }
    if (!corio__ext_get(t)) return -ENOMEM;
    size_t n = strnlen(name, CORIO__NAME_MAX - 1);
    memcpy(t->name, name, n);
    t->name[n] = 0;
    return 0;
}

/* Task structs (and compact tasks' blocks: the task and its save area) are carved from chunks of this size, one
 * after another, rather than malloc'd, and never go back to malloc while the loop runs: a freed struct goes on the
 * loop's free list of its kind for the next task. So task memory is type-stable for the loop's life, and checking
 * a stale handle (its magic) never reads freed memory. A million compact tasks are the whole of bench_tasks
 * --compact, and malloc would add 8 bytes of header to each and round it up to 16 (288 bytes for 272). The chunks
 * go back to malloc when corio_run returns. */
#define TASK_CHUNK ((size_t)64 * 1024 - 32)
#define TASK_CHUNK_HEAD 16 /* the link to the previous chunk, and the bytes carved from it once it is full */

static corio_task *carve(corio__loop *l, size_t size) {
    if (l->task_left < size) {
        void **chunk = l->task_spare; /* a chunk corio__task_trim emptied, if any */
        if (chunk)
            l->task_spare = *chunk;
        else if (!(chunk = malloc(TASK_CHUNK)))
            return NULL;
        if (l->task_chunks) /* the full chunk's carved bytes, for corio__task_trim */
            ((size_t *)l->task_chunks)[1] = TASK_CHUNK - TASK_CHUNK_HEAD - l->task_left;
        *chunk = l->task_chunks;
        l->task_chunks = chunk;
        l->task_next = (char *)chunk + TASK_CHUNK_HEAD;
        l->task_left = TASK_CHUNK - TASK_CHUNK_HEAD;
    }
    corio_task *t = (corio_task *)(void *)l->task_next;
    l->task_next += size;
    l->task_left -= size;
    return t;
}

void corio__task_chunks_free(corio__loop *l) {
    for (int list = 0; list < 2; list++) {
        void **chunk = list ? l->task_spare : l->task_chunks;
        while (chunk) {
            void **prev = *chunk;
            free(chunk);
            chunk = prev;
        }
    }
    l->task_chunks = l->task_spare = NULL;
    l->task_next = NULL;
    l->task_left = 0;
    l->free_compact = l->free_tasks = NULL;
    l->nfree_compact = l->nfree_tasks = 0;
}

/* ---- giving task memory back (corio__task_trim) ---- */

struct chunk_use {
    char *lo;
    size_t carved, free; /* bytes carved from it, and how many of those are free structs */
};

static int chunk_cmp(const void *a, const void *b) {
    const char *x = ((const struct chunk_use *)a)->lo, *y = ((const struct chunk_use *)b)->lo;
    return x < y ? -1 : x > y;
}

/* The chunk holding p (chunks sorted by address), or NULL. */
static struct chunk_use *chunk_of(struct chunk_use *c, size_t n, const void *p) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((const char *)p < c[mid].lo)
            hi = mid;
        else if ((const char *)p >= c[mid].lo + TASK_CHUNK)
            lo = mid + 1;
        else
            return &c[mid];
    }
    return NULL;
}

/* Drops from a free list the structs of chunks that are wholly free. */
static void unlist_free_chunks(corio_task **list, size_t *n, struct chunk_use *c, size_t nc) {
    for (corio_task **at = list; *at;) {
        const struct chunk_use *u = chunk_of(c, nc, *at);
        if (u && u->free == u->carved && u->carved) {
            *at = (*at)->next_ready;
            (*n)--;
        } else {
            at = &(*at)->next_ready;
        }
    }
}

void corio__task_trim(corio__loop *l) {
    size_t nc = 0;
    for (void **ch = l->task_chunks; ch; ch = *ch) nc++;
    if (nc < 2) return; /* the chunk being carved stays */
    struct chunk_use *c = malloc(nc * sizeof *c);
    if (!c) return;
    size_t i = 0;
    for (void **ch = l->task_chunks; ch; ch = *ch, i++) {
        c[i].lo = (char *)ch;
        /* the newest is still being carved: never wholly free here */
        c[i].carved = ch == l->task_chunks ? 0 : ((size_t *)ch)[1];
        c[i].free = 0;
    }
    qsort(c, nc, sizeof *c, chunk_cmp);
    const size_t sizes[2] = {(sizeof(corio_task) + 15) / 16 * 16, (sizeof(corio__compact_task) + 15) / 16 * 16};
    corio_task *lists[2] = {l->free_tasks, l->free_compact};
    for (int k = 0; k < 2; k++)
        for (corio_task *t = lists[k]; t; t = t->next_ready) {
            struct chunk_use *u = chunk_of(c, nc, t);
            if (u) u->free += sizes[k];
        }
    unlist_free_chunks(&l->free_tasks, &l->nfree_tasks, c, nc);
    unlist_free_chunks(&l->free_compact, &l->nfree_compact, c, nc);
    /* the wholly free chunks leave the list of chunks for the spare list, their pages given back: a stale handle
     * into one reads zeros (no task's magic), and carve takes them before it allocates */
    long page = sysconf(_SC_PAGESIZE);
    for (void **prev = NULL, **ch = l->task_chunks; ch;) {
        void **next = *ch;
        const struct chunk_use *u = chunk_of(c, nc, ch);
        if (u && u->carved && u->free == u->carved) {
            if (prev)
                *prev = next;
            else
                l->task_chunks = next;
            *ch = l->task_spare;
            l->task_spare = ch;
            uintptr_t a = ((uintptr_t)ch + TASK_CHUNK_HEAD + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
            uintptr_t b = ((uintptr_t)ch + TASK_CHUNK) & ~((uintptr_t)page - 1);
            if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
        } else {
            prev = ch;
        }
        ch = next;
    }
    free(c);
}

/* A task struct: from the free list of its kind, else carved from a chunk. */
static corio_task *task_alloc(corio__loop *l, bool compact) {
    corio_task **list = compact ? &l->free_compact : &l->free_tasks;
    size_t *n = compact ? &l->nfree_compact : &l->nfree_tasks;
    corio_task *t = *list;
    if (t) {
        *list = t->next_ready;
        (*n)--;
        return t;
    }
    /* a multiple of 16 bytes each, so every struct of a chunk stays as aligned as malloc's */
    return carve(l, compact ? (sizeof(corio__compact_task) + 15) / 16 * 16 : (sizeof *t + 15) / 16 * 16);
}

/* Gives a struct back for reuse (its chunk is freed only with the loop). */
static void task_release(corio__loop *l, corio_task *t) {
    corio_task **list = t->compact ? &l->free_compact : &l->free_tasks;
    size_t *n = t->compact ? &l->nfree_compact : &l->nfree_tasks;
    t->next_ready = *list;
    *list = t;
    (*n)++;
}

corio_task *corio__task_new(corio__loop *l, corio_fn fn, void *arg, const corio_task_opts *opts) {
    corio__pool *pool = &l->pool;
    if (opts && !CORIO__RESERVED_ZERO(opts)) {
        errno = EINVAL;
        return NULL;
    }
    if (opts && opts->stack_size) {
        if (opts->stack_size < MIN_STACK || opts->stack_size > MAX_STACK || opts->compact) {
            errno = EINVAL;
            return NULL;
        }
        pool = pool_for(l, round_to_pages(opts->stack_size));
        if (!pool) {
            errno = ENOMEM;
            return NULL;
        }
    }
    bool compact = opts && opts->compact && CORIO__COMPACT_SUPPORTED;
    corio_task *t = task_alloc(l, compact);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->name = NULL;
    _Static_assert(CORIO__READY == 0, "flags = 0 is a new task");
    _Static_assert(CORIO__WAIT_NONE == 0, "flags = 0 is a new task");
    _Static_assert(CORIO__END_NONE == 0, "flags = 0 is a new task");
    t->flags = 0; /* READY, no wait, every bit clear */
    t->compact = compact;
    /* the stack is reserved now, so spawn is where running out of memory shows; its pages are touched only
     * when the task first runs */
    corio__stack *stack = compact ? corio__compact_stack(l) : corio__stack_get(pool);
    /* a task inherits the task-local values of the task that spawns it (contextvars' copy of the context); a loop
     * where no task ever set one skips the question with one load (bench_spawn) */
    if (!stack || (opts && set_name(t, opts->name) < 0) ||
        (__builtin_expect(l->locals_used, 0) && corio__locals_inherit(t, l->current) < 0)) {
        if (stack && !compact) corio__stack_put(pool, stack);
        corio__locals_release(t);
        free(t->name);
        task_release(l, t);
        errno = ENOMEM;
        return NULL;
    }
    /* every field a new task reads before writing, set one by one: a memset of the whole struct was 40% of
     * corio__task_new in bench_spawn (callgrind) */
    t->scope = NULL;
    t->status = 0;
#ifdef CORIO_TSAN
    t->tsan_fiber = NULL;
#endif
    t->magic = l->task_magic;
    t->id = (uint32_t)++corio__next_id;
    t->start_fn = fn;
    t->start_arg = arg;
    t->stack = stack;
    t->timer.index = CORIO__NOT_ARMED; /* outside start_fn: valid from now on */
    corio__list_init(&t->wnode);
    corio__list_push(&l->tasks, &t->all);
    t->born_ms = (uint32_t)((l->now_ns - l->epoch_ns) / 1000000);
    l->ntasks++;
    l->nrunning++;
    /* spawned by cleanup code after the main task returned: it belongs to the shutdown too */
    if (l->shutting_down) t->cancelled = t->cancel_req = true;
    return t;
}

void corio__task_free(corio__loop *l, corio_task *t) {
    corio__list_remove(&t->all);
#ifdef CORIO_TSAN
    /* never the running context: a task is freed after it has switched away for the last time */
    if (t->tsan_fiber) __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    if (__builtin_expect(t->compact, 0))
        corio__compact_release(l, t);
    else if (t->stack)
        corio__stack_put(t->stack->pool, t->stack);
    t->stack = NULL;
    t->magic = CORIO__TASK_DEAD;
    l->ntasks--;
    if (__builtin_expect(l->locals_used, 0)) corio__locals_release(t);
    if (__builtin_expect(l->debug, 0)) { /* the name stays: a stale handle's report shows it */
        corio__list_push(&l->quarantine, &t->all);
        if (++l->nquarantine > QUARANTINE_MAX) {
            corio__link *oldest = l->quarantine.next;
            corio__list_remove(oldest);
            l->nquarantine--;
            corio_task *old = corio__container_of(oldest, corio_task, all);
            free(old->name);
            old->name = NULL;
            task_release(l, old);
        }
        return;
    }
    if (t->name) { /* most tasks have none: no call to free for them (bench_spawn) */
        free(t->name);
        t->name = NULL;
    }
    task_release(l, t);
}

void corio__task_quarantine_free(corio__loop *l) {
    for (corio__link *n = l->quarantine.next, *next; n != &l->quarantine; n = next) {
        next = n->next;
        corio_task *t = corio__container_of(n, corio_task, all);
        free(t->name);
    }
    corio__list_init(&l->quarantine);
    l->nquarantine = 0;
}

int corio__task_invalid(const corio_task *t, const char *fn) {
    const corio__loop *l = corio__cur;
    /* a dead struct is always readable (task structs stay with the loop), but only debug mode keeps its name */
    if (t && l && l->debug && t->magic == CORIO__TASK_DEAD)
        (void)fprintf(stderr, "corio: task \"%s\" used after it was freed (%s)\n", corio__task_label(t), fn);
    return -EINVAL;
}

corio_task *corio_spawn_opts(corio_fn fn, void *arg, const corio_task_opts *opts) {
    corio__loop *l = corio__cur;
    if (!l) {
        errno = EPERM;
        return NULL;
    }
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    if (__builtin_expect(corio__compact_on_stack(l, arg), 0)) {
        /* the new task would read the spawner's stack while the spawner is suspended and its bytes moved away */
        if (l->debug)
            (void)fprintf(stderr, "corio: compact task \"%s\" passed a pointer into its own stack to corio_spawn\n",
                          corio__task_label(l->current));
        errno = EINVAL;
        return NULL;
    }
    corio_task *t = corio__task_new(l, fn, arg, opts);
    if (t) corio__make_ready(l, t);
    return t;
}

corio_task *corio_spawn(corio_fn fn, void *arg) { return corio_spawn_opts(fn, arg, NULL); }

/* Checks shared by await and wait_for; 0 when t may be awaited by self. */
static int awaitable(corio__loop *l, const corio_task *self, corio_task *t, const char *fn) {
    if (!self) return -EPERM;
    if (!corio__task_of(l, t)) return corio__task_invalid(t, fn);
    if (t == self) return -EDEADLK;
    if (t->detached || t->end_by == CORIO__END_GROUP || t == l->main) return -EINVAL;
    if (t->end_by == CORIO__END_WATCHER || (t->end_by == CORIO__END_JOINER && t->joiner != self)) return -EBUSY;
    return 0;
}

int corio_await(corio_task *t) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    int rc = awaitable(l, self, t, "corio_await");
    if (rc < 0) return rc;
    if (t->state != CORIO__DONE) {
        t->joiner = self;
        t->end_by = CORIO__END_JOINER;
        corio__wait_on(self, CORIO__WAIT_TASK, t);
        rc = corio__park(l, NULL, CORIO__INF, false);
        t->end_by = CORIO__END_NONE;
        if (t->state != CORIO__DONE) /* cancelled or timed out: t runs on, and can be awaited again */
            return rc < 0 ? rc : -ECANCELED;
    }
    int status = t->status;
    corio__task_free(l, t);
    return status;
}

int corio_wait_for(corio_task *t, int64_t ms) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    int rc = awaitable(l, self, t, "corio_wait_for");
    if (rc < 0) return rc;
    if (ms < 0) return -EINVAL;
    if (t->state != CORIO__DONE) {
        t->joiner = self;
        t->end_by = CORIO__END_JOINER;
        corio__wait_on(self, CORIO__WAIT_TASK, t);
        rc = corio__park(l, NULL, corio__deadline_after(l, ms), false);
        if (t->state != CORIO__DONE) {
            /* expired, or the waiter was cancelled: asyncio.wait_for cancels the inner task and waits for it */
            corio__task_cancel(l, t);
            corio__wait_ended(l, self, t);
            int status = t->status;
            corio__task_free(l, t);
            /* a task that ended on its own terms after all (a result, or its own error) is never a timeout */
            if (status != -ECANCELED) return status;
            return rc == CORIO__WAKE_DEADLINE ? -ETIMEDOUT : (rc < 0 ? rc : -ECANCELED);
        }
        t->end_by = CORIO__END_NONE;
    }
    int status = t->status;
    corio__task_free(l, t);
    return status;
}

void corio_detach(corio_task *t) {
    corio__loop *l = corio__cur;
    if (!corio__task_of(l, t)) {
        (void)corio__task_invalid(t, "corio_detach");
        return;
    }
    if (t == l->main || t->end_by == CORIO__END_GROUP || t->detached) return;
    if (t->end_by != CORIO__END_NONE) return; /* someone awaits it: that await frees it */
    if (t->state == CORIO__DONE) {
        corio__task_free(l, t);
        return;
    }
    t->detached = true;
}

int corio_cancel(corio_task *t) {
    corio__loop *l = corio__cur;
    if (!corio__task_of(l, t)) return corio__task_invalid(t, "corio_cancel");
    if (t->state == CORIO__DONE) return -ESRCH;
    corio__task_cancel(l, t);
    return 0;
}

int corio_checkpoint(void) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    corio__update_now(l);
    corio__poll_if_due(l); /* a task looping on checkpoints never lets the scheduler poll: do it here */
    int rc = corio__check(l, self);
    if (rc < 0 && l->shutting_down) corio__shutdown_check(l);
    return rc;
}

corio_task *corio_current(void) {
    corio__loop *l = corio__cur;
    return l ? l->current : NULL;
}

int corio_task_set_name(corio_task *t, const char *name) {
    if (!corio__task_of(corio__cur, t)) return corio__task_invalid(t, "corio_task_set_name");
    return set_name(t, name);
}

const char *corio_task_name(const corio_task *t) {
    if (corio__task_of(corio__cur, t)) return t->name ? t->name : "";
    (void)corio__task_invalid(t, "corio_task_name");
    return NULL;
}

int corio_task_done(const corio_task *t) {
    if (!corio__task_of(corio__cur, t)) return corio__task_invalid(t, "corio_task_done");
    return t->state == CORIO__DONE;
}
