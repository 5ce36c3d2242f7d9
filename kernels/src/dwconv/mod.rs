//! Depthwise 2-D convolution (one filter per channel, channel multiplier 1), NCHW, batch 1.
//!
//! Contract: `x` is `[c, h, w]`, `w` is `[c, kh, kw]`, `y` is `[c, oh, ow]`, all contiguous.
//! Padding is implicit zeros. Lengths are checked on entry (panic on mismatch, before any
//! unchecked access).
//!
//! 3x3 undilated convolutions of stride 1 or 2 (the MobileNet depthwise layers) take the 3x3
//! table ([`DWCONV3X3_KERNELS`], [`kernel3x3_for`]) when 3 padded rows fit the 8 KiB stack buffer:
//! a band of output rows at a time, over a zero-padded copy of its input rows (written by the
//! kernel's vector [`PadFn`]), the 9 taps and the bias in registers and four output rows per
//! pass over the padded rows (each padded row loaded once per vector for up to three output
//! rows); channels whose whole padded plane fits twice are copied one channel ahead in two
//! alternating slots. 2.8–6.3x over the row kernels below per MobileNetV1 depthwise layer, 4.8x
//! on their sum (AVX2, `sprig bench`; BENCHMARKS.md, "Depthwise 3x3 kernels").
//!
//! Other geometries use the row kernels ([`DWCONV_KERNELS`]), which vectorise along the output
//! width. Each channel is computed over a zero-padded
//! stack copy of its plane (rows rounded up to whole vectors) when that fits in 4 KiB, else each
//! output row over a padded copy of its `kh` input rows, so every output is interior; only
//! geometries whose band exceeds 4 KiB use interior vectors plus per-vector edge copies (and the
//! scalar per-pixel code beyond that). Stride 1 uses plain loads, stride 2 loads
//! two vectors and keeps the even lanes (the second load is masked so it never reads past the
//! last tap), larger strides gather. Bias and clamp-like activations are fused; the others are
//! applied with the scalar [`Activation::apply`] on the row.
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

use crate::{Activation, Isa};

/// Geometry of a depthwise convolution: the one convolution geometry of this crate (`c` is all
/// the channels, one filter each), under the name this module has always used.
pub use crate::geom::ConvGeom as DwGeom;

/// One output row's interior for a vector kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DwRow {
    /// The channel's input plane (`h × w`) and filter (`kh × kw`).
    pub x: *const f32,
    pub w: *const f32,
    /// The output row (`ow` values).
    pub y: *mut f32,
    pub oy: usize,
    /// Interior columns: every tap of `ox0 <= ox < ox1` lies inside the input row.
    pub ox0: usize,
    pub ox1: usize,
    pub bias: f32,
    pub clamp: bool,
    pub lo: f32,
    pub hi: f32,
}

/// A depthwise row kernel: computes whole vectors of outputs from `r.ox0` on, as far as they fit
/// before `r.ox1`, and returns the first column it did not compute.
///
/// # Safety
/// The CPU supports the kernel's ISA; `r.x`, `r.w`, `r.y` point to the channel's plane, filter
/// and output row of geometry `g`; `ox0..ox1` is inside the interior (see [`DwRow`]).
pub type DwRowFn = unsafe fn(g: &DwGeom, r: &DwRow) -> usize;

/// One row of the depthwise kernel table.
#[derive(Clone, Copy, Debug)]
pub struct DwKernel {
    pub name: &'static str,
    pub isa: Isa,
    /// Output columns per vector.
    pub lanes: usize,
    pub row: DwRowFn,
}

/// The depthwise kernel table of this target (dispatch takes the first row of an ISA).
/// Without std only the rows of the compile-time ISA are compiled (see `gemm::GEMM_KERNELS`).
#[cfg(target_arch = "x86_64")]
pub const DWCONV_KERNELS: &[DwKernel] = &[
    #[cfg(any(feature = "std", target_feature = "avx512f"))]
    avx512::DWCONV_16W_AVX512,
    #[cfg(any(feature = "std", target_feature = "avx2"))]
    avx2::DWCONV_8W_AVX2,
];
#[cfg(target_arch = "aarch64")]
pub const DWCONV_KERNELS: &[DwKernel] = &[neon::DWCONV_4W_NEON];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const DWCONV_KERNELS: &[DwKernel] = &[];

