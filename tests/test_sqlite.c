/* test_sqlite.c - tests of the SQLite module (corio_sqlite.h) on databases in a temporary directory: create,
 * insert and select with text, NULL and integer parameters, the error mapping (syntax errors, constraint
 * violations, missing and read-only files), bad arguments, many tasks sharing one connection (FIFO, never two
 * statements at once, checked by an SQL function that counts how many run), the loop running on while a long
 * query runs, cancellation and timeout scopes interrupting a long query (and the next statement waiting for an
 * abandoned one to stop), and closing: while busy, right after a cancel, from a cancelled task, outside a loop. */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corio_sqlite.h"
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* ---- a temporary directory per case ------------------------------------------------------------------------- */

static char dir[64], dbpath[128];

static void tmp_setup(void) {
    strcpy(dir, "/tmp/corio-sqlite-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(dbpath, sizeof dbpath, "%s/test.db", dir);
}

static void tmp_cleanup(void) {
    static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
    char p[160];
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]);
        unlink(p);
    }
    ASSERT_EQ(rmdir(dir), 0);
}

/* ---- SQL functions the tests install: sleep_ms(n) blocks its pool thread (no interrupt can stop it) and
 * serial() checks that no other statement of any connection runs meanwhile ------------------------------------ */

static atomic_int inside, overlaps, sleepers; /* sleepers: sleep_ms calls running */

static void enter(void) {
    if (atomic_fetch_add(&inside, 1) != 0) atomic_fetch_add(&overlaps, 1);
}
static void leave(void) { atomic_fetch_sub(&inside, 1); }

static void fn_sleep_ms(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    enter();
    atomic_fetch_add(&sleepers, 1);
    usleep((useconds_t)sqlite3_value_int(argv[0]) * 1000);
    atomic_fetch_sub(&sleepers, 1);
    leave();
    sqlite3_result_int(ctx, 1);
}

static void fn_serial(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    (void)argv;
    enter();
    usleep(100); /* widens the window in which a second statement would be caught */
    leave();
    sqlite3_result_int(ctx, 1);
}

static int install(sqlite3 *h, void *arg) {
    (void)arg;
    int rc = sqlite3_create_function_v2(h, "sleep_ms", 1, SQLITE_UTF8, NULL, fn_sleep_ms, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(h, "serial", 0, SQLITE_UTF8, NULL, fn_serial, NULL, NULL, NULL);
    return corio_sqlite_error(rc);
}

/* A job that touches no SQLite mutex: only the module's own serialisation keeps it apart from a statement. */
static int serial_call(sqlite3 *h, void *arg) {
    (void)h;
    (void)arg;
    enter();
    usleep(1000);
    leave();
    return 0;
}
static corio_sqlite *open_db(void) {
    corio_sqlite *db = corio_sqlite_open(dbpath, 0);
    if (!db) TEST_FAIL_("corio_sqlite_open(%s): %s", dbpath, strerror(errno));
    ASSERT_RC(corio_sqlite_call(db, install, NULL), 0);
    return db;
}

/* Counting to forever: stops only when interrupted. */
static const char *const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) "
                                   "FROM c";

/* ---- basics -------------------------------------------------------------------------------------------------- */

