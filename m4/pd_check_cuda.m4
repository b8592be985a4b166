# PD_CHECK_CUDA: the CUDA backend (--with-cuda[=DIR], default auto).
#
# Auto: on when nvcc is found and a test program using cuBLAS compiles and links; NCCL is
# optional within it. An explicit --with-cuda that does not work is an error; --without-cuda,
# or auto finding nothing, builds the CPU-only stub backend.
AC_DEFUN([PD_CHECK_CUDA], [
  AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@], [CUDA backend (default: auto)])],
    [], [with_cuda=auto])
  AC_ARG_WITH([cuda-arch],
    [AS_HELP_STRING([--with-cuda-arch=LIST], [compute capabilities, e.g. "80 90" (default: 80 90, plus PTX)])],
    [], [with_cuda_arch="80 90"])
  AC_ARG_VAR([NVCC], [CUDA compiler])
  pd_have_cuda=no
  pd_have_nccl=no
  pd_cuda_summary=no
  CUDA_CPPFLAGS=
  CUDA_LIBS=
  AS_IF([test "x$with_cuda" != xno], [
    pd_cuda_path=$PATH
    AS_CASE([$with_cuda], [yes|auto], [pd_cuda_dir=/usr/local/cuda], [pd_cuda_dir=$with_cuda])
    pd_cuda_path="$pd_cuda_dir/bin:$PATH"
    AC_PATH_PROG([NVCC], [nvcc], [], [$pd_cuda_path])
    AS_IF([test -n "$NVCC"], [
      pd_cuda_dir=`dirname "$NVCC"`
      pd_cuda_dir=`dirname "$pd_cuda_dir"`
      pd_cuda_libdir="$pd_cuda_dir/lib64"
      test -d "$pd_cuda_libdir" || pd_cuda_libdir="$pd_cuda_dir/lib"
      AC_MSG_CHECKING([whether nvcc compiles and cuBLAS links])
      cat > conftest.cu <<_PDEOF
#include <cublas_v2.h>
__global__ void k(float *x) { x[[threadIdx.x]] = 1.0f; }
int main(void) { cublasHandle_t h; float *p = 0; k<<<1, 1>>>(p); return cublasCreate(&h) != CUBLAS_STATUS_SUCCESS; }
_PDEOF
      AS_IF([$NVCC -o conftest$EXEEXT conftest.cu -L"$pd_cuda_libdir" -lcublas -lcudart >&AS_MESSAGE_LOG_FD 2>&1],
        [pd_have_cuda=yes; AC_MSG_RESULT([yes])], [AC_MSG_RESULT([no])])
      rm -f conftest.cu conftest$EXEEXT
    ])
    AS_IF([test "x$pd_have_cuda" = xyes], [
      CUDA_CPPFLAGS="-I$pd_cuda_dir/include"
      CUDA_LIBS="-L$pd_cuda_libdir -Wl,-rpath,$pd_cuda_libdir -lcublas -lcudart -lstdc++"
      pd_save_LIBS=$LIBS
      pd_save_CPPFLAGS=$CPPFLAGS
      CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS"
      LIBS="$LIBS -L$pd_cuda_libdir"
      AC_CHECK_HEADER([nccl.h],
        [AC_CHECK_LIB([nccl], [ncclCommInitRank], [pd_have_nccl=yes])])
      LIBS=$pd_save_LIBS
      CPPFLAGS=$pd_save_CPPFLAGS
      AS_IF([test "x$pd_have_nccl" = xyes], [
        CUDA_LIBS="-lnccl $CUDA_LIBS"
        AC_DEFINE([HAVE_NCCL], [1], [Define if NCCL is available])])
      AC_DEFINE([HAVE_CUDA], [1], [Define if the CUDA backend is built])
      CUDA_GENCODE=
      for pd_sm in $with_cuda_arch; do
        CUDA_GENCODE="$CUDA_GENCODE -gencode arch=compute_$pd_sm,code=sm_$pd_sm"
        pd_last_sm=$pd_sm
      done
      CUDA_GENCODE="$CUDA_GENCODE -gencode arch=compute_$pd_last_sm,code=compute_$pd_last_sm"
      pd_cuda_summary="yes ($NVCC, sm $with_cuda_arch, nccl $pd_have_nccl)"
    ], [
      AS_IF([test "x$with_cuda" != xauto],
        [AC_MSG_ERROR([--with-cuda given but nvcc/cuBLAS do not work (see config.log)])])
    ])
  ])
  AC_SUBST([CUDA_CPPFLAGS])
  AC_SUBST([CUDA_LIBS])
  AC_SUBST([CUDA_GENCODE])
  AM_CONDITIONAL([HAVE_CUDA], [test "x$pd_have_cuda" = xyes])
])
