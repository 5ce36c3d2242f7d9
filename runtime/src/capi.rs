//! The C API (feature `capi`; the header is `include/sprig.h`, generated from this file by
//! cbindgen, and the libraries are built by the thin `sprig-capi` crate).
//!
//! Contract:
//! - **No allocation, anywhere.** Objects live in storage the caller provides: a `sprig_model` or
//!   `sprig_session` is a fixed-size, 8-byte aligned opaque struct the caller declares (static,
//!   stack or heap) and passes by pointer. Its size is a constant of the header
//!   ([`SPRIG_MODEL_STORAGE_WORDS`], [`SPRIG_SESSION_STORAGE_WORDS`]); this crate asserts at compile
//!   time that its objects fit. `sprig_model_open` (std builds only) memory-maps the file, which the
//!   OS allocates; nothing else does.
//! - **Lifetimes are the caller's.** A model loaded from memory borrows the bytes, which must stay
//!   alive, unmodified and at the same address (64-byte aligned) until `sprig_model_free`. A session
//!   borrows its model's storage and its arena (64-byte aligned, at least
//!   `sprig_model_arena_size` bytes) until `sprig_session_free`; neither may be moved meanwhile. A
//!   model may be shared by sessions on several threads; one session runs on one thread at a time.
//! - **Every function returns a [`sprig_status`]** (or a value with a documented "invalid" answer)
//!   and never panics: every pointer is checked for null and alignment, every index and length
//!   with non-panicking arithmetic. In std builds each call is also wrapped in `catch_unwind`
//!   (`SPRIG_ERR_INTERNAL` if the impossible happens; with `panic = "abort"` it would abort).
//! - **Error details** are kept in the object the failed call was about (no thread-locals, so it
//!   works the same on no_std): `sprig_model_last_error` and `sprig_session_last_error` write the
//!   message into a caller buffer. A failed `sprig_model_load`/`sprig_session_new` still records its
//!   detail in the storage it was given. `sprig_status_message` names a status code.
//! - Storage passed to a `*_load`/`*_new` call may be uninitialised; storage passed to any other
//!   call must have been initialised by one (zeroed storage is recognised as "not loaded").
#![allow(non_camel_case_types)]

use crate::error::Error;
use crate::model::Model;
use crate::ops::Isas;
use crate::session::Session;
use crate::tensor::{DType, Shape, Tensor, TensorData, TensorMut};
use core::ffi::{c_char, c_void};
use core::fmt::{self, Write};
use core::mem::{align_of, size_of};
use core::ptr;
use sprig_kernels::Isa;

/// Maximum rank of a graph input or output (the `.sprig` format's maximum).
pub const SPRIG_MAX_RANK: usize = 8;
/// Maximum number of graph inputs, and of graph outputs, `sprig_session_run` accepts (the I/O
/// descriptors live on the stack: no allocation).
pub const SPRIG_MAX_IO: usize = 16;
/// Size of `sprig_model` in 8-byte words (512 bytes).
pub const SPRIG_MODEL_STORAGE_WORDS: usize = 64;
/// Size of `sprig_session` in 8-byte words (1 KiB).
pub const SPRIG_SESSION_STORAGE_WORDS: usize = 128;
/// Required alignment of model bytes and of the arena.
pub const SPRIG_ALIGN: usize = 64;

/// Status codes. `SPRIG_OK` is 0; every error is positive.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sprig_status {
    SPRIG_OK = 0,
    /// A required pointer argument is NULL.
    SPRIG_ERR_NULL_POINTER = 1,
    /// A pointer is not aligned as required (model bytes and arena: 64; storage: 8; tensor
    /// buffers: their element size).
    SPRIG_ERR_MISALIGNED = 2,
    /// An argument is out of range (index, I/O kind, option value) or buffers overlap.
    SPRIG_ERR_INVALID_ARGUMENT = 3,
    /// The model or session storage was never loaded/created, failed to, or was freed.
    SPRIG_ERR_INVALID_HANDLE = 4,
    /// The bytes are not a valid `.sprig` model (detail names the section, node or tensor).
    SPRIG_ERR_INVALID_MODEL = 5,
    /// The arena is smaller than `sprig_model_arena_size`.
    SPRIG_ERR_ARENA_TOO_SMALL = 6,
    /// A caller buffer (e.g. for a name) is too small; the needed size is reported.
    SPRIG_ERR_BUFFER_TOO_SMALL = 7,
    /// The number of inputs or outputs given to `sprig_session_run` is not the model's.
    SPRIG_ERR_IO_COUNT = 8,
    /// An input or output buffer's byte length is not the tensor's.
    SPRIG_ERR_LENGTH_MISMATCH = 9,
    /// Invalid data: an op rejected it while running (e.g. a Gather index out of range), or a
    /// bool input byte is neither 0 nor 1.
    SPRIG_ERR_RUN_FAILED = 10,
    /// Not supported by this build or this API (e.g. more than `SPRIG_MAX_IO` inputs, f16
    /// activations, `num_threads` > 1).
    SPRIG_ERR_UNSUPPORTED = 11,
    /// The file cannot be opened or mapped (std builds).
    SPRIG_ERR_IO = 12,
    /// A bug in sprig was caught (std builds wrap every call in `catch_unwind`).
    SPRIG_ERR_INTERNAL = 13,
}
use sprig_status::*;

/// Element types (the values of `sprig_io_info::dtype`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sprig_dtype {
    SPRIG_DTYPE_F32 = 1,
    SPRIG_DTYPE_I64 = 2,
    SPRIG_DTYPE_I32 = 3,
    SPRIG_DTYPE_U8 = 4,
    /// One byte per element, 0 or 1.
    SPRIG_DTYPE_BOOL = 5,
    SPRIG_DTYPE_F16 = 6,
}

