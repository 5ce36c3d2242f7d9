//! Dense f32 GEMM: `C[m×n] = act(A[m×k] · B[k×n] + bias)`.
//!
//! Contract:
//! - `A` and `B` are strided views ([`MatRef`]): element (i, j) is `data[i*rs + j*cs]`, so a
//!   transposed operand is just swapped strides. `C` is row-major with row stride `rs` (unit column
//!   stride).
//! - `bias` is per row of C (conv output channel) or per column (Gemm/MatMul output feature).
//! - `scratch` is caller-provided working memory of at least [`sgemm_scratch_len`] f32 elements;
//!   kernels never allocate. Up to [`sgemm_scratch_wanted`] elements, more is put to use (one
//!   K block instead of two for some in-place shapes); the result is the same either way.
//! - Packed path (BLIS-style): B is packed per `kc × nc` block into `NR`-wide column panels, A per
//!   `mc × kc` block into `MR`-tall row panels (both zero-padded to whole tiles), inside `scratch`
//!   at 64-byte aligned offsets. A register-tiled microkernel (`MR × NR` accumulators) computes one
//!   tile over one `kc` block; the bias and the clamp-style activations (None, Relu, Clamp) are
//!   fused into its store after the last `kc` block, the others are applied by the driver with
//!   the scalar [`Activation::apply`] on the tile while it is still in L1.
//! - In-place A: an f32 A with unit column stride (row-major conv/MatMul weights, any row stride)
//!   is not packed; a [`GemmUkrRows`] variant of the microkernel reads the `MR` rows of a tile at
//!   `a + r·lda` directly, saving one read+write pass over the weights per `nc` block and run
//!   (1.3x on the n = 49 layers; used for k >= 128, see `driver`). Transposed, strided or f16 A is
//!   packed as before.
//!   [`APath`] forces either path; [`sgemm_scratch_len`] stays the bound of the packed path, which
//!   needs more.
//! - `m == 1` or `n == 1` (matrix-vector) use a GEMV path that needs no scratch.
//! - Every entry point checks slice lengths against the shapes and panics on a mismatch before any
//!   unchecked access, so a wrong call can never read or write out of bounds.
//! - f16 operands ([`sgemm_mixed`], [`MatRefF16`]: IEEE binary16 bits): the packed path widens
//!   them while packing (the panels are f32, the microkernels unchanged); the GEMV path
//!   (`m == 1` or `n == 1`, batch-1 MatMul, bandwidth bound) uses the f16 GEMV kernels of
//!   [`gemv_f16`], which load f16 and widen in registers. Every f16 value is an f32, so the
//!   result is that of the f32 GEMM on the widened operands, up to summation order.
//! - im2col operands ([`Operand::Im2col`], [`Im2colRef`]; B only, see [`im2col`]): the packed
//!   path packs B's panels straight from the conv input image, so the `[c·kh·kw × oh·ow]` matrix
//!   is never written; `m == 1` or `n == 1` (and ISAs without a kernel) take a scalar loop that
//!   steps through the image without divisions.
pub mod gemv_f16;
pub mod im2col;
pub mod scalar;

mod driver;
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

use crate::{Activation, Isa};
pub use im2col::{ConvGeom, Im2colRef};

/// A strided read-only f32 matrix view.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Distance in elements between rows.
    pub rs: usize,
    /// Distance in elements between columns.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major `rows × cols` view.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Panics unless every element addressed by the view lies inside `data`.
    pub fn check(&self) {
        self.check_len(self.data.len())
    }

    /// Panics unless every element addressed by the shape and strides is below `len`.
    fn check_len(&self, len: usize) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1)
                .checked_mul(self.rs)
                .and_then(|r| (self.cols - 1).checked_mul(self.cs).and_then(|c| r.checked_add(c)))
                .expect("matrix view overflows");
            assert!(last < len, "matrix view out of bounds");
        }
    }

    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// A strided read-only matrix view of f16 values (IEEE binary16 bits), laid out like [`MatRef`].
