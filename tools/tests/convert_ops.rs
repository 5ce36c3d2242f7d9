//! One small model per lowering family, converted and run against tract. Tests whose runtime op
//! has not landed yet print SKIPPED.
mod convert_common;
use convert_common::*;
use sprig_tools::convert::{Conversion, ConvertOptions};
use tract_onnx::pb::{NodeProto, TensorProto};

/// Input data with its shape.
type Inputs = Vec<(Vec<f32>, Vec<usize>)>;

/// Builds a model with f32 inputs `x0, x1, ...` of the given shapes and output `y`.
fn graph(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, shapes: &[&[usize]], opset: i64) -> (Vec<u8>, Inputs) {
    let inputs = shapes.iter().enumerate().map(|(i, s)| fixed(&format!("x{i}"), s)).collect();
    let data = shapes.iter().enumerate().map(|(i, s)| (rand_vec(s.iter().product(), 100 + i as u64), s.to_vec())).collect();
    (model(nodes, inits, inputs, vec![out("y")], opset), data)
}

fn run(test: &str, nodes: Vec<NodeProto>, inits: Vec<TensorProto>, shapes: &[&[usize]], opset: i64) -> Option<Conversion> {
    let (onnx, data) = graph(nodes, inits, shapes, opset);
    check_against_tract(&onnx, &ConvertOptions::default(), &data, test)
}

fn ops(c: &Conversion) -> Vec<&str> {
    c.report.layers.iter().map(|l| l.op.as_str()).collect()
}

fn bn_params(c: usize, seed: u64) -> Vec<TensorProto> {
    let var: Vec<f32> = rand_vec(c, seed + 3).iter().map(|v| v.abs() + 0.3).collect();
    vec![
        tensor_f32("g", &[c], &rand_vec(c, seed)),
        tensor_f32("beta", &[c], &rand_vec(c, seed + 1)),
        tensor_f32("mean", &[c], &rand_vec(c, seed + 2)),
        tensor_f32("var", &[c], &var),
    ]
}

fn bn(name: &str, x: &str, y: &str) -> NodeProto {
    node("BatchNormalization", name, &[x, "g", "beta", "mean", "var"], &[y], vec![])
}

#[test]
fn batch_norm_without_producer_becomes_mul_add() {
    let Some(c) = run("bn_alone", vec![bn("bn", "x0", "y")], bn_params(3, 1), &[&[2, 3, 4, 5]], 13) else { return };
    assert_eq!(ops(&c), ["Mul", "Add"]);
    assert!(c.report.notes.iter().any(|n| n.contains("lowered 1 BatchNormalization")), "{:?}", c.report.notes);
}

#[test]
fn batch_norm_on_a_shared_conv_output_is_not_folded() {
    let nodes = vec![
        node("Conv", "conv", &["x0", "w"], &["c"], vec![]),
        bn("bn", "c", "n"),
        node("Add", "add", &["n", "c"], &["y"], vec![]),
    ];
    let mut inits = bn_params(3, 5);
    inits.push(tensor_f32("w", &[3, 2, 1, 1], &rand_vec(6, 9)));
    let Some(c) = run("bn_shared", nodes, inits, &[&[1, 2, 3, 3]], 13) else { return };
    assert_eq!(ops(&c), ["Conv", "Mul", "Add", "Add"]);
}

#[test]
fn conv_transpose_with_bn_folded() {
    let nodes = vec![
        node(
            "ConvTranspose",
            "deconv",
            &["x0", "w", "b"],
            &["c"],
            vec![attr_i("group", 2), attr_ints("strides", &[2, 2]), attr_ints("output_padding", &[1, 0]), attr_ints("pads", &[1, 0, 0, 1])],
        ),
        bn("bn", "c", "y"),
    ];
    let mut inits = bn_params(6, 11);
    inits.push(tensor_f32("w", &[4, 3, 3, 2], &rand_vec(72, 12)));
    inits.push(tensor_f32("b", &[6], &rand_vec(6, 13)));
    let Some(c) = run("deconv_bn", nodes, inits, &[&[1, 4, 3, 4]], 13) else { return };
    assert_eq!(ops(&c), ["ConvTranspose"]);
    assert_eq!(c.report.layers[0].fused, ["bn"]);
    assert_eq!(c.report.layers[0].output_shapes, [vec![1, 6, 7, 7]]);
}

