//! ONNX sparse initializers (`GraphProto.sparse_initializer`) and `Constant` nodes with a
//! `sparse_value`: densified on import, then treated as any weight.
//!
//! tract ignores sparse initializers, so each model has a dense twin (the same graph with the
//! weight as an ordinary initializer or `value`): the twin is checked against tract, and the
//! sparse model's sprig output must equal the twin's sprig output.
mod convert_common;
use convert_common::*;
use prost::Message;
use sprig_runtime::{AlignedBuf, Model};
use sprig_tools::convert::{convert_bytes, Conversion, ConvertOptions};
use sprig_tools::sparsify::FormatChoice;
use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, ModelProto, SparseTensorProto, TensorProto};

/// The sparse model's output against the dense twin's: the same weights, the same kernels.
const TWIN_TOL: f32 = 1e-6;

type Inputs = [(Vec<f32>, Vec<usize>)];

/// `n` values in [-1, 1) of which about 90 % are zero (a pruned weight).
fn pruned(n: usize, seed: u64) -> Vec<f32> {
    let keep = rand_vec(n, seed + 1000);
    let w: Vec<f32> = rand_vec(n, seed).into_iter().zip(keep).map(|(x, k)| if k > 0.8 { x } else { 0.0 }).collect();
    let zeros = w.iter().filter(|&&x| x == 0.0).count() as f64 / n as f64;
    assert!((0.85..0.95).contains(&zeros), "test weight sparsity {zeros}");
    w
}

/// Row-major coordinates of linear index `i` in `dims`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<i64> {
    let mut c = vec![0; dims.len()];
    for (c, &d) in c.iter_mut().zip(dims).rev() {
        *c = (i % d) as i64;
        i /= d;
    }
    c
}

/// Indices of `nz` (linear positions in `dims`): [NNZ] linear, or [NNZ, rank] coordinates.
fn indices(nz: &[usize], dims: &[usize], coords: bool) -> TensorProto {
    if coords {
        let c: Vec<i64> = nz.iter().flat_map(|&i| unravel(i, dims)).collect();
        tensor_i64("", &[nz.len(), dims.len()], &c)
    } else {
        tensor_i64("", &[nz.len()], &nz.iter().map(|&i| i as i64).collect::<Vec<_>>())
    }
}

/// `dense` (shape `dims`) as a SparseTensorProto named `name`: its non-zeros in row-major order,
/// values in raw_data.
fn sparse_of(name: &str, dims: &[usize], dense: &[f32], coords: bool) -> SparseTensorProto {
    let nz: Vec<usize> = (0..dense.len()).filter(|&i| dense[i] != 0.0).collect();
    let vals: Vec<f32> = nz.iter().map(|&i| dense[i]).collect();
    sparse(tensor_f32_raw(name, &[nz.len()], &vals), indices(&nz, dims, coords), dims)
}

fn sparse(values: TensorProto, indices: TensorProto, dims: &[usize]) -> SparseTensorProto {
    SparseTensorProto { values: Some(values), indices: Some(indices), dims: dims.iter().map(|&d| d as i64).collect() }
}

/// `onnx` with `sparse` appended to its graph's sparse initializers.
fn with_sparse(onnx: Vec<u8>, sparse: Vec<SparseTensorProto>) -> Vec<u8> {
    let mut m = ModelProto::decode(&onnx[..]).unwrap();
    m.graph.as_mut().unwrap().sparse_initializer.extend(sparse);
    m.encode_to_vec()
}

fn attr_sparse(name: &str, s: SparseTensorProto) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::SparseTensor as i32, sparse_tensor: Some(s), ..Default::default() }
}

