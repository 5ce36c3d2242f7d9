#!/usr/bin/env python3
"""Exports a tiny pruned PaddlePaddle conv net to ONNX with paddle.onnx.export (paddle2onnx), as a
user would, into tests/models/paddle/: NAME.onnx plus NAME.input_0.npy and NAME.output_0.npy
computed by Paddle itself (tests/tests/torch_exports.rs reads them like the torch exports).

Usage (CPU wheels from PyPI):
    python3 -m venv /tmp/paddleenv && /tmp/paddleenv/bin/pip install paddlepaddle paddle2onnx onnx
    /tmp/paddleenv/bin/python scripts/export-paddle.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import paddle
import paddle.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "models", "paddle")
SEED = 2024


class TinyNet(nn.Layer):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2D(3, 16, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2D(16)
        self.dw = nn.Conv2D(16, 16, 3, padding=1, groups=16)
        self.bn2 = nn.BatchNorm2D(16)
        self.pw = nn.Conv2D(16, 32, 1)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = nn.functional.relu6(self.bn1(self.conv1(x)))
        x = nn.functional.relu(self.bn2(self.dw(x)))
        x = nn.functional.hardswish(self.pw(x))
        x = paddle.flatten(self.pool(x), 1)
        return self.fc(x)


def prune_90(layer):
    # Magnitude pruning by hand (Paddle has no torch.nn.utils.prune): zero the 90% smallest.
    w = layer.weight.numpy()
    k = int(w.size * 0.9)
    thr = np.sort(np.abs(w).ravel())[k - 1]
    layer.weight.set_value(np.where(np.abs(w) > thr, w, 0).astype(w.dtype))


def main():
    os.makedirs(OUT, exist_ok=True)
    paddle.seed(SEED)
    np.random.seed(SEED)
    net = TinyNet()
    for bn in (net.bn1, net.bn2):
        c = bn._mean.shape[0]
        bn._mean.set_value((np.random.randn(c) * 0.2).astype("float32"))
        bn._variance.set_value((np.random.rand(c) * 0.5 + 0.5).astype("float32"))
        bn.weight.set_value((np.random.rand(c) + 0.5).astype("float32"))
        bn.bias.set_value((np.random.randn(c) * 0.1).astype("float32"))
    prune_90(net.pw)
    prune_90(net.fc)
    net.eval()
    x = np.random.randn(1, 3, 32, 32).astype("float32")
    name = "tinynet"
    spec = [paddle.static.InputSpec(shape=[None, 3, 32, 32], dtype="float32", name="x")]
    paddle.onnx.export(net, os.path.join(OUT, name), input_spec=spec, opset_version=11)
    y = net(paddle.to_tensor(x)).numpy()
    consts = name + "_constants"
    to_constant_nodes(os.path.join(OUT, name + ".onnx"), os.path.join(OUT, consts + ".onnx"))
    for n in (name, consts):
        np.save(os.path.join(OUT, f"{n}.input_0.npy"), x)
        np.save(os.path.join(OUT, f"{n}.output_0.npy"), y)
        print(f"{n}.onnx: {os.path.getsize(os.path.join(OUT, n + '.onnx')) / 1024:.0f} KB, output {y.shape}")
    with open(os.path.join(OUT, "models.txt"), "w") as f:
        f.write(f"# Written by scripts/export-paddle.py (paddle {paddle.__version__}): name [input=shape ...] (see tests/models/torch/models.txt)\n")
        for n in (name, consts):
            f.write(f"{n} x=1,3,32,32 x=2,3,32,32\n")


def to_constant_nodes(src, dst):
    """paddle2onnx 2.x writes initializers; older paddle2onnx versions (and other exporters) wrote
    every weight as a Constant node. This variant of the same export moves each initializer into a
    Constant node at the head of the graph, so both layouts are tested."""
    import onnx

    m = onnx.load(src)
    consts = [onnx.helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t) for t in m.graph.initializer]
    names = {t.name for t in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in names]
    del m.graph.input[:]
    m.graph.input.extend(inputs)
    del m.graph.initializer[:]
    nodes = consts + list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


if __name__ == "__main__":
    main()
