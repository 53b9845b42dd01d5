/* bench_skynet.c - the "skynet" benchmark: a tree of tasks where each task spawns 10 children down to 1,000,000
 * leaves, each leaf returns its number and every parent sums its children's (1,111,111 tasks in all). Run on one
 * loop (corio_run), then on 2 loops (corio_run_threads): the root posts half of its 10 subtrees to loop 1 and
 * gets their sums back through a channel. Prints `RESULT skynet_1loop <s> s` and `RESULT skynet_2loops <s> s`,
 * each the best of 3 runs. Subtrees of up to 1000 leaves are walked depth first (see DEPTH_FIRST_LEAVES).
 * --compact spawns the tree's tasks compact (one shared stack per loop): no task touches a stack page of its own,
 * and the children's nodes go on the heap, since nothing may point into a suspended compact task's stack.
 *   usage: bench_skynet [LEAVES] [--compact]          (default 1,000,000; a power of 10) */
#include <inttypes.h>
#include <stdbool.h>

#include <time.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_skynet"
#define RUNS 3
#define FANOUT 10

typedef struct node {
    int64_t num, size, sum;
} node;

/* Subtrees of at most this many leaves spawn their children one at a time and await each (depth first): with
 * corio's FIFO ready queue, spawning all ten everywhere keeps the whole tree alive at once (measured: 52 s and
 * 4.8 GB RSS for 1 loop, all in page faults and stack mappings). Above it the ten run concurrently, so about
 * 1000 subtrees interleave on each loop. */
#ifndef DEPTH_FIRST_LEAVES
#define DEPTH_FIRST_LEAVES 1000
#endif

static bool compact;

static corio_task *spawn_node(node *n);

static int skynet(void *arg) {
    node *n = arg;
    if (n->size == 1) {
        n->sum = n->num;
        return 0;
    }
    node kids_here[FANOUT];
    node *kids = kids_here;
    if (compact && !(kids = malloc(sizeof kids_here))) bench_fail(PROG, "out of memory");
    corio_task *t[FANOUT];
    int64_t step = n->size / FANOUT;
    bool together = n->size > DEPTH_FIRST_LEAVES;
    int rc = 0;
    for (int i = 0; i < FANOUT && rc == 0; i++) {
        kids[i] = (node){.num = n->num + i * step, .size = step, .sum = 0};
        t[i] = spawn_node(&kids[i]);
        if (!together) rc = corio_await(t[i]);
    }
    if (together) rc = corio_gather(t, FANOUT, NULL);
    if (rc == 0) {
        n->sum = 0;
        for (int i = 0; i < FANOUT; i++) n->sum += kids[i].sum;
    }
    if (kids != kids_here) free(kids);
    return rc;
}

static corio_task *spawn_node(node *n) {
    corio_task *t = corio_spawn_opts(skynet, n, &(corio_task_opts){.compact = compact});
    if (!t) bench_fail(PROG, "corio_spawn: %s", strerror(errno));
    return t;
}

/* ---- two loops ------------------------------------------------------------------------------------------------ */

typedef struct split {
    int64_t leaves;
    corio_chan *results; /* loop 1's subtrees, as node pointers once summed */
    corio_chan *quit;    /* closed by loop 0 at the end: loop 1's main returns */
    node top[FANOUT];
    int64_t sum;
} split;

static corio_chan *g_results;

static int remote_subtree(void *arg) {
    int rc = skynet(arg);
    if (rc < 0) return rc;
    return corio_chan_send(g_results, arg);
}

