/* tasks_boost.cpp - the Boost.Context floor for bench/compare.sh's "N sleeping tasks" shape: N fcontexts, each on
 * its own 64 KiB stack from a pool carved out of large reserved mappings, entered once (so each touches the top
 * page of its stack, as a task does) and parked, all N at once; then each is resumed once to finish. There is no
 * timer and no scheduler: what a parked context costs in memory is its stack's touched page and its 8-byte handle.
 * Prints the wall time of the whole run, `RESULT tasks_wall_boost <s> s` (peak RSS is the wrapper's job).
 *   usage: tasks_boost N */
#include <boost/context/detail/fcontext.hpp>
#include <sys/mman.h>

#include <vector>

#include "bench.h"

#define PROG "tasks_boost"
#define STACK_SIZE (64 * 1024)
#define CHUNK 1024 /* stacks per mapping: 1M stacks in 1024 mappings, far under vm.max_map_count */

namespace fc = boost::context::detail;

static uint64_t finished;

/* Parks at once (the "sleep"), and ends when resumed. The handle passed back is the way home both times. */
static void body(fc::transfer_t t) {
    volatile char frame[64]; /* a little stack in use, as a task that has called a function or two */
    frame[0] = 1;
    t = fc::jump_fcontext(t.fctx, nullptr);
    finished += frame[0];
    fc::jump_fcontext(t.fctx, nullptr);
    bench_fail(PROG, "a finished context was resumed");
}

int main(int argc, char **argv) {
    uint64_t n = bench_arg_count(PROG, argc, argv, 1, 100000);
    std::vector<fc::fcontext_t> ctx(n);
    std::vector<char *> chunks;
    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (i % CHUNK == 0) {
            /* reserved, not committed: only the pages a context touches become resident */
            void *m = mmap(nullptr, (size_t)CHUNK * STACK_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) bench_fail(PROG, "mmap of stacks %llu..: %s", (unsigned long long)i, strerror(errno));
            chunks.push_back(static_cast<char *>(m));
        }
        char *top = chunks.back() + (i % CHUNK + 1) * (size_t)STACK_SIZE;
        ctx[i] = fc::jump_fcontext(fc::make_fcontext(top, STACK_SIZE, body), nullptr).fctx;
    }
    for (uint64_t i = 0; i < n; i++) fc::jump_fcontext(ctx[i], nullptr);
    int64_t t1 = bench_now_ns();
    if (finished != n)
        bench_fail(PROG, "%llu contexts finished, expected %llu", (unsigned long long)finished, (unsigned long long)n);
    printf("# %llu contexts parked at once, %.1f MiB of stack pages touched (VmHWM %.1f MiB)\n", (unsigned long long)n,
           (double)n * 4096 / 1048576.0, (double)bench_status_bytes("VmHWM") / 1048576.0);
    bench_result("tasks_wall_boost", (double)(t1 - t0) / 1e9, "s");
    for (char *c : chunks) munmap(c, (size_t)CHUNK * STACK_SIZE);
    return 0;
}
