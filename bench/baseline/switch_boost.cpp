/* switch_boost.cpp - the baseline for bench_switch: the same ping-pong, COUNT one-way switches (default
 * 10,000,000) between the main context and one partner, with Boost.Context's low-level fcontext switch, the best
 * of 3 runs after a warm-up: `RESULT switch_boost <ns> ns`. Built and run by bench/run.sh, not by make.
 *   usage: switch_boost [COUNT] */
#include <boost/context/detail/fcontext.hpp>
#include <sys/mman.h>

#include "bench.h"

#define PROG "switch_boost"
#define STACK_SIZE (64 * 1024) /* corio's default task stack, so both sides touch stacks alike */

namespace fc = boost::context::detail;

/* The partner counts its turns: main checks the count after every return, as bench_switch checks its turn flag,
 * so both sides pay for one verified hand-over per switch. */
static void partner(fc::transfer_t t) {
    uint64_t *turns = static_cast<uint64_t *>(t.data);
    for (;;) {
        ++*turns;
        t = fc::jump_fcontext(t.fctx, nullptr);
    }
}

static double run_once(fc::fcontext_t *ctx, uint64_t *turns, uint64_t rounds) {
    uint64_t start = *turns;
    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < rounds; i++) {
        fc::transfer_t t = fc::jump_fcontext(*ctx, nullptr);
        *ctx = t.fctx;
        if (*turns != start + i + 1)
            bench_fail(PROG, "the partner did not run on switch %llu", (unsigned long long)i);
    }
    int64_t t1 = bench_now_ns();
    return (double)(t1 - t0) / (double)(2 * rounds);
}

int main(int argc, char **argv) {
    uint64_t count = bench_arg_count(PROG, argc, argv, 1, 10000000);
    uint64_t rounds = count / 2 ? count / 2 : 1;
    void *stack = mmap(nullptr, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) bench_fail(PROG, "mmap: %s", strerror(errno));
    uint64_t turns = 0;
    fc::fcontext_t ctx = fc::make_fcontext(static_cast<char *>(stack) + STACK_SIZE, STACK_SIZE, partner);
    ctx = fc::jump_fcontext(ctx, &turns).fctx; /* starts the partner, which takes its first turn */
    if (turns != 1) bench_fail(PROG, "the partner did not start");

    run_once(&ctx, &turns, rounds / 10 ? rounds / 10 : 1);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double ns = run_once(&ctx, &turns, rounds);
        printf("# run %d: %.3f ns per switch\n", r + 1, ns);
        if (r == 0 || ns < best) best = ns;
    }
    bench_result("switch_boost", best, "ns");
    return 0; /* the partner stays suspended forever; its stack goes with the process */
}
