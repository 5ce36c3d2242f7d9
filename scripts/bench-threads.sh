#!/usr/bin/env bash
# Threads side by side: `sprig bench --threads 1` and `--threads N` in alternating rounds on one
# model; prints each round's medians and their ratio, then the median of the per-round ratios.
# Usage: scripts/bench-threads.sh MODEL.sprig [N=2] [ROUNDS=7] [RUNS=20]
# Environment:
#   SPRIG="a/sprig b/sprig"  one or more binaries (default target/release/sprig); with several,
#                            every round runs each of them (1 thread, then N), so a before/after
#                            comparison sees the same machine load; one summary line per binary.
#   PRIO=rt                  run each bench under `chrt -f 10` (SCHED_FIFO; needs root). On this
#                            2-vCPU VM other engineers' builds otherwise take the second CPU away
#                            (a second thread then adds only overhead); real-time priority
#                            measures the split itself, not the contention. It stalls the other
#                            work on the machine for the seconds it runs.
set -euo pipefail
model=$1; n=${2:-2}; rounds=${3:-7}; runs=${4:-20}
read -r -a bins <<< "${SPRIG:-target/release/sprig}"
prio=()
if [[ "${PRIO:-}" == rt ]]; then prio=(chrt -f 10); fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)${prio:+ (priority: ${prio[*]})}"
median_ms() {
    "${prio[@]}" "$1" bench "$model" --runs "$runs" --threads "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])'
}
declare -A ratios
for r in $(seq 1 "$rounds"); do
    for b in "${bins[@]}"; do
        one=$(median_ms "$b" 1)
        many=$(median_ms "$b" "$n")
        ratio=$(python3 -c "print(f'{$one / $many:.3f}')")
        echo "round $r [$b]: 1 thread $one ms, $n threads $many ms, ratio $ratio"
        ratios[$b]="${ratios[$b]:-} $ratio"
    done
done
for b in "${bins[@]}"; do
    # shellcheck disable=SC2086
    python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[2:]]; print(f'[{sys.argv[1]}] median of per-round ratios (1 thread / $n threads): {statistics.median(v):.2f}x (min {min(v):.2f}, max {max(v):.2f}; {len(v)} rounds x $runs runs)')" "$b" ${ratios[$b]}
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
