//! Pointwise (1x1, stride 1, unpadded) convs whose weights the converter stored in panels of 64
//! output channels: panel `t` holds, for each input channel `p`, the 64 weights
//! `W[64t .. 64t+64, p]` (rows past `M` are zero). `C = act(W·X + bias)` with `X` the `K × N`
//! input (channels × pixels, row-major) and `C` the `M × N` output.
//!
//! The AVX-512 kernel vectorises over output channels, as ONNX Runtime's NCHWc pointwise convs
//! do: a tile is 64 channels (four zmm) by 6 pixels, each step loads the 64 weights of one input
//! channel and broadcasts 6 input values read in place from `X` (no packing at run time, and no
//! wasted columns at `N = 196` or `49`, where the row-vectorised GEMM pads to its 16- or 32-wide
//! tiles). It stores each tile transposed. AVX2 runs the same scheme with tiles of 16 channels by
//! 6 pixels (each sub-panel of 16 channels over all pixels in turn); NEON and scalar run each
//! panel through the GEMM, whose packed-A path reads a panel as a column-major `64 × K` matrix.
//!
//! Dense MobileNetV1 converted with and without panels, one session each, runs alternating (EPYC
//! Zen 4, 2026-12-07; BENCHMARKS.md "Session 19"): AVX-512 1.195x end to end; on AVX2 alone the
//! panels lose (0.94x with the AVX2 kernel, 0.79x through the GEMM per panel), so the converter
//! stores them only when asked (`--pointwise-panels`).
use crate::gemm::{self, Bias, MatMut, MatRef};
use crate::{Activation, Isa};

/// Output channels per weight panel.
pub const PANEL: usize = 64;

/// Floats of the packed weights of an `m × k` matrix.
pub fn packed_len(m: usize, k: usize) -> usize {
    m.div_ceil(PANEL) * PANEL * k
}

/// Packs the row-major `m × k` weights `w` into `out` (`packed_len(m, k)` floats).
pub fn pack(w: &[f32], m: usize, k: usize, out: &mut [f32]) {
    assert_eq!(w.len(), m * k, "pw64::pack: weights are not m x k");
    assert_eq!(out.len(), packed_len(m, k), "pw64::pack: output is not packed_len");
    out.fill(0.0);
    for (i, row) in w.chunks_exact(k.max(1)).enumerate().take(m) {
        for (p, &v) in row.iter().enumerate() {
            out[packed_index(k, i, p)] = v;
        }
    }
}

/// Index of weight `(i, p)` in packed weights of depth `k`.
fn packed_index(k: usize, i: usize, p: usize) -> usize {
    ((i / PANEL) * k + p) * PANEL + i % PANEL
}

/// Weight `(i, p)` of packed weights of depth `k`.
pub fn packed_at(wp: &[f32], k: usize, i: usize, p: usize) -> f32 {
    wp[packed_index(k, i, p)]
}

/// Whether `isa` has the channel-vectorised kernel (else [`pointwise`] runs the GEMM per panel).
pub fn has_kernel(isa: Isa) -> bool {
    matches!(isa, Isa::Avx512 | Isa::Avx2) && isa.available() && cfg!(target_arch = "x86_64")
}

/// The kernel [`pointwise`] runs for `isa` (what `sprig bench` prints).
pub fn kernel_name(isa: Isa) -> &'static str {
    if has_kernel(isa) {
        // Tiles of 64 channels x 6 pixels; on AVX2 16 x 6 (x86::AVX2_V ymm x AVX2_P).
        if isa == Isa::Avx512 {
            "pw64x6_avx512"
        } else {
            "pw64_16x6_avx2"
        }
    } else {
        match gemm::kernel_for(isa).filter(|_| isa.available()) {
            Some(kr) => kr.name,
            None => "sgemm_ref_scalar",
        }
    }
}

/// f32 elements of scratch [`pointwise`] needs for `n` pixels and depth `k` on any ISA (the
/// GEMM's, for one panel; the ISAs of [`has_kernel`] need none).
pub fn scratch_len(n: usize, k: usize) -> usize {
    gemm::sgemm_scratch_len(PANEL, n, k)
}

