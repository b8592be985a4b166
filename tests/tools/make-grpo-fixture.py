#!/usr/bin/env python3
"""Reference for ponder's GRPO step (engine/train/grpo.h with the trainable model), llm.c-style.

Writes tests/data/grpo-step.bin: make-train-fixture.py's tiny deepseek2 config "a" and its model
code (imported; float64), one group of G=4 fixed completions after a 4-token prompt (token ids,
a completion mask), their rewards, old and reference log-probabilities (the policy's own, moved
by up to +-0.4 so ratios land outside the clip range), then:
  - the advantages (Bessel std + 1e-4), the losses of the three aggregations at the start;
  - two optimizer steps on the same batch (mu = 2: the old log-probs stay fixed) with loss
    dapo, beta 0.04, epsilon 0.2 / 0.28, temperature 0.7, global-norm clip 1.0 and AdamW
    (decay 0.1 on matrices): the first step's loss and gradient, the second step's loss, and the
    parameters after both.
The GRPO objective is written here from shared/specs/grpo.md section 1, not taken from TRL.
tests/test-grpo.c runs the same step with ponder's float32 model and compares.

Usage: python3 tests/tools/make-grpo-fixture.py [OUTDIR]   (torch, CPU)
"""
import importlib.util
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("mtf", os.path.join(HERE, "make-train-fixture.py"))
mtf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mtf)
DT = torch.float64

G, T, NP = 4, 12, 4                  # one group of 4, rows of 12 tokens, prompts of 4
LENS = [8, 5, 3, 7]                  # completion lengths (the rest is padding)
REWARDS = [1.0, 0.0, 0.5, 0.0]
TEMP, BETA, EPS_LO, EPS_HI, LMAX = 0.7, 0.04, 0.2, 0.28, 10
LR, WD, B1, B2, ADAM_EPS, CLIP = 1e-3, 0.1, 0.9, 0.999, 1e-8, 1.0


def logits_of(c, P, bias, tokens):
    """The model's logits: make-train-fixture.py's forward, its cross-entropy intercepted."""
    seen = {}
    real = torch.nn.functional.cross_entropy

    def grab(logits, *a, **k):
        seen["logits"] = logits
        return logits.sum() * 0
    torch.nn.functional.cross_entropy = grab
    try:
        mtf.forward(c, P, bias, tokens, torch.full_like(tokens, -1))
    finally:
        torch.nn.functional.cross_entropy = real
    return seen["logits"].view(tokens.shape[0], tokens.shape[1], -1)


def token_logp(c, P, bias, tokens, targets):
    lp = torch.log_softmax(logits_of(c, P, bias, tokens) / TEMP, -1)
    return lp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]


