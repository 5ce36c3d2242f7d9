//! Matrix-vector products with an f16 matrix and an f32 vector (batch-1 MatMul/Gemm with f16
//! weights): `y[j*ys] = Σ_p x[p*xs] · M[p, j]`, the weights loaded as f16 and widened in
//! registers (F16C `vcvtph2ps` on x86, `fcvtl` on aarch64), so the bandwidth-bound loop reads
//! half the bytes of the f32 GEMV.
//!
//! One table ([`GEMV_F16_KERNELS`]): a scalar reference plus one row per SIMD ISA, each body
//! written once over the vector abstraction of the sparse kernels (`sparse::simd`) and
//! instantiated inside `#[target_feature]` entries. Same argument layout as the f32 [`Gemv`]
//! (`gemv_rows`: rows of M contiguous; `gemv_cols`: columns contiguous, `xs == 1`).
//!
//! [`Gemv`]: super::Gemv
// Accumulators are indexed by unroll slot on purpose: it mirrors the registers.
#![allow(clippy::needless_range_loop)]
use crate::f16::f16_to_f32;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::sparse::simd::SimdF16;
use crate::Isa;

/// Arguments of an f16 GEMV kernel: as [`super::Gemv`] with `mat` pointing to f16 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct GemvF16 {
    pub k: usize,
    pub n: usize,
    pub x: *const f32,
    pub xs: usize,
    pub mat: *const u16,
    pub stride: usize,
    pub y: *mut f32,
    pub ys: usize,
}

/// An f16 GEMV kernel.
///
/// # Safety
/// The CPU supports the kernel's ISA (with F16C on x86, see [`crate::f16::hw_available`]); every
/// addressed element of x, M and y is in bounds; `xs == 1` for the `cols` kernels.
pub type GemvF16Fn = unsafe fn(g: &GemvF16);

/// One row of the f16 GEMV table.
#[derive(Clone, Copy, Debug)]
pub struct GemvF16Kernel {
    pub name: &'static str,
    pub isa: Isa,
    /// Rows of M contiguous (`M[p, j] = mat[p*stride + j]`).
    pub rows: GemvF16Fn,
    /// Columns of M contiguous (`M[p, j] = mat[p + j*stride]`), `xs == 1`.
    pub cols: GemvF16Fn,
}

/// Every f16 GEMV kernel of this target (one per ISA); dispatch, tests and benches iterate it.
/// Without std only the rows of the compile-time ISA are compiled (see `GEMM_KERNELS`).
pub const GEMV_F16_KERNELS: &[GemvF16Kernel] = &[
    GemvF16Kernel { name: "gemv_f16_scalar", isa: Isa::Scalar, rows: rows_scalar, cols: cols_scalar },
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    GemvF16Kernel { name: "gemv_f16_avx512", isa: Isa::Avx512, rows: x86::rows_avx512, cols: x86::cols_avx512 },
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    GemvF16Kernel { name: "gemv_f16_avx2", isa: Isa::Avx2, rows: x86::rows_avx2, cols: x86::cols_avx2 },
    #[cfg(target_arch = "aarch64")]
    GemvF16Kernel { name: "gemv_f16_neon", isa: Isa::Neon, rows: arm::rows_neon, cols: arm::cols_neon },
];

/// The row for `isa` if this CPU can run it (AVX-512 falls back to AVX2), else the scalar one.
pub fn gemv_f16_kernel(isa: Isa) -> &'static GemvF16Kernel {
    let chain: &[Isa] = match isa {
        Isa::Avx512 => &[Isa::Avx512, Isa::Avx2],
        other => core::slice::from_ref(match other {
            Isa::Avx2 => &Isa::Avx2,
            Isa::Neon => &Isa::Neon,
            _ => &Isa::Scalar,
        }),
    };
    for &i in chain {
        if crate::f16::hw_available(i) {
            if let Some(k) = GEMV_F16_KERNELS.iter().find(|k| k.isa == i) {
                return k;
            }
        }
    }
    &GEMV_F16_KERNELS[0]
}

