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

/// Geometry of a 2-D convolution over one `[c, h, w]` image, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    /// Top and left padding.
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Rows of the im2col matrix (the GEMM's k).
    pub fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the im2col matrix (output positions, the GEMM's n).
    pub fn cols(&self) -> usize {
        self.oh * self.ow
    }

    /// Element (p, j) of the im2col matrix of `x` (the definition above, one element at a time).
    pub fn at(&self, x: &[f32], p: usize, j: usize) -> f32 {
        let khw = self.kh * self.kw;
        let (ci, ky, kx) = (p / khw, p % khw / self.kw, p % self.kw);
        let (oy, ox) = (j / self.ow, j % self.ow);
        let iy = (oy * self.sh + ky * self.dh).wrapping_sub(self.pt);
        let ix = (ox * self.sw + kx * self.dw).wrapping_sub(self.pl);
        if iy < self.h && ix < self.w {
            x[(ci * self.h + iy) * self.w + ix]
        } else {
            0.0
        }
    }
}

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
}

impl PackB for Im2colRef<'_> {
    fn cols(&self) -> usize {
        self.cols
    }

    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        match nr {
            8 => pack::<8>(self, p0, kc, j0, nc, dst),
            16 => pack::<16>(self, p0, kc, j0, nc, dst),
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

/// One row `p` of a packed `kc × nc` block: column `j` of the block is
/// `dst[(j / NR)·NR·kc + p·NR + j % NR]`. Runs are cut at panel boundaries; a whole panel row is a
/// fixed-size copy (inlined), so the common interior of a stride-1 conv costs no memmove calls.
struct PanelRow<'d, const NR: usize> {
    dst: &'d mut [f32],
    kc: usize,
    p: usize,
}

impl<const NR: usize> PanelRow<'_, NR> {
    #[inline]
    fn at(&self, j: usize) -> usize {
        (j / NR) * NR * self.kc + self.p * NR + j % NR
    }

    /// Columns `[j, j + src.len())` from `src`.
    #[inline]
    fn copy(&mut self, mut j: usize, mut src: &[f32]) {
        while !src.is_empty() {
            let l = (NR - j % NR).min(src.len());
            let at = self.at(j);
            if l == NR {
                let d: &mut [f32; NR] = (&mut self.dst[at..at + NR]).try_into().expect("NR floats");
                let s: &[f32; NR] = src[..NR].try_into().expect("NR floats");
                *d = *s;
            } else {
                for (d, s) in self.dst[at..at + l].iter_mut().zip(&src[..l]) {
                    *d = *s;
                }
            }
            src = &src[l..];
            j += l;
        }
    }

    /// Columns `[j, j + len)` from `src[0], src[step], src[2·step], …`.
    #[inline]
    fn gather(&mut self, mut j: usize, src: &[f32], step: usize, len: usize) {
        let mut it = src.iter().step_by(step);
        let end = j + len;
        while j < end {
            let l = (NR - j % NR).min(end - j);
            let at = self.at(j);
            for d in &mut self.dst[at..at + l] {
                *d = *it.next().expect("gather run inside the image row");
            }
            j += l;
        }
    }

    /// Zero columns `[j, j + len)`.
    #[inline]
    fn zero(&mut self, mut j: usize, len: usize) {
        let end = j + len;
        while j < end {
            let l = (NR - j % NR).min(end - j);
            let at = self.at(j);
            self.dst[at..at + l].fill(0.0);
            j += l;
        }
    }
}

/// Packs rows `[p0, p0 + kc)`, window columns `[j0, j0 + nc)` into `NR`-column panels (the
/// layout of `driver::pack_b`), zero past `nc`. Row by row: for each output row crossed, the
/// columns whose input column lies inside the image are one run of the input row (contiguous
/// for stride 1), the rest zeros.
fn pack<const NR: usize>(b: &Im2colRef, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
    let g = &b.g;
    let plane = g.h * g.w;
    let jb = b.j0 + j0;
    let tail = nc % NR;
    let last = nc / NR;
    let (mut ci, mut ky, mut kx) = (p0 / (g.kh * g.kw), p0 / g.kw % g.kh, p0 % g.kw);
    for p in 0..kc {
        let xc = &b.x[ci * plane..(ci + 1) * plane];
        let mut row = PanelRow::<NR> { dst: &mut *dst, kc, p };
        // Output columns whose input column ox·sw + off − pl lies in [0, w): ox in [lo, hi).
        let off = kx * g.dw;
        let lo = g.pl.saturating_sub(off).div_ceil(g.sw).min(g.ow);
        let hi = (if g.w + g.pl > off { ((g.w + g.pl - off - 1) / g.sw + 1).min(g.ow) } else { 0 }).max(lo);
        let (mut oy, mut ox) = (jb / g.ow, jb % g.ow);
        let mut j = 0;
        while j < nc {
            let run = (g.ow - ox).min(nc - j);
            // A negative input row wraps to a huge usize and so lands in the padding too.
            let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
            if iy >= g.h {
                row.zero(j, run);
            } else {
                let xr = &xc[iy * g.w..(iy + 1) * g.w];
                let end = ox + run;
                let a = lo.clamp(ox, end);
                let z = hi.clamp(a, end);
                row.zero(j, a - ox);
                if z > a {
                    // a >= lo, so the input column is >= 0; z <= hi, so the last one is < w.
                    let ix = a * g.sw + off - g.pl;
                    if g.sw == 1 {
                        row.copy(j + a - ox, &xr[ix..ix + (z - a)]);
                    } else {
                        row.gather(j + a - ox, &xr[ix..], g.sw, z - a);
                    }
                }
                row.zero(j + z - ox, end - z);
            }
            j += run;
            ox = 0;
            oy += 1;
        }
        if tail > 0 {
            let at = last * NR * kc + p * NR;
            dst[at + tail..at + NR].fill(0.0);
        }
        kx += 1;
        if kx == g.kw {
            kx = 0;
            ky += 1;
            if ky == g.kh {
                ky = 0;
                ci += 1;
            }
        }
    }
}
