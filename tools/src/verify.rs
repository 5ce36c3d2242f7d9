//! Runs a converted model and the original ONNX (with tract) on the same inputs and compares them.
//!
//! Error measures, per output, over all elements `i` (ours `a`, reference `b`):
//! - `max_abs = max_i |a_i - b_i|`
//! - `max_rel = max_abs / max(max_i |b_i|, 1e-6)`: the largest absolute error relative to the
//!   output's own scale (its largest reference magnitude), not an element-wise relative error,
//!   which explodes on reference values near zero.
//!
//! A NaN on either side, a shape mismatch or an output count mismatch is an error, not a large
//! number. `sprig convert` compares `max_rel` with its `--tolerance`.
use crate::tensor::{OwnedData, OwnedTensor};
use anyhow::{anyhow, bail, ensure, Context, Result};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sprig_runtime::ops::{params::AxisParams, read_params, OpKind};
use sprig_runtime::tensor::{DType, Tensor};
use sprig_runtime::{AlignedBuf, Isas, Model, Session, TensorMut};
use std::path::Path;
use std::time::{Duration, Instant};
use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, ModelProto, SparseTensorProto, TensorProto};
use tract_onnx::prelude::{
    tvec, Datum, DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TValue, Tensor as TractTensor,
    TypedSimplePlan,
};

/// Integer inputs not feeding a Gather are drawn from `0..DEFAULT_INT_BOUND` (masks and segment
/// ids are 0/1 in the models sprig targets).
pub const DEFAULT_INT_BOUND: u64 = 2;

/// Random inputs for every graph input of `model`, deterministic in `seed`: f32 standard normal,
/// integers uniform in `0..bound` (see [`random_inputs_bounded`]), bool all true, u8 uniform.
pub fn random_inputs(model: &Model, seed: u64) -> Vec<OwnedTensor> {
    random_inputs_bounded(model, seed, &[])
}

/// Like [`random_inputs`], with an exclusive upper bound for chosen integer inputs (by name), e.g.
/// the vocabulary size for BERT token ids. Inputs without an explicit bound that are used directly
/// as Gather indices are bounded by the gathered axis (so token ids stay below the vocabulary);
/// other integer inputs by [`DEFAULT_INT_BOUND`].
pub fn random_inputs_bounded(model: &Model, seed: u64, bounds: &[(String, u64)]) -> Vec<OwnedTensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = model.parsed();
    (0..model.num_inputs())
        .map(|i| {
            let info = model.input(i).expect("index below num_inputs");
            let n = info.shape.numel();
            let bound = bounds
                .iter()
                .find(|(name, _)| name == info.name)
                .map(|b| b.1)
                .or_else(|| gather_bound(model, p.inputs[i]))
                .unwrap_or(DEFAULT_INT_BOUND)
                .max(1);
            let data = match info.dtype {
                DType::F32 | DType::F16 => OwnedData::F32((0..n).map(|_| normal(&mut rng)).collect()),
                DType::I64 => OwnedData::I64((0..n).map(|_| rng.gen_range(0..bound) as i64).collect()),
                DType::I32 => OwnedData::I32((0..n).map(|_| rng.gen_range(0..bound.min(i32::MAX as u64)) as i32).collect()),
                DType::U8 => OwnedData::U8((0..n).map(|_| rng.gen_range(0..bound.min(256)) as u8).collect()),
                DType::Bool => OwnedData::Bool(vec![1; n]),
            };
            OwnedTensor { name: info.name.to_string(), shape: info.shape.dims().to_vec(), data }
        })
        .collect()
}

/// The smallest gathered-axis length over the Gather nodes that use value `v` as indices.
fn gather_bound(model: &Model, v: u32) -> Option<u64> {
    (0..model.num_nodes())
        .filter_map(|k| model.node(k))
        .filter(|n| n.op == OpKind::Gather && n.inputs.get(1) == Some(&v))
        .filter_map(|n| {
            let axis = read_params::<AxisParams>(n.params).ok()?.axis as usize;
            let data = model.value(*n.inputs.first()?)?;
            data.shape.dims().get(axis).map(|&d| d as u64)
        })
        .min()
}