#[test]
fn conv_1d_dilated_same_lower() {
    let nodes = vec![node("Conv", "c1d", &["x0", "w"], &["y"], vec![attr_i("group", 1), attr_ints("dilations", &[2]), attr_s("auto_pad", "SAME_LOWER")])];
    let Some(c) = run("conv1d", nodes, vec![tensor_f32("w", &[3, 2, 3], &rand_vec(18, 21))], &[&[2, 2, 11]], 13) else { return };
    assert_eq!(c.report.layers[0].output_shapes, [vec![2, 3, 11]]);
}

#[test]
fn depthwise_conv_bn_hardswish() {
    let nodes = vec![
        node("Conv", "dw", &["x0", "w"], &["c"], vec![attr_i("group", 6), attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[2, 2])]),
        bn("bn", "c", "n"),
        node("HardSwish", "hs", &["n"], &["y"], vec![]),
    ];
    let mut inits = bn_params(6, 31);
    inits.push(tensor_f32("w", &[6, 1, 3, 3], &rand_vec(54, 32)));
    let Some(c) = run("depthwise", nodes, inits, &[&[1, 6, 9, 8]], 14) else { return };
    assert_eq!(ops(&c), ["Conv"]);
    assert_eq!(c.report.layers[0].fused, ["bn", "hs"]);
}

#[test]
fn gemm_bn_folds_into_matmul() {
    let nodes = vec![node("Gemm", "fc", &["x0", "w"], &["f"], vec![attr_i("transB", 1)]), bn("bn", "f", "y")];
    let mut inits = bn_params(5, 41);
    inits.push(tensor_f32("w", &[5, 7], &rand_vec(35, 42)));
    let Some(c) = run("gemm_bn", nodes, inits, &[&[3, 7]], 13) else { return };
    assert_eq!(ops(&c), ["MatMul"]);
    assert_eq!(c.report.layers[0].fused, ["bn"]);
}

#[test]
fn batched_matmul_with_activations_and_constants() {
    let nodes = vec![
        node("MatMul", "mm1", &["x0", "x1"], &["t"], vec![]),
        node("MatMul", "mm2", &["t", "w"], &["y"], vec![]),
    ];
    let Some(c) = run("batched_matmul", nodes, vec![tensor_f32("w", &[5, 2], &rand_vec(10, 51))], &[&[2, 3, 4], &[2, 4, 5]], 13) else { return };
    assert_eq!(c.report.layers[1].output_shapes, [vec![2, 3, 2]]);
}

#[test]
fn decomposed_gelu_is_recognised_and_fused() {
    let nodes = vec![
        node("MatMul", "fc", &["x0", "w"], &["h"], vec![]),
        node("Div", "div", &["h", "sqrt2"], &["d"], vec![]),
        node("Erf", "erf", &["d"], &["e"], vec![]),
        node("Add", "add1", &["e", "one"], &["a"], vec![]),
        node("Mul", "mulx", &["h", "a"], &["m"], vec![]),
        node("Mul", "half", &["m", "c05"], &["y"], vec![]),
    ];
    let inits = vec![
        tensor_f32("w", &[6, 8], &rand_vec(48, 61)),
        tensor_f32("sqrt2", &[], &[std::f32::consts::SQRT_2]),
        tensor_f32("one", &[], &[1.0]),
        tensor_f32("c05", &[], &[0.5]),
    ];
    let Some(c) = run("gelu", nodes, inits, &[&[4, 6]], 13) else { return };
    assert_eq!(ops(&c), ["MatMul"]);
    assert_eq!(c.report.layers[0].fused, ["half", "div", "erf", "add1", "mulx"]);
}

