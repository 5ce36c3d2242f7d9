//! Element types, shapes and tensor views.
use crate::error::Error;

/// Maximum tensor rank a `.sprig` file can describe.
pub const MAX_RANK: usize = 8;

/// Logical element type of a tensor (stored as `u8` in files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    F32 = 1,
    I64 = 2,
    I32 = 3,
    U8 = 4,
    /// One byte per element, 0 or 1.
    Bool = 5,
    /// IEEE half; only for constant weights of Conv and MatMul (format 1.1), never an activation.
    F16 = 6,
}

impl DType {
    pub fn from_u8(v: u8) -> Option<DType> {
        Some(match v {
            1 => DType::F32,
            2 => DType::I64,
            3 => DType::I32,
            4 => DType::U8,
            5 => DType::Bool,
            6 => DType::F16,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
            DType::U8 | DType::Bool => 1,
            DType::F16 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::U8 => "u8",
            DType::Bool => "bool",
            DType::F16 => "f16",
        }
    }
}

/// A tensor shape of rank at most [`MAX_RANK`]; `Copy`, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: u8,
}

impl Shape {
    pub const SCALAR: Shape = Shape { dims: [0; MAX_RANK], rank: 0 };

    /// `None` when `dims` has more than [`MAX_RANK`] entries.
    pub fn new(dims: &[usize]) -> Option<Shape> {
        if dims.len() > MAX_RANK {
            return None;
        }
        let mut s = Shape { dims: [0; MAX_RANK], rank: dims.len() as u8 };
        s.dims[..dims.len()].copy_from_slice(dims);
        Some(s)
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }

    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// Number of elements; `None` on overflow.
    pub fn checked_numel(&self) -> Option<usize> {
        self.dims().iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// Number of elements (shapes in a validated model never overflow).
    pub fn numel(&self) -> usize {
        self.dims().iter().product()
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> [usize; MAX_RANK] {
        let mut s = [0usize; MAX_RANK];
        let mut acc = 1;
        for i in (0..self.rank()).rev() {
            s[i] = acc;
            acc *= self.dims[i];
        }
        s
    }
}

impl core::ops::Index<usize> for Shape {
    type Output = usize;
    fn index(&self, i: usize) -> &usize {
        &self.dims()[i]
    }
}

impl core::fmt::Debug for Shape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.dims()).finish()
    }
}

/// Physical encoding of a tensor's bytes (stored as `u8` in files). Activations are always
/// `Dense`; weights may use the others. A reader rejects an encoding it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Row-major elements of the tensor's dtype.
    Dense = 0,
    /// A block-sparse f32 or f16 weight (the blob's value type equals the dtype; format 1.1 for
    /// f16): `nbytes` is the length of one `sprig_kernels::sparse` blob
    /// (validated with `SparseMatrix::parse` at load) and the dims are the logical dense shape
    /// `[d0, d1, ...]` of the matrix it encodes, rows = axis 0: the blob's `m = d0` and
    /// `k = d1·d2·…`. Only constants use it, and only the ops that say so accept it: Conv
    /// (`[M, C, kh, kw]`, group 1) and MatMul's B operand, which is then stored transposed
    /// (`Bᵀ`, logical shape `[N, K]`).
    BlockSparse = 1,
    /// A dense f32 weight of a pointwise Conv (`[M, C, 1, 1]`, group 1, stride 1, no padding)
    /// stored in panels of 64 output channels (`sprig_kernels::pw64`): `nbytes` is
    /// `pw64::packed_len(M, C)` floats, rows past `M` zero. Format 1.2.
    Panel64 = 2,
}

impl Encoding {
    pub fn from_u8(v: u8) -> Option<Encoding> {
        match v {
            0 => Some(Encoding::Dense),
            1 => Some(Encoding::BlockSparse),
            2 => Some(Encoding::Panel64),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::BlockSparse => "block-sparse",
            Encoding::Panel64 => "panel64",
        }
    }
}

/// What an op needs to know about a tensor without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub dtype: DType,
    pub shape: Shape,
    pub encoding: Encoding,
}

/// A read-only tensor as ops see it: shape, dtype, encoding and raw bytes (aligned for the dtype).
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub info: TensorInfo,
    pub bytes: &'a [u8],
}

