# engine/train/grpo.mk: GRPO (shared/specs/grpo.md): the objective and its gradient
# (engine/train/grpo.h), checked against its formulas, float64 finite differences and one
# PyTorch step (tests/data/grpo-step.bin from tests/tools/make-grpo-fixture.py).
engine_libengine_a_SOURCES += %reldir%/grpo.h %reldir%/grpo.c

check_PROGRAMS += tests/test-grpo
TESTS += tests/test-grpo
tests_test_grpo_SOURCES = tests/test-grpo.c