#[derive(Clone, Copy, Debug)]
pub struct MatRefF16<'a> {
    pub data: &'a [u16],
    pub rows: usize,
    pub cols: usize,
    /// Distance in elements between rows.
    pub rs: usize,
    /// Distance in elements between columns.
    pub cs: usize,
}

impl<'a> MatRefF16<'a> {
    /// Row-major `rows × cols` view.
    pub fn row_major(data: &'a [u16], rows: usize, cols: usize) -> Self {
        MatRefF16 { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRefF16 { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Panics unless every element addressed by the view lies inside `data`.
    pub fn check(&self) {
        MatRef { data: &[], rows: self.rows, cols: self.cols, rs: self.rs, cs: self.cs }.check_len(self.data.len());
    }

    /// Element (i, j) widened to f32.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        crate::f16::f16_to_f32(self.data[i * self.rs + j * self.cs])
    }
}

/// A GEMM operand stored as f32 or as f16.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a> {
    F32(MatRef<'a>),
    F16(MatRefF16<'a>),
    /// The im2col matrix of a conv input, never materialized (B operand only).
    Im2col(Im2colRef<'a>),
}

impl Operand<'_> {
    pub fn rows(&self) -> usize {
        match self {
            Operand::F32(m) => m.rows,
            Operand::F16(m) => m.rows,
            Operand::Im2col(m) => m.rows(),
        }
    }
    pub fn cols(&self) -> usize {
        match self {
            Operand::F32(m) => m.cols,
            Operand::F16(m) => m.cols,
            Operand::Im2col(m) => m.cols,
        }
    }
    /// Panics unless every element addressed by the view lies inside its data.
    pub fn check(&self) {
        match self {
            Operand::F32(m) => m.check(),
            Operand::F16(m) => m.check(),
            Operand::Im2col(m) => m.check(),
        }
    }
    /// Element (i, j) as f32.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        match self {
            Operand::F32(m) => m.at(i, j),
            Operand::F16(m) => m.at(i, j),
            Operand::Im2col(m) => m.at(i, j),
        }
    }
    /// The transposed view (no copy). Panics on an im2col operand (it has no transposed view).
    pub fn t(self) -> Self {
        match self {
            Operand::F32(m) => Operand::F32(m.t()),
            Operand::F16(m) => Operand::F16(m.t()),
            Operand::Im2col(_) => panic!("gemm: an im2col operand cannot be transposed"),
        }
    }
}

/// Element access for packing, over f32 and f16 storage (offsets in elements).
pub(crate) trait PackSrc: Copy {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    fn rs(&self) -> usize;
    fn cs(&self) -> usize;
    fn get(&self, off: usize) -> f32;
    /// `len` consecutive elements from `off`, as f32.
    fn run(&self, off: usize, len: usize) -> impl Iterator<Item = f32>;
    /// `dst.len()` consecutive elements from `off`.
    fn copy_run(&self, off: usize, dst: &mut [f32]);
    /// The storage and row stride of an f32 operand with unit column stride (rows readable in
    /// place by a [`GemmUkrRows`] kernel), else None.
    fn f32_rows(&self) -> Option<(&[f32], usize)> {
        None
    }
}

impl PackSrc for MatRef<'_> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn rs(&self) -> usize {
        self.rs
    }
    fn cs(&self) -> usize {
        self.cs
    }
    #[inline]
    fn get(&self, off: usize) -> f32 {
        self.data[off]
    }
    #[inline]
    fn run(&self, off: usize, len: usize) -> impl Iterator<Item = f32> {
        self.data[off..off + len].iter().copied()
    }
    #[inline]
    fn copy_run(&self, off: usize, dst: &mut [f32]) {
        dst.copy_from_slice(&self.data[off..off + dst.len()]);
    }
    fn f32_rows(&self) -> Option<(&[f32], usize)> {
        (self.cs == 1).then_some((self.data, self.rs))
    }
}

