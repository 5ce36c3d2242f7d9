//! Conv and MatMul with block-sparse weights against the dense ops on the same (decoded) weights,
//! run with the scalar kernels (the dense ops are tested against ONNX-spec references in
//! `ops_conv.rs` / `ops_matmul.rs`). The sparse side runs through every ISA this CPU has; the
//! others print `SKIPPED:`. Tolerance: 1e-4 relative (f32, sums of at most a few hundred terms in
//! a different order).
mod ops_common;
use ops_common::*;
use proptest::prelude::*;
use sprig_kernels::sparse::{pack, analyze, Layout};
use sprig_runtime::ops::params::{ActParams, ConvParams, MatMulParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::Encoding;
use sprig_runtime::{Activation, AlignedBuf, DType, Isa, OpError, Shape, TensorInfo};

const TOL: f32 = 1e-4;

/// `w` with a fraction `sparsity` of its entries set to zero (deterministic in `seed`).
fn sparsify(w: &mut [f32], sparsity: f64, seed: u64) {
    let r = rand_f32(w.len(), seed ^ 0x5eed);
    for (x, u) in w.iter_mut().zip(r) {
        if ((u as f64) + 1.0) / 2.0 < sparsity {
            *x = 0.0;
        }
    }
}

/// A block-sparse tensor of logical shape `shape` encoding the row-major `m × k` matrix `w`
/// (rows = axis 0), optionally with a bias in the blob.
fn sparse_owned(shape: &[usize], w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, layout: Layout) -> Owned {
    let st = analyze(w, m, k, layout).unwrap();
    let mut blob = vec![0u8; if bias.is_some() { st.bytes_with_bias } else { st.bytes }];
    let n = pack(w, m, k, bias, layout, &mut blob).unwrap();
    assert_eq!(n, blob.len());
    let info = TensorInfo { dtype: DType::F32, shape: Shape::new(shape).unwrap(), encoding: Encoding::BlockSparse };
    Owned { info, buf: AlignedBuf::from_bytes(&blob) }
}

fn isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.available();
            if !ok {
                println!("SKIPPED: {} (this CPU lacks it)", isa.name());
            }
            ok
        })
        .collect()
}

/// Where the bias goes in the sparse op.
#[derive(Clone, Copy, Debug)]
enum BiasMode {
    None,
    /// In the blob (what the converter does): fused in the kernel epilogue.
    Blob,
    /// As the node's third input: added after the kernel.
    Input,
}

fn bias_mode() -> impl Strategy<Value = BiasMode> {
    prop_oneof![Just(BiasMode::None), Just(BiasMode::Blob), Just(BiasMode::Input)]
}

fn layout() -> impl Strategy<Value = Layout> {
    proptest::sample::select(Layout::ALL.to_vec())
}

fn act() -> impl Strategy<Value = Activation> {
    prop_oneof![Just(Activation::NONE), Just(Activation::RELU), Just(Activation::clamp(-0.5, 0.5))]
}

// ---------------------------------------------------------------------------------------------
// Conv

#[derive(Clone, Copy, Debug)]
struct G {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    p: [usize; 4],
}

fn conv_params(g: &G, group: usize, act: Activation) -> Vec<u8> {
    let u = |v: usize| v as u32;
    bytes(&ConvParams {
        kernel: [u(g.k[0]), u(g.k[1])],
        strides: [u(g.s[0]), u(g.s[1])],
        pads: [u(g.p[0]), u(g.p[1]), u(g.p[2]), u(g.p[3])],
        dilations: [u(g.d[0]), u(g.d[1])],
        group: u(group),
        _pad: 0,
        act: ActParams::from_activation(&act),
    })
}

fn out_hw(g: &G) -> (usize, usize) {
    let oh = (g.h + g.p[0] + g.p[2] - (g.d[0] * (g.k[0] - 1) + 1)) / g.s[0] + 1;
    let ow = (g.w + g.p[1] + g.p[3] - (g.d[1] * (g.k[1] - 1) + 1)) / g.s[1] + 1;
    (oh, ow)
}

