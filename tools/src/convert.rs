//! The converter's public entry points: ONNX bytes in, `.sprig` bytes and a report out.
//!
//! Pipeline: decode the protobuf → lower every ONNX node to runtime ops, folding constants
//! (`onnx`) → fold BatchNormalization, fuse activations, drop dead nodes (`passes`) → plan the
//! arena (`plan`) → write (`writer`) → load the result with the runtime as a self-check.
use crate::ir::{Graph, Node, TensorId};
use crate::writer::{self, FileDef, NodeDef, ValueDef, ValueStorage};
use crate::{onnx, passes, plan, reduce_channels};
use anyhow::{anyhow, bail, Context};
use sprig_runtime::ops::OpKind;
use crate::tensor::OwnedData;
use sprig_runtime::tensor::{DType, Encoding};
use std::path::Path;

/// Options of `sprig convert`.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// Fixed shapes for graph inputs (required for symbolic dimensions), by input name.
    pub input_shapes: Vec<(String, Vec<usize>)>,
    /// Physically remove dead (all-zero) channels, units and the inputs that only feed them
    /// ([`crate::reduce_channels`]); on by default.
    pub reduce_channels: bool,
    /// Weight format per layer (`--format`) and the only block shape to consider (`--block`);
    /// see [`crate::sparsify`].
    pub format: crate::sparsify::FormatChoice,
    pub block: Option<sprig_kernels::sparse::Layout>,
    /// Storage type of Conv/MatMul weights and Gather tables (`--weights`); see [`crate::f16`].
    pub weights: crate::f16::WeightType,
    /// Store dense f32 pointwise conv weights of depth ≥ [`PANEL64_MIN_K`] in 64-channel panels
    /// (`--pointwise-panels`, format 1.2; see [`mark_pointwise_panels`]).
    pub pointwise_panels: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions { input_shapes: Vec::new(), reduce_channels: true, format: Default::default(), block: None, weights: Default::default(), pointwise_panels: false }
    }
}

/// What the converter did to one layer (one node of the written model).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerReport {
    /// Node name in the written model (the ONNX node name where there is one).
    pub name: String,
    /// sprig op name.
    pub op: String,
    /// ONNX nodes merged into this layer (e.g. a fused BatchNormalization and Relu).
    pub fused: Vec<String>,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shapes: Vec<Vec<usize>>,
    /// Weight encoding ("dense", later "block-sparse 4x1" ...), or "-" for ops without weights.
    pub encoding: String,
    /// Parameters (weight + bias elements) and their bytes in the file.
    pub params: usize,
    pub param_bytes: usize,
    /// Multiply-adds counted as 2 FLOPs.
    pub flops: u64,
    /// Weight layers only (set by `sparsify`): fraction of zero weights, block shape ("-" when
    /// dense), non-zero weights, and FLOPs the sparse kernel skips.
    pub sparsity: Option<f64>,
    pub block: String,
    pub nnz: Option<usize>,
    pub flops_saved: u64,
    /// Weight layers only: storage type of the weight ("f32" or "f16"; "-" for layers without
    /// one) and, for f16, the rounding error against the f32 weight ([`crate::f16`]: max abs, and
    /// max abs over the layer's largest weight magnitude).
    pub weight_dtype: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f16_max_abs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f16_max_rel: Option<f64>,
    /// Channels removed by channel reduction, with params and FLOPs before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduced: Option<crate::reduce_channels::LayerChange>,
}

/// The conversion report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub layers: Vec<LayerReport>,
    /// Planned arena size in bytes, and the sum of all intermediate tensors and scratch it holds.
    pub arena_size: u64,
    pub intermediates_total: u64,
    /// Counts of folded or removed ONNX nodes, one line each (e.g. "folded 12 constant nodes").
    pub notes: Vec<String>,
    /// `--weights f16`: the per-layer and whole-model rounding errors ([`crate::f16`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f16: Option<crate::f16::F16Summary>,
}

/// A converted model.
#[derive(Clone, Debug)]
pub struct Conversion {
    pub bytes: Vec<u8>,
    pub report: Report,
}