/// Checks the dense twin against tract, converts the sparse model, and asserts the same outputs
/// (within [`TWIN_TOL`]) and the same per-layer choices (encoding, block, sparsity, nnz).
/// Returns the sparse model's conversion (None when a runtime op is missing).
fn check_twins(dense: &[u8], sparse: &[u8], opts: &ConvertOptions, inputs: &Inputs, test: &str) -> Option<Conversion> {
    let dc = check_against_tract(dense, opts, inputs, test)?;
    let sc = convert_bytes(sparse, opts).unwrap_or_else(|e| panic!("{test}: the sparse-initializer model failed to convert: {e:#}"));
    assert_close(&run_sprig(&sc.bytes, inputs), &run_sprig(&dc.bytes, inputs), TWIN_TOL);
    let choices = |c: &Conversion| c.report.layers.iter().map(|l| (l.name.clone(), l.encoding.clone(), l.block.clone(), l.sparsity, l.nnz)).collect::<Vec<_>>();
    assert_eq!(choices(&sc), choices(&dc), "{test}: layer choices differ from the dense twin");
    Some(sc)
}

/// [`check_twins`] with auto and with `--format sparse`, then [`assert_sparse_layer`] on the forced
/// conversion. Returns the auto conversion (None when a runtime op is missing).
fn check_twins_auto_and_forced(dense: &[u8], sparse: &[u8], inputs: &Inputs, test: &str, layer: &str) -> Option<Conversion> {
    let auto = check_twins(dense, sparse, &ConvertOptions::default(), inputs, test)?;
    let forced = check_twins(dense, sparse, &forced_sparse(), inputs, test)?;
    assert_sparse_layer(&forced, layer, test);
    Some(auto)
}

fn forced_sparse() -> ConvertOptions {
    ConvertOptions { format: FormatChoice::Sparse, ..Default::default() }
}

/// The weight layer (named `layer`) was stored block-sparse with about 90 % zeros.
fn assert_sparse_layer(c: &Conversion, layer: &str, test: &str) {
    let l = c.report.layers.iter().find(|l| l.name == layer).unwrap_or_else(|| panic!("{test}: no layer {layer}: {:#?}", c.report.layers));
    assert_eq!(l.encoding, "block-sparse", "{test}: {l:?}");
    assert!(l.sparsity.is_some_and(|s| s > 0.85) && l.nnz.is_some(), "{test}: {l:?}");
}

/// Gemm (transB) with a 64x128 weight, 90 % zeros, as a sparse initializer in both index forms
/// (bias an ordinary initializer); auto and `--format sparse`.
#[test]
fn gemm_weight_from_sparse_initializer() {
    let (m, k, n) = (8, 128, 64);
    let w = pruned(n * k, 1);
    let bias = rand_vec(n, 2);
    let build = |inits| model(vec![node("Gemm", "fc", &["a", "w", "bias"], &["y"], vec![attr_i("transB", 1)])], inits, vec![fixed("a", &[m, k])], vec![out("y")], 13);
    let dense = build(vec![tensor_f32_raw("w", &[n, k], &w), tensor_f32("bias", &[n], &bias)]);
    let a = [(rand_vec(m * k, 3), vec![m, k])];
    for coords in [false, true] {
        let sparse = with_sparse(build(vec![tensor_f32("bias", &[n], &bias)]), vec![sparse_of("w", &[n, k], &w, coords)]);
        let test = format!("gemm coords={coords}");
        let Some(c) = check_twins_auto_and_forced(&dense, &sparse, &a, &test, "fc") else { return };
        assert!(c.report.notes.iter().any(|s| s == "densified 1 sparse initializers"), "{:?}", c.report.notes);
    }
}

