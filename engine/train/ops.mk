# engine/train/ops.mk: training ops (forward with saved activations, backward) and the optimizer.
engine_libengine_a_SOURCES += %reldir%/ops.h %reldir%/ops-linear.c %reldir%/ops-rows.c \
	%reldir%/ops-rope.c %reldir%/ops-attn.c %reldir%/ops-moe.c %reldir%/ops-loss.c \
	%reldir%/ops-exp.c %reldir%/ops-frozen.c %reldir%/optim.h %reldir%/optim.c

check_PROGRAMS += tests/test-train-ops
TESTS += tests/test-train-ops
tests_test_train_ops_SOURCES = tests/test-train-ops.c
