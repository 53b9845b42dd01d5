/* fuzz_sched.c - libFuzzer target for the scheduler and the synchronisation objects: the input is a script that
 * the main task runs on one loop with 8 task slots (spawn, await, wait_for, gather in both modes, detach, cancel,
 * sleep, yield, a task group, event / condition / queue operations, closing the queue, ending the loop early),
 * while each spawned worker runs its own little program (lock, try-lock, semaphore, condition wait, event wait,
 * queue put / get, sleep, yield, fail), optionally inside a short timeout scope. After every step it checks the
 * invariants: a lock has at most one holder, a semaphore never gives out more permits than it has, a queue item
 * is never duplicated nor lost (each has an id and a state: offered by a putter, queued, taken), every task
 * starts and ends at most once. At the end of the script the main task unblocks and cancels everything and waits
 * (boundedly) until every helper and worker has ended and corio_stats_get shows only itself: a lost waiter would
 * stop that. Then corio_run must return 0 with every started task ended and the queue holding exactly the items
 * put and not taken; ASan's leak check runs at exit.
 *
 * Input encoding (reads past the end give 0 bytes):
 *   byte 0     bits 0-1: queue capacity (0 = unbounded, else 1..3); bits 2-3: semaphore permits - 1
 *   then steps, one byte each (step % 21) plus argument bytes:
 *     0 spawn [slot][program]   1 await [slot]    2 wait_for [slot][ms]   3 gather [slot mask]  (first failure)
 *     4 gather [slot mask] (statuses)   5 detach [slot]    6 cancel [slot]    7 sleep [ms]    8 yield
 *     9 group spawn [program]  10 group wait  11 group cancel  12 event set  13 event clear  14 cond signal
 *     15 cond broadcast  16 queue try_put  17 queue try_get  18 queue close  19 wait_any [slot mask][ms]
 *     20 end the script now (corio_run then cancels what still runs)
 *   await, wait_for and gather run in a helper task (so the main task goes on), on slots not already awaited.
 *   A program is [n] (n % 5 ops) then n op bytes: op % 15 = 0 yield, 1 sleep, 2 lock, 3 try-lock, 4 event
 *   wait, 5 semaphore, 6 condition wait, 7 queue put, 8 queue get, 9 try_put / try_get, 10 checkpoint,
 *   11 return -EIO, 12 a sleep in a shielded scope of (op >> 4) % 3 ms (cancelling the task must not reach it),
 *   13 a scope the task cancels itself (every wait inside must fail, and its exit say so), 14 a select over a
 *   queue get, the event and a semaphore permit with a deadline of (op >> 4) % 3 ms (exactly one completes, its
 *   item or permit accounted as a plain call's); bit 7: inside a timeout scope of (op >> 4) % 3 ms.
 * The groups' semantics are Trio's: a child's failure cancels the main task's waits while it holds a group's body
 * open (from corio_group_new to the corio_group_wait that closes it), so main's waits may fail then. */
#include <corio.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#define SLOTS 8
#define MAX_TASKS 64
#define MAX_HELPERS 64
#define MAX_PROG 4
#define MAX_IDS 1024

enum { SLOT_EMPTY, SLOT_LIVE, SLOT_AWAITED };
enum { ID_NONE, ID_OFFERED, ID_QUEUED, ID_TAKEN };

struct worker {
    uint8_t prog[MAX_PROG];
    size_t n;
    bool started, ended;
};

struct helper {
    int kind; /* 1 await, 2 wait_for, 3 gather, 4 gather with statuses, 5 wait_any, 10 group wait */
    int slots[SLOTS];
    corio_task *tasks[SLOTS];
    size_t n;
    int64_t ms;
    corio_group *group;
};

static struct state {
    corio_task *slot_task[SLOTS];
    int slot_state[SLOTS];
    struct worker workers[MAX_TASKS];
    size_t nworkers;
    struct helper helpers[MAX_HELPERS];
    size_t nhelpers, helpers_alive;
    size_t starts, ends;
    corio_lock *lock;
    corio_task *holder; /* who holds lock, as the tasks tell it */
    corio_event *event;
    corio_sem *sem;
    unsigned permits, sem_held;
    corio_cond *cond;
    corio_queue *queue;
    size_t capacity;
    uint8_t ids[MAX_IDS];
    size_t next_id;
    corio_group *group;
    int bodies_open; /* groups main made and nobody has waited for yet: their bodies may cancel main's waits */
    fuzz_in in;
} st;