/// Which side of the graph `sprig_model_io_info` and `sprig_model_io_name` describe.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sprig_io_kind {
    SPRIG_INPUT = 0,
    SPRIG_OUTPUT = 1,
}

/// Kernel choice (the values of `sprig_session_options::isa`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sprig_isa {
    /// The best this CPU has for each kernel family (std builds: detected at run time; no_std:
    /// compile-time features): AVX2 or NEON for the dense kernels, AVX-512 for the sparse ones
    /// where the CPU has it.
    SPRIG_ISA_AUTO = 0,
    SPRIG_ISA_SCALAR = 1,
    SPRIG_ISA_AVX2 = 2,
    SPRIG_ISA_AVX512 = 3,
    SPRIG_ISA_NEON = 4,
}

/// Opaque storage for a model (declare one; 8-byte aligned by its `uint64_t` words).
#[repr(C)]
pub struct sprig_model {
    _opaque: [u64; SPRIG_MODEL_STORAGE_WORDS],
}

/// Opaque storage for a session.
#[repr(C)]
pub struct sprig_session {
    _opaque: [u64; SPRIG_SESSION_STORAGE_WORDS],
}

/// Options of `sprig_session_new`; get the defaults from `sprig_session_options_default`, or pass
/// NULL for them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sprig_session_options {
    /// A `sprig_isa` value. An ISA this CPU lacks falls back to scalar kernels (query with
    /// `sprig_session_isa`).
    pub isa: i32,
    /// Threads each heavy layer is split across: 0 or 1 run on the calling thread; N > 1 starts
    /// N - 1 worker threads with the session (joined by `sprig_session_free`) and needs an arena
    /// of `sprig_model_arena_size_for_threads(model, N)` bytes. Builds without `std` (no
    /// threads) reject N > 1 with `SPRIG_ERR_UNSUPPORTED`.
    pub num_threads: u32,
}

/// Description of a graph input or output.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sprig_io_info {
    /// The name, **not** NUL-terminated (use `name_len`, or `sprig_model_io_name` for a C string);
    /// points into the model's bytes, valid while the model is loaded.
    pub name: *const c_char,
    pub name_len: usize,
    /// A `sprig_dtype` value.
    pub dtype: i32,
    pub rank: u32,
    /// `dims[0..rank]`; the rest are 0.
    pub dims: [usize; SPRIG_MAX_RANK],
    pub num_elements: usize,
    /// Byte length of the buffer `sprig_session_run` expects for it.
    pub num_bytes: usize,
}

// ---------------------------------------------------------------------------------------------
// Internals: what the opaque storage holds.

const MODEL_MAGIC: u64 = u64::from_le_bytes(*b"sprigMDL");
const SESSION_MAGIC: u64 = u64::from_le_bytes(*b"sprigSES");

/// Why the last call on an object failed.
#[derive(Clone, Copy)]
enum Detail {
    None,
    Runtime(Error),
    /// An argument problem found by this API: what, and which input/output (or `usize::MAX`).
    Arg { what: &'static str, index: usize },
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::None => Ok(()),
            Detail::Runtime(e) => write!(f, "{e}"),
            Detail::Arg { what, index: usize::MAX } => f.write_str(what),
            Detail::Arg { what, index } => write!(f, "#{index}: {what}"),
        }
    }
}

/// `repr(C)`: the magic is the first word, read before the rest is known to be initialised.
#[repr(C)]
struct ModelSlot {
    magic: u64,
    detail: Detail,
    model: Option<Model<'static>>,
}

#[repr(C)]
struct SessionSlot {
    magic: u64,
    detail: Detail,
    /// The model's storage, re-checked on every run so a freed model is caught.
    model_slot: *const ModelSlot,
    session: Option<Session<'static, 'static>>,
}

const _: () = assert!(size_of::<ModelSlot>() <= size_of::<sprig_model>(), "raise SPRIG_MODEL_STORAGE_WORDS");
const _: () = assert!(align_of::<ModelSlot>() <= align_of::<sprig_model>());
const _: () = assert!(size_of::<SessionSlot>() <= size_of::<sprig_session>(), "raise SPRIG_SESSION_STORAGE_WORDS");
const _: () = assert!(align_of::<SessionSlot>() <= align_of::<sprig_session>());

#[cfg(feature = "std")]
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(fallback)
}

#[cfg(not(feature = "std"))]
fn guard<T>(_fallback: T, f: impl FnOnce() -> T) -> T {
    f()
}

fn aligned<T>(p: *const T, align: usize) -> bool {
    (p as usize).is_multiple_of(align)
}

/// The first check of a pointer argument: `SPRIG_ERR_NULL_POINTER` if it is NULL,
/// `SPRIG_ERR_MISALIGNED` unless it is `align`-aligned.
fn check_ptr<T>(p: *const T, align: usize) -> Result<(), sprig_status> {
    if p.is_null() {
        return Err(SPRIG_ERR_NULL_POINTER);
    }
    if !aligned(p, align) {
        return Err(SPRIG_ERR_MISALIGNED);
    }
    Ok(())
}

/// The initialised model slot behind `model`, or the status saying why there is none.
///
/// # Safety
/// `model` is NULL or points to a `sprig_model` the caller owns that is initialised or zeroed.
unsafe fn model_slot<'x>(model: *const sprig_model) -> Result<&'x ModelSlot, sprig_status> {
    check_ptr(model, align_of::<sprig_model>())?;
    // SAFETY: non-null, aligned, and by the caller's contract readable for the storage's size; the
    // first word is the magic, which only `sprig_model_load`/`open` set (after writing the slot).
    let magic = unsafe { ptr::addr_of!((*(model as *const ModelSlot)).magic).read() };
    if magic != MODEL_MAGIC {
        return Err(SPRIG_ERR_INVALID_HANDLE);
    }
    // SAFETY: the magic says a ModelSlot was written here (it fits: asserted at compile time).
    Ok(unsafe { &*(model as *const ModelSlot) })
}

