//! Per-layer choice of the weight format: dense or block-sparse, and the block shape.
//!
//! Runs after folding and fusion, over Conv (group 1) and MatMul nodes whose weight is a constant
//! f32 tensor. For each candidate layout (R×1, R ∈ {1,2,4,8}; 1×C, C ∈ {4,8}) it counts the stored
//! blocks with `sprig_kernels::sparse::analyze` and estimates the run time of the kernel the
//! runtime would call (see `sprig_runtime::ops::sparse`) with the cost table below; the layer
//! goes sparse with the layout whose estimate times its margin ([`MARGIN`], or
//! [`MARGIN_RED_SPMM`] for 1×C blocks under SpMM) is lowest, when that product beats dense.
//!
//! Encoding written for a sparse layer (the runtime's contract):
//! - Conv `W[M, C, kh, kw]`: blob of `W` as `M × C·kh·kw`, same logical shape;
//! - MatMul `B[K, N]`: blob of **Bᵀ** (`N × K`), logical shape `[N, K]` (a new tensor
//!   `<B>_sparse`, B itself stays for any other reader);
//! - a constant bias that is one value per output channel (Conv `[M]`, MatMul row vector `[N]`)
//!   moves **into the blob** and the node loses its bias input, so that bias and activation run in
//!   the kernel epilogue; any other bias stays an input.
//!
//! `--format dense|sparse` forces the choice for every candidate, `--block RxC` restricts the
//! layouts considered.
use crate::ir::{Graph, TensorId};
use crate::tensor::OwnedData;
use anyhow::{anyhow, bail, Result};
use sprig_kernels::sparse::{analyze, pack, Layout};
use sprig_runtime::ops::params::ConvParams;
use sprig_runtime::ops::sparse::SPMV_MAX_ROWS;
use sprig_runtime::ops::{read_params, OpKind};

/// Dense or sparse for every candidate layer, or decided by the cost model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FormatChoice {
    #[default]
    Auto,
    Dense,
    Sparse,
}

impl std::str::FromStr for FormatChoice {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => FormatChoice::Auto,
            "dense" => FormatChoice::Dense,
            "sparse" => FormatChoice::Sparse,
            _ => bail!("unknown weight format '{s}' (expected auto, dense or sparse)"),
        })
    }
}

/// Parses a block shape `RxC` (`4x1`, `1x8`, ...) into a layout the encoder supports.
pub fn parse_block(s: &str) -> Result<Layout> {
    let (r, c) = s.split_once(['x', 'X']).ok_or_else(|| anyhow!("block '{s}' is not RxC (e.g. 4x1)"))?;
    let (r, c): (u8, u8) = (r.trim().parse()?, c.trim().parse()?);
    let l = if c == 1 { Layout::RowBlock(r) } else if r == 1 { Layout::RedBlock(c) } else { bail!("block '{s}': one side must be 1") };
    if !l.is_valid() {
        bail!("block '{s}' is not supported (R x 1 with R in 1, 2, 4, 8, or 1 x C with C in 4, 8)");
    }
    Ok(l)
}

