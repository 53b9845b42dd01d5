/* bench_spawn.c - what a short-lived task costs: spawn + run + await of an empty task, one at a time
 * (`RESULT spawn_await <ns> ns`, the design's goal is 100 ns), and spawned 1000 at a time then gathered
 * (`RESULT spawn_gather_batch <ns> ns` per task), each the best of 3 runs of N tasks after a warm-up.
 *   usage: bench_spawn [N]          (default 1,000,000) */
#include <errno.h>
#include <inttypes.h>
#include <sys/resource.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_spawn"
#define RUNS 3
#define BATCH 1000

static uint64_t ran; /* bodies that ran: a spawn that never ran its function would otherwise look free */

static int empty(void *arg) {
    (void)arg;
    ran++;
    return 0;
}

static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static double spawn_await(uint64_t n) {
    uint64_t ran0 = ran;
    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        corio_task *t = corio_spawn(empty, NULL);
        if (t == NULL) bench_fail(PROG, "corio_spawn: %s", strerror(errno));
        int rc = corio_await(t);
        if (rc != 0) bench_fail(PROG, "corio_await returned %d (%s)", rc, corio_err_name(rc));
    }
    int64_t t1 = bench_now_ns();
    if (ran - ran0 != n) bench_fail(PROG, "%" PRIu64 " tasks ran, expected %" PRIu64, ran - ran0, n);
    return (double)(t1 - t0) / (double)n;
}

/* The handles and statuses come from the heap: the main task's stack is only 64 KiB. */
static double spawn_gather(uint64_t n, corio_task **t, int *status) {
    uint64_t batches = n / BATCH ? n / BATCH : 1;
    uint64_t ran0 = ran;
    int64_t t0 = bench_now_ns();
    for (uint64_t b = 0; b < batches; b++) {
        for (int i = 0; i < BATCH; i++) {
            t[i] = corio_spawn(empty, NULL);
            if (t[i] == NULL) bench_fail(PROG, "corio_spawn: %s", strerror(errno));
            status[i] = 1; /* not a status a task returns, so an unwritten slot shows */
        }
        int rc = corio_gather(t, BATCH, status);
        if (rc != 0) bench_fail(PROG, "corio_gather returned %d (%s)", rc, corio_err_name(rc));
        for (int i = 0; i < BATCH; i++)
            if (status[i] != 0) bench_fail(PROG, "task %d of a batch has status %d", i, status[i]);
    }
    int64_t t1 = bench_now_ns();
    uint64_t tasks = batches * BATCH;
    if (ran - ran0 != tasks) bench_fail(PROG, "%" PRIu64 " tasks ran, expected %" PRIu64, ran - ran0, tasks);
    return (double)(t1 - t0) / (double)tasks;
}

static int bench_main(void *arg) {
    uint64_t n = *(uint64_t *)arg;
    corio_task **t = malloc(BATCH * sizeof *t);
    int *status = malloc(BATCH * sizeof *status);
    if (t == NULL || status == NULL) bench_fail(PROG, "out of memory");

    /* Warm-up: a full batch alive at once fills the stack cache to the size the batched runs need. */
    spawn_await(n / 10 ? n / 10 : 1);
    spawn_gather(BATCH, t, status);

    double best = 0;
    long faults = 0;
    for (int r = 0; r < RUNS; r++) {
        long f0 = minor_faults();
        double ns = spawn_await(n);
        long df = minor_faults() - f0;
        printf("# spawn_await run %d: %.3f ns per task, %.4f page faults per task\n", r + 1, ns, (double)df / n);
        if (r == 0 || ns < best) {
            best = ns;
            faults = df;
        }
    }
    bench_result("spawn_await", best, "ns");
    /* Once the stack pool is warm a spawn should touch no new page; a fault per task means it maps stacks. */
    printf("# spawn_await: %.4f minor page faults per task in the best run\n", (double)faults / n);

    best = 0;
    for (int r = 0; r < RUNS; r++) {
        double ns = spawn_gather(n, t, status);
        printf("# spawn_gather_batch run %d: %.3f ns per task\n", r + 1, ns);
        if (r == 0 || ns < best) best = ns;
    }
    bench_result("spawn_gather_batch", best, "ns");
    free(t);
    free(status);
    return 0;
}

int main(int argc, char **argv) {
    uint64_t n = bench_arg_count(PROG, argc, argv, 1, 1000000);
    int rc = corio_run(bench_main, &n);
    if (rc != 0) bench_fail(PROG, "corio_run returned %d (%s)", rc, corio_err_name(rc));
    return 0;
}
