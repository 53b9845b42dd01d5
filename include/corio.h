/* corio.h - the public API of corio, asyncio for C: coroutines, an event loop, tasks, timeouts, groups and
 * synchronisation primitives, all in one thread.
 *
 * Conventions (the whole API follows them):
 *  - Functions return >= 0 on success and a negative errno value on failure (-ECANCELED, -ETIMEDOUT, ...), as
 *    libuv does; corio_strerror(rc) and corio_err_name(rc) describe one. Functions that return a pointer return
 *    NULL and set errno instead.
 *  - Times are milliseconds.
 *  - "Suspends" means the calling task gives up the thread until the awaited thing happens; other tasks run
 *    meanwhile. Only a task (code running under corio_run) can suspend; elsewhere such calls return -EPERM.
 *  - A call that has to suspend first checks the caller: if it was cancelled (or a cancel scope around it was)
 *    it returns -ECANCELED, and if the deadline of a scope around it has passed it returns -ETIMEDOUT, without
 *    suspending; inside a CORIO_SCOPE_SHIELD scope only that scope's own cancel and deadline count. A call that
 *    can complete at once (taking a free lock, getting a queued item) completes, even for a cancelled task, so
 *    cleanup code can still release what it holds. A compact task's suspension may also fail with -ENOMEM when
 *    memory to save its stack runs out.
 *  - A struct a program fills in or allocates (options, counters, select cases) ends in zeroed `reserved` space
 *    where later minor versions add fields (docs/abi.md): zero-initialise it (`{.backlog = 5}`, `{0}`, memset), so a
 *    field the program does not know means "the default". A call given one whose reserved space is not zero fails
 *    with -EINVAL (NULL and errno EINVAL).
 *
 * Lifetime rules:
 *  1. corio_spawn returns a handle the caller owns. Exactly one of corio_await, corio_wait_for, corio_gather or
 *     corio_detach must be applied to it; the first three free the task once it has ended (like pthread_join),
 *     corio_detach makes it free itself when it ends. A handle must not be used after it was freed: its struct
 *     may already hold a newer task (checking a stale handle reads no freed memory: task structs stay with the loop
 *     until corio_run returns). With CORIO_DEBUG=1 the last 4096 freed tasks are kept from reuse, and a call
 *     on one prints `corio: task "NAME" used after it was freed (corio_cancel)` on stderr and returns -EINVAL.
 *     A handle works only in its own loop: on another loop's thread (corio_run_threads) every call takes it for
 *     an invalid one (-EINVAL, NULL, or ignored).
 *  2. Tasks spawned into a group (corio_group_spawn) belong to the group; corio_group_wait frees them and the
 *     group.
 *  3. When the main task of corio_run returns, every task still running is cancelled (and so is any task
 *     spawned after that) and corio_run waits for all of them to end before it returns; tasks never awaited
 *     are freed then (and listed when CORIO_DEBUG=1).
 *  4. A cancelled call leaves nothing behind: a cancelled queue_put did not enqueue its item, a cancelled
 *     lock_acquire does not hold the lock, and a waiter that had already been handed a wakeup, an item or the
 *     lock returns success (the cancellation then shows at its next suspension).
 */
#ifndef CORIO_H
#define CORIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header (the Makefile takes the library's from here: one place to change at a release).
 * docs/abi.md says what a minor and a patch version may change, and when the SONAME's number moves. */
#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 2
#define CORIO_VERSION_PATCH 0

#if defined(__GNUC__)
#define CORIO_EXTERN __attribute__((visibility("default")))
#else
#define CORIO_EXTERN
#endif

/* ---- version ----------------------------------------------------------------------------------------------- */

/* The version of the library running, "MAJOR.MINOR.PATCH" (e.g. "0.2.0"), which may be newer than the
 * CORIO_VERSION_* of the header a program was built with (docs/abi.md). Never NULL. */
CORIO_EXTERN const char *corio_version(void);

/* ---- errors ------------------------------------------------------------------------------------------------ */

/* A sentence describing rc (a negative errno value, or 0): "operation canceled", "timed out"... never NULL. */
CORIO_EXTERN const char *corio_strerror(int rc);
/* The symbolic name of rc: "ECANCELED", "ETIMEDOUT"...; "OK" for 0, "UNKNOWN" for codes it does not know. */
CORIO_EXTERN const char *corio_err_name(int rc);

/* ---- the loop ---------------------------------------------------------------------------------------------- */

typedef struct corio_task corio_task;
typedef int (*corio_fn)(void *arg); /* a task: its return value is its status (0 or a negative errno) */

/* Runs fn(arg) as the main task of a new loop in this thread; when fn returns, cancels the tasks still running,
 * waits for them (listing on stderr, 1 s later and every 10 s, those that still have not ended), frees everything
 * and returns fn's status. A deadlock (every task waits on something only another waiting task could end) cancels
 * every task, so their waits fail with -ECANCELED and they can unwind; if even that wakes nobody, corio_run
 * returns -EDEADLK. -EBUSY if a loop already runs in this thread, -EINVAL if fn is NULL, -ENOMEM if the loop cannot
 * be set up. In a child process forked from a loop's thread, every corio call acts as outside a loop (-EPERM): the
 * loop is the parent's. Environment: CORIO_DEBUG=1 turns on debug mode (reports tasks never awaited or detached,
 * and tasks that run over 100 ms without suspending, while they run);
 * CORIO_BACKEND=epoll|uring chooses the backend (default io_uring where built and allowed, else epoll);
 * CORIO_GUARD_STACKS=N gives mprotect'd guard pages to the first N stacks only, as kernels before 6.13 must
 * (default: every stack gets a guard marker, or a quarter of vm.max_map_count there), read once. */
CORIO_EXTERN int corio_run(corio_fn fn, void *arg);

/* Runs fn(arg) as the main task of n loops, one per thread (the caller's thread runs loop 0; see corio_post):
 * the first failure among them (in time), or 0. -EINVAL if n is 0 or above 256 or fn is NULL, -EBUSY inside a
 * loop, -EAGAIN / -ENOMEM if a loop cannot start (then fn runs nowhere). */
CORIO_EXTERN int corio_run_threads(unsigned n, corio_fn fn, void *arg);
/* The index of the caller's loop in corio_run_threads (0..n-1) and the loop count; -EPERM outside one. */
CORIO_EXTERN int corio_loop_index(void);
CORIO_EXTERN int corio_loop_count(void);
/* Spawns fn(arg) as a detached task on loop number loop of the caller's corio_run_threads (from any of its loop
 * threads): 0, -EINVAL (fn NULL, no such loop, arg on a compact task's stack), -EPERM outside corio_run_threads,
 * -ESHUTDOWN once that loop's fn has returned (tasks posted before are cancelled then, lifetime rule 3), -ENOMEM. */
CORIO_EXTERN int corio_post(unsigned loop, corio_fn fn, void *arg);

/* Monotonic time in ms, read once per loop iteration (cheap; libuv's uv_now) and refreshed when a task starts a
 * timed wait. 0 outside a loop. */
CORIO_EXTERN int64_t corio_now(void);

/* Sets the stack size of tasks in loops started afterwards (default 64 KiB), rounded up to whole pages.
 * -EINVAL below 16 KiB or above 1 GiB; -EBUSY when called inside a running loop. */
