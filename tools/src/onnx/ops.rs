//! The ONNX op table: one row per ONNX op type, mapping it to a lowering function that reads the
//! attributes (with ONNX's defaults for the model's opset), infers output shapes, normalises
//! axes and emits IR nodes with runtime parameters. Shared shapes of lowering (binary, unary,
//! reduction, pooling geometry) are one helper each.
use super::{Cx, OnnxNode};
use crate::ir::TensorId;
use crate::tensor::OwnedData;
use anyhow::{anyhow, bail, ensure, Context, Result};
use sprig_runtime::ops::params::*;
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::DType;

type Lower = fn(&mut Cx, &OnnxNode) -> Result<()>;

/// ONNX op type → lowering. The single source of the supported op set.
const TABLE: &[(&str, Lower)] = &[
    ("Conv", conv),
    ("ConvTranspose", conv_transpose),
    ("Gemm", gemm),
    ("MatMul", matmul),
    ("Add", |cx, n| variadic(cx, n, OpKind::Add)),
    ("Sub", |cx, n| variadic(cx, n, OpKind::Sub)),
    ("Mul", |cx, n| variadic(cx, n, OpKind::Mul)),
    ("Div", |cx, n| variadic(cx, n, OpKind::Div)),
    ("Pow", |cx, n| variadic(cx, n, OpKind::Pow)),
    ("Max", |cx, n| variadic(cx, n, OpKind::Max)),
    ("Min", |cx, n| variadic(cx, n, OpKind::Min)),
    ("Mod", mod_),
    ("Sum", |cx, n| variadic(cx, n, OpKind::Add)),
    ("Equal", |cx, n| variadic(cx, n, OpKind::Equal)),
    ("Less", |cx, n| variadic(cx, n, OpKind::Less)),
    ("Greater", |cx, n| variadic(cx, n, OpKind::Greater)),
    ("LessOrEqual", |cx, n| variadic(cx, n, OpKind::LessOrEqual)),
    ("GreaterOrEqual", |cx, n| variadic(cx, n, OpKind::GreaterOrEqual)),
    ("And", |cx, n| variadic(cx, n, OpKind::And)),
    ("Or", |cx, n| variadic(cx, n, OpKind::Or)),
    ("Xor", |cx, n| variadic(cx, n, OpKind::Xor)),
    ("PRelu", prelu),
    ("Where", where_),
    ("Relu", |cx, n| unary(cx, n, OpKind::Relu, 0.0, 0.0)),
    ("LeakyRelu", |cx, n| {
        let a = n.attrs.float("alpha", 0.01);
        unary(cx, n, OpKind::LeakyRelu, a, 0.0)
    }),
    ("Clip", clip),
    ("Sigmoid", |cx, n| unary(cx, n, OpKind::Sigmoid, 0.0, 0.0)),
    ("HardSigmoid", |cx, n| {
        let (a, b) = (n.attrs.float("alpha", 0.2), n.attrs.float("beta", 0.5));
        unary(cx, n, OpKind::HardSigmoid, a, b)
    }),
    ("HardSwish", |cx, n| unary(cx, n, OpKind::HardSwish, 0.0, 0.0)),
    ("Tanh", |cx, n| unary(cx, n, OpKind::Tanh, 0.0, 0.0)),
    ("Erf", |cx, n| unary(cx, n, OpKind::Erf, 0.0, 0.0)),
    ("Gelu", gelu),
    ("Exp", |cx, n| unary(cx, n, OpKind::Exp, 0.0, 0.0)),
    ("Sqrt", |cx, n| unary(cx, n, OpKind::Sqrt, 0.0, 0.0)),
    ("Reciprocal", |cx, n| unary(cx, n, OpKind::Reciprocal, 0.0, 0.0)),
    ("Neg", |cx, n| unary(cx, n, OpKind::Neg, 0.0, 0.0)),
    ("Abs", |cx, n| unary(cx, n, OpKind::Abs, 0.0, 0.0)),
    ("Log", |cx, n| unary(cx, n, OpKind::Log, 0.0, 0.0)),
    ("Floor", |cx, n| unary(cx, n, OpKind::Floor, 0.0, 0.0)),
    ("Ceil", |cx, n| unary(cx, n, OpKind::Ceil, 0.0, 0.0)),
    ("Round", |cx, n| unary(cx, n, OpKind::Round, 0.0, 0.0)),
    ("Sign", |cx, n| unary(cx, n, OpKind::Sign, 0.0, 0.0)),
    ("Sin", |cx, n| unary(cx, n, OpKind::Sin, 0.0, 0.0)),
    ("Cos", |cx, n| unary(cx, n, OpKind::Cos, 0.0, 0.0)),
    ("Softplus", |cx, n| unary(cx, n, OpKind::Softplus, 0.0, 0.0)),
    ("Elu", |cx, n| {
        let a = n.attrs.float("alpha", 1.0);
        unary(cx, n, OpKind::Elu, a, 0.0)
    }),
    ("Not", |cx, n| unary(cx, n, OpKind::Not, 0.0, 0.0)),
    ("Selu", selu),
    ("Softsign", softsign),
    ("Cast", cast),
    ("Softmax", |cx, n| softmax(cx, n, OpKind::Softmax)),
    ("LogSoftmax", |cx, n| softmax(cx, n, OpKind::LogSoftmax)),
    ("LayerNormalization", layer_norm),
    ("BatchNormalization", batch_norm),
    ("ReduceMean", |cx, n| reduce(cx, n, OpKind::ReduceMean)),
    ("ReduceSum", |cx, n| reduce(cx, n, OpKind::ReduceSum)),
    ("ReduceMax", |cx, n| reduce(cx, n, OpKind::ReduceMax)),
    ("ReduceMin", |cx, n| reduce(cx, n, OpKind::ReduceMin)),
    ("ReduceProd", |cx, n| reduce(cx, n, OpKind::ReduceProd)),
    ("ArgMax", argmax),
    ("MaxPool", |cx, n| pool(cx, n, OpKind::MaxPool)),
    ("AveragePool", |cx, n| pool(cx, n, OpKind::AveragePool)),
    ("GlobalAveragePool", |cx, n| global_pool(cx, n, OpKind::GlobalAveragePool)),
    ("GlobalMaxPool", |cx, n| global_pool(cx, n, OpKind::GlobalMaxPool)),
    ("Concat", concat),
    ("Split", split),
    ("Slice", slice),
    ("Gather", gather),
    ("Transpose", transpose),
    ("Reshape", reshape),
    ("Flatten", flatten),
    ("Squeeze", squeeze),
    ("Unsqueeze", unsqueeze),
    ("Identity", identity),
    ("Dropout", identity),
    ("Pad", pad),
    ("Resize", resize),
    ("Upsample", resize),
    ("Expand", expand),
    ("Tile", tile),
    ("Shape", shape_of),
    ("Size", size_of),
    ("ConstantOfShape", constant_of_shape),
    ("Range", range),
    ("Constant", constant),
];

pub fn lookup(op_type: &str) -> Option<Lower> {
    TABLE.iter().find(|(n, _)| *n == op_type).map(|(_, f)| *f)
}

/// The supported ONNX op types, sorted.
pub fn supported() -> Vec<&'static str> {
    let mut v: Vec<&str> = TABLE.iter().map(|(n, _)| *n).collect();
    v.sort();
    v
}

fn bytes<P: bytemuck::Pod>(p: &P) -> Vec<u8> {
    bytemuck::bytes_of(p).to_vec()
}

/// Normalises an ONNX axis (negative counts from the end) for a tensor of `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    ensure!(a >= 0 && a < rank as i64, "axis {axis} is out of range for rank {rank}");
    Ok(a as usize)
}

/// Numpy broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let y = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            match (x, y) {
                _ if x == y => Ok(x),
                (1, _) => Ok(y),
                (_, 1) => Ok(x),
                _ => bail!("shapes {a:?} and {b:?} do not broadcast"),
            }
        })
        .collect()
}

fn is_comparison(op: OpKind) -> bool {
    use OpKind::*;
    matches!(op, Equal | Less | Greater | LessOrEqual | GreaterOrEqual | And | Or | Xor)
}

/// Emits one elementwise binary node `out = a op b`.
pub fn emit_binary(cx: &mut Cx, node: &str, op: OpKind, a: TensorId, b: TensorId, out: String) -> Result<TensorId> {
    let shape = broadcast(cx.shape(a), cx.shape(b))?;
    let dt = if is_comparison(op) { DType::Bool } else { cx.dtype(a) };
    if op != OpKind::Pow && cx.dtype(a) != cx.dtype(b) {
        bail!("input dtypes differ ({} and {})", cx.dtype(a).name(), cx.dtype(b).name());
    }
    let p = bytes(&BinaryParams::default());
    Ok(cx.emit(node, op, p, vec![Some(a), Some(b)], vec![(out, dt, shape)])?[0])
}

