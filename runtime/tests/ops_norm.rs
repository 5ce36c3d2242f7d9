//! Softmax, LogSoftmax, LayerNorm, reductions and ArgMax against naive references.
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_runtime::ops::params::{AxisParams, LayerNormParams, ReduceParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::{DType, OpError};

fn ap(axis: u32, flag: u32) -> Vec<u8> {
    bytes(&AxisParams { axis, flag })
}
fn rp(mask: u32) -> Vec<u8> {
    bytes(&ReduceParams { axes_mask: mask, _pad: 0 })
}

#[test]
fn softmax_hand_checked() {
    let x = Owned::f32(&[2, 3], &[1., 2., 3., 0., 0., 0.]);
    let o = info(DType::F32, &[2, 3]);
    let (e1, e2, e3) = (1f32.exp(), 2f32.exp(), 3f32.exp());
    let s = e1 + e2 + e3;
    let y = run1(OpKind::Softmax, &ap(1, 0), &[&x], o);
    assert_close(&y.as_f32(), &[e1 / s, e2 / s, e3 / s, 1. / 3., 1. / 3., 1. / 3.], 1e-6);
    // Over axis 0 (columns).
    let y = run1(OpKind::Softmax, &ap(0, 0), &[&x], o);
    let c = |a: f32| a.exp() / (a.exp() + 1.0);
    assert_close(&y.as_f32(), &[c(1.), c(2.), c(3.), 1. - c(1.), 1. - c(2.), 1. - c(3.)], 1e-6);
    // Flattened from axis 0: one distribution over all six.
    let y = run1(OpKind::Softmax, &ap(0, 1), &[&x], o);
    let t = s + 3.0;
    assert_close(&y.as_f32(), &[e1 / t, e2 / t, e3 / t, 1. / t, 1. / t, 1. / t], 1e-6);
    let y = run1(OpKind::LogSoftmax, &ap(1, 0), &[&x], o);
    assert_close(&y.as_f32(), &[1. - s.ln(), 2. - s.ln(), 3. - s.ln(), -(3f32.ln()), -(3f32.ln()), -(3f32.ln())], 1e-6);
}

#[test]
fn layernorm_matches_reference() {
    let (b, t, d) = (2, 3, 5);
    let xv = rand_f32(b * t * d, 1);
    let sv = rand_f32(d, 2);
    let bv = rand_f32(d, 3);
    let x = Owned::f32(&[b, t, d], &xv);
    let s = Owned::f32(&[d], &sv);
    let bb = Owned::f32(&[1, d], &bv);
    let eps = 1e-5;
    let y = run1(OpKind::LayerNorm, &bytes(&LayerNormParams { axis: 2, epsilon: eps }), &[&x, &s, &bb], info(DType::F32, &[b, t, d]));
    let mut want = vec![0f32; b * t * d];
    for r in 0..b * t {
        let row: Vec<f64> = xv[r * d..(r + 1) * d].iter().map(|&v| v as f64).collect();
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        for i in 0..d {
            want[r * d + i] = ((row[i] - mean) / (var + eps as f64).sqrt() * sv[i] as f64 + bv[i] as f64) as f32;
        }
    }
    assert_close(&y.as_f32(), &want, 1e-5);
    // Over the last two axes, no bias, scale [t, d].
    let s2 = Owned::f32(&[t, d], &rand_f32(t * d, 4));
    let y = run(OpKind::LayerNorm, &bytes(&LayerNormParams { axis: 1, epsilon: eps }), &[Some(&x), Some(&s2), None], &[info(DType::F32, &[b, t, d])]);
    assert!(y.is_ok());
    assert!(check(OpKind::LayerNorm, &bytes(&LayerNormParams { axis: 2, epsilon: eps }), &[Some(&x), Some(&s2)], &[info(DType::F32, &[b, t, d])]).is_err());
}

/// Reference reduction over the axes in `mask`, keepdims shape.
fn reduce_ref(x: &[f32], d: &[usize], mask: u32, init: f32, f: impl Fn(f32, f32) -> f32) -> (Vec<f32>, Vec<usize>) {
    let od: Vec<usize> = d.iter().enumerate().map(|(i, &v)| if mask >> i & 1 == 1 { 1 } else { v }).collect();
    let n: usize = od.iter().product();
    let mut y = vec![init; n];
    let ost = strides(&od);
    for (k, &v) in x.iter().enumerate() {
        let idx = unravel(k, d);
        let o: usize = idx.iter().enumerate().map(|(i, &j)| if mask >> i & 1 == 1 { 0 } else { j * ost[i] }).sum();
        y[o] = f(y[o], v);
    }
    (y, od)
}

#[test]
fn reductions_hand_checked() {
    let x = Owned::f32(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    assert_eq!(run1(OpKind::ReduceSum, &rp(0b10), &[&x], info(DType::F32, &[2])).as_f32(), vec![6., 15.]);
    assert_eq!(run1(OpKind::ReduceMean, &rp(0b01), &[&x], info(DType::F32, &[1, 3])).as_f32(), vec![2.5, 3.5, 4.5]);
    assert_eq!(run1(OpKind::ReduceMax, &rp(0b11), &[&x], info(DType::F32, &[])).as_f32(), vec![6.]);
    assert_eq!(run1(OpKind::ReduceMin, &rp(0b11), &[&x], info(DType::F32, &[1, 1])).as_f32(), vec![1.]);
    assert_eq!(run1(OpKind::ReduceProd, &rp(0b10), &[&x], info(DType::F32, &[2, 1])).as_f32(), vec![6., 120.]);
    let xi = Owned::i64(&[2, 2], &[1, -5, 7, 2]);
    assert_eq!(run1(OpKind::ReduceSum, &rp(0b01), &[&xi], info(DType::I64, &[2])).as_i64(), vec![8, -3]);
    assert_eq!(run1(OpKind::ReduceMax, &rp(0b10), &[&xi], info(DType::I64, &[2])).as_i64(), vec![1, 7]);
    // Wrong shape, mask past rank, short params.
    assert!(matches!(check(OpKind::ReduceSum, &rp(0b10), &[Some(&x)], &[info(DType::F32, &[3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::ReduceSum, &rp(0b100), &[Some(&x)], &[info(DType::F32, &[2, 3])]), Err(OpError::BadParams(_))));
    assert!(matches!(check(OpKind::ReduceSum, &rp(1)[..4], &[Some(&x)], &[info(DType::F32, &[3])]), Err(OpError::BadParams(_))));
    assert!(check(OpKind::ReduceMean, &rp(1), &[Some(&xi)], &[info(DType::I64, &[2])]).is_err());
}

#[test]
fn argmax_first_and_last() {
    let x = Owned::f32(&[2, 4], &[1., 3., 3., 0., 5., 5., 5., 9.]);
    assert_eq!(run1(OpKind::ArgMax, &ap(1, 0), &[&x], info(DType::I64, &[2])).as_i64(), vec![1, 3]);
    assert_eq!(run1(OpKind::ArgMax, &ap(1, 1), &[&x], info(DType::I64, &[2, 1])).as_i64(), vec![2, 3]);
    assert_eq!(run1(OpKind::ArgMax, &ap(0, 0), &[&x], info(DType::I64, &[4])).as_i64(), vec![1, 1, 1, 1]);
    assert!(check(OpKind::ArgMax, &ap(1, 0), &[Some(&x)], &[info(DType::F32, &[2])]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn reductions_match_reference(d in prop::collection::vec(1..5usize, 1..5), mask in 0..16u32, keep in any::<bool>(), which in 0..5usize, seed in any::<u64>()) {
        let mask = mask & ((1 << d.len()) - 1);
        let xv = rand_f32(d.iter().product(), seed);
        let (op, init, f): (OpKind, f32, fn(f32, f32) -> f32) = match which {
            0 => (OpKind::ReduceSum, 0.0, |a, v| a + v),
            1 => (OpKind::ReduceMean, 0.0, |a, v| a + v),
            2 => (OpKind::ReduceMax, f32::NEG_INFINITY, f32::max),
            3 => (OpKind::ReduceMin, f32::INFINITY, f32::min),
            _ => (OpKind::ReduceProd, 1.0, |a, v| a * v),
        };
        let (mut want, od) = reduce_ref(&xv, &d, mask, init, f);
        if op == OpKind::ReduceMean {
            let cnt: usize = d.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).map(|(_, &v)| v).product();
            want.iter_mut().for_each(|v| *v /= cnt as f32);
        }
        let yd: Vec<usize> = if keep { od } else { d.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 0).map(|(_, &v)| v).collect() };
        let x = Owned::f32(&d, &xv);
        let y = run1(op, &rp(mask), &[&x], info(DType::F32, &yd));
        assert_close(&y.as_f32(), &want, 1e-5);
    }

    #[test]
    fn softmax_matches_reference(d in prop::collection::vec(1..5usize, 1..5), ax in 0..4usize, seed in any::<u64>()) {
        let ax = ax % d.len();
        let xv: Vec<f32> = rand_f32(d.iter().product(), seed).iter().map(|v| v * 5.0).collect();
        let st = strides(&d);
        let want: Vec<f32> = (0..xv.len()).map(|k| {
            let idx = unravel(k, &d);
            let base = k - idx[ax] * st[ax];
            let s: f64 = (0..d[ax]).map(|j| (xv[base + j * st[ax]] as f64).exp()).sum();
            ((xv[k] as f64).exp() / s) as f32
        }).collect();
        let x = Owned::f32(&d, &xv);
        let y = run1(OpKind::Softmax, &ap(ax as u32, 0), &[&x], info(DType::F32, &d));
        assert_close(&y.as_f32(), &want, 1e-5);
    }
}
