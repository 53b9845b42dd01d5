/* stack.c - task stacks: mmap'd in slabs, lazily committed, pooled per loop, a guard region below each one, and the
 * SIGSEGV handler that turns a guard hit into a message naming the task.
 *
 * Why 64 KiB of guard, not one page: a frame larger than the guard can skip it and land in the stack below. Code
 * built with -fstack-clash-protection touches its frame a probe interval at a time, and gcc's interval on AArch64
 * is 64 KiB (4 KiB on x86-64), so one page would not stop it there; code built without probes (Debian 12's gcc
 * and its packages' build flags add none) is caught up to 64 KiB past its stack instead of 4. The other 60 KiB
 * cost address space and page tables, never memory a task can touch, and an mprotect'd guard of 16 pages is still
 * one mapping (docs/design.md, "Stacks").
 *
 * Why two kinds of guard: a guard made with mprotect splits a mapping, and Linux caps a process at
 * vm.max_map_count mappings (65530 by default), so one mprotect'd guard per task would stop near 32,000 tasks.
 * Linux 6.13 added guard markers (MADV_GUARD_INSTALL): page-table entries that fault like PROT_NONE without a
 * mapping of their own, so every stack gets one, installed 64 to a process_madvise call (4 for a slab). On older
 * kernels (and under valgrind, which does not know them) we fall back to mprotect: guard pages for the first stacks,
 * up to a quarter of the map budget (~15,000 stacks, leaving the rest to the program), and later stacks from
 * unguarded slabs of 256 (one mapping each). Those are checked more weakly: the scheduler checks the stack pointer
 * of every task it switches away from (see sched.c).
 * Pages are touched only when a task uses them, so an idle task costs the pages its frames reached; the top page of
 * a fresh stack, which every task touches, is committed ahead by the kernel, 16 stacks per system call. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#if defined(CORIO_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORIO_VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif
#define PIDFD_SELF_THREAD (-10000) /* Linux 6.14: process_madvise on ourselves without opening a pidfd */
#define GUARDED_PER_SLAB 64
#define UNGUARDED_PER_SLAB 256
#define GUARD_BYTES ((size_t)64 << 10) /* below each guarded stack (at least a page): see the top comment */
#define SLAB_BYTES ((size_t)4 << 20)   /* 64 default stacks (without their guards); unguarded slabs are 4x that */
#define MAX_DEPTH ((size_t)1 << 30)    /* how far below its stack a runaway task may be found */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack the name */
#endif
#define HOT_MAX 64 /* freed stacks kept resident for reuse: covers bench_spawn's churn without page faults */

struct corio__slab {
    char *base;
    size_t bytes;
    struct corio__slab *next;
    size_t count;
    bool guarded;
    bool budgeted; /* its guards are mprotect'd and counted in guard_budget */
    corio__stack stacks[];
};

static _Atomic size_t page_size;      /* read by every loop's thread: atomic, though they all store the same value */
static atomic_long guard_budget = -1; /* guarded stacks the process may still map; -1 until computed */

enum { GUARD_UNKNOWN, GUARD_MARKERS, GUARD_MPROTECT };
static atomic_int guard_how;     /* how slabs get their guard pages, decided by the first one */
static atomic_bool batch_off;    /* process_madvise on ourselves is refused: one madvise per range instead */
static atomic_bool populate_off; /* the kernel predates MADV_POPULATE_WRITE */

size_t corio__page_size(void) {
    size_t pg = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (!pg) atomic_store_explicit(&page_size, pg = (size_t)sysconf(_SC_PAGESIZE), memory_order_relaxed);
    return pg;
}

/* whole pages, so a 64 KiB-page kernel gets one */
static size_t guard_bytes(void) {
    size_t pg = corio__page_size();
    return (GUARD_BYTES + pg - 1) / pg * pg;
}

static long compute_guard_budget(void) {
    /* a knob for tests: how many guarded stacks before the rest come unguarded */
    const char *forced = getenv("CORIO_GUARD_STACKS");
    if (forced && *forced) return strtol(forced, NULL, 10) > 0 ? strtol(forced, NULL, 10) : 0;
    long max_maps = 65530;
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[32];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = 0;
            long v = strtol(buf, NULL, 10);
            if (v > 0) max_maps = v;
        }
        close(fd);
    }
    /* a guarded stack costs two mappings (stack + guard); keep half the budget for everything else */
    long budget = (max_maps - 4096) / 4;
    return budget > 0 ? budget : 0;
}

