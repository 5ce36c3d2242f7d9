//! The im2col matrix of a convolution as a GEMM B operand that is never materialized: the packed
//! path packs its `NR`-column panels straight from the NCHW image.
//!
//! Contract:
//! - The image `x` is one image (or one group of it) `[c, h, w]`, row-major, f32.
//! - The virtual matrix is `[c·kh·kw × oh·ow]`: row `p = (ci·kh + ky)·kw + kx`, column
//!   `j = oy·ow + ox`, element `x[ci, oy·sh + ky·dh − pt, ox·sw + kx·dw − pl]`, zero where that
//!   input position lies in the padding (before row/column 0 or at/after `h`/`w`). Bottom and right
//!   padding are implied by `oh`/`ow` (asymmetric padding needs no extra field).
//! - [`Im2colRef`] is a window of columns `[j0, j0 + cols)` of that matrix (a split by output
//!   positions); its column 0 is matrix column `j0`.
//! - Packing reads `x` through checked slices only; [`Im2colRef::check`] validates the view.
use super::driver::PackB;
pub use crate::geom::ConvGeom;

/// A column window of the im2col matrix of the image `x` (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct Im2colRef<'a> {
    pub x: &'a [f32],
    pub g: ConvGeom,
    /// First matrix column of the window and its number of columns.
    pub j0: usize,
    pub cols: usize,
}

impl<'a> Im2colRef<'a> {
    /// The whole matrix.
    pub fn new(x: &'a [f32], g: ConvGeom) -> Self {
        Im2colRef { x, g, j0: 0, cols: g.cols() }
    }

    pub fn rows(&self) -> usize {
        self.g.rows()
    }

    /// Columns `[c0, c0 + cols)` of this window.
    pub fn columns(self, c0: usize, cols: usize) -> Self {
        Im2colRef { j0: self.j0.saturating_add(c0), cols, ..self }
    }

    /// Panics unless the geometry is usable (non-zero strides and dilations, no overflow), `x`
    /// holds the whole image and the window lies inside the matrix.
    pub fn check(&self) {
        let g = &self.g;
        assert!(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0, "im2col: zero stride or dilation");
        let img = g.c.checked_mul(g.h).and_then(|v| v.checked_mul(g.w)).expect("im2col: image size overflows");
        assert!(self.x.len() >= img, "im2col: image shorter than c*h*w");
        let far = |o: usize, s: usize, k: usize, d: usize| o.checked_mul(s).and_then(|v| k.checked_mul(d).and_then(|e| v.checked_add(e)));
        assert!(far(g.oh, g.sh, g.kh, g.dh).is_some() && far(g.ow, g.sw, g.kw, g.dw).is_some(), "im2col: geometry overflows");
        g.c.checked_mul(g.kh).and_then(|v| v.checked_mul(g.kw)).expect("im2col: rows overflow");
        let n = g.oh.checked_mul(g.ow).expect("im2col: columns overflow");
        assert!(self.j0.checked_add(self.cols).is_some_and(|e| e <= n), "im2col: column window out of bounds");
    }

    /// Element (p, j) of the window.
    #[inline]
    pub fn at(&self, p: usize, j: usize) -> f32 {
        self.g.at(self.x, p, self.j0 + j)
    }

    /// Writes the window as a stored row-major `[rows × cols]` matrix to `dst[..rows·cols]`: the
    /// explicit im2col, for consumers that need one (SpMM, GEMV). Panics like [`Self::check`]
    /// or if `dst` is shorter.
    pub fn write(&self, dst: &mut [f32]) {
        self.check();
        let (k, n) = (self.rows(), self.cols);
        assert!(k.checked_mul(n).is_some_and(|len| dst.len() >= len), "im2col: destination shorter than rows*cols");
        let g = &self.g;
        let plane = g.h * g.w;
        for (p, (ci, ky, kx)) in Taps::from(g, 0).take(k).enumerate() {
            // The rows after p are the slack the spilling copies may write into (they are written
            // later); the last row has none and gets exact copies.
            stage_row(g, &self.x[ci * plane..(ci + 1) * plane], (ky, kx), self.j0, n, &mut dst[p * n..k * n]);
        }
    }
}

