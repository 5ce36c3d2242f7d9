//! SIMD SpMV bodies written once over [`Simd`], instantiated inside the ISA files'
//! `#[target_feature]` entries (everything `#[inline(always)]`).
//!
//! Every body is generic over the stored weight type `W` (f32, or u16 f16 bits widened on load).
//!
//! # Safety (all functions)
//! The entry's ISA must provide `V` (and its f16 loads when `W = u16`); `x.len() == k`,
//! `y.len() == m`; the layout matches; the matrix's values are stored as `W`.
// Accumulators are indexed [chain][vector] on purpose: it mirrors the register tile.
#![allow(clippy::needless_range_loop)]
use crate::sparse::simd::{Idx, Simd, Stored, VecAct, Wt};
use crate::sparse::{Indices, SparseMatrix};
use crate::Activation;

/// Blocks in flight per block row (independent accumulator chains; FMA latency 4 × 2 ports on
/// Zen 4 would want 8, but the loop is load-bound well before that).
const UNROLL: usize = 4;

/// R×1 blocks, `R == RV · LANES`.
#[inline(always)]
pub(crate) unsafe fn rx1<V: Simd, W: Wt<V> + Stored, const R: usize, const RV: usize>(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    match a.indices() {
        Indices::U16(ix) => rx1_idx::<V, W, u16, R, RV>(a, ix, x, y, act),
        #[cfg(feature = "std")]
        Indices::U32(ix) => rx1_idx::<V, W, u32, R, RV>(a, ix, x, y, act),
        // As in SpMM: u32 indices (k > 65536) take the scalar reference without std.
        #[cfg(not(feature = "std"))]
        Indices::U32(_) => super::scalar::spmv_ref(a, x, y, act),
    }
}

#[inline(always)]
unsafe fn rx1_idx<V: Simd, W: Wt<V> + Stored, I: Idx, const R: usize, const RV: usize>(
    a: &SparseMatrix,
    idx: &[I],
    x: &[f32],
    y: &mut [f32],
    act: &Activation,
) {
    debug_assert_eq!(R, RV * V::LANES);
    let l = V::LANES;
    let m = a.m();
    let va = VecAct::<V>::new(act);
    let (ptr, vals, xp, yp) = (a.ptr(), W::values(a).as_ptr(), x.as_ptr(), y.as_mut_ptr());
    let bias = a.bias();
    for br in 0..a.block_rows() {
        // SAFETY (unchecked access in this loop): br < block_rows, ptr has block_rows + 1 entries;
        // blocks j < nnz_blocks = idx.len(), R values each; idx[j] < k = x.len() (parse invariants).
        let (j0, j1) = (*ptr.get_unchecked(br) as usize, *ptr.get_unchecked(br + 1) as usize);
        let mut acc = [[V::zero(); RV]; UNROLL];
        let mut j = j0;
        while j + UNROLL <= j1 {
            for (u, accu) in acc.iter_mut().enumerate() {
                let xv = V::splat(*xp.add(idx.get_unchecked(j + u).at()));
                let w = vals.add((j + u) * R);
                for (v, av) in accu.iter_mut().enumerate() {
                    *av = V::fma(*av, W::load(w.add(v * l)), xv);
                }
            }
            j += UNROLL;
        }
        while j < j1 {
            let xv = V::splat(*xp.add(idx.get_unchecked(j).at()));
            let w = vals.add(j * R);
            for (v, av) in acc[0].iter_mut().enumerate() {
                *av = V::fma(*av, W::load(w.add(v * l)), xv);
            }
            j += 1;
        }
        let row0 = br * R;
        for v in 0..RV {
            let r0 = row0 + v * l;
            if r0 >= m {
                break;
            }
            let s = V::add(V::add(acc[0][v], acc[1][v]), V::add(acc[2][v], acc[3][v]));
            store_rows(s, r0, m, bias, yp, &va, act);
        }
    }
}

/// Stores the sums `s` of rows `r0 .. min(r0 + LANES, m)` to `y` with the bias and activation.
///
/// # Safety
/// `r0 < m`; `y` (at `yp`) and `bias` (if any) hold `m` values.
#[inline(always)]
pub(crate) unsafe fn store_rows<V: Simd>(mut s: V, r0: usize, m: usize, bias: Option<&[f32]>, yp: *mut f32, va: &VecAct<V>, act: &Activation) {
    let l = V::LANES;
    // SAFETY: rows r0 .. r0 + cnt are < m = y.len() = bias.len().
    let cnt = (m - r0).min(l);
    if cnt == l {
        if let Some(b) = bias {
            s = V::add(s, V::load(b.as_ptr().add(r0)));
        }
        V::store(yp.add(r0), va.apply(s));
    } else {
        if let Some(b) = bias {
            s = V::add(s, V::load_partial(b.as_ptr().add(r0), cnt));
        }
        V::store_partial(yp.add(r0), va.apply(s), cnt);
    }
    if va.scalar_after() {
        for q in r0..r0 + cnt {
            *yp.add(q) = act.apply(*yp.add(q));
        }
    }
}