pub fn kernel_for(isa: Isa) -> Option<&'static DwKernel> {
    DWCONV_KERNELS.iter().find(|k| k.isa == isa)
}

/// Name of the kernel [`dwconv2d`] runs for `isa` and geometry `g` (what `sprig bench` prints).
pub fn kernel_name(isa: Isa, g: &DwGeom) -> &'static str {
    if !isa.available() {
        return "dwconv_ref_scalar";
    }
    match (kernel3x3_for(isa, g), kernel_for(isa)) {
        (Some(k), _) => k.name,
        (None, Some(k)) if g.kh > 0 && g.kw > 0 => k.name,
        _ => "dwconv_ref_scalar",
    }
}

/// Depthwise convolution with the kernel for `isa` (the scalar reference when this CPU lacks it).
pub fn dwconv2d(isa: Isa, g: &DwGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    g.check_depthwise(x.len(), w.len(), bias.map(|b| b.len()), y.len());
    if let Some(k) = kernel3x3_for(isa, g).filter(|_| isa.available()) {
        return run3x3(k, g, x, |ch, t| t.copy_from_slice(&w[ch * 9..ch * 9 + 9]), bias, act, y);
    }
    match kernel_for(isa) {
        Some(kr) if isa.available() => run(kr, g, x, w, bias, act, y),
        _ => scalar::dwconv2d_ref(g, x, w, bias, act, y),
    }
}

/// Depthwise convolution with one table row; panics if the CPU lacks its ISA.
pub fn dwconv2d_with(kr: &DwKernel, g: &DwGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    g.check_depthwise(x.len(), w.len(), bias.map(|b| b.len()), y.len());
    assert!(kr.isa.available(), "dwconv: {} needs {}, which this CPU lacks", kr.name, kr.isa.name());
    run(kr, g, x, w, bias, act, y)
}

/// Largest filter (`kh·kw` taps) that [`dwconv2d_f16w`] widens into its stack buffer per channel;
/// larger filters take the scalar path (widening each tap where it is used).
pub const F16W_MAX_TAPS: usize = 1024;

/// [`dwconv2d`] with the weights stored as f16 bits (`w` is `[c, kh, kw]` of IEEE binary16): each
/// channel's filter is widened into a stack buffer (no allocation) and run through the f32
/// kernel of `isa` (the 3x3 kernel where [`kernel3x3_for`] has one, else the row kernel on that
/// channel alone), so the result equals [`dwconv2d`] on the widened weights. Filters of more than [`F16W_MAX_TAPS`] taps use the scalar reference per channel.
pub fn dwconv2d_f16w(isa: Isa, g: &DwGeom, x: &[f32], w: &[u16], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    g.check_depthwise(x.len(), w.len(), bias.map(|b| b.len()), y.len());
    if let Some(k) = kernel3x3_for(isa, g).filter(|_| isa.available()) {
        return run3x3(k, g, x, |ch, t| crate::f16::widen(isa, &w[ch * 9..ch * 9 + 9], t), bias, act, y);
    }
    let taps = g.kh * g.kw;
    let (plane, oplane) = (g.h * g.w, g.oh * g.ow);
    let g1 = DwGeom { c: 1, ..*g };
    let kr = match kernel_for(isa) {
        Some(kr) if isa.available() => Some(kr),
        _ => None,
    };
    let mut wbuf = [0f32; F16W_MAX_TAPS];
    for ch in 0..g.c {
        let xc = &x[ch * plane..(ch + 1) * plane];
        let yc = &mut y[ch * oplane..(ch + 1) * oplane];
        let wh = &w[ch * taps..(ch + 1) * taps];
        let bc = bias.map(|b| &b[ch..ch + 1]);
        if taps <= F16W_MAX_TAPS {
            let wc = &mut wbuf[..taps];
            crate::f16::widen(isa, wh, wc);
            match kr {
                Some(kr) => run(kr, &g1, xc, wc, bc, act, yc),
                None => scalar::dwconv2d_ref(&g1, xc, wc, bc, act, yc),
            }
        } else {
            scalar::dwconv2d_f16w_ref(&g1, xc, wh, bc, act, yc);
        }
    }
}

