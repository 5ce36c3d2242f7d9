//! Sessions with 2, 3 and 4 threads (and more threads than this machine's cores) give the
//! one-thread results within 1e-5 relative (max |a - b| / max |reference|), on models whose heavy
//! layers are well above the split threshold (`sprig_runtime::par::MIN_PARALLEL_WORK`): the
//! dense GEMM (row and one-row column splits), depthwise, SpMM (by block rows balanced by
//! non-zeros, and by columns at large N) and SpMV paths, elementwise ops, Softmax and LayerNorm
//! all split.
//! The one-thread session is itself checked against tract by the `models` suite.
use sprig_runtime::{AlignedBuf, Error, Isa, Isas, Model, Session, Tensor};
use sprig_tests::{empty_outputs, max_rel, random_inputs};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::synth::{build, Arch, SynthOptions};
use sprig_tools::tensor::OwnedTensor;

fn run_threads(model: &Model, inputs: &[OwnedTensor], threads: usize) -> Vec<OwnedTensor> {
    let mut arena = AlignedBuf::new(model.arena_size_for_threads(threads).unwrap());
    let mut session = Session::with_threads(model, arena.as_mut_slice(), Isas::detect(), threads).unwrap();
    assert_eq!(session.threads(), threads.max(1));
    let mut outs = empty_outputs(model).unwrap();
    let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
    // Twice on one session: the pool is reused across runs.
    for _ in 0..2 {
        let mut views: Vec<_> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
        session.run(&ins, &mut views).unwrap();
    }
    outs
}

fn check(what: &str, arch: Arch, o: &SynthOptions, thread_counts: &[usize]) {
    let onnx = build(arch, o).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{what}: conversion failed: {e:?}"));
    let model = Model::from_vec(&conv.bytes).unwrap();
    let inputs = random_inputs(&model, 3, o.vocab);
    let one = run_threads(&model, &inputs, 1);
    for &t in thread_counts {
        let got = run_threads(&model, &inputs, t);
        for (g, r) in got.iter().zip(&one) {
            let e = max_rel(g, r).unwrap();
            assert!(e <= 1e-5, "{what}, {t} threads, output '{}': max relative difference {e:e} to one thread", g.name);
        }
    }
}

fn conv_net(sparsity: f32, resolution: usize) -> SynthOptions {
    SynthOptions { sparsity, block_rows: 4, resolution, width: 0.5, classes: 100, seed: 7, ..Default::default() }
}

fn bert(sparsity: f32, seq_len: usize) -> SynthOptions {
    SynthOptions { sparsity, block_rows: 4, seq_len, hidden: 128, layers: 2, heads: 4, vocab: 100, seed: 7, ..Default::default() }
}

#[test]
fn mobilenet_v1_dense_and_sparse() {
    for sparsity in [0.0, 0.9] {
        check(&format!("MobileNetV1 at {sparsity}"), Arch::MobileNetV1, &conv_net(sparsity, 96), &[2, 3, 4]);
    }
    // Unstructured: the pointwise convs over 6x6 and 3x3 (N not a multiple of 16) read B from a
    // copy with padded rows that every thread's SpMM shares (`spmm::aligned_ldb`).
    check("MobileNetV1 at 0.9 unstructured", Arch::MobileNetV1, &SynthOptions { block_rows: 1, ..conv_net(0.9, 96) }, &[2, 3]);
}

#[test]
fn resnet18_like() {
    check("ResNet-18", Arch::ResNet18, &conv_net(0.0, 64), &[2, 3, 4]);
}

#[test]
fn bert_batch_1_and_sequence_128() {
    // Sequence 1: every MatMul has one row (GEMV column split; SpMV when sparse).
    // Sequence 128: row splits of the dense GEMMs; SpMM over the transposed activations when sparse.
    for sparsity in [0.0, 0.9] {
        for seq in [1, 128] {
            check(&format!("BERT seq {seq} at {sparsity}"), Arch::Bert, &bert(sparsity, seq), &[2, 3, 4]);
        }
    }
}

/// The elementwise splits (equal shapes, the broadcast bias Add with its fused GELU), Softmax by
/// rows and LayerNorm by rows: at hidden 256 and sequence 256 each of them is above
/// `MIN_PARALLEL_WORK`, so all split.
#[test]
fn bert_elementwise_softmax_layernorm_split() {
    let o = SynthOptions { hidden: 256, seq_len: 256, ..bert(0.0, 256) };
    check("BERT hidden 256 seq 256", Arch::Bert, &o, &[2, 3]);
}

