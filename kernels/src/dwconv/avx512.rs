//! AVX-512F depthwise row kernel: 16 output columns per vector.
use super::{Dw3x3, Dw3x3Kernel, DwGeom, DwKernel, DwRow};
use crate::Isa;
use core::arch::x86_64::*;

const V: usize = 16;

pub const DWCONV_16W_AVX512: DwKernel = DwKernel { name: "dwconv_16w_avx512", isa: Isa::Avx512, lanes: V, row: dwconv_16w_avx512 };

/// Loads input columns `ix0 + l*s` for lanes `l < 16`.
///
/// # Safety
/// AVX-512F is available and those 16 columns of `xrow` are readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn load_strided(xrow: *const f32, ix0: usize, s: usize, gidx: __m512i) -> __m512 {
    // SAFETY: per the contract, lanes ix0 + l*s (l < 16) are in bounds; the masked load of the
    // second half reads only 15 lanes (ix0+16 .. ix0+30), the last of which is lane 15's column.
    unsafe {
        match s {
            1 => _mm512_loadu_ps(xrow.add(ix0)),
            2 => {
                let a = _mm512_loadu_ps(xrow.add(ix0));
                let b = _mm512_maskz_loadu_ps(0x7fff, xrow.add(ix0 + 16));
                let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                _mm512_permutex2var_ps(a, even, b)
            }
            _ => _mm512_i32gather_ps::<4>(gidx, xrow.add(ix0)),
        }
    }
}

/// # Safety
/// See [`super::DwRowFn`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn dwconv_16w_avx512(g: &DwGeom, r: &DwRow) -> usize {
    let s = g.sw;
    let gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(s as i32));
    let (lo, hi) = (_mm512_set1_ps(r.lo), _mm512_set1_ps(r.hi));
    let mut ox = r.ox0;
    while ox + V <= r.ox1 {
        let mut acc = _mm512_set1_ps(r.bias);
        for ky in 0..g.kh {
            let iy = (r.oy * g.sh + ky * g.dh) as isize - g.pt as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            for kx in 0..g.kw {
                // ox >= ox0 = ceil(pl/sw), so the subtraction does not wrap.
                let ix0 = ox * s + kx * g.dw - g.pl;
                // SAFETY: row iy is inside the plane; columns ix0 + l*s for l < 16 are taps of
                // outputs ox..ox+16 < ox1, all inside the row (interior); the filter has kh*kw.
                unsafe {
                    let xv = load_strided(r.x.add(iy as usize * g.w), ix0, s, gidx);
                    acc = _mm512_fmadd_ps(xv, _mm512_set1_ps(*r.w.add(ky * g.kw + kx)), acc);
                }
            }
        }
        if r.clamp {
            acc = _mm512_min_ps(_mm512_max_ps(acc, lo), hi);
        }
        // SAFETY: ox + 16 <= ox1 <= ow, the output row length.
        unsafe { _mm512_storeu_ps(r.y.add(ox), acc) };
        ox += V;
    }
    ox
}

pub const DW3X3S1_16W_AVX512: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s1_16w_avx512", isa: Isa::Avx512, lanes: V, stride: 1, run: dw3x3s1_16w_avx512, pad_row: pad_row_avx512 };
pub const DW3X3S2_16W_AVX512: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s2_16w_avx512", isa: Isa::Avx512, lanes: V, stride: 2, run: dw3x3s2_16w_avx512, pad_row: pad_row_avx512 };

/// Lanes `l < n` set (n <= 16).
#[inline]
fn first_lanes(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

/// See [`super::PadRowFn`].
///
/// # Safety
/// See [`super::PadRowFn`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn pad_row_avx512(dst: *mut f32, src: *const f32, n: usize, len: usize) {
    let mut i = 0;
    // SAFETY: loads stay in src[0..n] (the masked one reads lanes < n - i only, without faults
    // on the others); stores are whole vectors below len rounded up to 16, writable per the
    // contract.
    unsafe {
        while i + V <= n {
            _mm512_storeu_ps(dst.add(i), _mm512_loadu_ps(src.add(i)));
            i += V;
        }
        if i < n {
            _mm512_storeu_ps(dst.add(i), _mm512_maskz_loadu_ps(first_lanes(n - i), src.add(i)));
            i += V;
        }
        while i < len {
            _mm512_storeu_ps(dst.add(i), _mm512_setzero_ps());
            i += V;
        }
    }
}

