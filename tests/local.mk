# Shared test support and the end-to-end tests of the ponder binary.
EXTRA_DIST += %reldir%/tap.h %reldir%/fetch-model

check_PROGRAMS += tests/test-model tests/test-threadpool tests/test-ops tests/test-cuda \
	tests/test-archs tests/test-moe tests/test-deepseek tests/test-cuda-model
TESTS += tests/test-model tests/test-threadpool tests/test-ops tests/test-cuda tests/test-cli.sh \
	tests/test-archs tests/test-moe tests/test-deepseek tests/test-cuda-model \
	tests/test-routing-cli.sh
tests_test_model_SOURCES = tests/test-model.c
tests_test_threadpool_SOURCES = tests/test-threadpool.c
tests_test_ops_SOURCES = tests/test-ops.c
tests_test_cuda_SOURCES = tests/test-cuda.c
tests_test_cuda_model_SOURCES = tests/test-cuda-model.c
tests_test_archs_SOURCES = tests/test-archs.c
tests_test_moe_SOURCES = tests/test-moe.c tests/moe-check.h
tests_test_deepseek_SOURCES = tests/test-deepseek.c tests/moe-check.h
EXTRA_DIST += %reldir%/test-cli.sh %reldir%/data/smollm2-logits.bin \
	%reldir%/tools/make-model-fixtures.py
EXTRA_DIST += %reldir%/tools/make-arch-fixtures.py \
	%reldir%/data/arch-qwen2.gguf %reldir%/data/arch-qwen2.logits \
	%reldir%/data/arch-qwen3.gguf %reldir%/data/arch-qwen3.logits \
	%reldir%/data/arch-llama-linear.gguf %reldir%/data/arch-llama-linear.logits \
	%reldir%/data/arch-llama-yarn.gguf %reldir%/data/arch-llama-yarn.logits
EXTRA_DIST += %reldir%/tools/make-moe-fixtures.py \
	%reldir%/data/moe-qwen2moe.gguf %reldir%/data/moe-qwen2moe.ref \
	%reldir%/data/moe-qwen3moe.gguf %reldir%/data/moe-qwen3moe.ref \
	%reldir%/data/moe-qwen3moe-q8_0.gguf %reldir%/data/moe-qwen3moe-q8_0.ref \
	%reldir%/data/moe-olmoe.gguf %reldir%/data/moe-olmoe.ref \
	%reldir%/data/moe-mixtral.gguf %reldir%/data/moe-mixtral.ref \
	%reldir%/tools/make-split-expert-fixtures.py %reldir%/data/moe-mixtral-split.gguf \
	%reldir%/data/moe-mixtral-split-shuffled.gguf
EXTRA_DIST += %reldir%/test-routing-cli.sh %reldir%/tools/make-routing-fixture.py \
	%reldir%/data/routing-qwen3moe.txt
EXTRA_DIST += %reldir%/tools/make-deepseek-fixtures.py \
	%reldir%/data/ds-v3.gguf %reldir%/data/ds-v3.ref \
	%reldir%/data/ds-lite-yarn-q8_0.gguf %reldir%/data/ds-lite-yarn-q8_0.ref \
	%reldir%/tools/make-fused-fixture.py %reldir%/data/ds-v3-fused.gguf
EXTRA_DIST += %reldir%/gpu/device-check

# Whole models with repacked Q4_0 weights against their rows (AVX2 and plain-C kernels).
check_PROGRAMS += tests/test-repack-model
TESTS += tests/test-repack-model tests/test-repack-scalar.sh
tests_test_repack_model_SOURCES = tests/test-repack-model.c
EXTRA_DIST += %reldir%/test-repack-scalar.sh

# The CUDA forward pass's orchestration (unsplit, split, --gpu-layers) on the host emulation of the
# device layer: test-cuda-model's scenarios, on every machine.
check_PROGRAMS += tests/test-cuda-emu
TESTS += tests/test-cuda-emu
tests_test_cuda_emu_SOURCES = tests/test-cuda-model.c tests/cuda-emu.c
tests_test_cuda_emu_CPPFLAGS = $(AM_CPPFLAGS) -DPD_CUDA_EMULATED
