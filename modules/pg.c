/* pg.c - the PostgreSQL module: libpq's non-blocking connection and query calls driven by corio_wait_readable /
 * corio_wait_writable, server-side cancellation of abandoned queries, and a small connection pool. A thin adapter
 * on corio's public API (corio.h) only.
 *
 * Descriptors: libpq closes its socket with close(2) (on PQfinish, on a broken connection, between the addresses
 * it tries while connecting), which corio's registry of watched descriptors must never see happen to a number it
 * knows. So corio only ever sees a dup of libpq's socket, owned by this module and closed with corio_close; while
 * connecting, the socket's inode tells when libpq has moved to a new one. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corio_pg.h"

/* How long a cancelled query's clean-up may take before the connection is given up as broken: the cancel request
 * normally ends the query within milliseconds, but it can arrive too late for a query the server already finished
 * parsing into a long non-interruptible step. */
#define DRAIN_MS 10000

struct corio_pg {
    PGconn *conn;
    int fd; /* our dup of PQsocket(conn), the only number corio waits on; -1 before there is one */
    dev_t dev;
    ino_t ino;
    bool busy;            /* a corio_pg_query runs */
    bool draining;        /* the helper task cancels and drains an abandoned query */
    bool broken;          /* only corio_pg_close is left */
    bool closing;         /* closed while draining: the helper frees it */
    bool copy_out;        /* discarding the data of a COPY TO STDOUT */
    bool unsupported;     /* the query was a COPY */
    corio_task *helper;   /* the draining task (detached; valid while draining) */
    corio_event *drained; /* set whenever no clean-up runs */
    corio_pg_pool *pool;  /* the pool it belongs to, or NULL */
    bool in_use;          /* acquired from its pool */
};

struct corio_pg_pool {
    char *conninfo;
    corio_sem *permits; /* one per connection allowed: acquire suspends while none is free */
    corio_pg **idle;    /* connections ready for reuse, most recently used last */
    unsigned nidle;
    unsigned out; /* acquired and not yet released */
};

static _Thread_local char last_error[1024];

const char *corio_pg_last_error(void) { return last_error; }

static void set_last_error(const char *msg) { (void)snprintf(last_error, sizeof last_error, "%s", msg ? msg : ""); }

/* ---- descriptors -------------------------------------------------------------------------------------------- */

/* Makes c->fd a dup of libpq's current socket: 0 or -errno. */
static int sync_fd(corio_pg *c) {
    int s = PQsocket(c->conn);
    if (s < 0) return -EIO;
    struct stat st;
    if (fstat(s, &st) < 0) return -errno;
    if (c->fd >= 0 && st.st_dev == c->dev && st.st_ino == c->ino) return 0;
    if (c->fd >= 0) corio_close(c->fd);
    c->fd = fcntl(s, F_DUPFD_CLOEXEC, 0);
    if (c->fd < 0) return -errno;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    return 0;
}

static void free_conn(corio_pg *c) {
    if (c->fd >= 0) corio_close(c->fd); /* first, so corio forgets the number before libpq closes its own */
    PQfinish(c->conn);
    corio_event_free(c->drained);
    free(c);
}

static corio_pg *new_conn(void) {
    corio_pg *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = -1;
    if (!(c->drained = corio_event_new())) {
        free(c);
        return NULL;
    }
    corio_event_set(c->drained);
    return c;
}

/* ---- connecting --------------------------------------------------------------------------------------------- */

/* Copies libpq's verbose message (set for connecting, so it carries the server's SQLSTATE) into last_error
 * without the SQLSTATE and LOCATION parts, and stores the SQLSTATE in state (empty if there is none). */