#[test]
fn softmax_axis_semantics_by_opset() {
    for opset in [11, 13] {
        let nodes = vec![node("Softmax", "sm", &["x0"], &["y"], vec![attr_i("axis", 1)]), ];
        run(&format!("softmax{opset}"), nodes, vec![], &[&[2, 3, 4]], opset);
        let nodes = vec![node("LogSoftmax", "lsm", &["x0"], &["y"], vec![])];
        run(&format!("logsoftmax{opset}"), nodes, vec![], &[&[2, 3, 4]], opset);
    }
}

#[test]
fn pools() {
    let mp = node("MaxPool", "mp", &["x0"], &["y"], vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2]), attr_i("ceil_mode", 1)]);
    if let Some(c) = run("maxpool_ceil", vec![mp], vec![], &[&[1, 2, 8, 7]], 13) {
        assert_eq!(c.report.layers[0].output_shapes, [vec![1, 2, 4, 3]]);
    }
    let ap = node(
        "AveragePool",
        "ap",
        &["x0"],
        &["y"],
        vec![attr_ints("kernel_shape", &[2, 3]), attr_ints("pads", &[1, 1, 0, 1]), attr_i("count_include_pad", 1)],
    );
    run("avgpool_pad", vec![ap], vec![], &[&[1, 3, 5, 6]], 13);
    let ap1 = node("AveragePool", "ap1", &["x0"], &["y"], vec![attr_ints("kernel_shape", &[3]), attr_s("auto_pad", "SAME_UPPER")]);
    run("avgpool_1d", vec![ap1], vec![], &[&[2, 3, 7]], 13);
    let g = vec![node("GlobalAveragePool", "gap", &["x0"], &["p"], vec![]), node("Flatten", "fl", &["p"], &["y"], vec![])];
    if let Some(c) = run("gap_flatten", g, vec![], &[&[2, 3, 4, 5]], 13) {
        assert_eq!(c.report.layers.last().unwrap().output_shapes, [vec![2, 3]]);
    }
    run("gmp", vec![node("GlobalMaxPool", "gmp", &["x0"], &["y"], vec![])], vec![], &[&[2, 3, 4, 5]], 13);
}

#[test]
fn resize_and_upsample() {
    let nearest = node("Resize", "rs", &["x0", "", "sc"], &["y"], vec![attr_s("mode", "nearest")]);
    run("resize_nearest", vec![nearest], vec![tensor_f32("sc", &[4], &[1.0, 1.0, 2.0, 3.0])], &[&[1, 2, 3, 4]], 13);
    let linear = node("Resize", "rs", &["x0", "", "", "sz"], &["y"], vec![attr_s("mode", "linear"), attr_s("coordinate_transformation_mode", "align_corners")]);
    if let Some(c) = run("resize_linear", vec![linear], vec![tensor_i64("sz", &[4], &[1, 2, 5, 7])], &[&[1, 2, 3, 4]], 13) {
        assert_eq!(c.report.layers[0].output_shapes, [vec![1, 2, 5, 7]]);
    }
}

/// tract does not implement Upsample: the reference is computed by hand (nearest, 2x, floor).
#[test]
fn upsample_nearest_against_hand_computed() {
    let up = node("Upsample", "up", &["x0", "sc"], &["y"], vec![attr_s("mode", "nearest")]);
    let (onnx, data) = graph(vec![up], vec![tensor_f32("sc", &[4], &[1.0, 1.0, 2.0, 3.0])], &[&[1, 2, 3, 4]], 9);
    let Some(c) = convert_or_skip(&onnx, &ConvertOptions::default(), "upsample9") else { return };
    assert_eq!(ops(&c), ["Resize"]);
    let x = &data[0].0;
    let mut want = Vec::new();
    for ch in 0..2 {
        for i in 0..6 {
            for j in 0..12 {
                want.push(x[ch * 12 + (i / 2) * 4 + j / 3]);
            }
        }
    }
    assert_close(&run_sprig(&c.bytes, &data), &[want], 1e-6);
}

