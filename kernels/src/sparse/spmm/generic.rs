//! The SIMD SpMM body, written once over [`Simd`] and instantiated by the ISA files inside their
//! `#[target_feature]` entry points (everything here is `#[inline(always)]` so it compiles with
//! the entry's features).
// Accumulator tiles are indexed [row][vector] on purpose: it mirrors the register tile.
#![allow(clippy::needless_range_loop)]
use crate::sparse::simd::{Idx, Simd, Stored, VecAct, Wt};
use crate::sparse::{Indices, SparseMatrix};
use crate::Activation;

/// Bytes of the B panel (k × nc f32) one sweep over the block rows reads. Sweeping all block
/// rows per tile of `nr` columns (the previous order) streamed all of W (values + indices) once per
/// tile; with block rows outside and the tiles of a panel inside, W streams once per panel and B
/// comes from L2/L3 instead. AVX2 on EPYC Zen 4 (2026-11, useful GFLOP/s ratios new/old order,
/// 90 % sparse): 4096x1024x128 4x1 1.29x, 8x1 1.40x; 1024x4096x128 4x1 1.0x (panels of 256 KB
/// to 1 MB: 0.91–0.94x of 2 MB); 64x32x12544 4x1 1.94x; 128x64x3136 4x1 1.44x.
/// Smaller panels (B panel in L2) for the small-K MobileNet shapes did not pay either (session 4,
/// in-process A/B against 2 MB, medians of 9 rounds, 90 %): 64x32x12544 1x1 512 KB 0.98x, 256 KB
/// 0.95x, 128 KB 0.92x, 32 KB 0.88x; 4x1 1.02x / 0.99x / 0.95x / 0.82x; 128x64x3136 likewise
/// 0.87–0.98x: the long row streams the hardware prefetchers follow matter more than L2 reuse.
/// Software prefetch of B or `prefetchw` of C 256–4096 floats ahead along N was 0.61–0.97x.
const B_PANEL_BYTES: usize = 2 << 20;

/// Bytes of the B panel for the x86 one-row kernels that load B once per multiply-add (1x1 on
/// AVX2; 1x1, 1x4 and 1x8 on AVX-512): their time goes into B loads, and a panel that stays mostly
/// in L1 beats the long row streams once B and C start on cache lines (the session-4 measurement
/// above had B 16 bytes off a line, where loads split lines either way). A panel holds at least
/// one tile (k × nr floats); the small panel is taken only where that is at most
/// `L1_B_PANEL_MAX_TILE_BYTES`.
/// A/B in one process, 64-byte aligned B and C, time with 2 MB / time with 64 KB (EPYC Zen 4,
/// 2026-11-25, medians of 9–11 rounds), AVX-512, 90 %: 1x1 64x32x12544 1.19x, 128x64x3136 1.15x,
/// 256x128x784 1.10x, 512x256x196 1.08x, 512x512x196 1.03x (one tile of 128 KB per panel),
/// 256x384x784 1.04x; 1x4 1.04–1.11x, 1x8 1.04–1.08x; 80 % 1x1 1.14–1.30x; 95 % 0.98–1.08x.
/// 2x1 1.00–1.03x and 4x1 0.95–0.98x keep 2 MB. AVX2 1x1 90 % 1.00–1.11x, 80 % 1.08–1.22x;
/// AVX2 1x4 and 1x8 lost at 512x256x196 (0.93–0.98x), so only 1x1 there.
const L1_B_PANEL_BYTES: usize = 64 << 10;

/// The largest one-tile panel (k × nr floats, in bytes) for which the small panel is taken: at
/// the BERT FC shapes (k ≥ 768, N = 128: two tiles, each its own sweep over W) it was 0.96–0.99x.
const L1_B_PANEL_MAX_TILE_BYTES: usize = 128 << 10;

/// The B panel bytes for kernel `V`, block R×C, `k` rows of B and tiles of `nr` columns.
#[inline(always)]
fn panel_bytes<V: Simd, const R: usize, const C: usize>(k: usize, nr: usize) -> usize {
    // 16 lanes on x86_64 is AVX-512 (AVX2 has 8).
    let one_load_per_fma = cfg!(target_arch = "x86_64") && R == 1 && (C == 1 || V::LANES == 16);
    if one_load_per_fma && k.saturating_mul(nr).saturating_mul(4) <= L1_B_PANEL_MAX_TILE_BYTES {
        L1_B_PANEL_BYTES
    } else {
        B_PANEL_BYTES
    }
}