/// Arguments of a 3x3 depthwise channel kernel ([`Dw3x3Fn`]): one channel over a zero-padded
/// copy of its input rows, every output interior.
///
/// Padded row `r` starts at `x + r·xs`; its column `j` is input row `r - pt`, column `j - pl`
/// (zero outside the input). The kernel reads rows `0..(oh-1)·s + 3` and in each the columns
/// `0..xs` with `xs = s·owr + 2`, where `owr` is `ow` rounded up to whole vectors: the last vector
/// of a row is computed whole over the padding and only its `ow`-th and earlier outputs are
/// stored. Stride 2 deinterleaves the even and odd columns in registers.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Dw3x3 {
    pub x: *const f32,
    pub xs: usize,
    /// The 9 taps, row-major, then the bias (10 floats; the bias is read with the taps: as a
    /// field written just before the call, its load could not be store-forwarded).
    pub w: *const f32,
    /// `oh` output rows of `ow` values, contiguous.
    pub y: *mut f32,
    pub oh: usize,
    pub ow: usize,
    pub clamp: bool,
    pub lo: f32,
    pub hi: f32,
}

/// A 3x3 depthwise channel kernel: the 9 taps in registers, up to four output rows per pass over
/// the padded rows (each padded row, loaded once per vector, feeds every output row it is a tap
/// row of), bias and clamp fused.
///
/// # Safety
/// The CPU supports the kernel's ISA; `p` describes a padded copy in the layout of [`Dw3x3`] for
/// the kernel's stride and lanes, readable as stated there; `p.y` holds `oh·ow` writable floats.
pub type Dw3x3Fn = unsafe fn(p: &Dw3x3);

/// A band of padded rows to write for a 3x3 kernel ([`PadFn`]): padded row `r < rows` at
/// `dst + r·xs` gets input row `iy0 + r` of the channel plane `src` (`h` rows of `w`), its columns
/// `0..n` at padded columns `pl..pl + n`, and zeros in the rest of the row, or zeros when that
/// input row does not exist. Writes are whole vectors, so up to `lanes - 1` floats past each
/// row's end get zeros.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PadBand {
    pub dst: *mut f32,
    pub xs: usize,
    pub rows: usize,
    pub src: *const f32,
    pub w: usize,
    pub h: usize,
    pub iy0: isize,
    pub pl: usize,
    pub n: usize,
}

/// Writes a band of padded rows ([`PadBand`]) with vector loads and stores (no `memcpy` call per
/// row: the 7x7 and 14x14 planes copy 9–16 rows of 7–14 floats per channel).
///
/// # Safety
/// The CPU supports the kernel's ISA; `n <= w`, `pl + n <= xs`; the plane `src[0..h·w]` is
/// readable and `dst[0..rows·xs + lanes]` writable.
pub type PadFn = unsafe fn(p: &PadBand);

/// One row of the 3x3 depthwise table.
#[derive(Clone, Copy, Debug)]
pub struct Dw3x3Kernel {
    pub name: &'static str,
    pub isa: Isa,
    /// Output columns per vector.
    pub lanes: usize,
    /// Stride (both axes).
    pub stride: usize,
    pub run: Dw3x3Fn,
    pub pad: PadFn,
}

/// The 3x3 depthwise table of this target (dispatch takes the first row of an ISA and stride).
/// Without std only the rows of the compile-time ISA are compiled (see `gemm::GEMM_KERNELS`).
#[cfg(target_arch = "x86_64")]
pub const DWCONV3X3_KERNELS: &[Dw3x3Kernel] = &[
    #[cfg(any(feature = "std", target_feature = "avx512f"))]
    avx512::DW3X3S1_16W_AVX512,
    #[cfg(any(feature = "std", target_feature = "avx512f"))]
    avx512::DW3X3S2_16W_AVX512,
    #[cfg(any(feature = "std", target_feature = "avx2"))]
    avx2::DW3X3S1_8W_AVX2,
    #[cfg(any(feature = "std", target_feature = "avx2"))]
    avx2::DW3X3S2_8W_AVX2,
];
#[cfg(target_arch = "aarch64")]
pub const DWCONV3X3_KERNELS: &[Dw3x3Kernel] = &[neon::DW3X3S1_4W_NEON, neon::DW3X3S2_4W_NEON];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const DWCONV3X3_KERNELS: &[Dw3x3Kernel] = &[];

/// The 3x3 kernel of `isa` for geometry `g`, if `g` is a 3x3 undilated conv with equal strides
/// of 1 or 2 whose padded copy of 3 input rows fits the stack buffer.
pub fn kernel3x3_for(isa: Isa, g: &DwGeom) -> Option<&'static Dw3x3Kernel> {
    DWCONV3X3_KERNELS.iter().find(|k| k.isa == isa && fits3x3(k, g))
}

