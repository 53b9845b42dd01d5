/* spawn_boost.cpp - the baseline for bench_spawn's spawn_await: create a context on one pooled stack with
 * Boost.Context's make_fcontext, run its (empty) body, and drop it, N times (default 1,000,000), best of 3 after a
 * warm-up: `RESULT spawn_boost <ns> ns`. It is the floor under a task: two switches and a frame set-up, with no
 * scheduler, no handle and no allocation. Built and run by bench/run.sh, not by make.
 *   usage: spawn_boost [N] */
#include <boost/context/detail/fcontext.hpp>
#include <sys/mman.h>

#include "bench.h"

#define PROG "spawn_boost"
#define STACK_SIZE (64 * 1024)

namespace fc = boost::context::detail;

/* The body runs once and hands the thread back for good; the context is never resumed, so the next iteration
 * can build a fresh one on the same stack, which is what "destroy" amounts to with a pooled stack. */
static void body(fc::transfer_t t) {
    ++*static_cast<uint64_t *>(t.data);
    fc::jump_fcontext(t.fctx, nullptr);
    bench_fail(PROG, "a finished context was resumed");
}

static double run_once(char *top, uint64_t *ran, uint64_t n) {
    uint64_t start = *ran;
    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        fc::fcontext_t ctx = fc::make_fcontext(top, STACK_SIZE, body);
        fc::jump_fcontext(ctx, ran);
    }
    int64_t t1 = bench_now_ns();
    if (*ran - start != n) bench_fail(PROG, "%llu bodies ran, expected %llu", (unsigned long long)(*ran - start),
                                      (unsigned long long)n);
    return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv) {
    uint64_t n = bench_arg_count(PROG, argc, argv, 1, 1000000);
    void *stack = mmap(nullptr, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) bench_fail(PROG, "mmap: %s", strerror(errno));
    char *top = static_cast<char *>(stack) + STACK_SIZE;
    uint64_t ran = 0;
    run_once(top, &ran, n / 10 ? n / 10 : 1);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double ns = run_once(top, &ran, n);
        printf("# run %d: %.3f ns per context\n", r + 1, ns);
        if (r == 0 || ns < best) best = ns;
    }
    bench_result("spawn_boost", best, "ns");
    return 0;
}