static bool ok_error(int rc) { return rc == -ECANCELED || rc == -ETIMEDOUT; }

static void take_lock(void) {
    FUZZ_CHECK(st.holder == NULL, "lock taken while another task holds it");
    st.holder = corio_current();
}

static void drop_lock(void) {
    FUZZ_CHECK(st.holder == corio_current(), "lock released by a task that does not hold it");
    st.holder = NULL;
    FUZZ_CHECK(corio_lock_release(st.lock) == 0, "release failed");
}

static void got_item(void *item) {
    size_t id = (size_t)(uintptr_t)item;
    FUZZ_CHECK(id > 0 && id < MAX_IDS && (st.ids[id] == ID_OFFERED || st.ids[id] == ID_QUEUED),
               "item %zu taken in state %d", id, id < MAX_IDS ? st.ids[id] : -1);
    st.ids[id] = ID_TAKEN;
}

/* A new id for a put: 0 when they are used up (then nothing is put). */
static size_t offer(void) {
    if (st.next_id >= MAX_IDS) return 0;
    st.ids[st.next_id] = ID_OFFERED;
    return st.next_id++;
}

static void put_result(size_t id, int rc) {
    if (rc == 0) {
        if (st.ids[id] == ID_OFFERED) st.ids[id] = ID_QUEUED; /* else a getter already has it */
    } else {
        FUZZ_CHECK(st.ids[id] == ID_OFFERED, "a failed put (%s) whose item %zu was taken", corio_err_name(rc), id);
        st.ids[id] = ID_NONE;
    }
}

