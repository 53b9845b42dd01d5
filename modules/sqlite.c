/* sqlite.c - the SQLite module (corio_sqlite.h): each call on a connection becomes one job on corio's thread pool,
 * built on the public API alone.
 *
 * Serialisation: a connection's calls pass through a FIFO corio_lock (the gate), so at most one job per
 * connection is submitted at a time and no pool thread ever blocks waiting for another job on the same database.
 * A cancelled caller gives up its job (corio_to_thread_opts returns at once) and the gate, but the job may still be
 * running; so every job writes 1 to the connection's eventfd as the last thing it does with the connection, and
 * `pending` counts the jobs submitted and not yet seen on that eventfd. Whoever holds the gate waits (suspending
 * on the eventfd) until pending is 0 before it submits anything: a second statement can never start while an
 * abandoned one still runs, whichever pool threads they land on.
 *
 * A job owns copies of everything it reads (SQL text, parameters), so an abandoned job never touches the caller's
 * memory; once abandoned it is freed by whichever of the cancelled caller (which sets its cancel flag) and
 * corio_to_thread_opts's abandoned callback lets go of it last. The database itself is opened with
 * SQLITE_OPEN_FULLMUTEX as well: the gate already serialises, the mutex costs one uncontended lock per call and
 * covers sqlite3_interrupt's cross-thread use. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sqlite3.h>

#include "corio_sqlite.h"

/* The progress handler runs every this many virtual-machine instructions (about tens of microseconds of work),
 * so a cancelled statement notices within that even where sqlite3_interrupt is not checked. */
#define PROGRESS_OPS 1000

struct corio_sqlite {
    sqlite3 *db;
    int efd;          /* each job writes 1 here when it is done with db */
    corio_lock *gate; /* FIFO among the tasks calling on this connection */
    unsigned pending; /* jobs submitted and not yet counted off efd */
    unsigned users;   /* tasks inside a call (holding or waiting for the gate) */
    bool closing;
    int errcode;
    char *errmsg; /* NULL means "" */
    int64_t changes, rowid;
};

struct cell {
    int type;
    size_t len;
    int64_t i;
    double d;
    char *text; /* NULL for SQL NULL */
};

struct corio_sqlite_rows {
    int ncols;
    size_t nrows, cap; /* cap in rows */
    char **names;
    struct cell *cells; /* nrows * ncols, row-major */
};

enum { JOB_OPEN, JOB_EXEC, JOB_QUERY, JOB_CALL, JOB_CLOSE };

typedef struct job {
    int kind;
    sqlite3 *db;
    int efd; /* -1: the job signals nothing (open, close) */
    atomic_int cancel;
    atomic_int refs; /* once abandoned: the cancelling caller and the pool thread both hold it */
    /* in */
    char *sql; /* the path for JOB_OPEN */
    int flags, nparams;
    char **params;
    bool want_rows;
    int (*fn)(sqlite3 *, void *);
    void *arg;
    /* out */
    int rc, errcode;
    char *errmsg;
    int64_t changes, rowid;
    corio_sqlite_rows *rows;
} job;

