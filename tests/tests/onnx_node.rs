//! ONNX backend tests (node, pytorch-converted, pytorch-operator from the onnx 1.22.0 wheel,
//! fetched by `scripts/fetch-onnx-tests.sh` into `target/onnx-tests/`): each test's `model.onnx`
//! is converted with input shapes taken from `test_data_set_0/input_*.pb`, run by sprig and
//! compared with the shipped `output_*.pb`.
//!
//! Tolerance per element: `|got - want| <= 1e-4 + 1e-3 * |want|` for float outputs (ONNX's
//! backend runner uses rtol 1e-3; its atol of 1e-7 is too tight for f32 kernels with reordered
//! sums and polynomial exp/erf, so 1e-4); integer and bool outputs must match exactly. NaN
//! matches NaN.
//!
//! `tests/onnx-node-manifest.txt` lists the tests expected to pass. A listed test that fails,
//! fails this test; a passing test that is not listed is printed. `SPRIG_UPDATE_MANIFEST=1`
//! rewrites the manifest from the passing set; `SPRIG_ONNX_VERBOSE=1` prints every failure.
use prost::Message;
use sprig_runtime::{DType, Model};
use sprig_tests::{allclose, run_model, tensor_from_proto};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::tensor::OwnedTensor;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SUITES: [&str; 3] = ["node", "pytorch-converted", "pytorch-operator"];
const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn data_dir() -> PathBuf {
    std::env::var_os("SPRIG_ONNX_TESTS").map(PathBuf::from).unwrap_or_else(|| root().join("target/onnx-tests"))
}

fn manifest_path() -> PathBuf {
    root().join("tests/onnx-node-manifest.txt")
}

fn read_pbs(dir: &Path, prefix: &str) -> anyhow::Result<Vec<OwnedTensor>> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let k = name.strip_prefix(prefix)?.strip_suffix(".pb")?.parse().ok()?;
            Some((k, e.path()))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|(_, p)| {
            let t = tract_onnx::pb::TensorProto::decode(std::fs::read(p)?.as_slice())?;
            tensor_from_proto(&t)
        })
        .collect()
}

/// Runs one test; `Err` says why it fails.
fn run_one(dir: &Path) -> anyhow::Result<()> {
    let onnx = std::fs::read(dir.join("model.onnx"))?;
    let data = dir.join("test_data_set_0");
    let inputs = read_pbs(&data, "input_")?;
    let expected = read_pbs(&data, "output_")?;
    // Graph inputs that are not initializers, in order: the test's input_k belongs to the k-th.
    let proto = tract_onnx::pb::ModelProto::decode(onnx.as_slice())?;
    let graph = proto.graph.ok_or_else(|| anyhow::anyhow!("no graph"))?;
    let inits: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let names: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).filter(|n| !inits.contains(n)).collect();
    anyhow::ensure!(names.len() == inputs.len(), "{} graph inputs but {} input files", names.len(), inputs.len());
    let opts = ConvertOptions { input_shapes: names.iter().zip(&inputs).map(|(n, t)| (n.to_string(), t.shape.clone())).collect(), ..Default::default() };
    let conv = convert_bytes(&onnx, &opts)?;
    let model = Model::from_vec(&conv.bytes).map_err(|e| anyhow::anyhow!("load: {e}"))?;
    let got = run_model(&model, &inputs)?;
    anyhow::ensure!(got.len() == expected.len(), "{} outputs, expected {}", got.len(), expected.len());
    for (k, (g, w)) in got.iter().zip(&expected).enumerate() {
        let (rtol, atol) = if w.data.dtype() == DType::F32 { (RTOL, ATOL) } else { (0.0, 0.0) };
        allclose(g, w, rtol, atol).map_err(|e| anyhow::anyhow!("output {k}: {e}"))?;
    }
    Ok(())
}

fn read_manifest() -> BTreeSet<String> {
    std::fs::read_to_string(manifest_path())
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn onnx_backend_tests() {
    let data = data_dir();
    assert!(
        SUITES.iter().all(|s| data.join(s).is_dir()),
        "ONNX backend test data missing in {}: run `bash scripts/fetch-onnx-tests.sh` first (CI does)",
        data.display()
    );
    let mut tests: Vec<(String, PathBuf)> = Vec::new();
    for s in SUITES {
        for e in std::fs::read_dir(data.join(s)).unwrap().filter_map(|e| e.ok()) {
            if e.path().join("model.onnx").is_file() && e.path().join("test_data_set_0").is_dir() {
                tests.push((format!("{s}/{}", e.file_name().to_string_lossy()), e.path()));
            }
        }
    }
    tests.sort();
    // Converter or runtime panics are failures of that test, not of the whole run; silence the
    // default hook's backtraces meanwhile (this file has a single test, so no one else's hook).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut passed = BTreeSet::new();
    let mut failed = Vec::new();
    for (name, dir) in &tests {
        match std::panic::catch_unwind(|| run_one(dir)) {
            Ok(Ok(())) => {
                passed.insert(name.clone());
            }
            Ok(Err(e)) => failed.push((name.clone(), format!("{e:#}"))),
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                failed.push((name.clone(), format!("PANIC: {}", msg.unwrap_or_default())));
            }
        }
    }
    std::panic::set_hook(hook);
    println!("ONNX backend tests: {} of {} pass", passed.len(), tests.len());
    // SPRIG_ONNX_VERBOSE=1 lists every failure with its reason.
    let verbose = std::env::var("SPRIG_ONNX_VERBOSE").as_deref() == Ok("1");
    for (name, why) in failed.iter().filter(|_| verbose) {
        println!("  fail {name}: {}", why.lines().next().unwrap_or(""));
    }

    if std::env::var("SPRIG_UPDATE_MANIFEST").as_deref() == Ok("1") {
        let mut text = String::from(
            "# ONNX backend tests (onnx 1.22.0) expected to pass; see tests/tests/onnx_node.rs.\n\
             # Regenerate with: SPRIG_UPDATE_MANIFEST=1 cargo test -p sprig-tests --test onnx_node\n",
        );
        for p in &passed {
            text.push_str(p);
            text.push('\n');
        }
        std::fs::write(manifest_path(), text).unwrap();
        println!("manifest rewritten with {} tests", passed.len());
        return;
    }
    let manifest = read_manifest();
    let new: Vec<&String> = passed.difference(&manifest).collect();
    if !new.is_empty() {
        println!("{} passing tests are not in the manifest (add them with SPRIG_UPDATE_MANIFEST=1):", new.len());
        for n in &new {
            println!("  new pass {n}");
        }
    }
    let regressions: Vec<String> = manifest
        .iter()
        .filter(|m| !passed.contains(*m))
        .map(|m| {
            let why = failed.iter().find(|(n, _)| n == m).map(|(_, w)| w.as_str()).unwrap_or("test not found in the data");
            format!("{m}: {why}")
        })
        .collect();
    assert!(regressions.is_empty(), "{} manifest tests fail:\n{}", regressions.len(), regressions.join("\n"));
}
