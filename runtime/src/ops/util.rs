//! Helpers shared by the ops: validation of infos, typed data access with length checks,
//! numpy broadcasting and allocation-free strided iteration.
//!
//! Offsets and strides are in elements. Strides are `isize` so that a negative Slice step is a
//! negative stride; every offset handed to a callback is non-negative and in bounds whenever the
//! shapes passed `check`.
use crate::error::OpError;
use crate::tensor::{DType, Encoding, Shape, TensorInfo, TensorView, TensorViewMut, MAX_RANK};

/// Rejects encodings other than dense (the only one ops compute on).
pub(crate) fn dense(info: &TensorInfo) -> Result<(), OpError> {
    #[allow(unreachable_patterns)]
    match info.encoding {
        Encoding::Dense => Ok(()),
        _ => Err(OpError::Unsupported("tensor encoding is not dense")),
    }
}

/// Dense and of dtype `dt`.
pub(crate) fn expect(info: &TensorInfo, dt: DType, what: &'static str) -> Result<(), OpError> {
    dense(info)?;
    if info.dtype != dt {
        return Err(OpError::BadShape(what));
    }
    Ok(())
}

/// Exactly `n` outputs and between `min` and `max` inputs (absent trailing optionals allowed).
pub(crate) fn counts<T>(inputs: &[Option<T>], outputs: usize, min: usize, max: usize, n_out: usize) -> Result<(), OpError> {
    if inputs.len() < min || inputs.len() > max {
        return Err(OpError::BadShape("wrong number of inputs"));
    }
    if outputs != n_out {
        return Err(OpError::BadShape("wrong number of outputs"));
    }
    Ok(())
}

/// Numel with overflow turned into an error.
pub(crate) fn numel(s: &Shape) -> Result<usize, OpError> {
    s.checked_numel().ok_or(OpError::BadShape("element count overflows"))
}

fn cast_in<'a, T: bytemuck::Pod>(info: &TensorInfo, bytes: &'a [u8]) -> Result<&'a [T], OpError> {
    if core::mem::size_of::<T>() != info.dtype.size() {
        return Err(OpError::BadShape("tensor dtype does not fit the op"));
    }
    let s: &[T] = if bytes.is_empty() {
        &[]
    } else {
        bytemuck::try_cast_slice(bytes).map_err(|_| OpError::BadShape("tensor data misaligned for its dtype"))?
    };
    if s.len() != info.shape.numel() {
        return Err(OpError::BadShape("tensor data length does not match its shape"));
    }
    Ok(s)
}

/// The elements of an input as `T` (same size as its dtype), length-checked against the shape.
pub(crate) fn data<'a, T: bytemuck::Pod>(v: &TensorView<'a>) -> Result<&'a [T], OpError> {
    cast_in(&v.info, v.bytes)
}

/// The elements of an output as `T`, length-checked against the shape.
pub(crate) fn data_mut<'s, T: bytemuck::Pod>(v: &'s mut TensorViewMut<'_>) -> Result<&'s mut [T], OpError> {
    if core::mem::size_of::<T>() != v.info.dtype.size() {
        return Err(OpError::BadShape("tensor dtype does not fit the op"));
    }
    let n = v.info.shape.numel();
    let s: &mut [T] = if v.bytes.is_empty() {
        &mut []
    } else {
        bytemuck::try_cast_slice_mut(&mut *v.bytes).map_err(|_| OpError::BadShape("tensor data misaligned for its dtype"))?
    };
    if s.len() != n {
        return Err(OpError::BadShape("tensor data length does not match its shape"));
    }
    Ok(s)
}

/// Row-major strides as `isize`.
pub(crate) fn strides(s: &Shape) -> [isize; MAX_RANK] {
    let st = s.strides();
    core::array::from_fn(|i| st[i] as isize)
}

/// numpy broadcast of two shapes; `None` if incompatible.
pub(crate) fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
    let r = a.rank().max(b.rank());
    let mut d = [0usize; MAX_RANK];
    for (i, di) in d.iter_mut().enumerate().take(r) {
        let da = if i + a.rank() >= r { a[i + a.rank() - r] } else { 1 };
        let db = if i + b.rank() >= r { b[i + b.rank() - r] } else { 1 };
        *di = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Shape::new(&d[..r])
}

/// Whether `s` broadcasts to exactly `out` (unidirectionally).
pub(crate) fn broadcasts_to(s: &Shape, out: &Shape) -> bool {
    s.rank() <= out.rank() && broadcast(s, out) == Some(*out)
}

