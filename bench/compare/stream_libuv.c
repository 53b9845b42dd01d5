/* stream_libuv.c - libuv's side of bench_stream's shapes in bench/compare.sh: the same one-way writes over loopback
 * TCP on one libuv loop, written the way a libuv user would: a uv_write of each message (requests from a free
 * list, not a malloc each), producing while the stream's write queue holds less than HIGH_WATER bytes and resuming
 * from the write callbacks, as Node's writable streams do with their highWaterMark; a uv_read_start reader per
 * connection into a buffer of its own. Both ends TCP_NODELAY, as corio's sockets are. With --try the writes are
 * those of a user tuning for speed, as bench/baseline/echo_libuv.c: uv_try_write first (no request, no callback),
 * a queued uv_write only for what the socket did not take, which is what corio_write does.
 *   usage: stream_libuv [--try] [COUNT [BYTES]]                COUNT messages of BYTES to one connection (200000 64)
 *          stream_libuv [--try] --broadcast [COUNT [CONNS]]    each of COUNT 64-byte messages to CONNS connections (1000 1000)
 *          stream_libuv [--try] --bulk [MIB [BYTES]]           MIB MiB in writes of BYTES (1024 65536)
 * Prints `RESULT stream_writes_libuv <writes/s>`, `RESULT broadcast_writes_libuv <writes/s>` or
 * `RESULT bulk_libuv <MiB/s>` (libuv-try with --try), the names bench_stream prints with its backend's. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#define HIGH_WATER 16384 /* Node's default highWaterMark */
#define READ_BIG 65536   /* bench_stream's buffer sizes */
#define READ_SMALL 4096

enum shape { STREAM, BROADCAST, BULK };

struct reader {
    uv_tcp_t tcp; /* first: the handle's address is the reader's */
    uint64_t got;
    size_t size;
    char *buf;
};

/* A write request and the link that keeps it on the free list while unused. */
struct wreq {
    uv_write_t req;
    struct wreq *next;
};

static enum shape shape;
static uint64_t count, bytes, conns;
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_tcp_t *writers;   /* the accepted ends, which write */
static struct reader *rds;  /* the connected ends, which read */
static uint64_t accepted, connected, readers_done, writes_done;
static uint64_t next_msg, next_conn; /* the producer's place: message, and connection within it */
static bool producing, blocked;
static bool try_first; /* --try: uv_try_write first, a queued uv_write only for what the socket did not take */
static struct wreq *free_reqs;
static char *msg;
static uv_buf_t msg_buf;
static int64_t t0, t1;
static int failure;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(const char *what, int rc) {
    fprintf(stderr, "stream_libuv: FAILED: %s: %s\n", what, uv_strerror(rc));
    exit(1);
}

static struct wreq *get_req(void) {
    struct wreq *w = free_reqs;
    if (w != NULL) {
        free_reqs = w->next;
        return w;
    }
    if ((w = malloc(sizeof *w)) == NULL) fail("malloc", UV_ENOMEM);
    return w;
}

static void produce(void);

static void on_shutdown(uv_shutdown_t *req, int status) {
    if (status < 0) fail("shutdown", status);
    free(req);
}

static void on_write(uv_write_t *req, int status) {
    if (status < 0) fail("write", status);
    struct wreq *w = (struct wreq *)req;
    w->next = free_reqs;
    free_reqs = w;
    writes_done++;
    /* resume once the stream the producer stopped at has drained below the mark */
    if (blocked && (uv_stream_t *)&writers[next_conn] == req->handle &&
        uv_stream_get_write_queue_size(req->handle) < HIGH_WATER)
        produce();
}

/* Writes each message to each connection in turn, until a stream's queue reaches the mark; then the write
 * callbacks call it again. At the end every writer is shut down (after its queued writes, as uv_shutdown waits). */
static void produce(void) {
    if (producing) return; /* a callback from within uv_write cannot happen, but keep it obviously safe */
    producing = true;
    blocked = false;
    uint64_t n = shape == BROADCAST ? conns : 1;
    while (next_msg < count) {
        uv_stream_t *s = (uv_stream_t *)&writers[next_conn];
        if (uv_stream_get_write_queue_size(s) >= HIGH_WATER) {
            blocked = true;
            break;
        }
        uv_buf_t rest = msg_buf;
        if (try_first && uv_stream_get_write_queue_size(s) == 0) { /* nothing queued that must go first */
            int done = uv_try_write(s, &msg_buf, 1);
            if (done < 0 && done != UV_EAGAIN) fail("uv_try_write", done);
            if (done > 0) rest = uv_buf_init(msg + done, (unsigned)(bytes - (uint64_t)done));
            if (done == (int)bytes) rest.len = 0;
        }
        if (rest.len > 0) {
            int rc = uv_write(&get_req()->req, s, &rest, 1, on_write);
            if (rc < 0) fail("uv_write", rc);
        }
        if (++next_conn == n) {
            next_conn = 0;
            next_msg++;
        }
    }
    if (next_msg == count && !blocked) {
        next_msg++; /* past the end: shut down once */
        for (uint64_t c = 0; c < n; c++) {
            uv_shutdown_t *req = malloc(sizeof *req);
            if (req == NULL) fail("malloc", UV_ENOMEM);
            int rc = uv_shutdown(req, (uv_stream_t *)&writers[c], on_shutdown);
            if (rc < 0) fail("uv_shutdown", rc);
        }
    }
    producing = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    struct reader *r = (struct reader *)h;
    *buf = uv_buf_init(r->buf, (unsigned)r->size);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    struct reader *r = (struct reader *)s;
    if (nread > 0) {
        r->got += (uint64_t)nread;
        return;
    }
    if (nread == 0) return;
    if (nread != UV_EOF) fail("read", (int)nread);
    uv_read_stop(s);
    if (r->got != count * bytes) {
        fprintf(stderr, "stream_libuv: FAILED: a reader got %llu bytes of %llu\n", (unsigned long long)r->got,
                (unsigned long long)(count * bytes));
        failure = 1;
    }
    if (++readers_done == (shape == BROADCAST ? conns : 1)) {
        t1 = now_ns();
        uv_stop(loop);
    }
}

