#!/usr/bin/env python3
"""Tiny random Mixture-of-Experts models as GGUF files, with the logits and the routing Hugging
Face transformers computes for them, for tests/test-moe.c.

Each case builds a transformers model from a config, gives it random weights of useful scale (as
tests/tools/make-arch-fixtures.py does, whose tokenizer, weight rounding and llama Q/K permutation
this script imports rather than copies), with router matrices scaled up so that routing is
decisive, writes it as GGUF with the gguf package under exactly the keys and tensor names
llama.cpp reads (shared/specs/gguf-archs.md sections 3-5, 7), and stores, for every position of a
fixed token sequence, transformers' logits and, for every MoE layer, the chosen experts in order
of decreasing gate weight, their final gate weights, the entropy of the router's softmax and the
margin of the choice. The reference runs in float64 on the weights as stored (the Q8_0 case has
its expert weights rounded through Q8_0 first). transformers' routers take the softmax in float32
even in a float64 model, so the reference gate weights carry float32 rounding (about 1e-7
relative), far below the tolerances of the test.

A seed is accepted only if at every position and MoE layer the k+1 largest router probabilities
(float64) are separated pairwise by more than MIN_MARGIN, so that neither the choice of the k
experts nor their order is a near tie; otherwise the next seed is tried.

Cases (hidden size 64, 8 experts, vocabulary of make-arch-fixtures.py):
  qwen2moe       2 layers, top-3 of 8, expert width 32, shared expert of width 48 with its
                 sigmoid gate, QKV biases, no renormalisation of the top-k weights, separate
                 output.weight (llama.cpp requires it for qwen2moe)
  qwen3moe       2 layers, top-2 of 8, expert width 32, per-head Q/K RMSNorm, head_dim 32 with
                 4 heads, renormalised top-k weights, tied output; all F32
  qwen3moe-q8_0  the same model with the three expert tensors of every layer in Q8_0 (the router
                 and everything else F32), and its own reference
  olmoe          2 layers, top-3 of 8, expert width 40, Q/K RMSNorm over the whole projection,
                 no renormalisation, separate output.weight
  mixtral        arch `llama` with expert_count 8: 2 layers, top-2, expert width 32 (the llama
                 feed_forward_length), softmax over all experts then the top-k renormalised,
                 GQA, Q/K rows permuted as convert_hf_to_gguf.py does for llama, tied output

Checked by hand against llama.cpp (34af94cd, all five files load; logits of the 24 positions
through libllama): relative error under 7e-4 on the F32 files and 0.0097 on the Q8_0 one, whose
activations llama.cpp quantizes. llama.cpp needs output.weight for qwen2moe.

Run (needs torch, transformers, gguf, numpy), from the top of the tree:
    python3 tests/tools/make-moe-fixtures.py tests/data

Reference file tests/data/moe-<case>.ref (little-endian):
    u32 magic 0x524d5044 ("DPMR"), u32 version 1,
    u32 n_pos, u32 n_vocab, u32 n_layers (MoE layers, all layers here), u32 k,
    i32 ids[n_pos]                           the token sequence
    f32 logits[n_pos][n_vocab]
    i32 expert_ids[n_pos][n_layers][k]       by decreasing gate weight
    f32 weights[n_pos][n_layers][k]          final gate weights (as they multiply the experts)
    f32 entropy[n_pos][n_layers]             nats, of the softmax over all experts
    f32 margin[n_pos][n_layers]              smallest gap between adjacent ones of the k+1
                                             largest router probabilities
"""
import importlib.util
import os
import struct
import sys

import numpy as np
import torch
import gguf
from transformers import (MixtralConfig, MixtralForCausalLM, OlmoeConfig, OlmoeForCausalLM,
                          Qwen2MoeConfig, Qwen2MoeForCausalLM, Qwen3MoeConfig,
                          Qwen3MoeForCausalLM)

_spec = importlib.util.spec_from_file_location(
    "make_arch_fixtures", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "make-arch-fixtures.py"))
arch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(arch)

