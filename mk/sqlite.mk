# sqlite.mk - the optional SQLite module (modules/sqlite.c, include/corio_sqlite.h): statements run on corio's
# thread pool, one connection's statements in FIFO order. Built when SQLite is present (Debian: libsqlite3-dev);
# examples/db_demo.c needs it too.
ALL_MODULES += sqlite
ifeq ($(call have,sqlite3.h,sqlite3),1)
MODULES += sqlite
sqlite_LDLIBS := -lsqlite3
$(BUILD)/examples/db_demo: MODLINK += $(BUILD)/libcorio_sqlite.a $(sqlite_LDLIBS)
$(BUILD)/examples/db_demo: $(BUILD)/libcorio_sqlite.a
else
$(info corio: SQLite module (corio_sqlite) skipped: install libsqlite3-dev)
EXAMPLE_SKIP += examples/db_demo.c
endif
