#!/usr/bin/env python3
"""Two conversions of one ONNX model against ONNX Runtime, in alternating rounds.

    python3 scripts/peers-ab.py MODEL.onnx A.sprig B.sprig [ROUNDS=9] [RUNS=30]

Each round times ONNX Runtime and `sprig bench` on A, then on B (the order flips every round), with
../shared/peers/time_peers.py (one process per runtime, `--threads 1`), and prints ORT / sprig for
each file per round and the median over rounds (above 1: sprig is faster). Run
../shared/peers/setup.sh first; sprig is target/release/sprig (`cargo build --release -p sprig-tools`).
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
if len(sys.argv) < 4:
    sys.exit(__doc__)
onnx, a, b = sys.argv[1:4]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 9
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 30
peers = root.parent / "shared" / "peers" / "time_peers.py"
sprig = root / "target" / "release" / "sprig"
ratios = {a: [], b: []}
for r in range(rounds):
    for m in ([a, b] if r % 2 == 0 else [b, a]):
        cmd = ["python3", str(peers), onnx, "--threads", "1", "--rounds", "1", "--runs", str(runs), "--runtimes", "ort", "--json",
               "--ext", f"{sprig} bench {m} --runs {runs} --json"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        t = json.loads(out.strip().splitlines()[-1])["median_ms"]
        ratios[m].append(t["ort"] / t["ext"])
        print(f"round {r + 1}: {m}: ORT {t['ort']:.2f} ms, sprig {t['ext']:.2f} ms, ORT / sprig {t['ort'] / t['ext']:.3f}", flush=True)
for m, v in ratios.items():
    print(f"{m}: ORT / sprig median {statistics.median(v):.3f} (min {min(v):.3f}, max {max(v):.3f}, {len(v)} rounds)")
