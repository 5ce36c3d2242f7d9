//! Direct stride-2 convolution over few input channels: the stem of most image networks
//! (MobileNet 3x3/2 over RGB, ResNet 7x7/2), where the im2col GEMM is a poor fit.
//!
//! Contract: `x` is one image `[c, h, w]`, `w` is `[m, c, kh, kw]` (group 1), `bias` is `[m]`,
//! `y` is `[m, oh, ow]`, all contiguous; padding is implicit zeros; geometry as [`ConvGeom`]
//! with stride 2 and dilation 1 in both directions ([`fits`]). A call computes output rows
//! `rows` of every channel, so threads can split a layer by rows.
//!
//! Why not the GEMM: with k = c·kh·kw = 27 (MobileNet) the GEMM packs a 27 × 12544 im2col panel
//! from a stride-2 gather (a fifth of the layer) and then runs short k loops. Here each input row
//! is split once into its even and odd columns (in `scratch`, a ring of `kh` rows per
//! channel, zero-padded at both ends), so every tap of a vector of output columns is one
//! contiguous load: output `(oy, ox)`, tap `(ky, kx)` reads input column `2·ox + kx − pl`, which
//! is column `ox + e` of phase `p`, where `kx − pl = 2·e + p`. Register tiles are `MR` output
//! channels × `NV` vectors of output columns; each tap loads `NV` vectors and broadcasts `MR`
//! weights. The accumulation order (channel, ky, kx) is the im2col GEMM's k order.
// Every entry takes the same argument list (geometry, m, x, w, bias, act, rows, y, scratch).
#![allow(clippy::too_many_arguments)]
pub mod scalar;

// The SIMD body, instantiated per ISA below (std builds only: embedded builds keep the GEMM
// path and its code size, see README "Embedding").
#[cfg(all(feature = "std", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod generic;

pub use crate::geom::ConvGeom;
use crate::{Activation, Isa};

/// Largest `c · kh · kw` (taps per output) [`fits`] accepts: a ResNet 7x7 stem over RGB is 147.
pub const MAX_TAPS: usize = 256;
/// Largest input channel count [`fits`] accepts (RGB, RGBA): the staged rows of every channel
/// (`c · kh` rows of both phases) should stay in L1.
pub const MAX_C: usize = 4;
/// Output columns are computed in whole vectors of up to this many lanes (reads past `ow` land
/// in the staged rows' zero padding; stores are masked).
const MAX_LANES: usize = 16;

/// Whether `g` is a convolution this family computes: stride 2, dilation 1, at most [`MAX_C`]
/// input channels and [`MAX_TAPS`] taps, non-empty.
pub fn fits(g: &ConvGeom) -> bool {
    g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 && (1..=MAX_C).contains(&g.c) && g.kh >= 1 && g.kw >= 1 && g.kh.checked_mul(g.kw).is_some_and(|t| t * g.c <= MAX_TAPS) && g.h >= 1 && g.w >= 1 && g.oh >= 1 && g.ow >= 1
}

/// Left zero padding of a staged row (phase column `j` is stored at `left(g) + j`): the most
/// negative `e` of a tap is `⌊−pl / 2⌋`.
fn left(g: &ConvGeom) -> usize {
    g.pl.div_ceil(2)
}

/// Length of one staged phase row: room for whole vectors over `ow` at the largest tap offset,
/// and for every input column of the phase.
pub(crate) fn stage_width(g: &ConvGeom) -> usize {
    let e_max = g.kw.saturating_sub(1).saturating_sub(g.pl) / 2;
    (left(g) + g.ow.next_multiple_of(MAX_LANES) + e_max).max(left(g) + g.w.div_ceil(2))
}

/// Staged rows per channel: a ring of `kh` slots, row `iy` in slot `iy mod kh`. An output row
/// reads rows `2·oy − pt .. +kh`; the next one's two new rows take the slots of the two rows it
/// no longer reads.
fn ring(g: &ConvGeom) -> usize {
    g.kh
}

/// Most output channels per register tile of any kernel (the weights are repacked per tile of
/// channels, rounded up to it).
const MAX_MR: usize = 8;

/// f32 elements of the staged rows.
fn stage_len(g: &ConvGeom) -> usize {
    g.c * ring(g) * 2 * stage_width(g)
}

