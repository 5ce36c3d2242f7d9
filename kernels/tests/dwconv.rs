//! Every depthwise kernel in the table (and `dwconv2d` dispatch) against the scalar reference.
//!
//! Tolerance (f32): `|got - ref| <= 1e-5 * (taps + 1) * (Σ |x·w| + |bias| + 1)`: relative 1e-5 per
//! accumulated product (FMA and order differ from the reference).
//! A kernel whose ISA this CPU lacks prints `SKIPPED: ...` and is not counted as a pass.
use proptest::prelude::*;
use sprig_kernels::dwconv::{dwconv2d, dwconv2d_3x3_with, dwconv2d_with, fits3x3, kernel3x3_for, scalar::dwconv2d_ref, DwGeom, DWCONV3X3_KERNELS, DWCONV_KERNELS};
use sprig_kernels::{Act, Activation, Isa};
mod common;
use common::{activation, data, runs, ACTS};

#[derive(Clone, Debug)]
struct Case {
    g: DwGeom,
    act: Act,
    bias: bool,
    seed: u64,
}

/// Geometry with kernel 1..=5, stride 1..=3, dilation 1..=2, padding 0..=2 on each side.
fn case() -> impl Strategy<Value = Case> {
    (1usize..4, 1usize..24, 1usize..48, (1usize..=5, 1usize..=5), (1usize..=3, 1usize..=3), (1usize..=2, 1usize..=2), [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2], 0usize..ACTS.len(), any::<bool>(), any::<u64>())
        .prop_filter_map("empty output", |(c, h, w, (kh, kw), (sh, sw), (dh, dw), [pt, pl, pb, pr], act, bias, seed)| {
            let oh = (h + pt + pb).checked_sub(dh * (kh - 1) + 1)? / sh + 1;
            let ow = (w + pl + pr).checked_sub(dw * (kw - 1) + 1)? / sw + 1;
            Some(Case { g: DwGeom { c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow }, act: ACTS[act], bias, seed })
        })
}

fn check(case: &Case, run: impl Fn(&DwGeom, &[f32], &[f32], Option<&[f32]>, &Activation, &mut [f32])) -> Result<(), String> {
    let g = case.g;
    let x = data(g.c * g.h * g.w, case.seed);
    let w = data(g.c * g.kh * g.kw, case.seed + 1);
    let b = data(g.c, case.seed + 2);
    let bias = case.bias.then_some(&b[..]);
    let act = activation(case.act);
    let mut want = vec![f32::NAN; g.c * g.oh * g.ow];
    dwconv2d_ref(&g, &x, &w, bias, &act, &mut want);
    let mut got = vec![f32::NAN; want.len()];
    run(&g, &x, &w, bias, &act, &mut got);
    for ch in 0..g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut mag = bias.map_or(0.0, |b| b[ch].abs()) + 1.0;
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                        let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                            mag += (x[ch * g.h * g.w + iy as usize * g.w + ix as usize] * w[ch * g.kh * g.kw + ky * g.kw + kx]).abs();
                        }
                    }
                }
                let i = ch * g.oh * g.ow + oy * g.ow + ox;
                let tol = 1e-5 * (g.kh * g.kw + 1) as f32 * mag;
                let within = (got[i] - want[i]).abs() <= tol; // false for NaN
                if !within {
                    return Err(format!("y[{ch},{oy},{ox}] = {}, reference {}, tol {tol}", got[i], want[i]));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn every_kernel_matches_reference() {
    let mut tested = 0;
    for kr in DWCONV_KERNELS {
        if !runs(kr.name, kr.isa) {
            continue;
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 512, ..ProptestConfig::default() });
        runner
            .run(&case(), |c| {
                check(&c, |g, x, w, b, a, y| dwconv2d_with(kr, g, x, w, b, a, y)).map_err(|e| TestCaseError::fail(format!("{}: {e}", kr.name)))
            })
            .unwrap();
        tested += 1;
    }
    println!("{tested} of {} kernels tested", DWCONV_KERNELS.len());
}

/// Named cases: MobileNet-like 3x3 stride 1 and 2 with pad 1, wide rows (several full vectors
/// plus a tail), and a filter wider than the padded input row (no interior at all).
#[test]
fn named_cases() {
    let g3 = |h: usize, w: usize, s: usize| DwGeom { c: 3, h, w, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt: 1, pl: 1, oh: (h - 1) / s + 1, ow: (w - 1) / s + 1 };
    let cases = [
        Case { g: g3(56, 56, 1), act: Act::Clamp, bias: true, seed: 1 },
        Case { g: g3(56, 57, 2), act: Act::Relu, bias: true, seed: 2 },
        Case { g: g3(7, 7, 1), act: Act::HardSwish, bias: false, seed: 3 },
        Case { g: DwGeom { c: 2, h: 4, w: 3, kh: 5, kw: 5, sh: 1, sw: 1, dh: 2, dw: 2, pt: 2, pl: 2, oh: 1, ow: 1 }, act: Act::None, bias: true, seed: 4 },
        Case { g: DwGeom { c: 2, h: 9, w: 70, kh: 1, kw: 1, sh: 3, sw: 3, dh: 1, dw: 1, pt: 0, pl: 0, oh: 3, ow: 24 }, act: Act::Tanh, bias: true, seed: 5 },
        // Rows whose padded 3-row band exceeds the 4 KiB stack buffer: interior vectors plus
        // edge chunks (narrower geometries go through the padded plane or band copies).
        Case { g: g3(4, 400, 1), act: Act::Clamp, bias: true, seed: 6 },
        Case { g: g3(5, 701, 2), act: Act::HardSwish, bias: true, seed: 7 },
    ];
    for kr in DWCONV_KERNELS {
        if !runs(kr.name, kr.isa) {
            continue;
        }
        for c in &cases {
            check(c, |g, x, w, b, a, y| dwconv2d_with(kr, g, x, w, b, a, y)).unwrap_or_else(|e| panic!("{} {c:?}: {e}", kr.name));
        }
    }
}

