//! Conv and ConvTranspose, f32, NCHW (a rank-3 input is a 1-D conv with H = 1).
//!
//! Conv, per image and group:
//! - depthwise (group = C = M): `sprig_kernels::dwconv::dwconv2d`, no scratch;
//! - 1x1, stride 1, no padding: `Y_g[M/g × HW] = W_g[M/g × C/g] · X_g[C/g × HW]` directly;
//! - otherwise one GEMM whose B is the im2col matrix of `X_g` (`Operand::Im2col`): the GEMM
//!   packs its B panels straight from the image, so the `[C/g·kh·kw × OH·OW]` columns are never
//!   written (they were 7 MiB of scratch at ResNet-18 layer1 and a whole extra pass);
//! - except the matrix-vector shapes (M/g = 1 or OH·OW = 1), which keep the explicit im2col into
//!   scratch: the GEMV kernels read a stored matrix.
//!
//! The bias is fused as a row bias and the activation as the GEMM epilogue.
//!
//! A block-sparse weight (group 1 only) runs SpMM instead of `sgemm`, on the same columns; see
//! [`super::sparse`].
//!
//! Conv's W may be an f16 weight (dtype F16; dense or block-sparse): the same paths with
//! `dwconv2d_f16w` and `sgemm_mixed`, which widen W on the fly (ConvTranspose is f32 only).
//!
//! ConvTranspose, per image and group: `cols[M/g·kh·kw × H·W] = W_g^T · X_g` into scratch, then
//! col2im scatters the columns into Y (pre-filled with the bias), then the activation. The output
//! size comes from the output shape; the output padding it implies must be below
//! max(stride, dilation) as in ONNX.
//!
//! Scratch layout: the columns at offset 0 (none on the packed im2col path), then the GEMM
//! scratch at the next 64-byte boundary. Files converted when the dense path still wrote the
//! columns plan more scratch than it now needs, which is fine.
use super::params::ConvParams;
use super::util::{counts, data, data_mut, expect, f32_region, f32_region_end, numel};
use super::{read_params, req};
use crate::error::OpError;
use crate::par::Workers;
use crate::tensor::{DType, Encoding, Shape, TensorInfo, TensorView, TensorViewMut};
use super::matmul::{expect_weight, Elems};
use sprig_kernels::gemm::{sgemm, sgemm_mixed_scratch_len, sgemm_scratch_len, sgemm_scratch_wanted, Bias, ConvGeom, Im2colRef, MatMut, MatRef, Operand};
use sprig_kernels::sparse::spmm::aligned_ldb;
use sprig_kernels::{dconv, pw64, Activation, Isa};

/// Geometry of one Conv/ConvTranspose node, all in elements.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    group: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    pt: usize,
    pl: usize,
    pb: usize,
    pr: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn cg(&self) -> usize {
        self.c / self.group
    }
    fn mg(&self) -> usize {
        self.m / self.group
    }
    fn depthwise(&self) -> bool {
        self.group == self.c && self.m == self.c && self.group > 1
    }
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt + self.pl + self.pb + self.pr == 0
    }
    /// A dense (non-depthwise) conv whose GEMM packs B straight from the image: not pointwise
    /// and not a matrix-vector shape (see the module doc).
    fn packs_im2col(&self) -> bool {
        !self.pointwise() && self.mg() > 1 && self.oh * self.ow > 1
    }
    /// The kernels' geometry of a `c`-channel image with this conv's spatial sizes: one group's
    /// image (`c = cg`) for the im2col operand, all channels for a depthwise conv.
    fn conv_geom(&self, c: usize) -> ConvGeom {
        let g = self;
        ConvGeom { c, h: g.h, w: g.w, kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, pt: g.pt, pl: g.pl, oh: g.oh, ow: g.ow }
    }
}

fn activation(p: &ConvParams) -> Result<Activation, OpError> {
    p.act.activation().ok_or(OpError::BadParams("unknown fused activation kind"))
}

/// Common parameter and shape validation; `transpose` selects the weight layout.
fn geom(p: &ConvParams, x: &Shape, wt: &Shape, y: &Shape, transpose: bool) -> Result<Geom, OpError> {
    let one_d = match x.rank() {
        3 => true,
        4 => false,
        _ => return Err(OpError::BadShape("conv input must be rank 3 (N,C,L) or 4 (N,C,H,W)")),
    };
    if wt.rank() != x.rank() || y.rank() != x.rank() {
        return Err(OpError::BadShape("conv weight and output must have the input's rank"));
    }
    if p.strides.contains(&0) || p.dilations.contains(&0) || p.kernel.contains(&0) || p.group == 0 {
        return Err(OpError::BadParams("zero stride, dilation, kernel size or group"));
    }
    if one_d && (p.kernel[0] != 1 || p.strides[0] != 1 || p.dilations[0] != 1 || p.pads[0] != 0 || p.pads[2] != 0) {
        return Err(OpError::BadParams("1-D conv must have a unit H kernel, stride, dilation and no H padding"));
    }
    let u = |v: u32| v as usize;
    let (h, w) = if one_d { (1, x[2]) } else { (x[2], x[3]) };
    let (oh, ow) = if one_d { (1, y[2]) } else { (y[2], y[3]) };
    let g = Geom {
        n: x[0],
        c: x[1],
        h,
        w,
        m: y[1],
        group: u(p.group),
        kh: u(p.kernel[0]),
        kw: u(p.kernel[1]),
        sh: u(p.strides[0]),
        sw: u(p.strides[1]),
        dh: u(p.dilations[0]),
        dw: u(p.dilations[1]),
        pt: u(p.pads[0]),
        pl: u(p.pads[1]),
        pb: u(p.pads[2]),
        pr: u(p.pads[3]),
        oh,
        ow,
    };
    if y[0] != g.n {
        return Err(OpError::BadShape("conv output batch differs from the input's"));
    }
    if !g.c.is_multiple_of(g.group) || !g.m.is_multiple_of(g.group) {
        return Err(OpError::BadShape("channels not divisible by group"));
    }
    let (w0, w1) = if transpose { (g.c, g.mg()) } else { (g.m, g.cg()) };
    let wk_ok = if one_d { wt[2] == g.kw } else { wt[2] == g.kh && wt[3] == g.kw };
    if wt[0] != w0 || wt[1] != w1 || !wk_ok {
        return Err(OpError::BadShape("conv weight shape does not match channels, group and kernel"));
    }
    // Effective (dilated) kernel extents.
    let ekh = (g.kh - 1).checked_mul(g.dh).and_then(|v| v.checked_add(1)).ok_or(OpError::BadParams("kernel extent overflows"))?;
    let ekw = (g.kw - 1).checked_mul(g.dw).and_then(|v| v.checked_add(1)).ok_or(OpError::BadParams("kernel extent overflows"))?;
    if !transpose {
        let ph = g.h + g.pt + g.pb;
        let pw = g.w + g.pl + g.pr;
        if ph < ekh || pw < ekw {
            return Err(OpError::BadShape("conv kernel larger than the padded input"));
        }
        if (ph - ekh) / g.sh + 1 != g.oh || (pw - ekw) / g.sw + 1 != g.ow {
            return Err(OpError::BadShape("conv output size does not match input, kernel, stride, padding and dilation"));
        }
    } else {
        if g.h == 0 || g.w == 0 {
            return Err(OpError::BadShape("ConvTranspose input has an empty spatial dim"));
        }
        let full = |i: usize, s: usize, ek: usize| (i - 1).checked_mul(s).and_then(|v| v.checked_add(ek));
        let fh = full(g.h, g.sh, ekh).ok_or(OpError::BadShape("output size overflows"))?;
        let fw = full(g.w, g.sw, ekw).ok_or(OpError::BadShape("output size overflows"))?;
        let okh = fh.checked_sub(g.pt + g.pb).is_some_and(|b| g.oh >= b && g.oh - b < g.sh.max(g.dh));
        let okw = fw.checked_sub(g.pl + g.pr).is_some_and(|b| g.ow >= b && g.ow - b < g.sw.max(g.dw));
        if !okh || !okw {
            return Err(OpError::BadShape("ConvTranspose output size does not match input, kernel, stride, padding, dilation and output padding"));
        }
    }
    numel(y)?;
    numel(x)?;
    Ok(g)
}

fn check_common(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo], transpose: bool) -> Result<(Geom, ConvParams), OpError> {
    let p: ConvParams = read_params(params)?;
    activation(&p)?;
    counts(inputs, outputs.len(), 2, 3, 1)?;
    let x = req(inputs, 0, "conv needs X")?;
    let w = req(inputs, 1, "conv needs W")?;
    let y = &outputs[0];
    for t in [&x, y] {
        expect(t, DType::F32, "conv is f32 only")?;
    }
    if transpose {
        expect(&w, DType::F32, "ConvTranspose is f32 only (no f16 weights)")?;
    } else if w.encoding == Encoding::Panel64 {
        if w.dtype != DType::F32 {
            return Err(OpError::BadShape("panel64 conv weights must be f32"));
        }
    } else if !super::sparse::is_sparse(&w) {
        expect_weight(&w, "conv weight must be f32 or f16")?;
    } else {
        super::sparse::expect_sparse(&w)?;
    }
    let g = geom(&p, &x.shape, &w.shape, &y.shape, transpose)?;
    if w.encoding == Encoding::Panel64 && !(g.pointwise() && g.group == 1) {
        return Err(OpError::Unsupported("panel64 conv weights need a pointwise conv (1x1, stride 1, no padding, group 1)"));
    }
    if let Some(Some(b)) = inputs.get(2) {
        expect(b, DType::F32, "conv bias must be f32")?;
        if b.shape.dims() != [g.m] {
            return Err(OpError::BadShape("conv bias must be [M]"));
        }
    }
    Ok((g, p))
}

/// (column elements, gemm m, n, k) for a Conv.
fn conv_plan(g: &Geom) -> (usize, usize, usize, usize) {
    let hw = g.oh * g.ow;
    let cols = if g.pointwise() { 0 } else { g.cg() * g.kh * g.kw * hw };
    (cols, g.mg(), hw, g.cg() * g.kh * g.kw)
}

/// [`conv_plan`] of a dense (GEMM) conv, with no column elements where the GEMM packs B straight
/// from the image.
fn dense_plan(g: &Geom) -> (usize, usize, usize, usize) {
    let (cols, m, n, k) = conv_plan(g);
    (if g.packs_im2col() { 0 } else { cols }, m, n, k)
}

/// f32 elements of GEMM scratch a conv must give `sgemm` or `sgemm_mixed` (f16 or f32 W; the
/// latter needs at least what the former does).
fn gemm_scratch_len(m: usize, n: usize, k: usize) -> usize {
    sgemm_scratch_len(m, n, k).max(sgemm_mixed_scratch_len(m, n, k))
}

/// Bytes of `cols` column elements followed by `gemm` f32 of GEMM scratch (see `split_scratch`).
fn scratch_bytes(cols: usize, gemm: usize) -> Result<usize, OpError> {
    f32_region_end(f32_region_end(0, cols)?, gemm)
}

/// The scratch bytes a Conv can use: [`check_conv`]'s, and for a block-sparse pointwise conv whose
/// H·W is not a multiple of 16 room for B copied with rows padded to 16 floats (used where
/// `spmm::aligned_ldb` says it pays, on the ISA of the run; see `exec_conv_sparse`); for a dense
/// GEMM conv the GEMM's room for one K block ([`sgemm_scratch_wanted`]: 14x14 layers 512 deep).
pub(crate) fn scratch_wanted_conv(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    let (need, g, sparse) = check_conv_geom(params, inputs, outputs)?;
    if panel64_weight(inputs) {
        return Ok(need);
    }
    if !sparse && !g.depthwise() {
        // At least `need`: sgemm_scratch_wanted is at least sgemm_scratch_len.
        let (cols, m, n, k) = dense_plan(&g);
        return scratch_bytes(cols, sgemm_scratch_wanted(m, n, k).max(gemm_scratch_len(m, n, k)));
    }
    let hw = g.oh * g.ow;
    if !sparse || !g.pointwise() || hw.is_multiple_of(16) {
        return Ok(need);
    }
    let (_, _, _, k) = conv_plan(&g);
    let elems = k.checked_mul(hw.next_multiple_of(16)).ok_or(OpError::BadShape("scratch size overflows"))?;
    Ok(need.max(f32_region_end(0, elems)?))
}

pub(crate) fn check_conv(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    check_conv_geom(params, inputs, outputs).map(|(need, _, _)| need)
}

/// [`check_conv`]'s scratch bytes, with the checked geometry and whether the weight is
/// block-sparse.
fn check_conv_geom(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<(usize, Geom, bool), OpError> {
    let (g, _) = check_common(params, inputs, outputs, false)?;
    if inputs.get(1).copied().flatten().is_some_and(|w| super::sparse::is_sparse(&w)) {
        if g.group != 1 {
            return Err(OpError::Unsupported("block-sparse conv weights need group 1 (no grouped or depthwise conv)"));
        }
        let (cols, _, _, _) = conv_plan(&g);
        return Ok((f32_region_end(0, cols)?, g, true));
    }
    if g.depthwise() {
        return Ok((0, g, false));
    }
    if panel64_weight(inputs) {
        return Ok((f32_region_end(0, pw64::scratch_len(g.oh * g.ow, g.c))?, g, false));
    }
    let (cols, m, n, k) = dense_plan(&g);
    Ok((scratch_bytes(cols, gemm_scratch_len(m, n, k))?, g, false))
}

/// Whether the conv's weight (input 1) is stored in 64-channel panels ([`Encoding::Panel64`]).
fn panel64_weight(inputs: &[Option<TensorInfo>]) -> bool {
    inputs.get(1).copied().flatten().is_some_and(|w| w.encoding == Encoding::Panel64)
}

/// im2col of one image-group `x` `[cg, h, w]` into `cols` `[cg·kh·kw, oh·ow]`, split by input
/// channels across `workers` (each channel fills its own rows).
fn im2col_split(g: &Geom, x: &[f32], cols: &mut [f32], workers: &Workers) {
    let rows = g.kh * g.kw * g.oh * g.ow;
    let work = g.cg().saturating_mul(rows);
    let cs = crate::par::DisjointMut::new(cols);
    workers.for_ranges(g.cg(), 1, work, workers.threads() * crate::par::TASKS_PER_THREAD, &|r, _| {
        // SAFETY: channel ranges are disjoint, so are their rows of the columns.
        let sub = unsafe { cs.range(r.start * rows..r.end * rows) };
        im2col_channels(g, x, sub, r);
    });
}

/// Rows of channels `chans` (written from `cols[0]` on).
fn im2col_channels(g: &Geom, x: &[f32], cols: &mut [f32], chans: core::ops::Range<usize>) {
    let plane = g.h * g.w;
    let sub = g.conv_geom(chans.len());
    Im2colRef::new(&x[chans.start * plane..chans.end * plane], sub).write(cols);
}

pub(crate) fn exec_conv(
    params: &[u8],
    inputs: &[Option<TensorView>],
    outputs: &mut [TensorViewMut],
    scratch: &mut [u8],
    isas: super::Isas,
    workers: &Workers,
) -> Result<(), OpError> {
    let x = req(inputs, 0, "conv needs X")?;
    let w = req(inputs, 1, "conv needs W")?;
    let b = inputs.get(2).copied().flatten();
    let y = outputs.first_mut().ok_or(OpError::BadShape("conv needs one output"))?;
    let p: ConvParams = read_params(params)?;
    let act = activation(&p)?;
    let g = geom(&p, &x.info.shape, &w.info.shape, &y.info.shape, false)?;
    if super::sparse::is_sparse(&w.info) {
        return exec_conv_sparse(&g, &x, &w, b.as_ref(), y, &act, scratch, isas.sparse, workers);
    }
    if w.info.encoding == Encoding::Panel64 {
        return exec_conv_panel64(&g, &x, &w, b.as_ref(), y, &act, scratch, isas.pointwise_panels(), workers);
    }
    let xd = data::<f32>(&x)?;
    let wd = Elems::of(&w)?;
    let bd = match b {
        Some(b) => Some(data::<f32>(&b)?),
        None => None,
    };
    if bd.is_some_and(|b| b.len() != g.m) {
        return Err(OpError::BadShape("conv bias must be [M]"));
    }
    let yd = data_mut::<f32>(y)?;
    let (in_img, out_img) = (g.c * g.h * g.w, g.m * g.oh * g.ow);
    if g.depthwise() {
        let dg = g.conv_geom(g.c);
        for n in 0..g.n {
            super::split::dwconv_split(isas.depthwise(g.ow), &dg, &xd[n * in_img..(n + 1) * in_img], wd, bd, &act, &mut yd[n * out_img..(n + 1) * out_img], workers);
        }
        return Ok(());
    }
    let (ncols, gm, gn, gk) = dense_plan(&g);
    let (cols, gs) = split_scratch(scratch, ncols, gemm_scratch_len(gm, gn, gk))?;
    let (cg, mg, hw_in) = (g.cg(), g.mg(), g.h * g.w);
    let cgeom = g.conv_geom(cg);
    if let Some(wf) = direct_stem(isas.stem(), &g, &wd).filter(|_| dconv::scratch_len(&cgeom, g.m) <= gs.len()) {
        for n in 0..g.n {
            let yn = &mut yd[n * out_img..(n + 1) * out_img];
            super::split::dconv_split(isas.stem(), &cgeom, g.m, &xd[n * in_img..(n + 1) * in_img], wf, bd, &act, yn, gs, workers)?;
        }
        return Ok(());
    }
    for n in 0..g.n {
        for gi in 0..g.group {
            let xg = &xd[n * in_img + gi * cg * hw_in..n * in_img + (gi + 1) * cg * hw_in];
            let bmat = if g.pointwise() {
                Operand::F32(MatRef::row_major(xg, gk, gn))
            } else if g.packs_im2col() {
                Operand::Im2col(Im2colRef::new(xg, cgeom))
            } else {
                im2col_split(&g, xg, cols, workers);
                Operand::F32(MatRef::row_major(cols, gk, gn))
            };
            let wg = wd.mat(gi * mg * gk, mg, gk).ok_or(OpError::BadShape("conv weight size is inconsistent"))?;
            let yo = n * out_img + gi * mg * gn;
            let bias = match bd {
                Some(b) => Bias::Row(&b[gi * mg..(gi + 1) * mg]),
                None => Bias::None,
            };
            super::split::sgemm_split(isas.dense, wg, bmat, &mut yd[yo..yo + mg * gn], bias, &act, gs, workers)?;
        }
    }
    Ok(())
}

/// A pointwise conv over weights in 64-channel panels ([`Encoding::Panel64`], `pw64`), image by
/// image; on more than one thread the panels are split across the workers.
#[allow(clippy::too_many_arguments)]
fn exec_conv_panel64(g: &Geom, x: &TensorView, w: &TensorView, b: Option<&TensorView>, y: &mut TensorViewMut, act: &Activation, scratch: &mut [u8], isa: Isa, workers: &Workers) -> Result<(), OpError> {
    let (m, k, n) = (g.m, g.c, g.oh * g.ow);
    let xd = data::<f32>(x)?;
    let wp: &[f32] = bytemuck::try_cast_slice(w.bytes).map_err(|_| OpError::BadShape("panel64 weight misaligned"))?;
    if wp.len() != pw64::packed_len(m, k) {
        return Err(OpError::BadShape("panel64 weight size is inconsistent"));
    }
    let bd = match b {
        Some(b) => Some(data::<f32>(b)?),
        None => None,
    };
    if bd.is_some_and(|b| b.len() != m) {
        return Err(OpError::BadShape("conv bias must be [M]"));
    }
    let need = pw64::scratch_len(n, k);
    let (sc, _) = f32_region(scratch, 0, need)?;
    let yd = data_mut::<f32>(y)?;
    for img in 0..g.n {
        let xi = &xd[img * k * n..(img + 1) * k * n];
        let yi = &mut yd[img * m * n..(img + 1) * m * n];
        super::split::pw64_split(isa, m, k, n, wp, xi, bd, act, yi, sc, workers)?;
    }
    Ok(())
}

/// The f32 weights of a conv that takes the direct stride-2 kernels ([`dconv`]: group 1, stride
/// 2, dilation 1, at most `dconv::MAX_C` input channels, i.e. the stems of image networks), or
/// `None` for the GEMM path (also where this build has no SIMD kernel for `isa`). The scratch
/// planned for the GEMM always covers the direct path's (its staged rows and repacked weights
/// are far smaller than the GEMM's packing buffers); the caller still checks. MobileNetV1's
/// 3x3/2 stem over RGB (32x27x12544), one thread: 1.20x the packed-im2col GEMM on AVX2, 1.34x
/// on AVX-512 (BENCHMARKS.md, "Session 15").
fn direct_stem<'a>(isa: Isa, g: &Geom, w: &Elems<'a>) -> Option<&'a [f32]> {
    match w {
        Elems::F32(w) if g.group == 1 && dconv::takes(isa, &g.conv_geom(g.c)) => Some(w),
        _ => None,
    }
}

