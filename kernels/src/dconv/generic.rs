//! The SIMD body of [`super`], written once over [`Simd`] and instantiated inside the ISA
//! entries' `#[target_feature]` functions (everything is `#[inline(always)]`).
// Accumulator tiles are indexed [row][vector] on purpose: it mirrors the register tile.
#![allow(clippy::needless_range_loop)]
use super::{left, ring, stage_len, stage_width, ConvGeom, MAX_MR};
use crate::sparse::simd::{Simd, VecAct};
use crate::Activation;

/// Most columns of one kernel's taps (`kw` ≤ `MAX_TAPS`): the per-tap offsets are computed once
/// per call into a stack table of this size.
const MAX_KW: usize = super::MAX_TAPS;

/// # Safety
/// The entry's ISA provides `V`; the [`super::DconvFn`] contract (arguments checked by
/// [`super::check`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run<V: Simd, const MR: usize, const NV: usize>(
    g: &ConvGeom,
    m: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: &Activation,
    rows: core::ops::Range<usize>,
    y: *mut f32,
    scratch: &mut [f32],
) {
    const { assert!(MR <= MAX_MR) };
    if m == 0 || rows.is_empty() {
        return;
    }
    let sw = stage_width(g);
    let (lp, rg) = (left(g), ring(g));
    let taps = g.c * g.kh * g.kw;
    let (staged, wpack) = scratch.split_at_mut(stage_len(g));
    // The zero padding of every staged row; staging only ever writes the same data columns.
    staged.fill(0.0);
    // Weights per tile of MR channels, tap-major (`[m/MR][taps][MR]`): one pointer and constant
    // offsets in the tile loop. Channels past m repeat channel m − 1 (computed, never stored).
    for (i, v) in wpack[..m.div_ceil(MR) * MR * taps].iter_mut().enumerate() {
        let (blk, t, r) = (i / (taps * MR), i / MR % taps, i % MR);
        *v = w[(blk * MR + r).min(m - 1) * taps + t];
    }
    // Offset of tap column kx inside a staged row pair, relative to output column 0:
    // phase (kx − pl) mod 2, column ⌊(kx − pl) / 2⌋ + left ≥ 0.
    let mut off = [0usize; MAX_KW];
    for (kx, o) in off.iter_mut().enumerate().take(g.kw) {
        let d = kx as isize - g.pl as isize;
        *o = d.rem_euclid(2) as usize * sw + (d.div_euclid(2) + lp as isize) as usize;
    }
    let t = Tiles { g, m, w: wpack.as_ptr(), bias, off: &off, sw, rg, y, va: VecAct::<V>::new(act), act };
    // First input row not staged yet (the rows of the window above it are).
    let mut next = (rows.start * 2) as isize - g.pt as isize;
    for oy in rows {
        let top = (oy * 2) as isize - g.pt as isize;
        for iy in next.max(top)..top + g.kh as isize {
            if iy >= 0 && iy < g.h as isize {
                stage(g, x, iy as usize, staged, sw, lp, rg);
            }
        }
        next = top + g.kh as isize;
        let st = staged.as_ptr();
        let l = V::LANES;
        let full = g.ow / (NV * l);
        let rem = g.ow - full * NV * l;
        for oc0 in (0..m).step_by(MR) {
            for tile in 0..full {
                t.tile::<MR, NV>(st, oc0, oy, tile * NV * l, NV * l);
            }
            if rem > 0 {
                let ox0 = full * NV * l;
                // Fewer vectors for the last columns (1 ..= NV of them, the last one masked).
                match rem.div_ceil(l) {
                    1 => t.tile::<MR, 1>(st, oc0, oy, ox0, rem),
                    2 if NV >= 2 => t.tile::<MR, 2>(st, oc0, oy, ox0, rem),
                    3 if NV >= 3 => t.tile::<MR, 3>(st, oc0, oy, ox0, rem),
                    _ => t.tile::<MR, NV>(st, oc0, oy, ox0, rem),
                }
            }
        }
    }
}