/// Standard normal by Box-Muller (avoids a dependency for one distribution).
fn normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// A session over its own arena with output buffers, for repeated runs.
pub struct SprigRunner<'m> {
    model: &'m Model<'m>,
    arena: AlignedBuf,
    threads: usize,
}

impl<'m> SprigRunner<'m> {
    pub fn new(model: &'m Model<'m>) -> Self {
        SprigRunner { model, arena: AlignedBuf::new(model.arena_size()), threads: 1 }
    }

    /// A runner whose sessions split each heavy layer across `threads` threads (0 counts as 1);
    /// the arena grows by one worker scratch per extra thread.
    pub fn with_threads(model: &'m Model<'m>, threads: usize) -> Result<Self> {
        let threads = threads.max(1);
        let size = model
            .arena_size_for_threads(threads)
            .ok_or_else(|| anyhow!("{threads} threads: the arena size overflows"))?;
        Ok(SprigRunner { model, arena: AlignedBuf::new(size), threads })
    }

    /// Runs once; `inputs` in the model's input order.
    pub fn run(&mut self, inputs: &[OwnedTensor]) -> Result<Vec<OwnedTensor>> {
        Ok(self.run_info(inputs)?.0)
    }

    /// [`Self::run`], also returning how the session ran: its threads, ISA and the run's wall time
    /// (session creation excluded).
    pub fn run_info(&mut self, inputs: &[OwnedTensor]) -> Result<(Vec<OwnedTensor>, RunInfo)> {
        let model = self.model;
        ensure!(
            inputs.len() == model.num_inputs(),
            "the model has {} inputs, {} given",
            model.num_inputs(),
            inputs.len()
        );
        let mut outs: Vec<OwnedTensor> = (0..model.num_outputs())
            .map(|i| {
                let info = model.output(i).expect("index below num_outputs");
                let data = OwnedData::zeros(info.dtype, info.shape.numel())
                    .ok_or_else(|| anyhow!("output '{}' has dtype {}, not an activation dtype", info.name, info.dtype.name()))?;
                Ok(OwnedTensor { name: info.name.to_string(), shape: info.shape.dims().to_vec(), data })
            })
            .collect::<Result<_>>()?;
        let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
        let mut session = Session::with_threads(model, self.arena.as_mut_slice(), Isas::detect(), self.threads).map_err(|e| anyhow!("{e}"))?;
        let mut out_views: Vec<TensorMut> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
        let t = Instant::now();
        session.run(&ins, &mut out_views).map_err(|e| anyhow!("{e}"))?;
        let info = RunInfo { threads: session.threads(), isas: session.isas(), elapsed: t.elapsed() };
        drop(out_views);
        Ok((outs, info))
    }
}

/// How one [`SprigRunner::run_info`] ran.
#[derive(Clone, Copy, Debug)]
pub struct RunInfo {
    /// Threads the session split heavy layers across.
    pub threads: usize,
    /// The ISAs whose kernels ran (dense and sparse).
    pub isas: Isas,
    pub elapsed: Duration,
}

/// Runs `model` once on `inputs` (in the model's input order) with the best ISA of this CPU.
pub fn run_sprig(model: &Model, inputs: &[OwnedTensor]) -> Result<Vec<OwnedTensor>> {
    SprigRunner::new(model).run(inputs)
}

/// An ONNX model loaded and optimised by tract, for repeated runs.
pub struct TractRunner {
    plan: std::sync::Arc<TypedSimplePlan>,
    input_names: Vec<String>,
    output_names: Vec<String>,
}

fn dt_of(d: &OwnedData) -> DatumType {
    match d {
        OwnedData::F32(_) => f32::datum_type(),
        OwnedData::I64(_) => i64::datum_type(),
        OwnedData::I32(_) => i32::datum_type(),
        OwnedData::U8(_) => u8::datum_type(),
        OwnedData::Bool(_) => bool::datum_type(),
    }
}

