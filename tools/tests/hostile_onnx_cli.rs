//! Bad ONNX files through the `sprig convert` command line. The files live in `tests/bad-onnx/`
//! and are generated here (`bad_onnx_files_match_the_generator` rewrites them with
//! `SPRIG_WRITE_BAD_ONNX=1` and otherwise checks the checked-in copies are what it would write).
//! Each must make `sprig convert` exit non-zero with a message naming the node or tensor at fault,
//! without a panic and without leaving an output file.
mod convert_common;
use convert_common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use tract_onnx::pb::{self, tensor_proto::DataType, TypeProto, ValueInfoProto};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bad-onnx")
}

/// A graph input with no shape at all.
fn shapeless(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type: DataType::Float as i32, shape: None })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// (file name, bytes, strings the error output must contain).
fn cases() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let relu = |opset| model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2, 3])], vec![out("y")], opset);
    let w = tensor_f32_raw("w", &[2, 1, 3, 3], &rand_vec(18, 1));
    vec![
        ("empty.onnx", vec![], vec!["empty.onnx", "the file is empty"]),
        ("malformed_protobuf.onnx", b"\x0a\xff\xff\xff\xff\x0f garbage".to_vec(), vec!["malformed_protobuf.onnx", "not a valid ONNX model"]),
        // A .sprig header is not a protobuf.
        ("not_onnx.onnx", b"SPRIG\0\r\n\x01\0\0\0\x40\0\0\0".to_vec(), vec!["not_onnx.onnx", "not a valid ONNX model"]),
        (
            "missing_initializer.onnx",
            model(vec![node("Conv", "conv1", &["x", "w"], &["y"], vec![])], vec![], vec![fixed("x", &[1, 1, 4, 4])], vec![out("y")], 13),
            vec!["node 'conv1' (Conv)", "unknown input tensor 'w'"],
        ),
        (
            "cycle.onnx",
            model(
                vec![node("Relu", "a", &["t2"], &["t1"], vec![]), node("Relu", "b", &["t1"], &["t2"], vec![])],
                vec![],
                vec![fixed("x", &[2])],
                vec![out("t2")],
                13,
            ),
            vec!["node 'a' (Relu)", "'t2'", "cycle"],
        ),
        (
            "unknown_op.onnx",
            model(vec![node("FancyOp", "fancy", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2])], vec![out("y")], 13),
            vec!["node 'fancy' (FancyOp)", "op FancyOp is not supported", "Conv"],
        ),
        (
            "dynamic_shape.onnx",
            model(
                vec![node("Conv", "conv1", &["x", "w"], &["y"], vec![])],
                vec![w.clone()],
                vec![value_info("x", &[D::S("batch"), D::N(1), D::N(4), D::N(4)])],
                vec![out("y")],
                13,
            ),
            vec!["graph input 'x'", "symbolic dimension 'batch'", "--input-shape x="],
        ),
        (
            "no_shape.onnx",
            model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], vec![shapeless("x")], vec![out("y")], 13),
            vec!["graph input 'x' has no shape", "--input-shape"],
        ),
        ("opset_too_new.onnx", relu(99), vec!["opset 99 is not supported", "6 to 23"]),
        ("opset_too_old.onnx", relu(5), vec!["opset 5 is not supported"]),
        (
            "no_outputs.onnx",
            model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2, 3])], vec![], 13),
            vec!["the graph has no outputs"],
        ),
        (
            "missing_input_name.onnx",
            model(vec![node("Add", "add1", &["x", ""], &["y"], vec![])], vec![], vec![fixed("x", &[2, 3])], vec![out("y")], 13),
            vec!["node 'add1' (Add)", "needs input #1"],
        ),
        (
            "unknown_graph_output.onnx",
            model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2, 3])], vec![out("ghost")], 13),
            vec!["graph output 'ghost'", "not produced by any node"],
        ),
        (
            "bad_weight_shape.onnx",
            model(
                vec![node("Conv", "conv1", &["x", "w"], &["y"], vec![])],
                vec![w],
                vec![fixed("x", &[1, 3, 4, 4])],
                vec![out("y")],
                13,
            ),
            vec!["node 'conv1' (Conv)"],
        ),
        (
            "initializer_too_short.onnx",
            model(
                vec![node("Add", "add1", &["x", "b"], &["y"], vec![])],
                vec![pb::TensorProto { name: "b".into(), dims: vec![2, 3], data_type: DataType::Float as i32, raw_data: vec![0; 8], ..Default::default() }],
                vec![fixed("x", &[2, 3])],
                vec![out("y")],
                13,
            ),
            vec!["initializer 'b'", "raw data has 8 bytes, expected 24"],
        ),
    ]
}

#[test]
fn bad_onnx_files_match_the_generator() {
    let write = std::env::var_os("SPRIG_WRITE_BAD_ONNX").is_some();
    for (name, bytes, _) in cases() {
        let p = dir().join(name);
        if write {
            std::fs::write(&p, &bytes).unwrap();
        } else {
            let on_disk = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (write the folder with SPRIG_WRITE_BAD_ONNX=1)", p.display()));
            assert!(on_disk == bytes, "{} differs from the generator (rewrite with SPRIG_WRITE_BAD_ONNX=1)", p.display());
        }
    }
}

#[test]
fn convert_rejects_every_bad_file() {
    let tmp = std::env::temp_dir().join(format!("sprig-hostile-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut failures = Vec::new();
    for (name, bytes, want) in cases() {
        // Run on the generated bytes (a copy in a temp dir), so this test does not depend on the
        // checked-in folder being current (the test above checks that).
        let input = tmp.join(name);
        std::fs::write(&input, &bytes).unwrap();
        let output = tmp.join(format!("{name}.sprig"));
        let o = Command::new(env!("CARGO_BIN_EXE_sprig")).arg("convert").arg(&input).arg("-o").arg(&output).output().expect("the sprig binary runs");
        let err = String::from_utf8_lossy(&o.stderr);
        let mut problems = Vec::new();
        if o.status.code() != Some(1) {
            problems.push(format!("exit status {:?}, expected 1", o.status.code()));
        }
        if err.contains("panicked at") {
            problems.push("panicked".into());
        }
        for w in &want {
            if !err.contains(w) {
                problems.push(format!("message lacks {w:?}"));
            }
        }
        if output.exists() {
            problems.push("an output file was written".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n--- stderr:\n{err}", problems.join("; ")));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