impl PackB for Im2colRef<'_> {
    fn cols(&self) -> usize {
        self.cols
    }

    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        // Only the NR of this target's kernel table: each monomorphization is ~3 KB of code, which
        // the size guard of the embedded C example (scripts/test-embedded.sh) feels.
        match nr {
            #[cfg(target_arch = "aarch64")]
            8 => pack::<8>(self, p0, kc, j0, nc, dst),
            #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
            16 => pack::<16>(self, p0, kc, j0, nc, dst),
            #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx512f")))]
            32 => pack::<32>(self, p0, kc, j0, nc, dst),
            _ => {
                for (t, jr) in (0..nc).step_by(nr).enumerate() {
                    for p in 0..kc {
                        for cc in 0..nr {
                            let v = if jr + cc < nc { self.at(p0 + p, j0 + jr + cc) } else { 0.0 };
                            dst[t * nr * kc + p * nr + cc] = v;
                        }
                    }
                }
            }
        }
    }
}

/// Columns staged per row before they are scattered into panels (a multiple of every `NR`).
// Unused without std on targets whose kernel rows are all compiled out (x86_64 without AVX2).
#[cfg_attr(not(feature = "std"), allow(dead_code))]
const STAGE: usize = 256;
/// Width of the fixed-size copies that may run past a run's end into later columns.
const W: usize = 8;

/// Packs rows `[p0, p0 + kc)`, window columns `[j0, j0 + nc)` into `NR`-column panels (the
/// layout of `driver::pack_b`), zero past `nc`. Row by row and `STAGE` columns at a time: the
/// columns are first written contiguously to a stack buffer (for each output row crossed, the
/// columns whose input column lies inside the image are one run of the input row, contiguous
/// for stride 1; the rest zeros), then copied to the panels `NR` at a time. The two steps keep
/// short rows cheap: at 7x7 outputs, writing runs of 7 straight into 16-wide panels made the
/// packing 1.5x slower than the old explicit im2col plus copy (`im2col_ab` example, m = 6).
#[cfg_attr(not(feature = "std"), allow(dead_code))]
fn pack<const NR: usize>(b: &Im2colRef, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
    let g = &b.g;
    let plane = g.h * g.w;
    let mut stage = [0f32; STAGE + W];
    for (p, (ci, ky, kx)) in Taps::from(g, p0).take(kc).enumerate() {
        let xc = &b.x[ci * plane..(ci + 1) * plane];
        let mut done = 0;
        while done < nc {
            let len = (nc - done).min(STAGE);
            stage_row(g, xc, (ky, kx), b.j0 + j0 + done, len, &mut stage);
            // `done` is a multiple of STAGE, hence of NR: whole panels.
            let t0 = done / NR;
            let full = len / NR;
            for t in 0..full {
                let at = (t0 + t) * NR * kc + p * NR;
                let d: &mut [f32; NR] = (&mut dst[at..at + NR]).try_into().expect("NR floats");
                *d = stage[t * NR..(t + 1) * NR].try_into().expect("NR floats");
            }
            let tail = len - full * NR;
            if tail > 0 {
                let at = (t0 + full) * NR * kc + p * NR;
                dst[at..at + tail].copy_from_slice(&stage[full * NR..len]);
                dst[at + tail..at + NR].fill(0.0);
            }
            done += len;
        }
    }
}

/// The taps `(ci, ky, kx)` of the im2col rows `p, p + 1, …` in order (row `p = (ci·kh + ky)·kw +
/// kx`), stepped by a counter: one division at the start, none per row.
struct Taps {
    kh: usize,
    kw: usize,
    tap: (usize, usize, usize),
}