/// `C = act(W·X + bias)` for the `m` output channels of packed weights `wp` (`packed_len(m, k)`
/// floats), `X` = `x` (`k × n` row-major), `C` = `c` (`m × n` row-major), `bias` of `m` values.
///
/// Panics on inconsistent lengths or a scratch shorter than [`scratch_len`] (where the ISA
/// needs it).
#[allow(clippy::too_many_arguments)]
pub fn pointwise(isa: Isa, m: usize, k: usize, n: usize, wp: &[f32], x: &[f32], bias: Option<&[f32]>, act: &Activation, c: &mut [f32], scratch: &mut [f32]) {
    assert_eq!(wp.len(), packed_len(m, k), "pw64: weights are not packed_len(m, k)");
    assert_eq!(x.len(), k * n, "pw64: input is not k x n");
    assert_eq!(c.len(), m * n, "pw64: output is not m x n");
    assert!(bias.is_none_or(|b| b.len() == m), "pw64: bias is not m long");
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_kernel(isa) && k > 0 {
        if isa == Isa::Avx512 {
            // SAFETY: the CPU has AVX-512F (has_kernel); the lengths were checked above.
            unsafe { x86::pointwise_avx512(m, k, n, wp, x, bias, act, c) };
        } else {
            // SAFETY: the CPU has AVX2 and FMA (has_kernel); the lengths were checked above.
            unsafe { x86::pointwise_avx2(m, k, n, wp, x, bias, act, c) };
        }
        return;
    }
    for t in 0..m.div_ceil(PANEL) {
        let rows = (m - t * PANEL).min(PANEL);
        // Panel t as a column-major rows × k matrix: element (r, p) at r + 64·p.
        let a = MatRef { data: &wp[t * PANEL * k..(t + 1) * PANEL * k], rows, cols: k, rs: 1, cs: PANEL };
        let cm = MatMut::row_major(&mut c[t * PANEL * n..(t * PANEL + rows) * n], rows, n);
        let b = match bias {
            Some(b) => Bias::Row(&b[t * PANEL..t * PANEL + rows]),
            None => Bias::None,
        };
        gemm::sgemm(isa, a, MatRef::row_major(x, k, n), cm, b, act, scratch);
    }
}

