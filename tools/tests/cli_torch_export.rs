//! A new user's path with a real PyTorch export (tests/models/torch/, from
//! scripts/export-torch.py): `sprig convert` with `--input-shape` and verification against tract
//! (on by default), then `sprig run` on torch's own input; the written output is compared with
//! the output torch computed (`|sprig - torch| <= 1e-4 + 1e-3 * |torch|` per element).
use std::path::{Path, PathBuf};
mod cli_common;
use cli_common::*;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("tests/models/torch")
}


#[test]
fn convert_verify_and_run_a_dynamo_export() {
    let out = std::env::temp_dir().join(format!("sprig-cli-torch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let onnx = models().join("encoder_dynamo_dyn.onnx");
    let model = out.join("encoder.sprig");
    let o = sprig(&["convert", onnx.to_str().unwrap(), "-o", model.to_str().unwrap(), "--input-shape", "input_ids=2,16"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "convert failed:\n{text}");
    assert!(text.contains("verification against tract") && !text.contains("verification skipped"), "no verification:\n{text}");

    let input = models().join("encoder_dynamo_dyn.input_0.npy");
    let o = sprig(&["run", model.to_str().unwrap(), "--input", &format!("input_ids={}", input.display()), "--output-dir", out.to_str().unwrap()]);
    assert!(o.status.success(), "run failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let (shape, got) = read_npy_f32(&out.join("output.npy"));
    let (want_shape, want) = read_npy_f32(&models().join("encoder_dynamo_dyn.output_0.npy"));
    assert_eq!(shape, want_shape);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-4 + 1e-3 * w.abs(), "element {i}: sprig {g}, torch {w}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
