# The CUDA backend when configure found nvcc and cuBLAS; otherwise a stub that says there is none.
# Every .cu file is listed in PD_CUDA_OBJS, so a CUDA build compiles them all.
PD_CUDA_OBJS = %reldir%/backend.o %reldir%/rmsnorm.o %reldir%/quant.o %reldir%/matmul.o \
	%reldir%/ops.o %reldir%/attention.o %reldir%/moe.o %reldir%/sampler.o %reldir%/exec.o
PD_CUDA_HDRS = %reldir%/cuda-common.cuh %reldir%/quant.cuh %reldir%/exec.cuh
kernels_libkernels_a_SOURCES += kernels/backend.h
EXTRA_DIST += %reldir%/backend.cu %reldir%/rmsnorm.cu %reldir%/quant.cu %reldir%/matmul.cu \
	%reldir%/ops.cu %reldir%/attention.cu %reldir%/moe.cu %reldir%/sampler.cu %reldir%/exec.cu \
	$(PD_CUDA_HDRS) %reldir%/stub.c tests/test-cuda-decode.cu

if HAVE_CUDA
SUFFIXES = .cu
.cu.o:
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(NVCC) $(CUDA_GENCODE) -O3 -std=c++17 -Xcompiler -fPIC $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CUDA_CPPFLAGS) -c $< -o $@
# nvcc writes no dependency files here: every object depends on the shared headers.
$(PD_CUDA_OBJS): $(PD_CUDA_HDRS) kernels/backend.h
kernels_libkernels_a_LIBADD = $(PD_CUDA_OBJS)
kernels_libkernels_a_DEPENDENCIES = $(PD_CUDA_OBJS)
CLEANFILES += $(PD_CUDA_OBJS)
# The block decoders of quant.cuh run on the host against the CPU's: no GPU needed.
check_PROGRAMS += tests/test-cuda-decode
TESTS += tests/test-cuda-decode
tests_test_cuda_decode_SOURCES =
tests_test_cuda_decode_LDADD = tests/test-cuda-decode.o $(ENGINE_LIBS)
tests_test_cuda_decode_DEPENDENCIES = tests/test-cuda-decode.o kernels/libkernels.a
tests/test-cuda-decode.o: $(PD_CUDA_HDRS) kernels/backend.h
CLEANFILES += tests/test-cuda-decode.o
else
kernels_libkernels_a_SOURCES += %reldir%/stub.c
endif