// Cost table, measured with `cargo run --release -p sprig-benches --example calibrate` on the
// dev VM (AMD EPYC Zen 4, AVX2+FMA kernels, 1 thread, under `chrt -f 10`), 2026-11-25, medians of
// three runs (each a median over MobileNet pointwise and BERT FC shapes at 50/70/90/95 %), with B
// and C on 64-byte boundaries and the pointwise conv's padded copy of B, as the runtime runs them:
//   dense: 0.0206 ns/MAC sgemm (n > 1; runs 0.0190-0.0210), 0.0500 ns/MAC GEMV (n = 1)
//   layout  spmm ns/block/tile (nr)  spmv ns/block  parse ns/block
//   1x1     2.473 (64)               0.221          0.315
//   2x1     1.704 (32)               0.355          0.311
//   4x1     1.450 (16)               0.314          0.315
//   8x1     1.857 (8)                0.482          0.323
//   1x4     9.847 (64)               0.412          0.689
//   1x8     19.434 (64)              0.596          0.909
// (SpMM time is per stored block per tile of the table row's `nr` columns, whichever row `spmm`
// dispatches for the shape.) Checked against every shape x layout x sparsity of the three runs
// (936 cases; this table's estimate x margin against the measured ratio): no sparse choice is
// slower than dense, the slowest chosen case ran 1.45x faster than dense (1x1 on 768x3072x128 at
// 70 %), and 208 cases >= 1.3x faster stay dense (240 with the previous table). The previous
// table (2026-11-24: dense 0.0253 / 0.0930 ns/MAC, 1x1 SpMM 4.081, 4x1 2.158, ...) came from a
// loaded host and from B 16 bytes off a cache line (every B load split two lines), before the
// SpMM's padded copy and small panels: its SpMM / dense ratios were 15-25 % too high for the
// row-block layouts, so auto kept 70 % unstructured MobileNetV1 pointwise layers dense although
// they ran 1.8-2x faster sparse. The same day's run with the old harness gave 1x1 2.683 ns
// against this 2.473. Before that (2026-05: dense 0.0869 / 0.1841, 1x1 6.908, SpMV 1.033, ...)
// the table predated a 3.4x faster dense GEMM and 2-3x faster SpMV; with it and MARGIN 2.0, SpMV
// at 90 % unstructured on the BERT shapes (2.3-3.5x faster than the GEMV) stayed dense.
const DENSE_GEMM_NS_PER_MAC: f64 = 0.0206;
const DENSE_GEMV_NS_PER_MAC: f64 = 0.0500;
/// The MatMul SpMM path transposes A in and Y out through scratch: ns per element of the
/// runtime's blocked transpose (`calibrate`, 2026-11-25, medians 0.127-0.130 in three runs over
/// 16x64, 128x768, 128x3072 and 384x768; 0.197 on 2026-11-24's loaded host). It was 0.5,
/// estimated from a batch sweep, which kept the small MatMuls of a 90 % pruned BERT (hidden 64,
/// 16 rows) dense though sparse measured 4.6x faster with its transposes.
const TRANSPOSE_NS_PER_ELEM: f64 = 0.128;

/// (layout, N-tile width of the SpMM row `calibrate` timed, SpMM ns per stored block per N tile,
/// SpMV ns per stored block, parse ns per block). The tile widths are those of the AVX2 rows (the
/// calibration's ISA; `calibrate` prints them) and are constants here, not a lookup in this
/// build's kernel table: a converter built for aarch64 has no AVX2 rows, and a lookup there had
/// fallen back to 1, which multiplied every SpMM estimate by 8-64 and kept all sparse convs and
/// batched MatMuls dense, so the file depended on the machine that converted it.
/// `calibration_tiles_match_the_avx2_table` checks them against the table on x86_64.
const SPARSE_COST: [(Layout, usize, f64, f64, f64); 6] = [
    (Layout::RowBlock(1), 64, 2.473, 0.221, 0.315),
    (Layout::RowBlock(2), 32, 1.704, 0.355, 0.311),
    (Layout::RowBlock(4), 16, 1.450, 0.314, 0.315),
    (Layout::RowBlock(8), 8, 1.857, 0.482, 0.323),
    (Layout::RedBlock(4), 64, 9.847, 0.412, 0.689),
    (Layout::RedBlock(8), 64, 19.434, 0.596, 0.909),
];

/// Sparse must be estimated at least this much faster than dense to be chosen. Per-block costs
/// vary across shapes (1x1 SpMM 0.9-4.8 ns/block/tile in the 2026-11-25 runs, 3.0-5.5 on
/// 2026-11-24), and a wrong sparse choice costs more than a missed one; 1.5 is what the check in
/// the comment above supports (2.0 before the recalibration, when SpMV and dense were both
/// slower).
pub const MARGIN: f64 = 1.5;