int corio_sqlite_error(int code) {
    switch (code & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
        return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY ||
                       code == SQLITE_CONSTRAINT_ROWID
                   ? -EEXIST
                   : -EIO;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_INTERRUPT:
        return -ECANCELED;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_RANGE:
        return -ERANGE;
    case SQLITE_MISUSE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* ---- rows ------------------------------------------------------------------------------------------------------ */

void corio_sqlite_rows_free(corio_sqlite_rows *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nrows * (size_t)r->ncols; i++) free(r->cells[i].text);
    for (int c = 0; c < r->ncols && r->names; c++) free(r->names[c]);
    free(r->names);
    free(r->cells);
    free(r);
}

static const struct cell *cell_at(const corio_sqlite_rows *r, size_t row, int col) {
    if (!r || row >= r->nrows || col < 0 || col >= r->ncols) return NULL;
    return &r->cells[row * (size_t)r->ncols + (size_t)col];
}

size_t corio_sqlite_rows_count(const corio_sqlite_rows *r) { return r ? r->nrows : 0; }
int corio_sqlite_rows_columns(const corio_sqlite_rows *r) { return r ? r->ncols : 0; }
const char *corio_sqlite_rows_name(const corio_sqlite_rows *r, int col) {
    return r && col >= 0 && col < r->ncols ? r->names[col] : NULL;
}
int corio_sqlite_rows_type(const corio_sqlite_rows *r, size_t row, int col) {
    const struct cell *c = cell_at(r, row, col);
    return c ? c->type : -EINVAL;
}
const char *corio_sqlite_rows_text(const corio_sqlite_rows *r, size_t row, int col) {
    const struct cell *c = cell_at(r, row, col);
    return c ? c->text : NULL;
}
size_t corio_sqlite_rows_bytes(const corio_sqlite_rows *r, size_t row, int col) {
    const struct cell *c = cell_at(r, row, col);
    return c ? c->len : 0;
}
int64_t corio_sqlite_rows_int(const corio_sqlite_rows *r, size_t row, int col) {
    const struct cell *c = cell_at(r, row, col);
    return c ? c->i : 0;
}
double corio_sqlite_rows_double(const corio_sqlite_rows *r, size_t row, int col) {
    const struct cell *c = cell_at(r, row, col);
    return c ? c->d : 0;
}

static char *dup_bytes(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static corio_sqlite_rows *rows_new(sqlite3_stmt *st) {
    corio_sqlite_rows *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    int n = sqlite3_column_count(st);
    if (n > 0 && !(r->names = calloc((size_t)n, sizeof *r->names))) {
        free(r);
        return NULL;
    }
    r->ncols = n;
    for (int c = 0; c < n; c++) {
        const char *name = sqlite3_column_name(st, c);
        if (!name || !(r->names[c] = dup_bytes(name, strlen(name)))) {
            corio_sqlite_rows_free(r);
            return NULL;
        }
    }
    return r;
}

/* Appends the statement's current row: 0 or SQLITE_NOMEM. */
static int rows_add(corio_sqlite_rows *r, sqlite3_stmt *st) {
    if (r->ncols == 0) return SQLITE_OK;
    if (r->nrows == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct cell *cells = realloc(r->cells, cap * (size_t)r->ncols * sizeof *cells);
        if (!cells) return SQLITE_NOMEM;
        r->cells = cells;
        r->cap = cap;
    }
    struct cell *row = &r->cells[r->nrows * (size_t)r->ncols];
    int c;
    for (c = 0; c < r->ncols; c++) {
        struct cell *v = &row[c];
        memset(v, 0, sizeof *v);
        v->type = sqlite3_column_type(st, c);
        if (v->type == SQLITE_NULL) continue;
        /* the type is read first: the conversions below may change the value's internal form */
        v->i = sqlite3_column_int64(st, c);
        v->d = sqlite3_column_double(st, c);
        const void *p = v->type == SQLITE_BLOB ? sqlite3_column_blob(st, c) : (const void *)sqlite3_column_text(st, c);
        v->len = (size_t)sqlite3_column_bytes(st, c);
        if (!(v->text = dup_bytes(p, p ? v->len : 0))) break;
    }
    if (c < r->ncols) {
        for (int k = 0; k < c; k++) free(row[k].text);
        return SQLITE_NOMEM;
    }
    r->nrows++;
    return SQLITE_OK;
}

/* ---- jobs (pool threads) --------------------------------------------------------------------------------------- */

static void job_free(job *j) {
    if (!j) return;
    free(j->sql);
    for (int i = 0; j->params && i < j->nparams; i++) free(j->params[i]);
    free(j->params);
    free(j->errmsg);
    corio_sqlite_rows_free(j->rows);
    free(j);
}

static int progress(void *arg) {
    job *j = arg;
    return atomic_load_explicit(&j->cancel, memory_order_relaxed);
}

static void set_error(job *j, int code) {
    j->errcode = code;
    j->rc = corio_sqlite_error(code);
    if (j->rc == 0) j->rc = -EIO; /* a failure SQLite reports with a success code: keep it a failure */
    const char *m = j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(code);
    free(j->errmsg);
    j->errmsg = dup_bytes(m, strlen(m));
}

static bool blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v' && *s != ';') return false;
    return true;
}

static void do_open(job *j) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(j->sql, &db, j->flags, NULL);
    if (rc != SQLITE_OK) {
        int sys = db ? sqlite3_system_errno(db) : 0;
        j->db = db;
        set_error(j, rc);
        if ((rc & 0xff) == SQLITE_CANTOPEN && sys > 0) j->rc = -sys;
        j->db = NULL;
        sqlite3_close_v2(db);
        return;
    }
    sqlite3_extended_result_codes(db, 1);
    j->db = db;
}

