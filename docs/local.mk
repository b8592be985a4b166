# docs/local.mk: the manual page (installed) and the architecture notes (distributed).
dist_man_MANS = %reldir%/ponder.1
EXTRA_DIST += %reldir%/architecture.md