/// Whether the 3x3 table row `k` computes geometry `g` (see [`kernel3x3_for`]).
pub fn fits3x3(k: &Dw3x3Kernel, g: &DwGeom) -> bool {
    (g.kh, g.kw, g.dh, g.dw) == (3, 3, 1, 1) && g.sh == g.sw && g.sh == k.stride && pad3x3_layout(k, g).is_some()
}

/// Floats of the stack buffer holding the 3x3 kernels' padded rows (8 KiB: 35 padded rows of a
/// 56-wide plane, 17 of a 112-wide one, so the 2 rows shared by consecutive bands are copied
/// again only every 15 output rows there).
const PAD3_BUF: usize = 2048;

/// Row stride of the padded copy and the number of padded rows that fit in the buffer (leaving
/// one vector of slack for the last row's whole-vector writes) for kernel `k` on `g`; None when
/// 3 rows do not fit.
fn pad3x3_layout(k: &Dw3x3Kernel, g: &DwGeom) -> Option<(usize, usize)> {
    if k.lanes > MAX_LANES {
        return None;
    }
    let xs = g.ow.div_ceil(k.lanes) * k.lanes * k.stride + 2;
    let rows = (PAD3_BUF - MAX_LANES) / xs;
    (rows >= 3).then_some((xs, rows))
}

/// Depthwise convolution with one 3x3 table row; panics if the CPU lacks its ISA or `g` is not
/// a geometry of that row (see [`kernel3x3_for`]).
pub fn dwconv2d_3x3_with(k: &Dw3x3Kernel, g: &DwGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    g.check_depthwise(x.len(), w.len(), bias.map(|b| b.len()), y.len());
    assert!(k.isa.available(), "dwconv: {} needs {}, which this CPU lacks", k.name, k.isa.name());
    assert!(fits3x3(k, g), "dwconv: {} does not fit {g:?}", k.name);
    run3x3(k, g, x, |ch, t| t.copy_from_slice(&w[ch * 9..ch * 9 + 9]), bias, act, y)
}

