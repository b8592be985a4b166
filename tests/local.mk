# Shared test support and the end-to-end tests of the ponder binary.
EXTRA_DIST += %reldir%/tap.h %reldir%/fetch-model