static int main_basic(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    ASSERT_RC(corio_sqlite_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score INTEGER, w REAL);"
                                    "CREATE INDEX t_name ON t(name)"),
              0);
    const char *p1[] = {"1", "alice", "90", "1.5"};
    const char *p2[] = {"2", NULL, "-7", NULL};
    const char *p3[] = {"3", "bob's \"quoted\"", "9000000000", "2.25"};
    const char *ins = "INSERT INTO t(id, name, score, w) VALUES (?, ?, ?, ?)";
    ASSERT_RC(corio_sqlite_query(db, ins, 4, p1, NULL), 0);
    ASSERT_EQ(corio_sqlite_changes(db), 1);
    ASSERT_EQ(corio_sqlite_last_insert_rowid(db), 1);
    ASSERT_RC(corio_sqlite_query(db, ins, 4, p2, NULL), 0);
    ASSERT_RC(corio_sqlite_query(db, ins, 4, p3, NULL), 0);
    ASSERT_EQ(corio_sqlite_last_insert_rowid(db), 3);

    corio_sqlite_rows *r = NULL;
    ASSERT_RC(corio_sqlite_query(db, "SELECT id, name AS who, score, w FROM t ORDER BY id", 0, NULL, &r), 0);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(corio_sqlite_rows_count(r), 3);
    ASSERT_EQ(corio_sqlite_rows_columns(r), 4);
    ASSERT_STREQ(corio_sqlite_rows_name(r, 0), "id");
    ASSERT_STREQ(corio_sqlite_rows_name(r, 1), "who");
    ASSERT_NULL(corio_sqlite_rows_name(r, 4));
    ASSERT_NULL(corio_sqlite_rows_name(r, -1));
    ASSERT_STREQ(corio_sqlite_rows_text(r, 0, 1), "alice");
    ASSERT_EQ(corio_sqlite_rows_type(r, 0, 0), CORIO_SQLITE_INTEGER); /* "1" became an integer (affinity) */
    ASSERT_EQ(corio_sqlite_rows_int(r, 0, 2), 90);
    ASSERT_TRUE(corio_sqlite_rows_double(r, 0, 3) == 1.5);
    ASSERT_EQ(corio_sqlite_rows_type(r, 0, 3), CORIO_SQLITE_FLOAT);
    ASSERT_EQ(corio_sqlite_rows_type(r, 1, 1), CORIO_SQLITE_NULL);
    ASSERT_NULL(corio_sqlite_rows_text(r, 1, 1));
    ASSERT_EQ(corio_sqlite_rows_int(r, 1, 2), -7);
    ASSERT_STREQ(corio_sqlite_rows_text(r, 1, 2), "-7");
    ASSERT_STREQ(corio_sqlite_rows_text(r, 2, 1), "bob's \"quoted\"");
    ASSERT_EQ(corio_sqlite_rows_bytes(r, 2, 1), strlen("bob's \"quoted\""));
    ASSERT_EQ(corio_sqlite_rows_int(r, 2, 2), 9000000000LL);
    /* out of range */
    ASSERT_RC(corio_sqlite_rows_type(r, 3, 0), -EINVAL);
    ASSERT_RC(corio_sqlite_rows_type(r, 0, 4), -EINVAL);
    ASSERT_NULL(corio_sqlite_rows_text(r, 3, 0));
    ASSERT_EQ(corio_sqlite_rows_int(r, 0, -1), 0);
    ASSERT_EQ(corio_sqlite_rows_bytes(r, 9, 9), 0);
    corio_sqlite_rows_free(r);

    /* parameters in WHERE, NULL compared with IS, a blob, an empty result */
    const char *who[] = {"2"};
    ASSERT_RC(corio_sqlite_query(db, "SELECT count(*) FROM t WHERE id = ? AND name IS NULL", 1, who, &r), 0);
    ASSERT_EQ(corio_sqlite_rows_int(r, 0, 0), 1);
    corio_sqlite_rows_free(r);
    ASSERT_RC(corio_sqlite_query(db, "SELECT x'00ff41', 1e3, NULL", 0, NULL, &r), 0);
    ASSERT_EQ(corio_sqlite_rows_type(r, 0, 0), CORIO_SQLITE_BLOB);
    ASSERT_EQ(corio_sqlite_rows_bytes(r, 0, 0), 3);
    ASSERT_EQ((unsigned char)corio_sqlite_rows_text(r, 0, 0)[1], 0xff);
    ASSERT_TRUE(corio_sqlite_rows_double(r, 0, 1) == 1000.0);
    ASSERT_EQ(corio_sqlite_rows_type(r, 0, 2), CORIO_SQLITE_NULL);
    corio_sqlite_rows_free(r);
    const char *none[] = {"nobody"};
    ASSERT_RC(corio_sqlite_query(db, "SELECT * FROM t WHERE name = ?", 1, none, &r), 0);
    ASSERT_EQ(corio_sqlite_rows_count(r), 0);
    ASSERT_EQ(corio_sqlite_rows_columns(r), 4);
    corio_sqlite_rows_free(r);
    /* a statement without rows, with rows asked for */
    ASSERT_RC(corio_sqlite_query(db, "UPDATE t SET score = score + 1", 0, NULL, &r), 0);
    ASSERT_EQ(corio_sqlite_changes(db), 3);
    ASSERT_EQ(corio_sqlite_rows_count(r), 0);
    corio_sqlite_rows_free(r);
    ASSERT_RC(corio_sqlite_close(db), 0);

    /* the data is on disk: a second connection, read-only, sees it */
    ASSERT_NOT_NULL(db = corio_sqlite_open(dbpath, SQLITE_OPEN_READONLY));
    ASSERT_RC(corio_sqlite_query(db, "SELECT sum(score) FROM t", 0, NULL, &r), 0);
    ASSERT_EQ(corio_sqlite_rows_int(r, 0, 0), 91 - 6 + 9000000001LL);
    corio_sqlite_rows_free(r);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(create_insert_select, 60) {
    tmp_setup();
    run_ok(main_basic, NULL);
    tmp_cleanup();
}