static void take_message(PGconn *conn, char state[6]) {
    const char *m = PQerrorMessage(conn);
    state[0] = '\0';
    size_t o = 0;
    while (*m && o + 1 < sizeof last_error) {
        if (!state[0] && strncmp(m, ":  ", 3) == 0 && strspn(m + 3, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5 &&
            strncmp(m + 8, ": ", 2) == 0) {
            memcpy(state, m + 3, 5);
            state[5] = '\0';
            memcpy(last_error + o, ":  ", 3 < sizeof last_error - 1 - o ? 3 : sizeof last_error - 1 - o);
            o += 3 < sizeof last_error - 1 - o ? 3 : sizeof last_error - 1 - o;
            m += 10;
            continue;
        }
        if ((m == PQerrorMessage(conn) || m[-1] == '\n') && strncmp(m, "LOCATION:  ", 11) == 0) {
            const char *nl = strchr(m, '\n');
            m = nl ? nl + 1 : m + strlen(m);
            continue;
        }
        last_error[o++] = *m++;
    }
    last_error[o] = '\0';
}

/* errno for a failed connection attempt, from the server's SQLSTATE or else from the system error libpq names. */
static int connect_errno(PGconn *conn) {
    char state[6];
    take_message(conn, state);
    if (state[0]) {
        if (strncmp(state, "28", 2) == 0) return EACCES; /* invalid authorization / password */
        if (strcmp(state, "3D000") == 0) return ENOENT;  /* no such database */
        if (strcmp(state, "53300") == 0 || strcmp(state, "57P03") == 0) return EAGAIN; /* full / starting up */
        return EIO;
    }
    if (PQconnectionNeedsPassword(conn)) return EACCES;
    /* libpq words a system error with strerror in this process's locale: find which one */
    static const int errs[] = {ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ECONNRESET, ENOENT, EACCES};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        char buf[128];
        const char *s = strerror_r(errs[i], buf, sizeof buf);
        if (strstr(last_error, s)) return errs[i];
    }
    if (strstr(last_error, gai_strerror(EAI_NONAME))) return ENOENT;
    if (strstr(last_error, gai_strerror(EAI_AGAIN))) return EAGAIN;
    return EIO;
}

struct start_job {
    char *conninfo;
    PGconn *conn;
};

/* PQconnectStart resolves the host name and starts the TCP connect: on a pool thread, the loop goes on. */
static int start_on_thread(void *arg) {
    struct start_job *j = arg;
    j->conn = PQconnectStart(j->conninfo);
    return 0;
}

static void start_abandoned(void *arg) {
    struct start_job *j = arg;
    PQfinish(j->conn);
    free(j->conninfo);
    free(j);
}

static int connect_poll(corio_pg *c, const char *conninfo) {
    int rc = corio_checkpoint(); /* so that an error from corio_to_thread_opts below means the job was submitted */
    if (rc < 0) return rc;
    struct start_job *j = calloc(1, sizeof *j);
    if (!j || !(j->conninfo = strdup(conninfo))) {
        free(j);
        return -ENOMEM;
    }
    rc = corio_to_thread_opts(start_on_thread, j, &(corio_work_opts){.abandoned = start_abandoned});
    if (rc == -ECANCELED || rc == -ETIMEDOUT) return rc; /* start_abandoned frees j */
    c->conn = j->conn;
    free(j->conninfo);
    free(j);
    if (rc < 0) return rc;
    if (!c->conn) return -ENOMEM;
    PQsetErrorVerbosity(c->conn, PQERRORS_VERBOSE);
    PostgresPollingStatusType st = PQstatus(c->conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) return -connect_errno(c->conn);
        if ((rc = sync_fd(c)) < 0) return rc;
        rc = st == PGRES_POLLING_READING ? corio_wait_readable(c->fd) : corio_wait_writable(c->fd);
        if (rc < 0) return rc;
        st = PQconnectPoll(c->conn);
    }
    PQsetErrorVerbosity(c->conn, PQERRORS_DEFAULT);
    if (PQsetnonblocking(c->conn, 1) != 0) return -connect_errno(c->conn);
    return sync_fd(c);
}

/* connect_timeout in seconds from conninfo (libpq ignores it in PQconnectPoll), 0 if none; -1 if conninfo is
 * invalid (last_error says why), -2 out of memory. */
static int64_t parse_conninfo(const char *conninfo) {
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (!opts) {
        set_last_error(err);
        int rc = err ? -1 : -2;
        PQfreemem(err);
        return rc;
    }
    int64_t secs = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val) secs = strtoll(o->val, NULL, 10);
    PQconninfoFree(opts);
    return secs > 0 ? secs : 0;
}

static corio_pg *fail_connect(int err, const char *msg) {
    if (msg) set_last_error(msg);
    errno = err;
    return NULL;
}

