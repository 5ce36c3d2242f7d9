//! Activation epilogues fused into kernels.
use crate::vmath::{self, Func};
use crate::Isa;

/// Activation kinds, stored as `u32` in model files (see `Activation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Act {
    None = 0,
    Relu = 1,
    /// `min(max(x, alpha), beta)` (ReLU6 is Clamp(0, 6)).
    Clamp = 2,
    /// `x if x >= 0 else alpha * x`.
    LeakyRelu = 3,
    /// `x * clamp(x/6 + 1/2, 0, 1)`.
    HardSwish = 4,
    Sigmoid = 5,
    Tanh = 6,
    /// Exact GELU with erf.
    Gelu = 7,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid = 8,
    /// GELU, tanh approximation.
    GeluTanh = 9,
}

impl Act {
    pub fn from_u32(v: u32) -> Option<Act> {
        Some(match v {
            0 => Act::None,
            1 => Act::Relu,
            2 => Act::Clamp,
            3 => Act::LeakyRelu,
            4 => Act::HardSwish,
            5 => Act::Sigmoid,
            6 => Act::Tanh,
            7 => Act::Gelu,
            8 => Act::HardSigmoid,
            9 => Act::GeluTanh,
            _ => return None,
        })
    }
}

/// An activation with its two parameters (meaning per kind, see [`Act`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation {
    pub kind: Act,
    pub alpha: f32,
    pub beta: f32,
}

impl Activation {
    pub const NONE: Activation = Activation { kind: Act::None, alpha: 0.0, beta: 0.0 };
    pub const RELU: Activation = Activation { kind: Act::Relu, alpha: 0.0, beta: 0.0 };

    pub fn clamp(min: f32, max: f32) -> Activation {
        Activation { kind: Act::Clamp, alpha: min, beta: max }
    }

    /// Scalar application; the reference for every vectorised epilogue.
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        match self.kind {
            Act::None => x,
            Act::Relu => x.max(0.0),
            Act::Clamp => x.max(self.alpha).min(self.beta),
            Act::LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    self.alpha * x
                }
            }
            Act::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Act::Sigmoid => vmath::sigmoid(x),
            Act::Tanh => vmath::tanh(x),
            Act::Gelu => vmath::gelu(x),
            Act::HardSigmoid => (self.alpha * x + self.beta).clamp(0.0, 1.0),
            Act::GeluTanh => vmath::gelu_tanh(x),
        }
    }

    /// How a kernel fuses this activation: `(clamp, lo, hi, post)`. Kinds that are a clamp
    /// (None: no clamp, Relu: `[0, +inf]`, Clamp) are applied in vector registers as
    /// `min(max(x, lo), hi)`; the others set `post` and are applied with [`Self::apply`] afterwards.
    #[inline]
    pub fn fused_clamp(&self) -> (bool, f32, f32, bool) {
        match self.kind {
            Act::None => (false, 0.0, 0.0, false),
            Act::Relu => (true, 0.0, f32::INFINITY, false),
            Act::Clamp => (true, self.alpha, self.beta, false),
            _ => (false, 0.0, 0.0, true),
        }
    }

    /// The vectorised [`vmath`] function of kinds that have one.
    pub fn vmath_func(&self) -> Option<Func> {
        Some(match self.kind {
            Act::Sigmoid => Func::Sigmoid,
            Act::Tanh => Func::Tanh,
            Act::Gelu => Func::Gelu,
            Act::GeluTanh => Func::GeluTanh,
            _ => return None,
        })
    }

    /// Applies the activation to every element in place, with the [`vmath`] kernels of the
    /// best ISA of this CPU ([`vmath::native`]) for the transcendental kinds.
    #[inline]
    pub fn apply_slice(&self, xs: &mut [f32]) {
        self.apply_slice_isa(vmath::native(), xs)
    }

    /// [`Self::apply_slice`] with the kernels of `isa` (scalar where `isa` is unavailable).
    pub fn apply_slice_isa(&self, isa: Isa, xs: &mut [f32]) {
        if self.kind == Act::None {
            return;
        }
        if let Some(f) = self.vmath_func() {
            return vmath::map_inplace(isa, f, xs);
        }
        for x in xs {
            *x = self.apply(*x);
        }
    }
}

// no_std has no f32::exp; these are the scalar paths of `crate::vmath` (error bounds there).

/// e^x for f32 (≤ 2 ulp; see [`crate::vmath`]).
#[inline]
pub fn libm_exp(x: f32) -> f32 {
    vmath::exp(x)
}

/// tanh for f32 (absolute error ≤ 1e-6; see [`crate::vmath`]).
#[inline]
pub fn libm_tanh(x: f32) -> f32 {
    vmath::tanh(x)
}

/// erf for f32 (absolute error ≤ 1e-6 over the real line; see [`crate::vmath`]). Replaced an f64
/// Taylor series at ~140 ns/element (BENCHMARKS.md, "Dense kernel improvements").
#[inline]
pub fn erf(x: f32) -> f32 {
    vmath::erf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let a = libm_exp(x);
            let b = x.exp();
            assert!(((a - b) / b).abs() < 2e-6, "exp({x}) = {a}, std {b}");
            x += 0.37;
        }
    }

    #[test]
    fn erf_matches_reference_points() {
        // Values of erf from tables (Abramowitz & Stegun, table 7.1).
        for (x, e) in [(0.1f32, 0.112_462_916f64), (0.5, 0.520_499_88), (1.0, 0.842_700_8), (2.0, 0.995_322_3), (3.0, 0.999_977_9), (0.75, 0.711_155_6), (1.5, 0.966_105_1), (2.5, 0.999_593_05), (3.5, 0.999_999_26)] {
            assert!((erf(x) as f64 - e).abs() < 1e-6, "erf({x}) = {}", erf(x));
            assert!((erf(-x) as f64 + e).abs() < 1e-6);
        }
    }

    #[test]
    fn tanh_matches_std() {
        let mut x = -10.0f32;
        while x < 10.0 {
            assert!((libm_tanh(x) - x.tanh()).abs() < 2e-6, "tanh({x})");
            x += 0.013;
        }
    }
}
