#!/usr/bin/env python3
"""ONNX Runtime's node profile against `sprig bench`'s per-layer medians, in alternating rounds.

    ~/.cache/sprig-peers/ort/bin/python scripts/ort-layers.py MODEL.onnx MODEL.sprig [ROUNDS=5] [RUNS=40]

Runs with the Python of the ONNX Runtime venv that ../shared/peers/setup.sh makes. Each round
profiles ORT (one thread, `enable_profiling`, RUNS runs after 10 warm-up runs; the median kernel
time of each node) and then runs `target/release/sprig bench MODEL.sprig --runs RUNS --json`; layers
are matched by name (ORT's fused `<name>.relu_nchwc` nodes included). Prints, per layer, the median
over rounds of ORT time / sprig time (below 1: ORT is faster) with its range, and the same for the
sum of the matched layers.
"""
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

if len(sys.argv) < 3:
    sys.exit(__doc__)
onnx_path, sprig_path = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 40
sprig = Path(__file__).resolve().parent.parent / "target" / "release" / "sprig"


def ort_profile():
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "sprig-ort-layers")
    s = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
    for _ in range(10 + runs):
        s.run(None, {i.name: x})
    f = s.end_profiling()
    times = collections.defaultdict(list)
    for e in json.load(open(f)):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["name"][: -len("_kernel_time")]].append(e["dur"])
    os.remove(f)
    return {k: statistics.median(v[10:]) / 1000 for k, v in times.items() if len(v) > 10}


ratios = collections.defaultdict(list)
totals = []
for _ in range(rounds):
    o = ort_profile()
    d = json.loads(subprocess.run([str(sprig), "bench", sprig_path, "--runs", str(runs), "--json"], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    so = ss = 0.0
    for layer in d["layers"]:
        key = next((k for k in (layer["name"] + ".relu_nchwc", layer["name"] + "_nchwc", layer["name"]) if k in o), None)
        if key is None or layer["median_ms"] <= 0:
            continue
        ratios[layer["name"]].append(o[key] / layer["median_ms"])
        so += o[key]
        ss += layer["median_ms"]
    totals.append(so / ss)
for name, v in ratios.items():
    print(f"{name:24s} ORT / sprig {statistics.median(v):.3f} ({min(v):.2f}-{max(v):.2f})")
print(f"{'matched layers':24s} ORT / sprig {statistics.median(totals):.3f} ({min(totals):.2f}-{max(totals):.2f})")