/* Runs one prepared statement to its end, collecting its rows if asked. A SQLite result code. */
static int step_all(job *j, sqlite3_stmt *st, corio_sqlite_rows *rows) {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) return SQLITE_INTERRUPT;
        if (rows && (rc = rows_add(rows, st)) != SQLITE_OK) return rc;
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void do_exec(job *j) {
    const char *sql = j->sql;
    while (*sql) {
        if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) {
            set_error(j, SQLITE_INTERRUPT);
            return;
        }
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, &tail);
        if (rc == SQLITE_OK && st) rc = step_all(j, st, NULL);
        if (rc != SQLITE_OK) {
            set_error(j, rc);
            sqlite3_finalize(st);
            return;
        }
        sqlite3_finalize(st);
        if (!tail || tail == sql) break;
        sql = tail;
    }
}

static void do_query(job *j) {
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(j->db, j->sql, -1, &st, &tail);
    if (rc != SQLITE_OK) {
        set_error(j, rc);
        return;
    }
    const char *why = NULL;
    if (!st)
        why = "no statement in the query";
    else if (tail && !blank(tail))
        why = "a query takes exactly one statement";
    else if (sqlite3_bind_parameter_count(st) != j->nparams)
        why = "the number of parameters does not match the statement";
    if (why) {
        sqlite3_finalize(st);
        j->rc = -EINVAL;
        j->errcode = SQLITE_MISUSE;
        j->errmsg = dup_bytes(why, strlen(why));
        return;
    }
    for (int i = 0; i < j->nparams && rc == SQLITE_OK; i++)
        rc =
            j->params[i] ? sqlite3_bind_text(st, i + 1, j->params[i], -1, SQLITE_STATIC) : sqlite3_bind_null(st, i + 1);
    if (rc == SQLITE_OK && j->want_rows && !(j->rows = rows_new(st))) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = step_all(j, st, j->rows);
    if (rc != SQLITE_OK) {
        set_error(j, rc);
        corio_sqlite_rows_free(j->rows);
        j->rows = NULL;
    }
    sqlite3_finalize(st);
}

static int job_run(void *arg) {
    job *j = arg;
    int efd = j->efd;
    switch (j->kind) {
    case JOB_OPEN:
        do_open(j);
        break;
    case JOB_CLOSE:
        sqlite3_close_v2(j->db);
        j->db = NULL;
        break;
    default:
        if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) { /* given up before it started */
            j->rc = -ECANCELED;
            break;
        }
        sqlite3_progress_handler(j->db, PROGRESS_OPS, progress, j);
        if (j->kind == JOB_EXEC)
            do_exec(j);
        else if (j->kind == JOB_QUERY)
            do_query(j);
        else {
            int rc = j->fn(j->db, j->arg), code = sqlite3_extended_errcode(j->db);
            if (rc < 0 && code != SQLITE_OK) set_error(j, code); /* for errmsg; fn's own code is returned */
            j->rc = rc;
        }
        sqlite3_progress_handler(j->db, 0, NULL, NULL);
        j->changes = sqlite3_changes64(j->db);
        j->rowid = sqlite3_last_insert_rowid(j->db);
        break;
    }
    if (efd >= 0) { /* the last touch of the connection: from here on the next job may start */
        uint64_t one = 1;
        ssize_t ignored = write(efd, &one, sizeof one);
        (void)ignored;
    }
    return 0;
}

