//! MatMul against a naive numpy-semantics reference.
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_runtime::ops::params::{ActParams, MatMulParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::{Activation, DType, OpError};

fn params(act: Activation) -> Vec<u8> {
    bytes(&MatMulParams { act: ActParams::from_activation(&act) })
}

/// numpy.matmul written from its documentation, plus a broadcast bias and relu.
fn reference(a: &[f32], ad: &[usize], b: &[f32], bd: &[usize], bias: Option<(&[f32], &[usize])>, relu: bool) -> (Vec<f32>, Vec<usize>) {
    let a2: Vec<usize> = if ad.len() == 1 { vec![1, ad[0]] } else { ad.to_vec() };
    let b2: Vec<usize> = if bd.len() == 1 { vec![bd[0], 1] } else { bd.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let n = b2[b2.len() - 1];
    let ab = &a2[..a2.len() - 2];
    let bb = &b2[..b2.len() - 2];
    let batch = np_broadcast(ab, bb).unwrap();
    let nb: usize = batch.iter().product();
    let mut full = vec![0f32; nb * m * n];
    for bi in 0..nb {
        let idx = unravel(bi, &batch);
        let ao = bcast_index(&idx, ab) * m * k;
        let bo = bcast_index(&idx, bb) * k * n;
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f32;
                for p in 0..k {
                    s += a[ao + i * k + p] * b[bo + p * n + j];
                }
                full[bi * m * n + i * n + j] = s;
            }
        }
    }
    let mut yd = batch.clone();
    if ad.len() >= 2 {
        yd.push(m);
    }
    if bd.len() >= 2 {
        yd.push(n);
    }
    if let Some((bv, bs)) = bias {
        let ny: usize = yd.iter().product();
        for (t, f) in full.iter_mut().enumerate().take(ny) {
            *f += bv[bcast_index(&unravel(t, &yd), bs)];
        }
    }
    if relu {
        full.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    (full, yd)
}

#[test]
fn hand_checked_2x3_by_3x2() {
    let a = Owned::f32(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = Owned::f32(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
    let y = run1(OpKind::MatMul, &params(Activation::NONE), &[&a, &b], info(DType::F32, &[2, 2]));
    assert_eq!(y.as_f32(), vec![58., 64., 139., 154.]);
    // Column bias [2] and relu.
    let bias = Owned::f32(&[2], &[-100., -200.]);
    let y = run1(OpKind::MatMul, &params(Activation::RELU), &[&a, &b, &bias], info(DType::F32, &[2, 2]));
    assert_eq!(y.as_f32(), vec![0., 0., 39., 0.]);
    // Row bias [2,1] (not fusable as a column bias).
    let bias = Owned::f32(&[2, 1], &[1., 2.]);
    let y = run1(OpKind::MatMul, &params(Activation::NONE), &[&a, &b, &bias], info(DType::F32, &[2, 2]));
    assert_eq!(y.as_f32(), vec![59., 65., 141., 156.]);
}

#[test]
fn rank1_operands() {
    let a = Owned::f32(&[3], &[1., 2., 3.]);
    let b = Owned::f32(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
    let y = run1(OpKind::MatMul, &params(Activation::NONE), &[&a, &b], info(DType::F32, &[2]));
    assert_eq!(y.as_f32(), vec![58., 64.]);
    let v = Owned::f32(&[2], &[1., -1.]);
    let y = run1(OpKind::MatMul, &params(Activation::NONE), &[&b, &v], info(DType::F32, &[3]));
    assert_eq!(y.as_f32(), vec![-1., -1., -1.]);
    let y = run1(OpKind::MatMul, &params(Activation::NONE), &[&a, &a], info(DType::F32, &[]));
    assert_eq!(y.as_f32(), vec![14.]);
}

#[test]
fn check_rejects() {
    let a = Owned::f32(&[2, 3], &[0.; 6]);
    let b = Owned::f32(&[3, 2], &[0.; 6]);
    let p = params(Activation::NONE);
    let ins = [Some(&a), Some(&b)];
    assert!(check(OpKind::MatMul, &p, &ins, &[info(DType::F32, &[2, 2])]).is_ok());
    assert!(matches!(check(OpKind::MatMul, &p, &ins, &[info(DType::F32, &[2, 3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::MatMul, &p, &ins, &[info(DType::I64, &[2, 2])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::MatMul, &p[..8], &ins, &[info(DType::F32, &[2, 2])]), Err(OpError::BadParams(_))));
    let bad_k = Owned::f32(&[2, 2], &[0.; 4]);
    assert!(check(OpKind::MatMul, &p, &[Some(&a), Some(&bad_k)], &[info(DType::F32, &[2, 2])]).is_err());
    let bad_bias = Owned::f32(&[3], &[0.; 3]);
    assert!(check(OpKind::MatMul, &p, &[Some(&a), Some(&b), Some(&bad_bias)], &[info(DType::F32, &[2, 2])]).is_err());
    let mut bad_act = MatMulParams::default();
    bad_act.act.kind = 99;
    assert!(check(OpKind::MatMul, &bytes(&bad_act), &ins, &[info(DType::F32, &[2, 2])]).is_err());
}

fn batch_dims() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), 2..4usize], 0..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn matches_reference(ab in batch_dims(), bb in batch_dims(), m in 1..6usize, n in 1..7usize, k in 0..6usize,
                         a_vec in any::<bool>(), b_vec in any::<bool>(), bias_kind in 0..4u8, relu in any::<bool>(), seed in any::<u64>()) {
        // Make the batch dims broadcast-compatible: where both have a dim, force one of them to 1 or equal.
        let r = ab.len().max(bb.len());
        let mut bb = bb;
        for i in 0..r {
            let ia = (i + ab.len()).checked_sub(r);
            let ib = (i + bb.len()).checked_sub(r);
            if let (Some(ia), Some(ib)) = (ia, ib) {
                if ab[ia] != bb[ib] && ab[ia] != 1 { bb[ib] = 1; }
            }
        }
        let (ab, bb) = if a_vec { (vec![], bb) } else if b_vec { (ab, vec![]) } else { (ab, bb) };
        let ad: Vec<usize> = if a_vec { vec![k] } else { ab.iter().copied().chain([m, k]).collect() };
        let bd: Vec<usize> = if b_vec && !a_vec { vec![k] } else { bb.iter().copied().chain([k, n]).collect() };
        let av = rand_f32(ad.iter().product(), seed);
        let bv = rand_f32(bd.iter().product(), seed ^ 1);
        let (_, yd) = reference(&av, &ad, &bv, &bd, None, false);
        // Bias shapes: none, column [n], full y shape, or [m,1]-like (last dim 1).
        let bias_shape: Option<Vec<usize>> = match bias_kind {
            1 => Some(vec![*yd.last().unwrap_or(&1)]),
            2 => Some(yd.clone()),
            3 if yd.len() >= 2 => { let mut s = yd.clone(); *s.last_mut().unwrap() = 1; Some(s) }
            _ => None,
        };
        let biasv = bias_shape.as_ref().map(|s| rand_f32(s.iter().product(), seed ^ 2));
        let (want, yd) = reference(&av, &ad, &bv, &bd, bias_shape.as_deref().map(|s| (biasv.as_deref().unwrap(), s)), relu);
        let a = Owned::f32(&ad, &av);
        let b = Owned::f32(&bd, &bv);
        let bias = bias_shape.as_ref().map(|s| Owned::f32(s, biasv.as_deref().unwrap()));
        let act = if relu { Activation::RELU } else { Activation::NONE };
        let y = run(OpKind::MatMul, &params(act), &[Some(&a), Some(&b), bias.as_ref()], &[info(DType::F32, &yd)]).unwrap();
        assert_close(&y[0].as_f32(), &want, 1e-5);
    }
}
