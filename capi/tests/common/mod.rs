//! Shared by the C API tests: a tiny converted conv net, a deterministic input, and its reference
//! outputs from tract (independent of sprig) and from the Rust runtime API.
#![allow(dead_code)]
use sprig_tools::synth::{self, Arch, SynthOptions};
use sprig_tools::tensor::{OwnedData, OwnedTensor};
use std::path::{Path, PathBuf};

pub struct Tiny {
    pub onnx: Vec<u8>,
    pub sprig: Vec<u8>,
    pub input_shape: Vec<usize>,
    pub input: Vec<f32>,
    /// tract on the ONNX model.
    pub tract: Vec<f32>,
    /// sprig's Rust API (`Session::run`) on the converted model.
    pub rust: Vec<f32>,
}

/// MobileNetV1-like at 32x32, width 0.125, 10 classes, half the pointwise weights pruned.
pub fn tiny(dir: &Path) -> Tiny {
    let opts = SynthOptions { resolution: 32, width: 0.125, classes: 10, sparsity: 0.5, seed: 7, ..Default::default() };
    let onnx = synth::build(Arch::MobileNetV1, &opts).expect("synth");
    let sprig = sprig_tools::convert::convert_bytes(&onnx, &Default::default()).expect("convert").bytes;
    let model = sprig_runtime::Model::from_vec(&sprig).expect("load");
    let io = model.input(0).expect("one input");
    let input_shape = io.shape.dims().to_vec();
    let n: usize = input_shape.iter().product();
    // Same formula as nothing else uses: a value the C side receives as an array anyway.
    let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % 251) as f32 / 125.0 - 1.0).collect();
    let inputs = [OwnedTensor { name: io.name.to_string(), shape: input_shape.clone(), data: OwnedData::F32(input.clone()) }];
    let onnx_path = dir.join("tiny.onnx");
    std::fs::write(&onnx_path, &onnx).unwrap();
    let tract = f32s(&sprig_tools::verify::run_tract(&onnx_path, &[], &inputs).expect("tract")[0]);
    let rust = f32s(&sprig_tools::verify::run_sprig(&model, &inputs).expect("sprig")[0]);
    Tiny { onnx, sprig, input_shape, input, tract, rust }
}

pub fn f32s(t: &OwnedTensor) -> Vec<f32> {
    match &t.data {
        OwnedData::F32(v) => v.clone(),
        other => panic!("expected f32 output, got {:?}", other.dtype()),
    }
}

/// Largest |a - b| relative to max |b| (as `sprig verify` measures).
pub fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// A fresh temp directory under the target dir (removed by the caller).
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = target_dir().join("capi-tests").join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}