/* Takes up to want guarded stacks from the process-wide budget; returns how many it got. */
static size_t take_guard_budget(size_t want) {
    long cur = atomic_load(&guard_budget);
    if (cur < 0) {
        long expected = -1;
        atomic_compare_exchange_strong(&guard_budget, &expected, compute_guard_budget());
        cur = atomic_load(&guard_budget);
    }
    while (cur > 0) {
        long got = cur < (long)want ? cur : (long)want;
        if (atomic_compare_exchange_weak(&guard_budget, &cur, cur - got)) return (size_t)got;
    }
    return 0;
}

static void give_back_guard_budget(size_t n) { atomic_fetch_add(&guard_budget, (long)n); }

/* Gives the same advice for n ranges: one process_madvise where the kernel takes it on ourselves (6.14), else one
 * madvise per range. Returns 0 or the first failure's -errno. errno is left as it was. */
static int advise_ranges(struct iovec *iov, size_t n, int advice) {
    int saved = errno, rc = 0;
    size_t total = 0, i = 0;
    for (size_t k = 0; k < n; k++) total += iov[k].iov_len;
    if (!atomic_load_explicit(&batch_off, memory_order_relaxed)) {
        long done = syscall(SYS_process_madvise, PIDFD_SELF_THREAD, iov, n, advice, 0U);
        if (done >= 0 && (size_t)done == total) goto out;
        /* anything short of all of it: every range is redone one by one (each of these advices is idempotent) */
        if (done < 0 && (errno == ENOSYS || errno == EBADF || errno == EINVAL || errno == EPERM))
            atomic_store_explicit(&batch_off, true, memory_order_relaxed);
    }
    for (; i < n; i++) {
        if (madvise(iov[i].iov_base, iov[i].iov_len, advice) != 0) {
            rc = -errno;
            break;
        }
    }
out:
    errno = saved;
    return rc;
}

/* Whether guard markers work here: one is installed and the kernel must then refuse to read through it. The read
 * is the proof because an emulator (qemu-user) may accept the advice and ignore it. */
static bool markers_work(void) {
    size_t pg = corio__page_size();
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    // cppcheck-suppress invalidFunctionArg
    char *probe = mmap(NULL, pg, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (probe == MAP_FAILED) return false;
    int saved = errno;
    struct iovec guard = {probe, pg};
    char byte;
    struct iovec local = {&byte, 1}, remote = {probe, 1};
    bool ok = advise_ranges(&guard, 1, MADV_GUARD_INSTALL) == 0 &&
              syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) < 0 && errno == EFAULT;
    munmap(probe, pg);
    errno = saved;
    return ok;
}