static int run_op(uint8_t op) {
    int rc = 0;
    void *item;
    size_t id;
    switch (op % 15) {
    case 0:
        rc = corio_yield();
        break;
    case 1:
        rc = corio_sleep((op >> 4) % 3);
        break;
    case 2:
        rc = corio_lock_acquire(st.lock);
        if (rc == 0) {
            take_lock();
            corio_yield();
            drop_lock();
        }
        break;
    case 3:
        rc = corio_lock_try_acquire(st.lock);
        if (rc == 0) {
            take_lock();
            drop_lock();
        } else {
            /* busy even with no holder in our books: a release may have handed it to a waiter not yet run */
            FUZZ_CHECK(rc == -EBUSY, "try_acquire: %s", corio_err_name(rc));
            rc = 0;
        }
        break;
    case 4:
        rc = corio_event_wait(st.event);
        break;
    case 5:
        rc = corio_sem_acquire(st.sem);
        if (rc == 0) {
            FUZZ_CHECK(++st.sem_held <= st.permits, "%u permits out of %u", st.sem_held, st.permits);
            corio_yield();
            st.sem_held--;
            corio_sem_release(st.sem);
        }
        break;
    case 6:
        rc = corio_lock_acquire(st.lock);
        if (rc == 0) {
            take_lock();
            st.holder = NULL; /* cond_wait gives the lock up meanwhile */
            rc = corio_cond_wait(st.cond, st.lock);
            FUZZ_CHECK(rc == 0 || ok_error(rc), "cond_wait: %s", corio_err_name(rc));
            take_lock(); /* whatever the outcome, it holds the lock again */
            drop_lock();
        }
        break;
    case 7:
        if (!(id = offer())) break;
        rc = corio_queue_put(st.queue, (void *)(uintptr_t)id);
        put_result(id, rc);
        if (rc == -EPIPE) rc = 0;
        break;
    case 8:
        rc = corio_queue_get(st.queue, &item);
        if (rc == 0) got_item(item);
        if (rc == -EPIPE) rc = 0;
        break;
    case 9:
        if (op & 0x10) {
            rc = corio_queue_try_get(st.queue, &item);
            if (rc == 0) got_item(item);
        } else if ((id = offer())) {
            rc = corio_queue_try_put(st.queue, (void *)(uintptr_t)id);
            put_result(id, rc);
        }
        FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == -EPIPE, "try_put/try_get: %s", corio_err_name(rc));
        rc = 0;
        break;
    case 10:
        rc = corio_checkpoint();
        break;
    case 11:
        return -EIO;
    case 12: {
        corio_scope shield;
        FUZZ_CHECK(corio_scope_enter(&shield, (op >> 4) % 3, CORIO_SCOPE_SHIELD) == 0, "shield enter");
        rc = corio_sleep(1);
        /* neither the task's cancellation nor an outer timeout reaches it: only its own deadline */
        FUZZ_CHECK(rc == 0 || rc == -ETIMEDOUT, "sleep in a shield: %s", corio_err_name(rc));
        int ex = corio_scope_exit(&shield);
        FUZZ_CHECK(ex == 0 || ex == -ETIMEDOUT, "shield exit: %s", corio_err_name(ex));
        FUZZ_CHECK(rc == 0 || ex == -ETIMEDOUT, "a shielded wait timed out, its scope did not");
        rc = 0;
        break;
    }
    case 14: {
        /* a select over a queue get, the event and a semaphore permit: exactly one completes, and what it took
         * is accounted as the plain calls' would be */
        corio_sel c[3] = {{.op = CORIO_SEL_QUEUE_GET, .obj = st.queue},
                          {.op = CORIO_SEL_EVENT, .obj = st.event},
                          {.op = CORIO_SEL_SEM, .obj = st.sem}};
        c[0].item = (void *)(uintptr_t)-1;
        rc = corio_select(c, 3, (op >> 4) % 3);
        if (rc == 0) {
            if (c[0].closed) FUZZ_CHECK(c[0].item == NULL, "a closed queue's case handed an item");
            else got_item(c[0].item);
        } else if (rc == 2) {
            FUZZ_CHECK(++st.sem_held <= st.permits, "select: %u permits out of %u", st.sem_held, st.permits);
            corio_yield();
            st.sem_held--;
            corio_sem_release(st.sem);
        } else if (rc < 0) {
            FUZZ_CHECK(c[0].item == (void *)(uintptr_t)-1, "a failed select (%s) took an item", corio_err_name(rc));
        }
        rc = rc >= 0 ? 0 : rc;
        break;
    }
    case 13: {
        corio_scope s;
        FUZZ_CHECK(corio_scope_enter(&s, -1, 0) == 0, "scope enter");
        FUZZ_CHECK(corio_scope_cancel(&s) == 0, "scope cancel");
        rc = corio_sleep(1);
        FUZZ_CHECK(rc == -ECANCELED, "sleep in a cancelled scope: %s", corio_err_name(rc));
        FUZZ_CHECK(corio_scope_exit(&s) == -ECANCELED, "a cancelled scope's exit");
        rc = 0;
        break;
    }
    default:
        return -EIO;
    }
    FUZZ_CHECK(rc == 0 || ok_error(rc), "op %d: %s", op % 15, corio_err_name(rc));
    return 0;
}

static int worker_fn(void *arg) {
    struct worker *w = arg;
    FUZZ_CHECK(!w->started, "a task started twice");
    w->started = true;
    st.starts++;
    int status = 0;
    for (size_t i = 0; i < w->n && status == 0; i++) {
        uint8_t op = w->prog[i];
        corio_timeout scope;
        if (op & 0x80) FUZZ_CHECK(corio_timeout_enter(&scope, (op >> 4) % 3) == 0, "timeout_enter");
        status = run_op(op);
        if (op & 0x80) {
            int rc = corio_timeout_exit(&scope);
            FUZZ_CHECK(rc == 0 || rc == -ETIMEDOUT, "timeout_exit: %s", corio_err_name(rc));
        }
    }
    FUZZ_CHECK(st.holder != corio_current(), "a task ends holding the lock");
    FUZZ_CHECK(!w->ended, "a task ended twice");
    w->ended = true;
    st.ends++;
    return status; /* 0 or -EIO: never -ECANCELED, so a waiter can tell its own cancellation */
}

