#!/usr/bin/env python3
"""The routing `ponder run --routing` must print for one prompt, from Hugging Face transformers,
for tests/test-routing-cli.sh.

The model is tests/data/moe-qwen3moe.gguf's, rebuilt by tests/tools/make-moe-fixtures.py's own
functions (same config, same seed search, so the same weights; checked here against the logits
its .ref file holds). The prompt text is split into tokens as the file's tokenizer does (the
qwen2 pre-tokenizer's pattern, byte-level BPE with the four merges of make-arch-fixtures.py),
then transformers continues it greedily in float64 for N_GEN tokens. One float64 pass over the
prompt and the continuation gives, at each generated token's own position (where ponder decides
a token's routing), the experts every MoE layer chose, by decreasing weight, and their weights.

Accepted only where neither a greedy choice nor a routing choice is a near tie, and no weight
lies near a rounding edge of the two decimals printed, so that ponder's float32 arithmetic must
give the same lines.

Run (needs torch, transformers, gguf, numpy, regex), from the top of the tree:
    python3 tests/tools/make-routing-fixture.py tests/data

Writes tests/data/routing-qwen3moe.txt: a first line `# prompt: TEXT`, then one line a generated
token, tab-separated as `ponder run --routing` prints them, without the text column:
    INDEX  ID  LAYER:EXPERT/WEIGHT,... LAYER:...
"""
import importlib.util
import os
import struct
import sys

import numpy as np
import regex
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


moe = load("make_moe_fixtures", "make-moe-fixtures.py")
arch = moe.arch

PROMPT = "the cat in the hat thinks: is nine the answer, or ten?"
N_GEN = 12
MIN_LOGIT_MARGIN = 1e-3   # greedy: top-1 over top-2, in logits
MIN_ROUTE_MARGIN = 1e-3   # router probabilities, as make-moe-fixtures.py
MIN_EDGE = 2e-4           # a weight this close to x.xx5 could print either way

# the qwen2 pre-tokenizer (llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2)
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenize(text):
    """Byte-level BPE as the fixture's tokenizer: pieces by the pattern, bytes to their
    characters, then the merges by rank."""
    byte_chars = {}
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
                 list(range(ord("®"), ord("ÿ") + 1)))
    n = 0
    for b in range(256):
        if b in printable:
            byte_chars[b] = chr(b)
        else:
            byte_chars[b] = chr(256 + n)
            n += 1
    rank = {tuple(m.split(" ")): i for i, m in enumerate(arch.MERGES)}
    ids = []
    for piece in regex.findall(QWEN2_PATTERN, text):
        syms = [byte_chars[b] for b in piece.encode("utf-8")]
        while len(syms) > 1:
            pairs = [(rank.get((a, b), None), i) for i, (a, b) in enumerate(zip(syms, syms[1:]))]
            pairs = [p for p in pairs if p[0] is not None]
            if not pairs:
                break
            _, i = min(pairs)
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        ids += [arch.TOKENS.index(s) for s in syms]
    return ids


def routing(model, c, ids):
    """float64 pass over ids: logits [P, V], expert ids [P, L, K], weights [P, L, K],
    routing margins [P, L]."""
    ref = moe.reference(model, c, torch.tensor(ids))
    return ref[0], ref[1], ref[2], ref[4]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    c = next(c for c in moe.CASES if c["name"] == "qwen3moe")
    fixture_ids = torch.randint(0, moe.N_VOCAB, (moe.N_POS,),
                                generator=torch.Generator().manual_seed(7))
    model, seed, ref = moe.build(c, fixture_ids)
    with open(os.path.join(out, "moe-qwen3moe.ref"), "rb") as f:
        head = struct.unpack("<6I", f.read(24))
        f.read(4 * head[2])
        stored = np.frombuffer(f.read(4 * head[2] * head[3]), dtype="<f4").reshape(head[2], -1)
    assert np.abs(stored - ref[0]).max() < 1e-4, "not the model of moe-qwen3moe.gguf"
    model = model.double().eval()

    ids = tokenize(PROMPT)
    n_prompt = len(ids)
    for _ in range(N_GEN):
        logits, _, _, _ = routing(model, c, ids)
        top = np.sort(logits[-1])[-2:]
        assert top[1] - top[0] > MIN_LOGIT_MARGIN, f"greedy near tie at {len(ids)}"
        ids.append(int(np.argmax(logits[-1])))
    _, eids, wts, mrg = routing(model, c, ids)
    gen = slice(n_prompt, len(ids))
    assert mrg[gen].min() > MIN_ROUTE_MARGIN, f"routing near tie: {mrg[gen].min():.2e}"
    edge = np.abs((wts[gen] * 100.0) % 1.0 - 0.5).min()
    assert edge > MIN_EDGE * 100.0, "a weight sits on a rounding edge"

    path = os.path.join(out, "routing-qwen3moe.txt")
    with open(path, "w") as f:
        f.write(f"# prompt: {PROMPT}\n")
        for i, p in enumerate(range(n_prompt, len(ids))):
            layers = " ".join(
                f"{l}:" + ",".join(f"{e}/{w:.2f}" for e, w in zip(eids[p, l], wts[p, l]))
                for l in range(c["L"]))
            f.write(f"{i}\t{ids[p]}\t{layers}\n")
    print(f"{path}: seed {seed}, {n_prompt} prompt tokens, {N_GEN} generated "
          f"({ids[n_prompt:]}), smallest routing margin {mrg[gen].min():.3f}")


if __name__ == "__main__":
    main()
