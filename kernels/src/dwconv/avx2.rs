//! AVX2+FMA depthwise row kernel: 8 output columns per vector.
use super::{Dw3x3, Dw3x3Kernel, DwGeom, DwKernel, DwRow};
use crate::Isa;
use core::arch::x86_64::*;

const V: usize = 8;

pub const DWCONV_8W_AVX2: DwKernel = DwKernel { name: "dwconv_8w_avx2", isa: Isa::Avx2, lanes: V, row: dwconv_8w_avx2 };

/// Loads input columns `ix0 + l*s` for lanes `l < 8`.
///
/// # Safety
/// AVX2 is available and those 8 columns of `xrow` are readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load_strided(xrow: *const f32, ix0: usize, s: usize, gidx: __m256i) -> __m256 {
    // SAFETY: per the contract, lanes ix0 + l*s (l < 8) are in bounds; the masked load of the
    // second half reads only 7 lanes (ix0+8 .. ix0+14), the last of which is lane 7's column.
    unsafe {
        match s {
            1 => _mm256_loadu_ps(xrow.add(ix0)),
            2 => {
                let a = _mm256_loadu_ps(xrow.add(ix0));
                let m = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0);
                let b = _mm256_maskload_ps(xrow.add(ix0 + 8), m);
                // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
                let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(e)))
            }
            _ => _mm256_i32gather_ps::<4>(xrow.add(ix0), gidx),
        }
    }
}

/// # Safety
/// See [`super::DwRowFn`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dwconv_8w_avx2(g: &DwGeom, r: &DwRow) -> usize {
    let s = g.sw;
    let gidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(s as i32));
    let (lo, hi) = (_mm256_set1_ps(r.lo), _mm256_set1_ps(r.hi));
    let mut ox = r.ox0;
    while ox + V <= r.ox1 {
        let mut acc = _mm256_set1_ps(r.bias);
        for ky in 0..g.kh {
            let iy = (r.oy * g.sh + ky * g.dh) as isize - g.pt as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            for kx in 0..g.kw {
                // ox >= ox0 = ceil(pl/sw), so the subtraction does not wrap.
                let ix0 = ox * s + kx * g.dw - g.pl;
                // SAFETY: row iy is inside the plane; columns ix0 + l*s for l < 8 are taps of
                // outputs ox..ox+8 < ox1, all inside the row (interior); the filter has kh*kw.
                unsafe {
                    let xv = load_strided(r.x.add(iy as usize * g.w), ix0, s, gidx);
                    acc = _mm256_fmadd_ps(xv, _mm256_set1_ps(*r.w.add(ky * g.kw + kx)), acc);
                }
            }
        }
        if r.clamp {
            acc = _mm256_min_ps(_mm256_max_ps(acc, lo), hi);
        }
        // SAFETY: ox + 8 <= ox1 <= ow, the output row length.
        unsafe { _mm256_storeu_ps(r.y.add(ox), acc) };
        ox += V;
    }
    ox
}

pub const DW3X3S1_8W_AVX2: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s1_8w_avx2", isa: Isa::Avx2, lanes: V, stride: 1, run: dw3x3s1_8w_avx2, pad_row: pad_row_avx2 };
pub const DW3X3S2_8W_AVX2: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s2_8w_avx2", isa: Isa::Avx2, lanes: V, stride: 2, run: dw3x3s2_8w_avx2, pad_row: pad_row_avx2 };

/// Lanes `l < n` set (n <= 8).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn first_lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// See [`super::PadRowFn`].
///
/// # Safety
/// See [`super::PadRowFn`]; the CPU has AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pad_row_avx2(dst: *mut f32, src: *const f32, n: usize, len: usize) {
    let mut i = 0;
    // SAFETY: loads stay in src[0..n] (the masked one reads lanes < n - i only); stores are whole
    // vectors below len rounded up to 8, writable per the contract.
    unsafe {
        while i + V <= n {
            _mm256_storeu_ps(dst.add(i), _mm256_loadu_ps(src.add(i)));
            i += V;
        }
        if i < n {
            _mm256_storeu_ps(dst.add(i), _mm256_maskload_ps(src.add(i), first_lanes(n - i)));
            i += V;
        }
        while i < len {
            _mm256_storeu_ps(dst.add(i), _mm256_setzero_ps());
            i += V;
        }
    }
}

