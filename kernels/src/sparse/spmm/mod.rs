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
//! indices stay in L1 across its tiles, W streams once per panel; the N tail (< `nr` columns)
//! runs in the last panel's sweep (see `generic.rs`). A layout may have a second, "wide" row
//! (larger `nr`, `min_n > 0`) that [`spmm`] takes from `n ≥ min_n` on ([`spmm_kernel_for_n`]).
//! [`spmm`]/[`spmm_with`] check every slice length before a kernel runs (panicking on a
//! mismatch), so kernels use unchecked access.
//!
//! Kernels take C as a pointer, not a slice: [`spmm_strided`] lets several threads each compute a
//! disjoint range of *columns* of one C (a pointwise convolution split by image rows), whose rows
//! interleave in memory, so that no two threads ever hold overlapping `&mut` slices. A kernel
//! writes only elements `(i, j)` with `i < m`, `j < n` (at `c + i·ldc + j`) and reads none of C.
pub mod scalar;
pub mod transpose;

// The SIMD bodies, instantiated only by the x86_64 and aarch64 kernel files.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
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
/// matrix's layout, `b` must satisfy [`check_args`], and `c + i·ldc + j` must be valid for writes
/// (and not accessed by anyone else during the call) for every `i < m`, `j < n` (the safe entry
/// points ensure all of it; [`spmm_strided`] leaves the last one to its caller).
pub type SpmmFn = unsafe fn(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation);

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
    /// 0 for the row [`spmm_kernel_for`] returns for its ISA, layout and value type. A "wide"
    /// row (larger `nr`, same ISA, layout and value type, placed after that row) has the
    /// smallest N from which [`spmm`] prefers it ([`spmm_kernel_for_n`]).
    pub min_n: usize,
    pub f: SpmmFn,
}