corio_pg *corio_pg_connect(const char *conninfo) {
    last_error[0] = '\0';
    if (!conninfo) return fail_connect(EINVAL, "corio_pg_connect: conninfo is NULL");
    if (!corio_current()) return fail_connect(EPERM, "corio_pg_connect: not called from a corio task");
    int64_t secs = parse_conninfo(conninfo);
    if (secs < 0) return fail_connect(secs == -1 ? EINVAL : ENOMEM, NULL);
    corio_pg *c = new_conn();
    if (!c) return fail_connect(ENOMEM, corio_strerror(-ENOMEM));
    corio_timeout scope;
    bool scoped = secs > 0 && corio_timeout_enter(&scope, secs * 1000) == 0;
    int rc = connect_poll(c, conninfo);
    if (scoped) corio_timeout_exit(&scope);
    if (rc < 0) {
        if (!last_error[0]) set_last_error(corio_strerror(rc));
        free_conn(c);
        errno = -rc;
        return NULL;
    }
    return c;
}

/* ---- queries ------------------------------------------------------------------------------------------------ */

/* After the connection broke: takes the results libpq still holds (the server's last words) into *keep; none of
 * these calls can block on a dead connection. */
static int broke(corio_pg *c, PGresult **keep) {
    c->broken = true;
    PGresult *r;
    while ((r = PQgetResult(c->conn))) {
        if (keep && !*keep) {
            *keep = r;
        } else {
            PQclear(r);
        }
    }
    return -ECONNRESET;
}

/* Keeps the result to report: the first error, else the last result. */
static void keep_result(PGresult **keep, PGresult *r) {
    if (*keep && PQresultStatus(*keep) == PGRES_FATAL_ERROR) {
        PQclear(r);
        return;
    }
    PQclear(*keep);
    *keep = r;
}

/* Sends what is buffered and reads results until the query has ended (PQgetResult returned NULL). 0, -ECONNRESET,
 * -ENOTSUP (COPY BOTH: the connection is then broken), or a wait's error (-ECANCELED, -ETIMEDOUT...) with the
 * query still under way. */
static int run_to_end(corio_pg *c, PGresult **keep) {
    PGconn *pc = c->conn;
    for (;;) {
        if (PQstatus(pc) == CONNECTION_BAD) return broke(c, keep);
        int rc, f = PQflush(pc);
        if (f < 0) return broke(c, keep);
        if (f > 0) {
            if ((rc = corio_wait_writable(c->fd)) < 0) return rc;
            continue;
        }
        if (!PQconsumeInput(pc) && PQstatus(pc) == CONNECTION_BAD) return broke(c, keep);
        bool again = false;
        while (c->copy_out) { /* the rows of COPY TO STDOUT, thrown away */
            char *buf = NULL;
            int n = PQgetCopyData(pc, &buf, 1);
            if (buf) PQfreemem(buf);
            if (n == 0) break; /* needs more input */
            if (n < 0) c->copy_out = false;
        }
        while (!c->copy_out && !again && !PQisBusy(pc)) {
            PGresult *r = PQgetResult(pc);
            if (!r) return PQstatus(pc) == CONNECTION_BAD ? broke(c, keep) : 0;
            switch (PQresultStatus(r)) {
            case PGRES_COPY_IN: /* makes the server fail the COPY with this message */
                PQclear(r);
                c->unsupported = true;
                if (PQputCopyEnd(pc, "COPY FROM STDIN is not supported by corio_pg") < 0) return broke(c, keep);
                again = true; /* flush it */
                break;
            case PGRES_COPY_OUT:
                PQclear(r);
                c->unsupported = c->copy_out = true;
                again = true;
                break;
            case PGRES_COPY_BOTH: /* replication: nothing this adapter can finish */
                PQclear(r);
                c->broken = true;
                return -ENOTSUP;
            default:
                keep_result(keep, r);
            }
        }
        if (again) continue;
        if ((rc = corio_wait_readable(c->fd)) < 0) return rc;
    }
}

static int cancel_on_thread(void *arg) {
    char err[256];
    return PQcancel(arg, err, sizeof err) ? 0 : -EIO;
}

static void cancel_abandoned(void *arg) { PQfreeCancel(arg); }

static void *cancel_detached(void *arg) {
    cancel_on_thread(arg);
    PQfreeCancel(arg);
    return NULL;
}

/* The cancel request when no task can wait for it (the helper was cancelled before it could send it: the loop is
 * ending, or the connection was closed): a detached thread of its own, or else the query runs on to its end on
 * the server. */
static void cancel_in_background(PGconn *conn) {
    PGcancel *pc = PQgetCancel(conn);
    pthread_t th;
    pthread_attr_t attr;
    if (!pc) return;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        bool started = pthread_create(&th, &attr, cancel_detached, pc) == 0;
        pthread_attr_destroy(&attr);
        if (started) return;
    }
    PQfreeCancel(pc);
}

