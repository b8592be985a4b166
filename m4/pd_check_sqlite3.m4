# PD_CHECK_SQLITE3: SQLite 3.37 or later (STRICT tables, RETURNING); required.
AC_DEFUN([PD_CHECK_SQLITE3], [
  PKG_CHECK_MODULES([SQLITE3], [sqlite3 >= 3.37], [],
    [AC_MSG_ERROR([sqlite3 >= 3.37 not found: install libsqlite3-dev])])
])