/// tract ignores ONNX sparse initializers and `Constant` sparse values: gives them to it dense (by
/// [`crate::onnx::sparse_tensor_from_proto`], as the converter reads them) in their own data type.
fn densify_sparse(proto: &mut ModelProto, dir: Option<&Path>) -> Result<()> {
    let Some(g) = proto.graph.as_mut() else { return Ok(()) };
    let mut notes = Vec::new();
    let mut dense = |s: &SparseTensorProto| -> Result<TensorProto> {
        let (shape, data) = crate::onnx::sparse_tensor_from_proto(s, dir, &mut notes)?;
        let v = s.values.as_ref().ok_or_else(|| anyhow!("sparse tensor has no values"))?;
        Ok(tensor_proto(&v.name, &shape, &data, v.data_type))
    };
    for s in std::mem::take(&mut g.sparse_initializer) {
        let name = s.values.as_ref().map(|v| v.name.clone()).unwrap_or_default();
        g.initializer.push(dense(&s).with_context(|| format!("sparse initializer '{name}'"))?);
    }
    for n in g.node.iter_mut().filter(|n| n.op_type == "Constant") {
        for a in n.attribute.iter_mut().filter(|a| a.name == "sparse_value") {
            if let Some(s) = a.sparse_tensor.take() {
                let t = dense(&s).with_context(|| format!("node '{}' (Constant): sparse_value", n.name))?;
                *a = AttributeProto { name: "value".into(), r#type: AttributeType::Tensor as i32, t: Some(t), ..Default::default() };
            }
        }
    }
    Ok(())
}

/// `data` as a TensorProto of ONNX type `data_type`, the inverse of
/// [`crate::onnx::tensor_from_proto`] (exact but for double, which sprig reads as f32).
fn tensor_proto(name: &str, shape: &[usize], data: &OwnedData, data_type: i32) -> TensorProto {
    use DataType as D;
    fn le<T, const N: usize>(v: &[T], f: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
        v.iter().flat_map(f).collect()
    }
    let dt = DataType::try_from(data_type).unwrap_or(D::Undefined);
    let raw_data = match data {
        OwnedData::F32(v) => match dt {
            D::Double => le(v, |&x| (x as f64).to_le_bytes()),
            D::Float16 => le(v, |&x| half::f16::from_f32(x).to_le_bytes()),
            D::Bfloat16 => le(v, |&x| half::bf16::from_f32(x).to_le_bytes()),
            _ => le(v, |x| x.to_le_bytes()),
        },
        OwnedData::I32(v) => match dt {
            D::Int8 => le(v, |&x| (x as i8).to_le_bytes()),
            D::Int16 => le(v, |&x| (x as i16).to_le_bytes()),
            D::Uint16 => le(v, |&x| (x as u16).to_le_bytes()),
            _ => le(v, |x| x.to_le_bytes()),
        },
        OwnedData::I64(v) => match dt {
            D::Uint32 => le(v, |&x| (x as u32).to_le_bytes()),
            _ => le(v, |x| x.to_le_bytes()),
        },
        OwnedData::U8(v) | OwnedData::Bool(v) => v.clone(),
    };
    TensorProto { name: name.into(), dims: shape.iter().map(|&d| d as i64).collect(), data_type, raw_data, ..Default::default() }
}

impl TractRunner {
    /// Loads `onnx_path` with every graph input fixed to the dtype and shape of the same-named
    /// tensor in `inputs` (or its shape in `input_shapes`, which wins when given).
    pub fn load(onnx_path: &Path, input_shapes: &[(String, Vec<usize>)], inputs: &[OwnedTensor]) -> Result<Self> {
        let ctx = || format!("tract cannot load '{}'", onnx_path.display());
        // value_info and output shapes are hints; exports with symbolic axes (torch dynamo) state
        // them as `batch,seq,...`, which tract cannot unify with the fixed input shapes.
        let onnx = tract_onnx::onnx().with_ignore_value_info(true).with_ignore_output_shapes(true);
        let mut proto = onnx.proto_model_for_path(onnx_path).with_context(ctx)?;
        densify_sparse(&mut proto, onnx_path.parent()).with_context(ctx)?;
        // What `model_for_path` does, on the (possibly densified) proto.
        let parsed = onnx.parse(&proto, onnx_path.parent().and_then(|d| d.to_str())).with_context(ctx)?;
        ensure!(parsed.unresolved_inputs.is_empty(), "{}: unresolved inputs {:?}", ctx(), parsed.unresolved_inputs);
        let mut model = parsed.model;
        let mut input_names = Vec::new();
        for (i, outlet) in model.input_outlets().with_context(ctx)?.to_vec().into_iter().enumerate() {
            let name = model.node(outlet.node).name.clone();
            let t = inputs
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| anyhow!("no value given for ONNX input '{name}' of '{}'", onnx_path.display()))?;
            let shape = input_shapes.iter().find(|(n, _)| *n == name).map(|s| s.1.clone()).unwrap_or_else(|| t.shape.clone());
            ensure!(shape == t.shape, "input '{name}': shape {:?} given, but the tensor has shape {:?}", shape, t.shape);
            model = model
                .with_input_fact(i, InferenceFact::dt_shape(dt_of(&t.data), &shape))
                .with_context(|| format!("tract rejects the shape of input '{name}'"))?;
            input_names.push(name);
        }
        let output_names = model
            .output_outlets()
            .with_context(ctx)?
            .iter()
            .map(|o| model.outlet_label(*o).map(str::to_string).unwrap_or_else(|| model.node(o.node).name.clone()))
            .collect();
        let plan = model.into_optimized().with_context(ctx)?.into_runnable().with_context(ctx)?;
        Ok(TractRunner { plan, input_names, output_names })
    }

    /// ONNX output names, in graph order.
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// Runs once; inputs are matched to ONNX inputs by name, outputs are in ONNX graph order.
    pub fn run(&self, inputs: &[OwnedTensor]) -> Result<Vec<OwnedTensor>> {
        let mut tv = tvec![];
        for name in &self.input_names {
            let t = inputs.iter().find(|t| &t.name == name).ok_or_else(|| anyhow!("no value given for ONNX input '{name}'"))?;
            tv.push(TValue::from(to_tract(t)?));
        }
        let outs = self.plan.run(tv).context("tract failed to run the ONNX model")?;
        outs.iter().zip(&self.output_names).map(|(t, name)| from_tract(t, name)).collect()
    }
}