#[test]
fn dispatch_every_isa() {
    for isa in Isa::ALL {
        // A runner per ISA: a `TestRunner` counts its passed cases across `run` calls, so a shared
        // one would run no case after the first ISA.
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
        runner.run(&case(), |c| check(&c, |g, x, w, b, a, y| dwconv2d(isa, g, x, w, b, a, y)).map_err(TestCaseError::fail)).unwrap();
    }
}

/// 3x3 geometry of stride `s`: widths 1..=17 and 18..=130 (tails of every width modulo 16, and
/// several bands of the stack buffer at the larger heights), heights 1..=5 and up to 80, padding
/// 0..=2 per side.
fn case3x3(s: usize) -> impl Strategy<Value = Case> {
    (1usize..4, prop_oneof![1usize..=5, 6usize..80], prop_oneof![1usize..=17, 18usize..130], [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2], 0usize..ACTS.len(), any::<bool>(), any::<u64>())
        .prop_filter_map("empty output", move |(c, h, w, [pt, pl, pb, pr], act, bias, seed)| {
            let oh = (h + pt + pb).checked_sub(3)? / s + 1;
            let ow = (w + pl + pr).checked_sub(3)? / s + 1;
            Some(Case { g: DwGeom { c, h, w, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt, pl, oh, ow }, act: ACTS[act], bias, seed })
        })
}

#[test]
fn every_3x3_kernel_matches_reference() {
    let mut tested = 0;
    for k in DWCONV3X3_KERNELS {
        if !runs(k.name, k.isa) {
            continue;
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 384, ..ProptestConfig::default() });
        runner
            .run(&case3x3(k.stride), |c| {
                check(&c, |g, x, w, b, a, y| dwconv2d_3x3_with(k, g, x, w, b, a, y)).map_err(|e| TestCaseError::fail(format!("{}: {e}", k.name)))
            })
            .unwrap();
        tested += 1;
    }
    println!("{tested} of {} 3x3 kernels tested", DWCONV3X3_KERNELS.len());
}

/// Named 3x3 edges for every table row: every width 1..=17 at heights 1..=5, stride 1 and 2,
/// padding 0 and 1 (odd input sizes at stride 2 included), each activation in turn; MobileNet
/// shapes (several bands at 112x112); a padded row too wide for the stack buffer (no 3x3 kernel).
#[test]
fn named_3x3_cases() {
    let g = |h: usize, w: usize, s: usize, p: usize| {
        let oh = (h + 2 * p).checked_sub(3).map(|v| v / s + 1)?;
        let ow = (w + 2 * p).checked_sub(3).map(|v| v / s + 1)?;
        Some(DwGeom { c: 2, h, w, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt: p, pl: p, oh, ow })
    };
    let mut cases = Vec::new();
    let mut seed = 100;
    for s in 1..=2 {
        for p in 0..=1 {
            for h in 1..=5 {
                for w in 1..=17 {
                    if let Some(g) = g(h, w, s, p) {
                        seed += 1;
                        cases.push(Case { g, act: ACTS[seed as usize % ACTS.len()], bias: seed % 3 != 0, seed });
                    }
                }
            }
        }
    }
    for (h, s, act) in [(112, 1, Act::Clamp), (112, 2, Act::Relu), (56, 1, Act::Relu), (28, 2, Act::HardSwish), (7, 1, Act::Clamp)] {
        cases.push(Case { g: g(h, h, s, 1).unwrap(), act, bias: true, seed: h as u64 });
    }
    for k in DWCONV3X3_KERNELS {
        if !runs(k.name, k.isa) {
            continue;
        }
        for c in cases.iter().filter(|c| c.g.sh == k.stride) {
            assert!(fits3x3(k, &c.g) && kernel3x3_for(k.isa, &c.g).is_some(), "{} {:?}: no 3x3 kernel", k.name, c.g);
            check(c, |g, x, w, b, a, y| dwconv2d_3x3_with(k, g, x, w, b, a, y)).unwrap_or_else(|e| panic!("{} {c:?}: {e}", k.name));
        }
        // 3 padded rows of 1000 columns exceed the stack buffer: dispatch takes the row kernel.
        let wide = g(3, 1000, k.stride, 1).unwrap();
        assert!(!fits3x3(k, &wide) && kernel3x3_for(k.isa, &wide).is_none(), "{}", k.name);
        check(&Case { g: wide, act: Act::Relu, bias: true, seed: 9 }, |g, x, w, b, a, y| dwconv2d(k.isa, g, x, w, b, a, y)).unwrap_or_else(|e| panic!("{} wide: {e}", k.name));
    }
}
