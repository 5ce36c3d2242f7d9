//! IEEE 754 binary16 ("f16") weights: conversions and widening.
//!
//! Weights may be stored as f16 bit patterns (`u16`, little-endian in a blob); activations stay
//! f32. Kernels widen weights to f32 on the fly (exactly: every f16 is an f32) and compute in f32.
//!
//! Contract:
//! - [`f16_to_f32`] is exact for every bit pattern (subnormals, ±0, ±inf); a NaN stays a NaN with
//!   its payload in the top mantissa bits and the quiet bit set (what F16C `vcvtph2ps` and NEON
//!   `fcvtl` produce).
//! - [`f32_to_f16`] rounds to nearest, ties to even; overflow gives ±inf, NaN stays a (quiet) NaN.
//! - [`widen`] converts a slice with the hardware conversion of `isa` when this CPU has it (F16C
//!   with AVX2/AVX-512, `fcvtl` on aarch64), else with [`f16_to_f32`]; all give identical bits.
//! - [`hw_available`] says whether the f16 kernels of an ISA can run: x86 f16 kernels need the
//!   `f16c` feature in addition to the ISA's own (run-time detection with `std`, compile-time
//!   target features without).

use crate::Isa;

/// Exact f16 → f32.
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match exp {
        // ±0 and subnormals: man · 2⁻²⁴, exact in f32 (man < 2¹⁰).
        0 => sign | (man as f32 * (1.0 / 16_777_216.0)).to_bits(),
        0x1f if man == 0 => sign | 0x7f80_0000,
        0x1f => sign | 0x7fc0_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// f32 → f16, round to nearest even; overflow → ±inf; NaN → quiet NaN (payload truncated).
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 | (man >> 13) as u16 } else { 0 };
    }
    // Biased f16 exponent.
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal (or zero) result in units of 2⁻²⁴. Below 2⁻²⁵ everything rounds to zero.
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32; // 14..=24
        let q = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        let q = if rem > half || (rem == half && q & 1 == 1) { q + 1 } else { q };
        // q == 0x400 (rounded up to the smallest normal) is the right encoding as is.
        return sign | q as u16;
    }
    let q = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    // A carry out of the mantissa bumps the exponent; 0x7bff + 1 = 0x7c00 is inf, as it must be.
    let q = if rem > 0x1000 || (rem == 0x1000 && q & 1 == 1) { q + 1 } else { q };
    sign | q as u16
}

/// Whether this CPU has the `f16c` extension (x86_64; false elsewhere).
pub fn f16c_available() -> bool {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        std::is_x86_feature_detected!("f16c")
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    {
        cfg!(target_feature = "f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the f16-weight kernels written for `isa` can run on this CPU (the ISA itself plus, on
/// x86, F16C; base ARMv8 NEON has the conversions).
pub fn hw_available(isa: Isa) -> bool {
    match isa {
        Isa::Scalar => true,
        Isa::Avx2 | Isa::Avx512 => isa.available() && f16c_available(),
        Isa::Neon => isa.available(),
    }
}

/// `dst[i] = f16_to_f32(src[i])`. Panics if the lengths differ.
pub fn widen(isa: Isa, src: &[u16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "widen: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, Isa::Avx2 | Isa::Avx512) && hw_available(isa) {
        // SAFETY: AVX2 and F16C are available (checked above); the lengths are equal.
        unsafe { x86::widen_f16c(src, dst) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon && hw_available(isa) {
        // SAFETY: NEON is available (checked above); the lengths are equal.
        unsafe { arm::widen_neon(src, dst) };
        return;
    }
    let _ = isa;
    widen_scalar(src, dst);
}

/// The portable [`widen`].
pub fn widen_scalar(src: &[u16], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f16_to_f32(s);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// # Safety
    /// The CPU has AVX2 and F16C; `src.len() == dst.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn widen_f16c(src: &[u16], dst: &mut [f32]) {
        let n = src.len();
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        // SAFETY: i + 8 <= n for the vector loads/stores; the tail is scalar within bounds.
        unsafe {
            while i + 8 <= n {
                _mm256_storeu_ps(d.add(i), _mm256_cvtph_ps(_mm_loadu_si128(s.add(i) as *const __m128i)));
                i += 8;
            }
        }
        super::widen_scalar(&src[i..], &mut dst[i..]);
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use core::arch::aarch64::*;

    /// `fcvtl`: four f16 (bits) to four f32. The `vcvt_f32_f16` intrinsic needs the unstable
    /// `f16` type, so this is the one instruction in inline assembly.
    ///
    /// # Safety
    /// The CPU has NEON.
    #[inline(always)]
    pub(crate) unsafe fn cvt4(h: uint16x4_t) -> float32x4_t {
        let r: float32x4_t;
        // SAFETY: fcvtl is base ARMv8 Advanced SIMD; it only reads and writes the registers.
        unsafe { core::arch::asm!("fcvtl {0:v}.4s, {1:v}.4h", out(vreg) r, in(vreg) h, options(pure, nomem, nostack, preserves_flags)) };
        r
    }

    /// # Safety
    /// The CPU has NEON; `src.len() == dst.len()`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn widen_neon(src: &[u16], dst: &mut [f32]) {
        let n = src.len();
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        // SAFETY: i + 4 <= n for the vector loads/stores; the tail is scalar within bounds.
        unsafe {
            while i + 4 <= n {
                vst1q_f32(d.add(i), cvt4(vld1_u16(s.add(i))));
                i += 4;
            }
        }
        super::widen_scalar(&src[i..], &mut dst[i..]);
    }
}
