# engine/train/grpo.mk: GRPO (shared/specs/grpo.md): the objective and its gradient
# (engine/train/grpo.h), checked against its formulas, float64 finite differences and one
# PyTorch step (tests/data/grpo-step.bin from tests/tools/make-grpo-fixture.py).
engine_libengine_a_SOURCES += %reldir%/grpo.h %reldir%/grpo.c

check_PROGRAMS += tests/test-grpo
TESTS += tests/test-grpo
tests_test_grpo_SOURCES = tests/test-grpo.c

# The loop (engine/train/grpo-run.h): sampling through the inference engine, the training
# forward's log-probs, AdamW; checkpoints; and the trainable model read back from a GGUF.
engine_libengine_a_SOURCES += %reldir%/grpo-run.h %reldir%/grpo-run.c %reldir%/grpo-ckpt.c \
	%reldir%/model-load.c
EXTRA_DIST += tests/tools/make-grpo-fixture.py tests/data/grpo-step.bin

# ponder train grpo / show / resume (tui/cmd-train-grpo.c with tui/train-grpo-*.c,
# tui/cmd-train-resume.c; tui/cmd-train.c dispatches) and the store's training runs
# (sessions/runs.c). sessions/local.mk sets its SOURCES with '=' after this file, so runs.c
# joins the library as an extra object, as engine/aha.mk does for sessions/aha.c.
ponder_SOURCES += tui/cmd-train-grpo.c tui/train-grpo.h tui/train-grpo-src.c \
	tui/train-grpo-config.c tui/cmd-train-resume.c
EXTRA_sessions_libsessions_a_SOURCES += sessions/runs.h sessions/runs.c
sessions_libsessions_a_LIBADD += sessions/libsessions_a-runs.$(OBJEXT)
TESTS += tests/test-train-grpo.sh tests/test-lora-grpo.sh tests/test-lora-dense-grpo.sh
EXTRA_DIST += tests/test-train-grpo.sh tests/test-lora-grpo.sh tests/test-lora-dense-grpo.sh \
	tests/tap.sh
# On the bundled model: prompts from annotated sessions, ponder train resume after a SIGKILL,
# and reward plugins that crash, hang or are refused inside a run.
TESTS += tests/test-train-sessions.sh tests/test-train-resume.sh tests/test-train-faults.sh
EXTRA_DIST += tests/test-train-sessions.sh tests/test-train-resume.sh tests/test-train-faults.sh \
	tests/train-tap.sh