impl Taps {
    fn from(g: &ConvGeom, p: usize) -> Self {
        // A geometry without taps has no rows: no division by zero for it.
        let tap = p.checked_div(g.kh * g.kw).map_or((0, 0, 0), |ci| (ci, p / g.kw % g.kh, p % g.kw));
        Taps { kh: g.kh, kw: g.kw, tap }
    }
}

impl Iterator for Taps {
    type Item = (usize, usize, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let cur = self.tap;
        let (ci, ky, kx) = &mut self.tap;
        *kx += 1;
        if *kx == self.kw {
            *kx = 0;
            *ky += 1;
            if *ky == self.kh {
                *ky = 0;
                *ci += 1;
            }
        }
        Some(cur)
    }
}

/// Writes matrix columns `[j, j + len)` of the row of tap `(ky, kx)` over channel plane `xc` to
/// `out[..len]`. `out` has `W` floats of slack: a run is written in fixed `W`-wide pieces that may
/// spill past its end, always into columns written later (left to right) or into the slack.
fn stage_row(g: &ConvGeom, xc: &[f32], (ky, kx): (usize, usize), j: usize, len: usize, out: &mut [f32]) {
    // Output columns whose input column ox·sw + off − pl lies in [0, w): ox in [lo, hi).
    let off = kx * g.dw;
    let lo = g.pl.saturating_sub(off).div_ceil(g.sw).min(g.ow);
    let hi = (if g.w + g.pl > off { ((g.w + g.pl - off - 1) / g.sw + 1).min(g.ow) } else { 0 }).max(lo);
    let (mut oy, mut ox) = (j / g.ow, j % g.ow);
    let mut i = 0;
    while i < len {
        let run = (g.ow - ox).min(len - i);
        // A negative input row wraps to a huge usize and so lands in the padding too.
        let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
        if iy >= g.h {
            zero(out, i, run);
        } else {
            let end = ox + run;
            let a = lo.clamp(ox, end);
            let z = hi.clamp(a, end);
            zero(out, i, a - ox);
            if z > a {
                // a >= lo, so the input column is >= 0; z <= hi, so the last one is < w.
                let ix = iy * g.w + a * g.sw + off - g.pl;
                let o = i + a - ox;
                if g.sw == 1 {
                    copy(out, o, xc, ix, z - a);
                } else if g.sw == 2 {
                    gather2(out, o, xc, ix, z - a);
                } else {
                    // One bounds check for the whole strided run.
                    let src = &xc[ix..ix + (z - a - 1) * g.sw + 1];
                    for (v, x) in out[o..o + (z - a)].iter_mut().zip(src.iter().step_by(g.sw)) {
                        *v = *x;
                    }
                }
            }
            zero(out, i + z - ox, end - z);
        }
        i += run;
        ox = 0;
        oy += 1;
    }
}

/// `out[o..o + l] = src[s..s + l]`, in `W`-wide pieces (spilling past `o + l`) when both sides
/// have room for the last piece, else one exact copy.
#[inline]
fn copy(out: &mut [f32], o: usize, src: &[f32], s: usize, l: usize) {
    let n = l.div_ceil(W) * W;
    if s + n <= src.len() && o + n <= out.len() {
        for q in (0..n).step_by(W) {
            let d: &mut [f32; W] = (&mut out[o + q..o + q + W]).try_into().expect("W floats");
            *d = src[s + q..s + q + W].try_into().expect("W floats");
        }
    } else {
        out[o..o + l].copy_from_slice(&src[s..s + l]);
    }
}

/// `out[o + q] = src[s + 2q]` for `q < l` (stride-2 convs), in `W`-wide pieces (fixed-size
/// loads of `2W` floats, spilling past `o + l` like [`copy`]) when both sides have room.
#[inline]
fn gather2(out: &mut [f32], o: usize, src: &[f32], s: usize, l: usize) {
    let n = l.div_ceil(W) * W;
    if s + 2 * n <= src.len() && o + n <= out.len() {
        for q in (0..n).step_by(W) {
            let d: &mut [f32; W] = (&mut out[o + q..o + q + W]).try_into().expect("W floats");
            let x: &[f32; 2 * W] = src[s + 2 * q..s + 2 * q + 2 * W].try_into().expect("2W floats");
            even8(x, d);
        }
    } else {
        let src = &src[s..s + 2 * (l - 1) + 1];
        for (v, x) in out[o..o + l].iter_mut().zip(src.iter().step_by(2)) {
            *v = *x;
        }
    }
}