static void job_unref(job *j) {
    if (atomic_fetch_sub(&j->refs, 1) == 1) job_free(j);
}

/* corio_to_thread_opts's abandoned callback (pool thread): nobody will look at the result. */
static void job_abandoned(void *arg) {
    job *j = arg;
    if (j->kind == JOB_OPEN && j->db) sqlite3_close_v2(j->db);
    job_unref(j);
}

static job *job_new(int kind) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->efd = -1;
    atomic_init(&j->cancel, 0);
    atomic_init(&j->refs, 2);
    return j;
}

/* Submits j: 0 and the job ran (its results are in j), or the caller's error. On -ECANCELED / -ETIMEDOUT j now
 * belongs to the pool (*jp is cleared). The caller has checked corio_checkpoint just before, so those two codes
 * mean the job was submitted and abandoned, and any other failure means it never was. The job may end, and its
 * abandoned callback run, before the cancel flag is set here: the reference count keeps j alive for both. */
static int submit(job **jp) {
    int rc = corio_to_thread_opts(job_run, *jp, &(corio_work_opts){.abandoned = job_abandoned});
    if (rc == -ECANCELED || rc == -ETIMEDOUT) {
        atomic_store(&(*jp)->cancel, 1);
        job_unref(*jp);
        *jp = NULL;
    }
    return rc;
}

/* ---- connections (the loop's thread) -------------------------------------------------------------------------- */

/* Counts off finished jobs until none is in flight, suspending on the eventfd (or blocking in poll if !suspend). */
static int settle(corio_sqlite *c, bool suspend) {
    for (;;) {
        uint64_t n;
        while (c->pending > 0 && read(c->efd, &n, sizeof n) == (ssize_t)sizeof n) c->pending -= (unsigned)n;
        if (c->pending == 0) return 0;
        if (suspend) {
            int rc = corio_wait_readable(c->efd);
            if (rc < 0) return rc;
        } else {
            struct pollfd p = {.fd = c->efd, .events = POLLIN};
            (void)poll(&p, 1, -1);
        }
    }
}

static void set_result(corio_sqlite *c, job *j) {
    free(c->errmsg);
    c->errmsg = j->rc < 0 ? j->errmsg : NULL;
    if (j->rc < 0) j->errmsg = NULL;
    c->errcode = j->rc < 0 ? j->errcode : SQLITE_OK;
    c->changes = j->changes;
    c->rowid = j->rowid;
}

/* Runs j in c's turn and frees it. j's rows, if any, go to *rows. */
static int run_job(corio_sqlite *c, job *j, corio_sqlite_rows **rows) {
    if (c->closing) {
        job_free(j);
        return -EBUSY;
    }
    c->users++;
    int rc = corio_lock_acquire(c->gate);
    if (rc < 0) {
        c->users--;
        job_free(j);
        return rc;
    }
    if ((rc = settle(c, true)) == 0 && (rc = corio_checkpoint()) == 0) {
        j->db = c->db;
        j->efd = c->efd;
        c->pending++;
        rc = submit(&j);
        if (!j) {
            /* abandoned while it may still run: stop it; the next call waits for it in settle */
            sqlite3_interrupt(c->db);
        } else if (rc < 0) {
            c->pending--; /* never submitted */
        } else {
            set_result(c, j);
            rc = j->rc;
            if (rows) *rows = j->rows, j->rows = NULL;
        }
    }
    corio_lock_release(c->gate);
    c->users--;
    job_free(j);
    return rc;
}