/// Runs the kernel for block R×C (R = 1 or C = 1) with tiles of `R × NV·LANES`, weights stored as
/// `W` (f32, or u16 f16 bits widened on load).
///
/// # Safety
/// The entry's ISA must provide `V` (and its f16 loads when `W = u16`); the arguments must satisfy
/// the `super::SpmmFn` contract (B checked by `super::check_args`), `n ≥ 1`, the layout must be R×C and the matrix's values stored as `W`.
#[inline(always)]
pub(crate) unsafe fn run<V: Simd, W: Wt<V> + Stored, const R: usize, const C: usize, const NV: usize>(
    a: &SparseMatrix,
    b: &[f32],
    ldb: usize,
    n: usize,
    c: *mut f32,
    ldc: usize,
    act: &Activation,
) {
    debug_assert_eq!(a.layout().block(), (R, C));
    match a.indices() {
        Indices::U16(ix) => spmm::<V, W, u16, R, C, NV>(a, ix, b, ldb, n, c, ldc, act),
        #[cfg(feature = "std")]
        Indices::U32(ix) => spmm::<V, W, u32, R, C, NV>(a, ix, b, ldb, n, c, ldc, act),
        // u32 indices only for k > 65536 (`U16_INDEX_MAX_K`): without std (embedded, size-first
        // builds) such layers take the scalar reference instead of a second copy of every kernel.
        #[cfg(not(feature = "std"))]
        // SAFETY: the `SpmmFn` contract of this call is the scalar entry's.
        Indices::U32(_) => unsafe { super::scalar::spmm_any_scalar(a, b, ldb, n, c, ldc, act) },
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn spmm<V: Simd, W: Wt<V> + Stored, I: Idx, const R: usize, const C: usize, const NV: usize>(
    a: &SparseMatrix,
    idx: &[I],
    b: &[f32],
    ldb: usize,
    n: usize,
    c: *mut f32,
    ldc: usize,
    act: &Activation,
) {
    let va = VecAct::<V>::new(act);
    let nr = NV * V::LANES;
    let (bp, cp) = (b.as_ptr(), c);
    let t = Tile { a, idx, vals: W::values(a).as_ptr(), b: bp, ldb, c: cp, ldc, va: &va, act };
    // Panels of `nc` columns (B panel k × nc up to B_PANEL_BYTES); inside one, block rows outside
    // and tiles inside, so a block row's indices and values stay in L1 across its tiles.
    let nfull = n / nr * nr;
    let nc = (panel_bytes::<V, R, C>(a.k(), nr) / 4 / a.k().max(1) / nr).max(1) * nr;
    let l = V::LANES;
    let mut p0 = 0;
    loop {
        let p1 = (p0 + nc).min(nfull);
        // The last panel also takes the N tail (< nr columns) inside the same sweep over the
        // block rows, so W is not streamed once more per tail step (before, each 1-vector step
        // of the tail was its own sweep over all block rows).
        let last = p1 == nfull;
        // One-row tiles (R = 1) on x86 fold the tail into the last full tile when the two fit in
        // `TAIL_VECTORS_R1` vectors: N = 196 (64-column tiles) then takes three passes over each
        // row's non-zeros instead of four, the fourth for 4 columns.
        let fold = cfg!(target_arch = "x86_64") && R == 1 && last && p1 > p0 && n > nfull && (n - p1 + nr).div_ceil(l) <= TAIL_VECTORS_R1;
        let p1 = if fold { p1 - nr } else { p1 };
        for br in 0..a.block_rows() {
            let mut n0 = p0;
            while n0 < p1 {
                t.run::<R, C, NV, false>(br, n0, nr);
                n0 += nr;
            }
            if last && n0 < n {
                t.tail::<R, C, NV>(br, n0, n - n0);
            }
        }
        if last {
            break;
        }
        p0 = p1;
    }
}

/// The most vectors a one-row (R = 1) tail pass takes on x86: its accumulators plus one broadcast
/// fit AVX2's 16 registers when the B loads fold into the FMAs.
const TAIL_VECTORS_R1: usize = 12;

/// How many blocks ahead (within the block row) the R×1 kernels prefetch their B row segment.
/// The B rows an index picks are random to the hardware prefetchers, and for batched MatMul B
/// (`k × n`, 0.5–2 MB) lives in L2/L3: the load of B was ~30 % of the 4x1 kernel's samples. AVX2,
/// EPYC Zen 4 (2026-11), CPU-time ratios with/without at 90 % sparsity, N = 128: 4096x1024 4x1
/// 1.05–1.12x, 1024x4096 4x1 1.32–1.42x, 1x1 1.14x, 8x1 1.05x; 8 and 32 blocks ahead were no
/// better, MobileNet pointwise shapes (a few blocks per row) are unchanged.
const PREFETCH_BLOCKS: usize = 16;

/// Prefetches the `floats` floats from `p` into L1 (one hint per 64-byte line). A hint only: `p`
/// need not be a valid address (it is never dereferenced). No-op off x86_64.
#[inline(always)]
fn prefetch(p: *const f32, floats: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut o = 0;
        while o < floats {
            // SAFETY: `_mm_prefetch` (SSE, part of x86_64) is a hint that cannot fault and has no
            // observable effect; the address is computed with wrapping arithmetic.
            unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.wrapping_add(o) as *const i8) };
            o += 16;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, floats);
}