/// Splits input row `iy` of every channel into its even and odd columns, into ring slot
/// `iy mod rg`: phase `p` column `j` (input column `2·j + p`) at `left + j` of phase row `p`.
#[inline(always)]
fn stage(g: &ConvGeom, x: &[f32], iy: usize, staged: &mut [f32], sw: usize, lp: usize, rg: usize) {
    for ci in 0..g.c {
        let xr = &x[(ci * g.h + iy) * g.w..(ci * g.h + iy + 1) * g.w];
        let base = (ci * rg + iy % rg) * 2 * sw;
        let (ev, od) = staged[base..base + 2 * sw].split_at_mut(sw);
        let (ev, od) = (&mut ev[lp..lp + g.w.div_ceil(2)], &mut od[lp..lp + g.w / 2]);
        for ((e, o), p) in ev.iter_mut().zip(od.iter_mut()).zip(xr.chunks_exact(2)) {
            *e = p[0];
            *o = p[1];
        }
        if g.w % 2 == 1 {
            ev[g.w / 2] = xr[g.w - 1];
        }
    }
}

struct Tiles<'a, V> {
    g: &'a ConvGeom,
    m: usize,
    /// The packed weights.
    w: *const f32,
    bias: Option<&'a [f32]>,
    off: &'a [usize; MAX_KW],
    sw: usize,
    rg: usize,
    y: *mut f32,
    va: VecAct<V>,
    act: &'a Activation,
}

impl<V: Simd> Tiles<'_, V> {
    /// Output channels `oc0 .. oc0+MR` (those < m) of row `oy`, columns `ox0 .. ox0+cols`
    /// (`cols` ≤ NV·LANES; vectors past `cols` are not stored, the last stored one is masked
    /// when partial).
    #[inline(always)]
    unsafe fn tile<const MR: usize, const NV: usize>(&self, st: *const f32, oc0: usize, oy: usize, ox0: usize, cols: usize) {
        let g = self.g;
        let l = V::LANES;
        let taps = g.c * g.kh * g.kw;
        let mut acc = [[V::zero(); NV]; MR];
        if let Some(b) = self.bias {
            for r in 0..MR {
                // SAFETY: the channel is < m = bias length (checked).
                acc[r] = [V::splat(*b.get_unchecked((oc0 + r).min(self.m - 1))); NV];
            }
        }
        // SAFETY: this tile's packed weights, MR·taps of them (oc0 is a multiple of MR).
        let wp = self.w.add(oc0 * taps);
        let top = (oy * 2) as isize - g.pt as isize;
        for ci in 0..g.c {
            for ky in 0..g.kh {
                let iy = top + ky as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                // SAFETY: the slot lies inside the staged rows (c·rg·2·sw, checked); every tap
                // offset plus ox0 + NV·LANES stays inside its phase row (`stage_width` covers
                // whole vectors over ow at the largest offset).
                let row = st.add((ci * self.rg + iy as usize % self.rg) * 2 * self.sw + ox0);
                let t0 = (ci * g.kh + ky) * g.kw;
                for kx in 0..g.kw {
                    let src = row.add(*self.off.get_unchecked(kx));
                    let mut xv = [V::zero(); NV];
                    for v in 0..NV {
                        xv[v] = V::load(src.add(v * l));
                    }
                    let wt = wp.add((t0 + kx) * MR);
                    for r in 0..MR {
                        let wv = V::splat(*wt.add(r));
                        for v in 0..NV {
                            acc[r][v] = V::fma(acc[r][v], wv, xv[v]);
                        }
                    }
                }
            }
        }
        let ohw = g.oh * g.ow;
        let rows = (self.m - oc0).min(MR);
        for r in 0..rows {
            // SAFETY: channel oc0 + r < m, row oy in the call's rows, columns < ox0 + cols ≤ ow:
            // outputs this call owns (contract).
            let yr = self.y.add((oc0 + r) * ohw + oy * g.ow + ox0);
            for v in 0..NV {
                if v * l >= cols {
                    break;
                }
                let z = self.va.apply(acc[r][v]);
                if cols - v * l < l {
                    V::store_partial(yr.add(v * l), z, cols - v * l);
                } else {
                    V::store(yr.add(v * l), z);
                }
            }
            if self.va.scalar_after() {
                for j in 0..cols {
                    *yr.add(j) = self.act.apply(*yr.add(j));
                }
            }
        }
    }
}
