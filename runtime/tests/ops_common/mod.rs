//! Shared test scaffolding for `ops_*.rs`: owned, aligned tensors and a check-then-exec driver.
//! References live in each test file, written from the ONNX spec.
#![allow(dead_code)]
use sprig_runtime::ops::{self, OpKind};
use sprig_runtime::tensor::Encoding;
use sprig_runtime::{AlignedBuf, DType, Isa, OpError, Shape, TensorInfo, TensorView, TensorViewMut};

/// A tensor owning 64-aligned bytes.
pub struct Owned {
    pub info: TensorInfo,
    pub buf: AlignedBuf,
}

pub fn info(dtype: DType, shape: &[usize]) -> TensorInfo {
    TensorInfo { dtype, shape: Shape::new(shape).unwrap(), encoding: Encoding::Dense }
}

impl Owned {
    pub fn from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Owned {
        let info = info(dtype, shape);
        assert_eq!(bytes.len(), info.shape.numel() * dtype.size());
        Owned { info, buf: AlignedBuf::from_bytes(bytes) }
    }
    pub fn f32(shape: &[usize], v: &[f32]) -> Owned {
        Self::from_bytes(DType::F32, shape, bytemuck::cast_slice(v))
    }
    pub fn i64(shape: &[usize], v: &[i64]) -> Owned {
        Self::from_bytes(DType::I64, shape, bytemuck::cast_slice(v))
    }
    pub fn i32(shape: &[usize], v: &[i32]) -> Owned {
        Self::from_bytes(DType::I32, shape, bytemuck::cast_slice(v))
    }
    pub fn u8(shape: &[usize], v: &[u8]) -> Owned {
        Self::from_bytes(DType::U8, shape, v)
    }
    pub fn bool(shape: &[usize], v: &[bool]) -> Owned {
        let b: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        Self::from_bytes(DType::Bool, shape, &b)
    }
    pub fn zeros(dtype: DType, shape: &[usize]) -> Owned {
        let info = info(dtype, shape);
        Owned { info, buf: AlignedBuf::new(info.shape.numel() * dtype.size()) }
    }
    pub fn view(&self) -> TensorView<'_> {
        TensorView { info: self.info, bytes: self.buf.as_slice() }
    }
    pub fn as_f32(&self) -> Vec<f32> {
        bytemuck::cast_slice(self.buf.as_slice()).to_vec()
    }
    pub fn as_i64(&self) -> Vec<i64> {
        bytemuck::cast_slice(self.buf.as_slice()).to_vec()
    }
    pub fn as_i32(&self) -> Vec<i32> {
        bytemuck::cast_slice(self.buf.as_slice()).to_vec()
    }
    pub fn as_u8(&self) -> Vec<u8> {
        self.buf.as_slice().to_vec()
    }
}

pub fn infos(inputs: &[Option<&Owned>]) -> Vec<Option<TensorInfo>> {
    inputs.iter().map(|o| o.map(|t| t.info)).collect()
}

/// `check` only.
pub fn check(op: OpKind, params: &[u8], inputs: &[Option<&Owned>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    ops::check(op, params, &infos(inputs), outputs)
}

/// `check`, then `exec` into fresh outputs with exactly the scratch `check` asked for.
pub fn run_isa(op: OpKind, params: &[u8], inputs: &[Option<&Owned>], outputs: &[TensorInfo], isa: Isa) -> Result<Vec<Owned>, OpError> {
    let need = check(op, params, inputs, outputs)?;
    run_isa_scratch(op, params, inputs, outputs, isa, need)
}

/// `check`, then `exec` into fresh outputs with `scratch` bytes of scratch (e.g. what
/// `ops::scratch_wanted` asks for, which the converter plans).
pub fn run_isa_scratch(op: OpKind, params: &[u8], inputs: &[Option<&Owned>], outputs: &[TensorInfo], isa: Isa, need: usize) -> Result<Vec<Owned>, OpError> {
    check(op, params, inputs, outputs)?;
    let mut outs: Vec<Owned> = outputs.iter().map(|i| Owned::zeros(i.dtype, i.shape.dims())).collect();
    let views: Vec<Option<TensorView>> = inputs.iter().map(|o| o.map(|t| t.view())).collect();
    let mut out_views: Vec<TensorViewMut> =
        outs.iter_mut().map(|o| TensorViewMut { info: o.info, bytes: o.buf.as_mut_slice() }).collect();
    let mut scratch = AlignedBuf::new(need);
    ops::exec(op, params, &views, &mut out_views, scratch.as_mut_slice(), isa)?;
    drop(out_views);
    Ok(outs)
}

pub fn run(op: OpKind, params: &[u8], inputs: &[Option<&Owned>], outputs: &[TensorInfo]) -> Result<Vec<Owned>, OpError> {
    run_isa(op, params, inputs, outputs, Isa::detect())
}

pub fn run1(op: OpKind, params: &[u8], inputs: &[&Owned], out: TensorInfo) -> Owned {
    let ins: Vec<Option<&Owned>> = inputs.iter().map(|&t| Some(t)).collect();
    run(op, params, &ins, &[out]).unwrap().remove(0)
}

pub fn bytes<P: bytemuck::Pod>(p: &P) -> Vec<u8> {
    bytemuck::bytes_of(p).to_vec()
}

/// Element-wise closeness with absolute + relative tolerance.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || (g == w) || (g - w).abs() <= tol * (1.0 + w.abs());
        assert!(ok, "element {i}: got {g}, want {w}");
    }
}

/// Deterministic pseudo-random f32 in [-1, 1).
pub fn rand_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Row-major strides.
pub fn strides(d: &[usize]) -> Vec<usize> {
    let mut s = vec![1; d.len()];
    for i in (0..d.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * d[i + 1];
    }
    s
}

/// Multi-index of flat index `k` in `d`.
pub fn unravel(mut k: usize, d: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; d.len()];
    for i in (0..d.len()).rev() {
        idx[i] = k % d[i];
        k /= d[i];
    }
    idx
}

/// numpy broadcast of shapes (reference, independent of the runtime's).
pub fn np_broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = if da == db { da } else if da == 1 { db } else if db == 1 { da } else { return None };
    }
    Some(out)
}

/// Flat index into `src` (shape `s`) of output multi-index `idx` under numpy broadcasting.
pub fn bcast_index(idx: &[usize], s: &[usize]) -> usize {
    let off = idx.len() - s.len();
    let st = strides(s);
    (0..s.len()).map(|i| if s[i] == 1 { 0 } else { idx[i + off] * st[i] }).sum()
}
