//! ONNX import: protobuf decoding, tensor and attribute reading, and the driver that lowers each
//! ONNX node (through the table in [`ops`]) into the IR, folding constants as it goes.
//!
//! Folding uses the runtime's own ops (`sprig_runtime::ops::check` + `exec`): one implementation
//! of every op. Ops whose result depends only on static shapes (Shape, Size, ConstantOfShape,
//! Range, Constant) yield constants directly, and a Reshape of a constant only relabels its data.
pub mod ops;

use crate::ir::{Graph, TensorId};
use crate::tensor::OwnedData;
use anyhow::{anyhow, bail, Context, Result};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::{DType, TensorView, TensorViewMut};
use sprig_runtime::{AlignedBuf, OpError};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tract_onnx::pb::{self, tensor_proto::DataType, AttributeProto, ModelProto, NodeProto, TensorProto};

/// Lowest and highest default-domain opset the converter accepts. Opset 6 (the ONNX backend
/// tests' pytorch-converted and pytorch-operator suites) differs from 7 in the ops it lowers by the
/// `broadcast`/`axis` attributes of binary ops and Upsample's scale attributes, both handled in
/// [`ops`]; `is_test` (BatchNormalization, Dropout) only marks inference, which sprig always does.
pub const MIN_OPSET: i64 = 6;
pub const MAX_OPSET: i64 = 23;

/// Decodes ONNX protobuf bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelProto> {
    // Zero bytes decode as a default (empty) ModelProto, which would fail later for a misleading
    // reason (no opset).
    if bytes.is_empty() {
        bail!("the file is empty (0 bytes), not an ONNX model");
    }
    <ModelProto as prost::Message>::decode(bytes).map_err(|e| anyhow!("not a valid ONNX model (protobuf decoding failed: {e})"))
}

/// The default-domain opset of a model.
pub fn opset(model: &ModelProto) -> Result<i64> {
    let v = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| anyhow!("the model imports no default-domain (ai.onnx) opset"))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&v) {
        bail!("opset {v} is not supported (supported: {MIN_OPSET} to {MAX_OPSET})");
    }
    Ok(v)
}

fn dtype_name(dt: i32) -> &'static str {
    DataType::try_from(dt).map(|d| d.as_str_name()).unwrap_or("unknown")
}

/// Maps an ONNX element type to the dtype sprig stores it as (see [`tensor_from_proto`]).
pub fn map_dtype(dt: i32) -> Result<DType> {
    use DataType as D;
    Ok(match DataType::try_from(dt).map_err(|_| anyhow!("unknown ONNX data type {dt}"))? {
        D::Float | D::Double | D::Float16 | D::Bfloat16 => DType::F32,
        D::Uint8 => DType::U8,
        D::Int8 | D::Int16 | D::Uint16 | D::Int32 => DType::I32,
        D::Int64 | D::Uint32 | D::Uint64 => DType::I64,
        D::Bool => DType::Bool,
        other => bail!("data type {} is not supported (supported: float, double, float16, bfloat16, int8/16/32/64, uint8/16/32/64, bool)", other.as_str_name()),
    })
}

fn read_external(t: &TensorProto, dir: Option<&Path>) -> Result<Vec<u8>> {
    let dir = dir.ok_or_else(|| anyhow!("external data needs the model's folder (convert from a file)"))?;
    let get = |k: &str| t.external_data.iter().find(|e| e.key == k).map(|e| e.value.as_str());
    let loc = get("location").ok_or_else(|| anyhow!("external data without a location"))?;
    let num = |k: &str| -> Result<Option<u64>> {
        get(k).map(|v| v.parse::<u64>().map_err(|_| anyhow!("external data {k} '{v}' is not a number"))).transpose()
    };
    let (offset, length) = (num("offset")?.unwrap_or(0), num("length")?);
    let base = dir.canonicalize().with_context(|| format!("model folder {}", dir.display()))?;
    let path = base.join(loc).canonicalize().with_context(|| format!("external data file '{loc}'"))?;
    if !path.starts_with(&base) {
        bail!("external data file '{loc}' lies outside the model's folder");
    }
    let all = std::fs::read(&path).with_context(|| format!("reading external data file '{loc}'"))?;
    let start = usize::try_from(offset).ok().filter(|&o| o <= all.len()).ok_or_else(|| anyhow!("external data offset {offset} is past the end of '{loc}'"))?;
    let end = match length {
        Some(l) => start.checked_add(l as usize).filter(|&e| e <= all.len()).ok_or_else(|| anyhow!("external data range is past the end of '{loc}'"))?,
        None => all.len(),
    };
    Ok(all[start..end].to_vec())
}

