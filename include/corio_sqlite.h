/* corio_sqlite.h - the optional SQLite module: SQLite connections used from tasks, every statement run on corio's
 * thread pool so the loop never blocks on the database (Python's aiosqlite). Link with libcorio_sqlite and
 * -lsqlite3.
 *
 * Rules:
 *  1. A connection belongs to the loop it was opened in. Many tasks may use it at once: their calls run one at a
 *     time, in the order they were made (FIFO), each as one job on the pool. For more work at once, open more
 *     connections (SQLite itself allows one statement at a time per connection).
 *  2. A cancelled or timed-out call returns -ECANCELED / -ETIMEDOUT at once; its statement is interrupted
 *     (sqlite3_interrupt and a progress handler) and the connection's next call starts only once it has really
 *     stopped, so two statements never run on one connection together. SQLite undoes the interrupted statement
 *     (inside an explicit transaction, the whole transaction); statements of the call that had completed stay.
 *  3. Errors are negative errno values (corio_sqlite_error gives the mapping); corio_sqlite_errmsg and
 *     corio_sqlite_errcode keep SQLite's own message and extended result code.
 *  4. Strings passed in are copied: the caller may free them as soon as the call returns, whatever it returned. */
#ifndef CORIO_SQLITE_H
#define CORIO_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "corio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A connection (opaque): corio_sqlite_open makes one, corio_sqlite_close frees it. */
typedef struct corio_sqlite corio_sqlite;
/* The rows a query returned (opaque), read with the corio_sqlite_rows_* accessors below. */
typedef struct corio_sqlite_rows corio_sqlite_rows;
/* SQLite's own connection handle (<sqlite3.h>), as corio_sqlite_call passes it. */
struct sqlite3;

/* Maps a SQLite result code (primary or extended) to a negative errno value: OK, ROW, DONE -> 0; BUSY, LOCKED ->
 * -EBUSY; CONSTRAINT_UNIQUE / _PRIMARYKEY / _ROWID -> -EEXIST (other constraints -> -EIO); NOMEM -> -ENOMEM;
 * READONLY -> -EROFS; INTERRUPT -> -ECANCELED; CANTOPEN -> -ENOENT; PERM, AUTH -> -EACCES; FULL -> -ENOSPC;
 * TOOBIG -> -E2BIG; RANGE -> -ERANGE; MISUSE -> -EINVAL; everything else (syntax errors, IOERR...) -> -EIO. */
CORIO_EXTERN int corio_sqlite_error(int sqlite_code);

/* Opens (on the pool) the database at path (a file name, ":memory:", or a URI with SQLITE_OPEN_URI). flags are
 * SQLITE_OPEN_* from <sqlite3.h>; 0 means SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE. NULL and errno on failure:
 * EINVAL (NULL path, flags without exactly one of READONLY / READWRITE), EPERM outside a task, ENOENT / EACCES
 * (the file cannot be opened: the system's errno when SQLite knows it), ENOMEM, ECANCELED / ETIMEDOUT, EIO. */
CORIO_EXTERN corio_sqlite *corio_sqlite_open(const char *path, int flags);

/* Runs sql, one or more ';'-separated statements, discarding any rows. 0, or -EIO (SQL error: see errmsg) and the
 * other corio_sqlite_error codes, -ECANCELED / -ETIMEDOUT (rule 2), -EBUSY while db is closing, -EINVAL (NULL),
 * -EPERM outside a task. Statements before a failing one stay done (use BEGIN ... COMMIT for all or nothing). */
CORIO_EXTERN int corio_sqlite_exec(corio_sqlite *db, const char *sql);

/* Runs one statement with nparams parameters bound to ?, ?NNN, :name... in order (params[i] is text, NULL for
 * SQL NULL; SQLite's column affinity turns "42" into an integer where the column wants one) and stores its rows
 * in *out (free with corio_sqlite_rows_free; out may be NULL to discard them). 0, or the errors of
 * corio_sqlite_exec, and -EINVAL if sql is not exactly one statement, nparams is not the statement's parameter
 * count, nparams < 0 or params is NULL with nparams > 0 (*out is NULL after any failure). */
CORIO_EXTERN int corio_sqlite_query(corio_sqlite *db, const char *sql, int nparams, const char *const *params,
                                    corio_sqlite_rows **out);

