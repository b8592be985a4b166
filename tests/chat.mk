# ponder chat, driven by a script and through tmux (skipped without the test model or tmux).
TESTS += tests/test-chat.sh
EXTRA_DIST += tests/test-chat.sh
