/* fault.h - the fault-injection shim of tests/test_fault.c: it replaces malloc & co. and mmap in the test
 * executable (the library is linked in statically, so corio's calls land here too), and while armed makes the
 * Nth call fail and keeps track of what is still allocated. Only calls made from the executable's own code
 * (corio and the test) are counted: libc's internal allocations (stdio, getaddrinfo, thread creation) pass
 * through untouched, so a walk tests corio's failure paths, not glibc's. */
#ifndef CORIO_TEST_FAULT_H
#define CORIO_TEST_FAULT_H

#include <stdio.h>

enum { FAULT_ALLOC, FAULT_MMAP, FAULT_ALLOC_ALL };

/* Starts counting calls of kind (FAULT_ALLOC: malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign,
 * strdup, strndup; FAULT_MMAP: mmap) from zero and makes the nth one fail (NULL or MAP_FAILED, errno ENOMEM);
 * n = 0 fails none; FAULT_ALLOC_ALL counts allocations from every caller, glibc's own included (the tracking still
 * follows the executable's only). Also forgets what the live-allocation tracking knew. */
void fault_arm(int kind, long n);
/* Stops injecting and counting (the live tracking keeps following frees). */
void fault_disarm(void);
/* Calls counted since fault_arm (of the armed kind). */
long fault_calls(void);
/* Failures injected since fault_arm (0 or 1). */
long fault_injected(void);
/* Allocations and mappings made since fault_arm that are still neither freed nor unmapped; -1 if the tracking
 * table overflowed (then nothing can be said). */
long fault_live(void);
/* Prints each live allocation's size and call site to f (for a leak report; addr2line turns sites to lines). */
void fault_live_dump(FILE *f);

#endif
