#!/usr/bin/env bash
# The test command of the README and of CI: fetches the ONNX backend test data if missing, runs the
# whole workspace's tests, then the aarch64 (NEON, under qemu) kernel tests.
# Needs only the Rust toolchain, gcc and python3 with pip (the aarch64 script installs its cross
# tools with apt). SPRIG_SKIP_AARCH64=1 skips the aarch64 part (it says so; it does not pass
# silently). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/fetch-onnx-tests.sh

cargo test --workspace "$@"

if [ "${SPRIG_SKIP_AARCH64:-0}" = "1" ]; then
    echo "SKIPPED: aarch64 kernel tests (SPRIG_SKIP_AARCH64=1)"
elif [ -f scripts/test-aarch64.sh ]; then
    bash scripts/test-aarch64.sh
else
    echo "SKIPPED: aarch64 kernel tests (scripts/test-aarch64.sh not present)"
fi
