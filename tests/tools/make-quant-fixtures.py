#!/usr/bin/env python3
"""make-quant-fixtures.py: write tests/data/quant-ref.bin, the reference rows for test-quant.

Run from the source tree root (needs numpy and the PyPI `gguf` package):

    python3 tests/tools/make-quant-fixtures.py            # writes tests/data/quant-ref.bin
    python3 tests/tools/make-quant-fixtures.py OUT.bin    # writes elsewhere

The output is deterministic (fixed seed) and small (about 100 KB).

For every tensor format ponder reads, a few blocks and what the gguf package's reference
dequantizer makes of them. Formats the package can quantize (F32, F16, BF16, Q4_0, Q4_1, Q5_0,
Q5_1, Q8_0) are made by quantizing random floats with it, and the floats are stored too, so the
test can also check that ponder's quantizers write the same bytes. For the others (the K-quants,
IQ4_NL, IQ4_XS) the blocks are random bytes with their fp16 scale fields replaced by finite,
moderate values.

File format, all little-endian:
    magic    8 bytes  "PDQUANT\\0"
    version  u32      1
    count    u32      number of records
    records:
        type     u32  ggml type number
        n        u32  elements in the row
        flags    u32  bit 0: source floats follow the dequantized ones
        nbytes   u32  bytes of the raw row
        raw      nbytes
        deq      n x f32, the gguf package's dequantization of raw
        src      n x f32, present when flags & 1: the floats raw was quantized from
"""
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

MAGIC = b"PDQUANT\0"
VERSION = 1

# Formats made by quantizing floats: type -> elements per row.
QUANTIZED = {T.F32: 64, T.F16: 96, T.BF16: 96, T.Q4_0: 256, T.Q4_1: 256, T.Q5_0: 256,
             T.Q5_1: 256, T.Q8_0: 256}

# Formats made from random bytes: type -> (block bytes, byte offsets of fp16 scale fields).
RANDOM = {
    T.Q2_K: (84, [80, 82]),
    T.Q3_K: (110, [108]),
    T.Q4_K: (144, [0, 2]),
    T.Q5_K: (176, [0, 2]),
    T.Q6_K: (210, [208]),
    T.IQ4_NL: (18, [0]),
    T.IQ4_XS: (136, [0]),
}


def source_floats(rng, n):
    """Random floats with a different magnitude per 32, an all-zero stretch and a spike."""
    x = rng.standard_normal(n).astype(np.float32)
    x *= np.repeat(np.float32(10.0) ** rng.uniform(-3, 2, n // 32 + 1), 32)[:n].astype(np.float32)
    if n >= 128:
        x[32:64] = 0
        x[64 + rng.integers(32)] = 40.0
        x[96:128] += np.float32(3.0)  # a block away from zero, for the formats with a min
    return x


def special_halves(rng, n):
    """Float values exercising half/bfloat rounding: ties, subnormals, overflow, infinity."""
    x = source_floats(rng, n)
    bits = x.view(np.uint32).copy()
    bits[0:8] = (bits[0:8] & 0xFFFF0000) | 0x8000  # bfloat16 ties
    bits[8:16] = (bits[8:16] & 0xFFFFE000) | 0x1000  # binary16 ties (for normal halves)
    x = bits.view(np.float32)
    x[16:24] = np.float32([1e-5, -3e-6, 6e-8, 2.9e-8, 70000.0, -65520.0, 65504.0, np.inf])
    return x


def random_blocks(rng, qtype, nblocks):
    size, scale_offsets = RANDOM[qtype]
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    for off in scale_offsets:
        scales = rng.uniform(-0.05, 0.05, nblocks).astype(np.float16)
        raw[:, off:off + 2] = scales.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(-1)


def record(qtype, raw, deq, src=None):
    deq = np.asarray(deq, dtype=np.float32).reshape(-1)
    head = struct.pack("<IIII", int(qtype), deq.size, 1 if src is not None else 0, raw.size)
    out = head + raw.tobytes() + deq.tobytes()
    if src is not None:
        out += np.asarray(src, dtype=np.float32).tobytes()
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/quant-ref.bin"
    rng = np.random.default_rng(20240607)
    records = []
    for qtype, n in QUANTIZED.items():
        for _ in range(2):
            x = special_halves(rng, n) if qtype in (T.F16, T.BF16) else source_floats(rng, n)
            with np.errstate(over="ignore"):  # 70000 becomes inf in F16, on purpose
                raw = x if qtype == T.F32 else quants.quantize(x, qtype)
            raw = np.ascontiguousarray(raw).reshape(-1).view(np.uint8)
            deq = quants.dequantize(raw, qtype)
            records.append(record(qtype, raw, deq, x))
    for qtype in RANDOM:
        nblocks = 8 if qtype in (T.IQ4_NL,) else 4
        raw = random_blocks(rng, qtype, nblocks)
        records.append(record(qtype, raw, quants.dequantize(raw, qtype)))
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(records)))
        for r in records:
            f.write(r)


if __name__ == "__main__":
    main()
