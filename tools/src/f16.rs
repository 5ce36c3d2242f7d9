//! `--weights f16`: stores the weights of Conv and MatMul as IEEE half (binary16), dense or
//! block-sparse, and the tables of Gather (embeddings); activations, biases and every other
//! constant stay f32.
//!
//! Runs last among the graph passes (after BatchNormalization folding, channel reduction and
//! the per-layer format choice of [`crate::sparsify`]), so the weights rounded are the ones the
//! file stores. Which inputs are weights (the runtime's contract, `runtime/FORMAT.md`): Conv's W
//! (not ConvTranspose), MatMul's constant B or, when B is not constant, its constant A, and
//! Gather's constant dense `data` when it is a rank-2 table of at least [`GATHER_MIN_ELEMS`]
//! elements (the runtime widens each gathered row into the f32 output).
//!
//! Representation in the IR: a converted tensor gets `dtype = F16`; its `data` keeps the f32
//! values **already rounded to f16** (so `data` widened is exactly what the file holds), and the
//! converter writes them as f16 bits ([`f16_bytes`]). A block-sparse weight gets its blob
//! re-packed with f16 values (`sprig_kernels::sparse::pack_as`, same layout and bias).
//!
//! A weight shared with a node that is not one of those weight slots (e.g. a tied embedding also
//! read by a Transpose) or that is a graph output is converted as a copy for the weight slots;
//! the other readers keep the f32 tensor. A weight with a magnitude above the f16 range (65504) stays f32 (noted in the report).
//!
//! Error report per layer (the weight it reads): `max_abs = max_i |h(w_i) - w_i|` and
//! `max_rel = max_abs / max_i |w_i|` (relative to the layer's largest weight magnitude, not
//! element-wise, which would explode on tiny weights that f16 flushes to subnormals or zero).
//! For the whole model: `max_abs` over all converted weights and `max_rel` the largest layer
//! `max_rel`. Round to nearest even, so `max_rel <= 2^-11` (4.9e-4) for normal-range weights.
use crate::ir::{Graph, TensorId};
use crate::tensor::OwnedData;
use anyhow::{anyhow, bail, Result};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::DType;

/// Largest finite f16 magnitude.
pub const F16_MAX: f32 = 65504.0;

/// Smallest Gather table (elements) stored as f16. A word embedding is far above it (BERT:
/// 30522 x 768); a token-type table (2 x 768) is below and stays exact, as f16 would save 3 KB.
/// (A table gathered with constant indices, e.g. position embeddings, is folded before this pass.)
pub const GATHER_MIN_ELEMS: usize = 4096;

/// Tolerance of `sprig convert --verify` for a model with f16 weights: `max_rel` of any output
/// (largest absolute error over the output's largest reference magnitude, `crate::verify`)
/// against tract's f32 run. The weights alone differ by up to 2^-11 relative; through the
/// synthesized MobileNetV1 / BERT models the outputs measure 2.6e-4 to 4.2e-4 (tools/tests/f16_models.rs);
/// 1e-2 leaves room for deeper models.
pub const F16_TOLERANCE: f64 = 1e-2;

/// Storage type of Conv/MatMul weights (`--weights`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum WeightType {
    #[default]
    F32,
    F16,
}

impl std::str::FromStr for WeightType {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "f32" => WeightType::F32,
            "f16" => WeightType::F16,
            _ => bail!("unknown weight type '{s}' (expected f32 or f16)"),
        })
    }
}

/// f16 bits of `x`, round to nearest even (the converter's only f32 → f16 rounding).
pub fn to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// `x` rounded to f16 and widened back.
pub fn round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// The little-endian f16 bytes of `v` (the Dense encoding of an f16 tensor).
pub fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| to_f16(x).to_le_bytes()).collect()
}

/// Rounding error of one converted weight.
#[derive(Clone, Debug, serde::Serialize)]
pub struct F16Layer {
    /// Node (layer) name.
    pub node: String,
    /// The weight tensor (in the written model).
    pub weight: String,
    /// See the module doc.
    pub max_abs: f64,
    pub max_rel: f64,
    /// Weight bytes in the file after conversion (f16 dense or the f16 blob, with a blob bias).
    pub bytes: usize,
}

/// What the pass did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct F16Summary {
    pub layers: Vec<F16Layer>,
    /// Over the whole model (module doc).
    pub max_abs: f64,
    pub max_rel: f64,
    /// Weights left f32 because they exceed the f16 range.
    pub kept_f32: Vec<String>,
}

/// (max_abs, max |w|) of rounding `w` to f16.
fn rounding_error(w: &[f32]) -> (f64, f64) {
    w.iter().fold((0f64, 0f64), |(e, m), &x| (e.max((round_f16(x) as f64 - x as f64).abs()), m.max((x as f64).abs())))
}

/// Which input of node `ni` is its weight, if it has one this pass converts.
fn weight_slot(g: &Graph, ni: usize) -> Option<usize> {
    let n = &g.nodes[ni];
    // f32 data: an f32 weight, or one this pass already made f16 (shared by an earlier node).
    let is_f32_const = |i: usize| n.inputs.get(i).copied().flatten().is_some_and(|t| matches!(g.tensors[t].data, Some(OwnedData::F32(_))));
    match n.op {
        OpKind::Conv if is_f32_const(1) => Some(1),
        OpKind::MatMul if is_f32_const(1) => Some(1),
        OpKind::MatMul if is_f32_const(0) && n.inputs.get(1).copied().flatten().is_some_and(|t| !g.tensors[t].is_const()) => Some(0),
        OpKind::Gather if is_f32_const(0) => {
            let t = &g.tensors[n.inputs[0]?];
            (t.shape.len() == 2 && t.numel() >= GATHER_MIN_ELEMS && t.sparse.is_none()).then_some(0)
        }
        _ => None,
    }
}