fn loaded(slot: &ModelSlot) -> Result<&Model<'static>, sprig_status> {
    slot.model.as_ref().ok_or(SPRIG_ERR_INVALID_HANDLE)
}

/// The model loaded in `model`, or the status saying why there is none.
///
/// # Safety
/// As for [`model_slot`].
unsafe fn loaded_model<'x>(model: *const sprig_model) -> Result<&'x Model<'static>, sprig_status> {
    // SAFETY: forwarded from the caller.
    unsafe { model_slot(model) }.and_then(loaded)
}

fn load_status(e: &Error) -> sprig_status {
    match e {
        Error::Misaligned { .. } => SPRIG_ERR_MISALIGNED,
        Error::Io { .. } => SPRIG_ERR_IO,
        _ => SPRIG_ERR_INVALID_MODEL,
    }
}

fn run_status(e: &Error) -> sprig_status {
    match e {
        Error::Io { .. } => SPRIG_ERR_IO,
        Error::IoCount { .. } => SPRIG_ERR_IO_COUNT,
        Error::ShapeMismatch { .. } | Error::LengthMismatch { .. } => SPRIG_ERR_LENGTH_MISMATCH,
        Error::ArenaTooSmall { .. } => SPRIG_ERR_ARENA_TOO_SMALL,
        Error::Misaligned { .. } => SPRIG_ERR_MISALIGNED,
        Error::Op { .. } => SPRIG_ERR_RUN_FAILED,
        Error::DTypeMismatch { .. } => SPRIG_ERR_INTERNAL,
        _ => SPRIG_ERR_INVALID_MODEL,
    }
}

/// Writes a slot into `storage` (which may be uninitialised).
///
/// # Safety
/// `storage` is non-null, aligned for `S` and writable for `size_of::<S>()` bytes.
unsafe fn put<S>(storage: *mut S, slot: S) {
    // SAFETY: forwarded from the caller.
    unsafe { ptr::write(storage, slot) }
}

/// Writes the outcome of a load into the storage: the model, or no model and the error's detail.
///
/// # Safety
/// As for [`put`].
unsafe fn store_model(slot: *mut ModelSlot, loaded: Result<Model<'static>, Error>) -> sprig_status {
    let (status, detail, model) = match loaded {
        Ok(m) => (SPRIG_OK, Detail::None, Some(m)),
        Err(e) => (load_status(&e), Detail::Runtime(e), None),
    };
    // SAFETY: forwarded from the caller.
    unsafe { put(slot, ModelSlot { magic: MODEL_MAGIC, detail, model }) };
    status
}

/// Loads a model from memory without copying. `bytes` must be 64-byte aligned and stay alive,
/// unchanged and in place until `sprig_model_free`. On failure the storage records the detail
/// (`sprig_model_last_error`) but holds no model.
///
/// # Safety
/// `model` points to writable storage of `sizeof(sprig_model)` bytes (or is NULL); `bytes` is
/// readable for `len` bytes (or is NULL).
#[no_mangle]
pub unsafe extern "C" fn sprig_model_load(model: *mut sprig_model, bytes: *const u8, len: usize) -> sprig_status {
    guard(SPRIG_ERR_INTERNAL, || {
        if let Err(s) = check_ptr(model, align_of::<sprig_model>()) {
            return s;
        }
        let slot = model as *mut ModelSlot;
        let fail = |status, detail| {
            // SAFETY: checked non-null and aligned above; writable by the caller's contract.
            unsafe { put(slot, ModelSlot { magic: MODEL_MAGIC, detail, model: None }) };
            status
        };
        if bytes.is_null() {
            return fail(SPRIG_ERR_NULL_POINTER, Detail::Arg { what: "model bytes are NULL", index: usize::MAX });
        }
        if !aligned(bytes, SPRIG_ALIGN) {
            return fail(SPRIG_ERR_MISALIGNED, Detail::Arg { what: "model bytes are not 64-byte aligned", index: usize::MAX });
        }
        // SAFETY: non-null and readable for `len` bytes, alive and unchanged until
        // `sprig_model_free` (the caller's contract), which is what 'static stands for here: the
        // model never outlives the storage that `sprig_model_free` clears.
        let data: &'static [u8] = unsafe { core::slice::from_raw_parts(bytes, len) };
        // SAFETY: as in `fail`.
        unsafe { store_model(slot, Model::from_bytes(data)) }
    })
}

/// Memory-maps and loads a `.sprig` file (std builds only). The file must not change while the
/// model is loaded.
///
/// # Safety
/// `model` as for `sprig_model_load`; `path` is NULL or a NUL-terminated string.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sprig_model_open(model: *mut sprig_model, path: *const c_char) -> sprig_status {
    guard(SPRIG_ERR_INTERNAL, || {
        if let Err(s) = check_ptr(model, align_of::<sprig_model>()) {
            return s;
        }
        let slot = model as *mut ModelSlot;
        let fail = |status, detail| {
            // SAFETY: checked non-null and aligned above; writable by the caller's contract.
            unsafe { put(slot, ModelSlot { magic: MODEL_MAGIC, detail, model: None }) };
            status
        };
        if path.is_null() {
            return fail(SPRIG_ERR_NULL_POINTER, Detail::Arg { what: "path is NULL", index: usize::MAX });
        }
        // SAFETY: non-null and NUL-terminated by the caller's contract.
        let cpath = unsafe { core::ffi::CStr::from_ptr(path) };
        let Ok(p) = cpath.to_str() else {
            return fail(SPRIG_ERR_INVALID_ARGUMENT, Detail::Arg { what: "path is not UTF-8", index: usize::MAX });
        };
        // SAFETY: as in `fail`.
        unsafe { store_model(slot, Model::open(p)) }
    })
}

