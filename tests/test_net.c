/* test_net.c - tests of the socket calls of corio.h (net.c): TCP over IPv4, IPv6 and the dual-stack wildcard,
 * name resolution, failures that must leave no descriptor behind (refused, unresolvable, cancelled, timed out),
 * a thousand concurrent connections, half-close, Unix and UDP sockets, argument checks, and real peers (python3)
 * on the other end. Loopback only; every wait sits in a timeout scope so a bug fails a case instead of hanging. */
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define STEP_MS 10000 /* the bound on any single step of a case: generous, only a bug gets near it */

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* Threads of this process (the pool's workers start on demand, so this tells whether a call used the pool). */
static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Reads until EOF (or len bytes): the count. */
static ssize_t read_all(int fd, char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = corio_read(fd, buf + got, len - got);
        if (n < 0) return n;
        if (n == 0) break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Echoes what it reads until EOF, then closes: one connection's handler (arg is the fd). */
static int echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = corio_read(fd, buf, sizeof buf)) > 0) {
        ssize_t w = corio_write(fd, buf, (size_t)n);
        if (w < 0) {
            n = w;
            break;
        }
    }
    corio_close(fd);
    return n < 0 ? (int)n : 0;
}

/* Accepts one connection and echoes it. */
static int accept_echo_once(void *arg) {
    int lfd = *(int *)arg;
    int fd = corio_accept(lfd, NULL, NULL);
    if (fd < 0) return fd;
    return echo_conn((void *)(intptr_t)fd);
}

/* Sends msg over a fresh connection to host:port, half-closes, and checks the echo. */
static int echo_client(const char *host, int port, const char *msg) {
    int fd = corio_tcp_connect(host, port);
    if (fd < 0) return fd;
    size_t len = strlen(msg);
    ASSERT_EQ(corio_write(fd, msg, len), (ssize_t)len);
    ASSERT_RC(corio_shutdown(fd, SHUT_WR), 0);
    char buf[256];
    ssize_t n = read_all(fd, buf, sizeof buf);
    ASSERT_EQ(n, (ssize_t)len);
    ASSERT_TRUE(memcmp(buf, msg, len) == 0);
    ASSERT_RC(corio_close(fd), 0);
    return 0;
}

static int64_t elapsed_since(int64_t t0) { return test_now_ms() - t0; }

/* Whether ::1 exists (containers often run with IPv6 disabled): the IPv6 parts of a case are skipped if not. */
static bool have_ipv6(void) {
    static int known = -1;
    if (known < 0) {
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
        known = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0) close(fd);
        if (!known) fprintf(stderr, "note: no IPv6 loopback, IPv6 parts skipped\n");
    }
    return known;
}

/* ---- TCP round trips ------------------------------------------------------------------------------------------ */

struct round_trip {
    const char *listen_host, *connect_host;
    int family; /* of the peer address the server sees */
};

