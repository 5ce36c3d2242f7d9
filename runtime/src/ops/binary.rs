//! Elementwise binary ops with numpy broadcasting, plus PRelu and Where.
//!
//! Dtypes:
//! - Add, Sub, Mul, Div, Max, Min, Mod: both operands and the output F32, I64 or I32.
//! - Pow: base F32/I64/I32 (output dtype), exponent F32/I64/I32, computed in f64.
//! - Equal: F32/I64/I32/U8/Bool; Less, Greater, LessOrEqual, GreaterOrEqual: F32/I64/I32/U8;
//!   output Bool. And, Or, Xor: Bool.
//! - PRelu: F32, slope broadcast to X (output shape = X shape). Where: Bool condition, X and Y of
//!   one dtype, all three broadcast together.
//!
//! Integer semantics: Add/Sub/Mul wrap; Div truncates toward zero; Mod takes the sign of the
//! divisor (ONNX `fmod = 0`); **integer division or Mod by zero yields 0** (no panic, no error).
//! f32 Mod is C `fmod` (ONNX requires `fmod = 1` for floats). Max/Min propagate NaN.
//!
//! Params: [`BinaryParams`] (or an empty block, meaning no activation); the fused activation is
//! only allowed on an F32 output.
//!
//! Fast paths (f32 Add/Sub/Mul/Div/Max/Min, PRelu and f32 comparisons, one monomorphised loop
//! each): equal shapes, a single-element operand, otherwise a strided broadcast walk whose axes
//! are coalesced, so a per-channel `[C,1,1]` operand becomes runs of constant value. Everything
//! else (integer and bool tensors, f32 Mod and Pow) shares one element-at-a-time loop (`zip_cold`)
//! to keep the binary small.
use super::params::BinaryParams;
use super::util::{at, load, raw, store, Val, bcast_strides, broadcast, counts, data, data_mut, dense, for_each_run, numel};
use super::{read_params, req, OpKind};
use crate::error::OpError;
use crate::par::{DisjointMut, Workers, TASKS_PER_THREAD};
use crate::tensor::{DType, Shape, TensorInfo, TensorView, TensorViewMut, MAX_RANK};
use sprig_kernels::Activation;

fn activation(params: &[u8]) -> Result<Activation, OpError> {
    if params.is_empty() {
        return Ok(Activation::NONE);
    }
    let p: BinaryParams = read_params(params)?;
    p.act.activation().ok_or(OpError::BadParams("unknown fused activation kind"))
}

fn is_num(d: DType) -> bool {
    matches!(d, DType::F32 | DType::I64 | DType::I32)
}

