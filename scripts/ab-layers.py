#!/usr/bin/env python3
"""Per-layer A/B of two sprig binaries on one model, one thread: runs `sprig bench --json` of A and B
alternately (order flipping each round) and prints, for each sparse Conv layer, the sparse layers
summed, the sum of layer medians and the end-to-end median, the median over rounds of A/B (above 1:
B is faster) with min and max. Timings are ratios, never pass/fail.

    scripts/ab-layers.py BIN_A BIN_B MODEL ROUNDS RUNS
"""
import json, subprocess, statistics, sys
a, b, model, rounds, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def run(binary):
    out = subprocess.run([binary, "bench", model, "--runs", str(runs), "--threads", "1", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
ratios = {}
for r in range(rounds):
    order = [(0, a), (1, b)] if r % 2 == 0 else [(1, b), (0, a)]
    res = {}
    for i, binary in order:
        res[i] = run(binary)
    la = {l["name"]: l for l in res[0]["layers"]}
    lb = {l["name"]: l for l in res[1]["layers"]}
    sel = [n for n, l in la.items() if l["encoding"] != "dense" and l["op"] == "Conv"]
    def add(k, x, y): ratios.setdefault(k, []).append(x / y)
    for n in sel:
        add(n, la[n]["median_ms"], lb[n]["median_ms"])
    add("sparse pw layers (sum)", sum(la[n]["median_ms"] for n in sel), sum(lb[n]["median_ms"] for n in sel))
    add("sum of layer medians", sum(l["median_ms"] for l in la.values()), sum(l["median_ms"] for l in lb.values()))
    add("end-to-end median", res[0]["median_ms"], res[1]["median_ms"])
for k, v in ratios.items():
    v = sorted(v)
    print(f"{k:26} A/B median {statistics.median(v):.3f}x  (min {v[0]:.3f}, max {v[-1]:.3f})")
