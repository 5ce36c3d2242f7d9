//! Whole models: each synthesized architecture at small sizes and at 0%, 50% and 90% sparsity is
//! converted, run by sprig and by tract (the independent dense reference) on the same random
//! inputs, and compared.
//!
//! Tolerance: max|sprig - tract| / max(max|tract|, 1e-6) <= 1e-4 over each output (f32 with
//! different summation orders, BN folding and fused activations; errors grow with depth, so the
//! bound is relative to the output's largest magnitude rather than per element).
use sprig_runtime::ops::OpKind;
use sprig_runtime::Model;
use sprig_tests::{max_rel, random_inputs, run_model, run_tract, small_options};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::synth::{build, Arch, SynthOptions};

const MAX_REL: f64 = 1e-4;

/// Converts, runs both engines, compares; returns the loaded model's bytes for structure checks.
fn check(arch: Arch, o: &SynthOptions) -> Vec<u8> {
    let what = format!("{arch:?} sparsity {} block {} paddle {} pytorch {}", o.sparsity, o.block_rows, o.paddle_constants, o.pytorch_shapes);
    let onnx = build(arch, o).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{what}: conversion failed: {e:?}"));
    let model = Model::from_vec(&conv.bytes).unwrap_or_else(|e| panic!("{what}: load failed: {e}"));
    let inputs = random_inputs(&model, 11, o.vocab);
    let got = run_model(&model, &inputs).unwrap_or_else(|e| panic!("{what}: sprig failed: {e:?}"));
    let want = run_tract(&onnx, &inputs).unwrap_or_else(|e| panic!("{what}: tract failed: {e:?}"));
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (g, w) in got.iter().zip(&want) {
        let r = max_rel(g, w).unwrap_or_else(|e| panic!("{what}: {e}"));
        println!("{what}: output '{}' max_rel {r:.3e}", g.name);
        assert!(r <= MAX_REL, "{what}: output '{}' max_rel {r:.3e} > {MAX_REL:e}", g.name);
    }
    conv.bytes
}

fn count_ops(bytes: &[u8], op: OpKind) -> usize {
    let m = Model::from_vec(bytes).unwrap();
    (0..m.num_nodes()).filter(|&i| m.node(i).unwrap().op == op).count()
}

/// No BatchNormalization survives as Mul/Add: the only Adds are the residual ones.
fn assert_bn_folded(bytes: &[u8], residual_adds: usize) {
    assert_eq!(count_ops(bytes, OpKind::Mul), 0, "a Mul remains (unfolded BatchNormalization?)");
    assert_eq!(count_ops(bytes, OpKind::Add), residual_adds, "unexpected Add count (unfolded BatchNormalization?)");
    assert!(count_ops(bytes, OpKind::Conv) > 0);
}

fn conv_net(arch: Arch, sparsity: f32, block_rows: usize, residual_adds: usize) {
    let bytes = check(arch, &small_options(arch, sparsity, block_rows));
    assert_bn_folded(&bytes, residual_adds);
}

// MobileNetV1: no residuals; V2: 10 residual Adds; ResNet-18: 8.
#[test]
fn mobilenet_v1_dense() {
    conv_net(Arch::MobileNetV1, 0.0, 1, 0);
}
#[test]
fn mobilenet_v1_50_4x1() {
    conv_net(Arch::MobileNetV1, 0.5, 4, 0);
}
#[test]
fn mobilenet_v1_90_unstructured() {
    conv_net(Arch::MobileNetV1, 0.9, 1, 0);
}
#[test]
fn mobilenet_v1_90_4x1() {
    conv_net(Arch::MobileNetV1, 0.9, 4, 0);
}
#[test]
fn mobilenet_v2_dense() {
    conv_net(Arch::MobileNetV2, 0.0, 1, 10);
}
#[test]
fn mobilenet_v2_50_4x1() {
    conv_net(Arch::MobileNetV2, 0.5, 4, 10);
}
#[test]
fn mobilenet_v2_90_4x1() {
    conv_net(Arch::MobileNetV2, 0.9, 4, 10);
}
#[test]
fn resnet18_dense() {
    conv_net(Arch::ResNet18, 0.0, 1, 8);
}
#[test]
fn resnet18_50_4x1() {
    conv_net(Arch::ResNet18, 0.5, 4, 8);
}
#[test]
fn resnet18_90_unstructured() {
    conv_net(Arch::ResNet18, 0.9, 1, 8);
}
#[test]
fn bert_dense() {
    check(Arch::Bert, &small_options(Arch::Bert, 0.0, 1));
}
#[test]
fn bert_50_4x1() {
    check(Arch::Bert, &small_options(Arch::Bert, 0.5, 4));
}
#[test]
fn bert_90_unstructured() {
    check(Arch::Bert, &small_options(Arch::Bert, 0.9, 1));
}

/// Paddle-style constants and PyTorch-style shape subgraphs must fold away completely: the
/// converted models hold no shape-computing ops.
#[test]
fn export_styles_fold() {
    for arch in Arch::ALL {
        let o = SynthOptions { paddle_constants: true, pytorch_shapes: true, ..small_options(arch, 0.5, 4) };
        let bytes = check(arch, &o);
        for op in [OpKind::Concat, OpKind::Gather, OpKind::Cast] {
            let n = count_ops(&bytes, op);
            // BERT keeps the data-dependent word-embedding Gather and the Cast of the mask input;
            // the position-embedding Gather has constant indices and folds.
            let allowed = usize::from(arch == Arch::Bert && matches!(op, OpKind::Gather | OpKind::Cast));
            assert!(n <= allowed, "{arch:?}: {n} {op:?} nodes remain after folding");
        }
    }
}

#[test]
fn bert_decomposed_layernorm() {
    let o = SynthOptions { decomposed_layernorm: true, ..small_options(Arch::Bert, 0.5, 1) };
    check(Arch::Bert, &o);
}

/// The real MobileNetV1 size (224x224, width 1.0, 1000 classes) at 90% 4x1.
#[test]
fn mobilenet_v1_full_size() {
    let o = SynthOptions { sparsity: 0.9, block_rows: 4, seed: 3, ..SynthOptions::default() };
    let bytes = check(Arch::MobileNetV1, &o);
    assert_bn_folded(&bytes, 0);
}
