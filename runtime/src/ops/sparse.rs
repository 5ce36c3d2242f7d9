//! Block-sparse weights ([`Encoding::BlockSparse`]) in Conv and MatMul.
//!
//! The weight is one `sprig_kernels::sparse` blob, validated once at load
//! (`Parsed::check_value_full`, the full `SparseMatrix::parse`). Ops keep no state between runs,
//! so `exec` builds the view again: in a `Session` (whose `Workers` vouch that every blob passed
//! that check) with the O(1) `SparseMatrix::parse_validated`, which re-checks the header and the
//! section bounds only; through `ops::exec` on views of unknown origin with the full `parse`
//! (O(block rows + nnz blocks)).
//!
//! Conv (group 1 only; grouped and depthwise convs with a sparse weight are rejected by `check`):
//! the weight's logical shape `[M, C, kh, kw]` is the matrix `W[M × C·kh·kw]`. Per image:
//! - 1x1, stride 1, no padding: `Y[M × HW] = W · X[C × HW]`, SpMM straight on the CHW input;
//! - otherwise im2col of X into scratch (`[C·kh·kw × OH·OW]` f32) then SpMM.
//!
//! MatMul with a constant block-sparse B: the converter stores **Bᵀ** (logical shape `[N, K]`,
//! blob `m = N`, `k = K`), so that an output row is one sparse row of the blob. A is `[.., M, K]`
//! (or `[K]`); its leading dims and M flatten into `R` rows (B has no batch dims). Y is A's
//! leading dims + `[N]`:
//! - `R ≤ SPMV_MAX_ROWS`: one SpMV per row, `y_r = S · a_r`, straight from A into Y;
//! - more rows: `Yᵀ[N × R] = S · Aᵀ[K × R]`: A transposed into scratch, one SpMM (vectorised
//!   along R), the result transposed from scratch into Y. The SpMM kernels store C row-major, so
//!   Yᵀ cannot be written into Y in place.
//! - two such MatMuls in a row, the second reading only the first's output (an FFN or MLP: up with
//!   its activation, then down), without bias inputs: a session runs them with `Transposed`
//!   operands (`ops::exec_matmul_transposed`), the first writing Yᵀ into Y's arena bytes and the
//!   second reading them as its Aᵀ, so the intermediate is never transposed (in-process A/B, 200
//!   alternating run pairs: MLP 1024→4096→1024 at batch 128, 90 % 4x1, 1.10x; BERT-2 90 % 4x1
//!   1.05–1.08x).
//! - consecutive such MatMuls on the same A whose scratch is the same arena range (BERT's q, k and
//!   v projections): the later ones find Aᵀ in the scratch head and skip their transpose
//!   (`Transposed::a_in_scratch`; k and v 0.965 → 0.915 of q's time on BERT-2 90 % 4x1).
//!
//! f16 weights (dtype F16, an f16 blob): the same paths; `spmm`/`spmv` dispatch on the blob's
//! value type and widen the values on the fly.
//!
//! Bias and activation: the converter puts a per-output-channel bias (Conv `[M]`, MatMul `[N]`)
//! **into the blob**, and the kernel epilogue applies bias + activation. A bias *input* on the
//! node is still accepted (any shape the dense op accepts): the kernel then runs without
//! activation and the bias input and activation are applied afterwards.
//!
//! Scratch: Conv `[C·kh·kw × OH·OW]` f32 (0 for pointwise); MatMul with `R > SPMV_MAX_ROWS`: Aᵀ
//! (`K·R` f32) then Yᵀ (`N·R` f32) at the next 64-byte boundary.
use super::util::{bcast_strides, broadcasts_to, data, f32_region, f32_region_end, for_each_run, numel, strides};
use crate::error::OpError;
use crate::tensor::{DType, Encoding, Shape, TensorInfo, TensorView, MAX_RANK};
use crate::par::Workers;
use sprig_kernels::sparse::{SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};

/// Batch rows up to which MatMul runs one SpMV per row instead of transposing for SpMM.
/// `benches/examples/calibrate.rs`, BERT FC 768x768 at 90 % 4x1, AVX2 (EPYC Zen 4, 2026-05):
/// rows 2: 20 us SpMV vs 70 us transpose + SpMM; 3: 42 vs 57; 4: 64 vs 83; 8: 157 vs 102.
pub const SPMV_MAX_ROWS: usize = 4;

pub(crate) fn is_sparse(info: &TensorInfo) -> bool {
    info.encoding == Encoding::BlockSparse
}