/// Runs the sparse conv through every ISA and compares with the scalar dense conv.
fn check_conv(g: &G, sparsity: f64, layout: Layout, bm: BiasMode, act: Activation, seed: u64) {
    let (oh, ow) = out_hw(g);
    let kk = g.c * g.k[0] * g.k[1];
    let x = Owned::f32(&[g.n, g.c, g.h, g.w], &rand_f32(g.n * g.c * g.h * g.w, seed));
    let mut wv = rand_f32(g.m * kk, seed + 1);
    sparsify(&mut wv, sparsity, seed + 2);
    let bv = rand_f32(g.m, seed + 3);
    let wshape = [g.m, g.c, g.k[0], g.k[1]];
    let wd = Owned::f32(&wshape, &wv);
    let b = Owned::f32(&[g.m], &bv);
    let yi = info(DType::F32, &[g.n, g.m, oh, ow]);
    let p = conv_params(g, 1, act);
    let dense_in = match bm {
        BiasMode::None => vec![Some(&x), Some(&wd)],
        _ => vec![Some(&x), Some(&wd), Some(&b)],
    };
    let want = run_isa(OpKind::Conv, &p, &dense_in, &[yi], Isa::Scalar).unwrap().remove(0).as_f32();
    let ws = sparse_owned(&wshape, &wv, g.m, kk, matches!(bm, BiasMode::Blob).then_some(&bv[..]), layout);
    let sparse_in = match bm {
        BiasMode::Input => vec![Some(&x), Some(&ws), Some(&b)],
        _ => vec![Some(&x), Some(&ws)],
    };
    // With the scratch the op needs, and with the room it can use (what the converter plans: a
    // pointwise conv over H·W not a multiple of 16 may copy B to padded rows there).
    let need = check(OpKind::Conv, &p, &sparse_in, &[yi]).unwrap();
    let wanted = sprig_runtime::ops::scratch_wanted(OpKind::Conv, &p, &infos(&sparse_in), &[yi]).unwrap();
    assert!(wanted >= need, "scratch_wanted {wanted} below check's {need}");
    for isa in isas() {
        for scratch in [need, wanted] {
            let got = run_isa_scratch(OpKind::Conv, &p, &sparse_in, &[yi], isa, scratch).unwrap().remove(0).as_f32();
            assert_close(&got, &want, TOL);
        }
    }
}

