#!/usr/bin/env python3
"""Tiny random models of each architecture ponder runs, as GGUF files, with the logits Hugging
Face transformers computes for them, for tests/test-archs.c.

Each case builds a transformers model from a config (torch.manual_seed fixed), gives it random
weights scaled so that activations and logits are of order one to ten (the library's own
initialisation, std 0.02, gives near-zero logits where every token ties), writes it as GGUF with
the gguf package under exactly the keys and tensor names llama.cpp reads (see
shared/specs/gguf-archs.md), and stores transformers' logits of every position of a fixed token
sequence. The reference runs in float64 on the weights as stored (F16 and Q8_0 cases have their
weights rounded through that format first), so it is exact to well below ponder's float32 rounding.

Cases:
  qwen2        QKV biases, NeoX rope, GQA, tied embeddings, F16 matrices
  qwen3        per-head Q/K RMSNorm before rope, NeoX rope, head_dim 32 != 64/4, tied, F32
  llama-linear GQA, linear rope scaling (factor 2), separate output.weight, F32
  llama-yarn   YaRN rope scaling (factor 4, original context 1024), tied, Q8_0 matrices (the
               one case where ponder's default path quantizes activations to 8 bits: F32 and
               F16 weights take float activations in both modes)

For `llama` the converter (convert_hf_to_gguf.py, LlamaModel.permute) reorders the rows of Q and
K inside each head so that llama.cpp's adjacent-pair rope equals transformers' rotate-half rope;
this script does the same. qwen2/qwen3 are written as they are (NeoX rope).

Tokenizer metadata: "gpt2" BPE with the 256 GPT-2 byte-alphabet tokens (bytes_to_unicode order),
four merged tokens with their merges, and three control tokens.

Run (needs torch, transformers, gguf, numpy), from the top of the tree:
    python3 tests/tools/make-arch-fixtures.py tests/data

Logits file tests/data/arch-<case>.logits (little-endian): u32 magic 0x4c415044 ("DPAL"),
u32 version 1, u32 n_pos, u32 n_vocab, i32 ids[n_pos], f32 logits[n_pos][n_vocab].
"""
import os
import struct
import sys

import numpy as np
import torch
import gguf
from transformers import (LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM,
                          Qwen3Config, Qwen3ForCausalLM)

MAGIC = 0x4C415044
VERSION = 1
N_POS = 24