/// A sparse weight must be an f32 or f16 block-sparse tensor (the blob's value type agrees with
/// the dtype: checked at load, and again by [`matrix`]).
pub(crate) fn expect_sparse(info: &TensorInfo) -> Result<(), OpError> {
    if !is_sparse(info) || !matches!(info.dtype, DType::F32 | DType::F16) {
        return Err(OpError::BadShape("sparse weight must be an f32 or f16 block-sparse tensor"));
    }
    Ok(())
}

/// The validated view of a block-sparse weight whose blob is `m × k`: O(1) when `workers` vouch
/// for the blob (a session's run), else the full O(block rows + nnz blocks) `SparseMatrix::parse`
/// (`ops::exec` on views of unknown origin).
pub(crate) fn matrix<'a>(w: &TensorView<'a>, m: usize, k: usize, workers: &Workers) -> Result<SparseMatrix<'a>, OpError> {
    expect_sparse(&w.info)?;
    let s = if workers.blobs_trusted() {
        // SAFETY: `blobs_trusted` says every block-sparse view of this run passed
        // `SparseMatrix::parse` at load and is unchanged (`Workers::trusting_blobs`, set only by
        // a `Session` over a validated `Model`).
        unsafe { SparseMatrix::parse_validated(w.bytes) }
    } else {
        SparseMatrix::parse(w.bytes)
    };
    let s = s.map_err(|_| OpError::BadShape("block-sparse blob is malformed"))?;
    if s.m() != m || s.k() != k {
        return Err(OpError::BadShape("block-sparse blob's m x k does not fit the op"));
    }
    let vt_ok = match w.info.dtype {
        DType::F16 => s.value_type() == ValueType::F16,
        _ => s.value_type() == ValueType::F32,
    };
    if !vt_ok {
        return Err(OpError::BadShape("block-sparse blob's value type differs from the weight's dtype"));
    }
    Ok(s)
}

/// The activation the kernel applies: all of it, unless a bias input is added afterwards.
pub(crate) fn kernel_act(act: &Activation, has_bias_input: bool) -> Activation {
    if has_bias_input {
        Activation::NONE
    } else {
        *act
    }
}

// ---------------------------------------------------------------------------------------------
// MatMul

/// (rows R, K, N) of a MatMul with block-sparse B (`[N, K]` = Bᵀ); checks A, B and Y shapes.
fn mm_geom(a: &Shape, b: &Shape, y: &Shape) -> Result<(usize, usize, usize), OpError> {
    if b.rank() != 2 {
        return Err(OpError::BadShape("block-sparse MatMul B must be rank 2 (stored as B^T [N, K])"));
    }
    let (n, k) = (b[0], b[1]);
    if a.rank() == 0 || a[a.rank() - 1] != k {
        return Err(OpError::BadShape("MatMul: A columns differ from B rows"));
    }
    let lead = &a.dims()[..a.rank() - 1];
    let mut d = [0usize; MAX_RANK];
    d[..lead.len()].copy_from_slice(lead);
    d[lead.len()] = n;
    let ys = Shape::new(&d[..lead.len() + 1]).ok_or(OpError::BadShape("MatMul output rank above 8"))?;
    if ys != *y {
        return Err(OpError::BadShape("MatMul output shape does not match A and B"));
    }
    let rows = lead.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x)).ok_or(OpError::BadShape("element count overflows"))?;
    Ok((rows, k, n))
}

fn mm_scratch(rows: usize, k: usize, n: usize) -> Result<usize, OpError> {
    if rows <= SPMV_MAX_ROWS {
        return Ok(0);
    }
    let at = k.checked_mul(rows).ok_or(OpError::BadShape("scratch size overflows"))?;
    let yt = n.checked_mul(rows).ok_or(OpError::BadShape("scratch size overflows"))?;
    f32_region_end(f32_region_end(0, at)?, yt)
}

/// `check` of a MatMul whose B is block-sparse (A, Y and the bias checked as the dense op does).
pub(crate) fn check_matmul(a: &TensorInfo, b: &TensorInfo, bias: Option<&TensorInfo>, y: &TensorInfo) -> Result<usize, OpError> {
    expect_sparse(b)?;
    let (rows, k, n) = mm_geom(&a.shape, &b.shape, &y.shape)?;
    numel(&y.shape)?;
    if let Some(bias) = bias {
        super::util::expect(bias, DType::F32, "MatMul bias must be f32")?;
        if !broadcasts_to(&bias.shape, &y.shape) {
            return Err(OpError::BadShape("MatMul bias does not broadcast to the output"));
        }
    }
    mm_scratch(rows, k, n)
}

