//! Dense and sparse compute kernels for sprig.
//!
//! This crate knows nothing of models: it computes on plain slices. Each kernel family has a plain
//! scalar reference (built on every target) and SIMD versions (AVX2+FMA, AVX-512 on x86_64, NEON on
//! aarch64), listed in one table per family. Dispatch, tests and benches all iterate that table.
//!
//! The ISA is picked once by the caller (the runtime does it when a session is created) with
//! [`Isa::detect`]; without the `std` feature detection falls back to what the compile-time target
//! features guarantee.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod act;
pub mod dconv;
pub mod dwconv;
pub mod f16;
pub mod gemm;
pub mod geom;
pub mod isa;
pub mod pw64;
pub mod sparse;
pub mod vmath;

pub use act::{Act, Activation};
pub use isa::Isa;
