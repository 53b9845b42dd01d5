/* bench_idle.c - what idle connections cost a server (issue 18): opens N connections to a server on this machine,
 * each answered once, holds them idle, sends one request on each (the "wave"), closes them, and reads the server's
 * memory from /proc/PID/status before, while they are idle, after the wave and after they closed. VmRSS is the
 * process's own memory: the kernel's socket buffers are not in it, as the issue asks. Plain C on epoll, not corio,
 * so that a corio server is not measured with corio's help.
 *
 * The connections come from 127.0.0.2, 127.0.0.3... (PER_ADDR each) when HOST is a loopback address: one source and
 * one destination address give at most the ~28k ports of the ephemeral range, so 100,000 connections need several.
 * At most WINDOW connections are between their connect and their first answer at a time, below any server's listen
 * backlog, so that no SYN is dropped and retransmitted a second later: the accept time is the server's, not TCP's.
 *
 * Prints, for bench/compare.sh (RESULT NAME VALUE UNIT; sizes in bytes, times in seconds):
 *   idle_accept        connect + first answer on all N         idle_wave          one request on each, all answered
 *   idle_per_conn      (VmRSS idle - VmRSS before) / N         idle_wave_per_conn the same after the wave, settled
 *   idle_after_ratio   VmRSS after the close / VmRSS before    idle_hwm_per_conn  (VmHWM at the end - before) / N
 *   idle_rss_before, idle_rss_idle, idle_rss_after, idle_hwm  the readings themselves
 *   idle_accept_cpu, idle_wave_cpu   the server's CPU seconds over those two phases (/proc/PID/stat)
 * Fails (exit 1) when a connection is refused, closed or answered wrongly, when no answer comes for STALL seconds
 * (15), or when TIMEOUT (120) runs out. SETTLE (2000 ms) is the rest before each memory reading.
 *   usage: bench_idle [--proto echo|http] --pid PID [--settle MS] [--timeout S] [--stall S] [--window W]
 *                     [--per-addr M] HOST PORT N   (WINDOW 200, PER_ADDR 10000)
 * echo: 64-byte messages, every byte checked; http: "GET / HTTP/1.1" kept alive, a 200 with a Content-Length. */
#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define PROG "bench_idle"
#define MSG 64           /* echo message bytes */
#define HTTP_MAX 4096    /* a response must fit: the hello servers' are ~150 bytes */
#define MAX_EVENTS 1024  /* per epoll_wait */
#define FD_SPARE 64      /* descriptors beyond N: stdio, epoll, /proc reads */

enum state { CONNECTING, WAITING, IDLE };

/* 8 bytes a connection, so that 100,000 of them keep the client small; a response split over reads (never seen on
 * loopback, but TCP allows it) gets a buffer of its own until it is whole. */
struct conn {
    int fd;
    uint8_t state;
    uint8_t round;  /* echo: which round's bytes are expected back */
    uint16_t got;   /* bytes of the current answer received */
};

static struct conn *conns;
static char **partial; /* http: per connection, NULL unless a response is split */
static uint32_t nconns;
static bool http;
static long pid;
static int ep;
static int64_t deadline;
static const char *phase = "starting";
static uint32_t pending; /* connections whose answer is still awaited */
static int64_t progress_ns, stall_ns; /* the last answer (or phase start); how long without one is a stall */

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* The bytes of connection i's round r: they differ per connection and per round, so an answer that went to the
 * wrong connection or is left from an earlier round fails the check. */
static uint8_t pattern(uint32_t i, unsigned r, unsigned k) { return (uint8_t)(i * 131u + r * 31u + k * 7u + (i >> 8)); }

/* ---- the server's side, from /proc ------------------------------------------------------------------------- */

/* A field of /proc/PID/status in bytes ("VmRSS:   1234 kB"): the server's, unlike bench.h's, which reads self. */
static int64_t status_bytes(const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) bench_fail(PROG, "cannot read %s: %s (is the server still running?)", path, strerror(errno));
    size_t len = strlen(field);
    int64_t bytes = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            bytes = (int64_t)strtoll(line + len + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    if (bytes < 0) bench_fail(PROG, "no %s in %s", field, path);
    return bytes;
}