/// Reads little-endian fixed-size elements from raw bytes.
fn raw<const N: usize, T>(bytes: &[u8], n: usize, f: impl Fn([u8; N]) -> T) -> Result<Vec<T>> {
    if bytes.len() != n * N {
        bail!("raw data has {} bytes, expected {} ({} elements of {} bytes)", bytes.len(), n * N, n, N);
    }
    Ok(bytes.chunks_exact(N).map(|c| f(c.try_into().unwrap())).collect())
}

fn count<T>(v: Vec<T>, n: usize) -> Result<Vec<T>> {
    if v.len() != n {
        bail!("has {} elements, its shape needs {}", v.len(), n);
    }
    Ok(v)
}

/// Converts a `TensorProto` to (shape, data). f64, f16 and bf16 become f32; int8/int16/uint16
/// become i32; uint32/uint64 become i64. Each narrowing or widening adds a line to `notes`.
pub fn tensor_from_proto(t: &TensorProto, dir: Option<&Path>, notes: &mut Vec<String>) -> Result<(Vec<usize>, OwnedData)> {
    use DataType as D;
    let shape: Vec<usize> =
        t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| anyhow!("negative dimension {d}"))).collect::<Result<_>>()?;
    check_shape(&t.name, &shape)?;
    let n: usize = shape.iter().product();
    let dt = DataType::try_from(t.data_type).map_err(|_| anyhow!("unknown ONNX data type {}", t.data_type))?;
    map_dtype(t.data_type)?;
    let external = t.data_location == Some(pb::tensor_proto::DataLocation::External as i32);
    let bytes = if external { Some(read_external(t, dir)?) } else if !t.raw_data.is_empty() || n == 0 { Some(t.raw_data.clone()) } else { None };
    let mut note = |what: &str| {
        let s = format!("stored {} tensors as {what}", dt.as_str_name());
        if !notes.contains(&s) {
            notes.push(s);
        }
    };
    let data = match (dt, bytes) {
        (D::Float, Some(b)) => OwnedData::F32(raw::<4, _>(&b, n, f32::from_le_bytes)?),
        (D::Float, None) => OwnedData::F32(count(t.float_data.clone(), n)?),
        (D::Double, b) => {
            note("f32 (narrowed)");
            let v = match b {
                Some(b) => raw::<8, _>(&b, n, f64::from_le_bytes)?,
                None => count(t.double_data.clone(), n)?,
            };
            OwnedData::F32(v.into_iter().map(|x| x as f32).collect())
        }
        (D::Float16 | D::Bfloat16, b) => {
            note("f32 (widened)");
            let bits = match b {
                Some(b) => raw::<2, _>(&b, n, u16::from_le_bytes)?,
                None => count(t.int32_data.iter().map(|&x| x as u16).collect(), n)?,
            };
            let conv = |x: u16| if dt == D::Float16 { half::f16::from_bits(x).to_f32() } else { half::bf16::from_bits(x).to_f32() };
            OwnedData::F32(bits.into_iter().map(conv).collect())
        }
        (D::Uint8, Some(b)) => OwnedData::U8(count(b, n)?),
        (D::Uint8, None) => OwnedData::U8(count(t.int32_data.iter().map(|&x| x as u8).collect(), n)?),
        (D::Bool, Some(b)) => OwnedData::Bool(count(b.into_iter().map(|x| (x != 0) as u8).collect(), n)?),
        (D::Bool, None) => OwnedData::Bool(count(t.int32_data.iter().map(|&x| (x != 0) as u8).collect(), n)?),
        (D::Int8 | D::Int16 | D::Uint16 | D::Int32, b) => {
            if dt != D::Int32 {
                note("i32 (widened)");
            }
            let v = match (b, dt) {
                (Some(b), D::Int8) => raw::<1, _>(&b, n, |x| i8::from_le_bytes(x) as i32)?,
                (Some(b), D::Int16) => raw::<2, _>(&b, n, |x| i16::from_le_bytes(x) as i32)?,
                (Some(b), D::Uint16) => raw::<2, _>(&b, n, |x| u16::from_le_bytes(x) as i32)?,
                (Some(b), _) => raw::<4, _>(&b, n, i32::from_le_bytes)?,
                (None, _) => count(t.int32_data.clone(), n)?,
            };
            OwnedData::I32(v)
        }
        (D::Int64, Some(b)) => OwnedData::I64(raw::<8, _>(&b, n, i64::from_le_bytes)?),
        (D::Int64, None) => OwnedData::I64(count(t.int64_data.clone(), n)?),
        (D::Uint32, b) => {
            note("i64 (widened)");
            let v = match b {
                Some(b) => raw::<4, _>(&b, n, |x| u32::from_le_bytes(x) as i64)?,
                None => count(t.uint64_data.iter().map(|&x| x as i64).collect(), n)?,
            };
            OwnedData::I64(v)
        }
        (D::Uint64, b) => {
            note("i64 (values above 2^63-1 wrap)");
            let v = match b {
                Some(b) => raw::<8, _>(&b, n, |x| u64::from_le_bytes(x) as i64)?,
                None => count(t.uint64_data.iter().map(|&x| x as i64).collect(), n)?,
            };
            OwnedData::I64(v)
        }
        (other, _) => bail!("data type {} is not supported", other.as_str_name()),
    };
    Ok((shape, data))
}

