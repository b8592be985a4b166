# engine/train/tasks.mk: tasks with checkable answers (countdown, arithmetic) and their solvers.
engine_libengine_a_SOURCES += %reldir%/task.h %reldir%/task-impl.h %reldir%/task.c \
	%reldir%/task-expr.c %reldir%/task-score.c %reldir%/task-countdown.c \
	%reldir%/task-arith.c
ponder_SOURCES += tui/cmd-task.c

check_PROGRAMS += tests/test-tasks
TESTS += tests/test-tasks tests/test-task.sh
tests_test_tasks_SOURCES = tests/test-tasks.c
EXTRA_DIST += tests/test-task.sh

# ponder eval: a model's accuracy on the tasks (pass@1, greedy, cons@K); the scoring and the
# totals in engine/train/eval.c, testable without a model.
engine_libengine_a_SOURCES += %reldir%/eval.h %reldir%/eval.c
ponder_SOURCES += tui/cmd-eval.c
check_PROGRAMS += tests/test-eval
TESTS += tests/test-eval tests/test-eval-cmd.sh
tests_test_eval_SOURCES = tests/test-eval.c
EXTRA_DIST += tests/test-eval-cmd.sh