struct Tile<'a, 'b, I, V, W> {
    a: &'a SparseMatrix<'b>,
    idx: &'a [I],
    vals: *const W,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    va: &'a VecAct<V>,
    act: &'a Activation,
}

impl<I: Idx, V: Simd, W: Wt<V>> Tile<'_, '_, I, V, W> {
    /// The N tail of block row `br` (`rem` < NV·LANES columns from `n0`; for R = 1 on x86 up to
    /// `TAIL_VECTORS_R1` vectors, see the fold in `spmm`). On x86 (8 or 16 lanes)
    /// one pass of ⌈rem / LANES⌉ vectors, the last one partial: before, a tail of 49 columns (1x1,
    /// 64-column tiles: N = 49 is MobileNetV1's 7x7 stage) took three 2-vector passes and a
    /// 1-column pass over the row's non-zeros, paying the index and weight loads four times. On
    /// other targets 1-vector passes and a partial one (fewer instantiations: the NEON kernels
    /// count against the README's embedded size guard).
    #[inline(always)]
    unsafe fn tail<const R: usize, const C: usize, const NV: usize>(&self, br: usize, n0: usize, rem: usize) {
        let l = V::LANES;
        #[cfg(target_arch = "x86_64")]
        {
            const { assert!(NV <= TAIL_VECTORS_R1, "tail: tiles of at most TAIL_VECTORS_R1 vectors") };
            // Wider than NV only for one-row tiles (the fold in `spmm`).
            let most = if R == 1 { TAIL_VECTORS_R1 } else { NV };
            let partial = !rem.is_multiple_of(l);
            macro_rules! pass {
                ($v:literal) => {
                    if most >= $v {
                        if partial {
                            self.run::<R, C, $v, true>(br, n0, rem)
                        } else {
                            self.run::<R, C, $v, false>(br, n0, rem)
                        }
                    }
                };
            }
            match rem.div_ceil(l) {
                1 => pass!(1),
                2 => pass!(2),
                3 => pass!(3),
                4 => pass!(4),
                5 => pass!(5),
                6 => pass!(6),
                7 => pass!(7),
                8 => pass!(8),
                9 => pass!(9),
                10 => pass!(10),
                11 => pass!(11),
                _ => pass!(12),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut n0 = n0;
            let end = n0 + rem;
            while n0 + l <= end {
                self.run::<R, C, 1, false>(br, n0, l);
                n0 += l;
            }
            if n0 < end {
                self.run::<R, C, 1, true>(br, n0, end - n0);
            }
        }
    }

    /// Computes rows `br·R .. br·R+R` (those < m), columns `n0 .. n0+cols` of C. Without
    /// `PARTIAL`, `cols == NV·LANES`; with it, vectors `0 .. NV-1` are full and the last one holds
    /// the remaining `cols - (NV-1)·LANES` columns (1 ..= LANES-1).
    #[inline(always)]
    unsafe fn run<const R: usize, const C: usize, const NV: usize, const PARTIAL: bool>(&self, br: usize, n0: usize, cols: usize) {
        let l = V::LANES;
        let (m, k) = (self.a.m(), self.a.k());
        let ptr = self.a.ptr();
        let vals = self.vals;
        let row0 = br * R;
        let mut acc = [[V::zero(); NV]; R];
        if let Some(bias) = self.a.bias() {
            for (r, accr) in acc.iter_mut().enumerate() {
                if row0 + r < m {
                    // SAFETY (unchecked access here and below): row0 + r < m = bias.len().
                    let bv = V::splat(*bias.get_unchecked(row0 + r));
                    *accr = [bv; NV];
                }
            }
        }
        // SAFETY: br < block_rows and ptr.len() == block_rows + 1 (parse invariant).
        let (j0, j1) = (*ptr.get_unchecked(br) as usize, *ptr.get_unchecked(br + 1) as usize);
        for j in j0..j1 {
            if C == 1 && !PARTIAL && j + PREFETCH_BLOCKS < j1 {
                // SAFETY: j + PREFETCH_BLOCKS < j1 ≤ idx.len(); the address is only computed
                // (wrapping) for a prefetch hint, which never faults.
                let q = self.idx.get_unchecked(j + PREFETCH_BLOCKS).at();
                prefetch(self.b.wrapping_add(q * self.ldb + n0), NV * l);
            }
            // SAFETY: j < ptr[block_rows] == nnz_blocks == idx.len(); values hold R·C per block;
            // p < k, so row p (and p + cc < k below) of B lies inside b (check_args), and columns
            // n0 .. n0 + cols ≤ n are inside that row.
            let p = self.idx.get_unchecked(j).at();
            let w = vals.add(j * R * C);
            if C == 1 {
                let brow = self.b.add(p * self.ldb + n0);
                let mut bv = [V::zero(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = if PARTIAL && v == NV - 1 { V::load_partial(brow.add(v * l), cols - v * l) } else { V::load(brow.add(v * l)) };
                }
                for (r, accr) in acc.iter_mut().enumerate() {
                    let wr = W::splat(w.add(r));
                    for v in 0..NV {
                        accr[v] = V::fma(accr[v], wr, bv[v]);
                    }
                }
            } else {
                // A 1×C block straddling k: only columns < k exist in B.
                let cn = (k - p).min(C);
                for cc in 0..C {
                    if cc < cn {
                        let brow = self.b.add((p + cc) * self.ldb + n0);
                        let wc = W::splat(w.add(cc));
                        for v in 0..NV {
                            let x = if PARTIAL && v == NV - 1 { V::load_partial(brow.add(v * l), cols - v * l) } else { V::load(brow.add(v * l)) };
                            acc[0][v] = V::fma(acc[0][v], wc, x);
                        }
                    }
                }
            }
        }
        // All rows are stored before any scalar activation pass: that pass calls
        // `Activation::apply` (LeakyRelu, HardSigmoid, ... and, in a direct call of a kernel,
        // the transcendental kinds that `act_after_kernel` otherwise moves after the kernel), and
        // a call with accumulators still live made LLVM spill the whole tile to the stack on
        // every tile (the stores then re-loaded it). AVX2, Zen 4, 90 % 4x1, in-process
        // A/B: 1.2–1.3x on 64x32x12544, 128x64x3136 and 64x32x1024; 1x1 (one row) unchanged.
        let rows = (m - row0).min(R);
        for (r, accr) in acc.iter().enumerate() {
            if r >= rows {
                break;
            }
            // SAFETY: row0 + r < m and n0 + cols ≤ n: an element of C ours to write (`SpmmFn`
            // contract).
            let crow = self.c.add((row0 + r) * self.ldc + n0);
            for (v, &x) in accr.iter().enumerate() {
                let y = self.va.apply(x);
                if PARTIAL && v == NV - 1 {
                    V::store_partial(crow.add(v * l), y, cols - v * l)
                } else {
                    V::store(crow.add(v * l), y)
                }
            }
        }
        if self.va.scalar_after() {
            for r in 0..rows {
                // SAFETY: as for the stores above.
                let crow = self.c.add((row0 + r) * self.ldc + n0);
                for jj in 0..cols {
                    let q = crow.add(jj);
                    *q = self.act.apply(*q);
                }
            }
        }
    }
}
