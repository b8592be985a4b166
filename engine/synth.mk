# engine/synth.mk: synthetic random-weight models (ponder model synth) and their test.
engine_libengine_a_SOURCES += %reldir%/synth.c %reldir%/synth-shape.c %reldir%/synth-impl.h \
	%reldir%/synth.h
ponder_SOURCES += tui/cmd-model-synth.c

TESTS += tests/test-synth.sh
EXTRA_DIST += tests/test-synth.sh