/// Releases a model (unmaps a file; for memory models, forgets the bytes). Sessions over it must
/// be freed first (a later run on one reports `SPRIG_ERR_INVALID_HANDLE`). NULL and storage that
/// holds no model are accepted and left as they are.
///
/// # Safety
/// `model` is NULL or storage initialised by `sprig_model_load`/`open`, or zeroed.
#[no_mangle]
pub unsafe extern "C" fn sprig_model_free(model: *mut sprig_model) {
    guard((), || {
        // SAFETY: forwarded from the caller's contract.
        if unsafe { model_slot(model) }.is_err() {
            return;
        }
        let slot = model as *mut ModelSlot;
        // SAFETY: `model_slot` found an initialised ModelSlot there; after dropping it the magic is
        // cleared so no later call treats the storage as a model.
        unsafe {
            ptr::drop_in_place(slot);
            ptr::addr_of_mut!((*slot).magic).write(0);
        }
    })
}

/// Bytes of arena a session over this model needs (0 if `model` holds no model).
///
/// # Safety
/// `model` is NULL or initialised storage (see the module contract).
#[no_mangle]
pub unsafe extern "C" fn sprig_model_arena_size(model: *const sprig_model) -> usize {
    guard(0, || {
        // SAFETY: forwarded from the caller's contract.
        match unsafe { loaded_model(model) } {
            Ok(m) => m.arena_size(),
            Err(_) => 0,
        }
    })
}

/// Bytes of arena a session over this model with `num_threads` threads needs (the model's arena
/// plus one worker scratch per extra thread; equal to `sprig_model_arena_size` for 0 or 1).
/// 0 if `model` holds no model or the size overflows.
///
/// # Safety
/// `model` is NULL or initialised storage (see the module contract).
#[no_mangle]
pub unsafe extern "C" fn sprig_model_arena_size_for_threads(model: *const sprig_model, num_threads: u32) -> usize {
    guard(0, || {
        // SAFETY: forwarded from the caller's contract.
        match unsafe { loaded_model(model) } {
            Ok(m) => m.arena_size_for_threads(num_threads as usize).unwrap_or(0),
            Err(_) => 0,
        }
    })
}

/// Number of graph inputs (0 if `model` holds no model).
///
/// # Safety
/// As for `sprig_model_arena_size`.
#[no_mangle]
pub unsafe extern "C" fn sprig_model_num_inputs(model: *const sprig_model) -> usize {
    guard(0, || {
        // SAFETY: forwarded from the caller's contract.
        unsafe { loaded_model(model) }.map(|m| m.num_inputs()).unwrap_or(0)
    })
}

/// Number of graph outputs (0 if `model` holds no model).
///
/// # Safety
/// As for `sprig_model_arena_size`.
#[no_mangle]
pub unsafe extern "C" fn sprig_model_num_outputs(model: *const sprig_model) -> usize {
    guard(0, || {
        // SAFETY: forwarded from the caller's contract.
        unsafe { loaded_model(model) }.map(|m| m.num_outputs()).unwrap_or(0)
    })
}

/// Input or output `index` (`kind` is a `sprig_io_kind`) of the model loaded in `model`.
///
/// # Safety
/// As for [`model_slot`].
unsafe fn model_io<'x>(model: *const sprig_model, kind: i32, index: usize) -> Result<crate::model::IoInfo<'x>, sprig_status> {
    // SAFETY: forwarded from the caller.
    let m = unsafe { loaded_model(model) }?;
    let io = match kind {
        k if k == sprig_io_kind::SPRIG_INPUT as i32 => m.input(index),
        k if k == sprig_io_kind::SPRIG_OUTPUT as i32 => m.output(index),
        _ => return Err(SPRIG_ERR_INVALID_ARGUMENT),
    };
    io.ok_or(SPRIG_ERR_INVALID_ARGUMENT)
}

/// Describes input or output `index` (`kind` is a `sprig_io_kind`).
///
/// # Safety
/// `model` as for `sprig_model_arena_size`; `out` is NULL or writable for one `sprig_io_info`.
#[no_mangle]
pub unsafe extern "C" fn sprig_model_io_info(model: *const sprig_model, kind: i32, index: usize, out: *mut sprig_io_info) -> sprig_status {
    guard(SPRIG_ERR_INTERNAL, || {
        if let Err(s) = check_ptr(out, align_of::<sprig_io_info>()) {
            return s;
        }
        // SAFETY: forwarded from the caller's contract.
        let io = match unsafe { model_io(model, kind, index) } {
            Ok(io) => io,
            Err(s) => return s,
        };
        let mut dims = [0usize; SPRIG_MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(io.shape.dims()) {
            *d = s;
        }
        let numel = io.shape.checked_numel().unwrap_or(usize::MAX);
        let info = sprig_io_info {
            name: io.name.as_ptr() as *const c_char,
            name_len: io.name.len(),
            dtype: io.dtype as u8 as i32,
            rank: io.shape.rank() as u32,
            dims,
            num_elements: numel,
            num_bytes: numel.saturating_mul(io.dtype.size()),
        };
        // SAFETY: `out` is non-null, aligned and writable by the caller's contract.
        unsafe { ptr::write(out, info) };
        SPRIG_OK
    })
}

/// Copies the name of input or output `index` into `buf` as a NUL-terminated string. `*out_len`
/// (if not NULL) receives the name's length without the NUL; when `cap` is too small nothing
/// is copied and `SPRIG_ERR_BUFFER_TOO_SMALL` is returned.
///
/// # Safety
/// `model` as for `sprig_model_arena_size`; `buf` writable for `cap` bytes; `out_len` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn sprig_model_io_name(
    model: *const sprig_model,
    kind: i32,
    index: usize,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> sprig_status {
    guard(SPRIG_ERR_INTERNAL, || {
        // SAFETY: forwarded from the caller's contract.
        let io = match unsafe { model_io(model, kind, index) } {
            Ok(io) => io,
            Err(s) => return s,
        };
        let name = io.name.as_bytes();
        if !out_len.is_null() {
            if !aligned(out_len, align_of::<usize>()) {
                return SPRIG_ERR_MISALIGNED;
            }
            // SAFETY: non-null, aligned, writable by the caller's contract.
            unsafe { ptr::write(out_len, name.len()) };
        }
        if buf.is_null() {
            return SPRIG_ERR_NULL_POINTER;
        }
        if cap <= name.len() {
            return SPRIG_ERR_BUFFER_TOO_SMALL;
        }
        // SAFETY: `buf` is writable for `cap > name.len()` bytes; the name lives in the model's
        // bytes, which cannot overlap a buffer the caller may write.
        unsafe {
            ptr::copy_nonoverlapping(name.as_ptr(), buf as *mut u8, name.len());
            ptr::write(buf.add(name.len()), 0);
        }
        SPRIG_OK
    })
}

/// A formatter into a caller buffer: copies what fits, counts everything.
struct CBuf<'b> {
    buf: &'b mut [u8],
    written: usize,
    total: usize,
}