CORIO_EXTERN int corio_set_stack_size(size_t bytes);

/* Counters of the current loop, for tests, benchmarks and monitoring. */
typedef struct corio_stats {
    size_t tasks;          /* tasks alive (spawned and not yet freed), the main task included */
    size_t ready;          /* tasks ready to run */
    size_t timers;         /* pending timers (sleeps, deadlines) */
    size_t stacks_in_use;  /* stacks held by started tasks */
    size_t stacks_cached;  /* free stacks kept for reuse */
    size_t stacks_guarded; /* stacks in use or cached that have a guard page below them */
    size_t stack_size;     /* bytes of each task stack */
    uint64_t switches;     /* context switches so far */
    /* zeroed by corio_stats_get: room for later counters */
    unsigned char reserved[64];
} corio_stats;
/* Fills *st with the current loop's counters. -EPERM outside a loop, -EINVAL if st is NULL. */
CORIO_EXTERN int corio_stats_get(corio_stats *st);
/* Writes one line per task of the current loop to out (stderr if NULL): id, name, state, what it waits on, age
 * in ms and its stack use (approximate: resident pages). Writes one line saying so outside a loop. In debug mode
 * (CORIO_DEBUG=1) SIGQUIT (Ctrl-\) prints this to stderr, from the loop, and no longer ends the process. */
CORIO_EXTERN void corio_dump_tasks(FILE *out);

/* ---- tasks ------------------------------------------------------------------------------------------------- */

typedef struct corio_task_opts {
    const char *name;  /* task name for debugging (copied; at most 31 bytes kept), or NULL */
    /* 0 for the loop's default; otherwise rounded up to pages, 16 KiB .. 1 GiB. A 64 KiB guard lies below each
     * stack: build with -fstack-clash-protection (docs/guide.md, "Task stacks") so a large frame cannot skip it */
    size_t stack_size;
    /* nonzero: a compact task, run on the loop's one shared stack and keeping only the bytes it uses while suspended
     * (a few hundred, not a 4 KiB page; its block is reused by later compact tasks and goes back to the system
     * when corio_run returns). Nothing may point into its stack while it waits: see docs/design.md. */
    int compact;
    unsigned char reserved[44]; /* zero: room for later options */
} corio_task_opts;

/* A new task running fn(arg), ready to run (it starts at the caller's next suspension). NULL and errno on
 * failure: EPERM outside a loop, EINVAL if fn is NULL, ENOMEM. */
CORIO_EXTERN corio_task *corio_spawn(corio_fn fn, void *arg);
/* corio_spawn with options (opts may be NULL); also EINVAL for a stack size out of range. */
CORIO_EXTERN corio_task *corio_spawn_opts(corio_fn fn, void *arg, const corio_task_opts *opts);

/* Suspends until t ends, returns t's status and frees t. -EDEADLK if t is the calling task, -EINVAL if t is
 * NULL, detached, in a group, the main task or already freed, -EBUSY if another task already awaits t. A cancelled
 * waiter (or one whose timeout scope expires) returns -ECANCELED (or -ETIMEDOUT) and t is left running, still
 * awaitable. */
CORIO_EXTERN int corio_await(corio_task *t);

/* Like corio_await with a deadline: if t has not ended within ms, cancels t, waits for it to end, frees it and
 * returns -ETIMEDOUT. If the waiter is cancelled, t is cancelled, waited for and freed, and -ECANCELED is
 * returned. Either way, if t ended with anything but -ECANCELED (it finished, or failed on its own, by then), its
 * status is returned instead: a result that arrived is never replaced by a timeout. Errors as corio_await, and
 * -EINVAL if ms < 0. */
CORIO_EXTERN int corio_wait_for(corio_task *t, int64_t ms);

/* Awaits all n tasks and frees them. statuses == NULL: the first failure (in time) cancels the others, and once
 * they have ended it is returned (unlike asyncio.gather, which leaves the others running: corio cancels them, as
 * asyncio.TaskGroup does, so no task outlives the call). statuses != NULL: waits for all, stores each status in
 * statuses[i] and returns 0 (return_exceptions=True). If the caller is cancelled, every task is cancelled and
 * waited for, and -ECANCELED is returned. -EINVAL if t is NULL with n > 0 or a task is invalid or repeated,
 * -EBUSY if one is already awaited by another task, -EDEADLK if the caller is among them (in each case no task
 * is touched). */
CORIO_EXTERN int corio_gather(corio_task **t, size_t n, int *statuses);

/* Waits until at least one of the n tasks has ended (asyncio.wait with FIRST_COMPLETED): the lowest index among
 * those that have, even if the deadline or a cancellation came in the same turn. The tasks are neither freed nor
 * cancelled: each still needs its corio_await (or gather, detach). -ETIMEDOUT after ms >= 0 (ms < 0: no limit),
 * -ECANCELED, -EINVAL (ts NULL, n 0, a task invalid, detached, in a group or the main task), -EBUSY (one is awaited
 * by another task), -EDEADLK (the caller is among them), -EPERM outside a task. */
CORIO_EXTERN int corio_wait_any(corio_task **ts, size_t n, int64_t ms);

/* t frees itself when it ends; its status is discarded. Ignores NULL and invalid handles. */
CORIO_EXTERN void corio_detach(corio_task *t);

/* Asks t to stop: its current or next suspension returns -ECANCELED, and so does every later one (sticky).
 * 0 when delivered, -ESRCH if t has already ended, -EINVAL if t is NULL or invalid. A task may cancel itself. */
CORIO_EXTERN int corio_cancel(corio_task *t);

/* Lets every other ready task run once, then returns 0; -ECANCELED / -ETIMEDOUT as any suspension. */
CORIO_EXTERN int corio_yield(void);
/* Suspends for ms (0 is corio_yield): 0, or -ECANCELED, -ETIMEDOUT (timeout scope), -EINVAL if ms < 0. */
CORIO_EXTERN int corio_sleep(int64_t ms);
/* Returns -ECANCELED or -ETIMEDOUT if a suspension would fail now, else 0; never suspends. For long loops. */
CORIO_EXTERN int corio_checkpoint(void);

/* The calling task, or NULL outside a loop. */
CORIO_EXTERN corio_task *corio_current(void);
/* Names t (copied, at most 31 bytes kept; NULL clears). -EINVAL if t is NULL or invalid, -ENOMEM if the first name
 * of t cannot be stored (a task keeps no name buffer until it is named). */
CORIO_EXTERN int corio_task_set_name(corio_task *t, const char *name);
/* t's name, "" if it has none, NULL if t is NULL or invalid. */
CORIO_EXTERN const char *corio_task_name(const corio_task *t);
/* 1 if t has ended (its status is ready), 0 if it still runs, -EINVAL if t is NULL or invalid. */
CORIO_EXTERN int corio_task_done(const corio_task *t);

/* ---- task-local values (Python's contextvars) --------------------------------------------------------------- */

/* A key for a value each task holds for itself, e.g. `static corio_local request_id = {0};`. A task spawned
 * (corio_spawn, groups) starts with the values its spawner held at that moment; later sets on either side are
 * their own. */
