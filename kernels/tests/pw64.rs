//! The pointwise conv over 64-channel weight panels (`pw64`): packing, and `pointwise` on every
//! ISA this CPU runs (the AVX-512 kernel, and the GEMM-per-panel path of the others) against the
//! plain reference.
//!
//! Tolerance (f32): `|got - ref| <= 1e-5 · (k + 1) · (Σ_p |w·x| + |bias| + 1)`, relative 1e-5 per
//! accumulated product (FMA and summation order differ from the reference), plus 1e-6 for the
//! vectorised activations. An ISA this CPU lacks prints `SKIPPED: ...` and is not counted.
use proptest::prelude::*;
use sprig_kernels::pw64::{self, packed_at, packed_len, pointwise, pointwise_ref, PANEL};
use sprig_kernels::{Act, Isa};
mod common;
use common::{activation, data, runs, ACTS};

fn check(isa: Isa, m: usize, k: usize, n: usize, act: Act, bias: bool, seed: u64) -> Result<(), String> {
    let w = data(m * k, seed);
    let x = data(k * n, seed + 1);
    let b = data(m, seed + 2);
    let bias = bias.then_some(&b[..]);
    let act = activation(act);
    let mut wp = vec![f32::NAN; packed_len(m, k)];
    pw64::pack(&w, m, k, &mut wp);
    let mut want = vec![f32::NAN; m * n];
    pointwise_ref(m, k, n, &wp, &x, bias, &act, &mut want);
    let mut got = vec![f32::NAN; m * n];
    let mut scratch = vec![f32::NAN; pw64::scratch_len(n, k)];
    pointwise(isa, m, k, n, &wp, &x, bias, &act, &mut got, &mut scratch);
    for i in 0..m {
        for j in 0..n {
            let mag: f32 = (0..k).map(|p| (w[i * k + p] * x[p * n + j]).abs()).sum::<f32>() + bias.map_or(0.0, |b| b[i].abs()) + 1.0;
            let tol = 1e-5 * (k as f32 + 1.0) * mag + 1e-6;
            let (g, r) = (got[i * n + j], want[i * n + j]);
            let within = (g - r).abs() <= tol; // false for NaN
            if !within {
                return Err(format!("{} {m}x{k}x{n} {act:?}: C({i},{j}) = {g}, reference {r}, tol {tol}", isa.name()));
            }
        }
    }
    Ok(())
}

#[test]
fn pack_places_every_weight_and_zeroes_the_padding() {
    for (m, k) in [(1, 1), (63, 5), (64, 3), (65, 7), (130, 2)] {
        let w = data(m * k, 9);
        let mut wp = vec![f32::NAN; packed_len(m, k)];
        pw64::pack(&w, m, k, &mut wp);
        assert_eq!(wp.len(), m.div_ceil(PANEL) * PANEL * k);
        for i in 0..m.div_ceil(PANEL) * PANEL {
            for p in 0..k {
                let want = if i < m { w[i * k + p] } else { 0.0 };
                assert_eq!(packed_at(&wp, k, i, p).to_bits(), want.to_bits(), "{m}x{k}: ({i},{p})");
            }
        }
    }
}

/// The reference itself against a direct sum over the row-major weights.
#[test]
fn reference_is_the_product() {
    let (m, k, n) = (70, 9, 5);
    let (w, x, b) = (data(m * k, 1), data(k * n, 2), data(m, 3));
    let mut wp = vec![0.0; packed_len(m, k)];
    pw64::pack(&w, m, k, &mut wp);
    let mut c = vec![f32::NAN; m * n];
    pointwise_ref(m, k, n, &wp, &x, Some(&b), &activation(Act::None), &mut c);
    for i in 0..m {
        for j in 0..n {
            let s: f32 = b[i] + (0..k).map(|p| w[i * k + p] * x[p * n + j]).sum::<f32>();
            assert!((c[i * n + j] - s).abs() <= 1e-5 * (k as f32 + 1.0), "({i},{j})");
        }
    }
}

/// MobileNetV1's 14x14 and 7x7 pointwise shapes, a channel count that leaves a short last panel,
/// and pixel counts around the 6-pixel tile.
fn named(isa: Isa) {
    if !runs(pw64::kernel_name(isa), isa) {
        return;
    }
    for &(m, k, n) in &[(512, 512, 196), (1024, 512, 49), (96, 300, 13), (65, 256, 7), (64, 257, 6), (1, 1, 1), (130, 17, 1)] {
        for (a, act) in [Act::None, Act::Relu, Act::Clamp, Act::Gelu].into_iter().enumerate() {
            check(isa, m, k, n, act, a % 2 == 0, (m * 31 + k * 7 + n) as u64).unwrap();
        }
    }
}

fn prop(isa: Isa) {
    if !runs(pw64::kernel_name(isa), isa) {
        return;
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 200, ..ProptestConfig::default() });
    runner
        .run(&(1usize..200, 1usize..70, 1usize..40, 0usize..ACTS.len(), any::<bool>(), any::<u64>()), |(m, k, n, act, bias, seed)| {
            check(isa, m, k, n, ACTS[act], bias, seed).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn scalar_matches_reference() {
    named(Isa::Scalar);
    prop(Isa::Scalar);
}

#[test]
#[cfg_attr(sprig_test_lacks_avx2, ignore = "this machine lacks AVX2+FMA")]
fn avx2_matches_reference() {
    named(Isa::Avx2);
    prop(Isa::Avx2);
}

#[test]
#[cfg_attr(sprig_test_lacks_avx512, ignore = "this machine lacks AVX-512")]
fn avx512_kernel_matches_reference() {
    assert!(pw64::has_kernel(Isa::Avx512));
    named(Isa::Avx512);
    prop(Isa::Avx512);
}

#[test]
#[cfg_attr(not(target_arch = "aarch64"), ignore = "NEON kernels run on aarch64 (scripts/test-aarch64.sh, under qemu)")]
fn neon_matches_reference() {
    named(Isa::Neon);
    prop(Isa::Neon);
}
