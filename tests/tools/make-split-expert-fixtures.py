#!/usr/bin/env python3
"""tests/data/moe-mixtral.gguf's model in the layout older Mixtral GGUFs have: one 2-D tensor per
expert (blk.N.ffn_gate.E.weight, ffn_up.E, ffn_down.E) instead of the merged 3-D ffn_*_exps, for
tests/test-moe.c, which checks them against moe-mixtral.ref (the same weights).

  moe-mixtral-split.gguf           expert after expert (gate.0, down.0, up.0, gate.1, ...), as the
                                   old converter wrote them: each kind at one stride in the file
  moe-mixtral-split-shuffled.gguf  the experts in a scrambled order, so no stride fits and a
                                   reader must gather them

The model is rebuilt by tests/tools/make-moe-fixtures.py's own functions (same seed search, so
the same weights) and written by its write_gguf, with the merged expert tensors split on the
way out.

Run (needs torch, transformers, gguf, numpy), from the top of the tree:
    python3 tests/tools/make-split-expert-fixtures.py tests/data
"""
import importlib.util
import os
import sys

import gguf
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("make_moe_fixtures",
                                               os.path.join(HERE, "make-moe-fixtures.py"))
moe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(moe)


class SplitWriter(gguf.GGUFWriter):
    """Holds each layer's three merged expert tensors back, then writes them as per-expert
    tensors in ORDER (a list of experts; None: the old converter's interleaved order)."""

    order = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.held = {}

    def add_tensor(self, name, tensor, **kwargs):
        kinds = {"ffn_gate_exps": "gate", "ffn_up_exps": "up", "ffn_down_exps": "down"}
        parts = name.split(".")
        if len(parts) != 4 or parts[2] not in kinds:
            return super().add_tensor(name, tensor, **kwargs)
        self.held[kinds[parts[2]]] = tensor
        if len(self.held) < 3:
            return None
        n_expert = self.held["gate"].shape[0]
        if self.order is None:
            for e in range(n_expert):
                for kind in ("gate", "down", "up"):
                    super().add_tensor(f"blk.{parts[1]}.ffn_{kind}.{e}.weight",
                                       np.ascontiguousarray(self.held[kind][e]))
        else:
            for kind in ("gate", "up", "down"):
                for e in self.order:
                    super().add_tensor(f"blk.{parts[1]}.ffn_{kind}.{e}.weight",
                                       np.ascontiguousarray(self.held[kind][e]))
        self.held = {}
        return None


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    c = next(c for c in moe.CASES if c["name"] == "mixtral")
    ids = torch.randint(0, moe.N_VOCAB, (moe.N_POS,), generator=torch.Generator().manual_seed(7))
    model, seed, _ = moe.build(c, ids)
    merged = gguf.GGUFWriter
    try:
        for suffix, order in (("split", None), ("split-shuffled", [3, 0, 6, 1, 7, 2, 5, 4])):
            SplitWriter.order = order
            moe.gguf.GGUFWriter = SplitWriter
            moe.write_gguf(model, c, os.path.join(out, f"moe-mixtral-{suffix}.gguf"))
            print(f"moe-mixtral-{suffix}.gguf: seed {seed}")
    finally:
        moe.gguf.GGUFWriter = merged


if __name__ == "__main__":
    main()
