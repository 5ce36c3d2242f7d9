//! NEON GEMM microkernel: `8 × 8` tile (16 q-register accumulators).
use super::{GemmKernel, Gemv, Tile};
use crate::Isa;
use core::arch::aarch64::*;

pub const SGEMM_8X8_MR: usize = 8;
pub const SGEMM_8X8_NR: usize = 8;

pub const SGEMM_8X8_NEON: GemmKernel = GemmKernel {
    name: "sgemm_8x8_neon",
    isa: Isa::Neon,
    mr: SGEMM_8X8_MR,
    nr: SGEMM_8X8_NR,
    kc: 256,
    mc: 128,
    nc: 1024,
    ukr: sgemm_8x8_neon,
    ukr_rows: Some(sgemm_8x8_rows_neon),
    gemv_rows: gemv_rows_neon,
    gemv_cols: gemv_cols_neon,
};

/// # Safety
/// See [`super::GemmUkr`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn sgemm_8x8_neon(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    const MR: usize = SGEMM_8X8_MR;
    const NR: usize = SGEMM_8X8_NR;
    let mut acc0 = [vdupq_n_f32(0.0); MR];
    let mut acc1 = [vdupq_n_f32(0.0); MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: the packed panels hold kc groups of MR (A) and NR (B) floats.
        unsafe {
            let b0 = vld1q_f32(bp);
            let b1 = vld1q_f32(bp.add(4));
            for i in 0..MR {
                let ai = *ap.add(i);
                acc0[i] = vfmaq_n_f32(acc0[i], b0, ai);
                acc1[i] = vfmaq_n_f32(acc1[i], b1, ai);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    // SAFETY: forwarded contract of GemmUkr (C tile and bias pointers).
    unsafe { store_tile::<0>(&acc0, &acc1, t) }
}

/// [`sgemm_8x8_neon`] reading A in place: row `r` of the tile is `kc` contiguous floats at
/// `a + r·lda`; four columns of a row are loaded as one vector and used lane by lane.
///
/// # Safety
/// See [`super::GemmUkrRows`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn sgemm_8x8_rows_neon(kc: usize, a: *const f32, lda: usize, b: *const f32, t: &Tile) {
    const MR: usize = SGEMM_8X8_MR;
    const NR: usize = SGEMM_8X8_NR;
    // Rows past t.mr re-read the last valid row (their results are never stored).
    let rows: [*const f32; MR] = core::array::from_fn(|i| a.wrapping_add(i.min(t.mr - 1) * lda));
    let mut acc0 = [vdupq_n_f32(0.0); MR];
    let mut acc1 = [vdupq_n_f32(0.0); MR];
    let mut bp = b;
    let mut p = 0;
    while p + 4 <= kc {
        // SAFETY: p + 4 <= kc, so rows[i] (a valid row of A with kc readable floats) has 4
        // floats at p; the B panel holds kc groups of NR floats.
        unsafe {
            let bv: [float32x4_t; 8] = core::array::from_fn(|u| vld1q_f32(bp.add(4 * u)));
            for i in 0..MR {
                let av = vld1q_f32(rows[i].add(p));
                acc0[i] = vfmaq_laneq_f32::<0>(acc0[i], bv[0], av);
                acc1[i] = vfmaq_laneq_f32::<0>(acc1[i], bv[1], av);
                acc0[i] = vfmaq_laneq_f32::<1>(acc0[i], bv[2], av);
                acc1[i] = vfmaq_laneq_f32::<1>(acc1[i], bv[3], av);
                acc0[i] = vfmaq_laneq_f32::<2>(acc0[i], bv[4], av);
                acc1[i] = vfmaq_laneq_f32::<2>(acc1[i], bv[5], av);
                acc0[i] = vfmaq_laneq_f32::<3>(acc0[i], bv[6], av);
                acc1[i] = vfmaq_laneq_f32::<3>(acc1[i], bv[7], av);
            }
            bp = bp.add(4 * NR);
        }
        p += 4;
    }
    while p < kc {
        // SAFETY: p < kc: as above, one column.
        unsafe {
            let b0 = vld1q_f32(bp);
            let b1 = vld1q_f32(bp.add(4));
            for i in 0..MR {
                let ai = *rows[i].add(p);
                acc0[i] = vfmaq_n_f32(acc0[i], b0, ai);
                acc1[i] = vfmaq_n_f32(acc1[i], b1, ai);
            }
            bp = bp.add(NR);
        }
        p += 1;
    }
    // SAFETY: forwarded contract of GemmUkrRows (C tile and bias pointers).
    unsafe { store_tile::<1>(&acc0, &acc1, t) }
}

/// The epilogue of the 8x8 kernels: `t.mr × t.nr` of the accumulators (+ C, + bias, clamp) to C.
///
/// # Safety
/// `t.c` is writable for `t.mr` rows of `t.nr` floats at stride `t.rs_c`; non-null bias pointers
/// are readable for `t.mr` / `t.nr` floats; `1 <= t.mr <= 8`, `1 <= t.nr <= 8`.
/// `CALLER` only makes one instance per kernel: with one call site each, LLVM inlines it (shared
/// by two kernels it stayed a call, spilling the accumulators: 0.9x on k = 32 layers).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn store_tile<const CALLER: u8>(acc0: &[float32x4_t; SGEMM_8X8_MR], acc1: &[float32x4_t; SGEMM_8X8_MR], t: &Tile) {
    const MR: usize = SGEMM_8X8_MR;
    const NR: usize = SGEMM_8X8_NR;
    let full = t.nr == NR;
    let lo = vdupq_n_f32(t.lo);
    let hi = vdupq_n_f32(t.hi);
    let mut bc = [0.0f32; NR];
    if !t.bias_col.is_null() {
        for (j, v) in bc.iter_mut().enumerate().take(t.nr) {
            // SAFETY: bias_col has t.nr readable floats.
            *v = unsafe { *t.bias_col.add(j) };
        }
    }
    // SAFETY: bc has NR = 8 floats.
    let (bc0, bc1) = unsafe { (vld1q_f32(bc.as_ptr()), vld1q_f32(bc.as_ptr().add(4))) };
    for i in 0..MR {
        if i >= t.mr {
            break;
        }
        // SAFETY: row i < t.mr of the C tile holds t.nr writable floats at c + i*rs_c; partial
        // rows go through a stack buffer so only t.nr columns are touched; bias_row has t.mr.
        unsafe {
            let cp = t.c.add(i * t.rs_c);
            let mut row = [0.0f32; NR];
            if t.accumulate {
                if full {
                    core::ptr::copy_nonoverlapping(cp, row.as_mut_ptr(), NR);
                } else {
                    core::ptr::copy_nonoverlapping(cp, row.as_mut_ptr(), t.nr);
                }
            }
            let mut v0 = vaddq_f32(acc0[i], vld1q_f32(row.as_ptr()));
            let mut v1 = vaddq_f32(acc1[i], vld1q_f32(row.as_ptr().add(4)));
            if !t.bias_row.is_null() {
                let br = vdupq_n_f32(*t.bias_row.add(i));
                v0 = vaddq_f32(v0, br);
                v1 = vaddq_f32(v1, br);
            }
            v0 = vaddq_f32(v0, bc0);
            v1 = vaddq_f32(v1, bc1);
            if t.clamp {
                v0 = vminq_f32(vmaxq_f32(v0, lo), hi);
                v1 = vminq_f32(vmaxq_f32(v1, lo), hi);
            }
            if full {
                vst1q_f32(cp, v0);
                vst1q_f32(cp.add(4), v1);
            } else {
                vst1q_f32(row.as_mut_ptr(), v0);
                vst1q_f32(row.as_mut_ptr().add(4), v1);
                core::ptr::copy_nonoverlapping(row.as_ptr(), cp, t.nr);
            }
        }
    }
}

