//! Unary ops and Cast against std's f32 math and hand-checked values.
mod ops_common;
use ops_common::*;
use sprig_runtime::ops::params::{CastParams, UnaryParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::{DType, OpError};

fn up(alpha: f32, beta: f32) -> Vec<u8> {
    bytes(&UnaryParams { alpha, beta })
}

fn erf_ref(x: f64) -> f64 {
    // Maclaurin series, fine for |x| <= 3 in f64.
    let mut sum = 0.0;
    let mut term = x;
    let mut n = 0.0;
    while term.abs() > 1e-17 {
        sum += term / (2.0 * n + 1.0);
        n += 1.0;
        term *= -x * x / n;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn f32_ops_match_std() {
    let xs: Vec<f32> = (0..61).map(|i| (i as f32 - 30.0) / 10.0).collect();
    let pos: Vec<f32> = (1..61).map(|i| i as f32 / 7.0).collect();
    type F = fn(f32) -> f32;
    let cases: Vec<(OpKind, Vec<u8>, F, bool)> = vec![
        (OpKind::Relu, up(0., 0.), |x| x.max(0.0), false),
        (OpKind::LeakyRelu, up(0.1, 0.), |x| if x < 0.0 { 0.1 * x } else { x }, false),
        (OpKind::Clip, up(-0.5, 1.5), |x| x.clamp(-0.5, 1.5), false),
        (OpKind::Sigmoid, up(0., 0.), |x| 1.0 / (1.0 + (-x).exp()), false),
        (OpKind::HardSigmoid, up(0.2, 0.5), |x| (0.2 * x + 0.5).clamp(0.0, 1.0), false),
        (OpKind::HardSwish, up(0., 0.), |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0), false),
        (OpKind::Tanh, up(0., 0.), |x| x.tanh(), false),
        (OpKind::Erf, up(0., 0.), |x| erf_ref(x as f64) as f32, false),
        (OpKind::Gelu, up(0., 0.), |x| (0.5 * x as f64 * (1.0 + erf_ref(x as f64 / 2f64.sqrt()))) as f32, false),
        (OpKind::Gelu, up(1., 0.), |x| 0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh()), false),
        (OpKind::Exp, up(0., 0.), |x| x.exp(), false),
        (OpKind::Sqrt, up(0., 0.), |x| x.sqrt(), true),
        (OpKind::Reciprocal, up(0., 0.), |x| 1.0 / x, true),
        (OpKind::Neg, up(0., 0.), |x| -x, false),
        (OpKind::Abs, up(0., 0.), |x| x.abs(), false),
        (OpKind::Log, up(0., 0.), |x| x.ln(), true),
        (OpKind::Floor, up(0., 0.), |x| x.floor(), false),
        (OpKind::Ceil, up(0., 0.), |x| x.ceil(), false),
        (OpKind::Softplus, up(0., 0.), |x| (1.0 + x.exp()).ln(), false),
        (OpKind::Sin, up(0., 0.), |x| x.sin(), false),
        (OpKind::Cos, up(0., 0.), |x| x.cos(), false),
        (OpKind::Round, up(0., 0.), |x| x.round_ties_even(), false),
        (OpKind::Sign, up(0., 0.), |x| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 }, false),
        (OpKind::Elu, up(0.7, 0.), |x| if x < 0.0 { 0.7 * (x.exp() - 1.0) } else { x }, false),
    ];
    for (op, params, f, positive) in cases {
        let v = if positive { &pos } else { &xs };
        let x = Owned::f32(&[v.len()], v);
        let y = run1(op, &params, &[&x], info(DType::F32, &[v.len()]));
        let want: Vec<f32> = v.iter().map(|&x| f(x)).collect();
        assert_close(&y.as_f32(), &want, 2e-6);
        println!("{op:?} ok");
    }
    // Round: halves go to even.
    let x = Owned::f32(&[4], &[0.5, 1.5, 2.5, -0.5]);
    assert_eq!(run1(OpKind::Round, &up(0., 0.), &[&x], info(DType::F32, &[4])).as_f32(), vec![0., 2., 2., -0.]);
}

