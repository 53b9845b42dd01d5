/* hello.c - an out-of-tree program built against an installed corio (tests/install_test.sh builds it with
 * pkg-config, statically, and with CMake): a main task spawns a task that sleeps, awaits it, and prints the library's and the header's versions. */
#include <corio.h>
#include <stdio.h>

static int napper(void *arg) {
    int *slept = arg;
    int rc = corio_sleep(10);
    if (rc == 0) *slept = 1;
    return rc;
}

static int main_task(void *arg) {
    (void)arg;
    int slept = 0;
    corio_task *t = corio_spawn(napper, &slept);
    if (!t) return -1;
    int rc = corio_await(t);
    if (rc < 0 || !slept) return rc < 0 ? rc : -1;
    /* the library's version, then the header's: install_test.sh wants them equal */
    printf("hello from corio %s (header %d.%d.%d)\n", corio_version(), CORIO_VERSION_MAJOR, CORIO_VERSION_MINOR,
           CORIO_VERSION_PATCH);
    return 0;
}

int main(void) { return corio_run(main_task, NULL) == 0 ? 0 : 1; }
