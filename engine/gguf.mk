# engine/gguf.mk: the GGUF reader and writer, their unit test and their fuzz harness.
engine_libengine_a_SOURCES += \
	%reldir%/gguf.c %reldir%/gguf-get.c %reldir%/gguf-impl.h %reldir%/gguf-write.c \
	%reldir%/gguf.h

check_PROGRAMS += tests/test-gguf
TESTS += tests/test-gguf
tests_test_gguf_SOURCES = tests/test-gguf.c

EXTRA_DIST += tests/fuzz/corpus-gguf

# libFuzzer harness. Configure with CC=clang CFLAGS='-g -O1 -fsanitize=fuzzer-no-link,address'
# --enable-fuzzing so the engine is instrumented too; run it as
#   tests/fuzz/fuzz-gguf -max_total_time=600 $(srcdir)/tests/fuzz/corpus-gguf
if ENABLE_FUZZING
check_PROGRAMS += tests/fuzz/fuzz-gguf
tests_fuzz_fuzz_gguf_SOURCES = tests/fuzz/fuzz-gguf.c
tests_fuzz_fuzz_gguf_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_gguf_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif
