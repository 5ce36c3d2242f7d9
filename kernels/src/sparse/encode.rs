//! The block-sparse weight encoding: one encoder ([`analyze`] → sizes, [`pack`] → bytes) and one
//! validating zero-copy reader ([`SparseMatrix::parse`]). The byte contract is in the module doc
//! of [`crate::sparse`].
use core::fmt;

/// Blob magic, the first four bytes.
pub const MAGIC: [u8; 4] = *b"SPSM";
/// Major version: a reader rejects any other major.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version: a reader accepts minors up to its own (none exist yet beyond 0).
pub const VERSION_MINOR: u16 = 0;
/// Size of [`SparseHeader`] in bytes.
pub const HEADER_SIZE: usize = 64;
/// Alignment (bytes, relative to the blob start) of every section after the header.
pub const SECTION_ALIGN: usize = 64;
/// Largest `m` or `k` accepted (indices must fit an `i32` for hardware gathers).
pub const MAX_DIM: usize = i32::MAX as usize;
/// Largest `k` stored with `u16` indices (column indices are then `0..=65535`).
pub const U16_INDEX_MAX_K: usize = 65536;

/// Value type of the stored weights (a `u8` in the header). Readers reject codes they do not
/// know (`UnsupportedDType`), so int8 blobs can be added later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueType {
    F32 = 1,
    /// IEEE binary16 bits (`u16`), rounded from f32 with [`crate::f16::f32_to_f16`].
    F16 = 2,
}

impl ValueType {
    /// Bytes per stored value.
    pub fn bytes(self) -> usize {
        match self {
            ValueType::F32 => 4,
            ValueType::F16 => 2,
        }
    }

    pub fn from_u8(v: u8) -> Option<ValueType> {
        match v {
            1 => Some(ValueType::F32),
            2 => Some(ValueType::F16),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::F32 => "f32",
            ValueType::F16 => "f16",
        }
    }
}

/// Block shape of the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `r` consecutive output rows share one input column (r ∈ {1, 2, 4, 8}); `RowBlock(1)` is
    /// unstructured sparsity.
    RowBlock(u8),
    /// `c` consecutive input columns of one row (c ∈ {4, 8}), blocks aligned to multiples of `c`.
    RedBlock(u8),
}

impl Layout {
    /// Every supported layout.
    pub const ALL: [Layout; 6] = [
        Layout::RowBlock(1),
        Layout::RowBlock(2),
        Layout::RowBlock(4),
        Layout::RowBlock(8),
        Layout::RedBlock(4),
        Layout::RedBlock(8),
    ];

    /// Block rows R and block columns C.
    pub fn block(self) -> (usize, usize) {
        match self {
            Layout::RowBlock(r) => (r as usize, 1),
            Layout::RedBlock(c) => (1, c as usize),
        }
    }

    pub fn is_valid(self) -> bool {
        matches!(self, Layout::RowBlock(1 | 2 | 4 | 8) | Layout::RedBlock(4 | 8))
    }

    fn kind(self) -> u8 {
        match self {
            Layout::RowBlock(_) => LAYOUT_ROW_BLOCK,
            Layout::RedBlock(_) => LAYOUT_RED_BLOCK,
        }
    }

    /// Number of block rows (entries of the pointer array minus one) for `m` rows.
    fn block_rows(self, m: usize) -> usize {
        let (r, _) = self.block();
        m.div_ceil(r)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, c) = self.block();
        write!(f, "{r}x{c}")
    }
}

const LAYOUT_ROW_BLOCK: u8 = 1;
const LAYOUT_RED_BLOCK: u8 = 2;
const FLAG_BIAS: u8 = 1;

