//! Small ONNX models built in the test, converted, checked for structure in the report, and run
//! with the sprig runtime against tract.
mod convert_common;
use convert_common::*;
use sprig_tools::convert::{convert_bytes, ConvertOptions};

fn opts() -> ConvertOptions {
    ConvertOptions::default()
}

fn has_note(c: &sprig_tools::convert::Conversion, text: &str) -> bool {
    c.report.notes.iter().any(|n| n.contains(text))
}

/// Conv → BatchNormalization → Relu becomes one Conv with the BN folded and the Relu fused.
#[test]
fn conv_bn_relu_folds_into_one_conv() {
    let w = rand_vec(4 * 3 * 3 * 3, 1);
    let b = rand_vec(4, 2);
    let bn = |seed| rand_vec(4, seed);
    let var: Vec<f32> = bn(6).iter().map(|x| x.abs() + 0.5).collect();
    let onnx = model(
        vec![
            node("Conv", "conv1", &["x", "w", "b"], &["c"], vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("kernel_shape", &[3, 3])]),
            node("BatchNormalization", "bn1", &["c", "g", "beta", "mean", "var"], &["n"], vec![attr_f("epsilon", 1e-3)]),
            node("Relu", "relu1", &["n"], &["y"], vec![]),
        ],
        vec![
            tensor_f32_raw("w", &[4, 3, 3, 3], &w),
            tensor_f32("b", &[4], &b),
            tensor_f32("g", &[4], &bn(3)),
            tensor_f32("beta", &[4], &bn(4)),
            tensor_f32("mean", &[4], &bn(5)),
            tensor_f32("var", &[4], &var),
        ],
        vec![fixed("x", &[1, 3, 8, 8])],
        vec![out("y")],
        13,
    );
    let x = (rand_vec(3 * 64, 7), vec![1, 3, 8, 8]);
    let Some(c) = check_against_tract(&onnx, &opts(), &[x], "conv_bn_relu") else { return };
    assert_eq!(c.report.layers.len(), 1, "{:#?}", c.report.layers);
    let l = &c.report.layers[0];
    assert_eq!((l.name.as_str(), l.op.as_str()), ("conv1", "Conv"));
    assert_eq!(l.fused, vec!["bn1".to_string(), "relu1".to_string()]);
    assert_eq!(l.output_shapes, vec![vec![1, 4, 8, 8]]);
    assert_eq!(l.params, 4 * 27 + 4);
    assert_eq!(l.flops, 2 * 4 * 64 * 27);
    assert!(has_note(&c, "fused 1 BatchNormalization"), "{:?}", c.report.notes);
    assert!(has_note(&c, "fused 1 activations"), "{:?}", c.report.notes);
}

/// Gemm with transA/transB/alpha/beta and a bias C becomes one MatMul with prepared constants.
#[test]
fn gemm_with_all_attributes() {
    // A is a graph input given transposed ([K, M]); B is a constant given transposed ([N, K]).
    let (m, k, n) = (3, 5, 4);
    let bw = rand_vec(n * k, 11);
    let cb = rand_vec(n, 12);
    let onnx = model(
        vec![node(
            "Gemm",
            "fc",
            &["a", "bw", "cb"],
            &["y"],
            vec![attr_i("transA", 1), attr_i("transB", 1), attr_f("alpha", 0.5), attr_f("beta", 2.0)],
        )],
        vec![tensor_f32("bw", &[n, k], &bw), tensor_f32("cb", &[n], &cb)],
        vec![fixed("a", &[k, m])],
        vec![out("y")],
        11,
    );
    let a = (rand_vec(k * m, 13), vec![k, m]);
    let Some(c) = check_against_tract(&onnx, &opts(), &[a], "gemm") else { return };
    let ops: Vec<&str> = c.report.layers.iter().map(|l| l.op.as_str()).collect();
    // The activation operand needs a runtime transpose; B and C are prepared at conversion.
    assert_eq!(ops, ["Transpose", "MatMul"]);
    let mm = &c.report.layers[1];
    assert_eq!(mm.input_shapes, vec![vec![m, k], vec![k, n], vec![n]]);
    assert_eq!(mm.output_shapes, vec![vec![m, n]]);
}