/// Scalar reference, rows contiguous.
///
/// # Safety
/// See [`GemvF16Fn`].
pub unsafe fn rows_scalar(g: &GemvF16) {
    let GemvF16 { k, n, x, xs, mat, stride, y, ys } = *g;
    for j in 0..n {
        let mut s = 0.0f32;
        for p in 0..k {
            // SAFETY: p < k, j < n: in bounds per the contract.
            s += unsafe { *x.add(p * xs) * f16_to_f32(*mat.add(p * stride + j)) };
        }
        // SAFETY: j < n.
        unsafe { *y.add(j * ys) = s };
    }
}

/// Scalar reference, columns contiguous.
///
/// # Safety
/// See [`GemvF16Fn`].
pub unsafe fn cols_scalar(g: &GemvF16) {
    let GemvF16 { k, n, x, xs, mat, stride, y, ys } = *g;
    for j in 0..n {
        let mut s = 0.0f32;
        for p in 0..k {
            // SAFETY: p < k, j < n: in bounds per the contract.
            s += unsafe { *x.add(p * xs) * f16_to_f32(*mat.add(p + j * stride)) };
        }
        // SAFETY: j < n.
        unsafe { *y.add(j * ys) = s };
    }
}

/// `y[j] += Σ_r xv[r] · rows[r][j]` for `j < n`.
///
/// # Safety
/// Inside an entry whose ISA provides `V` with f16 loads; `y` and every `rows[r]` hold `n` values.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn axpy<V: SimdF16, const R: usize>(n: usize, xv: [f32; R], rows: [*const u16; R], y: *mut f32) {
    let l = V::LANES;
    // SAFETY: j + l <= n in the loop; the tail loads/stores exactly n - j values.
    unsafe {
        let xb: [V; R] = xv.map(|v| V::splat(v));
        let mut j = 0;
        while j + l <= n {
            let mut acc = V::load(y.add(j));
            for r in 0..R {
                acc = V::fma(acc, V::load_h(rows[r].add(j)), xb[r]);
            }
            V::store(y.add(j), acc);
            j += l;
        }
        if j < n {
            let c = n - j;
            let mut acc = V::load_partial(y.add(j), c);
            for r in 0..R {
                acc = V::fma(acc, V::load_h_partial(rows[r].add(j), c), xb[r]);
            }
            V::store_partial(y.add(j), acc, c);
        }
    }
}

/// Rows of M contiguous.
///
/// # Safety
/// See [`GemvF16Fn`]; inside an entry whose ISA provides `V` with f16 loads.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn rows<V: SimdF16>(g: &GemvF16) {
    let GemvF16 { k, n, x, xs, mat, stride: rs, y, ys } = *g;
    let l = V::LANES;
    // SAFETY: rows p < k of M hold n values from mat + p*rs; x has k values at stride xs; y has
    // n values at stride ys; every load below stays inside those.
    unsafe {
        if ys == 1 {
            // Contiguous y (the m == 1 case): stream M row by row, 8 rows per pass of y (which
            // stays in L1/L2), like the f32 kernels.
            core::ptr::write_bytes(y, 0, n);
            let mut p = 0;
            while p + 8 <= k {
                let xv = [0, 1, 2, 3, 4, 5, 6, 7].map(|r| *x.add((p + r) * xs));
                let rows = [0, 1, 2, 3, 4, 5, 6, 7].map(|r| mat.add((p + r) * rs));
                axpy::<V, 8>(n, xv, rows, y);
                p += 8;
            }
            while p < k {
                axpy::<V, 1>(n, [*x.add(p * xs)], [mat.add(p * rs)], y);
                p += 1;
            }
            return;
        }
        // Strided y: blocks of 4 vectors of columns, accumulated over all k in registers.
        let mut j = 0;
        while j < n {
            let cnt = (n - j).min(4 * l);
            let mut acc = [V::zero(); 4];
            for p in 0..k {
                let xv = V::splat(*x.add(p * xs));
                let row = mat.add(p * rs + j);
                for u in 0..4 {
                    let off = u * l;
                    if off >= cnt {
                        break;
                    }
                    let w = if cnt - off >= l { V::load_h(row.add(off)) } else { V::load_h_partial(row.add(off), cnt - off) };
                    acc[u] = V::fma(acc[u], w, xv);
                }
            }
            let mut buf = [0.0f32; 64];
            for u in 0..4 {
                V::store(buf.as_mut_ptr().add(u * l), acc[u]);
            }
            for (jj, &v) in buf.iter().enumerate().take(cnt) {
                *y.add((j + jj) * ys) = v;
            }
            j += 4 * l;
        }
    }
}