/// Converts an ONNX file. Errors name the file, and the node, op or tensor at fault.
pub fn convert_file(path: &Path, opts: &ConvertOptions) -> anyhow::Result<Conversion> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("{label}: cannot read the file"))?;
    convert_impl(&bytes, opts, path.parent()).with_context(|| label)
}

/// Smallest depth (input channels) of a pointwise conv whose weights [`mark_pointwise_panels`]
/// stores in panels. AVX-512 kernel against the AVX2 GEMM (cold weights and output, medians of
/// 15 rounds, EPYC Zen 4, 2026-12-07; BENCHMARKS.md "Session 19"): 512x512x196 1.08-1.11x,
/// 1024x512x49 1.18-1.24x, 1024x1024x49 1.11-1.13x, 512x256x196 1.10-1.18x, 256x256x784
/// 1.01-1.03x; at depth 128 and below it lost (256x128x784 0.95x, 128x128x3136 0.95x, 64x32x12544
/// 0.77x: the transposed store of each tile weighs more when a tile sums fewer products).
pub const PANEL64_MIN_K: usize = 256;

/// Marks the weights of dense f32 pointwise convs (1x1, stride 1, no padding, group 1) with at
/// least [`PANEL64_MIN_K`] input channels, used by no other node, to be stored in 64-channel
/// panels. Returns the names of those convs.
pub fn mark_pointwise_panels(g: &mut crate::ir::Graph) -> Vec<String> {
    use sprig_runtime::ops::params::ConvParams;
    let mut uses = vec![0usize; g.tensors.len()];
    for n in &g.nodes {
        for &t in n.inputs.iter().flatten() {
            uses[t] += 1;
        }
    }
    let mut marked = Vec::new();
    for n in &g.nodes {
        if n.op != OpKind::Conv {
            continue;
        }
        let Ok(p) = bytemuck::try_from_bytes::<ConvParams>(&n.params) else { continue };
        let pointwise = p.kernel == [1, 1] && p.strides == [1, 1] && p.pads == [0; 4] && p.dilations == [1, 1] && p.group == 1;
        let Some(Some(w)) = n.inputs.get(1).copied() else { continue };
        let t = &g.tensors[w];
        let f32_dense = t.dtype == DType::F32 && t.sparse.is_none() && matches!(t.data, Some(OwnedData::F32(_)));
        if pointwise && f32_dense && uses[w] == 1 && t.shape.len() == 4 && t.shape[2..] == [1, 1] && t.shape[1] >= PANEL64_MIN_K {
            marked.push((w, n.name.clone()));
        }
    }
    for (w, _) in &marked {
        g.tensors[*w].panel64 = true;
    }
    marked.into_iter().map(|(_, name)| name).collect()
}

/// Converts ONNX model bytes (external tensor data is not available: use [`convert_file`]).
pub fn convert_bytes(onnx: &[u8], opts: &ConvertOptions) -> anyhow::Result<Conversion> {
    convert_impl(onnx, opts, None)
}