typedef struct corio_local {
    void *initial;        /* what corio_local_get returns in a task that never set (nor inherited) a value */
    /* zero: room for later fields */
    unsigned char reserved[24];
} corio_local;
/* Sets the calling task's value for key. 0, -EINVAL if key is NULL, -EPERM outside a task, -ENOMEM. */
CORIO_EXTERN int corio_local_set(corio_local *key, void *value);
/* The calling task's value for key, key->initial if it has none (also outside a task); NULL if key is NULL. */
CORIO_EXTERN void *corio_local_get(const corio_local *key);

/* ---- cancel scopes (Trio's CancelScope; asyncio.timeout) ---------------------------------------------------
 * A scope covers the waits a task makes between corio_scope_enter and corio_scope_exit. Cancellation is
 * level-triggered per scope, as in Trio: while a scope is cancelled (or past its deadline) every wait inside it
 * fails at once with -ECANCELED (-ETIMEDOUT), and leaving the scope ends that, so the task goes on normally after
 * corio_scope_exit unless an outer scope or the task itself is cancelled. corio_cancel(t) cancels t's outermost
 * scope; a shielded scope inside it still lets cleanup wait (drain a stream, await a cancelled child). A shielded
 * scope with a deadline is the idiom for bounded cleanup (docs/guide.md, "Cancellation and cleanup"). */

/* Lives on the caller's stack (or anywhere that outlives it) between enter and exit; its fields are private. */
typedef struct corio_scope {
    int64_t deadline_ns;      /* private */
    int64_t eff_deadline_ns;  /* private */
    int64_t wait_deadline_ns; /* private */
    struct corio_scope *outer; /* private */
    corio_task *owner;        /* private */
    uint32_t shields_inside;  /* private */
    uint16_t flags;           /* private */
    uint8_t cancelled;        /* private */
    /* private: room for later fields */
    unsigned char reserved[17];
} corio_scope;
/* A shielded scope: waits inside are immune to cancellation and deadlines from outside it (its own deadline and
 * its own corio_scope_cancel still apply). */
#define CORIO_SCOPE_SHIELD 1U

/* Opens a scope in the calling task: ms >= 0 is a deadline ms from now (a nested scope cannot extend an outer one's,
 * unless it is shielded), ms < 0 none. -EPERM outside a task, -EINVAL if s is NULL or already open or flags has an
 * unknown bit. */
CORIO_EXTERN int corio_scope_enter(corio_scope *s, int64_t ms, unsigned flags);
/* Closes the innermost scope: -ECANCELED if corio_scope_cancel(s) was called, else -ETIMEDOUT if its own deadline
 * has passed, else 0 (an outer scope's cancel or expiry is reported by that scope's exit). -EINVAL if s is not the
 * calling task's innermost open scope (nothing is closed then). */
CORIO_EXTERN int corio_scope_exit(corio_scope *s);
/* Cancels every wait inside s, now and until it is closed; idempotent. From any task of s's loop. 0; -EINVAL if s is
 * NULL or not open, -EPERM outside its loop, or if s lies on a compact task's stack and the caller is another task
 * (those bytes move while it waits). */
CORIO_EXTERN int corio_scope_cancel(corio_scope *s);
/* Moves s's deadline to ms from now (ms < 0: none); waits inside, the current one included, follow it. A scope
 * already past its deadline stays expired. Errors as corio_scope_cancel. */
CORIO_EXTERN int corio_scope_set_deadline(corio_scope *s, int64_t ms);
/* 1 if s was cancelled (corio_scope_cancel) or its deadline has passed, else 0; -EINVAL as corio_scope_cancel. */
CORIO_EXTERN int corio_scope_cancelled(const corio_scope *s);

/* Timeout scopes (asyncio.timeout, Trio's move_on_after): a cancel scope with a deadline and no shield. */
typedef corio_scope corio_timeout;
/* corio_scope_enter(scope, ms, 0), except that ms < 0 is a deadline already past (asyncio.timeout with a delay in
 * the past): every wait inside fails with -ETIMEDOUT. */
CORIO_EXTERN int corio_timeout_enter(corio_timeout *scope, int64_t ms);
/* corio_scope_exit: -ETIMEDOUT if its own deadline has passed, -ECANCELED if it was cancelled, else 0. */
CORIO_EXTERN int corio_timeout_exit(corio_timeout *scope);

/* ---- task groups (asyncio.TaskGroup, Trio's nursery) ------------------------------------------------------- */

typedef struct corio_group corio_group;
/* A new empty group. Called in a task, it opens the group's body: a cancel scope in that task, closed by
 * corio_group_wait, so the task's waits in between fail with -ECANCELED as soon as a child fails (or the group is
 * cancelled); wait for the group before closing scopes opened before it. NULL and errno ENOMEM. */
CORIO_EXTERN corio_group *corio_group_new(void);
/* Spawns fn(arg) into g (same as corio_spawn otherwise); with a limit reached, first suspends until a child ends.
 * -EINVAL if g or fn is NULL, -EPERM outside a loop, -ECANCELED if g is stopping after a failure or a cancel (or the
 * caller is cancelled while it waits for room), -ETIMEDOUT, -ENOMEM. */
CORIO_EXTERN int corio_group_spawn(corio_group *g, corio_fn fn, void *arg);
/* corio_group_spawn with options (opts may be NULL), returning a handle the group still owns, valid until
 * corio_group_wait returns: for corio_cancel, corio_task_done, names and dumps; not awaitable. NULL and errno as
 * corio_group_spawn's codes. */
CORIO_EXTERN corio_task *corio_group_spawn_opts(corio_group *g, corio_fn fn, void *arg, const corio_task_opts *opts);
/* At most n children of g run at once (0: no limit, the default), as Go's errgroup.SetLimit: a spawn beyond it
 * waits for room. 0, -EINVAL if g is NULL. */
CORIO_EXTERN int corio_group_set_limit(corio_group *g, size_t n);
/* Cancels every task of g and g's body (g then refuses new ones); the cancelled children are not failures, so
 * corio_group_wait returns 0 unless one had failed. -EINVAL if g is NULL. */
CORIO_EXTERN int corio_group_cancel(corio_group *g);
/* Closes g's body and waits for every task of g: the first failure (a child's negative status, other than the
 * -ECANCELED of a child cancelled on purpose) in time, else 0; frees g. If the caller is cancelled or times out
 * meanwhile, the tasks are cancelled, waited for, and -ECANCELED (-ETIMEDOUT) is returned, unless a child failed:
 * its error wins. When the body itself fails, corio_group_cancel before waiting (asyncio cancels the children
 * when the body raises; C has no raise to see). -EINVAL if g is NULL, or
 * made by a compact task still running whose scopes the caller cannot reach (wait in the task that made it);
 * -EBUSY if another task waits; -EPERM outside a task, unless g has no task (then it is just freed, so a group never
 * used can be freed anywhere). Where asyncio raises an ExceptionGroup of every failure, corio returns the first;
 * corio_group_wait_errors gives them all. */
CORIO_EXTERN int corio_group_wait(corio_group *g);
/* One child's failure: its status and its name ("" if unnamed). */
typedef struct corio_group_error {
    int status;
    char name[32];
    unsigned char reserved[28]; /* zeroed: room for later fields */
} corio_group_error;
/* corio_group_wait that also copies every failure, in the order the children ended, into errs[0..cap) and stores
 * their count in *nerrs (which may exceed cap; nerrs may be NULL). -EINVAL also if errs is NULL with cap > 0. */
