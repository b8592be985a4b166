# tui/workbench.mk: the full-screen workbench (ponder tui), one file per view.
ponder_SOURCES += %reldir%/wb.h %reldir%/cmd-tui.c %reldir%/wb-main.c %reldir%/wb-keys.c %reldir%/wb-input.c \
	%reldir%/wb-doc.c %reldir%/wb-gen.c %reldir%/wb-replay.c %reldir%/wb-annot.c \
	%reldir%/view-chat.c %reldir%/view-routing.c %reldir%/view-sessions.c %reldir%/view-help.c

TESTS += tests/test-tui.sh
EXTRA_DIST += tests/test-tui.sh tests/bench/bench-tui.sh