/// A plain Gemm (the common classifier head) is a single MatMul.
#[test]
fn gemm_plain_is_one_matmul() {
    let onnx = model(
        vec![node("Gemm", "fc", &["a", "w", "b"], &["y"], vec![attr_i("transB", 1)])],
        vec![tensor_f32("w", &[6, 8], &rand_vec(48, 21)), tensor_f32("b", &[6], &rand_vec(6, 22))],
        vec![fixed("a", &[2, 8])],
        vec![out("y")],
        13,
    );
    let Some(c) = check_against_tract(&onnx, &opts(), &[(rand_vec(16, 23), vec![2, 8])], "gemm_plain") else { return };
    assert_eq!(c.report.layers.len(), 1);
    assert_eq!(c.report.layers[0].op, "MatMul");
    assert_eq!(c.report.layers[0].flops, 2 * 2 * 6 * 8);
}

/// Shape → Gather → Unsqueeze → Concat → Reshape (PyTorch's flatten export) folds entirely.
#[test]
fn shape_subgraph_folds_to_a_reshape() {
    let onnx = model(
        vec![
            node("Shape", "shape", &["x"], &["s"], vec![]),
            node("Constant", "zero", &[], &["i0"], vec![attr_t("value", tensor_i64("", &[], &[0]))]),
            node("Gather", "gather", &["s", "i0"], &["n"], vec![attr_i("axis", 0)]),
            node("Unsqueeze", "unsq", &["n", "ax"], &["n1"], vec![]),
            node("Concat", "cat", &["n1", "minus1"], &["shape"], vec![attr_i("axis", 0)]),
            node("Reshape", "reshape", &["x", "shape"], &["y"], vec![]),
        ],
        vec![tensor_i64("ax", &[1], &[0]), tensor_i64("minus1", &[1], &[-1])],
        vec![fixed("x", &[2, 3, 4])],
        vec![out("y")],
        13,
    );
    let x = (rand_vec(24, 31), vec![2, 3, 4]);
    let Some(c) = check_against_tract(&onnx, &opts(), &[x], "shape_subgraph") else { return };
    assert_eq!(c.report.layers.len(), 1, "{:#?}", c.report.layers);
    assert_eq!(c.report.layers[0].op, "Reshape");
    assert_eq!(c.report.layers[0].name, "reshape");
    assert_eq!(c.report.layers[0].output_shapes, vec![vec![2, 12]]);
    assert!(has_note(&c, "folded 5 constant nodes"), "{:?}", c.report.notes);
}

/// Paddle-style export: weights come from Constant nodes instead of initializers.
#[test]
fn constant_node_weights() {
    let w = rand_vec(36, 41); // [6, 2, 1, 3]
    let onnx = model(
        vec![
            node("Constant", "w_const", &[], &["w"], vec![attr_t("value", tensor_f32_raw("", &[6, 2, 1, 3], &w))]),
            node("Constant", "b_const", &[], &["b"], vec![attr_t("value", tensor_f32("", &[6], &rand_vec(6, 42)))]),
            node("Conv", "conv", &["x", "w", "b"], &["c"], vec![attr_i("group", 2), attr_ints("strides", &[1, 2])]),
            node("Clip", "relu6", &["c", "lo", "hi"], &["y"], vec![]),
        ],
        vec![tensor_f32("lo", &[], &[0.0]), tensor_f32("hi", &[], &[0.5])],
        vec![fixed("x", &[1, 4, 5, 9])],
        vec![out("y")],
        13,
    );
    let x = (rand_vec(4 * 45, 43), vec![1, 4, 5, 9]);
    let Some(c) = check_against_tract(&onnx, &opts(), &[x], "constant_node_weights") else { return };
    assert_eq!(c.report.layers.len(), 1);
    assert_eq!(c.report.layers[0].fused, vec!["relu6".to_string()]);
    assert_eq!(c.report.layers[0].output_shapes, vec![vec![1, 6, 5, 4]]);
    assert!(has_note(&c, "folded 2 constant nodes"), "{:?}", c.report.notes);
}

fn symbolic_batch_model() -> Vec<u8> {
    model(
        vec![node("Conv", "conv", &["x", "w"], &["y"], vec![attr_s("auto_pad", "SAME_UPPER"), attr_ints("strides", &[2, 2])])],
        vec![tensor_f32("w", &[2, 3, 3, 3], &rand_vec(54, 51))],
        vec![value_info("x", &[D::S("batch"), D::N(3), D::N(7), D::N(6)])],
        vec![out("y")],
        13,
    )
}

#[test]
fn symbolic_batch_without_input_shape_is_an_error() {
    let err = format!("{:#}", convert_bytes(&symbolic_batch_model(), &opts()).unwrap_err());
    assert!(err.contains("'x'") && err.contains("'batch'") && err.contains("--input-shape"), "{err}");
}