fn convert_impl(onnx_bytes: &[u8], opts: &ConvertOptions, dir: Option<&Path>) -> anyhow::Result<Conversion> {
    let model = onnx::decode(onnx_bytes)?;
    let imported = onnx::import(&model, &onnx::ImportOptions { input_shapes: &opts.input_shapes, dir })?;
    let mut g = imported.graph;
    let stats = passes::run(&mut g);
    let unreduced: Vec<LayerReport> = if opts.reduce_channels { g.nodes.iter().map(|n| layer_report(&g, n)).collect() } else { Vec::new() };
    let reduced = if opts.reduce_channels { reduce_channels::run(&mut g) } else { Default::default() };
    // After channel reduction, which reads the Q/K/V biases from the separate Adds.
    let bias_fused = passes::fuse_matmul_bias(&mut g);
    let sparse = crate::sparsify::run(&mut g, &crate::sparsify::SparsifyOptions { format: opts.format, block: opts.block })?;
    let f16 = match opts.weights {
        crate::f16::WeightType::F16 => Some(crate::f16::run(&mut g)?),
        crate::f16::WeightType::F32 => None,
    };
    let panels = if opts.pointwise_panels { mark_pointwise_panels(&mut g) } else { Vec::new() };

    // Scratch sizes come from the runtime's own checks, which also validate every node (the
    // room each op can use, at least what it needs).
    let mut scratch = Vec::with_capacity(g.nodes.len());
    for n in &g.nodes {
        let info = |t: TensorId| g.tensors[t].info().ok_or_else(|| anyhow!("tensor '{}' has rank above 8", g.tensors[t].name));
        let ins: Vec<_> = n.inputs.iter().map(|i| i.map(info).transpose()).collect::<anyhow::Result<_>>()?;
        let outs: Vec<_> = n.outputs.iter().map(|&t| info(t)).collect::<anyhow::Result<_>>()?;
        let need = sprig_runtime::ops::scratch_wanted(n.op, &n.params, &ins, &outs)
            .map_err(|e| anyhow!("node '{}' (sprig {}): the runtime op rejects it: {e}", n.name, n.op.name()))?;
        scratch.push(need);
    }
    let plan = plan::plan_graph(&g, &scratch);

    // Only tensors some node or the graph I/O touches are written.
    let mut index: Vec<Option<u32>> = vec![None; g.tensors.len()];
    let mut def = FileDef { arena_size: plan.arena_size, ..Default::default() };
    let mut value = |t: TensorId, def: &mut FileDef| -> anyhow::Result<u32> {
        if let Some(i) = index[t] {
            return Ok(i);
        }
        let tensor = &g.tensors[t];
        let storage = match (&tensor.data, plan.tensor_offsets[t]) {
            (Some(_), _) if tensor.sparse.is_some() => {
                ValueStorage::Const { bytes: tensor.sparse.clone().unwrap_or_default(), encoding: Encoding::BlockSparse }
            }
            (Some(OwnedData::F32(v)), _) if tensor.panel64 => {
                let (m, k) = (tensor.shape[0], tensor.shape[1]);
                let mut packed = vec![0f32; sprig_kernels::pw64::packed_len(m, k)];
                sprig_kernels::pw64::pack(v, m, k, &mut packed);
                ValueStorage::Const { bytes: bytemuck::cast_slice(&packed).to_vec(), encoding: Encoding::Panel64 }
            }
            // An f16 weight keeps its (rounded) values as f32 in the IR (`crate::f16`).
            (Some(OwnedData::F32(v)), _) if tensor.dtype == DType::F16 => {
                ValueStorage::Const { bytes: crate::f16::f16_bytes(v), encoding: Encoding::Dense }
            }
            (Some(d), _) => ValueStorage::Const { bytes: d.to_bytes(), encoding: Encoding::Dense },
            (None, Some(offset)) => ValueStorage::Arena { offset },
            (None, None) => bail!("converter bug: tensor '{}' has no arena offset", tensor.name),
        };
        def.values.push(ValueDef { name: tensor.name.clone(), dtype: tensor.dtype, shape: tensor.shape.clone(), storage });
        let i = (def.values.len() - 1) as u32;
        index[t] = Some(i);
        Ok(i)
    };
    for &t in &g.inputs {
        let i = value(t, &mut def)?;
        def.inputs.push(i);
    }
    for (k, n) in g.nodes.iter().enumerate() {
        let inputs = n.inputs.iter().map(|i| i.map(|t| value(t, &mut def)).transpose()).collect::<anyhow::Result<_>>()?;
        let outputs = n.outputs.iter().map(|&t| value(t, &mut def)).collect::<anyhow::Result<_>>()?;
        let (off, size) = plan.scratch[k];
        def.nodes.push(NodeDef { name: n.name.clone(), op: n.op, params: n.params.clone(), inputs, outputs, scratch: (off, size) });
    }
    for &t in &g.outputs {
        let i = value(t, &mut def)?;
        def.outputs.push(i);
    }
    let bytes = writer::write(&def)?;
    let buf = sprig_runtime::AlignedBuf::from_bytes(&bytes);
    if let Err(e) = sprig_runtime::Model::from_bytes(buf.as_slice()) {
        bail!("converter bug: the written model does not load: {e}");
    }

    let mut layers: Vec<LayerReport> = g.nodes.iter().map(|n| layer_report(&g, n)).collect();
    let mut notes = vec![format!("opset {}", imported.opset)];
    reduce_channels::annotate(&reduced, &unreduced, &mut layers, &mut notes);
    crate::sparsify::annotate(&mut layers, &sparse);
    if let Some(f) = &f16 {
        crate::f16::annotate(&mut layers, f);
    }
    for l in layers.iter_mut().filter(|l| panels.contains(&l.name)) {
        l.encoding = "panel64".into();
    }
    let counts = [
        (imported.folded, "folded {} constant nodes"),
        (stats.bn_folded, "fused {} BatchNormalization into Conv/MatMul"),
        (stats.bn_lowered, "lowered {} BatchNormalization to Mul + Add"),
        (stats.gelu_patterns, "recognised {} decomposed GELU patterns"),
        (stats.acts_fused, "fused {} activations"),
        (bias_fused, "fused {} bias Adds into MatMul"),
        (stats.dead_nodes, "removed {} dead nodes"),
        (sparse.iter().filter(|s| s.encoding != "dense").count(), "stored {} weight layers block-sparse"),
        (f16.as_ref().map_or(0, |f| f.layers.len()), "stored {} weight layers as f16"),
        (panels.len(), "stored {} pointwise conv weights in 64-channel panels"),
    ];
    for (k, text) in counts {
        if k > 0 {
            notes.push(text.replace("{}", &k.to_string()));
        }
    }
    notes.extend(imported.notes);
    if let Some(f) = &f16 {
        for w in &f.kept_f32 {
            notes.push(format!("weight '{w}' kept f32: a value exceeds the f16 range (65504)"));
        }
    }
    let report = Report { layers, arena_size: plan.arena_size, intermediates_total: plan.total, notes, f16 };
    Ok(Conversion { bytes, report })
}

