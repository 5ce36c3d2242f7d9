//! Every SpMM and SpMV table kernel against the scalar reference and against a dense f64 matmul of
//! the original weights. Tolerance: see `sparse_util::close` (1e-5·√k relative to Σ|w·b|).
//! A kernel whose ISA this CPU lacks prints `SKIPPED: <kernel> (CPU lacks <isa>)` and is not run.
//!
//! f16 rows run the same cases on blobs packed with `pack_as(.., ValueType::F16)`; their dense
//! reference uses the weights rounded to f16 by the `half` crate (independent of the encoder's
//! `f32_to_f16`), so the same f32 tolerance applies.
mod sparse_util;

use proptest::prelude::any;
use sparse_util::*;
use sprig_kernels::sparse::spmm::scalar::spmm_ref;
use sprig_kernels::sparse::spmv::scalar::spmv_ref;
use sprig_kernels::sparse::{kernel_available, spmm_with, spmv_with, Layout, SparseMatrix, ValueType, SPMM_KERNELS, SPMV_KERNELS};
use sprig_kernels::{Activation, Isa};

struct Case {
    m: usize,
    k: usize,
    n: usize,
    layout: Layout,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// Stored value type of the blob.
    vt: ValueType,
    /// Extra stride padding of B and C.
    pad_b: usize,
    pad_c: usize,
}

impl Case {
    fn random(rng: &mut XorRng, m: usize, k: usize, n: usize, layout: Layout, sparsity: f64, bias: bool) -> Case {
        let w = random_weights(rng, m, k, layout, sparsity, 0.25);
        let bias = bias.then(|| (0..m).map(|_| rng.weight()).collect());
        Case { m, k, n, layout, w, bias, vt: ValueType::F32, pad_b: (rng.next_u64() % 3) as usize, pad_c: (rng.next_u64() % 3) as usize }
    }

    fn with_vt(mut self, vt: ValueType) -> Case {
        self.vt = vt;
        self
    }

    /// The weights the kernels effectively use: as given, or rounded to f16 by `half`.
    fn effective_w(&self) -> Vec<f32> {
        match self.vt {
            ValueType::F32 => self.w.clone(),
            ValueType::F16 => self.w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
        }
    }
}

fn isa_kernels_spmm(isa: Isa, vt: ValueType) -> Vec<&'static sprig_kernels::sparse::SpmmKernel> {
    SPMM_KERNELS.iter().filter(|k| k.isa == isa && k.dtype == vt).collect()
}

/// Runs every SpMM kernel of `isa` that accepts the case's layout; returns how many ran.
fn check_spmm(isa: Isa, case: &Case, act: &Activation, rng: &mut XorRng) -> usize {
    let (m, k, n) = (case.m, case.k, case.n);
    let buf = encode_as(&case.w, m, k, case.bias.as_deref(), case.layout, case.vt);
    let a = parse(&buf);
    assert_eq!(a.value_type(), case.vt);
    let (ldb, ldc) = (n + case.pad_b, n + case.pad_c);
    let b: Vec<f32> = (0..k * ldb).map(|_| rng.weight() * 2.0).collect();
    let want = dense_ref(&case.effective_w(), m, k, case.bias.as_deref(), &b, ldb, n, act);
    let c_len = m * ldc;
    let mut reference = vec![f32::NAN; c_len];
    spmm_ref(&a, &b, ldb, n, &mut reference, ldc, act);
    // The scalar reference itself against the dense one.
    compare("spmm_ref", &a, &reference, &want, n, ldc);
    let mut ran = 0;
    for kern in isa_kernels_spmm(isa, case.vt).into_iter().filter(|kk| kk.block.accepts(case.layout)) {
        // Sentinel in the stride padding: kernels must not write outside the n columns.
        let mut c = vec![-7.25f32; c_len];
        spmm_with(kern, &a, &b, ldb, n, &mut c, ldc, act);
        compare(kern.name, &a, &c, &want, n, ldc);
        for i in 0..m {
            for j in n..ldc {
                assert_eq!(c[i * ldc + j], -7.25, "{}: wrote stride padding", kern.name);
            }
            for j in 0..n {
                let (g, r) = (c[i * ldc + j], reference[i * ldc + j]);
                assert!(close(g, r, want[i * n + j].1, k), "{} vs scalar at ({i},{j}): {g} vs {r} [{m}x{k}x{n} {}]", kern.name, a.layout());
            }
        }
        ran += 1;
    }
    ran
}