bool corio__valgrind(void) {
#ifdef CORIO_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

static int guard_how_get(void) {
    int how = atomic_load_explicit(&guard_how, memory_order_acquire);
    if (how != GUARD_UNKNOWN) return how;
    const char *forced = getenv("CORIO_GUARD_STACKS"); /* the tests' knob asks for the budgeted kind */
    if (corio__valgrind()) {
        /* valgrind knows no process_madvise, and would let its own accesses through a marker and crash */
        atomic_store_explicit(&batch_off, true, memory_order_relaxed);
        how = GUARD_MPROTECT;
    } else {
        how = (forced && *forced) || !markers_work() ? GUARD_MPROTECT : GUARD_MARKERS;
    }
    atomic_store_explicit(&guard_how, how, memory_order_release);
    return how;
}

/* Puts guard markers below each of the slab's stacks; returns 0 or -errno. */
static int install_markers(struct corio__slab *slab, size_t stride) {
    size_t guard = guard_bytes();
    struct iovec batch[64]; /* 1 KiB of the calling task's stack: a slab takes 4 calls at most */
    size_t n = 0;
    for (size_t i = 0; i < slab->count; i++) {
        batch[n++] = (struct iovec){slab->base + i * stride, guard};
        if (n < 64 && i + 1 < slab->count) continue;
        int rc = advise_ranges(batch, n, MADV_GUARD_INSTALL);
        if (rc < 0) return rc;
        n = 0;
    }
    return 0;
}

void corio__pool_init(corio__pool *p, size_t size) {
    memset(p, 0, sizeof *p);
    p->size = size;
}

static int new_slab(corio__pool *p) {
    size_t guard = guard_bytes();
    /* a slab holds 64 (or 256) default stacks; big stacks come fewer to a slab, down to one */
    size_t per = SLAB_BYTES / p->size;
    size_t many = per * 4 < 1 ? 1 : per * 4 > UNGUARDED_PER_SLAB ? UNGUARDED_PER_SLAB : per * 4;
    bool markers = guard_how_get() == GUARD_MARKERS;
    size_t count = markers ? many : take_guard_budget(per < 1 ? 1 : per > GUARDED_PER_SLAB ? GUARDED_PER_SLAB : per);
    bool budgeted = !markers && count > 0;
    bool guarded = markers || budgeted;
    if (!guarded) count = many;
    size_t stride = p->size + (guarded ? guard : 0);
    size_t bytes = stride * count;

    struct corio__slab *slab = malloc(sizeof *slab + count * sizeof(corio__stack));
    if (!slab) goto fail_budget;
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK;
    /* fd -1 is what MAP_ANONYMOUS asks for; cppcheck 2.10's POSIX model wants fd >= 0 whatever the flags */
    // cppcheck-suppress invalidFunctionArg
    char *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED) goto fail_slab;
    /* a huge page would commit 2 MiB where a task touches 4 KiB */
    (void)madvise(base, bytes, MADV_NOHUGEPAGE);
    slab->base = base;
    slab->bytes = bytes;
    slab->count = count;
    slab->guarded = guarded;
    slab->budgeted = budgeted;
    if (markers && install_markers(slab, stride) < 0) goto fail_map;
    for (size_t i = 0; budgeted && i < count; i++)
        if (mprotect(base + i * stride, guard, PROT_NONE) != 0) goto fail_map;
    slab->next = p->slabs;
    p->slabs = slab;
    /* pushed in reverse so the lowest stack comes out first: neighbouring tasks get neighbouring stacks */
    for (size_t i = count; i-- > 0;) {
        corio__stack *s = &slab->stacks[i];
        s->lo = base + i * stride + (guarded ? guard : 0);
        s->pool = p;
        s->guarded = guarded;
        s->hot = false;
#ifdef CORIO_VALGRIND
        s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + p->size);
#else
        s->vg_id = 0;
#endif
        s->next = p->cold;
        p->cold = s;
        p->ncold++;
    }
    if (guarded) p->guarded += count;
    return 0;

fail_map:
    munmap(base, bytes);
fail_slab:
    free(slab);
fail_budget:
    if (budgeted) give_back_guard_budget(count);
    return -ENOMEM;
}

/* Commits the top page of s, which its task's first frames are about to touch, and of the next cold stacks (16
 * in all, in one system call where the kernel batches advice, else s alone). A first touch traps; on this VM the
 * trap costs ~6 us more than the kernel filling the same page (docs/design.md, "Stacks"). One page a stack,
 * because most tasks never reach the second. Kernels before 5.14 refuse the advice: then we stop asking and the
 * first touch commits the page as before; any other failure (ENOMEM) is left to that first touch too. */
static void populate_tops(const corio__pool *p, corio__stack *s) {
    if (atomic_load_explicit(&populate_off, memory_order_relaxed)) return;
    size_t pg = corio__page_size();
    struct iovec tops[16];
    size_t want = atomic_load_explicit(&batch_off, memory_order_relaxed) ? 1 : 16, n = 0;
    for (corio__stack *c = s; c && n < want; c = c->next) {
        if (c->hot) continue;
        tops[n++] = (struct iovec){c->lo + p->size - pg, pg};
        c->hot = true;
    }
    if (n && advise_ranges(tops, n, MADV_POPULATE_WRITE) == -EINVAL)
        atomic_store_explicit(&populate_off, true, memory_order_relaxed);
}

corio__stack *corio__stack_get_slow(corio__pool *p) {
    corio__stack *s = p->hot;
    if (s) {
        p->hot = s->next;
        p->nhot--;
    } else {
        if (!p->cold && (new_slab(p) < 0 || !p->cold)) {
            errno = ENOMEM;
            return NULL;
        }
        s = p->cold;
        p->cold = s->next;
        p->ncold--;
        if (!s->hot) populate_tops(p, s);
    }
    p->in_use++;
#if defined(CORIO_ASAN)
    /* the previous task's frames left redzone poison in the shadow memory */
    ASAN_UNPOISON_MEMORY_REGION(s->lo, p->size);
#endif
    return s;
}

size_t corio__pool_trim(corio__pool *p, size_t max_work) {
    size_t done = 0;
    while (p->nhot > HOT_MAX && done < max_work) {
        corio__stack *s = p->hot;
        p->hot = s->next;
        p->nhot--;
        (void)madvise(s->lo, p->size, MADV_DONTNEED);
        s->hot = false;
        s->next = p->cold;
        p->cold = s;
        p->ncold++;
        done++;
    }
    return done;
}

