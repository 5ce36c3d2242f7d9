//! `vmath` (exp, erf, tanh, sigmoid, gelu, gelu_tanh) on every ISA against f64 references
//! (std `exp`/`tanh`, libm's f64 `erf`/`erfc`), over dense sweeps and special values.
//!
//! Error bounds (the contract in `kernels/src/vmath/mod.rs`):
//! - exp: ≤ 2 ulp of the correctly rounded result for normal results, ≤ 2·2^-149 absolute for
//!   subnormal ones; exact `inf`, `0`, NaN at the ends.
//! - erf: absolute ≤ 1e-6 everywhere, relative ≤ 1e-6 for 1e-30 ≤ |x| < 1.
//! - tanh: absolute ≤ 1e-6, relative ≤ 1e-6 for 1e-30 ≤ |x| < 0.625.
//! - sigmoid: absolute ≤ 1e-6, relative ≤ 1e-5 while the result is a normal number.
//! - gelu, gelu_tanh: absolute ≤ 1e-6·max(1, |x|).
//!
//! An ISA this CPU lacks prints `SKIPPED: ...` and is not counted as a pass.
use sprig_kernels::vmath::{apply, map, map_inplace, Func};
use sprig_kernels::Isa;

const FUNCS: [Func; 6] = [Func::Exp, Func::Erf, Func::Tanh, Func::Sigmoid, Func::Gelu, Func::GeluTanh];

fn reference(f: Func, x: f32) -> f64 {
    let x = x as f64;
    let c = (2.0 / core::f64::consts::PI).sqrt();
    match f {
        Func::Exp => x.exp(),
        Func::Erf => libm::erf(x),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Func::Gelu => {
            if x == f64::NEG_INFINITY {
                0.0
            } else {
                0.5 * x * libm::erfc(-x / core::f64::consts::SQRT_2)
            }
        }
        Func::GeluTanh => {
            if x == f64::NEG_INFINITY {
                0.0
            } else {
                // 0.5(1 + tanh(u)) = 1/(1 + e^{-2u}), stable for large |u|.
                let u = c * (x + 0.044715 * x * x * x);
                x / (1.0 + (-2.0 * u).exp())
            }
        }
    }
}

fn ulp(r: f64) -> f64 {
    let r = (r as f32).abs();
    if r == 0.0 || !r.is_finite() {
        return f64::from(f32::from_bits(1));
    }
    (f32::from_bits(r.to_bits() + 1) - r) as f64
}

/// Returns the error description if `got` is outside the bound for `f` at `x`.
fn check_one(f: Func, x: f32, got: f32) -> Option<String> {
    let r = reference(f, x);
    let g = got as f64;
    if r.is_nan() || x.is_nan() {
        return if got.is_nan() { None } else { Some(format!("{f:?}({x:e}) = {got:e}, want NaN")) };
    }
    if r.is_infinite() || (r as f32).is_infinite() {
        return if got == r as f32 { None } else { Some(format!("{f:?}({x:e}) = {got:e}, want {r:e}")) };
    }
    let err = (g - r).abs();
    let ok = match f {
        Func::Exp => {
            if (r as f32) < f32::MIN_POSITIVE {
                err <= 2.0 * f64::from(f32::from_bits(1))
            } else {
                err <= 2.0 * ulp(r)
            }
        }
        Func::Erf => err <= 1e-6 && (x.abs() >= 1.0 || x.abs() < 1e-30 || err <= 1e-6 * r.abs()),
        Func::Tanh => err <= 1e-6 && (x.abs() >= 0.625 || x.abs() < 1e-30 || err <= 1e-6 * r.abs()),
        Func::Sigmoid => err <= 1e-6 && ((r as f32) < f32::MIN_POSITIVE || err <= 1e-5 * r),
        Func::Gelu | Func::GeluTanh => err <= 1e-6 * (x.abs() as f64).max(1.0),
    };
    if ok {
        None
    } else {
        Some(format!("{f:?}({x:e}) = {got:e}, reference {r:e}, error {err:e}"))
    }
}

fn sweep() -> Vec<f32> {
    let mut xs = Vec::new();
    // Dense over the interesting range, 1/512 apart (exact in f32), then coarser out to ±110.
    let mut i = -12 * 512;
    while i <= 12 * 512 {
        xs.push(i as f32 / 512.0);
        i += 1;
    }
    let mut x = -110.0f32;
    while x <= 110.0 {
        xs.push(x);
        x += 0.0137;
    }
    // Every 2^8-th f32 bit pattern of magnitude 1e-8..4: covers exponents and mantissas.
    let (lo, hi) = (1e-8f32.to_bits(), 4f32.to_bits());
    let mut b = lo;
    while b < hi {
        xs.push(f32::from_bits(b));
        xs.push(-f32::from_bits(b));
        b += 1 << 8;
    }
    xs.extend(special());
    xs
}

