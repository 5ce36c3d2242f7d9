//! SpMM: `C[m×n] = act(W[m×k] · B[k×n] + bias)` with `W` a [`SparseMatrix`] (its bias, if any, is
//! per row of C).
//!
//! Contract: `B` is row-major with row stride `ldb ≥ n` (element `(p, j)` at `b[p·ldb + j]`), `C`
//! row-major with row stride `ldc ≥ n`; only the `n` first columns of each row are read/written.
//! Kernels vectorise along N (the H·W of a 1x1 convolution in CHW layout, or batch·sequence of a
//! Gemm where the caller passes `B = Xᵀ`) in tiles of `nr` columns; N tails use masked loads and
//! stores (AVX-512 mask registers, AVX2 `vmaskmov`, a stack copy on NEON). Loop order: panels of
//! N (B panel k × nc up to 2 MB, all of N for the shapes of 1x1 convolutions and batched MatMul)
//! outside, block rows in the middle, tiles of `nr` columns inside: a block row's values and
//! indices stay in L1 across its tiles, W streams once per panel (see `generic.rs`).
//! [`spmm`]/[`spmm_with`] check every slice length before a kernel runs (panicking on a
//! mismatch), so kernels use unchecked access.
pub mod scalar;
pub mod transpose;

mod generic;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

use super::{select, BlockSel, Layout, SparseMatrix, ValueType};
use crate::{Activation, Isa};

/// A SpMM kernel. Safety: the kernel's ISA must be available, its [`BlockSel`] must accept the
/// matrix's layout, and the slices must satisfy [`check_args`] (the safe entry points ensure all
/// three).
pub type SpmmFn = unsafe fn(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation);

/// One row of the SpMM table.
#[derive(Clone, Copy, Debug)]
pub struct SpmmKernel {
    /// `spmm_f32_{R}x{C}_n{NR}_{isa}`.
    pub name: &'static str,
    pub isa: Isa,
    pub block: BlockSel,
    /// How the matrix's values must be stored for this kernel.
    pub dtype: ValueType,
    /// Rows of C computed per tile (R; 1 for 1×C blocks).
    pub mr: usize,
    /// Columns of C per tile (a multiple of the vector width; tails are masked).
    pub nr: usize,
    pub f: SpmmFn,
}

/// Every SpMM kernel of this target. Dispatch, tests and benches iterate it.
/// Without `std` the ISA is fixed at compile time (`Isa::available`), so x86 rows whose target
/// feature is not enabled are left out: they can never be selected, and their function pointers
/// kept ~140 KB of SIMD code in the no_std C library (README "Embedding", size guard).
pub const SPMM_KERNELS: &[SpmmKernel] = &[
    SpmmKernel { name: "spmm_f32_any_scalar", isa: Isa::Scalar, block: BlockSel::Any, mr: 1, nr: 1, dtype: ValueType::F32, f: scalar::spmm_any_scalar },
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
    SpmmKernel { name: "spmm_f16_any_scalar", isa: Isa::Scalar, block: BlockSel::Any, mr: 1, nr: 1, dtype: ValueType::F16, f: scalar::spmm_any_scalar },
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

/// Panics unless `b` and `c` hold the strided `k×n` and `m×n` matrices.
pub fn check_args(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &[f32], ldc: usize) {
    let need = |rows: usize, ld: usize| {
        if rows == 0 || n == 0 {
            0
        } else {
            (rows - 1).checked_mul(ld).and_then(|x| x.checked_add(n)).expect("spmm: size overflows")
        }
    };
    assert!(ldb >= n || a.k() <= 1, "spmm: ldb < n");
    assert!(ldc >= n || a.m() <= 1, "spmm: ldc < n");
    assert!(b.len() >= need(a.k(), ldb), "spmm: B shorter than k×n with stride ldb");
    assert!(c.len() >= need(a.m(), ldc), "spmm: C shorter than m×n with stride ldc");
}

/// The kernel [`spmm`] would use for `isa` and `layout` with f32 values.
pub fn spmm_kernel(isa: Isa, layout: Layout) -> SpmmKernel {
    spmm_kernel_for(isa, layout, ValueType::F32)
}

/// The kernel [`spmm`] would use for `isa`, `layout` and values stored as `dtype`.
pub fn spmm_kernel_for(isa: Isa, layout: Layout, dtype: ValueType) -> SpmmKernel {
    select(SPMM_KERNELS, isa, layout, dtype, |k| (k.isa, k.block, k.dtype))
}

#[allow(clippy::too_many_arguments)]
/// `C = act(W·B + bias)` with the best kernel of the table for `isa` and the matrix's layout
/// (falling back to the scalar reference when `isa` is not available).
pub fn spmm(isa: Isa, a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation) {
    spmm_with(&spmm_kernel_for(isa, a.layout(), a.value_type()), a, b, ldb, n, c, ldc, act)
}

/// Runs one given table kernel (tests and benches force kernels this way). Panics if its ISA (for
/// f16: with F16C) is not available, it does not accept the layout or the value type, or a slice
/// is too short.
#[allow(clippy::too_many_arguments)]
pub fn spmm_with(kernel: &SpmmKernel, a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation) {
    super::assert_kernel_runs(kernel.name, kernel.isa, kernel.block, kernel.dtype, a);
    check_args(a, b, ldb, n, c, ldc);
    if n == 0 || a.m() == 0 {
        return;
    }
    // SAFETY: ISA available, layout and value type accepted (asserted above); slice lengths checked by
    // `check_args`; `a` is a parsed, validated view.
    unsafe { (kernel.f)(a, b, ldb, n, c, ldc, act) }
}