/// An f16 operand plus the ISA whose conversion widens contiguous runs.
#[derive(Clone, Copy)]
pub(crate) struct F16Src<'a> {
    m: MatRefF16<'a>,
    isa: Isa,
}

impl PackSrc for F16Src<'_> {
    fn rows(&self) -> usize {
        self.m.rows
    }
    fn cols(&self) -> usize {
        self.m.cols
    }
    fn rs(&self) -> usize {
        self.m.rs
    }
    fn cs(&self) -> usize {
        self.m.cs
    }
    #[inline]
    fn get(&self, off: usize) -> f32 {
        crate::f16::f16_to_f32(self.m.data[off])
    }
    #[inline]
    fn run(&self, off: usize, len: usize) -> impl Iterator<Item = f32> {
        self.m.data[off..off + len].iter().map(|&h| crate::f16::f16_to_f32(h))
    }
    #[inline]
    fn copy_run(&self, off: usize, dst: &mut [f32]) {
        crate::f16::widen(self.isa, &self.m.data[off..off + dst.len()], dst);
    }
}

/// A row-major mutable f32 matrix view with row stride `rs`.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
}

impl<'a> MatMut<'a> {
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        MatMut { data, rows, cols, rs: cols }
    }

    /// Panics unless every element addressed by the view lies inside `data`.
    pub fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            assert!(self.cols <= self.rs || self.rows == 1, "row stride smaller than a row");
            let last = (self.rows - 1)
                .checked_mul(self.rs)
                .and_then(|r| r.checked_add(self.cols - 1))
                .expect("matrix view overflows");
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// Bias added before the activation.
#[derive(Clone, Copy, Debug)]
pub enum Bias<'a> {
    None,
    /// One value per row of C (length m).
    Row(&'a [f32]),
    /// One value per column of C (length n).
    Col(&'a [f32]),
}

impl Bias<'_> {
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        match self {
            Bias::None => 0.0,
            Bias::Row(b) => b[i],
            Bias::Col(b) => b[j],
        }
    }

    pub fn check(&self, m: usize, n: usize) {
        match self {
            Bias::None => {}
            Bias::Row(b) => assert!(b.len() >= m, "row bias shorter than m"),
            Bias::Col(b) => assert!(b.len() >= n, "column bias shorter than n"),
        }
    }
}

/// Per-tile parameters handed to a microkernel; arch-neutral, the kernels broadcast them.
///
/// The microkernel computes `acc = Apanel · Bpanel` (an `MR × NR` tile over `kc`) and then, for the
/// `mr × nr` top-left part only: `v = acc (+ C if accumulate) (+ bias_row[i]) (+ bias_col[j])`,
/// `v = min(max(v, lo), hi)` if `clamp`, and stores `v` to `C`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Tile {
    /// Top-left element of the C tile.
    pub c: *mut f32,
    /// Row stride of C in elements.
    pub rs_c: usize,
    /// Valid rows (1..=MR) and columns (1..=NR) of the tile.
    pub mr: usize,
    pub nr: usize,
    /// Add the existing C values (every `kc` block after the first).
    pub accumulate: bool,
    /// Apply `min(max(v, lo), hi)`.
    pub clamp: bool,
    pub lo: f32,
    pub hi: f32,
    /// Null, or `mr` per-row bias values.
    pub bias_row: *const f32,
    /// Null, or `nr` per-column bias values.
    pub bias_col: *const f32,
}

/// A GEMM microkernel: `a` is a packed `MR × kc` panel (`kc` groups of `MR` values), `b` a packed
/// `kc × NR` panel (`kc` groups of `NR` values).
///
/// # Safety
/// The CPU supports the kernel's ISA; `a` and `b` are readable for `kc*MR` and `kc*NR` floats;
/// `t.c` is writable for `t.mr` rows of `t.nr` floats at stride `t.rs_c`; non-null bias pointers
/// are readable for `t.mr` / `t.nr` floats; `1 <= t.mr <= MR`, `1 <= t.nr <= NR`.
pub type GemmUkr = unsafe fn(kc: usize, a: *const f32, b: *const f32, t: &Tile);

