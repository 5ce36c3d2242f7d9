//! AVX-512F GEMM microkernels: `MR × 32` tiles (two zmm per row), broadcast A, FMA.
use super::{GemmKernel, Gemv, Tile};
use crate::Isa;
use core::arch::x86_64::*;

const NR: usize = 32;

/// 12x32: 24 accumulators + 2 B vectors + broadcasts fit the 32 zmm registers.
pub const SGEMM_12X32_MR: usize = 12;
/// 8x32: smaller tile, kept for comparison in benches.
pub const SGEMM_8X32_MR: usize = 8;

pub const SGEMM_12X32_AVX512: GemmKernel = GemmKernel {
    name: "sgemm_12x32_avx512",
    isa: Isa::Avx512,
    mr: SGEMM_12X32_MR,
    nr: NR,
    // Untuned (this dev VM has no AVX-512): kc keeps the 128×32 B micro-panel at 16 KiB, half of
    // Zen 4's 32 KiB L1D; the 240×128 A block (120 KiB) sits in the 1 MiB L2.
    kc: 128,
    mc: 240,
    nc: 2048,
    ukr: sgemm_12x32_avx512,
    ukr_rows: Some(sgemm_12x32_rows_avx512),
    gemv_rows: gemv_rows_avx512,
    gemv_cols: gemv_cols_avx512,
};

pub const SGEMM_8X32_AVX512: GemmKernel = GemmKernel {
    name: "sgemm_8x32_avx512",
    isa: Isa::Avx512,
    mr: SGEMM_8X32_MR,
    nr: NR,
    kc: 128,
    mc: 128,
    nc: 2048,
    ukr: sgemm_8x32_avx512,
    ukr_rows: Some(sgemm_8x32_rows_avx512),
    gemv_rows: gemv_rows_avx512,
    gemv_cols: gemv_cols_avx512,
};

/// # Safety
/// See [`super::GemmUkr`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm_12x32_avx512(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    // SAFETY: forwarded contract of GemmUkr with MR = 12.
    unsafe { ukr::<SGEMM_12X32_MR>(kc, a, b, t) }
}

/// # Safety
/// See [`super::GemmUkr`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm_8x32_avx512(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    // SAFETY: forwarded contract of GemmUkr with MR = 8.
    unsafe { ukr::<SGEMM_8X32_MR>(kc, a, b, t) }
}

#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn ukr<const MR: usize>(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    let mut acc0 = [_mm512_setzero_ps(); MR];
    let mut acc1 = [_mm512_setzero_ps(); MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: the packed panels hold kc groups of MR (A) and NR (B) floats.
        unsafe {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for i in 0..MR {
                let ai = _mm512_set1_ps(*ap.add(i));
                acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    // SAFETY: forwarded contract of GemmUkr (C tile and bias pointers).
    unsafe { store_tile::<MR, 0>(&acc0, &acc1, t) }
}

/// # Safety
/// See [`super::GemmUkrRows`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm_12x32_rows_avx512(kc: usize, a: *const f32, lda: usize, b: *const f32, t: &Tile) {
    // SAFETY: forwarded contract of GemmUkrRows with MR = 12.
    unsafe { ukr_rows::<SGEMM_12X32_MR>(kc, a, lda, b, t) }
}

/// # Safety
/// See [`super::GemmUkrRows`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm_8x32_rows_avx512(kc: usize, a: *const f32, lda: usize, b: *const f32, t: &Tile) {
    // SAFETY: forwarded contract of GemmUkrRows with MR = 8.
    unsafe { ukr_rows::<SGEMM_8X32_MR>(kc, a, lda, b, t) }
}

/// [`ukr`] reading A in place: row `r` of the tile is `kc` contiguous floats at `a + r·lda`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn ukr_rows<const MR: usize>(kc: usize, a: *const f32, lda: usize, b: *const f32, t: &Tile) {
    // Rows past t.mr re-read the last valid row (their results are never stored).
    let rows: [*const f32; MR] = core::array::from_fn(|i| a.wrapping_add(i.min(t.mr - 1) * lda));
    let mut acc0 = [_mm512_setzero_ps(); MR];
    let mut acc1 = [_mm512_setzero_ps(); MR];
    let mut bp = b;
    for p in 0..kc {
        // SAFETY: rows[i] (a valid row of A) has kc readable floats; the B panel holds kc groups
        // of NR floats.
        unsafe {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for i in 0..MR {
                let ai = _mm512_set1_ps(*rows[i].add(p));
                acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
            }
            bp = bp.add(NR);
        }
    }
    // SAFETY: forwarded contract of GemmUkrRows (C tile and bias pointers).
    unsafe { store_tile::<MR, 1>(&acc0, &acc1, t) }
}

