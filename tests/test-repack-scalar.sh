#!/bin/sh
# test-repack-scalar.sh: tests/test-repack-model with the plain-C kernels, where a repacked model
# must give exactly the logits of its rows.
PONDER_SIMD=scalar exec "${top_builddir:-.}/tests/test-repack-model"
