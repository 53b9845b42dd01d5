/* bench_switch.c - the cost of one task switch: two tasks hand the thread to each other with corio_yield(), COUNT
 * one-way switches in all (default 10,000,000), and the best of 3 timed runs after a warm-up is reported as
 * `RESULT switch_corio <ns> ns` per one-way switch. bench/baseline/switch_boost.cpp does the same ping-pong with
 * Boost.Context's fcontext, which run.sh divides this by.
 *   usage: bench_switch [COUNT] */
#include <errno.h>
#include <inttypes.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_switch"
#define RUNS 3

/* Shared by the two players. turn proves that every yield really handed the thread to the other task: a yield
 * that returned without switching (or switched to someone else) would find the turn unchanged. */
struct pingpong {
    uint64_t rounds; /* yields per player */
    int turn;        /* the player allowed to run next; -1 until the first one starts */
    int finished;
    uint64_t iterations; /* loop bodies run by both players together */
    int64_t t0, t1;
};

struct player {
    struct pingpong *pp;
    int me;
};

static int play(void *arg) {
    struct player *pl = arg;
    struct pingpong *pp = pl->pp;
    /* The clock starts in whichever player runs first, so spawning and the first dispatch stay out of it. */
    if (pp->turn < 0) {
        pp->turn = pl->me;
        pp->t0 = bench_now_ns();
    }
    for (uint64_t i = 0; i < pp->rounds; i++) {
        if (pp->turn != pl->me) return -EPROTO;
        pp->turn = !pl->me;
        pp->iterations++;
        int rc = corio_yield();
        if (rc < 0) return rc;
    }
    if (++pp->finished == 2) pp->t1 = bench_now_ns();
    return 0;
}

/* One run of 2 * rounds yields; returns ns per one-way switch and the context switches corio counted. */
static double run_once(uint64_t rounds, double *ctx_per_yield) {
    struct pingpong pp = {.rounds = rounds, .turn = -1};
    struct player pl[2] = {{&pp, 0}, {&pp, 1}};
    corio_stats before, after;
    if (corio_stats_get(&before) < 0) bench_fail(PROG, "corio_stats_get failed");
    corio_task *t[2];
    for (int i = 0; i < 2; i++) {
        t[i] = corio_spawn(play, &pl[i]);
        if (t[i] == NULL) bench_fail(PROG, "corio_spawn: %s", strerror(errno));
    }
    int status[2] = {1, 1};
    int rc = corio_gather(t, 2, status);
    if (rc != 0) bench_fail(PROG, "corio_gather returned %d (%s)", rc, corio_err_name(rc));
    for (int i = 0; i < 2; i++)
        if (status[i] != 0)
            bench_fail(PROG, "player %d returned %d (%s)%s", i, status[i], corio_err_name(status[i]),
                       status[i] == -EPROTO ? ": a yield did not switch to the other task" : "");
    if (pp.iterations != 2 * rounds || pp.finished != 2)
        bench_fail(PROG, "%" PRIu64 " iterations, expected %" PRIu64, pp.iterations, 2 * rounds);
    if (corio_stats_get(&after) < 0) bench_fail(PROG, "corio_stats_get failed");
    *ctx_per_yield = (double)(after.switches - before.switches) / (double)(2 * rounds);
    return (double)(pp.t1 - pp.t0) / (double)(2 * rounds);
}

static int bench_main(void *arg) {
    uint64_t count = *(uint64_t *)arg;
    uint64_t rounds = count / 2 ? count / 2 : 1;
    double ctx_per_yield;
    /* The warm-up fills corio's stack cache and faults in both stacks, which the timed runs must not pay for. */
    run_once(rounds / 10 ? rounds / 10 : 1, &ctx_per_yield);
    double best = 0;
    for (int r = 0; r < RUNS; r++) {
        double ns = run_once(rounds, &ctx_per_yield);
        printf("# run %d: %.3f ns per switch\n", r + 1, ns);
        if (r == 0 || ns < best) best = ns;
    }
    /* 1 means each yield went straight to the other task; 2 means through a scheduler context in between. */
    printf("# %" PRIu64 " yields per run; corio counted %.2f context switches per yield\n", 2 * rounds, ctx_per_yield);
    bench_result("switch_corio", best, "ns");
    return 0;
}

int main(int argc, char **argv) {
    uint64_t count = bench_arg_count(PROG, argc, argv, 1, 10000000);
    int rc = corio_run(bench_main, &count);
    if (rc != 0) bench_fail(PROG, "corio_run returned %d (%s)", rc, corio_err_name(rc));
    return 0;
}
