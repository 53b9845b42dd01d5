/* fault.c - the fault-injection shim (see fault.h): definitions of malloc & co. and mmap in the test executable
 * that forward to glibc's (__libc_malloc..., the mmap system call), fail the chosen call while armed, and keep a
 * table of what was allocated while armed so that a leak shows as an entry left at the end.
 *
 * Why only calls from the executable count: the library is linked statically into it, so "the caller's return
 * address lies in the executable's text" means "corio (or the test) allocated", whereas glibc's own allocations
 * (stdio buffers, getaddrinfo's caches, thread stacks) are glibc's business and partly kept for the process's
 * life, which would read as leaks. Pool threads allocate too, so everything shared is atomic or under a spinlock.
 * Works only without ASan, TSan and valgrind: each of them replaces malloc itself (mk/fault.mk leaves the test
 * out of those builds). */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"

/* glibc's allocator under its own names: what a replacement malloc forwards to */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);
/* set by the linker: the executable's first byte and the end of its code */
extern const char __executable_start[], etext[];

static _Atomic int armed_kind = -1;
static _Thread_local int exempt; /* inside getaddrinfo: see there */
static _Atomic long ncalls, target, ninjected;

/* ---- the live table: open addressing, linear probing, tombstones (a run makes a few thousand allocations) --- */

#define TABLE_SIZE 65536
enum { SLOT_EMPTY, SLOT_USED, SLOT_GONE };
static struct {
    const void *p;
    const void *site;
    size_t size;
    unsigned char state;
} table[TABLE_SIZE];
static atomic_flag table_lock = ATOMIC_FLAG_INIT;
static long nlive;
static bool overflowed;
static bool tracking; /* between fault_arm and the end: frees keep being followed after fault_disarm */

static void lock(void) {
    while (atomic_flag_test_and_set_explicit(&table_lock, memory_order_acquire)) {
    }
}
static void unlock(void) { atomic_flag_clear_explicit(&table_lock, memory_order_release); }

static size_t slot_of(const void *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15U) % TABLE_SIZE; }

static void track_add(const void *p, size_t size, const void *site) {
    lock();
    size_t i = slot_of(p);
    for (size_t probes = 0; probes < TABLE_SIZE; probes++, i = (i + 1) % TABLE_SIZE) {
        if (table[i].state != SLOT_USED) {
            table[i].p = p;
            table[i].site = site;
            table[i].size = size;
            table[i].state = SLOT_USED;
            nlive++;
            unlock();
            return;
        }
    }
    overflowed = true;
    unlock();
}

static void track_remove(const void *p) {
    lock();
    if (tracking && nlive > 0) {
        size_t i = slot_of(p);
        for (size_t probes = 0; probes < TABLE_SIZE && table[i].state != SLOT_EMPTY;
             probes++, i = (i + 1) % TABLE_SIZE) {
            if (table[i].state == SLOT_USED && table[i].p == p) {
                table[i].state = SLOT_GONE;
                nlive--;
                break;
            }
        }
    }
    unlock();
}

static bool from_executable(const void *site) {
    const char *s = site;
    return s >= __executable_start && s < etext;
}

/* Counts the call if it is of the armed kind and comes from the executable; true if it is the one to fail. */
static bool inject(int kind, const void *site) {
    int armed = atomic_load_explicit(&armed_kind, memory_order_relaxed);
    if (!(armed == kind && from_executable(site)) && !(armed == FAULT_ALLOC_ALL && kind == FAULT_ALLOC && !exempt))
        return false;
    long n = atomic_fetch_add(&ncalls, 1) + 1;
    if (n != atomic_load(&target)) return false;
    atomic_fetch_add(&ninjected, 1);
    return true;
}

static bool tracked_site(const void *site) {
    return atomic_load_explicit(&armed_kind, memory_order_relaxed) >= 0 && from_executable(site);
}

/* ---- the control interface ---------------------------------------------------------------------------------- */

void fault_arm(int kind, long n) {
    lock();
    memset(table, 0, sizeof table);
    nlive = 0;
    overflowed = false;
    tracking = true;
    unlock();
    atomic_store(&ncalls, 0);
    atomic_store(&ninjected, 0);
    atomic_store(&target, n);
    atomic_store(&armed_kind, kind);
}

