//! Shared helpers for whole-model tests: run a `.sprig` model with the runtime, run the original
//! ONNX with tract (the independent dense reference), compare, and make deterministic inputs.
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sprig_runtime::{AlignedBuf, DType, Model, Session, Tensor};
use sprig_tools::tensor::{OwnedData, OwnedTensor};

/// Runs `sprig` bytes (any alignment: copied into an aligned buffer) on `inputs` in model order.
pub fn run_sprig(sprig: &[u8], inputs: &[OwnedTensor]) -> anyhow::Result<Vec<OwnedTensor>> {
    let model = Model::from_vec(sprig).map_err(|e| anyhow::anyhow!("loading the .sprig model: {e}"))?;
    run_model(&model, inputs)
}

/// Runs a loaded model on `inputs` (in model order), with a fresh arena.
pub fn run_model(model: &Model, inputs: &[OwnedTensor]) -> anyhow::Result<Vec<OwnedTensor>> {
    let mut arena = AlignedBuf::new(model.arena_size());
    let mut session = Session::new(model, arena.as_mut_slice()).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    let mut outs = empty_outputs(model)?;
    let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
    let mut views: Vec<_> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
    session.run(&ins, &mut views).map_err(|e| anyhow::anyhow!("run: {e}"))?;
    drop(views);
    Ok(outs)
}

/// Zeroed output tensors of the model's output shapes and dtypes.
pub fn empty_outputs(model: &Model) -> anyhow::Result<Vec<OwnedTensor>> {
    (0..model.num_outputs())
        .map(|i| {
            let o = model.output(i).expect("index in range");
            let data = OwnedData::zeros(o.dtype, o.shape.numel()).with_context(|| format!("output '{}' has dtype {}", o.name, o.dtype.name()))?;
            Ok(OwnedTensor { name: o.name.to_string(), shape: o.shape.dims().to_vec(), data })
        })
        .collect()
}

/// Deterministic inputs for every graph input of `model` (see [`random_tensors`]).
pub fn random_inputs(model: &Model, seed: u64, vocab: usize) -> Vec<OwnedTensor> {
    let specs: Vec<(String, DType, Vec<usize>)> = (0..model.num_inputs())
        .map(|i| {
            let io = model.input(i).expect("index in range");
            (io.name.to_string(), io.dtype, io.shape.dims().to_vec())
        })
        .collect();
    random_tensors(&specs, seed, vocab)
}

/// Deterministic tensors for `(name, dtype, shape)` specs: f32 uniform in [-1, 1]; integer
/// tensors named like masks are all ones but the last quarter of the last axis (padding), other
/// integers are token ids in `0..vocab`.
pub fn random_tensors(specs: &[(String, DType, Vec<usize>)], seed: u64, vocab: usize) -> Vec<OwnedTensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    specs
        .iter()
        .map(|(name, dtype, shape)| {
            let n: usize = shape.iter().product();
            let last = shape.last().copied().unwrap_or(1).max(1);
            let data = match dtype {
                DType::F32 => OwnedData::F32((0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()),
                DType::I64 if name.contains("mask") => OwnedData::I64((0..n).map(|k| i64::from(k % last < last - last / 4)).collect()),
                DType::I64 => OwnedData::I64((0..n).map(|_| rng.gen_range(0..vocab as i64)).collect()),
                DType::I32 => OwnedData::I32((0..n).map(|_| rng.gen_range(0..vocab as i32)).collect()),
                DType::U8 => OwnedData::U8((0..n).map(|_| rng.gen()).collect()),
                DType::Bool => OwnedData::Bool((0..n).map(|_| rng.gen_range(0..2)).collect()),
                DType::F16 => unreachable!("F16 is not an activation dtype"),
            };
            OwnedTensor { name: name.clone(), shape: shape.clone(), data }
        })
        .collect()
}

/// The graph inputs of a synthesized model, as `random_tensors` specs.
pub fn synth_input_specs(arch: sprig_tools::synth::Arch, o: &sprig_tools::synth::SynthOptions) -> Vec<(String, DType, Vec<usize>)> {
    match arch {
        sprig_tools::synth::Arch::Bert => vec![
            ("input_ids".into(), DType::I64, vec![1, o.seq_len]),
            ("attention_mask".into(), DType::I64, vec![1, o.seq_len]),
        ],
        _ => vec![("input".into(), DType::F32, vec![1, 3, o.resolution, o.resolution])],
    }
}

