#!/usr/bin/env python3
"""PyTorch's step time (CPU) for the config `ponder train pretrain --bench` times.

The model is make-train-fixture.py's (the same architecture, written out in torch), in
float32 here; a step is forward, backward, clip and AdamW on one batch of B x T tokens with the
first quarter of each row out of the loss, as ponder's step does. The first step is not timed.

Usage: python3 tests/tools/bench-train-torch.py [--threads 2] [--steps 6] [--batch 8]
       [--seq 256] [key=value ...]     (keys: the CASES dict's, e.g. n_embd=128)
Prints: torch step: P params, batch B x seq T, N threads: X tokens/s, Y ms/step
"""
import argparse
import importlib.util
import os
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("fixture", os.path.join(here,
                                                                      "make-train-fixture.py"))
fx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fx)

# engine/train/model.c's pd_tmodel_config_default, with vocab 512 as the bench's tokenizer
DEFAULT = dict(n_vocab=512, n_ctx=512, n_embd=128, n_layer=4, n_head=4, q_lora_rank=64,
               kv_lora_rank=64, qk_nope=32, qk_rope=16, v_head=32, n_ff=384, n_dense_lead=1,
               n_expert=8, n_expert_used=2, n_ff_exp=96, n_expert_shared=1, n_group=0,
               n_group_used=0, sigmoid=1, expert_norm=1, tied=0, expert_scale=1.0,
               rms_eps=1e-6, rope_base=10000.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("sets", nargs="*")
    a = ap.parse_args()
    c = dict(DEFAULT)
    for kv in a.sets:
        k, v = kv.split("=", 1)
        c[k] = type(c[k])(float(v)) if isinstance(c[k], float) else int(v)
    torch.set_num_threads(a.threads)
    fx.DT = torch.float32
    torch.set_default_dtype(torch.float32)
    g = torch.Generator().manual_seed(1)
    tab = fx.table(c)
    P = {n: (0.02 * torch.randn(s, generator=g) if d else torch.ones(s)).requires_grad_(True)
         for n, s, d in tab}
    bias = torch.zeros(max(1, c["n_layer"] - c["n_dense_lead"]), max(1, c["n_expert"]))
    tokens = torch.randint(0, c["n_vocab"], (a.batch, a.seq), generator=g)
    targets = torch.roll(tokens, -1, 1)
    targets[:, : a.seq // 4] = -1
    opt = torch.optim.AdamW([{"params": [P[n] for n, _, d in tab if d], "weight_decay": 0.1},
                             {"params": [P[n] for n, _, d in tab if not d],
                              "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.95))
    times = []
    for step in range(a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss, _ = fx.forward(c, P, bias, tokens, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(P.values()), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    t = sum(times[1:]) / max(1, len(times) - 1)
    n = sum(p.numel() for p in P.values())
    print(f"torch step: {n} params, batch {a.batch} x seq {a.seq}, {a.threads} threads: "
          f"{a.batch * a.seq / t:.0f} tokens/s, {1e3 * t:.1f} ms/step "
          f"({len(times) - 1} steps timed; torch {torch.__version__})")


if __name__ == "__main__":
    main()
