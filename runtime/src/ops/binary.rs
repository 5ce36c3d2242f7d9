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
//! Fast paths: equal shapes, a single-element operand, otherwise a strided broadcast walk whose
//! axes are coalesced, so a per-channel `[C,1,1]` operand becomes runs of constant value.
use super::params::BinaryParams;
use super::util::{bcast_strides, broadcast, counts, data, data_mut, dense, for_each_run, numel};
use super::{read_params, req, OpKind};
use crate::error::OpError;
use crate::tensor::{DType, Shape, TensorInfo, TensorView, TensorViewMut};
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

/// `y = f(a, b)` elementwise with broadcasting; `y`'s shape must be the broadcast.
fn zip<A: bytemuck::Pod, B: bytemuck::Pod, O: bytemuck::Pod>(
    a: &TensorView,
    b: &TensorView,
    y: &mut TensorViewMut,
    f: impl Fn(A, B) -> O,
) -> Result<(), OpError> {
    let ys: Shape = y.info.shape;
    let (sa, sb) = (a.info.shape, b.info.shape);
    if broadcast(&sa, &sb) != Some(ys) {
        return Err(OpError::BadShape("output shape is not the broadcast of the inputs"));
    }
    let ad = data::<A>(a)?;
    let bd = data::<B>(b)?;
    let yd = data_mut::<O>(y)?;
    if sa == ys && sb == ys {
        for ((o, &x), &z) in yd.iter_mut().zip(ad).zip(bd) {
            *o = f(x, z);
        }
    } else if sa == ys && bd.len() == 1 {
        let z = bd[0];
        for (o, &x) in yd.iter_mut().zip(ad) {
            *o = f(x, z);
        }
    } else if sb == ys && ad.len() == 1 {
        let x = ad[0];
        for (o, &z) in yd.iter_mut().zip(bd) {
            *o = f(x, z);
        }
    } else {
        let st = [bcast_strides(&sa, &ys), bcast_strides(&sb, &ys), super::util::strides(&ys)];
        for_each_run(ys.dims(), st, [0; 3], |o, n, s| {
            let yrun = &mut yd[o[2]..o[2] + n];
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
                        *d = f(ad[super::util::at(o[0], t, s0)], bd[super::util::at(o[1], t, s1)]);
                    }
                }
            }
        });
    }
    Ok(())
}

