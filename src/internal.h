/* internal.h - what corio's source files share: the task, loop and pool structures, the intrusive list, the
 * timer heap, and the small contracts between the scheduler, the stacks and the I/O backend. Nothing here is
 * public; names are corio__ (two underscores), everything else in a file is static. */
#ifndef CORIO_INTERNAL_H
#define CORIO_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio.h"
#include "switch.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define CORIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
#endif
#endif

#define CORIO__INF INT64_MAX
#define CORIO__NAME_MAX 32
#define CORIO__UNGUARDED_MARGIN 512 /* bytes of stack a task switching out of an unguarded stack must have left */

/* True if the n bytes at p are all zero: a public struct's reserved space (corio.h, "Conventions"); a nonzero byte
 * there is a field of a newer header that this library does not know, which it refuses rather than ignores. */
static inline bool corio__zeroed(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}
#define CORIO__RESERVED_ZERO(s) corio__zeroed((s)->reserved, sizeof((s)->reserved))

/* ---- intrusive doubly-linked list (a ring with a sentinel head) -------------------------------------------- */

typedef struct corio__link {
    struct corio__link *prev, *next;
} corio__link;

static inline void corio__list_init(corio__link *h) { h->prev = h->next = h; }
static inline bool corio__list_empty(const corio__link *h) { return h->next == h; }
static inline void corio__list_push(corio__link *h, corio__link *n) {
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
static inline void corio__list_remove(corio__link *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}
#define corio__container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* ---- timers: a 4-ary min-heap of nodes that know their index (O(log n) removal) ------------------------------ */

/* 16 bytes, since a million sleeping compact tasks hold one each: the arming order wraps at 2^32 and is compared
 * modulo it (two timers with the same deadline armed 2^31 arms apart may fire out of order, nothing worse), and
 * the heap holds at most CORIO__HEAP_MAX timers. */
typedef struct corio__timer {
    int64_t when;   /* absolute deadline, ns on the loop clock */
    uint32_t seq;   /* arming order: equal deadlines fire first-armed first */
    uint32_t index; /* position in the heap, CORIO__NOT_ARMED when not in it */
} corio__timer;
#define CORIO__NOT_ARMED UINT32_MAX
#define CORIO__HEAP_MAX (UINT32_MAX - 1)

typedef struct corio__heap {
    corio__timer **v;
    size_t n, cap;
    uint32_t seq;
} corio__heap;

int corio__heap_push(corio__heap *h, corio__timer *t); /* 0 or -ENOMEM */
void corio__heap_remove(corio__heap *h, corio__timer *t);
static inline corio__timer *corio__heap_min(const corio__heap *h) { return h->n ? h->v[0] : NULL; }
void corio__heap_free(corio__heap *h);

/* ---- stacks ---------------------------------------------------------------------------------------------- */

typedef struct corio__stack {
    char *lo;                  /* lowest usable byte; the guard, if any, lies just below */
    struct corio__stack *next; /* free-list link */
    struct corio__pool *pool;  /* the pool it belongs to (its size, and where it goes back) */
    uint32_t vg_id;            /* valgrind's id for the registered stack */
    bool guarded;
    bool hot; /* pages may still be resident (not given back with MADV_DONTNEED) */
} corio__stack;

typedef struct corio__pool {
    size_t size;        /* usable bytes per stack */
    corio__stack *hot;  /* freed recently: pages resident, reuse costs no page fault */
    corio__stack *cold; /* pages given back to the kernel */
    size_t nhot, ncold, in_use, guarded;
    struct corio__slab *slabs;
    struct corio__pool *next; /* other sizes of the same loop */
} corio__pool;

void corio__pool_init(corio__pool *p, size_t size);
void corio__pool_destroy(corio__pool *p);
corio__stack *corio__stack_get_slow(corio__pool *p); /* NULL and errno ENOMEM */
/* A stack from the pool: the hot list inline (bench_spawn's path), the rest in stack.c. */
static inline corio__stack *corio__stack_get(corio__pool *p) {
#if !defined(CORIO_ASAN)
    corio__stack *s = p->hot;
    if (s) {
        p->hot = s->next;
        p->nhot--;
        p->in_use++;
        return s;
    }
#endif
    return corio__stack_get_slow(p);
}
static inline void corio__stack_put(corio__pool *p, corio__stack *s) {
    p->in_use--;
    s->hot = true;
    s->next = p->hot;
    p->hot = s;
    p->nhot++;
}
/* Gives the pages of freed stacks beyond a small hot cache back to the kernel, at most max_work of them. */
size_t corio__pool_trim(corio__pool *p, size_t max_work);
bool corio__pool_trimmable(const corio__pool *p); /* idle stacks beyond the hot cache are still resident */
size_t corio__page_size(void);
bool corio__valgrind(void); /* running under valgrind (known only where valgrind.h was there at build time) */
void corio__stack_guard_install(void); /* the SIGSEGV handler that names an overflowing task, this thread */
void corio__stack_guard_uninstall(void);
void corio__stack_overflow(const corio_task *t, const char *how); /* reports and aborts */

/* ---- tasks ----------------------------------------------------------------------------------------------- */

enum corio__state { CORIO__READY, CORIO__RUNNING, CORIO__WAITING, CORIO__DONE };

#define CORIO__TASK_MAGIC 0x6b534354u /* "TCSk": each loop's task_magic is this mixed with the loop's serial */
#define CORIO__TASK_DEAD 0x64616564u  /* "dead" */

/* A park() returns this when its own deadline (not a timeout scope's) passed. */
#define CORIO__WAKE_DEADLINE 1

typedef struct corio__loop corio__loop;

/* What a task's end is awaited by (corio_task.joiner, .watcher, .group share their storage): one at most, since
 * await, wait_for and gather refuse a task someone already awaits, and a group's task cannot be awaited. */
enum corio__end_by { CORIO__END_NONE, CORIO__END_JOINER, CORIO__END_WATCHER, CORIO__END_GROUP };

/* Bytes of a compact task's stack kept inside its own block while it is suspended (corio__compact_task): a task
 * asleep in corio_sleep, called from its function, uses 112 on x86-64 (bench_tasks --compact: the trampoline's
 * return address 8, the function's frame 24, the suspension's 16, the switch's 64), so most need no buffer of
 * their own; a deeper one spills to a malloc'd buffer. With the 128-byte struct the block is 240 bytes. */
#define CORIO__SAVE_INLINE 112

/* The task. A million compact tasks asleep cost this struct plus their saved stack each (bench_tasks
 * --compact), so it holds only what every task needs while it waits: the name is a separate allocation made
 * when a task is named, fields only one phase of a task's life uses share storage, flags are bits.
 * tools/corio-gdb.py reads it (name, id, state, wait_kind, wait_obj, started, ctx, all, magic). */
struct corio_task {
    /* first, within 64 bytes: what a switch, a wait and a wake-up touch */
    corio__ctx ctx;
    uint32_t magic; /* its loop's task_magic while alive: one compare tells a live task of this loop from a stale
                     * handle, garbage or another loop's task; CORIO__TASK_DEAD once freed */
    union {
        struct {
            uint8_t state;
            uint8_t wait_kind;  /* enum corio__wait: set before a park, cleared after it */
            uint8_t end_by : 2; /* enum corio__end_by */
            bool started : 1;
            bool cancelled : 1; /* a suspension fails with -ECANCELED now: the task, or a cancel scope that reaches its
                                 * innermost one, is cancelled (worked out again whenever that can change) */
            bool shielded : 1;  /* the current wait ignores cancellation and timeout scopes */
            bool detached : 1;
            bool gather_mark : 1;
            bool gather_failed : 1; /* during its corio_gather */
            bool gather_stop_on_failure : 1;
            bool compact : 1;     /* runs on the loop's shared stack (compact.c) */
            bool op_timer : 1;    /* the armed timer is the wait's own deadline (sleep, wait_for), not a scope's */
            bool saved : 1;       /* compact: its frames are off the shared stack (its saved stack pointer says how
                                   * many bytes) */
            bool cancel_req : 1;  /* corio_cancel was called on it (sticky): its outermost scope is cancelled */
            bool shield_open : 1; /* a CORIO_SCOPE_SHIELD scope is open in it: corio_cancel does not reach it now */
            bool
                group_keep : 1; /* a group's child with a handle given out: freed by corio_group_wait, not at its end */
        };
        /* all of the above at once: a new task clears them with one store, where setting bit after bit loads
         * the word back while the last partial store is in flight (a stalled store forward: bench_spawn) */
        uint32_t flags;
    };
    union {
        /* in the wait list of whatever it waits on; wnode.next points to itself when on none */
        corio__link wnode;
        /* in the ready queue or a free list: never while on a wait list (a woken task leaves it before it is
         * queued), and over wnode.prev, so wnode.next still tells whether it is on one */
        struct corio_task *next_ready;
    };
    corio_scope *scope; /* innermost open scope (on the task's stack, or in a group: see scope.c) */
    corio__stack *stack;
    union {
        int wake_rc; /* while alive: how its last wait ended (corio__wake); never written once it has ended */
        int status;  /* once ended: what its function returned */
    };
    uint32_t id; /* unique in this thread, modulo 2^32: tells a task from a later one reusing its struct */
    union {
        void *start_arg;       /* until it starts */
        void *xfer;            /* during a queue wait: the item handed over */
        size_t gather_pending; /* during its corio_gather: tasks still to end */
        uint64_t end_seq;      /* once ended: order of ending (gather's "first failure in time") */
    };
    /* the rest: spawn, the end, dumps, groups */
    uint32_t born_ms;     /* ms after the loop started (corio__loop.epoch_ns) it was spawned, modulo 2^32 (49 days):
                           * its age in a dump */
    uint32_t group_index; /* in a group: its index in the group's array of children still running */
    corio__link all;      /* in loop->tasks */
    union {
        corio__timer timer; /* once started: the deadline of its current wait, if any */
        corio_fn start_fn;  /* until it starts (never armed before: only a running task waits); over the deadline
                             * only, since the timer's index tells from the spawn on whether it is armed */
    };
    union {                         /* by end_by */
        struct corio_task *joiner;  /* the task in corio_await/wait_for on this one */
        struct corio_task *watcher; /* the task in corio_gather on this one */
        struct corio_group *group;  /* owning group (and group_index) */
    };
    const void *wait_obj; /* what it waits on, for corio_dump_tasks: the object, fd or signal number */
    char *name;           /* NULL until named or given task-local values: the name field of a corio__task_ext, kept (and
                           * reused) until the struct is freed */
#ifdef CORIO_TSAN
    void *tsan_fiber; /* ThreadSanitizer's view of this task's context */
#endif
};

/* What a task has only once it is named or holds task-local values (local.c): one allocation, pointed to by
 * corio_task.name (the name comes first, so the pointer is the name's). */
typedef struct corio__locals corio__locals;
typedef struct corio__task_ext {
    char name[CORIO__NAME_MAX];
    corio__locals *locals; /* shared with the tasks it spawned until one of them sets a value (copy on write) */
} corio__task_ext;
static inline corio__task_ext *corio__ext(const struct corio_task *t) { return (corio__task_ext *)(void *)t->name; }
/* t's extension, made (with an empty name) if it has none: NULL if there is no memory. */
corio__task_ext *corio__ext_get(struct corio_task *t);
/* A new task t inherits parent's task-local values (a reference to them), if it has any: 0 or -ENOMEM. */
int corio__locals_inherit(struct corio_task *t, const struct corio_task *parent);
/* Drops t's reference to its task-local values (the task is being freed). */
void corio__locals_release(struct corio_task *t);

/* A compact task's allocation: the task, then the room its stack is saved in while it is suspended. */
typedef struct corio__compact_task {
    struct corio_task task;
    union {
        char bytes[CORIO__SAVE_INLINE]; /* at most CORIO__SAVE_INLINE bytes saved: here */
        char *spill;                    /* more: the malloc'd buffer holding them */
    } save;
} corio__compact_task;

#if defined(__x86_64__) && !defined(CORIO_TSAN) && !defined(CORIO_SWITCH_UCONTEXT)
/* bench_tasks --compact holds a million of these: 240 bytes keeps a million under 256 MB (decimal) */
_Static_assert(sizeof(corio__compact_task) == 240, "a compact task's block grew");
#endif

static inline const char *corio__task_label(const struct corio_task *t) {
    return t->name && t->name[0] ? t->name : "(unnamed)";
}

/* ---- the I/O backend: what the scheduler needs from epoll or io_uring ---------------------------------------
 * A descriptor is armed once (edge-triggered for both directions, as Go's netpoller does) and stays armed until
 * corio_close. The backend reports readiness through corio__fd_ready; corio's own I/O always tries the system
 * call first and waits only after EAGAIN, so an edge is never missed. */

typedef struct corio__fdent corio__fdent;
/* A callback the loop runs itself when an fd is ready (the thread pool's eventfd, the signalfd), no task. */
typedef void (*corio__fd_cb)(corio__loop *l, int fd, void *data);

/* A request the backend does itself (io_uring's native I/O). A receive or send: the kernel owns the buffer from
 * submission to completion, so the task waits for the completion even when cancelled (io.c, native_io). A
 * multishot request (the server's accept) has each of its completions handed to on_cqe instead. */
typedef struct corio__ioop corio__ioop;
struct corio__ioop {
    corio_task *task; /* parked until the completion, or NULL */
    /* if set, called with each completion's result; more: the request goes on (else busy is already false) */
    void (*on_cqe)(corio__loop *l, corio__ioop *op, int res, bool more);
    int res;   /* the completion's result: bytes, or -errno */
    bool busy; /* submitted and its last completion not yet reaped */
};

struct corio__fdent {
    corio__link readers, writers; /* tasks waiting, through corio_task.wnode */
    corio__link watchers;         /* corio_select calls waiting on it (corio__watch) */
    corio__ioop ops[2];           /* the native receive [0] and send [1] in flight, one each at most */
    corio__fd_cb cb;              /* if set, readiness calls cb instead of waking tasks */
    void *cb_data;
    /* bumped each time the registry forgets the number (corio_close, corio__close_owned): an owner that lent the
     * descriptor to code that may close it (a server to its handler, a stream) closes it afterwards only if gen
     * has not moved, never a later descriptor that got the same number (corio__fd_gen) */
    uint32_t gen;
    bool armed;    /* watched by the backend */
    bool nonblock; /* O_NONBLOCK checked (set if need be) by corio's I/O */
    bool stream;   /* a stream socket: a short read means its receive queue is empty */
    bool drained;  /* a stream socket's last read was short and no readiness edge has come since */
    bool hup;      /* the peer has hung up: EOF (or an error) waits, with no further edge to announce it */
    bool fresh;    /* a stream socket just accepted, not read yet (io.c: first_read_waits) */
};

typedef struct corio__backend_ops {
    int (*init)(corio__loop *l);
    void (*close)(corio__loop *l);
    int (*poll)(corio__loop *l, int timeout_ms); /* waits up to timeout_ms (-1: no limit) and reports readiness */
    int (*arm)(corio__loop *l, int fd);          /* starts watching fd for both directions: 0 or -errno */
    void (*disarm)(corio__loop *l, int fd);      /* stops watching fd (before it is closed) */
    /* Optional (NULL on epoll): queues a native receive (dir 0) or send (dir 1) of a stream socket, submitted
     * with the loop's next poll, whose completion sets op->res, clears op->busy and wakes op->task; empty: the
     * socket is known to have nothing to receive yet. 0, or -EAGAIN when it cannot (the caller then does the
     * system call itself). */
    int (*submit)(corio__loop *l, int fd, int dir, void *buf, size_t len, bool empty, corio__ioop *op);
    /* Asks the kernel to end op early (its completion still comes): 0, or -EAGAIN if the request to do so could
     * not be queued (the caller asks again later). */
    int (*cancel)(corio__loop *l, corio__ioop *op);
    /* Optional (NULL on epoll): queues one multishot accept on listening socket lfd, submitted with the loop's
     * next poll, that hands op->on_cqe each connection's descriptor (non-blocking, close-on-exec) until it ends
     * with an error or a cancel (cancel above). 0, -EOPNOTSUPP before Linux 5.19, or -EAGAIN (ring full). */
    int (*accept)(corio__loop *l, int lfd, corio__ioop *op);
    /* Closes fd, already forgotten by the registry, when the loop alone holds it (corio__close_owned); watched:
     * the backend may still watch it or have requests of it. On io_uring the close goes with the next poll. */
    void (*close_owned)(corio__loop *l, int fd, bool watched);
    /* Optional (NULL on epoll, which defers nothing): submits what is queued now, so that deferred closes have
     * happened when it returns (corio_server_run's connections are all closed when it returns). */
    void (*flush)(corio__loop *l);
} corio__backend_ops;

extern const corio__backend_ops corio__epoll_ops;
#ifdef CORIO_HAVE_URING
extern const corio__backend_ops corio__uring_ops;
#endif

typedef struct corio__backend {
    const corio__backend_ops *ops;
    int fd;     /* the epoll or io_uring descriptor */
    void *impl; /* backend-private state */
} corio__backend;

/* Called by a backend: fd became readable and/or writable (an error or hang-up counts as both); hup: the
 * event included a hang-up or an error. */
void corio__fd_ready(corio__loop *l, int fd, bool readable, bool writable, bool hup);
/* The registry entry of fd, created if need be; NULL (and -ENOMEM / -EBADF via *rc) on failure. */
corio__fdent *corio__fd_entry(corio__loop *l, int fd, int *rc);
/* Suspends the running task until fd's next readiness edge in one direction (0 read, 1 write): 0, -EBADF if it
 * is closed meanwhile, -ECANCELED, -ETIMEDOUT. Call it after the operation returned EAGAIN. */
int corio__fd_wait(corio__loop *l, int fd, int dir);
/* One read(2) of fd that never waits, for a caller that would rather wait with no buffer (a stream): bytes, 0 at
 * EOF, -EAGAIN if nothing is there (without a system call when the socket is known empty), or -errno. */
ssize_t corio__read_try(corio__loop *l, int fd, void *buf, size_t len);
/* Wakes fd's waiters with -EBADF and stops watching it: what closing it means to the loop (corio_close). */
void corio__fd_forget(corio__loop *l, int fd);
/* corio_close of a socket no one but corio holds (a server's connection: accepted close-on-exec, never duplicated),
 * done the cheapest way the backend has: on epoll with no EPOLL_CTL_DEL (the registration goes with the file's last
 * reference), on io_uring in the loop's next poll instead of a system call of its own. Only while the number is
 * still the caller's: check corio__fd_gen first if fd was lent out. */
void corio__close_owned(corio__loop *l, int fd);
/* Has the deferred closes (corio__close_owned) done now rather than at the loop's next poll. */
void corio__io_flush(corio__loop *l);
/* fd's generation (corio__fdent.gen) into *gen, creating its entry so that every later forgetting counts: 0, or
 * -ENOMEM / -EBADF. Record it before lending fd out; an unchanged value later means fd is still the lender's. */
int corio__fd_gen(corio__loop *l, int fd, uint32_t *gen);
/* First use of fd by corio's own I/O: makes it non-blocking (the waits depend on EAGAIN), once per descriptor
 * lifetime; corio__fd_wait arms it with the backend when it first has to wait. 0 or -errno. */
int corio__fd_prepare(corio__loop *l, int fd);
/* fd was just made non-blocking by corio itself (socket or accept4 with SOCK_NONBLOCK), a stream socket if
 * stream: records it, so its first use skips corio__fd_prepare's fcntl and getsockopt (two system calls per
 * connection). Best effort: with no memory for the entry, the first use prepares fd as usual. */
void corio__fd_adopt(corio__loop *l, int fd, bool stream);
/* Whether fd is known to be a stream socket (prepared or adopted as one). */
bool corio__fd_is_stream(corio__loop *l, int fd);
/* Has the loop run cb(l, fd, data) whenever fd becomes readable (edge-triggered: cb must drain fd). */
int corio__fd_watch(corio__loop *l, int fd, corio__fd_cb cb, void *data);
/* Frees the registry (at the end of corio_run). */
void corio__fd_registry_free(corio__loop *l);

/* ---- the thread pool's loop side ---------------------------------------------------------------------------- */

/* Runs fn(arg) on the pool; the caller waits even if cancelled meanwhile (files: the buffer must stay valid), and
 * gets fn's result. -ENOMEM, -EAGAIN, -EPERM outside a task. */
int corio__to_thread_shielded(corio_work_fn fn, void *arg);
void corio__pool_loop_free(corio__loop *l); /* at the end of corio_run */
void corio__xloop_free(corio__loop *l);     /* the inbox (loops.c), at the end of corio_run */
void corio__xloop_poll(corio__loop *l);     /* runs the inbox's messages, if any, without a system call */
/* corio_tcp_listen with SO_REUSEPORT (corio_server_opts.reuseport). */
int corio__tcp_listen_reuseport(const char *host, int port, int backlog);

/* ---- the loop -------------------------------------------------------------------------------------------- */

struct corio__loop {
    corio__ctx sched_ctx; /* the scheduler's context: corio_run's own stack */
    corio_task *current;
    corio_task *main;
    corio_task *ready_head, *ready_tail;
    size_t nready;
    corio_task *zombie;  /* a task that ended and must be freed once we are off its stack */
    int budget;          /* switches left before the scheduler gets a turn (timers, I/O) */
    uint32_t task_magic; /* what its live tasks carry in corio_task.magic: unique to this loop in the process */
    int64_t now_ns;
    corio__heap timers;
    corio__link tasks;       /* every task alive */
    size_t ntasks, nrunning; /* alive; alive and not ended */
    corio__link groups;      /* every group not yet waited */
    corio__pool pool;        /* stacks of the default size; other sizes hang off pool.next */
    corio_task *free_tasks;  /* task structs kept for reuse */
    size_t nfree_tasks;
    corio_task *free_compact; /* the same for compact tasks' (longer: they hold a save area), all of them */
    size_t nfree_compact;
    void *task_chunks;          /* what task structs are carved from (task.c), linked through their first word */
    void *task_spare;           /* chunks whose structs were all free, their pages given back (corio__task_trim) */
    char *task_next;            /* the next struct in the newest chunk */
    size_t task_left;           /* bytes after it */
    char *stack_limit;          /* lowest stack pointer the running task may switch at; NULL on a guarded stack */
    int64_t epoch_ns;           /* the clock when corio_run started: tasks' ages count from it */
    _Atomic int64_t ran_ns;     /* debug mode: when the running task was switched in (read by the watchdog too) */
    _Atomic uint64_t dbg_epoch; /* debug mode: switches in, for the watchdog (watchdog.c) */
    const corio_task *_Atomic dbg_running; /* debug mode: the task running, NULL in the scheduler */
    struct corio__watchdog *watchdog;      /* debug mode's watchdog thread, or NULL */
    int64_t shutdown_ns, report_ns;        /* when the main task returned; when the next report of the tasks
                                            * still holding the loop is due (watchdog.c) */
    corio__link task_watchers;             /* corio_select calls waiting for tasks to end (corio__watch) */
    bool locals_used;                      /* a task has set a task-local value (local.c): spawns inherit them */
    corio__link quarantine; /* debug mode: freed task structs kept from reuse, oldest first, through .all */
    size_t nquarantine;
    corio__backend backend;
    size_t io_waiters;        /* tasks waiting on something outside the loop (fds, the pool, signals): while
                               * 0 the loop never polls the backend when tasks are ready, and a loop with
                               * nothing ready and no timer is deadlocked; corio__outside_begin/end keep it */
    corio__fdent **fd_chunks; /* the fd registry, in chunks that never move (wait lists point into them) */
    int8_t fresh_empty;       /* io.c: how often an accepted connection's first read(2) found nothing, -8..8 */
    uint8_t fresh_probes;     /* io.c: first reads since the last one that asked read(2) regardless */
    size_t fd_nchunks;
    uint32_t fd_gen_floor; /* a new chunk's generations start here: above any of a chunk given back (io.c) */
    struct corio__pool_link *pool_link; /* the thread pool's completion queue for this loop (pool.c) */
    struct corio__xloop *xloop;         /* the inbox other threads post to (loops.c), NULL until used */
    size_t inbox_waiters; /* tasks (and an open corio_run_threads slot) other threads may wake (corio__outside_*) */
    int64_t polled_ns;    /* when the backend was last polled: a busy loop still polls every few ms */
    uint64_t switches;
    uint64_t end_seq;
    bool debug;
    bool shutting_down;
#ifdef CORIO_TSAN
    void *tsan_fiber; /* the scheduler's context, as ThreadSanitizer knows it */
#endif
    void *sched_stack_lo; /* the scheduler stack's bounds, for the sanitizer's fiber switch */
    size_t sched_stack_size;
    /* one free stream read buffer and one write buffer (stream.c), handed from stream to stream: a wave of requests
     * on many connections, each consumed before its task suspends, then needs one buffer in all, not one each */
    char *stream_spare[2];
    corio__stack *shared_stack; /* compact tasks' stack (compact.c), NULL until the first one is spawned */
    corio_task *shared_owner;   /* the compact task whose bytes the shared stack holds, or NULL */
    bool compact_relay;         /* a compact task handed off to another through the scheduler, just for the copy */
};

/* initial-exec: in the shared library the default model would call __tls_get_addr on every corio call */
#define CORIO__TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern CORIO__TLS corio__loop *corio__cur;

/* corio__cur read afresh. After a plain read the compiler may keep the variable's TLS offset in a callee-saved
 * register across a call, and across the switch that register is one more slot saved by every suspended compact
 * task (sched.c's suspend_inline); an asm read is redone where it stands. */
static inline corio__loop *corio__cur_reload(void) {
#if defined(__x86_64__) && defined(__ELF__)
    corio__loop *l;
    __asm__ volatile("movq corio__cur@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0" : "=r"(l) : : "memory");
    return l;
#else
    return corio__cur;
#endif
}
extern CORIO__TLS uint64_t corio__next_id;

int64_t corio__clock_ns(void);
static inline int64_t corio__update_now(corio__loop *l) { return l->now_ns = corio__clock_ns(); }
/* now + ms on the loop clock (refreshed: the cached one may be a whole batch of task slices old, and a wait
 * must not end early), saturating at CORIO__INF. */
static inline int64_t corio__deadline_after(corio__loop *l, int64_t ms) {
    int64_t now = corio__update_now(l);
    return ms > (CORIO__INF - now) / 1000000 ? CORIO__INF : now + ms * 1000000;
}

/* Suspends the running task until corio__wake. q: the wait list to join (or NULL); deadline: absolute ns, or
 * CORIO__INF; shield: ignore cancellation and timeout scopes. Returns the wake code: 0 or a value the waker
 * chose, CORIO__WAKE_DEADLINE, -ECANCELED, -ETIMEDOUT (scope), -ENOMEM (no room for the timer). */
int corio__park(corio__loop *l, corio__link *q, int64_t deadline, bool shield);
/* What a parked task waits on, for corio_dump_tasks (dump.c); a park that sets none shows as "unknown". */
enum corio__wait {
    CORIO__WAIT_NONE,
    CORIO__WAIT_SLEEP,
    CORIO__WAIT_TASK, /* await, wait_for, the end of a cancelled task: obj is the task */
    CORIO__WAIT_GATHER,
    CORIO__WAIT_GROUP,
    CORIO__WAIT_LOCK,
    CORIO__WAIT_EVENT,
    CORIO__WAIT_SEM,
    CORIO__WAIT_COND,
    CORIO__WAIT_QUEUE_PUT,
    CORIO__WAIT_QUEUE_GET,
    CORIO__WAIT_FD_READ, /* obj is the fd number */
    CORIO__WAIT_FD_WRITE,
    CORIO__WAIT_SIGNAL, /* obj is the signal number */
    CORIO__WAIT_THREAD, /* corio_to_thread */
    CORIO__WAIT_SERVER,
    CORIO__WAIT_FUTURE,
    CORIO__WAIT_BARRIER,
    CORIO__WAIT_QUEUE_JOIN,
    CORIO__WAIT_ANY, /* corio_wait_any */
    CORIO__WAIT_SELECT,
};
/* Labels the park that follows: two stores, so the wait paths stay as cheap as they were. */
static inline void corio__wait_on(corio_task *t, enum corio__wait kind, const void *obj) {
    t->wait_kind = (uint8_t)kind;
    t->wait_obj = obj;
}
/* Makes a waiting task ready with rc as park's result; does nothing if t is not waiting. */
void corio__wake(corio__loop *l, corio_task *t, int rc);
/* corio__wake for a task found on a synchronisation object's wait list, which is the calling thread's loop's
 * (objects belong to one loop); called from elsewhere, it reports the misuse and aborts. */
void corio__wake_waiter(corio_task *t, int rc);
/* The first task on wait list q, or NULL. */
static inline corio_task *corio__first_waiter(corio__link *q) {
    return corio__list_empty(q) ? NULL : corio__container_of(q->next, corio_task, wnode);
}
/* Puts t at the end of the ready queue. */
static inline void corio__make_ready(corio__loop *l, corio_task *t) {
    t->state = CORIO__READY;
    t->next_ready = NULL;
    if (l->ready_tail)
        l->ready_tail->next_ready = t;
    else
        l->ready_head = t;
    l->ready_tail = t;
    l->nready++;
}
/* Gives the thread to the next ready task (or the scheduler); the caller has already queued itself somewhere. */
void corio__schedule(corio__loop *l);
/* The scheduler's hand-off, after a driver turn (loop.c): runs the head of the ready queue until the thread is back
 * in the scheduler, and goes on with the batch while compact tasks hand off to each other through it; a compact
 * head that cannot have the shared stack yet goes back in line (corio__compact_enter). */
void corio__dispatch(corio__loop *l);
/* The earliest deadline that applies to t's waits now (its innermost scope's, which takes in the outer ones up to
 * a shield); CORIO__INF with none. Read by t itself, or by another task when t's scopes may be read (scope.c). */
static inline int64_t corio__scope_deadline(const corio_task *t) {
    const corio_scope *s = t->scope;
    return s ? s->eff_deadline_ns : CORIO__INF;
}
/* Scopes (scope.c). open: s becomes t's innermost scope (deadline: absolute ns or CORIO__INF); close: s leaves
 * t's chain, innermost or not; recompute: t's cancelled and shield_open bits from its chain (t runs, or its scopes
 * may be read); cancelled: s was cancelled, the owner's wait ends if that reaches it. */
void corio__scope_open(corio_task *t, corio_scope *s, int64_t deadline, unsigned flags);
void corio__scope_close(corio_task *t, corio_scope *s);
void corio__scope_recompute(corio_task *t);
void corio__scope_cancelled(corio__loop *l, corio_scope *s);
/* Would a suspension fail now? -ECANCELED, -ETIMEDOUT or 0. */
static inline int corio__check(const corio__loop *l, const corio_task *t) {
    if (t->cancelled) return -ECANCELED;
    if (t->scope && corio__scope_deadline(t) <= l->now_ns) return -ETIMEDOUT;
    return 0;
}
/* watchdog.c: the shutdown report (started: the main task returned; check: report the tasks still running if a
 * report is due) and debug mode's watchdog thread. */
typedef struct corio__watchdog corio__watchdog;
void corio__shutdown_started(corio__loop *l);
void corio__shutdown_check(corio__loop *l);
void corio__watchdog_start(corio__loop *l);
void corio__watchdog_stop(corio__loop *l);
/* corio_select (select.c) waits on many objects at once without joining their wait lists: it puts a watch on each
 * object's watchers list, and whatever may have made the object ready (an item put or taken, a set, a release, an
 * end, a readiness edge, a close) wakes the watching tasks with corio__notify; they then try every case again.
 * The nodes live on the heap (a compact task's stack moves while it waits). */
typedef struct corio__watch {
    corio__link link;
    corio_task *task;
} corio__watch;
/* Takes every watch off the list and wakes its task (a selector of this thread's loop; aborts otherwise). */
void corio__notify(corio__link *watchers);
static inline void corio__notify_if(corio__link *watchers) {
    if (__builtin_expect(!corio__list_empty(watchers), 0)) corio__notify(watchers);
}
/* The watchers lists of the objects corio_select waits on (sync.c, queue.c). */
corio__link *corio__event_watchers(corio_event *e);
corio__link *corio__sem_watchers(corio_sem *s);
corio__link *corio__queue_watchers(corio_queue *q);
/* io.c: puts w on fd's watchers (armed with the backend): 0 or -errno. */
int corio__fd_watch_add(corio__loop *l, int fd, corio__watch *w);

/* Polls the backend without waiting if the loop has not for CORIO__POLL_GAP_NS (at l->now_ns): signals, other
 * threads' posts and descriptors reach a loop whose tasks never stop running (corio_yield, corio_checkpoint). */
#define CORIO__POLL_GAP_NS (2 * 1000000LL)
void corio__poll_if_due(corio__loop *l);
/* The running task, or NULL (and the loop through *lp). */
static inline corio_task *corio__self(corio__loop **lp) {
    corio__loop *l = corio__cur;
    *lp = l;
    return l ? l->current : NULL;
}

corio_task *corio__task_new(corio__loop *l, corio_fn fn, void *arg, const corio_task_opts *opts);
void corio__task_free(corio__loop *l, corio_task *t);
/* Is t a live task of loop l? (false for a NULL l: outside a loop no handle is valid) */
static inline bool corio__task_of(const corio__loop *l, const corio_task *t) {
    return t && l && t->magic == l->task_magic;
}
/* What a public call on an invalid handle returns (-EINVAL); in debug mode, a freed one (still quarantined, so
 * readable) is first reported on stderr by name, with the call fn that used it. */
int corio__task_invalid(const corio_task *t, const char *fn);
void corio__task_quarantine_free(corio__loop *l); /* at the end of corio_run */
void corio__task_chunks_free(corio__loop *l);     /* at the end of corio_run, after the quarantine */
/* Gives back the pages of task chunks whose structs are all free (after many tasks ended: a server's drop from
 * a peak of connections). The chunks stay the loop's, reading as zeros, so stale handles stay safe to check. */
void corio__task_trim(corio__loop *l);
/* Frees the fd registry's chunks whose descriptors are all closed and unknown to corio (io.c). */
void corio__fd_registry_trim(corio__loop *l);
size_t corio__default_stack_size(void); /* corio_set_stack_size's value, read by each corio_run */
void corio__task_cancel(corio__loop *l, corio_task *t);
/* Waits, ignoring cancellation, until t has ended (t->joiner is set to the caller for that). */
void corio__wait_ended(corio__loop *l, corio_task *self, corio_task *t);
/* Called by the group code when a child ends (see group.c). */
void corio__group_child_ended(corio__loop *l, corio_task *t);
void corio__group_free_all(corio__loop *l);
/* Debug mode's SIGQUIT (dump.c): install at corio_run's start, poll at each scheduler turn, uninstall before the
 * fd registry is freed. */
void corio__debug_quit_install(corio__loop *l);
void corio__debug_quit_poll(corio__loop *l);
void corio__debug_quit_uninstall(corio__loop *l);

/* ---- waits on the outside of the loop ------------------------------------------------------------------------
 * A task waiting for what only the outside can bring (the kernel: a descriptor, a native request, a signal; a
 * worker of the thread pool: IO; another thread's post or channel operation: INBOX) must keep the loop from
 * declaring a deadlock, and make it poll rather than sleep while tasks are ready. Every such wait is bracketed by
 * corio__outside_begin and corio__outside_end, which own the two counts: n waits begun, n ended. An end without
 * its begin aborts, naming the kind, rather than leave a count that wraps (a loop polling forever) or that a
 * missing end keeps up (a real deadlock never reported). */
enum corio__outside { CORIO__OUTSIDE_IO, CORIO__OUTSIDE_INBOX };
__attribute__((noreturn)) void corio__outside_unbalanced(enum corio__outside kind);
static inline size_t *corio__outside_count(corio__loop *l, enum corio__outside kind) {
    return kind == CORIO__OUTSIDE_IO ? &l->io_waiters : &l->inbox_waiters;
}
static inline void corio__outside_begin(corio__loop *l, enum corio__outside kind, size_t n) {
    *corio__outside_count(l, kind) += n;
}
static inline void corio__outside_end(corio__loop *l, enum corio__outside kind, size_t n) {
    size_t *c = corio__outside_count(l, kind);
    if (__builtin_expect(*c < n, 0)) corio__outside_unbalanced(kind);
    *c -= n;
}

/* Frees the loop's spare stream buffers (stream.c), at the end of corio_run. */
void corio__stream_loop_free(corio__loop *l);

/* ---- compact tasks (compact.c): copy-stack tasks sharing one stack per loop ---------------------------------- */

/* The loop's shared stack, taken from its default pool on first use; NULL (errno ENOMEM) on failure. */
corio__stack *corio__compact_stack(corio__loop *l);
/* Called before switching to compact task t: puts t's bytes on the shared stack (saving its current owner's)
 * and returns true; or, when self runs on the shared stack itself, puts t back at the head of the ready queue
 * and returns false: the scheduler, on its own stack, must do the copy; or, with no memory to save the owner's
 * bytes, puts t back at the end of the ready queue (the owner's wait fails with -ENOMEM) and returns false. */
bool corio__compact_enter(corio__loop *l, corio_task *self, corio_task *t);
/* A compact task ended or is freed: drops its saved bytes and its claim on the shared stack. */
void corio__compact_release(corio__loop *l, corio_task *t);
/* Does p point into the shared stack while a compact task runs (a pointer that its next suspension breaks)? */
static inline bool corio__compact_on_stack(const corio__loop *l, const void *p) {
    const corio__stack *s = l->shared_stack;
    return s && l->current && l->current->compact && (const char *)p >= s->lo && (const char *)p < s->lo + l->pool.size;
}

#endif