/// f32 elements of scratch one call needs for `m` output channels: the staged rows, then the
/// weights repacked tap-major per tile of channels (`[⌈m/MR⌉][taps][MR]`, MR ≤ `MAX_MR`).
pub fn scratch_len(g: &ConvGeom, m: usize) -> usize {
    stage_len(g) + (m + MAX_MR - 1) * g.c * g.kh * g.kw
}

/// A direct-convolution kernel: output rows `rows` of all `m` channels into `y`.
///
/// # Safety
/// The CPU supports the kernel's ISA; the arguments passed [`check`] (lengths, `fits`), and
/// `y + ch·oh·ow + oy·ow + ox` is valid for writes, and not accessed by anyone else during the
/// call, for every `ch < m`, `oy` in `rows`, `ox < ow`.
pub type DconvFn = unsafe fn(g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, rows: core::ops::Range<usize>, y: *mut f32, scratch: &mut [f32]);

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct DconvKernel {
    /// `dconv_s2_{MR}x{NV·LANES}_{isa}`.
    pub name: &'static str,
    pub isa: Isa,
    pub f: DconvFn,
}

/// Every kernel of this target, the scalar reference first. Dispatch, tests and benches
/// iterate it.
pub const DCONV_KERNELS: &[DconvKernel] = &[
    DconvKernel { name: "dconv_s2_ref_scalar", isa: Isa::Scalar, f: scalar::dconv_rows },
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    DconvKernel { name: "dconv_s2_8x32_avx512", isa: Isa::Avx512, f: x86::dconv_s2_avx512 },
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    DconvKernel { name: "dconv_s2_6x16_avx2", isa: Isa::Avx2, f: x86::dconv_s2_avx2 },
    #[cfg(all(feature = "std", target_arch = "aarch64"))]
    DconvKernel { name: "dconv_s2_4x16_neon", isa: Isa::Neon, f: arm::dconv_s2_neon },
];

/// The table row for `isa`, or the scalar reference when there is none or the CPU lacks `isa`.
pub fn kernel_for(isa: Isa) -> &'static DconvKernel {
    DCONV_KERNELS.iter().find(|k| k.isa == isa && isa.available()).unwrap_or(&DCONV_KERNELS[0])
}

/// Whether this build has a SIMD kernel of the family for `isa` on this CPU. Callers take the
/// family only then: the scalar reference is no faster than the im2col GEMM, and builds
/// without `std` (embedded, size-first) have only the reference.
pub fn has_simd(isa: Isa) -> bool {
    kernel_for(isa).isa != Isa::Scalar
}

/// Whether a group-1 f32 convolution of geometry `g` runs on this family with `isa`: it [`fits`]
/// and there is a SIMD kernel ([`has_simd`]). The runtime's dispatch and the tools' kernel names
/// both ask this.
pub fn takes(isa: Isa, g: &ConvGeom) -> bool {
    has_simd(isa) && fits(g)
}

/// Panics unless the arguments are consistent: `g` fits, `x` holds the image, `w` the `m`
/// filters, `bias` `m` values, `y` `m` output planes, `rows` lies inside `oh`, `scratch` is at
/// least [`scratch_len`].
pub fn check(g: &ConvGeom, m: usize, x: usize, w: usize, bias: Option<usize>, y: usize, rows: &core::ops::Range<usize>, scratch: usize) {
    assert!(fits(g), "dconv: geometry {g:?} is not a stride-2 conv over at most {MAX_C} channels");
    let ohw = g.oh.checked_mul(g.ow).expect("dconv: output size overflows");
    assert!(x >= g.c * g.h * g.w, "dconv: input shorter than c*h*w");
    assert!(w >= m * g.c * g.kh * g.kw, "dconv: weights shorter than m*c*kh*kw");
    assert!(bias.is_none_or(|b| b >= m), "dconv: bias shorter than m");
    assert!(y >= m.checked_mul(ohw).expect("dconv: output size overflows"), "dconv: output shorter than m*oh*ow");
    assert!(rows.start <= rows.end && rows.end <= g.oh, "dconv: rows {rows:?} outside 0..{}", g.oh);
    assert!(scratch >= scratch_len(g, m), "dconv: scratch shorter than scratch_len");
}

/// `y = act(conv(x, w) + bias)`, all output rows, with the kernel for `isa`.
#[allow(clippy::too_many_arguments)]
pub fn dconv_s2(isa: Isa, g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32], scratch: &mut [f32]) {
    dconv_s2_with(kernel_for(isa), g, m, x, w, bias, act, y, scratch)
}

