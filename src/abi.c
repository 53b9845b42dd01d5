/* abi.c - corio_version, and the layout promises of the public structs that binaries built against an older
 * header rely on (docs/abi.md): a struct a program allocates keeps its size, and a new field only ever takes
 * bytes from the zeroed `reserved` space at its end, so the assertions below fail the build before the ABI check
 * (tests/check_abi.sh) would. */
#include "internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

const char *corio_version(void) {
    return STR(CORIO_VERSION_MAJOR) "." STR(CORIO_VERSION_MINOR) "." STR(CORIO_VERSION_PATCH);
}
