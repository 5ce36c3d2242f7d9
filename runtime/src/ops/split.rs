//! One kernel call split into independent ranges across the session's threads (see
//! [`crate::par`]). Each helper computes exactly what the single kernel call would, range by
//! range; a split never changes the order of a dot product, only which thread computes which
//! outputs, so results match one thread up to the GEMM's own blocking (per-range packing).
//!
//! - dense GEMM: by rows of C (each worker packs its own A rows and all of B into its own
//!   scratch), by column tiles of C for wide-and-short products (each tile packs all of A and
//!   only its columns of B and writes its columns of C in place), or by columns when C is one
//!   row (GEMV, no scratch);
//! - depthwise conv: by channels;
//! - SpMM: by columns of B and C at large N on 4 threads or more (each task writes its columns of
//!   C in place), otherwise by block rows of the sparse matrix ([`SparseMatrix::block_row_range`]) with equal non-zero
//!   counts per part; SpMV: by block rows, likewise balanced.
use crate::error::OpError;
use crate::par::{DisjointMut, Workers, TASKS_PER_THREAD};
use core::sync::atomic::{AtomicBool, Ordering};
use super::matmul::Elems;
use sprig_kernels::{dconv, pw64};
use sprig_kernels::dwconv::{dwconv2d, dwconv2d_f16w, DwGeom};
use sprig_kernels::gemm::{self, sgemm_mixed, sgemm_mixed_scratch_len, Bias, MatMut, MatRef, MatRefF16, Operand};
use sprig_kernels::sparse::{spmm, spmm_strided, spmv, SparseMatrix};
use sprig_kernels::{Activation, Isa};

const SCRATCH_ERR: OpError = OpError::BadShape("scratch smaller than the op needs");

/// `C = act(A·B + bias)` for a row-major `c` (`a.rows × b.cols`, row stride `b.cols`), split
/// across `workers`. `own` is the node's GEMM scratch (worker 0's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_split(
    isa: Isa,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    bias: Bias,
    act: &Activation,
    own: &mut [f32],
    workers: &Workers,
) -> Result<(), OpError> {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    let work = m.saturating_mul(n).saturating_mul(k);
    if c.len() < m * n {
        return Err(OpError::BadShape("GEMM output shorter than m x n"));
    }
    let c = &mut c[..m * n];
    if workers.threads() == 1 || work < crate::par::MIN_PARALLEL_WORK {
        sgemm_mixed(isa, a, b, MatMut::row_major(c, m, n), bias, act, own);
        return Ok(());
    }
    if m == 1 {
        // One row: split the columns; C's row is contiguous and the GEMV path needs no scratch.
        let cs = DisjointMut::new(c);
        let threads = workers.threads();
        workers.for_ranges(n, 16, work, threads * TASKS_PER_THREAD, &|r, _| {
            let nj = r.len();
            let bsub = sub_view(b, 0, k, r.start, nj);
            let bias_sub = match bias {
                Bias::Col(v) => Bias::Col(&v[r.clone()]),
                other => other,
            };
            // SAFETY: the ranges of one split are disjoint.
            let cj = unsafe { cs.range(r) };
            sgemm_mixed(isa, a, bsub, MatMut::row_major(cj, 1, nj), bias_sub, act, &mut []);
        });
        return Ok(());
    }
    if sgemm_split_columns(isa, a, b, c, bias, act, own, workers, work)? {
        return Ok(());
    }
    let need = sgemm_mixed_scratch_len(m, n, k);
    let threads = workers.threads_for(need * 4);
    let align = gemm::kernel_for(isa).map_or(1, |kr| kr.mr);
    // Each part packs all of B again: two parts per thread only when a part keeps >= 64 rows,
    // and never for an im2col B (packed from the conv input, dearer than copying a stored B).
    let im2col = matches!(b, Operand::Im2col(_));
    let parts = if m >= 128 * threads && !im2col { 2 * threads } else { threads };
    let cs = DisjointMut::new(c);
    let own = DisjointMut::new(own);
    let failed = AtomicBool::new(false);
    workers.for_ranges(m, align, work, parts, &|r, w| {
        let rows = r.len();
        let asub = sub_view(a, r.start, rows, 0, k);
        let bias_sub = match bias {
            Bias::Row(v) => Bias::Row(&v[r.clone()]),
            other => other,
        };
        // SAFETY: this task runs as worker `w`, and only worker 0 takes from `own`.
        let Some(sc) = (unsafe { workers.scratch_f32(w, &own, sgemm_mixed_scratch_len(rows, n, k)) }) else {
            failed.store(true, Ordering::Relaxed);
            return;
        };
        // SAFETY: the row ranges of one split are disjoint, so are their C rows.
        let ci = unsafe { cs.range(r.start * n..r.end * n) };
        sgemm_mixed(isa, asub, b, MatMut::row_major(ci, rows, n), bias_sub, act, sc);
    });
    if failed.load(Ordering::Relaxed) {
        return Err(SCRATCH_ERR);
    }
    Ok(())
}

