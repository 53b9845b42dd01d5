/* test_install.c - runs tests/install_test.sh (make install / uninstall into a temporary prefix, out-of-tree
 * builds with pkg-config and CMake) on this test binary's own build directory, as one case of `make test`.
 * Skipped, with the reason printed, where an installed library could not be used as built: sanitizer builds
 * (a consumer would need the sanitizer runtime), under valgrind or an emulator, and when pkg-config, cmake or
 * readelf is missing. */
#include <limits.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static bool have_tool(const char *name) {
    char cmd[128];
    (void)snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Why this configuration cannot run the install test, or NULL. */
static const char *skip_reason(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return "sanitizer build (programs linking the installed library would need the sanitizer runtime)";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return "sanitizer build (programs linking the installed library would need the sanitizer runtime)";
#endif
#endif
    const char *runner = getenv("RUNNER"), *preload = getenv("LD_PRELOAD");
    if ((runner && strstr(runner, "valgrind")) || (preload && strstr(preload, "vgpreload")))
        return "under valgrind (the install test runs make, cc and cmake, not library code)";
    if ((runner && strstr(runner, "qemu")) || getenv("CORIO_TEST_EXEC_WRAPPER"))
        return "cross build under an emulator (the host compiler cannot link it)";
    if (access("tests/install_test.sh", R_OK) != 0) return "not run from the repository root";
    const char *tools[] = {"make", "pkg-config", "cmake", "readelf"};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (!have_tool(tools[i])) return "a tool is missing (install make, pkg-config, cmake, binutils)";
    return NULL;
}

/* The build directory: $BUILD as `make test` sets it, else the one this binary lies in (BUILD/tests/x). */
static void build_dir(char *out, size_t size) {
    const char *b = getenv("BUILD");
    if (b && *b) {
        (void)snprintf(out, size, "%s", b);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ASSERT_TRUE(n > 0);
    exe[n] = 0;
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(exe, '/');
        ASSERT_NOT_NULL(slash);
        *slash = 0;
    }
    (void)snprintf(out, size, "%s", exe);
}

TEST_TIMEOUT(install_pkgconfig_cmake_uninstall, 600) {
    const char *why = skip_reason();
    if (why) test_skip(why);
    char build[PATH_MAX], cmd[PATH_MAX + 64];
    build_dir(build, sizeof build);
    (void)snprintf(cmd, sizeof cmd, "sh tests/install_test.sh '%s' 2>&1", build);
    (void)fflush(stdout);
    int st = system(cmd);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}