CORIO_EXTERN int corio_group_wait_errors(corio_group *g, corio_group_error *errs, size_t cap, size_t *nerrs);

/* ---- synchronisation: FIFO-fair and cancellation-safe ------------------------------------------------------
 * Objects belong to one loop's tasks at a time (not thread-safe). They can be created outside a loop. Each
 * _free returns -EBUSY (and frees nothing) while tasks wait on the object, 0 otherwise; NULL is ignored. A call
 * that would wake a waiting task from another thread (another loop, or none) prints the misuse and aborts.
 * What a release, signal or put hands to a waiter (the lock, a permit, an item, a slot) is that waiter's from
 * then on, even before it runs: no try_ call takes it, and a task that releases and acquires again at once
 * queues behind the waiters it served (asyncio's order). */

typedef struct corio_lock corio_lock;
/* A new unlocked lock (asyncio.Lock). NULL and errno ENOMEM. */
CORIO_EXTERN corio_lock *corio_lock_new(void);
/* Suspends until the lock is free and takes it; FIFO among waiters. -EDEADLK if the caller already holds it,
 * -EINVAL if l is NULL, -ECANCELED / -ETIMEDOUT (then the lock is not held). */
CORIO_EXTERN int corio_lock_acquire(corio_lock *l);
/* Takes the lock if it is free: 0, else -EBUSY (-EINVAL if l is NULL). Never suspends. */
CORIO_EXTERN int corio_lock_try_acquire(corio_lock *l);
/* 1 if some task holds l (or was handed it and has not run yet), 0 if it is free, -EINVAL if l is NULL. */
CORIO_EXTERN int corio_lock_locked(const corio_lock *l);
/* Releases the lock, handing it to the first waiter. -EPERM if the caller does not hold it, -EINVAL if NULL. */
CORIO_EXTERN int corio_lock_release(corio_lock *l);
/* Frees l: -EBUSY if it is held or waited on. */
CORIO_EXTERN int corio_lock_free(corio_lock *l);

typedef struct corio_event corio_event;
/* A new event, initially clear (asyncio.Event). NULL and errno ENOMEM. */
CORIO_EXTERN corio_event *corio_event_new(void);
/* Sets the event and wakes every waiter. */
CORIO_EXTERN void corio_event_set(corio_event *e);
/* Clears the event; later waiters wait again. */
CORIO_EXTERN void corio_event_clear(corio_event *e);
/* 1 if set, 0 if clear, -EINVAL if e is NULL. */
CORIO_EXTERN int corio_event_is_set(const corio_event *e);
/* Returns 0 at once if set, else suspends until it is set. -ECANCELED, -ETIMEDOUT, -EINVAL. */
CORIO_EXTERN int corio_event_wait(corio_event *e);
/* Frees e (NULL is ignored): 0, or -EBUSY while tasks wait on it. */
CORIO_EXTERN int corio_event_free(corio_event *e);

typedef struct corio_sem corio_sem;
/* A new counting semaphore holding n permits (asyncio.Semaphore). NULL and errno ENOMEM. */
CORIO_EXTERN corio_sem *corio_sem_new(unsigned n);
/* A bounded semaphore (asyncio.BoundedSemaphore): corio_sem_release fails with -EOVERFLOW instead of raising the
 * free permits above n. NULL and errno ENOMEM. */
CORIO_EXTERN corio_sem *corio_sem_new_bounded(unsigned n);
/* Takes a permit, suspending while there is none or tasks are ahead in the queue; FIFO. -ECANCELED, -ETIMEDOUT
 * (no permit taken), -EINVAL if s is NULL, -EPERM outside a task when it would wait. */
CORIO_EXTERN int corio_sem_acquire(corio_sem *s);
/* Takes a permit if one is free and nobody is ahead: 0, else -EBUSY (-EINVAL if s is NULL). Never suspends. */
CORIO_EXTERN int corio_sem_try_acquire(corio_sem *s);
/* Returns a permit, handing it to the first waiter if there is one. 0; -EOVERFLOW (nothing changes) if the free
 * permits would exceed a bounded semaphore's n (or UINT_MAX); -EINVAL if s is NULL. */
CORIO_EXTERN int corio_sem_release(corio_sem *s);
/* Permits a new acquire would take without waiting (0 while tasks wait or were handed permits and have not
 * run yet), -EINVAL if s is NULL. */
CORIO_EXTERN int corio_sem_value(const corio_sem *s);
/* Frees s (NULL is ignored): 0, or -EBUSY while tasks wait on it or were handed a permit and have not run yet. */
CORIO_EXTERN int corio_sem_free(corio_sem *s);

typedef struct corio_cond corio_cond;
/* A new condition variable (asyncio.Condition, used with a corio_lock). NULL and errno ENOMEM. */
CORIO_EXTERN corio_cond *corio_cond_new(void);
/* Releases l, suspends until signalled, and re-takes l before returning, whatever the outcome. 0 when
 * signalled, -ECANCELED / -ETIMEDOUT, -EPERM if the caller does not hold l, -EINVAL if c or l is NULL. */
CORIO_EXTERN int corio_cond_wait(corio_cond *c, corio_lock *l);
/* Wakes the first waiter: it queues for its lock now (or takes it if free), ahead of later acquirers. */
CORIO_EXTERN void corio_cond_signal(corio_cond *c);
/* Wakes every waiter, in order, as corio_cond_signal does. */
CORIO_EXTERN void corio_cond_broadcast(corio_cond *c);
/* Frees c (NULL is ignored): 0, or -EBUSY while tasks wait on it. */
CORIO_EXTERN int corio_cond_free(corio_cond *c);

typedef struct corio_queue corio_queue;
/* A new FIFO of void* holding at most capacity items; 0 means unbounded (asyncio.Queue). NULL, errno ENOMEM. */
CORIO_EXTERN corio_queue *corio_queue_new(size_t capacity);
/* The order a queue's gets take its items in (asyncio.Queue, LifoQueue, PriorityQueue). */
enum { CORIO_QUEUE_FIFO = 0, CORIO_QUEUE_LIFO = 1, CORIO_QUEUE_PRIORITY = 2 };
typedef struct corio_queue_opts {
    size_t capacity; /* at most this many items queued, 0 for no limit */
    int kind;        /* CORIO_QUEUE_FIFO (the default: oldest first), _LIFO (newest first) or _PRIORITY */
    /* _PRIORITY only (required): < 0 if item a comes out before b, as in asyncio.PriorityQueue's smallest first;
     * items that compare equal come out in the order they were put */
    int (*cmp)(const void *a, const void *b, void *arg);
    void *cmp_arg;        /* cmp's third argument */
    /* zero: room for later options */
    unsigned char reserved[32];
} corio_queue_opts;
/* A new queue as opts says (NULL: as corio_queue_new(0)). NULL and errno EINVAL (an unknown kind, _PRIORITY
 * without cmp, or cmp with another kind) or ENOMEM. "The oldest item" below means the next in this order. */