static int main_round_trip(void *arg) {
    struct round_trip *rt = arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int lfd = corio_tcp_listen(rt->listen_host, 0, 0);
    ASSERT_GE(lfd, 0);
    int port = corio_local_port(lfd);
    ASSERT_GT(port, 0);
    ASSERT_LE(port, 65535);

    int cfd = corio_tcp_connect(rt->connect_host, port);
    ASSERT_GE(cfd, 0);
    struct sockaddr_storage peer;
    memset(&peer, 0xa5, sizeof peer);
    socklen_t plen = 0;
    int sfd = corio_accept(lfd, &peer, &plen);
    ASSERT_GE(sfd, 0);
    ASSERT_EQ(peer.ss_family, rt->family);
    ASSERT_EQ(plen, rt->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    /* the peer's port is the client's local port */
    int cport = corio_local_port(cfd);
    ASSERT_EQ(ntohs(rt->family == AF_INET ? ((struct sockaddr_in *)&peer)->sin_port
                                          : ((struct sockaddr_in6 *)&peer)->sin6_port),
              cport);

    /* both ends: non-blocking, close-on-exec, TCP_NODELAY */
    int fds[] = {cfd, sfd};
    for (int i = 0; i < 2; i++) {
        ASSERT_TRUE(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
        ASSERT_TRUE(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
        int v = 0;
        socklen_t vl = sizeof v;
        ASSERT_EQ(getsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
        ASSERT_NE(v, 0);
    }
    ASSERT_TRUE(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    ASSERT_TRUE(fcntl(lfd, F_GETFD) & FD_CLOEXEC);

    ASSERT_EQ(corio_write(cfd, "ping", 4), 4);
    char buf[16];
    ASSERT_EQ(corio_read(sfd, buf, sizeof buf), 4);
    ASSERT_TRUE(memcmp(buf, "ping", 4) == 0);
    ASSERT_EQ(corio_write(sfd, "pong!", 5), 5);
    ASSERT_EQ(corio_read(cfd, buf, sizeof buf), 5);
    ASSERT_TRUE(memcmp(buf, "pong!", 5) == 0);

    ASSERT_RC(corio_close(cfd), 0);
    ASSERT_EQ(corio_read(sfd, buf, sizeof buf), 0);
    ASSERT_RC(corio_close(sfd), 0);
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}

/* Two tasks of one loop: the server waits in accept and read while the client connects and writes. */
static int main_echo_two_tasks(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int lfd = corio_tcp_listen("127.0.0.1", 0, 16);
    ASSERT_GE(lfd, 0);
    int port = corio_local_port(lfd);
    corio_task *server = corio_spawn(accept_echo_once, &lfd);
    ASSERT_NOT_NULL(server);
    ASSERT_RC(corio_yield(), 0); /* the server is in accept before anyone connects */
    ASSERT_RC(echo_client("127.0.0.1", port, "hello, corio"), 0);
    ASSERT_RC(corio_await(server), 0);
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_echo_between_two_tasks) { run_ok(main_echo_two_tasks, NULL); }

TEST(tcp_round_trip_ipv4) {
    struct round_trip rt = {"127.0.0.1", "127.0.0.1", AF_INET};
    run_ok(main_round_trip, &rt);
}

TEST(tcp_round_trip_ipv6) {
    if (!have_ipv6()) return;
    struct round_trip rt = {"::1", "::1", AF_INET6};
    run_ok(main_round_trip, &rt);
}

/* host NULL or "" listens on [::] taking IPv4 too: one socket, both families. */
static int main_dual_stack(void *arg) {
    const char *host = arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int lfd = corio_tcp_listen(host, 0, 0);
    ASSERT_GE(lfd, 0);
    int port = corio_local_port(lfd);
    ASSERT_GT(port, 0);
    const char *targets[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < (have_ipv6() ? 2 : 1); i++) {
        corio_task *server = corio_spawn(accept_echo_once, &lfd);
        ASSERT_NOT_NULL(server);
        ASSERT_RC(echo_client(targets[i], port, targets[i]), 0);
        ASSERT_RC(corio_await(server), 0);
    }
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_listen_any_is_dual_stack) {
    run_ok(main_dual_stack, NULL);
    run_ok(main_dual_stack, "");
}

/* A name (not a numeric address) on both sides goes through the resolver on the pool. */
static int main_by_name(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int lfd = corio_tcp_listen("localhost", 0, 0);
    ASSERT_GE(lfd, 0);
    int port = corio_local_port(lfd);
    corio_task *server = corio_spawn(accept_echo_once, &lfd);
    ASSERT_NOT_NULL(server);
    ASSERT_RC(echo_client("localhost", port, "by name"), 0);
    ASSERT_RC(corio_await(server), 0);
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_listen_and_connect_by_name) { run_ok(main_by_name, NULL); }

static int main_addr_in_use(void *arg) {
    (void)arg;
    int a = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(a, 0);
    int port = corio_local_port(a);
    int fds = test_open_fds();
    ASSERT_RC(corio_tcp_listen("127.0.0.1", port, 0), -EADDRINUSE);
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_close(a), 0);
    /* SO_REUSEADDR: the port can be taken again at once */
    int b = corio_tcp_listen("127.0.0.1", port, 0);
    ASSERT_GE(b, 0);
    ASSERT_EQ(corio_local_port(b), port);
    ASSERT_RC(corio_close(b), 0);
    return 0;
}
TEST(tcp_listen_port_in_use) { run_ok(main_addr_in_use, NULL); }

/* ---- failures leave nothing behind ------------------------------------------------------------------------ */

/* A port nobody listens on: bound and closed at once (the kernel does not hand it out again that soon). */
static int closed_port(void) {
    int fd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(fd, 0);
    int port = corio_local_port(fd);
    ASSERT_RC(corio_close(fd), 0);
    return port;
}

static int main_refused(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int port = closed_port();
    int fds = test_open_fds();
    ASSERT_RC(corio_tcp_connect("127.0.0.1", port), -ECONNREFUSED);
    ASSERT_EQ(test_open_fds(), fds);
    if (have_ipv6()) ASSERT_RC(corio_tcp_connect("::1", port), -ECONNREFUSED);
    ASSERT_EQ(test_open_fds(), fds);
    /* many times over: a leak of one descriptor per failure would show as a large difference */
    for (int i = 0; i < 100; i++) ASSERT_RC(corio_tcp_connect("127.0.0.1", port), -ECONNREFUSED);
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_connect_refused_leaks_nothing) { run_ok(main_refused, NULL); }

static int main_no_such_name(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int fds = test_open_fds();
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_tcp_connect("nonexistent.invalid", 80), -ENOENT);
    ASSERT_RC(corio_tcp_connect("NONEXISTENT.INVALID.", 80), -ENOENT);
    struct addrinfo *res = (struct addrinfo *)1;
    ASSERT_RC(corio_resolve("nonexistent.invalid", "80", SOCK_STREAM, &res), -ENOENT);
    ASSERT_NULL(res);
    ASSERT_RC(corio_resolve("invalid", NULL, 0, &res), -ENOENT);
    ASSERT_LT(elapsed_since(t0), 1000); /* answered locally (RFC 6761), never by a DNS timeout */
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_tcp_listen("nonexistent.invalid", 0, 0), -ENOENT);
    ASSERT_RC(corio_udp_bind("nonexistent.invalid", 0), -ENOENT);
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST_TIMEOUT(tcp_connect_unresolvable_name, 20) { run_ok(main_no_such_name, NULL); }

/* A task waiting in accept is cancelled, or its timeout scope expires: it returns, the listener is intact. */
static int main_cancel_accept(void *arg) {
    (void)arg;
    int fds = test_open_fds();
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(lfd, 0);
    corio_task *t = corio_spawn(accept_echo_once, &lfd);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_EQ(corio_task_done(t), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);

    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 30), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_accept(lfd, NULL, NULL), -ETIMEDOUT);
    ASSERT_GE(elapsed_since(t0), 25);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);

    /* still a working listener */
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int port = corio_local_port(lfd);
    corio_task *server = corio_spawn(accept_echo_once, &lfd);
    ASSERT_NOT_NULL(server);
    ASSERT_RC(echo_client("127.0.0.1", port, "after cancel"), 0);
    ASSERT_RC(corio_await(server), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_EQ(test_open_fds(), fds);
    return 0;
}
TEST(tcp_accept_cancelled_and_timed_out) { run_ok(main_cancel_accept, NULL); }

/* A connect that cannot finish: the listener's accept queue (backlog 1) is full, so the kernel drops further
 * SYNs and the handshake stays pending. Cancelling it or letting its scope expire closes the socket. */
struct pending_connect {
    int port;
    int rc;
};
static int connect_task(void *arg) {
    struct pending_connect *p = arg;
    p->rc = corio_tcp_connect("127.0.0.1", p->port);
    if (p->rc >= 0) corio_close(p->rc);
    return p->rc < 0 ? p->rc : 0;
}
static int main_cancel_connect(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 1);
    ASSERT_GE(lfd, 0);
    int port = corio_local_port(lfd);
    int fillers[16], nfill = 0;
    int fds = -1;
    corio_timeout scope;
    for (;;) {
        ASSERT_LT(nfill, 16); /* the queue should be full after two or three */
        fds = test_open_fds();
        ASSERT_RC(corio_timeout_enter(&scope, 200), 0);
        int fd = corio_tcp_connect("127.0.0.1", port);
        int rc = corio_timeout_exit(&scope);
        if (fd >= 0) {
            ASSERT_RC(rc, 0);
            fillers[nfill++] = fd;
            continue;
        }
        ASSERT_RC(fd, -ETIMEDOUT);
        ASSERT_RC(rc, -ETIMEDOUT);
        break;
    }
    ASSERT_EQ(test_open_fds(), fds);

    /* the same, cancelled by another task */
    struct pending_connect p = {.port = port};
    corio_task *t = corio_spawn(connect_task, &p);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_sleep(50), 0);
    ASSERT_EQ(corio_task_done(t), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_EQ(test_open_fds(), fds);

    /* corio_wait_for: the same through the task-level deadline */
    t = corio_spawn(connect_task, &p);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_wait_for(t, 50), -ETIMEDOUT);
    ASSERT_RC(p.rc, -ECANCELED);
    ASSERT_EQ(test_open_fds(), fds);

    for (int i = 0; i < nfill; i++) ASSERT_RC(corio_close(fillers[i]), 0);
    ASSERT_RC(corio_close(lfd), 0);
    return 0;
}
TEST(tcp_connect_cancelled_and_timed_out) { run_ok(main_cancel_connect, NULL); }