pub(crate) fn check(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    use OpKind::*;
    let act = activation(params)?;
    let n_in = if op == Where { 3 } else { 2 };
    counts(inputs, outputs.len(), n_in, n_in, 1)?;
    let a = req(inputs, 0, "missing first input")?;
    let b = req(inputs, 1, "missing second input")?;
    let y = &outputs[0];
    for t in [&a, &b, y] {
        dense(t)?;
        numel(&t.shape)?;
    }
    let mut shape = broadcast(&a.shape, &b.shape).ok_or(OpError::BadShape("input shapes do not broadcast"))?;
    let out_dt = match op {
        Add | Sub | Mul | Div | Max | Min | Mod => {
            if !is_num(a.dtype) || b.dtype != a.dtype {
                return Err(OpError::BadShape("arithmetic needs two f32, i64 or i32 operands of one dtype"));
            }
            a.dtype
        }
        Pow => {
            if !is_num(a.dtype) || !is_num(b.dtype) {
                return Err(OpError::BadShape("Pow needs f32, i64 or i32 operands"));
            }
            a.dtype
        }
        Equal => {
            if b.dtype != a.dtype || a.dtype == DType::F16 {
                return Err(OpError::BadShape("Equal needs two operands of one non-f16 dtype"));
            }
            DType::Bool
        }
        Less | Greater | LessOrEqual | GreaterOrEqual => {
            if b.dtype != a.dtype || !matches!(a.dtype, DType::F32 | DType::I64 | DType::I32 | DType::U8) {
                return Err(OpError::BadShape("comparison needs two f32, i64, i32 or u8 operands of one dtype"));
            }
            DType::Bool
        }
        And | Or | Xor => {
            if a.dtype != DType::Bool || b.dtype != DType::Bool {
                return Err(OpError::BadShape("logical ops need bool operands"));
            }
            DType::Bool
        }
        PRelu => {
            if a.dtype != DType::F32 || b.dtype != DType::F32 {
                return Err(OpError::BadShape("PRelu is f32 only"));
            }
            if shape != a.shape {
                return Err(OpError::BadShape("PRelu slope does not broadcast to X"));
            }
            DType::F32
        }
        Where => {
            let c = req(inputs, 2, "Where needs X and Y")?;
            dense(&c)?;
            if a.dtype != DType::Bool || c.dtype != b.dtype || b.dtype == DType::F16 {
                return Err(OpError::BadShape("Where needs a bool condition and X, Y of one dtype"));
            }
            shape = broadcast(&shape, &c.shape).ok_or(OpError::BadShape("input shapes do not broadcast"))?;
            b.dtype
        }
        _ => return Err(OpError::Unsupported("not a binary op")),
    };
    if y.dtype != out_dt {
        return Err(OpError::BadShape("output dtype does not match the op and inputs"));
    }
    if y.shape != shape {
        return Err(OpError::BadShape("output shape is not the broadcast of the inputs"));
    }
    if act.kind != sprig_kernels::Act::None && out_dt != DType::F32 {
        return Err(OpError::BadParams("fused activation on a non-f32 output"));
    }
    Ok(0)
}

/// `y = f(a, b)` elementwise with broadcasting; `y`'s shape must be the broadcast. Split across
/// `workers` by contiguous output ranges (equal shapes, a single-element operand) or by the
/// outermost axis of the broadcast walk (each part is a contiguous block of `y`).
fn zip<A: bytemuck::Pod + Sync, B: bytemuck::Pod + Sync, O: bytemuck::Pod + Send>(
    a: &TensorView,
    b: &TensorView,
    y: &mut TensorViewMut,
    f: impl Fn(A, B) -> O + Sync,
    workers: &Workers,
) -> Result<(), OpError> {
    let ys: Shape = y.info.shape;
    let (sa, sb) = (a.info.shape, b.info.shape);
    if broadcast(&sa, &sb) != Some(ys) {
        return Err(OpError::BadShape("output shape is not the broadcast of the inputs"));
    }
    let ad = data::<A>(a)?;
    let bd = data::<B>(b)?;
    let yd = data_mut::<O>(y)?;
    let work = yd.len();
    if sa == ys && sb == ys {
        workers.for_slices(yd, work, &|r, yr| {
            for ((o, &x), &z) in yr.iter_mut().zip(&ad[r.clone()]).zip(&bd[r]) {
                *o = f(x, z);
            }
        });
    } else if sa == ys && bd.len() == 1 {
        let z = bd[0];
        workers.for_slices(yd, work, &|r, yr| {
            for (o, &x) in yr.iter_mut().zip(&ad[r]) {
                *o = f(x, z);
            }
        });
    } else if sb == ys && ad.len() == 1 {
        let x = ad[0];
        workers.for_slices(yd, work, &|r, yr| {
            for (o, &z) in yr.iter_mut().zip(&bd[r]) {
                *o = f(x, z);
            }
        });
    } else {
        let st = [bcast_strides(&sa, &ys), bcast_strides(&sb, &ys), super::util::strides(&ys)];
        // Split the outermost axis longer than 1 (all axes before it are 1, so a range of it is a
        // contiguous block of `y`).
        let dims = ys.dims();
        let ax = dims.iter().position(|&d| d > 1).unwrap_or(0);
        let outer = dims.get(ax).copied().unwrap_or(1);
        let ystep = st[2][ax].max(0) as usize;
        let yd = DisjointMut::new(yd);
        workers.for_ranges(outer, 1, work, workers.threads() * TASKS_PER_THREAD, &|r, _| {
            let mut sub = [0usize; MAX_RANK];
            sub[..dims.len()].copy_from_slice(dims);
            if let Some(d) = sub.get_mut(ax) {
                *d = r.len();
            }
            // SAFETY: the ranges of one split are disjoint, so are these blocks of `y`.
            let yb = unsafe { yd.range(r.start * ystep..r.end * ystep) };
            let base = [r.start as isize * st[0][ax], r.start as isize * st[1][ax], 0];
            for_each_run(&sub[..dims.len()], st, base, |o, n, s| {
                let yrun = &mut yb[o[2]..o[2] + n];
                match (s[0], s[1]) {
                    (1, 1) => {
                        for ((d, &x), &z) in yrun.iter_mut().zip(&ad[o[0]..o[0] + n]).zip(&bd[o[1]..o[1] + n]) {
                            *d = f(x, z);
                        }
                    }
                    (1, 0) => {
                        let z = bd[o[1]];
                        for (d, &x) in yrun.iter_mut().zip(&ad[o[0]..o[0] + n]) {
                            *d = f(x, z);
                        }
                    }
                    (0, 1) => {
                        let x = ad[o[0]];
                        for (d, &z) in yrun.iter_mut().zip(&bd[o[1]..o[1] + n]) {
                            *d = f(x, z);
                        }
                    }
                    (s0, s1) => {
                        for (t, d) in yrun.iter_mut().enumerate() {
                            *d = f(ad[at(o[0], t, s0)], bd[at(o[1], t, s1)]);
                        }
                    }
                }
            });
        });
    }
    Ok(())
}