impl Write for CBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(self.written);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.written..self.written + n), s.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
        }
        self.written += n;
        self.total = self.total.saturating_add(s.len());
        Ok(())
    }
}

/// Formats `d` into `buf` (NUL-terminated, truncated to `cap - 1` bytes) and returns the full
/// length without the NUL, as `snprintf` does.
///
/// # Safety
/// `buf` is NULL or writable for `cap` bytes.
unsafe fn write_detail(d: &Detail, buf: *mut c_char, cap: usize) -> usize {
    let out: &mut [u8] = if buf.is_null() || cap == 0 {
        &mut []
    } else {
        // SAFETY: non-null and writable for `cap` bytes by the caller's contract.
        unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, cap) }
    };
    let room = out.len().saturating_sub(1);
    let mut w = CBuf { buf: out.get_mut(..room).unwrap_or(&mut []), written: 0, total: 0 };
    let _ = write!(w, "{d}");
    let (written, total) = (w.written, w.total);
    if let Some(nul) = out.get_mut(written) {
        *nul = 0;
    }
    total
}

/// Writes the detail of the last failed call on `model` (loading) into `buf` as a NUL-terminated
/// string, truncated to fit `cap`, and returns its full length (0: no error recorded, or `model`
/// is not loaded storage). `buf` may be NULL to query the length.
///
/// # Safety
/// `model` as for `sprig_model_arena_size`; `buf` NULL or writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn sprig_model_last_error(model: *const sprig_model, buf: *mut c_char, cap: usize) -> usize {
    guard(0, || {
        // SAFETY: forwarded from the caller's contract.
        let detail = match unsafe { model_slot(model) } {
            Ok(s) => s.detail,
            Err(_) => Detail::None,
        };
        // SAFETY: forwarded from the caller's contract.
        unsafe { write_detail(&detail, buf, cap) }
    })
}

/// The default options: `SPRIG_ISA_AUTO`, one thread.
#[no_mangle]
pub extern "C" fn sprig_session_options_default() -> sprig_session_options {
    sprig_session_options { isa: sprig_isa::SPRIG_ISA_AUTO as i32, num_threads: 1 }
}

