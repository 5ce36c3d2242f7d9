//! Fuzzing, on the test side:
//! - every input under `fuzz/corpus/<target>/` (the checked-in seeds) and
//!   `tests/fuzz-regressions/<target>/` (minimized crashers the fuzzer found, kept after the fix)
//!   is replayed through the fuzz targets' own code (`fuzz/src/harness.rs`, included by path), so
//!   a crasher that comes back fails `cargo test` without cargo-fuzz or a nightly compiler;
//! - the seed corpus is written by `write_fuzz_seed_corpus` (ignored: run it by hand, see
//!   `fuzz/README.md`) from small models built here and converted by the real converter;
//! - each fixed bug also has a named `bug_N_<what>` test stating the expected typed error.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../../fuzz/src/harness.rs"]
mod harness;

#[path = "../../tools/tests/convert_common/mod.rs"]
mod convert_common;

const TARGETS: [&str; 2] = ["sprig_parse_run", "onnx_convert"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn run_target(target: &str, data: &[u8]) {
    match target {
        "sprig_parse_run" => harness::parse_run(data),
        "onnx_convert" => harness::convert_run(data),
        _ => unreachable!(),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// Replays the checked-in seeds (`fuzz/corpus/<target>/seed-*`, not the git-ignored entries a
/// local fuzzer run adds and deletes while it runs) and the kept crashers; reports every
/// panicking file, not just the first.
#[test]
fn fuzz_corpus_and_regressions_replay() {
    let mut failures = Vec::new();
    let mut count = 0;
    for target in TARGETS {
        let dirs = [root().join("fuzz/corpus").join(target), root().join("tests/fuzz-regressions").join(target)];
        for path in dirs.iter().flat_map(|d| files_in(d)) {
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let in_corpus = path.starts_with(root().join("fuzz/corpus"));
            if in_corpus && !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seed-")) {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            count += 1;
            if catch_unwind(AssertUnwindSafe(|| run_target(target, &data))).is_err() {
                failures.push(format!("{target}: {}", path.display()));
            }
        }
    }
    assert!(count >= 8, "only {count} corpus files found: is fuzz/corpus checked in?");
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
}

/// Every seed of `sprig_parse_run` must load (a seed that no longer loads, say after a format
/// change, would only exercise the header checks).
#[test]
fn parse_run_seeds_load() {
    // Only the checked-in seeds: files a local fuzz run added are mutations (and git-ignored).
    let seeds: Vec<PathBuf> = files_in(&root().join("fuzz/corpus/sprig_parse_run"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")))
        .collect();
    assert!(!seeds.is_empty());
    for p in seeds {
        let b = std::fs::read(&p).unwrap();
        if let Err(e) = sprig_runtime::Model::from_vec(&b) {
            panic!("{}: {e} (regenerate the seeds, see fuzz/README.md)", p.display());
        }
    }
}

mod seeds {
    use super::convert_common::*;
    use tract_onnx::pb::{self, tensor_proto::DataType, TypeProto, ValueInfoProto};

    fn typed(name: &str, dt: DataType, dims: &[usize]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|&d| pb::tensor_shape_proto::Dimension { value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d as i64)), ..Default::default() })
            .collect();
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type: dt as i32, shape: Some(pb::TensorShapeProto { dim }) })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Small ONNX models covering the op families: (file stem, bytes).
    pub fn onnx() -> Vec<(&'static str, Vec<u8>)> {
        use sprig_tools::synth::{build, Arch, SynthOptions};
        // (Synthesized conv nets are far above the corpus budget: the smallest MobileNetV1 is
        // ~0.9 MB; `conv` covers their ops.)
        let conv = model(
            vec![
                node("Conv", "conv", &["x", "w", "b"], &["c"], vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[2, 1])]),
                node("Relu", "relu", &["c"], &["r"], vec![]),
                node("Conv", "dw", &["r", "wd"], &["d"], vec![attr_i("group", 3), attr_ints("pads", &[1, 1, 1, 1])]),
                node("Add", "res", &["d", "r"], &["a"], vec![]),
                node("Clip", "clip", &["a", "lo", "hi"], &["k"], vec![]),
                node("MaxPool", "mp", &["k"], &["p"], vec![attr_ints("kernel_shape", &[2, 2]), attr_i("ceil_mode", 1)]),
                node("GlobalAveragePool", "gap", &["p"], &["g"], vec![]),
                node("Flatten", "fl", &["g"], &["f"], vec![]),
                node("Gemm", "fc", &["f", "wf", "bf"], &["y"], vec![attr_i("transB", 1)]),
            ],
            vec![
                tensor_f32_raw("w", &[3, 2, 3, 3], &rand_vec(54, 1)),
                tensor_f32("b", &[3], &[0.1, -0.2, 0.3]),
                tensor_f32_raw("wd", &[3, 1, 3, 3], &rand_vec(27, 2)),
                tensor_f32("lo", &[], &[-1.0]),
                tensor_f32("hi", &[], &[1.5]),
                tensor_f32_raw("wf", &[4, 3], &rand_vec(12, 3)),
                tensor_f32("bf", &[4], &[0.0, 1.0, 2.0, 3.0]),
            ],
            vec![fixed("x", &[1, 2, 6, 5])],
            vec![out("y")],
            13,
        );
        let attention = model(
            vec![
                node("Gather", "emb", &["table", "ids"], &["e"], vec![attr_i("axis", 0)]),
                node("MatMul", "q", &["e", "wq"], &["qv"], vec![]),
                node("Transpose", "kt", &["e"], &["et"], vec![attr_ints("perm", &[0, 2, 1])]),
                node("MatMul", "scores", &["qv", "et"], &["s"], vec![]),
                node("Softmax", "sm", &["s"], &["p"], vec![attr_i("axis", -1)]),
                node("MatMul", "ctx", &["p", "e"], &["c"], vec![]),
                node("LayerNormalization", "ln", &["c", "gamma", "beta"], &["n"], vec![attr_i("axis", -1)]),
                node("Gelu", "gelu", &["n"], &["y"], vec![]),
            ],
            vec![
                tensor_f32_raw("table", &[10, 4], &rand_vec(40, 4)),
                tensor_f32_raw("wq", &[4, 4], &rand_vec(16, 5)),
                tensor_f32("gamma", &[4], &[1.0, 0.5, 2.0, 1.0]),
                tensor_f32("beta", &[4], &[0.0, 0.1, 0.0, -0.1]),
            ],
            vec![typed("ids", DataType::Int64, &[1, 3])],
            vec![out("y")],
            20,
        );
        let shapes = model(
            vec![
                node("Slice", "sl", &["x", "st", "en", "ax", "stp"], &["s"], vec![]),
                node("Pad", "pad", &["s", "pads"], &["p"], vec![attr_s("mode", "reflect")]),
                node("Tile", "tile", &["p", "reps"], &["t"], vec![]),
                node("Resize", "rs", &["t", "", "scales"], &["r"], vec![attr_s("mode", "linear")]),
                node("Split", "split", &["r"], &["a", "b"], vec![attr_i("axis", 3)]),
                node("Concat", "cat", &["b", "a"], &["c"], vec![attr_i("axis", 1)]),
                node("ReduceMean", "rm", &["c"], &["m"], vec![attr_ints("axes", &[2]), attr_i("keepdims", 1)]),
                node("Greater", "gt", &["c", "m"], &["mask"], vec![]),
                node("Where", "wh", &["mask", "c", "m"], &["w"], vec![]),
                node("ArgMax", "am", &["w"], &["y"], vec![attr_i("axis", 3)]),
                node("Cast", "cast", &["y"], &["z"], vec![attr_i("to", 1)]),
            ],
            vec![
                tensor_i64("st", &[2], &[0, 1]),
                tensor_i64("en", &[2], &[3, 100]),
                tensor_i64("ax", &[2], &[2, 3]),
                tensor_i64("stp", &[2], &[1, 2]),
                tensor_i64("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]),
                tensor_i64("reps", &[4], &[1, 1, 1, 2]),
                tensor_f32("scales", &[4], &[1.0, 1.0, 2.0, 1.0]),
            ],
            vec![fixed("x", &[1, 2, 4, 6])],
            vec![out("z")],
            13,
        );
        let bert = SynthOptions { seq_len: 4, hidden: 8, layers: 1, heads: 2, vocab: 16, sparsity: 0.5, ..Default::default() };
        vec![
            ("conv", conv),
            ("attention", attention),
            ("shapes", shapes),
            ("bert", build(Arch::Bert, &bert).unwrap()),
        ]
    }
}

