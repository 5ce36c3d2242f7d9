//! Helpers shared by the sparse tests: a 64-aligned byte buffer, a deterministic RNG, matrices
//! with a chosen sparsity pattern, and the independent dense f64 reference.
#![allow(dead_code)]
use sprig_kernels::sparse::{analyze, analyze_as, pack, pack_as, Layout, SparseMatrix, ValueType};
use sprig_kernels::Activation;

/// A 64-byte aligned, zeroed byte buffer (blobs in `.sprig` files are 64-aligned).
pub struct Aligned {
    buf: Vec<[u64; 8]>,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        Aligned { buf: vec![[0u64; 8]; len.div_ceil(64).max(1)], len }
    }
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the Vec owns len.div_ceil(64)·64 ≥ len initialised bytes; u8 has no alignment
        // or validity requirement.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.len) }
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, with unique access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.buf.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// xorshift64*: deterministic, no dependency.
pub struct XorRng(pub u64);
impl XorRng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [-1, 1), never exactly zero.
    pub fn weight(&mut self) -> f32 {
        let v = (self.unit() * 2.0 - 1.0) as f32;
        if v == 0.0 {
            0.5
        } else {
            v
        }
    }
}

/// A row-major m×k matrix where each R×C block of `layout` is zero with probability `sparsity`;
/// inside a kept block each weight is still zero with probability `inner` (so blocks are not
/// always full).
pub fn random_weights(rng: &mut XorRng, m: usize, k: usize, layout: Layout, sparsity: f64, inner: f64) -> Vec<f32> {
    let (r, c) = layout.block();
    let mut w = vec![0.0f32; m * k];
    for br in 0..m.div_ceil(r) {
        for bc in 0..k.div_ceil(c) {
            if rng.unit() < sparsity {
                continue;
            }
            for i in br * r..(br * r + r).min(m) {
                for j in bc * c..(bc * c + c).min(k) {
                    if rng.unit() >= inner {
                        w[i * k + j] = rng.weight();
                    }
                }
            }
        }
    }
    w
}

/// Packs with the one encoder into an aligned buffer.
pub fn encode(w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, layout: Layout) -> Aligned {
    let st = analyze(w, m, k, layout).expect("analyze");
    let size = if bias.is_some() { st.bytes_with_bias } else { st.bytes };
    let mut buf = Aligned::new(size);
    let n = pack(w, m, k, bias, layout, buf.bytes_mut()).expect("pack");
    assert_eq!(n, size);
    buf
}

/// Packs with the one encoder, values stored as `vt`.
pub fn encode_as(w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, layout: Layout, vt: ValueType) -> Aligned {
    let st = analyze_as(w, m, k, layout, vt).expect("analyze");
    let size = if bias.is_some() { st.bytes_with_bias } else { st.bytes };
    let mut buf = Aligned::new(size);
    let n = pack_as(w, m, k, bias, layout, vt, buf.bytes_mut()).expect("pack");
    assert_eq!(n, size);
    buf
}

pub fn parse(buf: &Aligned) -> SparseMatrix<'_> {
    SparseMatrix::parse(buf.bytes()).expect("parse")
}

/// Dense reference in f64 from the *original* weights: returns (value, scale) per element of
/// C = act(W·B + bias), where scale = Σ|w·b| + |bias| bounds the rounding error of any f32 order.
#[allow(clippy::too_many_arguments)]
pub fn dense_ref(
    w: &[f32],
    m: usize,
    k: usize,
    bias: Option<&[f32]>,
    b: &[f32],
    ldb: usize,
    n: usize,
    act: &Activation,
) -> Vec<(f32, f64)> {
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let bi = bias.map_or(0.0, |bb| bb[i]) as f64;
            let mut s = bi;
            let mut scale = bi.abs();
            for p in 0..k {
                let t = w[i * k + p] as f64 * b[p * ldb + j] as f64;
                s += t;
                scale += t.abs();
            }
            out.push((act.apply(s as f32), scale));
        }
    }
    out
}

/// Tolerance: |got − want| ≤ 1e-5·√k·scale + 1e-6 (f32 accumulation in any order over k terms;
/// activations here are 1-Lipschitz up to the HardSwish slope of 1.5 at the clamp edge, covered
/// by the margin).
pub fn close(got: f32, want: f32, scale: f64, k: usize) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    let tol = 1e-5 * (k.max(1) as f64).sqrt() * scale * 1.5 + 1e-6;
    ((got - want) as f64).abs() <= tol
}

pub fn acts() -> Vec<Activation> {
    use sprig_kernels::Act;
    vec![
        Activation::NONE,
        Activation::RELU,
        Activation::clamp(0.0, 6.0),
        Activation::clamp(-0.25, 0.3),
        Activation { kind: Act::HardSwish, alpha: 0.0, beta: 0.0 },
        Activation { kind: Act::LeakyRelu, alpha: 0.1, beta: 0.0 },
        Activation { kind: Act::Sigmoid, alpha: 0.0, beta: 0.0 },
        // Applied by the SIMD entries after the kernel, through vmath (spmm::run_with_act).
        Activation { kind: Act::Gelu, alpha: 0.0, beta: 0.0 },
        Activation { kind: Act::Tanh, alpha: 0.0, beta: 0.0 },
    ]
}
