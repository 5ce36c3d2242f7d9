//! NEON lanes (4 × f32) for the generic formulas in `vmath`.
use super::{map_func, Func, Lanes};
use core::arch::aarch64::*;

#[derive(Clone, Copy)]
pub(crate) struct F4(float32x4_t);

// The methods are only reached from `map_inplace` below, a `#[target_feature(enable = "neon")]`
// function into which they are inlined, so the intrinsics run where NEON is available.
impl Lanes for F4 {
    #[inline(always)]
    fn splat(v: f32) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vdupq_n_f32(v) })
    }
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vaddq_f32(self.0, o.0) })
    }
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vsubq_f32(self.0, o.0) })
    }
    #[inline(always)]
    fn mul(self, o: F4) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vmulq_f32(self.0, o.0) })
    }
    #[inline(always)]
    fn div(self, o: F4) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vdivq_f32(self.0, o.0) })
    }
    #[inline(always)]
    fn mul_add(self, b: F4, c: F4) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vfmaq_f32(c.0, self.0, b.0) })
    }
    #[inline(always)]
    fn abs(self) -> F4 {
        // SAFETY: see the impl comment.
        F4(unsafe { vabsq_f32(self.0) })
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> F4 {
        // vmaxq/vminq return NaN when either operand is NaN.
        // SAFETY: see the impl comment.
        F4(unsafe { vminq_f32(vmaxq_f32(self.0, vdupq_n_f32(lo)), vdupq_n_f32(hi)) })
    }
    #[inline(always)]
    fn copysign(self, s: F4) -> F4 {
        // SAFETY: see the impl comment.
        unsafe {
            let m = vdupq_n_u32(0x8000_0000);
            F4(vbslq_f32(m, s.0, self.0))
        }
    }
    #[inline(always)]
    fn select_lt(a: F4, b: F4, x: F4, y: F4) -> F4 {
        // SAFETY: see the impl comment.
        unsafe { F4(vbslq_f32(vcltq_f32(a.0, b.0), x.0, y.0)) }
    }
    #[inline(always)]
    fn scale_pow2(self, k: F4) -> F4 {
        // SAFETY: see the impl comment.
        unsafe {
            let k = vcvtnq_s32_f32(k.0);
            let k1 = vshrq_n_s32::<1>(k);
            let k2 = vsubq_s32(k, k1);
            let bias = vdupq_n_s32(127);
            let p1 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k1, bias)));
            let p2 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k2, bias)));
            F4(vmulq_f32(vmulq_f32(self.0, p1), p2))
        }
    }
}

/// # Safety
/// NEON must be available.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn map_inplace(f: Func, xs: &mut [f32]) {
    map_func::<F4, 4>(
        f,
        xs,
        // SAFETY: the array holds 4 f32; vld1q has no alignment requirement beyond f32's.
        |a| F4(unsafe { vld1q_f32(a.as_ptr()) }),
        // SAFETY: as above, for 4 writable f32.
        |v, a| unsafe { vst1q_f32(a.as_mut_ptr(), v.0) },
    );
}