/// A writable dense tensor as ops see it.
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    pub info: TensorInfo,
    pub bytes: &'a mut [u8],
}

macro_rules! typed_access {
    ($get:ident, $get_mut:ident, $t:ty, $dt:ident) => {
        impl<'a> TensorView<'a> {
            /// The elements, or an error if the dtype differs or the bytes are misaligned.
            pub fn $get(&self) -> Result<&'a [$t], Error> {
                if self.info.dtype != DType::$dt {
                    return Err(Error::DTypeMismatch { expected: DType::$dt, found: self.info.dtype });
                }
                bytemuck::try_cast_slice(self.bytes).map_err(|_| Error::Misaligned { what: "tensor data" })
            }
        }
        impl<'a> TensorViewMut<'a> {
            pub fn $get_mut(&mut self) -> Result<&mut [$t], Error> {
                if self.info.dtype != DType::$dt {
                    return Err(Error::DTypeMismatch { expected: DType::$dt, found: self.info.dtype });
                }
                bytemuck::try_cast_slice_mut(&mut *self.bytes).map_err(|_| Error::Misaligned { what: "tensor data" })
            }
        }
    };
}
typed_access!(f32s, f32s_mut, f32, F32);
typed_access!(i64s, i64s_mut, i64, I64);
typed_access!(i32s, i32s_mut, i32, I32);

impl<'a> TensorView<'a> {
    pub fn shape(&self) -> &Shape {
        &self.info.shape
    }
}

impl<'a> TensorViewMut<'a> {
    pub fn shape(&self) -> &Shape {
        &self.info.shape
    }
}

/// Borrowed input data for [`crate::Session::run`].
#[derive(Clone, Copy, Debug)]
pub enum TensorData<'a> {
    F32(&'a [f32]),
    I64(&'a [i64]),
    I32(&'a [i32]),
    U8(&'a [u8]),
    Bool(&'a [bool]),
}

impl<'a> TensorData<'a> {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            TensorData::F32(d) => bytemuck::cast_slice(d),
            TensorData::I64(d) => bytemuck::cast_slice(d),
            TensorData::I32(d) => bytemuck::cast_slice(d),
            TensorData::U8(d) => d,
            // SAFETY: bool is one byte with value 0 or 1, a valid u8.
            TensorData::Bool(d) => unsafe { core::slice::from_raw_parts(d.as_ptr() as *const u8, d.len()) },
        }
    }
}

/// An input tensor for [`crate::Session::run`]: data plus the shape the caller believes it has
/// (checked against the model's).
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    pub shape: &'a [usize],
    pub data: TensorData<'a>,
}

impl<'a> Tensor<'a> {
    pub fn f32(data: &'a [f32], shape: &'a [usize]) -> Self {
        Tensor { shape, data: TensorData::F32(data) }
    }
    pub fn i64(data: &'a [i64], shape: &'a [usize]) -> Self {
        Tensor { shape, data: TensorData::I64(data) }
    }
    pub fn i32(data: &'a [i32], shape: &'a [usize]) -> Self {
        Tensor { shape, data: TensorData::I32(data) }
    }
}

/// An output buffer for [`crate::Session::run`]; its length must equal the output's element count.
#[derive(Debug)]
pub enum TensorMut<'a> {
    F32(&'a mut [f32]),
    I64(&'a mut [i64]),
    I32(&'a mut [i32]),
    U8(&'a mut [u8]),
    /// Receives bools as bytes 0/1.
    Bool(&'a mut [u8]),
}

impl<'a> TensorMut<'a> {
    pub fn dtype(&self) -> DType {
        match self {
            TensorMut::F32(_) => DType::F32,
            TensorMut::I64(_) => DType::I64,
            TensorMut::I32(_) => DType::I32,
            TensorMut::U8(_) => DType::U8,
            TensorMut::Bool(_) => DType::Bool,
        }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            TensorMut::F32(d) => bytemuck::cast_slice_mut(d),
            TensorMut::I64(d) => bytemuck::cast_slice_mut(d),
            TensorMut::I32(d) => bytemuck::cast_slice_mut(d),
            TensorMut::U8(d) => d,
            TensorMut::Bool(d) => d,
        }
    }
}
