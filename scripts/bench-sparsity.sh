#!/usr/bin/env bash
# Latency against sparsity: MobileNetV1 (224x224, width 1.0) dense and with its pointwise and
# classifier layers pruned to 50, 70, 90 and 95 %, unstructured and in 4x1 blocks, timed on one
# thread by sprig, ONNX Runtime, tract and DeepSparse in interleaved rounds (scripts/bench-peers.sh),
# then drawn as an SVG (benches/examples/plot_sparsity.rs) and printed as a markdown table.
#
#   scripts/bench-sparsity.sh [OUT.svg]     (default: docs/latency-vs-sparsity.svg)
#
# Env: ROUNDS (default 5), RUNS (default 20), OUT (work dir, default target/bench-peers), as for
# bench-peers.sh. About 12 minutes on 2 cores at the defaults (most of it in the peers).
set -euo pipefail
cd "$(dirname "$0")/.."
SVG=${1:-docs/latency-vs-sparsity.svg}
export ROUNDS=${ROUNDS:-5} RUNS=${RUNS:-20} OUT=${OUT:-target/bench-peers}
models=(mnv1-dense)
for s in 50 70 90 95; do
  for b in 1 4; do models+=("mnv1-${s}x$b"); done
done
scripts/bench-peers.sh "${models[@]}" | tee "$OUT/sparsity-table.md"
mkdir -p "$(dirname "$SVG")"
cargo run --release -q -p sprig-benches --example plot_sparsity -- "$OUT" "$SVG"
