//! Real PyTorch exports (torch 2.15, `scripts/export-torch.py`, checked in under
//! `tests/models/torch/`): a MobileNetV2-like CNN and a 2-layer transformer encoder, each through
//! the legacy TorchScript exporter and the dynamo exporter, some with symbolic axes; and a real
//! PaddlePaddle export (paddle 3.3 + paddle2onnx 2.1, `scripts/export-paddle.py`, in
//! `tests/models/paddle/`), also with every weight moved into a Constant node. Each is
//! converted with the converter library as `sprig convert` does (with `--input-shape` where the
//! export has symbolic axes), run by the sprig runtime, and compared with two independent
//! references: the outputs torch itself computed (`NAME.output_K.npy`) and tract on the ONNX file.
//! A dynamic export is also converted and checked against tract at the other shapes
//! `models.txt` lists.
//!
//! Tolerances (f32, different summation orders, BN folding, fused activations):
//! - vs torch: per element `|sprig - torch| <= 1e-4 + 1e-3 * |torch|` (ONNX's backend rtol), and
//!   `max|sprig - torch| / max|torch| <= 1e-4`;
//! - vs tract: `max|sprig - tract| / max|tract| <= 1e-4` (as `sprig convert --verify`).
use sprig_runtime::Model;
use sprig_tests::{allclose, max_rel, random_inputs, run_model};
use sprig_tools::convert::{convert_file, ConvertOptions};
use sprig_tools::tensor::OwnedTensor;
use std::path::{Path, PathBuf};

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-4;
const MAX_REL: f64 = 1e-4;

fn models(framework: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(framework)
}

/// One line of models.txt: the export's name, the input shapes of the framework's reference
/// inputs (empty for a static export), and further shape sets the export is valid for.
struct Export {
    dir: PathBuf,
    name: String,
    reference_shapes: Vec<(String, Vec<usize>)>,
    other_shapes: Vec<Vec<(String, Vec<usize>)>>,
}

fn parse_shape(s: &str) -> (String, Vec<usize>) {
    let (name, dims) = s.split_once('=').unwrap_or_else(|| panic!("models.txt: '{s}' is not NAME=D0,D1,..."));
    (name.to_string(), dims.split(',').map(|d| d.parse().unwrap_or_else(|_| panic!("models.txt: bad dimension in '{s}'"))).collect())
}

impl Export {
    fn onnx(&self) -> PathBuf {
        self.dir.join(format!("{}.onnx", self.name))
    }
}

fn exports_of(framework: &str) -> Vec<Export> {
    let dir = models(framework);
    let text = std::fs::read_to_string(dir.join("models.txt")).unwrap_or_else(|e| panic!("tests/models/{framework}/models.txt: {e}"));
    text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap().to_string();
            // The exported models have one input each, so every shape word is one shape set.
            let sets: Vec<Vec<(String, Vec<usize>)>> = words.map(|w| vec![parse_shape(w)]).collect();
            let (reference_shapes, other_shapes) = match sets.split_first() {
                Some((r, rest)) => (r.clone(), rest.to_vec()),
                None => (Vec::new(), Vec::new()),
            };
            Export { dir: dir.clone(), name, reference_shapes, other_shapes }
        })
        .collect()
}

/// Every export: the torch ones, then the Paddle ones.
fn exports() -> Vec<Export> {
    let torch = exports_of("torch");
    assert!(torch.len() >= 6, "tests/models/torch/models.txt lists {} exports", torch.len());
    let paddle = exports_of("paddle");
    assert!(paddle.len() >= 2, "tests/models/paddle/models.txt lists {} exports", paddle.len());
    torch.into_iter().chain(paddle).collect()
}

fn read_npys(e: &Export, kind: &str) -> Vec<OwnedTensor> {
    (0..)
        .map(|k| e.dir.join(format!("{}.{kind}_{k}.npy", e.name)))
        .take_while(|p| p.is_file())
        .map(|p| sprig_tools::npy::read(&p, &p.file_name().unwrap().to_string_lossy()).unwrap())
        .collect()
}

fn convert(e: &Export, shapes: &[(String, Vec<usize>)]) -> Model<'static> {
    let opts = ConvertOptions { input_shapes: shapes.to_vec(), ..Default::default() };
    let conv = convert_file(&e.onnx(), &opts).unwrap_or_else(|e2| panic!("{}: conversion failed: {e2:?}", e.name));
    Model::from_vec(&conv.bytes).unwrap_or_else(|e2| panic!("{}: load failed: {e2}", e.name))
}