/* The helper task of an abandoned query: asks the server to cancel it, then reads its results to the end, so
 * that the connection is idle again (or marked broken if that fails). */
static int drain_main(void *arg) {
    corio_pg *c = arg;
    int rc = corio_checkpoint();
    if (rc == 0) {
        PGcancel *pc = PQgetCancel(c->conn);
        rc = pc ? corio_to_thread_opts(cancel_on_thread, pc, &(corio_work_opts){.abandoned = cancel_abandoned})
                : -ENOMEM;
        if (pc && rc != -ECANCELED && rc != -ETIMEDOUT) PQfreeCancel(pc);
    } else { /* cancelled already (closed, or the loop is ending): give the connection up, stop the query */
        cancel_in_background(c->conn);
    }
    if (rc != -ECANCELED && rc != -ETIMEDOUT) {
        /* even if the cancel request failed, the query may end by itself in time */
        corio_timeout scope;
        if ((rc = corio_timeout_enter(&scope, DRAIN_MS)) == 0) {
            PGresult *keep = NULL;
            rc = run_to_end(c, &keep);
            PQclear(keep);
            corio_timeout_exit(&scope);
        }
    }
    if (rc < 0) c->broken = true;
    c->copy_out = c->unsupported = false;
    c->draining = false;
    c->helper = NULL;
    corio_event_set(c->drained);
    if (c->closing) free_conn(c);
    return 0;
}

/* Hands an abandoned query over to a helper task: the caller, cancelled, cannot suspend any more. */
static void start_drain(corio_pg *c) {
    corio_task *t = corio_spawn(drain_main, c);
    if (!t) {
        c->broken = true;
        return;
    }
    corio_task_set_name(t, "corio_pg drain");
    c->draining = true;
    c->helper = t;
    corio_event_clear(c->drained);
    corio_detach(t);
}

static int query(corio_pg *c, const char *sql, int nparams, const char *const *params, PGresult **keep) {
    int rc;
    while (c->draining)
        if ((rc = corio_event_wait(c->drained)) < 0) return rc;
    if (c->broken || PQstatus(c->conn) != CONNECTION_OK) return -ECONNRESET;
    int sent = nparams == 0 ? PQsendQuery(c->conn, sql)
                            : PQsendQueryParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!sent) return PQstatus(c->conn) == CONNECTION_BAD ? broke(c, keep) : -EINVAL; /* e.g. > 65535 params */
    c->unsupported = false;
    rc = run_to_end(c, keep);
    if (rc == -ECANCELED || rc == -ETIMEDOUT) {
        PQclear(*keep);
        *keep = NULL;
        start_drain(c);
        return rc;
    }
    if (rc < 0) {
        if (rc != -ECONNRESET) c->broken = true; /* a failed wait (-EBADF, -ENOMEM): the state is unknown */
        return rc;
    }
    if (c->unsupported) return -ENOTSUP;
    if (!*keep) return 0;
    ExecStatusType st = PQresultStatus(*keep);
    return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ? -EIO : 0;
}

int corio_pg_query(corio_pg *c, const char *sql, int nparams, const char *const *params, PGresult **res) {
    if (res) *res = NULL;
    if (!c || !sql || nparams < 0 || (nparams > 0 && !params)) return -EINVAL;
    if (!corio_current()) return -EPERM;
    if (c->busy) return -EBUSY;
    c->busy = true;
    PGresult *keep = NULL;
    int rc = query(c, sql, nparams, params, &keep);
    c->busy = false;
    if (res) {
        *res = keep;
    } else {
        PQclear(keep);
    }
    return rc;
}

int64_t corio_pg_exec(corio_pg *c, const char *sql, int nparams, const char *const *params) {
    PGresult *r;
    int rc = corio_pg_query(c, sql, nparams, params, &r);
    int64_t n = rc == 0 && r ? strtoll(PQcmdTuples(r), NULL, 10) : rc;
    PQclear(r);
    return n;
}

const char *corio_pg_error(const corio_pg *c) { return c ? PQerrorMessage(c->conn) : NULL; }

PGconn *corio_pg_conn(const corio_pg *c) { return c ? c->conn : NULL; }

