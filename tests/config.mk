# The configuration file: tests/test-config.sh. No test reads the configuration of whoever runs
# them: PONDER_CONFIG points every test at an empty file unless the test says otherwise.
TESTS += tests/test-config.sh
EXTRA_DIST += tests/test-config.sh
AM_TESTS_ENVIRONMENT += PONDER_CONFIG=/dev/null; export PONDER_CONFIG;
