/* pool.c - the thread pool behind corio_to_thread, DNS and files (asyncio.to_thread, libuv's threadpool).
 *
 * One pool per process, shared by every loop: threads start on demand up to the pool size (default 4) and then
 * wait for jobs forever. A finished job is posted to its loop's completion list and the loop is woken through an
 * eventfd the loop watches (corio__fd_watch), so the loop thread never blocks on a mutex for long.
 *
 * A job's state decides who owns it when the caller is cancelled: the loop moves RUNNING -> ABANDONED and the
 * caller returns at once (the worker then frees the job and calls the abandoned callback); the worker moves
 * RUNNING -> DONE and posts it (the loop then hands the result over). Exactly one of the two transitions wins. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define POOL_MAX 256

enum { JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

typedef struct corio__job {
    corio_work_fn fn;
    void *arg;
    void (*abandoned)(void *arg);
    struct corio__pool_link *link; /* where to post the result */
    corio_task *task;
    int result;
    bool handed; /* on_done gave the result to the task (loop thread only) */
    _Atomic int state;
    struct corio__job *next;
} corio__job;

/* The loop side: a completion list the workers push to, and the eventfd that wakes the loop. */
struct corio__pool_link {
    pthread_mutex_t mu;
    corio__job *done; /* finished jobs, newest first */
    int efd;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    corio__job *head, *tail;
    unsigned size, threads, idle;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 4, 0, 0};

int corio_pool_set_size(unsigned n) {
    if (n == 0 || n > POOL_MAX) return -EINVAL;
    pthread_mutex_lock(&pool.mu);
    pool.size = n;
    pthread_mutex_unlock(&pool.mu);
    return 0;
}

/* The eventfd is written under the mutex: once the loop has taken j (under the same mutex) its task may end, and
 * the loop with it, closing the eventfd and freeing pl (corio__pool_loop_free); a write after the unlock could
 * land on a closed, even reused, descriptor (ThreadSanitizer caught it in test_loops). */
static void post(corio__job *j) {
    struct corio__pool_link *pl = j->link;
    pthread_mutex_lock(&pl->mu);
    j->next = pl->done;
    pl->done = j;
    uint64_t one = 1;
    ssize_t ignored = write(pl->efd, &one, sizeof one);
    (void)ignored;
    pthread_mutex_unlock(&pl->mu);
}

static void *worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&pool.mu);
        while (!pool.head) {
            pool.idle++;
            pthread_cond_wait(&pool.cv, &pool.mu);
            pool.idle--;
        }
        corio__job *j = pool.head;
        pool.head = j->next;
        if (!pool.head) pool.tail = NULL;
        pthread_mutex_unlock(&pool.mu);

        j->result = j->fn(j->arg);
        int expected = JOB_RUNNING;
        if (atomic_compare_exchange_strong(&j->state, &expected, JOB_DONE)) {
            post(j);
        } else { /* the caller gave up on it */
            if (j->abandoned) j->abandoned(j->arg);
            free(j);
        }
    }
    return NULL;
}

/* Queues j, starting a thread if none is idle and the pool is below its size. 0, or -EAGAIN with no thread. */
static int submit(corio__job *j) {
    int rc = 0;
    pthread_mutex_lock(&pool.mu);
    if (pool.idle == 0 && pool.threads < pool.size) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* workers take no signals: a delivery lands on a loop or on corio's handler, never interrupting a job */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t th;
        if (pthread_create(&th, &attr, worker, NULL) == 0)
            pool.threads++;
        else if (pool.threads == 0)
            rc = -EAGAIN;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (rc == 0) {
        j->next = NULL;
        if (pool.tail)
            pool.tail->next = j;
        else
            pool.head = j;
        pool.tail = j;
        pthread_cond_signal(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return rc;
}

/* The loop's eventfd fired: hand each finished job's result to its task. */
static void on_done(corio__loop *l, int fd, void *data) {
    struct corio__pool_link *pl = data;
    uint64_t n;
    while (read(fd, &n, sizeof n) > 0) {
    }
    pthread_mutex_lock(&pl->mu);
    corio__job *j = pl->done;
    pl->done = NULL;
    pthread_mutex_unlock(&pl->mu);
    while (j) {
        corio__job *next = j->next;
        j->handed = true;
        corio__wake(l, j->task, 0); /* a no-op if a cancellation already woke it: it checks handed */
        j = next;
    }
}

static int link_loop(corio__loop *l) {
    if (l->pool_link) return 0;
    struct corio__pool_link *pl = calloc(1, sizeof *pl);
    if (!pl) return -ENOMEM;
    pthread_mutex_init(&pl->mu, NULL);
    pl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pl->efd < 0) {
        int rc = -errno;
        free(pl);
        return rc;
    }
    int rc = corio__fd_watch(l, pl->efd, on_done, pl);
    if (rc < 0) {
        close(pl->efd);
        free(pl);
        return rc;
    }
    l->pool_link = pl;
    return 0;
}

void corio__pool_loop_free(corio__loop *l) {
    struct corio__pool_link *pl = l->pool_link;
    if (!pl) return;
    /* every job was resolved before its task ended, through on_done, which takes the list under the mutex that
     * post holds until its write is done: no worker touches pl any more */
    corio_close(pl->efd);
    pthread_mutex_destroy(&pl->mu);
    free(pl);
    l->pool_link = NULL;
}

static int run(corio_work_fn fn, void *arg, void (*abandoned)(void *), bool shield) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!fn) return -EINVAL;
    /* the worker would use it while a compact task's stack bytes are moved away (compact.c) */
    if (corio__compact_on_stack(l, arg)) return -EINVAL;
    int rc = corio__check(l, self);
    if (rc < 0 && !shield) return rc;
    if ((rc = link_loop(l)) < 0) return rc;
    corio__job *j = malloc(sizeof *j);
    if (!j) return -ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->abandoned = abandoned;
    j->link = l->pool_link;
    j->task = self;
    j->handed = false;
    atomic_init(&j->state, JOB_RUNNING);
    if ((rc = submit(j)) < 0) {
        free(j);
        return rc;
    }
    corio__outside_begin(l, CORIO__OUTSIDE_IO, 1);
    for (;;) {
        corio__wait_on(self, CORIO__WAIT_THREAD, (const void *)fn);
        rc = corio__park(l, NULL, CORIO__INF, shield);
        if (j->handed) break;
        if (rc == -ENOMEM) { /* no room for the scope's timer: wait without it rather than abandon the job */
            shield = true;
            continue;
        }
        if (rc < 0) {
            int expected = JOB_RUNNING;
            if (atomic_compare_exchange_strong(&j->state, &expected, JOB_ABANDONED)) {
                corio__outside_end(l, CORIO__OUTSIDE_IO, 1);
                return rc; /* the worker frees the job */
            }
            /* it finished meanwhile: wait for on_done, which is imminent (or has run: handed is set) */
            shield = true;
            if (j->handed) break;
        }
    }
    corio__outside_end(l, CORIO__OUTSIDE_IO, 1);
    rc = j->result;
    free(j);
    return rc;
}

int corio_to_thread_opts(corio_work_fn fn, void *arg, const corio_work_opts *opts) {
    if (opts && !CORIO__RESERVED_ZERO(opts)) return -EINVAL;
    return run(fn, arg, opts ? opts->abandoned : NULL, false);
}

int corio_to_thread(corio_work_fn fn, void *arg) { return run(fn, arg, NULL, false); }

int corio__to_thread_shielded(corio_work_fn fn, void *arg) { return run(fn, arg, NULL, true); }
