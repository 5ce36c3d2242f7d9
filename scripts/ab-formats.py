#!/usr/bin/env python3
"""Per-layer A/B of two conversions of one model with one sprig binary (e.g. `--format dense`
against auto), one thread: runs `sprig bench --json` of A and B alternately (order flipping each
round) and prints, for each Conv layer that is sparse in B, the median over rounds of A/B (above 1:
B is faster) with min and max, the two layer medians and B's kernel; then end to end. Timings are
ratios, never pass/fail.

    scripts/ab-formats.py SPRIG MODEL_A.sprig MODEL_B.sprig ROUNDS RUNS
"""
import json, statistics, subprocess, sys

sprig, ma, mb, rounds, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def run(model):
    out = subprocess.run([sprig, "bench", model, "--runs", str(runs), "--threads", "1", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


rows = {}
for r in range(rounds):
    res = {}
    for i, m in ([(0, ma), (1, mb)] if r % 2 == 0 else [(1, mb), (0, ma)]):
        res[i] = run(m)
    la = {l["name"]: l for l in res[0]["layers"]}
    lb = {l["name"]: l for l in res[1]["layers"]}
    for n, l in lb.items():
        if l["encoding"] != "dense" and l["op"] == "Conv":
            rows.setdefault(n, []).append((la[n]["median_ms"] / l["median_ms"], la[n]["median_ms"], l["median_ms"], l["kernel"]))
    rows.setdefault("end-to-end", []).append((res[0]["median_ms"] / res[1]["median_ms"], res[0]["median_ms"], res[1]["median_ms"], ""))
for n, v in rows.items():
    rs = sorted(x[0] for x in v)
    a = statistics.median(x[1] for x in v)
    b = statistics.median(x[2] for x in v)
    print(f"{n:20} A/B {statistics.median(rs):.2f} ({rs[0]:.2f}-{rs[-1]:.2f})  A {a:.3f} ms  B {b:.3f} ms  {v[0][3]}")
