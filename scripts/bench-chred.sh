#!/usr/bin/env bash
# Channel reduction (issue 5 target): a 50%-channel-pruned MobileNetV2 and ResNet-18-like model in
# sprig, against their dense originals in sprig, the same pruned model converted without channel
# reduction, and ONNX Runtime on the pruned ONNX. One thread, as a markdown table for BENCHMARKS.md.
#
#   scripts/bench-chred.sh [ARCH ...]     (default: mobilenet-v2 resnet18; also mobilenet-v1)
#
# Per arch: `sprig synth --arch A` (dense) and `sprig synth --arch A --channel-sparsity 0.5` (half
# of the output channels of every pruned conv zeroed, see tools/src/synth/channel.rs), both
# converted with `sprig convert` (verified against tract), the pruned one also with
# `--no-reduce-channels`. Each round runs, in turn: sprig on the dense model, sprig on the pruned
# model without and with reduction (`sprig bench --json`), and ONNX Runtime on the pruned and on
# the dense ONNX (../shared/peers/time_peers.py --runtimes ort, one round). Ratios are computed per
# round and the median over rounds is reported (drift of the shared machine cancels within a round).
# Env: ROUNDS (default 5), RUNS (runs per round and engine, default 30), OUT (work dir, default
# target/bench-chred), PEERS (default ../shared/peers), ISA (passed to sprig bench --isa if set),
# SKIP_BUILD=1 (use the existing binary, e.g. while the shared tree does not build), SPRIG (the sprig
# binary, default target/release/sprig; a copy keeps a concurrent rebuild from changing it mid-run),
# CHANNEL_OPTS (more `sprig synth` options for the pruned model, e.g. --channel-coupled: the convs
# summed by residual Adds share their dead channels, as dependency-aware pruners do).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-30}
OUT=${OUT:-target/bench-chred}
PEERS=${PEERS:-../shared/peers}
SPRIG=${SPRIG:-target/release/sprig}
ISAARG=${ISA:+--isa $ISA}
CHANNEL_OPTS=${CHANNEL_OPTS:-}
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(mobilenet-v2 resnet18)

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p sprig-tools
"$PEERS/setup.sh" >&2
mkdir -p "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load: $(uptime | sed 's/.*load/load/')" >&2

rows=()
for a in "${archs[@]}"; do
  d="$OUT/$a-dense" p="$OUT/$a-c50"
  "$SPRIG" synth --arch "$a" -o "$d.onnx" >&2
  # shellcheck disable=SC2086
  "$SPRIG" synth --arch "$a" --channel-sparsity 0.5 $CHANNEL_OPTS -o "$p.onnx" >&2
  "$SPRIG" convert "$d.onnx" -o "$d.sprig" > "$d.convert.txt"
  "$SPRIG" convert "$p.onnx" -o "$p.sprig" --report-json "$p.report.json" > "$p.convert.txt"
  "$SPRIG" convert "$p.onnx" -o "$p-noreduce.sprig" --no-reduce-channels > "$p-noreduce.convert.txt"
  grep 'channel reduction' "$p.convert.txt" >&2 || true
  log="$OUT/$a.rounds.jsonl"; : > "$log"
  for r in $(seq 1 "$ROUNDS"); do
    echo "== $a: round $r of $ROUNDS ($RUNS runs each)" >&2
    for v in dense c50-noreduce c50; do
      f="$OUT/$a-$v.sprig"; [ "$v" = dense ] && f="$d.sprig"
      # shellcheck disable=SC2086
      "$SPRIG" bench "$f" --runs "$RUNS" --json $ISAARG > "$OUT/$a-$v.bench.json"
      python3 -c 'import json,sys; d=json.load(open(sys.argv[3])); print(json.dumps({"round": int(sys.argv[1]), "engine": "sprig-"+sys.argv[2], "ms": d["median_ms"]}))' \
        "$r" "$v" "$OUT/$a-$v.bench.json" >> "$log"
    done
    for v in c50 dense; do
      python3 "$PEERS/time_peers.py" "$OUT/$a-$v.onnx" --threads 1 --rounds 1 --runs "$RUNS" --runtimes ort --json \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"round": int(sys.argv[1]), "engine": "ort-"+sys.argv[2], "ms": d["median_ms"].get("ort")}))' \
          "$r" "$v" >> "$log"
    done
  done
  rows+=("$(python3 - "$a" "$log" <<'EOF'
import json, statistics, sys
arch, log = sys.argv[1], sys.argv[2]
t = {}
for line in open(log):
    d = json.loads(line)
    t.setdefault(d["round"], {})[d["engine"]] = d["ms"]
def ratio(num, den):
    v = [r[num] / r[den] for r in t.values() if r.get(num) and r.get(den)]
    return f"{statistics.median(v):.2f}x" if v else "failed"
def med(e):
    v = [r[e] for r in t.values() if r.get(e)]
    return f"{statistics.median(v):.1f}" if v else "failed"
print(f"| {arch} | {med('sprig-dense')} | {med('sprig-c50-noreduce')} | {med('sprig-c50')} | {med('ort-c50')} | "
      f"{med('ort-dense')} | **{ratio('sprig-dense', 'sprig-c50')}** | {ratio('sprig-c50-noreduce', 'sprig-c50')} | "
      f"**{ratio('ort-c50', 'sprig-c50')}** | {ratio('ort-dense', 'sprig-dense')} |")
EOF
)")
done

echo
echo "Medians over $ROUNDS interleaved rounds ($RUNS runs per engine and round), 1 thread, ms; each ratio is the"
echo "median of the per-round ratios (above 1: the reduced model in sprig is faster)."
echo
echo "| model | sprig dense | sprig pruned, not reduced | sprig pruned, reduced | ORT pruned | ORT dense | dense / reduced | not reduced / reduced | ORT pruned / sprig reduced | ORT dense / sprig dense |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
