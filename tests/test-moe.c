/*
 * test-moe.c: the mixture-of-experts architectures on tiny random models, against Hugging Face
 * transformers: logits and the routing of every token.
 *
 * The fixtures (tests/data/moe-<case>.gguf and .ref, made by tests/tools/make-moe-fixtures.py)
 * are 2-layer models of hidden size 64 with 8 experts in every layer and random weights of useful
 * scale, written with llama.cpp's keys and tensor names (merged 3-D expert tensors), and, for
 * every position of a fixed 24-token sequence, transformers' float64 logits and, for every layer,
 * the experts its router chose (by decreasing weight), their final gate weights, the entropy of
 * the router's softmax and the margin of the choice (the smallest gap between adjacent ones of
 * the k+1 largest router probabilities; the script reseeds until it exceeds 1e-3 everywhere, so
 * the routing is never a near tie). The cases:
 *   qwen2moe       top-3, shared expert behind a sigmoid gate, QKV biases, raw top-k weights
 *   qwen3moe       top-2, renormalised top-k weights, per-head Q/K RMSNorm, head_dim 32
 *   qwen3moe-q8_0  the same with Q8_0 expert tensors (its reference on the rounded weights)
 *   olmoe          top-3, raw top-k weights, Q/K RMSNorm over the whole projection, width 40
 *   mixtral        arch llama with expert_count 8: top-2 of a softmax over all experts,
 *                  renormalised
 *   mixtral-split  the mixtral model in the old layout, one tensor per expert, expert after
 *                  expert (bound in place at their stride) and, -shuffled, in a scrambled order
 *                  (gathered); tests/tools/make-split-expert-fixtures.py writes them
 *
 * The checks, for each case, are tests/moe-check.h's check_case().
 *
 * Measured: precise logits within 3.1e-7 and gate weights and entropies within 5e-7 on every
 * case (float32 rounding); 1 and 7 tokens a call reproduce one call exactly; default mode on
 * the Q8_0 case: logits within 0.0088, gate weights within 0.0083, the experts of all 41 decided
 * (position, layer) pairs, and of the 7 undecided ones too, as transformers chose.
 * While the engine does not run an architecture, pd_model_load fails and so does the test.
 * The worst errors measured are printed as diagnostics.
 */
#include "config.h"

#include "tests/moe-check.h"

static const struct moe_case cases[] = {
    { "qwen2moe", "qwen2moe", PD_TYPE_F32, NULL },
    { "qwen3moe", "qwen3moe", PD_TYPE_F32, NULL },
    { "qwen3moe-q8_0", "qwen3moe", PD_TYPE_Q8_0, NULL },
    { "olmoe", "olmoe", PD_TYPE_F32, NULL },
    { "mixtral", "llama", PD_TYPE_F32, NULL },
    /* the same model with one tensor per expert, as older Mixtral files have them */
    { "mixtral-split", "llama", PD_TYPE_F32, "mixtral" },
    { "mixtral-split-shuffled", "llama", PD_TYPE_F32, "mixtral" },
};

int
main(void)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++)
        check_case(&cases[i], "moe-");
    done_testing();
    return exit_status();
}
