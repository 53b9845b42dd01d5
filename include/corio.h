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
 *  - A call that has to suspend first checks the caller: if it was cancelled it returns -ECANCELED, and if the
 *    deadline of its innermost timeout scope has passed it returns -ETIMEDOUT, without suspending. A call that
 *    can complete at once (taking a free lock, getting a queued item) completes, even for a cancelled task, so
 *    cleanup code can still release what it holds.
 *
 * Lifetime rules:
 *  1. corio_spawn returns a handle the caller owns. Exactly one of corio_await, corio_wait_for, corio_gather or
 *     corio_detach must be applied to it; the first three free the task once it has ended (like pthread_join),
 *     corio_detach makes it free itself when it ends. A handle must not be used after it was freed.
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

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0

#if defined(__GNUC__)
#define CORIO_EXTERN __attribute__((visibility("default")))
#else
#define CORIO_EXTERN
#endif

/* ---- errors ------------------------------------------------------------------------------------------------ */

/* A sentence describing rc (a negative errno value, or 0): "operation canceled", "timed out"... never NULL. */
CORIO_EXTERN const char *corio_strerror(int rc);
/* The symbolic name of rc: "ECANCELED", "ETIMEDOUT"...; "OK" for 0, "UNKNOWN" for codes it does not know. */
CORIO_EXTERN const char *corio_err_name(int rc);

/* ---- the loop ---------------------------------------------------------------------------------------------- */

typedef struct corio_task corio_task;
typedef int (*corio_fn)(void *arg); /* a task: its return value is its status (0 or a negative errno) */

/* Runs fn(arg) as the main task of a new loop in this thread; when fn returns, cancels the tasks still running,
 * waits for them, frees everything and returns fn's status. -EBUSY if a loop already runs in this thread,
 * -EINVAL if fn is NULL, -ENOMEM if the loop cannot be set up. Environment: CORIO_DEBUG=1 turns on debug mode
 * (reports tasks never awaited or detached, and tasks that run over 100 ms without suspending);
 * CORIO_GUARD_STACKS=N caps the stacks given a guard page (default: a quarter of vm.max_map_count), read once. */
CORIO_EXTERN int corio_run(corio_fn fn, void *arg);

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
} corio_stats;
/* Fills *st with the current loop's counters. -EPERM outside a loop, -EINVAL if st is NULL. */
CORIO_EXTERN int corio_stats_get(corio_stats *st);

/* ---- tasks ------------------------------------------------------------------------------------------------- */

typedef struct corio_task_opts {
    const char *name;  /* task name for debugging (copied; at most 31 bytes kept), or NULL */
    size_t stack_size; /* 0 for the loop's default; otherwise rounded up to pages, 16 KiB .. 1 GiB */
} corio_task_opts;

/* A new task running fn(arg), ready to run (it starts at the caller's next suspension). NULL and errno on
 * failure: EPERM outside a loop, EINVAL if fn is NULL, ENOMEM. */
CORIO_EXTERN corio_task *corio_spawn(corio_fn fn, void *arg);
/* corio_spawn with options (opts may be NULL); also EINVAL for a stack size out of range. */
CORIO_EXTERN corio_task *corio_spawn_opts(corio_fn fn, void *arg, const corio_task_opts *opts);

/* Suspends until t ends, returns t's status and frees t. -EDEADLK if t is the calling task, -EINVAL if t is
 * NULL, detached, in a group, the main task or already freed, -EBUSY if another task already awaits t. A cancelled waiter (or one whose
 * timeout scope expires) returns -ECANCELED (or -ETIMEDOUT) and t is left running, still awaitable. */
CORIO_EXTERN int corio_await(corio_task *t);

/* Like corio_await with a deadline: if t has not ended within ms, cancels t, waits for it to end, frees it and
 * returns -ETIMEDOUT. If the waiter is cancelled, t is cancelled, waited for and freed, and -ECANCELED is
 * returned. Errors as corio_await, and -EINVAL if ms < 0. */
CORIO_EXTERN int corio_wait_for(corio_task *t, int64_t ms);

/* Awaits all n tasks and frees them. statuses == NULL: the first failure (in time) cancels the others, and once
 * they have ended it is returned (asyncio.gather). statuses != NULL: waits for all, stores each status in
 * statuses[i] and returns 0 (return_exceptions=True). If the caller is cancelled, every task is cancelled and
 * waited for, and -ECANCELED is returned. -EINVAL if t is NULL with n > 0 or a task is invalid or repeated,
 * -EBUSY if one is already awaited by another task, -EDEADLK if the caller is among them (in each case no task
 * is touched). */
CORIO_EXTERN int corio_gather(corio_task **t, size_t n, int *statuses);

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
/* Names t (copied, at most 31 bytes kept; NULL clears). -EINVAL if t is NULL or invalid. */
CORIO_EXTERN int corio_task_set_name(corio_task *t, const char *name);
/* t's name, "" if it has none, NULL if t is NULL or invalid. */
CORIO_EXTERN const char *corio_task_name(const corio_task *t);
/* 1 if t has ended (its status is ready), 0 if it still runs, -EINVAL if t is NULL or invalid. */
CORIO_EXTERN int corio_task_done(const corio_task *t);

/* ---- timeout scopes (asyncio.timeout, Trio's move_on_after) ------------------------------------------------ */

