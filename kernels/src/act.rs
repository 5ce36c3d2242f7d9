//! Activation epilogues fused into kernels.

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
            Act::Sigmoid => 1.0 / (1.0 + libm_exp(-x)),
            Act::Tanh => libm_tanh(x),
            Act::Gelu => 0.5 * x * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2)),
            Act::HardSigmoid => (self.alpha * x + self.beta).clamp(0.0, 1.0),
            Act::GeluTanh => {
                let c = 0.797_884_6_f32; // sqrt(2/pi)
                0.5 * x * (1.0 + libm_tanh(c * (x + 0.044715 * x * x * x)))
            }
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

    /// Applies the activation to every element in place.
    #[inline]
    pub fn apply_slice(&self, xs: &mut [f32]) {
        if self.kind == Act::None {
            return;
        }
        for x in xs {
            *x = self.apply(*x);
        }
    }
}

// no_std has no f32::exp; these are accurate to a few ulp, enough for inference.

/// e^x for f32, with range reduction by ln 2 and a degree-7 polynomial.
#[inline]
pub fn libm_exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.72284 {
        return f32::INFINITY;
    }
    if x < -103.97208 {
        return 0.0;
    }
    let ln2_hi = 0.693_145_75_f32;
    let ln2_lo = 1.428_606_8e-6_f32;
    let k = round_f32(x * core::f32::consts::LOG2_E);
    let r = (x - k * ln2_hi) - k * ln2_lo;
    // exp(r) on |r| <= ln2/2
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    scale_pow2(p, k as i32)
}

#[inline]
fn round_f32(x: f32) -> f32 {
    let t = x as i32 as f32; // truncation
    let d = x - t;
    if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

#[inline]
fn scale_pow2(x: f32, k: i32) -> f32 {
    // Split the scaling to stay in range for subnormal results.
    let mut x = x;
    let mut k = k;
    while k > 127 {
        x *= f32::from_bits(0x7f00_0000); // 2^127
        k -= 127;
    }
    while k < -126 {
        x *= f32::from_bits(0x0080_0000); // 2^-126
        k += 126;
    }
    x * f32::from_bits(((k + 127) as u32) << 23)
}

/// tanh via exp; saturates for large |x|.
#[inline]
pub fn libm_tanh(x: f32) -> f32 {
    if x > 9.0 {
        return 1.0;
    }
    if x < -9.0 {
        return -1.0;
    }
    if x.abs() < 0.0004 {
        return x;
    }
    let e = libm_exp(2.0 * x);
    (e - 1.0) / (e + 1.0)
}

/// erf(x) for f32 (Abramowitz-Stegun 7.1.26 is too coarse; this uses the W. J. Cody style rational
/// split computed in f64 for the small range and an exp tail).
#[inline]
pub fn erf(x: f32) -> f32 {
    let xd = x as f64;
    let ax = if xd < 0.0 { -xd } else { xd };
    // The continued fraction converges slowly near 0.5 (erf(0.5) was off by 3e-5 with 60 terms),
    // so the Taylor series, exact enough in f64 up to |x| = 3 (largest term ~ e^9), covers more.
    let r = if ax < 3.0 {
        // Taylor series of erf around 0
        let x2 = ax * ax;
        let mut term = ax;
        let mut sum = ax;
        let mut n = 0.0f64;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 || n > 120.0 {
                break;
            }
        }
        sum * core::f64::consts::FRAC_2_SQRT_PI
    } else if ax > 6.0 {
        1.0
    } else {
        // erfc by continued fraction, good for x >= 3 in f64.
        1.0 - erfc_cf(ax)
    };
    (if xd < 0.0 { -r } else { r }) as f32
}

fn erfc_cf(x: f64) -> f64 {
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let mut f = 0.0f64;
    let mut k = 60.0f64;
    while k >= 1.0 {
        f = (k / 2.0) / (x + f);
        k -= 1.0;
    }
    let cf = 1.0 / (x + f);
    exp_f64(-x * x) * cf / core::f64::consts::PI.sqrt_approx()
}

trait SqrtApprox {
    fn sqrt_approx(self) -> f64;
}
impl SqrtApprox for f64 {
    fn sqrt_approx(self) -> f64 {
        // Only used for the constant sqrt(pi).
        1.772_453_850_905_516
    }
}

fn exp_f64(x: f64) -> f64 {
    // x in [-36, -0.25]; reduce by ln2 and sum a Taylor series.
    let k = (x * core::f64::consts::LOG2_E) as i64 - 1;
    let r = x - k as f64 * core::f64::consts::LN_2;
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 1..30 {
        term *= r / n as f64;
        sum += term;
    }
    sum * f64::from_bits(((k + 1023) as u64) << 52)
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
