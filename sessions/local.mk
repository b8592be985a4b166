# The session store: SQLite schema and migrations, the turn writer, queries, export and import.
noinst_LIBRARIES += sessions/libsessions.a
sessions_libsessions_a_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
sessions_libsessions_a_SOURCES = \
	%reldir%/store.h %reldir%/store-impl.h %reldir%/store.c %reldir%/schema.c \
	%reldir%/rows.c %reldir%/writer.c %reldir%/query.c \
	%reldir%/json.h %reldir%/json.c %reldir%/export.c %reldir%/import.c \
	%reldir%/sha256.h %reldir%/sha256.c
sessions_libsessions_a_SOURCES += %reldir%/chat-support.c
sessions_libsessions_a_SOURCES += %reldir%/replay.c
# Annotated turns as GRPO examples (ponder train grpo --from-sessions).
sessions_libsessions_a_SOURCES += %reldir%/grpo-set.h %reldir%/grpo-set.c

check_PROGRAMS += tests/test-store
TESTS += tests/test-store tests/test-sessions.sh
tests_test_store_SOURCES = tests/test-store.c
tests_test_store_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
tests_test_store_LDADD = sessions/libsessions.a $(ENGINE_LIBS) $(SQLITE3_LIBS)
EXTRA_DIST += tests/test-sessions.sh

# ponder run logs every turn: the tests log into a database of their own, never the user's.
AM_TESTS_ENVIRONMENT += PONDER_DB='$(abs_top_builddir)/tests/check.db'; export PONDER_DB;
CLEANFILES += tests/check.db tests/check.db-wal tests/check.db-shm
