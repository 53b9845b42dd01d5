/* tour.c - the demo of `make run`: the asyncio article's ideas walked through in C, each step printing what
 * happened and how long it took, ending with the reason for it all: one thread serving a thousand connections. */
#include <corio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int64_t t0;
#define SAY(...)                                                                                                       \
    do {                                                                                                               \
        printf("[%5lld ms] ", (long long)(corio_now() - t0));                                                          \
        printf(__VA_ARGS__);                                                                                           \
        putchar('\n');                                                                                                 \
        fflush(stdout);                                                                                                \
    } while (0)

/* 1. A coroutine that sleeps: `await asyncio.sleep(1)`. */
static int my_coroutine(void *arg) {
    (void)arg;
    return corio_sleep(1000); /* suspends this task only; the loop runs others meanwhile */
}

/* 2. Many at once: gather 10,000 sleepers. */
static int sleeper(void *arg) {
    int *done = arg;
    int rc = corio_sleep(1000);
    if (rc == 0) (*done)++;
    return rc;
}

/* 3. Errors travel like exceptions: a task's negative status reaches whoever awaits it. */
static int flaky_api_call(void *arg) {
    (void)arg;
    corio_sleep(100);
    return -ECONNREFUSED;
}

/* 4/5. A slow job, to time out and to cancel. */
static int slow_job(void *arg) {
    const char *who = arg;
    int rc = corio_sleep(10000);
    if (rc == -ECANCELED) SAY("  %s saw -ECANCELED at its sleep and cleans up", who);
    return rc;
}

/* 6. Producer/consumer over a bounded queue. */
struct pc {
    corio_queue *q;
    int consumed;
    long sum;
};

static int producer(void *arg) {
    struct pc *pc = arg;
    for (intptr_t i = 1; i <= 100; i++) {
        int rc = corio_queue_put(pc->q, (void *)i); /* waits while the queue (capacity 8) is full */
        if (rc < 0) return rc;
    }
    corio_queue_close(pc->q); /* consumers drain what is left, then see -EPIPE */
    return 0;
}

static int consumer(void *arg) {
    struct pc *pc = arg;
    void *item;
    int rc;
    while ((rc = corio_queue_get(pc->q, &item)) == 0) {
        pc->consumed++;
        pc->sum += (intptr_t)item;
        corio_sleep(1); /* pretend to work */
    }
    return rc == -EPIPE ? 0 : rc;
}

/* 7. A group where one failure stops its siblings. */
static int worker(void *arg) {
    intptr_t n = (intptr_t)arg;
    if (n == 3) {
        corio_sleep(200);
        SAY("  worker 3 fails with -EIO");
        return -EIO;
    }
    int rc = corio_sleep(5000);
    if (rc == -ECANCELED) SAY("  worker %d cancelled by its group", (int)n);
    return rc;
}

/* 8. I/O: an echo server and 1,000 concurrent clients, all in this one thread. */
static int echo_handler(int fd, void *arg) {
    (void)arg;
    char buf[4096];
    ssize_t n;
    while ((n = corio_read(fd, buf, sizeof buf)) > 0)
        if (corio_write(fd, buf, (size_t)n) < 0) break;
    return 0;
}

struct load {
    int port;
    int64_t until;
    long trips;
    int failures;
};

static int echo_client(void *arg) {
    struct load *ld = arg;
    int fd = corio_tcp_connect("127.0.0.1", ld->port);
    if (fd < 0) {
        ld->failures++;
        return fd;
    }
    char msg[64], back[64];
    memset(msg, 'x', sizeof msg);
    int rc = 0;
    while (rc == 0 && corio_now() < ld->until) {
        if ((rc = (int)corio_write(fd, msg, sizeof msg)) < 0) break;
        size_t got = 0;
        while (got < sizeof back) {
            ssize_t n = corio_read(fd, back + got, sizeof back - got);
            if (n <= 0) {
                rc = n < 0 ? (int)n : -ECONNRESET;
                break;
            }
            got += (size_t)n;
        }
        if (rc < 0) break;
        rc = 0;
        ld->trips++;
    }
    if (rc < 0) ld->failures++;
    corio_close(fd);
    return rc;
}

