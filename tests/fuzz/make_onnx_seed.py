#!/usr/bin/env python3
"""Writes corpus/onnx/pool.onnx, pool_32.onnx and pad_relu6_32.onnx: the smallest networks shaped
like a bundle's model (input "image" 1x3x64x64 or 1x3x32x32; "anomaly_maps" 1x3x8x8 or 1x3x4x4,
by 8x8 average pooling, or by a stride-2 convolution, ReLU6 and 4x4 pooling; "scores" 1x3 their
means), so that the fuzzer starts from bytes the ONNX importer and the bundle's manifest accept.
Also the models of findings the tests load (64x64 input, the test bundle's): slice_batch.onnx,
declared_input_65_wide_varint_name.onnx and conv_group_0.onnx (see their functions).
Plain protobuf wire format, no deps."""
import os
import struct


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


def value_info(name, dims, extra=b""):
    shape = b"".join(field(1, field(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, 1) + field(2, shape))) + extra


def model(graph):
    return field(1, 7) + field(8, field(1, "") + field(2, 13)) + field(7, graph)


def pool_model(side, width=None, image_extra=b""):
    maps = side // 8
    graph = (field(1, node(["image"], ["anomaly_maps"], "AveragePool",
                           [ints_attr("kernel_shape", [8, 8]), ints_attr("strides", [8, 8])])) +
             field(1, node(["anomaly_maps"], ["scores"], "ReduceMean", [ints_attr("axes", [2, 3]), int_attr("keepdims", 0)])) +
             field(2, "pool") + field(11, value_info("image", [1, 3, side, width or side], image_extra)) +
             field(12, value_info("anomaly_maps", [1, 3, maps, maps])) + field(12, value_info("scores", [1, 3])))
    return model(graph)


def declared_input_varint_name_model():
    """The input declared 64 wide and 65 high, and after its name a field 1 (name) as a varint,
    which protobuf keeps as an unknown field: OpenCV sees input "image" of that shape. A reader
    that took the varint for the name saw no input "image" and checked no declared shape."""
    return pool_model(64, 65, field(1, 0))


def tensor(name, dims, values, data_type=1, fmt="f"):
    return (b"".join(field(1, d) for d in dims) + field(2, data_type) + field(8, name) +
            field(9, struct.pack("<%d%s" % (len(values), fmt), *values)))


def slice_batch_model():
    """anomaly_maps is the first image's maps only (a Slice of the batch axis to [0, 1)): right at
    the batch of 1 the load-time checks run, short of a batch of 2."""
    int64 = dict(data_type=7, fmt="q")
    graph = (field(1, node(["image"], ["pooled"], "AveragePool",
                           [ints_attr("kernel_shape", [8, 8]), ints_attr("strides", [8, 8])])) +
             field(1, node(["pooled", "starts", "ends", "axes"], ["anomaly_maps"], "Slice", [])) +
             field(2, "slice_batch") + field(5, tensor("starts", [1], [0], **int64)) +
             field(5, tensor("ends", [1], [1], **int64)) + field(5, tensor("axes", [1], [0], **int64)) +
             field(11, value_info("image", [1, 3, 64, 64])) + field(12, value_info("anomaly_maps", [1, 3, 8, 8])))
    return model(graph)


def conv_group_0_model():
    """A 1x1 stride-8 convolution with group 0: OpenCV 4.6's importer divides by it (SIGFPE)."""
    weights = [1.0 if o == i else 0.0 for o in range(3) for i in range(3)]
    graph = (field(1, node(["image", "w"], ["anomaly_maps"], "Conv",
                           [ints_attr("kernel_shape", [1, 1]), ints_attr("strides", [8, 8]), int_attr("group", 0)])) +
             field(2, "conv_group_0") + field(5, tensor("w", [3, 3, 1, 1], weights)) +
             field(11, value_info("image", [1, 3, 64, 64])) + field(12, value_info("anomaly_maps", [1, 3, 8, 8])))
    return model(graph)


def pad_relu6_model(side):
    """A stride-2 convolution with TF "SAME" padding (one more at the bottom and right), which
    OpenCV's importer writes as a Padding layer before it, then ReLU6 as the trainer writes it
    (ReLU, 6 - x, ReLU, 6 - x): the layers the detector fuses into its oneDNN convolution."""
    half, maps = side // 2, side // 8
    weights = [((i * 7) % 11 - 5) / 4.0 for i in range(3 * 3 * 3 * 3)]
    graph = (field(1, node(["image", "w", "b"], ["conv"], "Conv",
                           [ints_attr("kernel_shape", [3, 3]), ints_attr("strides", [2, 2]),
                            ints_attr("pads", [0, 0, 1, 1])])) +
             field(1, node(["conv"], ["r1"], "Relu", [])) +
             field(1, node(["six", "r1"], ["s1"], "Sub", [])) +
             field(1, node(["s1"], ["r2"], "Relu", [])) +
             field(1, node(["six", "r2"], ["relu6"], "Sub", [])) +
             field(1, node(["relu6"], ["anomaly_maps"], "AveragePool",
                           [ints_attr("kernel_shape", [4, 4]), ints_attr("strides", [4, 4])])) +
             field(1, node(["anomaly_maps"], ["scores"], "ReduceMean", [ints_attr("axes", [2, 3]), int_attr("keepdims", 0)])) +
             field(2, "pad_relu6") +
             field(5, tensor("w", [3, 3, 3, 3], weights)) + field(5, tensor("b", [3], [0.5, -0.5, 3.0])) +
             field(5, tensor("six", [1], [6.0])) +
             field(11, value_info("image", [1, 3, side, side])) +
             field(12, value_info("anomaly_maps", [1, 3, maps, maps])) + field(12, value_info("scores", [1, 3])))
    assert half // 4 == maps
    return model(graph)


here = os.path.dirname(os.path.abspath(__file__))
# The declared input must be the manifest's: 64 for the test bundle, 32 for scripts/fuzz.sh's bundle.
for name, side in (("pool.onnx", 64), ("pool_32.onnx", 32)):
    with open(os.path.join(here, "corpus", "onnx", name), "wb") as f:
        f.write(pool_model(side))
for name, write in (("pad_relu6_32.onnx", lambda: pad_relu6_model(32)), ("slice_batch.onnx", slice_batch_model),
                    ("declared_input_65_wide_varint_name.onnx", declared_input_varint_name_model),
                    ("conv_group_0.onnx", conv_group_0_model)):
    with open(os.path.join(here, "corpus", "onnx", name), "wb") as f:
        f.write(write())
