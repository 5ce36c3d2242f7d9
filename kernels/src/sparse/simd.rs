//! A thin vector abstraction so that each sparse kernel body is written once (in
//! `spmm/generic.rs`, `spmv/generic.rs`) and instantiated per ISA.
//!
//! Every method is `#[inline(always)]` and calls intrinsics that need target features; the
//! methods are only ever called from inside a `#[target_feature]` kernel entry (the named
//! functions in the `avx2`, `avx512` and `neon` files), into which they are inlined, so the
//! intrinsics compile to single instructions there. Calling them anywhere else is undefined
//! behaviour on a CPU without the feature, hence `unsafe`.
use crate::{Act, Activation};

/// A vector of `LANES` f32.
pub(crate) trait Simd: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(x: f32) -> Self;
    /// Unaligned load of `LANES` values.
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(p: *mut f32, v: Self);
    /// Loads the first `n < LANES` values (the rest are zero) without touching memory past them.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self;
    /// Stores the first `n < LANES` lanes without touching memory past them.
    unsafe fn store_partial(p: *mut f32, v: Self, n: usize);
    /// `acc + a·b`, fused.
    unsafe fn fma(acc: Self, a: Self, b: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn mul(a: Self, b: Self) -> Self;
    unsafe fn max(a: Self, b: Self) -> Self;
    unsafe fn min(a: Self, b: Self) -> Self;
    unsafe fn hsum(v: Self) -> f32;
}

/// Vectors that can load f16 weights (valid inside kernels compiled with the ISA's f16
/// conversions: `f16c` on x86, base NEON on aarch64).
pub(crate) trait SimdF16: Simd {
    /// `LANES` f16 (bits) widened to f32.
    unsafe fn load_h(p: *const u16) -> Self;
    /// The first `n < LANES` f16 widened (the rest zero), without touching memory past them.
    unsafe fn load_h_partial(p: *const u16, n: usize) -> Self {
        let mut t = [0u16; 16];
        core::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
        Self::load_h(t.as_ptr())
    }
    /// One f16 widened and broadcast.
    unsafe fn splat_h(h: u16) -> Self;
    /// One f16 widened (with the hardware conversion).
    unsafe fn cvt1(h: u16) -> f32;
}

/// A stored weight element (`f32`, or `u16` holding f16 bits) as read by a kernel compiled for
/// vector type `V`. Kernel bodies are generic over it, so each is written once for both types.
pub(crate) trait Wt<V: Simd>: Copy {
    /// `LANES` consecutive weights.
    unsafe fn load(p: *const Self) -> V;
    /// One weight, broadcast.
    unsafe fn splat(p: *const Self) -> V;
    /// One weight.
    unsafe fn get(p: *const Self) -> f32;
}

impl<V: Simd> Wt<V> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> V {
        V::load(p)
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> V {
        V::splat(*p)
    }
    #[inline(always)]
    unsafe fn get(p: *const f32) -> f32 {
        *p
    }
}

impl<V: SimdF16> Wt<V> for u16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> V {
        V::load_h(p)
    }
    #[inline(always)]
    unsafe fn splat(p: *const u16) -> V {
        V::splat_h(*p)
    }
    #[inline(always)]
    unsafe fn get(p: *const u16) -> f32 {
        V::cvt1(*p)
    }
}

/// The stored values of a matrix as a `W` slice (f32 or f16 bits; the kernel row's dtype tells
/// which, and the entry points check it against the matrix).
pub(crate) trait Stored: Copy {
    fn values<'a>(a: &crate::sparse::SparseMatrix<'a>) -> &'a [Self];
}
impl Stored for f32 {
    #[inline(always)]
    fn values<'a>(a: &crate::sparse::SparseMatrix<'a>) -> &'a [f32] {
        a.values()
    }
}
impl Stored for u16 {
    #[inline(always)]
    fn values<'a>(a: &crate::sparse::SparseMatrix<'a>) -> &'a [u16] {
        a.values_f16()
    }
}

/// Column-index element type of a blob.
pub(crate) trait Idx: Copy {
    fn at(self) -> usize;
}
impl Idx for u16 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}
impl Idx for u32 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

/// A fused activation with its parameters broadcast once per call.
#[derive(Clone, Copy)]
pub(crate) struct VecAct<V> {
    /// `None` when the kind has no vector form: store, then apply the scalar `Activation::apply`.
    kind: Option<Act>,
    lo: V,
    hi: V,
    sixth: V,
    half: V,
}

