//! MatMul: `Y = act(A · B + bias)`, f32, numpy semantics.
//!
//! A `[..., M, K]`, B `[..., K, N]`; batch dims broadcast; a rank-1 A is `[1, K]` with M dropped
//! from Y, a rank-1 B is `[K, 1]` with N dropped. The optional bias broadcasts to Y: a bias that
//! is a row vector over N is fused into the GEMM as a column bias; any other bias is added after
//! the GEMM, then the activation is applied. Each batch matrix is one `sgemm` call on strided
//! views of the inputs (no copies). Scratch: `sgemm_scratch_len(M, N, K)` f32.
//!
//! One operand may be an f16 weight (dtype F16, dense; the converter makes the constant B, or A
//! when B is not constant, f16): `sgemm_mixed` widens it on the fly. Scratch:
//! `sgemm_mixed_scratch_len(M, N, K)` f32 then.
//!
//! A constant block-sparse B (stored as Bᵀ `[N, K]`) is handled in [`super::sparse`].
use super::sparse::Transposed;
use super::params::MatMulParams;
use super::util::{bcast_strides, broadcast, broadcasts_to, counts, data, data_mut, expect, for_each_run, numel, strides};
use super::{read_params, req};
use crate::error::OpError;
use crate::par::Workers;
use crate::tensor::{DType, Shape, TensorInfo, TensorView, TensorViewMut, MAX_RANK};
use sprig_kernels::gemm::{sgemm_mixed_scratch_len, Bias, MatRef, MatRefF16, Operand};
use sprig_kernels::Activation;

/// Shapes derived from A and B.
struct Geom {
    m: usize,
    n: usize,
    k: usize,
    /// Broadcast batch shape of Y.
    batch: Shape,
    /// A and B batch shapes (leading dims only).
    a_batch: Shape,
    b_batch: Shape,
}

fn geom(a: &Shape, b: &Shape) -> Result<Geom, OpError> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(OpError::BadShape("MatMul operands must have rank >= 1"));
    }
    let (m, ka, a_lead) = if a.rank() == 1 { (1, a[0], 0) } else { (a[a.rank() - 2], a[a.rank() - 1], a.rank() - 2) };
    let (kb, n, b_lead) = if b.rank() == 1 { (b[0], 1, 0) } else { (b[b.rank() - 2], b[b.rank() - 1], b.rank() - 2) };
    if ka != kb {
        return Err(OpError::BadShape("MatMul: A columns differ from B rows"));
    }
    let a_batch = Shape::new(&a.dims()[..a_lead]).unwrap_or(Shape::SCALAR);
    let b_batch = Shape::new(&b.dims()[..b_lead]).unwrap_or(Shape::SCALAR);
    let batch = broadcast(&a_batch, &b_batch).ok_or(OpError::BadShape("MatMul: batch dims do not broadcast"))?;
    Ok(Geom { m, n, k: ka, batch, a_batch, b_batch })
}

fn y_shape(g: &Geom, a: &Shape, b: &Shape) -> Result<Shape, OpError> {
    let mut d = [0usize; MAX_RANK + 2];
    let mut r = g.batch.rank();
    d[..r].copy_from_slice(g.batch.dims());
    if a.rank() >= 2 {
        d[r] = g.m;
        r += 1;
    }
    if b.rank() >= 2 {
        d[r] = g.n;
        r += 1;
    }
    Shape::new(&d[..r]).ok_or(OpError::BadShape("MatMul output rank above 8"))
}

fn activation(p: &MatMulParams) -> Result<Activation, OpError> {
    p.act.activation().ok_or(OpError::BadParams("unknown fused activation kind"))
}