/// A pointwise conv over 64-channel weight panels (`sprig_kernels::pw64`) of one image, split by
/// whole panels (each task writes its channels' rows of `c`). `own` is the node's scratch
/// (worker 0's); the AVX-512 kernel needs none, the GEMM per panel of other ISAs does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pw64_split(isa: Isa, m: usize, k: usize, n: usize, wp: &[f32], x: &[f32], bias: Option<&[f32]>, act: &Activation, c: &mut [f32], own: &mut [f32], workers: &Workers) -> Result<(), OpError> {
    let work = m.saturating_mul(n).saturating_mul(k);
    if workers.threads() == 1 || work < crate::par::MIN_PARALLEL_WORK || m <= pw64::PANEL {
        pw64::pointwise(isa, m, k, n, wp, x, bias, act, c, own);
        return Ok(());
    }
    let need = if pw64::has_kernel(isa) { 0 } else { pw64::scratch_len(n, k) };
    let threads = workers.threads_for(need * 4);
    let cs = DisjointMut::new(c);
    let own = DisjointMut::new(own);
    let failed = AtomicBool::new(false);
    workers.for_ranges(m, pw64::PANEL, work, threads, &|r, w| {
        let (t0, rows) = (r.start / pw64::PANEL, r.len());
        // SAFETY: this task runs as worker `w`, and only worker 0 takes from `own`.
        let Some(sc) = (unsafe { workers.scratch_f32(w, &own, need) }) else {
            failed.store(true, Ordering::Relaxed);
            return;
        };
        // SAFETY: the row ranges of one split are disjoint, so are their C rows.
        let ci = unsafe { cs.range(r.start * n..r.end * n) };
        let wr = &wp[t0 * pw64::PANEL * k..t0 * pw64::PANEL * k + pw64::packed_len(rows, k)];
        pw64::pointwise(isa, rows, k, n, wr, x, bias.map(|b| &b[r.clone()]), act, ci, sc);
    });
    if failed.load(Ordering::Relaxed) {
        return Err(SCRATCH_ERR);
    }
    Ok(())
}

/// The direct stride-2 conv ([`sprig_kernels::dconv`]) of one image, split by output rows: each
/// task stages the input rows its output rows read into its own scratch and writes its rows of
/// every output channel (segments of `y` that interleave with the other tasks', hence the
/// pointer). `own` is the node's scratch (worker 0's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn dconv_split(isa: Isa, g: &dconv::ConvGeom, m: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &Activation, y: &mut [f32], own: &mut [f32], workers: &Workers) -> Result<(), OpError> {
    let need = dconv::scratch_len(g, m);
    let ohw = g.oh * g.ow;
    if y.len() < m * ohw || own.len() < need {
        return Err(OpError::BadShape("conv output or scratch smaller than the op needs"));
    }
    let work = m.saturating_mul(ohw).saturating_mul(g.c * g.kh * g.kw);
    let threads = workers.threads_for(need * 4);
    if threads == 1 || work < crate::par::MIN_PARALLEL_WORK {
        dconv::dconv_s2(isa, g, m, x, w, bias, act, y, own);
        return Ok(());
    }
    let ys = DisjointMut::new(&mut y[..m * ohw]);
    let own = DisjointMut::new(own);
    let failed = AtomicBool::new(false);
    workers.for_ranges(g.oh, 1, work, threads, &|r, wk| {
        // SAFETY: this task runs as worker `wk`, and only worker 0 takes from `own`.
        let Some(sc) = (unsafe { workers.scratch_f32(wk, &own, need) }) else {
            failed.store(true, Ordering::Relaxed);
            return;
        };
        // SAFETY: `ys` spans the m·oh·ow outputs (checked above) and is borrowed exclusively for
        // the split; the tasks' row ranges are disjoint, so each output (ch, oy, ox) is written
        // by exactly one task, and none is read.
        unsafe { dconv::dconv_s2_rows(isa, g, m, x, w, bias, act, r, ys.as_mut_ptr(), sc) };
    });
    if failed.load(Ordering::Relaxed) {
        return Err(SCRATCH_ERR);
    }
    Ok(())
}