/// Writes `fuzz/corpus/onnx_convert/seed-*.onnx` and their conversions as
/// `fuzz/corpus/sprig_parse_run/seed-*.sprig`.
#[test]
#[ignore = "writes the seed corpus; run by hand (fuzz/README.md)"]
fn write_fuzz_seed_corpus() {
    let (onnx_dir, sprig_dir) = (root().join("fuzz/corpus/onnx_convert"), root().join("fuzz/corpus/sprig_parse_run"));
    std::fs::create_dir_all(&onnx_dir).unwrap();
    std::fs::create_dir_all(&sprig_dir).unwrap();
    let mut total = 0;
    for (stem, onnx) in seeds::onnx() {
        let conv = sprig_tools::convert::convert_bytes(&onnx, &Default::default()).unwrap_or_else(|e| panic!("{stem}: {e:#}"));
        std::fs::write(onnx_dir.join(format!("seed-{stem}.onnx")), &onnx).unwrap();
        std::fs::write(sprig_dir.join(format!("seed-{stem}.sprig")), &conv.bytes).unwrap();
        println!("{stem}: onnx {} B, sprig {} B", onnx.len(), conv.bytes.len());
        total += onnx.len() + conv.bytes.len();
    }
    println!("total {total} B");
    assert!(total < 100_000, "the seed corpus should stay below 100 KB, is {total} B");
}