/// MatMul with a 128x64 sparse-initializer weight that is also listed as a graph input (ONNX
/// allows it): both index forms, and indices in descending order (distinct, so accepted).
#[test]
fn matmul_weight_from_sparse_initializer() {
    let (m, k, n) = (8, 128, 64);
    let w = pruned(k * n, 4);
    let build = |inits, inputs| model(vec![node("MatMul", "mm", &["x", "w"], &["y"], vec![])], inits, inputs, vec![out("y")], 13);
    let dense = build(vec![tensor_f32("w", &[k, n], &w)], vec![fixed("x", &[m, k])]);
    let x = [(rand_vec(m * k, 5), vec![m, k])];
    for (coords, reversed) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut s = sparse_of("w", &[k, n], &w, coords);
        if reversed {
            let rank = if coords { 2 } else { 1 };
            let v = s.values.as_mut().unwrap();
            let vals: Vec<f32> = v.raw_data.chunks_exact(4).rev().map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            *v = tensor_f32("w", &[vals.len()], &vals);
            let idx = &mut s.indices.as_mut().unwrap().int64_data;
            *idx = idx.chunks_exact(rank).rev().flatten().copied().collect();
        }
        let sparse = with_sparse(build(vec![], vec![fixed("x", &[m, k]), fixed("w", &[k, n])]), vec![s]);
        let test = format!("matmul coords={coords} reversed={reversed}");
        if check_twins_auto_and_forced(&dense, &sparse, &x, &test, "mm").is_none() {
            return;
        }
    }
}

/// A 1x1 Conv (64 out, 32 in) whose weight is a 90 % sparse initializer of rank 4, both forms.
#[test]
fn pointwise_conv_weight_from_sparse_initializer() {
    let (co, ci, hw) = (64, 32, 8);
    let w = pruned(co * ci, 6);
    let bias = rand_vec(co, 7);
    let build = |inits| model(vec![node("Conv", "pw", &["x", "w", "b"], &["y"], vec![])], inits, vec![fixed("x", &[1, ci, hw, hw])], vec![out("y")], 13);
    let dense = build(vec![tensor_f32("w", &[co, ci, 1, 1], &w), tensor_f32("b", &[co], &bias)]);
    let x = [(rand_vec(ci * hw * hw, 8), vec![1, ci, hw, hw])];
    for coords in [false, true] {
        let sparse = with_sparse(build(vec![tensor_f32("b", &[co], &bias)]), vec![sparse_of("w", &[co, ci, 1, 1], &w, coords)]);
        let test = format!("conv coords={coords}");
        if check_twins_auto_and_forced(&dense, &sparse, &x, &test, "pw").is_none() {
            return;
        }
    }
}

/// A `Constant` with `sparse_value` feeding a MatMul, against the same `Constant` with `value`.
#[test]
fn constant_with_sparse_value() {
    let (m, k, n) = (4, 128, 64);
    let w = pruned(k * n, 9);
    let build = |attr| {
        let nodes = vec![node("Constant", "wc", &[], &["w"], vec![attr]), node("MatMul", "mm", &["x", "w"], &["y"], vec![])];
        model(nodes, vec![], vec![fixed("x", &[m, k])], vec![out("y")], 13)
    };
    let dense = build(attr_t("value", tensor_f32("w", &[k, n], &w)));
    let x = [(rand_vec(m * k, 10), vec![m, k])];
    for coords in [false, true] {
        let sparse = build(attr_sparse("sparse_value", sparse_of("w", &[k, n], &w, coords)));
        let test = format!("constant coords={coords}");
        if check_twins_auto_and_forced(&dense, &sparse, &x, &test, "mm").is_none() {
            return;
        }
    }
}

/// An INT64 sparse initializer: Reshape's shape [0, 12] stored as one value (12 at index 1), so
/// the implicit zero (copy the input dimension) matters.
#[test]
fn int64_sparse_initializer_as_reshape_shape() {
    let build = |inits| model(vec![node("Reshape", "r", &["x", "shape"], &["y"], vec![])], inits, vec![fixed("x", &[2, 3, 4])], vec![out("y")], 13);
    let dense = build(vec![tensor_i64("shape", &[2], &[0, 12])]);
    let x = [(rand_vec(24, 11), vec![2, 3, 4])];
    for coords in [false, true] {
        let s = sparse(tensor_i64("shape", &[1], &[12]), indices(&[1], &[2], coords), &[2]);
        let sparse = with_sparse(build(vec![]), vec![s]);
        let Some(c) = check_twins(&dense, &sparse, &ConvertOptions::default(), &x, "reshape") else { return };
        let buf = AlignedBuf::from_bytes(&c.bytes);
        let m = Model::from_bytes(buf.as_slice()).unwrap();
        assert_eq!(m.output(0).unwrap().shape.dims(), [2, 12]);
    }
}