/// A GEMM microkernel reading A in place (no packing): row `r < t.mr` of the tile is `kc`
/// contiguous floats at `a + r*lda` (a row-major f32 A, e.g. conv weights); `b` is a packed
/// `kc × NR` panel as for [`GemmUkr`]. Rows `t.mr..MR` are never read.
///
/// # Safety
/// As [`GemmUkr`], with `a + r*lda` readable for `kc` floats for every `r < t.mr`.
pub type GemmUkrRows = unsafe fn(kc: usize, a: *const f32, lda: usize, b: *const f32, t: &Tile);

/// Arguments of a GEMV kernel: `y[j*ys] = Σ_p x[p*xs] · M[p, j]` for `j < n`, `p < k`, where
/// `M[p, j]` is `mat[p*stride + j]` (`gemv_rows`: rows contiguous) or `mat[p + j*stride]`
/// (`gemv_cols`: columns contiguous; requires `xs == 1`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Gemv {
    pub k: usize,
    pub n: usize,
    pub x: *const f32,
    pub xs: usize,
    pub mat: *const f32,
    pub stride: usize,
    pub y: *mut f32,
    pub ys: usize,
}

/// A GEMV kernel (see [`Gemv`]).
///
/// # Safety
/// The CPU supports the kernel's ISA; every addressed element of x, M and y is in bounds.
pub type GemvFn = unsafe fn(v: &Gemv);

/// One row of the GEMM kernel table.
#[derive(Clone, Copy, Debug)]
pub struct GemmKernel {
    pub name: &'static str,
    pub isa: Isa,
    pub mr: usize,
    pub nr: usize,
    /// Cache blocking: depth of a packed block, rows of packed A, columns of packed B.
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
    pub ukr: GemmUkr,
    /// The same tile reading a row-major f32 A in place, if the ISA has one; the driver uses it
    /// where it measured faster than packing A (see `driver::sgemm_packed_path`).
    pub ukr_rows: Option<GemmUkrRows>,
    /// Matrix-vector kernels for `m == 1` or `n == 1`.
    pub gemv_rows: GemvFn,
    pub gemv_cols: GemvFn,
}

/// The GEMM kernel table of this target: dispatch uses the first row of an ISA; tests and benches
/// iterate all rows. Without std the ISA is fixed at compile time ([`Isa::available`]), so only
/// the rows the target features allow are compiled: a row is a reference that keeps its kernels
/// in the embedded library (the size guard of scripts/test-embedded.sh).
#[cfg(target_arch = "x86_64")]
pub const GEMM_KERNELS: &[GemmKernel] = &[
    #[cfg(any(feature = "std", target_feature = "avx512f"))]
    avx512::SGEMM_12X32_AVX512,
    #[cfg(any(feature = "std", target_feature = "avx2"))]
    avx2::SGEMM_6X16_AVX2,
    #[cfg(any(feature = "std", target_feature = "avx512f"))]
    avx512::SGEMM_8X32_AVX512,
];
#[cfg(target_arch = "aarch64")]
pub const GEMM_KERNELS: &[GemmKernel] = &[neon::SGEMM_8X8_NEON];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const GEMM_KERNELS: &[GemmKernel] = &[];

/// The kernel `sgemm` uses for `isa`, if this target has one.
pub fn kernel_for(isa: Isa) -> Option<&'static GemmKernel> {
    GEMM_KERNELS.iter().find(|k| k.isa == isa)
}

/// f32 elements of scratch that [`sgemm`] needs for these sizes, for any ISA (the maximum over
/// the table; the scalar and GEMV paths need none).
pub fn sgemm_scratch_len(m: usize, n: usize, k: usize) -> usize {
    GEMM_KERNELS.iter().map(|kr| driver::packed_scratch_len(kr, m, n, k)).max().unwrap_or(0)
}