/// The comparisons of the cold path by which orderings make them true: bit 0 = less, bit 1 =
/// equal, bit 2 = greater (NaN: none).
fn cmp_mask(op: OpKind) -> u8 {
    match op {
        OpKind::Less => 1,
        OpKind::Equal => 2,
        OpKind::LessOrEqual => 3,
        OpKind::Greater => 4,
        _ => 6, // GreaterOrEqual
    }
}

// The cold path: the ops and dtypes that are not f32 arithmetic (integer arithmetic, f32 Mod and
// Pow, non-f32 comparisons, logical ops) go through one non-generic loop that loads each element
// as a `Val`, so they cost one copy of the broadcast walk instead of one per op × dtype (the
// generic copies were ~110 KB of the 322 KB C example; README "Embedding"). They are shape
// arithmetic and masks, not hot layers; f32 Add/Sub/Mul/Div/Max/Min, PRelu and f32 comparisons
// keep their own monomorphised loops.

fn int_arith(op: OpKind, a: i64, b: i64) -> i64 {
    use OpKind::*;
    match op {
        Add => a.wrapping_add(b),
        Sub => a.wrapping_sub(b),
        Mul => a.wrapping_mul(b),
        // Integer division or Mod by zero yields 0 (module doc).
        Div | Mod if b == 0 => 0,
        Div => a.wrapping_div(b),
        Mod => {
            // The sign of the divisor (ONNX fmod = 0).
            let r = a.wrapping_rem(b);
            if r != 0 && ((r < 0) != (b < 0)) {
                r.wrapping_add(b)
            } else {
                r
            }
        }
        Max => a.max(b),
        _ => a.min(b), // Min
    }
}

fn float_arith(op: OpKind, a: f64, b: f64) -> f64 {
    use OpKind::*;
    match op {
        Add => a + b,
        Sub => a - b,
        Mul => a * b,
        Div => a / b,
        // C fmod (ONNX fmod = 1 for floats). The only float dtype here is f32, so `a` and `b` are
        // f32 values and fmodf is exact on them. (f64 fmod would also pull compiler_builtins'
        // 128-bit division into the C library, which on aarch64 fails to link without unwinding.)
        Mod => libm::fmodf(a as f32, b as f32) as f64,
        _ if a.is_nan() || b.is_nan() => f64::NAN,
        Max if a >= b => a,
        Min if a <= b => a,
        _ => b,
    }
}