// Errors: each names the sparse initializer (or the Constant node) and the fault, never panics.

fn err_of(onnx: &[u8]) -> String {
    match convert_bytes(onnx, &ConvertOptions::default()) {
        Ok(_) => panic!("conversion unexpectedly succeeded"),
        Err(e) => format!("{e:#}"),
    }
}

/// x [2, 4] · w [4, 8], w given as a sparse initializer (plus `inits`).
fn matmul_with(s: SparseTensorProto, inits: Vec<TensorProto>) -> Vec<u8> {
    let onnx = model(vec![node("MatMul", "mm", &["x", "w"], &["y"], vec![])], inits, vec![fixed("x", &[2, 4])], vec![out("y")], 13);
    with_sparse(onnx, vec![s])
}

fn values3() -> TensorProto {
    tensor_f32("w", &[3], &[1.0, 2.0, 3.0])
}

fn assert_err(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "expected {p:?} in: {e}");
    }
}

#[test]
fn index_out_of_range() {
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3], &[0, 5, 32]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "index 32 (entry #2) is out of range for shape [4, 8]"]);
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3], &[-1, 5, 6]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "index -1 (entry #0) is out of range"]);
    // Coordinates: row 4 of 4 (its linear index, 32, would also be past the end) and a column 8
    // whose linear index (1 * 8 + 8 = 16) would be inside the tensor.
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3, 2], &[0, 0, 1, 1, 4, 0]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "index [4, 0] (entry #2) is out of range for shape [4, 8]"]);
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3, 2], &[0, 0, 1, 8, 3, 0]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "index [1, 8] (entry #1) is out of range"]);
}

#[test]
fn duplicate_index() {
    for idx in [vec![1, 5, 5], vec![5, 1, 5]] {
        let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3], &idx), &[4, 8]), vec![]));
        assert_err(&e, &["sparse initializer 'w'", "have the same index (linear 5 in shape [4, 8])"]);
    }
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3, 2], &[0, 1, 2, 3, 2, 3]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "entries #1 and #2 have the same index (linear 19 in shape [4, 8])"]);
}

#[test]
fn values_and_indices_lengths_differ() {
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[2], &[0, 1]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "indices have shape [2], values have 3 elements"]);
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[4, 2], &[0; 8]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "indices have shape [4, 2], values have 3 elements"]);
    // Coordinates of the wrong rank, and values that are not one-dimensional.
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3, 3], &[0; 9]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "coordinates of 3 dimensions for a dense shape of rank 2"]);
    let e = err_of(&matmul_with(sparse(tensor_f32("w", &[3, 1], &[1.0, 2.0, 3.0]), tensor_i64("", &[3], &[0, 1, 2]), &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "values have shape [3, 1], expected one dimension"]);
}

#[test]
fn indices_not_int64() {
    let i32_indices = TensorProto { dims: vec![3], data_type: DataType::Int32 as i32, int32_data: vec![0, 1, 2], ..Default::default() };
    let e = err_of(&matmul_with(sparse(values3(), i32_indices, &[4, 8]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "indices have type INT32, expected INT64"]);
}

#[test]
fn name_clashes() {
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3], &[0, 1, 2]), &[4, 8]), vec![tensor_f32("w", &[4, 8], &[0.0; 32])]));
    assert_err(&e, &["sparse initializer 'w' has the same name as an initializer"]);
    let twice = with_sparse(matmul_with(sparse(values3(), tensor_i64("", &[3], &[0, 1, 2]), &[4, 8]), vec![]), vec![sparse(values3(), tensor_i64("", &[3], &[3, 4, 5]), &[4, 8])]);
    assert_err(&err_of(&twice), &["sparse initializer 'w' appears twice"]);
    let unnamed = matmul_with(sparse(tensor_f32("", &[3], &[1.0, 2.0, 3.0]), tensor_i64("", &[3], &[0, 1, 2]), &[4, 8]), vec![]);
    assert_err(&err_of(&unnamed), &["sparse initializer #0 has no name"]);
}