fn compare(name: &str, a: &SparseMatrix, c: &[f32], want: &[(f32, f64)], n: usize, ldc: usize) {
    for i in 0..a.m() {
        for j in 0..n {
            let (g, (w, s)) = (c[i * ldc + j], want[i * n + j]);
            assert!(close(g, w, s, a.k()), "{name} vs dense at ({i},{j}): {g} vs {w} [{}x{}x{n} {}]", a.m(), a.k(), a.layout());
        }
    }
}

fn check_spmv(isa: Isa, case: &Case, act: &Activation, rng: &mut XorRng) -> usize {
    let (m, k) = (case.m, case.k);
    let buf = encode_as(&case.w, m, k, case.bias.as_deref(), case.layout, case.vt);
    let a = parse(&buf);
    let x: Vec<f32> = (0..k).map(|_| rng.weight() * 2.0).collect();
    let want = dense_ref(&case.effective_w(), m, k, case.bias.as_deref(), &x, 1, 1, act);
    let mut reference = vec![f32::NAN; m];
    spmv_ref(&a, &x, &mut reference, act);
    compare("spmv_ref", &a, &reference, &want, 1, 1);
    let mut ran = 0;
    for kern in SPMV_KERNELS.iter().filter(|kk| kk.isa == isa && kk.dtype == case.vt && kk.block.accepts(case.layout)) {
        let mut y = vec![f32::NAN; m];
        spmv_with(kern, &a, &x, &mut y, act);
        compare(kern.name, &a, &y, &want, 1, 1);
        for i in 0..m {
            assert!(close(y[i], reference[i], want[i].1, k), "{} vs scalar at {i}: {} vs {}", kern.name, y[i], reference[i]);
        }
        ran += 1;
    }
    ran
}

/// Prints SKIPPED for every kernel of `isa` and `vt` when the CPU lacks it (for f16 on x86: or
/// F16C); true if those kernels can run.
fn available_or_skip(isa: Isa, vt: ValueType) -> bool {
    let has_rows = SPMM_KERNELS.iter().any(|k| k.isa == isa && k.dtype == vt) || SPMV_KERNELS.iter().any(|k| k.isa == isa && k.dtype == vt);
    if kernel_available(isa, vt) && has_rows {
        return true;
    }
    if !has_rows {
        println!("SKIPPED: {} {} kernels (CPU lacks {}: not built for this architecture)", isa.name(), vt.name(), isa.name());
        return false;
    }
    for k in SPMM_KERNELS.iter().filter(|k| k.isa == isa && k.dtype == vt) {
        println!("SKIPPED: {} (CPU lacks {})", k.name, isa.name());
    }
    for k in SPMV_KERNELS.iter().filter(|k| k.isa == isa && k.dtype == vt) {
        println!("SKIPPED: {} (CPU lacks {})", k.name, isa.name());
    }
    false
}

/// Named edge cases for every layout and activation.
fn named_cases(isa: Isa, vt: ValueType) {
    if !available_or_skip(isa, vt) {
        return;
    }
    let mut rng = XorRng(0xfeed);
    let mut ran = 0;
    for layout in Layout::ALL {
        let spmm_nr = SPMM_KERNELS.iter().filter(|k| k.isa == isa && k.dtype == vt && k.block.accepts(layout)).map(|k| k.nr).max().unwrap_or(16);
        let mut cases = vec![
            // all-zero matrix (output = act(bias))
            Case::random(&mut rng, 9, 13, 5, layout, 1.0, true),
            // fully dense
            Case::random(&mut rng, 16, 24, spmm_nr + 3, layout, 0.0, true),
            // k smaller than a block, and k = 1
            Case::random(&mut rng, 7, 3, 17, layout, 0.0, true),
            Case::random(&mut rng, 5, 1, 9, layout, 0.0, false),
            // n not a multiple of the tile, around the tile and the vector width
            Case::random(&mut rng, 11, 19, spmm_nr - 1, layout, 0.5, true),
            Case::random(&mut rng, 11, 19, spmm_nr + 1, layout, 0.5, false),
            Case::random(&mut rng, 11, 19, 2 * spmm_nr + 7, layout, 0.7, true),
            Case::random(&mut rng, 3, 19, 1, layout, 0.3, true),
            // u32 indices (k > 65536)
            Case::random(&mut rng, 9, 65_600, 3, layout, 0.999, true),
        ];
        // empty rows: zero every other row.
        let mut er = Case::random(&mut rng, 12, 30, 21, layout, 0.0, true);
        for i in (0..12).step_by(2) {
            er.w[i * 30..(i + 1) * 30].fill(0.0);
        }
        cases.push(er);
        for case in cases.into_iter().map(|c| c.with_vt(vt)) {
            let case = &case;
            for act in acts() {
                ran += check_spmm(isa, case, &act, &mut rng);
                ran += check_spmv(isa, case, &act, &mut rng);
            }
        }
    }
    // Clamp bounds: outputs hit both ends exactly.
    let case = Case::random(&mut rng, 17, 40, 33, Layout::RowBlock(4), 0.3, true).with_vt(vt);
    for act in [Activation::clamp(-0.1, 0.1), Activation::clamp(0.0, 0.0), Activation::clamp(-1e30, 1e30)] {
        ran += check_spmm(isa, &case, &act, &mut rng);
        ran += check_spmv(isa, &case, &act, &mut rng);
    }
    assert!(ran > 0, "no {} {} kernel ran", isa.name(), vt.name());
    println!("{} {}: {ran} kernel runs passed", isa.name(), vt.name());
}