/* CPU seconds the server has used (all its threads). */
static double server_cpu(void) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) bench_fail(PROG, "cannot read %s: %s", path, strerror(errno));
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL; /* the command name may hold spaces; the fields follow its ')' */
    unsigned long long ut = 0, st = 0; /* bench_fail does not return, which clang cannot tell */
    if (p == NULL || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
        bench_fail(PROG, "cannot parse %s", path);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Descriptors the server holds, or -1 if its /proc/PID/fd cannot be read: how the close phase tells that the
 * server has let go of every connection, whatever its protocol. */
static long server_fds(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *d = opendir(path);
    if (d == NULL) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void fail_conn(uint32_t i, const char *fmt, const char *detail) {
    char what[256];
    snprintf(what, sizeof what, fmt, detail);
    bench_fail(PROG, "%s: connection %u: %s", phase, i, what);
}

/* ---- the client ---------------------------------------------------------------------------------------------- */

static void send_request(uint32_t i) {
    struct conn *c = &conns[i];
    uint8_t msg[MSG];
    const void *buf = request;
    size_t len = sizeof request - 1;
    if (!http) {
        for (unsigned k = 0; k < MSG; k++) msg[k] = pattern(i, c->round, k);
        buf = msg;
        len = MSG;
    }
    ssize_t n = write(c->fd, buf, len); /* an idle socket's buffer is empty: all of it goes at once */
    if (n != (ssize_t)len) fail_conn(i, "write: %s", n < 0 ? strerror(errno) : "short");
    c->state = WAITING;
    c->got = 0;
    pending++;
}

/* The length of the complete response at p, 0 if more is to come; fails on anything but a 200 with a length. */
static size_t http_response(uint32_t i, const char *p, size_t n) {
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL) {
        if (n >= HTTP_MAX) fail_conn(i, "%s", "response headers over 4 KiB");
        return 0;
    }
    if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 || strncmp(p + 8, " 200", 4) != 0)
        fail_conn(i, "answered \"%.12s\", not HTTP/1.x 200", p);
    long clen = -1;
    for (const char *l = memchr(p, '\n', (size_t)(end - p)); l != NULL && l < end;
         l = memchr(l + 1, '\n', (size_t)(end - l - 1)))
        if (strncasecmp(l + 1, "content-length:", 15) == 0) clen = strtol(l + 16, NULL, 10);
    if (clen < 0) fail_conn(i, "%s", "a response without Content-Length");
    size_t total = (size_t)(end + 4 - p) + (size_t)clen;
    if (total > HTTP_MAX) fail_conn(i, "%s", "a response over 4 KiB");
    return n >= total ? total : 0;
}

/* One answer is in: the connection goes idle. */
static void answered(struct conn *c) {
    progress_ns = bench_now_ns();
    c->state = IDLE;
    c->round++;
    pending--;
}

/* Reads what connection i has; checks it against what it was sent. */
static void on_readable(uint32_t i) {
    struct conn *c = &conns[i];
    static char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) fail_conn(i, "read: %s", strerror(errno));
        if (n == 0) fail_conn(i, "%s", c->state == IDLE ? "the server closed it while idle (an idle timeout?)"
                                                         : "the server closed it before answering");
        if (c->state != WAITING) fail_conn(i, "%s", "the server sent bytes nobody asked for");
        if (!http) {
            if (c->got + (size_t)n > MSG) fail_conn(i, "%s", "more bytes came back than were sent");
            for (ssize_t k = 0; k < n; k++)
                if ((uint8_t)buf[k] != pattern(i, c->round, c->got + (unsigned)k))
                    fail_conn(i, "%s", "a byte came back changed");
            c->got += (uint16_t)n;
            if (c->got == MSG) answered(c);
            continue;
        }
        const char *p = buf;
        size_t have = (size_t)n;
        if (partial[i] != NULL || c->got > 0) { /* the rest of a split response */
            if (partial[i] == NULL && (partial[i] = malloc(HTTP_MAX)) == NULL) bench_fail(PROG, "out of memory");
            if (c->got + (size_t)n > HTTP_MAX) fail_conn(i, "%s", "a response over 4 KiB");
            memcpy(partial[i] + c->got, buf, (size_t)n);
            p = partial[i];
            have = c->got + (size_t)n;
        }
        size_t total = http_response(i, p, have);
        if (total == 0) {
            if (partial[i] == NULL && (partial[i] = malloc(HTTP_MAX)) == NULL) bench_fail(PROG, "out of memory");
            if (p != partial[i]) memcpy(partial[i], p, have);
            c->got = (uint16_t)have;
            continue;
        }
        if (total != have) fail_conn(i, "%s", "bytes after the response (no request was pipelined)");
        free(partial[i]);
        partial[i] = NULL;
        answered(c);
    }
}

