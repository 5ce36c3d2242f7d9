#!/usr/bin/env bash
# Fetches the ONNX backend test data (from the onnx==1.22.0 wheel on PyPI) into
# target/onnx-tests/{node,pytorch-converted,pytorch-operator}, for tests/tests/onnx_node.rs.
# Skips the download when the data is already there. Needs python3 with pip; nothing else.
# SPRIG_ONNX_TESTS overrides the destination (the test reads the same variable).
set -euo pipefail

ONNX_VERSION=1.22.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${SPRIG_ONNX_TESTS:-$ROOT/target/onnx-tests}"
STAMP="$DEST/.complete-onnx-$ONNX_VERSION"

if [ -f "$STAMP" ]; then
    echo "ONNX backend test data (onnx $ONNX_VERSION) already in $DEST"
    exit 0
fi

mkdir -p "$DEST/wheel"
if ! ls "$DEST"/wheel/onnx-"$ONNX_VERSION"-*.whl >/dev/null 2>&1; then
    echo "downloading onnx==$ONNX_VERSION (wheel only, no dependencies) ..."
    python3 -m pip download --quiet --no-deps --only-binary=:all: "onnx==$ONNX_VERSION" -d "$DEST/wheel"
fi
WHEEL="$(ls "$DEST"/wheel/onnx-"$ONNX_VERSION"-*.whl | head -n 1)"

# Python's zipfile instead of unzip: a fresh machine may not have unzip.
python3 - "$WHEEL" "$DEST" <<'PY'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "onnx/backend/test/data/"
suites = ("node", "pytorch-converted", "pytorch-operator")
for s in suites:
    shutil.rmtree(os.path.join(dest, s), ignore_errors=True)
count = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(prefix) or info.is_dir():
            continue
        rel = name[len(prefix):]
        if rel.split("/", 1)[0] not in suites or ".." in rel.split("/"):
            continue
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        count += 1
if count == 0:
    sys.exit("no backend test data found in " + wheel)
print(f"extracted {count} files into {dest}")
PY

touch "$STAMP"