fn to_tract(t: &OwnedTensor) -> Result<TractTensor> {
    let r = match &t.data {
        OwnedData::F32(v) => TractTensor::from_shape(&t.shape, v),
        OwnedData::I64(v) => TractTensor::from_shape(&t.shape, v),
        OwnedData::I32(v) => TractTensor::from_shape(&t.shape, v),
        OwnedData::U8(v) => TractTensor::from_shape(&t.shape, v),
        OwnedData::Bool(v) => TractTensor::from_shape(&t.shape, &v.iter().map(|&b| b != 0).collect::<Vec<bool>>()),
    };
    r.with_context(|| format!("cannot build a tract tensor for '{}'", t.name))
}

fn from_tract(t: &TractTensor, name: &str) -> Result<OwnedTensor> {
    let shape = t.shape().to_vec();
    let dt = t.datum_type();
    fn vals<D: Datum + Copy>(t: &TractTensor, name: &str) -> Result<Vec<D>> {
        let v = t.to_plain_array_view::<D>().map_err(|e| anyhow!("tract output '{name}': {e}"))?;
        Ok(v.iter().copied().collect())
    }
    let data = if dt == f32::datum_type() {
        OwnedData::F32(vals::<f32>(t, name)?)
    } else if dt == f64::datum_type() {
        OwnedData::F32(vals::<f64>(t, name)?.into_iter().map(|x| x as f32).collect())
    } else if dt == i64::datum_type() {
        OwnedData::I64(vals::<i64>(t, name)?)
    } else if dt == i32::datum_type() {
        OwnedData::I32(vals::<i32>(t, name)?)
    } else if dt == u8::datum_type() {
        OwnedData::U8(vals::<u8>(t, name)?)
    } else if dt == bool::datum_type() {
        OwnedData::Bool(vals::<bool>(t, name)?.into_iter().map(|b| b as u8).collect())
    } else {
        let c = t.cast_to::<f32>().map_err(|e| anyhow!("tract output '{name}' has dtype {dt:?}: {e}"))?;
        OwnedData::F32(vals::<f32>(&c, name)?)
    };
    Ok(OwnedTensor { name: name.to_string(), shape, data })
}