static int main_errors(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    ASSERT_RC(corio_sqlite_exec(db, "CREATE TABLE u(k TEXT PRIMARY KEY, v TEXT NOT NULL)"), 0);
    ASSERT_STREQ(corio_sqlite_errmsg(db), "");
    ASSERT_EQ(corio_sqlite_errcode(db), SQLITE_OK);

    ASSERT_RC(corio_sqlite_exec(db, "SELEC 1"), -EIO);
    ASSERT_TRUE(strstr(corio_sqlite_errmsg(db), "syntax error") != NULL);
    ASSERT_EQ(corio_sqlite_errcode(db), SQLITE_ERROR);
    ASSERT_RC(corio_sqlite_query(db, "SELECT * FROM missing", 0, NULL, NULL), -EIO);
    ASSERT_TRUE(strstr(corio_sqlite_errmsg(db), "no such table") != NULL);

    const char *kv[] = {"a", "1"};
    ASSERT_RC(corio_sqlite_query(db, "INSERT INTO u VALUES (?, ?)", 2, kv, NULL), 0);
    ASSERT_STREQ(corio_sqlite_errmsg(db), "");
    ASSERT_RC(corio_sqlite_query(db, "INSERT INTO u VALUES (?, ?)", 2, kv, NULL), -EEXIST);
    ASSERT_EQ(corio_sqlite_errcode(db), SQLITE_CONSTRAINT_PRIMARYKEY);
    ASSERT_TRUE(strstr(corio_sqlite_errmsg(db), "UNIQUE") != NULL);
    const char *knull[] = {"b", NULL};
    ASSERT_RC(corio_sqlite_query(db, "INSERT INTO u VALUES (?, ?)", 2, knull, NULL), -EIO);
    ASSERT_EQ(corio_sqlite_errcode(db), SQLITE_CONSTRAINT_NOTNULL);

    /* a failing statement in exec: the ones before it stay done, the ones after never run */
    ASSERT_RC(corio_sqlite_exec(db, "INSERT INTO u VALUES ('c', 'x'); INSERT INTO u VALUES ('a', 'dup'); "
                                    "INSERT INTO u VALUES ('d', 'x')"),
              -EEXIST);
    corio_sqlite_rows *r = NULL;
    ASSERT_RC(corio_sqlite_query(db, "SELECT group_concat(k, '') FROM (SELECT k FROM u ORDER BY k)", 0, NULL, &r), 0);
    ASSERT_STREQ(corio_sqlite_rows_text(r, 0, 0), "ac");
    corio_sqlite_rows_free(r);

    /* the query's shape: one statement, as many parameters as it has */
    r = (corio_sqlite_rows *)1;
    ASSERT_RC(corio_sqlite_query(db, "SELECT ?", 0, NULL, &r), -EINVAL);
    ASSERT_NULL(r);
    ASSERT_TRUE(strstr(corio_sqlite_errmsg(db), "parameters") != NULL);
    ASSERT_RC(corio_sqlite_query(db, "SELECT ?", 2, kv, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_query(db, "SELECT 1; SELECT 2", 0, NULL, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_query(db, "  ", 0, NULL, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_query(db, "SELECT 1;  \n", 0, NULL, &r), 0); /* a trailing ';' is fine */
    corio_sqlite_rows_free(r);
    ASSERT_RC(corio_sqlite_exec(db, ""), 0);
    ASSERT_RC(corio_sqlite_exec(db, "  ;; "), 0);
    ASSERT_RC(corio_sqlite_close(db), 0);

    /* files */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.db", dir);
    errno = 0;
    ASSERT_NULL(corio_sqlite_open(missing, SQLITE_OPEN_READONLY));
    ASSERT_EQ(errno, ENOENT);
    ASSERT_NULL(corio_sqlite_open(missing, SQLITE_OPEN_READWRITE));
    ASSERT_EQ(errno, ENOENT);
    ASSERT_TRUE(access(missing, F_OK) != 0); /* nothing was created */
    snprintf(missing, sizeof missing, "%s/no/such/dir.db", dir);
    ASSERT_NULL(corio_sqlite_open(missing, 0));
    ASSERT_EQ(errno, ENOENT);
    ASSERT_NOT_NULL(db = corio_sqlite_open(dbpath, SQLITE_OPEN_READONLY));
    ASSERT_RC(corio_sqlite_exec(db, "DELETE FROM u"), -EROFS);
    ASSERT_EQ(corio_sqlite_errcode(db) & 0xff, SQLITE_READONLY);
    ASSERT_RC(corio_sqlite_close(db), 0);
    /* not a database */
    char junk[160];
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    FILE *f = fopen(junk, "w");
    ASSERT_NOT_NULL(f);
    for (int i = 0; i < 200; i++) fputs("this is not a database file. ", f);
    fclose(f);
    ASSERT_NOT_NULL(db = corio_sqlite_open(junk, 0)); /* SQLite reads the header lazily */
    ASSERT_RC(corio_sqlite_exec(db, "SELECT * FROM sqlite_master"), -EIO);
    ASSERT_EQ(corio_sqlite_errcode(db), SQLITE_NOTADB);
    ASSERT_RC(corio_sqlite_close(db), 0);
    unlink(junk);
    return 0;
}
TEST_TIMEOUT(errors_are_mapped, 60) {
    tmp_setup();
    run_ok(main_errors, NULL);
    tmp_cleanup();
}

static int fn_returns(sqlite3 *h, void *arg) {
    (void)h;
    return (int)(intptr_t)arg;
}
static int fn_bad_sql(sqlite3 *h, void *arg) {
    (void)arg;
    return corio_sqlite_error(sqlite3_exec(h, "NOT SQL", NULL, NULL, NULL));
}

static int main_bad_args(void *arg) {
    (void)arg;
    errno = 0;
    ASSERT_NULL(corio_sqlite_open(NULL, 0));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_sqlite_open(dbpath, SQLITE_OPEN_CREATE)); /* neither READONLY nor READWRITE */
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_sqlite_open(dbpath, SQLITE_OPEN_READONLY | SQLITE_OPEN_READWRITE));
    ASSERT_EQ(errno, EINVAL);
    corio_sqlite *db = open_db();
    corio_sqlite_rows *r = NULL;
    ASSERT_RC(corio_sqlite_exec(NULL, "SELECT 1"), -EINVAL);
    ASSERT_RC(corio_sqlite_exec(db, NULL), -EINVAL);
    ASSERT_RC(corio_sqlite_query(NULL, "SELECT 1", 0, NULL, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_query(db, NULL, 0, NULL, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_query(db, "SELECT ?", -1, NULL, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_query(db, "SELECT ?", 1, NULL, &r), -EINVAL);
    ASSERT_RC(corio_sqlite_call(NULL, fn_returns, NULL), -EINVAL);
    ASSERT_RC(corio_sqlite_call(db, NULL, NULL), -EINVAL);
    ASSERT_RC(corio_sqlite_close(NULL), -EINVAL);
    ASSERT_STREQ(corio_sqlite_errmsg(NULL), "");
    ASSERT_RC(corio_sqlite_errcode(NULL), -EINVAL);
    ASSERT_EQ(corio_sqlite_changes(NULL), 0);
    ASSERT_EQ(corio_sqlite_last_insert_rowid(NULL), 0);
    ASSERT_EQ(corio_sqlite_rows_count(NULL), 0);
    ASSERT_EQ(corio_sqlite_rows_columns(NULL), 0);
    ASSERT_NULL(corio_sqlite_rows_name(NULL, 0));
    ASSERT_RC(corio_sqlite_rows_type(NULL, 0, 0), -EINVAL);
    ASSERT_NULL(corio_sqlite_rows_text(NULL, 0, 0));
    corio_sqlite_rows_free(NULL);
    /* corio_sqlite_call hands fn's result back, and SQLite's message with a failure */
    ASSERT_RC(corio_sqlite_call(db, fn_returns, (void *)(intptr_t)5), 5);
    ASSERT_RC(corio_sqlite_call(db, fn_returns, (void *)(intptr_t)-ENOSPC), -ENOSPC);
    ASSERT_RC(corio_sqlite_call(db, fn_bad_sql, NULL), -EIO);
    ASSERT_TRUE(strstr(corio_sqlite_errmsg(db), "syntax error") != NULL);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(bad_arguments, 30) {
    tmp_setup();
    run_ok(main_bad_args, NULL);
    /* outside a task */
    errno = 0;
    ASSERT_NULL(corio_sqlite_open(dbpath, 0));
    ASSERT_EQ(errno, EPERM);
    tmp_cleanup();
}

/* ---- many tasks on one connection ------------------------------------------------------------------------------ */

struct shared {
    corio_sqlite *db;
    int ok;
};
struct worker {
    struct shared *s;
    int i;
};

/* Each worker inserts its number, runs serial_call, then checks it can read its number back (serial() inside). */
static int worker_task(void *arg) {
    struct worker *w = arg;
    char num[16];
    snprintf(num, sizeof num, "%d", w->i);
    const char *p[] = {num};
    int rc = corio_sqlite_query(w->s->db, "INSERT INTO seq(v, s) VALUES (?, serial())", 1, p, NULL);
    if (rc < 0) return rc;
    if ((rc = corio_sqlite_call(w->s->db, serial_call, NULL)) < 0) return rc;
    corio_sqlite_rows *r = NULL;
    if ((rc = corio_sqlite_query(w->s->db, "SELECT count(*), serial() FROM seq WHERE v = ?", 1, p, &r)) < 0) return rc;
    rc = corio_sqlite_rows_int(r, 0, 0) == 1 ? 0 : -EPROTO;
    corio_sqlite_rows_free(r);
    if (rc == 0) w->s->ok++;
    return rc;
}

static int main_many(void *arg) {
    (void)arg;
    int n = test_small() ? 50 : 200;
    struct shared s = {open_db(), 0};
    ASSERT_RC(corio_sqlite_exec(s.db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                                      "CREATE TABLE seq(id INTEGER PRIMARY KEY, v INTEGER, s INTEGER)"),
              0);
    atomic_store(&overlaps, 0);
    struct worker *w = calloc((size_t)n, sizeof *w);
    corio_task **t = calloc((size_t)n, sizeof *t);
    int *st = calloc((size_t)n, sizeof *st);
    ASSERT_TRUE(w && t && st);
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){&s, i};
        t[i] = test_spawn(worker_task, &w[i]);
    }
    ASSERT_RC(corio_gather(t, (size_t)n, st), 0);
    for (int i = 0; i < n; i++) ASSERT_RC(st[i], 0);
    ASSERT_EQ(s.ok, n);
    ASSERT_EQ(atomic_load(&overlaps), 0);
    /* FIFO: the tasks started in order and each made its first call at once, so the inserts ran in that order */
    corio_sqlite_rows *r = NULL;
    ASSERT_RC(corio_sqlite_query(s.db, "SELECT v FROM seq ORDER BY id", 0, NULL, &r), 0);
    ASSERT_EQ(corio_sqlite_rows_count(r), n);
    for (int i = 0; i < n; i++) ASSERT_EQ(corio_sqlite_rows_int(r, (size_t)i, 0), i);
    corio_sqlite_rows_free(r);
    ASSERT_RC(corio_sqlite_close(s.db), 0);
    free(w);
    free(t);
    free(st);
    return 0;
}
TEST_TIMEOUT(many_tasks_one_connection, 120) {
    tmp_setup();
    ASSERT_RC(corio_pool_set_size(4), 0);
    run_ok(main_many, NULL);
    tmp_cleanup();
}

/* Four connections, 20 tasks each; serial() may overlap across connections, so only the results are checked. */
static int conn_worker(void *arg) {
    corio_sqlite *db = arg;
    for (int k = 0; k < 5; k++) {
        corio_sqlite_rows *r = NULL;
        int rc = corio_sqlite_query(db,
                                    "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                                    "x + 1 FROM c WHERE x < 1000) SELECT x FROM c)",
                                    0, NULL, &r);
        if (rc < 0) return rc;
        rc = corio_sqlite_rows_int(r, 0, 0) == 1000 ? 0 : -EPROTO;
        corio_sqlite_rows_free(r);
        if (rc < 0) return rc;
    }
    return 0;
}
static int main_conns(void *arg) {
    (void)arg;
    corio_sqlite *db[4];
    corio_task *t[80];
    for (int i = 0; i < 4; i++) ASSERT_NOT_NULL(db[i] = corio_sqlite_open(":memory:", 0));
    for (int i = 0; i < 80; i++) t[i] = test_spawn(conn_worker, db[i % 4]);
    ASSERT_RC(corio_gather(t, 80, NULL), 0);
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_sqlite_close(db[i]), 0);
    return 0;
}
TEST_TIMEOUT(several_connections, 120) { run_ok(main_conns, NULL); }