/// Numeric element types of arithmetic ops.
trait Num: bytemuck::Pod + PartialOrd {
    fn add(a: Self, b: Self) -> Self;
    fn sub(a: Self, b: Self) -> Self;
    fn mul(a: Self, b: Self) -> Self;
    fn div(a: Self, b: Self) -> Self;
    fn rem(a: Self, b: Self) -> Self;
    fn max(a: Self, b: Self) -> Self;
    fn min(a: Self, b: Self) -> Self;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Num for f32 {
    fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    fn rem(a: f32, b: f32) -> f32 {
        libm::fmodf(a, b)
    }
    fn max(a: f32, b: f32) -> f32 {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if a >= b {
            a
        } else {
            b
        }
    }
    fn min(a: f32, b: f32) -> f32 {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if a <= b {
            a
        } else {
            b
        }
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

macro_rules! int_num {
    ($t:ty) => {
        impl Num for $t {
            fn add(a: $t, b: $t) -> $t {
                a.wrapping_add(b)
            }
            fn sub(a: $t, b: $t) -> $t {
                a.wrapping_sub(b)
            }
            fn mul(a: $t, b: $t) -> $t {
                a.wrapping_mul(b)
            }
            fn div(a: $t, b: $t) -> $t {
                if b == 0 {
                    0
                } else {
                    a.wrapping_div(b)
                }
            }
            fn rem(a: $t, b: $t) -> $t {
                if b == 0 {
                    return 0;
                }
                let r = a.wrapping_rem(b);
                if r != 0 && ((r < 0) != (b < 0)) {
                    r.wrapping_add(b)
                } else {
                    r
                }
            }
            fn max(a: $t, b: $t) -> $t {
                if a >= b {
                    a
                } else {
                    b
                }
            }
            fn min(a: $t, b: $t) -> $t {
                if a <= b {
                    a
                } else {
                    b
                }
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> $t {
                v as $t
            }
        }
    };
}
int_num!(i64);
int_num!(i32);

fn arith<T: Num>(op: OpKind, a: &TensorView, b: &TensorView, y: &mut TensorViewMut) -> Result<(), OpError> {
    use OpKind::*;
    match op {
        Add => zip(a, b, y, T::add),
        Sub => zip(a, b, y, T::sub),
        Mul => zip(a, b, y, T::mul),
        Div => zip(a, b, y, T::div),
        Mod => zip(a, b, y, T::rem),
        Max => zip(a, b, y, T::max),
        Min => zip(a, b, y, T::min),
        Pow => match b.info.dtype {
            DType::F32 => zip(a, b, y, |x: T, e: f32| T::from_f64(libm::pow(x.to_f64(), e as f64))),
            DType::I64 => zip(a, b, y, |x: T, e: i64| T::from_f64(libm::pow(x.to_f64(), e as f64))),
            DType::I32 => zip(a, b, y, |x: T, e: i32| T::from_f64(libm::pow(x.to_f64(), e as f64))),
            _ => Err(OpError::BadShape("Pow exponent dtype")),
        },
        _ => Err(OpError::Unsupported("not an arithmetic op")),
    }
}

fn compare<T: bytemuck::Pod + PartialOrd>(op: OpKind, a: &TensorView, b: &TensorView, y: &mut TensorViewMut) -> Result<(), OpError> {
    use OpKind::*;
    match op {
        Equal => zip(a, b, y, |x: T, z: T| (x == z) as u8),
        Less => zip(a, b, y, |x: T, z: T| (x < z) as u8),
        Greater => zip(a, b, y, |x: T, z: T| (x > z) as u8),
        LessOrEqual => zip(a, b, y, |x: T, z: T| (x <= z) as u8),
        GreaterOrEqual => zip(a, b, y, |x: T, z: T| (x >= z) as u8),
        _ => Err(OpError::Unsupported("not a comparison")),
    }
}

pub(crate) fn exec(op: OpKind, params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut]) -> Result<(), OpError> {
    use OpKind::*;
    let act = activation(params)?;
    let a = req(inputs, 0, "missing first input")?;
    let b = req(inputs, 1, "missing second input")?;
    let y = outputs.first_mut().ok_or(OpError::BadShape("binary op needs one output"))?;
    let dt = a.info.dtype;
    match op {
        Add | Sub | Mul | Div | Max | Min | Mod | Pow => {
            if y.info.dtype != dt {
                return Err(OpError::BadShape("output dtype differs from the input's"));
            }
            match dt {
                DType::F32 => arith::<f32>(op, &a, &b, y)?,
                DType::I64 => arith::<i64>(op, &a, &b, y)?,
                DType::I32 => arith::<i32>(op, &a, &b, y)?,
                _ => return Err(OpError::BadShape("arithmetic dtype")),
            }
        }
        Equal | Less | Greater | LessOrEqual | GreaterOrEqual => {
            if y.info.dtype != DType::Bool || b.info.dtype != dt {
                return Err(OpError::BadShape("comparison dtypes"));
            }
            match dt {
                DType::F32 => compare::<f32>(op, &a, &b, y)?,
                DType::I64 => compare::<i64>(op, &a, &b, y)?,
                DType::I32 => compare::<i32>(op, &a, &b, y)?,
                DType::U8 | DType::Bool => compare::<u8>(op, &a, &b, y)?,
                DType::F16 => return Err(OpError::BadShape("comparison dtype")),
            }
        }
        And | Or | Xor => {
            if dt != DType::Bool || b.info.dtype != DType::Bool || y.info.dtype != DType::Bool {
                return Err(OpError::BadShape("logical ops need bool tensors"));
            }
            // Any non-zero byte is true.
            match op {
                And => zip(&a, &b, y, |x: u8, z: u8| (x != 0 && z != 0) as u8)?,
                Or => zip(&a, &b, y, |x: u8, z: u8| (x != 0 || z != 0) as u8)?,
                _ => zip(&a, &b, y, |x: u8, z: u8| ((x != 0) != (z != 0)) as u8)?,
            }
        }
        PRelu => {
            if dt != DType::F32 || y.info.dtype != DType::F32 {
                return Err(OpError::BadShape("PRelu is f32 only"));
            }
            zip(&a, &b, y, |x: f32, s: f32| if x >= 0.0 { x } else { s * x })?;
        }
        Where => {
            let c = req(inputs, 2, "Where needs X and Y")?;
            return where_(&a, &b, &c, y);
        }
        _ => return Err(OpError::Unsupported("not a binary op")),
    }
    if y.info.dtype == DType::F32 && act.kind != sprig_kernels::Act::None {
        act.apply_slice(data_mut::<f32>(y)?);
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
                let c = cd[super::util::at(o[0], t, s[0])] != 0;
                od[o[3] + t] = if c { xd[super::util::at(o[1], t, s[1])] } else { yd[super::util::at(o[2], t, s[2])] };
            }
        });
        Ok(())
    })
}
