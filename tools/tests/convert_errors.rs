//! Bad input to the converter: each is a clear error naming what is at fault, never a panic.
mod convert_common;
use convert_common::*;
use sprig_tools::convert::{convert_bytes, convert_file, ConvertOptions};

fn err_of(onnx: &[u8], opts: &ConvertOptions) -> String {
    match convert_bytes(onnx, opts) {
        Ok(_) => panic!("conversion unexpectedly succeeded"),
        Err(e) => format!("{e:#}"),
    }
}

fn relu_model(opset: i64) -> Vec<u8> {
    model(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2, 3])], vec![out("y")], opset)
}

#[test]
fn malformed_protobuf() {
    let e = err_of(b"\x0a\xff\xff\xff\xff\x0f garbage", &ConvertOptions::default());
    assert!(e.contains("not a valid ONNX model"), "{e}");
}

#[test]
fn truncated_model_is_an_error() {
    let m = relu_model(13);
    for cut in [1, m.len() / 2, m.len() - 1] {
        let _ = convert_bytes(&m[..cut], &ConvertOptions::default()); // must not panic
    }
}

#[test]
fn opset_out_of_range() {
    for v in [5, 24] {
        let e = err_of(&relu_model(v), &ConvertOptions::default());
        assert!(e.contains(&format!("opset {v} is not supported")) && e.contains("6 to 23"), "{e}");
    }
}

#[test]
fn unknown_op_lists_the_supported_set() {
    let onnx = model(vec![node("FancyOp", "f1", &["x"], &["y"], vec![])], vec![], vec![fixed("x", &[2])], vec![out("y")], 13);
    let e = err_of(&onnx, &ConvertOptions::default());
    assert!(e.contains("node 'f1' (FancyOp)") && e.contains("op FancyOp is not supported"), "{e}");
    assert!(e.contains("Conv") && e.contains("Resize") && e.contains("Gemm"), "{e}");
}

