/* test_pg.c - tests of the PostgreSQL module (corio_pg.h) against a real server: tests/pg_server.sh starts one
 * for this binary before the cases are forked (initdb in a temporary directory, 127.0.0.1 and a free port) and
 * stops it when the binary exits, however it exits. Cases: connecting (fine, refused, bad password, user and
 * database, garbage conninfo, timeouts), parameterised queries with NULLs, several statements, server errors and
 * their SQLSTATE, COPY refused, bad arguments, one query at a time, cancellation and timeout scopes cancelling the
 * query on the server (pg_stat_activity shows it gone, the connection works on), a connection killed by the
 * server, and the pool: many tasks, 100 x pg_sleep(0.2) over 20 connections in about a second, waiting and
 * cancelled acquires, killed connections replaced. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "corio_pg.h"
#include "test.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* ---- the server: one per test binary ------------------------------------------------------------------------ */

static char conninfo[256];
static int server_port;
static pid_t server_pid, owner_pid;
static int server_ctl = -1; /* its stdin: end of file there stops it */
static char server_failure[4096];

/* The script next to the sources: from the current directory (make test runs at the top of the tree) or from
 * where this binary lives (build/<config>/tests/). */
static const char *script_path(char *buf, size_t len) {
    const char *rel = "tests/pg_server.sh";
    if (access(rel, R_OK) == 0) return rel;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return rel;
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    if (snprintf(buf, len, "%.3000s/../../../%s", exe, rel) >= (int)len) return rel;
    return buf;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

static void server_stop(void) {
    if (getpid() != owner_pid || server_ctl < 0) return; /* only the process that started it */
    close(server_ctl);
    server_ctl = -1;
    int st;
    while (waitpid(server_pid, &st, 0) < 0 && errno == EINTR) {
    }
}

/* Starts the server and waits for its "ready": 0, or -1 with server_failure saying why. */
static int server_start(void) {
    char buf[PATH_MAX], port[16];
    const char *script = script_path(buf, sizeof buf);
    server_port = free_port();
    snprintf(port, sizeof port, "%d", server_port);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execlp("sh", "sh", script, port, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    server_pid = pid;
    server_ctl = in[1];
    owner_pid = getpid();
    atexit(server_stop);
    size_t len = 0;
    ssize_t n;
    while (len < sizeof server_failure - 1 &&
           (n = read(out[0], server_failure + len, sizeof server_failure - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        len += (size_t)n;
        server_failure[len] = '\0';
        if (strcmp(server_failure, "ready\n") == 0) break;
    }
    server_failure[len] = '\0';
    close(out[0]);
    if (strcmp(server_failure, "ready\n") != 0) return -1;
    server_failure[0] = '\0';
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=corio password=secret dbname=postgres",
             server_port);
    return 0;
}

__attribute__((constructor)) static void server_setup(void) {
    if (server_start() < 0) {
        server_stop();
        if (!server_failure[0]) snprintf(server_failure, sizeof server_failure, "%s", strerror(errno));
    }
}

static void need_server(void) {
    if (server_failure[0]) TEST_FAIL_("the test server did not start: %s", server_failure);
}

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static corio_pg *conn_ok(void) {
    need_server();
    corio_pg *c = corio_pg_connect(conninfo);
    if (!c) TEST_FAIL_("connect: %s: %s", strerror(errno), corio_pg_last_error());
    return c;
}

/* A query whose single value comes back as text (malloc'd). */
static char *value(corio_pg *c, const char *sql) {
    PGresult *r;
    int rc = corio_pg_query(c, sql, 0, NULL, &r);
    if (rc != 0) TEST_FAIL_("%s: %s: %s", sql, corio_err_name(rc), corio_pg_error(c));
    ASSERT_EQ(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static int64_t int_value(corio_pg *c, const char *sql) {
    char *v = value(c, sql);
    int64_t n = atoll(v);
    free(v);
    return n;
}

/* Queries still running pg_sleep(10) on the server (the asking query itself excluded). */
static int64_t sleepers(corio_pg *c) {
    return int_value(c, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
                        "'SELECT pg_sleep(1_)%' AND pid <> pg_backend_pid()");
}

/* ---- connecting --------------------------------------------------------------------------------------------- */

static int t_connect_ok(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok();
    ASSERT_GT(PQbackendPID(corio_pg_conn(c)), 0);
    ASSERT_EQ(int_value(c, "SELECT 41 + 1"), 42);
    ASSERT_STREQ(corio_pg_error(c), "");
    ASSERT_RC(corio_pg_close(c), 0);
    return 0;
}
TEST(connect_ok) { run_ok(t_connect_ok, NULL); }

/* conninfo with one change, and the errno corio_pg_connect must fail with */
struct bad_connect {
    const char *conninfo;
    int err;
    const char *msg; /* part of corio_pg_last_error(), or NULL */
};

static int t_connect_bad(void *arg) {
    const struct bad_connect *b = arg;
    int64_t t0 = test_now_ms();
    corio_pg *c = corio_pg_connect(b->conninfo);
    int e = errno;
    if (c) TEST_FAIL_("%s: connected", b->conninfo);
    if (e != b->err)
        TEST_FAIL_("%s: got %s, want %s: %s", b->conninfo, corio_err_name(-e), corio_err_name(-b->err),
                   corio_pg_last_error());
    ASSERT_TRUE(corio_pg_last_error()[0] != '\0');
    if (b->msg && !strstr(corio_pg_last_error(), b->msg))
        TEST_FAIL_("message \"%s\" lacks \"%s\"", corio_pg_last_error(), b->msg);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(10000));
    return 0;
}

static void connect_bad(const char *fmt, int err, const char *msg) {
    need_server();
    char ci[512];
    snprintf(ci, sizeof ci, fmt, server_port);
    struct bad_connect b = {ci, err, msg};
    run_ok(t_connect_bad, &b);
}

TEST(connect_refused) {
    connect_bad("host=127.0.0.1 port=1 user=corio password=secret connect_timeout=10 application_name=%d", ECONNREFUSED,
                "refused");
}
TEST(connect_bad_password) {
    connect_bad("host=127.0.0.1 port=%d user=corio password=wrong dbname=postgres", EACCES,
                "password authentication failed");
}
TEST(connect_bad_user) {
    connect_bad("host=127.0.0.1 port=%d user=nosuch password=secret dbname=postgres", EACCES, NULL);
    connect_bad("host=127.0.0.1 port=%d user=nosuch dbname=postgres", EACCES, NULL); /* no password given */
}
TEST(connect_bad_database) {
    connect_bad("host=127.0.0.1 port=%d user=corio password=secret dbname=nosuch", ENOENT, "nosuch");
}
TEST(connect_unknown_host) {
    /* glibc keeps a resolver context per thread that valgrind reports lost when a pool thread outlives the case */
    if (RUNNING_ON_VALGRIND) {
        printf("connect_unknown_host: skipped under valgrind\n");
        return;
    }
    connect_bad("host=nosuch.invalid port=%d user=corio", ENOENT, NULL);
}
TEST(connect_garbage) {
    connect_bad("this is not a conninfo %d", EINVAL, NULL);
    connect_bad("host=127.0.0.1 port=%d nosuchoption=1", EINVAL, "nosuchoption");
    connect_bad("postgresql://[::1%d", EINVAL, NULL);
}

static int t_connect_null(void *arg) {
    (void)arg;
    ASSERT_NULL(corio_pg_connect(NULL));
    ASSERT_EQ(errno, EINVAL);
    return 0;
}
TEST(connect_bad_args) {
    run_ok(t_connect_null, NULL);
    need_server();
    ASSERT_NULL(corio_pg_connect(conninfo)); /* outside a loop */
    ASSERT_EQ(errno, EPERM);
}

/* A listener that never answers: the TCP handshake completes (the backlog does it), the startup packet is never
 * answered. */
static int t_connect_timeout(void *arg) {
    (void)arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 8);
    ASSERT_GE(lfd, 0);
    char ci[256];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=corio password=secret", corio_local_port(lfd));
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 200), 0);
    int64_t t0 = test_now_ms();
    ASSERT_NULL(corio_pg_connect(ci));
    ASSERT_EQ(errno, ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(3000));
    /* connect_timeout in the conninfo (libpq's PQconnectPoll ignores it; corio_pg honours it) */
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=corio password=secret connect_timeout=1",
             corio_local_port(lfd));
    t0 = test_now_ms();
    ASSERT_NULL(corio_pg_connect(ci));
    ASSERT_EQ(errno, ETIMEDOUT);
    ASSERT_GE(test_now_ms() - t0, 900);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(5000));
    ASSERT_RC(corio_close(lfd), 0);
    return 0;
}
TEST(connect_timeout) { run_ok(t_connect_timeout, NULL); }

