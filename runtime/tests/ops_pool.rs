//! MaxPool, AveragePool and global pools against nested-loop references from the ONNX spec.
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_runtime::ops::params::PoolParams;
use sprig_runtime::ops::OpKind;
use sprig_runtime::{DType, OpError};

fn pp(k: [u32; 2], s: [u32; 2], p: [u32; 4], d: [u32; 2], cip: u32) -> Vec<u8> {
    bytes(&PoolParams { kernel: k, strides: s, pads: p, dilations: d, count_include_pad: cip, _pad: 0 })
}

/// Output size per ONNX (floor, or ceil where the last window must start inside input + begin pad).
fn out_size(i: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize, ceil: bool) -> usize {
    let ek = (k - 1) * d + 1;
    let num = i + pb + pe - ek;
    if ceil {
        let mut o = num.div_ceil(s) + 1;
        if (o - 1) * s >= i + pb {
            o -= 1;
        }
        o
    } else {
        num / s + 1
    }
}

#[allow(clippy::too_many_arguments)]
fn pool_ref(x: &[f32], nc: usize, h: usize, w: usize, k: [usize; 2], s: [usize; 2], p: [usize; 4], d: [usize; 2], oh: usize, ow: usize, max: bool, cip: bool) -> Vec<f32> {
    let mut y = Vec::new();
    for c in 0..nc {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut vals = Vec::new();
                let mut padded_positions = 0;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * s[0] + ky * d[0]) as i64 - p[0] as i64;
                        let ix = (ox * s[1] + kx * d[1]) as i64 - p[1] as i64;
                        let inside = iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64;
                        let in_padded = iy < (h + p[2]) as i64 && ix < (w + p[3]) as i64;
                        if inside {
                            vals.push(x[(c * h + iy as usize) * w + ix as usize]);
                        } else if in_padded {
                            padded_positions += 1;
                        }
                    }
                }
                y.push(if max {
                    vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    let n = vals.len() + if cip { padded_positions } else { 0 };
                    if n == 0 { 0.0 } else { vals.iter().sum::<f32>() / n as f32 }
                });
            }
        }
    }
    y
}

