# The CUDA backend when configure found nvcc and cuBLAS; otherwise a stub that says there is none.
kernels_libkernels_a_SOURCES += kernels/backend.h
EXTRA_DIST += %reldir%/backend.cu %reldir%/rmsnorm.cu %reldir%/cuda-common.cuh %reldir%/stub.c

if HAVE_CUDA
SUFFIXES = .cu
.cu.o:
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(NVCC) $(CUDA_GENCODE) -O3 -std=c++17 -Xcompiler -fPIC $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CUDA_CPPFLAGS) -c $< -o $@
kernels_libkernels_a_LIBADD = %reldir%/backend.o %reldir%/rmsnorm.o
kernels_libkernels_a_DEPENDENCIES = %reldir%/backend.o %reldir%/rmsnorm.o
CLEANFILES += %reldir%/backend.o %reldir%/rmsnorm.o
else
kernels_libkernels_a_SOURCES += %reldir%/stub.c
endif