pub(crate) fn check(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    let p: MatMulParams = read_params(params)?;
    activation(&p)?;
    counts(inputs, outputs.len(), 2, 3, 1)?;
    let a = req(inputs, 0, "MatMul needs A")?;
    let b = req(inputs, 1, "MatMul needs B")?;
    let y = &outputs[0];
    if super::sparse::is_sparse(&b) {
        expect(&a, DType::F32, "MatMul is f32 only")?;
        expect(y, DType::F32, "MatMul is f32 only")?;
        return super::sparse::check_matmul(&a, &b, inputs.get(2).copied().flatten().as_ref(), y);
    }
    expect(y, DType::F32, "MatMul output must be f32")?;
    for t in [&a, &b] {
        expect_weight(t, "MatMul operands must be f32 (or an f16 weight)")?;
    }
    let g = geom(&a.shape, &b.shape)?;
    if y_shape(&g, &a.shape, &b.shape)? != y.shape {
        return Err(OpError::BadShape("MatMul output shape does not match A and B"));
    }
    numel(&y.shape)?;
    if let Some(Some(bias)) = inputs.get(2) {
        expect(bias, DType::F32, "MatMul bias must be f32")?;
        if !broadcasts_to(&bias.shape, &y.shape) {
            return Err(OpError::BadShape("MatMul bias does not broadcast to the output"));
        }
    }
    sgemm_mixed_scratch_len(g.m, g.n, g.k).checked_mul(4).ok_or(OpError::BadShape("scratch size overflows"))
}

/// Dense, and f32 or f16 (f16 only in weights: the loader keeps f16 tensors constant).
pub(crate) fn expect_weight(info: &TensorInfo, what: &'static str) -> Result<(), OpError> {
    super::util::dense(info)?;
    if !matches!(info.dtype, DType::F32 | DType::F16) {
        return Err(OpError::BadShape(what));
    }
    Ok(())
}

/// The elements of an operand that may be an f16 weight.
#[derive(Clone, Copy)]
pub(crate) enum Elems<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
}

impl<'a> Elems<'a> {
    pub(crate) fn of(v: &TensorView<'a>) -> Result<Self, OpError> {
        match v.info.dtype {
            DType::F16 => Ok(Elems::F16(data::<u16>(v)?)),
            _ => Ok(Elems::F32(data::<f32>(v)?)),
        }
    }

    /// The row-major `rows × cols` operand over `[off, off + rows·cols)`; `None` out of bounds.
    pub(crate) fn mat(self, off: usize, rows: usize, cols: usize) -> Option<Operand<'a>> {
        let r = off..off.checked_add(rows.checked_mul(cols)?)?;
        Some(match self {
            Elems::F32(d) => Operand::F32(MatRef::row_major(d.get(r)?, rows, cols)),
            Elems::F16(d) => Operand::F16(MatRefF16::row_major(d.get(r)?, rows, cols)),
        })
    }
}

/// Whether a bias of this shape is one value per output column (all dims 1 except a last of N).
fn is_col_bias(bias: &Shape, y: &Shape, n: usize, b_rank1: bool) -> bool {
    if b_rank1 || y.rank() == 0 {
        return false;
    }
    let d = bias.dims();
    match d.split_last() {
        None => false,
        Some((&last, lead)) => last == n && lead.iter().all(|&x| x == 1),
    }
}

pub(crate) fn exec(
    params: &[u8],
    inputs: &[Option<TensorView>],
    outputs: &mut [TensorViewMut],
    scratch: &mut [u8],
    isas: super::Isas,
    workers: &Workers,
) -> Result<(), OpError> {
    exec_transposed(params, inputs, outputs, scratch, isas, workers, Transposed::default())
}