#[test]
fn symbolic_batch_with_input_shape() {
    let o = ConvertOptions { input_shapes: vec![("x".into(), vec![2, 3, 7, 6])], ..Default::default() };
    let x = (rand_vec(2 * 3 * 42, 52), vec![2, 3, 7, 6]);
    let Some(c) = check_against_tract(&symbolic_batch_model(), &o, &[x], "symbolic_batch") else { return };
    assert_eq!(c.report.layers[0].output_shapes, vec![vec![2, 2, 4, 3]]);
}

/// Weights in an external data file next to the model, and a double initializer (narrowed, noted).
#[test]
fn external_data_and_narrowed_initializers() {
    use tract_onnx::pb::{tensor_proto::DataLocation, tensor_proto::DataType, StringStringEntryProto, TensorProto};
    let dir = std::env::temp_dir().join(format!("sprig_convert_ext_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = rand_vec(12, 81);
    let mut blob = vec![0u8; 16]; // data starts at an offset
    blob.extend(w.iter().flat_map(|x| x.to_le_bytes()));
    std::fs::write(dir.join("weights.bin"), &blob).unwrap();
    let kv = |k: &str, v: &str| StringStringEntryProto { key: k.into(), value: v.into() };
    let ext = |loc: &str| TensorProto {
        name: "w".into(),
        dims: vec![3, 4],
        data_type: DataType::Float as i32,
        data_location: Some(DataLocation::External as i32),
        external_data: vec![kv("location", loc), kv("offset", "16"), kv("length", "48")],
        ..Default::default()
    };
    let bias = TensorProto { name: "b".into(), dims: vec![4], data_type: DataType::Double as i32, double_data: vec![0.5, -1.0, 2.0, 0.25], ..Default::default() };
    let build = |loc: &str| {
        model(vec![node("MatMul", "mm", &["x", "w"], &["t"], vec![]), node("Add", "add", &["t", "b"], &["y"], vec![])], vec![ext(loc), bias.clone()], vec![fixed("x", &[2, 3])], vec![out("y")], 13)
    };
    let path = dir.join("model.onnx");
    std::fs::write(&path, build("weights.bin")).unwrap();
    let c = sprig_tools::convert::convert_file(&path, &opts()).expect("converts with external data");
    assert!(has_note(&c, "DOUBLE tensors as f32 (narrowed)"), "{:?}", c.report.notes);
    // Reference by hand: y = x · w + b.
    let x = rand_vec(6, 82);
    let b = [0.5f32, -1.0, 2.0, 0.25];
    let (xr, wr) = (&x, &w);
    let want: Vec<f32> = (0..2).flat_map(|i| (0..4).map(move |j| (0..3).map(|k| xr[i * 3 + k] * wr[k * 4 + j]).sum::<f32>() + b[j])).collect();
    assert_close(&run_sprig(&c.bytes, &[(x.clone(), vec![2, 3])]), &[want], 1e-5);
    // Without a folder (bytes only) and outside the folder, external data is an error.
    let e = format!("{:#}", convert_bytes(&build("weights.bin"), &opts()).unwrap_err());
    assert!(e.contains("initializer 'w'") && e.contains("model's folder"), "{e}");
    std::fs::write(&path, build("../escape.bin")).unwrap();
    std::fs::write(dir.join("../escape.bin"), &blob).ok();
    let e = format!("{:#}", sprig_tools::convert::convert_file(&path, &opts()).unwrap_err());
    assert!(e.contains("outside the model's folder") || e.contains("external data file"), "{e}");
    std::fs::remove_file(dir.join("../escape.bin")).ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// ConvTranspose with an output_shape beyond the full result (extended at the end, as in the ONNX
/// backend test `convtranspose_output_shape`) against tract. (tract does not implement an
/// output_shape smaller than the full result, which derives pads instead.)
#[test]
fn conv_transpose_output_shape() {
    let onnx = model(
        vec![node("ConvTranspose", "up", &["x", "w"], &["y"], vec![attr_ints("strides", &[2, 2]), attr_ints("output_shape", &[10, 9])])],
        vec![tensor_f32("w", &[2, 3, 3, 3], &rand_vec(54, 91))],
        vec![fixed("x", &[1, 2, 4, 4])],
        vec![out("y")],
        13,
    );
    let Some(c) = check_against_tract(&onnx, &opts(), &[(rand_vec(32, 92), vec![1, 2, 4, 4])], "deconv_output_shape") else { return };
    assert_eq!(c.report.layers[0].output_shapes, [vec![1, 3, 10, 9]]);
}