/// [`sgemm_split`] by column tiles of B and C, when that packs less than the row split: every
/// row part of the row split packs all of B (`(threads - 1) · n · k` extra copies), every column
/// tile packs all of A (`(tiles - 1) · m · k`), so wide-and-short products (a conv's stem or early
/// pointwise layers: m = output channels, n = H·W) go by columns. Each task computes its tile
/// `C[:, j0..j1]` in place through `gemm::sgemm_mixed_strided` (two tiles of C interleave in
/// memory, so no task takes a `&mut` slice of C). Where that declines (no SIMD kernel), the task
/// computes the tile into the front of its scratch (the packing buffers follow) and copies its
/// rows into C (contiguous, disjoint segments). The tile width is the largest multiple of 16 whose
/// tile plus packing fit the node's scratch and every worker region; the tile count is rounded up
/// to a multiple of the thread count. Returns `false`, doing nothing, when the row split is
/// better or the tiles do not fit.
#[allow(clippy::too_many_arguments)]
fn sgemm_split_columns(isa: Isa, a: Operand, b: Operand, c: &mut [f32], bias: Bias, act: &Activation, own: &mut [f32], workers: &Workers, work: usize) -> Result<bool, OpError> {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    let threads = workers.threads();
    if m < 2 || n < 32 * threads || n <= m {
        return Ok(false);
    }
    let need = |nj: usize| sgemm_mixed_scratch_len(m, nj, k) + m * nj;
    let fits = |nj: usize| need(nj) <= own.len() && workers.threads_for(need(nj) * 4) == threads;
    let mut nj_max = 512usize.min(n.next_multiple_of(16));
    while !fits(nj_max) {
        if nj_max <= 16 {
            return Ok(false);
        }
        nj_max = (nj_max / 2).max(16) / 16 * 16;
    }
    let tiles = n.div_ceil(nj_max).next_multiple_of(threads);
    let nj = n.div_ceil(tiles).next_multiple_of(16).min(nj_max);
    let tiles = n.div_ceil(nj);
    if (tiles - 1).saturating_mul(m) >= (threads - 1).saturating_mul(n) {
        return Ok(false);
    }
    let cs = DisjointMut::new(c);
    let own = DisjointMut::new(own);
    let failed = AtomicBool::new(false);
    workers.for_ranges(n, nj, work, tiles, &|r, w| {
        let wj = r.len();
        // SAFETY: this task runs as worker `w`, and only worker 0 takes from `own`.
        let Some(sc) = (unsafe { workers.scratch_f32(w, &own, need(nj)) }) else {
            failed.store(true, Ordering::Relaxed);
            return;
        };
        let (tile, pack) = sc.split_at_mut(m * nj);
        let bsub = sub_view(b, 0, k, r.start, wj);
        let bias_sub = match bias {
            Bias::Col(v) => Bias::Col(&v[r.clone()]),
            other => other,
        };
        // In place: the kernel writes the tile's columns of C through the pointer, as the SpMM
        // column split does. On the 2-vCPU VM, 2 threads, 90 % MobileNetV1's stem (32x27x12544,
        // im2col B) took 0.22-0.25 ms in place against 0.31-0.38 ms with the copy below
        // (alternating processes, `sprig bench --threads 2`).
        // SAFETY: C is `m × n` row-major (length checked by the caller), so `c + i·n + j` is in
        // bounds for i < m, j in this task's range r; the tasks' ranges are disjoint, no element
        // is written by two tasks, and the copy path below never runs for a task that got here.
        if unsafe { gemm::sgemm_mixed_strided(isa, a, bsub, cs.as_mut_ptr().add(r.start), n, bias_sub, act, pack) } {
            return;
        }
        let tile = &mut tile[..m * wj];
        sgemm_mixed(isa, a, bsub, MatMut::row_major(tile, m, wj), bias_sub, act, pack);
        for (i, tr) in tile.chunks_exact(wj).enumerate() {
            let o = i * n + r.start;
            // SAFETY: tasks own disjoint column ranges, so these row segments of C are disjoint.
            let dst = unsafe { cs.range(o..o + wj) };
            let len = dst.len();
            dst.copy_from_slice(&tr[..len]);
        }
    });
    if failed.load(Ordering::Relaxed) {
        return Err(SCRATCH_ERR);
    }
    Ok(true)
}

