//! The im2col B operand (`Operand::Im2col`, packed straight from the conv input) of every GEMM
//! kernel in the table against the reference: an explicit im2col matrix written here (signed
//! arithmetic, one element at a time) multiplied by the scalar `sgemm_ref`.
//!
//! Tolerance (f32), as in `gemm.rs`: `|got - ref| <= 1e-5 * (k + 1) * (Σ_p |a_ip·b_pj| + |bias| + 1)`.
//!
//! A kernel whose ISA this CPU lacks prints `SKIPPED: ...` and is not counted as a pass.
use proptest::prelude::*;
use sprig_kernels::gemm::{scalar::sgemm_ref, sgemm_mixed, sgemm_mixed_scratch_len, sgemm_mixed_with, Bias, ConvGeom, Im2colRef, MatMut, MatRef, MatRefF16, Operand, GEMM_KERNELS};
use sprig_kernels::{Activation, Isa};
mod common;
use common::data;

/// A conv: geometry plus bottom/right padding (only used to derive oh/ow), output channels.
#[derive(Clone, Debug)]
struct Case {
    g: ConvGeom,
    pb: usize,
    pr: usize,
    m: usize,
    /// Column window [c0, c0 + cols) of the matrix, or the whole.
    window: Option<(usize, usize)>,
    seed: u64,
}

/// The explicit im2col matrix `[c·kh·kw × oh·ow]`, row-major.
fn im2col_ref(g: &ConvGeom, x: &[f32]) -> Vec<f32> {
    let n = g.oh * g.ow;
    let mut out = vec![0f32; g.c * g.kh * g.kw * n];
    for ci in 0..g.c {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (ci * g.kh + ky) * g.kw + kx;
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let iy = (oy * g.sh + ky * g.dh) as i64 - g.pt as i64;
                        let ix = (ox * g.sw + kx * g.dw) as i64 - g.pl as i64;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                            out[row * n + oy * g.ow + ox] = x[ci * g.h * g.w + iy as usize * g.w + ix as usize];
                        }
                    }
                }
            }
        }
    }
    out
}

fn geom(c: usize, (h, w): (usize, usize), (kh, kw): (usize, usize), (sh, sw): (usize, usize), (dh, dw): (usize, usize), pads: [usize; 4]) -> (ConvGeom, usize, usize) {
    let [pt, pl, pb, pr] = pads;
    let (ekh, ekw) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
    // Grow the image until the kernel fits the padded input.
    let h = h.max(ekh.saturating_sub(pt + pb)).max(1);
    let w = w.max(ekw.saturating_sub(pl + pr)).max(1);
    let oh = (h + pt + pb - ekh) / sh + 1;
    let ow = (w + pl + pr - ekw) / sw + 1;
    (ConvGeom { c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow }, pb, pr)
}

fn case_strategy(max_c: usize) -> impl Strategy<Value = Case> {
    (
        (1..=max_c, 1usize..20, 1usize..20),
        (1usize..=7, 1usize..=7, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2),
        prop::array::uniform4(0usize..4),
        1usize..20,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((c, h, w), (kh, kw, sh, sw, dh, dw), pads, m, win, seed)| {
            let (g, pb, pr) = geom(c, (h, w), (kh, kw), (sh, sw), (dh, dw), pads);
            let n = g.oh * g.ow;
            let window = (win && n > 1).then(|| {
                let c0 = (seed as usize) % n;
                (c0, 1 + (seed as usize >> 16) % (n - c0))
            });
            Case { g, pb, pr, m, window, seed }
        })
}

enum Runner<'k> {
    Kernel(&'k sprig_kernels::gemm::GemmKernel),
    Dispatch(Isa),
}