#[test]
fn integer_and_bool_ops() {
    let x = Owned::i64(&[4], &[-3, 0, 5, i64::MIN]);
    let o = info(DType::I64, &[4]);
    assert_eq!(run1(OpKind::Relu, &up(0., 0.), &[&x], o).as_i64(), vec![0, 0, 5, 0]);
    assert_eq!(run1(OpKind::Abs, &up(0., 0.), &[&x], o).as_i64(), vec![3, 0, 5, i64::MIN]);
    assert_eq!(run1(OpKind::Sign, &up(0., 0.), &[&x], o).as_i64(), vec![-1, 0, 1, -1]);
    assert_eq!(run1(OpKind::Clip, &up(-1., 2.), &[&x], o).as_i64(), vec![-1, 0, 2, -1]);
    let b = Owned::bool(&[3], &[true, false, true]);
    assert_eq!(run1(OpKind::Not, &[], &[&b], info(DType::Bool, &[3])).as_u8(), vec![0, 1, 0]);
}

#[test]
fn cast_between_all_dtypes() {
    let cp = |to: DType| bytes(&CastParams { to: to as u32, _pad: 0 });
    let f = Owned::f32(&[5], &[-2.7, -0.0, 0.5, 3.9, 300.0]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::I64), &[&f], info(DType::I64, &[5])).as_i64(), vec![-2, 0, 0, 3, 300]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::I32), &[&f], info(DType::I32, &[5])).as_i32(), vec![-2, 0, 0, 3, 300]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::Bool), &[&f], info(DType::Bool, &[5])).as_u8(), vec![1, 0, 1, 1, 1]);
    let i = Owned::i64(&[4], &[-1, 0, 256 + 7, 1 << 40]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::F32), &[&i], info(DType::F32, &[4])).as_f32(), vec![-1., 0., 263., (1u64 << 40) as f32]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::U8), &[&i], info(DType::U8, &[4])).as_u8(), vec![255, 0, 7, 0]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::I32), &[&i], info(DType::I32, &[4])).as_i32(), vec![-1, 0, 263, 0]);
    let u = Owned::u8(&[2], &[200, 0]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::I64), &[&u], info(DType::I64, &[2])).as_i64(), vec![200, 0]);
    let b = Owned::bool(&[2], &[true, false]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::F32), &[&b], info(DType::F32, &[2])).as_f32(), vec![1., 0.]);
    assert_eq!(run1(OpKind::Cast, &cp(DType::I32), &[&b], info(DType::I32, &[2])).as_i32(), vec![1, 0]);
    // Wrong output dtype, F16 target, bad code, short params.
    assert!(check(OpKind::Cast, &cp(DType::I64), &[Some(&f)], &[info(DType::I32, &[5])]).is_err());
    assert!(check(OpKind::Cast, &cp(DType::F16), &[Some(&f)], &[info(DType::F16, &[5])]).is_err());
    assert!(check(OpKind::Cast, &bytes(&CastParams { to: 77, _pad: 0 }), &[Some(&f)], &[info(DType::F32, &[5])]).is_err());
    assert!(matches!(check(OpKind::Cast, &cp(DType::I64)[..4], &[Some(&f)], &[info(DType::I64, &[5])]), Err(OpError::BadParams(_))));
}

#[test]
fn check_rejects() {
    let x = Owned::f32(&[2, 3], &[0.; 6]);
    let p = up(0., 0.);
    assert!(check(OpKind::Relu, &p, &[Some(&x)], &[info(DType::F32, &[2, 3])]).is_ok());
    assert!(matches!(check(OpKind::Relu, &p, &[Some(&x)], &[info(DType::F32, &[3, 2])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Relu, &p, &[Some(&x)], &[info(DType::I64, &[2, 3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Exp, &p[..4], &[Some(&x)], &[info(DType::F32, &[2, 3])]), Err(OpError::BadParams(_))));
    let i = Owned::i64(&[2], &[0; 2]);
    assert!(check(OpKind::Exp, &p, &[Some(&i)], &[info(DType::I64, &[2])]).is_err());
    assert!(check(OpKind::Clip, &up(2., 1.), &[Some(&x)], &[info(DType::F32, &[2, 3])]).is_err());
}