/// 1×C blocks, `C == CV · LANES`.
#[inline(always)]
pub(crate) unsafe fn red<V: Simd, W: Wt<V> + Stored, const C: usize, const CV: usize>(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    match a.indices() {
        Indices::U16(ix) => red_idx::<V, W, u16, C, CV>(a, ix, x, y, act),
        #[cfg(feature = "std")]
        Indices::U32(ix) => red_idx::<V, W, u32, C, CV>(a, ix, x, y, act),
        // As in SpMM: u32 indices (k > 65536) take the scalar reference without std.
        #[cfg(not(feature = "std"))]
        Indices::U32(_) => super::scalar::spmv_ref(a, x, y, act),
    }
}

#[inline(always)]
unsafe fn red_idx<V: Simd, W: Wt<V> + Stored, I: Idx, const C: usize, const CV: usize>(
    a: &SparseMatrix,
    idx: &[I],
    x: &[f32],
    y: &mut [f32],
    act: &Activation,
) {
    debug_assert_eq!(C, CV * V::LANES);
    let l = V::LANES;
    let k = a.k();
    let (ptr, vals, xp) = (a.ptr(), W::values(a).as_ptr(), x.as_ptr());
    let bias = a.bias();
    for (i, yi) in y.iter_mut().enumerate() {
        // SAFETY (unchecked access in this loop): as in `rx1_idx`; in addition a full block
        // (p + C ≤ k) reads x[p .. p + C] inside x, and only the last block of a row can straddle
        // k because indices increase strictly and are multiples of C.
        let (j0, mut j1) = (*ptr.get_unchecked(i) as usize, *ptr.get_unchecked(i + 1) as usize);
        let mut tail = 0.0f32;
        if j1 > j0 {
            let p = idx.get_unchecked(j1 - 1).at();
            if p + C > k {
                j1 -= 1;
                for cc in 0..k - p {
                    tail += W::get(vals.add(j1 * C + cc)) * *xp.add(p + cc);
                }
            }
        }
        let mut acc = [[V::zero(); CV]; UNROLL];
        let mut j = j0;
        while j + UNROLL <= j1 {
            for (u, accu) in acc.iter_mut().enumerate() {
                let p = idx.get_unchecked(j + u).at();
                let w = vals.add((j + u) * C);
                for (v, av) in accu.iter_mut().enumerate() {
                    *av = V::fma(*av, W::load(w.add(v * l)), V::load(xp.add(p + v * l)));
                }
            }
            j += UNROLL;
        }
        while j < j1 {
            let p = idx.get_unchecked(j).at();
            let w = vals.add(j * C);
            for (v, av) in acc[0].iter_mut().enumerate() {
                *av = V::fma(*av, W::load(w.add(v * l)), V::load(xp.add(p + v * l)));
            }
            j += 1;
        }
        let mut s = V::zero();
        for accu in &acc {
            for &av in accu {
                s = V::add(s, av);
            }
        }
        let b = bias.map_or(0.0, |b| *b.get_unchecked(i));
        *yi = act.apply(V::hsum(s) + tail + b);
    }
}

/// R×1 blocks with small R (1, 2): scalar code with `UNROLL` accumulators per row, compiled with
/// the entry's ISA (LLVM may vectorise the R lanes).
#[inline(always)]
pub(crate) unsafe fn rx1_scalar<V: Simd, W: Wt<V> + Stored, const R: usize>(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    match a.indices() {
        Indices::U16(ix) => rx1_scalar_idx::<V, W, u16, R>(a, ix, x, y, act),
        #[cfg(feature = "std")]
        Indices::U32(ix) => rx1_scalar_idx::<V, W, u32, R>(a, ix, x, y, act),
        // As in SpMM: u32 indices (k > 65536) take the scalar reference without std.
        #[cfg(not(feature = "std"))]
        Indices::U32(_) => super::scalar::spmv_ref(a, x, y, act),
    }
}

#[inline(always)]
unsafe fn rx1_scalar_idx<V: Simd, W: Wt<V> + Stored, I: Idx, const R: usize>(a: &SparseMatrix, idx: &[I], x: &[f32], y: &mut [f32], act: &Activation) {
    let m = a.m();
    let (ptr, vals, xp) = (a.ptr(), W::values(a).as_ptr(), x.as_ptr());
    for br in 0..a.block_rows() {
        // SAFETY: as in `rx1_idx`.
        let (j0, j1) = (*ptr.get_unchecked(br) as usize, *ptr.get_unchecked(br + 1) as usize);
        let mut acc = [[0.0f32; R]; UNROLL];
        let mut j = j0;
        while j + UNROLL <= j1 {
            for (u, accu) in acc.iter_mut().enumerate() {
                let xv = *xp.add(idx.get_unchecked(j + u).at());
                for (r, av) in accu.iter_mut().enumerate() {
                    *av += W::get(vals.add((j + u) * R + r)) * xv;
                }
            }
            j += UNROLL;
        }
        while j < j1 {
            let xv = *xp.add(idx.get_unchecked(j).at());
            for (r, av) in acc[0].iter_mut().enumerate() {
                *av += W::get(vals.add(j * R + r)) * xv;
            }
            j += 1;
        }
        for r in 0..R {
            let row = br * R + r;
            if row < m {
                let s = (acc[0][r] + acc[1][r]) + (acc[2][r] + acc[3][r]);
                y[row] = act.apply(s + a.bias().map_or(0.0, |b| b[row]));
            }
        }
    }
}