#[test]
fn named_cases_scalar() {
    named_cases(Isa::Scalar, ValueType::F32);
}
#[test]
#[cfg_attr(sprig_test_lacks_avx2, ignore = "this machine lacks AVX2+FMA")]
fn named_cases_avx2() {
    named_cases(Isa::Avx2, ValueType::F32);
}
#[test]
#[cfg_attr(sprig_test_lacks_avx512, ignore = "this machine lacks AVX-512")]
fn named_cases_avx512() {
    named_cases(Isa::Avx512, ValueType::F32);
}
#[test]
#[cfg_attr(not(target_arch = "aarch64"), ignore = "NEON kernels run on aarch64 (scripts/test-aarch64.sh, under qemu)")]
fn named_cases_neon() {
    named_cases(Isa::Neon, ValueType::F32);
}
#[test]
fn named_cases_f16_scalar() {
    named_cases(Isa::Scalar, ValueType::F16);
}
#[test]
#[cfg_attr(any(sprig_test_lacks_avx2, sprig_test_lacks_f16c), ignore = "this machine lacks AVX2+FMA or F16C")]
fn named_cases_f16_avx2() {
    named_cases(Isa::Avx2, ValueType::F16);
}
#[test]
#[cfg_attr(any(sprig_test_lacks_avx512, sprig_test_lacks_f16c), ignore = "this machine lacks AVX-512 or F16C")]
fn named_cases_f16_avx512() {
    named_cases(Isa::Avx512, ValueType::F16);
}
#[test]
#[cfg_attr(not(target_arch = "aarch64"), ignore = "NEON kernels run on aarch64 (scripts/test-aarch64.sh, under qemu)")]
fn named_cases_f16_neon() {
    named_cases(Isa::Neon, ValueType::F16);
}

/// Every table has one f16 row per f32 row (same ISA, block and tile), named `*_f16_*`.
#[test]
fn f16_rows_mirror_f32_rows() {
    for k in SPMM_KERNELS.iter().filter(|k| k.dtype == ValueType::F32) {
        let twin = SPMM_KERNELS.iter().find(|h| h.dtype == ValueType::F16 && h.isa == k.isa && h.block == k.block && h.nr == k.nr);
        let twin = twin.unwrap_or_else(|| panic!("no f16 twin of {}", k.name));
        assert_eq!((twin.mr, twin.min_n), (k.mr, k.min_n), "{}", twin.name);
        assert_eq!(twin.name, k.name.replace("_f32_", "_f16_"));
    }
    for k in SPMV_KERNELS.iter().filter(|k| k.dtype == ValueType::F32) {
        let twin = SPMV_KERNELS.iter().find(|h| h.dtype == ValueType::F16 && h.isa == k.isa && h.block == k.block);
        let twin = twin.unwrap_or_else(|| panic!("no f16 twin of {}", k.name));
        assert_eq!(twin.name, k.name.replace("_f32_", "_f16_"));
    }
}