/* A worker with the next program of the script, or NULL when MAX_TASKS are used up. */
static struct worker *new_worker(void) {
    uint8_t n = fuzz_byte(&st.in) % (MAX_PROG + 1);
    uint8_t prog[MAX_PROG];
    for (size_t i = 0; i < n; i++) prog[i] = fuzz_byte(&st.in);
    if (st.nworkers == MAX_TASKS) return NULL;
    struct worker *w = &st.workers[st.nworkers++];
    memcpy(w->prog, prog, n);
    w->n = n;
    return w;
}

static int helper_fn(void *arg) {
    struct helper *h = arg;
    int rc;
    int statuses[SLOTS];
    switch (h->kind) {
    case 1:
        rc = corio_await(h->tasks[0]);
        /* a cancelled waiter leaves the task running and awaitable; the task's status is never -ECANCELED */
        FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ECANCELED, "await: %s", corio_err_name(rc));
        st.slot_state[h->slots[0]] = rc == -ECANCELED ? SLOT_LIVE : SLOT_EMPTY;
        break;
    case 2:
        rc = corio_wait_for(h->tasks[0], h->ms);
        FUZZ_CHECK(rc == 0 || rc == -EIO || ok_error(rc), "wait_for: %s", corio_err_name(rc));
        st.slot_state[h->slots[0]] = SLOT_EMPTY;
        break;
    case 3:
    case 4:
        rc = corio_gather(h->tasks, h->n, h->kind == 4 ? statuses : NULL);
        FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ECANCELED, "gather: %s", corio_err_name(rc));
        if (h->kind == 4 && rc == 0)
            for (size_t i = 0; i < h->n; i++)
                FUZZ_CHECK(statuses[i] == 0 || statuses[i] == -EIO, "gather status %s", corio_err_name(statuses[i]));
        for (size_t i = 0; i < h->n; i++) st.slot_state[h->slots[i]] = SLOT_EMPTY;
        break;
    case 5:
        rc = corio_wait_any(h->tasks, h->n, h->ms);
        if (rc >= 0) {
            FUZZ_CHECK((size_t)rc < h->n && corio_task_done(h->tasks[rc]) == 1, "wait_any: %d is not done", rc);
            for (int i = 0; i < rc; i++) FUZZ_CHECK(corio_task_done(h->tasks[i]) == 0, "wait_any: not the first");
        } else {
            FUZZ_CHECK(ok_error(rc), "wait_any: %s", corio_err_name(rc));
        }
        for (size_t i = 0; i < h->n; i++) st.slot_state[h->slots[i]] = SLOT_LIVE; /* still awaitable */
        break;
    default:
        rc = corio_group_wait(h->group);
        FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ECANCELED, "group_wait: %s", corio_err_name(rc));
        st.bodies_open--;
        break;
    }
    st.helpers_alive--;
    return 0;
}

static void start_helper(struct helper *h) {
    corio_task *t = corio_spawn(helper_fn, h);
    FUZZ_CHECK(t, "spawn helper");
    corio_detach(t);
    st.helpers_alive++;
}

static struct helper *new_helper(int kind) {
    if (st.nhelpers == MAX_HELPERS) return NULL;
    struct helper *h = &st.helpers[st.nhelpers++];
    memset(h, 0, sizeof *h);
    h->kind = kind;
    return h;
}

static void check_invariants(void) {
    FUZZ_CHECK(st.sem_held <= st.permits, "%u permits out of %u", st.sem_held, st.permits);
    FUZZ_CHECK(st.ends <= st.starts && st.starts <= st.nworkers, "starts %zu ends %zu spawned %zu", st.starts, st.ends,
               st.nworkers);
    size_t queued = 0, offered = 0;
    for (size_t i = 1; i < st.next_id; i++) {
        queued += st.ids[i] == ID_QUEUED;
        offered += st.ids[i] == ID_OFFERED;
    }
    size_t size = corio_queue_size(st.queue);
    /* an item handed straight to a waiting getter is queued in our books but not in the queue */
    FUZZ_CHECK(size <= queued + offered && (st.capacity == 0 || size <= st.capacity),
               "queue holds %zu, %zu queued and %zu offered, capacity %zu", size, queued, offered, st.capacity);
    int sv = corio_sem_value(st.sem);
    FUZZ_CHECK(sv >= 0 && (unsigned)sv + st.sem_held <= st.permits, "semaphore value %d with %u held of %u", sv,
               st.sem_held, st.permits);
}