fn convert_err(onnx: &[u8]) -> String {
    match sprig_tools::convert::convert_bytes(onnx, &Default::default()) {
        Ok(_) => panic!("conversion unexpectedly succeeded"),
        Err(e) => format!("{e:#}"),
    }
}

/// Bug 1: an empty file decoded as an empty ModelProto and failed with "the model imports no
/// default-domain opset", which sends the user looking for the wrong problem.
#[test]
fn bug_1_empty_onnx_file_says_empty() {
    let e = convert_err(&[]);
    assert!(e.contains("the file is empty"), "{e}");
}

/// Bug 2: a graph with no outputs converted "successfully" to a model that computes nothing.
#[test]
fn bug_2_graph_without_outputs_is_rejected() {
    use convert_common::*;
    let onnx = model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2, 3])], vec![], 13);
    let e = convert_err(&onnx);
    assert!(e.contains("the graph has no outputs"), "{e}");
}

/// Bug 3 (fuzzer, `sprig_parse_run`, kept as `tests/fuzz-regressions/sprig_parse_run/
/// bug_3_slice_step_overflow.sprig`): Slice's `check` bounds a step only on axes that take more
/// than one element, but `exec` multiplied every step by the axis stride, so a step of i64::MAX
/// on an axis taking one element overflowed (a panic in debug builds, a wild stride in release).
#[test]
fn bug_3_slice_step_overflow() {
    use sprig_runtime::ops::params::SliceParams;
    use sprig_runtime::ops::OpKind;
    use sprig_runtime::{AlignedBuf, DType, Model, Session, Tensor, TensorMut};
    use sprig_tools::writer::{write, FileDef, NodeDef, ValueDef, ValueStorage};
    let v = |name: &str, shape: Vec<usize>, offset| ValueDef { name: name.into(), dtype: DType::F32, shape, storage: ValueStorage::Arena { offset } };
    let mut p = SliceParams::default();
    p.starts[..2].copy_from_slice(&[1, 0]);
    p.steps[..2].copy_from_slice(&[i64::MAX, 2]);
    let def = FileDef {
        values: vec![v("x", vec![2, 3], 0), v("y", vec![1, 2], 64)],
        nodes: vec![NodeDef { name: "sl".into(), op: OpKind::Slice, params: bytemuck::bytes_of(&p).to_vec(), inputs: vec![Some(0)], outputs: vec![1], scratch: (0, 0) }],
        inputs: vec![0],
        outputs: vec![1],
        arena_size: 128,
    };
    let m = Model::from_vec(&write(&def).unwrap()).expect("a step on a one-element axis is valid");
    let mut arena = AlignedBuf::new(m.arena_size());
    let mut s = Session::new(&m, arena.as_mut_slice()).unwrap();
    let x = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0];
    let mut y = [0f32; 2];
    s.run(&[Tensor::f32(&x, &[2, 3])], &mut [TensorMut::F32(&mut y)]).unwrap();
    // Row 1, columns 0 and 2.
    assert_eq!(y, [3.0, 5.0]);
}