MAGIC = 0x524D5044
VERSION = 1
N_POS = arch.N_POS
N_VOCAB = arch.N_VOCAB
MIN_MARGIN = 1e-3
ROUTER_SCALE = 1.5

CASES = [
    dict(name="qwen2moe", arch="qwen2moe", E=64, H=4, Hkv=2, D=16, F=96, Fe=32, Fs=48, X=8,
         K=3, L=2, tied=False, etype="f32", theta=1000000.0, eps=1e-6, ctx=4096, pre="qwen2"),
    dict(name="qwen3moe", arch="qwen3moe", E=64, H=4, Hkv=2, D=32, F=96, Fe=32, X=8, K=2, L=2,
         tied=True, etype="f32", theta=1000000.0, eps=1e-6, ctx=4096, pre="qwen2"),
    dict(name="qwen3moe-q8_0", arch="qwen3moe", E=64, H=4, Hkv=2, D=32, F=96, Fe=32, X=8, K=2,
         L=2, tied=True, etype="q8_0", theta=1000000.0, eps=1e-6, ctx=4096, pre="qwen2"),
    dict(name="olmoe", arch="olmoe", E=64, H=4, Hkv=4, D=16, Fe=40, X=8, K=3, L=2, tied=False,
         etype="f32", theta=10000.0, eps=1e-5, ctx=4096, pre="gpt-2"),
    dict(name="mixtral", arch="llama", E=64, H=4, Hkv=2, D=16, Fe=32, X=8, K=2, L=2, tied=True,
         etype="f32", theta=1000000.0, eps=1e-5, ctx=4096, pre="llama-bpe"),
]


def hf_model(c):
    common = dict(vocab_size=N_VOCAB, hidden_size=c["E"], num_hidden_layers=c["L"],
                  num_attention_heads=c["H"], num_key_value_heads=c["Hkv"],
                  max_position_embeddings=c["ctx"], rms_norm_eps=c["eps"],
                  tie_word_embeddings=c["tied"],
                  rope_parameters={"rope_type": "default", "rope_theta": c["theta"]},
                  bos_token_id=None, eos_token_id=256 + len(arch.MERGED), pad_token_id=None,
                  num_experts_per_tok=c["K"])
    if c["arch"] == "qwen2moe":
        cfg = Qwen2MoeConfig(intermediate_size=c["F"], moe_intermediate_size=c["Fe"],
                             shared_expert_intermediate_size=c["Fs"], num_experts=c["X"],
                             norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[],
                             qkv_bias=True, **common)
        cls = Qwen2MoeForCausalLM
    elif c["arch"] == "qwen3moe":
        cfg = Qwen3MoeConfig(intermediate_size=c["F"], moe_intermediate_size=c["Fe"],
                             num_experts=c["X"], norm_topk_prob=True, decoder_sparse_step=1,
                             mlp_only_layers=[], head_dim=c["D"], **common)
        cls = Qwen3MoeForCausalLM
    elif c["arch"] == "olmoe":
        cfg = OlmoeConfig(intermediate_size=c["Fe"], num_experts=c["X"], norm_topk_prob=False,
                          **common)
        cls = OlmoeForCausalLM
    else:
        cfg = MixtralConfig(intermediate_size=c["Fe"], num_local_experts=c["X"],
                            head_dim=c["D"], router_jitter_noise=0.0, **common)
        cls = MixtralForCausalLM
    cfg._attn_implementation = "eager"
    cfg._experts_implementation = "eager"
    model = cls(cfg)
    assert model.model.layers[0].self_attn.head_dim == c["D"]
    return model


