/* bench_echo_load.c - a ping-pong load generator for echo servers, built on corio itself: one task per connection
 * writes MSG_BYTES, reads them back, checks every byte and repeats. After a warm-up it counts the round trips that
 * end within a SECONDS-long window and prints `RESULT echo_rps <n> rps` and the round-trip latency percentiles
 * `RESULT echo_p50 <us> us` and `RESULT echo_p99 <us> us`. It fails (exit 1) when fewer than CONNS connect, when
 * an echoed byte differs, or when the server closes or stalls a connection. bench/io.sh runs it against corio's
 * examples/echo_server and the libuv and raw-epoll baselines. With BENCH_SERVER_PID set (a local server's pid) it
 * also prints the server's CPU share over the same window, `RESULT echo_server_cpu <pct> %`: when the client is
 * the bottleneck, that share is what still tells a cheap server from an expensive one.
 *   usage: [BENCH_SERVER_PID=pid] bench_echo_load HOST PORT CONNS SECONDS MSG_BYTES */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "corio.h"

#define PROG "bench_echo_load"
#define CONNECT_MS 20000 /* a full backlog drops SYNs and the kernel resends them after 1, 3, 7 s */
#define STALL_MS 5000    /* after the window, how long a round trip may still take before the server is hung */

/* Latencies go into a log-linear histogram of fixed size (HdrHistogram's layout): values below SUB ns exactly,
 * above that SUB buckets per power of two, so every bucket is within 1/SUB (1.6 %) of its values and 2^40 ns
 * (18 minutes) fits in (40 - SUB_BITS + 1) * SUB slots (17.5 KiB) whatever the run length. */
#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define TOP_BIT 40
#define NBUCKETS ((TOP_BIT - SUB_BITS + 1) * SUB)

static unsigned bucket_of(uint64_t ns) {
    if (ns >= (uint64_t)1 << TOP_BIT) ns = ((uint64_t)1 << TOP_BIT) - 1;
    if (ns < SUB) return (unsigned)ns;
    unsigned shift = (unsigned)(63 - __builtin_clzll(ns)) - SUB_BITS; /* ns >> shift lies in [SUB, 2 SUB) */
    return (shift + 1) * SUB + (unsigned)(ns >> shift) - SUB;
}

/* The middle of the values bucket b holds, in ns. */
static double bucket_mid(unsigned b) {
    if (b < SUB) return b;
    unsigned shift = b / SUB - 1;
    uint64_t lo = ((uint64_t)(b % SUB) + SUB) << shift;
    return (double)lo + (double)(((uint64_t)1 << shift) - 1) / 2;
}

struct load {
    const char *host;
    int port;
    uint64_t conns;
    size_t msg;
    uint64_t attempted, connected;
    int first_error; /* of the connects that failed */
    corio_event *all_tried, *go;
    int measuring, stop;
    uint64_t in_flight; /* connection tasks still running */
    uint64_t hist[NBUCKETS];
    uint64_t trips; /* round trips completed inside the window */
};

struct conn {
    struct load *ld;
    uint64_t id;
    uint64_t trips; /* this connection's round trips in the window: shows whether the server is fair */
};

/* The bytes of round `round` of connection `id`: they differ per connection and per round, so a reply that went
 * to the wrong connection or is left over from an earlier round cannot pass the check. */
static void fill(unsigned char *buf, size_t len, uint64_t id, uint64_t round) {
    uint64_t x = (id + 1) * 0x9e3779b97f4a7c15ULL ^ round * 0xbf58476d1ce4e5b9ULL;
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 29;
        x *= 0x94d049bb133111ebULL;
        buf[i] = (unsigned char)(x >> 56);
    }
}

