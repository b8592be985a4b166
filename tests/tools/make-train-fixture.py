#!/usr/bin/env python3
"""Reference for ponder's trainable deepseek2 model (engine/train/model.h), llm.c-style.

Writes tests/data/train-<case>.bin: a tiny config, weights drawn here with a fixed seed, one
batch with a target mask, the loss, every parameter's gradient (autograd), and the losses of ten
AdamW steps (clip, warmup + cosine, aux-loss-free balancing) with the same hyper-parameters.
tests/test-train-model.c loads the weights into ponder's model and compares.

The model is written out here from the architecture (DeepSeek-V2/V3 as llama.cpp runs it:
MLA in its plain, non-absorbed form, NORM RoPE on adjacent pairs, the router with sigmoid or
softmax scores, selection bias, groups, renormalization floor and scale, one shared expert),
not taken from transformers: its DeepSeek code uses rotate-half RoPE on permuted rows and has no
leading-dense/group/bias knobs in one class for both V2 and V3, so matching it would need more
glue than the model itself. Computed in float64: the reference is the exact answer, and the
numbers the test reports are ponder's float32 error alone.

Usage: python3 tests/tools/make-train-fixture.py [OUTDIR]   (torch, CPU)
"""
import math
import os
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)
DT = torch.float64

CASES = {
    # q_lora, sigmoid gating with groups, selection bias, renormalization and scale, untied
    "a": dict(n_vocab=64, n_ctx=16, n_embd=24, n_layer=2, n_head=2, q_lora_rank=16,
              kv_lora_rank=16, qk_nope=8, qk_rope=4, v_head=8, n_ff=32, n_dense_lead=1,
              n_expert=8, n_expert_used=2, n_ff_exp=12, n_expert_shared=1, n_group=4,
              n_group_used=2, sigmoid=1, expert_norm=1, tied=0, expert_scale=2.5,
              rms_eps=1e-6, rope_base=10000.0),
    # plain q, softmax gating without renormalization, tied output, two MoE layers
    "b": dict(n_vocab=48, n_ctx=16, n_embd=24, n_layer=3, n_head=3, q_lora_rank=0,
              kv_lora_rank=8, qk_nope=4, qk_rope=4, v_head=6, n_ff=32, n_dense_lead=1,
              n_expert=4, n_expert_used=2, n_ff_exp=12, n_expert_shared=1, n_group=0,
              n_group_used=0, sigmoid=0, expert_norm=0, tied=1, expert_scale=1.0,
              rms_eps=1e-5, rope_base=500.0),
}
INT_KEYS = ["n_vocab", "n_ctx", "n_embd", "n_layer", "n_head", "q_lora_rank", "kv_lora_rank",
            "qk_nope", "qk_rope", "v_head", "n_ff", "n_dense_lead", "n_expert", "n_expert_used",
            "n_ff_exp", "n_expert_shared", "n_group", "n_group_used", "sigmoid", "expert_norm",
            "tied"]
FLOAT_KEYS = ["expert_scale", "rms_eps", "rope_base"]
B, T = 2, 16                       # N*K = 64: expert loads are exact binary fractions
OPT = dict(steps=10, peak=3e-3, floor=3e-4, warmup=3, total=10, beta1=0.9, beta2=0.95,
           eps=1e-8, wd=0.1, clip=1.0, gamma=1e-3)