/// Creates a session over `model` in the caller's `arena` (64-byte aligned, at least
/// `sprig_model_arena_size(model)` bytes). `options` may be NULL for the defaults. The model
/// storage and the arena must stay alive and in place until `sprig_session_free`. On failure the
/// storage records the detail (`sprig_session_last_error`) but holds no session.
///
/// # Safety
/// `model` as for `sprig_model_arena_size`; `options` NULL or readable; `arena` NULL or
/// writable for `arena_len` bytes and used by nothing else while the session lives; `session`
/// NULL or writable for `sizeof(sprig_session)` bytes.
#[no_mangle]
pub unsafe extern "C" fn sprig_session_new(
    model: *const sprig_model,
    options: *const sprig_session_options,
    arena: *mut c_void,
    arena_len: usize,
    session: *mut sprig_session,
) -> sprig_status {
    guard(SPRIG_ERR_INTERNAL, || {
        if let Err(s) = check_ptr(session, align_of::<sprig_session>()) {
            return s;
        }
        let slot = session as *mut SessionSlot;
        let fail = |status, detail| {
            // SAFETY: checked non-null and aligned above; writable by the caller's contract.
            unsafe { put(slot, SessionSlot { magic: SESSION_MAGIC, detail, model_slot: ptr::null(), session: None }) };
            status
        };
        let arg = |what| Detail::Arg { what, index: usize::MAX };
        // SAFETY: forwarded from the caller's contract.
        let mslot = match unsafe { model_slot(model) } {
            Ok(s) => s,
            Err(s) => return fail(s, arg("model is NULL, misaligned or not loaded")),
        };
        let m = match loaded(mslot) {
            Ok(m) => m,
            Err(s) => return fail(s, arg("model storage holds no model (its load failed)")),
        };
        let opts = if options.is_null() {
            sprig_session_options_default()
        } else if !aligned(options, align_of::<sprig_session_options>()) {
            return fail(SPRIG_ERR_MISALIGNED, arg("options are misaligned"));
        } else {
            // SAFETY: non-null, aligned and readable by the caller's contract.
            unsafe { ptr::read(options) }
        };
        #[cfg(not(feature = "std"))]
        if opts.num_threads > 1 {
            return fail(SPRIG_ERR_UNSUPPORTED, arg("num_threads > 1: this build (no std) runs on the calling thread only"));
        }
        let isa = match opts.isa {
            0 => None,
            1 => Some(Isa::Scalar),
            2 => Some(Isa::Avx2),
            3 => Some(Isa::Avx512),
            4 => Some(Isa::Neon),
            _ => return fail(SPRIG_ERR_INVALID_ARGUMENT, arg("options.isa is not a sprig_isa value")),
        };
        if arena.is_null() {
            return fail(SPRIG_ERR_NULL_POINTER, arg("arena is NULL"));
        }
        if !aligned(arena, SPRIG_ALIGN) {
            return fail(SPRIG_ERR_MISALIGNED, arg("arena is not 64-byte aligned"));
        }
        // SAFETY: non-null and writable for `arena_len` bytes, used by nothing else and alive until
        // `sprig_session_free` (the caller's contract; 'static stands for that). The model
        // reference points into the model's storage, which the caller keeps in place as long.
        let (arena, m): (&'static mut [u8], &'static Model<'static>) =
            unsafe { (core::slice::from_raw_parts_mut(arena as *mut u8, arena_len), &*(m as *const Model<'static>)) };
        // SPRIG_ISA_AUTO: each kernel family on the best ISA of this CPU (what `Session::new` does).
        let isas = isa.map_or_else(Isas::detect, Isas::all);
        #[cfg(feature = "std")]
        let made = Session::with_threads(m, arena, isas, opts.num_threads as usize);
        #[cfg(not(feature = "std"))]
        let made = Session::with_isa(m, arena, isas);
        match made {
            // SAFETY: as in `fail`.
            Ok(s) => unsafe {
                put(slot, SessionSlot { magic: SESSION_MAGIC, detail: Detail::None, model_slot: mslot, session: Some(s) });
                SPRIG_OK
            },
            Err(e) => fail(run_status(&e), Detail::Runtime(e)),
        }
    })
}

/// # Safety
/// `session` is NULL or storage initialised by `sprig_session_new`, or zeroed.
unsafe fn session_slot<'x>(session: *const sprig_session) -> Result<&'x mut SessionSlot, sprig_status> {
    check_ptr(session, align_of::<sprig_session>())?;
    // SAFETY: non-null, aligned, readable (the caller's contract); the magic is the first word.
    let magic = unsafe { ptr::addr_of!((*(session as *const SessionSlot)).magic).read() };
    if magic != SESSION_MAGIC {
        return Err(SPRIG_ERR_INVALID_HANDLE);
    }
    // SAFETY: the magic says a SessionSlot was written here; the caller owns the storage and a
    // session is used by one thread at a time (the contract), so this &mut is unique.
    Ok(unsafe { &mut *(session as *mut SessionSlot) })
}

/// The name of the instruction set of the session's dense kernels ("scalar", "avx2", "avx512",
/// "neon"), a static NUL-terminated string; NULL if `session` holds no session. With
/// `SPRIG_ISA_AUTO` the sparse kernels may run on a wider one (AVX-512 where the CPU has it).
///
/// # Safety
/// `session` as for `session_slot`.
#[no_mangle]
pub unsafe extern "C" fn sprig_session_isa(session: *const sprig_session) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: forwarded from the caller's contract.
        match unsafe { session_slot(session) }.ok().and_then(|s| s.session.as_ref()) {
            Some(s) => match s.isa() {
                Isa::Scalar => c"scalar".as_ptr(),
                Isa::Avx2 => c"avx2".as_ptr(),
                Isa::Avx512 => c"avx512".as_ptr(),
                Isa::Neon => c"neon".as_ptr(),
            },
            None => ptr::null(),
        }
    })
}

/// Byte range of a caller buffer, for the overlap check.
fn range_of(p: *const c_void, len: usize) -> (usize, usize) {
    let start = p as usize;
    (start, start.saturating_add(len))
}

/// Runs the model. `inputs[i]` points to `input_bytes[i]` bytes holding input `i` (the model's
/// order, dtype and shape, row-major, aligned to the element size); outputs likewise. Output
/// buffers must not overlap each other or any input. Allocates nothing.
///
/// # Safety
/// `session` as for `session_slot`; `inputs`/`input_bytes` readable arrays of `num_inputs`
/// entries (may be NULL when it is 0), each input readable for its length; `outputs`/`output_bytes`
/// likewise with writable buffers.
#[no_mangle]
pub unsafe extern "C" fn sprig_session_run(
    session: *mut sprig_session,
    inputs: *const *const c_void,
    input_bytes: *const usize,
    num_inputs: usize,
    outputs: *const *mut c_void,
    output_bytes: *const usize,
    num_outputs: usize,
) -> sprig_status {
    guard(SPRIG_ERR_INTERNAL, || {
        // SAFETY: forwarded from the caller's contract.
        let slot = match unsafe { session_slot(session) } {
            Ok(s) => s,
            Err(s) => return s,
        };
        // SAFETY: `model_slot` was set from a live ModelSlot; if the caller freed the model its
        // magic was cleared (reading it is fine: the storage must stay allocated by contract).
        if slot.model_slot.is_null() || unsafe { ptr::addr_of!((*slot.model_slot).magic).read() } != MODEL_MAGIC {
            slot.detail = Detail::Arg { what: "the session's model was freed (or the session failed to create)", index: usize::MAX };
            return SPRIG_ERR_INVALID_HANDLE;
        }
        let (status, detail) = run_inner(slot, inputs, input_bytes, num_inputs, outputs, output_bytes, num_outputs);
        slot.detail = detail;
        status
    })
}

/// # Safety
/// The arrays as documented on `sprig_session_run`.
unsafe fn ptr_array<'x, T>(p: *const T, n: usize, what: &'static str) -> Result<&'x [T], (sprig_status, Detail)> {
    if n == 0 {
        return Ok(&[]);
    }
    check_ptr(p, align_of::<T>()).map_err(|s| (s, Detail::Arg { what, index: usize::MAX }))?;
    // SAFETY: non-null, aligned and readable for `n` entries by the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

