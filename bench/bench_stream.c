/* bench_stream.c - one-way writes over loopback TCP (issue 18), in three shapes, each one loop on one thread:
 *   stream     one task writes COUNT messages of BYTES bytes to a connection with corio_write while another task
 *              reads them, and a third task only yields: `RESULT stream_writes_BACKEND <per second> writes/s`
 *              (BACKEND: $CORIO_BACKEND, or "default") and how often the yielder ran per write (a write that
 *              waits a loop turn for its completion lets it run once per write);
 *   broadcast  one task writes each of COUNT 64-byte messages to CONNS connections in turn, a reader task per
 *              connection: `RESULT broadcast_writes_BACKEND <writes per second>` (COUNT x CONNS writes);
 *   bulk       one task writes MIB MiB in writes of BYTES bytes, one task reads: `RESULT bulk_BACKEND <MiB/s>`.
 * The accepted end of each connection writes, as a server's connection does. bench/run.sh runs every shape with
 * CORIO_BACKEND=epoll and =uring and prints their ratios; bench/compare.sh sets them against libuv doing the same
 * (bench/compare/stream_libuv.c).
 *   usage: bench_stream [COUNT [BYTES]]                (defaults 200000 64; BYTES at most 65536)
 *          bench_stream --broadcast [COUNT [CONNS]]    (defaults 1000 1000)
 *          bench_stream --bulk [MIB [BYTES]]           (defaults 1024 65536) */
#include <stdbool.h>
#include <sys/resource.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_stream"
#define READ_BIG 65536  /* the stream and bulk reader's buffer */
#define READ_SMALL 4096 /* each broadcast reader's */

enum shape { STREAM, BROADCAST, BULK };

static enum shape shape;
static uint64_t count, bytes, conns, yields;
static bool done;
static char *msg; /* what every write sends */

static int writer(void *arg) {
    int fd = *(int *)arg;
    for (uint64_t i = 0; i < count; i++) {
        ssize_t n = corio_write(fd, msg, bytes);
        if (n != (ssize_t)bytes) return n < 0 ? (int)n : -EIO;
    }
    return corio_shutdown(fd, SHUT_WR);
}

/* Each message to every connection in turn: a connection whose socket is full holds the others back, as a chat
 * server's one broadcasting task would be. */
static int broadcaster(void *arg) {
    const int *fds = arg;
    for (uint64_t i = 0; i < count; i++)
        for (uint64_t c = 0; c < conns; c++) {
            ssize_t n = corio_write(fds[c], msg, bytes);
            if (n != (ssize_t)bytes) return n < 0 ? (int)n : -EIO;
        }
    for (uint64_t c = 0; c < conns; c++) {
        int rc = corio_shutdown(fds[c], SHUT_WR);
        if (rc < 0) return rc;
    }
    return 0;
}

struct reader {
    int fd;
    size_t size;
    char *buf;
};

static int reader(void *arg) {
    struct reader *r = arg;
    uint64_t got = 0;
    for (;;) {
        ssize_t n = corio_read(r->fd, r->buf, r->size);
        if (n < 0) return (int)n;
        if (n == 0) break;
        got += (uint64_t)n;
    }
    return got == count * bytes ? 0 : -EIO;
}

static int stream_reader(void *arg) {
    int rc = reader(arg);
    done = true;
    return rc;
}

static int yielder(void *arg) {
    (void)arg;
    while (!done)
        if (corio_yield() == 0) yields++;
    return 0;
}

