//! Named edge cases for the unstructured (1×1) SpMV rows' per-row tails: rows with 0, 1, 7, 8, 9,
//! 15, 16, 17 values (around the 8- and 16-value steps), in every position including the last row
//! of the stream, a stream with fewer than 8 values (scalar tail), and non-finite inputs that the
//! masked tail window must not pull in from neighbouring rows. Every table row for 1×1 blocks
//! (f32 and f16) against the scalar reference and a dense f64 product; u16 and u32 indices.
//! A kernel whose ISA this CPU lacks prints `SKIPPED: ...`.
mod sparse_util;

use sparse_util::*;
use sprig_kernels::sparse::spmv::scalar::spmv_ref;
use sprig_kernels::sparse::{kernel_available, spmv_with, Layout, ValueType, SPMV_KERNELS};
use sprig_kernels::Activation;

const COUNTS: &[usize] = &[0, 1, 7, 8, 9, 15, 16, 17];

/// `w[m×k]` with exactly `counts[i]` non-zeros in row i at random distinct columns.
fn rows_with(rng: &mut XorRng, counts: &[usize], k: usize) -> Vec<f32> {
    let m = counts.len();
    let mut w = vec![0.0f32; m * k];
    for (i, &c) in counts.iter().enumerate() {
        assert!(c <= k);
        let mut placed = 0;
        while placed < c {
            let p = (rng.next_u64() % k as u64) as usize;
            if w[i * k + p] == 0.0 {
                w[i * k + p] = rng.weight() + if rng.unit() < 0.5 { -0.5 } else { 0.5 };
                placed += 1;
            }
        }
    }
    w
}

fn rounded(w: &[f32], vt: ValueType) -> Vec<f32> {
    match vt {
        ValueType::F32 => w.to_vec(),
        ValueType::F16 => w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
    }
}

/// f64 product over the stored (non-zero) weights only: (value, Σ|terms|). Unlike
/// `sparse_util::dense_ref`, a zero weight against a non-finite x contributes nothing, as in
/// the sparse format.
fn stored_ref(w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, x: &[f32]) -> Vec<(f32, f64)> {
    (0..m)
        .map(|i| {
            let b = bias.map_or(0.0, |b| b[i]) as f64;
            let (mut s, mut scale) = (b, b.abs());
            for p in (0..k).filter(|&p| w[i * k + p] != 0.0) {
                let t = w[i * k + p] as f64 * x[p] as f64;
                s += t;
                scale += t.abs();
            }
            (s as f32, scale)
        })
        .collect()
}

/// Runs every available 1×1 SpMV row of `vt` on the case; returns how many ran.
fn check(what: &str, w: &[f32], m: usize, k: usize, x: &[f32], bias: bool, vt: ValueType) -> usize {
    let bias: Option<Vec<f32>> = bias.then(|| (0..m).map(|i| (i as f32 - 3.0) * 0.125).collect());
    let buf = encode_as(w, m, k, bias.as_deref(), Layout::RowBlock(1), vt);
    let a = parse(&buf);
    let act = Activation::NONE;
    let want = stored_ref(&rounded(w, vt), m, k, bias.as_deref(), x);
    let mut reference = vec![f32::NAN; m];
    spmv_ref(&a, x, &mut reference, &act);
    let mut ran = 0;
    for kern in SPMV_KERNELS.iter().filter(|kk| kk.dtype == vt && kk.block.accepts(Layout::RowBlock(1))) {
        if !kernel_available(kern.isa, vt) {
            println!("SKIPPED: {} (CPU lacks {})", kern.name, kern.isa.name());
            continue;
        }
        let mut y = vec![f32::NAN; m];
        spmv_with(kern, &a, x, &mut y, &act);
        for i in 0..m {
            let (g, r, (d, s)) = (y[i], reference[i], want[i]);
            assert!(close(r, d, s, k) || (!r.is_finite() && !d.is_finite()), "{what}: scalar row {i} vs dense: {r} vs {d}");
            if !r.is_finite() {
                assert!(g.to_bits() == r.to_bits() || (g.is_nan() && r.is_nan()), "{what}: {} row {i}: {g} vs scalar {r}", kern.name);
                continue;
            }
            assert!(close(g, d, s, k), "{what}: {} row {i} vs dense: {g} vs {d}", kern.name);
            assert!(close(g, r, s, k), "{what}: {} row {i} vs scalar: {g} vs {r}", kern.name);
        }
        ran += 1;
    }
    ran
}