/// Runs the ONNX model with tract on `inputs` (matched by name); outputs in ONNX graph order.
pub fn run_tract(onnx_path: &Path, input_shapes: &[(String, Vec<usize>)], inputs: &[OwnedTensor]) -> Result<Vec<OwnedTensor>> {
    TractRunner::load(onnx_path, input_shapes, inputs)?.run(inputs)
}

/// Errors of one output (see the module doc for the definitions).
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputError {
    pub name: String,
    pub max_abs: f64,
    pub max_rel: f64,
}

/// Compares outputs pairwise, in order. Errors on a count or shape mismatch and on NaN.
pub fn compare(ours: &[OwnedTensor], reference: &[OwnedTensor]) -> Result<Vec<OutputError>> {
    ensure!(ours.len() == reference.len(), "sprig gives {} outputs, the reference {}", ours.len(), reference.len());
    ours.iter()
        .zip(reference)
        .map(|(a, b)| {
            ensure!(
                a.shape == b.shape,
                "output '{}': sprig gives shape {:?}, the reference {:?} ('{}')",
                a.name,
                a.shape,
                b.shape,
                b.name
            );
            let (av, bv) = (a.data.to_f64(), b.data.to_f64());
            let (mut max_abs, mut max_ref) = (0f64, 0f64);
            for (i, (&x, &y)) in av.iter().zip(&bv).enumerate() {
                if x.is_nan() || y.is_nan() {
                    let who = if x.is_nan() { "sprig" } else { "the reference" };
                    bail!("output '{}': {who} gives NaN at flat index {i}", a.name);
                }
                // Equal infinities agree; anything else involving infinity is an infinite error.
                let d = if x == y { 0.0 } else { (x - y).abs() };
                max_abs = max_abs.max(d);
                max_ref = max_ref.max(y.abs());
            }
            Ok(OutputError { name: a.name.clone(), max_abs, max_rel: max_abs / max_ref.max(1e-6) })
        })
        .collect()
}

/// Orders `reference` as `ours` by output name when every name of `ours` names exactly one
/// reference output; otherwise keeps the order (both are in graph order then).
pub fn match_outputs(ours: &[OwnedTensor], mut reference: Vec<OwnedTensor>) -> Vec<OwnedTensor> {
    let idx: Option<Vec<usize>> = ours
        .iter()
        .map(|o| {
            let mut hits = reference.iter().enumerate().filter(|(_, r)| r.name == o.name).map(|(i, _)| i);
            match (hits.next(), hits.next()) {
                (Some(i), None) => Some(i),
                _ => None,
            }
        })
        .collect();
    match idx {
        Some(idx) if ours.len() == reference.len() => {
            let mut slots: Vec<Option<OwnedTensor>> = reference.drain(..).map(Some).collect();
            idx.into_iter().map(|i| slots[i].take().expect("names are distinct")).collect()
        }
        _ => reference,
    }
}

/// Result of [`verify_file`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyReport {
    pub seed: u64,
    pub tolerance: f64,
    pub outputs: Vec<OutputError>,
    /// Every output's `max_rel` is at most `tolerance`.
    pub passed: bool,
}

impl VerifyReport {
    pub fn worst_rel(&self) -> f64 {
        self.outputs.iter().map(|o| o.max_rel).fold(0.0, f64::max)
    }
}

/// Runs the converted model (`sprig_bytes`) and the ONNX file with tract on the same random
/// inputs and compares every output. `Err` only when something fails to load or run, or the
/// outputs disagree in count, shape or NaN; an error above `tolerance` gives `passed == false`.
pub fn verify_file(
    onnx_path: &Path,
    sprig_bytes: &[u8],
    input_shapes: &[(String, Vec<usize>)],
    seed: u64,
    tolerance: f64,
) -> Result<VerifyReport> {
    let model = Model::from_vec(sprig_bytes).map_err(|e| anyhow!("the converted model does not load: {e}"))?;
    let inputs = random_inputs(&model, seed);
    let ours = run_sprig(&model, &inputs).context("sprig failed to run the converted model")?;
    let reference = match_outputs(&ours, run_tract(onnx_path, input_shapes, &inputs)?);
    let outputs = compare(&ours, &reference)?;
    let passed = outputs.iter().all(|o| o.max_rel <= tolerance);
    Ok(VerifyReport { seed, tolerance, outputs, passed })
}