/// The margin for 1×C (reduction-blocked) layouts under SpMM. Their cost per block grows with K
/// more than the table's median shows (each block reads C rows of B for one output row): the 1x4
/// kernel measured 13.7 ns/block/tile at the median but 22.6-26.3 on 768x3072x128, where at 70 %
/// it ran 0.81-0.90x of dense (1x8 0.94x) in two of three calibration runs (2026-11-24) while
/// MARGIN 1.5 chose it. With 2.0 no case of the three runs is chosen sparse
/// while slower; three or four more 1×C SpMM cases per run that are 1.3-1.6x faster (70 %) stay
/// dense instead.
/// (The third slow pick of the first run, 8x1 on the tiny 128x64x16 at 70 %: 0.95x, was that
/// run's noise: 1.5 and 1.6 us, 2.0-2.3x faster than dense, in the other two.) On the quieter
/// host of the 2026-11-25 recalibration the same 1x4 case ran 1.32-1.44x faster than dense
/// (11.6-13.0 ns/block/tile against the table's 9.8), still the slowest 1×C case; the margin
/// stays.
pub const MARGIN_RED_SPMM: f64 = 2.0;

/// The margin sparse layout `l` must beat dense by (see [`MARGIN`], [`MARGIN_RED_SPMM`]).
fn margin(l: Layout, spmv: bool) -> f64 {
    if matches!(l, Layout::RedBlock(_)) && !spmv {
        MARGIN_RED_SPMM
    } else {
        MARGIN
    }
}

/// Options of the pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct SparsifyOptions {
    pub format: FormatChoice,
    /// Only this layout (else every supported one).
    pub block: Option<Layout>,
}

/// What the pass decided for one candidate layer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SparseLayer {
    pub node: String,
    /// Fraction of zero weights.
    pub sparsity: f64,
    /// "dense" or "block-sparse".
    pub encoding: String,
    /// "4x1" ... for sparse layers, "-" for dense ones.
    pub block: String,
    /// Non-zero weights.
    pub nnz: usize,
    /// Stored weight bytes (blob incl. bias for sparse; weight + bias for dense).
    pub bytes: usize,
    /// FLOPs the sparse kernel skips (2 per multiply-add of a weight not stored).
    pub flops_saved: u64,
    /// Cost-model estimates, ns per run.
    pub est_dense_ns: f64,
    pub est_sparse_ns: f64,
}

/// A candidate: the weight as a row-major `m × k` matrix and `cols` right-hand columns per call,
/// `calls` times per run.
struct Candidate {
    weight: TensorId,
    /// Weight values as the blob will hold them (`Bᵀ` for MatMul).
    w: Vec<f32>,
    m: usize,
    k: usize,
    /// N of one SpMM (Conv: OH·OW; MatMul: rows), or rows of SpMV calls.
    cols: usize,
    calls: usize,
    spmv: bool,
    /// Constant per-output bias to move into the blob.
    bias: Option<(TensorId, Vec<f32>)>,
    matmul: bool,
}

fn const_f32(g: &Graph, t: TensorId) -> Option<&[f32]> {
    match &g.tensors[t].data {
        Some(OwnedData::F32(v)) if g.tensors[t].sparse.is_none() => Some(v),
        _ => None,
    }
}