static int cancel_me(void *arg) {
    (void)arg;
    int rc = corio_sleep(100);
    return rc;
}

static int t_connect_cancelled(void *arg) {
    (void)arg;
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_NULL(corio_pg_connect(conninfo));
    ASSERT_EQ(errno, ECANCELED);
    return 0;
}
TEST(connect_cancelled) {
    need_server();
    ASSERT_RC(corio_run(t_connect_cancelled, NULL), 0);
    (void)cancel_me;
}

/* ---- queries ------------------------------------------------------------------------------------------------ */

static int t_params(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok();
    const char *p[] = {"41", NULL, "h\xc3\xa9llo 'quoted' \"x\"", ""};
    PGresult *r;
    ASSERT_RC(corio_pg_query(c, "SELECT $1::int + 1, $2::text, $2::text IS NULL, $3::text, length($4::text)", 4, p, &r),
              0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    ASSERT_EQ(PQntuples(r), 1);
    ASSERT_EQ(PQnfields(r), 5);
    ASSERT_STREQ(PQgetvalue(r, 0, 0), "42");
    ASSERT_TRUE(PQgetisnull(r, 0, 1));
    ASSERT_STREQ(PQgetvalue(r, 0, 2), "t");
    ASSERT_STREQ(PQgetvalue(r, 0, 3), p[2]);
    ASSERT_STREQ(PQgetvalue(r, 0, 4), "0");
    PQclear(r);
    /* no result wanted */
    ASSERT_RC(corio_pg_query(c, "SELECT $1::int", 1, p, NULL), 0);
    ASSERT_RC(corio_pg_close(c), 0);
    return 0;
}
TEST(query_params) { run_ok(t_params, NULL); }

static int t_statements(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok();
    PGresult *r;
    ASSERT_RC(corio_pg_query(c,
                             "CREATE TEMP TABLE t (id int PRIMARY KEY, name text);"
                             "INSERT INTO t VALUES (1, 'one'), (2, NULL);"
                             "SELECT id, name FROM t ORDER BY id",
                             0, NULL, &r),
              0);
    ASSERT_EQ(PQntuples(r), 2);
    ASSERT_STREQ(PQgetvalue(r, 1, 0), "2");
    ASSERT_TRUE(PQgetisnull(r, 1, 1));
    PQclear(r);
    const char *p[] = {"3", "three"};
    ASSERT_EQ(corio_pg_exec(c, "INSERT INTO t VALUES ($1::int, $2)", 2, p), 1);
    ASSERT_EQ(corio_pg_exec(c, "UPDATE t SET name = 'x'", 0, NULL), 3);
    ASSERT_EQ(corio_pg_exec(c, "CREATE TEMP TABLE u (a int)", 0, NULL), 0);
    ASSERT_EQ(corio_pg_exec(c, "SELEC 1", 0, NULL), -EIO);
    ASSERT_EQ(int_value(c, "SELECT count(*) FROM t WHERE name = 'x'"), 3);
    ASSERT_RC(corio_pg_close(c), 0);
    return 0;
}
TEST(query_statements) { run_ok(t_statements, NULL); }

static void expect_sqlstate(corio_pg *c, const char *sql, int nparams, const char *const *p, const char *state) {
    PGresult *r;
    ASSERT_RC(corio_pg_query(c, sql, nparams, p, &r), -EIO);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
    ASSERT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), state);
    ASSERT_TRUE(strlen(corio_pg_error(c)) > 0);
    PQclear(r);
}

