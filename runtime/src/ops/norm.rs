//! Normalisations and reductions: Softmax, LogSoftmax, LayerNorm, Reduce{Mean,Sum,Max,Min,Prod},
//! ArgMax.
//!
//! - Softmax/LogSoftmax (f32): over `axis` (ONNX ≥ 13), or with `flag = 1` over all axes from
//!   `axis` to the end (ONNX < 13). Max-subtracted for stability.
//! - LayerNorm (f32): over axes `axis..`; scale and bias hold one value per normalised element
//!   (their shapes equal `dims[axis..]` up to leading 1s) or a single value.
//!   Population variance, `y = (x - mean) / sqrt(var + eps) * scale + bias`. One output.
//! - Reduce*: axes from the bit mask; the output shape is either keepdims (reduced axes become 1)
//!   or squeezed. F32 for all; I64/I32 for Sum, Max, Min, Prod (wrapping). An empty reduction
//!   gives the identity (0, 1, -inf/MIN, +inf/MAX; Mean of nothing is NaN).
//! - ArgMax: F32/I64/I32 in, I64 out, keepdims or squeezed; first maximum unless `flag = 1`.
use super::params::{AxisParams, LayerNormParams, ReduceParams};
use super::util::{counts, data, data_mut, dense, expect, fold_lanes, for_each_run, numel, strides, sum_lanes};
use super::{read_params, req, OpKind};
use crate::error::OpError;
use crate::par::{DisjointMut, Workers, TASKS_PER_THREAD};
use crate::tensor::{DType, Shape, TensorInfo, TensorView, TensorViewMut, MAX_RANK};
use sprig_kernels::vmath::{self, Func};

/// (outer, len, inner) of a softmax over `axis` (or over `axis..` when `flat`).
fn softmax_split(s: &Shape, axis: usize, flat: bool) -> (usize, usize, usize) {
    let d = s.dims();
    let outer = d[..axis].iter().product();
    if flat {
        (outer, d[axis..].iter().product(), 1)
    } else {
        (outer, d[axis], d[axis + 1..].iter().product())
    }
}

/// The shape after reducing the axes in `mask`: keepdims or squeezed.
fn reduced_shape(s: &Shape, mask: u32, keep: bool) -> Shape {
    let mut d = [0usize; MAX_RANK];
    let mut r = 0;
    for i in 0..s.rank() {
        if mask >> i & 1 == 1 {
            if keep {
                d[r] = 1;
                r += 1;
            }
        } else {
            d[r] = s[i];
            r += 1;
        }
    }
    Shape::new(&d[..r]).unwrap_or(Shape::SCALAR)
}

fn check_reduced_out(x: &Shape, mask: u32, y: &Shape) -> Result<(), OpError> {
    if *y != reduced_shape(x, mask, true) && *y != reduced_shape(x, mask, false) {
        return Err(OpError::BadShape("output shape is not the input with the reduced axes kept as 1 or removed"));
    }
    Ok(())
}

/// The dims after dropping leading 1s (`[1, 1, D]` and `[D]` describe the same per-element data).
fn strip_ones(s: &Shape) -> &[usize] {
    let d = s.dims();
    let k = d.iter().take_while(|&&v| v == 1).count();
    &d[k..]
}