/* Out of descriptors: accept reports EMFILE (the server layer handles it) and works again once there is room. */
static int main_emfile(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(lfd, 0);
    int cfd = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    ASSERT_GE(cfd, 0);
    /* a limit just above the highest descriptor open, and every number below it taken */
    struct rlimit old, low;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    int top = -1;
    DIR *d = opendir("/proc/self/fd");
    ASSERT_NOT_NULL(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        /* (valgrind keeps descriptors of its own above the limit it shows us) */
        if (e->d_name[0] != '.' && fd > top && (rlim_t)fd < old.rlim_cur) top = fd;
    }
    closedir(d);
    low = old;
    low.rlim_cur = (rlim_t)top + 8;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    int spare[256], nspare = 0;
    for (int fd; (fd = dup(lfd)) >= 0;) {
        ASSERT_LT(nspare, 256);
        spare[nspare++] = fd;
    }
    ASSERT_EQ(errno, EMFILE);
    ASSERT_RC(corio_accept(lfd, NULL, NULL), -EMFILE);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* a second client: valgrind applies the limit itself, after the kernel accepted (and so lost) the first */
    int cfd2 = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    ASSERT_GE(cfd2, 0);
    int sfd = corio_accept(lfd, NULL, NULL);
    ASSERT_GE(sfd, 0);
    ASSERT_RC(corio_close(cfd2), 0);
    for (int i = 0; i < nspare; i++) close(spare[i]);
    ASSERT_RC(corio_close(sfd), 0);
    ASSERT_RC(corio_close(cfd), 0);
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_accept_out_of_descriptors) { run_ok(main_emfile, NULL); }

/* ---- many connections ---------------------------------------------------------------------------------------- */

struct many {
    int lfd, port, n;
    int served, echoed;
};
struct many_client {
    struct many *m;
    int i;
};

static int many_server(void *arg) {
    struct many *m = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    int rc = 0;
    for (int i = 0; i < m->n; i++) {
        int fd = corio_accept(m->lfd, NULL, NULL);
        if (fd < 0) {
            rc = fd;
            break;
        }
        m->served++;
        ASSERT_RC(corio_group_spawn(g, echo_conn, (void *)(intptr_t)fd), 0);
    }
    int wrc = corio_group_wait(g);
    return rc < 0 ? rc : wrc;
}

static int many_client_fn(void *arg) {
    struct many_client *c = arg;
    char msg[64];
    snprintf(msg, sizeof msg, "message number %d of %d", c->i, c->m->n);
    int rc = echo_client("127.0.0.1", c->m->port, msg);
    if (rc == 0) c->m->echoed++;
    return rc;
}

static int main_many(void *arg) {
    struct many *m = arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 4 * STEP_MS), 0);
    int fds = test_open_fds();
    m->lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(m->lfd, 0);
    m->port = corio_local_port(m->lfd);
    corio_task *server = corio_spawn(many_server, m);
    ASSERT_NOT_NULL(server);
    struct many_client *cs = calloc((size_t)m->n, sizeof *cs);
    ASSERT_NOT_NULL(cs);
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    /* all clients start before any finishes: n connections in flight at once */
    for (int i = 0; i < m->n; i++) {
        cs[i] = (struct many_client){m, i};
        ASSERT_RC(corio_group_spawn(g, many_client_fn, &cs[i]), 0);
    }
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_RC(corio_await(server), 0);
    ASSERT_EQ(m->served, m->n);
    ASSERT_EQ(m->echoed, m->n);
    free(cs);
    ASSERT_RC(corio_close(m->lfd), 0);
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_thousand_concurrent_connections) {
    struct many m = {.n = test_small() ? 100 : 1000};
    /* two descriptors per connection, both ends in this process */
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t want = (rlim_t)m.n * 2 + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < want) {
        m.n = (int)((rl.rlim_cur - 64) / 2);
        fprintf(stderr, "note: RLIMIT_NOFILE allows only %d connections\n", m.n);
    }
    run_ok(main_many, &m);
}