fn check_tract(what: &str, onnx: &Path, shapes: &[(String, Vec<usize>)], inputs: &[OwnedTensor], got: &[OwnedTensor]) {
    let want = sprig_tools::verify::run_tract(onnx, shapes, inputs).unwrap_or_else(|e| panic!("{what}: tract failed: {e:?}"));
    assert_eq!(got.len(), want.len(), "{what}: output count vs tract");
    for (g, w) in got.iter().zip(&want) {
        let r = max_rel(g, w).unwrap_or_else(|e| panic!("{what}: vs tract: {e}"));
        println!("{what}: vs tract max_rel {r:.2e}");
        assert!(r <= MAX_REL, "{what}: output '{}' vs tract: max_rel {r:.3e} > {MAX_REL:e}", g.name);
    }
}

/// Each export on the framework's own input: sprig matches the framework and tract.
#[test]
fn exports_match_their_framework_and_tract() {
    for e in exports() {
        let model = convert(&e, &e.reference_shapes);
        let mut inputs = read_npys(&e, "input");
        let expected = read_npys(&e, "output");
        assert!(!inputs.is_empty() && !expected.is_empty(), "{}: no .npy reference files", e.name);
        for (k, t) in inputs.iter_mut().enumerate() {
            t.name = model.input(k).unwrap_or_else(|| panic!("{}: the model has fewer inputs than .npy files", e.name)).name.to_string();
        }
        let got = run_model(&model, &inputs).unwrap_or_else(|err| panic!("{}: sprig failed: {err:?}", e.name));
        assert_eq!(got.len(), expected.len(), "{}: output count vs framework", e.name);
        for (g, w) in got.iter().zip(&expected) {
            let r = max_rel(g, w).unwrap_or_else(|err| panic!("{}: vs framework: {err}", e.name));
            println!("{}: vs framework max_rel {r:.2e}", e.name);
            assert!(r <= MAX_REL, "{}: vs framework: max_rel {r:.3e} > {MAX_REL:e}", e.name);
            allclose(g, w, RTOL, ATOL).unwrap_or_else(|err| panic!("{}: vs framework: {err}", e.name));
        }
        check_tract(&e.name, &e.onnx(), &e.reference_shapes, &inputs, &got);
    }
}

/// Dynamic exports at other shapes than the exported one, on random inputs, against tract.
#[test]
fn dynamic_exports_at_other_shapes_match_tract() {
    let mut checked = 0;
    for e in exports() {
        for shapes in &e.other_shapes {
            let what = format!("{} at {shapes:?}", e.name);
            let model = convert(&e, shapes);
            let inputs = random_inputs(&model, 5, 64);
            let got = run_model(&model, &inputs).unwrap_or_else(|err| panic!("{what}: sprig failed: {err:?}"));
            check_tract(&what, &e.onnx(), shapes, &inputs, &got);
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} extra shapes checked");
}

/// Without --input-shape a dynamic export is an error naming the input and the option.
#[test]
fn dynamic_exports_need_input_shape() {
    for e in exports().iter().filter(|e| !e.reference_shapes.is_empty()) {
        let err = convert_file(&e.onnx(), &ConvertOptions::default()).err().unwrap_or_else(|| panic!("{}: converted without --input-shape", e.name));
        let msg = format!("{err:#}");
        let input = &e.reference_shapes[0].0;
        assert!(msg.contains(&format!("graph input '{input}'")) && msg.contains("--input-shape"), "{}: {msg}", e.name);
    }
}

/// The exports are what they claim to be (so the tests above cover both exporters, BN kept in the
/// graph, and symbolic axes), read from the ONNX files themselves.
#[test]
fn exports_cover_both_exporters_and_symbolic_axes() {
    use prost::Message;
    let mut seen = (false, false, false, false);
    for e in exports_of("torch") {
        let bytes = std::fs::read(e.onnx()).unwrap();
        let m = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
        let g = m.graph.unwrap();
        // Both exporters write producer "pytorch"; they name nodes differently ("/conv1/Conv" from
        // TorchScript scopes, "node_Conv_12" from the dynamo exporter).
        assert_eq!(m.producer_name, "pytorch", "{}", e.name);
        let legacy = g.node.iter().any(|n| n.name.starts_with('/'));
        let dynamo = g.node.iter().any(|n| n.name.starts_with("node_"));
        assert!(legacy != dynamo, "{}: cannot tell the exporter from the node names", e.name);
        assert_eq!(dynamo, e.name.contains("dynamo"), "{}: the name and the exporter disagree", e.name);
        seen.0 |= dynamo;
        seen.1 |= legacy;
        seen.2 |= g.node.iter().any(|n| n.op_type == "BatchNormalization");
        let symbolic = g.input.iter().any(|i| {
            let t = i.r#type.as_ref().and_then(|t| t.value.as_ref());
            matches!(t, Some(tract_onnx::pb::type_proto::Value::TensorType(t)) if t.shape.as_ref().is_some_and(|s| s.dim.iter().any(|d| matches!(d.value, Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimParam(_))))))
        });
        seen.3 |= symbolic;
        assert_eq!(symbolic, !e.reference_shapes.is_empty(), "{}: models.txt and the file disagree on symbolic axes", e.name);
    }
    assert_eq!(seen, (true, true, true, true), "(dynamo, legacy, BatchNormalization, symbolic axes) not all covered");
}

