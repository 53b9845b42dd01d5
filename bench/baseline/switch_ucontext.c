/* switch_ucontext.c - the baseline for bench_switch with the portable switch: the same ping-pong between the main
 * context and one partner, COUNT one-way switches (default 10,000,000; run.sh passes fewer, since swapcontext
 * makes a system call per switch to save the signal mask), best of 3 runs after a warm-up:
 * `RESULT switch_ucontext <ns> ns`. Built and run by bench/run.sh, not by make.
 *   usage: switch_ucontext [COUNT] */
#include <sys/mman.h>
#include <ucontext.h>

#include "bench.h"

#define PROG "switch_ucontext"
#define STACK_SIZE (64 * 1024)

static ucontext_t main_uc, partner_uc;
static volatile uint64_t turns; /* the partner's turns; main checks it after every return */

static void partner(void) {
    for (;;) {
        turns++;
        swapcontext(&partner_uc, &main_uc);
    }
}

static double run_once(uint64_t rounds) {
    uint64_t start = turns;
    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < rounds; i++) {
        if (swapcontext(&main_uc, &partner_uc) != 0) bench_fail(PROG, "swapcontext: %s", strerror(errno));
        if (turns != start + i + 1) bench_fail(PROG, "the partner did not run on switch %llu", (unsigned long long)i);
    }
    int64_t t1 = bench_now_ns();
    return (double)(t1 - t0) / (double)(2 * rounds);
}

/* Kept out of main: getcontext returns twice, and the compiler (rightly, -Wclobbered) distrusts every local
 * that lives across it. */
__attribute__((noinline)) static void make_partner(void) {
    void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) bench_fail(PROG, "mmap: %s", strerror(errno));
    if (getcontext(&partner_uc) != 0) bench_fail(PROG, "getcontext: %s", strerror(errno));
    partner_uc.uc_stack.ss_sp = stack;
    partner_uc.uc_stack.ss_size = STACK_SIZE;
    partner_uc.uc_link = NULL;
    makecontext(&partner_uc, partner, 0);
}

int main(int argc, char **argv) {
    uint64_t count = bench_arg_count(PROG, argc, argv, 1, 10000000);
    uint64_t rounds = count / 2 ? count / 2 : 1;
    make_partner();

    run_once(rounds / 10 ? rounds / 10 : 1);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double ns = run_once(rounds);
        printf("# run %d: %.3f ns per switch\n", r + 1, ns);
        if (r == 0 || ns < best) best = ns;
    }
    bench_result("switch_ucontext", best, "ns");
    return 0;
}