static int t_errors(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok();
    expect_sqlstate(c, "SELEKT 1", 0, NULL, "42601");
    ASSERT_EQ(corio_pg_exec(c, "CREATE TEMP TABLE k (id int PRIMARY KEY)", 0, NULL), 0);
    const char *p[] = {"7"};
    ASSERT_EQ(corio_pg_exec(c, "INSERT INTO k VALUES ($1::int)", 1, p), 1);
    expect_sqlstate(c, "INSERT INTO k VALUES ($1::int)", 1, p, "23505");
    const char *bad[] = {"not a number"};
    expect_sqlstate(c, "SELECT $1::int", 1, bad, "22P02");
    expect_sqlstate(c, "SELECT 1/0", 0, NULL, "22012");
    /* the first error of several statements is reported; the connection is fine afterwards */
    expect_sqlstate(c, "SELECT 1; SELECT 1/0; SELECT 2", 0, NULL, "22012");
    ASSERT_EQ(int_value(c, "SELECT count(*) FROM k"), 1);
    /* COPY is refused and leaves the connection usable */
    ASSERT_RC(corio_pg_query(c, "COPY (SELECT generate_series(1, 10000)) TO STDOUT", 0, NULL, NULL), -ENOTSUP);
    ASSERT_EQ(int_value(c, "SELECT 5"), 5);
    PGresult *r;
    ASSERT_RC(corio_pg_query(c, "COPY k FROM STDIN", 0, NULL, &r), -ENOTSUP);
    PQclear(r);
    ASSERT_EQ(int_value(c, "SELECT count(*) FROM k"), 1);
    ASSERT_RC(corio_pg_close(c), 0);
    return 0;
}
TEST(query_errors) { run_ok(t_errors, NULL); }