static int close_conn(corio_pg *c) {
    if (c->busy) return -EBUSY;
    if (c->draining) { /* the helper frees it once it has stopped */
        c->closing = true;
        corio_cancel(c->helper);
        return 0;
    }
    free_conn(c);
    return 0;
}

int corio_pg_close(corio_pg *c) {
    if (!c || c->pool) return -EINVAL;
    return close_conn(c);
}

/* ---- the pool ----------------------------------------------------------------------------------------------- */

corio_pg_pool *corio_pg_pool_new(const char *conninfo, unsigned size) {
    if (!conninfo || size == 0) {
        errno = EINVAL;
        return NULL;
    }
    int64_t secs = parse_conninfo(conninfo);
    if (secs < 0) {
        errno = secs == -1 ? EINVAL : ENOMEM;
        return NULL;
    }
    corio_pg_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->conninfo = strdup(conninfo)) || !(p->idle = calloc(size, sizeof(corio_pg *))) ||
        !(p->permits = corio_sem_new(size))) {
        if (p) {
            free(p->conninfo);
            free(p->idle);
        }
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

/* Whether an idle connection still works: anything the server sent while it was idle is read first, so a
 * connection the server has closed (pg_terminate_backend, a restart) is found out here rather than by a query. */
static bool usable(corio_pg *c) {
    if (c->draining) return true; /* its next query waits for the clean-up */
    if (c->broken || PQstatus(c->conn) != CONNECTION_OK) return false;
    /* a few rounds: libpq returns after reading data, and sees the end of file only on its next read */
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    for (int i = 0; i < 8 && PQstatus(c->conn) == CONNECTION_OK && poll(&pf, 1, 0) > 0; i++) {
        PQconsumeInput(c->conn);
        PGnotify *n;
        while ((n = PQnotifies(c->conn))) PQfreemem(n);
    }
    return PQstatus(c->conn) == CONNECTION_OK;
}

corio_pg *corio_pg_pool_acquire(corio_pg_pool *p) {
    if (!p) {
        errno = EINVAL;
        return NULL;
    }
    if (!corio_current()) {
        errno = EPERM;
        return NULL;
    }
    int rc = corio_sem_acquire(p->permits);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    corio_pg *c = NULL;
    while (!c && p->nidle > 0) {
        /* the most recently used connection that is not still cleaning up, else the most recent */
        unsigned i = p->nidle - 1;
        while (i > 0 && p->idle[i]->draining) i--;
        if (p->idle[i]->draining) i = p->nidle - 1;
        c = p->idle[i];
        memmove(&p->idle[i], &p->idle[i + 1], (p->nidle - i - 1) * sizeof(corio_pg *));
        p->nidle--;
        if (!usable(c)) {
            c->pool = NULL;
            close_conn(c);
            c = NULL;
        }
    }
    if (!c && !(c = corio_pg_connect(p->conninfo))) {
        int e = errno;
        corio_sem_release(p->permits);
        errno = e;
        return NULL;
    }
    c->pool = p;
    c->in_use = true;
    p->out++;
    return c;
}

int corio_pg_pool_release(corio_pg_pool *p, corio_pg *c) {
    if (!p || !c || c->pool != p || !c->in_use) return -EINVAL;
    if (c->busy) return -EBUSY;
    c->in_use = false;
    p->out--;
    if (c->broken || PQstatus(c->conn) != CONNECTION_OK) {
        c->pool = NULL;
        close_conn(c);
    } else {
        p->idle[p->nidle++] = c;
    }
    corio_sem_release(p->permits);
    return 0;
}

int corio_pg_pool_query(corio_pg_pool *p, const char *sql, int nparams, const char *const *params, PGresult **res) {
    if (res) *res = NULL;
    if (!p || !sql || nparams < 0 || (nparams > 0 && !params)) return -EINVAL;
    corio_pg *c = corio_pg_pool_acquire(p);
    if (!c) return -errno;
    int rc = corio_pg_query(c, sql, nparams, params, res);
    corio_pg_pool_release(p, c);
    return rc;
}

int corio_pg_pool_free(corio_pg_pool *p) {
    if (!p) return 0;
    if (p->out > 0) return -EBUSY;
    int rc = corio_sem_free(p->permits);
    if (rc < 0) return rc;
    for (unsigned i = 0; i < p->nidle; i++) {
        p->idle[i]->pool = NULL;
        close_conn(p->idle[i]);
    }
    free(p->idle);
    free(p->conninfo);
    free(p);
    return 0;
}
