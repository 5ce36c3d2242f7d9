//! Vectorised elementwise math: exp, erf, tanh, sigmoid and the two GELUs, in f32.
//!
//! Each function is written once, branch-free, generically over `Lanes` (instantiated for
//! `f32`); `avx2.rs` and `neon.rs` compile the same loop with their target features so LLVM
//! vectorises it (8 / 4 lanes). AVX-512 sessions use the AVX2 code (AVX-512 implies AVX2+FMA
//! here, see [`Isa::available`]).
//!
//! Contract: [`map_inplace`] replaces every element `x` of a slice by `f(x)`; the tail shorter
//! than a vector is copied into a stack buffer, so nothing outside the slice is read or written.
//! No allocation.
//!
//! Accuracy (tested in `kernels/tests/vmath.rs` against f64 references over dense sweeps):
//! - `exp`: relative error ≤ 2 ulp for normal results; subnormal results are rounded once; `+inf`
//!   above 88.72, `0` below -103.97, NaN propagates.
//! - `erf`: absolute error ≤ 1e-6 over the real line (measured ≤ 3e-7), relative ≤ 1e-6 for
//!   |x| < 1 (so tiny arguments stay exact); `erf(±inf) = ±1`, `erf(±0) = ±0`.
//! - `tanh`, `sigmoid`: absolute error ≤ 1e-6 (tanh relative ≤ 1e-6 near 0).
//! - `gelu` (exact, with erf) and `gelu_tanh`: error ≤ 1e-6·max(1, |x|). Inputs below -10 are
//!   treated as -10 (the result is below 1e-22 in magnitude there), so `gelu(-inf)` is a tiny
//!   negative number rather than the NaN of `-inf * 0`.
//!
//! Method: exp by Cody-Waite reduction by ln 2 and a degree-6 polynomial fitted (Lawson-weighted
//! least squares, near minimax) on [-ln2/2, ln2/2]; 2^k is applied as two factors so that
//! subnormal results are rounded once. erf uses `x·P(x²)` (degree 6) below 1 and
//! `1 - exp(-x²)·Q(1/(1+x))` (degree 8) above. tanh uses `x·P(x²)` (degree 5) below 0.625 and
//! `(1 - e)/(1 + e)`, `e = exp(-2|x|)`, above. sigmoid is `1/(1+e)` or `e/(1+e)` with
//! `e = exp(-|x|)` depending on the sign, so neither side cancels.
use crate::isa::Isa;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "aarch64")]
mod neon;

/// The elementwise functions this module provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Exp,
    Erf,
    Tanh,
    Sigmoid,
    /// `0.5·x·(1 + erf(x/√2))`.
    Gelu,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    GeluTanh,
}

/// A vector of f32 lanes. Methods are the IEEE operations of the same name, lane by lane.
pub(crate) trait Lanes: Copy {
    fn splat(v: f32) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// `self * b + c` (fused where the ISA has FMA).
    fn mul_add(self, b: Self, c: Self) -> Self;
    fn abs(self) -> Self;
    /// `self` clamped to `[lo, hi]`; NaN stays NaN.
    fn clamp(self, lo: f32, hi: f32) -> Self;
    /// `|self|` with the sign bit of `s`.
    fn copysign(self, s: Self) -> Self;
    /// Per lane: `a < b ? x : y` (NaN compares false).
    fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self;
    /// `self · 2^k` for integer-valued `k` in [-150, 128], as two exact power-of-two factors.
    fn scale_pow2(self, k: Self) -> Self;
}

