//! Elementwise unary ops and Cast. Output shape = input shape.
//!
//! Dtypes: every op works on F32; Relu, Neg, Abs, Sign and Clip also on I64/I32 (Clip bounds are
//! the f32 params converted with saturation); Not on Bool. Cast converts between F32, I64, I32,
//! U8 and Bool: float → integer truncates toward zero and saturates (NaN → 0), integer → U8 wraps
//! (as numpy), anything → Bool is `!= 0`, Bool → anything is 0/1.
//!
//! Params: [`UnaryParams`] (meaning of alpha/beta per op, see [`super::OpKind`]); an empty block
//! means the ONNX defaults (LeakyRelu 0.01, Elu 1, HardSigmoid 0.2/0.5, Clip unbounded, Gelu
//! exact). Cast takes [`CastParams`].
use super::params::{CastParams, UnaryParams};
use super::util::{counts, data, data_mut, dense, load, numel, raw, store};
use super::{read_params, req, OpKind};
use crate::error::OpError;
use crate::par::Workers;
use crate::tensor::{DType, TensorInfo, TensorView, TensorViewMut};
use sprig_kernels::act::erf;
use sprig_kernels::vmath::{self, Func};
use sprig_kernels::{Act, Activation};

fn unary_params(op: OpKind, params: &[u8]) -> Result<UnaryParams, OpError> {
    if !params.is_empty() {
        return read_params(params);
    }
    Ok(match op {
        OpKind::LeakyRelu => UnaryParams { alpha: 0.01, beta: 0.0 },
        OpKind::Elu => UnaryParams { alpha: 1.0, beta: 0.0 },
        OpKind::HardSigmoid => UnaryParams { alpha: 0.2, beta: 0.5 },
        OpKind::Clip => UnaryParams { alpha: f32::NEG_INFINITY, beta: f32::INFINITY },
        _ => UnaryParams::default(),
    })
}

fn cast_target(params: &[u8]) -> Result<DType, OpError> {
    let p: CastParams = read_params(params)?;
    let to = u8::try_from(p.to).ok().and_then(DType::from_u8).ok_or(OpError::BadParams("Cast target is not a dtype"))?;
    if to == DType::F16 {
        return Err(OpError::Unsupported("Cast to f16 (not an activation dtype)"));
    }
    Ok(to)
}

pub(crate) fn check(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    use OpKind::*;
    counts(inputs, outputs.len(), 1, 1, 1)?;
    let x = req(inputs, 0, "missing input")?;
    let y = &outputs[0];
    dense(&x)?;
    dense(y)?;
    numel(&x.shape)?;
    if x.shape != y.shape {
        return Err(OpError::BadShape("output shape differs from the input's"));
    }
    if op == Cast {
        let to = cast_target(params)?;
        if x.dtype == DType::F16 {
            return Err(OpError::Unsupported("Cast from f16 (not an activation dtype)"));
        }
        if y.dtype != to {
            return Err(OpError::BadShape("Cast output dtype differs from the target"));
        }
        return Ok(0);
    }
    let p = unary_params(op, params)?;
    if op == Clip && p.alpha > p.beta {
        return Err(OpError::BadParams("Clip min above max"));
    }
    let ok = match x.dtype {
        DType::F32 => op != Not,
        DType::I64 | DType::I32 => matches!(op, Relu | Neg | Abs | Sign | Clip),
        DType::Bool => op == Not,
        _ => false,
    };
    if !ok {
        return Err(OpError::BadShape("dtype not supported by this op"));
    }
    if y.dtype != x.dtype {
        return Err(OpError::BadShape("output dtype differs from the input's"));
    }
    Ok(0)
}

/// The ops computed by a vectorised `vmath` kernel (same formulas as the scalar epilogues).
fn vmath_func(op: OpKind, p: UnaryParams) -> Option<Func> {
    Some(match op {
        OpKind::Exp => Func::Exp,
        OpKind::Erf => Func::Erf,
        OpKind::Sigmoid => Func::Sigmoid,
        OpKind::Tanh => Func::Tanh,
        OpKind::Gelu if p.alpha == 1.0 => Func::GeluTanh,
        OpKind::Gelu => Func::Gelu,
        _ => return None,
    })
}