/// f32 elements of scratch that [`sgemm`] can put to use for these sizes (at least
/// [`sgemm_scratch_len`], which stays enough): with this much, an in-place A of at most 256
/// columns and 512 deep takes K in one block instead of two (see `driver`). Planners that can
/// afford it give this; any length from [`sgemm_scratch_len`] up works.
pub fn sgemm_scratch_wanted(m: usize, n: usize, k: usize) -> usize {
    GEMM_KERNELS.iter().map(|kr| driver::wanted_scratch_len(kr, m, n, k)).max().unwrap_or(0)
}

fn check_args(a: &MatRef, b: &MatRef, c: &MatMut, bias: &Bias) {
    assert_eq!(a.cols, b.rows, "gemm: A columns != B rows");
    assert_eq!(a.rows, c.rows, "gemm: A rows != C rows");
    assert_eq!(b.cols, c.cols, "gemm: B columns != C columns");
    a.check();
    b.check();
    c.check();
    bias.check(c.rows, c.cols);
}

/// `C = act(A·B + bias)` with the kernel for `isa` (which must be available on this CPU; the
/// scalar one is used when it is not).
pub fn sgemm(isa: Isa, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    check_args(&a, &b, &c, &bias);
    match kernel_for(isa) {
        Some(kr) if isa.available() => driver::sgemm_with(kr, a, b, c, bias, act, scratch),
        _ => scalar::sgemm_ref(a, b, c, bias, act),
    }
}

/// `C = act(A·B + bias)` with one table row (tests and benches force a kernel this way).
///
/// Panics if the CPU lacks the row's ISA (check `kernel.isa.available()` first) or if `scratch`
/// is shorter than [`sgemm_scratch_len`].
pub fn sgemm_with(kernel: &GemmKernel, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    check_args(&a, &b, &c, &bias);
    assert!(kernel.isa.available(), "gemm: {} needs {}, which this CPU lacks", kernel.name, kernel.isa.name());
    driver::sgemm_with(kernel, a, b, c, bias, act, scratch)
}

/// How the packed-path driver treats A (tests and benches force one; [`sgemm`] uses `Auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum APath {
    /// Read a row-major f32 A in place where that measured faster for the shape, else pack it.
    Auto,
    /// Always pack A.
    Packed,
    /// Read A in place whenever possible (f32 A with unit column stride and a kernel that has
    /// [`GemmKernel::ukr_rows`]), else pack it.
    InPlace,
}

/// [`sgemm_with`] with the A path forced (tests and benches compare the paths this way). Same
/// panics as [`sgemm_with`]; the scratch bound [`sgemm_scratch_len`] covers every path.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with_path(kernel: &GemmKernel, path: APath, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    check_args(&a, &b, &c, &bias);
    assert!(kernel.isa.available(), "gemm: {} needs {}, which this CPU lacks", kernel.name, kernel.isa.name());
    driver::sgemm_with_path(kernel, path, a, b, c, bias, act, scratch)
}

/// f32 elements of scratch that [`sgemm_mixed`] needs (the same as [`sgemm_scratch_len`]: the
/// packed panels are f32 whatever the operands' storage).
pub fn sgemm_mixed_scratch_len(m: usize, n: usize, k: usize) -> usize {
    sgemm_scratch_len(m, n, k)
}

/// `C = act(A·B + bias)` where each operand is stored as f32 or f16 (widened exactly; the result
/// is that of [`sgemm`] on the widened operands up to summation order). Two f32 operands go
/// straight to [`sgemm`]. Same panics as [`sgemm`] on mismatched shapes or short scratch.
///
/// B may be [`Operand::Im2col`] (A may not: panics).
pub fn sgemm_mixed(isa: Isa, a: Operand, b: Operand, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    if let (Operand::F32(a), Operand::F32(b)) = (a, b) {
        return sgemm(isa, a, b, c, bias, act, scratch);
    }
    let kr = kernel_for(isa).filter(|_| isa.available());
    mixed(kr, isa, a, b, c, bias, act, scratch)
}

