//! Runs the no_std example on the host: the embedded model through `classify` (static arena,
//! `include_bytes!` model) against tract on the ONNX model it was converted from.
use sprig_example_nostd::{classify, model, ARENA_SIZE, CLASSES, INPUT_SHAPE};
use sprig_tools::synth::{self, Arch, SynthOptions};
use sprig_tools::tensor::{OwnedData, OwnedTensor};

/// The options `model.sprig` was made with (see `regenerate_model`).
fn opts() -> SynthOptions {
    SynthOptions { resolution: 32, width: 0.0625, classes: CLASSES, sparsity: 0.75, block_rows: 4, seed: 11, ..Default::default() }
}

fn input() -> Vec<f32> {
    (0..INPUT_SHAPE.iter().product::<usize>()).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect()
}

#[test]
fn embedded_model_matches_tract() {
    let m = model().expect("the checked-in model.sprig loads (regenerate it if the format changed: see regenerate_model)");
    assert_eq!(m.arena_size(), ARENA_SIZE, "compile-time arena size from the header");
    assert_eq!(m.input(0).unwrap().shape.dims(), &INPUT_SHAPE);

    let x = input();
    let mut logits = [0f32; CLASSES];
    let best = classify(&x, &mut logits).expect("classify");

    let onnx = synth::build(Arch::MobileNetV1, &opts()).unwrap();
    let dir = std::env::temp_dir().join(format!("sprig-nostd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.onnx");
    std::fs::write(&path, &onnx).unwrap();
    let name = m.input(0).unwrap().name.to_string();
    let inputs = [OwnedTensor { name, shape: INPUT_SHAPE.to_vec(), data: OwnedData::F32(x.clone()) }];
    let reference = sprig_tools::verify::run_tract(&path, &[], &inputs).expect("tract");
    std::fs::remove_dir_all(&dir).ok();
    let OwnedData::F32(want) = &reference[0].data else { panic!("tract output is not f32") };
    let scale = want.iter().fold(1e-6f32, |a, v| a.max(v.abs()));
    let err = logits.iter().zip(want).fold(0f32, |a, (g, w)| a.max((g - w).abs())) / scale;
    assert!(err < 1e-4, "no_std example vs tract: max rel error {err} (model.sprig stale? see regenerate_model)\n{logits:?}\n{want:?}");
    let want_best = (0..CLASSES).fold(0, |b, i| if want[i] > want[b] { i } else { b });
    assert_eq!(best, want_best);

    // The arena is reusable: a second call gives the same logits.
    let mut again = [0f32; CLASSES];
    classify(&x, &mut again).unwrap();
    assert_eq!(logits, again);
}

/// Rewrites `examples/nostd/model.sprig`:
/// `cargo test -p sprig-example-nostd -- --ignored regenerate_model`
#[test]
#[ignore]
fn regenerate_model() {
    let onnx = synth::build(Arch::MobileNetV1, &opts()).unwrap();
    let conv = sprig_tools::convert::convert_bytes(&onnx, &Default::default()).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/model.sprig");
    std::fs::write(path, &conv.bytes).unwrap();
    println!("wrote {path}: {} bytes, arena {} bytes", conv.bytes.len(), conv.report.arena_size);
}