#[test]
fn three_d_convolution() {
    let onnx = model(
        vec![node("Conv", "Conv_12", &["x", "w"], &["y"], vec![])],
        vec![tensor_f32("w", &[1, 1, 1, 1, 1], &[1.0])],
        vec![fixed("x", &[1, 1, 2, 2, 2])],
        vec![out("y")],
        13,
    );
    let e = err_of(&onnx, &ConvertOptions::default());
    assert!(e.contains("node 'Conv_12' (Conv): 3-D convolution is not supported (supported: 1-D and 2-D)"), "{e}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("sprig_convert_errors_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.onnx");
    let onnx = model(
        vec![node("Conv", "Conv_12", &["x", "w"], &["y"], vec![])],
        vec![tensor_f32("w", &[1, 1, 1, 1, 1], &[1.0])],
        vec![fixed("x", &[1, 1, 2, 2, 2])],
        vec![out("y")],
        13,
    );
    std::fs::write(&path, onnx).unwrap();
    let e = format!("{:#}", convert_file(&path, &ConvertOptions::default()).unwrap_err());
    assert!(e.contains("model.onnx: node 'Conv_12' (Conv): 3-D convolution"), "{e}");
    let missing = format!("{:#}", convert_file(&dir.join("nope.onnx"), &ConvertOptions::default()).unwrap_err());
    assert!(missing.contains("nope.onnx"), "{missing}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unsupported_attribute_values() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            model(
                vec![node("Resize", "rs", &["x", "", "sc"], &["y"], vec![attr_s("mode", "cubic")])],
                vec![tensor_f32("sc", &[4], &[1.0, 1.0, 2.0, 2.0])],
                vec![fixed("x", &[1, 1, 2, 2])],
                vec![out("y")],
                13,
            ),
            "mode='cubic' is not supported (supported: nearest, linear)",
        ),
        (
            model(
                vec![node("Conv", "c", &["x", "w"], &["y"], vec![attr_s("auto_pad", "WEIRD")])],
                vec![tensor_f32("w", &[1, 1, 1, 1], &[1.0])],
                vec![fixed("x", &[1, 1, 2, 2])],
                vec![out("y")],
                13,
            ),
            "auto_pad value 'WEIRD' is not supported",
        ),
        (
            model(
                vec![node("Pad", "p", &["x", "pads"], &["y"], vec![attr_s("mode", "mirror")])],
                vec![tensor_i64("pads", &[4], &[0, 1, 0, 1])],
                vec![fixed("x", &[2, 2])],
                vec![out("y")],
                13,
            ),
            "mode='mirror' is not supported",
        ),
    ];
    for (onnx, want) in cases {
        let e = err_of(&onnx, &ConvertOptions::default());
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn unknown_input_tensor() {
    let onnx = model(vec![node("Add", "add", &["x", "ghost"], &["y"], vec![])], vec![], vec![fixed("x", &[2])], vec![out("y")], 13);
    let e = err_of(&onnx, &ConvertOptions::default());
    assert!(e.contains("node 'add' (Add)") && e.contains("unknown input tensor 'ghost'"), "{e}");
}

#[test]
fn out_of_order_nodes_and_cycles() {
    let onnx = model(
        vec![node("Relu", "second", &["t"], &["y"], vec![]), node("Relu", "first", &["x"], &["t"], vec![])],
        vec![],
        vec![fixed("x", &[2])],
        vec![out("y")],
        13,
    );
    let e = err_of(&onnx, &ConvertOptions::default());
    assert!(e.contains("node 'second' (Relu)") && e.contains("comes later") && e.contains("cycle"), "{e}");
    let cyc = model(
        vec![node("Relu", "a", &["t2"], &["t1"], vec![]), node("Relu", "b", &["t1"], &["t2"], vec![])],
        vec![],
        vec![fixed("x", &[2])],
        vec![out("t2")],
        13,
    );
    let e = err_of(&cyc, &ConvertOptions::default());
    assert!(e.contains("node 'a' (Relu)") && e.contains("cycle"), "{e}");
}

#[test]
fn bad_input_shape_options() {
    let m = relu_model(13);
    let o = ConvertOptions { input_shapes: vec![("nope".into(), vec![2, 3])], ..Default::default() };
    let e = err_of(&m, &o);
    assert!(e.contains("'nope'") && e.contains("not a graph input"), "{e}");
    let o = ConvertOptions { input_shapes: vec![("x".into(), vec![2, 3, 1])], ..Default::default() };
    let e = err_of(&m, &o);
    assert!(e.contains("'x'") && e.contains("rank 3") && e.contains("rank 2"), "{e}");
    let o = ConvertOptions { input_shapes: vec![("x".into(), vec![2, 4])], ..Default::default() };
    let e = err_of(&m, &o);
    assert!(e.contains("fixes it to 3"), "{e}");
}

#[test]
fn non_constant_shape_input() {
    let onnx = model(
        vec![node("Reshape", "rs", &["x", "s"], &["y"], vec![])],
        vec![],
        vec![fixed("x", &[2, 3]), fixed("s", &[2])],
        vec![out("y")],
        13,
    );
    let e = err_of(&onnx, &ConvertOptions::default());
    assert!(e.contains("node 'rs' (Reshape)") && e.contains("shape ('s') must be known at conversion time"), "{e}");
}

#[test]
fn used_training_output_of_batch_norm() {
    let c = |n| tensor_f32(n, &[2], &[1.0, 1.0]);
    let onnx = model(
        vec![node("BatchNormalization", "bn", &["x", "g", "b", "m", "v"], &["y", "rm"], vec![]), node("Relu", "r", &["rm"], &["z"], vec![])],
        vec![c("g"), c("b"), c("m"), c("v")],
        vec![fixed("x", &[1, 2, 2, 2])],
        vec![out("y"), out("z")],
        13,
    );
    let e = err_of(&onnx, &ConvertOptions::default());
    assert!(e.contains("node 'bn' (BatchNormalization)") && e.contains("output #1 ('rm') is not supported"), "{e}");
}

/// Random byte flips and truncations of a valid model: errors or successes, never a panic.
#[test]
fn damaged_models_never_panic() {
    let w = rand_vec(4 * 3 * 9, 1);
    let base = model(
        vec![
            node("Conv", "conv", &["x", "w"], &["c"], vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[2, 1])]),
            node("Shape", "sh", &["c"], &["s"], vec![]),
            node("Slice", "sl", &["s", "st", "en"], &["s2"], vec![]),
            node("Concat", "cat", &["s2", "m1"], &["shape"], vec![attr_i("axis", 0)]),
            node("Reshape", "rs", &["c", "shape"], &["r"], vec![]),
            node("Pad", "pad", &["r", "pads"], &["p"], vec![]),
            node("ReduceMean", "rm", &["p"], &["y"], vec![attr_ints("axes", &[2])]),
        ],
        vec![
            tensor_f32_raw("w", &[4, 3, 3, 3], &w),
            tensor_i64("st", &[1], &[0]),
            tensor_i64("en", &[1], &[2]),
            tensor_i64("m1", &[1], &[-1]),
            tensor_i64("pads", &[6], &[0, 0, 1, 0, 0, 1]),
        ],
        vec![fixed("x", &[1, 3, 6, 5])],
        vec![out("y")],
        13,
    );
    convert_bytes(&base, &ConvertOptions::default()).expect("the undamaged model converts");
    let mut s = 0x9e3779b97f4a7c15u64;
    for _ in 0..3000 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut m = base.clone();
        let flips = 1 + (s >> 60) as usize % 3;
        for k in 0..flips {
            let pos = ((s >> (8 + 8 * k)) as usize) % m.len();
            m[pos] ^= 1 << ((s >> (3 * k)) % 8);
        }
        let _ = convert_bytes(&m, &ConvertOptions::default());
    }
}

