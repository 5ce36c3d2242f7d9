//! Shared by the kernels' probe examples (`mod common;`): random block-sparse weights and a
//! median-of-reps timer. (The benches crate has its own copy of the weight builder in
//! `benches/src/lib.rs`: an example of this crate cannot depend on the benches crate.)
#![allow(dead_code)] // each example uses part of it
use sprig_kernels::sparse::Layout;
use std::time::Instant;

/// xorshift64, as in the benches, so every probe draws the same kind of random blocks.
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `m × k` weights whose blocks (the layout's R×C) are zero with probability `sparsity`; the others
/// hold values in [-0.49, 0.51).
pub fn weights(m: usize, k: usize, layout: Layout, sparsity: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed | 1);
    let (r, c) = layout.block();
    let mut w = vec![0.0f32; m * k];
    for br in 0..m.div_ceil(r) {
        for bc in 0..k.div_ceil(c) {
            if rng.unit() >= sparsity {
                for i in br * r..(br * r + r).min(m) {
                    for j in bc * c..(bc * c + c).min(k) {
                        w[i * k + j] = (rng.unit() - 0.5) as f32 + 0.01;
                    }
                }
            }
        }
    }
    w
}

/// Median seconds of `reps` timed calls of `f`, after one untimed call.
pub fn median_time(reps: usize, f: &mut dyn FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