static int run_server(void *arg) { return corio_server_run(arg); }

#if defined(CORIO_HAVE_CURL) || defined(CORIO_HAVE_SQLITE) || defined(CORIO_HAVE_PG)
/* A one-at-a-time version and a concurrent version of the same jobs, timed: what the article promises. */
struct jobs {
    const char *what;
    int n;
    corio_fn job; /* job(&jobs->arg[i]) */
    void *ctx;
    int failures;
};
struct job_arg {
    struct jobs *jobs;
    int i;
};

static int run_both_ways(struct jobs *j) {
    enum { MAXJ = 64 };
    struct job_arg args[MAXJ];
    corio_task *ts[MAXJ];
    int statuses[MAXJ];
    if (j->n > MAXJ) return -EINVAL;
    int64_t s = corio_now();
    for (int i = 0; i < j->n; i++) {
        args[i] = (struct job_arg){j, i};
        if (j->job(&args[i]) < 0) j->failures++; /* await each before the next: the synchronous way */
    }
    int64_t one_by_one = corio_now() - s;
    s = corio_now();
    for (int i = 0; i < j->n; i++) ts[i] = corio_spawn(j->job, &args[i]);
    int rc = corio_gather(ts, (size_t)j->n, statuses);
    int64_t together = corio_now() - s;
    for (int i = 0; i < j->n && rc == 0; i++)
        if (statuses[i] < 0) j->failures++;
    SAY("   %d %s: one at a time %lld ms, concurrently %lld ms (%d failures)", j->n, j->what, (long long)one_by_one,
        (long long)together, j->failures);
    return rc;
}
#endif

/* 9. Reading from a database: 20 lookups that each take 50 ms in the database. */
#ifdef CORIO_HAVE_PG
#include <corio_pg.h>
static int pg_lookup(void *arg) { /* CORIO_PG=postgresql://...: the server does the waiting */
    struct job_arg *a = arg;
    char id[16];
    snprintf(id, sizeof id, "%d", a->i);
    const char *params[] = {id};
    PGresult *res = NULL;
    int rc = corio_pg_pool_query(a->jobs->ctx, "SELECT pg_sleep(0.05), $1::int", 1, params, &res);
    PQclear(res);
    return rc;
}
#endif
#ifdef CORIO_HAVE_SQLITE
#include <sqlite3.h>
#include <corio_sqlite.h>
#include <unistd.h>
enum { DB_CONNS = 4 };
/* slow(ms): a read from a slow disk, simulated on the pool thread running the statement */
static void sql_slow(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    usleep((useconds_t)sqlite3_value_int(argv[0]) * 1000);
    sqlite3_result_int(ctx, 1);
}
static int add_slow(sqlite3 *h, void *arg) {
    (void)arg;
    return corio_sqlite_error(sqlite3_create_function_v2(h, "slow", 1, SQLITE_UTF8, NULL, sql_slow, NULL, NULL, NULL));
}
static int sqlite_lookup(void *arg) { /* one connection runs one statement at a time: spread over DB_CONNS */
    struct job_arg *a = arg;
    corio_sqlite **conns = a->jobs->ctx;
    char id[16];
    snprintf(id, sizeof id, "%d", a->i + 1);
    const char *params[] = {id};
    return corio_sqlite_query(conns[a->i % DB_CONNS], "SELECT name FROM users WHERE slow(50) AND id = ?", 1, params,
                              NULL);
}
#endif