corio_sqlite *corio_sqlite_open(const char *path, int flags) {
    if (flags == 0) flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int mode = flags & (SQLITE_OPEN_READONLY | SQLITE_OPEN_READWRITE);
    if (!path || (mode != SQLITE_OPEN_READONLY && mode != SQLITE_OPEN_READWRITE)) {
        errno = EINVAL;
        return NULL;
    }
    if (!corio_current()) {
        errno = EPERM;
        return NULL;
    }
    if (!sqlite3_threadsafe()) { /* a single-thread build of SQLite cannot be used from pool threads */
        errno = ENOTSUP;
        return NULL;
    }
    corio_sqlite *c = calloc(1, sizeof *c);
    job *j = job_new(JOB_OPEN);
    int rc = -ENOMEM;
    if (c) c->efd = -1;
    if (!c || !j || !(j->sql = dup_bytes(path, strlen(path))) || !(c->gate = corio_lock_new())) goto fail;
    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->efd < 0) {
        rc = -errno;
        goto fail;
    }
    j->flags = (flags & ~SQLITE_OPEN_NOMUTEX) | SQLITE_OPEN_FULLMUTEX;
    if ((rc = corio_checkpoint()) < 0 || (rc = submit(&j)) < 0 || (rc = j->rc) < 0) goto fail;
    c->db = j->db;
    job_free(j);
    return c;
fail:
    job_free(j);
    if (c) {
        if (c->gate) corio_lock_free(c->gate);
        if (c->efd >= 0) close(c->efd); /* never waited on: no loop knows it */
        free(c);
    }
    errno = -rc;
    return NULL;
}

int corio_sqlite_exec(corio_sqlite *db, const char *sql) {
    if (!db || !sql) return -EINVAL;
    if (!corio_current()) return -EPERM;
    job *j = job_new(JOB_EXEC);
    if (!j || !(j->sql = dup_bytes(sql, strlen(sql)))) {
        job_free(j);
        return -ENOMEM;
    }
    return run_job(db, j, NULL);
}

int corio_sqlite_query(corio_sqlite *db, const char *sql, int nparams, const char *const *params,
                       corio_sqlite_rows **out) {
    if (out) *out = NULL;
    if (!db || !sql || nparams < 0 || (nparams > 0 && !params)) return -EINVAL;
    if (!corio_current()) return -EPERM;
    job *j = job_new(JOB_QUERY);
    if (!j || !(j->sql = dup_bytes(sql, strlen(sql)))) goto nomem;
    if (nparams > 0 && !(j->params = calloc((size_t)nparams, sizeof *j->params))) goto nomem;
    j->nparams = nparams;
    for (int i = 0; i < nparams; i++)
        if (params[i] && !(j->params[i] = dup_bytes(params[i], strlen(params[i])))) goto nomem;
    j->want_rows = out != NULL;
    return run_job(db, j, out);
nomem:
    job_free(j);
    return -ENOMEM;
}

int corio_sqlite_call(corio_sqlite *db, int (*fn)(sqlite3 *, void *), void *arg) {
    if (!db || !fn) return -EINVAL;
    if (!corio_current()) return -EPERM;
    job *j = job_new(JOB_CALL);
    if (!j) return -ENOMEM;
    j->fn = fn;
    j->arg = arg;
    return run_job(db, j, NULL);
}

const char *corio_sqlite_errmsg(const corio_sqlite *db) { return db && db->errmsg ? db->errmsg : ""; }
int corio_sqlite_errcode(const corio_sqlite *db) { return db ? db->errcode : -EINVAL; }
int64_t corio_sqlite_changes(const corio_sqlite *db) { return db ? db->changes : 0; }
int64_t corio_sqlite_last_insert_rowid(const corio_sqlite *db) { return db ? db->rowid : 0; }

int corio_sqlite_close(corio_sqlite *c) {
    if (!c) return -EINVAL;
    if (c->users > 0 || c->closing) return -EBUSY;
    c->closing = true;
    bool in_task = corio_current() != NULL;
    /* an abandoned statement may still run: it was interrupted, so waiting for it without suspending is short */
    if (!in_task || settle(c, true) < 0) settle(c, false);
    sqlite3 *db = c->db;
    corio_close(c->efd);
    corio_lock_free(c->gate);
    free(c->errmsg);
    free(c);
    job *j = in_task ? job_new(JOB_CLOSE) : NULL;
    if (j && corio_checkpoint() == 0) {
        j->db = db;
        int rc = submit(&j); /* abandoned (j cleared): the close goes on in the background */
        if (rc == 0 || !j) {
            job_free(j);
            return 0;
        }
    }
    job_free(j);
    sqlite3_close_v2(db); /* no pool to use: close here */
    return 0;
}