/// Before opset 7, binary ops broadcast only with attribute `broadcast=1`, and then B's shape
/// matches a contiguous run of A's axes starting at attribute `axis` (default: A's last axes).
/// Returns B reshaped with trailing 1s so that numpy broadcasting gives that alignment.
fn legacy_broadcast(cx: &mut Cx, n: &OnnxNode, a: TensorId, b: TensorId) -> Result<TensorId> {
    let (sa, sb) = (cx.shape(a).to_vec(), cx.shape(b).to_vec());
    if n.attrs.int("broadcast", 0) == 0 {
        ensure!(sa == sb, "shapes {sa:?} and {sb:?} differ and attribute broadcast is not set (opset {} has no implicit broadcasting)", cx.opset);
        return Ok(b);
    }
    ensure!(sb.len() <= sa.len(), "B has rank {}, above A's rank {} (legacy broadcast)", sb.len(), sa.len());
    let axis = match n.attrs.get("axis") {
        Some(x) => norm_axis(x.i, sa.len())?,
        None => sa.len() - sb.len(),
    };
    ensure!(axis + sb.len() <= sa.len(), "B of shape {sb:?} does not fit A of shape {sa:?} from axis {axis}");
    for (k, &d) in sb.iter().enumerate() {
        ensure!(d == 1 || d == sa[axis + k], "B of shape {sb:?} does not broadcast to A of shape {sa:?} from axis {axis}");
    }
    if axis + sb.len() == sa.len() {
        return Ok(b);
    }
    let mut shape = sb.clone();
    shape.resize(sa.len() - axis, 1);
    let name = cx.g.fresh_name(&format!("{}_bcast", cx.g.tensors[b].name));
    Ok(cx.emit(&n.name, OpKind::Reshape, Vec::new(), vec![Some(b)], vec![(name, cx.dtype(b), shape)])?[0])
}

/// Binary ops, and their variadic forms (Sum, Max, Min of N inputs) as chains.
fn variadic(cx: &mut Cx, n: &OnnxNode, op: OpKind) -> Result<()> {
    let mut ins: Vec<TensorId> = (0..n.p.input.len()).map(|i| cx.req(n, i)).collect::<Result<_>>()?;
    ensure!(!ins.is_empty(), "{} needs at least one input", n.op());
    if ins.len() == 1 {
        return identity(cx, n);
    }
    // Sum, Max and Min never had the broadcast attribute (same shapes before opset 8).
    if cx.opset < 7 && ins.len() == 2 && !matches!(n.op(), "Sum" | "Max" | "Min") {
        ins[1] = legacy_broadcast(cx, n, ins[0], ins[1])?;
    } else if (n.op() == "Add" && fuse_bias_add(cx, n)?) || (n.op() == "Mul" && fuse_hard_swish(cx, n)?) {
        return Ok(());
    }
    let mut acc = ins[0];
    for (k, &b) in ins.iter().enumerate().skip(1) {
        let last = k + 1 == ins.len();
        let out = if last { cx.out_name(n, 0) } else { cx.g.fresh_name(&n.name) };
        acc = emit_binary(cx, &n.name, op, acc, b, out)?;
    }
    cx.bind(n, 0, acc);
    Ok(())
}

/// Mod: the runtime computes integer Mod with the divisor's sign (ONNX fmod=0) and f32 Mod as C
/// fmod (ONNX fmod=1, the only value ONNX allows for floats). PyTorch's legacy exporter emits
/// integer Mod (fmod=0) in the shape arithmetic of multi-head attention.
fn mod_(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (a, b) = (cx.req(n, 0)?, cx.req(n, 1)?);
    let fmod = n.attrs.int("fmod", 0) != 0;
    match (cx.dtype(a), fmod) {
        (DType::F32, false) => bail!("attribute fmod=0 is not valid for float inputs (ONNX requires fmod=1)"),
        (DType::F32, true) | (DType::I32 | DType::I64, false) => {}
        (DType::I32 | DType::I64, true) => bail!("attribute fmod=1 on integer inputs is not supported (supported: fmod=0)"),
        (dt, _) => bail!("dtype {} is not supported (supported: float, int32, int64)", dt.name()),
    }
    let out = cx.out_name(n, 0);
    let t = emit_binary(cx, &n.name, OpKind::Mod, a, b, out)?;
    cx.bind(n, 0, t);
    Ok(())
}

fn prelu(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (x, mut slope) = (cx.req(n, 0)?, cx.req(n, 1)?);
    let xs = cx.shape(x).to_vec();
    // Old exports give a [C] slope for NCHW inputs: make it [C, 1, 1].
    if cx.shape(slope).len() == 1 && xs.len() > 2 && cx.shape(slope)[0] == xs[1] && xs[1] != xs[xs.len() - 1] {
        if let Some(d) = cx.data(slope).cloned() {
            let mut s = vec![xs[1]];
            s.extend(std::iter::repeat_n(1, xs.len() - 2));
            slope = cx.constant(&cx.g.tensors[slope].name.clone(), s, d);
        }
    }
    ensure!(broadcast(&xs, cx.shape(slope))? == xs, "slope shape {:?} does not broadcast to X {:?}", cx.shape(slope), xs);
    let p = bytes(&BinaryParams::default());
    cx.emit1(n, OpKind::PRelu, p, vec![Some(x), Some(slope)], cx.dtype(x), xs)?;
    Ok(())
}

fn where_(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (c, x, y) = (cx.req(n, 0)?, cx.req(n, 1)?, cx.req(n, 2)?);
    let shape = broadcast(&broadcast(cx.shape(c), cx.shape(x))?, cx.shape(y))?;
    let p = bytes(&BinaryParams::default());
    cx.emit1(n, OpKind::Where, p, vec![Some(c), Some(x), Some(y)], cx.dtype(x), shape)?;
    Ok(())
}

/// Elementwise unary ops with [`UnaryParams`].
fn unary(cx: &mut Cx, n: &OnnxNode, op: OpKind, alpha: f32, beta: f32) -> Result<()> {
    let x = cx.req(n, 0)?;
    let dt = if op == OpKind::Not { DType::Bool } else { cx.dtype(x) };
    let shape = cx.shape(x).to_vec();
    cx.emit1(n, op, bytes(&UnaryParams { alpha, beta }), vec![Some(x)], dt, shape)?;
    Ok(())
}

/// Selu = gamma * Elu(x, alpha): an Elu node and a Mul by the scalar gamma.
fn selu(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    ensure!(cx.dtype(x) == DType::F32, "input dtype {} is not supported (supported: float)", cx.dtype(x).name());
    let alpha = n.attrs.float("alpha", 1.673_263_2);
    let gamma = n.attrs.float("gamma", 1.050_701);
    let shape = cx.shape(x).to_vec();
    let tmp = cx.g.fresh_name(&n.name);
    let e = cx.emit(&n.name, OpKind::Elu, bytes(&UnaryParams { alpha, beta: 0.0 }), vec![Some(x)], vec![(tmp, DType::F32, shape)])?[0];
    let g = cx.constant(&format!("{}_gamma", n.name), vec![], OwnedData::F32(vec![gamma]));
    let out = cx.out_name(n, 0);
    let y = emit_binary(cx, &n.name, OpKind::Mul, e, g, out)?;
    cx.bind(n, 0, y);
    Ok(())
}

/// Softsign = x / (1 + |x|): Abs, Add of 1, Div.
fn softsign(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    ensure!(cx.dtype(x) == DType::F32, "input dtype {} is not supported (supported: float)", cx.dtype(x).name());
    let shape = cx.shape(x).to_vec();
    let tmp = cx.g.fresh_name(&n.name);
    let abs = cx.emit(&n.name, OpKind::Abs, bytes(&UnaryParams::default()), vec![Some(x)], vec![(tmp, DType::F32, shape)])?[0];
    let one = cx.constant(&format!("{}_one", n.name), vec![], OwnedData::F32(vec![1.0]));
    let tmp = cx.g.fresh_name(&n.name);
    let den = emit_binary(cx, &n.name, OpKind::Add, abs, one, tmp)?;
    let out = cx.out_name(n, 0);
    let y = emit_binary(cx, &n.name, OpKind::Div, x, den, out)?;
    cx.bind(n, 0, y);
    Ok(())
}