/* One step of the script: false to end it now. */
static bool step(void) {
    uint8_t b = fuzz_byte(&st.in);
    int s = fuzz_byte(&st.in) % SLOTS; /* every step takes an argument byte, used or not */
    struct helper *h;
    struct worker *w;
    void *item;
    size_t id;
    int rc, open;
    switch (b % 21) {
    case 0:
        w = new_worker();
        if (!w || st.slot_state[s] != SLOT_EMPTY) break;
        st.slot_task[s] = corio_spawn(worker_fn, w);
        FUZZ_CHECK(st.slot_task[s], "spawn");
        st.slot_state[s] = SLOT_LIVE;
        break;
    case 1:
    case 2:
        if (st.slot_state[s] != SLOT_LIVE || !(h = new_helper(b % 21))) break;
        h->slots[0] = s;
        h->tasks[0] = st.slot_task[s];
        h->n = 1;
        h->ms = fuzz_byte(&st.in) % 4;
        st.slot_state[s] = SLOT_AWAITED;
        start_helper(h);
        break;
    case 3:
    case 4:
        if (!(h = new_helper(b % 21))) break;
        for (int i = 0; i < SLOTS; i++)
            if ((s * 37 + b) & (1 << i) && st.slot_state[i] == SLOT_LIVE) {
                h->slots[h->n] = i;
                h->tasks[h->n++] = st.slot_task[i];
                st.slot_state[i] = SLOT_AWAITED;
            }
        start_helper(h); /* n may be 0: gather of nothing returns 0 */
        break;
    case 5:
        if (st.slot_state[s] != SLOT_LIVE) break;
        corio_detach(st.slot_task[s]);
        st.slot_state[s] = SLOT_EMPTY;
        break;
    case 6:
        if (st.slot_state[s] == SLOT_EMPTY) break;
        rc = corio_cancel(st.slot_task[s]);
        FUZZ_CHECK(rc == 0 || rc == -ESRCH, "cancel: %s", corio_err_name(rc));
        break;
    case 7:
        open = st.bodies_open; /* a helper may close the last body while main waits */
        rc = corio_sleep(s % 3);
        FUZZ_CHECK(rc == 0 || (rc == -ECANCELED && open), "main's sleep: %s", corio_err_name(rc));
        break;
    case 8:
        open = st.bodies_open;
        rc = corio_yield();
        FUZZ_CHECK(rc == 0 || (rc == -ECANCELED && open), "main's yield: %s", corio_err_name(rc));
        break;
    case 9:
        if (!st.group) {
            FUZZ_CHECK((st.group = corio_group_new()), "group_new");
            st.bodies_open++;
        }
        if (!(w = new_worker())) break;
        rc = corio_group_spawn(st.group, worker_fn, w);
        FUZZ_CHECK(rc == 0 || rc == -ECANCELED, "group_spawn: %s", corio_err_name(rc));
        break;
    case 10:
        if (!st.group || !(h = new_helper(10))) break;
        h->group = st.group;
        st.group = NULL;
        start_helper(h);
        break;
    case 11:
        if (st.group) FUZZ_CHECK(corio_group_cancel(st.group) == 0, "group_cancel");
        break;
    case 12:
        corio_event_set(st.event);
        break;
    case 13:
        corio_event_clear(st.event);
        break;
    case 14:
        corio_cond_signal(st.cond);
        break;
    case 15:
        corio_cond_broadcast(st.cond);
        break;
    case 16:
        if (!(id = offer())) break;
        rc = corio_queue_try_put(st.queue, (void *)(uintptr_t)id);
        FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == -EPIPE, "try_put: %s", corio_err_name(rc));
        put_result(id, rc);
        break;
    case 17:
        rc = corio_queue_try_get(st.queue, &item);
        FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == -EPIPE, "try_get: %s", corio_err_name(rc));
        if (rc == 0) got_item(item);
        break;
    case 18:
        corio_queue_close(st.queue);
        break;
    case 19:
        if (!(h = new_helper(5))) break;
        for (int i = 0; i < SLOTS; i++)
            if ((s * 53 + b) & (1 << i) && st.slot_state[i] == SLOT_LIVE) {
                h->slots[h->n] = i;
                h->tasks[h->n++] = st.slot_task[i];
                st.slot_state[i] = SLOT_AWAITED;
            }
        h->ms = (int64_t)(fuzz_byte(&st.in) % 5) - 1; /* -1: no limit */
        if (h->n == 0) break;
        start_helper(h);
        break;
    default:
        return false;
    }
    check_invariants();
    return true;
}

