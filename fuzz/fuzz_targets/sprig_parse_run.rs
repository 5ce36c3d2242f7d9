//! Bytes → `Model::from_bytes` → (if it loads) a session and a run on inputs derived from the
//! bytes. See `src/harness.rs` for the checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sprig_fuzz::harness::parse_run(data);
});