/// The plain reference: `C[i][j] = act(bias[i] + Σ_p W[i][p]·X[p][j])`.
#[allow(clippy::too_many_arguments)]
pub fn pointwise_ref(m: usize, k: usize, n: usize, wp: &[f32], x: &[f32], bias: Option<&[f32]>, act: &Activation, c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = bias.map_or(0.0, |b| b[i]);
            for p in 0..k {
                s += packed_at(wp, k, i, p) * x[p * n + j];
            }
            c[i * n + j] = act.apply(s);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::PANEL;
    use crate::Activation;
    use core::arch::x86_64::*;

    /// Pixels per tile.
    const NP: usize = 6;

    /// Bytes of `X` a block of pixels may span so that it stays in the 1 MiB L2 while every
    /// panel passes over it.
    const X_BLOCK_BYTES: usize = 384 * 1024;

    /// Pixel blocks `(j0, j1)` for depth `k` and tiles of `np` pixels: all of N where X fits
    /// [`X_BLOCK_BYTES`] (the 14x14 and 7x7 layers), else blocks of whole tiles; a short last
    /// block joins the one before.
    fn pixel_blocks(n: usize, k: usize, np: usize) -> impl Iterator<Item = (usize, usize)> {
        let fit = (X_BLOCK_BYTES / (4 * k)).max(np) / np * np;
        let nb = if n <= fit { n } else { fit };
        let mut j0 = 0;
        core::iter::from_fn(move || {
            if j0 >= n {
                return None;
            }
            let mut j1 = (j0 + nb).min(n);
            if n - j1 < nb / 2 {
                j1 = n;
            }
            let b = (j0, j1);
            j0 = j1;
            Some(b)
        })
    }

    /// The bias of panel `t` (`rows` channels) padded with zeros to 64 (zeros without a bias).
    fn panel_bias(bias: Option<&[f32]>, t: usize, rows: usize) -> [f32; PANEL] {
        let mut pb = [0.0f32; PANEL];
        if let Some(b) = bias {
            pb[..rows].copy_from_slice(&b[t * PANEL..t * PANEL + rows]);
        }
        pb
    }

    /// Writes the stack tile `t` (pixel-major: `t[j][r]` is channel `r` of pixel `j`) to C's
    /// rows.
    ///
    /// # Safety
    /// `e.c + r·e.ldc + j` is writable for `r < e.rows ≤ W`, `j < P`.
    #[inline(always)]
    unsafe fn store_transposed<const P: usize, const W: usize>(t: &[[f32; W]; P], e: &Epi) {
        for r in 0..e.rows {
            for (j, tj) in t.iter().enumerate() {
                // SAFETY: r < e.rows and j < P, writable by the contract.
                unsafe { *e.c.add(r * e.ldc + j) = tj[r] };
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; `wp`, `x`, `c` and `bias` have the lengths `pointwise` checks, and
    /// `k ≥ 1`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pointwise_avx512(m: usize, k: usize, n: usize, wp: &[f32], x: &[f32], bias: Option<&[f32]>, act: &Activation, c: &mut [f32]) {
        let (clamp, lo, hi, post) = act.fused_clamp();
        for (j0, j1) in pixel_blocks(n, k, NP) {
            for t in 0..m.div_ceil(PANEL) {
                let rows = (m - t * PANEL).min(PANEL);
                let pb = panel_bias(bias, t, rows);
                let bp = pb.as_ptr();
                let w = wp[t * PANEL * k..].as_ptr();
                let mut j = j0;
                while j < j1 {
                    let cp = c[t * PANEL * n + j..].as_mut_ptr();
                    let xp = x[j..].as_ptr();
                    let e = Epi { c: cp, ldc: n, rows, bias: bp, clamp, lo, hi };
                    // SAFETY: panel t has k groups of 64 floats from w; X has k rows of n floats
                    // and j + np ≤ n; C rows t·64 .. t·64 + rows hold n floats each from column j;
                    // bp points at 64 floats.
                    unsafe {
                        match rows {
                            33.. => tile_px::<4>((j1 - j).min(NP), k, w, xp, n, &e),
                            17..=32 => tile_px::<2>((j1 - j).min(NP), k, w, xp, n, &e),
                            _ => tile_px::<1>((j1 - j).min(NP), k, w, xp, n, &e),
                        }
                    }
                    j += NP;
                }
            }
        }
        if post {
            act.apply_slice_isa(crate::Isa::Avx512, c);
        }
    }

    /// ymm vectors (of 8 channels) per pixel and pixels per tile of the AVX2 kernel: 12
    /// accumulators, 2 weight loads and 6 broadcasts per 12 FMAs (32 channels x 3 pixels ran the
    /// 14x14 layers at half the GEMM's speed).
    pub(super) const AVX2_V: usize = 2;
    pub(super) const AVX2_P: usize = 6;

    /// [`pointwise_avx512`] on AVX2: each 64-channel panel in sub-panels of `8·AVX2_V` channels,
    /// each over all pixels of the block in turn (its weights stay in L1; taking the sub-panels
    /// inside each pixel tile instead ran b11.pw of MobileNetV1 at 0.86x the GEMM, this order at
    /// 0.98x).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; as [`pointwise_avx512`] otherwise.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pointwise_avx2(m: usize, k: usize, n: usize, wp: &[f32], x: &[f32], bias: Option<&[f32]>, act: &Activation, c: &mut [f32]) {
        const SUB: usize = 8 * AVX2_V;
        let (clamp, lo, hi, post) = act.fused_clamp();
        for (j0, j1) in pixel_blocks(n, k, AVX2_P) {
            for t in 0..m.div_ceil(PANEL) {
                let rows = (m - t * PANEL).min(PANEL);
                let pb = panel_bias(bias, t, rows);
                for s0 in (0..rows).step_by(SUB) {
                    let w = wp[t * PANEL * k + s0..].as_ptr();
                    let mut j = j0;
                    while j < j1 {
                        let xp = x[j..].as_ptr();
                        let cp = c[(t * PANEL + s0) * n + j..].as_mut_ptr();
                        let e = Epi { c: cp, ldc: n, rows: (rows - s0).min(SUB), bias: pb[s0..].as_ptr(), clamp, lo, hi };
                        // SAFETY: the panel holds k groups of 64 floats from wp[t·64·k], and
                        // s0 + SUB ≤ 64; X has k rows of n floats and j + np ≤ n; C rows
                        // t·64 + s0 .. + e.rows hold n floats from column j; pb[s0..] holds
                        // SUB floats.
                        unsafe {
                            match (j1 - j).min(AVX2_P) {
                                6 => tile_avx2::<6>(k, w, xp, n, &e),
                                5 => tile_avx2::<5>(k, w, xp, n, &e),
                                4 => tile_avx2::<4>(k, w, xp, n, &e),
                                3 => tile_avx2::<3>(k, w, xp, n, &e),
                                2 => tile_avx2::<2>(k, w, xp, n, &e),
                                _ => tile_avx2::<1>(k, w, xp, n, &e),
                            }
                        }
                        j += AVX2_P;
                    }
                }
            }
        }
        if post {
            act.apply_slice_isa(crate::Isa::Avx2, c);
        }
    }

    /// One tile of `8·AVX2_V` channels × `P` pixels over all of `k` (weights at stride 64).
    ///
    /// # Safety
    /// `w + 64·p` holds `8·AVX2_V` floats for `p < k`; as [`tile`] otherwise, with `e.bias`
    /// holding `8·AVX2_V` floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_avx2<const P: usize>(k: usize, w: *const f32, x: *const f32, ldx: usize, e: &Epi) {
        let mut acc = [[_mm256_setzero_ps(); AVX2_V]; P];
        let (mut wq, mut xq) = (w, x);
        for _ in 0..k {
            // SAFETY: step p < k: wq = w + 64·p and xq = x + p·ldx, inside the ranges above.
            unsafe {
                let wv: [__m256; AVX2_V] = core::array::from_fn(|v| _mm256_loadu_ps(wq.add(8 * v)));
                for (j, a) in acc.iter_mut().enumerate() {
                    let b = _mm256_broadcast_ss(&*xq.add(j));
                    for v in 0..AVX2_V {
                        a[v] = _mm256_fmadd_ps(b, wv[v], a[v]);
                    }
                }
                wq = wq.add(PANEL);
                xq = xq.add(ldx);
            }
        }
        let (lo, hi) = (_mm256_set1_ps(e.lo), _mm256_set1_ps(e.hi));
        let mut t = [[0f32; 8 * AVX2_V]; P];
        for (tj, a) in t.iter_mut().zip(&acc) {
            for (v, &av) in a.iter().enumerate() {
                // SAFETY: e.bias holds 8·AVX2_V floats; tj holds as many.
                unsafe {
                    let mut r = _mm256_add_ps(av, _mm256_loadu_ps(e.bias.add(8 * v)));
                    if e.clamp {
                        r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
                    }
                    _mm256_storeu_ps(tj.as_mut_ptr().add(8 * v), r);
                }
            }
        }
        // SAFETY: forwarded contract (e.rows ≤ the tile's channels).
        unsafe { store_transposed(&t, e) };
    }

    /// Where a tile's results go: `rows` channels of C from `c` at row stride `ldc`.
    struct Epi {
        c: *mut f32,
        ldc: usize,
        rows: usize,
        bias: *const f32,
        clamp: bool,
        lo: f32,
        hi: f32,
    }

    /// [`tile`] for `np` (1..=6) pixels.
    ///
    /// # Safety
    /// As [`tile`] with `P = np`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_px<const V: usize>(np: usize, k: usize, w: *const f32, x: *const f32, ldx: usize, e: &Epi) {
        // SAFETY: forwarded.
        unsafe {
            match np {
                6 => tile::<6, V>(k, w, x, ldx, e),
                5 => tile::<5, V>(k, w, x, ldx, e),
                4 => tile::<4, V>(k, w, x, ldx, e),
                3 => tile::<3, V>(k, w, x, ldx, e),
                2 => tile::<2, V>(k, w, x, ldx, e),
                _ => tile::<1, V>(k, w, x, ldx, e),
            }
        }
    }

    /// One tile of `16·V` channels × `P` pixels over all of `k` (`V` = 4; 2 or 1 for the last
    /// panel of a channel count that leaves 32 or 16 channels or fewer in it, so that e.g. 96 or
    /// 160 channels compute no padding rows).
    ///
    /// # Safety
    /// `w` holds `k` groups of 64 floats; `x + p·ldx + j` is readable for `p < k`, `j < P`;
    /// `e.c + r·e.ldc + j` is writable for `r < e.rows ≤ 16·V`, `j < P`; `e.bias` holds 64
    /// floats.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const P: usize, const V: usize>(k: usize, w: *const f32, x: *const f32, ldx: usize, e: &Epi) {
        let mut acc = [[_mm512_setzero_ps(); V]; P];
        let (mut wq, mut xq) = (w, x);
        for _ in 0..k {
            // SAFETY: step p < k: wq = w + 64·p and xq = x + p·ldx, inside the ranges above.
            unsafe {
                let wv: [__m512; V] = core::array::from_fn(|v| _mm512_loadu_ps(wq.add(16 * v)));
                for (j, a) in acc.iter_mut().enumerate() {
                    let b = _mm512_set1_ps(*xq.add(j));
                    for v in 0..V {
                        a[v] = _mm512_fmadd_ps(b, wv[v], a[v]);
                    }
                }
                wq = wq.add(PANEL);
                xq = xq.add(ldx);
            }
        }
        // Bias and clamp on the channel vectors, then the transposed store through a stack tile
        // (k multiply-adds per stored value dwarf its 2 scalar moves at the depths this serves).
        let (lo, hi) = (_mm512_set1_ps(e.lo), _mm512_set1_ps(e.hi));
        let mut t = [[0f32; PANEL]; P];
        for (tj, a) in t.iter_mut().zip(&acc) {
            for (v, &av) in a.iter().enumerate() {
                // SAFETY: e.bias holds 64 floats; tj holds 64 ≥ 16·V.
                unsafe {
                    let mut r = _mm512_add_ps(av, _mm512_loadu_ps(e.bias.add(16 * v)));
                    if e.clamp {
                        r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
                    }
                    _mm512_storeu_ps(tj.as_mut_ptr().add(16 * v), r);
                }
            }
        }
        // SAFETY: forwarded contract (e.rows ≤ the tile's channels).
        unsafe { store_transposed(&t, e) };
    }
}
