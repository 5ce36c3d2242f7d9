#!/usr/bin/env bash
# Side-by-side latency of sprig and its peers (ONNX Runtime, tract's Python bindings, DeepSparse) on
# synthesized models, one thread, as a markdown table for BENCHMARKS.md.
#
#   scripts/bench-peers.sh [MODEL ...]     (default: mnv1-dense mnv1-90x4 mlp-dense mlp-90x4)
#
# Models: mnv1-dense, mnv1-90x4, mnv1-95x4, mnv1-90x1 (MobileNetV1 224x224, width 1.0, pointwise
# convs and classifier pruned), mlp-dense, mlp-90x4 (MLP 1024 -> 4096 -> 1024 with ReLU, batch 1,
# both weights pruned), mlpb128-dense, mlpb128-90x4 (the same MLP at batch 128), bert2-dense,
# bert2-90x4 (BERT-like encoder: 2 layers, hidden 768, sequence 128, GELU FFN; its MatMul weights
# pruned). Each model is synthesized as ONNX, converted (`sprig convert` verifies it
# against tract), then timed by ../shared/peers/time_peers.py in interleaved rounds, with
# `sprig bench --json` as the external command in the same rounds; the ratios are medians of the
# per-round ratios (raw rounds in OUT/MODEL.rounds.jsonl).
# Env: ROUNDS (default 9), RUNS (runs per round and runtime, default 30), OUT (work dir, default
# target/bench-peers), PEERS (default ../shared/peers relative to the repository), CONVERT_ARGS
# (extra `sprig convert` options, e.g. `--pointwise-panels`; default none).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-9}
RUNS=${RUNS:-30}
OUT=${OUT:-target/bench-peers}
PEERS=${PEERS:-../shared/peers}
SPRIG=target/release/sprig
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mnv1-dense mnv1-90x4 mlp-dense mlp-90x4)

cargo build --release -q -p sprig-tools
"$PEERS/setup.sh" >&2
PY=${PEERS_HOME:-$HOME/.cache/sprig-peers}/ort/bin/python # has numpy and onnx
mkdir -p "$OUT"

# An MLP x[1, i] -> MatMul+Add(h) -> Relu -> MatMul+Add(o), weights magnitude-pruned to $2 in blocks
# of $3 consecutive output columns x 1 input row (ranked by the block's L1 norm); $4 = batch.
make_mlp() {
  "$PY" - "$1" "$2" "$3" "${4:-1}" <<'EOF'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
out, sparsity, block, batch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
i, h, o = 1024, 4096, 1024
rng = np.random.default_rng(0)
def weight(k, n):
    w = (rng.standard_normal((k, n)) * np.sqrt(2.0 / k)).astype(np.float32)
    if sparsity > 0:
        blocks = np.abs(w).reshape(k, n // block, block).sum(axis=2)
        cut = np.quantile(blocks, sparsity)
        keep = np.repeat(blocks > cut, block, axis=1)
        w = np.where(keep, w / np.sqrt(1.0 - sparsity), 0.0).astype(np.float32)
    return w
inits = [numpy_helper.from_array(weight(i, h), "w1"), numpy_helper.from_array(np.zeros(h, np.float32) + 0.01, "b1"),
         numpy_helper.from_array(weight(h, o), "w2"), numpy_helper.from_array(np.zeros(o, np.float32) - 0.01, "b2")]
nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"], name="fc1"), helper.make_node("Add", ["h0", "b1"], ["h1"], name="fc1.bias"),
         helper.make_node("Relu", ["h1"], ["h2"], name="relu"), helper.make_node("MatMul", ["h2", "w2"], ["y0"], name="fc2"),
         helper.make_node("Add", ["y0", "b2"], ["y"], name="fc2.bias")]
g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, i])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, o])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
onnx.checker.check_model(m)
onnx.save(m, out)
EOF
}

