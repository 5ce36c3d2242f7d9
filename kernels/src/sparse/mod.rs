//! Sparse kernels and the block-sparse weight encoding.
//!
//! # The encoding (one encoder: [`analyze`] → sizes, [`pack`] → bytes; one reader: [`SparseMatrix::parse`])
//!
//! A weight matrix `W[m×k]` (row-major: output rows × input columns) is cut into blocks of R×C
//! ([`Layout`]): **row blocks** R×1 (R ∈ {1,2,4,8}; R consecutive output rows share one input
//! column, the shape for 1x1 convolutions and batched MatMul; R = 1 is unstructured sparsity) or
//! **reduction blocks** 1×C (C ∈ {4,8}; C consecutive input columns of one row, aligned to
//! multiples of C, for batch-1 matrix-vector products). A block is stored when any of its weights is
//! non-zero (`-0.0` counts as zero). Blocks are grouped by *block row* (R rows for R×1, one row for
//! 1×C), in increasing column order, like CSR/BSR.
//!
//! The blob (all integers little-endian; offsets and sizes in **bytes** from the blob start):
//! ```text
//! off 0    SparseHeader, 64 B: magic "SPSM", major 1, minor 0, header_size, total_size, m, k,
//!          layout kind (1 = R×1, 2 = 1×C), R, C, index bytes (2|4), dtype (1 = f32, 2 = f16),
//!          flags (bit 0 = bias), nnz_blocks, block_rows, ptr_off, idx_off, val_off, bias_off (0 = none)
//! ptr_off  u32 × (block_rows + 1): blocks of block row i are ptr[i]..ptr[i+1]  (ptr[0] = 0)
//! idx_off  u16|u32 × nnz_blocks: first input column of each block, in elements
//! val_off  f32|u16 × nnz_blocks·R·C: each block's values row-major inside the block (u16 = IEEE
//!          binary16 bits for dtype 2, rounded to nearest even from the f32 weights)
//! bias_off f32 × m (only with flag bit 0)
//! ```
//! Every section starts at a multiple of 64 bytes from the blob start (so values are 64-aligned
//! when the blob is, as in a `.sprig` Data section) and `total_size` is padded to 64; padding bytes
//! are zero. All offsets are fixed by (m, k, layout, nnz_blocks, bias, index width), and the
//! reader requires exactly those, which rules out overlapping or out-of-range sections.
//!
//! Padding inside blocks: rows ≥ m of the last R×1 block row and columns ≥ k of a 1×C block that
//! straddles k are stored as zero and **never read against** data: kernels compute but do not
//! store rows ≥ m, and never read input columns ≥ k. There is **no over-read** of `B`/`x`/`C`/`y`
//! beyond the shapes given to a kernel.
//!
//! Indices are u16 when k ≤ 65536 (every column index < 65536), else u32. Absolute indices rather
//! than deltas: at 90 % sparsity a 4×1 block costs 16 B of values + 2 B of index (an 8-bit delta
//! would save 1 B, ~5 %, while adding a serial dependency and an escape code for gaps ≥ 256, which
//! are common at 95 % sparsity with k = 3072); for unstructured blocks u16 indices are 1/3 of the
//! stream and random-access, which keeps the AVX-512/AVX2 gather SpMV simple.
//!
//! The reader ([`SparseMatrix::parse`]) treats the bytes as hostile: magic, version, dtype,
//! layout, index width, every count and offset (checked arithmetic), pointer monotonicity,
//! `indices < k`, indices strictly increasing within a block row and aligned to C. A
//! [`SparseMatrix`] therefore lets kernels index without bounds checks. Limits: m, k < 2³¹,
//! blob < 4 GiB.
//!
//! # Kernels
//! [`spmm()`] (`C = act(W·B + bias)`, vectorised along N) and [`spmv()`] (`y = act(W·x + bias)`), each
//! a table of kernels ([`SPMM_KERNELS`], [`SPMV_KERNELS`]) with a scalar reference and AVX2+FMA,
//! AVX-512 and NEON versions. Every row carries the value type it reads (`dtype`); the f16 rows run
//! the same generic bodies with a widening weight load (F16C `vcvtph2ps` on x86, so they also
//! need the `f16c` feature, see [`kernel_available`]; `fcvtl` on aarch64), and the entry points
//! dispatch on [`SparseMatrix::value_type`]. A block is stored when one of its **f32** weights is
//! non-zero, also when it rounds to zero in f16.
pub mod encode;
pub(crate) mod simd;
pub mod spmm;
pub mod spmv;