pub(crate) fn check(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    use OpKind::*;
    let x = req(inputs, 0, "missing input")?;
    for t in inputs.iter().flatten().chain(outputs) {
        dense(t)?;
        numel(&t.shape)?;
    }
    let r = x.shape.rank();
    match op {
        Softmax | LogSoftmax => {
            let p: AxisParams = read_params(params)?;
            counts(inputs, outputs.len(), 1, 1, 1)?;
            if p.axis as usize >= r.max(1) || p.flag > 1 || (r == 0 && p.axis != 0) {
                return Err(OpError::BadParams("softmax axis out of range or bad flag"));
            }
            expect(&x, DType::F32, "softmax is f32 only")?;
            expect(&outputs[0], DType::F32, "softmax is f32 only")?;
            if r == 0 {
                return Err(OpError::BadShape("softmax of a scalar"));
            }
            if outputs[0].shape != x.shape {
                return Err(OpError::BadShape("output shape differs from the input's"));
            }
        }
        LayerNorm => {
            let p: LayerNormParams = read_params(params)?;
            counts(inputs, outputs.len(), 2, 3, 1)?;
            let ax = p.axis as usize;
            if ax >= r || !(p.epsilon >= 0.0 && p.epsilon.is_finite()) {
                return Err(OpError::BadParams("LayerNorm axis out of range or bad epsilon"));
            }
            let ns = Shape::new(&x.shape.dims()[ax..]).unwrap_or(Shape::SCALAR);
            for (i, t) in inputs.iter().enumerate() {
                let Some(t) = t else { continue };
                expect(t, DType::F32, "LayerNorm is f32 only")?;
                if i > 0 && !(t.shape.numel() == 1 || strip_ones(&t.shape) == strip_ones(&ns)) {
                    return Err(OpError::BadShape("LayerNorm scale/bias do not match the normalised axes"));
                }
            }
            expect(&outputs[0], DType::F32, "LayerNorm is f32 only")?;
            if outputs[0].shape != x.shape {
                return Err(OpError::BadShape("output shape differs from the input's"));
            }
        }
        ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceProd => {
            let p: ReduceParams = read_params(params)?;
            counts(inputs, outputs.len(), 1, 2, 1)?;
            if r < 32 && p.axes_mask >> r != 0 {
                return Err(OpError::BadParams("reduce axes mask names axes past the rank"));
            }
            let ok = match x.dtype {
                DType::F32 => true,
                DType::I64 | DType::I32 => op != ReduceMean,
                _ => false,
            };
            if !ok || outputs[0].dtype != x.dtype {
                return Err(OpError::BadShape("reduce dtype not supported or output dtype differs"));
            }
            check_reduced_out(&x.shape, p.axes_mask, &outputs[0].shape)?;
        }
        ArgMax => {
            let p: AxisParams = read_params(params)?;
            counts(inputs, outputs.len(), 1, 1, 1)?;
            if p.axis as usize >= r || p.flag > 1 {
                return Err(OpError::BadParams("ArgMax axis out of range or bad flag"));
            }
            if !matches!(x.dtype, DType::F32 | DType::I64 | DType::I32) || outputs[0].dtype != DType::I64 {
                return Err(OpError::BadShape("ArgMax takes f32/i64/i32 and outputs i64"));
            }
            check_reduced_out(&x.shape, 1 << p.axis, &outputs[0].shape)?;
        }
        _ => return Err(OpError::Unsupported("not a normalisation or reduction")),
    }
    Ok(0)
}

/// Sum of the squares of `xs`.
fn sum_sq_lanes(xs: &[f32]) -> f32 {
    fold_lanes(xs, 0.0, |a, v| a + v * v, |a, v| a + v)
}

/// Largest element of `xs` (NaNs are skipped, as by `f32::max`); -inf when empty.
fn max_lanes(xs: &[f32]) -> f32 {
    fold_lanes(xs, f32::NEG_INFINITY, f32::max, f32::max)
}

/// Softmax (or LogSoftmax when `!soft`) of whole groups: `x` and `y` hold some number of
/// `len × inner` blocks; each of the `inner` lanes of a block is normalised over its `len` values.
fn softmax_rows(soft: bool, xd: &[f32], yd: &mut [f32], len: usize, inner: usize) {
    let outer = xd.len().min(yd.len()) / (len * inner).max(1);
    if inner == 1 && soft {
        // Contiguous rows: the whole row in the kernels' vmath, compiled for the CPU's ISA (a
        // scalar expf per element was 34 ns/element, BENCHMARKS.md "Dense kernel improvements";
        // max, sum and scale around vmath's exp, compiled for the baseline, 1.9 ns/element on
        // BERT's rows of 128, as LogSoftmax still is).
        let n = outer * len;
        vmath::softmax_rows(vmath::native(), &xd[..n], &mut yd[..n], len);
        return;
    }
    if inner == 1 {
        let isa = vmath::native();
        for (xr, yr) in xd.chunks_exact(len).zip(yd.chunks_exact_mut(len)).take(outer) {
            let m = max_lanes(xr);
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = v - m;
            }
            vmath::map_inplace(isa, Func::Exp, yr);
            let ls = libm::logf(sum_lanes(yr));
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = v - m - ls;
            }
        }
        return;
    }
    for o in 0..outer {
        for j in 0..inner {
            let base = o * len * inner + j;
            let mut m = f32::NEG_INFINITY;
            for k in 0..len {
                m = m.max(xd[base + k * inner]);
            }
            let mut sum = 0f32;
            for k in 0..len {
                let e = vmath::apply(Func::Exp, xd[base + k * inner] - m);
                yd[base + k * inner] = e;
                sum += e;
            }
            if soft {
                let inv = 1.0 / sum;
                for k in 0..len {
                    yd[base + k * inner] *= inv;
                }
            } else {
                let ls = libm::logf(sum);
                for k in 0..len {
                    yd[base + k * inner] = xd[base + k * inner] - m - ls;
                }
            }
        }
    }
}

