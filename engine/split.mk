# engine/split.mk: one model over several devices: the communicator (in-process and NCCL), the
# layer and expert partitionings, and their tests.
engine_libengine_a_SOURCES += %reldir%/comm.c %reldir%/comm.h %reldir%/comm-impl.h \
	%reldir%/comm-local.c %reldir%/split.c %reldir%/split.h

# comm-nccl.c includes nccl.h and the CUDA runtime's header, so it is compiled with the CUDA
# include path, by its own rule, and added to the library as an object; without NCCL it is the
# stub that says so.
engine_libengine_a_LIBADD = %reldir%/comm-nccl.$(OBJEXT)
engine_libengine_a_DEPENDENCIES = %reldir%/comm-nccl.$(OBJEXT)
%reldir%/comm-nccl.$(OBJEXT): %reldir%/comm-nccl.c %reldir%/comm-impl.h %reldir%/comm.h config.h
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(COMPILE) $(CUDA_CPPFLAGS) -c -o $@ `test -f '%reldir%/comm-nccl.c' || echo '$(srcdir)/'`%reldir%/comm-nccl.c
CLEANFILES += %reldir%/comm-nccl.$(OBJEXT)
EXTRA_DIST += %reldir%/comm-nccl.c

check_PROGRAMS += tests/test-comm tests/test-split
TESTS += tests/test-comm tests/test-split
tests_test_comm_SOURCES = tests/test-comm.c
tests_test_split_SOURCES = tests/test-split.c

check_PROGRAMS += tests/test-weight-plan
TESTS += tests/test-weight-plan
tests_test_weight_plan_SOURCES = tests/test-weight-plan.c

# A group whose ranks start apart (a launcher's processes; here threads) agrees on its start.
check_PROGRAMS += tests/test-group-start
TESTS += tests/test-group-start tests/test-group-cli.sh
tests_test_group_start_SOURCES = tests/test-group-start.c
EXTRA_DIST += tests/test-group-cli.sh