/// Runs ONNX bytes with tract (optimized plan) on `inputs`; input facts are taken from the
/// inputs themselves so symbolic dims resolve.
pub fn run_tract(onnx_bytes: &[u8], inputs: &[OwnedTensor]) -> anyhow::Result<Vec<OwnedTensor>> {
    use tract_onnx::prelude::*;
    let mut model = tract_onnx::onnx().model_for_read(&mut std::io::Cursor::new(onnx_bytes))?;
    for (i, t) in inputs.iter().enumerate() {
        let fact = match t.data.dtype() {
            DType::F32 => f32::fact(&t.shape),
            DType::I64 => i64::fact(&t.shape),
            DType::I32 => i32::fact(&t.shape),
            DType::U8 => u8::fact(&t.shape),
            DType::Bool => bool::fact(&t.shape),
            DType::F16 => bail!("f16 input"),
        };
        model = model.with_input_fact(i, fact.into())?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let mut tv: TVec<TValue> = tvec![];
    for t in inputs {
        let tensor = match &t.data {
            OwnedData::F32(v) => tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), v.clone())?.into_tensor(),
            OwnedData::I64(v) => tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), v.clone())?.into_tensor(),
            OwnedData::I32(v) => tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), v.clone())?.into_tensor(),
            OwnedData::U8(v) => tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), v.clone())?.into_tensor(),
            OwnedData::Bool(v) => {
                tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), v.iter().map(|&b| b != 0).collect::<Vec<bool>>())?.into_tensor()
            }
        };
        tv.push(tensor.into_tvalue());
    }
    let outs = plan.run(tv)?;
    outs.iter()
        .enumerate()
        .map(|(i, o)| {
            let shape = o.shape().to_vec();
            let data = match o.datum_type() {
                DatumType::F32 => OwnedData::F32(o.to_plain_array_view::<f32>()?.iter().copied().collect()),
                DatumType::I64 => OwnedData::I64(o.to_plain_array_view::<i64>()?.iter().copied().collect()),
                DatumType::I32 => OwnedData::I32(o.to_plain_array_view::<i32>()?.iter().copied().collect()),
                DatumType::U8 => OwnedData::U8(o.to_plain_array_view::<u8>()?.iter().copied().collect()),
                DatumType::Bool => OwnedData::Bool(o.to_plain_array_view::<bool>()?.iter().map(|&b| b as u8).collect()),
                dt => bail!("tract output {i} has dtype {dt:?}"),
            };
            Ok(OwnedTensor { name: format!("output{i}"), shape, data })
        })
        .collect()
}

/// max|a - b| / max(max|ref|, 1e-6) over one tensor pair (shapes must match).
pub fn max_rel(got: &OwnedTensor, reference: &OwnedTensor) -> anyhow::Result<f64> {
    if got.shape != reference.shape || got.data.len() != reference.data.len() {
        bail!("'{}': shape {:?} vs reference {:?}", got.name, got.shape, reference.shape);
    }
    let (a, b) = (got.data.to_f64(), reference.data.to_f64());
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-6);
    let mut diff = 0f64;
    for (x, y) in a.iter().zip(&b) {
        if x.is_nan() != y.is_nan() {
            return Ok(f64::INFINITY);
        }
        if !x.is_nan() {
            diff = diff.max((x - y).abs());
        }
    }
    Ok(diff / scale)
}

/// Elementwise check `|a - b| <= atol + rtol * |b|` as ONNX's backend tests use (NaN matches NaN).
/// Returns the first offending index and values.
pub fn allclose(got: &OwnedTensor, reference: &OwnedTensor, rtol: f64, atol: f64) -> Result<(), String> {
    if got.shape != reference.shape {
        return Err(format!("shape {:?} vs expected {:?}", got.shape, reference.shape));
    }
    if got.data.dtype() != reference.data.dtype() {
        return Err(format!("dtype {:?} vs expected {:?}", got.data.dtype(), reference.data.dtype()));
    }
    let (a, b) = (got.data.to_f64(), reference.data.to_f64());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= atol + rtol * y.abs();
        if !ok {
            return Err(format!("element {i}: got {x}, expected {y}"));
        }
    }
    Ok(())
}

