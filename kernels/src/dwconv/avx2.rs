//! AVX2+FMA depthwise row kernel: 8 output columns per vector.
use super::{DwGeom, DwKernel, DwRow};
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
