//! Owned tensors for the tools side (converter constants, CLI inputs/outputs, verification).
use sprig_runtime::tensor::{DType, TensorData, TensorMut};

#[derive(Clone, Debug, PartialEq)]
pub enum OwnedData {
    F32(Vec<f32>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    /// One byte per element, 0 or 1.
    Bool(Vec<u8>),
}

impl OwnedData {
    pub fn dtype(&self) -> DType {
        match self {
            OwnedData::F32(_) => DType::F32,
            OwnedData::I64(_) => DType::I64,
            OwnedData::I32(_) => DType::I32,
            OwnedData::U8(_) => DType::U8,
            OwnedData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            OwnedData::F32(v) => v.len(),
            OwnedData::I64(v) => v.len(),
            OwnedData::I32(v) => v.len(),
            OwnedData::U8(v) | OwnedData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Zeroed data of `n` elements of `dtype` (F16 is not an activation dtype: None).
    pub fn zeros(dtype: DType, n: usize) -> Option<OwnedData> {
        Some(match dtype {
            DType::F32 => OwnedData::F32(vec![0.0; n]),
            DType::I64 => OwnedData::I64(vec![0; n]),
            DType::I32 => OwnedData::I32(vec![0; n]),
            DType::U8 => OwnedData::U8(vec![0; n]),
            DType::Bool => OwnedData::Bool(vec![0; n]),
            DType::F16 => return None,
        })
    }

    /// Little-endian bytes, as stored in a `.sprig` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            OwnedData::F32(v) => bytemuck::cast_slice(v).to_vec(),
            OwnedData::I64(v) => bytemuck::cast_slice(v).to_vec(),
            OwnedData::I32(v) => bytemuck::cast_slice(v).to_vec(),
            OwnedData::U8(v) | OwnedData::Bool(v) => v.clone(),
        }
    }

    /// Elements widened to f64 (for comparisons and reports).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            OwnedData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            OwnedData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            OwnedData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            OwnedData::U8(v) | OwnedData::Bool(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// A borrowed view for `Session::run` inputs (Bool is passed as U8 bytes: see `as_tensor_mut`).
    pub fn as_data(&self) -> TensorData<'_> {
        match self {
            OwnedData::F32(v) => TensorData::F32(v),
            OwnedData::I64(v) => TensorData::I64(v),
            OwnedData::I32(v) => TensorData::I32(v),
            OwnedData::U8(v) => TensorData::U8(v),
            // SAFETY: every byte of a Bool tensor is 0 or 1 (enforced where OwnedData::Bool is built).
            OwnedData::Bool(v) => TensorData::Bool(unsafe { std::slice::from_raw_parts(v.as_ptr() as *const bool, v.len()) }),
        }
    }

    pub fn as_tensor_mut(&mut self) -> TensorMut<'_> {
        match self {
            OwnedData::F32(v) => TensorMut::F32(v),
            OwnedData::I64(v) => TensorMut::I64(v),
            OwnedData::I32(v) => TensorMut::I32(v),
            OwnedData::U8(v) => TensorMut::U8(v),
            OwnedData::Bool(v) => TensorMut::Bool(v),
        }
    }
}

/// A named tensor with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: OwnedData,
}