/// `dst[c × r] = srcᵀ` for a row-major `src[r × c]`, split by rows of `dst` across `workers`
/// (`sprig_kernels::sparse::spmm::transpose`: 8×8 register blocks with AVX2).
fn transpose(src: &[f32], r: usize, c: usize, dst: &mut [f32], isa: Isa, workers: &Workers) {
    let ds = crate::par::DisjointMut::new(dst);
    workers.for_ranges(c, 16, r.saturating_mul(c), workers.threads() * crate::par::TASKS_PER_THREAD, &|cr, _| {
        // SAFETY: the dst row ranges of one split are disjoint.
        let d = unsafe { ds.range(cr.start * r..cr.end * r) };
        sprig_kernels::sparse::spmm::transpose::transpose_cols(isa, src, r, c, cr, d);
    });
}

/// `exec` of a MatMul whose B is block-sparse; `yd` is Y's elements. With `t` set (no bias input
/// and more than [`SPMV_MAX_ROWS`] rows, the error otherwise), A's and/or Y's arena bytes hold the
/// transposed matrices: a session uses this for two such MatMuls in a row where the second reads
/// only the first's output as its A (an FFN or MLP: up, activation fused, down): the first writes
/// Yᵀ, the second reads it as its Aᵀ, and the two transposes of the intermediate between them are
/// skipped. The bytes in between are then not Y in Y's layout, so the session only pairs nodes
/// when nothing else reads that value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn exec_matmul(
    a: &TensorView,
    b: &TensorView,
    bias: Option<&TensorView>,
    y_shape: &Shape,
    yd: &mut [f32],
    act: &Activation,
    scratch: &mut [u8],
    isa: Isa,
    workers: &Workers,
    t: Transposed,
) -> Result<(), OpError> {
    let (rows, k, n) = mm_geom(&a.info.shape, &b.info.shape, y_shape)?;
    if (t.a || t.y) && bias.is_some() {
        return Err(OpError::Unsupported("transposed MatMul pair: needs no bias input"));
    }
    if t != Transposed::default() && rows <= SPMV_MAX_ROWS {
        return Err(OpError::Unsupported("transposed MatMul operands: need more rows than the SpMV path takes"));
    }
    if t.a && t.a_in_scratch {
        return Err(OpError::Unsupported("transposed MatMul operands: Aᵀ either in A's buffer or in scratch"));
    }
    let s = matrix(b, n, k, workers)?;
    let ad = data::<f32>(a)?;
    if ad.len() != rows * k || yd.len() != rows * n {
        return Err(OpError::BadShape("MatMul operand sizes are inconsistent"));
    }
    let kact = kernel_act(act, bias.is_some());
    if rows <= SPMV_MAX_ROWS {
        super::split::spmv_split(isa, &s, ad, rows, yd, &kact, workers);
    } else {
        spmm_rows(&s, ad, (rows, k, n), yd, &kact, scratch, isa, workers, t)?;
    }
    if let Some(bv) = bias {
        add_bias(bv, y_shape, yd, act)?;
    }
    Ok(())
}

/// Which operands of a sparse MatMul's SpMM path are held transposed in the arena: `a`, A's
/// buffer holds Aᵀ `[K × R]` (written so by the previous node); `y`, the node writes Yᵀ
/// `[N × R]` into Y's buffer (for the next node). See [`exec_matmul`]. `a_in_scratch`: the
/// head of this node's scratch already holds Aᵀ, left there by the previous node, a sparse
/// MatMul on the same A whose scratch is the same arena range (BERT's q, k and v projections of
/// one LayerNorm output), so the transpose of A is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Transposed {
    pub a: bool,
    pub y: bool,
    pub a_in_scratch: bool,
}

/// `Yᵀ[N × R] = S · Aᵀ[K × R]` with the layout `mm_scratch` sized (Aᵀ at 0, Yᵀ at the next
/// 64-byte boundary); a transposed operand skips its transpose and its scratch.
#[allow(clippy::too_many_arguments)]
fn spmm_rows(s: &SparseMatrix, ad: &[f32], (rows, k, n): (usize, usize, usize), yd: &mut [f32], kact: &Activation, scratch: &mut [u8], isa: Isa, workers: &Workers, t: Transposed) -> Result<(), OpError> {
    if rows == 0 || n == 0 {
        return Ok(());
    }
    let mid = f32_region_end(0, k * rows)?.div_ceil(64) * 64;
    if scratch.len() < mid {
        return Err(OpError::BadShape("scratch smaller than the op needs"));
    }
    let (head, tail) = scratch.split_at_mut(mid);
    let bmat: &[f32] = if t.a {
        ad
    } else if t.a_in_scratch {
        f32_region(head, 0, k * rows)?.0
    } else {
        let (at, _) = f32_region(head, 0, k * rows)?;
        transpose(ad, rows, k, at, isa, workers);
        at
    };
    if t.y {
        super::split::spmm_split(isa, s, bmat, rows, rows, yd, rows, kact, workers);
    } else {
        let (yt, _) = f32_region(tail, 0, n * rows)?;
        super::split::spmm_split(isa, s, bmat, rows, rows, yt, rows, kact, workers);
        transpose(yt, n, rows, yd, isa, workers);
    }
    Ok(())
}

