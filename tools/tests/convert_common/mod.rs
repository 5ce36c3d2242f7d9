//! Shared helpers of the converter tests: ONNX model builders (tract's prost types), running a
//! converted model with the sprig runtime and the ONNX model with tract, and comparison.
#![allow(dead_code)]
use prost::Message;
use sprig_runtime::{AlignedBuf, Model, Session, Tensor, TensorMut};
use sprig_tools::convert::{convert_bytes, Conversion, ConvertOptions};
use tract_onnx::pb::{
    self, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

pub fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i, ..Default::default() }
}
pub fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f, ..Default::default() }
}
pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: ints.to_vec(), ..Default::default() }
}
pub fn attr_s(name: &str, s: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::String as i32, s: s.as_bytes().to_vec(), ..Default::default() }
}
pub fn attr_t(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Tensor as i32, t: Some(t), ..Default::default() }
}

pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

pub fn tensor_f32(name: &str, dims: &[usize], v: &[f32]) -> TensorProto {
    assert_eq!(dims.iter().product::<usize>(), v.len());
    TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: DataType::Float as i32, float_data: v.to_vec(), ..Default::default() }
}
/// An f32 tensor in `raw_data` (as most exporters write them).
pub fn tensor_f32_raw(name: &str, dims: &[usize], v: &[f32]) -> TensorProto {
    assert_eq!(dims.iter().product::<usize>(), v.len());
    let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: DataType::Float as i32, raw_data: raw, ..Default::default() }
}
pub fn tensor_i64(name: &str, dims: &[usize], v: &[i64]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: DataType::Int64 as i32, int64_data: v.to_vec(), ..Default::default() }
}

/// A dimension: a number, or a symbolic name.
pub enum D {
    N(usize),
    S(&'static str),
}

pub fn value_info(name: &str, dims: &[D]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| pb::tensor_shape_proto::Dimension {
            value: Some(match d {
                D::N(n) => dimension::Value::DimValue(*n as i64),
                D::S(s) => dimension::Value::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn fixed(name: &str, dims: &[usize]) -> ValueInfoProto {
    value_info(name, &dims.iter().map(|&d| D::N(d)).collect::<Vec<_>>())
}

/// An output with unknown shape (converter and tract infer it).
pub fn out(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type: DataType::Float as i32, shape: None })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, inputs: Vec<ValueInfoProto>, outputs: Vec<ValueInfoProto>, opset: i64) -> Vec<u8> {
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(GraphProto { node: nodes, name: "g".into(), initializer: inits, input: inputs, output: outputs, ..Default::default() }),
        ..Default::default()
    };
    m.encode_to_vec()
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Converts, or returns None after printing SKIPPED when the failure is a runtime op that has
/// not landed yet (the runtime ops are written in parallel).
pub fn convert_or_skip(onnx: &[u8], opts: &ConvertOptions, test: &str) -> Option<Conversion> {
    match convert_bytes(onnx, opts) {
        Ok(c) => Some(c),
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.contains("not implemented yet") {
                println!("SKIPPED: {test}: a runtime op is not implemented yet: {msg}");
                None
            } else {
                panic!("{test}: conversion failed: {msg}");
            }
        }
    }
}

/// Runs a converted model on f32 inputs; returns the f32 outputs.
pub fn run_sprig(bytes: &[u8], inputs: &[(Vec<f32>, Vec<usize>)]) -> Vec<Vec<f32>> {
    let buf = AlignedBuf::from_bytes(bytes);
    let model = Model::from_bytes(buf.as_slice()).expect("converted model loads");
    let mut arena = AlignedBuf::new(model.arena_size());
    let mut sess = Session::new(&model, arena.as_mut_slice()).expect("session");
    let ins: Vec<Tensor> = inputs.iter().map(|(d, s)| Tensor::f32(d, s)).collect();
    let mut outs: Vec<Vec<f32>> = (0..model.num_outputs()).map(|i| vec![0.0; model.output(i).unwrap().shape.numel()]).collect();
    {
        let mut views: Vec<TensorMut> = outs.iter_mut().map(|o| TensorMut::F32(o)).collect();
        sess.run(&ins, &mut views).expect("sprig run");
    }
    outs
}

/// Runs the ONNX model with tract (inputs fixed to the given shapes); returns f32 outputs.
pub fn run_tract(onnx: &[u8], inputs: &[(Vec<f32>, Vec<usize>)]) -> Vec<Vec<f32>> {
    let mut m = tract_onnx::onnx().model_for_read(&mut &onnx[..]).expect("tract loads the model");
    for (i, (_, s)) in inputs.iter().enumerate() {
        m = m.with_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), s)).unwrap();
    }
    let plan = m.into_optimized().expect("tract optimises").into_runnable().expect("tract plan");
    let tv: TVec<TValue> = inputs.iter().map(|(d, s)| TValue::from(tract_onnx::prelude::Tensor::from_shape(s, d).unwrap())).collect();
    let res = plan.run(tv).expect("tract runs");
    res.iter().map(|t| t.cast_to::<f32>().unwrap().to_plain_array_view::<f32>().unwrap().iter().copied().collect()).collect()
}

/// max |a-b| / max(max |ref|, 1e-6) <= tol, per output.
pub fn assert_close(ours: &[Vec<f32>], reference: &[Vec<f32>], tol: f32) {
    assert_eq!(ours.len(), reference.len(), "output count");
    for (k, (a, r)) in ours.iter().zip(reference).enumerate() {
        assert_eq!(a.len(), r.len(), "output {k} length");
        let scale = r.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
        let err = a.iter().zip(r).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err / scale <= tol, "output {k}: relative error {} > {tol} (max abs err {err}, scale {scale})", err / scale);
    }
}

/// Converts, runs with sprig and tract, compares within 1e-4. None when skipped.
pub fn check_against_tract(onnx: &[u8], opts: &ConvertOptions, inputs: &[(Vec<f32>, Vec<usize>)], test: &str) -> Option<Conversion> {
    let c = convert_or_skip(onnx, opts, test)?;
    let ours = run_sprig(&c.bytes, inputs);
    let reference = run_tract(onnx, inputs);
    assert_close(&ours, &reference, 1e-4);
    Some(c)
}