/// Converts a `SparseTensorProto` (a graph's `sparse_initializer`, a `Constant`'s `sparse_value`)
/// to the dense (shape, data) [`tensor_from_proto`] gives: zeros, with `values[i]` at `indices[i]`.
///
/// Contract (ONNX IR, message SparseTensorProto): `dims` is the dense shape (checked with
/// [`check_shape`]); `values` is 1-D, [NNZ], of any dtype [`tensor_from_proto`] reads (converted
/// the same way; raw, typed or external data); `indices` is INT64, either [NNZ] row-major linear
/// indices into `dims` or [NNZ, rank] coordinates. Every index must lie inside `dims` and none may
/// repeat (a repeat has no defined value). The spec also asks for ascending order; unsorted but
/// distinct indices still have one meaning, so they are accepted.
/// Errors do not name the tensor: callers add the initializer or node as context.
pub fn sparse_tensor_from_proto(s: &pb::SparseTensorProto, dir: Option<&Path>, notes: &mut Vec<String>) -> Result<(Vec<usize>, OwnedData)> {
    let values = s.values.as_ref().ok_or_else(|| anyhow!("sparse tensor has no values"))?;
    let indices = s.indices.as_ref().ok_or_else(|| anyhow!("sparse tensor has no indices"))?;
    let shape: Vec<usize> =
        s.dims.iter().map(|&d| usize::try_from(d).map_err(|_| anyhow!("negative dimension {d} in the dense shape {:?}", s.dims))).collect::<Result<_>>()?;
    check_shape(&values.name, &shape)?;
    let n: usize = shape.iter().product();
    if indices.data_type != DataType::Int64 as i32 {
        bail!("indices have type {}, expected INT64", dtype_name(indices.data_type));
    }
    let (vshape, vdata) = tensor_from_proto(values, dir, notes).context("values")?;
    let (ishape, idata) = tensor_from_proto(indices, dir, notes).context("indices")?;
    let OwnedData::I64(idx) = idata else { bail!("indices did not decode to INT64") };
    let [nnz] = vshape[..] else { bail!("values have shape {vshape:?}, expected one dimension [NNZ]") };
    let rank = shape.len();
    let linear: Vec<usize> = match ishape[..] {
        [m] if m == nnz => idx
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| anyhow!("index {i} (entry #{k}) is out of range for shape {shape:?} ({n} elements)"))
            })
            .collect::<Result<_>>()?,
        [m, r] if m == nnz && r == rank => (0..nnz)
            .map(|k| {
                let c = &idx[k * rank..(k + 1) * rank];
                c.iter().zip(&shape).try_fold(0usize, |lin, (&i, &d)| match usize::try_from(i) {
                    Ok(i) if i < d => Ok(lin * d + i),
                    _ => Err(anyhow!("index {c:?} (entry #{k}) is out of range for shape {shape:?}")),
                })
            })
            .collect::<Result<_>>()?,
        [_, r] if r != rank => bail!("indices have shape {ishape:?}: coordinates of {r} dimensions for a dense shape of rank {rank} {shape:?}"),
        _ => bail!("indices have shape {ishape:?}, values have {nnz} elements: expected indices [{nnz}] (linear) or [{nnz}, {rank}] (coordinates)"),
    };
    if !linear.windows(2).all(|w| w[0] < w[1]) {
        let mut sorted: Vec<(usize, usize)> = linear.iter().copied().zip(0..).collect();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            bail!("entries #{} and #{} have the same index (linear {} in shape {shape:?})", w[0].1, w[1].1, w[0].0);
        }
    }
    fn scatter<T: Copy + Default>(v: &[T], at: &[usize], n: usize) -> Vec<T> {
        let mut d = vec![T::default(); n];
        for (&x, &i) in v.iter().zip(at) {
            d[i] = x;
        }
        d
    }
    let data = match &vdata {
        OwnedData::F32(v) => OwnedData::F32(scatter(v, &linear, n)),
        OwnedData::I64(v) => OwnedData::I64(scatter(v, &linear, n)),
        OwnedData::I32(v) => OwnedData::I32(scatter(v, &linear, n)),
        OwnedData::U8(v) => OwnedData::U8(scatter(v, &linear, n)),
        OwnedData::Bool(v) => OwnedData::Bool(scatter(v, &linear, n)),
    };
    Ok((shape, data))
}