#[test]
fn every_table_kernel_has_a_row_name_with_its_tile() {
    for k in SPMM_KERNELS.iter().filter(|k| k.isa != Isa::Scalar) {
        assert!(k.name.contains(&format!("_n{}_", k.nr)), "{}", k.name);
        assert!(k.name.ends_with(k.isa.name()), "{}", k.name);
    }
    for k in SPMV_KERNELS {
        assert!(k.name.ends_with(k.isa.name()), "{}", k.name);
    }
}

/// Property test of every kernel of `isa` over random shapes, sparsity, layouts, activations,
/// strides and bias; skipped (with a SKIPPED line) when the CPU lacks `isa`.
fn prop_isa(isa: Isa, vt: ValueType, cases: u32) {
    use proptest::test_runner::{Config, TestRunner};
    if !available_or_skip(isa, vt) {
        return;
    }
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    let strat = (1usize..40, 1usize..70, 1usize..150, 0usize..6, 0.0f64..=1.0, 0usize..acts().len(), any::<u64>(), any::<bool>());
    runner
        .run(&strat, |(m, k, n, li, sp, ai, seed, bias)| {
            let mut rng = XorRng(seed | 1);
            let case = Case::random(&mut rng, m, k, n, Layout::ALL[li], sp, bias).with_vt(vt);
            let act = acts()[ai];
            check_spmm(isa, &case, &act, &mut rng);
            check_spmv(isa, &case, &act, &mut rng);
            Ok(())
        })
        .unwrap();
}

#[test]
#[cfg_attr(sprig_test_lacks_avx512, ignore = "this machine lacks AVX-512")]
fn prop_avx512() {
    prop_isa(Isa::Avx512, ValueType::F32, 300);
}
#[test]
#[cfg_attr(sprig_test_lacks_avx2, ignore = "this machine lacks AVX2+FMA")]
fn prop_avx2() {
    prop_isa(Isa::Avx2, ValueType::F32, 300);
}
#[test]
#[cfg_attr(not(target_arch = "aarch64"), ignore = "NEON kernels run on aarch64 (scripts/test-aarch64.sh, under qemu)")]
fn prop_neon() {
    prop_isa(Isa::Neon, ValueType::F32, 300);
}
#[test]
fn prop_scalar() {
    prop_isa(Isa::Scalar, ValueType::F32, 100);
}
#[test]
#[cfg_attr(any(sprig_test_lacks_avx512, sprig_test_lacks_f16c), ignore = "this machine lacks AVX-512 or F16C")]
fn prop_f16_avx512() {
    prop_isa(Isa::Avx512, ValueType::F16, 300);
}
#[test]
#[cfg_attr(any(sprig_test_lacks_avx2, sprig_test_lacks_f16c), ignore = "this machine lacks AVX2+FMA or F16C")]
fn prop_f16_avx2() {
    prop_isa(Isa::Avx2, ValueType::F16, 300);
}
#[test]
#[cfg_attr(not(target_arch = "aarch64"), ignore = "NEON kernels run on aarch64 (scripts/test-aarch64.sh, under qemu)")]
fn prop_f16_neon() {
    prop_isa(Isa::Neon, ValueType::F16, 300);
}
#[test]
fn prop_f16_scalar() {
    prop_isa(Isa::Scalar, ValueType::F16, 100);
}

/// SpMM with B larger than one N panel (k·n·4 bytes above the kernels' 2 MB panel budget, so N
/// splits into several panels plus a tail), every layout, f32 and f16, every ISA this CPU has.
#[test]
fn spmm_several_panels() {
    let mut rng = XorRng(0x9a7e1);
    for isa in Isa::ALL {
        for vt in [ValueType::F32, ValueType::F16] {
            if !available_or_skip(isa, vt) {
                continue;
            }
            for layout in Layout::ALL {
                let case = Case::random(&mut rng, 9, 4100, 157, layout, 0.9, true).with_vt(vt);
                assert!(check_spmm(isa, &case, &Activation::RELU, &mut rng) > 0);
            }
        }
    }
}

/// SpMM where the x86 one-row kernels take their small (64 KB) B panels: k ≤ 512 with N over one
/// panel, so N splits into several panels, a last panel with a folded tail, and panels of one tile
/// (k = 256 and 512 at 64-column tiles). Every layout (the others keep one panel), f32 and f16,
/// every ISA this CPU has.
#[test]
fn spmm_small_panels() {
    let mut rng = XorRng(0x5a11);
    let mut ran = 0;
    for isa in Isa::ALL {
        for vt in [ValueType::F32, ValueType::F16] {
            if !available_or_skip(isa, vt) {
                continue;
            }
            for layout in Layout::ALL {
                for (m, k, n) in [(9, 8, 2100), (7, 64, 700), (13, 256, 196), (5, 256, 209), (6, 512, 133)] {
                    let case = Case::random(&mut rng, m, k, n, layout, 0.8, true).with_vt(vt);
                    ran += check_spmm(isa, &case, &Activation::RELU, &mut rng);
                }
            }
        }
    }
    assert!(ran > 0);
}