pub use encode::{analyze, analyze_as, pack, pack_as, EncodeError, Indices, Layout, SparseHeader, SparseMatrix, SparseStats, ValueType};
pub use spmm::{spmm, spmm_strided, spmm_with, SpmmFn, SpmmKernel, SPMM_KERNELS};
pub use spmv::{spmv, spmv_with, SpmvFn, SpmvKernel, SPMV_KERNELS};

use crate::{Activation, Isa};

/// Which block shapes a kernel accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockSel {
    /// Every layout (the scalar references).
    Any,
    Only(Layout),
}

impl BlockSel {
    pub fn accepts(self, l: Layout) -> bool {
        match self {
            BlockSel::Any => true,
            BlockSel::Only(x) => x == l,
        }
    }
}

/// Whether a kernel row of `isa` for values stored as `dtype` can run on this CPU (f16 rows on
/// x86 also need F16C).
pub fn kernel_available(isa: Isa, dtype: ValueType) -> bool {
    match dtype {
        ValueType::F32 => isa.available(),
        ValueType::F16 => crate::f16::hw_available(isa),
    }
}

/// Whether a SIMD entry runs its kernel without `act` and then applies `act` over the output with
/// the vectorised `vmath` kernels of `isa` (see `spmm::run_with_act`): for the transcendental kinds
/// (GELU, sigmoid, tanh), which the kernels' epilogues would apply per element with the scalar
/// `Activation::apply`. The scalar reference keeps `act` inside.
fn act_after_kernel(isa: Isa, act: &Activation) -> bool {
    isa != Isa::Scalar && act.vmath_func().is_some()
}

/// Panics unless the kernel row `name` (of `isa`, taking `block` blocks of `dtype` values) can
/// run on this CPU (for f16: with F16C) and accepts `a`'s value type and layout: the checks the
/// SpMM and SpMV `*_with` entry points make before their unsafe call.
fn assert_kernel_runs(name: &str, isa: Isa, block: BlockSel, dtype: ValueType, a: &SparseMatrix) {
    assert!(kernel_available(isa, dtype), "{name}: CPU lacks {} ({})", isa.name(), dtype.name());
    assert_eq!(dtype, a.value_type(), "{name}: wrong value type");
    assert!(block.accepts(a.layout()), "{name}: does not take {} blocks", a.layout());
}

/// Picks the table row for `isa`, `layout` and `dtype`: an exact ISA match first, then (for
/// AVX-512, whose CPUs also run AVX2) an AVX2 row, then the scalar reference; ISAs this CPU cannot
/// run (for f16: without F16C) are skipped.
fn select<T: Copy>(rows: &[T], isa: Isa, layout: Layout, dtype: ValueType, key: impl Fn(&T) -> (Isa, BlockSel, ValueType)) -> T {
    let chain: &[Isa] = match isa {
        Isa::Avx512 => &[Isa::Avx512, Isa::Avx2, Isa::Scalar],
        Isa::Avx2 => &[Isa::Avx2, Isa::Scalar],
        Isa::Neon => &[Isa::Neon, Isa::Scalar],
        Isa::Scalar => &[Isa::Scalar],
    };
    for w in chain.iter().filter(|i| kernel_available(**i, dtype)) {
        if let Some(r) = rows.iter().find(|r| {
            let (i, b, d) = key(r);
            i == *w && b.accepts(layout) && d == dtype
        }) {
            return *r;
        }
    }
    unreachable!("every table has a scalar row for every layout and value type")
}