static corio_pg *outliving; /* a connection made in one loop and used after it */

static int t_bad_args(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok();
    PGresult *r = (PGresult *)1;
    const char *p[] = {"1"};
    ASSERT_RC(corio_pg_query(NULL, "SELECT 1", 0, NULL, &r), -EINVAL);
    ASSERT_NULL(r);
    ASSERT_RC(corio_pg_query(c, NULL, 0, NULL, &r), -EINVAL);
    ASSERT_RC(corio_pg_query(c, "SELECT 1", -1, p, &r), -EINVAL);
    ASSERT_RC(corio_pg_query(c, "SELECT $1", 1, NULL, &r), -EINVAL);
    ASSERT_RC(corio_pg_exec(NULL, "SELECT 1", 0, NULL), -EINVAL);
    ASSERT_NULL(corio_pg_error(NULL));
    ASSERT_NULL(corio_pg_conn(NULL));
    ASSERT_RC(corio_pg_close(NULL), -EINVAL);
    /* wrong parameter count: the server says so */
    ASSERT_RC(corio_pg_query(c, "SELECT $1::int, $2::int", 1, p, NULL), -EIO);
    ASSERT_NULL(corio_pg_pool_acquire(NULL));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_RC(corio_pg_pool_release(NULL, c), -EINVAL);
    ASSERT_RC(corio_pg_pool_query(NULL, "SELECT 1", 0, NULL, NULL), -EINVAL);
    corio_pg_pool *pool = corio_pg_pool_new(conninfo, 1);
    ASSERT_NOT_NULL(pool);
    ASSERT_RC(corio_pg_pool_release(pool, c), -EINVAL); /* not from this pool */
    ASSERT_RC(corio_pg_pool_release(pool, NULL), -EINVAL);
    ASSERT_RC(corio_pg_pool_query(pool, NULL, 0, NULL, NULL), -EINVAL);
    ASSERT_RC(corio_pg_pool_free(pool), 0);
    ASSERT_RC(corio_pg_pool_free(NULL), 0);
    outliving = c;
    return 0;
}
TEST(bad_args) {
    run_ok(t_bad_args, NULL);
    ASSERT_RC(corio_pg_query(outliving, "SELECT 1", 0, NULL, NULL), -EPERM); /* outside a loop */
    ASSERT_RC(corio_pg_close(outliving), 0);
    ASSERT_NULL(corio_pg_pool_new(NULL, 1));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_pg_pool_new(conninfo, 0));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_pg_pool_new("garbage", 1));
    ASSERT_EQ(errno, EINVAL);
}

struct shared {
    corio_pg *c;
    int rc;
};

static int sleeper_task(void *arg) {
    struct shared *s = arg;
    s->rc = corio_pg_query(s->c, "SELECT pg_sleep(0.3)", 0, NULL, NULL);
    return 0;
}

static int t_busy(void *arg) {
    (void)arg;
    struct shared s = {conn_ok(), 1};
    corio_task *t = test_spawn(sleeper_task, &s);
    test_settle();
    ASSERT_RC(corio_pg_query(s.c, "SELECT 1", 0, NULL, NULL), -EBUSY);
    ASSERT_RC(corio_pg_close(s.c), -EBUSY);
    /* the loop runs on while the query runs */
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_sleep(50), 0);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(250));
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(s.rc, 0);
    ASSERT_RC(corio_pg_close(s.c), 0);
    return 0;
}
TEST(query_busy) { run_ok(t_busy, NULL); }

