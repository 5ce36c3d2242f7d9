//! NEON depthwise row kernel: 4 output columns per vector.
use super::{Dw3x3, Dw3x3Kernel, DwGeom, DwKernel, DwRow};
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

pub const DW3X3S1_4W_NEON: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s1_4w_neon", isa: Isa::Neon, lanes: V, stride: 1, run: dw3x3s1_4w_neon, pad_row: pad_row_neon };
pub const DW3X3S2_4W_NEON: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s2_4w_neon", isa: Isa::Neon, lanes: V, stride: 2, run: dw3x3s2_4w_neon, pad_row: pad_row_neon };

/// See [`super::PadRowFn`].
///
/// # Safety
/// See [`super::PadRowFn`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn pad_row_neon(dst: *mut f32, src: *const f32, n: usize, len: usize) {
    let mut i = 0;
    // SAFETY: loads stay in src[0..n] (the tail is gathered lane by lane); stores are whole
    // vectors below len rounded up to 4, writable per the contract.
    unsafe {
        while i + V <= n {
            vst1q_f32(dst.add(i), vld1q_f32(src.add(i)));
            i += V;
        }
        if i < n {
            let mut t = [0f32; V];
            core::ptr::copy_nonoverlapping(src.add(i), t.as_mut_ptr(), n - i);
            vst1q_f32(dst.add(i), vld1q_f32(t.as_ptr()));
            i += V;
        }
        while i < len {
            vst1q_f32(dst.add(i), vdupq_n_f32(0.0));
            i += V;
        }
    }
}

/// `acc + Σ_k tap_k·w[3r + k]` for one padded row and a vector of outputs at column `x`: stride
/// 1 taps `x[0..], x[1..], x[2..]`; stride 2 the even, odd and next even columns of `x[0..10]`.
///
/// # Safety
/// NEON is available; `x[0..6]` (stride 1) or `x[0..10]` (stride 2) is readable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn row3<const S: usize>(acc: float32x4_t, x: *const f32, w: &[f32; 9], r: usize) -> float32x4_t {
    // SAFETY: per the contract.
    unsafe {
        let [t0, t1, t2] = if S == 1 {
            [vld1q_f32(x), vld1q_f32(x.add(1)), vld1q_f32(x.add(2))]
        } else {
            let eo = vld2q_f32(x);
            [eo.0, eo.1, vld2q_f32(x.add(2)).0]
        };
        let a = vfmaq_n_f32(acc, t0, w[3 * r]);
        let a = vfmaq_n_f32(a, t1, w[3 * r + 1]);
        vfmaq_n_f32(a, t2, w[3 * r + 2])
    }
}

/// Clamps (if asked) and stores `n` lanes of `v` at `y`.
///
/// # Safety
/// NEON is available; `n <= 4` floats at `y` are writable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn store(y: *mut f32, v: float32x4_t, n: usize, p: &Dw3x3) {
    let v = if p.clamp { vminq_f32(vmaxq_f32(v, vdupq_n_f32(p.lo)), vdupq_n_f32(p.hi)) } else { v };
    // SAFETY: per the contract; the tail goes through a stack vector, n lanes copied.
    unsafe {
        if n == V {
            vst1q_f32(y, v);
        } else {
            let mut t = [0f32; V];
            vst1q_f32(t.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(t.as_ptr(), y, n);
        }
    }
}

/// The 3x3 channel kernel for stride `S`: output rows in pairs, whose padded rows
/// `S·oy ..= S·oy + S + 2` are each loaded per vector.
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has NEON.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn dw3x3_4w<const S: usize>(p: &Dw3x3) {
    // SAFETY: p.w holds 9 taps.
    let w: [f32; 9] = unsafe { *(p.w as *const [f32; 9]) };
    let bias = vdupq_n_f32(p.bias);
    let mut oy = 0;
    while oy < p.oh {
        let two = oy + 1 < p.oh;
        // SAFETY (whole row pair): padded rows S·oy .. S·oy + S + 2 exist when row oy + 1 does
        // ((oh-1)·S + 3 rows are readable), rows S·oy .. S·oy + 2 otherwise; the taps of the
        // vector at ox < owr are columns S·ox .. S·ox + 4·S + 1 < S·owr + 2 = xs, readable per
        // the layout; rows oy and oy + 1 of the output hold ow floats each.
        unsafe {
            let x0 = p.x.add(S * oy * p.xs);
            let y0 = p.y.add(oy * p.ow);
            let mut ox = 0;
            while ox < p.ow {
                let n = (p.ow - ox).min(V);
                let at = |r: usize| x0.add(r * p.xs + S * ox);
                let a = row3::<S>(row3::<S>(row3::<S>(bias, at(0), &w, 0), at(1), &w, 1), at(2), &w, 2);
                if two {
                    let b = row3::<S>(row3::<S>(row3::<S>(bias, at(S), &w, 0), at(S + 1), &w, 1), at(S + 2), &w, 2);
                    store(y0.add(p.ow + ox), b, n, p);
                }
                store(y0.add(ox), a, n, p);
                ox += V;
            }
        }
        oy += 2;
    }
}

/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dw3x3s1_4w_neon(p: &Dw3x3) {
    // SAFETY: forwarded contract.
    unsafe { dw3x3_4w::<1>(p) }
}

/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dw3x3s2_4w_neon(p: &Dw3x3) {
    // SAFETY: forwarded contract.
    unsafe { dw3x3_4w::<2>(p) }
}
