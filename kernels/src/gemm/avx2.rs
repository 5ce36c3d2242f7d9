//! AVX2+FMA GEMM microkernel: `6 × 16` tile (12 ymm accumulators, 2 B vectors, 1 broadcast).
use super::{GemmKernel, Gemv, Tile};
use crate::Isa;
use core::arch::x86_64::*;

pub const SGEMM_6X16_MR: usize = 6;
pub const SGEMM_6X16_NR: usize = 16;

pub const SGEMM_6X16_AVX2: GemmKernel = GemmKernel {
    name: "sgemm_6x16_avx2",
    isa: Isa::Avx2,
    mr: SGEMM_6X16_MR,
    nr: SGEMM_6X16_NR,
    // The 256×16 B micro-panel (16 KiB) stays in L1D across the A micro-panels of a 144×256
    // block (144 KiB, L2). Sweeps (examples/gemm_peak.rs, SWEEP=1) on the shared, noisy dev VM put
    // kc 192..512 / mc 96..288 within noise of each other (70-82 GFLOP/s on 256³).
    // nc 512: the packed 256x512 B block (512 KiB) stays in Zen 4's 1 MiB L2; with 2048 (2 MiB)
    // the im2col GEMMs of ResNet layer1 (64/32 x 576 x 3136) ran at 0.5-0.9x (best of 75 calls).
    kc: 256,
    mc: 144,
    nc: 512,
    ukr: sgemm_6x16_avx2,
    ukr_rows: Some(sgemm_6x16_rows_avx2),
    gemv_rows: gemv_rows_avx2,
    gemv_cols: gemv_cols_avx2,
};

/// Lane mask with the first `len` (clamped to 0..=8) lanes set.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn mask8(len: usize) -> __m256i {
    let len = len.min(8) as i32;
    _mm256_cmpgt_epi32(_mm256_set1_epi32(len), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// # Safety
/// See [`super::GemmUkr`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn sgemm_6x16_avx2(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    const MR: usize = SGEMM_6X16_MR;
    const NR: usize = SGEMM_6X16_NR;
    let mut acc0 = [_mm256_setzero_ps(); MR];
    let mut acc1 = [_mm256_setzero_ps(); MR];
    let (mut ap, mut bp) = (a, b);
    // No half-width tail loop here (unlike the in-place kernel): the extra branch cost the
    // k = 27/32 layers of MobileNetV1 (short kc, many calls) 4-6 % inside a model run.
    for _ in 0..kc {
        // SAFETY: the packed panels hold kc groups of MR (A) and NR (B) floats.
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for i in 0..MR {
                let ai = _mm256_broadcast_ss(&*ap.add(i));
                acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    // SAFETY: forwarded contract of GemmUkr (C tile and bias pointers).
    unsafe { store_tile::<0>(&acc0, &acc1, t) }
}

/// [`sgemm_6x16_avx2`] reading A in place: row `r` of the tile is `kc` contiguous floats at
/// `a + r·lda` (a row-major weight matrix), so A needs no packing.
///
/// # Safety
/// See [`super::GemmUkrRows`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn sgemm_6x16_rows_avx2(kc: usize, a: *const f32, lda: usize, b: *const f32, t: &Tile) {
    const MR: usize = SGEMM_6X16_MR;
    const NR: usize = SGEMM_6X16_NR;
    // Rows past t.mr re-read the last valid row (their results are never stored), so no
    // out-of-bounds row is touched and the loop stays branch-free.
    let rows: [*const f32; MR] = core::array::from_fn(|i| a.wrapping_add(i.min(t.mr - 1) * lda));
    let mut acc0 = [_mm256_setzero_ps(); MR];
    let mut acc1 = [_mm256_setzero_ps(); MR];
    let mut bp = b;
    if t.nr == 1 {
        // One column (the tail of n = 49 = 3·16 + 1, MobileNetV1's 7x7 pointwise layers): dot
        // products along k, 8 depths per FMA, with the B column gathered from the panel (stride
        // NR), instead of a half-width tile that spends 6 FMAs per depth on one useful column.
        let idx = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
        let mut dot = [_mm256_setzero_ps(); MR];
        let mut p = 0;
        while p + 8 <= kc {
            // SAFETY: p + 8 <= kc: rows[i] has kc readable floats from column 0 and the B panel
            // holds kc groups of NR floats, so b + (p + l)·NR for l < 8 is inside it.
            unsafe {
                let bv = _mm256_i32gather_ps::<4>(b.add(p * NR), idx);
                for i in 0..MR {
                    dot[i] = _mm256_fmadd_ps(_mm256_loadu_ps(rows[i].add(p)), bv, dot[i]);
                }
            }
            p += 8;
        }
        let mut s = [0.0f32; MR];
        for (si, d) in s.iter_mut().zip(dot) {
            *si = hsum8(d);
        }
        while p < kc {
            // SAFETY: p < kc, as above.
            unsafe {
                let bp = *b.add(p * NR);
                for i in 0..MR {
                    // One fused multiply-add (f32::mul_add is std-only; this crate is no_std).
                    s[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(*rows[i].add(p)), _mm_set_ss(bp), _mm_set_ss(s[i])));
                }
            }
            p += 1;
        }
        for i in 0..MR {
            acc0[i] = _mm256_setr_ps(s[i], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        }
    } else if t.nr <= 8 {
        for p in 0..kc {
            // SAFETY: rows[i] (a valid row of A) has kc readable floats; the B panel holds kc
            // groups of NR floats.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                for i in 0..MR {
                    acc0[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*rows[i].add(p)), b0, acc0[i]);
                }
                bp = bp.add(NR);
            }
        }
    } else {
        for p in 0..kc {
            // SAFETY: as above.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                let b1 = _mm256_loadu_ps(bp.add(8));
                for i in 0..MR {
                    let ai = _mm256_broadcast_ss(&*rows[i].add(p));
                    acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
                    acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
                }
                bp = bp.add(NR);
            }
        }
    }
    // SAFETY: forwarded contract of GemmUkrRows (C tile and bias pointers).
    unsafe { store_tile::<1>(&acc0, &acc1, t) }
}