/// Runs the case with an f32 (or, with `f16`, an f16) weight; Err describes the first mismatch.
fn check(runner: &Runner, case: &Case, f16: bool) -> Result<(), String> {
    let g = &case.g;
    let (m, k, n_all) = (case.m, g.c * g.kh * g.kw, g.oh * g.ow);
    let (c0, n) = case.window.unwrap_or((0, n_all));
    let x = data(g.c * g.h * g.w, case.seed);
    let mut wt = data(m * k, case.seed ^ 0x55);
    let wh: Vec<u16> = wt.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
    if f16 {
        // The reference multiplies the widened f16 weights.
        for (v, &h) in wt.iter_mut().zip(&wh) {
            *v = half::f16::from_bits(h).to_f32();
        }
    }
    let bias = data(m, case.seed ^ 0xaa);
    let act = Activation::clamp(-0.5, 0.6);
    let cols = im2col_ref(g, &x);
    let bref = MatRef { data: &cols[c0..], rows: k, cols: n, rs: n_all, cs: 1 };
    let mut want = vec![0f32; m * n];
    sgemm_ref(MatRef::row_major(&wt, m, k), bref, MatMut::row_major(&mut want, m, n), Bias::Row(&bias), &act);

    let a = if f16 { Operand::F16(MatRefF16::row_major(&wh, m, k)) } else { Operand::F32(MatRef::row_major(&wt, m, k)) };
    let b = Operand::Im2col(Im2colRef::new(&x, *g).columns(c0, n));
    let mut got = vec![f32::NAN; m * n];
    let mut scratch = vec![f32::NAN; sgemm_mixed_scratch_len(m, n, k)];
    let cm = MatMut::row_major(&mut got, m, n);
    match runner {
        Runner::Kernel(kr) => sgemm_mixed_with(kr, a, b, cm, Bias::Row(&bias), &act, &mut scratch),
        Runner::Dispatch(isa) => sgemm_mixed(*isa, a, b, cm, Bias::Row(&bias), &act, &mut scratch),
    }
    for i in 0..m {
        for j in 0..n {
            let mag: f32 = (0..k).map(|p| (wt[i * k + p] * cols[p * n_all + c0 + j]).abs()).sum();
            let tol = 1e-5 * (k as f32 + 1.0) * (mag + bias[i].abs() + 1.0);
            let (gv, wv) = (got[i * n + j], want[i * n + j]);
            if (gv - wv).abs() > tol || gv.is_nan() {
                return Err(format!("C[{i},{j}] = {gv}, want {wv} (tol {tol}); m={m} k={k} n={n} window={:?} pads b/r {} {} {g:?}", case.window, case.pb, case.pr));
            }
        }
    }
    Ok(())
}

fn for_each_kernel(strategy: impl Strategy<Value = Case>, cases: u32) {
    for kr in GEMM_KERNELS {
        if !kr.isa.available() {
            println!("SKIPPED: {} (CPU lacks {})", kr.name, kr.isa.name());
            continue;
        }
        for f16 in [false, true] {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
            runner
                .run(&strategy, |case| {
                    check(&Runner::Kernel(kr), &case, f16).map_err(|e| TestCaseError::fail(format!("{} f16={f16}: {e}", kr.name)))
                })
                .unwrap();
        }
    }
}

#[test]
fn random_geometries_all_kernels() {
    for_each_kernel(case_strategy(17), 48);
}

#[test]
fn dispatch_every_isa() {
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon] {
        // A runner per ISA: a `TestRunner` counts its passed cases across `run` calls, so a shared
        // one would run no case after the first ISA.
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 16, ..ProptestConfig::default() });
        // An unavailable ISA falls back to the scalar reference: still a valid result.
        runner.run(&case_strategy(9), |case| check(&Runner::Dispatch(isa), &case, false).map_err(TestCaseError::fail)).unwrap();
    }
}

