# engine/train/bpe.mk: the byte-level BPE tokenizer trainer and its test.
engine_libengine_a_SOURCES += %reldir%/bpe-train.h %reldir%/bpe-impl.h %reldir%/bpe-train.c \
	%reldir%/bpe-vocab.c %reldir%/bpe-gguf.c

check_PROGRAMS += tests/test-bpe-train
TESTS += tests/test-bpe-train
tests_test_bpe_train_SOURCES = tests/test-bpe-train.c