/* Runs fn(the sqlite3 handle, arg) on the pool in db's turn, like a statement (to register SQL functions, set a
 * busy timeout, or run a whole transaction in one go): fn's return value (fn should return 0 or a negative errno,
 * e.g. corio_sqlite_error(rc)). fn must not keep the handle, and its statements get interrupted as in rule 2. If
 * the caller is cancelled, fn runs on (or is skipped if it had not started): arg must stay valid until fn returns,
 * as with corio_to_thread. -ECANCELED, -ETIMEDOUT, -EBUSY, -EINVAL, -EPERM as corio_sqlite_exec. */
CORIO_EXTERN int corio_sqlite_call(corio_sqlite *db, int (*fn)(struct sqlite3 *handle, void *arg), void *arg);

/* SQLite's message for the call on db that completed last: "" if it succeeded (read it right after the failing
 * call, before suspending). "" for NULL. */
CORIO_EXTERN const char *corio_sqlite_errmsg(const corio_sqlite *db);
/* SQLite's extended result code for that call (SQLITE_OK if it succeeded), -EINVAL for NULL. */
CORIO_EXTERN int corio_sqlite_errcode(const corio_sqlite *db);
/* Rows changed by, and the rowid last inserted by, the statements of the call that completed last (as
 * sqlite3_changes64 / sqlite3_last_insert_rowid report them). 0 for NULL. */
CORIO_EXTERN int64_t corio_sqlite_changes(const corio_sqlite *db);
CORIO_EXTERN int64_t corio_sqlite_last_insert_rowid(const corio_sqlite *db);

/* Closes db (on the pool) and frees it: 0. -EBUSY (db untouched) while another task's call on db is queued or
 * running, or db is already closing; -EINVAL for NULL. A cancelled caller does not stop the close; it waits for
 * an interrupted statement to end without suspending if it has to. Works outside a loop too (then in this
 * thread), e.g. to close a connection left over once corio_run has returned. */
CORIO_EXTERN int corio_sqlite_close(corio_sqlite *db);

/* ---- result rows ---------------------------------------------------------------------------------------------
 * Every value is kept as SQLite's type plus its text form. Accessors never fail hard: out-of-range rows or
 * columns and a NULL rows give the values stated. */

enum {
    CORIO_SQLITE_INTEGER = 1, /* the values of SQLITE_INTEGER ... SQLITE_NULL */
    CORIO_SQLITE_FLOAT = 2,
    CORIO_SQLITE_TEXT = 3,
    CORIO_SQLITE_BLOB = 4,
    CORIO_SQLITE_NULL = 5
};

/* Number of rows, 0 for NULL. */
CORIO_EXTERN size_t corio_sqlite_rows_count(const corio_sqlite_rows *rows);
/* Number of columns, 0 for NULL. */
CORIO_EXTERN int corio_sqlite_rows_columns(const corio_sqlite_rows *rows);
/* The name of column col (its AS name if it has one), NULL if out of range. */
CORIO_EXTERN const char *corio_sqlite_rows_name(const corio_sqlite_rows *rows, int col);
/* The type of a value (CORIO_SQLITE_*), -EINVAL if out of range. */
CORIO_EXTERN int corio_sqlite_rows_type(const corio_sqlite_rows *rows, size_t row, int col);
/* A value as NUL-terminated text (a number in decimal; a blob's bytes, NUL added), NULL for SQL NULL or out of
 * range. Valid until corio_sqlite_rows_free. */
CORIO_EXTERN const char *corio_sqlite_rows_text(const corio_sqlite_rows *rows, size_t row, int col);
/* The length in bytes of that text or blob (without the NUL), 0 for NULL or out of range. */
CORIO_EXTERN size_t corio_sqlite_rows_bytes(const corio_sqlite_rows *rows, size_t row, int col);
/* A value as SQLite converts it to an integer / a double (sqlite3_column_int64 / _double); 0 for NULL or out of
 * range. */
CORIO_EXTERN int64_t corio_sqlite_rows_int(const corio_sqlite_rows *rows, size_t row, int col);
CORIO_EXTERN double corio_sqlite_rows_double(const corio_sqlite_rows *rows, size_t row, int col);
/* Frees rows; NULL is ignored. */
CORIO_EXTERN void corio_sqlite_rows_free(corio_sqlite_rows *rows);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_SQLITE_H */