MERGES = ["Ġ t", "h e", "Ġt he", "i n"]
MERGED = ["Ġt", "he", "Ġthe", "in"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


TOKENS = bytes_to_unicode() + MERGED + SPECIALS
TYPES = [1] * (256 + len(MERGED)) + [3] * len(SPECIALS)
N_VOCAB = len(TOKENS)

CASES = [
    dict(name="qwen2", arch="qwen2", E=64, H=4, Hkv=2, D=16, F=96, L=2, tied=True, wtype="f16",
         theta=1000000.0, eps=1e-6, ctx=4096, rope=None, pre="qwen2"),
    dict(name="qwen3", arch="qwen3", E=64, H=4, Hkv=2, D=32, F=96, L=2, tied=True, wtype="f32",
         theta=1000000.0, eps=1e-6, ctx=4096, rope=None, pre="qwen2"),
    dict(name="llama-linear", arch="llama", E=64, H=4, Hkv=2, D=16, F=96, L=2, tied=False,
         wtype="f32", theta=10000.0, eps=1e-5, ctx=4096,
         rope={"rope_type": "linear", "factor": 2.0}, pre="llama-bpe"),
    dict(name="llama-yarn", arch="llama", E=64, H=4, Hkv=2, D=16, F=96, L=2, tied=True,
         wtype="q8_0", theta=10000.0, eps=1e-5, ctx=4096,
         rope={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024},
         pre="default"),
]


def hf_model(c):
    rope = {"rope_type": "default", "rope_theta": c["theta"]}
    if c["rope"]:
        rope = dict(c["rope"], rope_theta=c["theta"])
    common = dict(vocab_size=N_VOCAB, hidden_size=c["E"], intermediate_size=c["F"],
                  num_hidden_layers=c["L"], num_attention_heads=c["H"],
                  num_key_value_heads=c["Hkv"], max_position_embeddings=c["ctx"],
                  rms_norm_eps=c["eps"], tie_word_embeddings=c["tied"], rope_parameters=rope,
                  bos_token_id=None, eos_token_id=256 + len(MERGED), pad_token_id=None)
    if c["arch"] == "qwen2":
        cfg, cls = Qwen2Config(**common), Qwen2ForCausalLM
    elif c["arch"] == "qwen3":
        cfg, cls = Qwen3Config(head_dim=c["D"], **common), Qwen3ForCausalLM
    else:
        cfg, cls = LlamaConfig(head_dim=c["D"], **common), LlamaForCausalLM
    cfg._attn_implementation = "eager"
    model = cls(cfg)
    assert model.model.layers[0].self_attn.head_dim == c["D"]
    if c["rope"]:
        assert model.config.rope_parameters["rope_type"] == c["rope"]["rope_type"], \
            model.config.rope_parameters
    return model


def randomize(model, c):
    """Weights of a useful size: unit-scale embeddings, 1/sqrt(fan-in) matrices, norms near 1,
    biases of order 0.5."""
    g = torch.Generator().manual_seed(1234)
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
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
            if p.dim() == 2:
                p.copy_(torch.from_numpy(stored(p.numpy(), c["wtype"])))


def stored(a, wtype):
    """What a float32 matrix becomes once written as wtype and read back."""
    a = a.astype(np.float32)
    if wtype == "f16":
        return a.astype(np.float16).astype(np.float32)
    if wtype == "q8_0":
        q8 = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.dequantize(gguf.quants.quantize(a, q8), q8).astype(np.float32)
    return a


def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: rotate-half layout -> adjacent pairs."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def write_gguf(model, c, path):
    arch = c["arch"]
    w = gguf.GGUFWriter(path, arch)
    w.add_string("general.name", "ponder-test-" + c["name"])
    w.add_uint32("general.file_type", {"f32": 0, "f16": 1, "q8_0": 7}[c["wtype"]])
    w.add_uint32(f"{arch}.context_length", c["ctx"])
    w.add_uint32(f"{arch}.embedding_length", c["E"])
    w.add_uint32(f"{arch}.block_count", c["L"])
    w.add_uint32(f"{arch}.feed_forward_length", c["F"])
    w.add_uint32(f"{arch}.attention.head_count", c["H"])
    w.add_uint32(f"{arch}.attention.head_count_kv", c["Hkv"])
    if c["D"] != c["E"] // c["H"]:
        w.add_uint32(f"{arch}.attention.key_length", c["D"])
        w.add_uint32(f"{arch}.attention.value_length", c["D"])
    w.add_uint32(f"{arch}.rope.dimension_count", c["D"])
    w.add_float32(f"{arch}.rope.freq_base", c["theta"])
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", c["eps"])
    if c["rope"]:
        w.add_string(f"{arch}.rope.scaling.type", c["rope"]["rope_type"])
        w.add_float32(f"{arch}.rope.scaling.factor", c["rope"]["factor"])
        if "original_max_position_embeddings" in c["rope"]:
            w.add_uint32(f"{arch}.rope.scaling.original_context_length",
                         c["rope"]["original_max_position_embeddings"])
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", c["pre"])
    w.add_token_list(TOKENS)
    w.add_token_types(TYPES)
    w.add_token_merges(MERGES)
    w.add_uint32("tokenizer.ggml.eos_token_id", TOKENS.index("<|endoftext|>"))
    w.add_uint32("tokenizer.ggml.bos_token_id", TOKENS.index("<|endoftext|>"))
    w.add_bool("tokenizer.ggml.add_bos_token", False)

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}

    def put(name, arr):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.ndim == 2 and c["wtype"] == "f16":
            w.add_tensor(name, arr.astype(np.float16))
        elif arr.ndim == 2 and c["wtype"] == "q8_0":
            q8 = gguf.GGMLQuantizationType.Q8_0
            w.add_tensor(name, gguf.quants.quantize(arr, q8), raw_dtype=q8)
        else:
            w.add_tensor(name, arr)

    put("token_embd.weight", sd["model.embed_tokens.weight"])
    put("output_norm.weight", sd["model.norm.weight"])
    if not c["tied"]:
        put("output.weight", sd["lm_head.weight"])
    for i in range(c["L"]):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        if arch == "llama":
            q, k = permute(q, c["H"]), permute(k, c["Hkv"])
        put(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        put(b + "attn_q.weight", q)
        put(b + "attn_k.weight", k)
        put(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        put(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        if arch == "qwen2":
            for x in "qkv":
                put(b + f"attn_{x}.bias", sd[p + f"self_attn.{x}_proj.bias"])
        if arch == "qwen3":
            put(b + "attn_q_norm.weight", sd[p + "self_attn.q_norm.weight"])
            put(b + "attn_k_norm.weight", sd[p + "self_attn.k_norm.weight"])
        put(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        put(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        put(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        put(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    torch.manual_seed(0)
    ids = torch.randint(0, N_VOCAB, (N_POS,), generator=torch.Generator().manual_seed(7))
    for c in CASES:
        torch.manual_seed(0)
        model = hf_model(c)
        randomize(model, c)
        model.eval()
        write_gguf(model, c, os.path.join(out, f"arch-{c['name']}.gguf"))
        model = model.double()
        with torch.no_grad():
            logits = model(ids[None, :]).logits[0].float().numpy()
        top2 = np.sort(logits, axis=1)[:, -2:]
        print(f"{c['name']}: logits std {logits.std():.2f}, smallest top-1 margin "
              f"{(top2[:, 1] - top2[:, 0]).min():.3f}")
        with open(os.path.join(out, f"arch-{c['name']}.logits"), "wb") as f:
            f.write(struct.pack("<4I", MAGIC, VERSION, N_POS, N_VOCAB))
            f.write(ids.numpy().astype("<i4").tobytes())
            f.write(logits.astype("<f4").tobytes())


if __name__ == "__main__":
    main()
