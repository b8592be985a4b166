# engine/sampler.mk: the token sampler, chat templates and the think/answer splitter.
engine_libengine_a_SOURCES += \
	%reldir%/sampler.c %reldir%/sampler.h \
	%reldir%/chat-template.c %reldir%/think-split.c %reldir%/chat-template.h

check_PROGRAMS += tests/test-sampler tests/test-template
TESTS += tests/test-sampler tests/test-template
tests_test_sampler_SOURCES = tests/test-sampler.c
tests_test_template_SOURCES = tests/test-template.c