/// The f32 function of an op.
fn f32_fn(op: OpKind, p: UnaryParams) -> Result<impl Fn(f32) -> f32, OpError> {
    use OpKind::*;
    let (a, b) = (p.alpha, p.beta);
    // Ops shared with the fused epilogues use the same scalar code as the kernels.
    let act = |kind| Some(Activation { kind, alpha: a, beta: b });
    let shared = match op {
        Relu => act(Act::Relu),
        LeakyRelu => act(Act::LeakyRelu),
        Clip => act(Act::Clamp),
        HardSigmoid => act(Act::HardSigmoid),
        HardSwish => act(Act::HardSwish),
        Gelu if a == 1.0 => act(Act::GeluTanh),
        Gelu => act(Act::Gelu),
        _ => None,
    };
    let code: u8 = match op {
        Sigmoid => 1,
        Tanh => 2,
        Erf => 3,
        Exp => 4,
        Sqrt => 5,
        Reciprocal => 6,
        Neg => 7,
        Abs => 8,
        Log => 9,
        Floor => 10,
        Ceil => 11,
        Softplus => 12,
        Sin => 13,
        Cos => 14,
        Round => 15,
        Sign => 16,
        Elu => 17,
        _ if shared.is_some() => 0,
        _ => return Err(OpError::Unsupported("not an f32 unary op")),
    };
    Ok(move |x: f32| -> f32 {
        match code {
            0 => shared.map_or(x, |s| s.apply(x)),
            1 => {
                // Split by sign so exp never overflows.
                if x >= 0.0 {
                    1.0 / (1.0 + libm::expf(-x))
                } else {
                    let e = libm::expf(x);
                    e / (1.0 + e)
                }
            }
            2 => libm::tanhf(x),
            3 => erf(x),
            4 => libm::expf(x),
            5 => libm::sqrtf(x),
            6 => 1.0 / x,
            7 => -x,
            8 => libm::fabsf(x),
            9 => libm::logf(x),
            10 => libm::floorf(x),
            11 => libm::ceilf(x),
            12 => {
                // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)
                x.max(0.0) + libm::log1pf(libm::expf(-libm::fabsf(x)))
            }
            13 => libm::sinf(x),
            14 => libm::cosf(x),
            // ONNX Round: half to even.
            15 => libm::rintf(x),
            16 => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            }
            _ => {
                if x < 0.0 {
                    a * libm::expm1f(x)
                } else {
                    x
                }
            }
        }
    })
}

macro_rules! int_unary {
    ($t:ty, $op:expr, $p:expr, $x:expr, $y:expr) => {{
        let xd = data::<$t>(&$x)?;
        let yd = data_mut::<$t>($y)?;
        let (lo, hi) = ($p.alpha as $t, $p.beta as $t);
        for (o, &v) in yd.iter_mut().zip(xd) {
            *o = match $op {
                OpKind::Relu => v.max(0),
                OpKind::Neg => v.wrapping_neg(),
                OpKind::Abs => v.wrapping_abs(),
                OpKind::Sign => v.signum(),
                OpKind::Clip => v.max(lo).min(hi),
                _ => return Err(OpError::Unsupported("integer unary op")),
            };
        }
        Ok(())
    }};
}

pub(crate) fn exec(op: OpKind, params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut], workers: &Workers) -> Result<(), OpError> {
    let x = req(inputs, 0, "missing input")?;
    let y = outputs.first_mut().ok_or(OpError::BadShape("unary op needs one output"))?;
    if x.info.shape != y.info.shape {
        return Err(OpError::BadShape("output shape differs from the input's"));
    }
    if op == OpKind::Cast {
        return cast(&x, y);
    }
    let p = unary_params(op, params)?;
    if y.info.dtype != x.info.dtype {
        return Err(OpError::BadShape("output dtype differs from the input's"));
    }
    match x.info.dtype {
        DType::F32 => {
            if let Some(vf) = vmath_func(op, p) {
                let xd = data::<f32>(&x)?;
                let yd = data_mut::<f32>(y)?;
                if xd.len() != yd.len() {
                    return Err(OpError::BadShape("output size differs from the input's"));
                }
                // Vectorised (AVX2/NEON) exp/erf: the per-element scalar path was ~140 ns per
                // GELU element (BENCHMARKS.md, "Dense kernel improvements"). Split by ranges
                // (counted as 8 operations per element).
                let isa = vmath::native();
                workers.for_slices(yd, xd.len().saturating_mul(8), &|r, yr| vmath::map(isa, vf, &xd[r], yr));
                return Ok(());
            }
            let f = f32_fn(op, p)?;
            let xd = data::<f32>(&x)?;
            let yd = data_mut::<f32>(y)?;
            if xd.len() != yd.len() {
                return Err(OpError::BadShape("output size differs from the input's"));
            }
            workers.for_slices(yd, xd.len().saturating_mul(4), &|r, yr| {
                for (o, &v) in yr.iter_mut().zip(&xd[r]) {
                    *o = f(v);
                }
            });
            Ok(())
        }
        DType::I64 => int_unary!(i64, op, p, x, y),
        DType::I32 => int_unary!(i32, op, p, x, y),
        DType::Bool if op == OpKind::Not => {
            let xd = data::<u8>(&x)?;
            let yd = data_mut::<u8>(y)?;
            for (o, &v) in yd.iter_mut().zip(xd) {
                *o = (v == 0) as u8;
            }
            Ok(())
        }
        _ => Err(OpError::BadShape("dtype not supported by this op")),
    }
}