/// Largest tensor the converter creates (elements), so hostile shapes fail cleanly instead of
/// exhausting memory.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// Checks a static shape: rank within the format's limit, element count without overflow.
pub fn check_shape(name: &str, shape: &[usize]) -> Result<()> {
    if shape.len() > sprig_runtime::tensor::MAX_RANK {
        bail!("tensor '{name}' has rank {}, above the maximum of {}", shape.len(), sprig_runtime::tensor::MAX_RANK);
    }
    match shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_ELEMENTS && shape.iter().all(|&d| d <= u32::MAX as usize) => Ok(()),
        _ => bail!("tensor '{name}' with shape {shape:?} is too large"),
    }
}

/// Typed access to a node's attributes.
#[derive(Clone, Copy)]
pub struct Attrs<'a>(pub &'a [AttributeProto]);

impl<'a> Attrs<'a> {
    pub fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map(|a| a.i).unwrap_or(default)
    }
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map(|a| a.f).unwrap_or(default)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    pub fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.get(name).map(|a| a.floats.clone())
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    pub fn tensor(&self, name: &str) -> Option<&'a TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }
}

/// The ONNX node being lowered.
pub struct OnnxNode<'a> {
    pub p: &'a NodeProto,
    /// The ONNX name, or `<op>_<index>`.
    pub name: String,
    pub attrs: Attrs<'a>,
}

impl OnnxNode<'_> {
    pub fn op(&self) -> &str {
        &self.p.op_type
    }
}

/// Lowering state: the graph being built, ONNX names → tensors, and counters for the report.
pub struct Cx<'m> {
    pub g: Graph,
    pub names: HashMap<String, TensorId>,
    pub opset: i64,
    /// ONNX nodes evaluated at conversion time.
    pub folded: usize,
    pub notes: Vec<String>,
    pub dir: Option<&'m Path>,
    /// Names read by some node or listed as graph outputs (to reject used optional outputs).
    used: HashSet<String>,
    /// How many times each name is read by a node or listed as a graph output.
    uses: HashMap<String, usize>,
    graph_outputs: HashSet<String>,
}

/// `Some(t)` for each present input of a node, all constants?
fn all_const(g: &Graph, inputs: &[Option<TensorId>]) -> bool {
    inputs.iter().any(|i| i.is_some()) && inputs.iter().flatten().all(|&t| g.tensors[t].is_const())
}

