//! Real PyTorch exports (torch 2.15, `scripts/export-torch.py`, checked in under
//! `tests/models/torch/`): a MobileNetV2-like CNN and a 2-layer transformer encoder, each through
//! the legacy TorchScript exporter and the dynamo exporter, some with symbolic axes. Each is
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

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/torch")
}

/// One line of models.txt: the export's name, the input shapes of torch's reference inputs
/// (empty for a static export), and further shape sets the export is valid for.
struct Export {
    name: String,
    reference_shapes: Vec<(String, Vec<usize>)>,
    other_shapes: Vec<Vec<(String, Vec<usize>)>>,
}

fn parse_shape(s: &str) -> (String, Vec<usize>) {
    let (name, dims) = s.split_once('=').unwrap_or_else(|| panic!("models.txt: '{s}' is not NAME=D0,D1,..."));
    (name.to_string(), dims.split(',').map(|d| d.parse().unwrap_or_else(|_| panic!("models.txt: bad dimension in '{s}'"))).collect())
}

fn exports() -> Vec<Export> {
    let text = std::fs::read_to_string(dir().join("models.txt")).expect("tests/models/torch/models.txt");
    let list: Vec<Export> = text
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
            Export { name, reference_shapes, other_shapes }
        })
        .collect();
    assert!(list.len() >= 6, "models.txt lists {} exports", list.len());
    list
}

fn read_npys(name: &str, kind: &str) -> Vec<OwnedTensor> {
    (0..)
        .map(|k| dir().join(format!("{name}.{kind}_{k}.npy")))
        .take_while(|p| p.is_file())
        .map(|p| sprig_tools::npy::read(&p, &p.file_name().unwrap().to_string_lossy()).unwrap())
        .collect()
}

fn convert(e: &Export, shapes: &[(String, Vec<usize>)]) -> Model<'static> {
    let opts = ConvertOptions { input_shapes: shapes.to_vec(), ..Default::default() };
    let conv = convert_file(&dir().join(format!("{}.onnx", e.name)), &opts).unwrap_or_else(|e2| panic!("{}: conversion failed: {e2:?}", e.name));
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

/// Each export on torch's own input: sprig matches torch and tract.
#[test]
fn torch_exports_match_torch_and_tract() {
    for e in exports() {
        let model = convert(&e, &e.reference_shapes);
        let mut inputs = read_npys(&e.name, "input");
        let expected = read_npys(&e.name, "output");
        assert!(!inputs.is_empty() && !expected.is_empty(), "{}: no .npy reference files", e.name);
        for (k, t) in inputs.iter_mut().enumerate() {
            t.name = model.input(k).unwrap_or_else(|| panic!("{}: the model has fewer inputs than .npy files", e.name)).name.to_string();
        }
        let got = run_model(&model, &inputs).unwrap_or_else(|err| panic!("{}: sprig failed: {err:?}", e.name));
        assert_eq!(got.len(), expected.len(), "{}: output count vs torch", e.name);
        for (g, w) in got.iter().zip(&expected) {
            let r = max_rel(g, w).unwrap_or_else(|err| panic!("{}: vs torch: {err}", e.name));
            println!("{}: vs torch max_rel {r:.2e}", e.name);
            assert!(r <= MAX_REL, "{}: vs torch: max_rel {r:.3e} > {MAX_REL:e}", e.name);
            allclose(g, w, RTOL, ATOL).unwrap_or_else(|err| panic!("{}: vs torch: {err}", e.name));
        }
        check_tract(&e.name, &dir().join(format!("{}.onnx", e.name)), &e.reference_shapes, &inputs, &got);
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
            check_tract(&what, &dir().join(format!("{}.onnx", e.name)), shapes, &inputs, &got);
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} extra shapes checked");
}

/// Without --input-shape a dynamic export is an error naming the input and the option.
#[test]
fn dynamic_exports_need_input_shape() {
    for e in exports().iter().filter(|e| !e.reference_shapes.is_empty()) {
        let err = convert_file(&dir().join(format!("{}.onnx", e.name)), &ConvertOptions::default()).err().unwrap_or_else(|| panic!("{}: converted without --input-shape", e.name));
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
    for e in exports() {
        let bytes = std::fs::read(dir().join(format!("{}.onnx", e.name))).unwrap();
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