/// A value in transit through Cast.
/// Every (from, to) pair in one loop over [`Val`] elements (25 typed loops were ~3 KB of the C
/// example; Cast is not a hot op). f32 → int saturates (`as`), int → narrower int wraps, → bool
/// is `!= 0`, bool reads as 0/1.
fn cast(x: &TensorView, y: &mut TensorViewMut) -> Result<(), OpError> {
    let (xdt, ydt) = (x.info.dtype, y.info.dtype);
    if xdt == DType::F16 || ydt == DType::F16 {
        return Err(OpError::Unsupported("Cast from or to f16"));
    }
    let n = x.info.shape.numel();
    if y.info.shape.numel() != n {
        return Err(OpError::BadShape("Cast sizes"));
    }
    let xb = raw(&x.info, x.bytes)?;
    let yi = y.info;
    let yb = &mut *y.bytes;
    raw(&yi, yb)?;
    for i in 0..n {
        store(yb, ydt, i, load(xb, xdt, i));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Cast against Rust's own `as` conversions (the reference), at values where going through
    //! the shared i64/f64 element could differ: large i64 to f32 (one rounding, not two),
    //! saturating float to int, wrapping int to int, NaN and non-0/1 bytes to/from bool.
    use super::*;
    use crate::tensor::{Encoding, Shape};
    use bytemuck::Pod;

    fn cast_to<A: Pod, O: Pod, const N: usize>(x: &[A; N], from: DType, to: DType) -> [O; N] {
        let info = |dtype| TensorInfo { dtype, shape: Shape::new(&[N]).unwrap(), encoding: Encoding::Dense };
        let xv = TensorView { info: info(from), bytes: bytemuck::cast_slice(x) };
        let mut out = [O::zeroed(); N];
        let mut y = TensorViewMut { info: info(to), bytes: bytemuck::cast_slice_mut(&mut out) };
        cast(&xv, &mut y).unwrap();
        out
    }

    #[test]
    fn cast_matches_as() {
        let big = [(1i64 << 53) + 1, (1 << 62) + (1 << 38) + 1, -((1 << 40) + 5), i64::MIN];
        let got: [f32; 4] = cast_to(&big, DType::I64, DType::F32);
        assert_eq!(got, big.map(|v| v as f32));
        let got: [i32; 4] = cast_to(&big, DType::I64, DType::I32);
        assert_eq!(got, big.map(|v| v as i32));
        let got: [u8; 4] = cast_to(&big, DType::I64, DType::U8);
        assert_eq!(got, big.map(|v| v as u8));
        let f = [300.7f32, -1.5, f32::NAN, 1e20, -1e20, 0.0];
        let got: [u8; 6] = cast_to(&f, DType::F32, DType::U8);
        assert_eq!(got, f.map(|v| v as u8));
        let got: [i32; 6] = cast_to(&f, DType::F32, DType::I32);
        assert_eq!(got, f.map(|v| v as i32));
        let got: [i64; 6] = cast_to(&f, DType::F32, DType::I64);
        assert_eq!(got, f.map(|v| v as i64));
        let got: [u8; 6] = cast_to(&f, DType::F32, DType::Bool);
        assert_eq!(got, [1, 1, 1, 1, 1, 0]);
        let got: [u32; 6] = cast_to(&f, DType::F32, DType::F32);
        assert_eq!(got, f.map(f32::to_bits));
        let b = [0u8, 1, 2, 255];
        let got: [f32; 4] = cast_to(&b, DType::Bool, DType::F32);
        assert_eq!(got, [0.0, 1.0, 1.0, 1.0]);
        let got: [f32; 4] = cast_to(&b, DType::U8, DType::F32);
        assert_eq!(got, [0.0, 1.0, 2.0, 255.0]);
        let i = [i32::MIN, -1, 0, 16_777_217];
        let got: [f32; 4] = cast_to(&i, DType::I32, DType::F32);
        assert_eq!(got, i.map(|v| v as f32));
        let got: [i64; 4] = cast_to(&i, DType::I32, DType::I64);
        assert_eq!(got, i.map(|v| v as i64));
        let got: [u8; 4] = cast_to(&i, DType::I32, DType::Bool);
        assert_eq!(got, [1, 1, 0, 1]);
    }
}