/// The epilogue of the `MR × 32` kernels: `t.mr × t.nr` of the accumulators (+ C, + bias, clamp)
/// to C.
///
/// # Safety
/// `t.c` is writable for `t.mr` rows of `t.nr` floats at stride `t.rs_c`; non-null bias pointers
/// are readable for `t.mr` / `t.nr` floats; `1 <= t.mr <= MR`, `1 <= t.nr <= 32`.
/// `CALLER` only makes one instance per kernel: with one call site each, LLVM inlines it (shared
/// by two kernels it stayed a call, spilling the accumulators: 0.9x on k = 32 layers).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn store_tile<const MR: usize, const CALLER: u8>(acc0: &[__m512; MR], acc1: &[__m512; MR], t: &Tile) {
    let m0: __mmask16 = if t.nr >= 16 { 0xffff } else { (1u16 << t.nr) - 1 };
    let m1: __mmask16 = if t.nr >= 32 { 0xffff } else if t.nr > 16 { (1u16 << (t.nr - 16)) - 1 } else { 0 };
    let (mut bc0, mut bc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    if !t.bias_col.is_null() {
        // SAFETY: bias_col has t.nr readable floats; masked-off lanes are not accessed.
        unsafe {
            bc0 = _mm512_maskz_loadu_ps(m0, t.bias_col);
            bc1 = _mm512_maskz_loadu_ps(m1, t.bias_col.wrapping_add(16));
        }
    }
    let lo = _mm512_set1_ps(t.lo);
    let hi = _mm512_set1_ps(t.hi);
    for i in 0..MR {
        if i >= t.mr {
            break;
        }
        // SAFETY: row i < t.mr of the C tile holds t.nr writable floats at c + i*rs_c; the masks
        // cover exactly those columns; bias_row (if set) has t.mr floats.
        unsafe {
            let cp = t.c.add(i * t.rs_c);
            let (mut v0, mut v1) = (acc0[i], acc1[i]);
            if t.accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cp));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cp.wrapping_add(16)));
            }
            if !t.bias_row.is_null() {
                let br = _mm512_set1_ps(*t.bias_row.add(i));
                v0 = _mm512_add_ps(v0, br);
                v1 = _mm512_add_ps(v1, br);
            }
            v0 = _mm512_add_ps(v0, bc0);
            v1 = _mm512_add_ps(v1, bc1);
            if t.clamp {
                v0 = _mm512_min_ps(_mm512_max_ps(v0, lo), hi);
                v1 = _mm512_min_ps(_mm512_max_ps(v1, lo), hi);
            }
            _mm512_mask_storeu_ps(cp, m0, v0);
            _mm512_mask_storeu_ps(cp.wrapping_add(16), m1, v1);
        }
    }
}

#[inline]
fn tail_mask(len: usize) -> __mmask16 {
    if len >= 16 {
        0xffff
    } else {
        (1u16 << len) - 1
    }
}

/// `y[j] += Σ_r xv[r] · rows[r][j]` for `j < n`, in vectors of 16.
///
/// # Safety
/// The CPU has the ISA; `y` and every `rows[r]` hold `n` floats.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn axpy_rows<const R: usize>(n: usize, xv: [f32; R], rows: [*const f32; R], y: *mut f32) {
    let xb: [__m512; R] = xv.map(|v| _mm512_set1_ps(v));
    let mut j = 0;
    // SAFETY: j + 16 <= n in the loop; the tail is masked at n.
    unsafe {
        while j + 16 <= n {
            let mut acc = _mm512_loadu_ps(y.add(j));
            for r in 0..R {
                acc = _mm512_fmadd_ps(xb[r], _mm512_loadu_ps(rows[r].add(j)), acc);
            }
            _mm512_storeu_ps(y.add(j), acc);
            j += 16;
        }
        if j == n {
            return;
        }
        let m = tail_mask(n - j);
        let mut acc = _mm512_maskz_loadu_ps(m, y.add(j));
        for r in 0..R {
            acc = _mm512_fmadd_ps(xb[r], _mm512_maskz_loadu_ps(m, rows[r].add(j)), acc);
        }
        _mm512_mask_storeu_ps(y.add(j), m, acc);
    }
}

/// GEMV, rows of M contiguous: `y[j*ys] = Σ_p x[p*xs] · M[p*rs + j]` for `j < n`.
///
/// # Safety
/// See [`super::GemvFn`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn gemv_rows_avx512(v: &Gemv) {
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
    const W: usize = 64;
    let mut j = 0;
    while j < n {
        let masks = [0, 16, 32, 48].map(|o| tail_mask((n - j).saturating_sub(o)));
        let mut acc = [_mm512_setzero_ps(); 4];
        for p in 0..k {
            // SAFETY: x has k elements at stride xs; row p of M has n readable floats from
            // mat + p*rs, and the masks stop at column n.
            unsafe {
                let xv = _mm512_set1_ps(*x.add(p * xs));
                let row = mat.add(p * rs + j);
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(masks[u], row.wrapping_add(16 * u)), *acc);
                }
            }
        }
        let mut buf = [0.0f32; W];
        for (u, acc) in acc.iter().enumerate() {
            // SAFETY: buf has W = 4*16 floats.
            unsafe { _mm512_storeu_ps(buf.as_mut_ptr().add(16 * u), *acc) };
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
/// See [`super::GemvFn`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn gemv_cols_avx512(v: &Gemv) {
    let Gemv { k, n, x, mat, stride: cs, y, ys, .. } = *v;
    for j in 0..n {
        // SAFETY: column j of M has k readable floats from mat + j*cs; x has k contiguous floats;
        // loads are masked at k.
        unsafe {
            let col = mat.add(j * cs);
            let mut acc = [_mm512_setzero_ps(); 4];
            let mut p = 0;
            while p + 64 <= k {
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_loadu_ps(x.add(p + 16 * u)), _mm512_loadu_ps(col.add(p + 16 * u)), *acc);
                }
                p += 64;
            }
            while p < k {
                let m = tail_mask(k - p);
                acc[0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x.add(p)), _mm512_maskz_loadu_ps(m, col.add(p)), acc[0]);
                p += 16;
            }
            let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            *y.add(j * ys) = _mm512_reduce_add_ps(s);
        }
    }
}