/// Every SpMM kernel of this target. Dispatch, tests and benches iterate it.
/// Without `std` the ISA is fixed at compile time (`Isa::available`), so x86 rows whose target
/// feature is not enabled are left out: they can never be selected, and their function pointers
/// kept ~140 KB of SIMD code in the no_std C library (README "Embedding", size guard).
pub const SPMM_KERNELS: &[SpmmKernel] = &[
    SpmmKernel { name: "spmm_f32_any_scalar", isa: Isa::Scalar, block: BlockSel::Any, mr: 1, nr: 1, min_n: 0, dtype: ValueType::F32, f: scalar::spmm_any_scalar },
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
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_4X1_N24,
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
    SpmmKernel { name: "spmm_f16_any_scalar", isa: Isa::Scalar, block: BlockSel::Any, mr: 1, nr: 1, min_n: 0, dtype: ValueType::F16, f: scalar::spmm_any_scalar },
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
    #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
    avx2::K_4X1_N24_F16,
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

/// Elements a strided `rows × n` matrix with row stride `ld` spans (0 when empty); panics on
/// overflow.
fn span(rows: usize, n: usize, ld: usize) -> usize {
    if rows == 0 || n == 0 {
        0
    } else {
        (rows - 1).checked_mul(ld).and_then(|x| x.checked_add(n)).expect("spmm: size overflows")
    }
}

/// Panics unless `b` holds the strided `k×n` matrix and the strides are at least `n`.
fn check_b(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, ldc: usize) {
    assert!(ldb >= n || a.k() <= 1, "spmm: ldb < n");
    assert!(ldc >= n || a.m() <= 1, "spmm: ldc < n");
    assert!(b.len() >= span(a.k(), n, ldb), "spmm: B shorter than k×n with stride ldb");
}

/// Panics unless `b` and `c` hold the strided `k×n` and `m×n` matrices.
pub fn check_args(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &[f32], ldc: usize) {
    check_b(a, b, ldb, n, ldc);
    assert!(c.len() >= span(a.m(), n, ldc), "spmm: C shorter than m×n with stride ldc");
}

/// Panics unless the kernel can run on this CPU with this matrix.
fn check_kernel(kernel: &SpmmKernel, a: &SparseMatrix) {
    super::assert_kernel_runs(kernel.name, kernel.isa, kernel.block, kernel.dtype, a);
}

/// The kernel [`spmm`] would use for `isa` and `layout` with f32 values.
pub fn spmm_kernel(isa: Isa, layout: Layout) -> SpmmKernel {
    spmm_kernel_for(isa, layout, ValueType::F32)
}

/// The kernel [`spmm`] would use for `isa`, `layout` and values stored as `dtype`.
pub fn spmm_kernel_for(isa: Isa, layout: Layout, dtype: ValueType) -> SpmmKernel {
    select(SPMM_KERNELS, isa, layout, dtype, |k| (k.isa, k.block, k.dtype))
}

/// The kernel [`spmm`] uses for `n` columns: [`spmm_kernel_for`]'s row, or the wide row of the
/// same ISA, layout and value type with the largest `min_n ≤ n`.
pub fn spmm_kernel_for_n(isa: Isa, layout: Layout, dtype: ValueType, n: usize) -> SpmmKernel {
    let base = spmm_kernel_for(isa, layout, dtype);
    SPMM_KERNELS
        .iter()
        .filter(|k| k.isa == base.isa && k.block == base.block && k.dtype == base.dtype && k.min_n != 0 && k.min_n <= n)
        .max_by_key(|k| k.min_n)
        .copied()
        .unwrap_or(base)
}

/// The row stride (in floats, a multiple of 16) to which a caller should copy B before calling
/// [`spmm`] with `ldb` = that stride, or `None` where B is best read in place.
///
/// Callers that keep tensors at 64-byte boundaries (the runtime's arena does) hand the kernels B
/// rows on cache-line boundaries exactly when `n` is a multiple of 16. Otherwise (`n` = 49 or 196,
/// the 7x7 and 14x14 stages of image networks) most vector loads of a B row straddle two lines:
/// every 64-byte AVX-512 load but the one row in 16 that happens to start a line, and about half
/// of AVX2's 32-byte loads. The kernels that load B once per one or two multiply-adds (1×C and
/// 2×1 blocks) pay for it. Copying B to rows padded to 16 floats first (K×N floats, read once per
/// call) then pays for itself where the average B row is used at least twice (`nnz ≥ 2·k`).
/// `spmm_ab` (`benches/examples`), 90 %, 64-byte aligned B and C, copy included, dense time /
/// sparse time without → with (EPYC Zen 4, 2026-11-25): AVX-512 1x1 1024x512x49 3.52 → 4.78x,
/// 1024x1024x49 3.98 → 5.38x, 512x256x196 4.17 → 4.75x, 512x512x196 4.42 → 4.89x; 2x1
/// 1024x1024x49 7.83 → 9.49x, 1x4 4.85 → 5.36x; 4x1 (one B load per four multiply-adds) 0.96–1.0x,
/// so it keeps B in place. AVX2 1x1 1024x1024x49 3.80 → 4.25x; AVX2 1x4 and 2x1 within noise, so
/// only 1x1 copies there. Non-x86 targets (NEON's 16-byte loads) read B in place.
pub fn aligned_ldb(isa: Isa, a: &SparseMatrix, n: usize) -> Option<usize> {
    const LINE_FLOATS: usize = 16;
    if n.is_multiple_of(LINE_FLOATS) || a.nnz_blocks().saturating_mul(a.layout().block().0 * a.layout().block().1) < a.k().saturating_mul(2) {
        return None;
    }
    let kernel = spmm_kernel_for_n(isa, a.layout(), a.value_type(), n);
    let (r, c) = a.layout().block();
    let pays = match kernel.isa {
        Isa::Avx512 => r <= 2,
        Isa::Avx2 => r == 1 && c == 1,
        _ => false,
    };
    pays.then(|| n.next_multiple_of(LINE_FLOATS))
}

#[allow(clippy::too_many_arguments)]
/// `C = act(W·B + bias)` with the best kernel of the table for `isa`, the matrix's layout and `n`
/// (falling back to the scalar reference when `isa` is not available).
pub fn spmm(isa: Isa, a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation) {
    spmm_with(&spmm_kernel_for_n(isa, a.layout(), a.value_type(), n), a, b, ldb, n, c, ldc, act)
}

/// Runs one given table kernel (tests and benches force kernels this way). Panics if its ISA (for
/// f16: with F16C) is not available, it does not accept the layout or the value type, or a slice
/// is too short.
#[allow(clippy::too_many_arguments)]
pub fn spmm_with(kernel: &SpmmKernel, a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation) {
    check_kernel(kernel, a);
    check_args(a, b, ldb, n, c, ldc);
    if n == 0 || a.m() == 0 {
        return;
    }
    // SAFETY: ISA available, layout and value type accepted (asserted above); slice lengths checked by
    // `check_args`, so every `(i, j)` of C is inside `c`, borrowed exclusively; `a` is a parsed,
    // validated view.
    unsafe { run_with_act(kernel, a, b, ldb, n, c.as_mut_ptr(), ldc, act) }
}

/// Calls `kernel.f`, moving a transcendental activation (GELU, sigmoid, tanh) out of the tile
/// epilogue: the SIMD kernels apply those with the scalar `Activation::apply` per element, so they
/// run with no activation (bias still fused) and the rows of C then go through the vectorised
/// [`crate::vmath`] kernels of the table row's ISA. The scalar reference keeps its own path.
/// 90 % 4x1 BERT FFN up-projection with GELU (hidden 64, 16 rows), `sprig bench`: the SpMM layer
/// took 61 µs against 22 µs for the dense GEMM before this change.
///
/// # Safety
/// The [`SpmmFn`] contract for `kernel.f` and these arguments, `n ≥ 1` and `a.m() ≥ 1`.
#[allow(clippy::too_many_arguments)]
unsafe fn run_with_act(kernel: &SpmmKernel, a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    if !super::act_after_kernel(kernel.isa, act) {
        // SAFETY: forwarded from the caller.
        return unsafe { (kernel.f)(a, b, ldb, n, c, ldc, act) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { (kernel.f)(a, b, ldb, n, c, ldc, &Activation::NONE) };
    for i in 0..a.m() {
        // SAFETY: by the `SpmmFn` contract the kernel has just written `c + i·ldc + j` for j < n;
        // those elements are ours alone until we return.
        let row = unsafe { core::slice::from_raw_parts_mut(c.add(i * ldc), n) };
        act.apply_slice_isa(kernel.isa, row);
    }
}

/// [`spmm`] with C given as a pointer: computes `C[i][j]` at `c + i·ldc + j` for `i < m`, `j < n`,
/// writing nothing else. For splits of one C by ranges of columns across threads (each task passes
/// `c + j0` and its own `n`). Checks the kernel and B like [`spmm`] (panicking on a mismatch).
///
/// # Safety
/// `ldc ≥ n` (when m > 1), and for every `i < m`, `j < n`, `c + i·ldc + j` is valid for writes and
/// not read or written by anyone else until this returns.
#[allow(clippy::too_many_arguments)]
pub unsafe fn spmm_strided(isa: Isa, a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    let kernel = spmm_kernel_for_n(isa, a.layout(), a.value_type(), n);
    check_kernel(&kernel, a);
    check_b(a, b, ldb, n, ldc);
    if n == 0 || a.m() == 0 {
        return;
    }
    // SAFETY: ISA, layout and value type checked above, B by `check_b`; C is the caller's contract.
    unsafe { run_with_act(&kernel, a, b, ldb, n, c, ldc, act) }
}