/// Conv with a block-sparse weight (group 1): SpMM on the input (pointwise) or on its im2col
/// columns in scratch; see [`super::sparse`].
#[allow(clippy::too_many_arguments)]
fn exec_conv_sparse(
    g: &Geom,
    x: &TensorView,
    w: &TensorView,
    b: Option<&TensorView>,
    y: &mut TensorViewMut,
    act: &Activation,
    scratch: &mut [u8],
    isa: Isa,
    workers: &Workers,
) -> Result<(), OpError> {
    if g.group != 1 {
        return Err(OpError::Unsupported("block-sparse conv weights need group 1 (no grouped or depthwise conv)"));
    }
    let (ncols, _, hw, k) = conv_plan(g);
    let s = super::sparse::matrix(w, g.m, k, workers)?;
    let xd = data::<f32>(x)?;
    let bd = match b {
        Some(b) => Some(data::<f32>(b)?),
        None => None,
    };
    if bd.is_some_and(|b| b.len() != g.m) {
        return Err(OpError::BadShape("conv bias must be [M]"));
    }
    let yd = data_mut::<f32>(y)?;
    let kact = super::sparse::kernel_act(act, bd.is_some());
    let (in_img, out_img) = (g.c * g.h * g.w, g.m * hw);
    // A pointwise conv whose H·W is not a multiple of 16 reads B from a copy with rows padded to
    // cache lines where that pays (`spmm::aligned_ldb`) and the scratch holds it: the converter
    // plans the copy's room ([`scratch_wanted_conv`]); files planned before it did not, and run
    // without the copy.
    let fits = |ld: usize| k.checked_mul(ld).and_then(|e| f32_region_end(0, e).ok()).is_some_and(|end| end <= scratch.len());
    let copy_pays = workers.threads() == 1 || hw <= PADDED_B_MAX_N_THREADED;
    let padded = if g.pointwise() && copy_pays { aligned_ldb(isa, &s, hw).filter(|&ld| fits(ld)) } else { None };
    let (buf, _) = f32_region(scratch, 0, padded.map_or(ncols, |ld| k * ld))?;
    for n in 0..g.n {
        let xn = &xd[n * in_img..(n + 1) * in_img];
        let yn = &mut yd[n * out_img..(n + 1) * out_img];
        let (bmat, ldb): (&[f32], usize) = if let Some(ld) = padded {
            super::sparse::copy_rows_strided(xn, k, hw, buf, ld, workers);
            (buf, ld)
        } else if g.pointwise() {
            (xn, hw)
        } else {
            im2col_split(g, xn, buf, workers);
            (buf, hw)
        };
        super::sparse::conv_image(&s, bmat, ldb, hw, yn, &kact, isa, workers);
        if let Some(bias) = bd {
            super::sparse::conv_bias(bias, hw, yn, act);
        }
    }
    Ok(())
}