/* Unblocks and cancels everything, and waits until only the main task is left: in a shield, since a group body
 * that main left open (handed to a helper to wait) may have cancelled main's waits. */
static void wind_down(void) {
    corio_scope shield;
    FUZZ_CHECK(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD) == 0, "shield");
    for (int round = 0;; round++) {
        FUZZ_CHECK(round < 20000, "tasks never end: %zu helpers, %zu of %zu workers alive", st.helpers_alive,
                   st.starts - st.ends, st.nworkers);
        corio_event_set(st.event);
        corio_cond_broadcast(st.cond);
        corio_queue_close(st.queue);
        for (int i = 0; i < SLOTS; i++) {
            if (st.slot_state[i] == SLOT_EMPTY) continue;
            corio_cancel(st.slot_task[i]);
            if (st.slot_state[i] != SLOT_LIVE) continue;
            int rc = corio_await(st.slot_task[i]);
            FUZZ_CHECK(rc == 0 || rc == -EIO, "await at the end: %s", corio_err_name(rc));
            st.slot_state[i] = SLOT_EMPTY;
        }
        if (st.group) {
            corio_group_cancel(st.group);
            int rc = corio_group_wait(st.group);
            FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ECANCELED, "group_wait at the end: %s", corio_err_name(rc));
            st.group = NULL;
            st.bodies_open--;
        }
        corio_stats stats;
        FUZZ_CHECK(corio_stats_get(&stats) == 0, "stats");
        if (st.helpers_alive == 0 && stats.tasks == 1) break;
        corio_sleep(round < 100 ? 0 : 1);
    }
    FUZZ_CHECK(st.starts == st.ends, "%zu tasks started, %zu ended", st.starts, st.ends);
    FUZZ_CHECK(corio_scope_exit(&shield) == 0, "shield exit");
}

static int main_fn(void *arg) {
    (void)arg;
    corio_stats stats;
    FUZZ_CHECK(corio_stats_get(&stats) == 0 && stats.tasks == 1, "tasks at the start: %zu", stats.tasks);
    while (st.in.left > 0)
        if (!step()) return 0; /* corio_run cancels and waits for the rest */
    wind_down();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    memset(&st, 0, sizeof st);
    st.in = (fuzz_in){data, size};
    uint8_t cfg = fuzz_byte(&st.in);
    st.permits = ((cfg >> 2) & 3) + 1;
    st.next_id = 1;
    st.lock = corio_lock_new();
    st.event = corio_event_new();
    st.sem = corio_sem_new(st.permits);
    st.cond = corio_cond_new();
    st.capacity = cfg & 3;
    st.queue = corio_queue_new(st.capacity);
    FUZZ_CHECK(st.lock && st.event && st.sem && st.cond && st.queue, "out of memory");
    int rc = corio_run(main_fn, NULL);
    FUZZ_CHECK(rc == 0, "corio_run: %s", corio_err_name(rc));
    FUZZ_CHECK(st.starts == st.ends, "after corio_run: %zu tasks started, %zu ended", st.starts, st.ends);
    FUZZ_CHECK(st.holder == NULL && st.sem_held == 0, "a lock or permit still held");
    void *item;
    while (corio_queue_try_get(st.queue, &item) == 0) got_item(item);
    for (size_t i = 1; i < st.next_id; i++)
        FUZZ_CHECK(st.ids[i] == ID_NONE || st.ids[i] == ID_TAKEN, "item %zu lost (state %d)", i, st.ids[i]);
    FUZZ_CHECK(corio_lock_free(st.lock) == 0 && corio_event_free(st.event) == 0 && corio_sem_free(st.sem) == 0 &&
                   corio_cond_free(st.cond) == 0 && corio_queue_free(st.queue) == 0,
               "an object still busy after corio_run");
    return 0;
}
