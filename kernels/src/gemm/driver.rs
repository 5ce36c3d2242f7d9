//! Blocking, packing and epilogue logic shared by every microkernel (see the module doc of
//! `gemm` for the contract). Callers have already validated the views (`check_args`).
use super::{APath, Bias, GemmKernel, Gemv, MatMut, MatRef, PackSrc, Tile};
use crate::Activation;

/// Smallest depth at which [`APath::Auto`] reads A in place (see `sgemm_packed_path`).
const IN_PLACE_MIN_K: usize = 27;

/// Most columns for which an in-place A takes deep blocks.
const DEEP_MAX_N: usize = 64;

/// An in-place A with more columns than [`DEEP_MAX_N`], up to this many, takes all of K in one
/// block when K is at most [`ONE_BLOCK_MAX_K`] and the caller's scratch holds the whole packed B
/// ([`one_block_len`]; `sgemm_scratch_wanted` asks for that room, `sgemm_scratch_len` does not).
/// The 14x14 pointwise layers of MobileNetV1 (512x512x196, k = 512) then write C once instead of
/// writing it and adding to it in a second 256-deep pass. AVX2 6x16, in-process A/B against two
/// 256-deep blocks (EPYC Zen 4, 2026-12-07, medians of 11 rounds, hot weights): 512x512x196
/// 1.03-1.05x, 1024x512x196 1.05-1.06x; 512x256x196 and 1024x1024x49 (already deep) 1.00x.
const ONE_BLOCK_MAX_N: usize = 256;

/// See [`ONE_BLOCK_MAX_N`]: the packed B of one block is then at most 256 × 512 floats (512 KiB,
/// half of Zen 4's L2).
const ONE_BLOCK_MAX_K: usize = 512;

/// Slack per packed buffer so that it can start on a 64-byte boundary.
const ALIGN_SLACK: usize = 16;

#[inline]
fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// f32 elements of scratch the packed path of `kr` needs.
pub(super) fn packed_scratch_len(kr: &GemmKernel, m: usize, n: usize, k: usize) -> usize {
    if m == 0 || n == 0 || k == 0 || m == 1 || n == 1 {
        return 0;
    }
    let kc = k.min(kr.kc);
    let a = round_up(m.min(kr.mc), kr.mr) * kc;
    let b = round_up(n.min(kr.nc), kr.nr) * kc;
    a + b + 2 * ALIGN_SLACK
}

/// f32 elements of scratch with which an in-place A of this shape takes all of K in one block
/// (see [`ONE_BLOCK_MAX_N`]), or None where that rule does not apply.
fn one_block_len(kr: &GemmKernel, n: usize, k: usize) -> Option<usize> {
    (kr.ukr_rows.is_some() && n > DEEP_MAX_N && n <= ONE_BLOCK_MAX_N && k > kr.kc && k <= ONE_BLOCK_MAX_K).then(|| round_up(n, kr.nr) * k + ALIGN_SLACK)
}

/// f32 elements of scratch the packed path of `kr` can put to use: [`packed_scratch_len`], or
/// more where an in-place A takes K in one block ([`one_block_len`]).
pub(super) fn wanted_scratch_len(kr: &GemmKernel, m: usize, n: usize, k: usize) -> usize {
    let min = packed_scratch_len(kr, m, n, k);
    if min == 0 {
        return 0;
    }
    min.max(one_block_len(kr, n, k).unwrap_or(0))
}

/// Splits off a 64-byte aligned buffer of `len` floats from the front of `s`.
fn take_aligned(s: &mut [f32], len: usize) -> (&mut [f32], &mut [f32]) {
    let off = match s.as_ptr().align_offset(64) {
        o if o < ALIGN_SLACK => o,
        _ => 0, // an f32 slice is 4-aligned, so this is unreachable; unaligned still works
    };
    let (buf, rest) = s[off..].split_at_mut(len);
    (buf, rest)
}

