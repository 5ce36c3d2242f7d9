#!/usr/bin/env python3
"""Exports small pruned PyTorch models with torch.onnx.export into tests/models/torch/, as a user
would: random weights (fixed seed), BatchNorm with non-trivial running statistics, 90% magnitude
pruning of some layers with torch.nn.utils.prune (reparametrisation removed before export), eval
mode. Each model is exported with the legacy TorchScript exporter (dynamo=False) and with the
dynamo exporter (dynamo=True); some exports have symbolic (dynamic) axes.

For every export it writes NAME.onnx, plus NAME.input_K.npy and NAME.output_K.npy computed by torch
itself (the second, independent reference besides tract, used by tests/tests/torch_exports.rs).
models.txt lists each export: name, then `input=shape` pairs for the --input-shape options the
converter needs (empty when the export is fully static).

Usage (torch, onnx and onnxscript are needed; see README "Converting a PyTorch export"):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch onnx onnxscript
    /tmp/torchenv/bin/python scripts/export-torch.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "models", "torch")
SEED = 2024


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual when shapes allow."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            conv_bn(cin, hidden, 1),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            conv_bn(hidden, cout, 1, act=False),
        )

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class SmallCnn(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2),
            InvertedResidual(16, 16, 1, 4),
            InvertedResidual(16, 24, 2, 4),
            InvertedResidual(24, 24, 1, 4),
            conv_bn(24, 64, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, classes)

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class SmallEncoder(nn.Module):
    def __init__(self, vocab=64, d=64, heads=4, ff=64, layers=2, classes=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids)))


def randomise_bn(model):
    # Fresh BatchNorm has mean 0, var 1: folding it would be trivially right. Give it real statistics.
    g = torch.Generator().manual_seed(SEED + 1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def prune_90(modules):
    # What a user does: magnitude-prune, then make it permanent (drop weight_orig / weight_mask).
    for m in modules:
        prune.l1_unstructured(m, name="weight", amount=0.9)
        prune.remove(m, "weight")


def save_npy(name, inputs, outputs):
    for k, t in enumerate(inputs):
        np.save(os.path.join(OUT, f"{name}.input_{k}.npy"), t.detach().numpy())
    for k, t in enumerate(outputs):
        np.save(os.path.join(OUT, f"{name}.output_{k}.npy"), t.detach().numpy())


def strip_metadata(path):
    # The dynamo exporter records a Python stack trace (with local paths) on every node, which
    # doubles the file. Drop node metadata and doc strings; the graph itself is untouched.
    import onnx

    m = onnx.load(path)
    for n in m.graph.node:
        del n.metadata_props[:]
        n.doc_string = ""
    m.doc_string = ""
    onnx.save(m, path)


def export(model, name, args, input_names, dynamo, dynamic_axes=None, opset=None, fold=True):
    path = os.path.join(OUT, f"{name}.onnx")
    kwargs = dict(input_names=input_names, output_names=["output"], dynamo=dynamo)
    if not dynamo:
        # do_constant_folding=False keeps BatchNormalization nodes (folding merges them into Conv).
        kwargs["do_constant_folding"] = fold
    if opset is not None:
        kwargs["opset_version"] = opset
    if dynamic_axes:
        kwargs["dynamic_axes"] = dynamic_axes
    if dynamo:
        # Small models: keep the weights inside the file (no .onnx.data beside it).
        kwargs["external_data"] = False
    torch.onnx.export(model, args, path, **kwargs)
    strip_metadata(path)
    with torch.no_grad():
        out = model(*args)
    save_npy(name, args, [out])
    size = os.path.getsize(path)
    print(f"{name}.onnx: {size / 1024:.0f} KB, output {tuple(out.shape)}")
    assert size < 300 * 1024, f"{name}.onnx is above 300 KB"
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    listing = []

    cnn = SmallCnn()
    randomise_bn(cnn)
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d) and m.groups == 1 and m.kernel_size == (1, 1)]
    prune_90(convs[1:] + [cnn.classifier])
    cnn.eval()
    x = torch.randn(1, 3, 64, 64)
    export(cnn, "cnn_legacy", (x,), ["input"], dynamo=False, opset=13)
    listing.append("cnn_legacy")
    batch = {"input": {0: "batch"}, "output": {0: "batch"}}
    export(cnn, "cnn_legacy_bn_dynbatch", (x,), ["input"], dynamo=False, opset=11, dynamic_axes=batch, fold=False)
    listing.append("cnn_legacy_bn_dynbatch input=1,3,64,64")
    export(cnn, "cnn_dynamo", (x,), ["input"], dynamo=True)
    listing.append("cnn_dynamo")
    export(cnn, "cnn_dynamo_dynbatch", (x,), ["input"], dynamo=True, dynamic_axes=batch)
    listing.append("cnn_dynamo_dynbatch input=1,3,64,64")

    torch.manual_seed(SEED + 2)
    enc = SmallEncoder()
    prune_90([l.linear1 for l in enc.encoder.layers] + [l.linear2 for l in enc.encoder.layers])
    enc.eval()
    ids = torch.randint(0, 64, (1, 16), dtype=torch.int64)
    export(enc, "encoder_legacy", (ids,), ["input_ids"], dynamo=False, opset=14)
    listing.append("encoder_legacy")
    axes = {"input_ids": {0: "batch", 1: "seq"}, "output": {0: "batch", 1: "seq"}}
    export(enc, "encoder_legacy_dyn", (ids,), ["input_ids"], dynamo=False, opset=17, dynamic_axes=axes)
    listing.append("encoder_legacy_dyn input_ids=1,16")
    export(enc, "encoder_dynamo_dyn", (ids,), ["input_ids"], dynamo=True, dynamic_axes=axes)
    listing.append("encoder_dynamo_dyn input_ids=1,16")

    with open(os.path.join(OUT, "models.txt"), "w") as f:
        f.write(f"# Written by scripts/export-torch.py (torch {torch.__version__}): name [input=shape ...]\n")
        for line in listing:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
