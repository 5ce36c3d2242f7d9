//! One kernel call split into independent ranges across the session's threads (see
//! [`crate::par`]). Each helper computes exactly what the single kernel call would, range by
//! range; a split never changes the order of a dot product, only which thread computes which
//! outputs, so results match one thread up to the GEMM's own blocking (per-range packing).
//!
//! - dense GEMM: by rows of C (each worker packs its own A rows and all of B into its own
//!   scratch), or by columns when C is one row (GEMV, no scratch);
//! - depthwise conv: by channels;
//! - SpMM / SpMV: by block rows of the sparse matrix ([`SparseMatrix::block_row_range`]).
use crate::error::OpError;
use crate::par::{DisjointMut, Workers, TASKS_PER_THREAD};
use core::sync::atomic::{AtomicBool, Ordering};
use super::matmul::Elems;
use sprig_kernels::dwconv::{dwconv2d, dwconv2d_f16w, DwGeom};
use sprig_kernels::gemm::{self, sgemm_mixed, sgemm_mixed_scratch_len, Bias, MatMut, MatRef, MatRefF16, Operand};
use sprig_kernels::sparse::{spmm, spmv, SparseMatrix};
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
    let cs = DisjointMut::new(c);
    // One part per thread: every part streams all of B, which for MobileNet's early pointwise
    // layers (up to 3 MB) does not fit in L2.
    workers.for_ranges(s.block_rows(), 1, work, workers.threads(), &|br, _| {
        let Some(sub) = s.block_row_range(br.start, br.end) else { return };
        let r0 = br.start * r;
        // SAFETY: block-row ranges are disjoint, so are their rows of C.
        let ci = unsafe { cs.range(r0 * ldc..r0 * ldc + sub.m() * ldc) };
        spmm(isa, &sub, b, ldb, n, ci, ldc, act);
    });
}

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
    workers.for_ranges(s.block_rows(), align, work, workers.threads() * TASKS_PER_THREAD, &|br, _| {
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