/// Sum of the 8 lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum8(v: __m256) -> f32 {
    let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)))
}

/// The epilogue of the 6x16 kernels: `t.mr × t.nr` of the accumulators (+ C, + bias, clamp) to C.
///
/// # Safety
/// `t.c` is writable for `t.mr` rows of `t.nr` floats at stride `t.rs_c`; non-null bias pointers
/// are readable for `t.mr` / `t.nr` floats; `1 <= t.mr <= 6`, `1 <= t.nr <= 16`.
/// `CALLER` only makes one instance per kernel: with one call site each, LLVM inlines it (shared
/// by two kernels it stayed a call, spilling the accumulators: 0.9x on k = 32 layers).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_tile<const CALLER: u8>(acc0: &[__m256; SGEMM_6X16_MR], acc1: &[__m256; SGEMM_6X16_MR], t: &Tile) {
    const MR: usize = SGEMM_6X16_MR;
    const NR: usize = SGEMM_6X16_NR;
    let full = t.nr == NR;
    let m0 = mask8(t.nr);
    let m1 = mask8(t.nr.saturating_sub(8));
    let (mut bc0, mut bc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    if !t.bias_col.is_null() {
        // SAFETY: bias_col has t.nr readable floats; masked-off lanes are not accessed.
        unsafe {
            bc0 = _mm256_maskload_ps(t.bias_col, m0);
            bc1 = _mm256_maskload_ps(t.bias_col.wrapping_add(8), m1);
        }
    }
    let lo = _mm256_set1_ps(t.lo);
    let hi = _mm256_set1_ps(t.hi);
    for i in 0..MR {
        if i >= t.mr {
            break;
        }
        // SAFETY: row i < t.mr of the C tile holds t.nr writable floats at c + i*rs_c; full
        // tiles have t.nr == 16, otherwise the masks cover exactly t.nr columns; bias_row (if
        // set) has t.mr floats.
        unsafe {
            let cp = t.c.add(i * t.rs_c);
            let (mut v0, mut v1) = (acc0[i], acc1[i]);
            if t.accumulate {
                if full {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cp));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cp.add(8)));
                } else {
                    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cp, m0));
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cp.wrapping_add(8), m1));
                }
            }
            if !t.bias_row.is_null() {
                let br = _mm256_set1_ps(*t.bias_row.add(i));
                v0 = _mm256_add_ps(v0, br);
                v1 = _mm256_add_ps(v1, br);
            }
            v0 = _mm256_add_ps(v0, bc0);
            v1 = _mm256_add_ps(v1, bc1);
            if t.clamp {
                v0 = _mm256_min_ps(_mm256_max_ps(v0, lo), hi);
                v1 = _mm256_min_ps(_mm256_max_ps(v1, lo), hi);
            }
            if full {
                _mm256_storeu_ps(cp, v0);
                _mm256_storeu_ps(cp.add(8), v1);
            } else {
                _mm256_maskstore_ps(cp, m0, v0);
                _mm256_maskstore_ps(cp.wrapping_add(8), m1, v1);
            }
        }
    }
}