/// `spmm` takes a wide row (`min_n > 0`) exactly from its `min_n` on, and its result through
/// the safe entry (full tiles, the 2-vector and 1-vector tail steps, a masked tail) matches the
/// scalar reference and the dense one, on every ISA this CPU has.
#[test]
fn spmm_wide_rows_by_n() {
    use sprig_kernels::sparse::spmm::{spmm_kernel_for, spmm_kernel_for_n};
    let mut rng = XorRng(0x31de);
    let mut wide_seen = 0;
    for isa in Isa::ALL {
        for vt in [ValueType::F32, ValueType::F16] {
            if !available_or_skip(isa, vt) {
                continue;
            }
            for layout in Layout::ALL {
                let base = spmm_kernel_for(isa, layout, vt);
                assert_eq!(base.min_n, 0, "{}", base.name);
                for wide in SPMM_KERNELS.iter().filter(|k| k.isa == base.isa && k.block == base.block && k.dtype == vt && k.min_n > 0) {
                    wide_seen += 1;
                    assert!(wide.nr > base.nr, "{}", wide.name);
                    assert_eq!(spmm_kernel_for_n(isa, layout, vt, wide.min_n - 1).name, base.name);
                    assert_eq!(spmm_kernel_for_n(isa, layout, vt, wide.min_n).name, wide.name);
                    // n = min_n + 23: for nr = 24, 8 full tiles, one 16-column step, a 7-column mask.
                    for n in [wide.min_n, wide.min_n + 23, wide.min_n + 2 * wide.nr - 1] {
                        let case = Case::random(&mut rng, 13, 37, n, layout, 0.8, true).with_vt(vt);
                        let buf = encode_as(&case.w, case.m, case.k, case.bias.as_deref(), layout, vt);
                        let a = parse(&buf);
                        let b: Vec<f32> = (0..case.k * n).map(|_| rng.weight()).collect();
                        let act = Activation::RELU;
                        let want = dense_ref(&case.effective_w(), case.m, case.k, case.bias.as_deref(), &b, n, n, &act);
                        let mut c = vec![f32::NAN; case.m * n];
                        sprig_kernels::sparse::spmm(isa, &a, &b, n, n, &mut c, n, &act);
                        compare(wide.name, &a, &c, &want, n, n);
                    }
                }
            }
        }
    }
    println!("{wide_seen} wide rows checked");
}

/// The MatMul path's transpose on every ISA against the index formula, for shapes around the
/// 8×8 block (edges in both dimensions) and column sub-ranges (the thread split).
#[test]
fn transpose_cols_matches_the_definition() {
    use sprig_kernels::sparse::spmm::transpose::transpose_cols;
    for isa in Isa::ALL {
        if !isa.available() {
            println!("SKIPPED: transpose {} (CPU lacks it)", isa.name());
            continue;
        }
        for &(r, c) in &[(1usize, 1usize), (8, 8), (7, 9), (16, 24), (17, 33), (128, 64), (5, 130)] {
            let src: Vec<f32> = (0..r * c).map(|x| x as f32 * 0.5 - 3.0).collect();
            for (c0, c1) in [(0, c), (c / 3, c), (1.min(c), c / 2 + 1)] {
                let mut dst = vec![f32::NAN; (c1 - c0) * r + 3];
                transpose_cols(isa, &src, r, c, c0..c1, &mut dst);
                for j in c0..c1 {
                    for i in 0..r {
                        assert_eq!(dst[(j - c0) * r + i], src[i * c + j], "{} {r}x{c} cols {c0}..{c1} at ({i}, {j})", isa.name());
                    }
                }
                assert!(dst[(c1 - c0) * r..].iter().all(|x| x.is_nan()), "wrote past the range");
            }
        }
    }
}