/// Runs `k` over every channel: the output rows in bands whose padded input rows fit in the
/// stack buffer, the channel's taps written into a 9-float array by `taps(ch, ..)`.
fn run3x3(k: &Dw3x3Kernel, g: &DwGeom, x: &[f32], taps: impl Fn(usize, &mut [f32; 9]), bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    let Some((xs, rows)) = pad3x3_layout(k, g) else {
        unreachable!("dwconv: 3x3 kernel chosen for a geometry that does not fit")
    };
    if g.oh == 0 || g.ow == 0 {
        return;
    }
    let s = k.stride;
    let (clamp, lo, hi, post) = act.fused_clamp();
    // Output rows per band: (band - 1)·s + 3 padded rows must fit.
    let band = ((rows - 3) / s + 1).min(g.oh);
    // Columns 0..pl of every row are never written but by the previous row's zero tail, so they
    // stay zero; each row's pad writes its input columns and zeros up to the row's end.
    let mut buf = [0f32; PAD3_BUF];
    // The input columns that land in the padded columns 0..xs the kernel reads.
    let i1 = g.w.min(xs.saturating_sub(g.pl));
    let (plane, oplane) = (g.h * g.w, g.oh * g.ow);
    // The 9 taps and the bias.
    let mut wt = [0f32; 10];
    let compute = |buf: &[f32], wt: &[f32; 10], oy: usize, n: usize, yc: &mut [f32]| {
        let yb = &mut yc[oy * g.ow..(oy + n) * g.ow];
        assert!(((n - 1) * s + 3) * xs <= buf.len());
        let p = Dw3x3 { x: buf.as_ptr(), xs, w: wt.as_ptr(), y: yb.as_mut_ptr(), oh: n, ow: g.ow, clamp, lo, hi };
        // SAFETY: k.isa is available (checked by the callers); `buf` holds (n-1)·s + 3 padded
        // rows of stride xs (asserted) in the layout of `Dw3x3` (pad3x3_layout), written by
        // pad_band; `wt` holds 9 taps and the bias; `yb` holds n·ow outputs.
        unsafe { (k.run)(&p) };
    };
    let pad = |dst: &mut [f32], xc: &[f32], r0: usize, rows: usize| {
        assert!(rows * xs + k.lanes <= dst.len() && xc.len() == g.h * g.w && (i1 == 0 || g.pl + i1 <= xs));
        let p = PadBand { dst: dst.as_mut_ptr(), xs, rows, src: xc.as_ptr(), w: g.w, h: g.h, iy0: r0 as isize - g.pt as isize, pl: g.pl, n: i1 };
        // SAFETY: k.isa is available (checked by the callers); i1 <= w and pl + i1 <= xs, the
        // plane is h·w floats and dst holds rows·xs + lanes (asserted).
        unsafe { (k.pad)(&p) };
    };
    let set_taps = |ch: usize, wt: &mut [f32; 10]| {
        let t: &mut [f32; 9] = (&mut wt[..9]).try_into().unwrap();
        taps(ch, t);
        wt[9] = bias.map_or(0.0, |b| b[ch]);
    };
    let hp = (band - 1) * s + 3;
    let slot = hp * xs + MAX_LANES;
    if band == g.oh && 2 * slot <= PAD3_BUF {
        // Whole channels in two alternating slots: channel ch + 1 is copied before channel ch
        // is computed, so the kernel never loads across the stores it has just made (a load
        // spanning two fresh stores cannot be forwarded and waits for them to retire).
        let (s0, s1) = buf.split_at_mut(slot);
        pad(s0, &x[..plane], 0, hp);
        for ch in 0..g.c {
            let (cur, next) = if ch % 2 == 0 { (&mut *s0, &mut s1[..slot]) } else { (&mut s1[..slot], &mut *s0) };
            if ch + 1 < g.c {
                pad(next, &x[(ch + 1) * plane..(ch + 2) * plane], 0, hp);
            }
            set_taps(ch, &mut wt);
            let yc = &mut y[ch * oplane..(ch + 1) * oplane];
            compute(cur, &wt, 0, g.oh, yc);
            if post {
                act.apply_slice_isa(k.isa, yc);
            }
        }
        return;
    }
    for ch in 0..g.c {
        let xc = &x[ch * plane..(ch + 1) * plane];
        set_taps(ch, &mut wt);
        let yc = &mut y[ch * oplane..(ch + 1) * oplane];
        let mut oy = 0;
        while oy < g.oh {
            let n = band.min(g.oh - oy);
            pad(&mut buf, xc, oy * s, (n - 1) * s + 3);
            compute(&buf, &wt, oy, n, yc);
            oy += n;
        }
        if post {
            act.apply_slice_isa(k.isa, yc);
        }
    }
}

/// Output columns `[lo, hi)` whose taps `ox*sw - pl + kx*dw` (kx < kw) all lie in `[0, w)`.
fn interior(g: &DwGeom) -> (usize, usize) {
    let lo = g.pl.div_ceil(g.sw);
    let span = (g.kw - 1) * g.dw;
    // last tap of ox: ox*sw - pl + span <= w - 1
    let hi = match (g.w + g.pl).checked_sub(span + 1) {
        Some(num) => (num / g.sw + 1).min(g.ow),
        None => 0,
    };
    (lo, hi.max(lo))
}

/// Floats of the stack buffer that holds an edge chunk's taps (`kh` rows of
/// `lanes·sw + (kw-1)·dw + 1` columns); larger geometries use the per-pixel code.
const EDGE_BUF: usize = 1024;
/// Widest vector of the table (AVX-512: 16 lanes).
const MAX_LANES: usize = 16;