/* Lives on the caller's stack between enter and exit; its fields are private. */
typedef struct corio_timeout {
    int64_t deadline_ns;         /* private */
    int64_t outer_deadline_ns;   /* private */
    struct corio_timeout *outer; /* private */
    corio_task *owner;           /* private */
} corio_timeout;

/* Opens a scope: every call of this task that would suspend past now + ms fails with -ETIMEDOUT instead (a
 * nested scope cannot extend its outer one's deadline). -EPERM outside a task, -EINVAL if scope is NULL, already
 * open, or ms < 0. */
CORIO_EXTERN int corio_timeout_enter(corio_timeout *scope, int64_t ms);
/* Closes the innermost scope: -ETIMEDOUT if its own deadline has passed (an outer scope's expiry is reported
 * by that scope's exit), else 0. -EINVAL if scope is not this task's innermost open scope. */
CORIO_EXTERN int corio_timeout_exit(corio_timeout *scope);

/* ---- task groups (asyncio.TaskGroup, Trio's nursery) ------------------------------------------------------- */

typedef struct corio_group corio_group;
/* A new empty group. NULL and errno ENOMEM. */
CORIO_EXTERN corio_group *corio_group_new(void);
/* Spawns fn(arg) into g (same as corio_spawn otherwise). -EINVAL if g or fn is NULL, -EPERM outside a loop,
 * -ECANCELED if g is already stopping after a failure or a cancel, -ENOMEM. */
CORIO_EXTERN int corio_group_spawn(corio_group *g, corio_fn fn, void *arg);
/* Cancels every task of g (g then refuses new ones). -EINVAL if g is NULL. */
CORIO_EXTERN int corio_group_cancel(corio_group *g);
/* Waits for every task of g; the first failure cancels the rest (the moment it happens) and is returned, else
 * 0; frees g. If the caller is cancelled, the tasks are cancelled, waited for, and -ECANCELED is returned (g is
 * freed too). -EINVAL if g is NULL; -EPERM outside a task, unless g has no task (then it is just freed, so a
 * group that was never used can be freed anywhere). */
CORIO_EXTERN int corio_group_wait(corio_group *g);

/* ---- synchronisation: FIFO-fair and cancellation-safe ------------------------------------------------------
 * Objects belong to one loop's tasks at a time (not thread-safe). They can be created outside a loop. Each
 * _free returns -EBUSY (and frees nothing) while tasks wait on the object, 0 otherwise; NULL is ignored. */

typedef struct corio_lock corio_lock;
/* A new unlocked lock (asyncio.Lock). NULL and errno ENOMEM. */
CORIO_EXTERN corio_lock *corio_lock_new(void);
/* Suspends until the lock is free and takes it; FIFO among waiters. -EDEADLK if the caller already holds it,
 * -EINVAL if l is NULL, -ECANCELED / -ETIMEDOUT (then the lock is not held). */
CORIO_EXTERN int corio_lock_acquire(corio_lock *l);
/* Takes the lock if it is free: 0, else -EBUSY (-EINVAL if l is NULL). Never suspends. */
CORIO_EXTERN int corio_lock_try_acquire(corio_lock *l);
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
CORIO_EXTERN int corio_event_free(corio_event *e);

typedef struct corio_sem corio_sem;
/* A new counting semaphore holding n permits (asyncio.Semaphore). NULL and errno ENOMEM. */
CORIO_EXTERN corio_sem *corio_sem_new(unsigned n);
/* Takes a permit, suspending while there is none; FIFO. -ECANCELED, -ETIMEDOUT (no permit taken), -EINVAL. */
CORIO_EXTERN int corio_sem_acquire(corio_sem *s);
/* Takes a permit if one is free: 0, else -EBUSY. Never suspends. */
CORIO_EXTERN int corio_sem_try_acquire(corio_sem *s);
/* Returns a permit, handing it to the first waiter if there is one. */
CORIO_EXTERN void corio_sem_release(corio_sem *s);
/* Permits free now (0 when tasks wait), -EINVAL if s is NULL. */
CORIO_EXTERN int corio_sem_value(const corio_sem *s);
CORIO_EXTERN int corio_sem_free(corio_sem *s);

typedef struct corio_cond corio_cond;
/* A new condition variable (asyncio.Condition, used with a corio_lock). NULL and errno ENOMEM. */
CORIO_EXTERN corio_cond *corio_cond_new(void);
/* Releases l, suspends until signalled, and re-takes l before returning, whatever the outcome. 0 when
 * signalled, -ECANCELED / -ETIMEDOUT, -EPERM if the caller does not hold l, -EINVAL if c or l is NULL. */
CORIO_EXTERN int corio_cond_wait(corio_cond *c, corio_lock *l);
/* Wakes the first waiter. */
CORIO_EXTERN void corio_cond_signal(corio_cond *c);
/* Wakes every waiter. */
CORIO_EXTERN void corio_cond_broadcast(corio_cond *c);
CORIO_EXTERN int corio_cond_free(corio_cond *c);

typedef struct corio_queue corio_queue;
/* A new FIFO of void* holding at most capacity items; 0 means unbounded (asyncio.Queue). NULL, errno ENOMEM. */
CORIO_EXTERN corio_queue *corio_queue_new(size_t capacity);
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
/* Frees q (the items are the caller's): -EBUSY while tasks wait on it. */
CORIO_EXTERN int corio_queue_free(corio_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_H */
