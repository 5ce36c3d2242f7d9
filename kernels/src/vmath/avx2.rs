//! AVX2+FMA lanes (8 × f32) for the generic formulas in `vmath`.
use super::{map_func, Func, Lanes};
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct F8(__m256);

// The methods are only reached from `map_inplace` below, a `#[target_feature(enable =
// "avx2,fma")]` function into which they are inlined (inline(always)), so the intrinsics run
// where AVX2 and FMA are available.
impl Lanes for F8 {
    #[inline(always)]
    fn splat(v: f32) -> F8 {
        // SAFETY: see the impl comment: only executed with AVX2+FMA available.
        F8(unsafe { _mm256_set1_ps(v) })
    }
    #[inline(always)]
    fn add(self, o: F8) -> F8 {
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_add_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn sub(self, o: F8) -> F8 {
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_sub_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn mul(self, o: F8) -> F8 {
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_mul_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn div(self, o: F8) -> F8 {
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_div_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn mul_add(self, b: F8, c: F8) -> F8 {
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn abs(self) -> F8 {
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0) })
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> F8 {
        // max/min return their second operand when either is NaN: keep x second.
        // SAFETY: see the impl comment.
        F8(unsafe { _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), self.0)) })
    }
    #[inline(always)]
    fn copysign(self, s: F8) -> F8 {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm256_set1_ps(-0.0);
            F8(_mm256_or_ps(_mm256_andnot_ps(m, self.0), _mm256_and_ps(m, s.0)))
        }
    }
    #[inline(always)]
    fn select_lt(a: F8, b: F8, x: F8, y: F8) -> F8 {
        // SAFETY: see the impl comment.
        unsafe { F8(_mm256_blendv_ps(y.0, x.0, _mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0))) }
    }
    #[inline(always)]
    fn scale_pow2(self, k: F8) -> F8 {
        // SAFETY: see the impl comment.
        unsafe {
            let k = _mm256_cvtps_epi32(k.0);
            let k1 = _mm256_srai_epi32::<1>(k);
            let k2 = _mm256_sub_epi32(k, k1);
            let bias = _mm256_set1_epi32(127);
            let p1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k1, bias)));
            let p2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k2, bias)));
            F8(_mm256_mul_ps(_mm256_mul_ps(self.0, p1), p2))
        }
    }
}

/// # Safety
/// AVX2 and FMA must be available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn map_inplace(f: Func, xs: &mut [f32]) {
    map_func::<F8, 8>(
        f,
        xs,
        // SAFETY: the array holds 8 f32; loadu has no alignment requirement.
        |a| F8(unsafe { _mm256_loadu_ps(a.as_ptr()) }),
        // SAFETY: as above, for 8 writable f32.
        |v, a| unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v.0) },
    );
}
