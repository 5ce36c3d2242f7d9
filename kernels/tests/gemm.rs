//! Every GEMM kernel in the table (and `sgemm` dispatch) against the plain scalar reference
//! `scalar::sgemm_ref`.
//!
//! Tolerance (f32): `|got - ref| <= 1e-5 * (k + 1) * (Σ_p |a_ip·b_pj| + |bias| + 1)`, i.e. a
//! relative error of 1e-5 per accumulated product (the kernels sum in a different order and with
//! FMA). Activations after the sum have slope <= ~1.13, which the +1 slack covers.
//!
//! A kernel whose ISA this CPU lacks prints `SKIPPED: ...` and is not counted as a pass.
use proptest::prelude::*;
use sprig_kernels::gemm::{
    scalar::sgemm_ref, sgemm, sgemm_scratch_len, sgemm_scratch_wanted, sgemm_with, sgemm_with_path, APath, Bias, GemmKernel, MatMut, MatRef, GEMM_KERNELS,
};
use sprig_kernels::{Act, Activation, Isa};
mod common;
use common::{activation, check_c, data, runs, ACTS};

/// Storage layout of an operand.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    /// Stored transposed, viewed with swapped strides.
    Transposed,
    /// Row-major with `pad` extra elements per row.
    Padded(usize),
    /// Column stride 2 (every other element).
    Strided2,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::RowMajor), Just(Layout::Transposed), (1usize..5).prop_map(Layout::Padded), Just(Layout::Strided2)]
}

/// Storage for a `rows × cols` operand in `l`, plus its (rs, cs).
fn store(rows: usize, cols: usize, l: Layout, seed: u64) -> (Vec<f32>, usize, usize) {
    match l {
        Layout::RowMajor => (data(rows * cols, seed), cols, 1),
        Layout::Transposed => (data(rows * cols, seed), 1, rows),
        Layout::Padded(p) => (data(rows * (cols + p), seed), cols + p, 1),
        Layout::Strided2 => (data(rows * cols * 2, seed), cols * 2, 2),
    }
}

#[derive(Clone, Copy, Debug)]
enum BiasKind {
    None,
    Row,
    Col,
}

#[derive(Clone, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    la: Layout,
    lb: Layout,
    act: Act,
    bias: BiasKind,
    c_pad: usize,
    seed: u64,
}