/// One cold-path element of `op` (the dtypes passed `check`).
fn eval(op: OpKind, x: Val, z: Val) -> Val {
    use OpKind::*;
    match op {
        Pow => Val::F(libm::pow(x.f64(), z.f64())),
        Equal | Less | Greater | LessOrEqual | GreaterOrEqual => {
            let ord = match (x, z) {
                (Val::I(a), Val::I(b)) => Some(a.cmp(&b)),
                _ => x.f64().partial_cmp(&z.f64()),
            };
            let bit = match ord {
                Some(core::cmp::Ordering::Less) => 1,
                Some(core::cmp::Ordering::Equal) => 2,
                Some(core::cmp::Ordering::Greater) => 4,
                None => 0,
            };
            Val::I((cmp_mask(op) & bit != 0) as i64)
        }
        // Any non-zero byte is true.
        And | Or | Xor => {
            let (p, q) = (x.f64() != 0.0, z.f64() != 0.0);
            Val::I(match op {
                And => p && q,
                Or => p || q,
                _ => p != q,
            } as i64)
        }
        _ => match (x, z) {
            (Val::I(a), Val::I(b)) => Val::I(int_arith(op, a, b)),
            _ => Val::F(float_arith(op, x.f64(), z.f64())),
        },
    }
}

/// `y = eval(op, a, b)` elementwise with broadcasting: the cold path (see above).
fn zip_cold(op: OpKind, a: &TensorView, b: &TensorView, y: &mut TensorViewMut) -> Result<(), OpError> {
    let ys: Shape = y.info.shape;
    let (sa, sb) = (a.info.shape, b.info.shape);
    if broadcast(&sa, &sb) != Some(ys) {
        return Err(OpError::BadShape("output shape is not the broadcast of the inputs"));
    }
    let (adt, bdt, ydt) = (a.info.dtype, b.info.dtype, y.info.dtype);
    let ab = raw(&a.info, a.bytes)?;
    let bb = raw(&b.info, b.bytes)?;
    let yi = y.info;
    let yb = &mut *y.bytes;
    raw(&yi, yb)?;
    let st = [bcast_strides(&sa, &ys), bcast_strides(&sb, &ys), super::util::strides(&ys)];
    for_each_run(ys.dims(), st, [0; 3], |o, n, s| {
        for t in 0..n {
            let v = eval(op, load(ab, adt, at(o[0], t, s[0])), load(bb, bdt, at(o[1], t, s[1])));
            store(yb, ydt, at(o[2], t, s[2]), v);
        }
    });
    Ok(())
}