/// Columns of M contiguous (`xs == 1`): one dot product per output.
///
/// # Safety
/// See [`GemvF16Fn`]; inside an entry whose ISA provides `V` with f16 loads.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn cols<V: SimdF16>(g: &GemvF16) {
    let GemvF16 { k, n, x, mat, stride: cs, y, ys, .. } = *g;
    let l = V::LANES;
    for j in 0..n {
        // SAFETY: column j of M has k values from mat + j*cs; x has k contiguous values; the
        // loops stop at k and the tail loads exactly k - p values.
        unsafe {
            let col = mat.add(j * cs);
            let mut acc = [V::zero(); 4];
            let mut p = 0;
            while p + 4 * l <= k {
                for u in 0..4 {
                    acc[u] = V::fma(acc[u], V::load(x.add(p + u * l)), V::load_h(col.add(p + u * l)));
                }
                p += 4 * l;
            }
            while p + l <= k {
                acc[0] = V::fma(acc[0], V::load(x.add(p)), V::load_h(col.add(p)));
                p += l;
            }
            if p < k {
                let c = k - p;
                acc[1] = V::fma(acc[1], V::load_partial(x.add(p), c), V::load_h_partial(col.add(p), c));
            }
            *y.add(j * ys) = V::hsum(V::add(V::add(acc[0], acc[1]), V::add(acc[2], acc[3])));
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::GemvF16;
    use crate::sparse::simd::x86::{F32x16, F32x8};

    /// # Safety
    /// See [`super::GemvF16Fn`]; CPU with `avx2,fma,f16c`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn rows_avx2(g: &GemvF16) {
        // SAFETY: the features are enabled on this entry; arguments per the contract.
        unsafe { super::rows::<F32x8>(g) }
    }
    /// # Safety
    /// See [`super::GemvF16Fn`]; CPU with `avx2,fma,f16c`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn cols_avx2(g: &GemvF16) {
        // SAFETY: as above.
        unsafe { super::cols::<F32x8>(g) }
    }
    /// # Safety
    /// See [`super::GemvF16Fn`]; CPU with `avx512f,avx2,fma,f16c`.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub unsafe fn rows_avx512(g: &GemvF16) {
        // SAFETY: as above.
        unsafe { super::rows::<F32x16>(g) }
    }
    /// # Safety
    /// See [`super::GemvF16Fn`]; CPU with `avx512f,avx2,fma,f16c`.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub unsafe fn cols_avx512(g: &GemvF16) {
        // SAFETY: as above.
        unsafe { super::cols::<F32x16>(g) }
    }
}

#[cfg(target_arch = "aarch64")]
pub mod arm {
    use super::GemvF16;
    use crate::sparse::simd::arm::F32x4;

    /// # Safety
    /// See [`super::GemvF16Fn`]; CPU with `neon`.
    #[target_feature(enable = "neon")]
    pub unsafe fn rows_neon(g: &GemvF16) {
        // SAFETY: the features are enabled on this entry; arguments per the contract.
        unsafe { super::rows::<F32x4>(g) }
    }
    /// # Safety
    /// See [`super::GemvF16Fn`]; CPU with `neon`.
    #[target_feature(enable = "neon")]
    pub unsafe fn cols_neon(g: &GemvF16) {
        // SAFETY: as above.
        unsafe { super::cols::<F32x4>(g) }
    }
}
