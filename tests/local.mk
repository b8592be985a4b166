# Shared test support and the end-to-end tests of the ponder binary.
EXTRA_DIST += %reldir%/tap.h %reldir%/fetch-model

check_PROGRAMS += tests/test-model tests/test-threadpool tests/test-ops tests/test-cuda
TESTS += tests/test-model tests/test-threadpool tests/test-ops tests/test-cuda tests/test-cli.sh
tests_test_model_SOURCES = tests/test-model.c
tests_test_threadpool_SOURCES = tests/test-threadpool.c
tests_test_ops_SOURCES = tests/test-ops.c
tests_test_cuda_SOURCES = tests/test-cuda.c
EXTRA_DIST += %reldir%/test-cli.sh %reldir%/data/smollm2-logits.bin \
	%reldir%/tools/make-model-fixtures.py