/// Strides of `s` seen through the broadcast to `out` (rank of `out`; 0 on broadcast axes).
/// `s` must broadcast to `out`.
pub(crate) fn bcast_strides(s: &Shape, out: &Shape) -> [isize; MAX_RANK] {
    let st = strides(s);
    let off = out.rank() - s.rank();
    let mut r = [0isize; MAX_RANK];
    for i in 0..s.rank() {
        r[i + off] = if s[i] == 1 { 0 } else { st[i] };
    }
    r
}

/// Calls `f(offsets, n, inner_strides)` for each run along the innermost (coalesced) axis of an
/// iteration space `dims`, where operand `k` starts at `base[k]` and moves by `strides[k]`.
/// Element `t` of a run is at `offsets[k] + t * inner_strides[k]`. Nothing is called if any dim
/// is 0; a rank-0 space is one run of length 1.
pub(crate) fn for_each_run<const K: usize>(
    dims: &[usize],
    strides: [[isize; MAX_RANK]; K],
    base: [isize; K],
    mut f: impl FnMut([usize; K], usize, [isize; K]),
) {
    let mut d = [0usize; MAX_RANK];
    let mut st = [[0isize; MAX_RANK]; K];
    let mut r = 0;
    for (i, &di) in dims.iter().enumerate() {
        if di == 0 {
            return;
        }
        if di == 1 {
            continue;
        }
        // Merge axis i into the previous kept axis when every operand is contiguous across them.
        if r > 0 && (0..K).all(|k| st[k][r - 1] == strides[k][i] * di as isize) {
            d[r - 1] *= di;
            for k in 0..K {
                st[k][r - 1] = strides[k][i];
            }
            continue;
        }
        d[r] = di;
        for k in 0..K {
            st[k][r] = strides[k][i];
        }
        r += 1;
    }
    let to_u = |o: [isize; K]| -> [usize; K] { core::array::from_fn(|k| o[k] as usize) };
    if r == 0 {
        f(to_u(base), 1, [0; K]);
        return;
    }
    let n = d[r - 1];
    let inner: [isize; K] = core::array::from_fn(|k| st[k][r - 1]);
    let mut idx = [0usize; MAX_RANK];
    let mut off = base;
    loop {
        f(to_u(off), n, inner);
        let mut ax = r - 1;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            for k in 0..K {
                off[k] += st[k][ax];
            }
            if idx[ax] < d[ax] {
                break;
            }
            for k in 0..K {
                off[k] -= st[k][ax] * d[ax] as isize;
            }
            idx[ax] = 0;
        }
    }
}

/// Index of element `t` in a run starting at `o` with stride `s`.
#[inline(always)]
pub(crate) fn at(o: usize, t: usize, s: isize) -> usize {
    (o as isize + t as isize * s) as usize
}

/// Splits `scratch` (64-aligned) into an f32 region of `n` elements at byte offset `off`
/// (rounded up to 64); returns it and the byte offset just past it.
pub(crate) fn f32_region(scratch: &mut [u8], off: usize, n: usize) -> Result<(&mut [f32], usize), OpError> {
    let start = off.div_ceil(64) * 64;
    let end = start.checked_add(n * 4).ok_or(OpError::BadShape("scratch size overflows"))?;
    let bytes = scratch.get_mut(start..end).ok_or(OpError::BadShape("scratch smaller than the op needs"))?;
    let s: &mut [f32] = if bytes.is_empty() {
        &mut []
    } else {
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| OpError::BadShape("scratch misaligned"))?
    };
    Ok((s, end))
}

/// Bytes of an f32 region of `n` elements placed after `off` bytes by [`f32_region`].
pub(crate) fn f32_region_end(off: usize, n: usize) -> Result<usize, OpError> {
    n.checked_mul(4)
        .and_then(|b| (off.div_ceil(64) * 64).checked_add(b))
        .ok_or(OpError::BadShape("scratch size overflows"))
}