def table(c):
    """(name, shape, decay) in the order of engine/train/model.c's build_table."""
    E, H, Dn, Dr, Dv = c["n_embd"], c["n_head"], c["qk_nope"], c["qk_rope"], c["v_head"]
    R, Rq, X, Fe = c["kv_lora_rank"], c["q_lora_rank"], c["n_expert"], c["n_ff_exp"]
    Fs, Dq = c["n_expert_shared"] * Fe, Dn + Dr
    t = [("token_embd.weight", (c["n_vocab"], E), True)]
    for il in range(c["n_layer"]):
        p = f"blk.{il}."
        t.append((p + "attn_norm.weight", (E,), False))
        if Rq > 0:
            t += [(p + "attn_q_a.weight", (Rq, E), True), (p + "attn_q_a_norm.weight", (Rq,), False),
                  (p + "attn_q_b.weight", (H * Dq, Rq), True)]
        else:
            t.append((p + "attn_q.weight", (H * Dq, E), True))
        t += [(p + "attn_kv_a_mqa.weight", (R + Dr, E), True),
              (p + "attn_kv_a_norm.weight", (R,), False),
              (p + "attn_k_b.weight", (H * Dn, R), True), (p + "attn_v_b.weight", (H * Dv, R), True),
              (p + "attn_output.weight", (E, H * Dv), True), (p + "ffn_norm.weight", (E,), False)]
        if il < c["n_dense_lead"] or X == 0:
            F = c["n_ff"]
            t += [(p + "ffn_gate.weight", (F, E), True), (p + "ffn_up.weight", (F, E), True),
                  (p + "ffn_down.weight", (E, F), True)]
            continue
        t += [(p + "ffn_gate_inp.weight", (X, E), True),
              (p + "ffn_gate_exps.weight", (X, Fe, E), True),
              (p + "ffn_up_exps.weight", (X, Fe, E), True),
              (p + "ffn_down_exps.weight", (X, E, Fe), True)]
        if Fs > 0:
            t += [(p + "ffn_gate_shexp.weight", (Fs, E), True),
                  (p + "ffn_up_shexp.weight", (Fs, E), True),
                  (p + "ffn_down_shexp.weight", (E, Fs), True)]
    t.append(("output_norm.weight", (E,), False))
    if not c["tied"]:
        t.append(("output.weight", (c["n_vocab"], E), True))
    return t


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, base):
    """NORM layout: rotate adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/d)."""
    d = x.shape[-1]
    inv = base ** (-torch.arange(0, d, 2, dtype=DT) / d)
    ang = pos[:, None].to(DT) * inv[None, :]          # [T][d/2]
    cos, sin = torch.cos(ang), torch.sin(ang)
    while cos.dim() < x.dim() - 1:
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)


def swiglu(x, g, u, d):
    return (torch.nn.functional.silu(x @ g.T) * (x @ u.T)) @ d.T


