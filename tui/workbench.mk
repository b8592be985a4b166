# tui/workbench.mk: the full-screen workbench (ponder tui), one file per view.
ponder_SOURCES += %reldir%/wb.h %reldir%/cmd-tui.c %reldir%/wb-main.c %reldir%/wb-keys.c %reldir%/wb-input.c \
	%reldir%/wb-doc.c %reldir%/wb-gen.c %reldir%/wb-replay.c %reldir%/wb-annot.c \
	%reldir%/view-chat.c %reldir%/view-routing.c %reldir%/view-sessions.c %reldir%/view-help.c \
	%reldir%/train-view.h %reldir%/view-train.c %reldir%/wb-train.c

# Braille line charts (the training view's curves), a pure function checked cell by cell.
ponder_SOURCES += %reldir%/braille.h %reldir%/braille.c
check_PROGRAMS += tests/test-braille
TESTS += tests/test-braille
tests_test_braille_SOURCES = tests/test-braille.c %reldir%/braille.h %reldir%/braille.c

TESTS += tests/test-tui.sh tests/test-tui-train.sh
EXTRA_DIST += tests/test-tui.sh tests/test-tui-train.sh tests/tui-lib.sh tests/bench/bench-tui.sh