static int tour_database(void) {
#ifdef CORIO_HAVE_PG
    const char *pg = getenv("CORIO_PG");
    if (pg && *pg) {
        SAY("9. reading from a database: PostgreSQL (CORIO_PG), a pool of 20 connections");
        corio_pg_pool *pool = corio_pg_pool_new(pg, 20);
        if (!pool) return -errno;
        struct jobs j = {.what = "queries of 50 ms", .n = 20, .job = pg_lookup, .ctx = pool};
        int rc = run_both_ways(&j);
        corio_pg_pool_free(pool);
        return rc;
    }
#endif
#ifdef CORIO_HAVE_SQLITE
    SAY("9. reading from a database: SQLite on the thread pool, %d connections (CORIO_PG=postgresql://... for "
        "PostgreSQL)",
        DB_CONNS);
    char dir[] = "/tmp/corio-tour-XXXXXX", path[64];
    if (!mkdtemp(dir)) return -errno;
    snprintf(path, sizeof path, "%s/tour.db", dir);
    corio_sqlite *conns[DB_CONNS] = {NULL};
    int rc = 0;
    for (int i = 0; i < DB_CONNS && rc == 0; i++)
        rc = (conns[i] = corio_sqlite_open(path, 0)) ? corio_sqlite_call(conns[i], add_slow, NULL) : -errno;
    if (rc == 0)
        rc = corio_sqlite_exec(conns[0], "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);"
                                         "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 100)"
                                         "INSERT INTO users(name) SELECT 'user' || v FROM n");
    if (rc == 0) {
        struct jobs j = {.what = "lookups of 50 ms", .n = 20, .job = sqlite_lookup, .ctx = conns};
        rc = run_both_ways(&j);
    } else {
        SAY("   cannot set up %s: %s", path, corio_strerror(rc));
    }
    for (int i = 0; i < DB_CONNS; i++) corio_sqlite_close(conns[i]);
    unlink(path);
    rmdir(dir);
    return rc;
#else
    SAY("9. (reading from a database needs the SQLite module (libsqlite3-dev) or PostgreSQL (libpq-dev))");
    return 0;
#endif
}

#ifdef CORIO_HAVE_CURL
#include <corio_curl.h>
/* 10. Making API calls: a local "API" whose every answer takes 100 ms, called with corio's HTTP client. */
static int api_handler(int fd, void *arg) {
    (void)arg;
    char req[2048];
    size_t got = 0;
    while (got < sizeof req - 1) { /* the request head: up to the blank line */
        ssize_t n = corio_read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0) return (int)n;
        got += (size_t)n;
        req[got] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    int rc = corio_sleep(100); /* the API's own latency: a database behind it, say */
    if (rc < 0) return rc;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
                                "Connection: close\r\n\r\n{\"answer\": \"yes\"}";
    return corio_write(fd, reply, sizeof reply - 1) < 0 ? -EIO : 0;
}

static int api_call(void *arg) {
    struct job_arg *a = arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/item/%d", *(int *)a->jobs->ctx, a->i);
    corio_http_resp resp;
    int rc = corio_http_get(url, &resp);
    if (rc == 0 && resp.status != 200) rc = -EPROTO;
    corio_http_resp_free(&resp);
    return rc;
}

static int tour_api_calls(void) {
    SAY("10. making API calls: 20 HTTP requests to a local API that answers in 100 ms");
    corio_server *srv = corio_server_new("127.0.0.1", 0, api_handler, NULL, NULL);
    if (!srv) return -errno;
    corio_task *server = corio_spawn(run_server, srv);
    int port = corio_server_port(srv);
    struct jobs j = {.what = "requests", .n = 20, .job = api_call, .ctx = &port};
    int rc = run_both_ways(&j);
    corio_server_stop(srv);
    corio_await(server);
    corio_server_free(srv);
    return rc;
}
#endif