def route(c, logits, bias):
    """ids [N][K] and weights [N][K] as engine/moe.c routes."""
    X, K = c["n_expert"], c["n_expert_used"]
    p = torch.sigmoid(logits) if c["sigmoid"] else torch.softmax(logits, -1)
    sel = (p + bias).detach()
    if c["n_group"] > 1:
        G = c["n_group"]
        gs = sel.view(-1, G, X // G).topk(2, -1).values.sum(-1)
        keep = torch.zeros_like(gs, dtype=torch.bool)
        keep.scatter_(1, gs.topk(c["n_group_used"], -1).indices, True)
        sel = sel.masked_fill(~keep.repeat_interleave(X // G, 1), -math.inf)
    ids = sel.topk(K, -1).indices
    w = p.gather(1, ids)
    if c["expert_norm"]:
        w = w / w.sum(-1, keepdim=True).clamp(min=6.1e-5)
    return ids, w * c["expert_scale"]


def forward(c, P, bias, tokens, targets):
    """Mean cross-entropy over targets >= 0, and each MoE layer's chosen ids."""
    E, H, Dn, Dr, Dv = c["n_embd"], c["n_head"], c["qk_nope"], c["qk_rope"], c["v_head"]
    R, eps, X = c["kv_lora_rank"], c["rms_eps"], c["n_expert"]
    Bq, Tq = tokens.shape
    pos = torch.arange(Tq)
    mask = torch.ones(Tq, Tq, dtype=torch.bool).tril()
    h = P["token_embd.weight"][tokens]                # [B][T][E]
    all_ids, moe = [], 0
    for il in range(c["n_layer"]):
        p = lambda n: P[f"blk.{il}.{n}.weight"]
        x = rmsnorm(h, p("attn_norm"), eps)
        if c["q_lora_rank"] > 0:
            q = rmsnorm(x @ p("attn_q_a").T, p("attn_q_a_norm"), eps) @ p("attn_q_b").T
        else:
            q = x @ p("attn_q").T
        q = q.view(Bq, Tq, H, Dn + Dr)
        q = torch.cat([q[..., :Dn], rope(q[..., Dn:], pos, c["rope_base"])], -1)
        kv = x @ p("attn_kv_a_mqa").T
        lat = rmsnorm(kv[..., :R], p("attn_kv_a_norm"), eps)
        kpe = rope(kv[..., R:], pos, c["rope_base"])                    # [B][T][Dr]
        k = (lat @ p("attn_k_b").T).view(Bq, Tq, H, Dn)
        v = (lat @ p("attn_v_b").T).view(Bq, Tq, H, Dv)
        k = torch.cat([k, kpe[:, :, None, :].expand(Bq, Tq, H, Dr)], -1)
        s = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(Dn + Dr)
        a = torch.softmax(s.masked_fill(~mask, -math.inf), -1)
        o = torch.einsum("bhts,bshd->bthd", a, v).reshape(Bq, Tq, H * Dv)
        h = h + o @ p("attn_output").T
        x = rmsnorm(h, p("ffn_norm"), eps)
        if il < c["n_dense_lead"] or X == 0:
            h = h + swiglu(x, p("ffn_gate"), p("ffn_up"), p("ffn_down"))
            continue
        xf = x.reshape(-1, E)
        ids, w = route(c, xf @ p("ffn_gate_inp").T, bias[moe])
        out = torch.zeros_like(xf)
        for e in range(X):
            tok, slot = (ids == e).nonzero(as_tuple=True)
            if len(tok):
                y = swiglu(xf[tok], p("ffn_gate_exps")[e], p("ffn_up_exps")[e],
                           p("ffn_down_exps")[e])
                out.index_add_(0, tok, y * w[tok, slot, None])
        if c["n_expert_shared"] > 0:
            out = out + swiglu(xf, p("ffn_gate_shexp"), p("ffn_up_shexp"), p("ffn_down_shexp"))
        h = h + out.view(Bq, Tq, E)
        all_ids.append(ids)
        moe += 1
    x = rmsnorm(h, P["output_norm.weight"], eps)
    W = P["token_embd.weight"] if c["tied"] else P["output.weight"]
    logits = x @ W.T
    loss = torch.nn.functional.cross_entropy(logits.view(-1, c["n_vocab"]), targets.view(-1),
                                             ignore_index=-1)
    return loss, all_ids


def lr_at(step):
    o = OPT
    if step < o["warmup"]:
        return o["peak"] * (step + 1) / o["warmup"]
    if step >= o["total"]:
        return o["floor"]
    f = (step - o["warmup"]) / (o["total"] - o["warmup"])
    return o["floor"] + (o["peak"] - o["floor"]) * (1 + math.cos(math.pi * f)) / 2


def balance(bias, ids, X, gamma):
    """engine/train/optim.c pd_optim_balance on pd_tr_expert_load's load."""
    load = torch.bincount(ids.flatten(), minlength=X).to(DT) / ids.numel()
    mean = load.mean()
    bias += torch.where(load < mean, gamma, torch.where(load > mean, -gamma, 0.0))


def make(name, c, outdir):
    g = torch.Generator().manual_seed(1234 + ord(name))
    tab = table(c)
    resid = ("attn_output.weight", "ffn_down.weight", "ffn_down_shexp.weight",
             "ffn_down_exps.weight")
    P = {}
    for n, shape, decay in tab:
        if not decay:
            w = 1.0 + 0.1 * torch.randn(shape, generator=g)     # norms: not all ones
        elif n.endswith("ffn_gate_inp.weight"):
            w = 0.3 * torch.randn(shape, generator=g)           # a router that decides clearly
        else:
            std = 0.02 / math.sqrt(2 * c["n_layer"]) if n.endswith(resid) else 0.02
            w = std * torch.randn(shape, generator=g)
        if n == "token_embd.weight":
            w = w * (10 if c["tied"] else 50)                   # rows nearer unit size
        P[n] = w.to(torch.float32).to(DT).requires_grad_(True)
    n_moe = sum(1 for n, _, _ in tab if n.endswith("ffn_gate_inp.weight"))
    X = max(c["n_expert"], 1)
    bias = (0.05 * torch.randn(max(n_moe, 1), X, generator=g)).to(torch.float32).to(DT)
    tokens = torch.randint(0, c["n_vocab"], (B, T), generator=g)
    targets = torch.roll(tokens, -1, 1)
    targets[:, -1] = torch.randint(0, c["n_vocab"], (B,), generator=g)
    targets[0, :5] = -1                                          # a prompt, excluded
    targets[1, :3] = -1
    bias0 = bias.clone()
    W0 = {n: P[n].detach().clone() for n, _, _ in tab}

    loss, _ = forward(c, P, bias, tokens, targets)
    loss.backward()
    grads = {n: P[n].grad.clone() for n, _, _ in tab}

    # ten AdamW steps, as ponder runs them: clip, schedule, AdamW (decay on matrices), balance
    decay = [P[n] for n, _, d in tab if d]
    nodecay = [P[n] for n, _, d in tab if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["wd"]},
                             {"params": nodecay, "weight_decay": 0.0}], lr=OPT["peak"],
                            betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"])
    losses = []
    for step in range(OPT["steps"]):
        opt.zero_grad()
        loss, ids = forward(c, P, bias, tokens, targets)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(P.values()), OPT["clip"])
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step)
        opt.step()
        for l, i in enumerate(ids):
            balance(bias[l], i, X, OPT["gamma"])
    print(f"case {name}: {sum(p.numel() for p in P.values())} params, loss {losses[0]:.6f} -> "
          f"{losses[-1]:.6f}")

    f32 = lambda t: t.detach().to(torch.float32).numpy().tobytes()
    out = bytearray()
    out += struct.pack("<4sI", b"PDTF", 1)
    out += struct.pack(f"<{len(INT_KEYS)}i", *[int(c[k]) for k in INT_KEYS])
    out += struct.pack(f"<{len(FLOAT_KEYS)}f", *[float(c[k]) for k in FLOAT_KEYS])
    out += struct.pack("<ii", B, T)
    out += tokens.to(torch.int32).numpy().tobytes() + targets.to(torch.int32).numpy().tobytes()
    n_params = sum(P[n].numel() for n, _, _ in tab)
    out += struct.pack("<q", n_params)
    out += b"".join(f32(W0[n]) for n, _, _ in tab)
    out += f32(bias0)
    out += struct.pack("<f", losses[0])
    out += b"".join(f32(grads[n]) for n, _, _ in tab)
    out += struct.pack("<iffiiffffff", OPT["steps"], OPT["peak"], OPT["floor"], OPT["warmup"],
                       OPT["total"], OPT["beta1"], OPT["beta2"], OPT["eps"], OPT["wd"],
                       OPT["clip"], OPT["gamma"])
    out += struct.pack(f"<{len(losses)}f", *losses)
    path = os.path.join(outdir, f"train-{name}.bin")
    with open(path, "wb") as fh:
        fh.write(out)
    print(f"  wrote {path} ({len(out)} bytes)")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data")
    torch.use_deterministic_algorithms(True)
    for name, c in CASES.items():
        make(name, c, outdir)


if __name__ == "__main__":
    main()