/// The blob header: 64 bytes, every field little-endian, read and written field by field (so the
/// blob is portable and the reader never depends on the host's endianness or on the alignment of
/// the header itself).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SparseHeader {
    pub magic: [u8; 4],
    pub major: u16,
    pub minor: u16,
    /// [`HEADER_SIZE`].
    pub header_size: u32,
    /// Total blob size in bytes (sections included, trailing padding to 64 included).
    pub total_size: u32,
    pub m: u32,
    pub k: u32,
    /// 1 = row blocks R×1, 2 = reduction blocks 1×C.
    pub layout: u8,
    pub block_r: u8,
    pub block_c: u8,
    /// Bytes per column index: 2 (u16) or 4 (u32).
    pub index_bytes: u8,
    /// [`ValueType`] as u8.
    pub dtype: u8,
    /// Bit 0: a bias section of `m` values is present.
    pub flags: u8,
    pub _pad: u16,
    /// Number of stored blocks.
    pub nnz_blocks: u32,
    /// Number of block rows: ceil(m / R) for row blocks, m for reduction blocks.
    pub block_rows: u32,
    /// Section offsets in bytes from the blob start (each a multiple of [`SECTION_ALIGN`]).
    pub ptr_off: u32,
    pub idx_off: u32,
    pub val_off: u32,
    /// 0 when there is no bias.
    pub bias_off: u32,
    pub reserved: [u32; 2],
}

const _: () = assert!(core::mem::size_of::<SparseHeader>() == HEADER_SIZE);

impl SparseHeader {
    fn write(&self, out: &mut [u8]) {
        let mut w = Cursor { buf: out, pos: 0 };
        w.put(&self.magic);
        w.put(&self.major.to_le_bytes());
        w.put(&self.minor.to_le_bytes());
        for v in [self.header_size, self.total_size, self.m, self.k] {
            w.put(&v.to_le_bytes());
        }
        w.put(&[self.layout, self.block_r, self.block_c, self.index_bytes, self.dtype, self.flags]);
        w.put(&self._pad.to_le_bytes());
        for v in [self.nnz_blocks, self.block_rows, self.ptr_off, self.idx_off, self.val_off, self.bias_off] {
            w.put(&v.to_le_bytes());
        }
        for v in self.reserved {
            w.put(&v.to_le_bytes());
        }
    }

    /// `bytes` must hold at least [`HEADER_SIZE`] bytes.
    fn read(bytes: &[u8]) -> SparseHeader {
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        SparseHeader {
            magic: [bytes[0], bytes[1], bytes[2], bytes[3]],
            major: u16_at(4),
            minor: u16_at(6),
            header_size: u32_at(8),
            total_size: u32_at(12),
            m: u32_at(16),
            k: u32_at(20),
            layout: bytes[24],
            block_r: bytes[25],
            block_c: bytes[26],
            index_bytes: bytes[27],
            dtype: bytes[28],
            flags: bytes[29],
            _pad: u16_at(30),
            nnz_blocks: u32_at(32),
            block_rows: u32_at(36),
            ptr_off: u32_at(40),
            idx_off: u32_at(44),
            val_off: u32_at(48),
            bias_off: u32_at(52),
            reserved: [u32_at(56), u32_at(60)],
        }
    }
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
}