/* ---- cancellation ------------------------------------------------------------------------------------------- */

static int t_timeout_cancels(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok(), *watcher = conn_ok();
    ASSERT_EQ(sleepers(watcher), 0);
    for (int round = 0; round < 2; round++) {
        corio_timeout scope;
        ASSERT_RC(corio_timeout_enter(&scope, 200), 0);
        int64_t t0 = test_now_ms();
        PGresult *r = (PGresult *)1;
        ASSERT_RC(corio_pg_query(c, "SELECT pg_sleep(10)", 0, NULL, &r), -ETIMEDOUT);
        int64_t ms = test_now_ms() - t0;
        ASSERT_NULL(r);
        ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
        ASSERT_GE(ms, 150);
        ASSERT_LT(ms, test_bound_ms(1500));
        /* the next query waits for the clean-up, then runs */
        ASSERT_EQ(int_value(c, "SELECT 7"), 7);
        int64_t total = test_now_ms() - t0;
        printf("pg_sleep(10) under a 200 ms timeout: -ETIMEDOUT after %lld ms, connection usable again after %lld "
               "ms\n",
               (long long)ms, (long long)total);
        ASSERT_LT(total, test_bound_ms(5000));
        ASSERT_EQ(sleepers(watcher), 0);
    }
    ASSERT_RC(corio_pg_close(c), 0);
    ASSERT_RC(corio_pg_close(watcher), 0);
    return 0;
}
TEST(timeout_cancels_on_server) { run_ok(t_timeout_cancels, NULL); }

static int long_query(void *arg) {
    struct shared *s = arg;
    s->rc = corio_pg_query(s->c, "SELECT pg_sleep(11)", 0, NULL, NULL);
    return s->rc;
}

static int t_cancel_cancels(void *arg) {
    (void)arg;
    struct shared s = {conn_ok(), 1};
    corio_pg *watcher = conn_ok();
    corio_task *t = test_spawn(long_query, &s);
    ASSERT_RC(corio_sleep(300), 0);
    ASSERT_EQ(sleepers(watcher), 1); /* it runs */
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(1000));
    ASSERT_EQ(int_value(s.c, "SELECT 8"), 8);
    ASSERT_EQ(sleepers(watcher), 0);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(5000));
    ASSERT_RC(corio_pg_close(s.c), 0);
    ASSERT_RC(corio_pg_close(watcher), 0);
    return 0;
}
TEST(cancel_cancels_on_server) { run_ok(t_cancel_cancels, NULL); }

/* Closing a connection whose cancelled query is still being cleaned up, and ending the loop meanwhile. */
static int t_close_while_draining(void *arg) {
    (void)arg;
    corio_pg *watcher = conn_ok();
    for (int i = 0; i < 2; i++) {
        corio_pg *c = conn_ok();
        corio_timeout scope;
        ASSERT_RC(corio_timeout_enter(&scope, 100), 0);
        ASSERT_RC(corio_pg_query(c, "SELECT pg_sleep(10)", 0, NULL, NULL), -ETIMEDOUT);
        corio_timeout_exit(&scope);
        ASSERT_RC(corio_pg_close(c), 0);
    }
    int64_t t0 = test_now_ms();
    while (sleepers(watcher) > 0) {
        ASSERT_LT(test_now_ms() - t0, test_bound_ms(5000));
        ASSERT_RC(corio_sleep(50), 0);
    }
    /* the loop ends while one still cleans up: the helper gives up, the connection is closed afterwards */
    corio_pg *c = conn_ok();
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 100), 0);
    ASSERT_RC(corio_pg_query(c, "SELECT pg_sleep(10)", 0, NULL, NULL), -ETIMEDOUT);
    corio_timeout_exit(&scope);
    outliving = c;
    ASSERT_RC(corio_pg_close(watcher), 0);
    return 0;
}
TEST(close_while_draining) {
    run_ok(t_close_while_draining, NULL);
    ASSERT_RC(corio_pg_close(outliving), 0);
}

/* ---- a connection killed by the server ---------------------------------------------------------------------- */

