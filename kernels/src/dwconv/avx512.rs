//! AVX-512F depthwise row kernel: 16 output columns per vector.
use super::{DwGeom, DwKernel, DwRow};
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
