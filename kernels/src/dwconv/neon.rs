//! NEON depthwise row kernel: 4 output columns per vector.
use super::{DwGeom, DwKernel, DwRow};
use crate::Isa;
use core::arch::aarch64::*;

const V: usize = 4;

pub const DWCONV_4W_NEON: DwKernel = DwKernel { name: "dwconv_4w_neon", isa: Isa::Neon, lanes: V, row: dwconv_4w_neon };

/// # Safety
/// See [`super::DwRowFn`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dwconv_4w_neon(g: &DwGeom, r: &DwRow) -> usize {
    let s = g.sw;
    let (lo, hi) = (vdupq_n_f32(r.lo), vdupq_n_f32(r.hi));
    let mut ox = r.ox0;
    while ox + V <= r.ox1 {
        let mut acc = vdupq_n_f32(r.bias);
        for ky in 0..g.kh {
            let iy = (r.oy * g.sh + ky * g.dh) as isize - g.pt as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            for kx in 0..g.kw {
                // ox >= ox0 = ceil(pl/sw), so the subtraction does not wrap.
                let ix0 = ox * s + kx * g.dw - g.pl;
                // SAFETY: row iy is inside the plane; columns ix0 + l*s for l < 4 are taps of
                // outputs ox..ox+4 < ox1, all inside the row (interior); the filter has kh*kw.
                unsafe {
                    let xp = r.x.add(iy as usize * g.w + ix0);
                    let xv = if s == 1 {
                        vld1q_f32(xp)
                    } else {
                        let lanes = [*xp, *xp.add(s), *xp.add(2 * s), *xp.add(3 * s)];
                        vld1q_f32(lanes.as_ptr())
                    };
                    acc = vfmaq_n_f32(acc, xv, *r.w.add(ky * g.kw + kx));
                }
            }
        }
        if r.clamp {
            acc = vminq_f32(vmaxq_f32(acc, lo), hi);
        }
        // SAFETY: ox + 4 <= ox1 <= ow, the output row length.
        unsafe { vst1q_f32(r.y.add(ox), acc) };
        ox += V;
    }
    ox
}