fn conv_geom() -> impl Strategy<Value = G> {
    (1usize..=2, 1usize..=6, 1usize..=7, 1usize..=7, 1usize..=19, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, 0usize..=1, 0usize..=1)
        .prop_filter_map("kernel larger than padded input", |(n, c, h, w, m, kh, kw, s, d, pt, pl)| {
            let g = G { n, c, h, w, m, k: [kh, kw], s: [s, s], d: [d, 1], p: [pt, pl, pt, 1 - pl] };
            let ok = g.h + g.p[0] + g.p[2] > g.d[0] * (g.k[0] - 1) && g.w + g.p[1] + g.p[3] > g.d[1] * (g.k[1] - 1);
            ok.then_some(g)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn conv_sparse_equals_dense(g in conv_geom(), sparsity in 0.0f64..=1.0, l in layout(), bm in bias_mode(), a in act(), seed in 0u64..1000) {
        check_conv(&g, sparsity, l, bm, a, seed);
    }

    #[test]
    fn pointwise_conv_sparse_equals_dense(n in 1usize..=2, c in 1usize..=40, hw in 1usize..=40, m in 1usize..=40, sparsity in 0.0f64..=1.0, l in layout(), bm in bias_mode(), seed in 0u64..1000) {
        let g = G { n, c, h: 1, w: hw, m, k: [1, 1], s: [1, 1], d: [1, 1], p: [0; 4] };
        check_conv(&g, sparsity, l, bm, Activation::RELU, seed);
    }
}

/// A pointwise conv over 7x7 (N = 49) and 5x5 images with unstructured and 2x1 weights: where
/// `spmm::aligned_ldb` says so, the op reads B from a copy with rows padded to 16 floats; the
/// results must not change (checked by `check_conv` with both scratch sizes, every ISA).
#[test]
fn pointwise_conv_padded_b() {
    let pw = |c, hw, m| G { n: 2, c, h: hw, w: hw, m, k: [1, 1], s: [1, 1], d: [1, 1], p: [0; 4] };
    let p = conv_params(&pw(48, 7, 40), 1, Activation::RELU);
    let x = info(DType::F32, &[2, 48, 7, 7]);
    let w = TensorInfo { dtype: DType::F32, shape: Shape::new(&[40, 48, 1, 1]).unwrap(), encoding: Encoding::BlockSparse };
    let y = info(DType::F32, &[2, 40, 7, 7]);
    let need = sprig_runtime::ops::check(OpKind::Conv, &p, &[Some(x), Some(w)], &[y]).unwrap();
    let wanted = sprig_runtime::ops::scratch_wanted(OpKind::Conv, &p, &[Some(x), Some(w)], &[y]).unwrap();
    assert_eq!((need, wanted), (0, 48 * 64 * 4), "room for B (48 rows of 49 floats) padded to 64 floats");
    for l in [Layout::RowBlock(1), Layout::RowBlock(2), Layout::RedBlock(4)] {
        check_conv(&pw(48, 7, 40), 0.5, l, BiasMode::Blob, Activation::RELU, 5);
        check_conv(&pw(33, 5, 17), 0.3, l, BiasMode::Input, Activation::NONE, 6);
        check_conv(&pw(20, 3, 8), 0.0, l, BiasMode::None, Activation::clamp(-0.5, 0.5), 7);
    }
}

#[test]
fn conv_named_cases() {
    let pw = |c, hw, m| G { n: 1, c, h: hw, w: hw, m, k: [1, 1], s: [1, 1], d: [1, 1], p: [0; 4] };
    for l in Layout::ALL {
        // Fully dense, all zero, k smaller than a 1xC block, m not a multiple of R.
        check_conv(&pw(16, 6, 24), 0.0, l, BiasMode::Blob, Activation::RELU, 1);
        check_conv(&pw(16, 6, 24), 1.0, l, BiasMode::Blob, Activation::clamp(0.0, 6.0), 2);
        check_conv(&pw(3, 5, 7), 0.5, l, BiasMode::None, Activation::NONE, 3);
        // A 3x3 stride-2 padded conv (im2col path), N = OH·OW not a multiple of any tile.
        let g = G { n: 2, c: 5, h: 9, w: 11, m: 13, k: [3, 3], s: [2, 2], d: [1, 1], p: [1, 1, 1, 1] };
        check_conv(&g, 0.9, l, BiasMode::Input, Activation::RELU, 4);
    }
}

#[test]
fn conv_sparse_rejects_groups_and_transpose() {
    let x = info(DType::F32, &[1, 4, 5, 5]);
    let wv = rand_f32(4 * 9, 1);
    let g = G { n: 1, c: 4, h: 5, w: 5, m: 4, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] };
    // Depthwise: W [4, 1, 3, 3], group 4.
    let ws = sparse_owned(&[4, 1, 3, 3], &wv, 4, 9, None, Layout::RowBlock(1));
    let xo = Owned::zeros(DType::F32, x.shape.dims());
    let y = info(DType::F32, &[1, 4, 5, 5]);
    let e = check(OpKind::Conv, &conv_params(&g, 4, Activation::NONE), &[Some(&xo), Some(&ws)], &[y]).unwrap_err();
    assert!(matches!(e, OpError::Unsupported(_)), "{e:?}");
    // Grouped: W [4, 2, 3, 3], group 2.
    let wv = rand_f32(4 * 18, 2);
    let ws = sparse_owned(&[4, 2, 3, 3], &wv, 4, 18, None, Layout::RowBlock(4));
    let e = check(OpKind::Conv, &conv_params(&g, 2, Activation::NONE), &[Some(&xo), Some(&ws)], &[y]).unwrap_err();
    assert!(matches!(e, OpError::Unsupported(_)), "{e:?}");
    // ConvTranspose never takes a sparse weight.
    let wv = rand_f32(4 * 36, 3);
    let ws = sparse_owned(&[4, 4, 3, 3], &wv, 4, 36, None, Layout::RowBlock(4));
    assert!(check(OpKind::ConvTranspose, &conv_params(&g, 1, Activation::NONE), &[Some(&xo), Some(&ws)], &[y]).is_err());
}

/// A blob whose m × k does not fit the node is an error at exec, not a panic.
#[test]
fn conv_sparse_blob_mismatch_is_an_error() {
    let g = G { n: 1, c: 4, h: 3, w: 3, m: 8, k: [1, 1], s: [1, 1], d: [1, 1], p: [0; 4] };
    let wv = rand_f32(8 * 5, 1);
    // Logical shape says [8, 4, 1, 1] but the blob is 8 x 5.
    let ws = sparse_owned(&[8, 4, 1, 1], &wv, 8, 5, None, Layout::RowBlock(1));
    let x = Owned::f32(&[1, 4, 3, 3], &rand_f32(36, 2));
    let y = info(DType::F32, &[1, 8, 3, 3]);
    let Err(e) = run_isa(OpKind::Conv, &conv_params(&g, 1, Activation::NONE), &[Some(&x), Some(&ws)], &[y], Isa::Scalar) else {
        panic!("a blob of the wrong k ran");
    };
    assert!(matches!(e, OpError::BadShape(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// MatMul

/// `a_shape` = A's shape (last dim K); B dense `[K, N]`, stored sparse as Bᵀ `[N, K]`.
fn check_matmul(a_shape: &[usize], n: usize, sparsity: f64, layout: Layout, bm: BiasMode, act: Activation, seed: u64) {
    let k = *a_shape.last().unwrap();
    let rows: usize = a_shape[..a_shape.len() - 1].iter().product();
    let a = Owned::f32(a_shape, &rand_f32(rows * k, seed));
    let mut bt = rand_f32(n * k, seed + 1); // Bᵀ, row-major [N, K]
    sparsify(&mut bt, sparsity, seed + 2);
    let b: Vec<f32> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect(); // [K, N]
    let bias = rand_f32(n, seed + 3);
    let bd = Owned::f32(&[k, n], &b);
    let bo = Owned::f32(&[n], &bias);
    let mut ys = a_shape[..a_shape.len() - 1].to_vec();
    ys.push(n);
    let yi = info(DType::F32, &ys);
    let p = bytes(&MatMulParams { act: ActParams::from_activation(&act) });
    let dense_in = match bm {
        BiasMode::None => vec![Some(&a), Some(&bd)],
        _ => vec![Some(&a), Some(&bd), Some(&bo)],
    };
    let want = run_isa(OpKind::MatMul, &p, &dense_in, &[yi], Isa::Scalar).unwrap().remove(0).as_f32();
    let bs = sparse_owned(&[n, k], &bt, n, k, matches!(bm, BiasMode::Blob).then_some(&bias[..]), layout);
    let sparse_in = match bm {
        BiasMode::Input => vec![Some(&a), Some(&bs), Some(&bo)],
        _ => vec![Some(&a), Some(&bs)],
    };
    for isa in isas() {
        let got = run_isa(OpKind::MatMul, &p, &sparse_in, &[yi], isa).unwrap().remove(0).as_f32();
        assert_close(&got, &want, TOL);
    }
}

fn a_shape() -> impl Strategy<Value = Vec<usize>> {
    (1usize..=70, prop_oneof![Just(vec![]), (1usize..=20).prop_map(|r| vec![r]), (1usize..=3, 1usize..=9).prop_map(|(b, r)| vec![b, r])])
        .prop_map(|(k, mut lead)| {
            lead.push(k);
            lead
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn matmul_sparse_equals_dense(a in a_shape(), n in 1usize..=40, sparsity in 0.0f64..=1.0, l in layout(), bm in bias_mode(), act in act(), seed in 0u64..1000) {
        check_matmul(&a, n, sparsity, l, bm, act, seed);
    }
}

#[test]
fn matmul_named_cases() {
    for l in Layout::ALL {
        // Batch 1 (SpMV), rank-1 A, many rows (SpMM), all-zero and fully dense weights.
        check_matmul(&[1, 64], 48, 0.9, l, BiasMode::Blob, Activation::RELU, 1);
        check_matmul(&[64], 48, 0.7, l, BiasMode::None, Activation::NONE, 2);
        check_matmul(&[2, 17, 33], 29, 0.95, l, BiasMode::Blob, Activation::NONE, 3);
        check_matmul(&[16, 64], 24, 1.0, l, BiasMode::Blob, Activation::clamp(0.0, 6.0), 4);
        check_matmul(&[5, 3], 7, 0.0, l, BiasMode::Input, Activation::RELU, 5);
    }
}

#[test]
fn matmul_sparse_check_rejects_bad_shapes() {
    let bt = rand_f32(8 * 6, 1);
    let bs = sparse_owned(&[8, 6], &bt, 8, 6, None, Layout::RowBlock(4));
    let p = bytes(&MatMulParams { act: ActParams::NONE });
    // A's K (5) differs from the blob's K (6).
    let a = Owned::zeros(DType::F32, &[3, 5]);
    assert!(check(OpKind::MatMul, &p, &[Some(&a), Some(&bs)], &[info(DType::F32, &[3, 8])]).is_err());
    // Output N wrong.
    let a = Owned::zeros(DType::F32, &[3, 6]);
    assert!(check(OpKind::MatMul, &p, &[Some(&a), Some(&bs)], &[info(DType::F32, &[3, 6])]).is_err());
    assert!(check(OpKind::MatMul, &p, &[Some(&a), Some(&bs)], &[info(DType::F32, &[3, 8])]).is_ok());
    // A sparse A operand (or any sparse input of another op) is rejected.
    assert!(check(OpKind::MatMul, &p, &[Some(&bs), Some(&a)], &[info(DType::F32, &[8, 6])]).is_err());
    assert!(check(OpKind::Relu, &bytes(&sprig_runtime::ops::params::UnaryParams::default()), &[Some(&bs)], &[info(DType::F32, &[8, 6])]).is_err());
}

/// `ops::exec` takes views of unknown origin, so it must run the full blob check (a `Session`
/// alone uses the O(1) `parse_validated`, for blobs validated at load): a blob whose header is
/// fine but whose first index is ≥ k (or whose row pointer overshoots) is an error, not an
/// out-of-bounds read, on every ISA and on both the SpMV (1 row) and SpMM (8 rows) paths.
#[test]
fn matmul_exec_validates_blob_contents() {
    let (n, k) = (8, 16);
    let bt = rand_f32(n * k, 5);
    let p = bytes(&MatMulParams { act: ActParams::from_activation(&Activation::NONE) });
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    for rows in [1usize, 8] {
        let a = Owned::f32(&[rows, k], &rand_f32(rows * k, 6));
        let yi = info(DType::F32, &[rows, n]);
        for corrupt in 0..2 {
            let mut bs = sparse_owned(&[n, k], &bt, n, k, None, Layout::RowBlock(4));
            let b = bs.buf.as_mut_slice();
            let (ptr_off, idx_off) = (u32_at(b, 40), u32_at(b, 44));
            if corrupt == 0 {
                b[idx_off..idx_off + 2].copy_from_slice(&60_000u16.to_le_bytes());
            } else {
                b[ptr_off + 4..ptr_off + 8].copy_from_slice(&1_000_000u32.to_le_bytes());
            }
            for isa in isas() {
                let r = run_isa(OpKind::MatMul, &p, &[Some(&a), Some(&bs)], &[yi], isa);
                assert!(matches!(r, Err(OpError::BadShape(_))), "rows {rows}, corruption {corrupt}, {}: {:?}", isa.name(), r.err());
            }
        }
    }
}
