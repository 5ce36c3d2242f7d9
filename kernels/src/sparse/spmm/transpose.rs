//! f32 matrix transpose for the MatMul-with-sparse-B path (`Yᵀ = S·Aᵀ`: Aᵀ into the SpMM, Yᵀ out
//! of it). The plain 16×16 element loop was 44 % of the perf samples of a 90 %-sparse MLP at batch
//! 128 (1024→4096→1024, power-of-two row strides, whose rows share L1 sets); the AVX2 path moves
//! 8×8 blocks through registers (8 row loads, an unpack/shuffle/permute network, 8 row stores):
//! 18 % with 8-row strips across all columns, before the order below.

/// `dst[(j - cols.start)·r + i] = src[i·c + j]` for `i < r`, `j ∈ cols`: rows `cols` of `srcᵀ`
/// (`src` row-major `r × c`), written from `dst[0]` on. Panics unless `src.len() ≥ r·c`,
/// `cols.end ≤ c` and `dst.len() ≥ cols.len()·r`.
pub fn transpose_cols(isa: crate::Isa, src: &[f32], r: usize, c: usize, cols: core::ops::Range<usize>, dst: &mut [f32]) {
    assert!(cols.start <= cols.end && cols.end <= c, "transpose: column range outside the matrix");
    assert!(
        src.len() >= r.checked_mul(c).expect("transpose: size overflows"),
        "transpose: src shorter than r x c"
    );
    assert!(
        dst.len() >= cols.len().checked_mul(r).expect("transpose: size overflows"),
        "transpose: dst too short"
    );
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, crate::Isa::Avx2 | crate::Isa::Avx512) && crate::Isa::Avx2.available() {
        // SAFETY: AVX2 is available (checked); the lengths were asserted above.
        unsafe { transpose_avx2(src, r, c, cols, dst) };
        return;
    }
    let _ = isa;
    transpose_ref(src, r, c, cols, dst);
}

/// The plain reference (16×16 tiles).
pub fn transpose_ref(src: &[f32], r: usize, c: usize, cols: core::ops::Range<usize>, dst: &mut [f32]) {
    const T: usize = 16;
    for i0 in (0..r).step_by(T) {
        for j0 in cols.clone().step_by(T) {
            for i in i0..(i0 + T).min(r) {
                for j in j0..(j0 + T).min(cols.end) {
                    dst[(j - cols.start) * r + i] = src[i * c + j];
                }
            }
        }
    }
}

/// # Safety
/// AVX2 available; `src.len() ≥ r·c`, `cols.end ≤ c`, `dst.len() ≥ cols.len()·r`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_avx2(src: &[f32], r: usize, c: usize, cols: core::ops::Range<usize>, dst: &mut [f32]) {
    use core::arch::x86_64::*;
    let (c0, c1) = (cols.start, cols.end);
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let r8 = r / 8 * 8;
    let c8 = c0 + (c1 - c0) / 8 * 8;
    // Column strips of 16 (one cache line of each src row), walked down all rows in 8×8 blocks
    // (loaded as 8 rows, stored as 8 rows of dst): every src line read is used whole, and each
    // dst row is written sequentially, which keeps both sides out of the power-of-two-stride set
    // conflicts of a whole 8-row strip across all columns.
    for js in (c0..c8).step_by(16) {
        for i in (0..r8).step_by(8) {
            let mut j = js;
            while j < c8.min(js + 16) {
                // SAFETY: i + 8 ≤ r and j + 8 ≤ c1 ≤ c, so the 8 loads lie in src (r·c); the stores go
                // to dst rows j - c0 .. j - c0 + 8 < cols.len(), columns i .. i + 8 ≤ r.
                let s = sp.add(i * c + j);
                let l = |k: usize| _mm256_loadu_ps(s.add(k * c));
                let (r0, r1, r2, r3, r4, r5, r6, r7) = (l(0), l(1), l(2), l(3), l(4), l(5), l(6), l(7));
                let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
                let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
                let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
                let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
                let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
                let d = dp.add((j - c0) * r + i);
                _mm256_storeu_ps(d, _mm256_permute2f128_ps::<0x20>(u0, u4));
                _mm256_storeu_ps(d.add(r), _mm256_permute2f128_ps::<0x20>(u1, u5));
                _mm256_storeu_ps(d.add(2 * r), _mm256_permute2f128_ps::<0x20>(u2, u6));
                _mm256_storeu_ps(d.add(3 * r), _mm256_permute2f128_ps::<0x20>(u3, u7));
                _mm256_storeu_ps(d.add(4 * r), _mm256_permute2f128_ps::<0x31>(u0, u4));
                _mm256_storeu_ps(d.add(5 * r), _mm256_permute2f128_ps::<0x31>(u1, u5));
                _mm256_storeu_ps(d.add(6 * r), _mm256_permute2f128_ps::<0x31>(u2, u6));
                _mm256_storeu_ps(d.add(7 * r), _mm256_permute2f128_ps::<0x31>(u3, u7));
                j += 8;
            }
        }
    }
    // Edges: columns c8..c1 of every row, and rows r8..r of columns c0..c8.
    for i in 0..r {
        for j in c8..c1 {
            dst[(j - c0) * r + i] = src[i * c + j];
        }
    }
    for i in r8..r {
        for j in c0..c8 {
            dst[(j - c0) * r + i] = src[i * c + j];
        }
    }
}
