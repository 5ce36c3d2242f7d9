//! The x86 4×1 f32 SpMV body: several blocks per wide register.
//!
//! The portable R×1 body ([`super::generic`]) runs one 4-lane FMA per 4×1 block and pays three
//! loads for it (the column index, the broadcast `x[col]`, the four values), so a block row is
//! bound by the load ports at about 1.5 cycles per block on Zen 4. Here one AVX-512 register
//! holds four consecutive blocks of a block row (an AVX2 register two): their 16 (8) values are
//! one load, the four (two) column indices one 64-bit (32-bit) load split in integer registers,
//! and `x[col_g]` is broadcast over group `g`'s four lanes with one permute. The groups all
//! accumulate the same four rows, so they are summed once per block row; the last `< G` blocks
//! of a row take the 4-lane path.
//!
//! Only u16 indices (k ≤ 65536, every BERT-sized layer); the callers keep the portable body for
//! u32 indices.
//!
//! # Safety (all functions)
//! Called from a `#[target_feature]` entry whose features provide the [`Groups`] type; the
//! matrix is parsed and validated, its layout is 4×1 with f32 values, `x.len() == k`,
//! `y.len() == m`.
use crate::sparse::simd::x86::{F32x16, F32x4, F32x8};
use crate::sparse::simd::{Simd, VecAct};
use crate::sparse::SparseMatrix;
use crate::Activation;
use core::arch::x86_64::*;

/// A register of `G` 4×1 blocks (the [`Simd`] vector of `4·G` lanes).
pub(crate) trait Groups: Simd {
    /// Blocks per register.
    const G: usize;
    /// `x[ix[g]]` in the four lanes of group `g`, for `g < G`.
    unsafe fn xs(x: *const f32, ix: *const u16) -> Self;
    /// The sum of the `G` groups (the four rows' partial sums).
    unsafe fn fold(self) -> __m128;
}

/// Four blocks per 512-bit register; valid inside `avx512f` entries.
impl Groups for F32x16 {
    const G: usize = 4;
    #[inline(always)]
    unsafe fn xs(x: *const f32, ix: *const u16) -> Self {
        // One 64-bit load for the four indices; the caller guarantees ix[0..4] is in bounds.
        let q = (ix as *const u64).read_unaligned();
        let at = |s: u32| *x.add(((q >> s) & 0xffff) as usize);
        let v = _mm_setr_ps(at(0), at(16), at(32), at(48));
        let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        F32x16(_mm512_permutexvar_ps(spread, _mm512_castps128_ps512(v)))
    }
    #[inline(always)]
    unsafe fn fold(self) -> __m128 {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(self.0), 1));
        let s = _mm256_add_ps(_mm512_castps512_ps256(self.0), hi);
        _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1))
    }
}

/// Two blocks per 256-bit register; valid inside `avx2,fma` entries.
impl Groups for F32x8 {
    const G: usize = 2;
    #[inline(always)]
    unsafe fn xs(x: *const f32, ix: *const u16) -> Self {
        // One 32-bit load for the two indices; the caller guarantees ix[0..2] is in bounds.
        let q = (ix as *const u32).read_unaligned();
        let lo = _mm_set1_ps(*x.add((q & 0xffff) as usize));
        let hi = _mm_set1_ps(*x.add((q >> 16) as usize));
        F32x8(_mm256_set_m128(hi, lo))
    }
    #[inline(always)]
    unsafe fn fold(self) -> __m128 {
        _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps(self.0, 1))
    }
}

/// `y = act(W·x + bias)` for a 4×1 f32 matrix with u16 indices `idx`.
#[inline(always)]
pub(crate) unsafe fn r4_grouped<V: Groups>(a: &SparseMatrix, idx: &[u16], x: &[f32], y: &mut [f32], act: &Activation) {
    let g = V::G;
    let m = a.m();
    let va = VecAct::<F32x4>::new(act);
    let (ptr, vals, xp, yp, ip) = (a.ptr(), a.values().as_ptr(), x.as_ptr(), y.as_mut_ptr(), idx.as_ptr());
    let bias = a.bias();
    for br in 0..a.block_rows() {
        // SAFETY (unchecked access in this loop): br < block_rows and ptr has block_rows + 1
        // entries; blocks j < nnz_blocks = idx.len() with 4 values each, so a group read of
        // blocks j..j + G (values and indices) stays inside when j + G ≤ j1; idx[j] < k = x.len()
        // (parse invariants).
        let (j0, j1) = (*ptr.get_unchecked(br) as usize, *ptr.get_unchecked(br + 1) as usize);
        let (mut a0, mut a1) = (V::zero(), V::zero());
        let mut j = j0;
        while j + 2 * g <= j1 {
            a0 = V::fma(a0, V::load(vals.add(j * 4)), V::xs(xp, ip.add(j)));
            a1 = V::fma(a1, V::load(vals.add((j + g) * 4)), V::xs(xp, ip.add(j + g)));
            j += 2 * g;
        }
        if j + g <= j1 {
            a0 = V::fma(a0, V::load(vals.add(j * 4)), V::xs(xp, ip.add(j)));
            j += g;
        }
        let mut s = V::add(a0, a1).fold();
        while j < j1 {
            s = _mm_fmadd_ps(_mm_loadu_ps(vals.add(j * 4)), _mm_set1_ps(*xp.add(*ip.add(j) as usize)), s);
            j += 1;
        }
        // SAFETY: br < block_rows = ceil(m / 4), so br·4 < m.
        super::generic::store_rows(F32x4(s), br * 4, m, bias, yp, &va, act);
    }
}
