//! Scalar reference depthwise convolution.
use super::DwGeom;
use crate::Activation;

pub fn dwconv2d_ref(g: &DwGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    reference(g, x, |i| w[i], bias, act, y)
}

/// The reference with f16 weights (each tap widened exactly where it is used).
pub fn dwconv2d_f16w_ref(g: &DwGeom, x: &[f32], w: &[u16], bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    reference(g, x, |i| crate::f16::f16_to_f32(w[i]), bias, act, y)
}

/// The direct loops, with tap `i` of the whole filter tensor (channel-major, kh·kw per channel)
/// read through `tap`.
fn reference(g: &DwGeom, x: &[f32], tap: impl Fn(usize) -> f32, bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    for ch in 0..g.c {
        let xc = &x[ch * g.h * g.w..(ch + 1) * g.h * g.w];
        let w0 = ch * g.kh * g.kw;
        let b = bias.map_or(0.0, |b| b[ch]);
        for oy in 0..g.oh {
            for ox in 0..g.ow {
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
                        s += xc[iy as usize * g.w + ix as usize] * tap(w0 + ky * g.kw + kx);
                    }
                }
                y[ch * g.oh * g.ow + oy * g.ow + ox] = act.apply(s);
            }
        }
    }
}
