/*
 * test-deepseek.c: the deepseek2 architecture (DeepSeek-V2/V3/R1) on tiny random models, against
 * Hugging Face transformers' DeepseekV3ForCausalLM: logits and the routing of every token.
 *
 * The fixtures (tests/data/ds-<case>.gguf and .ref, made by tests/tools/make-deepseek-fixtures.py,
 * which says exactly how they were converted) are 3-layer models of hidden size 64: multi-head
 * latent attention (4 heads, kv_lora_rank 32, qk_nope 16, qk_rope 8, v_head 16, the split
 * attn_k_b / attn_v_b tensors of llama.cpp's converter), a dense first layer
 * (leading_dense_block_count 1), then two MoE layers of 8 routed experts in 4 groups with sigmoid
 * gating, group-limited top-2 within the best 2 groups, a random selection bias (exp_probs_b,
 * which moves 18 and 22 of the 48 choices of the two cases), renormalised weights times
 * expert_weights_scale 2.5, and one shared expert. The reference lists, for every position of a
 * fixed 24-token sequence and each MoE layer, the chosen experts in order of decreasing final
 * weight (not of biased score) with those weights, the entropy of the router's distribution (the
 * unbiased sigmoid scores of all experts normalised to sum 1), and the margin of the choice: the smallest of the group-threshold gap, the gap between
 * the K-th and (K+1)-th biased score among the kept groups, and the gaps between the chosen
 * experts' scores (at least 1e-3 everywhere, reseeded otherwise). The script also runs each
 * written file through an independent float64 reading of llama.cpp's deepseek2 graph (absorbed
 * MLA, NORM rope, ggml's YaRN), which agrees with transformers to 2e-7. The cases:
 *   ds-v3              q_lora_rank 32, expert width 24, plain rope, separate output, all F32
 *   ds-lite-yarn-q8_0  no q_lora (plain attn_q), YaRN factor 4 over an original context of 64
 *                      with mscale = mscale_all_dim = 1 (scores scaled by 1.139^2), expert width
 *                      32, Q8_0 expert tensors (its reference on the rounded weights), tied
 *                      output
 *
 * The checks, for each case, are tests/moe-check.h's check_case(), with test-moe's tolerances.
 * While the engine does not run deepseek2, pd_model_load fails and so does this test; it joins
 * the build once it passes.
 */
#include "config.h"

#include "tests/moe-check.h"

static const struct moe_case cases[] = {
    { "v3", "deepseek2", PD_TYPE_F32, NULL },
    /* the same weights with each expert's gate and up fused in one tensor, as llama.cpp's
     * converter writes them with --fuse-gate-up-exps (tests/tools/make-fused-fixture.py) */
    { "v3-fused", "deepseek2", PD_TYPE_F32, "v3" },
    { "lite-yarn-q8_0", "deepseek2", PD_TYPE_Q8_0, NULL },
};

int
main(void)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++)
        check_case(&cases[i], "ds-");
    done_testing();
    return exit_status();
}