#[test]
fn hand_checked() {
    let x = Owned::f32(&[1, 1, 3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    let o = info(DType::F32, &[1, 1, 2, 2]);
    let y = run1(OpKind::MaxPool, &pp([2, 2], [1, 1], [0; 4], [1, 1], 0), &[&x], o);
    assert_eq!(y.as_f32(), vec![5., 6., 8., 9.]);
    let y = run1(OpKind::AveragePool, &pp([2, 2], [1, 1], [0; 4], [1, 1], 0), &[&x], o);
    assert_eq!(y.as_f32(), vec![3., 4., 6., 7.]);
    // Pad 1, stride 2, 2x2: corners see one real element; with count_include_pad they divide by 4.
    let y = run1(OpKind::AveragePool, &pp([2, 2], [2, 2], [1, 1, 1, 1], [1, 1], 1), &[&x], o);
    assert_eq!(y.as_f32(), vec![0.25, 5. / 4., 11. / 4., 28. / 4.]);
    let y = run1(OpKind::AveragePool, &pp([2, 2], [2, 2], [1, 1, 1, 1], [1, 1], 0), &[&x], o);
    assert_eq!(y.as_f32(), vec![1., 2.5, 5.5, 7.]);
    let g = run1(OpKind::GlobalAveragePool, &[], &[&x], info(DType::F32, &[1, 1, 1, 1]));
    assert_eq!(g.as_f32(), vec![5.]);
    let g = run1(OpKind::GlobalMaxPool, &[], &[&x], info(DType::F32, &[1, 1, 1, 1]));
    assert_eq!(g.as_f32(), vec![9.]);
    // 1-D.
    let x1 = Owned::f32(&[1, 2, 4], &[1., 5., 2., 0., -1., -2., -3., -4.]);
    let y = run1(OpKind::MaxPool, &pp([1, 2], [1, 2], [0; 4], [1, 1], 0), &[&x1], info(DType::F32, &[1, 2, 2]));
    assert_eq!(y.as_f32(), vec![5., 2., -1., -3.]);
}

#[test]
fn check_rejects() {
    let x = Owned::f32(&[1, 1, 4, 4], &[0.; 16]);
    let p = pp([2, 2], [2, 2], [0; 4], [1, 1], 0);
    assert!(check(OpKind::MaxPool, &p, &[Some(&x)], &[info(DType::F32, &[1, 1, 2, 2])]).is_ok());
    assert!(matches!(check(OpKind::MaxPool, &p, &[Some(&x)], &[info(DType::F32, &[1, 1, 3, 3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::MaxPool, &p, &[Some(&x)], &[info(DType::I64, &[1, 1, 2, 2])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::MaxPool, &p[..16], &[Some(&x)], &[info(DType::F32, &[1, 1, 2, 2])]), Err(OpError::BadParams(_))));
    assert!(check(OpKind::GlobalAveragePool, &[], &[Some(&x)], &[info(DType::F32, &[1, 1, 2, 1])]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn pools_match_reference(nc in 1..4usize, h in 1..9usize, w in 1..9usize, kh in 1..4usize, kw in 1..4usize, sh in 1..4usize, sw in 1..4usize,
                             dh in 1..3usize, dw in 1..3usize, p in prop::array::uniform4(0..3usize), ceil in any::<bool>(), cip in any::<bool>(),
                             max in any::<bool>(), seed in any::<u64>()) {
        // ONNX requires pads smaller than the kernel extent.
        let p = [p[0].min(kh - 1), p[1].min(kw - 1), p[2].min(kh - 1), p[3].min(kw - 1)];
        prop_assume!(h + p[0] + p[2] > (kh - 1) * dh && w + p[1] + p[3] > (kw - 1) * dw);
        let oh = out_size(h, kh, sh, dh, p[0], p[2], ceil);
        let ow = out_size(w, kw, sw, dw, p[1], p[3], ceil);
        let xv = rand_f32(nc * h * w, seed);
        let want = pool_ref(&xv, nc, h, w, [kh, kw], [sh, sw], p, [dh, dw], oh, ow, max, cip);
        let x = Owned::f32(&[1, nc, h, w], &xv);
        let u = |v: usize| v as u32;
        let params = pp([u(kh), u(kw)], [u(sh), u(sw)], [u(p[0]), u(p[1]), u(p[2]), u(p[3])], [u(dh), u(dw)], cip as u32);
        let op = if max { OpKind::MaxPool } else { OpKind::AveragePool };
        let y = run1(op, &params, &[&x], info(DType::F32, &[1, nc, oh, ow]));
        assert_close(&y.as_f32(), &want, 1e-6);
    }
}

/// MaxPool with NaN-propagating max (the reference above folds with `f32::max`, which drops NaN).
#[allow(clippy::too_many_arguments)]
fn maxpool_nan_ref(x: &[f32], nc: usize, h: usize, w: usize, k: [usize; 2], s: [usize; 2], p: [usize; 4], oh: usize, ow: usize) -> Vec<f32> {
    let mut y = Vec::new();
    for c in 0..nc {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f32::NEG_INFINITY;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let (iy, ix) = ((oy * s[0] + ky) as i64 - p[0] as i64, (ox * s[1] + kx) as i64 - p[1] as i64);
                        if iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64 {
                            let v = x[(c * h + iy as usize) * w + ix as usize];
                            m = if v.is_nan() || m.is_nan() { f32::NAN } else { m.max(v) };
                        }
                    }
                }
                y.push(m);
            }
        }
    }
    y
}

#[allow(clippy::too_many_arguments)]
fn run_maxpool(xv: &[f32], nc: usize, h: usize, w: usize, k: [usize; 2], s: [usize; 2], p: [usize; 4], ceil: bool) -> (Vec<f32>, usize, usize) {
    let oh = out_size(h, k[0], s[0], 1, p[0], p[2], ceil);
    let ow = out_size(w, k[1], s[1], 1, p[1], p[3], ceil);
    let x = Owned::f32(&[1, nc, h, w], xv);
    let u = |v: usize| v as u32;
    let params = pp([u(k[0]), u(k[1])], [u(s[0]), u(s[1])], [u(p[0]), u(p[1]), u(p[2]), u(p[3])], [1, 1], 0);
    let y = run1(OpKind::MaxPool, &params, &[&x], info(DType::F32, &[1, nc, oh, ow]));
    (y.as_f32(), oh, ow)
}

/// The ResNet stem pool (k3 s2 p1) and the other fast-path kernels on rows wider than the
/// 512-column chunk of the separable path, odd sizes, with NaN and -inf inputs.
#[test]
fn maxpool_wide_rows_nan_and_inf() {
    for (k, s, p) in [([3, 3], [2, 2], [1, 1, 1, 1]), ([3, 3], [1, 1], [1, 1, 1, 1]), ([2, 2], [2, 2], [0; 4]), ([2, 2], [1, 1], [0, 1, 1, 0]), ([3, 2], [2, 1], [2, 0, 1, 1])] {
        for (h, w) in [(5, 1027), (3, 513), (4, 1), (7, 9)] {
            if h + p[0] + p[2] < k[0] || w + p[1] + p[3] < k[1] {
                continue;
            }
            let nc = 2;
            let mut xv = rand_f32(nc * h * w, (h * 1000 + w) as u64);
            xv[w + w / 2] = f32::NAN;
            xv[h * w + 3.min(w - 1)] = f32::NEG_INFINITY;
            xv[nc * h * w - 1] = f32::NAN;
            for ceil in [false, true] {
                let (y, oh, ow) = run_maxpool(&xv, nc, h, w, k, s, p, ceil);
                let want = maxpool_nan_ref(&xv, nc, h, w, k, s, p, oh, ow);
                assert_eq!(y.len(), want.len());
                for (i, (g, r)) in y.iter().zip(&want).enumerate() {
                    assert!(g == r || (g.is_nan() && r.is_nan()), "k{k:?} s{s:?} p{p:?} {h}x{w} ceil={ceil} at {i}: {g} vs {r}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// The MaxPool fast path (dilation 1) on rows around and beyond its 512-column chunk.
    #[test]
    fn maxpool_fast_path_matches_reference(nc in 1..3usize, h in 1..6usize, w in 1..1100usize, kh in 1..4usize, kw in 1..4usize,
                                          sh in 1..3usize, sw in 1..4usize, p in prop::array::uniform4(0..3usize), ceil in any::<bool>(),
                                          nan_at in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let p = [p[0].min(kh - 1), p[1].min(kw - 1), p[2].min(kh - 1), p[3].min(kw - 1)];
        prop_assume!(h + p[0] + p[2] >= kh && w + p[1] + p[3] >= kw);
        let mut xv = rand_f32(nc * h * w, seed);
        if seed % 3 == 0 {
            xv[nan_at.index(nc * h * w)] = f32::NAN;
        }
        let (y, oh, ow) = run_maxpool(&xv, nc, h, w, [kh, kw], [sh, sw], p, ceil);
        let want = maxpool_nan_ref(&xv, nc, h, w, [kh, kw], [sh, sw], p, oh, ow);
        for (i, (g, r)) in y.iter().zip(&want).enumerate() {
            prop_assert!(g == r || (g.is_nan() && r.is_nan()), "at {}: {} vs {}", i, g, r);
        }
    }
}