/// Re-packs an f32 block-sparse blob with f16 values (same layout, same bias); `dense` is the
/// tensor's dense values (`m × k`, already rounded).
fn f16_blob(blob: &[u8], dense: &[f32], name: &str) -> Result<Vec<u8>> {
    use sprig_kernels::sparse::{analyze_as, pack_as, SparseMatrix, ValueType};
    let s = SparseMatrix::parse(blob).map_err(|e| anyhow!("weight '{name}': block-sparse blob does not parse: {e}"))?;
    let (m, k, layout) = (s.m(), s.k(), s.layout());
    let bias: Option<Vec<f32>> = s.bias().map(|b| b.to_vec());
    let st = analyze_as(dense, m, k, layout, ValueType::F16).map_err(|e| anyhow!("weight '{name}': {e}"))?;
    let mut out = vec![0u8; if bias.is_some() { st.bytes_with_bias } else { st.bytes }];
    pack_as(dense, m, k, bias.as_deref(), layout, ValueType::F16, &mut out).map_err(|e| anyhow!("weight '{name}': {e}"))?;
    Ok(out)
}

/// Converts the weights of every Conv/MatMul and the tables of Gather in `g` to f16 (see the
/// module doc).
pub fn run(g: &mut Graph) -> Result<F16Summary> {
    let mut sum = F16Summary::default();
    // Weight tensor → (its f16 version: itself, or a copy when other nodes read the f32 one;
    // max_abs; max_rel) of rounding it.
    let mut done: Vec<Option<(TensorId, f64, f64)>> = vec![None; g.tensors.len()];
    let consumers = g.consumers();
    for ni in 0..g.nodes.len() {
        let Some(slot) = weight_slot(g, ni) else { continue };
        let t = g.nodes[ni].inputs[slot].expect("weight_slot checked it");
        let (h, max_abs, max_rel) = match done[t] {
            Some(d) => d,
            // An f16 tensor not made here (the IR has none before this pass).
            None if g.tensors[t].dtype != DType::F32 => continue,
            None => {
                let Some(OwnedData::F32(w)) = &g.tensors[t].data else { continue };
                if w.iter().any(|x| !x.is_finite() || x.abs() > F16_MAX) {
                    if !sum.kept_f32.contains(&g.tensors[t].name) {
                        sum.kept_f32.push(g.tensors[t].name.clone());
                    }
                    continue;
                }
                let (max_abs, max_w) = rounding_error(w);
                let max_rel = if max_w > 0.0 { max_abs / max_w } else { 0.0 };
                let rounded: Vec<f32> = w.iter().map(|&x| round_f16(x)).collect();
                // Shared with a reader that needs f32: convert a copy.
                let only_weight_slots = consumers[t].iter().all(|&c| weight_slot(g, c).is_some_and(|s| g.nodes[c].inputs[s] == Some(t)))
                    && !g.outputs.contains(&t);
                let h = if only_weight_slots {
                    t
                } else {
                    let (name, shape) = (g.fresh_name(&format!("{}_f16", g.tensors[t].name)), g.tensors[t].shape.clone());
                    let id = g.add_const(name, shape, OwnedData::F32(Vec::new()));
                    done.push(None);
                    id
                };
                let name = g.tensors[h].name.clone();
                if let Some(blob) = &g.tensors[t].sparse {
                    let b = f16_blob(blob, &rounded, &name)?;
                    g.tensors[h].sparse = Some(b);
                }
                g.tensors[h].data = Some(OwnedData::F32(rounded));
                g.tensors[h].dtype = DType::F16;
                done[t] = Some((h, max_abs, max_rel));
                done[h] = Some((h, max_abs, max_rel));
                (h, max_abs, max_rel)
            }
        };
        g.nodes[ni].inputs[slot] = Some(h);
        let wt = &g.tensors[h];
        let bytes = wt.sparse.as_ref().map_or(wt.numel() * 2, |b| b.len());
        sum.layers.push(F16Layer { node: g.nodes[ni].name.clone(), weight: wt.name.clone(), max_abs, max_rel, bytes });
        sum.max_abs = sum.max_abs.max(max_abs);
        sum.max_rel = sum.max_rel.max(max_rel);
    }
    Ok(sum)
}

/// Copies the pass's per-layer facts into the conversion report (by node name).
pub fn annotate(layers: &mut [crate::convert::LayerReport], sum: &F16Summary) {
    for l in layers {
        if let Some(f) = sum.layers.iter().find(|f| f.node == l.name) {
            l.weight_dtype = "f16".into();
            l.f16_max_abs = Some(f.max_abs);
            l.f16_max_rel = Some(f.max_rel);
            // Dense: `param_bytes` was computed from the IR with the f16 dtype already. Sparse:
            // `sparsify::annotate` put the f32 blob's size there; the f16 blob replaces it.
            if l.encoding == "block-sparse" {
                l.param_bytes = f.bytes;
            }
        }
    }
}
