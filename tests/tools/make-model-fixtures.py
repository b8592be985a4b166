#!/usr/bin/env python3
"""Reference logits and greedy continuations of SmolLM2-135M-Instruct (Q4_1 GGUF) from
Hugging Face transformers, for tests/test-model.c.

transformers loads the same GGUF file (it dequantizes the weights to float32) and runs its own
llama implementation, which no one here wrote. The fixture holds, for each position of a 64-token
prompt, the 20 largest logits with their ids and the logits of 256 fixed vocabulary ids, plus
greedy 64-token continuations of several chat prompts.

Run (needs: pip install torch transformers gguf numpy):
    python3 tests/tools/make-model-fixtures.py tests/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        tests/data/smollm2-logits.bin

Format (little-endian): u32 magic 0x474c4450 ("PDLG"), u32 version 1, u32 n_vocab, u32 n_pos,
u32 n_top, u32 n_sample; i32 sample_ids[n_sample]; i32 prompt[n_pos]; n_pos x { i32
top_ids[n_top], f32 top_logits[n_top], f32 sample_logits[n_sample] }; u32 n_greedy; n_greedy x
{ u32 n_prompt, i32 prompt[n_prompt], u32 n_gen, i32 gen[n_gen] }.
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
    blob += struct.pack("<6I", 0x474C4450, 1, n_vocab, N_POS, N_TOP, N_SAMPLE)
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
        with torch.no_grad():
            gen = model.generate(torch.tensor([prompt]), max_new_tokens=N_GEN, do_sample=False,
                                 eos_token_id=None, pad_token_id=2)[0][len(prompt):].tolist()
        print(repr(text), "->", repr(tok.decode(gen)))
        blob += struct.pack("<I", len(prompt)) + np.array(prompt, dtype=np.int32).tobytes()
        blob += struct.pack("<I", len(gen)) + np.array(gen, dtype=np.int32).tobytes()

    with open(out, "wb") as f:
        f.write(blob)
    print(f"wrote {out}: {len(blob)} bytes")


if __name__ == "__main__":
    main()