CORIO_EXTERN corio_queue *corio_queue_new_opts(const corio_queue_opts *opts);
/* Appends item, suspending while the queue is full. -EPIPE once closed, -ECANCELED / -ETIMEDOUT (item not
 * enqueued), -ENOMEM (unbounded queue growth failed), -EINVAL if q is NULL. */
CORIO_EXTERN int corio_queue_put(corio_queue *q, void *item);
/* Appends item if there is room: 0, else -EAGAIN; -EPIPE once closed. Never suspends. */
CORIO_EXTERN int corio_queue_try_put(corio_queue *q, void *item);
/* Takes the oldest item into *item, suspending while the queue is empty. -EPIPE once closed and drained,
 * -ECANCELED / -ETIMEDOUT (nothing taken), -EINVAL if q or item is NULL. */
CORIO_EXTERN int corio_queue_get(corio_queue *q, void **item);
/* Takes the oldest item if there is one: 0, else -EAGAIN (-EPIPE when closed and drained). Never suspends. */
CORIO_EXTERN int corio_queue_try_get(corio_queue *q, void **item);
/* Closes q: waiting and later puts fail with -EPIPE; gets drain what is queued, then fail with -EPIPE. */
CORIO_EXTERN void corio_queue_close(corio_queue *q);
/* Items queued now, 0 for NULL. */
CORIO_EXTERN size_t corio_queue_size(const corio_queue *q);
/* Marks one item taken from q as dealt with (asyncio's Queue.task_done): once every item ever put has been, the
 * tasks in corio_queue_join wake. 0; -EINVAL if q is NULL or every item put is already marked (asyncio's
 * ValueError). */
CORIO_EXTERN int corio_queue_task_done(corio_queue *q);
/* Suspends until every item put into q has been marked by corio_queue_task_done (at once if so already): 0,
 * -ECANCELED / -ETIMEDOUT, -EINVAL if q is NULL, -EPERM outside a task when it would wait. Closing q does not
 * end it. */
CORIO_EXTERN int corio_queue_join(corio_queue *q);
/* Frees q (the items are the caller's): -EBUSY while tasks wait on it (join included). */
CORIO_EXTERN int corio_queue_free(corio_queue *q);

typedef struct corio_future corio_future;
/* A new pending future (asyncio's loop.create_future()): one outcome, set once, awaited by any number of tasks.
 * NULL and errno ENOMEM. */
CORIO_EXTERN corio_future *corio_future_new(void);
/* Completes f with value and wakes its waiters. 0; -EBUSY if f is already done (set, failed or cancelled: the
 * first outcome stays), -EINVAL if f is NULL. */
CORIO_EXTERN int corio_future_set_result(corio_future *f, void *value);
/* Completes f with the error err (a negative errno value), which its waiters return. 0; -EBUSY as above,
 * -EINVAL if f is NULL or err >= 0. */
CORIO_EXTERN int corio_future_set_error(corio_future *f, int err);
/* Cancels f: its waiters, and later ones, return -ECANCELED. 0; -EBUSY if f is already done, -EINVAL if NULL. */
CORIO_EXTERN int corio_future_cancel(corio_future *f);
/* 1 once f has an outcome (result, error or cancellation), 0 while pending, -EINVAL if f is NULL. */
CORIO_EXTERN int corio_future_done(const corio_future *f);
/* Suspends until f is done (returns at once if it is, even outside a task): 0 and the value in *value (value may
 * be NULL), f's error, or -ECANCELED if f was cancelled; -ECANCELED / -ETIMEDOUT for the caller's own
 * cancellation or timeout (f is untouched), -EINVAL if f is NULL, -EPERM outside a task when it would wait. */
CORIO_EXTERN int corio_future_wait(corio_future *f, void **value);
/* Frees f (NULL is ignored): 0, or -EBUSY while tasks wait on it. */
CORIO_EXTERN int corio_future_free(corio_future *f);

typedef struct corio_barrier corio_barrier;
/* A new barrier for parties tasks (asyncio.Barrier). NULL and errno EINVAL (parties 0 or above INT_MAX), ENOMEM. */
CORIO_EXTERN corio_barrier *corio_barrier_new(unsigned parties);
/* Suspends until parties tasks are waiting, then lets them all go on, and the barrier is ready for the next round:
 * the caller's arrival index among them, 0 for the first and parties - 1 for the last (which does not suspend).
 * -EPIPE if the barrier is broken or is reset or aborted while waiting, -ECANCELED / -ETIMEDOUT (the caller no
 * longer counts as arrived), -EINVAL if b is NULL, -EPERM outside a task when it would wait. */
CORIO_EXTERN int corio_barrier_wait(corio_barrier *b);
/* Wakes the tasks waiting on b with -EPIPE and makes it usable again (unbroken, empty). 0, -EINVAL if b is NULL. */
CORIO_EXTERN int corio_barrier_reset(corio_barrier *b);
/* Breaks b: the tasks waiting on it and every later corio_barrier_wait return -EPIPE until corio_barrier_reset.
 * Tasks a full barrier already let through keep their index. 0, -EINVAL if b is NULL. */
CORIO_EXTERN int corio_barrier_abort(corio_barrier *b);
/* The number of parties, the tasks waiting now, and 1 if broken (else 0); each -EINVAL if b is NULL. */
CORIO_EXTERN int corio_barrier_parties(const corio_barrier *b);
CORIO_EXTERN int corio_barrier_n_waiting(const corio_barrier *b);
CORIO_EXTERN int corio_barrier_broken(const corio_barrier *b);
/* Frees b (NULL is ignored): 0, or -EBUSY while tasks are inside corio_barrier_wait. */
CORIO_EXTERN int corio_barrier_free(corio_barrier *b);

typedef struct corio_chan corio_chan;
/* A FIFO of void* that tasks on any loops (any threads) share, holding at most capacity items; 0 makes every
 * send wait for a receiver (Go's unbuffered channel). NULL and errno ENOMEM. */
CORIO_EXTERN corio_chan *corio_chan_new(size_t capacity);
/* Appends item, suspending while the channel is full. -EPIPE once closed, -ECANCELED / -ETIMEDOUT (item not
 * sent), -EINVAL if ch is NULL, -EPERM outside a task when it would have to wait. */
CORIO_EXTERN int corio_chan_send(corio_chan *ch, void *item);
/* Takes the oldest item into *item, suspending while there is none. -EPIPE once closed and drained,
 * -ECANCELED / -ETIMEDOUT (nothing taken), -EINVAL if ch or item is NULL, -EPERM outside a task when it would wait. */
CORIO_EXTERN int corio_chan_recv(corio_chan *ch, void **item);
/* corio_chan_send and corio_chan_recv that never wait: -EAGAIN where they would (full; empty), else as they do. */
CORIO_EXTERN int corio_chan_try_send(corio_chan *ch, void *item);
CORIO_EXTERN int corio_chan_try_recv(corio_chan *ch, void **item);
/* Closes ch (from any thread): waiting and later sends fail with -EPIPE; receives drain it, then fail with -EPIPE. */
CORIO_EXTERN void corio_chan_close(corio_chan *ch);
/* Frees ch (the items are the caller's): -EBUSY while tasks wait on it; NULL is ignored. */
CORIO_EXTERN int corio_chan_free(corio_chan *ch);