pub(crate) fn exec(op: OpKind, params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut], workers: &Workers) -> Result<(), OpError> {
    use OpKind::*;
    let act = activation(params)?;
    let a = req(inputs, 0, "missing first input")?;
    let b = req(inputs, 1, "missing second input")?;
    let y = outputs.first_mut().ok_or(OpError::BadShape("binary op needs one output"))?;
    let dt = a.info.dtype;
    match op {
        Add | Sub | Mul | Div | Max | Min | Mod | Pow => {
            if y.info.dtype != dt || !is_num(dt) || !is_num(b.info.dtype) || (op != Pow && b.info.dtype != dt) {
                return Err(OpError::BadShape("arithmetic dtypes"));
            }
            match (dt, op) {
                (DType::F32, Add) => zip(&a, &b, y, |x: f32, z: f32| x + z, workers)?,
                (DType::F32, Sub) => zip(&a, &b, y, |x: f32, z: f32| x - z, workers)?,
                (DType::F32, Mul) => zip(&a, &b, y, |x: f32, z: f32| x * z, workers)?,
                (DType::F32, Div) => zip(&a, &b, y, |x: f32, z: f32| x / z, workers)?,
                // Max/Min propagate NaN.
                (DType::F32, Max) => zip(&a, &b, y, |x: f32, z: f32| if x.is_nan() || z.is_nan() { f32::NAN } else if x >= z { x } else { z }, workers)?,
                (DType::F32, Min) => zip(&a, &b, y, |x: f32, z: f32| if x.is_nan() || z.is_nan() { f32::NAN } else if x <= z { x } else { z }, workers)?,
                _ => zip_cold(op, &a, &b, y)?,
            }
        }
        Equal | Less | Greater | LessOrEqual | GreaterOrEqual => {
            if y.info.dtype != DType::Bool || b.info.dtype != dt || dt == DType::F16 {
                return Err(OpError::BadShape("comparison dtypes"));
            }
            if dt == DType::F32 {
                // Three loops: Greater and GreaterOrEqual are Less and LessOrEqual with the
                // operands swapped (broadcasting is symmetric). One loop testing a mask of
                // less/equal/greater bits was 2.8x slower.
                match op {
                    Equal => zip(&a, &b, y, |x: f32, z: f32| (x == z) as u8, workers)?,
                    Less => zip(&a, &b, y, |x: f32, z: f32| (x < z) as u8, workers)?,
                    Greater => zip(&b, &a, y, |x: f32, z: f32| (x < z) as u8, workers)?,
                    LessOrEqual => zip(&a, &b, y, |x: f32, z: f32| (x <= z) as u8, workers)?,
                    _ => zip(&b, &a, y, |x: f32, z: f32| (x <= z) as u8, workers)?,
                }
            } else {
                zip_cold(op, &a, &b, y)?;
            }
        }
        And | Or | Xor => {
            if dt != DType::Bool || b.info.dtype != DType::Bool || y.info.dtype != DType::Bool {
                return Err(OpError::BadShape("logical ops need bool tensors"));
            }
            zip_cold(op, &a, &b, y)?;
        }
        PRelu => {
            if dt != DType::F32 || y.info.dtype != DType::F32 {
                return Err(OpError::BadShape("PRelu is f32 only"));
            }
            zip(&a, &b, y, |x: f32, s: f32| if x >= 0.0 { x } else { s * x }, workers)?;
        }
        Where => {
            let c = req(inputs, 2, "Where needs X and Y")?;
            return where_(&a, &b, &c, y);
        }
        _ => return Err(OpError::Unsupported("not a binary op")),
    }
    if y.info.dtype == DType::F32 && act.kind != sprig_kernels::Act::None {
        let yd = data_mut::<f32>(y)?;
        // Activations are a few to tens of operations per element (GELU's erf).
        workers.for_slices(yd, yd.len().saturating_mul(8), &|_, yr| act.apply_slice(yr));
    }
    Ok(())
}