impl<V: Simd> VecAct<V> {
    #[inline(always)]
    pub unsafe fn new(act: &Activation) -> Self {
        let (kind, lo, hi) = match act.kind {
            Act::None => (Some(Act::None), 0.0, 0.0),
            Act::Relu => (Some(Act::Relu), 0.0, 0.0),
            Act::Clamp => (Some(Act::Clamp), act.alpha, act.beta),
            Act::HardSwish => (Some(Act::HardSwish), 0.0, 1.0),
            _ => (None, 0.0, 0.0),
        };
        VecAct { kind, lo: V::splat(lo), hi: V::splat(hi), sixth: V::splat(1.0 / 6.0), half: V::splat(0.5) }
    }

    /// Whether the scalar activation must be applied after storing.
    #[inline(always)]
    pub fn scalar_after(&self) -> bool {
        self.kind.is_none()
    }

    #[inline(always)]
    pub unsafe fn apply(&self, x: V) -> V {
        match self.kind {
            Some(Act::Relu) => V::max(x, self.lo),
            Some(Act::Clamp) => V::min(V::max(x, self.lo), self.hi),
            Some(Act::HardSwish) => {
                // x * clamp(x/6 + 1/2, 0, 1); x*(1/6) differs from x/6 by at most one ulp.
                let g = V::min(V::max(V::fma(self.half, x, self.sixth), self.lo), self.hi);
                V::mul(x, g)
            }
            _ => x,
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{Simd, SimdF16};
    use core::arch::x86_64::*;

    /// 8 lanes; valid inside `avx2,fma` (or `avx512f`) kernels.
    #[derive(Clone, Copy)]
    pub struct F32x8(pub __m256);
    /// 4 lanes (VEX/EVEX 128-bit with FMA); valid inside `avx2,fma` kernels.
    #[derive(Clone, Copy)]
    pub struct F32x4(pub __m128);
    /// 16 lanes; valid inside `avx512f` kernels.
    #[derive(Clone, Copy)]
    pub struct F32x16(pub __m512);

    /// Lane mask for the first `n` lanes of a 256-bit vector (n ≤ 8).
    #[inline(always)]
    unsafe fn mask8(n: usize) -> __m256i {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lane)
    }
    #[inline(always)]
    unsafe fn mask4(n: usize) -> __m128i {
        let lane = _mm_setr_epi32(0, 1, 2, 3);
        _mm_cmpgt_epi32(_mm_set1_epi32(n as i32), lane)
    }

    impl Simd for F32x8 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> Self {
            F32x8(_mm256_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            F32x8(_mm256_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            F32x8(_mm256_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self) {
            _mm256_storeu_ps(p, v.0)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            // vmaskmovps does not fault on masked-out lanes.
            F32x8(_mm256_maskload_ps(p, mask8(n)))
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, v: Self, n: usize) {
            _mm256_maskstore_ps(p, mask8(n), v.0)
        }
        #[inline(always)]
        unsafe fn fma(acc: Self, a: Self, b: Self) -> Self {
            F32x8(_mm256_fmadd_ps(a.0, b.0, acc.0))
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            F32x8(_mm256_add_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            F32x8(_mm256_mul_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            F32x8(_mm256_max_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            F32x8(_mm256_min_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn hsum(v: Self) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v.0), _mm256_extractf128_ps(v.0, 1));
            F32x4::hsum(F32x4(s))
        }
    }

    // The f16 impls are valid inside kernels that also enable `f16c`.
    impl SimdF16 for F32x8 {
        #[inline(always)]
        unsafe fn load_h(p: *const u16) -> Self {
            F32x8(_mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)))
        }
        #[inline(always)]
        unsafe fn splat_h(h: u16) -> Self {
            F32x8(_mm256_cvtph_ps(_mm_set1_epi16(h as i16)))
        }
        #[inline(always)]
        unsafe fn cvt1(h: u16) -> f32 {
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
        }
    }

    impl SimdF16 for F32x4 {
        #[inline(always)]
        unsafe fn load_h(p: *const u16) -> Self {
            F32x4(_mm_cvtph_ps(_mm_loadl_epi64(p as *const __m128i)))
        }
        #[inline(always)]
        unsafe fn splat_h(h: u16) -> Self {
            F32x4(_mm_cvtph_ps(_mm_set1_epi16(h as i16)))
        }
        #[inline(always)]
        unsafe fn cvt1(h: u16) -> f32 {
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
        }
    }

    impl SimdF16 for F32x16 {
        #[inline(always)]
        unsafe fn load_h(p: *const u16) -> Self {
            F32x16(_mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)))
        }
        #[inline(always)]
        unsafe fn splat_h(h: u16) -> Self {
            F32x16(_mm512_cvtph_ps(_mm256_set1_epi16(h as i16)))
        }
        #[inline(always)]
        unsafe fn cvt1(h: u16) -> f32 {
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
        }
    }

    impl Simd for F32x4 {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            F32x4(_mm_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            F32x4(_mm_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            F32x4(_mm_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self) {
            _mm_storeu_ps(p, v.0)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            F32x4(_mm_maskload_ps(p, mask4(n)))
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, v: Self, n: usize) {
            _mm_maskstore_ps(p, mask4(n), v.0)
        }
        #[inline(always)]
        unsafe fn fma(acc: Self, a: Self, b: Self) -> Self {
            F32x4(_mm_fmadd_ps(a.0, b.0, acc.0))
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            F32x4(_mm_add_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            F32x4(_mm_mul_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            F32x4(_mm_max_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            F32x4(_mm_min_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn hsum(v: Self) -> f32 {
            let s = _mm_add_ps(v.0, _mm_movehl_ps(v.0, v.0));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
    }

    impl Simd for F32x16 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            F32x16(_mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            F32x16(_mm512_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            F32x16(_mm512_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self) {
            _mm512_storeu_ps(p, v.0)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            // Masked-out lanes are neither read nor able to fault.
            F32x16(_mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p))
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, v: Self, n: usize) {
            _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v.0)
        }
        #[inline(always)]
        unsafe fn fma(acc: Self, a: Self, b: Self) -> Self {
            F32x16(_mm512_fmadd_ps(a.0, b.0, acc.0))
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            F32x16(_mm512_add_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            F32x16(_mm512_mul_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            F32x16(_mm512_max_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            F32x16(_mm512_min_ps(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn hsum(v: Self) -> f32 {
            _mm512_reduce_add_ps(v.0)
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::{Simd, SimdF16};
    use core::arch::aarch64::*;

    /// 4 lanes; valid inside `neon` kernels.
    #[derive(Clone, Copy)]
    pub struct F32x4(pub float32x4_t);

    impl Simd for F32x4 {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            F32x4(vdupq_n_f32(0.0))
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            F32x4(vdupq_n_f32(x))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            F32x4(vld1q_f32(p))
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self) {
            vst1q_f32(p, v.0)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            // No masked loads on NEON: copy the valid lanes through a stack buffer.
            let mut t = [0.0f32; 4];
            core::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
            F32x4(vld1q_f32(t.as_ptr()))
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, v: Self, n: usize) {
            let mut t = [0.0f32; 4];
            vst1q_f32(t.as_mut_ptr(), v.0);
            core::ptr::copy_nonoverlapping(t.as_ptr(), p, n);
        }
        #[inline(always)]
        unsafe fn fma(acc: Self, a: Self, b: Self) -> Self {
            F32x4(vfmaq_f32(acc.0, a.0, b.0))
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            F32x4(vaddq_f32(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            F32x4(vmulq_f32(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            F32x4(vmaxq_f32(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            F32x4(vminq_f32(a.0, b.0))
        }
        #[inline(always)]
        unsafe fn hsum(v: Self) -> f32 {
            vaddvq_f32(v.0)
        }
    }

    impl SimdF16 for F32x4 {
        #[inline(always)]
        unsafe fn load_h(p: *const u16) -> Self {
            F32x4(crate::f16::arm::cvt4(vld1_u16(p)))
        }
        #[inline(always)]
        unsafe fn splat_h(h: u16) -> Self {
            F32x4(crate::f16::arm::cvt4(vdup_n_u16(h)))
        }
        #[inline(always)]
        unsafe fn cvt1(h: u16) -> f32 {
            vgetq_lane_f32::<0>(crate::f16::arm::cvt4(vdup_n_u16(h)))
        }
    }
}