/// [`exec`] with A and/or Y held transposed in the arena (`t`; see
/// [`super::sparse::exec_matmul`]): only for a block-sparse B, the error otherwise.
pub(crate) fn exec_transposed(
    params: &[u8],
    inputs: &[Option<TensorView>],
    outputs: &mut [TensorViewMut],
    scratch: &mut [u8],
    isas: super::Isas,
    workers: &Workers,
    t: Transposed,
) -> Result<(), OpError> {
    let isa = isas.dense;
    let p: MatMulParams = read_params(params)?;
    let act = activation(&p)?;
    let a = req(inputs, 0, "MatMul needs A")?;
    let b = req(inputs, 1, "MatMul needs B")?;
    let bias = inputs.get(2).copied().flatten();
    if super::sparse::is_sparse(&b.info) {
        let y = outputs.first_mut().ok_or(OpError::BadShape("MatMul needs one output"))?;
        let y_shape = y.info.shape;
        return super::sparse::exec_matmul(&a, &b, bias.as_ref(), &y_shape, data_mut::<f32>(y)?, &act, scratch, isas.sparse, workers, t);
    }
    if t != Transposed::default() {
        return Err(OpError::Unsupported("transposed MatMul pair: needs a block-sparse B"));
    }
    let g = geom(&a.info.shape, &b.info.shape)?;
    let (m, n, k) = (g.m, g.n, g.k);
    let ad = Elems::of(&a)?;
    let bd = Elems::of(&b)?;
    let y = outputs.first_mut().ok_or(OpError::BadShape("MatMul needs one output"))?;
    let y_shape = y.info.shape;
    let yd = data_mut::<f32>(y)?;
    let need = sgemm_mixed_scratch_len(m, n, k);
    let sc: &mut [f32] = if need == 0 {
        &mut []
    } else {
        let bytes = scratch.get_mut(..need * 4).ok_or(OpError::BadShape("scratch smaller than the op needs"))?;
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| OpError::BadShape("scratch misaligned"))?
    };

    let bias_d = match bias {
        Some(bv) => Some((data::<f32>(&bv)?, bv.info.shape)),
        None => None,
    };
    let col_bias = match bias_d {
        Some((bd_, bs)) if is_col_bias(&bs, &y_shape, n, b.info.shape.rank() == 1) => Some(bd_),
        _ => None,
    };
    let fused = bias_d.is_none() || col_bias.is_some();
    let gemm_act = if fused { act } else { Activation::NONE };
    let gemm_bias = match col_bias {
        Some(c) => Bias::Col(c),
        None => Bias::None,
    };

    let a_st = bcast_strides(&g.a_batch, &g.batch);
    let b_st = bcast_strides(&g.b_batch, &g.batch);
    let y_st = strides(&g.batch);
    let (a_mat, b_mat, y_mat) = ((m * k) as isize, (k * n) as isize, (m * n) as isize);
    let scale = |s: [isize; MAX_RANK], f: isize| -> [isize; MAX_RANK] { core::array::from_fn(|i| s[i] * f) };
    let mut ok = true;
    let batch_dims = g.batch.dims();
    let batch_strides = [scale(a_st, a_mat), scale(b_st, b_mat), scale(y_st, y_mat)];
    // Several batch matrices (attention heads) and threads: one split over the matrices.
    let by_batch = super::split::sgemm_batch_split(isa, batch_dims, batch_strides, (ad, bd, &mut *yd), (m, n, k), gemm_bias, &gemm_act, sc, workers)?;
    // Otherwise one run per batch matrix: iterate the batch space with the innermost axis unrolled.
    for_each_run(if by_batch { &[0] } else { batch_dims }, batch_strides, [0; 3], |o, cnt, s| {
        for t in 0..cnt {
            let ao = super::util::at(o[0], t, s[0]);
            let bo = super::util::at(o[1], t, s[1]);
            let yo = super::util::at(o[2], t, s[2]);
            let (Some(am), Some(bm), Some(ysl)) = (ad.mat(ao, m, k), bd.mat(bo, k, n), yd.get_mut(yo..yo + m * n)) else {
                ok = false;
                return;
            };
            if super::split::sgemm_split(isa, am, bm, ysl, gemm_bias, &gemm_act, sc, workers).is_err() {
                ok = false;
            }
        }
    });
    if !ok {
        return Err(OpError::BadShape("MatMul operand sizes are inconsistent"));
    }
    if !fused {
        let (bd_, bs) = bias_d.ok_or(OpError::BadShape("MatMul bias missing"))?;
        let bst = bcast_strides(&bs, &y_shape);
        for_each_run(y_shape.dims(), [bst, strides(&y_shape)], [0; 2], |o, cnt, s| {
            for t in 0..cnt {
                let yi = super::util::at(o[1], t, s[1]);
                yd[yi] = act.apply(yd[yi] + bd_[super::util::at(o[0], t, s[0])]);
            }
        });
    }
    Ok(())
}