static void terminate(corio_pg *killer, int pid) {
    char p[16];
    snprintf(p, sizeof p, "%d", pid);
    const char *params[] = {p};
    PGresult *r;
    /* with a timeout, pg_terminate_backend waits until the backend has exited */
    ASSERT_RC(corio_pg_query(killer, "SELECT pg_terminate_backend($1::int, 5000)", 1, params, &r), 0);
    ASSERT_STREQ(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
}

static int t_killed(void *arg) {
    (void)arg;
    corio_pg *c = conn_ok(), *killer = conn_ok();
    terminate(killer, PQbackendPID(corio_pg_conn(c)));
    PGresult *r;
    ASSERT_RC(corio_pg_query(c, "SELECT 1", 0, NULL, &r), -ECONNRESET);
    if (r) { /* the server's last words */
        ASSERT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57P01");
        PQclear(r);
    }
    ASSERT_TRUE(strlen(corio_pg_error(c)) > 0);
    ASSERT_RC(corio_pg_query(c, "SELECT 1", 0, NULL, NULL), -ECONNRESET);
    ASSERT_RC(corio_pg_close(c), 0);
    ASSERT_RC(corio_pg_close(killer), 0);
    return 0;
}
TEST(killed_by_server) { run_ok(t_killed, NULL); }

static int t_pool_replaces(void *arg) {
    (void)arg;
    need_server();
    corio_pg *killer = conn_ok();
    corio_pg_pool *pool = corio_pg_pool_new(conninfo, 1);
    ASSERT_NOT_NULL(pool);
    PGresult *r;
    ASSERT_RC(corio_pg_pool_query(pool, "SELECT pg_backend_pid()", 0, NULL, &r), 0);
    int pid = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    terminate(killer, pid);
    /* found broken when acquired, replaced */
    ASSERT_RC(corio_pg_pool_query(pool, "SELECT pg_backend_pid()", 0, NULL, &r), 0);
    int pid2 = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    ASSERT_NE(pid, pid2);
    /* broken while acquired: -ECONNRESET, and release closes it */
    corio_pg *c = corio_pg_pool_acquire(pool);
    ASSERT_NOT_NULL(c);
    terminate(killer, pid2);
    ASSERT_RC(corio_pg_query(c, "SELECT 1", 0, NULL, NULL), -ECONNRESET);
    ASSERT_RC(corio_pg_close(c), -EINVAL);        /* the pool's */
    ASSERT_RC(corio_pg_pool_release(pool, c), 0); /* closes it: c is gone */
    ASSERT_EQ(corio_pg_pool_query(pool, "SELECT 1", 0, NULL, NULL), 0);
    ASSERT_RC(corio_pg_pool_free(pool), 0);
    ASSERT_RC(corio_pg_close(killer), 0);
    return 0;
}
TEST(pool_replaces_killed) { run_ok(t_pool_replaces, NULL); }

/* ---- the pool ----------------------------------------------------------------------------------------------- */

struct pool_job {
    corio_pg_pool *pool;
    int id, rounds;
    int pid; /* backend that served it */
};

static int sleep_job(void *arg) {
    struct pool_job *j = arg;
    PGresult *r;
    int rc = corio_pg_pool_query(j->pool, "SELECT pg_sleep(0.2), pg_backend_pid()", 0, NULL, &r);
    if (rc == 0) j->pid = atoi(PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc;
}

static int t_pool_sleeps(void *arg) {
    (void)arg;
    need_server();
    enum { N = 100, SIZE = 20 };
    corio_pg_pool *pool = corio_pg_pool_new(conninfo, SIZE);
    ASSERT_NOT_NULL(pool);
    static struct pool_job jobs[N];
    corio_task *t[N];
    int64_t t0 = test_now_ms();
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct pool_job){pool, i, 1, 0};
        t[i] = test_spawn(sleep_job, &jobs[i]);
    }
    ASSERT_RC(corio_gather(t, N, NULL), 0);
    int64_t ms = test_now_ms() - t0;
    printf("100 x SELECT pg_sleep(0.2) over a pool of 20: %lld ms (serially: 20000 ms)\n", (long long)ms);
    ASSERT_LT(ms, test_small() ? 15000 : 5000);
    int pids[N], npids = 0;
    for (int i = 0; i < N; i++) {
        int k = 0;
        while (k < npids && pids[k] != jobs[i].pid) k++;
        if (k == npids) pids[npids++] = jobs[i].pid;
    }
    ASSERT_LE(npids, SIZE);
    ASSERT_RC(corio_pg_pool_free(pool), 0);
    return 0;
}
TEST(pool_100_sleeps) { run_ok(t_pool_sleeps, NULL); }

