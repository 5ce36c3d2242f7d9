//! The geometry of a 2-D convolution over one NCHW image, shared by the dense path (the im2col
//! GEMM operand, [`crate::gemm::Im2colRef`]) and the depthwise kernels ([`crate::dwconv`], which
//! name it `DwGeom`).
//!
//! All sizes are in elements. Output position `(oy, ox)` and tap `(ky, kx)` read input
//! `(oy·sh + ky·dh − pt, ox·sw + kx·dw − pl)`, which is zero padding when it lies before row/column
//! 0 or at/after `h`/`w`. Bottom and right padding are implied by `oh`/`ow` (asymmetric padding
//! needs no extra field).

/// Geometry of a 2-D convolution over one `[c, h, w]` image, in elements.
///
/// For the im2col operand `c` is the channels of one group; for a depthwise convolution it is
/// all the channels (one filter each).
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
    /// Padding at the top and the left (bottom/right padding is implied by `oh`/`ow`).
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

    /// Element (p, j) of the im2col matrix of `x`: row `p = (ci·kh + ky)·kw + kx`, column
    /// `j = oy·ow + ox` (see [`crate::gemm::Im2colRef`]), one element at a time.
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

    /// Asserts the slice lengths of a depthwise convolution over this geometry (`x` `[c, h, w]`,
    /// `w` `[c, kh, kw]`, `bias` `[c]`, `y` `[c, oh, ow]`) and non-zero strides and dilations.
    pub fn check_depthwise(&self, x: usize, w: usize, bias: Option<usize>, y: usize) {
        assert!(self.sh > 0 && self.sw > 0 && self.dh > 0 && self.dw > 0, "dwconv: zero stride or dilation");
        assert_eq!(x, self.c * self.h * self.w, "dwconv: input length");
        assert_eq!(w, self.c * self.kh * self.kw, "dwconv: weight length");
        assert_eq!(y, self.c * self.oh * self.ow, "dwconv: output length");
        if let Some(b) = bias {
            assert_eq!(b, self.c, "dwconv: bias length");
        }
    }
}
