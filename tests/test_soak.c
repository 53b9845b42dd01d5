/* test_soak.c - a bounded soak test: an in-process echo server (corio_server on 127.0.0.1) under connection
 * churn from client tasks for 20 s (CORIO_SOAK_SECONDS, at most 60; 4 s under test_small()): each connection
 * exchanges a few lines and closes, and about one in five ends abruptly instead, reset with SO_LINGER 0 either
 * right after its exchange or in the middle of a large write the server is echoing back. After a warm-up the
 * resident memory (/proc/self/statm) and the open descriptors (/proc/self/fd) are sampled; the memory must stay
 * flat and the descriptors must come back exactly to the baseline once the connections are closed. The figures
 * are printed on stdout ("soak: ...") so the docs can quote them. */
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* ASan's own quarantine holds up to 256 MiB of freed memory: RSS says nothing there */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define CLIENTS 32
#define LINES 3 /* lines each connection exchanges */
#define RSS_SLACK_KB                                                                                                   \
    (4 * 1024)              /* malloc's arenas settle unevenly; a leak of even 100 bytes per connection                \
                             * over the ~100,000 connections of a full run is far more than this */
#define BIG_WRITE (1 << 20) /* a mid-write reset sends this much without reading the echo */

struct soak {
    int port;
    int64_t end_ms;
    bool stop;
    /* counters */
    uint64_t conns, resets, midwrite_resets, clean, connect_retries, server_errors;
    char *big;
};

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    ASSERT_NOT_NULL(f);
    long size = 0, resident = 0;
    ASSERT_EQ(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int soak_seconds(void) {
    const char *s = getenv("CORIO_SOAK_SECONDS");
    int secs = s && *s ? atoi(s) : (test_small() ? 4 : 20);
    return secs < 2 ? 2 : secs > 60 ? 60 : secs;
}

/* ---- the server --------------------------------------------------------------------------------------------- */

static int echo(int fd, void *arg) {
    struct soak *s = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = corio_read(fd, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0 || corio_write(fd, buf, (size_t)n) < 0) {
            /* resets from the clients land here (ECONNRESET, EPIPE); the loop's shutdown too (ECANCELED) */
            s->server_errors++;
            return 0;
        }
    }
}

/* ---- the clients -------------------------------------------------------------------------------------------- */

static void reset_close(int fd) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ASSERT_RC(corio_close(fd), 0);
}

static void exchange(int fd, uint64_t id) {
    for (int i = 0; i < LINES; i++) {
        char line[64], back[64];
        int len = snprintf(line, sizeof line, "connection %llu line %d\n", (unsigned long long)id, i);
        ASSERT_EQ(corio_write(fd, line, (size_t)len), len);
        int got = 0;
        while (got < len) {
            ssize_t n = corio_read(fd, back + got, (size_t)(len - got));
            ASSERT_GT(n, 0);
            got += (int)n;
        }
        ASSERT_TRUE(memcmp(line, back, (size_t)len) == 0);
    }
}

static int client(void *arg) {
    struct soak *s = arg;
    uint32_t rnd = (uint32_t)(uintptr_t)corio_current() | 1;
    while (!s->stop && corio_now() < s->end_ms) {
        int fd = corio_tcp_connect("127.0.0.1", s->port);
        if (fd == -EADDRNOTAVAIL) { /* ephemeral ports in TIME_WAIT: give them a moment */
            s->connect_retries++;
            ASSERT_RC(corio_sleep(10), 0);
            continue;
        }
        ASSERT_GE(fd, 0);
        uint64_t id = ++s->conns;
        rnd = rnd * 1103515245U + 12345U;
        unsigned pick = (rnd >> 16) % 100;
        if (pick < 10) { /* reset in the middle of a write the server is echoing back */
            corio_timeout scope;
            ASSERT_RC(corio_timeout_enter(&scope, 5), 0);
            ssize_t n = corio_write(fd, s->big, BIG_WRITE); /* neither side reads all: this blocks, then expires */
            ASSERT_TRUE(n == BIG_WRITE || n == -ETIMEDOUT);
            (void)corio_timeout_exit(&scope);
            reset_close(fd);
            s->midwrite_resets++;
            continue;
        }
        exchange(fd, id);
        if (pick < 20) {
            reset_close(fd);
            s->resets++;
        } else {
            ASSERT_RC(corio_close(fd), 0);
            s->clean++;
        }
    }
    return 0;
}