fn clip(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (lo, hi) = if cx.opset < 11 {
        (n.attrs.float("min", f32::NEG_INFINITY), n.attrs.float("max", f32::INFINITY))
    } else {
        let bound = |cx: &Cx, i: usize, default: f32| -> Result<f32> {
            match cx.input(n, i)? {
                None => Ok(default),
                Some(t) => {
                    let v = cx.const_floats(t, if i == 1 { "min" } else { "max" })?;
                    ensure!(v.len() == 1, "Clip bounds must be scalars");
                    Ok(v[0])
                }
            }
        };
        (bound(cx, 1, f32::NEG_INFINITY)?, bound(cx, 2, f32::INFINITY)?)
    };
    let x = cx.req(n, 0)?;
    let shape = cx.shape(x).to_vec();
    cx.emit1(n, OpKind::Clip, bytes(&UnaryParams { alpha: lo, beta: hi }), vec![Some(x)], cx.dtype(x), shape)?;
    Ok(())
}

fn gelu(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let alpha = match n.attrs.string("approximate").as_deref() {
        None | Some("none") => 0.0,
        Some("tanh") => 1.0,
        Some(o) => bail!("attribute approximate='{o}' is not supported (supported: none, tanh)"),
    };
    unary(cx, n, OpKind::Gelu, alpha, 0.0)
}

fn cast(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let to = n.attrs.get("to").ok_or_else(|| anyhow!("Cast needs attribute 'to'"))?.i as i32;
    let dt = super::map_dtype(to)?;
    let x = cx.req(n, 0)?;
    let shape = cx.shape(x).to_vec();
    cx.emit1(n, OpKind::Cast, bytes(&CastParams { to: dt as u32, _pad: 0 }), vec![Some(x)], dt, shape)?;
    Ok(())
}

fn softmax(cx: &mut Cx, n: &OnnxNode, op: OpKind) -> Result<()> {
    let x = cx.req(n, 0)?;
    let shape = cx.shape(x).to_vec();
    // Before opset 13 the input is coerced to 2-D at `axis` (default 1).
    let (default, flag) = if cx.opset < 13 { (1, 1) } else { (-1, 0) };
    let axis = norm_axis(n.attrs.int("axis", default), shape.len())?;
    let flag = if axis + 1 == shape.len() { 0 } else { flag };
    cx.emit1(n, op, bytes(&AxisParams { axis: axis as u32, flag }), vec![Some(x)], cx.dtype(x), shape)?;
    Ok(())
}

fn layer_norm(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    cx.reject_outputs_from(n, 1, "only Y is computed")?;
    let x = cx.req(n, 0)?;
    let shape = cx.shape(x).to_vec();
    let axis = norm_axis(n.attrs.int("axis", -1), shape.len())?;
    let p = LayerNormParams { axis: axis as u32, epsilon: n.attrs.float("epsilon", 1e-5) };
    let ins = vec![Some(x), Some(cx.req(n, 1)?), cx.input(n, 2)?];
    cx.emit1(n, OpKind::LayerNorm, bytes(&p), ins, cx.dtype(x), shape)?;
    Ok(())
}

/// BatchNormalization (inference) → `Mul` by a per-channel scale then `Add` of a per-channel
/// shift, both marked so the BN pass can fold them into a producing Conv or MatMul.
fn batch_norm(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    ensure!(n.attrs.int("training_mode", 0) == 0, "attribute training_mode=1 is not supported (inference only)");
    ensure!(n.attrs.int("spatial", 1) == 1, "attribute spatial=0 is not supported (supported: spatial=1)");
    cx.reject_outputs_from(n, 1, "training outputs are not computed")?;
    let x = cx.req(n, 0)?;
    let eps = n.attrs.float("epsilon", 1e-5);
    let names = ["scale", "B", "input_mean", "input_var"];
    let mut v = Vec::new();
    for (i, what) in names.iter().enumerate() {
        v.push(cx.const_floats(cx.req(n, i + 1)?, what)?);
    }
    let shape = cx.shape(x).to_vec();
    ensure!(shape.len() >= 2, "input rank {} is below 2", shape.len());
    let c = shape[1];
    ensure!(v.iter().all(|p| p.len() == c), "parameters must have {c} elements (channels)");
    let scale: Vec<f32> = (0..c).map(|i| v[0][i] / (v[3][i] + eps).sqrt()).collect();
    let shift: Vec<f32> = (0..c).map(|i| v[1][i] - v[2][i] * scale[i]).collect();
    let mut pshape = vec![c];
    pshape.extend(std::iter::repeat_n(1, shape.len() - 2));
    let s = cx.constant(&format!("{}_scale", n.name), pshape.clone(), OwnedData::F32(scale));
    let b = cx.constant(&format!("{}_shift", n.name), pshape, OwnedData::F32(shift));
    let tmp = cx.g.fresh_name(&n.name);
    let nodes_before = cx.g.nodes.len();
    let m = emit_binary(cx, &n.name, OpKind::Mul, x, s, tmp)?;
    let out = cx.out_name(n, 0);
    let y = emit_binary(cx, &n.name, OpKind::Add, m, b, out)?;
    for node in &mut cx.g.nodes[nodes_before..] {
        node.from_bn = Some(n.name.clone());
    }
    cx.bind(n, 0, y);
    Ok(())
}