fn special() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        1e-30,
        -1e-30,
        88.72283,
        88.72284,
        88.7229,
        89.0,
        -87.33655,
        -87.5,
        -100.0,
        -103.27893,
        -103.972,
        -103.9721,
        -104.0,
        -120.0,
        0.625,
        -0.625,
        1.0,
        -1.0,
        0.99999994,
        3.9,
        -3.9,
        5.0,
        -5.0,
        9.0,
        -9.0,
        -10.0,
        -15.0,
        30.0,
    ]
}

fn run_isa(isa: Isa) -> bool {
    if !isa.available() {
        println!("SKIPPED: vmath on {} (not available on this CPU)", isa.name());
        return false;
    }
    let xs = sweep();
    for f in FUNCS {
        let mut ys = xs.clone();
        map_inplace(isa, f, &mut ys);
        let bad: Vec<String> = xs.iter().zip(&ys).filter_map(|(&x, &y)| check_one(f, x, y)).take(8).collect();
        assert!(bad.is_empty(), "{} {f:?}: {}", isa.name(), bad.join("\n"));
        // Every length 0..20 through the vector body and the tail, src → dst.
        for n in 0..20 {
            let src: Vec<f32> = (0..n).map(|i| i as f32 * 0.37 - 3.0).collect();
            let mut dst = vec![7.0f32; n + 1];
            map(isa, f, &src, &mut dst[..n]);
            for i in 0..n {
                assert!(check_one(f, src[i], dst[i]).is_none(), "{} {f:?} n={n} i={i}", isa.name());
            }
            assert_eq!(dst[n], 7.0, "wrote past the end");
        }
    }
    true
}

#[test]
fn scalar() {
    assert!(run_isa(Isa::Scalar));
    // `apply` is the scalar path too.
    for f in FUNCS {
        for x in special() {
            assert!(check_one(f, x, apply(f, x)).is_none(), "apply {f:?}({x})");
        }
    }
}

#[test]
#[cfg_attr(sprig_test_lacks_avx2, ignore = "this machine lacks AVX2+FMA")]
fn avx2() {
    run_isa(Isa::Avx2);
}

#[test]
#[cfg_attr(sprig_test_lacks_avx512, ignore = "this machine lacks AVX-512")]
fn avx512() {
    run_isa(Isa::Avx512);
}

#[test]
#[cfg_attr(not(target_arch = "aarch64"), ignore = "NEON kernels run on aarch64 (scripts/test-aarch64.sh, under qemu)")]
fn neon() {
    run_isa(Isa::Neon);
}

#[test]
fn sign_of_zero_and_odd_symmetry() {
    for isa in Isa::ALL {
        if !isa.available() {
            println!("SKIPPED: vmath symmetry on {}", isa.name());
            continue;
        }
        for f in [Func::Erf, Func::Tanh] {
            let mut v = [0.0f32, -0.0, 0.3, -0.3, 2.5, -2.5];
            map_inplace(isa, f, &mut v);
            assert!(v[0] == 0.0 && v[0].is_sign_positive() && v[1] == 0.0 && v[1].is_sign_negative(), "{f:?} signed zero");
            assert_eq!(v[2], -v[3]);
            assert_eq!(v[4], -v[5]);
        }
    }
}

/// `softmax_rows` on every ISA against an f64 softmax: rows of lengths around the 8 lanes (1, 7,
/// 8, 9, 31, 128, 130), values spread over [-40, 40] (exp of the largest differences underflows),
/// relative error ≤ 1e-5 per element plus 1e-30 absolute; a partial row after the whole ones is
/// left alone.
#[test]
fn softmax_rows_match_f64() {
    use sprig_kernels::vmath::softmax_rows;
    for isa in Isa::ALL {
        if !isa.available() {
            println!("SKIPPED: softmax_rows on {} (not available on this CPU)", isa.name());
            continue;
        }
        for len in [1usize, 7, 8, 9, 31, 128, 130] {
            let rows = 5;
            let x: Vec<f32> = (0..rows * len + len / 2).map(|i| ((i * 7919 % 1601) as f32 - 800.0) * 0.05 + (i / len) as f32).collect();
            let mut y = vec![-3.5f32; x.len()];
            softmax_rows(isa, &x, &mut y, len);
            for r in 0..rows {
                let xr = &x[r * len..(r + 1) * len];
                let m = xr.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
                let s: f64 = xr.iter().map(|&v| (v as f64 - m).exp()).sum();
                for (i, &v) in xr.iter().enumerate() {
                    let want = (v as f64 - m).exp() / s;
                    let got = y[r * len + i] as f64;
                    assert!((got - want).abs() <= 1e-5 * want + 1e-30, "{} len {len} row {r} [{i}]: {got} vs {want}", isa.name());
                }
            }
            assert!(y[rows * len..].iter().all(|&v| v == -3.5), "{} len {len}: wrote into the partial row", isa.name());
        }
    }
}