fn candidate(g: &Graph, ni: usize) -> Option<Candidate> {
    let n = &g.nodes[ni];
    let w = n.inputs.get(1).copied().flatten()?;
    let wv = const_f32(g, w)?;
    let bias_t = n.inputs.get(2).copied().flatten();
    match n.op {
        OpKind::Conv => {
            let p: ConvParams = read_params(&n.params).ok()?;
            let ws = &g.tensors[w].shape;
            let y = &g.tensors[*n.outputs.first()?].shape;
            if p.group != 1 || ws.len() < 3 || y.len() != ws.len() {
                return None;
            }
            let (m, k) = (ws[0], ws[1..].iter().product());
            let bias = bias_t.and_then(|b| Some((b, const_f32(g, b)?.to_vec()))).filter(|(_, v)| v.len() == m);
            if bias_t.is_some() && bias.is_none() {
                return None;
            }
            Some(Candidate { weight: w, w: wv.to_vec(), m, k, cols: y[2..].iter().product(), calls: y[0], spmv: false, bias, matmul: false })
        }
        OpKind::MatMul => {
            let a = n.inputs.first().copied().flatten()?;
            let (sa, sb) = (&g.tensors[a].shape, &g.tensors[w].shape);
            if sb.len() != 2 || sa.is_empty() || g.tensors[a].is_const() {
                return None;
            }
            let (k, nn) = (sb[0], sb[1]);
            let rows: usize = sa[..sa.len() - 1].iter().product();
            let bt: Vec<f32> = (0..nn * k).map(|i| wv[(i % k) * nn + i / k]).collect();
            // A row-vector bias over N goes into the blob; any other stays an input.
            let bias = bias_t.and_then(|b| {
                let s = &g.tensors[b].shape;
                let row = s.last() == Some(&nn) && s[..s.len() - 1].iter().all(|&d| d == 1);
                row.then(|| Some((b, const_f32(g, b)?.to_vec()))).flatten()
            });
            let spmv = rows <= SPMV_MAX_ROWS;
            Some(Candidate {

                weight: w,
                w: bt,
                m: nn,
                k,
                cols: if spmv { 1 } else { rows },
                calls: if spmv { rows } else { 1 },
                spmv,
                bias,
                matmul: true,
            })
        }
        _ => None,
    }
}

fn est_dense(c: &Candidate) -> f64 {
    let macs = (c.m * c.k * c.cols * c.calls) as f64;
    macs * if c.spmv || c.cols == 1 { DENSE_GEMV_NS_PER_MAC } else { DENSE_GEMM_NS_PER_MAC }
}

fn est_sparse(c: &Candidate, l: Layout, nnz_blocks: usize) -> f64 {
    let (_, nr, mm, mv, parse) = SPARSE_COST.iter().copied().find(|e| e.0 == l).expect("every layout has a cost row");
    let b = nnz_blocks as f64;
    let run = if c.spmv { b * mv * c.calls as f64 } else { b * mm * c.cols.div_ceil(nr) as f64 * c.calls as f64 };
    // Parsed once per run; the MatMul SpMM path also transposes A and Y through scratch.
    let transpose = if c.matmul && !c.spmv { TRANSPOSE_NS_PER_ELEM * ((c.k + c.m) * c.cols) as f64 } else { 0.0 };
    run + b * parse + transpose
}

/// The best sparse layout for a candidate: the lowest estimate × margin.
struct Choice {
    layout: Layout,
    /// Its estimated ns per run.
    sparse_ns: f64,
    /// `sparse_ns` × the layout's margin: sparse goes ahead (auto) when this beats dense.
    sparse_risk: f64,
    /// Non-zero weights.
    nnz: usize,
}

fn choose(c: &Candidate, layouts: &[Layout]) -> Result<Choice, sprig_kernels::sparse::EncodeError> {
    let mut best: Option<Choice> = None;
    for &l in layouts {
        let st = analyze(&c.w, c.m, c.k, l)?;
        let ns = est_sparse(c, l, st.nnz_blocks);
        let risk = ns * margin(l, c.spmv);
        if best.as_ref().is_none_or(|b| risk < b.sparse_risk) {
            best = Some(Choice { layout: l, sparse_ns: ns, sparse_risk: risk, nnz: st.nnz });
        }
    }
    Ok(best.expect("at least one layout"))
}