static int two_loops_main(void *arg) {
    split *s = arg;
    void *item;
    if (corio_loop_index() == 1) return corio_chan_recv(s->quit, &item) == -EPIPE ? 0 : -EIO;
    int64_t step = s->leaves / FANOUT;
    for (int i = 0; i < FANOUT; i++) s->top[i] = (node){.num = i * step, .size = step, .sum = 0};
    /* the odd subtrees go to loop 1 (posted first so it starts at once), the even ones run here */
    for (int i = 1; i < FANOUT; i += 2) {
        int rc = corio_post(1, remote_subtree, &s->top[i]);
        if (rc < 0) bench_fail(PROG, "corio_post: %s", corio_strerror(rc));
    }
    corio_task *t[FANOUT / 2];
    for (int i = 0; i < FANOUT; i += 2) {
        t[i / 2] = spawn_node(&s->top[i]);
    }
    int rc = corio_gather(t, FANOUT / 2, NULL);
    if (rc < 0) bench_fail(PROG, "gather: %s", corio_strerror(rc));
    for (int i = 0; i < FANOUT / 2; i++) {
        rc = corio_chan_recv(s->results, &item);
        if (rc < 0) bench_fail(PROG, "corio_chan_recv: %s", corio_strerror(rc));
    }
    s->sum = 0;
    for (int i = 0; i < FANOUT; i++) s->sum += s->top[i].sum;
    corio_chan_close(s->quit);
    return 0;
}

/* CPU time of the whole process: with 2 loops, wall time near CPU time / 2 means both cores were ours. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_one_loop(int64_t leaves, int64_t *sum) {
    node root = {.num = 0, .size = leaves, .sum = 0};
    int64_t t0 = bench_now_ns();
    int rc = corio_run(skynet, &root);
    int64_t t1 = bench_now_ns();
    if (rc < 0) bench_fail(PROG, "corio_run: %s", corio_strerror(rc));
    *sum = root.sum;
    return (double)(t1 - t0) / 1e9;
}

static double run_two_loops(int64_t leaves, int64_t *sum) {
    split s = {.leaves = leaves};
    s.results = g_results = corio_chan_new(FANOUT);
    s.quit = corio_chan_new(0);
    if (!s.results || !s.quit) bench_fail(PROG, "out of memory");
    int64_t t0 = bench_now_ns();
    int rc = corio_run_threads(2, two_loops_main, &s);
    int64_t t1 = bench_now_ns();
    if (rc < 0) bench_fail(PROG, "corio_run_threads: %s", corio_strerror(rc));
    corio_chan_free(s.results);
    corio_chan_free(s.quit);
    *sum = s.sum;
    return (double)(t1 - t0) / 1e9;
}

int main(int argc, char **argv) {
    /* --compact may come anywhere; LEAVES is the other argument */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--compact") != 0) continue;
        compact = true;
        for (int j = i; j + 1 < argc; j++) argv[j] = argv[j + 1];
        argc--;
        break;
    }
    int64_t leaves = (int64_t)bench_arg_count(PROG, argc, argv, 1, 1000000);
    int64_t p = 1;
    while (p < leaves) p *= FANOUT;
    if (p != leaves || leaves < FANOUT) bench_fail(PROG, "LEAVES must be a power of 10, at least 10");
    int64_t want = leaves * (leaves - 1) / 2;
    double best1 = 0, best2 = 0;
    for (int r = 0; r < RUNS; r++) {
        int64_t sum;
        double c0 = cpu_s();
        double s1 = run_one_loop(leaves, &sum);
        double c1 = cpu_s();
        if (sum != want) bench_fail(PROG, "1 loop: sum %" PRId64 ", expected %" PRId64, sum, want);
        double s2 = run_two_loops(leaves, &sum);
        double c2 = cpu_s();
        if (sum != want) bench_fail(PROG, "2 loops: sum %" PRId64 ", expected %" PRId64, sum, want);
        printf("run %d: 1 loop %.3f s (cpu %.3f s), 2 loops %.3f s (cpu %.3f s)\n", r, s1, c1 - c0, s2, c2 - c1);
        if (r == 0 || s1 < best1) best1 = s1;
        if (r == 0 || s2 < best2) best2 = s2;
    }
    if (compact) printf("# compact tasks\n");
    printf("RESULT skynet_1loop %.3f s\n", best1);
    printf("RESULT skynet_2loops %.3f s\n", best2);
    printf("ratio 2 loops / 1 loop: %.2f\n", best2 / best1);
    return 0;
}