/// `C = act(bias)`: the product of an empty reduction (k = 0).
pub(super) fn fill_bias(c: MatMut, bias: Bias, act: &Activation) {
    for i in 0..c.rows {
        for j in 0..c.cols {
            c.data[i * c.rs + j] = act.apply(bias.at(i, j));
        }
    }
}

pub(super) fn sgemm_with(kr: &GemmKernel, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    sgemm_with_path(kr, APath::Auto, a, b, c, bias, act, scratch)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn sgemm_with_path(kr: &GemmKernel, path: APath, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        return fill_bias(c, bias, act);
    }
    if m == 1 || n == 1 {
        return gemv(kr, a, b, c, bias, act);
    }
    sgemm_packed_path(kr, path, a, b, CDst::of(c), bias, act, scratch)
}

/// Where the packed path writes C: element `(i, j)` at `base + i·rs + j`, for `i < m`, `j < n`
/// of the call. Made from a checked [`MatMut`] (safe) or, for a window of a C shared with other
/// threads, from a pointer the caller vouches for ([`CDst::from_raw`]).
pub(super) struct CDst<'a> {
    base: *mut f32,
    rs: usize,
    _c: core::marker::PhantomData<&'a mut f32>,
}

impl<'a> CDst<'a> {
    /// All of `c` (whose view the caller has checked with `MatMut::check`).
    pub(super) fn of(c: MatMut<'a>) -> Self {
        CDst { base: c.data.as_mut_ptr(), rs: c.rs, _c: core::marker::PhantomData }
    }

    /// # Safety
    /// `base + i·rs + j` must be valid for writes, and accessed by no one else, for every
    /// `i < m`, `j < n` of the call it is passed to, for the lifetime `'a`.
    pub(super) unsafe fn from_raw(base: *mut f32, rs: usize) -> Self {
        CDst { base, rs, _c: core::marker::PhantomData }
    }
}

/// The packed (BLIS-style) path for `m, n ≥ 2`, `k ≥ 1` with [`APath::Auto`].
pub(super) fn sgemm_packed<A: PackSrc, B: PackB>(kr: &GemmKernel, a: A, b: B, c: CDst, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    sgemm_packed_path(kr, APath::Auto, a, b, c, bias, act, scratch)
}

