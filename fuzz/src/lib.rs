//! Fuzz targets for sprig; the logic is in [`harness`], which `tests/tests/hostile_regressions.rs`
//! includes by path so every kept crasher replays through exactly the same code.
#[path = "harness.rs"]
pub mod harness;
