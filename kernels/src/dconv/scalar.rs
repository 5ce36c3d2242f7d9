//! The scalar reference: the convolution's definition, output by output, taps in the order
//! (channel, ky, kx) with separate multiply and add (per channel, the depthwise reference's
//! pixel sum).
use crate::geom::ConvGeom;
use crate::Activation;

/// Output rows `rows` of all `m` channels (any stride and dilation; the table's contract).
///
/// # Safety
/// The [`super::DconvFn`] contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn dconv_rows(g: &ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, rows: core::ops::Range<usize>, y: *mut f32, _scratch: &mut [f32]) {
    let taps = g.c * g.kh * g.kw;
    let plane = g.h * g.w;
    for ch in 0..m {
        for oy in rows.clone() {
            for ox in 0..g.ow {
                let mut s = bias.map_or(0.0, |b| b[ch]);
                for ci in 0..g.c {
                    let wc = &w[ch * taps + ci * g.kh * g.kw..][..g.kh * g.kw];
                    s = crate::dwconv::pixel(g, &x[ci * plane..(ci + 1) * plane], wc, s, oy, ox);
                }
                // SAFETY: ch < m, oy in rows, ox < ow: an output ours to write (contract).
                unsafe { *y.add((ch * g.oh + oy) * g.ow + ox) = act.apply(s) };
            }
        }
    }
}
