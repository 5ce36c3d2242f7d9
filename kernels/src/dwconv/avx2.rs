//! AVX2+FMA depthwise row kernel: 8 output columns per vector.
use super::{Dw3x3, Dw3x3Kernel, DwGeom, DwKernel, DwRow, PadBand};
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

pub const DW3X3S1_8W_AVX2: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s1_8w_avx2", isa: Isa::Avx2, lanes: V, stride: 1, run: dw3x3s1_8w_avx2, pad: pad_band_avx2 };
pub const DW3X3S2_8W_AVX2: Dw3x3Kernel = Dw3x3Kernel { name: "dw3x3s2_8w_avx2", isa: Isa::Avx2, lanes: V, stride: 2, run: dw3x3s2_8w_avx2, pad: pad_band_avx2 };

/// Lanes `l < n` set (n <= 8).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn first_lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// See [`super::PadFn`].
///
/// # Safety
/// See [`super::PadFn`]; the CPU has the features enabled here.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pad_band_avx2(p: &PadBand) {
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
/// `n <= len`; those ranges are readable and writable; the CPU has AVX2.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn copy_row(dst: *mut f32, src: *const f32, n: usize, len: usize) {
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

/// The three taps of one padded row for a vector of outputs at `x`: stride 1 `x[0..], x[1..],
/// x[2..]`; stride 2 (`x` at column 2·ox) the even, odd and next even columns of `x[0..18]`,
/// deinterleaved in registers with one in-lane shuffle each, so their lanes hold outputs
/// `[0 1 4 5 2 3 6 7]` (every tap alike, so the FMAs are lane-wise; [`unpermute`] restores the
/// order once per output vector: 3 shuffles per row instead of 6). (A copy split into even and
/// odd halves, so that the taps were plain loads, took 0.8–10x the time of the in-register
/// version on the MobileNet stride-2 shapes in two interleaved runs: 3–6x on 14x14, 15–20 %
/// less on 112x112 and 56x56 in one run only; its copy is masked loads and shuffles.)
///
/// # Safety
/// AVX2 is available; `x[0..10]` (stride 1) or `x[0..18]` (stride 2) is readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn taps3<const S: usize>(x: *const f32) -> [__m256; 3] {
    // SAFETY: per the contract.
    unsafe {
        if S == 1 {
            [_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(1)), _mm256_loadu_ps(x.add(2))]
        } else {
            // [a0 a2 b0 b2 | a4 a6 b4 b6]: outputs 0 1 4 5 | 2 3 6 7 (odd columns alike).
            let (a, b) = (_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8)));
            let (c, d) = (_mm256_loadu_ps(x.add(2)), _mm256_loadu_ps(x.add(10)));
            [_mm256_shuffle_ps::<0b10_00_10_00>(a, b), _mm256_shuffle_ps::<0b11_01_11_01>(a, b), _mm256_shuffle_ps::<0b10_00_10_00>(c, d)]
        }
    }
}

/// Outputs in the lane order of stride-2 [`taps3`] (`[0 1 4 5 2 3 6 7]`) back in order.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn unpermute<const S: usize>(v: __m256) -> __m256 {
    if S == 1 {
        v
    } else {
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
    }
}

/// `acc + t·w[3k..3k+3]` (three dependent FMAs).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fma3(acc: __m256, t: &[__m256; 3], w: &[__m256; 9], k: usize) -> __m256 {
    _mm256_fmadd_ps(t[2], w[3 * k + 2], _mm256_fmadd_ps(t[1], w[3 * k + 1], _mm256_fmadd_ps(t[0], w[3 * k], acc)))
}

/// Clamps (if asked) and stores `n` lanes of `v` at `y`; a tail (`n < 8`) as 4-, 2- and 1-lane
/// stores: `vmaskmovps` to memory cost 15 % of the 7x7 channel kernel's time (`perf`).
///
/// # Safety
/// AVX2 is available; `n <= 8` floats at `y` are writable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store(y: *mut f32, v: __m256, n: usize, p: &Dw3x3) {
    let v = if p.clamp { _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p.lo)), _mm256_set1_ps(p.hi)) } else { v };
    // SAFETY: per the contract; each store below writes lanes < n only.
    unsafe {
        if n == V {
            _mm256_storeu_ps(y, v);
            return;
        }
        let (mut y, mut h, mut n) = (y, _mm256_castps256_ps128(v), n);
        if n >= 4 {
            _mm_storeu_ps(y, h);
            h = _mm256_extractf128_ps::<1>(v);
            (y, n) = (y.add(4), n - 4);
        }
        if n >= 2 {
            _mm_store_sd(y as *mut f64, _mm_castps_pd(h));
            h = _mm_movehl_ps(h, h);
            (y, n) = (y.add(2), n - 2);
        }
        if n == 1 {
            _mm_store_ss(y, h);
        }
    }
}

/// Output rows `oy .. oy + R` of the 3x3 channel kernel for stride `S`: each of their padded
/// rows `S·oy .. S·oy + S·(R-1) + 2` is loaded once per vector and feeds every output row it is
/// a tap row of (R accumulators, 9 taps in registers).
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has AVX2 and FMA; `oy + R <= p.oh`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_8w<const S: usize, const R: usize>(p: &Dw3x3, w: &[__m256; 9], bias: __m256, oy: usize) {
    // SAFETY: padded rows S·oy .. S·(oy + R - 1) + 2 exist ((oh-1)·S + 3 rows are readable, oy
    // + R <= oh); the taps of the vector at ox <= owr - 8 are columns S·ox .. S·ox + 8·S + 1 <
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
                        *a = fma3(*a, &t, w, i - S * o);
                    }
                }
            }
            for (o, a) in acc.iter().enumerate() {
                store(y0.add(o * p.ow + ox), unpermute::<S>(*a), n, p);
            }
            ox += V;
        }
    }
}

/// The 3x3 channel kernel for stride `S`: output rows four at a time (then two, one).
///
/// # Safety
/// See [`super::Dw3x3Fn`]; the CPU has AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw3x3_8w<const S: usize>(p: &Dw3x3) {
    // SAFETY (taps and bias): p.w holds 9 taps and the bias.
    let w: [__m256; 9] = core::array::from_fn(|i| unsafe { _mm256_set1_ps(*p.w.add(i)) });
    let bias = unsafe { _mm256_set1_ps(*p.w.add(9)) };
    let mut oy = 0;
    // SAFETY: each call's rows oy .. oy + R are below oh; the rest of the contract is p's.
    unsafe {
        while oy + 4 <= p.oh {
            rows_8w::<S, 4>(p, &w, bias, oy);
            oy += 4;
        }
        if oy + 2 <= p.oh {
            rows_8w::<S, 2>(p, &w, bias, oy);
            oy += 2;
        }
        if oy < p.oh {
            rows_8w::<S, 1>(p, &w, bias, oy);
        }
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
