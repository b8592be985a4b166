# PD_CHECK_LIBEDIT: line editing and history (--with-libedit=auto|yes|no).
AC_DEFUN([PD_CHECK_LIBEDIT], [
  AC_ARG_WITH([libedit],
    [AS_HELP_STRING([--with-libedit], [line editing with libedit (default: auto)])],
    [], [with_libedit=auto])
  pd_have_libedit=no
  AS_IF([test "x$with_libedit" != xno], [
    PKG_CHECK_MODULES([LIBEDIT], [libedit], [pd_have_libedit=yes], [
      AS_IF([test "x$with_libedit" = xyes],
        [AC_MSG_ERROR([libedit requested but not found: install libedit-dev])])])])
  AS_IF([test "x$pd_have_libedit" = xyes],
    [AC_DEFINE([HAVE_LIBEDIT], [1], [Define if libedit is available])])
  AM_CONDITIONAL([HAVE_LIBEDIT], [test "x$pd_have_libedit" = xyes])
])