/// Hostile attribute and shape-tensor values (negative, zero, huge) in every integer slot.
#[test]
fn hostile_integer_values_never_panic() {
    use prost::Message;
    let w = rand_vec(4 * 3 * 9, 1);
    let base = model(
        vec![
            node("Conv", "conv", &["x", "w"], &["c"], vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[2, 1]), attr_i("group", 1)]),
            node("MaxPool", "mp", &["c"], &["q"], vec![attr_ints("kernel_shape", &[2, 2]), attr_i("ceil_mode", 1)]),
            node("Slice", "sl", &["q", "st", "en", "ax", "stp"], &["s"], vec![]),
            node("Pad", "pad", &["s", "pads"], &["p"], vec![]),
            node("Tile", "ti", &["p", "reps"], &["t"], vec![]),
            node("Reshape", "rs", &["t", "shape"], &["r"], vec![]),
            node("ReduceSum", "rm", &["r", "rax"], &["y"], vec![attr_i("keepdims", 0)]),
        ],
        vec![
            tensor_f32_raw("w", &[4, 3, 3, 3], &w),
            tensor_i64("st", &[1], &[0]),
            tensor_i64("en", &[1], &[2]),
            tensor_i64("ax", &[1], &[1]),
            tensor_i64("stp", &[1], &[1]),
            tensor_i64("pads", &[8], &[0, 0, 1, 0, 0, 0, 1, 0]),
            tensor_i64("reps", &[4], &[1, 1, 1, 2]),
            tensor_i64("shape", &[2], &[0, -1]),
            tensor_i64("rax", &[1], &[1]),
        ],
        vec![fixed("x", &[1, 3, 6, 5])],
        vec![out("y")],
        13,
    );
    convert_bytes(&base, &ConvertOptions::default()).expect("the unmodified model converts");
    let base = tract_onnx::pb::ModelProto::decode(&base[..]).unwrap();
    let values = [-(1i64 << 40), -3, -1, 0, 1, 2, 7, 1 << 31, 1 << 40, i64::MAX, i64::MIN];
    let mut s = 0x2545f4914f6cdd1du64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for _ in 0..4000 {
        let mut m = base.clone();
        let g = m.graph.as_mut().unwrap();
        for _ in 0..1 + next() % 2 {
            let v = values[(next() % values.len() as u64) as usize];
            if next() % 2 == 0 {
                let n = (next() % g.node.len() as u64) as usize;
                let attrs = &mut g.node[n].attribute;
                let a = (next() % attrs.len().max(1) as u64) as usize;
                if let Some(a) = attrs.get_mut(a) {
                    a.i = v;
                    if !a.ints.is_empty() {
                        let k = (next() % a.ints.len() as u64) as usize;
                        a.ints[k] = v;
                    }
                }
            } else {
                let i = 1 + (next() % (g.initializer.len() - 1) as u64) as usize;
                let t = &mut g.initializer[i];
                let k = (next() % t.int64_data.len() as u64) as usize;
                t.int64_data[k] = v;
            }
        }
        let _ = convert_bytes(&m.encode_to_vec(), &ConvertOptions::default());
    }
}