#[test]
fn split_slice_concat_pad_transpose() {
    let nodes = vec![
        node("Split", "sp", &["x0", "sizes"], &["a", "b"], vec![attr_i("axis", 1)]),
        node("Slice", "sl", &["a", "st", "en", "ax", "steps"], &["s"], vec![]),
        node("Concat", "cat", &["s", "b"], &["c"], vec![attr_i("axis", 1)]),
        node("Pad", "pad", &["c", "pads"], &["p"], vec![attr_s("mode", "reflect")]),
        node("Transpose", "tr", &["p"], &["y"], vec![attr_ints("perm", &[0, 2, 1])]),
    ];
    let inits = vec![
        tensor_i64("sizes", &[2], &[4, 2]),
        tensor_i64("st", &[1], &[-1]),
        tensor_i64("en", &[1], &[-100]),
        tensor_i64("ax", &[1], &[1]),
        tensor_i64("steps", &[1], &[-2]),
        tensor_i64("pads", &[6], &[0, 0, 1, 0, 0, 2]),
    ];
    if let Some(c) = run("split_slice", nodes, inits, &[&[2, 6, 5]], 13) {
        assert_eq!(c.report.layers.last().unwrap().output_shapes, [vec![2, 8, 4]]);
    }
    // Opset 9: Slice and Pad read attributes.
    let nodes = vec![
        node("Slice", "sl", &["x0"], &["s"], vec![attr_ints("starts", &[1, 0]), attr_ints("ends", &[3, 1000]), attr_ints("axes", &[1, 2])]),
        node("Pad", "pad", &["s"], &["y"], vec![attr_ints("pads", &[0, 1, 0, 0, 0, 1]), attr_f("value", 2.5)]),
    ];
    run("slice_pad_opset9", nodes, vec![], &[&[2, 4, 3]], 9);
}

#[test]
fn reductions_and_argmax() {
    run("reduce_mean13", vec![node("ReduceMean", "r", &["x0"], &["y"], vec![attr_ints("axes", &[-1, 1]), attr_i("keepdims", 0)])], vec![], &[&[2, 3, 4]], 13);
    run("reduce_sum13", vec![node("ReduceSum", "r", &["x0", "ax"], &["y"], vec![])], vec![tensor_i64("ax", &[1], &[2])], &[&[2, 3, 4]], 13);
    run("reduce_max18", vec![node("ReduceMax", "r", &["x0", "ax"], &["y"], vec![])], vec![tensor_i64("ax", &[1], &[0])], &[&[2, 3, 4]], 18);
    let nodes = vec![
        node("ArgMax", "am", &["x0"], &["i"], vec![attr_i("axis", -1)]),
        node("Cast", "c", &["i"], &["y"], vec![attr_i("to", 1)]),
    ];
    run("argmax", nodes, vec![], &[&[2, 3, 4]], 13);
}

#[test]
fn variadic_and_binary_fusion() {
    let nodes = vec![node("Sum", "s", &["x0", "x1", "x2"], &["t"], vec![]), node("Max", "m", &["t", "x1", "x0"], &["u"], vec![]), node("Relu", "r", &["u"], &["y"], vec![])];
    if let Some(c) = run("variadic", nodes, vec![], &[&[2, 3], &[3], &[2, 1]], 13) {
        // Max has no fused activation: the Relu stays.
        assert_eq!(ops(&c), ["Add", "Add", "Max", "Max", "Relu"]);
    }
    let nodes = vec![node("Add", "add", &["x0", "x1"], &["t"], vec![]), node("Relu", "r", &["t"], &["y"], vec![])];
    if let Some(c) = run("add_relu", nodes, vec![], &[&[2, 3, 4], &[4]], 13) {
        assert_eq!(ops(&c), ["Add"]);
        assert_eq!(c.report.layers[0].fused, ["r"]);
    }
}

