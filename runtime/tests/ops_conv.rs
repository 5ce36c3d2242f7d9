//! Conv and ConvTranspose against direct nested-loop references written from the ONNX spec.
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_runtime::ops::params::{ActParams, ConvParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::{Activation, DType, Isa, OpError};

#[derive(Clone, Copy, Debug)]
struct G {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    group: usize,
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    /// top, left, bottom, right
    p: [usize; 4],
}

fn params(g: &G, act: Activation) -> Vec<u8> {
    let u = |v: usize| v as u32;
    bytes(&ConvParams {
        kernel: [u(g.k[0]), u(g.k[1])],
        strides: [u(g.s[0]), u(g.s[1])],
        pads: [u(g.p[0]), u(g.p[1]), u(g.p[2]), u(g.p[3])],
        dilations: [u(g.d[0]), u(g.d[1])],
        group: u(g.group),
        _pad: 0,
        act: ActParams::from_activation(&act),
    })
}

fn out_hw(g: &G) -> (usize, usize) {
    let oh = (g.h + g.p[0] + g.p[2] - (g.d[0] * (g.k[0] - 1) + 1)) / g.s[0] + 1;
    let ow = (g.w + g.p[1] + g.p[3] - (g.d[1] * (g.k[1] - 1) + 1)) / g.s[1] + 1;
    (oh, ow)
}

/// ONNX Conv: y[n, m, oy, ox] = b[m] + Σ_{c in group, ky, kx} x[n, c, oy*s - p + ky*d, ...] · w[m, c', ky, kx].
fn conv_ref(g: &G, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow) = out_hw(g);
    let (cg, mg) = (g.c / g.group, g.m / g.group);
    let mut y = vec![0f32; g.n * g.m * oh * ow];
    for n in 0..g.n {
        for m in 0..g.m {
            let grp = m / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b.map_or(0.0, |b| b[m]);
                    for ci in 0..cg {
                        let c = grp * cg + ci;
                        for ky in 0..g.k[0] {
                            for kx in 0..g.k[1] {
                                let iy = (oy * g.s[0] + ky * g.d[0]) as i64 - g.p[0] as i64;
                                let ix = (ox * g.s[1] + kx * g.d[1]) as i64 - g.p[1] as i64;
                                if iy < 0 || ix < 0 || iy >= g.h as i64 || ix >= g.w as i64 {
                                    continue;
                                }
                                let xv = x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize];
                                let wv = w[((m * cg + ci) * g.k[0] + ky) * g.k[1] + kx];
                                s += xv * wv;
                            }
                        }
                    }
                    y[((n * g.m + m) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    y
}

fn run_conv(g: &G, one_d: bool, bias: bool, relu: bool, isa: Isa, seed: u64) {
    let (oh, ow) = out_hw(g);
    let xv = rand_f32(g.n * g.c * g.h * g.w, seed);
    let wv = rand_f32(g.m * (g.c / g.group) * g.k[0] * g.k[1], seed ^ 7);
    let bv = rand_f32(g.m, seed ^ 9);
    let mut want = conv_ref(g, &xv, &wv, bias.then_some(&bv[..]));
    if relu {
        want.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    let (xd, wd, yd) = if one_d {
        (vec![g.n, g.c, g.w], vec![g.m, g.c / g.group, g.k[1]], vec![g.n, g.m, ow])
    } else {
        (vec![g.n, g.c, g.h, g.w], vec![g.m, g.c / g.group, g.k[0], g.k[1]], vec![g.n, g.m, oh, ow])
    };
    let x = Owned::f32(&xd, &xv);
    let w = Owned::f32(&wd, &wv);
    let b = Owned::f32(&[g.m], &bv);
    let act = if relu { Activation::RELU } else { Activation::NONE };
    let y = run_isa(OpKind::Conv, &params(g, act), &[Some(&x), Some(&w), bias.then_some(&b)], &[info(DType::F32, &yd)], isa).unwrap();
    assert_close(&y[0].as_f32(), &want, 1e-4);
}

#[test]
fn hand_checked_3x3_pad1() {
    // 1x1x3x3 input 1..9, 3x3 all-ones kernel, pad 1: each output sums its 3x3 neighbourhood.
    let g = G { n: 1, c: 1, h: 3, w: 3, m: 1, group: 1, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] };
    let x = Owned::f32(&[1, 1, 3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    let w = Owned::f32(&[1, 1, 3, 3], &[1.; 9]);
    let y = run1(OpKind::Conv, &params(&g, Activation::NONE), &[&x, &w], info(DType::F32, &[1, 1, 3, 3]));
    assert_eq!(y.as_f32(), vec![12., 21., 16., 27., 45., 33., 24., 39., 28.]);
}

#[test]
fn paths_match_reference() {
    let base = G { n: 2, c: 4, h: 5, w: 6, m: 6, group: 1, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] };
    let cases = [
        base,
        G { k: [1, 1], p: [0; 4], ..base },                                // pointwise
        G { m: 4, group: 4, ..base },                                      // depthwise
        G { m: 4, group: 4, s: [2, 2], p: [0, 1, 1, 0], ..base },         // depthwise strided, asymmetric pad
        G { group: 2, s: [2, 1], d: [1, 2], ..base },                      // grouped, strided, dilated
        G { k: [1, 1], p: [0; 4], group: 2, ..base },                      // grouped pointwise
        G { m: 8, group: 4, ..base },                                      // channel multiplier 2 (not depthwise kernel)
    ];
    for isa in Isa::ALL {
        if !isa.available() {
            println!("SKIPPED: {} not available on this CPU", isa.name());
            continue;
        }
        for (i, g) in cases.iter().enumerate() {
            for (bias, relu) in [(false, false), (true, true)] {
                run_conv(g, false, bias, relu, isa, i as u64);
            }
        }
    }
}

#[test]
fn one_d_conv() {
    let g = G { n: 2, c: 3, h: 1, w: 9, m: 4, group: 1, k: [1, 3], s: [1, 2], d: [1, 2], p: [0, 2, 0, 1] };
    run_conv(&g, true, true, false, Isa::detect(), 5);
    let dw = G { m: 3, group: 3, ..g };
    run_conv(&dw, true, false, false, Isa::detect(), 6);
}

#[test]
fn check_rejects() {
    let g = G { n: 1, c: 2, h: 4, w: 4, m: 2, group: 1, k: [3, 3], s: [1, 1], d: [1, 1], p: [0; 4] };
    let x = Owned::zeros(DType::F32, &[1, 2, 4, 4]);
    let w = Owned::zeros(DType::F32, &[2, 2, 3, 3]);
    let p = params(&g, Activation::NONE);
    let ok = info(DType::F32, &[1, 2, 2, 2]);
    assert!(check(OpKind::Conv, &p, &[Some(&x), Some(&w)], &[ok]).is_ok());
    assert!(matches!(check(OpKind::Conv, &p, &[Some(&x), Some(&w)], &[info(DType::F32, &[1, 2, 3, 3])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Conv, &p, &[Some(&x), Some(&w)], &[info(DType::I32, &[1, 2, 2, 2])]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Conv, &p[..20], &[Some(&x), Some(&w)], &[ok]), Err(OpError::BadParams(_))));
    let w_bad = Owned::zeros(DType::F32, &[2, 2, 2, 2]);
    assert!(check(OpKind::Conv, &p, &[Some(&x), Some(&w_bad)], &[ok]).is_err());
    let b_bad = Owned::zeros(DType::F32, &[3]);
    assert!(check(OpKind::Conv, &p, &[Some(&x), Some(&w), Some(&b_bad)], &[ok]).is_err());
    let p0 = params(&G { s: [0, 1], ..g }, Activation::NONE);
    assert!(matches!(check(OpKind::Conv, &p0, &[Some(&x), Some(&w)], &[ok]), Err(OpError::BadParams(_))));
    let pg = params(&G { group: 3, ..g }, Activation::NONE);
    assert!(check(OpKind::Conv, &pg, &[Some(&x), Some(&w)], &[ok]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn conv_matches_reference(n in 1..3usize, cg in 1..4usize, mg in 1..4usize, group in 1..4usize, h in 1..8usize, w in 1..8usize,
                              kh in 1..4usize, kw in 1..4usize, sh in 1..3usize, sw in 1..3usize, dh in 1..3usize, dw in 1..3usize,
                              p in prop::array::uniform4(0..3usize), bias in any::<bool>(), seed in any::<u64>()) {
        let g = G { n, c: cg * group, h, w, m: mg * group, group, k: [kh, kw], s: [sh, sw], d: [dh, dw], p };
        prop_assume!(h + p[0] + p[2] > dh * (kh - 1) && w + p[1] + p[3] > dw * (kw - 1));
        run_conv(&g, false, bias, false, Isa::detect(), seed);
        // The depthwise variant of the same geometry.
        let dwg = G { c: group, m: group, ..g };
        run_conv(&dwg, false, bias, false, Isa::detect(), seed);
    }
}

// ---------------- ConvTranspose ----------------

/// ONNX ConvTranspose: y[n, g*mg+m, iy*s + ky*d - pt, ...] += x[n, g*cg+c, iy, ix] · w[g*cg+c, m, ky, kx].
fn convt_ref(g: &G, oh: usize, ow: usize, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let (cg, mg) = (g.c / g.group, g.m / g.group);
    let mut y = vec![0f32; g.n * g.m * oh * ow];
    for n in 0..g.n {
        for m in 0..g.m {
            for v in &mut y[(n * g.m + m) * oh * ow..(n * g.m + m + 1) * oh * ow] {
                *v = b.map_or(0.0, |b| b[m]);
            }
        }
        for c in 0..g.c {
            let grp = c / cg;
            for mi in 0..mg {
                let m = grp * mg + mi;
                for iy in 0..g.h {
                    for ix in 0..g.w {
                        for ky in 0..g.k[0] {
                            for kx in 0..g.k[1] {
                                let oy = (iy * g.s[0] + ky * g.d[0]) as i64 - g.p[0] as i64;
                                let ox = (ix * g.s[1] + kx * g.d[1]) as i64 - g.p[1] as i64;
                                if oy < 0 || ox < 0 || oy >= oh as i64 || ox >= ow as i64 {
                                    continue;
                                }
                                y[((n * g.m + m) * oh + oy as usize) * ow + ox as usize] +=
                                    x[((n * g.c + c) * g.h + iy) * g.w + ix] * w[((c * mg + mi) * g.k[0] + ky) * g.k[1] + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

fn run_convt(g: &G, out_pad: [usize; 2], seed: u64) {
    let oh = g.s[0] * (g.h - 1) + out_pad[0] + (g.k[0] - 1) * g.d[0] + 1 - g.p[0] - g.p[2];
    let ow = g.s[1] * (g.w - 1) + out_pad[1] + (g.k[1] - 1) * g.d[1] + 1 - g.p[1] - g.p[3];
    let xv = rand_f32(g.n * g.c * g.h * g.w, seed);
    let wv = rand_f32(g.c * (g.m / g.group) * g.k[0] * g.k[1], seed ^ 3);
    let bv = rand_f32(g.m, seed ^ 4);
    let want = convt_ref(g, oh, ow, &xv, &wv, Some(&bv));
    let x = Owned::f32(&[g.n, g.c, g.h, g.w], &xv);
    let w = Owned::f32(&[g.c, g.m / g.group, g.k[0], g.k[1]], &wv);
    let b = Owned::f32(&[g.m], &bv);
    let y = run1(OpKind::ConvTranspose, &params(g, Activation::NONE), &[&x, &w, &b], info(DType::F32, &[g.n, g.m, oh, ow]));
    assert_close(&y.as_f32(), &want, 1e-4);
}

#[test]
fn conv_transpose_hand_checked() {
    // 1x1x2x2 input, 2x2 ones kernel, stride 2: each input pixel becomes a 2x2 block.
    let g = G { n: 1, c: 1, h: 2, w: 2, m: 1, group: 1, k: [2, 2], s: [2, 2], d: [1, 1], p: [0; 4] };
    let x = Owned::f32(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
    let w = Owned::f32(&[1, 1, 2, 2], &[1.; 4]);
    let y = run1(OpKind::ConvTranspose, &params(&g, Activation::NONE), &[&x, &w], info(DType::F32, &[1, 1, 4, 4]));
    assert_eq!(y.as_f32(), vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]);
    // Output padding beyond max(stride, dilation) is rejected.
    let ins = [Some(&x), Some(&w)];
    assert!(check(OpKind::ConvTranspose, &params(&g, Activation::NONE), &ins, &[info(DType::F32, &[1, 1, 5, 5])]).is_ok());
    assert!(check(OpKind::ConvTranspose, &params(&g, Activation::NONE), &ins, &[info(DType::F32, &[1, 1, 6, 6])]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn conv_transpose_matches_reference(n in 1..3usize, cg in 1..3usize, mg in 1..3usize, group in 1..3usize, h in 1..5usize, w in 1..5usize,
                                        kh in 1..4usize, kw in 1..4usize, sh in 1..3usize, sw in 1..3usize, dh in 1..3usize, dw in 1..3usize,
                                        p in prop::array::uniform4(0..2usize), op in prop::array::uniform2(0..2usize), seed in any::<u64>()) {
        let g = G { n, c: cg * group, h, w, m: mg * group, group, k: [kh, kw], s: [sh, sw], d: [dh, dw], p };
        let out_pad = [op[0].min(sh.max(dh) - 1), op[1].min(sw.max(dw) - 1)];
        prop_assume!(sh * (h - 1) + (kh - 1) * dh + 1 + out_pad[0] > p[0] + p[2]);
        prop_assume!(sw * (w - 1) + (kw - 1) * dw + 1 + out_pad[1] > p[1] + p[3]);
        run_convt(&g, out_pad, seed);
    }
}
