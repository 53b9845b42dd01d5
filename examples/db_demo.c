/* db_demo.c - reading from a database without blocking the loop (corio_sqlite, on the thread pool): 20 lookups
 * that each take about 50 ms inside SQLite (a slow disk, simulated by an SQL function that sleeps), first one
 * after the other, then all at once from 20 tasks over a small pool of 4 connections (one connection runs one
 * statement at a time). Build with the SQLite module (Debian: libsqlite3-dev); run build/.../examples/db_demo. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio_sqlite.h"

#define QUERIES 20
#define CONNS 4
#define SLOW_MS 50

/* slow(ms): sleeps on its pool thread as a read from a slow disk would, and returns 1 */
static void sql_slow(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    usleep((useconds_t)sqlite3_value_int(argv[0]) * 1000);
    sqlite3_result_int(ctx, 1);
}

static int add_slow(sqlite3 *h, void *arg) {
    (void)arg;
    return corio_sqlite_error(sqlite3_create_function_v2(h, "slow", 1, SQLITE_UTF8, NULL, sql_slow, NULL, NULL, NULL));
}

/* One lookup: the name of user id, after a slow read. */
static int lookup(corio_sqlite *db, int id, char *name, size_t len) {
    char idtext[16], ms[16];
    snprintf(idtext, sizeof idtext, "%d", id);
    snprintf(ms, sizeof ms, "%d", SLOW_MS);
    const char *params[] = {ms, idtext};
    corio_sqlite_rows *rows = NULL;
    int rc = corio_sqlite_query(db, "SELECT name FROM users WHERE slow(?) AND id = ?", 2, params, &rows);
    if (rc == 0) snprintf(name, len, "%s", corio_sqlite_rows_count(rows) ? corio_sqlite_rows_text(rows, 0, 0) : "?");
    corio_sqlite_rows_free(rows);
    return rc;
}

struct job {
    corio_sqlite *db;
    int id;
    char name[32];
};

static int lookup_task(void *arg) {
    struct job *j = arg;
    return lookup(j->db, j->id, j->name, sizeof j->name);
}

static int64_t ms_since(int64_t t0) { return corio_now() - t0; }

static int db_demo(void *arg) {
    const char *path = arg;
    corio_sqlite *conn[CONNS] = {NULL};
    int rc = 0;
    for (int i = 0; i < CONNS && rc == 0; i++) {
        if (!(conn[i] = corio_sqlite_open(path, 0)))
            rc = -errno;
        else
            rc = corio_sqlite_call(conn[i], add_slow, NULL);
    }
    if (rc == 0)
        rc = corio_sqlite_exec(conn[0], "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);"
                                        "INSERT INTO users(name) SELECT 'user' || value FROM "
                                        "(WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n "
                                        "WHERE value < 100) SELECT value FROM n)");
    if (rc < 0) {
        fprintf(stderr, "db_demo: setting up %s: %s %s\n", path, corio_strerror(rc), corio_sqlite_errmsg(conn[0]));
        goto out;
    }

    /* one after the other: each lookup waits for the one before */
    int64_t t0 = corio_now();
    char name[32];
    for (int i = 0; i < QUERIES && rc == 0; i++) rc = lookup(conn[0], i + 1, name, sizeof name);
    int64_t serial_ms = ms_since(t0);
    if (rc == 0)
        printf("%d lookups one at a time:           %4lld ms (last: %s)\n", QUERIES, (long long)serial_ms, name);

    /* all at once: 20 tasks, spread over the connections; each connection takes its tasks in turn */
    struct job jobs[QUERIES];
    corio_task *tasks[QUERIES];
    size_t n = 0;
    t0 = corio_now();
    for (int i = 0; i < QUERIES && rc == 0; i++) {
        jobs[i] = (struct job){conn[i % CONNS], i + 1, ""};
        if (!(tasks[n] = corio_spawn(lookup_task, &jobs[i])))
            rc = -errno;
        else
            n++;
    }
    int grc = corio_gather(tasks, n, NULL);
    if (rc == 0) rc = grc;
    int64_t conc_ms = ms_since(t0);
    if (rc == 0)
        printf("%d lookups at once on %d connections: %4lld ms (%.1fx faster; last: %s)\n", QUERIES, CONNS,
               (long long)conc_ms, conc_ms > 0 ? (double)serial_ms / (double)conc_ms : 0.0, jobs[QUERIES - 1].name);
    else
        fprintf(stderr, "db_demo: %s\n", corio_strerror(rc));
out:
    for (int i = 0; i < CONNS; i++) corio_sqlite_close(conn[i]);
    return rc;
}

int main(void) {
    char dir[] = "/tmp/corio-db-demo-XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/demo.db", dir);
    corio_pool_set_size(CONNS); /* one pool thread per connection: they all read at once */
    int rc = corio_run(db_demo, path);
    unlink(path);
    rmdir(dir);
    return rc == 0 ? 0 : 1;
}