/// The three taps of one padded row for a vector of outputs at column `x`: stride 1 `x[0..],
/// x[1..], x[2..]`; stride 2 the even, odd and next even columns of `x[0..18]`.
///
/// # Safety
/// AVX2 is available; `x[0..10]` (stride 1) or `x[0..18]` (stride 2) is readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn taps3<const S: usize>(x: *const f32) -> [__m256; 3] {
    // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6] (and the odd ones alike)
    let fix = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
    // SAFETY: per the contract.
    unsafe {
        if S == 1 {
            [_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(1)), _mm256_loadu_ps(x.add(2))]
        } else {
            let (a, b) = (_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8)));
            let (c, d) = (_mm256_loadu_ps(x.add(2)), _mm256_loadu_ps(x.add(10)));
            [fix(_mm256_shuffle_ps::<0b10_00_10_00>(a, b)), fix(_mm256_shuffle_ps::<0b11_01_11_01>(a, b)), fix(_mm256_shuffle_ps::<0b10_00_10_00>(c, d))]
        }
    }
}

/// `acc + t·w[3k..3k+3]` (three dependent FMAs).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fma3(acc: __m256, t: &[__m256; 3], w: &[__m256; 9], k: usize) -> __m256 {
    _mm256_fmadd_ps(t[2], w[3 * k + 2], _mm256_fmadd_ps(t[1], w[3 * k + 1], _mm256_fmadd_ps(t[0], w[3 * k], acc)))
}

/// Clamps (if asked) and stores `n` lanes of `v` at `y` (masked when `n < 8`).
///
/// # Safety
/// AVX2 is available; `n <= 8` floats at `y` are writable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store(y: *mut f32, v: __m256, n: usize, p: &Dw3x3) {
    let v = if p.clamp { _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p.lo)), _mm256_set1_ps(p.hi)) } else { v };
    // SAFETY: per the contract; the masked store writes lanes < n only.
    unsafe {
        if n == V {
            _mm256_storeu_ps(y, v);
        } else {
            _mm256_maskstore_ps(y, first_lanes(n), v);
        }
    }
}

/// The 3x3 channel kernel for stride `S`: output rows in pairs, whose padded rows
/// `S·oy ..= S·oy + S + 2` are each loaded once per vector and feed both rows.
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw3x3_8w<const S: usize>(p: &Dw3x3) {
    // SAFETY: p.w holds 9 taps.
    let w: [__m256; 9] = core::array::from_fn(|i| unsafe { _mm256_set1_ps(*p.w.add(i)) });
    let bias = _mm256_set1_ps(p.bias);
    let mut oy = 0;
    while oy < p.oh {
        let two = oy + 1 < p.oh;
        // SAFETY (whole row pair): padded rows S·oy .. S·oy + S + 2 exist when row oy + 1 does
        // ((oh-1)·S + 3 rows are readable), rows S·oy .. S·oy + 2 otherwise; the taps of the
        // vector at ox < owr are columns S·ox .. S·ox + 8·S + 1 < S·owr + 2 = xs, readable per
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
/// See [`super::Dw3x3Fn`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dw3x3s1_8w_avx2(p: &Dw3x3) {
    // SAFETY: forwarded contract.
    unsafe { dw3x3_8w::<1>(p) }
}

/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dw3x3s2_8w_avx2(p: &Dw3x3) {
    // SAFETY: forwarded contract.
    unsafe { dw3x3_8w::<2>(p) }
}