for m in "${models[@]}"; do
  onnx="$OUT/$m.onnx"; model="$OUT/$m.sprig"
  case $m in
    mnv1-dense) "$SPRIG" synth --arch mobilenet-v1 --sparsity 0 -o "$onnx" >&2 ;;
    mnv1-*x*) s=${m#mnv1-}; "$SPRIG" synth --arch mobilenet-v1 --sparsity "0.${s%x*}" --block "${s#*x}" -o "$onnx" >&2 ;;
    mlp-dense) make_mlp "$onnx" 0 1 ;;
    mlp-*x*) s=${m#mlp-}; make_mlp "$onnx" "0.${s%x*}" "${s#*x}" ;;
    mlpb128-dense) make_mlp "$onnx" 0 1 128 ;;
    mlpb128-*x*) s=${m#mlpb128-}; make_mlp "$onnx" "0.${s%x*}" "${s#*x}" 128 ;;
    bert2-dense) "$SPRIG" synth --arch bert --layers 2 --sparsity 0 -o "$onnx" >&2 ;;
    bert2-*x*) s=${m#bert2-}; "$SPRIG" synth --arch bert --layers 2 --sparsity "0.${s%x*}" --block "${s#*x}" -o "$onnx" >&2 ;;
    *) echo "unknown model '$m'" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2086 # CONVERT_ARGS is a list of options
  "$SPRIG" convert "$onnx" -o "$model" ${CONVERT_ARGS:-} >/dev/null
  : > "$OUT/$m.rounds.jsonl"
done

# Rounds outer, models inner: every model is timed once per round, so a drift of the machine's
# speed over the run (minutes) spreads over all models alike instead of favouring the first ones.
# One time_peers call per model and round keeps each round's ratios (peer / sprig, the same seconds
# of the machine): the table gives the median of the per-round ratios, which a drift between rounds
# does not bias (the ratio of the medians can be).
for r in $(seq 1 "$ROUNDS"); do
  for m in "${models[@]}"; do
    echo "== round $r/$ROUNDS: $m ($RUNS runs per runtime)" >&2
    python3 "$PEERS/time_peers.py" "$OUT/$m.onnx" --threads 1 --rounds 1 --runs "$RUNS" --json \
      --ext "$SPRIG bench $OUT/$m.sprig --runs $RUNS --json" >> "$OUT/$m.rounds.jsonl"
  done
done

rows=()
for m in "${models[@]}"; do
  rows+=("$(python3 - "$m" "$OUT/$m.rounds.jsonl" <<'EOF'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
rounds = [json.loads(line) for line in open(path) if line.strip()]
med = lambda xs: statistics.median(xs) if xs else None
def times(r):
    return [d["median_ms"][r] for d in rounds if r in d["median_ms"]]
def ratios(r):
    return [d["median_ms"][r] / d["median_ms"]["ext"] for d in rounds if r in d["median_ms"] and "ext" in d["median_ms"]]
cell = lambda r: f"{med(times(r)):.2f}" if times(r) else "failed"
def ratio(r):
    x = ratios(r)
    return f"{med(x):.2f}x ({min(x):.2f}–{max(x):.2f})" if x else "-"
print(f"| {name} | {cell('ort')} | {cell('tract')} | {cell('deepsparse')} | {cell('ext')} | "
      f"{ratio('ort')} | {ratio('tract')} | {ratio('deepsparse')} |")
notes = {f"{r}: {n}" for d in rounds for r, n in d.get("notes", {}).items()}
for n in sorted(notes):
    print(f"note: {name} {n}", file=sys.stderr)
EOF
)")
done

echo
echo "$ROUNDS rounds ($RUNS runs per runtime and round; each round runs every runtime in turn), 1 thread. Times: medians over rounds of each round's median, ms. Ratios: peer / sprig within each round (above 1: sprig is faster), median over rounds (min–max)."
echo
echo "| model | ONNX Runtime | tract | DeepSparse | sprig | ORT / sprig | tract / sprig | DeepSparse / sprig |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