/// Named shapes: ResNet 3x3 pad 1 (k = 64·9 spans several kc blocks), a MobileNet-like 3x3/2 stem,
/// a 7x7/2 pad 3 stem, asymmetric padding, dilation 2, a 1x1 stride-2 conv, n = 1, m = 1, and 70-wide
/// rows (whole stride-1 panel rows).
#[test]
fn named_shapes_all_kernels() {
    type Pair = (usize, usize);
    // (m, c, (h, w), (kh, kw), (sh, sw), (dh, dw), [pt, pl, pb, pr])
    type Shape = (usize, usize, Pair, Pair, Pair, Pair, [usize; 4]);
    let shapes: &[Shape] = &[
        (16, 64, (14, 14), (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        (32, 3, (33, 31), (3, 3), (2, 2), (1, 1), [0, 0, 1, 1]),
        (8, 3, (23, 21), (7, 7), (2, 2), (1, 1), [3, 3, 3, 3]),
        (5, 4, (9, 11), (3, 2), (1, 2), (1, 1), [2, 0, 0, 3]),
        (7, 5, (12, 13), (3, 3), (1, 1), (2, 2), [2, 2, 2, 2]),
        (6, 9, (10, 9), (1, 1), (2, 2), (1, 1), [0, 0, 0, 0]),
        (6, 4, (3, 3), (3, 3), (1, 1), (1, 1), [0, 0, 0, 0]),
        (1, 6, (8, 8), (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        (7, 2, (1, 40), (1, 5), (1, 3), (1, 1), [0, 2, 0, 2]),
        (4, 3, (6, 70), (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
    ];
    for kr in GEMM_KERNELS {
        if !kr.isa.available() {
            println!("SKIPPED: {} (CPU lacks {})", kr.name, kr.isa.name());
            continue;
        }
        for (i, &(m, c, hw, k, s, d, pads)) in shapes.iter().enumerate() {
            let (g, pb, pr) = geom(c, hw, k, s, d, pads);
            let n = g.oh * g.ow;
            for window in [None, Some((n / 3, n - n / 3)), Some((n / 2, 1.max(n / 4)))] {
                let case = Case { g, pb, pr, m, window, seed: i as u64 + 1 };
                for f16 in [false, true] {
                    check(&Runner::Kernel(kr), &case, f16).unwrap_or_else(|e| panic!("{} shape {i} f16={f16}: {e}", kr.name));
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "column window out of bounds")]
fn window_past_the_end_panics() {
    let (g, _, _) = geom(2, (5, 5), (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
    let x = data(2 * 25, 1);
    let w = data(4 * 18, 2);
    let mut c = vec![0f32; 4 * 10];
    let b = Im2colRef::new(&x, g).columns(20, 10);
    sgemm_mixed(Isa::Scalar, Operand::F32(MatRef::row_major(&w, 4, 18)), Operand::Im2col(b), MatMut::row_major(&mut c, 4, 10), Bias::None, &Activation::NONE, &mut []);
}

/// `Im2colRef::write` (the stored im2col) against the explicit reference, windows included.
#[test]
fn write_matches_reference() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 200, ..ProptestConfig::default() });
    runner
        .run(&case_strategy(17), |case| {
            let g = &case.g;
            let (k, n_all) = (g.rows(), g.cols());
            let (c0, n) = case.window.unwrap_or((0, n_all));
            let x = data(g.c * g.h * g.w, case.seed);
            let want = im2col_ref(g, &x);
            // NaN-filled with slack past the end: every element must be written, none past it.
            let mut got = vec![f32::NAN; k * n + 9];
            Im2colRef::new(&x, *g).columns(c0, n).write(&mut got);
            for p in 0..k {
                for j in 0..n {
                    let (gv, wv) = (got[p * n + j], want[p * n_all + c0 + j]);
                    prop_assert!(gv == wv, "({p},{j}) = {gv}, want {wv}; {case:?}");
                }
            }
            prop_assert!(got[k * n..].iter().all(|v| v.is_nan()), "wrote past rows*cols; {case:?}");
            Ok(())
        })
        .unwrap();
}
