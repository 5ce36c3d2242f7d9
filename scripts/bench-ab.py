#!/usr/bin/env python3
"""A/B of two sprig binaries (or two model files) in interleaved rounds.

    scripts/bench-ab.py BIN_A BIN_B MODEL [--model-b MODEL_B] [--rounds 5] [--runs 30]
                        [--threads N] [--kernel PREFIX] [--op OP]

Each round runs `BIN_A bench MODEL --json` then `BIN_B bench MODEL_B --json` (MODEL_B defaults to
MODEL: the same file, e.g. an old and a new binary; or one binary twice with two conversions).
Per round it takes the end-to-end median latency, the sum of the per-layer medians, and the sum
over the layers selected by --kernel (a prefix of the kernel name `sprig bench` prints, e.g.
`dw3x3`) or --op (an op name, e.g. Conv); it prints A/B per round and the median of the per-round
ratios (above 1: B is faster), so drift of a shared machine cancels within a round. Timings are
ratios for BENCHMARKS.md, never pass/fail.
"""
import argparse
import json
import statistics
import subprocess
import sys


def run(binary, model, runs, threads):
    cmd = [binary, "bench", model, "--runs", str(runs), "--json"]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def measures(d, kernel, op):
    layers = d.get("layers", [])
    sel = [l for l in layers if (kernel is None or str(l.get("kernel", "")).startswith(kernel))
           and (op is None or l.get("op") == op)]
    m = {"end-to-end median": d["median_ms"], "sum of layer medians": sum(l["median_ms"] for l in layers)}
    if kernel is not None or op is not None:
        m[f"selected layers ({len(sel)})"] = sum(l["median_ms"] for l in sel)
    return m


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bin_a")
    p.add_argument("bin_b")
    p.add_argument("model")
    p.add_argument("--model-b")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--threads", type=int)
    p.add_argument("--kernel")
    p.add_argument("--op")
    a = p.parse_args()
    mb = a.model_b or a.model
    rounds = []
    for r in range(a.rounds):
        x = measures(run(a.bin_a, a.model, a.runs, a.threads), a.kernel, a.op)
        y = measures(run(a.bin_b, mb, a.runs, a.threads), a.kernel, a.op)
        rounds.append((x, y))
        print(f"round {r + 1}: " + "  ".join(f"{k} {x[k]:.3f}/{y[k]:.3f} ms" for k in x), flush=True)
    print(f"\nA = {a.bin_a} on {a.model}; B = {a.bin_b} on {mb}; {a.rounds} rounds x {a.runs} runs"
          + (f", {a.threads} threads" if a.threads else ""))
    print("| measure | A ms (median) | B ms (median) | A / B (median of rounds) | min–max |")
    print("|---|---:|---:|---:|---|")
    for k in rounds[0][0]:
        ra = [x[k] / y[k] for x, y in rounds if y[k] > 0]
        if not ra:
            continue
        print(f"| {k} | {statistics.median(x[k] for x, _ in rounds):.3f} | {statistics.median(y[k] for _, y in rounds):.3f} "
              f"| **{statistics.median(ra):.2f}x** | {min(ra):.2f}–{max(ra):.2f} |")


if __name__ == "__main__":
    main()