/// The packed (BLIS-style) path for `m, n ≥ 2`, `k ≥ 1`, over operands stored as f32 or f16
/// (f16 is widened while packing, so the microkernels only ever see f32 panels). A row-major f32
/// A is read in place by `kr.ukr_rows` instead of packed when `path` asks for it (see [`APath`]).
#[allow(clippy::too_many_arguments)]
fn sgemm_packed_path<A: PackSrc, B: PackB>(kr: &GemmKernel, path: APath, a: A, b: B, c: CDst, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    let need = packed_scratch_len(kr, m, n, k);
    assert!(scratch.len() >= need, "gemm: scratch has {} f32, needs {need}", scratch.len());
    // Auto reads a row-major f32 A in place when k >= IN_PLACE_MIN_K. AVX2 6x16, packed/in-place
    // time (median of 41 interleaved rounds, examples/gemm_apath.rs): 1.30x on 1024x1024x49,
    // 1.29x on 512x4608x49, 1.03-1.11x on 512x512x196, 256x2304x196, 256x256x256, 128x1152x784,
    // 64x576x3136 (packing A is one extra pass over the weights per nc block). Inside a whole
    // dense MobileNetV1 run (`sprig bench`, per-layer medians, 11 and 15 interleaved rounds, with
    // the epilogue inlined) the k = 27 stem (32x27x12544, im2col B) ran 1.03-1.05x in place, the
    // k = 32 and k = 64 pointwise layers (64x32x12544, 128x64x3136) 1.04-1.05x and 1.035x, though
    // the isolated hot-A probe has them at 0.98-1.01x (in the model the weights are cold, and
    // packing reads them once more). k < 27 has not been measured, so it stays packed.
    // AVX-512 takes the same choice since session 11, the first time the dev VM exposed AVX-512
    // (its in-place tests then ran and passed: `cargo test -p sprig-kernels --test gemm`).
    // 12x32 in place against packed (examples/gemm_apath.rs, 9 rounds): 1.13x on 512x512x196,
    // 1.20x with cold A; dense MobileNetV1 with `--isa avx512` went from 0.84x to 0.94x of the
    // AVX2 run (alternating processes, 6 rounds each), b11.pw/b12.pw from 0.64/0.61x to 1.00/0.85x.
    // NEON shares the AVX2 choice: tested under qemu, not timed.
    let rows_a = match (path, kr.ukr_rows, a.f32_rows()) {
        (APath::Packed, _, _) => None,
        (APath::Auto, _, _) if k < IN_PLACE_MIN_K => None,
        (_, Some(ukr), Some((data, lda))) => Some((ukr, data.as_ptr(), lda)),
        _ => None,
    };

    let (mr, nr) = (kr.mr, kr.nr);
    let kc_max = k.min(kr.kc);
    let (apack_len, bpack_len) = (round_up(m.min(kr.mc), mr) * kc_max, round_up(n.min(kr.nc), nr) * kc_max);
    // An in-place A with few columns (MobileNetV1's 7x7 pointwise layers, n = 49) takes K in as
    // few blocks as the planned scratch holds (it needs no packed A, so B gets all of it): each
    // row of A is then read in runs of 2 KiB (K = 512: one block, K = 1024: two) instead of four
    // separate 1 KiB runs, which the weights, cold in a model run, pay for. Inside the dense
    // model (one session, runs alternating with the 256-deep blocks, 150 and 200 pairs,
    // benches/examples/model_ab.rs at 95502e0): 1024x512x49 1.08-1.10x, 1024x1024x49 1.05x.
    // Where the deep blocks would be no deeper than kc_max, the usual blocks stay.
    let kc_blk = match rows_a {
        Some(_) if n <= DEEP_MAX_N => {
            let cap = (apack_len + bpack_len + ALIGN_SLACK) / round_up(n, nr);
            k.div_ceil(k.div_ceil(cap)).max(kc_max)
        }
        // One block where the caller gave room for it (files planned before this rule give the
        // minimum, and keep the 256-deep blocks).
        Some(_) if one_block_len(kr, n, k).is_some_and(|len| scratch.len() >= len) => k,
        _ => kc_max,
    };
    // Deep blocks fit: kc_blk <= cap, so the B block is at most apack_len + bpack_len + SLACK
    // floats, and packed_scratch_len asked for that plus another SLACK for the alignment; one
    // block (kc_blk = k) was only taken when scratch holds round_up(n, nr)·k + SLACK.
    let (apack, bpack) = if kc_blk > kc_max {
        (&mut [][..], take_aligned(scratch, round_up(n, nr) * kc_blk).0)
    } else {
        let (apack, rest) = take_aligned(scratch, apack_len);
        (apack, take_aligned(rest, bpack_len).0)
    };
    let (clamp, lo, hi, post) = act.fused_clamp();
    let rs_c = c.rs;
    let cbase = c.base;

    for jc in (0..n).step_by(kr.nc) {
        let nc = kr.nc.min(n - jc);
        for pc in (0..k).step_by(kc_blk) {
            let kc = kc_blk.min(k - pc);
            let last = pc + kc == k;
            b.pack_b(pc, kc, jc, nc, nr, bpack);
            for ic in (0..m).step_by(kr.mc) {
                let mc = kr.mc.min(m - ic);
                if rows_a.is_none() {
                    pack_a(&a, ic, mc, pc, kc, mr, apack);
                }
                // Row panels outer, column panels inner: each A micro-panel stays in L1 while the
                // B panels of the block stream from L2, and C is written a 6-row strip at a time
                // (the other order writes one tile into each of the block's mc rows in turn).
                // Side by side per call (benches/examples/gemm_order.rs at b3eb792, AVX2 6x16, median
                // of 7 rounds, two runs): 0.99-1.24x on 20 shapes, the few below 1.00 within 1 %,
                // most on small k and large n (ResNet stem 1.18-1.24x, 96x16x12544 1.12-1.17x,
                // 64x32x12544 1.07-1.20x); whole models 1.02-1.03x (MobileNetV1 stem 1.31x in it).
                for ir in (0..mc).step_by(mr) {
                    let mr_eff = mr.min(mc - ir);
                    let i0 = ic + ir;
                    for jr in (0..nc).step_by(nr) {
                        let nr_eff = nr.min(nc - jr);
                        let j0 = jc + jr;
                        let tile = Tile {
                            // SAFETY: i0 < m and j0 < n, so the offset is inside C (a MatMut
                            // checked by check_args, or a window vouched for by CDst::from_raw).
                            c: unsafe { cbase.add(i0 * rs_c + j0) },
                            rs_c,
                            mr: mr_eff,
                            nr: nr_eff,
                            accumulate: pc > 0,
                            clamp: last && clamp,
                            lo,
                            hi,
                            bias_row: match bias {
                                Bias::Row(bv) if last => bv[i0..].as_ptr(),
                                _ => core::ptr::null(),
                            },
                            bias_col: match bias {
                                Bias::Col(bv) if last => bv[j0..].as_ptr(),
                                _ => core::ptr::null(),
                            },
                        };
                        let bp = bpack[jr * kc..(jr + nr) * kc].as_ptr();
                        match rows_a {
                            // SAFETY: as for the packed kernel below; A has unit column stride
                            // and row stride lda, and the view check (check_args) covers
                            // elements (i, p) for i < m, p < k, so rows i0..i0+mr_eff of A hold
                            // kc floats from column pc: a + (i0+r)*lda + pc + kc - 1 is in bounds.
                            Some((ukr, a0, lda)) => unsafe { ukr(kc, a0.add(i0 * lda + pc), lda, bp, &tile) },
                            None => {
                                let ap = apack[ir * kc..(ir + mr) * kc].as_ptr();
                                // SAFETY: the caller checked that the CPU has kr.isa; the packed
                                // panels are kc*mr and kc*nr floats (sliced above); the C tile's
                                // mr_eff rows of nr_eff columns lie in C since
                                // i0+mr_eff <= m, j0+nr_eff <= n and rs_c >= n (or m == 1,
                                // handled by the GEMV path); bias slices have at least m (n)
                                // values (Bias::check), so mr_eff (nr_eff) from i0 (j0) fit.
                                unsafe { (kr.ukr)(kc, ap, bp, &tile) }
                            }
                        }
                        if last && post {
                            for i in 0..mr_eff {
                                // SAFETY: same tile bounds as above: row i of the tile holds
                                // nr_eff floats inside C, and no other reference to them
                                // is alive here.
                                let row = unsafe { core::slice::from_raw_parts_mut(tile.c.add(i * rs_c), nr_eff) };
                                // Vectorised erf/exp (vmath): GELU was 44% of BERT time when
                                // applied per element with an f64 erf.
                                act.apply_slice_isa(kr.isa, row);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A B operand the packed path can pack into `NR`-column panels: a stored matrix ([`PackSrc`],
/// via [`pack_b`]) or a virtual one (the im2col matrix of a conv input, `super::im2col`).
pub(crate) trait PackB: Copy {
    fn cols(&self) -> usize;
    /// Packs `B[p0..p0+kc, j0..j0+nc]` into `dst` in the layout of [`pack_b`].
    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, dst: &mut [f32]);
}

impl<T: PackSrc> PackB for T {
    fn cols(&self) -> usize {
        PackSrc::cols(self)
    }
    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        pack_b(self, p0, kc, j0, nc, nr, dst)
    }
}

/// `m == 1` or `n == 1`, `k >= 1`: `y[j] = Σ_p x[p] · M[p, j]` with x = row 0 of A and M = B, or
/// x = column 0 of B and M = Aᵀ (then y is column 0 of C).
fn gemv(kr: &GemmKernel, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let (x, xs, mat, len, ys, row_bias) = if m == 1 { (a.data, a.cs, b, n, 1, false) } else { (b.data, b.rs, a.t(), m, c.rs, true) };
    let y = c.data.as_mut_ptr();
    if mat.cs == 1 || len == 1 {
        // SAFETY: kr.isa is available (checked by the caller); x[p*xs] for p < k, M[p*rs + j]
        // for p < k, j < len and y[j*ys] for j < len are in bounds by the MatRef/MatMut checks.
        unsafe { (kr.gemv_rows)(&Gemv { k, n: len, x: x.as_ptr(), xs, mat: mat.data.as_ptr(), stride: mat.rs, y, ys }) };
    } else if mat.rs == 1 && xs == 1 {
        // SAFETY: as above with M[p + j*cs]; x is contiguous.
        unsafe { (kr.gemv_cols)(&Gemv { k, n: len, x: x.as_ptr(), xs: 1, mat: mat.data.as_ptr(), stride: mat.cs, y, ys }) };
    } else {
        for j in 0..len {
            let mut s = 0.0f32;
            for p in 0..k {
                s += x[p * xs] * mat.at(p, j);
            }
            c.data[j * ys] = s;
        }
    }
    for j in 0..len {
        let bv = if row_bias { bias.at(j, 0) } else { bias.at(0, j) };
        c.data[j * ys] += bv;
    }
    if ys == 1 {
        act.apply_slice_isa(kr.isa, &mut c.data[..len]);
    } else {
        for j in 0..len {
            let v = &mut c.data[j * ys];
            *v = act.apply(*v);
        }
    }
}

/// Packs `A[i0..i0+mc, p0..p0+kc]` into `MR`-row panels: panel `t` holds, for each `p`, the `MR`
/// values `A[i0+t*MR+r, p0+p]`, zero for rows past `mc`.
fn pack_a<A: PackSrc>(a: &A, i0: usize, mc: usize, p0: usize, kc: usize, mr: usize, dst: &mut [f32]) {
    let (rs, cs) = (a.rs(), a.cs());
    for (t, ir) in (0..mc).step_by(mr).enumerate() {
        let panel = &mut dst[t * mr * kc..(t + 1) * mr * kc];
        let rows = mr.min(mc - ir);
        if cs == 1 && rows == mr {
            // Whole panels of a row-major A (conv weights) as 8-column transposes: the scalar
            // scatter below took 47% of a 512x4608x49 GEMM (perf), about 18 cycles per element.
            #[cfg_attr(not(feature = "std"), allow(unused_variables))]
            let base = (i0 + ir) * rs + p0;
            // Only the MR of the compiled kernel rows (`GEMM_KERNELS`): each instantiation is
            // code the embedded library would carry for nothing.
            let done = match mr {
                #[cfg(any(feature = "std", target_feature = "avx2"))]
                6 => pack_a_panel::<6, A>(a, base, kc, panel),
                #[cfg(any(feature = "std", target_feature = "avx512f", target_arch = "aarch64"))]
                8 => pack_a_panel::<8, A>(a, base, kc, panel),
                #[cfg(any(feature = "std", target_feature = "avx512f"))]
                12 => pack_a_panel::<12, A>(a, base, kc, panel),
                _ => false,
            };
            if done {
                continue;
            }
        }
        if rows < mr {
            panel.fill(0.0);
        }
        for r in 0..rows {
            let base = (i0 + ir + r) * rs + p0 * cs;
            if cs == 1 {
                for (p, v) in a.run(base, kc).enumerate() {
                    panel[p * mr + r] = v;
                }
            } else {
                for p in 0..kc {
                    panel[p * mr + r] = a.get(base + p * cs);
                }
            }
        }
    }
}

/// Packs `B[p0..p0+kc, j0..j0+nc]` into `NR`-column panels: panel `t` holds, for each `p`, the
/// `NR` values `B[p0+p, j0+t*NR+c]`, zero for columns past `nc`.
fn pack_b<B: PackSrc>(b: &B, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
    let (rs, cs) = (b.rs(), b.cs());
    if cs == 1 {
        // Row by row, so B is read sequentially: panel by panel read 64 bytes per row at a stride
        // of a whole B row (an im2col matrix: 12 KiB), and 39% of a 64x576x3136 GEMM went to
        // those copies (perf); fixed-width copies are inlined instead of a memmove call each.
        // Only the NR of the compiled kernel rows, as in `pack_a`.
        match nr {
            #[cfg(any(feature = "std", target_arch = "aarch64"))]
            8 => return pack_b_rows::<8, B>(b, p0, kc, j0, nc, dst),
            #[cfg(any(feature = "std", target_feature = "avx2"))]
            16 => return pack_b_rows::<16, B>(b, p0, kc, j0, nc, dst),
            #[cfg(any(feature = "std", target_feature = "avx512f"))]
            32 => return pack_b_rows::<32, B>(b, p0, kc, j0, nc, dst),
            _ => {}
        }
    }
    for (t, jr) in (0..nc).step_by(nr).enumerate() {
        let panel = &mut dst[t * nr * kc..(t + 1) * nr * kc];
        let cols = nr.min(nc - jr);
        if cs == 1 {
            for p in 0..kc {
                let base = (p0 + p) * rs + j0 + jr;
                let row = &mut panel[p * nr..(p + 1) * nr];
                b.copy_run(base, &mut row[..cols]);
                row[cols..].fill(0.0);
            }
        } else {
            if cols < nr {
                panel.fill(0.0);
            }
            for cc in 0..cols {
                let base = p0 * rs + (j0 + jr + cc) * cs;
                if rs == 1 {
                    for (p, v) in b.run(base, kc).enumerate() {
                        panel[p * nr + cc] = v;
                    }
                } else {
                    for p in 0..kc {
                        panel[p * nr + cc] = b.get(base + p * rs);
                    }
                }
            }
        }
    }
}

/// [`pack_b`] for a row-major B (`cs == 1`) and `NR`-column panels, one row of B at a time.
// Unused without std on targets whose kernel rows are all compiled out (x86_64 without AVX2).
#[cfg_attr(not(feature = "std"), allow(dead_code))]
fn pack_b_rows<const NR: usize, B: PackSrc>(b: &B, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
    let rs = b.rs();
    let full = nc / NR;
    let tail = nc - full * NR;
    for p in 0..kc {
        let base = (p0 + p) * rs + j0;
        for t in 0..full {
            let at = t * NR * kc + p * NR;
            b.copy_run(base + t * NR, &mut dst[at..at + NR]);
        }
        if tail > 0 {
            let at = full * NR * kc + p * NR;
            let row = &mut dst[at..at + NR];
            b.copy_run(base + full * NR, &mut row[..tail]);
            row[tail..].fill(0.0);
        }
    }
}

/// One full `MR`-row panel of a row-major A whose row `r` starts at `base + r·rs`: 8 columns of
/// every row are loaded, then written as 8 groups of `MR` (contiguous stores). Returns true.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
fn pack_a_panel<const MR: usize, A: PackSrc>(a: &A, base: usize, kc: usize, panel: &mut [f32]) -> bool {
    let rs = a.rs();
    let mut p = 0;
    while p + 8 <= kc {
        let mut tmp = [[0f32; 8]; MR];
        for (r, t) in tmp.iter_mut().enumerate() {
            a.copy_run(base + r * rs + p, t);
        }
        let out = &mut panel[p * MR..(p + 8) * MR];
        for q in 0..8 {
            for r in 0..MR {
                out[q * MR + r] = tmp[r][q];
            }
        }
        p += 8;
    }
    for r in 0..MR {
        for (q, v) in a.run(base + r * rs + p, kc - p).enumerate() {
            panel[(p + q) * MR + r] = v;
        }
    }
    true
}