fn data_from_bytes(dtype: DType, bytes: &[u8]) -> Option<OwnedData> {
    Some(match dtype {
        DType::F32 => OwnedData::F32(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
        DType::I64 => OwnedData::I64(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        DType::I32 => OwnedData::I32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()),
        DType::U8 => OwnedData::U8(bytes.to_vec()),
        DType::Bool => OwnedData::Bool(bytes.iter().map(|&b| (b != 0) as u8).collect()),
        DType::F16 => return None,
    })
}

impl<'m> Cx<'m> {
    /// Input `i` of `n`: `None` when absent or named "".
    pub fn input(&self, n: &OnnxNode, i: usize) -> Result<Option<TensorId>> {
        match n.p.input.get(i).map(|s| s.as_str()) {
            None | Some("") => Ok(None),
            Some(name) => self.names.get(name).copied().map(Some).ok_or_else(|| anyhow!("unknown input tensor '{name}'")),
        }
    }

    /// Input `i` of `n`, required.
    pub fn req(&self, n: &OnnxNode, i: usize) -> Result<TensorId> {
        self.input(n, i)?.ok_or_else(|| anyhow!("{} needs input #{i}", n.op()))
    }

    pub fn shape(&self, t: TensorId) -> &[usize] {
        &self.g.tensors[t].shape
    }

    pub fn dtype(&self, t: TensorId) -> DType {
        self.g.tensors[t].dtype
    }

    pub fn data(&self, t: TensorId) -> Option<&OwnedData> {
        self.g.tensors[t].data.as_ref()
    }

    /// A constant integer tensor's values (i64 or i32), or an error naming `what`.
    pub fn const_ints(&self, t: TensorId, what: &str) -> Result<Vec<i64>> {
        match self.data(t) {
            Some(OwnedData::I64(v)) => Ok(v.clone()),
            Some(OwnedData::I32(v)) => Ok(v.iter().map(|&x| x as i64).collect()),
            Some(OwnedData::U8(v)) => Ok(v.iter().map(|&x| x as i64).collect()),
            Some(_) => bail!("{what} ('{}') must be an integer tensor", self.g.tensors[t].name),
            None => bail!(
                "{what} ('{}') must be known at conversion time (a constant, or computed from static shapes only)",
                self.g.tensors[t].name
            ),
        }
    }

    /// A constant float tensor's values, or an error naming `what`.
    pub fn const_floats(&self, t: TensorId, what: &str) -> Result<Vec<f32>> {
        match self.data(t) {
            Some(OwnedData::F32(v)) => Ok(v.clone()),
            Some(d) => Ok(d.to_f64().into_iter().map(|x| x as f32).collect()),
            None => bail!("{what} ('{}') must be a constant", self.g.tensors[t].name),
        }
    }

    /// Whether `name` is read exactly once (by one node input, or as the graph output only).
    pub fn used_once(&self, name: &str) -> bool {
        self.uses.get(name) == Some(&1)
    }

    /// Whether `name` is a graph output.
    pub fn is_graph_output(&self, name: &str) -> bool {
        self.graph_outputs.contains(name)
    }

    /// Whether output `k` of `n` is read by anything.
    pub fn output_used(&self, n: &OnnxNode, k: usize) -> bool {
        n.p.output.get(k).is_some_and(|s| !s.is_empty() && self.used.contains(s))
    }

    /// Fails when any output from `k` on is used (e.g. BatchNormalization's training outputs).
    pub fn reject_outputs_from(&self, n: &OnnxNode, k: usize, what: &str) -> Result<()> {
        for j in k..n.p.output.len() {
            if self.output_used(n, j) {
                bail!("output #{j} ('{}') is not supported ({what})", n.p.output[j]);
            }
        }
        Ok(())
    }

    /// Binds ONNX output `k` of `n` to `t`.
    pub fn bind(&mut self, n: &OnnxNode, k: usize, t: TensorId) {
        if let Some(name) = n.p.output.get(k).filter(|s| !s.is_empty()) {
            self.names.insert(name.clone(), t);
        }
    }

    /// The name for ONNX output `k` of `n` (a fresh one if the output is unnamed).
    pub fn out_name(&self, n: &OnnxNode, k: usize) -> String {
        match n.p.output.get(k).filter(|s| !s.is_empty()) {
            Some(s) => s.clone(),
            None => self.g.fresh_name(&n.name),
        }
    }

    /// Adds a constant tensor named after `base` and returns it.
    pub fn constant(&mut self, base: &str, shape: Vec<usize>, data: OwnedData) -> TensorId {
        let name = self.g.fresh_name(base);
        self.g.add_const(name, shape, data)
    }

    /// Binds ONNX output `k` of `n` to a new constant (Shape, Constant, ...).
    pub fn bind_const(&mut self, n: &OnnxNode, k: usize, shape: Vec<usize>, data: OwnedData) -> TensorId {
        let name = self.out_name(n, k);
        let t = self.g.add_const(name, shape, data);
        self.bind(n, k, t);
        self.folded += 1;
        t
    }

    /// Emits a node computing tensors `outs` (name, dtype, shape) and returns their ids. When
    /// every input is constant the node is evaluated now and its outputs become constants.
    pub fn emit(
        &mut self,
        node_name: &str,
        op: OpKind,
        params: Vec<u8>,
        inputs: Vec<Option<TensorId>>,
        outs: Vec<(String, DType, Vec<usize>)>,
    ) -> Result<Vec<TensorId>> {
        for (name, _, shape) in &outs {
            check_shape(name, shape)?;
        }
        let ids: Vec<TensorId> = outs.into_iter().map(|(name, dt, shape)| self.g.add_tensor(name, dt, shape, None)).collect();
        if all_const(&self.g, &inputs) && self.try_fold(op, &params, &inputs, &ids)? {
            self.folded += 1;
            return Ok(ids);
        }
        self.g.nodes.push(crate::ir::Node {
            name: node_name.to_string(),
            op,
            params,
            inputs,
            outputs: ids.clone(),
            fused: Vec::new(),
            from_bn: None,
        });
        Ok(ids)
    }

    /// Emits a one-output node for ONNX node `n` and binds its first output.
    pub fn emit1(&mut self, n: &OnnxNode, op: OpKind, params: Vec<u8>, inputs: Vec<Option<TensorId>>, dt: DType, shape: Vec<usize>) -> Result<TensorId> {
        let name = self.out_name(n, 0);
        let t = self.emit(&n.name.clone(), op, params, inputs, vec![(name, dt, shape)])?[0];
        self.bind(n, 0, t);
        Ok(t)
    }

    /// Evaluates a node whose inputs are all constant with the runtime's op. Returns false when
    /// the runtime does not implement the op (the node then stays in the graph).
    fn try_fold(&mut self, op: OpKind, params: &[u8], inputs: &[Option<TensorId>], outs: &[TensorId]) -> Result<bool> {
        if op == OpKind::Reshape && outs.len() == 1 {
            // Relabelling constant data is not an evaluation.
            let d = self.data(inputs[0].unwrap()).cloned();
            self.g.tensors[outs[0]].data = d;
            return Ok(true);
        }
        let info = |g: &Graph, t: TensorId| g.tensors[t].info().ok_or_else(|| anyhow!("tensor '{}' has rank above 8", g.tensors[t].name));
        let in_infos: Vec<_> = inputs.iter().map(|i| i.map(|t| info(&self.g, t)).transpose()).collect::<Result<_>>()?;
        let out_infos: Vec<_> = outs.iter().map(|&t| info(&self.g, t)).collect::<Result<_>>()?;
        let scratch_len = match sprig_runtime::ops::check(op, params, &in_infos, &out_infos) {
            Ok(s) => s,
            Err(OpError::Unsupported(_)) => return Ok(false),
            Err(e) => bail!("runtime op {} rejects it while folding constants: {e}", op.name()),
        };
        let in_bufs: Vec<Option<AlignedBuf>> =
            inputs.iter().map(|i| i.map(|t| AlignedBuf::from_bytes(&self.g.tensors[t].data.as_ref().unwrap().to_bytes()))).collect();
        let in_views: Vec<Option<TensorView>> =
            in_bufs.iter().zip(&in_infos).map(|(b, i)| b.as_ref().map(|b| TensorView { info: i.unwrap(), bytes: b.as_slice() })).collect();
        let mut out_bufs: Vec<AlignedBuf> = outs.iter().map(|&t| AlignedBuf::new(self.g.tensors[t].nbytes())).collect();
        let mut out_views: Vec<TensorViewMut> =
            out_bufs.iter_mut().zip(&out_infos).map(|(b, i)| TensorViewMut { info: *i, bytes: b.as_mut_slice() }).collect();
        let mut scratch = AlignedBuf::new(scratch_len);
        match sprig_runtime::ops::exec(op, params, &in_views, &mut out_views, scratch.as_mut_slice(), sprig_runtime::Isa::Scalar) {
            Ok(()) => {}
            Err(OpError::Unsupported(_)) => return Ok(false),
            Err(e) => bail!("runtime op {} failed while folding constants: {e}", op.name()),
        }
        drop(out_views);
        for (&t, b) in outs.iter().zip(&out_bufs) {
            let dt = self.g.tensors[t].dtype;
            self.g.tensors[t].data = Some(data_from_bytes(dt, b.as_slice()).ok_or_else(|| anyhow!("cannot fold to dtype {}", dt.name()))?);
        }
        Ok(true)
    }
}

/// Options that shape the import.
pub struct ImportOptions<'a> {
    pub input_shapes: &'a [(String, Vec<usize>)],
    pub dir: Option<&'a Path>,
}