static int tour(void *arg) {
    (void)arg;
    t0 = corio_now();

    SAY("1. a coroutine that sleeps 1 s");
    int64_t s = corio_now();
    corio_await(corio_spawn(my_coroutine, NULL));
    SAY("   done after %lld ms", (long long)(corio_now() - s));

    enum { N = 10000 };
    SAY("2. gather %d tasks that each sleep 1 s", N);
    corio_task **ts = malloc(N * sizeof *ts);
    if (!ts) return -ENOMEM;
    int done = 0;
    s = corio_now();
    for (int i = 0; i < N; i++) ts[i] = corio_spawn(sleeper, &done);
    int rc = corio_gather(ts, N, NULL);
    free(ts);
    SAY("   %d tasks finished in %lld ms (rc %d), not %d s", done, (long long)(corio_now() - s), rc, N);

    SAY("3. a failing task: its error is caught and reported");
    rc = corio_await(corio_spawn(flaky_api_call, NULL));
    if (rc < 0) SAY("   caught %s (%s)", corio_err_name(rc), corio_strerror(rc));

    SAY("4. a timeout: wait_for a 10 s job with a 300 ms deadline");
    s = corio_now();
    rc = corio_wait_for(corio_spawn(slow_job, "the slow job"), 300);
    SAY("   wait_for returned %s after %lld ms", corio_err_name(rc), (long long)(corio_now() - s));
    corio_timeout scope;
    corio_timeout_enter(&scope, 200);
    rc = corio_sleep(10000);
    SAY("   inside a 200 ms timeout scope, a 10 s sleep returned %s; scope exit: %s", corio_err_name(rc),
        corio_err_name(corio_timeout_exit(&scope)));

    SAY("5. a cancellation");
    corio_task *victim = corio_spawn(slow_job, "the victim");
    corio_sleep(100);
    corio_cancel(victim);
    rc = corio_await(victim);
    SAY("   the victim ended with %s", corio_err_name(rc));

    SAY("6. producer/consumer over a queue of capacity 8, 3 consumers");
    struct pc pc = {.q = corio_queue_new(8)};
    if (!pc.q) return -ENOMEM;
    corio_task *pcs[4] = {corio_spawn(producer, &pc), corio_spawn(consumer, &pc), corio_spawn(consumer, &pc),
                          corio_spawn(consumer, &pc)};
    s = corio_now();
    rc = corio_gather(pcs, 4, NULL);
    corio_queue_free(pc.q);
    SAY("   consumed %d items, sum %ld (expected 5050), rc %d, in %lld ms", pc.consumed, pc.sum, rc,
        (long long)(corio_now() - s));

    SAY("7. a task group where one failure stops its siblings");
    corio_group *g = corio_group_new();
    if (!g) return -ENOMEM;
    for (intptr_t i = 1; i <= 5; i++) corio_group_spawn(g, worker, (void *)i);
    s = corio_now();
    rc = corio_group_wait(g);
    SAY("   the group returned %s after %lld ms (its siblings would have slept 5 s)", corio_err_name(rc),
        (long long)(corio_now() - s));
    enum { CLIENTS = 1000, LOAD_MS = 2000 };
    SAY("8. I/O: an echo server and %d concurrent clients in this one thread, for %d ms", CLIENTS, LOAD_MS);
    corio_server *srv = corio_server_new("127.0.0.1", 0, echo_handler, NULL, NULL);
    if (!srv) {
        SAY("   cannot start the echo server: %s", strerror(errno));
        return -errno;
    }
    corio_task *server = corio_spawn(run_server, srv);
    struct load ld = {.port = corio_server_port(srv), .until = corio_now() + LOAD_MS};
    corio_task **clients = malloc(CLIENTS * sizeof *clients);
    if (!clients) return -ENOMEM;
    s = corio_now();
    for (int i = 0; i < CLIENTS; i++) clients[i] = corio_spawn(echo_client, &ld);
    corio_gather(clients, CLIENTS, NULL);
    int64_t took = corio_now() - s;
    free(clients);
    corio_server_stop(srv);
    corio_await(server);
    corio_server_free(srv);
    SAY("   %ld round trips of 64 bytes in %lld ms: %.0f round trips per second (%d client failures)", ld.trips,
        (long long)took, took > 0 ? ld.trips * 1000.0 / (double)took : 0.0, ld.failures);
    tour_database();
#ifdef CORIO_HAVE_CURL
    tour_api_calls();
#else
    SAY("10. (making API calls needs the HTTP client module: install libcurl4-openssl-dev and rebuild)");
#endif
    SAY("tour complete");
    return 0;
}

int main(void) {
    /* 1,000 clients and the server's 1,000 connections need more descriptors than the usual soft limit of 1024 */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    corio_pool_set_size(8); /* the database step reads on 4 connections at once: room for them and more */
    int rc = corio_run(tour, NULL);
    if (rc < 0) fprintf(stderr, "tour failed: %s\n", corio_strerror(rc));
    return rc < 0;
}