/// `y[j] += Σ_r xv[r] · rows[r][j]` for `j < n`, in vectors of 8.
///
/// # Safety
/// The CPU has the ISA; `y` and every `rows[r]` hold `n` floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_rows<const R: usize>(n: usize, xv: [f32; R], rows: [*const f32; R], y: *mut f32) {
    let xb: [__m256; R] = xv.map(|v| _mm256_set1_ps(v));
    let mut j = 0;
    // SAFETY: j + 8 <= n in the loop; the tail is masked at n.
    unsafe {
        while j + 8 <= n {
            let mut acc = _mm256_loadu_ps(y.add(j));
            for r in 0..R {
                acc = _mm256_fmadd_ps(xb[r], _mm256_loadu_ps(rows[r].add(j)), acc);
            }
            _mm256_storeu_ps(y.add(j), acc);
            j += 8;
        }
        if j == n {
            return;
        }
        let m = mask8(n - j);
        let mut acc = _mm256_maskload_ps(y.add(j), m);
        for r in 0..R {
            acc = _mm256_fmadd_ps(xb[r], _mm256_maskload_ps(rows[r].add(j), m), acc);
        }
        _mm256_maskstore_ps(y.add(j), m, acc);
    }
}

/// GEMV, rows of M contiguous: `y[j*ys] = Σ_p x[p*xs] · M[p*rs + j]` for `j < n`.
///
/// # Safety
/// See [`super::GemvFn`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemv_rows_avx2(v: &Gemv) {
    let Gemv { k, n, x, xs, mat, stride: rs, y, ys } = *v;
    if ys == 1 {
        // Contiguous y (the m == 1 case): read M row by row, 4 rows per pass, accumulating in y
        // (L1/L2-resident). The column-blocked loop below strides across all k rows per block,
        // which thrashes the TLB on wide M (1x768x3072 ran at 1.5 GFLOP/s that way).
        // SAFETY: y has n contiguous floats; rows p < k of M have n floats; x has k at stride xs.
        unsafe {
            core::ptr::write_bytes(y, 0, n);
            let mut p = 0;
            while p + 4 <= k {
                let xv = [0, 1, 2, 3].map(|r| *x.add((p + r) * xs));
                let rows = [0, 1, 2, 3].map(|r| mat.add((p + r) * rs));
                axpy_rows::<4>(n, xv, rows, y);
                p += 4;
            }
            while p < k {
                axpy_rows::<1>(n, [*x.add(p * xs)], [mat.add(p * rs)], y);
                p += 1;
            }
        }
        return;
    }
    const W: usize = 32;
    let mut j = 0;
    while j < n {
        let masks = [0, 8, 16, 24].map(|o| mask8((n - j).saturating_sub(o)));
        let mut acc = [_mm256_setzero_ps(); 4];
        for p in 0..k {
            // SAFETY: x has k elements at stride xs; row p of M has n readable floats from
            // mat + p*rs, and the masks stop at column n.
            unsafe {
                let xv = _mm256_set1_ps(*x.add(p * xs));
                let row = mat.add(p * rs + j);
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(xv, _mm256_maskload_ps(row.wrapping_add(8 * u), masks[u]), *acc);
                }
            }
        }
        let mut buf = [0.0f32; W];
        for (u, acc) in acc.iter().enumerate() {
            // SAFETY: buf has W = 4*8 floats.
            unsafe { _mm256_storeu_ps(buf.as_mut_ptr().add(8 * u), *acc) };
        }
        for (jj, &v) in buf.iter().enumerate().take((n - j).min(W)) {
            // SAFETY: j + jj < n and y has n elements at stride ys.
            unsafe { *y.add((j + jj) * ys) = v };
        }
        j += W;
    }
}

/// GEMV, columns of M contiguous: `y[j*ys] = Σ_p x[p] · M[p + j*cs]` for `j < n` (x contiguous).
///
/// # Safety
/// See [`super::GemvFn`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemv_cols_avx2(v: &Gemv) {
    let Gemv { k, n, x, mat, stride: cs, y, ys, .. } = *v;
    for j in 0..n {
        // SAFETY: column j of M has k readable floats from mat + j*cs; x has k contiguous floats;
        // loads past k are masked.
        unsafe {
            let col = mat.add(j * cs);
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut p = 0;
            while p + 32 <= k {
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(p + 8 * u)), _mm256_loadu_ps(col.add(p + 8 * u)), *acc);
                }
                p += 32;
            }
            while p < k {
                let m = mask8(k - p);
                acc[0] = _mm256_fmadd_ps(_mm256_maskload_ps(x.add(p), m), _mm256_maskload_ps(col.add(p), m), acc[0]);
                p += 8;
            }
            let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
            *y.add(j * ys) = _mm_cvtss_f32(h);
        }
    }
}