#[test]
fn layer_norm_and_unaries() {
    let nodes = vec![node("LayerNormalization", "ln", &["x0", "s", "b"], &["y"], vec![attr_i("axis", -1)])];
    run("layernorm", nodes, vec![tensor_f32("s", &[6], &rand_vec(6, 71)), tensor_f32("b", &[6], &rand_vec(6, 72))], &[&[2, 3, 6]], 17);
    let nodes = vec![
        node("Abs", "abs", &["x0"], &["a"], vec![]),
        node("Sqrt", "sqrt", &["a"], &["s"], vec![]),
        node("Exp", "exp", &["s"], &["e"], vec![]),
        node("Log", "log", &["e"], &["l"], vec![]),
        node("Neg", "neg", &["l"], &["n"], vec![]),
        node("Tanh", "tanh", &["n"], &["t"], vec![]),
        node("Sigmoid", "sig", &["t"], &["g"], vec![]),
        node("LeakyRelu", "lr", &["g"], &["k"], vec![attr_f("alpha", 0.2)]),
        node("HardSigmoid", "hs", &["k"], &["h"], vec![]),
        node("Reciprocal", "rec", &["h"], &["y"], vec![]),
    ];
    run("unaries", nodes, vec![], &[&[3, 5]], 13);
    let nodes = vec![node("PRelu", "pr", &["x0", "slope"], &["y"], vec![])];
    run("prelu", nodes, vec![tensor_f32("slope", &[3, 1, 1], &[0.1, 0.2, 0.3])], &[&[1, 3, 2, 2]], 13);
}

#[test]
fn where_equal_expand_tile() {
    let nodes = vec![
        node("Greater", "gt", &["x0", "zero"], &["m"], vec![]),
        node("Where", "wh", &["m", "x0", "x1"], &["w"], vec![]),
        node("Expand", "ex", &["w", "shape"], &["e"], vec![]),
        node("Tile", "ti", &["e", "reps"], &["y"], vec![]),
    ];
    let inits = vec![tensor_f32("zero", &[], &[0.0]), tensor_i64("shape", &[3], &[2, 1, 4]), tensor_i64("reps", &[3], &[1, 2, 1])];
    if let Some(c) = run("where_expand_tile", nodes, inits, &[&[3, 1], &[1, 4]], 13) {
        assert_eq!(c.report.layers.last().unwrap().output_shapes, [vec![2, 6, 4]]);
    }
}

#[test]
fn constant_of_shape_range_and_folding() {
    // y = x + ConstantOfShape(Shape(x)) * Range(0, 4) : everything but the Add folds.
    let nodes = vec![
        node("Shape", "sh", &["x0"], &["s"], vec![]),
        node("ConstantOfShape", "cos", &["s"], &["ones"], vec![attr_t("value", tensor_f32("", &[1], &[2.0]))]),
        node("Range", "rg", &["r0", "r1", "r2"], &["r"], vec![]),
        node("Mul", "mul", &["ones", "r"], &["k"], vec![]),
        node("Add", "add", &["x0", "k"], &["y"], vec![]),
    ];
    let inits = vec![tensor_f32("r0", &[], &[0.0]), tensor_f32("r1", &[], &[4.0]), tensor_f32("r2", &[], &[1.0])];
    if let Some(c) = run("constant_of_shape", nodes, inits, &[&[3, 4]], 13) {
        assert_eq!(ops(&c), ["Add"]);
        assert!(c.report.notes.iter().any(|n| n.contains("folded 4 constant nodes")), "{:?}", c.report.notes);
    }
}