/* ---- the loop runs on ------------------------------------------------------------------------------------------- */

static int ticker(void *arg) {
    int *ticks = arg;
    while (corio_sleep(5) == 0) (*ticks)++;
    return 0;
}

static int main_responsive(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    int ticks = 0;
    corio_task *t = test_spawn(ticker, &ticks);
    char sql[200];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT sum(x) FROM c",
             test_small() ? 300000 : 1000000);
    int64_t t0 = test_now_ms();
    corio_sqlite_rows *r = NULL;
    ASSERT_RC(corio_sqlite_query(db, sql, 0, NULL, &r), 0);
    int64_t ms = test_now_ms() - t0;
    ASSERT_EQ(corio_sqlite_rows_int(r, 0, 0), test_small() ? 45000150000LL : 500000500000LL);
    corio_sqlite_rows_free(r);
    /* a 5 ms ticker over a query of ms: a tenth of the ticks, for a loaded machine; valgrind runs one thread at a
     * time in long slices, so there the loop only has to get a turn */
    if (!test_small()) ASSERT_GE(ticks, ms / 5 / 10 + 1);
    ASSERT_GE(ticks, 1);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(loop_runs_during_long_query, 120) {
    tmp_setup();
    run_ok(main_responsive, NULL);
    tmp_cleanup();
}

