//! Drives the built `sprig` binary: `--help`/`--version`, `inspect` and `run` on small models
//! written with `sprig_tools::writer`, and the errors and exit codes for bad files and inputs.
//! Expected values are computed here by hand, never taken from the code under test.
use sprig_runtime::ops::params::ActParams;
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::{DType, Encoding};
use sprig_tools::writer::{write, FileDef, NodeDef, ValueDef, ValueStorage};
use std::path::{Path, PathBuf};
mod cli_common;
use cli_common::*;

fn arena(name: &str, shape: &[usize], offset: u64) -> ValueDef {
    ValueDef { name: name.into(), dtype: DType::F32, shape: shape.to_vec(), storage: ValueStorage::Arena { offset } }
}

/// `y = Relu(x)`, x and y f32 [2, 3]; the output is called `out_name`.
fn relu_model(dir: &Path, out_name: &str) -> PathBuf {
    let def = FileDef {
        values: vec![arena("x", &[2, 3], 0), arena(out_name, &[2, 3], 64)],
        nodes: vec![NodeDef { name: "relu0".into(), op: OpKind::Relu, params: vec![], inputs: vec![Some(0)], outputs: vec![1], scratch: (0, 0) }],
        inputs: vec![0],
        outputs: vec![1],
        arena_size: 128,
    };
    let p = dir.join("relu.sprig");
    std::fs::write(&p, write(&def).unwrap()).unwrap();
    p
}