/// `transpose_strided` on every ISA against the index formula: strided source and destination
/// (strides above the row lengths, gaps filled with a sentinel that must survive), shapes around
/// the 8×8 block, and the attention head case (128 × 64 rows of a 768-wide source).
#[test]
fn transpose_strided_matches_the_definition() {
    use sprig_kernels::sparse::spmm::transpose::transpose_strided;
    for isa in Isa::ALL {
        if !isa.available() {
            println!("SKIPPED: transpose_strided {} (CPU lacks it)", isa.name());
            continue;
        }
        for &(rows, cols, gs, gd) in &[(1usize, 1usize, 0usize, 0usize), (8, 8, 0, 3), (7, 9, 5, 0), (16, 24, 1, 1), (17, 33, 8, 7), (128, 64, 704, 0), (5, 130, 2, 11), (0, 4, 1, 1), (4, 0, 1, 1)] {
            let (lds, ldd) = (cols + gs, rows + gd);
            let slen = if rows == 0 { 0 } else { (rows - 1) * lds + cols };
            let dlen = if cols == 0 { 0 } else { (cols - 1) * ldd + rows };
            let src: Vec<f32> = (0..slen).map(|x| x as f32 * 0.25 - 7.0).collect();
            let mut dst = vec![f32::NAN; dlen + 2];
            transpose_strided(isa, &src, lds, rows, cols, &mut dst, ldd);
            for j in 0..cols {
                for i in 0..ldd {
                    let at = j * ldd + i;
                    if i < rows {
                        assert_eq!(dst[at], src[i * lds + j], "{} {rows}x{cols} lds {lds} ldd {ldd} at ({i}, {j})", isa.name());
                    } else if at < dst.len() {
                        assert!(dst[at].is_nan(), "{} {rows}x{cols}: wrote into a gap at {at}", isa.name());
                    }
                }
            }
            assert!(dst[dlen..].iter().all(|x| x.is_nan()), "wrote past the matrix");
        }
    }
}

/// `spmm_strided`: four threads each compute a disjoint range of columns (widths not multiples of
/// any tile, one range empty, one wide enough for the wide-tile rows, `min_n`) of one C through the pointer entry; the result must equal the scalar
/// reference on the whole C, and the stride padding (a sentinel) must be left alone. For every
/// ISA this CPU has (the others print SKIPPED), each layout, f32 and f16 values.
#[test]
fn strided_column_ranges_from_threads() {
    let mut rng = XorRng(0x5eed_c0de);
    let act = Activation::RELU;
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon] {
        if !isa.available() {
            println!("SKIPPED: spmm_strided on {} (CPU lacks {})", isa.name(), isa.name());
            continue;
        }
        for vt in [ValueType::F32, ValueType::F16] {
            for layout in Layout::ALL {
                let (m, k, n, pad) = (37, 29, 450, 5);
                let w = random_weights(&mut rng, m, k, layout, 0.8, 0.25);
                let bias: Vec<f32> = (0..m).map(|_| rng.weight()).collect();
                let buf = encode_as(&w, m, k, Some(&bias), layout, vt);
                let a = parse(&buf);
                let ldc = n + pad;
                let b: Vec<f32> = (0..k * n).map(|_| rng.weight() * 2.0).collect();
                let mut want = vec![-7.25f32; m * ldc];
                spmm_ref(&a, &b, n, n, &mut want, ldc, &act);
                let mut c = vec![-7.25f32; m * ldc];
                let cp = c.as_mut_ptr() as usize;
                let ranges = [0..61, 61..61, 61..300, 300..n];
                std::thread::scope(|s| {
                    for r in ranges.clone() {
                        let (a, b, act) = (&a, &b, &act);
                        s.spawn(move || {
                            // SAFETY: C has m·ldc elements, so (i, j) with i < m, j < n (ldc ≥ n)
                            // is inside it; the ranges are disjoint and nothing else touches C
                            // until the scope ends.
                            unsafe { sprig_kernels::sparse::spmm_strided(isa, a, &b[r.start..], n, r.len(), (cp as *mut f32).add(r.start), ldc, act) }
                        });
                    }
                });
                for i in 0..m {
                    for j in 0..ldc {
                        let (g, r) = (c[i * ldc + j], want[i * ldc + j]);
                        let ok = if j >= n { g == -7.25 } else { (g - r).abs() <= 1e-5 * (1.0 + r.abs()) };
                        assert!(ok, "{} {} {layout}: ({i},{j}) {g} vs {r}", isa.name(), vt.name());
                    }
                }
            }
        }
    }
}
