/* big_frame.c - an out-of-tree program whose task has a frame larger than its stack plus the guard below it
 * (tests/install_test.sh builds it with pkg-config and with CMake). With the flags corio hands its users
 * (-fstack-clash-protection), the frame's probes hit the guard and corio aborts naming the task; without them the
 * frame's first bytes land in the neighbour's stack, nothing faults, and the program says so and exits 0. */
#include <corio.h>
#include <stdio.h>

#define KIB 1024

static int neighbour(void *arg) {
    (void)arg;
    return corio_sleep(1000);
}

/* 1 MiB on a 640 KiB stack: its lowest bytes are 384 KiB below the stack, in the middle of the neighbour's */
static __attribute__((noinline)) int frame_1m(void) {
    volatile char buf[1024 * KIB];
    for (int i = 0; i < 256; i++) buf[i] = 1;
    return buf[0] - 1;
}

static int big(void *arg) {
    (void)arg;
    return frame_1m();
}

static int main_task(void *arg) {
    (void)arg;
    corio_task_opts opts = {.name = "big-frame", .stack_size = 640 * KIB};
    corio_task *n = corio_spawn_opts(neighbour, NULL, &opts); /* first: the stack just below the big frame's */
    corio_task *t = corio_spawn_opts(big, NULL, &opts);
    if (!n || !t) return -1;
    int rc = corio_await(t);
    corio_cancel(n);
    (void)corio_await(n);
    printf("the frame ran past its stack unnoticed\n");
    return rc;
}

int main(void) { return corio_run(main_task, NULL) == 0 ? 0 : 1; }