/* ---- the run ------------------------------------------------------------------------------------------------ */

static int server_task(void *arg) { return corio_server_run(arg); }

static int soak_main(void *arg) {
    (void)arg;
    struct soak s = {0};
    s.big = calloc(1, BIG_WRITE);
    ASSERT_NOT_NULL(s.big);
    int secs = soak_seconds();
    int warm_ms = secs * 1000 / 4;
    int fds_start = test_open_fds();
    long rss_start = rss_kb();

    corio_server *srv = corio_server_new("127.0.0.1", 0, echo, &s, NULL);
    ASSERT_NOT_NULL(srv);
    s.port = corio_server_port(srv);
    corio_task *server = test_spawn(server_task, srv);
    ASSERT_RC(corio_sleep(10), 0);
    int fds_base = test_open_fds(); /* the listening socket and the spare descriptor corio_server_run keeps included */

    int64_t t0 = corio_now();
    s.end_ms = t0 + secs * 1000;
    corio_task *clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) clients[i] = test_spawn(client, &s);

    ASSERT_RC(corio_sleep(warm_ms), 0);
    long rss_warm = rss_kb(), rss_max = rss_warm;
    int fds_warm = test_open_fds(), fds_max = fds_warm;
    uint64_t conns_warm = s.conns;
    while (corio_now() < s.end_ms) {
        ASSERT_RC(corio_sleep(250), 0);
        long r = rss_kb();
        int f = test_open_fds();
        if (r > rss_max) rss_max = r;
        if (f > fds_max) fds_max = f;
    }
    for (int i = 0; i < CLIENTS; i++) ASSERT_RC(corio_await(clients[i]), 0);
    /* the handlers end once they have read the clients' EOF or reset */
    for (int i = 0; i < 2000 && corio_server_conns(srv) > 0; i++) ASSERT_RC(corio_sleep(5), 0);
    ASSERT_EQ(corio_server_conns(srv), 0);
    int fds_end = test_open_fds();
    long rss_end = rss_kb();
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);

    corio_server_stop(srv);
    ASSERT_RC(corio_await(server), 0);
    ASSERT_RC(corio_server_free(srv), 0);
    int fds_after = test_open_fds();
    free(s.big);

    int64_t ran = corio_now() - t0;
    printf("soak: %lld ms, %d client tasks, %llu connections (%llu after warm-up), %llu clean closes, %llu resets "
           "after the exchange, %llu resets mid-write, %llu connect retries, %llu server-side errors\n",
           (long long)ran, CLIENTS, (unsigned long long)s.conns, (unsigned long long)(s.conns - conns_warm),
           (unsigned long long)s.clean, (unsigned long long)s.resets, (unsigned long long)s.midwrite_resets,
           (unsigned long long)s.connect_retries, (unsigned long long)s.server_errors);
    printf("soak: RSS KiB start %ld, after %d ms warm-up %ld, max after warm-up %ld, end %ld%s\n", rss_start, warm_ms,
           rss_warm, rss_max, rss_end, UNDER_ASAN || test_small() ? " (not checked in this build)" : "");
    printf(
        "soak: fds start %d, with the server running %d, after warm-up %d, max %d, end %d, server freed %d; tasks %zu, "
        "timers %zu, stacks in use %zu cached %zu\n",
        fds_start, fds_base, fds_warm, fds_max, fds_end, fds_after, st.tasks, st.timers, st.stacks_in_use,
        st.stacks_cached);
    fflush(stdout);

    ASSERT_GT(s.conns - conns_warm, 100);
    ASSERT_GT(s.resets, 0);
    ASSERT_GT(s.midwrite_resets, 0);
    ASSERT_EQ(fds_end, fds_base);
    ASSERT_EQ(fds_after, fds_start);
    /* a client's descriptor plus its handler's, and handlers that have not yet seen their client go (slow TSan) */
    ASSERT_LE(fds_max, fds_base + 8 * CLIENTS);
    ASSERT_EQ(st.tasks, 2); /* main and the server */
    ASSERT_EQ(st.timers, 0);
    if (!UNDER_ASAN && !test_small()) {
        ASSERT_LE(rss_max, rss_warm + RSS_SLACK_KB);
        ASSERT_LE(rss_end, rss_warm + RSS_SLACK_KB);
    }
    return 0;
}

TEST_TIMEOUT(soak_echo_churn_with_resets_stays_flat, 120) { ASSERT_RC(corio_run(soak_main, NULL), 0); }
