//! Scalar reference GEMM: deliberately plain; every SIMD kernel is tested against it.
use super::{Bias, MatMut, MatRef, Operand};
use crate::Activation;

pub fn sgemm_ref(a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a.at(i, p) * b.at(p, j);
            }
            c.data[i * c.rs + j] = act.apply(s + bias.at(i, j));
        }
    }
}

/// The reference for operands stored as f32 or f16 (each element widened exactly).
pub fn sgemm_mixed_ref(a: Operand, b: Operand, c: MatMut, bias: Bias, act: &Activation) {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a.at(i, p) * b.at(p, j);
            }
            c.data[i * c.rs + j] = act.apply(s + bias.at(i, j));
        }
    }
}
