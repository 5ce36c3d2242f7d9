//! NEON depthwise row kernel: 4 output columns per vector.
use super::{Dw3x3, Dw3x3Kernel, DwGeom, DwKernel, DwRow, PadBand};
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

pub const DW3X3S1_4W_NEON: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s1_4w_neon", isa: Isa::Neon, lanes: V, stride: 1, run: dw3x3s1_4w_neon, pad: pad_band_neon };
pub const DW3X3S2_4W_NEON: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s2_4w_neon", isa: Isa::Neon, lanes: V, stride: 2, run: dw3x3s2_4w_neon, pad: pad_band_neon };

/// See [`super::PadFn`].
///
/// # Safety
/// See [`super::PadFn`]; the CPU has the features enabled here.
#[target_feature(enable = "neon")]
pub unsafe fn pad_band_neon(p: &PadBand) {
    for r in 0..p.rows {
        let iy = p.iy0 + r as isize;
        // SAFETY: row r's writes end at most V - 1 floats past (r + 1)·xs <= rows·xs, inside
        // dst; an existing input row iy < h is read in its columns 0..n <= w.
        unsafe {
            let row = p.dst.add(r * p.xs);
            if iy >= 0 && (iy as usize) < p.h && p.n > 0 {
                copy_row(row.add(p.pl), p.src.add(iy as usize * p.w), p.n, p.xs - p.pl);
            } else {
                copy_row(row, p.src, 0, p.xs);
            }
        }
    }
}

/// Writes `src[0..n]` then zeros to `dst[0..len.next_multiple_of(V)]` in whole vectors, reading
/// only `src[0..n]`.
///
/// # Safety
/// `n <= len`; those ranges are readable and writable; the CPU has NEON.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn copy_row(dst: *mut f32, src: *const f32, n: usize, len: usize) {
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

/// The three taps of one padded row for a vector of outputs at `x`: stride 1 `x[0..], x[1..],
/// x[2..]`; stride 2 the even, odd and next even columns of `x[0..10]` (deinterleaving loads).
///
/// # Safety
/// NEON is available; `x[0..6]` (stride 1) or `x[0..10]` (stride 2) is readable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn taps3<const S: usize>(x: *const f32) -> [float32x4_t; 3] {
    // SAFETY: per the contract.
    unsafe {
        if S == 1 {
            [vld1q_f32(x), vld1q_f32(x.add(1)), vld1q_f32(x.add(2))]
        } else {
            let eo = vld2q_f32(x);
            [eo.0, eo.1, vld2q_f32(x.add(2)).0]
        }
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
    // SAFETY: per the contract; each store below writes lanes < n only.
    unsafe {
        if n == V {
            vst1q_f32(y, v);
            return;
        }
        let (mut y, mut h) = (y, vget_low_f32(v));
        if n >= 2 {
            vst1_f32(y, h);
            (y, h) = (y.add(2), vget_high_f32(v));
        }
        if n % 2 == 1 {
            vst1_lane_f32::<0>(y, h);
        }
    }
}

/// Output rows `oy .. oy + R` of the 3x3 channel kernel for stride `S`: each of their padded
/// rows `S·oy .. S·oy + S·(R-1) + 2` is loaded once per vector and feeds every output row it is
/// a tap row of (R accumulators).
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has NEON; `oy + R <= p.oh`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn rows_4w<const S: usize, const R: usize>(p: &Dw3x3, w: &[f32; 9], bias: float32x4_t, oy: usize) {
    // SAFETY: padded rows S·oy .. S·(oy + R - 1) + 2 exist ((oh-1)·S + 3 rows are readable, oy
    // + R <= oh); the taps of the vector at ox <= owr - 4 are columns S·ox .. S·ox + 4·S + 1 <
    // S·owr + 2 = xs, readable per the layout; output rows oy .. oy + R hold ow floats each.
    unsafe {
        let x0 = p.x.add(S * oy * p.xs);
        let y0 = p.y.add(oy * p.ow);
        let mut ox = 0;
        while ox < p.ow {
            let n = (p.ow - ox).min(V);
            let mut acc = [bias; R];
            for i in 0..S * (R - 1) + 3 {
                let t = taps3::<S>(x0.add(i * p.xs + S * ox));
                // Padded row i is tap row k = i - S·o of output row o.
                for (o, a) in acc.iter_mut().enumerate() {
                    if i >= S * o && i - S * o < 3 {
                        let k = 3 * (i - S * o);
                        *a = vfmaq_n_f32(vfmaq_n_f32(vfmaq_n_f32(*a, t[0], w[k]), t[1], w[k + 1]), t[2], w[k + 2]);
                    }
                }
            }
            for (o, a) in acc.iter().enumerate() {
                store(y0.add(o * p.ow + ox), *a, n, p);
            }
            ox += V;
        }
    }
}

/// The 3x3 channel kernel for stride `S`: output rows four at a time (then two, one).
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has NEON.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn dw3x3_4w<const S: usize>(p: &Dw3x3) {
    // SAFETY (taps and bias): p.w holds 9 taps and the bias.
    let w: [f32; 9] = unsafe { *(p.w as *const [f32; 9]) };
    let bias = unsafe { vdupq_n_f32(*p.w.add(9)) };
    let mut oy = 0;
    // SAFETY: each call's rows oy .. oy + R are below oh; the rest of the contract is p's.
    unsafe {
        while oy + 4 <= p.oh {
            rows_4w::<S, 4>(p, &w, bias, oy);
            oy += 4;
        }
        if oy + 2 <= p.oh {
            rows_4w::<S, 2>(p, &w, bias, oy);
            oy += 2;
        }
        if oy < p.oh {
            rows_4w::<S, 1>(p, &w, bias, oy);
        }
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
