# The CUDA backend when configure found nvcc and cuBLAS; otherwise a stub that says there is none.
# Every .cu file is listed in PD_CUDA_OBJS, so a CUDA build compiles them all.
PD_CUDA_OBJS = %reldir%/backend.o %reldir%/rmsnorm.o %reldir%/quant.o %reldir%/matmul.o \
	%reldir%/ops.o %reldir%/attention.o %reldir%/moe.o %reldir%/sampler.o %reldir%/exec.o
PD_CUDA_HDRS = %reldir%/cuda-common.cuh %reldir%/device.cuh %reldir%/quant.cuh \
	%reldir%/matvec.cuh %reldir%/exec.cuh
kernels_libkernels_a_SOURCES += kernels/backend.h
EXTRA_DIST += %reldir%/backend.cu %reldir%/rmsnorm.cu %reldir%/quant.cu %reldir%/matmul.cu \
	%reldir%/ops.cu %reldir%/attention.cu %reldir%/moe.cu %reldir%/sampler.cu %reldir%/exec.cu \
	$(PD_CUDA_HDRS) %reldir%/stub.c tests/test-cuda-host.cc tests/simt.h

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
else
kernels_libkernels_a_SOURCES += %reldir%/stub.c
endif

# The kernels' own source on the host (tests/simt.h: a host thread per CUDA thread) against the
# CPU, in every build with a C++ compiler, CUDA or not: no GPU needed.
if HAVE_CXX
check_PROGRAMS += tests/test-cuda-host
TESTS += tests/test-cuda-host
tests_test_cuda_host_SOURCES =
tests_test_cuda_host_LDADD = tests/test-cuda-host.o $(ENGINE_LIBS) -lstdc++
tests_test_cuda_host_DEPENDENCIES = tests/test-cuda-host.o engine/libengine.a kernels/libkernels.a
tests/test-cuda-host.o: $(srcdir)/tests/test-cuda-host.cc $(srcdir)/tests/simt.h $(PD_CUDA_HDRS) \
		kernels/backend.h
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CXX) -std=c++17 -O2 -g -pthread -Wall -Wno-unknown-pragmas $(DEFS) \
		$(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) -c $(srcdir)/tests/test-cuda-host.cc -o $@
CLEANFILES += tests/test-cuda-host.o
endif
