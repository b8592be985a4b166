# plugins/local.mk: the plugin ABI (ponder-plugin.h), the loader and the reward runner (a small
# library in ponder and the tests), the built-in reward plugins (each its own .so, installed in
# $(plugindir)), the `ponder plugin` command, the test plugins and the tests.
plugindir = $(pkglibdir)/plugins

noinst_LIBRARIES += plugins/libplugins.a
plugins_libplugins_a_SOURCES = %reldir%/ponder-plugin.h %reldir%/loader.h %reldir%/loader.c \
	%reldir%/reward-run.h %reldir%/reward-run.c
# The accuracy reward's answer extraction, for ponder train grpo --from-sessions to take a gold
# answer from a reply rated good exactly as the reward will read it.
plugins_libplugins_a_SOURCES += $(PLUGIN_ANSWER) $(PLUGIN_UTIL)
plugins_libplugins_a_CPPFLAGS = $(AM_CPPFLAGS) -DPD_PLUGINDIR='"$(plugindir)"'

ponder_SOURCES += tui/cmd-plugin.c
# The engine libraries again after ours: the loader uses pd_errorf and the clock.
ponder_LDADD += plugins/libplugins.a $(ENGINE_LIBS)

# A plugin exports its entry symbol and nothing else: the helpers compiled into each stay
# private, and a plugin never binds to a like-named symbol of the program or of another plugin.
PLUGIN_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
PLUGIN_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^ponder_plugin_entry$$'
PLUGIN_UTIL = %reldir%/plugin-util.h %reldir%/plugin-util.c
PLUGIN_ANSWER = %reldir%/answer-match.h %reldir%/answer-match.c

plugin_LTLIBRARIES = plugins/accuracy.la plugins/format.la plugins/countdown.la \
	plugins/language.la plugins/length.la

plugins_accuracy_la_SOURCES = %reldir%/accuracy.c $(PLUGIN_ANSWER) $(PLUGIN_UTIL)
plugins_accuracy_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_accuracy_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugins_format_la_SOURCES = %reldir%/format.c $(PLUGIN_UTIL)
plugins_format_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_format_la_LDFLAGS = $(PLUGIN_LDFLAGS)

# TinyZero's scorer is the engine's own source, compiled in (a plugin cannot link the
# program's non-PIC archive); task.c and the task generators come along for pd_task_gold.
plugins_countdown_la_SOURCES = %reldir%/countdown.c $(PLUGIN_UTIL) \
	engine/train/task-score.c engine/train/task-expr.c engine/train/task.c \
	engine/train/task-countdown.c engine/train/task-arith.c engine/pd.c \
	engine/chat-template.c
plugins_countdown_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_countdown_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugins_language_la_SOURCES = %reldir%/language.c $(PLUGIN_UTIL)
plugins_language_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_language_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugins_length_la_SOURCES = %reldir%/length.c $(PLUGIN_ANSWER) $(PLUGIN_UTIL)
plugins_length_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_length_la_LDFLAGS = $(PLUGIN_LDFLAGS)

# Test plugins: a crash, a hang, a wrong ABI version, no entry symbol, a detector, and one that
# misbehaves as told. -rpath makes libtool build them shared although they are not installed.
TEST_PLUGIN_LDFLAGS = -module -avoid-version -shared -rpath $(abs_builddir)/tests/plugins
check_LTLIBRARIES = tests/plugins/crash.la tests/plugins/hang.la tests/plugins/badabi.la \
	tests/plugins/noentry.la tests/plugins/aha.la tests/plugins/misc.la
tests_plugins_crash_la_SOURCES = tests/plugins/crash.c
tests_plugins_crash_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_hang_la_SOURCES = tests/plugins/hang.c
tests_plugins_hang_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_badabi_la_SOURCES = tests/plugins/badabi.c
tests_plugins_badabi_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_noentry_la_SOURCES = tests/plugins/noentry.c
tests_plugins_noentry_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_aha_la_SOURCES = tests/plugins/aha.c
tests_plugins_aha_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_misc_la_SOURCES = tests/plugins/misc.c
tests_plugins_misc_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_PROGRAMS += tests/test-plugins
TESTS += tests/test-plugins tests/test-plugin-cmd.sh
tests_test_plugins_SOURCES = tests/test-plugins.c
tests_test_plugins_LDADD = plugins/libplugins.a $(ENGINE_LIBS)
EXTRA_DIST += tests/test-plugin-cmd.sh
