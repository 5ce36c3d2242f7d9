//! Test data shared by the benches and the probe examples (`benches/examples/`): a deterministic
//! RNG, block-sparse weights, blobs made by the one sparse encoder, and a median-of-reps timer.
use sprig_kernels::sparse::spmm::{aligned_ldb, spmm};
use sprig_kernels::sparse::{analyze_as, pack_as, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use std::time::Instant;

/// xorshift64: deterministic, no dependency. The state must be non-zero.
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

/// A row-major `m × k` matrix whose R×C blocks of `layout` are zero with probability `sparsity`
/// (for 1×1: each element); the weights of a kept block lie in [-0.49, 0.51), non-zero. Any
/// seed (`seed | 1` seeds the RNG).
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

/// The blob of `w` (with `bias`, if any) stored as `vt`, in `u64`s so that it is 8-aligned (view
/// it with [`as_bytes`]).
pub fn blob(w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, layout: Layout, vt: ValueType) -> Vec<u64> {
    let st = analyze_as(w, m, k, layout, vt).unwrap();
    let len = if bias.is_some() { st.bytes_with_bias } else { st.bytes };
    let mut buf = vec![0u64; len.div_ceil(8)];
    // SAFETY: the Vec owns buf.len()·8 initialised bytes; u8 has no alignment/validity needs.
    let bytes = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut u8, buf.len() * 8) };
    pack_as(w, m, k, bias, layout, vt, bytes).unwrap();
    buf
}

/// The bytes of a blob made by [`blob`].
pub fn as_bytes(b: &[u64]) -> &[u8] {
    // SAFETY: the slice owns b.len()·8 initialised bytes, read-only; u8 has no alignment needs.
    unsafe { std::slice::from_raw_parts(b.as_ptr() as *const u8, b.len() * 8) }
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

/// `len` zeroed floats starting on a 64-byte boundary, as the runtime's arena places every tensor
/// (a `Vec<f32>` from the allocator is often 16 bytes off a cache line, which makes every 64-byte
/// vector access of a row-major operand straddle two lines and misstates kernel times).
pub struct LineAligned {
    store: Vec<f32>,
    off: usize,
    len: usize,
}

impl LineAligned {
    pub fn zeros(len: usize) -> Self {
        let store = vec![0.0f32; len + 15];
        let off = (16 - (store.as_ptr() as usize / 4) % 16) % 16;
        LineAligned { store, off, len }
    }

    pub fn from_slice(v: &[f32]) -> Self {
        let mut a = LineAligned::zeros(v.len());
        a.as_mut_slice().copy_from_slice(v);
        a
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.store[self.off..self.off + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.store[self.off..self.off + self.len]
    }
}

/// `C[m×n] = act(A·B)` as the runtime's sparse pointwise conv runs it on one thread: B (`k×n`,
/// contiguous) read in place, or first copied into `b_padded` (room for `k` rows of
/// `n.next_multiple_of(16)` floats) with rows padded to 16 floats where `spmm::aligned_ldb` says
/// that pays.
pub fn spmm_like_runtime(isa: Isa, a: &SparseMatrix, b: &[f32], n: usize, c: &mut [f32], act: &Activation, b_padded: &mut LineAligned) {
    match aligned_ldb(isa, a, n) {
        Some(ld) => {
            let bp = &mut b_padded.as_mut_slice()[..a.k() * ld];
            for (dst, src) in bp.chunks_exact_mut(ld).zip(b.chunks_exact(n)) {
                dst[..n].copy_from_slice(src);
            }
            spmm(isa, a, &b_padded.as_slice()[..a.k() * ld], ld, n, c, n, act);
        }
        None => spmm(isa, a, b, n, n, c, n, act),
    }
}