static int many_job(void *arg) {
    struct pool_job *j = arg;
    for (int i = 0; i < j->rounds; i++) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", j->id);
        snprintf(b, sizeof b, "%d", i);
        const char *p[] = {a, b};
        PGresult *r;
        int rc = corio_pg_pool_query(j->pool, "SELECT $1::int * 1000 + $2::int", 2, p, &r);
        if (rc != 0) {
            PQclear(r);
            return rc;
        }
        ASSERT_EQ(atoi(PQgetvalue(r, 0, 0)), j->id * 1000 + i);
        PQclear(r);
    }
    return 0;
}

static int t_pool_many(void *arg) {
    (void)arg;
    need_server();
    int n = test_small() ? 20 : 200, rounds = test_small() ? 5 : 20;
    corio_pg_pool *pool = corio_pg_pool_new(conninfo, 8);
    ASSERT_NOT_NULL(pool);
    struct pool_job *jobs = calloc((size_t)n, sizeof *jobs);
    corio_task **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        jobs[i] = (struct pool_job){pool, i, rounds, 0};
        t[i] = test_spawn(many_job, &jobs[i]);
    }
    ASSERT_RC(corio_gather(t, (size_t)n, NULL), 0);
    ASSERT_RC(corio_pg_pool_free(pool), 0);
    free(jobs);
    free(t);
    return 0;
}
TEST(pool_many_tasks) { run_ok(t_pool_many, NULL); }

static int acquire_task(void *arg) {
    corio_pg_pool *pool = arg;
    corio_pg *c = corio_pg_pool_acquire(pool);
    if (c) {
        corio_pg_pool_release(pool, c);
        return 0;
    }
    return -errno;
}

static int t_pool_acquire(void *arg) {
    (void)arg;
    need_server();
    corio_pg_pool *pool = corio_pg_pool_new(conninfo, 1);
    corio_pg *c = corio_pg_pool_acquire(pool);
    ASSERT_NOT_NULL(c);
    corio_task *waiter = test_spawn(acquire_task, pool), *cancelled = test_spawn(acquire_task, pool);
    test_settle();
    ASSERT_RC(corio_task_done(waiter), 0);
    ASSERT_RC(corio_pg_pool_free(pool), -EBUSY); /* acquired, and waited on */
    ASSERT_RC(corio_cancel(cancelled), 0);
    ASSERT_RC(corio_await(cancelled), -ECANCELED);
    /* a timeout scope, too */
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 50), 0);
    ASSERT_NULL(corio_pg_pool_acquire(pool));
    ASSERT_EQ(errno, ETIMEDOUT);
    corio_timeout_exit(&scope);
    ASSERT_RC(corio_pg_pool_release(pool, c), 0);
    ASSERT_RC(corio_pg_pool_release(pool, c), -EINVAL); /* twice */
    ASSERT_RC(corio_await(waiter), 0);
    /* a connection returned mid clean-up is reused once the clean-up is done */
    c = corio_pg_pool_acquire(pool);
    ASSERT_RC(corio_timeout_enter(&scope, 100), 0);
    ASSERT_RC(corio_pg_query(c, "SELECT pg_sleep(10)", 0, NULL, NULL), -ETIMEDOUT);
    corio_timeout_exit(&scope);
    ASSERT_RC(corio_pg_pool_release(pool, c), 0);
    PGresult *r;
    ASSERT_RC(corio_pg_pool_query(pool, "SELECT 9", 0, NULL, &r), 0);
    ASSERT_STREQ(PQgetvalue(r, 0, 0), "9");
    PQclear(r);
    ASSERT_RC(corio_pg_pool_free(pool), 0);
    /* a pool whose server refuses: the acquire fails with the connection's error, the permit is returned */
    char ci[128];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=corio password=wrong", server_port);
    pool = corio_pg_pool_new(ci, 1);
    for (int i = 0; i < 2; i++) ASSERT_RC(corio_pg_pool_query(pool, "SELECT 1", 0, NULL, NULL), -EACCES);
    ASSERT_RC(corio_pg_pool_free(pool), 0);
    return 0;
}
TEST(pool_acquire_wait_cancel) { run_ok(t_pool_acquire, NULL); }