static void on_event(uint32_t i, uint32_t ev) {
    struct conn *c = &conns[i];
    if (c->state == CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
            fail_conn(i, "connect: %s", strerror(err ? err : errno));
        pending--; /* send_request counts it again, as awaiting its answer */
        send_request(i);
        return;
    }
    /* an idle connection's output edges (the ACK of its last request) mean nothing; input means a close */
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(i);
}

/* One epoll_wait of at most ms milliseconds (cut short by the deadline, where it fails), its events handled. */
static void pump_once(int64_t ms) {
    static struct epoll_event evs[MAX_EVENTS];
    int64_t now = bench_now_ns(), left = deadline - now;
    if (left <= 0) bench_fail(PROG, "%s: timed out with %u answers outstanding", phase, pending);
    /* a server at its connection limit leaves the rest in its backlog: say so long before the timeout */
    if (pending > 0 && now - progress_ns > stall_ns)
        bench_fail(PROG, "%s: no answer for %lld s, %u outstanding (a connection limit in the server?)", phase,
                   (long long)(stall_ns / 1000000000), pending);
    if (ms > (left + 999999) / 1000000) ms = (left + 999999) / 1000000;
    int n = epoll_wait(ep, evs, MAX_EVENTS, (int)ms);
    if (n < 0 && errno != EINTR) bench_fail(PROG, "epoll_wait: %s", strerror(errno));
    for (int k = 0; k < n; k++) on_event(evs[k].data.u32, evs[k].events);
}

/* Handles events until no answer is pending, or with until_ns until then, whatever is pending. */
static void pump(int64_t until_ns) {
    for (;;) {
        int64_t now = bench_now_ns();
        if (until_ns == 0 ? pending == 0 : now >= until_ns) return;
        int64_t ms = until_ns == 0 ? 100 : (until_ns - now + 999999) / 1000000;
        pump_once(ms < 100 ? ms : 100);
    }
}

/* Opens connection i from its source address: connecting, counted as pending until answered. */
static void open_conn(uint32_t i, const struct sockaddr_in *dst, uint32_t per_addr, bool spread) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_conn(i, "socket: %s", strerror(errno));
    if (spread) {
        /* the port is chosen at connect, for the whole 4-tuple, rather than at bind for the address alone */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002u + i / per_addr)};
        if (bind(fd, (const struct sockaddr *)&src, sizeof src) != 0) fail_conn(i, "bind: %s", strerror(errno));
    }
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0 && errno != EINPROGRESS)
        fail_conn(i, "connect: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) fail_conn(i, "epoll_ctl: %s", strerror(errno));
    conns[i] = (struct conn){.fd = fd, .state = CONNECTING};
    pending++;
}

/* A descriptor per connection: lifts the soft limit, and the hard one where allowed (root), to what N needs. */
static void raise_nofile(uint64_t need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) bench_fail(PROG, "getrlimit: %s", strerror(errno));
    if (rl.rlim_cur >= need) return;
    if (rl.rlim_max < need) {
        struct rlimit up = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) return;
        bench_fail(PROG, "%llu connections need %llu descriptors; the hard limit is %llu and cannot be raised (%s)",
                   (unsigned long long)(need - FD_SPARE), (unsigned long long)need, (unsigned long long)rl.rlim_max,
                   strerror(errno));
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) bench_fail(PROG, "setrlimit: %s", strerror(errno));
}

