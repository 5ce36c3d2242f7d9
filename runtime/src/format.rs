//! The `.sprig` file format, version 1.1 (1.0 plus f16 weights). The normative description is `runtime/FORMAT.md`; this
//! module holds the record types (all `#[repr(C)]`, little-endian, read zero-copy with bytemuck)
//! and the parser that validates every offset and size with checked arithmetic.
//!
//! Layout:
//! ```text
//! Header (64 B) | SectionEntry × section_count (32 B each) | sections ... (each 8-aligned,
//! the Data section 64-aligned; tensor data inside it 64-aligned)
//! ```
use crate::error::{Error, Name};
use crate::tensor::{DType, Encoding, Shape, MAX_RANK};
use bytemuck::{Pod, Zeroable};

pub const MAGIC: [u8; 8] = *b"SPRIG\0\r\n";
pub const VERSION_MAJOR: u16 = 1;
/// The newest minor this reader reads. 1.1 adds f16 constant weights (dense, or block-sparse with
/// an f16 blob), 1.2 pointwise conv weights in 64-channel panels ([`Encoding::Panel64`]); a writer
/// writes the lowest minor whose features the file uses, so that older readers reject exactly the
/// files they cannot run ([`MINOR_F16`], [`MINOR_PANEL64`]).
pub const VERSION_MINOR: u16 = 2;
/// The first minor version whose files may hold [`DType::F16`] tensors.
pub const MINOR_F16: u16 = 1;
/// The first minor version whose files may hold [`Encoding::Panel64`] tensors.
pub const MINOR_PANEL64: u16 = 2;
/// Alignment of the Data section and of every constant tensor inside it.
pub const DATA_ALIGN: usize = 64;
/// Alignment of every arena offset.
pub const ARENA_ALIGN: usize = 64;
/// Largest header + section table accepted (guards against absurd section counts).
pub const MAX_SECTIONS: u32 = 64;
/// A node may have at most this many inputs and outputs each (Concat of more is split by the
/// converter); the runtime gathers tensor views on the stack.
pub const MAX_NODE_IO: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Header {
    pub magic: [u8; 8],
    pub major: u16,
    pub minor: u16,
    /// Size of this header in bytes (64 in 1.0).
    pub header_size: u32,
    /// Total file size in bytes.
    pub file_size: u64,
    /// Bytes of arena a session needs (activations + scratch), a multiple of ARENA_ALIGN.
    pub arena_size: u64,
    pub section_count: u32,
    pub flags: u32,
    pub reserved: [u64; 3],
}

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// UTF-8 bytes referenced by (offset, len) pairs.
    Strings = 1,
    /// `ValueRecord` array.
    Values = 2,
    /// `NodeRecord` array, in execution order.
    Nodes = 3,
    /// `u32` value indices referenced by nodes (inputs then outputs); `NO_VALUE` for an absent
    /// optional input.
    NodeIo = 4,
    /// Op parameter bytes referenced by nodes (each 8-aligned).
    Params = 5,
    /// `u32` value indices of the graph inputs, in order.
    Inputs = 6,
    /// `u32` value indices of the graph outputs, in order.
    Outputs = 7,
    /// Constant tensor bytes.
    Data = 8,
}

pub const REQUIRED_SECTIONS: [SectionKind; 8] = [
    SectionKind::Strings,
    SectionKind::Values,
    SectionKind::Nodes,
    SectionKind::NodeIo,
    SectionKind::Params,
    SectionKind::Inputs,
    SectionKind::Outputs,
    SectionKind::Data,
];

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SectionEntry {
    pub kind: u32,
    pub reserved: u32,
    /// Absolute file offset (8-aligned; 64-aligned for Data).
    pub offset: u64,
    pub size: u64,
    pub reserved2: u64,
}

/// Where a value's bytes live.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// In the session arena at `offset` (activations, graph inputs and outputs).
    Arena = 0,
    /// In the file at absolute `offset`, inside the Data section (weights and other constants).
    Const = 1,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ValueRecord {
    pub name_off: u32,
    pub name_len: u32,
    pub dtype: u8,
    pub rank: u8,
    pub storage: u8,
    pub encoding: u8,
    pub reserved: u32,
    pub offset: u64,
    pub nbytes: u64,
    pub dims: [u32; MAX_RANK],
}

/// `NodeIo` entry for an absent optional input.
pub const NO_VALUE: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct NodeRecord {
    pub op: u16,
    pub flags: u16,
    pub n_inputs: u16,
    pub n_outputs: u16,
    /// Index of the node's first entry in `NodeIo`.
    pub io_start: u32,
    pub name_off: u32,
    pub name_len: u32,
    pub params_off: u32,
    pub params_len: u32,
    pub reserved: u32,
    /// Arena range of the node's scratch space (size 0: none).
    pub scratch_offset: u64,
    pub scratch_size: u64,
}