/// Reduction axes: from the attribute, or (from opset 13 for ReduceSum, 18 for the others) the
/// optional second input.
fn reduce(cx: &mut Cx, n: &OnnxNode, op: OpKind) -> Result<()> {
    let x = cx.req(n, 0)?;
    let shape = cx.shape(x).to_vec();
    let from_input = if op == OpKind::ReduceSum { cx.opset >= 13 } else { cx.opset >= 18 };
    let axes = if from_input {
        match cx.input(n, 1)? {
            Some(t) => cx.const_ints(t, "axes")?,
            None => Vec::new(),
        }
    } else {
        n.attrs.ints("axes").unwrap_or_default()
    };
    let keep = n.attrs.int("keepdims", 1) != 0;
    if axes.is_empty() && n.attrs.int("noop_with_empty_axes", 0) != 0 {
        return identity(cx, n);
    }
    ensure!(shape.len() <= 8, "input rank {} is above 8", shape.len());
    let mut mask = 0u32;
    for &a in &axes {
        mask |= 1 << norm_axis(a, shape.len())?;
    }
    if axes.is_empty() {
        mask = (1u32 << shape.len()) - 1;
    }
    let out: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| if mask & (1 << i) != 0 { keep.then_some(1) } else { Some(d) })
        .collect();
    // A mean over every spatial axis of NC... kept as NC1.. is GlobalAveragePool (the torch dynamo
    // exporter writes AdaptiveAvgPool2d(1) so), which channel reduction sees through.
    let spatial = shape.len() >= 3 && mask == ((1u32 << shape.len()) - 1) & !3;
    if op == OpKind::ReduceMean && keep && spatial && cx.dtype(x) == DType::F32 {
        cx.emit1(n, OpKind::GlobalAveragePool, Vec::new(), vec![Some(x)], DType::F32, out)?;
        return Ok(());
    }
    cx.emit1(n, op, bytes(&ReduceParams { axes_mask: mask, _pad: 0 }), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn argmax(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let mut shape = cx.shape(x).to_vec();
    let axis = norm_axis(n.attrs.int("axis", 0), shape.len())?;
    if n.attrs.int("keepdims", 1) != 0 {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    let p = AxisParams { axis: axis as u32, flag: (n.attrs.int("select_last_index", 0) != 0) as u32 };
    cx.emit1(n, OpKind::ArgMax, bytes(&p), vec![Some(x)], DType::I64, shape)?;
    Ok(())
}

/// Spatial geometry of a conv or pool, widened to the 2-D form the runtime takes.
struct Geo {
    kernel: [u32; 2],
    strides: [u32; 2],
    dilations: [u32; 2],
    /// top, left, bottom, right
    pads: [u32; 4],
    /// Output spatial dims (1 or 2 of them).
    out: Vec<usize>,
}

fn spatial_rank(n: &OnnxNode, rank: usize) -> Result<usize> {
    match rank {
        3 => Ok(1),
        4 => Ok(2),
        r if r > 4 => bail!("{}-D {} is not supported (supported: 1-D and 2-D)", r - 2, kind_name(n)),
        r => bail!("input rank {r} is too small (need N, C and 1 or 2 spatial axes)"),
    }
}

fn kind_name(n: &OnnxNode) -> &'static str {
    match n.op() {
        "Conv" | "ConvTranspose" => "convolution",
        _ => "pooling",
    }
}

fn widen<T: Copy>(v: &[T], one: T) -> [T; 2] {
    if v.len() == 1 {
        [one, v[0]]
    } else {
        [v[0], v[1]]
    }
}

fn spatial_attr(n: &OnnxNode, name: &str, nsp: usize, default: usize) -> Result<Vec<usize>> {
    match n.attrs.ints(name) {
        None => Ok(vec![default; nsp]),
        Some(v) => {
            ensure!(v.len() == nsp, "attribute {name} has {} values, expected {nsp}", v.len());
            v.iter().map(|&x| usize::try_from(x).ok().filter(|&x| x >= 1).ok_or_else(|| anyhow!("attribute {name} has value {x} (must be >= 1)"))).collect()
        }
    }
}

/// Output size and pads of a conv/pool over `in_sp` with `kernel` (auto_pad, pads, ceil_mode).
fn geometry(n: &OnnxNode, in_sp: &[usize], kernel: &[usize], dilated: bool, ceil: bool) -> Result<Geo> {
    let nsp = in_sp.len();
    ensure!(kernel.len() == nsp, "kernel has {} spatial dims, input has {nsp}", kernel.len());
    ensure!(in_sp.iter().chain(kernel).all(|&d| d > 0), "empty spatial dimensions (input {in_sp:?}, kernel {kernel:?})");
    let strides = spatial_attr(n, "strides", nsp, 1)?;
    let dil = if dilated { spatial_attr(n, "dilations", nsp, 1)? } else { vec![1; nsp] };
    let ek: Vec<usize> = (0..nsp).map(|i| (kernel[i] - 1) * dil[i] + 1).collect();
    let auto = n.attrs.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    let mut pb = vec![0usize; nsp];
    let mut pe = vec![0usize; nsp];
    match auto.as_str() {
        "NOTSET" | "" => {
            if let Some(p) = n.attrs.ints("pads") {
                ensure!(p.len() == 2 * nsp, "attribute pads has {} values, expected {}", p.len(), 2 * nsp);
                ensure!(p.iter().all(|&x| x >= 0), "negative pads {p:?} are not supported");
                for i in 0..nsp {
                    pb[i] = p[i] as usize;
                    pe[i] = p[i + nsp] as usize;
                }
            }
        }
        "VALID" => {}
        "SAME_UPPER" | "SAME_LOWER" => {
            for i in 0..nsp {
                let out = in_sp[i].div_ceil(strides[i]);
                let total = ((out - 1) * strides[i] + ek[i]).saturating_sub(in_sp[i]);
                let small = total / 2;
                (pb[i], pe[i]) = if auto == "SAME_UPPER" { (small, total - small) } else { (total - small, small) };
            }
        }
        o => bail!("auto_pad value '{o}' is not supported (supported: NOTSET, VALID, SAME_UPPER, SAME_LOWER)"),
    }
    let mut out = Vec::new();
    for i in 0..nsp {
        let span = in_sp[i] + pb[i] + pe[i];
        ensure!(span >= ek[i], "the kernel ({}) is larger than the padded input ({span})", ek[i]);
        let mut o = if ceil { (span - ek[i]).div_ceil(strides[i]) + 1 } else { (span - ek[i]) / strides[i] + 1 };
        // With ceil_mode the last window must start inside the input or the left padding.
        if ceil && (o - 1) * strides[i] >= in_sp[i] + pb[i] {
            o -= 1;
        }
        out.push(o);
    }
    let u = |v: &[usize]| -> Vec<u32> { v.iter().map(|&x| x as u32).collect() };
    let (pb, pe) = (u(&pb), u(&pe));
    Ok(Geo {
        kernel: widen(&u(kernel), 1),
        strides: widen(&u(&strides), 1),
        dilations: widen(&u(&dil), 1),
        pads: if nsp == 1 { [0, pb[0], 0, pe[0]] } else { [pb[0], pb[1], pe[0], pe[1]] },
        out,
    })
}

fn conv(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (x, w, b) = (cx.req(n, 0)?, cx.req(n, 1)?, cx.input(n, 2)?);
    let (xs, ws) = (cx.shape(x).to_vec(), cx.shape(w).to_vec());
    let nsp = spatial_rank(n, xs.len())?;
    ensure!(ws.len() == xs.len(), "weight rank {} differs from input rank {}", ws.len(), xs.len());
    let group = n.attrs.int("group", 1);
    ensure!(group >= 1 && xs[1] as i64 % group == 0, "group {group} does not divide the {} input channels", xs[1]);
    ensure!(ws[1] as i64 * group == xs[1] as i64, "weight shape {ws:?} does not fit {} input channels in {group} groups", xs[1]);
    ensure!(ws[0] as i64 % group == 0, "group {group} does not divide the {} output channels", ws[0]);
    if let Some(k) = n.attrs.ints("kernel_shape") {
        ensure!(k.iter().map(|&x| x as usize).eq(ws[2..].iter().copied()), "kernel_shape {k:?} differs from the weight shape {ws:?}");
    }
    if let Some(b) = b {
        ensure!(cx.shape(b) == [ws[0]], "bias shape {:?} is not [{}]", cx.shape(b), ws[0]);
    }
    let g = geometry(n, &xs[2..], &ws[2..], true, false)?;
    let _ = nsp;
    let p = ConvParams { kernel: g.kernel, strides: g.strides, pads: g.pads, dilations: g.dilations, group: group as u32, _pad: 0, act: ActParams::NONE };
    let mut out = vec![xs[0], ws[0]];
    out.extend(&g.out);
    cx.emit1(n, OpKind::Conv, bytes(&p), vec![Some(x), Some(w), b], cx.dtype(x), out)?;
    Ok(())
}

fn conv_transpose(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (x, w, b) = (cx.req(n, 0)?, cx.req(n, 1)?, cx.input(n, 2)?);
    let (xs, ws) = (cx.shape(x).to_vec(), cx.shape(w).to_vec());
    let nsp = spatial_rank(n, xs.len())?;
    ensure!(ws.len() == xs.len(), "weight rank {} differs from input rank {}", ws.len(), xs.len());
    let group = n.attrs.int("group", 1).max(1) as usize;
    ensure!(ws[0] == xs[1] && xs[1] % group == 0, "weight shape {ws:?} does not fit {} input channels in {group} groups", xs[1]);
    let m = ws[1] * group;
    if let Some(b) = b {
        ensure!(cx.shape(b) == [m], "bias shape {:?} is not [{m}]", cx.shape(b));
    }
    let k = &ws[2..];
    ensure!(xs[2..].iter().chain(k).all(|&d| d > 0), "empty spatial dimensions (input {xs:?}, weight {ws:?})");
    let s = spatial_attr(n, "strides", nsp, 1)?;
    let d = spatial_attr(n, "dilations", nsp, 1)?;
    let op = match n.attrs.ints("output_padding") {
        None => vec![0; nsp],
        Some(v) => {
            ensure!(v.len() == nsp && v.iter().all(|&x| x >= 0), "output_padding {v:?} is invalid");
            v.iter().map(|&x| x as usize).collect()
        }
    };
    let auto = n.attrs.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    let (mut pb, mut pe, mut out) = (vec![0usize; nsp], vec![0usize; nsp], vec![0usize; nsp]);
    let full: Vec<usize> = (0..nsp).map(|i| s[i] * (xs[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1).collect();
    let target = match n.attrs.ints("output_shape") {
        Some(v) => {
            ensure!(v.len() >= nsp, "output_shape {v:?} has fewer than {nsp} values");
            Some(v[v.len() - nsp..].iter().map(|&x| x as usize).collect::<Vec<_>>())
        }
        None if auto.starts_with("SAME") => Some((0..nsp).map(|i| xs[2 + i] * s[i]).collect()),
        None => None,
    };
    match (target, auto.as_str()) {
        (Some(t), a) => {
            for i in 0..nsp {
                ensure!(t[i] > 0, "output_shape {t:?} has an empty dimension");
                // A larger output than the full result extends it at the end, as output_padding
                // does (the ONNX reference's negative end pad).
                let total = full[i].saturating_sub(t[i]);
                (pb[i], pe[i]) = if a == "SAME_UPPER" { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) };
                out[i] = t[i];
            }
        }
        (None, "NOTSET" | "") => {
            if let Some(p) = n.attrs.ints("pads") {
                ensure!(p.len() == 2 * nsp && p.iter().all(|&x| x >= 0), "attribute pads {p:?} is invalid");
                for i in 0..nsp {
                    pb[i] = p[i] as usize;
                    pe[i] = p[i + nsp] as usize;
                }
            }
            for i in 0..nsp {
                out[i] = full[i].checked_sub(pb[i] + pe[i]).filter(|&o| o > 0).ok_or_else(|| anyhow!("pads leave an empty output"))?;
            }
        }
        (None, "VALID") => out.clone_from(&full),
        (None, o) => bail!("auto_pad value '{o}' is not supported (supported: NOTSET, VALID, SAME_UPPER, SAME_LOWER)"),
    }
    let u = |v: &[usize]| -> Vec<u32> { v.iter().map(|&x| x as u32).collect() };
    let (pbu, peu) = (u(&pb), u(&pe));
    let p = ConvParams {
        kernel: widen(&u(k), 1),
        strides: widen(&u(&s), 1),
        pads: if nsp == 1 { [0, pbu[0], 0, peu[0]] } else { [pbu[0], pbu[1], peu[0], peu[1]] },
        dilations: widen(&u(&d), 1),
        group: group as u32,
        _pad: 0,
        act: ActParams::NONE,
    };
    let mut oshape = vec![xs[0], m];
    oshape.extend(out);
    cx.emit1(n, OpKind::ConvTranspose, bytes(&p), vec![Some(x), Some(w), b], cx.dtype(x), oshape)?;
    Ok(())
}

/// A 2-D tensor transposed: a new constant when `t` is constant, else a Transpose node.
fn transpose2d(cx: &mut Cx, node: &str, t: TensorId) -> Result<TensorId> {
    let s = cx.shape(t).to_vec();
    ensure!(s.len() == 2, "Gemm operand '{}' has rank {} (expected 2)", cx.g.tensors[t].name, s.len());
    let name = format!("{}_T", cx.g.tensors[t].name);
    if let Some(OwnedData::F32(v)) = cx.data(t) {
        let (r, c) = (s[0], s[1]);
        let tv: Vec<f32> = (0..r * c).map(|i| v[(i % r) * c + i / r]).collect();
        return Ok(cx.constant(&name, vec![c, r], OwnedData::F32(tv)));
    }
    let mut perm = [0u32; 8];
    perm[..2].copy_from_slice(&[1, 0]);
    let fresh = cx.g.fresh_name(&name);
    Ok(cx.emit(node, OpKind::Transpose, bytes(&TransposeParams { perm }), vec![Some(t)], vec![(fresh, cx.dtype(t), vec![s[1], s[0]])])?[0])
}

/// `t * k`: a scaled constant when `t` is constant, else a Mul node by a scalar.
fn scaled(cx: &mut Cx, node: &str, t: TensorId, k: f32) -> Result<TensorId> {
    let name = format!("{}_scaled", cx.g.tensors[t].name);
    if let Some(OwnedData::F32(v)) = cx.data(t) {
        let v: Vec<f32> = v.iter().map(|x| x * k).collect();
        let s = cx.shape(t).to_vec();
        return Ok(cx.constant(&name, s, OwnedData::F32(v)));
    }
    let kc = cx.constant(&format!("{node}_alpha"), vec![], OwnedData::F32(vec![k]));
    let fresh = cx.g.fresh_name(&name);
    emit_binary(cx, node, OpKind::Mul, t, kc, fresh)
}

/// Gemm → MatMul with constant operands pre-transposed and pre-scaled; C becomes the bias.
fn gemm(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (mut a, mut b, c) = (cx.req(n, 0)?, cx.req(n, 1)?, cx.input(n, 2)?);
    if n.attrs.int("transA", 0) != 0 {
        a = transpose2d(cx, &n.name, a)?;
    }
    if n.attrs.int("transB", 0) != 0 {
        b = transpose2d(cx, &n.name, b)?;
    }
    let (sa, sb) = (cx.shape(a).to_vec(), cx.shape(b).to_vec());
    ensure!(sa.len() == 2 && sb.len() == 2 && sa[1] == sb[0], "operand shapes {sa:?} x {sb:?} do not multiply");
    let alpha = n.attrs.float("alpha", 1.0);
    if alpha != 1.0 {
        if cx.data(b).is_some() || cx.data(a).is_none() {
            b = scaled(cx, &n.name, b, alpha)?;
        } else {
            a = scaled(cx, &n.name, a, alpha)?;
        }
    }
    let beta = n.attrs.float("beta", 1.0);
    let out = vec![sa[0], sb[1]];
    let bias = match c {
        Some(_) if beta == 0.0 => None,
        Some(c) if beta != 1.0 => Some(scaled(cx, &n.name, c, beta)?),
        c => c,
    };
    if let Some(c) = bias {
        ensure!(broadcast(cx.shape(c), &out)? == out, "C shape {:?} does not broadcast to {out:?}", cx.shape(c));
    }
    let p = bytes(&MatMulParams { act: ActParams::NONE });
    let mut ins = vec![Some(a), Some(b)];
    if bias.is_some() {
        ins.push(bias);
    }
    cx.emit1(n, OpKind::MatMul, p, ins, cx.dtype(a), out)?;
    Ok(())
}

/// Output shape of numpy matmul.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    ensure!(!a.is_empty() && !b.is_empty(), "matmul of a scalar");
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (ra, rb) = (a2.len(), b2.len());
    ensure!(a2[ra - 1] == b2[rb - 2], "operand shapes {a:?} x {b:?} do not multiply");
    let mut out = broadcast(&a2[..ra - 2], &b2[..rb - 2])?;
    if a.len() > 1 {
        out.push(a2[ra - 2]);
    }
    if b.len() > 1 {
        out.push(b2[rb - 1]);
    }
    Ok(out)
}

fn matmul(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (a, b) = (cx.req(n, 0)?, cx.req(n, 1)?);
    let out = matmul_shape(cx.shape(a), cx.shape(b))?;
    let p = bytes(&MatMulParams { act: ActParams::NONE });
    cx.emit1(n, OpKind::MatMul, p, vec![Some(a), Some(b)], cx.dtype(a), out)?;
    Ok(())
}

fn pool(cx: &mut Cx, n: &OnnxNode, op: OpKind) -> Result<()> {
    if op == OpKind::MaxPool {
        cx.reject_outputs_from(n, 1, "Indices are not computed")?;
        ensure!(n.attrs.int("storage_order", 0) == 0, "attribute storage_order=1 is not supported");
    }
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    spatial_rank(n, xs.len())?;
    let k = n.attrs.ints("kernel_shape").ok_or_else(|| anyhow!("attribute kernel_shape is missing"))?;
    ensure!(k.iter().all(|&v| v >= 1), "kernel_shape {k:?} is invalid");
    let k: Vec<usize> = k.iter().map(|&v| v as usize).collect();
    let ceil = n.attrs.int("ceil_mode", 0) != 0;
    let g = geometry(n, &xs[2..], &k, op == OpKind::MaxPool || cx.opset >= 19, ceil)?;
    let p = PoolParams {
        kernel: g.kernel,
        strides: g.strides,
        pads: g.pads,
        dilations: g.dilations,
        count_include_pad: n.attrs.int("count_include_pad", 0) as u32,
        _pad: 0,
    };
    let mut out = xs[..2].to_vec();
    out.extend(&g.out);
    cx.emit1(n, op, bytes(&p), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn global_pool(cx: &mut Cx, n: &OnnxNode, op: OpKind) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    ensure!(xs.len() >= 3, "input rank {} is too small (need N, C and spatial axes)", xs.len());
    let mut out = xs[..2].to_vec();
    out.extend(std::iter::repeat_n(1, xs.len() - 2));
    cx.emit1(n, op, Vec::new(), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn concat(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let ins: Vec<TensorId> = (0..n.p.input.len()).map(|i| cx.req(n, i)).collect::<Result<_>>()?;
    ensure!(!ins.is_empty(), "Concat needs inputs");
    let rank = cx.shape(ins[0]).len();
    let axis = norm_axis(n.attrs.get("axis").ok_or_else(|| anyhow!("attribute axis is missing"))?.i, rank)?;
    // The runtime takes at most MAX_NODE_IO inputs: concatenate in chunks, then the chunks.
    let max = sprig_runtime::format::MAX_NODE_IO;
    let mut level = ins;
    loop {
        let last = level.len() <= max;
        let mut next = Vec::new();
        for chunk in level.chunks(max) {
            let mut shape = cx.shape(chunk[0]).to_vec();
            for &t in &chunk[1..] {
                let s = cx.shape(t);
                ensure!(
                    s.len() == rank && (0..rank).all(|i| i == axis || s[i] == shape[i]),
                    "input shapes {:?} and {s:?} do not concatenate on axis {axis}",
                    shape
                );
                shape[axis] += s[axis];
            }
            let name = if last { cx.out_name(n, 0) } else { cx.g.fresh_name(&n.name) };
            let p = bytes(&AxisParams { axis: axis as u32, flag: 0 });
            let ins = chunk.iter().map(|&t| Some(t)).collect();
            next.push(cx.emit(&n.name, OpKind::Concat, p, ins, vec![(name, cx.dtype(chunk[0]), shape)])?[0]);
        }
        if last {
            cx.bind(n, 0, next[0]);
            return Ok(());
        }
        level = next;
    }
}

fn split(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    let axis = norm_axis(n.attrs.int("axis", 0), xs.len())?;
    let nout = n.p.output.len();
    let sizes: Vec<i64> = if cx.opset < 13 {
        n.attrs.ints("split").unwrap_or_default()
    } else {
        match cx.input(n, 1)? {
            Some(t) => cx.const_ints(t, "split")?,
            None => Vec::new(),
        }
    };
    let sizes: Vec<usize> = if sizes.is_empty() {
        let parts = n.attrs.get("num_outputs").map(|a| a.i as usize).unwrap_or(nout);
        ensure!(parts == nout && parts > 0, "num_outputs {parts} differs from the {nout} outputs");
        let chunk = xs[axis].div_ceil(parts);
        (0..parts).map(|i| chunk.min(xs[axis].saturating_sub(i * chunk))).collect()
    } else {
        ensure!(sizes.iter().all(|&s| s >= 0), "negative split sizes {sizes:?}");
        sizes.iter().map(|&s| s as usize).collect()
    };
    ensure!(sizes.len() == nout, "{} split sizes for {nout} outputs", sizes.len());
    ensure!(sizes.iter().sum::<usize>() == xs[axis], "split sizes {sizes:?} do not sum to {}", xs[axis]);
    let outs = sizes
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let mut sh = xs.clone();
            sh[axis] = s;
            (cx.out_name(n, k), cx.dtype(x), sh)
        })
        .collect();
    let ids = cx.emit(&n.name, OpKind::Split, bytes(&AxisParams { axis: axis as u32, flag: 0 }), vec![Some(x)], outs)?;
    for (k, t) in ids.into_iter().enumerate() {
        cx.bind(n, k, t);
    }
    Ok(())
}

fn slice(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    let (starts, ends, axes, steps) = if cx.opset < 10 {
        let a = |k: &str| n.attrs.ints(k);
        (a("starts").unwrap_or_default(), a("ends").unwrap_or_default(), a("axes"), None)
    } else {
        let get = |i: usize, what: &str| -> Result<Option<Vec<i64>>> { cx.input(n, i)?.map(|t| cx.const_ints(t, what)).transpose() };
        (get(1, "starts")?.unwrap_or_default(), get(2, "ends")?.unwrap_or_default(), get(3, "axes")?, get(4, "steps")?)
    };
    ensure!(starts.len() == ends.len(), "starts and ends differ in length");
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    ensure!(axes.len() == starts.len() && steps.len() == starts.len(), "starts, ends, axes and steps differ in length");
    let mut p = SliceParams { starts: [0; 8], steps: [1; 8] };
    let mut out = xs.clone();
    for i in 0..starts.len() {
        let ax = norm_axis(axes[i], xs.len())?;
        let d = xs[ax] as i64;
        let step = steps[i];
        ensure!(step != 0 && step != i64::MIN, "step {step} on axis {ax} is not supported");
        if d == 0 {
            p.steps[ax] = step;
            continue;
        }
        let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, e) = (fix(starts[i]), fix(ends[i]));
        let (s, e) = if step > 0 { (s.clamp(0, d), e.clamp(0, d)) } else { (s.clamp(0, d - 1), e.clamp(-1, d - 1)) };
        let count = if step > 0 { (e - s).max(0) } else { (s - e).max(0) };
        // count >= 0 and |step| >= 1: unsigned division cannot overflow.
        let count = (count as u64).div_ceil(step.unsigned_abs()) as i64;
        p.starts[ax] = if count > 0 { s } else { 0 };
        p.steps[ax] = step;
        out[ax] = count as usize;
    }
    cx.emit1(n, OpKind::Slice, bytes(&p), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn gather(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (x, mut idx) = (cx.req(n, 0)?, cx.req(n, 1)?);
    let xs = cx.shape(x).to_vec();
    let axis = norm_axis(n.attrs.int("axis", 0), xs.len())?;
    // Constant negative indices are made positive here (ONNX allows them).
    if let Some(v) = cx.data(idx).filter(|_| cx.data(x).is_none()) {
        let fixed = match v {
            OwnedData::I64(v) if v.iter().any(|&i| i < 0) => Some(OwnedData::I64(v.iter().map(|&i| if i < 0 { i + xs[axis] as i64 } else { i }).collect())),
            OwnedData::I32(v) if v.iter().any(|&i| i < 0) => Some(OwnedData::I32(v.iter().map(|&i| if i < 0 { i + xs[axis] as i32 } else { i }).collect())),
            _ => None,
        };
        if let Some(d) = fixed {
            let s = cx.shape(idx).to_vec();
            idx = cx.constant(&cx.g.tensors[idx].name.clone(), s, d);
        }
    }
    let mut out = xs[..axis].to_vec();
    out.extend(cx.shape(idx));
    out.extend(&xs[axis + 1..]);
    cx.emit1(n, OpKind::Gather, bytes(&AxisParams { axis: axis as u32, flag: 0 }), vec![Some(x), Some(idx)], cx.dtype(x), out)?;
    Ok(())
}

fn transpose(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    let perm: Vec<usize> = match n.attrs.ints("perm") {
        Some(p) => p.iter().map(|&a| norm_axis(a, xs.len())).collect::<Result<_>>()?,
        None => (0..xs.len()).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort();
    ensure!(seen == (0..xs.len()).collect::<Vec<_>>(), "perm {perm:?} is not a permutation of the {} axes", xs.len());
    let mut p = TransposeParams::default();
    for (i, &a) in perm.iter().enumerate() {
        p.perm[i] = a as u32;
    }
    let out = perm.iter().map(|&a| xs[a]).collect();
    cx.emit1(n, OpKind::Transpose, bytes(&p), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

/// Emits a Reshape of input 0 to `shape` (checking the element count).
fn reshape_to(cx: &mut Cx, n: &OnnxNode, shape: Vec<usize>) -> Result<()> {
    let x = cx.req(n, 0)?;
    let have: usize = cx.shape(x).iter().product();
    let want = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    ensure!(want == Some(have), "cannot reshape {:?} to {shape:?}", cx.shape(x));
    cx.emit1(n, OpKind::Reshape, Vec::new(), vec![Some(x)], cx.dtype(x), shape)?;
    Ok(())
}

fn identity(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    if n.op() == "Dropout" {
        cx.reject_outputs_from(n, 1, "the mask is not computed at inference")?;
    }
    let x = cx.req(n, 0)?;
    // An alias costs nothing; a graph output keeps its own (copied) tensor so that it keeps its
    // ONNX name. Paddle exports end most layers with an Identity.
    if !n.p.output.first().is_some_and(|o| cx.is_graph_output(o)) {
        cx.bind(n, 0, x);
        return Ok(());
    }
    let s = cx.shape(x).to_vec();
    reshape_to(cx, n, s)
}

/// `x * HardSigmoid(x)` with HardSigmoid's alpha 1/6 and beta 0.5 is HardSwish (Paddle and
/// opsets before 14 write it so): the HardSigmoid node, just emitted and read only by this Mul,
/// becomes a HardSwish producing the Mul's output. Returns whether it fused.
fn fuse_hard_swish(cx: &mut Cx, n: &OnnxNode) -> Result<bool> {
    if n.p.input.len() != 2 {
        return Ok(false);
    }
    let (a, b) = (cx.req(n, 0)?, cx.req(n, 1)?);
    let Some(last) = cx.g.nodes.last() else { return Ok(false) };
    if last.op != OpKind::HardSigmoid {
        return Ok(false);
    }
    let (h, h_name, x) = match (last.outputs[0] == a, last.outputs[0] == b) {
        (true, false) => (a, &n.p.input[0], b),
        (false, true) => (b, &n.p.input[1], a),
        _ => return Ok(false),
    };
    let Ok(p) = bytemuck::try_from_bytes::<UnaryParams>(&last.params) else { return Ok(false) };
    if last.inputs != [Some(x)] || !cx.used_once(h_name) || (p.alpha - 1.0 / 6.0).abs() > 1e-6 || p.beta != 0.5 {
        return Ok(false);
    }
    let out = cx.out_name(n, 0);
    let last = cx.g.nodes.len() - 1;
    let node = &mut cx.g.nodes[last];
    node.op = OpKind::HardSwish;
    node.params = bytes(&UnaryParams::default());
    node.fused.push(n.name.clone());
    cx.g.tensors[h].name = out;
    cx.bind(n, 0, h);
    Ok(true)
}

/// `Conv(x, w) + b` with a constant per-output-channel `b` and a product read only by this Add
/// (Paddle writes conv biases this way): the bias becomes the Conv's own, so no Add pass over the
/// output remains and a following BatchNormalization can fold into the weights. Returns whether
/// it fused.
fn fuse_bias_add(cx: &mut Cx, n: &OnnxNode) -> Result<bool> {
    if n.p.input.len() != 2 {
        return Ok(false);
    }
    let (a, b) = (cx.req(n, 0)?, cx.req(n, 1)?);
    let (prod, prod_name, bias) = match (cx.data(a).is_some(), cx.data(b).is_some()) {
        (false, true) => (a, &n.p.input[0], b),
        (true, false) => (b, &n.p.input[1], a),
        _ => return Ok(false),
    };
    let Some(last) = cx.g.nodes.last() else { return Ok(false) };
    if last.outputs != [prod] || !cx.used_once(prod_name) || last.inputs.get(2).is_some_and(|i| i.is_some()) {
        return Ok(false);
    }
    let Some(OwnedData::F32(bv)) = cx.data(bias) else { return Ok(false) };
    let (ys, bs) = (cx.shape(prod).to_vec(), cx.shape(bias).to_vec());
    let bias_shape = match last.op {
        // Conv bias is [M]: accept [M], [M,1,..] and [1,M,1,..] aligned with the channel axis.
        OpKind::Conv | OpKind::ConvTranspose if ys.len() >= 3 => {
            let m = ys[1];
            // numpy aligns from the right: B's axis k sits at Y's axis k + off, and must cover
            // the channel axis 1 with M values and be 1 elsewhere.
            let off = ys.len().wrapping_sub(bs.len());
            let per_channel = bs.len() <= ys.len() && off <= 1 && bs.iter().enumerate().all(|(k, &d)| d == if k + off == 1 { m } else { 1 });
            if !per_channel || bv.len() != m {
                return Ok(false);
            }
            vec![m]
        }
        // MatMul + Add stays: channel reduction's attention-head analysis reads the Q/K/V biases
        // from those Adds (fusing them stopped head removal in tools/tests/reduce_models.rs).
        _ => return Ok(false),
    };
    let data = OwnedData::F32(bv.clone());
    let bias_t = cx.constant(&format!("{}_bias", n.name), bias_shape, data);
    let last = cx.g.nodes.len() - 1;
    let node = &mut cx.g.nodes[last];
    node.inputs.resize(2, None);
    node.inputs.push(Some(bias_t));
    node.fused.push(n.name.clone());
    // The product now is the Add's result: it takes the Add's ONNX name (it may be a graph output).
    let out = cx.out_name(n, 0);
    cx.g.tensors[prod].name = out;
    cx.bind(n, 0, prod);
    Ok(true)
}

fn reshape(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    let spec = if cx.opset < 5 { n.attrs.ints("shape").unwrap_or_default() } else { cx.const_ints(cx.req(n, 1)?, "shape")? };
    let allowzero = n.attrs.int("allowzero", 0) != 0;
    let mut out = Vec::new();
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        out.push(match d {
            0 if !allowzero => *xs.get(i).ok_or_else(|| anyhow!("shape {spec:?} copies dimension {i}, the input has rank {}", xs.len()))?,
            -1 => {
                ensure!(infer.is_none(), "shape {spec:?} has more than one -1");
                infer = Some(i);
                1
            }
            d if d >= 0 => d as usize,
            d => bail!("shape {spec:?} has invalid dimension {d}"),
        });
    }
    let total: usize = xs.iter().product();
    if let Some(i) = infer {
        let rest = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(0);
        ensure!(rest > 0 && total.is_multiple_of(rest), "cannot reshape {xs:?} to {spec:?}");
        out[i] = total / rest;
    }
    reshape_to(cx, n, out)
}

fn flatten(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let xs = cx.shape(cx.req(n, 0)?).to_vec();
    let a = n.attrs.int("axis", 1);
    let axis = if a == xs.len() as i64 { xs.len() } else { norm_axis(a, xs.len().max(1))? };
    reshape_to(cx, n, vec![xs[..axis].iter().product(), xs[axis..].iter().product()])
}

/// Axes of Squeeze/Unsqueeze: attribute before opset 13, input after.
fn axes_arg(cx: &Cx, n: &OnnxNode) -> Result<Option<Vec<i64>>> {
    if cx.opset < 13 {
        Ok(n.attrs.ints("axes"))
    } else {
        cx.input(n, 1)?.map(|t| cx.const_ints(t, "axes")).transpose()
    }
}

fn squeeze(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let xs = cx.shape(cx.req(n, 0)?).to_vec();
    let out = match axes_arg(cx, n)? {
        None => xs.iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, xs.len())).collect::<Result<_>>()?;
            for &a in &axes {
                ensure!(xs[a] == 1, "cannot squeeze axis {a} of size {}", xs[a]);
            }
            xs.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
        }
    };
    reshape_to(cx, n, out)
}

fn unsqueeze(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let xs = cx.shape(cx.req(n, 0)?).to_vec();
    let axes = axes_arg(cx, n)?.ok_or_else(|| anyhow!("axes are missing"))?;
    let r = xs.len() + axes.len();
    let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, r)).collect::<Result<_>>()?;
    let mut it = xs.iter();
    let out: Vec<usize> = (0..r).map(|i| if axes.contains(&i) { Some(1) } else { it.next().copied() }).collect::<Option<_>>().ok_or_else(|| anyhow!("duplicate axes"))?;
    reshape_to(cx, n, out)
}