/// Storage type of a Conv/MatMul node's constant weight or a Gather's constant table ("-" for
/// other nodes).
fn weight_dtype(g: &Graph, n: &Node) -> String {
    let slots = match n.op {
        OpKind::Conv | OpKind::ConvTranspose | OpKind::MatMul => 2,
        OpKind::Gather => 1,
        _ => return "-".into(),
    };
    let mut consts = n.inputs.iter().take(slots).flatten().map(|&t| &g.tensors[t]).filter(|t| t.is_const());
    consts.next().map_or("-".into(), |t| t.dtype.name().to_string())
}

fn layer_report(g: &Graph, n: &Node) -> LayerReport {
    let shape = |t: &TensorId| g.tensors[*t].shape.clone();
    let consts: Vec<&crate::ir::Tensor> = n.inputs.iter().flatten().map(|&t| &g.tensors[t]).filter(|t| t.is_const()).collect();
    let params: usize = consts.iter().map(|t| t.numel()).sum();
    let param_bytes: usize = consts.iter().map(|t| t.nbytes()).sum();
    let out_numel: u64 = n.outputs.iter().map(|&t| g.tensors[t].numel() as u64).sum();
    let in_shape = |i: usize| n.inputs.get(i).copied().flatten().map(|t| g.tensors[t].shape.clone()).unwrap_or_default();
    let flops = match n.op {
        OpKind::Conv => {
            let w = in_shape(1);
            2 * out_numel * w[1..].iter().product::<usize>() as u64
        }
        OpKind::ConvTranspose => {
            let (x, w) = (in_shape(0), in_shape(1));
            2 * x.iter().product::<usize>() as u64 * w[1..].iter().product::<usize>() as u64
        }
        OpKind::MatMul => 2 * out_numel * in_shape(0).last().copied().unwrap_or(1) as u64,
        _ => out_numel,
    };
    LayerReport {
        name: n.name.clone(),
        op: n.op.name().to_string(),
        fused: n.fused.clone(),
        input_shapes: n.inputs.iter().flatten().map(shape).collect(),
        output_shapes: n.outputs.iter().map(shape).collect(),
        encoding: if params > 0 { "dense".into() } else { "-".into() },
        params,
        param_bytes,
        flops,
        reduced: None,
        sparsity: None,
        block: "-".into(),
        nnz: None,
        flops_saved: 0,
        weight_dtype: weight_dtype(g, n),
        f16_max_abs: None,
        f16_max_rel: None,
    }
}
