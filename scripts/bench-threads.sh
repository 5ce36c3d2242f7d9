#!/usr/bin/env bash
# Threads side by side: each round is one `sprig bench --threads N --vs-threads 1` process, which
# alternates a 1-thread and an N-thread session run by run and reports the median over run pairs of
# (1-thread time / N-thread time), beside the host's own ceiling probed after every run pair
# (pure arithmetic and an 8 MiB stream on N threads vs 1; see tools/src/cli/ceiling.rs). Prints each
# round's figures, then the medians over rounds.
# (Before 2026-11-24 a round was two separate processes, 1 thread then N; on this shared VM the
# machine's speed drifts by up to 2x within seconds, so such rounds ranged from 0.6x to 2.1x.)
# Usage: scripts/bench-threads.sh MODEL.sprig [N=2] [ROUNDS=7] [RUNS=20]
# Environment:
#   SPRIG="a/sprig b/sprig"  one or more binaries (default target/release/sprig); every round runs
#                            each of them, one summary line per binary.
#   PRIO=rt                  run each bench under `chrt -f 10` (SCHED_FIFO; needs root), so that
#                            other builds on a 2-vCPU VM do not take the second CPU away; it stalls
#                            the other work on the machine for the seconds it runs.
#   LAYERS=1                 also print the per-layer speed-ups (median over rounds) at the end.
set -euo pipefail
model=$1; n=${2:-2}; rounds=${3:-7}; runs=${4:-20}
read -r -a bins <<< "${SPRIG:-target/release/sprig}"
prio=()
if [[ "${PRIO:-}" == rt ]]; then prio=(chrt -f 10); fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)${prio:+ (priority: ${prio[*]})}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
    for i in "${!bins[@]}"; do
        b=${bins[$i]}
        "${prio[@]}" "$b" bench "$model" --runs "$runs" --threads "$n" --vs-threads 1 --json > "$out/$i.$r.json"
        python3 - "$out/$i.$r.json" "$r" "$b" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); v = d["vs_threads"]
print(f"round {sys.argv[2]} [{sys.argv[3]}]: 1 thread {v['median_ms']:.3f} ms, {d['threads']} threads {d['median_ms']:.3f} ms,"
      f" pair ratio {v['speedup']:.3f} (p10 {v['speedup_p10']:.2f}, p90 {v['speedup_p90']:.2f});"
      f" host ceiling: arithmetic {v['host_ceiling']:.2f}, stream {v['host_stream_ceiling']:.2f}")
PY
    done
done
for i in "${!bins[@]}"; do
    python3 - "$out" "$i" "${bins[$i]}" "$n" "$runs" "${LAYERS:-0}" <<'PY'
import glob, json, statistics, sys
out, i, b, n, runs, layers = sys.argv[1:]
ds = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{i}.*.json"))]
v = [d["vs_threads"]["speedup"] for d in ds]
print(f"[{b}] median over rounds of the run-pair ratio (1 thread / {n} threads): {statistics.median(v):.2f}x (min {min(v):.2f}, max {max(v):.2f}; {len(v)} rounds x {runs} run pairs)")
ca = [d["vs_threads"]["host_ceiling"] for d in ds]
cs = [d["vs_threads"]["host_stream_ceiling"] for d in ds]
rel = [x / c for x, c in zip(v, ca)]
print(f"    host ceiling, medians over rounds: arithmetic {statistics.median(ca):.2f}x, stream {statistics.median(cs):.2f}x; model / arithmetic ceiling {statistics.median(rel):.2f}")
if layers == "1":
    for j, l in enumerate(ds[0]["layers"]):
        s = [d["layers"][j].get("speedup_vs_threads") or 0.0 for d in ds]
        print(f"    {l['name']:<24} {l['op']:<18} {statistics.median(s):.2f}x")
PY
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
