/* corio_pg.h - PostgreSQL for corio tasks (asyncpg for C): libpq's asynchronous API driven by corio's fd waits,
 * so a query suspends only its task. Link with libcorio_pg and -lpq (Debian: libpq-dev).
 *
 *     corio_pg *c = corio_pg_connect("host=127.0.0.1 user=app password=... dbname=app");
 *     if (!c) return fprintf(stderr, "%s", corio_pg_last_error()), -errno;
 *     const char *params[] = {"42", NULL};          // text values; NULL is SQL NULL
 *     PGresult *res;
 *     int rc = corio_pg_query(c, "SELECT $1::int + 1, $2::text IS NULL", 2, params, &res);
 *     if (rc == 0) printf("%s\n", PQgetvalue(res, 0, 0));
 *     else if (rc == -EIO) printf("SQLSTATE %s\n", PQresultErrorField(res, PG_DIAG_SQLSTATE));
 *     PQclear(res);                                 // the caller owns the result, even on -EIO
 *     corio_pg_close(c);
 *
 *     corio_pg_pool *pool = corio_pg_pool_new(conninfo, 20);  // at most 20 connections, opened on demand
 *     rc = corio_pg_pool_query(pool, "SELECT pg_sleep(0.2)", 0, NULL, NULL);  // acquire + query + release
 *
 * Cancellation and timeouts work as everywhere in corio: a task cancelled (or whose timeout scope expires) in
 * corio_pg_query returns -ECANCELED (-ETIMEDOUT) at once, and a helper task sends the server a cancel request
 * (PQcancel, on the thread pool) and reads what is left of the query's results, so the server stops working on it
 * and the connection stays usable: the next query on it waits for that clean-up first. A connection that broke
 * (-ECONNRESET) can only be closed; a pool replaces it. One query at a time per connection (-EBUSY otherwise).
 * Connection parameters are libpq's; connect_timeout (seconds) is honoured as a timeout scope, and a host name is
 * resolved together with the first connection attempt on the thread pool. Only corio's public API is used. */
#ifndef CORIO_PG_H
#define CORIO_PG_H

#include <libpq-fe.h>

#include "corio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_pg corio_pg;
typedef struct corio_pg_pool corio_pg_pool;

/* Connects with a libpq conninfo string or URI, suspending while it does. NULL and errno on failure: EINVAL (bad
 * conninfo), ECONNREFUSED / EHOSTUNREACH / ENOENT (no server there, unknown host), EACCES (authentication
 * failed), EAGAIN (server full or starting), EIO (other server refusal), ECANCELED / ETIMEDOUT, EPERM outside a
 * task, ENOMEM; corio_pg_last_error() then says why in words. */
CORIO_EXTERN corio_pg *corio_pg_connect(const char *conninfo);
/* The message of this thread's last failed corio_pg_connect (libpq's or the server's), "" if none; valid until
 * the next corio_pg_connect in this thread. */
CORIO_EXTERN const char *corio_pg_last_error(void);
/* Closes the connection and frees c (a clean-up still running after a cancelled query finishes first, on its
 * own). 0, -EINVAL if c is NULL or belongs to a pool (release it instead), -EBUSY while a query runs on it. */
CORIO_EXTERN int corio_pg_close(corio_pg *c);

/* Runs sql with nparams text parameters (params[i] NULL is SQL NULL; $1, $2... in sql) and stores the last
 * result in *res (res may be NULL to discard it; else the caller PQclear's *res, which is NULL when no result
 * came back). With nparams 0 sql may hold several statements. 0 on success; -EIO if the server reported an
 * error (*res holds it: PQresultErrorField(*res, PG_DIAG_SQLSTATE)); -ECONNRESET if the connection broke (*res
 * may tell why); -ECANCELED / -ETIMEDOUT (the query is cancelled on the server); -EBUSY if another query runs on
 * c; -ENOTSUP for COPY; -EINVAL (c or sql NULL, nparams < 0, params NULL with nparams > 0); -EPERM outside a task.
 */
CORIO_EXTERN int corio_pg_query(corio_pg *c, const char *sql, int nparams, const char *const *params, PGresult **res);
/* corio_pg_query for a command whose result is not needed: the number of rows it affected (0 for commands that
 * report none), or corio_pg_query's errors. */
CORIO_EXTERN int64_t corio_pg_exec(corio_pg *c, const char *sql, int nparams, const char *const *params);
/* The connection's last error message (libpq's PQerrorMessage), "" if none; NULL if c is NULL. */
CORIO_EXTERN const char *corio_pg_error(const corio_pg *c);
/* libpq's connection, for what this adapter does not wrap (PQbackendPID, PQescapeLiteral...). Do not wait on its
 * socket or run queries on it directly. NULL if c is NULL. */
CORIO_EXTERN PGconn *corio_pg_conn(const corio_pg *c);

/* A pool of at most size connections to conninfo, opened when first needed (can be made outside a loop). NULL and
 * errno EINVAL (conninfo NULL or invalid, size 0) or ENOMEM. */
CORIO_EXTERN corio_pg_pool *corio_pg_pool_new(const char *conninfo, unsigned size);
/* Takes a connection from the pool, suspending while all size are in use (FIFO); a connection found broken is
 * replaced by a new one. NULL and errno: ECANCELED / ETIMEDOUT (nothing taken), EINVAL, EPERM, or
 * corio_pg_connect's errors when a new connection fails. */
CORIO_EXTERN corio_pg *corio_pg_pool_acquire(corio_pg_pool *p);
/* Gives c back to the pool (a broken connection is closed and will be replaced). 0, -EINVAL if p or c is NULL or
 * c was not acquired from p. */
CORIO_EXTERN int corio_pg_pool_release(corio_pg_pool *p, corio_pg *c);
/* acquire + corio_pg_query + release: corio_pg_query's result, or corio_pg_pool_acquire's errno as -errno. */
CORIO_EXTERN int corio_pg_pool_query(corio_pg_pool *p, const char *sql, int nparams, const char *const *params,
                                     PGresult **res);
/* Closes the pool's connections and frees p. 0 (NULL is ignored), -EBUSY if connections are still acquired or
 * tasks wait in corio_pg_pool_acquire (nothing is freed). */
CORIO_EXTERN int corio_pg_pool_free(corio_pg_pool *p);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PG_H */
