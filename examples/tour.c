/* tour.c - the demo of `make run`: the asyncio article's ideas walked through in C, each step printing what
 * happened and how long it took. */
#include <corio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int64_t t0;
#define SAY(...)                                                                                                  \
    do {                                                                                                          \
        printf("[%5lld ms] ", (long long)(corio_now() - t0));                                                     \
        printf(__VA_ARGS__);                                                                                      \
        putchar('\n');                                                                                            \
        fflush(stdout);                                                                                           \
    } while (0)

/* 1. A coroutine that sleeps: `await asyncio.sleep(1)`. */
static int my_coroutine(void *arg) {
    (void)arg;
    return corio_sleep(1000); /* suspends this task only; the loop runs others meanwhile */
}

/* 2. Many at once: gather 10,000 sleepers. */
static int sleeper(void *arg) {
    int *done = arg;
    int rc = corio_sleep(1000);
    if (rc == 0) (*done)++;
    return rc;
}

/* 3. Errors travel like exceptions: a task's negative status reaches whoever awaits it. */
static int flaky_api_call(void *arg) {
    (void)arg;
    corio_sleep(100);
    return -ECONNREFUSED;
}

/* 4/5. A slow job, to time out and to cancel. */
static int slow_job(void *arg) {
    const char *who = arg;
    int rc = corio_sleep(10000);
    if (rc == -ECANCELED) SAY("  %s saw -ECANCELED at its sleep and cleans up", who);
    return rc;
}

/* 6. Producer/consumer over a bounded queue. */
struct pc {
    corio_queue *q;
    int consumed;
    long sum;
};

static int producer(void *arg) {
    struct pc *pc = arg;
    for (intptr_t i = 1; i <= 100; i++) {
        int rc = corio_queue_put(pc->q, (void *)i); /* waits while the queue (capacity 8) is full */
        if (rc < 0) return rc;
    }
    corio_queue_close(pc->q); /* consumers drain what is left, then see -EPIPE */
    return 0;
}

static int consumer(void *arg) {
    struct pc *pc = arg;
    void *item;
    int rc;
    while ((rc = corio_queue_get(pc->q, &item)) == 0) {
        pc->consumed++;
        pc->sum += (intptr_t)item;
        corio_sleep(1); /* pretend to work */
    }
    return rc == -EPIPE ? 0 : rc;
}

/* 7. A group where one failure stops its siblings. */
static int worker(void *arg) {
    intptr_t n = (intptr_t)arg;
    if (n == 3) {
        corio_sleep(200);
        SAY("  worker 3 fails with -EIO");
        return -EIO;
    }
    int rc = corio_sleep(5000);
    if (rc == -ECANCELED) SAY("  worker %d cancelled by its group", (int)n);
    return rc;
}

static int tour(void *arg) {
    (void)arg;
    t0 = corio_now();

    SAY("1. a coroutine that sleeps 1 s");
    int64_t s = corio_now();
    corio_await(corio_spawn(my_coroutine, NULL));
    SAY("   done after %lld ms", (long long)(corio_now() - s));

    enum { N = 10000 };
    SAY("2. gather %d tasks that each sleep 1 s", N);
    corio_task **ts = malloc(N * sizeof *ts);
    if (!ts) return -ENOMEM;
    int done = 0;
    s = corio_now();
    for (int i = 0; i < N; i++) ts[i] = corio_spawn(sleeper, &done);
    int rc = corio_gather(ts, N, NULL);
    free(ts);
    SAY("   %d tasks finished in %lld ms (rc %d), not %d s", done, (long long)(corio_now() - s), rc, N);

    SAY("3. a failing task: its error is caught and reported");
    rc = corio_await(corio_spawn(flaky_api_call, NULL));
    if (rc < 0) SAY("   caught %s (%s)", corio_err_name(rc), corio_strerror(rc));

    SAY("4. a timeout: wait_for a 10 s job with a 300 ms deadline");
    s = corio_now();
    rc = corio_wait_for(corio_spawn(slow_job, "the slow job"), 300);
    SAY("   wait_for returned %s after %lld ms", corio_err_name(rc), (long long)(corio_now() - s));
    corio_timeout scope;
    corio_timeout_enter(&scope, 200);
    rc = corio_sleep(10000);
    SAY("   inside a 200 ms timeout scope, a 10 s sleep returned %s; scope exit: %s", corio_err_name(rc),
        corio_err_name(corio_timeout_exit(&scope)));

    SAY("5. a cancellation");
    corio_task *victim = corio_spawn(slow_job, "the victim");
    corio_sleep(100);
    corio_cancel(victim);
    rc = corio_await(victim);
    SAY("   the victim ended with %s", corio_err_name(rc));

    SAY("6. producer/consumer over a queue of capacity 8, 3 consumers");
    struct pc pc = {.q = corio_queue_new(8)};
    if (!pc.q) return -ENOMEM;
    corio_task *pcs[4] = {corio_spawn(producer, &pc), corio_spawn(consumer, &pc), corio_spawn(consumer, &pc),
                          corio_spawn(consumer, &pc)};
    s = corio_now();
    rc = corio_gather(pcs, 4, NULL);
    corio_queue_free(pc.q);
    SAY("   consumed %d items, sum %ld (expected 5050), rc %d, in %lld ms", pc.consumed, pc.sum, rc,
        (long long)(corio_now() - s));

    SAY("7. a task group where one failure stops its siblings");
    corio_group *g = corio_group_new();
    if (!g) return -ENOMEM;
    for (intptr_t i = 1; i <= 5; i++) corio_group_spawn(g, worker, (void *)i);
    s = corio_now();
    rc = corio_group_wait(g);
    SAY("   the group returned %s after %lld ms (its siblings would have slept 5 s)", corio_err_name(rc),
        (long long)(corio_now() - s));
    SAY("tour complete");
    return 0;
}

int main(void) {
    int rc = corio_run(tour, NULL);
    if (rc < 0) fprintf(stderr, "tour failed: %s\n", corio_strerror(rc));
    return rc < 0;
}