/// The validated tables of a file, borrowed from its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Parsed<'a> {
    pub header: &'a Header,
    pub strings: &'a [u8],
    pub values: &'a [ValueRecord],
    pub nodes: &'a [NodeRecord],
    pub node_io: &'a [u32],
    pub params: &'a [u8],
    pub inputs: &'a [u32],
    pub outputs: &'a [u32],
    /// (absolute offset, size) of the Data section.
    pub data_range: (u64, u64),
    /// The whole file (constant offsets are absolute), for validating encoded constants.
    pub file: &'a [u8],
}

fn cast_section<T: Pod>(bytes: &[u8], kind: SectionKind) -> Result<&[T], Error> {
    if !bytes.len().is_multiple_of(core::mem::size_of::<T>()) {
        return Err(Error::Section { kind: kind as u32, problem: "size is not a whole number of records" });
    }
    bytemuck::try_cast_slice(bytes).map_err(|_| Error::Misaligned { what: "section" })
}

/// `bytes[off .. off+len]` with checked arithmetic.
pub(crate) fn range(bytes: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let end = off.checked_add(len)?;
    if end > bytes.len() as u64 {
        return None;
    }
    Some(&bytes[off as usize..end as usize])
}

impl<'a> Parsed<'a> {
    pub fn string(&self, off: u32, len: u32) -> Option<&'a str> {
        range(self.strings, off as u64, len as u64).and_then(|b| core::str::from_utf8(b).ok())
    }

    pub fn value_name(&self, i: u32) -> &'a str {
        self.values.get(i as usize).and_then(|v| self.string(v.name_off, v.name_len)).unwrap_or("?")
    }

    pub fn node_name(&self, i: u32) -> &'a str {
        self.nodes.get(i as usize).and_then(|n| self.string(n.name_off, n.name_len)).unwrap_or("?")
    }

    /// Node `i`'s input and output value ids. Only for a validated model (`crate::model` checks
    /// every node's I/O range at load); panics on an index or range out of bounds.
    pub(crate) fn node_io(&self, i: usize) -> (&'a [u32], &'a [u32]) {
        let n = &self.nodes[i];
        let s = n.io_start as usize;
        self.node_io[s..s + n.n_inputs as usize + n.n_outputs as usize].split_at(n.n_inputs as usize)
    }

    /// Parses the header and section table and checks the structure of every table. Per-value and
    /// per-node semantic checks are in [`crate::model`].
    pub fn parse(bytes: &'a [u8]) -> Result<Parsed<'a>, Error> {
        let hsize = core::mem::size_of::<Header>();
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            if bytes.len() < 8 && MAGIC.starts_with(bytes) {
                return Err(Error::Truncated { what: "header", needed: hsize as u64, available: bytes.len() as u64 });
            }
            return Err(Error::BadMagic);
        }
        if bytes.len() < hsize {
            return Err(Error::Truncated { what: "header", needed: hsize as u64, available: bytes.len() as u64 });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(DATA_ALIGN) {
            return Err(Error::Misaligned { what: "model bytes (need 64-byte alignment)" });
        }
        let header: &Header = bytemuck::from_bytes(&bytes[..hsize]);
        if header.major != VERSION_MAJOR || header.minor > VERSION_MINOR {
            return Err(Error::UnsupportedVersion { major: header.major, minor: header.minor });
        }
        if header.header_size as usize != hsize {
            return Err(Error::Section { kind: 0, problem: "header size is not 64" });
        }
        if header.file_size != bytes.len() as u64 {
            return Err(Error::Truncated { what: "file (size stated in header)", needed: header.file_size, available: bytes.len() as u64 });
        }
        if header.flags != 0 {
            // No flags are defined in 1.x; a file that sets one needs a reader that knows it.
            return Err(Error::Section { kind: 0, problem: "unknown header flags set" });
        }
        if header.section_count > MAX_SECTIONS {
            return Err(Error::Section { kind: 0, problem: "too many sections" });
        }
        if !header.arena_size.is_multiple_of(ARENA_ALIGN as u64) || header.arena_size > usize::MAX as u64 / 2 {
            return Err(Error::Section { kind: 0, problem: "arena size is not a multiple of 64 or is absurd" });
        }
        let table_len = header.section_count as u64 * core::mem::size_of::<SectionEntry>() as u64;
        let table = range(bytes, hsize as u64, table_len).ok_or(Error::Truncated {
            what: "section table",
            needed: hsize as u64 + table_len,
            available: bytes.len() as u64,
        })?;
        let entries: &[SectionEntry] = bytemuck::try_cast_slice(table).map_err(|_| Error::Misaligned { what: "section table" })?;

        let mut found: [Option<&SectionEntry>; 9] = [None; 9];
        let table_end = hsize as u64 + table_len;
        for (i, e) in entries.iter().enumerate() {
            let end = e.offset.checked_add(e.size).ok_or(Error::OutOfBounds { what: "section", index: i as u32 })?;
            if e.offset < table_end || end > bytes.len() as u64 {
                return Err(Error::OutOfBounds { what: "section", index: i as u32 });
            }
            let align = if e.kind == SectionKind::Data as u32 { DATA_ALIGN as u64 } else { 8 };
            if e.offset % align != 0 {
                return Err(Error::Misaligned { what: "section offset" });
            }
            // Sections must not overlap each other.
            for (j, o) in entries.iter().enumerate().take(i) {
                let o_end = o.offset.saturating_add(o.size);
                if e.size > 0 && o.size > 0 && e.offset < o_end && o.offset < end {
                    let _ = j;
                    return Err(Error::OutOfBounds { what: "section (overlaps another)", index: i as u32 });
                }
            }
            if (1..=8).contains(&e.kind) {
                if found[e.kind as usize].is_some() {
                    return Err(Error::Section { kind: e.kind, problem: "appears twice" });
                }
                found[e.kind as usize] = Some(e);
            }
            // Unknown kinds are skipped: a later minor version may add optional sections.
        }
        let get = |k: SectionKind| -> Result<&'a [u8], Error> {
            let e = found[k as usize].ok_or(Error::Section { kind: k as u32, problem: "missing" })?;
            Ok(&bytes[e.offset as usize..(e.offset + e.size) as usize])
        };
        for k in REQUIRED_SECTIONS {
            get(k)?;
        }
        let data = found[SectionKind::Data as usize].unwrap();
        let parsed = Parsed {
            header,
            strings: get(SectionKind::Strings)?,
            values: cast_section(get(SectionKind::Values)?, SectionKind::Values)?,
            nodes: cast_section(get(SectionKind::Nodes)?, SectionKind::Nodes)?,
            node_io: cast_section(get(SectionKind::NodeIo)?, SectionKind::NodeIo)?,
            params: get(SectionKind::Params)?,
            inputs: cast_section(get(SectionKind::Inputs)?, SectionKind::Inputs)?,
            outputs: cast_section(get(SectionKind::Outputs)?, SectionKind::Outputs)?,
            data_range: (data.offset, data.size),
            file: bytes,
        };
        if parsed.values.len() >= NO_VALUE as usize {
            return Err(Error::Section { kind: SectionKind::Values as u32, problem: "too many values" });
        }
        Ok(parsed)
    }

    /// Validates one value record: name, dtype, rank, encoding, byte size and location.
    pub fn check_value(&self, i: u32) -> Result<ValueInfo<'a>, Error> {
        let v = &self.values[i as usize];
        let name = self.string(v.name_off, v.name_len);
        let err = |problem| Error::BadValue { index: i, name: Name::new(name.unwrap_or("?")), problem };
        let name = name.ok_or_else(|| err("name is out of bounds or not UTF-8"))?;
        let dtype = DType::from_u8(v.dtype).ok_or_else(|| err("unknown dtype"))?;
        let encoding = Encoding::from_u8(v.encoding).ok_or_else(|| err("unknown encoding (written by a newer sprig?)"))?;
        if v.rank as usize > MAX_RANK {
            return Err(err("rank above 8"));
        }
        let dims: [usize; MAX_RANK] = core::array::from_fn(|k| v.dims[k] as usize);
        let shape = Shape::new(&dims[..v.rank as usize]).unwrap();
        let numel = shape.checked_numel().ok_or_else(|| err("element count overflows"))?;
        match encoding {
            Encoding::Dense => {
                let expect = numel.checked_mul(dtype.size()).ok_or_else(|| err("byte size overflows"))? as u64;
                if v.nbytes != expect {
                    return Err(err("byte size does not match shape, dtype and encoding"));
                }
            }
            // The size rule of a blob is its own header's; `check_sparse_blob` checks it at load.
            Encoding::BlockSparse => {
                if !matches!(dtype, DType::F32 | DType::F16) || v.rank < 2 || v.storage != Storage::Const as u8 {
                    return Err(err("a block-sparse tensor must be an f32 constant of rank >= 2 (or an f16 one)"));
                }
                if v.nbytes < sprig_kernels::sparse::encode::HEADER_SIZE as u64 {
                    return Err(err("block-sparse blob shorter than its header"));
                }
            }
            Encoding::Panel64 => {
                if dtype != DType::F32 || v.rank != 4 || v.storage != Storage::Const as u8 || dims[2] != 1 || dims[3] != 1 {
                    return Err(err("a panel64 tensor must be an f32 constant pointwise conv weight [M, C, 1, 1]"));
                }
                if self.header.minor < MINOR_PANEL64 {
                    return Err(err("panel64 tensor in a file older than format 1.2"));
                }
                let expect = sprig_kernels::pw64::packed_len(dims[0], dims[1]).checked_mul(4).ok_or_else(|| err("byte size overflows"))? as u64;
                if v.nbytes != expect {
                    return Err(err("byte size does not match the panel64 layout of the shape"));
                }
            }
        }
        let storage = match v.storage {
            0 => Storage::Arena,
            1 => Storage::Const,
            _ => return Err(err("unknown storage kind")),
        };
        if dtype == DType::F16 {
            // f16 is a storage type for weights: activations (arena tensors) stay f32.
            if storage != Storage::Const {
                return Err(err("an f16 tensor must be a constant (f16 is for stored weights, not activations)"));
            }
            if self.header.minor < MINOR_F16 {
                return Err(err("f16 tensor in a file of format 1.0 (f16 weights need format 1.1)"));
            }
        }
        match storage {
            Storage::Arena => {
                let end = v.offset.checked_add(v.nbytes).ok_or_else(|| err("arena range overflows"))?;
                if end > self.header.arena_size {
                    return Err(err("arena range exceeds the arena size"));
                }
                if !v.offset.is_multiple_of(ARENA_ALIGN as u64) {
                    return Err(err("arena offset not 64-aligned"));
                }
                if encoding != Encoding::Dense {
                    return Err(err("an arena tensor must be dense"));
                }
            }
            Storage::Const => {
                let (d_off, d_size) = self.data_range;
                let end = v.offset.checked_add(v.nbytes).ok_or_else(|| err("data range overflows"))?;
                if v.offset < d_off || end > d_off + d_size {
                    return Err(err("constant data lies outside the data section"));
                }
                if !v.offset.is_multiple_of(DATA_ALIGN as u64) {
                    return Err(err("constant data not 64-aligned"));
                }
            }
        }
        Ok(ValueInfo { name, dtype, shape, encoding, storage, offset: v.offset, nbytes: v.nbytes })
    }

    /// [`Parsed::check_value`] plus, for encoded constants, the full validation of their bytes
    /// (for a block-sparse blob: `SparseMatrix::parse`, its size equal to `nbytes`, and its m, k
    /// equal to the logical shape's `d0` and `d1·d2·…`). Done once at load: the run path uses the
    /// cheap `check_value`, and ops parse blobs that have passed this.
    pub fn check_value_full(&self, i: u32) -> Result<ValueInfo<'a>, Error> {
        let info = self.check_value(i)?;
        if info.encoding == Encoding::BlockSparse {
            let err = |problem| Error::BadValue { index: i, name: Name::new(info.name), problem };
            let blob = range(self.file, info.offset, info.nbytes).ok_or_else(|| err("block-sparse blob out of bounds"))?;
            // The tensor's dtype and the blob's value type (header byte 28) must agree; checked
            // before `parse` so that the error says so rather than "malformed".
            let vt = blob.get(BLOB_VALUE_TYPE_BYTE).copied();
            if vt != Some(blob_value_type(info.dtype) as u8) {
                return Err(err("block-sparse blob's value type differs from the tensor's dtype"));
            }
            let sm = sprig_kernels::sparse::SparseMatrix::parse(blob).map_err(|_| err("block-sparse blob is malformed"))?;
            // `parse` checked `total_size` (bytes 12..16) against the layout and counts; the value
            // must be exactly the blob, no trailing bytes.
            let total = u32::from_le_bytes([blob[12], blob[13], blob[14], blob[15]]) as u64;
            if total != info.nbytes {
                return Err(err("byte size differs from the block-sparse blob's size"));
            }
            let d = info.shape.dims();
            let k = d[1..].iter().try_fold(1usize, |a, &x| a.checked_mul(x));
            if sm.m() != d[0] || k != Some(sm.k()) {
                return Err(err("block-sparse blob's m x k differs from the logical shape"));
            }
        }
        Ok(info)
    }
}

/// Offset of the value-type byte in a `sprig_kernels::sparse` blob header.
const BLOB_VALUE_TYPE_BYTE: usize = 28;

/// The blob value type a block-sparse tensor of `dtype` must hold.
fn blob_value_type(dtype: DType) -> sprig_kernels::sparse::ValueType {
    use sprig_kernels::sparse::ValueType;
    match dtype {
        DType::F16 => ValueType::F16,
        _ => ValueType::F32,
    }
}

/// A validated value record.
#[derive(Clone, Copy, Debug)]
pub struct ValueInfo<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: Shape,
    pub encoding: Encoding,
    pub storage: Storage,
    pub offset: u64,
    pub nbytes: u64,
}
