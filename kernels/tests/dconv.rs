//! Every direct stride-2 conv kernel in the table (and `dconv_s2` dispatch) against the scalar
//! reference, which is itself checked against the im2col GEMM of the scalar ISA.
//!
//! Tolerance (f32): `|got - ref| <= 1e-5 * (taps + 1) * (Σ |x·w| + |bias| + 1)`: relative 1e-5 per
//! accumulated product (FMA and order differ from the reference).
//! A kernel whose ISA this CPU lacks prints `SKIPPED: ...` and is not counted as a pass.
use proptest::prelude::*;
use sprig_kernels::dconv::{self, dconv_s2, dconv_s2_rows, dconv_s2_with, fits, ConvGeom, DconvKernel, DCONV_KERNELS};
use sprig_kernels::gemm::{sgemm_mixed, sgemm_mixed_scratch_len, Bias, Im2colRef, MatMut, MatRef, Operand};
use sprig_kernels::{Act, Activation, Isa};
mod common;
use common::{activation, data, runs, ACTS};

#[derive(Clone, Debug)]
struct Case {
    g: ConvGeom,
    m: usize,
    act: Act,
    bias: bool,
    /// Where the output rows are split into two calls (the second starts a fresh staging ring).
    split: usize,
    seed: u64,
}

/// Stride 2, dilation 1, 1..=4 channels, kernel 1..=7, padding 0..=3 on each side.
fn case() -> impl Strategy<Value = Case> {
    (1usize..=4, 1usize..20, 1usize..40, 1usize..70, (1usize..=7, 1usize..=7), [0usize..=3, 0usize..=3, 0usize..=3, 0usize..=3], 0usize..ACTS.len(), any::<bool>(), any::<prop::sample::Index>(), any::<u64>())
        .prop_filter_map("empty output", |(c, m, h, w, (kh, kw), [pt, pl, pb, pr], act, bias, split, seed)| {
            let oh = (h + pt + pb).checked_sub(kh)? / 2 + 1;
            let ow = (w + pl + pr).checked_sub(kw)? / 2 + 1;
            let g = ConvGeom { c, h, w, kh, kw, sh: 2, sw: 2, dh: 1, dw: 1, pt, pl, oh, ow };
            Some(Case { g, m, act: ACTS[act], bias, split: split.index(oh + 1), seed })
        })
}

/// Runs `run` over the case (scratch pre-filled with NaN, output with a NaN sentinel) and
/// compares every output with the scalar reference.
fn check(case: &Case, run: impl Fn(&Case, &[f32], &[f32], Option<&[f32]>, &Activation, &mut [f32], &mut [f32])) -> Result<(), String> {
    let (g, m) = (case.g, case.m);
    let taps = g.c * g.kh * g.kw;
    let x = data(g.c * g.h * g.w, case.seed);
    let w = data(m * taps, case.seed + 1);
    let b = data(m, case.seed + 2);
    let bias = case.bias.then_some(&b[..]);
    let act = activation(case.act);
    let mut want = vec![f32::NAN; m * g.oh * g.ow];
    let mut scratch = vec![f32::NAN; dconv::scratch_len(&g, m)];
    dconv_s2_with(&DCONV_KERNELS[0], &g, m, &x, &w, bias, &act, &mut want, &mut scratch);
    let mut got = vec![f32::NAN; want.len()];
    scratch.fill(f32::NAN);
    run(case, &x, &w, bias, &act, &mut got, &mut scratch);
    for ch in 0..m {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut mag = bias.map_or(0.0, |b| b[ch].abs()) + 1.0;
                for ci in 0..g.c {
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * 2 + ky) as isize - g.pt as isize;
                            let ix = (ox * 2 + kx) as isize - g.pl as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                mag += (x[(ci * g.h + iy as usize) * g.w + ix as usize] * w[ch * taps + (ci * g.kh + ky) * g.kw + kx]).abs();
                            }
                        }
                    }
                }
                let i = (ch * g.oh + oy) * g.ow + ox;
                let tol = 1e-5 * (taps + 1) as f32 * mag;
                let within = (got[i] - want[i]).abs() <= tol; // false for NaN
                if !within {
                    return Err(format!("y[{ch},{oy},{ox}] = {}, reference {}, tol {tol}", got[i], want[i]));
                }
            }
        }
    }
    Ok(())
}

/// The case through one table row (its ISA available), its output rows in two calls split at
/// `case.split`.
#[allow(clippy::too_many_arguments)]
fn run_split(kr: &DconvKernel, case: &Case, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32], scratch: &mut [f32]) {
    for rows in [0..case.split, case.split..case.g.oh] {
        // SAFETY: y holds all m·oh·ow outputs and is borrowed exclusively; one call at a time.
        unsafe { dconv_s2_rows(kr.isa, &case.g, case.m, x, w, bias, act, rows, y.as_mut_ptr(), scratch) };
    }
}

