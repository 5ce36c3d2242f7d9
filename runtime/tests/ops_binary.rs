//! Binary elementwise ops against a naive broadcasting reference (ONNX/numpy semantics).
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_runtime::ops::params::{ActParams, BinaryParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::{Activation, DType, OpError};

fn p(act: Activation) -> Vec<u8> {
    bytes(&BinaryParams { act: ActParams::from_activation(&act) })
}

/// Reference: for every output index, combine the broadcast source elements.
fn ref_bin<A: Copy, B: Copy, O>(a: &[A], ad: &[usize], b: &[B], bd: &[usize], f: impl Fn(A, B) -> O) -> (Vec<O>, Vec<usize>) {
    let yd = np_broadcast(ad, bd).unwrap();
    let n: usize = yd.iter().product();
    let y = (0..n)
        .map(|k| {
            let idx = unravel(k, &yd);
            f(a[bcast_index(&idx, ad)], b[bcast_index(&idx, bd)])
        })
        .collect();
    (y, yd)
}

#[test]
fn hand_checked_add_channel_broadcast_relu() {
    // [1,2,2,2] + [2,1,1] then relu.
    let a = Owned::f32(&[1, 2, 2, 2], &[1., -2., 3., -4., 5., -6., 7., -8.]);
    let b = Owned::f32(&[2, 1, 1], &[1., -10.]);
    let y = run1(OpKind::Add, &p(Activation::RELU), &[&a, &b], info(DType::F32, &[1, 2, 2, 2]));
    assert_eq!(y.as_f32(), vec![2., 0., 4., 0., 0., 0., 0., 0.]);
}

#[test]
fn integer_semantics() {
    let a = Owned::i64(&[5], &[7, -7, 7, -7, 3]);
    let b = Owned::i64(&[5], &[2, 2, -2, -2, 0]);
    let o = info(DType::I64, &[5]);
    // Div truncates toward zero; by zero gives 0.
    assert_eq!(run1(OpKind::Div, &[], &[&a, &b], o).as_i64(), vec![3, -3, -3, 3, 0]);
    // Mod follows the divisor's sign (ONNX fmod=0); by zero gives 0.
    assert_eq!(run1(OpKind::Mod, &[], &[&a, &b], o).as_i64(), vec![1, 1, -1, -1, 0]);
    let a32 = Owned::i32(&[3], &[2, 3, -2]);
    let e32 = Owned::i32(&[1], &[3]);
    assert_eq!(run1(OpKind::Pow, &[], &[&a32, &e32], info(DType::I32, &[3])).as_i32(), vec![8, 27, -8]);
    // Fused activation on an integer output is rejected.
    assert!(check(OpKind::Add, &p(Activation::RELU), &[Some(&a), Some(&b)], &[o]).is_err());
}

#[test]
fn float_mod_pow_max() {
    let a = Owned::f32(&[3], &[5.5, -5.5, 2.0]);
    let b = Owned::f32(&[3], &[2.0, 2.0, 0.5]);
    let o = info(DType::F32, &[3]);
    assert_eq!(run1(OpKind::Mod, &[], &[&a, &b], o).as_f32(), vec![1.5, -1.5, 0.0]);
    assert_close(&run1(OpKind::Pow, &[], &[&a, &b], o).as_f32(), &[30.25, 30.25, std::f32::consts::SQRT_2], 1e-6);
    let e = Owned::i64(&[1], &[2]);
    assert_close(&run1(OpKind::Pow, &[], &[&a, &e], o).as_f32(), &[30.25, 30.25, 4.0], 1e-6);
    let n = Owned::f32(&[3], &[f32::NAN, 1.0, 3.0]);
    let y = run1(OpKind::Max, &[], &[&n, &b], o).as_f32();
    assert!(y[0].is_nan() && y[1] == 2.0 && y[2] == 3.0);
}

#[test]
fn comparisons_logic_where_prelu() {
    let a = Owned::f32(&[2, 2], &[1., 2., 3., 4.]);
    let b = Owned::f32(&[2], &[2., 3.]);
    let o = info(DType::Bool, &[2, 2]);
    assert_eq!(run1(OpKind::Less, &[], &[&a, &b], o).as_u8(), vec![1, 1, 0, 0]);
    assert_eq!(run1(OpKind::GreaterOrEqual, &[], &[&a, &b], o).as_u8(), vec![0, 0, 1, 1]);
    assert_eq!(run1(OpKind::Equal, &[], &[&a, &b], o).as_u8(), vec![0, 0, 0, 0]);
    let t = Owned::bool(&[2, 2], &[true, true, false, false]);
    let u = Owned::bool(&[2], &[true, false]);
    assert_eq!(run1(OpKind::And, &[], &[&t, &u], o).as_u8(), vec![1, 0, 0, 0]);
    assert_eq!(run1(OpKind::Or, &[], &[&t, &u], o).as_u8(), vec![1, 1, 1, 0]);
    assert_eq!(run1(OpKind::Xor, &[], &[&t, &u], o).as_u8(), vec![0, 1, 1, 0]);
    // Where(cond[2,1], x[2], y scalar) -> [2,2]
    let c = Owned::bool(&[2, 1], &[true, false]);
    let x = Owned::i64(&[2], &[10, 20]);
    let yv = Owned::i64(&[], &[-1]);
    let w = run(OpKind::Where, &[], &[Some(&c), Some(&x), Some(&yv)], &[info(DType::I64, &[2, 2])]).unwrap();
    assert_eq!(w[0].as_i64(), vec![10, 20, -1, -1]);
    let xs = Owned::f32(&[1, 2, 2], &[-1., 2., -3., 4.]);
    let slope = Owned::f32(&[2, 1], &[0.5, 0.25]);
    let y = run1(OpKind::PRelu, &[], &[&xs, &slope], info(DType::F32, &[1, 2, 2]));
    assert_eq!(y.as_f32(), vec![-0.5, 2., -0.75, 4.]);
}

#[test]
fn check_rejects() {
    let a = Owned::f32(&[2, 3], &[0.; 6]);
    let b = Owned::f32(&[3], &[0.; 3]);
    let ins = [Some(&a), Some(&b)];
    let pp = p(Activation::NONE);
    assert!(check(OpKind::Add, &pp, &ins, &[info(DType::F32, &[2, 3])]).is_ok());
    assert!(matches!(check(OpKind::Add, &pp, &ins, &[info(DType::F32, &[3, 3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Add, &pp, &ins, &[info(DType::I32, &[2, 3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Add, &pp[..4], &ins, &[info(DType::F32, &[2, 3])]), Err(OpError::BadParams(_))));
    assert!(matches!(check(OpKind::Less, &pp, &ins, &[info(DType::F32, &[2, 3])]), Err(OpError::BadShape(_))));
    let c = Owned::f32(&[2], &[0.; 2]);
    assert!(check(OpKind::Mul, &pp, &[Some(&a), Some(&c)], &[info(DType::F32, &[2, 3])]).is_err());
    let i = Owned::i64(&[3], &[0; 3]);
    assert!(check(OpKind::Add, &pp, &[Some(&a), Some(&i)], &[info(DType::F32, &[2, 3])]).is_err());
}

fn shape_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec((1..4usize, 0..3u8), 0..5).prop_map(|v| {
        // Per axis: both equal, a broadcast, or b broadcast; then b may drop leading axes.
        let a: Vec<usize> = v.iter().map(|&(d, k)| if k == 1 { 1 } else { d }).collect();
        let b: Vec<usize> = v.iter().map(|&(d, k)| if k == 2 { 1 } else { d }).collect();
        let drop = v.first().map_or(0, |&(d, _)| d % 2);
        (a, b[drop.min(b.len())..].to_vec())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn f32_ops_match_reference((ad, bd) in shape_pair(), swap in any::<bool>(), which in 0..6usize, seed in any::<u64>()) {
        let (ad, bd) = if swap { (bd, ad) } else { (ad, bd) };
        let av = rand_f32(ad.iter().product(), seed);
        let bv: Vec<f32> = rand_f32(bd.iter().product(), seed ^ 5).iter().map(|v| v + 2.0).collect();
        let (op, f): (OpKind, fn(f32, f32) -> f32) = match which {
            0 => (OpKind::Add, |x, y| x + y),
            1 => (OpKind::Sub, |x, y| x - y),
            2 => (OpKind::Mul, |x, y| x * y),
            3 => (OpKind::Div, |x, y| x / y),
            4 => (OpKind::Max, |x, y| x.max(y)),
            _ => (OpKind::Min, |x, y| x.min(y)),
        };
        let (want, yd) = ref_bin(&av, &ad, &bv, &bd, f);
        let a = Owned::f32(&ad, &av);
        let b = Owned::f32(&bd, &bv);
        let y = run1(op, &p(Activation::NONE), &[&a, &b], info(DType::F32, &yd));
        assert_close(&y.as_f32(), &want, 1e-6);
    }

    #[test]
    fn i64_and_compare_match_reference((ad, bd) in shape_pair(), seed in any::<u64>()) {
        let av: Vec<i64> = rand_f32(ad.iter().product(), seed).iter().map(|v| (v * 50.0) as i64).collect();
        let bv: Vec<i64> = rand_f32(bd.iter().product(), seed ^ 3).iter().map(|v| (v * 50.0) as i64).collect();
        let (want, yd) = ref_bin(&av, &ad, &bv, &bd, |x, y| x.wrapping_sub(y));
        let a = Owned::i64(&ad, &av);
        let b = Owned::i64(&bd, &bv);
        prop_assert_eq!(run1(OpKind::Sub, &[], &[&a, &b], info(DType::I64, &yd)).as_i64(), want);
        let (want, yd) = ref_bin(&av, &ad, &bv, &bd, |x, y| (x > y) as u8);
        prop_assert_eq!(run1(OpKind::Greater, &[], &[&a, &b], info(DType::Bool, &yd)).as_u8(), want);
    }
}
