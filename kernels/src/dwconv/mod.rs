//! Depthwise 2-D convolution (one filter per channel, channel multiplier 1), NCHW, batch 1.
//!
//! Contract: `x` is `[c, h, w]`, `w` is `[c, kh, kw]`, `y` is `[c, oh, ow]`, all contiguous.
//! Padding is implicit zeros. Lengths are checked on entry (panic on mismatch, before any
//! unchecked access).
pub mod scalar;

use crate::{Activation, Isa};

/// Geometry of a depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwGeom {
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

impl DwGeom {
    pub fn check(&self, x: usize, w: usize, bias: Option<usize>, y: usize) {
        assert!(self.sh > 0 && self.sw > 0 && self.dh > 0 && self.dw > 0, "dwconv: zero stride or dilation");
        assert_eq!(x, self.c * self.h * self.w, "dwconv: input length");
        assert_eq!(w, self.c * self.kh * self.kw, "dwconv: weight length");
        assert_eq!(y, self.c * self.oh * self.ow, "dwconv: output length");
        if let Some(b) = bias {
            assert_eq!(b, self.c, "dwconv: bias length");
        }
    }
}

pub fn dwconv2d(isa: Isa, g: &DwGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    g.check(x.len(), w.len(), bias.map(|b| b.len()), y.len());
    let _ = isa;
    scalar::dwconv2d_ref(g, x, w, bias, act, y)
}
