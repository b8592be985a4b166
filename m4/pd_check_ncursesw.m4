# PD_CHECK_NCURSESW: the wide-character curses library (required), through pkg-config, falling
# back to a plain library search where no .pc file is installed.
AC_DEFUN([PD_CHECK_NCURSESW], [
  PKG_CHECK_MODULES([NCURSESW], [ncursesw], [], [
    AC_SEARCH_LIBS([wadd_wch], [ncursesw],
      [NCURSESW_LIBS=-lncursesw; NCURSESW_CFLAGS=],
      [AC_MSG_ERROR([ncursesw not found: install libncurses-dev])])])
  AC_DEFINE([_XOPEN_SOURCE_EXTENDED], [1], [Wide-character curses API])
])
