//! AVX2+FMA SpMV kernels (R×1 and 1×C with 4- and 8-lane vectors, 1×1 with 8-lane gathers of `x`
//! built from scalar loads).
use super::{generic, SpmvKernel};
use crate::sparse::{BlockSel, Indices, Layout, SparseMatrix};
use crate::sparse::simd::x86::{F32x4, F32x8};
use crate::sparse::simd::{Stored, Wt};
use crate::sparse::ValueType;
use crate::{Activation, Isa};

/// # Safety
/// CPU with `avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmv_f32_1x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    gather::<f32>(a, x, y, act)
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
    match a.indices() {
        Indices::U16(ix) => super::x86::r4_grouped::<F32x8>(a, ix, x, y, act),
        Indices::U32(_) => generic::rx1::<F32x4, f32, 4, 1>(a, x, y, act),
    }
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

/// Column indices of the stream, read four at a time.
trait GatherIdx: crate::sparse::simd::Idx {
    /// Indices `p[0..4]` (u16: one 8-byte load split by shifts, which costs ALU slots instead of
    /// three more loads; u32: two).
    ///
    /// # Safety
    /// `p .. p + 4` readable.
    unsafe fn q4(p: *const Self) -> [usize; 4];
}
impl GatherIdx for u16 {
    #[inline(always)]
    unsafe fn q4(p: *const u16) -> [usize; 4] {
        let q = (p as *const u64).read_unaligned();
        [(q & 0xffff) as usize, ((q >> 16) & 0xffff) as usize, ((q >> 32) & 0xffff) as usize, (q >> 48) as usize]
    }
}
impl GatherIdx for u32 {
    #[inline(always)]
    unsafe fn q4(p: *const u32) -> [usize; 4] {
        let a = (p as *const u64).read_unaligned();
        let b = (p.add(2) as *const u64).read_unaligned();
        [(a & 0xffff_ffff) as usize, (a >> 32) as usize, (b & 0xffff_ffff) as usize, (b >> 32) as usize]
    }
}

/// Unstructured SpMV, weights stored as `W` (f32 or f16 bits), 8 values at a time. Shared by the
/// AVX2 and AVX-512 entries (only inlined into them).
///
/// `x` is gathered by eight scalar loads inserted into a ymm, not by `vgatherdps`: on the Zen 4
/// development VM the scalar form ran the AVX2 kernel 1.3–1.8× faster for f32 and 1.6–2.1× for
/// f16 (768×768 … 16384×8192 at 90 %, BENCHMARKS.md "f16 weights: unstructured SpMV"), and
/// mixing one hardware gather with one scalar gather per 16 values was slower than either. The
/// AVX-512 row runs the same body (its 16-lane zmm gathers were not measurable here: AVX-512 is
/// hidden in the VM).
///
/// A row's last `r < 8` values are one masked step over the 8-value window of the stream that
/// *ends* at the row's end: it reaches back into this or earlier rows, never past the value and
/// index sections, and every index in the stream is < k, so its loads stay inside `x`. The lanes
/// before the remainder are zeroed in both `x` and the weights (so NaN/inf of other rows cannot
/// leak in). Only a stream of fewer than 8 values runs its tails scalar. The scalar per-value
/// tail this replaces cost the f16 kernel ~19 % of its time at 768×768.
///
/// # Safety
/// CPU with AVX2+FMA (F16C when `W = u16`); `x.len() == k`, `y.len() == m`, layout 1×1, values
/// stored as `W`.
#[inline(always)]
pub(crate) unsafe fn gather<W>(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation)
where
    W: Wt<F32x8> + Stored,
{
    use crate::sparse::Indices;
    match a.indices() {
        Indices::U16(ix) => gather_idx::<W, u16>(a, ix, x, y, act),
        Indices::U32(ix) => gather_idx::<W, u32>(a, ix, x, y, act),
    }
}

#[inline(always)]
unsafe fn gather_idx<W, I: GatherIdx>(a: &SparseMatrix, idx: &[I], x: &[f32], y: &mut [f32], act: &Activation)
where
    W: Wt<F32x8> + Stored,
{
    use core::arch::x86_64::*;
    let (ptr, vals, ip, xp) = (a.ptr(), W::values(a).as_ptr(), idx.as_ptr(), x.as_ptr());
    let bias = a.bias();
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // x[idx[j .. j + 8]]. SAFETY (caller): j + 8 ≤ nnz_blocks = idx.len(), and every index of
    // the stream is < k = x.len() (checked by `SparseMatrix::parse`).
    let g8 = |j: usize| {
        let (l, h) = (I::q4(ip.add(j)), I::q4(ip.add(j + 4)));
        let g = |o: usize| *xp.add(o);
        _mm256_set_m128(_mm_setr_ps(g(h[0]), g(h[1]), g(h[2]), g(h[3])), _mm_setr_ps(g(l[0]), g(l[1]), g(l[2]), g(l[3])))
    };
    for (i, yi) in y.iter_mut().enumerate() {
        // SAFETY (unchecked access and loads): i < m = block_rows; blocks ptr[i]..ptr[i+1] are
        // ≤ nnz_blocks = idx.len() = values.len(); every window below lies in 0..nnz_blocks.
        let (j0, j1) = (*ptr.get_unchecked(i) as usize, *ptr.get_unchecked(i + 1) as usize);
        let mut j = j0;
        let mut s = 0.0f32;
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        while j + 16 <= j1 {
            let (x0, x1) = (g8(j), g8(j + 8));
            a0 = _mm256_fmadd_ps(<W as Wt<F32x8>>::load(vals.add(j)).0, x0, a0);
            a1 = _mm256_fmadd_ps(<W as Wt<F32x8>>::load(vals.add(j + 8)).0, x1, a1);
            j += 16;
        }
        if j + 8 <= j1 {
            a0 = _mm256_fmadd_ps(<W as Wt<F32x8>>::load(vals.add(j)).0, g8(j), a0);
            j += 8;
        }
        if j < j1 {
            if j1 >= 8 {
                // The window [j1 - 8, j1): keep its last r = j1 - j lanes.
                let b = j1 - 8;
                let keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((7 - (j1 - j)) as i32)));
                let x0 = _mm256_and_ps(g8(b), keep);
                let w0 = _mm256_and_ps(<W as Wt<F32x8>>::load(vals.add(b)).0, keep);
                a1 = _mm256_fmadd_ps(w0, x0, a1);
            } else {
                // Fewer than 8 values in the whole stream.
                while j < j1 {
                    s += <W as Wt<F32x8>>::get(vals.add(j)) * *xp.add(idx.get_unchecked(j).at());
                    j += 1;
                }
            }
        }
        let v = _mm256_add_ps(a0, a1);
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        s += _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
        *yi = act.apply(s + bias.map_or(0.0, |b| *b.get_unchecked(i)));
    }
}

// f16 weights: the same bodies with `W = u16` (F16C / fcvtl widening loads).

/// # Safety
/// CPU with `avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x1_avx2(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    gather::<u16>(a, x, y, act)
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

