//! Data-movement ops against index-mapping references written from the ONNX spec.
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_runtime::ops::params::{AxisParams, PadParams, ResizeParams, SliceParams, TransposeParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::{DType, OpError};
use sprig_kernels::Isa;

fn iota(n: usize) -> Vec<f32> {
    (0..n).map(|v| v as f32).collect()
}
fn ap(axis: u32) -> Vec<u8> {
    bytes(&AxisParams { axis, flag: 0 })
}

#[test]
fn reshape_concat_split_gather() {
    let x = Owned::i64(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    assert_eq!(run1(OpKind::Reshape, &[], &[&x], info(DType::I64, &[3, 1, 2])).as_i64(), vec![1, 2, 3, 4, 5, 6]);
    assert!(check(OpKind::Reshape, &[], &[Some(&x)], &[info(DType::I64, &[4])]).is_err());
    assert!(check(OpKind::Reshape, &[], &[Some(&x)], &[info(DType::F32, &[6])]).is_err());

    let a = Owned::f32(&[2, 1], &[1., 2.]);
    let b = Owned::f32(&[2, 2], &[3., 4., 5., 6.]);
    assert_eq!(run1(OpKind::Concat, &ap(1), &[&a, &b], info(DType::F32, &[2, 3])).as_f32(), vec![1., 3., 4., 2., 5., 6.]);
    assert!(check(OpKind::Concat, &ap(1), &[Some(&a), Some(&b)], &[info(DType::F32, &[2, 4])]).is_err());
    assert!(check(OpKind::Concat, &ap(0), &[Some(&a), Some(&b)], &[info(DType::F32, &[4, 2])]).is_err());

    let x = Owned::f32(&[2, 3], &iota(6));
    let outs = run(OpKind::Split, &ap(1), &[Some(&x)], &[info(DType::F32, &[2, 1]), info(DType::F32, &[2, 2])]).unwrap();
    assert_eq!(outs[0].as_f32(), vec![0., 3.]);
    assert_eq!(outs[1].as_f32(), vec![1., 2., 4., 5.]);
    assert!(check(OpKind::Split, &ap(1), &[Some(&x)], &[info(DType::F32, &[2, 1]), info(DType::F32, &[2, 1])]).is_err());

    // Gather axis 1 with a [2,2] index tensor, negative index wraps.
    let ind = Owned::i64(&[2, 2], &[0, -1, 1, 1]);
    let y = run1(OpKind::Gather, &ap(1), &[&x, &ind], info(DType::F32, &[2, 2, 2]));
    assert_eq!(y.as_f32(), vec![0., 2., 1., 1., 3., 5., 4., 4.]);
    let bad = Owned::i32(&[1], &[3]);
    let r = run(OpKind::Gather, &ap(1), &[Some(&x), Some(&bad)], &[info(DType::F32, &[2, 1])]);
    assert!(matches!(r, Err(OpError::IndexOutOfRange { index: 3, len: 3 })));
    let neg = Owned::i32(&[1], &[-4]);
    assert!(run(OpKind::Gather, &ap(1), &[Some(&x), Some(&neg)], &[info(DType::F32, &[2, 1])]).is_err());
    let scalar = Owned::i64(&[], &[1]);
    assert_eq!(run1(OpKind::Gather, &ap(0), &[&x, &scalar], info(DType::F32, &[3])).as_f32(), vec![3., 4., 5.]);
    assert!(check(OpKind::Gather, &ap(0), &[Some(&x), Some(&scalar)], &[info(DType::F32, &[1, 3])]).is_err());
}

#[test]
fn expand_tile() {
    let x = Owned::f32(&[3, 1], &[1., 2., 3.]);
    assert_eq!(run1(OpKind::Expand, &[], &[&x], info(DType::F32, &[2, 3, 2])).as_f32(), vec![1., 1., 2., 2., 3., 3., 1., 1., 2., 2., 3., 3.]);
    assert!(check(OpKind::Expand, &[], &[Some(&x)], &[info(DType::F32, &[2, 2])]).is_err());
    let t = Owned::f32(&[2, 2], &[1., 2., 3., 4.]);
    assert_eq!(run1(OpKind::Tile, &[], &[&t], info(DType::F32, &[2, 4])).as_f32(), vec![1., 2., 1., 2., 3., 4., 3., 4.]);
    assert_eq!(run1(OpKind::Tile, &[], &[&t], info(DType::F32, &[4, 2])).as_f32(), vec![1., 2., 3., 4., 1., 2., 3., 4.]);
    assert!(check(OpKind::Tile, &[], &[Some(&t)], &[info(DType::F32, &[3, 2])]).is_err());
}

fn padp(mode: u32, value: f32, begin: &[i64], end: &[i64]) -> Vec<u8> {
    let mut pads = [0i64; 16];
    pads[..begin.len()].copy_from_slice(begin);
    pads[8..8 + end.len()].copy_from_slice(end);
    bytes(&PadParams { mode, value, pads })
}

#[test]
fn pad_modes() {
    // numpy.pad([1,2,3], (2,3), mode) values.
    let x = Owned::f32(&[3], &[1., 2., 3.]);
    let o = info(DType::F32, &[8]);
    assert_eq!(run1(OpKind::Pad, &padp(0, 9., &[2], &[3]), &[&x], o).as_f32(), vec![9., 9., 1., 2., 3., 9., 9., 9.]);
    assert_eq!(run1(OpKind::Pad, &padp(1, 0., &[2], &[3]), &[&x], o).as_f32(), vec![3., 2., 1., 2., 3., 2., 1., 2.]);
    assert_eq!(run1(OpKind::Pad, &padp(2, 0., &[2], &[3]), &[&x], o).as_f32(), vec![1., 1., 1., 2., 3., 3., 3., 3.]);
    assert_eq!(run1(OpKind::Pad, &padp(3, 0., &[2], &[3]), &[&x], o).as_f32(), vec![2., 3., 1., 2., 3., 1., 2., 3.]);
    // Negative pads crop; 2-D with an i64 constant.
    let x = Owned::i64(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    let y = run1(OpKind::Pad, &padp(0, -1., &[1, -1], &[0, 1]), &[&x], info(DType::I64, &[3, 3]));
    assert_eq!(y.as_i64(), vec![-1, -1, -1, 2, 3, -1, 5, 6, -1]);
    assert!(check(OpKind::Pad, &padp(0, 0., &[1, 0], &[0, 0]), &[Some(&x)], &[info(DType::I64, &[2, 3])]).is_err());
    assert!(check(OpKind::Pad, &padp(7, 0., &[0, 0], &[0, 0]), &[Some(&x)], &[info(DType::I64, &[2, 3])]).is_err());
}

fn resp(mode: u32, coord: u32, nearest: u32, scales: &[f32]) -> Vec<u8> {
    let mut s = [1f32; 8];
    s[..scales.len()].copy_from_slice(scales);
    bytes(&ResizeParams { mode, coord_mode: coord, nearest_mode: nearest, _pad: 0, scales: s })
}

#[test]
fn resize_hand_checked() {
    // ONNX backend test resize_upsample_scales_nearest: [[1,2],[3,4]] x (2,3) asymmetric floor... here
    // the default (half_pixel, round_prefer_floor) gives the same picture.
    let x = Owned::f32(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
    let y = run1(OpKind::Resize, &resp(0, 0, 0, &[1., 1., 2., 3.]), &[&x], info(DType::F32, &[1, 1, 4, 6]));
    assert_eq!(
        y.as_f32(),
        vec![1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4., 3., 3., 3., 4., 4., 4.]
    );
    // resize_upsample_scales_linear (half_pixel): ONNX expected output.
    let y = run1(OpKind::Resize, &resp(1, 0, 0, &[1., 1., 2., 2.]), &[&x], info(DType::F32, &[1, 1, 4, 4]));
    assert_close(&y.as_f32(), &[1., 1.25, 1.75, 2., 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3., 3.25, 3.75, 4.], 1e-6);
    // resize_upsample_scales_linear_align_corners: ONNX expected output.
    let y = run1(OpKind::Resize, &resp(1, 2, 0, &[1., 1., 2., 2.]), &[&x], info(DType::F32, &[1, 1, 4, 4]));
    let t = 1.0 / 3.0;
    let want: Vec<f32> = (0..16).map(|k| { let (i, j) = ((k / 4) as f32 * t, (k % 4) as f32 * t); 1.0 + j + 2.0 * i }).collect();
    assert_close(&y.as_f32(), &want, 1e-6);
    assert!(check(OpKind::Resize, &resp(2, 0, 0, &[1.; 4]), &[Some(&x)], &[info(DType::F32, &[1, 1, 2, 2])]).is_err());
    assert!(check(OpKind::Resize, &resp(0, 0, 0, &[1., 1., 0., 1.]), &[Some(&x)], &[info(DType::F32, &[1, 1, 2, 2])]).is_err());
}

/// ONNX coordinate transform, written from the operator spec.
fn coord(mode: u32, o: usize, inp: usize, out: usize, s: f32) -> f64 {
    let (o, i, n, s) = (o as f64, inp as f64, out as f64, s as f64);
    match mode {
        0 => (o + 0.5) / s - 0.5,
        1 => o / s,
        2 => if out == 1 { 0.0 } else { o * (i - 1.0) / (n - 1.0) },
        3 => if out > 1 { (o + 0.5) / s - 0.5 } else { 0.0 },
        4 => (o + 0.5) / s,
        _ => { let adj = n / (s * i); i / 2.0 * (1.0 - adj) + (o + 0.5) / s - 0.5 }
    }
}

fn resize_ref(x: &[f32], d: &[usize], od: &[usize], scales: &[f32], mode: u32, cm: u32, nm: u32) -> Vec<f32> {
    let n: usize = od.iter().product();
    let st = strides(d);
    (0..n)
        .map(|k| {
            let idx = unravel(k, od);
            // Per axis: list of (index, weight).
            let per_axis: Vec<Vec<(usize, f64)>> = (0..d.len())
                .map(|a| {
                    if d[a] == od[a] && scales[a] == 1.0 {
                        return vec![(idx[a], 1.0)];
                    }
                    let c = coord(cm, idx[a], d[a], od[a], scales[a]);
                    if mode == 0 {
                        let r = match nm {
                            0 => if c.fract().abs() == 0.5 { c.floor() } else { c.round() },
                            1 => if c.fract().abs() == 0.5 { c.ceil() } else { c.round() },
                            2 => c.floor(),
                            _ => c.ceil(),
                        };
                        vec![(r.clamp(0.0, (d[a] - 1) as f64) as usize, 1.0)]
                    } else {
                        let c = c.clamp(0.0, (d[a] - 1) as f64);
                        let lo = c.floor() as usize;
                        let hi = (lo + 1).min(d[a] - 1);
                        vec![(lo, 1.0 - (c - lo as f64)), (hi, c - lo as f64)]
                    }
                })
                .collect();
            let mut acc = 0f64;
            let combos: usize = per_axis.iter().map(|v| v.len()).product();
            for m in 0..combos {
                let (mut off, mut w, mut r) = (0usize, 1f64, m);
                for (a, v) in per_axis.iter().enumerate() {
                    let (i, wi) = v[r % v.len()];
                    r /= v.len();
                    off += i * st[a];
                    w *= wi;
                }
                acc += w * x[off] as f64;
            }
            acc as f32
        })
        .collect()
}

/// A permutation of `0..r` drawn from `seed`, and the input index each output element of a
/// Transpose of `d` by it reads.
fn perm_and_sources(d: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let r = d.len();
    let mut perm: Vec<usize> = (0..r).collect();
    let mut s = seed;
    for i in (1..r).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        perm.swap(i, (s >> 33) as usize % (i + 1));
    }
    let od: Vec<usize> = perm.iter().map(|&p| d[p]).collect();
    let st = strides(d);
    let n: usize = d.iter().product();
    let src = (0..n)
        .map(|k| {
            let oi = unravel(k, &od);
            (0..r).map(|i| oi[i] * st[perm[i]]).sum::<usize>()
        })
        .collect();
    (perm, src)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn transpose_matches_reference(d in prop::collection::vec(1..4usize, 0..6), seed in any::<u64>()) {
        let (perm, srcs) = perm_and_sources(&d, seed);
        let od: Vec<usize> = perm.iter().map(|&p| d[p]).collect();
        let xv = iota(d.iter().product());
        let want: Vec<f32> = srcs.iter().map(|&i| xv[i]).collect();
        let mut pa = [0u32; 8];
        for (i, &p) in perm.iter().enumerate() { pa[i] = p as u32; }
        let x = Owned::f32(&d, &xv);
        let y = run1(OpKind::Transpose, &bytes(&TransposeParams { perm: pa }), &[&x], info(DType::F32, &od));
        prop_assert_eq!(y.as_f32(), want);
    }

    /// Larger dims (the blocked 2-D transpose path: 8×8 AVX2 blocks and their edges), every
    /// element size (u8, i32 as 4 bytes, i64) and every ISA this CPU has, against the index
    /// formula; perms that keep the last axis in place take the run copies.
    #[test]
    fn transpose_blocks_match_reference(d in prop::collection::vec(1..21usize, 2..5), seed in any::<u64>()) {
        let (perm, want_idx) = perm_and_sources(&d, seed);
        let od: Vec<usize> = perm.iter().map(|&p| d[p]).collect();
        let n: usize = d.iter().product();
        let src = |k: usize| (0..n).map(|i| ((i * 2654435761) >> 3) as i64 + k as i64).collect::<Vec<i64>>();
        let mut pa = [0u32; 8];
        for (i, &p) in perm.iter().enumerate() { pa[i] = p as u32; }
        let params = bytes(&TransposeParams { perm: pa });
        for isa in Isa::ALL {
            if !isa.available() { continue; }
            let v = src(1);
            let x = Owned::i64(&d, &v);
            let y = run_isa(OpKind::Transpose, &params, &[Some(&x)], &[info(DType::I64, &od)], isa).unwrap().remove(0);
            prop_assert!(y.as_i64().iter().zip(&want_idx).all(|(&a, &i)| a == v[i]), "i64 {:?} perm {:?} on {}", d, perm, isa.name());
            let v32: Vec<i32> = src(2).iter().map(|&a| a as i32).collect();
            let x = Owned::i32(&d, &v32);
            let y = run_isa(OpKind::Transpose, &params, &[Some(&x)], &[info(DType::I32, &od)], isa).unwrap().remove(0);
            prop_assert!(y.as_i32().iter().zip(&want_idx).all(|(&a, &i)| a == v32[i]), "i32 {:?} perm {:?} on {}", d, perm, isa.name());
            let v8: Vec<u8> = src(3).iter().map(|&a| a as u8).collect();
            let x = Owned::u8(&d, &v8);
            let y = run_isa(OpKind::Transpose, &params, &[Some(&x)], &[info(DType::U8, &od)], isa).unwrap().remove(0);
            prop_assert!(y.as_u8().iter().zip(&want_idx).all(|(&a, &i)| a == v8[i]), "u8 {:?} perm {:?} on {}", d, perm, isa.name());
        }
    }

    #[test]
    fn slice_matches_reference(axes in prop::collection::vec((1..7usize, 0..7usize, 1..4i64, any::<bool>(), 0..7usize), 1..5)) {
        let d: Vec<usize> = axes.iter().map(|a| a.0).collect();
        let mut starts = [0i64; 8];
        let mut steps = [1i64; 8];
        let mut od = vec![];
        for (i, &(n, st, step, neg, cnt)) in axes.iter().enumerate() {
            let st = st % n;
            let step = if neg { -step } else { step };
            // How many steps fit from st inside [0, n).
            let max = if step > 0 { (n - 1 - st) / step as usize + 1 } else { st / (-step) as usize + 1 };
            starts[i] = st as i64;
            steps[i] = step;
            od.push(cnt.min(max));
        }
        let xv = iota(d.iter().product());
        let xst = strides(&d);
        let want: Vec<f32> = (0..od.iter().product()).map(|k| {
            let oi = unravel(k, &od);
            xv[(0..d.len()).map(|i| (starts[i] + oi[i] as i64 * steps[i]) as usize * xst[i]).sum::<usize>()]
        }).collect();
        let x = Owned::f32(&d, &xv);
        let y = run1(OpKind::Slice, &bytes(&SliceParams { starts, steps }), &[&x], info(DType::F32, &od));
        prop_assert_eq!(y.as_f32(), want);
        // One more element than fits is rejected.
        if let Some(i) = (0..d.len()).find(|&i| od[i] > 0) {
            let mut bad = od.clone();
            let step = steps[i];
            let max = if step > 0 { (d[i] - 1 - starts[i] as usize) / step as usize + 1 } else { starts[i] as usize / (-step) as usize + 1 };
            bad[i] = max + 1;
            let sp = bytes(&SliceParams { starts, steps });
            prop_assert!(check(OpKind::Slice, &sp, &[Some(&x)], &[info(DType::F32, &bad)]).is_err());
        }
    }

    #[test]
    fn resize_matches_reference(h in 1..6usize, w in 1..6usize, sh in 1..9u32, sw in 1..9u32, mode in 0..2u32, cm in 0..6u32, nm in 0..4u32, seed in any::<u64>()) {
        // Scales in quarter steps from 0.25 to 2.25; output size floor(in * scale) as ONNX computes it.
        let (fh, fw) = (sh as f32 / 4.0 + 0.25, sw as f32 / 4.0 + 0.25);
        let (oh, ow) = (((h as f32 * fh) as usize).max(1), ((w as f32 * fw) as usize).max(1));
        let cm = if mode == 1 && cm == 4 { 0 } else { cm };
        let d = [1, 2, h, w];
        let od = [1, 2, oh, ow];
        let scales = [1.0, 1.0, fh, fw];
        let xv = rand_f32(2 * h * w, seed);
        let want = resize_ref(&xv, &d, &od, &scales, mode, cm, nm);
        let x = Owned::f32(&d, &xv);
        let y = run1(OpKind::Resize, &resp(mode, cm, nm, &scales), &[&x], info(DType::F32, &od));
        assert_close(&y.as_f32(), &want, 1e-5);
    }
}