/// Which kernel runs a case.
#[derive(Clone, Copy)]
enum Runner<'a> {
    Row(&'a GemmKernel),
    /// A table row with the A path forced.
    Path(&'a GemmKernel, APath),
    Dispatch(Isa),
}

/// Runs `case` with `runner` and compares with the reference; Err describes the first mismatch.
fn check(runner: Runner, case: &Case) -> Result<(), String> {
    check_scratch(runner, case, false)
}

/// [`check`] with exactly `sgemm_scratch_wanted` of scratch (`wanted`) instead of
/// `sgemm_scratch_len`.
fn check_scratch(runner: Runner, case: &Case, wanted: bool) -> Result<(), String> {
    let Case { m, n, k, la, lb, act, bias, c_pad, seed } = case.clone();
    let (ad, ars, acs) = store(m, k, la, seed);
    let (bd, brs, bcs) = store(k, n, lb, seed + 1);
    let a = MatRef { data: &ad, rows: m, cols: k, rs: ars, cs: acs };
    let b = MatRef { data: &bd, rows: k, cols: n, rs: brs, cs: bcs };
    let bias_data = data(m.max(n), seed + 2);
    let bias = match bias {
        BiasKind::None => Bias::None,
        BiasKind::Row => Bias::Row(&bias_data[..m]),
        BiasKind::Col => Bias::Col(&bias_data[..n]),
    };
    let act = activation(act);
    let rs = n + c_pad;
    let sentinel = 1234.5f32;
    let mut want = vec![sentinel; m * rs];
    sgemm_ref(a, b, MatMut { data: &mut want, rows: m, cols: n, rs }, bias, &act);
    let mut got = vec![sentinel; m * rs];
    // Exactly the advertised scratch, starting at an odd offset so that alignment is exercised.
    let len = if wanted { sgemm_scratch_wanted(m, n, k) } else { sgemm_scratch_len(m, n, k) };
    let mut scratch = vec![f32::NAN; len + 1];
    let c = MatMut { data: &mut got, rows: m, cols: n, rs };
    match runner {
        Runner::Row(kr) => sgemm_with(kr, a, b, c, bias, &act, &mut scratch[1..]),
        Runner::Path(kr, path) => sgemm_with_path(kr, path, a, b, c, bias, &act, &mut scratch[1..]),
        Runner::Dispatch(isa) => sgemm(isa, a, b, c, bias, &act, &mut scratch[1..]),
    }
    check_c(&got, &want, rs, sentinel, a, b, bias)
}

fn case_strategy(max_m: usize, max_n: usize, max_k: usize) -> impl Strategy<Value = Case> {
    (1..=max_m, 1..=max_n, 0..=max_k, layout(), layout(), 0usize..ACTS.len(), 0usize..3, 0usize..3, any::<u64>()).prop_map(case_of)
}

/// A [`Case`] from drawn (m, n, k, A layout, B layout, activation index, bias kind index, C
/// padding, seed).
fn case_of((m, n, k, la, lb, act, bias, c_pad, seed): (usize, usize, usize, Layout, Layout, usize, usize, usize, u64)) -> Case {
    Case { m, n, k, la, lb, act: ACTS[act], bias: [BiasKind::None, BiasKind::Row, BiasKind::Col][bias], c_pad, seed }
}

/// Runs proptest over `strategy` for every table row; prints SKIPPED for rows this CPU lacks.
fn for_each_kernel(strategy: impl Strategy<Value = Case>, cases: u32) {
    let mut ran = 0;
    for kr in GEMM_KERNELS {
        if !runs(kr.name, kr.isa) {
            continue;
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
        runner
            .run(&strategy, |case| {
                check(Runner::Row(kr), &case).map_err(|e| TestCaseError::fail(format!("{}: {e}", kr.name)))
            })
            .unwrap();
        ran += 1;
    }
    println!("{ran} of {} kernels tested", GEMM_KERNELS.len());
}

#[test]
fn small_shapes_all_kernels() {
    for_each_kernel(case_strategy(30, 70, 40), 256);
}

#[test]
fn deep_k_crosses_kc_block() {
    // k up to 600 > kc = 256: exercises the accumulate path and the fused epilogue on the last block.
    for_each_kernel(case_strategy(20, 40, 600), 48);
}

#[test]
fn matrix_vector_shapes() {
    let s = (1usize..300, 0usize..400, layout(), layout(), 0usize..ACTS.len(), 0usize..3, any::<bool>(), any::<u64>()).prop_map(
        |(len, k, la, lb, act, bias, m_is_one, seed)| Case {
            m: if m_is_one { 1 } else { len },
            n: if m_is_one { len } else { 1 },
            k,
            la,
            lb,
            act: ACTS[act],
            bias: [BiasKind::None, BiasKind::Row, BiasKind::Col][bias],
            c_pad: 0,
            seed,
        },
    );
    for_each_kernel(s, 128);
}

/// Named edge cases on every kernel.
#[test]
fn named_edge_cases() {
    let base = Case { m: 1, n: 1, k: 1, la: Layout::RowMajor, lb: Layout::RowMajor, act: Act::None, bias: BiasKind::None, c_pad: 0, seed: 7 };
    let cases = [
        // k = 0: C = act(bias)
        Case { m: 13, n: 35, k: 0, bias: BiasKind::Row, act: Act::Relu, ..base.clone() },
        Case { m: 13, n: 35, k: 0, bias: BiasKind::Col, act: Act::Sigmoid, ..base.clone() },
        // exact tiles, one more and one less
        Case { m: 12, n: 32, k: 5, ..base.clone() },
        Case { m: 6, n: 16, k: 5, ..base.clone() },
        Case { m: 13, n: 33, k: 5, bias: BiasKind::Col, ..base.clone() },
        Case { m: 11, n: 31, k: 5, bias: BiasKind::Row, act: Act::Clamp, ..base.clone() },
        // 1x1 output
        Case { m: 1, n: 1, k: 77, bias: BiasKind::Row, ..base.clone() },
        // 2-row, 2-column (smallest packed-path shapes)
        Case { m: 2, n: 2, k: 3, la: Layout::Transposed, lb: Layout::Strided2, ..base.clone() },
        // crosses every block boundary (mc <= 240, kc <= 256, nc = 2048)
        Case { m: 250, n: 2065, k: 259, bias: BiasKind::Col, act: Act::Clamp, c_pad: 3, ..base.clone() },
    ];
    for kr in GEMM_KERNELS {
        if !runs(kr.name, kr.isa) {
            continue;
        }
        for case in &cases {
            check(Runner::Row(kr), case).unwrap_or_else(|e| panic!("{} {case:?}: {e}", kr.name));
        }
    }
}

/// `sgemm` with every ISA: unavailable ones must fall back to the scalar kernel, not fail.
#[test]
fn dispatch_every_isa() {
    for isa in Isa::ALL {
        // A runner per ISA: a `TestRunner` counts its passed cases across `run` calls, so a shared
        // one would run no case after the first ISA.
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
        if !isa.available() {
            println!("NOTE: sgemm({}) runs the scalar fallback (CPU lacks {})", isa.name(), isa.name());
        }
        runner.run(&case_strategy(25, 50, 50), |case| check(Runner::Dispatch(isa), &case).map_err(TestCaseError::fail)).unwrap();
    }
}

#[test]
fn short_scratch_panics() {
    for kr in GEMM_KERNELS {
        if !kr.isa.available() {
            println!("SKIPPED: short_scratch_panics {} (CPU lacks {})", kr.name, kr.isa.name());
            continue;
        }
        let r = std::panic::catch_unwind(|| {
            let a = vec![1.0; 64 * 64];
            let mut c = vec![0.0; 64 * 64];
            let mut scratch = vec![0.0; 64]; // any packed kernel needs more for 64³
            let (a, b) = (MatRef::row_major(&a, 64, 64), MatRef::row_major(&a, 64, 64));
            sgemm_with(kr, a, b, MatMut::row_major(&mut c, 64, 64), Bias::None, &Activation::NONE, &mut scratch);
        });
        let msg = r.expect_err("short scratch must panic");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("scratch"), "{}: unexpected panic {msg}", kr.name);
    }
}

/// Kernels with an in-place-A variant that this CPU can run; prints SKIPPED for the others.
fn in_place_kernels() -> Vec<&'static GemmKernel> {
    let mut out = Vec::new();
    for kr in GEMM_KERNELS {
        if !kr.isa.available() {
            println!("SKIPPED: in-place A on {} (CPU lacks {})", kr.name, kr.isa.name());
        } else if kr.ukr_rows.is_none() {
            println!("SKIPPED: in-place A on {} (no in-place kernel; packed path only)", kr.name);
        } else {
            out.push(kr);
        }
    }
    out
}

