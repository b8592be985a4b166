# The CUDA backend when configure found nvcc and cuBLAS; otherwise a stub that says there is none.
# Every .cu file is listed in PD_CUDA_OBJS, so a CUDA build compiles them all.
PD_CUDA_OBJS = %reldir%/backend.o %reldir%/rmsnorm.o %reldir%/quant.o %reldir%/matmul.o \
	%reldir%/ops.o %reldir%/attention.o %reldir%/moe.o %reldir%/sampler.o %reldir%/exec.o
PD_CUDA_HDRS = %reldir%/cuda-common.cuh %reldir%/device.cuh %reldir%/quant.cuh \
	%reldir%/matvec.cuh %reldir%/exec.cuh
kernels_libkernels_a_SOURCES += kernels/backend.h
EXTRA_DIST += %reldir%/backend.cu %reldir%/rmsnorm.cu %reldir%/quant.cu %reldir%/matmul.cu \
	%reldir%/ops.cu %reldir%/attention.cu %reldir%/moe.cu %reldir%/sampler.cu %reldir%/exec.cu \
	$(PD_CUDA_HDRS) %reldir%/stub.c tests/test-cuda-host.cc tests/simt.h tests/simt-runtime.h \
	tests/simt-include/cuda_runtime.h tests/simt-include/cuda_runtime_api.h \
	tests/simt-include/cuda_fp16.h tests/simt-include/cuda_bf16.h tests/simt-include/cublas_v2.h
SUFFIXES = .cu .simto

if HAVE_CUDA
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

# The kernels' own source on the host, with no GPU, in every build with a C++ compiler, CUDA or
# not. tests/simt.h runs a CUDA thread as a fiber; test-cuda-host checks the decode kernels
# thread for thread. With tests/simt-runtime.h standing in for the CUDA runtime and cuBLAS, the
# backend's .cu files compile whole for the host (.simto objects), and test-cuda's kernel checks
# and test-cuda-model's whole models run on them: test-cuda-simt, test-cuda-model-simt.
if HAVE_CXX
PD_SIMT_OBJS = $(PD_CUDA_OBJS:.o=.simto)
PD_SIMT_HDRS = $(srcdir)/tests/simt.h $(srcdir)/tests/simt-runtime.h $(PD_CUDA_HDRS) \
	kernels/backend.h
# Everything built for the emulation sees tests/simt-include/ as CUDA's headers and, as nvcc
# gives a .cu file the runtime unasked, tests/simt-runtime.h.
PD_SIMT_CXXFLAGS = -std=c++17 -O2 -g -pthread -Wall -Wno-unknown-pragmas -Wno-sign-compare \
	-Wno-maybe-uninitialized -I$(srcdir)/tests/simt-include -include $(srcdir)/tests/simt-runtime.h
.cu.simto:
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CXX) $(PD_SIMT_CXXFLAGS) -x c++ $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) \
		$(CPPFLAGS) -c $< -o $@
$(PD_SIMT_OBJS): $(PD_SIMT_HDRS)
CLEANFILES += $(PD_SIMT_OBJS)

check_PROGRAMS += tests/test-cuda-host tests/test-cuda-simt tests/test-cuda-model-simt
TESTS += tests/test-cuda-host tests/test-cuda-simt
# Whole models take minutes emulated. A sanitizer build leaves them out: the kernels are not
# instrumented there, and test-cuda-emu checks the forward's host code under the sanitizers.
if !ENABLE_SANITIZERS
TESTS += tests/test-cuda-model-simt
endif
tests_test_cuda_host_SOURCES =
tests_test_cuda_host_LDADD = tests/test-cuda-host.o $(ENGINE_LIBS) -lstdc++
tests_test_cuda_host_DEPENDENCIES = tests/test-cuda-host.o engine/libengine.a kernels/libkernels.a
tests/test-cuda-host.o: $(srcdir)/tests/test-cuda-host.cc $(PD_SIMT_HDRS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CXX) $(PD_SIMT_CXXFLAGS) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
		-c $(srcdir)/tests/test-cuda-host.cc -o $@
CLEANFILES += tests/test-cuda-host.o
# The emulated kernels come first, so the archive's own CUDA objects (or stub) are not linked.
tests_test_cuda_simt_SOURCES = tests/test-cuda.c
tests_test_cuda_simt_LDADD = $(PD_SIMT_OBJS) $(ENGINE_LIBS) -lstdc++
tests_test_cuda_simt_DEPENDENCIES = $(PD_SIMT_OBJS) engine/libengine.a kernels/libkernels.a
tests_test_cuda_model_simt_SOURCES = tests/test-cuda-model.c
tests_test_cuda_model_simt_CPPFLAGS = $(AM_CPPFLAGS) -DPD_CUDA_SIMT
tests_test_cuda_model_simt_LDADD = $(PD_SIMT_OBJS) $(ENGINE_LIBS) -lstdc++
tests_test_cuda_model_simt_DEPENDENCIES = $(PD_SIMT_OBJS) engine/libengine.a kernels/libkernels.a
endif
