//! SpMV: `y[m] = act(W[m×k] · x[k] + bias)` for batch-1 Gemm/MatMul, with `W` a
//! [`SparseMatrix`] (its bias, if any, added per row).
//!
//! Kernels by layout:
//! - R×1 (R = 4, 8): one vector FMA per block over its R rows (values contiguous, `x[col]`
//!   broadcast), four blocks in flight to hide FMA latency; R = 8 fills an AVX2 register. On x86,
//!   f32 4×1 with u16 indices packs four blocks per AVX-512 register (two per AVX2 register)
//!   instead, with one load for their indices and one permute for their `x` values (`x86`: 1.15–1.26x
//!   the one-block body on the BERT shapes, BENCHMARKS.md).
//! - 1×C (C = 4, 8): a gather-free dot product over C consecutive `x`, four blocks in flight,
//!   one horizontal sum per row.
//! - 1×1 (unstructured): 8-lane gathers of `x` from scalar loads (AVX2 and AVX-512: faster than
//!   `vgatherdps` on Zen 4), a masked window for each row's last < 8 values; on NEON,
//!   and for R = 2 everywhere, a scalar loop with four accumulators compiled with the ISA enabled.
//!
//! The epilogue (bias, activation) is vectorised for R×1 and scalar per row for 1×C/1×1 (m
//! values per call against nnz FMAs, not worth vectors). [`spmv`]/[`spmv_with`] check `x.len() ==
//! k` and `y.len() == m` before a kernel runs.
pub mod scalar;

// The SIMD bodies, instantiated only by the x86_64 and aarch64 kernel files.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod generic;

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

use super::{select, BlockSel, Layout, SparseMatrix, ValueType};
use crate::{Activation, Isa};

/// A SpMV kernel. Safety: the kernel's ISA must be available, its [`BlockSel`] must accept the
/// matrix's layout, `x.len() == k` and `y.len() == m` (the safe entry points ensure all three).
pub type SpmvFn = unsafe fn(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation);

/// One row of the SpMV table.
#[derive(Clone, Copy, Debug)]
pub struct SpmvKernel {
    /// `spmv_f32_{R}x{C}_{isa}`.
    pub name: &'static str,
    pub isa: Isa,
    pub block: BlockSel,
    /// How the matrix's values must be stored for this kernel.
    pub dtype: ValueType,
    /// Output rows per block row (R; 1 for 1×C).
    pub mr: usize,
    pub f: SpmvFn,
}

/// Every SpMV kernel of this target. Dispatch, tests and benches iterate it.
/// Without `std` the ISA is fixed at compile time (`Isa::available`), so x86 rows whose target
/// feature is not enabled are left out: they can never be selected, and their function pointers
/// kept ~140 KB of SIMD code in the no_std C library (README "Embedding", size guard).
pub const SPMV_KERNELS: &[SpmvKernel] = &[
    SpmvKernel { name: "spmv_f32_any_scalar", isa: Isa::Scalar, block: BlockSel::Any, mr: 1, dtype: ValueType::F32, f: scalar::spmv_any_scalar },
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_1X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_2X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_4X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_8X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_1X4,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_1X8,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_1X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_2X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_4X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_8X1,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_1X4,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_1X8,
    #[cfg(target_arch = "aarch64")]
    neon::K_1X1,
    #[cfg(target_arch = "aarch64")]
    neon::K_2X1,
    #[cfg(target_arch = "aarch64")]
    neon::K_4X1,
    #[cfg(target_arch = "aarch64")]
    neon::K_8X1,
    #[cfg(target_arch = "aarch64")]
    neon::K_1X4,
    #[cfg(target_arch = "aarch64")]
    neon::K_1X8,
    // f16 weights (after every f32 row, so a search by ISA and layout alone finds the f32 one).
    SpmvKernel { name: "spmv_f16_any_scalar", isa: Isa::Scalar, block: BlockSel::Any, mr: 1, dtype: ValueType::F16, f: scalar::spmv_any_scalar },
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_1X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_2X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_4X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_8X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_1X4_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
    avx512::K_1X8_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_1X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_2X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_4X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_8X1_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_1X4_F16,
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_1X8_F16,
    #[cfg(target_arch = "aarch64")]
    neon::K_1X1_F16,
    #[cfg(target_arch = "aarch64")]
    neon::K_2X1_F16,
    #[cfg(target_arch = "aarch64")]
    neon::K_4X1_F16,
    #[cfg(target_arch = "aarch64")]
    neon::K_8X1_F16,
    #[cfg(target_arch = "aarch64")]
    neon::K_1X4_F16,
    #[cfg(target_arch = "aarch64")]
    neon::K_1X8_F16,
];

/// The kernel [`spmv`] would use for `isa` and `layout` with f32 values.
pub fn spmv_kernel(isa: Isa, layout: Layout) -> SpmvKernel {
    spmv_kernel_for(isa, layout, ValueType::F32)
}

/// The kernel [`spmv`] would use for `isa`, `layout` and values stored as `dtype`.
pub fn spmv_kernel_for(isa: Isa, layout: Layout, dtype: ValueType) -> SpmvKernel {
    select(SPMV_KERNELS, isa, layout, dtype, |k| (k.isa, k.block, k.dtype))
}

/// `y = act(W·x + bias)` with the best kernel of the table for `isa` and the matrix's layout
/// (falling back to the scalar reference when `isa` is not available).
pub fn spmv(isa: Isa, a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    spmv_with(&spmv_kernel_for(isa, a.layout(), a.value_type()), a, x, y, act)
}

/// Runs one given table kernel. Panics if its ISA (for f16: with F16C) is not available, it does
/// not accept the layout or the value type, or `x`/`y` have the wrong length.
pub fn spmv_with(kernel: &SpmvKernel, a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    super::assert_kernel_runs(kernel.name, kernel.isa, kernel.block, kernel.dtype, a);
    assert_eq!(x.len(), a.k(), "spmv: x length != k");
    assert_eq!(y.len(), a.m(), "spmv: y length != m");
    // As in SpMM (`spmm::run_with_act`): a transcendental activation runs vectorised over y after
    // the kernel instead of per element inside it.
    let vec_act = super::act_after_kernel(kernel.isa, act);
    let inner = if vec_act { &Activation::NONE } else { act };
    // SAFETY: ISA available, layout and value type accepted, lengths checked (asserted above); `a` is a parsed,
    // validated view.
    unsafe { (kernel.f)(a, x, y, inner) };
    if vec_act {
        act.apply_slice_isa(kernel.isa, y);
    }
}
