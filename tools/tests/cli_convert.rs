//! Drives `sprig convert` on small ONNX models built here with tract's protobuf types, then
//! `sprig run` on the result, compared with tract run directly on the ONNX (the independent
//! reference). Also checks that a failed conversion leaves no output file.
use prost::Message;
use std::path::Path;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension, type_proto, AttributeProto,
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;
mod cli_common;
use cli_common::*;

fn vinfo(name: &str, dims: &[usize]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tract_onnx::pb::tensor_shape_proto::Dimension { value: Some(dimension::Value::DimValue(d as i64)), ..Default::default() })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn init(name: &str, dims: &[usize], f: impl Fn(usize) -> f32) -> TensorProto {
    let n: usize = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        float_data: (0..n).map(f).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}

fn node(op: &str, name: &str, i: &[&str], o: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: i.iter().map(|s| s.to_string()).collect(),
        output: o.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn model(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, input: ValueInfoProto, output: ValueInfoProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(GraphProto { name: "g".into(), node: nodes, initializer, input: vec![input], output: vec![output], ..Default::default() }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// x [1,2,5,5] → Conv(3 filters 3x3, pad 1, bias) → Relu → y [1,3,5,5]; weights are a fixed
/// non-trivial pattern with both signs.
fn conv_relu_onnx() -> Vec<u8> {
    let w = init("w", &[3, 2, 3, 3], |i| ((i * 7 % 11) as f32 - 5.0) * 0.1);
    let b = init("b", &[3], |i| i as f32 * 0.2 - 0.2);
    model(
        vec![
            node("Conv", "conv", &["x", "w", "b"], &["c"], vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])]),
            node("Relu", "relu", &["c"], &["y"], vec![]),
        ],
        vec![w, b],
        vinfo("x", &[1, 2, 5, 5]),
        vinfo("y", &[1, 3, 5, 5]),
    )
}