/* ---- cancellation and timeouts -------------------------------------------------------------------------------- */

struct q {
    corio_sqlite *db;
    const char *sql;
    int64_t done_ms;
};
static int query_task(void *arg) {
    struct q *q = arg;
    int rc = q->sql ? corio_sqlite_query(q->db, q->sql, 0, NULL, NULL) : corio_sqlite_call(q->db, serial_call, NULL);
    q->done_ms = test_now_ms();
    return rc;
}

/* An endless query is cancelled: the caller returns at once, the statement stops (or the next one would wait
 * forever), and the connection serves the next statement. */
static int main_cancel(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    for (int round = 0; round < 3; round++) {
        struct q q = {db, endless, 0};
        corio_task *t = test_spawn(query_task, &q);
        ASSERT_RC(corio_sleep(100), 0);
        ASSERT_EQ(corio_task_done(t), 0);
        int64_t t0 = test_now_ms();
        ASSERT_RC(corio_cancel(t), 0);
        ASSERT_RC(corio_await(t), -ECANCELED);
        ASSERT_LT(test_now_ms() - t0, test_bound_ms(1000));
        corio_sqlite_rows *r = NULL;
        ASSERT_RC(corio_sqlite_query(db, "SELECT 40 + 2", 0, NULL, &r), 0);
        ASSERT_EQ(corio_sqlite_rows_int(r, 0, 0), 42);
        corio_sqlite_rows_free(r);
        ASSERT_LT(test_now_ms() - t0, test_bound_ms(5000)); /* the endless query really stopped */
    }
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(cancel_interrupts_long_query, 60) {
    tmp_setup();
    run_ok(main_cancel, NULL);
    tmp_cleanup();
}

/* sleep_ms cannot be interrupted: after its caller is cancelled it runs on, and the calls queued behind it (one
 * already waiting, one made after the cancel) start only once it is over. They are corio_sqlite_call jobs that
 * take no SQLite mutex, so SQLite's own locking (SQLITE_OPEN_FULLMUTEX) cannot be what keeps them apart. */
static int main_cancel_waits(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    atomic_store(&overlaps, 0);
    struct q slow = {db, "SELECT sleep_ms(400)", 0};
    struct q queued = {db, NULL, 0}; /* serial_call */
    struct q after = {db, NULL, 0};
    corio_task *t = test_spawn(query_task, &slow);
    corio_task *u = test_spawn(query_task, &queued);
    ASSERT_RC(corio_sleep(50), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(300));
    corio_task *v = test_spawn(query_task, &after);
    ASSERT_RC(corio_await(u), 0);
    ASSERT_RC(corio_await(v), 0);
    ASSERT_EQ(atomic_load(&overlaps), 0);
    ASSERT_GE(queued.done_ms - t0, 250); /* sleep_ms(400) began >= 50 ms before t0 */
    ASSERT_GE(after.done_ms, queued.done_ms);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(cancelled_statement_blocks_the_next, 60) {
    tmp_setup();
    run_ok(main_cancel_waits, NULL);
    tmp_cleanup();
}

/* The call queued behind an abandoned statement waits in the loop, not on a pool thread: with two pool threads,
 * one still running the abandoned sleep_ms(1000), a plain corio_to_thread job gets the other one at once (it sees
 * sleep_ms still running). Were the queued call submitted, it would block that thread on SQLite's mutex. */
static int probe_sleepers(void *arg) {
    (void)arg;
    return atomic_load(&sleepers);
}
static int main_no_pool_thread(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    struct q slow = {db, "SELECT sleep_ms(1000)", 0}, queued = {db, NULL, 0};
    corio_task *t = test_spawn(query_task, &slow);
    corio_task *u = test_spawn(query_task, &queued);
    ASSERT_RC(corio_sleep(50), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    test_settle(); /* u takes its turn and waits for the abandoned statement */
    ASSERT_EQ(corio_task_done(u), 0);
    ASSERT_RC(corio_to_thread(probe_sleepers, NULL), 1);
    ASSERT_RC(corio_await(u), 0);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(queued_call_holds_no_pool_thread, 60) {
    tmp_setup();
    ASSERT_RC(corio_pool_set_size(2), 0);
    run_ok(main_no_pool_thread, NULL);
    tmp_cleanup();
}

static int main_timeout(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    corio_timeout scope;
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_timeout_enter(&scope, 100), 0);
    ASSERT_RC(corio_sqlite_query(db, endless, 0, NULL, NULL), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(2000));
    /* an expired scope fails every call before it reaches the pool, the close excepted */
    ASSERT_RC(corio_timeout_enter(&scope, 0), 0);
    ASSERT_RC(corio_sqlite_exec(db, "SELECT 1"), -ETIMEDOUT);
    errno = 0;
    ASSERT_NULL(corio_sqlite_open(dbpath, 0));
    ASSERT_EQ(errno, ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    /* a scope long enough changes nothing */
    ASSERT_RC(corio_timeout_enter(&scope, 10000), 0);
    ASSERT_RC(corio_sqlite_exec(db, "CREATE TABLE x(a); INSERT INTO x VALUES (1)"), 0);
    ASSERT_RC(corio_timeout_exit(&scope), 0);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(timeout_scope_interrupts, 60) {
    tmp_setup();
    run_ok(main_timeout, NULL);
    tmp_cleanup();
}

/* ---- closing ------------------------------------------------------------------------------------------------- */

static int main_close(void *arg) {
    (void)arg;
    /* busy: a statement runs, another waits */
    corio_sqlite *db = open_db();
    struct q slow = {db, "SELECT sleep_ms(100)", 0}, next = {db, "SELECT 1", 0};
    corio_task *t = test_spawn(query_task, &slow);
    corio_task *u = test_spawn(query_task, &next);
    test_settle();
    ASSERT_RC(corio_sqlite_close(db), -EBUSY);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_await(u), 0);
    ASSERT_RC(corio_sqlite_close(db), 0);

    /* right after a cancel, while the abandoned statement still runs: close waits for it */
    db = open_db();
    struct q s2 = {db, "SELECT sleep_ms(200)", 0};
    t = test_spawn(query_task, &s2);
    ASSERT_RC(corio_sleep(30), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_RC(corio_sqlite_close(db), 0);
    ASSERT_EQ(atomic_load(&inside), 0); /* the statement had ended */

    /* the same with an interruptible endless query */
    db = open_db();
    struct q s3 = {db, endless, 0};
    t = test_spawn(query_task, &s3);
    ASSERT_RC(corio_sleep(30), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_RC(corio_sqlite_close(db), 0);
    return 0;
}
TEST_TIMEOUT(close_busy_and_after_cancel, 60) {
    tmp_setup();
    run_ok(main_close, NULL);
    tmp_cleanup();
}

/* A task that is already cancelled still closes (its suspensions would all fail). */
struct closer {
    corio_sqlite *db;
    int rc;
};
static int closer_task(void *arg) {
    struct closer *c = arg;
    corio_cancel(corio_current());
    c->rc = corio_sqlite_close(c->db);
    return 0;
}
static int main_close_cancelled(void *arg) {
    (void)arg;
    corio_sqlite *db = open_db();
    struct q s = {db, "SELECT sleep_ms(150)", 0};
    corio_task *t = test_spawn(query_task, &s);
    ASSERT_RC(corio_sleep(30), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    struct closer c = {db, 1};
    ASSERT_RC(corio_await(test_spawn(closer_task, &c)), 0);
    ASSERT_RC(c.rc, 0);
    ASSERT_EQ(atomic_load(&inside), 0);
    return 0;
}
TEST_TIMEOUT(close_from_cancelled_task, 60) {
    tmp_setup();
    run_ok(main_close_cancelled, NULL);
    tmp_cleanup();
}

/* The loop ends while a statement runs (its task is cancelled); the connection is closed afterwards, outside any
 * loop, waiting for the statement to end. */
static int main_leave_open(void *arg) {
    corio_sqlite **out = arg;
    corio_sqlite *db = open_db();
    static struct q s;
    s = (struct q){db, "SELECT sleep_ms(200)", 0};
    corio_detach(test_spawn(query_task, &s));
    ASSERT_RC(corio_sleep(20), 0);
    *out = db;
    return 0;
}
TEST_TIMEOUT(close_outside_loop, 60) {
    tmp_setup();
    corio_sqlite *db = NULL;
    ASSERT_RC(corio_run(main_leave_open, &db), 0);
    ASSERT_NOT_NULL(db);
    ASSERT_RC(corio_sqlite_close(db), 0);
    ASSERT_EQ(atomic_load(&inside), 0);
    tmp_cleanup();
}