/// The Paddle export as paddle2onnx wrote it (initializers) and its Constant-node variant: the
/// second really has no initializers, so the weights reach the converter through Constant nodes.
#[test]
fn paddle_exports_have_initializers_and_constant_nodes() {
    use prost::Message;
    let mut layouts = Vec::new();
    for e in exports_of("paddle") {
        let m = tract_onnx::pb::ModelProto::decode(std::fs::read(e.onnx()).unwrap().as_slice()).unwrap();
        let g = m.graph.unwrap();
        let constants = g.node.iter().filter(|n| n.op_type == "Constant").count();
        layouts.push((g.initializer.len(), constants));
    }
    assert!(layouts.iter().any(|&(i, _)| i > 10), "no Paddle export with initializers: {layouts:?}");
    assert!(layouts.iter().any(|&(i, c)| i == 0 && c > 10), "no Paddle export with weights in Constant nodes: {layouts:?}");
}

/// Paddle writes conv biases as a separate Add and ends layers with Identity: the Adds fold into
/// the convs (so the BatchNormalizations after them fold into the weights too) and the Identities
/// are aliases, so 24 ONNX compute nodes become 8 sprig nodes. Counted on the converted model.
#[test]
fn paddle_conv_bias_adds_and_identities_fold_away() {
    use sprig_runtime::ops::OpKind;
    for e in exports_of("paddle") {
        let model = convert(&e, &e.reference_shapes);
        let ops: Vec<OpKind> = (0..model.num_nodes()).map(|i| model.node(i).unwrap().op).collect();
        let count = |op| ops.iter().filter(|&&o| o == op).count();
        assert_eq!(count(OpKind::Conv), 3, "{}: {ops:?}", e.name);
        // The Linear's MatMul + Add stays (see fuse_bias_add in tools/src/onnx/ops.rs). No BN
        // Mul/Add remains; x * HardSigmoid(x) became one HardSwish (fused into its conv).
        assert!(count(OpKind::Add) <= 1, "{}: {ops:?}", e.name);
        assert_eq!(count(OpKind::Mul) + count(OpKind::HardSigmoid), 0, "{}: {ops:?}", e.name);
        // One Reshape for flatten, one copy for the graph output (an Identity in the export).
        assert!(count(OpKind::Reshape) <= 2, "{}: {ops:?}", e.name);
        assert!(ops.len() <= 8, "{}: {} nodes: {ops:?}", e.name, ops.len());
    }
}

/// The dynamo exporter writes AdaptiveAvgPool2d(1) as ReduceMean over H, W (keepdims): it is
/// lowered to GlobalAveragePool, so channel reduction sees through it and removes as many dead
/// channels as in the legacy export (which writes GlobalAveragePool itself).
#[test]
fn dynamo_spatial_mean_is_a_global_pool() {
    use sprig_runtime::ops::OpKind;
    let torch = exports_of("torch");
    let find = |name: &str| torch.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name} not in models.txt"));
    let count = |m: &Model, op| (0..m.num_nodes()).filter(|&i| m.node(i).unwrap().op == op).count();
    let (dynamo, legacy) = (convert(find("cnn_dynamo"), &[]), convert(find("cnn_legacy"), &[]));
    assert_eq!(count(&dynamo, OpKind::ReduceMean), 0);
    assert_eq!(count(&dynamo, OpKind::GlobalAveragePool), 1);
    let pooled = |m: &Model| {
        let k = (0..m.num_nodes()).find(|&i| m.node(i).unwrap().op == OpKind::GlobalAveragePool).unwrap();
        m.value(m.node(k).unwrap().outputs[0]).unwrap().shape.dims().to_vec()
    };
    assert_eq!(pooled(&dynamo), pooled(&legacy), "channels left after reduction differ");
}
