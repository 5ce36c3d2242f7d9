#!/usr/bin/env bash
# Threads side by side: `sprig bench --threads 1` and `--threads N` in alternating rounds on one
# model; prints each round's medians and their ratio, then the median of the per-round ratios.
# Usage: scripts/bench-threads.sh MODEL.sprig [N=2] [ROUNDS=7] [RUNS=20]
set -euo pipefail
model=$1; n=${2:-2}; rounds=${3:-7}; runs=${4:-20}
sprig=${SPRIG:-target/release/sprig}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
ratios=()
for r in $(seq 1 "$rounds"); do
    one=$("$sprig" bench "$model" --runs "$runs" --threads 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
    many=$("$sprig" bench "$model" --runs "$runs" --threads "$n" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
    ratio=$(python3 -c "print(f'{$one / $many:.3f}')")
    echo "round $r: 1 thread $one ms, $n threads $many ms, ratio $ratio"
    ratios+=("$ratio")
done
python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f'median of per-round ratios (1 thread / $n threads): {statistics.median(v):.2f}x (min {min(v):.2f}, max {max(v):.2f})')" "${ratios[@]}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