/// On more than one thread, the largest H·W for which a sparse pointwise conv copies B to padded
/// rows (`spmm::aligned_ldb`). Each thread of the row split reads all of B, half of it written by
/// the other CPU, and the copy adds one more such pass: 90 % unstructured MobileNetV1 on two
/// threads, per layer, four alternating runs of the binaries before and after (EPYC Zen 4 VM,
/// 2026-11-25): N = 49 0.153 against 0.168 ms (b12.pw), N = 196 0.131 against 0.127 ms (b6.pw)
/// and 0.077 against 0.068 (b5.pw). On one thread the copy pays at both (0.220 against 0.243 ms
/// for b6.pw).
const PADDED_B_MAX_N_THREADED: usize = 64;

/// Splits the scratch into the columns (`ncols` f32 at 0) and the GEMM scratch (at least `ngemm`
/// f32, all the rest, from the next 64-byte boundary), the layout `scratch_bytes` sizes.
fn split_scratch(scratch: &mut [u8], ncols: usize, ngemm: usize) -> Result<(&mut [f32], &mut [f32]), OpError> {
    let mid = f32_region_end(0, ncols)?.div_ceil(64) * 64;
    let (head, tail) = scratch.split_at_mut(mid.min(scratch.len()));
    let (cols, _) = f32_region(head, 0, ncols)?;
    // The GEMM gets all the rest (at least `ngemm`): it puts room beyond its minimum to use
    // (`sgemm_scratch_wanted`).
    let (gs, _) = f32_region(tail, 0, ngemm.max(tail.len() / 4))?;
    Ok((cols, gs))
}