/// `y = a + w + b` as two Add nodes; a, b inputs [4]; w a constant [4] = 10, 20, 30, 40.
fn add_model(dir: &Path) -> PathBuf {
    let w: Vec<u8> = [10f32, 20.0, 30.0, 40.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let act = bytemuck::bytes_of(&ActParams::NONE).to_vec();
    let def = FileDef {
        values: vec![
            arena("a", &[4], 0),
            arena("b", &[4], 64),
            ValueDef { name: "w".into(), dtype: DType::F32, shape: vec![4], storage: ValueStorage::Const { bytes: w, encoding: Encoding::Dense } },
            arena("t", &[4], 128),
            arena("y", &[4], 192),
        ],
        nodes: vec![
            NodeDef { name: "add_w".into(), op: OpKind::Add, params: act.clone(), inputs: vec![Some(0), Some(2)], outputs: vec![3], scratch: (0, 0) },
            NodeDef { name: "add_b".into(), op: OpKind::Add, params: act, inputs: vec![Some(3), Some(1)], outputs: vec![4], scratch: (0, 0) },
        ],
        inputs: vec![0, 1],
        outputs: vec![4],
        arena_size: 256,
    };
    let p = dir.join("add.sprig");
    std::fs::write(&p, write(&def).unwrap()).unwrap();
    p
}


const X: [f32; 6] = [-1.0, 2.0, -3.0, 4.5, 0.0, -0.5];

#[test]
fn help_and_version() {
    let o = sprig(&["--version"]);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("sprig "), "{}", stdout(&o));
    for sub in ["convert", "run", "inspect", "demo"] {
        let o = sprig(&[sub, "--help"]);
        assert!(o.status.success(), "{sub} --help failed: {}", stderr(&o));
        let s = stdout(&o);
        assert!(s.contains(&format!("Usage: sprig {sub}")), "{s}");
        assert!(s.contains("Examples:"), "{sub} --help has no examples");
    }
    assert!(stdout(&sprig(&["--help"])).contains("Examples:"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(sprig(&[]).status.code(), Some(2));
    assert_eq!(sprig(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(sprig(&["inspect"]).status.code(), Some(2));
    assert_eq!(sprig(&["convert", "x.onnx", "-o", "y.sprig", "--input-shape", "x=1,a"]).status.code(), Some(2));
}

#[test]
fn inspect_table_and_json() {
    let d = Tmp::new("inspect");
    let m = relu_model(&d, "y");
    let o = sprig(&["inspect", m.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("relu0") && s.contains("Relu") && s.contains("2x3"), "{s}");

    let o = sprig(&["inspect", m.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("--json prints one JSON object");
    assert_eq!(j["file_size"].as_u64().unwrap(), std::fs::metadata(&m).unwrap().len());
    assert_eq!(j["arena_size"], 128);
    assert_eq!(j["layers"][0]["op"], "Relu");
    assert_eq!(j["layers"][0]["flops"], 6); // elementwise: one per output element
    assert_eq!(j["params"], 0);
    assert_eq!(j["inputs"][0]["name"], "x");
    assert_eq!(j["outputs"][0]["shape"], serde_json::json!([2, 3]));

    // Constants count as parameters: 4 f32 = 16 bytes, FLOPs 4 + 4.
    let m = add_model(&d);
    let o = sprig(&["inspect", m.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["params"], 4);
    assert_eq!(j["param_bytes"], 16);
    assert_eq!(j["flops"], 8);
    assert_eq!(j["layers"][0]["encoding"], "dense");
    assert_eq!(j["layers"][1]["encoding"], "-");
}

#[test]
fn run_relu_matches_hand_computed() {
    let d = Tmp::new("relu");
    let m = relu_model(&d, "y");
    let x = d.join("x.npy");
    write_npy(&x, &[2, 3], &X);
    let out = d.join("out");
    let o = sprig(&["run", m.to_str().unwrap(), "--input", &format!("x={}", x.display()), "--output-dir", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2x3"), "{}", stdout(&o));
    let (shape, y) = read_npy_f32(&out.join("y.npy"));
    assert_eq!(shape, vec![2, 3]);
    assert_eq!(y, vec![0.0, 2.0, 0.0, 4.5, 0.0, 0.0]);
}

#[test]
fn run_single_input_without_name_and_f64_input() {
    let d = Tmp::new("noname");
    let m = relu_model(&d, "y");
    let x = d.join("x64.npy");
    write_npy(&x, &[2, 3], &X.map(|v| v as f64));
    let o = sprig(&["run", m.to_str().unwrap(), "-i", x.to_str().unwrap(), "-o", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, y) = read_npy_f32(&d.join("y.npy"));
    assert_eq!(y, vec![0.0, 2.0, 0.0, 4.5, 0.0, 0.0]);
}

#[test]
fn output_names_are_sanitized() {
    let d = Tmp::new("sanitize");
    let m = relu_model(&d, "out/put:0 é");
    let x = d.join("x.npy");
    write_npy(&x, &[2, 3], &X);
    let o = sprig(&["run", m.to_str().unwrap(), "--input", &format!("x={}", x.display()), "--output-dir", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, y) = read_npy_f32(&d.join("out_put_0__.npy"));
    assert_eq!(y[3], 4.5);
    assert!(!d.join("out").exists(), "a '/' in an output name must not create a directory");
}

#[test]
fn run_two_inputs_with_constant() {
    let d = Tmp::new("add");
    let m = add_model(&d);
    let (a, b) = (d.join("a.npy"), d.join("b.npy"));
    write_npy(&a, &[4], &[1f32, 2.0, 3.0, 4.0]);
    write_npy(&b, &[4], &[0.5f32, -0.5, 0.25, -100.0]);
    let args = |extra: &[&str]| {
        let mut v = vec!["run".to_string(), m.display().to_string(), "--output-dir".into(), d.display().to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let v = args(extra);
        sprig(&v.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    };
    let (ia, ib) = (format!("a={}", a.display()), format!("b={}", b.display()));
    // Order of --input flags does not matter.
    let o = run(&["--input", &ib, "--input", &ia]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, y) = read_npy_f32(&d.join("y.npy"));
    assert_eq!(y, vec![11.5, 21.5, 33.25, -56.0]);

    // A missing input is named.
    let o = run(&["--input", &ia]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing input 'b'"), "{}", stderr(&o));

    // NAME= is required with two inputs.
    let o = run(&["--input", a.to_str().unwrap(), "--input", &ib]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("NAME="), "{}", stderr(&o));

    // Given twice.
    let o = run(&["--input", &ia, "--input", &ia, "--input", &ib]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("twice"), "{}", stderr(&o));
}

#[test]
fn run_input_errors() {
    let d = Tmp::new("inerr");
    let m = relu_model(&d, "y");
    let ms = m.to_str().unwrap();
    let run = |spec: String| sprig(&["run", ms, "--input", &spec, "--output-dir", d.to_str().unwrap()]);

    let good = d.join("x.npy");
    write_npy(&good, &[2, 3], &X);
    let o = run(format!("nosuch={}", good.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no input named 'nosuch'") && stderr(&o).contains("x"), "{}", stderr(&o));

    let shape = d.join("shape.npy");
    write_npy(&shape, &[3, 2], &X);
    let o = run(format!("x={}", shape.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expects shape [2, 3]") && stderr(&o).contains("[3, 2]"), "{}", stderr(&o));

    let dtype = d.join("dtype.npy");
    write_npy(&dtype, &[2, 3], &[1i64, 2, 3, 4, 5, 6]);
    let o = run(format!("x={}", dtype.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expects f32") && stderr(&o).contains("i64"), "{}", stderr(&o));

    let o = run(format!("x={}", d.join("missing.npy").display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.npy"), "{}", stderr(&o));

    let junk = d.join("junk.npy");
    std::fs::write(&junk, b"not an npy file").unwrap();
    let o = run(format!("x={}", junk.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("junk.npy"), "{}", stderr(&o));

    // No --input at all: the missing one is named.
    let o = sprig(&["run", ms]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing input 'x'"), "{}", stderr(&o));
}

#[test]
fn bad_model_files() {
    let d = Tmp::new("badmodel");
    let missing = d.join("missing.sprig");
    for sub in ["inspect", "run"] {
        let o = sprig(&[sub, missing.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{sub}");
        assert!(stderr(&o).contains("missing.sprig"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }

    let corrupt = d.join("corrupt.sprig");
    std::fs::write(&corrupt, b"definitely not a model, just some bytes that go on for a while........").unwrap();
    let o = sprig(&["inspect", corrupt.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("corrupt.sprig") && stderr(&o).contains("magic"), "{}", stderr(&o));

    // A valid model cut short.
    let m = relu_model(&d, "y");
    let bytes = std::fs::read(&m).unwrap();
    let cut = d.join("cut.sprig");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for sub in ["inspect", "run"] {
        let o = sprig(&[sub, cut.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{sub}");
        assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }

    // A directory is not a model.
    let o = sprig(&["inspect", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
}