fn x_for(rng: &mut XorRng, k: usize) -> Vec<f32> {
    (0..k).map(|_| rng.weight() * 2.0).collect()
}

#[test]
fn row_lengths_around_the_vector_steps() {
    let mut rng = XorRng(0x7a11);
    let mut ran = 0;
    for vt in [ValueType::F32, ValueType::F16] {
        // Every count as first, middle and last row, after each other count.
        for &last in COUNTS {
            for &before in COUNTS {
                let counts = [before, 9, before, last];
                let k = 40;
                let w = rows_with(&mut rng, &counts, k);
                let x = x_for(&mut rng, k);
                ran += check(&format!("{vt:?} rows {counts:?}"), &w, counts.len(), k, &x, true, vt);
            }
        }
        // All counts in one stream, both orders, u16 and u32 indices (k > 65536).
        for k in [24, 65_600] {
            for rev in [false, true] {
                let mut counts = COUNTS.to_vec();
                if rev {
                    counts.reverse();
                }
                let w = rows_with(&mut rng, &counts, k);
                let x = x_for(&mut rng, k);
                ran += check(&format!("{vt:?} k={k} rows {counts:?}"), &w, counts.len(), k, &x, rev, vt);
            }
        }
    }
    println!("{ran} kernel runs passed");
    assert!(ran > 0 || !kernel_available(sprig_kernels::Isa::Scalar, ValueType::F32));
}

#[test]
fn stream_shorter_than_one_vector() {
    let mut rng = XorRng(0x5407);
    let mut ran = 0;
    for vt in [ValueType::F32, ValueType::F16] {
        for counts in [vec![1usize], vec![7], vec![0, 3, 0, 4], vec![2, 0, 5], vec![0, 0, 0]] {
            let k = 9;
            let w = rows_with(&mut rng, &counts, k);
            let x = x_for(&mut rng, k);
            ran += check(&format!("{vt:?} short stream {counts:?}"), &w, counts.len(), k, &x, true, vt);
        }
    }
    println!("{ran} kernel runs passed");
}

/// x = ±inf or NaN at columns only an earlier row uses: the next rows' tail windows reach back
/// over those values, and their masked lanes must stay out of the sum.
#[test]
fn masked_tail_ignores_other_rows_non_finite_inputs() {
    let mut ran = 0;
    for vt in [ValueType::F32, ValueType::F16] {
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            for &tail in &[1usize, 3, 7, 9, 15] {
                // Row 0 uses columns 0..12 (x[5] is non-finite); row 1 uses `tail` columns from 20;
                // row 2 again hits the poisoned column alone, row 3 is empty.
                let (m, k) = (4, 40);
                let mut w = vec![0.0f32; m * k];
                for (p, v) in w[..12].iter_mut().enumerate() {
                    *v = 0.25 + p as f32 * 0.01;
                }
                for p in 0..tail {
                    w[k + 20 + p] = -0.5 + p as f32 * 0.03;
                }
                w[2 * k + 5] = 1.0;
                let mut x: Vec<f32> = (0..k).map(|i| (i as f32 - 20.0) * 0.05).collect();
                x[5] = bad;
                ran += check(&format!("{vt:?} x[5]={bad} tail={tail}"), &w, m, k, &x, true, vt);
            }
        }
        // Non-finite weights in an earlier row (f32 only: f16 would round 1e30 to inf anyway).
        if vt == ValueType::F32 {
            let (m, k) = (3, 30);
            let mut w = vec![0.0f32; m * k];
            for (p, v) in w[..10].iter_mut().enumerate() {
                *v = if p == 8 { 3e38 } else { 0.5 };
            }
            for p in 0..3 {
                w[k + 15 + p] = 0.75;
            }
            let x: Vec<f32> = (0..k).map(|i| if i == 8 { 1e10 } else { 0.5 }).collect();
            ran += check("f32 overflowing row before a tail", &w, m, k, &x, false, vt);
        }
    }
    println!("{ran} kernel runs passed");
}