pub(crate) fn check_conv_transpose(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    let (g, _) = check_common(params, inputs, outputs, true)?;
    let (ncols, m, n, k) = convt_plan(&g);
    scratch_bytes(ncols, gemm_scratch_len(m, n, k))
}

/// (column elements, gemm m, n, k) for a ConvTranspose.
fn convt_plan(g: &Geom) -> (usize, usize, usize, usize) {
    let rows = g.mg() * g.kh * g.kw;
    let hw = g.h * g.w;
    (rows * hw, rows, hw, g.cg())
}

pub(crate) fn exec_conv_transpose(params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut], scratch: &mut [u8], isa: Isa) -> Result<(), OpError> {
    let x = req(inputs, 0, "ConvTranspose needs X")?;
    let w = req(inputs, 1, "ConvTranspose needs W")?;
    let b = inputs.get(2).copied().flatten();
    let y = outputs.first_mut().ok_or(OpError::BadShape("ConvTranspose needs one output"))?;
    let p: ConvParams = read_params(params)?;
    let act = activation(&p)?;
    let g = geom(&p, &x.info.shape, &w.info.shape, &y.info.shape, true)?;
    let xd = data::<f32>(&x)?;
    let wd = data::<f32>(&w)?;
    let bd = match b {
        Some(b) => Some(data::<f32>(&b)?),
        None => None,
    };
    if bd.is_some_and(|b| b.len() != g.m) {
        return Err(OpError::BadShape("ConvTranspose bias must be [M]"));
    }
    let yd = data_mut::<f32>(y)?;
    let (ncols, gm, gn, gk) = convt_plan(&g);
    let (cols, gs) = split_scratch(scratch, ncols, sgemm_scratch_len(gm, gn, gk))?;
    let (cg, mg, hw_in, ohw) = (g.cg(), g.mg(), g.h * g.w, g.oh * g.ow);
    let (in_img, out_img) = (g.c * hw_in, g.m * ohw);
    for n in 0..g.n {
        let yn = &mut yd[n * out_img..(n + 1) * out_img];
        for (mi, plane) in yn.chunks_exact_mut(ohw.max(1)).enumerate().take(g.m) {
            plane.fill(bd.map_or(0.0, |b| b[mi]));
        }
        for gi in 0..g.group {
            let xg = MatRef::row_major(&xd[n * in_img + gi * cg * hw_in..n * in_img + (gi + 1) * cg * hw_in], cg, hw_in);
            // W_g is [cg × mg·kh·kw] row-major; its transpose is a stride swap.
            let wg = MatRef::row_major(&wd[gi * cg * gm..(gi + 1) * cg * gm], cg, gm).t();
            sgemm(isa, wg, xg, MatMut::row_major(cols, gm, gn), Bias::None, &Activation::NONE, gs);
            for mm in 0..mg {
                let plane = &mut yn[(gi * mg + mm) * ohw..(gi * mg + mm + 1) * ohw];
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let row = &cols[((mm * g.kh + ky) * g.kw + kx) * gn..((mm * g.kh + ky) * g.kw + kx + 1) * gn];
                        for iy in 0..g.h {
                            let oy = (iy * g.sh + ky * g.dh) as isize - g.pt as isize;
                            if oy < 0 || oy >= g.oh as isize {
                                continue;
                            }
                            let prow = &mut plane[oy as usize * g.ow..(oy as usize + 1) * g.ow];
                            for ix in 0..g.w {
                                let ox = (ix * g.sw + kx * g.dw) as isize - g.pl as isize;
                                if ox >= 0 && (ox as usize) < g.ow {
                                    prow[ox as usize] += row[iy * g.w + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
        act.apply_slice(yn);
    }
    Ok(())
}