/// Why an encode or a parse failed. Parse errors describe the blob; the caller (runtime or
/// converter) adds the name of the tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Layout not in [`Layout::ALL`].
    BadLayout { kind: u8, r: u8, c: u8 },
    /// A slice length disagrees with the shape.
    ShapeMismatch { what: &'static str, expected: usize, found: usize },
    /// A dimension or a size does not fit the format's u32 fields / [`MAX_DIM`].
    TooLarge { what: &'static str },
    /// `out` is smaller than the blob.
    OutputTooSmall { need: usize, have: usize },
    /// The blob is shorter than its header says.
    Truncated { need: usize, have: usize },
    BadMagic,
    UnsupportedVersion { major: u16, minor: u16 },
    BadHeaderSize(u32),
    UnsupportedDType(u8),
    BadIndexWidth(u8),
    /// A header count or offset differs from what the shape and counts imply.
    BadHeader { field: &'static str, expected: u64, found: u64 },
    /// The blob (and so its f32/u32 sections) is not 4-byte aligned in memory.
    Misaligned,
    /// Row pointers not starting at 0, not monotone, or not ending at `nnz_blocks`.
    BadPointer { block_row: usize },
    /// A column index out of range, not a multiple of C, or not strictly increasing in its row.
    BadIndex { block: usize, index: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::BadLayout { kind, r, c } => write!(f, "unsupported sparse layout kind {kind} block {r}x{c}"),
            EncodeError::ShapeMismatch { what, expected, found } => {
                write!(f, "{what}: expected {expected} elements, found {found}")
            }
            EncodeError::TooLarge { what } => write!(f, "{what} too large for the sparse format"),
            EncodeError::OutputTooSmall { need, have } => write!(f, "output buffer of {have} bytes, need {need}"),
            EncodeError::Truncated { need, have } => write!(f, "sparse blob truncated: {have} bytes, need {need}"),
            EncodeError::BadMagic => write!(f, "not a sparse blob (bad magic)"),
            EncodeError::UnsupportedVersion { major, minor } => write!(f, "unsupported sparse blob version {major}.{minor}"),
            EncodeError::BadHeaderSize(s) => write!(f, "bad sparse header size {s}"),
            EncodeError::UnsupportedDType(d) => write!(f, "unsupported sparse value type {d}"),
            EncodeError::BadIndexWidth(w) => write!(f, "bad sparse index width {w}"),
            EncodeError::BadHeader { field, expected, found } => {
                write!(f, "sparse header field {field}: expected {expected}, found {found}")
            }
            EncodeError::Misaligned => write!(f, "sparse blob not 4-byte aligned"),
            EncodeError::BadPointer { block_row } => write!(f, "bad sparse row pointer at block row {block_row}"),
            EncodeError::BadIndex { block, index } => write!(f, "bad sparse column index {index} in block {block}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// What [`analyze`] finds: the sizes [`pack`] needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseStats {
    /// Non-zero weights (elements, `-0.0` counts as zero).
    pub nnz: usize,
    /// Stored blocks (a block is stored when any of its weights is non-zero).
    pub nnz_blocks: usize,
    /// Fraction of zero weights, `1 - nnz / (m·k)` (0 for an empty matrix).
    pub sparsity: f64,
    /// Size of the packed blob in bytes without a bias.
    pub bytes: usize,
    /// Size of the packed blob in bytes when a bias is stored.
    pub bytes_with_bias: usize,
}

/// Section offsets and sizes implied by a shape and counts; the single source for pack and parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sections {
    index_bytes: usize,
    block_rows: usize,
    ptr_off: usize,
    idx_off: usize,
    val_off: usize,
    bias_off: usize,
    total: usize,
}

fn align_up(x: usize, a: usize) -> Option<usize> {
    x.checked_add(a - 1).map(|v| v / a * a)
}

fn index_bytes_for(k: usize) -> usize {
    if k <= U16_INDEX_MAX_K {
        2
    } else {
        4
    }
}

fn sections(m: usize, k: usize, layout: Layout, nnz_blocks: usize, has_bias: bool, index_bytes: usize, vt: ValueType) -> Option<Sections> {
    let (r, c) = layout.block();
    let block_rows = layout.block_rows(m);
    let ptr_off = HEADER_SIZE;
    let idx_off = align_up(ptr_off.checked_add(block_rows.checked_add(1)?.checked_mul(4)?)?, SECTION_ALIGN)?;
    let val_off = align_up(idx_off.checked_add(nnz_blocks.checked_mul(index_bytes)?)?, SECTION_ALIGN)?;
    let val_end = val_off.checked_add(nnz_blocks.checked_mul(r * c)?.checked_mul(vt.bytes())?)?;
    let (bias_off, end) = if has_bias {
        let b = align_up(val_end, SECTION_ALIGN)?;
        (b, b.checked_add(m.checked_mul(4)?)?)
    } else {
        (0, val_end)
    };
    let total = align_up(end, SECTION_ALIGN)?;
    let _ = k;
    Some(Sections { index_bytes, block_rows, ptr_off, idx_off, val_off, bias_off, total })
}

fn check_dims(m: usize, k: usize, layout: Layout) -> Result<(), EncodeError> {
    if !layout.is_valid() {
        let (r, c) = layout.block();
        return Err(EncodeError::BadLayout { kind: layout.kind(), r: r as u8, c: c as u8 });
    }
    if m > MAX_DIM {
        return Err(EncodeError::TooLarge { what: "m" });
    }
    if k > MAX_DIM {
        return Err(EncodeError::TooLarge { what: "k" });
    }
    Ok(())
}

/// Iterates the blocks of one block row in column order, calling `f(col0)` for each stored block
/// (a block with a non-zero weight).
fn for_each_block(weights: &[f32], m: usize, k: usize, layout: Layout, br: usize, mut f: impl FnMut(usize)) {
    let (r, c) = layout.block();
    let row0 = br * r;
    let rows = r.min(m - row0);
    let mut col = 0;
    while col < k {
        let cols = c.min(k - col);
        let mut any = false;
        for i in row0..row0 + rows {
            for &w in &weights[i * k + col..i * k + col + cols] {
                any |= w != 0.0;
            }
        }
        if any {
            f(col);
        }
        col += c;
    }
}

/// Counts non-zeros and blocks of a row-major `m×k` weight matrix and sizes its blob (f32 values).
pub fn analyze(weights: &[f32], m: usize, k: usize, layout: Layout) -> Result<SparseStats, EncodeError> {
    analyze_as(weights, m, k, layout, ValueType::F32)
}

/// [`analyze`] for a blob that stores its values as `vt`. Blocks and non-zeros are counted on the
/// f32 weights (a block is stored iff one of its f32 weights is non-zero, even if it rounds to
/// zero in f16).
pub fn analyze_as(weights: &[f32], m: usize, k: usize, layout: Layout, vt: ValueType) -> Result<SparseStats, EncodeError> {
    check_dims(m, k, layout)?;
    let numel = m.checked_mul(k).ok_or(EncodeError::TooLarge { what: "m*k" })?;
    if weights.len() != numel {
        return Err(EncodeError::ShapeMismatch { what: "weights", expected: numel, found: weights.len() });
    }
    let nnz = weights.iter().filter(|&&w| w != 0.0).count();
    let mut nnz_blocks = 0usize;
    for br in 0..layout.block_rows(m) {
        for_each_block(weights, m, k, layout, br, |_| nnz_blocks += 1);
    }
    let ib = index_bytes_for(k);
    let size = |bias| {
        sections(m, k, layout, nnz_blocks, bias, ib, vt)
            .filter(|s| s.total <= u32::MAX as usize && nnz_blocks <= u32::MAX as usize)
            .map(|s| s.total)
            .ok_or(EncodeError::TooLarge { what: "sparse blob" })
    };
    let sparsity = if numel == 0 { 0.0 } else { 1.0 - nnz as f64 / numel as f64 };
    Ok(SparseStats { nnz, nnz_blocks, sparsity, bytes: size(false)?, bytes_with_bias: size(true)? })
}

/// Encodes a row-major `m×k` weight matrix (and an optional bias of `m` values) into `out`, which
/// must hold at least `analyze(..).bytes` (or `bytes_with_bias`) bytes. Returns the blob size.
/// Padding bytes are written as zeros, so the output is deterministic. Values are stored as f32
/// ([`pack_as`] chooses).
pub fn pack(
    weights: &[f32],
    m: usize,
    k: usize,
    bias: Option<&[f32]>,
    layout: Layout,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    pack_as(weights, m, k, bias, layout, ValueType::F32, out)
}

/// [`pack`] with the stored value type: `F16` rounds each weight with
/// [`crate::f16::f32_to_f16`] (the bias stays f32); `out` must hold `analyze_as(.., vt)` bytes.
#[allow(clippy::too_many_arguments)]
pub fn pack_as(
    weights: &[f32],
    m: usize,
    k: usize,
    bias: Option<&[f32]>,
    layout: Layout,
    vt: ValueType,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let stats = analyze_as(weights, m, k, layout, vt)?;
    if let Some(b) = bias {
        if b.len() != m {
            return Err(EncodeError::ShapeMismatch { what: "bias", expected: m, found: b.len() });
        }
    }
    let s = sections(m, k, layout, stats.nnz_blocks, bias.is_some(), index_bytes_for(k), vt)
        .ok_or(EncodeError::TooLarge { what: "sparse blob" })?;
    if out.len() < s.total {
        return Err(EncodeError::OutputTooSmall { need: s.total, have: out.len() });
    }
    let out = &mut out[..s.total];
    out.fill(0);
    let (r, c) = layout.block();
    let hdr = SparseHeader {
        magic: MAGIC,
        major: VERSION_MAJOR,
        minor: VERSION_MINOR,
        header_size: HEADER_SIZE as u32,
        total_size: s.total as u32,
        m: m as u32,
        k: k as u32,
        layout: layout.kind(),
        block_r: r as u8,
        block_c: c as u8,
        index_bytes: s.index_bytes as u8,
        dtype: vt as u8,
        flags: if bias.is_some() { FLAG_BIAS } else { 0 },
        _pad: 0,
        nnz_blocks: stats.nnz_blocks as u32,
        block_rows: s.block_rows as u32,
        ptr_off: s.ptr_off as u32,
        idx_off: s.idx_off as u32,
        val_off: s.val_off as u32,
        bias_off: s.bias_off as u32,
        reserved: [0; 2],
    };
    hdr.write(&mut out[..HEADER_SIZE]);
    let mut nb = 0usize;
    put_u32(out, s.ptr_off, 0);
    for br in 0..s.block_rows {
        let row0 = br * r;
        for_each_block(weights, m, k, layout, br, |col| {
            let io = s.idx_off + nb * s.index_bytes;
            if s.index_bytes == 2 {
                out[io..io + 2].copy_from_slice(&(col as u16).to_le_bytes());
            } else {
                put_u32(out, io, col as u32);
            }
            // Values of the block, row-major inside the block; rows ≥ m and columns ≥ k stay 0.
            for i in 0..r {
                for j in 0..c {
                    let (row, cl) = (row0 + i, col + j);
                    if row < m && cl < k {
                        let w = weights[row * k + cl];
                        let e = nb * r * c + i * c + j;
                        match vt {
                            ValueType::F32 => out[s.val_off + e * 4..s.val_off + e * 4 + 4].copy_from_slice(&w.to_le_bytes()),
                            ValueType::F16 => out[s.val_off + e * 2..s.val_off + e * 2 + 2]
                                .copy_from_slice(&crate::f16::f32_to_f16(w).to_le_bytes()),
                        }
                    }
                }
            }
            nb += 1;
        });
        put_u32(out, s.ptr_off + (br + 1) * 4, nb as u32);
    }
    if let Some(b) = bias {
        for (i, v) in b.iter().enumerate() {
            out[s.bias_off + i * 4..s.bias_off + i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    Ok(s.total)
}

fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Column indices of the blocks, in the blob's width.
#[derive(Clone, Copy, Debug)]
pub enum Indices<'a> {
    U16(&'a [u16]),
    U32(&'a [u32]),
}

impl Indices<'_> {
    #[inline]
    pub fn get(&self, j: usize) -> usize {
        match self {
            Indices::U16(v) => v[j] as usize,
            Indices::U32(v) => v[j] as usize,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Indices::U16(v) => v.len(),
            Indices::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A validated zero-copy view of a sparse blob. Invariants (established by [`parse`] and relied
/// on by every kernel for unchecked access):
/// - `ptr.len() == block_rows + 1`, `ptr[0] == 0`, `ptr` non-decreasing, `ptr[block_rows] == nnz_blocks`
///   (a [`SparseMatrix::block_row_range`] view relaxes the two ends to `ptr[block_rows] <= nnz_blocks`);
/// - `idx.len() == nnz_blocks`, every index `< k`, strictly increasing within a block row, and
///   for 1×C blocks a multiple of C;
/// - `values.len() == nnz_blocks · R · C`; `bias`, when present, has `m` values.
///
/// [`parse`]: SparseMatrix::parse
#[derive(Clone, Copy, Debug)]
pub struct SparseMatrix<'a> {
    m: usize,
    k: usize,
    layout: Layout,
    ptr: &'a [u32],
    idx: Indices<'a>,
    vtype: ValueType,
    /// The values when `vtype == F32` (else empty).
    values: &'a [f32],
    /// The values (f16 bits) when `vtype == F16` (else empty).
    values_h: &'a [u16],
    bias: Option<&'a [f32]>,
}

/// Reinterprets `bytes[off..off + n*size_of::<T>()]` as `&[T]`. Caller guarantees the range is in
/// bounds and `bytes.as_ptr() + off` is aligned for `T` (checked by `parse`).
fn cast_section<T: Plain>(bytes: &[u8], off: usize, n: usize) -> &[T] {
    let sz = core::mem::size_of::<T>();
    let sub = &bytes[off..off + n * sz];
    assert_eq!(sub.as_ptr() as usize % core::mem::align_of::<T>(), 0);
    // SAFETY: `sub` is in bounds (sliced above), aligned for T (asserted), lives as long as
    // `bytes`, and T is a plain number type valid for every bit pattern (the `Plain` trait is only
    // implemented for u16, u32 and f32). The blob is little-endian; big-endian targets are rejected
    // at compile time below.
    unsafe { core::slice::from_raw_parts(sub.as_ptr() as *const T, n) }
}

/// Whether every index of one block row is `< k`, has no bits of `mask` set (a multiple of C) and
/// is strictly greater than its predecessor. Written as two folds without early exit so that
/// they vectorise.
fn row_indices_ok<T: Copy + Into<u32>>(v: &[T], k: u32, mask: u32) -> bool {
    let bad_range = v.iter().fold(false, |b, &x| {
        let x: u32 = x.into();
        b | (x >= k) | (x & mask != 0)
    });
    let bad_order = v.windows(2).fold(false, |b, w| b | (w[1].into() <= w[0].into()));
    !(bad_range | bad_order)
}

#[cfg(target_endian = "big")]
compile_error!("the sparse blob is read zero-copy as little-endian; big-endian targets are unsupported");

trait Plain: Copy {}
impl Plain for u16 {}
impl Plain for u32 {}
impl Plain for f32 {}

impl<'a> SparseMatrix<'a> {
    /// Validates a blob (treating every byte as hostile) and returns a view of it. `bytes` must be
    /// 4-byte aligned in memory (a blob inside a `.sprig` Data section is 64-aligned) and at least
    /// `total_size` long; trailing bytes are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<SparseMatrix<'a>, EncodeError> {
        let s = Self::parse_header(bytes)?;
        s.check_contents()?;
        Ok(s)
    }

    /// The view of a blob that has already passed [`parse`](Self::parse), in O(1): the header,
    /// the section offsets and sizes and the alignment are checked again (so every section slice
    /// is in bounds), but not the pointer and index contents (O(block rows + nnz blocks)), on which
    /// the kernels' unchecked indexing relies. For a runtime that validates its weights once at
    /// load and builds the view again on every run.
    ///
    /// # Safety
    /// `bytes` (at least its first `total_size` bytes) must be identical to bytes for which
    /// [`parse`](Self::parse) returned `Ok`. A blob whose row pointers or indices were never
    /// validated makes the kernels read out of bounds. Debug builds run the full check and panic
    /// when it fails.
    pub unsafe fn parse_validated(bytes: &'a [u8]) -> Result<SparseMatrix<'a>, EncodeError> {
        let s = Self::parse_header(bytes)?;
        debug_assert!(s.check_contents().is_ok(), "SparseMatrix::parse_validated: the blob does not pass parse");
        Ok(s)
    }

    /// The O(1) part of [`parse`](Self::parse): header fields, section layout, size and alignment;
    /// the returned view's pointers and indices are not yet checked.
    fn parse_header(bytes: &'a [u8]) -> Result<SparseMatrix<'a>, EncodeError> {
        if bytes.len() < HEADER_SIZE {
            return Err(EncodeError::Truncated { need: HEADER_SIZE, have: bytes.len() });
        }
        let h = SparseHeader::read(bytes);
        if h.magic != MAGIC {
            return Err(EncodeError::BadMagic);
        }
        if h.major != VERSION_MAJOR || h.minor > VERSION_MINOR {
            return Err(EncodeError::UnsupportedVersion { major: h.major, minor: h.minor });
        }
        if h.header_size as usize != HEADER_SIZE {
            return Err(EncodeError::BadHeaderSize(h.header_size));
        }
        let vt = ValueType::from_u8(h.dtype).ok_or(EncodeError::UnsupportedDType(h.dtype))?;
        let layout = match (h.layout, h.block_r, h.block_c) {
            (LAYOUT_ROW_BLOCK, r, 1) => Layout::RowBlock(r),
            (LAYOUT_RED_BLOCK, 1, c) => Layout::RedBlock(c),
            _ => return Err(EncodeError::BadLayout { kind: h.layout, r: h.block_r, c: h.block_c }),
        };
        let (m, k) = (h.m as usize, h.k as usize);
        check_dims(m, k, layout)?;
        let ib = h.index_bytes as usize;
        if !(ib == 4 || (ib == 2 && k <= U16_INDEX_MAX_K)) {
            return Err(EncodeError::BadIndexWidth(h.index_bytes));
        }
        let has_bias = h.flags & FLAG_BIAS != 0;
        if h._pad != 0 || h.reserved != [0, 0] {
            return Err(EncodeError::BadHeader { field: "reserved", expected: 0, found: 1 });
        }
        if h.flags & !FLAG_BIAS != 0 {
            return Err(EncodeError::BadHeader { field: "flags", expected: 0, found: h.flags as u64 });
        }
        let nnz = h.nnz_blocks as usize;
        let s = sections(m, k, layout, nnz, has_bias, ib, vt).ok_or(EncodeError::TooLarge { what: "sparse blob" })?;
        let expect = |field: &'static str, expected: usize, found: u32| {
            if expected as u64 == found as u64 {
                Ok(())
            } else {
                Err(EncodeError::BadHeader { field, expected: expected as u64, found: found as u64 })
            }
        };
        expect("block_rows", s.block_rows, h.block_rows)?;
        expect("ptr_off", s.ptr_off, h.ptr_off)?;
        expect("idx_off", s.idx_off, h.idx_off)?;
        expect("val_off", s.val_off, h.val_off)?;
        expect("bias_off", s.bias_off, h.bias_off)?;
        expect("total_size", s.total, h.total_size)?;
        if bytes.len() < s.total {
            return Err(EncodeError::Truncated { need: s.total, have: bytes.len() });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(4) {
            return Err(EncodeError::Misaligned);
        }
        // Sections are at multiples of 64 from a 4-aligned start: every cast below is aligned.
        let ptr: &[u32] = cast_section(bytes, s.ptr_off, s.block_rows + 1);
        let idx = if ib == 2 {
            Indices::U16(cast_section(bytes, s.idx_off, nnz))
        } else {
            Indices::U32(cast_section(bytes, s.idx_off, nnz))
        };
        let (r, c) = layout.block();
        let (values, values_h): (&[f32], &[u16]) = match vt {
            ValueType::F32 => (cast_section(bytes, s.val_off, nnz * r * c), &[]),
            ValueType::F16 => (&[], cast_section(bytes, s.val_off, nnz * r * c)),
        };
        let bias = if has_bias { Some(cast_section::<f32>(bytes, s.bias_off, m)) } else { None };
        Ok(SparseMatrix { m, k, layout, ptr, idx, vtype: vt, values, values_h, bias })
    }

    /// The O(block rows + nnz blocks) part of [`parse`](Self::parse): `ptr[0] == 0`, pointers
    /// non-decreasing and ending at `nnz_blocks`, indices `< k`, aligned to C and strictly
    /// increasing within each block row.
    fn check_contents(&self) -> Result<(), EncodeError> {
        let (ptr, idx, k, nnz) = (self.ptr, self.idx, self.k, self.idx.len());
        let block_rows = ptr.len() - 1;
        let c = self.layout.block().1;
        if ptr[0] != 0 {
            return Err(EncodeError::BadPointer { block_row: 0 });
        }
        for br in 0..block_rows {
            let (p0, p1) = (ptr[br] as usize, ptr[br + 1] as usize);
            if p1 < p0 || p1 > nnz {
                return Err(EncodeError::BadPointer { block_row: br + 1 });
            }
            // Fast branch-free scan first (c is 1, 4 or 8, so a mask replaces the division; this
            // ran on every op execution in the runtime before `parse_validated`; ~6.5 ns/block with the division loop
            // alone vs ~1.4 ns/block for an SpMV); the exact failing block is located below only
            // when the scan finds a problem.
            let ok = match idx {
                Indices::U16(v) => row_indices_ok(&v[p0..p1], k as u32, c as u32 - 1),
                Indices::U32(v) => row_indices_ok(&v[p0..p1], k as u32, c as u32 - 1),
            };
            if ok {
                continue;
            }
            let mut prev: Option<usize> = None;
            for j in p0..p1 {
                let col = idx.get(j);
                let increasing = prev.is_none_or(|p| col > p);
                if col >= k || col % c != 0 || !increasing {
                    return Err(EncodeError::BadIndex { block: j, index: col });
                }
                prev = Some(col);
            }
        }
        if ptr[block_rows] as usize != nnz {
            return Err(EncodeError::BadPointer { block_row: block_rows });
        }
        Ok(())
    }

    /// Output rows.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Input columns (the reduction length).
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// Number of block rows (ceil(m/R) for R×1, m for 1×C).
    pub fn block_rows(&self) -> usize {
        self.ptr.len() - 1
    }
    pub fn nnz_blocks(&self) -> usize {
        self.idx.len()
    }
    /// Row pointers: blocks of block row `i` are `ptr[i]..ptr[i+1]`.
    pub fn ptr(&self) -> &'a [u32] {
        self.ptr
    }
    pub fn indices(&self) -> Indices<'a> {
        self.idx
    }
    /// How the block values are stored.
    pub fn value_type(&self) -> ValueType {
        self.vtype
    }
    /// Block values, `R·C` per block, row-major inside the block, when stored as f32; **empty**
    /// for an f16 blob (use [`values_f16`](Self::values_f16) or [`value`](Self::value)).
    pub fn values(&self) -> &'a [f32] {
        self.values
    }
    /// Block values as f16 bits (same layout as [`values`](Self::values)) when stored as f16;
    /// empty for an f32 blob.
    pub fn values_f16(&self) -> &'a [u16] {
        self.values_h
    }
    /// Number of stored values (`nnz_blocks · R · C`), whatever their type.
    pub fn values_len(&self) -> usize {
        self.values.len() + self.values_h.len()
    }
    /// Stored value `i` (`i < values_len()`) as f32 (f16 widened exactly). Panics out of range.
    #[inline]
    pub fn value(&self, i: usize) -> f32 {
        match self.vtype {
            ValueType::F32 => self.values[i],
            ValueType::F16 => crate::f16::f16_to_f32(self.values_h[i]),
        }
    }
    pub fn bias(&self) -> Option<&'a [f32]> {
        self.bias
    }

    /// The block rows `b0..b1` as a matrix of their own (rows `b0·R .. min(b1·R, m)`), for
    /// splitting a product across threads. No copy: `ptr` is sub-sliced and keeps its absolute
    /// offsets into the full `idx`/`values` (so `ptr[0]` may be non-zero and the last entry below
    /// `nnz_blocks`); every kernel reads blocks only through `ptr[i]..ptr[i+1]`, which stay in
    /// bounds. `None` unless `b0 <= b1 <= block_rows`.
    pub fn block_row_range(&self, b0: usize, b1: usize) -> Option<SparseMatrix<'a>> {
        if b0 > b1 || b1 > self.block_rows() {
            return None;
        }
        let r = self.layout.block().0;
        let (r0, r1) = (b0 * r, (b1 * r).min(self.m));
        Some(SparseMatrix {
            m: r1.saturating_sub(r0),
            k: self.k,
            layout: self.layout,
            ptr: &self.ptr[b0..=b1],
            idx: self.idx,
            vtype: self.vtype,
            values: self.values,
            values_h: self.values_h,
            bias: self.bias.map(|b| &b[r0.min(r1)..r1]),
        })
    }

    /// Decodes into a dense row-major `m×k` matrix (zeros where no block is stored).
    pub fn to_dense(&self, out: &mut [f32]) {
        assert_eq!(out.len(), self.m * self.k, "to_dense: output length");
        out.fill(0.0);
        let (r, c) = self.layout.block();
        for br in 0..self.block_rows() {
            for j in self.ptr[br] as usize..self.ptr[br + 1] as usize {
                let col = self.idx.get(j);
                for i in 0..r {
                    for jj in 0..c {
                        let (row, cl) = (br * r + i, col + jj);
                        if row < self.m && cl < self.k {
                            out[row * self.k + cl] = self.value(j * r * c + i * c + jj);
                        }
                    }
                }
            }
        }
    }
}
