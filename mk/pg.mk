# pg.mk - the PostgreSQL module (modules/pg.c, include/corio_pg.h): libpq's asynchronous API on corio's fd waits.
# Needs libpq-dev; its tests (tests/test_pg.c) also need the PostgreSQL server (Debian: postgresql).
ALL_MODULES += pg
ifeq ($(call have,postgresql/libpq-fe.h,pq),1)
MODULES += pg
pg_CFLAGS := -I/usr/include/postgresql
pg_LDLIBS := -lpq
ifeq ($(wildcard /usr/lib/postgresql/*/bin/postgres),)
$(info corio: PostgreSQL tests (test_pg) skipped: install postgresql, the server they start)
TEST_SKIP += tests/test_pg.c
endif
else
$(info corio: PostgreSQL module (corio_pg) skipped: install libpq-dev)
endif