/// [`sgemm_mixed`] with one table row (tests and benches force a kernel this way). Panics if the
/// CPU lacks the row's ISA or `scratch` is shorter than [`sgemm_mixed_scratch_len`].
pub fn sgemm_mixed_with(kernel: &GemmKernel, a: Operand, b: Operand, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    assert!(kernel.isa.available(), "gemm: {} needs {}, which this CPU lacks", kernel.name, kernel.isa.name());
    mixed(Some(kernel), kernel.isa, a, b, c, bias, act, scratch)
}

#[allow(clippy::too_many_arguments)]
fn mixed(kr: Option<&GemmKernel>, isa: Isa, a: Operand, b: Operand, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    assert_eq!(a.rows(), c.rows, "gemm: A rows != C rows");
    assert_eq!(b.cols(), c.cols, "gemm: B columns != C columns");
    check_operands(&a, &b, &bias);
    c.check();
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        return driver::fill_bias(c, bias, act);
    }
    if let (Operand::Im2col(bi), true) = (b, kr.is_none() || m == 1 || n == 1) {
        return im2col::sgemm_scalar(&a, &bi, c, bias, act);
    }
    if m == 1 || n == 1 {
        return gemv_mixed(isa, a, b, c, bias, act);
    }
    let Some(kr) = kr else {
        return scalar::sgemm_mixed_ref(a, b, c, bias, act);
    };
    packed_mixed(kr, isa, a, b, driver::CDst::of(c), bias, act, scratch)
}

/// The checks of A, B and the bias shared by [`sgemm_mixed`] and [`sgemm_mixed_strided`] (C is
/// checked by each: a view or a pointer): A is not im2col, the shapes chain, every view lies
/// inside its data, and the bias covers `m × n`.
fn check_operands(a: &Operand, b: &Operand, bias: &Bias) {
    assert!(!matches!(a, Operand::Im2col(_)), "gemm: an im2col operand can only be B");
    assert_eq!(a.cols(), b.rows(), "gemm: A columns != B rows");
    a.check();
    b.check();
    bias.check(a.rows(), b.cols());
}

/// The packed path over any operand pair (A not im2col; `m, n ≥ 2`, `k ≥ 1`, views checked).
#[allow(clippy::too_many_arguments)]
fn packed_mixed(kr: &GemmKernel, isa: Isa, a: Operand, b: Operand, c: driver::CDst, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    fn f16(m: MatRefF16<'_>, isa: Isa) -> F16Src<'_> {
        F16Src { m, isa }
    }
    match (a, b) {
        (Operand::F16(a), Operand::F32(b)) => driver::sgemm_packed(kr, f16(a, isa), b, c, bias, act, scratch),
        (Operand::F32(a), Operand::F16(b)) => driver::sgemm_packed(kr, a, f16(b, isa), c, bias, act, scratch),
        (Operand::F16(a), Operand::F16(b)) => driver::sgemm_packed(kr, f16(a, isa), f16(b, isa), c, bias, act, scratch),
        (Operand::F32(a), Operand::F32(b)) => driver::sgemm_packed(kr, a, b, c, bias, act, scratch),
        (Operand::F32(a), Operand::Im2col(b)) => driver::sgemm_packed(kr, a, b, c, bias, act, scratch),
        (Operand::F16(a), Operand::Im2col(b)) => driver::sgemm_packed(kr, f16(a, isa), b, c, bias, act, scratch),
        (Operand::Im2col(_), _) => unreachable!("rejected by the callers"),
    }
}

/// [`sgemm_mixed`] writing C through a pointer: element `(i, j)` at `c + i·ldc + j`. This lets
/// several threads each compute a disjoint range of columns of one C (whose rows interleave in
/// memory) straight into it, where slices of those windows would overlap. Only the packed SIMD
/// path is taken: the call returns `false`, having done nothing, unless `m, n ≥ 2`, `k ≥ 1` and
/// `isa` has a kernel row this CPU runs (the caller then uses [`sgemm_mixed`] on a slice).
/// Panics like [`sgemm_mixed`] on mismatched operands, a short bias or scratch, or `ldc < n`.
///
/// # Safety
/// `c + i·ldc + j` must be valid for writes, and read or written by no one else during the call,
/// for every `i < m`, `j < n`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_mixed_strided(isa: Isa, a: Operand, b: Operand, c: *mut f32, ldc: usize, bias: Bias, act: &Activation, scratch: &mut [f32]) -> bool {
    check_operands(&a, &b, &bias);
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    assert!(ldc >= n, "gemm: row stride of C smaller than n");
    let Some(kr) = kernel_for(isa).filter(|_| isa.available()) else {
        return false;
    };
    if m < 2 || n < 2 || k == 0 {
        return false;
    }
    // SAFETY: the caller guarantees elements (i, j), i < m, j < n, at c + i·ldc + j are ours.
    let c = unsafe { driver::CDst::from_raw(c, ldc) };
    packed_mixed(kr, isa, a, b, c, bias, act, scratch);
    true
}

