#!/usr/bin/env bash
# The test command of the README and of CI: fetches the ONNX backend test data if missing, installs
# cbindgen if missing (the C header test regenerates include/sprig.h), runs the whole workspace's
# tests, then the aarch64 checks under qemu (NEON kernels, runtime test suite) and the embedded
# builds (no_std for thumbv7em, C example size guard).
# Needs only the Rust toolchain, gcc and python3 with pip (the aarch64 parts install their cross
# tools with apt). SPRIG_SKIP_AARCH64=1 skips the aarch64 parts (it says so; it does not pass
# silently). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/fetch-onnx-tests.sh
if ! command -v cbindgen >/dev/null; then cargo install cbindgen --locked; fi

cargo test --workspace "$@"

# Kernel tests written for one ISA are marked ignored where the machine lacks it (kernels/build.rs);
# tests that loop over a whole kernel table print "SKIPPED: <kernel> (CPU lacks <isa>)" for the
# rows this CPU cannot run (visible with --nocapture) and pass on the rest, so say here, in the
# log, which ISAs were not exercised on this machine.
if [ -r /proc/cpuinfo ] && [ "$(uname -m)" = x86_64 ]; then
    for feature in avx2 fma f16c avx512f; do
        if ! grep -qw "$feature" /proc/cpuinfo; then
            echo "SKIPPED: x86 kernel rows that need $feature (this CPU lacks it, so those rows did not run; see kernels/tests)"
        fi
    done
fi

if [ "${SPRIG_SKIP_AARCH64:-0}" = "1" ]; then
    echo "SKIPPED: aarch64 kernel tests (SPRIG_SKIP_AARCH64=1)"
else
    bash scripts/test-aarch64.sh
fi
SPRIG_EMBEDDED_HOST_TESTS=0 bash scripts/test-embedded.sh