/// Runs the pass; returns one entry per candidate layer (dense or sparse).
pub fn run(g: &mut Graph, opts: &SparsifyOptions) -> Result<Vec<SparseLayer>> {
    let mut out = Vec::new();
    for ni in 0..g.nodes.len() {
        let Some(c) = candidate(g, ni) else { continue };
        let layouts: Vec<Layout> = match opts.block {
            Some(l) => vec![l],
            None => Layout::ALL.to_vec(),
        };
        let dense_ns = est_dense(&c);
        let Choice { layout, sparse_ns, sparse_risk, nnz } =
            choose(&c, &layouts).map_err(|e| anyhow!("node '{}': weight '{}': {e}", g.nodes[ni].name, g.tensors[c.weight].name))?;
        let numel = c.m * c.k;
        let sparsity = if numel == 0 { 0.0 } else { 1.0 - nnz as f64 / numel as f64 };
        let go = match opts.format {
            FormatChoice::Dense => false,
            FormatChoice::Sparse => true,
            FormatChoice::Auto => sparse_risk < dense_ns,
        };
        let name = g.nodes[ni].name.clone();
        let dense_bytes = numel * 4 + c.bias.as_ref().map_or(0, |b| b.1.len() * 4);
        let macs_per_weight = (c.cols * c.calls) as u64;
        if !go {
            out.push(SparseLayer {
                node: name,
                sparsity,
                encoding: "dense".into(),
                block: "-".into(),
                nnz,
                bytes: dense_bytes,
                flops_saved: 0,
                est_dense_ns: dense_ns,
                est_sparse_ns: sparse_ns,
            });
            continue;
        }
        let st = analyze(&c.w, c.m, c.k, layout).map_err(|e| anyhow!("node '{name}': {e}"))?;
        let mut blob = vec![0u8; if c.bias.is_some() { st.bytes_with_bias } else { st.bytes }];
        pack(&c.w, c.m, c.k, c.bias.as_ref().map(|b| &b.1[..]), layout, &mut blob).map_err(|e| anyhow!("node '{name}': {e}"))?;
        let bytes = blob.len();
        let wt = &g.tensors[c.weight];
        let new_t = if c.matmul {
            let tname = g.fresh_name(&format!("{}_sparse", wt.name));
            let id = g.add_const(tname, vec![c.m, c.k], OwnedData::F32(c.w.clone()));
            g.tensors[id].sparse = Some(blob);
            id
        } else if g.consumers()[c.weight].len() == 1 {
            g.tensors[c.weight].sparse = Some(blob);
            c.weight
        } else {
            let (tname, shape) = (g.fresh_name(&format!("{}_sparse", wt.name)), wt.shape.clone());
            let id = g.add_const(tname, shape, OwnedData::F32(c.w.clone()));
            g.tensors[id].sparse = Some(blob);
            id
        };
        let node = &mut g.nodes[ni];
        node.inputs[1] = Some(new_t);
        if c.bias.is_some() {
            node.inputs.truncate(2);
        }
        out.push(SparseLayer {
            node: name,
            sparsity,
            encoding: "block-sparse".into(),
            block: layout.to_string(),
            nnz,
            bytes,
            // Zeros inside stored blocks are multiplied all the same.
            flops_saved: 2 * numel.saturating_sub(st.nnz_blocks * layout.block().0 * layout.block().1) as u64 * macs_per_weight,
            est_dense_ns: dense_ns,
            est_sparse_ns: sparse_ns,
        });
    }
    Ok(out)
}

/// Copies the pass's per-layer facts into the conversion report (by node name).
pub fn annotate(layers: &mut [crate::convert::LayerReport], sparse: &[SparseLayer]) {
    for l in layers {
        if let Some(s) = sparse.iter().find(|s| s.node == l.name) {
            l.sparsity = Some(s.sparsity);
            l.encoding = s.encoding.clone();
            l.block = s.block.clone();
            l.nnz = Some(s.nnz);
            l.param_bytes = s.bytes;
            l.flops_saved = s.flops_saved;
        }
    }
}

/// Facts about the weight of a Conv or MatMul node of a written model, for `sprig inspect`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WeightStats {
    /// Fraction of zero weights.
    pub sparsity: f64,
    /// "4x1" ... for block-sparse weights, "-" for dense ones.
    pub block: String,
    /// Non-zero weights.
    pub nnz: usize,
    /// Fraction of the layer's multiply-adds the kernel skips (0 for dense; zeros inside stored
    /// blocks are not skipped).
    pub skipped: f64,
    /// The kernel the runtime calls for this layer with `isas` (as `ops::conv`/`ops::matmul` and
    /// `ops::sparse` choose it: block-sparse weights and direct stem convs on `isas.sparse`,
    /// depthwise convs on `isas.depthwise(ow)`, other dense ones on `isas.dense`).
    pub kernel: String,
}