static int client(void *arg) {
    struct conn *c = arg;
    struct load *ld = c->ld;
    int fd = corio_tcp_connect(ld->host, ld->port);
    if (fd >= 0) {
        ld->connected++;
        /* Each message is written whole and the next one waits for its echo, so Nagle's algorithm never holds a
         * segment back; set anyway so the client is not the variable when servers are compared. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else if (ld->first_error == 0) {
        ld->first_error = fd;
    }
    if (++ld->attempted == ld->conns) corio_event_set(ld->all_tried);
    if (fd < 0) return 0;
    int rc = corio_event_wait(ld->go);
    if (rc < 0) bench_fail(PROG, "connection %" PRIu64 ": waiting to start: %s", c->id, corio_strerror(rc));

    unsigned char *out = malloc(ld->msg), *in = malloc(ld->msg);
    if (out == NULL || in == NULL) bench_fail(PROG, "out of memory for %zu-byte buffers", ld->msg);
    for (uint64_t round = 0; !ld->stop; round++) {
        fill(out, ld->msg, c->id, round);
        int64_t t0 = bench_now_ns();
        ssize_t n = corio_write(fd, out, ld->msg);
        if (n < 0) bench_fail(PROG, "connection %" PRIu64 ": write: %s", c->id, corio_strerror((int)n));
        size_t got = 0;
        while (got < ld->msg) {
            n = corio_read(fd, in + got, ld->msg - got);
            if (n < 0) bench_fail(PROG, "connection %" PRIu64 ": read: %s", c->id, corio_strerror((int)n));
            if (n == 0)
                bench_fail(PROG, "connection %" PRIu64 ": the server closed it after %zu of %zu bytes", c->id, got,
                           ld->msg);
            got += (size_t)n;
        }
        int64_t t1 = bench_now_ns();
        if (memcmp(in, out, ld->msg) != 0) {
            size_t i = 0;
            while (in[i] == out[i]) i++;
            bench_fail(PROG, "connection %" PRIu64 ", round %" PRIu64 ": byte %zu came back as 0x%02x, sent 0x%02x",
                       c->id, round, i, in[i], out[i]);
        }
        if (ld->measuring) {
            ld->hist[bucket_of((uint64_t)(t1 - t0))]++;
            ld->trips++;
            c->trips++;
        }
    }
    free(out);
    free(in);
    (void)corio_close(fd);
    ld->in_flight--;
    return 0;
}

static double cpu_seconds(void) {
    struct rusage ru;
    (void)getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds used so far by process pid (all its threads), from /proc/pid/stat; -1 if unreadable. */
static double proc_cpu_seconds(long pid) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL; /* the command name may hold spaces; the fields follow its ')' */
    unsigned long long ut, st;
    if (p == NULL || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The smallest latency (ns) that at least fraction q of the round trips did not exceed. */
static double percentile(const struct load *ld, double q) {
    uint64_t want = (uint64_t)(q * (double)ld->trips + 0.999999), seen = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += ld->hist[b];
        if (seen >= want && seen > 0) return bucket_mid(b);
    }
    return bucket_mid(NBUCKETS - 1);
}

struct args {
    struct load *ld;
    int64_t window_ms, warmup_ms;
    long server_pid; /* 0: not watched */
};

static int bench_main(void *arg) {
    struct args *a = arg;
    struct load *ld = a->ld;
    ld->all_tried = corio_event_new();
    ld->go = corio_event_new();
    struct conn *cs = calloc(ld->conns, sizeof *cs);
    if (ld->all_tried == NULL || ld->go == NULL || cs == NULL) bench_fail(PROG, "out of memory");

    int64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < ld->conns; i++) {
        cs[i] = (struct conn){.ld = ld, .id = i};
        corio_task *t = corio_spawn(client, &cs[i]);
        if (t == NULL) bench_fail(PROG, "corio_spawn: %s", strerror(errno));
        corio_detach(t); /* a client that fails ends the process, so nobody needs its status */
        ld->in_flight++;
    }
    corio_timeout scope;
    (void)corio_timeout_enter(&scope, CONNECT_MS);
    int rc = corio_event_wait(ld->all_tried);
    (void)corio_timeout_exit(&scope);
    if (rc < 0)
        bench_fail(PROG, "only %" PRIu64 " of %" PRIu64 " connects to %s:%d finished within %d ms", ld->attempted,
                   ld->conns, ld->host, ld->port, CONNECT_MS);
    if (ld->connected < ld->conns)
        bench_fail(PROG, "only %" PRIu64 " of %" PRIu64 " connections to %s:%d succeeded (first error: %s)",
                   ld->connected, ld->conns, ld->host, ld->port, corio_strerror(ld->first_error));
    printf("# %" PRIu64 " connections to %s:%d in %.1f ms; %zu-byte messages\n", ld->conns, ld->host, ld->port,
           (double)(bench_now_ns() - t0) / 1e6, ld->msg);

    corio_event_set(ld->go);
    /* The warm-up lets every connection reach its steady state (caches, the server's buffers, TCP's windows)
     * before anything is counted. */
    (void)corio_sleep(a->warmup_ms);
    double cpu0 = cpu_seconds(), srv0 = a->server_pid ? proc_cpu_seconds(a->server_pid) : -1;
    int64_t w0 = bench_now_ns();
    ld->measuring = 1;
    (void)corio_sleep(a->window_ms);
    ld->measuring = 0;
    int64_t w1 = bench_now_ns();
    double cpu1 = cpu_seconds(), srv1 = a->server_pid ? proc_cpu_seconds(a->server_pid) : -1;
    ld->stop = 1;

    /* Each client ends after its current round trip; one that hangs means the server stopped answering it. */
    int64_t deadline = bench_now_ns() + (int64_t)STALL_MS * 1000000;
    while (ld->in_flight > 0) {
        if (bench_now_ns() > deadline)
            bench_fail(PROG, "%" PRIu64 " connections got no echo within %d ms after the window", ld->in_flight,
                       STALL_MS);
        (void)corio_sleep(10);
    }

    double secs = (double)(w1 - w0) / 1e9;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t i = 0; i < ld->conns; i++) {
        if (cs[i].trips < lo) lo = cs[i].trips;
        if (cs[i].trips > hi) hi = cs[i].trips;
    }
    if (ld->trips == 0) bench_fail(PROG, "no round trip completed in %.3f s", secs);
    /* The client's CPU share tells whether it, not the server, was the bottleneck (both are pinned alone). */
    printf("# %" PRIu64 " round trips in %.3f s; per connection min %" PRIu64 " max %" PRIu64 "; client CPU %.0f %%\n",
           ld->trips, secs, lo, hi, 100 * (cpu1 - cpu0) / secs);
    bench_result("echo_rps", (double)ld->trips / secs, "rps");
    bench_result("echo_p50", percentile(ld, 0.50) / 1000, "us");
    bench_result("echo_p99", percentile(ld, 0.99) / 1000, "us");
    if (a->server_pid) {
        if (srv0 < 0 || srv1 < 0) bench_fail(PROG, "cannot read /proc/%ld/stat (BENCH_SERVER_PID)", a->server_pid);
        bench_result("echo_server_cpu", 100 * (srv1 - srv0) / secs, "%");
    }
    free(cs);
    (void)corio_event_free(ld->all_tried);
    (void)corio_event_free(ld->go);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNS SECONDS MSG_BYTES\n", PROG);
        return 2;
    }
    static struct load ld; /* static: the histogram is too big for a task's stack */
    ld.host = argv[1];
    uint64_t port = bench_arg_count(PROG, argc, argv, 2, 0);
    if (port > 65535) bench_fail(PROG, "port %" PRIu64 " out of range", port);
    ld.port = (int)port;
    ld.conns = bench_arg_count(PROG, argc, argv, 3, 0);
    uint64_t seconds = bench_arg_count(PROG, argc, argv, 4, 0);
    ld.msg = (size_t)bench_arg_count(PROG, argc, argv, 5, 0);
    /* A descriptor per connection: lift the soft limit to the hard one, as servers do. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* A warm-up of a fifth of the window, at most 1 s: long enough for 1000 connections to each make a few round
     * trips, short enough that a 5 s run costs 6 s. */
    struct args a = {.ld = &ld, .window_ms = (int64_t)seconds * 1000};
    const char *pid = getenv("BENCH_SERVER_PID");
    if (pid != NULL && *pid != '\0') {
        char *end;
        a.server_pid = strtol(pid, &end, 10);
        if (*end != '\0' || a.server_pid <= 0) bench_fail(PROG, "BENCH_SERVER_PID must be a pid, got \"%s\"", pid);
    }
    a.warmup_ms = a.window_ms / 5 < 1000 ? a.window_ms / 5 : 1000;
    int rc = corio_run(bench_main, &a);
    if (rc != 0) bench_fail(PROG, "corio_run returned %d (%s)", rc, corio_err_name(rc));
    return 0;
}