/* Every connection is up: the readers start, then the producer, as bench_stream spawns them. */
static void maybe_start(void) {
    uint64_t n = shape == BROADCAST ? conns : 1;
    if (accepted < n || connected < n) return;
    t0 = now_ns();
    for (uint64_t c = 0; c < n; c++) {
        int rc = uv_read_start((uv_stream_t *)&rds[c].tcp, on_alloc, on_read);
        if (rc < 0) fail("uv_read_start", rc);
    }
    produce();
}

static void on_connection(uv_stream_t *srv, int status) {
    if (status < 0) fail("listen", status);
    uv_tcp_t *c = &writers[accepted];
    (void)uv_tcp_init(loop, c);
    int rc = uv_accept(srv, (uv_stream_t *)c);
    if (rc < 0) fail("uv_accept", rc);
    (void)uv_tcp_nodelay(c, 1);
    accepted++;
    maybe_start();
}

static void on_connect(uv_connect_t *req, int status) {
    if (status < 0) fail("connect", status);
    (void)uv_tcp_nodelay((uv_tcp_t *)req->handle, 1);
    free(req);
    connected++;
    maybe_start();
}

static uint64_t arg(int argc, char **argv, int i, uint64_t def) {
    if (i >= argc) return def;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (errno || end == argv[i] || *end || v == 0 || argv[i][0] == '-') {
        fprintf(stderr, "stream_libuv: argument %d must be a positive integer, got \"%s\"\n", i, argv[i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--try") == 0) {
        try_first = true;
        argv++;
        argc--;
    }
    if (argc > 1 && strcmp(argv[1], "--broadcast") == 0) shape = BROADCAST;
    if (argc > 1 && strcmp(argv[1], "--bulk") == 0) shape = BULK;
    if (shape != STREAM) first = 2;
    if (shape == STREAM) {
        count = arg(argc, argv, first, 200000);
        bytes = arg(argc, argv, first + 1, 64);
    } else if (shape == BROADCAST) {
        count = arg(argc, argv, first, 1000);
        conns = arg(argc, argv, first + 1, 1000);
        bytes = 64;
    } else {
        uint64_t mib = arg(argc, argv, first, 1024);
        bytes = arg(argc, argv, first + 1, 65536);
        count = (mib * 1048576 + bytes - 1) / bytes;
    }
    if (bytes > 65536 || conns > 100000 || argc > first + 2) {
        fprintf(stderr, "usage: stream_libuv [--broadcast | --bulk] [COUNT [BYTES or CONNS]] (BYTES <= 65536)\n");
        return 2;
    }
    uint64_t n = shape == BROADCAST ? conns : 1;
    (void)signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    msg = malloc(bytes);
    writers = calloc(n, sizeof *writers);
    rds = calloc(n, sizeof *rds);
    if (!msg || !writers || !rds) fail("malloc", UV_ENOMEM);
    memset(msg, 'x', bytes);
    msg_buf = uv_buf_init(msg, (unsigned)bytes);
    loop = uv_default_loop();

    struct sockaddr_in addr;
    (void)uv_ip4_addr("127.0.0.1", 0, &addr);
    (void)uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc < 0) fail("listen", rc);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if ((rc = uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len)) < 0) fail("getsockname", rc);
    for (uint64_t c = 0; c < n; c++) {
        rds[c].size = shape == BROADCAST ? READ_SMALL : READ_BIG;
        if ((rds[c].buf = malloc(rds[c].size)) == NULL) fail("malloc", UV_ENOMEM);
        (void)uv_tcp_init(loop, &rds[c].tcp);
        uv_connect_t *req = malloc(sizeof *req);
        if (req == NULL) fail("malloc", UV_ENOMEM);
        if ((rc = uv_tcp_connect(req, &rds[c].tcp, (const struct sockaddr *)&ss, on_connect)) < 0) fail("connect", rc);
        /* as bench_stream, one connection at a time: the listener's backlog never fills */
        while (connected <= c || accepted <= c) uv_run(loop, UV_RUN_ONCE);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    if (t1 == 0 || failure) return 1;
    double s = (double)(t1 - t0) / 1e9;
    const char *name = try_first ? "libuv-try" : "libuv";
    if (shape == STREAM) {
        printf("RESULT stream_writes_%s %.0f writes/s\n", name, (double)count / s);
    } else if (shape == BROADCAST) {
        printf("# %llu messages to %llu connections: %.0f messages/s\n", (unsigned long long)count,
               (unsigned long long)conns, (double)count / s);
        printf("RESULT broadcast_writes_%s %.0f writes/s\n", name, (double)(count * conns) / s);
    } else {
        printf("# %llu writes of %llu bytes in %.3f s\n", (unsigned long long)count, (unsigned long long)bytes, s);
        printf("RESULT bulk_%s %.1f MiB/s\n", name, (double)(count * bytes) / 1048576 / s);
    }
    return 0;
}