/// Median wall time of `runs` calls of `f` (after one untimed warm-up call).
pub fn median_time(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    f()?;
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: Vec<usize>, v: Vec<f32>) -> OwnedTensor {
        OwnedTensor { name: name.into(), shape, data: OwnedData::F32(v) }
    }

    #[test]
    fn outputs_matched_by_name() {
        let ours = vec![t("b", vec![1], vec![0.0]), t("a", vec![1], vec![0.0])];
        let r = match_outputs(&ours, vec![t("a", vec![1], vec![1.0]), t("b", vec![1], vec![2.0])]);
        assert_eq!((r[0].name.as_str(), r[1].name.as_str()), ("b", "a"));
        // Unknown names: order kept.
        let r = match_outputs(&ours, vec![t("x", vec![1], vec![1.0]), t("b", vec![1], vec![2.0])]);
        assert_eq!((r[0].name.as_str(), r[1].name.as_str()), ("x", "b"));
    }

    #[test]
    fn compare_hand_computed() {
        let e = compare(&[t("y", vec![3], vec![1.0, 2.5, -4.0])], &[t("y", vec![3], vec![1.0, 2.0, -3.0])]).unwrap();
        assert_eq!(e[0].max_abs, 1.0);
        assert!((e[0].max_rel - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn compare_zero_reference_uses_floor() {
        let e = compare(&[t("y", vec![1], vec![1e-7])], &[t("y", vec![1], vec![0.0])]).unwrap();
        assert!((e[0].max_rel - 0.1).abs() < 1e-6);
    }

    #[test]
    fn compare_rejects_nan_and_shape() {
        assert!(compare(&[t("y", vec![1], vec![f32::NAN])], &[t("y", vec![1], vec![0.0])]).is_err());
        assert!(compare(&[t("y", vec![1], vec![0.0])], &[t("y", vec![1], vec![f32::NAN])]).is_err());
        assert!(compare(&[t("y", vec![2], vec![0.0, 0.0])], &[t("y", vec![1, 2], vec![0.0, 0.0])]).is_err());
        assert!(compare(&[], &[t("y", vec![1], vec![0.0])]).is_err());
    }

    /// `tensor_proto` inverts `tensor_from_proto` for every ONNX type sprig reads (values chosen
    /// exact in the narrow type, so a wrong width or sign would show).
    #[test]
    fn tensor_proto_round_trips() {
        use DataType as D;
        let f = OwnedData::F32(vec![0.0, -1.5, 2.25, 1024.0]);
        let i32s = OwnedData::I32(vec![0, -7, 100, -128]);
        let u16s = OwnedData::I32(vec![0, 7, 65535, 300]);
        let i64s = OwnedData::I64(vec![0, -3, i64::MAX, i64::MIN]);
        let u32s = OwnedData::I64(vec![0, 3, u32::MAX as i64, 1 << 20]);
        let cases = [
            (D::Float, &f),
            (D::Double, &f),
            (D::Float16, &f),
            (D::Bfloat16, &f),
            (D::Int8, &i32s),
            (D::Int16, &i32s),
            (D::Int32, &i32s),
            (D::Uint16, &u16s),
            (D::Int64, &i64s),
            (D::Uint64, &i64s),
            (D::Uint32, &u32s),
            (D::Uint8, &OwnedData::U8(vec![0, 1, 200, 255])),
            (D::Bool, &OwnedData::Bool(vec![0, 1, 1, 0])),
        ];
        for (dt, data) in cases {
            let p = tensor_proto("t", &[2, 2], data, dt as i32);
            let (shape, back) = crate::onnx::tensor_from_proto(&p, None, &mut Vec::new()).unwrap();
            assert_eq!((shape, &back), (vec![2, 2], data), "{}", dt.as_str_name());
        }
    }
}
