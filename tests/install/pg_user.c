/* pg_user.c - a program of the install test that uses corio's PostgreSQL module and calls libpq itself, as a
 * caller freeing a PGresult does: it must link with `pkg-config --cflags --libs corio-pg` alone. */
#include <corio_pg.h>
#include <libpq-fe.h>
#include <stdio.h>

int main(void) {
    /* PQclear(NULL) is allowed: it stands for the PQclear of a result corio_pg_query handed out */
    PQclear(NULL);
    printf("libpq %d, corio_pg_close(NULL) %d\n", PQlibVersion(), corio_pg_close(NULL));
    return 0;
}
