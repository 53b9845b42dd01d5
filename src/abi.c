/* abi.c - corio_version, and the layout promises of the public structs that binaries built against an older
 * header rely on (docs/abi.md): a struct a program allocates keeps its size, and a new field only ever takes
 * bytes from the zeroed `reserved` space at its end (bytes, so no padding of unknown content lies between the
 * last field and it), so the assertions below fail the build before the ABI check (tests/check_abi.sh) would. */
#include <stddef.h>

#include "corio_curl.h"
#include "corio_tls.h"
#include "internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

const char *corio_version(void) {
    return STR(CORIO_VERSION_MAJOR) "." STR(CORIO_VERSION_MINOR) "." STR(CORIO_VERSION_PATCH);
}

/* The sizes are those of the LP64 targets corio is built for (x86-64, AArch64); elsewhere only the tail rule. */
#if UINTPTR_MAX == UINT64_MAX
#define SIZE(type, bytes) _Static_assert(sizeof(type) == (bytes), #type ": a new field takes its bytes from reserved")
#else
#define SIZE(type, bytes)
#endif
#define LAYOUT(type, bytes)                                                                                            \
    SIZE(type, bytes);                                                                                                 \
    _Static_assert(offsetof(type, reserved) + sizeof(((type *)NULL)->reserved) == sizeof(type),                        \
                   #type ": reserved is its last field, with no padding after it")

LAYOUT(corio_stats, 128);
LAYOUT(corio_task_opts, 64);
LAYOUT(corio_local, 32);
LAYOUT(corio_scope, 64);
LAYOUT(corio_group_error, 64);
LAYOUT(corio_queue_opts, 64);
LAYOUT(corio_sel, 64);
LAYOUT(corio_server_opts, 64);
LAYOUT(corio_work_opts, 64);
LAYOUT(corio_process_opts, 64);
LAYOUT(corio_http_req, 128);
LAYOUT(corio_http_resp, 328);
LAYOUT(corio_tls_opts, 64);