/// The result of importing: the lowered graph plus counters for the report.
pub struct Imported {
    pub graph: Graph,
    pub folded: usize,
    pub notes: Vec<String>,
    pub opset: i64,
}

fn value_type(v: &pb::ValueInfoProto) -> Result<(i32, Vec<Result<usize, String>>)> {
    let t = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t,
        _ => bail!("graph input '{}' is not a tensor or has no type", v.name),
    };
    let dims = match &t.shape {
        None => bail!("graph input '{}' has no shape (give it with --input-shape)", v.name),
        Some(s) => s
            .dim
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(x)) if *x >= 0 => Ok(*x as usize),
                Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => Err(p.clone()),
                _ => Err(format!("#{i}")),
            })
            .collect(),
    };
    Ok((t.elem_type, dims))
}

/// Lowers an ONNX model to the IR (see the module doc).
pub fn import(model: &ModelProto, opts: &ImportOptions) -> Result<Imported> {
    let opset = opset(model)?;
    let graph = model.graph.as_ref().ok_or_else(|| anyhow!("the model has no graph"))?;
    // Without outputs every node is dead and the result would be a model that computes nothing.
    if graph.output.is_empty() {
        bail!("the graph has no outputs");
    }
    let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut uses: HashMap<String, usize> = HashMap::new();
    for name in graph.output.iter().map(|o| &o.name).chain(graph.node.iter().flat_map(|n| n.input.iter())) {
        *uses.entry(name.clone()).or_default() += 1;
    }
    let used: HashSet<String> = uses.keys().cloned().collect();
    let mut cx = Cx { g: Graph::default(), names: HashMap::new(), opset, folded: 0, notes: Vec::new(), dir: opts.dir, used, uses, graph_outputs };

    for init in &graph.initializer {
        let (shape, data) = tensor_from_proto(init, opts.dir, &mut cx.notes).with_context(|| format!("initializer '{}'", init.name))?;
        let t = cx.g.add_const(init.name.clone(), shape, data);
        cx.names.insert(init.name.clone(), t);
    }
    // Densified here; the sparse pass later chooses their encoding as for any other weight.
    for (k, sparse) in graph.sparse_initializer.iter().enumerate() {
        let name = sparse.values.as_ref().map(|v| v.name.as_str()).unwrap_or_default();
        if name.is_empty() {
            bail!("sparse initializer #{k} has no name (its values tensor must be named)");
        }
        if graph.initializer.iter().any(|i| i.name == name) {
            bail!("sparse initializer '{name}' has the same name as an initializer");
        }
        if cx.names.contains_key(name) {
            bail!("sparse initializer '{name}' appears twice");
        }
        let (shape, data) = sparse_tensor_from_proto(sparse, opts.dir, &mut cx.notes).with_context(|| format!("sparse initializer '{name}'"))?;
        let t = cx.g.add_const(name.to_string(), shape, data);
        cx.names.insert(name.to_string(), t);
    }
    if !graph.sparse_initializer.is_empty() {
        cx.notes.push(format!("densified {} sparse initializers", graph.sparse_initializer.len()));
    }
    let inputs: Vec<&pb::ValueInfoProto> = graph.input.iter().filter(|i| !cx.names.contains_key(&i.name)).collect();
    for (name, _) in opts.input_shapes {
        if !inputs.iter().any(|i| &i.name == name) {
            let all: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            bail!("--input-shape names '{name}', which is not a graph input (inputs: {})", all.join(", "));
        }
    }
    for v in inputs {
        let (et, dims) = value_type(v)?;
        let dtype = map_dtype(et).with_context(|| format!("graph input '{}'", v.name))?;
        if let DType::I32 | DType::I64 = dtype {
            if et != DataType::Int32 as i32 && et != DataType::Int64 as i32 {
                bail!("graph input '{}' has type {}, which sprig cannot take as input", v.name, dtype_name(et));
            }
        }
        if dtype == DType::F32 && et == DataType::Double as i32 {
            // As double weights are: sprig computes in f32 (old PyTorch exports of float64 models).
            cx.notes.push(format!("graph input '{}' is double: the model takes and computes it as f32", v.name));
        } else if dtype == DType::F32 && et != DataType::Float as i32 {
            bail!("graph input '{}' has type {} (supported floats: float32, and double taken as f32)", v.name, dtype_name(et));
        }
        let given = opts.input_shapes.iter().find(|(n, _)| n == &v.name).map(|(_, s)| s);
        let shape = match given {
            Some(s) => {
                if s.len() != dims.len() {
                    bail!("--input-shape for '{}' has rank {}, the model's input has rank {}", v.name, s.len(), dims.len());
                }
                for (k, (g, d)) in s.iter().zip(&dims).enumerate() {
                    if let Ok(d) = d {
                        if d != g {
                            bail!("--input-shape for '{}' gives {g} for dimension {k}, the model fixes it to {d}", v.name);
                        }
                    }
                }
                s.clone()
            }
            None => dims
                .into_iter()
                .map(|d| d.map_err(|p| anyhow!("graph input '{}' has symbolic dimension '{p}': give its shape with --input-shape {}=...", v.name, v.name)))
                .collect::<Result<_>>()?,
        };
        check_shape(&v.name, &shape)?;
        let t = cx.g.add_tensor(v.name.clone(), dtype, shape, None);
        cx.g.inputs.push(t);
        cx.names.insert(v.name.clone(), t);
    }

    let mut produced_by: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            produced_by.entry(o.as_str()).or_insert(i);
        }
    }
    for (i, p) in graph.node.iter().enumerate() {
        let name = if p.name.is_empty() { format!("{}_{i}", p.op_type) } else { p.name.clone() };
        let ctx = || format!("node '{}' ({})", name, p.op_type);
        for inp in p.input.iter().filter(|s| !s.is_empty()) {
            if !cx.names.contains_key(inp) {
                return Err(match produced_by.get(inp.as_str()) {
                    Some(&j) if j >= i => anyhow!(
                        "input '{inp}' is produced by node '{}' ({}), which comes later: the graph is not in topological order or has a cycle",
                        if graph.node[j].name.is_empty() { format!("{}_{j}", graph.node[j].op_type) } else { graph.node[j].name.clone() },
                        graph.node[j].op_type
                    ),
                    _ => anyhow!("unknown input tensor '{inp}' (not a graph input, initializer or earlier node output)"),
                })
                .with_context(ctx);
            }
        }
        if !(p.domain.is_empty() || p.domain == "ai.onnx") {
            return Err(anyhow!("operator domain '{}' is not supported (only the default ONNX domain)", p.domain)).with_context(ctx);
        }
        let n = OnnxNode { p, name: name.clone(), attrs: Attrs(&p.attribute) };
        let lower = ops::lookup(&p.op_type).ok_or_else(|| anyhow!("op {} is not supported (supported: {})", p.op_type, ops::supported().join(", "))).with_context(ctx)?;
        lower(&mut cx, &n).with_context(ctx)?;
        for (k, o) in p.output.iter().enumerate() {
            if !o.is_empty() && cx.used.contains(o) && !cx.names.contains_key(o) {
                return Err(anyhow!("output #{k} ('{o}') is not supported")).with_context(ctx);
            }
        }
    }

    for o in &graph.output {
        let t = *cx.names.get(&o.name).ok_or_else(|| anyhow!("graph output '{}' is not produced by any node", o.name))?;
        let t = if cx.g.tensors[t].is_const() || cx.g.outputs.contains(&t) {
            // A constant output still has to be written into the arena by a node.
            let (dt, shape) = (cx.dtype(t), cx.shape(t).to_vec());
            let out = cx.g.add_tensor(o.name.clone(), dt, shape, None);
            if cx.g.tensors[t].name == o.name {
                cx.g.tensors[t].name = cx.g.fresh_name(&o.name);
            }
            cx.g.nodes.push(crate::ir::Node {
                name: format!("{}_copy", o.name),
                op: OpKind::Reshape,
                params: Vec::new(),
                inputs: vec![Some(t)],
                outputs: vec![out],
                fused: Vec::new(),
                from_bn: None,
            });
            out
        } else {
            t
        };
        cx.g.outputs.push(t);
    }
    Ok(Imported { graph: cx.g, folded: cx.folded, notes: cx.notes, opset })
}