/// A dense shape past the converter's size limit fails before anything of that size is allocated.
#[test]
fn huge_dense_shape() {
    let e = err_of(&matmul_with(sparse(values3(), tensor_i64("", &[3], &[0, 1, 2]), &[1 << 20, 1 << 20]), vec![]));
    assert_err(&e, &["sparse initializer 'w'", "tensor 'w' with shape [1048576, 1048576] is too large"]);
}

#[test]
fn constant_sparse_value_errors_name_the_node() {
    let onnx = |s| {
        let nodes = vec![node("Constant", "wc", &[], &["w"], vec![attr_sparse("sparse_value", s)]), node("MatMul", "mm", &["x", "w"], &["y"], vec![])];
        model(nodes, vec![], vec![fixed("x", &[2, 4])], vec![out("y")], 13)
    };
    let e = err_of(&onnx(sparse(values3(), tensor_i64("", &[3], &[0, 2, 2]), &[4, 8])));
    assert_err(&e, &["node 'wc' (Constant): sparse_value", "have the same index"]);
    let e = err_of(&onnx(sparse(values3(), tensor_i64("", &[3], &[0, 2, 40]), &[4, 8])));
    assert_err(&e, &["node 'wc' (Constant): sparse_value", "index 40 (entry #2) is out of range"]);
}

/// `sprig convert` verifies against tract by default, which ignores sparse tensors: it is given
/// them densified (a sparse initializer, a `Constant` sparse_value and an INT64 shape), so the
/// check runs and passes.
#[test]
fn verification_against_tract_densifies_sparse_tensors() {
    let (m, k, h, n) = (4, 128, 64, 32);
    let (w1, w2) = (pruned(k * h, 12), pruned(h * n, 13));
    let nodes = vec![
        node("MatMul", "mm1", &["x", "w1"], &["a"], vec![]),
        node("Constant", "w2c", &[], &["w2"], vec![attr_sparse("sparse_value", sparse_of("w2", &[h, n], &w2, true))]),
        node("MatMul", "mm2", &["a", "w2"], &["b"], vec![]),
        node("Reshape", "r", &["b", "shape"], &["y"], vec![]),
    ];
    let shape = sparse(tensor_i64("shape", &[2], &[2, 16]), indices(&[1, 2], &[3], false), &[3]);
    let onnx = with_sparse(model(nodes, vec![], vec![fixed("x", &[m, k])], vec![out("y")], 13), vec![sparse_of("w1", &[k, h], &w1, false), shape]);
    let dir = std::env::temp_dir().join(format!("sprig_sparse_initializer_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.onnx");
    std::fs::write(&path, &onnx).unwrap();
    let c = sprig_tools::convert::convert_file(&path, &ConvertOptions::default()).unwrap();
    let r = sprig_tools::verify::verify_file(&path, &c.bytes, &[], 3, 1e-4);
    std::fs::remove_dir_all(&dir).ok();
    let r = r.unwrap_or_else(|e| panic!("verification failed to run: {e:#}"));
    assert!(r.passed, "worst relative error {}", r.worst_rel());
    assert_eq!(r.outputs.len(), 1);
    let buf = AlignedBuf::from_bytes(&c.bytes);
    assert_eq!(Model::from_bytes(buf.as_slice()).unwrap().output(0).unwrap().shape.dims(), [m, 2, 16]);
}
