/* bench_stream.c - the one-way stream of small writes (issue 18): one task writes COUNT messages of BYTES bytes to
 * a loopback TCP connection with corio_write while another task of the same loop reads them, and a third task only
 * yields. Prints `RESULT stream_writes_BACKEND <per second> writes/s` (BACKEND: $CORIO_BACKEND, or "default") and
 * how often the yielder ran per write (a write that waits a loop turn for its completion lets it run once per
 * write). bench/run.sh runs it with CORIO_BACKEND=epoll and =uring and prints their ratio.
 *   usage: bench_stream [COUNT [BYTES]]   (defaults 200000 64) */
#include <stdbool.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_stream"

static uint64_t count, bytes, yields;
static bool done;

static int writer(void *arg) {
    int fd = *(int *)arg;
    char msg[4096];
    memset(msg, 'x', sizeof msg);
    for (uint64_t i = 0; i < count; i++) {
        ssize_t n = corio_write(fd, msg, bytes);
        if (n != (ssize_t)bytes) return n < 0 ? (int)n : -EIO;
    }
    return corio_shutdown(fd, SHUT_WR);
}

static int reader(void *arg) {
    int fd = *(int *)arg;
    static char buf[65536]; /* not on the 64 KiB stack */
    uint64_t got = 0;
    for (;;) {
        ssize_t n = corio_read(fd, buf, sizeof buf);
        if (n < 0) return (int)n;
        if (n == 0) break;
        got += (uint64_t)n;
    }
    done = true;
    return got == count * bytes ? 0 : -EIO;
}

static int yielder(void *arg) {
    (void)arg;
    while (!done)
        if (corio_yield() == 0) yields++;
    return 0;
}

static int main_task(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 16);
    if (lfd < 0) bench_fail(PROG, "listen: %s", corio_strerror(lfd));
    int wfd = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    if (wfd < 0) bench_fail(PROG, "connect: %s", corio_strerror(wfd));
    int rfd = corio_accept(lfd, NULL, NULL);
    if (rfd < 0) bench_fail(PROG, "accept: %s", corio_strerror(rfd));
    int64_t t0 = bench_now_ns();
    /* the accepted end writes, as a server's connection does (corio knows it for a stream socket from the accept) */
    corio_task *t[3] = {corio_spawn(reader, &wfd), corio_spawn(writer, &rfd), corio_spawn(yielder, NULL)};
    int st[3];
    if (!t[0] || !t[1] || !t[2]) bench_fail(PROG, "spawn");
    corio_gather(t, 3, st);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    if (st[0] < 0 || st[1] < 0) bench_fail(PROG, "reader %s, writer %s", corio_err_name(st[0]), corio_err_name(st[1]));
    const char *be = getenv("CORIO_BACKEND");
    printf("RESULT stream_writes_%s %.0f writes/s\n", be && *be ? be : "default", (double)count / s);
    printf("yielder ran %.2f times per write\n", (double)yields / (double)count);
    corio_close(lfd);
    corio_close(wfd);
    corio_close(rfd);
    return 0;
}

int main(int argc, char **argv) {
    count = bench_arg_count(PROG, argc, argv, 1, 200000);
    bytes = bench_arg_count(PROG, argc, argv, 2, 64);
    if (bytes > 4096) bench_fail(PROG, "BYTES above 4096");
    return corio_run(main_task, NULL) == 0 ? 0 : 1;
}