/// Computes outputs `ox..min(ox + lanes, end)` of row `oy` before the activation (bias and
/// clamp fused) and returns the next column. The taps of one vector of outputs are copied, with
/// zeros for the padding, into a stack buffer that is a small all-interior plane for the kernel.
#[allow(clippy::too_many_arguments)]
fn edge_chunk(kr: &DwKernel, buf: &mut [f32; EDGE_BUF], g: &DwGeom, xc: &[f32], wc: &[f32], b: f32, oy: usize, ox: usize, end: usize, clamp: bool, lo: f32, hi: f32, yrow: &mut [f32]) -> usize {
    let lanes = kr.lanes;
    let n = lanes.min(end - ox);
    let bw = lanes * g.sw + (g.kw - 1) * g.dw + 1;
    if lanes > MAX_LANES || g.kh.checked_mul(bw).is_none_or(|t| t > EDGE_BUF) {
        let (clo, chi) = if clamp { (lo, hi) } else { (f32::NEG_INFINITY, f32::INFINITY) };
        for (o, v) in yrow[ox..ox + n].iter_mut().enumerate() {
            *v = pixel(g, xc, wc, b, oy, ox + o).max(clo).min(chi);
        }
        return ox + n;
    }
    // Only the kh·bw prefix is used: zeroing the whole 4 KiB per chunk made the edges slower
    // than the scalar loop they replace.
    buf[..g.kh * bw].fill(0.0);
    // Buffer column j is input column ox·sw - pl + j.
    let c0 = (ox * g.sw) as isize - g.pl as isize;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
        if iy < 0 || iy >= g.h as isize {
            continue;
        }
        let row = &xc[iy as usize * g.w..(iy as usize + 1) * g.w];
        let j0 = (-c0).clamp(0, bw as isize) as usize;
        let j1 = (g.w as isize - c0).clamp(0, bw as isize) as usize;
        if j0 < j1 {
            let s0 = (c0 + j0 as isize) as usize;
            buf[ky * bw + j0..ky * bw + j1].copy_from_slice(&row[s0..s0 + (j1 - j0)]);
        }
    }
    let pg = DwGeom { c: 1, h: g.kh, w: bw, kh: g.kh, kw: g.kw, sh: 1, sw: g.sw, dh: 1, dw: g.dw, pt: 0, pl: 0, oh: 1, ow: lanes };
    let mut out = [0f32; MAX_LANES];
    let r = DwRow { x: buf.as_ptr(), w: wc.as_ptr(), y: out.as_mut_ptr(), oy: 0, ox0: 0, ox1: lanes, bias: b, clamp, lo, hi };
    // SAFETY: kr.isa is available (checked by the callers); `buf` is a kh × bw plane (kh·bw ≤
    // EDGE_BUF) in which every tap of outputs 0..lanes lies (the last one is column
    // (lanes-1)·sw + (kw-1)·dw < bw, and the stride-2 masked load stops at that column); the
    // filter is the channel's kh·kw; `out` holds lanes ≤ MAX_LANES outputs.
    let got = unsafe { (kr.row)(&pg, &r) };
    debug_assert_eq!(got, lanes);
    yrow[ox..ox + n].copy_from_slice(&out[..n]);
    ox + n
}

/// Computes the whole output row `oy` (bias and clamp fused, before the other activations) over
/// a zero-padded copy of its `kh` input rows (`band` stride `bw`), so every output is interior
/// and the row needs no edge handling: one copy of `kh·bw` floats and `ceil(ow/lanes)` vectors.
/// Returns false (nothing written) when the band does not fit in `buf`.
#[allow(clippy::too_many_arguments)]
fn band_row(kr: &DwKernel, buf: &mut [f32; EDGE_BUF], g: &DwGeom, xc: &[f32], wc: &[f32], b: f32, oy: usize, clamp: bool, lo: f32, hi: f32, yrow: &mut [f32]) -> bool {
    let lanes = kr.lanes;
    if g.ow == 0 {
        return true;
    }
    let owr = g.ow.div_ceil(lanes) * lanes;
    // Columns the last vector's taps reach, plus the stride-2 kernel's masked second load.
    let bw = (owr - 1) * g.sw + (g.kw - 1) * g.dw + 1;
    if lanes > MAX_LANES || g.kh.checked_mul(bw).is_none_or(|t| t > EDGE_BUF) {
        return false;
    }
    // Band column j is input column j - pl.
    for ky in 0..g.kh {
        pad_row(&mut buf[ky * bw..(ky + 1) * bw], g, xc, (oy * g.sh + ky * g.dh) as isize - g.pt as isize);
    }
    let full = g.ow / lanes * lanes;
    let pg = DwGeom { c: 1, h: g.kh, w: bw, kh: g.kh, kw: g.kw, sh: 1, sw: g.sw, dh: 1, dw: g.dw, pt: 0, pl: 0, oh: 1, ow: g.ow };
    if full > 0 {
        let r = DwRow { x: buf.as_ptr(), w: wc.as_ptr(), y: yrow.as_mut_ptr(), oy: 0, ox0: 0, ox1: full, bias: b, clamp, lo, hi };
        // SAFETY: kr.isa is available (checked by the callers); `buf` holds a kh × bw plane
        // (kh·bw ≤ EDGE_BUF) containing every tap of outputs 0..owr (the last one is column
        // (owr-1)·sw + (kw-1)·dw < bw); the filter is the channel's kh·kw; `yrow` holds ow ≥
        // full outputs.
        let got = unsafe { (kr.row)(&pg, &r) };
        debug_assert_eq!(got, full);
    }
    if full < g.ow {
        // The tail vector: outputs full..owr, written to a stack vector, of which ow - full are kept.
        // pg.w stays bw: the kernel uses it as the row stride.
        let pt = DwGeom { ow: lanes, ..pg };
        let mut out = [0f32; MAX_LANES];
        let r = DwRow { x: buf[full * g.sw..].as_ptr(), w: wc.as_ptr(), y: out.as_mut_ptr(), oy: 0, ox0: 0, ox1: lanes, bias: b, clamp, lo, hi };
        // SAFETY: as above, on the band shifted by full·sw columns: the taps of its outputs
        // 0..lanes are band columns up to (owr-1)·sw + (kw-1)·dw < bw in each of the kh rows;
        // `out` holds lanes ≤ MAX_LANES outputs.
        let got = unsafe { (kr.row)(&pt, &r) };
        debug_assert_eq!(got, lanes);
        yrow[full..].copy_from_slice(&out[..g.ow - full]);
    }
    true
}

