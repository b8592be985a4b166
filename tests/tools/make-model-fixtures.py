#!/usr/bin/env python3
"""Reference logits and greedy continuations of SmolLM2-135M-Instruct (Q4_1 GGUF) from
Hugging Face transformers, for tests/test-model.c.

transformers loads the same GGUF file (it dequantizes the weights to float32) and runs its own
llama implementation, which no one here wrote. The fixture holds, for each position of a 64-token
prompt, the 20 largest logits with their ids and the logits of 256 fixed vocabulary ids, plus
greedy 64-token continuations of several chat prompts, each step with the margin between the
best and second-best logit (so a test can tell a confident step from a near tie).

The greedy steps run the full forward pass over the whole sequence each time, without the KV
cache: transformers' generate() on a GGUF-loaded SmolLM2 picks, at some steps, a token other than
the argmax of its own full forward pass (seen at steps 6, 1 and 31 of three of the prompts
below), so the full forward pass is the reference.

Run (needs: pip install torch transformers gguf numpy):
    python3 tests/tools/make-model-fixtures.py tests/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        tests/data/smollm2-logits.bin

Format (little-endian): u32 magic 0x474c4450 ("PDLG"), u32 version 2, u32 n_vocab, u32 n_pos,
u32 n_top, u32 n_sample; i32 sample_ids[n_sample]; i32 prompt[n_pos]; n_pos x { i32
top_ids[n_top], f32 top_logits[n_top], f32 sample_logits[n_sample] }; u32 n_greedy; n_greedy x
{ u32 n_prompt, i32 prompt[n_prompt], u32 n_gen, i32 gen[n_gen], f32 margin[n_gen] }.
"""
import os
import struct
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

N_POS = 64
N_TOP = 20
N_SAMPLE = 256
N_GEN = 64

LOGITS_TEXT = (
    "The quick brown fox jumps over the lazy dog. In 1905, Albert Einstein published four papers "
    "that changed physics: the photoelectric effect, Brownian motion, special relativity, and "
    "mass-energy equivalence. def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
)

CHATS = [
    "What is the capital of France?",
    "Write a haiku about autumn leaves.",
    "If I have 3 apples and eat one, how many are left? Think step by step.",
    "Explain what a hash table is in two sentences.",
]


def chat_ids(tok, text):
    # SmolLM2's template, spelled out (the GGUF's Jinja template adds this system message).
    s = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
         "Face<|im_end|>\n<|im_start|>user\n" + text + "<|im_end|>\n<|im_start|>assistant\n")
    return tok(s, add_special_tokens=False)["input_ids"]


def greedy(model, prompt):
    ids, margins = list(prompt), []
    for _ in range(N_GEN):
        with torch.no_grad():
            last = model(torch.tensor([ids])).logits[0, -1]
        top2 = torch.topk(last, 2)
        margins.append(float(top2.values[0] - top2.values[1]))
        ids.append(int(top2.indices[0]))
    return ids[len(prompt):], margins


def main():
    path, out = sys.argv[1], sys.argv[2]
    d, name = os.path.split(os.path.abspath(path))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, torch_dtype=torch.float32)
    model.eval()
    n_vocab = model.config.vocab_size

    ids = tok(LOGITS_TEXT, add_special_tokens=False)["input_ids"][:N_POS]
    assert len(ids) == N_POS, len(ids)
    rng = np.random.default_rng(1234)
    sample = np.sort(rng.choice(n_vocab, N_SAMPLE, replace=False)).astype(np.int32)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()

    blob = bytearray()
    blob += struct.pack("<6I", 0x474C4450, 2, n_vocab, N_POS, N_TOP, N_SAMPLE)
    blob += sample.tobytes()
    blob += np.array(ids, dtype=np.int32).tobytes()
    for p in range(N_POS):
        top = np.argsort(-logits[p], kind="stable")[:N_TOP].astype(np.int32)
        blob += top.tobytes()
        blob += logits[p][top].astype(np.float32).tobytes()
        blob += logits[p][sample].astype(np.float32).tobytes()

    blob += struct.pack("<I", len(CHATS))
    for text in CHATS:
        prompt = chat_ids(tok, text)
        gen, margins = greedy(model, prompt)
        print(repr(text), "->", repr(tok.decode(gen)), "min margin %.3f" % min(margins))
        blob += struct.pack("<I", len(prompt)) + np.array(prompt, dtype=np.int32).tobytes()
        blob += struct.pack("<I", len(gen)) + np.array(gen, dtype=np.int32).tobytes()
        blob += np.array(margins, dtype=np.float32).tobytes()

    with open(out, "wb") as f:
        f.write(blob)
    print(f"wrote {out}: {len(blob)} bytes")


if __name__ == "__main__":
    main()