#[allow(clippy::too_many_arguments)]
fn run_inner(
    slot: &mut SessionSlot,
    inputs: *const *const c_void,
    input_bytes: *const usize,
    num_inputs: usize,
    outputs: *const *mut c_void,
    output_bytes: *const usize,
    num_outputs: usize,
) -> (sprig_status, Detail) {
    let arg = |status, what, index| (status, Detail::Arg { what, index });
    let Some(sess) = slot.session.as_mut() else {
        return arg(SPRIG_ERR_INVALID_HANDLE, "session storage holds no session (its creation failed)", usize::MAX);
    };
    let m = sess.model();
    let (n_in, n_out) = (m.num_inputs(), m.num_outputs());
    if n_in > SPRIG_MAX_IO || n_out > SPRIG_MAX_IO {
        return arg(SPRIG_ERR_UNSUPPORTED, "the model has more than SPRIG_MAX_IO inputs or outputs", usize::MAX);
    }
    if num_inputs != n_in {
        return (SPRIG_ERR_IO_COUNT, Detail::Runtime(Error::IoCount { what: "inputs", expected: n_in, found: num_inputs }));
    }
    if num_outputs != n_out {
        return (SPRIG_ERR_IO_COUNT, Detail::Runtime(Error::IoCount { what: "outputs", expected: n_out, found: num_outputs }));
    }
    // SAFETY (all four): the array contract of `sprig_session_run`.
    let arrays = unsafe {
        (
            ptr_array(inputs, num_inputs, "inputs array"),
            ptr_array(input_bytes, num_inputs, "input_bytes array"),
            ptr_array(outputs, num_outputs, "outputs array"),
            ptr_array(output_bytes, num_outputs, "output_bytes array"),
        )
    };
    let (ins, in_lens, outs, out_lens) = match arrays {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };

    // Check every buffer: non-null (unless empty), aligned to its element size, a whole number of
    // elements, and no output overlapping any other buffer (they become `&mut` slices).
    let mut shapes = [Shape::SCALAR; SPRIG_MAX_IO];
    let mut in_dtypes = [DType::F32; SPRIG_MAX_IO];
    let mut out_dtypes = [DType::F32; SPRIG_MAX_IO];
    for (k, (&p, &len)) in ins.iter().zip(in_lens).enumerate() {
        let Some(io) = m.input(k) else { return arg(SPRIG_ERR_INTERNAL, "input out of range", k) };
        if let Err(e) = check_buffer(p, len, io.dtype, "input") {
            return (e.0, Detail::Arg { what: e.1, index: k });
        }
        if let (Some(s), Some(d)) = (shapes.get_mut(k), in_dtypes.get_mut(k)) {
            (*s, *d) = (io.shape, io.dtype);
        }
    }
    for (k, (&p, &len)) in outs.iter().zip(out_lens).enumerate() {
        let Some(io) = m.output(k) else { return arg(SPRIG_ERR_INTERNAL, "output out of range", k) };
        if let Err(e) = check_buffer(p, len, io.dtype, "output") {
            return (e.0, Detail::Arg { what: e.1, index: k });
        }
        if let Some(d) = out_dtypes.get_mut(k) {
            *d = io.dtype;
        }
        let r = range_of(p, len);
        let overlaps = |q: (usize, usize)| r.0 < r.1 && q.0 < q.1 && r.0 < q.1 && q.0 < r.1;
        let clash = ins.iter().zip(in_lens).any(|(&q, &l)| overlaps(range_of(q, l)))
            || outs.iter().zip(out_lens).enumerate().any(|(j, (&q, &l))| j != k && overlaps(range_of(q, l)));
        if clash {
            return arg(SPRIG_ERR_INVALID_ARGUMENT, "output buffer overlaps another input or output buffer", k);
        }
    }

    let mut tin: [Tensor; SPRIG_MAX_IO] = [Tensor::f32(&[], &[]); SPRIG_MAX_IO];
    for (k, t) in tin.iter_mut().enumerate().take(num_inputs) {
        let (Some(&p), Some(&len), Some(&dt), Some(shape)) = (ins.get(k), in_lens.get(k), in_dtypes.get(k), shapes.get(k)) else {
            return arg(SPRIG_ERR_INTERNAL, "input out of range", k);
        };
        // SAFETY: `check_buffer` passed: `p` is non-null (or len 0, then a dangling aligned pointer
        // is used), aligned for the dtype, readable for `len` bytes (the caller's contract), and no
        // output overlaps it, so no `&mut` below aliases it.
        let data = unsafe { input_data(p, len, dt) };
        let Some(data) = data else { return arg(SPRIG_ERR_RUN_FAILED, "bool input holds a byte other than 0 or 1", k) };
        *t = Tensor { shape: shape.dims(), data };
    }
    let mut tout: [TensorMut; SPRIG_MAX_IO] = core::array::from_fn(|_| TensorMut::U8(&mut []));
    for (k, t) in tout.iter_mut().enumerate().take(num_outputs) {
        let (Some(&p), Some(&len), Some(&dt)) = (outs.get(k), out_lens.get(k), out_dtypes.get(k)) else {
            return arg(SPRIG_ERR_INTERNAL, "output out of range", k);
        };
        // SAFETY: `check_buffer` passed as for inputs, the buffer is writable (the caller's
        // contract) and overlaps no other buffer, so this `&mut` is unique.
        *t = unsafe { output_data(p, len, dt) };
    }
    let (Some(tin_s), Some(tout_s)) = (tin.get(..num_inputs), tout.get_mut(..num_outputs)) else {
        return arg(SPRIG_ERR_INTERNAL, "I/O count out of range", usize::MAX);
    };
    match sess.run(tin_s, tout_s) {
        Ok(()) => (SPRIG_OK, Detail::None),
        Err(e) => (run_status(&e), Detail::Runtime(e)),
    }
}