fn pad(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    let r = xs.len();
    let (pads, value, axes) = if cx.opset < 11 {
        (n.attrs.ints("pads").ok_or_else(|| anyhow!("attribute pads is missing"))?, n.attrs.float("value", 0.0), None)
    } else {
        let pads = cx.const_ints(cx.req(n, 1)?, "pads")?;
        let value = match cx.input(n, 2)? {
            Some(t) => *cx.const_floats(t, "constant_value")?.first().unwrap_or(&0.0),
            None => 0.0,
        };
        let axes = cx.input(n, 3)?.map(|t| cx.const_ints(t, "axes")).transpose()?;
        (pads, value, axes)
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&a| norm_axis(a, r)).collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    ensure!(pads.len() == 2 * axes.len(), "pads has {} values, expected {}", pads.len(), 2 * axes.len());
    let mode = match n.attrs.string("mode").as_deref().unwrap_or("constant") {
        "constant" => 0,
        "reflect" => 1,
        "edge" => 2,
        "wrap" => 3,
        o => bail!("attribute mode='{o}' is not supported (supported: constant, reflect, edge, wrap)"),
    };
    let mut p = PadParams { mode, value, pads: [0; 16] };
    let mut out = xs.clone();
    for (i, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[i], pads[i + axes.len()]);
        p.pads[a] = b;
        p.pads[8 + a] = e;
        let d = (xs[a] as i64).checked_add(b).and_then(|v| v.checked_add(e)).ok_or_else(|| anyhow!("pads {pads:?} overflow"))?;
        ensure!(d >= 0, "pads {pads:?} crop axis {a} below zero");
        out[a] = d as usize;
    }
    cx.emit1(n, OpKind::Pad, bytes(&p), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

/// Resize (opset 10: scales input; 11+: roi, scales, sizes) and Upsample.
fn resize(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let xs = cx.shape(x).to_vec();
    let r = xs.len();
    let upsample = n.op() == "Upsample";
    let legacy = upsample || cx.opset < 11;
    let mode = match n.attrs.string("mode").as_deref().unwrap_or("nearest") {
        "nearest" => 0,
        "linear" | "bilinear" => 1,
        o => bail!("attribute mode='{o}' is not supported (supported: nearest, linear)"),
    };
    ensure!(n.attrs.int("antialias", 0) == 0, "attribute antialias=1 is not supported");
    let policy = n.attrs.string("keep_aspect_ratio_policy").unwrap_or_else(|| "stretch".into());
    ensure!(policy == "stretch", "attribute keep_aspect_ratio_policy='{policy}' is not supported (supported: stretch)");
    let coord = n.attrs.string("coordinate_transformation_mode").unwrap_or_else(|| if legacy { "asymmetric".into() } else { "half_pixel".into() });
    let coord_mode = match coord.as_str() {
        "half_pixel" => 0,
        "asymmetric" => 1,
        "align_corners" => 2,
        "pytorch_half_pixel" => 3,
        "tf_half_pixel_for_nn" => 4,
        "half_pixel_symmetric" => 5,
        o => bail!("attribute coordinate_transformation_mode='{o}' is not supported (supported: half_pixel, asymmetric, align_corners, pytorch_half_pixel, tf_half_pixel_for_nn, half_pixel_symmetric)"),
    };
    let nearest_mode = match n.attrs.string("nearest_mode").as_deref() {
        // Resize-10 and Upsample pick the floor of the asymmetric source coordinate.
        None if legacy => 2,
        None | Some("round_prefer_floor") => 0,
        Some("round_prefer_ceil") => 1,
        Some("floor") => 2,
        Some("ceil") => 3,
        Some(o) => bail!("attribute nearest_mode='{o}' is not supported (supported: round_prefer_floor, round_prefer_ceil, floor, ceil)"),
    };
    let (scales, sizes) = if upsample && cx.opset < 7 {
        // Upsample-1: NCHW with height_scale and width_scale.
        ensure!(r == 4, "Upsample before opset 7 takes a 4-D input, not rank {r}");
        (Some(vec![1.0, 1.0, n.attrs.float("height_scale", 1.0), n.attrs.float("width_scale", 1.0)]), None)
    } else if upsample && cx.opset < 9 {
        (n.attrs.floats("scales"), None)
    } else if legacy {
        (Some(cx.const_floats(cx.req(n, 1)?, "scales")?), None)
    } else {
        let sc = cx.input(n, 2)?.map(|t| cx.const_floats(t, "scales")).transpose()?.filter(|v| !v.is_empty());
        let sz = cx.input(n, 3)?.map(|t| cx.const_ints(t, "sizes")).transpose()?.filter(|v| !v.is_empty());
        (sc, sz)
    };
    let axes: Vec<usize> = match n.attrs.ints("axes") {
        Some(a) => a.iter().map(|&a| norm_axis(a, r)).collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    let mut p = ResizeParams { mode, coord_mode, nearest_mode, _pad: 0, scales: [1.0; 8] };
    let mut out = xs.clone();
    match (scales, sizes) {
        (_, Some(sz)) => {
            ensure!(sz.len() == axes.len() && sz.iter().all(|&s| s > 0), "sizes {sz:?} do not fit the axes");
            for (i, &a) in axes.iter().enumerate() {
                out[a] = sz[i] as usize;
                p.scales[a] = sz[i] as f32 / xs[a] as f32;
            }
        }
        (Some(sc), None) => {
            ensure!(sc.len() == axes.len() && sc.iter().all(|&s| s > 0.0), "scales {sc:?} do not fit the axes");
            for (i, &a) in axes.iter().enumerate() {
                out[a] = (xs[a] as f32 * sc[i]).floor() as usize;
                p.scales[a] = sc[i];
            }
        }
        (None, None) => bail!("neither scales nor sizes is given"),
    }
    cx.emit1(n, OpKind::Resize, bytes(&p), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn expand(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let spec = cx.const_ints(cx.req(n, 1)?, "shape")?;
    ensure!(spec.iter().all(|&d| d >= 0), "shape {spec:?} has negative dimensions");
    let spec: Vec<usize> = spec.iter().map(|&d| d as usize).collect();
    let out = broadcast(cx.shape(x), &spec)?;
    cx.emit1(n, OpKind::Expand, Vec::new(), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn tile(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let x = cx.req(n, 0)?;
    let reps = cx.const_ints(cx.req(n, 1)?, "repeats")?;
    let xs = cx.shape(x).to_vec();
    ensure!(reps.len() == xs.len() && reps.iter().all(|&r| r >= 0), "repeats {reps:?} do not fit rank {}", xs.len());
    let out = xs.iter().zip(&reps).map(|(&d, &r)| d.checked_mul(r as usize).ok_or_else(|| anyhow!("repeats {reps:?} overflow"))).collect::<Result<_>>()?;
    cx.emit1(n, OpKind::Tile, Vec::new(), vec![Some(x)], cx.dtype(x), out)?;
    Ok(())
}

fn shape_of(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let xs = cx.shape(cx.req(n, 0)?).to_vec();
    let r = xs.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (s, e) = (clampi(n.attrs.int("start", 0)), clampi(n.attrs.int("end", r)));
    let v: Vec<i64> = xs[s..e.max(s)].iter().map(|&d| d as i64).collect();
    cx.bind_const(n, 0, vec![v.len()], OwnedData::I64(v));
    Ok(())
}

fn size_of(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let numel: usize = cx.shape(cx.req(n, 0)?).iter().product();
    cx.bind_const(n, 0, vec![], OwnedData::I64(vec![numel as i64]));
    Ok(())
}

fn constant_of_shape(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let spec = cx.const_ints(cx.req(n, 0)?, "shape")?;
    ensure!(spec.iter().all(|&d| d >= 0), "shape {spec:?} has negative dimensions");
    let shape: Vec<usize> = spec.iter().map(|&d| d as usize).collect();
    super::check_shape(&n.name, &shape)?;
    let numel: usize = shape.iter().product();
    let value = match n.attrs.tensor("value") {
        Some(t) => super::tensor_from_proto(t, cx.dir, &mut cx.notes)?.1,
        None => OwnedData::F32(vec![0.0]),
    };
    ensure!(value.len() == 1, "value must have one element");
    let data = match value {
        OwnedData::F32(v) => OwnedData::F32(vec![v[0]; numel]),
        OwnedData::I64(v) => OwnedData::I64(vec![v[0]; numel]),
        OwnedData::I32(v) => OwnedData::I32(vec![v[0]; numel]),
        OwnedData::U8(v) => OwnedData::U8(vec![v[0]; numel]),
        OwnedData::Bool(v) => OwnedData::Bool(vec![v[0]; numel]),
    };
    cx.bind_const(n, 0, shape, data);
    Ok(())
}

fn range(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let (s, l, d) = (cx.req(n, 0)?, cx.req(n, 1)?, cx.req(n, 2)?);
    let data = match cx.dtype(s) {
        DType::F32 => {
            let f = |t| -> Result<f32> { cx.const_floats(t, "range bound")?.first().copied().ok_or_else(|| anyhow!("empty range bound")) };
            let (s, l, d) = (f(s)?, f(l)?, f(d)?);
            ensure!(d != 0.0, "delta is 0");
            let count = ((l - s) / d).ceil().max(0.0) as usize;
            super::check_shape(&n.name, &[count])?;
            OwnedData::F32((0..count).map(|i| s + i as f32 * d).collect())
        }
        dt => {
            let f = |t| -> Result<i64> { cx.const_ints(t, "range bound")?.first().copied().ok_or_else(|| anyhow!("empty range bound")) };
            let (s, l, d) = (f(s)?, f(l)?, f(d)?);
            ensure!(d != 0, "delta is 0");
            let count = ((l as f64 - s as f64) / d as f64).ceil().max(0.0) as usize;
            super::check_shape(&n.name, &[count])?;
            let v = (0..count as i64).map(|i| s.wrapping_add(i.wrapping_mul(d)));
            match dt {
                DType::I32 => OwnedData::I32(v.map(|x| x as i32).collect()),
                _ => OwnedData::I64(v.collect()),
            }
        }
    };
    let len = data.len();
    cx.bind_const(n, 0, vec![len], data);
    Ok(())
}

fn constant(cx: &mut Cx, n: &OnnxNode) -> Result<()> {
    let a = n.attrs;
    let (shape, data) = if let Some(t) = a.tensor("value") {
        super::tensor_from_proto(t, cx.dir, &mut cx.notes)?
    } else if let Some(t) = a.get("sparse_value").and_then(|x| x.sparse_tensor.as_ref()) {
        super::sparse_tensor_from_proto(t, cx.dir, &mut cx.notes).context("sparse_value")?
    } else if let Some(x) = a.get("value_float") {
        (vec![], OwnedData::F32(vec![x.f]))
    } else if let Some(v) = a.get("value_floats") {
        (vec![v.floats.len()], OwnedData::F32(v.floats.clone()))
    } else if let Some(x) = a.get("value_int") {
        (vec![], OwnedData::I64(vec![x.i]))
    } else if let Some(v) = a.get("value_ints") {
        (vec![v.ints.len()], OwnedData::I64(v.ints.clone()))
    } else {
        bail!("only value, sparse_value, value_float(s) and value_int(s) are supported (string constants are not)");
    };
    cx.bind_const(n, 0, shape, data);
    Ok(())
}
