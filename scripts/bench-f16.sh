#!/usr/bin/env bash
# f16 weights (issue 8): file sizes and `sprig bench` latency of f16 against f32 weights, for
# MobileNetV1 224 and a BERT encoder, dense and 90 % sparse in 4x1 blocks. One thread; prints a
# markdown table for BENCHMARKS.md ("f16 weights: models").
#
#   scripts/bench-f16.sh
#
# Per model: `sprig synth` (dense, and --sparsity 0.9 --block 4), each converted with
# `sprig convert` twice: `--weights f32` and `--weights f16` (both verified against tract; f16
# under its 1e-2 tolerance); the 90 % models with `--format sparse --block 4x1` so every pruned
# layer is block-sparse. Each round runs `sprig bench --json` on the f32 and then the f16 file;
# the f16/f32 ratio is computed per round and the median over rounds reported, with the median
# latencies of each variant (drift of the shared machine cancels within a round).
# Env: ROUNDS (default 5), RUNS (per round and file, default 20), OUT (default target/bench-f16),
# BERT_ARGS (default: 2 layers, hidden 768, sequence 128), SKIP_BUILD=1, SPRIG (the binary),
# CONVERT_ONLY=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-20}
OUT=${OUT:-target/bench-f16}
BERT_ARGS=${BERT_ARGS:---layers 2 --hidden 768 --heads 12 --seq-len 128}
SPRIG=${SPRIG:-target/release/sprig}
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p sprig-tools
mkdir -p "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load: $(uptime | sed 's/.*load/load/')" >&2

models=(mnv1-dense mnv1-90x4 bert-dense bert-90x4)
for m in "${models[@]}"; do
  case $m in
    mnv1-*) arch=(--arch mobilenet-v1) ;;
    bert-*) # shellcheck disable=SC2206
            arch=(--arch bert $BERT_ARGS) ;;
  esac
  case $m in
    *-90x4) sp=(--sparsity 0.9 --block 4); fmt=(--format sparse --block 4x1) ;;
    *) sp=(); fmt=(--format dense) ;;
  esac
  [ -f "$OUT/$m.onnx" ] || "$SPRIG" synth "${arch[@]}" "${sp[@]}" -o "$OUT/$m.onnx" >&2
  for w in f32 f16; do
    # Conversions are deterministic: an existing, newer output is reused (CONVERT_ONLY=1 runs
    # only this part, e.g. with a debug binary while the release one builds).
    [ "$OUT/$m-$w.sprig" -nt "$OUT/$m.onnx" ] && continue
    "$SPRIG" convert "$OUT/$m.onnx" -o "$OUT/$m-$w.sprig" "${fmt[@]}" --weights "$w" > "$OUT/$m-$w.convert.txt"
    grep -E 'f16 weights|verification|max rel|output' "$OUT/$m-$w.convert.txt" | tail -4 >&2 || true
  done
done

[ "${CONVERT_ONLY:-0}" = 1 ] && exit 0
log="$OUT/rounds.jsonl"; : > "$log"
for r in $(seq 1 "$ROUNDS"); do
  for m in "${models[@]}"; do
    echo "== round $r of $ROUNDS: $m ($RUNS runs each)" >&2
    for w in f32 f16; do
      "$SPRIG" bench "$OUT/$m-$w.sprig" --runs "$RUNS" --json > "$OUT/$m-$w.bench.json"
      python3 -c 'import json,sys; d=json.load(open(sys.argv[4])); print(json.dumps({"round": int(sys.argv[1]), "model": sys.argv[2], "w": sys.argv[3], "ms": d["median_ms"], "isa": d["isa"]}))' \
        "$r" "$m" "$w" "$OUT/$m-$w.bench.json" >> "$log"
    done
  done
done

python3 - "$OUT" "$log" "${models[@]}" <<'EOF'
import json, os, statistics, sys
out, log, models = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [json.loads(l) for l in open(log)]
size = lambda p: os.path.getsize(os.path.join(out, p))
print("| model | ONNX f32 | .sprig f32 | .sprig f16 | f16 / f32 file | f16 / ONNX | f32 ms | f16 ms | f16 / f32 latency (median of per-round ratios) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in models:
    per = {}
    for x in rows:
        if x["model"] == m:
            per.setdefault(x["round"], {})[x["w"]] = x["ms"]
    ratios = [v["f16"] / v["f32"] for v in per.values() if "f16" in v and "f32" in v]
    med = lambda w: statistics.median(v[w] for v in per.values())
    o, a, b = size(m + ".onnx"), size(m + "-f32.sprig"), size(m + "-f16.sprig")
    mb = lambda n: f"{n / 1e6:.2f} MB"
    print(f"| {m} | {mb(o)} | {mb(a)} | {mb(b)} | {b / a:.3f}x | {b / o:.3f}x | {med('f32'):.2f} | {med('f16'):.2f} | {statistics.median(ratios):.2f}x |")
print(f"\nisa: {rows[0]['isa']}; {len(set(x['round'] for x in rows))} rounds")
EOF
