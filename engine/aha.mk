# engine/aha.mk: the aha-moment detectors (engine/aha*.c: the handle, the built-in detector, its
# answer scanner, the cue list) and where their flags are stored (sessions/aha.c), with their test.
engine_libengine_a_SOURCES += %reldir%/aha.h %reldir%/aha.c %reldir%/aha-impl.h \
	%reldir%/aha-builtin.c %reldir%/aha-answer.c %reldir%/aha-cues.c

# sessions/local.mk is included after this file and sets sessions_libsessions_a_SOURCES with '=',
# so the store part joins that library as an extra object (automake's way for conditional
# sources) rather than with '+='.
EXTRA_sessions_libsessions_a_SOURCES = sessions/aha.h sessions/aha.c
sessions_libsessions_a_LIBADD = sessions/libsessions_a-aha.$(OBJEXT)

check_PROGRAMS += tests/test-aha
TESTS += tests/test-aha
tests_test_aha_SOURCES = tests/test-aha.c
tests_test_aha_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
tests_test_aha_LDADD = sessions/libsessions.a $(ENGINE_LIBS) $(SQLITE3_LIBS)