fn tract_reference(onnx: &Path, x: &[f32]) -> Vec<f32> {
    let plan = tract_onnx::onnx()
        .model_for_path(onnx)
        .unwrap()
        .with_input_fact(0, f32::fact([1, 2, 5, 5]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let t = Tensor::from_shape(&[1, 2, 5, 5], x).unwrap();
    let out = plan.run(tvec![t.into()]).unwrap();
    out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
}

#[test]
fn convert_then_run_matches_tract() {
    let d = Tmp::new("ok");
    let onnx = d.join("m.onnx");
    std::fs::write(&onnx, conv_relu_onnx()).unwrap();
    let out = d.join("m.sprig");
    let report = d.join("report.json");
    let o = sprig(&["convert", onnx.to_str().unwrap(), "-o", out.to_str().unwrap(), "--report-json", report.to_str().unwrap()]);
    if !o.status.success() && stderr(&o).contains("not implemented") {
        println!("SKIPPED: the converter or an op it needs has not landed: {}", stderr(&o));
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("Conv") && s.contains("1x3x5x5") && s.contains("verification"), "{s}");
    assert!(out.is_file());
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(j["totals"]["file_size"].as_u64().unwrap(), std::fs::metadata(&out).unwrap().len());
    assert_eq!(j["totals"]["onnx_size"].as_u64().unwrap(), std::fs::metadata(&onnx).unwrap().len());
    assert_eq!(j["verification"]["passed"], true);
    // 3·5·5 outputs × 2·3·3 MACs × 2 = 2700 FLOPs in the conv (the fused Relu adds at most 75).
    let flops = j["totals"]["flops"].as_u64().unwrap();
    assert!((2700..=2775).contains(&flops), "{flops}");
    assert!(j["report"]["layers"].as_array().unwrap().iter().any(|l| l["op"] == "Conv"));

    let x: Vec<f32> = (0..50).map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.25).collect();
    let xp = d.join("x.npy");
    write_npy(&xp, &[1, 2, 5, 5], &x);
    let o = sprig(&["run", out.to_str().unwrap(), "--input", &format!("x={}", xp.display()), "--output-dir", d.0.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(d.join("y.npy")).unwrap();
    let y = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec::<f32>().unwrap();
    let r = tract_reference(&onnx, &x);
    assert_eq!(y.len(), r.len());
    for (i, (a, b)) in y.iter().zip(&r).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "element {i}: sprig {a}, tract {b}");
    }
}

#[test]
fn tolerance_zero_fails_exactly_when_there_is_an_error() {
    let d = Tmp::new("tol");
    let onnx = d.join("m.onnx");
    std::fs::write(&onnx, conv_relu_onnx()).unwrap();
    let out = d.join("m.sprig");
    let report = d.join("r.json");
    let o = sprig(&["convert", onnx.to_str().unwrap(), "-o", out.to_str().unwrap(), "--tolerance", "0", "--report-json", report.to_str().unwrap()]);
    if !report.exists() {
        println!("SKIPPED: conversion did not reach verification: {}", stderr(&o));
        return;
    }
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let worst = j["verification"]["outputs"].as_array().unwrap().iter().map(|e| e["max_rel"].as_f64().unwrap()).fold(0.0, f64::max);
    if worst > 0.0 {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("tolerance"), "{}", stderr(&o));
        assert!(!out.exists(), "a failed verification must not leave an output file");
    } else {
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn failed_convert_leaves_no_file() {
    let d = Tmp::new("fail");
    let out = d.join("m.sprig");

    // Not ONNX at all.
    let junk = d.join("junk.onnx");
    std::fs::write(&junk, b"\xff\xfe this is not protobuf").unwrap();
    let o = sprig(&["convert", junk.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("junk.onnx"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(!out.exists());

    // An op nobody supports; a stale output of an earlier run must go too.
    let bad = d.join("bad.onnx");
    std::fs::write(&bad, model(vec![node("NoSuchOp", "weird", &["x"], &["y"], vec![])], vec![], vinfo("x", &[1, 4]), vinfo("y", &[1, 4]))).unwrap();
    std::fs::write(&out, b"stale").unwrap();
    let o = sprig(&["convert", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("NoSuchOp") || stderr(&o).contains("weird"), "{}", stderr(&o));
    assert!(!out.exists(), "a failed convert left '{}'", out.display());
    // No temporary files are left behind either.
    let left: Vec<_> = std::fs::read_dir(&d.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");

    // Missing input file.
    let o = sprig(&["convert", d.join("nope.onnx").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope.onnx"), "{}", stderr(&o));

    // Output onto the input is refused without touching the input.
    let o = sprig(&["convert", bad.to_str().unwrap(), "-o", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(bad.exists());
}

#[test]
fn demo_runs_and_agrees_with_tract() {
    for arch in ["mobilenet-v1", "bert"] {
        let o = sprig(&["demo", "--arch", arch, "--runs", "1", "--resolution", "32", "--width", "0.25"]);
        if !o.status.success() && stderr(&o).contains("not implemented") {
            println!("SKIPPED: demo {arch}: a part it needs has not landed: {}", stderr(&o));
            continue;
        }
        assert!(o.status.success(), "demo {arch}: {}", stderr(&o));
        let s = stdout(&o);
        assert!(s.contains("median latency") && s.contains("tract"), "{s}");
        let rels: Vec<f64> = s
            .lines()
            .filter(|l| l.starts_with("max error vs tract"))
            .map(|l| l.rsplit("rel ").next().unwrap().trim().parse::<f64>().unwrap())
            .collect();
        assert!(!rels.is_empty(), "{s}");
        assert!(rels.iter().all(|&r| r < 1e-4), "demo {arch}: relative errors {rels:?}");
    }
    let o = sprig(&["demo", "--sparsity", "1.5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("sparsity"), "{}", stderr(&o));
}