/// Computes a whole channel over a zero-padded copy of its plane in `buf` (every output interior,
/// rows rounded up to whole vectors), like [`band_row`] but copying each input row once instead
/// of `kh` times. Returns false (nothing written) when the padded plane does not fit in `buf`.
#[allow(clippy::too_many_arguments)]
fn plane_channel(kr: &DwKernel, buf: &mut [f32; EDGE_BUF], g: &DwGeom, xc: &[f32], wc: &[f32], b: f32, clamp: bool, lo: f32, hi: f32, yc: &mut [f32]) -> bool {
    let lanes = kr.lanes;
    if g.ow == 0 || g.oh == 0 {
        return true;
    }
    let owr = g.ow.div_ceil(lanes) * lanes;
    let bw = (owr - 1) * g.sw + (g.kw - 1) * g.dw + 1;
    let hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    if lanes > MAX_LANES || hp.checked_mul(bw).is_none_or(|t| t > EDGE_BUF) {
        return false;
    }
    // Plane row r, column j is input row r - pt, column j - pl.
    for r in 0..hp {
        pad_row(&mut buf[r * bw..(r + 1) * bw], g, xc, r as isize - g.pt as isize);
    }
    let full = g.ow / lanes * lanes;
    let pg = DwGeom { c: 1, h: hp, w: bw, pt: 0, pl: 0, ..*g };
    let tg = DwGeom { ow: lanes, ..pg };
    for (oy, yrow) in yc.chunks_exact_mut(g.ow).enumerate() {
        if full > 0 {
            let r = DwRow { x: buf.as_ptr(), w: wc.as_ptr(), y: yrow.as_mut_ptr(), oy, ox0: 0, ox1: full, bias: b, clamp, lo, hi };
            // SAFETY: kr.isa is available (checked by the callers); `buf` holds an hp × bw
            // plane (hp·bw ≤ EDGE_BUF) in which every tap of row oy < oh, outputs 0..owr lies
            // (row oy·sh + (kh-1)·dh < hp, column (owr-1)·sw + (kw-1)·dw < bw); the filter is
            // the channel's kh·kw; `yrow` holds ow ≥ full outputs.
            let got = unsafe { (kr.row)(&pg, &r) };
            debug_assert_eq!(got, full);
        }
        if full < g.ow {
            let mut out = [0f32; MAX_LANES];
            let r = DwRow { x: buf[full * g.sw..].as_ptr(), w: wc.as_ptr(), y: out.as_mut_ptr(), oy, ox0: 0, ox1: lanes, bias: b, clamp, lo, hi };
            // SAFETY: as above on the plane shifted by full·sw columns (row stride still bw):
            // the taps of its outputs 0..lanes are plane columns < bw of rows < hp, so the last
            // one is inside `buf`; `out` holds lanes ≤ MAX_LANES outputs.
            let got = unsafe { (kr.row)(&tg, &r) };
            debug_assert_eq!(got, lanes);
            yrow[full..].copy_from_slice(&out[..g.ow - full]);
        }
    }
    true
}