/// A row-major A (unit column stride, lda = k or k + pad) read in place, forced on every shape,
/// against the reference: m not a multiple of MR, k across several kc blocks, every bias and
/// activation, C with a padded row stride. The packed path runs the same cases as a control.
#[test]
fn in_place_a_all_shapes() {
    let kernels = in_place_kernels();
    prop_every_path(&kernels, in_place_shapes(1..=40, 2..=70, 1..=600), 96, false);
    println!("{} of {} kernels tested with A in place", kernels.len(), GEMM_KERNELS.len());
}

/// Cases with a row-major A (lda = k or k + pad) readable in place, of the given size ranges.
fn in_place_shapes(m: std::ops::RangeInclusive<usize>, n: std::ops::RangeInclusive<usize>, k: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Case> {
    (m, n, k, prop_oneof![Just(Layout::RowMajor), (1usize..9).prop_map(Layout::Padded)], layout(), 0usize..ACTS.len(), 0usize..3, 0usize..3, any::<u64>()).prop_map(case_of)
}

/// `cases` proptest cases of `s` on every kernel of `kernels` with A in place, packed and
/// automatic, with `sgemm_scratch_wanted` of scratch if `wanted` (else `sgemm_scratch_len`).
fn prop_every_path(kernels: &[&GemmKernel], s: impl Strategy<Value = Case>, cases: u32, wanted: bool) {
    for kr in kernels {
        for path in [APath::InPlace, APath::Packed, APath::Auto] {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
            runner
                .run(&s, |case| check_scratch(Runner::Path(kr, path), &case, wanted).map_err(|e| TestCaseError::fail(format!("{} {path:?}: {e}", kr.name))))
                .unwrap();
        }
    }
}

/// Named in-place-A cases: the n = 49 tail (3·16 + 1), tails of 1..=NR+1 columns, m = MR ± 1,
/// lda > k, k = kc ± 1 and several kc blocks, deep blocks for n <= 64, bias row/column with
/// clamp and a non-fused activation; a transposed A (not readable in place) must fall back to
/// packing.
#[test]
fn in_place_a_named_cases() {
    let base = Case { m: 13, n: 49, k: 77, la: Layout::RowMajor, lb: Layout::RowMajor, act: Act::None, bias: BiasKind::None, c_pad: 0, seed: 11 };
    let mut cases = vec![
        Case { m: 64, n: 49, k: 300, bias: BiasKind::Row, act: Act::Relu, ..base.clone() },
        Case { m: 7, n: 49, k: 600, la: Layout::Padded(5), bias: BiasKind::Col, act: Act::Clamp, c_pad: 2, ..base.clone() },
        Case { m: 5, n: 3, k: 255, la: Layout::Padded(1), ..base.clone() },
        Case { m: 11, n: 17, k: 257, bias: BiasKind::Row, act: Act::HardSwish, ..base.clone() },
        Case { m: 250, n: 2065, k: 259, la: Layout::Padded(3), bias: BiasKind::Col, act: Act::Clamp, c_pad: 3, ..base.clone() },
        // n <= 64 takes deep K blocks (driver: as deep as the scratch holds): one 300-deep
        // block; two 550-deep blocks (m = 150 > mc); two 350-deep blocks with a padded A.
        Case { m: 150, n: 49, k: 1100, bias: BiasKind::Row, act: Act::Relu, ..base.clone() },
        Case { m: 20, n: 64, k: 700, la: Layout::Padded(3), bias: BiasKind::Col, act: Act::Clamp, c_pad: 1, ..base.clone() },
        Case { m: 13, n: 49, k: 77, la: Layout::Transposed, bias: BiasKind::Row, ..base.clone() },
        Case { m: 13, n: 49, k: 77, la: Layout::Strided2, ..base.clone() },
    ];
    for n in 1..=33 {
        cases.push(Case { m: 7, n: n + 1, k: 40, seed: n as u64, bias: BiasKind::Col, ..base.clone() });
    }
    for m in [2, 5, 6, 7, 8, 9, 11, 12, 13, 23, 24, 25] {
        cases.push(Case { m, n: 20, k: 33, la: Layout::Padded(2), bias: BiasKind::Row, act: Act::Clamp, seed: m as u64, ..base.clone() });
    }
    for kr in in_place_kernels() {
        for case in &cases {
            check(Runner::Path(kr, APath::InPlace), case).unwrap_or_else(|e| panic!("{} {case:?}: {e}", kr.name));
        }
    }
}

/// With `sgemm_scratch_wanted` of scratch an in-place A with 64 < n <= 256 and kc < k <= 512
/// takes all of K in one block (driver: `one_block_len`): every tail of n, k on both sides of the
/// rule's bounds, m across MR and mc, bias and activations, against the reference; the packed path
/// (which never takes it) as a control.
#[test]
fn in_place_a_one_k_block() {
    let kernels = in_place_kernels();
    prop_every_path(&kernels, in_place_shapes(1..=40, 60..=260, 240..=530), 48, true);
    let base = Case { m: 150, n: 196, k: 512, la: Layout::RowMajor, lb: Layout::RowMajor, act: Act::Relu, bias: BiasKind::Row, c_pad: 0, seed: 5 };
    let cases = [
        base.clone(),
        Case { m: 512, n: 196, k: 300, la: Layout::Padded(4), bias: BiasKind::Col, act: Act::Clamp, c_pad: 3, ..base.clone() },
        Case { m: 7, n: 256, k: 257, ..base.clone() },
        Case { m: 13, n: 65, k: 511, act: Act::HardSwish, ..base.clone() },
    ];
    for kr in &kernels {
        for case in &cases {
            check_scratch(Runner::Path(kr, APath::InPlace), case, true).unwrap_or_else(|e| panic!("{} {case:?}: {e}", kr.name));
        }
    }
    // The wanted room is more than the minimum exactly where the rule applies.
    assert!(sgemm_scratch_wanted(512, 196, 512) > sgemm_scratch_len(512, 196, 512));
    assert_eq!(sgemm_scratch_wanted(512, 196, 1024), sgemm_scratch_len(512, 196, 1024));
    assert_eq!(sgemm_scratch_wanted(512, 784, 512), sgemm_scratch_len(512, 784, 512));
}

/// Splits `0..n` at the sorted, deduplicated `cuts` (taken modulo `n + 1`): column windows.
fn windows(n: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).chain([0, n]).collect();
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| (w[0], w[1])).collect()
}

