//! Bytes → `sprig_tools::convert::convert_bytes` → (if it converts) load and run the result on
//! inputs derived from the bytes. See `src/harness.rs` for the checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sprig_fuzz::harness::convert_run(data);
});