/// Calls `f(index)` for every multi-index of `dims` in row-major order (nothing if a dim is 0;
/// once for rank 0).
pub(crate) fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize; MAX_RANK])) {
    if dims.contains(&0) {
        return;
    }
    let r = dims.len();
    let mut idx = [0usize; MAX_RANK];
    loop {
        f(&idx);
        let mut ax = r;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            if idx[ax] < dims[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
}

/// Runs `$body` with `$t` bound to the unsigned integer type of `$esize` bytes (for ops that
/// only move elements and so need not know the dtype). Evaluates to a `Result<(), OpError>`.
macro_rules! by_size {
    ($esize:expr, $t:ident, $body:block) => {
        match $esize {
            1 => {
                type $t = u8;
                $body
            }
            2 => {
                type $t = u16;
                $body
            }
            4 => {
                type $t = u32;
                $body
            }
            8 => {
                type $t = u64;
                $body
            }
            _ => Err(OpError::Unsupported("element size")),
        }
    };
}
pub(crate) use by_size;

/// The bytes of a dense tensor, length-checked against its shape and dtype.
pub(crate) fn raw<'a>(info: &TensorInfo, bytes: &'a [u8]) -> Result<&'a [u8], OpError> {
    if info.dtype == DType::F16 || Some(bytes.len()) != info.shape.numel().checked_mul(info.dtype.size()) {
        return Err(OpError::BadShape("tensor data length does not match its shape"));
    }
    Ok(bytes)
}

/// An element of the dtype-generic loops (binary ops' cold path, Cast): integers (i64, i32, u8, bool) widened to i64, f32 to f64. This gives the
/// same results as computing in the element's own dtype: wrapping add/sub/mul/div/rem on i64
/// truncated to 32 bits equal the i32 ones, f32 → f64 is exact and keeps the order, and f32 Mod
/// narrows back to f32 for fmodf.
#[derive(Clone, Copy)]
pub(crate) enum Val {
    I(i64),
    F(f64),
}

impl Val {
    pub(crate) fn f64(self) -> f64 {
        match self {
            Val::I(v) => v as f64,
            Val::F(v) => v,
        }
    }
}

fn elem<const N: usize>(bytes: &[u8], i: usize) -> [u8; N] {
    let mut e = [0u8; N];
    e.copy_from_slice(&bytes[i * N..i * N + N]);
    e
}

/// Element `i` of `bytes` holding `dt` elements; any non-zero bool byte is true. (F16 never
/// reaches here: `raw` rejects it.)
pub(crate) fn load(bytes: &[u8], dt: DType, i: usize) -> Val {
    match dt {
        DType::F32 => Val::F(f32::from_ne_bytes(elem(bytes, i)) as f64),
        DType::I64 => Val::I(i64::from_ne_bytes(elem(bytes, i))),
        DType::I32 => Val::I(i32::from_ne_bytes(elem(bytes, i)) as i64),
        DType::Bool => Val::I((bytes[i] != 0) as i64),
        _ => Val::I(bytes[i] as i64),
    }
}

/// Stores `v` as element `i` of `dt`: integers wrap (i64 → i32), floats convert with `as`
/// (saturating), bool is `v != 0`.
pub(crate) fn store(bytes: &mut [u8], dt: DType, i: usize, v: Val) {
    fn put<const N: usize>(bytes: &mut [u8], i: usize, e: [u8; N]) {
        bytes[i * N..i * N + N].copy_from_slice(&e);
    }
    match (dt, v) {
        // i64 -> f32 directly: through f64 it would round twice.
        (DType::F32, Val::I(x)) => put(bytes, i, (x as f32).to_ne_bytes()),
        (DType::F32, Val::F(x)) => put(bytes, i, (x as f32).to_ne_bytes()),
        (DType::I64, Val::I(x)) => put(bytes, i, x.to_ne_bytes()),
        (DType::I64, Val::F(x)) => put(bytes, i, (x as i64).to_ne_bytes()),
        (DType::I32, Val::I(x)) => put(bytes, i, (x as i32).to_ne_bytes()),
        (DType::I32, Val::F(x)) => put(bytes, i, (x as i32).to_ne_bytes()),
        (DType::Bool, Val::I(x)) => bytes[i] = (x != 0) as u8,
        (DType::Bool, Val::F(x)) => bytes[i] = (x != 0.0) as u8,
        (_, Val::I(x)) => bytes[i] = x as u8,
        (_, Val::F(x)) => bytes[i] = x as u8,
    }
}

pub(crate) use sprig_kernels::vmath::fold_lanes;

/// Sum of `xs`.
pub(crate) fn sum_lanes(xs: &[f32]) -> f32 {
    fold_lanes(xs, 0.0, |a, v| a + v, |a, v| a + v)
}
