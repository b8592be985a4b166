# CPU kernels: the thread pool, matrix products over quantized weights, and the small ops.
kernels_libkernels_a_SOURCES += \
	%reldir%/threadpool.c %reldir%/threadpool.h \
	%reldir%/matmul.c %reldir%/matmul.h \
	%reldir%/repack.c %reldir%/repack-avx2.c %reldir%/repack.h \
	%reldir%/ops.c %reldir%/ops.h