#[test]
fn every_kernel_matches_reference() {
    let mut tested = 0;
    for kr in &DCONV_KERNELS[1..] {
        if !runs(kr.name, kr.isa) {
            continue;
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 512, ..ProptestConfig::default() });
        runner
            .run(&case(), |c| {
                check(&c, |c, x, w, b, a, y, s| dconv_s2_with(kr, &c.g, c.m, x, w, b, a, y, s)).map_err(|e| TestCaseError::fail(format!("{}: {e}", kr.name)))?;
                check(&c, |c, x, w, b, a, y, s| run_split(kr, c, x, w, b, a, y, s)).map_err(|e| TestCaseError::fail(format!("{} (rows split at {}): {e}", kr.name, c.split)))
            })
            .unwrap();
        tested += 1;
    }
    println!("{tested} of {} SIMD kernels tested", DCONV_KERNELS.len() - 1);
}

/// The scalar reference against the im2col GEMM (scalar ISA): two independent definitions.
#[test]
fn reference_matches_im2col_gemm() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 256, ..ProptestConfig::default() });
    runner
        .run(&case(), |c| {
            let (g, m) = (c.g, c.m);
            let (k, n) = (g.rows(), g.cols());
            check(&c, |_, x, w, b, a, y, _| {
                let bias = b.map_or(Bias::None, Bias::Row);
                let mut gs = vec![0f32; sgemm_mixed_scratch_len(m, n, k)];
                sgemm_mixed(Isa::Scalar, Operand::F32(MatRef::row_major(w, m, k)), Operand::Im2col(Im2colRef::new(x, g)), MatMut::row_major(y, m, n), bias, a, &mut gs);
            })
            .map_err(TestCaseError::fail)
        })
        .unwrap();
}

/// Named cases: the MobileNet stem (3x3/2, pad 1, RGB, 32 channels) and the ResNet stem (7x7/2,
/// pad 3, 64 channels) on smaller images, odd widths (a last even column without an odd
/// partner), padding wider than half the kernel, one output column, a 1x1 stride-2 conv, and
/// output widths around the vector widths (tails of every length on 8 and 16 lanes).
#[test]
fn named_cases() {
    let geo = |c, h, w, k, p, pb: usize| {
        let (oh, ow) = ((h + p + pb - k) / 2 + 1, (w + p + pb - k) / 2 + 1);
        ConvGeom { c, h, w, kh: k, kw: k, sh: 2, sw: 2, dh: 1, dw: 1, pt: p, pl: p, oh, ow }
    };
    let mut cases = vec![
        Case { g: geo(3, 64, 64, 3, 1, 1), m: 32, act: Act::Relu, bias: true, split: 13, seed: 1 },
        Case { g: geo(3, 40, 40, 7, 3, 3), m: 64, act: Act::None, bias: false, split: 0, seed: 2 },
        Case { g: geo(3, 33, 35, 3, 1, 0), m: 17, act: Act::Clamp, bias: true, split: 5, seed: 3 },
        Case { g: geo(4, 9, 9, 3, 3, 3), m: 5, act: Act::HardSwish, bias: true, split: 7, seed: 4 },
        Case { g: geo(1, 3, 3, 3, 0, 0), m: 3, act: Act::Sigmoid, bias: true, split: 1, seed: 5 },
        Case { g: geo(2, 21, 21, 1, 0, 0), m: 9, act: Act::Relu, bias: false, split: 4, seed: 6 },
    ];
    for ow in [7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 49] {
        cases.push(Case { g: geo(3, 6, 2 * ow - 1, 3, 1, 1), m: 12, act: Act::Relu, bias: true, split: 2, seed: 10 + ow as u64 });
    }
    for c in &cases {
        assert!(fits(&c.g), "{c:?} should fit");
    }
    for kr in DCONV_KERNELS {
        if !runs(kr.name, kr.isa) {
            continue;
        }
        for c in &cases {
            check(c, |c, x, w, b, a, y, s| dconv_s2_with(kr, &c.g, c.m, x, w, b, a, y, s)).unwrap_or_else(|e| panic!("{} {c:?}: {e}", kr.name));
            check(c, |c, x, w, b, a, y, s| run_split(kr, c, x, w, b, a, y, s)).unwrap_or_else(|e| panic!("{} rows split {c:?}: {e}", kr.name));
        }
    }
}

/// What the family declines: other strides, dilation, more than four channels, too many taps.
#[test]
fn fits_only_stride_two_stems() {
    let g = ConvGeom { c: 3, h: 32, w: 32, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, oh: 16, ow: 16 };
    assert!(fits(&g));
    assert!(!fits(&ConvGeom { sh: 1, oh: 32, ..g }));
    assert!(!fits(&ConvGeom { sw: 1, ow: 32, ..g }));
    assert!(!fits(&ConvGeom { dh: 2, ..g }));
    assert!(!fits(&ConvGeom { c: 5, ..g }));
    assert!(!fits(&ConvGeom { kh: 11, kw: 11, pt: 5, pl: 5, ..g }));
}

#[test]
fn dispatch_every_isa() {
    for isa in Isa::ALL {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
        runner.run(&case(), |c| check(&c, |c, x, w, b, a, y, s| dconv_s2(isa, &c.g, c.m, x, w, b, a, y, s)).map_err(TestCaseError::fail)).unwrap();
    }
}
