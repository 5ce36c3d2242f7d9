//! AVX2+FMA SpMV kernels (R×1 and 1×C with 4- and 8-lane vectors, 1×1 with `vgatherdps`).
use super::{generic, SpmvKernel};
use crate::sparse::{BlockSel, Layout, SparseMatrix};
use crate::sparse::simd::x86::{F32x16, F32x4, F32x8};
use crate::sparse::simd::{Stored, Wt};
use crate::sparse::ValueType;
use crate::{Activation, Isa};

/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_1x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    gather::<f32, 8>(a, x, y, act)
}

pub const K_1X1: SpmvKernel = SpmvKernel { name: "spmv_f32_1x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(1)), mr: 1, dtype: ValueType::F32, f: spmv_f32_1x1_avx2 };


/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 2x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_2x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1_scalar::<F32x8, f32, 2>(a, x, y, act)
}

pub const K_2X1: SpmvKernel = SpmvKernel { name: "spmv_f32_2x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(2)), mr: 2, dtype: ValueType::F32, f: spmv_f32_2x1_avx2 };


/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 4x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_4x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x4, f32, 4, 1>(a, x, y, act)
}

pub const K_4X1: SpmvKernel = SpmvKernel { name: "spmv_f32_4x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(4)), mr: 4, dtype: ValueType::F32, f: spmv_f32_4x1_avx2 };


/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 8x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_8x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x8, f32, 8, 1>(a, x, y, act)
}

pub const K_8X1: SpmvKernel = SpmvKernel { name: "spmv_f32_8x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(8)), mr: 8, dtype: ValueType::F32, f: spmv_f32_8x1_avx2 };


/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x4.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_1x4_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x4, f32, 4, 1>(a, x, y, act)
}

pub const K_1X4: SpmvKernel = SpmvKernel { name: "spmv_f32_1x4_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RedBlock(4)), mr: 1, dtype: ValueType::F32, f: spmv_f32_1x4_avx2 };


/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x8.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_1x8_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x8, f32, 8, 1>(a, x, y, act)
}

pub const K_1X8: SpmvKernel = SpmvKernel { name: "spmv_f32_1x8_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RedBlock(8)), mr: 1, dtype: ValueType::F32, f: spmv_f32_1x8_avx2 };

/// Unstructured SpMV with hardware gathers of `x`, `L` = 8 (ymm) or 16 (zmm) indices at a time,
/// weights stored as `W` (f32 or f16 bits). Shared by the AVX2 and AVX-512 entries (only inlined
/// into them).
///
/// # Safety
/// CPU with AVX2+FMA (and AVX-512F when `L == 16`, F16C when `W = u16`); `x.len() == k`,
/// `y.len() == m`, layout 1×1, values stored as `W`.
#[inline(always)]
pub(crate) unsafe fn gather<W, const L: usize>(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation)
where
    W: Wt<F32x8> + Wt<F32x16> + Stored,
{
    use core::arch::x86_64::*;
    use crate::sparse::Indices;
    let (ptr, vals, xp) = (a.ptr(), W::values(a).as_ptr(), x.as_ptr());
    let bias = a.bias();
    for (i, yi) in y.iter_mut().enumerate() {
        // SAFETY (unchecked access and gathers): i < m = block_rows; blocks ptr[i]..ptr[i+1] are
        // < nnz_blocks = idx.len() = values.len(); every index < k = x.len() ≤ i32::MAX, so the
        // gathered addresses xp + 4·idx are inside x.
        let (j0, j1) = (*ptr.get_unchecked(i) as usize, *ptr.get_unchecked(i + 1) as usize);
        let mut j = j0;
        let mut s = 0.0f32;
        if L == 16 {
            let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            while j + 16 <= j1 {
                let iv = match a.indices() {
                    Indices::U16(ix) => _mm512_cvtepu16_epi32(_mm256_loadu_si256(ix.as_ptr().add(j) as *const __m256i)),
                    Indices::U32(ix) => _mm512_loadu_si512(ix.as_ptr().add(j) as *const _),
                };
                let xv = _mm512_i32gather_ps::<4>(iv, xp as *const _);
                if (j - j0) & 16 == 0 {
                    a0 = _mm512_fmadd_ps(<W as Wt<F32x16>>::load(vals.add(j)).0, xv, a0);
                } else {
                    a1 = _mm512_fmadd_ps(<W as Wt<F32x16>>::load(vals.add(j)).0, xv, a1);
                }
                j += 16;
            }
            s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        }
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        while j + 8 <= j1 {
            let iv = match a.indices() {
                Indices::U16(ix) => _mm256_cvtepu16_epi32(_mm_loadu_si128(ix.as_ptr().add(j) as *const __m128i)),
                Indices::U32(ix) => _mm256_loadu_si256(ix.as_ptr().add(j) as *const __m256i),
            };
            let xv = _mm256_i32gather_ps::<4>(xp, iv);
            if (j - j0) & 8 == 0 {
                a0 = _mm256_fmadd_ps(<W as Wt<F32x8>>::load(vals.add(j)).0, xv, a0);
            } else {
                a1 = _mm256_fmadd_ps(<W as Wt<F32x8>>::load(vals.add(j)).0, xv, a1);
            }
            j += 8;
        }
        let v = _mm256_add_ps(a0, a1);
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        s += _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
        while j < j1 {
            s += <W as Wt<F32x8>>::get(vals.add(j)) * *xp.add(a.indices().get(j));
            j += 1;
        }
        *yi = act.apply(s + bias.map_or(0.0, |b| *b.get_unchecked(i)));
    }
}

// f16 weights: the same bodies with `W = u16` (F16C / fcvtl widening loads).

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    gather::<u16, 8>(a, x, y, act)
}

pub const K_1X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_1x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(1)), mr: 1, dtype: ValueType::F16, f: spmv_f16_1x1_avx2 };

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 2x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_2x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1_scalar::<F32x8, u16, 2>(a, x, y, act)
}

pub const K_2X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_2x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(2)), mr: 2, dtype: ValueType::F16, f: spmv_f16_2x1_avx2 };

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 4x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_4x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x4, u16, 4, 1>(a, x, y, act)
}

pub const K_4X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_4x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(4)), mr: 4, dtype: ValueType::F16, f: spmv_f16_4x1_avx2 };

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 8x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_8x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x8, u16, 8, 1>(a, x, y, act)
}

pub const K_8X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_8x1_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RowBlock(8)), mr: 8, dtype: ValueType::F16, f: spmv_f16_8x1_avx2 };

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x4.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x4_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x4, u16, 4, 1>(a, x, y, act)
}

pub const K_1X4_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_1x4_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RedBlock(4)), mr: 1, dtype: ValueType::F16, f: spmv_f16_1x4_avx2 };

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x8.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x8_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x8, u16, 8, 1>(a, x, y, act)
}

pub const K_1X8_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_1x8_avx2", isa: Isa::Avx2, block: BlockSel::Only(Layout::RedBlock(8)), mr: 1, dtype: ValueType::F16, f: spmv_f16_1x8_avx2 };
