//! Helpers shared by the dense kernel tests (`gemm.rs`, `im2col.rs`, `dwconv.rs`, `f16.rs`).
//! The sparse tests have their own module, `sparse_util` (an RNG plus block-sparse builders).
#![allow(dead_code)]
use sprig_kernels::{Act, Activation};

/// `len` deterministic values in [-1, 1) from `seed` (xorshift64; no dependency).
pub fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Compares the GEMM output `got` against the reference `want` (both `m × rs`, row-major, `rs >=
/// n`). Columns `n..rs` are padding and must still hold `sentinel`; the other elements must lie
/// within `1e-5 · (k + 1) · (Σ_p |a_ip·b_pj| + |bias| + 1)` of the reference (a NaN never does).
pub fn check_c(
    got: &[f32],
    want: &[f32],
    rs: usize,
    sentinel: f32,
    a: sprig_kernels::gemm::MatRef,
    b: sprig_kernels::gemm::MatRef,
    bias: sprig_kernels::gemm::Bias,
) -> Result<(), String> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    for i in 0..m {
        for j in 0..rs {
            let (g, w) = (got[i * rs + j], want[i * rs + j]);
            if j >= n {
                if g.to_bits() != sentinel.to_bits() {
                    return Err(format!("C padding ({i},{j}) overwritten: {g}"));
                }
                continue;
            }
            let mag: f32 = (0..k).map(|p| (a.at(i, p) * b.at(p, j)).abs()).sum::<f32>() + bias.at(i, j).abs() + 1.0;
            let tol = 1e-5 * (k as f32 + 1.0) * mag;
            let within = (g - w).abs() <= tol; // false for NaN
            if !within {
                return Err(format!("C({i},{j}) = {g}, reference {w}, tol {tol}"));
            }
        }
    }
    Ok(())
}

/// Every activation kind.
pub const ACTS: [Act; 10] = [Act::None, Act::Relu, Act::Clamp, Act::LeakyRelu, Act::HardSwish, Act::Sigmoid, Act::Tanh, Act::Gelu, Act::HardSigmoid, Act::GeluTanh];

/// `kind` with the test parameters: clamp to [-0.3, 0.4], leaky slope 0.1, hard sigmoid 0.2x + 0.5.
pub fn activation(kind: Act) -> Activation {
    match kind {
        Act::Clamp => Activation::clamp(-0.3, 0.4),
        Act::LeakyRelu => Activation { kind, alpha: 0.1, beta: 0.0 },
        Act::HardSigmoid => Activation { kind, alpha: 0.2, beta: 0.5 },
        _ => Activation { kind, alpha: 0.0, beta: 0.0 },
    }
}

/// Whether this CPU runs `isa`; prints `SKIPPED: {kernel} (CPU lacks {isa})` when not, so a
/// missing ISA shows as skipped, never as passed.
pub fn runs(kernel: &str, isa: sprig_kernels::Isa) -> bool {
    if !isa.available() {
        println!("SKIPPED: {kernel} (CPU lacks {})", isa.name());
    }
    isa.available()
}
