/* bench_gather.c - how close corio_gather comes to the ideal: N tasks each sleep SECONDS concurrently and are
 * gathered (asyncio.gather semantics, statuses == NULL); the wall time from the first spawn to gather's return
 * is `RESULT gather_wall <s> s`, ideally just over SECONDS. --compact spawns compact tasks (one shared stack):
 * a default task touches a fresh stack page the first time it runs, which is most of the time over the ideal.
 *   usage: bench_gather [N [SECONDS]] [--compact]   (defaults 10000 1) */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_gather"

struct args {
    uint64_t n;
    int64_t ms;
    bool compact;
};

static uint64_t slept; /* tasks whose sleep ended on time: gather's 0 alone cannot show that all of them ran */

static int sleeper(void *arg) {
    int64_t ms = *(const int64_t *)arg;
    int64_t start = corio_now();
    int rc = corio_sleep(ms);
    if (rc < 0) return rc;
    /* Both readings are the loop's cached clock, and a timer fires only once that clock reaches its deadline. */
    if (corio_now() - start < ms) return -ETIME;
    slept++;
    return 0;
}

static int bench_main(void *arg) {
    const struct args *a = arg;
    corio_task **t = malloc(a->n * sizeof *t); /* heap: the main task's stack is only 64 KiB */
    if (t == NULL) bench_fail(PROG, "out of memory for %" PRIu64 " handles", a->n);
    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < a->n; i++) {
        t[i] = corio_spawn_opts(sleeper, (void *)&a->ms, &(corio_task_opts){.compact = a->compact});
        if (t[i] == NULL) bench_fail(PROG, "corio_spawn of task %" PRIu64 " failed: %s", i, strerror(errno));
    }
    int rc = corio_gather(t, a->n, NULL);
    int64_t t1 = bench_now_ns();
    if (rc != 0)
        bench_fail(PROG, "corio_gather returned %d (%s)%s", rc, corio_err_name(rc),
                   rc == -ETIME ? ": a sleep ended early" : "");
    if (slept != a->n) bench_fail(PROG, "%" PRIu64 " tasks slept, expected %" PRIu64, slept, a->n);
    double wall = (double)(t1 - t0) / 1e9;
    if (wall * 1000 < (double)a->ms) bench_fail(PROG, "gathered after %.3f s, before the sleeps ended", wall);
    printf("# %" PRIu64 " %s tasks sleeping %" PRId64 " ms: %.1f ms over the ideal\n", a->n,
           a->compact ? "compact" : "default", a->ms, wall * 1000 - (double)a->ms);
    bench_result("gather_wall", wall, "s");
    free(t);
    return 0;
}

int main(int argc, char **argv) {
    struct args a = {.compact = bench_take_flag(&argc, argv, "--compact")};
    a.n = bench_arg_count(PROG, argc, argv, 1, 10000);
    a.ms = (int64_t)bench_arg_count(PROG, argc, argv, 2, 1) * 1000;
    int rc = corio_run(bench_main, &a);
    if (rc != 0) bench_fail(PROG, "corio_run returned %d (%s)", rc, corio_err_name(rc));
    return 0;
}
