# engine/train/model.mk: the trainable deepseek2 model (forward, backward, export to GGUF), its
# check against PyTorch (tests/data/train-*.bin from tests/tools/make-train-fixture.py).
engine_libengine_a_SOURCES += %reldir%/model.h %reldir%/model-impl.h %reldir%/model.c \
	%reldir%/model-fwd.c %reldir%/model-gguf.c

# LoRA adapters trained over the frozen model, written in llama.cpp's adapter format.
engine_libengine_a_SOURCES += %reldir%/lora-train.h %reldir%/lora-train.c %reldir%/lora-gguf.c \
	%reldir%/dense.h %reldir%/dense.c

check_PROGRAMS += tests/test-train-model
TESTS += tests/test-train-model
tests_test_train_model_SOURCES = tests/test-train-model.c
EXTRA_DIST += tests/tools/make-train-fixture.py tests/data/train-a.bin tests/data/train-b.bin

# ponder train pretrain: supervised training on generated task traces, checkpoints, resume.
engine_libengine_a_SOURCES += %reldir%/pretrain.h %reldir%/pretrain.c
ponder_SOURCES += tui/cmd-train.c
TESTS += tests/test-train.sh
EXTRA_DIST += tests/test-train.sh tests/bench/bench-train.sh tests/tools/bench-train-torch.py

check_PROGRAMS += tests/test-lora
TESTS += tests/test-lora
tests_test_lora_SOURCES = tests/test-lora.c

# LoRA over a dense llama/qwen2/qwen3 base frozen in its own types: logits and gradients.
check_PROGRAMS += tests/test-lora-dense
TESTS += tests/test-lora-dense
tests_test_lora_dense_SOURCES = tests/test-lora-dense.c
