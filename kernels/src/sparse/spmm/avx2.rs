//! AVX2+FMA SpMM kernels (8-lane ymm; 16 registers). Every tile keeps 8 accumulators: Zen 4 has
//! two FMA pipes of latency 4, so fewer independent chains (n32 for 1×1: 4) leave it half idle.
//! Tiles: `MR` = block rows R, `NR` = columns of C per tile; the body is `generic.rs`.
use super::{generic, SpmmKernel};
use crate::sparse::{BlockSel, Layout, SparseMatrix};
use crate::sparse::simd::x86::F32x8;
use crate::sparse::ValueType;
use crate::{Activation, Isa};

pub const NR_1X1: usize = 64;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 1x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_1x1_n64_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 1, 1, { NR_1X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_1x1_n64_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(1)),
    mr: 1,
    nr: NR_1X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_1x1_n64_avx2,
};

pub const NR_2X1: usize = 32;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 2x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_2x1_n32_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 2, 1, { NR_2X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_2X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_2x1_n32_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(2)),
    mr: 2,
    nr: NR_2X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_2x1_n32_avx2,
};

pub const NR_4X1: usize = 16;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 4x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_4x1_n16_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 4, 1, { NR_4X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_4X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_4x1_n16_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(4)),
    mr: 4,
    nr: NR_4X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_4x1_n16_avx2,
};

/// The wide 4x1 tile: 12 accumulators (all 16 ymm with 3 B vectors and one broadcast). It
/// amortises each block's index load, B row address and 4 weight broadcasts over 24 columns
/// instead of 16. AVX2, Zen 4, 90 % sparse, in-process A/B n24 / n16 (medians of 9–11 rounds):
/// 64x32x12544 1.29–1.41x, 128x64x3136 1.21–1.35x, 256x128x784 1.11–1.32x, 512x256x196
/// 1.07–1.30x, 4096x1024x1024 1.31x; but at N = 128 (BERT) 0.90–0.95x (the 8-column tail is
/// 1/16 of the work in 8-column tiles), hence `min_n` = [`WIDE_MIN_N`].
pub const NR_4X1_N24: usize = 24;
/// N from which `spmm` takes the n24 4x1 rows.
pub const WIDE_MIN_N: usize = 192;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 4x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_4x1_n24_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 4, 1, { NR_4X1_N24 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_4X1_N24: SpmmKernel = SpmmKernel {
    name: "spmm_f32_4x1_n24_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(4)),
    mr: 4,
    nr: NR_4X1_N24,
    min_n: WIDE_MIN_N,
    dtype: ValueType::F32,
    f: spmm_f32_4x1_n24_avx2,
};

pub const NR_8X1: usize = 8;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 8x1.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_8x1_n8_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 8, 1, { NR_8X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_8X1: SpmmKernel = SpmmKernel {
    name: "spmm_f32_8x1_n8_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(8)),
    mr: 8,
    nr: NR_8X1,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_8x1_n8_avx2,
};

pub const NR_1X4: usize = 64;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 1x4.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_1x4_n64_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 1, 4, { NR_1X4 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X4: SpmmKernel = SpmmKernel {
    name: "spmm_f32_1x4_n64_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RedBlock(4)),
    mr: 1,
    nr: NR_1X4,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_1x4_n64_avx2,
};

pub const NR_1X8: usize = 64;

/// # Safety
/// CPU with `avx2,fma`; the `super::SpmmFn` contract, n ≥ 1, layout 1x8.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn spmm_f32_1x8_n64_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, f32, 1, 8, { NR_1X8 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X8: SpmmKernel = SpmmKernel {
    name: "spmm_f32_1x8_n64_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RedBlock(8)),
    mr: 1,
    nr: NR_1X8,
    min_n: 0,
    dtype: ValueType::F32,
    f: spmm_f32_1x8_n64_avx2,
};

// f16 weights: the same bodies with `W = u16` (F16C / fcvtl widening loads).

/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 1x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_1x1_n64_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 1, 1, { NR_1X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_1x1_n64_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(1)),
    mr: 1,
    nr: NR_1X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_1x1_n64_avx2,
};

/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 2x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_2x1_n32_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 2, 1, { NR_2X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_2X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_2x1_n32_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(2)),
    mr: 2,
    nr: NR_2X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_2x1_n32_avx2,
};

/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 4x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_4x1_n16_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 4, 1, { NR_4X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_4X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_4x1_n16_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(4)),
    mr: 4,
    nr: NR_4X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_4x1_n16_avx2,
};

/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 8x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_8x1_n8_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 8, 1, { NR_8X1 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_8X1_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_8x1_n8_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(8)),
    mr: 8,
    nr: NR_8X1,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_8x1_n8_avx2,
};

/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 1x4.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_1x4_n64_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 1, 4, { NR_1X4 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X4_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_1x4_n64_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RedBlock(4)),
    mr: 1,
    nr: NR_1X4,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_1x4_n64_avx2,
};

/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 1x8.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_1x8_n64_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 1, 8, { NR_1X8 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_1X8_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_1x8_n64_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RedBlock(8)),
    mr: 1,
    nr: NR_1X8,
    min_n: 0,
    dtype: ValueType::F16,
    f: spmm_f16_1x8_n64_avx2,
};


/// # Safety
/// CPU with `avx2,fma,f16c`; the `super::SpmmFn` contract, n ≥ 1, layout 4x1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn spmm_f16_4x1_n24_avx2(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    generic::run::<F32x8, u16, 4, 1, { NR_4X1_N24 / 8 }>(a, b, ldb, n, c, ldc, act)
}

pub const K_4X1_N24_F16: SpmmKernel = SpmmKernel {
    name: "spmm_f16_4x1_n24_avx2",
    isa: Isa::Avx2,
    block: BlockSel::Only(Layout::RowBlock(4)),
    mr: 4,
    nr: NR_4X1_N24,
    min_n: WIDE_MIN_N,
    dtype: ValueType::F16,
    f: spmm_f16_4x1_n24_avx2,
};
