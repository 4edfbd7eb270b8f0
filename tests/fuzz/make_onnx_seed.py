#!/usr/bin/env python3
"""Writes corpus/onnx/pool.onnx and pool_32.onnx: the smallest networks shaped like a bundle's model
(input "image" 1x3x64x64 or 1x3x32x32; "anomaly_maps" 1x3x8x8 or 1x3x4x4 by 8x8 average pooling;
"scores" 1x3 their means), so that the fuzzer starts from bytes the ONNX importer and the bundle's
manifest accept. Plain protobuf wire format, no deps."""
import os


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def ints_attr(name, values):
    return field(1, name) + field(20, 7) + b"".join(field(8, v) for v in values)


def int_attr(name, value):
    return field(1, name) + field(20, 2) + field(3, value)


def node(inputs, outputs, op, attrs):
    return (b"".join(field(1, i) for i in inputs) + b"".join(field(2, o) for o in outputs) + field(3, outputs[0]) +
            field(4, op) + b"".join(field(5, a) for a in attrs))


def value_info(name, dims):
    shape = b"".join(field(1, field(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, 1) + field(2, shape)))


def pool_model(side):
    maps = side // 8
    graph = (field(1, node(["image"], ["anomaly_maps"], "AveragePool",
                           [ints_attr("kernel_shape", [8, 8]), ints_attr("strides", [8, 8])])) +
             field(1, node(["anomaly_maps"], ["scores"], "ReduceMean", [ints_attr("axes", [2, 3]), int_attr("keepdims", 0)])) +
             field(2, "pool") + field(11, value_info("image", [1, 3, side, side])) +
             field(12, value_info("anomaly_maps", [1, 3, maps, maps])) + field(12, value_info("scores", [1, 3])))
    return field(1, 7) + field(8, field(1, "") + field(2, 13)) + field(7, graph)


here = os.path.dirname(os.path.abspath(__file__))
# The declared input must be the manifest's: 64 for the test bundle, 32 for scripts/fuzz.sh's bundle.
for name, side in (("pool.onnx", 64), ("pool_32.onnx", 32)):
    with open(os.path.join(here, "corpus", "onnx", name), "wb") as f:
        f.write(pool_model(side))