pub(crate) fn exec(op: OpKind, params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut], workers: &Workers) -> Result<(), OpError> {
    use OpKind::*;
    let x = req(inputs, 0, "missing input")?;
    let y = outputs.first_mut().ok_or(OpError::BadShape("needs one output"))?;
    let xs = x.info.shape;
    match op {
        Softmax | LogSoftmax => {
            let p: AxisParams = read_params(params)?;
            if p.axis as usize >= xs.rank() || y.info.shape != xs {
                return Err(OpError::BadShape("softmax axis or shape"));
            }
            let (outer, len, inner) = softmax_split(&xs, p.axis as usize, p.flag == 1);
            let xd = data::<f32>(&x)?;
            let yd = data_mut::<f32>(y)?;
            let block = len * inner;
            if block == 0 || xd.len() != yd.len() || xd.len() < outer * block {
                return Ok(());
            }
            // Split by whole softmax groups (`block` = `len × inner` elements each), counted as
            // 8 operations per element (exp).
            let yd = DisjointMut::new(&mut yd[..outer * block]);
            let work = (outer * block).saturating_mul(8);
            workers.for_ranges(outer, 1, work, workers.threads() * TASKS_PER_THREAD, &|r, _| {
                let xs = &xd[r.start * block..r.end * block];
                // SAFETY: the ranges of one split are disjoint, so are these groups of `y`.
                let ys = unsafe { yd.range(r.start * block..r.end * block) };
                softmax_rows(op == Softmax, xs, ys, len, inner);
            });
            Ok(())
        }
        LayerNorm => {
            let p: LayerNormParams = read_params(params)?;
            let ax = p.axis as usize;
            if ax >= xs.rank() || y.info.shape != xs {
                return Err(OpError::BadShape("LayerNorm axis or shape"));
            }
            let ns: usize = xs.dims()[ax..].iter().product();
            let scale = data::<f32>(&req(inputs, 1, "LayerNorm needs a scale")?)?;
            let bias = match inputs.get(2).copied().flatten() {
                Some(b) => Some(data::<f32>(&b)?),
                None => None,
            };
            let pick = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i] };
            if scale.len() != 1 && scale.len() != ns || bias.is_some_and(|b| b.len() != 1 && b.len() != ns) {
                return Err(OpError::BadShape("LayerNorm scale/bias size"));
            }
            let xd = data::<f32>(&x)?;
            let yd = data_mut::<f32>(y)?;
            if ns == 0 {
                return Ok(());
            }
            // Split by whole rows of `ns` elements (about 4 operations per element).
            let rows = xd.len().min(yd.len()) / ns;
            let yd = DisjointMut::new(&mut yd[..rows * ns]);
            workers.for_ranges(rows, 1, (rows * ns).saturating_mul(4), workers.threads() * TASKS_PER_THREAD, &|r, _| {
                // SAFETY: the ranges of one split are disjoint, so are these rows of `y`.
                let ys = unsafe { yd.range(r.start * ns..r.end * ns) };
                for (xr, yr) in xd[r.start * ns..r.end * ns].chunks_exact(ns).zip(ys.chunks_exact_mut(ns)) {
                    let mean = sum_lanes(xr) / ns as f32;
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = v - mean;
                    }
                    let var = sum_sq_lanes(yr) / ns as f32;
                    let inv = 1.0 / libm::sqrtf(var + p.epsilon);
                    match bias {
                        // The usual case (per-element scale and bias) as one straight loop.
                        Some(b) if scale.len() == ns && b.len() == ns => {
                            for ((o, &sc), &bb) in yr.iter_mut().zip(scale).zip(b) {
                                *o = *o * inv * sc + bb;
                            }
                        }
                        _ => {
                            for (i, o) in yr.iter_mut().enumerate() {
                                *o = *o * inv * pick(scale, i) + bias.map_or(0.0, |b| pick(b, i));
                            }
                        }
                    }
                }
            });
            Ok(())
        }
        ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceProd => {
            let p: ReduceParams = read_params(params)?;
            check_reduced_out(&xs, p.axes_mask, &y.info.shape)?;
            match x.info.dtype {
                DType::F32 => reduce::<f32>(op, &x, y, p.axes_mask),
                DType::I64 => reduce::<i64>(op, &x, y, p.axes_mask),
                DType::I32 => reduce::<i32>(op, &x, y, p.axes_mask),
                _ => Err(OpError::BadShape("reduce dtype")),
            }
        }
        ArgMax => {
            let p: AxisParams = read_params(params)?;
            let ax = p.axis as usize;
            if ax >= xs.rank() {
                return Err(OpError::BadParams("ArgMax axis"));
            }
            check_reduced_out(&xs, 1 << ax, &y.info.shape)?;
            match x.info.dtype {
                DType::F32 => argmax::<f32>(&x, y, ax, p.flag == 1),
                DType::I64 => argmax::<i64>(&x, y, ax, p.flag == 1),
                DType::I32 => argmax::<i32>(&x, y, ax, p.flag == 1),
                _ => Err(OpError::BadShape("ArgMax dtype")),
            }
        }
        _ => Err(OpError::Unsupported("not a normalisation or reduction")),
    }
}

