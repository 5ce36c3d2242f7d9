//! sprig on a bare-metal target: `#![no_std]`, no allocator, the model compiled into flash with
//! `include_bytes!` and the arena a `static`. Builds for `thumbv7em-none-eabihf` (Cortex-M4F/M7)
//! with `--no-default-features`; its tests run the same code on the host (`tests/host.rs`).
//!
//! The model (`model.sprig`, a tiny MobileNetV1-like net: 1x3x32x32 → 10) is checked in; the
//! ignored test `regenerate_model` in `tests/host.rs` rewrites it from `sprig_tools::synth`.
//! The arena size is read from the model's header at compile time, so it cannot drift from the
//! model.
#![no_std]
// sprig's `Error` carries names inline (no allocation), so it is large; it is not on a hot path.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use sprig_runtime::format::Header;
use sprig_runtime::{Error, Model, Session, Tensor, TensorMut};

const MODEL_RAW: &[u8] = include_bytes!("../model.sprig");

/// Bytes with the alignment sprig needs for model bytes and arenas ([`sprig_runtime::ALIGN`]).
#[repr(C, align(64))]
struct Aligned<B>(B);

/// The model in flash (read-only data), 64-byte aligned so it is used in place.
static MODEL: Aligned<[u8; MODEL_RAW.len()]> = Aligned(*include_bytes!("../model.sprig"));

/// A little-endian u64 of the header; 0 if the file is too short (then the loader reports it).
const fn header_u64(off: usize) -> u64 {
    let b = MODEL_RAW;
    if b.len() < off + 8 {
        return 0;
    }
    u64::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3], b[off + 4], b[off + 5], b[off + 6], b[off + 7]])
}

/// Arena bytes the model needs, from its header (the loader checks the header again at run time).
pub const ARENA_SIZE: usize = header_u64(core::mem::offset_of!(Header, arena_size)) as usize;

/// The static arena, lent to one session at a time.
struct Arena {
    taken: AtomicBool,
    buf: UnsafeCell<Aligned<[u8; ARENA_SIZE]>>,
}

// SAFETY: `buf` is only reached through `Arena::lend`, which hands out at most one `&mut` at a
// time (guarded by the `taken` flag with acquire/release ordering).
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena { taken: AtomicBool::new(false), buf: UnsafeCell::new(Aligned([0; ARENA_SIZE])) };

impl Arena {
    /// Runs `f` with exclusive use of the arena; `None` if it is already lent (e.g. re-entered
    /// from an interrupt handler).
    fn lend<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if self.taken.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: the swap above made us the only holder until the flag is cleared below, and the
        // borrow cannot escape `f` (its lifetime is higher-ranked, so `R` cannot hold it).
        let buf = unsafe { &mut (&mut (*self.buf.get()).0)[..] };
        let r = f(buf);
        self.taken.store(false, Ordering::Release);
        Some(r)
    }
}

/// What can go wrong in [`classify`].
#[derive(Debug)]
pub enum AppError {
    /// The arena is in use by another call.
    Busy,
    Sprig(Error),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Sprig(e)
    }
}

/// The embedded model, validated (cheap enough to do per call; keep it if calls are frequent).
pub fn model() -> Result<Model<'static>, Error> {
    Model::from_bytes(&MODEL.0)
}

/// Input shape of the embedded model (`[1, 3, 32, 32]`) and number of classes.
pub const INPUT_SHAPE: [usize; 4] = [1, 3, 32, 32];
pub const CLASSES: usize = 10;

/// Runs the embedded model on `input` (NCHW, `1x3x32x32`) into `logits` (10) and returns the
/// index of the largest logit. No allocation: the session lives on the stack, the arena is static.
pub fn classify(input: &[f32], logits: &mut [f32; CLASSES]) -> Result<usize, AppError> {
    let model = model()?;
    ARENA
        .lend(|arena| -> Result<usize, AppError> {
            let mut session = Session::new(&model, arena)?;
            session.run(&[Tensor::f32(input, &INPUT_SHAPE)], &mut [TensorMut::F32(&mut logits[..])])?;
            let mut best = 0;
            for (i, &v) in logits.iter().enumerate() {
                if v > logits[best] {
                    best = i;
                }
            }
            Ok(best)
        })
        .ok_or(AppError::Busy)?
}