/// Fills `dst` (a row of a zero-padded copy, column j = input column j - pl) with input row `iy`
/// of the channel `xc`, or with zeros when `iy` is outside the input.
fn pad_row(dst: &mut [f32], g: &DwGeom, xc: &[f32], iy: isize) {
    if iy < 0 || iy >= g.h as isize {
        dst.fill(0.0);
        return;
    }
    let row = &xc[iy as usize * g.w..(iy as usize + 1) * g.w];
    let bw = dst.len();
    let j0 = g.pl.min(bw);
    let j1 = (g.pl + g.w).min(bw);
    dst[..j0].fill(0.0);
    dst[j0..j1].copy_from_slice(&row[..j1 - j0]);
    dst[j1..].fill(0.0);
}

/// One output pixel of one channel, plain (the same arithmetic as the reference), before the
/// activation, accumulated onto `b` (the direct stem conv's reference chains it over channels).
pub(crate) fn pixel(g: &DwGeom, xc: &[f32], wc: &[f32], b: f32, oy: usize, ox: usize) -> f32 {
    let mut s = b;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
        if iy < 0 || iy >= g.h as isize {
            continue;
        }
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
            if ix < 0 || ix >= g.w as isize {
                continue;
            }
            s += xc[iy as usize * g.w + ix as usize] * wc[ky * g.kw + kx];
        }
    }
    s
}

fn run(kr: &DwKernel, g: &DwGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    if g.kh == 0 || g.kw == 0 {
        return scalar::dwconv2d_ref(g, x, w, bias, act, y);
    }
    let (clamp, lo, hi, post) = act.fused_clamp();
    let (ix0, ix1) = interior(g);
    let (plane, filt, oplane) = (g.h * g.w, g.kh * g.kw, g.oh * g.ow);
    let mut ebuf = [0f32; EDGE_BUF];
    for ch in 0..g.c {
        let xc = &x[ch * plane..(ch + 1) * plane];
        let wc = &w[ch * filt..(ch + 1) * filt];
        let b = bias.map_or(0.0, |b| b[ch]);
        let yc = &mut y[ch * oplane..(ch + 1) * oplane];
        // Every output interior over a zero-padded copy (the whole plane if it fits, else the
        // kh rows of each output row): 1.2-2.9x over interior vectors plus edge chunks on
        // MobileNet shapes, also at 112x112 (BENCHMARKS.md, "Depthwise over a padded copy").
        if plane_channel(kr, &mut ebuf, g, xc, wc, b, clamp, lo, hi, yc) {
            if post {
                act.apply_slice_isa(kr.isa, yc);
            }
            continue;
        }
        for oy in 0..g.oh {
            let yrow = &mut yc[oy * g.ow..(oy + 1) * g.ow];
            if band_row(kr, &mut ebuf, g, xc, wc, b, oy, clamp, lo, hi, yrow) {
                if post {
                    act.apply_slice_isa(kr.isa, yrow);
                }
                continue;
            }
            let mut done = ix0.min(g.ow);
            if ix0 < ix1 {
                let r = DwRow { x: xc.as_ptr(), w: wc.as_ptr(), y: yrow.as_mut_ptr(), oy, ox0: ix0, ox1: ix1, bias: b, clamp, lo, hi };
                // SAFETY: kr.isa is available (checked by the callers); the pointers are the
                // channel's plane, filter and output row, whose lengths follow from g (checked
                // by DwGeom::check); ix0..ix1 is the interior computed by `interior`.
                done = unsafe { (kr.row)(g, &r) };
                debug_assert!(done >= ix0 && done <= ix1);
                if post {
                    act.apply_slice_isa(kr.isa, &mut yrow[ix0..done]);
                }
            }
            // Borders and the interior's tail: whole vectors over a zero-padded copy of the
            // taps (46 % of dense MobileNetV1 time went to the scalar per-pixel loop here).
            let mut ox = 0;
            while ox < ix0.min(g.ow) {
                ox = edge_chunk(kr, &mut ebuf, g, xc, wc, b, oy, ox, ix0.min(g.ow), clamp, lo, hi, yrow);
            }
            let mut ox = done;
            while ox < g.ow {
                ox = edge_chunk(kr, &mut ebuf, g, xc, wc, b, oy, ox, g.ow, clamp, lo, hi, yrow);
            }
            if post {
                act.apply_slice_isa(kr.isa, &mut yrow[..ix0.min(g.ow)]);
                act.apply_slice_isa(kr.isa, &mut yrow[done.max(ix0.min(g.ow))..]);
            }
        }
    }
}