void fault_disarm(void) { atomic_store(&armed_kind, -1); }

long fault_calls(void) { return atomic_load(&ncalls); }

long fault_injected(void) { return atomic_load(&ninjected); }

long fault_live(void) {
    lock();
    long n = overflowed ? -1 : nlive;
    unlock();
    return n;
}

void fault_live_dump(FILE *f) {
    /* copied out first: fprintf allocates (from libc, so untracked, but it must not run under the spinlock) */
    static struct {
        const void *p, *site;
        size_t size;
    } copy[64];
    int n = 0;
    lock();
    for (size_t i = 0; i < TABLE_SIZE && n < 64; i++)
        if (table[i].state == SLOT_USED) {
            copy[n].p = table[i].p;
            copy[n].site = table[i].site;
            copy[n].size = table[i].size;
            n++;
        }
    unlock();
    for (int i = 0; i < n; i++)
        (void)fprintf(f, "  live: %p, %zu bytes, from exe+0x%lx\n", copy[i].p, copy[i].size,
                      (unsigned long)((const char *)copy[i].site - __executable_start));
}

/* ---- the replacements ------------------------------------------------------------------------------------- */

static void *do_malloc(size_t size, const void *site) {
    if (inject(FAULT_ALLOC, site)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_malloc(size);
    if (p && tracked_site(site)) track_add(p, size, site);
    return p;
}

void *malloc(size_t size) { return do_malloc(size, __builtin_return_address(0)); }

void *calloc(size_t n, size_t size) {
    const void *site = __builtin_return_address(0);
    if (inject(FAULT_ALLOC, site)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_calloc(n, size);
    if (p && tracked_site(site)) track_add(p, n * size, site);
    return p;
}

void *realloc(void *old, size_t size) {
    const void *site = __builtin_return_address(0);
    if (inject(FAULT_ALLOC, site)) {
        errno = ENOMEM;
        return NULL; /* old stays valid, as after a real failure */
    }
    void *p = __libc_realloc(old, size);
    if (old && (p || size == 0)) track_remove(old);
    if (p && tracked_site(site)) track_add(p, size, site);
    return p;
}

void free(void *p) {
    if (!p) return;
    track_remove(p);
    __libc_free(p);
}

static void *do_memalign(size_t align, size_t size, const void *site) {
    if (inject(FAULT_ALLOC, site)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_memalign(align, size);
    if (p && tracked_site(site)) track_add(p, size, site);
    return p;
}

void *memalign(size_t align, size_t size) { return do_memalign(align, size, __builtin_return_address(0)); }

void *aligned_alloc(size_t align, size_t size) { return do_memalign(align, size, __builtin_return_address(0)); }

int posix_memalign(void **out, size_t align, size_t size) {
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
    void *p = do_memalign(align, size, __builtin_return_address(0));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

char *strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = do_malloc(n, __builtin_return_address(0));
    return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max) {
    size_t n = strnlen(s, max);
    char *p = do_malloc(n + 1, __builtin_return_address(0));
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    const void *site = __builtin_return_address(0);
    if (inject(FAULT_MMAP, site)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    void *p = r == -1 ? MAP_FAILED : (void *)r;
    if (p != MAP_FAILED && tracked_site(site)) track_add(p, len, site);
    return p;
}

int munmap(void *addr, size_t len) {
    track_remove(addr); /* corio unmaps whole slabs: partial unmaps are not followed */
    return (int)syscall(SYS_munmap, addr, len);
}

/* glibc 2.36's NSS code does not survive a failed allocation inside getaddrinfo: a NULL dereference
 * (nss_database.c:402, nss_database_check_reload_and_get) or an assertion (nss_database.c:291, `ret > 0`), both
 * glibc bugs, not corio's. So FAULT_ALLOC_ALL injects nothing while this thread is inside getaddrinfo. */
int getaddrinfo(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    if (!real) return EAI_SYSTEM;
    exempt++;
    int rc = real(host, service, hints, res);
    exempt--;
    return rc;
}