/// Depthwise conv of one image, split by channels.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dwconv_split(isa: Isa, g: &DwGeom, x: &[f32], w: Elems, bias: Option<&[f32]>, act: &Activation, y: &mut [f32], workers: &Workers) {
    let (xs, ws, ys) = (g.h * g.w, g.kh * g.kw, g.oh * g.ow);
    let work = g.c.saturating_mul(ys).saturating_mul(ws);
    if workers.threads() == 1 || work < crate::par::MIN_PARALLEL_WORK {
        dw_call(isa, g, x, w, bias, act, y);
        return;
    }
    let yd = DisjointMut::new(y);
    workers.for_ranges(g.c, 1, work, workers.threads() * TASKS_PER_THREAD, &|r, _| {
        let sub = DwGeom { c: r.len(), ..*g };
        // SAFETY: the channel ranges of one split are disjoint, so are their output planes.
        let yc = unsafe { yd.range(r.start * ys..r.end * ys) };
        let wr = match w {
            Elems::F32(d) => Elems::F32(&d[r.start * ws..r.end * ws]),
            Elems::F16(d) => Elems::F16(&d[r.start * ws..r.end * ws]),
        };
        dw_call(isa, &sub, &x[r.start * xs..r.end * xs], wr, bias.map(|b| &b[r.clone()]), act, yc);
    });
}

/// `C[m × n] = act(S · B[k × n])` (row strides `ldb`, `ldc`), split by block rows of S.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spmm_split(isa: Isa, s: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation, workers: &Workers) {
    let (r, cc) = s.layout().block();
    let work = s.nnz_blocks().saturating_mul(r * cc).saturating_mul(n);
    if workers.threads() == 1 || work < crate::par::MIN_PARALLEL_WORK {
        spmm(isa, s, b, ldb, n, c, ldc, act);
        return;
    }
    if n >= SPMM_COLUMN_SPLIT_MIN_N && workers.threads() >= SPMM_COLUMN_SPLIT_MIN_THREADS {
        spmm_split_columns(isa, s, b, ldb, n, c, ldc, act, workers, work);
        return;
    }
    let cs = DisjointMut::new(c);
    // One part per thread: every part streams all of B. Parts of equal non-zero count, not of
    // equal rows.
    let prefix = nnz_prefix(s);
    workers.for_balanced(s.block_rows(), 1, work, workers.threads(), &prefix, &|br, _| {
        let Some(sub) = s.block_row_range(br.start, br.end) else { return };
        let r0 = br.start * r;
        // SAFETY: block-row ranges are disjoint, so are their rows of C.
        let ci = unsafe { cs.range(r0 * ldc..r0 * ldc + sub.m() * ldc) };
        spmm(isa, &sub, b, ldb, n, ci, ldc, act);
    });
}

/// SpMM's N (a pointwise conv's H·W) from which [`spmm_split`] splits by columns of B and C
/// instead of by block rows. A block-row split makes every thread stream all of B. Measured by
/// the assert-free `spmm_split_shapes` in `tests/tests/threads.rs` (90 % 4x1, two rounds under
/// `chrt -f 10` on the 2-vCPU VM, 1 thread / 2 threads): N = 12544 by rows 1.00x, by columns
/// 1.28-1.32x; N = 3136 0.56-0.61x against 1.06-1.56x; N = 784 0.96-1.00x against 1.14-1.56x;
/// N = 196 (B is small) 1.27-1.77x against 1.05-1.38x, so small N keeps the row split.
pub const SPMM_COLUMN_SPLIT_MIN_N: usize = 512;

/// Threads from which [`spmm_split`] uses the column split at all. Since the single-thread SpMM
/// kernels got faster (wide 4x1 rows, one-pass tails), two threads do better with the row split
/// at every N: whole 90 % MobileNetV1 (4x1), `sprig bench --threads 2 --vs-threads 1`, medians of
/// 8 rounds x 80 run pairs, both binaries in each round (2026-11-24): 1.53x by rows against 1.36x
/// with columns from N = 512, per layer b1.pw-b3.pw (N = 3136) 1.37-1.47x against 1.00-1.15x; a
/// quieter run earlier that day 1.56x against 1.50x. With T threads the row split reads B T
/// times, so from 4 threads (not measurable on the 2-vCPU VM) large N keeps the column split.
pub const SPMM_COLUMN_SPLIT_MIN_THREADS: usize = 4;

