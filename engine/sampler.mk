# engine/sampler.mk: the token sampler, chat templates and the think/answer splitter.
engine_libengine_a_SOURCES += \
	%reldir%/sampler.c %reldir%/sampler.h

check_PROGRAMS += tests/test-sampler
TESTS += tests/test-sampler
tests_test_sampler_SOURCES = tests/test-sampler.c
