//! AVX-512F SpMM kernels (16-lane zmm, 32 registers; N tails with mask registers).
//! Tiles: `MR` = block rows R, `NR` = columns of C per tile; the body is `generic.rs`.
use super::{generic, SpmmKernel};
use crate::sparse::{BlockSel, Layout, SparseMatrix};
use crate::sparse::simd::x86::F32x16;
use crate::sparse::ValueType;
use crate::{Activation, Isa};

pub const NR_1X1: usize = 64;

/// # Safety
/// CPU with `avx512f,avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 1x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmm_f32_1x1_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, f32, 1, 1, { NR_1X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_1x1_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(1)),
    mr: 1,
    nr: NR_1X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_1x1_n64_avx512,
};

pub const NR_2X1: usize = 64;

/// # Safety
/// CPU with `avx512f,avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 2x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmm_f32_2x1_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, f32, 2, 1, { NR_2X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_2X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_2x1_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(2)),
    mr: 2,
    nr: NR_2X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_2x1_n64_avx512,
};

pub const NR_4X1: usize = 32;

/// # Safety
/// CPU with `avx512f,avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 4x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmm_f32_4x1_n32_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, f32, 4, 1, { NR_4X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_4X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_4x1_n32_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(4)),
    mr: 4,
    nr: NR_4X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_4x1_n32_avx512,
};

pub const NR_8X1: usize = 32;

/// # Safety
/// CPU with `avx512f,avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 8x1.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmm_f32_8x1_n32_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, f32, 8, 1, { NR_8X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_8X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_8x1_n32_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(8)),
    mr: 8,
    nr: NR_8X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_8x1_n32_avx512,
};

pub const NR_1X4: usize = 64;

/// # Safety
/// CPU with `avx512f,avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 1x4.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmm_f32_1x4_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, f32, 1, 4, { NR_1X4 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X4: SpmmKernel = SpmmKernel {
    name: "spmm_f32_1x4_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RedBlock(4)),
    mr: 1,
    nr: NR_1X4,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_1x4_n64_avx512,
};

pub const NR_1X8: usize = 64;

/// # Safety
/// CPU with `avx512f,avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 1x8.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn spmm_f32_1x8_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, f32, 1, 8, { NR_1X8 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X8: SpmmKernel = SpmmKernel {
    name: "spmm_f32_1x8_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RedBlock(8)),
    mr: 1,
    nr: NR_1X8,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_1x8_n64_avx512,
};

// f16 weights: the same bodies with `W = u16` (F16C / fcvtl widening loads).

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 1x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmm_f16_1x1_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, u16, 1, 1, { NR_1X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_1x1_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(1)),
    mr: 1,
    nr: NR_1X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_1x1_n64_avx512,
};

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 2x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmm_f16_2x1_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, u16, 2, 1, { NR_2X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_2X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_2x1_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(2)),
    mr: 2,
    nr: NR_2X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_2x1_n64_avx512,
};

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 4x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmm_f16_4x1_n32_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, u16, 4, 1, { NR_4X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_4X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_4x1_n32_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(4)),
    mr: 4,
    nr: NR_4X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_4x1_n32_avx512,
};

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 8x1.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmm_f16_8x1_n32_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, u16, 8, 1, { NR_8X1 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_8X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_8x1_n32_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RowBlock(8)),
    mr: 8,
    nr: NR_8X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_8x1_n32_avx512,
};

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 1x4.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmm_f16_1x4_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, u16, 1, 4, { NR_1X4 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X4_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_1x4_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RedBlock(4)),
    mr: 1,
    nr: NR_1X4,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_1x4_n64_avx512,
};

/// # Safety
/// CPU with `avx512f,avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 1x8.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn spmm_f16_1x8_n64_avx512(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x16, u16, 1, 8, { NR_1X8 / 16 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X8_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_1x8_n64_avx512",
    isa: Isa::Avx512,
    block: BlockSel::Only(Layout::RedBlock(8)),
    mr: 1,
    nr: NR_1X8,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_1x8_n64_avx512,
};