fn check_buffer(p: *const c_void, len: usize, dt: DType, _side: &str) -> Result<(), (sprig_status, &'static str)> {
    if dt == DType::F16 {
        return Err((SPRIG_ERR_UNSUPPORTED, "f16 graph inputs/outputs are not supported"));
    }
    if p.is_null() && len > 0 {
        return Err((SPRIG_ERR_NULL_POINTER, "buffer is NULL"));
    }
    if !aligned(p, dt.size()) {
        return Err((SPRIG_ERR_MISALIGNED, "buffer is not aligned to its element size"));
    }
    if !len.is_multiple_of(dt.size()) {
        return Err((SPRIG_ERR_LENGTH_MISMATCH, "byte length is not a whole number of elements"));
    }
    Ok(())
}

/// A typed view of an input buffer; `None` for a bool buffer holding a byte other than 0 or 1.
///
/// # Safety
/// `p` passed `check_buffer` for `len` and `dt`, is readable for `len` bytes, and nothing writes
/// it during `'x`.
unsafe fn input_data<'x>(p: *const c_void, len: usize, dt: DType) -> Option<TensorData<'x>> {
    /// # Safety
    /// As for `input_data`, with `T` the dtype's element type.
    unsafe fn sl<'y, T>(p: *const c_void, len: usize) -> &'y [T] {
        let n = len / size_of::<T>();
        let p = if n == 0 { ptr::NonNull::<T>::dangling().as_ptr() as *const T } else { p as *const T };
        // SAFETY: forwarded; a dangling aligned pointer is valid for 0 elements.
        unsafe { core::slice::from_raw_parts(p, n) }
    }
    // SAFETY (each arm): forwarded from the caller; every bit pattern is a valid f32/i64/i32/u8.
    Some(match dt {
        DType::F32 => TensorData::F32(unsafe { sl(p, len) }),
        DType::I64 => TensorData::I64(unsafe { sl(p, len) }),
        DType::I32 => TensorData::I32(unsafe { sl(p, len) }),
        DType::U8 => TensorData::U8(unsafe { sl(p, len) }),
        DType::Bool => {
            // SAFETY: as above, read as bytes first.
            let bytes: &[u8] = unsafe { sl(p, len) };
            if bytes.iter().any(|&b| b > 1) {
                return None;
            }
            // SAFETY: every byte is 0 or 1, the valid bit patterns of `bool` (size and align 1).
            TensorData::Bool(unsafe { core::slice::from_raw_parts(bytes.as_ptr() as *const bool, bytes.len()) })
        }
        DType::F16 => return None,
    })
}

/// A typed writable view of an output buffer.
///
/// # Safety
/// `p` passed `check_buffer` for `len` and `dt`, is writable for `len` bytes, and nothing else
/// accesses it during `'x`.
unsafe fn output_data<'x>(p: *mut c_void, len: usize, dt: DType) -> TensorMut<'x> {
    /// # Safety
    /// As for `output_data`, with `T` the dtype's element type.
    unsafe fn sl<'y, T>(p: *mut c_void, len: usize) -> &'y mut [T] {
        let n = len / size_of::<T>();
        let p = if n == 0 { ptr::NonNull::<T>::dangling().as_ptr() } else { p as *mut T };
        // SAFETY: forwarded; a dangling aligned pointer is valid for 0 elements.
        unsafe { core::slice::from_raw_parts_mut(p, n) }
    }
    // SAFETY (each arm): forwarded from the caller; any bit pattern is a valid element, and the
    // runtime writes only valid ones (0/1 for bool).
    match dt {
        DType::F32 => TensorMut::F32(unsafe { sl(p, len) }),
        DType::I64 => TensorMut::I64(unsafe { sl(p, len) }),
        DType::I32 => TensorMut::I32(unsafe { sl(p, len) }),
        DType::U8 | DType::F16 => TensorMut::U8(unsafe { sl(p, len) }),
        DType::Bool => TensorMut::Bool(unsafe { sl(p, len) }),
    }
}

/// Writes the detail of the last failed call on `session` (creation or run) into `buf`, as
/// `sprig_model_last_error` does.
///
/// # Safety
/// `session` as for `session_slot`; `buf` NULL or writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn sprig_session_last_error(session: *const sprig_session, buf: *mut c_char, cap: usize) -> usize {
    guard(0, || {
        // SAFETY: forwarded from the caller's contract.
        let detail = match unsafe { session_slot(session) } {
            Ok(s) => s.detail,
            Err(_) => Detail::None,
        };
        // SAFETY: forwarded from the caller's contract.
        unsafe { write_detail(&detail, buf, cap) }
    })
}

/// Ends a session (the arena is the caller's again). NULL and storage holding no session are
/// accepted.
///
/// # Safety
/// `session` as for `session_slot`.
#[no_mangle]
pub unsafe extern "C" fn sprig_session_free(session: *mut sprig_session) {
    guard((), || {
        // SAFETY: forwarded from the caller's contract.
        if unsafe { session_slot(session) }.is_err() {
            return;
        }
        // SAFETY: an initialised SessionSlot is there (magic checked); the magic is cleared after.
        unsafe {
            let slot = session as *mut SessionSlot;
            ptr::drop_in_place(slot);
            ptr::addr_of_mut!((*slot).magic).write(0);
        }
    })
}

/// A static NUL-terminated description of a status code ("unknown status" for other values).
#[no_mangle]
pub extern "C" fn sprig_status_message(status: i32) -> *const c_char {
    let s: &core::ffi::CStr = match status {
        0 => c"ok",
        1 => c"a required pointer is NULL",
        2 => c"a pointer is misaligned (model bytes and arena: 64 bytes; storage: 8; buffers: element size)",
        3 => c"invalid argument",
        4 => c"the model or session storage holds no loaded model or session",
        5 => c"invalid .sprig model",
        6 => c"the arena is smaller than the model needs",
        7 => c"the caller's buffer is too small",
        8 => c"wrong number of inputs or outputs",
        9 => c"an input or output buffer has the wrong byte length",
        10 => c"running the model failed on its data",
        11 => c"not supported",
        12 => c"I/O error",
        13 => c"internal error in sprig",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The sprig version, a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn sprig_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}