/// The SpMM column split (N = H·W >= `SPMM_COLUMN_SPLIT_MIN_N`) and the dense GEMM column-tile
/// split (stem and early pointwise convs, n = H·W > m) with a ragged N (45 x 45 = 2025, not a
/// multiple of the 16-column tiles), and the row splits of the small late layers.
#[test]
fn pointwise_column_splits_ragged() {
    for sparsity in [0.0, 0.9] {
        check(&format!("MobileNetV1 at {sparsity}, 90x90"), Arch::MobileNetV1, &conv_net(sparsity, 90), &[2, 3, 5]);
    }
}

#[test]
fn more_threads_than_cores() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    check("MobileNetV1 at 0.9, oversubscribed", Arch::MobileNetV1, &conv_net(0.9, 96), &[cores * 3 + 1]);
}

#[test]
fn arena_for_threads_is_required() {
    let onnx = build(Arch::MobileNetV1, &conv_net(0.0, 64)).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap();
    let model = Model::from_vec(&conv.bytes).unwrap();
    assert_eq!(model.arena_size_for_threads(1), Some(model.arena_size()));
    assert_eq!(model.arena_size_for_threads(0), Some(model.arena_size()));
    let need = model.arena_size_for_threads(3).unwrap();
    assert_eq!(need, model.arena_size().next_multiple_of(64) + 2 * model.worker_scratch_size());
    assert!(model.worker_scratch_size() > 0);
    let mut arena = AlignedBuf::new(need - 1);
    match Session::with_threads(&model, arena.as_mut_slice(), Isas::detect(), 3) {
        Err(Error::ArenaTooSmall { needed, available }) => assert_eq!((needed, available), (need, need - 1)),
        Err(e) => panic!("expected ArenaTooSmall, got {e}"),
        Ok(_) => panic!("a session with 3 threads accepted an arena one byte short"),
    }
    assert!(model.arena_size_for_threads(usize::MAX).is_none());
}

/// `SparseMatrix::block_row_range` (the view the SpMM/SpMV splits use) holds exactly the rows of
/// the full matrix (compared through `to_dense`, and SpMV/SpMM against the full matrix's rows),
/// for every layout and value type (f32, f16), ragged last block rows and empty ranges.
#[test]
fn block_row_range_views_hold_their_rows() {
    use sprig_kernels::sparse::encode::{analyze_as, pack_as, Layout, ValueType};
    use sprig_kernels::sparse::{spmm, spmv, SparseMatrix};
    use sprig_kernels::Activation;
    let (m, k, n) = (23usize, 37usize, 5usize);
    let w: Vec<f32> = (0..m * k).map(|i| if (i * 7919) % 10 < 3 { ((i % 13) as f32 - 6.0) * 0.25 } else { 0.0 }).collect();
    let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.5 - 3.0).collect();
    let x: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
    for (layout, vt) in Layout::ALL.into_iter().flat_map(|l| [(l, ValueType::F32), (l, ValueType::F16)]) {
        let st = analyze_as(&w, m, k, layout, vt).unwrap();
        let mut blob = AlignedBuf::new(st.bytes_with_bias);
        pack_as(&w, m, k, Some(&bias), layout, vt, blob.as_mut_slice()).unwrap();
        let s = SparseMatrix::parse(blob.as_slice()).unwrap();
        assert_eq!(s.value_type(), vt);
        let mut full = vec![0f32; m * k];
        s.to_dense(&mut full);
        let r = layout.block().0;
        let mut y_full = vec![0f32; m];
        spmv(Isa::detect(), &s, &x, &mut y_full, &Activation::NONE);
        let mut c_full = vec![0f32; m * n];
        spmm(Isa::detect(), &s, &b, n, n, &mut c_full, n, &Activation::NONE);
        let nb = s.block_rows();
        assert!(s.block_row_range(2, 1).is_none() && s.block_row_range(0, nb + 1).is_none());
        for (b0, b1) in [(0, nb), (0, 0), (1, 3), (nb - 1, nb), (nb / 2, nb), (nb, nb)] {
            let v = s.block_row_range(b0, b1).unwrap();
            let (r0, r1) = ((b0 * r).min(m), (b1 * r).min(m));
            assert_eq!(v.m(), r1 - r0, "{layout:?} {b0}..{b1}");
            assert_eq!(v.bias().unwrap(), &bias[r0..r1]);
            let mut d = vec![0f32; v.m() * k];
            v.to_dense(&mut d);
            assert_eq!(d, full[r0 * k..r1 * k], "{layout:?} {b0}..{b1}: dense rows");
            let mut y = vec![0f32; v.m()];
            spmv(Isa::detect(), &v, &x, &mut y, &Activation::NONE);
            assert_eq!(y, y_full[r0..r1], "{layout:?} {b0}..{b1}: spmv");
            let mut c = vec![0f32; v.m() * n];
            spmm(Isa::detect(), &v, &b, n, n, &mut c, n, &Activation::NONE);
            assert_eq!(c, c_full[r0 * n..r1 * n], "{layout:?} {b0}..{b1}: spmm");
        }
    }
}