/// GEMV, rows of M contiguous: `y[j*ys] = Σ_p x[p*xs] · M[p*rs + j]` for `j < n`.
///
/// # Safety
/// See [`super::GemvFn`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn gemv_rows_neon(v: &Gemv) {
    let Gemv { k, n, x, xs, mat, stride: rs, y, ys } = *v;
    let mut j = 0;
    while j + 16 <= n {
        let mut acc = [vdupq_n_f32(0.0); 4];
        for p in 0..k {
            // SAFETY: x has k elements at stride xs; row p of M has n >= j+16 readable floats.
            unsafe {
                let xv = *x.add(p * xs);
                let row = mat.add(p * rs + j);
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = vfmaq_n_f32(*acc, vld1q_f32(row.add(4 * u)), xv);
                }
            }
        }
        let mut buf = [0.0f32; 16];
        for (u, acc) in acc.iter().enumerate() {
            // SAFETY: buf has 16 floats.
            unsafe { vst1q_f32(buf.as_mut_ptr().add(4 * u), *acc) };
        }
        for (jj, &v) in buf.iter().enumerate() {
            // SAFETY: j + jj < n and y has n elements at stride ys.
            unsafe { *y.add((j + jj) * ys) = v };
        }
        j += 16;
    }
    for j in j..n {
        let mut s = 0.0f32;
        for p in 0..k {
            // SAFETY: p < k, j < n: in bounds as above.
            s += unsafe { *x.add(p * xs) * *mat.add(p * rs + j) };
        }
        // SAFETY: j < n.
        unsafe { *y.add(j * ys) = s };
    }
}

/// GEMV, columns of M contiguous: `y[j*ys] = Σ_p x[p] · M[p + j*cs]` for `j < n` (x contiguous).
///
/// # Safety
/// See [`super::GemvFn`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn gemv_cols_neon(v: &Gemv) {
    let Gemv { k, n, x, mat, stride: cs, y, ys, .. } = *v;
    for j in 0..n {
        // SAFETY: column j of M has k readable floats from mat + j*cs; x has k contiguous floats.
        unsafe {
            let col = mat.add(j * cs);
            let mut acc = [vdupq_n_f32(0.0); 4];
            let mut p = 0;
            while p + 16 <= k {
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = vfmaq_f32(*acc, vld1q_f32(x.add(p + 4 * u)), vld1q_f32(col.add(p + 4 * u)));
                }
                p += 16;
            }
            let mut s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
            while p < k {
                s += *x.add(p) * *col.add(p);
                p += 1;
            }
            *y.add(j * ys) = s;
        }
    }
}