/// The three taps of one padded row for a vector of outputs at column `x`: stride 1 `x[0..],
/// x[1..], x[2..]`; stride 2 the even, odd and next even columns of `x[0..34]`.
///
/// # Safety
/// AVX-512F is available; `x[0..18]` (stride 1) or `x[0..34]` (stride 2) is readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn taps3<const S: usize>(x: *const f32) -> [__m512; 3] {
    // SAFETY: per the contract.
    unsafe {
        if S == 1 {
            [_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(1)), _mm512_loadu_ps(x.add(2))]
        } else {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
            let (a, b) = (_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(16)));
            let (c, d) = (_mm512_loadu_ps(x.add(2)), _mm512_loadu_ps(x.add(18)));
            [_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b), _mm512_permutex2var_ps(c, even, d)]
        }
    }
}

/// `acc + t·w[3k..3k+3]` (three dependent FMAs).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn fma3(acc: __m512, t: &[__m512; 3], w: &[__m512; 9], k: usize) -> __m512 {
    _mm512_fmadd_ps(t[2], w[3 * k + 2], _mm512_fmadd_ps(t[1], w[3 * k + 1], _mm512_fmadd_ps(t[0], w[3 * k], acc)))
}

/// Clamps (if asked) and stores `n` lanes of `v` at `y` (masked).
///
/// # Safety
/// AVX-512F is available; `n <= 16` floats at `y` are writable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn store(y: *mut f32, v: __m512, n: usize, p: &Dw3x3) {
    let v = if p.clamp { _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(p.lo)), _mm512_set1_ps(p.hi)) } else { v };
    // SAFETY: per the contract; the masked store writes lanes < n only.
    unsafe { _mm512_mask_storeu_ps(y, first_lanes(n), v) }
}

/// The 3x3 channel kernel for stride `S`: output rows in pairs, whose padded rows
/// `S·oy ..= S·oy + S + 2` are each loaded once per vector and feed both rows.
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dw3x3_16w<const S: usize>(p: &Dw3x3) {
    // SAFETY: p.w holds 9 taps.
    let w: [__m512; 9] = core::array::from_fn(|i| unsafe { _mm512_set1_ps(*p.w.add(i)) });
    let bias = _mm512_set1_ps(p.bias);
    let mut oy = 0;
    while oy < p.oh {
        let two = oy + 1 < p.oh;
        // SAFETY (whole row pair): padded rows S·oy .. S·oy + S + 2 exist when row oy + 1 does
        // ((oh-1)·S + 3 rows are readable), rows S·oy .. S·oy + 2 otherwise; the taps of the
        // vector at ox < owr are columns S·ox .. S·ox + 16·S + 1 < S·owr + 2 = xs, readable per
        // the layout; rows oy and oy + 1 of the output hold ow floats each.
        unsafe {
            let x0 = p.x.add(S * oy * p.xs);
            let y0 = p.y.add(oy * p.ow);
            let mut ox = 0;
            while ox < p.ow {
                let n = (p.ow - ox).min(V);
                let at = |r: usize| x0.add(r * p.xs + S * ox);
                let t1 = taps3::<S>(at(1));
                let t2 = taps3::<S>(at(2));
                let a = fma3(fma3(fma3(bias, &taps3::<S>(at(0)), &w, 0), &t1, &w, 1), &t2, &w, 2);
                if two {
                    let b = if S == 1 {
                        fma3(fma3(fma3(bias, &t1, &w, 0), &t2, &w, 1), &taps3::<S>(at(3)), &w, 2)
                    } else {
                        fma3(fma3(fma3(bias, &t2, &w, 0), &taps3::<S>(at(3)), &w, 1), &taps3::<S>(at(4)), &w, 2)
                    };
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
/// See [`super::Dw3x3Fn`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn dw3x3s1_16w_avx512(p: &Dw3x3) {
    // SAFETY: forwarded contract.
    unsafe { dw3x3_16w::<1>(p) }
}

/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn dw3x3s2_16w_avx512(p: &Dw3x3) {
    // SAFETY: forwarded contract.
    unsafe { dw3x3_16w::<2>(p) }
}