/// `d[r] = x[2r]`. On x86_64 with SSE shuffles (SSE is part of the x86_64 baseline, so no CPU
/// check): LLVM lowered the plain loop to 16 scalar moves per 8 floats, and the stride-2 stem of
/// MobileNetV1 (3 channels, 224x224) spent ~1/3 of its time staging im2col rows.
#[inline(always)]
fn even8(x: &[f32; 2 * W], d: &mut [f32; W]) {
    #[cfg(target_arch = "x86_64")]
    {
        const { assert!(W == 8, "even8 stores two 4-float halves") };
        use core::arch::x86_64::{_mm_loadu_ps, _mm_shuffle_ps, _mm_storeu_ps};
        // SAFETY: x holds 16 floats (4 unaligned loads of 4) and d holds 8 (2 stores of 4);
        // SSE is always available on x86_64. Shuffle 0x88 picks lanes 0, 2 of each operand.
        unsafe {
            let p = x.as_ptr();
            let lo = _mm_shuffle_ps::<0x88>(_mm_loadu_ps(p), _mm_loadu_ps(p.add(4)));
            let hi = _mm_shuffle_ps::<0x88>(_mm_loadu_ps(p.add(8)), _mm_loadu_ps(p.add(12)));
            _mm_storeu_ps(d.as_mut_ptr(), lo);
            _mm_storeu_ps(d.as_mut_ptr().add(4), hi);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (r, v) in d.iter_mut().enumerate() {
        *v = x[2 * r];
    }
}

/// `out[o..o + l] = 0`, in `W`-wide pieces when the last one fits.
#[inline]
fn zero(out: &mut [f32], o: usize, l: usize) {
    let n = l.div_ceil(W) * W;
    if o + n <= out.len() {
        for q in (0..n).step_by(W) {
            out[o + q..o + q + W].fill(0.0);
        }
    } else {
        out[o..o + l].fill(0.0);
    }
}

/// `C = act(A·B + bias)` for an im2col `B` without a packed kernel (no SIMD kernel for the ISA,
/// or `m == 1` / `n == 1`): row `i` of C accumulates `A[i,p]·B[p,·]` for p = 0, 1, … with the
/// input position stepped along each row of B, so no element costs a division. The additions
/// per element are in the order of `scalar::sgemm_mixed_ref` (p ascending from 0.0), so the
/// result is the reference's bit for bit.
pub(super) fn sgemm_scalar(a: &super::Operand, b: &Im2colRef, c: super::MatMut, bias: super::Bias, act: &crate::Activation) {
    let g = &b.g;
    let (m, n, k) = (a.rows(), b.cols, b.rows());
    let plane = g.h * g.w;
    for i in 0..m {
        let row = &mut c.data[i * c.rs..i * c.rs + n];
        row.fill(0.0);
        for (p, (ci, ky, kx)) in Taps::from(g, 0).take(k).enumerate() {
            let av = a.at(i, p);
            let xc = &b.x[ci * plane..(ci + 1) * plane];
            let (mut oy, mut ox) = (b.j0 / g.ow, b.j0 % g.ow);
            for v in row.iter_mut() {
                // Negative positions wrap to huge values and read as padding.
                let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
                let ix = (ox * g.sw + kx * g.dw).wrapping_sub(g.pl);
                let bv = if iy < g.h && ix < g.w { xc[iy * g.w + ix] } else { 0.0 };
                *v += av * bv;
                ox += 1;
                if ox == g.ow {
                    ox = 0;
                    oy += 1;
                }
            }
        }
        for (j, v) in row.iter_mut().enumerate() {
            *v = act.apply(*v + bias.at(i, j));
        }
    }
}
