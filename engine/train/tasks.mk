# engine/train/tasks.mk: tasks with checkable answers (countdown, arithmetic) and their solvers.