/* ---- select: the first of several waits (Go's select, Tokio's select!) -------------------------------------- */

enum {
    CORIO_SEL_QUEUE_GET = 1, /* obj: a corio_queue; out: item */
    CORIO_SEL_QUEUE_PUT,     /* obj: a corio_queue; in: item */
    CORIO_SEL_CHAN_RECV,     /* obj: a corio_chan; out: item */
    CORIO_SEL_CHAN_SEND,     /* obj: a corio_chan; in: item */
    CORIO_SEL_EVENT,         /* obj: a corio_event, until it is set */
    CORIO_SEL_SEM,           /* obj: a corio_sem: takes a permit */
    CORIO_SEL_TASK,          /* obj: a corio_task, until it ends (it is neither awaited nor freed) */
    CORIO_SEL_READABLE,      /* fd, until it is readable (as corio_wait_readable) */
    CORIO_SEL_WRITABLE,      /* fd, until it is writable */
};
typedef struct corio_sel {
    int op;     /* CORIO_SEL_* */
    void *obj;  /* the queue, channel, event, semaphore or task */
    int fd;     /* CORIO_SEL_READABLE / CORIO_SEL_WRITABLE */
    void *item; /* in: what to put or send; out: what was got or received (NULL if closed) */
    int closed; /* out: 1 if the case completed because its queue or channel is closed (nothing put, sent or got) */
    /* zero: room for later fields */
    unsigned char reserved[28];
} corio_sel;
/* Completes exactly one of the n cases and returns its index; the others have no effect (nothing taken, sent or
 * acquired). Ready cases are chosen fairly (from a random start); one that became ready before a deadline or a
 * cancellation still completes. A closed queue or channel completes its case with closed set (never -EPIPE).
 * -ETIMEDOUT after ms >= 0 (ms < 0: no limit), -ECANCELED, -EINVAL (cases NULL, n 0, an unknown op, a NULL obj, a
 * task invalid or freed meanwhile), -EBADF (a bad or closed fd), -EDEADLK (the caller's own task), -ENOMEM, -EPERM
 * outside a task. Objects of other loops than the caller's may be channels only. */
CORIO_EXTERN int corio_select(corio_sel *cases, size_t n, int64_t ms);

/* ---- I/O: waiting on file descriptors -----------------------------------------------------------------------
 * Every I/O call suspends only the calling task, honours cancellation and timeout scopes like any suspension,
 * and leaves no descriptor behind on failure. Descriptors corio creates are non-blocking and close-on-exec.
 * A descriptor that tasks have waited on is registered with the loop's backend until corio_close(fd): close it
 * with corio_close, never with close(2) while a loop may still know it. */

/* Suspends until fd is readable (data, EOF, an error or a hang-up: the next read will not block). For C libraries
 * with a pollable descriptor (libpq, libcurl, c-ares). 0, -ECANCELED, -ETIMEDOUT, -EBADF if fd is invalid or is
 * closed with corio_close meanwhile, -EPERM outside a task. */
CORIO_EXTERN int corio_wait_readable(int fd);
/* The same for writability. */
CORIO_EXTERN int corio_wait_writable(int fd);
/* Wakes every task waiting on fd with -EBADF, forgets fd and closes it. 0, or -EBADF if fd is not open. Works
 * outside a loop too (then it is close(2)). */
CORIO_EXTERN int corio_close(int fd);

/* Reads up to len bytes, suspending until at least one is there: the count, 0 at end of file, or -errno
 * (-ECONNRESET, -EBADF, -ECANCELED, -ETIMEDOUT...). Works on sockets, pipes and terminals. A read cancelled after
 * its bytes arrived (io_uring receives in the kernel) returns them; the cancellation fails the task's next wait. */
CORIO_EXTERN ssize_t corio_read(int fd, void *buf, size_t len);
/* Writes all len bytes, suspending while the descriptor is full: len, or -errno (-EPIPE, -ECONNRESET, -ECANCELED
 * ...). After a failure part of the data may have been written. */
CORIO_EXTERN ssize_t corio_write(int fd, const void *buf, size_t len);
/* corio_write of iovcnt buffers at once (writev: one system call for several pieces of a message): their total
 * length, or -errno as corio_write; -EINVAL if iov is NULL with iovcnt > 0, iovcnt < 0 or above IOV_MAX, a buffer
 * NULL with a length, or a total above SSIZE_MAX (nothing written then). */
CORIO_EXTERN ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt);

/* ---- sockets (IPv4, IPv6, Unix) ---------------------------------------------------------------------------
 * Ports are 0..65535 (-EINVAL otherwise), a negative descriptor gives -EBADF. Calls that never suspend
 * (corio_tcp_listen and corio_udp_bind with a NULL or numeric host, corio_unix_listen, corio_local_port,
 * corio_shutdown) work outside a task too; the others return -EPERM there. Names under ".invalid" fail with
 * -ENOENT without a lookup (RFC 6761). */

/* Resolves host and service with getaddrinfo on the thread pool (hints: any family, the given socktype, or any
 * if 0). 0 and *res (free it with freeaddrinfo), or -ENOENT (no such name), -EAGAIN (temporary failure),
 * -EINVAL, -ENOMEM, -ECANCELED / -ETIMEDOUT (the lookup finishes in the background and is freed). */
CORIO_EXTERN int corio_resolve(const char *host, const char *service, int socktype, struct addrinfo **res);

/* Connects a TCP socket to host:port, trying every address the name resolves to in turn: the connected fd, or
 * -errno (-ECONNREFUSED, -ENOENT, -ETIMEDOUT...; the last address's error). */
CORIO_EXTERN int corio_tcp_connect(const char *host, int port);
/* A listening TCP socket on host:port (host NULL or "" = every address, IPv6 and IPv4; port 0 = a free port,
 * see corio_local_port), SO_REUSEADDR and TCP_NODELAY set (its connections inherit TCP_NODELAY). The fd, or
 * -errno (-EADDRINUSE, -ENOENT, -EINVAL). */
CORIO_EXTERN int corio_tcp_listen(const char *host, int port, int backlog);
/* Waits for a connection on a listening socket: the new fd, or -errno (-EMFILE/-ENFILE when out of descriptors,
 * -EBADF, -ECANCELED...). peer and peer_len may be NULL. */
CORIO_EXTERN int corio_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len);
/* The local port a socket is bound to, or -errno. */
CORIO_EXTERN int corio_local_port(int fd);
/* Shuts down one or both directions (SHUT_RD, SHUT_WR, SHUT_RDWR): 0 or -errno. */
CORIO_EXTERN int corio_shutdown(int fd, int how);

/* Unix stream sockets: connect to / listen on a filesystem path (an existing socket file is replaced by listen).
 * The fd, or -errno (-ENOENT, -ECONNREFUSED, -ENAMETOOLONG...). */
CORIO_EXTERN int corio_unix_connect(const char *path);
CORIO_EXTERN int corio_unix_listen(const char *path, int backlog);

/* A UDP socket bound to host:port (host NULL = every address; port 0 = a free port): the fd or -errno. */
CORIO_EXTERN int corio_udp_bind(const char *host, int port);
/* Sends one datagram: len, or -errno. */
CORIO_EXTERN ssize_t corio_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to, socklen_t to_len);
/* Receives one datagram, suspending until one arrives: its length (truncated to len), or -errno. from and
 * from_len may be NULL. */