def randomize(model, c, seed):
    """make-arch-fixtures.py's scales (unit embeddings, 1/sqrt(fan-in) matrices, norms near 1,
    biases of order 0.5), routers ROUTER_SCALE times larger; expert tensors rounded through their
    stored type."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif name == "lm_head.weight":
                p.copy_(8.0 * torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
            elif name.endswith("mlp.gate.weight"):
                p.copy_(ROUTER_SCALE * torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)
            if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
                p.copy_(torch.from_numpy(np.stack([arch.stored(m, c["etype"])
                                                   for m in p.numpy()])))


def write_gguf(model, c, path):
    a = c["arch"]
    w = gguf.GGUFWriter(path, a)
    w.add_string("general.name", "ponder-test-moe-" + c["name"])
    w.add_uint32("general.file_type", {"f32": 0, "q8_0": 7}[c["etype"]])
    w.add_uint32(f"{a}.context_length", c["ctx"])
    w.add_uint32(f"{a}.embedding_length", c["E"])
    w.add_uint32(f"{a}.block_count", c["L"])
    # llama and olmoe take the expert width from feed_forward_length; the qwen MoEs have their
    # own key, and a dense width that no layer of these models uses.
    w.add_uint32(f"{a}.feed_forward_length", c.get("F", c["Fe"]))
    w.add_uint32(f"{a}.attention.head_count", c["H"])
    w.add_uint32(f"{a}.attention.head_count_kv", c["Hkv"])
    if c["D"] != c["E"] // c["H"]:
        w.add_uint32(f"{a}.attention.key_length", c["D"])
        w.add_uint32(f"{a}.attention.value_length", c["D"])
    w.add_uint32(f"{a}.rope.dimension_count", c["D"])
    w.add_float32(f"{a}.rope.freq_base", c["theta"])
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", c["eps"])
    w.add_uint32(f"{a}.expert_count", c["X"])
    w.add_uint32(f"{a}.expert_used_count", c["K"])
    if a in ("qwen2moe", "qwen3moe"):
        w.add_uint32(f"{a}.expert_feed_forward_length", c["Fe"])
    if a == "qwen2moe":
        w.add_uint32(f"{a}.expert_shared_feed_forward_length", c["Fs"])
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", c["pre"])
    w.add_token_list(arch.TOKENS)
    w.add_token_types(arch.TYPES)
    w.add_token_merges(arch.MERGES)
    w.add_uint32("tokenizer.ggml.eos_token_id", arch.TOKENS.index("<|endoftext|>"))
    w.add_uint32("tokenizer.ggml.bos_token_id", arch.TOKENS.index("<|endoftext|>"))
    w.add_bool("tokenizer.ggml.add_bos_token", False)

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}

    def put(name, arr, quantize=False):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if quantize and c["etype"] == "q8_0":
            q8 = gguf.GGMLQuantizationType.Q8_0
            w.add_tensor(name, gguf.quants.quantize(arr, q8), raw_dtype=q8)
        else:
            w.add_tensor(name, arr)

    put("token_embd.weight", sd["model.embed_tokens.weight"])
    put("output_norm.weight", sd["model.norm.weight"])
    if not c["tied"]:
        put("output.weight", sd["lm_head.weight"])
    Fe = c["Fe"]
    for i in range(c["L"]):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        if a == "llama":
            q, k = arch.permute(q, c["H"]), arch.permute(k, c["Hkv"])
        put(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        put(b + "attn_q.weight", q)
        put(b + "attn_k.weight", k)
        put(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        put(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        if a == "qwen2moe":
            for x in "qkv":
                put(b + f"attn_{x}.bias", sd[p + f"self_attn.{x}_proj.bias"])
        if a in ("qwen3moe", "olmoe"):
            # qwen3moe: {D}, per head; olmoe: {H*D}, over the whole projection
            put(b + "attn_q_norm.weight", sd[p + "self_attn.q_norm.weight"])
            put(b + "attn_k_norm.weight", sd[p + "self_attn.k_norm.weight"])
        put(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        # Router {E, X}; experts: transformers' gate_up_proj (X, 2*Fe, E) holds gate rows then up
        # rows; numpy (X, Fe, E) is ggml {E, Fe, X}; down_proj (X, E, Fe) is ggml {Fe, E, X}.
        put(b + "ffn_gate_inp.weight", sd[p + "mlp.gate.weight"])
        gate_up = sd[p + "mlp.experts.gate_up_proj"]
        assert gate_up.shape == (c["X"], 2 * Fe, c["E"])
        put(b + "ffn_gate_exps.weight", gate_up[:, :Fe, :], quantize=True)
        put(b + "ffn_up_exps.weight", gate_up[:, Fe:, :], quantize=True)
        put(b + "ffn_down_exps.weight", sd[p + "mlp.experts.down_proj"], quantize=True)
        if a == "qwen2moe":
            put(b + "ffn_gate_inp_shexp.weight", sd[p + "mlp.shared_expert_gate.weight"][0])
            put(b + "ffn_gate_shexp.weight", sd[p + "mlp.shared_expert.gate_proj.weight"])
            put(b + "ffn_up_shexp.weight", sd[p + "mlp.shared_expert.up_proj.weight"])
            put(b + "ffn_down_shexp.weight", sd[p + "mlp.shared_expert.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def reference(model, c, ids):
    """float64 forward pass with hooks on every router: logits [P, V], expert ids [P, L, K],
    weights [P, L, K], entropy [P, L], margin [P, L]."""
    model = model.double().eval()
    seen = []

    def hook(_module, _inputs, out):
        router_logits, scores, indices = out
        seen.append((router_logits.detach().double(), scores.detach().double(),
                     indices.detach().long()))

    gates = [layer.mlp.gate for layer in model.model.layers]
    handles = [g.register_forward_hook(hook) for g in gates]
    with torch.no_grad():
        logits = model(ids[None, :]).logits[0].numpy()
    for h in handles:
        h.remove()
    assert len(seen) == c["L"]
    eids, wts, ent, mrg = [], [], [], []
    for router_logits, scores, indices in seen:
        probs = torch.softmax(router_logits, dim=-1)
        top = torch.sort(probs, dim=-1, descending=True)
        # the order transformers chose is that of the float64 probabilities
        assert torch.equal(top.indices[:, :c["K"]], indices), "float32 router order differs"
        gaps = top.values[:, :c["K"]] - top.values[:, 1:c["K"] + 1]
        mrg.append(gaps.min(dim=-1).values.numpy())
        ent.append(-(probs * torch.log(probs)).sum(dim=-1).numpy())
        eids.append(indices.numpy())
        wts.append(scores.numpy())
    return (logits, np.stack(eids, axis=1), np.stack(wts, axis=1), np.stack(ent, axis=1),
            np.stack(mrg, axis=1))


def build(c, ids):
    """The first seed whose routing has no near ties."""
    for seed in range(1234, 1234 + 200):
        torch.manual_seed(0)
        model = hf_model(c)
        randomize(model, c, seed)
        model.eval()
        ref = reference(model, c, ids)
        if ref[4].min() > MIN_MARGIN:
            return model.float(), seed, ref
        print(f"{c['name']}: seed {seed}: smallest routing margin {ref[4].min():.2e}, reseeding")
    raise SystemExit(f"{c['name']}: no seed without routing near-ties")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    ids = torch.randint(0, N_VOCAB, (N_POS,), generator=torch.Generator().manual_seed(7))
    for c in CASES:
        model, seed, (logits, eids, wts, ent, mrg) = build(c, ids)
        # The model was rounded to float64 for the reference and back: exact, the weights
        # started as float32.
        write_gguf(model, c, os.path.join(out, f"moe-{c['name']}.gguf"))
        top2 = np.sort(logits, axis=1)[:, -2:]
        print(f"{c['name']}: seed {seed}, logits std {logits.std():.2f}, smallest top-1 margin "
              f"{(top2[:, 1] - top2[:, 0]).min():.3f}, smallest routing margin {mrg.min():.2e}, "
              f"median {np.median(mrg):.3f}, entropy {ent.mean():.2f}")
        with open(os.path.join(out, f"moe-{c['name']}.ref"), "wb") as f:
            f.write(struct.pack("<6I", MAGIC, VERSION, N_POS, N_VOCAB, c["L"], c["K"]))
            f.write(ids.numpy().astype("<i4").tobytes())
            f.write(logits.astype("<f4").tobytes())
            f.write(eids.astype("<i4").tobytes())
            f.write(wts.astype("<f4").tobytes())
            f.write(ent.astype("<f4").tobytes())
            f.write(mrg.astype("<f4").tobytes())


if __name__ == "__main__":
    main()