bool corio__pool_trimmable(const corio__pool *p) { return p->nhot > HOT_MAX; }

void corio__pool_destroy(corio__pool *p) {
    struct corio__slab *slab = p->slabs;
    while (slab) {
        struct corio__slab *next = slab->next;
#ifdef CORIO_VALGRIND
        for (size_t i = 0; i < slab->count; i++) VALGRIND_STACK_DEREGISTER(slab->stacks[i].vg_id);
#endif
        munmap(slab->base, slab->bytes);
        if (slab->budgeted) give_back_guard_budget(slab->count);
        free(slab);
        slab = next;
    }
    p->slabs = NULL;
    p->hot = p->cold = NULL;
    p->nhot = p->ncold = p->guarded = 0;
}

/* ---- overflow reports ------------------------------------------------------------------------------------ */

static char *put_str(char *p, const char *end, const char *s) {
    while (*s && p < end) *p++ = *s++;
    return p;
}

static char *put_uint(char *p, const char *end, size_t v) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof tmp);
    while (n && p < end) *p++ = tmp[--n];
    return p;
}

/* Async-signal-safe: formats by hand and write(2)s, since it runs in the SIGSEGV handler. */
void corio__stack_overflow(const corio_task *t, const char *how) {
    /* zeroed only for gcc -O0, which takes a const pointer into unset bytes for a read of them (-Werror) */
    char buf[256] = {0}, *p = buf, *end = buf + sizeof buf - 1;
    p = put_str(p, end, "corio: task \"");
    p = put_str(p, end, corio__task_label(t));
    p = put_str(p, end, "\" overflowed its ");
    p = put_uint(p, end, t->stack ? t->stack->pool->size / 1024 : 0);
    p = put_str(p, end, " KiB stack");
    p = put_str(p, end, how);
    p = put_str(p, end, "\n");
    ssize_t ignored = write(STDERR_FILENO, buf, (size_t)(p - buf));
    (void)ignored;
    (void)signal(SIGABRT, SIG_DFL); /* best effort: abort() ends the process either way */
    abort();
}

static struct sigaction old_segv, old_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static _Thread_local stack_t alt_old;
static _Thread_local void *alt_mem;

static void on_fault(int sig, siginfo_t *si, void *uctx) {
    corio__loop *l = corio__cur;
    corio_task *t = l ? l->current : NULL;
    if (t && t->stack) {
        char *addr = si->si_addr, *lo = t->stack->lo;
        char *sp;
#if defined(__x86_64__)
        sp = (char *)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
        sp = (char *)((ucontext_t *)uctx)->uc_mcontext.sp;
#else
        sp = addr; /* no portable way to read it: only the fault address counts */
#endif
        /* the guard region or (a large frame from code without probes) the 64 KiB below it; or, from a stack
         * without a guard, the task ran through its neighbours' stacks until it hit unmapped memory: its sp is
         * below its stack */
        if ((addr < lo && addr + (size_t)64 * 1024 + guard_bytes() >= lo) || (sp < lo && (size_t)(lo - sp) < MAX_DEPTH))
            corio__stack_overflow(t,
                                  t->stack->guarded ? "" : " (it has no guard page: neighbouring stacks are damaged)");
    }
    /* not ours: hand the fault to whoever handled it before us (by default, the core dump) */
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uctx);
    } else if (old->sa_handler != SIG_IGN && old->sa_handler != SIG_DFL) {
        old->sa_handler(sig);
    } else {
        sigaction(sig, old, NULL); /* return, and the faulting instruction faults again under the old action */
    }
}

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

void corio__stack_guard_install(void) {
    /* the handler needs a stack of its own: the faulting one is full */
    size_t sz = (size_t)64 * 1024;
    alt_mem = malloc(sz);
    if (alt_mem) {
        stack_t ss = {.ss_sp = alt_mem, .ss_size = sz, .ss_flags = 0};
        if (sigaltstack(&ss, &alt_old) != 0) {
            free(alt_mem);
            alt_mem = NULL;
        }
    }
    pthread_once(&handler_once, install_handler);
}

void corio__stack_guard_uninstall(void) {
    if (!alt_mem) return;
    stack_t cur;
    /* put back whatever alternate stack the thread had, or none */
    if (alt_old.ss_sp == NULL || (alt_old.ss_flags & SS_DISABLE)) {
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        sigaltstack(&off, &cur);
    } else {
        sigaltstack(&alt_old, &cur);
    }
    free(alt_mem);
    alt_mem = NULL;
}