/// The kernels' geometry of a 2-D Conv (`c` = all input channels) from its parameters and its
/// input and output shapes (`[n, c, h, w]`, `[n, m, oh, ow]`; missing dims read as 0).
pub fn conv_geom(p: &ConvParams, x: &[usize], y: &[usize]) -> sprig_kernels::geom::ConvGeom {
    let d = |v: &[usize], i: usize| v.get(i).copied().unwrap_or(0);
    let u = |v: u32| v as usize;
    sprig_kernels::geom::ConvGeom { c: d(x, 1), h: d(x, 2), w: d(x, 3), kh: u(p.kernel[0]), kw: u(p.kernel[1]), sh: u(p.strides[0]), sw: u(p.strides[1]), dh: u(p.dilations[0]), dw: u(p.dilations[1]), pt: u(p.pads[0]), pl: u(p.pads[1]), oh: d(y, 2), ow: d(y, 3) }
}

/// The direct stride-2 kernel a Conv runs on with `isa` (as `ops::conv::direct_stem` picks it:
/// group 1, f32 weight, rank-4 input, [`sprig_kernels::dconv::takes`]), else `None`.
pub fn direct_conv_kernel(isa: sprig_kernels::Isa, p: &ConvParams, x: &[usize], y: &[usize], f32_weight: bool) -> Option<&'static str> {
    use sprig_kernels::dconv;
    (p.group == 1 && f32_weight && x.len() == 4 && dconv::takes(isa, &conv_geom(p, x, y))).then(|| dconv::kernel_for(isa).name)
}