/* Waits settle_ms while still handling events, so an idle connection the server closes is noticed. */
static void settle(int64_t settle_ms) { pump(bench_now_ns() + settle_ms * 1000000); }

static void kb(const char *what, int64_t bytes) { printf("# %-44s %10lld kB\n", what, (long long)(bytes / 1024)); }

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"proto", required_argument, NULL, 'p'},   {"pid", required_argument, NULL, 'P'},
        {"settle", required_argument, NULL, 's'},  {"timeout", required_argument, NULL, 't'},
        {"window", required_argument, NULL, 'w'},  {"per-addr", required_argument, NULL, 'a'},
        {"stall", required_argument, NULL, 'S'},   {NULL, 0, NULL, 0},
    };
    const char *usage = "usage: bench_idle [--proto echo|http] --pid PID [--settle MS] [--timeout S] [--stall S] "
                        "[--window W] [--per-addr M] HOST PORT N";
    int64_t settle_ms = 2000, timeout_s = 120, stall_s = 15;
    uint32_t window = 200, per_addr = 10000;
    for (int o, at = 0; (o = getopt_long(argc, argv, "", opts, &at)) != -1;) {
        char *end = NULL;
        long long v = optarg ? strtoll(optarg, &end, 10) : 0;
        bool num = optarg && end != optarg && *end == '\0' && v >= 0 && v <= 1000000000;
        switch (o) {
        case 'p':
            if (strcmp(optarg, "http") != 0 && strcmp(optarg, "echo") != 0) bench_fail(PROG, "%s", usage);
            http = strcmp(optarg, "http") == 0;
            continue;
        case 'P': pid = num ? (long)v : 0; break;
        case 's': settle_ms = num ? v : -1; break;
        case 't': timeout_s = num && v > 0 ? v : -1; break;
        case 'S': stall_s = num && v > 0 ? v : -1; break;
        case 'w': window = num && v > 0 ? (uint32_t)v : 0; break;
        case 'a': per_addr = num && v > 0 && v < 60000 ? (uint32_t)v : 0; break;
        default: bench_fail(PROG, "%s", usage);
        }
        if (!num || pid < 0 || settle_ms < 0 || timeout_s < 0 || stall_s < 0 || window == 0 || per_addr == 0)
            bench_fail(PROG, "--%s: not a valid number: \"%s\"", opts[at].name, optarg);
    }
    if (argc - optind != 3 || pid <= 0) bench_fail(PROG, "%s", usage);
    const char *host = argv[optind];
    uint64_t port = bench_arg_count(PROG, argc, argv, optind + 1, 0);
    uint64_t n = bench_arg_count(PROG, argc, argv, optind + 2, 0);
    if (port > 65535 || n > 10000000) bench_fail(PROG, "PORT or N out of range");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) bench_fail(PROG, "HOST must be an IPv4 address: %s", host);
    bool spread = (ntohl(dst.sin_addr.s_addr) >> 24) == 127;
    uint32_t naddrs = spread ? (uint32_t)((n + per_addr - 1) / per_addr) : 1;
    if (spread && naddrs > 0xfffffd) bench_fail(PROG, "N / PER_ADDR source addresses do not fit in 127/8");
    nconns = (uint32_t)n;
    raise_nofile(n + FD_SPARE);
    (void)signal(SIGPIPE, SIG_IGN);
    conns = calloc(nconns, sizeof *conns);
    partial = http ? calloc(nconns, sizeof *partial) : NULL;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || (http && partial == NULL) || ep < 0) bench_fail(PROG, "out of memory or descriptors");
    deadline = bench_now_ns() + timeout_s * 1000000000;
    stall_ns = stall_s * 1000000000;

    phase = "before";
    settle(settle_ms);
    int64_t before = status_bytes("VmRSS");
    long fds_before = server_fds();
    kb("server VmRSS before the connections", before);

    phase = "accepting";
    double cpu0 = server_cpu();
    int64_t t0 = progress_ns = bench_now_ns();
    for (uint32_t i = 0; i < nconns;) {
        while (i < nconns && pending < window) open_conn(i++, &dst, per_addr, spread);
        pump_once(100); /* until some answers free places in the window */
    }
    pump(0);
    double accept_s = (double)(bench_now_ns() - t0) / 1e9, accept_cpu = server_cpu() - cpu0;
    printf("# %u connections from %u source address%s, each answered once, in %.3f s (%.0f per second); server "
           "CPU %.3f s\n",
           nconns, naddrs, naddrs == 1 ? "" : "es", accept_s, nconns / accept_s, accept_cpu);

    phase = "idle";
    settle(settle_ms);
    int64_t idle = status_bytes("VmRSS");
    kb("server VmRSS with all of them idle", idle);

    phase = "wave";
    cpu0 = server_cpu();
    t0 = progress_ns = bench_now_ns();
    for (uint32_t i = 0; i < nconns; i++) {
        send_request(i);
        if (i % 256 == 255) pump_once(0); /* what has come back so far, without waiting */
    }
    pump(0);
    double wave_s = (double)(bench_now_ns() - t0) / 1e9, wave_cpu = server_cpu() - cpu0;
    printf("# one request on each: all answered in %.3f s (%.0f per second); server CPU %.3f s\n", wave_s,
           nconns / wave_s, wave_cpu);
    phase = "idle after the wave";
    settle(settle_ms);
    int64_t waved = status_bytes("VmRSS");
    kb("server VmRSS idle again after the wave", waved);

    phase = "closing";
    t0 = bench_now_ns();
    for (uint32_t i = 0; i < nconns; i++) close(conns[i].fd);
    long fds = server_fds();
    while (fds_before >= 0 && fds > fds_before) {
        if (bench_now_ns() >= deadline)
            bench_fail(PROG, "closing: the server still holds %ld descriptors more than before", fds - fds_before);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        fds = server_fds();
    }
    printf("# closed: the server %s in %.3f s\n",
           fds_before >= 0 ? "held no more descriptors than before" : "(descriptors unreadable) was given",
           (double)(bench_now_ns() - t0) / 1e9);
    phase = "after";
    struct timespec ts = {settle_ms / 1000, settle_ms % 1000 * 1000000};
    nanosleep(&ts, NULL);
    int64_t after = status_bytes("VmRSS"), hwm = status_bytes("VmHWM");
    /* the kernel folds its per-thread RSS counts into VmHWM now and then, so it can lag a VmRSS read earlier */
    int64_t top = idle > waved ? idle : waved;
    if (hwm < top) hwm = top;
    kb("server VmRSS after they closed", after);
    kb("server VmHWM (peak RSS) at the end", hwm);
    printf("# per idle connection %.0f B, after the wave %.0f B; after the close %.3fx the RSS before\n",
           (double)(idle - before) / nconns, (double)(waved - before) / nconns, (double)after / (double)before);

    bench_result("idle_accept", accept_s, "s");
    bench_result("idle_wave", wave_s, "s");
    bench_result("idle_per_conn", (double)(idle - before) / nconns, "B");
    bench_result("idle_wave_per_conn", (double)(waved - before) / nconns, "B");
    bench_result("idle_after_ratio", (double)after / (double)before, "x");
    bench_result("idle_hwm_per_conn", (double)(hwm - before) / nconns, "B");
    bench_result("idle_rss_before", (double)before, "bytes");
    bench_result("idle_rss_idle", (double)idle, "bytes");
    bench_result("idle_rss_after", (double)after, "bytes");
    bench_result("idle_hwm", (double)hwm, "bytes");
    bench_result("idle_accept_cpu", accept_cpu, "s");
    bench_result("idle_wave_cpu", wave_cpu, "s");
    free(conns);
    free(partial);
    close(ep);
    return 0;
}