fn where_(cond: &TensorView, x: &TensorView, yv: &TensorView, out: &mut TensorViewMut) -> Result<(), OpError> {
    if cond.info.dtype != DType::Bool || x.info.dtype != yv.info.dtype || out.info.dtype != x.info.dtype {
        return Err(OpError::BadShape("Where dtypes"));
    }
    let os = out.info.shape;
    let full = broadcast(&cond.info.shape, &x.info.shape).and_then(|s| broadcast(&s, &yv.info.shape));
    if full != Some(os) {
        return Err(OpError::BadShape("output shape is not the broadcast of the inputs"));
    }
    let st = [
        bcast_strides(&cond.info.shape, &os),
        bcast_strides(&x.info.shape, &os),
        bcast_strides(&yv.info.shape, &os),
        super::util::strides(&os),
    ];
    let cd = data::<u8>(cond)?;
    super::util::by_size!(x.info.dtype.size(), T, {
        let xd = data::<T>(x)?;
        let yd = data::<T>(yv)?;
        let od = data_mut::<T>(out)?;
        for_each_run(os.dims(), st, [0; 4], |o, n, s| {
            for t in 0..n {
                let c = cd[at(o[0], t, s[0])] != 0;
                od[o[3] + t] = if c { xd[at(o[1], t, s[1])] } else { yd[at(o[2], t, s[2])] };
            }
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    //! The cold path against Rust's own typed operators (the references), including the edge
    //! values where widening to i64/f64 could differ from computing in the element's dtype.
    use super::*;
    use crate::tensor::Encoding;
    use bytemuck::Pod;

    fn info(dtype: DType, dims: &[usize]) -> TensorInfo {
        TensorInfo { dtype, shape: Shape::new(dims).unwrap(), encoding: Encoding::Dense }
    }

    /// `op(a, b)` with `a` of shape `[N]` and `b` of shape `[1]` or `[N]` (broadcast or not).
    fn run<A: Pod, B: Pod, O: Pod, const N: usize>(op: OpKind, (a, adt): (&[A; N], DType), (b, bdt): (&[B], DType), odt: DType) -> [O; N] {
        let av = TensorView { info: info(adt, &[N]), bytes: bytemuck::cast_slice(a) };
        let bv = TensorView { info: info(bdt, &[b.len()]), bytes: bytemuck::cast_slice(b) };
        let mut out = [O::zeroed(); N];
        let mut yv = [TensorViewMut { info: info(odt, &[N]), bytes: bytemuck::cast_slice_mut(&mut out) }];
        check(op, &[], &[Some(av.info), Some(bv.info)], &[yv[0].info]).unwrap();
        exec(op, &[], &[Some(av), Some(bv)], &mut yv, &Workers::serial()).unwrap();
        out
    }

    type Ref32 = fn(i32, i32) -> i32;
    type RefCmp = fn(f64, f64) -> bool;

    const A32: [i32; 8] = [i32::MIN, i32::MAX, i32::MIN, -7, 7, -7, 0, 5];
    const B32: [i32; 8] = [-1, 2, 3, 2, -2, 0, -3, 5];

    fn onnx_mod(a: i64, b: i64) -> i64 {
        if b == 0 {
            return 0;
        }
        // The sign of the divisor: a - b * floor(a / b), in i128 so nothing wraps.
        let (a, b) = (a as i128, b as i128);
        (a - b * a.div_euclid(b).wrapping_sub((b < 0 && a.rem_euclid(b) != 0) as i128)) as i64
    }

    #[test]
    fn i32_arith_wraps_like_i32() {
        let refs: [(OpKind, Ref32); 7] = [
            (OpKind::Add, i32::wrapping_add),
            (OpKind::Sub, i32::wrapping_sub),
            (OpKind::Mul, i32::wrapping_mul),
            (OpKind::Div, |x, z| if z == 0 { 0 } else { x.wrapping_div(z) }),
            (OpKind::Mod, |x, z| onnx_mod(x as i64, z as i64) as i32),
            (OpKind::Max, |x, z| x.max(z)),
            (OpKind::Min, |x, z| x.min(z)),
        ];
        for (op, f) in refs {
            let got: [i32; 8] = run(op, (&A32, DType::I32), (&B32, DType::I32), DType::I32);
            let want: [i32; 8] = core::array::from_fn(|i| f(A32[i], B32[i]));
            assert_eq!(got, want, "{op:?}");
            // Broadcast of a one-element operand.
            let got: [i32; 8] = run(op, (&A32, DType::I32), (&[-3i32], DType::I32), DType::I32);
            let want: [i32; 8] = core::array::from_fn(|i| f(A32[i], -3));
            assert_eq!(got, want, "{op:?} broadcast");
        }
        // Hand-checked: Mod follows the divisor's sign.
        assert_eq!(onnx_mod(-7, 2), 1);
        assert_eq!(onnx_mod(7, -2), -1);
        assert_eq!(onnx_mod(-7, -2), -1);
    }

    #[test]
    fn i64_extremes() {
        let a = [i64::MIN, i64::MAX, i64::MIN, -9];
        let b = [-1i64, 1, 7, 4];
        let got: [i64; 4] = run(OpKind::Div, (&a, DType::I64), (&b, DType::I64), DType::I64);
        assert_eq!(got, [i64::MIN, i64::MAX, i64::MIN / 7, -2]);
        let got: [i64; 4] = run(OpKind::Mod, (&a, DType::I64), (&b, DType::I64), DType::I64);
        assert_eq!(got, core::array::from_fn(|i| onnx_mod(a[i], b[i])));
        let got: [i64; 4] = run(OpKind::Add, (&a, DType::I64), (&b, DType::I64), DType::I64);
        assert_eq!(got, core::array::from_fn(|i| a[i].wrapping_add(b[i])));
    }

    #[test]
    fn pow_converts_like_as() {
        // i32 base: the f64 result converts with `as` (saturating): 2^40 -> i32::MAX.
        let got: [i32; 4] = run(OpKind::Pow, (&[2i32, -2, 3, 2], DType::I32), (&[40i64, 31, -1, 3], DType::I64), DType::I32);
        assert_eq!(got, [i32::MAX, i32::MIN, 0, 8]);
        let got: [f32; 3] = run(OpKind::Pow, (&[2.0f32, 1.5, 4.0], DType::F32), (&[3.0f32, 2.0, 0.5], DType::F32), DType::F32);
        assert_eq!(got, [8.0, 2.25, 2.0]);
        let got: [i64; 3] = run(OpKind::Pow, (&[3i64, -5, 10], DType::I64), (&[2.0f32], DType::F32), DType::I64);
        assert_eq!(got, [9, 25, 100]);
    }

    #[test]
    fn f32_mod_is_fmodf() {
        let a = [5.5f32, -5.5, 1e30, 0.1, -0.0, 3.0];
        let b = [2.0f32, 2.0, 3.3, 0.03, 1.0, 0.0];
        let got: [f32; 6] = run(OpKind::Mod, (&a, DType::F32), (&b, DType::F32), DType::F32);
        for i in 0..6 {
            let want = libm::fmodf(a[i], b[i]);
            assert!(got[i].to_bits() == want.to_bits() || (got[i].is_nan() && want.is_nan()), "{i}: {} vs {want}", got[i]);
        }
    }

    #[test]
    fn comparisons_per_dtype() {
        let ops: [(OpKind, RefCmp); 5] = [
            (OpKind::Equal, |x, z| x == z),
            (OpKind::Less, |x, z| x < z),
            (OpKind::Greater, |x, z| x > z),
            (OpKind::LessOrEqual, |x, z| x <= z),
            (OpKind::GreaterOrEqual, |x, z| x >= z),
        ];
        let fa = [1.0f32, 2.0, f32::NAN, -0.0, 3.0, f32::INFINITY];
        let fb = [2.0f32, 2.0, 1.0, 0.0, 1.0, f32::NAN];
        let ia = [i64::MIN, 5, -5, 0, i64::MAX, 7];
        let ib = [i64::MAX, 5, 5, -1, i64::MAX - 1, 7];
        let ua = [0u8, 255, 7, 8, 200, 1];
        let ub = [255u8, 255, 8, 7, 100, 1];
        for (op, f) in ops {
            let got: [u8; 6] = run(op, (&fa, DType::F32), (&fb, DType::F32), DType::Bool);
            assert_eq!(got, core::array::from_fn(|i| f(fa[i] as f64, fb[i] as f64) as u8), "{op:?} f32");
            let got: [u8; 6] = run(op, (&ia, DType::I64), (&ib, DType::I64), DType::Bool);
            let want: [u8; 6] = core::array::from_fn(|i| match op {
                OpKind::Equal => ia[i] == ib[i],
                OpKind::Less => ia[i] < ib[i],
                OpKind::Greater => ia[i] > ib[i],
                OpKind::LessOrEqual => ia[i] <= ib[i],
                _ => ia[i] >= ib[i],
            } as u8);
            assert_eq!(got, want, "{op:?} i64");
            let got: [u8; 6] = run(op, (&ua, DType::U8), (&ub, DType::U8), DType::Bool);
            assert_eq!(got, core::array::from_fn(|i| f(ua[i] as f64, ub[i] as f64) as u8), "{op:?} u8");
        }
    }

    #[test]
    fn logical_any_nonzero_is_true() {
        let a = [0u8, 0, 1, 1, 2, 255];
        let b = [0u8, 1, 0, 1, 1, 2];
        let and: [u8; 6] = run(OpKind::And, (&a, DType::Bool), (&b, DType::Bool), DType::Bool);
        let or: [u8; 6] = run(OpKind::Or, (&a, DType::Bool), (&b, DType::Bool), DType::Bool);
        let xor: [u8; 6] = run(OpKind::Xor, (&a, DType::Bool), (&b, DType::Bool), DType::Bool);
        assert_eq!(and, [0, 0, 0, 1, 1, 1]);
        assert_eq!(or, [0, 1, 1, 1, 1, 1]);
        assert_eq!(xor, [0, 1, 1, 0, 0, 0]);
    }
}