impl Lanes for f32 {
    #[inline(always)]
    fn splat(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn add(self, o: f32) -> f32 {
        self + o
    }
    #[inline(always)]
    fn sub(self, o: f32) -> f32 {
        self - o
    }
    #[inline(always)]
    fn mul(self, o: f32) -> f32 {
        self * o
    }
    #[inline(always)]
    fn div(self, o: f32) -> f32 {
        self / o
    }
    #[inline(always)]
    fn mul_add(self, b: f32, c: f32) -> f32 {
        // Unfused: core has no portable fma without libm; the polynomials tolerate one more
        // rounding (the tests bound the scalar path too).
        self * b + c
    }
    #[inline(always)]
    fn abs(self) -> f32 {
        f32::from_bits(self.to_bits() & 0x7fff_ffff)
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> f32 {
        if self < lo {
            lo
        } else if self > hi {
            hi
        } else {
            self
        }
    }
    #[inline(always)]
    fn copysign(self, s: f32) -> f32 {
        f32::from_bits((self.to_bits() & 0x7fff_ffff) | (s.to_bits() & 0x8000_0000))
    }
    #[inline(always)]
    fn select_lt(a: f32, b: f32, x: f32, y: f32) -> f32 {
        if a < b {
            x
        } else {
            y
        }
    }
    #[inline(always)]
    fn scale_pow2(self, k: f32) -> f32 {
        // k as an integer without `as i32`: Rust's float-to-int `as` saturates (NaN to 0), which
        // LLVM emits lane by lane (vcvttss2si, compares, inserts) in the AVX2 loops; this stays
        // in vector registers. k + 1.5·2^23 is exact for |k| < 2^22, and its bits are those of
        // 1.5·2^23 plus k. (A NaN k gives some exponent; the result is NaN through `self`.)
        // AVX2, BERT-2 (GELU over 3072 x 128, exp over 12 x 128 x 128), perf: `map_inplace`
        // was 27 % of the run with `as i32`.
        let k = (k + ROUND_MAGIC).to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i32;
        let k1 = k >> 1;
        let k2 = k.wrapping_sub(k1);
        self * f32::from_bits((k1.wrapping_add(127) as u32) << 23) * f32::from_bits((k2.wrapping_add(127) as u32) << 23)
    }
}

/// f32 lanes whose `mul_add` is fused (`f32::mul_add`, with std): for the vector paths only,
/// which are compiled with FMA enabled (AVX2+FMA, aarch64) so that it is one instruction per
/// lane; on a target without FMA it would call the software `fmaf`, so the scalar path keeps
/// plain `f32`. Without std (core has no `f32::mul_add`) it is unfused, like `f32`.
/// AVX2, 128 x 3072 values in [-6, 6] (`examples/vmath_ns.rs`), ns per element unfused / fused:
/// see BENCHMARKS.md ("BERT: GELU, Softmax and LayerNorm ...").
#[derive(Clone, Copy)]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) struct Fused(pub f32);

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl Lanes for Fused {
    #[inline(always)]
    fn splat(v: f32) -> Fused {
        Fused(v)
    }
    #[inline(always)]
    fn add(self, o: Fused) -> Fused {
        Fused(self.0 + o.0)
    }
    #[inline(always)]
    fn sub(self, o: Fused) -> Fused {
        Fused(self.0 - o.0)
    }
    #[inline(always)]
    fn mul(self, o: Fused) -> Fused {
        Fused(self.0 * o.0)
    }
    #[inline(always)]
    fn div(self, o: Fused) -> Fused {
        Fused(self.0 / o.0)
    }
    #[inline(always)]
    fn mul_add(self, b: Fused, c: Fused) -> Fused {
        #[cfg(feature = "std")]
        return Fused(self.0.mul_add(b.0, c.0));
        #[cfg(not(feature = "std"))]
        return Fused(self.0 * b.0 + c.0);
    }
    #[inline(always)]
    fn abs(self) -> Fused {
        Fused(<f32 as Lanes>::abs(self.0))
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Fused {
        Fused(<f32 as Lanes>::clamp(self.0, lo, hi))
    }
    #[inline(always)]
    fn copysign(self, s: Fused) -> Fused {
        Fused(<f32 as Lanes>::copysign(self.0, s.0))
    }
    #[inline(always)]
    fn select_lt(a: Fused, b: Fused, x: Fused, y: Fused) -> Fused {
        Fused(<f32 as Lanes>::select_lt(a.0, b.0, x.0, y.0))
    }
    #[inline(always)]
    fn scale_pow2(self, k: Fused) -> Fused {
        Fused(<f32 as Lanes>::scale_pow2(self.0, k.0))
    }
}

/// `f` over `xs` with fused multiply-adds; only for callers compiled with FMA (see [`Fused`]).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) fn map_fused(f: Func, xs: &mut [f32]) {
    match f {
        Func::Exp => xs.iter_mut().for_each(|x| *x = exp(Fused(*x)).0),
        Func::Erf => xs.iter_mut().for_each(|x| *x = erf(Fused(*x)).0),
        Func::Tanh => xs.iter_mut().for_each(|x| *x = tanh(Fused(*x)).0),
        Func::Sigmoid => xs.iter_mut().for_each(|x| *x = sigmoid(Fused(*x)).0),
        Func::Gelu => xs.iter_mut().for_each(|x| *x = gelu(Fused(*x)).0),
        Func::GeluTanh => xs.iter_mut().for_each(|x| *x = gelu_tanh(Fused(*x)).0),
    }
}

/// Lanes of [`fold_lanes`]: independent partial results that the compiler keeps in one vector
/// register (a left fold is one dependent chain). The order of the operations differs from a left
/// fold, so a sum differs from it by rounding only. BERT-2 (hidden 768, sequence 128, 12 heads),
/// `sprig bench`, 1 thread: Softmax 1.25 ms and LayerNorm 0.31 ms per node with left folds (about
/// 6 and 3 ns per element).
pub const LANES: usize = 8;

/// `join` over [`LANES`] partial results, each `step` folded over every `LANES`-th element from
/// `init`; the remainder folds into the joined result. Used by the softmax below and by the
/// runtime's reductions (LayerNorm, global pooling).
#[inline(always)]
pub fn fold_lanes(xs: &[f32], init: f32, step: impl Fn(f32, f32) -> f32, join: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let mut it = xs.chunks_exact(LANES);
    for c in &mut it {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = step(*a, v);
        }
    }
    let joined = acc.iter().fold(init, |a, &v| join(a, v));
    it.remainder().iter().fold(joined, |a, &v| step(a, v))
}

/// Softmax of each `len`-element row of `x` into `y`, the exponentials computed in place by `e`
/// (the fused or unfused `map` of the caller's path): passes for the maximum, `x - max`, the
/// exponentials, their sum and the scale, each a loop the compiler vectorises. (One pass for the
/// exponentials and their sum together, with the exponential inside an 8-lane accumulator loop,
/// was not vectorised: 5.4 ns/element.)
#[inline(always)]
pub(crate) fn softmax_rows_with(x: &[f32], y: &mut [f32], len: usize, e: impl Fn(&mut [f32])) {
    if len == 0 {
        return;
    }
    for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        let m = fold_lanes(xr, f32::NEG_INFINITY, f32::max, f32::max);
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = v - m;
        }
        e(yr);
        let sum = fold_lanes(yr, 0.0, |a, v| a + v, |a, v| a + v);
        let inv = 1.0 / sum;
        yr.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Softmax of every contiguous row of `len` elements of `x` into `y` (the leading
/// `min(x.len(), y.len()) / len` whole rows; nothing else is written), with the exponential of
/// [`map_inplace`] for `isa`. All the passes run in one function compiled for the ISA; on a
/// BERT attention's rows of 128 that is 1.3x faster than calling `map_inplace` per row between a
/// max, subtract, sum and scale compiled for the baseline (SSE2).
pub fn softmax_rows(isa: Isa, x: &[f32], y: &mut [f32], len: usize) {
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, Isa::Avx2 | Isa::Avx512) && isa.available() {
        // SAFETY: AVX2 and FMA are available (Avx512 availability includes both).
        unsafe { avx2::softmax_rows(x, y, len) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon && isa.available() {
        // SAFETY: NEON is available.
        unsafe { neon::softmax_rows(x, y, len) };
        return;
    }
    let _ = isa;
    softmax_rows_with(x, y, len, |ys| scalar_map(Func::Exp, ys));
}

const LOG2_E: f32 = core::f32::consts::LOG2_E;
// ln 2 split so that k·LN2_HI is exact for |k| ≤ 2^11.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
// Adding then subtracting 1.5·2^23 rounds to the nearest integer for |v| < 2^22.
const ROUND_MAGIC: f32 = 12_582_912.0;
// exp(r) on [-ln2/2, ln2/2], rel. error 1.9e-9 before rounding.
const EXP_P: [f32; 7] = [1.0, 1.0, 0.499_999_9, 0.166_664_2, 0.041_668_225, 0.008_374_822, 0.001_383_682_2];
// erf(x)/x as a polynomial in x² on [0, 1], rel. error 1.2e-9 before rounding.
const ERF_A: [f32; 7] = [core::f32::consts::FRAC_2_SQRT_PI, -0.376_126_26, 0.112_835_854, -0.026_853_82, 0.005_188_342_6, -0.000_801_031_1, 7.854_221e-5];
// erfc(x)·exp(x²) as a polynomial in t = 1/(1+x) on [1, 5], rel. error 1.8e-7 in f32.
const ERF_B: [f32; 9] = [2.336_996_7e-5, 0.563_370_1, 0.576_813_3, 0.170_278_76, 0.341_156_13, -2.931_639_7, 4.697_804, -3.409_418_8, 1.001_309_2];
// tanh(x)/x as a polynomial in x² on [0, 0.625], rel. error 3.9e-9 before rounding.
const TANH_P: [f32; 6] = [1.0, -0.333_332_6, 0.133_311_3, -0.053_721_216, 0.020_591_363, -0.005_660_337_4];
const ERF_SPLIT: f32 = 1.0;
const TANH_SPLIT: f32 = 0.625;
const GELU_LO: f32 = -10.0;

#[inline(always)]
fn poly<V: Lanes>(c: &[f32], x: V) -> V {
    let mut r = V::splat(c[c.len() - 1]);
    for &k in c[..c.len() - 1].iter().rev() {
        r = r.mul_add(x, V::splat(k));
    }
    r
}

#[inline(always)]
pub(crate) fn exp<V: Lanes>(x: V) -> V {
    let x = x.clamp(-104.0, 88.8);
    let k = x.mul(V::splat(LOG2_E)).add(V::splat(ROUND_MAGIC)).sub(V::splat(ROUND_MAGIC));
    let r = k.mul_add(V::splat(-LN2_HI), x);
    let r = k.mul_add(V::splat(-LN2_LO), r);
    poly(&EXP_P, r).scale_pow2(k)
}

/// `erfc(a)` for `a ≥ 1` (also fine, if unused, below): `exp(-a²)·Q(1/(1+a))`.
#[inline(always)]
fn erfc_big<V: Lanes>(a: V) -> V {
    let t = V::splat(1.0).div(a.add(V::splat(1.0)));
    exp(a.mul(a).mul(V::splat(-1.0))).mul(poly(&ERF_B, t))
}

#[inline(always)]
pub(crate) fn erf<V: Lanes>(x: V) -> V {
    let a = x.abs();
    let small = x.mul(poly(&ERF_A, x.mul(x)));
    let big = V::splat(1.0).sub(erfc_big(a)).copysign(x);
    V::select_lt(a, V::splat(ERF_SPLIT), small, big)
}

#[inline(always)]
pub(crate) fn tanh<V: Lanes>(x: V) -> V {
    let a = x.abs();
    let small = x.mul(poly(&TANH_P, x.mul(x)));
    let e = exp(a.mul(V::splat(-2.0)));
    let big = V::splat(1.0).sub(e).div(V::splat(1.0).add(e)).copysign(x);
    V::select_lt(a, V::splat(TANH_SPLIT), small, big)
}

#[inline(always)]
pub(crate) fn sigmoid<V: Lanes>(x: V) -> V {
    let e = exp(x.abs().mul(V::splat(-1.0)));
    let s = V::splat(1.0).div(V::splat(1.0).add(e));
    // x < 0 (or NaN, through e) takes e·s.
    V::select_lt(x, V::splat(0.0), e.mul(s), s)
}

#[inline(always)]
pub(crate) fn gelu<V: Lanes>(x: V) -> V {
    let x = x.clamp(GELU_LO, f32::INFINITY);
    let z = x.mul(V::splat(core::f32::consts::FRAC_1_SQRT_2));
    let a = z.abs();
    let one = V::splat(1.0);
    let small = one.add(z.mul(poly(&ERF_A, z.mul(z))));
    let e = erfc_big(a);
    // 1 + erf(z) = 2 - erfc(|z|) for z ≥ 0, erfc(|z|) for z < 0: no cancellation on either side.
    let big = V::select_lt(z, V::splat(0.0), e, V::splat(2.0).sub(e));
    V::splat(0.5).mul(x).mul(V::select_lt(a, V::splat(ERF_SPLIT), small, big))
}

#[inline(always)]
pub(crate) fn gelu_tanh<V: Lanes>(x: V) -> V {
    // 0.5·(1 + tanh(u)) = sigmoid(2u).
    const C2: f32 = 2.0 * 0.797_884_6; // 2·sqrt(2/pi)
    let x = x.clamp(GELU_LO, f32::INFINITY);
    let u = x.mul(x).mul_add(V::splat(C2 * 0.044_715), V::splat(C2)).mul(x);
    x.mul(sigmoid(u))
}

/// Scalar `f(x)`, the same formulas as the vector paths.
#[inline]
pub fn apply(f: Func, x: f32) -> f32 {
    match f {
        Func::Exp => exp(x),
        Func::Erf => erf(x),
        Func::Tanh => tanh(x),
        Func::Sigmoid => sigmoid(x),
        Func::Gelu => gelu(x),
        Func::GeluTanh => gelu_tanh(x),
    }
}

/// The ISA the elementwise paths use when the caller has none at hand: the best of AVX2 / NEON
/// this CPU has (std: `is_x86_feature_detected!`, cached by std after the first call).
#[inline]
pub fn native() -> Isa {
    if Isa::Avx2.available() {
        Isa::Avx2
    } else if Isa::Neon.available() {
        Isa::Neon
    } else {
        Isa::Scalar
    }
}

/// Replaces every `x` in `xs` by `f(x)` with the kernels for `isa` (scalar where `isa` is not
/// available on this CPU or has no kernel on this target).
pub fn map_inplace(isa: Isa, f: Func, xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, Isa::Avx2 | Isa::Avx512) && isa.available() {
        // SAFETY: AVX2 and FMA are available (Avx512 availability includes both).
        unsafe { avx2::map_inplace(f, xs) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon && isa.available() {
        // SAFETY: NEON is available.
        unsafe { neon::map_inplace(f, xs) };
        return;
    }
    let _ = isa;
    scalar_map(f, xs);
}

/// `dst[i] = f(src[i])`; `src` and `dst` must have the same length (extra elements of the longer
/// one are left alone).
pub fn map(isa: Isa, f: Func, src: &[f32], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    map_inplace(isa, f, &mut dst[..n]);
}

fn scalar_map(f: Func, xs: &mut [f32]) {
    for x in xs {
        *x = apply(f, *x);
    }
}