/// `sgemm_mixed_strided` over column windows of one C (as the runtime's column split calls it,
/// one window per task): together the windows must give the reference C, with C's padding
/// untouched; a window the function declines (no SIMD kernel on this CPU, or fewer than 2 rows or
/// columns, or k = 0) must be left untouched, and is then filled by `sgemm` into a separate tile.
#[test]
fn strided_column_windows_fill_c() {
    use sprig_kernels::gemm::{sgemm_mixed_scratch_len, sgemm_mixed_strided, Operand};
    for isa in Isa::ALL {
        let simd = isa != Isa::Scalar && isa.available();
        if !isa.available() {
            println!("NOTE: strided windows on {} decline (CPU lacks it)", isa.name());
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 96, ..ProptestConfig::default() });
        let strategy = (1usize..=20, 1usize..=90, 0usize..=40, 0usize..ACTS.len(), 0usize..3, 0usize..3, proptest::collection::vec(any::<usize>(), 0..4), any::<u64>());
        runner
            .run(&strategy, |(m, n, k, act, bias, c_pad, cuts, seed)| {
                let ad = data(m * k, seed);
                let bd = data(k * n, seed + 1);
                let bias_data = data(m.max(n), seed + 2);
                let bias = match bias {
                    0 => Bias::None,
                    1 => Bias::Row(&bias_data[..m]),
                    _ => Bias::Col(&bias_data[..n]),
                };
                let act = activation(ACTS[act]);
                let (a, b) = (MatRef::row_major(&ad, m, k), MatRef::row_major(&bd, k, n));
                let ldc = n + c_pad;
                let sentinel = 1234.5f32;
                let mut want = vec![sentinel; m * ldc];
                sgemm_ref(a, b, MatMut { data: &mut want, rows: m, cols: n, rs: ldc }, bias, &act);
                let mut got = vec![sentinel; m * ldc];
                for (j0, j1) in windows(n, &cuts) {
                    let w = j1 - j0;
                    let bsub = MatRef { data: &bd[j0.min(bd.len())..], rows: k, cols: w, rs: n, cs: 1 };
                    let bias_sub = match bias {
                        Bias::Col(v) => Bias::Col(&v[j0..j1]),
                        other => other,
                    };
                    let mut scratch = vec![f32::NAN; sgemm_mixed_scratch_len(m, w, k) + 1];
                    // SAFETY: got holds m rows of ldc >= n floats, so (i, j0 + j) for i < m,
                    // j < w is inside it, and nothing else accesses got during the call.
                    let done = unsafe { sgemm_mixed_strided(isa, Operand::F32(a), Operand::F32(bsub), got.as_mut_ptr().add(j0), ldc, bias_sub, &act, &mut scratch[1..]) };
                    let expect = simd && m >= 2 && w >= 2 && k >= 1;
                    prop_assert_eq!(done, expect, "{} m {} window {}..{} k {}", isa.name(), m, j0, j1, k);
                    if !done {
                        for i in 0..m {
                            prop_assert!(got[i * ldc + j0..i * ldc + j1].iter().all(|v| v.to_bits() == sentinel.to_bits()), "declined window written");
                        }
                        let mut tile = vec![0f32; m * w];
                        sgemm(isa, a, bsub, MatMut::row_major(&mut tile, m, w), bias_sub, &act, &mut scratch[1..]);
                        for i in 0..m {
                            got[i * ldc + j0..i * ldc + j1].copy_from_slice(&tile[i * w..(i + 1) * w]);
                        }
                    }
                }
                check_c(&got, &want, ldc, sentinel, a, b, bias).map_err(|e| TestCaseError::fail(format!("{}: {e}", isa.name())))
            })
            .unwrap();
    }
}