static int main_task(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 128);
    if (lfd < 0) bench_fail(PROG, "listen: %s", corio_strerror(lfd));
    uint64_t n = shape == BROADCAST ? conns : 1;
    int *wfds = malloc(n * sizeof *wfds), *rfds = malloc(n * sizeof *rfds);
    struct reader *rs = calloc(n, sizeof *rs);
    corio_task **t = calloc(n + 2, sizeof *t);
    int *st = calloc(n + 2, sizeof *st);
    if (!wfds || !rfds || !rs || !t || !st) bench_fail(PROG, "out of memory");
    for (uint64_t c = 0; c < n; c++) {
        /* one at a time: the listener's backlog never fills */
        rfds[c] = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
        if (rfds[c] < 0) bench_fail(PROG, "connect: %s", corio_strerror(rfds[c]));
        wfds[c] = corio_accept(lfd, NULL, NULL);
        if (wfds[c] < 0) bench_fail(PROG, "accept: %s", corio_strerror(wfds[c]));
        rs[c].fd = rfds[c];
        rs[c].size = shape == BROADCAST ? READ_SMALL : READ_BIG;
        if ((rs[c].buf = malloc(rs[c].size)) == NULL) bench_fail(PROG, "out of memory");
    }
    uint64_t ntasks = 0;
    int64_t t0 = bench_now_ns();
    /* the readers first, so each is waiting when its first message comes, as a server's clients are */
    if (shape == BROADCAST) {
        for (uint64_t c = 0; c < n; c++) t[ntasks++] = corio_spawn(reader, &rs[c]);
        t[ntasks++] = corio_spawn(broadcaster, wfds);
    } else {
        t[ntasks++] = corio_spawn(stream_reader, &rs[0]);
        t[ntasks++] = corio_spawn(writer, &wfds[0]);
        if (shape == STREAM) t[ntasks++] = corio_spawn(yielder, NULL);
    }
    for (uint64_t i = 0; i < ntasks; i++)
        if (!t[i]) bench_fail(PROG, "spawn: %s", strerror(errno));
    corio_gather(t, ntasks, st);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    for (uint64_t i = 0; i < ntasks; i++)
        if (st[i] < 0) bench_fail(PROG, "task %llu: %s", (unsigned long long)i, corio_err_name(st[i]));
    const char *be = getenv("CORIO_BACKEND");
    be = be && *be ? be : "default";
    char name[64];
    if (shape == STREAM) {
        snprintf(name, sizeof name, "stream_writes_%s", be);
        printf("RESULT %s %.0f writes/s\n", name, (double)count / s);
        printf("yielder ran %.2f times per write\n", (double)yields / (double)count);
    } else if (shape == BROADCAST) {
        printf("# %llu messages to %llu connections: %.0f messages/s\n", (unsigned long long)count,
               (unsigned long long)conns, (double)count / s);
        snprintf(name, sizeof name, "broadcast_writes_%s", be);
        printf("RESULT %s %.0f writes/s\n", name, (double)(count * conns) / s);
    } else {
        printf("# %llu writes of %llu bytes in %.3f s\n", (unsigned long long)count, (unsigned long long)bytes, s);
        snprintf(name, sizeof name, "bulk_%s", be);
        printf("RESULT %s %.1f MiB/s\n", name, (double)(count * bytes) / 1048576 / s);
    }
    for (uint64_t c = 0; c < n; c++) {
        corio_close(wfds[c]);
        corio_close(rfds[c]);
        free(rs[c].buf);
    }
    corio_close(lfd);
    free(wfds);
    free(rfds);
    free(rs);
    free(t);
    free(st);
    return 0;
}

int main(int argc, char **argv) {
    if (bench_take_flag(&argc, argv, "--broadcast")) shape = BROADCAST;
    if (bench_take_flag(&argc, argv, "--bulk")) {
        if (shape == BROADCAST) bench_fail(PROG, "--broadcast or --bulk, not both");
        shape = BULK;
    }
    if (shape == STREAM) {
        count = bench_arg_count(PROG, argc, argv, 1, 200000);
        bytes = bench_arg_count(PROG, argc, argv, 2, 64);
    } else if (shape == BROADCAST) {
        count = bench_arg_count(PROG, argc, argv, 1, 1000);
        conns = bench_arg_count(PROG, argc, argv, 2, 1000);
        bytes = 64;
        if (conns > 100000) bench_fail(PROG, "CONNS above 100000");
    } else {
        uint64_t mib = bench_arg_count(PROG, argc, argv, 1, 1024);
        bytes = bench_arg_count(PROG, argc, argv, 2, 65536);
        if (mib > 1048576) bench_fail(PROG, "MIB above 1048576");
        count = (mib * 1048576 + bytes - 1) / bytes;
    }
    if (bytes > 65536) bench_fail(PROG, "BYTES above 65536");
    if ((msg = malloc(bytes)) == NULL) bench_fail(PROG, "out of memory");
    memset(msg, 'x', bytes);
    /* two descriptors a connection */
    struct rlimit rl;
    if (shape == BROADCAST && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    int rc = corio_run(main_task, NULL);
    free(msg);
    return rc == 0 ? 0 : 1;
}