/// Decodes an ONNX `TensorProto` (raw_data or typed fields) into an owned tensor.
pub fn tensor_from_proto(t: &tract_onnx::pb::TensorProto) -> anyhow::Result<OwnedTensor> {
    use tract_onnx::pb::tensor_proto::DataType as D;
    let shape: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let raw = &t.raw_data;
    let le = |w: usize| -> anyhow::Result<Vec<&[u8]>> {
        if raw.len() != n * w {
            bail!("tensor '{}': raw_data has {} bytes, expected {}", t.name, raw.len(), n * w);
        }
        Ok(raw.chunks_exact(w).collect())
    };
    let dt = D::try_from(t.data_type).map_err(|_| anyhow::anyhow!("unknown data type {}", t.data_type))?;
    let data = match dt {
        D::Float if !raw.is_empty() => OwnedData::F32(le(4)?.iter().map(|c| f32::from_le_bytes((*c).try_into().unwrap())).collect()),
        D::Float => OwnedData::F32(t.float_data.clone()),
        D::Double if !raw.is_empty() => {
            OwnedData::F32(le(8)?.iter().map(|c| f64::from_le_bytes((*c).try_into().unwrap()) as f32).collect())
        }
        D::Int64 if !raw.is_empty() => OwnedData::I64(le(8)?.iter().map(|c| i64::from_le_bytes((*c).try_into().unwrap())).collect()),
        D::Int64 => OwnedData::I64(t.int64_data.clone()),
        D::Int32 if !raw.is_empty() => OwnedData::I32(le(4)?.iter().map(|c| i32::from_le_bytes((*c).try_into().unwrap())).collect()),
        D::Int32 => OwnedData::I32(t.int32_data.clone()),
        D::Uint8 if !raw.is_empty() => OwnedData::U8(raw.clone()),
        D::Uint8 => OwnedData::U8(t.int32_data.iter().map(|&v| v as u8).collect()),
        D::Bool if !raw.is_empty() => OwnedData::Bool(raw.iter().map(|&b| (b != 0) as u8).collect()),
        D::Bool => OwnedData::Bool(t.int32_data.iter().map(|&v| (v != 0) as u8).collect()),
        other => bail!("tensor '{}': data type {:?} not supported by the test harness", t.name, other),
    };
    if data.len() != n {
        bail!("tensor '{}': {} elements for shape {:?}", t.name, data.len(), shape);
    }
    Ok(OwnedTensor { name: t.name.clone(), shape, data })
}

/// Small sizes of every architecture that keep the test suite fast.
pub fn small_options(arch: sprig_tools::synth::Arch, sparsity: f32, block_rows: usize) -> sprig_tools::synth::SynthOptions {
    use sprig_tools::synth::{Arch, SynthOptions};
    let base = SynthOptions { sparsity, block_rows, seed: 7, ..Default::default() };
    match arch {
        Arch::Bert => SynthOptions { seq_len: 16, hidden: 64, layers: 2, heads: 4, vocab: 100, ..base },
        Arch::MobileNetV2 | Arch::ResNet18 => SynthOptions { resolution: 64, width: 0.5, classes: 100, ..base },
        Arch::MobileNetV1 => SynthOptions { resolution: 96, width: 0.5, classes: 100, ..base },
    }
}

/// `z = Relu(x + w)` written with `sprig_tools::writer`: x, w, z f32 `[1, 4]`, w = [1, -2, 3, -4]
/// constant; values x (arena 0), w, y (arena 64), z (arena 128), arena 192; nodes "add", "relu".
/// The base model of the corrupt-file and hostile-input suites.
pub fn add_relu_model() -> Vec<u8> {
    use sprig_runtime::ops::params::{BinaryParams, UnaryParams};
    use sprig_runtime::ops::OpKind;
    use sprig_runtime::tensor::Encoding;
    use sprig_tools::writer::{write, FileDef, NodeDef, ValueDef, ValueStorage};
    let arena = |name: &str, offset| ValueDef { name: name.into(), dtype: DType::F32, shape: vec![1, 4], storage: ValueStorage::Arena { offset } };
    let w: Vec<u8> = [1.0f32, -2.0, 3.0, -4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let node = |name: &str, op, params: Vec<u8>, inputs: Vec<Option<u32>>, output| NodeDef {
        name: name.into(),
        op,
        params,
        inputs,
        outputs: vec![output],
        scratch: (0, 0),
    };
    let def = FileDef {
        values: vec![
            arena("x", 0),
            ValueDef { name: "w".into(), dtype: DType::F32, shape: vec![1, 4], storage: ValueStorage::Const { bytes: w, encoding: Encoding::Dense } },
            arena("y", 64),
            arena("z", 128),
        ],
        nodes: vec![
            node("add", OpKind::Add, bytemuck::bytes_of(&BinaryParams::default()).to_vec(), vec![Some(0), Some(1)], 2),
            node("relu", OpKind::Relu, bytemuck::bytes_of(&UnaryParams::default()).to_vec(), vec![Some(2)], 3),
        ],
        inputs: vec![0],
        outputs: vec![3],
        arena_size: 192,
    };
    write(&def).expect("the add/relu model is valid")
}
