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
    if r == 0 || cols.is_empty() {
        return;
    }
    transpose_strided(isa, &src[cols.start..], c, r, cols.len(), dst, r);
}

/// Elements a strided `rows × cols` matrix with row stride `ld` spans (0 when empty); `None` on
/// overflow.
fn span(rows: usize, cols: usize, ld: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(ld)?.checked_add(cols)
}

/// `dst[j·ldd + i] = src[i·lds + j]` for `i < rows`, `j < cols`: the transpose of a strided
/// `rows × cols` matrix into a strided `cols × rows` one (a Transpose op's 2-D blocks, e.g.
/// attention's `[S, H, D] → [H, D, S]`, one head at a time). Writes nothing else. Panics unless
/// `src` spans `(rows - 1)·lds + cols` and `dst` `(cols - 1)·ldd + rows` elements.
pub fn transpose_strided(isa: crate::Isa, src: &[f32], lds: usize, rows: usize, cols: usize, dst: &mut [f32], ldd: usize) {
    assert!(span(rows, cols, lds).is_some_and(|n| n <= src.len()), "transpose: src shorter than the strided matrix");
    assert!(span(cols, rows, ldd).is_some_and(|n| n <= dst.len()), "transpose: dst shorter than the strided matrix");
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, crate::Isa::Avx2 | crate::Isa::Avx512) && crate::Isa::Avx2.available() {
        // SAFETY: AVX2 is available (checked); the spans were asserted above.
        unsafe { transpose_avx2(src, lds, rows, cols, dst, ldd) };
        return;
    }
    let _ = isa;
    transpose_strided_ref(src, lds, rows, cols, dst, ldd);
}

/// The plain reference of [`transpose_cols`] (16×16 tiles).
pub fn transpose_ref(src: &[f32], r: usize, c: usize, cols: core::ops::Range<usize>, dst: &mut [f32]) {
    if r == 0 || cols.is_empty() {
        return;
    }
    transpose_strided_ref(&src[cols.start..], c, r, cols.len(), dst, r);
}

/// The plain reference of [`transpose_strided`] (16×16 tiles).
pub fn transpose_strided_ref(src: &[f32], lds: usize, rows: usize, cols: usize, dst: &mut [f32], ldd: usize) {
    const T: usize = 16;
    for i0 in (0..rows).step_by(T) {
        for j0 in (0..cols).step_by(T) {
            for i in i0..(i0 + T).min(rows) {
                for j in j0..(j0 + T).min(cols) {
                    dst[j * ldd + i] = src[i * lds + j];
                }
            }
        }
    }
}

/// # Safety
/// AVX2 available; `src` spans `(rows - 1)·lds + cols` elements, `dst` `(cols - 1)·ldd + rows`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_avx2(src: &[f32], lds: usize, rows: usize, cols: usize, dst: &mut [f32], ldd: usize) {
    use core::arch::x86_64::*;
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let r8 = rows / 8 * 8;
    let c8 = cols / 8 * 8;
    // Column strips of 16 (one cache line of each src row), walked down all rows in 8×8 blocks
    // (loaded as 8 rows, stored as 8 rows of dst): every src line read is used whole, and each
    // dst row is written sequentially, which keeps both sides out of the power-of-two-stride set
    // conflicts of a whole 8-row strip across all columns.
    for js in (0..c8).step_by(16) {
        for i in (0..r8).step_by(8) {
            let mut j = js;
            while j < c8.min(js + 16) {
                // SAFETY: i + 8 ≤ rows and j + 8 ≤ cols, so the 8 loads (rows i..i+8, columns
                // j..j+8) lie in src's span; the stores go to dst rows j .. j + 8 < cols,
                // columns i .. i + 8 ≤ rows, inside dst's span.
                let s = sp.add(i * lds + j);
                let l = |k: usize| _mm256_loadu_ps(s.add(k * lds));
                let (r0, r1, r2, r3, r4, r5, r6, r7) = (l(0), l(1), l(2), l(3), l(4), l(5), l(6), l(7));
                let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
                let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
                let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
                let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
                let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
                let d = dp.add(j * ldd + i);
                _mm256_storeu_ps(d, _mm256_permute2f128_ps::<0x20>(u0, u4));
                _mm256_storeu_ps(d.add(ldd), _mm256_permute2f128_ps::<0x20>(u1, u5));
                _mm256_storeu_ps(d.add(2 * ldd), _mm256_permute2f128_ps::<0x20>(u2, u6));
                _mm256_storeu_ps(d.add(3 * ldd), _mm256_permute2f128_ps::<0x20>(u3, u7));
                _mm256_storeu_ps(d.add(4 * ldd), _mm256_permute2f128_ps::<0x31>(u0, u4));
                _mm256_storeu_ps(d.add(5 * ldd), _mm256_permute2f128_ps::<0x31>(u1, u5));
                _mm256_storeu_ps(d.add(6 * ldd), _mm256_permute2f128_ps::<0x31>(u2, u6));
                _mm256_storeu_ps(d.add(7 * ldd), _mm256_permute2f128_ps::<0x31>(u3, u7));
                j += 8;
            }
        }
    }
    // Edges: columns c8..cols of every row, and rows r8..rows of columns 0..c8.
    for i in 0..rows {
        for j in c8..cols {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
    for i in r8..rows {
        for j in 0..c8 {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
}