/// [`WeightStats`] of node `k`; `None` for nodes without a constant Conv/MatMul weight.
pub fn weight_stats(model: &sprig_runtime::Model, k: usize, isas: impl Into<sprig_runtime::Isas>) -> Option<WeightStats> {
    let isas: sprig_runtime::Isas = isas.into();
    let isa = isas.dense;
    use sprig_kernels::sparse::{spmm::spmm_kernel_for_n, spmv::spmv_kernel_for, SparseMatrix};
    use sprig_runtime::tensor::Encoding;
    let n = model.node(k)?;
    if !matches!(n.op, OpKind::Conv | OpKind::MatMul) {
        return None;
    }
    let wv = *n.inputs.get(1)?;
    let w = model.value(wv)?;
    let bytes = model.const_bytes(wv)?;
    let numel = w.shape.numel();
    let gemm = || sprig_kernels::gemm::kernel_for(isa).filter(|_| isa.available()).map_or("sgemm_ref_scalar", |k| k.name).to_string();
    // Weights the kernel multiplies (stored blocks, zeros inside them included).
    let mut stored = numel;
    let (nnz, block, kernel) = match w.encoding {
        Encoding::BlockSparse => {
            let s = SparseMatrix::parse(bytes).ok()?;
            // f32 or f16 values, widened.
            let nnz = (0..s.values_len()).filter(|&i| s.value(i) != 0.0).count();
            // The SpMM's N: a MatMul's rows (SpMV up to SPMV_MAX_ROWS), a 1x1 Conv's H·W (per image).
            let rows = match n.op {
                OpKind::MatMul => {
                    let a = model.value(*n.inputs.first()?)?;
                    a.shape.dims()[..a.shape.rank().saturating_sub(1)].iter().product::<usize>()
                }
                _ => {
                    let y = model.value(*n.outputs.first()?)?;
                    y.shape.dims().iter().skip(2).product::<usize>().max(SPMV_MAX_ROWS + 1)
                }
            };
            let (layout, vt) = (s.layout(), s.value_type());
            let sp = isas.sparse;
            let kernel = if rows <= SPMV_MAX_ROWS { spmv_kernel_for(sp, layout, vt).name } else { spmm_kernel_for_n(sp, layout, vt, rows).name };
            let (r, c) = s.layout().block();
            stored = s.nnz_blocks() * r * c;
            (nnz, s.layout().to_string(), kernel.to_string())
        }
        Encoding::Panel64 => {
            let vals = bytemuck::try_cast_slice::<u8, f32>(bytes).ok()?;
            let nnz = vals.iter().filter(|&&x| x != 0.0).count();
            (nnz, "-".to_string(), sprig_kernels::pw64::kernel_name(isas.pointwise_panels()).to_string())
        }
        Encoding::Dense => {
            let nnz = match w.dtype {
                // f16 bits: zero is +0 or -0.
                sprig_runtime::DType::F16 => bytemuck::try_cast_slice::<u8, u16>(bytes).ok()?.iter().filter(|&&h| h & 0x7fff != 0).count(),
                _ => bytemuck::try_cast_slice::<u8, f32>(bytes).ok()?.iter().filter(|&&x| x != 0.0).count(),
            };
            let conv = if n.op == OpKind::Conv { read_params::<ConvParams>(n.params).ok() } else { None };
            let depthwise = conv.is_some_and(|p| p.group > 1 && w.shape[1] == 1);
            let shape = |v: Option<&u32>| v.and_then(|&v| model.value(v)).map(|t| t.shape.dims().to_vec()).unwrap_or_default();
            let direct = conv.and_then(|p| direct_conv_kernel(isas.stem(), &p, &shape(n.inputs.first()), &shape(n.outputs.first()), w.dtype == sprig_runtime::DType::F32));
            let kernel = if let (true, Some(p)) = (depthwise, conv) {
                // The runtime's choice (`Isas::depthwise`, then the 3x3 or row kernel), as bench names it.
                let g = conv_geom(&p, &shape(n.inputs.first()), &shape(n.outputs.first()));
                sprig_kernels::dwconv::kernel_name(isas.depthwise(g.ow), &g).to_string()
            } else if let Some(k) = direct {
                k.to_string()
            } else {
                gemm()
            };
            // f16 weights run the same kernels on weights widened while packing (or per
            // depthwise filter; `sgemm_mixed`, `dwconv2d_f16w`).
            let kernel = if w.dtype == sprig_runtime::DType::F16 { format!("{kernel}+f16w") } else { kernel };
            (nnz, "-".to_string(), kernel)
        }
    };
    let sparsity = if numel == 0 { 0.0 } else { 1.0 - nnz as f64 / numel as f64 };
    let skipped = if numel == 0 { 0.0 } else { 1.0 - stored.min(numel) as f64 / numel as f64 };
    Some(WeightStats { sparsity, block, nnz, skipped, kernel })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `m × k` weight (row-major) pruned by magnitude ([`crate::synth::prune::prune`]) in
    /// reduction blocks of `cb` consecutive elements of a row (the 1×C layouts).
    fn pruned_red(m: usize, k: usize, cb: usize, sparsity: f32) -> Vec<f32> {
        let mut w: Vec<f32> = (0..m * k).map(|i| 0.5 + ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44) as f32 * 1e-6).collect();
        crate::synth::prune::prune(&mut w, k, m, cb, sparsity, |o, i| i * k + o);
        w
    }

    /// The SpMM tile widths the cost model counts are those of the AVX2 rows `calibrate` timed
    /// (the first AVX2 f32 row for each layout; a wide row comes after its base row). Fails when
    /// a kernel's NR changes without the cost model following.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn calibration_tiles_match_the_avx2_table() {
        use sprig_kernels::sparse::{ValueType, SPMM_KERNELS};
        use sprig_kernels::Isa;
        for l in Layout::ALL {
            let row = SPMM_KERNELS.iter().find(|k| k.isa == Isa::Avx2 && k.dtype == ValueType::F32 && k.block.accepts(l)).expect("an AVX2 row per layout");
            let nr = SPARSE_COST.iter().find(|e| e.0 == l).expect("every layout has a cost row").1;
            assert_eq!(nr, row.nr, "{l}: the cost model counts tiles of {nr} columns, {} has {}", row.name, row.nr);
        }
    }

    /// The estimate is the same whatever the converter's target: on a build without AVX2 rows a
    /// 90 % 4x1 pointwise layer (MobileNetV1 b6.pw, 512x512x196) must still be estimated well
    /// under dense (it had been estimated 16x slower than it runs, so auto kept it dense).
    #[test]
    fn sparse_estimate_beats_dense_at_90_percent_4x1() {
        let (m, k, n) = (512, 512, 196);
        let mut w: Vec<f32> = (0..m * k).map(|i| 0.5 + (i % 97) as f32 * 1e-3).collect();
        crate::synth::prune::prune(&mut w, m, k, 4, 0.9, |o, i| o * k + i);
        let c = conv(m, k, n, w);
        let blocks = analyze(&c.w, m, k, Layout::RowBlock(4)).unwrap().nnz_blocks;
        let (dense, sparse) = (est_dense(&c), est_sparse(&c, Layout::RowBlock(4), blocks));
        assert!(sparse * MARGIN < dense, "90 % 4x1 on {m}x{k}x{n}: sparse {sparse:.0} ns x {MARGIN} against dense {dense:.0} ns");
    }

    fn conv(m: usize, k: usize, cols: usize, w: Vec<f32>) -> Candidate {
        Candidate { weight: 0, w, m, k, cols, calls: 1, spmv: false, bias: None, matmul: false }
    }

    /// 768x3072 weights in 1x4 blocks, N = 128 (a BERT FFN-down shape): at 70 % the 1x4 SpMM
    /// measured 0.81-0.90x of dense although its estimate beats dense by MARGIN, so auto must
    /// not pick a 1×C layout there (MARGIN_RED_SPMM; since the 2026-11-25 table it picks 1x1 on
    /// the same non-zeros, measured 1.45x faster than dense); at 90 % it must go sparse (1x4
    /// measured 2.5-2.9x faster than dense there, 1x1 on as many non-zeros 3.8-4.1x).
    #[test]
    fn reduction_blocks_under_spmm_need_the_wider_margin() {
        let (m, k, n) = (768, 3072, 128);
        let at70 = conv(m, k, n, pruned_red(m, k, 4, 0.7));
        let dense = est_dense(&at70);
        let c = choose(&at70, &Layout::ALL).unwrap();
        let red = est_sparse(&at70, Layout::RedBlock(4), analyze(&at70.w, m, k, Layout::RedBlock(4)).unwrap().nnz_blocks);
        assert!(red * MARGIN < dense, "the case this guards: 1x4 beats dense by MARGIN ({red} ns vs {dense} ns)");
        assert!(red * margin(Layout::RedBlock(4), false) >= dense, "1x4 passes the wider margin ({red} ns vs {dense} ns)");
        let red_chosen = matches!(c.layout, Layout::RedBlock(_)) && c.sparse_risk < dense;
        assert!(!red_chosen, "70 % 1x4 chose {} ({} ns, risk {} ns) against dense {dense} ns", c.layout, c.sparse_ns, c.sparse_risk);
        let at90 = conv(m, k, n, pruned_red(m, k, 4, 0.9));
        let c = choose(&at90, &Layout::ALL).unwrap();
        assert!(c.sparse_risk < est_dense(&at90), "90 % 1x4-pruned stays dense ({} risk {} ns)", c.layout, c.sparse_risk);
    }

    /// The wider margin is for SpMM only: 1x4 blocks under SpMV (batch 1) keep MARGIN.
    #[test]
    fn spmv_keeps_the_plain_margin() {
        assert_eq!(margin(Layout::RedBlock(4), true), MARGIN);
        assert_eq!(margin(Layout::RedBlock(8), false), MARGIN_RED_SPMM);
        for r in [1, 2, 4, 8] {
            assert_eq!(margin(Layout::RowBlock(r), false), MARGIN);
        }
    }
}