/// `m == 1` or `n == 1`, `k ≥ 1`, with at least one f16 operand: `y[j] = Σ_p x[p] · M[p, j]` with
/// x = row 0 of A and M = B, or x = column 0 of B and M = Aᵀ (then y is column 0 of C). An f32
/// vector against an f16 matrix (the f16-weights case) runs an f16 GEMV kernel; anything else
/// (an f16 vector) the plain loop.
fn gemv_mixed(isa: Isa, a: Operand, b: Operand, c: MatMut, bias: Bias, act: &Activation) {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    let (x, xs, mat, len, ys, row_bias) = if m == 1 {
        (a, a_stride(&a, false), b, n, 1, false)
    } else {
        (b, a_stride(&b, true), a.t(), m, c.rs, true)
    };
    let kr = gemv_f16::gemv_f16_kernel(isa);
    let y = c.data.as_mut_ptr();
    let kernel = match (x, mat) {
        (Operand::F32(xv), Operand::F16(mv)) => {
            let g = |stride| gemv_f16::GemvF16 { k, n: len, x: xv.data.as_ptr(), xs, mat: mv.data.as_ptr(), stride, y, ys };
            if mv.cs == 1 || len == 1 {
                Some((kr.rows, g(mv.rs)))
            } else if mv.rs == 1 && xs == 1 {
                Some((kr.cols, g(mv.cs)))
            } else {
                None
            }
        }
        _ => None,
    };
    match kernel {
        // SAFETY: kr's ISA (with F16C on x86) is available (gemv_f16_kernel checks it); x[p*xs]
        // for p < k, M[p, j] for p < k, j < len and y[j*ys] for j < len are in bounds by the
        // view checks in sgemm_mixed; the cols kernel is only chosen with xs == 1.
        Some((f, g)) => unsafe { f(&g) },
        None => {
            for j in 0..len {
                let mut s = 0.0f32;
                for p in 0..k {
                    let xp = if m == 1 { x.at(0, p) } else { x.at(p, 0) };
                    s += xp * mat.at(p, j);
                }
                c.data[j * ys] = s;
            }
        }
    }
    for j in 0..len {
        let bv = if row_bias { bias.at(j, 0) } else { bias.at(0, j) };
        c.data[j * ys] += bv;
    }
    if ys == 1 {
        act.apply_slice_isa(if isa.available() { isa } else { Isa::Scalar }, &mut c.data[..len]);
    } else {
        for j in 0..len {
            let v = &mut c.data[j * ys];
            *v = act.apply(*v);
        }
    }
}

/// Element stride of the vector operand: along row 0 (`column == false`) or column 0.
fn a_stride(o: &Operand, column: bool) -> usize {
    match (o, column) {
        (Operand::F32(m), false) => m.cs,
        (Operand::F32(m), true) => m.rs,
        (Operand::F16(m), false) => m.cs,
        (Operand::F16(m), true) => m.rs,
        (Operand::Im2col(_), _) => unreachable!("im2col operands take the reference loop"),
    }
}
