#!/usr/bin/env python3
"""Per-layer A/B, one thread: runs `sprig bench --json` of A and B alternately (order flipping each
round) and prints, for each Conv layer that is sparse in A or B, the median over rounds of A/B
(above 1: B is faster) with min and max, the two layer medians and the kernels; then the sparse
layers summed, the sum of layer medians and the end-to-end median. Timings are ratios, never
pass/fail.

    scripts/ab-layers.py BIN_A BIN_B MODEL ROUNDS RUNS            # two binaries, one model
    scripts/ab-layers.py BIN MODEL_A ROUNDS RUNS --vs MODEL_B       # one binary, two conversions
                                                                   # (e.g. --format dense against auto)
"""
import json, statistics, subprocess, sys

args = sys.argv[1:]
if "--vs" in args:
    i = args.index("--vs")
    model_b = args[i + 1]
    del args[i:i + 2]
    binary, model_a, rounds, runs = args
    sides = [(binary, model_a), (binary, model_b)]
else:
    bin_a, bin_b, model, rounds, runs = args
    sides = [(bin_a, model), (bin_b, model)]
rounds, runs = int(rounds), int(runs)


def run(side):
    binary, model = side
    out = subprocess.run([binary, "bench", model, "--runs", str(runs), "--threads", "1", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


ratios, times = {}, {}
for r in range(rounds):
    res = [None, None]
    for i in ([0, 1] if r % 2 == 0 else [1, 0]):
        res[i] = run(sides[i])
    la = {l["name"]: l for l in res[0]["layers"]}
    lb = {l["name"]: l for l in res[1]["layers"]}
    sel = [n for n in la if n in lb and la[n]["op"] == "Conv" and (la[n]["encoding"], lb[n]["encoding"]) != ("dense", "dense")]

    def add(k, x, y, kern=""):
        ratios.setdefault(k, []).append(x / y)
        times.setdefault(k, []).append((x, y, kern))

    for n in sel:
        add(n, la[n]["median_ms"], lb[n]["median_ms"], f"{la[n]['kernel']} / {lb[n]['kernel']}")
    add("sparse layers (sum)", sum(la[n]["median_ms"] for n in sel), sum(lb[n]["median_ms"] for n in sel))
    add("sum of layer medians", sum(l["median_ms"] for l in la.values()), sum(l["median_ms"] for l in lb.values()))
    add("end-to-end median", res[0]["median_ms"], res[1]["median_ms"])
for k, v in ratios.items():
    v = sorted(v)
    a = statistics.median(t[0] for t in times[k])
    b = statistics.median(t[1] for t in times[k])
    print(f"{k:26} A/B median {statistics.median(v):.3f}x  (min {v[0]:.3f}, max {v[-1]:.3f})  A {a:.3f} ms  B {b:.3f} ms  {times[k][0][2]}")
