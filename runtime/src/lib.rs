//! The sprig runtime: loads a `.sprig` model zero-copy, validates it, and runs it inside one
//! caller-provided arena without allocating.
//!
//! ```text
//! bytes / file ──Model::from_bytes / Model::open (parse + validate)──▶ Model
//! Model + &mut [u8] arena ──Session::new──▶ Session ──run(inputs, outputs)──▶ outputs
//! ```
//! The file format is specified in `FORMAT.md` beside this crate and in [`mod@format`].
#![cfg_attr(not(feature = "std"), no_std)]
// Errors carry the names of the tensors and nodes at fault inline (no allocation, no borrow of
// the model), which makes `Error` larger than clippy likes; loading and running are not hot paths
// for the error value.
#![allow(clippy::result_large_err)]

#[cfg(feature = "capi")]
pub mod capi;
pub mod error;
pub mod format;
pub mod model;
pub mod ops;
pub mod par;
pub mod session;
pub mod tensor;

pub use error::{Error, OpError};
pub use model::Model;
pub use ops::Isas;
pub use session::{NodeEvent, Session};
pub use sprig_kernels::{Act, Activation, Isa};
pub use tensor::{DType, Shape, Tensor, TensorData, TensorInfo, TensorMut, TensorView, TensorViewMut};

/// Required alignment of the arena given to [`Session::new`] and of a model's bytes given to
/// [`Model::from_bytes`] (tensor data inside the file is aligned to this too).
pub const ALIGN: usize = 64;

/// A heap buffer aligned to [`ALIGN`] for the arena, for hosts with an allocator.
#[cfg(feature = "std")]
pub struct AlignedBuf {
    words: std::vec::Vec<Align64>,
    len: usize,
}

#[cfg(feature = "std")]
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Align64([u8; 64]);

#[cfg(feature = "std")]
impl AlignedBuf {
    /// A zeroed buffer of `len` bytes whose start is 64-byte aligned.
    pub fn new(len: usize) -> Self {
        AlignedBuf { words: std::vec![Align64([0; 64]); len.div_ceil(64)], len }
    }

    /// A buffer holding a copy of `bytes` (e.g. a model read from a file into memory).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = Self::new(bytes.len());
        b.as_mut_slice().copy_from_slice(bytes);
        b
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `words` is a contiguous allocation of `words.len() * 64 >= len` initialised bytes.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` guarantees exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
}
