//! Typed errors. Every variant names what is at fault: a section, a node or a tensor (by index and,
//! where known, by name, copied inline so errors need no allocation and no borrow of the model).
use crate::tensor::DType;
use core::fmt;

/// A short name copied into an error (truncated to 63 bytes at a char boundary).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    buf: [u8; 63],
    len: u8,
}

impl Name {
    pub fn new(s: &str) -> Name {
        let mut end = s.len().min(63);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; 63];
        buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        Name { buf, len: end as u8 }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An op's complaint about its parameters, shapes or data, without context; the runtime wraps it
/// in [`Error::Op`] with the node's index, name and op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// Parameters are malformed (wrong size, out-of-range value); the text says which.
    BadParams(&'static str),
    /// Input or output count, shape, dtype or encoding do not fit the op; the text says which.
    BadShape(&'static str),
    /// A data-dependent index (Gather) is out of range.
    IndexOutOfRange { index: i64, len: usize },
    /// Something the op does not implement (dtype, mode, encoding).
    Unsupported(&'static str),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::BadParams(s) => write!(f, "bad parameters: {s}"),
            OpError::BadShape(s) => write!(f, "bad shapes: {s}"),
            OpError::IndexOutOfRange { index, len } => write!(f, "index {index} out of range for axis of length {len}"),
            OpError::Unsupported(s) => write!(f, "unsupported: {s}"),
        }
    }
}

/// Everything that can go wrong when loading or running a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Error {
    /// The file does not start with the sprig magic bytes.
    BadMagic,
    /// The file's major version is not the one this reader understands, or its minor is newer.
    UnsupportedVersion { major: u16, minor: u16 },
    /// The file is shorter than a structure it must contain.
    Truncated { what: &'static str, needed: u64, available: u64 },
    /// A structure's offset or size is outside the file or overlaps another, or overflows.
    OutOfBounds { what: &'static str, index: u32 },
    /// A structure is not aligned as the format requires (or the caller's buffer is not).
    Misaligned { what: &'static str },
    /// A required section is missing or duplicated.
    Section { kind: u32, problem: &'static str },
    /// A tensor (value) record is invalid.
    BadValue { index: u32, name: Name, problem: &'static str },
    /// A node record is invalid.
    BadNode { index: u32, name: Name, problem: &'static str },
    /// A node's op code is unknown to this reader.
    UnknownOp { index: u32, name: Name, op: u16 },
    /// A graph input/output table entry is invalid.
    BadGraphIo { index: u32, problem: &'static str },
    /// An op rejected its parameters or shapes at load, or its data at run time.
    Op { node: u32, name: Name, op: &'static str, error: OpError },
    /// `run` got the wrong number of inputs or outputs.
    IoCount { what: &'static str, expected: usize, found: usize },
    /// An input or output given to `run` has the wrong shape.
    ShapeMismatch { tensor: Name, expected: crate::tensor::Shape, found_rank: usize, found: [usize; 8] },
    /// An input or output given to `run` has the wrong dtype.
    DTypeMismatch { expected: DType, found: DType },
    /// A buffer given to `run` has the wrong length.
    LengthMismatch { tensor: Name, expected: usize, found: usize },
    /// The arena is smaller than the model needs.
    ArenaTooSmall { needed: usize, available: usize },
    /// I/O error while opening or mapping a file (std only).
    Io { kind: IoKind },
}

/// The kind of an I/O error, without the OS error (kept `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    NotFound,
    PermissionDenied,
    TooLarge,
    Other,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            BadMagic => write!(f, "not a .sprig file (bad magic bytes)"),
            UnsupportedVersion { major, minor } => write!(
                f,
                "unsupported .sprig version {major}.{minor} (this reader reads {}.0 to {}.{})",
                crate::format::VERSION_MAJOR,
                crate::format::VERSION_MAJOR,
                crate::format::VERSION_MINOR
            ),
            Truncated { what, needed, available } => {
                write!(f, "file truncated: {what} needs {needed} bytes, {available} available")
            }
            OutOfBounds { what, index } => write!(f, "{what} #{index} is out of bounds"),
            Misaligned { what } => write!(f, "{what} is not aligned as required"),
            Section { kind, problem } => write!(f, "section kind {kind}: {problem}"),
            BadValue { index, name, problem } => write!(f, "tensor #{index} '{name}': {problem}"),
            BadNode { index, name, problem } => write!(f, "node #{index} '{name}': {problem}"),
            UnknownOp { index, name, op } => write!(f, "node #{index} '{name}': unknown op code {op}"),
            BadGraphIo { index, problem } => write!(f, "graph input/output #{index}: {problem}"),
            Op { node, name, op, error } => write!(f, "node #{node} '{name}' ({op}): {error}"),
            IoCount { what, expected, found } => write!(f, "expected {expected} {what}, got {found}"),
            ShapeMismatch { tensor, expected, found_rank, found } => write!(
                f,
                "tensor '{tensor}': expected shape {:?}, got {:?}",
                expected,
                &found[..(*found_rank).min(8)]
            ),
            DTypeMismatch { expected, found } => {
                write!(f, "expected dtype {}, got {}", expected.name(), found.name())
            }
            LengthMismatch { tensor, expected, found } => {
                write!(f, "tensor '{tensor}': expected {expected} elements, got {found}")
            }
            ArenaTooSmall { needed, available } => {
                write!(f, "arena too small: the model needs {needed} bytes, got {available}")
            }
            Io { kind } => write!(f, "I/O error: {kind:?}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(feature = "std")]
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => IoKind::NotFound,
            std::io::ErrorKind::PermissionDenied => IoKind::PermissionDenied,
            _ => IoKind::Other,
        };
        Error::Io { kind }
    }
}