/* ---- half-close -------------------------------------------------------------------------------------------- */

static int main_shutdown(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(lfd, 0);
    int cfd = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    ASSERT_GE(cfd, 0);
    int sfd = corio_accept(lfd, NULL, NULL);
    ASSERT_GE(sfd, 0);

    ASSERT_EQ(corio_write(cfd, "abc", 3), 3);
    ASSERT_RC(corio_shutdown(cfd, SHUT_WR), 0);
    char buf[16];
    ASSERT_EQ(read_all(sfd, buf, sizeof buf), 3); /* the data, then 0: EOF */
    ASSERT_EQ(corio_read(sfd, buf, sizeof buf), 0);
    /* the other direction still works */
    ASSERT_EQ(corio_write(sfd, "ok", 2), 2);
    ASSERT_RC(corio_shutdown(sfd, SHUT_RDWR), 0);
    ASSERT_EQ(read_all(cfd, buf, sizeof buf), 2);
    ASSERT_TRUE(memcmp(buf, "ok", 2) == 0);
    ASSERT_RC(corio_write(cfd, "x", 1), -EPIPE); /* and no SIGPIPE */

    ASSERT_RC(corio_shutdown(cfd, 42), -EINVAL);
    ASSERT_RC(corio_shutdown(-1, SHUT_WR), -EBADF);
    ASSERT_RC(corio_close(cfd), 0);
    ASSERT_RC(corio_close(sfd), 0);
    ASSERT_RC(corio_shutdown(lfd, SHUT_RDWR), 0); /* a listener too: it stops accepting */
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(tcp_shutdown_write_gives_peer_eof) {
    signal(SIGPIPE, SIG_DFL); /* a write to a shut socket must report EPIPE, not kill the process */
    run_ok(main_shutdown, NULL);
}

/* ---- resolution ---------------------------------------------------------------------------------------------- */

static bool is_loopback(const struct addrinfo *ai) {
    if (ai->ai_family == AF_INET) return ntohl(((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24 == 127;
    if (ai->ai_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    return false;
}
static int ai_port(const struct addrinfo *ai) {
    if (ai->ai_family == AF_INET) return ntohs(((const struct sockaddr_in *)ai->ai_addr)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
}

static int main_resolve(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    /* numeric addresses are parsed in place: no pool thread starts */
    int threads = count_threads();
    struct addrinfo *res = NULL;
    ASSERT_RC(corio_resolve("127.0.0.1", "8080", SOCK_STREAM, &res), 0);
    ASSERT_NOT_NULL(res);
    ASSERT_EQ(res->ai_family, AF_INET);
    ASSERT_EQ(res->ai_socktype, SOCK_STREAM);
    ASSERT_EQ(ai_port(res), 8080);
    ASSERT_TRUE(is_loopback(res));
    freeaddrinfo(res);
    ASSERT_RC(corio_resolve("::1", NULL, SOCK_DGRAM, &res), 0);
    ASSERT_EQ(res->ai_family, AF_INET6);
    ASSERT_EQ(res->ai_socktype, SOCK_DGRAM);
    ASSERT_TRUE(is_loopback(res));
    freeaddrinfo(res);
    ASSERT_RC(corio_resolve(NULL, "99", SOCK_STREAM, &res), 0); /* no host: loopback */
    ASSERT_TRUE(is_loopback(res));
    ASSERT_EQ(ai_port(res), 99);
    freeaddrinfo(res);
    int fd = corio_tcp_connect("127.0.0.1", closed_port());
    ASSERT_RC(fd, -ECONNREFUSED);
    ASSERT_EQ(count_threads(), threads);

    /* a name goes to the pool */
    ASSERT_RC(corio_resolve("localhost", "80", SOCK_STREAM, &res), 0);
    ASSERT_NOT_NULL(res);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        ASSERT_TRUE(is_loopback(ai));
        ASSERT_EQ(ai_port(ai), 80);
        ASSERT_EQ(ai->ai_socktype, SOCK_STREAM);
    }
    freeaddrinfo(res);
    ASSERT_GT(count_threads(), threads);
    /* socktype 0: any (getaddrinfo lists one entry per type) */
    ASSERT_RC(corio_resolve("localhost", NULL, 0, &res), 0);
    ASSERT_NOT_NULL(res);
    freeaddrinfo(res);
    /* a named service (from /etc/services) */
    if (access("/etc/services", R_OK) == 0) {
        ASSERT_RC(corio_resolve("127.0.0.1", "http", SOCK_STREAM, &res), 0);
        ASSERT_EQ(ai_port(res), 80);
        freeaddrinfo(res);
        ASSERT_RC(corio_resolve("127.0.0.1", "no-such-service-corio", SOCK_STREAM, &res), -EINVAL);
        ASSERT_NULL(res);
    }
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(resolve_localhost_and_numeric) { run_ok(main_resolve, NULL); }

/* The caller of a lookup is cancelled while the lookup runs on the pool: it returns -ECANCELED at once and the
 * job is freed in the background (AddressSanitizer's leak check covers the job and its result). */
struct resolver {
    int rc;
    struct addrinfo *res;
};
static int resolve_task(void *arg) {
    struct resolver *r = arg;
    r->rc = corio_resolve("localhost", "80", SOCK_STREAM, &r->res);
    return 0;
}
static int main_resolve_cancelled(void *arg) {
    (void)arg;
    struct resolver r[8];
    corio_task *t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (struct resolver){.rc = 1, .res = (struct addrinfo *)1};
        t[i] = corio_spawn(resolve_task, &r[i]);
        ASSERT_NOT_NULL(t[i]);
    }
    ASSERT_RC(corio_yield(), 0); /* each is now waiting for the pool */
    for (int i = 0; i < 8; i++) ASSERT_RC(corio_cancel(t[i]), 0);
    for (int i = 0; i < 8; i++) {
        ASSERT_RC(corio_await(t[i]), 0);
        /* cancelled, or (if the lookup had already finished) the real answer */
        if (r[i].rc == 0) {
            ASSERT_NOT_NULL(r[i].res);
            freeaddrinfo(r[i].res);
        } else {
            ASSERT_RC(r[i].rc, -ECANCELED);
            ASSERT_NULL(r[i].res);
        }
    }
    /* a lookup started in a scope that has already expired never reaches the pool */
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 0), 0);
    struct addrinfo *res;
    ASSERT_RC(corio_resolve("localhost", "80", 0, &res), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    /* let the abandoned lookups finish and free themselves before the leak check at exit */
    ASSERT_RC(corio_sleep(200), 0);
    return 0;
}
TEST(resolve_cancelled_frees_in_background) { run_ok(main_resolve_cancelled, NULL); }

/* ---- Unix sockets ----------------------------------------------------------------------------------------------- */

static char tmpdir[64];
static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/corio-net-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ASSERT_EQ(system(cmd), 0);
}

struct unix_case {
    char path[256];
    int lfd;
};
static int unix_accept_echo(void *arg) {
    struct unix_case *u = arg;
    int fd = corio_accept(u->lfd, NULL, NULL);
    if (fd < 0) return fd;
    return echo_conn((void *)(intptr_t)fd);
}
static int unix_echo(struct unix_case *u, const char *msg) {
    corio_task *server = corio_spawn(unix_accept_echo, u);
    ASSERT_NOT_NULL(server);
    int fd = corio_unix_connect(u->path);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    size_t len = strlen(msg);
    ASSERT_EQ(corio_write(fd, msg, len), (ssize_t)len);
    ASSERT_RC(corio_shutdown(fd, SHUT_WR), 0);
    char buf[256];
    ASSERT_EQ(read_all(fd, buf, sizeof buf), (ssize_t)len);
    ASSERT_TRUE(memcmp(buf, msg, len) == 0);
    ASSERT_RC(corio_close(fd), 0);
    return corio_await(server);
}

static int main_unix(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int fds = test_open_fds();
    struct unix_case u;
    snprintf(u.path, sizeof u.path, "%s/sock", tmpdir);
    ASSERT_RC(corio_unix_connect(u.path), -ENOENT);
    u.lfd = corio_unix_listen(u.path, 0);
    ASSERT_GE(u.lfd, 0);
    ASSERT_TRUE(fcntl(u.lfd, F_GETFL) & O_NONBLOCK);
    ASSERT_TRUE(fcntl(u.lfd, F_GETFD) & FD_CLOEXEC);
    ASSERT_RC(corio_local_port(u.lfd), -EAFNOSUPPORT); /* no port on a Unix socket */
    ASSERT_RC(unix_echo(&u, "over a unix socket"), 0);
    ASSERT_RC(corio_close(u.lfd), 0);

    /* the socket file outlives its listener: connecting is refused, listening again replaces it */
    struct stat st;
    ASSERT_EQ(stat(u.path, &st), 0);
    ASSERT_RC(corio_unix_connect(u.path), -ECONNREFUSED);
    u.lfd = corio_unix_listen(u.path, 0);
    ASSERT_GE(u.lfd, 0);
    ASSERT_RC(unix_echo(&u, "again"), 0);
    ASSERT_RC(corio_close(u.lfd), 0);

    /* a regular file is never deleted to make room */
    char file[256];
    snprintf(file, sizeof file, "%s/file", tmpdir);
    int ffd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(ffd, 0);
    close(ffd);
    ASSERT_RC(corio_unix_listen(file, 0), -EADDRINUSE);
    ASSERT_EQ(stat(file, &st), 0);
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(unix_round_trip) {
    make_tmpdir();
    run_ok(main_unix, NULL);
    remove_tmpdir();
}

static int main_unix_long(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int fds = test_open_fds();
    struct sockaddr_un un;
    char path[300];
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    ASSERT_RC(corio_unix_listen(path, 0), -ENAMETOOLONG);
    ASSERT_RC(corio_unix_connect(path), -ENAMETOOLONG);
    /* the limit: sun_path with its terminating NUL */
    size_t dlen = strlen(tmpdir) + 1;
    memcpy(path, tmpdir, dlen - 1);
    path[dlen - 1] = '/';
    memset(path + dlen, 'b', sizeof un.sun_path - dlen);
    path[sizeof un.sun_path] = '\0';
    ASSERT_EQ(strlen(path), sizeof un.sun_path);
    ASSERT_RC(corio_unix_listen(path, 0), -ENAMETOOLONG);
    ASSERT_RC(corio_unix_connect(path), -ENAMETOOLONG);
    ASSERT_EQ(test_open_fds(), fds);
    path[sizeof un.sun_path - 1] = '\0'; /* one shorter fits */
    struct unix_case u;
    snprintf(u.path, sizeof u.path, "%s", path);
    u.lfd = corio_unix_listen(u.path, 0);
    ASSERT_GE(u.lfd, 0);
    ASSERT_RC(unix_echo(&u, "longest path"), 0);
    ASSERT_RC(corio_close(u.lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(unix_path_too_long) {
    make_tmpdir();
    run_ok(main_unix_long, NULL);
    remove_tmpdir();
}

/* A Unix listener with a full backlog makes connect fail with EAGAIN (nothing to wait on): corio_unix_connect
 * retries until the listener accepts. */
struct unix_conn {
    const char *path;
    int fd;
};
static int unix_connector(void *arg) {
    struct unix_conn *c = arg;
    c->fd = corio_unix_connect(c->path);
    return c->fd < 0 ? c->fd : 0;
}
static int main_unix_backlog(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/busy", tmpdir);
    int lfd = corio_unix_listen(path, 1);
    ASSERT_GE(lfd, 0);
    enum { N = 8 };
    struct unix_conn c[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct unix_conn){path, -1};
        t[i] = corio_spawn(unix_connector, &c[i]);
        ASSERT_NOT_NULL(t[i]);
    }
    ASSERT_RC(corio_sleep(50), 0); /* the queue fills, later connectors back off */
    int accepted[N];
    for (int i = 0; i < N; i++) {
        accepted[i] = corio_accept(lfd, NULL, NULL);
        ASSERT_GE(accepted[i], 0);
    }
    ASSERT_RC(corio_gather(t, N, NULL), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_GE(c[i].fd, 0);
        ASSERT_RC(corio_close(c[i].fd), 0);
        ASSERT_RC(corio_close(accepted[i]), 0);
    }
    /* and a connector whose scope expires while it backs off gives up, leaving nothing behind */
    int filler[2];
    for (int i = 0; i < 2; i++) ASSERT_GE(filler[i] = corio_unix_connect(path), 0);
    int fds = test_open_fds();
    corio_timeout inner;
    ASSERT_RC(corio_timeout_enter(&inner, 30), 0);
    int rc = corio_unix_connect(path);
    ASSERT_RC(corio_timeout_exit(&inner), rc == -ETIMEDOUT ? -ETIMEDOUT : 0);
    if (rc >= 0) { /* a kernel whose queue took a third one: nothing to test */
        corio_close(rc);
    } else {
        ASSERT_RC(rc, -ETIMEDOUT);
        ASSERT_EQ(test_open_fds(), fds);
    }
    for (int i = 0; i < 2; i++) corio_close(filler[i]);
    ASSERT_RC(corio_close(lfd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(unix_connect_waits_for_full_backlog) {
    make_tmpdir();
    run_ok(main_unix_backlog, NULL);
    remove_tmpdir();
}

/* ---- UDP --------------------------------------------------------------------------------------------------------- */

static int main_udp(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int fds = test_open_fds();
    int s = corio_udp_bind("127.0.0.1", 0);
    ASSERT_GE(s, 0);
    int c = corio_udp_bind("127.0.0.1", 0);
    ASSERT_GE(c, 0);
    ASSERT_TRUE(fcntl(s, F_GETFL) & O_NONBLOCK);
    ASSERT_TRUE(fcntl(s, F_GETFD) & FD_CLOEXEC);
    int sport = corio_local_port(s), cport = corio_local_port(c);
    ASSERT_GT(sport, 0);
    ASSERT_GT(cport, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sport)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ASSERT_EQ(corio_sendto(c, "datagram", 8, (struct sockaddr *)&to, sizeof to), 8);
    char buf[64];
    struct sockaddr_storage from;
    socklen_t flen = 0;
    ASSERT_EQ(corio_recvfrom(s, buf, sizeof buf, &from, &flen), 8);
    ASSERT_TRUE(memcmp(buf, "datagram", 8) == 0);
    ASSERT_EQ(flen, sizeof(struct sockaddr_in));
    ASSERT_EQ(from.ss_family, AF_INET);
    ASSERT_EQ(ntohs(((struct sockaddr_in *)&from)->sin_port), cport);
    /* reply to whoever sent it */
    ASSERT_EQ(corio_sendto(s, "reply", 5, (struct sockaddr *)&from, flen), 5);
    ASSERT_EQ(corio_recvfrom(c, buf, sizeof buf, NULL, NULL), 5);
    ASSERT_TRUE(memcmp(buf, "reply", 5) == 0);
    /* a datagram longer than the buffer is cut short, and the rest of it is gone */
    ASSERT_EQ(corio_sendto(c, "0123456789", 10, (struct sockaddr *)&to, sizeof to), 10);
    ASSERT_EQ(corio_sendto(c, "next", 4, (struct sockaddr *)&to, sizeof to), 4);
    ASSERT_EQ(corio_recvfrom(s, buf, 4, NULL, NULL), 4);
    ASSERT_TRUE(memcmp(buf, "0123", 4) == 0);
    ASSERT_EQ(corio_recvfrom(s, buf, sizeof buf, NULL, NULL), 4);
    ASSERT_TRUE(memcmp(buf, "next", 4) == 0);
    /* an empty datagram is a datagram */
    ASSERT_EQ(corio_sendto(c, "", 0, (struct sockaddr *)&to, sizeof to), 0);
    ASSERT_EQ(corio_recvfrom(s, buf, sizeof buf, NULL, NULL), 0);

    /* nothing arrives: the scope ends the wait */
    corio_timeout inner;
    ASSERT_RC(corio_timeout_enter(&inner, 30), 0);
    ASSERT_RC(corio_recvfrom(s, buf, sizeof buf, NULL, NULL), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&inner), -ETIMEDOUT);

    ASSERT_RC(corio_close(c), 0);
    ASSERT_RC(corio_close(s), 0);
    ASSERT_EQ(test_open_fds(), fds);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(udp_round_trip) { run_ok(main_udp, NULL); }

/* A datagram socket bound to every address ([::], dual stack) receives from IPv4 and IPv6 senders. */
static int udp_receiver(void *arg) {
    int fd = *(int *)arg;
    char buf[16];
    for (int i = 0; i < 2; i++) {
        ssize_t n = corio_recvfrom(fd, buf, sizeof buf, NULL, NULL);
        if (n < 0) return (int)n;
        if (n != 2) return -EIO;
    }
    return 0;
}
static int main_udp_any(void *arg) {
    (void)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int s = corio_udp_bind(NULL, 0);
    ASSERT_GE(s, 0);
    int port = corio_local_port(s);
    corio_task *t = corio_spawn(udp_receiver, &s);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_yield(), 0); /* it waits before anything is sent */
    struct addrinfo *res;
    /* the receiver wants two datagrams either way */
    const char *hosts[] = {"127.0.0.1", have_ipv6() ? "::1" : "127.0.0.1"};
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(corio_resolve(hosts[i], service, SOCK_DGRAM, &res), 0);
        int c = corio_udp_bind(hosts[i], 0);
        ASSERT_GE(c, 0);
        ASSERT_EQ(corio_sendto(c, "hi", 2, res->ai_addr, res->ai_addrlen), 2);
        freeaddrinfo(res);
        ASSERT_RC(corio_close(c), 0);
    }
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_close(s), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(udp_bind_any_is_dual_stack) { run_ok(main_udp_any, NULL); }

/* ---- arguments and context ----------------------------------------------------------------------------------- */

static int main_bad_args(void *arg) {
    (void)arg;
    struct addrinfo *res;
    ASSERT_RC(corio_resolve("localhost", "80", 0, NULL), -EINVAL);
    ASSERT_RC(corio_resolve(NULL, NULL, 0, &res), -EINVAL);
    ASSERT_RC(corio_resolve("127.0.0.1", "80", -1, &res), -EINVAL);

    ASSERT_RC(corio_tcp_connect(NULL, 80), -EINVAL);
    ASSERT_RC(corio_tcp_connect("", 80), -EINVAL);
    ASSERT_RC(corio_tcp_connect("127.0.0.1", 0), -EINVAL);
    ASSERT_RC(corio_tcp_connect("127.0.0.1", -1), -EINVAL);
    ASSERT_RC(corio_tcp_connect("127.0.0.1", 65536), -EINVAL);
    ASSERT_RC(corio_tcp_listen(NULL, -1, 0), -EINVAL);
    ASSERT_RC(corio_tcp_listen("127.0.0.1", 65536, 0), -EINVAL);
    ASSERT_RC(corio_udp_bind(NULL, -1), -EINVAL);
    ASSERT_RC(corio_udp_bind("127.0.0.1", 70000), -EINVAL);

    ASSERT_RC(corio_accept(-1, NULL, NULL), -EBADF);
    ASSERT_RC(corio_local_port(-1), -EBADF);
    ASSERT_RC(corio_shutdown(-1, SHUT_RDWR), -EBADF);
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    ASSERT_RC(corio_accept(p[0], NULL, NULL), -ENOTSOCK);
    ASSERT_RC(corio_local_port(p[0]), -ENOTSOCK);
    ASSERT_RC(corio_shutdown(p[0], SHUT_RD), -ENOTSOCK);
    corio_close(p[0]);
    corio_close(p[1]);
    int u = corio_udp_bind("127.0.0.1", 0);
    ASSERT_GE(u, 0);
    ASSERT_RC(corio_accept(u, NULL, NULL), -EOPNOTSUPP); /* not a stream socket */
    corio_close(u);

    ASSERT_RC(corio_unix_connect(NULL), -EINVAL);
    ASSERT_RC(corio_unix_connect(""), -EINVAL);
    ASSERT_RC(corio_unix_listen(NULL, 0), -EINVAL);
    ASSERT_RC(corio_unix_listen("", 0), -EINVAL);

    char buf[8];
    struct sockaddr_in to = {.sin_family = AF_INET};
    ASSERT_RC(corio_sendto(-1, "x", 1, (struct sockaddr *)&to, sizeof to), -EBADF);
    ASSERT_RC(corio_recvfrom(-1, buf, sizeof buf, NULL, NULL), -EBADF);
    u = corio_udp_bind("127.0.0.1", 0);
    ASSERT_GE(u, 0);
    ASSERT_RC(corio_sendto(u, NULL, 1, (struct sockaddr *)&to, sizeof to), -EINVAL);
    ASSERT_RC(corio_sendto(u, "x", 1, NULL, sizeof to), -EINVAL);
    ASSERT_RC(corio_sendto(u, "x", 1, NULL, 0), -EDESTADDRREQ); /* not connected: the kernel says so */
    ASSERT_RC(corio_recvfrom(u, NULL, 1, NULL, NULL), -EINVAL);
    corio_close(u);
    return 0;
}
TEST(bad_arguments) { run_ok(main_bad_args, NULL); }

/* Calls that may suspend need a task; listening on a numeric address, local_port and shutdown never suspend, so
 * a program can take its port before corio_run. */
TEST(outside_a_loop) {
    struct addrinfo *res;
    char buf[8];
    struct sockaddr_in to = {.sin_family = AF_INET};
    ASSERT_RC(corio_resolve("127.0.0.1", "80", 0, &res), -EPERM);
    ASSERT_RC(corio_tcp_connect("127.0.0.1", 80), -EPERM);
    ASSERT_RC(corio_unix_connect("/nonexistent"), -EPERM);
    ASSERT_RC(corio_tcp_listen("localhost", 0, 0), -EPERM); /* a name needs the pool */
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0);
    ASSERT_GE(lfd, 0);
    ASSERT_GT(corio_local_port(lfd), 0);
    ASSERT_RC(corio_accept(lfd, NULL, NULL), -EPERM);
    int any = corio_tcp_listen(NULL, 0, 0);
    ASSERT_GE(any, 0);
    int u = corio_udp_bind(have_ipv6() ? "::1" : "127.0.0.1", 0);
    ASSERT_GE(u, 0);
    ASSERT_RC(corio_sendto(u, "x", 1, (struct sockaddr *)&to, sizeof to), -EPERM);
    ASSERT_RC(corio_recvfrom(u, buf, sizeof buf, NULL, NULL), -EPERM);
    ASSERT_RC(corio_shutdown(u, SHUT_RDWR), -ENOTCONN); /* the kernel's answer, not -EPERM */
    ASSERT_RC(corio_shutdown(lfd, SHUT_RDWR), 0);
    ASSERT_RC(corio_close(u), 0);
    ASSERT_RC(corio_close(any), 0);
    ASSERT_RC(corio_close(lfd), 0);
}

/* ---- real peers: python3 on the other end ---------------------------------------------------------------------- */

extern char **environ; // NOLINT(readability-redundant-declaration): POSIX has the program declare it

static bool have_python(void) {
    if (system("python3 -c pass >/dev/null 2>&1") == 0) return true;
    fprintf(stderr, "SKIP: python3 not found\n");
    return false;
}

/* python3 -c script args..., stdout to *out_fd if out_fd is not NULL. Runs from the test process, before any loop. */
static pid_t spawn_python(const char *script, const char *arg1, int *out_fd) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int p[2] = {-1, -1};
    if (out_fd) {
        ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    }
    char *argv[] = {"python3", "-c", (char *)script, (char *)arg1, NULL};
    pid_t pid;
    ASSERT_EQ(posix_spawnp(&pid, "python3", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

static void reap_python(pid_t pid, bool ok) {
    if (!ok) kill(pid, SIGKILL);
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    if (ok) {
        ASSERT_TRUE(WIFEXITED(st));
        ASSERT_EQ(WEXITSTATUS(st), 0);
    }
}

/* A python client connects to our listener, sends a line and half-closes; we answer it in upper case. */
static const char py_client[] = "import socket, sys\n"
                                "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
                                "s.sendall(b'hello from python\\n')\n"
                                "s.shutdown(socket.SHUT_WR)\n"
                                "d = b''\n"
                                "while True:\n"
                                "    c = s.recv(4096)\n"
                                "    if not c: break\n"
                                "    d += c\n"
                                "sys.exit(0 if d == b'HELLO FROM PYTHON\\n' else 3)\n";

static int main_real_client(void *arg) {
    int lfd = *(int *)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    struct sockaddr_storage peer;
    socklen_t plen;
    int fd = corio_accept(lfd, &peer, &plen);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(peer.ss_family, AF_INET);
    char buf[256];
    ssize_t n = read_all(fd, buf, sizeof buf);
    ASSERT_EQ(n, 18);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] = (char)(buf[i] - 'a' + 'A');
    ASSERT_EQ(corio_write(fd, buf, (size_t)n), n);
    ASSERT_RC(corio_close(fd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(real_client_python) {
    if (!have_python()) return;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 0); /* before the loop: the child must find it listening */
    ASSERT_GE(lfd, 0);
    char port[8];
    snprintf(port, sizeof port, "%d", corio_local_port(lfd));
    pid_t pid = spawn_python(py_client, port, NULL);
    int rc = corio_run(main_real_client, &lfd);
    reap_python(pid, rc == 0);
    ASSERT_RC(rc, 0);
    ASSERT_RC(corio_close(lfd), 0);
}

/* A python server on ::1 (127.0.0.1 without IPv6) prints its port, takes one connection and answers the line it
 * gets reversed. */
static const char py_server[] = "import socket, sys\n"
                                "h = sys.argv[1]\n"
                                "s = socket.socket(socket.AF_INET6 if ':' in h else socket.AF_INET)\n"
                                "s.bind((h, 0))\n"
                                "s.listen(1)\n"
                                "s.settimeout(10)\n"
                                "print(s.getsockname()[1], flush=True)\n"
                                "c, _ = s.accept()\n"
                                "c.settimeout(10)\n"
                                "d = b''\n"
                                "while not d.endswith(b'\\n'):\n"
                                "    x = c.recv(4096)\n"
                                "    if not x: sys.exit(4)\n"
                                "    d += x\n"
                                "c.sendall(d[:-1][::-1] + b'\\n')\n"
                                "c.close()\n";

static const char *real_server_host(void) { return have_ipv6() ? "::1" : "127.0.0.1"; }

static int main_real_server(void *arg) {
    int port = *(int *)arg;
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, STEP_MS), 0);
    int fd = corio_tcp_connect(real_server_host(), port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(corio_write(fd, "corio\n", 6), 6);
    char buf[64];
    ASSERT_EQ(read_all(fd, buf, sizeof buf), 6);
    ASSERT_TRUE(memcmp(buf, "oiroc\n", 6) == 0);
    ASSERT_RC(corio_close(fd), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    return 0;
}
TEST(real_server_python) {
    if (!have_python()) return;
    int out;
    pid_t pid = spawn_python(py_server, real_server_host(), &out);
    char line[32] = {0};
    size_t got = 0;
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd p = {.fd = out, .events = POLLIN};
        ASSERT_EQ(poll(&p, 1, STEP_MS), 1);
        ssize_t n = read(out, line + got, sizeof line - 1 - got);
        ASSERT_GT(n, 0);
        got += (size_t)n;
    }
    close(out);
    int port = atoi(line);
    ASSERT_GT(port, 0);
    int rc = corio_run(main_real_server, &port);
    reap_python(pid, rc == 0);
    ASSERT_RC(rc, 0);
}