/// Whether a MatMul (inputs A, B, optional bias; by value index) may take part in a transposed
/// pair: B block-sparse, no bias input, A of f32 with more than [`SPMV_MAX_ROWS`] rows.
pub(crate) fn pairable(p: &crate::format::Parsed, ins: &[u32]) -> bool {
    use crate::format::NO_VALUE;
    ins.get(2).is_none_or(|&v| v == NO_VALUE) && spmm_path(p, ins)
}

/// Whether a MatMul (inputs A, B, optional bias; by value index) runs the SpMM path, which
/// transposes A into the head of its scratch: B block-sparse, A of f32 with more than
/// [`SPMV_MAX_ROWS`] rows.
pub(crate) fn spmm_path(p: &crate::format::Parsed, ins: &[u32]) -> bool {
    if ins.len() < 2 {
        return false;
    }
    let (Ok(a), Ok(b)) = (p.check_value(ins[0]), p.check_value(ins[1])) else { return false };
    let d = a.shape.dims();
    let rows: usize = d[..d.len().saturating_sub(1)].iter().product();
    b.encoding == Encoding::BlockSparse && b.shape.numel() > 0 && a.dtype == DType::F32 && !d.is_empty() && rows > SPMV_MAX_ROWS
}

/// `y = act(y + bias)` with the bias broadcast to Y.
fn add_bias(bv: &TensorView, y_shape: &Shape, yd: &mut [f32], act: &Activation) -> Result<(), OpError> {
    let bd = data::<f32>(bv)?;
    let bs = bv.info.shape;
    if !broadcasts_to(&bs, y_shape) {
        return Err(OpError::BadShape("MatMul bias does not broadcast to the output"));
    }
    let bst = bcast_strides(&bs, y_shape);
    for_each_run(y_shape.dims(), [bst, strides(y_shape)], [0; 2], |o, cnt, st| {
        for t in 0..cnt {
            let yi = super::util::at(o[1], t, st[1]);
            yd[yi] = act.apply(yd[yi] + bd[super::util::at(o[0], t, st[0])]);
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Conv helpers (the geometry lives in `conv.rs`)

/// `Y_n[M × HW] = act(S · B[K × HW] (+ blob bias))` for one image, B's rows `ldb` apart.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_image(s: &SparseMatrix, b: &[f32], ldb: usize, hw: usize, y: &mut [f32], kact: &Activation, isa: Isa, workers: &Workers) {
    super::split::spmm_split(isa, s, b, ldb, hw, y, hw, kact, workers);
}

/// Copies the `rows × n` matrix `src` (row-major, contiguous) into `dst` with rows `ld ≥ n`
/// apart (the padding is left as it is), split by rows across `workers`.
pub(crate) fn copy_rows_strided(src: &[f32], rows: usize, n: usize, dst: &mut [f32], ld: usize, workers: &Workers) {
    let ds = crate::par::DisjointMut::new(dst);
    workers.for_ranges(rows, 1, rows.saturating_mul(n), workers.threads() * crate::par::TASKS_PER_THREAD, &|r, _| {
        // SAFETY: row ranges are disjoint, so are their strided rows of `dst`; the caller's `dst`
        // holds `rows·ld` floats, so the range is in bounds (checked by `range`).
        let d = unsafe { ds.range(r.start * ld..r.end * ld) };
        for (i, row) in r.clone().enumerate() {
            d[i * ld..i * ld + n].copy_from_slice(&src[row * n..row * n + n]);
        }
    });
}

/// Adds a per-channel bias input to one image `[M × HW]` and applies the activation.
pub(crate) fn conv_bias(bias: &[f32], hw: usize, y: &mut [f32], act: &Activation) {
    for (plane, &b) in y.chunks_exact_mut(hw.max(1)).zip(bias) {
        for v in plane {
            *v = act.apply(*v + b);
        }
    }
}