CORIO_EXTERN ssize_t corio_recvfrom(int fd, void *buf, size_t len, struct sockaddr_storage *from, socklen_t *from_len);

/* ---- streams (asyncio's StreamReader / StreamWriter) --------------------------------------------------------
 * A read that fails consumes nothing: whatever it had read (-EPIPE at EOF, -EMSGSIZE past its limit, -ECANCELED,
 * -ETIMEDOUT, any error) stays buffered, and corio_stream_read returns it next. The read buffer never grows past
 * the largest of 16 KiB, the max of a read_line / read_until, and the len of a larger read_exactly (while it runs,
 * and after it failed: it then holds the bytes). A stream holds its buffers only while they hold bytes: one waiting
 * for its peer with nothing buffered costs its small struct alone (a server's idle connection). */

typedef struct corio_stream corio_stream;
/* A buffered stream that owns fd (a connected socket or a pipe): corio_stream_free closes it, unless it was already
 * closed through corio (corio_close) meanwhile. NULL and errno EINVAL (fd < 0) or ENOMEM. */
CORIO_EXTERN corio_stream *corio_stream_new(int fd);
/* A buffered stream that borrows fd: corio_stream_free leaves it open (a server handler's fd, say). Errors as new. */
CORIO_EXTERN corio_stream *corio_stream_wrap(int fd);
/* The stream's descriptor. */
CORIO_EXTERN int corio_stream_fd(const corio_stream *s);
/* Reads what is buffered or, if nothing is, what arrives next (up to len): the count, 0 at EOF, or -errno. */
CORIO_EXTERN ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len);
/* Reads exactly len bytes: 0, -EPIPE if the stream ends first (the bytes stay buffered), -ENOMEM (a len above the
 * buffer's size has it grow to len while the call runs), or -errno. */
CORIO_EXTERN int corio_stream_read_exactly(corio_stream *s, void *buf, size_t len);
/* Reads up to and including the first '\n' into buf and NUL-terminates it: the line's length (with its '\n'; the
 * last line may lack it), 0 at EOF, -EMSGSIZE if the line does not fit in max - 1 bytes (the line stays buffered:
 * corio_stream_read takes it, or part of it), or -errno. */
CORIO_EXTERN ssize_t corio_stream_read_line(corio_stream *s, char *buf, size_t max);
/* Like read_line with a delimiter of dlen bytes (not NUL-terminated; the delimiter is included): the length, 0 at
 * EOF with nothing buffered, -EPIPE at EOF before the delimiter, -EMSGSIZE, -EINVAL (dlen 0), or -errno. */
CORIO_EXTERN ssize_t corio_stream_read_until(corio_stream *s, const void *delim, size_t dlen, void *buf, size_t max);
/* Waits until at least one byte is buffered and points *data at the buffered bytes, without consuming them (Go's
 * Peek, Tokio's fill_buf): their count, 0 at EOF, or -errno (-EINVAL). They stay valid until the next call on s. */
CORIO_EXTERN ssize_t corio_stream_peek(corio_stream *s, const void **data);
/* Drops the first n buffered bytes (after a peek): 0, or -EINVAL if fewer are buffered. */
CORIO_EXTERN int corio_stream_consume(corio_stream *s, size_t n);
/* 1 once a read has met the end of the stream and nothing is left buffered (asyncio's at_eof), else 0; -EINVAL. */
CORIO_EXTERN int corio_stream_at_eof(const corio_stream *s);
/* Buffers len bytes for writing, writing the buffer out whenever it fills: len, or -errno. */
CORIO_EXTERN ssize_t corio_stream_write(corio_stream *s, const void *buf, size_t len);
/* corio_stream_write of iovcnt buffers in order (asyncio's writelines): their total length, or -errno; -EINVAL as
 * corio_writev (nothing buffered then). */
CORIO_EXTERN ssize_t corio_stream_writev(corio_stream *s, const struct iovec *iov, int iovcnt);
/* Writes out everything buffered, suspending as needed: 0 or -errno. */
CORIO_EXTERN int corio_stream_drain(corio_stream *s);
/* Frees s, closing its descriptor if it owns it (corio_stream_new). Unwritten buffered data is dropped (drain
 * first). 0, -EINVAL. */
CORIO_EXTERN int corio_stream_free(corio_stream *s);

/* ---- servers (asyncio.start_server) ------------------------------------------------------------------------ */

/* A connection handler, run as its own task. fd is the server's: when the handler returns, the server closes it,
 * unless the handler closed it through corio (corio_close, or corio_stream_free of a corio_stream_new(fd)). So a
 * handler may leave fd alone, give it to a stream that closes it, or borrow it (corio_stream_wrap); it must not
 * close(2) it, nor use it after returning. Its return value is ignored. */
typedef int (*corio_conn_fn)(int fd, void *arg);
typedef struct corio_server corio_server;
typedef struct corio_server_opts {
    int backlog;      /* listen backlog, 0 for 511 */
    size_t max_conns; /* connections served at once, 0 for 10000: beyond it, accepting pauses */
    int reuseport;    /* 1: SO_REUSEPORT, so each loop of corio_run_threads can serve the same port */
    /* > 0: the kernel hands over a connection only once its first bytes are in, or after about this many seconds
     * (TCP_DEFER_ACCEPT, nginx's "deferred"): saves a wake-up per connection, for protocols where the client speaks
     * first, such as HTTP. 0: accept at once. */
    int defer_accept;
    /* nonzero: each handler runs as a compact task (corio_task_opts.compact): a waiting connection keeps only the
     * stack bytes it uses, not a task stack. The handler must keep large buffers off its stack (the heap, or a
     * corio_stream, whose buffers exist only while it holds data) and nothing may point into its stack while it
     * waits; docs/guide.md, "Idle connections". */
    int compact;
    unsigned char reserved[36]; /* zero: room for later options */
} corio_server_opts;
/* Listens on host:port (as corio_tcp_listen). NULL and errno on failure (EADDRINUSE, EINVAL for a bad port or a
 * negative backlog or defer_accept, ENOMEM...). */
CORIO_EXTERN corio_server *corio_server_new(const char *host, int port, corio_conn_fn handler, void *arg,
                                            const corio_server_opts *opts);
/* The port the server listens on. */
CORIO_EXTERN int corio_server_port(const corio_server *srv);
/* Accepts and serves, one task per connection, until corio_server_stop or until the caller is cancelled; then
 * stops accepting (closing connections accepted but not yet handed to a handler), cancels the handlers still
 * running and waits for them: when it returns, every connection it accepted is closed. Runs out of descriptors
 * gracefully (keeps serving, retries accepting as connections end). 0 after a stop, -ECANCELED, -errno. */
CORIO_EXTERN int corio_server_run(corio_server *srv);
/* Makes corio_server_run return (from another task). */
CORIO_EXTERN void corio_server_stop(corio_server *srv);
/* Closes the listening socket and frees srv: -EBUSY while corio_server_run runs. */
CORIO_EXTERN int corio_server_free(corio_server *srv);
/* new + run + free: serves until cancelled or stopped. */
CORIO_EXTERN int corio_serve(const char *host, int port, corio_conn_fn handler, void *arg);
/* Connections being served now. */
CORIO_EXTERN size_t corio_server_conns(const corio_server *srv);