trait RElem: bytemuck::Pod + PartialOrd {
    const LOWEST: Self;
    const HIGHEST: Self;
    const ZERO: Self;
    const ONE: Self;
    fn add(a: Self, b: Self) -> Self;
    fn mul(a: Self, b: Self) -> Self;
    fn div_count(a: Self, n: usize) -> Self;
}

impl RElem for f32 {
    const LOWEST: f32 = f32::NEG_INFINITY;
    const HIGHEST: f32 = f32::INFINITY;
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    fn div_count(a: f32, n: usize) -> f32 {
        a / n as f32
    }
}

macro_rules! int_relem {
    ($t:ty) => {
        impl RElem for $t {
            const LOWEST: $t = <$t>::MIN;
            const HIGHEST: $t = <$t>::MAX;
            const ZERO: $t = 0;
            const ONE: $t = 1;
            fn add(a: $t, b: $t) -> $t {
                a.wrapping_add(b)
            }
            fn mul(a: $t, b: $t) -> $t {
                a.wrapping_mul(b)
            }
            fn div_count(a: $t, n: usize) -> $t {
                if n == 0 {
                    0
                } else {
                    a / n as $t
                }
            }
        }
    };
}
int_relem!(i64);
int_relem!(i32);

fn reduce<T: RElem>(op: OpKind, x: &TensorView, y: &mut TensorViewMut, mask: u32) -> Result<(), OpError> {
    use OpKind::*;
    let xs = x.info.shape;
    let keep = reduced_shape(&xs, mask, true);
    let mut ys = strides(&keep);
    let mut count = 1usize;
    for (i, s) in ys.iter_mut().enumerate().take(xs.rank()) {
        if mask >> i & 1 == 1 {
            *s = 0;
            count *= xs[i];
        }
    }
    let xd = data::<T>(x)?;
    let yd = data_mut::<T>(y)?;
    let init = match op {
        ReduceMax => T::LOWEST,
        ReduceMin => T::HIGHEST,
        ReduceProd => T::ONE,
        _ => T::ZERO,
    };
    yd.fill(init);
    let f = |a: T, v: T| -> T {
        match op {
            ReduceMax => {
                if v > a || v.partial_cmp(&v).is_none() {
                    v
                } else {
                    a
                }
            }
            ReduceMin => {
                if v < a || v.partial_cmp(&v).is_none() {
                    v
                } else {
                    a
                }
            }
            ReduceProd => T::mul(a, v),
            _ => T::add(a, v),
        }
    };
    for_each_run(xs.dims(), [strides(&xs), ys], [0; 2], |o, n, s| {
        if s[1] == 0 {
            let mut acc = yd[o[1]];
            for &v in &xd[o[0]..o[0] + n] {
                acc = f(acc, v);
            }
            yd[o[1]] = acc;
        } else {
            for t in 0..n {
                let yi = super::util::at(o[1], t, s[1]);
                yd[yi] = f(yd[yi], xd[o[0] + t]);
            }
        }
    });
    if op == ReduceMean {
        for v in yd.iter_mut() {
            *v = T::div_count(*v, count);
        }
    }
    Ok(())
}

fn argmax<T: bytemuck::Pod + PartialOrd>(x: &TensorView, y: &mut TensorViewMut, ax: usize, last: bool) -> Result<(), OpError> {
    let xs = x.info.shape;
    let d = xs.dims();
    let (outer, len, inner): (usize, usize, usize) = (d[..ax].iter().product(), d[ax], d[ax + 1..].iter().product());
    let xd = data::<T>(x)?;
    let yd = data_mut::<i64>(y)?;
    if yd.len() != outer * inner {
        return Err(OpError::BadShape("ArgMax output size"));
    }
    for o in 0..outer {
        for j in 0..inner {
            let base = o * len * inner + j;
            let mut best = 0usize;
            for k in 1..len {
                let (v, b) = (xd[base + k * inner], xd[base + best * inner]);
                if v > b || (last && v == b) {
                    best = k;
                }
            }
            yd[o * inner + j] = best as i64;
        }
    }
    Ok(())
}
