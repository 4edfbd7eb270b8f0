#!/usr/bin/env python3
"""ONNX Runtime's best form of a bundle's network, for `mtfcdd-bench --bundle DIR --ort-model OUT`.

The trainer writes ReLU6 as c - relu(c - relu(x)) (NetGraph::relu6), because OpenCV 4.6 cannot
import opset 11's Clip; the detector runs that chain inside its convolutions. ONNX Runtime fuses a
Clip into the convolution before it, but not the chain, so timing it on the bundle's own
model.onnx would favour the detector. This writes the same network with each chain as one
Clip(x, 0, c); the bench still checks that both give the same maps.

Usage: bench/ort_clip_graph.py BUNDLE/model.onnx OUT.onnx   (needs python3-onnx, a Debian package)
"""
import sys

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper


def scalar(graph, name):
    """The value of a one-element initializer, or None when `name` is not one."""
    for init in graph.initializer:
        if init.name == name:
            value = numpy_helper.to_array(init)
            return float(value.reshape(-1)[0]) if value.size == 1 else None
    return None


def relu6_chains(graph):
    """(first Relu, last Sub, c) for each Relu -> Sub(c, .) -> Relu -> Sub(c, .) whose inner values feed only the next node."""
    made_by = {n.output[0]: n for n in graph.node}
    uses = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1

    def single_use_input(node, index, op):
        producer = made_by.get(node.input[index])
        return producer if producer is not None and producer.op_type == op and uses[producer.output[0]] == 1 else None

    for last in graph.node:
        if last.op_type != "Sub" or len(last.input) != 2:
            continue
        c = scalar(graph, last.input[0])
        relu2 = single_use_input(last, 1, "Relu")
        sub1 = relu2 and single_use_input(relu2, 0, "Sub")
        relu1 = sub1 and single_use_input(sub1, 1, "Relu")
        if c is not None and relu1 is not None and scalar(graph, sub1.input[0]) == c:
            yield relu1, last, c


def main(source, target):
    try:
        model = onnx.load(source)
    except (OSError, DecodeError) as e:
        sys.exit(f"{source}: cannot read an ONNX model: {e}")
    graph = model.graph
    chains = list(relu6_chains(graph))
    if not chains:
        sys.exit(f"{source}: no ReLU6 chain (Relu, Sub(c, .), Relu, Sub(c, .)) found; nothing to rewrite")
    made_by = {n.output[0]: n for n in graph.node}
    removed, replacement = set(), {}
    for k, (relu1, last, c) in enumerate(chains):
        sub1 = made_by[made_by[last.input[1]].input[0]]
        removed.update(id(n) for n in (relu1, sub1, made_by[last.input[1]], last))
        lo, hi = f"relu6_{k}_min", f"relu6_{k}_max"
        graph.initializer.extend([numpy_helper.from_array(np.array(0, np.float32), lo),
                                  numpy_helper.from_array(np.array(c, np.float32), hi)])
        replacement[id(relu1)] = helper.make_node("Clip", [relu1.input[0], lo, hi], [last.output[0]], name=f"relu6_{k}")
    nodes = [replacement.get(id(n), n) for n in graph.node if id(n) in replacement or id(n) not in removed]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    try:
        onnx.save(model, target)
    except OSError as e:
        sys.exit(f"{target}: cannot write it: {e}")
    print(f"{target}: {len(chains)} ReLU6 chains written as Clip")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
