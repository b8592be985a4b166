#!/usr/bin/env python3
"""A copy of a MoE GGUF whose experts' gate and up tensors are fused into one
`blk.N.ffn_gate_up_exps.weight` {E, 2*Fe, X} (gate rows first, then up), as llama.cpp's converter
writes them with --fuse-gate-up-exps (llama.cpp reads the fused form for deepseek2). Same
weights, so the same reference: tests/data/ds-v3-fused.gguf is checked against ds-v3.ref.

Run from the top of the tree (needs the gguf package and numpy):
    python3 tests/tools/make-fused-fixture.py tests/data/ds-v3.gguf tests/data/ds-v3-fused.gguf
"""
import sys

import numpy as np
import gguf


def copy_metadata(reader, writer):
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    copy_metadata(reader, writer)
    tensors = {t.name: t for t in reader.tensors}
    for t in reader.tensors:
        if t.name.endswith("ffn_up_exps.weight"):
            continue
        if t.name.endswith("ffn_gate_exps.weight"):
            up = tensors[t.name.replace("ffn_gate_exps", "ffn_up_exps")]
            # numpy shape (X, Fe, E): gate rows then up rows of each expert
            fused = np.concatenate([np.asarray(t.data), np.asarray(up.data)], axis=1)
            writer.add_tensor(t.name.replace("ffn_gate_exps", "ffn_gate_up_exps"), fused)
            continue
        writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