/// [`spmm_split`] by ranges of columns (multiples of 16): each task computes `C[.., cols]` in
/// place through [`spmm_strided`], reading only its columns of B. The rows of two tasks' column
/// ranges interleave in memory, so no task takes a `&mut` slice of C; each writes exactly its
/// `m × cols` elements through the pointer. (Until 2026-11-24 each task computed into a 16 KB stack
/// tile of 64 columns and copied it out: measured side by side in one process under `chrt -f 10`
/// on the 2-vCPU VM, 1 thread / 2 threads on 64x32 · 32x12544 at 90 % 4x1 went from 0.91-1.11x
/// with the tile to 1.51-1.90x in place with two tasks per thread.)
#[allow(clippy::too_many_arguments)]
fn spmm_split_columns(isa: Isa, s: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation, workers: &Workers, work: usize) {
    let need = if s.m() == 0 || n == 0 { 0 } else { (s.m() - 1).saturating_mul(ldc).saturating_add(n) };
    if c.len() < need || ldc < n {
        // The caller's shapes were checked; a short C is a bug, reported by the kernel's checks.
        spmm(isa, s, b, ldb, n, c, ldc, act);
        return;
    }
    let cs = DisjointMut::new(c);
    workers.for_ranges(n, 16, work, workers.threads() * SPMM_COLUMN_TASKS_PER_THREAD, &|jr, _| {
        // SAFETY: C spans `(m - 1)·ldc + n` elements (checked above, `c` is borrowed exclusively
        // for the split), so `c + i·ldc + j` is in bounds for i < m, j < n; the tasks' column
        // ranges are disjoint, so no element is written by two tasks, and none is read.
        unsafe { spmm_strided(isa, s, &b[jr.start.min(b.len())..], ldb, jr.len(), cs.as_mut_ptr().add(jr.start), ldc, act) };
    });
}

/// Column tasks per thread for [`spmm_split_columns`]: two per thread beat one (the first half
/// of the columns is not the same cost as the second when the OS takes a CPU away) and four
/// (more B panel restarts) on 64x32 · 32x12544; at 128x64 · 64x3136 the three were within noise.
const SPMM_COLUMN_TASKS_PER_THREAD: usize = 2;

/// `y_i = act(S · x_i)` for `rows` vectors (`x` is `rows × k`, `y` is `rows × m`), split by
/// block rows of S (every task runs all vectors on its rows).
pub(crate) fn spmv_split(isa: Isa, s: &SparseMatrix, x: &[f32], rows: usize, y: &mut [f32], act: &Activation, workers: &Workers) {
    let (m, k) = (s.m(), s.k());
    let (r, cc) = s.layout().block();
    let work = s.nnz_blocks().saturating_mul(r * cc).saturating_mul(rows);
    if workers.threads() == 1 || work < crate::par::MIN_PARALLEL_WORK {
        for i in 0..rows {
            spmv(isa, s, &x[i * k..(i + 1) * k], &mut y[i * m..(i + 1) * m], act);
        }
        return;
    }
    let ys = DisjointMut::new(y);
    // Block-row ranges in multiples of 16 rows keep each task's outputs on whole cache lines.
    let align = 16usize.div_ceil(r).max(1);
    let prefix = nnz_prefix(s);
    workers.for_balanced(s.block_rows(), align, work, workers.threads() * TASKS_PER_THREAD, &prefix, &|br, _| {
        let Some(sub) = s.block_row_range(br.start, br.end) else { return };
        let r0 = br.start * r;
        for i in 0..rows {
            // SAFETY: block-row ranges are disjoint, so are these slices of each output row.
            let yi = unsafe { ys.range(i * m + r0..i * m + r0 + sub.m()) };
            spmv(isa, &sub, &x[i * k..(i + 1) * k], yi, act);
        }
    });
}

