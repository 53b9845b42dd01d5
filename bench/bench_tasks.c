/* bench_tasks.c - what many concurrent tasks cost: N tasks each sleep SECONDS at the same time; prints the wall
 * time until all have been gathered and the peak RSS they added (VmHWM after, minus VmRSS before spawning):
 * `RESULT tasks_wall <s> s`, `RESULT tasks_peak_rss <bytes> bytes`, `RESULT tasks_rss_per_task <bytes> bytes`.
 * The design's target is 1,000,000 tasks with default settings.
 *   usage: bench_tasks [N [SECONDS [STACK_KIB]]] [--compact]   (defaults 100000 1, the loop's default stack size)
 * --compact spawns compact tasks (corio_task_opts.compact: one shared stack, each keeps only the bytes it uses). */
#include <errno.h>
#include <inttypes.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_tasks"

struct args {
    uint64_t n;
    int64_t ms;
    int compact;
};

static uint64_t slept;     /* tasks whose sleep ended on time */
static uint64_t running;   /* tasks not ended yet */
static int failed;         /* the first failure, if a task failed */
static corio_event *ended; /* set by the last task to end */

/* Detached, and counted down as they end (Go's peer uses a WaitGroup the same way): the run holds no handle or
 * status per task, so the peak RSS is the tasks' own. */
static int sleeper(void *arg) {
    int64_t ms = *(const int64_t *)arg;
    int64_t start = corio_now();
    int rc = corio_sleep(ms);
    /* corio_now() is cached per loop iteration, but a timer may only fire in an iteration whose clock has
     * reached its deadline, so even the cached values must be ms apart. */
    if (rc == 0 && corio_now() - start < ms) rc = -ETIME;
    if (rc == 0)
        slept++;
    else if (!failed)
        failed = rc;
    if (--running == 0) corio_event_set(ended);
    return 0;
}

static int bench_main(void *arg) {
    const struct args *a = arg;
    uint64_t n = a->n;
    if (!(ended = corio_event_new())) bench_fail(PROG, "out of memory");

    int exact_peak = bench_reset_peak_rss() == 0;
    int64_t rss0 = bench_status_bytes("VmRSS");
    if (rss0 < 0) bench_fail(PROG, "cannot read VmRSS from /proc/self/status");

    int64_t t0 = bench_now_ns();
    running = n;
    for (uint64_t i = 0; i < n; i++) {
        corio_task *t = corio_spawn_opts(sleeper, (void *)&a->ms, &(corio_task_opts){.compact = a->compact});
        if (t == NULL) bench_fail(PROG, "corio_spawn of task %" PRIu64 " failed: %s", i, strerror(errno));
        corio_detach(t);
    }
    int64_t t_spawned = bench_now_ns();

    /* One yield lets every task run up to its sleep, so the counters below show all N asleep at once. */
    int rc = corio_yield();
    if (rc != 0) bench_fail(PROG, "corio_yield returned %d (%s)", rc, corio_err_name(rc));
    int64_t t_asleep = bench_now_ns();
    corio_stats st;
    if (corio_stats_get(&st) < 0) bench_fail(PROG, "corio_stats_get failed");
    int64_t rss_asleep = bench_status_bytes("VmRSS");

    rc = corio_event_wait(ended);
    int64_t t1 = bench_now_ns();
    int64_t hwm = bench_status_bytes("VmHWM");
    if (rc != 0) bench_fail(PROG, "corio_event_wait returned %d (%s)", rc, corio_err_name(rc));
    if (failed)
        bench_fail(PROG, "a task failed: %d (%s)%s", failed, corio_err_name(failed),
                   failed == -ETIME ? ": its sleep ended early" : "");
    if (slept != n) bench_fail(PROG, "%" PRIu64 " tasks slept, expected %" PRIu64, slept, n);
    double wall = (double)(t1 - t0) / 1e9;
    if (wall * 1000 < (double)a->ms)
        bench_fail(PROG, "all done after %.3f s, before the %" PRId64 " ms sleep", wall, a->ms);
    if (hwm < 0) bench_fail(PROG, "cannot read VmHWM from /proc/self/status");

    printf("# %s tasks\n", a->compact ? "compact" : "default");
    printf("# %" PRIu64 " tasks: spawning took %.3f s, running each to its sleep %.3f s\n", n,
           (double)(t_spawned - t0) / 1e9, (double)(t_asleep - t_spawned) / 1e9);
    printf("# all asleep: tasks %zu, timers %zu, stacks in use %zu, guarded %zu, cached %zu, stack size %zu;"
           " RSS %.1f MiB above baseline\n",
           st.tasks, st.timers, st.stacks_in_use, st.stacks_guarded, st.stacks_cached, st.stack_size,
           (double)(rss_asleep - rss0) / 1048576.0);
    if (!exact_peak) printf("# could not reset VmHWM: the peak below is an upper bound\n");
    int64_t peak = hwm - rss0;
    bench_result("tasks_wall", wall, "s");
    bench_result("tasks_peak_rss", (double)peak, "bytes");
    bench_result("tasks_rss_per_task", (double)peak / (double)n, "bytes");
    corio_event_free(ended);
    return 0;
}

int main(int argc, char **argv) {
    struct args a = {.compact = bench_take_flag(&argc, argv, "--compact")};
    a.n = bench_arg_count(PROG, argc, argv, 1, 100000);
    a.ms = (int64_t)bench_arg_count(PROG, argc, argv, 2, 1) * 1000;
    if (argc > 3) {
        int rc = corio_set_stack_size(bench_arg_count(PROG, argc, argv, 3, 64) * 1024);
        if (rc != 0) bench_fail(PROG, "corio_set_stack_size returned %d (%s)", rc, corio_err_name(rc));
    }
    int rc = corio_run(bench_main, &a);
    if (rc != 0) bench_fail(PROG, "corio_run returned %d (%s)", rc, corio_err_name(rc));
    return 0;
}
