# PD_CHECK_PTHREAD: POSIX threads through -pthread (gcc and clang on Linux and the BSDs).
AC_DEFUN([PD_CHECK_PTHREAD], [
  AC_MSG_CHECKING([whether -pthread gives POSIX threads])
  pd_save_CFLAGS=$CFLAGS
  pd_save_LIBS=$LIBS
  CFLAGS="$CFLAGS -pthread"
  LIBS="$LIBS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *f(void *p) { return p; }]],
      [[pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0);]])],
    [AC_MSG_RESULT([yes])], [AC_MSG_RESULT([no]); AC_MSG_ERROR([pthreads are required])])
  CFLAGS=$pd_save_CFLAGS
  LIBS=$pd_save_LIBS
  PTHREAD_CFLAGS=-pthread
  PTHREAD_LIBS=-pthread
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