/// [`dconv_s2`] with one table row; panics if the CPU lacks its ISA.
#[allow(clippy::too_many_arguments)]
pub fn dconv_s2_with(kr: &DconvKernel, g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32], scratch: &mut [f32]) {
    assert!(kr.isa.available(), "dconv: {} needs {}, which this CPU lacks", kr.name, kr.isa.name());
    let rows = 0..g.oh;
    check(g, m, x.len(), w.len(), bias.map(|b| b.len()), y.len(), &rows, scratch.len());
    // SAFETY: checked above; `y` is borrowed exclusively and holds all m·oh·ow outputs.
    unsafe { (kr.f)(g, m, x, w, bias, act, rows, y.as_mut_ptr(), scratch) }
}

/// Output rows `rows` of every channel, written through `y` (several threads can each take a
/// range of rows of one output).
///
/// # Safety
/// `y + ch·oh·ow + oy·ow + ox` must be valid for writes, and not accessed by anyone else during
/// the call, for every `ch < m`, `oy` in `rows`, `ox < ow`. Everything else is checked (panics).
#[allow(clippy::too_many_arguments)]
pub unsafe fn dconv_s2_rows(isa: Isa, g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, rows: core::ops::Range<usize>, y: *mut f32, scratch: &mut [f32]) {
    let kr = kernel_for(isa);
    check(g, m, x.len(), w.len(), bias.map(|b| b.len()), usize::MAX, &rows, scratch.len());
    // SAFETY: checked above except `y`, which is this function's own contract.
    unsafe { (kr.f)(g, m, x, w, bias, act, rows, y, scratch) }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x86 {
    use super::generic;
    use crate::geom::ConvGeom;
    use crate::sparse::simd::x86::{F32x16, F32x8};
    use crate::Activation;

    /// # Safety
    /// CPU with `avx512f,avx2,fma`; the [`super::DconvFn`] contract.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dconv_s2_avx512(g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, rows: core::ops::Range<usize>, y: *mut f32, scratch: &mut [f32]) {
        // SAFETY: this entry's features provide F32x16; the contract is the caller's.
        unsafe { generic::run::<F32x16, 8, 2>(g, m, x, w, bias, act, rows, y, scratch) }
    }

    /// 6 channels x 16 columns: 12 accumulators, per tap 2 loads and 6 broadcasts for 12 FMAs
    /// (4x16 had 8 accumulators and 6 loads per 8 FMAs). 4x16 time / 6x16 time, one process,
    /// calls alternating (400 pairs, median of the per-pair ratios, two runs, AVX2, EPYC Zen 4,
    /// 2026-12-07): MobileNet stem (m = 32, two of 36 tile channels idle) 1.055x and 1.057x,
    /// ResNet 7x7 stem (m = 64) 1.085x and 1.096x. 4x24 (3 vectors) and 8x8 were slower than
    /// 4x16 (0.65–0.97x and 0.76–0.86x GEMM/direct against its 0.90–1.03x, `dconv_ab`).
    ///
    /// # Safety
    /// CPU with `avx2,fma`; the [`super::DconvFn`] contract.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dconv_s2_avx2(g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, rows: core::ops::Range<usize>, y: *mut f32, scratch: &mut [f32]) {
        // SAFETY: this entry's features provide F32x8; the contract is the caller's.
        unsafe { generic::run::<F32x8, 6, 2>(g, m, x, w, bias, act, rows, y, scratch) }
    }
}

#[cfg(all(feature = "std", target_arch = "aarch64"))]
mod arm {
    use super::generic;
    use crate::geom::ConvGeom;
    use crate::sparse::simd::arm::F32x4;
    use crate::Activation;

    /// # Safety
    /// CPU with NEON (every aarch64 target sprig builds for); the [`super::DconvFn`] contract.
    #[target_feature(enable = "neon")]
    pub unsafe fn dconv_s2_neon(g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, rows: core::ops::Range<usize>, y: *mut f32, scratch: &mut [f32]) {
        // SAFETY: NEON provides F32x4; the contract is the caller's.
        unsafe { generic::run::<F32x4, 4, 4>(g, m, x, w, bias, act, rows, y, scratch) }
    }
}