def grpo_loss(lp, old, ref, adv, mask, kind):
    ratio = torch.exp(lp - old)
    clipped = torch.clamp(ratio, 1 - EPS_LO, 1 + EPS_HI)
    a = adv[:, None]
    per = -torch.minimum(ratio * a, clipped * a)
    per = per + BETA * (torch.exp(ref - lp) - (ref - lp) - 1)
    per = per * mask
    if kind == "grpo":
        return (per.sum(-1) / mask.sum(-1)).mean()
    if kind == "dapo":
        return per.sum() / mask.sum()
    return per.sum() / (G * LMAX)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data")
    torch.use_deterministic_algorithms(True)
    c = mtf.CASES["a"]
    g = torch.Generator().manual_seed(4242)
    tab = mtf.table(c)
    P = {}
    for n, shape, decay in tab:
        if not decay:
            w = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif n.endswith("ffn_gate_inp.weight"):
            w = 0.3 * torch.randn(shape, generator=g)
        else:
            w = 0.3 * torch.randn(shape, generator=g) / shape[-1] ** 0.5
        P[n] = w.to(torch.float32).to(DT).requires_grad_(True)
    n_moe = sum(1 for n, _, _ in tab if n.endswith("ffn_gate_inp.weight"))
    bias = (0.05 * torch.randn(n_moe, c["n_expert"], generator=g)).to(torch.float32).to(DT)
    W0 = {n: P[n].detach().clone() for n, _, _ in tab}

    tokens = torch.randint(0, c["n_vocab"], (G, T), generator=g)
    targets = torch.full((G, T), -1, dtype=torch.long)
    for i, n in enumerate(LENS):
        targets[i, NP - 1:NP - 1 + n] = tokens[i, NP:NP + n]
    mask = (targets >= 0).to(DT)
    r = torch.tensor(REWARDS, dtype=DT)
    adv = (r - r.mean()) / (r.std() + 1e-4)

    with torch.no_grad():
        lp0 = token_logp(c, P, bias, tokens, targets)
    old = (lp0 + 0.8 * (torch.rand(G, T, generator=g, dtype=DT) - 0.5)) * mask
    ref = (lp0 + 0.6 * (torch.rand(G, T, generator=g, dtype=DT) - 0.5)) * mask
    old, ref = old.to(torch.float32).to(DT), ref.to(torch.float32).to(DT)
    with torch.no_grad():
        start = [grpo_loss(lp0, old, ref, adv, mask, k).item() for k in ("grpo", "dapo", "dr_grpo")]

    decay = [P[n] for n, _, d in tab if d]
    nodecay = [P[n] for n, _, d in tab if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                             {"params": nodecay, "weight_decay": 0.0}], lr=LR,
                            betas=(B1, B2), eps=ADAM_EPS)
    losses, grads1, norms = [], None, []
    for step in range(2):
        opt.zero_grad()
        lp = token_logp(c, P, bias, tokens, targets)
        loss = grpo_loss(lp, old, ref, adv, mask, "dapo")
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            grads1 = {n: P[n].grad.clone() for n, _, _ in tab}
        norms.append(torch.nn.utils.clip_grad_norm_(list(P.values()), CLIP).item())
        opt.step()
    ratio = torch.exp(lp0 - old)[mask > 0]
    print(f"grpo-step: {sum(p.numel() for p in P.values())} params; advantages "
          f"{[round(a, 4) for a in adv.tolist()]}; ratios {ratio.min():.3f}..{ratio.max():.3f}; "
          f"losses grpo/dapo/dr_grpo {start}; dapo steps {losses}; grad norms {norms}")

    f32 = lambda t: t.detach().to(torch.float32).numpy().tobytes()
    out = bytearray()
    out += struct.pack("<4sI", b"PDGF", 1)
    out += struct.pack(f"<{len(mtf.INT_KEYS)}i", *[int(c[k]) for k in mtf.INT_KEYS])
    out += struct.pack(f"<{len(mtf.FLOAT_KEYS)}f", *[float(c[k]) for k in mtf.FLOAT_KEYS])
    out += struct.pack("<iii", G, T, LMAX)
    out += struct.pack("<fffffffff", TEMP, BETA, EPS_LO, EPS_HI, LR, WD, B1, B2, ADAM_EPS)
    out += struct.pack("<f", CLIP)
    out += tokens.to(torch.int32).numpy().tobytes() + targets.to(torch.int32).numpy().tobytes()
    out += struct.pack(f"<{G}d", *REWARDS)
    out += f32(old) + f32(ref)
    n_params = sum(P[n].numel() for n, _, _ in tab)
    out += struct.pack("<q", n_params)
    out += b"".join(f32(W0[n]) for n, _, _ in tab)
    out += f32(bias)
    out += struct.pack(f"<{G}d", *adv.tolist())
    out += struct.pack("<3d", *start)
    out += struct.pack("<2d", *losses)
    out += b"".join(f32(grads1[n]) for n, _, _ in tab)
    out += b"".join(f32(P[n]) for n, _, _ in tab)
    path = os.path.join(outdir, "grpo-step.bin")
    with open(path, "wb") as fh:
        fh.write(out)
    print(f"  wrote {path} ({len(out)} bytes)")


if __name__ == "__main__":
    main()
