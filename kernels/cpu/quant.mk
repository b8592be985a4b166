# The tensor formats: the type table, dequantizers, quantizers and dot products (plain C and AVX2).
kernels_libkernels_a_SOURCES += \
	%reldir%/quant-traits.c %reldir%/quant.h \
	%reldir%/quant.c %reldir%/quant-k.c %reldir%/quant-avx2.c %reldir%/quant-impl.h

# The tensor formats against the gguf package's reference (tests/data/quant-ref.bin, written by
# tests/tools/make-quant-fixtures.py).
check_PROGRAMS += tests/test-quant
TESTS += tests/test-quant
tests_test_quant_SOURCES = tests/test-quant.c
EXTRA_DIST += tests/data/quant-ref.bin tests/tools/make-quant-fixtures.py

# Q4_0 repacked eight rows at a time against its rows: the kernels, the side table, pd_matmul.
check_PROGRAMS += tests/test-repack
TESTS += tests/test-repack
tests_test_repack_SOURCES = tests/test-repack.c

# Throughput of pd_vec_dot per format: built by make check, run by hand (not a test):
# tests/bench/bench-quant [MB]
check_PROGRAMS += tests/bench/bench-quant
tests_bench_bench_quant_SOURCES = tests/bench/bench-quant.c