/* ---- the thread pool (asyncio.to_thread) ------------------------------------------------------------------- */

typedef int (*corio_work_fn)(void *arg);
typedef struct corio_work_opts {
    /* called as abandoned(arg) on the pool thread after fn returns, if the caller was cancelled (or timed out)
     * meanwhile and nobody will see the result: to free arg. NULL: arg must outlive fn whatever happens */
    void (*abandoned)(void *arg);
    unsigned char reserved[56]; /* zero: room for later options */
} corio_work_opts;
/* Runs fn(arg) on the process-wide thread pool and suspends until it returns: fn's result (opts may be NULL). A
 * cancelled (or timed out) caller returns -ECANCELED (-ETIMEDOUT) at once; fn runs on, its result is discarded,
 * and opts->abandoned(arg) runs after it (arg must stay valid until fn returns). -ENOMEM, -EAGAIN (no thread could
 * be started), -EMFILE / -ENFILE (the loop's first pool call could not make the eventfd it is woken through),
 * -EINVAL (fn NULL), -EPERM outside a task. */
CORIO_EXTERN int corio_to_thread_opts(corio_work_fn fn, void *arg, const corio_work_opts *opts);
/* corio_to_thread_opts without options: arg must outlive fn even if the caller is cancelled. */
CORIO_EXTERN int corio_to_thread(corio_work_fn fn, void *arg);
/* Sets the pool's thread count (default 4, at most 256; threads start on demand). 0 or -EINVAL. */
CORIO_EXTERN int corio_pool_set_size(unsigned n);

/* ---- files (on the thread pool; a call in flight completes even if the caller is cancelled meanwhile, and
 * returns its real result: the cancellation shows at the next suspension) -------------------------------------- */

/* open(2): the fd or -errno. */
CORIO_EXTERN int corio_file_open(const char *path, int flags, mode_t mode);
/* pread(2) / pwrite(2) at offset (offset -1: at the current position, read(2) / write(2)): count or -errno.
 * corio_file_write writes everything or fails. */
CORIO_EXTERN ssize_t corio_file_read(int fd, void *buf, size_t len, int64_t offset);
CORIO_EXTERN ssize_t corio_file_write(int fd, const void *buf, size_t len, int64_t offset);
/* close(2) on the pool (closing can flush to slow storage): 0 or -errno. */
CORIO_EXTERN int corio_file_close(int fd);
/* stat(2): 0 or -errno. */
CORIO_EXTERN int corio_file_stat(const char *path, struct stat *st);

/* ---- subprocesses (asyncio.create_subprocess_exec) ---------------------------------------------------------- */

enum { CORIO_STDIO_INHERIT = 0, CORIO_STDIO_PIPE = 1, CORIO_STDIO_DEVNULL = 2 };
typedef struct corio_process corio_process;
typedef struct corio_process_opts {
    int stdin_mode, stdout_mode, stderr_mode; /* CORIO_STDIO_*: inherit (the default), a pipe, /dev/null */
    char *const *envp;                        /* NULL: the caller's environment */
    const char *cwd;                          /* NULL: the caller's */
    unsigned char reserved[32];               /* zero: room for later options */
} corio_process_opts;
/* Starts file (searched in PATH if it has no '/') with argv (argv[0] included, NULL-terminated). NULL and errno:
 * ENOENT (no such program), EACCES, ENOMEM, EINVAL. */
CORIO_EXTERN corio_process *corio_process_spawn(const char *file, char *const argv[], const corio_process_opts *opts);
/* The process id. */
CORIO_EXTERN int corio_process_pid(const corio_process *p);
/* The parent's end of a CORIO_STDIO_PIPE (0 = stdin, 1 = stdout, 2 = stderr), for corio_read / corio_write; p
 * still owns it (corio_process_free closes it). -EBADF if that stream is not a pipe, -EINVAL. */
CORIO_EXTERN int corio_process_fd(const corio_process *p, int which);
/* Like corio_process_fd, but hands the descriptor over: p forgets it, and the caller closes it (for example by
 * giving it to corio_stream_new). */
CORIO_EXTERN int corio_process_take_fd(corio_process *p, int which);
/* Closes the parent's end of a pipe (e.g. stdin, so the child sees EOF): 0 or -EBADF. */
CORIO_EXTERN int corio_process_close_fd(corio_process *p, int which);
/* Suspends until the process exits and stores its wait status in *status (may be NULL; read it with
 * WIFEXITED/WEXITSTATUS/WIFSIGNALED/WTERMSIG from <sys/wait.h>): 0, or -ECANCELED / -ETIMEDOUT (the process keeps
 * running and can be waited for again), -EINVAL. Once it has returned 0, it returns 0 and the same status again. */
CORIO_EXTERN int corio_process_wait(corio_process *p, int *status);
/* Sends signo to the process: 0 or -errno (-ESRCH once it has been waited for). */
CORIO_EXTERN int corio_process_kill(corio_process *p, int signo);
/* Closes the pipes and frees p. A process still running is killed with SIGKILL and reaped first. 0, -EINVAL. */
CORIO_EXTERN int corio_process_free(corio_process *p);

/* ---- signals ------------------------------------------------------------------------------------------------
 * A loop's first corio_signal_wait or corio_signal_cancel_main for signo gives signo to corio for the whole
 * process, whatever its disposition was (SIG_IGN too, as a background shell leaves SIGINT; a handler of the
 * program's stops being called): signo is blocked in that loop's thread and read there, and on any other thread
 * the kernel picks (a thread the program made, a loop that did not ask) a handler of corio's that only writes to
 * the loops' eventfds catches it. Each delivery reaches every loop still running that asked for signo, and never
 * interrupts their tasks. A loop that ends leaves its thread's mask as it found it. When the last loop that asked
 * ends (for the loops of corio_run_threads: when corio_run_threads returns), signo's old disposition comes back and
 * later deliveries take the old action, as before corio was asked (SIGTERM at SIG_DFL ends the process); one that
 * arrives while that last loop ends is absorbed by it. A child forked from a loop's thread starts with the old
 * dispositions and mask. */

/* Suspends until signo is delivered to the process: signo, or -ECANCELED / -ETIMEDOUT; -EINVAL (a signal that
 * cannot be caught, or SIGSEGV/SIGBUS which corio uses); -EPERM outside a task; and at the loop's first signal
 * call, which makes the loop's eventfd and signalfd: -EMFILE / -ENFILE (no descriptor left), -ENOMEM, or the
 * backend's failure to watch them (-ENOSPC, -EAGAIN). Each delivery wakes every task waiting for it, in every
 * loop; a delivery no task waits for is absorbed. */
CORIO_EXTERN int corio_signal_wait(int signo);
/* From now on, signo (typically SIGINT or SIGTERM) cancels the main task of this thread's loop, and under
 * corio_run_threads of every loop of the group still running (one loop asking is enough), instead of taking its
 * old action. Asking twice is harmless. 0, -EINVAL, -EPERM outside a loop, and the first-call failures of
 * corio_signal_wait. */
CORIO_EXTERN int corio_signal_cancel_main(int signo);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_H */