/// Not a pass/fail test (it asserts nothing): prints how a 90 % 4x1 SpMM of a MobileNet-like
/// pointwise layer gains from two threads when split by block rows (each half streams all of B)
/// and by column halves (each half reads only its columns of B; computed in column tiles and
/// copied into C as `sprig_runtime::ops` does), against one thread on the whole product; the
/// basis of `SPMM_COLUMN_SPLIT_MIN_N`. Medians of 50 timings each. Run:
/// `cargo test --release -p sprig-tests --test threads spmm_split_shapes -- --ignored --nocapture`
/// (best with `chrt -f 10` on a loaded machine).
#[test]
#[ignore]
fn spmm_split_shapes() {
    use sprig_kernels::sparse::encode::{analyze_as, pack_as, Layout, ValueType};
    use sprig_kernels::sparse::{spmm, SparseMatrix};
    use sprig_kernels::Activation;
    use sprig_runtime::par::{DisjointMut, Parallel, Pool};
    use std::time::Instant;
    let pool = Pool::new(2).unwrap();
    let isa = Isa::detect();
    let act = Activation::NONE;
    for (m, k, n) in [(64usize, 32usize, 12544usize), (128, 128, 3136), (256, 256, 784), (512, 512, 196)] {
        let w: Vec<f32> = (0..m * k).map(|i| if ((i / k / 4) * 31 + (i % k) * 17) % 10 == 0 { 0.5 } else { 0.0 }).collect();
        let layout = Layout::ALL.into_iter().find(|l| l.block() == (4, 1)).unwrap();
        let st = analyze_as(&w, m, k, layout, ValueType::F32).unwrap();
        let mut blob = AlignedBuf::new(st.bytes_with_bias);
        pack_as(&w, m, k, None, layout, ValueType::F32, blob.as_mut_slice()).unwrap();
        let s = SparseMatrix::parse(blob.as_slice()).unwrap();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32).collect();
        let mut c = vec![0f32; m * n];
        let time = |f: &mut dyn FnMut()| {
            for _ in 0..5 {
                f();
            }
            let mut v: Vec<f64> = (0..50).map(|_| { let t = Instant::now(); f(); t.elapsed().as_secs_f64() }).collect();
            v.sort_by(f64::total_cmp);
            v[25]
        };
        let one = time(&mut || spmm(isa, &s, &b, n, n, &mut c, n, &act));
        let nb = s.block_rows();
        let halves = [s.block_row_range(0, nb / 2).unwrap(), s.block_row_range(nb / 2, nb).unwrap()];
        let r0 = (nb / 2) * 4 * n;
        let cd = DisjointMut::new(&mut c);
        let rows = time(&mut || {
            pool.run(2, &|t, _| {
                // SAFETY: the two tasks take the disjoint halves 0..r0 and r0..m·n.
                let ct = unsafe { if t == 0 { cd.range(0..r0) } else { cd.range(r0..m * n) } };
                spmm(isa, &halves[t], &b, n, n, ct, n, &act);
            })
        });
        let (nh, tile_cols) = ((n / 2).next_multiple_of(16).min(n), 64usize);
        let cols = time(&mut || {
            pool.run(2, &|t, _| {
                let (j0, j1) = if t == 0 { (0, nh) } else { (nh, n) };
                let mut tile = vec![0f32; m * tile_cols];
                let mut j = j0;
                while j < j1 {
                    let nj = tile_cols.min(j1 - j);
                    spmm(isa, &s, &b[j..], n, nj, &mut tile[..m * nj], nj, &act);
                    for (i, tr) in tile[..m * nj].chunks_exact(nj).enumerate() {
                        // SAFETY: the tasks own disjoint column ranges: disjoint row segments.
                        unsafe { cd.range(i * n + j..i * n + j + nj) }.copy_from_slice(tr);
                    }
                    j += nj;
                }
            })
        });
        println!("SpMM {m}x{k} (90 % 4x1) x N {n}: 1 thread / 2 threads = {:.2}x by block rows, {:.2}x by columns", one / rows, one / cols);
    }
}
