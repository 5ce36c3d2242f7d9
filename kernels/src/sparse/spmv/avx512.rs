//! AVX-512F SpMV kernels. A block of R = 8 or C = 8 f32 is one ymm, so the R×1/1×C bodies use
//! 4/8-lane vectors compiled with AVX-512 enabled (EVEX, 32 registers; Zen 4 splits zmm into two
//! 256-bit halves anyway); 1×1 runs the AVX2 body (8-lane gathers from scalar loads, see
//! [`super::avx2`]).
use super::avx2::gather;
use super::{generic, SpmvKernel};
use crate::sparse::{BlockSel, Indices, Layout, SparseMatrix};
use crate::sparse::simd::x86::{F32x16, F32x4, F32x8};
use crate::sparse::ValueType;
use crate::{Activation, Isa};

/// # Safety
/// CPU with `avx512f,avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmv_f32_1x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    gather::<f32>(a, x, y, act)
}

pub const K_1X1: SpmvKernel = SpmvKernel { name: "spmv_f32_1x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(1)), mr: 1, dtype: ValueType::F32, f: spmv_f32_1x1_avx512 };


/// # Safety
/// CPU with `avx512f,avx2,fma`; `x.len() == k`, `y.len() == m`, layout 2x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmv_f32_2x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1_scalar::<F32x8, f32, 2>(a, x, y, act)
}

pub const K_2X1: SpmvKernel = SpmvKernel { name: "spmv_f32_2x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(2)), mr: 2, dtype: ValueType::F32, f: spmv_f32_2x1_avx512 };


/// # Safety
/// CPU with `avx512f,avx2,fma`; `x.len() == k`, `y.len() == m`, layout 4x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmv_f32_4x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    match a.indices() {
        Indices::U16(ix) => super::x86::r4_grouped::<F32x16>(a, ix, x, y, act),
        Indices::U32(_) => generic::rx1::<F32x4, f32, 4, 1>(a, x, y, act),
    }
}

pub const K_4X1: SpmvKernel = SpmvKernel { name: "spmv_f32_4x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(4)), mr: 4, dtype: ValueType::F32, f: spmv_f32_4x1_avx512 };


/// # Safety
/// CPU with `avx512f,avx2,fma`; `x.len() == k`, `y.len() == m`, layout 8x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmv_f32_8x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x8, f32, 8, 1>(a, x, y, act)
}

pub const K_8X1: SpmvKernel = SpmvKernel { name: "spmv_f32_8x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(8)), mr: 8, dtype: ValueType::F32, f: spmv_f32_8x1_avx512 };


/// # Safety
/// CPU with `avx512f,avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x4.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmv_f32_1x4_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x4, f32, 4, 1>(a, x, y, act)
}

pub const K_1X4: SpmvKernel = SpmvKernel { name: "spmv_f32_1x4_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RedBlock(4)), mr: 1, dtype: ValueType::F32, f: spmv_f32_1x4_avx512 };


/// # Safety
/// CPU with `avx512f,avx2,fma`; `x.len() == k`, `y.len() == m`, layout 1x8.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmv_f32_1x8_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x8, f32, 8, 1>(a, x, y, act)
}

pub const K_1X8: SpmvKernel = SpmvKernel { name: "spmv_f32_1x8_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RedBlock(8)), mr: 1, dtype: ValueType::F32, f: spmv_f32_1x8_avx512 };

// f16 weights: the same bodies with `W = u16` (F16C / fcvtl widening loads).

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    gather::<u16>(a, x, y, act)
}

pub const K_1X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_1x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(1)), mr: 1, dtype: ValueType::F16, f: spmv_f16_1x1_avx512 };

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 2x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmv_f16_2x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1_scalar::<F32x8, u16, 2>(a, x, y, act)
}

pub const K_2X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_2x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(2)), mr: 2, dtype: ValueType::F16, f: spmv_f16_2x1_avx512 };

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 4x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmv_f16_4x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x4, u16, 4, 1>(a, x, y, act)
}

pub const K_4X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_4x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(4)), mr: 4, dtype: ValueType::F16, f: spmv_f16_4x1_avx512 };

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 8x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmv_f16_8x1_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::rx1::<F32x8, u16, 8, 1>(a, x, y, act)
}

pub const K_8X1_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_8x1_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RowBlock(8)), mr: 8, dtype: ValueType::F16, f: spmv_f16_8x1_avx512 };

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x4.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x4_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x4, u16, 4, 1>(a, x, y, act)
}

pub const K_1X4_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_1x4_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RedBlock(4)), mr: 1, dtype: ValueType::F16, f: spmv_f16_1x4_avx512 };

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; `x.len() == k`, `y.len() == m`, layout 1x8.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmv_f16_1x8_avx512(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    generic::red::<F32x8, u16, 8, 1>(a, x, y, act)
}

pub const K_1X8_F16: SpmvKernel = SpmvKernel { name: "spmv_f16_1x8_avx512", isa: Isa::Avx512, block: BlockSel::Only(Layout::RedBlock(8)), mr: 1, dtype: ValueType::F16, f: spmv_f16_1x8_avx512 };