/// A batch of GEMMs `Y_t = act(A_t · B_t + bias)` (row-major `m×k`, `k×n`, `m×n` matrices at
/// element offsets `Σ index_i · strides[.][i]` over the batch dims), split by batch index when
/// there are at least as many matrices as threads (one dispatch instead of one per matrix, and
/// no repacking of a shared B). Returns `false`, doing nothing, when it does not apply.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_batch_split(
    isa: Isa,
    batch_dims: &[usize],
    strides: [[isize; crate::tensor::MAX_RANK]; 3],
    (a, b, y): (Elems, Elems, &mut [f32]),
    (m, n, k): (usize, usize, usize),
    bias: Bias,
    act: &Activation,
    own: &mut [f32],
    workers: &Workers,
) -> Result<bool, OpError> {
    let count: usize = batch_dims.iter().product();
    let need = sgemm_mixed_scratch_len(m, n, k);
    let threads = workers.threads_for(need * 4);
    let work = count.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    if threads == 1 || count < threads || work < crate::par::MIN_PARALLEL_WORK {
        return Ok(false);
    }
    let offset = |t: usize, s: &[isize; crate::tensor::MAX_RANK]| -> Option<usize> {
        let (mut rest, mut off) = (t, 0isize);
        for (i, &d) in batch_dims.iter().enumerate().rev() {
            off += (rest % d) as isize * s[i];
            rest /= d;
        }
        usize::try_from(off).ok()
    };
    let ys = DisjointMut::new(y);
    let own = DisjointMut::new(own);
    let failed = AtomicBool::new(false);
    workers.for_ranges(count, 1, work, threads * TASKS_PER_THREAD, &|r, w| {
        // SAFETY: this task runs as worker `w`, and only worker 0 takes from `own`.
        let Some(sc) = (unsafe { workers.scratch_f32(w, &own, need) }) else {
            failed.store(true, Ordering::Relaxed);
            return;
        };
        for t in r {
            let (Some(ao), Some(bo), Some(yo)) = (offset(t, &strides[0]), offset(t, &strides[1]), offset(t, &strides[2])) else {
                failed.store(true, Ordering::Relaxed);
                return;
            };
            // SAFETY: Y's batch strides are those of a dense row-major batch of m×n matrices, so
            // distinct batch indices give disjoint ranges.
            let yt = unsafe { ys.range(yo..yo + m * n) };
            let (Some(at), Some(bt)) = (a.mat(ao, m, k), b.mat(bo, k, n)) else {
                failed.store(true, Ordering::Relaxed);
                return;
            };
            if yt.len() != m * n {
                failed.store(true, Ordering::Relaxed);
                return;
            }
            sgemm_mixed(isa, at, bt, MatMut::row_major(yt, m, n), bias, act, sc);
        }
    });
    if failed.load(Ordering::Relaxed) {
        return Err(OpError::BadShape("MatMul operand sizes are inconsistent"));
    }
    Ok(true)
}

/// The cost of block rows `0..i` of `s` for [`Workers::for_balanced`]: the multiply-adds of their
/// blocks plus one per output row (the bias/activation/store of a row, so that empty block rows
/// still count).
fn nnz_prefix<'s>(s: &'s SparseMatrix) -> impl Fn(usize) -> usize + Sync + 's {
    let (r, cc) = s.layout().block();
    let ptr = s.ptr();
    let p0 = ptr.first().map_or(0, |&p| p as usize);
    move |i: usize| {
        let i = i.min(ptr.len().saturating_sub(1));
        let blocks = ptr.get(i).map_or(0, |&p| (p as usize).saturating_sub(p0));
        blocks * r * cc + i * r
    }
}

/// Depthwise conv with f32 or f16 weights.
fn dw_call(isa: Isa, g: &DwGeom, x: &[f32], w: Elems, bias: Option<&[f32]>, act: &Activation, y: &mut [f32]) {
    match w {
        Elems::F32(w) => dwconv2d(isa, g, x, w, bias, act, y),
        Elems::F16(w) => dwconv2d_f16w(isa, g, x, w, bias, act, y),
    }
}

/// The `rows × cols` part of `op` starting at element (r0, c0), same strides. The start offset is
/// clamped to the data (an empty or out-of-range part then fails the kernel's own bounds check,
/// never an unchecked access).
fn sub_view(op: Operand, r0: usize, rows: usize, c0: usize, cols: usize) -> Operand {
    match op {
        Operand::F32(m) => {
            let off = (r0 * m.rs + c0 * m.cs).min(m.data.len());
            Operand::F32(MatRef { data: &m.data[off..], rows, cols, rs: m.rs, cs: m.cs })
        }
        Operand::F16(m) => {
            let off = (r0 * m.rs + c0 * m.cs).min(m.data.len());
            Operand::F16(MatRefF16 { data: &m.data[off..], rows, cols, rs: m.rs, cs: m.cs })
        }
        // An im2col B is only ever split by columns (output positions); a window past its end
        // fails the kernel's own check.
        Operand::Im2col(m) => {
            debug_assert!(r0 == 0 && rows == m.rows(), "im2col operands are split by columns only");
            Operand::Im2col(m.columns(c0, cols))
        }
    }
}
